#include <vpci/core.hpp>
// A volatile field has no codec: a payload is a value, not a device register.
struct vf_settings {
  volatile std::uint32_t doorbell;
  std::uint16_t mtu;
  friend constexpr auto vpci_fields(vpci::type_tag<vf_settings>) {
    return vpci::fields(&vf_settings::doorbell, &vf_settings::mtu);
  }
};
constexpr auto size = vpci::block<4, vf_settings>::size;  // must not compile: doorbell is volatile
