#include <vpci/core.hpp>
// vpci_fields without constexpr: g++ gave six errors and clang sixteen, about constant expressions inside
// vpci's headers, none naming vpci_fields.
struct vf_limits {
  std::uint32_t max_rate;
  std::uint16_t queues;
  friend auto vpci_fields(vpci::type_tag<vf_limits>) { return vpci::fields(&vf_limits::max_rate, &vf_limits::queues); }
};
constexpr auto size = vpci::block<4, vf_limits>::size;  // must not compile: vpci_fields is not constexpr
