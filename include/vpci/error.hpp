// vpci/error.hpp (hosted): vpci::errc as a boost::system::error_code enum (Asio's error idiom), the
// NTSTATUS mapping for error codes, and std::error_code interop through Boost.System's conversion.
//
//   boost::system::error_code ec = vpci::errc::timeout;   // what Asio handlers receive
//   if (ec == vpci::errc::timeout) ...                    // compare with the enum, never by value()
//   std::error_code std_ec = ec;                           // converts; std_ec == vpci::errc::timeout
//
// Errors from elsewhere (a socket's eof, a system errno, a transport's own code) pass through the
// library unchanged: an operation that fails because its transport failed completes with the transport's
// error_code, whatever its category.
#pragma once

#include <cstddef>
#include <cstring>
#include <string>
#include <system_error>

#include <boost/system/error_category.hpp>
#include <boost/system/error_code.hpp>

#include <vpci/protocol/errc.hpp>
#include <vpci/protocol/ntstatus.hpp>
#include <vpci/protocol/status_mapping.hpp>

// The specializations come before anything that could instantiate the traits for vpci::errc.
template <>
struct boost::system::is_error_code_enum<vpci::errc> : std::true_type {};
// std::error_code ec = vpci::errc::x works too: make_error_code's boost::system::error_code converts.
template <>
struct std::is_error_code_enum<vpci::errc> : std::true_type {};

namespace vpci {

// A short English text for each errc; also usable from the core's callers that have no category.
constexpr const char* describe(errc e) noexcept {
  if (e == no_error) return "success";
  switch (e) {
    case errc::invalid_length: return "block length must be 1 to 128 bytes";
    case errc::buffer_too_small: return "buffer too small";
    case errc::invalid_block_id: return "invalid block ID";
    case errc::invalid_argument: return "invalid argument";
    case errc::truncated_message: return "message truncated";
    case errc::malformed_message: return "malformed message";
    case errc::unknown_message_type: return "unknown message type";
    case errc::empty_response: return "read response reports success but carries no data";
    case errc::out_of_range: return "offset or length outside the configuration space";
    case errc::read_only: return "configuration space is read-only";
    case errc::capability_loop: return "capability list loops";
    case errc::bad_capability_pointer: return "capability pointer invalid";
    case errc::insufficient_resources: return "insufficient resources";
    case errc::not_found: return "not found";
    case errc::access_denied: return "access denied";
    case errc::busy: return "busy: at its limit of pending operations, or held by another party; try again once it is free";
    case errc::timeout: return "operation timed out";
    case errc::cancelled: return "operation cancelled";
    case errc::not_supported: return "not supported";
    case errc::revision_mismatch: return "protocol or layout revision mismatch";
    case errc::protocol_violation: return "peer violated the protocol";
    case errc::quarantined: return "VF quarantined until reset";
    case errc::vf_removed: return "VF removed or reset";
    case errc::bad_data: return "data does not decode to the expected type or layout";
    case errc::torn_read: return "block kept changing during a consistent read";
    case errc::device_error: return "device reported a failure";
    case errc::peer_gone: return "peer is gone: it exited, crashed or stopped its heartbeat";
    case errc::peer_restarted: return "peer restarted while the operation was pending: its outcome is unknown";
    case errc::connection_closed:
      return "peer closed the connection before it was set up (a server that serves one client at a time does "
             "so to another)";
    case errc::in_use: return "in use: another driver is attached";
    case errc::peer_no_such_device: return "peer answered this request with no such device (STATUS_NO_SUCH_DEVICE)";
    case errc::peer_timeout: return "peer answered this request with its own timeout (STATUS_IO_TIMEOUT)";
    case errc::peer_cancelled: return "peer answered that it cancelled this request (STATUS_CANCELLED)";
    case errc::peer_not_ready: return "peer answered not ready: it did not run this request (STATUS_DEVICE_NOT_READY)";
    case errc::peer_revision_mismatch:
      return "peer answered this request with a revision mismatch (STATUS_REVISION_MISMATCH)";
    case errc::block_size_mismatch:
      return "block length does not match the length required: the block and its descriptor differ in size";
  }
  return "unknown vpci error";
}

namespace detail {
// boost::system::error_category's destructor is protected and not virtual (the categories are singletons,
// never deleted through a base pointer), so g++'s -Wnon-virtual-dtor flags every category derived from
// it; Boost silences it around its own categories the same way.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wnon-virtual-dtor"
#endif
class vpci_category final : public boost::system::error_category {
 public:
  // A fixed identifier: the category compares equal across shared objects that each hold a copy.
  constexpr vpci_category() noexcept : boost::system::error_category(0x7670'6369'5f65'7272ULL) {}
  const char* name() const noexcept override { return "vpci"; }
  std::string message(int value) const override { return describe(static_cast<errc>(value)); }
  const char* message(int value, char* buffer, std::size_t length) const noexcept override {
    if (length == 0) return buffer;
    std::strncpy(buffer, describe(static_cast<errc>(value)), length - 1);
    buffer[length - 1] = '\0';
    return buffer;
  }
};
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
}  // namespace detail

inline const boost::system::error_category& error_category() noexcept {
  static const detail::vpci_category category;
  return category;
}

inline boost::system::error_code make_error_code(errc e) noexcept { return {static_cast<int>(e), error_category()}; }

// The error code for a status a peer reported (success and pending give an empty error code): to_errc,
// so never one of the conditions this side raises itself (status_mapping.hpp).
inline boost::system::error_code make_error_code(ntstatus s) noexcept {
  const errc e = to_errc(s);
  return e == no_error ? boost::system::error_code{} : make_error_code(e);
}

// The NTSTATUS to report for an error code: vpci errors map as to_ntstatus(errc); an empty code is
// STATUS_SUCCESS; anything from another category is STATUS_UNSUCCESSFUL.
inline ntstatus to_ntstatus(const boost::system::error_code& ec) noexcept {
  if (!ec) return ntstatus::success;
  if (ec.category() == error_category()) return to_ntstatus(static_cast<errc>(ec.value()));
  return ntstatus::unsuccessful;
}
inline ntstatus to_ntstatus(const std::error_code& ec) noexcept {
  return to_ntstatus(boost::system::error_code(ec));
}

// Where a VF endpoint's read or write reports the NTSTATUS its PF answered, beside the error_code. The
// error_code carries that status's errc, and errc names fewer statuses than a PF may answer: an IHV's
// STATUS_INVALID_DEVICE_STATE is device_error (STATUS_UNSUCCESSFUL back through to_ntstatus), the warning
// STATUS_BUFFER_OVERFLOW buffer_too_small. `*status` is set when the operation completes: the PF's status
// when the failure is its answer and that status is an error or a warning, STATUS_SUCCESS otherwise (a
// success-class status such as STATUS_PENDING that a PF fails an operation with is not handed on: it would
// read as success; to_ntstatus below then gives the errc's status). For callers that hand NTSTATUS on: a
// Windows driver's IOCTL or ReadVfConfigBlock sees the status the PF gave, as Windows' vPCI hands it on.
struct pf_status_report {
  ntstatus* status{nullptr};
};

// The NTSTATUS for an operation that ended with `ec`, its PF having answered `pf_status`
// (pf_status_report): the PF's own status when the failure is its answer, else to_ntstatus(ec).
inline ntstatus to_ntstatus(const boost::system::error_code& ec, ntstatus pf_status) noexcept {
  if (!ec) return ntstatus::success;
  return pf_status != ntstatus::success ? pf_status : to_ntstatus(ec);
}

}  // namespace vpci
