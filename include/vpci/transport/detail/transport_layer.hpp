// vpci/transport/detail/transport_layer.hpp (hosted, not public API): what every wrapper of a
// config_space_transport passes through unchanged, so that a wrapped transport keeps the traits a driver
// side relies on (transport/traits.hpp): the executor, the size, the peer signal (with whether this
// connection carries it and whether its signals coalesce) and the peer's liveness. A wrapper derives from
// it and defines read, write, async_read and async_write; whether it claims nonblocking_access is its own
// decision. The device-side features (device_read, write hooks, unsignalled writes) are not passed
// through: a wrapper is a driver's view of the space.
#pragma once

#include <chrono>
#include <cstdint>
#include <type_traits>
#include <utility>

#include <boost/system/error_code.hpp>

#include <vpci/transport/concept.hpp>
#include <vpci/transport/default_token.hpp>
#include <vpci/transport/traits.hpp>

namespace vpci::detail {

// Transport may be a reference type (wrap an existing transport) or an object type (the layer owns it,
// constructed in place from the constructor's arguments).
template <class Transport>
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

 protected:
  ~transport_layer() = default;

  Transport next_;
};

}  // namespace vpci::detail
