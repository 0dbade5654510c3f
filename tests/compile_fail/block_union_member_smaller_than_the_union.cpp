#include <vpci/core.hpp>
// A member of an anonymous union smaller than the union listed: the count takes the union as one member
// and the placement check saw the union's other three bytes as padding, so `big` travelled cut to its low
// byte (0x11223344 encoded as 44, decoded as 0x00000044).
struct vf_rate {
  union {
    std::uint8_t small;
    std::uint32_t big;
  };
  std::uint32_t tail;
  friend constexpr auto vpci_fields(vpci::type_tag<vf_rate>) { return vpci::fields(&vf_rate::small, &vf_rate::tail); }
};
constexpr auto size = vpci::block<4, vf_rate>::size;  // must not compile: small is not the union's largest
