#include <vpci/core.hpp>
// A C array as the payload type: decode cannot return one; std::array<std::uint8_t, 6> can.
constexpr auto size = vpci::block<1, std::uint8_t[6]>::size;  // must not compile
