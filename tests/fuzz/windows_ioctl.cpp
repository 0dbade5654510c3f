// Fuzz target: the VF side's IOCTL buffers of vpci.h (wire/windows.hpp): VPCI_READ_BLOCK_INPUT,
// VPCI_WRITE_BLOCK_INPUT and VPCI_INVALIDATE_BLOCK_OUTPUT, each decoded from the whole input (an IOCTL
// buffer of any length), and their encoders on fields taken from the input.
//
// Invariants:
// - each decoder accepts exactly what its contract allows (the fixed part present; BytesRequested /
//   DataLength 1..128; for a write, all DataLength bytes present), buffer_too_small / invalid_length
//   otherwise, with no value; no read past the input (exact-size heap copy);
// - a write's data is the DataLength bytes at offset 8, a view inside the input;
// - encode(decode(x)) == x over the structure's bytes: 8 bytes for the read input and the invalidate
//   output, 8 + DataLength for the write input. Bytes after them are not part of the structure (an
//   IOCTL buffer may be larger) and are not produced again;
// - the encoders: refuse exactly an invalid length or too small a buffer, writing nothing then; on
//   success write exactly the bytes they report, which decode back.
#include <array>
#include <cstddef>
#include <cstdint>

#include <vpci/wire/windows.hpp>

#include "fuzz_support.hpp"

using namespace vpci;
using namespace vpci::fuzz;
using namespace vpci::windows;

namespace {

void check_decoders(std::span<const std::byte> x) {
  const std::size_t size = x.size();

  auto read = decode_read_block_input(x);
  const bool read_length_ok = size >= 8 && valid_block_length(le::load_u32(x.data() + 4));
  VPCI_FUZZ_CHECK(read.has_value() == (size >= 8 && read_length_ok));
  VPCI_FUZZ_CHECK(refused_cleanly(read));
  if (!read) {
    VPCI_FUZZ_CHECK(read.error() == (size < 8 ? errc::buffer_too_small : errc::invalid_length));
  } else {
    std::array<std::byte, read_block_input::wire_size> again{};
    auto n = encode(*read, again);
    VPCI_FUZZ_CHECK(n.has_value() && *n == again.size() && equal(again, x.first(again.size())));
  }

  auto write = decode_write_block_input(x);
  const std::uint32_t length = size >= 8 ? le::load_u32(x.data() + 4) : 0;
  const bool write_length_ok = size >= 8 && valid_block_length(length);
  VPCI_FUZZ_CHECK(write.has_value() == (write_length_ok && size - 8 >= length));
  if (!write) {
    VPCI_FUZZ_CHECK(write->data.empty() && write->block == block_id{});
    VPCI_FUZZ_CHECK(write.error() == (size >= 8 && !write_length_ok ? errc::invalid_length : errc::buffer_too_small));
  } else {
    VPCI_FUZZ_CHECK(within(write->data, x) && write->data.data() == x.data() + 8 && write->data.size() == length);
    VPCI_FUZZ_CHECK(write->block.value() == le::load_u32(x.data()));
    std::array<std::byte, write_block_input::header_size + max_block_size> again{};
    auto n = encode(*write, again);
    VPCI_FUZZ_CHECK(n.has_value() && *n == 8 + length && equal(std::span{again}.first(*n), x.first(*n)));
  }

  auto inval = decode_invalidate_block_output(x);
  VPCI_FUZZ_CHECK(inval.has_value() == (size >= 8));
  VPCI_FUZZ_CHECK(refused_cleanly(inval));
  if (!inval) {
    VPCI_FUZZ_CHECK(inval.error() == errc::buffer_too_small);
  } else {
    std::array<std::byte, invalidate_block_output::wire_size> again{};
    auto n = encode(*inval, again);
    VPCI_FUZZ_CHECK(n.has_value() && *n == again.size() && equal(again, x.first(again.size())));
  }
}

void check_encoders(std::span<const std::byte> input) {
  input_reader in{input};
  const std::size_t room = in.u8() % 160;
  const read_block_input r{block_id{in.u32()}, in.u32() % 300};
  const invalidate_block_output o{block_mask{in.u64()}};
  const std::uint32_t block = in.u32();
  const exact_bytes data{in.take(in.u8())};
  const write_block_input w{block_id{block}, data.view()};

  {
    sentinel_buffer out{room};
    auto n = encode(r, out.span());
    VPCI_FUZZ_CHECK(n.has_value() == (valid_block_length(r.bytes_requested) && room >= 8));
    if (!n) {
      VPCI_FUZZ_CHECK(out.untouched_from(0));
    } else {
      VPCI_FUZZ_CHECK(*n == 8 && out.untouched_from(8));
      auto back = decode_read_block_input(out.view().first(8));
      VPCI_FUZZ_CHECK(back.has_value() && *back == r);
    }
  }
  {
    sentinel_buffer out{room};
    auto n = encode(w, out.span());
    VPCI_FUZZ_CHECK(n.has_value() == (valid_block_length(w.data.size()) && room >= 8 + w.data.size()));
    if (!n) {
      VPCI_FUZZ_CHECK(out.untouched_from(0));
    } else {
      VPCI_FUZZ_CHECK(*n == 8 + w.data.size() && out.untouched_from(*n));
      auto back = decode_write_block_input(out.view().first(*n));
      VPCI_FUZZ_CHECK(back.has_value() && back->block == w.block && equal(back->data, w.data));
    }
  }
  {
    sentinel_buffer out{room};
    auto n = encode(o, out.span());
    VPCI_FUZZ_CHECK(n.has_value() == (room >= 8));
    if (!n) {
      VPCI_FUZZ_CHECK(n.error() == errc::buffer_too_small && out.untouched_from(0));
    } else {
      VPCI_FUZZ_CHECK(*n == 8 && out.untouched_from(8));
      auto back = decode_invalidate_block_output(out.view().first(8));
      VPCI_FUZZ_CHECK(back.has_value() && *back == o);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const exact_bytes buffer{as_bytes(data, size)};
  check_decoders(buffer.view());
  check_encoders(buffer.view());
  return 0;
}
