#include <vpci/core.hpp>
// A member whose type has a constructor template taking any argument: the count's initializer converted
// to it ambiguously, the count stopped there, and the list below passed though two members never travel.
struct wrapped {
  std::uint32_t value{};
  wrapped() = default;
  template <class U>
  constexpr wrapped(U v) : value(static_cast<std::uint32_t>(v)) {}
  friend constexpr auto vpci_fields(vpci::type_tag<wrapped>) { return vpci::fields(&wrapped::value); }
};
struct vf_settings {
  std::uint32_t mtu;
  wrapped rate;
  std::uint32_t queues;
  friend constexpr auto vpci_fields(vpci::type_tag<vf_settings>) { return vpci::fields(&vf_settings::mtu); }
};
constexpr auto size = vpci::block<4, vf_settings>::size;  // must not compile: rate and queues left out
