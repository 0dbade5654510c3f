// Fuzz target: hyperv::vmbus::decode_descriptor (struct vmpacket_descriptor of a whole packet), together
// with the two small decoders every packet goes through: peek_message_type and decode_wslot.
//
// Invariants:
// - decode_descriptor accepts exactly what its contract allows (16 bytes at least, payload offset in
//   [16, size], len8 * 8 == size rounded up to 8), else truncated_message below 16 bytes and
//   malformed_message otherwise, with no value; no read past the input (exact-size heap copy);
// - encode(decode(x)) == x: store_descriptor writes back the first 16 bytes exactly (every bit is a field);
// - make_descriptor for a packet of the input's size builds a descriptor decode_descriptor accepts;
// - peek_message_type: a value exactly for the four message types, unknown_message_type for any other
//   word, truncated_message below 4 bytes;
// - decode_wslot: a value exactly when bits 31:8 are clear, and encode_wslot gives the word back.
#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

#include <vpci/wire/hyperv.hpp>

#include "fuzz_support.hpp"
#include "hyperv_support.hpp"

using namespace vpci;
using namespace vpci::fuzz;
using namespace vpci::hyperv;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const exact_bytes packet{as_bytes(data, size)};
  const auto x = packet.view();

  auto d = vmbus::decode_descriptor(x);
  VPCI_FUZZ_CHECK(d.has_value() == descriptor_acceptable(x));
  if (!d) {
    VPCI_FUZZ_CHECK(d.error() == (size < vmbus::descriptor_size ? errc::truncated_message : errc::malformed_message));
    VPCI_FUZZ_CHECK(refused_cleanly(d));
  } else {
    std::array<std::byte, vmbus::descriptor_size> again{};
    vmbus::store_descriptor(*d, again.data());
    VPCI_FUZZ_CHECK(equal(again, x.first(vmbus::descriptor_size)));
  }

  if (size >= vmbus::descriptor_size && size <= 0xFFFF * 8) {
    // A descriptor made for a packet of this size, stored over the input's first 16 bytes, decodes as made.
    const auto made = vmbus::make_descriptor(le::load_u16(x.data()), size, le::load_u64(x.data() + 8),
                                             le::load_u16(x.data() + 6));
    std::vector<std::byte> copy(x.begin(), x.end());
    vmbus::store_descriptor(made, copy.data());
    const exact_bytes remade{copy};
    auto back = vmbus::decode_descriptor(remade.view());
    VPCI_FUZZ_CHECK(back.has_value() && *back == made);
  }

  auto type = peek_message_type(x);
  if (size < 4) {
    VPCI_FUZZ_CHECK(!type && type.error() == errc::truncated_message);
  } else {
    const std::uint32_t word = le::load_u32(x.data());
    const bool known = word == static_cast<std::uint32_t>(message_type::read_block) ||
                       word == static_cast<std::uint32_t>(message_type::write_block) ||
                       word == static_cast<std::uint32_t>(message_type::invalidate_block) ||
                       word == static_cast<std::uint32_t>(message_type::query_protocol_version);
    VPCI_FUZZ_CHECK(type.has_value() == known);
    VPCI_FUZZ_CHECK(known ? static_cast<std::uint32_t>(*type) == word : type.error() == errc::unknown_message_type);

    auto slot = decode_wslot(word);
    VPCI_FUZZ_CHECK(slot.has_value() == ((word & ~0xFFu) == 0));
    if (slot) {
      auto raw = encode_wslot(*slot);
      VPCI_FUZZ_CHECK(raw.has_value() && *raw == word);
    } else {
      VPCI_FUZZ_CHECK(slot.error() == errc::malformed_message && refused_cleanly(slot));
    }
  }
  return 0;
}
