#include <vpci/core.hpp>
// long double is 16 bytes on x86-64 Linux and 8 on ARM and with MSVC: a PF and a VF would disagree on the
// block's bytes, so it is refused on every host, also where it is 8 bytes (-mlong-double-64 makes it so).
struct vf_rate {
  long double gbps;
  friend constexpr auto vpci_fields(vpci::type_tag<vf_rate>) { return vpci::fields(&vf_rate::gbps); }
};
constexpr auto size = vpci::block<4, vf_rate>::size;  // must not compile: long double's size is the host's
