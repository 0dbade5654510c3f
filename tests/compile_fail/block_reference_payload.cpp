#include <vpci/core.hpp>
// A reference as the payload type: a block's value is the bytes themselves, block<Id, std::uint32_t>.
constexpr auto size = vpci::block<1, std::uint32_t&>::size;  // must not compile
