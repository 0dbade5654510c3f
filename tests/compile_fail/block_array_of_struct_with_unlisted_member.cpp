#include <array>
#include <vpci/core.hpp>
// A block of an array of described structs: the struct's own rule speaks, not "no wire layout".
struct link_state {
  std::uint16_t speed;
  std::uint16_t width;  // left out of the list below
  friend constexpr auto vpci_fields(vpci::type_tag<link_state>) { return vpci::fields(&link_state::speed); }
};
constexpr auto size = vpci::block<4, std::array<link_state, 2>>::size;  // must not compile: width left out
