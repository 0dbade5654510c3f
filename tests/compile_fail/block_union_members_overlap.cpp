#include <vpci/core.hpp>
// Two members of one anonymous union listed: they share their bytes, and the two initializers they took
// in the count stood for `head`, which was left out and never travelled.
struct vf_settings {
  std::uint32_t head;
  union {
    std::uint32_t raw;
    float ratio;
  };
  std::uint32_t tail;
  friend constexpr auto vpci_fields(vpci::type_tag<vf_settings>) {
    return vpci::fields(&vf_settings::raw, &vf_settings::ratio, &vf_settings::tail);
  }
};
constexpr auto size = vpci::block<4, vf_settings>::size;  // must not compile: raw and ratio overlap
