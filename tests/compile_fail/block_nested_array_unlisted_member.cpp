#include <array>
#include <vpci/core.hpp>
// A field that is an array of described structs: the struct's own rule speaks, not "not encodable".
struct link_state {
  std::uint16_t speed;
  std::uint16_t width;  // left out of the list below
  friend constexpr auto vpci_fields(vpci::type_tag<link_state>) { return vpci::fields(&link_state::speed); }
};
struct vf_settings {
  std::array<link_state, 2> std_links;
  link_state c_links[2];
  friend constexpr auto vpci_fields(vpci::type_tag<vf_settings>) {
    return vpci::fields(&vf_settings::std_links, &vf_settings::c_links);
  }
};
constexpr auto size = vpci::block<4, vf_settings>::size;  // must not compile: link_state::width left out
