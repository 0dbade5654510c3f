#include <vpci/core.hpp>
// An extended integer type: not every host and compiler has one (MSVC and 32-bit targets do not).
constexpr auto size = vpci::block<1, unsigned __int128>::size;  // must not compile
