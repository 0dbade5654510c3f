#include <vpci/core.hpp>
// A member added to the struct but not to its field list would never travel: rejected.
struct vf_settings {
  std::uint16_t version;
  std::uint16_t flags;
  std::uint32_t mtu;  // left out of the list below
  friend constexpr auto vpci_fields(vpci::type_tag<vf_settings>) {
    return vpci::fields(&vf_settings::version, &vf_settings::flags);
  }
};
constexpr auto size = vpci::block<4, vf_settings>::size;  // must not compile: mtu is not listed
