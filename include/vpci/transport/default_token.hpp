// vpci::default_completion_token_t<Executor>: the completion token every vpci asynchronous operation
// uses when the caller passes none.
//
// It is Asio's default for the executor (boost::asio::default_completion_token_t<Executor>: an executor
// made with, e.g., boost::asio::use_awaitable.as_default_on(ex) gives use_awaitable). Before Boost 1.86,
// Asio has no default for a plain executor (the trait is void, so the call would not compile); there vpci
// uses boost::asio::deferred, the default Boost 1.86 chose for every executor, so a call without a token
// returns a deferred operation with every Boost vpci supports (1.81 and later).
#pragma once

#include <vpci/protocol/cxx20.hpp>

#include <type_traits>

#include <boost/asio/async_result.hpp>
#include <boost/asio/deferred.hpp>

namespace vpci {

template <class Executor>
using default_completion_token_t =
    std::conditional_t<std::is_void_v<boost::asio::default_completion_token_t<Executor>>, boost::asio::deferred_t,
                       boost::asio::default_completion_token_t<Executor>>;

}  // namespace vpci
