// vpci::interface_standard: a C-compatible mirror of VPCI_INTERFACE_STANDARD (vpci.h), so driver code
// written against ReadVfConfigBlock / WriteVfConfigBlock ports line for line.
//
//   auto vpci_if = vf.interface();
//   NTSTATUS status = vpci_if.ReadVfConfigBlock(vpci_if.Context, 1, buffer, sizeof buffer);
//
// Two facades fill it:
// - a VF endpoint's interface() (make_interface_standard below): each call runs the endpoint's
//   synchronous forms on the calling thread, for programs without an event loop. They refuse with
//   STATUS_DEVICE_NOT_READY (busy) while any asynchronous operation or invalidation wait of the endpoint is
//   pending, and may not run while another thread runs the endpoint's executor.
// - ioctl_device's interface() (ioctl_device.hpp): each call is a request of that facade handed to the
//   endpoint's executor, which another thread runs, and waited for; it runs beside a pending
//   IOCTL_VPCI_INVALIDATE_BLOCK, as a Windows VF driver keeps one. Use it whenever an event loop runs the
//   endpoint.
// Both: a successful ReadVfConfigBlock fills all of Length, zeroing the bytes past a shorter block
// (interface_read_outcome), so the two bindings give the caller the same bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include <boost/system/error_code.hpp>

#include <vpci/error.hpp>
#include <vpci/protocol/block_id.hpp>
#include <vpci/protocol/constants.hpp>
#include <vpci/protocol/ntstatus.hpp>

extern "C" {
// NTSTATUS VPCI_READ_BLOCK(PVOID Context, ULONG BlockId, PVOID Buffer, ULONG Length); WRITE the same.
// NTSTATUS is a LONG: signed, so NT_SUCCESS (status >= 0) and a ported `status < 0` read as on Windows.
typedef std::int32_t (*vpci_block_function)(void* context, std::uint32_t block_id, void* buffer,
                                             std::uint32_t length);
typedef void (*vpci_interface_reference)(void* context);
}

namespace vpci {

// Field order and types as in vpci.h: WriteVfConfigBlock comes before ReadVfConfigBlock.
struct interface_standard {
  std::uint16_t Size;
  std::uint16_t Version;
  void* Context;
  vpci_interface_reference InterfaceReference;
  vpci_interface_reference InterfaceDereference;
  vpci_block_function WriteVfConfigBlock;
  vpci_block_function ReadVfConfigBlock;
  std::uint32_t SerialNumber;
};

inline constexpr std::uint16_t interface_standard_version = 1;

namespace detail {
inline void interface_no_reference(void*) noexcept {}

// The NTSTATUS of a status, as the signed LONG the interface returns.
constexpr std::int32_t interface_status(ntstatus status) noexcept { return static_cast<std::int32_t>(to_underlying(status)); }

// Length 0 or > 128 and a null buffer are STATUS_INVALID_PARAMETER before anything is sent; every
// other outcome is the endpoint's error mapped to its NTSTATUS (a short buffer: BUFFER_TOO_SMALL), a
// PF's failure status coming back unchanged (STATUS_NO_SUCH_DEVICE, STATUS_IO_TIMEOUT, ... included).

// Whether a read's arguments are refused before anything is sent.
constexpr bool interface_arguments_refused(const void* context, const void* buffer, std::uint32_t length) noexcept {
  return context == nullptr || buffer == nullptr || length == 0 || length > max_block_size;
}

// What ReadVfConfigBlock reports of a read that ended with `status` having read `bytes_read` bytes into
// `buffer` (Length bytes). VPCI_READ_BLOCK tells its caller no byte count, so a success fills all of
// Length: the bytes past the block's end are zeroed, as binding 2's PF pads its answer (and Windows'
// host does), where binding 1 reads the block's own, shorter, size. A failure leaves the buffer as the
// read left it: its contents are unspecified.
inline std::int32_t interface_read_outcome(std::span<std::byte> buffer, std::size_t bytes_read,
                                           ntstatus status) noexcept {
  if (status == ntstatus::success && bytes_read < buffer.size())
    for (std::byte& b : buffer.subspan(bytes_read)) b = std::byte{0};
  return interface_status(status);
}

template <class Endpoint>
std::int32_t interface_read(void* context, std::uint32_t block, void* buffer, std::uint32_t length) noexcept {
  if (interface_arguments_refused(context, buffer, length)) return interface_status(ntstatus::invalid_parameter);
  const auto destination = std::span<std::byte>(static_cast<std::byte*>(buffer), length);
  boost::system::error_code ec;
  ntstatus pf_status = ntstatus::success;
  std::size_t bytes_read = 0;
  try {
    auto& endpoint = *static_cast<Endpoint*>(context);
    if constexpr (requires { endpoint.read_block(block_id{block}, destination, ec, pf_status_report{&pf_status}); })
      bytes_read = endpoint.read_block(block_id{block}, destination, ec, pf_status_report{&pf_status});
    else
      bytes_read = endpoint.read_block(block_id{block}, destination, ec);
  } catch (...) {
    return interface_status(ntstatus::insufficient_resources);
  }
  return interface_read_outcome(destination, bytes_read, to_ntstatus(ec, pf_status));
}

// The interface a facade hands out: Size and Version filled in, reference counting a no-op (the facade
// outlives the interface's use), `context` passed to both functions.
inline interface_standard make_interface(void* context, vpci_block_function write, vpci_block_function read,
                                         std::uint32_t serial_number) noexcept {
  return interface_standard{sizeof(interface_standard), interface_standard_version, context, &interface_no_reference,
                            &interface_no_reference, write, read, serial_number};
}

template <class Endpoint>
std::int32_t interface_write(void* context, std::uint32_t block, void* buffer, std::uint32_t length) noexcept {
  if (interface_arguments_refused(context, buffer, length)) return interface_status(ntstatus::invalid_parameter);
  boost::system::error_code ec;
  ntstatus pf_status = ntstatus::success;
  try {
    auto& endpoint = *static_cast<Endpoint*>(context);
    const auto data = std::span<const std::byte>(static_cast<const std::byte*>(buffer), length);
    if constexpr (requires { endpoint.write_block(block_id{block}, data, ec, pf_status_report{&pf_status}); })
      endpoint.write_block(block_id{block}, data, ec, pf_status_report{&pf_status});
    else
      endpoint.write_block(block_id{block}, data, ec);
  } catch (...) {
    return interface_status(ntstatus::insufficient_resources);
  }
  return interface_status(to_ntstatus(ec, pf_status));
}
}  // namespace detail

// The facade over any endpoint with synchronous read_block/write_block(error_code&) forms (their rules
// above: no event loop running the endpoint).
template <class Endpoint>
interface_standard make_interface_standard(Endpoint& endpoint, std::uint32_t serial_number = 0) noexcept {
  return detail::make_interface(&endpoint, &detail::interface_write<Endpoint>, &detail::interface_read<Endpoint>,
                                serial_number);
}

}  // namespace vpci
