#include <vpci/core.hpp>
// vpci::errc as the payload type: a typed read's result<errc> could not tell the value from a failure.
constexpr auto size = vpci::block<1, vpci::errc>::size;  // must not compile
