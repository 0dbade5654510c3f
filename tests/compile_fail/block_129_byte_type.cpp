#include <array>
#include <vpci/core.hpp>
struct oversized {
  std::array<std::uint8_t, 129> bytes;
  friend constexpr auto vpci_fields(vpci::type_tag<oversized>) { return vpci::fields(&oversized::bytes); }
};
constexpr auto size = vpci::block<2, oversized>::size;  // must not compile: 129 encoded bytes
