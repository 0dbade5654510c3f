// 256 VF endpoints against one PF on one thread over binding 1 (case 14 of issue 8), end to end: the VF
// side is vpci::vf_endpoint. tests/pf_mailbox_serve_test.cpp has the same with scripted VFs.
#include <boost/test/unit_test.hpp>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <vpci/asio/pf_endpoint.hpp>
#include <vpci/asio/timing.hpp>
#include <vpci/asio/vf_endpoint.hpp>
#include <vpci/block/endian.hpp>
#include <vpci/config/access.hpp>
#include <vpci/transport/memory_config_space.hpp>
#include <vpci/wire/mailbox.hpp>

#include "virtual_time.hpp"

BOOST_AUTO_TEST_SUITE(pf_mailbox_many_vfs_test)

using namespace vpci;
using namespace std::chrono_literals;

namespace {

block_mask bit(std::uint32_t id) {
  block_mask mask;
  (void)mask.set(block_id{id});
  return mask;
}

// Records a completion: how many times, with what.
struct serve_result {
  int calls = 0;
  boost::system::error_code ec;
  auto handler() {
    return [this](boost::system::error_code e) {
      ++calls;
      ec = e;
    };
  }
};

// Config space as the PF reaches it over a slow path (a VM's config cycles, a socket): a memory space
// (the VF's side of it, on the VF's executor) whose every dword access the PF makes costs `per_access` of
// virtual time, spent inline (the serving thread is busy for the whole access), the PF's work running on
// `executor`. Polled: no hooks, no signal.
class slow_config_space {
 public:
  using executor_type = memory_config_space::executor_type;
  static constexpr bool nonblocking_access = true;

  slow_config_space(memory_config_space& space, manual_timing clock, std::uint64_t per_access, executor_type executor)
      : space_(space), clock_(std::move(clock)), per_access_(per_access), executor_(std::move(executor)) {}
  [[nodiscard]] executor_type get_executor() const { return executor_; }
  [[nodiscard]] std::size_t size() const { return space_.size(); }
  std::size_t read(std::size_t offset, std::span<std::byte> out, boost::system::error_code& ec) {
    spend(offset, out.size());
    return space_.read(offset, out, ec);
  }
  std::size_t write(std::size_t offset, std::span<const std::byte> in, boost::system::error_code& ec) {
    spend(offset, in.size());
    return space_.write(offset, in, ec);
  }
  template <class CompletionToken>
  auto async_read(std::size_t offset, std::span<std::byte> out, CompletionToken&& token) {
    spend(offset, out.size());
    return space_.async_read(offset, out, boost::asio::bind_executor(executor_, std::forward<CompletionToken>(token)));
  }
  template <class CompletionToken>
  auto async_write(std::size_t offset, std::span<const std::byte> in, CompletionToken&& token) {
    spend(offset, in.size());
    return space_.async_write(offset, in, boost::asio::bind_executor(executor_, std::forward<CompletionToken>(token)));
  }

 private:
  void spend(std::size_t offset, std::size_t length) {
    std::uint64_t accesses = 0;
    (void)config::for_each_access(offset, length, [&](std::size_t, std::size_t) {
      ++accesses;
      return no_error;
    });
    clock_.advance_to(clock_.now() + accesses * per_access_);
  }
  memory_config_space& space_;
  manual_timing clock_;
  std::uint64_t per_access_;
  executor_type executor_;
};
static_assert(config_space_transport<slow_config_space>);

}  // namespace

// Found by the slow-config-space audit: one PF polling 256 windows over config space at 50 us an access
// read each window whole (47 dwords) at every poll and every heartbeat, so going round them took 600 ms;
// each window's beat moved once a round, up to 614 ms apart, and a VF with default options, watching for
// invalidations, found its PF gone (more than 4 intervals of 100 ms without a beat) while it served. A
// poll now looks at four registers and a beat is one status write: the beats stay within two intervals
// and the watch goes on. The VF's own accesses cost nothing here (another machine's).
BOOST_AUTO_TEST_CASE(a_pf_polling_256_windows_over_slow_config_space_keeps_every_heartbeat) {
  constexpr std::size_t count = 256;
  constexpr std::uint64_t per_access = 50'000, span = 3'000'000'000;
  boost::asio::io_context io;     // the PF's thread
  boost::asio::io_context vf_io;  // the watching VF's
  manual_timing clock;
  std::vector<std::unique_ptr<memory_config_space>> spaces;
  std::vector<std::unique_ptr<slow_config_space>> slow;
  auto pf = std::make_unique<pf_endpoint<count, manual_timing>>(engine::pf_limits{}, clock);
  std::vector<std::size_t> windows;
  for (std::size_t i = 0; i < count; ++i) {
    const auto vf = static_cast<vf_index>(i);
    BOOST_REQUIRE(!pf->register_vf(vf, static_cast<std::uint16_t>(0x100 + i)));
    spaces.push_back(std::make_unique<memory_config_space>(vf_io, 4096));
    slow.push_back(std::make_unique<slow_config_space>(*spaces.back(), clock, per_access, io.get_executor()));
    const auto placed = pf->attach_mailbox(vf, *slow.back());
    BOOST_REQUIRE(placed.has_value());
    windows.push_back(*placed);
  }
  std::vector<serve_result> served(count);
  for (std::size_t i = 0; i < count; ++i) pf->async_serve(static_cast<vf_index>(i), served[i].handler());
  vf_endpoint<memory_config_space, manual_timing> watcher(*spaces.back(), windows.back(), {}, clock);  // on vf_io
  int watch_done = 0;
  boost::system::error_code watch_ec;
  watcher.async_wait_invalidate([&](boost::system::error_code ec, block_mask) {
    ++watch_done;
    watch_ec = ec;
  });
  // Every window's beat, sampled after each of the PF's handlers (its writes land inside them).
  const std::uint64_t start = clock.now();
  std::vector<std::uint8_t> beat(count, 0);
  std::vector<std::uint64_t> beat_at(count, start);
  std::uint64_t worst_gap = 0;
  const auto sample = [&] {
    for (std::size_t i = 0; i < count; ++i) {
      std::array<std::byte, 4> word{};
      BOOST_REQUIRE(spaces[i]->device_read(windows[i] + mailbox::reg::status, word) == no_error);
      const std::uint8_t now = mailbox::decode_status(le::load_u32(word.data())).heartbeat;
      if (now == beat[i]) continue;
      worst_gap = std::max(worst_gap, clock.now() - beat_at[i]);
      beat[i] = now;
      beat_at[i] = clock.now();
    }
  };
  // One handler at a time: a saturated PF thread would never let poll() return.
  while (clock.now() < start + span) {
    io.restart();
    if (io.poll_one() != 0) {
      sample();
      test::run_ready(vf_io);
      continue;
    }
    test::run_ready(vf_io);
    const std::uint64_t next = clock.next_expiry();
    BOOST_REQUIRE(next != never);
    clock.advance_to(next);
  }
  std::size_t late_now = 0;  // windows whose last beat is more than two intervals old at the end
  for (std::size_t i = 0; i < count; ++i) late_now += clock.now() - beat_at[i] > 200'000'000u ? 1u : 0u;
  BOOST_TEST(late_now == 0u);
  BOOST_TEST(worst_gap <= 200'000'000u);  // within two intervals
  BOOST_TEST(watch_done == 0, "the watch ended: " << watch_ec.message());
  watcher.close();
  for (std::size_t i = 0; i < count; ++i) (void)pf->detach_mailbox(static_cast<vf_index>(i));
  test::run_ready(io);
  test::run_ready(vf_io);
  for (const serve_result& r : served) BOOST_TEST(r.calls == 1);
}

// 256 VFs, each in its own config space, served by one PF on one thread; each VF's write makes the PF's
// handler invalidate that VF's block 2 from inside on_write.
BOOST_AUTO_TEST_CASE(case_14_256_vfs_over_memory_served_on_one_thread) {
  constexpr std::size_t count = 256;
  boost::asio::io_context io;
  std::vector<std::unique_ptr<memory_config_space>> spaces;  // outlive the endpoint
  auto pf = std::make_unique<pf_endpoint<count>>();
  std::vector<std::unique_ptr<vf_endpoint<memory_config_space>>> vfs;
  std::vector<serve_result> served(count);
  auto handler = std::make_shared<function_block_handler>(
      [](vf_index vf, block_id, std::span<std::byte> out, std::size_t& bytes) {
        le::store_u32(out.data(), 0xA0000000u + vf);
        bytes = 4;
        return ntstatus::success;
      },
      [&pf](vf_index vf, block_id, std::span<const std::byte> data) {
        (void)pf->blocks().store(vf, block_id{2}, data);
        return pf->invalidate(vf, bit(2)) ? ntstatus::unsuccessful : ntstatus::success;
      });
  for (std::size_t i = 0; i < count; ++i) {
    const auto vf = static_cast<vf_index>(i);
    BOOST_REQUIRE(!pf->register_vf(vf, static_cast<std::uint16_t>(0x100 + i)));
    BOOST_REQUIRE(!pf->define_block(vf, block_id{1}, std::array<std::byte, 4>{}, block_access::read_write, handler));
    BOOST_REQUIRE(!pf->define_block(vf, block_id{2}, std::array<std::byte, 4>{}, block_access::read_only));
    spaces.push_back(std::make_unique<memory_config_space>(io, 4096));
    auto placed = pf->attach_mailbox(vf, *spaces.back());
    BOOST_REQUIRE(placed.has_value());
    vfs.push_back(std::make_unique<vf_endpoint<memory_config_space>>(*spaces.back(), *placed));
    pf->async_serve(vf, served[i].handler());
  }
  handler.reset();  // the PF owns it now
  using word_block = block<1, std::uint32_t>;
  using echo_block = block<2, std::uint32_t>;
  std::vector<std::uint32_t> read_back(count), echoed(count);
  std::vector<std::uint64_t> invalidated(count);
  std::size_t finished = 0;
  for (std::size_t i = 0; i < count; ++i) {
    boost::asio::co_spawn(
        io,
        [&, i]() -> boost::asio::awaitable<void> {
          auto& vf = *vfs[i];
          read_back[i] = co_await vf.async_read(word_block{}, boost::asio::use_awaitable);
          co_await vf.async_write(word_block{}, 0xB0000000u + static_cast<std::uint32_t>(i), boost::asio::use_awaitable);
          invalidated[i] = (co_await vf.async_wait_invalidate(boost::asio::use_awaitable)).bits();
          echoed[i] = co_await vf.async_read(echo_block{}, boost::asio::use_awaitable);
          // The last VF done retires every mailbox: serving completes and io.run() returns.
          if (++finished == count)
            for (std::size_t v = 0; v < count; ++v) BOOST_TEST(!pf->detach_mailbox(static_cast<vf_index>(v)));
        },
        [](std::exception_ptr e) { BOOST_TEST(!e); });
  }
  // Bounded: a lost invalidation fails the test instead of hanging it (a passing run returns as soon as
  // the last serving operation completed).
  for (int guard = 0; guard < 100 && !io.stopped(); ++guard) io.run_for(100ms);
  BOOST_REQUIRE(finished == count);
  for (std::size_t i = 0; i < count; ++i) {
    BOOST_TEST_CONTEXT("vf " << i) {
      BOOST_TEST(read_back[i] == 0xA0000000u + i);
      BOOST_TEST(invalidated[i] == 0b100u);
      BOOST_TEST(echoed[i] == 0xB0000000u + i);  // its own write, nobody else's
      BOOST_TEST(served[i].calls == 1);
      BOOST_TEST(!served[i].ec);
      BOOST_TEST((pf->blocks().quarantined(static_cast<vf_index>(i)) == quarantine_reason::none));
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()  // pf_mailbox_many_vfs_test
