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
//     bool peer_signal_available() const              optional: false when this connection cannot carry
//                                                     the signal after all (a vfio-user server without an
//                                                     INTx eventfd); the endpoints then poll. Read when an
//                                                     endpoint is made.
//     static constexpr bool peer_signals_coalesce      optional, true: signals given while one is still
//                                                     undelivered arrive as one (an automasked interrupt),
//                                                     so the count does not move once per signal.
//
// - Liveness of the peer: the transport can tell a dead peer (crashed, exited, replaced) from a slow one.
//     bool peer_alive() const                          false once the peer is known to be gone
//     async_wait_peer_gone(token)                      void(boost::system::error_code): success when the
//                                                     peer is gone; per-operation cancellation
//   Endpoints over such a transport fail their operations with vpci::errc::peer_gone once it is.
//
// - A connection that failed for good: some errors leave the transport unusable until it is connected
//   again (a vfio-user server that missed its reply deadline or broke the framing, or hung up; a sysfs
//   config file whose function Linux removed), and every later access fails at once with the same error.
//     boost::system::error_code lasting_failure() const   that error; an empty code while accesses may work
//   Endpoints over such a transport end there too: pending operations and the invalidation wait complete
//   with it, and failure() reports it, rather than each later operation failing anew through the engine.
//
// What the device side (a PF serving a VF's config space) may find, detected the same way; a transport
// without them is driven through its ordinary read/write, which must then reach every bit:
//
// - The device's own side of a simulated space: accesses that bypass the driver-side register semantics
//   (read-only bits) and write observers, as the device itself would store its registers.
//     vpci::errc device_read(offset, std::span<std::byte>) const
//     vpci::errc device_write(offset, std::span<const std::byte>)
//
// - Driver-side write protection: the device makes bits read-only to the driver side, as hardware does
//   (a config write to read-only bits never reaches the device's state).
//     vpci::errc set_write_mask(offset, std::span<const std::byte> mask)   per bit, 1 = the driver may write
//
// - Synchronous observation of driver-side writes (an in-process device model): a hook runs inside each
//   driver-side write call, after its bytes are stored, on the writer's thread; several parties may
//   observe the same space.
//     write_hook_id add_write_hook(std::function<void(std::size_t offset, std::size_t length)>)
//     bool remove_write_hook(write_hook_id)                false when the id is not (or no longer) added
//
// - One signal per update: a write normally signals the peer by itself; a writer publishing several writes
//   as one update writes them unsignalled and signals once, so the peer wakes once, to a complete update.
//     std::size_t write_unsignalled(offset, std::span<const std::byte>, ec)
//     void signal_peer()
#pragma once

#include <chrono>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <utility>

#include <boost/asio/deferred.hpp>
#include <boost/system/error_code.hpp>

#include <vpci/protocol/errc.hpp>

namespace vpci {

// Names a hook added with add_write_hook.
using write_hook_id = std::uint64_t;

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

// Whether a peer-signalling transport's signal works on this connection (peer_signal_available(), where the
// transport has it; otherwise always).
template <class T>
[[nodiscard]] bool peer_signal_available(const T& transport) noexcept {
  if constexpr (!peer_signalling_transport<T>) {
    return false;
  } else if constexpr (requires { { transport.peer_signal_available() } -> std::convertible_to<bool>; }) {
    return transport.peer_signal_available();
  } else {
    return true;
  }
}

// Whether the signal count moves once per signal the peer gives (not when the transport coalesces them).
template <class T>
inline constexpr bool peer_signals_counted_v = peer_signalling_transport<T> && !requires {
  requires T::peer_signals_coalesce;
};

template <class T>
concept liveness_transport = requires(T& t, const T& ct) {
  { ct.peer_alive() } -> std::same_as<bool>;
  t.async_wait_peer_gone(boost::asio::deferred);
};

template <class T>
concept lasting_failure_transport = requires(const T& ct) {
  { ct.lasting_failure() } -> std::same_as<boost::system::error_code>;
};

template <class T>
concept device_side_transport =
    requires(T& t, const T& ct, std::size_t offset, std::span<std::byte> out, std::span<const std::byte> in) {
      { ct.device_read(offset, out) } -> std::same_as<errc>;
      { t.device_write(offset, in) } -> std::same_as<errc>;
    };

template <class T>
concept write_protecting_transport = requires(T& t, std::size_t offset, std::span<const std::byte> mask) {
  { t.set_write_mask(offset, mask) } -> std::same_as<errc>;
};

template <class T>
concept write_observing_transport =
    requires(T& t, std::function<void(std::size_t, std::size_t)> hook, write_hook_id id) {
      { t.add_write_hook(std::move(hook)) } -> std::same_as<write_hook_id>;
      { t.remove_write_hook(id) } -> std::same_as<bool>;
    };

template <class T>
concept update_signalling_transport =
    requires(T& t, std::size_t offset, std::span<const std::byte> in, boost::system::error_code& ec) {
      { t.write_unsignalled(offset, in, ec) } -> std::same_as<std::size_t>;
      t.signal_peer();
    };

}  // namespace vpci
