#include <vpci/core.hpp>
// A reference member kept off the wire: decoding fills in a T{}, which a reference member prevents.
struct vf_settings {
  std::uint32_t& counter;
  std::uint16_t mtu;
  friend constexpr auto vpci_fields(vpci::type_tag<vf_settings>) { return vpci::fields_with_gaps(&vf_settings::mtu); }
};
constexpr auto size = vpci::block<4, vf_settings>::size;  // must not compile: a reference member
