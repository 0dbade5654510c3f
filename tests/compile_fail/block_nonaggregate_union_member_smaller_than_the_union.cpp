#include <vpci/core.hpp>
// Not an aggregate (a constructor), so T{...} cannot record what each member initializes: the listed
// `small` of a four-byte union passed the placement check (the union's other three bytes read as T's
// tail padding), and `big` travelled cut to its low byte (0x11223344 sent, 0x00000044 received).
struct vf_rate {
  constexpr vf_rate() : big{} {}
  union {
    std::uint8_t small;
    std::uint32_t big;
  };
  friend constexpr auto vpci_fields(vpci::type_tag<vf_rate>) { return vpci::fields(&vf_rate::small); }
};
constexpr auto size = vpci::block<4, vf_rate>::size;  // must not compile: the union cannot be weighed
