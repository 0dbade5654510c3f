#include <vpci/core.hpp>
// A nested struct's own list leaves a member out: its own rule speaks, not "not encodable".
struct link_state {
  std::uint16_t speed;
  std::uint16_t width;  // left out of the list below
  friend constexpr auto vpci_fields(vpci::type_tag<link_state>) { return vpci::fields(&link_state::speed); }
};
struct vf_settings {
  link_state uplink;
  std::uint32_t mtu;
  friend constexpr auto vpci_fields(vpci::type_tag<vf_settings>) {
    return vpci::fields(&vf_settings::uplink, &vf_settings::mtu);
  }
};
constexpr auto size = vpci::block<4, vf_settings>::size;  // must not compile: link_state::width is not listed
