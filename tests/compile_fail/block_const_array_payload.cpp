#include <vpci/core.hpp>
// An array of const elements as T is no more assignable than a const T: its own message, not a request to
// describe std::array.
constexpr auto size = vpci::block<1, std::array<const std::uint8_t, 4>>::size;  // must not compile
