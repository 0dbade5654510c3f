#include <vpci/core.hpp>
// alignas on a member leaves room before it that a member left out could take: the list must say the
// gap is deliberate (vpci::fields_with_gaps), and the message says so.
struct vf_doorbell {
  std::uint8_t head;
  alignas(8) std::uint32_t value;
  friend constexpr auto vpci_fields(vpci::type_tag<vf_doorbell>) {
    return vpci::fields(&vf_doorbell::head, &vf_doorbell::value);
  }
};
constexpr auto size = vpci::block<3, vf_doorbell>::size;  // must not compile: use fields_with_gaps
