// Replays trace.hpp's recorded VF accesses against vpci's PF engine (a layout-2 mailbox session over an
// in-RAM window) and prints every step as one text line: the VF's accesses, each PF service with its event,
// and each register write the PF performs (offset, width in bytes, value as little-endian dwords). A VF
// read whose recorded value the window does not hold is printed as a MISMATCH. One source for the host
// program and the Cortex-M4 image: freestanding (no heap, no exceptions, no stdio; the caller's sink
// writes the lines), so the two outputs can be compared byte for byte.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include <vpci/block/endian.hpp>
#include <vpci/engine/pf_blocks.hpp>
#include <vpci/engine/pf_mailbox.hpp>
#include <vpci/wire/mailbox.hpp>

#include "trace.hpp"

namespace vpci_firmware {

// One output line, built without printf; `Sink` is called with each line (NUL-terminated, '\n' included).
template <class Sink>
class line_printer {
 public:
  explicit line_printer(Sink& sink) noexcept : sink_(&sink) {}

  line_printer& text(const char* s) noexcept {
    while (*s != '\0') put(*s++);
    return *this;
  }
  // 0x followed by `digits` upper-case hex digits.
  line_printer& hex(std::uint32_t value, int digits = 8) noexcept {
    text("0x");
    for (int shift = 4 * (digits - 1); shift >= 0; shift -= 4) put("0123456789ABCDEF"[(value >> shift) & 0xFu]);
    return *this;
  }
  line_printer& dec(std::size_t value) noexcept {
    char digits[20];
    int n = 0;
    do {
      digits[n++] = static_cast<char>('0' + value % 10);
      value /= 10;
    } while (value != 0);
    while (n > 0) put(digits[--n]);
    return *this;
  }
  void end_line() noexcept {
    // A line too long for the buffer is cut and marked; it then differs from the host's, visibly.
    if (overflow_) {
      length_ = capacity - 5;
      for (const char c : {'.', '.', '.'}) line_[length_++] = c;
    }
    line_[length_++] = '\n';
    line_[length_] = '\0';
    (*sink_)(line_.data(), length_);
    length_ = 0;
    overflow_ = false;
  }

 private:
  // The longest line: a 128-byte data write, 32 dwords of 11 characters after its prefix.
  static constexpr std::size_t capacity = 400;

  void put(char c) noexcept {
    if (length_ < capacity - 2) line_[length_++] = c;
    else overflow_ = true;
  }

  Sink* sink_;
  std::array<char, capacity> line_{};
  std::size_t length_{0};
  bool overflow_{false};
};

struct replay_summary {
  std::size_t steps{0};
  std::size_t pf_writes{0};
  std::size_t mismatches{0};
};

constexpr const char* event_name(vpci::engine::mailbox_event event) noexcept {
  using vpci::engine::mailbox_event;
  switch (event) {
    case mailbox_event::none: return "none";
    case mailbox_event::initialized: return "initialized";
    case mailbox_event::served: return "served";
    case mailbox_event::violation: return "violation";
    case mailbox_event::reset: return "reset";
    case mailbox_event::invalidation: return "invalidation";
    case mailbox_event::restored: return "restored";
    case mailbox_event::heartbeat: return "heartbeat";
  }
  return "unknown";
}

// The PF firmware's state for one VF: its block store, its mailbox session, and the VF's window (the
// registers the PF's writes land in and the VF's accesses touch).
class pf_firmware {
 public:
  using store_type = vpci::engine::static_pf_blocks<1, 3, 24>;
  using session_type = vpci::engine::pf_mailbox_session<1>;
  static constexpr vpci::engine::vf_index vf = 0;

  // Returns false (with the reason printed) when the store refuses the setup.
  template <class Sink>
  bool set_up(line_printer<Sink>& out) noexcept {
    using vpci::block_id;
    using vpci::engine::block_access;
    std::array<std::byte, 16> block5{};
    for (std::size_t i = 0; i < block5.size(); ++i) block5[i] = static_cast<std::byte>(0xA0 + i);
    const std::array<std::byte, 4> block6{};
    const std::array<std::byte, 4> block7{std::byte{1}, std::byte{2}, std::byte{3}, std::byte{4}};
    if (store_.register_vf(vf, 0x0101) != vpci::no_error ||
        store_.define_block(vf, block_id{5}, block5) != vpci::no_error ||
        store_.define_block(vf, block_id{6}, block6) != vpci::no_error ||
        store_.define_block(vf, block_id{7}, block7, block_access::read_only) != vpci::no_error) {
      out.text("SETUP FAILED: the store refused VF 0 or its blocks").end_line();
      return false;
    }
    // The DVSEC headers as placement wrote them (not the session's: it owns 0x0C onwards).
    store_u32(vpci::mailbox::reg::ext_header, 0x00010023);
    store_u32(vpci::mailbox::reg::dvsec_header1, 0x1AF4u | (std::uint32_t{vpci::mailbox::dvsec_revision} << 16) |
                                                     (std::uint32_t{vpci::mailbox::window_size} << 20));
    store_u32(vpci::mailbox::reg::dvsec_header2, vpci::mailbox::default_dvsec_id);
    return true;
  }

  template <class Sink>
  void run(const step& s, line_printer<Sink>& out, replay_summary& summary) noexcept {
    ++summary.steps;
    switch (s.kind) {
      case step_kind::scenario: out.text("== ").text(s.text).end_line(); return;
      case step_kind::initialize:
        out.text("PF initialize").end_line();
        apply(session_.initialize(window_), out, summary);
        return;
      case step_kind::flr:
        out.text("PF FLR: reset_vf, initialize").end_line();
        if (store_.reset_vf(vf) != vpci::no_error) {
          out.text("MISMATCH: reset_vf refused VF 0").end_line();
          ++summary.mismatches;
        }
        apply(session_.initialize(window_, 0, /*function_reset=*/true), out, summary);
        return;
      case step_kind::raise:
        out.text("PF invalidate block ").dec(s.value).end_line();
        if (store_.invalidate(vf, vpci::block_id{s.value}) != vpci::no_error) {
          out.text("MISMATCH: the store refused the invalidation").end_line();
          ++summary.mismatches;
        }
        return;
      case step_kind::service: {
        // The session decides on a copy of the window, as a binding hands it a snapshot.
        const std::array<std::byte, vpci::mailbox::window_size> snapshot = window_;
        const auto& writes = session_.service(snapshot);
        out.text("PF service: ").text(event_name(session_.last_event())).text(", ").dec(writes.size()).text(" writes").end_line();
        apply(writes, out, summary);
        return;
      }
      case step_kind::vf_write:
        out.text("VF W ").hex(s.offset, 2).text(" ").hex(s.value).end_line();
        if (!in_window(s.offset, 4)) return outside(out, summary);
        store_u32(s.offset, s.value);
        return;
      case step_kind::vf_read: {
        out.text("VF R ").hex(s.offset, 2).text(" ");
        if (!in_window(s.offset, 4)) return outside(out, summary);
        const std::uint32_t actual = vpci::le::load_u32(window_.data() + s.offset);
        out.hex(actual);
        if (actual != s.value) {
          out.text(" MISMATCH: the trace recorded ").hex(s.value);
          ++summary.mismatches;
        }
        out.end_line();
        return;
      }
    }
    out.text("MISMATCH: unknown step").end_line();
    ++summary.mismatches;
  }

 private:
  template <class Writes, class Sink>
  void apply(const Writes& writes, line_printer<Sink>& out, replay_summary& summary) noexcept {
    for (const vpci::engine::register_write& w : writes) {
      ++summary.pf_writes;
      out.text("PF W ").hex(w.offset, 2).text(" ").dec(w.bytes.size());
      if (!in_window(w.offset, w.bytes.size()) || w.offset % 4 != 0 || w.bytes.size() % 4 != 0) {
        out.text(" MISMATCH: not whole dwords inside the window").end_line();
        ++summary.mismatches;
        continue;
      }
      for (std::size_t i = 0; i < w.bytes.size(); i += 4) out.text(" ").hex(vpci::le::load_u32(w.bytes.data() + i));
      out.end_line();
      for (std::size_t i = 0; i < w.bytes.size(); ++i) window_[w.offset + i] = w.bytes[i];
    }
  }
  static constexpr bool in_window(std::size_t offset, std::size_t length) noexcept {
    return offset <= vpci::mailbox::window_size && length <= vpci::mailbox::window_size - offset;
  }
  template <class Sink>
  static void outside(line_printer<Sink>& out, replay_summary& summary) noexcept {
    out.text(" MISMATCH: outside the window").end_line();
    ++summary.mismatches;
  }
  void store_u32(std::size_t offset, std::uint32_t value) noexcept { vpci::le::store_u32(window_.data() + offset, value); }

  store_type store_{};
  session_type session_{store_, vf};
  std::array<std::byte, vpci::mailbox::window_size> window_{};
};

// Replays the recorded trace and prints the summary line; returns the process status: 0 when every
// recorded read matched, 1 otherwise.
template <class Sink>
int replay(Sink& sink) noexcept {
  line_printer<Sink> out(sink);
  pf_firmware firmware;
  replay_summary summary;
  if (!firmware.set_up(out)) return 1;
  for (const step& s : recorded_trace) firmware.run(s, out, summary);
  out.text("vpci PF engine replay: ").dec(summary.steps).text(" steps, ").dec(summary.pf_writes).text(" PF writes, ")
      .dec(summary.mismatches).text(" mismatches").end_line();
  return summary.mismatches == 0 ? 0 : 1;
}

}  // namespace vpci_firmware
