// vpci/transport/detail/would_block.hpp: whether a non-blocking call's errno means "not now, try again".
// POSIX lets EAGAIN and EWOULDBLOCK differ. On Linux they are one value, and the test spelled as
// `e == EAGAIN || e == EWOULDBLOCK` is a logical 'or' of equal expressions to g++ (-Wlogical-op): a
// warning in vpci's headers that a consumer's build, which sees them through a plain -I, may make an
// error.
#pragma once

#include <vpci/protocol/cxx20.hpp>

#include <cerrno>

namespace vpci::detail {

[[nodiscard]] inline bool would_block(int error) noexcept {
#if EAGAIN == EWOULDBLOCK
  return error == EAGAIN;
#else
  return error == EAGAIN || error == EWOULDBLOCK;
#endif
}

}  // namespace vpci::detail
