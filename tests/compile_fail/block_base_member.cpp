#include <vpci/core.hpp>
// A base's member is another type's member: the base is described as a member struct instead.
struct header {
  std::uint16_t version;
};
struct vf_settings : header {
  std::uint32_t mtu;
  friend constexpr auto vpci_fields(vpci::type_tag<vf_settings>) {
    return vpci::fields(&vf_settings::version, &vf_settings::mtu);
  }
};
constexpr auto size = vpci::block<4, vf_settings>::size;  // must not compile: version is header's
