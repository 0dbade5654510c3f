// The PF side of the Hyper-V binding against a scripted fake VF: exact response bytes, isolation
// (another wslot, another VF's block, unregistered blocks), bad lengths, protocol violations and
// quarantine, flooding, invalidation frames, garbage, protocol-version negotiation (the packets a Linux
// guest sends, tests/linux_packets.hpp), and the VF engine and PF session talking through the stream
// framing in memory.
#include <boost/test/unit_test.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <ostream>
#include <random>
#include <span>
#include <vector>

#include <vpci/core.hpp>

#include "linux_packets.hpp"
#include "test_support.hpp"

BOOST_AUTO_TEST_SUITE(pf_message_session_test)

using namespace vpci;
using namespace vpci::engine;
using vpci::hyperv::wslot;

namespace {

constexpr vf_index vf0 = 0;
constexpr vf_index vf1 = 1;
constexpr wslot slot0{2, 1};
constexpr wslot slot1{3, 0};

std::vector<unsigned> ints(std::span<const std::byte> in) {
  std::vector<unsigned> out;
  for (std::byte b : in) out.push_back(std::to_integer<unsigned>(b));
  return out;
}

std::vector<std::byte> pattern(std::size_t n, unsigned seed) {
  std::vector<std::byte> out(n);
  for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<std::byte>(seed + i * 5);
  return out;
}

// Request packets as a VF sends them (frame content, without the prefix).
std::vector<std::byte> read_packet(std::uint64_t id, std::uint32_t block, wslot slot, std::uint32_t length) {
  std::vector<std::byte> packet(32);
  hyperv::vmbus::store_descriptor(hyperv::vmbus::make_descriptor(hyperv::vmbus::packet_data_inband, 32, id,
                                                                 hyperv::vmbus::flag_completion_requested),
                                  packet.data());
  // Field by field, so lengths the encoder refuses (0, 129) can be sent too.
  le::store_u32(packet.data() + 16, static_cast<std::uint32_t>(hyperv::message_type::read_block));
  le::store_u32(packet.data() + 20, block);
  le::store_u32(packet.data() + 24, *hyperv::encode_wslot(slot));
  le::store_u32(packet.data() + 28, length);
  return packet;
}
std::vector<std::byte> write_packet(std::uint64_t id, std::uint32_t block, wslot slot, std::span<const std::byte> data,
                                    bool linux_tail = false, std::uint32_t claimed = 0) {
  const std::size_t size = 32 + data.size() + (linux_tail ? 4 : 0);
  std::vector<std::byte> packet(size);
  hyperv::vmbus::store_descriptor(hyperv::vmbus::make_descriptor(hyperv::vmbus::packet_data_inband, size, id,
                                                                 hyperv::vmbus::flag_completion_requested),
                                  packet.data());
  le::store_u32(packet.data() + 16, static_cast<std::uint32_t>(hyperv::message_type::write_block));
  le::store_u32(packet.data() + 20, block);
  le::store_u32(packet.data() + 24, *hyperv::encode_wslot(slot));
  le::store_u32(packet.data() + 28, claimed != 0 ? claimed : static_cast<std::uint32_t>(data.size()));
  le::copy(data, packet.data() + 32);
  return packet;
}

// Agrees version 1.4 on a session as a Linux guest does first, and hands the answer to the stream.
void negotiate(pf_message_session<4>& session, std::uint64_t id = 0x77) {
  std::array<std::byte, pf_message_session<4>::response_buffer_size> response{};
  auto reply = session.on_packet(vpci::test::linux_packets::linux_version_request(id, 0x10004), response);
  BOOST_REQUIRE(reply.has_value());
  BOOST_REQUIRE(reply->status == ntstatus::success);
  std::array<std::byte, hyperv::invalidate_frame_size> frame{};
  BOOST_REQUIRE(session.begin_handoff(frame).has_value());
  session.end_handoff();
}

struct fixture {
  pf_blocks<4> store{pf_limits{4}};
  pf_message_session<4> session0{store, vf0, slot0};
  pf_message_session<4> session1{store, vf1, slot1};
  std::array<std::byte, pf_message_session<4>::response_buffer_size> out{};
  std::vector<std::byte> block3 = pattern(16, 0x30);
  std::vector<std::byte> block5 = pattern(8, 0x50);

  fixture() {
    BOOST_REQUIRE(store.register_vf(vf0, 0x0101) == no_error);
    BOOST_REQUIRE(store.register_vf(vf1, 0x0102) == no_error);
    BOOST_REQUIRE(store.define_block(vf0, block_id{3}, block3) == no_error);
    BOOST_REQUIRE(store.define_block(vf1, block_id{5}, block5) == no_error);
    negotiate(session0);
    negotiate(session1);
  }

  // Sends one packet, expects a response frame; returns the reply, handed to the stream and taken.
  pf_reply answer(pf_message_session<4>& session, std::span<const std::byte> packet) {
    auto reply = session.on_packet(packet, out);
    BOOST_REQUIRE(reply.has_value());
    BOOST_REQUIRE(reply->size >= 24u);
    BOOST_TEST(le::load_u32(out.data()) == reply->size - 4);
    hand_off(session);
    return *reply;
  }
  // Hands everything waiting to the stream, which takes it all.
  static pf_handoff hand_off(pf_message_session<4>& session) {
    std::array<std::byte, hyperv::invalidate_frame_size> frame{};
    auto handoff = session.begin_handoff(frame);
    BOOST_REQUIRE(handoff.has_value());
    session.on_stream_progress(1);
    session.end_handoff();
    return *handoff;
  }
  std::span<const std::byte> response_packet(const pf_reply& reply) const {
    return std::span<const std::byte>{out}.subspan(4, reply.size - 4);
  }
  // The status on the wire, which must be the one the reply reports.
  ntstatus status_of(const pf_reply& reply) const {
    const auto wire = static_cast<ntstatus>(le::load_u32(out.data() + 20));
    BOOST_TEST(wire == reply.status);
    return wire;
  }

  void expect_untouched() const {
    BOOST_TEST(ints(store.contents(vf0, block_id{3})) == ints(block3), boost::test_tools::per_element());
    BOOST_TEST(ints(store.contents(vf1, block_id{5})) == ints(block5), boost::test_tools::per_element());
  }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(pf_message_session_serving)

BOOST_FIXTURE_TEST_CASE(read_of_own_block_is_byte_exact, fixture) {
  const pf_reply reply = answer(session0, read_packet(0x10001, 3, slot0, 16));
  BOOST_TEST(reply.size == 44u);
  BOOST_TEST(reply.status == ntstatus::success);
  BOOST_TEST(reply.admitted);
  std::vector<unsigned> expected{0x28, 0x00, 0x00, 0x00,                          // L = 40: 36, padded
                                 0x0B, 0x00, 0x02, 0x00, 0x05, 0x00, 0x00, 0x00,  // completion, len8 5
                                 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00,  // echoed transaction id
                                 0x00, 0x00, 0x00, 0x00};                         // STATUS_SUCCESS
  for (std::byte b : block3) expected.push_back(std::to_integer<unsigned>(b));
  for (int i = 0; i < 4; ++i) expected.push_back(0);                             // padding
  BOOST_TEST(ints(std::span{out}.first(reply.size)) == expected, boost::test_tools::per_element());
  BOOST_TEST(store.in_flight(vf0) == 0u);
  BOOST_TEST(store.counters(vf0).reads == 1u);
}

// A read longer than the block is answered with exactly the bytes requested: the block's, then zeros.
// The wire has no length field and VMBus pads the packet, so a VF takes every byte present (up to what
// it asked for) as data; answering only the block's 16 bytes would hand it 4 bytes of padding as data.
BOOST_FIXTURE_TEST_CASE(read_asking_more_than_the_block_gets_exactly_the_bytes_requested, fixture) {
  const pf_reply reply = answer(session0, read_packet(7, 3, slot0, 128));
  BOOST_TEST(reply.status == ntstatus::success);
  BOOST_TEST(reply.size == 4u + 152u);  // 20 + 128 = 148, padded to 152
  auto decoded = hyperv::decode_read_response(response_packet(reply));
  BOOST_REQUIRE(decoded.has_value());
  const auto data = decoded->data_for(128);
  BOOST_REQUIRE(data.size() == 128u);
  BOOST_TEST(ints(data.first(16)) == ints(block3), boost::test_tools::per_element());
  BOOST_TEST(ints(data.subspan(16)) == std::vector<unsigned>(112, 0u), boost::test_tools::per_element());
  // 17 bytes of a 16-byte block: 20 + 17 = 37, padded to 40; the VF takes 17 (the block and one zero).
  const pf_reply odd = answer(session0, read_packet(9, 3, slot0, 17));
  BOOST_TEST(odd.size == 44u);
  auto odd_decoded = hyperv::decode_read_response(response_packet(odd));
  BOOST_REQUIRE(odd_decoded.has_value());
  BOOST_TEST(ints(odd_decoded->data_for(17)) == ints(vpci::test::linux_packets::concat({block3, vpci::test::make_bytes({0})})),
             boost::test_tools::per_element());
  // Less than the block: STATUS_BUFFER_TOO_SMALL, no data.
  const pf_reply small = answer(session0, read_packet(8, 3, slot0, 15));
  BOOST_TEST(small.status == ntstatus::buffer_too_small);
  BOOST_TEST(small.size == 28u);
}

BOOST_FIXTURE_TEST_CASE(write_of_own_block_changes_it, fixture) {
  const auto data = pattern(16, 0x99);
  const pf_reply reply = answer(session0, write_packet(0x20002, 3, slot0, data));
  BOOST_TEST(reply.size == 28u);
  BOOST_TEST(reply.status == ntstatus::success);
  const std::vector<unsigned> expected{0x18, 0x00, 0x00, 0x00, 0x0B, 0x00, 0x02, 0x00, 0x03, 0x00, 0x00, 0x00,
                                       0x02, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
                                       0x00, 0x00, 0x00, 0x00};
  BOOST_TEST(ints(std::span{out}.first(28)) == expected, boost::test_tools::per_element());
  BOOST_TEST(ints(store.contents(vf0, block_id{3})) == ints(data), boost::test_tools::per_element());
  // The Linux tail is accepted the same way.
  const auto again = pattern(16, 0x11);
  BOOST_TEST(answer(session0, write_packet(3, 3, slot0, again, true)).status == ntstatus::success);
  BOOST_TEST(ints(store.contents(vf0, block_id{3})) == ints(again), boost::test_tools::per_element());
  // A length other than the block's: STATUS_INVALID_PARAMETER, unchanged.
  BOOST_TEST(answer(session0, write_packet(4, 3, slot0, pattern(15, 0))).status == ntstatus::invalid_parameter);
  BOOST_TEST(ints(store.contents(vf0, block_id{3})) == ints(again), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(pf_message_session_isolation)

BOOST_FIXTURE_TEST_CASE(wslot_of_another_vf_is_access_denied, fixture) {
  // VF 0's connection naming VF 1's slot, for VF 1's block and for its own.
  for (std::uint32_t block : {3u, 5u}) {
    BOOST_TEST(status_of(answer(session0, read_packet(1, block, slot1, 8))) == ntstatus::access_denied);
    BOOST_TEST(status_of(answer(session0, write_packet(2, block, slot1, pattern(8, 0)))) == ntstatus::access_denied);
    BOOST_TEST(status_of(answer(session0, write_packet(2, block, slot1, pattern(16, 0)))) == ntstatus::access_denied);
  }
  // Isolation outranks validation: a bad length with a foreign slot is still access denied.
  BOOST_TEST(status_of(answer(session0, read_packet(3, 3, slot1, 0))) == ntstatus::access_denied);
  BOOST_TEST(session0.counters().foreign_slot == 7u);
  expect_untouched();
  BOOST_TEST(store.quarantined(vf0) == quarantine_reason::none);
  BOOST_TEST(store.in_flight(vf0) == 0u);
}

BOOST_FIXTURE_TEST_CASE(another_vfs_block_is_access_denied, fixture) {
  const pf_reply read = answer(session0, read_packet(1, 5, slot0, 8));
  BOOST_TEST(read.status == ntstatus::access_denied);
  BOOST_TEST(read.size == 28u);
  BOOST_TEST(answer(session0, write_packet(2, 5, slot0, pattern(8, 0xAA))).status == ntstatus::access_denied);
  expect_untouched();
  // The owner still reads it.
  BOOST_TEST(answer(session1, read_packet(3, 5, slot1, 8)).status == ntstatus::success);
}

BOOST_FIXTURE_TEST_CASE(unregistered_block_is_invalid_parameter, fixture) {
  for (std::uint32_t block : {9u, 63u, 64u, 0xFFFFFFFFu}) {
    BOOST_TEST(answer(session0, read_packet(1, block, slot0, 8)).status == ntstatus::invalid_parameter);
    BOOST_TEST(answer(session0, write_packet(2, block, slot0, pattern(8, 0))).status == ntstatus::invalid_parameter);
  }
  expect_untouched();
  BOOST_TEST(!store.defined(vf0, block_id{9}));
}

BOOST_FIXTURE_TEST_CASE(lengths_0_and_129_are_invalid_parameter, fixture) {
  BOOST_TEST(answer(session0, read_packet(1, 3, slot0, 0)).status == ntstatus::invalid_parameter);
  BOOST_TEST(answer(session0, read_packet(2, 3, slot0, 129)).status == ntstatus::invalid_parameter);
  BOOST_TEST(answer(session0, write_packet(3, 3, slot0, std::span<const std::byte>{})).status ==
             ntstatus::invalid_parameter);
  // 129 with 129 bytes or more present (the Linux tail's 4 here): a length out of range, answered. With
  // fewer bytes than it claims, a write is broken before its length is judged (step 1, a violation).
  BOOST_TEST(answer(session0, write_packet(4, 3, slot0, pattern(128, 0), true, 129)).status ==
             ntstatus::invalid_parameter);
  BOOST_TEST(session0.counters().invalid_length == 4u);
  expect_untouched();
  BOOST_TEST(store.quarantined(vf0) == quarantine_reason::none);
  // The transaction ID is echoed on refusals too.
  auto reply = session0.on_packet(read_packet(0xABCDEF, 3, slot0, 0), out);
  BOOST_REQUIRE(reply.has_value());
  BOOST_TEST(le::load_u64(out.data() + 12) == 0xABCDEFu);
  BOOST_TEST(reply->admitted);
  hand_off(session0);
  BOOST_TEST(store.in_flight(vf0) == 0u);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(pf_message_session_violations)

BOOST_FIXTURE_TEST_CASE(protocol_violations_quarantine_and_change_nothing, fixture) {
  auto no_type_word = std::vector<std::byte>(hyperv::vmbus::descriptor_size);  // a descriptor, no payload
  hyperv::vmbus::store_descriptor(hyperv::vmbus::make_descriptor(hyperv::vmbus::packet_data_inband, 16, 1,
                                                                 hyperv::vmbus::flag_completion_requested),
                                  no_type_word.data());
  auto completion_packet = read_packet(1, 3, slot0, 8);
  le::store_u16(completion_packet.data(), hyperv::vmbus::packet_completion);
  auto bad_len8 = read_packet(1, 3, slot0, 8);
  le::store_u16(bad_len8.data() + 4, 3);
  auto bad_offset = read_packet(1, 3, slot0, 8);
  le::store_u16(bad_offset.data() + 2, 1);
  auto reserved_wslot = read_packet(1, 3, slot0, 8);
  le::store_u32(reserved_wslot.data() + 24, 0x100 | 0x22);
  auto long_read = read_packet(1, 3, slot0, 8);
  long_read.resize(40);
  le::store_u16(long_read.data() + 4, 5);
  auto version_query = read_packet(1, 3, slot0, 8);
  le::store_u32(version_query.data() + 16, static_cast<std::uint32_t>(hyperv::message_type::query_protocol_version));
  auto write_short = write_packet(1, 3, slot0, pattern(16, 0), false, 20);
  auto write_extra = write_packet(1, 3, slot0, pattern(16, 0), false, 4);  // 12 bytes past a padded 4-byte write
  const std::vector<std::byte> garbage(16, std::byte{0xFF});

  for (const auto& packet : {no_type_word, completion_packet, bad_len8, bad_offset, reserved_wslot, long_read,
                             version_query, write_short, write_extra, garbage}) {
    fixture f;
    out.fill(std::byte{0x5A});
    auto reply = f.session0.on_packet(packet, out);
    BOOST_TEST(reply.error() == errc::protocol_violation);
    BOOST_TEST(f.store.quarantined(vf0) == quarantine_reason::protocol_violation);
    BOOST_TEST(f.store.counters(vf0).violations == 1u);
    BOOST_TEST(f.store.in_flight(vf0) == 0u);
    f.expect_untouched();
    for (std::byte b : out) BOOST_REQUIRE(std::to_integer<unsigned>(b) == 0x5Au);
    // The other VF keeps being served.
    BOOST_TEST(f.store.quarantined(vf1) == quarantine_reason::none);
    BOOST_TEST(f.answer(f.session1, read_packet(2, 5, slot1, 8)).status == ntstatus::success);
    // The quarantined VF is refused until reset.
    const pf_reply refused = f.answer(f.session0, read_packet(3, 3, slot0, 16));
    BOOST_TEST(refused.status == ntstatus::access_denied);
    BOOST_TEST(!refused.admitted);
    BOOST_TEST(f.answer(f.session0, write_packet(4, 3, slot0, pattern(16, 1))).status == ntstatus::access_denied);
    f.expect_untouched();
    BOOST_REQUIRE(f.store.reset_vf(vf0) == no_error);
    BOOST_TEST(f.answer(f.session0, read_packet(5, 3, slot0, 16)).status == ntstatus::success);
  }
}

BOOST_FIXTURE_TEST_CASE(small_response_buffer_changes_nothing, fixture) {
  std::array<std::byte, 151> small{};
  BOOST_TEST(session0.on_packet(read_packet(1, 3, slot0, 16), small).error() == errc::buffer_too_small);
  BOOST_TEST(store.in_flight(vf0) == 0u);
  BOOST_TEST(store.quarantined(vf0) == quarantine_reason::none);
}

BOOST_FIXTURE_TEST_CASE(flooding_gets_device_not_ready, fixture) {
  // Four requests admitted and not yet handed to the stream: the cap (4) is reached.
  for (std::uint64_t id = 1; id <= 4; ++id) {
    auto reply = session0.on_packet(read_packet(id, 3, slot0, 16), out);
    BOOST_REQUIRE(reply.has_value());
    BOOST_TEST(reply->admitted);
  }
  BOOST_TEST(store.in_flight(vf0) == 4u);
  for (std::uint64_t id = 5; id <= 8; ++id) {
    auto reply = session0.on_packet(write_packet(id, 3, slot0, pattern(16, 0xEE)), out);
    BOOST_REQUIRE(reply.has_value());
    BOOST_TEST(reply->status == ntstatus::device_not_ready);
    BOOST_TEST(!reply->admitted);
    BOOST_TEST(le::load_u64(out.data() + 12) == id);
  }
  // Bad requests count against the cap too.
  BOOST_TEST(session0.on_packet(read_packet(9, 3, slot0, 0), out)->status == ntstatus::device_not_ready);
  BOOST_TEST(store.in_flight(vf0) == 4u);
  BOOST_TEST(store.counters(vf0).busy == 5u);
  BOOST_TEST(session0.held_answers() == 9u);
  expect_untouched();
  // Busy is not a violation: no quarantine; the other VF is unaffected.
  BOOST_TEST(store.quarantined(vf0) == quarantine_reason::none);
  BOOST_TEST(answer(session1, read_packet(1, 5, slot1, 8)).status == ntstatus::success);
  // Handing the answers to the stream takes them out of the in-flight count: one more is admitted.
  std::array<std::byte, hyperv::invalidate_frame_size> frame{};
  auto handoff = session0.begin_handoff(frame);
  BOOST_REQUIRE(handoff.has_value());
  BOOST_TEST(handoff->answers == 9u);
  BOOST_TEST(handoff->invalidate_size == 0u);
  BOOST_TEST(store.in_flight(vf0) == 0u);
  auto admitted = session0.on_packet(read_packet(10, 3, slot0, 16), out);
  BOOST_REQUIRE(admitted.has_value());
  BOOST_TEST(admitted->status == ntstatus::success);
  BOOST_TEST(store.in_flight(vf0) == 1u);
  // Still held until the stream takes them.
  BOOST_TEST(session0.held_answers() == 10u);
  BOOST_TEST(session0.unsent_answers() == 1u);
}

BOOST_FIXTURE_TEST_CASE(invalidate_frames, fixture) {
  std::array<std::byte, hyperv::invalidate_frame_size> frame{};
  auto size = session0.make_invalidate(block_mask{0x8}, frame);
  BOOST_REQUIRE(size.has_value());
  BOOST_TEST(*size == 36u);
  const std::vector<unsigned> expected{0x20, 0x00, 0x00, 0x00, 0x06, 0x00, 0x02, 0x00, 0x04, 0x00, 0x00, 0x00,
                                       0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x12, 0x00, 0x49, 0x42,
                                       0x22, 0x00, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};
  BOOST_TEST(ints(frame) == expected, boost::test_tools::per_element());

  // Invalidations raised on the stream are coalesced and handed over as one frame.
  BOOST_TEST(!session0.has_output());
  session0.invalidate(block_mask{0x1});
  session0.invalidate(block_mask{0x4});
  BOOST_TEST(session0.has_output());
  std::array<std::byte, 35> too_small{};
  BOOST_TEST(session0.begin_handoff(too_small).error() == errc::buffer_too_small);
  BOOST_TEST(session0.pending_invalidation().bits() == 0x5u);
  BOOST_TEST(!session0.handoff_in_progress());
  frame.fill(std::byte{0});
  auto handoff = session0.begin_handoff(frame);
  BOOST_REQUIRE(handoff.has_value());
  BOOST_TEST(handoff->invalidate_size == 36u);
  BOOST_TEST(handoff->answers == 0u);
  BOOST_TEST(le::load_u64(frame.data() + 28) == 0x5u);
  BOOST_TEST(session0.pending_invalidation().empty());
  // A second handoff cannot start while one is in progress.
  BOOST_TEST(session0.begin_handoff(frame).error() == errc::invalid_argument);
  session0.end_handoff();
  BOOST_TEST(!session0.has_output());
}

BOOST_AUTO_TEST_CASE(garbage_fuzz) {
  std::mt19937 random{777};
  std::size_t violations = 0;
  std::size_t answered = 0;
  for (int round = 0; round < 20000; ++round) {
    fixture f;
    std::vector<std::byte> packet;
    if (round % 2 == 0) {
      packet.resize(std::uniform_int_distribution<std::size_t>{0, 170}(random));
      for (auto& b : packet) b = static_cast<std::byte>(random());
    } else {
      packet = round % 4 == 1 ? read_packet(random(), 3, slot0, 16) : write_packet(random(), 3, slot0, pattern(16, 1));
      const int flips = std::uniform_int_distribution<int>{1, 3}(random);
      for (int i = 0; i < flips; ++i)
        packet[std::uniform_int_distribution<std::size_t>{0, packet.size() - 1}(random)] = static_cast<std::byte>(random());
    }
    auto reply = f.session0.on_packet(packet, f.out);
    if (!reply) {
      BOOST_REQUIRE(reply.error() == errc::protocol_violation);
      BOOST_REQUIRE(f.store.quarantined(vf0) == quarantine_reason::protocol_violation);
      ++violations;
    } else if (reply->size == 0) {
      // Dropped: only a message this PF does not serve that asked for no completion.
      BOOST_REQUIRE((le::load_u16(packet.data() + 6) & hyperv::vmbus::flag_completion_requested) == 0);
      BOOST_REQUIRE(f.session0.counters().unsupported_messages == 1u);
      BOOST_REQUIRE(f.store.quarantined(vf0) == quarantine_reason::none);
    } else {
      ++answered;
      BOOST_REQUIRE(reply->size <= f.out.size());
      const auto response = std::span<const std::byte>{f.out}.subspan(4, reply->size - 4);
      BOOST_REQUIRE(hyperv::vmbus::decode_descriptor(response).has_value());
      BOOST_REQUIRE(le::load_u64(f.out.data() + 12) == le::load_u64(packet.data() + 8));
    }
    // VF 1's block never changes, whatever VF 0 sends.
    BOOST_REQUIRE(ints(f.store.contents(vf1, block_id{5})) == ints(f.block5));
  }
  BOOST_TEST(violations > 0u);
  BOOST_TEST(answered > 0u);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(pf_message_session_end_to_end)

// A VF engine and a PF session exchange frames through byte buffers, with the decoders on each side
// fed in awkward chunks: reads, writes, a refusal and an invalidation arrive as on a real stream.
BOOST_AUTO_TEST_CASE(vf_engine_and_pf_session_through_the_framing) {
  pf_blocks<4> store;
  BOOST_REQUIRE(store.register_vf(vf0, 0x0101) == no_error);
  BOOST_REQUIRE(store.define_block(vf0, block_id{3}, pattern(16, 0x30)) == no_error);
  pf_message_session<4> pf{store, vf0, slot0};
  negotiate(pf);
  vf_message_engine<> vf{slot0};
  hyperv::frame_decoder at_pf;
  hyperv::frame_decoder at_vf;
  std::vector<std::byte> to_pf;
  std::vector<std::byte> to_vf;
  std::array<std::byte, hyperv::max_frame_size> frame{};
  std::vector<vf_event> events;

  auto pump = [&](std::size_t chunk) {
    std::span<const std::byte> rest{to_pf};
    while (!rest.empty()) {
      auto step = at_pf.feed(rest.first(rest.size() < chunk ? rest.size() : chunk));
      BOOST_REQUIRE(step.error == no_error);
      rest = rest.subspan(step.consumed);
      if (step.packet.empty()) continue;
      std::array<std::byte, pf_message_session<4>::response_buffer_size> response{};
      auto reply = pf.on_packet(step.packet, response);
      BOOST_REQUIRE(reply.has_value());
      to_vf.insert(to_vf.end(), response.begin(), response.begin() + static_cast<std::ptrdiff_t>(reply->size));
      fixture::hand_off(pf);
    }
    to_pf.clear();
    rest = to_vf;
    while (!rest.empty()) {
      auto step = at_vf.feed(rest.first(rest.size() < chunk ? rest.size() : chunk));
      BOOST_REQUIRE(step.error == no_error);
      rest = rest.subspan(step.consumed);
      if (step.packet.empty()) continue;
      events.push_back(vf.on_packet(step.packet));
      // Reported here, so released here: the slot takes the next operation (engine/vf_messages.hpp).
      if (events.back().kind == vf_event_kind::completion) BOOST_REQUIRE(vf.release(events.back().completion.handle));
    }
    to_vf.clear();
  };
  auto send = [&](std::size_t size) { to_pf.insert(to_pf.end(), frame.begin(), frame.begin() + static_cast<std::ptrdiff_t>(size)); };

  std::array<std::byte, 16> first{};
  auto r1 = vf.start_read(block_id{3}, first, 100, frame);
  BOOST_REQUIRE(r1.has_value());
  send(r1->frame_size);
  const auto written = pattern(16, 0x77);
  auto w = vf.start_write(block_id{3}, written, 100, frame, true);
  BOOST_REQUIRE(w.has_value());
  send(w->frame_size);
  std::array<std::byte, 16> second{};
  auto r2 = vf.start_read(block_id{3}, second, 100, frame);
  BOOST_REQUIRE(r2.has_value());
  send(r2->frame_size);
  std::array<std::byte, 8> foreign{};
  auto r3 = vf.start_read(block_id{9}, foreign, 100, frame);
  BOOST_REQUIRE(r3.has_value());
  send(r3->frame_size);
  pump(3);

  BOOST_REQUIRE(events.size() == 4u);
  for (const auto& e : events) BOOST_TEST(e.kind == vf_event_kind::completion);
  BOOST_TEST(events[0].completion.handle == r1->handle);
  BOOST_TEST(events[0].completion.error == no_error);
  BOOST_TEST(ints(first) == ints(pattern(16, 0x30)), boost::test_tools::per_element());
  BOOST_TEST(events[1].completion.handle == w->handle);
  BOOST_TEST(events[1].completion.bytes == 16u);
  BOOST_TEST(ints(second) == ints(written), boost::test_tools::per_element());
  BOOST_TEST(events[3].completion.error == errc::invalid_argument);  // STATUS_INVALID_PARAMETER
  BOOST_TEST(store.in_flight(vf0) == 0u);
  BOOST_TEST(vf.in_flight_count() == 0u);
  BOOST_TEST(vf.slots_in_use() == 0u);

  // The PF invalidates twice before the VF looks: one latched, coalesced mask.
  events.clear();
  pf.invalidate(block_mask{0x8});
  pf.invalidate(block_mask{0x1});
  auto handoff = pf.begin_handoff(frame);
  BOOST_REQUIRE(handoff.has_value());
  pf.end_handoff();
  to_vf.insert(to_vf.end(), frame.begin(), frame.begin() + static_cast<std::ptrdiff_t>(handoff->invalidate_size));
  pump(1);
  BOOST_REQUIRE(events.size() == 1u);
  BOOST_TEST(events[0].kind == vf_event_kind::invalidated);
  BOOST_TEST(vf.take_invalidations().bits() == 0x9u);
  BOOST_TEST(at_pf.finish() == no_error);
  BOOST_TEST(at_vf.finish() == no_error);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(pf_message_session_answer_queue)

namespace {
// Request frames (with the length prefix) for on_input.
std::vector<std::byte> frames(std::size_t count, std::uint64_t first_id, bool write) {
  std::vector<std::byte> out;
  for (std::size_t i = 0; i < count; ++i) {
    const auto packet = write ? write_packet(first_id + i, 3, slot0, pattern(16, static_cast<unsigned>(i)))
                              : read_packet(first_id + i, 3, slot0, 16);
    std::array<std::byte, 4> prefix{};
    le::store_u32(prefix.data(), static_cast<std::uint32_t>(packet.size()));
    out.insert(out.end(), prefix.begin(), prefix.end());
    out.insert(out.end(), packet.begin(), packet.end());
  }
  return out;
}

// Feeds `input` until the session stops taking it; returns the bytes consumed and counts the answers.
std::size_t feed(pf_message_session<4>& session, std::span<const std::byte> input, std::size_t& answers) {
  std::array<std::byte, pf_message_session<4>::response_buffer_size> response{};
  std::size_t consumed = 0;
  while (consumed < input.size()) {
    const pf_input_step step = session.on_input(input.subspan(consumed), response);
    BOOST_REQUIRE(step.error == no_error);
    if (step.consumed == 0) break;
    consumed += step.consumed;
    if (step.reply.size != 0) ++answers;
  }
  return consumed;
}
}  // namespace

// Case 2: once answer_queue_limit() answers are held, the next request is not decoded, let alone
// executed; nothing is counted for it.
BOOST_FIXTURE_TEST_CASE(case_2_the_overflowing_request_is_not_executed, fixture) {
  const std::size_t limit = session0.answer_queue_limit();
  BOOST_TEST(limit == 10u);  // cap 4: 4 admitted, 4 refusals, 2 more
  const auto input = frames(limit + 5, 1, true);
  std::size_t answers = 0;
  const std::size_t consumed = feed(session0, input, answers);
  BOOST_TEST(answers == limit);
  BOOST_TEST(!session0.accepting());
  BOOST_TEST(consumed == input.size() / (limit + 5) * limit);  // stopped at a frame boundary
  BOOST_TEST(store.counters(vf0).writes == 4u);                // the admitted ones only
  BOOST_TEST(store.in_flight(vf0) == 4u);
  // The packet path refuses too, changing nothing.
  const auto before = ints(store.contents(vf0, block_id{3}));
  BOOST_TEST(session0.on_packet(write_packet(99, 3, slot0, pattern(16, 0xEE)), out).error() == errc::busy);
  BOOST_TEST(ints(store.contents(vf0, block_id{3})) == before, boost::test_tools::per_element());
  BOOST_TEST(store.in_flight(vf0) == 4u);
  BOOST_TEST(store.counters(vf0).busy == 6u);
  BOOST_TEST(store.quarantined(vf0) == quarantine_reason::none);
  // Serving ends with answers unsent: nothing stays counted in flight.
  session0.end_of_serving();
  BOOST_TEST(store.in_flight(vf0) == 0u);
  session0.end_of_serving();  // idempotent
  BOOST_TEST(store.in_flight(vf0) == 0u);
}

// Case 2: after a handoff is taken, input resumes where it stopped.
BOOST_FIXTURE_TEST_CASE(input_resumes_when_the_stream_takes_the_answers, fixture) {
  const auto input = frames(25, 1, false);
  std::size_t answers = 0;
  std::size_t consumed = feed(session0, input, answers);
  std::array<std::byte, hyperv::invalidate_frame_size> frame{};
  while (consumed < input.size()) {
    auto handoff = session0.begin_handoff(frame);
    BOOST_REQUIRE(handoff.has_value());
    BOOST_TEST(!session0.accepting());  // still held until taken
    BOOST_TEST(feed(session0, std::span<const std::byte>(input).subspan(consumed), answers) == 0u);
    session0.on_stream_progress(100);
    session0.end_handoff();
    consumed += feed(session0, std::span<const std::byte>(input).subspan(consumed), answers);
  }
  BOOST_TEST(answers == 25u);
  BOOST_TEST(store.quarantined(vf0) == quarantine_reason::none);
}

// Case 3: invalidations coalesce into one pending mask per stream, never count against the answer
// queue, and at most one frame rides in a handoff while the next mask waits.
BOOST_FIXTURE_TEST_CASE(case_3_invalidations_coalesce_and_never_count_as_answers, fixture) {
  for (unsigned i = 0; i < 1000; ++i) session0.invalidate(block_mask{std::uint64_t{1} << (i % 64)});
  BOOST_TEST(session0.held_answers() == 0u);
  BOOST_TEST(session0.accepting());
  std::array<std::byte, hyperv::invalidate_frame_size> frame{};
  auto first = session0.begin_handoff(frame);
  BOOST_REQUIRE(first.has_value());
  BOOST_TEST(first->invalidate_size == hyperv::invalidate_frame_size);
  BOOST_TEST(le::load_u64(frame.data() + 28) == ~std::uint64_t{0});
  // More while the stream is stalled: one pending mask, whatever the count.
  for (unsigned i = 0; i < 1000; ++i) session0.invalidate(block_mask{std::uint64_t{1} << (i % 3)});
  BOOST_TEST(session0.pending_invalidation().bits() == 0x7u);
  BOOST_TEST(session0.held_answers() == 0u);
  // No answers held: a stalled stream carrying only invalidations is never a stall of the VF's answers.
  BOOST_TEST(session0.arm_stall_check(0) == pf_message_session<4>::no_deadline);
  BOOST_TEST(session0.on_stall_check() == no_error);
  // A full answer queue does not stop invalidations either.
  const auto input = frames(20, 1, false);
  std::size_t answers = 0;
  feed(session0, input, answers);
  BOOST_TEST(!session0.accepting());
  session0.invalidate(block_mask{0x8});
  BOOST_TEST(session0.pending_invalidation().bits() == 0xFu);
  BOOST_TEST(store.quarantined(vf0) == quarantine_reason::none);
}

// Case 3 and 5: invalidations not known to be delivered go back to the store when serving ends.
BOOST_FIXTURE_TEST_CASE(undelivered_invalidations_go_back_to_the_store, fixture) {
  std::array<std::byte, hyperv::invalidate_frame_size> frame{};
  session0.invalidate(block_mask{0x1});
  BOOST_REQUIRE(session0.begin_handoff(frame).has_value());  // in the stream, not known to be taken
  session0.invalidate(block_mask{0x2});                      // pending
  session0.end_of_serving();
  BOOST_TEST(store.pending_invalidations(vf0).bits() == 0x3u);
  BOOST_TEST(!session0.has_output());
  // One the stream took comes back too: the VF has it only if it read it before the stream ended.
  pf_message_session<4> next{store, vf0, slot0};
  negotiate(next);
  next.invalidate(store.take_invalidations(vf0));
  fixture::hand_off(next);
  next.end_of_serving();
  BOOST_TEST(store.pending_invalidations(vf0).bits() == 0x3u);
}

// Found by the interleaving explorer (tests/explore): the stream took a whole handoff carrying an
// invalidation (end_handoff), the connection dropped before the VF read those bytes, and the VF's next
// stream never heard of it: the PF had counted it delivered. A stream that ends gives back every
// invalidation it carried (a duplicate at worst on the next stream, never a loss); a new stream starts
// with nothing to give back.
BOOST_FIXTURE_TEST_CASE(explore_invalidation_taken_by_a_dropped_stream_is_given_back, fixture) {
  std::array<std::byte, hyperv::invalidate_frame_size> frame{};
  session0.invalidate(block_mask{0x4});
  auto handoff = session0.begin_handoff(frame);
  BOOST_REQUIRE(handoff.has_value());
  BOOST_TEST(handoff->invalidate_size == hyperv::invalidate_frame_size);
  session0.on_stream_progress(hyperv::invalidate_frame_size);
  session0.end_handoff();  // the stream took it; the VF had not read it when the connection dropped
  BOOST_TEST(!session0.has_output());
  session0.end_of_serving();
  BOOST_TEST(store.pending_invalidations(vf0).bits() == 0x4u);
  // The next stream delivers it; ending a stream that carried nothing gives nothing back.
  pf_message_session<4> next{store, vf0, slot0};
  negotiate(next);
  next.invalidate(store.take_invalidations(vf0));
  BOOST_TEST(next.pending_invalidation().bits() == 0x4u);
  pf_message_session<4> idle{store, vf1, slot1};
  idle.end_of_serving();
  BOOST_TEST(store.pending_invalidations(vf1).empty());
}

// Case 4: a stream that takes nothing for a whole stall check while answers are held quarantines the VF
// for overflow; any progress, or holding no answers, does not.
BOOST_FIXTURE_TEST_CASE(case_4_only_a_stream_that_takes_nothing_is_quarantined, fixture) {
  constexpr std::uint64_t timeout = 1000;
  pf_message_session<4> session{store, vf0, slot0, timeout};
  negotiate(session);
  BOOST_TEST(session.arm_stall_check(0) == pf_message_session<4>::no_deadline);  // nothing handed
  std::size_t answers = 0;
  const auto input = frames(3, 1, false);
  feed(session, input, answers);
  BOOST_TEST(session.arm_stall_check(0) == pf_message_session<4>::no_deadline);  // held, not handed yet
  std::array<std::byte, hyperv::invalidate_frame_size> frame{};
  BOOST_REQUIRE(session.begin_handoff(frame).has_value());
  BOOST_TEST(session.arm_stall_check(50) == 1050u);
  session.on_stream_progress(1);
  BOOST_TEST(session.on_stall_check() == no_error);  // it moved, by one byte
  BOOST_TEST(session.arm_stall_check(1050) == 2050u);
  session.on_stream_progress(0);
  BOOST_TEST(session.on_stall_check() == errc::quarantined);  // a write that took nothing is no progress
  BOOST_TEST(store.quarantined(vf0) == quarantine_reason::overflow);
  BOOST_TEST(store.counters(vf0).violations == 0u);
  // The in-flight count was already released at the handoff; ending leaves nothing.
  session.end_of_serving();
  BOOST_TEST(store.in_flight(vf0) == 0u);
  // The deadline saturates instead of wrapping.
  pf_message_session<4> forever{store, vf1, slot1, pf_message_session<4>::no_deadline};
  negotiate(forever);
  BOOST_REQUIRE(forever.on_packet(read_packet(1, 5, slot1, 8), out).has_value());
  BOOST_REQUIRE(forever.begin_handoff(frame).has_value());
  BOOST_TEST(forever.arm_stall_check(5) == pf_message_session<4>::no_deadline - 1);
}

// Case 4: the in-flight count is answers admitted and not yet handed to the stream, so 200 requests at
// once get busy past the cap while a VF that keeps 4 in flight (the cap) never does.
BOOST_FIXTURE_TEST_CASE(case_4_accounting_busy_only_past_the_cap, fixture) {
  const auto burst = frames(200, 1, false);
  std::size_t answers = 0;
  std::size_t consumed = 0;
  std::array<std::byte, hyperv::invalidate_frame_size> frame{};
  while (consumed < burst.size()) {
    consumed += feed(session0, std::span<const std::byte>(burst).subspan(consumed), answers);
    fixture::hand_off(session0);
  }
  BOOST_TEST(answers == 200u);
  BOOST_TEST(store.counters(vf0).busy > 0u);
  BOOST_TEST(store.counters(vf0).reads + store.counters(vf0).busy == 200u);
  BOOST_TEST(store.quarantined(vf0) == quarantine_reason::none);
  BOOST_TEST(store.in_flight(vf0) == 0u);
  // Four at a time, each batch handed before the next arrives: never busy.
  pf_blocks<4> calm{pf_limits{4}};
  BOOST_REQUIRE(calm.register_vf(vf0, 1) == no_error);
  BOOST_REQUIRE(calm.define_block(vf0, block_id{3}, pattern(16, 0)) == no_error);
  pf_message_session<4> steady{calm, vf0, slot0};
  negotiate(steady);
  for (int round = 0; round < 50; ++round) {
    const auto four = frames(4, 1, false);
    std::size_t n = 0;
    BOOST_TEST(feed(steady, four, n) == four.size());
    BOOST_TEST(steady.begin_handoff(frame).has_value());
    steady.end_handoff();
  }
  BOOST_TEST(calm.counters(vf0).busy == 0u);
}

// Found by a review: a pci-hyperv guest sends QUERY_BUS_RELATIONS (no completion asked for) and
// BUS_D0ENTRY (completion asked for) right after negotiation (hv_pci_probe). The session called every
// message type but READ_BLOCK and WRITE_BLOCK a violation, quarantined the VF and closed the stream, and
// the quarantine refused the guest's next negotiation. OpenVMM's VSP answers a packet it cannot handle
// STATUS_BAD_DATA, when a completion is asked for, and goes on (ReadyState::run); so does the session.
BOOST_FIXTURE_TEST_CASE(a_message_this_pf_does_not_serve_is_answered_bad_data_and_the_stream_goes_on, fixture) {
  using namespace vpci::test::linux_packets;
  out.fill(std::byte{0x5A});
  auto relations = session0.on_packet(linux_query_bus_relations(), out);
  BOOST_TEST_REQUIRE(relations.has_value());
  BOOST_TEST(relations->size == 0u);  // no completion asked for: nothing to send
  for (std::byte b : out) BOOST_REQUIRE(std::to_integer<unsigned>(b) == 0x5Au);
  BOOST_TEST(!session0.has_output());

  auto d0_entry = session0.on_packet(linux_bus_d0_entry(0xFFFF'8880'1234'5678, 0xF800'0000), out);
  BOOST_TEST_REQUIRE(d0_entry.has_value());
  // struct pci_response from the host: a completion (type 11, offset8 2, len8 3), the guest's transaction
  // ID, STATUS_BAD_DATA (0xC000090B), padded from 20 to 24 bytes; after the stream's length word.
  const auto expected = vpci::test::make_bytes({0x18, 0x00, 0x00, 0x00, 0x0B, 0x00, 0x02, 0x00, 0x03, 0x00, 0x00, 0x00,
                                    0x78, 0x56, 0x34, 0x12, 0x80, 0x88, 0xFF, 0xFF, 0x0B, 0x09, 0x00, 0xC0,
                                    0x00, 0x00, 0x00, 0x00});
  BOOST_TEST(ints(std::span<const std::byte>{out}.first(d0_entry->size)) == ints(expected), boost::test_tools::per_element());
  BOOST_TEST(d0_entry->status == ntstatus::bad_data);
  BOOST_TEST(!d0_entry->admitted);
  hand_off(session0);

  // A type no one defines, and INVALIDATE_BLOCK (the PF's message) from the VF: the same rule.
  auto undefined = read_packet(9, 3, slot0, 8);
  le::store_u32(undefined.data() + 16, 0x42490077);
  BOOST_TEST(answer(session0, undefined).status == ntstatus::bad_data);
  auto invalidate_from_vf = std::vector<std::byte>(hyperv::invalidate::wire_size);
  BOOST_REQUIRE(hyperv::encode(hyperv::invalidate{slot0, block_mask{1}}, invalidate_from_vf).has_value());
  auto invalidate_reply = session0.on_packet(invalidate_from_vf, out);
  BOOST_TEST_REQUIRE(invalidate_reply.has_value());
  BOOST_TEST(invalidate_reply->size == 0u);  // sent without a completion asked for, as the PF sends it

  BOOST_TEST(session0.counters().unsupported_messages == 4u);
  BOOST_TEST(store.quarantined(vf0) == quarantine_reason::none);
  BOOST_TEST(store.counters(vf0).violations == 0u);
  BOOST_TEST(store.in_flight(vf0) == 0u);
  expect_untouched();
  // The stream goes on: the guest's block read is served.
  const pf_reply read = answer(session0, read_packet(10, 3, slot0, 16));
  BOOST_TEST(read.status == ntstatus::success);
}

// A Linux guest on protocol 1.2 or later sends RESOURCES_ASSIGNED2 (hv_send_resources_allocated): 218 bytes,
// padded to 224, longer than any block message. The stream framing took at most 168 bytes, so the session
// called the frame a violation, quarantined the VF and closed the stream, where a shorter unserved message
// is answered STATUS_BAD_DATA. Its first 168 bytes are kept, and it is answered as any unserved message;
// the guest's next read is served.
BOOST_FIXTURE_TEST_CASE(a_linux_resources_assigned2_of_224_bytes_is_answered_bad_data_and_the_stream_goes_on, fixture) {
  using namespace vpci::test::linux_packets;
  std::vector<std::byte> input;
  for (const auto& packet : {linux_resources_assigned2(0xFFFF'8880'0000'1000, 0x22), read_packet(10, 3, slot0, 16)}) {
    std::array<std::byte, 4> prefix{};
    le::store_u32(prefix.data(), static_cast<std::uint32_t>(packet.size()));
    input.insert(input.end(), prefix.begin(), prefix.end());
    input.insert(input.end(), packet.begin(), packet.end());
  }
  std::vector<pf_reply> replies;
  std::vector<std::vector<unsigned>> answers;
  std::size_t consumed = 0;
  while (consumed < input.size()) {  // one byte at a time
    const pf_input_step step = session0.on_input(std::span{input}.subspan(consumed, 1), out);
    BOOST_REQUIRE(step.error == no_error);
    BOOST_REQUIRE(step.consumed == 1u);
    consumed += step.consumed;
    if (step.reply.size == 0) continue;
    replies.push_back(step.reply);
    answers.push_back(ints(std::span<const std::byte>{out}.first(step.reply.size)));
    hand_off(session0);
  }
  BOOST_REQUIRE(replies.size() == 2u);
  // pci_response: a completion (type 11, offset8 2, len8 3), the guest's transaction ID, STATUS_BAD_DATA.
  const auto bad_data = vpci::test::make_bytes({0x18, 0x00, 0x00, 0x00, 0x0B, 0x00, 0x02, 0x00, 0x03, 0x00, 0x00, 0x00,
                                                0x00, 0x10, 0x00, 0x00, 0x80, 0x88, 0xFF, 0xFF, 0x0B, 0x09, 0x00, 0xC0,
                                                0x00, 0x00, 0x00, 0x00});
  BOOST_TEST(answers[0] == ints(bad_data), boost::test_tools::per_element());
  BOOST_TEST(replies[1].status == ntstatus::success);
  BOOST_TEST(answers[1].size() == 4u + 40u);  // 20 + 16 bytes of block 3, padded
  BOOST_TEST(session0.counters().unsupported_messages == 1u);
  BOOST_TEST(store.quarantined(vf0) == quarantine_reason::none);
  BOOST_TEST(store.counters(vf0).violations == 0u);
}

// INVALIDATE_BLOCK is the PF's own message: from a VF it is unserved whatever its length, so in a packet
// longer than 168 bytes (where a message the session serves is a violation) it is answered STATUS_BAD_DATA
// when a completion is asked for, and the stream goes on.
BOOST_FIXTURE_TEST_CASE(an_invalidate_block_from_the_vf_longer_than_168_bytes_is_answered_bad_data, fixture) {
  std::vector<std::byte> packet(hyperv::invalidate::wire_size);
  BOOST_REQUIRE(hyperv::encode(hyperv::invalidate{slot0, block_mask{1}}, packet).has_value());
  packet.resize(256);
  hyperv::vmbus::store_descriptor(hyperv::vmbus::make_descriptor(hyperv::vmbus::packet_data_inband, 256, 7,
                                                                 hyperv::vmbus::flag_completion_requested),
                                  packet.data());
  std::vector<std::byte> input(4);
  le::store_u32(input.data(), 256);
  input.insert(input.end(), packet.begin(), packet.end());
  const pf_input_step step = session0.on_input(input, out);
  BOOST_TEST(step.error == no_error);
  BOOST_TEST(step.consumed == input.size());
  BOOST_TEST(step.reply.status == ntstatus::bad_data);
  // pci_response: a completion (type 11, offset8 2, len8 3), transaction 7, STATUS_BAD_DATA, padded to 24.
  const auto bad_data = vpci::test::make_bytes({0x18, 0x00, 0x00, 0x00, 0x0B, 0x00, 0x02, 0x00, 0x03, 0x00, 0x00, 0x00,
                                                0x07, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0B, 0x09, 0x00, 0xC0,
                                                0x00, 0x00, 0x00, 0x00});
  BOOST_TEST(ints(std::span<const std::byte>{out}.first(step.reply.size)) == ints(bad_data), boost::test_tools::per_element());
  hand_off(session0);
  BOOST_TEST(session0.counters().unsupported_messages == 1u);
  BOOST_TEST(store.quarantined(vf0) == quarantine_reason::none);
  BOOST_TEST(store.counters(vf0).violations == 0u);
  BOOST_TEST(answer(session0, read_packet(10, 3, slot0, 16)).status == ntstatus::success);
}

// A message the session serves in a packet longer than 168 bytes is longer than its largest legal form:
// a violation, as when a transport hands the whole packet to on_packet, though the framing kept only the
// first 168 bytes (the decoders never see the length).
BOOST_FIXTURE_TEST_CASE(a_block_request_in_a_packet_longer_than_168_bytes_is_a_violation, fixture) {
  auto packet = read_packet(11, 3, slot0, 16);
  packet.resize(176);
  hyperv::vmbus::store_descriptor(hyperv::vmbus::make_descriptor(hyperv::vmbus::packet_data_inband, 176, 11,
                                                                 hyperv::vmbus::flag_completion_requested),
                                  packet.data());
  BOOST_TEST(session1.on_packet(packet, out).error() == errc::protocol_violation);  // whole
  std::vector<std::byte> input(4);
  le::store_u32(input.data(), 176);
  input.insert(input.end(), packet.begin(), packet.end());
  const pf_input_step step = session0.on_input(input, out);
  BOOST_TEST(step.error == errc::protocol_violation);
  BOOST_TEST(step.consumed == input.size());
  BOOST_TEST(store.quarantined(vf0) == quarantine_reason::protocol_violation);
  BOOST_TEST(session0.counters().unsupported_messages == 0u);
  expect_untouched();
}

// Before a version is agreed (negotiation required, as a host requires it) anything but a version request
// still ends the channel: OpenVMM's VSP gives it up too (UnexpectedPacketOrder).
BOOST_FIXTURE_TEST_CASE(an_unserved_message_before_negotiation_is_still_a_violation, fixture) {
  pf_message_session<4> fresh{store, vf0, slot0};
  auto reply = fresh.on_packet(vpci::test::linux_packets::linux_bus_d0_entry(1, 0), out);
  BOOST_TEST(reply.error() == errc::protocol_violation);
  BOOST_TEST(store.quarantined(vf0) == quarantine_reason::protocol_violation);
}

// Case 12, the engine's verdicts: garbage and bad frames are violations once (sticky, counted once);
// a stream cut inside a frame is truncated_message without quarantine.
BOOST_FIXTURE_TEST_CASE(case_12_framing_verdicts, fixture) {
  std::array<std::byte, pf_message_session<4>::response_buffer_size> response{};
  const std::vector<std::byte> garbage(12, std::byte{0xFF});
  const pf_input_step step = session0.on_input(garbage, response);
  BOOST_TEST(step.error == errc::protocol_violation);
  BOOST_TEST(store.quarantined(vf0) == quarantine_reason::protocol_violation);
  BOOST_TEST(session0.on_input(garbage, response).error == errc::protocol_violation);
  BOOST_TEST(store.counters(vf0).violations == 1u);
  // A packet a VF may not send (a completion), inside a good frame.
  fixture g;
  auto completion = std::vector<std::byte>(4 + 24);
  le::store_u32(completion.data(), 24);
  hyperv::vmbus::store_descriptor(hyperv::vmbus::make_descriptor(hyperv::vmbus::packet_completion, 20, 1),
                                  completion.data() + 4);
  BOOST_TEST(g.session0.on_input(completion, response).error == errc::protocol_violation);
  BOOST_TEST(g.session0.on_input(completion, response).error == errc::protocol_violation);
  BOOST_TEST(g.store.counters(vf0).violations == 1u);
  // Cut mid-frame.
  fixture h;
  const auto one = frames(1, 1, false);
  std::size_t answers = 0;
  BOOST_TEST(feed(h.session0, std::span<const std::byte>(one).first(one.size() - 3), answers) == one.size() - 3);
  BOOST_TEST(h.session0.on_end_of_stream() == errc::truncated_message);
  BOOST_TEST(h.store.quarantined(vf0) == quarantine_reason::none);
  BOOST_TEST(feed(h.session0, std::span<const std::byte>(one).last(3), answers) == 3u);
  BOOST_TEST(answers == 1u);
  BOOST_TEST(h.session0.on_end_of_stream() == no_error);
  // A response buffer too small consumes nothing.
  std::array<std::byte, 10> tiny{};
  BOOST_TEST(h.session0.on_input(one, tiny).error == errc::buffer_too_small);
  BOOST_TEST(h.session0.on_input(one, tiny).consumed == 0u);
}

BOOST_AUTO_TEST_SUITE_END()

// Protocol-version negotiation against the packets a Linux guest sends (hv_pci_protocol_negotiation),
// with a host's rules (OpenVMM's VSP): docs/hyperv-binding.md, "Version negotiation".
BOOST_AUTO_TEST_SUITE(pf_message_session_negotiation)

namespace {
using vpci::test::linux_packets::freebsd_version_request;
using vpci::test::linux_packets::linux_version_request;
using vpci::test::linux_packets::linux_write_5;

struct negotiation_fixture {
  pf_blocks<4> store{pf_limits{4}};
  std::array<std::byte, pf_message_session<4>::response_buffer_size> out{};
  negotiation_fixture() {
    BOOST_REQUIRE(store.register_vf(vf0, 0x0101) == no_error);
    BOOST_REQUIRE(store.define_block(vf0, block_id{7}, pattern(5, 0)) == no_error);
    BOOST_REQUIRE(store.define_block(vf0, block_id{3}, pattern(16, 0x30)) == no_error);
  }
  // The answer frame to a version request: 28 bytes, L = 24, the packet a host's
  // QueryProtocolVersionReply is (struct pci_response and the version).
  std::vector<unsigned> version_answer(std::uint64_t id, std::uint32_t status, std::uint32_t version) const {
    std::vector<std::byte> frame(28);
    le::store_u32(frame.data(), 24);
    const std::vector<std::byte> descriptor = vpci::test::make_bytes({0x0B, 0x00, 0x02, 0x00, 0x03, 0x00, 0x00, 0x00});
    std::copy(descriptor.begin(), descriptor.end(), frame.begin() + 4);
    le::store_u64(frame.data() + 12, id);
    le::store_u32(frame.data() + 20, status);
    le::store_u32(frame.data() + 24, version);
    return ints(frame);
  }
  void hand_off(pf_message_session<4>& session) { fixture::hand_off(session); }
};
}  // namespace

// The guest's first offer, 1.4, is agreed: STATUS_SUCCESS with the version, echoing the transaction ID.
// The answer is held in the answer queue but never counted in flight.
BOOST_FIXTURE_TEST_CASE(linux_first_offer_is_agreed_byte_exact, negotiation_fixture) {
  pf_message_session<4> session{store, vf0, slot0};
  BOOST_TEST(session.negotiation_state() == pf_negotiation_state::waiting);
  BOOST_TEST(session.negotiated_version() == 0u);
  auto reply = session.on_packet(linux_version_request(0xFFFF8880'12345678, 0x10004), out);
  BOOST_REQUIRE(reply.has_value());
  BOOST_TEST(reply->size == 28u);
  BOOST_TEST(reply->status == ntstatus::success);
  BOOST_TEST(!reply->admitted);
  BOOST_TEST(ints(std::span{out}.first(28)) == version_answer(0xFFFF8880'12345678, 0, 0x10004),
             boost::test_tools::per_element());
  BOOST_TEST(session.negotiation_state() == pf_negotiation_state::agreed);
  BOOST_TEST(session.negotiated_version() == 0x10004u);
  BOOST_TEST(session.held_answers() == 1u);
  BOOST_TEST(store.in_flight(vf0) == 0u);
  BOOST_TEST(session.counters().version_requests == 1u);
  BOOST_TEST(session.counters().version_mismatches == 0u);
  // Block messages are served from now on.
  hand_off(session);
  auto write = session.on_packet(linux_write_5(true), out);
  BOOST_REQUIRE(write.has_value());
  BOOST_TEST(write->status == ntstatus::success);
  BOOST_TEST(ints(store.contents(vf0, block_id{7})) == (std::vector<unsigned>{0xA1, 0xA2, 0xA3, 0xA4, 0xA5}));
}

// A PF supporting 1.1 and 1.2 refuses the guest's 1.4 and 1.3 with STATUS_REVISION_MISMATCH (the
// version field: its highest) and agrees 1.2; the probe may go on after a mismatch.
BOOST_FIXTURE_TEST_CASE(mismatch_then_a_lower_version_is_agreed, negotiation_fixture) {
  pf_message_session<4> session{store, vf0, slot0, default_stall_timeout, pf_negotiation{true, 0x10001, 0x10002}};
  const std::uint32_t mismatch = 0xC0000059;
  std::uint64_t id = 1;
  for (std::uint32_t version : {0x10004u, 0x10003u}) {
    auto reply = session.on_packet(linux_version_request(id, version), out);
    BOOST_REQUIRE(reply.has_value());
    BOOST_TEST(reply->status == ntstatus::revision_mismatch);
    BOOST_TEST(ints(std::span{out}.first(28)) == version_answer(id, mismatch, 0x10002), boost::test_tools::per_element());
    BOOST_TEST(session.negotiation_state() == pf_negotiation_state::waiting);
    hand_off(session);
    ++id;
  }
  auto agreed = session.on_packet(linux_version_request(id, 0x10002), out);
  BOOST_REQUIRE(agreed.has_value());
  BOOST_TEST(ints(std::span{out}.first(28)) == version_answer(id, 0, 0x10002), boost::test_tools::per_element());
  BOOST_TEST(session.negotiated_version() == 0x10002u);
  BOOST_TEST(session.counters().version_requests == 3u);
  BOOST_TEST(session.counters().version_mismatches == 2u);
  BOOST_TEST(store.quarantined(vf0) == quarantine_reason::none);
}

// Every version a Linux guest offers refused: the session keeps waiting (the guest gives up with
// -EPROTO); nothing is agreed, nothing is quarantined, and a block message is still refused as a
// violation.
BOOST_FIXTURE_TEST_CASE(every_linux_version_refused, negotiation_fixture) {
  pf_message_session<4> session{store, vf0, slot0, default_stall_timeout,
                                pf_negotiation{true, hyperv::protocol_version(2, 0), hyperv::protocol_version(2, 1)}};
  std::uint64_t id = 10;
  for (std::uint32_t version : hyperv::linux_protocol_versions) {
    auto reply = session.on_packet(linux_version_request(id, version), out);
    BOOST_REQUIRE(reply.has_value());
    BOOST_TEST(ints(std::span{out}.first(28)) == version_answer(id, 0xC0000059, 0x20001), boost::test_tools::per_element());
    hand_off(session);
    ++id;
  }
  BOOST_TEST(session.negotiation_state() == pf_negotiation_state::waiting);
  BOOST_TEST(session.negotiated_version() == 0u);
  BOOST_TEST(store.quarantined(vf0) == quarantine_reason::none);
  out.fill(std::byte{0x5A});
  BOOST_TEST(session.on_packet(read_packet(20, 3, slot0, 16), out).error() == errc::protocol_violation);
  BOOST_TEST(store.quarantined(vf0) == quarantine_reason::protocol_violation);
  for (std::byte b : out) BOOST_REQUIRE(std::to_integer<unsigned>(b) == 0x5Au);
}

// With negotiation required (the default), a block message first is a protocol violation: the VF is
// quarantined, nothing answered or changed. Also after a mismatch, before agreement.
BOOST_FIXTURE_TEST_CASE(a_block_message_before_negotiation_when_required_is_a_violation, negotiation_fixture) {
  BOOST_TEST(pf_negotiation{}.required);
  const auto before = ints(store.contents(vf0, block_id{7}));
  for (const auto& packet : {linux_write_5(true), read_packet(1, 3, slot0, 16)}) {
    for (bool after_mismatch : {false, true}) {
      negotiation_fixture f;
      pf_message_session<4> session{f.store, vf0, slot0, default_stall_timeout, pf_negotiation{true, 0x10001, 0x10001}};
      if (after_mismatch) {
        auto mismatch = session.on_packet(linux_version_request(1, 0x10004), f.out);
        BOOST_REQUIRE(mismatch.has_value());
        BOOST_TEST(mismatch->status == ntstatus::revision_mismatch);
        f.hand_off(session);
      }
      f.out.fill(std::byte{0x5A});
      BOOST_TEST(session.on_packet(packet, f.out).error() == errc::protocol_violation);
      BOOST_TEST(f.store.quarantined(vf0) == quarantine_reason::protocol_violation);
      BOOST_TEST(f.store.counters(vf0).violations == 1u);
      BOOST_TEST(f.store.in_flight(vf0) == 0u);
      BOOST_TEST(ints(f.store.contents(vf0, block_id{7})) == before);
      for (std::byte b : f.out) BOOST_REQUIRE(std::to_integer<unsigned>(b) == 0x5Au);
      BOOST_TEST(session.held_answers() == 0u);
    }
  }
  // The same through the framing: the frame is consumed, the verdict sticky.
  pf_message_session<4> session{store, vf0, slot0};
  std::vector<std::byte> frame(4);
  const auto packet = linux_write_5(true);
  le::store_u32(frame.data(), static_cast<std::uint32_t>(packet.size()));
  frame.insert(frame.end(), packet.begin(), packet.end());
  const pf_input_step step = session.on_input(frame, out);
  BOOST_TEST(step.error == errc::protocol_violation);
  BOOST_TEST(step.consumed == frame.size());
  BOOST_TEST(session.on_input(frame, out).error == errc::protocol_violation);
}

// A second negotiation mid-stream (after agreement) is a protocol violation, as on a host.
BOOST_FIXTURE_TEST_CASE(a_second_negotiation_mid_stream_is_a_violation, negotiation_fixture) {
  pf_message_session<4> session{store, vf0, slot0};
  BOOST_REQUIRE(session.on_packet(linux_version_request(1, 0x10004), out).has_value());
  hand_off(session);
  BOOST_REQUIRE(session.on_packet(read_packet(2, 3, slot0, 16), out).has_value());
  hand_off(session);
  out.fill(std::byte{0x5A});
  BOOST_TEST(session.on_packet(linux_version_request(3, 0x10004), out).error() == errc::protocol_violation);
  BOOST_TEST(store.quarantined(vf0) == quarantine_reason::protocol_violation);
  BOOST_TEST(session.negotiated_version() == 0x10004u);  // what was agreed stays known
  for (std::byte b : out) BOOST_REQUIRE(std::to_integer<unsigned>(b) == 0x5Au);
  // Right after agreement, before any block message, too.
  negotiation_fixture g;
  pf_message_session<4> other{g.store, vf0, slot0};
  BOOST_REQUIRE(other.on_packet(linux_version_request(1, 0x10003), g.out).has_value());
  BOOST_TEST(other.on_packet(linux_version_request(2, 0x10003), g.out).error() == errc::protocol_violation);
}

// Negotiation not required: block messages are served from the start; a version request is answered
// while no block message was, and is a second negotiation mid-stream after one.
BOOST_FIXTURE_TEST_CASE(negotiation_not_required, negotiation_fixture) {
  const pf_negotiation optional{false, 0x10001, 0x10004};
  pf_message_session<4> session{store, vf0, slot0, default_stall_timeout, optional};
  auto read = session.on_packet(read_packet(1, 3, slot0, 16), out);
  BOOST_REQUIRE(read.has_value());
  BOOST_TEST(read->status == ntstatus::success);
  BOOST_TEST(session.negotiation_state() == pf_negotiation_state::skipped);
  hand_off(session);
  BOOST_TEST(session.on_packet(linux_version_request(2, 0x10004), out).error() == errc::protocol_violation);
  BOOST_TEST(store.quarantined(vf0) == quarantine_reason::protocol_violation);
  // A peer that does negotiate is answered as with negotiation required.
  negotiation_fixture g;
  pf_message_session<4> polite{g.store, vf0, slot0, default_stall_timeout, optional};
  auto agreed = polite.on_packet(linux_version_request(1, 0x10004), g.out);
  BOOST_REQUIRE(agreed.has_value());
  BOOST_TEST(agreed->status == ntstatus::success);
  BOOST_TEST(polite.negotiated_version() == 0x10004u);
  g.hand_off(polite);
  BOOST_TEST(polite.on_packet(read_packet(2, 3, slot0, 16), g.out).has_value());
}

// The Hyper-V header's 12-byte request (FreeBSD's guest sends it, padded to 16) is a version request like
// Linux's 8 bytes: answered byte for byte as that one, the attempt word ignored. Until this was fixed the
// PF took the 16 payload bytes for an attack: a protocol violation, the VF quarantined at its first packet.
BOOST_FIXTURE_TEST_CASE(a_twelve_byte_version_request_as_freebsd_sends_it_is_answered_not_quarantined,
                        negotiation_fixture) {
  pf_message_session<4> session{store, vf0, slot0};
  auto mismatch = session.on_packet(freebsd_version_request(0xFFFFF800'00001234, 0x10005), out);
  BOOST_REQUIRE(mismatch.has_value());
  BOOST_TEST(ints(std::span{out}.first(28)) == version_answer(0xFFFFF800'00001234, 0xC0000059, 0x10004),
             boost::test_tools::per_element());
  auto reply = session.on_packet(freebsd_version_request(0xFFFFF800'00001235, 0x10001), out);
  BOOST_REQUIRE(reply.has_value());
  BOOST_TEST(reply->status == ntstatus::success);
  BOOST_TEST(ints(std::span{out}.first(28)) == version_answer(0xFFFFF800'00001235, 0, 0x10001),
             boost::test_tools::per_element());
  BOOST_TEST(session.negotiated_version() == 0x10001u);
  BOOST_TEST(store.quarantined(vf0) == quarantine_reason::none);
  BOOST_TEST(session.counters().version_requests == 2u);
  BOOST_TEST(session.counters().version_mismatches == 1u);
}

// Version requests that do not decode, or arrive as a completion, are violations. An unknown version is
// not: any u32 is a version a guest may offer, answered STATUS_REVISION_MISMATCH.
BOOST_FIXTURE_TEST_CASE(malformed_version_requests_are_violations, negotiation_fixture) {
  auto truncated = linux_version_request(1, 0x10004);  // type only: 16 + 4 = 20 bytes
  truncated.resize(20);
  le::store_u16(truncated.data() + 4, 3);
  auto too_long = linux_version_request(1, 0x10004);  // 8 payload bytes past the longest form's padded 16
  too_long.resize(40);
  le::store_u16(too_long.data() + 4, 5);
  auto as_completion = linux_version_request(1, 0x10004);
  le::store_u16(as_completion.data(), hyperv::vmbus::packet_completion);
  for (const auto& packet : {truncated, too_long, as_completion}) {
    negotiation_fixture f;
    pf_message_session<4> session{f.store, vf0, slot0};
    BOOST_TEST(session.on_packet(packet, f.out).error() == errc::protocol_violation);
    BOOST_TEST(f.store.quarantined(vf0) == quarantine_reason::protocol_violation);
    BOOST_TEST(session.negotiated_version() == 0u);
  }
  pf_message_session<4> session{store, vf0, slot0};
  for (std::uint32_t version : {0u, 0xFFFFFFFFu, 0x10000u, 0x10005u}) {
    auto reply = session.on_packet(linux_version_request(version, version), out);
    BOOST_REQUIRE(reply.has_value());
    BOOST_TEST(reply->status == ntstatus::revision_mismatch);
    hand_off(session);
  }
  BOOST_TEST(store.quarantined(vf0) == quarantine_reason::none);
}

// With negotiation required, invalidations wait until the agreeing answer was handed to the stream and
// then follow it; a refused offer releases nothing. Without, they go at once.
BOOST_FIXTURE_TEST_CASE(invalidations_follow_agreement, negotiation_fixture) {
  pf_message_session<4> session{store, vf0, slot0, default_stall_timeout, pf_negotiation{true, 0x10001, 0x10003}};
  std::array<std::byte, hyperv::invalidate_frame_size> frame{};
  session.invalidate(block_mask{0x3});
  BOOST_TEST(session.invalidations_held());
  BOOST_TEST(!session.has_output());
  BOOST_REQUIRE(session.on_packet(linux_version_request(1, 0x10004), out).has_value());  // mismatch
  auto first = session.begin_handoff(frame);
  BOOST_REQUIRE(first.has_value());
  BOOST_TEST(first->answers == 1u);
  BOOST_TEST(first->invalidate_size == 0u);
  session.end_handoff();
  BOOST_TEST(!session.has_output());
  BOOST_REQUIRE(session.on_packet(linux_version_request(2, 0x10003), out).has_value());  // agreed
  session.invalidate(block_mask{0x4});
  auto agreeing = session.begin_handoff(frame);
  BOOST_REQUIRE(agreeing.has_value());
  BOOST_TEST(agreeing->answers == 1u);
  BOOST_TEST(agreeing->invalidate_size == 0u);  // not ahead of the version answer
  session.end_handoff();
  BOOST_TEST(!session.invalidations_held());
  BOOST_TEST(session.has_output());
  auto after = session.begin_handoff(frame);
  BOOST_REQUIRE(after.has_value());
  BOOST_TEST(after->invalidate_size == hyperv::invalidate_frame_size);
  BOOST_TEST(le::load_u64(frame.data() + 28) == 0x7u);
  session.end_handoff();
  // Held invalidations of a stream that ends before agreement go back to the store.
  pf_message_session<4> cut{store, vf0, slot0};
  cut.invalidate(block_mask{0x10});
  cut.end_of_serving();
  BOOST_TEST(store.pending_invalidations(vf0).bits() == 0x10u);
  // Not required: at once.
  pf_message_session<4> optional{store, vf0, slot0, default_stall_timeout, pf_negotiation{false, 0x10001, 0x10004}};
  optional.invalidate(store.take_invalidations(vf0));
  BOOST_TEST(!optional.invalidations_held());
  BOOST_TEST(optional.has_output());
  auto handoff = optional.begin_handoff(frame);
  BOOST_REQUIRE(handoff.has_value());
  BOOST_TEST(handoff->invalidate_size == hyperv::invalidate_frame_size);
}

// A quarantined VF agrees nothing: STATUS_ACCESS_DENIED, as its block requests get.
BOOST_FIXTURE_TEST_CASE(a_quarantined_vf_is_refused_negotiation, negotiation_fixture) {
  store.quarantine(vf0, quarantine_reason::overflow);
  pf_message_session<4> session{store, vf0, slot0};
  auto reply = session.on_packet(linux_version_request(5, 0x10004), out);
  BOOST_REQUIRE(reply.has_value());
  BOOST_TEST(reply->status == ntstatus::access_denied);
  BOOST_TEST(session.negotiation_state() == pf_negotiation_state::waiting);
  BOOST_TEST(session.counters().version_mismatches == 0u);
  hand_off(session);
  BOOST_REQUIRE(store.reset_vf(vf0) == no_error);
  BOOST_TEST(session.on_packet(linux_version_request(6, 0x10004), out)->status == ntstatus::success);
}

// A handler that produces fewer bytes than the block: the answer still carries exactly the bytes
// requested, zeros after what the handler produced (never the handler's unused buffer).
BOOST_FIXTURE_TEST_CASE(a_short_handler_answer_is_zero_filled_to_the_request, negotiation_fixture) {
  struct short_handler final : block_handler {
    ntstatus on_read(vf_index, block_id, std::span<std::byte> o, std::size_t& bytes) override {
      for (auto& b : o) b = std::byte{0xEE};  // scribbles over the whole block
      bytes = 3;
      return ntstatus::success;
    }
    ntstatus on_write(vf_index, block_id, std::span<const std::byte>) override { return ntstatus::success; }
  } handler;
  BOOST_REQUIRE(store.define_block(vf0, block_id{4}, pattern(8, 0), block_access::read_write, &handler) == no_error);
  pf_message_session<4> session{store, vf0, slot0};
  negotiate(session);
  auto reply = session.on_packet(read_packet(1, 4, slot0, 8), out);
  BOOST_REQUIRE(reply.has_value());
  BOOST_TEST(reply->status == ntstatus::success);
  BOOST_TEST(reply->size == 4u + 32u);  // 20 + 8 = 28, padded to 32
  auto decoded = hyperv::decode_read_response(std::span<const std::byte>{out}.subspan(4, 32));
  BOOST_REQUIRE(decoded.has_value());
  BOOST_TEST(ints(decoded->data) == (std::vector<unsigned>{0xEE, 0xEE, 0xEE, 0, 0, 0, 0, 0, 0, 0, 0, 0}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_SUITE_END()

// A request of a bad length refused busy at the VF's cap was never admitted: it is not reported admitted,
// and handing it retires none of the requests the VF has in flight on another of its streams (the cap
// holds for the VF on every stream).
BOOST_FIXTURE_TEST_CASE(a_bad_length_request_refused_busy_retires_nothing, fixture) {
  pf_message_session<4> second{store, vf0, slot0};
  negotiate(second);
  for (std::uint64_t id = 1; id <= 4; ++id) {
    auto reply = session0.on_packet(read_packet(id, 3, slot0, 16), out);
    BOOST_REQUIRE(reply.has_value());
    BOOST_TEST(reply->admitted);
  }
  BOOST_TEST(store.in_flight(vf0) == 4u);
  for (std::uint32_t length : {0u, 129u}) {
    auto busy = second.on_packet(read_packet(9, 3, slot0, length), out);
    BOOST_REQUIRE(busy.has_value());
    BOOST_TEST(busy->status == ntstatus::device_not_ready);
    BOOST_TEST(!busy->admitted);
  }
  hand_off(second);
  // session0's four answers are still held: the cap still holds for the VF on any stream.
  BOOST_TEST(store.in_flight(vf0) == 4u);
  auto more = second.on_packet(read_packet(10, 3, slot0, 16), out);
  BOOST_REQUIRE(more.has_value());
  BOOST_TEST(more->status == ntstatus::device_not_ready);
  BOOST_TEST(store.in_flight(vf0) == 4u);
}

// With negotiation optional, a message this PF does not serve (answered BAD_DATA) is not a block message:
// negotiation stays open and the guest's version request is still agreed.
BOOST_FIXTURE_TEST_CASE(an_unserved_message_before_an_optional_negotiation_leaves_it_open, fixture) {
  const pf_negotiation optional{false, 0x10001, 0x10004};
  pf_message_session<4> session{store, vf0, slot0, default_stall_timeout, optional};
  auto d0 = session.on_packet(vpci::test::linux_packets::linux_bus_d0_entry(1, 0), out);
  BOOST_REQUIRE(d0.has_value());
  BOOST_TEST(d0->status == ntstatus::bad_data);
  BOOST_TEST(session.negotiation_state() == pf_negotiation_state::waiting);
  hand_off(session);
  auto agreed = session.on_packet(vpci::test::linux_packets::linux_version_request(2, 0x10004), out);
  BOOST_REQUIRE(agreed.has_value());
  BOOST_TEST(agreed->status == ntstatus::success);
  BOOST_TEST(session.negotiated_version() == 0x10004u);
  BOOST_TEST(store.quarantined(vf0) == quarantine_reason::none);
}

BOOST_AUTO_TEST_SUITE_END()  // pf_message_session_test
