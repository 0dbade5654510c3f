#include <vpci/core.hpp>
// Explicit template arguments convert a base's member pointer (std::uint16_t header::*) to one of
// vf_settings (std::uint16_t vf_settings::*): it then passes as vf_settings' own, and the count took the
// whole base as that one member, so header::flags was left out and never travelled.
struct header {
  std::uint16_t version;
  std::uint16_t flags;
};
struct vf_settings : header {
  std::uint32_t mtu;
  friend constexpr auto vpci_fields(vpci::type_tag<vf_settings>) {
    return vpci::fields<vf_settings, std::uint16_t, std::uint32_t>(&vf_settings::version, &vf_settings::mtu);
  }
};
constexpr auto size = vpci::block<4, vf_settings>::size;  // must not compile: flags is left out
