#include <array>
#include <vpci/core.hpp>
struct largest {
  std::array<std::uint8_t, 128> bytes;
  friend constexpr auto vpci_fields(vpci::type_tag<largest>) { return vpci::fields(&largest::bytes); }
};
static_assert(vpci::block<63, largest>::size == 128);
static_assert(vpci::block_buffer<128>::capacity() == 128);
// Any 32-bit ID names a block; blocks 0..63 have a mask bit.
static_assert(vpci::block<64, largest>::size == 128 && !vpci::block<64, largest>::invalidatable);
static_assert(vpci::block<0xFFFFFFFFu, std::uint32_t>::id.value() == 0xFFFFFFFFu);
static_assert(vpci::block<63, largest>::mask().bits() == std::uint64_t{1} << 63);
static_assert(vpci::mask_of<vpci::block<0, std::uint8_t>, vpci::block<63, largest>>().bits() ==
              ((std::uint64_t{1} << 63) | 1u));
vpci::errc raise(vpci::engine::pf_blocks<1>& store) { return store.invalidate<vpci::block<63, largest>>(0); }
// Complete field lists: C arrays (one initializer per element), std::array, nested described structs.
struct inner {
  std::uint16_t a;
  std::uint8_t b[3];
  friend constexpr auto vpci_fields(vpci::type_tag<inner>) { return vpci::fields(&inner::a, &inner::b); }
};
struct outer {
  inner first;
  std::uint8_t grid[2][2];
  std::array<inner, 2> more;
  bool flag;
  friend constexpr auto vpci_fields(vpci::type_tag<outer>) {
    return vpci::fields(&outer::first, &outer::grid, &outer::more, &outer::flag);
  }
};
static_assert(vpci::block<1, outer>::size == 5 + 4 + 10 + 1);
// A deliberate gap, declared as such.
struct cached {
  std::uint32_t value;
  std::uint32_t local_only;
  friend constexpr auto vpci_fields(vpci::type_tag<cached>) { return vpci::fields_with_gaps(&cached::value); }
};
static_assert(vpci::block<2, cached>::size == 4);
// A struct with a base class may list its own members with gaps: the base stays off the wire.
struct local_state {
  std::uint64_t last_seen;
};
struct with_local_base : local_state {
  std::uint32_t value;
  double ratio;
  friend constexpr auto vpci_fields(vpci::type_tag<with_local_base>) {
    return vpci::fields_with_gaps(&with_local_base::value, &with_local_base::ratio);
  }
};
static_assert(vpci::block<3, with_local_base>::size == 4 + 8);
int main() {}
