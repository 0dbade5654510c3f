#include <vpci/core.hpp>
// A block carries 1..128 bytes: a struct that lists no fields would be a block no read or write moves.
struct nothing {
  std::uint32_t local_only;
  friend constexpr auto vpci_fields(vpci::type_tag<nothing>) { return vpci::fields_with_gaps(); }
};
constexpr auto size = vpci::block<4, nothing>::size;  // must not compile: 0 bytes
