// The VF side of the Hyper-V binding against a scripted fake PF: exact request bytes, completions and
// status mapping, timeouts and cancellation with late replies, stale and unknown transaction IDs, a
// full table, VF removal, invalidations latched and coalesced, and a garbage fuzz. Time is a number.
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <ostream>
#include <random>
#include <span>
#include <utility>
#include <vector>

#include <vpci/core.hpp>
#include <vpci/engine/vf_message_channel.hpp>

#include "linux_packets.hpp"
#include "test_support.hpp"

BOOST_AUTO_TEST_SUITE(vf_message_engine_test)

using namespace vpci;
using namespace vpci::engine;
using vpci::hyperv::wslot;

namespace {

constexpr wslot own_slot{2, 1};

std::vector<unsigned> ints(std::span<const std::byte> in) {
  std::vector<unsigned> out;
  for (std::byte b : in) out.push_back(std::to_integer<unsigned>(b));
  return out;
}

std::vector<std::byte> pattern(std::size_t n, unsigned seed) {
  std::vector<std::byte> out(n);
  for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<std::byte>(seed + i * 7);
  return out;
}

// The fake PF's packets (frame content, no prefix).
std::vector<std::byte> read_reply(std::uint64_t id, ntstatus status, std::span<const std::byte> data) {
  std::vector<std::byte> packet(hyperv::vmbus::max_packet_size);
  auto size = hyperv::encode(hyperv::read_response{id, status, data}, packet);
  BOOST_REQUIRE(size.has_value());
  packet.resize(*size);
  return packet;
}
// A read response whose data part is whatever the test wants (the encoder refuses impossible ones).
std::vector<std::byte> raw_read_reply(std::uint64_t id, ntstatus status, std::size_t data_size) {
  std::vector<std::byte> packet(20 + data_size, std::byte{0xD7});
  hyperv::vmbus::store_descriptor(hyperv::vmbus::make_descriptor(hyperv::vmbus::packet_completion, packet.size(), id),
                                  packet.data());
  le::store_u32(packet.data() + 16, static_cast<std::uint32_t>(status));
  return packet;
}
std::vector<std::byte> write_reply(std::uint64_t id, ntstatus status) {
  std::vector<std::byte> packet(hyperv::write_completion::wire_size);
  auto size = hyperv::encode(hyperv::write_completion{id, status}, packet);
  BOOST_REQUIRE(size.has_value());
  return packet;
}
std::vector<std::byte> invalidate_packet(wslot slot, std::uint64_t mask) {
  std::vector<std::byte> packet(hyperv::invalidate::wire_size);
  auto size = hyperv::encode(hyperv::invalidate{slot, block_mask{mask}}, packet);
  BOOST_REQUIRE(size.has_value());
  return packet;
}

struct fixture {
  vf_message_engine<> vf{own_slot};
  std::array<std::byte, hyperv::max_frame_size> frame{};

  vf_started read(std::uint32_t block, std::span<std::byte> destination, std::uint64_t deadline = 1000) {
    auto started = vf.start_read(block_id{block}, destination, deadline, frame);
    BOOST_REQUIRE(started.has_value());
    return *started;
  }
  vf_started write(std::uint32_t block, std::span<const std::byte> data, std::uint64_t deadline = 1000) {
    auto started = vf.start_write(block_id{block}, data, deadline, frame);
    BOOST_REQUIRE(started.has_value());
    return *started;
  }
};

void expect_completion(const vf_event& event, vf_op_handle handle, errc error, std::size_t bytes) {
  BOOST_TEST(event.kind == vf_event_kind::completion);
  BOOST_TEST(event.completion.handle == handle);
  BOOST_TEST(event.completion.error == error);
  BOOST_TEST(event.completion.bytes == bytes);
}

void expect_dropped(const vf_event& event, vf_drop_reason reason) {
  BOOST_TEST(event.kind == vf_event_kind::dropped);
  BOOST_TEST(event.dropped == reason);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(vf_message_engine_requests)

BOOST_FIXTURE_TEST_CASE(read_request_bytes_match_the_layout_table, fixture) {
  std::array<std::byte, 16> destination{};
  const auto started = read(3, destination);
  BOOST_TEST(started.frame_size == 36u);
  const std::uint64_t id = started.handle.transaction_id;
  BOOST_TEST(id != 0u);
  BOOST_TEST((id & 0xFFFF) < 64u);
  const std::vector<unsigned> payload{0x09, 0x00, 0x49, 0x42, 0x03, 0x00, 0x00, 0x00,
                                      0x22, 0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00};
  BOOST_TEST(ints(std::span{frame}.subspan(20, 16)) == payload, boost::test_tools::per_element());
  BOOST_TEST(le::load_u32(frame.data()) == 32u);
  BOOST_TEST(le::load_u16(frame.data() + 4) == hyperv::vmbus::packet_data_inband);
  BOOST_TEST(le::load_u16(frame.data() + 6) == 2u);
  BOOST_TEST(le::load_u16(frame.data() + 8) == 4u);
  BOOST_TEST(le::load_u16(frame.data() + 10) == hyperv::vmbus::flag_completion_requested);
  BOOST_TEST(le::load_u64(frame.data() + 12) == id);
  BOOST_TEST(vf.in_flight(started.handle));
  BOOST_TEST(vf.in_flight_count() == 1u);
}

BOOST_FIXTURE_TEST_CASE(write_request_bytes_and_linux_tail, fixture) {
  const auto data = pattern(10, 0x40);
  const auto started = write(5, data);
  BOOST_TEST(started.frame_size == 52u);
  auto request = hyperv::decode_write_request(std::span<const std::byte>{frame}.subspan(20, 26));
  BOOST_REQUIRE(request.has_value());
  BOOST_TEST(request->block.value() == 5u);
  BOOST_TEST((request->slot == own_slot));
  BOOST_TEST(ints(request->data) == ints(data), boost::test_tools::per_element());

  auto tailed = vf.start_write(block_id{5}, data, 1000, frame, true);
  BOOST_REQUIRE(tailed.has_value());
  BOOST_TEST(tailed->frame_size == 52u);
  BOOST_TEST(le::load_u32(frame.data()) == 48u);
  BOOST_TEST(hyperv::decode_write_request(std::span<const std::byte>{frame}.subspan(20, 30)).has_value());
}

BOOST_FIXTURE_TEST_CASE(bad_arguments_start_nothing, fixture) {
  std::array<std::byte, 129> big{};
  frame.fill(std::byte{0x5A});
  BOOST_TEST(vf.start_read(block_id{1}, std::span{big}.first(0), 10, frame).error() == errc::invalid_length);
  BOOST_TEST(vf.start_read(block_id{1}, big, 10, frame).error() == errc::invalid_length);
  BOOST_TEST(vf.start_write(block_id{1}, std::span<const std::byte>{}, 10, frame).error() == errc::invalid_length);
  BOOST_TEST(vf.start_write(block_id{1}, big, 10, frame).error() == errc::invalid_length);
  BOOST_TEST(vf.start_read(block_id{1}, std::span{big}.first(8), 10, std::span{frame}.first(35)).error() ==
             errc::buffer_too_small);
  BOOST_TEST(vf.start_write(block_id{1}, std::span{big}.first(8), 10, std::span{frame}.first(43)).error() ==
             errc::buffer_too_small);
  BOOST_TEST(vf.in_flight_count() == 0u);
  BOOST_TEST(vf.next_deadline() == no_deadline);
  for (std::byte b : frame) BOOST_REQUIRE(std::to_integer<unsigned>(b) == 0x5Au);

  vf_message_engine<4> bad_slot{wslot{32, 0}};
  BOOST_TEST(bad_slot.start_read(block_id{1}, std::span{big}.first(8), 10, frame).error() == errc::invalid_argument);
  BOOST_TEST(bad_slot.in_flight_count() == 0u);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(vf_message_engine_completions)

BOOST_FIXTURE_TEST_CASE(read_copies_the_data, fixture) {
  std::array<std::byte, 20> memory{};
  memory.fill(std::byte{0xEE});
  const auto destination = std::span{memory}.subspan(2, 16);
  const auto started = read(3, destination);
  const auto data = pattern(16, 1);
  expect_completion(vf.on_packet(read_reply(started.handle.transaction_id, ntstatus::success, data)), started.handle,
                    no_error, 16);
  BOOST_TEST(ints(destination) == ints(data), boost::test_tools::per_element());
  BOOST_TEST(std::to_integer<unsigned>(memory[0]) == 0xEEu);
  BOOST_TEST(std::to_integer<unsigned>(memory[1]) == 0xEEu);
  BOOST_TEST(std::to_integer<unsigned>(memory[18]) == 0xEEu);
  BOOST_TEST(std::to_integer<unsigned>(memory[19]) == 0xEEu);
  BOOST_TEST(!vf.in_flight(started.handle));
  BOOST_TEST(vf.counters().completed == 1u);
}

BOOST_FIXTURE_TEST_CASE(shorter_read_reports_its_length, fixture) {
  std::array<std::byte, 16> destination{};
  const auto started = read(3, destination);
  const auto data = pattern(6, 9);
  // 26 bytes padded to 32: the wire carries no data length, so the 6 padding bytes arrive as data
  // (hv_pci_read_config_compl returns min(16, 12) bytes).
  expect_completion(vf.on_packet(read_reply(started.handle.transaction_id, ntstatus::success, data)), started.handle,
                    no_error, 12);
  BOOST_TEST(ints(std::span{destination}.first(6)) == ints(data), boost::test_tools::per_element());
  for (std::size_t i = 6; i < 16; ++i) BOOST_TEST(std::to_integer<unsigned>(destination[i]) == 0u);
}

BOOST_FIXTURE_TEST_CASE(more_data_than_requested_returns_the_requested_bytes, fixture) {
  std::array<std::byte, 8> destination{};
  const auto started = read(3, destination);
  const auto data = pattern(9, 3);
  expect_completion(vf.on_packet(read_reply(started.handle.transaction_id, ntstatus::success, data)), started.handle,
                    no_error, 8);
  BOOST_TEST(ints(destination) == ints(std::span{data}.first(8)), boost::test_tools::per_element());
  BOOST_TEST(vf.counters().protocol_violations == 0u);

  // Past a padded full block (152 bytes): taken as the Linux guest takes it (hv_pci_read_config_compl
  // copies min(requested, present)), not refused.
  std::array<std::byte, 128> full{};
  const auto second = read(3, full);
  expect_completion(vf.on_packet(raw_read_reply(second.handle.transaction_id, ntstatus::success, 133)), second.handle,
                    no_error, 128);
  for (std::byte b : full) BOOST_TEST(std::to_integer<unsigned>(b) == 0xD7u);
  BOOST_TEST(vf.counters().protocol_violations == 0u);
}

// Only STATUS_SUCCESS is success for a block completion: hv_read_config_block and hv_write_config_block
// fail with -EIO on any other status, and a read copies no data. A success-class status that is not 0
// (STATUS_PENDING, 0x40000000) completed as success, the read copying the padding or data into the
// caller's buffer and the write reporting bytes the PF never confirmed.
BOOST_FIXTURE_TEST_CASE(a_block_completion_with_a_status_other_than_success_is_a_device_error, fixture) {
  for (const auto status : {ntstatus::pending, static_cast<ntstatus>(0x00000001), static_cast<ntstatus>(0x40000000)}) {
    BOOST_TEST_CONTEXT("status " << std::hex << static_cast<std::uint32_t>(status)) {
      std::array<std::byte, 8> destination{};
      const auto started = read(3, destination);
      const auto read_done = vf.on_packet(raw_read_reply(started.handle.transaction_id, status, 8));
      expect_completion(read_done, started.handle, errc::device_error, 0);
      for (std::byte b : destination) BOOST_TEST(std::to_integer<unsigned>(b) == 0u);
      // Nor is the status handed on beside the failure: NT_SUCCESS would take it for success (the
      // error-path audit: an IOCTL completed with STATUS_PENDING).
      BOOST_TEST((read_done.completion.peer_status == ntstatus::success));
      const auto written = write(3, pattern(4, 1));
      const auto write_done = vf.on_packet(write_reply(written.handle.transaction_id, status));
      expect_completion(write_done, written.handle, errc::device_error, 0);
      BOOST_TEST((write_done.completion.peer_status == ntstatus::success));
    }
  }
  BOOST_TEST(vf.counters().protocol_violations == 0u);
}

BOOST_FIXTURE_TEST_CASE(success_without_data_is_empty_response, fixture) {
  std::array<std::byte, 8> destination{};
  const auto started = read(3, destination);
  expect_completion(vf.on_packet(raw_read_reply(started.handle.transaction_id, ntstatus::success, 0)), started.handle,
                    errc::empty_response, 0);
  const auto pending = read(3, destination);
  expect_completion(vf.on_packet(raw_read_reply(pending.handle.transaction_id, ntstatus::pending, 0)), pending.handle,
                    errc::device_error, 0);
}

BOOST_FIXTURE_TEST_CASE(peer_statuses_map_to_errc, fixture) {
  const std::array<std::pair<ntstatus, errc>, 6> cases{{
      {ntstatus::access_denied, errc::access_denied},
      {ntstatus::invalid_parameter, errc::invalid_argument},
      {ntstatus::device_not_ready, errc::peer_not_ready},
      {ntstatus::buffer_too_small, errc::buffer_too_small},
      {ntstatus::unsuccessful, errc::device_error},
      {static_cast<ntstatus>(0xC0001234u), errc::device_error},
  }};
  for (const auto& [status, error] : cases) {
    std::array<std::byte, 8> destination{};
    const auto r = read(3, destination);
    expect_completion(vf.on_packet(read_reply(r.handle.transaction_id, status, {})), r.handle, error, 0);
    // A failure that carries data anyway: the data is ignored.
    const auto r2 = read(3, destination);
    expect_completion(vf.on_packet(raw_read_reply(r2.handle.transaction_id, status, 4)), r2.handle, error, 0);
    for (std::byte b : destination) BOOST_TEST(std::to_integer<unsigned>(b) == 0u);
    const auto w = write(3, pattern(8, 0));
    expect_completion(vf.on_packet(write_reply(w.handle.transaction_id, status)), w.handle, error, 0);
  }
}

// A failed answer carries the PF's own status beside the errc it maps to (engine::completion::peer_status,
// what pf_status_report and the ioctl device hand back): for a read as for a write, and for a status no
// errc names on its own (device_error stands for many).
BOOST_FIXTURE_TEST_CASE(a_failed_answer_carries_the_pfs_own_status, fixture) {
  for (const ntstatus status : {ntstatus::access_denied, ntstatus::buffer_too_small, static_cast<ntstatus>(0xC0001234u)}) {
    std::array<std::byte, 8> destination{};
    const auto r = read(3, destination);
    const vf_event read_done = vf.on_packet(read_reply(r.handle.transaction_id, status, {}));
    BOOST_TEST(read_done.kind == vf_event_kind::completion);
    BOOST_TEST((read_done.completion.peer_status == status));
    const auto r2 = read(3, destination);
    const vf_event padded_done = vf.on_packet(raw_read_reply(r2.handle.transaction_id, status, 4));
    BOOST_TEST((padded_done.completion.peer_status == status));
    const auto w = write(3, pattern(8, 0));
    const vf_event write_done = vf.on_packet(write_reply(w.handle.transaction_id, status));
    BOOST_TEST(write_done.kind == vf_event_kind::completion);
    BOOST_TEST((write_done.completion.peer_status == status));
  }
}

// A PF that answered one request STATUS_NO_SUCH_DEVICE completed it with peer_gone, the error the
// endpoint gives once it knows the PF dead (and STATUS_IO_TIMEOUT, STATUS_CANCELLED,
// STATUS_DEVICE_NOT_READY, STATUS_REVISION_MISMATCH with this side's timeout, cancelled, busy and
// revision_mismatch). Each completes that operation only, with the PF's word for it; the operations beside
// it stay in flight and complete with their own answers.
BOOST_FIXTURE_TEST_CASE(a_pf_answering_no_such_device_fails_that_request_and_ends_no_other_wait, fixture) {
  const std::array<std::pair<ntstatus, errc>, 5> cases{{
      {ntstatus::no_such_device, errc::peer_no_such_device},
      {ntstatus::io_timeout, errc::peer_timeout},
      {ntstatus::cancelled, errc::peer_cancelled},
      {ntstatus::device_not_ready, errc::peer_not_ready},
      {ntstatus::revision_mismatch, errc::peer_revision_mismatch},
  }};
  for (const auto& [status, error] : cases) {
    BOOST_TEST_CONTEXT("status 0x" << std::hex << static_cast<std::uint32_t>(status)) {
      std::array<std::byte, 8> answered{}, beside{};
      const auto r = read(3, answered);
      const auto other = read(4, beside);
      const auto w = write(5, pattern(4, 0));
      expect_completion(vf.on_packet(read_reply(r.handle.transaction_id, status, {})), r.handle, error, 0);
      BOOST_TEST(vf.in_flight(other.handle));
      BOOST_TEST(vf.in_flight(w.handle));
      expect_completion(vf.on_packet(write_reply(w.handle.transaction_id, status)), w.handle, error, 0);
      BOOST_TEST(vf.in_flight(other.handle));
      const auto data = pattern(8, 0x40);
      expect_completion(vf.on_packet(read_reply(other.handle.transaction_id, ntstatus::success, data)), other.handle,
                        no_error, 8);
      BOOST_TEST(vf.in_flight_count() == 0u);
    }
  }
}

BOOST_FIXTURE_TEST_CASE(write_completes_with_its_length, fixture) {
  const auto started = write(5, pattern(12, 0));
  const vf_event event = vf.on_packet(write_reply(started.handle.transaction_id, ntstatus::success));
  expect_completion(event, started.handle, no_error, 12);
  BOOST_TEST((event.completion.kind == vf_op_kind::write));
}

BOOST_FIXTURE_TEST_CASE(reply_of_the_wrong_shape_fails_the_operation, fixture) {
  // A completion with no status for a write.
  const auto w = write(5, pattern(4, 0));
  std::vector<std::byte> no_status(16);
  hyperv::vmbus::store_descriptor(hyperv::vmbus::make_descriptor(hyperv::vmbus::packet_completion, 16, w.handle.transaction_id),
                                  no_status.data());
  expect_completion(vf.on_packet(no_status), w.handle, errc::protocol_violation, 0);
  // A completion with bytes after the status answers a write as the Linux guest takes it, which reads only
  // the status (hv_pci_write_config_compl): success.
  const auto w2 = write(5, pattern(4, 0));
  expect_completion(vf.on_packet(read_reply(w2.handle.transaction_id, ntstatus::success, pattern(8, 0))), w2.handle,
                    no_error, 4);
  // An in-band request carrying a live transaction ID answers nothing.
  std::array<std::byte, 8> destination{};
  const auto r = read(3, destination);
  std::array<std::byte, hyperv::max_frame_size> request{};
  auto size = hyperv::encode_read_request_frame(r.handle.transaction_id, {block_id{3}, own_slot, 8}, request);
  BOOST_REQUIRE(size.has_value());
  expect_dropped(vf.on_packet(std::span{request}.subspan(4, *size - 4)), vf_drop_reason::unexpected_message);
  BOOST_TEST(vf.in_flight(r.handle));
  BOOST_TEST(vf.counters().dropped_unexpected == 1u);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(vf_message_engine_lifecycle)

BOOST_FIXTURE_TEST_CASE(timeout_then_late_reply_is_dropped, fixture) {
  std::array<std::byte, 16> a{};
  std::array<std::byte, 16> b{};
  const auto first = read(3, a, 500);
  const auto second = read(4, b, 200);
  BOOST_TEST(vf.next_deadline() == 200u);
  BOOST_TEST(!vf.expire(199));
  expect_completion(vf.expire(200), second.handle, errc::timeout, 0);
  BOOST_TEST(!vf.expire(499));
  BOOST_TEST(vf.next_deadline() == 500u);
  expect_completion(vf.expire(10'000), first.handle, errc::timeout, 0);
  BOOST_TEST(!vf.expire(10'000));
  BOOST_TEST(vf.next_deadline() == no_deadline);
  BOOST_TEST(vf.counters().timed_out == 2u);

  expect_dropped(vf.on_packet(read_reply(second.handle.transaction_id, ntstatus::success, pattern(16, 1))),
                 vf_drop_reason::unknown_id);
  expect_dropped(vf.on_packet(read_reply(first.handle.transaction_id, ntstatus::success, pattern(16, 1))),
                 vf_drop_reason::unknown_id);
  for (std::byte x : a) BOOST_TEST(std::to_integer<unsigned>(x) == 0u);
  for (std::byte x : b) BOOST_TEST(std::to_integer<unsigned>(x) == 0u);
  BOOST_TEST(vf.counters().dropped_unknown_id == 2u);
}

BOOST_FIXTURE_TEST_CASE(equal_deadlines_expire_in_start_order, fixture) {
  std::array<std::byte, 4> d{};
  const auto x = read(1, d, 100);
  const auto y = write(2, pattern(4, 0), 100);
  const auto z = read(3, d, 100);
  expect_completion(vf.expire(100), x.handle, errc::timeout, 0);
  expect_completion(vf.expire(100), y.handle, errc::timeout, 0);
  expect_completion(vf.expire(100), z.handle, errc::timeout, 0);
  BOOST_TEST(!vf.expire(100));
}

// Start order, not slot order: once the slots wrap, an operation started later sits in a lower slot, and
// equal deadlines still expire in the order the operations were started.
BOOST_AUTO_TEST_CASE(equal_deadlines_expire_in_start_order_after_the_slots_wrap) {
  vf_message_engine<4> vf{own_slot};
  std::array<std::byte, hyperv::max_frame_size> frame{};
  std::array<std::byte, 4> d{};
  std::vector<vf_started> started;
  for (std::uint32_t block = 0; block < 4; ++block) {
    auto s = vf.start_read(block_id{block}, d, 100, frame);
    BOOST_REQUIRE(s.has_value());
    started.push_back(*s);
  }
  // The first completes; the fifth takes its slot (the lowest), started after the other three.
  expect_completion(vf.on_packet(read_reply(started[0].handle.transaction_id, ntstatus::success, pattern(4, 1))),
                    started[0].handle, no_error, 4);
  BOOST_REQUIRE(vf.release(started[0].handle));  // handed out: its slot may take the next operation
  auto fifth = vf.start_read(block_id{4}, d, 100, frame);
  BOOST_REQUIRE(fifth.has_value());
  started.push_back(*fifth);
  for (std::size_t i = 1; i < started.size(); ++i) expect_completion(vf.expire(100), started[i].handle, errc::timeout, 0);
  BOOST_TEST(!vf.expire(100));
}

BOOST_FIXTURE_TEST_CASE(cancel_then_late_reply_is_dropped, fixture) {
  std::array<std::byte, 16> destination{};
  const auto started = read(3, destination);
  expect_completion(vf.cancel(started.handle), started.handle, errc::cancelled, 0);
  BOOST_TEST(!vf.cancel(started.handle));
  BOOST_TEST(vf.in_flight_count() == 0u);
  expect_dropped(vf.on_packet(read_reply(started.handle.transaction_id, ntstatus::success, pattern(16, 1))),
                 vf_drop_reason::unknown_id);
  for (std::byte x : destination) BOOST_TEST(std::to_integer<unsigned>(x) == 0u);
  BOOST_TEST(vf.counters().cancelled == 1u);
  BOOST_TEST(vf.counters().dropped_unknown_id == 1u);
  BOOST_TEST(!vf.cancel(vf_op_handle{0}));
  BOOST_TEST(!vf.cancel(vf_op_handle{0xFFFFFFFFFFFFFFFFull}));
}

BOOST_FIXTURE_TEST_CASE(stale_and_unknown_ids_are_dropped_and_counted, fixture) {
  std::array<std::byte, 16> destination{};
  const auto started = read(3, destination);
  const std::uint64_t id = started.handle.transaction_id;
  const std::uint64_t slot = id & 0xFFFF;
  // The right slot with another generation, a slot past the table, a slot never used, ID 0.
  for (std::uint64_t bogus : {id + (std::uint64_t{1} << 16), id - (std::uint64_t{1} << 16), std::uint64_t{64},
                              std::uint64_t{0xFFFF}, ((slot + 1) % 64) | (std::uint64_t{1} << 16), std::uint64_t{0},
                              slot}) {
    expect_dropped(vf.on_packet(read_reply(bogus, ntstatus::success, pattern(16, 1))), vf_drop_reason::unknown_id);
    expect_dropped(vf.on_packet(write_reply(bogus, ntstatus::success)), vf_drop_reason::unknown_id);
  }
  BOOST_TEST(vf.counters().dropped_unknown_id == 14u);
  BOOST_TEST(vf.in_flight(started.handle));
  for (std::byte x : destination) BOOST_TEST(std::to_integer<unsigned>(x) == 0u);
  // The real reply still completes, once; a duplicate is stale.
  expect_completion(vf.on_packet(read_reply(id, ntstatus::success, pattern(16, 1))), started.handle, no_error, 16);
  expect_dropped(vf.on_packet(read_reply(id, ntstatus::success, pattern(16, 2))), vf_drop_reason::unknown_id);
  BOOST_TEST(ints(destination) == ints(pattern(16, 1)), boost::test_tools::per_element());
}

BOOST_FIXTURE_TEST_CASE(sixty_four_in_flight_then_busy, fixture) {
  std::array<std::array<std::byte, 8>, 65> destinations{};
  std::vector<vf_op_handle> handles;
  for (std::size_t i = 0; i < 64; ++i) handles.push_back(read(static_cast<std::uint32_t>(i), destinations[i]).handle);
  BOOST_TEST(vf.in_flight_count() == 64u);
  std::vector<std::uint64_t> slots;
  for (auto h : handles) slots.push_back(h.transaction_id & 0xFFFF);
  std::sort(slots.begin(), slots.end());
  for (std::size_t i = 0; i < 64; ++i) BOOST_TEST(slots[i] == i);

  frame.fill(std::byte{0x5A});
  BOOST_TEST(vf.start_read(block_id{1}, destinations[64], 10, frame).error() == errc::busy);
  BOOST_TEST(vf.start_write(block_id{1}, pattern(8, 0), 10, frame).error() == errc::busy);
  for (std::byte b : frame) BOOST_REQUIRE(std::to_integer<unsigned>(b) == 0x5Au);

  // A completion keeps its slot until it is released (reported): until then the table stays full.
  const vf_op_handle old = handles[17];
  expect_completion(vf.on_packet(read_reply(old.transaction_id, ntstatus::success, pattern(8, 1))), old, no_error, 8);
  BOOST_TEST(vf.in_flight_count() == 63u);
  BOOST_TEST(vf.slots_in_use() == 64u);
  BOOST_TEST(vf.start_read(block_id{1}, destinations[64], 10, frame).error() == errc::busy);
  BOOST_TEST(!vf.release(handles[18]));  // still in flight: nothing to release
  BOOST_TEST(vf.release(old));
  BOOST_TEST(!vf.release(old));  // once
  BOOST_TEST(vf.slots_in_use() == 63u);
  // Released, the slot takes the next operation with a new generation.
  const auto reused = read(1, destinations[64]);
  BOOST_TEST((reused.handle.transaction_id & 0xFFFF) == (old.transaction_id & 0xFFFF));
  BOOST_TEST(reused.handle.transaction_id == old.transaction_id + (std::uint64_t{1} << 16));
  expect_dropped(vf.on_packet(read_reply(old.transaction_id, ntstatus::success, pattern(8, 2))), vf_drop_reason::unknown_id);
  BOOST_TEST(vf.in_flight(reused.handle));
  for (std::byte b : destinations[64]) BOOST_TEST(std::to_integer<unsigned>(b) == 0u);
  BOOST_TEST(vf.start_read(block_id{1}, destinations[64], 10, frame).error() == errc::busy);
}

BOOST_FIXTURE_TEST_CASE(removal_completes_everything_in_start_order, fixture) {
  std::array<std::byte, 8> d{};
  const auto a = read(1, d);
  const auto b = write(2, pattern(4, 0));
  const auto c = read(3, d);
  // Free a's slot and start another: the table order is no longer the start order.
  expect_completion(vf.on_packet(read_reply(a.handle.transaction_id, ntstatus::success, pattern(8, 0))), a.handle,
                    no_error, 8);
  const auto e = read(4, d);
  const auto f = write(5, pattern(4, 0));
  std::vector<vf_completion> removed;
  BOOST_TEST(vf.remove([&](const vf_completion& done) { removed.push_back(done); }) == 4u);
  BOOST_REQUIRE(removed.size() == 4u);
  const std::array<vf_op_handle, 4> order{b.handle, c.handle, e.handle, f.handle};
  for (std::size_t i = 0; i < 4; ++i) {
    BOOST_TEST(removed[i].handle == order[i]);
    BOOST_TEST(removed[i].error == errc::vf_removed);
    BOOST_TEST(removed[i].bytes == 0u);
  }
  BOOST_TEST(vf.in_flight_count() == 0u);
  BOOST_TEST(vf.next_deadline() == no_deadline);
  BOOST_TEST(vf.counters().removed == 4u);
  BOOST_TEST(vf.remove([&](const vf_completion&) { BOOST_FAIL("nothing left"); }) == 0u);
  // A sink that starts a new operation (a driver retrying at once) does not have it removed too.
  std::array<std::byte, 8> retry_destination{};
  const auto pending = read(7, d);
  vf_op_handle retried{};
  BOOST_TEST(vf.remove([&](const vf_completion& done) {
    BOOST_TEST(done.handle == pending.handle);
    retried = read(8, retry_destination).handle;
  }) == 1u);
  BOOST_TEST(vf.in_flight(retried));
  BOOST_TEST(vf.cancel(retried).completion.error == errc::cancelled);
  // Replies for removed operations are stale; the engine keeps working.
  expect_dropped(vf.on_packet(read_reply(c.handle.transaction_id, ntstatus::success, pattern(8, 0))),
                 vf_drop_reason::unknown_id);
  const auto g = read(6, d);
  expect_completion(vf.on_packet(read_reply(g.handle.transaction_id, ntstatus::success, pattern(8, 5))), g.handle,
                    no_error, 8);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(vf_message_engine_invalidations)

BOOST_FIXTURE_TEST_CASE(invalidations_are_latched_and_coalesced, fixture) {
  const vf_event first = vf.on_packet(invalidate_packet(own_slot, 0x9));
  BOOST_TEST(first.kind == vf_event_kind::invalidated);
  BOOST_TEST(first.invalidated.bits() == 0x9u);
  BOOST_TEST(vf.on_packet(invalidate_packet(own_slot, 0x8000000000000002ull)).invalidated.bits() ==
             0x8000000000000002ull);
  BOOST_TEST(vf.pending_invalidations().bits() == 0x800000000000000Bull);
  BOOST_TEST(vf.take_invalidations().bits() == 0x800000000000000Bull);
  BOOST_TEST(vf.take_invalidations().empty());
  BOOST_TEST(vf.counters().invalidations == 2u);
  // Latched while operations come and go.
  BOOST_TEST(vf.on_packet(invalidate_packet(own_slot, 0x10)).kind == vf_event_kind::invalidated);
  std::array<std::byte, 4> d{};
  const auto r = read(4, d);
  BOOST_TEST(vf.remove([](const vf_completion&) {}) == 1u);
  (void)r;
  BOOST_TEST(vf.take_invalidations().bits() == 0x10u);
}

// A host that sends an invalidate longer than 32 bytes (a message extended at its end): the Linux guest
// drops an invalidate only below 32 bytes, and so does vpci now. It was dropped as malformed: the PF's
// doorbell lost, and the VF never re-read the block.
BOOST_FIXTURE_TEST_CASE(a_longer_invalidate_is_latched_not_dropped, fixture) {
  auto longer = invalidate_packet(own_slot, 0x5);
  longer.resize(40, std::byte{0xEE});
  le::store_u16(longer.data() + 4, 5);
  const vf_event event = vf.on_packet(longer);
  BOOST_TEST(event.kind == vf_event_kind::invalidated);
  BOOST_TEST(vf.take_invalidations().bits() == 0x5u);
  BOOST_TEST(vf.counters().dropped_malformed == 0u);
}

BOOST_FIXTURE_TEST_CASE(foreign_and_malformed_invalidations_are_dropped, fixture) {
  expect_dropped(vf.on_packet(invalidate_packet(wslot{2, 2}, 0x1)), vf_drop_reason::foreign_slot);
  expect_dropped(vf.on_packet(invalidate_packet(wslot{3, 1}, 0x1)), vf_drop_reason::foreign_slot);
  auto packet = invalidate_packet(own_slot, 0x1);
  auto short_packet = packet;
  short_packet.resize(31);
  le::store_u16(short_packet.data() + 4, 4);
  expect_dropped(vf.on_packet(short_packet), vf_drop_reason::malformed);
  auto reserved_bits = packet;
  le::store_u32(reserved_bits.data() + 20, 0x122);
  expect_dropped(vf.on_packet(reserved_bits), vf_drop_reason::malformed);
  auto bad_len8 = packet;
  le::store_u16(bad_len8.data() + 4, 5);
  expect_dropped(vf.on_packet(bad_len8), vf_drop_reason::malformed);
  auto unknown_type = packet;
  le::store_u32(unknown_type.data() + 16, 0x42490077);
  expect_dropped(vf.on_packet(unknown_type), vf_drop_reason::unexpected_message);
  auto other_packet_type = packet;
  le::store_u16(other_packet_type.data(), 7);
  expect_dropped(vf.on_packet(other_packet_type), vf_drop_reason::unexpected_message);
  expect_dropped(vf.on_packet(std::span<const std::byte>{packet}.first(15)), vf_drop_reason::malformed);
  // A descriptor whose payload offset is 24 (offset8 3) over an invalidate placed there: its type is read
  // where the descriptor says, but an invalidate starts right after the descriptor (Linux's
  // pci_incoming_message), so it is malformed, not a message of some other type.
  std::vector<std::byte> padded(packet.size() + 8);
  std::copy(packet.begin(), packet.begin() + 16, padded.begin());
  std::copy(packet.begin() + 16, packet.end(), padded.begin() + 24);
  le::store_u16(padded.data() + 2, 3);
  le::store_u16(padded.data() + 4, static_cast<std::uint16_t>(padded.size() / 8));
  expect_dropped(vf.on_packet(padded), vf_drop_reason::malformed);
  BOOST_TEST(vf.pending_invalidations().empty());
  BOOST_TEST(vf.counters().dropped_foreign_slot == 2u);
  BOOST_TEST(vf.counters().dropped_malformed == 5u);
  BOOST_TEST(vf.counters().dropped_unexpected == 2u);
  BOOST_TEST(vf.counters().invalidations == 0u);
}

BOOST_AUTO_TEST_SUITE_END()

// The channel's send queue: frames leave in start order; a frame cancelled before it was handed over
// never leaves, and the slot it frees takes a later operation's frame, which leaves after the older ones.
BOOST_AUTO_TEST_SUITE(vf_message_channel_sending)

using channel_type = vf_message_channel<4>;
using action_kind = channel_type::message_action::kind;

// The block IDs of the read requests in one send, in order.
std::vector<std::uint32_t> blocks_sent(std::span<const std::byte> batch) {
  std::vector<std::uint32_t> out;
  hyperv::frame_decoder decoder;
  while (!batch.empty()) {
    const auto step = decoder.feed(batch);
    batch = batch.subspan(step.consumed);
    BOOST_REQUIRE(step.error == no_error);
    if (step.packet.empty()) continue;
    const auto descriptor = hyperv::vmbus::decode_descriptor(step.packet);
    BOOST_REQUIRE(descriptor.has_value());
    const auto request = hyperv::decode_read_request(step.packet.subspan(std::size_t{descriptor->offset8} * 8));
    BOOST_REQUIRE(request.has_value());
    out.push_back(request->block.value());
  }
  return out;
}

BOOST_AUTO_TEST_CASE(frames_leave_in_start_order_and_a_cancelled_unsent_frame_never_leaves) {
  channel_type channel(own_slot, vf_negotiation_options{.enabled = false});
  std::array<std::array<std::byte, 8>, 5> destinations{};
  std::vector<vf_op_handle> handles;
  for (std::uint32_t block = 1; block <= 3; ++block) {
    auto started = channel.start_read(block_id{block}, destinations[block - 1], 1000);
    BOOST_REQUIRE(started.has_value());
    handles.push_back(*started);
  }
  BOOST_TEST(channel.cancel(handles[1], cancel_scope::without_effects));  // block 2, never handed over
  for (std::uint32_t block = 4; block <= 5; ++block)
    BOOST_REQUIRE(channel.start_read(block_id{block}, destinations[block - 1], 1000).has_value());
  const auto a = channel.step(0);
  BOOST_REQUIRE(a.what == action_kind::send);
  BOOST_TEST(blocks_sent(a.bytes) == (std::vector<std::uint32_t>{1, 3, 4, 5}), boost::test_tools::per_element());
  channel.on_sent();
  // Nothing is left to send: the channel waits for the earliest deadline.
  const auto b = channel.step(0);
  BOOST_TEST((b.what == action_kind::wait));
  BOOST_TEST(b.until == 1000u);
  // A frame started after the send leaves alone, in the next one.
  BOOST_TEST(channel.cancel(handles[0]));
  auto later = channel.start_read(block_id{6}, destinations[0], 2000);
  BOOST_REQUIRE(later.has_value());
  const auto c = channel.step(0);
  BOOST_REQUIRE(c.what == action_kind::send);
  BOOST_TEST(blocks_sent(c.bytes) == (std::vector<std::uint32_t>{6}), boost::test_tools::per_element());
}

// What a Hyper-V host sends on the vPCI channel besides the block messages can be longer than any of them:
// BUS_RELATIONS2 for 6 functions is 192 bytes (pci-hyperv.c grows its buffer to any packet). The stream
// framing took at most 168 bytes, so the channel died on such a packet with protocol_violation and the
// read in flight never completed with its answer. The packet is dropped as unexpected, and completions
// longer than 168 bytes answer their reads (the data is the first bytes after the status).
BOOST_AUTO_TEST_CASE(a_host_bus_relations2_of_192_bytes_is_dropped_and_the_reads_in_flight_complete) {
  namespace lp = vpci::test::linux_packets;
  const auto framed = [](const std::vector<std::byte>& packet) {
    std::vector<std::byte> frame(4);
    le::store_u32(frame.data(), static_cast<std::uint32_t>(packet.size()));
    frame.insert(frame.end(), packet.begin(), packet.end());
    return frame;
  };
  channel_type channel(own_slot, vf_negotiation_options{.enabled = false});
  std::array<std::byte, 16> small{};
  std::array<std::byte, 128> full{};
  auto first = channel.start_read(block_id{3}, small, 1000);
  auto second = channel.start_read(block_id{4}, full, 1000);
  BOOST_REQUIRE(first.has_value());
  BOOST_REQUIRE(second.has_value());
  BOOST_REQUIRE(channel.step(0).what == action_kind::send);
  channel.on_sent();

  const auto relations = lp::host_bus_relations2(6);
  BOOST_REQUIRE(relations.size() == 192u);
  // One byte at a time: the skipped bytes too.
  for (const std::byte b : framed(relations)) BOOST_REQUIRE(channel.on_received(std::span{&b, 1}) == no_error);
  BOOST_TEST(channel.engine().counters().dropped_unexpected == 1u);
  // 200 bytes of data after the status (a 220-byte packet, padded to 224): each read takes its length.
  const auto data = vpci::test::pattern(200, 0x40);
  BOOST_REQUIRE(channel.on_received(framed(lp::host_read_completion(first->transaction_id, 0, data))) == no_error);
  BOOST_REQUIRE(channel.on_received(framed(lp::host_read_completion(second->transaction_id, 0, data))) == no_error);
  BOOST_TEST(channel.receive_error() == no_error);
  for (const auto& [handle, destination] : {std::pair{*first, std::span<const std::byte>{small}},
                                            std::pair{*second, std::span<const std::byte>{full}}}) {
    const auto done = channel.step(0);
    BOOST_REQUIRE(done.what == action_kind::complete);
    BOOST_TEST(done.done.handle.transaction_id == handle.transaction_id);
    BOOST_TEST((done.done.error == no_error));
    BOOST_TEST(done.done.bytes == destination.size());
    BOOST_TEST(ints(destination) == ints(std::span{data}.first(destination.size())), boost::test_tools::per_element());
  }
}

// A stream that lost its framing is dead for good: the channel refuses every operation started after it
// with protocol_violation (refusal()), not only the ones in flight, and takes no more input. The refusal
// was held only by its first check; no test started an operation on a channel whose stream had broken.
BOOST_AUTO_TEST_CASE(a_channel_whose_stream_broke_refuses_every_later_operation) {
  channel_type channel(own_slot, vf_negotiation_options{.enabled = false});
  std::array<std::byte, 16> destination{};
  auto in_flight = channel.start_read(block_id{3}, destination, 1000);
  BOOST_REQUIRE(in_flight.has_value());
  BOOST_REQUIRE(channel.step(0).what == action_kind::send);
  channel.on_sent();
  const std::array<std::byte, 4> bad_length{std::byte{0xFF}, std::byte{0xFF}, std::byte{0x00}, std::byte{0x00}};
  BOOST_TEST((channel.on_received(bad_length) == errc::protocol_violation));
  BOOST_TEST((channel.receive_error() == errc::protocol_violation));
  BOOST_TEST((channel.refusal() == errc::protocol_violation));
  BOOST_TEST((channel.start_read(block_id{4}, destination, 1000).error() == errc::protocol_violation));
  const std::array<std::byte, 4> data{};
  BOOST_TEST((channel.start_write(block_id{4}, data, 1000).error() == errc::protocol_violation));
  // A well-formed answer afterwards is not taken either.
  std::vector<std::byte> answer(4);
  const auto packet = vpci::test::linux_packets::host_read_completion(in_flight->transaction_id, 0, vpci::test::pattern(16));
  le::store_u32(answer.data(), static_cast<std::uint32_t>(packet.size()));
  answer.insert(answer.end(), packet.begin(), packet.end());
  BOOST_TEST((channel.on_received(answer) == errc::protocol_violation));
}

// The earliest deadline is tracked as operations start and end, not rescanned on every step: it must
// still be exact after the operation holding it ends, and expiry must see every deadline that passed.
BOOST_AUTO_TEST_CASE(deadlines_stay_exact_as_operations_end_in_any_order) {
  channel_type channel(own_slot, vf_negotiation_options{.enabled = false});
  std::array<std::array<std::byte, 8>, 4> destinations{};
  const std::array<std::uint64_t, 4> deadlines{300, 100, 400, 100};
  std::array<vf_op_handle, 4> handles{};
  for (std::size_t i = 0; i < 4; ++i) {
    auto started = channel.start_read(block_id{static_cast<std::uint32_t>(i)}, destinations[i], deadlines[i]);
    BOOST_REQUIRE(started.has_value());
    handles[i] = *started;
  }
  BOOST_TEST(channel.next_deadline() == 100u);
  BOOST_TEST(channel.cancel(handles[1]));  // one of the two at 100
  BOOST_TEST(channel.next_deadline() == 100u);
  BOOST_TEST(channel.cancel(handles[3]));  // the other
  BOOST_TEST(channel.next_deadline() == 300u);
  const auto sent = channel.step(0);
  BOOST_REQUIRE(sent.what == action_kind::send);
  channel.on_sent();
  BOOST_TEST((channel.step(299).what == action_kind::wait));
  const auto expired = channel.step(300);
  BOOST_REQUIRE(expired.what == action_kind::complete);
  BOOST_TEST(expired.done.handle.transaction_id == handles[0].transaction_id);
  BOOST_TEST((expired.done.error == errc::timeout));
  BOOST_TEST(channel.next_deadline() == 400u);
  BOOST_TEST(channel.cancel(handles[2]));
  BOOST_TEST(channel.next_deadline() == no_deadline);
  BOOST_TEST((channel.step(1000).what == action_kind::idle));
}

BOOST_AUTO_TEST_SUITE_END()

// A slot is the operation's until its completion is handed out: 64 operations started and not yet
// reported, in flight or answered, are the whole table. An answer, an expiry or a cancellation that freed
// the slot at once let an operation started between two reports (a handler starting the next read) take
// the slot of a completion still waiting to be reported; the endpoint, which files operations by slot, then
// lost that completion and its caller waited for good.
BOOST_AUTO_TEST_SUITE(vf_message_channel_slots)

using full_channel = vf_message_channel<64>;
using full_action = full_channel::message_action::kind;

struct sixty_four_reads {
  full_channel channel{own_slot, vf_negotiation_options{.enabled = false}};
  std::array<std::array<std::byte, 8>, 128> destinations{};
  std::vector<vf_op_handle> handles;
  full_channel::message_action after_reports{};  // what step() asked for once nothing was left to report

  // `deadline(i)` is read i's deadline; every request is sent.
  template <class Deadline>
  explicit sixty_four_reads(Deadline deadline) {
    for (std::size_t i = 0; i < 64; ++i) {
      auto started = channel.start_read(block_id{static_cast<std::uint32_t>(i)}, destinations[i], deadline(i));
      BOOST_REQUIRE(started.has_value());
      handles.push_back(*started);
    }
    const auto sent = channel.step(0);
    BOOST_REQUIRE(sent.what == full_action::send);
    channel.on_sent();
  }
  sixty_four_reads() : sixty_four_reads([](std::size_t) { return std::uint64_t{1000}; }) {}

  // One chunk holding the answers to `which` (read i answers pattern(8, i)), in that order.
  std::vector<std::byte> answers(const std::vector<std::size_t>& which) const {
    std::vector<std::byte> chunk;
    for (std::size_t i : which) {
      std::array<std::byte, hyperv::max_response_frame_size> frame{};
      const auto size = hyperv::encode_read_response_frame(
          hyperv::read_response{handles[i].transaction_id, ntstatus::success, pattern(8, static_cast<unsigned>(i))}, frame);
      BOOST_REQUIRE(size.has_value());
      chunk.insert(chunk.end(), frame.begin(), frame.begin() + static_cast<std::ptrdiff_t>(*size));
    }
    return chunk;
  }

  // A 65th start is refused with busy and changes nothing: no handle, no frame to send.
  void expect_full() {
    BOOST_TEST(channel.engine().slots_in_use() == 64u);
    std::array<std::byte, 8> extra{};
    const auto refused = channel.start_read(block_id{99}, extra, 1000);
    BOOST_REQUIRE(!refused.has_value());
    BOOST_TEST((refused.error() == errc::busy));
    BOOST_TEST(channel.engine().slots_in_use() == 64u);
  }

  // Steps as the endpoint does, and after each report starts one new read as its handler would: the new
  // read takes the slot just reported, never one whose completion still waits, and the table is full
  // again. Returns the completions in the order they were reported; each started read is in `restarted`.
  std::vector<full_channel::message_completion> report_all_restarting(std::uint64_t now,
                                                                      std::vector<vf_op_handle>& restarted) {
    std::vector<full_channel::message_completion> reported;
    for (;;) {
      const auto a = channel.step(now);
      if (a.what != full_action::complete) {
        after_reports = a;
        break;
      }
      reported.push_back(a.done);
      BOOST_REQUIRE(restarted.size() < 64u);
      auto next = channel.start_read(block_id{static_cast<std::uint32_t>(100 + restarted.size())},
                                     destinations[64 + restarted.size()], now + 1000);
      BOOST_REQUIRE(next.has_value());
      BOOST_TEST(full_channel::slot_of(*next) == full_channel::slot_of(a.done.handle));
      restarted.push_back(*next);
      expect_full();
    }
    return reported;
  }

  // Every one of `expected` was reported exactly once, in that order, with `error` (and its 8 bytes on
  // success).
  void expect_reported_once(const std::vector<full_channel::message_completion>& reported,
                            const std::vector<std::size_t>& expected, errc error) {
    BOOST_REQUIRE(reported.size() == expected.size());
    for (std::size_t k = 0; k < expected.size(); ++k) {
      const std::size_t i = expected[k];
      BOOST_TEST(reported[k].handle == handles[i]);
      BOOST_TEST((reported[k].error == error));
      BOOST_TEST(reported[k].bytes == (error == no_error ? 8u : 0u));
      if (error == no_error)
        BOOST_TEST(ints(destinations[i]) == ints(pattern(8, static_cast<unsigned>(i))), boost::test_tools::per_element());
    }
  }
};

std::vector<std::size_t> reversed(std::size_t n, std::size_t skip = ~std::size_t{0}) {
  std::vector<std::size_t> out;
  for (std::size_t i = n; i-- > 0;)
    if (i != skip) out.push_back(i);
  return out;
}

BOOST_AUTO_TEST_CASE(answers_in_any_order_complete_every_pipelined_operation_exactly_once) {
  sixty_four_reads t;
  BOOST_TEST(t.channel.on_received(t.answers(reversed(64))) == no_error);
  BOOST_TEST(t.channel.engine().in_flight_count() == 0u);
  t.expect_full();  // all answered, none reported: no slot is free
  std::vector<vf_op_handle> restarted;
  const auto reported = t.report_all_restarting(0, restarted);
  t.expect_reported_once(reported, reversed(64), no_error);
  // The reads started between the reports went out and are answered in turn, each once.
  const auto sent = t.after_reports;
  BOOST_REQUIRE(sent.what == full_action::send);
  BOOST_TEST(sent.bytes.size() == 64 * hyperv::read_request_frame_size);
  t.channel.on_sent();
  t.handles = restarted;
  BOOST_TEST(t.channel.on_received(t.answers(reversed(64))) == no_error);
  std::vector<full_channel::message_completion> second;
  full_channel::message_completion c;
  while (t.channel.next_completion(c)) second.push_back(c);
  BOOST_REQUIRE(second.size() == 64u);
  for (std::size_t k = 0; k < 64; ++k) BOOST_TEST(second[k].handle == restarted[63 - k]);
  BOOST_TEST(t.channel.engine().slots_in_use() == 0u);
  BOOST_TEST(!t.channel.has_pending());
}

BOOST_AUTO_TEST_CASE(timeouts_free_no_slot_before_they_are_reported) {
  // Read i's deadline is 2000 - i: all expire at once, the last started first.
  sixty_four_reads t([](std::size_t i) { return std::uint64_t{2000 - i}; });
  BOOST_TEST((t.channel.step(1936).what == full_action::wait));
  std::vector<vf_op_handle> restarted;
  const auto reported = t.report_all_restarting(2000, restarted);
  t.expect_reported_once(reported, reversed(64), errc::timeout);
  BOOST_TEST(t.channel.engine().in_flight_count() == 64u);  // the reads started meanwhile
  // Late answers to the expired reads are dropped: they match nothing, not the reads now in their slots.
  BOOST_TEST(t.channel.on_received(t.answers(reversed(64))) == no_error);
  BOOST_TEST(t.channel.engine().counters().dropped_unknown_id == 64u);
  BOOST_TEST(t.channel.engine().in_flight_count() == 64u);
}

BOOST_AUTO_TEST_CASE(a_cancellation_frees_only_its_own_slot_while_answers_wait_to_be_reported) {
  sixty_four_reads t;
  // Every read but 5 is answered, in reverse, in one chunk; nothing is reported yet.
  BOOST_TEST(t.channel.on_received(t.answers(reversed(64, 5))) == no_error);
  t.expect_full();
  // The cancellation is reported by its return: its slot, and only its, takes the next read.
  BOOST_TEST(t.channel.cancel(t.handles[5]));
  BOOST_TEST(t.channel.engine().slots_in_use() == 63u);
  std::array<std::byte, 8> next_destination{};
  auto next = t.channel.start_read(block_id{77}, next_destination, 1000);
  BOOST_REQUIRE(next.has_value());
  BOOST_TEST(full_channel::slot_of(*next) == full_channel::slot_of(t.handles[5]));
  t.expect_full();
  std::vector<vf_op_handle> restarted{*next};
  const auto reported = t.report_all_restarting(0, restarted);
  t.expect_reported_once(reported, reversed(64, 5), no_error);
  // A cancellation while the table holds only completions waiting to be reported frees its slot too.
  BOOST_TEST(t.channel.cancel(restarted.back()));
  BOOST_TEST(t.channel.engine().slots_in_use() == 63u);
  BOOST_TEST(t.channel.start_read(block_id{78}, next_destination, 1000).has_value());
  t.expect_full();
}

BOOST_AUTO_TEST_SUITE_END()


BOOST_AUTO_TEST_SUITE(vf_message_engine_fuzz)

// Random and mutated packets against a table of reads whose destinations sit between guard bytes:
// nothing crashes, no byte outside a destination changes, and a destination changes only when its own
// operation completes successfully with that many bytes.
BOOST_AUTO_TEST_CASE(garbage_never_writes_outside_destinations) {
  std::mt19937 random{4242};
  constexpr std::size_t ops = 16;
  constexpr std::size_t stride = 160;
  std::vector<std::byte> memory(ops * stride, std::byte{0xC3});
  vf_message_engine<ops> vf{own_slot};
  std::array<std::byte, hyperv::max_frame_size> frame{};
  std::array<vf_op_handle, ops> handles{};
  std::array<std::size_t, ops> lengths{};
  std::size_t completions = 0;

  auto start = [&](std::size_t i) {
    lengths[i] = std::uniform_int_distribution<std::size_t>{1, 128}(random);
    std::fill_n(memory.begin() + static_cast<std::ptrdiff_t>(i * stride), stride, std::byte{0xC3});
    auto started = vf.start_read(block_id{static_cast<std::uint32_t>(i)}, std::span{memory}.subspan(i * stride + 16, lengths[i]),
                                 1'000'000, frame);
    BOOST_REQUIRE(started.has_value());
    handles[i] = started->handle;
  };
  for (std::size_t i = 0; i < ops; ++i) start(i);

  for (int round = 0; round < 20000; ++round) {
    std::vector<std::byte> packet;
    const int kind = round % 4;
    if (kind == 0) {
      packet.resize(std::uniform_int_distribution<std::size_t>{0, 170}(random));
      for (auto& b : packet) b = static_cast<std::byte>(random());
    } else {
      // A plausible reply to a random live operation, then a few random byte flips.
      const std::size_t target = std::uniform_int_distribution<std::size_t>{0, ops - 1}(random);
      const std::size_t n = std::uniform_int_distribution<std::size_t>{0, 129}(random);
      packet = raw_read_reply(handles[target].transaction_id, kind == 1 ? ntstatus::success : static_cast<ntstatus>(random()), n);
      for (auto& b : std::span{packet}.subspan(20)) b = static_cast<std::byte>(random());
      const int flips = std::uniform_int_distribution<int>{0, 3}(random);
      for (int f = 0; f < flips && !packet.empty(); ++f)
        packet[std::uniform_int_distribution<std::size_t>{0, packet.size() - 1}(random)] = static_cast<std::byte>(random());
    }
    const auto before = memory;
    const vf_event event = vf.on_packet(packet);
    std::size_t changed_op = ops;
    if (event.kind == vf_event_kind::completion) {
      for (std::size_t i = 0; i < ops; ++i)
        if (handles[i] == event.completion.handle) changed_op = i;
      BOOST_REQUIRE(changed_op < ops);
      BOOST_REQUIRE(event.completion.bytes <= lengths[changed_op]);
      if (event.completion.error != no_error) BOOST_REQUIRE(event.completion.bytes == 0u);
      ++completions;
    }
    for (std::size_t i = 0; i < memory.size(); ++i) {
      if (memory[i] == before[i]) continue;
      const std::size_t op = i / stride;
      const std::size_t at = i % stride;
      BOOST_REQUIRE(op == changed_op);
      BOOST_REQUIRE(at >= 16u);
      BOOST_REQUIRE(at < 16 + event.completion.bytes);
    }
    if (changed_op < ops) {
      BOOST_REQUIRE(vf.release(event.completion.handle));
      start(changed_op);
    }
  }
  BOOST_TEST(completions > 100u);
  const auto& c = vf.counters();
  BOOST_TEST(c.dropped_malformed + c.dropped_unknown_id + c.dropped_unexpected + c.dropped_foreign_slot + completions ==
             20000u - c.invalidations);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(vf_message_engine_handles)

// release() of a stale handle, one whose slot now holds a later operation's unreleased completion, is
// refused and changes nothing: freeing the slot would let a new operation take the place of a completion
// the caller has not reported yet.
BOOST_AUTO_TEST_CASE(a_stale_handle_never_releases_the_slots_next_completion) {
  vf_message_engine<1> vf{own_slot};
  std::array<std::byte, hyperv::max_frame_size> frame{};
  std::array<std::byte, 8> d{};
  auto a = vf.start_read(block_id{1}, d, 1000, frame);
  BOOST_REQUIRE(a.has_value());
  (void)vf.cancel(a->handle);
  BOOST_REQUIRE(vf.release(a->handle));
  auto b = vf.start_read(block_id{2}, d, 1000, frame);
  BOOST_REQUIRE(b.has_value());
  BOOST_REQUIRE((b->handle.transaction_id & 0xFFFF) == (a->handle.transaction_id & 0xFFFF));
  (void)vf.cancel(b->handle);  // b's completion now awaits its release
  BOOST_TEST(!vf.release(a->handle));  // stale: a's completion was released long ago
  BOOST_TEST(vf.slots_in_use() == 1u);
  BOOST_TEST((vf.start_read(block_id{3}, d, 1000, frame).error() == errc::busy));
  BOOST_TEST(vf.release(b->handle));
}

// A read whose frame the stream already took is still cancellable without effects (a read has no effect
// on the PF's blocks, vf_operation.hpp); a sent write is not.
BOOST_AUTO_TEST_CASE(a_sent_read_is_cancellable_without_effects_a_sent_write_is_not) {
  vf_message_channel<4> channel(own_slot, vf_negotiation_options{.enabled = false});
  std::array<std::byte, 8> d{};
  auto r = channel.start_read(block_id{1}, d, 1000);
  auto w = channel.start_write(block_id{2}, pattern(8, 3), 1000);
  BOOST_REQUIRE(r.has_value());
  BOOST_REQUIRE(w.has_value());
  const auto a = channel.step(0);
  BOOST_REQUIRE((a.what == vf_message_channel<4>::message_action::kind::send));
  channel.on_sent();
  BOOST_TEST(!channel.is_unsent(*r));
  BOOST_TEST(!channel.cancel(*w, cancel_scope::without_effects));
  BOOST_TEST(channel.engine().in_flight(*w));
  BOOST_TEST(channel.cancel(*r, cancel_scope::without_effects));
  BOOST_TEST(!channel.engine().in_flight(*r));
}

// A reply whose ID differs from a live operation's only above bit 31 names no operation: dropped as
// unknown_id, the operation and its destination untouched.
BOOST_FIXTURE_TEST_CASE(a_reply_whose_id_differs_only_above_bit_31_is_dropped, fixture) {
  std::array<std::byte, 16> destination{};
  const auto started = read(3, destination);
  const std::uint64_t id = started.handle.transaction_id;
  expect_dropped(vf.on_packet(read_reply(id + (std::uint64_t{1} << 32), ntstatus::success, pattern(16, 1))),
                 vf_drop_reason::unknown_id);
  BOOST_TEST(vf.in_flight(started.handle));
  for (std::byte x : destination) BOOST_TEST(std::to_integer<unsigned>(x) == 0u);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE_END()  // vf_message_engine_test
