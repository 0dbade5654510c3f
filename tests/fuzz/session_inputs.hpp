// The operation codes of the session fuzz targets' inputs (each target's header says what follows each
// code), shared with the seed generator (make_corpus.cpp) so that its seeds say what they do.
#pragma once

#include <cstdint>

namespace vpci::fuzz {

// tests/fuzz/pf_mailbox_session.cpp
namespace pf_mailbox_ops {
enum op : std::uint8_t {
  op_vf_write,       // offset, width (1, 2 or 4), value: a raw VF config write
  op_vf_request,     // a well-formed request: op, ID, length, sequence mode, [data]
  op_vf_ack,         // the VF acknowledges what the mask shows, and'ed with an input mask
  op_vf_reset,       // the VF sets control.RESET (and SIGNAL as the input says)
  op_service,        // the PF services a copy of the window; flags: timed, a VF write races it
  op_tick,           // time advances; the PF ticks
  op_invalidate,     // the PF raises invalidations (a mask, one ID, or all VFs)
  op_pf_update,      // the PF updates one of VF 0's stored blocks
  op_flr,            // an FLR of VF 0: reset_vf, then initialize
  op_restart,        // the PF restarts: a new session, initialize
  op_short_service,  // a window snapshot shorter than the window
  op_set_heartbeat,  // the binding announces a heartbeat (interval 1..8 ms) or withdraws it, and writes it
  op_remove_vf,      // the PF removes VF 0 (the binding's detach, unregister_vf) and registers it again with
                     // the same blocks: a new session, initialize
  op_reattach,       // the binding detaches (release) and attaches again: a new session, initialize
  op_count,
};
}  // namespace pf_mailbox_ops

// tests/fuzz/pf_message_session.cpp
namespace pf_message_ops {
enum op : std::uint8_t {
  op_raw_bytes,     // n, then n stream bytes
  op_request,       // a request frame built from fields, fed in chunks the input sizes
  op_handoff,       // begin_handoff, then as the flags say: progress, end_handoff
  op_progress,      // on_stream_progress(n)
  op_end_handoff,   // end_handoff
  op_stall_check,   // arm_stall_check(now), time passes, maybe progress, on_stall_check
  op_invalidate,    // session.invalidate(mask)
  op_store_raise,   // the store's own pending invalidations (another binding's)
  op_pf_update,     // the PF updates one of VF 0's stored blocks
  op_end_serving,   // end_of_serving
  op_small_buffer,  // on_input with a response buffer one byte short
  op_packet,        // n, then a whole packet of n bytes handed to on_packet (a transport that frames itself)
  op_count,
};
}  // namespace pf_message_ops

// tests/fuzz/vf_message_engine.cpp
namespace vf_message_ops {
enum op : std::uint8_t {
  op_start_read,    // ID, length, deadline
  op_start_write,   // ID, length, data, deadline, Linux tail
  op_cancel,        // the k-th operation in flight, scope
  op_step,          // step() until nothing but a wait/idle; flags: report the send taken
  op_raw,           // n, then n bytes from the PF
  op_answer,        // an answer built for the k-th operation in flight (status, data length), chunked
  op_version,       // a version answer (ID 1..5, status, length 20..24)
  op_invalidate,    // an INVALIDATE_BLOCK (own or foreign wslot)
  op_time,          // time advances
  op_remove,        // remove(reason, transport failure)
  op_sent,          // on_sent()
  op_count,
};
}  // namespace vf_message_ops

// tests/fuzz/vf_mailbox_engine.cpp
namespace vf_mailbox_ops {
enum op : std::uint8_t {
  op_start_read,          // ID, length, deadline
  op_start_write,         // ID, length, data, deadline
  op_cancel,              // scope, the k-th operation pending
  op_step,                // one action of step(); how: the access fails (bit 0), a read comes back short (bit 1)
  op_settle,              // step() until it waits or idles, every access succeeding
  op_poke,                // the PF writes any dword of the window: dword index, value
  op_answer,              // the PF publishes an answer: flags, [ack offset], count, [epoch], [result], data
  op_invalidate,          // the PF latches a mask (64 bits) and sets INVALIDATED as it is non-zero
  op_initialise,          // the PF (re)initialises the window: capabilities, [heartbeat], the next epoch
  op_reset_done,          // the PF clears control.RESET
  op_wake,                // a peer signal reaches the VF
  op_time,                // time advances
  op_watch,               // watch invalidations on or off
  op_take_invalidations,  // the binding takes the pending invalidations
  op_remove,              // remove(reason, transport failure)
  op_count,
};
}  // namespace vf_mailbox_ops

}  // namespace vpci::fuzz
