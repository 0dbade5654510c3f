// Fuzz target: engine::pf_mailbox_session, the PF side of the config-space mailbox (binding 1, layout 2),
// over a register window that a hostile VF writes as it likes, serving a store with two VFs.
//
// Input: byte 0 the configuration (bit 0 SIGNAL capability, bit 1 a heartbeat, bit 2 a transport without
// read-only bits (a VF write to a PF register lands, as in plain shared memory), bit 3 the window's initial
// contents follow (184 bytes) instead of zeros); byte 1 the heartbeat interval; then the blocks
// (session_support.hpp); then operations, one opcode byte each (pf_mailbox_ops below), until the input ends.
//
// Invariants, after every operation (docs/protocol.md sections 3-5 restated here, not taken from the
// session):
// - the PF never writes a VF-owned register beyond what the ownership table allows it: every write is
//   whole dwords inside 0x0C..0xB7, no byte twice in one update; identity, limits, status, result and the
//   mask at any time; control only on (re)initialisation or a reset and then only the VF's SIGNAL bit
//   (RESET cleared, nothing set); the request registers only zeroed, on (re)initialisation or a reset;
//   the acknowledgement registers only zeroed; the data window only zeroed on (re)initialisation or with
//   the answer to a read that succeeded. status comes last (control after it on a reset);
// - the request the window shows is executed, replayed or judged a violation exactly as the service
//   routine says (unsynchronised: the first non-zero sequence is adopted; a zero sequence is never a
//   request; synchronised at 0 after an initialisation that zeroed the request registers, a sequence
//   other than 1 is answered STATUS_DEVICE_NOT_READY, not executed, not a violation); a violation answers
//   STATUS_INVALID_DEVICE_REQUEST with FAILED and quarantines VF 0 until a reset or FLR;
// - answers are consistent: status acknowledges the request's sequence, its count is the bytes read or
//   written (0 on failure), FAILED exactly when result is not STATUS_SUCCESS, result is the store's
//   verdict (restated in session_support.hpp); a read that succeeds writes exactly the block's bytes
//   (zero-padded to a dword) into the data window before status;
// - a refused request changes no block, a served write changes exactly its block to the window's data,
//   VF 1's blocks never change and are never handed to VF 0 (their IDs are refused access denied);
// - no invalidation is lost: every bit the PF raised is in the published mask from the first service after
//   the raise until a service sees the VF acknowledge it; INVALIDATED is set exactly when the mask is
//   non-zero; the window's PF registers hold what the session says it wrote (restored after a VF write on a
//   transport without read-only bits);
// - a (re)initialisation publishes a new epoch, never 0, differing from the one the window showed;
// - the VF is signalled only when it set control.SIGNAL and the update wrote something;
// - a window shorter than 184 bytes, or a session not initialised yet, is ignored: no writes;
// - a service the session's look (wants_service over the same copy) would have skipped changes nothing but
//   a PF-owned register a VF wrote over, or the heartbeat (docs/protocol.md 4.2, "A look").
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>

#include <vpci/block/endian.hpp>
#include <vpci/engine/pf_mailbox.hpp>
#include <vpci/wire/mailbox.hpp>

#include "fuzz_support.hpp"
#include "session_inputs.hpp"
#include "session_support.hpp"

using namespace vpci;
using namespace vpci::fuzz;
using namespace vpci::fuzz::pf_mailbox_ops;
namespace reg = vpci::mailbox::reg;

namespace {

constexpr std::size_t window_size = mailbox::window_size;
using window_bytes = std::array<std::byte, window_size>;
using session_type = engine::pf_mailbox_session<session_fixture::max_vfs>;

std::uint32_t load(std::span<const std::byte> w, std::size_t offset) { return le::load_u32(w.data() + offset); }

bool in_range(std::size_t offset, std::size_t start, std::size_t end) { return offset >= start && offset < end; }

bool pf_owned(std::size_t offset) {
  for (const auto& r : mailbox::pf_owned_ranges)
    if (in_range(offset, r.start, r.end)) return true;
  return false;
}

std::uint16_t next_sequence(std::uint16_t s) {
  const auto n = static_cast<std::uint16_t>(s + 1u);
  return n == 0 ? std::uint16_t{1} : n;
}

struct harness {
  session_fixture fixture;
  engine::pf_mailbox_config config{};
  bool shared_memory{false};  // VF writes to PF registers land (no read-only bits)
  std::optional<session_type> session;
  window_bytes window{};
  std::uint64_t now{0};

  // The model of the session's protocol state (docs/protocol.md 4.2 / 5).
  bool initialized{false};
  bool synchronised{false};
  std::uint16_t last{0};
  bool quarantined{false};
  std::uint64_t raised{0};       // raised in the store, not yet taken by a service
  std::uint64_t outstanding{0};  // taken into the latch and not acknowledged since

  // A VF config write of `width` bytes; on a device, bytes of PF registers (and of the DVSEC headers)
  // are read-only to the VF.
  void vf_write(std::size_t offset, std::size_t width, std::uint32_t value, window_bytes& w) const {
    if (offset + width > window_size) offset = window_size - width;
    for (std::size_t i = 0; i < width; ++i) {
      const std::size_t at = offset + i;
      if (!shared_memory && (at < reg::identity || pf_owned(at))) continue;
      w[at] = static_cast<std::byte>((value >> (8 * i)) & 0xFF);
    }
  }
  void vf_write32(std::size_t offset, std::uint32_t value) { vf_write(offset, 4, value, window); }

  // The checks every write list passes, whatever the call: whole dwords inside the window after the
  // DVSEC headers, no byte written twice.
  static void check_shape(const session_type::write_list& writes) {
    std::array<bool, window_size> written{};
    for (const auto& w : writes) {
      VPCI_FUZZ_CHECK(w.offset % 4 == 0 && w.bytes.size() % 4 == 0 && !w.bytes.empty());
      VPCI_FUZZ_CHECK(w.offset >= reg::identity && w.offset + w.bytes.size() <= window_size);
      for (std::size_t i = w.offset; i < w.offset + w.bytes.size(); ++i) {
        VPCI_FUZZ_CHECK(!written[i]);
        written[i] = true;
      }
    }
  }

  // Ownership: what the PF may write into each VF-owned register, given the event and the snapshot.
  void check_ownership(const session_type::write_list& writes, std::span<const std::byte> snap, bool reinit_or_reset,
                       std::span<const std::byte> answer) const {
    for (const auto& w : writes) {
      for (std::size_t i = 0; i < w.bytes.size(); ++i) {
        const std::size_t at = w.offset + i;
        const std::byte b = w.bytes[i];
        if (pf_owned(at)) continue;
        if (in_range(at, reg::control, reg::control + 4)) {
          VPCI_FUZZ_CHECK(reinit_or_reset);
          const std::uint32_t allowed = load(snap, reg::control) & mailbox::control_signal;
          VPCI_FUZZ_CHECK(b == static_cast<std::byte>((allowed >> (8 * (at - reg::control))) & 0xFF));
        } else if (in_range(at, reg::request_block, reg::status)) {
          VPCI_FUZZ_CHECK(reinit_or_reset && b == std::byte{0});
        } else if (in_range(at, reg::invalidate_ack_low, reg::data)) {
          VPCI_FUZZ_CHECK(b == std::byte{0});
        } else {
          VPCI_FUZZ_CHECK(at >= reg::data);
          const std::size_t k = at - reg::data;
          if (!answer.empty()) VPCI_FUZZ_CHECK(k < answer.size() && b == answer[k]);
          else VPCI_FUZZ_CHECK(reinit_or_reset && b == std::byte{0});
        }
      }
    }
  }

  static void apply(const session_type::write_list& writes, window_bytes& w) {
    for (const auto& x : writes)
      for (std::size_t i = 0; i < x.bytes.size(); ++i) w[x.offset + i] = x.bytes[i];
  }

  static std::optional<std::size_t> last_write_at(const session_type::write_list& writes, std::uint16_t offset) {
    std::optional<std::size_t> found;
    for (std::size_t i = 0; i < writes.size(); ++i)
      if (writes[i].offset == offset) found = i;
    return found;
  }

  // The window's PF registers hold what the session says, the mask covers every outstanding invalidation.
  void check_published() const {
    const mailbox::status_word st = mailbox::decode_status(load(window, reg::status));
    VPCI_FUZZ_CHECK(load(window, reg::status) == session->status());
    VPCI_FUZZ_CHECK(load(window, reg::result) == static_cast<std::uint32_t>(session->result()));
    VPCI_FUZZ_CHECK(st.failed == (session->result() != ntstatus::success));
    const std::uint64_t mask = load(window, reg::invalidate_mask_low) | std::uint64_t{load(window, reg::invalidate_mask_high)} << 32;
    VPCI_FUZZ_CHECK(mask == session->latched_invalidations().bits());
    VPCI_FUZZ_CHECK((mask & outstanding) == outstanding);
    VPCI_FUZZ_CHECK(st.invalidated == (mask != 0));
    VPCI_FUZZ_CHECK(st.epoch != 0);
    VPCI_FUZZ_CHECK(load(window, reg::identity) ==
                    mailbox::encode_identity(static_cast<std::uint16_t>(
                        mailbox::capability::invalidation | (config.signal ? mailbox::capability::signal : 0) |
                        (config.heartbeat_ms != 0 ? mailbox::capability::heartbeat : 0))));
    VPCI_FUZZ_CHECK(load(window, reg::limits) == mailbox::encode_limits(config.heartbeat_ms));
  }

  void check_store() const {
    fixture.check_blocks();
    VPCI_FUZZ_CHECK((fixture.store().quarantined(0) != engine::quarantine_reason::none) == quarantined);
  }

  // (Re)initialisation: a new epoch, everything VF-visible zeroed, the latch published; `function_reset`:
  // an FLR, which zeroes request_block and the data window of a live window too (docs/protocol.md 5.4);
  // `removed_vf`: the store removed the VF since, so a live window is zeroed whole as well.
  void initialize(bool fresh_session, bool function_reset = false, bool removed_vf = false) {
    const exact_bytes snap{window};
    const std::uint8_t shown = mailbox::decode_status(load(snap.view(), reg::status)).epoch;
    const std::uint8_t own = initialized && !fresh_session ? session->epoch() : 0;
    if (fresh_session) session.emplace(fixture.store(), 0, config);
    const auto& writes = session->initialize(snap.view(), now, function_reset);
    check_shape(writes);
    check_ownership(writes, snap.view(), true, {});
    VPCI_FUZZ_CHECK(session->last_event() == engine::mailbox_event::initialized);
    const auto status_at = last_write_at(writes, reg::status);
    VPCI_FUZZ_CHECK(status_at && *status_at == writes.size() - 1);
    const std::uint8_t epoch = session->epoch();
    VPCI_FUZZ_CHECK(epoch != 0 && epoch != shown && (own == 0 || epoch != own));
    apply(writes, window);
    // The VF's registers are zeroed (control keeps only SIGNAL); a window that showed no epoch, or an FLR,
    // loses its request_block and data window too, a live one keeps what the VF composes there
    // (docs/protocol.md 5.1).
    VPCI_FUZZ_CHECK(load(window, reg::control) == (load(snap.view(), reg::control) & mailbox::control_signal));
    for (std::uint16_t r : {reg::request, reg::invalidate_ack_low, reg::invalidate_ack_high})
      VPCI_FUZZ_CHECK(load(window, r) == 0);
    const bool zeroed = shown == 0 || function_reset || removed_vf;
    if (zeroed) {
      VPCI_FUZZ_CHECK(load(window, reg::request_block) == 0);
      for (std::size_t i = reg::data; i < window_size; ++i) VPCI_FUZZ_CHECK(window[i] == std::byte{0});
    } else {
      VPCI_FUZZ_CHECK(load(window, reg::request_block) == load(snap.view(), reg::request_block));
      for (std::size_t i = reg::data; i < window_size; ++i) VPCI_FUZZ_CHECK(window[i] == snap.view()[i]);
    }
    const mailbox::status_word st = mailbox::decode_status(load(window, reg::status));
    VPCI_FUZZ_CHECK(st.ack == 0 && st.count == 0 && !st.failed && st.heartbeat == 0);
    VPCI_FUZZ_CHECK(session->signal_vf() == ((load(snap.view(), reg::control) & mailbox::control_signal) != 0));
    initialized = true;
    // A RESET the initialisation clears is performed: the quarantine lifts (docs/protocol.md 5.1).
    if ((load(snap.view(), reg::control) & mailbox::control_reset) != 0) quarantined = false;
    synchronised = zeroed;  // zeroed request registers: synchronised at 0 (docs/protocol.md 5.1)
    last = 0;
    outstanding |= raised;
    raised = 0;
    check_published();
  }

  void service(input_reader& in) {
    const std::uint8_t flags = in.u8();
    const bool timed = (flags & 1) != 0;
    const bool racing = (flags & 2) != 0;
    const exact_bytes snap_copy{window};
    const auto snap = snap_copy.view();
    bool clobbered = false;
    if (racing) {
      // A VF write lands between the PF's copy and its writes: the PF must decide from its copy only.
      const std::size_t offset = in.u8() % window_size;
      const std::uint32_t value = in.u32();
      vf_write(offset, 4, value, window);
      clobbered = shared_memory;
    }
    if (timed) now += in.u16() * 1000u;
    const std::uint64_t hb_before = session ? session->status() : 0;

    if (!session || !initialized) {
      if (session) {
        const auto& writes = timed ? session->service(snap, now) : session->service(snap);
        VPCI_FUZZ_CHECK(writes.empty() && session->last_event() == engine::mailbox_event::none);
      }
      return;
    }

    // The model's expectation, from the copy.
    const std::uint64_t acks = load(snap, reg::invalidate_ack_low) | std::uint64_t{load(snap, reg::invalidate_ack_high)} << 32;
    const std::uint32_t control = load(snap, reg::control);
    const bool reset = (control & mailbox::control_reset) != 0;
    const mailbox::request_word q = mailbox::decode_request(load(snap, reg::request));
    enum class expect { nothing, execute, stale, violation } what = expect::nothing;
    // Sequence 0 is never a request (docs/protocol.md 4.2); unsynchronised, any other is adopted;
    // synchronised at 0 (the request registers were zeroed), any but 1 is stale (5.1).
    if (!reset && q.sequence != 0) {
      if (!synchronised || q.sequence == next_sequence(last)) what = expect::execute;
      else if (last == 0) what = expect::stale;
      else if (q.sequence != last) what = expect::violation;
    }
    const std::uint32_t id = load(snap, reg::request_block);
    verdict v;
    bool is_read = false;
    if (what == expect::execute) {
      const bool valid_op = !q.reserved_bits && (q.operation == 1 || q.operation == 2);
      if (!valid_op) {
        v.status = quarantined ? ntstatus::access_denied : ntstatus::invalid_device_request;
      } else if (q.operation == 1) {
        is_read = true;
        v = fixture.expect_read(id, q.length);
      } else {
        v = fixture.expect_write(id, q.length);
      }
      if (v.status != ntstatus::success) v.bytes = 0;
    }
    const bool read_answer = is_read && v.status == ntstatus::success;
    std::array<std::byte, max_block_size> answer{};
    const std::size_t padded = (v.bytes + 3) & ~std::size_t{3};
    if (read_answer)
      for (std::size_t i = 0; i < v.bytes; ++i) answer[i] = v.data[i];

    // The look a polling PF takes instead of this service when its timer alone woke it: from the same copy,
    // before the service takes the store's invalidations.
    const bool look_wants = session->wants_service(load(snap, reg::request), control,
                                                   load(snap, reg::invalidate_ack_low),
                                                   load(snap, reg::invalidate_ack_high));
    const auto& writes = timed ? session->service(snap, now) : session->service(snap);
    check_shape(writes);
    check_ownership(writes, snap, reset, read_answer ? std::span<const std::byte>(answer).first(padded)
                                                     : std::span<const std::byte>{});
    const engine::mailbox_event event = session->last_event();
    // A service the look would have skipped does nothing a look leaves undone: at most it restores a PF
    // register a VF wrote over, or beats.
    if (!look_wants)
      VPCI_FUZZ_CHECK(event == engine::mailbox_event::none || event == engine::mailbox_event::restored ||
                      event == engine::mailbox_event::heartbeat);

    // Invalidations: acknowledged bits leave, raised ones join.
    outstanding &= ~acks;
    outstanding |= raised;
    raised = 0;
    VPCI_FUZZ_CHECK(fixture.store().pending_invalidations(0).empty());

    const auto status_at = last_write_at(writes, reg::status);
    if (reset) {
      VPCI_FUZZ_CHECK(event == engine::mailbox_event::reset);
      const auto control_at = last_write_at(writes, reg::control);
      VPCI_FUZZ_CHECK(control_at && *control_at == writes.size() - 1);
      VPCI_FUZZ_CHECK(last_write_at(writes, reg::request_block).has_value());
      synchronised = false;
      last = 0;
      quarantined = false;
      apply(writes, window);
      const mailbox::status_word st = mailbox::decode_status(load(window, reg::status));
      if (!clobbered) VPCI_FUZZ_CHECK(st.ack == 0 && st.count == 0 && !st.failed && session->result() == ntstatus::success);
    } else {
      if (status_at) VPCI_FUZZ_CHECK(*status_at == writes.size() - 1);
      if (what == expect::execute) {
        VPCI_FUZZ_CHECK(event == engine::mailbox_event::served);
        VPCI_FUZZ_CHECK(status_at.has_value());
        const mailbox::status_word st = mailbox::decode_status(load(writes[*status_at].bytes, 0));
        VPCI_FUZZ_CHECK(st.ack == q.sequence);
        VPCI_FUZZ_CHECK(session->result() == v.status);
        VPCI_FUZZ_CHECK(st.failed == (v.status != ntstatus::success));
        VPCI_FUZZ_CHECK(st.count == v.bytes);
        const auto data_at = last_write_at(writes, reg::data);
        if (read_answer) {
          VPCI_FUZZ_CHECK(data_at && *data_at < *status_at && writes[*data_at].bytes.size() == padded);
        } else {
          VPCI_FUZZ_CHECK(!data_at);
        }
        if (!is_read && v.status == ntstatus::success) fixture.written(id, snap.subspan(reg::data, q.length));
        synchronised = true;
        last = q.sequence;
      } else if (what == expect::stale) {
        VPCI_FUZZ_CHECK(event == engine::mailbox_event::served);
        VPCI_FUZZ_CHECK(status_at.has_value());
        const mailbox::status_word st = mailbox::decode_status(load(writes[*status_at].bytes, 0));
        VPCI_FUZZ_CHECK(st.ack == q.sequence && st.count == 0 && st.failed);
        VPCI_FUZZ_CHECK(session->result() == ntstatus::device_not_ready);
        VPCI_FUZZ_CHECK(last_write_at(writes, reg::data) == std::nullopt);
        synchronised = true;
        last = q.sequence;
      } else if (what == expect::violation) {
        VPCI_FUZZ_CHECK(event == engine::mailbox_event::violation);
        VPCI_FUZZ_CHECK(status_at.has_value());
        const mailbox::status_word st = mailbox::decode_status(load(writes[*status_at].bytes, 0));
        VPCI_FUZZ_CHECK(st.ack == q.sequence && st.count == 0 && st.failed);
        VPCI_FUZZ_CHECK(session->result() == ntstatus::invalid_device_request);
        VPCI_FUZZ_CHECK(last_write_at(writes, reg::data) == std::nullopt);
        quarantined = true;
        synchronised = true;
        last = q.sequence;
      } else {
        VPCI_FUZZ_CHECK(event != engine::mailbox_event::served && event != engine::mailbox_event::violation &&
                        event != engine::mailbox_event::reset);
        VPCI_FUZZ_CHECK(last_write_at(writes, reg::data) == std::nullopt);
        // Nothing to execute: the acknowledgement, sequence and count stand.
        if (status_at) {
          const mailbox::status_word before = mailbox::decode_status(static_cast<std::uint32_t>(hb_before));
          const mailbox::status_word st = mailbox::decode_status(load(writes[*status_at].bytes, 0));
          VPCI_FUZZ_CHECK(st.ack == before.ack && st.count == before.count && st.failed == before.failed &&
                          st.epoch == before.epoch);
        }
      }
      apply(writes, window);
    }
    VPCI_FUZZ_CHECK(synchronised == session->synchronised());
    if (synchronised) VPCI_FUZZ_CHECK(last == session->last_sequence());
    // Signalled only when asked for, and only with something written.
    if (session->signal_vf()) VPCI_FUZZ_CHECK((control & mailbox::control_signal) != 0 && !writes.empty());
    if ((control & mailbox::control_signal) != 0 &&
        (event == engine::mailbox_event::served || event == engine::mailbox_event::violation || event == engine::mailbox_event::reset))
      VPCI_FUZZ_CHECK(session->signal_vf());
    if (!clobbered) check_published();
  }

  void tick(input_reader& in) {
    now += std::uint64_t{in.u16()} * 10'000u;
    if (!session) return;
    const std::uint32_t before = session->status();
    const auto& writes = session->tick(now);
    check_shape(writes);
    VPCI_FUZZ_CHECK(!session->signal_vf());
    if (!initialized || config.heartbeat_ms == 0) {
      VPCI_FUZZ_CHECK(writes.empty());
      return;
    }
    if (writes.empty()) return;
    // Only the heartbeat moves, in one status write.
    VPCI_FUZZ_CHECK(writes.size() == 1 && writes[0].offset == reg::status && writes[0].bytes.size() == 4);
    VPCI_FUZZ_CHECK(session->last_event() == engine::mailbox_event::heartbeat);
    const std::uint32_t after = load(writes[0].bytes, 0);
    VPCI_FUZZ_CHECK((after & ~0x0C000000u) == (before & ~0x0C000000u) && after != before);
    apply(writes, window);
  }

  void invalidate(input_reader& in) {
    const std::uint8_t kind = in.u8();
    if (kind % 3 == 0) {
      const std::uint64_t mask = in.u64();
      VPCI_FUZZ_CHECK(fixture.store().invalidate(0, block_mask{mask}) == no_error);
      raised |= mask;
    } else if (kind % 3 == 1) {
      const std::uint32_t id = pick_block_id(in);
      const errc e = fixture.store().invalidate(0, block_id{id});
      VPCI_FUZZ_CHECK(e == (id < invalidatable_block_count ? no_error : errc::invalid_block_id));
      if (e == no_error) raised |= std::uint64_t{1} << id;
    } else {
      const std::uint64_t mask = in.u64();
      fixture.store().invalidate_all(block_mask{mask});
      raised |= mask;
      (void)fixture.store().take_invalidations(1);  // VF 1's own session would take them
    }
  }

  void vf_request(input_reader& in) {
    const std::uint8_t kind = in.u8();
    const std::uint32_t id = pick_block_id(in);
    const std::uint8_t length = in.u8();
    const auto current = static_cast<std::uint16_t>(load(window, reg::request) & 0xFFFF);
    std::uint16_t sequence = next_sequence(current);
    if ((kind & 0x30) == 0x10) sequence = current;    // a replayed doorbell
    if ((kind & 0x30) == 0x20) sequence = in.u16();  // any sequence
    const auto op = static_cast<mailbox::operation>(1 + (kind & 1));
    std::uint32_t request = mailbox::encode_request(sequence, length, op);
    if ((kind & 0x40) != 0) request |= std::uint32_t{in.u8()} << 24;  // unknown operations, reserved bits
    if (op == mailbox::operation::write) {
      const auto data = in.take(length <= max_block_size ? length : max_block_size);
      for (std::size_t i = 0; i < data.size(); ++i) window[reg::data + i] = data[i];
    }
    vf_write32(reg::request_block, id);
    vf_write32(reg::request, request);
  }

  void run(input_reader& in) {
    while (!in.empty()) {
      switch (in.u8() % op_count) {
        case op_vf_write: {
          const std::size_t offset = in.u8() % window_size;
          const std::size_t width = std::size_t{1} << (in.u8() % 3);
          vf_write(offset, width, in.u32(), window);
          break;
        }
        case op_vf_request: vf_request(in); break;
        case op_vf_ack: {
          const std::uint64_t shown = load(window, reg::invalidate_mask_low) | std::uint64_t{load(window, reg::invalidate_mask_high)} << 32;
          const std::uint64_t take = shown & (in.u8() < 0xC0 ? ~std::uint64_t{0} : in.u64());
          vf_write32(reg::invalidate_ack_low, load(window, reg::invalidate_ack_low) | static_cast<std::uint32_t>(take));
          vf_write32(reg::invalidate_ack_high, load(window, reg::invalidate_ack_high) | static_cast<std::uint32_t>(take >> 32));
          break;
        }
        case op_vf_reset: vf_write32(reg::control, mailbox::control_reset | ((in.u8() & 1) != 0 ? mailbox::control_signal : 0)); break;
        case op_service: service(in); break;
        case op_tick: tick(in); break;
        case op_invalidate: invalidate(in); break;
        case op_pf_update: fixture.pf_update(in); break;
        case op_flr:
          VPCI_FUZZ_CHECK(fixture.store().reset_vf(0) == no_error);
          quarantined = false;
          if (session) initialize(false, /*function_reset=*/true);
          break;
        case op_restart:
          // The new session takes the latch over from the mask registers (docs/protocol.md 5.3), which a
          // device keeps from the VF; without read-only bits the VF may have overwritten them, and only
          // what they still show survives.
          if (shared_memory) outstanding &= load(window, reg::invalidate_mask_low) | std::uint64_t{load(window, reg::invalidate_mask_high)} << 32;
          // A window that does not look initialised (epoch 0, another layout) holds no latch.
          if (mailbox::decode_status(load(window, reg::status)).epoch == 0 ||
              (load(window, reg::identity) & 0xFFFF) != mailbox::layout_version)
            outstanding = 0;
          initialize(true);
          break;
        case op_set_heartbeat: {
          // As the binding does (asio/pf_mailbox_server.hpp): the two writes the session returns, in its
          // order, which must be limits first when announcing and identity first when withdrawing
          // (docs/protocol.md 5.5). The model's config follows, so check_published and tick judge the new
          // heartbeat.
          const std::uint8_t choice = in.u8() % 9;
          if (!session || !initialized) break;
          const auto ms = static_cast<std::uint16_t>(choice);
          const auto writes = session->set_heartbeat(ms, now);
          config.heartbeat_ms = ms;
          VPCI_FUZZ_CHECK(writes[0].offset == (ms != 0 ? reg::limits : reg::identity));
          VPCI_FUZZ_CHECK(writes[1].offset == (ms != 0 ? reg::identity : reg::limits));
          for (const engine::register_write& w : writes) {
            VPCI_FUZZ_CHECK(w.bytes.size() == 4);
            for (std::size_t i = 0; i < 4; ++i) window[w.offset + i] = w.bytes[i];
          }
          VPCI_FUZZ_CHECK(session->next_tick() == (ms == 0 ? engine::no_tick : now + std::uint64_t{ms} * 1'000'000u));
          VPCI_FUZZ_CHECK(load(window, reg::identity) ==
                          mailbox::encode_identity(static_cast<std::uint16_t>(
                              mailbox::capability::invalidation | (config.signal ? mailbox::capability::signal : 0) |
                              (ms != 0 ? mailbox::capability::heartbeat : 0))));
          VPCI_FUZZ_CHECK(load(window, reg::limits) == mailbox::encode_limits(ms));
          break;
        }
        case op_remove_vf:
          // As pf_endpoint::remove_vf, then register_vf and attach_mailbox: the binding's detach releases the
          // session's latch to the store, whose unregister_vf forgets it with the VF's pending invalidations
          // and quarantine. The next session adopts nothing of the removed VF's window: no latch, and the
          // window zeroed whole (its data was the removed VF's).
          if (session) session->release();
          fixture.remove_and_register_vf0();
          quarantined = false;
          outstanding = 0;
          raised = 0;
          initialize(true, false, /*removed_vf=*/true);
          break;
        case op_reattach:
          // pf_endpoint::detach_mailbox, then attach_mailbox on the same space: the session leaves its
          // latch to the store and the next one publishes it (not the mask registers, which a VF may have
          // written past missing read-only bits: docs/protocol.md 5.3), raised-again bits included.
          if (session) session->release();
          initialize(true);
          break;
        case op_short_service: {
          if (!session) break;
          const exact_bytes snap{std::span<const std::byte>(window).first(in.u8() % window_size)};
          const auto& writes = session->service(snap.view(), now);
          VPCI_FUZZ_CHECK(writes.empty() && session->last_event() == engine::mailbox_event::none);
          break;
        }
        default: break;
      }
      check_store();
    }
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  input_reader in{as_bytes(data, size)};
  harness h;
  const std::uint8_t mode = in.u8();
  const std::uint8_t interval = in.u8();
  h.config.signal = (mode & 1) != 0;
  h.config.heartbeat_ms = (mode & 2) != 0 ? static_cast<std::uint16_t>(1 + interval % 8) : 0;
  h.shared_memory = (mode & 4) != 0;
  if ((mode & 8) != 0) {
    const auto initial = in.take(window_size);
    for (std::size_t i = 0; i < initial.size(); ++i) h.window[i] = initial[i];
  }
  h.fixture.define_blocks(in);
  h.check_store();
  h.session.emplace(h.fixture.store(), 0, h.config);
  // A session serves nothing before it is initialised; most inputs initialise at once.
  if ((mode & 0x10) == 0) h.initialize(false);
  h.run(in);
  return 0;
}
