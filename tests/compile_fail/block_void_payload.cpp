#include <vpci/core.hpp>
// void as the payload type: a block carries 1..128 bytes of some type.
using nothing = vpci::block<1, void>;
constexpr auto id = nothing::id;  // must not compile
