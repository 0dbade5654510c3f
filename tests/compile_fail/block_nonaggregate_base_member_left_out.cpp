#include <vpci/core.hpp>
// A struct with a base and a constructor: not an aggregate, so neither the base rule nor the count applies,
// and the left-out `flags` lies where the placement check sees room mtu's alignment leaves anyway. S has
// no padding, so the listed fields must hold all four bytes: they hold three (flags never travelled).
struct header {
  std::uint8_t version;
  std::uint8_t flags;
};
struct config : header {
  constexpr config() : header{}, mtu{} {}
  std::uint16_t mtu;
  friend constexpr auto vpci_fields(vpci::type_tag<config>) {
    return vpci::fields<config, std::uint8_t, std::uint16_t>(&config::version, &config::mtu);
  }
};
constexpr auto size = vpci::block<3, config>::size;  // must not compile: flags is not listed
