// Fuzz target: the VF side of the config-space mailbox, engine::vf_mailbox_engine, driven as the VF
// endpoint core drives it (one action at a time, each access reported back), against a hostile PF that
// owns the window: between any two of the VF's accesses the PF may write any dword, publish an answer with
// any acknowledgement, count, flags, heartbeat and epoch, raise invalidations, re-initialise the window or
// finish a reset; accesses may fail or come back short; operations are started, cancelled and removed,
// signals arrive and time advances, as the input says.
//
// Input: byte 0 the mode (bit 0 use the signal, bit 1 watch invalidations, bits 2..4 the torn-read retries
// less one, 7 also zeroing every duration and heartbeat_misses, bit 5 a well-formed window to start from, bits 6..7 the capabilities it offers); then
// operations, one opcode byte each (vf_mailbox_ops), until the input ends; then time runs past every
// deadline, and the VF is removed.
//
// Invariants:
// - every operation started completes exactly once (by step() or next_completion(), or at once by a
//   cancel() that returns true), with the handle start_* returned; an operation still pending when time
//   has passed its deadline completes then, whatever the PF shows (nothing hangs);
// - a completion never carries more bytes than requested: a successful read 1..requested bytes, exactly
//   the first bytes of the data window as the VF last read it, and nothing after them in the destination;
//   a successful write exactly its length; a failure 0 bytes and the destination untouched. Destinations
//   are exact-size heap blocks (AddressSanitizer);
// - a completion carries the PF's own status (peer_status) only with a failure that is the PF's answer, and
//   its error is then that status's errc; any other completion carries STATUS_SUCCESS there;
// - start_* refuses a length outside 1..128 (invalid_length) and a full queue (busy), starting nothing;
// - every access is whole dwords, dword aligned, inside the 184-byte window; the VF writes only its own
//   registers: control (RESET and SIGNAL only), request_block, request (a read or write of 1..128 bytes with
//   a non-zero sequence), the acknowledgement registers, and the data window, whose bytes are the data of
//   a write in flight followed by zeros to the dword;
// - step() never asks for a wait that has already ended, and never asks for more than a bounded number
//   of actions at one time.
#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <vector>

#include <vpci/block/endian.hpp>
#include <vpci/config/capabilities.hpp>
#include <vpci/config/vsec.hpp>
#include <vpci/engine/vf_mailbox.hpp>
#include <vpci/wire/mailbox.hpp>

#include "fuzz_support.hpp"
#include "session_inputs.hpp"
#include "vf_operations.hpp"

using namespace vpci;
using namespace vpci::fuzz;
using namespace vpci::fuzz::vf_mailbox_ops;
namespace reg = vpci::mailbox::reg;

namespace {

constexpr std::size_t max_queued = 4;
using engine_type = engine::vf_mailbox_engine<max_queued>;
using action_kind = engine::mailbox_action::kind;

engine::vf_mailbox_config config_of(std::uint8_t mode) {
  engine::vf_mailbox_config c;
  c.use_signal = (mode & 1) != 0;
  c.max_torn_retries = 1u + ((mode >> 2) & 7u);
  c.poll_interval_ns = 1'000;
  c.watch_interval_ns = 10'000;
  c.orphan_timeout_ns = 50'000;
  c.heartbeat_misses = 2;
  if (((mode >> 2) & 7u) == 7u) {
    // The last retries value also zeroes the durations (the engine takes each as 1 ns): a watch or a reset
    // that "waited" 0 ns read the window at one instant for ever, which settle()'s guard reports.
    c.poll_interval_ns = 0;
    c.watch_interval_ns = 0;
    c.orphan_timeout_ns = 0;
    c.heartbeat_misses = 0;
  }
  return c;
}

struct harness {
  engine_type vf;
  std::array<std::byte, mailbox::window_size> window{};
  std::uint64_t now{0};
  std::map<std::uint32_t, vf_operation> live;  // by slot << 16 | generation
  std::size_t started{0};
  std::size_t completed{0};
  std::vector<std::byte> last_data;  // what the last read of the data window returned

  explicit harness(std::uint8_t mode) : vf(config_of(mode)) {
    vf.watch_invalidations((mode & 2) != 0);
    if ((mode & 0x20) != 0) initialise(static_cast<std::uint16_t>(mode >> 6), 0, 1);
  }

  static std::uint32_t key(engine::op_handle h) { return std::uint32_t{h.slot} << 16 | h.generation; }
  std::uint32_t u32(std::uint16_t offset) const { return le::load_u32(window.data() + offset); }
  void set(std::uint16_t offset, std::uint32_t value) { le::store_u32(window.data() + offset, value); }
  std::uint8_t epoch() const { return mailbox::decode_status(u32(reg::status)).epoch; }

  // A well-formed layout-2 window, as a PF's (re)initialisation writes it.
  void initialise(std::uint16_t capabilities, std::uint16_t heartbeat_ms, std::uint8_t epoch) {
    set(reg::ext_header, config::encode_extended_header(config::extended_capability_id::designated_vendor_specific, 1, 0));
    set(reg::dvsec_header1, config::encode_dvsec_header1(0x1AF4, mailbox::dvsec_revision, mailbox::window_size));
    set(reg::dvsec_header2, config::encode_dvsec_header2(mailbox::default_dvsec_id));
    set(reg::identity, mailbox::encode_identity(capabilities));
    set(reg::limits, mailbox::encode_limits(heartbeat_ms));
    set(reg::control, u32(reg::control) & mailbox::control_signal);
    set(reg::request, 0);
    set(reg::status, mailbox::encode_status({0, 0, false, false, 0, epoch == 0 ? std::uint8_t{1} : epoch}));
  }

  void complete(const engine::op_completion& c) {
    const auto it = live.find(key(c.handle));
    VPCI_FUZZ_CHECK(it != live.end());  // started, and not completed before
    const vf_operation& op = it->second;
    check_vf_completion(op, c.error, c.bytes, c.transport_failure);
    // The PF's own status comes only with a failure that is its FAILED answer, as that status's errc.
    if (c.peer_status != ntstatus::success)
      VPCI_FUZZ_CHECK(c.error != no_error && !c.transport_failure && c.error == to_errc(c.peer_status));
    if (c.error == no_error && op.kind == engine::operation_kind::read) {
      VPCI_FUZZ_CHECK(c.bytes <= last_data.size());
      for (std::size_t i = 0; i < c.bytes; ++i) VPCI_FUZZ_CHECK(op.destination[i] == last_data[i]);
    }
    live.erase(it);
    ++completed;
  }

  void drain() {
    engine::op_completion c;
    while (vf.next_completion(c)) complete(c);
  }

  // The data window as a write puts it there: the data of a write in flight, then zeros to the dword.
  bool is_write_data(std::span<const std::byte> bytes) const {
    for (const auto& [k, op] : live) {
      if (op.kind != engine::operation_kind::write || mailbox::data_extent(op.length) != bytes.size()) continue;
      bool same = true;
      for (std::size_t i = 0; i < bytes.size() && same; ++i)
        same = bytes[i] == (i < op.length ? op.data[i] : std::byte{0});
      if (same) return true;
    }
    return false;
  }

  void check_write(std::uint16_t offset, std::span<const std::byte> bytes) const {
    const std::size_t n = bytes.size();
    if (offset == reg::data) {
      VPCI_FUZZ_CHECK(n >= 4 && n <= mailbox::data_window_size && n % 4 == 0 && is_write_data(bytes));
      return;
    }
    VPCI_FUZZ_CHECK(n == 4 || (offset == reg::invalidate_ack_low && n == 8));
    const std::uint32_t value = le::load_u32(bytes.data());
    switch (offset) {
      case reg::control: VPCI_FUZZ_CHECK((value & ~mailbox::control_defined) == 0); break;
      case reg::request_block: break;
      case reg::request: {
        const auto q = mailbox::decode_request(value);
        VPCI_FUZZ_CHECK(q.sequence != 0 && q.length >= 1 && q.length <= max_block_size && !q.reserved_bits &&
                        (q.operation == static_cast<std::uint8_t>(mailbox::operation::read) ||
                         q.operation == static_cast<std::uint8_t>(mailbox::operation::write)));
        break;
      }
      case reg::invalidate_ack_low:
      case reg::invalidate_ack_high: break;
      default: invariant_broken("the VF wrote a register it does not own", __FILE__, __LINE__);
    }
  }

  // One action of step(), performed as the endpoint core performs it; `how` picks a failed access (bit 0)
  // or a read that comes back a byte short (bit 1). False when step() asked for nothing to do now.
  bool step_once(std::uint8_t how) {
    const engine::mailbox_action a = vf.step(now);
    switch (a.what) {
      case action_kind::complete: complete(a.done); return true;
      case action_kind::read: {
        VPCI_FUZZ_CHECK(a.offset % 4 == 0 && a.length % 4 == 0 && a.length >= 4 &&
                        a.offset + a.length <= mailbox::window_size);
        if ((how & 1) != 0) {
          vf.on_transport_error(now);
          return true;
        }
        const std::size_t n = (how & 2) != 0 ? a.length - 1 : a.length;
        const exact_bytes got{std::span<const std::byte>(window).subspan(a.offset, n)};
        if (a.offset == reg::data) last_data.assign(got.view().begin(), got.view().end());
        vf.on_read(got.view(), now);
        drain();
        return true;
      }
      case action_kind::write: {
        VPCI_FUZZ_CHECK(a.offset % 4 == 0 && a.offset + a.bytes.size() <= mailbox::window_size);
        check_write(a.offset, a.bytes);
        if ((how & 1) != 0) {
          vf.on_transport_error(now);
          return true;
        }
        for (std::size_t i = 0; i < a.bytes.size(); ++i) window[a.offset + i] = a.bytes[i];
        vf.on_written(now);
        drain();
        return true;
      }
      case action_kind::wait: VPCI_FUZZ_CHECK(a.until > now); return false;
      case action_kind::idle: return false;
      case action_kind::send: invariant_broken("binding 1 never sends", __FILE__, __LINE__);
    }
    return false;
  }

  // step() until it waits or idles; every access succeeds.
  void settle() {
    for (int guard = 0; guard < 4096; ++guard)
      if (!step_once(0)) return;
    invariant_broken("step() keeps asking for work", __FILE__, __LINE__);
  }

  void start(input_reader& in, bool read) {
    vf_operation op = take_vf_operation(in, read, now, 100);
    const std::size_t length = op.length;
    result<engine::op_handle> h = errc::invalid_argument;
    if (read) {
      h = vf.start_read(op.id, op.destination_span(), op.deadline);
    } else {
      const exact_bytes exact{op.data};
      h = vf.start_write(op.id, exact.view(), op.deadline);  // copied now: `exact` may go
    }
    if (length == 0 || length > max_block_size) {
      VPCI_FUZZ_CHECK(!h && h.error() == errc::invalid_length);
    } else if (live.size() == max_queued) {
      VPCI_FUZZ_CHECK(!h && h.error() == errc::busy);
    } else {
      VPCI_FUZZ_CHECK(h.has_value());
      VPCI_FUZZ_CHECK(live.count(key(*h)) == 0);
      live.emplace(key(*h), std::move(op));
      ++started;
    }
  }

  void cancel(input_reader& in) {
    const std::uint8_t flags = in.u8();
    drain();  // what has ended is delivered first (the core does so): every operation left is pending
    if (live.empty()) return;
    auto it = live.begin();
    std::advance(it, static_cast<std::ptrdiff_t>(in.u8() % live.size()));
    const engine::op_handle h{static_cast<std::uint16_t>(it->first >> 16), static_cast<std::uint16_t>(it->first)};
    const auto scope = (flags & 1) != 0 ? engine::cancel_scope::without_effects : engine::cancel_scope::with_effects;
    const bool queued = vf.is_queued(h);
    const bool done = vf.cancel(h, scope);
    VPCI_FUZZ_CHECK(done == (it->second.kind == engine::operation_kind::read ||
                             scope == engine::cancel_scope::with_effects || queued));
    // Reported by the next step() (or next_completion()), with errc::cancelled.
    if (done) {
      engine::op_completion c;
      VPCI_FUZZ_CHECK(vf.next_completion(c) && c.handle == h && c.error == errc::cancelled);
      complete(c);
    }
  }

  // The PF publishes an answer: status with the acknowledgement it picks (the VF's sequence, or off by
  // some), any count, flags and heartbeat, the window's epoch or another; result and data as given.
  void answer(input_reader& in) {
    const std::uint8_t flags = in.u8();
    mailbox::status_word s;
    s.ack = static_cast<std::uint16_t>(vf.sequence() + ((flags & 1) != 0 ? in.u8() : 0));
    s.count = in.u8();
    s.failed = (flags & 2) != 0;
    s.invalidated = (flags & 4) != 0;
    s.heartbeat = static_cast<std::uint8_t>((flags >> 3) & 3);
    s.epoch = (flags & 0x20) != 0 ? static_cast<std::uint8_t>(in.u8() & 0xF) : epoch();
    if ((flags & 0x40) != 0) set(reg::result, in.u32());
    const auto data = in.take(in.u8() % (mailbox::data_window_size + 1));
    for (std::size_t i = 0; i < data.size(); ++i) window[reg::data + i] = data[i];
    set(reg::status, mailbox::encode_status(s));
  }

  void invalidate(input_reader& in) {
    const std::uint64_t mask = in.u64();
    set(reg::invalidate_mask_low, static_cast<std::uint32_t>(mask));
    set(reg::invalidate_mask_high, static_cast<std::uint32_t>(mask >> 32));
    auto s = mailbox::decode_status(u32(reg::status));
    s.invalidated = mask != 0;
    set(reg::status, mailbox::encode_status(s));
  }

  void remove(input_reader& in) {
    const std::uint8_t flags = in.u8();
    const std::size_t before = live.size();
    const std::size_t completed_before = completed;
    vf.remove((flags & 1) != 0 ? errc::vf_removed : errc::peer_gone, (flags & 2) != 0);
    drain();
    VPCI_FUZZ_CHECK(live.empty() && completed - completed_before == before);
  }

  void run(input_reader& in) {
    while (!in.empty()) {
      switch (in.u8() % op_count) {
        case op_start_read: start(in, true); break;
        case op_start_write: start(in, false); break;
        case op_cancel: cancel(in); break;
        case op_step: (void)step_once(in.u8()); break;
        case op_settle: settle(); break;
        case op_poke: {
          const auto offset = static_cast<std::uint16_t>((in.u8() % (mailbox::window_size / 4)) * 4);
          set(offset, in.u32());
          break;
        }
        case op_answer: answer(in); break;
        case op_invalidate: invalidate(in); break;
        case op_initialise: {
          const std::uint8_t flags = in.u8();
          initialise(flags & 7, (flags & 8) != 0 ? in.u8() % 4 : 0, mailbox::next_epoch(epoch()));
          break;
        }
        case op_reset_done: set(reg::control, u32(reg::control) & ~mailbox::control_reset); break;
        case op_wake: vf.wake(); break;
        case op_time: now += std::uint64_t{in.u16()} * 100; break;
        case op_watch: vf.watch_invalidations((in.u8() & 1) != 0); break;
        case op_take_invalidations: (void)vf.take_invalidations(); break;
        case op_remove: remove(in); break;
        default: break;
      }
      VPCI_FUZZ_CHECK(started == completed + live.size());
    }
    // The end: an access the last step() issued has been reported (step_once reports each), so time past
    // every deadline completes everything pending, whatever the window shows.
    now += std::uint64_t{1} << 40;
    settle();
    VPCI_FUZZ_CHECK(live.empty() && started == completed);
    vf.remove(errc::vf_removed, false);
    drain();
    VPCI_FUZZ_CHECK(!vf.has_pending());
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  input_reader in{as_bytes(data, size)};
  harness h{in.u8()};
  h.run(in);
  return 0;
}
