// A typed synchronous read whose value is thrown away: a warning (an error under -Werror), as the core's
// decode and the asynchronous forms give. It compiled silently.
#include <boost/asio/io_context.hpp>
#include <vpci/vpci.hpp>

struct vf_mtu {
  std::uint32_t mtu;
  friend constexpr auto vpci_fields(vpci::type_tag<vf_mtu>) { return vpci::fields(&vf_mtu::mtu); }
};
using mtu_block = vpci::block<1, vf_mtu>;

int main() {
  boost::asio::io_context io;
  vpci::memory_config_space space(io, 4096);
  vpci::vf_endpoint vf(space, 0x100);
  boost::system::error_code ec;
  vf.read(mtu_block{}, ec);  // must not compile under -Werror: the value is discarded
}
