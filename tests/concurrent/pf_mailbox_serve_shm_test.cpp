// Case 14 of issue 8 across threads: one PF thread serves four VFs' mailboxes in shared memory with one
// io_context (pf_endpoint::async_serve on each window's doorbell), while the VFs run on another thread.
// Before, a user had to write their own doorbell loop from the transport's internals, one VF at a time.
#include <boost/test/unit_test.hpp>

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <vpci/asio/pf_endpoint.hpp>
#include <vpci/asio/vf_endpoint.hpp>
#include <vpci/block/endian.hpp>
#include <vpci/transport/shm_config_space.hpp>

BOOST_AUTO_TEST_SUITE(pf_mailbox_serve_shm_test)

using namespace vpci;

namespace {

constexpr std::size_t vf_count = 4;
constexpr int rounds = 50;
using counter_block = block<1, std::uint32_t>;  // computed by the PF's handler: VF index and a count
using echo_block = block<2, std::uint32_t>;     // what the VF last wrote to block 1, invalidated on change

}  // namespace

BOOST_AUTO_TEST_CASE(case_14_four_vfs_over_shared_memory_served_by_one_async_loop) {
  boost::asio::io_context pf_io;
  boost::asio::io_context vf_io;
  std::vector<shm_config_space> devices;
  std::vector<shm_config_space> drivers;
  for (std::size_t i = 0; i < vf_count; ++i) {
    devices.push_back(shm_config_space::create_anonymous(pf_io.get_executor(), 4096));
    drivers.push_back(devices.back().view(vf_io.get_executor(), shm_role::driver));
  }
  pf_endpoint<vf_count> pf;
  // Used on the PF thread only (handlers run where the window is served).
  std::array<std::uint32_t, vf_count> reads_served{};
  auto handler = std::make_shared<function_block_handler>(
      [&](vf_index vf, block_id, std::span<std::byte> out, std::size_t& bytes) {
        le::store_u32(out.data(), (std::uint32_t{vf} << 24) | ++reads_served[vf]);
        bytes = 4;
        return ntstatus::success;
      },
      [&](vf_index vf, block_id, std::span<const std::byte> data) {
        (void)pf.blocks().store(vf, echo_block::id, data);
        return pf.invalidate(vf, block_mask{std::uint64_t{1} << echo_block::id.value()}) ? ntstatus::unsuccessful
                                                                                          : ntstatus::success;
      });
  std::vector<std::size_t> windows;
  for (std::size_t i = 0; i < vf_count; ++i) {
    const auto vf = static_cast<vf_index>(i);
    BOOST_REQUIRE(!pf.register_vf(vf, static_cast<std::uint16_t>(0x200 + i)));
    BOOST_REQUIRE(!pf.define<counter_block>(vf, 0u, block_access::read_write, handler));
    BOOST_REQUIRE(!pf.define<echo_block>(vf, 0u, block_access::read_only));
    auto placed = pf.attach_mailbox(vf, devices[i]);
    BOOST_REQUIRE(placed.has_value());
    windows.push_back(*placed);
  }
  std::array<boost::system::error_code, vf_count> served;
  std::atomic<int> serving_ended{0};
  for (std::size_t i = 0; i < vf_count; ++i) {
    served[i] = errc::timeout;
    pf.async_serve(static_cast<vf_index>(i), [&, i](boost::system::error_code ec) {
      served[i] = ec;
      ++serving_ended;
    });
  }
  std::thread pf_thread([&] { pf_io.run(); });  // one thread, one loop, four windows

  std::vector<std::unique_ptr<vf_endpoint<shm_config_space>>> vfs;
  for (std::size_t i = 0; i < vf_count; ++i)
    vfs.push_back(std::make_unique<vf_endpoint<shm_config_space>>(drivers[i], windows[i]));
  std::array<std::uint32_t, vf_count> last_counter{};
  std::array<int, vf_count> good_rounds{};
  for (std::size_t i = 0; i < vf_count; ++i) {
    boost::asio::co_spawn(
        vf_io,
        [&, i]() -> boost::asio::awaitable<void> {
          auto& vf = *vfs[i];
          for (int round = 1; round <= rounds; ++round) {
            const std::uint32_t counter = co_await vf.async_read(counter_block{}, boost::asio::use_awaitable);
            const std::uint32_t token = (static_cast<std::uint32_t>(i) << 24) | static_cast<std::uint32_t>(round);
            co_await vf.async_write(counter_block{}, token, boost::asio::use_awaitable);
            const block_mask changed = co_await vf.async_wait_invalidate(boost::asio::use_awaitable);
            const std::uint32_t echo = co_await vf.async_read(echo_block{}, boost::asio::use_awaitable);
            // Its own counter and its own write, never another VF's.
            if (counter >> 24 == i && echo == token && changed.test(echo_block::id)) ++good_rounds[i];
            last_counter[i] = counter & 0xFFFFFF;
          }
        },
        [](std::exception_ptr e) { BOOST_TEST(!e); });
  }
  vf_io.run();
  // Retire the windows on the PF's thread: every async_serve completes and the PF thread's loop ends.
  boost::asio::post(pf_io, [&] {
    for (std::size_t i = 0; i < vf_count; ++i) BOOST_TEST(!pf.detach_mailbox(static_cast<vf_index>(i)));
  });
  pf_thread.join();
  BOOST_TEST(serving_ended.load() == static_cast<int>(vf_count));
  for (std::size_t i = 0; i < vf_count; ++i) {
    BOOST_TEST_CONTEXT("vf " << i) {
      BOOST_TEST(good_rounds[i] == rounds);
      BOOST_TEST(last_counter[i] == static_cast<std::uint32_t>(rounds));
      BOOST_TEST(!served[i]);
      BOOST_TEST(pf.blocks().counters(static_cast<vf_index>(i)).writes == static_cast<std::uint64_t>(rounds));
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()  // pf_mailbox_serve_shm_test
