#include <vpci/core.hpp>
constexpr auto size = vpci::block<1, const std::uint32_t>::size;  // must not compile: decode fills in a T
