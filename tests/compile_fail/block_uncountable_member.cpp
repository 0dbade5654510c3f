#include <vpci/core.hpp>
// A member the count cannot initialize either way: its deleted constructor template takes any argument,
// bare or braced. Refused, rather than a count stopped early taken for the end of the struct.
struct rate {
  std::uint32_t value{};
  rate() = default;
  template <class U>
  rate(U) = delete;
  friend constexpr auto vpci_fields(vpci::type_tag<rate>) { return vpci::fields(&rate::value); }
};
struct vf_settings {
  rate limit;
  std::uint32_t mtu;
  friend constexpr auto vpci_fields(vpci::type_tag<vf_settings>) {
    return vpci::fields(&vf_settings::limit, &vf_settings::mtu);
  }
};
constexpr auto size = vpci::block<4, vf_settings>::size;  // must not compile: limit cannot be counted
