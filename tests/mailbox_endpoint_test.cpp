// Binding 1 end to end in one process: a VF endpoint and a PF endpoint over memory_config_space.
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <array>
#include <stdexcept>
#include <atomic>
#include <type_traits>
#include <chrono>
#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <new>
#include <optional>
#include <thread>
#include <ostream>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>

#include <vpci/asio/pf_endpoint.hpp>
#include <vpci/asio/vf_endpoint.hpp>
#include <vpci/config/find_mailbox.hpp>
#include <vpci/transport/memory_config_space.hpp>

#include "../examples/blocks.hpp"
#include "test_support.hpp"
#include "virtual_time.hpp"

BOOST_AUTO_TEST_SUITE(mailbox_endpoint_test)

using namespace vpci;
using namespace std::chrono_literals;

namespace {

// A PF with VF 0 attached through a 4096-byte simulated config space, and the VF's endpoint.
// The VF keeps its time by `Timing`: steady_timing, or manual_timing for a test that waits for a deadline.
template <class Timing>
struct basic_mailbox_fixture {
  boost::asio::io_context io;
  memory_config_space space{io, 4096};
  pf_endpoint<4> pf;
  std::size_t window = 0;
  std::optional<vf_endpoint<memory_config_space, Timing>> vf;

  // With `pf_options.service_on_write` false the PF answers only when the test calls pf.service().
  explicit basic_mailbox_fixture(vf_mailbox_options options = {}, mailbox_options pf_options = {}, Timing timing = {}) {
    BOOST_REQUIRE(!pf.register_vf(0, 0x0101));
    BOOST_REQUIRE(!pf.define<example::mac_block>(0, {0x00, 0x15, 0x5d, 0x01, 0x02, 0x03}, block_access::read_only));
    BOOST_REQUIRE(!pf.define<example::vf_config_block>(0, {1, example::vf_flags::link_up, 1500, 0, 4}));
    example::stats_frame stats{};
    stats.sequence = 7;
    for (std::size_t i = 0; i < stats.data.size(); ++i) stats.data[i] = static_cast<std::uint8_t>(i);
    BOOST_REQUIRE(!pf.define<example::stats_block>(0, stats, block_access::read_only));
    auto placed = pf.attach_mailbox(0, space, pf_options);
    BOOST_REQUIRE(placed.has_value());
    window = *placed;
    vf.emplace(space, window, options, timing);
  }
};
using mailbox_fixture = basic_mailbox_fixture<steady_timing>;

}  // namespace

BOOST_AUTO_TEST_CASE(window_is_a_linked_dvsec_with_the_documented_identity) {
  mailbox_fixture f;
  BOOST_TEST(f.window == 0x100u);  // an empty extended list: the DVSEC becomes its head
  std::array<std::byte, 24> head{};
  BOOST_REQUIRE(f.space.device_read(f.window, head) == no_error);
  BOOST_TEST(le::load_u32(head.data()) == 0x00010023u);  // DVSEC, version 1, next 0
  // DVSEC vendor = the function's own vendor ID (0 in this blank space), revision 2, length 0xB8.
  BOOST_TEST(le::load_u32(head.data() + 4) == ((0x0B8u << 20) | (2u << 16) | 0x0000u));
  BOOST_TEST(le::load_u32(head.data() + 8) == 0x00005650u);   // DVSEC ID "VP"
  BOOST_TEST((le::load_u32(head.data() + 12) & 0xFFFFu) == 2u);  // layout 2
  BOOST_TEST((le::load_u32(head.data() + 16) & 0xFFFFu) == 0x2080u);  // 128-byte blocks, 32-dword window
  BOOST_TEST(le::load_u32(head.data() + 20) == 0u);  // control
  // vpci's discovery finds it by its names.
  std::vector<std::byte> image(4096);
  BOOST_REQUIRE(f.space.device_read(0, image) == no_error);
  const auto found = config::find_mailbox(image);
  BOOST_REQUIRE(found.has_value());
  BOOST_TEST(*found == f.window);
}

BOOST_AUTO_TEST_CASE(coroutine_reads_and_writes_typed_blocks) {
  mailbox_fixture f;
  bool finished = false;
  boost::asio::co_spawn(
      f.io,
      [&]() -> boost::asio::awaitable<void> {
        auto mac = co_await f.vf->async_read(example::mac_block{}, boost::asio::use_awaitable);
        BOOST_TEST(mac[0] == 0x00);
        BOOST_TEST(mac[5] == 0x03);
        auto config = co_await f.vf->async_read(example::vf_config_block{}, boost::asio::use_awaitable);
        BOOST_TEST(config.mtu == 1500u);
        example::vf_config updated = config;
        updated.mtu = 9000;
        const std::size_t written =
            co_await f.vf->async_write(example::vf_config_block{}, updated, boost::asio::use_awaitable);
        BOOST_TEST(written == example::vf_config_block::size);
        auto stats = co_await f.vf->async_read(example::stats_block{}, boost::asio::use_awaitable);
        BOOST_TEST(stats.sequence == 7u);
        BOOST_TEST(stats.data[119] == 119u);
        finished = true;
      },
      boost::asio::detached);
  f.io.run();
  BOOST_TEST(finished);
  auto stored = f.pf.load<example::vf_config_block>(0);
  BOOST_REQUIRE(stored.has_value());
  BOOST_TEST(stored->mtu == 9000u);
}

// Users keep a space and a VF endpoint as locals of a coroutine, whose frame g++ 12 and clang 14 align to
// 16 bytes only: a type asking for more (alignas(64), to start on a cache line) is then constructed
// misaligned, which is undefined behaviour (UBSan reports it).
BOOST_AUTO_TEST_CASE(a_space_and_a_vf_endpoint_may_live_in_a_coroutine_frame) {
  static_assert(alignof(memory_config_space) <= __STDCPP_DEFAULT_NEW_ALIGNMENT__);
  static_assert(alignof(vf_endpoint<memory_config_space>) <= __STDCPP_DEFAULT_NEW_ALIGNMENT__);
  boost::asio::io_context io;
  pf_endpoint<2> pf;
  BOOST_REQUIRE(!pf.register_vf(0, 0x0101));
  BOOST_REQUIRE(!pf.define<example::mac_block>(0, {0x00, 0x15, 0x5d, 0x01, 0x02, 0x03}, block_access::read_only));
  bool done = false;
  boost::asio::co_spawn(
      io,
      [&]() -> boost::asio::awaitable<void> {
        memory_config_space space(io, 4096);
        BOOST_TEST(reinterpret_cast<std::uintptr_t>(&space) % alignof(memory_config_space) == 0U);
        const auto window = pf.attach_mailbox(0, space);
        BOOST_TEST(window.has_value());
        if (!window) co_return;
        {
          vf_endpoint<memory_config_space> vf(space, *window);
          BOOST_TEST(reinterpret_cast<std::uintptr_t>(&vf) % alignof(vf_endpoint<memory_config_space>) == 0U);
          const example::mac_address mac = co_await vf.async_read(example::mac_block{}, boost::asio::use_awaitable);
          BOOST_TEST(mac[5] == 0x03);
        }
        BOOST_TEST(!pf.detach_mailbox(0));  // before the space goes
        done = true;
      },
      boost::asio::detached);
  io.run();
  BOOST_TEST(done);
}

// A completion handler runs inside the endpoint's pump; one that destroys the endpoint (a coroutine whose
// frame holds it, returning) must find nothing of it touched afterwards. The storage is filled with a
// pattern right after the destruction: a write by the endpoint after that would change it.
BOOST_AUTO_TEST_CASE(an_endpoint_destroyed_by_its_completion_handler_is_not_touched_again) {
  using endpoint = vf_endpoint<memory_config_space>;
  mailbox_fixture f;
  alignas(endpoint) std::array<std::byte, sizeof(endpoint)> storage{};
  auto* vf = new (storage.data()) endpoint(f.space, f.window);
  bool called = false;
  vf->async_read(example::mac_block{}, [&](boost::system::error_code ec, example::mac_address mac) {
    BOOST_TEST(!ec);
    BOOST_TEST(mac[5] == 0x03);
    vf->~endpoint();
    storage.fill(std::byte{0xA5});
    called = true;
  });
  f.io.run();
  BOOST_TEST(called);
  BOOST_TEST(std::all_of(storage.begin(), storage.end(), [](std::byte b) { return b == std::byte{0xA5}; }));
}

BOOST_AUTO_TEST_CASE(raw_read_reports_bytes_and_exact_errors) {
  mailbox_fixture f;
  std::array<std::byte, 16> big{};
  std::array<std::byte, 4> small{};
  std::array<std::byte, 8> other{};
  std::vector<std::pair<boost::system::error_code, std::size_t>> results;
  auto record = [&](boost::system::error_code ec, std::size_t n) { results.emplace_back(ec, n); };
  f.vf->async_read_block(example::mac_block::id, big, record);          // 6 bytes of 16 requested
  f.vf->async_read_block(example::mac_block::id, small, record);        // shorter than the block
  f.vf->async_read_block(block_id{40}, other, record);                  // nobody defines block 40
  f.vf->async_write_block(example::mac_block::id, std::span(big).first(6), record);  // read-only block
  f.vf->async_read_block(block_id{1}, std::span<std::byte>{}, record);  // length 0
  f.io.run();
  BOOST_REQUIRE(results.size() == 5u);
  // Completions arrive in request order; the refused length is refused before anything is sent.
  BOOST_TEST(results[0].first == boost::system::error_code{});
  BOOST_TEST(results[0].second == 6u);
  BOOST_TEST(big[1] == std::byte{0x15});
  BOOST_TEST((results[1].first == errc::buffer_too_small));
  BOOST_TEST(small == (std::array<std::byte, 4>{}));
  BOOST_TEST((results[2].first == errc::invalid_argument));
  BOOST_TEST((results[3].first == errc::access_denied));
  BOOST_TEST((results[4].first == errc::invalid_length));
}

BOOST_AUTO_TEST_CASE(every_completion_token) {
  mailbox_fixture f;
  std::array<std::byte, 6> a{}, b{}, c{}, d{};
  std::size_t callback_bytes = 0;
  f.vf->async_read_block(example::mac_block::id, a, [&](boost::system::error_code ec, std::size_t n) {
    BOOST_TEST(!ec);
    callback_bytes = n;
  });
  auto deferred_op = f.vf->async_read_block(example::mac_block::id, b, boost::asio::deferred);
  std::size_t deferred_bytes = 0;
  std::move(deferred_op)([&](boost::system::error_code ec, std::size_t n) {
    BOOST_TEST(!ec);
    deferred_bytes = n;
  });
  std::size_t tuple_bytes = 0;
  f.vf->async_read_block(example::mac_block::id, c,
                         boost::asio::as_tuple([&](std::tuple<boost::system::error_code, std::size_t> t) {
                           BOOST_TEST(!std::get<0>(t));
                           tuple_bytes = std::get<1>(t);
                         }));
  std::future<std::size_t> future = f.vf->async_read_block(example::mac_block::id, d, boost::asio::use_future);
  f.io.run();
  BOOST_TEST(callback_bytes == 6u);
  BOOST_TEST(deferred_bytes == 6u);
  BOOST_TEST(tuple_bytes == 6u);
  BOOST_TEST(future.get() == 6u);
  BOOST_TEST(d[5] == std::byte{0x03});
}

BOOST_AUTO_TEST_CASE(invalidation_is_latched_before_the_wait_and_coalesced) {
  mailbox_fixture f;
  // Raised with no reader waiting: must not be lost.
  BOOST_TEST(!f.pf.invalidate(0, block_mask{0b001}));
  BOOST_TEST(!f.pf.invalidate(0, block_mask{0b100}));
  std::optional<block_mask> seen;
  f.vf->async_wait_invalidate([&](boost::system::error_code ec, block_mask mask) {
    BOOST_TEST(!ec);
    seen = mask;
  });
  f.io.run();
  BOOST_REQUIRE(seen.has_value());
  BOOST_TEST(seen->bits() == 0b101u);
  // The VF acknowledged: the PF's latch is clear.
  BOOST_TEST(f.pf.mailbox_session(0)->latched_invalidations().empty());
}

// The PF invalidates one block by ID or by descriptor, published at once as a mask is. README offered
// blocks().invalidate<Block>(vf) for it, which only raises the bit in the store: a waiting VF saw it at
// the PF's next service (its heartbeat), or never without a serving loop.
BOOST_AUTO_TEST_CASE(invalidate_one_block_by_id_or_descriptor_publishes_at_once) {
  mailbox_fixture f;
  const auto* session = f.pf.mailbox_session(0);
  BOOST_TEST(!f.pf.invalidate(0, example::stats_block::id));
  BOOST_TEST(session->latched_invalidations().bits() == (std::uint64_t{1} << example::stats_block::id.value()));
  BOOST_TEST(!f.pf.invalidate<example::vf_config_block>(0));
  BOOST_TEST(session->latched_invalidations().bits() ==
             ((std::uint64_t{1} << example::stats_block::id.value()) | (std::uint64_t{1} << example::vf_config_block::id.value())));
  // No bit for block 64; an unregistered VF: refused, nothing raised.
  BOOST_TEST((f.pf.invalidate(0, block_id{64}) == errc::invalid_block_id));
  BOOST_TEST((f.pf.invalidate(3, block_id{0}) == errc::not_found));
  BOOST_TEST(session->latched_invalidations().bits() ==
             ((std::uint64_t{1} << example::stats_block::id.value()) | (std::uint64_t{1} << example::vf_config_block::id.value())));
  BOOST_TEST(f.pf.blocks().pending_invalidations(0).empty());
  std::optional<block_mask> seen;
  f.vf->async_wait_invalidate([&](boost::system::error_code ec, block_mask mask) {
    BOOST_TEST(!ec);
    seen = mask;
  });
  f.io.poll();
  BOOST_REQUIRE(seen.has_value());
  BOOST_TEST(seen->test(example::stats_block::id));
  BOOST_TEST(seen->test(example::vf_config_block::id));
}

BOOST_AUTO_TEST_CASE(invalidate_then_reread_sees_the_new_value) {
  mailbox_fixture f;
  bool finished = false;
  boost::asio::co_spawn(
      f.io,
      [&]() -> boost::asio::awaitable<void> {
        auto before = co_await f.vf->async_read(example::vf_config_block{}, boost::asio::use_awaitable);
        BOOST_TEST(before.vlan == 0u);
        example::vf_config changed = before;
        changed.vlan = 42;
        BOOST_TEST(!f.pf.store<example::vf_config_block>(0, changed));  // stores and invalidates block 1
        auto mask = co_await f.vf->async_wait_invalidate(boost::asio::use_awaitable);
        BOOST_TEST(mask.test(example::vf_config_block::id));
        auto after = co_await f.vf->async_read(example::vf_config_block{}, boost::asio::use_awaitable);
        BOOST_TEST(after.vlan == 42u);
        finished = true;
      },
      boost::asio::detached);
  f.io.run();
  BOOST_TEST(finished);
}

BOOST_AUTO_TEST_CASE(synchronous_forms_and_the_c_facade) {
  mailbox_fixture f;
  auto mac = f.vf->read(example::mac_block{});
  BOOST_TEST(mac[2] == 0x5d);
  boost::system::error_code ec;
  std::array<std::byte, 4> small{};
  BOOST_TEST(f.vf->read_block(example::mac_block::id, small, ec) == 0u);
  BOOST_TEST((ec == errc::buffer_too_small));
  BOOST_CHECK_THROW(f.vf->read_block(example::mac_block::id, small), boost::system::system_error);

  interface_standard vpci_if = f.vf->interface();
  BOOST_TEST(vpci_if.Size == sizeof(interface_standard));
  BOOST_TEST(vpci_if.Version == 1u);
  std::array<std::uint8_t, 128> buffer{};
  BOOST_TEST(vpci_if.ReadVfConfigBlock(vpci_if.Context, 0, buffer.data(), 6) == 0);
  BOOST_TEST(buffer[5] == 0x03);
  BOOST_TEST(vpci_if.ReadVfConfigBlock(vpci_if.Context, 0, buffer.data(), 0) == std::int32_t(0xC000000D));
  BOOST_TEST(vpci_if.ReadVfConfigBlock(vpci_if.Context, 0, buffer.data(), 129) == std::int32_t(0xC000000D));
  BOOST_TEST(vpci_if.ReadVfConfigBlock(vpci_if.Context, 0, buffer.data(), 4) == std::int32_t(0xC0000023));
  BOOST_TEST(vpci_if.ReadVfConfigBlock(vpci_if.Context, 0, nullptr, 6) == std::int32_t(0xC000000D));
  const std::array<std::uint8_t, 11> config{2, 0, 1, 0, 0x28, 0x23, 0, 0, 7, 0, 2};
  BOOST_TEST(vpci_if.WriteVfConfigBlock(vpci_if.Context, 1, const_cast<std::uint8_t*>(config.data()), 11) == 0);
  BOOST_TEST(f.pf.load<example::vf_config_block>(0)->mtu == 9000u);
  BOOST_TEST(vpci_if.WriteVfConfigBlock(vpci_if.Context, 1, const_cast<std::uint8_t*>(config.data()), 10) ==
             std::int32_t(0xC000000D));
  // NTSTATUS is a LONG: a failure is negative, so NT_SUCCESS (status >= 0) ported as written holds (the
  // interface returned an unsigned value before, for which `status < 0` is never true).
  BOOST_TEST(vpci_if.ReadVfConfigBlock(vpci_if.Context, 0, buffer.data(), 4) < 0);
  static_assert(std::is_same_v<decltype(vpci_if.ReadVfConfigBlock(nullptr, 0, nullptr, 0)), std::int32_t>);
}

// On virtual time: the first request times out at its deadline, whatever the host's speed.
BOOST_AUTO_TEST_CASE(timeout_then_late_reply_is_dropped) {
  vf_mailbox_options options;
  options.default_timeout = 2ms;
  options.poll_interval = 100us;
  manual_timing clock;
  // The PF does not service on writes: the request goes unanswered.
  basic_mailbox_fixture<manual_timing> f(options, {.service_on_write = false}, clock);
  std::array<std::byte, 6> buffer{};
  boost::system::error_code first;
  bool first_done = false;
  f.vf->async_read_block(example::mac_block::id, buffer, [&](boost::system::error_code ec, std::size_t) {
    first = ec;
    first_done = true;
    // The PF comes back and answers the abandoned request late.
    BOOST_TEST(!f.pf.service(0));
  });
  vpci::test::run_until(f.io, clock, [&] { return first_done; }, 2'000'000);
  BOOST_TEST((first == errc::timeout));
  BOOST_TEST(clock.now() == 2'000'000u);
  BOOST_TEST(buffer == (std::array<std::byte, 6>{}));  // the late answer never reaches the buffer
  // The next request goes through once the late answer was seen and dropped.
  auto session = f.pf.mailbox_session(0);
  std::size_t bytes = 0;
  boost::system::error_code second;
  bool second_done = false;
  f.vf->async_read_block(example::mac_block::id, buffer, [&](boost::system::error_code ec, std::size_t n) {
    second = ec;
    bytes = n;
    second_done = true;
  });
  // Service on each VF write, from the user's own hook.
  f.space.set_write_hook([&](std::size_t, std::size_t) { BOOST_TEST(!f.pf.service(0)); });
  vpci::test::run_until(f.io, clock, [&] { return second_done; }, clock.now() + 2'000'000);
  BOOST_TEST(second_done);
  BOOST_TEST(!second);
  BOOST_TEST(bytes == 6u);
  BOOST_TEST(f.vf->engine().late_replies_dropped() == 1u);
  BOOST_TEST(session->last_sequence() == 2u);
}

BOOST_AUTO_TEST_CASE(cancellation_of_queued_and_active_requests) {
  mailbox_fixture f({}, {.service_on_write = false});  // the PF does not answer: requests stay pending
  std::array<std::byte, 6> a{}, b{};
  boost::asio::cancellation_signal cancel_a, cancel_b;
  boost::system::error_code ea, eb;
  f.vf->async_read_block(example::mac_block::id, a,
                         boost::asio::bind_cancellation_slot(cancel_a.slot(), [&](boost::system::error_code ec, std::size_t) {
                           ea = ec;
                         }));
  f.vf->async_write_block(example::vf_config_block::id, std::span<const std::byte>(b).first(6),
                          boost::asio::bind_cancellation_slot(cancel_b.slot(), [&](boost::system::error_code ec, std::size_t) {
                            eb = ec;
                          }));
  f.io.poll();  // the read is written to the mailbox and waits; the write is queued behind it
  cancel_b.emit(boost::asio::cancellation_type::partial);  // queued: nothing happened yet, so allowed
  cancel_a.emit(boost::asio::cancellation_type::total);    // a read has no side effect
  f.io.poll();
  BOOST_TEST((ea == errc::cancelled));
  BOOST_TEST((eb == errc::cancelled));
  BOOST_TEST(f.vf->engine().has_orphan());
}

BOOST_AUTO_TEST_CASE(removal_completes_every_pending_operation_in_order) {
  mailbox_fixture f({}, {.service_on_write = false});  // the PF does not answer
  std::array<std::byte, 6> a{}, b{}, c{};
  std::vector<int> order;
  std::vector<boost::system::error_code> errors;
  auto on = [&](int which) {
    return [&, which](boost::system::error_code ec, std::size_t) {
      order.push_back(which);
      errors.push_back(ec);
    };
  };
  f.vf->async_read_block(example::mac_block::id, a, on(1));
  f.vf->async_read_block(example::mac_block::id, b, on(2));
  f.vf->async_read_block(example::mac_block::id, c, on(3));
  f.io.poll();
  f.vf->remove();
  f.io.poll();
  BOOST_TEST(order == (std::vector<int>{1, 2, 3}), boost::test_tools::per_element());
  for (auto& ec : errors) BOOST_TEST((ec == errc::vf_removed));
}

// A program without an event loop (the synchronous forms only) that removes its VF: the next synchronous
// read works. It failed with `busy` until someone ran the io_context, for the pump remove() had posted.
BOOST_AUTO_TEST_CASE(a_synchronous_read_right_after_remove_is_not_busy) {
  mailbox_fixture f;
  boost::system::error_code ec;
  std::array<std::byte, 6> mac{};
  BOOST_TEST(f.vf->read_block(example::mac_block::id, mac, ec) == 6u);
  f.vf->remove();
  mac = {};
  BOOST_TEST(f.vf->read_block(example::mac_block::id, mac, ec) == 6u);
  BOOST_TEST(!ec, ec.message());
  BOOST_TEST(mac[5] == std::byte{0x03});
  // The pump remove() posted finds nothing to do when it runs; the endpoint still works asynchronously.
  BOOST_TEST(f.io.poll() >= 1u);
  f.io.restart();  // the poll ran out of work, which stops an io_context
  std::optional<boost::system::error_code> done;
  f.vf->async_read_block(example::mac_block::id, mac, [&](boost::system::error_code e, std::size_t) { done = e; });
  f.io.poll();
  BOOST_TEST_REQUIRE(done.has_value());
  BOOST_TEST(!*done);
}

// Issue 10's budgets, counted as config cycles on the VF's side of a simulated device (the transport's
// access observer sees every aligned access): a read or write of n bytes costs at most ceil(n/4) + 5 VF
// accesses once the window is probed (a read ceil(n/4) + 3, a write ceil(n/4) + 2, + 1 when the block
// register must change), and an idle invalidation watcher 100 accesses per second.
BOOST_AUTO_TEST_CASE(config_access_budgets_counted_on_the_transport) {
  boost::asio::io_context io;
  memory_config_space space{io, 4096};
  pf_endpoint<2> pf;
  BOOST_REQUIRE(!pf.register_vf(0, 0x0101));
  std::vector<std::byte> contents(128);
  for (std::size_t i = 0; i < contents.size(); ++i) contents[i] = static_cast<std::byte>(i);
  // Block 1 holds 4 bytes, block 2 64, block 3 128.
  const auto id_of = [](std::size_t n) { return block_id{n == 4 ? 1u : n == 64 ? 2u : 3u}; };
  for (const std::size_t n : {4u, 64u, 128u})
    BOOST_REQUIRE(!pf.define_block(0, id_of(n), std::span<const std::byte>(contents).first(n)));
  // Served from the VF's writes alone: no loop beats a heartbeat, so the window announces none (README).
  mailbox_options options;
  options.heartbeat = std::chrono::milliseconds(0);
  const auto window = pf.attach_mailbox(0, space, options);
  BOOST_REQUIRE(window.has_value());
  std::size_t accesses = 0;
  space.set_access_observer([&](access_direction, std::size_t, std::size_t) { ++accesses; });
  vf_endpoint vf(space, *window);
  std::array<std::byte, 128> buffer{};
  boost::system::error_code ec;
  (void)vf.read_block(id_of(4), std::span(buffer).first(4), ec);  // the probe happens here
  BOOST_REQUIRE(!ec);
  for (const std::size_t n : {4u, 64u, 128u}) {
    BOOST_TEST_CONTEXT(n << " bytes") {
      const auto span = std::span(buffer).first(n);
      accesses = 0;
      BOOST_TEST(vf.read_block(id_of(n), span, ec) == n);
      // The request, the status, the data, the tear check, and the block register when it changes.
      BOOST_TEST(accesses == (n + 3) / 4 + 3 + (n == 4 ? 0 : 1));
      BOOST_TEST(accesses <= (n + 3) / 4 + 5);
      accesses = 0;
      BOOST_TEST(vf.read_block(id_of(n), span, ec) == n);
      BOOST_TEST(accesses == (n + 3) / 4 + 3);
      accesses = 0;
      BOOST_TEST(vf.write_block(id_of(n), span, ec) == n);
      BOOST_TEST(accesses == (n + 3) / 4 + 2);
      BOOST_TEST(!ec);
    }
  }
  // An idle watcher, one virtual second: one status dword per 10 ms.
  manual_timing clock;
  vf_endpoint watcher(space, *window, vf_mailbox_options{}, clock);
  bool woke = false;
  watcher.async_wait_invalidate([&](boost::system::error_code, block_mask) { woke = true; });
  io.restart();
  io.poll();  // the probe
  accesses = 0;
  for (int i = 0; i < 100; ++i) {
    clock.advance(std::chrono::milliseconds(10));
    io.restart();
    io.poll();
  }
  BOOST_TEST(!woke);
  BOOST_TEST(accesses == 100u);
  watcher.close();
  io.restart();
  io.poll();
}

// poll_invalidations on a PF that announces a 100 ms heartbeat and stopped beating (nothing runs its serving
// loop). Its look found the PF gone after 4 intervals, and restoring the watch then forgot it: every poll
// said success while read_block said peer_gone. Now the poll reports it too, at each look until the beat
// moves again.
BOOST_AUTO_TEST_CASE(poll_invalidations_reports_a_pf_whose_heartbeat_stopped) {
  // Heartbeat 100 ms, the default. Polled, so announced from the attach on (with write hooks, only while
  // async_serve runs); nothing serves.
  mailbox_options polled;
  polled.service_on_write = false;
  mailbox_fixture f({}, polled);
  manual_timing clock;
  vf_endpoint<memory_config_space, manual_timing> vf(f.space, f.window, vf_mailbox_options{}, clock);
  boost::system::error_code ec;
  BOOST_TEST(vf.poll_invalidations(ec).empty());  // the probe
  BOOST_TEST(!ec);
  for (int interval = 1; interval <= 4; ++interval) {
    clock.advance(std::chrono::milliseconds(100));
    BOOST_TEST(vf.poll_invalidations(ec).empty());
    BOOST_TEST(!ec, "interval " << interval << ": " << ec.message());
  }
  for (int look = 0; look < 2; ++look) {
    clock.advance(std::chrono::milliseconds(100));
    BOOST_TEST(vf.poll_invalidations(ec).empty());
    BOOST_TEST(ec == make_error_code(errc::peer_gone));
  }
  std::array<std::byte, 8> buffer{};
  BOOST_TEST(vf.read_block(block_id{1}, buffer, ec) == 0u);
  BOOST_TEST(ec == make_error_code(errc::peer_gone));
}

// The 16-bit sequence wraps past 0xFFFF to 1 between vpci's own VF and PF without a violation (a long
// benchmark run found them disagreeing).
BOOST_AUTO_TEST_CASE(seventy_thousand_requests_wrap_the_sequence) {
  mailbox_fixture f;
  std::array<std::byte, 6> mac{};
  boost::system::error_code ec;
  for (int i = 0; i < 70'000 && !ec; ++i) (void)f.vf->read_block(example::mac_block::id, mac, ec);
  BOOST_TEST(!ec);
  BOOST_TEST(f.vf->engine().sequence() == (70'000u % 0xFFFFu));
  BOOST_TEST(f.pf.blocks().counters(0).violations == 0u);
}

// A program whose completion handlers start the next read (a load generator, a coroutine reading in a
// loop), over a transport whose PF answers inside the VF's own writes: the endpoint still gives its
// executor to other work between completions, so posted handlers, timers and signals run. Before, one
// turn of the executor delivered every completion and performed every next read, as long as the program
// kept reading: `vpci-perf --memory` printed no progress line and ignored Ctrl-C.
BOOST_AUTO_TEST_CASE(handlers_that_start_the_next_read_do_not_starve_the_executor) {
  mailbox_fixture f;
  constexpr std::size_t turn = vf_endpoint<memory_config_space>::completions_per_turn;
  constexpr std::size_t reads = 4 * turn;
  std::size_t completed = 0;
  std::optional<std::size_t> posted_ran_after;
  std::optional<std::size_t> timer_ran_after;
  std::array<std::byte, 6> mac{};
  std::function<void()> read_next = [&] {
    f.vf->async_read_block(example::mac_block::id, mac, [&](boost::system::error_code ec, std::size_t n) {
      BOOST_TEST(!ec);
      BOOST_TEST(n == mac.size());
      if (++completed < reads) read_next();
    });
  };
  read_next();
  boost::asio::post(f.io, [&] { posted_ran_after = completed; });
  // Due at once: it runs when the executor next looks at its timers, without waiting for any time.
  boost::asio::steady_timer timer(f.io, boost::asio::steady_timer::time_point::min());
  timer.async_wait([&](boost::system::error_code) { timer_ran_after = completed; });
  f.io.run();
  BOOST_TEST(completed == reads);
  BOOST_REQUIRE(posted_ran_after.has_value());
  // Posted behind the first read's turn: it runs as soon as that turn has delivered its share.
  BOOST_TEST(*posted_ran_after == turn);
  BOOST_REQUIRE(timer_ran_after.has_value());
  BOOST_TEST(*timer_ran_after <= 2 * turn);
  BOOST_TEST(f.pf.blocks().counters(0).violations == 0u);
}

// The PF's own NTSTATUS in *report.status; an operation that ends without a PF answer (refused,
// cancelled, timed out) reports STATUS_SUCCESS there, whatever the variable held before.
BOOST_AUTO_TEST_CASE(async_pf_status_report_is_success_for_a_refused_request) {
  mailbox_fixture f;
  ntstatus status = ntstatus::access_denied;  // stale, from an earlier request
  boost::system::error_code got;
  bool called = false;
  f.vf->async_read_block(example::mac_block::id, std::span<std::byte>{}, 1s, pf_status_report{&status},
                         [&](boost::system::error_code ec, std::size_t) {
                           got = ec;
                           called = true;
                           BOOST_TEST((status == ntstatus::success));
                         });
  f.io.run();
  BOOST_TEST(called);
  BOOST_TEST((got == errc::invalid_length));
  BOOST_TEST((status == ntstatus::success));
  // A PF's failure status is reported as such.
  std::array<std::byte, 8> other{};
  f.io.restart();
  f.vf->async_read_block(block_id{40}, other, 1s, pf_status_report{&status},
                         [&](boost::system::error_code ec, std::size_t) { got = ec; });
  f.io.run();
  BOOST_TEST((got == errc::invalid_argument));
  BOOST_TEST((status != ntstatus::success));
}

BOOST_AUTO_TEST_CASE(sync_pf_status_report_is_success_for_a_refused_request) {
  mailbox_fixture f;
  ntstatus status = ntstatus::access_denied;  // stale, from an earlier request
  boost::system::error_code ec;
  BOOST_TEST(f.vf->read_block(example::mac_block::id, std::span<std::byte>{}, ec, pf_status_report{&status}) == 0u);
  BOOST_TEST((ec == errc::invalid_length));
  BOOST_TEST((status == ntstatus::success));
  status = ntstatus::access_denied;
  std::array<std::byte, 6> mac{};
  BOOST_TEST(f.vf->read_block(example::mac_block::id, mac, ec, pf_status_report{&status}) == 6u);
  BOOST_TEST(!ec);
  BOOST_TEST((status == ntstatus::success));
}

// A write's total cancellation applies only while the request has not left the VF. Once the PF
// may have it, a total cancel is ignored: the write stays pending and completes with the PF's answer.
BOOST_AUTO_TEST_CASE(total_cancellation_of_a_write_that_left_the_vf_is_ignored) {
  mailbox_fixture f({}, {.service_on_write = false});  // the PF answers only when told
  const std::array<std::byte, 11> config{std::byte{2}, std::byte{0}, std::byte{1}, std::byte{0}, std::byte{0x28},
                                         std::byte{0x23}, std::byte{0}, std::byte{0}, std::byte{7}, std::byte{0},
                                         std::byte{2}};
  boost::asio::cancellation_signal cancel;
  std::optional<boost::system::error_code> result;
  f.vf->async_write_block(example::vf_config_block::id, config,
                          boost::asio::bind_cancellation_slot(cancel.slot(), [&](boost::system::error_code ec, std::size_t) {
                            result = ec;
                          }));
  f.io.poll();  // the write is in the mailbox: it has left the VF
  BOOST_REQUIRE(!result.has_value());
  cancel.emit(boost::asio::cancellation_type::total);
  f.io.poll();
  BOOST_TEST(!result.has_value());  // not cancelled: the PF may apply it
  BOOST_TEST(!f.pf.service(0));
  f.io.restart();
  f.io.run();
  BOOST_REQUIRE(result.has_value());
  BOOST_TEST(!*result);
  BOOST_TEST(f.pf.load<example::vf_config_block>(0)->mtu == 9000u);
}

// A synchronous read right after an asynchronous one was cancelled (its cancellation not yet reported by
// the engine: no event loop ran) returns its own result, not the cancelled operation's.
BOOST_AUTO_TEST_CASE(a_synchronous_read_after_a_cancellation_gets_its_own_result) {
  mailbox_fixture f;
  std::array<std::byte, 6> a{}, mac{};
  boost::asio::cancellation_signal cancel;
  std::optional<boost::system::error_code> first;
  f.vf->async_read_block(example::mac_block::id, a,
                         boost::asio::bind_cancellation_slot(cancel.slot(), [&](boost::system::error_code ec, std::size_t) {
                           first = ec;
                         }));
  cancel.emit(boost::asio::cancellation_type::total);  // queued: never sent
  boost::system::error_code ec;
  BOOST_TEST(f.vf->read_block(example::mac_block::id, mac, ec) == 6u);
  BOOST_TEST(!ec, ec.message());
  BOOST_TEST(mac[5] == std::byte{0x03});
  f.io.run();
  BOOST_REQUIRE(first.has_value());
  BOOST_TEST((*first == errc::cancelled));
}

// A handler bound to another executor runs there (Asio's associated executor), never on the endpoint's.
BOOST_AUTO_TEST_CASE(a_handler_bound_to_another_executor_runs_there) {
  mailbox_fixture f;
  boost::asio::io_context other;
  std::array<std::byte, 6> mac{};
  bool called = false;
  f.vf->async_read_block(example::mac_block::id, mac,
                         boost::asio::bind_executor(other, [&](boost::system::error_code ec, std::size_t n) {
                           BOOST_TEST(!ec);
                           BOOST_TEST(n == 6u);
                           BOOST_TEST(other.get_executor().running_in_this_thread());
                           called = true;
                         }));
  bool typed = false;
  f.vf->async_read(example::mac_block{}, boost::asio::bind_executor(other, [&](boost::system::error_code ec, auto) {
                     BOOST_TEST(!ec);
                     BOOST_TEST(other.get_executor().running_in_this_thread());
                     typed = true;
                   }));
  f.io.run();
  BOOST_TEST(!called);  // the endpoint's executor ran: the handlers wait for theirs
  BOOST_TEST(!typed);
  other.run();
  BOOST_TEST(called);
  BOOST_TEST(typed);
}

namespace {
// Block 9 of VF 0 served by `handler`, and the VF's read of it in the window before serving starts (so the
// first serving pass answers it), its completion recorded in `result` and detaching the mailbox (serving
// then ends with success).
void read_before_serving(mailbox_fixture& f, std::shared_ptr<engine::block_handler> handler,
                         std::array<std::byte, 1>& value, boost::system::error_code& result) {
  BOOST_REQUIRE(!f.pf.define_block(0, block_id{9}, std::array<std::byte, 1>{}, block_access::read_write, std::move(handler)));
  f.vf->async_read_block(block_id{9}, value, [&f, &result](boost::system::error_code ec, std::size_t) {
    result = ec;
    BOOST_TEST(!f.pf.detach_mailbox(0));
  });
  f.io.poll();
}
}  // namespace

// A token audit: async_serve(vf, use_future) posted its first pass to the handler's executor, and a
// use_future handler's runs posted work on the system executor's threads: the PF served the window there,
// racing the VF on the transport (ThreadSanitizer), and its pass outlived the io_context (a use after
// free). The loop belongs on the transport's thread; only the completion goes to the future.
BOOST_AUTO_TEST_CASE(serving_with_use_future_runs_the_loop_on_the_transports_thread) {
  mailbox_fixture f({}, {.service_on_write = false});  // only the serving loop's passes answer
  struct thread_recorder final : engine::block_handler {
    std::atomic<std::thread::id> served_on{};
    ntstatus on_read(vf_index, block_id, std::span<std::byte> out, std::size_t& bytes) override {
      served_on = std::this_thread::get_id();
      out[0] = std::byte{42};
      bytes = 1;
      return ntstatus::success;
    }
    ntstatus on_write(vf_index, block_id, std::span<const std::byte>) override { return ntstatus::success; }
  };
  auto recorder = std::make_shared<thread_recorder>();
  std::array<std::byte, 1> value{};
  boost::system::error_code read_result = errc::device_error;
  read_before_serving(f, recorder, value, read_result);
  std::future<void> served = f.pf.async_serve(0, boost::asio::use_future);
  f.io.run();
  // A hang guard, not a timing assertion: serving has ended once the io_context ran out of work. A loop run
  // off the transport's thread never ended it, and get() waited for good.
  BOOST_TEST_REQUIRE((served.wait_for(std::chrono::seconds(30)) == std::future_status::ready),
                     "serving did not end (a 30 s hang guard): the loop ran off the transport's thread");
  served.get();  // throws the error serving ended with
  BOOST_TEST(!read_result);
  BOOST_TEST(value[0] == std::byte{42});
  BOOST_TEST((recorder->served_on.load() == std::this_thread::get_id()));
}

// A mutation audit: the first serving pass was posted to the transport's executor and run there, not
// dispatched through the handler's executor (bind_executor dropped), and no test could tell: every later
// step reaches the loop through the handler's executor, so the first pass alone ran outside a strand the
// handler is bound to, beside the user's work on that strand when the io_context has several threads.
// The request is in the window before serving starts, so that the first pass answers it.
BOOST_AUTO_TEST_CASE(serving_through_a_strand_runs_the_first_pass_inside_it) {
  mailbox_fixture f({}, {.service_on_write = false});  // only the serving loop's passes answer
  auto strand = boost::asio::make_strand(f.io);
  struct strand_recorder final : engine::block_handler {
    explicit strand_recorder(boost::asio::strand<boost::asio::io_context::executor_type> s) : strand(std::move(s)) {}
    boost::asio::strand<boost::asio::io_context::executor_type> strand;  // a copy: the same strand
    int reads = 0;
    int reads_in_strand = 0;
    ntstatus on_read(vf_index, block_id, std::span<std::byte> out, std::size_t& bytes) override {
      ++reads;
      if (strand.running_in_this_thread()) ++reads_in_strand;
      out[0] = std::byte{42};
      bytes = 1;
      return ntstatus::success;
    }
    ntstatus on_write(vf_index, block_id, std::span<const std::byte>) override { return ntstatus::success; }
  };
  auto recorder = std::make_shared<strand_recorder>(strand);
  std::array<std::byte, 1> value{};
  boost::system::error_code read_result = errc::device_error;
  read_before_serving(f, recorder, value, read_result);
  BOOST_REQUIRE(recorder->reads == 0);
  std::optional<boost::system::error_code> served;
  bool served_in_strand = false;
  f.pf.async_serve(0, boost::asio::bind_executor(strand, [&](boost::system::error_code ec) {
                     served = ec;
                     served_in_strand = strand.running_in_this_thread();
                   }));
  f.io.run();
  BOOST_REQUIRE(served.has_value());
  BOOST_TEST(!*served, served->message());
  BOOST_TEST(served_in_strand);
  BOOST_TEST(!read_result, read_result.message());
  BOOST_TEST(value[0] == std::byte{42});
  BOOST_TEST(recorder->reads == 1);
  BOOST_TEST(recorder->reads_in_strand == recorder->reads, "the block handler ran outside the serving handler's strand");
}

// The synchronous forms fail with busy while an asynchronous operation or invalidation wait of this
// endpoint is pending (README; message_endpoint_test checks binding 2).
BOOST_AUTO_TEST_CASE(synchronous_forms_are_busy_while_an_asynchronous_operation_is_pending) {
  mailbox_fixture f;
  std::array<std::byte, 6> a{}, b{};
  std::optional<boost::system::error_code> async_result;
  f.vf->async_read_block(example::mac_block::id, a, [&](boost::system::error_code ec, std::size_t) { async_result = ec; });
  boost::system::error_code ec;
  BOOST_TEST(f.vf->read_block(example::mac_block::id, b, ec) == 0u);
  BOOST_TEST((ec == errc::busy));
  BOOST_TEST(b == (std::array<std::byte, 6>{}));
  (void)f.vf->poll_invalidations(ec);
  BOOST_TEST((ec == errc::busy));
  f.io.run();
  BOOST_REQUIRE(async_result.has_value());
  BOOST_TEST(!*async_result);
  // A pending invalidation wait too.
  f.io.restart();
  std::optional<boost::system::error_code> waited;
  f.vf->async_wait_invalidate([&](boost::system::error_code e, block_mask) { waited = e; });
  BOOST_TEST(f.vf->read_block(example::mac_block::id, b, ec) == 0u);
  BOOST_TEST((ec == errc::busy));
  f.vf->remove();
  f.io.run();
  BOOST_REQUIRE(waited.has_value());
  BOOST_TEST((*waited == errc::vf_removed));
}

// A simulated config space's write hook that throws (the user's device model) propagates out of the
// access, as documented, and out of run(). The access was never reported to the engine: it waited for its
// end for good, no deadline armed, every later operation queued behind it and the synchronous forms busy.
// Now the access fails the operation it served (device_error; its deadline not needed), the exception still
// goes out, and the endpoint serves the next operations; a synchronous read that meets the throw lets it
// out too, and the read after it succeeds.
BOOST_AUTO_TEST_CASE(a_write_hook_that_throws_fails_the_operation_it_served_and_the_endpoint_goes_on) {
  manual_timing clock;
  basic_mailbox_fixture<manual_timing> f({}, {}, clock);
  bool throw_next = true;
  f.space.set_write_hook([&](std::size_t offset, std::size_t) {
    if (offset >= f.window && std::exchange(throw_next, false)) throw std::runtime_error("device model failed");
  });
  std::array<std::byte, example::stats_block::size> buffer{};
  int completions = 0;
  boost::system::error_code outcome;
  f.vf->async_read_block(example::stats_block::id, buffer, 50ms, [&](boost::system::error_code ec, std::size_t) {
    outcome = ec;
    ++completions;
  });
  bool thrown = false;
  try {
    f.io.run();
  } catch (const std::runtime_error&) {
    thrown = true;
  }
  BOOST_TEST(thrown);
  f.io.restart();
  f.io.poll();
  BOOST_TEST(completions == 1);
  BOOST_TEST((outcome == errc::device_error), outcome.message());
  BOOST_TEST(clock.now() == 0u);  // ended by the failed access, not its deadline
  // The endpoint goes on: an asynchronous read, then a synchronous one that meets a throw, then another.
  completions = 0;
  f.vf->async_read_block(example::stats_block::id, buffer, 50ms, [&](boost::system::error_code ec, std::size_t) {
    outcome = ec;
    ++completions;
  });
  f.io.restart();
  f.io.poll();
  BOOST_TEST(completions == 1);
  BOOST_TEST(!outcome, outcome.message());
  BOOST_TEST(buffer[0] == std::byte{7});  // the stats frame's sequence
  throw_next = true;
  std::array<std::byte, example::stats_block::size> sync_buffer{};
  boost::system::error_code sync_error;
  BOOST_CHECK_THROW((void)f.vf->read_block(example::stats_block::id, sync_buffer, sync_error), std::runtime_error);
  BOOST_TEST(f.vf->read_block(example::stats_block::id, sync_buffer, sync_error) == sync_buffer.size());
  BOOST_TEST(!sync_error, sync_error.message());
  BOOST_TEST(sync_buffer[0] == std::byte{7});
}

// poll_invalidations watches for invalidations for the length of its look only. An exception out of the
// look (the user's access observer) left the engine watching with no one waiting: from then on the pump
// read status at every watch interval while the VF was idle (100 config reads a second, for ever). The
// watch is now given back however the call ends.
BOOST_AUTO_TEST_CASE(a_poll_for_invalidations_that_throws_leaves_the_idle_endpoint_reading_nothing) {
  manual_timing clock;
  basic_mailbox_fixture<manual_timing> f({}, {}, clock);
  bool throw_next = false;
  std::size_t accesses = 0;
  f.space.set_access_observer([&](access_direction, std::size_t offset, std::size_t) {
    ++accesses;
    if (offset >= f.window && std::exchange(throw_next, false)) throw std::runtime_error("device model failed");
  });
  boost::system::error_code ec;
  (void)f.vf->poll_invalidations(ec);  // the probe, so the next look is one status read
  BOOST_REQUIRE(!ec);
  throw_next = true;
  BOOST_CHECK_THROW((void)f.vf->poll_invalidations(ec), std::runtime_error);
  // One read to start the pump; then the VF is idle with nothing pending and no one waiting.
  std::array<std::byte, example::mac_block::size> buffer{};
  std::optional<boost::system::error_code> read;
  f.vf->async_read_block(example::mac_block::id, buffer, [&](boost::system::error_code e, std::size_t) { read = e; });
  f.io.run();
  BOOST_REQUIRE(read.has_value());
  BOOST_TEST(!*read, read->message());
  accesses = 0;
  for (int i = 0; i < 100; ++i) {
    clock.advance(10ms);
    f.io.restart();
    f.io.poll();
  }
  BOOST_TEST(accesses == 0u);
  // The look still works afterwards.
  BOOST_TEST(f.vf->poll_invalidations(ec).empty());
  BOOST_TEST(!ec, ec.message());
}

BOOST_AUTO_TEST_SUITE_END()  // mailbox_endpoint_test
