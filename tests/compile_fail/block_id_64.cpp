#include <vpci/core.hpp>
constexpr auto size = vpci::block<64, std::uint32_t>::size;  // must not compile: ID beyond the mask
