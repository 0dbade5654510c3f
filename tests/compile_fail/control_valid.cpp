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
int main() {}
