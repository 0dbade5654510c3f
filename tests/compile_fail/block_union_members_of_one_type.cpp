#include <vpci/core.hpp>
// Two members of one anonymous union of the same type: refused as sharing their bytes (g++ cannot tell
// the two member pointers apart, and reports them as one member named twice).
struct vf_settings {
  std::uint32_t head;
  union {
    std::uint32_t raw;
    std::uint32_t cooked;
  };
  std::uint32_t tail;
  friend constexpr auto vpci_fields(vpci::type_tag<vf_settings>) {
    return vpci::fields(&vf_settings::raw, &vf_settings::cooked, &vf_settings::tail);
  }
};
constexpr auto size = vpci::block<4, vf_settings>::size;  // must not compile: raw and cooked overlap
