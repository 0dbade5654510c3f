#include <vpci/core.hpp>
// A last member that takes no initializer (explicit constructor, deleted constructor template): T{...}
// stops counting before it; the room it takes after the listed fields gives it away.
struct rate_limit {
  std::uint32_t value;
  explicit constexpr rate_limit(std::uint32_t v) : value(v) {}
  template <class U>
  rate_limit(U) = delete;
  friend constexpr auto vpci_fields(vpci::type_tag<rate_limit>) { return vpci::fields(&rate_limit::value); }
};
struct vf_settings {
  std::uint32_t mtu;
  rate_limit limit{1000u};  // left out of the list below
  friend constexpr auto vpci_fields(vpci::type_tag<vf_settings>) { return vpci::fields(&vf_settings::mtu); }
};
constexpr auto size = vpci::block<4, vf_settings>::size;  // must not compile: limit is not listed
