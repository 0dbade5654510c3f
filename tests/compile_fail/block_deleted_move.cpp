#include <vpci/core.hpp>
// Trivially copyable (its copies are trivial) but with deleted moves: decode returns the T it built, which
// picks the deleted move constructor; refused by the rule, not by an error inside decode.
struct pinned {
  std::uint32_t value;
  pinned() = default;
  pinned(const pinned&) = default;
  pinned& operator=(const pinned&) = default;
  pinned(pinned&&) = delete;
  pinned& operator=(pinned&&) = delete;
  friend constexpr auto vpci_fields(vpci::type_tag<pinned>) { return vpci::fields(&pinned::value); }
};
constexpr auto size = vpci::block<1, pinned>::size;  // must not compile
