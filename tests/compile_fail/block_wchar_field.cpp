#include <vpci/core.hpp>
// wchar_t is 4 bytes on Linux and 2 on Windows: a PF and a VF would disagree on the block's bytes.
struct vf_name {
  wchar_t initial;
  friend constexpr auto vpci_fields(vpci::type_tag<vf_name>) { return vpci::fields(&vf_name::initial); }
};
constexpr auto size = vpci::block<4, vf_name>::size;  // must not compile: wchar_t's size is the host's
