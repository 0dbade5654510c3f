// vpci::errc: the library's error conditions, shared by the freestanding core and the hosted layer.
// The core reports these values directly (no <system_error> there); vpci/error.hpp adds the
// std::error_category and the Boost.System interop on top of the same enum.
#pragma once

#include <vpci/protocol/cxx20.hpp>

namespace vpci {

// Value 0 is reserved for "no error", as for every error enum that feeds std::error_code.
enum class errc : int {
  invalid_length = 1,     // block length 0 or above max_block_size (another size than a descriptor's: block_size_mismatch)
  buffer_too_small,       // caller's buffer cannot hold the result
  invalid_block_id,       // block ID outside the range the operation accepts
  invalid_argument,       // any other argument an encoder or API refuses
  truncated_message,      // fewer bytes than the message's fixed part or its own length fields claim
  malformed_message,      // a field holds a value the protocol does not allow
  unknown_message_type,   // message type not one the codec knows
  empty_response,         // read response with success status and no data
  out_of_range,           // config-space offset/length outside the space
  read_only,              // write through a transport or register that is read-only
  capability_loop,        // capability list revisits an entry
  bad_capability_pointer, // pointer into the header or to an empty header
  insufficient_resources, // no room (config space, transaction table, VF table)
  not_found,              // no such capability, VF or block
  access_denied,          // VF addressed a block that is not its own
  busy,                   // this side cannot take it now: its operations in flight are at their limit, another of the
                          // kind is pending, or another party holds the resource (the PF's DEVICE_NOT_READY is peer_not_ready)
  timeout,                // this side's deadline passed before the peer answered (the PF's own is peer_timeout)
  cancelled,              // operation cancelled by its caller (the PF's STATUS_CANCELLED is peer_cancelled)
  not_supported,          // operation or layout version the peer does not support
  revision_mismatch,      // mailbox layout or protocol version differs (a block request's: peer_revision_mismatch)
  protocol_violation,     // peer broke the protocol (sequence, ownership, stale reply)
  quarantined,            // VF is quarantined until reset
  vf_removed,             // VF removed or reset while the operation was pending
  bad_data,               // bytes do not decode to the type or layout they must have (a block's descriptor type, a
                          // shared object that is not a vpci config space)
  torn_read,              // block changed under every retry of a consistent read
  device_error,           // peer reported a failure with no more specific meaning
  peer_gone,              // the peer is dead (crashed, exited) or silent past its heartbeat: not merely slow. Only this
                          // side's own evidence says so (the transport, the heartbeat, an all-ones read), never a
                          // status in an answer (the PF's STATUS_NO_SUCH_DEVICE: peer_no_such_device)
  peer_restarted,         // the peer restarted while the operation was pending: its outcome is unknown
  connection_closed,      // the peer closed the connection before it was set up (it serves someone else)
  in_use,                 // another party holds what was asked for alone (a second driver of one mailbox)
  // The PF answered a request with a status whose natural errc above names a condition of this side
  // (peer_gone, timeout, cancelled, busy, revision_mismatch): that request failed with the PF's word for
  // it, and nothing else follows from it (the endpoint, its other operations and its wait go on; only a
  // refused version negotiation fails binding 2's endpoint, as every refusal does). to_ntstatus gives the
  // PF's status back.
  peer_no_such_device,    // the PF answered STATUS_NO_SUCH_DEVICE: the PF itself answered, so it is not gone
  peer_timeout,           // the PF answered STATUS_IO_TIMEOUT: its own timeout, not this request's deadline
  peer_cancelled,         // the PF answered STATUS_CANCELLED: it cancelled the request, not the caller
  peer_not_ready,         // the PF answered STATUS_DEVICE_NOT_READY: it did not run the request, try again later
  peer_revision_mismatch, // the PF answered a block request with STATUS_REVISION_MISMATCH
  block_size_mismatch,    // a typed read received another byte count than its descriptor's size (the PF's block
                          // has another layout); the PF's STATUS_INFO_LENGTH_MISMATCH maps here too
};

// Success is the zero value; core functions that return a bare errc use it.
inline constexpr errc no_error{};

}  // namespace vpci
