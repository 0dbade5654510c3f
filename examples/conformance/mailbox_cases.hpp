// vpci-conformance, binding 1: the cases that check a PF's config-space mailbox (layout 2) against
// docs/protocol.md, acting as a VF through a mailbox_port (any way of reaching the VF's config space).
//
// Every case starts from a mailbox reset (section 5.2: it lifts a quarantine an earlier case left), drives
// the window register by register as the doc's VF does (or as a hostile VF would), and checks every
// register the PF owns. Every wait is bounded by the port's budget (a real-time deadline for a PF in
// another process, a number of status polls for an in-process PF that answers inside the VF's writes), so
// a PF that never answers is a FAIL "no answer within ...", never a hang.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <vpci/block/endian.hpp>
#include <vpci/protocol/ntstatus.hpp>
#include <vpci/wire/mailbox.hpp>

#include "profile.hpp"
#include "report.hpp"

namespace vpci::conformance {

// The VF's view of one mailbox window. Offsets are from the window's start (the DVSEC header).
class mailbox_port {
 public:
  virtual ~mailbox_port() = default;
  // Reads out.size() bytes at `offset`, in naturally aligned accesses. Returns an error text (empty: done).
  virtual std::string read(std::size_t offset, std::span<std::byte> out) = 0;
  // Writes `bytes` at `offset` as separate config writes of `width` bytes each (1, 2 or 4).
  virtual std::string write(std::size_t offset, std::span<const std::byte> bytes, std::size_t width) = 0;
  // Called between two status polls of one wait (`polls` done so far, since `started`): lets the PF run
  // and says whether the wait goes on. False ends the wait as "no answer within budget()".
  virtual bool wait_more(std::size_t polls, std::chrono::steady_clock::time_point started) = 0;
  [[nodiscard]] virtual std::string budget() const = 0;
  // How often the PF has signalled this VF so far (docs/protocol.md 4.2, SIGNAL; over shared memory the
  // to_driver doorbell's sequence), or nothing where the port cannot observe the PF's signal.
  [[nodiscard]] virtual std::optional<std::uint32_t> signal_count() const { return std::nullopt; }
  // Why signal_count() is nothing, naming the transport in use (mailbox.signal's SKIP reason): only the
  // port knows how it reaches the window.
  [[nodiscard]] virtual std::string signal_unobservable() const = 0;
};

// A pattern of `size` bytes that differs for each `seed`.
inline std::vector<std::byte> pattern(std::uint32_t seed, std::size_t size) {
  std::vector<std::byte> bytes(size);
  std::uint32_t x = seed * 2654435761u + 0x9E3779B9u;
  for (std::byte& b : bytes) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    b = static_cast<std::byte>(x & 0xFF);
  }
  return bytes;
}

// One request's outcome as the VF saw it.
struct mailbox_answer {
  bool answered{false};
  std::uint32_t status{0};
  std::uint32_t result{0};
  std::vector<std::byte> data;
  std::string error;  // not answered, a transport error or an inconsistent answer

  [[nodiscard]] mailbox::status_word fields() const { return mailbox::decode_status(status); }
};

// The VF side, written from docs/protocol.md 4.1 (not from vpci's VF engine: the tool must not share the
// assumptions of the implementation it checks).
class mailbox_vf {
 public:
  explicit mailbox_vf(mailbox_port& port) : port_(port) {}

  [[nodiscard]] const std::string& error() const { return error_; }
  [[nodiscard]] std::uint16_t sequence() const { return sequence_; }
  void set_sequence(std::uint16_t s) { sequence_ = s; }
  [[nodiscard]] std::uint8_t epoch() const { return epoch_; }

  std::uint32_t rd(std::size_t offset) {
    std::array<std::byte, 4> b{};
    if (auto e = port_.read(offset, b); !e.empty() && error_.empty()) error_ = "read " + hex(offset, 2) + ": " + e;
    return le::load_u32(b.data());
  }
  void wr(std::size_t offset, std::uint32_t value, std::size_t width = 4) {
    std::array<std::byte, 4> b{};
    le::store_u32(b.data(), value);
    put(offset, b, width);
  }
  void put(std::size_t offset, std::span<const std::byte> bytes, std::size_t width) {
    if (auto e = port_.write(offset, bytes, width); !e.empty() && error_.empty())
      error_ = "write " + hex(offset, 2) + ": " + e;
  }

  static std::uint16_t after(std::uint16_t s) {
    const auto n = static_cast<std::uint16_t>(s + 1u);
    return n == 0 ? std::uint16_t{1} : n;
  }
  std::uint16_t next_sequence() { return sequence_ = after(sequence_); }

  // Section 4.1, attach: the current sequence from `request`, the epoch from `status`.
  std::string probe() {
    const std::uint32_t status = rd(mailbox::reg::status);
    const std::uint32_t request = rd(mailbox::reg::request);
    if (!error_.empty()) return error_;
    epoch_ = mailbox::decode_status(status).epoch;
    sequence_ = static_cast<std::uint16_t>(request & 0xFFFF);
    if (epoch_ == 0) return "status epoch is 0: the window is not initialised";
    return {};
  }

  // Section 5.2: W control = RESET (| `signal`: control.SIGNAL), then read control until bit 0 is clear
  // (bounded).
  std::string reset(std::uint32_t signal = 0) {
    wr(mailbox::reg::control, mailbox::control_reset | signal);
    const auto started = std::chrono::steady_clock::now();
    for (std::size_t polls = 0;; ++polls) {
      const std::uint32_t control = rd(mailbox::reg::control);
      if (!error_.empty()) return error_;
      if ((control & mailbox::control_reset) == 0) return {};
      if (!port_.wait_more(polls, started)) return "reset not completed (control bit 0 still set) within " + port_.budget();
    }
  }

  // Polls status until `done(status)` holds, within the port's budget (`why` says what was seen otherwise).
  std::optional<std::uint32_t> wait_status(const std::function<bool(std::uint32_t)>& done, std::string& why) {
    const auto started = std::chrono::steady_clock::now();
    for (std::size_t polls = 0;; ++polls) {
      const std::uint32_t status = rd(mailbox::reg::status);
      if (!error_.empty()) {
        why = error_;
        return std::nullopt;
      }
      if (done(status)) return status;
      if (!port_.wait_more(polls, started)) {
        why = "no answer within " + port_.budget() + " (status " + hex(status) + ")";
        return std::nullopt;
      }
    }
  }

  // A whole request (section 4.1): the write data, the block register, the doorbell `request_word`, the
  // wait for its ack, `result`, the data of a read (count bytes), and the tear check.
  mailbox_answer transact(std::uint32_t request_word, std::uint32_t block, std::span<const std::byte> write_data = {},
                          std::size_t width = 4) {
    if (!write_data.empty()) {
      std::vector<std::byte> padded(write_data.begin(), write_data.end());
      padded.resize((padded.size() + 3) & ~std::size_t{3});
      put(mailbox::reg::data, padded, width);
    }
    wr(mailbox::reg::request_block, block, width);
    if (width == 4) {
      wr(mailbox::reg::request, request_word);
    } else {  // section 3, access widths: the upper half first, the sequence last
      std::array<std::byte, 4> b{};
      le::store_u32(b.data(), request_word);
      put(mailbox::reg::request + 2, std::span<const std::byte>(b).subspan(2, 2), 2);
      put(mailbox::reg::request, std::span<const std::byte>(b).first(2), 2);
    }
    const auto s = static_cast<std::uint16_t>(request_word & 0xFFFF);
    sequence_ = s;
    return collect(s, (request_word >> 24 & 3u) == 1);
  }

  // The answer to sequence `s`: waits for its ack, reads result and (a read) the data, then the tear check.
  mailbox_answer collect(std::uint16_t s, bool read_data) {
    mailbox_answer a;
    if (!error_.empty()) {
      a.error = error_;
      return a;
    }
    auto status = wait_status([s](std::uint32_t st) { return (st & 0xFFFF) == s; }, a.error);
    if (!status) return a;
    a.answered = true;
    a.status = *status;
    a.result = rd(mailbox::reg::result);
    const mailbox::status_word f = a.fields();
    if (read_data && !f.failed && f.count != 0) {
      const std::size_t n = f.count <= mailbox::data_window_size ? f.count : mailbox::data_window_size;
      a.data.resize((n + 3) & ~std::size_t{3});
      if (auto e = port_.read(mailbox::reg::data, a.data); !e.empty()) a.error = e;
      // Section 4.2: the answer's dwords are zero-padded to whole dwords.
      for (std::size_t i = n; i < a.data.size() && a.error.empty(); ++i)
        if (a.data[i] != std::byte{0})
          a.error = "byte " + std::to_string(i) + " of the data window, past the answer's " + std::to_string(n) +
                    " bytes, is " + hex(static_cast<std::uint32_t>(a.data[i]), 2) + ": an answer is zero-padded to a whole dword";
      a.data.resize(n);
      const std::uint32_t again = rd(mailbox::reg::status);
      if (!mailbox::same_answer(again, a.status))
        a.error = "status changed while the answer was read: " + hex(a.status) + " then " + hex(again);
    }
    if (!error_.empty() && a.error.empty()) a.error = error_;
    return a;
  }

  mailbox_answer read(std::uint32_t block, std::size_t length) {
    return transact(mailbox::encode_request(next_sequence(), length, mailbox::operation::read), block);
  }
  mailbox_answer write(std::uint32_t block, std::span<const std::byte> data, std::size_t width = 4) {
    return transact(mailbox::encode_request(next_sequence(), data.size(), mailbox::operation::write), block, data, width);
  }

 private:
  mailbox_port& port_;
  std::string error_;
  std::uint16_t sequence_{0};
  std::uint8_t epoch_{0};
};

// What a case expects of an answer: a failure with `expected` (FAILED, result, count 0), or a success of
// `count` bytes (FAILED clear, result 0). Returns the mismatch, or empty.
inline std::string expect_failure(const mailbox_answer& a, ntstatus expected) {
  if (!a.answered) return a.error;
  const auto f = a.fields();
  if (!f.failed || a.result != static_cast<std::uint32_t>(expected) || f.count != 0)
    return "status " + hex(a.status) + " result " + hex(a.result) + ", expected FAILED, count 0, result " +
           hex(static_cast<std::uint32_t>(expected));
  return a.error;
}
inline std::string expect_success(const mailbox_answer& a, std::size_t count) {
  if (!a.answered) return a.error;
  const auto f = a.fields();
  if (f.failed || a.result != 0 || f.count != count)
    return "status " + hex(a.status) + " (count " + std::to_string(f.count) + (f.failed ? ", FAILED" : "") +
           ") result " + hex(a.result) + ", expected success with count " + std::to_string(count);
  return a.error;
}

struct mailbox_context {
  mailbox_port& vf0;
  mailbox_port* vf1{nullptr};  // the second VF's window (isolation, flood), when given
  const profile& blocks;
  pf_control* control{nullptr};
  // The option that gives the second VF's window on the transport in use ("--vfio-user2 SOCKET"), named
  // when the two-VF cases SKIP without it.
  std::string second_vf_option{};
};

struct mailbox_case {
  std::string_view name;
  std::string_view section;
  std::string_view checks;  // one line for --list
  std::function<case_result(mailbox_context&)> run;
};

namespace detail {

// Every case starts here: probe, reset (lifting any quarantine an earlier case caused), probe again.
inline std::string start(mailbox_vf& vf) {
  if (auto e = vf.probe(); !e.empty()) return "probe: " + e;
  if (auto e = vf.reset(); !e.empty()) return e;
  const std::uint16_t kept = vf.sequence();
  if (auto e = vf.probe(); !e.empty()) return "probe after reset: " + e;
  if (vf.sequence() != 0) return "request register reads " + hex(vf.sequence(), 4) + " after a reset, expected 0";
  vf.set_sequence(kept);  // the VF keeps counting; the PF adopts the next sequence (section 5.2)
  return {};
}

#define VPCI_CONFORMANCE_START(vf)               \
  if (auto started_ = detail::start(vf); !started_.empty()) return fail(started_)
#define VPCI_CONFORMANCE_CHECK(text)            \
  if (auto checked_ = (text); !checked_.empty()) return fail(checked_)

using conformance::missing;

// A status-table row: a request of `word` (its sequence filled in) on `block` answered FAILED with `expected`.
inline case_result status_row(mailbox_context& ctx, std::uint32_t block, std::uint32_t word_without_sequence, ntstatus expected,
                              std::size_t write_bytes = 0) {
  mailbox_vf vf(ctx.vf0);
  VPCI_CONFORMANCE_START(vf);
  const std::vector<std::byte> data = pattern(block, write_bytes);
  const auto a = vf.transact(word_without_sequence | vf.next_sequence(), block, data);
  VPCI_CONFORMANCE_CHECK(expect_failure(a, expected));
  // An error status never quarantines: the next request is served.
  if (const block_spec* b = ctx.blocks.small_rw()) {
    VPCI_CONFORMANCE_CHECK(expect_success(vf.read(b->id, b->size), b->size));
  }
  return pass("result " + hex(static_cast<std::uint32_t>(expected)));
}
// The row on a block ID the profile may leave out (an undefined, foreign or handler block): SKIP naming
// the role without one. A case on one of the VF's own blocks checks for it first, as the other cases do,
// and passes its ID.
inline case_result status_row(mailbox_context& ctx, const std::optional<std::uint32_t>& block, std::string_view role,
                              std::uint32_t word_without_sequence, ntstatus expected, std::size_t write_bytes = 0) {
  if (!block) return skip(missing(role));
  return status_row(ctx, *block, word_without_sequence, expected, write_bytes);
}

inline std::uint32_t op_bits(mailbox::operation op) { return static_cast<std::uint32_t>(op) << 24; }
inline std::uint32_t length_bits(std::size_t length) { return static_cast<std::uint32_t>(length & 0xFF) << 16; }

// The PF-owned registers of the window, 0x00-0x13 and 0x20-0x2F.
inline constexpr std::uint16_t pf_registers[] = {0x00, 0x04, 0x08, mailbox::reg::identity, mailbox::reg::limits,
                                                 mailbox::reg::status, mailbox::reg::result,
                                                 mailbox::reg::invalidate_mask_low, mailbox::reg::invalidate_mask_high};

inline case_result pf_register_writes(mailbox_context& ctx, std::size_t width) {
  const block_spec* b = ctx.blocks.small_rw();
  if (!b) return skip(missing("read-write block"));
  mailbox_vf vf(ctx.vf0);
  VPCI_CONFORMANCE_START(vf);
  VPCI_CONFORMANCE_CHECK(expect_success(vf.read(b->id, b->size), b->size));
  std::vector<std::uint32_t> before;
  for (const std::uint16_t r : pf_registers) before.push_back(vf.rd(r));
  // Every PF register written with its complement, `width` bytes at a time (a dword as 4, 2 or 1 writes).
  for (std::size_t i = 0; i < std::size(pf_registers); ++i) vf.wr(pf_registers[i], ~before[i], width);
  VPCI_CONFORMANCE_CHECK(vf.error());
  // The next request is served as if nothing happened (no quarantine), and everything is as it was.
  const auto a = vf.read(b->id, b->size);
  VPCI_CONFORMANCE_CHECK(expect_success(a, b->size));
  for (std::size_t i = 0; i < std::size(pf_registers); ++i) {
    const std::uint16_t r = pf_registers[i];
    if (r == mailbox::reg::status) continue;  // the request above changed it
    const std::uint32_t now = vf.rd(r);
    if (now != before[i])
      return fail("register " + hex(r, 2) + " reads " + hex(now) + " after the VF wrote it (was " + hex(before[i]) +
                  "): a VF write into a PF register must be ignored or undone");
  }
  const auto s = mailbox::decode_status(a.status);
  const auto was = mailbox::decode_status(before[5]);
  if (s.epoch != was.epoch) return fail("epoch changed from " + std::to_string(was.epoch) + " to " + std::to_string(s.epoch));
  return pass(std::to_string(std::size(pf_registers)) + " registers, " + std::to_string(width) + "-byte writes");
}

inline case_result sequence_violation(mailbox_context& ctx, bool reverse) {
  const block_spec* b = ctx.blocks.small_rw();
  if (!b) return skip(missing("read-write block"));
  mailbox_vf vf(ctx.vf0);
  VPCI_CONFORMANCE_START(vf);
  // The block as it is: executing the refused write would show in it.
  const auto before = vf.read(b->id, b->size);
  VPCI_CONFORMANCE_CHECK(expect_success(before, b->size));
  const std::uint16_t answered = vf.sequence();
  const auto bad = reverse ? static_cast<std::uint16_t>(answered == 1 ? 0xFFFF : answered - 1)
                           : mailbox_vf::after(mailbox_vf::after(answered));
  const std::vector<std::byte> data = pattern(bad, b->size);
  const auto a = vf.transact(mailbox::encode_request(bad, b->size, mailbox::operation::write), b->id, data);
  if (auto e = expect_failure(a, ntstatus::invalid_device_request); !e.empty())
    return fail(std::string(reverse ? "reversed" : "skipped") + " sequence " + hex(bad, 4) + ": " + e);
  // Quarantined: checked first, any request, STATUS_ACCESS_DENIED until a reset.
  const auto q = vf.read(b->id, b->size);
  if (auto e = expect_failure(q, ntstatus::access_denied); !e.empty()) return fail("after the violation: " + e);
  VPCI_CONFORMANCE_CHECK(vf.reset());
  const auto after = vf.read(b->id, b->size);
  if (auto e = expect_success(after, b->size); !e.empty()) return fail("after the reset: " + e);
  if (after.data != before.data) return fail("the refused write changed the block");
  return pass("FAILED " + hex(static_cast<std::uint32_t>(ntstatus::invalid_device_request)) + ", ack " + hex(bad, 4) +
              ", quarantined until reset");
}

// Waits until the window shows `expected` in the mask registers (and INVALIDATED accordingly).
inline std::string wait_mask(mailbox_vf& vf, std::uint64_t expected, std::string_view what) {
  std::string why;
  auto st = vf.wait_status(
      [&](std::uint32_t s) {
        const std::uint64_t mask = std::uint64_t{vf.rd(mailbox::reg::invalidate_mask_low)} |
                                   (std::uint64_t{vf.rd(mailbox::reg::invalidate_mask_high)} << 32);
        return mask == expected && mailbox::decode_status(s).invalidated == (expected != 0) &&
               vf.rd(mailbox::reg::invalidate_ack_low) == 0 && vf.rd(mailbox::reg::invalidate_ack_high) == 0;
      },
      why);
  if (st) return {};
  const std::uint64_t mask = std::uint64_t{vf.rd(mailbox::reg::invalidate_mask_low)} |
                             (std::uint64_t{vf.rd(mailbox::reg::invalidate_mask_high)} << 32);
  return std::string(what) + ": mask " + hex(mask, 16) + " (expected " + hex(expected, 16) + "), ack registers " +
         hex(vf.rd(mailbox::reg::invalidate_ack_low)) + ":" + hex(vf.rd(mailbox::reg::invalidate_ack_high)) + "; " + why;
}

inline std::uint64_t read_mask(mailbox_vf& vf) {
  return std::uint64_t{vf.rd(mailbox::reg::invalidate_mask_low)} |
         (std::uint64_t{vf.rd(mailbox::reg::invalidate_mask_high)} << 32);
}

// Section 4.3, the VF's acknowledgement: only the dwords that carry bits.
inline void acknowledge(mailbox_vf& vf, std::uint64_t bits) {
  if (static_cast<std::uint32_t>(bits) != 0) vf.wr(mailbox::reg::invalidate_ack_low, static_cast<std::uint32_t>(bits));
  if ((bits >> 32) != 0) vf.wr(mailbox::reg::invalidate_ack_high, static_cast<std::uint32_t>(bits >> 32));
}

// Makes the PF raise `mask` for the VF of `vf`: through the profile's trigger block (a request of that
// VF) or the tool's control of the PF (VF `index`).
inline std::string raise(mailbox_context& ctx, mailbox_vf& vf, std::uint64_t mask, int index = 0) {
  if (ctx.blocks.invalidation_trigger) {
    std::array<std::byte, 8> bytes{};
    for (std::size_t i = 0; i < 8; ++i) bytes[i] = static_cast<std::byte>((mask >> (8 * i)) & 0xFF);
    if (auto e = expect_success(vf.write(*ctx.blocks.invalidation_trigger, bytes), 8); !e.empty())
      return "raising " + hex(mask, 16) + " through block " + hex(*ctx.blocks.invalidation_trigger) + ": " + e;
    return {};
  }
  if (auto e = ctx.control->invalidate(index, mask); !e.empty()) return "raising " + hex(mask, 16) + ": " + e;
  return {};
}
inline std::string drain(mailbox_vf& vf) {
  const std::uint64_t latched = read_mask(vf);
  if (latched == 0) return {};
  acknowledge(vf, latched);
  return wait_mask(vf, 0, "draining the latch before the case");
}

// Waits (within the port's budget) until the PF's signal count moves from `seen`.
inline std::string wait_signal(mailbox_port& port, std::uint32_t seen, std::string_view after) {
  const auto started = std::chrono::steady_clock::now();
  for (std::size_t polls = 0;; ++polls) {
    if (port.signal_count().value_or(seen) != seen) return {};
    if (!port.wait_more(polls, started))
      return "control.SIGNAL set, but no signal within " + port.budget() + " after " + std::string(after);
  }
}

inline std::string no_second_vf(const mailbox_context& ctx) {
  return ctx.second_vf_option.empty() ? "no second VF window" : "no second VF window (" + ctx.second_vf_option + ")";
}

inline std::string cannot_invalidate(const mailbox_context& ctx) {
  if (ctx.blocks.invalidation_trigger) return {};
  if (!ctx.control) return "the tool cannot make this PF raise invalidations (--invalidate-cmd, --invalidate-block)";
  return ctx.control->can_invalidate();
}
#define VPCI_CONFORMANCE_NEEDS_INVALIDATION(ctx) \
  if (auto why_ = detail::cannot_invalidate(ctx); !why_.empty()) return skip(why_)

}  // namespace detail

// The binding-1 cases, in the order they run.
inline std::vector<mailbox_case> mailbox_cases() {
  using detail::length_bits;
  using detail::op_bits;
  using detail::status_row;
  using mailbox::operation;
  std::vector<mailbox_case> cases;
  auto add = [&](std::string_view name, std::string_view section, std::string_view checks,
                 std::function<case_result(mailbox_context&)> run) {
    cases.push_back({name, section, checks, std::move(run)});
  };

  add("mailbox.window_registers", "protocol.md §2, §3", "DVSEC headers, identity, limits, epoch", [](mailbox_context& ctx) {
    mailbox_vf vf(ctx.vf0);
    const std::uint32_t h0 = vf.rd(0x00), h1 = vf.rd(0x04), h2 = vf.rd(0x08);
    const std::uint32_t identity = vf.rd(mailbox::reg::identity), limits = vf.rd(mailbox::reg::limits);
    const std::uint32_t status = vf.rd(mailbox::reg::status);
    VPCI_CONFORMANCE_CHECK(vf.error());
    if ((h0 & 0xFFFF) != 0x0023 || ((h0 >> 16) & 0xF) != 1) return fail("extended header " + hex(h0) + ": expected ID 0x0023, version 1");
    if (((h1 >> 16) & 0xF) != mailbox::dvsec_revision) return fail("DVSEC revision " + std::to_string((h1 >> 16) & 0xF) + ", expected 2");
    if ((h1 >> 20) < mailbox::window_size) return fail("DVSEC length " + hex(h1 >> 20, 3) + ", expected at least 0x0B8");
    if ((h2 >> 16) != 0) return fail("DVSEC header 2 " + hex(h2) + ": bits 31:16 must be zero");
    if ((identity & 0xFFFF) != mailbox::layout_version) return fail("identity " + hex(identity) + ": layout must be 2");
    if ((identity >> 16) & ~0x7u) return fail("identity " + hex(identity) + ": undefined capability bits set");
    if ((limits & 0xFF) != 128 || ((limits >> 8) & 0xFF) != 32)
      return fail("limits " + hex(limits) + ": expected max block 128, data window 32 dwords");
    if (((identity >> 16) & mailbox::capability::heartbeat) != 0 && (limits >> 16) == 0)
      return fail("HEARTBEAT announced with a heartbeat interval of 0");
    if (mailbox::decode_status(status).epoch == 0) return fail("status epoch is 0: not initialised");
    return pass("identity " + hex(identity) + ", limits " + hex(limits));
  });

  add("mailbox.reset", "protocol.md §5.2", "RESET completes: request registers, result, status ack/count zero; epoch kept",
      [](mailbox_context& ctx) {
        const block_spec* b = ctx.blocks.small_rw();
        if (!b) return skip(detail::missing("read-write block"));
        mailbox_vf vf(ctx.vf0);
        VPCI_CONFORMANCE_START(vf);
        // Leave a failure behind (result non-zero) so the reset has something to clear.
        if (ctx.blocks.undefined_block) (void)vf.read(*ctx.blocks.undefined_block, 4);
        else (void)vf.read(b->id, b->size);
        const std::uint8_t epoch = mailbox::decode_status(vf.rd(mailbox::reg::status)).epoch;
        VPCI_CONFORMANCE_CHECK(vf.reset());
        const std::uint32_t rb = vf.rd(mailbox::reg::request_block), rq = vf.rd(mailbox::reg::request);
        const std::uint32_t result = vf.rd(mailbox::reg::result), control = vf.rd(mailbox::reg::control);
        const auto s = mailbox::decode_status(vf.rd(mailbox::reg::status));
        const std::uint32_t ack_low = vf.rd(mailbox::reg::invalidate_ack_low), ack_high = vf.rd(mailbox::reg::invalidate_ack_high);
        VPCI_CONFORMANCE_CHECK(vf.error());
        if (rb != 0 || rq != 0) return fail("request_block " + hex(rb) + ", request " + hex(rq) + " after reset, expected 0");
        if (result != 0) return fail("result " + hex(result) + " after reset, expected 0");
        if (control != 0) return fail("control " + hex(control) + " after reset, expected 0");
        if (s.ack != 0 || s.count != 0 || s.failed) return fail("status ack/count/FAILED not zero after reset");
        if (s.epoch != epoch) return fail("epoch changed by a reset (" + std::to_string(epoch) + " to " + std::to_string(s.epoch) + ")");
        if (ack_low != 0 || ack_high != 0) return fail("acknowledgement registers not zero after reset");
        // The PF adopts the VF's next sequence, whatever it is.
        VPCI_CONFORMANCE_CHECK(expect_success(vf.read(b->id, b->size), b->size));
        // A VF that uses the signal asks for the reset with SIGNAL set: the PF clears bit 0 and keeps bit 1.
        VPCI_CONFORMANCE_CHECK(vf.reset(mailbox::control_signal));
        const std::uint32_t kept = vf.rd(mailbox::reg::control);
        vf.wr(mailbox::reg::control, 0);
        VPCI_CONFORMANCE_CHECK(vf.error());
        if (kept != mailbox::control_signal)
          return fail("control " + hex(kept) + " after a reset asked with SIGNAL: a reset keeps bit 1 (expected " +
                      hex(mailbox::control_signal) + ")");
        return pass();
      });

  // ---- 4.4 statuses ----
  add("mailbox.read_success", "protocol.md §4.4", "a read answers the block's size, result 0", [](mailbox_context& ctx) {
    const block_spec* b = ctx.blocks.small_rw();
    if (!b) return skip(detail::missing("read-write block"));
    mailbox_vf vf(ctx.vf0);
    VPCI_CONFORMANCE_START(vf);
    // Every readable block of the profile, each of its own size (a size that is no multiple of 4 shows a
    // count rounded up to whole dwords, and the padding).
    for (const block_spec& r : ctx.blocks.blocks) {
      if (r.access == engine::block_access::write_only) continue;
      if (auto e = expect_success(vf.read(r.id, r.size), r.size); !e.empty())
        return fail("block " + hex(r.id) + " (" + std::to_string(r.size) + " bytes): " + e);
    }
    return pass();
  });
  add("mailbox.read_longer_than_block", "protocol.md §4.4", "a read of 128 bytes answers the block's size", [](mailbox_context& ctx) {
    const block_spec* b = ctx.blocks.small_rw();
    if (!b) return skip(detail::missing("read-write block below 128 bytes"));
    mailbox_vf vf(ctx.vf0);
    VPCI_CONFORMANCE_START(vf);
    VPCI_CONFORMANCE_CHECK(expect_success(vf.read(b->id, 128), b->size));
    return pass("count " + std::to_string(b->size));
  });
  add("mailbox.any_32bit_block_id", "protocol.md §3, §4.4", "a block ID above 63 is served", [](mailbox_context& ctx) {
    const block_spec* b = ctx.blocks.high_id();
    if (!b) return skip(detail::missing("block with an ID above 63"));
    mailbox_vf vf(ctx.vf0);
    VPCI_CONFORMANCE_START(vf);
    VPCI_CONFORMANCE_CHECK(expect_success(vf.read(b->id, b->size), b->size));
    return pass("block " + hex(b->id));
  });
  add("mailbox.write_then_read", "protocol.md §4.4", "a write answers count = length; the block reads back", [](mailbox_context& ctx) {
    mailbox_vf vf(ctx.vf0);
    VPCI_CONFORMANCE_START(vf);
    int checked = 0;
    for (const block_spec* b : {ctx.blocks.small_rw(), ctx.blocks.full_rw()}) {
      if (!b) continue;
      const auto data = pattern(b->id ^ 0x5A5A, b->size);
      VPCI_CONFORMANCE_CHECK(expect_success(vf.write(b->id, data), b->size));
      const auto r = vf.read(b->id, b->size);
      VPCI_CONFORMANCE_CHECK(expect_success(r, b->size));
      if (r.data != data) return fail("block " + hex(b->id) + " does not read back what was written");
      ++checked;
    }
    if (checked == 0) return skip(detail::missing("read-write block"));
    return pass(std::to_string(checked) + " blocks");
  });
  add("mailbox.length_0", "protocol.md §4.4", "length 0 (read and write): STATUS_INVALID_PARAMETER", [](mailbox_context& ctx) {
    const block_spec* b = ctx.blocks.small_rw();
    if (!b) return skip(detail::missing("read-write block"));
    if (auto r = status_row(ctx, b->id, op_bits(operation::read), ntstatus::invalid_parameter); r.outcome != verdict::pass) return r;
    return status_row(ctx, b->id, op_bits(operation::write), ntstatus::invalid_parameter);
  });
  add("mailbox.length_1", "protocol.md §4.4", "length 1 below the block's size: read BUFFER_TOO_SMALL, write INVALID_PARAMETER",
      [](mailbox_context& ctx) {
        const block_spec* b = ctx.blocks.small_rw();
        if (!b) return skip(detail::missing("read-write block"));
        if (auto r = status_row(ctx, b->id, op_bits(operation::read) | length_bits(1), ntstatus::buffer_too_small);
            r.outcome != verdict::pass)
          return r;
        return status_row(ctx, b->id, op_bits(operation::write) | length_bits(1), ntstatus::invalid_parameter, 1);
      });
  add("mailbox.length_128", "protocol.md §4.4", "a 128-byte block read and written whole", [](mailbox_context& ctx) {
    const block_spec* b = ctx.blocks.full_rw();
    if (!b) return skip(detail::missing("128-byte read-write block"));
    mailbox_vf vf(ctx.vf0);
    VPCI_CONFORMANCE_START(vf);
    const auto data = pattern(128, 128);
    VPCI_CONFORMANCE_CHECK(expect_success(vf.write(b->id, data), 128));
    const auto r = vf.read(b->id, 128);
    VPCI_CONFORMANCE_CHECK(expect_success(r, 128));
    if (r.data != data) return fail("128 bytes do not read back");
    return pass();
  });
  add("mailbox.length_129", "protocol.md §4.4", "length 129 (read and write): STATUS_INVALID_PARAMETER", [](mailbox_context& ctx) {
    const block_spec* b = ctx.blocks.full_rw() ? ctx.blocks.full_rw() : ctx.blocks.small_rw();
    if (!b) return skip(detail::missing("read-write block"));
    if (auto r = status_row(ctx, b->id, op_bits(operation::read) | length_bits(129), ntstatus::invalid_parameter);
        r.outcome != verdict::pass)
      return r;
    return status_row(ctx, b->id, op_bits(operation::write) | length_bits(129), ntstatus::invalid_parameter);
  });
  // The length field is 8 bits (23:16): 0xFF is the largest length a request can carry (the binding-2
  // case hyperv.length_0xffffffff sends the 32-bit one).
  add("mailbox.length_255", "protocol.md §4.4", "length field all ones (255): STATUS_INVALID_PARAMETER", [](mailbox_context& ctx) {
    const block_spec* b = ctx.blocks.full_rw() ? ctx.blocks.full_rw() : ctx.blocks.small_rw();
    if (!b) return skip(detail::missing("read-write block"));
    if (auto r = status_row(ctx, b->id, op_bits(operation::read) | length_bits(255), ntstatus::invalid_parameter);
        r.outcome != verdict::pass)
      return r;
    return status_row(ctx, b->id, op_bits(operation::write) | length_bits(255), ntstatus::invalid_parameter);
  });
  add("mailbox.undefined_block", "protocol.md §4.4", "a block nobody defines: STATUS_INVALID_PARAMETER", [](mailbox_context& ctx) {
    return status_row(ctx, ctx.blocks.undefined_block, "undefined block ID", op_bits(operation::read) | length_bits(8),
                      ntstatus::invalid_parameter);
  });
  add("mailbox.foreign_block", "protocol.md §4.4", "another VF's block: STATUS_ACCESS_DENIED", [](mailbox_context& ctx) {
    const std::size_t size = ctx.blocks.second_vf_block ? ctx.blocks.second_vf_block->size : 8;
    if (auto r = status_row(ctx, ctx.blocks.foreign_block, "foreign block", op_bits(operation::read) | length_bits(128),
                            ntstatus::access_denied);
        r.outcome != verdict::pass)
      return r;
    return status_row(ctx, ctx.blocks.foreign_block, "foreign block", op_bits(operation::write) | length_bits(size),
                      ntstatus::access_denied, size);
  });
  add("mailbox.read_too_short", "protocol.md §4.4", "a read below the block's size: STATUS_BUFFER_TOO_SMALL", [](mailbox_context& ctx) {
    const block_spec* b = ctx.blocks.small_rw();
    if (!b) return skip(detail::missing("read-write block"));
    return status_row(ctx, b->id, op_bits(operation::read) | length_bits(b->size - 1), ntstatus::buffer_too_small);
  });
  add("mailbox.write_wrong_length", "protocol.md §4.4", "a write of another length: STATUS_INVALID_PARAMETER", [](mailbox_context& ctx) {
    const block_spec* b = ctx.blocks.small_rw();
    if (!b) return skip(detail::missing("read-write block"));
    const std::size_t n = b->size + 4;
    return status_row(ctx, b->id, op_bits(operation::write) | length_bits(n), ntstatus::invalid_parameter, n);
  });
  add("mailbox.write_read_only", "protocol.md §4.4", "a write to a read-only block: STATUS_ACCESS_DENIED, block unchanged",
      [](mailbox_context& ctx) {
        const block_spec* b = ctx.blocks.read_only();
        if (!b) return skip(detail::missing("read-only block"));
        mailbox_vf vf(ctx.vf0);
        VPCI_CONFORMANCE_START(vf);
        const auto before = vf.read(b->id, b->size);
        VPCI_CONFORMANCE_CHECK(expect_success(before, b->size));
        auto r = status_row(ctx, b->id, op_bits(operation::write) | length_bits(b->size), ntstatus::access_denied, b->size);
        if (r.outcome != verdict::pass) return r;
        // The access row comes before the length row (the order under the table): a write of another
        // length to a read-only block is STATUS_ACCESS_DENIED too, not INVALID_PARAMETER.
        const std::size_t other = b->size < max_block_size ? b->size + 1 : b->size / 2;
        auto wrong_length = status_row(ctx, b->id, op_bits(operation::write) | length_bits(other), ntstatus::access_denied, other);
        if (wrong_length.outcome != verdict::pass)
          return fail("a write of " + std::to_string(other) + " bytes (the block holds " + std::to_string(b->size) +
                      "): " + wrong_length.reason);
        VPCI_CONFORMANCE_START(vf);  // status_row's own VF moved the sequence on
        const auto after = vf.read(b->id, b->size);
        VPCI_CONFORMANCE_CHECK(expect_success(after, b->size));
        if (after.data != before.data) return fail("the refused write changed the read-only block");
        return r;
      });
  add("mailbox.read_write_only", "protocol.md §4.4", "a read of a write-only block, of its size or shorter: STATUS_ACCESS_DENIED",
      [](mailbox_context& ctx) {
        const block_spec* b = ctx.blocks.write_only();
        if (!b) return skip(detail::missing("write-only block"));
        auto r = status_row(ctx, b->id, op_bits(operation::read) | length_bits(b->size), ntstatus::access_denied);
        if (r.outcome != verdict::pass || b->size < 2) return r;
        // The access row comes before the length row: a short read is ACCESS_DENIED, not BUFFER_TOO_SMALL.
        auto shorter = status_row(ctx, b->id, op_bits(operation::read) | length_bits(b->size - 1), ntstatus::access_denied);
        if (shorter.outcome != verdict::pass)
          return fail("a read of " + std::to_string(b->size - 1) + " bytes (the block holds " + std::to_string(b->size) +
                      "): " + shorter.reason);
        return r;
      });
  add("mailbox.unknown_operation", "protocol.md §4.4", "operations 0 and 3: STATUS_INVALID_DEVICE_REQUEST", [](mailbox_context& ctx) {
    const block_spec* b = ctx.blocks.small_rw();
    if (!b) return skip(detail::missing("read-write block"));
    for (const std::uint32_t op : {0u, 3u}) {
      auto r = status_row(ctx, b->id, (op << 24) | length_bits(b->size), ntstatus::invalid_device_request);
      if (r.outcome != verdict::pass) {
        r.reason = "operation " + std::to_string(op) + ": " + r.reason;
        return r;
      }
    }
    return pass("operations 0, 3");
  });
  add("mailbox.reserved_request_bits", "protocol.md §3, §4.4", "request bits 31:26 set: STATUS_INVALID_DEVICE_REQUEST",
      [](mailbox_context& ctx) {
        const block_spec* b = ctx.blocks.small_rw();
        if (!b) return skip(detail::missing("read-write block"));
        for (unsigned bit = 26; bit < 32; ++bit) {
          auto r = status_row(ctx, b->id, (1u << bit) | op_bits(operation::read) | length_bits(b->size), ntstatus::invalid_device_request);
          if (r.outcome != verdict::pass) {
            r.reason = "bit " + std::to_string(bit) + ": " + r.reason;
            return r;
          }
        }
        return pass("bits 26..31, one at a time");
      });
  add("mailbox.handler_status_passthrough", "protocol.md §4.4", "an IHV handler's STATUS_DEVICE_NOT_READY passed through",
      [](mailbox_context& ctx) {
        return status_row(ctx, ctx.blocks.not_ready_block, "not-ready handler block", op_bits(operation::read) | length_bits(128),
                          ntstatus::device_not_ready);
      });
  add("mailbox.handler_empty_success", "protocol.md §4.4", "a handler's success with 0 bytes: STATUS_UNSUCCESSFUL",
      [](mailbox_context& ctx) {
        return status_row(ctx, ctx.blocks.empty_block, "empty handler block", op_bits(operation::read) | length_bits(128),
                          ntstatus::unsuccessful);
      });

  // ---- 3: access widths, piecewise requests, PF-owned registers ----
  add("mailbox.pf_register_write_4", "protocol.md §3", "dword writes into PF registers ignored or undone; no quarantine",
      [](mailbox_context& ctx) { return detail::pf_register_writes(ctx, 4); });
  add("mailbox.pf_register_write_2", "protocol.md §3", "2-byte writes into PF registers ignored or undone; no quarantine",
      [](mailbox_context& ctx) { return detail::pf_register_writes(ctx, 2); });
  add("mailbox.pf_register_write_1", "protocol.md §3", "1-byte writes into PF registers ignored or undone; no quarantine",
      [](mailbox_context& ctx) { return detail::pf_register_writes(ctx, 1); });
  add("mailbox.request_piecewise", "protocol.md §3", "data in 1-byte writes, block register and doorbell in 2-byte halves (upper first)",
      [](mailbox_context& ctx) {
        const block_spec* b = ctx.blocks.small_rw();
        if (!b) return skip(detail::missing("read-write block"));
        mailbox_vf vf(ctx.vf0);
        VPCI_CONFORMANCE_START(vf);
        for (const std::size_t width : {std::size_t{1}, std::size_t{2}}) {
          const auto data = pattern(static_cast<std::uint32_t>(width) * 77, b->size);
          const auto w = vf.transact(mailbox::encode_request(vf.next_sequence(), b->size, operation::write), b->id, data, width);
          if (auto e = expect_success(w, b->size); !e.empty()) return fail(std::to_string(width) + "-byte write: " + e);
          const auto r = vf.transact(mailbox::encode_request(vf.next_sequence(), b->size, operation::read), b->id, {}, 2);
          if (auto e = expect_success(r, b->size); !e.empty()) return fail(std::to_string(width) + "-byte read: " + e);
          if (r.data != data) return fail(std::to_string(width) + "-byte writes: the block does not read back");
        }
        return pass();
      });

  // ---- 4.2: sequences ----
  add("mailbox.sequence_replay", "protocol.md §4.2", "a replayed doorbell is a no-op, even with new data", [](mailbox_context& ctx) {
    const block_spec* b = ctx.blocks.small_rw();
    if (!b) return skip(detail::missing("read-write block"));
    mailbox_vf vf(ctx.vf0);
    VPCI_CONFORMANCE_START(vf);
    const auto first = pattern(1001, b->size), second = pattern(1002, b->size);
    const auto w = vf.write(b->id, first);
    VPCI_CONFORMANCE_CHECK(expect_success(w, b->size));
    // The same doorbell again, with other data in the window.
    std::vector<std::byte> padded = second;
    padded.resize((padded.size() + 3) & ~std::size_t{3});
    vf.put(mailbox::reg::data, padded, 4);
    vf.wr(mailbox::reg::request, mailbox::encode_request(vf.sequence(), b->size, operation::write));
    const std::uint32_t status = vf.rd(mailbox::reg::status);
    VPCI_CONFORMANCE_CHECK(vf.error());
    if (!mailbox::same_answer(status, w.status)) return fail("status " + hex(status) + " after the replay, was " + hex(w.status));
    const auto r = vf.read(b->id, b->size);
    VPCI_CONFORMANCE_CHECK(expect_success(r, b->size));
    if (r.data != first) return fail("the replayed write was executed again");
    return pass();
  });
  add("mailbox.sequence_skip", "protocol.md §4.2, §4.4", "a skipped sequence: FAILED INVALID_DEVICE_REQUEST, quarantine until reset",
      [](mailbox_context& ctx) { return detail::sequence_violation(ctx, false); });
  add("mailbox.sequence_reverse", "protocol.md §4.2, §4.4", "a reversed sequence: FAILED INVALID_DEVICE_REQUEST, quarantine until reset",
      [](mailbox_context& ctx) { return detail::sequence_violation(ctx, true); });
  add("mailbox.sequence_wrap", "protocol.md §4.2, §5.2", "unsynchronised: 0 is nothing, the next is adopted; 0xFFFF is followed by 1",
      [](mailbox_context& ctx) {
        const block_spec* b = ctx.blocks.small_rw();
        if (!b) return skip(detail::missing("read-write block"));
        mailbox_vf vf(ctx.vf0);
        VPCI_CONFORMANCE_START(vf);
        // After the reset the PF is unsynchronised: a doorbell of sequence 0 holds no request, and the
        // next non-zero sequence (0xFFFE) is adopted.
        vf.wr(mailbox::reg::request_block, b->id);
        vf.wr(mailbox::reg::request, mailbox::encode_request(0, b->size, operation::read));
        vf.set_sequence(0xFFFD);
        for (int i = 0; i < 4; ++i) {
          const auto data = pattern(static_cast<std::uint32_t>(2000 + i), b->size);
          const auto w = vf.write(b->id, data);
          if (auto e = expect_success(w, b->size); !e.empty()) return fail("sequence " + hex(vf.sequence(), 4) + ": " + e);
        }
        if (vf.sequence() != 2) return fail("the tool's own sequence did not wrap");
        const auto r = vf.read(b->id, b->size);
        VPCI_CONFORMANCE_CHECK(expect_success(r, b->size));
        if (r.data != pattern(2003, b->size)) return fail("the block does not hold the write of sequence 2");
        return pass("(0), 0xFFFE, 0xFFFF, 1, 2, 3");
      });
  add("mailbox.sequence_zero_synchronised", "protocol.md §4.2", "sequence 0 is never a request, even once synchronised: nothing runs, nothing is quarantined",
      [](mailbox_context& ctx) {
        const block_spec* b = ctx.blocks.small_rw();
        if (!b) return skip(detail::missing("read-write block"));
        mailbox_vf vf(ctx.vf0);
        VPCI_CONFORMANCE_START(vf);
        const auto first = pattern(1101, b->size), second = pattern(1102, b->size);
        const auto w = vf.write(b->id, first);
        VPCI_CONFORMANCE_CHECK(expect_success(w, b->size));
        // A write of other data under sequence 0 (what a VF writing the dword byte by byte shows across a
        // carry from 0x00FF): not executed, status unchanged.
        std::vector<std::byte> padded = second;
        padded.resize((padded.size() + 3) & ~std::size_t{3});
        vf.put(mailbox::reg::data, padded, 4);
        vf.wr(mailbox::reg::request, mailbox::encode_request(0, b->size, operation::write));
        const std::uint32_t status = vf.rd(mailbox::reg::status);
        VPCI_CONFORMANCE_CHECK(vf.error());
        if (!mailbox::same_answer(status, w.status)) return fail("status " + hex(status) + " after sequence 0, was " + hex(w.status));
        // The next sequence still runs (a quarantined VF would get STATUS_ACCESS_DENIED) and the block holds
        // the first write.
        const auto r = vf.read(b->id, b->size);
        VPCI_CONFORMANCE_CHECK(expect_success(r, b->size));
        if (r.data != first) return fail("the write of sequence 0 was executed");
        return pass("ignored; the next sequence runs");
      });
  add("mailbox.answer_data_before_status", "protocol.md §4.2", "data and result are in place when status acknowledges",
      [](mailbox_context& ctx) {
        const block_spec* a = ctx.blocks.small_rw();
        const block_spec* big = ctx.blocks.full_rw();
        if (!a || !big) return skip(detail::missing("small and 128-byte read-write blocks"));
        mailbox_vf vf(ctx.vf0);
        VPCI_CONFORMANCE_START(vf);
        for (std::uint32_t round = 0; round < 32; ++round) {
          // The window holds other bytes (the 128-byte write) when the small block's answer is written.
          const auto p = pattern(3000 + round, a->size), q = pattern(4000 + round, 128);
          VPCI_CONFORMANCE_CHECK(expect_success(vf.write(a->id, p), a->size));
          VPCI_CONFORMANCE_CHECK(expect_success(vf.write(big->id, q), 128));
          const auto r = vf.read(a->id, a->size);
          VPCI_CONFORMANCE_CHECK(expect_success(r, a->size));
          if (r.data != p) return fail("round " + std::to_string(round) + ": the data window did not hold the answer when status acknowledged it");
          if (ctx.blocks.undefined_block) {  // result before status: alternate two failure statuses
            const auto u = vf.read(*ctx.blocks.undefined_block, 4);
            VPCI_CONFORMANCE_CHECK(expect_failure(u, ntstatus::invalid_parameter));
            if (const block_spec* ro = ctx.blocks.read_only()) {
              const auto d = vf.write(ro->id, pattern(round, ro->size));
              VPCI_CONFORMANCE_CHECK(expect_failure(d, ntstatus::access_denied));
            }
          }
        }
        return pass("32 rounds");
      });
  add("mailbox.unread_answers", "protocol.md §4.1, §4.2", "a VF that rings without reading answers: bounded verdicts, reset recovers",
      [](mailbox_context& ctx) {
        const block_spec* b = ctx.blocks.small_rw();
        if (!b) return skip(detail::missing("read-write block"));
        mailbox_vf vf(ctx.vf0);
        VPCI_CONFORMANCE_START(vf);
        // 200 requests back to back, never reading status: the PF sees each one or a later one.
        for (int i = 0; i < 200; ++i) {
          const auto data = pattern(static_cast<std::uint32_t>(5000 + i), b->size);
          std::vector<std::byte> padded = data;
          padded.resize((padded.size() + 3) & ~std::size_t{3});
          vf.put(mailbox::reg::data, padded, 4);
          vf.wr(mailbox::reg::request_block, b->id);
          vf.wr(mailbox::reg::request, mailbox::encode_request(vf.next_sequence(), b->size, operation::write));
        }
        const auto last = vf.collect(vf.sequence(), false);
        if (!last.answered) return fail("the last of 200 unread requests: " + last.error);
        const auto f = last.fields();
        // Executed (the PF saw every doorbell), or a sequence verdict (it saw a skip) or the quarantine.
        const bool executed = !f.failed && f.count == b->size;
        const bool refused = f.failed && (last.result == static_cast<std::uint32_t>(ntstatus::invalid_device_request) ||
                                          last.result == static_cast<std::uint32_t>(ntstatus::access_denied));
        if (!executed && !refused) return fail("last answer status " + hex(last.status) + " result " + hex(last.result));
        VPCI_CONFORMANCE_CHECK(vf.reset());
        const auto r = vf.read(b->id, b->size);
        if (auto e = expect_success(r, b->size); !e.empty()) return fail("after the reset: " + e);
        if (executed && r.data != pattern(5199, b->size)) return fail("the last write was answered but not stored");
        return pass(executed ? "all executed" : "answered with a sequence verdict");
      });

  // ---- 4.3: invalidations ----
  add("mailbox.invalidation_published", "protocol.md §4.3", "raised bits (low and high dword) latched, INVALIDATED set",
      [](mailbox_context& ctx) {
        VPCI_CONFORMANCE_NEEDS_INVALIDATION(ctx);
        mailbox_vf vf(ctx.vf0);
        VPCI_CONFORMANCE_START(vf);
        VPCI_CONFORMANCE_CHECK(detail::drain(vf));
        const std::uint64_t mask = (std::uint64_t{1} << 5) | (std::uint64_t{1} << 40);
        VPCI_CONFORMANCE_CHECK(detail::raise(ctx, vf, mask));
        VPCI_CONFORMANCE_CHECK(detail::wait_mask(vf, mask, "after the raise"));
        detail::acknowledge(vf, mask);
        VPCI_CONFORMANCE_CHECK(detail::wait_mask(vf, 0, "after the acknowledgement"));
        return pass();
      });
  add("mailbox.invalidation_latched_until_ack", "protocol.md §4.3", "a latched bit survives requests; the ack clears it and the ack registers",
      [](mailbox_context& ctx) {
        VPCI_CONFORMANCE_NEEDS_INVALIDATION(ctx);
        const block_spec* b = ctx.blocks.small_rw();
        if (!b) return skip(detail::missing("read-write block"));
        mailbox_vf vf(ctx.vf0);
        VPCI_CONFORMANCE_START(vf);
        VPCI_CONFORMANCE_CHECK(detail::drain(vf));
        VPCI_CONFORMANCE_CHECK(detail::raise(ctx, vf, 1u << 3));
        VPCI_CONFORMANCE_CHECK(detail::wait_mask(vf, 1u << 3, "after the raise"));
        for (int i = 0; i < 3; ++i) {
          const auto r = vf.read(b->id, b->size);
          VPCI_CONFORMANCE_CHECK(expect_success(r, b->size));
          if (!r.fields().invalidated) return fail("INVALIDATED clear in the answer of a request, nothing acknowledged");
          if (detail::read_mask(vf) != (1u << 3)) return fail("the latch changed without an acknowledgement: mask " + hex(detail::read_mask(vf), 16));
        }
        detail::acknowledge(vf, 1u << 3);
        VPCI_CONFORMANCE_CHECK(detail::wait_mask(vf, 0, "after the acknowledgement"));
        return pass();
      });
  add("mailbox.invalidation_coalesced", "protocol.md §4.3", "two raises before the VF looks: one mask with both bits; partial ack keeps the other",
      [](mailbox_context& ctx) {
        VPCI_CONFORMANCE_NEEDS_INVALIDATION(ctx);
        mailbox_vf vf(ctx.vf0);
        VPCI_CONFORMANCE_START(vf);
        VPCI_CONFORMANCE_CHECK(detail::drain(vf));
        VPCI_CONFORMANCE_CHECK(detail::raise(ctx, vf, 1u << 1));
        VPCI_CONFORMANCE_CHECK(detail::raise(ctx, vf, 1u << 7));
        VPCI_CONFORMANCE_CHECK(detail::wait_mask(vf, (1u << 1) | (1u << 7), "after two raises"));
        detail::acknowledge(vf, 1u << 1);
        VPCI_CONFORMANCE_CHECK(detail::wait_mask(vf, 1u << 7, "after acknowledging one bit"));
        detail::acknowledge(vf, 1u << 7);
        VPCI_CONFORMANCE_CHECK(detail::wait_mask(vf, 0, "after acknowledging the other"));
        return pass();
      });
  add("mailbox.invalidation_reraise_while_latched", "protocol.md §4.3", "a bit raised again while latched stays through one ack",
      [](mailbox_context& ctx) {
        VPCI_CONFORMANCE_NEEDS_INVALIDATION(ctx);
        mailbox_vf vf(ctx.vf0);
        VPCI_CONFORMANCE_START(vf);
        VPCI_CONFORMANCE_CHECK(detail::drain(vf));
        VPCI_CONFORMANCE_CHECK(detail::raise(ctx, vf, 1u << 5));
        VPCI_CONFORMANCE_CHECK(detail::wait_mask(vf, 1u << 5, "after the raise"));
        // The VF has read the mask; the PF raises the bit again; the VF acknowledges what it read.
        VPCI_CONFORMANCE_CHECK(detail::raise(ctx, vf, 1u << 5));
        detail::acknowledge(vf, 1u << 5);
        if (auto e = detail::wait_mask(vf, 1u << 5, "after the first acknowledgement"); !e.empty())
          return fail(e + " (state (1,1) acknowledged must be (1,0): the second raise was lost)");
        detail::acknowledge(vf, 1u << 5);
        VPCI_CONFORMANCE_CHECK(detail::wait_mask(vf, 0, "after the second acknowledgement"));
        return pass();
      });
  add("mailbox.invalidation_ack_unlatched", "protocol.md §4.3", "acknowledging bits that are not latched changes nothing",
      [](mailbox_context& ctx) {
        VPCI_CONFORMANCE_NEEDS_INVALIDATION(ctx);
        const block_spec* b = ctx.blocks.small_rw();
        if (!b) return skip(detail::missing("read-write block"));
        mailbox_vf vf(ctx.vf0);
        VPCI_CONFORMANCE_START(vf);
        VPCI_CONFORMANCE_CHECK(detail::drain(vf));
        VPCI_CONFORMANCE_CHECK(detail::raise(ctx, vf, 1u << 9));
        VPCI_CONFORMANCE_CHECK(detail::wait_mask(vf, 1u << 9, "after the raise"));
        detail::acknowledge(vf, (std::uint64_t{1} << 10) | (std::uint64_t{1} << 63));
        VPCI_CONFORMANCE_CHECK(detail::wait_mask(vf, 1u << 9, "after acknowledging bits not latched"));
        VPCI_CONFORMANCE_CHECK(expect_success(vf.read(b->id, b->size), b->size));
        detail::acknowledge(vf, 1u << 9);
        VPCI_CONFORMANCE_CHECK(detail::wait_mask(vf, 0, "after the acknowledgement"));
        return pass();
      });
  add("mailbox.invalidation_survives_reset", "protocol.md §4.3, §5.2", "a mailbox reset keeps the latch", [](mailbox_context& ctx) {
    VPCI_CONFORMANCE_NEEDS_INVALIDATION(ctx);
    mailbox_vf vf(ctx.vf0);
    VPCI_CONFORMANCE_START(vf);
    VPCI_CONFORMANCE_CHECK(detail::drain(vf));
    VPCI_CONFORMANCE_CHECK(detail::raise(ctx, vf, 1u << 2));
    VPCI_CONFORMANCE_CHECK(detail::wait_mask(vf, 1u << 2, "after the raise"));
    VPCI_CONFORMANCE_CHECK(vf.reset());
    VPCI_CONFORMANCE_CHECK(detail::wait_mask(vf, 1u << 2, "after the reset"));
    detail::acknowledge(vf, 1u << 2);
    VPCI_CONFORMANCE_CHECK(detail::wait_mask(vf, 0, "after the acknowledgement"));
    return pass();
  });

  // ---- 5.3: PF restart ----
  add("mailbox.pf_restart_epoch", "protocol.md §5.1, §5.3", "a restart: next epoch, reset values, a live window's request_block and data kept, the VF's next sequence adopted",
      [](mailbox_context& ctx) {
        if (!ctx.control) return skip("the tool cannot restart this PF (--restart-cmd)");
        if (auto why = ctx.control->can_restart(); !why.empty()) return skip(why);
        const block_spec* b = ctx.blocks.small_rw();
        if (!b) return skip(detail::missing("read-write block"));
        mailbox_vf vf(ctx.vf0);
        VPCI_CONFORMANCE_START(vf);
        const auto data = pattern(6000, b->size);
        VPCI_CONFORMANCE_CHECK(expect_success(vf.write(b->id, data), b->size));
        const std::uint8_t old_epoch = vf.epoch();
        // A live window (it shows an epoch) keeps what the VF composes: request_block and the data window.
        const std::uint32_t block_before = vf.rd(mailbox::reg::request_block);
        std::array<std::byte, mailbox::data_window_size> data_before{};
        if (auto e = ctx.vf0.read(mailbox::reg::data, data_before); !e.empty()) return fail(e);
        VPCI_CONFORMANCE_CHECK(vf.error());
        VPCI_CONFORMANCE_CHECK(ctx.control->restart());
        std::string why;
        const auto st = vf.wait_status([&](std::uint32_t s) { return mailbox::decode_status(s).epoch != old_epoch; }, why);
        if (!st) return fail("epoch still " + std::to_string(old_epoch) + " after the restart: " + why);
        const auto s = mailbox::decode_status(*st);
        const std::uint8_t expected = old_epoch >= 15 ? 1 : static_cast<std::uint8_t>(old_epoch + 1);
        if (s.epoch != expected) return fail("new epoch " + std::to_string(s.epoch) + ", expected " + std::to_string(expected));
        if (s.ack != 0 || s.count != 0 || s.failed) return fail("status " + hex(*st) + " after initialisation: ack, count, FAILED must be 0");
        const std::uint32_t rb = vf.rd(mailbox::reg::request_block), rq = vf.rd(mailbox::reg::request);
        const std::uint32_t result = vf.rd(mailbox::reg::result);
        if (rq != 0 || result != 0) return fail("request or result not zero after the restart");
        if (rb != block_before) return fail("request_block " + hex(rb) + " after the restart, the VF left " + hex(block_before) + " (a live window keeps it)");
        std::array<std::byte, mailbox::data_window_size> window{};
        if (auto e = ctx.vf0.read(mailbox::reg::data, window); !e.empty()) return fail(e);
        if (window != data_before) return fail("the data window changed in the restart (a live window keeps it)");
        // The VF goes on with its next sequence; nothing is quarantined.
        const auto r = vf.read(b->id, b->size);
        if (auto e = expect_success(r, b->size); !e.empty()) return fail("first request after the restart: " + e);
        return pass("epoch " + std::to_string(old_epoch) + " -> " + std::to_string(s.epoch));
      });

  add("mailbox.invalidation_survives_restart", "protocol.md §4.3, §5.3", "a bit latched before a PF restart is published again after it",
      [](mailbox_context& ctx) {
        VPCI_CONFORMANCE_NEEDS_INVALIDATION(ctx);
        if (auto why = ctx.control->can_restart(); !why.empty()) return skip(why);
        mailbox_vf vf(ctx.vf0);
        VPCI_CONFORMANCE_START(vf);
        VPCI_CONFORMANCE_CHECK(detail::drain(vf));
        VPCI_CONFORMANCE_CHECK(detail::raise(ctx, vf, 1u << 11));
        VPCI_CONFORMANCE_CHECK(detail::wait_mask(vf, 1u << 11, "after the raise"));
        const std::uint8_t old_epoch = vf.epoch();
        VPCI_CONFORMANCE_CHECK(ctx.control->restart());
        std::string why;
        if (!vf.wait_status([&](std::uint32_t s) { return mailbox::decode_status(s).epoch != old_epoch; }, why))
          return fail("no new epoch after the restart: " + why);
        VPCI_CONFORMANCE_CHECK(detail::wait_mask(vf, 1u << 11, "after the restart"));
        detail::acknowledge(vf, 1u << 11);
        VPCI_CONFORMANCE_CHECK(detail::wait_mask(vf, 0, "after the acknowledgement"));
        return pass();
      });


  // ---- 5.4: FLR ----
  add("mailbox.flr", "protocol.md §5.4, §5.1", "an FLR of a live window: new epoch, request_block and data zeroed, a stale doorbell not run, blocks and latch kept, quarantine lifted",
      [](mailbox_context& ctx) {
        if (!ctx.control) return skip("the tool cannot make this PF reset a VF (--flr-cmd)");
        if (auto why = ctx.control->can_flr(); !why.empty()) return skip(why);
        const block_spec* b = ctx.blocks.small_rw();
        if (!b) return skip(detail::missing("read-write block"));
        mailbox_vf vf(ctx.vf0);
        VPCI_CONFORMANCE_START(vf);
        // The previous user's traces: a latched invalidation, a write (its block ID and data in the window),
        // a quarantine (a skipped sequence).
        const bool latched = detail::cannot_invalidate(ctx).empty();
        if (latched) {
          VPCI_CONFORMANCE_CHECK(detail::drain(vf));
          VPCI_CONFORMANCE_CHECK(detail::raise(ctx, vf, 1u << 13));
          VPCI_CONFORMANCE_CHECK(detail::wait_mask(vf, 1u << 13, "after the raise"));
        }
        const auto data = pattern(9000, b->size);
        VPCI_CONFORMANCE_CHECK(expect_success(vf.write(b->id, data), b->size));
        const std::uint16_t bad = mailbox_vf::after(mailbox_vf::after(vf.sequence()));
        const auto q = vf.transact(mailbox::encode_request(bad, b->size, mailbox::operation::read), b->id);
        if (auto e = expect_failure(q, ntstatus::invalid_device_request); !e.empty()) return fail("a skipped sequence before the FLR: " + e);
        if (vf.rd(mailbox::reg::request_block) == 0) return fail("request_block reads 0 before the FLR");
        // The whole data window holds the previous user's bytes, so a zeroing that stops short shows.
        vf.put(mailbox::reg::data, std::vector<std::byte>(mailbox::data_window_size, std::byte{0xA5}), 4);
        VPCI_CONFORMANCE_CHECK(vf.error());
        const std::uint8_t old_epoch = mailbox::decode_status(q.status).epoch;
        VPCI_CONFORMANCE_CHECK(ctx.control->flr(0));
        std::string why;
        const auto st = vf.wait_status([&](std::uint32_t s) { return mailbox::decode_status(s).epoch != old_epoch; }, why);
        if (!st) return fail("epoch still " + std::to_string(old_epoch) + " after the FLR: " + why);
        const auto s = mailbox::decode_status(*st);
        const std::uint8_t expected = old_epoch >= 15 ? 1 : static_cast<std::uint8_t>(old_epoch + 1);
        if (s.epoch != expected) return fail("new epoch " + std::to_string(s.epoch) + ", expected " + std::to_string(expected));
        if (s.ack != 0 || s.count != 0 || s.failed) return fail("status " + hex(*st) + " after the FLR: ack, count, FAILED must be 0");
        const std::uint32_t rb = vf.rd(mailbox::reg::request_block), rq = vf.rd(mailbox::reg::request);
        const std::uint32_t result = vf.rd(mailbox::reg::result), control = vf.rd(mailbox::reg::control);
        const std::uint32_t ack_low = vf.rd(mailbox::reg::invalidate_ack_low), ack_high = vf.rd(mailbox::reg::invalidate_ack_high);
        VPCI_CONFORMANCE_CHECK(vf.error());
        if (rb != 0) return fail("request_block " + hex(rb) + " after the FLR: an FLR zeroes it, live window or not");
        if (rq != 0 || result != 0) return fail("request " + hex(rq) + ", result " + hex(result) + " after the FLR, expected 0");
        if ((control & ~mailbox::control_signal) != 0) return fail("control " + hex(control) + " after the FLR: bits other than SIGNAL must be clear");
        if (ack_low != 0 || ack_high != 0) return fail("acknowledgement registers not zero after the FLR");
        std::array<std::byte, mailbox::data_window_size> window{};
        if (auto e = ctx.vf0.read(mailbox::reg::data, window); !e.empty()) return fail(e);
        for (std::size_t i = 0; i < window.size(); ++i)
          if (window[i] != std::byte{0})
            return fail("data window byte " + std::to_string(i) + " is " + hex(std::to_integer<unsigned>(window[i]), 2) +
                        " after the FLR: an FLR zeroes the data window, live window or not");
        if (latched) {
          if (detail::read_mask(vf) != (1u << 13) || !s.invalidated)
            return fail("the latch after the FLR: mask " + hex(detail::read_mask(vf), 16) + ", status " + hex(*st) + " (an FLR keeps the latch)");
        }
        // A doorbell rung after the FLR with a sequence other than 1 belongs to a request composed before it,
        // whose block register and data the FLR zeroed: it is answered, not run (section 5.1), even though
        // this one rewrote both. A VF that probed the zeroed window would ring 1.
        if (vf.sequence() == 0xFFFF) vf.set_sequence(1);  // so that the next sequence is not 1
        const auto stale = vf.write(b->id, pattern(9001, b->size));
        if (auto e = expect_failure(stale, ntstatus::device_not_ready); !e.empty())
          return fail("sequence " + hex(vf.sequence(), 4) + " rung after the FLR: " + e);
        // The quarantine is lifted, the sequence after it runs, the block kept (the stale write not run).
        const auto r = vf.read(b->id, b->size);
        if (auto e = expect_success(r, b->size); !e.empty()) return fail("the request after the stale one: " + e);
        if (r.data != data) return fail("the block lost what was written before the FLR (an FLR keeps the VF's blocks)");
        if (latched) {
          detail::acknowledge(vf, 1u << 13);
          VPCI_CONFORMANCE_CHECK(detail::wait_mask(vf, 0, "after the acknowledgement"));
        }
        return pass("epoch " + std::to_string(old_epoch) + " -> " + std::to_string(s.epoch) + (latched ? ", latch kept" : ""));
      });

  // ---- 5.5: liveness ----
  add("mailbox.heartbeat", "protocol.md §5.5", "status bits 27:26 advance within the announced interval", [](mailbox_context& ctx) {
    mailbox_vf vf(ctx.vf0);
    const std::uint32_t identity = vf.rd(mailbox::reg::identity), limits = vf.rd(mailbox::reg::limits);
    VPCI_CONFORMANCE_CHECK(vf.error());
    if (((identity >> 16) & mailbox::capability::heartbeat) == 0) return skip("the PF does not announce HEARTBEAT");
    const std::uint32_t interval = limits >> 16;
    const std::uint8_t first = mailbox::decode_status(vf.rd(mailbox::reg::status)).heartbeat;
    const auto started = std::chrono::steady_clock::now();
    const auto limit = std::chrono::milliseconds(2 * interval + 20);
    while (std::chrono::steady_clock::now() - started < limit) {
      if (mailbox::decode_status(vf.rd(mailbox::reg::status)).heartbeat != first)
        return pass("interval " + std::to_string(interval) + " ms");
      VPCI_CONFORMANCE_CHECK(vf.error());
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    return fail("heartbeat unchanged for " + std::to_string(limit.count()) + " ms (announced interval " + std::to_string(interval) + " ms)");
  });


  // ---- 4.2 publish(): the PF's signal ----
  add("mailbox.signal", "protocol.md §4.2, §5.5", "control.SIGNAL set: signalled after an answer, an invalidation and its acknowledgement; not for a heartbeat alone",
      [](mailbox_context& ctx) {
        mailbox_vf vf(ctx.vf0);
        const std::uint32_t identity = vf.rd(mailbox::reg::identity), limits = vf.rd(mailbox::reg::limits);
        VPCI_CONFORMANCE_CHECK(vf.error());
        if (((identity >> 16) & mailbox::capability::signal) == 0) return skip("the PF does not announce SIGNAL (identity bit 17)");
        if (!ctx.vf0.signal_count()) return skip(ctx.vf0.signal_unobservable());
        const block_spec* b = ctx.blocks.small_rw();
        if (!b) return skip(detail::missing("read-write block"));
        VPCI_CONFORMANCE_START(vf);
        const bool invalidations = detail::cannot_invalidate(ctx).empty();
        if (invalidations) VPCI_CONFORMANCE_CHECK(detail::drain(vf));
        vf.wr(mailbox::reg::control, mailbox::control_signal);
        VPCI_CONFORMANCE_CHECK(vf.error());
        std::string checked = "answer";
        // An answer (status, data) changes what the VF reads.
        std::uint32_t seen = *ctx.vf0.signal_count();
        VPCI_CONFORMANCE_CHECK(expect_success(vf.read(b->id, b->size), b->size));
        VPCI_CONFORMANCE_CHECK(detail::wait_signal(ctx.vf0, seen, "an answer"));
        if (invalidations) {
          // A raise (mask, INVALIDATED), and the acknowledgement taken (the mask cleared). Through a trigger
          // block the raise rides on that request's answer; the acknowledgement is signalled on its own.
          seen = *ctx.vf0.signal_count();
          VPCI_CONFORMANCE_CHECK(detail::raise(ctx, vf, 1u << 14));
          VPCI_CONFORMANCE_CHECK(detail::wait_mask(vf, 1u << 14, "after the raise"));
          VPCI_CONFORMANCE_CHECK(detail::wait_signal(ctx.vf0, seen, "an invalidation"));
          seen = *ctx.vf0.signal_count();
          detail::acknowledge(vf, 1u << 14);
          VPCI_CONFORMANCE_CHECK(detail::wait_mask(vf, 0, "after the acknowledgement"));
          VPCI_CONFORMANCE_CHECK(detail::wait_signal(ctx.vf0, seen, "the acknowledgement was taken (mask cleared)"));
          checked += ", invalidation, acknowledgement";
        }
        if (((identity >> 16) & mailbox::capability::heartbeat) != 0 && (limits >> 16) != 0) {
          // Nothing but heartbeats for two beats: no signal (section 5.5).
          const std::uint32_t interval = limits >> 16;
          seen = *ctx.vf0.signal_count();
          std::uint8_t beat = mailbox::decode_status(vf.rd(mailbox::reg::status)).heartbeat;
          int beats = 0;
          const auto started = std::chrono::steady_clock::now();
          const auto limit = std::chrono::milliseconds(3 * interval + 50);
          while (beats < 2 && std::chrono::steady_clock::now() - started < limit) {
            const std::uint8_t now = mailbox::decode_status(vf.rd(mailbox::reg::status)).heartbeat;
            if (now != beat) {
              ++beats;
              beat = now;
            }
            std::this_thread::sleep_for(std::chrono::microseconds(200));
          }
          VPCI_CONFORMANCE_CHECK(vf.error());
          if (beats < 2) return fail("the heartbeat did not advance twice within " + std::to_string(limit.count()) + " ms");
          if (const auto now = *ctx.vf0.signal_count(); now != seen)
            return fail("signalled " + std::to_string(now - seen) + " times while only the heartbeat changed (a heartbeat alone does not signal)");
          checked += "; two heartbeats unsignalled";
        } else {
          checked += "; no HEARTBEAT: the heartbeat rule not checked";
        }
        vf.wr(mailbox::reg::control, 0);
        return pass(checked);
      });

  // ---- two VFs ----
  add("mailbox.isolation_two_vfs", "protocol.md §4.2, §4.4", "one VF's quarantine and invalidations do not reach the other",
      [](mailbox_context& ctx) {
        if (!ctx.vf1) return skip(detail::no_second_vf(ctx));
        const block_spec* b = ctx.blocks.small_rw();
        if (!b || !ctx.blocks.second_vf_block) return skip(detail::missing("read-write block and second VF block"));
        const block_spec other = *ctx.blocks.second_vf_block;
        mailbox_vf vf0(ctx.vf0), vf1(*ctx.vf1);
        VPCI_CONFORMANCE_START(vf0);
        VPCI_CONFORMANCE_START(vf1);
        const auto data = pattern(7000, other.size);
        VPCI_CONFORMANCE_CHECK(expect_success(vf1.write(other.id, data), other.size));
        // VF 0 cannot see VF 1's block.
        const auto denied = vf0.read(other.id, 128);
        if (auto e = expect_failure(denied, ntstatus::access_denied); !e.empty()) return fail("VF 0 reading VF 1's block: " + e);
        if (detail::cannot_invalidate(ctx).empty()) {
          VPCI_CONFORMANCE_CHECK(detail::drain(vf0));
          VPCI_CONFORMANCE_CHECK(detail::drain(vf1));
          VPCI_CONFORMANCE_CHECK(detail::raise(ctx, vf0, 1u << 4, 0));
          VPCI_CONFORMANCE_CHECK(detail::wait_mask(vf0, 1u << 4, "VF 0 after its raise"));
          if (detail::read_mask(vf1) != 0) return fail("VF 0's invalidation is latched in VF 1's window");
          detail::acknowledge(vf0, 1u << 4);
          VPCI_CONFORMANCE_CHECK(detail::wait_mask(vf0, 0, "VF 0 after the acknowledgement"));
        }
        // VF 0 quarantined: VF 1 is served.
        vf0.wr(mailbox::reg::request, mailbox::encode_request(mailbox_vf::after(mailbox_vf::after(vf0.sequence())), 4, operation::read));
        const auto r = vf1.read(other.id, other.size);
        if (auto e = expect_success(r, other.size); !e.empty()) return fail("VF 1 while VF 0 is quarantined: " + e);
        if (r.data != data) return fail("VF 1's block changed");
        VPCI_CONFORMANCE_CHECK(vf0.reset());
        return pass();
      });
  add("mailbox.flood_two_vfs", "protocol.md §4.1, §4.2", "VF 1 is answered while VF 0 floods its window", [](mailbox_context& ctx) {
    if (!ctx.vf1) return skip(detail::no_second_vf(ctx));
    const block_spec* b = ctx.blocks.small_rw();
    if (!b || !ctx.blocks.second_vf_block) return skip(detail::missing("read-write block and second VF block"));
    const block_spec other = *ctx.blocks.second_vf_block;
    mailbox_vf vf0(ctx.vf0), vf1(*ctx.vf1);
    VPCI_CONFORMANCE_START(vf0);
    VPCI_CONFORMANCE_START(vf1);
    for (int round = 0; round < 50; ++round) {
      for (int i = 0; i < 20; ++i) {
        vf0.wr(mailbox::reg::request_block, b->id);
        vf0.wr(mailbox::reg::request, mailbox::encode_request(vf0.next_sequence(), b->size, operation::read));
      }
      const auto data = pattern(static_cast<std::uint32_t>(8000 + round), other.size);
      const auto w = vf1.write(other.id, data);
      if (auto e = expect_success(w, other.size); !e.empty()) return fail("VF 1, round " + std::to_string(round) + ": " + e);
      const auto r = vf1.read(other.id, other.size);
      if (auto e = expect_success(r, other.size); !e.empty()) return fail("VF 1, round " + std::to_string(round) + ": " + e);
      if (r.data != data) return fail("VF 1's block does not read back in round " + std::to_string(round));
    }
    VPCI_CONFORMANCE_CHECK(vf0.reset());
    return pass("1000 VF 0 doorbells, 100 VF 1 requests");
  });
  return cases;
}

#undef VPCI_CONFORMANCE_NEEDS_INVALIDATION
#undef VPCI_CONFORMANCE_START
#undef VPCI_CONFORMANCE_CHECK

}  // namespace vpci::conformance
