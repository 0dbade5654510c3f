#include <vpci/core.hpp>
// An enum without a fixed underlying type: its size is the compiler's (4 bytes with x86-64 g++ and
// clang++, 1 with arm-none-eabi's short enums), and a peer's value outside its range would be UB.
enum link_state { link_down, link_up };
struct vf_status {
  std::uint8_t version;
  link_state link;
  friend constexpr auto vpci_fields(vpci::type_tag<vf_status>) {
    return vpci::fields(&vf_status::version, &vf_status::link);
  }
};
constexpr auto size = vpci::block<7, vf_status>::size;  // must not compile: enum link_state : std::uint8_t
