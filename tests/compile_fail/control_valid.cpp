#include <array>
#include <vpci/core.hpp>
struct largest {
  std::array<std::uint8_t, 128> bytes;
  friend constexpr auto vpci_fields(vpci::type_tag<largest>) { return vpci::fields(&largest::bytes); }
};
static_assert(vpci::block<63, largest>::size == 128);
static_assert(vpci::block_buffer<128>::capacity() == 128);
int main() {}
