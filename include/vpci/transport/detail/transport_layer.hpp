// vpci/transport/detail/transport_layer.hpp (hosted, not public API): what every wrapper of a
// config_space_transport passes through unchanged, so that a wrapped transport keeps the traits a driver
// side relies on (transport/traits.hpp): the executor, the size, the peer signal (with whether this
// connection carries it and whether its signals coalesce), the peer's liveness and a lasting failure; and
// the asynchronous entry points, which hand each operation to the wrapper's start(handler, offset, buffer)
// (a read when the buffer is std::span<std::byte>, a write when it is std::span<const std::byte>), which
// ends in start_on_next or completes the handler itself. A wrapper derives from it (CRTP), defines read, write
// and start, and decides whether it claims nonblocking_access. The device-side features (device_read,
// write hooks, unsignalled writes) are not passed through: a wrapper is a driver's view of the space.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <type_traits>
#include <utility>

#include <boost/asio/async_result.hpp>
#include <boost/system/error_code.hpp>

#include <vpci/transport/concept.hpp>
#include <vpci/transport/default_token.hpp>
#include <vpci/transport/traits.hpp>

namespace vpci::detail {

// Transport may be a reference type (wrap an existing transport) or an object type (the layer owns it,
// constructed in place from the constructor's arguments).
template <class Derived, class Transport>
  requires config_space_transport<std::remove_cvref_t<Transport>>
class transport_layer {
 public:
  using next_layer_type = std::remove_cvref_t<Transport>;
  using executor_type = typename next_layer_type::executor_type;

  // Signals the wrapped transport gives while one is undelivered arrive as one, as they do there.
  static constexpr bool peer_signals_coalesce =
      peer_signalling_transport<next_layer_type> && !peer_signals_counted_v<next_layer_type>;

  template <class... Args>
  explicit transport_layer(Args&&... args) : next_(std::forward<Args>(args)...) {}

  [[nodiscard]] next_layer_type& next_layer() noexcept { return next_; }
  [[nodiscard]] const next_layer_type& next_layer() const noexcept { return next_; }

  [[nodiscard]] executor_type get_executor() const noexcept { return next_.get_executor(); }
  [[nodiscard]] std::size_t size() const noexcept { return next_.size(); }

  // Completion signature void(boost::system::error_code, std::size_t); errors, cancellation and
  // inline-completion rules are the wrapped transport's, and the wrapper's where it adds some. The
  // wrapper must outlive its operations, as a transport must.
  template <class CompletionToken = vpci::default_completion_token_t<executor_type>>
  auto async_read(std::size_t offset, std::span<std::byte> buffer, CompletionToken&& token = CompletionToken{}) {
    return boost::asio::async_initiate<CompletionToken, void(boost::system::error_code, std::size_t)>(
        initiation{static_cast<Derived*>(this)}, token, offset, buffer);
  }
  template <class CompletionToken = vpci::default_completion_token_t<executor_type>>
  auto async_write(std::size_t offset, std::span<const std::byte> bytes, CompletionToken&& token = CompletionToken{}) {
    return boost::asio::async_initiate<CompletionToken, void(boost::system::error_code, std::size_t)>(
        initiation{static_cast<Derived*>(this)}, token, offset, bytes);
  }

  // The wrapped transport's peer signal, when it has one (semantics: the wrapped transport's).
  [[nodiscard]] std::uint32_t peer_signal_sequence() const
    requires peer_signalling_transport<next_layer_type>
  {
    return next_.peer_signal_sequence();
  }
  std::uint32_t wait_peer_signal(std::uint32_t seen, std::chrono::nanoseconds timeout, boost::system::error_code& ec) const
    requires peer_signalling_transport<next_layer_type>
  {
    return next_.wait_peer_signal(seen, timeout, ec);
  }
  template <class CompletionToken = vpci::default_completion_token_t<executor_type>>
    requires peer_signalling_transport<next_layer_type>
  auto async_wait_peer_signal(std::uint32_t seen, CompletionToken&& token = CompletionToken{}) {
    return next_.async_wait_peer_signal(seen, std::forward<CompletionToken>(token));
  }
  // Whether this connection carries the signal: the wrapped transport's answer.
  [[nodiscard]] bool peer_signal_available() const noexcept
    requires peer_signalling_transport<next_layer_type>
  {
    return vpci::peer_signal_available(next_);
  }

  // The wrapped transport's liveness, when it has one (semantics: the wrapped transport's).
  [[nodiscard]] bool peer_alive() const
    requires liveness_transport<next_layer_type>
  {
    return next_.peer_alive();
  }
  template <class CompletionToken = vpci::default_completion_token_t<executor_type>>
    requires liveness_transport<next_layer_type>
  auto async_wait_peer_gone(CompletionToken&& token = CompletionToken{}) {
    return next_.async_wait_peer_gone(std::forward<CompletionToken>(token));
  }

  // The wrapped transport's lasting failure, when it can have one (semantics: the wrapped transport's).
  [[nodiscard]] boost::system::error_code lasting_failure() const
    requires lasting_failure_transport<next_layer_type>
  {
    return next_.lasting_failure();
  }

 protected:
  ~transport_layer() = default;

  // The operation, as the wrapper's start() was given it, on the wrapped transport.
  template <class Handler, class Buffer>
  void start_on_next(Handler&& handler, std::size_t offset, Buffer buffer) {
    if constexpr (std::is_const_v<typename Buffer::element_type>) {
      next_.async_write(offset, buffer, std::forward<Handler>(handler));
    } else {
      next_.async_read(offset, buffer, std::forward<Handler>(handler));
    }
  }

  Transport next_;

 private:
  struct initiation {
    Derived* self;
    using executor_type = transport_layer::executor_type;
    executor_type get_executor() const noexcept { return self->get_executor(); }
    template <class Handler, class Buffer>
    void operator()(Handler&& handler, std::size_t offset, Buffer buffer) const {
      self->start(std::forward<Handler>(handler), offset, buffer);
    }
  };
};

}  // namespace vpci::detail
