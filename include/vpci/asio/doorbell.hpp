// How the VF endpoint waits for the other side of a transport, from the transport's own description
// (transport/traits.hpp): transports with a peer signal wake a waiting endpoint as soon as the peer
// wrote; the others are polled at the engine's interval.
#pragma once

#include <chrono>
#include <cstdint>
#include <type_traits>
#include <utility>

#include <boost/system/error_code.hpp>

#include <vpci/transport/traits.hpp>

namespace vpci {

template <class Transport>
struct is_nonblocking_transport : std::bool_constant<nonblocking_transport_v<Transport>> {};

template <class Transport>
struct transport_doorbell {
  static constexpr bool available = false;
};

template <peer_signalling_transport Transport>
struct transport_doorbell<Transport> {
  static constexpr bool available = true;
  static std::uint32_t sequence(const Transport& t) noexcept { return t.peer_signal_sequence(); }
  static void wait(const Transport& t, std::uint32_t seen, std::chrono::nanoseconds timeout) {
    boost::system::error_code ignored;
    (void)t.wait_peer_signal(seen, timeout, ignored);
  }
  template <class Handler>
  static void async_wait(Transport& t, std::uint32_t seen, Handler&& handler) {
    t.async_wait_peer_signal(seen, std::forward<Handler>(handler));
  }
};

}  // namespace vpci
