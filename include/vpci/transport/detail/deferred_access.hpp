// vpci/transport/detail/deferred_access.hpp (hosted, not public API): the completion object the in-process
// transports hand to Asio when an access is performed later (posted, or after a latency timer), so that
// the access and the user's handler run where the handler's associated executor says, with its allocator
// and cancellation slot associated, exactly as if Asio had been given the handler itself. (Whether the post
// allocates from that allocator is the executor's choice: Asio 1.81's any_io_executor, these transports'
// executor type, does not carry the allocator property and allocates its own memory.)
#pragma once

#include <cstddef>
#include <memory>
#include <utility>

#include <boost/asio/associator.hpp>
#include <boost/system/error_code.hpp>

#include <vpci/error.hpp>

namespace vpci::detail {

// Access: callable as std::size_t(boost::system::error_code&), performs the transfer.
// Timer: the latency timer this operation owns (kept alive until the operation completes), or void.
template <class Handler, class Access, class Timer = void>
class deferred_access {
 public:
  deferred_access(Handler handler, Access access, std::unique_ptr<Timer> timer = nullptr)
      : handler_(std::move(handler)), access_(std::move(access)), timer_(std::move(timer)) {}

  // Posted completion: perform the access now.
  void operator()() {
    boost::system::error_code ec;
    const std::size_t transferred = access_(ec);
    std::move(handler_)(ec, transferred);
  }

  // Latency elapsed (or the wait was cancelled: then nothing is transferred).
  void operator()(const boost::system::error_code& wait_error) {
    if (wait_error) {
      std::move(handler_)(boost::system::error_code{errc::cancelled}, std::size_t{0});
      return;
    }
    (*this)();
  }

  Handler handler_;

 private:
  Access access_;
  std::unique_ptr<Timer> timer_;
};

template <class Handler, class Access>
class deferred_access<Handler, Access, void> {
 public:
  deferred_access(Handler handler, Access access) : handler_(std::move(handler)), access_(std::move(access)) {}

  void operator()() {
    boost::system::error_code ec;
    const std::size_t transferred = access_(ec);
    std::move(handler_)(ec, transferred);
  }

  Handler handler_;

 private:
  Access access_;
};

}  // namespace vpci::detail

// Forward every associator (executor, allocator, cancellation slot, immediate executor) to the user's
// handler, as Asio's own append/consign wrappers do.
template <template <class, class> class Associator, class Handler, class Access, class Timer, class DefaultCandidate>
struct boost::asio::associator<Associator, vpci::detail::deferred_access<Handler, Access, Timer>, DefaultCandidate>
    : Associator<Handler, DefaultCandidate> {
  static typename Associator<Handler, DefaultCandidate>::type get(
      const vpci::detail::deferred_access<Handler, Access, Timer>& h) noexcept {
    return Associator<Handler, DefaultCandidate>::get(h.handler_);
  }
  static auto get(const vpci::detail::deferred_access<Handler, Access, Timer>& h,
                  const DefaultCandidate& candidate) noexcept
      -> decltype(Associator<Handler, DefaultCandidate>::get(h.handler_, candidate)) {
    return Associator<Handler, DefaultCandidate>::get(h.handler_, candidate);
  }
};
