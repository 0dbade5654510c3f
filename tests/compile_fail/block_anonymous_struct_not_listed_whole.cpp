#include <vpci/core.hpp>
// An anonymous struct (a GNU extension Windows headers use as DUMMYSTRUCTNAME) with `c` left out: the
// count takes the anonymous struct as one member, the placement check sees room d's alignment leaves
// anyway, and the padding before d keeps the byte count out. What the anonymous struct initializes (two
// bytes) against what the list holds of it (one) tells; the message names anonymous structs, not only unions.
struct flags_word {
  __extension__ struct {
    std::uint8_t b;
    std::uint8_t c;
  };
  std::uint32_t d;
  friend constexpr auto vpci_fields(vpci::type_tag<flags_word>) { return vpci::fields(&flags_word::b, &flags_word::d); }
};
constexpr auto size = vpci::block<1, flags_word>::size;  // must not compile: c is not listed
