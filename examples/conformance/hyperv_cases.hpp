// vpci-conformance, binding 2: the cases that check a PF's Hyper-V vPCI message service over a stream
// against docs/hyperv-binding.md, acting as a VF that writes raw frames (built here byte by byte, not with
// vpci's encoders, so the tool does not share the implementation's assumptions).
//
// Each case opens its own stream(s) through a stream_target. The well-behaved cases run first; the cases
// that commit a protocol violation quarantine the VF (docs/hyperv-binding.md: until the PF resets it), so
// they run last, each on a fresh stream, and end with hyperv.quarantine_persists, which checks that the
// quarantine holds on a new stream. A PF under test must lift the quarantine (reset the VF) before the
// next run. Every receive is bounded by the answer timeout: a PF that never answers is a FAIL, never a hang.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <vpci/block/endian.hpp>
#include <vpci/protocol/ntstatus.hpp>

#include "mailbox_cases.hpp"  // pattern()
#include "profile.hpp"
#include "report.hpp"

namespace vpci::conformance {

// One stream to the PF, as the VF holds it.
class stream_port {
 public:
  enum class io { ok, eof, timeout, error };
  virtual ~stream_port() = default;
  // Writes every byte. Returns an error text (empty: done).
  virtual std::string send(std::span<const std::byte> bytes) = 0;
  // Reads exactly out.size() bytes within `timeout` (eof: the PF closed the stream before they all came).
  virtual io receive(std::span<std::byte> out, std::chrono::milliseconds timeout) = 0;
  // Writes as much of `bytes` as the stream takes before it stays full for `timeout`; returns how much.
  virtual std::size_t send_within(std::span<const std::byte> bytes, std::chrono::milliseconds timeout) = 0;
  // Ends the VF's sending direction (the PF sees the end of the stream).
  virtual void shutdown_send() = 0;
  // Waits, reading nothing, until the PF has ended the stream (closed or reset it) or `bound` passed; true
  // if it ended. A PF that closes with requests unread resets the stream, which shows at once; a clean end
  // queued behind answers the VF has not read shows only to reads.
  virtual bool wait_ended(std::chrono::milliseconds bound) = 0;
};

// Opens streams to the PF: `vf` 0 is the VF under test, 1 the second VF (isolation, flood).
class stream_target {
 public:
  virtual ~stream_target() = default;
  virtual std::unique_ptr<stream_port> connect(int vf, std::string& error) = 0;
  [[nodiscard]] virtual bool has_second() const = 0;
};

struct hyperv_context {
  stream_target& target;
  const profile& blocks;
  pf_control* control{nullptr};
  std::uint32_t wslot{0x22};         // the VF under test's wslot (device | function << 5)
  std::uint32_t second_wslot{0x42};  // the second VF's
  std::chrono::milliseconds timeout{1000};
  std::optional<std::chrono::milliseconds> stall{};  // the PF's stall timeout, when given (--stall-ms)
  // What the stall case allows beyond two stall timeouts: room for a loaded host, not the PF's.
  std::chrono::milliseconds stall_margin{5000};
};

struct hyperv_case {
  std::string_view name;
  std::string_view section;
  std::string_view checks;
  std::function<case_result(hyperv_context&)> run;
};

namespace hv {

inline constexpr std::uint32_t msg_read = 0x42490009;
inline constexpr std::uint32_t msg_write = 0x4249000A;
inline constexpr std::uint32_t msg_invalidate = 0x42490012;
inline constexpr std::uint32_t msg_version = 0x42490013;
inline constexpr std::uint16_t type_inband = 6;
inline constexpr std::uint16_t type_completion = 11;
inline constexpr std::uint32_t version_1_1 = 0x10001;
inline constexpr std::uint32_t version_1_4 = 0x10004;

inline void put32(std::vector<std::byte>& out, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<std::byte>((v >> (8 * i)) & 0xFF));
}
inline std::uint32_t get32(std::span<const std::byte> in, std::size_t at) { return le::load_u32(in.data() + at); }
inline std::uint64_t get64(std::span<const std::byte> in, std::size_t at) {
  return std::uint64_t{get32(in, at)} | (std::uint64_t{get32(in, at + 4)} << 32);
}

struct frame_options {
  std::uint16_t type{type_inband};
  std::uint16_t flags{1};
  std::byte padding{0};
  bool unpadded{false};                   // L = the packet's exact length (up to 7 short of len8 * 8)
  std::optional<std::uint16_t> len8{};    // a wrong len8
  std::optional<std::uint32_t> length{};  // a wrong L
};

// A packet that asks for no completion (flags 0), as a PF sends INVALIDATE_BLOCK and pci-hyperv its
// QUERY_BUS_RELATIONS.
inline frame_options without_completion() {
  frame_options o;
  o.flags = 0;
  return o;
}

// A frame: L, the 16-byte descriptor, `payload`, padding to 8 bytes.
inline std::vector<std::byte> frame(std::uint64_t txid, std::span<const std::byte> payload, frame_options o = {}) {
  const std::size_t raw = 16 + payload.size();
  const std::size_t padded = (raw + 7) & ~std::size_t{7};
  std::vector<std::byte> out;
  put32(out, o.length.value_or(static_cast<std::uint32_t>(o.unpadded ? raw : padded)));
  put32(out, std::uint32_t{o.type} | (std::uint32_t{2} << 16));
  put32(out, std::uint32_t{o.len8.value_or(static_cast<std::uint16_t>(padded / 8))} | (std::uint32_t{o.flags} << 16));
  put32(out, static_cast<std::uint32_t>(txid));
  put32(out, static_cast<std::uint32_t>(txid >> 32));
  out.insert(out.end(), payload.begin(), payload.end());
  if (!o.unpadded) out.resize(4 + padded, o.padding);
  return out;
}
inline std::vector<std::byte> words(std::initializer_list<std::uint32_t> values) {
  std::vector<std::byte> out;
  for (const std::uint32_t v : values) put32(out, v);
  return out;
}
inline std::vector<std::byte> version_frame(std::uint64_t txid, std::uint32_t version) {
  return frame(txid, words({msg_version, version}));
}
inline std::vector<std::byte> read_frame(std::uint64_t txid, std::uint32_t block, std::uint32_t wslot, std::uint32_t length) {
  return frame(txid, words({msg_read, block, wslot, length}));
}
inline std::vector<std::byte> write_payload(std::uint32_t block, std::uint32_t wslot, std::uint32_t count,
                                            std::span<const std::byte> data, bool linux_tail) {
  auto p = words({msg_write, block, wslot, count});
  p.insert(p.end(), data.begin(), data.end());
  if (linux_tail) put32(p, 0);
  return p;
}
inline std::vector<std::byte> write_frame(std::uint64_t txid, std::uint32_t block, std::uint32_t wslot,
                                          std::span<const std::byte> data, bool linux_tail = true) {
  return frame(txid, write_payload(block, wslot, static_cast<std::uint32_t>(data.size()), data, linux_tail));
}

// A packet the PF sent: its descriptor fields and the bytes after the descriptor.
struct packet {
  std::uint32_t length{0};  // L
  std::uint16_t type{0}, offset8{0}, len8{0}, flags{0};
  std::uint64_t txid{0};
  std::vector<std::byte> body;  // L - 16 bytes

  [[nodiscard]] std::uint32_t status() const { return body.size() >= 4 ? get32(body, 0) : 0xFFFFFFFF; }
};

// A VF's stream with the frame discipline of the doc.
class vf_stream {
 public:
  vf_stream(hyperv_context& ctx, int vf = 0) : ctx_(ctx) { port_ = ctx.target.connect(vf, error_); }

  [[nodiscard]] bool connected() const { return port_ != nullptr; }
  [[nodiscard]] const std::string& error() const { return error_; }
  stream_port& port() { return *port_; }

  std::string send(std::span<const std::byte> bytes) { return port_->send(bytes); }

  // Receives one frame; checks the framing rules every PF packet must meet (L = len8 * 8, 16..168,
  // payload offset 2). Returns an error text.
  std::string receive(packet& p) {
    std::array<std::byte, 4> prefix{};
    switch (port_->receive(prefix, ctx_.timeout)) {
      case stream_port::io::ok: break;
      case stream_port::io::eof: return "the PF closed the stream";
      case stream_port::io::timeout: return "no answer within " + std::to_string(ctx_.timeout.count()) + " ms";
      case stream_port::io::error: return "stream error";
    }
    return receive_after(prefix, p);
  }

  // Invalidations may come between any two answers (and again on a VF's next stream: a PF cannot know
  // that a stream it wrote one into was read, hyperv-binding.md §Invalidations): the answer-waiting calls
  // set them aside here, as a VF does.
  [[nodiscard]] std::uint64_t invalidations_seen() const { return invalidations_; }
  static bool is_invalidation(const packet& p) {
    return p.type == type_inband && p.body.size() >= 16 && get32(p.body, 0) == msg_invalidate;
  }
  // The next frame that is not an invalidation.
  std::string next_answer(packet& p) {
    for (;;) {
      if (auto e = receive(p); !e.empty()) return e;
      if (!is_invalidation(p)) return {};
      invalidations_ |= get64(p.body, 8);
    }
  }

 private:
  std::string receive_after(std::span<const std::byte, 4> prefix, packet& p) {
    p.length = get32(prefix, 0);
    if (p.length < 16 || p.length > 168) return "the PF sent a frame length of " + std::to_string(p.length);
    std::vector<std::byte> bytes(p.length);
    if (port_->receive(bytes, ctx_.timeout) != stream_port::io::ok) return "the PF's frame ended early";
    p.type = static_cast<std::uint16_t>(get32(bytes, 0) & 0xFFFF);
    p.offset8 = static_cast<std::uint16_t>(get32(bytes, 0) >> 16);
    p.len8 = static_cast<std::uint16_t>(get32(bytes, 4) & 0xFFFF);
    p.flags = static_cast<std::uint16_t>(get32(bytes, 4) >> 16);
    p.txid = get64(bytes, 8);
    p.body.assign(bytes.begin() + 16, bytes.end());
    if (p.length % 8 != 0 || std::size_t{p.len8} * 8 != p.length)
      return "frame L " + std::to_string(p.length) + " with len8 " + std::to_string(p.len8) + ": a sender writes L = len8 * 8";
    if (p.offset8 != 2) return "payload offset8 " + std::to_string(p.offset8) + ", expected 2";
    return {};
  }

 public:

  // Receives a completion echoing `txid` of exactly `length` bytes (L).
  std::string completion(packet& p, std::uint64_t txid, std::optional<std::uint32_t> length = {}) {
    if (auto e = next_answer(p); !e.empty()) return e;
    if (p.type != type_completion || p.flags != 0)
      return "packet type " + std::to_string(p.type) + " flags " + std::to_string(p.flags) + ", expected a completion (11, 0)";
    if (p.txid != txid) return "transaction ID " + hex(p.txid, 16) + ", expected " + hex(txid, 16);
    if (length && p.length != *length)
      return "completion of " + std::to_string(p.length) + " bytes (status " + hex(p.status()) + "), expected " + std::to_string(*length);
    return {};
  }

  // Version negotiation as a pci-hyperv guest: 1.4 down to 1.1.
  std::string negotiate() {
    std::uint64_t txid = 1;
    for (std::uint32_t v = version_1_4; v >= version_1_1; --v, ++txid) {
      if (auto e = send(version_frame(txid, v)); !e.empty()) return e;
      packet p;
      if (auto e = completion(p, txid, 24); !e.empty()) return "version offer " + hex(v) + ": " + e;
      if (p.status() == 0) return {};
      if (p.status() != static_cast<std::uint32_t>(ntstatus::revision_mismatch))
        return "version offer " + hex(v) + " refused with " + hex(p.status());
    }
    return "every version 1.4..1.1 refused";
  }

  // A read: the answer's status, and its data (every byte after the status).
  std::string read(std::uint32_t block, std::uint32_t length, packet& p, std::uint64_t txid = 0x10000,
                   std::optional<std::uint32_t> wslot = {}) {
    if (auto e = send(read_frame(txid, block, wslot.value_or(ctx_.wslot), length)); !e.empty()) return e;
    return completion(p, txid);
  }
  std::string write(std::uint32_t block, std::span<const std::byte> data, packet& p, std::uint64_t txid = 0x10000) {
    if (auto e = send(write_frame(txid, block, ctx_.wslot, data)); !e.empty()) return e;
    return completion(p, txid, 24);
  }

  // The PF must close the stream without answering (a protocol violation).
  std::string expect_closed() {
    std::array<std::byte, 4> prefix{};
    switch (port_->receive(prefix, ctx_.timeout)) {
      case stream_port::io::eof: return {};
      case stream_port::io::ok: {
        packet p;
        if (receive_after(prefix, p).empty() && is_invalidation(p)) {  // set aside; the close may follow
          invalidations_ |= get64(p.body, 8);
          return expect_closed();
        }
        return "the PF answered (frame length " + std::to_string(get32(prefix, 0)) + ") instead of closing the stream";
      }
      case stream_port::io::timeout:
        return "the stream was still open " + std::to_string(ctx_.timeout.count()) + " ms later (expected the PF to close it)";
      case stream_port::io::error: return {};  // a reset connection is closed too
    }
    return {};
  }

 private:
  hyperv_context& ctx_;
  std::unique_ptr<stream_port> port_;
  std::string error_;
  std::uint64_t invalidations_{0};
};

// Answer checks: a read success carries exactly `requested` bytes (rule 4), padded; a failure is the
// bare status, 20 bytes padded to 24.
inline std::string expect_read(const packet& p, std::uint32_t requested) {
  const std::uint32_t exact = (20 + requested + 7) & ~7u;
  if (p.status() != 0) return "status " + hex(p.status()) + ", expected STATUS_SUCCESS";
  if (p.length != exact) return "read answer of " + std::to_string(p.length) + " bytes, expected " + std::to_string(exact) + " (20 + " + std::to_string(requested) + ", padded)";
  return {};
}
inline std::string expect_status(const packet& p, ntstatus expected, std::uint32_t length = 24) {
  if (p.status() != static_cast<std::uint32_t>(expected))
    return "status " + hex(p.status()) + ", expected " + hex(static_cast<std::uint32_t>(expected));
  if (p.length != length) return "answer of " + std::to_string(p.length) + " bytes, expected " + std::to_string(length);
  return {};
}
inline std::vector<std::byte> data_of(const packet& p, std::size_t n) {
  if (p.body.size() < 4 + n) return {};
  return {p.body.begin() + 4, p.body.begin() + 4 + static_cast<std::ptrdiff_t>(n)};
}

// The stream still serves: a read of `b` (the small read-write block) is answered with its bytes. Nothing
// to check without one (the stream staying open is then all the case shows).
inline std::string still_served(vf_stream& s, const block_spec* b) {
  if (!b) return {};
  packet p;
  if (auto e = s.read(b->id, static_cast<std::uint32_t>(b->size), p, 0x30000); !e.empty()) return "the read after it: " + e;
  if (auto e = expect_read(p, static_cast<std::uint32_t>(b->size)); !e.empty()) return "the read after it: " + e;
  return {};
}

#define VPCI_HV_CHECK(text)                        \
  if (auto checked_ = (text); !checked_.empty()) return fail(checked_)
#define VPCI_HV_OPEN(stream)                                                       \
  if (!(stream).connected()) return fail("cannot connect: " + (stream).error()); \
  if (auto negotiated_ = (stream).negotiate(); !negotiated_.empty()) return fail(negotiated_)

// Sends copies of the request `one` without reading any answer until the PF takes nothing for two windows
// in a row: the stream is stalled (its answers fill the VF's receive side, it cannot write, it stops
// reading). One window without progress could be a PF that was only descheduled, or TCP buffers still
// growing. Each send continues the request the previous one cut. Returns the bytes sent, or nothing when
// the stream never filled (bounded: 4096 windows).
inline std::optional<std::size_t> stall_stream(stream_port& port, const std::vector<std::byte>& one, std::chrono::milliseconds window) {
  std::vector<std::byte> bytes;
  for (int i = 0; i < 1024; ++i) bytes.insert(bytes.end(), one.begin(), one.end());
  std::size_t sent = 0;
  int idle = 0;
  for (int round = 0; round < 4096 && idle < 2; ++round) {
    const std::size_t n = port.send_within(std::span<const std::byte>(bytes).subspan(sent % one.size()), window);
    sent += n;
    idle = n == 0 ? idle + 1 : 0;
  }
  if (idle < 2) return std::nullopt;
  return sent;
}

// A status-table row over binding 2.
inline case_result status_row(hyperv_context& ctx, std::optional<std::uint32_t> block, std::string_view role,
                              std::vector<std::byte> (*make)(hyperv_context&, std::uint32_t), ntstatus expected) {
  if (!block) return skip(missing(role));
  vf_stream s(ctx);
  VPCI_HV_OPEN(s);
  VPCI_HV_CHECK(s.send(make(ctx, *block)));
  packet p;
  VPCI_HV_CHECK(s.completion(p, 0x10000));
  VPCI_HV_CHECK(expect_status(p, expected));
  return pass("status " + hex(static_cast<std::uint32_t>(expected)));
}

// A violation: the frame is sent on a negotiated stream (or a fresh one); the PF closes the stream
// without answering.
enum class negotiation { none, tried, agreed };
inline case_result violation(hyperv_context& ctx, const std::vector<std::byte>& bytes, negotiation n = negotiation::tried) {
  vf_stream s(ctx);
  if (!s.connected()) return fail("cannot connect: " + s.error());
  if (n != negotiation::none) {
    // A stream of an already quarantined VF has its offer refused (ACCESS_DENIED): most violations are
    // judged all the same; one that needs an agreed version cannot be.
    if (auto e = s.negotiate(); !e.empty()) {
      if (e.find(hex(static_cast<std::uint32_t>(ntstatus::access_denied))) == std::string::npos) return fail(e);
      if (n == negotiation::agreed) return skip("the VF is quarantined already (its offer is refused): reset it first");
    }
  }
  VPCI_HV_CHECK(s.send(bytes));
  VPCI_HV_CHECK(s.expect_closed());
  return pass("stream closed, no answer");
}

}  // namespace hv

inline std::vector<hyperv_case> hyperv_cases() {
  using namespace hv;
  std::vector<hyperv_case> cases;
  auto add = [&](std::string_view name, std::string_view section, std::string_view checks,
                 std::function<case_result(hyperv_context&)> run) {
    cases.push_back({name, section, checks, std::move(run)});
  };
  auto small = [](hyperv_context& ctx) { return ctx.blocks.small_rw(); };

  add("hyperv.version_negotiation", "hyperv-binding.md §Version negotiation", "1.4 offered: STATUS_SUCCESS, the version echoed, 24 bytes",
      [](hyperv_context& ctx) {
        vf_stream s(ctx);
        if (!s.connected()) return fail("cannot connect: " + s.error());
        VPCI_HV_CHECK(s.send(version_frame(1, version_1_4)));
        packet p;
        VPCI_HV_CHECK(s.completion(p, 1, 24));
        if (p.status() == static_cast<std::uint32_t>(ntstatus::revision_mismatch)) return pass("1.4 refused with REVISION_MISMATCH");
        if (p.status() != 0) return fail("status " + hex(p.status()));
        if (get32(p.body, 4) != version_1_4) return fail("version field " + hex(get32(p.body, 4)) + ", expected 0x00010004");
        return pass();
      });
  add("hyperv.version_mismatch", "hyperv-binding.md §Version negotiation", "an unknown version: REVISION_MISMATCH; a lower offer then agrees",
      [](hyperv_context& ctx) {
        vf_stream s(ctx);
        if (!s.connected()) return fail("cannot connect: " + s.error());
        VPCI_HV_CHECK(s.send(version_frame(1, 0x00090000)));
        packet p;
        VPCI_HV_CHECK(s.completion(p, 1, 24));
        VPCI_HV_CHECK(expect_status(p, ntstatus::revision_mismatch));
        VPCI_HV_CHECK(s.send(version_frame(2, version_1_1)));
        VPCI_HV_CHECK(s.completion(p, 2, 24));
        if (p.status() != 0) return fail("1.1 after a mismatch: status " + hex(p.status()));
        // The channel works: a read is served.
        if (const block_spec* b = ctx.blocks.small_rw()) {
          VPCI_HV_CHECK(s.read(b->id, static_cast<std::uint32_t>(b->size), p));
          VPCI_HV_CHECK(expect_read(p, static_cast<std::uint32_t>(b->size)));
        }
        return pass();
      });
  add("hyperv.read_exact_length", "hyperv-binding.md §Padding rule 4", "a read answer carries exactly bytes_requested, padded",
      [small](hyperv_context& ctx) {
        const block_spec* b = small(ctx);
        if (!b) return skip(missing("read-write block"));
        vf_stream s(ctx);
        VPCI_HV_OPEN(s);
        packet p;
        VPCI_HV_CHECK(s.read(b->id, static_cast<std::uint32_t>(b->size), p));
        VPCI_HV_CHECK(expect_read(p, static_cast<std::uint32_t>(b->size)));
        return pass();
      });
  add("hyperv.read_longer_than_block", "hyperv-binding.md §Padding rule 4", "a read longer than the block: the block, then zeros, bytes_requested in all",
      [small](hyperv_context& ctx) {
        const block_spec* b = small(ctx);
        if (!b) return skip(missing("read-write block"));
        vf_stream s(ctx);
        VPCI_HV_OPEN(s);
        const auto data = pattern(11, b->size);
        packet p;
        VPCI_HV_CHECK(s.write(b->id, data, p));
        VPCI_HV_CHECK(expect_status(p, ntstatus::success));
        const auto n = static_cast<std::uint32_t>(b->size + 8);
        VPCI_HV_CHECK(s.read(b->id, n, p, 0x10001));
        VPCI_HV_CHECK(expect_read(p, n));
        auto expected = data;
        expected.resize(n);
        if (data_of(p, n) != expected) return fail("the answer is not the block's bytes followed by zeros");
        return pass();
      });
  add("hyperv.write_then_read", "hyperv-binding.md §What the PF session answers", "a write (Linux tail) completes with 24 bytes; the block reads back",
      [](hyperv_context& ctx) {
        vf_stream s(ctx);
        VPCI_HV_OPEN(s);
        int checked = 0;
        for (const block_spec* b : {ctx.blocks.small_rw(), ctx.blocks.full_rw()}) {
          if (!b) continue;
          const auto data = pattern(b->id + 77, b->size);
          packet p;
          VPCI_HV_CHECK(s.write(b->id, data, p));
          VPCI_HV_CHECK(expect_status(p, ntstatus::success));
          VPCI_HV_CHECK(s.read(b->id, static_cast<std::uint32_t>(b->size), p, 0x20000));
          VPCI_HV_CHECK(expect_read(p, static_cast<std::uint32_t>(b->size)));
          if (data_of(p, b->size) != data) return fail("block " + hex(b->id) + " does not read back");
          ++checked;
        }
        if (checked == 0) return skip(missing("read-write block"));
        return pass(std::to_string(checked) + " blocks (128 bytes: the largest frame, 168)");
      });
  add("hyperv.length_0", "hyperv-binding.md §What the PF session answers 4", "read and write of 0 bytes: STATUS_INVALID_PARAMETER",
      [small](hyperv_context& ctx) {
        const block_spec* b = small(ctx);
        if (!b) return skip(missing("read-write block"));
        auto r = status_row(ctx, b->id, "", [](hyperv_context& c, std::uint32_t id) { return read_frame(0x10000, id, c.wslot, 0); },
                            ntstatus::invalid_parameter);
        if (r.outcome != verdict::pass) return r;
        return status_row(ctx, b->id, "", [](hyperv_context& c, std::uint32_t id) { return write_frame(0x10000, id, c.wslot, {}); },
                          ntstatus::invalid_parameter);
      });
  add("hyperv.length_1", "hyperv-binding.md §What the PF session answers 5", "1 byte: read BUFFER_TOO_SMALL, write INVALID_PARAMETER",
      [small](hyperv_context& ctx) {
        const block_spec* b = small(ctx);
        if (!b) return skip(missing("read-write block"));
        auto r = status_row(ctx, b->id, "", [](hyperv_context& c, std::uint32_t id) { return read_frame(0x10000, id, c.wslot, 1); },
                            ntstatus::buffer_too_small);
        if (r.outcome != verdict::pass) return r;
        return status_row(ctx, b->id, "",
                          [](hyperv_context& c, std::uint32_t id) {
                            const std::byte one[1]{std::byte{0x5A}};
                            return write_frame(0x10000, id, c.wslot, one);
                          },
                          ntstatus::invalid_parameter);
      });
  add("hyperv.length_128", "hyperv-binding.md §Padding rule 4", "128 bytes read: a 152-byte answer", [](hyperv_context& ctx) {
    const block_spec* b = ctx.blocks.full_rw();
    if (!b) return skip(missing("128-byte read-write block"));
    vf_stream s(ctx);
    VPCI_HV_OPEN(s);
    packet p;
    VPCI_HV_CHECK(s.read(b->id, 128, p));
    VPCI_HV_CHECK(expect_read(p, 128));
    return pass();
  });
  add("hyperv.length_129", "hyperv-binding.md §What the PF session answers 4", "129 bytes (read and write): STATUS_INVALID_PARAMETER",
      [](hyperv_context& ctx) {
        const block_spec* b = ctx.blocks.full_rw() ? ctx.blocks.full_rw() : ctx.blocks.small_rw();
        if (!b) return skip(missing("read-write block"));
        auto r = status_row(ctx, b->id, "", [](hyperv_context& c, std::uint32_t id) { return read_frame(0x10000, id, c.wslot, 129); },
                            ntstatus::invalid_parameter);
        if (r.outcome != verdict::pass) return r;
        return status_row(ctx, b->id, "",
                          [](hyperv_context& c, std::uint32_t id) {
                            const auto data = pattern(129, 129);
                            return frame(0x10000, write_payload(id, c.wslot, 129, data, false));
                          },
                          ntstatus::invalid_parameter);
      });
  add("hyperv.length_0xffffffff", "hyperv-binding.md §What the PF session answers 4", "a read of 0xFFFFFFFF bytes: STATUS_INVALID_PARAMETER",
      [small](hyperv_context& ctx) {
        const block_spec* b = small(ctx);
        if (!b) return skip(missing("read-write block"));
        return status_row(ctx, b->id, "",
                          [](hyperv_context& c, std::uint32_t id) { return read_frame(0x10000, id, c.wslot, 0xFFFFFFFF); },
                          ntstatus::invalid_parameter);
      });
  add("hyperv.undefined_block", "hyperv-binding.md §What the PF session answers 5", "a block nobody defines: STATUS_INVALID_PARAMETER",
      [](hyperv_context& ctx) {
        return status_row(ctx, ctx.blocks.undefined_block, "undefined block ID",
                          [](hyperv_context& c, std::uint32_t id) { return read_frame(0x10000, id, c.wslot, 8); },
                          ntstatus::invalid_parameter);
      });
  add("hyperv.foreign_block", "hyperv-binding.md §What the PF session answers 5", "another VF's block: STATUS_ACCESS_DENIED",
      [](hyperv_context& ctx) {
        return status_row(ctx, ctx.blocks.foreign_block, "foreign block",
                          [](hyperv_context& c, std::uint32_t id) { return read_frame(0x10000, id, c.wslot, 128); },
                          ntstatus::access_denied);
      });
  add("hyperv.foreign_wslot", "hyperv-binding.md §What the PF session answers 3", "a wslot not this VF's: STATUS_ACCESS_DENIED (before length checks)",
      [small](hyperv_context& ctx) {
        const block_spec* b = small(ctx);
        if (!b) return skip(missing("read-write block"));
        return status_row(ctx, b->id, "",
                          [](hyperv_context& c, std::uint32_t id) { return read_frame(0x10000, id, (c.wslot ^ 0x1Fu) & 0xFF, 0); },
                          ntstatus::access_denied);
      });
  add("hyperv.read_too_short", "hyperv-binding.md §What the PF session answers 5", "a read below the block's size: STATUS_BUFFER_TOO_SMALL",
      [small](hyperv_context& ctx) {
        const block_spec* b = small(ctx);
        if (!b) return skip(missing("read-write block"));
        vf_stream s(ctx);
        VPCI_HV_OPEN(s);
        packet p;
        VPCI_HV_CHECK(s.read(b->id, static_cast<std::uint32_t>(b->size - 1), p));
        VPCI_HV_CHECK(expect_status(p, ntstatus::buffer_too_small));
        return pass();
      });
  add("hyperv.write_wrong_length", "hyperv-binding.md §What the PF session answers 5", "a write of another length: STATUS_INVALID_PARAMETER",
      [small](hyperv_context& ctx) {
        const block_spec* b = small(ctx);
        if (!b) return skip(missing("read-write block"));
        vf_stream s(ctx);
        VPCI_HV_OPEN(s);
        packet p;
        VPCI_HV_CHECK(s.write(b->id, pattern(3, b->size + 4), p));
        VPCI_HV_CHECK(expect_status(p, ntstatus::invalid_parameter));
        return pass();
      });
  add("hyperv.write_read_only", "hyperv-binding.md §What the PF session answers 5", "a write to a read-only block: STATUS_ACCESS_DENIED",
      [](hyperv_context& ctx) {
        const block_spec* b = ctx.blocks.read_only();
        if (!b) return skip(missing("read-only block"));
        vf_stream s(ctx);
        VPCI_HV_OPEN(s);
        packet p;
        VPCI_HV_CHECK(s.write(b->id, pattern(4, b->size), p));
        VPCI_HV_CHECK(expect_status(p, ntstatus::access_denied));
        return pass();
      });
  add("hyperv.read_write_only", "hyperv-binding.md §What the PF session answers 5", "a read of a write-only block: STATUS_ACCESS_DENIED",
      [](hyperv_context& ctx) {
        const block_spec* b = ctx.blocks.write_only();
        if (!b) return skip(missing("write-only block"));
        vf_stream s(ctx);
        VPCI_HV_OPEN(s);
        packet p;
        VPCI_HV_CHECK(s.read(b->id, static_cast<std::uint32_t>(b->size), p));
        VPCI_HV_CHECK(expect_status(p, ntstatus::access_denied));
        return pass();
      });
  add("hyperv.handler_status_passthrough", "hyperv-binding.md §What the PF session answers 5", "an IHV handler's STATUS_DEVICE_NOT_READY passed through",
      [](hyperv_context& ctx) {
        return status_row(ctx, ctx.blocks.not_ready_block, "not-ready handler block",
                          [](hyperv_context& c, std::uint32_t id) { return read_frame(0x10000, id, c.wslot, 128); },
                          ntstatus::device_not_ready);
      });
  add("hyperv.padded_packets", "hyperv-binding.md §Padding rules 1, 3, 5, 6", "writes with and without the Linux tail, non-zero padding: accepted",
      [small](hyperv_context& ctx) {
        const block_spec* b = small(ctx);
        if (!b) return skip(missing("read-write block"));
        vf_stream s(ctx);
        VPCI_HV_OPEN(s);
        std::uint64_t txid = 0x30000;
        for (const bool tail : {false, true}) {
          for (const std::byte fill : {std::byte{0}, std::byte{0xEE}}) {
            const auto data = pattern(static_cast<std::uint32_t>(txid), b->size);
            frame_options o;
            o.padding = fill;
            VPCI_HV_CHECK(s.send(frame(txid, write_payload(b->id, ctx.wslot, static_cast<std::uint32_t>(b->size), data, tail), o)));
            packet p;
            VPCI_HV_CHECK(s.completion(p, txid, 24));
            VPCI_HV_CHECK(expect_status(p, ntstatus::success));
            VPCI_HV_CHECK(s.read(b->id, static_cast<std::uint32_t>(b->size), p, txid + 1));
            if (data_of(p, b->size) != data) return fail("a padded write was not stored");
            txid += 2;
          }
        }
        return pass("4 variants");
      });
  add("hyperv.unpadded_frame", "hyperv-binding.md §Framing", "L up to 7 bytes short of len8 * 8 passes the framing", [](hyperv_context& ctx) {
    const block_spec* b = ctx.blocks.small_rw();
    if (!b) return skip(missing("read-write block"));
    vf_stream s(ctx);
    VPCI_HV_OPEN(s);
    const auto data = pattern(99, b->size);
    frame_options o;
    o.unpadded = true;
    // The write without the tail: 32 + n bytes; with the 4-byte tail 36 + n; one of them is not a multiple of 8.
    const bool tail = (32 + b->size) % 8 == 0;
    VPCI_HV_CHECK(s.send(frame(0x10000, write_payload(b->id, ctx.wslot, static_cast<std::uint32_t>(b->size), data, tail), o)));
    packet p;
    VPCI_HV_CHECK(s.completion(p, 0x10000, 24));
    VPCI_HV_CHECK(expect_status(p, ntstatus::success));
    return pass("L = " + std::to_string(32 + b->size + (tail ? 4 : 0)));
  });
  add("hyperv.one_byte_chunks", "hyperv-binding.md §Framing", "a request sent one byte at a time is answered", [small](hyperv_context& ctx) {
    const block_spec* b = small(ctx);
    if (!b) return skip(missing("read-write block"));
    vf_stream s(ctx);
    VPCI_HV_OPEN(s);
    const auto bytes = read_frame(0x10000, b->id, ctx.wslot, static_cast<std::uint32_t>(b->size));
    for (const std::byte& x : bytes) VPCI_HV_CHECK(s.send(std::span<const std::byte>(&x, 1)));
    packet p;
    VPCI_HV_CHECK(s.completion(p, 0x10000));
    VPCI_HV_CHECK(expect_read(p, static_cast<std::uint32_t>(b->size)));
    return pass();
  });
  add("hyperv.transaction_id_echo", "hyperv-binding.md §The VMBus packet descriptor", "any 64-bit transaction ID is echoed", [small](hyperv_context& ctx) {
    const block_spec* b = small(ctx);
    if (!b) return skip(missing("read-write block"));
    vf_stream s(ctx);
    VPCI_HV_OPEN(s);
    for (const std::uint64_t txid : {std::uint64_t{0}, std::uint64_t{0xFEDCBA9876543210}, ~std::uint64_t{0}}) {
      packet p;
      VPCI_HV_CHECK(s.read(b->id, static_cast<std::uint32_t>(b->size), p, txid));
      VPCI_HV_CHECK(expect_read(p, static_cast<std::uint32_t>(b->size)));
    }
    return pass();
  });
  add("hyperv.transaction_id_reuse", "hyperv-binding.md §What the PF session answers", "two requests with one ID: both executed, answered in order",
      [small](hyperv_context& ctx) {
        const block_spec* b = small(ctx);
        if (!b) return skip(missing("read-write block"));
        vf_stream s(ctx);
        VPCI_HV_OPEN(s);
        const auto first = pattern(21, b->size), second = pattern(22, b->size);
        auto bytes = write_frame(0x10005, b->id, ctx.wslot, first);
        const auto more = read_frame(0x10005, b->id, ctx.wslot, static_cast<std::uint32_t>(b->size));
        const auto last = write_frame(0x10005, b->id, ctx.wslot, second);
        bytes.insert(bytes.end(), more.begin(), more.end());
        bytes.insert(bytes.end(), last.begin(), last.end());
        VPCI_HV_CHECK(s.send(bytes));
        packet p;
        VPCI_HV_CHECK(s.completion(p, 0x10005, 24));
        VPCI_HV_CHECK(expect_status(p, ntstatus::success));
        VPCI_HV_CHECK(s.completion(p, 0x10005));
        VPCI_HV_CHECK(expect_read(p, static_cast<std::uint32_t>(b->size)));
        if (data_of(p, b->size) != first) return fail("the read between the two writes did not see the first");
        VPCI_HV_CHECK(s.completion(p, 0x10005, 24));
        VPCI_HV_CHECK(expect_status(p, ntstatus::success));
        VPCI_HV_CHECK(s.read(b->id, static_cast<std::uint32_t>(b->size), p, 0x10006));
        if (data_of(p, b->size) != second) return fail("the second write with the reused ID was not executed");
        return pass();
      });
  add("hyperv.unread_answers", "hyperv-binding.md §How the PF serves a stream", "200 requests before any answer is read: all answered in order (the first 64 served)",
      [small](hyperv_context& ctx) {
        const block_spec* b = small(ctx);
        if (!b) return skip(missing("read-write block"));
        vf_stream s(ctx);
        VPCI_HV_OPEN(s);
        std::vector<std::byte> bytes;
        for (std::uint64_t i = 0; i < 200; ++i) {
          const auto f = read_frame(0x10000 + i, b->id, ctx.wslot, static_cast<std::uint32_t>(b->size));
          bytes.insert(bytes.end(), f.begin(), f.end());
        }
        VPCI_HV_CHECK(s.send(bytes));
        // The first 64 (the VF engine's in-flight limit, and the PF's default cap) are served; beyond the
        // PF's cap the excess may be refused with STATUS_DEVICE_NOT_READY, but every one is answered.
        std::size_t refused = 0;
        for (std::uint64_t i = 0; i < 200; ++i) {
          packet p;
          if (auto e = s.completion(p, 0x10000 + i); !e.empty()) return fail("answer " + std::to_string(i) + ": " + e);
          if (i >= 64 && p.status() == static_cast<std::uint32_t>(ntstatus::device_not_ready)) {
            VPCI_HV_CHECK(expect_status(p, ntstatus::device_not_ready));
            ++refused;
            continue;
          }
          if (auto e = expect_read(p, static_cast<std::uint32_t>(b->size)); !e.empty()) return fail("answer " + std::to_string(i) + ": " + e);
        }
        return pass("200 answers, " + std::to_string(refused) + " past the in-flight cap refused (DEVICE_NOT_READY)");
      });
  add("hyperv.invalidate_frame", "hyperv-binding.md §Invalidations", "a raised mask arrives as one 36-byte INVALIDATE_BLOCK frame",
      [](hyperv_context& ctx) {
        if (!ctx.control) return skip("the tool cannot make this PF raise invalidations (--invalidate-cmd)");
        if (auto why = ctx.control->can_invalidate(); !why.empty()) return skip(why);
        vf_stream s(ctx);
        VPCI_HV_OPEN(s);
        const std::uint64_t mask = (std::uint64_t{1} << 6) | (std::uint64_t{1} << 33);
        VPCI_HV_CHECK(ctx.control->invalidate(0, mask));
        packet p;
        VPCI_HV_CHECK(s.receive(p));
        // An invalidation an earlier stream of this VF carried may come first (a duplicate; it cannot be
        // known to have been read): the frame that carries the raised bits counts.
        for (int earlier = 0; s.is_invalidation(p) && p.body.size() >= 16 && (get64(p.body, 8) & mask) != mask && earlier < 4; ++earlier)
          VPCI_HV_CHECK(s.receive(p));
        if (p.length != 32 || p.type != type_inband || p.flags != 0 || p.txid != 0)
          return fail("frame L " + std::to_string(p.length) + " type " + std::to_string(p.type) + " flags " + std::to_string(p.flags) +
                      " ID " + hex(p.txid, 16) + ", expected 32, 6, 0, 0");
        if (get32(p.body, 0) != msg_invalidate || get32(p.body, 4) != ctx.wslot || (get64(p.body, 8) & mask) != mask)
          return fail("INVALIDATE_BLOCK " + hex(get32(p.body, 0)) + " wslot " + hex(get32(p.body, 4)) + " mask " + hex(get64(p.body, 8), 16));
        return pass();
      });
  add("hyperv.invalidation_coalesced", "hyperv-binding.md §Invalidations", "three raises against a stalled stream: at most one INVALIDATE frame carries them, with their OR",
      [](hyperv_context& ctx) {
        if (!ctx.control) return skip("the tool cannot make this PF raise invalidations (--invalidate-cmd)");
        if (auto why = ctx.control->can_invalidate(); !why.empty()) return skip(why);
        const block_spec* b = ctx.blocks.full_rw() ? ctx.blocks.full_rw() : ctx.blocks.small_rw();
        if (!b) return skip(missing("read-write block"));
        vf_stream s(ctx);
        VPCI_HV_OPEN(s);
        packet p;
        // One round trip first: what the PF gives back from this VF's earlier streams may come here.
        VPCI_HV_CHECK(s.read(b->id, static_cast<std::uint32_t>(b->size), p, 0x10000));
        // Stall the stream, well inside the PF's stall timeout.
        const auto one = read_frame(0x20000, b->id, ctx.wslot, static_cast<std::uint32_t>(b->size));
        const auto window = std::chrono::milliseconds(ctx.stall ? std::max<std::chrono::milliseconds::rep>(1, ctx.stall->count() / 10) : 25);
        const auto stalled = stall_stream(s.port(), one, window);
        if (!stalled) return fail("the stream never filled (requests taken for 4096 windows without reading)");
        const std::size_t sent = *stalled;
        // Three raises while the VF reads nothing: one pending mask, one frame.
        const std::uint64_t raised[3] = {std::uint64_t{1} << 20, std::uint64_t{1} << 21, std::uint64_t{1} << 52};
        const std::uint64_t all = raised[0] | raised[1] | raised[2];
        for (const std::uint64_t m : raised) VPCI_HV_CHECK(ctx.control->invalidate(0, m));
        // Read everything: the answers of the whole requests sent, then the rest of a request cut short and
        // one more read, whose answer comes after everything the raises caused.
        std::size_t frames = 0, answers = 0;
        std::uint64_t carried = 0;
        auto take = [&](std::size_t until) -> std::string {
          while (answers < until) {
            packet q;
            if (auto e = s.receive(q); !e.empty()) return "after " + std::to_string(answers) + " answers: " + e;
            if (s.is_invalidation(q)) {
              const std::uint64_t m = get64(q.body, 8);
              if ((m & all) != 0) ++frames, carried |= m & all;
              continue;
            }
            if (q.type != type_completion) return "packet type " + std::to_string(q.type) + " among the answers";
            ++answers;
          }
          return {};
        };
        VPCI_HV_CHECK(take(sent / one.size()));
        if (const std::size_t cut = sent % one.size(); cut != 0) {
          VPCI_HV_CHECK(s.send(std::span<const std::byte>(one).subspan(cut)));
          VPCI_HV_CHECK(take(answers + 1));
        }
        VPCI_HV_CHECK(s.send(read_frame(0x7FFFF, b->id, ctx.wslot, static_cast<std::uint32_t>(b->size))));
        VPCI_HV_CHECK(take(answers + 1));
        if (frames == 0) return fail("no INVALIDATE_BLOCK frame carried the raised bits " + hex(all, 16));
        if (frames > 1)
          return fail(std::to_string(frames) + " INVALIDATE_BLOCK frames carried the bits raised against a stalled stream: at most one pending frame (their OR)");
        if (carried != all) return fail("the frame carried " + hex(carried, 16) + " of the raised " + hex(all, 16));
        return pass("one frame, mask " + hex(all, 16) + ", after " + std::to_string(answers) + " answers");
      });
  add("hyperv.isolation_two_streams", "hyperv-binding.md §What the PF session answers 3, 5", "each VF's block and wslot are its own",
      [](hyperv_context& ctx) {
        if (!ctx.target.has_second()) return skip("no second VF stream (--unix2 / --tcp2)");
        const auto other = ctx.blocks.second_vf_block;
        const block_spec* b = ctx.blocks.small_rw();
        if (!other || !b) return skip(missing("read-write block and second VF block"));
        vf_stream s0(ctx, 0), s1(ctx, 1);
        VPCI_HV_OPEN(s0);
        VPCI_HV_OPEN(s1);
        const auto data = pattern(31, other->size);
        packet p;
        VPCI_HV_CHECK(s1.send(write_frame(0x10000, other->id, ctx.second_wslot, data)));
        VPCI_HV_CHECK(s1.completion(p, 0x10000, 24));
        VPCI_HV_CHECK(expect_status(p, ntstatus::success));
        VPCI_HV_CHECK(s0.read(other->id, static_cast<std::uint32_t>(other->size), p));
        if (auto e = expect_status(p, ntstatus::access_denied); !e.empty()) return fail("VF 0 reading VF 1's block: " + e);
        // VF 0 naming VF 1's wslot is refused.
        VPCI_HV_CHECK(s0.read(other->id, static_cast<std::uint32_t>(other->size), p, 0x10001, ctx.second_wslot));
        if (auto e = expect_status(p, ntstatus::access_denied); !e.empty()) return fail("VF 0 with VF 1's wslot: " + e);
        VPCI_HV_CHECK(s1.send(read_frame(0x10001, other->id, ctx.second_wslot, static_cast<std::uint32_t>(other->size))));
        VPCI_HV_CHECK(s1.completion(p, 0x10001));
        if (data_of(p, other->size) != data) return fail("VF 1's block changed");
        return pass();
      });
  add("hyperv.flood_two_streams", "hyperv-binding.md §How the PF serves a stream", "VF 1 is answered while VF 0 floods without reading",
      [](hyperv_context& ctx) {
        if (!ctx.target.has_second()) return skip("no second VF stream (--unix2 / --tcp2)");
        const auto other = ctx.blocks.second_vf_block;
        const block_spec* b = ctx.blocks.small_rw();
        if (!other || !b) return skip(missing("read-write block and second VF block"));
        vf_stream s0(ctx, 0), s1(ctx, 1);
        VPCI_HV_OPEN(s0);
        VPCI_HV_OPEN(s1);
        std::vector<std::byte> bytes;
        for (std::uint64_t i = 0; i < 300; ++i) {
          const auto f = read_frame(0x10000 + i, b->id, ctx.wslot, static_cast<std::uint32_t>(b->size));
          bytes.insert(bytes.end(), f.begin(), f.end());
        }
        VPCI_HV_CHECK(s0.send(bytes));
        for (std::uint64_t i = 0; i < 20; ++i) {
          packet p;
          VPCI_HV_CHECK(s1.send(read_frame(0x10000 + i, other->id, ctx.second_wslot, static_cast<std::uint32_t>(other->size))));
          if (auto e = s1.completion(p, 0x10000 + i); !e.empty()) return fail("VF 1 request " + std::to_string(i) + ": " + e);
          VPCI_HV_CHECK(expect_read(p, static_cast<std::uint32_t>(other->size)));
        }
        return pass("300 unread VF 0 requests, 20 VF 1 answers");
      });
  add("hyperv.truncated_frame_no_quarantine", "hyperv-binding.md §Framing", "a stream cut inside a frame is not a violation: the next stream is served",
      [small](hyperv_context& ctx) {
        const block_spec* b = small(ctx);
        if (!b) return skip(missing("read-write block"));
        {
          vf_stream s(ctx);
          VPCI_HV_OPEN(s);
          auto bytes = read_frame(0x10000, b->id, ctx.wslot, static_cast<std::uint32_t>(b->size));
          bytes.resize(bytes.size() - 5);
          VPCI_HV_CHECK(s.send(bytes));
          s.port().shutdown_send();
          VPCI_HV_CHECK(s.expect_closed());
        }
        vf_stream s(ctx);
        VPCI_HV_OPEN(s);
        packet p;
        VPCI_HV_CHECK(s.read(b->id, static_cast<std::uint32_t>(b->size), p));
        VPCI_HV_CHECK(expect_read(p, static_cast<std::uint32_t>(b->size)));
        return pass();
      });
  // ---- messages the PF does not serve: STATUS_BAD_DATA when a completion is asked for, else nothing; the
  // stream goes on (a read after them is served) ----
  add("hyperv.unknown_message_type", "hyperv-binding.md §What the PF session answers 1",
      "an unknown message type asking for a completion: STATUS_BAD_DATA, the stream goes on", [small](hyperv_context& ctx) {
        vf_stream s(ctx);
        VPCI_HV_OPEN(s);
        VPCI_HV_CHECK(s.send(frame(0x10000, words({0x42490077, 1, ctx.wslot, 4}))));
        packet p;
        VPCI_HV_CHECK(s.completion(p, 0x10000));
        VPCI_HV_CHECK(expect_status(p, ntstatus::bad_data));
        VPCI_HV_CHECK(still_served(s, small(ctx)));
        return pass("STATUS_BAD_DATA");
      });
  add("hyperv.linux_bus_messages", "hyperv-binding.md §What the PF session answers 1",
      "QUERY_BUS_RELATIONS (no completion asked for), then BUS_D0ENTRY, as pci-hyperv sends them after negotiation: "
      "nothing, then STATUS_BAD_DATA; the stream goes on",
      [small](hyperv_context& ctx) {
        vf_stream s(ctx);
        VPCI_HV_OPEN(s);
        VPCI_HV_CHECK(s.send(frame(0, words({0x42490001}), without_completion())));  // hv_pci_query_relations
        VPCI_HV_CHECK(s.send(frame(0x20000, words({0x42490007, 0, 0xF8000000, 0}))));  // hv_pci_enter_d0
        packet p;
        VPCI_HV_CHECK(s.completion(p, 0x20000));  // an answer to the first would come first, with ID 0
        VPCI_HV_CHECK(expect_status(p, ntstatus::bad_data));
        VPCI_HV_CHECK(still_served(s, small(ctx)));
        return pass("nothing, then STATUS_BAD_DATA");
      });
  add("hyperv.invalidate_from_vf", "hyperv-binding.md §What the PF session answers 1",
      "INVALIDATE_BLOCK sent by the VF, without a completion asked for (as a PF sends it): no answer, the stream goes on",
      [small](hyperv_context& ctx) {
        vf_stream s(ctx);
        VPCI_HV_OPEN(s);
        VPCI_HV_CHECK(s.send(frame(0, words({msg_invalidate, ctx.wslot, 1, 0}), without_completion())));
        VPCI_HV_CHECK(still_served(s, small(ctx)));
        return pass("no answer");
      });

  add("hyperv.unread_answers_stall", "hyperv-binding.md §How the PF serves a stream", "a VF that never reads its answers is cut off after the stall timeout",
      [](hyperv_context& ctx) {
        if (!ctx.stall) return skip("give the PF's stall timeout (--stall-ms) to bound this case");
        const block_spec* b = ctx.blocks.full_rw() ? ctx.blocks.full_rw() : ctx.blocks.small_rw();
        if (!b) return skip(missing("read-write block"));
        vf_stream s(ctx);
        VPCI_HV_OPEN(s);
        // Requests until the stream is stalled.
        const auto one = read_frame(0x10000, b->id, ctx.wslot, static_cast<std::uint32_t>(b->size));
        const auto stalled = stall_stream(s.port(), one, std::chrono::milliseconds(50));
        if (!stalled) return fail("the stream never filled (requests taken for 4096 windows without reading)");
        const std::size_t sent = *stalled;
        // Not reading: the PF must give the stream up (quarantine, close) after its stall timeout. Waited
        // for without reading (a read is the progress the PF watches for) and bounded loosely, two stall
        // timeouts and a margin, so that a loaded host cannot fail a PF that keeps the rule.
        if (s.port().wait_ended(2 * *ctx.stall + ctx.stall_margin))
          return pass("stream ended after " + std::to_string(sent) + " request bytes");
        // A PF that closed cleanly: its end is behind the answers still queued.
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        std::vector<std::byte> sink(4096);
        while (std::chrono::steady_clock::now() < deadline) {
          switch (s.port().receive(sink, ctx.timeout)) {
            case stream_port::io::ok: continue;
            case stream_port::io::eof:
            case stream_port::io::error: return pass("stream closed after " + std::to_string(sent) + " request bytes");
            case stream_port::io::timeout:
              return fail("the stream is still open two stall timeouts and " + std::to_string(ctx.stall_margin.count()) +
                          " ms after the VF stopped reading");
          }
        }
        return fail("the PF kept sending answers for 10 s after the stall");
      });

  // ---- protocol violations: each quarantines the VF; they run last (the one that needs an agreed
  // version first) ----
  add("hyperv.version_after_agreement", "hyperv-binding.md §Version negotiation", "a second QUERY_PROTOCOL_VERSION after agreement: closed",
      [](hyperv_context& ctx) { return violation(ctx, version_frame(9, version_1_4), negotiation::agreed); });
  add("hyperv.frame_length_short", "hyperv-binding.md §Framing", "L = 15: the stream is closed, no answer",
      [](hyperv_context& ctx) { return violation(ctx, words({15, 0, 0, 0})); });
  add("hyperv.frame_length_long", "hyperv-binding.md §Framing", "L = 169: the stream is closed, no answer", [](hyperv_context& ctx) {
    auto bytes = words({169});
    bytes.resize(4 + 169);
    return violation(ctx, bytes);
  });
  add("hyperv.frame_length_0xffffffff", "hyperv-binding.md §Framing", "L = 0xFFFFFFFF: the stream is closed, no answer",
      [](hyperv_context& ctx) { return violation(ctx, words({0xFFFFFFFF, 6, 0, 0})); });
  add("hyperv.descriptor_len8_mismatch", "hyperv-binding.md §The VMBus packet descriptor", "len8 * 8 not L rounded up: closed",
      [small](hyperv_context& ctx) {
        const block_spec* b = small(ctx);
        frame_options o;
        o.len8 = 9;
        return violation(ctx, frame(0x10000, words({msg_read, b ? b->id : 1, ctx.wslot, 4}), o));
      });
  add("hyperv.completion_from_vf", "hyperv-binding.md §What the PF session answers 1", "a completion packet from the VF: closed",
      [](hyperv_context& ctx) {
        frame_options o;
        o.type = type_completion;
        o.flags = 0;
        return violation(ctx, frame(0x10000, words({0}), o));
      });
  add("hyperv.trailing_bytes", "hyperv-binding.md §Padding rule 5", "a read request with 8 bytes past its padded size: closed",
      [small](hyperv_context& ctx) {
        const block_spec* b = small(ctx);
        return violation(ctx, frame(0x10000, words({msg_read, b ? b->id : 1, ctx.wslot, 4, 0, 0})));
      });
  add("hyperv.wslot_reserved_bits", "hyperv-binding.md §Messages", "a wslot with bits 31:8 set: closed", [small](hyperv_context& ctx) {
    const block_spec* b = small(ctx);
    return violation(ctx, read_frame(0x10000, b ? b->id : 1, ctx.wslot | 0x100, 4));
  });
  add("hyperv.write_byte_count_0xffffffff", "hyperv-binding.md §Padding rule 5", "a write whose byte_count exceeds the bytes present: closed",
      [small](hyperv_context& ctx) {
        const block_spec* b = small(ctx);
        const auto data = pattern(5, 8);
        return violation(ctx, frame(0x10000, write_payload(b ? b->id : 1, ctx.wslot, 0xFFFFFFFF, data, true)));
      });
  add("hyperv.block_before_negotiation", "hyperv-binding.md §Version negotiation", "READ_BLOCK before a version is agreed: closed",
      [small](hyperv_context& ctx) {
        const block_spec* b = small(ctx);
        return violation(ctx, read_frame(0x10000, b ? b->id : 1, ctx.wslot, 4), negotiation::none);
      });
  add("hyperv.quarantine_persists", "hyperv-binding.md §What the PF session answers 2", "after a violation the VF's new stream is refused: ACCESS_DENIED",
      [small](hyperv_context& ctx) {
        const block_spec* b = small(ctx);
        // Commit one violation of our own (a completion from the VF), so the case stands alone under --case.
        frame_options completion;
        completion.type = type_completion;
        completion.flags = 0;
        if (auto r = violation(ctx, frame(0x10000, words({0}), completion)); r.outcome != verdict::pass) return r;
        vf_stream s(ctx);
        if (!s.connected()) return fail("cannot connect: " + s.error());
        VPCI_HV_CHECK(s.send(version_frame(1, version_1_4)));
        packet p;
        VPCI_HV_CHECK(s.completion(p, 1, 24));
        if (p.status() == 0 && b) {  // a PF that agrees still must refuse the blocks
          VPCI_HV_CHECK(s.read(b->id, static_cast<std::uint32_t>(b->size), p));
        }
        VPCI_HV_CHECK(expect_status(p, ntstatus::access_denied));
        return pass();
      });
  return cases;
}

#undef VPCI_HV_CHECK
#undef VPCI_HV_OPEN

}  // namespace vpci::conformance
