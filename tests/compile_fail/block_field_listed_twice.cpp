#include <vpci/core.hpp>
// A member named twice would travel twice, in the place of the member it displaced: rejected.
struct vf_settings {
  std::uint32_t mtu;
  std::uint32_t queues;
  friend constexpr auto vpci_fields(vpci::type_tag<vf_settings>) {
    return vpci::fields(&vf_settings::mtu, &vf_settings::mtu);  // queues was meant
  }
};
constexpr auto size = vpci::block<4, vf_settings>::size;  // must not compile: mtu is named twice
