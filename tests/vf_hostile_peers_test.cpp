// The VF endpoints against hostile, crashed and restarted PFs (the hostile-peers issue, VF side): each
// numbered case of the issue is a test named after it. Time is virtual (vpci::manual_timing): nothing
// here waits on real time for a deadline.
#include <boost/test/unit_test.hpp>

#include <array>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <span>
#include <thread>
#include <utility>
#include <vector>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

#include <vpci/asio/ioctl_device.hpp>
#include <vpci/asio/linux_block_ops.hpp>
#include <vpci/asio/pf_endpoint.hpp>
#include <vpci/asio/timing.hpp>
#include <vpci/asio/vf_endpoint.hpp>
#include <vpci/asio/vf_message_endpoint.hpp>
#include <vpci/transport/memory_config_space.hpp>
#include <vpci/transport/shm_config_space.hpp>
#include <vpci/transport/test_stream.hpp>

#include "../examples/blocks.hpp"
#include "linux_packets.hpp"
#include "test_support.hpp"
#include "virtual_time.hpp"

BOOST_AUTO_TEST_SUITE(vf_hostile_peers_test)

using namespace vpci;
using namespace std::chrono_literals;
using vpci::test::run_ready;
using vpci::test::run_until;

namespace {

constexpr hyperv::wslot own_slot{2, 1};
constexpr std::size_t window = 0x100;


// A config space with a hand-written binding-1 window at 0x100 (layout 2: the DVSEC headers, identity,
// limits, and a status from a PF that initialised the window with `epoch`, then died). Nobody services it.
struct dead_pf_window {
  boost::asio::io_context io;
  memory_config_space space{io, 4096};
  std::size_t accesses = 0;

  explicit dead_pf_window(std::uint8_t epoch) {
    std::array<std::byte, mailbox::window_size> w{};
    le::store_u32(w.data() + mailbox::reg::ext_header, 0x00010023);
    le::store_u32(w.data() + mailbox::reg::dvsec_header1, 0x1AF4u | (std::uint32_t{mailbox::dvsec_revision} << 16) |
                                                             (std::uint32_t{mailbox::window_size} << 20));
    le::store_u32(w.data() + mailbox::reg::dvsec_header2, mailbox::default_dvsec_id);
    le::store_u32(w.data() + mailbox::reg::identity, mailbox::encode_identity(mailbox::capability::invalidation));
    le::store_u32(w.data() + mailbox::reg::limits, mailbox::encode_limits(0));
    le::store_u32(w.data() + mailbox::reg::status, mailbox::encode_status({0, 0, false, false, 0, epoch}));
    BOOST_REQUIRE(space.device_write(window, w) == no_error);
    space.set_access_observer([this](access_direction, std::size_t, std::size_t) { ++accesses; });
  }
};

// Parses the VF's request frames the PF end has received: (transaction ID, message type) each.
struct request_seen {
  std::uint64_t id;
  hyperv::message_type type;
  std::uint32_t block;
};
std::vector<request_seen> take_requests(test_stream& pf) {
  std::vector<request_seen> out;
  std::vector<std::byte> bytes(pf.available());
  if (bytes.empty()) return out;
  boost::system::error_code ec;
  const std::size_t n = pf.read_some(boost::asio::buffer(bytes.data(), bytes.size()), ec);
  BOOST_REQUIRE(!ec);
  hyperv::frame_decoder decoder;
  std::span<const std::byte> rest(bytes.data(), n);
  while (!rest.empty()) {
    const auto step = decoder.feed(rest);
    rest = rest.subspan(step.consumed);
    BOOST_REQUIRE(step.error == no_error);
    if (step.packet.empty()) continue;
    const auto packet = step.packet;
    out.push_back(request_seen{le::load_u64(packet.data() + 8), static_cast<hyperv::message_type>(le::load_u32(packet.data() + 16)),
                               le::load_u32(packet.data() + 20)});
  }
  return out;
}
void send(test_stream& pf, std::span<const std::byte> frame) {
  boost::system::error_code ec;
  std::size_t done = 0;
  while (done < frame.size() && !ec) done += pf.write_some(boost::asio::buffer(frame.data() + done, frame.size() - done), ec);
  BOOST_REQUIRE(!ec);
}
void answer_read(test_stream& pf, std::uint64_t id, std::span<const std::byte> data,
                 ntstatus status = ntstatus::success) {
  std::array<std::byte, hyperv::max_frame_size> frame{};
  auto size = hyperv::encode_read_response_frame(hyperv::read_response{id, status, data}, frame);
  BOOST_REQUIRE(size.has_value());
  send(pf, std::span<const std::byte>(frame).first(*size));
}
void send_invalidate(test_stream& pf, std::uint64_t mask) {
  std::array<std::byte, hyperv::max_frame_size> frame{};
  auto size = hyperv::encode_invalidate_frame(hyperv::invalidate{own_slot, block_mask{mask}}, frame);
  BOOST_REQUIRE(size.has_value());
  send(pf, std::span<const std::byte>(frame).first(*size));
}

using message_vf = vf_message_endpoint<test_stream, manual_timing>;

// A PF with VF 0 registered and its read-only MAC block (block 0) defined.
std::unique_ptr<pf_endpoint<2>> make_pf() {
  auto pf = std::make_unique<pf_endpoint<2>>();
  BOOST_REQUIRE(!pf->register_vf(0, 0x0101));
  BOOST_REQUIRE(!pf->define<example::mac_block>(0, {}, block_access::read_only));
  return pf;
}

struct outcome {
  bool done = false;
  int calls = 0;
  boost::system::error_code ec;
  std::size_t bytes = 0;
  auto handler() {
    return [this](boost::system::error_code e, std::size_t n) {
      ++calls;
      done = true;
      ec = e;
      bytes = n;
    };
  }
};

struct message_fixture {
  boost::asio::io_context io;
  manual_timing clock;
  std::pair<test_stream, test_stream> ends = test_stream::make_pair(io.get_executor());
  test_stream& vf_end = ends.first;
  test_stream& pf_end = ends.second;
  std::optional<message_vf> vf;
  explicit message_fixture(std::chrono::nanoseconds timeout = 1s) {
    // The scripted PF answers block requests only: no version negotiation.
    vf.emplace(vf_end, own_slot, vf_message_options{.default_timeout = timeout, .negotiate = false}, clock);
  }
  // Starts a read of block 1 into `buffer`; returns the transaction ID the PF end received.
  std::uint64_t read_one(std::span<std::byte> buffer, outcome& result) {
    vf->async_read_block(block_id{1}, buffer, result.handler());
    run_ready(io);
    const auto requests = take_requests(pf_end);
    BOOST_REQUIRE(requests.size() == 1u);
    return requests[0].id;
  }
};


// The statuses a PF can answer one request with whose natural errc names a condition of the VF's own
// (peer_gone, timeout, cancelled, busy, revision_mismatch), and the error that request now fails with.
constexpr std::array<std::pair<ntstatus, errc>, 5> pf_answered_statuses{{
    {ntstatus::no_such_device, errc::peer_no_such_device},
    {ntstatus::io_timeout, errc::peer_timeout},
    {ntstatus::cancelled, errc::peer_cancelled},
    {ntstatus::device_not_ready, errc::peer_not_ready},
    {ntstatus::revision_mismatch, errc::peer_revision_mismatch},
}};

// A PF serving VF 0: block 1 (6 bytes) stored, block 7 (8 bytes) computed by a handler that answers every
// read and write with `status`.
void define_refusing_blocks(pf_endpoint<2>& pf, ntstatus status) {
  BOOST_REQUIRE(!pf.register_vf(0, 0x0101));
  BOOST_REQUIRE(!pf.define_block(0, block_id{1}, std::vector<std::byte>(6, std::byte{0x61})));
  auto refuse = std::make_shared<function_block_handler>(
      [status](vf_index, block_id, std::span<std::byte>, std::size_t&) { return status; },
      [status](vf_index, block_id, std::span<const std::byte>) { return status; });
  BOOST_REQUIRE(!pf.define_block(0, block_id{7}, std::vector<std::byte>(8), block_access::read_write, refuse));
}

// On `vf` (either binding) over a PF made by define_refusing_blocks: a read and a write of block 7 fail
// with `error` (the PF's status comes back from to_ntstatus), a read of block 1 started after them
// succeeds, the endpoint does not fail, and an invalidation wait pending throughout stays pending until
// the PF invalidates block 1, then completes with that block.
template <class Vf>
void one_answer_ends_one_request(boost::asio::io_context& io, const manual_timing& clock, Vf& vf, pf_endpoint<2>& pf,
                                 ntstatus status, errc error) {
  std::optional<std::pair<boost::system::error_code, block_mask>> wait;
  vf.async_wait_invalidate([&](boost::system::error_code ec, block_mask mask) { wait.emplace(ec, mask); });
  std::array<std::byte, 8> refused{};
  std::array<std::byte, 8> data{};
  std::array<std::byte, 6> served{};
  outcome read, write, after;
  vf.async_read_block(block_id{7}, refused, read.handler());
  vf.async_write_block(block_id{7}, std::span<const std::byte>(data), write.handler());
  vf.async_read_block(block_id{1}, served, after.handler());
  run_until(io, clock, [&] { return read.done && write.done && after.done; }, 100'000'000);
  BOOST_TEST(read.calls == 1);
  BOOST_TEST((read.ec == error));
  BOOST_TEST(read.ec != errc::peer_gone);
  BOOST_TEST((to_ntstatus(read.ec) == status));
  BOOST_TEST(read.bytes == 0u);
  BOOST_TEST(write.calls == 1);
  BOOST_TEST((write.ec == error));
  BOOST_TEST((to_ntstatus(write.ec) == status));
  BOOST_TEST(after.calls == 1);
  BOOST_TEST(!after.ec);
  BOOST_TEST(after.bytes == 6u);
  BOOST_TEST(!vf.failure());
  run_ready(io);
  BOOST_TEST(!wait.has_value());  // still pending
  BOOST_TEST(!pf.invalidate(0, block_id{1}));
  run_until(io, clock, [&] { return wait.has_value(); }, clock.now() + 100'000'000);
  BOOST_REQUIRE(wait.has_value());
  BOOST_TEST(!wait->first);
  BOOST_TEST(wait->second.bits() == 0x2u);
}
}  // namespace

// Case 1 (layout 2): the window has no multi-register update a dead PF could leave half done, so a PF
// that dies mid-request simply never answers: the VF's operations time out on time, other handlers on the
// io_context keep running, the synchronous forms return, and polling costs one dword per poll, the polls
// doubling from the poll interval; an idle invalidation watcher costs one dword per watch interval.
BOOST_AUTO_TEST_CASE(case_1_a_pf_dead_mid_request_starves_nothing) {
  dead_pf_window w(3);
  manual_timing clock;
  vf_mailbox_options options;
  options.default_timeout = 5ms;
  vf_endpoint vf(w.space, window, options, clock);
  std::array<std::byte, 8> buffer{};
  outcome read;
  vf.async_read_block(block_id{1}, buffer, read.handler());
  int other_handlers = 0;
  for (int i = 0; i < 100; ++i) boost::asio::post(w.io, [&] { ++other_handlers; });
  run_ready(w.io);
  BOOST_TEST(other_handlers == 100);  // never starved
  BOOST_TEST(!read.done);
  run_until(w.io, clock, [&] { return read.done; }, 10'000'000);
  BOOST_TEST(read.calls == 1);
  BOOST_TEST((read.ec == errc::timeout));
  BOOST_TEST(clock.now() == 5'000'000u);  // exactly at the deadline
  // The probe (9 dwords), the block and request registers (2), then one status dword per poll: at once,
  // then after 20 us, doubling (at 20, 60, 140, 300, 620, 1260 and 2540 us); the next, at 5100 us, falls
  // after the deadline. Polled every 20 us, the dead PF cost 250 reads per request.
  const std::size_t polls = w.accesses - 9u - 2u;
  BOOST_TEST(polls == 8u);
  // The synchronous form returns at its deadline too (virtual time moves instead of sleeping).
  boost::system::error_code ec;
  const std::uint64_t before = clock.now();
  BOOST_TEST(vf.read_block(block_id{1}, buffer, ec) == 0u);
  BOOST_TEST((ec == errc::timeout));
  BOOST_TEST(clock.now() - before >= 5'000'000u);
  // An idle invalidation watcher over the dead PF: one status dword per watch interval (10 ms).
  vpci::vf_mailbox_options idle_options;
  manual_timing idle_clock;
  dead_pf_window idle(5);
  vf_endpoint watcher(idle.space, window, idle_options, idle_clock);
  bool woke = false;
  watcher.async_wait_invalidate([&](boost::system::error_code, block_mask) { woke = true; });
  run_until(idle.io, idle_clock, [] { return false; }, 1'000'000'000);  // one virtual second
  BOOST_TEST(!woke);
  BOOST_TEST(idle.accesses == 9u + 100u);  // the probe, then 100 polls of one dword per second
}

// Case 6: with every slot busy, cancelling one operation and starting another completes the cancelled
// one with `cancelled` (once), and the new one with its own answer; a late answer for the cancelled one
// is dropped.
BOOST_AUTO_TEST_CASE(case_6_cancel_then_reuse_matches_completions_by_full_handle) {
  message_fixture f;
  std::vector<std::array<std::byte, 4>> buffers(64);
  std::vector<outcome> results(64);
  boost::asio::cancellation_signal cancel_first;
  f.vf->async_read_block(block_id{1}, buffers[0], boost::asio::bind_cancellation_slot(cancel_first.slot(), results[0].handler()));
  for (std::size_t i = 1; i < 64; ++i) f.vf->async_read_block(block_id{1}, buffers[i], results[i].handler());
  run_ready(f.io);
  const auto first_batch = take_requests(f.pf_end);
  BOOST_REQUIRE(first_batch.size() == 64u);
  cancel_first.emit(boost::asio::cancellation_type::terminal);
  std::array<std::byte, 4> fresh_buffer{};
  outcome fresh;
  f.vf->async_read_block(block_id{2}, fresh_buffer, fresh.handler());
  run_ready(f.io);
  BOOST_TEST(results[0].calls == 1);
  BOOST_TEST((results[0].ec == errc::cancelled));
  const auto second_batch = take_requests(f.pf_end);
  BOOST_REQUIRE(second_batch.size() == 1u);
  BOOST_TEST(second_batch[0].block == 2u);
  BOOST_TEST(second_batch[0].id != first_batch[0].id);       // the slot's generation moved on
  BOOST_TEST((second_batch[0].id & 0xFFFF) == (first_batch[0].id & 0xFFFF));  // the same slot
  // The PF answers the cancelled request late, then the new one.
  const std::array<std::byte, 4> stale{std::byte{0xBA}, std::byte{0xD0}, std::byte{0xBA}, std::byte{0xD0}};
  const std::array<std::byte, 4> good{std::byte{1}, std::byte{2}, std::byte{3}, std::byte{4}};
  answer_read(f.pf_end, first_batch[0].id, stale);
  answer_read(f.pf_end, second_batch[0].id, good);
  run_ready(f.io);
  BOOST_TEST(fresh.calls == 1);
  BOOST_TEST(!fresh.ec);
  BOOST_TEST(fresh_buffer == good);
  BOOST_TEST(results[0].calls == 1);  // completed exactly once
  BOOST_TEST(buffers[0] == (std::array<std::byte, 4>{}));
  BOOST_TEST(f.vf->engine().counters().dropped_unknown_id == 1u);
  f.vf->close();
  run_ready(f.io);
  for (std::size_t i = 1; i < 64; ++i) BOOST_TEST(results[i].calls == 1);
}

// Case 7: two waits started back to back while a bit is latched: the first gets the bit, the second is
// refused busy (one waiter at a time), on both bindings alike.
BOOST_AUTO_TEST_CASE(case_7_two_waits_with_bits_latched) {
  message_fixture f;
  std::array<std::byte, 4> buffer{};
  outcome read;
  const std::uint64_t id = f.read_one(buffer, read);  // the endpoint now reads the stream
  answer_read(f.pf_end, id, buffer);
  send_invalidate(f.pf_end, 0b100);
  run_ready(f.io);
  BOOST_TEST(read.done);
  BOOST_TEST(f.vf->channel().pending_invalidations().bits() == 0b100u);
  std::optional<std::pair<boost::system::error_code, block_mask>> first, second;
  f.vf->async_wait_invalidate([&](boost::system::error_code ec, block_mask m) { first.emplace(ec, m); });
  f.vf->async_wait_invalidate([&](boost::system::error_code ec, block_mask m) { second.emplace(ec, m); });
  BOOST_TEST(!first.has_value());  // never inline
  run_ready(f.io);
  BOOST_REQUIRE(first.has_value());
  BOOST_REQUIRE(second.has_value());
  BOOST_TEST(!first->first);
  BOOST_TEST(first->second.bits() == 0b100u);
  BOOST_TEST((second->first == errc::busy));
  BOOST_TEST(second->second.empty());
  f.vf->close();
  run_ready(f.io);

  // Binding 1, the same rule: a PF with bit 5 latched before the waits.
  boost::asio::io_context io;
  manual_timing clock;
  memory_config_space space(io, 4096);
  auto pf = make_pf();
  const std::size_t at = *pf->attach_mailbox(0, space);
  (void)pf->invalidate(0, block_mask{1u << 5});
  vf_endpoint mailbox_vf(space, at, vf_mailbox_options{}, clock);
  first.reset();
  second.reset();
  mailbox_vf.async_wait_invalidate([&](boost::system::error_code ec, block_mask m) { first.emplace(ec, m); });
  mailbox_vf.async_wait_invalidate([&](boost::system::error_code ec, block_mask m) { second.emplace(ec, m); });
  run_ready(io);
  BOOST_REQUIRE(first.has_value());
  BOOST_REQUIRE(second.has_value());
  BOOST_TEST(!first->first);
  BOOST_TEST(first->second.bits() == (1u << 5));
  BOOST_TEST((second->first == errc::busy));
}

// Case 8: after the PF dies, every pending call fails with the real cause (end of stream, connection
// reset), and every later call fails at once with the same cause, sending nothing.
BOOST_AUTO_TEST_CASE(case_8_a_dead_pf_fails_every_call_at_once_with_the_real_cause) {
  for (const bool reset : {false, true}) {
    BOOST_TEST_CONTEXT((reset ? "connection reset" : "end of stream")) {
      message_fixture f;
      std::array<std::byte, 4> a{}, b{};
      outcome first, second;
      f.vf->async_read_block(block_id{1}, a, first.handler());
      f.vf->async_write_block(block_id{2}, b, second.handler());
      run_ready(f.io);
      BOOST_TEST(take_requests(f.pf_end).size() == 2u);
      if (reset) f.pf_end.reset();
      else f.pf_end.close();
      run_ready(f.io);
      const boost::system::error_code cause =
          reset ? boost::system::error_code(boost::asio::error::connection_reset) : boost::system::error_code(boost::asio::error::eof);
      BOOST_TEST(first.calls == 1);
      BOOST_TEST(second.calls == 1);
      BOOST_TEST((first.ec == cause));
      BOOST_TEST((second.ec == cause));
      BOOST_TEST((f.vf->failure() == cause));
      // Later calls: at once (no virtual time passes), the same cause, nothing written.
      const std::size_t written = f.vf_end.written().size();
      outcome later;
      f.vf->async_read_block(block_id{1}, a, later.handler());
      std::optional<boost::system::error_code> wait_error;
      f.vf->async_wait_invalidate([&](boost::system::error_code ec, block_mask) { wait_error = ec; });
      run_ready(f.io);
      BOOST_TEST(later.calls == 1);
      BOOST_TEST((later.ec == cause));
      BOOST_REQUIRE(wait_error.has_value());
      BOOST_TEST((*wait_error == cause));
      boost::system::error_code sync_error;
      BOOST_TEST(f.vf->read_block(block_id{1}, a, sync_error) == 0u);
      BOOST_TEST((sync_error == cause));
      BOOST_TEST(f.vf_end.written().size() == written);
      BOOST_TEST(f.clock.now() == 0u);
    }
  }
}

// A stream cut in the middle of a frame is truncated_message, not a clean end.
BOOST_AUTO_TEST_CASE(case_12_a_stream_cut_mid_frame_is_truncated_message) {
  message_fixture f;
  std::array<std::byte, 4> a{};
  outcome read;
  const std::uint64_t id = f.read_one(a, read);
  std::array<std::byte, hyperv::max_frame_size> frame{};
  auto size = hyperv::encode_read_response_frame(hyperv::read_response{id, ntstatus::success, a}, frame);
  BOOST_REQUIRE(size.has_value());
  send(f.pf_end, std::span<const std::byte>(frame).first(*size - 3));
  f.pf_end.close();
  run_ready(f.io);
  BOOST_TEST(read.calls == 1);
  BOOST_TEST((read.ec == errc::truncated_message));
}

// Case 12, VF half: garbage that breaks the framing is a violation: the VF closes the stream.
BOOST_AUTO_TEST_CASE(case_12_a_framing_violation_closes_the_stream) {
  message_fixture f;
  std::array<std::byte, 4> a{};
  outcome read;
  (void)f.read_one(a, read);
  const std::array<std::byte, 8> garbage{std::byte{0xFF}, std::byte{0xFF}, std::byte{0xFF}, std::byte{0x7F}};
  send(f.pf_end, garbage);
  run_ready(f.io);
  BOOST_TEST((read.ec == errc::protocol_violation));
  // Closed by the VF: the PF's next read sees the end of the stream.
  boost::system::error_code ec;
  std::array<std::byte, 4> probe{};
  (void)f.pf_end.read_some(boost::asio::buffer(probe), ec);
  BOOST_TEST((ec == boost::asio::error::eof));
}

// Case 9: close() leaves nothing armed: run() returns at once, no virtual timer remains.
BOOST_AUTO_TEST_CASE(case_9_close_leaves_no_timer_armed) {
  message_fixture f;
  std::array<std::byte, 4> a{};
  outcome read;
  f.vf->async_read_block(block_id{1}, a, read.handler());
  run_ready(f.io);
  BOOST_TEST(f.clock.armed() == 1u);  // the deadline
  f.vf->close();
  f.io.restart();
  f.io.run();  // returns: nothing of the endpoint is left on the io_context
  BOOST_TEST(f.clock.armed() == 0u);
  BOOST_TEST((read.ec == boost::asio::error::operation_aborted));
  outcome after;
  f.vf->async_read_block(block_id{1}, a, after.handler());
  f.io.restart();
  f.io.run();
  BOOST_TEST((after.ec == boost::asio::error::bad_descriptor));

  // Binding 1: after close(), nothing armed either, also with a watcher pending.
  dead_pf_window w(2);
  manual_timing clock;
  vf_endpoint vf(w.space, window, vf_mailbox_options{}, clock);
  std::optional<boost::system::error_code> waited;
  vf.async_wait_invalidate([&](boost::system::error_code ec, block_mask) { waited = ec; });
  run_ready(w.io);
  BOOST_TEST(clock.armed() == 1u);
  vf.close();
  w.io.restart();
  w.io.run();
  BOOST_TEST(clock.armed() == 0u);
  BOOST_REQUIRE(waited.has_value());
  BOOST_TEST((*waited == boost::asio::error::operation_aborted));
}

// A PF silent for longer than the deadline, then sending everything at once: the operations time out on
// time, the late answers are dropped, the invalidation is latched, and the endpoint keeps working.
BOOST_AUTO_TEST_CASE(a_silent_peer_then_everything_at_once) {
  message_fixture f(2ms);
  std::array<std::array<std::byte, 4>, 3> buffers{};
  std::array<outcome, 3> results;
  for (std::size_t i = 0; i < 3; ++i) f.vf->async_read_block(block_id{1}, buffers[i], results[i].handler());
  run_ready(f.io);
  const auto requests = take_requests(f.pf_end);
  BOOST_REQUIRE(requests.size() == 3u);
  run_until(f.io, f.clock, [&] { return results[2].done; }, 10'000'000);
  for (const auto& r : results) BOOST_TEST((r.ec == errc::timeout));
  BOOST_TEST(f.clock.now() == 2'000'000u);
  const std::array<std::byte, 4> late{std::byte{9}, std::byte{9}, std::byte{9}, std::byte{9}};
  for (const auto& r : requests) answer_read(f.pf_end, r.id, late);
  send_invalidate(f.pf_end, 0b1);
  std::optional<block_mask> invalidated;
  f.vf->async_wait_invalidate([&](boost::system::error_code, block_mask m) { invalidated = m; });
  run_ready(f.io);
  for (const auto& b : buffers) BOOST_TEST(b == (std::array<std::byte, 4>{}));  // never written after the timeout
  BOOST_TEST(f.vf->engine().counters().dropped_unknown_id == 3u);
  BOOST_REQUIRE(invalidated.has_value());
  BOOST_TEST(invalidated->bits() == 1u);
  outcome again;
  std::array<std::byte, 4> fresh{};
  f.vf->async_read_block(block_id{1}, fresh, again.handler());
  run_ready(f.io);
  const auto next = take_requests(f.pf_end);
  BOOST_REQUIRE(next.size() == 1u);
  answer_read(f.pf_end, next[0].id, late);
  run_ready(f.io);
  BOOST_TEST(!again.ec);
  BOOST_TEST(fresh == late);
  f.vf->close();
  run_ready(f.io);
}

// A VF destroyed with operations pending, on both bindings: every handler runs once with vf_removed, and
// I/O still queued on the io_context touches nothing of the dead endpoint (ASan).
BOOST_AUTO_TEST_CASE(a_vf_destroyed_with_operations_pending) {
  message_fixture f;
  std::array<std::byte, 4> a{}, b{};
  outcome read, write;
  std::optional<boost::system::error_code> waited;
  f.vf->async_read_block(block_id{1}, a, read.handler());
  f.vf->async_write_block(block_id{1}, b, write.handler());
  f.vf->async_wait_invalidate([&](boost::system::error_code ec, block_mask) { waited = ec; });
  run_ready(f.io);  // the request frames are written, a read is pending on the stream
  f.vf.reset();
  const auto requests = take_requests(f.pf_end);
  for (const auto& r : requests) answer_read(f.pf_end, r.id, a);  // arrives for nobody
  run_ready(f.io);
  BOOST_TEST(read.calls == 1);
  BOOST_TEST(write.calls == 1);
  BOOST_TEST((read.ec == errc::vf_removed));
  BOOST_TEST((write.ec == errc::vf_removed));
  BOOST_REQUIRE(waited.has_value());
  BOOST_TEST((*waited == errc::vf_removed));

  // Binding 1 over a transport whose accesses complete later (the fault-injecting wrapper: asynchronous).
  boost::asio::io_context io;
  memory_config_space space(io, 4096);
  auto pf = make_pf();
  const std::size_t at = *pf->attach_mailbox(0, space);
  fault_injecting_transport<memory_config_space&> faulty(space);
  auto mailbox_vf = std::make_unique<vf_endpoint<fault_injecting_transport<memory_config_space&>, manual_timing>>(
      faulty, at, vf_mailbox_options{}, manual_timing{});
  std::array<std::byte, 6> mac{};
  outcome mailbox_read;
  mailbox_vf->async_read_block(example::mac_block::id, mac, mailbox_read.handler());
  io.poll_one();
  io.poll_one();  // an access is now in flight on the executor
  mailbox_vf.reset();
  run_ready(io);
  BOOST_TEST(mailbox_read.calls == 1);
  BOOST_TEST((mailbox_read.ec == errc::vf_removed));
}

// A VF destroyed by code running on its own executor (a handler, a coroutine): the pending handlers run
// after the destructor returned, never inside it, where a handler that starts the next operation or
// reads the endpoint would touch an object half destroyed. remove() already posted them; destruction
// dispatched them, which runs them inline on the executor's thread. Both bindings.
BOOST_AUTO_TEST_CASE(a_vf_destroyed_on_its_executor_runs_no_handler_inside_its_destructor) {
  message_fixture f;
  std::array<std::byte, 4> a{};
  bool destroyed = false;
  std::optional<bool> read_after_destructor, wait_after_destructor;
  f.vf->async_read_block(block_id{1}, a, [&](boost::system::error_code ec, std::size_t) {
    BOOST_TEST((ec == errc::vf_removed));
    read_after_destructor = destroyed;
  });
  f.vf->async_wait_invalidate([&](boost::system::error_code ec, block_mask) {
    BOOST_TEST((ec == errc::vf_removed));
    wait_after_destructor = destroyed;
  });
  run_ready(f.io);
  BOOST_REQUIRE(!read_after_destructor.has_value());
  boost::asio::post(f.io, [&] {
    f.vf.reset();
    destroyed = true;
  });
  run_ready(f.io);
  BOOST_REQUIRE(read_after_destructor.has_value());
  BOOST_TEST(*read_after_destructor);
  BOOST_REQUIRE(wait_after_destructor.has_value());
  BOOST_TEST(*wait_after_destructor);

  // Binding 1, a read whose config access is in flight on the executor.
  boost::asio::io_context io;
  memory_config_space space(io, 4096);
  auto pf = make_pf();
  const std::size_t at = *pf->attach_mailbox(0, space);
  fault_injecting_transport<memory_config_space&> faulty(space);
  auto mailbox_vf = std::make_unique<vf_endpoint<fault_injecting_transport<memory_config_space&>, manual_timing>>(
      faulty, at, vf_mailbox_options{}, manual_timing{});
  std::array<std::byte, 6> mac{};
  bool mailbox_destroyed = false;
  std::optional<bool> mailbox_read_after_destructor;
  mailbox_vf->async_read_block(example::mac_block::id, mac, [&](boost::system::error_code ec, std::size_t) {
    BOOST_TEST((ec == errc::vf_removed));
    mailbox_read_after_destructor = mailbox_destroyed;
  });
  io.poll_one();
  boost::asio::post(io, [&] {
    mailbox_vf.reset();
    mailbox_destroyed = true;
  });
  run_ready(io);
  BOOST_REQUIRE(mailbox_read_after_destructor.has_value());
  BOOST_TEST(*mailbox_read_after_destructor);
}

// A VF destroyed with a read and a wait pending whose handlers have cancellation slots: the completions are
// posted, and a cancellation emitted before they run (the other branch of a parallel group, a timer that
// wins) reached into the destroyed endpoint (ASan: heap-use-after-free). The cancellation handlers see the
// endpoint gone; each handler still runs once, with vf_removed.
BOOST_AUTO_TEST_CASE(a_cancellation_after_the_vf_was_destroyed_reaches_nothing_of_it) {
  dead_pf_window f(3);  // nobody answers: the read stays pending
  boost::asio::io_context& io = f.io;
  auto vf = std::make_unique<vf_endpoint<memory_config_space, manual_timing>>(f.space, window, vf_mailbox_options{},
                                                                              manual_timing{});
  boost::asio::cancellation_signal read_signal, wait_signal;
  std::array<std::byte, 4> buffer{};
  std::vector<boost::system::error_code> read_calls, wait_calls;
  vf->async_read_block(block_id{1}, buffer, boost::asio::bind_cancellation_slot(read_signal.slot(),
      [&](boost::system::error_code ec, std::size_t) { read_calls.push_back(ec); }));
  vf->async_wait_invalidate(boost::asio::bind_cancellation_slot(wait_signal.slot(),
      [&](boost::system::error_code ec, block_mask) { wait_calls.push_back(ec); }));
  run_ready(io);
  BOOST_REQUIRE(read_calls.empty());
  BOOST_REQUIRE(wait_calls.empty());
  vf.reset();
  read_signal.emit(boost::asio::cancellation_type::terminal);
  wait_signal.emit(boost::asio::cancellation_type::terminal);
  run_ready(io);
  BOOST_REQUIRE(read_calls.size() == 1u);
  BOOST_TEST((read_calls[0] == errc::vf_removed));
  BOOST_REQUIRE(wait_calls.size() == 1u);
  BOOST_TEST((wait_calls[0] == errc::vf_removed));
}

// The same after an operation was already completed and its completion posted (by remove(), close() or
// its own cancellation), then the endpoint destroyed before that completion ran: its slot still held the
// endpoint's cancellation handler, which destruction did not know of, and an emit reached the freed
// endpoint (ASan: heap-use-after-free). Each handler runs once, with what completed it.
BOOST_AUTO_TEST_CASE(a_cancellation_after_a_completed_operations_vf_was_destroyed_reaches_nothing_of_it) {
  struct case_t {
    const char* what;
    std::function<void(vf_endpoint<memory_config_space, manual_timing>&, boost::asio::cancellation_signal&)> complete;
    boost::system::error_code expected;
  };
  const std::vector<case_t> cases{
      {"remove()", [](auto& vf, auto&) { vf.remove(); }, make_error_code(errc::vf_removed)},
      {"close()", [](auto& vf, auto&) { vf.close(); }, boost::asio::error::operation_aborted},
      {"its own cancellation", [](auto&, auto& signal) { signal.emit(boost::asio::cancellation_type::terminal); },
       make_error_code(errc::cancelled)},
  };
  for (const case_t& c : cases) {
    for (const bool wait : {false, true}) {
      BOOST_TEST_CONTEXT(c.what << (wait ? ", a wait" : ", a read")) {
        dead_pf_window f(3);  // nobody answers: the read stays pending
        auto vf = std::make_unique<vf_endpoint<memory_config_space, manual_timing>>(f.space, window, vf_mailbox_options{},
                                                                                  manual_timing{});
        boost::asio::cancellation_signal signal;
        std::array<std::byte, 4> buffer{};
        std::vector<boost::system::error_code> calls;
        if (wait)
          vf->async_wait_invalidate(boost::asio::bind_cancellation_slot(signal.slot(), [&](boost::system::error_code ec, block_mask) {
            calls.push_back(ec);
          }));
        else
          vf->async_read_block(block_id{1}, buffer, boost::asio::bind_cancellation_slot(signal.slot(), [&](boost::system::error_code ec, std::size_t) {
            calls.push_back(ec);
          }));
        run_ready(f.io);
        BOOST_REQUIRE(calls.empty());
        c.complete(*vf, signal);
        vf.reset();
        signal.emit(boost::asio::cancellation_type::terminal);
        run_ready(f.io);
        BOOST_REQUIRE(calls.size() == 1u);
        BOOST_TEST((calls[0] == c.expected));
      }
    }
  }
}

// A wait completed by remove() (its completion posted, its slot still armed), then a new wait: the first
// wait's owner giving up (an emit on its slot) cancelled the second, an operation it was never bound to.
// The second wait gets the invalidation raised after.
BOOST_AUTO_TEST_CASE(a_completed_waits_cancellation_does_not_cancel_a_later_wait) {
  boost::asio::io_context io;
  memory_config_space space(io, 4096);
  auto pf = make_pf();
  const std::size_t at = *pf->attach_mailbox(0, space);
  manual_timing clock;
  vf_endpoint<memory_config_space, manual_timing> vf(space, at, vf_mailbox_options{}, clock);
  boost::asio::cancellation_signal first_signal;
  std::vector<boost::system::error_code> first, second;
  block_mask delivered{};
  vf.async_wait_invalidate(boost::asio::bind_cancellation_slot(first_signal.slot(), [&](boost::system::error_code ec, block_mask) {
    first.push_back(ec);
  }));
  run_ready(io);
  vf.remove();
  vf.async_wait_invalidate([&](boost::system::error_code ec, block_mask m) {
    second.push_back(ec);
    delivered = m;
  });
  first_signal.emit(boost::asio::cancellation_type::terminal);
  run_ready(io);
  BOOST_REQUIRE(first.size() == 1u);
  BOOST_TEST((first[0] == errc::vf_removed));
  BOOST_TEST(second.empty());
  BOOST_REQUIRE(pf->invalidate(0, block_mask{0b100}) == boost::system::error_code{});
  run_until(io, clock, [&] { return !second.empty(); }, 1'000'000'000);  // the watch looks each watch interval
  BOOST_REQUIRE(second.size() == 1u);
  BOOST_TEST(!second[0]);
  BOOST_TEST(delivered.bits() == 0b100u);
}

// Binding 2: an endpoint destroyed with its background read pending on the stream left that read there.
// On a stream read without a readiness wait (test_stream, an SSL stream), a second endpoint made on the
// same stream started a second read, and the dead endpoint's read took the PF's answer and dropped it:
// the second endpoint's read timed out. Destruction cancels the read.
BOOST_AUTO_TEST_CASE(a_destroyed_message_endpoint_leaves_no_read_on_its_stream) {
  message_fixture f;
  std::array<std::byte, 4> a{};
  outcome first;
  const std::uint64_t id = f.read_one(a, first);
  answer_read(f.pf_end, id, std::vector<std::byte>(4, std::byte{0x11}));
  run_ready(f.io);
  BOOST_REQUIRE(first.done);
  BOOST_TEST(f.vf_end.pending_reads() == 1u);  // the endpoint keeps reading: invalidations are latched as they come
  f.vf.reset();
  run_ready(f.io);
  BOOST_TEST(f.vf_end.pending_reads() == 0u);
  f.vf.emplace(f.vf_end, own_slot, vf_message_options{.default_timeout = 1s, .negotiate = false}, f.clock);
  outcome second;
  const std::uint64_t id2 = f.read_one(a, second);
  answer_read(f.pf_end, id2, std::vector<std::byte>(4, std::byte{0x22}));
  run_ready(f.io);
  BOOST_REQUIRE(second.done);
  BOOST_TEST(!second.ec);
  BOOST_TEST((a == std::array<std::byte, 4>{std::byte{0x22}, std::byte{0x22}, std::byte{0x22}, std::byte{0x22}}));
}

// The same destruction while the endpoint's own frame is half sent (the PF's buffer is full): a stream
// cancels everything pending on it, so cancelling the read then cut the frame, and the PF's framing broke
// for the next endpoint on the stream. The read is left alone while a send is in progress: the frame goes
// out whole and the next endpoint's frame after it.
BOOST_AUTO_TEST_CASE(a_message_endpoint_destroyed_mid_send_does_not_cut_its_frame) {
  message_fixture f;
  f.vf_end.set_unread_limit(100);  // the PF's buffer: 100 bytes, then the write waits
  std::array<std::byte, 128> data{};
  data.fill(std::byte{0xAB});
  outcome first;
  f.vf->async_write_block(block_id{3}, data, first.handler());
  run_ready(f.io);
  BOOST_REQUIRE(f.vf_end.pending_writes() == 1u);
  f.vf.reset();
  run_ready(f.io);
  f.vf_end.set_unread_limit(test_stream::unlimited);
  run_ready(f.io);
  f.vf.emplace(f.vf_end, own_slot, vf_message_options{.default_timeout = 1s, .negotiate = false}, f.clock);
  outcome second;
  f.vf->async_write_block(block_id{4}, data, second.handler());
  run_ready(f.io);
  const auto requests = take_requests(f.pf_end);  // every frame whole (checked there)
  BOOST_REQUIRE(requests.size() == 2u);
  BOOST_TEST(requests[0].block == 3u);
  BOOST_TEST(requests[1].block == 4u);
  BOOST_TEST(!f.vf->failure());
}

// Case 15: a VF endpoint destroyed while it waits on a shared-memory doorbell, then the io_context run
// again: the wait's completion finds its cancellation slot alive and the endpoint gone (ASan).
BOOST_AUTO_TEST_CASE(case_15_destroyed_while_waiting_on_a_shared_memory_doorbell) {
  boost::asio::io_context io;
  auto device = shm_config_space::create_anonymous(io.get_executor(), 4096);
  auto driver = device.view(io.get_executor(), shm_role::driver);
  auto pf = make_pf();
  const auto at = pf->attach_mailbox(0, device);
  BOOST_REQUIRE(at.has_value());
  for (int round = 0; round < 3; ++round) {
    auto vf = std::make_unique<vf_endpoint<shm_config_space, manual_timing>>(driver, *at, vf_mailbox_options{},
                                                                             manual_timing{});
    std::optional<boost::system::error_code> waited;
    vf->async_wait_invalidate([&](boost::system::error_code ec, block_mask) { waited = ec; });
    for (int i = 0; i < 10 && io.poll_one() != 0; ++i) {
    }
    vf.reset();
    run_ready(io);
    BOOST_REQUIRE(waited.has_value());
    BOOST_TEST((*waited == errc::vf_removed));
  }
  device.ring_doorbell(shm_doorbell::to_driver);
  run_ready(io);
}

// An io_context stopped in the middle of an exchange and restarted: the operation completes normally.
BOOST_AUTO_TEST_CASE(an_io_context_stopped_and_restarted_mid_operation) {
  message_fixture f;
  std::array<std::byte, 4> a{};
  outcome read;
  f.vf->async_read_block(block_id{1}, a, read.handler());
  f.io.run_one();
  f.io.stop();
  f.io.run();  // stopped: runs nothing
  const auto requests = take_requests(f.pf_end);
  BOOST_REQUIRE(requests.size() <= 1u);
  f.io.restart();
  run_ready(f.io);
  auto all = requests;
  for (const auto& r : take_requests(f.pf_end)) all.push_back(r);
  BOOST_REQUIRE(all.size() == 1u);
  const std::array<std::byte, 4> data{std::byte{5}, std::byte{6}, std::byte{7}, std::byte{8}};
  answer_read(f.pf_end, all[0].id, data);
  f.io.stop();
  f.io.restart();
  run_ready(f.io);
  BOOST_TEST(read.calls == 1);
  BOOST_TEST(!read.ec);
  BOOST_TEST(a == data);
  f.vf->close();
  run_ready(f.io);
}

// Fail at every step, binding 2: a typed read and a typed write against a real PF over the test stream,
// with the VF's Nth stream operation failing. Each run ends cleanly: each operation completes once, with
// success or the injected error (passed through), and afterwards the endpoint either works or fails
// everything at once with that same error.
BOOST_AUTO_TEST_CASE(fail_at_every_step_of_a_read_and_a_write) {
  const boost::system::error_code injected = boost::asio::error::connection_reset;
  for (std::size_t n = 0;; ++n) {
    boost::asio::io_context io;
    manual_timing clock;
    auto [vf_end, pf_end] = test_stream::make_pair(io.get_executor());
    vf_end.set_read_chunk(7);
    pf_endpoint<2> pf;
    BOOST_REQUIRE(!pf.register_vf(0, 0x0101));
    BOOST_REQUIRE(!pf.define<example::vf_config_block>(0, {1, example::vf_flags::link_up, 1500, 0, 4}));
    std::optional<boost::system::error_code> served;
    pf.async_serve(0, own_slot, pf_end, [&](boost::system::error_code ec) { served = ec; });
    vf_end.fail_at(n, injected);
    std::optional<message_vf> vf;
    vf.emplace(vf_end, own_slot, vf_message_options{}, clock);
    int read_calls = 0, write_calls = 0;
    boost::system::error_code read_ec, write_ec;
    example::vf_config value{};
    vf->async_read(example::vf_config_block{}, [&](boost::system::error_code ec, example::vf_config v) {
      ++read_calls;
      read_ec = ec;
      value = v;
    });
    vf->async_write(example::vf_config_block{}, example::vf_config{1, example::vf_flags::link_up, 9000, 0, 4},
                    [&](boost::system::error_code ec, std::size_t) {
                      ++write_calls;
                      write_ec = ec;
                    });
    run_until(io, clock, [&] { return read_calls != 0 && write_calls != 0; }, 5'000'000'000);
    const bool faulted = vf_end.fault_triggered();
    BOOST_TEST_CONTEXT("failing stream operation " << n) {
      BOOST_TEST(read_calls == 1);
      BOOST_TEST(write_calls == 1);
      BOOST_TEST((!read_ec || read_ec == injected));
      BOOST_TEST((!write_ec || write_ec == injected));
      if (!read_ec) BOOST_TEST(value.mtu == 1500u);
      if (faulted) {
        BOOST_TEST((vf->failure() == injected));
        outcome later;
        std::array<std::byte, 4> b{};
        vf->async_read_block(block_id{1}, b, later.handler());
        run_ready(io);
        BOOST_TEST((later.ec == injected));
      }
    }
    vf->close();
    vf.reset();
    run_ready(io);
    if (!faulted) break;
    BOOST_REQUIRE(n < 64u);
  }
}

// Case 11, the VF's half: a PF whose shared-memory space ends (its last device-role view is gone, as when
// its process exits) fails the VF's pending operation with peer_gone at once, not at its deadline, and
// every later call fails at once with it. No virtual time passes.
BOOST_AUTO_TEST_CASE(case_11_a_vf_tells_a_dead_pf_from_a_slow_one) {
  boost::asio::io_context io;
  std::optional<shm_config_space> device(shm_config_space::create_anonymous(io.get_executor(), 4096));
  auto driver = device->view(io.get_executor(), shm_role::driver);
  auto pf = make_pf();
  const auto at = pf->attach_mailbox(0, *device);
  BOOST_REQUIRE(at.has_value());
  manual_timing clock;
  vf_endpoint vf(driver, *at, vf_mailbox_options{}, clock);
  std::array<std::byte, 6> mac{};
  outcome read;
  vf.async_read_block(example::mac_block::id, mac, read.handler());  // nobody serves: the PF is slow
  run_ready(io);
  BOOST_TEST(!read.done);
  BOOST_TEST(driver.peer_alive());
  pf.reset();
  device.reset();  // the PF's space ends
  BOOST_TEST(!driver.peer_alive());
  for (int i = 0; i < 1000 && !read.done; ++i) io.run_one_for(std::chrono::milliseconds(10));
  BOOST_TEST(read.calls == 1);
  BOOST_TEST((read.ec == errc::peer_gone));
  BOOST_TEST(clock.now() == 0u);
  outcome later;
  vf.async_read_block(example::mac_block::id, mac, later.handler());
  run_ready(io);
  BOOST_TEST((later.ec == errc::peer_gone));
  boost::system::error_code ec;
  BOOST_TEST(vf.read_block(example::mac_block::id, mac, ec) == 0u);
  BOOST_TEST((ec == errc::peer_gone));
}

// A PF that answered one block request STATUS_NO_SUCH_DEVICE failed it with peer_gone, the error the
// endpoint gives once it knows the PF dead, and the facades over the endpoint took that one answer for the
// device gone. Likewise STATUS_IO_TIMEOUT, STATUS_CANCELLED, STATUS_DEVICE_NOT_READY and
// STATUS_REVISION_MISMATCH read as the caller's deadline, the caller's cancellation, the endpoint's slots
// all taken and a failed negotiation. On both bindings the request fails with the PF's word for it
// (peer_no_such_device, ...), and nothing else of the endpoint ends.
BOOST_AUTO_TEST_CASE(a_pf_answering_no_such_device_fails_that_request_and_ends_no_other_wait) {
  for (const auto& [status, error] : pf_answered_statuses) {
    BOOST_TEST_CONTEXT("status 0x" << std::hex << static_cast<std::uint32_t>(status) << ", binding 1") {
      boost::asio::io_context io;
      manual_timing clock;
      memory_config_space space{io, 4096};
      pf_endpoint<2> pf;
      define_refusing_blocks(pf, status);
      const auto at = pf.attach_mailbox(0, space);
      BOOST_REQUIRE(at.has_value());
      vf_endpoint<memory_config_space, manual_timing> vf(space, *at, vf_mailbox_options{}, clock);
      one_answer_ends_one_request(io, clock, vf, pf, status, error);
      vf.close();
      run_ready(io);
    }
    BOOST_TEST_CONTEXT("status 0x" << std::hex << static_cast<std::uint32_t>(status) << ", binding 2") {
      boost::asio::io_context io;
      manual_timing clock;
      auto [vf_end, pf_end] = test_stream::make_pair(io.get_executor());
      pf_endpoint<2> pf;
      define_refusing_blocks(pf, status);
      pf.async_serve(0, own_slot, pf_end, pf_stream_options<manual_timing>{5s, clock, {}}, [](auto) {});
      message_vf vf(vf_end, own_slot, vf_message_options{}, clock);
      one_answer_ends_one_request(io, clock, vf, pf, status, error);
      vf.close();
      run_ready(io);
    }
  }
}

// Found by the error-path audit: a PF that failed a binding-2 read or write with a success-class status
// other than 0 (STATUS_PENDING, an informational 0x4xxxxxxx) had it handed on as the outcome: the
// operation failed with device_error, nothing copied, but its pf_status_report and to_ntstatus said
// 0x103, the IOCTL completed with IoStatus.Status STATUS_PENDING and ReadVfConfigBlock returned it, all of
// which NT_SUCCESS accepts: a ported driver took the unfilled buffer as read. Now the operation reports its
// own status, STATUS_UNSUCCESSFUL, and the PF's status only when it is an error or a warning.
BOOST_AUTO_TEST_CASE(a_pf_failing_a_request_with_a_success_class_status_reports_a_failure_status) {
  const auto frame = [](const vpci::test::bytes& packet) {
    vpci::test::bytes out(4);
    le::store_u32(out.data(), static_cast<std::uint32_t>(packet.size()));
    out.insert(out.end(), packet.begin(), packet.end());
    return out;
  };
  for (const std::uint32_t status : {0x00000103u /* STATUS_PENDING */, 0x40000000u /* informational */}) {
    BOOST_TEST_CONTEXT("status 0x" << std::hex << status) {
      message_fixture f;
      // The endpoint's own forms: the read (answered with data, which is not taken) and the write.
      std::array<std::byte, 6> buffer{};
      buffer.fill(std::byte{0xEE});
      ntstatus read_status = ntstatus::pending;
      outcome read;
      f.vf->async_read_block(block_id{1}, buffer, 1s, pf_status_report{&read_status}, read.handler());
      run_ready(f.io);
      auto requests = take_requests(f.pf_end);
      BOOST_REQUIRE(requests.size() == 1u);
      send(f.pf_end, frame(vpci::test::linux_packets::host_read_completion(requests[0].id, status, vpci::test::pattern(6, 0x61))));
      run_until(f.io, f.clock, [&] { return read.done; });
      BOOST_TEST(read.calls == 1);
      BOOST_TEST((read.ec == errc::device_error));
      BOOST_TEST(read.bytes == 0u);
      BOOST_TEST(vpci::test::octets(buffer) == std::vector<unsigned>(6, 0xEEu));
      BOOST_TEST(read_status == ntstatus::success);  // not the PF's: the failure is the operation's own
      BOOST_TEST(to_ntstatus(read.ec, read_status) == ntstatus::unsuccessful);

      const std::array<std::byte, 4> data{};
      ntstatus write_status = ntstatus::pending;
      outcome write;
      f.vf->async_write_block(block_id{1}, std::span<const std::byte>(data), 1s, pf_status_report{&write_status},
                              write.handler());
      run_ready(f.io);
      requests = take_requests(f.pf_end);
      BOOST_REQUIRE(requests.size() == 1u);
      send(f.pf_end, frame(vpci::test::linux_packets::host_completion(requests[0].id, status)));
      run_until(f.io, f.clock, [&] { return write.done; });
      BOOST_TEST((write.ec == errc::device_error));
      BOOST_TEST(write_status == ntstatus::success);
      BOOST_TEST(to_ntstatus(write.ec, write_status) == ntstatus::unsuccessful);

      // The IOCTL a Windows driver sends completes with a failure status, Information 0.
      {
        ioctl_device<message_vf> device(*f.vf);
        std::array<std::byte, 8> input{};
        le::store_u32(input.data(), 1);
        le::store_u32(input.data() + 4, 6);
        io_status_block iosb;
        io_event event;
        BOOST_REQUIRE(device.device_io_control(ioctl::read_block, input.data(), 8, buffer.data(), 6, iosb, event) ==
                      ntstatus::pending);
        run_ready(f.io);
        requests = take_requests(f.pf_end);
        BOOST_REQUIRE(requests.size() == 1u);
        send(f.pf_end, frame(vpci::test::linux_packets::host_read_completion(requests[0].id, status, vpci::test::pattern(6, 0x61))));
        run_until(f.io, f.clock, [&] { return event.signaled(); });
        BOOST_REQUIRE(event.signaled());
        BOOST_TEST(iosb.Status == ntstatus::unsuccessful);
        BOOST_TEST(iosb.Information == 0u);
        BOOST_TEST(vpci::test::octets(buffer) == std::vector<unsigned>(6, 0xEEu));
      }
      BOOST_TEST(!f.vf->failure());  // one answer fails one request
      f.vf->close();
      run_ready(f.io);
    }
  }
}

// Through linux_block_ops, with every slot of the endpoint taken and one more call waiting for a slot: a
// PF answering one call STATUS_NO_SUCH_DEVICE made that call return -ENODEV and ended the waiting call
// with -ENODEV too, without sending it (STATUS_IO_TIMEOUT returned -ETIMEDOUT, STATUS_REVISION_MISMATCH
// -EPROTO). Now that call returns -EIO, as Linux's hv_read_config_block answers every status but 0, and
// the waiting call goes out and succeeds. The endpoint's executor runs on the test thread (io.poll) while
// the callers sleep on theirs, so nothing waits on real time.
BOOST_AUTO_TEST_CASE(a_pf_answering_no_such_device_fails_that_linux_call_with_eio_and_ends_no_waiting_call) {
  using ops_type = linux_block_ops<message_vf>;
  constexpr std::size_t slots = ops_type::max_calls_in_flight;
  for (const auto& answered : pf_answered_statuses) {
    const ntstatus status = answered.first;
    BOOST_TEST_CONTEXT("status 0x" << std::hex << static_cast<std::uint32_t>(status)) {
      message_fixture f;
      ops_type ops(*f.vf);
      std::vector<std::array<std::byte, 6>> buffers(slots + 1);
      std::vector<unsigned int> bytes_returned(slots + 1, 0xDEAD);
      std::vector<std::future<int>> calls;
      // Whatever the checks find, every call ends (a late one -ENODEV) before its future is waited for.
      struct end_calls {
        message_fixture& f;
        std::vector<std::future<int>>& calls;
        ~end_calls() {
          f.vf->close();
          for (const auto& c : calls)
            while (c.valid() && c.wait_for(std::chrono::seconds(0)) != std::future_status::ready) {
              run_ready(f.io);
              std::this_thread::yield();
            }
        }
      } ending{f, calls};
      const auto call = [&](std::size_t i) {
        calls.push_back(std::async(std::launch::async, [&ops, &buffers, &bytes_returned, i] {
          return ops.read_cfg_blk(buffers[i].data(), 6, static_cast<unsigned int>(i + 1), &bytes_returned[i]);
        }));
      };
      for (std::size_t i = 0; i != slots; ++i) call(i);
      while (f.pf_end.available() < slots * hyperv::read_request_frame_size) {
        run_ready(f.io);
        std::this_thread::yield();
      }
      // Once nothing is left to run, every call so far has arrived (its request is on the wire) and nobody
      // else hands the executor work: the next handler it runs is the last call arriving.
      for (;;) {
        f.io.restart();
        if (f.io.poll() == 0) break;
      }
      call(slots);
      for (;;) {
        f.io.restart();
        if (f.io.poll() != 0) break;
        std::this_thread::yield();
      }
      run_ready(f.io);
      BOOST_TEST(f.pf_end.available() == slots * hyperv::read_request_frame_size);  // it waits for a slot
      const auto requests = take_requests(f.pf_end);
      BOOST_REQUIRE(requests.size() == slots);
      // Call i reads block i + 1; the callers' threads put their requests on the wire in any order.
      const std::size_t refused = requests[0].block - 1u;
      BOOST_REQUIRE(refused < slots);
      answer_read(f.pf_end, requests[0].id, {}, status);
      run_ready(f.io);
      BOOST_TEST(calls[refused].get() == -EIO);
      BOOST_TEST(bytes_returned[refused] == 0xDEADu);
      BOOST_TEST(!f.vf->failure());
      // The waiting call took the slot freed: it went out, and is answered as the others are.
      auto rest = take_requests(f.pf_end);
      BOOST_REQUIRE(rest.size() == 1u);
      BOOST_TEST(rest[0].block == static_cast<std::uint32_t>(slots + 1));
      rest.insert(rest.begin(), requests.begin() + 1, requests.end());
      const std::vector<std::byte> data(6, std::byte{0x5A});
      for (const request_seen& r : rest) answer_read(f.pf_end, r.id, data);
      run_ready(f.io);
      for (std::size_t i = 0; i != slots + 1; ++i) {
        if (i == refused) continue;
        BOOST_TEST_CONTEXT("call " << i) {
          BOOST_TEST(calls[i].get() == 0);
          BOOST_TEST(bytes_returned[i] == 6u);
        }
      }
    }
  }
}

// Found by the error-path audit: a PF that refused binding 2's version offer with a status other than
// STATUS_REVISION_MISMATCH (STATUS_ACCESS_DENIED, what vpci's PF answers a quarantined VF, or
// STATUS_UNSUCCESSFUL) made every linux_block_ops call return -ENODEV, "the device is gone", where the
// facade documents -EPROTO for no version agreed and Linux's hv_pci_protocol_negotiation fails with
// -EPROTO on any status but REVISION_MISMATCH. The endpoint now says its negotiation failed
// (negotiation_failure()), and the facade maps that to -EPROTO for the call waiting and every later one.
BOOST_AUTO_TEST_CASE(a_negotiation_refused_with_any_status_is_eproto_through_linux_block_ops) {
  for (const std::uint32_t refusal : {0xC0000022u /* ACCESS_DENIED */, 0xC0000001u /* UNSUCCESSFUL */}) {
    BOOST_TEST_CONTEXT("refusal 0x" << std::hex << refusal) {
      boost::asio::io_context io;
      manual_timing clock;
      auto ends = test_stream::make_pair(io.get_executor());
      message_vf vf(ends.first, own_slot, vf_message_options{.default_timeout = 1s}, clock);  // negotiates
      BOOST_TEST(!vf.negotiation_failure());
      {
        linux_block_ops<message_vf> ops(vf);
        std::array<std::byte, 6> buffer{};
        unsigned int returned = 0xDEAD;
        const auto read_on_another_thread = [&] {
          auto call = std::async(std::launch::async, [&] { return ops.read_cfg_blk(buffer.data(), 6, 1, &returned); });
          while (call.wait_for(0s) != std::future_status::ready) {
            if (ends.second.available() != 0) {  // the version offer: refused
              const auto offers = take_requests(ends.second);
              BOOST_REQUIRE(offers.size() == 1u);
              BOOST_TEST((offers[0].type == hyperv::message_type::query_protocol_version));
              auto reply = vpci::test::linux_packets::host_completion(offers[0].id, refusal);
              vpci::test::bytes frame(4);
              le::store_u32(frame.data(), static_cast<std::uint32_t>(reply.size()));
              frame.insert(frame.end(), reply.begin(), reply.end());
              send(ends.second, frame);
            }
            run_ready(io);
            std::this_thread::yield();
          }
          return call.get();
        };
        BOOST_TEST(read_on_another_thread() == -EPROTO);
        BOOST_TEST(returned == 0xDEADu);
        BOOST_TEST((vf.negotiation_failure() == to_errc(static_cast<ntstatus>(refusal))));
        BOOST_TEST(read_on_another_thread() == -EPROTO);  // for good, as Linux's probe failed
        BOOST_TEST(ends.second.available() == 0u);        // no second offer, no block request
      }
      vf.close();
      run_ready(io);
    }
  }
}

// After the PF died, a later call fails at once with the cause, but never inline from the initiating
// function (every handler runs from the executor).
BOOST_AUTO_TEST_CASE(a_call_on_a_dead_endpoint_never_completes_inline) {
  message_fixture f;
  std::array<std::byte, 4> a{};
  f.pf_end.close();
  run_ready(f.io);
  outcome first;
  f.vf->async_read_block(block_id{1}, a, first.handler());
  run_ready(f.io);
  BOOST_REQUIRE(first.calls == 1);  // the endpoint knows the stream ended
  outcome later;
  f.vf->async_read_block(block_id{1}, a, later.handler());
  BOOST_TEST(later.calls == 0);  // not inline
  run_ready(f.io);
  BOOST_TEST(later.calls == 1);
  BOOST_TEST((later.ec == first.ec));
  BOOST_TEST(static_cast<bool>(later.ec));
}


// The endpoint's failure is the first cause: a write the PF had not taken yet (its stream full) is cut
// when the VF closes the stream over a framing violation, and that write's operation_aborted must not
// replace protocol_violation as the failure every later call reports.
BOOST_AUTO_TEST_CASE(a_framing_violation_stays_the_failure_when_a_pending_write_is_cut) {
  message_fixture f;
  f.vf_end.set_unread_limit(0);  // the PF reads nothing: the VF's request stays unwritten
  std::array<std::byte, 4> a{};
  outcome read;
  f.vf->async_read_block(block_id{1}, a, read.handler());
  run_ready(f.io);
  BOOST_REQUIRE(f.vf_end.pending_writes() == 1u);
  const std::array<std::byte, 8> garbage{std::byte{0xFF}, std::byte{0xFF}, std::byte{0xFF}, std::byte{0x7F}};
  send(f.pf_end, garbage);
  run_ready(f.io);
  BOOST_TEST(f.vf_end.pending_writes() == 0u);
  BOOST_TEST(read.calls == 1);
  BOOST_TEST((read.ec == errc::protocol_violation));
  BOOST_TEST((f.vf->failure() == errc::protocol_violation));
  outcome later;
  f.vf->async_read_block(block_id{1}, a, later.handler());
  run_ready(f.io);
  BOOST_TEST(later.calls == 1);
  BOOST_TEST((later.ec == errc::protocol_violation));
}

// close() with a write still pending on a full stream: the write is cut (operation_aborted), and every
// later call still fails with bad_descriptor, as close() promises.
BOOST_AUTO_TEST_CASE(a_close_with_a_write_pending_still_fails_later_calls_with_bad_descriptor) {
  message_fixture f;
  f.vf_end.set_unread_limit(0);
  std::array<std::byte, 4> a{};
  outcome read;
  f.vf->async_read_block(block_id{1}, a, read.handler());
  run_ready(f.io);
  BOOST_REQUIRE(f.vf_end.pending_writes() == 1u);
  f.vf->close();
  run_ready(f.io);
  BOOST_TEST(read.calls == 1);
  BOOST_TEST((read.ec == boost::asio::error::operation_aborted));
  BOOST_TEST((f.vf->failure() == boost::asio::error::bad_descriptor));
  outcome later;
  f.vf->async_read_block(block_id{1}, a, later.handler());
  run_ready(f.io);
  BOOST_TEST(later.calls == 1);
  BOOST_TEST((later.ec == boost::asio::error::bad_descriptor));
}

BOOST_AUTO_TEST_SUITE_END()  // vf_hostile_peers_test
