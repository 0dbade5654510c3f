#include <vpci/core.hpp>
// A pointer has no wire layout: the address means nothing to the peer.
constexpr auto size = vpci::block<1, std::uint32_t*>::size;  // must not compile
