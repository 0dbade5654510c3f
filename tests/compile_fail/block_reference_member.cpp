#include <vpci/core.hpp>
// A reference member: no initializer in the member count could bind it, so the count stopped there and
// `tail` was taken for absent (it never travelled). A reference is not encodable anyway: refused.
inline std::uint32_t shared_counter;
struct vf_settings {
  std::uint32_t head;
  std::uint32_t& counter = shared_counter;
  std::uint32_t tail;
  friend constexpr auto vpci_fields(vpci::type_tag<vf_settings>) { return vpci::fields(&vf_settings::head); }
};
constexpr auto size = vpci::block<4, vf_settings>::size;  // must not compile: a reference member
