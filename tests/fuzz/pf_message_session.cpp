// Fuzz target: engine::pf_message_session, the PF side of the Hyper-V binding (binding 2), fed a hostile
// VF's byte stream in arbitrary chunks, with the transport's handoffs, progress reports, stall checks,
// invalidations and end of serving interleaved as the input says, serving a store with two VFs.
//
// Input: byte 0 the mode (bit 0 negotiation required, bits 3:1 the in-flight cap 0..7), byte 1 the
// session's wslot, a u16 stall timeout (ms); then the blocks (session_support.hpp); then operations, one
// opcode byte each (pf_message_ops below), until the input ends.
//
// Invariants, after every operation:
// - framing: the session takes bytes exactly as a reference frame decoder fed the same bytes would, up to
//   the end of one frame at a time; a bad frame length is a protocol violation; after a violation the
//   stream is dead (every later input is refused, nothing consumed);
// - every packet is answered or judged exactly as restated here from the codec: a malformed descriptor,
//   a packet that is not in-band data or has no type word, a block request that does not decode (other
//   than a bad length), anything but a version request before agreement when negotiation is required, or
//   a second negotiation is a violation: no answer, VF 0 quarantined; any other message type (one this PF
//   does not serve) is a completion carrying STATUS_BAD_DATA and the transaction ID when the descriptor
//   asks for one, else nothing at all, never counted in flight, and counted as unsupported; otherwise one
//   answer frame that decodes with the codec, carries
//   the request's transaction ID and the expected status: admission first (quarantined: access denied,
//   over the cap: STATUS_DEVICE_NOT_READY, neither counted in flight), then the wslot (another function's:
//   access denied), then the length, then the store's verdict (session_support.hpp); a read that succeeds
//   carries exactly the bytes requested: the block's, then zeros; version requests are agreed exactly
//   inside the supported range, once;
// - a refused request changes no block, a served write changes exactly its block, VF 1's blocks never
//   change nor reach VF 0;
// - nothing grows without bound: the answers held never exceed answer_queue_limit(); while the queue is
//   full nothing is consumed; the store's in-flight count is exactly the admitted answers not yet handed to
//   the stream, never above the cap;
// - invalidations: one frame per handoff with exactly the coalesced mask and the session's wslot, none
//   before the answer that agreed a version was handed over (negotiation required); end_of_serving hands
//   every undelivered bit back to the store: none is lost, none counted twice;
// - quarantine: only a violation or a stall check that saw no progress while answers were held.
#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

#include <vpci/block/endian.hpp>
#include <vpci/engine/pf_messages.hpp>
#include <vpci/wire/framing.hpp>
#include <vpci/wire/hyperv.hpp>

#include "fuzz_support.hpp"
#include "session_inputs.hpp"
#include "session_support.hpp"

using namespace vpci;
using namespace vpci::fuzz;
using namespace vpci::fuzz::pf_message_ops;
using namespace vpci::hyperv;

namespace {

using session_type = engine::pf_message_session<session_fixture::max_vfs>;

enum class negotiation { waiting, agreed, skipped };

struct expected_answer {
  bool violation{false};
  bool unsupported{false};  // a message type this PF does not serve: STATUS_BAD_DATA, or nothing
  bool silent{false};       // no completion asked for: no answer at all
  message_type type{message_type::read_block};
  std::uint64_t id{0};
  ntstatus status{ntstatus::success};
  bool admitted{false};
  std::uint32_t requested{0};
  std::uint32_t block{0};
  std::span<const std::byte> write_data{};
  bool agree{false};
  std::uint32_t version{0};
};

struct harness {
  session_fixture fixture;
  session_type session;
  wslot slot;
  engine::pf_negotiation rules;
  std::uint32_t cap;
  std::uint64_t now{0};

  // The model.
  frame_decoder reference{};
  bool dead{false};
  bool quarantined{false};
  negotiation state{negotiation::waiting};
  bool agreement_answered{false};  // the answer agreeing a version is queued or handed
  bool agreement_handed{false};
  std::size_t unsent{0};
  std::size_t unsent_admitted{0};
  std::size_t handed{0};
  std::uint32_t in_flight{0};
  bool handing_off{false};
  std::uint64_t pending{0};  // the session's pending invalidation
  std::uint64_t in_handoff{0};
  std::uint64_t carried{0};  // invalidations finished handoffs put in the stream: given back at its end
  std::uint64_t store_pending{0};
  bool armed{false};
  bool progressed{false};
  std::uint64_t unsupported{0};

  harness(engine::pf_limits limits, wslot s, std::uint64_t stall, bool required)
      : fixture(limits), session(fixture.store(), 0, s, stall, engine::pf_negotiation{required}), slot(s), rules{required},
        cap(limits.max_in_flight) {}

  [[nodiscard]] std::size_t limit() const { return 2 * std::size_t{cap} + 2; }

  // The verdict on one packet of `packet_size` bytes (whole, or its first bytes as the framing keeps
  // them), from the codec and the state before it (the session's doc comment).
  expected_answer judge(std::span<const std::byte> packet, std::size_t packet_size) {
    expected_answer a;
    auto d = vmbus::decode_descriptor(packet, packet_size);
    if (!d || d->type != vmbus::packet_data_inband) return violation();
    a.id = d->transaction_id;
    const auto payload = vmbus::payload_of(packet, *d);
    if (payload.size() < 4) return violation();
    auto type = peek_message_type(payload);
    // A served message longer than 168 bytes is longer than its largest form: malformed.
    if (type && packet_size > packet.size() && *type != message_type::invalidate_block) return violation();
    const bool block = type && (*type == message_type::read_block || *type == message_type::write_block);
    if (!type || (!block && *type != message_type::query_protocol_version)) {
      if (state == negotiation::waiting && rules.required) return violation();
      ++unsupported;
      a.unsupported = true;
      a.silent = (d->flags & vmbus::flag_completion_requested) == 0;
      a.status = ntstatus::bad_data;
      return a;
    }
    a.type = *type;
    if (*type == message_type::query_protocol_version) {
      if (state != negotiation::waiting) return violation();
      auto request = decode_version_request(payload);
      if (!request) return violation();
      const bool supported = request->version >= rules.lowest && request->version <= rules.highest;
      a.status = quarantined ? ntstatus::access_denied : supported ? ntstatus::success : ntstatus::revision_mismatch;
      a.agree = !quarantined && supported;
      a.version = a.agree ? request->version : rules.highest;
      return a;
    }
    if (state == negotiation::waiting && rules.required) return violation();
    // A block message ends the chance to negotiate, even one that then turns out a violation.
    if (state == negotiation::waiting) state = negotiation::skipped;
    const bool read = *type == message_type::read_block;
    errc error = no_error;
    if (read) {
      auto r = decode_read_request(payload);
      if (r) {
        a.requested = r->bytes_requested;
        a.block = r->block.value();
      } else {
        error = r.error();
      }
    } else {
      auto w = decode_write_request(payload);
      if (w) {
        a.write_data = w->data;
        a.block = w->block.value();
      } else {
        error = w.error();
      }
    }
    if (error != no_error && error != errc::invalid_length) return violation();
    // Admission.
    if (quarantined) {
      a.status = ntstatus::access_denied;
      return a;
    }
    if (in_flight >= cap) {
      a.status = ntstatus::device_not_ready;
      return a;
    }
    a.admitted = true;
    auto own = decode_wslot(le::load_u32(payload.data() + 8));
    if (!own || !(*own == slot)) {
      a.status = ntstatus::access_denied;
      return a;
    }
    if (error == errc::invalid_length) {
      a.status = ntstatus::invalid_parameter;
      return a;
    }
    if (read) {
      const verdict v = fixture.expect_read(a.block, a.requested);
      a.status = v.status;
      return a;
    }
    a.status = fixture.expect_write(a.block, a.write_data.size()).status;
    return a;
  }

  expected_answer violation() {
    expected_answer a;
    a.violation = true;
    return a;
  }

  // The answer frame in `out` matches the expectation.
  void check_answer(const expected_answer& a, std::span<const std::byte> frame, const engine::pf_reply& reply) {
    VPCI_FUZZ_CHECK(reply.size == frame.size() && frame.size() >= frame_prefix_size);
    VPCI_FUZZ_CHECK(le::load_u32(frame.data()) == frame.size() - frame_prefix_size);
    const exact_bytes packet_copy{frame.subspan(frame_prefix_size)};
    const auto packet = packet_copy.view();
    VPCI_FUZZ_CHECK(reply.status == a.status && reply.admitted == a.admitted);
    if (a.unsupported) {
      // struct pci_response: the status alone, as a write's completion carries it.
      auto r = decode_write_completion(packet);
      VPCI_FUZZ_CHECK(r && r->transaction_id == a.id && r->status == ntstatus::bad_data);
      return;
    }
    if (a.type == message_type::query_protocol_version) {
      auto r = decode_version_response(packet);
      VPCI_FUZZ_CHECK(r && r->transaction_id == a.id && r->status == a.status && r->version == a.version);
      return;
    }
    if (a.type == message_type::write_block) {
      auto r = decode_write_completion(packet);
      VPCI_FUZZ_CHECK(r && r->transaction_id == a.id && r->status == a.status);
      return;
    }
    auto r = decode_read_response(packet);
    VPCI_FUZZ_CHECK(r && r->transaction_id == a.id && r->status == a.status);
    if (a.status != ntstatus::success) {
      // No data, only the VMBus padding (zeros) that follows the status.
      VPCI_FUZZ_CHECK(r->data.size() < 8);
      for (std::byte b : r->data) VPCI_FUZZ_CHECK(b == std::byte{0});
      return;
    }
    // Exactly the bytes requested: the block's, then zeros; then only VMBus padding (zeros).
    const verdict v = fixture.expect_read(a.block, a.requested);
    VPCI_FUZZ_CHECK(r->data.size() >= a.requested && r->data.size() - a.requested < 8);
    for (std::size_t i = 0; i < r->data.size(); ++i)
      VPCI_FUZZ_CHECK(r->data[i] == (i < v.bytes ? v.data[i] : std::byte{0}));
  }

  // Feeds one chunk the way a transport does: until it is taken, the queue is full or the stream dies.
  void feed(std::span<const std::byte> chunk_in) {
    const exact_bytes chunk_copy{chunk_in};
    auto chunk = chunk_copy.view();
    sentinel_buffer out{session_type::response_buffer_size};
    while (!chunk.empty()) {
      const bool full = unsent + handed >= limit();
      VPCI_FUZZ_CHECK(session.accepting() == !full);
      const engine::pf_input_step step = session.on_input(chunk, out.span());
      if (dead) {
        VPCI_FUZZ_CHECK(step.consumed == 0 && step.error == errc::protocol_violation && step.reply.size == 0);
        return;
      }
      if (full) {
        VPCI_FUZZ_CHECK(step.consumed == 0 && step.error == no_error && step.reply.size == 0);
        return;  // the transport stops reading until a handoff ends
      }
      VPCI_FUZZ_CHECK(step.consumed >= 1 && step.consumed <= chunk.size());
      const auto taken = chunk.first(step.consumed);
      const frame_decoder::step ref = reference.feed(taken);
      chunk = chunk.subspan(step.consumed);
      if (ref.error != no_error) {
        VPCI_FUZZ_CHECK(ref.consumed == step.consumed && step.error == errc::protocol_violation);
        dead = true;
        quarantined = true;
        return;
      }
      VPCI_FUZZ_CHECK(ref.consumed == step.consumed);
      if (ref.packet.empty()) {
        VPCI_FUZZ_CHECK(step.error == no_error && step.reply.size == 0);
        VPCI_FUZZ_CHECK(out.untouched_from(0));
        continue;
      }
      const expected_answer a = judge(ref.packet, ref.packet_size);
      VPCI_FUZZ_CHECK(session.counters().unsupported_messages == unsupported);
      if (a.violation) {
        VPCI_FUZZ_CHECK(step.error == errc::protocol_violation && step.reply.size == 0);
        dead = true;
        quarantined = true;
        return;
      }
      if (a.silent) {
        VPCI_FUZZ_CHECK(step.error == no_error && step.reply.size == 0);
        VPCI_FUZZ_CHECK(out.untouched_from(0));
        continue;
      }
      VPCI_FUZZ_CHECK(step.error == no_error && step.reply.size > 0);
      check_answer(a, std::span<const std::byte>(out.view()).first(step.reply.size), step.reply);
      VPCI_FUZZ_CHECK(out.untouched_from(step.reply.size));
      answered(a);
      // A fresh sentinel for the next answer.
      out = sentinel_buffer{session_type::response_buffer_size};
    }
  }

  // A whole packet through on_packet, as a transport that delivers packets itself: judged as on the stream,
  // but a full queue is errc::busy (nothing decoded) and a violation does not kill the stream's framing.
  void packet(std::span<const std::byte> bytes) {
    const exact_bytes copy{bytes};
    sentinel_buffer out{session_type::response_buffer_size};
    const bool full = unsent + handed >= limit();
    auto reply = session.on_packet(copy.view(), out.span());
    if (full) {
      VPCI_FUZZ_CHECK(!reply && reply.error() == errc::busy && out.untouched_from(0));
      return;
    }
    const expected_answer a = judge(copy.view(), copy.view().size());
    VPCI_FUZZ_CHECK(session.counters().unsupported_messages == unsupported);
    if (a.violation) {
      VPCI_FUZZ_CHECK(!reply && reply.error() == errc::protocol_violation && out.untouched_from(0));
      quarantined = true;
      return;
    }
    if (a.silent) {
      VPCI_FUZZ_CHECK(reply.has_value() && reply->size == 0 && out.untouched_from(0));
      return;
    }
    VPCI_FUZZ_CHECK(reply.has_value());
    check_answer(a, std::span<const std::byte>(out.view()).first(reply->size), *reply);
    VPCI_FUZZ_CHECK(out.untouched_from(reply->size));
    answered(a);
  }

  // The model takes an answer that was queued.
  void answered(const expected_answer& a) {
    if (a.agree) {
      state = negotiation::agreed;
      agreement_answered = true;
    }
    if (a.type == message_type::write_block && a.status == ntstatus::success) fixture.written(a.block, a.write_data);
    ++unsent;
    if (a.admitted) {
      ++unsent_admitted;
      ++in_flight;
    }
  }

  void handoff(input_reader& in) {
    const std::uint8_t flags = in.u8();
    sentinel_buffer inv{session_type::invalidate_buffer_size};
    auto h = session.begin_handoff(inv.span());
    if (handing_off) {
      VPCI_FUZZ_CHECK(!h && h.error() == errc::invalid_argument && inv.untouched_from(0));
      return;
    }
    VPCI_FUZZ_CHECK(h.has_value());
    VPCI_FUZZ_CHECK(h->answers == unsent);
    const bool held = rules.required && !agreement_handed;
    if (pending != 0 && !held) {
      VPCI_FUZZ_CHECK(h->invalidate_size == invalidate_frame_size);
      VPCI_FUZZ_CHECK(le::load_u32(inv.view().data()) == invalidate_frame_size - frame_prefix_size);
      const exact_bytes packet{inv.view().subspan(frame_prefix_size, invalidate_frame_size - frame_prefix_size)};
      auto m = decode_invalidate(packet.view());
      VPCI_FUZZ_CHECK(m && m->slot == slot && m->mask.bits() == pending);
      in_handoff = pending;
      pending = 0;
    } else {
      VPCI_FUZZ_CHECK(h->invalidate_size == 0 && inv.untouched_from(0));
    }
    in_flight -= static_cast<std::uint32_t>(unsent_admitted);
    unsent_admitted = 0;
    handed = unsent;
    unsent = 0;
    handing_off = true;
    if (agreement_answered) agreement_handed = true;
    if ((flags & 1) != 0) progress(1 + (flags >> 4));
    if ((flags & 2) != 0) end_handoff();
  }

  void progress(std::size_t bytes) {
    session.on_stream_progress(bytes);
    if (bytes != 0) progressed = true;
  }

  void end_handoff() {
    session.end_handoff();
    handed = 0;
    carried |= in_handoff;
    in_handoff = 0;
    handing_off = false;
  }

  void stall_check(input_reader& in) {
    const std::uint8_t flags = in.u8();
    const std::uint64_t due = session.arm_stall_check(now);
    const bool watched = handing_off && unsent + handed != 0;
    VPCI_FUZZ_CHECK(watched ? due != session_type::no_deadline && due > now : due == session_type::no_deadline);
    progressed = false;
    if ((flags & 1) != 0) progress(flags >> 1);
    now = due == session_type::no_deadline ? now + 1 : due;
    const errc verdict = session.on_stall_check();
    if (watched && !progressed) {
      VPCI_FUZZ_CHECK(verdict == errc::quarantined);
      quarantined = true;
    } else {
      VPCI_FUZZ_CHECK(verdict == no_error);
    }
  }

  void end_of_serving() {
    session.end_of_serving();
    in_flight -= static_cast<std::uint32_t>(unsent_admitted);
    unsent_admitted = 0;
    store_pending |= pending | in_handoff | carried;  // a stream that took bytes says nothing of the VF reading them
    pending = 0;
    in_handoff = 0;
    carried = 0;
    unsent = 0;
    handed = 0;
    handing_off = false;
  }

  // A request frame from fields: read, write or version request, any transaction ID, any wslot and length,
  // fed in chunks whose sizes the input gives.
  void request(input_reader& in) {
    const std::uint8_t kind = in.u8();
    const std::uint64_t id = in.u8() < 0xF0 ? in.u8() : in.u64();
    std::array<std::byte, max_frame_size> frame{};
    std::size_t payload_size = 0;
    std::byte* payload = frame.data() + frame_prefix_size + vmbus::descriptor_size;
    std::uint32_t raw_slot = *encode_wslot(slot);
    if ((kind & 0x10) != 0) raw_slot = in.u8() < 0x80 ? in.u8() : in.u32();
    switch (kind % 3) {
      case 0: {
        le::store_u32(payload, static_cast<std::uint32_t>(message_type::read_block));
        le::store_u32(payload + 4, pick_block_id(in));
        le::store_u32(payload + 8, raw_slot);
        le::store_u32(payload + 12, (kind & 0x20) != 0 ? in.u32() : in.u8());
        payload_size = 16;
        break;
      }
      case 1: {
        const std::uint8_t length = in.u8();
        const std::size_t count = length % (max_block_size + 2);  // 0 and 129 included
        le::store_u32(payload, static_cast<std::uint32_t>(message_type::write_block));
        le::store_u32(payload + 4, pick_block_id(in));
        le::store_u32(payload + 8, raw_slot);
        le::store_u32(payload + 12, static_cast<std::uint32_t>(count));
        const std::size_t carried = count <= max_block_size ? count : max_block_size;
        const auto data = in.take(carried);
        for (std::size_t i = 0; i < data.size(); ++i) payload[16 + i] = data[i];
        payload_size = 16 + carried + ((kind & 0x20) != 0 ? 4 : 0);
        break;
      }
      default: {
        le::store_u32(payload, static_cast<std::uint32_t>(message_type::query_protocol_version));
        const std::uint8_t v = in.u8();
        le::store_u32(payload + 4, v < 0xC0 ? protocol_version(1, static_cast<std::uint16_t>(v % 6)) : in.u32());
        payload_size = 8;
        break;
      }
    }
    const std::size_t packet_size = vmbus::padded(vmbus::descriptor_size + payload_size);
    vmbus::store_descriptor(vmbus::make_descriptor(vmbus::packet_data_inband, packet_size, id, vmbus::flag_completion_requested),
                            frame.data() + frame_prefix_size);
    le::store_u32(frame.data(), static_cast<std::uint32_t>(packet_size));
    std::span<const std::byte> rest = std::span<const std::byte>(frame).first(frame_prefix_size + packet_size);
    const std::uint8_t chunking = in.u8();
    while (!rest.empty()) {
      const std::size_t n = chunking == 0 ? rest.size() : 1 + (chunking + rest.size()) % 23;
      const std::size_t k = n < rest.size() ? n : rest.size();
      feed(rest.first(k));
      rest = rest.subspan(k);
    }
  }

  void check() const {
    fixture.check_blocks();
    const engine::pf_blocks<2>& store = fixture.store();
    VPCI_FUZZ_CHECK((store.quarantined(0) != engine::quarantine_reason::none) == quarantined);
    VPCI_FUZZ_CHECK(store.in_flight(0) == in_flight && in_flight <= cap);
    VPCI_FUZZ_CHECK(session.held_answers() == unsent + handed && session.held_answers() <= limit());
    VPCI_FUZZ_CHECK(session.unsent_answers() == unsent);
    VPCI_FUZZ_CHECK(session.handoff_in_progress() == handing_off);
    VPCI_FUZZ_CHECK(session.pending_invalidation().bits() == pending);
    VPCI_FUZZ_CHECK(store.pending_invalidations(0).bits() == store_pending);
    VPCI_FUZZ_CHECK(session.has_output() == (unsent != 0 || (pending != 0 && !(rules.required && !agreement_handed))));
    const engine::pf_negotiation_state s = session.negotiation_state();
    VPCI_FUZZ_CHECK(state == negotiation::waiting ? s == engine::pf_negotiation_state::waiting
                    : state == negotiation::agreed ? s == engine::pf_negotiation_state::agreed
                                                   : s == engine::pf_negotiation_state::skipped);
  }

  void run(input_reader& in) {
    while (!in.empty()) {
      switch (in.u8() % op_count) {
        case op_raw_bytes: feed(in.take(in.u8())); break;
        case op_request: request(in); break;
        case op_handoff: handoff(in); break;
        case op_progress: progress(in.u8()); break;
        case op_end_handoff: end_handoff(); break;
        case op_stall_check: stall_check(in); break;
        case op_invalidate: {
          const std::uint64_t mask = in.u8() < 0x80 ? std::uint64_t{1} << (in.u8() % 64) : in.u64();
          session.invalidate(block_mask{mask});
          pending |= mask;
          break;
        }
        case op_store_raise: {
          const std::uint64_t mask = in.u64();
          VPCI_FUZZ_CHECK(fixture.store().invalidate(0, block_mask{mask}) == no_error);
          store_pending |= mask;
          break;
        }
        case op_pf_update: fixture.pf_update(in); break;
        case op_end_serving: end_of_serving(); break;
        case op_small_buffer: {
          sentinel_buffer out{session_type::response_buffer_size - 1};
          const exact_bytes chunk{in.take(1 + in.u8() % 8)};
          const auto step = session.on_input(chunk.view(), out.span());
          VPCI_FUZZ_CHECK(step.consumed == 0 && step.error == errc::buffer_too_small && out.untouched_from(0));
          break;
        }
        case op_packet: packet(in.take(in.u8())); break;
        default: break;
      }
      check();
    }
    // The stream ends: cut inside a frame is truncated_message (no quarantine), a dead stream its error.
    const errc end = session.on_end_of_stream();
    VPCI_FUZZ_CHECK(end == reference.finish());
    end_of_serving();
    check();
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  input_reader in{as_bytes(data, size)};
  const std::uint8_t mode = in.u8();
  const std::uint8_t raw_slot = in.u8();
  const std::uint64_t stall = (std::uint64_t{in.u16()} + 1) * 1'000'000u;
  const wslot slot{static_cast<std::uint8_t>(raw_slot & 0x1F), static_cast<std::uint8_t>(raw_slot >> 5)};
  harness h{engine::pf_limits{static_cast<std::uint32_t>((mode >> 1) & 7)}, slot, stall, (mode & 1) != 0};
  h.fixture.define_blocks(in);
  h.check();
  h.run(in);
  return 0;
}
