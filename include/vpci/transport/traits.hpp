// How a config-space transport describes itself to the endpoints, so that nothing above the transport
// layer names a concrete transport. Each property is detected from the transport's own members:
//
// - Non-blocking accesses: `static constexpr bool nonblocking_access = true;` says synchronous read/write
//   only touch memory and never block (memory, shared memory). The endpoints then perform them inline
//   instead of through async_read/async_write.
//
// - A signal from the peer (a doorbell, an interrupt): the peer can wake this side when it wrote
//   something, so a side waiting for its peer sleeps on the signal instead of polling the registers.
//     std::uint32_t peer_signal_sequence() const      the signal's count; read it before acting
//     std::uint32_t wait_peer_signal(seen, timeout, ec) const
//                                                     blocks until the count differs from `seen`
//                                                     (ec = vpci::errc::timeout after `timeout`)
//     async_wait_peer_signal(seen, token)              void(boost::system::error_code, std::uint32_t);
//                                                     per-operation cancellation (cancelled)
//   Read the count, act (read the registers), then wait for a change from the count read: a signal in
//   between is never lost.
//
// - Liveness of the peer: the transport can tell a dead peer (crashed, exited, replaced) from a slow one.
//     bool peer_alive() const                          false once the peer is known to be gone
//     async_wait_peer_gone(token)                      void(boost::system::error_code): success when the
//                                                     peer is gone; per-operation cancellation
//   Endpoints over such a transport fail their operations with vpci::errc::peer_gone once it is.
#pragma once

#include <chrono>
#include <concepts>
#include <cstdint>

#include <boost/asio/deferred.hpp>
#include <boost/system/error_code.hpp>

namespace vpci {

template <class T>
inline constexpr bool nonblocking_transport_v = requires {
  { T::nonblocking_access } -> std::convertible_to<bool>;
  requires T::nonblocking_access;
};

template <class T>
concept peer_signalling_transport =
    requires(T& t, const T& ct, std::uint32_t seen, std::chrono::nanoseconds timeout, boost::system::error_code& ec) {
      { ct.peer_signal_sequence() } -> std::same_as<std::uint32_t>;
      { ct.wait_peer_signal(seen, timeout, ec) } -> std::same_as<std::uint32_t>;
      t.async_wait_peer_signal(seen, boost::asio::deferred);
    };

template <class T>
concept liveness_transport = requires(T& t, const T& ct) {
  { ct.peer_alive() } -> std::same_as<bool>;
  t.async_wait_peer_gone(boost::asio::deferred);
};

}  // namespace vpci
