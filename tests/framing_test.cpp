// Stream framing of the Hyper-V binding: exact (padded) frame bytes, the incremental decoder under any
// chunking, the packets real VMBus peers send carried one byte at a time, packets longer than the
// protocol's (their first 168 bytes kept), a stream cut mid-frame, lengths outside 16..16384, garbage.
#include <boost/test/unit_test.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <ostream>
#include <random>
#include <span>
#include <string>
#include <vector>

#include <vpci/core.hpp>

#include "linux_packets.hpp"
#include "test_support.hpp"

BOOST_AUTO_TEST_SUITE(framing_test)

using namespace vpci;
using namespace vpci::hyperv;
namespace linux_packets = vpci::test::linux_packets;

namespace {

std::vector<std::byte> bytes(std::initializer_list<unsigned> values) {
  std::vector<std::byte> out;
  for (unsigned v : values) out.push_back(static_cast<std::byte>(v));
  return out;
}

// Byte vectors compared as integers, so a mismatch prints the values.
std::vector<unsigned> ints(std::span<const std::byte> in) {
  std::vector<unsigned> out;
  for (std::byte b : in) out.push_back(std::to_integer<unsigned>(b));
  return out;
}

std::vector<std::byte> frame_of(std::span<const std::byte> buffer, std::size_t size) {
  return {buffer.begin(), buffer.begin() + static_cast<std::ptrdiff_t>(size)};
}

// Feeds `stream` in chunks of `chunk` bytes and collects every packet.
struct decoded {
  std::vector<std::vector<std::byte>> packets;  // what the decoder kept of each
  std::vector<std::size_t> sizes;                 // each packet's whole length
  errc error{no_error};
  errc finish{no_error};
};
decoded decode_all(frame_decoder& decoder, std::span<const std::byte> stream, std::size_t chunk) {
  decoded out;
  while (!stream.empty()) {
    auto piece = stream.first(stream.size() < chunk ? stream.size() : chunk);
    stream = stream.subspan(piece.size());
    while (!piece.empty()) {
      auto step = decoder.feed(piece);
      piece = piece.subspan(step.consumed);
      if (step.error != no_error) {
        out.error = step.error;
        out.finish = decoder.finish();
        return out;
      }
      if (!step.packet.empty()) {
        out.packets.emplace_back(step.packet.begin(), step.packet.end());
        out.sizes.push_back(step.packet_size);
      }
    }
  }
  out.finish = decoder.finish();
  return out;
}

std::vector<std::byte> read_request_frame_block3() {
  std::array<std::byte, 64> buffer{};
  auto size = encode_read_request_frame(0x10001, read_request{block_id{3}, wslot{2, 1}, 16}, buffer);
  BOOST_REQUIRE(size.has_value());
  return frame_of(buffer, *size);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(framing_encode)

BOOST_AUTO_TEST_CASE(sizes) {
  BOOST_TEST(frame_prefix_size == 4u);
  BOOST_TEST(min_frame_packet_size == 16u);
  BOOST_TEST(max_frame_packet_size == 16384u);
  BOOST_TEST(max_frame_size == 172u);
  BOOST_TEST(read_request_frame_size == 36u);
  BOOST_TEST(write_completion_frame_size == 28u);
  BOOST_TEST(invalidate_frame_size == 36u);
  BOOST_TEST(version_request_frame_size == 28u);
  BOOST_TEST(version_response_frame_size == 28u);
  BOOST_TEST(max_response_frame_size == 156u);
  BOOST_TEST(write_request_frame_size(5, false) == 44u);   // 37 -> 40
  BOOST_TEST(write_request_frame_size(5, true) == 52u);    // 41 -> 48
  BOOST_TEST(write_request_frame_size(4, true) == 44u);    // 40, already aligned
  BOOST_TEST(write_request_frame_size(128, false) == 164u);
  BOOST_TEST(write_request_frame_size(128, true) == 172u);  // 164 -> 168
}

BOOST_AUTO_TEST_CASE(read_request_frame_is_byte_exact) {
  const auto frame = read_request_frame_block3();
  const auto expected = bytes({
      0x20, 0x00, 0x00, 0x00,                          // L = 32
      0x06, 0x00, 0x02, 0x00, 0x04, 0x00, 0x01, 0x00,  // inband, offset8 2, len8 4, completion requested
      0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00,  // transaction id 0x10001
      0x09, 0x00, 0x49, 0x42, 0x03, 0x00, 0x00, 0x00,  // READ_BLOCK, block 3
      0x22, 0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00,  // wslot dev 2 func 1, 16 bytes
  });
  BOOST_TEST(ints(frame) == ints(expected), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(write_request_frame_with_and_without_linux_tail) {
  std::array<std::byte, max_frame_size> buffer{};
  const std::array<std::byte, 5> data{std::byte{0xA1}, std::byte{0xA2}, std::byte{0xA3}, std::byte{0xA4}, std::byte{0xA5}};
  buffer.fill(std::byte{0xEE});
  auto plain = encode_write_request_frame(0x20003, write_request{block_id{7}, wslot{1, 0}, data}, buffer);
  BOOST_REQUIRE(plain.has_value());
  BOOST_TEST(*plain == 44u);
  const auto expected = bytes({
      0x28, 0x00, 0x00, 0x00,                          // L = 40: 16 + 16 + 5 = 37, padded
      0x06, 0x00, 0x02, 0x00, 0x05, 0x00, 0x01, 0x00,  // len8 5
      0x03, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00,  // transaction id 0x20003
      0x0A, 0x00, 0x49, 0x42, 0x07, 0x00, 0x00, 0x00,  // WRITE_BLOCK, block 7
      0x01, 0x00, 0x00, 0x00, 0x05, 0x00, 0x00, 0x00,  // wslot dev 1, 5 bytes
      0xA1, 0xA2, 0xA3, 0xA4, 0xA5,
      0x00, 0x00, 0x00,                                // padding
  });
  BOOST_TEST(ints(frame_of(buffer, *plain)) == ints(expected), boost::test_tools::per_element());
  BOOST_TEST(std::to_integer<unsigned>(buffer[44]) == 0xEEu);

  // As Linux sends it: 4 reserved bytes, 41 -> 48, the frame's content is linux_packets::linux_write_5.
  buffer.fill(std::byte{0xEE});
  auto tailed = encode_write_request_frame(7, write_request{block_id{7}, wslot{2, 1}, data}, buffer, true);
  BOOST_REQUIRE(tailed.has_value());
  BOOST_TEST(*tailed == 52u);
  BOOST_TEST(le::load_u32(buffer.data()) == 48u);
  BOOST_TEST(ints(std::span{buffer}.subspan(4, 48)) == ints(linux_packets::linux_write_5(true)),
             boost::test_tools::per_element());
  BOOST_TEST(std::to_integer<unsigned>(buffer[52]) == 0xEEu);
}

BOOST_AUTO_TEST_CASE(largest_frame_is_a_full_write_as_linux_sends_it) {
  std::array<std::byte, max_frame_size> buffer{};
  const auto data = vpci::test::pattern(128, 0x10);
  auto size = encode_write_request_frame(9, write_request{block_id{3}, wslot{2, 1}, data}, buffer, true);
  BOOST_REQUIRE(size.has_value());
  BOOST_TEST(*size == max_frame_size);
  BOOST_TEST(le::load_u32(buffer.data()) == 168u);
  BOOST_TEST(ints(std::span{buffer}.subspan(4)) == ints(linux_packets::linux_write_128()),
             boost::test_tools::per_element());
  frame_decoder decoder;
  auto result = decode_all(decoder, buffer, 1);
  BOOST_TEST(result.error == no_error);
  BOOST_REQUIRE(result.packets.size() == 1u);
  BOOST_TEST(result.packets[0].size() == 168u);
}

BOOST_AUTO_TEST_CASE(response_and_invalidate_frames) {
  std::array<std::byte, max_frame_size> buffer{};
  const std::array<std::byte, 3> data{std::byte{1}, std::byte{2}, std::byte{3}};
  buffer.fill(std::byte{0xEE});
  auto read = encode_read_response_frame(read_response{0x10001, ntstatus::success, data}, buffer);
  BOOST_REQUIRE(read.has_value());
  BOOST_TEST(*read == 28u);
  BOOST_TEST(le::load_u32(buffer.data()) == 24u);  // 20 + 3 = 23, padded
  BOOST_TEST(ints(std::span{buffer}.subspan(4, 24)) ==
                 ints(linux_packets::host_read_completion(0x10001, 0, vpci::test::make_bytes({1, 2, 3}))),
             boost::test_tools::per_element());
  auto decoded = decode_read_response(std::span<const std::byte>{buffer}.subspan(4, 24));
  BOOST_REQUIRE(decoded.has_value());
  BOOST_TEST(decoded->transaction_id == 0x10001u);
  BOOST_TEST(decoded->data.size() == 4u);
  BOOST_TEST(decoded->data_for(3).size() == 3u);

  auto write = encode_write_completion_frame(write_completion{0x30002, ntstatus::access_denied}, buffer);
  BOOST_REQUIRE(write.has_value());
  BOOST_TEST(*write == 28u);
  const auto expected_write = bytes({0x18, 0x00, 0x00, 0x00, 0x0B, 0x00, 0x02, 0x00, 0x03, 0x00, 0x00, 0x00,
                                     0x02, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x22, 0x00, 0x00, 0xC0,
                                     0x00, 0x00, 0x00, 0x00});
  BOOST_TEST(ints(frame_of(buffer, *write)) == ints(expected_write), boost::test_tools::per_element());

  auto version = encode_version_response_frame(version_response{0x30003, ntstatus::success, 0x10004}, buffer);
  BOOST_REQUIRE(version.has_value());
  BOOST_TEST(*version == 28u);
  const auto expected_version = bytes({0x18, 0x00, 0x00, 0x00, 0x0B, 0x00, 0x02, 0x00, 0x03, 0x00, 0x00, 0x00,
                                       0x03, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
                                       0x04, 0x00, 0x01, 0x00});
  BOOST_TEST(ints(frame_of(buffer, *version)) == ints(expected_version), boost::test_tools::per_element());

  auto inval = encode_invalidate_frame(invalidate{wslot{2, 1}, block_mask{0x8000000000000009ull}}, buffer);
  BOOST_REQUIRE(inval.has_value());
  BOOST_TEST(*inval == 36u);
  const auto expected_inval = bytes({0x20, 0x00, 0x00, 0x00, 0x06, 0x00, 0x02, 0x00, 0x04, 0x00, 0x00, 0x00,
                                     0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x12, 0x00, 0x49, 0x42,
                                     0x22, 0x00, 0x00, 0x00, 0x09, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80});
  BOOST_TEST(ints(frame_of(buffer, *inval)) == ints(expected_inval), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(encoders_refuse_and_write_nothing) {
  std::array<std::byte, 64> buffer{};
  buffer.fill(std::byte{0x5A});
  const auto untouched = [&] {
    for (std::byte b : buffer)
      if (b != std::byte{0x5A}) return false;
    return true;
  };
  BOOST_TEST(encode_read_request_frame(1, read_request{block_id{3}, wslot{2, 1}, 16}, std::span{buffer}.first(35)).error() ==
             errc::buffer_too_small);
  BOOST_TEST(encode_read_request_frame(1, read_request{block_id{3}, wslot{2, 1}, 16}, std::span{buffer}.first(3)).error() ==
             errc::buffer_too_small);
  BOOST_TEST(encode_read_request_frame(1, read_request{block_id{3}, wslot{2, 1}, 0}, buffer).error() == errc::invalid_length);
  BOOST_TEST(encode_read_request_frame(1, read_request{block_id{3}, wslot{2, 1}, 129}, buffer).error() == errc::invalid_length);
  BOOST_TEST(encode_read_request_frame(1, read_request{block_id{3}, wslot{32, 0}, 8}, buffer).error() == errc::invalid_argument);
  const std::array<std::byte, 8> data{};
  BOOST_TEST(encode_write_request_frame(1, write_request{block_id{3}, wslot{2, 1}, data}, std::span{buffer}.first(43)).error() ==
             errc::buffer_too_small);
  BOOST_TEST(encode_write_request_frame(1, write_request{block_id{3}, wslot{2, 1}, data}, std::span{buffer}.first(44), true).error() ==
             errc::buffer_too_small);
  BOOST_TEST(encode_write_request_frame(1, write_request{block_id{3}, wslot{2, 1}, data}, std::span{buffer}.first(51), true).error() ==
             errc::buffer_too_small);  // 48 bytes of packet fit, the padded 48 + 4 of frame do not
  BOOST_TEST(encode_write_request_frame(1, write_request{block_id{3}, wslot{2, 1}, {}}, buffer).error() == errc::invalid_length);
  BOOST_TEST(encode_write_request_frame(1, write_request{block_id{3}, wslot{2, 1}, std::span{data}.first(5)},
                                        std::span{buffer}.first(43))
                 .error() == errc::buffer_too_small);  // 37 bytes of packet fit, the padded 40 do not
  BOOST_TEST(encode_write_completion_frame(write_completion{1, ntstatus::success}, std::span{buffer}.first(27)).error() ==
             errc::buffer_too_small);
  BOOST_TEST(encode_version_request_frame(1, version_request{0x10004}, std::span{buffer}.first(27)).error() ==
             errc::buffer_too_small);
  BOOST_TEST(encode_version_response_frame(version_response{1, ntstatus::success, 0}, std::span{buffer}.first(27))
                 .error() == errc::buffer_too_small);
  BOOST_TEST(encode_read_response_frame(read_response{1, ntstatus::success, std::span{data}.first(5)},
                                        std::span{buffer}.first(35))
                 .error() == errc::buffer_too_small);
  BOOST_TEST(encode_invalidate_frame(invalidate{wslot{2, 8}, block_mask{1}}, buffer).error() == errc::invalid_argument);
  BOOST_TEST(encode_read_response_frame(read_response{1, ntstatus::success, {}}, buffer).error() == errc::invalid_length);
  BOOST_TEST(untouched());
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(framing_decode)

BOOST_AUTO_TEST_CASE(several_frames_in_one_chunk_and_one_byte_at_a_time) {
  std::vector<std::byte> stream;
  std::array<std::byte, max_frame_size> buffer{};
  std::vector<std::vector<std::byte>> expected;
  for (std::uint32_t i = 1; i <= 5; ++i) {
    std::array<std::byte, 128> data{};
    for (std::size_t j = 0; j < data.size(); ++j) data[j] = static_cast<std::byte>(i * 31 + j);
    auto size = encode_write_request_frame(i, write_request{block_id{i}, wslot{2, 1}, std::span{data}.first(i * 20)}, buffer,
                                           i % 2 == 0);
    BOOST_REQUIRE(size.has_value());
    expected.emplace_back(buffer.begin() + 4, buffer.begin() + static_cast<std::ptrdiff_t>(*size));
    stream.insert(stream.end(), buffer.begin(), buffer.begin() + static_cast<std::ptrdiff_t>(*size));
  }
  for (std::size_t chunk : {std::size_t{1}, std::size_t{2}, std::size_t{3}, std::size_t{7}, std::size_t{36},
                            std::size_t{169}, stream.size()}) {
    frame_decoder decoder;
    auto result = decode_all(decoder, stream, chunk);
    BOOST_TEST(result.error == no_error);
    BOOST_TEST(result.finish == no_error);
    BOOST_TEST(decoder.at_frame_boundary());
    BOOST_REQUIRE(result.packets.size() == expected.size());
    for (std::size_t i = 0; i < expected.size(); ++i) BOOST_TEST(ints(result.packets[i]) == ints(expected[i]), boost::test_tools::per_element());
  }
}

BOOST_AUTO_TEST_CASE(random_chunking_yields_the_same_packets) {
  std::vector<std::byte> stream;
  std::array<std::byte, max_frame_size> buffer{};
  for (std::uint64_t i = 0; i < 40; ++i) {
    auto size = encode_read_request_frame(i + 1, read_request{block_id{static_cast<std::uint32_t>(i)}, wslot{2, 1}, 16}, buffer);
    BOOST_REQUIRE(size.has_value());
    stream.insert(stream.end(), buffer.begin(), buffer.begin() + static_cast<std::ptrdiff_t>(*size));
  }
  std::mt19937 random{12345};
  frame_decoder decoder;
  std::size_t packets = 0;
  std::span<const std::byte> rest{stream};
  while (!rest.empty()) {
    std::size_t chunk = std::uniform_int_distribution<std::size_t>{1, 50}(random);
    auto piece = rest.first(chunk < rest.size() ? chunk : rest.size());
    rest = rest.subspan(piece.size());
    while (!piece.empty()) {
      auto step = decoder.feed(piece);
      BOOST_REQUIRE(step.error == no_error);
      BOOST_REQUIRE(step.consumed >= 1u);
      piece = piece.subspan(step.consumed);
      if (!step.packet.empty()) {
        BOOST_TEST(step.packet.size() == 32u);
        BOOST_TEST(le::load_u64(step.packet.data() + 8) == packets + 1);
        ++packets;
      }
    }
  }
  BOOST_TEST(packets == 40u);
  BOOST_TEST(decoder.finish() == no_error);
}

BOOST_AUTO_TEST_CASE(stream_cut_mid_frame) {
  const auto frame = read_request_frame_block3();
  for (std::size_t cut = 1; cut < frame.size(); ++cut) {
    frame_decoder decoder;
    auto result = decode_all(decoder, std::span{frame}.first(cut), 1);
    BOOST_TEST(result.packets.empty());
    BOOST_TEST(result.error == no_error);
    BOOST_TEST(!decoder.at_frame_boundary());
    BOOST_TEST(result.finish == errc::truncated_message);
  }
  // A whole frame followed by a cut one: the first packet is delivered, the end is still truncated.
  std::vector<std::byte> stream = frame;
  stream.insert(stream.end(), frame.begin(), frame.begin() + 10);
  frame_decoder decoder;
  auto result = decode_all(decoder, stream, stream.size());
  BOOST_TEST(result.packets.size() == 1u);
  BOOST_TEST(result.finish == errc::truncated_message);
  // The empty stream ends cleanly.
  frame_decoder fresh;
  BOOST_TEST(fresh.finish() == no_error);
  BOOST_TEST(fresh.feed({}).consumed == 0u);
}

BOOST_AUTO_TEST_CASE(lengths_outside_16_to_16384_are_sticky_errors) {
  for (std::uint32_t length : {0u, 1u, 15u, 16385u, 0x10000u, 0xFFFFFFFFu}) {
    std::array<std::byte, 4 + 200> stream{};
    le::store_u32(stream.data(), length);
    frame_decoder decoder;
    auto step = decoder.feed(stream);
    BOOST_TEST(step.error == errc::malformed_message);
    BOOST_TEST(step.consumed == 4u);
    BOOST_TEST(step.packet.empty());
    BOOST_TEST(decoder.error() == errc::malformed_message);
    // Sticky: valid frames afterwards are not trusted.
    const auto frame = read_request_frame_block3();
    auto again = decoder.feed(frame);
    BOOST_TEST(again.error == errc::malformed_message);
    BOOST_TEST(again.consumed == 0u);
    BOOST_TEST(again.packet.empty());
    BOOST_TEST(decoder.finish() == errc::malformed_message);
    decoder.reset();
    auto fresh = decode_all(decoder, frame, 5);
    BOOST_TEST(fresh.error == no_error);
    BOOST_TEST(fresh.packets.size() == 1u);
  }
  for (std::uint32_t length : {16u, 164u, 165u, 168u, 169u, 224u, 16384u}) {
    std::vector<std::byte> stream(4 + length, std::byte{0x77});
    le::store_u32(stream.data(), length);
    frame_decoder decoder;
    auto result = decode_all(decoder, stream, 3);
    BOOST_TEST(result.error == no_error);
    BOOST_TEST(result.finish == no_error);
    BOOST_REQUIRE(result.packets.size() == 1u);
    BOOST_TEST(result.packets[0].size() == (length < 168u ? length : 168u));
    BOOST_TEST(result.sizes[0] == length);
  }
}

// The vPCI channel carries packets longer than any message of the block protocol (a Linux guest's
// RESOURCES_ASSIGNED2 is 224 bytes; a host's BUS_RELATIONS2 24 + 28 per function): the decoder took only
// L <= 168 and ended the stream on them as malformed. Of such a packet it keeps the first 168 bytes, hands
// out its whole length with them, skips the rest under any chunking, and the next frame decodes.
BOOST_AUTO_TEST_CASE(a_packet_longer_than_168_bytes_keeps_its_first_168_and_the_stream_goes_on) {
  const auto assigned = linux_packets::linux_resources_assigned2(0xFFFF8880'00001000, 0x22);
  const auto relations = linux_packets::host_bus_relations2(6);
  BOOST_REQUIRE(assigned.size() == 224u);
  BOOST_REQUIRE(relations.size() == 192u);
  const auto next = read_request_frame_block3();
  std::vector<std::byte> stream;
  for (const auto* packet : {&assigned, &relations}) {
    std::vector<std::byte> frame(4);
    le::store_u32(frame.data(), static_cast<std::uint32_t>(packet->size()));
    stream.insert(stream.end(), frame.begin(), frame.end());
    stream.insert(stream.end(), packet->begin(), packet->end());
  }
  stream.insert(stream.end(), next.begin(), next.end());
  for (std::size_t chunk : {std::size_t{1}, std::size_t{7}, std::size_t{100}, stream.size()}) {
    BOOST_TEST_CONTEXT("chunks of " << chunk) {
      frame_decoder decoder;
      const auto result = decode_all(decoder, stream, chunk);
      BOOST_TEST(result.error == no_error);
      BOOST_TEST(result.finish == no_error);
      BOOST_REQUIRE(result.packets.size() == 3u);
      BOOST_TEST(ints(result.packets[0]) == ints(std::span{assigned}.first(168)), boost::test_tools::per_element());
      BOOST_TEST(result.sizes[0] == 224u);
      BOOST_TEST(ints(result.packets[1]) == ints(std::span{relations}.first(168)), boost::test_tools::per_element());
      BOOST_TEST(result.sizes[1] == 192u);
      BOOST_TEST(ints(result.packets[2]) == ints(std::span{next}.subspan(4)), boost::test_tools::per_element());
      BOOST_TEST(result.sizes[2] == 32u);
      // The descriptor checks against the whole length: against the kept bytes alone len8 disagrees.
      BOOST_TEST(vmbus::decode_descriptor(result.packets[0], result.sizes[0]).has_value());
      BOOST_TEST((vmbus::decode_descriptor(result.packets[0]).error() == errc::malformed_message));
    }
  }
  // Cut inside the skipped bytes: a truncated frame, as anywhere else in a frame.
  frame_decoder decoder;
  const auto cut = decode_all(decoder, std::span{stream}.first(4 + 200), 9);
  BOOST_TEST(cut.error == no_error);
  BOOST_TEST(cut.packets.empty());
  BOOST_TEST((cut.finish == errc::truncated_message));
}

BOOST_AUTO_TEST_CASE(oversized_length_arriving_byte_by_byte) {
  // 16385 = 0x4001 arrives one byte at a time: the error appears with the fourth prefix byte.
  const auto stream = bytes({0x01, 0x40, 0x00, 0x00, 0x01, 0x02});
  frame_decoder decoder;
  for (std::size_t i = 0; i < 3; ++i) {
    auto step = decoder.feed(std::span{stream}.subspan(i, 1));
    BOOST_TEST(step.error == no_error);
    BOOST_TEST(step.consumed == 1u);
  }
  auto step = decoder.feed(std::span{stream}.subspan(3, 1));
  BOOST_TEST(step.error == errc::malformed_message);
  BOOST_TEST(decoder.feed(std::span{stream}.subspan(4)).consumed == 0u);
}

// The length prefix is a full 32-bit little-endian word: a peer's length whose low half is a valid size
// (0x0001'0010 = 65552, low 16 bits 16) is still out of 16..16384 and ends the stream. A decoder that read
// only the low 16 bits would take 16 bytes as a packet and misframe every byte after it. (The existing
// 0x10000 and 0xFFFFFFFF cases have low halves 0 and 65535, out of range either way.)
BOOST_AUTO_TEST_CASE(a_length_whose_low_16_bits_are_valid_is_still_judged_on_all_32) {
  for (std::uint32_t length : {0x0001'0010u, 0x0100'00A8u, 0x8000'4000u}) {
    BOOST_TEST_CONTEXT("length " << std::hex << length) {
      std::vector<std::byte> stream(4 + 200, std::byte{0x55});
      le::store_u32(stream.data(), length);
      frame_decoder decoder;
      const auto step = decoder.feed(stream);
      BOOST_TEST((step.error == errc::malformed_message));
      BOOST_TEST(step.consumed == 4u);
      BOOST_TEST(step.packet.empty());
      BOOST_TEST((decoder.finish() == errc::malformed_message));
    }
  }
}

BOOST_AUTO_TEST_CASE(garbage_fuzz_never_overruns) {
  std::mt19937 random{20240607};
  std::size_t packets = 0;
  std::size_t errors = 0;
  for (int round = 0; round < 2000; ++round) {
    std::vector<std::byte> stream(std::uniform_int_distribution<std::size_t>{0, 600}(random));
    for (auto& b : stream) b = static_cast<std::byte>(random());
    // Half the rounds start with a plausible length so the packet path gets exercised too.
    if (round % 2 == 0 && stream.size() >= 4)
      le::store_u32(stream.data(), std::uniform_int_distribution<std::uint32_t>{16, 400}(random));
    frame_decoder decoder;
    auto result = decode_all(decoder, stream, std::uniform_int_distribution<std::size_t>{1, 64}(random));
    for (std::size_t i = 0; i < result.packets.size(); ++i) {
      BOOST_REQUIRE(valid_frame_packet_size(result.sizes[i]));
      BOOST_REQUIRE(result.packets[i].size() == (result.sizes[i] < 168u ? result.sizes[i] : 168u));
    }
    packets += result.packets.size();
    if (result.error != no_error) {
      BOOST_REQUIRE(result.error == errc::malformed_message);
      ++errors;
    }
  }
  BOOST_TEST(packets > 0u);
  BOOST_TEST(errors > 0u);
}

BOOST_AUTO_TEST_SUITE_END()

// The packets real VMBus peers send (tests/linux_packets.hpp, written out by hand from the pci-hyperv.c
// structs), each framed with L = its length and fed one byte at a time: the decoder hands back exactly the
// packet, and the message decoders accept it.
BOOST_AUTO_TEST_SUITE(framing_real_peer_packets)

namespace {
using namespace vpci::test::linux_packets;

std::vector<std::byte> framed(const std::vector<std::byte>& packet) {
  std::vector<std::byte> frame(4);
  le::store_u32(frame.data(), static_cast<std::uint32_t>(packet.size()));
  frame.insert(frame.end(), packet.begin(), packet.end());
  return frame;
}

struct peer_packet {
  const char* what;
  std::vector<std::byte> bytes;
  std::size_t size;
};

std::vector<peer_packet> peer_packets() {
  return {
      {"write completion", host_completion(7, 0), 24},
      {"error completion", host_completion(8, 0xC0000022u), 24},
      {"5-byte write, unpadded", linux_write_5(false), 41},
      {"5-byte write", linux_write_5(true), 48},
      {"128-byte write", linux_write_128(), 168},
      {"read completion, 0 padding bytes", host_read_completion(9, 0, vpci::test::pattern(4, 1)), 24},
      {"read completion, 4 padding bytes", host_read_completion(10, 0, vpci::test::pattern(16, 1)), 40},
      {"read completion, 7 padding bytes", host_read_completion(11, 0, vpci::test::pattern(5, 1)), 32},
      {"read completion, full block", host_read_completion(12, 0, vpci::test::pattern(128, 1)), 152},
      {"version request", linux_version_request(1, 0x10004), 24},
      {"version mismatch", host_completion(1, 0xC0000059u), 24},
  };
}

// Each packet decodes as the message it is.
void expect_decodes(const peer_packet& p, std::span<const std::byte> packet) {
  const std::string what = p.what;
  if (what.find("completion") != std::string::npos && what.find("read") == std::string::npos) {
    BOOST_TEST(decode_write_completion(packet).has_value());
  } else if (what.find("read completion") != std::string::npos) {
    BOOST_TEST(decode_read_response(packet).has_value());
  } else if (what.find("write") != std::string::npos) {
    BOOST_TEST(decode_write_request(packet.subspan(16)).has_value());
  } else if (what == "version request") {
    BOOST_TEST(decode_version_request(packet.subspan(16)).has_value());
  } else {
    BOOST_TEST(decode_version_response(packet).has_value());
  }
}
}  // namespace

BOOST_AUTO_TEST_CASE(each_packet_in_one_byte_chunks) {
  for (const auto& p : peer_packets()) {
    BOOST_TEST_CONTEXT(p.what) {
      BOOST_TEST(p.bytes.size() == p.size);
      const auto frame = framed(p.bytes);
      frame_decoder decoder;
      auto result = decode_all(decoder, frame, 1);
      BOOST_TEST(result.error == no_error);
      BOOST_TEST(result.finish == no_error);
      BOOST_REQUIRE(result.packets.size() == 1u);
      BOOST_TEST(ints(result.packets[0]) == ints(p.bytes), boost::test_tools::per_element());
      expect_decodes(p, result.packets[0]);
    }
  }
}

BOOST_AUTO_TEST_CASE(all_packets_in_one_stream_in_one_byte_chunks) {
  const auto packets = peer_packets();
  std::vector<std::byte> stream;
  for (const auto& p : packets) {
    const auto frame = framed(p.bytes);
    stream.insert(stream.end(), frame.begin(), frame.end());
  }
  for (std::size_t chunk : {std::size_t{1}, std::size_t{3}, std::size_t{8}, stream.size()}) {
    frame_decoder decoder;
    auto result = decode_all(decoder, stream, chunk);
    BOOST_TEST(result.error == no_error);
    BOOST_TEST(result.finish == no_error);
    BOOST_REQUIRE(result.packets.size() == packets.size());
    for (std::size_t i = 0; i < packets.size(); ++i) {
      BOOST_TEST(ints(result.packets[i]) == ints(packets[i].bytes), boost::test_tools::per_element());
      expect_decodes(packets[i], result.packets[i]);
    }
  }
}

BOOST_AUTO_TEST_CASE(vpci_encoders_produce_the_same_frames) {
  // What vpci sends is byte for byte what the real peers send (L = the padded length).
  std::array<std::byte, max_frame_size> buffer{};
  const auto data5 = vpci::test::make_bytes({0xA1, 0xA2, 0xA3, 0xA4, 0xA5});
  auto write5 = encode_write_request_frame(7, write_request{block_id{7}, wslot{2, 1}, data5}, buffer, true);
  BOOST_REQUIRE(write5.has_value());
  BOOST_TEST(ints(frame_of(buffer, *write5)) == ints(framed(linux_write_5(true))), boost::test_tools::per_element());
  auto version = encode_version_request_frame(1, version_request{0x10004}, buffer);
  BOOST_REQUIRE(version.has_value());
  BOOST_TEST(ints(frame_of(buffer, *version)) == ints(framed(linux_version_request(1, 0x10004))),
             boost::test_tools::per_element());
  auto completion = encode_write_completion_frame(write_completion{7, ntstatus::success}, buffer);
  BOOST_REQUIRE(completion.has_value());
  BOOST_TEST(ints(frame_of(buffer, *completion)) == ints(framed(host_completion(7, 0))), boost::test_tools::per_element());
  auto mismatch = encode_version_response_frame(version_response{1, ntstatus::revision_mismatch, 0}, buffer);
  BOOST_REQUIRE(mismatch.has_value());
  BOOST_TEST(ints(frame_of(buffer, *mismatch)) == ints(framed(host_completion(1, 0xC0000059u))),
             boost::test_tools::per_element());
  for (std::size_t n : {std::size_t{4}, std::size_t{16}, std::size_t{5}, std::size_t{128}}) {
    const auto data = vpci::test::pattern(n, 1);
    auto read = encode_read_response_frame(read_response{9, ntstatus::success, data}, buffer);
    BOOST_REQUIRE(read.has_value());
    BOOST_TEST(ints(frame_of(buffer, *read)) == ints(framed(host_read_completion(9, 0, data))),
               boost::test_tools::per_element());
  }
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE_END()  // framing_test
