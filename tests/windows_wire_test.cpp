// The vpci.h IOCTL structures: VPCI_READ_BLOCK_INPUT, VPCI_WRITE_BLOCK_INPUT, VPCI_INVALIDATE_BLOCK_OUTPUT,
// byte-exact, with the validation a driver applies to a caller's buffers.
#include <boost/test/unit_test.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <ostream>
#include <span>
#include <vector>

#include <vpci/core.hpp>

#include "test_support.hpp"

using namespace vpci;
using namespace vpci::windows;

namespace {

using namespace vpci::test;

struct write_input_value {
  std::uint32_t block;
  const std::byte* data;
  std::size_t size;
  write_input_value(std::uint32_t b, const std::byte* d, std::size_t n) : block(b), data(d), size(n) {}
  write_input_value(const write_block_input& w)  // NOLINT: implicit on purpose, for check_rejected
      : block(w.block.value()), data(w.data.data()), size(w.data.size()) {}
  friend bool operator==(const write_input_value&, const write_input_value&) = default;
};

const std::byte sentinel_storage[1]{};
const read_block_input read_sentinel{block_id{0xABCD}, 99};
const write_input_value write_sentinel{0xABCD, sentinel_storage, 1};
const invalidate_block_output invalidate_sentinel{block_mask{0x42}};

auto dec_read = [](std::span<const std::byte> in) { return decode_read_block_input(in); };
auto dec_write = [](std::span<const std::byte> in) { return decode_write_block_input(in); };
auto dec_invalidate = [](std::span<const std::byte> in) { return decode_invalidate_block_output(in); };

}  // namespace

BOOST_AUTO_TEST_SUITE(windows_read_block_input)

BOOST_AUTO_TEST_CASE(layout_is_two_ulongs) {
  BOOST_TEST(read_block_input::wire_size == 8u);
  bytes out(8, std::byte{0xAA});
  auto n = encode(read_block_input{block_id{7}, 64}, out);
  BOOST_TEST_REQUIRE(n.has_value());
  BOOST_TEST(*n == 8u);
  BOOST_TEST(octets(out) == (std::vector<unsigned>{0x07, 0x00, 0x00, 0x00, 0x40, 0x00, 0x00, 0x00}));
  bytes big(10, std::byte{0xAA});
  BOOST_TEST(*encode(read_block_input{block_id{0x04030201}, 128}, big) == 8u);
  BOOST_TEST(octets(big) == (std::vector<unsigned>{0x01, 0x02, 0x03, 0x04, 0x80, 0x00, 0x00, 0x00, 0xAA, 0xAA}));
}

BOOST_AUTO_TEST_CASE(round_trip) {
  for (std::uint32_t length : {1u, 16u, 128u}) {
    const read_block_input m{block_id{length + 1000}, length};
    bytes out(8);
    BOOST_TEST_REQUIRE(encode(m, out).has_value());
    auto back = decode_read_block_input(out);
    BOOST_TEST_REQUIRE(back.has_value());
    BOOST_TEST((*back == m));
  }
  // A caller's input buffer may be larger than the structure.
  const auto longer = make_bytes({0x02, 0, 0, 0, 0x10, 0, 0, 0, 0xFF, 0xFF});
  auto r = decode_read_block_input(longer);
  BOOST_TEST_REQUIRE(r.has_value());
  BOOST_TEST((*r == read_block_input{block_id{2}, 16}));
}

BOOST_AUTO_TEST_CASE(encoder_refuses_bad_arguments_and_writes_nothing) {
  for (std::uint32_t bad : {0u, 129u, 0xFFFFFFFFu}) check_refused(read_block_input{block_id{1}, bad}, 8, errc::invalid_length);
  for (std::size_t size : {0u, 4u, 7u}) check_refused(read_block_input{block_id{1}, 8}, size, errc::buffer_too_small);
}

BOOST_AUTO_TEST_CASE(short_buffer_is_buffer_too_small) {
  const auto good = make_bytes({0x02, 0, 0, 0, 0x10, 0, 0, 0});
  for (std::size_t n = 0; n < 8; ++n)
    check_rejected(dec_read, std::span{good}.first(n), errc::buffer_too_small, read_sentinel);
}

BOOST_AUTO_TEST_CASE(bytes_requested_0_129_or_4gib_is_invalid_length) {
  check_rejected(dec_read, make_bytes({0x02, 0, 0, 0, 0x00, 0, 0, 0}), errc::invalid_length, read_sentinel);
  check_rejected(dec_read, make_bytes({0x02, 0, 0, 0, 0x81, 0, 0, 0}), errc::invalid_length, read_sentinel);
  check_rejected(dec_read, make_bytes({0x02, 0, 0, 0, 0x00, 0x01, 0, 0}), errc::invalid_length, read_sentinel);
  check_rejected(dec_read, make_bytes({0x02, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF}), errc::invalid_length, read_sentinel);
  // 0x1'0000'0080 cannot be expressed; its low 32 bits (0x80) are a valid length, and only those exist.
  BOOST_TEST(decode_read_block_input(make_bytes({0x02, 0, 0, 0, 0x80, 0, 0, 0})).has_value());
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(windows_write_block_input)

BOOST_AUTO_TEST_CASE(data_follows_at_offset_8) {
  BOOST_TEST(write_block_input::header_size == 8u);
  const auto data = make_bytes({0x01, 0x02, 0x03});
  bytes out(12, std::byte{0xAA});
  auto n = encode(write_block_input{block_id{2}, data}, out);
  BOOST_TEST_REQUIRE(n.has_value());
  BOOST_TEST(*n == 11u);
  BOOST_TEST(octets(out) == (std::vector<unsigned>{0x02, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x01, 0x02, 0x03,
                                                   0xAA}));
}

BOOST_AUTO_TEST_CASE(full_block_round_trip) {
  const auto data = pattern(128, 0x10);
  bytes out(136);
  auto n = encode(write_block_input{block_id{63}, data}, out);
  BOOST_TEST_REQUIRE(n.has_value());
  BOOST_TEST(*n == 136u);
  BOOST_TEST(octets(std::span{out}.first(8)) == (std::vector<unsigned>{0x3F, 0, 0, 0, 0x80, 0, 0, 0}));
  auto back = decode_write_block_input(out);
  BOOST_TEST_REQUIRE(back.has_value());
  BOOST_TEST(back->block.value() == 63u);
  BOOST_TEST(back->data.size() == 128u);
  BOOST_TEST(back->data.data() == out.data() + 8);
  BOOST_TEST(octets(back->data) == octets(data));
}

BOOST_AUTO_TEST_CASE(longer_buffer_yields_exactly_data_length_bytes) {
  const auto in = make_bytes({0x09, 0, 0, 0, 0x02, 0, 0, 0, 0xA1, 0xA2, 0xA3, 0xA4});
  auto r = decode_write_block_input(in);
  BOOST_TEST_REQUIRE(r.has_value());
  BOOST_TEST(r->block.value() == 9u);
  BOOST_TEST(octets(r->data) == (std::vector<unsigned>{0xA1, 0xA2}));
}

BOOST_AUTO_TEST_CASE(encoder_refuses_bad_arguments_and_writes_nothing) {
  const auto blk = pattern(129);
  const std::span<const std::byte> all{blk};
  check_refused(write_block_input{block_id{1}, {}}, 200, errc::invalid_length);
  check_refused(write_block_input{block_id{1}, all}, 200, errc::invalid_length);
  check_refused(write_block_input{block_id{1}, all.first(4)}, 11, errc::buffer_too_small);
  check_refused(write_block_input{block_id{1}, all.first(128)}, 135, errc::buffer_too_small);
  check_refused(write_block_input{block_id{1}, all.first(1)}, 0, errc::buffer_too_small);
}

BOOST_AUTO_TEST_CASE(short_header_is_buffer_too_small) {
  const auto good = make_bytes({0x02, 0, 0, 0, 0x01, 0, 0, 0, 0x55});
  BOOST_TEST(decode_write_block_input(good).has_value());
  for (std::size_t n = 0; n < 8; ++n)
    check_rejected(dec_write, std::span{good}.first(n), errc::buffer_too_small, write_sentinel);
}

BOOST_AUTO_TEST_CASE(data_length_0_129_or_4gib_is_invalid_length) {
  // 129 bytes really present: the limit is the protocol's, not the buffer's.
  for (std::uint32_t length : {0u, 129u, 0xFFFFFFFFu}) {
    bytes in(8 + 129, std::byte{0x11});
    le::store_u32(in.data(), 2);
    le::store_u32(in.data() + 4, length);
    check_rejected(dec_write, in, errc::invalid_length, write_sentinel);
  }
}

BOOST_AUTO_TEST_CASE(data_length_beyond_the_buffer_is_buffer_too_small) {
  for (std::uint32_t length : {1u, 4u, 5u, 128u}) {
    bytes in(8 + 4, std::byte{0x11});
    le::store_u32(in.data(), 2);
    le::store_u32(in.data() + 4, length);
    if (length <= 4) {
      auto r = decode_write_block_input(in);
      BOOST_TEST_REQUIRE(r.has_value());
      BOOST_TEST(r->data.size() == length);
    } else {
      check_rejected(dec_write, in, errc::buffer_too_small, write_sentinel);
    }
  }
  // No data at all after a valid header.
  check_rejected(dec_write, make_bytes({0x02, 0, 0, 0, 0x01, 0, 0, 0}), errc::buffer_too_small, write_sentinel);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(windows_invalidate_block_output)

BOOST_AUTO_TEST_CASE(layout_is_one_uint64) {
  BOOST_TEST(invalidate_block_output::wire_size == 8u);
  bytes out(9, std::byte{0xAA});
  auto n = encode(invalidate_block_output{block_mask{0x8000000000000001}}, out);
  BOOST_TEST_REQUIRE(n.has_value());
  BOOST_TEST(*n == 8u);
  BOOST_TEST(octets(out) == (std::vector<unsigned>{0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80, 0xAA}));
  BOOST_TEST_REQUIRE(encode(invalidate_block_output{block_mask{0x0102030405060708}}, out).has_value());
  BOOST_TEST(octets(std::span{out}.first(8)) == (std::vector<unsigned>{8, 7, 6, 5, 4, 3, 2, 1}));
  auto back = decode_invalidate_block_output(out);
  BOOST_TEST_REQUIRE(back.has_value());
  BOOST_TEST(back->mask.bits() == 0x0102030405060708u);
}

BOOST_AUTO_TEST_CASE(short_buffers_are_refused) {
  for (std::size_t size : {0u, 1u, 7u})
    check_refused(invalidate_block_output{block_mask::all()}, size, errc::buffer_too_small);
  const bytes good(8, std::byte{0xFF});
  BOOST_TEST((decode_invalidate_block_output(good)->mask == block_mask::all()));
  for (std::size_t n = 0; n < 8; ++n)
    check_rejected(dec_invalidate, std::span{good}.first(n), errc::buffer_too_small, invalidate_sentinel);
}

BOOST_AUTO_TEST_CASE(constexpr_encode) {
  static constexpr auto encoded = [] {
    std::array<std::byte, 8> out{};
    (void)encode(write_block_input{}, out);  // refused: no data, nothing written
    (void)encode(read_block_input{block_id{3}, 16}, out);
    return out;
  }();
  static_assert(encoded[0] == std::byte{3} && encoded[4] == std::byte{16});
  static_assert(decode_read_block_input(encoded)->bytes_requested == 16);
  BOOST_TEST(octets(encoded) == (std::vector<unsigned>{3, 0, 0, 0, 16, 0, 0, 0}));
}

BOOST_AUTO_TEST_SUITE_END()
