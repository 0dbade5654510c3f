#include <vpci/core.hpp>
// A const payload of a type that has no layout of its own: one message, the first rule broken. g++ gave
// layout_diagnosed's message for long double as well, instantiated behind the && that had already failed.
constexpr auto size = vpci::block<4, const long double>::size;  // must not compile: const
