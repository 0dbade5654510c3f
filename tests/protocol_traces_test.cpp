// docs/protocol.md's register traces, replayed: each "Trace:" table of the specification is the exact
// sequence of config accesses vpci's VF engine and PF session make for that scenario, dword by dword,
// with the values. A change to either engine or to the document that makes them disagree fails here (and
// prints the trace the engines produce, as a table).
#include <boost/test/unit_test.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <fstream>
#include <functional>
#include <iomanip>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <vpci/block/endian.hpp>
#include <vpci/engine/pf_blocks.hpp>
#include <vpci/engine/pf_mailbox.hpp>
#include <vpci/engine/vf_mailbox.hpp>
#include <vpci/wire/mailbox.hpp>

BOOST_AUTO_TEST_SUITE(protocol_traces_test)

using namespace vpci;
using namespace vpci::engine;
namespace reg = vpci::mailbox::reg;

namespace {

struct row {
  std::string side;  // VF or PF
  char access;       // R or W
  unsigned offset;
  std::uint32_t value;
  friend bool operator==(const row&, const row&) = default;
};

std::string hex(std::uint32_t v, int width) {
  std::ostringstream out;
  out << "0x" << std::uppercase << std::hex << std::setw(width) << std::setfill('0') << v;
  return out.str();
}
std::string format(const std::vector<row>& rows) {
  std::ostringstream out;
  out << "| # | by | access | offset | value |\n|--:|---|---|---|---|\n";
  for (std::size_t i = 0; i < rows.size(); ++i)
    out << "| " << i + 1 << " | " << rows[i].side << " | " << rows[i].access << " | " << hex(rows[i].offset, 2) << " | "
        << hex(rows[i].value, 8) << " |\n";
  return out.str();
}

// The traces in the document: "#### Trace: <name>" followed by a table of | # | by | access | offset | value |.
std::map<std::string, std::vector<row>> read_document_traces() {
  std::ifstream in(VPCI_SOURCE_DIR "/docs/protocol.md");
  BOOST_REQUIRE(in.good());
  std::map<std::string, std::vector<row>> traces;
  std::string line;
  std::string current;
  while (std::getline(in, line)) {
    const std::string heading = "#### Trace: ";
    if (line.rfind(heading, 0) == 0) {
      current = line.substr(heading.size());
      traces[current];
      continue;
    }
    if (line.rfind("#", 0) == 0) current.clear();
    if (current.empty() || line.rfind("| ", 0) != 0) continue;
    std::vector<std::string> cells;
    std::stringstream cells_in(line.substr(1));
    std::string cell;
    while (std::getline(cells_in, cell, '|')) {
      const auto first = cell.find_first_not_of(' ');
      const auto last = cell.find_last_not_of(' ');
      cells.push_back(first == std::string::npos ? std::string{} : cell.substr(first, last - first + 1));
    }
    if (cells.size() < 5 || cells[0] == "#" || cells[0].empty() || !std::isdigit(static_cast<unsigned char>(cells[0][0])))
      continue;
    traces[current].push_back(row{cells[1], cells[2].empty() ? '?' : cells[2][0],
                                  static_cast<unsigned>(std::stoul(cells[3], nullptr, 16)),
                                  static_cast<std::uint32_t>(std::stoul(cells[4], nullptr, 16))});
  }
  return traces;
}

// A VF engine and a PF session over one window, every dword access recorded while `recording`.
struct bench {
  pf_blocks<2> store;
  pf_mailbox_session<2> pf{store, 0};
  vf_mailbox_engine<> vf;
  std::array<std::byte, mailbox::window_size> window{};
  std::vector<row> rows;
  bool recording = false;
  std::uint64_t now = 1'000'000;

  bench() {
    BOOST_REQUIRE((store.register_vf(0, 0x0101) == no_error));
    std::array<std::byte, 16> block5{};
    for (std::size_t i = 0; i < block5.size(); ++i) block5[i] = static_cast<std::byte>(0xA0 + i);
    BOOST_REQUIRE((store.define_block(0, block_id{5}, block5) == no_error));
    BOOST_REQUIRE((store.define_block(0, block_id{6}, std::array<std::byte, 4>{}) == no_error));
    // The window's headers as placement wrote them, then the PF initialises it.
    le::store_u32(window.data() + reg::ext_header, 0x00010023);
    le::store_u32(window.data() + reg::dvsec_header1,
                  0x1AF4u | (std::uint32_t{mailbox::dvsec_revision} << 16) | (std::uint32_t{mailbox::window_size} << 20));
    le::store_u32(window.data() + reg::dvsec_header2, mailbox::default_dvsec_id);
    pf_apply(pf.initialize(window, now));
  }

  void record(const char* side, char access, std::size_t offset, std::span<const std::byte> bytes) {
    if (!recording) return;
    for (std::size_t i = 0; i < bytes.size(); i += 4)
      rows.push_back(row{side, access, static_cast<unsigned>(offset + i), le::load_u32(bytes.data() + i)});
  }
  template <class List>
  void pf_apply(const List& writes) {
    for (const register_write& w : writes) {
      for (std::size_t i = 0; i < w.bytes.size(); ++i) window[w.offset + i] = w.bytes[i];
      record("PF", 'W', w.offset, w.bytes);
    }
  }
  // Runs the VF engine until it is idle or waits past `limit`; the PF services the window after each VF
  // write, as a device's write hook does.
  std::vector<op_completion> run_vf(std::uint64_t limit = ~std::uint64_t{0}) {
    std::vector<op_completion> done;
    for (int i = 0; i < 10000; ++i) {
      const mailbox_action a = vf.step(now);
      switch (a.what) {
        case mailbox_action::kind::write:
          for (std::size_t j = 0; j < a.bytes.size(); ++j) window[a.offset + j] = a.bytes[j];
          record("VF", 'W', a.offset, a.bytes);
          vf.on_written(now);
          pf_apply(pf.service(window, now));
          break;
        case mailbox_action::kind::read: {
          const auto bytes = std::span<const std::byte>(window).subspan(a.offset, a.length);
          record("VF", 'R', a.offset, bytes);
          vf.on_read(bytes, now);
          break;
        }
        case mailbox_action::kind::complete: done.push_back(a.done); break;
        case mailbox_action::kind::wait:
          if (a.until > limit) return done;
          now = a.until;
          break;
        default: return done;
      }
    }
    BOOST_FAIL("the VF never settled");
    return done;
  }
  // The VF probes the window and reads block 6 once: the state every trace starts from.
  void warm_up() {
    std::array<std::byte, 4> b{};
    BOOST_REQUIRE(vf.start_read(block_id{6}, b, ~std::uint64_t{0}).has_value());
    const auto done = run_vf();
    BOOST_REQUIRE(done.size() == 1u);
    BOOST_REQUIRE((done[0].error == no_error));
  }
};

std::map<std::string, std::function<std::vector<row>()>> scenarios() {
  return {
      {"a read of 16 bytes of block 5",
       [] {
         bench b;
         b.warm_up();
         b.recording = true;
         std::array<std::byte, 16> out{};
         BOOST_REQUIRE(b.vf.start_read(block_id{5}, out, ~std::uint64_t{0}).has_value());
         const auto done = b.run_vf();
         BOOST_REQUIRE(done.size() == 1u);
         BOOST_TEST((done[0].error == no_error));
         return b.rows;
       }},
      {"a write of 4 bytes to block 6",
       [] {
         bench b;
         b.warm_up();
         b.recording = true;
         const std::array<std::byte, 4> in{std::byte{0x11}, std::byte{0x22}, std::byte{0x33}, std::byte{0x44}};
         BOOST_REQUIRE(b.vf.start_write(block_id{6}, in, ~std::uint64_t{0}).has_value());
         const auto done = b.run_vf();
         BOOST_REQUIRE(done.size() == 1u);
         BOOST_TEST((done[0].error == no_error));
         return b.rows;
       }},
      {"a read of block 99, which the VF has no block for",
       [] {
         bench b;
         b.warm_up();
         b.recording = true;
         std::array<std::byte, 8> out{};
         BOOST_REQUIRE(b.vf.start_read(block_id{99}, out, ~std::uint64_t{0}).has_value());
         const auto done = b.run_vf();
         BOOST_REQUIRE(done.size() == 1u);
         BOOST_TEST((done[0].error == errc::invalid_argument));
         return b.rows;
       }},
      {"an invalidation of block 5 delivered to a watching VF",
       [] {
         bench b;
         b.warm_up();
         b.vf.watch_invalidations(true);
         (void)b.run_vf(b.now);
         b.recording = true;
         BOOST_REQUIRE((b.store.invalidate(0, block_mask{1u << 5}) == no_error));
         b.pf_apply(b.pf.service(b.window, b.now));  // the PF publishes it
         b.vf.wake();                                 // the watcher's next poll
         (void)b.run_vf(b.now);
         BOOST_TEST(b.vf.take_invalidations().bits() == (1u << 5));
         return b.rows;
       }},
      {"block 5 raised again while latched",
       [] {
         bench b;
         b.warm_up();
         b.vf.watch_invalidations(true);
         (void)b.run_vf(b.now);
         BOOST_REQUIRE((b.store.invalidate(0, block_mask{1u << 5}) == no_error));
         b.pf_apply(b.pf.service(b.window, b.now));
         b.recording = true;
         // The VF reads the latch; before its acknowledgement reaches the PF, the PF raises bit 5 again.
         b.vf.wake();
         for (int i = 0; i < 3; ++i) {  // the status, the acknowledgement registers, the mask
           const mailbox_action a = b.vf.step(b.now);
           BOOST_REQUIRE((a.what == mailbox_action::kind::read));
           const auto bytes = std::span<const std::byte>(b.window).subspan(a.offset, a.length);
           b.record("VF", 'R', a.offset, bytes);
           b.vf.on_read(bytes, b.now);
           if (a.offset == mailbox::mask_area) break;
         }
         BOOST_REQUIRE((b.store.invalidate(0, block_mask{1u << 5}) == no_error));
         b.pf_apply(b.pf.service(b.window, b.now));
         (void)b.run_vf(b.now);  // the acknowledgement; the bit stays latched through it
         BOOST_TEST(b.vf.take_invalidations().bits() == (1u << 5));
         b.vf.wake();  // the next poll sees it again and acknowledges it once more
         (void)b.run_vf(b.now);
         BOOST_TEST(b.vf.take_invalidations().bits() == (1u << 5));
         return b.rows;
       }},
      {"a mailbox reset",
       [] {
         vf_mailbox_config config;
         config.orphan_timeout_ns = 1'000;
         config.poll_interval_ns = 1'000;
         bench b;
         b.vf = vf_mailbox_engine<>(config);
         b.warm_up();
         // A request the PF never answers (its write hook is late), abandoned at its deadline: an orphan.
         std::array<std::byte, 16> out{};
         BOOST_REQUIRE(b.vf.start_read(block_id{5}, out, b.now + 500).has_value());
         for (int i = 0; i < 100; ++i) {
           const mailbox_action a = b.vf.step(b.now);
           if (a.what == mailbox_action::kind::write) {
             for (std::size_t j = 0; j < a.bytes.size(); ++j) b.window[a.offset + j] = a.bytes[j];
             b.vf.on_written(b.now);  // no service: the PF does not answer
           } else if (a.what == mailbox_action::kind::read) {
             b.vf.on_read(std::span<const std::byte>(b.window).subspan(a.offset, a.length), b.now);
           } else if (a.what == mailbox_action::kind::wait) {
             b.now = a.until;
           } else if (a.what == mailbox_action::kind::complete) {
             break;
           }
         }
         // The request register now holds an unanswered request; drop it so the reset is what the PF sees.
         b.recording = true;
         // Polls (doubling from the poll interval: at 1000 and 3000 ns), then the reset past the orphan timeout.
         (void)b.run_vf(b.now + 3'000);
         return b.rows;
       }},
      {"the PF restarts while a read is pending",
       [] {
         bench b;
         b.warm_up();
         std::array<std::byte, 16> out{};
         BOOST_REQUIRE(b.vf.start_read(block_id{5}, out, ~std::uint64_t{0}).has_value());
         // The VF writes its request; the PF restarts before it answers.
         for (int i = 0; i < 10; ++i) {
           const mailbox_action a = b.vf.step(b.now);
           if (a.what != mailbox_action::kind::write) break;
           for (std::size_t j = 0; j < a.bytes.size(); ++j) b.window[a.offset + j] = a.bytes[j];
           b.vf.on_written(b.now);
           if (a.offset == reg::request) break;
         }
         b.recording = true;
         pf_mailbox_session<2> restarted{b.store, 0};
         auto& writes = restarted.initialize(b.window, b.now);
         std::vector<register_write> kept;
         for (const register_write& w : writes)
           if (w.offset != reg::data) kept.push_back(w);  // the 32 zeroed data dwords are left out of the table
         for (const register_write& w : writes)
           for (std::size_t i = 0; i < w.bytes.size(); ++i) b.window[w.offset + i] = w.bytes[i];
         for (const register_write& w : kept) b.record("PF", 'W', w.offset, w.bytes);
         b.pf = restarted;
         const auto done = b.run_vf();
         BOOST_REQUIRE(done.size() == 1u);
         BOOST_TEST((done[0].error == errc::peer_restarted));
         // The VF's next request is served by the restarted PF.
         BOOST_REQUIRE(b.vf.start_read(block_id{5}, out, ~std::uint64_t{0}).has_value());
         const auto again = b.run_vf();
         BOOST_REQUIRE(again.size() == 1u);
         BOOST_TEST((again[0].error == no_error));
         return b.rows;
       }},
  };
}

}  // namespace

BOOST_AUTO_TEST_CASE(every_trace_in_the_specification_is_what_the_engines_do) {
  const auto document = read_document_traces();
  const auto all = scenarios();
  for (const auto& [name, scenario] : all) {
    BOOST_TEST_CONTEXT("Trace: " << name) {
      const std::vector<row> actual = scenario();
      const auto it = document.find(name);
      BOOST_TEST((it != document.end()), "docs/protocol.md has no trace \"" << name << "\"; the engines do:\n"
                                                                            << format(actual));
      if (it == document.end()) continue;
      const bool same = it->second == actual;
      BOOST_TEST(same, "the engines do:\n" << format(actual));
    }
  }
  // And the document has no trace the test does not replay.
  for (const auto& [name, rows] : document) BOOST_TEST(all.count(name) == 1u, "unreplayed trace: " << name);
}

BOOST_AUTO_TEST_SUITE_END()  // protocol_traces_test
