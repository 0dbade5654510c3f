#include <vpci/core.hpp>
// Not an aggregate (private members, listed by a friend), so T{...} cannot count its members; the room
// tx_ takes after the listed rx_ gives it away.
class vf_quota {
  std::uint32_t rx_ = 0;
  std::uint32_t tx_ = 0;  // left out of the list below
 public:
  friend constexpr auto vpci_fields(vpci::type_tag<vf_quota>) { return vpci::fields(&vf_quota::rx_); }
};
constexpr auto size = vpci::block<2, vf_quota>::size;  // must not compile: tx_ is not listed
