// Fuzz target: the VF side of the Hyper-V binding, engine::vf_message_channel (vf_message_engine's
// transaction table, the send queue, the receive framing and version negotiation), driven as the VF
// endpoint core drives it, against a hostile PF: the PF's stream is raw input bytes, or answers built for
// the operations in flight with statuses and data lengths the input picks, version answers and
// invalidations, in any chunking; operations are started, cancelled and removed, and time advances, as
// the input says.
//
// Input: byte 0 the mode (bit 0 negotiation on), byte 1 the VF's wslot; then operations, one opcode byte
// each (vf_message_ops below), until the input ends; then the VF is removed and every completion drained.
//
// Invariants:
// - every operation started completes exactly once (by step() or next_completion(), or at once by a
//   cancel() that returns true), with the handle start_* returned; a handle is never reused;
// - a slot is an operation's from its start until its completion is reported: the engine's slots in use
//   are exactly the operations started and not yet reported (in flight, or complete with the completion
//   still held by the channel), and a start is refused with busy exactly when that is max_in_flight. The
//   model lets completions wait in the channel while operations start: a step may report one completion
//   and return (its handler goes on to start, cancel or receive, as a handler the endpoint core runs
//   does), and bytes received meanwhile are not drained;
// - a completion never carries more bytes than requested: a successful read 1..requested bytes, written
//   into the destination and nothing after them; a successful write exactly its length; a failure 0 bytes
//   and the destination untouched. Destinations are exact-size heap blocks (AddressSanitizer);
// - a completion carries the PF's own status (peer_status) exactly when its failure is the PF's answer
//   and that status is an error or a warning: the error is then that status's (block_completion_errc), and
//   for an answer built here the status the answer carried; any other completion (a success-class status
//   such as STATUS_PENDING failing the operation included: NT_SUCCESS would take it for success) carries
//   STATUS_SUCCESS there;
// - start_* refuses a length outside 1..128 (invalid_length), a full table (busy, as above), and after a framing
//   error or a failed negotiation that error, starting nothing;
// - what step() sends is whole frames: version offers (1.4, 1.3, ... with IDs 1, 2, ...) while negotiating,
//   then each operation's request frame exactly once, never one of an operation already complete, never a
//   block request before negotiation is open;
// - a framing error is reported once and is sticky; nothing else the PF sends (malformed packets, unknown
//   or stale IDs, foreign invalidations) fails the channel.
#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <vector>

#include <vpci/block/endian.hpp>
#include <vpci/engine/vf_message_channel.hpp>
#include <vpci/protocol/status_mapping.hpp>
#include <vpci/wire/framing.hpp>
#include <vpci/wire/hyperv.hpp>

#include "fuzz_support.hpp"
#include "session_inputs.hpp"
#include "vf_operations.hpp"

using namespace vpci;
using namespace vpci::fuzz;
using namespace vpci::fuzz::vf_message_ops;
using namespace vpci::hyperv;

namespace {

constexpr std::size_t max_in_flight = 4;
using channel_type = engine::vf_message_channel<max_in_flight>;
using action_kind = channel_type::message_action::kind;

// What an answer that arrived whole does to its operation (judge_answer), checked when it is reported.
struct expected_completion {
  errc error{no_error};
  std::size_t bytes{0};
  ntstatus peer_status{ntstatus::success};  // the PF's own status when the failure is its answer
  std::array<std::byte, 160> data{};
};

struct operation : vf_operation {
  bool sent{false};
  bool judged{false};  // an answer for it arrived whole: `expected` is its completion
  expected_completion expected{};
};

constexpr std::array<ntstatus, 7> answer_statuses{ntstatus::success,      ntstatus::pending,          ntstatus::unsuccessful,
                                                  ntstatus::access_denied, ntstatus::invalid_parameter,
                                                  ntstatus::revision_mismatch, ntstatus::buffer_too_small};

struct harness {
  channel_type channel;
  wslot slot;
  std::uint64_t now{0};
  std::map<std::uint64_t, operation> live;  // by transaction ID
  std::set<std::uint64_t> ever;             // every handle start_* returned
  std::size_t started{0};
  std::size_t completed{0};
  std::size_t version_offers{0};
  bool send_outstanding{false};
  bool handler_running{false};  // a step reported one completion and returned; others may wait in the channel
  errc framing{no_error};
  frame_decoder stream{};  // what the channel's own decoder sees, to know where frames start
  channel_type::message_completion last_completion_{};
  std::vector<std::byte> last_destination_{};  // a read's destination when it completed

  harness(wslot s, bool negotiate) : channel(s, engine::vf_negotiation_options{negotiate, 1'000'000}), slot(s) {}

  void complete(const channel_type::message_completion& c) {
    const auto it = live.find(c.handle.transaction_id);
    VPCI_FUZZ_CHECK(it != live.end());  // started, and not completed before
    const operation& op = it->second;
    check_vf_completion(op, c.error, c.bytes, c.transport_failure);
    last_completion_ = c;
    last_destination_.clear();
    if (op.kind == engine::operation_kind::read) last_destination_.assign(op.destination.get(), op.destination.get() + op.length);
    // The PF's own status comes only with a failure that is its answer, and the error is that status's.
    if (c.peer_status != ntstatus::success)
      VPCI_FUZZ_CHECK(c.error != no_error && !c.transport_failure && c.error == block_completion_errc(c.peer_status) &&
                      !nt_success(c.peer_status));
    if (op.judged) VPCI_FUZZ_CHECK(c.peer_status == op.expected.peer_status);
    if (op.judged) {
      VPCI_FUZZ_CHECK(c.error == op.expected.error && c.bytes == op.expected.bytes && !c.transport_failure);
      if (c.error == no_error && op.kind == engine::operation_kind::read)
        for (std::size_t i = 0; i < c.bytes; ++i) VPCI_FUZZ_CHECK(last_destination_[i] == op.expected.data[i]);
    }
    live.erase(it);
    ++completed;
  }

  // A send: whole frames, each a version offer or the request of an operation in flight not sent before.
  void sent_bytes(std::span<const std::byte> bytes) {
    VPCI_FUZZ_CHECK(!send_outstanding);
    frame_decoder decoder;
    const exact_bytes copy{bytes};
    auto rest = copy.view();
    std::size_t frames = 0;
    while (!rest.empty()) {
      const auto step = decoder.feed(rest);
      VPCI_FUZZ_CHECK(step.error == no_error);
      rest = rest.subspan(step.consumed);
      if (step.packet.empty()) continue;
      ++frames;
      auto d = vmbus::decode_descriptor(step.packet);
      VPCI_FUZZ_CHECK(d && d->type == vmbus::packet_data_inband && d->flags == vmbus::flag_completion_requested);
      const auto payload = vmbus::payload_of(step.packet, *d);
      auto type = peek_message_type(payload);
      VPCI_FUZZ_CHECK(type.has_value());
      if (*type == message_type::query_protocol_version) {
        auto v = decode_version_request(payload);
        VPCI_FUZZ_CHECK(v && version_offers < linux_protocol_versions.size());
        VPCI_FUZZ_CHECK(d->transaction_id == version_offers + 1 && v->version == linux_protocol_versions[version_offers]);
        ++version_offers;
        continue;
      }
      const auto it = live.find(d->transaction_id);
      VPCI_FUZZ_CHECK(it != live.end() && !it->second.sent);
      VPCI_FUZZ_CHECK(channel.negotiation().open());
      it->second.sent = true;
      if (*type == message_type::read_block) {
        auto r = decode_read_request(payload);
        VPCI_FUZZ_CHECK(r && it->second.kind == engine::operation_kind::read && r->bytes_requested == it->second.length &&
                        r->slot == slot);
      } else {
        auto w = decode_write_request(payload);
        VPCI_FUZZ_CHECK(w && it->second.kind == engine::operation_kind::write && w->data.size() == it->second.length &&
                        w->slot == slot);
      }
    }
    VPCI_FUZZ_CHECK(frames >= 1 && decoder.at_frame_boundary());
    send_outstanding = true;
  }

  // step() as the endpoint core runs it: completions delivered, a send performed (reported when `report`).
  // With `one`, the first completion's handler takes over: the step returns after it, and the completions
  // behind it wait in the channel (their slots still taken) until a later step or drain.
  void step(bool report, bool one) {
    handler_running = false;
    for (int guard = 0; guard < 64; ++guard) {
      const auto a = channel.step(now);
      if (a.what == action_kind::complete) {
        complete(a.done);
        if (one) {
          handler_running = true;
          return;
        }
        continue;
      }
      if (a.what == action_kind::send) {
        sent_bytes(a.bytes);
        if (!report) return;
        channel.on_sent();
        send_outstanding = false;
        continue;
      }
      if (a.what == action_kind::wait) VPCI_FUZZ_CHECK(a.until == channel.next_deadline() && a.until > now);
      else VPCI_FUZZ_CHECK(a.what == action_kind::idle);
      return;
    }
    invariant_broken("step() keeps asking for work", __FILE__, __LINE__);
  }

  // Completions the channel holds are delivered right away (the core does so after every report), unless
  // a handler is running (then the next step delivers them).
  void drain() {
    handler_running = false;
    channel_type::message_completion c;
    while (channel.next_completion(c)) complete(c);
  }

  void received(std::span<const std::byte> chunk) {
    const exact_bytes copy{chunk};
    const errc before = channel.receive_error();
    for (auto rest = copy.view(); !rest.empty();) {
      const auto step = stream.feed(rest);
      if (step.error != no_error) break;
      rest = rest.subspan(step.consumed);
    }
    const errc e = channel.on_received(copy.view());
    VPCI_FUZZ_CHECK((e != no_error) == (stream.error() != no_error));
    if (before != no_error) VPCI_FUZZ_CHECK(e == before);
    if (e != no_error) {
      VPCI_FUZZ_CHECK(e == errc::protocol_violation && channel.receive_error() == e);
      framing = e;
    }
    if (!handler_running) drain();
  }

  errc refusal() const {
    if (framing != no_error) return framing;
    return channel.negotiation().failed() ? channel.negotiation().error() : no_error;
  }

  void start(input_reader& in, bool read) {
    operation op{take_vf_operation(in, read, now, 1000)};
    const std::size_t length = op.length;
    const std::size_t in_flight = live.size();  // started and not reported: the slots taken
    VPCI_FUZZ_CHECK(channel.engine().slots_in_use() == in_flight);
    const errc refused = refusal();
    result<engine::vf_op_handle> h = errc::invalid_argument;
    if (read) {
      h = channel.start_read(op.id, op.destination_span(), op.deadline);
    } else {
      const exact_bytes exact{op.data};
      h = channel.start_write(op.id, exact.view(), op.deadline);
    }
    if (refused != no_error) {
      VPCI_FUZZ_CHECK(!h && h.error() == refused);
    } else if (length == 0 || length > max_block_size) {
      VPCI_FUZZ_CHECK(!h && h.error() == errc::invalid_length);
    } else if (in_flight == max_in_flight) {
      VPCI_FUZZ_CHECK(!h && h.error() == errc::busy);
    } else {
      VPCI_FUZZ_CHECK(h.has_value());
      VPCI_FUZZ_CHECK(h->transaction_id >= 0x10000);  // never a version offer's ID
      VPCI_FUZZ_CHECK(ever.insert(h->transaction_id).second);
      live.emplace(h->transaction_id, std::move(op));
      ++started;
    }
    VPCI_FUZZ_CHECK(channel.engine().slots_in_use() == live.size());
  }

  [[nodiscard]] std::uint64_t pick_live(input_reader& in) const {
    if (live.empty()) return in.u64();
    auto it = live.begin();
    std::advance(it, static_cast<std::ptrdiff_t>(in.u8() % live.size()));
    return it->first;
  }

  void cancel(input_reader& in) {
    const std::uint8_t flags = in.u8();
    const std::uint64_t id = (flags & 0x80) != 0 ? in.u64() : pick_live(in);
    const auto scope = (flags & 1) != 0 ? engine::cancel_scope::without_effects : engine::cancel_scope::with_effects;
    const auto it = live.find(id);
    const bool was_sent = it != live.end() && it->second.sent;
    // A live operation may be complete already, its completion waiting in the channel: not cancellable.
    const bool waiting = channel.engine().in_flight(engine::vf_op_handle{id});
    const std::size_t slots_before = channel.engine().slots_in_use();
    const bool done = channel.cancel(engine::vf_op_handle{id}, scope);
    if (it == live.end()) {
      VPCI_FUZZ_CHECK(!done && !waiting);
      return;
    }
    const bool allowed =
        waiting && (it->second.kind == engine::operation_kind::read || scope == engine::cancel_scope::with_effects || !was_sent);
    VPCI_FUZZ_CHECK(channel.engine().slots_in_use() == slots_before - (done ? 1 : 0));
    VPCI_FUZZ_CHECK(done == allowed);
    if (done) {
      // Complete now, with errc::cancelled; step() never reports it.
      complete(channel_type::message_completion{engine::vf_op_handle{id}, errc::cancelled, 0, false});
    }
  }

  // An answer frame for an operation (or any ID), with the status and data length the input picks.
  void answer(input_reader& in) {
    const std::uint8_t flags = in.u8();
    const std::uint64_t id = (flags & 0x80) != 0 ? in.u64() : pick_live(in);
    const ntstatus status = (flags & 0x40) != 0 ? static_cast<ntstatus>(in.u32()) : answer_statuses[in.u8() % answer_statuses.size()];
    std::array<std::byte, max_frame_size> frame{};
    std::size_t size = 0;
    const auto it = live.find(id);
    const bool read = it != live.end() ? it->second.kind == engine::operation_kind::read : (flags & 1) != 0;
    if (read) {
      const std::size_t n = in.u8() % (read_response::max_wire_size - read_response::header_size + 1);
      const std::size_t packet = read_response::header_size + n;
      vmbus::store_descriptor(vmbus::make_descriptor(vmbus::packet_completion, packet, id), frame.data() + frame_prefix_size);
      le::store_u32(frame.data() + frame_prefix_size + 16, static_cast<std::uint32_t>(status));
      const auto data = in.take(n);
      for (std::size_t i = 0; i < data.size(); ++i) frame[frame_prefix_size + read_response::header_size + i] = data[i];
      size = frame_prefix_size + packet;
    } else {
      const std::size_t packet = write_completion::message_size + in.u8() % 5;  // 20..24
      vmbus::store_descriptor(vmbus::make_descriptor(vmbus::packet_completion, packet, id), frame.data() + frame_prefix_size);
      le::store_u32(frame.data() + frame_prefix_size + 16, static_cast<std::uint32_t>(status));
      size = frame_prefix_size + packet;
    }
    le::store_u32(frame.data(), static_cast<std::uint32_t>(size - frame_prefix_size));
    // Arriving whole on a frame boundary, the answer is judged here too: it completes its operation if that
    // operation's request was sent (else it is dropped: the PF never saw the request), as the codec and the
    // status mapping say.
    // An operation complete already (its completion waiting in the channel) takes no second answer.
    const engine::vf_op_handle handle{id};
    const bool waiting = it != live.end() && channel.engine().in_flight(handle);
    const bool whole = framing == no_error && stream.at_frame_boundary() && waiting;
    const bool answers = whole && it->second.sent;
    const std::size_t completed_before = completed;
    const bool drains = !handler_running;
    if (answers) {
      it->second.judged = true;
      it->second.expected = judge_answer(it->second, std::span<const std::byte>(frame).subspan(frame_prefix_size, size - frame_prefix_size));
    }
    last_completion_ = {};
    feed_chunked(std::span<const std::byte>(frame).first(size), in.u8());
    if (!whole) return;
    if (!answers) {
      VPCI_FUZZ_CHECK(live.count(id) == 1 && channel.engine().in_flight(handle));
      if (drains) VPCI_FUZZ_CHECK(completed == completed_before);
      return;
    }
    // Complete: reported now (its expected completion checked by complete()), or held with its slot taken.
    VPCI_FUZZ_CHECK(!channel.engine().in_flight(handle));
    if (drains) VPCI_FUZZ_CHECK(completed == completed_before + 1 && live.count(id) == 0 && last_completion_.handle.transaction_id == id);
    else VPCI_FUZZ_CHECK(live.count(id) == 1);
  }

  // What an answer packet does to the operation it names (vf_messages.hpp's contract, restated from the
  // codec and status_mapping: hv_pci_read_config_compl takes min(requested, present) bytes).
  static expected_completion judge_answer(const operation& op, std::span<const std::byte> packet) {
    // Only STATUS_SUCCESS succeeds (pci-hyperv.c fails on any other status with -EIO); a status that
    // to_errc calls no error (STATUS_PENDING, a success-class value) is then a device error.
    const auto outcome_of = [](ntstatus s) {
      if (s == ntstatus::success) return no_error;
      return to_errc(s) == no_error ? errc::device_error : to_errc(s);
    };
    // The status a failed completion reports as the PF's: only an error or a warning.
    const auto reported = [](ntstatus s) { return nt_success(s) ? ntstatus::success : s; };
    expected_completion e;
    if (op.kind == engine::operation_kind::write) {
      auto r = decode_write_completion(packet);
      if (!r) {
        e.error = errc::protocol_violation;
        return e;
      }
      e.error = outcome_of(r->status);
      e.bytes = e.error == no_error ? op.length : 0;
      if (e.error != no_error) e.peer_status = reported(r->status);
      return e;
    }
    auto r = decode_read_response(packet);
    if (!r) {
      e.error = r.error() == errc::empty_response ? errc::empty_response : errc::protocol_violation;
      return e;
    }
    e.error = outcome_of(r->status);
    if (e.error != no_error) {
      e.peer_status = reported(r->status);
      return e;
    }
    const auto data = r->data_for(op.length);
    if (data.empty()) {
      e.error = errc::empty_response;
      return e;
    }
    e.bytes = data.size();
    for (std::size_t i = 0; i < data.size(); ++i) e.data[i] = data[i];
    return e;
  }

  void version(input_reader& in) {
    const std::uint64_t id = 1 + in.u8() % 5;
    const ntstatus status = answer_statuses[in.u8() % answer_statuses.size()];
    std::array<std::byte, frame_prefix_size + version_response::wire_size> frame{};
    const std::size_t packet = version_response::min_size + in.u8() % 5;
    vmbus::store_descriptor(vmbus::make_descriptor(vmbus::packet_completion, packet, id), frame.data() + frame_prefix_size);
    le::store_u32(frame.data() + frame_prefix_size + 16, static_cast<std::uint32_t>(status));
    le::store_u32(frame.data(), static_cast<std::uint32_t>(packet));
    feed_chunked(std::span<const std::byte>(frame).first(frame_prefix_size + packet), in.u8());
  }

  void invalidate(input_reader& in) {
    const std::uint8_t flags = in.u8();
    const wslot target = (flags & 1) != 0 ? wslot{static_cast<std::uint8_t>(in.u8() % 32), static_cast<std::uint8_t>(in.u8() % 8)} : slot;
    const std::uint64_t mask = in.u64();
    const block_mask before = channel.pending_invalidations();
    std::array<std::byte, invalidate_frame_size> frame{};
    VPCI_FUZZ_CHECK(encode_invalidate_frame(hyperv::invalidate{target, block_mask{mask}}, frame).has_value());
    const bool whole = framing == no_error && stream.at_frame_boundary();
    received(frame);
    // Fed whole at a frame boundary: its own invalidation latches its bits (OR-coalesced), a foreign one
    // nothing.
    if (whole) {
      const std::uint64_t expected = before.bits() | (target == slot ? mask : 0);
      VPCI_FUZZ_CHECK(channel.pending_invalidations().bits() == expected);
    }
    if ((flags & 4) != 0) {
      const block_mask taken = channel.take_invalidations();
      VPCI_FUZZ_CHECK(channel.pending_invalidations().empty() && (whole ? taken.bits() == (before.bits() | (target == slot ? mask : 0)) : true));
    }
  }

  void feed_chunked(std::span<const std::byte> bytes, std::uint8_t chunking) {
    while (!bytes.empty()) {
      const std::size_t n = chunking == 0 ? bytes.size() : 1 + (chunking + bytes.size()) % 19;
      const std::size_t k = n < bytes.size() ? n : bytes.size();
      received(bytes.first(k));
      bytes = bytes.subspan(k);
    }
  }

  void remove(input_reader& in) {
    const std::uint8_t flags = in.u8();
    const std::size_t before = live.size();
    const std::size_t completed_before = completed;
    channel.remove((flags & 1) != 0 ? errc::vf_removed : errc::peer_gone, (flags & 2) != 0);
    drain();
    VPCI_FUZZ_CHECK(live.empty() && completed - completed_before == before);
    if ((flags & 2) != 0) send_outstanding = false;  // the stream is gone: no send to wait for
  }

  void run(input_reader& in) {
    while (!in.empty()) {
      switch (in.u8() % op_count) {
        case op_start_read: start(in, true); break;
        case op_start_write: start(in, false); break;
        case op_cancel: cancel(in); break;
        case op_step:
          if (!send_outstanding) {
            const std::uint8_t how = in.u8();
            step((how & 1) != 0, (how & 2) != 0);
          }
          break;
        case op_raw: received(in.take(in.u8())); break;
        case op_answer: answer(in); break;
        case op_version: version(in); break;
        case op_invalidate: invalidate(in); break;
        case op_time: now += std::uint64_t{in.u16()} * 1000; break;
        case op_remove: remove(in); break;
        case op_sent:
          if (send_outstanding) {
            channel.on_sent();
            send_outstanding = false;
          }
          break;
        default: break;
      }
      VPCI_FUZZ_CHECK(channel.engine().slots_in_use() == live.size());
      VPCI_FUZZ_CHECK(started == completed + live.size());
    }
    // The end: every operation still in flight completes (removal), none twice, none lost.
    channel.remove(errc::vf_removed, false);
    drain();
    if (!send_outstanding) step(true, false);
    VPCI_FUZZ_CHECK(live.empty() && started == completed);
    VPCI_FUZZ_CHECK(!channel.has_pending());
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  input_reader in{as_bytes(data, size)};
  const std::uint8_t mode = in.u8();
  const std::uint8_t raw_slot = in.u8();
  harness h{wslot{static_cast<std::uint8_t>(raw_slot & 0x1F), static_cast<std::uint8_t>(raw_slot >> 5)}, (mode & 1) != 0};
  h.run(in);
  return 0;
}
