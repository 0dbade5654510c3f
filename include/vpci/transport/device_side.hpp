// How the device side (a PF serving a VF's configuration space) reads and writes through any
// config_space_transport, from what the transport says it offers (transport/traits.hpp), so that nothing
// above the transport layer names a concrete transport:
//
// - a transport with a device side of its own (an in-process device model) is read and written there:
//   read-only bits do not apply and no write hook runs, as for the device's own register stores;
// - any other transport is read and written through its ordinary read/write (a shared-memory view in the
//   device role, a generic transport): it must then let the device write every bit;
// - on a transport that signals its peer per write, device_side_write holds the signal back and
//   device_side_publish gives it once, when an update of several writes is complete.
//
// Errors: those of the transport, unchanged (out_of_range / invalid_argument for bad bounds, and whatever
// the transport reports); functions returning std::size_t return the bytes transferred, 0 on error.
#pragma once

#include <cstddef>
#include <span>

#include <boost/system/error_code.hpp>

#include <vpci/error.hpp>
#include <vpci/transport/concept.hpp>
#include <vpci/transport/traits.hpp>

namespace vpci {

template <config_space_transport Transport>
std::size_t device_side_read(Transport& transport, std::size_t offset, std::span<std::byte> out,
                             boost::system::error_code& ec) {
  if constexpr (device_side_transport<Transport>) {
    const errc e = transport.device_read(offset, out);
    ec = e == no_error ? boost::system::error_code{} : make_error_code(e);
    return e == no_error ? out.size() : 0;
  } else {
    return transport.read(offset, out, ec);
  }
}

template <config_space_transport Transport>
std::size_t device_side_write(Transport& transport, std::size_t offset, std::span<const std::byte> bytes,
                              boost::system::error_code& ec) {
  if constexpr (device_side_transport<Transport>) {
    const errc e = transport.device_write(offset, bytes);
    ec = e == no_error ? boost::system::error_code{} : make_error_code(e);
    return e == no_error ? bytes.size() : 0;
  } else if constexpr (update_signalling_transport<Transport>) {
    return transport.write_unsignalled(offset, bytes, ec);
  } else {
    return transport.write(offset, bytes, ec);
  }
}

// Whether the device side can signal the driver side when it completed an update (device_side_publish
// does something): a transport with one signal per update, driven through its ordinary writes.
template <class Transport>
concept device_side_signalling_transport = !device_side_transport<Transport> && update_signalling_transport<Transport>;

// Tells the peer that an update made with device_side_write is complete (nothing to do on transports
// that do not signal their peer, or that signal on every write).
template <config_space_transport Transport>
void device_side_publish(Transport& transport) {
  if constexpr (device_side_signalling_transport<Transport>) transport.signal_peer();
}

// Makes the bytes [offset, offset + mask.size()) writable by the driver side exactly where `mask` has a
// 1 bit, on a transport that can protect bits. Errors: the transport's; vpci::errc::not_supported when
// it cannot (the device then has to detect and undo driver writes it does not allow).
template <config_space_transport Transport>
errc protect_driver_writes(Transport& transport, std::size_t offset, std::span<const std::byte> mask) {
  if constexpr (write_protecting_transport<Transport>) {
    return transport.set_write_mask(offset, mask);
  } else {
    (void)transport;
    (void)offset;
    (void)mask;
    return errc::not_supported;
  }
}

}  // namespace vpci
