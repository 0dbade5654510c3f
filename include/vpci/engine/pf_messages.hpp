// The PF side of the Hyper-V binding as a sans-I/O session (freestanding: no heap, no I/O): one
// session per VF stream, answering that VF's READ_BLOCK / WRITE_BLOCK packets from the shared
// pf_blocks store, and deciding everything about the stream's answer queue: when to take more input,
// what is handed to the stream and when, invalidation coalescing, and when the VF is quarantined.
// The transport (pf_endpoint::async_serve over Asio, or firmware's own loop) only moves bytes.
//
// Trust: the session knows which VF a stream belongs to (the PF accepted the channel); nothing in a
// message can name another VF. A request carrying another wslot is refused with STATUS_ACCESS_DENIED;
// the store refuses another VF's blocks the same way and unregistered blocks with
// STATUS_INVALID_PARAMETER. A refused request changes nothing.
//
// What quarantines: a protocol violation (garbage or a broken frame on the stream, a malformed
// descriptor, a packet that is not in-band data, a READ_BLOCK or WRITE_BLOCK request whose fields do not
// decode, anything but a version request before a version is agreed when negotiation is required): the
// transport then closes the stream. And overflow: a stream that takes none of the answers the PF holds
// for the VF for a whole stall check period (the VF does not read its answers). Error statuses never
// quarantine; a VF over its in-flight cap gets STATUS_DEVICE_NOT_READY.
//
// Messages this PF does not serve: a well-formed in-band packet of any other message type (the vPCI bus
// messages a pci-hyperv guest sends on the same channel, QUERY_BUS_RELATIONS right after negotiation and
// BUS_D0ENTRY; a type no one defines) is answered STATUS_BAD_DATA when its descriptor asks for a
// completion and dropped when it does not, and the stream goes on, as OpenVMM's VSP answers a packet it
// cannot handle once a version is agreed (ReadyState::run). Counted (pf_session_counters::
// unsupported_messages).
//
// Version negotiation (pf_negotiation): a QUERY_PROTOCOL_VERSION for a version in the supported range is
// answered STATUS_SUCCESS and agrees that version; any other version STATUS_REVISION_MISMATCH, and the
// VF may offer the next. With negotiation required (the default, as a Hyper-V host requires it), a block
// message before a version is agreed is a protocol violation; without, block messages are served from
// the start. Either way a version request after agreement, or after block messages were served, is a
// protocol violation (a second negotiation mid-stream). OpenVMM's VSP (vm/devices/pci/vpci/src/device.rs)
// is the public host these rules follow; docs/hyperv-binding.md states them.
//
// Reads are answered with exactly the bytes requested: the block's bytes, then zeros. A read completion
// has no length field and VMBus pads it, so the VF takes every byte present (up to what it asked for) as
// data (hv_pci_read_config_compl); an answer shorter than the request would hand it the padding as data.
//
// The answer queue, step by step:
// 1. Input. on_input() takes stream bytes (any chunking) and answers each complete request into
//    response_out; the transport appends that frame to its unsent answers. The session takes no input
//    while answer_queue_limit() answers are held (unsent, or handed to the stream and not yet taken):
//    on_input() then consumes nothing, and the transport stops reading the stream (backpressure) until
//    answers drain. So the request that would overflow the queue is never decoded, let alone executed.
// 2. Handoff. When no handoff is in progress and has_output(), the transport calls begin_handoff() and
//    writes every unsent answer, in order, then the pending invalidation frame it encodes. Admitted
//    answers leave the VF's in-flight count there: the VF cannot see them, and send its next request,
//    any earlier, so a VF keeping to 64 in flight never gets STATUS_DEVICE_NOT_READY.
// 3. Progress. The transport reports every write's bytes (on_stream_progress) and the end of the
//    handoff (end_handoff); the handed answers then leave the queue and input resumes.
// 4. Stall. While a handoff is in progress and answers are held, the transport arms a timer at
//    arm_stall_check(now) and calls on_stall_check() when it fires: if the stream took nothing since
//    the check was armed, the VF is quarantined for overflow (errc::quarantined; close the stream).
//    A stall is thus caught between one and two stall timeouts after the stream stopped taking bytes.
// 5. End. end_of_serving() when serving stops, for any reason: unsent admitted answers leave the
//    in-flight count and invalidations not known to be read by the VF go back to the store, so nothing
//    stays counted and no invalidation is lost (the VF's next stream gets it). A transport that knows
//    the VF read everything the stream took says so first (on_stream_read_through).
//
// Invalidations: invalidate(mask) ORs into this stream's one pending mask (coalescing); it becomes one
// INVALIDATE_BLOCK frame at the next handoff (with negotiation required, the first handoff after the one
// carrying the answer that agreed a version). It never counts against the answer queue, so at most one
// invalidation frame waits per stream and one rides in the handoff, however many are raised against a
// stalled stream.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include <vpci/block/block_buffer.hpp>
#include <vpci/block/endian.hpp>
#include <vpci/engine/pf_blocks.hpp>
#include <vpci/engine/time_after.hpp>
#include <vpci/protocol/block_id.hpp>
#include <vpci/protocol/constants.hpp>
#include <vpci/protocol/errc.hpp>
#include <vpci/protocol/ntstatus.hpp>
#include <vpci/protocol/result.hpp>
#include <vpci/wire/framing.hpp>
#include <vpci/wire/hyperv.hpp>

namespace vpci::engine {

// How long (ns) a stream may take none of the answers the PF holds for its VF before the VF is
// quarantined for overflow, unless the transport chooses another: 5 s.
inline constexpr std::uint64_t default_stall_timeout = 5'000'000'000;

// How a session treats protocol-version negotiation.
struct pf_negotiation {
  // A version must be agreed before any block message (a block message first is a protocol violation),
  // as a Hyper-V host requires. false: block messages are served from the start, for peers that never
  // negotiate; a version request is still answered as long as no block message was.
  bool required{true};
  // The supported versions, (major << 16) | minor, inclusive: 1.1 .. 1.4 (what pci-hyperv.c offers).
  std::uint32_t lowest{hyperv::protocol_version_1_1};
  std::uint32_t highest{hyperv::protocol_version_1_4};
  // A range whose lowest is above its highest agrees no version: every negotiation would fail.
  [[nodiscard]] constexpr bool valid() const noexcept { return lowest <= highest; }
};

// Where negotiation stands on a stream.
enum class pf_negotiation_state : std::uint8_t {
  waiting,  // nothing agreed yet, no block message served
  agreed,   // a version is agreed (negotiated_version())
  skipped,  // negotiation not required and block messages were served without it
};

// The answer on_packet produced: `size` bytes of response_out to send (a whole frame).
struct pf_reply {
  std::size_t size{0};
  ntstatus status{ntstatus::success};  // the status carried in the response
  bool admitted{false};                // counted in flight until handed to the stream
};

// Requests the session answered without reaching the store (saturating).
struct pf_session_counters {
  std::uint64_t foreign_slot{0};       // wslot of another function
  std::uint64_t invalid_length{0};     // length 0 or above 128
  std::uint64_t version_requests{0};   // QUERY_PROTOCOL_VERSION answered (agreed or mismatched)
  std::uint64_t version_mismatches{0}; // of which answered STATUS_REVISION_MISMATCH
  std::uint64_t unsupported_messages{0}; // other message types: STATUS_BAD_DATA, or dropped (no completion asked)
};

// One step of on_input.
struct pf_input_step {
  std::size_t consumed{0};  // bytes of the input taken; 0 with input left: the answer queue is full
  pf_reply reply{};         // reply.size > 0: an answer frame in response_out, to queue
  errc error{no_error};     // protocol_violation (quarantined: close the stream) or buffer_too_small
};

// What begin_handoff handed to the stream.
struct pf_handoff {
  std::size_t answers{0};          // the unsent answers, to write in order, first
  std::size_t invalidate_size{0};  // bytes of invalidate_out to write after them (0: none pending)
};

template <std::size_t MaxVfs>
class pf_message_session {
 public:
  // response_out must hold at least this much: a read response frame carrying a full block.
  static constexpr std::size_t response_buffer_size = hyperv::max_response_frame_size;
  // invalidate_out of begin_handoff must hold at least this much.
  static constexpr std::size_t invalidate_buffer_size = hyperv::invalidate_frame_size;
  static constexpr std::uint64_t no_deadline = engine::no_deadline;
  // Fairness between the streams of one PF thread: a transport feeds a stream at most this many frames
  // per turn, then lets the thread's other work run before the rest. A VF that pipelines fills one read
  // of the stream with a hundred requests; fed at once, they put every other VF's request behind all of
  // them (issue 14: a flooding VF raised another VF's p99 2.5x). Per turn, 8 frames of work is a few
  // microseconds, and the answers of a turn still go out in one handoff.
  static constexpr std::size_t frames_per_turn = 8;

  constexpr pf_message_session(pf_blocks<MaxVfs>& store, vf_index vf, hyperv::wslot slot,
                               std::uint64_t stall_timeout = default_stall_timeout,
                               pf_negotiation negotiation = {}) noexcept
      : store_(&store), vf_(vf), slot_(slot), stall_timeout_(stall_timeout), negotiation_(negotiation) {}

  // --- input ----------------------------------------------------------------------------------------
  // Stream bytes from the VF, any chunking: takes bytes up to the end of the next frame and answers the
  // request it completes into response_out. Call again with the rest. Consumes nothing while the answer
  // queue is full (accepting() is false): stop reading the stream and call again after end_handoff().
  // Errors: buffer_too_small (response_out < response_buffer_size; nothing consumed), protocol_violation
  // (garbage, a bad frame length, or a packet on_packet calls one: the VF is quarantined and the
  // stream must be closed; nothing after it on the stream is trusted, so the error is sticky).
  constexpr pf_input_step on_input(std::span<const std::byte> input, std::span<std::byte> response_out) noexcept {
    if (response_out.size() < response_buffer_size) return {0, {}, errc::buffer_too_small};
    if (stream_violated_) return {0, {}, errc::protocol_violation};
    if (!accepting() || input.empty()) return {};
    const auto step = decoder_.feed(input);
    if (step.error != no_error) return stream_violation(step.consumed);
    if (step.packet.empty()) return {step.consumed, {}, no_error};
    auto reply = on_packet(step.packet, step.packet_size, response_out);
    if (!reply) return reply.error() == errc::protocol_violation ? stream_violation(step.consumed)
                                                                 : pf_input_step{step.consumed, {}, reply.error()};
    return {step.consumed, *reply, no_error};
  }

  // The stream ended (end of stream from the VF): truncated_message when it was cut inside a frame (the
  // partial frame is discarded; a crash, not a violation: no quarantine), else no_error.
  [[nodiscard]] constexpr errc on_end_of_stream() const noexcept { return decoder_.finish(); }

  // One packet from the VF (a frame's content, without the length prefix), for transports that deliver
  // packets themselves: the whole packet, or the first bytes of one of `packet_size` bytes (as
  // hyperv::frame_decoder keeps the first 168 of a longer one). On success the response frame is in response_out and counts as an unsent
  // answer (a version request's answer too; it is never counted in flight); a reply of size 0 is none (a
  // message this PF does not serve that asked for no completion: dropped). Errors (nothing decoded or
  // changed unless said):
  // - buffer_too_small: response_out < response_buffer_size;
  // - busy: the answer queue is full (accepting() is false): the transport must wait for end_handoff();
  // - protocol_violation: the VF broke the protocol; the VF is quarantined in the store and the caller
  //   closes the connection. No block changed.
  constexpr result<pf_reply> on_packet(std::span<const std::byte> packet, std::size_t packet_size,
                                       std::span<std::byte> response_out) noexcept {
    if (response_out.size() < response_buffer_size) return errc::buffer_too_small;
    if (!accepting()) return errc::busy;
    auto reply = answer(packet, packet_size, response_out);
    if (reply && reply->size != 0) {
      ++unsent_;
      if (reply->admitted) ++unsent_admitted_;
    }
    return reply;
  }
  constexpr result<pf_reply> on_packet(std::span<const std::byte> packet, std::span<std::byte> response_out) noexcept {
    return on_packet(packet, packet.size(), response_out);
  }

  // --- the answer queue -----------------------------------------------------------------------------
  // How many answers the PF holds for the VF, unsent or handed to the stream and not yet taken, before it
  // stops taking input: the in-flight cap's worth of admitted answers, as many refusals, and two more,
  // so that a cap of 0 still answers (busy) and makes progress.
  [[nodiscard]] constexpr std::size_t answer_queue_limit() const noexcept {
    return 2 * std::size_t{store_->limits().max_in_flight} + 2;
  }
  [[nodiscard]] constexpr std::size_t held_answers() const noexcept { return unsent_ + handed_; }
  [[nodiscard]] constexpr std::size_t unsent_answers() const noexcept { return unsent_; }
  // Whether the session takes more input now.
  [[nodiscard]] constexpr bool accepting() const noexcept { return held_answers() < answer_queue_limit(); }

  // ORs `mask` into this stream's pending invalidation (coalesced until the next handoff). Never counts
  // against the answer queue.
  constexpr void invalidate(block_mask mask) noexcept { pending_invalidation_ |= mask; }
  [[nodiscard]] constexpr block_mask pending_invalidation() const noexcept { return pending_invalidation_; }

  // With negotiation required, nothing but version answers reaches the VF before agreement, as on a host
  // (a pci-hyperv guest drops what arrives for a device it does not have yet): invalidations wait,
  // coalesced, until the answer that agreed a version has been handed to the stream, and follow it.
  [[nodiscard]] constexpr bool invalidations_held() const noexcept { return negotiation_.required && !agreement_handed_; }

  // Whether there is something to hand to the stream (unsent answers or a pending invalidation not held).
  [[nodiscard]] constexpr bool has_output() const noexcept {
    return unsent_ != 0 || (!pending_invalidation_.empty() && !invalidations_held());
  }
  [[nodiscard]] constexpr bool handoff_in_progress() const noexcept { return handing_off_; }

  // Hands everything waiting to the stream: the unsent answers in the order on_packet produced them, then
  // the pending invalidation (unless held), encoded into invalidate_out, to be written after them. After,
  // not before: an invalidation raised while an answer was made (by a block handler, or by the PF between
  // two requests) may concern that answer's block, and a VF that took it before the answer would keep the
  // answer's bytes as current; after it, the VF reads the block again (a redundant read at worst, when the
  // raise came before). Binding 1 publishes in the same order. The admitted answers leave the in-flight
  // count now. Errors (nothing changed): buffer_too_small
  // (invalidate_out < invalidate_buffer_size), invalid_argument (a handoff is already in progress).
  constexpr result<pf_handoff> begin_handoff(std::span<std::byte> invalidate_out) noexcept {
    if (invalidate_out.size() < invalidate_buffer_size) return errc::buffer_too_small;
    if (handing_off_) return errc::invalid_argument;
    pf_handoff handoff{unsent_, 0};
    if (!pending_invalidation_.empty() && !invalidations_held()) {
      auto size = make_invalidate(pending_invalidation_, invalidate_out);
      if (!size) return size.error();
      handoff.invalidate_size = *size;
      handed_invalidation_ = pending_invalidation_;
      pending_invalidation_ = block_mask{};
    }
    retire_unsent_admitted();
    handed_ = unsent_;
    unsent_ = 0;
    handing_off_ = true;
    if (negotiation_state_ == pf_negotiation_state::agreed) agreement_handed_ = true;  // it is in this handoff or before
    return handoff;
  }
  // The stream took `bytes` of the handoff (any write, partial ones included), or the VF took `bytes` the
  // stream already held (a local socket's unread bytes fell: it accepts a write again only once most
  // of its queue is read, so a VF reading slowly took bytes for seconds while no write completed).
  constexpr void on_stream_progress(std::size_t bytes) noexcept {
    if (bytes != 0) ++progress_;
  }
  // The stream took the whole handoff: its answers leave the queue (input resumes). Its invalidation is
  // in the stream, not known to be read: it is remembered until serving ends (end_of_serving), or until
  // the transport knows the VF read it (on_stream_read_through).
  constexpr void end_handoff() noexcept {
    handed_ = 0;
    carried_invalidations_ |= handed_invalidation_;
    handed_invalidation_ = block_mask{};
    handing_off_ = false;
  }

  // --- stall ----------------------------------------------------------------------------------------
  // When a stall check is due: `now` + the stall timeout while a handoff is in progress and answers are
  // held (the check then judges progress from this moment on), else no_deadline (no check needed).
  [[nodiscard]] constexpr std::uint64_t arm_stall_check(std::uint64_t now) noexcept {
    if (!stall_watched()) return no_deadline;
    progress_at_check_ = progress_;
    return deadline_after(now, stall_timeout_);
  }
  // The stall check armed by arm_stall_check came due. quarantined when the stream took nothing since
  // while answers stayed held: the VF does not read its answers; it is quarantined for overflow and the
  // caller closes the stream. Otherwise no_error (arm again if arm_stall_check says so).
  constexpr errc on_stall_check() noexcept {
    if (!stall_watched() || progress_ != progress_at_check_) return no_error;
    store_->quarantine(vf_, quarantine_reason::overflow);
    return errc::quarantined;
  }

  // The transport knows the VF read every byte the stream took (a local socket that ended cleanly with
  // nothing unread in its queue): the invalidations
  // the completed handoffs carried were delivered, and are not given back at the end of serving. Without
  // it a mask the VF had read was given back at every stream's end and sent again on every later stream.
  constexpr void on_stream_read_through() noexcept { carried_invalidations_ = block_mask{}; }

  // --- end --------------------------------------------------------------------------------------------
  // Serving this stream stopped (any reason). Admitted answers never handed leave the in-flight count;
  // invalidations not known to be delivered go back to the store for the VF's other or next stream: the
  // pending one, the one in an unfinished handoff, and every one the stream took, since a stream that
  // took bytes says nothing about whether the VF read them before it ended (a duplicate at worst, never a
  // loss), unless the transport said the VF read them (on_stream_read_through). Idempotent.
  constexpr void end_of_serving() noexcept {
    retire_unsent_admitted();
    const block_mask undelivered = pending_invalidation_ | handed_invalidation_ | carried_invalidations_;
    if (!undelivered.empty()) (void)store_->invalidate(vf_, undelivered);
    pending_invalidation_ = block_mask{};
    handed_invalidation_ = block_mask{};
    carried_invalidations_ = block_mask{};
    unsent_ = 0;
    handed_ = 0;
    handing_off_ = false;
  }

  // Encodes an INVALIDATE_BLOCK frame for this VF (hyperv::invalidate_frame_size bytes).
  [[nodiscard]] constexpr result<std::size_t> make_invalidate(block_mask mask, std::span<std::byte> out) const noexcept {
    return hyperv::encode_invalidate_frame(hyperv::invalidate{slot_, mask}, out);
  }

  [[nodiscard]] constexpr vf_index vf() const noexcept { return vf_; }
  [[nodiscard]] constexpr hyperv::wslot slot() const noexcept { return slot_; }
  [[nodiscard]] constexpr const pf_session_counters& counters() const noexcept { return counters_; }
  [[nodiscard]] constexpr const pf_negotiation& negotiation() const noexcept { return negotiation_; }
  [[nodiscard]] constexpr pf_negotiation_state negotiation_state() const noexcept { return negotiation_state_; }
  // The version agreed on this stream, or 0 while none is.
  [[nodiscard]] constexpr std::uint32_t negotiated_version() const noexcept { return negotiated_version_; }

 private:
  enum class message_kind : std::uint8_t { read, write };

  [[nodiscard]] constexpr bool supported(std::uint32_t version) const noexcept {
    return version >= negotiation_.lowest && version <= negotiation_.highest;
  }

  static constexpr void bump(std::uint64_t& counter) noexcept {
    if (counter != ~std::uint64_t{0}) ++counter;
  }

  // A violation on the stream: quarantined once (on_packet or here), sticky from then on.
  constexpr pf_input_step stream_violation(std::size_t consumed) noexcept {
    if (decoder_.error() != no_error) (void)violation();  // a framing error: on_packet did not see it
    stream_violated_ = true;
    return {consumed, {}, errc::protocol_violation};
  }

  constexpr void retire_unsent_admitted() noexcept {
    for (; unsent_admitted_ != 0; --unsent_admitted_) store_->retire(vf_);
  }

  [[nodiscard]] constexpr bool stall_watched() const noexcept { return handing_off_ && held_answers() != 0; }

  constexpr result<pf_reply> answer(std::span<const std::byte> packet, std::size_t packet_size,
                                    std::span<std::byte> response_out) noexcept {
    auto descriptor = hyperv::vmbus::decode_descriptor(packet, packet_size);
    if (!descriptor || descriptor->type != hyperv::vmbus::packet_data_inband) return violation();
    const auto payload = hyperv::vmbus::payload_of(packet, *descriptor);
    // A type this library does not name is a message this PF does not serve, not garbage: only a payload
    // too short to hold a type word is.
    auto type = hyperv::peek_message_type(payload);
    if (!type && type.error() != errc::unknown_message_type) return violation();
    // Only the first bytes of a packet longer than any message this PF serves were kept: a message it
    // serves in such a packet is longer than its largest legal form (malformed, as the decoders judge
    // a packet they see whole); any other is answered as unserved, whatever its length.
    if (type && packet_size > packet.size() && *type != hyperv::message_type::invalidate_block) return violation();
    const std::uint64_t id = descriptor->transaction_id;
    if (type && *type == hyperv::message_type::query_protocol_version) return answer_version(payload, id, response_out);
    const bool block_message =
        type && (*type == hyperv::message_type::read_block || *type == hyperv::message_type::write_block);
    // Anything else only after agreement when negotiation is required (a host gives the channel up).
    if (negotiation_state_ == pf_negotiation_state::waiting) {
      if (negotiation_.required) return violation();
      if (block_message) negotiation_state_ = pf_negotiation_state::skipped;
    }
    if (!block_message) return answer_unsupported(*descriptor, response_out);
    if (*type == hyperv::message_type::read_block) {
      auto request = hyperv::decode_read_request(payload);
      if (!request) return refused_or_violation(request.error(), payload, message_kind::read, id, response_out);
      return answer_read(*request, id, response_out);
    }
    auto request = hyperv::decode_write_request(payload);
    if (!request) return refused_or_violation(request.error(), payload, message_kind::write, id, response_out);
    return answer_write(*request, id, response_out);
  }

  // QUERY_PROTOCOL_VERSION: answered while nothing is agreed and no block message was served; the answer
  // carries the version agreed, or on a mismatch the highest this PF supports (informational: the guest
  // reads only the status). Anything else is a second negotiation mid-stream: a violation.
  constexpr result<pf_reply> answer_version(std::span<const std::byte> payload, std::uint64_t id,
                                            std::span<std::byte> out) noexcept {
    if (negotiation_state_ != pf_negotiation_state::waiting) return violation();
    auto request = hyperv::decode_version_request(payload);
    if (!request) return violation();
    // A VF the store refuses everything (quarantined by another of its streams, unregistered) agrees
    // nothing either: STATUS_ACCESS_DENIED ends its negotiation.
    const bool refused = !store_->registered(vf_) || store_->quarantined(vf_) != quarantine_reason::none;
    const bool accepted = !refused && supported(request->version);
    const ntstatus status = refused ? ntstatus::access_denied
                            : accepted ? ntstatus::success
                                       : ntstatus::revision_mismatch;
    auto size = hyperv::encode_version_response_frame(
        hyperv::version_response{id, status, accepted ? request->version : negotiation_.highest}, out);
    if (!size) return size.error();
    bump(counters_.version_requests);
    if (accepted) {
      negotiation_state_ = pf_negotiation_state::agreed;
      negotiated_version_ = request->version;
    } else if (!refused) {
      bump(counters_.version_mismatches);
    }
    return pf_reply{*size, status, false};
  }

  // A message this PF does not serve (see the top of this file): STATUS_BAD_DATA in a completion that
  // carries only a status (a write's completion has that shape: pci_response), or nothing when the VF
  // asked for no completion. Never counted in flight: the answer queue's limit bounds these answers.
  constexpr result<pf_reply> answer_unsupported(const hyperv::vmbus::packet_descriptor& descriptor,
                                                std::span<std::byte> out) noexcept {
    bump(counters_.unsupported_messages);
    if ((descriptor.flags & hyperv::vmbus::flag_completion_requested) == 0) return pf_reply{};
    auto size = hyperv::encode_write_completion_frame(
        hyperv::write_completion{descriptor.transaction_id, ntstatus::bad_data}, out);
    if (!size) return size.error();
    return pf_reply{*size, ntstatus::bad_data, false};
  }

  constexpr result<pf_reply> violation() noexcept {
    store_->quarantine(vf_, quarantine_reason::protocol_violation);
    return errc::protocol_violation;
  }

  [[nodiscard]] constexpr bool own_slot(hyperv::wslot slot) const noexcept { return slot == slot_; }

  // Admission first, so every answered request, refused or not, counts against the cap: a VF cannot
  // flood with requests that fail validation.
  constexpr ntstatus admit() noexcept { return store_->admit(vf_); }

  // Decoder errors: a bad length is the VF's ordinary mistake (Windows answers
  // STATUS_INVALID_PARAMETER); anything else means the VF is not speaking the protocol.
  constexpr result<pf_reply> refused_or_violation(errc error, std::span<const std::byte> payload, message_kind kind,
                                                  std::uint64_t id, std::span<std::byte> out) noexcept {
    if (error != errc::invalid_length) return violation();
    // The decoders check the wslot before the length, so it decoded; isolation outranks validation.
    auto slot = hyperv::decode_wslot(le::load_u32(payload.data() + 8));
    const ntstatus admission = admit();
    if (admission != ntstatus::success) return respond(kind, id, admission, {}, false, out);
    if (!slot || !own_slot(*slot)) {
      bump(counters_.foreign_slot);
      return respond(kind, id, ntstatus::access_denied, {}, true, out);
    }
    bump(counters_.invalid_length);
    return respond(kind, id, ntstatus::invalid_parameter, {}, true, out);
  }

  constexpr result<pf_reply> answer_read(const hyperv::read_request& request, std::uint64_t id,
                                         std::span<std::byte> out) noexcept {
    const ntstatus admission = admit();
    if (admission != ntstatus::success) return respond(message_kind::read, id, admission, {}, false, out);
    if (!own_slot(request.slot)) {
      bump(counters_.foreign_slot);
      return respond(message_kind::read, id, ntstatus::access_denied, {}, true, out);
    }
    // Exactly the bytes requested: the block's, then zeros (a handler's unused bytes included). The VF
    // cannot tell a shorter answer's padding from data (hv_pci_read_config_compl).
    std::array<std::byte, max_block_size> data{};
    const serve_result served = store_->serve_read(vf_, request.block, request.bytes_requested, data);
    for (std::size_t i = served.bytes; i < data.size(); ++i) data[i] = std::byte{0};
    const std::span<const std::byte> bytes = served.status == ntstatus::success
                                                 ? std::span<const std::byte>{data}.first(request.bytes_requested)
                                                 : std::span<const std::byte>{};
    return respond(message_kind::read, id, served.status, bytes, true, out);
  }

  constexpr result<pf_reply> answer_write(const hyperv::write_request& request, std::uint64_t id,
                                          std::span<std::byte> out) noexcept {
    const ntstatus admission = admit();
    if (admission != ntstatus::success) return respond(message_kind::write, id, admission, {}, false, out);
    if (!own_slot(request.slot)) {
      bump(counters_.foreign_slot);
      return respond(message_kind::write, id, ntstatus::access_denied, {}, true, out);
    }
    const serve_result served = store_->serve_write(vf_, request.block, request.data);
    return respond(message_kind::write, id, served.status, {}, true, out);
  }

  // out is at least response_buffer_size and the data at most a block, so encoding cannot fail; if it
  // ever did, the admitted request is retired rather than leaked (it was never counted as unsent).
  constexpr result<pf_reply> respond(message_kind kind, std::uint64_t id, ntstatus status,
                                     std::span<const std::byte> data, bool admitted, std::span<std::byte> out) noexcept {
    auto size = kind == message_kind::read
                    ? hyperv::encode_read_response_frame(hyperv::read_response{id, status, data}, out)
                    : hyperv::encode_write_completion_frame(hyperv::write_completion{id, status}, out);
    if (!size) {
      if (admitted) store_->retire(vf_);
      return size.error();
    }
    return pf_reply{*size, status, admitted};
  }

  pf_blocks<MaxVfs>* store_;
  vf_index vf_;
  hyperv::wslot slot_;
  std::uint64_t stall_timeout_;
  pf_session_counters counters_{};
  hyperv::frame_decoder decoder_{};
  std::size_t unsent_{0};           // answers produced, not yet handed to the stream
  std::size_t unsent_admitted_{0};  // of which counted in flight
  std::size_t handed_{0};           // answers in the handoff in progress
  block_mask pending_invalidation_{};
  block_mask handed_invalidation_{};
  block_mask carried_invalidations_{};  // every invalidation a finished handoff put in this stream
  std::uint64_t progress_{0};           // writes that took bytes
  std::uint64_t progress_at_check_{0};  // progress_ when the stall check was armed
  pf_negotiation negotiation_;
  std::uint32_t negotiated_version_{0};
  pf_negotiation_state negotiation_state_{pf_negotiation_state::waiting};
  bool agreement_handed_{false};  // the answer that agreed a version was handed to the stream
  bool handing_off_{false};
  bool stream_violated_{false};
};

}  // namespace vpci::engine
