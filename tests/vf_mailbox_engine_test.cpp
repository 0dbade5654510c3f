// The VF side of the config-space mailbox (engine::vf_mailbox_engine) against a scripted PF: a real
// pf_mailbox_session over a window array for the well-behaved cases, hand-written register bytes for the
// hostile ones. Time is a number the test passes; nothing sleeps.
#include <boost/test/unit_test.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <ostream>
#include <span>
#include <sstream>
#include <string>
#include <vector>

#include <vpci/block/endian.hpp>
#include <vpci/engine/pf_mailbox.hpp>
#include <vpci/engine/vf_mailbox.hpp>
#include <vpci/wire/mailbox.hpp>

#include "test_support.hpp"

namespace vpci {
namespace engine {
inline std::ostream& boost_test_print_type(std::ostream& os, op_handle h) {
  return os << "op_handle(" << h.slot << "/" << h.generation << ")";
}
inline std::ostream& boost_test_print_type(std::ostream& os, mailbox_action::kind k) {
  return os << "kind(" << static_cast<int>(k) << ")";
}
}  // namespace engine
}  // namespace vpci

using namespace vpci;
using namespace vpci::engine;
namespace reg = vpci::mailbox::reg;
using kind = mailbox_action::kind;

namespace {

using window_type = std::array<std::byte, mailbox::window_size>;
using bytes = std::vector<std::byte>;

bytes pattern(std::size_t n, unsigned seed) {
  bytes out(n);
  for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<std::byte>(seed + i * 13);
  return out;
}
bytes copy_of(std::span<const std::byte> in) { return {in.begin(), in.end()}; }
bytes u32s(std::initializer_list<std::uint32_t> values) {
  bytes out;
  for (std::uint32_t v : values) {
    std::array<std::byte, 4> b{};
    le::store_u32(b.data(), v);
    out.insert(out.end(), b.begin(), b.end());
  }
  return out;
}

struct traced {
  kind what;
  std::uint16_t offset;
  std::size_t length;
  bytes data;  // write: the bytes written
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

constexpr std::uint64_t far = 1'000'000'000;

// The VF engine and a PF (block store + session) sharing a window. VF 0 has block 5 (16 bytes) and
// block 6 (8 bytes); VF 1 has block 20.
struct harness {
  std::unique_ptr<pf_blocks<2>> owned = std::make_unique<pf_blocks<2>>();
  pf_blocks<2>& store = *owned;
  pf_mailbox_session<2> session{store, 0};
  window_type window{};
  vf_mailbox_engine<> vf;
  std::uint64_t now = 1000;
  bool pf_answers = true;                                 // the PF services the window after each VF write
  std::function<void(const mailbox_action&)> before_read;  // a scripted PF acting before a read is served
  std::function<void(const traced&)> after_write;         // ... or after a write landed
  errc fail_next = no_error;                              // the next access fails in the transport
  std::vector<traced> trace;
  std::vector<op_completion> done;

  explicit harness(vf_mailbox_config config = {}) : vf(config) {
    BOOST_REQUIRE((store.register_vf(0, 1) == no_error));
    BOOST_REQUIRE((store.register_vf(1, 2) == no_error));
    BOOST_REQUIRE((store.define_block(0, block_id{5}, pattern(16, 0x10)) == no_error));
    BOOST_REQUIRE((store.define_block(0, block_id{6}, pattern(8, 0x60)) == no_error));
    BOOST_REQUIRE((store.define_block(1, block_id{20}, pattern(8, 0xA0)) == no_error));
    apply(session.initialize());
  }

  template <class List>
  void apply(const List& writes) {
    for (const register_write& w : writes)
      for (std::size_t i = 0; i < w.bytes.size(); ++i) window[w.offset + i] = w.bytes[i];
  }
  void service() { apply(session.service(window)); }
  [[nodiscard]] std::uint32_t u32(std::uint16_t offset) const { return le::load_u32(window.data() + offset); }
  void set_u32(std::uint16_t offset, std::uint32_t v) { le::store_u32(window.data() + offset, v); }
  // A hand-written PF answer (no session): generation even, status, count, ack.
  void answer(std::uint32_t generation, std::uint32_t status, std::uint32_t count, std::uint32_t ack) {
    set_u32(reg::generation, generation);
    set_u32(reg::status, status);
    set_u32(reg::byte_count, count);
    set_u32(reg::ack_sequence, ack);
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

  // One engine action, performed.
  mailbox_action step() {
    const mailbox_action a = vf.step(now);
    traced t{a.what, a.offset, a.what == kind::write ? a.bytes.size() : a.length, {}, now};
    if (a.what == kind::write) t.data = copy_of(a.bytes);
    trace.push_back(t);
    switch (a.what) {
      case kind::write:
        if (fail_next != no_error) {
          fail_next = no_error;
          vf.on_transport_error(now);
          break;
        }
        BOOST_REQUIRE(a.offset + a.bytes.size() <= window.size());
        for (std::size_t i = 0; i < a.bytes.size(); ++i) window[a.offset + i] = a.bytes[i];
        vf.on_written(now);
        if (after_write) after_write(t);
        if (pf_answers) service();
        break;
      case kind::read: {
        if (fail_next != no_error) {
          fail_next = no_error;
          vf.on_transport_error(now);
          break;
        }
        if (before_read) before_read(a);
        BOOST_REQUIRE(a.offset + a.length <= window.size());
        const bytes got(window.begin() + a.offset, window.begin() + static_cast<std::ptrdiff_t>(a.offset + a.length));
        vf.on_read(got, now);
        break;
      }
      case kind::complete: done.push_back(a.done); break;
      default: break;
    }
    return a;
  }
  // Steps until the engine waits or is idle (bounded: an engine that never settles fails the test).
  mailbox_action settle() {
    for (int i = 0; i < 1000; ++i) {
      const mailbox_action a = step();
      if (a.what == kind::wait || a.what == kind::idle) return a;
    }
    BOOST_FAIL("the engine never settled");
    return {};
  }
  // Settles, following waits on the clock, until idle or `limit`.
  void run(std::uint64_t limit = far) {
    for (int i = 0; i < 100000; ++i) {
      const mailbox_action a = settle();
      if (a.what == kind::idle) return;
      BOOST_REQUIRE(a.until > now);  // a wait always lies in the future
      if (a.until > limit) return;
      now = a.until;
    }
    BOOST_FAIL("the engine never finished");
  }
  std::vector<std::string> script(std::size_t from = 0) const {
    std::vector<std::string> out;
    for (std::size_t i = from; i < trace.size(); ++i) out.push_back(describe(trace[i]));
    return out;
  }
  std::size_t count(const std::string& what) const {
    std::size_t n = 0;
    for (const auto& s : script()) if (s == what) ++n;
    return n;
  }
};

using script_t = std::vector<std::string>;

}  // namespace

BOOST_AUTO_TEST_SUITE(vf_mailbox_engine_suite)

BOOST_AUTO_TEST_CASE(a_read_is_the_documented_access_sequence) {
  harness h;
  std::array<std::byte, 32> destination;
  destination.fill(std::byte{0xEE});
  const op_handle handle = h.read(5, destination);
  BOOST_TEST(h.vf.is_queued(handle));
  BOOST_TEST((h.settle().what == kind::idle));
  BOOST_TEST(h.script() == (script_t{"R 8 64", "W 18 16", "R 28 32", "R 50 16", "R 28 4", "done", "idle"}),
             boost::test_tools::per_element());
  // The request area in one 16-byte transfer: operation, block, length, sequence last.
  BOOST_TEST(h.trace[1].data == u32s({1, 5, 32, 1}), boost::test_tools::per_element());
  BOOST_REQUIRE(h.done.size() == 1u);
  BOOST_TEST(h.done[0].handle == handle);
  BOOST_TEST((h.done[0].error == no_error));
  BOOST_TEST(h.done[0].bytes == 16u);
  BOOST_TEST(copy_of(std::span(destination).first(16)) == pattern(16, 0x10), boost::test_tools::per_element());
  for (std::size_t i = 16; i < 32; ++i) BOOST_TEST(destination[i] == std::byte{0xEE});
  BOOST_TEST(h.vf.sequence() == 1u);
  BOOST_TEST(!h.vf.is_queued(handle));

  // The next read needs no probe; the sequence goes on.
  std::array<std::byte, 8> small{};
  h.trace.clear();
  (void)h.read(6, small);
  BOOST_TEST((h.settle().what == kind::idle));
  BOOST_TEST(h.script() == (script_t{"W 18 16", "R 28 32", "R 50 8", "R 28 4", "done", "idle"}),
             boost::test_tools::per_element());
  BOOST_TEST(h.trace[0].data == u32s({1, 6, 8, 2}), boost::test_tools::per_element());
  BOOST_TEST(copy_of(small) == pattern(8, 0x60), boost::test_tools::per_element());
  BOOST_TEST(h.session.last_sequence() == 2u);
}

BOOST_AUTO_TEST_CASE(a_write_sends_the_data_window_before_the_request) {
  harness h;
  const bytes data = pattern(16, 0x33);
  const op_handle handle = h.write(5, data);
  BOOST_TEST((h.settle().what == kind::idle));
  BOOST_TEST(h.script() == (script_t{"R 8 64", "W 50 16", "W 18 16", "R 28 32", "R 28 4", "done", "idle"}),
             boost::test_tools::per_element());
  BOOST_TEST(h.trace[1].data == data, boost::test_tools::per_element());
  BOOST_TEST(h.trace[2].data == u32s({2, 5, 16, 1}), boost::test_tools::per_element());
  BOOST_REQUIRE(h.done.size() == 1u);
  BOOST_TEST(h.done[0].handle == handle);
  BOOST_TEST((h.done[0].error == no_error));
  BOOST_TEST(h.done[0].bytes == 16u);
  BOOST_TEST(copy_of(h.store.contents(0, block_id{5})) == data, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(pf_statuses_map_to_errors) {
  harness h;
  std::array<std::byte, 16> d{};
  (void)h.read(20, std::span(d).first(8));  // VF 1's block
  (void)h.read(40, d);                      // nobody's
  (void)h.read(5, std::span(d).first(15));  // short
  (void)h.write(5, pattern(15, 0));         // wrong length
  h.run();
  BOOST_REQUIRE(h.done.size() == 4u);
  BOOST_TEST((h.done[0].error == errc::access_denied));
  BOOST_TEST((h.done[1].error == errc::invalid_argument));
  BOOST_TEST((h.done[2].error == errc::buffer_too_small));
  BOOST_TEST((h.done[3].error == errc::invalid_argument));
  for (const auto& c : h.done) BOOST_TEST(c.bytes == 0u);
  BOOST_TEST(d == (std::array<std::byte, 16>{}));
  BOOST_TEST(h.count("R 50 8") + h.count("R 50 16") + h.count("R 50 15") == 0u);  // no data read on failure
}

BOOST_AUTO_TEST_CASE(a_generation_change_during_the_read_retries_and_never_mixes) {
  harness h;
  std::array<std::byte, 16> destination{};
  (void)h.read(5, destination);
  const bytes fresh = pattern(16, 0x77);
  int data_reads = 0;
  std::uint32_t real_generation = 0;
  h.before_read = [&](const mailbox_action& a) {
    if (a.offset == reg::data && ++data_reads == 1) {
      // The PF is mid-update: half the data window is new, the generation odd...
      real_generation = h.u32(reg::generation);
      h.set_u32(reg::generation, real_generation + 1);
      for (std::size_t i = 0; i < 8; ++i) h.window[reg::data + i] = fresh[i];
    }
    if (a.offset == reg::generation && a.length == 4 && data_reads == 1) {
      // ... and has finished by the time the VF re-reads the generation.
      for (std::size_t i = 0; i < 16; ++i) h.window[reg::data + i] = fresh[i];
      h.set_u32(reg::generation, real_generation + 2);
    }
  };
  h.run();
  BOOST_TEST(h.script() == (script_t{"R 8 64", "W 18 16", "R 28 32", "R 50 16", "R 28 4", "R 28 32", "R 50 16",
                                     "R 28 4", "done", "idle"}),
             boost::test_tools::per_element());
  BOOST_REQUIRE(h.done.size() == 1u);
  BOOST_TEST((h.done[0].error == no_error));
  BOOST_TEST(copy_of(destination) == fresh, boost::test_tools::per_element());  // all new, not half
  BOOST_TEST(h.vf.torn_retries() == 1u);
}

BOOST_AUTO_TEST_CASE(a_window_that_always_changes_fails_with_torn_read) {
  vf_mailbox_config config;
  config.max_torn_retries = 3;
  harness h(config);
  std::array<std::byte, 16> destination;
  destination.fill(std::byte{0xEE});
  (void)h.read(5, destination);
  h.before_read = [&](const mailbox_action& a) {
    if (a.offset == reg::generation && a.length == 4) h.set_u32(reg::generation, h.u32(reg::generation) + 2);
  };
  h.run();
  BOOST_REQUIRE(h.done.size() == 1u);
  BOOST_TEST((h.done[0].error == errc::torn_read));
  BOOST_TEST(h.done[0].bytes == 0u);
  BOOST_TEST(h.count("R 28 4") == 4u);   // the first read and 3 retries, all torn
  BOOST_TEST(h.count("R 28 32") == 4u);
  BOOST_TEST(h.vf.torn_retries() == 4u);
  for (std::byte b : destination) BOOST_TEST(b == std::byte{0xEE});  // never partly filled
  // The default is 32 retries.
  BOOST_TEST(vf_mailbox_config{}.max_torn_retries == 32u);
}

BOOST_AUTO_TEST_CASE(an_odd_generation_is_read_again_after_a_short_back_off) {
  harness h;
  std::array<std::byte, 16> destination{};
  (void)h.read(5, destination);
  int status_reads = 0;
  std::uint32_t real = 0;
  h.before_read = [&](const mailbox_action& a) {
    if (a.offset != reg::generation || a.length != 32) return;
    ++status_reads;
    if (status_reads == 1) {
      real = h.u32(reg::generation);
      h.set_u32(reg::generation, real + 1);  // the PF is updating
      h.set_u32(reg::byte_count, 99);        // with a half-written count the VF must not use
    } else if (status_reads == 2) {
      h.set_u32(reg::generation, real);
      h.set_u32(reg::byte_count, 16);
    }
  };
  h.run();
  BOOST_TEST(h.script() == (script_t{"R 8 64", "W 18 16", "R 28 32", "wait", "R 28 32", "R 50 16", "R 28 4", "done",
                                     "idle"}),
             boost::test_tools::per_element());
  BOOST_TEST(h.trace[4].at - h.trace[2].at == vf_mailbox_config{}.unstable_backoff_ns);
  BOOST_REQUIRE(h.done.size() == 1u);
  BOOST_TEST((h.done[0].error == no_error));
  BOOST_TEST(h.done[0].bytes == 16u);
  BOOST_TEST(h.vf.torn_retries() == 0u);
  BOOST_TEST(h.vf.unstable_reads() == 1u);
}

// Case 1 of the hostile-peers issue: a PF that dies (or lies) between "generation odd" and "generation
// even" left the VF re-reading the status at once, forever: deadlines never fired. Now each odd read
// backs off (doubling, up to the poll interval), the deadline fires on time, the orphan is reset after
// its timeout, and an idle watcher polls an odd window at most once per watch interval.
BOOST_AUTO_TEST_CASE(case_1_generation_left_odd_backs_off_and_deadlines_fire) {
  vf_mailbox_config config;
  config.poll_interval_ns = 1'000;
  config.unstable_backoff_ns = 10;
  config.orphan_timeout_ns = 50'000;
  config.watch_interval_ns = 100'000;
  harness h(config);
  std::array<std::byte, 16> destination{};
  destination.fill(std::byte{0xEE});
  const std::uint64_t start = h.now;
  (void)h.read(5, destination, start + 10'000);
  h.pf_answers = false;
  h.set_u32(reg::generation, h.u32(reg::generation) + 1);  // the PF died mid-update
  h.run(start + 10'000);
  BOOST_REQUIRE(h.done.size() == 1u);
  BOOST_TEST((h.done[0].error == errc::timeout));
  for (std::byte b : destination) BOOST_TEST(b == std::byte{0xEE});
  // Bounded polling: back-offs 10, 20, 40, ... capped at the poll interval, so about 10 us / 1 us reads.
  const std::size_t reads = h.count("R 28 32");
  BOOST_TEST(reads >= 10u);
  BOOST_TEST(reads <= 20u);
  for (std::size_t i = 1; i < h.trace.size(); ++i)
    if (h.trace[i].what == kind::read && h.trace[i - 1].what == kind::read)
      BOOST_TEST(h.trace[i].at > h.trace[i - 1].at);  // never two status reads at the same instant
  // The abandoned request is an orphan; past its timeout the VF resets the mailbox.
  BOOST_TEST(h.vf.has_orphan());
  h.run(start + 10'000 + 60'000);
  BOOST_TEST(h.count("W 14 4") == 1u);
  BOOST_TEST(h.vf.resets() == 1u);
  // An idle watcher over the dead PF: one read per watch interval at most, never a spin.
  harness w(config);
  w.pf_answers = false;
  w.set_u32(reg::generation, w.u32(reg::generation) + 1);
  w.vf.watch_invalidations(true);
  w.run(w.now + 1'000'000);
  BOOST_TEST(w.count("R 28 32") == 10u);  // 1 ms at one read per 100 us
}

BOOST_AUTO_TEST_CASE(an_unanswered_request_is_polled_then_times_out_and_its_late_reply_is_dropped) {
  vf_mailbox_config config;
  config.poll_interval_ns = 100;
  harness h(config);
  h.pf_answers = false;
  std::array<std::byte, 16> a{};
  const op_handle first = h.read(5, a, 1450);
  const mailbox_action wait = h.settle();
  BOOST_TEST((wait.what == kind::wait));
  BOOST_TEST(wait.until == 1100u);  // now + poll interval
  BOOST_TEST(h.script() == (script_t{"R 8 64", "W 18 16", "R 28 32", "wait"}), boost::test_tools::per_element());
  h.now = 1100;
  BOOST_TEST(h.settle().until == 1200u);
  h.now = 1400;
  BOOST_TEST(h.settle().until == 1450u);  // the deadline comes before the next poll
  h.now = 1450;
  BOOST_TEST((h.step().what == kind::complete));
  BOOST_REQUIRE(h.done.size() == 1u);
  BOOST_TEST(h.done[0].handle == first);
  BOOST_TEST((h.done[0].error == errc::timeout));
  BOOST_TEST(h.vf.has_orphan());

  // A second request waits for the abandoned one's answer before it is written.
  std::array<std::byte, 16> b{};
  (void)h.read(5, b);
  const std::size_t mark = h.trace.size();
  h.run(3000);
  BOOST_TEST(h.count("W 18 16") == 1u);  // still only the first request
  // The PF answers the abandoned request late: dropped, never copied into `a`.
  h.service();
  h.pf_answers = true;
  h.run();
  BOOST_REQUIRE(h.done.size() == 2u);
  BOOST_TEST((h.done[1].error == no_error));
  BOOST_TEST(copy_of(b) == pattern(16, 0x10), boost::test_tools::per_element());
  BOOST_TEST(a == (std::array<std::byte, 16>{}));
  BOOST_TEST(h.vf.late_replies_dropped() == 1u);
  BOOST_TEST(!h.vf.has_orphan());
  BOOST_TEST(h.count("W 18 16") == 2u);
  BOOST_TEST(h.trace.back().what == kind::idle);
  bool second_request_seen = false;
  for (std::size_t i = mark; i < h.trace.size(); ++i)
    if (h.trace[i].what == kind::write && h.trace[i].offset == reg::request_operation) {
      BOOST_TEST(h.trace[i].data == u32s({1, 5, 16, 2}), boost::test_tools::per_element());
      second_request_seen = true;
    }
  BOOST_TEST(second_request_seen);
  BOOST_TEST(h.session.last_sequence() == 2u);
}

BOOST_AUTO_TEST_CASE(queued_operations_time_out_too) {
  vf_mailbox_config config;
  config.poll_interval_ns = 100;
  harness h(config);
  h.pf_answers = false;
  std::array<std::byte, 16> a{}, b{};
  const op_handle first = h.read(5, a, 5000);
  const op_handle second = h.read(6, std::span(b).first(8), 1250);
  BOOST_TEST(h.vf.next_deadline() == 1250u);
  (void)h.settle();
  BOOST_TEST(h.vf.is_queued(second));
  BOOST_TEST(!h.vf.is_queued(first));  // active
  h.now = 1250;
  BOOST_TEST((h.step().what == kind::complete));
  BOOST_REQUIRE(h.done.size() == 1u);
  BOOST_TEST(h.done[0].handle == second);
  BOOST_TEST((h.done[0].error == errc::timeout));
  BOOST_TEST(!h.vf.is_queued(second));
  BOOST_TEST(!h.vf.has_orphan());  // the queued one never reached the PF
  BOOST_TEST(h.vf.next_deadline() == 5000u);
  h.service();
  h.pf_answers = true;
  h.run();
  BOOST_REQUIRE(h.done.size() == 2u);
  BOOST_TEST(h.done[1].handle == first);
  BOOST_TEST((h.done[1].error == no_error));
  BOOST_TEST(h.count("W 18 16") == 1u);  // block 6 was never requested
  BOOST_TEST(h.vf.next_deadline() == ~std::uint64_t{0});
  // expire() with nothing pending does nothing.
  h.vf.expire(far);
  BOOST_TEST((h.vf.step(far).what == kind::idle));
}

BOOST_AUTO_TEST_CASE(an_orphan_unanswered_past_the_orphan_timeout_resets_the_mailbox) {
  vf_mailbox_config config;
  config.poll_interval_ns = 100;
  config.orphan_timeout_ns = 1000;
  harness h(config);
  h.pf_answers = false;
  std::array<std::byte, 16> a{}, b{};
  (void)h.read(5, a, 1150);
  h.run(1150);
  BOOST_REQUIRE(h.done.size() == 1u);
  BOOST_TEST((h.done[0].error == errc::timeout));
  BOOST_TEST(h.vf.has_orphan());
  (void)h.read(5, b);
  // Poll until the control write appears.
  std::uint64_t first_orphan_poll = 0;
  std::uint64_t reset_at = 0;
  for (int i = 0; i < 100 && reset_at == 0; ++i) {
    const mailbox_action s = h.step();
    const traced& t = h.trace.back();
    if (t.what == kind::read && t.offset == reg::generation && first_orphan_poll == 0) first_orphan_poll = t.at;
    if (t.what == kind::write && t.offset == reg::control) reset_at = t.at;
    if (s.what == kind::wait) h.now = s.until;
  }
  BOOST_REQUIRE(reset_at != 0u);
  BOOST_TEST(reset_at >= first_orphan_poll + 1000);
  BOOST_TEST(reset_at < first_orphan_poll + 1000 + 100);  // at the first poll past the timeout
  BOOST_TEST(h.trace.back().data == u32s({1}), boost::test_tools::per_element());
  BOOST_TEST(h.vf.resets() == 1u);
  // The PF has not reacted yet: the VF polls control until it is cleared.
  const std::size_t mark = h.trace.size();
  (void)h.step();  // control read: still set
  const mailbox_action w = h.settle();
  BOOST_TEST((w.what == kind::wait));
  BOOST_TEST(h.script(mark) == (script_t{"R 14 4", "wait"}), boost::test_tools::per_element());
  h.service();  // the PF resets the mailbox
  BOOST_TEST(h.u32(reg::control) == 0u);
  h.pf_answers = true;
  h.now = w.until;
  h.run();
  BOOST_TEST(h.script(mark + 2) == (script_t{"R 14 4", "W 18 16", "R 28 32", "R 50 16", "R 28 4", "done", "idle"}),
             boost::test_tools::per_element());
  BOOST_TEST(h.trace[mark + 3].data == u32s({1, 5, 16, 1}), boost::test_tools::per_element());  // sequence restarts
  BOOST_REQUIRE(h.done.size() == 2u);
  BOOST_TEST((h.done[1].error == no_error));
  BOOST_TEST(copy_of(b) == pattern(16, 0x10), boost::test_tools::per_element());
  BOOST_TEST(h.vf.sequence() == 1u);
  BOOST_TEST(h.session.last_sequence() == 1u);
  BOOST_TEST(!h.vf.has_orphan());
}

BOOST_AUTO_TEST_CASE(every_orphan_gets_its_own_full_orphan_timeout) {
  vf_mailbox_config config;
  config.poll_interval_ns = 100;
  config.orphan_timeout_ns = 1000;
  harness h(config);
  std::array<std::byte, 16> a{};
  // First orphan, answered late after a few polls.
  h.pf_answers = false;
  (void)h.read(5, a, 1150);
  h.run(1150);
  BOOST_REQUIRE(h.done.size() == 1u);
  (void)h.read(5, a);
  h.run(1500);
  h.service();
  h.pf_answers = true;
  h.run();
  BOOST_TEST(h.vf.late_replies_dropped() == 1u);
  BOOST_REQUIRE(h.done.size() == 2u);
  // Much later, a second orphan: it must be polled for the full orphan timeout before a reset.
  h.now = 1'000'000;
  h.pf_answers = false;
  (void)h.read(5, a, 1'000'150);
  h.run(1'000'150);
  BOOST_REQUIRE(h.done.size() == 3u);
  BOOST_TEST((h.done[2].error == errc::timeout));
  (void)h.read(5, a);
  h.run(1'000'900);
  BOOST_TEST(h.count("W 14 4") == 0u);
  BOOST_TEST(h.vf.resets() == 0u);
  h.run(1'002'000);
  BOOST_TEST(h.count("W 14 4") == 1u);
}

BOOST_AUTO_TEST_CASE(cancelling_queued_and_active_operations) {
  harness h;
  h.pf_answers = false;
  std::array<std::byte, 16> a{}, b{}, c{};
  const op_handle first = h.read(5, a);
  const op_handle second = h.write(6, pattern(8, 1));
  BOOST_TEST((h.settle().what == kind::wait));  // first written, waiting for the PF
  BOOST_TEST(h.vf.is_queued(second));
  BOOST_TEST(h.vf.cancel(second));
  BOOST_TEST(!h.vf.cancel(second));  // only once
  BOOST_TEST(!h.vf.is_queued(second));
  BOOST_TEST((h.step().what == kind::complete));
  BOOST_TEST(h.done.back().handle == second);
  BOOST_TEST((h.done.back().error == errc::cancelled));
  BOOST_TEST(!h.vf.has_orphan());
  // The active one: the PF may hold it, so it becomes an orphan.
  BOOST_TEST(h.vf.cancel(first));
  BOOST_TEST(h.vf.has_orphan());
  BOOST_TEST((h.step().what == kind::complete));
  BOOST_TEST(h.done.back().handle == first);
  BOOST_TEST((h.done.back().error == errc::cancelled));
  BOOST_TEST(!h.vf.cancel(first));
  BOOST_TEST(!h.vf.cancel(op_handle{first.slot, static_cast<std::uint16_t>(first.generation + 1)}));
  BOOST_TEST(!h.vf.cancel(op_handle{999, 1}));
  // The late answer to the cancelled read is dropped; the write never reached the window.
  h.service();
  h.pf_answers = true;
  (void)h.read(5, c);
  h.run();
  BOOST_TEST(h.vf.late_replies_dropped() == 1u);
  BOOST_TEST(a == (std::array<std::byte, 16>{}));
  BOOST_TEST(copy_of(c) == pattern(16, 0x10), boost::test_tools::per_element());
  BOOST_TEST(h.count("W 50 8") == 0u);
  BOOST_TEST(copy_of(h.store.contents(0, block_id{6})) == pattern(8, 0x60), boost::test_tools::per_element());
  (void)b;
}

BOOST_AUTO_TEST_CASE(cancelling_before_the_request_is_written_leaves_no_orphan) {
  harness h;
  std::array<std::byte, 16> a{}, b{};
  const op_handle first = h.read(5, a);
  BOOST_TEST((h.step().what == kind::read));  // the probe
  BOOST_TEST(h.vf.cancel(first));
  BOOST_TEST(!h.vf.has_orphan());
  (void)h.read(5, b);
  h.run();
  BOOST_REQUIRE(h.done.size() == 2u);
  BOOST_TEST((h.done[0].error == errc::cancelled));
  BOOST_TEST((h.done[1].error == no_error));
  BOOST_TEST(h.count("W 18 16") == 1u);
  BOOST_TEST(h.session.last_sequence() == 1u);
  BOOST_TEST(h.vf.late_replies_dropped() == 0u);
}

BOOST_AUTO_TEST_CASE(removal_completes_everything_in_start_order_then_probes_again) {
  harness h;
  h.pf_answers = false;
  std::array<std::byte, 16> a{}, b{}, c{}, d{};
  const op_handle h1 = h.read(5, a);
  const op_handle h2 = h.write(5, pattern(16, 2));
  const op_handle h3 = h.read(6, std::span(c).first(8));
  BOOST_TEST(h.vf.cancel(h2));  // frees slot 1 ...
  (void)h.step();               // ... once delivered
  const op_handle h4 = h.read(5, b);  // reuses the lowest free slot but is started last
  BOOST_TEST(h4.slot == h2.slot);
  (void)h.settle();
  h.done.clear();
  h.vf.remove();
  for (int i = 0; i < 3; ++i) BOOST_TEST((h.step().what == kind::complete));
  BOOST_TEST((h.step().what == kind::idle));
  BOOST_REQUIRE(h.done.size() == 3u);
  BOOST_TEST(h.done[0].handle == h1);
  BOOST_TEST(h.done[1].handle == h3);
  BOOST_TEST(h.done[2].handle == h4);
  for (const auto& x : h.done) BOOST_TEST((x.error == errc::vf_removed));
  BOOST_TEST(a == (std::array<std::byte, 16>{}));
  // The next request probes the window again before anything else.
  h.service();
  h.pf_answers = true;
  const std::size_t mark = h.trace.size();
  (void)h.read(5, d);
  h.run();
  BOOST_TEST(h.script(mark).front() == "R 8 64");
  BOOST_TEST((h.done.back().error == no_error));
  BOOST_TEST(copy_of(d) == pattern(16, 0x10), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(sixteen_queued_is_busy_and_bad_lengths_are_refused_up_front) {
  harness h;
  std::array<std::byte, 129> big{};
  BOOST_TEST((h.vf.start_read(block_id{5}, std::span(big).first(0), far).error() == errc::invalid_length));
  BOOST_TEST((h.vf.start_read(block_id{5}, big, far).error() == errc::invalid_length));
  BOOST_TEST((h.vf.start_write(block_id{5}, std::span<const std::byte>{}, far).error() == errc::invalid_length));
  BOOST_TEST((h.vf.start_write(block_id{5}, big, far).error() == errc::invalid_length));
  BOOST_TEST((h.step().what == kind::idle));  // nothing was queued
  BOOST_TEST(h.trace.size() == 1u);
  std::array<std::array<std::byte, 16>, 16> buffers{};
  for (auto& buffer : buffers) (void)h.read(5, buffer);
  BOOST_TEST((h.vf.start_read(block_id{5}, std::span(big).first(16), far).error() == errc::busy));
  BOOST_TEST((h.vf.start_write(block_id{5}, std::span(big).first(16), far).error() == errc::busy));
  BOOST_TEST((h.vf.start_read(block_id{5}, std::span(big).first(0), far).error() == errc::invalid_length));
  h.run();
  BOOST_REQUIRE(h.done.size() == 16u);
  for (const auto& c : h.done) BOOST_TEST((c.error == no_error));
  for (const auto& buffer : buffers) BOOST_TEST(copy_of(buffer) == pattern(16, 0x10), boost::test_tools::per_element());
  BOOST_TEST(h.session.last_sequence() == 16u);
}

BOOST_AUTO_TEST_CASE(hostile_answers_are_refused) {
  struct row {
    bool write;
    std::uint32_t status;
    std::uint32_t count;
    errc expected;
    bool data_read;
    const char* what;
  };
  const row rows[] = {
      {false, 0, 0, errc::empty_response, false, "success with byte_count 0"},
      {false, 0, 17, errc::protocol_violation, false, "byte_count above the request"},
      {false, 0, 0xFFFFFFFF, errc::protocol_violation, false, "byte_count 2^32-1"},
      {true, 0, 3, errc::protocol_violation, false, "write acknowledged with another count"},
      {true, 0, 0, errc::protocol_violation, false, "write acknowledged with 0"},
      {false, 0xC0000022, 16, errc::access_denied, false, "failure with a byte count"},
      {false, 0x00000103, 16, errc::device_error, false, "STATUS_PENDING as an answer"},
      {false, 0xE0001234, 0, errc::device_error, false, "an unknown error status"},
      {false, 0xC0000010, 0, errc::protocol_violation, false, "STATUS_INVALID_DEVICE_REQUEST"},
      {false, 0, 5, no_error, true, "a short but valid answer"},
  };
  for (const row& r : rows) {
    BOOST_TEST_CONTEXT(r.what) {
      harness h;
      h.pf_answers = false;
      std::array<std::byte, 16> d;
      d.fill(std::byte{0xEE});
      h.after_write = [&](const traced& t) {
        if (t.offset != reg::request_operation) return;
        for (std::size_t i = 0; i < 16; ++i) h.window[reg::data + i] = std::byte{0x5A};
        h.answer(2, r.status, r.count, 1);
      };
      if (r.write) (void)h.write(5, pattern(16, 1));
      else (void)h.read(5, d);
      h.run(10'000);
      BOOST_REQUIRE(h.done.size() == 1u);
      BOOST_TEST((h.done[0].error == r.expected));
      BOOST_TEST(h.done[0].bytes == (r.expected == no_error ? r.count : 0u));
      BOOST_TEST(h.count("R 50 5") == (r.data_read ? 1u : 0u));
      for (std::size_t i = 0; i < 16; ++i) {
        const bool copied = r.expected == no_error && i < r.count;
        BOOST_TEST(d[i] == (copied ? std::byte{0x5A} : std::byte{0xEE}));
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(a_foreign_or_newer_window_is_refused_at_the_probe) {
  for (const bool bad_magic : {true, false}) {
    BOOST_TEST_CONTEXT((bad_magic ? "magic" : "version")) {
      harness h;
      const std::uint32_t good_magic = h.u32(reg::magic);
      const std::uint32_t good_version = h.u32(reg::version);
      if (bad_magic) h.set_u32(reg::magic, 0x49435057);
      else h.set_u32(reg::version, 0x00030002);
      std::array<std::byte, 16> a{}, b{};
      (void)h.read(5, a);
      (void)h.read(5, b);
      (void)h.settle();
      BOOST_REQUIRE(h.done.size() == 2u);  // each request's probe fails it
      for (const auto& c : h.done) BOOST_TEST((c.error == (bad_magic ? errc::not_found : errc::revision_mismatch)));
      BOOST_TEST(h.script() == (script_t{"R 8 64", "done", "R 8 64", "done", "idle"}), boost::test_tools::per_element());
      // Nothing was written into a window that is not ours.
      BOOST_TEST(h.u32(reg::request_sequence) == 0u);
      // Once the window is right, the next request probes again and works.
      h.set_u32(reg::magic, good_magic);
      h.set_u32(reg::version, good_version);
      (void)h.read(5, a);
      h.run();
      BOOST_TEST((h.done.back().error == no_error));
    }
  }
}

BOOST_AUTO_TEST_CASE(watching_a_window_without_a_mailbox_probes_at_the_watch_interval) {
  vf_mailbox_config config;
  config.poll_interval_ns = 10;
  config.watch_interval_ns = 100;
  harness h(config);
  h.set_u32(reg::magic, 0);
  h.vf.watch_invalidations(true);
  BOOST_TEST((h.step().what == kind::read));
  const mailbox_action w = h.step();
  BOOST_TEST((w.what == kind::wait));  // not another probe at once
  BOOST_TEST(w.until == h.now + 100);
  BOOST_TEST((h.step().what == kind::wait));
  h.now = w.until;
  BOOST_TEST((h.step().what == kind::read));
  BOOST_TEST(h.count("R 8 64") == 2u);
  // A request is still tried (and refused) at once, then the watch backs off again.
  std::array<std::byte, 16> a{};
  (void)h.read(5, a);
  BOOST_TEST((h.step().what == kind::read));
  BOOST_TEST((h.step().what == kind::complete));
  BOOST_REQUIRE(h.done.size() == 1u);
  BOOST_TEST((h.done[0].error == errc::not_found));
  const mailbox_action again = h.step();
  BOOST_TEST((again.what == kind::wait));
  BOOST_TEST(again.until == h.now + 100);
}

BOOST_AUTO_TEST_CASE(invalidations_raised_before_any_wait_are_latched_and_acknowledged) {
  harness h;
  BOOST_TEST((h.store.invalidate(0, block_mask{(std::uint64_t{1} << 40) | 0b101}) == no_error));
  h.service();
  h.vf.watch_invalidations(true);
  BOOST_TEST((h.settle().what == kind::wait));
  BOOST_TEST(h.script() == (script_t{"R 8 64", "W 40 8", "wait"}), boost::test_tools::per_element());
  bytes ack(8);
  le::store_u64(ack.data(), (std::uint64_t{1} << 40) | 0b101);
  BOOST_TEST(h.trace[1].data == ack, boost::test_tools::per_element());
  BOOST_TEST(h.vf.pending_invalidations().bits() == ((std::uint64_t{1} << 40) | 0b101));
  BOOST_TEST(h.session.latched_invalidations().empty());  // the PF took the acknowledgement
  // More raised while watching: coalesced on the VF side until taken.
  BOOST_TEST((h.store.invalidate(0, block_mask{0b10}) == no_error));
  h.service();
  h.now += vf_mailbox_config{}.watch_interval_ns;
  (void)h.settle();
  BOOST_TEST(h.vf.take_invalidations().bits() == ((std::uint64_t{1} << 40) | 0b111));
  BOOST_TEST(h.vf.take_invalidations().empty());
  BOOST_TEST(h.session.latched_invalidations().empty());
}

BOOST_AUTO_TEST_CASE(invalidations_seen_during_a_read_are_acknowledged_after_it) {
  harness h;
  std::array<std::byte, 16> a{};
  (void)h.read(5, a);
  h.after_write = [&](const traced& t) {
    if (t.offset == reg::request_operation) BOOST_TEST((h.store.invalidate(0, block_mask{0b1000}) == no_error));
  };
  h.run();
  BOOST_TEST(h.script() == (script_t{"R 8 64", "W 18 16", "R 28 32", "R 50 16", "R 28 4", "done", "W 40 8", "idle"}),
             boost::test_tools::per_element());
  BOOST_TEST(h.vf.pending_invalidations().bits() == 0b1000u);
  BOOST_TEST((h.done[0].error == no_error));
}

BOOST_AUTO_TEST_CASE(acknowledgement_carries_exactly_the_new_bits_and_the_still_pending_ones) {
  harness h;
  // Hand-written: the latch holds bits 1, 2 and 63; the acknowledgement registers still hold bit 1
  // (taken earlier, not yet cleared by the PF).
  h.set_u32(reg::invalidate_mask_low, 0b110);
  h.set_u32(reg::invalidate_mask_high, 0x80000000u);
  h.set_u32(reg::invalidate_ack_low, 0b010);
  h.pf_answers = false;
  h.vf.watch_invalidations(true);
  (void)h.settle();
  BOOST_TEST(h.script() == (script_t{"R 8 64", "W 40 8", "wait"}), boost::test_tools::per_element());
  bytes ack(8);
  le::store_u64(ack.data(), (std::uint64_t{1} << 63) | 0b110);
  BOOST_TEST(h.trace[1].data == ack, boost::test_tools::per_element());
  BOOST_TEST(h.vf.pending_invalidations().bits() == ((std::uint64_t{1} << 63) | 0b100));  // bit 1 is not new
  // Nothing new on the next poll (all latched bits are in the acknowledgement registers): no write.
  h.now += vf_mailbox_config{}.watch_interval_ns;
  const std::size_t mark = h.trace.size();
  (void)h.settle();
  BOOST_TEST(h.script(mark) == (script_t{"R 28 32", "wait"}), boost::test_tools::per_element());
  // An odd generation hides the mask: nothing latched from it.
  h.set_u32(reg::generation, 1);
  h.set_u32(reg::invalidate_mask_low, 0b1110000);
  h.now += vf_mailbox_config{}.watch_interval_ns;
  (void)h.step();
  BOOST_TEST(h.vf.pending_invalidations().bits() == ((std::uint64_t{1} << 63) | 0b100));
}

BOOST_AUTO_TEST_CASE(transport_errors_fail_the_active_operation_and_reprobe) {
  harness h;
  std::array<std::byte, 16> a{}, b{};
  (void)h.read(5, a);
  (void)h.read(5, b);
  // The status read of the first request fails in the transport (the PF had answered it).
  h.after_write = [&](const traced& t) {
    if (t.offset == reg::request_operation && h.done.empty()) h.fail_next = errc::device_error;
  };
  h.run();
  BOOST_TEST(h.script() == (script_t{"R 8 64", "W 18 16", "R 28 32", "done", "R 8 64", "W 18 16", "R 28 32",
                                     "R 50 16", "R 28 4", "done", "idle"}),
             boost::test_tools::per_element());
  BOOST_REQUIRE(h.done.size() == 2u);
  BOOST_TEST(h.done[0].transport_failure);
  BOOST_TEST(!h.done[1].transport_failure);
  BOOST_TEST(a == (std::array<std::byte, 16>{}));
  BOOST_TEST((h.done[1].error == no_error));
  BOOST_TEST(copy_of(b) == pattern(16, 0x10), boost::test_tools::per_element());
  // The fresh probe took the sequence from the window: the second request is number 2.
  BOOST_TEST(h.trace[5].data == u32s({1, 5, 16, 2}), boost::test_tools::per_element());
  BOOST_TEST(!h.vf.has_orphan());
}

BOOST_AUTO_TEST_CASE(a_failed_probe_fails_the_oldest_request_and_a_watch_backs_off) {
  vf_mailbox_config config;
  config.poll_interval_ns = 100;
  harness h(config);
  std::array<std::byte, 16> a{}, b{};
  const op_handle first = h.read(5, a);
  (void)h.read(5, b);
  h.fail_next = errc::device_error;
  h.run();
  BOOST_REQUIRE(h.done.size() == 2u);
  BOOST_TEST(h.done[0].handle == first);
  BOOST_TEST(h.done[0].transport_failure);
  BOOST_TEST((h.done[1].error == no_error));
  BOOST_TEST(h.count("R 8 64") == 2u);
  // Only watching: a failed probe is retried at the watch interval.
  config.watch_interval_ns = 100;
  harness w(config);
  w.vf.watch_invalidations(true);
  w.fail_next = errc::device_error;
  BOOST_TEST((w.step().what == kind::read));
  const mailbox_action wait = w.step();
  BOOST_TEST((wait.what == kind::wait));
  BOOST_TEST(wait.until == w.now + 100);
  w.now = wait.until;
  BOOST_TEST((w.step().what == kind::read));
  BOOST_TEST(w.done.empty());
}

BOOST_AUTO_TEST_CASE(a_transport_error_at_every_access_of_a_read) {
  // Fail access number n of a read (probe, request, status, data, generation) and check the outcome:
  // that read fails with the error (or, for the probe, the oldest request does), nothing is mixed,
  // and the following read succeeds after a fresh probe.
  for (std::size_t n = 0; n < 5; ++n) {
    BOOST_TEST_CONTEXT("access " << n) {
      harness h;
      std::array<std::byte, 16> a;
      a.fill(std::byte{0xEE});
      (void)h.read(5, a);
      std::size_t accesses = 0;
      for (int i = 0; i < 100 && h.done.empty(); ++i) {
        const mailbox_action x = h.vf.step(h.now);
        if (x.what == kind::read || x.what == kind::write) {
          if (accesses++ == n) {
            h.vf.on_transport_error(h.now);
            continue;
          }
          if (x.what == kind::write) {
            for (std::size_t j = 0; j < x.bytes.size(); ++j) h.window[x.offset + j] = x.bytes[j];
            h.vf.on_written(h.now);
            h.service();
          } else {
            const bytes got(h.window.begin() + x.offset, h.window.begin() + static_cast<std::ptrdiff_t>(x.offset + x.length));
            h.vf.on_read(got, h.now);
          }
        } else if (x.what == kind::complete) {
          h.done.push_back(x.done);
        }
      }
      BOOST_REQUIRE(h.done.size() == 1u);
      // Marked as the transport's failure: the binding reports the transport's own error code.
      BOOST_TEST(h.done[0].transport_failure);
      for (std::byte x : a) BOOST_TEST(x == std::byte{0xEE});
      const std::size_t mark = h.trace.size();
      std::array<std::byte, 16> b{};
      (void)h.read(5, b);
      h.run();
      BOOST_TEST(h.script(mark).front() == "R 8 64");
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
  (void)h.step();  // probe
  (void)h.step();  // request
  const mailbox_action x = h.vf.step(h.now);
  BOOST_REQUIRE((x.what == kind::read));
  const bytes got(x.length - 1);
  h.vf.on_read(got, h.now);
  BOOST_TEST((h.step().what == kind::complete));
  BOOST_TEST((h.done[0].error == errc::malformed_message));
  BOOST_TEST((h.step().what == kind::idle));
}

BOOST_AUTO_TEST_SUITE_END()
