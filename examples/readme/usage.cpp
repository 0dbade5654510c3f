// readme-begin
#include <cstdio>
#include <boost/asio/io_context.hpp>
#include <vpci/vpci.hpp>

struct vf_config {  // an IHV's block, described once for both drivers
  std::uint16_t version;
  std::uint32_t mtu;
  friend constexpr auto vpci_fields(vpci::type_tag<vf_config>) {
    return vpci::fields(&vf_config::version, &vf_config::mtu);
  }
};
using config_block = vpci::block<1, vf_config>;  // block ID 1, 6 bytes on the wire

int failed(const char* what, boost::system::error_code ec) {
  std::fprintf(stderr, "%s: %s\n", what, ec.message().c_str());
  return 1;
}

int main() {
  boost::asio::io_context io;
  vpci::memory_config_space space(io, 4096);  // the VF's config space (simulated here)
  vpci::pf_endpoint<> pf;                     // the PF driver's side
  if (auto ec = pf.register_vf(0, 0x0101)) return failed("register_vf", ec);
  if (auto ec = pf.define<config_block>(0, {1, 1500})) return failed("define", ec);
  auto window = pf.attach_mailbox(0, space);  // a DVSEC in unused extended config space
  if (!window) return failed("attach_mailbox", window.error());  // no room for it, say
  vpci::vf_endpoint vf(space, *window);  // the VF driver's side
  boost::system::error_code ec;
  const vf_config config = vf.read(config_block{}, ec);  // without ec: throws boost::system::system_error
  if (ec) return failed("read", ec);
  std::printf("version %u, MTU %u\n", config.version, config.mtu);
}
// readme-end
