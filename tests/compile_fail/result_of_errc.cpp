#include <vpci/core.hpp>
// A result holding an errc as its value: result<errc>{errc::bad_data} could be a value or a failure.
vpci::result<vpci::errc> answer() { return vpci::errc::bad_data; }  // must not compile
