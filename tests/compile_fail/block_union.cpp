#include <vpci/core.hpp>
// A union has no wire layout, with or without a field list: which member is active is not known.
union vf_rate {
  std::uint32_t raw;
  float gbps;
  friend constexpr auto vpci_fields(vpci::type_tag<vf_rate>) { return vpci::fields(&vf_rate::raw); }
};
constexpr auto size = vpci::block<4, vf_rate>::size;  // must not compile: a union
