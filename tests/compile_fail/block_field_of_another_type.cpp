#include <vpci/core.hpp>
// A member of another struct cannot be read from this one: rejected with vpci's message.
struct other {
  std::uint32_t mtu;
};
struct vf_settings {
  std::uint32_t mtu;
  friend constexpr auto vpci_fields(vpci::type_tag<vf_settings>) { return vpci::fields(&other::mtu); }
};
constexpr auto size = vpci::block<4, vf_settings>::size;  // must not compile: other::mtu is not a member
