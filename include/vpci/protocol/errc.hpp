// vpci::errc: the library's error conditions, shared by the freestanding core and the hosted layer.
// The core reports these values directly (no <system_error> there); vpci/error.hpp adds the
// std::error_category and the Boost.System interop on top of the same enum.
#pragma once

#include <vpci/protocol/cxx20.hpp>

namespace vpci {

// Value 0 is reserved for "no error", as for every error enum that feeds std::error_code.
enum class errc : int {
  invalid_length = 1,     // block length 0 or above max_block_size
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
  busy,                   // too many requests in flight (STATUS_DEVICE_NOT_READY)
  timeout,                // deadline passed before the peer answered
  cancelled,              // operation cancelled by its caller
  not_supported,          // operation or layout version the peer does not support
  revision_mismatch,      // mailbox layout version differs
  protocol_violation,     // peer broke the protocol (sequence, ownership, stale reply)
  quarantined,            // VF is quarantined until reset
  vf_removed,             // VF removed or reset while the operation was pending
  bad_data,               // block bytes do not decode to the described type
  torn_read,              // block changed under every retry of a consistent read
  device_error,           // peer reported a failure with no more specific meaning
  peer_gone,              // the peer is dead (crashed, exited) or silent past its heartbeat: not merely slow
  peer_restarted,         // the peer restarted while the operation was pending: its outcome is unknown
  connection_closed,      // the peer closed the connection before it was set up (it serves someone else)
  in_use,                 // another party holds what was asked for alone (a second driver of one mailbox)
};

// Success is the zero value; core functions that return a bare errc use it.
inline constexpr errc no_error{};

}  // namespace vpci
