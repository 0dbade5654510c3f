// Protocol-version negotiation on the VF side of binding 2, as pci-hyperv.c's hv_pci_protocol_negotiation
// probes (1.4, 1.3, 1.2, 1.1; STATUS_REVISION_MISMATCH continues, any other failure ends it, a deadline
// ends it): first the channel (engine::vf_message_channel, sans-I/O) against the answers a host sends
// (tests/linux_packets.hpp), every probe path; then the VF endpoint against pf_endpoint::async_serve over
// vpci::test_stream on virtual time. The PF session's own rules are in tests/pf_message_session_test.cpp.
#include <boost/test/unit_test.hpp>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include <boost/asio/io_context.hpp>

#include <vpci/asio/pf_endpoint.hpp>
#include <vpci/asio/timing.hpp>
#include <vpci/asio/vf_message_endpoint.hpp>
#include <vpci/engine/vf_message_channel.hpp>
#include <vpci/transport/test_stream.hpp>

#include "linux_packets.hpp"
#include "test_support.hpp"
#include "virtual_time.hpp"

BOOST_AUTO_TEST_SUITE(hyperv_negotiation_test)

using namespace vpci;
using namespace std::chrono_literals;
using vpci::test::bytes;
using vpci::test::octets;
using vpci::test::linux_packets::concat;
using vpci::test::linux_packets::host_completion;
using vpci::test::linux_packets::host_read_completion;
using vpci::test::linux_packets::linux_version_request;

namespace {

constexpr hyperv::wslot own_slot{2, 1};
constexpr std::uint32_t mismatch = 0xC0000059;
constexpr std::uint64_t second = 1'000'000'000;

using channel_type = engine::vf_message_channel<4>;
using action_kind = channel_type::message_action::kind;

// A packet with its stream-frame prefix.
bytes frame(const bytes& packet) {
  bytes out(4);
  le::store_u32(out.data(), static_cast<std::uint32_t>(packet.size()));
  return concat({out, packet});
}

// The answer a host like OpenVMM's VSP sends: pci_response and the version, 24 bytes.
bytes host_version_reply(std::uint64_t id, std::uint32_t status, std::uint32_t version) {
  bytes packet = host_completion(id, status);
  le::store_u32(packet.data() + 20, version);
  return packet;
}

// The bytes of the channel's next send (which must be one), reported as taken.
bytes take_send(channel_type& channel, std::uint64_t now) {
  const auto a = channel.step(now);
  BOOST_REQUIRE(a.what == action_kind::send);
  channel.on_sent();
  return bytes(a.bytes.begin(), a.bytes.end());
}

struct read_op {
  std::array<std::byte, 16> destination{};
  engine::vf_op_handle handle{};
};

// Starts a 16-byte read of block 3 with the given deadline.
read_op start_read(channel_type& channel, std::uint64_t deadline) {
  read_op op;
  auto started = channel.start_read(block_id{3}, op.destination, deadline);
  BOOST_REQUIRE(started.has_value());
  op.handle = *started;
  return op;
}

// The read request frame the channel sends for `op`.
bytes read_request_frame(const read_op& op) {
  bytes out(hyperv::read_request_frame_size);
  auto size = hyperv::encode_read_request_frame(op.handle.transaction_id, hyperv::read_request{block_id{3}, own_slot, 16}, out);
  BOOST_REQUIRE(size.has_value());
  return out;
}

void receive(channel_type& channel, const bytes& packet) { BOOST_REQUIRE(channel.on_received(frame(packet)) == no_error); }

}  // namespace

BOOST_AUTO_TEST_SUITE(vf_negotiation_channel)

// The first offer, 1.4, is accepted (here with a bare pci_response, as VMBus delivers it: 24 bytes):
// the read started before it waits, then goes out.
BOOST_AUTO_TEST_CASE(first_version_accepted) {
  channel_type channel{own_slot};
  auto op = start_read(channel, 5 * second);
  BOOST_TEST(octets(take_send(channel, 0)) == octets(frame(linux_version_request(1, 0x10004))));
  BOOST_TEST((channel.negotiation().state() == engine::vf_negotiation_state::awaiting));
  // Nothing more is sent before the answer: the read waits, with the offer's deadline the earliest.
  const auto waiting = channel.step(0);
  BOOST_TEST((waiting.what == action_kind::wait));
  BOOST_TEST(waiting.until == second);
  receive(channel, host_completion(1, 0));
  BOOST_TEST(channel.negotiated_version() == 0x10004u);
  BOOST_TEST((channel.negotiation().state() == engine::vf_negotiation_state::agreed));
  BOOST_TEST(octets(take_send(channel, 10)) == octets(read_request_frame(op)));
  receive(channel, host_read_completion(op.handle.transaction_id, 0, vpci::test::pattern(16, 0x40)));
  const auto done = channel.step(10);
  BOOST_REQUIRE(done.what == action_kind::complete);
  BOOST_TEST((done.done.error == no_error));
  BOOST_TEST(done.done.bytes == 16u);
  BOOST_TEST(octets(op.destination) == octets(vpci::test::pattern(16, 0x40)));
}

// STATUS_REVISION_MISMATCH continues the probe with the next lower version, a new transaction ID each;
// a host's 24-byte reply with a version field is accepted as the bare one is.
BOOST_AUTO_TEST_CASE(mismatch_then_accepted) {
  channel_type channel{own_slot};
  auto op = start_read(channel, 5 * second);
  BOOST_TEST(octets(take_send(channel, 0)) == octets(frame(linux_version_request(1, 0x10004))));
  receive(channel, host_version_reply(1, mismatch, 0x10002));
  BOOST_TEST(channel.negotiated_version() == 0u);
  BOOST_TEST(octets(take_send(channel, 7)) == octets(frame(linux_version_request(2, 0x10003))));
  BOOST_TEST(channel.step(7).until == 7 + second);  // each offer has its own deadline
  receive(channel, host_version_reply(2, mismatch, 0x10002));
  BOOST_TEST(octets(take_send(channel, 8)) == octets(frame(linux_version_request(3, 0x10002))));
  receive(channel, host_version_reply(3, 0, 0x10002));
  BOOST_TEST(channel.negotiated_version() == 0x10002u);
  BOOST_TEST(octets(take_send(channel, 9)) == octets(read_request_frame(op)));
}

// Every version refused: the pending read completes with revision_mismatch, nothing more is sent, and
// later operations fail at once with it.
BOOST_AUTO_TEST_CASE(all_versions_rejected) {
  channel_type channel{own_slot};
  auto op = start_read(channel, 5 * second);
  bytes sent;
  std::uint64_t id = 1;
  for (std::uint32_t version : hyperv::linux_protocol_versions) {
    const bytes offer = take_send(channel, 0);
    BOOST_TEST(octets(offer) == octets(frame(linux_version_request(id, version))));
    sent = concat({sent, offer});
    receive(channel, host_completion(id, mismatch));
    ++id;
  }
  BOOST_TEST(channel.negotiation().failed());
  BOOST_TEST((channel.negotiation().error() == errc::revision_mismatch));
  const auto done = channel.step(0);
  BOOST_REQUIRE(done.what == action_kind::complete);
  BOOST_TEST(done.done.handle == op.handle);
  BOOST_TEST((done.done.error == errc::revision_mismatch));
  BOOST_TEST(!done.done.transport_failure);
  BOOST_TEST((channel.step(0).what == action_kind::idle));  // the read's frame is never sent
  std::array<std::byte, 4> later{};
  BOOST_TEST((channel.start_read(block_id{1}, later, 5 * second).error() == errc::revision_mismatch));
  BOOST_TEST((channel.start_write(block_id{1}, later, 5 * second).error() == errc::revision_mismatch));
  BOOST_TEST(octets(op.destination) == std::vector<unsigned>(16, 0u));
  BOOST_TEST(channel.negotiated_version() == 0u);
}

// Any other failure ends the probe at once with that status's error; an informational status (non-negative
// as an s32) is an acceptance, as in hv_pci_protocol_negotiation.
BOOST_AUTO_TEST_CASE(other_failure_ends_the_probe) {
  struct expectation {
    std::uint32_t status;
    errc error;
  };
  for (const expectation& e : {expectation{0xC0000022, errc::access_denied}, expectation{0xC0000001, errc::device_error},
                               expectation{0xC0000123, errc::device_error}, expectation{0x80000005, errc::buffer_too_small}}) {
    BOOST_TEST_CONTEXT("status " << std::hex << e.status) {
      channel_type channel{own_slot};
      auto op = start_read(channel, 5 * second);
      (void)take_send(channel, 0);
      receive(channel, host_completion(1, e.status));
      BOOST_TEST((channel.negotiation().error() == e.error));
      const auto done = channel.step(0);
      BOOST_REQUIRE(done.what == action_kind::complete);
      BOOST_TEST(done.done.handle == op.handle);
      BOOST_TEST((done.done.error == e.error));
      BOOST_TEST((channel.step(0).what == action_kind::idle));  // no second offer
    }
  }
  channel_type channel{own_slot};
  (void)take_send(channel, 0);
  receive(channel, host_completion(1, 0x00000103));  // STATUS_PENDING
  BOOST_TEST(channel.negotiated_version() == 0x10004u);
}

// No answer by the offer's deadline ends negotiation with timeout; an operation whose own deadline is
// earlier times out on its own first, while negotiation goes on.
BOOST_AUTO_TEST_CASE(no_answer_by_the_deadline) {
  channel_type channel{own_slot, engine::vf_negotiation_options{true, 2 * second}};
  auto early = start_read(channel, second);
  auto late = start_read(channel, 5 * second);
  (void)take_send(channel, 0);
  BOOST_TEST(channel.step(0).until == second);
  const auto first = channel.step(second);
  BOOST_REQUIRE(first.what == action_kind::complete);
  BOOST_TEST(first.done.handle == early.handle);
  BOOST_TEST((first.done.error == errc::timeout));
  BOOST_TEST(!channel.negotiation().failed());
  const auto waiting = channel.step(second);
  BOOST_TEST((waiting.what == action_kind::wait));
  BOOST_TEST(waiting.until == 2 * second);
  const auto second_done = channel.step(2 * second);
  BOOST_REQUIRE(second_done.what == action_kind::complete);
  BOOST_TEST(second_done.done.handle == late.handle);
  BOOST_TEST((second_done.done.error == errc::timeout));
  BOOST_TEST((channel.negotiation().error() == errc::timeout));
  BOOST_TEST((channel.step(2 * second).what == action_kind::idle));
  std::array<std::byte, 4> later{};
  BOOST_TEST((channel.start_read(block_id{1}, later, 9 * second).error() == errc::timeout));
  // The answer arriving late changes nothing: dropped as a stale transaction ID.
  receive(channel, host_completion(1, 0));
  BOOST_TEST(channel.negotiated_version() == 0u);
  BOOST_TEST(channel.engine().counters().dropped_unknown_id == 1u);
}

// A timeout that would carry the offer's deadline past the end of the 64-bit clock is held at its end
// (never), as every deadline of the engines is: wrapped, it fell before `now` and the negotiation
// failed with timeout at once (a timeout of "forever", UINT64_MAX, late in the clock's range).
BOOST_AUTO_TEST_CASE(an_offer_deadline_past_the_end_of_the_clock_is_never) {
  const std::uint64_t now = engine::no_deadline - 1000;
  channel_type channel{own_slot, engine::vf_negotiation_options{true, ~std::uint64_t{0}}};
  auto read = start_read(channel, engine::no_deadline);
  (void)take_send(channel, now);
  BOOST_TEST(channel.negotiation().deadline() == engine::no_deadline - 1);
  const auto waiting = channel.step(now + 500);
  BOOST_TEST((waiting.what == action_kind::wait));
  BOOST_TEST(!channel.negotiation().failed());
  receive(channel, host_completion(1, 0));
  BOOST_TEST(channel.negotiated_version() == 0x10004u);
  BOOST_TEST(channel.engine().in_flight(read.handle));
}

// A version request arriving from the PF side is nothing a VF answers: dropped (hv_pci_onchannelcallback
// logs it as unimplemented), negotiation unaffected; likewise after agreement.
BOOST_AUTO_TEST_CASE(a_version_request_from_the_pf_side_is_dropped) {
  channel_type channel{own_slot};
  (void)take_send(channel, 0);
  receive(channel, linux_version_request(1, 0x10004));
  BOOST_TEST(channel.engine().counters().dropped_unexpected == 1u);
  BOOST_TEST((channel.negotiation().state() == engine::vf_negotiation_state::awaiting));
  receive(channel, host_completion(1, 0));
  receive(channel, linux_version_request(2, 0x10003));
  BOOST_TEST(channel.engine().counters().dropped_unexpected == 2u);
  BOOST_TEST(channel.negotiated_version() == 0x10004u);
  BOOST_TEST((channel.step(0).what == action_kind::idle));  // nothing sent in reply
}

// A second negotiation mid-stream, as the VF sees it: after agreement, answers to version requests it
// never sent (or sent before) are stale IDs, dropped; a late answer to an earlier offer during the probe
// too. Negotiation happens once per stream.
BOOST_AUTO_TEST_CASE(a_second_negotiation_mid_stream_is_ignored) {
  channel_type channel{own_slot};
  (void)take_send(channel, 0);
  receive(channel, host_completion(1, mismatch));
  (void)take_send(channel, 0);  // offers 1.3 with ID 2
  receive(channel, host_completion(1, 0));  // a late, second answer to the 1.4 offer
  BOOST_TEST(channel.negotiated_version() == 0u);
  BOOST_TEST(channel.engine().counters().dropped_unknown_id == 1u);
  receive(channel, host_completion(2, 0));
  BOOST_TEST(channel.negotiated_version() == 0x10003u);
  for (std::uint64_t id : {1u, 2u, 3u}) receive(channel, host_version_reply(id, mismatch, 0x10001));
  BOOST_TEST(channel.negotiated_version() == 0x10003u);
  BOOST_TEST(channel.engine().counters().dropped_unknown_id == 4u);
  BOOST_TEST((channel.step(0).what == action_kind::idle));
}

// An answer that does not decode as a version reply (a completion with no status) fails the negotiation
// as a protocol violation. (A longer one decodes: the Linux guest reads the status at any length.)
BOOST_AUTO_TEST_CASE(a_malformed_answer_is_a_protocol_violation) {
  channel_type channel{own_slot};
  auto op = start_read(channel, 5 * second);
  (void)take_send(channel, 0);
  bytes no_status(16);
  hyperv::vmbus::store_descriptor(hyperv::vmbus::make_descriptor(hyperv::vmbus::packet_completion, 16, 1), no_status.data());
  receive(channel, no_status);
  BOOST_TEST((channel.negotiation().error() == errc::protocol_violation));
  const auto done = channel.step(0);
  BOOST_REQUIRE(done.what == action_kind::complete);
  BOOST_TEST((done.done.error == errc::protocol_violation));
  BOOST_TEST(done.done.handle == op.handle);
}

// A PF answering a request before it was sent (a guessed transaction ID) cannot be answering it: the
// answer is dropped, the destination untouched, and the request goes out after agreement.
BOOST_AUTO_TEST_CASE(an_answer_to_a_request_not_yet_sent_is_dropped) {
  channel_type channel{own_slot};
  auto op = start_read(channel, 5 * second);
  (void)take_send(channel, 0);
  receive(channel, host_read_completion(op.handle.transaction_id, 0, vpci::test::pattern(16, 0xEE)));
  BOOST_TEST(channel.dropped_unsent_answers() == 1u);
  BOOST_TEST(octets(op.destination) == std::vector<unsigned>(16, 0u));
  BOOST_TEST(channel.is_unsent(op.handle));
  receive(channel, host_completion(1, 0));
  BOOST_TEST(octets(take_send(channel, 0)) == octets(read_request_frame(op)));
  receive(channel, host_read_completion(op.handle.transaction_id, 0, vpci::test::pattern(16, 0x11)));
  const auto done = channel.step(0);
  BOOST_REQUIRE(done.what == action_kind::complete);
  BOOST_TEST(octets(op.destination) == octets(vpci::test::pattern(16, 0x11)));
}

// An operation cancelled while it waits for negotiation is never sent.
BOOST_AUTO_TEST_CASE(cancelled_while_waiting_is_never_sent) {
  channel_type channel{own_slot};
  auto cancelled = start_read(channel, 5 * second);
  auto kept = start_read(channel, 5 * second);
  (void)take_send(channel, 0);
  BOOST_TEST(channel.cancel(cancelled.handle, engine::cancel_scope::without_effects));
  receive(channel, host_completion(1, 0));
  BOOST_TEST(octets(take_send(channel, 0)) == octets(read_request_frame(kept)));
}

// An operation whose deadline passes while it waits for negotiation completes with timeout, and its
// request is never sent (vf_message_channel.hpp push(): a completion drops its unsent frame). Sent after
// agreement, the PF would act on a request the caller was told had failed, and the frame left in the
// send queue would name its slot again once the slot is reused: the new operation's frame went out twice.
BOOST_AUTO_TEST_CASE(timed_out_while_waiting_is_never_sent) {
  channel_type channel{own_slot};
  auto expired = start_read(channel, second / 2);
  auto kept = start_read(channel, 5 * second);
  (void)take_send(channel, 0);  // the first offer, answered only after the first read's deadline
  const auto done = channel.step(second / 2);
  BOOST_REQUIRE(done.what == action_kind::complete);
  BOOST_TEST(done.done.handle == expired.handle);
  BOOST_TEST((done.done.error == errc::timeout));
  receive(channel, host_completion(1, 0));
  BOOST_TEST(octets(take_send(channel, second / 2)) == octets(read_request_frame(kept)));
}

// Negotiation off: the block request goes out at once, no version is known.
BOOST_AUTO_TEST_CASE(negotiation_off) {
  channel_type channel{own_slot, engine::vf_negotiation_options{false, second}};
  auto op = start_read(channel, 5 * second);
  BOOST_TEST(octets(take_send(channel, 0)) == octets(read_request_frame(op)));
  BOOST_TEST((channel.negotiation().state() == engine::vf_negotiation_state::disabled));
  BOOST_TEST(channel.negotiated_version() == 0u);
  receive(channel, host_completion(1, 0));  // an unsolicited version answer: a stale ID
  BOOST_TEST(channel.engine().counters().dropped_unknown_id == 1u);
}

// The stream gone during negotiation: the operations end as a transport failure, the negotiation is
// abandoned (no more offers, no deadline left armed); a removal (VF reset) does not end it.
BOOST_AUTO_TEST_CASE(the_stream_gone_during_negotiation) {
  channel_type channel{own_slot};
  auto removed = start_read(channel, 5 * second);
  (void)take_send(channel, 0);
  channel.remove(errc::vf_removed, false);
  auto done = channel.step(0);
  BOOST_REQUIRE(done.what == action_kind::complete);
  BOOST_TEST((done.done.error == errc::vf_removed));
  BOOST_TEST((channel.negotiation().state() == engine::vf_negotiation_state::awaiting));
  auto op = start_read(channel, 5 * second);
  channel.remove(errc::device_error, true);
  done = channel.step(0);
  BOOST_REQUIRE(done.what == action_kind::complete);
  BOOST_TEST(done.done.handle == op.handle);
  BOOST_TEST(done.done.transport_failure);
  BOOST_TEST(channel.negotiation().failed());
  BOOST_TEST((channel.step(0).what == action_kind::idle));
  BOOST_TEST(channel.next_deadline() == engine::no_deadline);
  (void)removed;
}

BOOST_AUTO_TEST_SUITE_END()

// The VF endpoint against pf_endpoint::async_serve over a test_stream, on virtual time.
BOOST_AUTO_TEST_SUITE(vf_negotiation_end_to_end)

namespace {

using message_vf = vf_message_endpoint<test_stream, manual_timing>;
using vpci::test::run_ready;
using vpci::test::run_until;


struct outcome {
  bool done = false;
  boost::system::error_code ec;
  std::size_t bytes = 0;
  auto handler() {
    return [this](boost::system::error_code e, std::size_t n) {
      done = true;
      ec = e;
      bytes = n;
    };
  }
};

// A PF serving VF 0 (a 6-byte block 1) on one end of a test stream, the VF endpoint on the other.
struct e2e {
  boost::asio::io_context io;
  manual_timing clock;
  std::pair<test_stream, test_stream> ends = test_stream::make_pair(io.get_executor());
  test_stream& vf_end = ends.first;
  test_stream& pf_end = ends.second;
  pf_endpoint<2> pf;
  std::optional<boost::system::error_code> served;
  std::optional<message_vf> vf;

  explicit e2e(engine::pf_negotiation negotiation = {}, vf_message_options options = {}, bool serve = true) {
    BOOST_REQUIRE(!pf.register_vf(0, 0x0101));
    BOOST_REQUIRE(!pf.define_block(0, block_id{1}, vpci::test::pattern(6, 0x61)));
    if (serve)
      pf.async_serve(0, own_slot, pf_end, pf_stream_options<manual_timing>{5s, clock, negotiation},
                     [this](boost::system::error_code ec) { served = ec; });
    vf.emplace(vf_end, own_slot, options, clock);
  }
  // What the VF wrote, as packets.
  std::vector<bytes> vf_packets() const {
    std::vector<bytes> out;
    const auto all = vf_end.written();
    hyperv::frame_decoder decoder;
    std::span<const std::byte> rest(all);
    while (!rest.empty()) {
      const auto step = decoder.feed(rest);
      BOOST_REQUIRE(step.error == no_error);
      rest = rest.subspan(step.consumed);
      if (!step.packet.empty()) out.emplace_back(step.packet.begin(), step.packet.end());
    }
    return out;
  }
};

}  // namespace

// Both sides by default: 1.4 is agreed before the first block request, whatever the first operation.
BOOST_AUTO_TEST_CASE(default_endpoints_agree_1_4_first) {
  e2e f;
  BOOST_TEST(f.vf->negotiated_version() == 0u);
  std::array<std::byte, 6> block{};
  outcome read;
  f.vf->async_read_block(block_id{1}, block, read.handler());
  run_until(f.io, f.clock, [&] { return read.done; }, 10 * second);
  BOOST_TEST(!read.ec);
  BOOST_TEST(octets(block) == octets(vpci::test::pattern(6, 0x61)));
  BOOST_TEST(f.vf->negotiated_version() == hyperv::protocol_version_1_4);
  const auto packets = f.vf_packets();
  BOOST_REQUIRE(packets.size() == 2u);
  BOOST_TEST(octets(packets[0]) == octets(linux_version_request(1, 0x10004)));
  BOOST_TEST(le::load_u32(packets[1].data() + 16) == static_cast<std::uint32_t>(hyperv::message_type::read_block));
  BOOST_TEST(f.clock.now() == 0u);  // no time passed: nothing waited for a deadline
  f.vf->close();
  run_ready(f.io);
  BOOST_REQUIRE(f.served.has_value());
  BOOST_TEST(!*f.served);
}

// A PF supporting 1.1 and 1.2: the VF's 1.4 and 1.3 are refused, 1.2 is agreed, then the reads and
// writes flow; operations started during the probe wait for it.
BOOST_AUTO_TEST_CASE(a_pf_supporting_only_older_versions) {
  e2e f(engine::pf_negotiation{true, 0x10001, 0x10002});
  std::array<std::byte, 6> block{};
  outcome read, write;
  const bytes data = vpci::test::pattern(6, 0x90);
  f.vf->async_read_block(block_id{1}, block, read.handler());
  f.vf->async_write_block(block_id{1}, data, write.handler());
  run_until(f.io, f.clock, [&] { return read.done && write.done; }, 10 * second);
  BOOST_TEST(!read.ec);
  BOOST_TEST(!write.ec);
  BOOST_TEST(f.vf->negotiated_version() == hyperv::protocol_version_1_2);
  const auto packets = f.vf_packets();
  BOOST_REQUIRE(packets.size() == 5u);
  BOOST_TEST(octets(packets[0]) == octets(linux_version_request(1, 0x10004)));
  BOOST_TEST(octets(packets[1]) == octets(linux_version_request(2, 0x10003)));
  BOOST_TEST(octets(packets[2]) == octets(linux_version_request(3, 0x10002)));
  BOOST_TEST(octets(f.pf.blocks().contents(0, block_id{1})) == octets(data));
  BOOST_TEST((f.pf.blocks().quarantined(0) == quarantine_reason::none));
  f.vf->close();
  run_ready(f.io);
}

// A PF supporting none of the guest's versions: every operation fails with revision_mismatch, pending
// and later ones (at once, nothing sent); the PF quarantines nothing and its stream ends cleanly.
BOOST_AUTO_TEST_CASE(a_pf_supporting_none_of_the_versions) {
  e2e f(engine::pf_negotiation{true, hyperv::protocol_version(2, 0), hyperv::protocol_version(2, 0)});
  std::array<std::byte, 6> block{};
  outcome read;
  f.vf->async_read_block(block_id{1}, block, read.handler());
  run_until(f.io, f.clock, [&] { return read.done; }, 10 * second);
  BOOST_TEST((read.ec == errc::revision_mismatch));
  BOOST_TEST(octets(block) == std::vector<unsigned>(6, 0u));
  BOOST_TEST(f.vf_packets().size() == 4u);  // the four offers, no block request
  const std::size_t written = f.vf_end.written().size();
  outcome later;
  f.vf->async_read_block(block_id{1}, block, later.handler());
  run_ready(f.io);
  BOOST_TEST((later.ec == errc::revision_mismatch));
  BOOST_TEST(f.vf_end.written().size() == written);
  BOOST_TEST((f.pf.blocks().quarantined(0) == quarantine_reason::none));
  f.vf->close();
  run_ready(f.io);
  BOOST_REQUIRE(f.served.has_value());
  BOOST_TEST(!*f.served);
}

// A failed negotiation is for good: the endpoint's failure() says so (a user's loop can stop on it; it was
// empty while every operation failed at once).
BOOST_AUTO_TEST_CASE(a_failed_negotiation_is_the_endpoints_failure) {
  e2e f(engine::pf_negotiation{true, hyperv::protocol_version(2, 0), hyperv::protocol_version(2, 0)});
  BOOST_TEST(!f.vf->failure());
  // Empty, not a vpci "success" code: a user may compare it with a default-constructed code.
  BOOST_TEST((f.vf->failure() == boost::system::error_code{}));
  std::array<std::byte, 6> block{};
  outcome read;
  f.vf->async_read_block(block_id{1}, block, read.handler());
  run_until(f.io, f.clock, [&] { return read.done; }, 10 * second);
  BOOST_TEST((read.ec == errc::revision_mismatch));
  BOOST_TEST((f.vf->failure() == errc::revision_mismatch));
  f.vf->close();
  run_ready(f.io);
}

// A PF that never answers the version request: at the negotiation timeout (virtual) the pending read
// fails with timeout, and later operations at once.
BOOST_AUTO_TEST_CASE(a_pf_that_does_not_answer) {
  vf_message_options options;
  options.default_timeout = 10s;
  options.negotiation_timeout = 2s;
  e2e f({}, options, false);
  std::array<std::byte, 6> block{};
  outcome read;
  f.vf->async_read_block(block_id{1}, block, read.handler());
  run_until(f.io, f.clock, [&] { return read.done; }, 20 * second);
  BOOST_TEST((read.ec == errc::timeout));
  BOOST_TEST(f.clock.now() == 2 * second);
  BOOST_TEST(f.vf_packets().size() == 1u);
  outcome later;
  f.vf->async_read_block(block_id{1}, block, later.handler());
  run_ready(f.io);
  BOOST_TEST((later.ec == errc::timeout));
  BOOST_TEST(f.clock.armed() == 0u);
  f.vf->close();
  run_ready(f.io);
}

// A VF that does not negotiate, against a PF that requires it: its first block request is a protocol
// violation, the PF quarantines the VF and closes the stream, and the VF sees the end. Against a PF that
// does not require it, everything works and no version is known.
BOOST_AUTO_TEST_CASE(a_vf_that_does_not_negotiate) {
  vf_message_options off;
  off.negotiate = false;
  {
    e2e f({}, off);
    std::array<std::byte, 6> block{};
    outcome read;
    f.vf->async_read_block(block_id{1}, block, read.handler());
    run_until(f.io, f.clock, [&] { return read.done; }, 10 * second);
    BOOST_TEST((read.ec == boost::asio::error::eof));
    BOOST_REQUIRE(f.served.has_value());
    BOOST_TEST((*f.served == errc::protocol_violation));
    BOOST_TEST((f.pf.blocks().quarantined(0) == quarantine_reason::protocol_violation));
  }
  {
    e2e f(engine::pf_negotiation{false, 0x10001, 0x10004}, off);
    std::array<std::byte, 6> block{};
    outcome read;
    f.vf->async_read_block(block_id{1}, block, read.handler());
    run_until(f.io, f.clock, [&] { return read.done; }, 10 * second);
    BOOST_TEST(!read.ec);
    BOOST_TEST(f.vf->negotiated_version() == 0u);
    BOOST_TEST(f.vf_packets().size() == 1u);
    f.vf->close();
    run_ready(f.io);
  }
}

// A read longer than the block gets exactly what it asked for: the block's bytes, then zeros (the VF
// could not tell shorter data from the packet's padding).
BOOST_AUTO_TEST_CASE(a_read_longer_than_the_block_gets_the_bytes_requested) {
  e2e f;
  std::array<std::byte, 16> block{};
  block.fill(std::byte{0xCC});
  outcome read;
  f.vf->async_read_block(block_id{1}, block, read.handler());
  run_until(f.io, f.clock, [&] { return read.done; }, 10 * second);
  BOOST_TEST(!read.ec);
  BOOST_TEST(read.bytes == 16u);
  BOOST_TEST(octets(block) == octets(concat({vpci::test::pattern(6, 0x61), bytes(10, std::byte{0})})));
  f.vf->close();
  run_ready(f.io);
}

// An invalidation wait as the first operation starts negotiation too; the invalidation arrives.
BOOST_AUTO_TEST_CASE(an_invalidation_wait_first) {
  e2e f;
  std::optional<block_mask> mask;
  f.vf->async_wait_invalidate([&](boost::system::error_code ec, block_mask m) {
    BOOST_TEST(!ec);
    mask = m;
  });
  run_ready(f.io);
  BOOST_TEST(f.vf->negotiated_version() == hyperv::protocol_version_1_4);
  BOOST_REQUIRE(!f.pf.invalidate(0, block_mask{0x5}));
  run_ready(f.io);
  BOOST_REQUIRE(mask.has_value());
  BOOST_TEST(mask->bits() == 0x5u);
  f.vf->close();
  run_ready(f.io);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE_END()  // hyperv_negotiation_test
