// The README's PF serving several VFs, with the VFs around it so the program runs.
#include <cstdio>
#include <memory>
#include <vector>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <vpci/vpci.hpp>

#include "../blocks.hpp"

// readme-begin
// One io_context serves every VF's mailbox: on the doorbell of a shared-memory space, by adaptive
// polling on a transport without one, inside the VF's write on a memory_config_space.
template <class Transport, std::size_t MaxVfs>
void serve(vpci::pf_endpoint<MaxVfs>& pf, vpci::vf_index vf, Transport& space, std::vector<std::size_t>& windows) {
  auto window = pf.attach_mailbox(vf, space);  // boost::system::result<std::size_t>
  if (!window) {
    std::printf("VF %u: no mailbox: %s\n", vf, window.error().message().c_str());
    return;
  }
  windows.push_back(*window);
  pf.async_serve(vf, [vf](boost::system::error_code ec) {
    std::printf("VF %u: serving ended (%s)\n", vf, ec ? ec.message().c_str() : "detached");
  });
}
// readme-end

int main() {
  boost::asio::io_context io;
  vpci::pf_endpoint<4> pf;
  std::vector<vpci::shm_config_space> devices;  // the PF's side of each VF's config space
  for (vpci::vf_index vf = 0; vf < 4; ++vf) devices.push_back(vpci::shm_config_space::create_anonymous(io.get_executor(), 4096));
  std::vector<vpci::shm_config_space> drivers;  // the VFs' side
  for (auto& device : devices) drivers.push_back(device.view(io.get_executor(), vpci::shm_role::driver));
  std::vector<std::size_t> windows;
  for (vpci::vf_index vf = 0; vf < 4; ++vf) {
    (void)pf.register_vf(vf, static_cast<std::uint16_t>(0x0101 + vf));
    (void)pf.define<example::mac_block>(vf, {0x00, 0x15, 0x5d, 0x00, 0x00, static_cast<std::uint8_t>(vf)});
    serve(pf, vf, devices[vf], windows);
  }
  int done = 0;
  std::vector<std::unique_ptr<vpci::vf_endpoint<vpci::shm_config_space>>> vfs;
  for (vpci::vf_index vf = 0; vf < 4; ++vf) {
    vfs.push_back(std::make_unique<vpci::vf_endpoint<vpci::shm_config_space>>(drivers[vf], windows[vf]));
    boost::asio::co_spawn(
        io,
        [&, vf]() -> boost::asio::awaitable<void> {
          const auto mac = co_await vfs[vf]->async_read(example::mac_block{}, boost::asio::use_awaitable);
          std::printf("VF %u read MAC ..:%02x\n", vf, mac[5]);
          if (++done == 4)
            for (vpci::vf_index v = 0; v < 4; ++v) (void)pf.detach_mailbox(v);
        },
        boost::asio::detached);
  }
  io.run();
  return done == 4 ? 0 : 1;
}
