// A downstream program on the hosted layer: a PF and a VF endpoint in one process over a simulated
// config space (Boost.Asio), and a shared-memory space (librt's shm_open on Linux). Built with only
// find_package(vpci) + vpci::vpci, or with pkg-config --cflags --libs vpci.
#include <array>
#include <cstdint>
#include <cstdio>

#include <boost/asio/io_context.hpp>

#include <vpci/vpci.hpp>

namespace {
struct link_settings {
  std::uint16_t version;
  std::uint32_t mtu;
  friend constexpr auto vpci_fields(vpci::type_tag<link_settings>) {
    return vpci::fields(&link_settings::version, &link_settings::mtu);
  }
};
using link_block = vpci::block<2, link_settings>;
}  // namespace

int main() {
  boost::asio::io_context io;
  vpci::memory_config_space space{io, 4096};
  vpci::pf_endpoint<2> pf;
  if (pf.register_vf(0, 0x0101) || pf.define<link_block>(0, {1, 1500})) return std::puts("consumer: PF setup failed"), 1;
  auto window = pf.attach_mailbox(0, space);
  if (!window) return std::puts("consumer: attach failed"), 1;
  vpci::vf_endpoint<vpci::memory_config_space> vf(space, *window);
  std::uint32_t mtu = 0;
  vf.async_read(link_block{}, [&](boost::system::error_code ec, link_settings value) {
    if (!ec) mtu = value.mtu;
    (void)pf.detach_mailbox(0);
  });
  io.run();
  auto shm = vpci::shm_config_space::create_anonymous(io.get_executor(), 256);
  const std::array<std::byte, 2> bytes{std::byte{0x5a}, std::byte{0xa5}};
  boost::system::error_code ec;
  const std::size_t written = shm.write(0x40, bytes, ec);
  if (mtu != 1500 || ec || written != 2) return std::puts("consumer: unexpected result"), 1;
  std::printf("consumer: vpci %s, hosted: VF read MTU %u over binding 1\n", VPCI_CONSUMER_HOW, static_cast<unsigned>(mtu));
  return 0;
}
