// The README's VF coroutine, with a PF around it so the program runs.
#include <cstdio>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <vpci/vpci.hpp>

#include "../blocks.hpp"

// readme-begin
using example::vf_config_block;                                 // examples/blocks.hpp, above
using vf_type = vpci::vf_endpoint<vpci::memory_config_space>;  // the VF's endpoint on binding 1
// Follows the VF's configuration: re-reads it whenever the PF invalidates it.
boost::asio::awaitable<void> follow_config(vf_type& vf, int updates) {
  using boost::asio::use_awaitable;
  example::vf_config config = co_await vf.async_read(vf_config_block{}, use_awaitable);
  std::printf("MTU %u\n", config.mtu);
  while (updates-- > 0) {
    const vpci::block_mask changed = co_await vf.async_wait_invalidate(use_awaitable);
    if (!changed.test(vf_config_block::id)) continue;
    config = co_await vf.async_read(vf_config_block{}, use_awaitable);
    std::printf("MTU now %u\n", config.mtu);
  }
  config.vlan = 100;  // and tell the PF which VLAN this VF wants
  co_await vf.async_write(vf_config_block{}, config, use_awaitable);
}
// readme-end

int main() {
  boost::asio::io_context io;
  vpci::memory_config_space space(io, 4096);
  vpci::pf_endpoint<2> pf;
  (void)pf.register_vf(0, 0x0101);
  (void)pf.define<vf_config_block>(0, {1, example::vf_flags::none, 1500, 0, 1});
  vf_type vf(space, *pf.attach_mailbox(0, space));
  boost::asio::co_spawn(io, follow_config(vf, 1), boost::asio::detached);
  io.poll();  // the first read (MTU 1500), up to the wait for an invalidation
  (void)pf.store<vf_config_block>(0, {1, example::vf_flags::none, 9000, 0, 1});  // invalidates block 1
  io.restart();
  io.run();
  return pf.load<vf_config_block>(0)->vlan == 100 ? 0 : 1;
}
