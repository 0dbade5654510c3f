// Hyper-V vPCI block messages: byte-exact encodes (protocol-facts section 4), decode round trips, every
// bad input of the foundation issue with its exact error and untouched output, and a robustness sweep.
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <ostream>
#include <random>
#include <span>
#include <vector>

#include <vpci/core.hpp>

#include "test_support.hpp"

using namespace vpci;
using namespace vpci::hyperv;

namespace {

using namespace vpci::test;

void put_u16(bytes& b, std::size_t at, std::uint16_t v) { le::store_u16(b.data() + at, v); }
void put_u32(bytes& b, std::size_t at, std::uint32_t v) { le::store_u32(b.data() + at, v); }

bool within(std::span<const std::byte> inner, std::span<const std::byte> outer) {
  if (inner.empty()) return true;
  const std::less_equal<const std::byte*> le_ptr;
  return le_ptr(outer.data(), inner.data()) && le_ptr(inner.data() + inner.size(), outer.data() + outer.size());
}

// Sentinels and equality for the decoded types that carry spans.
struct read_response_value {
  std::uint64_t transaction_id;
  ntstatus status;
  const std::byte* data;
  std::size_t size;
  read_response_value() = default;
  read_response_value(std::uint64_t id, ntstatus s, const std::byte* d, std::size_t n)
      : transaction_id(id), status(s), data(d), size(n) {}
  read_response_value(const read_response& r)  // NOLINT: implicit on purpose, for check_rejected
      : transaction_id(r.transaction_id), status(r.status), data(r.data.data()), size(r.data.size()) {}
  friend bool operator==(const read_response_value&, const read_response_value&) = default;
};
struct write_request_value {
  std::uint32_t block;
  wslot slot;
  const std::byte* data;
  std::size_t size;
  write_request_value() = default;
  write_request_value(std::uint32_t b, wslot s, const std::byte* d, std::size_t n) : block(b), slot(s), data(d), size(n) {}
  write_request_value(const write_request& r)  // NOLINT: implicit on purpose
      : block(r.block.value()), slot(r.slot), data(r.data.data()), size(r.data.size()) {}
  friend bool operator==(const write_request_value&, const write_request_value&) = default;
};

const std::byte sentinel_storage[1]{};
const read_request read_sentinel{block_id{0xDEAD}, wslot{9, 3}, 77};
const read_response_value response_sentinel{0xFEEDu, ntstatus::not_found, sentinel_storage, 1};
const write_request_value write_sentinel{0xBEEF, wslot{4, 4}, sentinel_storage, 1};
const write_completion completion_sentinel{0xC0FFEE, ntstatus::cancelled};
const invalidate invalidate_sentinel{wslot{30, 6}, block_mask{0x1234}};
const vmbus::packet_descriptor descriptor_sentinel{1, 2, 3, 4, 5};

auto dec_read_request = [](std::span<const std::byte> in) { return decode_read_request(in); };
auto dec_read_response = [](std::span<const std::byte> in) { return decode_read_response(in); };
auto dec_write_request = [](std::span<const std::byte> in) { return decode_write_request(in); };
auto dec_write_completion = [](std::span<const std::byte> in) { return decode_write_completion(in); };
auto dec_invalidate = [](std::span<const std::byte> in) { return decode_invalidate(in); };
auto dec_descriptor = [](std::span<const std::byte> in) { return vmbus::decode_descriptor(in); };

// Valid packets used by several tests.
bytes read_request_packet() {  // block 3, 16 bytes, slot dev 2 func 1
  return make_bytes({0x09, 0x00, 0x49, 0x42, 0x03, 0x00, 0x00, 0x00, 0x22, 0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00});
}
bytes read_response_packet(std::size_t data_size, ntstatus status = ntstatus::success,
                           std::uint64_t id = 0x1122334455667788) {
  bytes out(read_response::header_size + data_size);
  const auto d = pattern(data_size, 0x30);
  auto r = encode(read_response{id, status, d}, out);
  BOOST_REQUIRE(r.has_value());
  return out;
}
bytes write_request_packet(std::size_t data_size, bool tail) {
  bytes out(write_request::header_size + data_size + (tail ? 4 : 0));
  const auto d = pattern(data_size, 0x50);
  auto r = encode(write_request{block_id{5}, wslot{1, 2}, d}, out, tail);
  BOOST_REQUIRE(r.has_value());
  return out;
}
bytes write_completion_packet() {
  bytes out(write_completion::wire_size);
  BOOST_REQUIRE(encode(write_completion{42, ntstatus::access_denied}, out).has_value());
  return out;
}
bytes invalidate_packet() {
  bytes out(invalidate::wire_size);
  BOOST_REQUIRE(encode(invalidate{wslot{7, 5}, block_mask{0x8000000000000009}}, out).has_value());
  return out;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(hyperv_constants)

BOOST_AUTO_TEST_CASE(message_types_and_versions) {
  BOOST_TEST(pci_message_base == 0x42490000u);
  BOOST_TEST(static_cast<std::uint32_t>(message_type::read_block) == 0x42490009u);
  BOOST_TEST(static_cast<std::uint32_t>(message_type::write_block) == 0x4249000Au);
  BOOST_TEST(static_cast<std::uint32_t>(message_type::invalidate_block) == 0x42490012u);
  BOOST_TEST(static_cast<std::uint32_t>(message_type::query_protocol_version) == 0x42490013u);
  BOOST_TEST(protocol_version_1_1 == 0x10001u);
  BOOST_TEST(protocol_version_1_2 == 0x10002u);
  BOOST_TEST(protocol_version_1_3 == 0x10003u);
  BOOST_TEST(protocol_version_1_4 == 0x10004u);
  BOOST_TEST(protocol_version(0xFFFF, 0xFFFF) == 0xFFFFFFFFu);
  BOOST_TEST(vmbus::packet_data_inband == 6u);
  BOOST_TEST(vmbus::packet_completion == 11u);
  BOOST_TEST(vmbus::descriptor_size == 16u);
  BOOST_TEST(vmbus::max_packet_size == 148u);
  BOOST_TEST(read_request::wire_size == 16u);
  BOOST_TEST(read_response::header_size == 20u);
  BOOST_TEST(write_request::header_size == 16u);
  BOOST_TEST(write_request::linux_reserved_tail == 4u);
  BOOST_TEST(write_completion::wire_size == 20u);
  BOOST_TEST(invalidate::wire_size == 32u);
}

BOOST_AUTO_TEST_CASE(peek_message_type_knows_the_four_types) {
  for (auto t : {message_type::read_block, message_type::write_block, message_type::invalidate_block,
                 message_type::query_protocol_version}) {
    bytes in(4);
    put_u32(in, 0, static_cast<std::uint32_t>(t));
    auto r = peek_message_type(in);
    BOOST_TEST(r.has_value());
    BOOST_TEST((*r == t));
  }
  for (std::uint32_t raw : {0u, 0x42490000u, 0x42490001u, 0x42490008u, 0x4249000Bu, 0x42490014u, 0x09004942u,
                            0xFFFFFFFFu}) {
    bytes in(8);
    put_u32(in, 0, raw);
    auto r = peek_message_type(in);
    BOOST_TEST((r.error() == errc::unknown_message_type));
  }
  for (std::size_t n = 0; n < 4; ++n) {
    const auto in = read_request_packet();
    BOOST_TEST((peek_message_type(std::span{in}.first(n)).error() == errc::truncated_message));
  }
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(hyperv_wslot)

BOOST_AUTO_TEST_CASE(device_bits_4_0_function_bits_7_5) {
  BOOST_TEST(*encode_wslot(wslot{0, 0}) == 0x00u);
  BOOST_TEST(*encode_wslot(wslot{2, 1}) == 0x22u);
  BOOST_TEST(*encode_wslot(wslot{31, 0}) == 0x1Fu);
  BOOST_TEST(*encode_wslot(wslot{0, 7}) == 0xE0u);
  BOOST_TEST(*encode_wslot(wslot{31, 7}) == 0xFFu);
  BOOST_TEST(*encode_wslot(wslot{1, 2}) == 0x41u);
  static_assert(*encode_wslot(wslot{2, 1}) == 0x22);
}

BOOST_AUTO_TEST_CASE(every_slot_round_trips) {
  for (std::uint8_t dev = 0; dev < 32; ++dev) {
    for (std::uint8_t fn = 0; fn < 8; ++fn) {
      auto raw = encode_wslot(wslot{dev, fn});
      BOOST_TEST_REQUIRE(raw.has_value());
      BOOST_TEST(*raw == static_cast<std::uint32_t>(dev | (fn << 5)));
      auto back = decode_wslot(*raw);
      BOOST_TEST_REQUIRE(back.has_value());
      BOOST_TEST((*back == wslot{dev, fn}));
    }
  }
}

BOOST_AUTO_TEST_CASE(encoder_refuses_device_32_and_function_8) {
  for (wslot bad : {wslot{32, 0}, wslot{0, 8}, wslot{32, 8}, wslot{255, 0}, wslot{0, 255}}) {
    auto r = encode_wslot(bad);
    BOOST_TEST(!r.has_value());
    BOOST_TEST((r.error() == errc::invalid_argument));
  }
}

BOOST_AUTO_TEST_CASE(decoder_rejects_reserved_bits) {
  const wslot sentinel{3, 3};
  for (unsigned bit = 8; bit < 32; ++bit) {
    wslot out = sentinel;
    auto r = decode_wslot((std::uint32_t{1} << bit) | 0x22u);
    if (r) out = *r;
    BOOST_TEST((r.error() == errc::malformed_message));
    BOOST_TEST((out == sentinel));
  }
  BOOST_TEST((decode_wslot(0xFFFFFFFFu).error() == errc::malformed_message));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(hyperv_vmbus_descriptor)

BOOST_AUTO_TEST_CASE(descriptor_layout) {
  bytes out(16, std::byte{0xAA});
  vmbus::store_descriptor(vmbus::packet_descriptor{0x0102, 0x0304, 0x0506, 0x0708, 0x1122334455667788}, out.data());
  BOOST_TEST(octets(out) == (std::vector<unsigned>{0x02, 0x01, 0x04, 0x03, 0x06, 0x05, 0x08, 0x07, 0x88, 0x77, 0x66,
                                                   0x55, 0x44, 0x33, 0x22, 0x11}));
}

BOOST_AUTO_TEST_CASE(make_descriptor_rounds_len8_up) {
  const auto d20 = vmbus::make_descriptor(vmbus::packet_completion, 20, 9);
  BOOST_TEST(d20.type == 11u);
  BOOST_TEST(d20.offset8 == 2u);
  BOOST_TEST(d20.len8 == 3u);
  BOOST_TEST(d20.flags == 0u);
  BOOST_TEST(d20.transaction_id == 9u);
  BOOST_TEST(vmbus::make_descriptor(6, 16, 0).len8 == 2u);
  BOOST_TEST(vmbus::make_descriptor(6, 17, 0).len8 == 3u);
  BOOST_TEST(vmbus::make_descriptor(6, 24, 0).len8 == 3u);
  BOOST_TEST(vmbus::make_descriptor(6, 148, 0).len8 == 19u);
  BOOST_TEST(vmbus::make_descriptor(6, 32, 0, vmbus::flag_completion_requested).flags == 1u);
}

BOOST_AUTO_TEST_CASE(decode_round_trip) {
  bytes packet(25, std::byte{0});
  vmbus::store_descriptor(vmbus::make_descriptor(11, 25, 0xABCDEF), packet.data());
  auto d = vmbus::decode_descriptor(packet);
  BOOST_TEST_REQUIRE(d.has_value());
  BOOST_TEST((*d == vmbus::packet_descriptor{11, 2, 4, 0, 0xABCDEF}));
}

BOOST_AUTO_TEST_CASE(truncated_descriptor) {
  bytes packet(16, std::byte{0});
  vmbus::store_descriptor(vmbus::make_descriptor(6, 16, 1), packet.data());
  BOOST_TEST(vmbus::decode_descriptor(packet).has_value());
  for (std::size_t n = 0; n < 16; ++n)
    check_rejected(dec_descriptor, std::span{packet}.first(n), errc::truncated_message, descriptor_sentinel);
}

BOOST_AUTO_TEST_CASE(offset8_outside_the_packet_is_malformed) {
  bytes packet(32, std::byte{0});
  auto with_offset8 = [&](std::uint16_t offset8) {
    vmbus::store_descriptor(vmbus::packet_descriptor{6, offset8, 4, 0, 0}, packet.data());
    return std::span<const std::byte>{packet};
  };
  // Inside the descriptor (0, 8 bytes), past the end (40 bytes, 0xFFFF * 8).
  for (std::uint16_t bad : {std::uint16_t{0}, std::uint16_t{1}, std::uint16_t{5}, std::uint16_t{0xFFFF}})
    check_rejected(dec_descriptor, with_offset8(bad), errc::malformed_message, descriptor_sentinel);
  BOOST_TEST(vmbus::decode_descriptor(with_offset8(2)).has_value());
  BOOST_TEST(vmbus::decode_descriptor(with_offset8(3)).has_value());
  BOOST_TEST(vmbus::decode_descriptor(with_offset8(4)).has_value());  // payload starts at the end: empty
}

BOOST_AUTO_TEST_CASE(len8_disagreeing_with_the_packet_is_malformed) {
  bytes packet(25, std::byte{0});  // 25 bytes: len8 must be 4 (32 bytes)
  auto with_len8 = [&](std::uint16_t len8) {
    vmbus::store_descriptor(vmbus::packet_descriptor{11, 2, len8, 0, 0}, packet.data());
    return std::span<const std::byte>{packet};
  };
  for (std::uint16_t bad : {std::uint16_t{0}, std::uint16_t{2}, std::uint16_t{3}, std::uint16_t{5}, std::uint16_t{0xFFFF}})
    check_rejected(dec_descriptor, with_len8(bad), errc::malformed_message, descriptor_sentinel);
  BOOST_TEST(vmbus::decode_descriptor(with_len8(4)).has_value());
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(hyperv_read_request)

BOOST_AUTO_TEST_CASE(exact_bytes) {
  bytes out(16, std::byte{0xAA});
  auto n = encode(read_request{block_id{3}, wslot{2, 1}, 16}, out);
  BOOST_TEST_REQUIRE(n.has_value());
  BOOST_TEST(*n == 16u);
  BOOST_TEST(octets(out) == (std::vector<unsigned>{0x09, 0x00, 0x49, 0x42, 0x03, 0x00, 0x00, 0x00, 0x22, 0x00, 0x00,
                                                   0x00, 0x10, 0x00, 0x00, 0x00}));
  // A larger buffer: only the first 16 bytes are written.
  bytes big(20, std::byte{0xAA});
  BOOST_TEST(*encode(read_request{block_id{0xFFFFFFFF}, wslot{31, 7}, 128}, big) == 16u);
  BOOST_TEST(octets(big) == (std::vector<unsigned>{0x09, 0x00, 0x49, 0x42, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00,
                                                   0x00, 0x80, 0x00, 0x00, 0x00, 0xAA, 0xAA, 0xAA, 0xAA}));
}

BOOST_AUTO_TEST_CASE(constexpr_encode) {
  static constexpr auto encoded = [] {
    std::array<std::byte, 16> out{};
    (void)encode(read_request{block_id{3}, wslot{2, 1}, 16}, out);
    return out;
  }();
  static_assert(encoded[0] == std::byte{0x09} && encoded[3] == std::byte{0x42} && encoded[4] == std::byte{0x03} &&
                encoded[8] == std::byte{0x22} && encoded[12] == std::byte{0x10});
  static_assert(decode_read_request(encoded)->bytes_requested == 16);
  BOOST_TEST(octets(encoded) == octets(read_request_packet()));
}

BOOST_AUTO_TEST_CASE(round_trip) {
  for (std::uint32_t length : {1u, 16u, 127u, 128u}) {
    const read_request m{block_id{length * 3}, wslot{static_cast<std::uint8_t>(length % 32), 6}, length};
    bytes out(16);
    BOOST_TEST_REQUIRE(encode(m, out).has_value());
    auto back = decode_read_request(out);
    BOOST_TEST_REQUIRE(back.has_value());
    BOOST_TEST((*back == m));
  }
  auto fixed = decode_read_request(read_request_packet());
  BOOST_TEST_REQUIRE(fixed.has_value());
  BOOST_TEST((*fixed == read_request{block_id{3}, wslot{2, 1}, 16}));
}

BOOST_AUTO_TEST_CASE(encoder_refuses_bad_arguments_and_writes_nothing) {
  for (std::uint32_t bad : {0u, 129u, 4096u, 0xFFFFFFFFu})
    check_refused(read_request{block_id{3}, wslot{2, 1}, bad}, 16, errc::invalid_length);
  check_refused(read_request{block_id{3}, wslot{32, 0}, 16}, 16, errc::invalid_argument);
  check_refused(read_request{block_id{3}, wslot{0, 8}, 16}, 16, errc::invalid_argument);
  for (std::size_t size : {0u, 1u, 15u}) check_refused(read_request{block_id{3}, wslot{2, 1}, 16}, size, errc::buffer_too_small);
}

BOOST_AUTO_TEST_CASE(decoder_rejects_bad_lengths) {
  // bytes_requested 0, 129 and the largest u32 ("4 GiB"): the protocol's length limit.
  for (std::uint32_t bad : {0u, 129u, 0xFFFFFFFFu}) {
    auto packet = read_request_packet();
    put_u32(packet, 12, bad);
    check_rejected(dec_read_request, packet, errc::invalid_length, read_sentinel);
  }
}

BOOST_AUTO_TEST_CASE(decoder_rejects_bad_packets) {
  const auto good = read_request_packet();
  for (std::size_t n = 0; n < 16; ++n)
    check_rejected(dec_read_request, std::span{good}.first(n), errc::truncated_message, read_sentinel);
  auto longer = good;
  longer.push_back(std::byte{0});
  check_rejected(dec_read_request, longer, errc::malformed_message, read_sentinel);
  auto reserved = good;
  put_u32(reserved, 8, 0x122);
  check_rejected(dec_read_request, reserved, errc::malformed_message, read_sentinel);
  auto unknown = good;
  put_u32(unknown, 0, 0x42490077);
  check_rejected(dec_read_request, unknown, errc::unknown_message_type, read_sentinel);
  auto other = good;
  put_u32(other, 0, static_cast<std::uint32_t>(message_type::write_block));
  check_rejected(dec_read_request, other, errc::unknown_message_type, read_sentinel);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(hyperv_read_response)

BOOST_AUTO_TEST_CASE(exact_bytes) {
  const auto data = make_bytes({0xDE, 0xAD, 0xBE, 0xEF, 0x01});
  bytes out(25, std::byte{0xAA});
  auto n = encode(read_response{0x1122334455667788, ntstatus::success, data}, out);
  BOOST_TEST_REQUIRE(n.has_value());
  BOOST_TEST(*n == 25u);
  BOOST_TEST(octets(out) == (std::vector<unsigned>{0x0B, 0x00,  // type 11 (completion)
                                                   0x02, 0x00,  // offset8 2
                                                   0x04, 0x00,  // len8 ceil(25 / 8)
                                                   0x00, 0x00,  // flags
                                                   0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11,
                                                   0x00, 0x00, 0x00, 0x00,  // status
                                                   0xDE, 0xAD, 0xBE, 0xEF, 0x01}));
}

BOOST_AUTO_TEST_CASE(failure_carries_no_data) {
  bytes out(24, std::byte{0xAA});
  auto n = encode(read_response{7, ntstatus::invalid_parameter, {}}, out);
  BOOST_TEST_REQUIRE(n.has_value());
  BOOST_TEST(*n == 20u);
  BOOST_TEST(octets(out) == (std::vector<unsigned>{0x0B, 0x00, 0x02, 0x00, 0x03, 0x00, 0x00, 0x00, 0x07, 0, 0, 0, 0, 0,
                                                   0, 0, 0x0D, 0x00, 0x00, 0xC0, 0xAA, 0xAA, 0xAA, 0xAA}));
  auto back = decode_read_response(std::span{out}.first(20));
  BOOST_TEST_REQUIRE(back.has_value());
  BOOST_TEST(back->transaction_id == 7u);
  BOOST_TEST((back->status == ntstatus::invalid_parameter));
  BOOST_TEST(back->data.empty());
}

BOOST_AUTO_TEST_CASE(full_block_round_trip) {
  const auto packet = read_response_packet(128);
  BOOST_TEST(packet.size() == 148u);
  BOOST_TEST(le::load_u16(packet.data() + 4) == 19u);
  auto back = decode_read_response(packet);
  BOOST_TEST_REQUIRE(back.has_value());
  BOOST_TEST(back->transaction_id == 0x1122334455667788u);
  BOOST_TEST((back->status == ntstatus::success));
  BOOST_TEST(back->data.size() == 128u);
  BOOST_TEST(back->data.data() == packet.data() + 20);
  BOOST_TEST(octets(back->data) == octets(pattern(128, 0x30)));
  for (std::size_t size : {1u, 4u, 5u, 12u, 127u}) {
    const auto p = read_response_packet(size);
    auto r = decode_read_response(p);
    BOOST_TEST_REQUIRE(r.has_value());
    BOOST_TEST(r->data.size() == size);
    BOOST_TEST(le::load_u16(p.data() + 4) == (20 + size + 7) / 8);
  }
}

BOOST_AUTO_TEST_CASE(encoder_refuses_bad_arguments_and_writes_nothing) {
  const auto blk = pattern(129);
  const std::span<const std::byte> all{blk};
  check_refused(read_response{1, ntstatus::success, {}}, 148, errc::invalid_length);
  check_refused(read_response{1, ntstatus::success, all}, 160, errc::invalid_length);
  check_refused(read_response{1, ntstatus::unsuccessful, all.first(1)}, 148, errc::invalid_length);
  check_refused(read_response{1, ntstatus::success, all.first(5)}, 24, errc::buffer_too_small);
  check_refused(read_response{1, ntstatus::success, all.first(5)}, 0, errc::buffer_too_small);
  check_refused(read_response{1, ntstatus::unsuccessful, {}}, 19, errc::buffer_too_small);
}

BOOST_AUTO_TEST_CASE(shorter_than_20_bytes_is_truncated) {
  const auto good = read_response_packet(4);
  for (std::size_t n = 0; n < 20; ++n)
    check_rejected(dec_read_response, std::span{good}.first(n), errc::truncated_message, response_sentinel);
}

BOOST_AUTO_TEST_CASE(success_without_data_is_empty_response) {
  bytes packet(20, std::byte{0});
  vmbus::store_descriptor(vmbus::make_descriptor(vmbus::packet_completion, 20, 5), packet.data());
  check_rejected(dec_read_response, packet, errc::empty_response, response_sentinel);
  // The same packet with a failure status is a valid failure reply.
  put_u32(packet, 16, static_cast<std::uint32_t>(ntstatus::not_found));
  auto r = decode_read_response(packet);
  BOOST_TEST_REQUIRE(r.has_value());
  BOOST_TEST((r->status == ntstatus::not_found));
}

BOOST_AUTO_TEST_CASE(more_than_128_bytes_of_data_is_malformed) {
  bytes packet(149, std::byte{0});
  vmbus::store_descriptor(vmbus::make_descriptor(vmbus::packet_completion, 149, 5), packet.data());
  check_rejected(dec_read_response, packet, errc::malformed_message, response_sentinel);
}

BOOST_AUTO_TEST_CASE(wrong_packet_type_is_unknown_message_type) {
  auto packet = read_response_packet(8);
  put_u16(packet, 0, vmbus::packet_data_inband);
  check_rejected(dec_read_response, packet, errc::unknown_message_type, response_sentinel);
}

BOOST_AUTO_TEST_CASE(len8_and_offset8_outside_the_packet_are_malformed) {
  const auto good = read_response_packet(5);  // 25 bytes, len8 4
  for (std::uint16_t len8 : {std::uint16_t{0}, std::uint16_t{3}, std::uint16_t{5}, std::uint16_t{0xFFFF}}) {
    auto packet = good;
    put_u16(packet, 4, len8);
    check_rejected(dec_read_response, packet, errc::malformed_message, response_sentinel);
  }
  for (std::uint16_t offset8 : {std::uint16_t{0}, std::uint16_t{1}, std::uint16_t{4}, std::uint16_t{0xFFFF}}) {
    auto packet = good;
    put_u16(packet, 2, offset8);
    check_rejected(dec_read_response, packet, errc::malformed_message, response_sentinel);
  }
  // A packet cut short keeps its len8, which then points past the end.
  check_rejected(dec_read_response, std::span{good}.first(24), errc::malformed_message, response_sentinel);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(hyperv_write_request)

BOOST_AUTO_TEST_CASE(exact_bytes_without_tail) {
  const auto data = make_bytes({0xDE, 0xAD, 0xBE});
  bytes out(19, std::byte{0xAA});
  auto n = encode(write_request{block_id{5}, wslot{31, 7}, data}, out);
  BOOST_TEST_REQUIRE(n.has_value());
  BOOST_TEST(*n == 19u);
  BOOST_TEST(octets(out) == (std::vector<unsigned>{0x0A, 0x00, 0x49, 0x42, 0x05, 0x00, 0x00, 0x00, 0xFF, 0x00, 0x00,
                                                   0x00, 0x03, 0x00, 0x00, 0x00, 0xDE, 0xAD, 0xBE}));
}

BOOST_AUTO_TEST_CASE(exact_bytes_with_linux_tail) {
  const auto data = make_bytes({0xDE, 0xAD, 0xBE});
  bytes out(24, std::byte{0xAA});
  auto n = encode(write_request{block_id{5}, wslot{2, 1}, data}, out, true);
  BOOST_TEST_REQUIRE(n.has_value());
  BOOST_TEST(*n == 23u);
  BOOST_TEST(octets(out) == (std::vector<unsigned>{0x0A, 0x00, 0x49, 0x42, 0x05, 0x00, 0x00, 0x00, 0x22, 0x00, 0x00,
                                                   0x00, 0x03, 0x00, 0x00, 0x00, 0xDE, 0xAD, 0xBE, 0x00, 0x00, 0x00,
                                                   0x00, 0xAA}));
}

BOOST_AUTO_TEST_CASE(round_trip_with_and_without_tail) {
  for (bool tail : {false, true}) {
    for (std::size_t size : {1u, 3u, 64u, 128u}) {
      const auto packet = write_request_packet(size, tail);
      BOOST_TEST(packet.size() == 16 + size + (tail ? 4u : 0u));
      auto back = decode_write_request(packet);
      BOOST_TEST_REQUIRE(back.has_value());
      BOOST_TEST(back->block.value() == 5u);
      BOOST_TEST((back->slot == wslot{1, 2}));
      BOOST_TEST(back->data.size() == size);
      BOOST_TEST(back->data.data() == packet.data() + 16);
      BOOST_TEST(octets(back->data) == octets(pattern(size, 0x50)));
    }
  }
  // The reserved tail need not be zero.
  auto packet = write_request_packet(2, true);
  packet[18] = std::byte{0xFF};
  BOOST_TEST(decode_write_request(packet).has_value());
}

BOOST_AUTO_TEST_CASE(encoder_refuses_bad_arguments_and_writes_nothing) {
  const auto blk = pattern(129);
  const std::span<const std::byte> all{blk};
  check_refused(write_request{block_id{1}, wslot{0, 0}, {}}, 160, errc::invalid_length);
  check_refused(write_request{block_id{1}, wslot{0, 0}, all}, 160, errc::invalid_length);
  check_refused(write_request{block_id{1}, wslot{0, 0}, all}, 160, errc::invalid_length, true);
  check_refused(write_request{block_id{1}, wslot{32, 0}, all.first(4)}, 160, errc::invalid_argument);
  check_refused(write_request{block_id{1}, wslot{0, 8}, all.first(4)}, 160, errc::invalid_argument);
  check_refused(write_request{block_id{1}, wslot{0, 0}, all.first(4)}, 19, errc::buffer_too_small);
  // Room for the data but not for the Linux tail.
  check_refused(write_request{block_id{1}, wslot{0, 0}, all.first(4)}, 20, errc::buffer_too_small, true);
  check_refused(write_request{block_id{1}, wslot{0, 0}, all.first(4)}, 23, errc::buffer_too_small, true);
}

BOOST_AUTO_TEST_CASE(byte_count_0_129_or_4gib_is_invalid_length) {
  for (std::uint32_t count : {0u, 129u, 0xFFFFFFFFu}) {
    // Even with 129 bytes actually present.
    auto packet = write_request_packet(128, false);
    packet.push_back(std::byte{0});
    put_u32(packet, 12, count);
    check_rejected(dec_write_request, packet, errc::invalid_length, write_sentinel);
  }
}

BOOST_AUTO_TEST_CASE(byte_count_beyond_the_bytes_present_is_truncated) {
  auto packet = write_request_packet(8, false);
  for (std::uint32_t count : {9u, 12u, 13u, 128u}) {
    put_u32(packet, 12, count);
    check_rejected(dec_write_request, packet, errc::truncated_message, write_sentinel);
  }
  const auto good = write_request_packet(8, false);
  for (std::size_t n = 0; n < 24; ++n)
    check_rejected(dec_write_request, std::span{good}.first(n), errc::truncated_message, write_sentinel);
}

BOOST_AUTO_TEST_CASE(extra_bytes_other_than_the_linux_tail_are_malformed) {
  auto packet = write_request_packet(8, false);
  for (std::size_t extra : {1u, 2u, 3u, 5u, 8u}) {
    auto longer = packet;
    longer.resize(packet.size() + extra);
    check_rejected(dec_write_request, longer, errc::malformed_message, write_sentinel);
  }
}

BOOST_AUTO_TEST_CASE(bad_slot_and_type) {
  auto reserved = write_request_packet(8, false);
  put_u32(reserved, 8, 0x80000000u);
  check_rejected(dec_write_request, reserved, errc::malformed_message, write_sentinel);
  auto unknown = write_request_packet(8, false);
  put_u32(unknown, 0, 0x12345678u);
  check_rejected(dec_write_request, unknown, errc::unknown_message_type, write_sentinel);
  auto read = write_request_packet(8, false);
  put_u32(read, 0, static_cast<std::uint32_t>(message_type::read_block));
  check_rejected(dec_write_request, read, errc::unknown_message_type, write_sentinel);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(hyperv_write_completion)

BOOST_AUTO_TEST_CASE(exact_bytes_and_round_trip) {
  bytes out(20, std::byte{0xAA});
  auto n = encode(write_completion{0x0102030405060708, ntstatus::access_denied}, out);
  BOOST_TEST_REQUIRE(n.has_value());
  BOOST_TEST(*n == 20u);
  BOOST_TEST(octets(out) == (std::vector<unsigned>{0x0B, 0x00, 0x02, 0x00, 0x03, 0x00, 0x00, 0x00, 0x08, 0x07, 0x06,
                                                   0x05, 0x04, 0x03, 0x02, 0x01, 0x22, 0x00, 0x00, 0xC0}));
  auto back = decode_write_completion(out);
  BOOST_TEST_REQUIRE(back.has_value());
  BOOST_TEST((*back == write_completion{0x0102030405060708, ntstatus::access_denied}));
  BOOST_TEST_REQUIRE(encode(write_completion{1, ntstatus::success}, out).has_value());
  BOOST_TEST(octets(std::span{out}.subspan(16)) == (std::vector<unsigned>{0, 0, 0, 0}));
  BOOST_TEST((decode_write_completion(out)->status == ntstatus::success));
}

BOOST_AUTO_TEST_CASE(encoder_refuses_small_buffer) {
  for (std::size_t size : {0u, 16u, 19u}) check_refused(write_completion{1, ntstatus::success}, size, errc::buffer_too_small);
}

BOOST_AUTO_TEST_CASE(decoder_rejects_bad_packets) {
  const auto good = write_completion_packet();
  for (std::size_t n = 0; n < 20; ++n)
    check_rejected(dec_write_completion, std::span{good}.first(n), errc::truncated_message, completion_sentinel);
  auto longer = good;
  longer.push_back(std::byte{0});
  check_rejected(dec_write_completion, longer, errc::malformed_message, completion_sentinel);
  auto inband = good;
  put_u16(inband, 0, vmbus::packet_data_inband);
  check_rejected(dec_write_completion, inband, errc::unknown_message_type, completion_sentinel);
  for (std::uint16_t len8 : {std::uint16_t{2}, std::uint16_t{4}, std::uint16_t{0xFFFF}}) {
    auto packet = good;
    put_u16(packet, 4, len8);
    check_rejected(dec_write_completion, packet, errc::malformed_message, completion_sentinel);
  }
  for (std::uint16_t offset8 : {std::uint16_t{0}, std::uint16_t{1}, std::uint16_t{3}, std::uint16_t{0xFFFF}}) {
    auto packet = good;
    put_u16(packet, 2, offset8);
    check_rejected(dec_write_completion, packet, errc::malformed_message, completion_sentinel);
  }
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(hyperv_invalidate)

BOOST_AUTO_TEST_CASE(exact_bytes_and_round_trip) {
  bytes out(32, std::byte{0xAA});
  auto n = encode(invalidate{wslot{2, 1}, block_mask{0x8000000000000005}}, out);
  BOOST_TEST_REQUIRE(n.has_value());
  BOOST_TEST(*n == 32u);
  BOOST_TEST(octets(out) == (std::vector<unsigned>{0x06, 0x00, 0x02, 0x00, 0x04, 0x00, 0x00, 0x00,  // inband, 32 bytes
                                                   0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,  // transaction 0
                                                   0x12, 0x00, 0x49, 0x42,                          // type
                                                   0x22, 0x00, 0x00, 0x00,                          // wslot
                                                   0x05, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80}));
  auto back = decode_invalidate(out);
  BOOST_TEST_REQUIRE(back.has_value());
  BOOST_TEST((*back == invalidate{wslot{2, 1}, block_mask{0x8000000000000005}}));
  BOOST_TEST_REQUIRE(encode(invalidate{wslot{31, 7}, block_mask::all()}, out).has_value());
  BOOST_TEST((decode_invalidate(out)->mask == block_mask::all()));
}

BOOST_AUTO_TEST_CASE(block_id_64_cannot_enter_a_mask) {
  block_mask mask{0x3};
  BOOST_TEST((mask.set(block_id{64}) == errc::invalid_block_id));
  BOOST_TEST(mask.bits() == 0x3u);
  auto built = block_mask::of({block_id{0}, block_id{63}, block_id{64}});
  block_mask out{0x77};
  if (built) out = *built;
  BOOST_TEST((built.error() == errc::invalid_block_id));
  BOOST_TEST(out.bits() == 0x77u);
  auto ok = block_mask::of({block_id{0}, block_id{63}});
  BOOST_TEST_REQUIRE(ok.has_value());
  BOOST_TEST(ok->bits() == 0x8000000000000001u);
}

BOOST_AUTO_TEST_CASE(encoder_refuses_bad_arguments_and_writes_nothing) {
  check_refused(invalidate{wslot{32, 0}, block_mask{1}}, 32, errc::invalid_argument);
  check_refused(invalidate{wslot{0, 8}, block_mask{1}}, 32, errc::invalid_argument);
  for (std::size_t size : {0u, 16u, 31u}) check_refused(invalidate{wslot{1, 1}, block_mask{1}}, size, errc::buffer_too_small);
}

BOOST_AUTO_TEST_CASE(shorter_than_32_bytes_is_truncated) {
  const auto good = invalidate_packet();
  for (std::size_t n = 0; n < 32; ++n)
    check_rejected(dec_invalidate, std::span{good}.first(n), errc::truncated_message, invalidate_sentinel);
}

BOOST_AUTO_TEST_CASE(decoder_rejects_bad_packets) {
  const auto good = invalidate_packet();
  auto longer = good;
  longer.resize(40);
  put_u16(longer, 4, 5);  // even with a len8 matching the longer packet
  check_rejected(dec_invalidate, longer, errc::malformed_message, invalidate_sentinel);
  auto completion = good;
  put_u16(completion, 0, vmbus::packet_completion);
  check_rejected(dec_invalidate, completion, errc::unknown_message_type, invalidate_sentinel);
  for (std::uint32_t type : {0u, 0x42490011u, 0x42490013u, static_cast<std::uint32_t>(message_type::read_block)}) {
    auto packet = good;
    put_u32(packet, 16, type);
    check_rejected(dec_invalidate, packet, errc::unknown_message_type, invalidate_sentinel);
  }
  auto reserved = good;
  put_u32(reserved, 20, 0x0100u);
  check_rejected(dec_invalidate, reserved, errc::malformed_message, invalidate_sentinel);
  // offset8 3 points into the message, 4 at its end, 5 past it; 1 into the descriptor.
  for (std::uint16_t offset8 : {std::uint16_t{0}, std::uint16_t{1}, std::uint16_t{3}, std::uint16_t{4},
                                std::uint16_t{5}, std::uint16_t{0xFFFF}}) {
    auto packet = good;
    put_u16(packet, 2, offset8);
    check_rejected(dec_invalidate, packet, errc::malformed_message, invalidate_sentinel);
  }
  for (std::uint16_t len8 : {std::uint16_t{0}, std::uint16_t{3}, std::uint16_t{5}, std::uint16_t{0xFFFF}}) {
    auto packet = good;
    put_u16(packet, 4, len8);
    check_rejected(dec_invalidate, packet, errc::malformed_message, invalidate_sentinel);
  }
  // Flags and transaction ID are not checked: a host may set them.
  auto flagged = good;
  put_u16(flagged, 6, 1);
  BOOST_TEST(decode_invalidate(flagged).has_value());
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(hyperv_robustness)

namespace {

// Runs every decoder on `in` and checks the invariants of whatever they accept.
void decode_everything(std::span<const std::byte> in) {
  if (auto r = decode_read_request(in)) {
    BOOST_TEST(in.size() == 16u);
    BOOST_TEST(valid_block_length(r->bytes_requested));
    BOOST_TEST(r->slot.device < 32u);
    BOOST_TEST(r->slot.function < 8u);
    bytes again(16);
    BOOST_TEST_REQUIRE(encode(*r, again).has_value());
    BOOST_TEST(octets(again) == octets(in));  // everything accepted re-encodes to the same bytes
  }
  if (auto r = decode_read_response(in)) {
    BOOST_TEST(within(r->data, in));
    BOOST_TEST(r->data.size() <= max_block_size);
    BOOST_TEST(r->data.size() == in.size() - 20);
    BOOST_TEST((r->status != ntstatus::success || !r->data.empty()));
  }
  if (auto r = decode_write_request(in)) {
    BOOST_TEST(within(r->data, in));
    BOOST_TEST(valid_block_length(r->data.size()));
    BOOST_TEST(r->data.data() == in.data() + 16);
    BOOST_TEST((in.size() == 16 + r->data.size() || in.size() == 20 + r->data.size()));
    bytes again(16 + r->data.size());
    BOOST_TEST_REQUIRE(encode(*r, again).has_value());
    BOOST_TEST(octets(again) == octets(in.first(again.size())));
  }
  if (auto r = decode_write_completion(in)) {
    BOOST_TEST(in.size() == 20u);
    BOOST_TEST(le::load_u32(in.data() + 16) == static_cast<std::uint32_t>(r->status));
  }
  if (auto r = decode_invalidate(in)) {
    BOOST_TEST(in.size() == 32u);
    BOOST_TEST(r->slot.device < 32u);
    BOOST_TEST(r->slot.function < 8u);
    BOOST_TEST(r->mask.bits() == le::load_u64(in.data() + 24));
  }
  if (auto d = vmbus::decode_descriptor(in)) {
    BOOST_TEST(std::size_t{d->offset8} * 8 >= 16u);
    BOOST_TEST(std::size_t{d->offset8} * 8 <= in.size());
    BOOST_TEST(std::size_t{d->len8} * 8 >= in.size());
    BOOST_TEST(std::size_t{d->len8} * 8 - in.size() < 8u);
  }
  if (peek_message_type(in).has_value()) BOOST_TEST(in.size() >= 4u);
  (void)windows::decode_read_block_input(in);
  if (auto w = windows::decode_write_block_input(in)) {
    BOOST_TEST(within(w->data, in));
    BOOST_TEST(valid_block_length(w->data.size()));
  }
  (void)windows::decode_invalidate_block_output(in);
}

// Copies the input into an allocation of exactly its size, so ASan flags any read past its end.
void decode_exact(std::span<const std::byte> in) {
  auto copy = std::make_unique<std::byte[]>(in.size());
  std::copy(in.begin(), in.end(), copy.get());
  decode_everything(std::span<const std::byte>{copy.get(), in.size()});
}

}  // namespace

BOOST_AUTO_TEST_CASE(every_prefix_of_every_valid_packet) {
  const std::vector<bytes> packets{read_request_packet(),        read_response_packet(1),
                                   read_response_packet(4),      read_response_packet(128),
                                   read_response_packet(0, ntstatus::unsuccessful),
                                   write_request_packet(1, false), write_request_packet(128, false),
                                   write_request_packet(7, true), write_request_packet(128, true),
                                   write_completion_packet(),    invalidate_packet()};
  for (const auto& packet : packets) {
    for (std::size_t n = 0; n <= packet.size(); ++n) {
      decode_exact(std::span{packet}.first(n));
    }
  }
}

BOOST_AUTO_TEST_CASE(prefixes_fail_with_the_exact_error) {
  // Fixed-size messages: every proper prefix is truncated.
  const auto rq = read_request_packet();
  for (std::size_t n = 0; n < rq.size(); ++n)
    BOOST_TEST((decode_read_request(bytes(rq.begin(), rq.begin() + static_cast<std::ptrdiff_t>(n))).error() ==
                errc::truncated_message));
  // Write request with the Linux tail: truncated up to the data's end, then tail-less OK, then malformed.
  const auto wr = write_request_packet(7, true);  // 27 bytes
  for (std::size_t n = 0; n <= wr.size(); ++n) {
    auto r = decode_write_request(bytes(wr.begin(), wr.begin() + static_cast<std::ptrdiff_t>(n)));
    BOOST_TEST_CONTEXT("prefix " << n) {
      if (n < 23) {
        BOOST_TEST((r.error() == errc::truncated_message));
      } else if (n == 23 || n == 27) {
        BOOST_TEST(r.has_value());
      } else {
        BOOST_TEST((r.error() == errc::malformed_message));
      }
    }
  }
  // Read response of 25 bytes (len8 4): shorter packets either lack the header or disagree with len8.
  const auto rs = read_response_packet(5);
  for (std::size_t n = 0; n < rs.size(); ++n) {
    auto r = decode_read_response(bytes(rs.begin(), rs.begin() + static_cast<std::ptrdiff_t>(n)));
    BOOST_TEST((r.error() == (n < 20 ? errc::truncated_message : errc::malformed_message)));
  }
}

BOOST_AUTO_TEST_CASE(random_bytes_and_mutations) {
  std::mt19937 rng{20240601};
  std::uniform_int_distribution<unsigned> byte_dist{0, 255};
  std::uniform_int_distribution<std::size_t> size_dist{0, 160};
  const std::vector<bytes> seeds{read_request_packet(), read_response_packet(5), read_response_packet(128),
                                 write_request_packet(9, false), write_request_packet(9, true),
                                 write_completion_packet(), invalidate_packet()};
  std::size_t accepted = 0;
  for (int i = 0; i < 20000; ++i) {
    bytes in;
    if (i % 2 == 0) {
      // Pure noise.
      in.resize(size_dist(rng));
      for (auto& b : in) b = static_cast<std::byte>(byte_dist(rng));
    } else {
      // A valid packet with a few bytes changed and possibly a different length: reaches the deeper checks.
      in = seeds[static_cast<std::size_t>(i / 2) % seeds.size()];
      const unsigned flips = byte_dist(rng) % 4;
      // Each draw is its own statement, so the sequence is the same on every compiler.
      for (unsigned f = 0; f < flips && !in.empty(); ++f) {
        const std::size_t at = byte_dist(rng) % in.size();
        in[at] = static_cast<std::byte>(byte_dist(rng));
      }
      if (byte_dist(rng) % 4 == 0) {
        const std::size_t size = size_dist(rng);
        in.resize(size, static_cast<std::byte>(byte_dist(rng)));
      }
    }
    decode_exact(in);
    if (decode_read_request(in) || decode_read_response(in) || decode_write_request(in) ||
        decode_write_completion(in) || decode_invalidate(in))
      ++accepted;
  }
  // The mutations keep many packets valid: the invariants above were really exercised.
  BOOST_TEST_MESSAGE("accepted " << accepted << " of 20000 inputs");
  BOOST_TEST(accepted > 1000u);
}

BOOST_AUTO_TEST_SUITE_END()
