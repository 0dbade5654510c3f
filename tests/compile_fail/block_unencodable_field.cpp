#include <vpci/core.hpp>
// Field 1 is a pointer: meaningless to the peer, so it has no wire form.
struct with_pointer {
  std::uint32_t id;
  const char* name;
  friend constexpr auto vpci_fields(vpci::type_tag<with_pointer>) {
    return vpci::fields(&with_pointer::id, &with_pointer::name);
  }
};
constexpr auto size = vpci::block<5, with_pointer>::size;  // must not compile: field 1 is not encodable
