// vpci::fault_injecting_transport: wraps any config_space_transport and fails a chosen operation with a
// chosen error, for "fail at every step" tests: run a scenario with the failure at operation 0, 1, 2, ...
// until a run finishes without reaching the failure (fault_triggered() stays false), checking each time that
// the failure is reported and nothing is left half done.
//
// Operations are read, write, async_read and async_write, numbered from 0 in the order they are started
// (an async operation counts when it is initiated). A failed operation does not reach the wrapped
// transport: a synchronous one returns 0 with the error, an asynchronous one completes with (error, 0)
// through a post to the handler's associated executor (never inline), like the wrapped transport's.
// size() and get_executor() are not operations. Not thread-safe (one thread or strand), as the counters
// are plain.
//
// Traits (transport/traits.hpp): the wrapper has the peer signal (with its availability and coalescing),
// the liveness and the lasting failure of the wrapped transport when it has them, passed through unchanged
// and never failed (they are not operations; detail/transport_layer.hpp): an injected failure is one
// access's, never a lasting one. It never claims nonblocking_access: endpoints then drive it through
// async_read/async_write, where every failure shows.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <type_traits>
#include <utility>

#include <boost/asio/append.hpp>
#include <boost/asio/post.hpp>
#include <boost/system/error_code.hpp>

#include <vpci/error.hpp>
#include <vpci/transport/concept.hpp>
#include <vpci/transport/detail/transport_layer.hpp>

namespace vpci {

// Whether the failure hits only the chosen operation or it and every one after (a device that died).
enum class fault_persistence { once, from_then_on };

// Transport may be a reference type (wrap an existing transport) or an object type (the wrapper owns it,
// constructed in place from the constructor's arguments).
template <class Transport>
  requires config_space_transport<std::remove_cvref_t<Transport>>
class fault_injecting_transport : public detail::transport_layer<fault_injecting_transport<Transport>, Transport> {
  using layer = detail::transport_layer<fault_injecting_transport<Transport>, Transport>;
  friend layer;
  using layer::next_;

 public:
  using typename layer::executor_type;
  using typename layer::next_layer_type;

  static constexpr std::size_t never = std::numeric_limits<std::size_t>::max();

  using layer::layer;  // the wrapped transport, or its constructor's arguments

  // Fails operation number `operation_index` (counting from 0 over the operations started so far and
  // later) with `error`. Replaces any previous plan; does not reset the count.
  void fail_at(std::size_t operation_index, boost::system::error_code error,
               fault_persistence persistence = fault_persistence::once) noexcept {
    fail_index_ = operation_index;
    error_ = error;
    persistence_ = persistence;
  }
  // No further failures.
  void disarm() noexcept { fail_index_ = never; }

  // Operations started so far, failed ones included.
  [[nodiscard]] std::size_t operation_count() const noexcept { return operation_count_; }
  // Operations that were failed by injection.
  [[nodiscard]] std::size_t faults_injected() const noexcept { return faults_injected_; }
  [[nodiscard]] bool fault_triggered() const noexcept { return faults_injected_ != 0; }

  std::size_t read(std::size_t offset, std::span<std::byte> buffer, boost::system::error_code& ec) {
    if (take_fault()) {
      ec = error_;
      return 0;
    }
    return next_.read(offset, buffer, ec);
  }

  std::size_t write(std::size_t offset, std::span<const std::byte> bytes, boost::system::error_code& ec) {
    if (take_fault()) {
      ec = error_;
      return 0;
    }
    return next_.write(offset, bytes, ec);
  }

  // async_read and async_write (detail/transport_layer.hpp): the wrapped transport's, or the injected
  // error through a post to the handler's associated executor (never inline).

 private:
  // Counts one operation; true when it is the one (or one of those) to fail.
  bool take_fault() noexcept {
    const std::size_t index = operation_count_++;
    const bool hit = fail_index_ != never && (index == fail_index_ ||
                                              (persistence_ == fault_persistence::from_then_on && index > fail_index_));
    if (hit) ++faults_injected_;
    return hit;
  }

  template <class Handler>
  void post_failure(Handler&& handler) {
    boost::asio::post(next_.get_executor(),
                      boost::asio::append(std::forward<Handler>(handler), error_, std::size_t{0}));
  }

  // An asynchronous operation (detail/transport_layer.hpp): failed, or passed on.
  template <class Handler, class Buffer>
  void start(Handler&& handler, std::size_t offset, Buffer buffer) {
    if (take_fault()) {
      post_failure(std::forward<Handler>(handler));
    } else {
      this->start_on_next(std::forward<Handler>(handler), offset, buffer);
    }
  }

  std::size_t operation_count_ = 0;
  std::size_t faults_injected_ = 0;
  std::size_t fail_index_ = never;
  boost::system::error_code error_;
  fault_persistence persistence_ = fault_persistence::once;
};

}  // namespace vpci
