// The PF side of the Hyper-V binding as a sans-I/O session (freestanding: no heap, no I/O): one
// session per VF connection, answering that VF's READ_BLOCK / WRITE_BLOCK packets from the shared
// pf_blocks store and producing the response frames to send.
//
// Trust: the session knows which VF a connection belongs to (the PF accepted the channel); nothing in a
// message can name another VF. A request carrying another wslot is refused with STATUS_ACCESS_DENIED;
// the store refuses another VF's blocks the same way and unregistered blocks with
// STATUS_INVALID_PARAMETER. A refused request changes nothing.
//
// What quarantines: only a protocol violation (a malformed descriptor, a packet type or message type a
// VF does not send, a request whose fields do not decode). Error statuses never do; flooding is handled
// by the store's in-flight cap (STATUS_DEVICE_NOT_READY) and, when the transport's send queue itself
// overflows, by the transport layer calling quarantine(overflow).
//
// Retiring: each admitted request counts as in flight in the store until its response has left the
// PF. The transport calls response_written(reply) (or store.retire(vf) when reply.admitted) once the
// response frame is written, so the in-flight count is the number of responses queued and not yet
// written. Responses refused at admission (busy, quarantined) were never counted and must not retire.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include <vpci/block/block_buffer.hpp>
#include <vpci/block/endian.hpp>
#include <vpci/engine/pf_blocks.hpp>
#include <vpci/protocol/block_id.hpp>
#include <vpci/protocol/constants.hpp>
#include <vpci/protocol/errc.hpp>
#include <vpci/protocol/ntstatus.hpp>
#include <vpci/protocol/result.hpp>
#include <vpci/wire/framing.hpp>
#include <vpci/wire/hyperv.hpp>

namespace vpci::engine {

// The answer on_packet produced: `size` bytes of response_out to send (a whole frame).
struct pf_reply {
  std::size_t size{0};
  ntstatus status{ntstatus::success};  // the status carried in the response
  bool admitted{false};                // counted in flight: retire once written
};

// Requests the session answered without reaching the store (saturating).
struct pf_session_counters {
  std::uint64_t foreign_slot{0};    // wslot of another function
  std::uint64_t invalid_length{0};  // length 0 or above 128
};

template <std::size_t MaxVfs>
class pf_message_session {
 public:
  // response_out must hold at least this much: a read response frame carrying a full block.
  static constexpr std::size_t response_buffer_size = hyperv::max_response_frame_size;

  constexpr pf_message_session(pf_blocks<MaxVfs>& store, vf_index vf, hyperv::wslot slot) noexcept
      : store_(&store), vf_(vf), slot_(slot) {}

  // One packet from the VF (a frame's content, without the length prefix). On success the response
  // frame is in response_out. Errors:
  // - buffer_too_small: response_out < response_buffer_size (nothing decoded, nothing changed);
  // - protocol_violation: the VF broke the protocol; the VF is quarantined in the store and the caller
  //   closes the connection. No block changed.
  constexpr result<pf_reply> on_packet(std::span<const std::byte> packet, std::span<std::byte> response_out) noexcept {
    if (response_out.size() < response_buffer_size) return errc::buffer_too_small;
    auto descriptor = hyperv::vmbus::decode_descriptor(packet);
    if (!descriptor || descriptor->type != hyperv::vmbus::packet_data_inband) return violation();
    const auto payload = packet.subspan(std::size_t{descriptor->offset8} * 8);
    auto type = hyperv::peek_message_type(payload);
    if (!type) return violation();
    const std::uint64_t id = descriptor->transaction_id;
    if (*type == hyperv::message_type::read_block) {
      auto request = hyperv::decode_read_request(payload);
      if (!request) return refused_or_violation(request.error(), payload, message_kind::read, id, response_out);
      return answer_read(*request, id, response_out);
    }
    if (*type == hyperv::message_type::write_block) {
      auto request = hyperv::decode_write_request(payload);
      if (!request) return refused_or_violation(request.error(), payload, message_kind::write, id, response_out);
      return answer_write(*request, id, response_out);
    }
    // INVALIDATE_BLOCK flows PF to VF only; protocol-version negotiation is not part of this binding.
    return violation();
  }

  // Encodes an INVALIDATE_BLOCK frame for this VF (hyperv::invalidate_frame_size bytes). Does not touch
  // the store's pending mask.
  [[nodiscard]] constexpr result<std::size_t> make_invalidate(block_mask mask, std::span<std::byte> out) const noexcept {
    return hyperv::encode_invalidate_frame(hyperv::invalidate{slot_, mask}, out);
  }

  // Takes the store's pending (coalesced) invalidations of this VF and encodes them; 0 when none are
  // pending. On an error the mask stays pending.
  [[nodiscard]] constexpr result<std::size_t> make_pending_invalidate(std::span<std::byte> out) noexcept {
    const block_mask pending = store_->pending_invalidations(vf_);
    if (pending.empty()) return std::size_t{0};
    auto size = make_invalidate(pending, out);
    if (!size) return size.error();
    (void)store_->take_invalidations(vf_);
    return *size;
  }

  // The response of `reply` has been written to the VF: retires it from the in-flight count.
  constexpr void response_written(const pf_reply& reply) noexcept {
    if (reply.admitted) store_->retire(vf_);
  }

  // The stream carrying this VF's frames lost its framing (a bad length, garbage): a protocol violation.
  // The VF is quarantined; the caller closes the stream. Returns errc::protocol_violation.
  constexpr errc on_framing_error() noexcept { return violation().error(); }

  // How many answers the transport may hold for this VF, unread, before the VF overflows it: twice the
  // in-flight cap (the answers in flight plus as many busy refusals) and two invalidations.
  [[nodiscard]] constexpr std::size_t answer_queue_limit() const noexcept {
    return 2 * std::size_t{store_->limits().max_in_flight} + 2;
  }
  // The VF sent more while answer_queue_limit() answers waited for it: overflow. The VF is quarantined;
  // the caller gives the stream up. Returns errc::quarantined.
  constexpr errc on_overflow() noexcept {
    store_->quarantine(vf_, quarantine_reason::overflow);
    return errc::quarantined;
  }

  [[nodiscard]] constexpr vf_index vf() const noexcept { return vf_; }
  [[nodiscard]] constexpr hyperv::wslot slot() const noexcept { return slot_; }
  [[nodiscard]] constexpr const pf_session_counters& counters() const noexcept { return counters_; }

 private:
  enum class message_kind : std::uint8_t { read, write };

  static constexpr void bump(std::uint64_t& counter) noexcept {
    if (counter != ~std::uint64_t{0}) ++counter;
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
    block_buffer<max_block_size> data;
    const serve_result served = store_->serve_read(vf_, request.block, request.bytes_requested, data.storage());
    const std::span<const std::byte> bytes =
        served.status == ntstatus::success ? std::span<const std::byte>{data.storage().first(served.bytes)}
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
  // ever did, the admitted request is retired rather than leaked.
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
  pf_session_counters counters_{};
};

}  // namespace vpci::engine
