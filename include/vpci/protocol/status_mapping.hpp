// The mapping between vpci::errc and NTSTATUS, in both directions.
//
// Several errc values share one NTSTATUS (Windows has fewer codes), so the mapping is a round trip
// from the NTSTATUS side: to_ntstatus(to_errc(s)) == s for every error status the library names. A
// status it does not name (an IHV's own, a warning) has no errc of its own: where the status itself must
// reach a caller, the VF endpoints report it beside the error_code (pf_status_report, vpci/error.hpp).
//
// to_errc is the one rule both VF bindings apply to a status the PF put in an answer (binding 1's
// FAILED result, binding 2's completion status, the version negotiation's refusal). It never yields an
// errc that this side raises from its own evidence: peer_gone (the transport, the heartbeat, an all-ones
// read), timeout (the caller's deadline), cancelled (the caller's cancellation), busy (this side's slots)
// and revision_mismatch (the window's layout, a failed negotiation). The facades decide from those that
// the device is gone or that the caller gave up, so a PF's answer to one request must not read as one:
// STATUS_NO_SUCH_DEVICE, STATUS_IO_TIMEOUT, STATUS_CANCELLED, STATUS_DEVICE_NOT_READY and
// STATUS_REVISION_MISMATCH map to peer_no_such_device, peer_timeout, peer_cancelled, peer_not_ready and
// peer_revision_mismatch, which fail that request only and map back to the same status.
#pragma once

#include <vpci/protocol/errc.hpp>
#include <vpci/protocol/ntstatus.hpp>

namespace vpci {

constexpr ntstatus to_ntstatus(errc e) noexcept {
  if (e == no_error) return ntstatus::success;
  switch (e) {
    case errc::invalid_length:
    case errc::invalid_block_id:
    case errc::invalid_argument:
    case errc::out_of_range: return ntstatus::invalid_parameter;
    case errc::buffer_too_small: return ntstatus::buffer_too_small;
    case errc::truncated_message:
    case errc::malformed_message:
    case errc::capability_loop:
    case errc::bad_capability_pointer:
    case errc::bad_data:
    case errc::torn_read: return ntstatus::bad_data;
    case errc::unknown_message_type:
    case errc::protocol_violation: return ntstatus::invalid_device_request;
    case errc::read_only:
    case errc::access_denied:
    case errc::quarantined:
    case errc::in_use: return ntstatus::access_denied;  // as Windows refuses a second open of an exclusive device
    case errc::insufficient_resources: return ntstatus::insufficient_resources;
    case errc::not_found: return ntstatus::not_found;
    case errc::busy: return ntstatus::device_not_ready;
    case errc::timeout: return ntstatus::io_timeout;
    case errc::cancelled:
    case errc::vf_removed: return ntstatus::cancelled;
    case errc::peer_gone:
    case errc::connection_closed: return ntstatus::no_such_device;
    case errc::peer_restarted: return ntstatus::cancelled;
    case errc::peer_no_such_device: return ntstatus::no_such_device;
    case errc::peer_timeout: return ntstatus::io_timeout;
    case errc::peer_cancelled: return ntstatus::cancelled;
    case errc::peer_not_ready: return ntstatus::device_not_ready;
    case errc::peer_revision_mismatch: return ntstatus::revision_mismatch;
    case errc::block_size_mismatch: return ntstatus::info_length_mismatch;
    case errc::not_supported: return ntstatus::not_supported;
    case errc::revision_mismatch: return ntstatus::revision_mismatch;
    case errc::empty_response:
    case errc::device_error: return ntstatus::unsuccessful;
  }
  return ntstatus::unsuccessful;
}

// Success and informational statuses (STATUS_PENDING) are not errors and map to no_error.
// Any status this library does not name maps by severity: errors and warnings to device_error.
constexpr errc to_errc(ntstatus s) noexcept {
  switch (s) {
    case ntstatus::success:
    case ntstatus::pending: return no_error;
    case ntstatus::buffer_overflow:
    case ntstatus::buffer_too_small: return errc::buffer_too_small;
    case ntstatus::unsuccessful: return errc::device_error;
    case ntstatus::info_length_mismatch: return errc::block_size_mismatch;
    case ntstatus::invalid_parameter: return errc::invalid_argument;
    case ntstatus::no_such_device: return errc::peer_no_such_device;
    case ntstatus::invalid_device_request: return errc::protocol_violation;
    case ntstatus::access_denied: return errc::access_denied;
    case ntstatus::revision_mismatch: return errc::peer_revision_mismatch;
    case ntstatus::insufficient_resources: return errc::insufficient_resources;
    case ntstatus::device_not_ready: return errc::peer_not_ready;
    case ntstatus::io_timeout: return errc::peer_timeout;
    case ntstatus::not_supported: return errc::not_supported;
    case ntstatus::cancelled: return errc::peer_cancelled;
    case ntstatus::not_found: return errc::not_found;
    case ntstatus::bad_data: return errc::bad_data;
  }
  return nt_success(s) ? no_error : errc::device_error;
}

// The outcome of a block read or write the PF completed with `s`: only STATUS_SUCCESS is success. An error
// or warning status maps as to_errc; any other (STATUS_PENDING, a success-class value) is device_error,
// as the Linux guest fails the operation with -EIO on any status but 0 (hv_read_config_block,
// hv_write_config_block) and copies no data: a completion is final, and a read's data comes with 0 only.
constexpr errc block_completion_errc(ntstatus s) noexcept {
  if (s == ntstatus::success) return no_error;
  const errc e = to_errc(s);
  return e == no_error ? errc::device_error : e;
}

}  // namespace vpci
