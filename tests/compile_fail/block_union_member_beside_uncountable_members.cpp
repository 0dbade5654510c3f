#include <vpci/core.hpp>
// An aggregate, but a member type with a constructor template taking any argument makes a bare
// initializer ambiguous, so T{...} cannot record what each member initializes: the listed `small` of a
// four-byte union passed, and `big` travelled cut to its low byte.
struct any_byte {
  std::uint8_t v;
  constexpr any_byte() noexcept : v{} {}
  template <class U>
  constexpr any_byte(U) noexcept : v{} {}
  friend constexpr auto vpci_fields(vpci::type_tag<any_byte>) { return vpci::fields(&any_byte::v); }
};
struct frame {
  any_byte x0, x1, x2, x3;
  union {
    std::uint8_t small;
    std::uint32_t big;
  };
  friend constexpr auto vpci_fields(vpci::type_tag<frame>) {
    return vpci::fields(&frame::x0, &frame::x1, &frame::x2, &frame::x3, &frame::small);
  }
};
constexpr auto size = vpci::block<6, frame>::size;  // must not compile: the union cannot be weighed
