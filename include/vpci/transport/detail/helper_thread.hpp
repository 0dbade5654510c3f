// vpci/transport/detail/helper_thread.hpp: starting a transport's helper thread with the error type the
// transports document. std::thread reports a failed start (EAGAIN: the process or user is out of threads)
// as std::system_error; every other errno failure of a transport is a boost::system::system_error of the
// system category, and callers that catch that must catch this one too.
#pragma once

#include <vpci/protocol/cxx20.hpp>

#include <memory>
#include <system_error>
#include <thread>
#include <utility>

#include <boost/system/error_code.hpp>
#include <boost/system/system_error.hpp>

namespace vpci::detail {

// Runs `body` on a new thread. Throws boost::system::system_error (`what`, the errno of the failed start)
// when the thread cannot start; `body` has not run then.
template <class Body>
[[nodiscard]] std::unique_ptr<std::thread> start_helper_thread(Body&& body, const char* what) {
  try {
    return std::make_unique<std::thread>(std::forward<Body>(body));
  } catch (const std::system_error& e) {
    throw boost::system::system_error(boost::system::error_code(e.code().value(), boost::system::system_category()),
                                      what);
  }
}

}  // namespace vpci::detail
