#include <vpci/core.hpp>
// A described struct that is not a literal type (its constructor is not constexpr): where its fields lie
// cannot be asked in a constant expression, so whether the list overlaps or leaves out a member could not
// be checked. Refused, rather than those checks skipped.
struct vf_settings {
  vf_settings() {}
  std::uint32_t head;  // left out of the list
  union {
    std::uint32_t raw;
    float ratio;
  };
  std::uint32_t tail;
  friend constexpr auto vpci_fields(vpci::type_tag<vf_settings>) {
    return vpci::fields(&vf_settings::raw, &vf_settings::ratio, &vf_settings::tail);
  }
};
constexpr auto size = vpci::block<5, vf_settings>::size;  // must not compile: give T a constexpr constructor
