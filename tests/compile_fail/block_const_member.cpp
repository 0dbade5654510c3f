#include <vpci/core.hpp>
// Decoding writes each field: a const one cannot be written.
struct vf_settings {
  const std::uint32_t version;
  std::uint16_t mtu;
  friend constexpr auto vpci_fields(vpci::type_tag<vf_settings>) {
    return vpci::fields(&vf_settings::version, &vf_settings::mtu);
  }
};
constexpr auto size = vpci::block<4, vf_settings>::size;  // must not compile: version is const
