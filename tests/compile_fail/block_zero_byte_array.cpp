#include <array>
#include <vpci/core.hpp>
constexpr auto size = vpci::block<2, std::array<std::uint8_t, 0>>::size;  // must not compile: 0 bytes
