// The VF side of the config-space mailbox, layout 2 (engine::vf_mailbox_engine), against a PF written
// here from docs/protocol.md alone (not vpci's PF session), and against hand-written register values for
// the hostile cases. Every access is traced: the tests pin the exact access sequences and their counts.
// Time is a number the test passes; nothing sleeps.
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <ostream>
#include <span>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <vpci/block/endian.hpp>
#include <vpci/engine/vf_mailbox.hpp>
#include <vpci/wire/mailbox.hpp>

#include "test_support.hpp"

namespace vpci::engine {
inline std::ostream& boost_test_print_type(std::ostream& os, op_handle h) {
  return os << "op_handle(" << h.slot << "/" << h.generation << ")";
}
inline std::ostream& boost_test_print_type(std::ostream& os, mailbox_action::kind k) {
  return os << "kind(" << static_cast<int>(k) << ")";
}
}  // namespace vpci::engine

BOOST_AUTO_TEST_SUITE(vf_mailbox_engine_test)

using namespace vpci;
using namespace vpci::engine;
namespace reg = vpci::mailbox::reg;
using kind = mailbox_action::kind;
using script_t = std::vector<std::string>;

namespace {

using bytes = std::vector<std::byte>;

bytes pattern(std::size_t n, unsigned seed) {
  bytes out(n);
  for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<std::byte>(seed + i * 13);
  return out;
}
bytes copy_of(std::span<const std::byte> in) { return {in.begin(), in.end()}; }

constexpr std::uint64_t far = 1'000'000'000'000;

// A layout-2 PF written from the specification: it answers on the request dword (the doorbell), keeps a
// latch, takes acknowledgements, and can be told to misbehave.
struct spec_pf {
  std::array<std::byte, mailbox::window_size> window{};
  std::map<std::uint32_t, bytes> blocks;
  std::map<std::uint32_t, ntstatus> refusals;  // blocks every request to which is answered FAILED with this status
  std::uint16_t last_sequence = 0;
  bool synchronised = false;
  std::uint8_t epoch = 0;
  std::uint8_t heartbeat = 0;
  std::uint64_t latched = 0;
  std::uint16_t capabilities = mailbox::capability::invalidation;
  std::uint16_t heartbeat_ms = 0;
  int violations = 0;

  std::uint32_t u32(std::uint16_t offset) const { return le::load_u32(window.data() + offset); }
  void set(std::uint16_t offset, std::uint32_t value) { le::store_u32(window.data() + offset, value); }

  void initialise() {
    set(reg::ext_header, 0x00010023);
    set(reg::dvsec_header1, 0x1AF4u | (std::uint32_t{mailbox::dvsec_revision} << 16) |
                                (std::uint32_t{mailbox::window_size} << 20));
    set(reg::dvsec_header2, mailbox::default_dvsec_id);
    set(reg::identity, mailbox::encode_identity(capabilities));
    set(reg::limits, mailbox::encode_limits(heartbeat_ms));
    set(reg::control, 0);
    set(reg::request_block, 0);
    set(reg::request, 0);
    set(reg::result, 0);
    set(reg::invalidate_ack_low, 0);
    set(reg::invalidate_ack_high, 0);
    epoch = mailbox::next_epoch(epoch);
    synchronised = false;
    last_sequence = 0;
    publish(0, 0, false);
  }
  void publish(std::uint16_t ack, std::uint8_t count, bool failed) {
    set(reg::invalidate_mask_low, static_cast<std::uint32_t>(latched));
    set(reg::invalidate_mask_high, static_cast<std::uint32_t>(latched >> 32));
    set(reg::status, mailbox::encode_status({ack, count, failed, latched != 0, heartbeat, epoch}));
  }
  mailbox::status_word status() const { return mailbox::decode_status(u32(reg::status)); }
  void beat() {
    heartbeat = static_cast<std::uint8_t>((heartbeat + 1) & 3);
    const auto s = status();
    publish(s.ack, s.count, s.failed);
  }
  void invalidate(std::uint64_t mask) {
    latched |= mask;
    const auto s = status();
    publish(s.ack, s.count, s.failed);
  }
  // Services the window after a VF write at `offset`.
  void service(std::uint16_t offset) {
    if (offset == reg::invalidate_ack_low) {
      const std::uint64_t ack = std::uint64_t{u32(reg::invalidate_ack_low)} | (std::uint64_t{u32(reg::invalidate_ack_high)} << 32);
      latched &= ~ack;
      set(reg::invalidate_ack_low, 0);
      set(reg::invalidate_ack_high, 0);
      const auto s = status();
      publish(s.ack, s.count, s.failed);
      return;
    }
    if (offset == reg::control) {
      if ((u32(reg::control) & mailbox::control_reset) != 0) {
        synchronised = false;
        last_sequence = 0;
        set(reg::request_block, 0);
        set(reg::request, 0);
        set(reg::result, 0);
        publish(0, 0, false);
        set(reg::control, u32(reg::control) & ~mailbox::control_reset);
      }
      return;
    }
    if (offset != reg::request) return;
    const auto request = mailbox::decode_request(u32(reg::request));
    if (request.sequence == 0) return;
    if (synchronised && request.sequence == last_sequence) return;  // replay
    const auto next = static_cast<std::uint16_t>(last_sequence + 1 == 0x10000 ? 1 : last_sequence + 1);
    if (synchronised && request.sequence != next) {
      // Skipped or reversed: a violation.
      ++violations;
      last_sequence = request.sequence;
      set(reg::result, static_cast<std::uint32_t>(ntstatus::invalid_device_request));
      publish(request.sequence, 0, true);
      return;
    }
    synchronised = true;
    last_sequence = request.sequence;
    const std::uint32_t id = u32(reg::request_block);
    const auto it = blocks.find(id);
    ntstatus status = ntstatus::success;
    std::uint8_t count = 0;
    if (const auto refused = refusals.find(id); refused != refusals.end()) {
      status = refused->second;
    } else if (it == blocks.end() || request.length == 0 || request.length > 128 || request.reserved_bits) {
      status = ntstatus::invalid_parameter;
    } else if (request.operation == 1) {
      if (request.length < it->second.size()) {
        status = ntstatus::buffer_too_small;
      } else {
        for (std::size_t i = 0; i < it->second.size(); ++i) window[reg::data + i] = it->second[i];
        count = static_cast<std::uint8_t>(it->second.size());
      }
    } else if (request.operation == 2) {
      if (request.length != it->second.size()) status = ntstatus::invalid_parameter;
      else {
        it->second.assign(window.begin() + reg::data, window.begin() + reg::data + request.length);
        count = request.length;
      }
    } else {
      status = ntstatus::invalid_device_request;
    }
    set(reg::result, static_cast<std::uint32_t>(status));
    publish(request.sequence, count, status != ntstatus::success);
  }
};

struct traced {
  kind what;
  std::uint16_t offset;
  std::size_t length;
  bytes data;
  std::uint64_t at;
};

std::string describe(const traced& t) {
  std::ostringstream out;
  switch (t.what) {
    case kind::write: out << "W " << std::hex << t.offset << std::dec << " " << t.length; break;
    case kind::read: out << "R " << std::hex << t.offset << std::dec << " " << t.length; break;
    case kind::wait: out << "wait"; break;
    case kind::complete: out << "done"; break;
    case kind::idle: out << "idle"; break;
    case kind::send: out << "send"; break;
  }
  return out.str();
}

// The VF engine and the spec PF sharing a window. Block 5 holds 16 bytes, block 6 8 bytes.
struct harness {
  spec_pf pf;
  vf_mailbox_engine<> vf;
  std::uint64_t now = 1000;
  bool pf_answers = true;
  std::function<void(const mailbox_action&)> before_read;
  std::function<void(const traced&)> after_write;
  bool fail_next = false;
  std::vector<traced> trace;
  std::vector<op_completion> done;

  explicit harness(vf_mailbox_config config = {}, std::uint16_t capabilities = mailbox::capability::invalidation,
                   std::uint16_t heartbeat_ms = 0)
      : vf(config) {
    pf.capabilities = capabilities;
    pf.heartbeat_ms = heartbeat_ms;
    pf.blocks[5] = pattern(16, 0x10);
    pf.blocks[6] = pattern(8, 0x60);
    pf.initialise();
  }

  op_handle read(std::uint32_t id, std::span<std::byte> destination, std::uint64_t deadline = far) {
    auto started = vf.start_read(block_id{id}, destination, deadline);
    BOOST_REQUIRE(started.has_value());
    return *started;
  }
  op_handle write(std::uint32_t id, std::span<const std::byte> data, std::uint64_t deadline = far) {
    auto started = vf.start_write(block_id{id}, data, deadline);
    BOOST_REQUIRE(started.has_value());
    return *started;
  }

  mailbox_action step() {
    const mailbox_action a = vf.step(now);
    traced t{a.what, a.offset, a.what == kind::write ? a.bytes.size() : a.length, {}, now};
    if (a.what == kind::write) t.data = copy_of(a.bytes);
    trace.push_back(t);
    switch (a.what) {
      case kind::write:
        if (std::exchange(fail_next, false)) {
          vf.on_transport_error(now);
          break;
        }
        BOOST_REQUIRE(a.offset + a.bytes.size() <= pf.window.size());
        for (std::size_t i = 0; i < a.bytes.size(); ++i) pf.window[a.offset + i] = a.bytes[i];
        vf.on_written(now);
        if (after_write) after_write(t);
        if (pf_answers) {
          // The spec PF's signal (docs/protocol.md, publish): a VF that asked for it is rung when anything it
          // reads changed.
          const std::uint32_t status_before = pf.u32(reg::status);
          pf.service(a.offset);
          if ((pf.u32(reg::control) & mailbox::control_signal) != 0 && pf.u32(reg::status) != status_before) vf.wake();
        }
        break;
      case kind::read: {
        if (std::exchange(fail_next, false)) {
          vf.on_transport_error(now);
          break;
        }
        if (before_read) before_read(a);
        BOOST_REQUIRE(a.offset + a.length <= pf.window.size());
        const bytes got(pf.window.begin() + a.offset, pf.window.begin() + static_cast<std::ptrdiff_t>(a.offset + a.length));
        vf.on_read(got, now);
        break;
      }
      case kind::complete: done.push_back(a.done); break;
      default: break;
    }
    return a;
  }
  mailbox_action settle() {
    for (int i = 0; i < 1000; ++i) {
      const mailbox_action a = step();
      if (a.what == kind::wait || a.what == kind::idle) return a;
    }
    BOOST_FAIL("the engine never settled");
    return {};
  }
  void run(std::uint64_t limit = far) {
    for (int i = 0; i < 200000; ++i) {
      const mailbox_action a = settle();
      if (a.what == kind::idle) return;
      BOOST_REQUIRE(a.until > now);
      if (a.until > limit) return;
      now = a.until;
    }
    BOOST_FAIL("the engine never finished");
  }
  script_t script(std::size_t from = 0) const {
    script_t out;
    for (std::size_t i = from; i < trace.size(); ++i) out.push_back(describe(trace[i]));
    return out;
  }
  std::size_t count(const std::string& what) const {
    std::size_t n = 0;
    for (const auto& s : script())
      if (s == what) ++n;
    return n;
  }
  // Config accesses (dwords) since trace index `from`.
  std::size_t accesses(std::size_t from = 0) const {
    std::size_t n = 0;
    for (std::size_t i = from; i < trace.size(); ++i)
      if (trace[i].what == kind::read || trace[i].what == kind::write) n += (trace[i].length + 3) / 4;
    return n;
  }
};

bytes u32s(std::initializer_list<std::uint32_t> values) {
  bytes out;
  for (std::uint32_t v : values) {
    std::array<std::byte, 4> b{};
    le::store_u32(b.data(), v);
    out.insert(out.end(), b.begin(), b.end());
  }
  return out;
}

// A PF with a 10 ms heartbeat that has served one read (the VF probed it and saw the beat), polled as
// `config` says.
harness served_by_a_beating_pf(const vf_mailbox_config& config) {
  harness h(config, mailbox::capability::invalidation | mailbox::capability::heartbeat, 10);
  std::array<std::byte, 16> a{};
  (void)h.read(5, a);
  h.run();
  BOOST_REQUIRE(h.done.size() == 1u);
  BOOST_TEST((h.done[0].error == no_error));
  return h;
}

// A PF that answers nothing (polled every 100 ns, orphan timeout 1000 ns) and a read that timed out at
// 1150: its request stays on the wire as an orphan, which the VF resets after the next request waits.
harness with_an_orphan() {
  vf_mailbox_config config;
  config.poll_interval_ns = 100;
  config.orphan_timeout_ns = 1000;
  harness h(config);
  h.pf_answers = false;
  std::array<std::byte, 16> a{};  // its operation ends here: the engine never writes it again
  (void)h.read(5, a, 1150);
  h.run(1150);
  BOOST_REQUIRE(h.done.size() == 1u);
  BOOST_TEST((h.done[0].error == errc::timeout));
  return h;
}

}  // namespace

BOOST_AUTO_TEST_CASE(a_read_is_the_documented_access_sequence) {
  harness h;
  std::array<std::byte, 16> a{};
  (void)h.read(5, a);
  h.run();
  // The probe (headers through status), the block, the request (the doorbell), the status, the data and
  // the tear check.
  BOOST_TEST(h.script() == (script_t{"R 0 36", "W 18 4", "W 1c 4", "R 20 4", "R 38 16", "R 20 4", "done", "idle"}),
             boost::test_tools::per_element());
  BOOST_TEST(h.trace[1].data == u32s({5}), boost::test_tools::per_element());
  BOOST_TEST(h.trace[2].data == u32s({mailbox::encode_request(1, 16, mailbox::operation::read)}),
             boost::test_tools::per_element());
  BOOST_REQUIRE(h.done.size() == 1u);
  BOOST_TEST((h.done[0].error == no_error));
  BOOST_TEST(h.done[0].bytes == 16u);
  BOOST_TEST(copy_of(a) == pattern(16, 0x10), boost::test_tools::per_element());
}

// The cycle budget of issue 10: a read of n bytes is ceil(n/4) + 4 accesses (the block register is not
// written again for the same block: + 3), a write ceil(n/4) + 3; the floor is ceil(n/4) + 4 for a read.
BOOST_AUTO_TEST_CASE(config_accesses_per_operation_meet_the_budget) {
  harness h;
  h.pf.blocks[7] = pattern(4, 1);
  h.pf.blocks[8] = pattern(64, 2);
  h.pf.blocks[9] = pattern(128, 3);
  std::array<std::byte, 128> buffer{};
  (void)h.read(5, std::span(buffer).first(16));  // the probe happens here
  h.run();
  for (const auto& [id, n] : std::vector<std::pair<std::uint32_t, std::size_t>>{{7, 4}, {8, 64}, {9, 128}}) {
    BOOST_TEST_CONTEXT("block " << id << ", " << n << " bytes") {
      std::size_t mark = h.trace.size();
      (void)h.read(id, std::span(buffer).first(n));
      h.run();
      BOOST_TEST(h.accesses(mark) == (n + 3) / 4 + 4);  // a new block: its register is written
      mark = h.trace.size();
      (void)h.read(id, std::span(buffer).first(n));
      h.run();
      BOOST_TEST(h.accesses(mark) == (n + 3) / 4 + 3);  // the same block again
      mark = h.trace.size();
      (void)h.write(id, std::span(buffer).first(n));
      h.run();
      BOOST_TEST(h.accesses(mark) == (n + 3) / 4 + 2);  // data, request, status (same block)
      BOOST_TEST(h.accesses(mark) <= (n + 3) / 4 + 5);
    }
  }
  BOOST_TEST(h.done.size() == 10u);
  for (const auto& d : h.done) BOOST_TEST((d.error == no_error));
}

BOOST_AUTO_TEST_CASE(a_write_sends_the_data_window_before_the_request) {
  harness h;
  const bytes data = pattern(8, 0x99);
  (void)h.write(6, data);
  h.run();
  BOOST_TEST(h.script() == (script_t{"R 0 36", "W 38 8", "W 18 4", "W 1c 4", "R 20 4", "done", "idle"}),
             boost::test_tools::per_element());
  BOOST_TEST(h.pf.blocks[6] == data, boost::test_tools::per_element());
  BOOST_REQUIRE(h.done.size() == 1u);
  BOOST_TEST(h.done[0].bytes == 8u);
}

BOOST_AUTO_TEST_CASE(any_32_bit_block_id_goes_into_the_block_register) {
  harness h;
  std::array<std::byte, 8> a{};
  for (const std::uint32_t id : {0u, 63u, 64u, 0x80000000u, 0xFFFFFFFFu}) {
    h.pf.blocks[id] = pattern(8, id & 0xFF);
    (void)h.read(id, a);
    h.run();
    // Written unless the register already held it (block 0 right after the PF initialised the window).
    BOOST_TEST(h.pf.u32(reg::request_block) == id);
    BOOST_TEST(copy_of(a) == pattern(8, id & 0xFF), boost::test_tools::per_element());
  }
}

BOOST_AUTO_TEST_CASE(pf_statuses_map_to_errors) {
  harness h;
  std::array<std::byte, 4> small{};
  std::array<std::byte, 16> a{};
  (void)h.read(5, small);   // buffer too small
  (void)h.read(99, a);      // no such block
  (void)h.write(6, pattern(5, 0));  // wrong length
  h.run();
  BOOST_REQUIRE(h.done.size() == 3u);
  BOOST_TEST((h.done[0].error == errc::buffer_too_small));
  BOOST_TEST((h.done[1].error == errc::invalid_argument));
  BOOST_TEST((h.done[2].error == errc::invalid_argument));
  for (const auto& d : h.done) BOOST_TEST(d.bytes == 0u);
  // A FAILED answer costs the result read instead of the data: 4 accesses on the same block.
  const std::size_t mark = h.trace.size();
  (void)h.read(5, small);
  h.run();
  BOOST_TEST(h.script(mark) == (script_t{"W 18 4", "W 1c 4", "R 20 4", "R 24 4", "done", "idle"}),
             boost::test_tools::per_element());
  BOOST_TEST(small == (std::array<std::byte, 4>{}));
}

// A PF that answered one request STATUS_NO_SUCH_DEVICE completed it with peer_gone, the error this engine
// gives once it finds the PF gone itself (its heartbeat stopped, the function reads all ones); likewise
// STATUS_IO_TIMEOUT, STATUS_CANCELLED, STATUS_DEVICE_NOT_READY and STATUS_REVISION_MISMATCH read as this
// side's timeout, cancelled, busy and revision_mismatch. The request fails with the PF's word for it; the
// request queued behind it is served, the invalidation watch goes on without a failure to report, and an
// invalidation raised afterwards is delivered.
BOOST_AUTO_TEST_CASE(a_pf_answering_no_such_device_fails_that_request_and_ends_no_other_wait) {
  const std::array<std::pair<ntstatus, errc>, 5> cases{{
      {ntstatus::no_such_device, errc::peer_no_such_device},
      {ntstatus::io_timeout, errc::peer_timeout},
      {ntstatus::cancelled, errc::peer_cancelled},
      {ntstatus::device_not_ready, errc::peer_not_ready},
      {ntstatus::revision_mismatch, errc::peer_revision_mismatch},
  }};
  for (const auto& [status, error] : cases) {
    BOOST_TEST_CONTEXT("status 0x" << std::hex << static_cast<std::uint32_t>(status)) {
      harness h;
      h.pf.refusals[6] = status;
      h.vf.watch_invalidations(true);
      std::array<std::byte, 8> refused{};
      std::array<std::byte, 16> served{};
      (void)h.read(6, refused);
      (void)h.write(6, pattern(8, 0x33));
      (void)h.read(5, served);
      h.run(h.now + 1'000'000);
      BOOST_REQUIRE(h.done.size() == 3u);
      BOOST_TEST((h.done[0].error == error));
      BOOST_TEST((h.done[1].error == error));
      BOOST_TEST(h.done[0].bytes == 0u);
      BOOST_TEST(h.done[1].bytes == 0u);
      BOOST_TEST(refused == (std::array<std::byte, 8>{}));
      BOOST_TEST((h.done[2].error == no_error));
      BOOST_TEST(h.done[2].bytes == 16u);
      BOOST_TEST(vpci::test::octets(served) == vpci::test::octets(pattern(16, 0x10)));
      BOOST_TEST(h.vf.watching());
      BOOST_TEST((h.vf.take_watch_failure() == no_error));
      BOOST_TEST(!h.vf.peer_silent());
      h.pf.invalidate(0x20);
      h.run(h.now + 20'000'000);
      BOOST_TEST(h.vf.take_invalidations().bits() == 0x20u);
    }
  }
}

BOOST_AUTO_TEST_CASE(hostile_answers_are_refused) {
  struct case_t {
    const char* what;
    std::function<void(spec_pf&)> lie;  // after the PF answered
    errc expected;
  };
  const std::vector<case_t> cases{
      {"count 0 on success", [](spec_pf& pf) { pf.set(reg::status, pf.u32(reg::status) & ~0x00FF0000u); }, errc::empty_response},
      {"count above the request",
       [](spec_pf& pf) { pf.set(reg::status, (pf.u32(reg::status) & ~0x00FF0000u) | (17u << 16)); },
       errc::protocol_violation},
      {"FAILED with STATUS_SUCCESS",
       [](spec_pf& pf) {
         pf.set(reg::status, pf.u32(reg::status) | (1u << 24));
         pf.set(reg::result, 0);
       },
       errc::protocol_violation},
      {"FAILED with an unknown error status",
       [](spec_pf& pf) {
         pf.set(reg::status, pf.u32(reg::status) | (1u << 24));
         pf.set(reg::result, 0xC0001234u);
       },
       errc::device_error},
  };
  for (const auto& c : cases) {
    BOOST_TEST_CONTEXT(c.what) {
      harness h;
      std::array<std::byte, 16> a;
      a.fill(std::byte{0xEE});
      (void)h.read(5, a);
      h.after_write = [&](const traced& t) {
        if (t.offset != reg::request) return;
        h.pf.service(reg::request);
        c.lie(h.pf);
      };
      h.pf_answers = false;
      h.run();
      BOOST_REQUIRE(h.done.size() == 1u);
      BOOST_TEST((h.done[0].error == c.expected));
      for (std::byte b : a) BOOST_TEST(b == std::byte{0xEE});
    }
  }
  // A write of 8 bytes answered with another count than sent, below or above: never a success reporting
  // more bytes written than the caller gave.
  for (const std::uint32_t count : {7u, 9u}) {
    BOOST_TEST_CONTEXT("count " << count) {
      harness h;
      (void)h.write(6, pattern(8, 1));
      h.pf_answers = false;
      h.after_write = [&](const traced& t) {
        if (t.offset != reg::request) return;
        h.pf.service(reg::request);
        h.pf.set(reg::status, (h.pf.u32(reg::status) & ~0x00FF0000u) | (count << 16));
      };
      h.run();
      BOOST_REQUIRE(h.done.size() == 1u);
      BOOST_TEST((h.done[0].error == errc::protocol_violation));
      BOOST_TEST(h.done[0].bytes == 0u);
    }
  }
}

BOOST_AUTO_TEST_CASE(an_answer_that_changes_while_read_is_read_again_and_never_mixed) {
  harness h;
  std::array<std::byte, 16> a{};
  (void)h.read(5, a);
  int data_reads = 0;
  h.before_read = [&](const mailbox_action& x) {
    if (x.offset == reg::data && ++data_reads == 1) {
      // The PF re-answers (a hostile or confused PF) while the VF reads: garbage data and a new count
      // (16 becomes 12).
      for (std::size_t i = 0; i < 16; ++i) h.pf.window[reg::data + i] = std::byte{0xBB};
      h.pf.set(reg::status, h.pf.u32(reg::status) ^ (28u << 16));
    }
    if (x.offset == reg::data && data_reads == 2) {
      h.pf.set(reg::status, h.pf.u32(reg::status) ^ (28u << 16));
      const bytes good = pattern(16, 0x10);
      for (std::size_t i = 0; i < 16; ++i) h.pf.window[reg::data + i] = good[i];
    }
  };
  h.run();
  BOOST_REQUIRE(h.done.size() == 1u);
  BOOST_TEST((h.done[0].error == no_error));
  BOOST_TEST(copy_of(a) == pattern(16, 0x10), boost::test_tools::per_element());
  BOOST_TEST(h.vf.torn_retries() >= 1u);
}

BOOST_AUTO_TEST_CASE(an_answer_that_always_changes_fails_with_torn_read) {
  vf_mailbox_config config;
  config.max_torn_retries = 3;
  harness h(config);
  std::array<std::byte, 16> a;
  a.fill(std::byte{0xEE});
  (void)h.read(5, a);
  h.before_read = [&](const mailbox_action& x) {
    if (x.offset == reg::status && h.vf.current_state() == vf_mailbox_engine<>::state::verifying)
      h.pf.set(reg::status, h.pf.u32(reg::status) ^ (28u << 16));  // the count flips between 16 and 12
  };
  h.run();
  BOOST_REQUIRE(h.done.size() == 1u);
  BOOST_TEST((h.done[0].error == errc::torn_read));
  for (std::byte b : a) BOOST_TEST(b == std::byte{0xEE});
}

// A PF that never answers: the VF polls the status dword (one access each), at once, then after the poll
// interval, then twice as long after each unanswered read; the deadline fires on time, the late reply is
// dropped.
BOOST_AUTO_TEST_CASE(an_unanswered_request_polls_one_dword_then_times_out_and_its_late_reply_is_dropped) {
  vf_mailbox_config config;
  config.poll_interval_ns = 100;
  harness h(config);
  std::array<std::byte, 16> a{}, b{};
  (void)h.read(5, b);
  h.run();  // probed, one read done
  h.pf_answers = false;
  const std::size_t mark = h.trace.size();
  (void)h.read(5, a, h.now + 1000);
  h.run(h.now + 1000);
  BOOST_REQUIRE(h.done.size() == 2u);
  BOOST_TEST((h.done[1].error == errc::timeout));
  BOOST_TEST(h.vf.has_orphan());
  std::vector<std::uint64_t> polled;
  for (std::size_t i = mark; i < h.trace.size(); ++i)
    if (h.trace[i].what == kind::read) polled.push_back(h.trace[i].at - h.trace[mark].at);
  BOOST_TEST(polled == (std::vector<std::uint64_t>{0, 100, 300, 700}), boost::test_tools::per_element());
  BOOST_TEST(h.accesses(mark) == 1u + 4u);  // the doorbell, one dword per poll
  // The PF answers late: the answer is dropped, the next request works.
  h.pf.service(reg::request);
  h.pf_answers = true;
  std::array<std::byte, 16> c{};
  (void)h.read(5, c);
  h.run();
  BOOST_REQUIRE(h.done.size() == 3u);
  BOOST_TEST((h.done[2].error == no_error));
  BOOST_TEST(h.vf.late_replies_dropped() == 1u);
  BOOST_TEST(a == (std::array<std::byte, 16>{}));
}

BOOST_AUTO_TEST_CASE(an_orphan_unanswered_past_the_orphan_timeout_resets_the_mailbox) {
  harness h = with_an_orphan();
  std::array<std::byte, 16> b{};
  (void)h.read(5, b);
  // The probe had not run before the request went out: the PF never synchronised, nothing answers. The
  // orphan's reads (1300, 1700, 2500: doubling from the doorbell's poll interval) find it overdue at 2500,
  // 1200 ns after the first that found it unanswered.
  h.run(2600);
  BOOST_TEST(h.count("W 14 4") == 1u);
  BOOST_TEST(h.vf.resets() == 1u);
  const traced* reset_write = nullptr;
  for (const auto& t : h.trace)
    if (t.what == kind::write && t.offset == reg::control) reset_write = &t;
  BOOST_REQUIRE(reset_write != nullptr);
  BOOST_TEST(reset_write->data == u32s({mailbox::control_reset}), boost::test_tools::per_element());
  // The PF resets the window: the VF continues, the PF adopts its next sequence.
  h.pf.service(reg::control);
  h.pf_answers = true;
  h.run();
  BOOST_REQUIRE(h.done.size() == 2u);
  BOOST_TEST((h.done[1].error == no_error));
  BOOST_TEST(copy_of(b) == pattern(16, 0x10), boost::test_tools::per_element());
  BOOST_TEST(!h.vf.has_orphan());
}

BOOST_AUTO_TEST_CASE(cancelling_queued_and_active_operations) {
  harness h;
  h.pf_answers = false;
  std::array<std::byte, 16> a{};
  const op_handle first = h.read(5, a);
  const op_handle second = h.write(6, pattern(8, 1));
  BOOST_TEST((h.settle().what == kind::wait));  // the read is on the wire, the write waits behind it
  BOOST_TEST(h.vf.is_queued(second));
  BOOST_TEST(!h.vf.is_queued(first));
  // Total cancellation: a read always, a write only while it waits behind others.
  BOOST_TEST(h.vf.cancel(second, cancel_scope::without_effects));
  BOOST_TEST(!h.vf.cancel(second));  // only once
  BOOST_TEST(h.vf.cancel(first, cancel_scope::without_effects));
  (void)h.settle();
  BOOST_REQUIRE(h.done.size() == 2u);
  BOOST_TEST((h.done[0].error == errc::cancelled));
  BOOST_TEST((h.done[1].error == errc::cancelled));
  BOOST_TEST(h.vf.has_orphan());  // the read's request may be answered still
  // A write on the wire refuses total cancellation, accepts terminal.
  h.pf.service(reg::request);  // answers the orphan
  h.pf_answers = false;
  const op_handle third = h.write(6, pattern(8, 2));
  h.now += vf_mailbox_config{}.poll_interval_ns;
  (void)h.settle();
  BOOST_TEST(h.vf.late_replies_dropped() == 1u);
  BOOST_TEST(!h.vf.cancel(third, cancel_scope::without_effects));
  BOOST_TEST(h.vf.cancel(third, cancel_scope::with_effects));
}

BOOST_AUTO_TEST_CASE(removal_completes_everything_in_start_order_then_probes_again) {
  harness h;
  h.pf_answers = false;
  std::array<std::byte, 16> a{}, b{};
  const op_handle first = h.read(5, a);
  const op_handle second = h.read(6, std::span(b).first(8));
  (void)h.settle();
  h.vf.remove();
  (void)h.settle();
  BOOST_REQUIRE(h.done.size() == 2u);
  BOOST_TEST(h.done[0].handle == first);
  BOOST_TEST(h.done[1].handle == second);
  for (const auto& d : h.done) BOOST_TEST((d.error == errc::vf_removed));
  h.pf_answers = true;
  const std::size_t mark = h.trace.size();
  (void)h.read(6, std::span(b).first(8));
  h.run();
  BOOST_TEST(h.script(mark).front() == "R 0 36");
}

BOOST_AUTO_TEST_CASE(sixteen_queued_is_busy_and_bad_lengths_are_refused_up_front) {
  harness h;
  std::array<std::byte, 16> a{};
  for (int i = 0; i < 16; ++i) (void)h.read(5, a);
  BOOST_TEST((h.vf.start_read(block_id{5}, a, far).error() == errc::busy));
  harness g;
  BOOST_TEST((g.vf.start_read(block_id{5}, std::span<std::byte>{}, far).error() == errc::invalid_length));
  std::array<std::byte, 129> big{};
  BOOST_TEST((g.vf.start_write(block_id{5}, big, far).error() == errc::invalid_length));
  BOOST_TEST(g.trace.empty());
}

BOOST_AUTO_TEST_CASE(a_foreign_or_other_layout_window_is_refused_at_the_probe) {
  struct case_t {
    const char* what;
    std::function<void(spec_pf&)> change;
    errc expected;
  };
  const std::vector<case_t> cases{
      {"a VSEC, not a DVSEC", [](spec_pf& pf) { pf.set(reg::ext_header, 0x0001000B); }, errc::not_found},
      {"another DVSEC ID", [](spec_pf& pf) { pf.set(reg::dvsec_header2, 0x1234); }, errc::not_found},
      // A revision-2 DVSEC shorter than the window: not_supported, as config::find_mailbox and docs/protocol.md
      // 2 say (the probe said not_found, as if there were no such DVSEC).
      {"too short", [](spec_pf& pf) { pf.set(reg::dvsec_header1, (pf.u32(reg::dvsec_header1) & 0xFFFFF) | (0x40u << 20)); }, errc::not_supported},
      {"too short and another revision",
       [](spec_pf& pf) { pf.set(reg::dvsec_header1, ((pf.u32(reg::dvsec_header1) & 0xFFFFF) ^ (1u << 16)) | (0x40u << 20)); },
       errc::revision_mismatch},
      {"another revision", [](spec_pf& pf) { pf.set(reg::dvsec_header1, pf.u32(reg::dvsec_header1) ^ (1u << 16)); }, errc::revision_mismatch},
      {"another layout", [](spec_pf& pf) { pf.set(reg::identity, mailbox::encode_identity(0) + 1); }, errc::revision_mismatch},
      {"never initialised (epoch 0)", [](spec_pf& pf) { pf.set(reg::status, 0); }, errc::not_found},
      // Placed, and no PF has initialised it yet (identity and status 0): not usable yet, not another
      // layout (it was revision_mismatch, which a driver that loads before its PF takes for "incompatible").
      {"placed, not yet initialised", [](spec_pf& pf) { pf.set(reg::identity, 0); pf.set(reg::status, 0); }, errc::not_found},
      {"another layout, epoch 0", [](spec_pf& pf) { pf.set(reg::identity, mailbox::encode_identity(0) + 1); pf.set(reg::status, 0); },
       errc::revision_mismatch},
  };
  for (const auto& c : cases) {
    BOOST_TEST_CONTEXT(c.what) {
      harness h;
      c.change(h.pf);
      std::array<std::byte, 16> a{};
      (void)h.read(5, a);
      h.run();
      BOOST_REQUIRE(h.done.size() == 1u);
      BOOST_TEST((h.done[0].error == c.expected));
      BOOST_TEST(h.count("W 1c 4") == 0u);  // nothing was sent
    }
  }
}

// Found by a version-skew audit: a window of another layout or revision, or too short for this one, was
// refused to a request (revision_mismatch, not_supported) but a watch of it waited for good, polling, and
// poll_invalidations said success. The watch now ends with the request's verdict, at each look for a watch
// started again; a window no PF has initialised yet, or none there yet, is watched on (not_found: nothing
// to report yet), and one that becomes usable is served.
BOOST_AUTO_TEST_CASE(a_watch_of_a_window_of_another_layout_ends_with_the_requests_verdict) {
  struct case_t {
    const char* what;
    std::function<void(spec_pf&)> change;
    errc expected;  // no_error: watched on
  };
  const std::vector<case_t> cases{
      {"another revision", [](spec_pf& pf) { pf.set(reg::dvsec_header1, pf.u32(reg::dvsec_header1) ^ (1u << 16)); }, errc::revision_mismatch},
      {"another layout", [](spec_pf& pf) { pf.set(reg::identity, mailbox::encode_identity(0) + 1); }, errc::revision_mismatch},
      {"too short", [](spec_pf& pf) { pf.set(reg::dvsec_header1, (pf.u32(reg::dvsec_header1) & 0xFFFFF) | (0x40u << 20)); }, errc::not_supported},
      {"placed, not yet initialised", [](spec_pf& pf) { pf.set(reg::identity, 0); pf.set(reg::status, 0); }, no_error},
      {"another DVSEC ID", [](spec_pf& pf) { pf.set(reg::dvsec_header2, 0x1234); }, no_error},
  };
  for (const auto& c : cases) {
    BOOST_TEST_CONTEXT(c.what) {
      harness h;
      c.change(h.pf);
      h.vf.watch_invalidations(true);
      h.run(h.now + 5'000'000);
      BOOST_TEST((h.vf.take_watch_failure() == c.expected));
      // Watched again (the endpoint's next wait): the verdict again at the next look, which reads one dword.
      h.vf.watch_invalidations(true);
      const std::size_t mark = h.trace.size();
      h.run(h.now + 10'000'000);
      BOOST_TEST((h.vf.take_watch_failure() == c.expected));
      BOOST_TEST(h.accesses(mark) == 1u);
      // The PF initialises the window afresh in this layout: the watch is served.
      h.pf.initialise();
      h.pf.invalidate(0b10);
      h.vf.watch_invalidations(true);
      h.run(h.now + 20'000'000);
      BOOST_TEST((h.vf.take_watch_failure() == no_error));
      BOOST_TEST(h.vf.take_invalidations().bits() == 0b10u);
    }
  }
}

// Found by a version-skew audit: the INVALIDATION capability was never read. A watch of a PF that announces
// none waited for good (100 status reads a second), and the VF read and acknowledged the mask registers of a
// PF that said it has none whenever status bit 25 was set. The watch now ends with not_supported, at each
// look while the PF announces none; bit 25 means nothing from such a PF; requests are served as before.
BOOST_AUTO_TEST_CASE(a_pf_without_the_invalidation_capability_ends_a_watch_and_its_mask_is_never_read) {
  harness h({}, mailbox::capability::heartbeat, 10);
  h.pf.invalidate(0b1);  // bit 25 set all the same, the mask registers holding a bit
  h.vf.watch_invalidations(true);
  h.run(h.now + 5'000'000);
  BOOST_TEST((h.vf.take_watch_failure() == errc::not_supported));
  h.vf.watch_invalidations(true);  // watched again: the verdict again at the next look
  h.run(h.now + 10'000'000);
  BOOST_TEST((h.vf.take_watch_failure() == errc::not_supported));
  h.vf.watch_invalidations(false);
  std::array<std::byte, 16> out{};
  (void)h.read(5, out);
  h.run();
  BOOST_REQUIRE(h.done.size() == 1u);
  BOOST_TEST((h.done[0].error == no_error));
  BOOST_TEST(out == pattern(16, 0x10), boost::test_tools::per_element());
  BOOST_TEST(h.count("R 28 8") == 0u);
  BOOST_TEST(h.count("R 30 8") == 0u);
  BOOST_TEST(h.vf.take_invalidations().empty());
  // The PF comes back announcing it: the next probe reads the latch and the watch is served.
  h.pf.capabilities = mailbox::capability::invalidation | mailbox::capability::heartbeat;
  h.pf.initialise();
  h.vf.watch_invalidations(true);
  h.run(h.now + 20'000'000);
  BOOST_TEST((h.vf.take_watch_failure() == no_error));
  BOOST_TEST(h.vf.take_invalidations().bits() == 0b1u);
}

// The DVSEC vendor a VF checks: by default any (discovery matched it; a VF's own vendor ID reads 0xFFFF),
// or the one it names (the window of another vendor is not found, nothing sent). The option is a
// config::dvsec_vendor_filter, as find_mailbox's: vendor 0 is a vendor, not "unchecked".
BOOST_AUTO_TEST_CASE(the_dvsec_vendor_a_vf_checks_is_any_by_default_or_the_one_it_names) {
  struct case_t {
    const char* what;
    config::dvsec_vendor_filter vendor;
    errc expected;
  };
  const std::vector<case_t> cases{
      {"any (the default)", config::any_dvsec_vendor, no_error},
      {"the PF's vendor named", config::dvsec_vendor_filter(0x1AF4), no_error},
      {"another vendor named", config::dvsec_vendor_filter(0x8086), errc::not_found},
      {"vendor 0 named", config::dvsec_vendor_filter(0), errc::not_found},
  };
  for (const auto& c : cases) {
    BOOST_TEST_CONTEXT(c.what) {
      vf_mailbox_config config{};
      config.dvsec_vendor = c.vendor;
      harness h(config);
      std::array<std::byte, 16> a{};
      (void)h.read(5, a);
      h.run();
      BOOST_REQUIRE(h.done.size() == 1u);
      BOOST_TEST((h.done[0].error == c.expected));
      BOOST_TEST(h.count("W 1c 4") == (c.expected == no_error ? 1u : 0u));
    }
  }
}

// A VF driver that loads before its PF: the window is placed (its DVSEC headers are there), identity and
// status read 0. The request fails with not_found, and the next one, after the PF initialised the window,
// probes again and is served.
BOOST_AUTO_TEST_CASE(a_window_no_pf_initialised_yet_is_not_found_then_served_once_initialised) {
  harness h;
  const std::uint32_t identity = h.pf.u32(reg::identity), status = h.pf.u32(reg::status);
  h.pf.set(reg::identity, 0);
  h.pf.set(reg::status, 0);
  std::array<std::byte, 16> a{};
  (void)h.read(5, a);
  h.run();
  BOOST_REQUIRE(h.done.size() == 1u);
  BOOST_TEST((h.done[0].error == errc::not_found));
  h.pf.set(reg::identity, identity);
  h.pf.set(reg::status, status);
  (void)h.read(5, a);
  h.run();
  BOOST_REQUIRE(h.done.size() == 2u);
  BOOST_TEST((h.done[1].error == no_error));
}

// Sequence 1 always writes the block register. A VF idle at 0xFFFF whose PF takes an FLR it has not seen
// yet rings 1 next, and the PF, synchronised at 0 after zeroing the request registers, runs 1 (docs/protocol.md
// 5.1) on whatever the block register holds: the VF skipped the write (the register "held" its block), and a
// write of block 5 ran on block 0 (found by a review, reproduced with vpci's PF and VF: 65535 writes, an
// FLR, one more write). Other sequences skip the write as before.
BOOST_AUTO_TEST_CASE(a_request_with_sequence_1_writes_the_block_register_even_when_it_holds_the_block) {
  harness h;
  h.pf.set(reg::request_block, 5);
  h.pf.set(reg::request, mailbox::encode_request(0xFFFF, 16, mailbox::operation::read));
  h.pf.last_sequence = 0xFFFF;
  h.pf.synchronised = true;
  h.pf.publish(0xFFFF, 16, false);
  std::array<std::byte, 16> a{};
  (void)h.read(5, a);  // sequence 1, after the wrap
  h.run();
  BOOST_REQUIRE(h.done.size() == 1u);
  BOOST_TEST((h.done[0].error == no_error));
  BOOST_TEST(h.count("W 18 4") == 1u);
  (void)h.read(5, a);  // sequence 2: the register holds 5
  h.run();
  BOOST_REQUIRE(h.done.size() == 2u);
  BOOST_TEST((h.done[1].error == no_error));
  BOOST_TEST(h.count("W 18 4") == 1u);
}

// A watcher of a window that is not usable (no mailbox there, or no PF has initialised it yet: a VF driver
// that loads before its PF) probed the whole window, 9 dwords, every watch interval: 900 accesses a second,
// not the idle watcher's 100. After the first probe it reads the status dword only, which a PF writes last
// when it initialises the window, and probes again when that changed.
BOOST_AUTO_TEST_CASE(watching_an_unusable_window_costs_one_dword_per_watch_interval) {
  vf_mailbox_config config;
  config.watch_interval_ns = 100;
  for (const bool no_mailbox : {true, false}) {
    BOOST_TEST_CONTEXT((no_mailbox ? "no mailbox" : "a window no PF initialised yet")) {
      harness h(config);
      const std::uint32_t identity = h.pf.u32(reg::identity), status = h.pf.u32(reg::status);
      if (no_mailbox) {
        h.pf.set(reg::dvsec_header2, 0);
      } else {
        h.pf.set(reg::identity, 0);
        h.pf.set(reg::status, 0);
      }
      h.vf.watch_invalidations(true);
      const std::uint64_t start = h.now;
      h.run(start + 1000);  // ten watch intervals
      BOOST_TEST(h.count("R 0 36") == 1u);
      BOOST_TEST(h.count("R 20 4") == 10u);
      BOOST_TEST(h.accesses() == 9u + 10u);
      if (no_mailbox) continue;
      // The PF initialises the window (status last): the next look sees the status change and probes.
      h.pf.set(reg::identity, identity);
      h.pf.set(reg::status, status);
      const std::size_t from = h.trace.size();
      h.now = h.vf.step(h.now).until;
      (void)h.settle();
      BOOST_TEST(h.script(from).front() == "R 20 4");
      BOOST_TEST(h.count("R 0 36") == 2u);
      BOOST_TEST(h.vf.epoch() == mailbox::decode_status(status).epoch);
    }
  }
}

// A watcher whose request timed out on a hung PF cost 50,000 accesses a second, for good: its orphan was
// polled every 20 us, reset at the orphan timeout, and when the PF did not complete the reset the watch's
// next probe found the orphan again and started over (25,000 status and 25,000 control reads, 5 resets a
// second). An orphan with no request behind it is read only with the watch's status reads and never
// reset; the next request resets it at once, as it is overdue by then.
BOOST_AUTO_TEST_CASE(a_watcher_whose_request_timed_out_on_a_hung_pf_costs_one_dword_per_watch_interval) {
  harness h;
  h.vf.watch_invalidations(true);
  std::array<std::byte, 16> out{};
  (void)h.read(5, out);
  h.run(h.now);  // probed and served (a watch never leaves the engine idle)
  h.pf_answers = false;
  (void)h.read(5, out, h.now + 1'000'000);
  h.run(h.now + 1'000'000);
  BOOST_REQUIRE(h.done.size() == 2u);
  BOOST_TEST((h.done[1].error == errc::timeout));
  BOOST_TEST(h.vf.has_orphan());
  const std::uint64_t start = h.now;
  const std::size_t mark = h.trace.size();
  h.run(start + 1'000'000'000);  // one virtual second
  BOOST_TEST(h.count("W 14 4") == 0u);
  BOOST_TEST(h.vf.resets() == 0u);
  const script_t since = h.script(mark);
  BOOST_TEST(h.accesses(mark) == 100u);
  BOOST_TEST(std::count(since.begin(), since.end(), "R 20 4") == 100);  // the status, once per watch interval
  BOOST_TEST(h.vf.has_orphan());
  // The PF comes back: the next request resets the orphan at once (overdue since the watch's first read of
  // it) and is served.
  h.pf_answers = true;
  const std::size_t again = h.trace.size();
  (void)h.read(5, out);
  h.run(h.now + 1);
  BOOST_REQUIRE(h.done.size() == 3u);
  BOOST_TEST((h.done[2].error == no_error));
  BOOST_TEST(h.vf.resets() == 1u);
  BOOST_TEST(h.script(again).front() == "R 20 4");
  BOOST_TEST(h.script(again)[1] == "W 14 4");
  // A late answer the PF gives the orphan instead is dropped by the watch's next read, without a reset.
  harness late;
  late.vf.watch_invalidations(true);
  (void)late.read(5, out);
  late.run(late.now);
  late.pf_answers = false;
  (void)late.read(5, out, late.now + 1'000'000);
  late.run(late.now + 1'000'000);
  late.run(late.now + 500'000'000);
  late.pf.service(reg::request);
  late.run(late.now + 20'000'000);
  BOOST_TEST(!late.vf.has_orphan());
  BOOST_TEST(late.vf.late_replies_dropped() == 1u);
  BOOST_TEST(late.vf.resets() == 0u);
}

// A PF that polls its windows (it cannot be told of a VF write) answers a request that finds it idle only at
// its next poll: up to 10 ms for vpci's PF. The VF read the status every 20 us meanwhile: the first request
// after an idle spell cost 504 accesses instead of 4 (in a VM, 10 ms of config cycles). The polls double
// from the poll interval up to the watch interval: 10 status reads for an answer given after 10 ms, seen
// 0.22 ms after it was given.
BOOST_AUTO_TEST_CASE(a_request_a_polling_pf_answers_after_10_ms_costs_ten_status_reads) {
  harness h;
  std::array<std::byte, 8> got{};
  (void)h.read(6, got);  // probed, and the block register holds 6
  h.run();
  h.pf_answers = false;
  const std::size_t mark = h.trace.size();
  const std::uint64_t start = h.now;
  (void)h.read(6, got);
  h.run(start + 10'000'000);
  h.pf.service(reg::request);  // the PF's poll, 10 ms later
  h.run();
  BOOST_REQUIRE(h.done.size() == 2u);
  BOOST_TEST((h.done[1].error == no_error));
  BOOST_TEST(copy_of(got) == h.pf.blocks[6], boost::test_tools::per_element());
  std::vector<std::uint64_t> polled;
  for (std::size_t i = mark; i < h.trace.size(); ++i)
    if (h.trace[i].what == kind::read && h.trace[i].offset == reg::status) polled.push_back((h.trace[i].at - start) / 1000);
  // In microseconds: 10 polls, the last answered, then the tear check (before: one every 20 us, 500 polls).
  BOOST_TEST(polled == (std::vector<std::uint64_t>{0, 20, 60, 140, 300, 620, 1260, 2540, 5100, 10220, 10220}),
             boost::test_tools::per_element());
  BOOST_TEST(h.accesses(mark) == 1u + 10u + 2u + 1u);  // the doorbell, the polls, the data, the tear check
}

// Found by a review of the doubling polls (D1): a request's polls slowed to the watch interval (10 ms), and
// two status reads more than two heartbeat intervals apart cannot show that the beat stopped, so a PF with
// a heartbeat of 4 ms or less that stopped was never found gone by a request (it timed out at its
// deadline instead: 1 s). The polls slow to the heartbeat interval at most when it is the shorter.
BOOST_AUTO_TEST_CASE(a_request_finds_a_pf_with_a_short_heartbeat_gone) {
  for (const std::uint16_t beat_ms : std::initializer_list<std::uint16_t>{1, 4, 5}) {
    BOOST_TEST_CONTEXT(beat_ms << " ms heartbeat") {
      harness h({}, mailbox::capability::invalidation | mailbox::capability::heartbeat, beat_ms);
      std::array<std::byte, 16> out{};
      (void)h.read(5, out);
      h.run();
      BOOST_REQUIRE(h.done.size() == 1u);
      h.pf_answers = false;  // it stops beating and answering
      const std::uint64_t start = h.now;
      (void)h.read(5, out, start + 1'000'000'000);
      h.run(start + 1'000'000'000);
      BOOST_REQUIRE(h.done.size() == 2u);
      BOOST_TEST((h.done[1].error == errc::peer_gone));
      const std::uint64_t interval = beat_ms * 1'000'000u;
      // Four intervals without a beat, seen by a poll at most one interval later.
      BOOST_TEST(h.trace.back().at - start <= 5 * interval);
    }
  }
}

// Found by a version-skew audit: a watch looked every watch interval (10 ms), and two status reads more than
// two heartbeat intervals apart cannot show that the beat stopped, so the watch of a PF with a beat of 4 ms
// or less that stopped never ended (100 status reads a second, for good); a request to a PF that signals
// polled every watch interval too, and timed out at its deadline instead of finding the PF gone. A read that
// finds the beat where the last one left it is now followed by one a heartbeat interval later, until the beat
// moves or the PF is gone.
BOOST_AUTO_TEST_CASE(a_watch_and_a_signalled_request_find_a_pf_with_a_short_heartbeat_gone) {
  constexpr std::uint64_t ms = 1'000'000;
  vf_mailbox_config signalled;
  signalled.use_signal = true;
  for (const std::uint16_t beat_ms : std::initializer_list<std::uint16_t>{1, 2, 4, 5}) {
    BOOST_TEST_CONTEXT(beat_ms << " ms heartbeat") {
      const std::uint64_t interval = beat_ms * ms;
      std::array<std::byte, 16> out{};
      // The watch: found gone within a watch interval and five beats.
      harness w({}, mailbox::capability::invalidation | mailbox::capability::heartbeat, beat_ms);
      (void)w.read(5, out);
      w.run();
      BOOST_REQUIRE(w.done.size() == 1u);
      w.pf_answers = false;  // it stops beating and answering
      w.vf.watch_invalidations(true);
      w.run(w.now + 10 * ms + 5 * interval);
      BOOST_TEST((w.vf.take_watch_failure() == errc::peer_gone));
      // A request to a PF that signals: peer_gone within a watch interval and five beats, not its timeout.
      harness r(signalled, mailbox::capability::invalidation | mailbox::capability::heartbeat | mailbox::capability::signal,
                beat_ms);
      (void)r.read(5, out);
      r.run();
      BOOST_REQUIRE(r.done.size() == 1u);
      BOOST_REQUIRE(r.vf.signalled());
      r.pf_answers = false;
      const std::uint64_t start = r.now;
      (void)r.read(5, out, start + 1'000 * ms);
      r.run(start + 1'000 * ms);
      BOOST_REQUIRE(r.done.size() == 2u);
      BOOST_TEST((r.done[1].error == errc::peer_gone));
      BOOST_TEST(r.trace.back().at - start <= 10 * ms + 5 * interval);
    }
  }
}

// What the follow-up reads cost a watch of a live PF with a short beat: nothing while each look finds the
// beat moved (a 1 ms beat under the 10 ms watch: 100 reads a second, as without a heartbeat); one more read
// per look when the watch interval is a whole number of rounds of the beat (8 ms and 2 ms: every look finds
// the beat where it was, and the one 2 ms later finds it moved: two reads every 10 ms), and the PF is never
// taken for gone.
BOOST_AUTO_TEST_CASE(a_watch_of_a_live_pf_with_a_short_heartbeat_reads_at_most_twice_a_watch_interval) {
  constexpr std::uint64_t ms = 1'000'000;
  struct case_t {
    std::uint16_t beat_ms;
    std::uint64_t watch_ms;
    std::size_t reads_per_second;
  };
  for (const case_t c : {case_t{1, 10, 100}, case_t{2, 8, 200}}) {
    BOOST_TEST_CONTEXT(c.beat_ms << " ms heartbeat, " << c.watch_ms << " ms watch") {
      vf_mailbox_config config;
      config.watch_interval_ns = c.watch_ms * ms;
      harness h(config, mailbox::capability::invalidation | mailbox::capability::heartbeat, c.beat_ms);
      std::uint64_t next_beat = h.now + c.beat_ms * ms / 2;  // beats halfway between the looks' instants
      h.before_read = [&](const mailbox_action&) {
        for (; next_beat <= h.now; next_beat += c.beat_ms * ms) h.pf.beat();
      };
      h.vf.watch_invalidations(true);
      (void)h.settle();  // the probe
      const std::size_t mark = h.trace.size();
      const std::uint64_t start = h.now;
      h.run(start + 1'000 * ms);
      std::size_t reads = 0;
      for (std::size_t i = mark; i < h.trace.size(); ++i) reads += h.trace[i].what == kind::read ? 1u : 0u;
      BOOST_TEST(reads == c.reads_per_second);
      BOOST_TEST((h.vf.take_watch_failure() == no_error));
      BOOST_TEST(!h.vf.peer_silent());
    }
  }
}

// A request to a live PF with a short beat that answers late: the doubling polls are bounded by the look
// interval, not by the beat. They double from 20 us (0 to 2540 us); the read at 2540 us finds the beat where
// the one at 1260 us left it (beats at 1, 3, 5 ms...), so the next comes a beat later (4540 us) and finds it
// moved; the doubling goes on (9660 us) up to the watch interval, one poll every 10 ms until the answer
// made at 100 ms is seen (109660 us) and its status read again with the data. Capping the polls at the beat
// throughout, as before the look interval, read every 2 ms: 58 status reads where 21 do.
BOOST_AUTO_TEST_CASE(a_late_answer_from_a_live_pf_with_a_short_heartbeat_is_polled_up_to_the_watch_interval) {
  constexpr std::uint64_t us = 1'000;
  constexpr std::uint64_t ms = 1'000 * us;
  harness h({}, mailbox::capability::invalidation | mailbox::capability::heartbeat, 2);
  std::array<std::byte, 8> got{};
  (void)h.read(6, got);
  h.run();
  std::uint64_t next_beat = h.now + ms;
  h.before_read = [&](const mailbox_action&) {
    for (; next_beat <= h.now; next_beat += 2 * ms) h.pf.beat();
  };
  h.pf_answers = false;
  const std::size_t mark = h.trace.size();
  const std::uint64_t start = h.now;
  (void)h.read(6, got);
  h.run(start + 100 * ms);
  h.pf.service(reg::request);
  h.run();
  BOOST_REQUIRE(h.done.size() == 2u);
  BOOST_TEST((h.done[1].error == no_error));
  std::vector<std::uint64_t> polls;
  for (std::size_t i = mark; i < h.trace.size(); ++i)
    if (h.trace[i].what == kind::read && h.trace[i].offset == reg::status) polls.push_back((h.trace[i].at - start) / us);
  std::vector<std::uint64_t> expected{0, 20, 60, 140, 300, 620, 1260, 2540, 4540, 9660};
  for (std::uint64_t at = 19'660; at <= 109'660; at += 10'000) expected.push_back(at);
  expected.push_back(109'660);
  BOOST_TEST(polls == expected, boost::test_tools::per_element());
}

// A watch that found the PF gone (a 1 ms beat stopped) goes on looking once a watch interval, not at the
// beat's pace: a PF found gone is not looked at again a beat later (it read every 1 ms, 100 reads in the
// 100 ms where 10 do).
BOOST_AUTO_TEST_CASE(a_watch_of_a_pf_found_gone_looks_once_a_watch_interval) {
  constexpr std::uint64_t ms = 1'000'000;
  harness w({}, mailbox::capability::invalidation | mailbox::capability::heartbeat, 1);
  std::array<std::byte, 16> out{};
  (void)w.read(5, out);
  w.run();
  w.pf_answers = false;  // it stops beating and answering
  w.vf.watch_invalidations(true);
  w.run(w.now + 20 * ms);
  BOOST_REQUIRE((w.vf.take_watch_failure() == errc::peer_gone));
  const std::size_t mark = w.trace.size();
  const std::uint64_t start = w.now;
  w.run(start + 100 * ms);
  std::vector<std::uint64_t> reads;
  for (std::size_t i = mark; i < w.trace.size(); ++i)
    if (w.trace[i].what == kind::read) reads.push_back((w.trace[i].at - start) / ms);
  BOOST_TEST(reads == (std::vector<std::uint64_t>{10, 20, 30, 40, 50, 60, 70, 80, 90, 100}), boost::test_tools::per_element());
}

// The probe that starts a watch tells nothing about the beat yet: the first look comes a watch interval
// after it, not a heartbeat interval (a 1 ms beat read every 1 ms from the probe on).
BOOST_AUTO_TEST_CASE(the_first_look_of_a_watch_comes_a_watch_interval_after_the_probe) {
  constexpr std::uint64_t ms = 1'000'000;
  harness h({}, mailbox::capability::invalidation | mailbox::capability::heartbeat, 1);
  h.vf.watch_invalidations(true);
  (void)h.settle();  // the probe
  const std::size_t mark = h.trace.size();
  const std::uint64_t start = h.now;
  h.run(start + 10 * ms);
  std::vector<std::uint64_t> reads;
  for (std::size_t i = mark; i < h.trace.size(); ++i)
    if (h.trace[i].what == kind::read) reads.push_back(h.trace[i].at - start);
  BOOST_TEST(reads == (std::vector<std::uint64_t>{10 * ms}), boost::test_tools::per_element());
}

// Found by a review (D2): a probe that found an earlier driver's request unanswered did not start the orphan
// timeout, although it read the status. A watcher on a signalling PF reads nothing more, so a read 10 s
// later waited the whole orphan timeout (100 ms) before its reset; it is reset at once now.
BOOST_AUTO_TEST_CASE(an_orphan_the_probe_found_long_ago_is_reset_at_once_by_the_next_request) {
  for (const bool signal : {true, false}) {
    BOOST_TEST_CONTEXT((signal ? "signalled" : "polled")) {
      vf_mailbox_config config;
      config.use_signal = signal;
      harness h(config, mailbox::capability::invalidation | (signal ? mailbox::capability::signal : 0));
      h.pf.set(reg::request_block, 5);
      h.pf.set(reg::request, mailbox::encode_request(7, 16, mailbox::operation::read));  // never answered
      h.vf.watch_invalidations(true);
      const std::uint64_t watched = h.now + 10'000'000'000;  // ten seconds of watching
      h.run(watched);
      h.now = watched;  // a signalled watch reads nothing meanwhile
      BOOST_TEST(h.vf.has_orphan());
      const std::uint64_t start = h.now;
      std::array<std::byte, 16> out{};
      (void)h.read(5, out, start + 1'000'000'000);
      h.run(start + 1);
      BOOST_REQUIRE(h.done.size() == 1u);
      BOOST_TEST((h.done[0].error == no_error));
      BOOST_TEST(h.vf.resets() == 1u);
      BOOST_TEST(h.trace.back().at == start);
    }
  }
}

// Found by a review (D3): a request queued right after its predecessor timed out waited behind the orphan at
// the pace the abandoned request's polls had slowed to (10 ms): the PF's late answer to the orphan, 2 ms
// later, was read 8 ms after it came. A request that starts waiting behind an orphan reads it at once and
// polls it from the poll interval again; the orphan timeout is not overshot by the doubling either.
BOOST_AUTO_TEST_CASE(a_request_behind_a_fresh_orphan_polls_it_from_the_poll_interval) {
  harness h;
  std::array<std::byte, 16> a{}, b{};
  (void)h.read(5, a);
  h.run();
  h.pf_answers = false;
  const std::uint64_t start = h.now;
  (void)h.read(5, a, start + 50'000'000);  // times out at 50 ms, its polls slowed to 10 ms by then
  h.run(start + 50'000'000);
  BOOST_REQUIRE(h.done.size() == 2u);
  BOOST_TEST((h.done[1].error == errc::timeout));
  (void)h.read(5, b);
  h.run(start + 52'000'000);
  h.pf.service(reg::request);  // the orphan's late answer, 2 ms later
  h.pf_answers = true;
  h.run();
  BOOST_REQUIRE(h.done.size() == 3u);
  BOOST_TEST((h.done[2].error == no_error));
  BOOST_TEST(h.vf.late_replies_dropped() == 1u);
  BOOST_TEST(h.vf.resets() == 0u);
  // Read at 52.54 ms: the polls behind the orphan restarted at 50 ms (50.02, 50.06, ... 51.26, 52.54).
  BOOST_TEST(h.trace.back().at - start == 52'540'000u);

  // A PF that never answers the orphan: the reset comes at the orphan timeout, not at the next doubled poll.
  vf_mailbox_config config;
  config.orphan_timeout_ns = 3'000'000;
  harness r(config);
  (void)r.read(5, a);
  r.run();
  r.pf_answers = false;
  const std::uint64_t t0 = r.now;
  (void)r.read(5, a, t0 + 1'000'000);
  (void)r.read(5, b);
  r.run(t0 + 10'000'000);
  const auto reset = std::find_if(r.trace.begin(), r.trace.end(), [](const traced& t) {
    return t.what == kind::write && t.offset == reg::control;
  });
  BOOST_REQUIRE(reset != r.trace.end());
  // The orphan's first unanswered read after its request ended, plus the orphan timeout.
  const auto first = std::find_if(r.trace.begin(), r.trace.end(), [&](const traced& t) {
    return t.what == kind::read && t.offset == reg::status && t.at >= t0 + 1'000'000;
  });
  BOOST_REQUIRE(first != r.trace.end());
  BOOST_TEST(reset->at == first->at + 3'000'000u);
}

// Found by a review (D5): the back-off of fruitless looks at the invalidations counted looks made by a
// request's polls microseconds apart, so a PF that takes acknowledgements at its own poll, a few ms late (not
// broken), had its next raise delivered a watch interval later than before. The back-off starts only when
// the looks have found nothing for a watch interval.
BOOST_AUTO_TEST_CASE(acknowledgements_taken_a_few_ms_late_do_not_start_the_look_backoff) {
  harness h;
  h.pf_answers = false;
  h.pf.invalidate(0b10);
  h.pf.set(reg::invalidate_ack_low, 0b1);  // the last acknowledgement, not taken yet
  std::array<std::byte, 16> out{};
  const std::uint64_t start = h.now;
  (void)h.read(5, out, start + 100'000'000);
  h.run(start + 5'000'000);  // the request's polls look at the registers every time, and find them set
  BOOST_TEST(h.count("R 30 8") >= 8u);
  // The PF takes the acknowledgement at 5 ms (its own poll): the next poll's look finds bit 1.
  h.pf.set(reg::invalidate_ack_low, 0);
  h.run(start + 5'200'000);
  BOOST_TEST(h.vf.pending_invalidations().bits() == 0b10u);
}

// Wake times were now + an interval, which wrapped near the end of a 64-bit clock (a test clock run out to
// its end): the wrapped time lay before now, so the engine read the status again at once and never handed
// back a wait (an endpoint's pump on a synchronous transport never returned). They are held at never: the
// engine waits for a deadline or the peer's signal alone.
BOOST_AUTO_TEST_CASE(wake_times_near_the_end_of_the_clock_are_held_at_never) {
  constexpr std::uint64_t end = ~std::uint64_t{0};
  // A watch 5 ms before the end: the watch interval (10 ms) does not fit.
  harness w;
  w.now = end - 5'000'000;
  w.vf.watch_invalidations(true);
  mailbox_action a = w.settle();
  BOOST_TEST((a.what == kind::wait));
  BOOST_TEST(a.until == end);
  BOOST_TEST(w.accesses() == 9u);  // the probe
  // A read the PF never answers, due 1 ms before the end: polled while the polls fit, timed out at its
  // deadline, and its orphan polled until the next poll no longer fits.
  harness h;
  h.now = end - 5'000'000;
  h.pf_answers = false;
  std::array<std::byte, 16> out{};
  (void)h.read(5, out, end - 1'000'000);
  h.run(end - 1);
  BOOST_REQUIRE(h.done.size() == 1u);
  BOOST_TEST((h.done[0].error == errc::timeout));
  a = h.settle();
  BOOST_TEST((a.what == kind::wait));
  BOOST_TEST(a.until == end);
  // At once, then after 20 us doubling: at 0.02, 0.06, ... 2.54 ms; the next, at 5.1 ms, does not fit.
  BOOST_TEST(h.count("R 20 4") == 8u);
}

// Found by the interleaving explorer (tests/explore): the PF signalled while the VF had an access in flight
// (here the block register of a read whose deadline passed meanwhile). The signal was noted, then
// forgotten when the engine began its idle wait, so a VF that sleeps on the signal never read the status
// that announced the invalidation. A signal counts until the VF issues a status read after it.
BOOST_AUTO_TEST_CASE(explore_a_signal_during_an_access_is_not_lost) {
  spec_pf pf;
  pf.capabilities = mailbox::capability::invalidation | mailbox::capability::signal;
  pf.initialise();
  vf_mailbox_config config;
  config.use_signal = true;
  vf_mailbox_engine<2> vf(config);
  vf.watch_invalidations(true);
  mailbox_action a = vf.step(0);
  BOOST_REQUIRE((a.what == kind::read && a.offset == 0));
  vf.on_read(std::span<const std::byte>(pf.window).first(a.length), 0);
  a = vf.step(0);
  BOOST_REQUIRE((a.what == kind::write && a.offset == reg::control));
  vf.on_written(0);
  a = vf.step(0);
  BOOST_REQUIRE((a.what == kind::wait && a.until == ~std::uint64_t{0}));  // asleep until signalled

  std::array<std::byte, 8> destination{};
  BOOST_REQUIRE(vf.start_read(block_id{1}, destination, 100).has_value());
  a = vf.step(0);
  BOOST_REQUIRE((a.what == kind::write && a.offset == reg::request_block));  // in flight from here
  a = vf.step(200);
  BOOST_TEST((a.what == kind::complete && a.done.error == errc::timeout));
  pf.invalidate(0x2);  // the PF raises, publishes, and signals the VF
  vf.wake();
  vf.on_written(200);  // the block register write completes; nothing is left to send
  a = vf.step(200);
  BOOST_TEST((a.what == kind::read && a.offset == reg::status), "the signal was lost: the VF went back to sleep");
  if (a.what != kind::read) return;
  vf.on_read(std::span<const std::byte>(pf.window).subspan(reg::status, 4), 200);
  a = vf.step(200);
  BOOST_REQUIRE((a.what == kind::read && a.offset == mailbox::ack_area));
  vf.on_read(std::span<const std::byte>(pf.window).subspan(mailbox::ack_area, mailbox::ack_area_size), 200);
  a = vf.step(200);
  BOOST_REQUIRE((a.what == kind::read && a.offset == mailbox::mask_area));
  vf.on_read(std::span<const std::byte>(pf.window).subspan(mailbox::mask_area, mailbox::mask_area_size), 200);
  BOOST_TEST(vf.pending_invalidations().bits() == 0x2u);
}

// The idle budget of issue 10: a watcher without a signal reads one dword per watch interval (10 ms by
// default: 100 accesses per second); with a signal it reads nothing until the PF signals.
BOOST_AUTO_TEST_CASE(an_idle_watcher_costs_one_dword_per_watch_interval_or_nothing_with_a_signal) {
  harness h;
  h.vf.watch_invalidations(true);
  h.run(h.now + 1'000'000'000);  // one virtual second
  BOOST_TEST(h.count("R 20 4") == 100u);
  BOOST_TEST(h.accesses() == 9u + 100u);  // the probe, then one dword per 10 ms
  // With a signal: the VF asks for it once (control.signal), then waits without polling.
  vf_mailbox_config signalled;
  signalled.use_signal = true;
  harness s(signalled, mailbox::capability::invalidation | mailbox::capability::signal);
  s.vf.watch_invalidations(true);
  const mailbox_action a = s.settle();
  BOOST_TEST((a.what == kind::wait));
  BOOST_TEST(a.until == ~std::uint64_t{0});
  BOOST_TEST(s.script() == (script_t{"R 0 36", "W 14 4", "wait"}), boost::test_tools::per_element());
  BOOST_TEST(s.trace[1].data == u32s({mailbox::control_signal}), boost::test_tools::per_element());
  BOOST_TEST(s.vf.signalled());
  // The PF raises an invalidation and signals: one status read, the acknowledgement registers (clear), the
  // latch, the acknowledgement; taking the acknowledgement clears the mask, so the PF rings again and the VF
  // reads the status once more.
  s.pf.invalidate(0b100);
  s.vf.wake();
  const std::size_t mark = s.trace.size();
  (void)s.settle();
  BOOST_TEST(s.script(mark) == (script_t{"R 20 4", "R 30 8", "R 28 8", "W 30 4", "R 20 4", "wait"}),
             boost::test_tools::per_element());
  BOOST_TEST(s.vf.take_invalidations().bits() == 0b100u);
  BOOST_TEST(s.pf.latched == 0u);
  // A PF without the signal capability is polled even on a signalling transport.
  harness p(signalled);
  p.vf.watch_invalidations(true);
  const mailbox_action w = p.settle();
  BOOST_TEST(w.until == p.now + vf_mailbox_config{}.watch_interval_ns);
  BOOST_TEST(!p.vf.signalled());
}

// Issue 14: over shared memory across threads a read took 3 to 4 times the doorbell ping-pong, because the
// VF on a doorbell still woke every poll interval (20 us) while the PF worked on the answer. A PF that
// signals this VF is read when it signals, and otherwise only every watch interval; a PF that does not
// signal is still polled at the poll interval.
BOOST_AUTO_TEST_CASE(issue_14_a_signalled_vf_waits_for_the_signal_not_the_poll_interval) {
  vf_mailbox_config signalled;
  signalled.use_signal = true;
  const std::uint64_t poll = signalled.poll_interval_ns;
  const std::uint64_t watch = signalled.watch_interval_ns;
  harness s(signalled, mailbox::capability::invalidation | mailbox::capability::signal);
  s.pf_answers = false;
  std::array<std::byte, 16> out{};
  const op_handle h = s.read(5, out);
  const mailbox_action first = s.settle();
  BOOST_TEST(s.script() == (script_t{"R 0 36", "W 14 4", "W 18 4", "W 1c 4", "R 20 4", "wait"}),
             boost::test_tools::per_element());
  BOOST_TEST(first.until == s.now + watch);
  // One virtual millisecond without the PF's answer or signal: not one more access.
  const std::size_t mark = s.trace.size();
  s.run(s.now + 1'000'000);
  BOOST_TEST(s.script(mark) == (script_t{"wait"}), boost::test_tools::per_element());
  // The PF answers and signals: one status read, the data, the tear check.
  s.pf.service(mailbox::reg::request);
  s.vf.wake();
  const std::size_t answered = s.trace.size();
  (void)s.settle();
  BOOST_TEST(s.script(answered) == (script_t{"R 20 4", "R 38 16", "R 20 4", "done", "idle"}),
             boost::test_tools::per_element());
  BOOST_REQUIRE(s.done.size() == 1u);
  BOOST_TEST(s.done[0].handle == h);
  BOOST_TEST(copy_of(out) == s.pf.blocks[5], boost::test_tools::per_element());

  // Without the signal: the status is polled, first after the poll interval, then twice as long after
  // each unanswered read (20, 60, 140, 300 and 620 us: 5 reads in a virtual millisecond, not 50).
  harness p;
  p.pf_answers = false;
  std::array<std::byte, 16> polled{};
  (void)p.read(5, polled);
  const mailbox_action w = p.settle();
  BOOST_TEST(w.until == p.now + poll);
  const std::size_t before = p.count("R 20 4");
  p.run(p.now + 1'000'000);
  BOOST_TEST(p.count("R 20 4") - before == 5u);
}

// Every access to the window is a single dword (docs/protocol.md). The VF read an answer of 11 bytes as 11
// bytes and wrote 11 bytes as 11: a tail of a word and a byte, one config access more than the floor each
// way on a byte-granular path. It now reads and writes whole dwords: the PF's zero padding of the answer
// is dropped, and a write's padding is zero (never what an earlier, longer write left in the buffer).
BOOST_AUTO_TEST_CASE(an_odd_length_block_moves_through_the_window_in_whole_dwords) {
  harness h;
  h.pf.blocks[7] = pattern(11, 0x70);
  std::array<std::byte, 11> out{};
  (void)h.read(7, out);
  h.run();
  BOOST_TEST(h.script() == (script_t{"R 0 36", "W 18 4", "W 1c 4", "R 20 4", "R 38 12", "R 20 4", "done", "idle"}),
             boost::test_tools::per_element());
  BOOST_TEST(copy_of(out) == h.pf.blocks[7], boost::test_tools::per_element());
  BOOST_REQUIRE(h.done.size() == 1u);
  BOOST_TEST((h.done[0].error == no_error));
  BOOST_TEST(h.done[0].bytes == 11u);

  // A write of 12 bytes, then one of 11 to the same slot: the padding dword carries a zero, not the 12th
  // byte of the first write.
  h.pf.blocks[8] = pattern(12, 0);
  const bytes twelve = pattern(12, 0xC0);
  (void)h.write(8, twelve);
  h.run();
  const bytes eleven = pattern(11, 0xE0);
  (void)h.write(7, eleven);
  const std::size_t mark = h.trace.size();
  h.run();
  BOOST_TEST(h.script(mark) == (script_t{"W 38 12", "W 18 4", "W 1c 4", "R 20 4", "done", "idle"}),
             boost::test_tools::per_element());
  bytes padded = eleven;
  padded.push_back(std::byte{0});
  BOOST_TEST(h.trace[mark].data == padded, boost::test_tools::per_element());
  BOOST_TEST(h.pf.blocks[7] == eleven, boost::test_tools::per_element());  // the PF took 11 bytes
  BOOST_TEST(h.accesses(mark) == 11u / 4 + 1 + 2 + 1);                   // the floor, and the block register
}

BOOST_AUTO_TEST_CASE(invalidations_are_latched_acknowledged_and_delivered_once) {
  harness h;
  h.pf.invalidate((std::uint64_t{1} << 40) | 0b101);
  h.vf.watch_invalidations(true);
  (void)h.settle();
  BOOST_TEST(h.script() == (script_t{"R 0 36", "R 30 8", "R 28 8", "W 30 8", "wait"}), boost::test_tools::per_element());
  BOOST_TEST(h.trace[3].data == u32s({0b101, 1u << 8}), boost::test_tools::per_element());  // both dwords carry bits
  BOOST_TEST(h.vf.pending_invalidations().bits() == ((std::uint64_t{1} << 40) | 0b101));
  BOOST_TEST(h.pf.latched == 0u);  // the PF took the acknowledgement
  // More raised while watching: seen at the next poll, coalesced on the VF side until taken.
  h.pf.invalidate(0b10);
  h.now += vf_mailbox_config{}.watch_interval_ns;
  (void)h.settle();
  BOOST_TEST(h.vf.take_invalidations().bits() == ((std::uint64_t{1} << 40) | 0b111));
  BOOST_TEST(h.vf.take_invalidations().empty());
}

// docs/protocol.md 4.3: the acknowledgement registers first, the mask only once they read cleared, and an
// acknowledgement of exactly the mask read. A VF that read the mask while its last acknowledgement was
// still in the registers took bits the PF was about to clear as new, and one that wrote those registers'
// bits back took out raises that came after the PF cleared them: either acknowledgement, landing after the
// PF raised such a block anew, cleared the raise before the VF ever read it (found by vpci-explore).
BOOST_AUTO_TEST_CASE(an_acknowledgement_never_takes_out_a_raise_the_vf_has_not_read) {
  harness h;
  h.pf_answers = false;
  // The latch holds bits 1, 2 and 63; the acknowledgement registers still hold bit 1 (taken earlier, not
  // yet cleared by the PF).
  h.pf.latched = 0b110 | (std::uint64_t{1} << 63);
  h.pf.publish(0, 0, false);
  h.pf.set(reg::invalidate_ack_low, 0b010);
  h.vf.watch_invalidations(true);
  (void)h.settle();
  // The acknowledgement registers are not clear: the mask is not read, nothing is delivered or written.
  BOOST_TEST(h.script() == (script_t{"R 0 36", "R 30 8", "wait"}), boost::test_tools::per_element());
  BOOST_TEST(h.vf.pending_invalidations().empty());
  // The next poll finds the same: the same two reads, nothing written.
  h.now += vf_mailbox_config{}.watch_interval_ns;
  std::size_t mark = h.trace.size();
  (void)h.settle();
  BOOST_TEST(h.script(mark) == (script_t{"R 20 4", "R 30 8", "wait"}), boost::test_tools::per_element());
  // The PF takes bit 1 and publishes the mask, then clears the acknowledgement; it raised bit 1 again after
  // it took it. The VF reads the mask after the cleared registers and acknowledges exactly what it read.
  h.pf.latched = 0b110 | (std::uint64_t{1} << 63);
  h.pf.publish(0, 0, false);
  h.pf.set(reg::invalidate_ack_low, 0);
  h.now += vf_mailbox_config{}.watch_interval_ns;
  mark = h.trace.size();
  (void)h.settle();
  BOOST_TEST(h.script(mark) == (script_t{"R 20 4", "R 30 8", "R 28 8", "W 30 8", "wait"}),
             boost::test_tools::per_element());
  BOOST_TEST(h.trace[mark + 3].data == u32s({0b110, 0x80000000u}), boost::test_tools::per_element());
  BOOST_TEST(h.vf.pending_invalidations().bits() == ((std::uint64_t{1} << 63) | 0b110));
  // Bit 2 is raised again after that read; the PF has not taken the acknowledgement yet. The VF's next look
  // writes nothing: bit 2's new raise is the PF's to keep latched (raised again), never the VF's to take.
  h.now += vf_mailbox_config{}.watch_interval_ns;
  mark = h.trace.size();
  (void)h.settle();
  BOOST_TEST(h.script(mark) == (script_t{"R 20 4", "R 30 8", "wait"}), boost::test_tools::per_element());
}

// A PF that keeps INVALIDATED set with nothing to take (it never clears the acknowledgement registers, or
// its mask reads 0) cost a watcher 3 or 5 dwords every watch interval, 300 or 500 accesses a second against
// the idle watcher's 100: every status read looked at the acknowledgement registers (and the mask) again.
// From the second look in a row that finds nothing, the next waits one watch interval, then twice as long as
// the last, up to 32; bits the PF makes takeable are still delivered, and a signal ends the back-off.
BOOST_AUTO_TEST_CASE(a_pf_leaving_invalidated_set_with_nothing_to_take_costs_a_watcher_about_its_status_reads) {
  const std::uint64_t watch = vf_mailbox_config{}.watch_interval_ns;
  for (const bool acknowledgement_kept : {true, false}) {
    BOOST_TEST_CONTEXT((acknowledgement_kept ? "the acknowledgement registers never cleared" : "a mask of none")) {
      harness h;
      h.pf_answers = false;
      if (acknowledgement_kept) {
        h.pf.invalidate(0b100);
        h.pf.set(reg::invalidate_ack_low, 0b1);
      } else {
        h.pf.set(reg::status, h.pf.u32(reg::status) | (1u << 25));  // INVALIDATED, the mask registers 0
      }
      h.vf.watch_invalidations(true);
      const std::uint64_t start = h.now;
      h.run(start + 1'000'000'000);  // one virtual second: 100 watch intervals
      const std::size_t look = acknowledgement_kept ? 2u : 4u;  // dwords per look
      BOOST_TEST(h.count("R 20 4") == 100u);
      // The probe's look, then intervals 1, 2, 4, 8, 16, 32, 64 and 96 (before: every one of the 100).
      BOOST_TEST(h.count("R 30 8") == 9u);
      BOOST_TEST(h.accesses() == 9u + 100u + 9u * look);
      std::vector<std::uint64_t> looked;
      for (const auto& t : h.trace)
        if (t.what == kind::read && t.offset == mailbox::ack_area) looked.push_back((t.at - start) / watch);
      BOOST_TEST(looked == (std::vector<std::uint64_t>{0, 1, 2, 4, 8, 16, 32, 64, 96}), boost::test_tools::per_element());
      BOOST_TEST(h.vf.pending_invalidations().empty());
      // The PF mends its ways: bit 2 can be taken now, the status word unchanged. The look after the next 32
      // intervals (at 128) delivers it; the PF takes the acknowledgement and clears INVALIDATED, which ends
      // the back-off: a raise after that is read at the next interval.
      h.pf.set(reg::invalidate_ack_low, 0);
      h.pf.latched = 0b100;
      h.pf.publish(0, 0, false);
      h.pf_answers = true;
      h.run(start + 128 * watch);
      BOOST_TEST(h.vf.take_invalidations().bits() == 0b100u);
      BOOST_TEST(h.pf.latched == 0u);
      h.pf.invalidate(0b1000);
      h.run(start + 129 * watch);
      BOOST_TEST(h.vf.take_invalidations().bits() == 0b1000u);
    }
  }

  // With a signal: the VF sleeps until signalled whatever the PF leaves latched, and a signal ends the
  // back-off, including one that came during a look that found nothing (that look did not answer it).
  vf_mailbox_config signalled;
  signalled.use_signal = true;
  harness s(signalled, mailbox::capability::invalidation | mailbox::capability::signal);
  s.pf_answers = false;
  s.pf.invalidate(0b100);
  s.pf.set(reg::invalidate_ack_low, 0b1);
  s.vf.watch_invalidations(true);
  mailbox_action a = s.settle();
  BOOST_TEST(a.until == ~std::uint64_t{0});
  s.vf.wake();  // a signal for something else: the second look that finds nothing
  a = s.settle();
  BOOST_TEST(a.until == ~std::uint64_t{0});
  BOOST_TEST(s.script() == (script_t{"R 0 36", "W 14 4", "R 30 8", "wait", "R 20 4", "R 30 8", "wait"}),
             boost::test_tools::per_element());
  // The third look finds the registers set; the PF clears them and signals before that read is reported.
  s.vf.wake();
  a = s.vf.step(s.now);
  BOOST_REQUIRE((a.what == kind::read && a.offset == reg::status));
  s.vf.on_read(std::span<const std::byte>(s.pf.window).subspan(reg::status, 4), s.now);
  a = s.vf.step(s.now);
  BOOST_REQUIRE((a.what == kind::read && a.offset == mailbox::ack_area));
  const bytes stale = copy_of(std::span<const std::byte>(s.pf.window).subspan(mailbox::ack_area, mailbox::ack_area_size));
  s.pf.set(reg::invalidate_ack_low, 0);
  s.vf.wake();
  s.vf.on_read(stale, s.now);
  const std::size_t mark = s.trace.size();
  s.pf_answers = true;
  (void)s.settle();
  BOOST_TEST(s.script(mark) == (script_t{"R 20 4", "R 30 8", "R 28 8", "W 30 4", "R 20 4", "wait"}),
             boost::test_tools::per_element());
  BOOST_TEST(s.vf.take_invalidations().bits() == 0b100u);
}

// A signal ends the back-off of the looks (docs/protocol.md 4.3): the PF signals when it takes an
// acknowledgement, and a VF that sleeps until signalled reads nothing else. Here the back-off was built by
// a slow request's polls (a signalled VF polls an unanswered request every watch interval) on a PF that kept
// INVALIDATED up with an acknowledgement it did not take; the request timed out and the VF sleeps. When the
// PF takes the acknowledgement, raises block 5 and signals, the status read that answers the signal looks
// at once. Without that, the look waited for the back-off's next time (160 ms), and as no status is read
// before another signal, block 5 was not delivered at all.
BOOST_AUTO_TEST_CASE(a_signal_ends_the_look_backoff_of_a_vf_that_sleeps_until_signalled) {
  const std::uint64_t watch = vf_mailbox_config{}.watch_interval_ns;
  vf_mailbox_config signalled;
  signalled.use_signal = true;
  harness s(signalled, mailbox::capability::invalidation | mailbox::capability::signal);
  s.pf_answers = false;
  s.pf.invalidate(0b100);
  s.pf.set(reg::invalidate_ack_low, 0b100);  // an acknowledgement of bit 2 the PF has not taken
  s.vf.watch_invalidations(true);
  const std::uint64_t start = s.now;
  std::array<std::byte, 16> out{};
  (void)s.read(5, out, start + 10 * watch);  // never answered: polled every watch interval, then timed out
  s.run(start + 20 * watch);
  BOOST_REQUIRE(s.done.size() == 1u);
  BOOST_TEST((s.done[0].error == errc::timeout));
  std::vector<std::uint64_t> looked;
  for (const auto& t : s.trace)
    if (t.what == kind::read && t.offset == mailbox::ack_area) looked.push_back((t.at - start) / watch);
  // The probe's look, the request's first poll, then intervals 1, 2, 4 and 8; the next is due at 16.
  BOOST_TEST(looked == (std::vector<std::uint64_t>{0, 0, 1, 2, 4, 8}), boost::test_tools::per_element());
  const mailbox_action asleep = s.settle();
  BOOST_TEST(asleep.until == ~std::uint64_t{0});  // sleeps until signalled
  BOOST_TEST(s.vf.pending_invalidations().empty());
  // At 12 intervals the PF takes the acknowledgement, raises block 5 and signals.
  s.now = start + 12 * watch;
  s.pf.service(reg::invalidate_ack_low);
  s.pf.invalidate(std::uint64_t{1} << 5);
  s.vf.wake();
  const std::size_t mark = s.trace.size();
  const mailbox_action after = s.settle();
  BOOST_TEST(s.script(mark) == (script_t{"R 20 4", "R 30 8", "R 28 8", "W 30 4", "wait"}),
             boost::test_tools::per_element());
  BOOST_TEST(s.vf.take_invalidations().bits() == (std::uint64_t{1} << 5));  // at once, no time passed
  BOOST_TEST(after.until == ~std::uint64_t{0});
  BOOST_TEST(s.trace.back().at == start + 12 * watch);
}

// A look that finds bits ends the back-off of the looks (docs/protocol.md 4.3): a fruitless look after it
// starts a new row. The look right after the VF's acknowledgement usually finds the registers not cleared
// yet (the PF takes it at its own poll): with the old row's back-off kept, that look pushed the next one 16
// watch intervals away, and a block raised meanwhile was delivered 160 ms late instead of at the next
// interval.
BOOST_AUTO_TEST_CASE(a_look_that_finds_bits_ends_the_look_backoff) {
  const std::uint64_t watch = vf_mailbox_config{}.watch_interval_ns;
  harness h;
  h.pf_answers = false;  // the PF acts below, at the times given
  h.pf.invalidate(0b100);
  h.pf.set(reg::invalidate_ack_low, 0b1);  // an acknowledgement the PF does not take for 90 ms
  h.vf.watch_invalidations(true);
  const std::uint64_t start = h.now;
  h.run(start + 9 * watch);
  // At 9 intervals the PF takes the acknowledgement and raises block 3; the back-off's look at 16 delivers
  // bits 2 and 3 and acknowledges them.
  h.pf.set(reg::invalidate_ack_low, 0);
  h.pf.invalidate(0b1000);
  h.run(start + 16 * watch);
  BOOST_TEST(h.vf.take_invalidations().bits() == 0b1100u);
  BOOST_TEST(h.pf.u32(reg::invalidate_ack_low) == 0b1100u);
  // Block 4 is raised before the PF takes that acknowledgement; the VF's look at 17 finds the registers not
  // cleared yet. The PF takes the acknowledgement at 17.2 intervals (its poll): block 4 stays latched.
  h.now = start + 16 * watch + watch / 2;
  h.pf.invalidate(0b10000);
  h.run(start + 17 * watch);
  h.now = start + 17 * watch + watch / 5;
  h.pf.service(reg::invalidate_ack_low);
  BOOST_REQUIRE(h.pf.latched == 0b10000u);
  h.run(start + 18 * watch);
  BOOST_TEST(h.vf.take_invalidations().bits() == 0b10000u);  // at 18 intervals (back-off kept: at 33)
  std::vector<std::uint64_t> looked;
  for (const auto& t : h.trace)
    if (t.what == kind::read && t.offset == mailbox::ack_area) looked.push_back((t.at - start) / watch);
  BOOST_TEST(looked == (std::vector<std::uint64_t>{0, 1, 2, 4, 8, 16, 17, 18}), boost::test_tools::per_element());
  BOOST_TEST(h.count("R 28 8") == 2u);  // the mask: at 16 and at 18
}

BOOST_AUTO_TEST_CASE(invalidations_seen_during_a_request_are_read_after_it) {
  harness h;
  std::array<std::byte, 16> a{};
  (void)h.read(5, a);
  h.after_write = [&](const traced& t) {
    if (t.offset == reg::request) h.pf.invalidate(0b1000);
  };
  h.run();
  BOOST_TEST(h.script() == (script_t{"R 0 36", "W 18 4", "W 1c 4", "R 20 4", "R 38 16", "R 20 4", "done", "R 30 8",
                                     "R 28 8", "W 30 4", "idle"}),
             boost::test_tools::per_element());
  BOOST_TEST(h.vf.pending_invalidations().bits() == 0b1000u);
  BOOST_TEST((h.done[0].error == no_error));
}

// Issue 10, restart: a PF that re-initialises the window (a new epoch) while a request is on the wire:
// the request completes with peer_restarted (its outcome is unknown), the VF probes again, and its next
// request is served (the PF adopts the sequence: no quarantine, no reset).
BOOST_AUTO_TEST_CASE(a_pf_restart_completes_what_was_in_flight_with_peer_restarted) {
  harness h;
  std::array<std::byte, 16> a{}, b{};
  (void)h.read(5, a);
  h.run();
  h.pf_answers = false;
  (void)h.read(5, b);
  (void)h.settle();  // on the wire
  h.pf.initialise();  // the PF restarted
  h.pf_answers = true;
  h.now += vf_mailbox_config{}.poll_interval_ns;
  h.run();
  BOOST_REQUIRE(h.done.size() == 2u);
  BOOST_TEST((h.done[1].error == errc::peer_restarted));
  BOOST_TEST(h.vf.restarts_seen() == 1u);
  std::array<std::byte, 16> c{};
  (void)h.read(5, c);
  h.run();
  BOOST_REQUIRE(h.done.size() == 3u);
  BOOST_TEST((h.done[2].error == no_error));
  BOOST_TEST(h.vf.epoch() == 2u);
  BOOST_TEST(h.vf.resets() == 0u);
}

// Found by an audit that wrote a PF from docs/protocol.md alone: a VF whose request timed out asks for a
// reset, mostly because its PF stopped answering; a PF that restarts performs that reset as its
// initialisation clears `control` (5.1). The VF rang its next request at once, into the new epoch: the new
// PF adopted and ran it, and the VF completed it with peer_restarted (outcome unknown), a write the caller
// would retry included. The VF now reads status once the reset is done, sees the new epoch, and probes
// before it rings: the write runs once, and completes with its outcome known.
BOOST_AUTO_TEST_CASE(a_write_after_a_reset_a_restarted_pf_completed_runs_once_with_its_outcome_known) {
  vf_mailbox_config config;
  config.poll_interval_ns = 1'000'000;
  config.orphan_timeout_ns = 5'000'000;
  harness h(config);
  std::array<std::byte, 16> a{};
  (void)h.read(5, a);
  h.run();
  BOOST_REQUIRE(h.done.size() == 1u);
  h.pf_answers = false;  // the PF stops
  const std::uint64_t start = h.now;
  const bytes data = pattern(8, 0xA0);
  (void)h.read(5, a, start + 3'000'000);     // times out, and leaves an orphan
  (void)h.write(6, data, start + 200'000'000);  // waits behind it: the VF asks for a reset
  for (std::uint64_t until = start; until < start + 100'000'000 && h.count("W 14 4") == 0; until += 1'000'000) h.run(until);
  BOOST_REQUIRE(h.count("W 14 4") == 1u);
  BOOST_REQUIRE(h.done.size() == 2u);
  BOOST_TEST((h.done[1].error == errc::timeout));
  h.pf.initialise();  // the PF restarts: a new epoch, `control` cleared (the reset performed)
  h.pf_answers = true;
  h.run(start + 200'000'000);
  BOOST_REQUIRE(h.done.size() == 3u);
  BOOST_TEST((h.done[2].error == no_error));
  BOOST_TEST(h.done[2].bytes == 8u);
  BOOST_TEST(h.pf.blocks[6] == data);
  BOOST_TEST(h.vf.epoch() == 2u);
  BOOST_TEST(h.vf.restarts_seen() == 1u);
  BOOST_TEST(h.pf.violations == 0);
}

// Issue 10, liveness: a PF that offers a heartbeat and stops beating is gone after 4 intervals; a PF
// that beats again is served again.
BOOST_AUTO_TEST_CASE(a_pf_whose_heartbeat_stops_is_gone) {
  vf_mailbox_config config;
  config.poll_interval_ns = 1'000'000;
  harness h = served_by_a_beating_pf(config);
  std::array<std::byte, 16> a{};
  h.pf_answers = false;
  const std::uint64_t start = h.now;
  (void)h.read(5, a);
  h.run(start + 100'000'000);
  BOOST_REQUIRE(h.done.size() == 2u);
  BOOST_TEST((h.done[1].error == errc::peer_gone));
  // 4 x 10 ms, seen at the next poll: the polls double from 1 ms up to the watch interval (10 ms).
  BOOST_TEST(h.trace.back().at - start <= 40'000'000u + 10'000'000u);
  BOOST_TEST(h.vf.peer_silent());
  // A new request looks once (one status read) and fails at once.
  const std::size_t mark = h.trace.size();
  (void)h.read(5, a);
  (void)h.settle();
  (void)h.settle();
  BOOST_REQUIRE(h.done.size() == 3u);
  BOOST_TEST((h.done[2].error == errc::peer_gone));
  BOOST_TEST(h.script(mark).front() == "R 20 4");
  BOOST_TEST(h.count("W 1c 4") == 2u);  // nothing sent to the silent PF
  // The PF beats again and answers the orphan: served.
  h.pf.service(reg::request);
  h.pf.beat();
  h.pf_answers = true;
  (void)h.read(5, a);
  h.run();
  BOOST_REQUIRE(h.done.size() == 4u);
  BOOST_TEST((h.done[3].error == no_error));
  BOOST_TEST(!h.vf.peer_silent());
}

// docs/protocol.md 5.5 and vf_mailbox.hpp (ready): a request to a PF found silent looks once (one status
// read) and fails at once; no request is sent to a PF that is gone, where it would only become an orphan
// that the next request must wait for or reset. a_pf_whose_heartbeat_stops_is_gone checks this with an
// orphan in the window, which takes the same path for its own reason; here the watch found the PF gone
// and nothing is on the wire, so only the silence keeps the doorbell unrung. 10 ms beat, watched every
// 10 ms: gone once the beat has not moved for more than 40 ms.
BOOST_AUTO_TEST_CASE(a_request_to_a_pf_the_watch_found_gone_rings_nothing) {
  harness h = served_by_a_beating_pf(vf_mailbox_config{});
  h.vf.watch_invalidations(true);
  const std::uint64_t start = h.now;
  h.run(start + 100'000'000);  // the PF never beats again
  BOOST_TEST(h.vf.peer_silent());
  BOOST_TEST((h.vf.take_watch_failure() == errc::peer_gone));
  BOOST_TEST(!h.vf.has_orphan());
  const std::size_t mark = h.trace.size();
  std::array<std::byte, 16> a{};
  (void)h.read(5, a);
  (void)h.settle();
  BOOST_REQUIRE(h.done.size() == 2u);
  BOOST_TEST((h.done[1].error == errc::peer_gone));
  BOOST_TEST(h.script(mark).front() == "R 20 4");  // one look
  BOOST_TEST(h.count("W 1c 4") == 1u);             // the first read's doorbell only
  BOOST_TEST(!h.vf.has_orphan());
}

// The beat is two bits: a VF that idled a multiple of four intervals reads the value it last saw from a
// PF that beat all along. Its next request found the PF gone at once (peer_gone, and every request after
// it), as the value had "not moved" since the VF's last look; found by a VF written from the spec against
// vpci's PF, idle 750 ms with a 100 ms heartbeat. A look more than two intervals after the last one now
// starts the count again, and a PF that really stopped is still found gone four intervals after that.
BOOST_AUTO_TEST_CASE(a_healthy_pf_is_not_gone_after_the_vf_idled_four_beats) {
  vf_mailbox_config config;
  config.poll_interval_ns = 1'000'000;
  harness h = served_by_a_beating_pf(config);
  std::array<std::byte, 16> a{};
  for (const int beats : {4, 8, 12}) {
    BOOST_TEST_CONTEXT(beats << " beats while the VF idled") {
      for (int i = 0; i < beats; ++i) {
        h.now += 10'000'000;
        h.pf.beat();
      }
      const std::size_t before = h.done.size();
      (void)h.read(5, a);
      h.run();
      BOOST_REQUIRE(h.done.size() == before + 1);
      BOOST_TEST((h.done.back().error == no_error));
      BOOST_TEST(!h.vf.peer_silent());
    }
  }
  // After another idle stretch the PF stops for good: found gone four intervals after the first look.
  h.now += 80'000'000;
  h.pf_answers = false;
  const std::uint64_t start = h.now;
  const std::size_t before = h.done.size();
  (void)h.read(5, a);
  h.run(start + 100'000'000);
  BOOST_REQUIRE(h.done.size() == before + 1);
  BOOST_TEST((h.done.back().error == errc::peer_gone));
  BOOST_TEST(h.trace.back().at - start <= 40'000'000u + 10'000'000u);
  BOOST_TEST(h.trace.back().at - start >= 40'000'000u);
}

// A watch of a PF whose heartbeat stopped ends once (take_watch_failure: peer_gone), found by the watch's
// own polls; on a PF that signals, a watch that starts after the PF was found silent polls too (there is
// no signal to wait for), and a beat that moves again keeps the watch going.
BOOST_AUTO_TEST_CASE(a_watch_of_a_pf_whose_heartbeat_stopped_ends_with_peer_gone) {
  vf_mailbox_config config;
  config.poll_interval_ns = 1'000'000;
  config.use_signal = true;
  harness h(config, mailbox::capability::invalidation | mailbox::capability::heartbeat | mailbox::capability::signal, 10);
  std::array<std::byte, 16> a{};
  (void)h.read(5, a);
  h.run();
  BOOST_REQUIRE(h.done.size() == 1u);
  h.pf_answers = false;
  (void)h.read(5, a);
  h.run(h.now + 100'000'000);
  BOOST_REQUIRE(h.done.size() == 2u);
  BOOST_TEST((h.done[1].error == errc::peer_gone));
  BOOST_TEST((h.vf.take_watch_failure() == no_error));  // nobody watched
  h.vf.watch_invalidations(true);
  const std::uint64_t start = h.now;
  h.run(start + 10'000'000);
  BOOST_TEST((h.vf.take_watch_failure() == errc::peer_gone));
  BOOST_TEST((h.vf.take_watch_failure() == no_error));  // once
  // The PF beats again: the watch goes on, back to waiting for the signal.
  h.vf.watch_invalidations(true);
  h.pf.service(reg::request);
  h.pf.beat();
  h.run(h.now + 10'000'000);
  BOOST_TEST((h.vf.take_watch_failure() == no_error));
  BOOST_TEST(!h.vf.peer_silent());
}

// A request was on the wire when the PF's heartbeat stopped. It used to be forgotten with its operation:
// when the PF beat again before it serviced the window (vpci's PF publishes a beat without reading the
// window), the VF rang the next sequence over it, and the PF quarantined the VF for the skipped sequence
// (every later request access_denied). Now it is an orphan, as any abandoned request: the next request
// waits for its acknowledgement, or resets the mailbox once the orphan timeout passed (docs/protocol.md
// 4.1). Both ends of the wait are shown: the PF answers the orphan late, or never.
BOOST_AUTO_TEST_CASE(a_request_on_the_wire_when_the_heartbeat_stopped_is_not_rung_over) {
  for (const bool pf_answers_the_orphan : {true, false}) {
    BOOST_TEST_CONTEXT("the PF answers the orphan: " << pf_answers_the_orphan) {
      vf_mailbox_config config;
      config.poll_interval_ns = 1'000'000;
      config.orphan_timeout_ns = 20'000'000;  // within the 40 ms the resumed PF's one beat lasts
      harness h = served_by_a_beating_pf(config);
      std::array<std::byte, 16> a{};
      h.pf_answers = false;
      (void)h.read(5, a);  // sequence 2, rung and never serviced
      h.run(h.now + 100'000'000);
      BOOST_REQUIRE(h.done.size() == 2u);
      BOOST_TEST((h.done[1].error == errc::peer_gone));
      BOOST_TEST(h.vf.has_orphan());
      BOOST_TEST(mailbox::decode_request(h.pf.u32(reg::request)).sequence == 2u);
      // The PF resumes: its beat first, the window's request after it (or never).
      h.pf.beat();
      if (pf_answers_the_orphan) h.pf.service(reg::request);
      h.pf_answers = true;
      const std::size_t mark = h.trace.size();
      (void)h.read(5, a);
      h.run();
      BOOST_REQUIRE(h.done.size() == 3u);
      BOOST_TEST((h.done[2].error == no_error));
      BOOST_TEST(h.pf.violations == 0);
      BOOST_TEST(!h.vf.has_orphan());
      BOOST_TEST(h.vf.late_replies_dropped() == (pf_answers_the_orphan ? 1u : 0u));
      BOOST_TEST(h.vf.resets() == (pf_answers_the_orphan ? 0u : 1u));
      // Sequence 3 (after the late answer) or the reset's next sequence, never over an unanswered 2.
      BOOST_TEST(h.script(mark).front() == "R 20 4");
      BOOST_TEST(h.pf.status().ack == mailbox::decode_request(h.pf.u32(reg::request)).sequence);
    }
  }
}

// docs/protocol.md 5.5: a PF that withdraws its heartbeat (identity before limits) and stops beating serves
// on; a VF that probed before the withdrawal reads identity once and goes on as after a probe that found no
// heartbeat. Its request's polls were capped at the old beat interval (there so that a stopped beat is seen,
// a 2 ms one here): kept after the withdrawal, a request the PF answers 60 ms later cost a status read every
// 2 ms (31 until the answer was seen, at 62 ms), where a PF without a heartbeat costs the doubling from the
// poll interval to the watch interval (14, the answer seen at 60.22 ms). The polls start again from the
// poll interval, up to the watch interval, once identity is read.
BOOST_AUTO_TEST_CASE(a_request_goes_on_at_the_watch_intervals_pace_once_the_pf_withdrew_a_short_heartbeat) {
  harness h({}, mailbox::capability::invalidation | mailbox::capability::heartbeat, 2);
  std::array<std::byte, 16> out{};
  (void)h.read(5, out);  // probed: the VF knows the 2 ms heartbeat
  h.run();
  BOOST_REQUIRE(h.done.size() == 1u);
  // The PF withdraws the heartbeat, identity before limits, stops beating, and answers nothing for now.
  h.pf.set(reg::identity, mailbox::encode_identity(mailbox::capability::invalidation));
  h.pf.set(reg::limits, mailbox::encode_limits(0));
  h.pf_answers = false;
  const std::uint64_t start = h.now;
  (void)h.read(5, out);
  // Polled at most every 2 ms: after 8.54 ms the beat has not moved for more than 4 intervals.
  h.run(start + 9'000'000);
  BOOST_REQUIRE(h.count("R c 4") == 1u);
  const auto identity = std::find_if(h.trace.begin(), h.trace.end(), [](const traced& t) {
    return t.what == kind::read && t.offset == reg::identity;
  });
  const std::uint64_t withdrawn = identity->at;
  BOOST_TEST(withdrawn - start == 8'540'000u);
  BOOST_TEST(h.done.size() == 1u);  // not gone: the request goes on
  h.run(withdrawn + 60'000'000);
  h.pf.service(reg::request);  // the answer, 60 ms after the VF read identity
  h.run();
  BOOST_REQUIRE(h.done.size() == 2u);
  BOOST_TEST((h.done[1].error == no_error));
  BOOST_TEST(copy_of(out) == h.pf.blocks[5], boost::test_tools::per_element());
  BOOST_TEST(h.count("R c 4") == 1u);  // identity once: no heartbeat is watched any more
  std::vector<std::uint64_t> polled;
  for (const auto& t : h.trace)
    if (t.what == kind::read && t.offset == reg::status && t.at > withdrawn) polled.push_back((t.at - withdrawn) / 1000);
  // In microseconds after the identity read: the doubling from 20 us to 10 ms, then every 10 ms; the last
  // two are the answered read and the tear check (with the 2 ms cap kept: every 2 ms, 30 reads, the answer
  // seen at 62 ms).
  BOOST_TEST(polled == (std::vector<std::uint64_t>{20, 60, 140, 300, 620, 1260, 2540, 5100, 10220, 20220, 30220,
                                                   40220, 50220, 60220, 60220}),
             boost::test_tools::per_element());
}

// A VF whose probe found an earlier driver's request unanswered waited for it first and went straight to
// ready once it was answered, skipping the write of control.signal that the probe of a quiet window makes.
// A watcher on a PF that offers the signal then waited for a signal the PF never sent (it signals only
// when control.signal is set): an invalidation raised later was never seen, without a single access.
// Now a ready engine asks for the signal whenever it is offered and not asked for.
BOOST_AUTO_TEST_CASE(a_vf_that_probed_an_orphan_asks_for_the_signal_once_it_is_answered) {
  vf_mailbox_config config;
  config.use_signal = true;
  harness h(config, mailbox::capability::invalidation | mailbox::capability::signal);
  h.pf.set(reg::request_block, 5);
  h.pf.set(reg::request, mailbox::encode_request(41, 16, mailbox::operation::read));  // an earlier driver's
  h.vf.watch_invalidations(true);
  (void)h.settle();
  BOOST_TEST(h.vf.has_orphan());
  BOOST_TEST(h.pf.u32(reg::control) == mailbox::control_signal);  // asked for before the orphan is answered
  h.pf.service(reg::request);  // answered late, and signalled
  h.vf.wake();
  const mailbox_action idle = h.settle();
  BOOST_TEST(!h.vf.has_orphan());
  BOOST_TEST(h.pf.u32(reg::control) == mailbox::control_signal);
  BOOST_TEST((idle.what == kind::wait));
  BOOST_TEST(idle.until == ~std::uint64_t{0});  // waits for the signal, which the PF now sends
  const std::size_t mark = h.trace.size();
  h.pf.invalidate(0b1000);
  BOOST_REQUIRE((h.pf.u32(reg::control) & mailbox::control_signal) != 0);
  h.vf.wake();
  (void)h.settle();
  BOOST_TEST(h.vf.pending_invalidations().bits() == 0b1000u);
  // Status, the acknowledgement dwords, the mask dwords, the acknowledgement; the PF's publish after it
  // signals again (the status changed), read once.
  BOOST_TEST(h.script(mark) == (script_t{"R 20 4", "R 30 8", "R 28 8", "W 30 4", "R 20 4", "wait"}),
             boost::test_tools::per_element());
}

// A function that no longer answers config reads (surprise removal, VF Enable cleared) reads all ones.
// No PF writes that status (count 255 > 128), but in epoch 15 it passed the epoch check, and the request
// polled the whole window every 20 us until its deadline, then became an orphan; in any other epoch it
// was a "restart". Now it is peer_gone at the first such read, for requests and the watch alike, and the
// window is probed afresh before the next request.
BOOST_AUTO_TEST_CASE(a_window_that_reads_all_ones_is_a_function_gone) {
  for (const std::uint8_t epoch_before : {std::uint8_t{14}, std::uint8_t{2}}) {
    BOOST_TEST_CONTEXT("epoch " << unsigned(mailbox::next_epoch(epoch_before))) {
      harness h;
      h.pf.epoch = epoch_before;
      h.pf.initialise();
      std::array<std::byte, 16> a{};
      (void)h.read(5, a);
      h.run();
      BOOST_REQUIRE(h.done.size() == 1u);
      BOOST_REQUIRE(h.vf.epoch() == mailbox::next_epoch(epoch_before));
      h.pf_answers = false;
      h.vf.watch_invalidations(true);
      const std::uint64_t start = h.now;
      (void)h.read(5, a, start + 1'000'000'000);
      (void)h.settle();  // on the wire
      h.pf.window.fill(std::byte{0xFF});
      h.run(start + 1'000'000);
      BOOST_REQUIRE(h.done.size() == 2u);
      BOOST_TEST((h.done[1].error == errc::peer_gone));
      BOOST_TEST((h.vf.take_watch_failure() == errc::peer_gone));
      BOOST_TEST(h.now - start < 1'000'000u);
      BOOST_TEST(h.vf.restarts_seen() == 0u);
    }
  }
}

// A function found all ones at the probe (removed, or VF Enable cleared, before the request or after the
// VF had seen it gone) answered not_found, "no mailbox here", and a watcher of it never ended: it probed
// the dead function every watch interval. Requests and the watch now end with peer_gone, as when all ones
// show in the status of a request on the wire.
BOOST_AUTO_TEST_CASE(a_function_all_ones_at_the_probe_is_gone_not_without_a_mailbox) {
  harness h;
  std::array<std::byte, 16> a{};
  (void)h.read(5, a);
  h.run();
  BOOST_REQUIRE(h.done.size() == 1u);
  h.pf_answers = false;
  h.pf.window.fill(std::byte{0xFF});
  (void)h.read(5, a);
  h.run();
  BOOST_REQUIRE(h.done.size() == 2u);
  BOOST_TEST((h.done[1].error == errc::peer_gone));  // all ones in the status of the request on the wire
  // The next request probes the window afresh, and a watcher started now looks at it too.
  h.vf.watch_invalidations(true);
  (void)h.read(5, a);
  const std::size_t from = h.trace.size();
  (void)h.settle();
  BOOST_REQUIRE(h.done.size() == 3u);
  BOOST_TEST((h.done[2].error == errc::peer_gone));
  BOOST_TEST((h.vf.take_watch_failure() == errc::peer_gone));
  BOOST_TEST(h.script(from).front() == "R 0 36");
  BOOST_TEST(h.accesses(from) == 9u);  // the probe

  // Gone before the VF's first probe: the probe itself finds it.
  harness fresh;
  fresh.pf_answers = false;
  fresh.pf.window.fill(std::byte{0xFF});
  (void)fresh.read(5, a);
  fresh.run();
  BOOST_REQUIRE(fresh.done.size() == 1u);
  BOOST_TEST((fresh.done[0].error == errc::peer_gone));
}

// A function removed while the VF waited for its mailbox reset: control read all ones, whose bit 0 looked
// like a reset still under way. The VF polled the dead function until the reset deadline and asked again
// for each queued request (50,018 accesses, then timeouts); control's bits 31:2 are zero in any window, so
// all ones is a function gone: the requests end with peer_gone at that read.
BOOST_AUTO_TEST_CASE(a_function_gone_while_the_vf_waits_for_its_reset_is_peer_gone) {
  harness h = with_an_orphan();
  std::array<std::byte, 16> b{}, c{};
  (void)h.read(5, b, 1'000'000);
  (void)h.read(6, c, 1'000'000);
  // The orphan is reset at the orphan timeout; the function goes before the PF clears RESET.
  h.after_write = [&](const traced& t) {
    if (t.offset == reg::control) h.pf.window.fill(std::byte{0xFF});
  };
  h.run(1'000'000);
  BOOST_REQUIRE(h.done.size() == 3u);
  BOOST_TEST((h.done[1].error == errc::peer_gone));
  BOOST_TEST((h.done[2].error == errc::peer_gone));
  BOOST_TEST(h.count("W 14 4") == 1u);  // one reset asked, not one per queued request
  const auto reset_write = std::find_if(h.trace.begin(), h.trace.end(), [](const traced& t) {
    return t.what == kind::write && t.offset == reg::control;
  });
  BOOST_REQUIRE(reset_write != h.trace.end());
  BOOST_TEST(h.now == reset_write->at);  // found at the read of control that follows it
}

BOOST_AUTO_TEST_CASE(transport_errors_fail_the_active_operation_and_reprobe) {
  for (std::size_t n = 0; n < 6; ++n) {
    BOOST_TEST_CONTEXT("access " << n) {
      harness h;
      std::array<std::byte, 16> a;
      a.fill(std::byte{0xEE});
      (void)h.read(5, a);
      std::size_t accesses = 0;
      for (int i = 0; i < 100 && h.done.empty(); ++i) {
        const mailbox_action peek = h.vf.step(h.now);
        if (peek.what == kind::read || peek.what == kind::write) {
          if (accesses++ == n) {
            h.vf.on_transport_error(h.now);
            continue;
          }
          if (peek.what == kind::write) {
            for (std::size_t j = 0; j < peek.bytes.size(); ++j) h.pf.window[peek.offset + j] = peek.bytes[j];
            h.vf.on_written(h.now);
            h.pf.service(peek.offset);
          } else {
            const bytes got(h.pf.window.begin() + peek.offset,
                            h.pf.window.begin() + static_cast<std::ptrdiff_t>(peek.offset + peek.length));
            h.vf.on_read(got, h.now);
          }
        } else if (peek.what == kind::complete) {
          h.done.push_back(peek.done);
        }
      }
      BOOST_REQUIRE(h.done.size() == 1u);
      BOOST_TEST(h.done[0].transport_failure);
      for (std::byte x : a) BOOST_TEST(x == std::byte{0xEE});
      const std::size_t mark = h.trace.size();
      std::array<std::byte, 16> b{};
      (void)h.read(5, b);
      h.run();
      BOOST_TEST(h.script(mark).front() == "R 0 36");
      BOOST_REQUIRE(h.done.size() == 2u);
      BOOST_TEST((h.done[1].error == no_error));
      BOOST_TEST(copy_of(b) == pattern(16, 0x10), boost::test_tools::per_element());
    }
  }
}

BOOST_AUTO_TEST_CASE(a_read_of_the_wrong_size_is_a_malformed_message) {
  harness h;
  std::array<std::byte, 16> a{};
  (void)h.read(5, a);
  const mailbox_action probe = h.vf.step(h.now);
  BOOST_REQUIRE((probe.what == kind::read));
  h.vf.on_read(bytes(4), h.now);
  const mailbox_action next = h.vf.step(h.now);
  BOOST_REQUIRE((next.what == kind::complete));
  BOOST_TEST((next.done.error == errc::malformed_message));
}

// An earlier driver instance left a request unanswered: the new VF waits for it (its answer is dropped)
// before sending its own.
BOOST_AUTO_TEST_CASE(a_request_left_by_an_earlier_driver_is_an_orphan) {
  harness h;
  h.pf.set(reg::request_block, 5);
  h.pf.set(reg::request, mailbox::encode_request(41, 16, mailbox::operation::read));
  std::array<std::byte, 16> a{};
  (void)h.read(5, a);
  (void)h.settle();
  BOOST_TEST(h.vf.has_orphan());
  h.pf.service(reg::request);  // the PF answers the old request
  h.now += vf_mailbox_config{}.poll_interval_ns;
  h.run();
  BOOST_REQUIRE(h.done.size() == 1u);
  BOOST_TEST((h.done[0].error == no_error));
  BOOST_TEST(h.vf.late_replies_dropped() == 1u);
  BOOST_TEST(h.vf.sequence() == 42u);
}

// Sequences are 16-bit and never 0: after 0xFFFF the VF continues with 1, and a PF that follows the
// specification serves it (found by a long benchmark run: a PF that expected 0 quarantined the VF).
BOOST_AUTO_TEST_CASE(the_sequence_wraps_past_0xFFFF_to_1) {
  harness h;
  h.pf.set(reg::request, mailbox::encode_request(0xFFFE, 16, mailbox::operation::read));
  h.pf.set(reg::status, mailbox::encode_status({0xFFFE, 16, false, false, 0, h.pf.epoch}));
  h.pf.synchronised = true;
  h.pf.last_sequence = 0xFFFE;
  std::array<std::byte, 16> a{};
  for (int i = 0; i < 3; ++i) {
    (void)h.read(5, a);
    h.run();
  }
  BOOST_REQUIRE(h.done.size() == 3u);
  for (const auto& d : h.done) BOOST_TEST((d.error == no_error));
  BOOST_TEST(h.vf.sequence() == 2u);  // 0xFFFF, then 1, then 2
  BOOST_TEST(h.pf.violations == 0);
}

// A binding that reports more bytes than a read asked for is as malformed as one that reports fewer: the
// request fails with malformed_message.
BOOST_AUTO_TEST_CASE(a_read_reported_longer_than_asked_is_a_malformed_message) {
  harness h;
  std::array<std::byte, 16> a{};
  (void)h.read(5, a);
  const mailbox_action probe = h.vf.step(h.now);
  BOOST_REQUIRE((probe.what == kind::read));
  bytes got(h.pf.window.begin() + probe.offset, h.pf.window.begin() + probe.offset + probe.length + 4);
  h.vf.on_read(got, h.now);
  const mailbox_action next = h.vf.step(h.now);
  BOOST_REQUIRE((next.what == kind::complete));
  BOOST_TEST((next.done.error == errc::malformed_message));
}

// A request dword of sequence 0 is no request (docs/protocol.md 4.1) whatever acknowledgement the status
// shows: no orphan, the request goes out at once, no reset.
BOOST_AUTO_TEST_CASE(a_request_dword_of_sequence_0_is_no_orphan_whatever_the_ack) {
  harness h;
  h.pf.set(reg::request, 0);
  h.pf.publish(7, 0, false);  // an ack left from before, with no request in the window
  std::array<std::byte, 16> a{};
  (void)h.read(5, a);
  (void)h.settle();
  BOOST_TEST(!h.vf.has_orphan());
  const std::uint64_t started = h.now;
  h.run();
  BOOST_REQUIRE(h.done.size() == 1u);
  BOOST_TEST((h.done[0].error == no_error));
  BOOST_TEST(h.vf.resets() == 0u);
  BOOST_TEST(h.now - started < vf_mailbox_config{}.orphan_timeout_ns);
}

// Once the doorbell (the request dword) is handed to the binding, the PF may run the write before
// on_written() is reported: cancel(without_effects) refuses it, and a cancellation with effects is taken.
BOOST_AUTO_TEST_CASE(a_write_whose_doorbell_is_being_written_is_not_cancellable_without_effects) {
  harness h;
  const op_handle w = h.write(6, pattern(8, 1));
  for (int i = 0; i < 100; ++i) {
    const mailbox_action a = h.vf.step(h.now);
    BOOST_REQUIRE((a.what == kind::read || a.what == kind::write));
    if (a.what == kind::write && a.offset == reg::request) break;  // the doorbell, not reported yet
    if (a.what == kind::write) {
      for (std::size_t j = 0; j < a.bytes.size(); ++j) h.pf.window[a.offset + j] = a.bytes[j];
      h.vf.on_written(h.now);
    } else {
      const bytes got(h.pf.window.begin() + a.offset, h.pf.window.begin() + a.offset + a.length);
      h.vf.on_read(got, h.now);
    }
  }
  BOOST_REQUIRE((h.vf.current_state() == vf_mailbox_engine<>::state::writing_request));
  BOOST_TEST(!h.vf.is_queued(w));
  BOOST_TEST(!h.vf.cancel(w, cancel_scope::without_effects));
  BOOST_TEST(h.vf.cancel(w, cancel_scope::with_effects));
}

// A VF that asked the PF to signal it keeps control.signal set across a mailbox reset: cleared, the PF
// would stop signalling while the VF sleeps until signalled.
// Found against a PF process stopped (SIGSTOP) while a reset was asked: the reset's polls read control
// alone, so the heartbeat was never looked at, and with a request timeout under four heartbeat intervals
// every request failed with timeout for as long as the PF stayed stopped, never peer_gone (docs/protocol.md
// 5.5). While the reset is awaited, status is now read once a heartbeat interval.
BOOST_AUTO_TEST_CASE(a_pf_that_stops_beating_while_a_reset_is_awaited_is_gone) {
  vf_mailbox_config config;
  config.poll_interval_ns = 1'000'000;
  config.orphan_timeout_ns = 5'000'000;
  harness h = served_by_a_beating_pf(config);
  std::array<std::byte, 16> a{};
  h.pf_answers = false;  // the PF stops: no answer, no beat, RESET never cleared
  const std::uint64_t start = h.now;
  (void)h.read(5, a, start + 3'000'000);    // times out, and leaves an orphan
  (void)h.read(6, a, start + 200'000'000);  // waits for the orphan, then for the reset
  h.run(start + 200'000'000);
  BOOST_REQUIRE(h.done.size() == 3u);
  BOOST_TEST((h.done[1].error == errc::timeout));
  BOOST_TEST((h.done[2].error == errc::peer_gone));
  BOOST_TEST(h.count("W 14 4") >= 1u);  // the reset was asked, and never completed
  const auto completed = std::find_if(h.trace.rbegin(), h.trace.rend(), [](const traced& t) { return t.what == kind::complete; });
  BOOST_REQUIRE(completed != h.trace.rend());
  // Four intervals (40 ms) after the beat was last seen to move (at the probe), found by the status read
  // due once an interval, at the control poll (1 ms) that follows.
  BOOST_TEST(completed->at - start <= 40'000'000u + 10'000'000u + 1'000'000u);
  BOOST_TEST(h.vf.peer_silent());
}

// The status read while a reset is awaited falls due a whole heartbeat interval after the last one, not
// after more: with an 11 ms beat, the reset's control polls (1 ms, doubling) land on that interval exactly,
// and status is read there, at that poll, every 11 ms until the PF is found gone.
BOOST_AUTO_TEST_CASE(the_status_read_while_a_reset_is_awaited_is_due_a_whole_interval_after_the_last) {
  vf_mailbox_config config;
  config.poll_interval_ns = 1'000'000;
  config.orphan_timeout_ns = 5'000'000;
  harness h(config, mailbox::capability::invalidation | mailbox::capability::heartbeat, 11);
  std::array<std::byte, 16> a{};
  (void)h.read(5, a);
  h.run();
  BOOST_REQUIRE(h.done.size() == 1u);
  h.pf_answers = false;  // the PF stops: no answer, no beat, RESET never cleared
  const std::uint64_t start = h.now;
  (void)h.read(5, a, start + 3'000'000);
  (void)h.read(6, a, start + 200'000'000);
  h.run(start + 200'000'000);
  std::vector<std::uint64_t> status_reads;  // after the reset was asked
  bool reset_asked = false;
  for (const auto& t : h.trace) {
    if (t.at < start) continue;
    if (describe(t) == "W 14 4") reset_asked = true;
    if (reset_asked && describe(t) == "R 20 4") status_reads.push_back(t.at - start);
  }
  BOOST_TEST(status_reads == (std::vector<std::uint64_t>{22'000'000, 33'000'000, 44'000'000, 55'000'000}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(a_mailbox_reset_keeps_control_signal_set) {
  vf_mailbox_config config;
  config.use_signal = true;
  config.poll_interval_ns = 100;
  config.orphan_timeout_ns = 1000;
  harness h(config, mailbox::capability::invalidation | mailbox::capability::signal);
  h.pf_answers = false;
  std::array<std::byte, 16> a{};
  // The control.signal write must reach the PF: serve only control writes while the PF ignores requests.
  h.after_write = [&](const traced& t) { if (t.offset == reg::control) h.pf.service(reg::control); };
  (void)h.read(5, a, 1150);
  h.run(1150);
  BOOST_REQUIRE(h.done.size() == 1u);
  BOOST_REQUIRE((h.done[0].error == errc::timeout));
  BOOST_REQUIRE((h.pf.u32(reg::control) & mailbox::control_signal) != 0u);
  BOOST_REQUIRE(h.vf.has_orphan());
  h.after_write = nullptr;
  h.pf_answers = true;
  std::array<std::byte, 16> b{};
  (void)h.read(5, b);
  h.run();
  BOOST_REQUIRE(h.done.size() == 2u);
  BOOST_TEST((h.done[1].error == no_error));
  BOOST_TEST(h.vf.resets() == 1u);
  BOOST_TEST((h.pf.u32(reg::control) & mailbox::control_signal) != 0u);
}

// An invalidation the PF raises (and signals) while the VF reads an answer's data shows in the verifying
// status read, which answered that signal: a VF that sleeps until signalled takes it then.
BOOST_AUTO_TEST_CASE(an_invalidation_raised_during_the_data_read_is_taken_after_the_answer) {
  vf_mailbox_config config;
  config.use_signal = true;
  harness h(config, mailbox::capability::invalidation | mailbox::capability::signal);
  h.vf.watch_invalidations(true);
  (void)h.settle();  // probed, control.signal set, asleep
  BOOST_REQUIRE(h.vf.signalled());
  std::array<std::byte, 16> a{};
  (void)h.read(5, a);
  h.before_read = [&](const mailbox_action& x) {
    if (x.offset != reg::data) return;
    h.pf.invalidate(0x40);  // raised and signalled while the data is read
    h.vf.wake();
  };
  const mailbox_action rest = h.settle();
  BOOST_REQUIRE(h.done.size() == 1u);
  BOOST_TEST((h.done[0].error == no_error));
  BOOST_TEST(h.vf.pending_invalidations().bits() == 0x40u);
  BOOST_TEST((rest.what == kind::wait));
}

// A PF that does not finish a reset by the deadline is asked again (control.reset rewritten) while a
// request waits for it, without probing the whole window again (9 dwords, and the orphan found again).
BOOST_AUTO_TEST_CASE(an_unfinished_reset_is_asked_again_while_a_request_waits) {
  harness h = with_an_orphan();  // a PF that answers nothing, not even a reset
  std::array<std::byte, 16> b{};
  (void)h.read(5, b);  // waits behind the orphan for good
  const std::size_t from = h.trace.size();
  h.run(h.now + 10'000);  // about ten orphan timeouts
  std::size_t probes = 0, resets = 0;
  for (const auto& l : h.script(from)) {
    if (l == "R 0 36") ++probes;
    if (l == "W 14 4") ++resets;
  }
  BOOST_TEST(probes == 0u);
  BOOST_TEST(resets == 7u);  // control.reset written again at each reset deadline
  BOOST_TEST(h.done.size() == 1u);  // the second read still waits
}

// The other half of the rule above (vf_mailbox.hpp after_control): a reset the PF does not finish is
// asked again only while a request waits for it. When the request behind the orphan times out while the
// reset is awaited, nobody waits any more: at the reset deadline the VF goes quiet (the next request
// probes afresh) instead of rewriting control.reset every orphan timeout, for good, to a hung PF.
// Orphan timeout 1000 ns, polled from 100 ns: the orphan is found overdue and reset at 2500 ns, the
// request behind it times out at 3000, the reset deadline is 3500.
BOOST_AUTO_TEST_CASE(an_unfinished_reset_is_not_asked_again_once_nobody_waits_for_it) {
  harness h = with_an_orphan();  // a PF that answers nothing, not even a reset
  std::array<std::byte, 16> b{};
  (void)h.read(5, b, 3000);  // waits behind the orphan, and times out while the reset is awaited
  h.run(h.now + 10'000);     // about ten orphan timeouts
  BOOST_REQUIRE(h.done.size() == 2u);
  BOOST_TEST((h.done[1].error == errc::timeout));
  BOOST_TEST(h.count("W 14 4") == 1u);  // control.reset written once
  BOOST_TEST(h.vf.resets() == 1u);
  BOOST_TEST((h.settle().what == kind::idle));  // quiet: no timer, no access, until the next request
}


// docs/protocol.md 5.2 and 6: a PF must complete a reset in less than the VF's orphan timeout. A reset still
// under way when the VF reads control at exactly the timeout is one the PF did not complete in time: the
// VF asks again at that read (while requests wait), not at its next poll. Polled from 100 ns doubling,
// control is read 0, 100, 300 and 700 ns after the reset was asked; a timeout of 700 ns puts a read on the
// deadline itself.
BOOST_AUTO_TEST_CASE(a_reset_not_completed_by_the_orphan_timeout_is_asked_again_at_that_instant) {
  vf_mailbox_config config;
  config.poll_interval_ns = 100;
  config.orphan_timeout_ns = 700;
  harness h(config);
  h.pf_answers = false;  // answers nothing, and never clears RESET
  std::array<std::byte, 16> a{}, b{};
  (void)h.read(5, a, 1150);
  h.run(1150);
  BOOST_REQUIRE(h.done.size() == 1u);
  BOOST_TEST((h.done[0].error == errc::timeout));
  (void)h.read(5, b, 1'000'000);
  h.run(20'000);
  std::vector<std::uint64_t> resets;
  std::vector<std::uint64_t> control_reads;
  for (const traced& t : h.trace) {
    if (t.what == kind::write && t.offset == reg::control) resets.push_back(t.at);
    if (t.what == kind::read && t.offset == reg::control) control_reads.push_back(t.at);
  }
  BOOST_REQUIRE(resets.size() >= 2u);
  // The read that lands on the deadline exists (the schedule above)...
  BOOST_TEST(std::count(control_reads.begin(), control_reads.end(), resets[0] + 700) >= 1);
  // ...and it is the one after which the VF asks again.
  BOOST_TEST(resets[1] - resets[0] == 700u);
  BOOST_TEST(h.vf.resets() >= 2u);
}

// docs/protocol.md 5.5: a PF whose heartbeat has not moved for more than 4 intervals is gone: a status
// read exactly 4 intervals after the probe that saw the beat still waits for the answer, and the request
// ends with peer_gone at the next read (after the one read of identity that finds HEARTBEAT still there). Polled every 10 ms (the poll interval equals the 10 ms
// heartbeat), the status is read exactly 0, 10, 20, 30, 40 and 50 ms after the probe.
BOOST_AUTO_TEST_CASE(a_pf_whose_beat_stopped_exactly_four_intervals_ago_is_not_yet_gone) {
  vf_mailbox_config config;
  config.poll_interval_ns = 10'000'000;
  harness h(config, mailbox::capability::invalidation | mailbox::capability::heartbeat, 10);
  h.pf_answers = false;
  const std::uint64_t probed = h.now;
  std::array<std::byte, 16> a{};
  (void)h.read(5, a);
  h.run(probed + 40'000'000);
  BOOST_TEST(h.count("R 20 4") == 5u);  // at 0, 10, 20, 30 and 40 ms
  BOOST_TEST(h.trace.back().at == probed + 40'000'000);
  BOOST_TEST(h.done.empty());
  BOOST_TEST(!h.vf.peer_silent());
  h.run(probed + 100'000'000);
  BOOST_REQUIRE(h.done.size() == 1u);
  BOOST_TEST((h.done[0].error == errc::peer_gone));
  BOOST_TEST(h.now == probed + 50'000'000);
}

// docs/protocol.md 4.1: the tear check compares the answer (ack, count, FAILED, epoch), not INVALIDATED or
// the heartbeat, which change on their own while an answer stands. A PF whose INVALIDATED flag (or beat)
// changes at every tear check still has its answer taken at the first check: no retry, no torn_read.
BOOST_AUTO_TEST_CASE(invalidated_or_the_beat_changing_during_the_tear_check_is_no_tear) {
  for (const std::uint32_t flip : {1u << 25, 1u << 26}) {
    BOOST_TEST_CONTEXT((flip == (1u << 25) ? "INVALIDATED" : "heartbeat")) {
      vf_mailbox_config config;
      config.max_torn_retries = 3;
      harness h(config);
      std::array<std::byte, 16> a{};
      (void)h.read(5, a);
      int data_reads = 0;
      h.before_read = [&](const mailbox_action& x) {
        if (x.offset == reg::data) ++data_reads;
        if (x.offset == reg::status && h.vf.current_state() == vf_mailbox_engine<>::state::verifying)
          h.pf.set(reg::status, h.pf.u32(reg::status) ^ flip);
      };
      h.run();
      BOOST_REQUIRE(h.done.size() == 1u);
      BOOST_TEST((h.done[0].error == no_error));
      BOOST_TEST(h.done[0].bytes == 16u);
      BOOST_TEST(copy_of(a) == pattern(16, 0x10), boost::test_tools::per_element());
      BOOST_TEST(data_reads == 1);
      BOOST_TEST(h.vf.torn_retries() == 0u);
    }
  }
}

// max_torn_retries is how often a read is retried when the PF changed its answer while the VF read it
// (docs/protocol.md 4.1: "at most 32 times; then torn"): an answer torn exactly that many times is still
// read, and only one torn once more fails with torn_read.
BOOST_AUTO_TEST_CASE(an_answer_torn_max_torn_retries_times_is_still_read) {
  for (const int tears : {4, 5}) {
    BOOST_TEST_CONTEXT(tears << " tears") {
      vf_mailbox_config config;
      config.max_torn_retries = 4;
      harness h(config);
      std::array<std::byte, 16> a{};
      (void)h.read(5, a);
      int torn = 0;
      h.before_read = [&](const mailbox_action& x) {
        if (x.offset == reg::status && h.vf.current_state() == vf_mailbox_engine<>::state::verifying && torn < tears) {
          ++torn;
          h.pf.set(reg::status, h.pf.u32(reg::status) ^ (28u << 16));  // the count flips between 16 and 12
        }
      };
      h.run();
      BOOST_REQUIRE(h.done.size() == 1u);
      if (tears == 4) {
        BOOST_TEST((h.done[0].error == no_error));
        BOOST_TEST(h.done[0].bytes == 16u);
        BOOST_TEST(copy_of(a) == pattern(16, 0x10), boost::test_tools::per_element());
      } else {
        BOOST_TEST((h.done[0].error == errc::torn_read));
      }
    }
  }
}

// docs/protocol.md 2: a DVSEC shorter than the 184-byte window is not_supported, however little it lacks;
// one exactly as long as the window, or longer, is the mailbox.
BOOST_AUTO_TEST_CASE(a_dvsec_one_dword_shorter_than_the_window_is_refused_at_the_probe) {
  constexpr auto window = static_cast<std::uint32_t>(mailbox::window_size);
  for (const std::uint32_t length : {window - 4u, window - 1u, window, window + 4u}) {
    BOOST_TEST_CONTEXT("DVSEC length " << length) {
      harness h;
      h.pf.set(reg::dvsec_header1, (h.pf.u32(reg::dvsec_header1) & 0xFFFFF) | (length << 20));
      std::array<std::byte, 16> a{};
      (void)h.read(5, a);
      h.run();
      BOOST_REQUIRE(h.done.size() == 1u);
      if (length < mailbox::window_size) {
        BOOST_TEST((h.done[0].error == errc::not_supported));
        BOOST_TEST(h.count("W 1c 4") == 0u);  // nothing was sent
      } else {
        BOOST_TEST((h.done[0].error == no_error));
        BOOST_TEST(h.done[0].bytes == 16u);
      }
    }
  }
}

// docs/protocol.md 4.1: a request that starts waiting behind an orphan reads it at once and polls it
// from the poll interval. When the probe itself found the orphan (an earlier driver's request left
// unanswered), the probe's status read is that read: the request polls next, with no second status read
// at the same instant.
BOOST_AUTO_TEST_CASE(an_orphan_found_by_the_probe_is_not_read_again_at_once) {
  vf_mailbox_config config;
  config.poll_interval_ns = 100;
  harness h(config);
  h.pf_answers = false;
  h.pf.set(reg::request, 7u | (16u << 16) | (1u << 24));  // sequence 7, never answered (ack 0)
  std::array<std::byte, 16> a{};
  (void)h.read(5, a, 1'000'000);
  const mailbox_action first = h.settle();
  BOOST_TEST((first.what == kind::wait));
  BOOST_TEST(first.until == h.now + 100);
  BOOST_TEST(h.script() == (script_t{"R 0 36", "wait"}), boost::test_tools::per_element());
}

// docs/protocol.md 5.5: a status read more than 2 intervals after the VF's previous one starts the
// heartbeat count again from its value, so a PF is found gone only 4 intervals after such a read,
// whatever the beat showed before the gap. Here the gap is 3 intervals (more than 2, less than 4) and the
// PF has stopped: the request fails with peer_gone more than 4 intervals after it started, not at the
// 4 intervals counted from the look before the gap.
BOOST_AUTO_TEST_CASE(a_look_three_intervals_after_the_last_starts_the_heartbeat_count_again) {
  vf_mailbox_config config;
  config.poll_interval_ns = 10'000'000;
  harness h = served_by_a_beating_pf(config);
  std::array<std::byte, 16> a{};
  h.pf_answers = false;  // the PF stops: no beat, no answer
  h.now += 30'000'000;   // the VF idles 3 intervals
  const std::uint64_t started = h.now;
  (void)h.read(5, a);
  h.run(started + 200'000'000);
  BOOST_REQUIRE(h.done.size() == 2u);
  BOOST_TEST((h.done[1].error == errc::peer_gone));
  BOOST_TEST(h.now - started > 40'000'000u);
  BOOST_TEST(h.now - started <= 50'000'000u);  // at the first poll after the 4 intervals
}

// The retry budget for torn answers is per request: requests each torn fewer than max_torn_retries times
// all succeed, however many tears they add up to.
BOOST_AUTO_TEST_CASE(the_torn_retry_budget_is_each_requests_own) {
  vf_mailbox_config config;
  config.max_torn_retries = 2;
  harness h(config);
  int torn = 0;
  h.before_read = [&](const mailbox_action& x) {
    if (x.offset == reg::status && h.vf.current_state() == vf_mailbox_engine<>::state::verifying && torn < 2) {
      ++torn;
      h.pf.set(reg::status, h.pf.u32(reg::status) ^ (28u << 16));  // the count flips between 16 and 12
    }
  };
  for (std::size_t i = 0; i < 3; ++i) {
    BOOST_TEST_CONTEXT("request " << i) {
      torn = 0;
      std::array<std::byte, 16> a{};
      (void)h.read(5, a);
      h.run();
      BOOST_REQUIRE(h.done.size() == i + 1);
      BOOST_TEST((h.done[i].error == no_error));
      BOOST_TEST(copy_of(a) == pattern(16, 0x10), boost::test_tools::per_element());
    }
  }
  BOOST_TEST(h.vf.torn_retries() == 6u);
}

// A watch interval of 0 (vf_endpoint's options let any duration through; a negative one arrives as 0):
// the watch "waited" until the instant it was at, read status again at once and never handed back a wait,
// so an endpoint's pump spun inside one handler for ever. Durations that schedule a wait are at least 1 ns.
BOOST_AUTO_TEST_CASE(a_watch_interval_of_zero_waits_a_nanosecond_instead_of_reading_status_for_ever) {
  vf_mailbox_config config;
  config.watch_interval_ns = 0;
  harness h(config);
  h.vf.watch_invalidations(true);
  const mailbox_action first = h.settle();
  BOOST_TEST((first.what == kind::wait));
  BOOST_TEST(first.until == h.now + 1);
  // Each look is one status read a nanosecond (then the looks' back-off) apart, never two at one instant.
  h.run(h.now + 1000);
  for (std::size_t i = 1; i < h.trace.size(); ++i)
    if (h.trace[i].what == kind::read && h.trace[i - 1].what == kind::read) BOOST_TEST(h.trace[i].at > h.trace[i - 1].at);
  BOOST_TEST(h.vf.config().watch_interval_ns == 1u);
}

// An orphan timeout of 0 with a PF that does not finish the reset: the next request wrote control.RESET,
// read it back still set, found the reset's deadline (now + 0) reached and wrote RESET again, for ever at
// one instant: the request never reached its own deadline. Every round of the reset now has a wait in it,
// and the request times out at its deadline.
BOOST_AUTO_TEST_CASE(an_orphan_timeout_of_zero_still_waits_between_reset_requests) {
  vf_mailbox_config config;
  config.poll_interval_ns = 100;
  config.orphan_timeout_ns = 0;
  harness h(config);
  h.pf_answers = false;
  std::array<std::byte, 16> a{};
  (void)h.read(5, a, 1150);
  h.run(1150);
  BOOST_REQUIRE(h.done.size() == 1u);
  BOOST_TEST((h.done[0].error == errc::timeout));
  const std::uint64_t deadline = h.now + 5000;
  (void)h.read(5, a, deadline);
  h.run(deadline);
  BOOST_REQUIRE(h.done.size() == 2u);
  BOOST_TEST((h.done[1].error == errc::timeout));
  BOOST_TEST(h.vf.resets() >= 1u);
  BOOST_TEST(h.vf.config().orphan_timeout_ns == 1u);
}

// heartbeat_misses x the PF's heartbeat interval wrapped in 64 bits: with a 65535 ms beat, a tolerance of
// 281,479,272 intervals called a hung PF gone after 16.8 s (the default 4: 262 s). The product saturates:
// such a PF is never found gone by its beat, and the request times out at its deadline. A tolerance of 0 is
// one interval (it was "gone" at the first look that saw the same beat a moment later).
BOOST_AUTO_TEST_CASE(a_heartbeat_tolerance_past_the_clock_s_range_never_finds_a_pf_gone_early) {
  constexpr std::uint64_t second = 1'000'000'000;
  vf_mailbox_config config;
  config.watch_interval_ns = second;  // the polls slow to a second: a thousand of them
  config.heartbeat_misses = 281'479'272;
  harness h(config, mailbox::capability::invalidation | mailbox::capability::heartbeat, 65535);
  std::array<std::byte, 16> a{};
  (void)h.read(5, a);
  h.run();
  BOOST_REQUIRE(h.done.size() == 1u);
  h.pf_answers = false;
  const std::uint64_t deadline = h.now + 1000 * second;
  (void)h.read(5, a, deadline);
  h.run(deadline);
  BOOST_REQUIRE(h.done.size() == 2u);
  BOOST_TEST((h.done[1].error == errc::timeout));
  BOOST_TEST(!h.vf.peer_silent());
}

BOOST_AUTO_TEST_CASE(a_heartbeat_tolerance_of_zero_misses_is_one_interval) {
  for (const std::uint32_t misses : {0u, 1u}) {
    BOOST_TEST_CONTEXT(misses << " misses") {
      vf_mailbox_config config;
      config.poll_interval_ns = 1'000'000;
      config.heartbeat_misses = misses;
      harness h = served_by_a_beating_pf(config);
      h.pf_answers = false;
      const std::uint64_t start = h.now;
      std::array<std::byte, 16> a{};
      (void)h.read(5, a);
      h.run(start + 100'000'000);
      BOOST_REQUIRE(h.done.size() == 2u);
      BOOST_TEST((h.done[1].error == errc::peer_gone));
      // More than one 10 ms interval without a beat, found at the poll after it (1, 2, 4, 8, 16 ms).
      BOOST_TEST(h.trace.back().at - start > 10'000'000u);
      BOOST_TEST(h.trace.back().at - start <= 20'000'000u);
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()  // vf_mailbox_engine_test
