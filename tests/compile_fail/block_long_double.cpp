#include <array>
#include <vpci/core.hpp>
// A block of long doubles, as a whole and not as a struct's field: refused for the same reason, on every
// host (compiled with -mlong-double-64 too, where each is 8 bytes).
constexpr auto size = vpci::block<4, std::array<long double, 2>>::size;  // must not compile
