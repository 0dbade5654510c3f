// The PF side of the config-space mailbox, layout 2 (engine::pf_mailbox_session), against a scripted VF
// that writes register values by hand into a window array, and applies the session's register writes in
// order: the initial image, the exact bytes and order of every PF write, the write count per answer, every
// row of the status table, the sequence rules (adoption after (re)initialisation, replay, violation), the
// reset, invalidations, PF-owned registers (case 13), a request written in pieces, a PF restarting
// mid-request, block IDs at the edges, the heartbeat on given times and the VF's signal.
#include <boost/test/unit_test.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <ostream>
#include <span>
#include <vector>

#include <vpci/block/endian.hpp>
#include <vpci/engine/pf_mailbox.hpp>
#include <vpci/wire/mailbox.hpp>

#include "test_support.hpp"

BOOST_AUTO_TEST_SUITE(pf_mailbox_test)

using namespace vpci;
using namespace vpci::engine;
namespace reg = vpci::mailbox::reg;

namespace {

using window_type = std::array<std::byte, mailbox::window_size>;
using bytes = std::vector<std::byte>;

bytes pattern(std::size_t n, unsigned seed) {
  bytes out(n);
  for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<std::byte>(seed + i * 13);
  return out;
}
bytes copy_of(std::span<const std::byte> in) { return {in.begin(), in.end()}; }
bytes u32_bytes(std::uint32_t v) {
  bytes out(4);
  le::store_u32(out.data(), v);
  return out;
}
bytes zeros(std::size_t n) { return bytes(n); }
bytes slice(const bytes& in, std::size_t offset, std::size_t length = ~std::size_t{0}) {
  return copy_of(std::span(in).subspan(offset, length == ~std::size_t{0} ? in.size() - offset : length));
}
// `data` followed by zeros up to whole dwords: a read answer as the PF writes it.
bytes padded(bytes data) {
  data.resize((data.size() + 3) & ~std::size_t{3});
  return data;
}
bytes concat(std::initializer_list<bytes> parts) {
  bytes out;
  for (const bytes& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

struct recorded_write {
  std::uint16_t offset;
  bytes data;
  friend bool operator==(const recorded_write&, const recorded_write&) = default;
};
std::ostream& operator<<(std::ostream& out, const recorded_write& w) {
  out << "{0x" << std::hex << w.offset << ":";
  for (std::byte b : w.data) out << " " << static_cast<unsigned>(b);
  return out << "}" << std::dec;
}
using write_sequence = std::vector<recorded_write>;
recorded_write w32(std::uint16_t offset, std::uint32_t value) { return {offset, u32_bytes(value)}; }

constexpr std::uint8_t op_read = 1;
constexpr std::uint8_t op_write = 2;
constexpr std::uint32_t st(ntstatus s) { return static_cast<std::uint32_t>(s); }
constexpr std::uint32_t request_word(std::uint16_t sequence, std::uint32_t length, std::uint32_t op) {
  return std::uint32_t{sequence} | (length & 0xFF) << 16 | (op & 0xFF) << 24;
}
constexpr std::uint32_t status_word(std::uint16_t ack, std::uint8_t count, bool failed, bool invalidated,
                                    std::uint8_t heartbeat, std::uint8_t epoch) {
  return mailbox::encode_status({ack, count, failed, invalidated, heartbeat, epoch});
}

// Records the IDs the store hands a handler, and answers with the ID in the first 4 bytes.
class id_recorder final : public block_handler {
 public:
  std::vector<std::uint32_t> reads;
  std::vector<std::uint32_t> writes;
  ntstatus read_status{ntstatus::success};
  std::size_t read_bytes{4};
  ntstatus on_read(vf_index, block_id id, std::span<std::byte> out, std::size_t& bytes) override {
    reads.push_back(id.value());
    le::store_u32(out.data(), id.value());
    bytes = read_bytes;
    return read_status;
  }
  ntstatus on_write(vf_index, block_id id, std::span<const std::byte>) override {
    writes.push_back(id.value());
    return ntstatus::success;
  }
};

// VF 0's window, its session, and VF 1 in the same store. VF 0: block 5 (16 bytes, read-write),
// block 6 (8 bytes, read-only), block 7 (8 bytes, write-only), block 8 (128 bytes), block 9 (5 bytes).
// VF 1: block 20. The window starts all zero (freshly placed) and is initialised at time 0.
struct fixture {
  std::unique_ptr<pf_blocks<4>> owned = std::make_unique<pf_blocks<4>>();
  pf_blocks<4>& store = *owned;
  pf_mailbox_session<4> session;
  window_type window{};
  write_sequence last;  // the writes of the last session call, in order
  std::uint16_t sequence = 0;

  explicit fixture(pf_mailbox_config config = {}) : session(store, 0, config) {
    BOOST_REQUIRE((store.register_vf(0, 0x0101) == no_error));
    BOOST_REQUIRE((store.register_vf(1, 0x0102) == no_error));
    BOOST_REQUIRE((store.define_block(0, block_id{5}, pattern(16, 0x10)) == no_error));
    BOOST_REQUIRE((store.define_block(0, block_id{6}, pattern(8, 0x60), block_access::read_only) == no_error));
    BOOST_REQUIRE((store.define_block(0, block_id{7}, pattern(8, 0x70), block_access::write_only) == no_error));
    BOOST_REQUIRE((store.define_block(0, block_id{8}, pattern(128, 0x80)) == no_error));
    BOOST_REQUIRE((store.define_block(0, block_id{9}, pattern(5, 0x90)) == no_error));
    BOOST_REQUIRE((store.define_block(1, block_id{20}, pattern(8, 0xA0)) == no_error));
    apply(session.initialize(window, 0));
  }

  template <class List>
  void apply(const List& writes) {
    last.clear();
    for (const register_write& w : writes) {
      BOOST_REQUIRE(w.offset + w.bytes.size() <= window.size());
      for (std::size_t i = 0; i < w.bytes.size(); ++i) window[w.offset + i] = w.bytes[i];
      last.push_back({w.offset, copy_of(w.bytes)});
    }
  }
  void service() { apply(session.service(window)); }
  void service_at(std::uint64_t now) { apply(session.service(window, now)); }
  void tick(std::uint64_t now) { apply(session.tick(now)); }

  // The scripted VF's register writes.
  void vf_write(std::uint16_t offset, std::span<const std::byte> data) {
    for (std::size_t i = 0; i < data.size(); ++i) window[offset + i] = data[i];
  }
  void vf_write_u32(std::uint16_t offset, std::uint32_t value) { le::store_u32(window.data() + offset, value); }
  // The request registers as a VF writes them: the block ID, then the request dword (the doorbell).
  void request(std::uint32_t op, std::uint32_t id, std::uint32_t length, std::uint16_t seq) {
    vf_write_u32(reg::request_block, id);
    vf_write_u32(reg::request, request_word(seq, length, op));
  }
  // A request with the next sequence number, serviced.
  void next(std::uint32_t op, std::uint32_t id, std::uint32_t length) {
    request(op, id, length, ++sequence);
    service();
  }
  [[nodiscard]] std::uint32_t u32(std::uint16_t offset) const { return le::load_u32(window.data() + offset); }
  [[nodiscard]] std::uint64_t mask() const {
    return std::uint64_t{u32(reg::invalidate_mask_low)} | std::uint64_t{u32(reg::invalidate_mask_high)} << 32;
  }
  [[nodiscard]] mailbox::status_word status() const { return mailbox::decode_status(u32(reg::status)); }

  void expect_writes(const write_sequence& expected) const {
    BOOST_TEST(last == expected, boost::test_tools::per_element());
  }

  [[nodiscard]] std::vector<bytes> snapshot() const {
    std::vector<bytes> s;
    for (vf_index vf : {vf_index{0}, vf_index{1}})
      for (std::uint32_t id = 0; id < 64; ++id) s.push_back(copy_of(store.contents(vf, block_id{id})));
    return s;
  }
};

}  // namespace

// ---- initialisation -------------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(initialize_writes_the_documented_image_status_last) {
  auto store = std::make_unique<pf_blocks<2>>();
  BOOST_REQUIRE((store->register_vf(1, 0x0201) == no_error));
  pf_mailbox_session<2> session(*store, 1, {100, true});
  BOOST_TEST(session.vf() == 1u);
  BOOST_TEST(session.next_tick() == no_tick);  // nothing before initialisation
  window_type window;
  window.fill(std::byte{0xAA});  // whatever config space held: epoch 0xA, control SIGNAL set, bit 3 set
  const auto& writes = session.initialize(window, 5'000'000);
  write_sequence got;
  for (const register_write& w : writes) got.push_back({w.offset, copy_of(w.bytes)});
  const write_sequence expected{
      {0x0C, concat({u32_bytes(0x00070002), u32_bytes(0x00642080)})},  // identity: layout 2, caps 7; limits
      w32(0x14, mailbox::control_signal),                               // RESET and bit 3 cleared, SIGNAL kept
      {0x1C, zeros(4)},  // request (the window shows an epoch: request_block and data are the VF's)
      {0x24, zeros(12)},                                                // result, mask (empty latch)
      {0x30, zeros(8)},                                                 // acknowledgement registers
      w32(0x20, status_word(0, 0, false, false, 0, 0xB)),               // status last: the next epoch
  };
  BOOST_TEST(got == expected, boost::test_tools::per_element());
  BOOST_TEST((session.last_event() == mailbox_event::initialized));
  BOOST_TEST(session.signal_vf());  // the VF asked for signals: it is told of the new epoch
  BOOST_TEST(session.epoch() == 0xBu);
  BOOST_TEST(!session.synchronised());
  // A window that shows no epoch was never initialised: all of it is zeroed, the VF's registers too.
  pf_mailbox_session<2> fresh(*store, 1, {100, true});
  le::store_u32(window.data() + reg::status, 0);
  got.clear();
  for (const register_write& w : fresh.initialize(window, 0)) got.push_back({w.offset, copy_of(w.bytes)});
  BOOST_TEST(got.size() == 7u);
  BOOST_TEST((got.size() > 2 && got[2] == recorded_write{0x18, zeros(8)}));
  BOOST_TEST((got.size() > 5 && got[5] == recorded_write{0x38, zeros(128)}));
  BOOST_TEST(fresh.epoch() == 1u);
  BOOST_TEST(session.next_tick() == 105'000'000u);
  for (const register_write& w : writes)
    for (std::size_t i = 0; i < w.bytes.size(); ++i) window[w.offset + i] = w.bytes[i];
  // The DVSEC headers (0x00-0x0B) are the placement's: untouched.
  for (std::size_t i = 0; i < 12; ++i) BOOST_TEST(std::to_integer<unsigned>(window[i]) == 0xAAu);
  // A freshly initialised window has nothing to do.
  BOOST_TEST(session.service(window).empty());
  BOOST_TEST((session.last_event() == mailbox_event::none));
}

BOOST_AUTO_TEST_CASE(each_initialisation_picks_an_epoch_other_than_the_one_shown_and_its_own) {
  auto store = std::make_unique<pf_blocks<1>>();
  BOOST_REQUIRE((store->register_vf(0, 1) == no_error));
  pf_mailbox_session<1> session(*store, 0);
  window_type window{};
  // A window never initialised (zeros, or a span too short to hold one) gets epoch 1; epochs cycle 1..15.
  (void)session.initialize(std::span<const std::byte>{}, 0);
  BOOST_TEST(session.epoch() == 1u);
  // Each time the session's own epoch is skipped too: 0 shows after epoch 1 (own), so 2; then 1 shows
  // after 2 (own), so 3.
  const std::pair<std::uint8_t, std::uint8_t> next[] = {{0, 2}, {1, 3}, {7, 8}, {14, 15}, {15, 1}};
  for (const auto& [shown, expected] : next) {
    le::store_u32(window.data() + reg::status, status_word(0, 0, false, false, 0, shown));
    (void)session.initialize(window, 0);
    BOOST_TEST(session.epoch() == expected, "shown " << unsigned{shown});
  }
  // The window shows the epoch before the session's own (a VF wrote status on a transport that let it):
  // the next one would be the session's own, which the VF already knows, so it takes the one after.
  BOOST_TEST(session.epoch() == 1u);
  le::store_u32(window.data() + reg::status, status_word(0, 0, false, false, 0, 15));
  (void)session.initialize(window, 0);
  BOOST_TEST(session.epoch() == 2u);
  // A window without the heartbeat and the signal announces neither.
  BOOST_TEST(le::load_u32(session.initialize(window, 0)[0].bytes.data()) == 0x00010002u);
  BOOST_TEST(le::load_u32(session.initialize(window, 0)[0].bytes.data() + 4) == 0x00002080u);
  BOOST_TEST(!session.signal_vf());
}

// ---- answers: exact bytes, order and count --------------------------------------------------------------

// Which VF writes a binding told of each write must service: all but those wholly inside request_block or
// the data window (composing), of which a block register write names the block to anticipate.
BOOST_AUTO_TEST_CASE(the_effect_of_every_vf_write_on_the_window) {
  using session = pf_mailbox_session<4>;
  using effect = session::write_effect;
  struct row {
    std::size_t offset;
    std::size_t length;
    effect expected;
  };
  const row rows[] = {
      {reg::request_block, 4, effect::anticipate},
      {reg::request_block, 1, effect::anticipate},
      {reg::request_block + 2, 2, effect::anticipate},
      {reg::request_block + 3, 1, effect::anticipate},
      {reg::request_block, 8, effect::service},  // with the doorbell
      {reg::request_block + 2, 4, effect::service},
      {reg::request_block - 1, 2, effect::service},
      {reg::request, 4, effect::service},
      {reg::request + 3, 1, effect::service},
      {reg::control, 4, effect::service},
      {reg::control, 8, effect::service},  // control with the block register
      {reg::data, mailbox::data_window_size, effect::none},
      {reg::data, 4, effect::none},
      {reg::data + 124, 4, effect::none},
      {reg::data + 127, 1, effect::none},
      {reg::data - 4, 8, effect::service},  // an acknowledgement register with the data
      {reg::data + 124, 8, effect::service},  // past the window
      {reg::data + mailbox::data_window_size, 4, effect::service},
      {reg::invalidate_ack_low, 4, effect::service},
      {reg::invalidate_ack_high, 4, effect::service},
      {reg::status, 4, effect::service},
      {reg::identity, 4, effect::service},
      {0, mailbox::window_size, effect::service},
      {reg::data, std::size_t{0} - 1, effect::service},  // a length that would wrap
      {std::size_t{0} - 4, 4, effect::service},
  };
  for (const row& r : rows) {
    BOOST_TEST_CONTEXT("offset " << r.offset << ", length " << r.length) {
      BOOST_TEST((session::effect_of_write(r.offset, r.length) == r.expected));
    }
  }
  static_assert(session::effect_of_write(reg::data, 4) == effect::none);
}

// The same verdict for a write anywhere in the VF's config space (a write hook's offsets), the window at
// 0x100: a write that misses the window asks for nothing, one starting before it for a service.
BOOST_AUTO_TEST_CASE(the_effect_of_a_config_write_around_the_window) {
  using session = pf_mailbox_session<4>;
  using effect = session::write_effect;
  constexpr std::size_t window = 0x100;
  struct row {
    std::size_t offset;
    std::size_t length;
    effect expected;
  };
  const row rows[] = {
      {0x04, 2, effect::none},                                       // the command register
      {window - 4, 4, effect::none},                                 // just below the window
      {window + mailbox::window_size, 4, effect::none},              // just past it
      {0xFFC, 4, effect::none},                                      // the end of the extended space
      {window - 2, 4, effect::service},                              // into the DVSEC header from below
      {window - 4, 8, effect::service},
      {window, 4, effect::service},                                  // the DVSEC header itself
      {window + reg::request_block, 4, effect::anticipate},
      {window + reg::request, 4, effect::service},
      {window + reg::data, mailbox::data_window_size, effect::none},
      {window + reg::data + 124, 8, effect::service},                // past the window's end
  };
  for (const row& r : rows) {
    BOOST_TEST_CONTEXT("offset " << r.offset << ", length " << r.length) {
      BOOST_TEST((session::effect_of_config_write(window, r.offset, r.length) == r.expected));
    }
  }
  static_assert(session::effect_of_config_write(window, window + reg::data, 4) == effect::none);
}

BOOST_AUTO_TEST_CASE(a_read_answer_writes_the_data_then_status) {
  fixture f;
  f.vf_write(reg::data, pattern(128, 0xEE));  // stale bytes in the data window
  f.next(op_read, 5, 32);
  BOOST_TEST((f.session.last_event() == mailbox_event::served));
  // Two writes: the 16 data bytes (4 dwords), then status; result stays STATUS_SUCCESS, unwritten.
  f.expect_writes({{0x38, pattern(16, 0x10)}, w32(0x20, status_word(1, 16, false, false, 0, 1))});
  // Only the block's dwords are written: the rest of the data window is what the VF left there.
  BOOST_TEST(copy_of(std::span(f.window).subspan(reg::data + 16, 112)) == slice(pattern(128, 0xEE), 16),
             boost::test_tools::per_element());
  BOOST_TEST(f.session.last_sequence() == 1u);
  BOOST_TEST(f.session.synchronised());
  // The same block again: the answer's dwords are written again (a device's own registers cost it
  // nothing; a diff would cost firmware flash), then status.
  f.next(op_read, 5, 16);
  f.expect_writes({{0x38, pattern(16, 0x10)}, w32(0x20, status_word(2, 16, false, false, 0, 1))});
  // A 5-byte block: written as two whole dwords, the last padded with zeros.
  f.next(op_read, 9, 8);
  f.expect_writes({{0x38, padded(pattern(5, 0x90))}, w32(0x20, status_word(3, 5, false, false, 0, 1))});
  f.next(op_read, 8, 128);
  f.expect_writes({{0x38, pattern(128, 0x80)}, w32(0x20, status_word(4, 128, false, false, 0, 1))});
  BOOST_TEST(copy_of(std::span(f.window).subspan(reg::data)) == pattern(128, 0x80), boost::test_tools::per_element());
  BOOST_TEST(f.store.counters(0).reads == 4u);
  // Nothing new: no writes.
  f.service();
  BOOST_TEST(f.last.empty());
  BOOST_TEST((f.session.last_event() == mailbox_event::none));
}

BOOST_AUTO_TEST_CASE(a_write_answer_is_one_status_write_and_result_is_written_when_it_changes) {
  fixture f;
  const bytes data = pattern(16, 0x33);
  f.vf_write(reg::data, data);
  f.next(op_write, 5, 16);
  BOOST_TEST((f.session.last_event() == mailbox_event::served));
  f.expect_writes({w32(0x20, status_word(1, 16, false, false, 0, 1))});
  BOOST_TEST(copy_of(f.store.contents(0, block_id{5})) == data, boost::test_tools::per_element());
  // A failure: result, then status with FAILED and no count.
  f.next(op_write, 6, 8);
  f.expect_writes({w32(0x24, st(ntstatus::access_denied)), w32(0x20, status_word(2, 0, true, false, 0, 1))});
  // The same failure again: result is already right, one write.
  f.next(op_write, 6, 8);
  f.expect_writes({w32(0x20, status_word(3, 0, true, false, 0, 1))});
  // Success after a failure: result back to STATUS_SUCCESS, then status.
  f.vf_write(reg::data, pattern(8, 0x44));
  f.next(op_write, 7, 8);
  f.expect_writes({w32(0x24, 0), w32(0x20, status_word(4, 8, false, false, 0, 1))});
  BOOST_TEST(copy_of(f.store.contents(0, block_id{7})) == pattern(8, 0x44), boost::test_tools::per_element());
  // A failed read after a successful one: result and status, no data.
  f.next(op_read, 7, 8);
  f.expect_writes({w32(0x24, st(ntstatus::access_denied)), w32(0x20, status_word(5, 0, true, false, 0, 1))});
  BOOST_TEST(f.store.counters(0).writes == 2u);
}

// The status table of docs/protocol.md, row by row: what the VF asked, what status and result then hold.
BOOST_AUTO_TEST_CASE(every_row_of_the_status_table) {
  struct row {
    const char* condition;
    std::uint32_t op;
    std::uint32_t id;
    std::uint32_t length;
    ntstatus result;
    std::uint8_t count;
  };
  const row rows[] = {
      {"read, success (count = the block's size)", op_read, 5, 128, ntstatus::success, 16},
      {"write, success (count = Length)", op_write, 5, 16, ntstatus::success, 16},
      {"read Length 0", op_read, 5, 0, ntstatus::invalid_parameter, 0},
      {"read Length 129", op_read, 5, 129, ntstatus::invalid_parameter, 0},
      {"read Length 255", op_read, 5, 255, ntstatus::invalid_parameter, 0},
      {"write Length 0", op_write, 5, 0, ntstatus::invalid_parameter, 0},
      {"write Length 129", op_write, 5, 129, ntstatus::invalid_parameter, 0},
      {"write Length other than the block's size", op_write, 5, 15, ntstatus::invalid_parameter, 0},
      {"read Length below the block's size", op_read, 5, 15, ntstatus::buffer_too_small, 0},
      {"read of a block only another VF defines", op_read, 20, 8, ntstatus::access_denied, 0},
      {"write of a block only another VF defines", op_write, 20, 8, ntstatus::access_denied, 0},
      {"read of a block nobody defines", op_read, 40, 8, ntstatus::invalid_parameter, 0},
      {"write of a block nobody defines", op_write, 40, 8, ntstatus::invalid_parameter, 0},
      {"write of a read-only block", op_write, 6, 8, ntstatus::access_denied, 0},
      {"read of a write-only block", op_read, 7, 8, ntstatus::access_denied, 0},
      {"operation 0", 0, 5, 16, ntstatus::invalid_device_request, 0},
      {"operation 3", 3, 5, 16, ntstatus::invalid_device_request, 0},
      {"read with reserved bit 26", op_read | 0x4, 5, 16, ntstatus::invalid_device_request, 0},
      {"write with reserved bit 29", op_write | 0x20, 5, 16, ntstatus::invalid_device_request, 0},
      {"read with reserved bit 31", op_read | 0x80, 5, 16, ntstatus::invalid_device_request, 0},
  };
  const bytes garbage = pattern(128, 0xC3);
  for (const row& r : rows) {
    BOOST_TEST_CONTEXT(r.condition) {
      fixture f;
      f.vf_write(reg::data, r.op == op_write && r.result == ntstatus::success ? pattern(16, 0x31) : garbage);
      const auto before = f.snapshot();
      f.next(r.op, r.id, r.length);
      BOOST_TEST((f.session.last_event() == mailbox_event::served));
      const bool failed = r.result != ntstatus::success;
      BOOST_TEST(f.u32(reg::result) == st(r.result));
      BOOST_TEST(f.u32(reg::status) == status_word(1, r.count, failed, false, 0, 1));
      if (failed) {
        // Exactly result then status; the store and the data window unchanged (nothing leaked).
        f.expect_writes({w32(0x24, st(r.result)), w32(0x20, status_word(1, 0, true, false, 0, 1))});
        BOOST_TEST((f.snapshot() == before));
        BOOST_TEST(copy_of(std::span(f.window).subspan(reg::data)) == garbage, boost::test_tools::per_element());
      }
      // Failures are counted, never quarantined.
      BOOST_TEST((f.store.quarantined(0) == quarantine_reason::none));
      BOOST_TEST(f.store.counters(0).violations == 0u);
      // And the VF is still served.
      f.next(op_read, 6, 8);
      BOOST_TEST(f.u32(reg::status) == status_word(2, 8, false, false, 0, 1));
    }
  }
}

BOOST_AUTO_TEST_CASE(status_rows_of_the_handler_sequence_and_quarantine) {
  // The handler's own status passes through (STATUS_DEVICE_NOT_READY, STATUS_UNSUCCESSFUL...); a handler
  // that reads 0 bytes with success is STATUS_UNSUCCESSFUL.
  {
    fixture f;
    id_recorder handler;
    BOOST_REQUIRE((f.store.define_block(0, block_id{10}, pattern(8, 0), block_access::read_write, &handler) == no_error));
    handler.read_status = ntstatus::device_not_ready;
    f.next(op_read, 10, 8);
    BOOST_TEST(f.u32(reg::result) == st(ntstatus::device_not_ready));
    BOOST_TEST(f.u32(reg::status) == status_word(1, 0, true, false, 0, 1));
    handler.read_status = ntstatus::success;
    handler.read_bytes = 0;
    f.next(op_read, 10, 8);
    BOOST_TEST(f.u32(reg::result) == st(ntstatus::unsuccessful));
    BOOST_TEST(f.u32(reg::status) == status_word(2, 0, true, false, 0, 1));
  }
  // A sequence skipped or reversed: STATUS_INVALID_DEVICE_REQUEST with the VF's sequence acknowledged, and
  // quarantine; then every request is STATUS_ACCESS_DENIED, whatever it is, until a reset.
  fixture f;
  f.next(op_read, 5, 16);
  f.request(op_read, 5, 16, 3);  // skips 2
  const auto before = f.snapshot();
  f.service();
  BOOST_TEST((f.session.last_event() == mailbox_event::violation));
  f.expect_writes({w32(0x24, st(ntstatus::invalid_device_request)), w32(0x20, status_word(3, 0, true, false, 0, 1))});
  BOOST_TEST((f.store.quarantined(0) == quarantine_reason::protocol_violation));
  BOOST_TEST(f.store.counters(0).violations == 1u);
  BOOST_TEST(f.session.last_sequence() == 3u);
  f.sequence = 3;
  const bytes garbage = pattern(128, 0x5A);
  f.vf_write(reg::data, garbage);
  for (const std::uint32_t op : {std::uint32_t{op_read}, std::uint32_t{op_write}, std::uint32_t{0}, std::uint32_t{op_read | 0x3C}}) {
    f.next(op, 5, 16);
    BOOST_TEST((f.session.last_event() == mailbox_event::served));
    BOOST_TEST(f.u32(reg::result) == st(ntstatus::access_denied));
    BOOST_TEST(f.u32(reg::status) == status_word(f.sequence, 0, true, false, 0, 1));
  }
  BOOST_TEST((f.snapshot() == before));
  BOOST_TEST(copy_of(std::span(f.window).subspan(reg::data)) == garbage, boost::test_tools::per_element());
}

// ---- sequences ----------------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(a_replayed_sequence_is_a_no_op) {
  fixture f;
  const bytes first = pattern(16, 0x01);
  f.vf_write(reg::data, first);
  f.next(op_write, 5, 16);
  const window_type answered = f.window;
  // The VF rings again with the same number (a replayed doorbell), even with other contents.
  f.vf_write(reg::data, pattern(16, 0x02));
  f.request(op_write, 5, 16, 1);
  const auto before = f.snapshot();
  f.service();
  BOOST_TEST(f.last.empty());
  BOOST_TEST((f.session.last_event() == mailbox_event::none));
  BOOST_TEST((f.snapshot() == before));
  BOOST_TEST(copy_of(std::span(f.window).subspan(reg::status, 16)) == copy_of(std::span(answered).subspan(reg::status, 16)),
             boost::test_tools::per_element());
  f.request(op_read, 20, 8, 1);  // a replay naming another VF's block changes nothing either
  f.service();
  BOOST_TEST(f.last.empty());
  BOOST_TEST((f.store.quarantined(0) == quarantine_reason::none));
  BOOST_TEST(f.session.last_sequence() == 1u);
}

BOOST_AUTO_TEST_CASE(the_first_non_zero_sequence_after_initialisation_is_adopted_then_they_run_on_and_wrap) {
  fixture f;
  // A live window re-initialised (a PF restart: the request registers kept) is unsynchronised: it adopts
  // whatever non-zero sequence the VF continues with.
  f.apply(f.session.initialize(f.window, 0));
  BOOST_REQUIRE(!f.session.synchronised());
  f.request(op_read, 5, 16, 0x1234);
  f.service();
  BOOST_TEST((f.session.last_event() == mailbox_event::served));
  BOOST_TEST(f.status().ack == 0x1234u);
  BOOST_TEST(f.session.synchronised());
  f.request(op_read, 6, 8, 0x1235);
  f.service();
  BOOST_TEST(f.status().ack == 0x1235u);
  BOOST_TEST(f.status().count == 8u);
  // 16-bit sequences wrap: after 0xFFFF comes 1 (0 is never a request).
  fixture w;
  w.apply(w.session.initialize(w.window, 0));
  w.request(op_read, 5, 16, 0xFFFF);
  w.service();
  BOOST_TEST(w.status().ack == 0xFFFFu);
  w.request(op_read, 6, 8, 1);
  w.service();
  BOOST_TEST((w.session.last_event() == mailbox_event::served));
  BOOST_TEST(w.status().ack == 1u);
  BOOST_TEST(w.status().count == 8u);
  BOOST_TEST((w.store.quarantined(0) == quarantine_reason::none));
  // Sequence 0 before any request is no request at all.
  fixture z;
  z.apply(z.session.initialize(z.window, 0));
  z.request(op_read, 5, 16, 0);
  z.service();
  BOOST_TEST(z.last.empty());
  BOOST_TEST(!z.session.synchronised());
}

BOOST_AUTO_TEST_CASE(a_sequence_neither_replayed_nor_next_is_a_violation) {
  for (const std::uint16_t bad : {std::uint16_t{7}, std::uint16_t{4}, std::uint16_t{0xFFFF}, std::uint16_t{0x0106}}) {
    BOOST_TEST_CONTEXT("sequence " << bad) {
      fixture f;
      for (int i = 0; i < 5; ++i) f.next(op_read, 5, 16);
      f.request(op_read, 5, 16, bad);
      f.service();
      BOOST_TEST((f.session.last_event() == mailbox_event::violation));
      BOOST_TEST(f.u32(reg::result) == st(ntstatus::invalid_device_request));
      BOOST_TEST(f.u32(reg::status) == status_word(bad, 0, true, false, 0, 1));
      BOOST_TEST((f.store.quarantined(0) == quarantine_reason::protocol_violation));
    }
  }
}

// Found by the pf_mailbox_session fuzz target: the engine quarantined a synchronised VF whose request
// register read sequence 0, where docs/protocol.md 4.2 (and a PF written from it in C) says sequence 0 is
// never a request. A VF that writes 0 there (the reset value; a byte-wise carry) changes nothing.
BOOST_AUTO_TEST_CASE(sequence_0_is_never_a_request_even_when_synchronised) {
  fixture f;
  for (int i = 0; i < 3; ++i) f.next(op_read, 5, 16);
  const std::uint32_t status_before = f.u32(reg::status);
  const std::uint32_t result_before = f.u32(reg::result);
  f.request(op_write, 5, 16, 0);
  f.service();
  BOOST_TEST(f.last.empty());
  BOOST_TEST(f.u32(reg::status) == status_before);
  BOOST_TEST(f.u32(reg::result) == result_before);
  BOOST_TEST((f.store.quarantined(0) == quarantine_reason::none));
  BOOST_TEST(f.session.last_sequence() == 3u);
  f.next(op_read, 5, 16);  // sequence 4 still runs
  BOOST_TEST((f.session.last_event() == mailbox_event::served));
  BOOST_TEST(f.status().ack == 4u);
}

// ---- reset ----------------------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(a_reset_lifts_quarantine_keeps_the_latch_and_clears_control_last) {
  fixture f;
  BOOST_TEST((f.store.invalidate(0, block_mask{0b110}) == no_error));
  f.service();
  f.next(op_read, 5, 16);
  f.request(op_read, 5, 16, 9);  // a violation: quarantined
  f.service();
  BOOST_REQUIRE((f.store.quarantined(0) == quarantine_reason::protocol_violation));
  // The VF acknowledges bit 1 and asks for a reset (with SIGNAL set) before the PF serviced the
  // acknowledgement; the PF raises bit 3 meanwhile.
  f.vf_write_u32(reg::invalidate_ack_low, 0b10);
  f.vf_write_u32(reg::control, mailbox::control_reset | mailbox::control_signal);
  BOOST_TEST((f.store.invalidate(0, block_mask{0b1000}) == no_error));
  f.service();
  BOOST_TEST((f.session.last_event() == mailbox_event::reset));
  f.expect_writes({
      w32(0x24, 0),                                     // result: STATUS_SUCCESS
      w32(0x28, 0b1100),                                // bit 1 taken; bit 2 and the new bit 3 stay latched
      w32(0x30, 0),                                     // the acknowledgement taken, after the mask
      w32(0x20, status_word(0, 0, false, true, 0, 1)),  // ack 0, same epoch
      {0x18, zeros(8)},                                 // the request registers: not run again, not a skip
      w32(0x14, mailbox::control_signal),               // RESET cleared last, SIGNAL kept
  });
  BOOST_TEST(f.session.signal_vf());
  BOOST_TEST((f.store.quarantined(0) == quarantine_reason::none));
  BOOST_TEST(!f.session.synchronised());
  // Servicing again finds nothing to do; the VF's next request (any non-zero sequence) is served.
  f.service();
  BOOST_TEST(f.last.empty());
  f.request(op_read, 6, 8, 1);
  f.service();
  f.expect_writes({{0x38, pattern(8, 0x60)}, w32(0x20, status_word(1, 8, false, true, 0, 1))});
  BOOST_TEST(f.store.counters(0).violations == 1u);
  // A reset with the request registers already zero: status, the request registers (one write, whatever
  // they hold), and control.
  f.vf_write_u32(reg::request_block, 0);
  f.vf_write_u32(reg::request, 0);
  f.vf_write_u32(reg::control, mailbox::control_reset);
  f.service();
  f.expect_writes({w32(0x20, status_word(0, 0, false, true, 0, 1)), {0x18, zeros(8)}, w32(0x14, 0)});
  BOOST_TEST(!f.session.signal_vf());
}

// The look of a pass nothing asked for (a poll, a heartbeat due): four registers decide whether the
// window needs a service. Each thing a VF or the PF can do that a service must take shows in them; the
// window as the last update left it, and a VF that only composes a request, do not.
BOOST_AUTO_TEST_CASE(a_look_wants_a_service_exactly_when_the_vf_or_the_store_asked_for_one) {
  fixture f(pf_mailbox_config{100, false});
  constexpr std::uint64_t ms = 1'000'000;
  const auto wants = [&f] {
    return f.session.wants_service(f.u32(reg::request), f.u32(reg::control), f.u32(reg::invalidate_ack_low),
                                   f.u32(reg::invalidate_ack_high));
  };
  // The window as initialize() left it (its writes performed): nothing to serve.
  BOOST_TEST(!wants());
  // Composing a request (block register, data) is not asking; ringing is.
  f.vf_write_u32(reg::request_block, 5);
  f.vf_write_u32(reg::data, 0xAABBCCDD);
  BOOST_TEST(!wants());
  f.vf_write_u32(reg::request, request_word(1, 16, op_read));
  BOOST_TEST(wants());
  f.service();
  BOOST_TEST(f.status().ack == 1u);
  BOOST_TEST(!wants());  // the request answered stays in `request`: a replay, nothing to serve
  // An acknowledgement in either half.
  f.vf_write_u32(reg::invalidate_ack_high, 0x1);
  BOOST_TEST(wants());
  f.service();
  BOOST_TEST(f.u32(reg::invalidate_ack_high) == 0u);
  BOOST_TEST(!wants());
  f.vf_write_u32(reg::invalidate_ack_low, 0x4);
  BOOST_TEST(wants());
  f.service();
  BOOST_TEST(!wants());
  // An invalidation waiting in the store.
  BOOST_TEST((f.store.invalidate(0, block_mask{0b100}) == no_error));
  BOOST_TEST(wants());
  f.service();
  BOOST_TEST(f.mask() == 0b100u);
  BOOST_TEST(!wants());
  // control: SIGNAL set or cleared, RESET asked.
  f.vf_write_u32(reg::control, mailbox::control_signal);
  BOOST_TEST(wants());
  f.service();
  BOOST_TEST(!wants());
  f.vf_write_u32(reg::control, mailbox::control_signal | mailbox::control_reset);
  BOOST_TEST(wants());
  f.service();
  BOOST_TEST((f.session.last_event() == mailbox_event::reset));
  BOOST_TEST(!wants());  // as the reset wrote them: request 0, control SIGNAL only
  // A request rung after a reset (any sequence: adopted) is asking. The same sequence again with other
  // bits, sequence 0, or undefined control bits are not: a service would do nothing with them.
  f.vf_write_u32(reg::request, request_word(7, 8, op_read));
  BOOST_TEST(wants());
  f.service();
  BOOST_TEST(f.status().ack == 7u);
  BOOST_TEST(!wants());
  f.vf_write_u32(reg::request, request_word(7, 4, op_read));
  BOOST_TEST(!wants());
  f.service();
  BOOST_TEST(f.last.empty());
  f.vf_write_u32(reg::request, 0);
  BOOST_TEST(!wants());
  f.vf_write_u32(reg::control, mailbox::control_signal | 0x100);
  BOOST_TEST(!wants());
  f.service();
  BOOST_TEST(f.last.empty());
  // A sequence neither replayed nor next is asking too: the service judges it (a violation).
  f.vf_write_u32(reg::request, request_word(9, 8, op_read));
  BOOST_TEST(wants());
  f.service();
  BOOST_TEST((f.session.last_event() == mailbox_event::violation));
  BOOST_TEST(!wants());
  f.vf_write_u32(reg::control, mailbox::control_reset);  // lifts the quarantine; SIGNAL cleared
  BOOST_TEST(wants());
  f.service();
  BOOST_TEST(!wants());
  // A re-initialisation (an FLR): the window as it wrote it needs nothing; a VF's next request does.
  f.apply(f.session.initialize(f.window, 0, /*function_reset=*/true));
  BOOST_TEST(!wants());
  f.vf_write_u32(reg::request, request_word(1, 8, op_read));
  BOOST_TEST(wants());
  // A PF-owned register a VF wrote is not a reason to look further: the next service undoes it.
  f.service();
  const std::uint32_t result = f.u32(reg::result);
  f.vf_write_u32(reg::result, 0x12345678);
  BOOST_TEST(!wants());
  f.service();
  BOOST_TEST(f.u32(reg::result) == result);
  // With nothing to serve, a look reads status too once a beat is due, and a status as the PF wrote it
  // leaves the beat to tick(): one status write. One a VF wrote over calls for a service.
  BOOST_TEST(!f.session.look_reads_status(100 * ms - 1));
  BOOST_TEST(f.session.look_reads_status(100 * ms));
  BOOST_TEST(!f.session.status_changed(f.u32(reg::status)));
  BOOST_TEST(f.session.status_changed(f.u32(reg::status) ^ 0x04000000u));
  f.tick(100 * ms);
  f.expect_writes({w32(0x20, f.u32(reg::status))});
  BOOST_TEST(f.status().heartbeat == 1u);
  // A session released (detached) or never initialised wants a service, which does nothing.
  f.session.release();
  BOOST_TEST(wants());
  f.service();
  BOOST_TEST(f.last.empty());
}

// A block handler that releases the session serving it (its binding detached, the VF removed) takes the
// window from it: that service writes nothing, the request goes unanswered, whatever the handler answered
// (the window may already be initialised for another session, which the answer would overwrite).
BOOST_AUTO_TEST_CASE(a_session_released_by_a_block_handler_writes_nothing_of_that_service) {
  fixture f;
  struct releasing final : block_handler {
    pf_mailbox_session<4>* session = nullptr;
    ntstatus on_read(vf_index, block_id, std::span<std::byte> out, std::size_t& bytes) override {
      session->release();
      out[0] = std::byte{0xEE};
      bytes = 1;
      return ntstatus::success;
    }
    ntstatus on_write(vf_index, block_id, std::span<const std::byte>) override { return ntstatus::success; }
  } handler;
  handler.session = &f.session;
  BOOST_REQUIRE((f.store.define_block(0, block_id{10}, pattern(8, 0), block_access::read_write, &handler) == no_error));
  f.request(1, 10, 8, ++f.sequence);
  const window_type rung = f.window;
  f.service();
  BOOST_TEST(f.last.empty());
  BOOST_TEST((f.window == rung));
  BOOST_TEST((f.session.last_event() == mailbox_event::none));
  BOOST_TEST(!f.session.signal_vf());
  BOOST_TEST(!f.session.initialized());
}

// A VF's mailbox reset lifted its quarantine through pf_blocks::reset_vf, which also zeroed the store's
// in-flight count: the answers the Hyper-V binding admitted and has not handed yet. A VF writing RESET
// then had more requests admitted on its stream than the cap allows. The count is the admitting binding's
// alone (it retires each answer as it hands it, or all of them when serving stops).
BOOST_AUTO_TEST_CASE(a_mailbox_reset_lifts_quarantine_but_keeps_the_other_bindings_in_flight_count) {
  fixture f;
  const std::uint32_t cap = f.store.limits().max_in_flight;
  for (std::uint32_t i = 0; i < cap; ++i) BOOST_REQUIRE((f.store.admit(0) == ntstatus::success));
  BOOST_REQUIRE((f.store.admit(0) == ntstatus::device_not_ready));
  f.next(op_read, 5, 16);
  f.request(op_read, 5, 16, 9);  // a violation: quarantined
  f.service();
  BOOST_REQUIRE((f.store.quarantined(0) == quarantine_reason::protocol_violation));
  f.vf_write_u32(reg::control, mailbox::control_reset);
  f.service();
  BOOST_TEST((f.session.last_event() == mailbox_event::reset));
  BOOST_TEST((f.store.quarantined(0) == quarantine_reason::none));
  BOOST_TEST(f.store.in_flight(0) == cap);
  BOOST_TEST((f.store.admit(0) == ntstatus::device_not_ready));  // still at the cap
  BOOST_TEST(f.store.in_flight(0) == cap);
  f.store.retire(0);  // an answer handed: room for one more
  BOOST_TEST((f.store.admit(0) == ntstatus::success));
  BOOST_TEST(f.store.in_flight(0) == cap);
}

// A re-initialisation that found the VF's RESET pending cleared control bit 0 (5.1) without lifting the
// quarantine: the VF, whose wait for the reset ends when the bit clears, went on with its next request and
// was refused STATUS_ACCESS_DENIED for good. A hosted PF re-attaching with the same store does this while a
// reset is pending. Clearing the bit completes the reset, so the initialisation performs it.
BOOST_AUTO_TEST_CASE(a_reinitialisation_that_clears_a_pending_reset_lifts_the_quarantine) {
  fixture f;
  f.next(op_read, 5, 16);
  f.request(op_read, 5, 16, 9);  // a violation: quarantined
  f.service();
  BOOST_REQUIRE((f.store.quarantined(0) == quarantine_reason::protocol_violation));
  f.vf_write_u32(reg::control, mailbox::control_reset | mailbox::control_signal);
  f.session.release();  // a detach before the PF serviced the reset; the same store re-attaches
  f.apply(f.session.initialize(f.window, 0));
  BOOST_TEST((f.session.last_event() == mailbox_event::initialized));
  BOOST_TEST(f.u32(reg::control) == mailbox::control_signal);  // RESET cleared: the VF's wait ends
  BOOST_TEST((f.store.quarantined(0) == quarantine_reason::none));
  BOOST_TEST(f.store.counters(0).violations == 1u);
  // The VF continues with its own next sequence: adopted and served, not denied.
  f.request(op_read, 6, 8, 10);
  f.service();
  BOOST_TEST((f.session.last_event() == mailbox_event::served));
  BOOST_TEST(f.u32(reg::status) == status_word(10, 8, false, false, 0, 2));
  f.expect_writes({{0x38, pattern(8, 0x60)}, w32(0x20, status_word(10, 8, false, false, 0, 2))});
}

// ---- invalidations --------------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(invalidations_are_or_coalesced_and_published_mask_then_status) {
  fixture f;
  BOOST_TEST((f.store.invalidate(0, block_mask{0b10}) == no_error));
  f.service();
  BOOST_TEST((f.session.last_event() == mailbox_event::invalidation));
  f.expect_writes({w32(0x28, 0b10), w32(0x20, status_word(0, 0, false, true, 0, 1))});
  // A new bit while others are latched: the mask half that changes, no status write (INVALIDATED stands).
  BOOST_TEST((f.store.invalidate(0, block_mask{std::uint64_t{1} << 63}) == no_error));
  f.service();
  f.expect_writes({w32(0x2C, 0x80000000u)});
  BOOST_TEST((f.store.invalidate(0, block_mask{0b10000}) == no_error));
  f.service();
  f.expect_writes({w32(0x28, 0b10010)});
  BOOST_TEST(f.mask() == ((std::uint64_t{1} << 63) | 0b10010u));
  BOOST_TEST(f.store.pending_invalidations(0).empty());  // moved into the latch
  // A request in between carries INVALIDATED in its status and leaves the latch alone.
  f.next(op_read, 6, 8);
  f.expect_writes({{0x38, pattern(8, 0x60)}, w32(0x20, status_word(1, 8, false, true, 0, 1))});

  // The VF acknowledges bits 1 and 63: the mask drops them, then the acknowledgement registers are cleared.
  f.vf_write_u32(reg::invalidate_ack_low, 0b10);
  f.vf_write_u32(reg::invalidate_ack_high, 0x80000000u);
  f.service();
  BOOST_TEST((f.session.last_event() == mailbox_event::invalidation));
  f.expect_writes({w32(0x28, 0b10000), w32(0x2C, 0), w32(0x30, 0), w32(0x34, 0)});
  // The last bit taken: the mask and INVALIDATED clear.
  f.vf_write_u32(reg::invalidate_ack_low, 0b10000);
  f.service();
  f.expect_writes({w32(0x28, 0), w32(0x30, 0), w32(0x20, status_word(1, 8, false, false, 0, 1))});
  // Acknowledging a bit that is not latched takes nothing else; its register is still cleared.
  f.vf_write_u32(reg::invalidate_ack_high, 1);
  f.service();
  f.expect_writes({w32(0x34, 0)});
  // invalidate_all reaches this VF too; VF 1 has no session here: still pending for it.
  f.store.invalidate_all(block_mask{0b1});
  f.service();
  BOOST_TEST(f.mask() == 0b1u);
  BOOST_TEST(f.store.pending_invalidations(1).bits() == 0b1u);
}

BOOST_AUTO_TEST_CASE(an_invalidation_raised_again_while_latched_stays_through_one_acknowledgement) {
  fixture f;
  BOOST_TEST((f.store.invalidate(0, block_mask{0b10}) == no_error));
  f.service();
  // The VF reads the latch (bit 1) and delivers it; its reader re-reads block 1 at once. The PF changes
  // block 1 again and raises bit 1 again: coalesced into the latched bit, nothing to write.
  BOOST_TEST((f.store.invalidate(0, block_mask{0b10}) == no_error));
  f.service();
  BOOST_TEST(f.last.empty());
  // The VF acknowledges what it read. The second raise came after that read: the bit stays latched
  // (delivered again), or the second change would never be announced.
  f.vf_write_u32(reg::invalidate_ack_low, 0b10);
  f.service();
  f.expect_writes({w32(0x30, 0)});
  BOOST_TEST(f.mask() == 0b10u);
  BOOST_TEST(f.status().invalidated);
  // Its second acknowledgement, with no raise in between, clears it.
  f.vf_write_u32(reg::invalidate_ack_low, 0b10);
  f.service();
  BOOST_TEST(f.mask() == 0u);
  BOOST_TEST(!f.status().invalidated);
  // A raise serviced together with the acknowledgement of the same bit is latched afresh.
  BOOST_TEST((f.store.invalidate(0, block_mask{0b100}) == no_error));
  f.service();
  BOOST_TEST((f.store.invalidate(0, block_mask{0b100}) == no_error));
  f.vf_write_u32(reg::invalidate_ack_low, 0b100);
  f.service();
  BOOST_TEST(f.mask() == 0b100u);
  f.vf_write_u32(reg::invalidate_ack_low, 0b100);
  f.service();
  BOOST_TEST(f.mask() == 0u);
}

// A VF reads the acknowledgement registers, and the mask only when they read cleared (docs/protocol.md
// 4.3). Were they cleared before the mask was rewritten, a VF reading in between would take a bit already
// taken from the stale mask, and its acknowledgement of it, landing after the PF raised that block anew,
// would take out the new raise unseen.
BOOST_AUTO_TEST_CASE(the_mask_is_rewritten_before_the_acknowledgements_are_cleared) {
  fixture f;
  BOOST_TEST((f.store.invalidate(0, block_mask{0b10}) == no_error));
  f.service();
  f.vf_write_u32(reg::invalidate_ack_low, 0b10);
  f.service();
  f.expect_writes({w32(0x28, 0), w32(0x30, 0), w32(0x20, status_word(0, 0, false, false, 0, 1))});
  // With a request answered in the same service: data, mask, acknowledgement, status.
  BOOST_TEST((f.store.invalidate(0, block_mask{std::uint64_t{0b100} | std::uint64_t{1} << 40}) == no_error));
  f.service();
  f.vf_write_u32(reg::invalidate_ack_low, 0b100);
  f.vf_write_u32(reg::invalidate_ack_high, 1u << 8);
  f.next(op_read, 6, 8);
  f.expect_writes({{0x38, pattern(8, 0x60)}, w32(0x28, 0), w32(0x2C, 0), w32(0x30, 0), w32(0x34, 0),
                   w32(0x20, status_word(1, 8, false, false, 0, 1))});
}

// ---- case 13: PF-owned registers ----------------------------------------------------------------------------

// PF-owned registers are read-only to the VF, as on a device, where a config write to read-only bits never
// reaches the device: no quarantine. On a transport that let such a write through, the session rewrites
// the register and counts the write as dropped.
BOOST_AUTO_TEST_CASE(case_13_a_pf_owned_register_written_by_the_vf_is_restored_without_quarantine) {
  std::vector<std::uint16_t> offsets;
  for (std::uint16_t o = 0x0C; o < 0x14; ++o) offsets.push_back(o);  // identity, limits
  for (std::uint16_t o = 0x20; o < 0x30; ++o) offsets.push_back(o);  // status, result, mask
  for (std::uint16_t offset : offsets) {
    BOOST_TEST_CONTEXT("offset 0x" << std::hex << offset) {
      fixture f;
      BOOST_TEST((f.store.invalidate(0, block_mask{0x0000000100000010}) == no_error));
      f.next(op_read, 7, 8);  // a failure: result non-zero
      const window_type good = f.window;
      const auto before = f.snapshot();
      const auto counters = f.store.counters(0);
      f.window[offset] ^= std::byte{0xFF};
      f.service();
      BOOST_TEST((f.session.last_event() == mailbox_event::restored));
      BOOST_TEST((f.store.quarantined(0) == quarantine_reason::none));
      BOOST_TEST(f.store.counters(0).violations == counters.violations);
      BOOST_TEST(f.store.counters(0).dropped == counters.dropped + 1);
      // Exactly the register that was changed, as the PF last wrote it.
      const auto r = static_cast<std::uint16_t>(offset & ~3u);
      f.expect_writes({w32(r, le::load_u32(good.data() + r))});
      BOOST_TEST(copy_of(f.window) == copy_of(good), boost::test_tools::per_element());
      BOOST_TEST((f.snapshot() == before));
      // Not quarantined: the next request is served; servicing again finds nothing to undo.
      f.next(op_read, 5, 16);
      BOOST_TEST(f.u32(reg::result) == st(ntstatus::success));
      BOOST_TEST(f.status().count == 16u);
      f.service();
      BOOST_TEST(f.last.empty());
      BOOST_TEST(f.store.counters(0).dropped == counters.dropped + 1);
    }
  }
  // A restore and an answer in the same service: identity first, then the answer's writes, each once.
  fixture f;
  f.vf_write_u32(reg::identity, 0);
  f.vf_write_u32(reg::status, 0xDEADBEEF);
  f.request(op_read, 6, 8, 1);
  f.service();
  BOOST_TEST((f.session.last_event() == mailbox_event::served));
  f.expect_writes({w32(0x0C, 0x00010002), {0x38, pattern(8, 0x60)}, w32(0x20, status_word(1, 8, false, false, 0, 1))});
}

BOOST_AUTO_TEST_CASE(the_same_value_written_over_a_pf_register_is_nothing_to_undo) {
  fixture f;
  f.next(op_read, 5, 16);
  f.vf_write_u32(reg::status, f.u32(reg::status));
  f.vf_write_u32(reg::limits, f.u32(reg::limits));
  f.service();
  BOOST_TEST(f.last.empty());
  BOOST_TEST(f.store.counters(0).dropped == 0u);
}

// ---- a request written in pieces --------------------------------------------------------------------------

// The request dword is the doorbell and the VF writes it with one dword access (every config path
// performs an aligned 4-byte write as one). The PF acts on the dword as it reads it: it cannot tell a
// dword written in pieces from a whole one. What each piece does, serviced after every piece (a device
// that serves on each config write):
BOOST_AUTO_TEST_CASE(a_request_area_written_in_1_and_2_byte_pieces) {
  auto piece = [](fixture& f, std::uint16_t offset, std::uint32_t word, std::size_t width) {
    const bytes b = u32_bytes(word);
    f.vf_write(offset, std::span(b).subspan(offset - (offset & ~3u), width));
    f.service();
  };
  // request_block in bytes, then the request dword whole: the pieces of the block ID are no request
  // (the request dword still holds the sequence answered: a replay).
  {
    fixture f;
    f.next(op_read, 5, 16);
    for (std::uint16_t at = reg::request_block; at < reg::request_block + 4; ++at) {
      piece(f, at, 8, 1);
      BOOST_TEST(f.last.empty());
    }
    f.vf_write_u32(reg::request, request_word(2, 128, op_read));
    f.service();
    BOOST_TEST(f.status().ack == 2u);
    BOOST_TEST(f.status().count == 128u);
  }
  // Upper half first (length and operation), the sequence last: the first piece leaves the sequence
  // answered (a replay, nothing runs), the second completes the request. The order a VF limited to 16-bit
  // accesses uses.
  {
    fixture f;
    f.next(op_read, 5, 16);
    f.vf_write(reg::data, pattern(8, 0x44));
    f.vf_write_u32(reg::request_block, 7);
    const std::uint32_t word = request_word(2, 8, op_write);
    piece(f, reg::request + 2, word, 2);
    BOOST_TEST(f.last.empty());
    piece(f, reg::request, word, 2);
    BOOST_TEST((f.session.last_event() == mailbox_event::served));
    f.expect_writes({w32(0x20, status_word(2, 8, false, false, 0, 1))});
    BOOST_TEST(copy_of(f.store.contents(0, block_id{7})) == pattern(8, 0x44), boost::test_tools::per_element());
  }
  // The sequence first: the PF sees the new sequence beside the old length and operation and runs that:
  // here the previous request's read (of the new block ID) instead of the intended write, which the VF
  // then takes for its answer. The later pieces are a replay. Confined to the VF that did it.
  {
    fixture f;
    f.next(op_read, 5, 16);
    f.vf_write(reg::data, pattern(8, 0x44));
    f.vf_write_u32(reg::request_block, 7);
    const std::uint32_t word = request_word(2, 8, op_write);
    piece(f, reg::request, word, 2);
    BOOST_TEST(f.u32(reg::result) == st(ntstatus::access_denied));  // a read of block 7 (write-only)
    BOOST_TEST(f.u32(reg::status) == status_word(2, 0, true, false, 0, 1));
    piece(f, reg::request + 2, word, 2);
    BOOST_TEST(f.last.empty());
    BOOST_TEST(copy_of(f.store.contents(0, block_id{7})) == pattern(8, 0x70), boost::test_tools::per_element());
    BOOST_TEST(f.store.counters(0).writes == 0u);
  }
  // Bytes in ascending order across a carry (0x00FF to 0x0100): the first byte makes sequence 0x0000,
  // which is never a request (docs/protocol.md 4.2): nothing runs and nothing is quarantined; the second
  // byte completes the next request, which runs.
  {
    fixture f;
    f.request(op_read, 5, 16, 0x00FF);
    f.service();
    const std::uint32_t word = request_word(0x0100, 16, op_read);
    piece(f, reg::request, word, 1);
    BOOST_TEST(f.last.empty());
    BOOST_TEST((f.store.quarantined(0) == quarantine_reason::none));
    piece(f, reg::request + 1, word, 1);
    BOOST_TEST((f.session.last_event() == mailbox_event::served));
    BOOST_TEST(f.status().ack == 0x0100u);
    BOOST_TEST(!f.status().failed);
  }
  // Bytes in descending order without a carry: nothing runs until the low byte, the doorbell, lands.
  {
    fixture f;
    f.next(op_read, 5, 16);
    f.vf_write_u32(reg::request_block, 6);
    const std::uint32_t word = request_word(2, 8, op_read);
    for (std::uint16_t at = reg::request + 3; at > reg::request; --at) {
      piece(f, at, word, 1);
      BOOST_TEST(f.last.empty());
    }
    piece(f, reg::request, word, 1);
    f.expect_writes({{0x38, pattern(8, 0x60)}, w32(0x20, status_word(2, 8, false, false, 0, 1))});
  }
}

// ---- a VF writing during the PF's update ---------------------------------------------------------------

// The PF decides on the copy it read; what the VF writes meanwhile is seen by the next service. The PF
// writes none of the VF's registers in an answer (only the acknowledgement registers it clears), so a
// request written during the update is not lost; an acknowledgement written between the PF's read and its
// clearing of the acknowledgement registers is lost, and its bit stays latched: delivered again, not lost.
BOOST_AUTO_TEST_CASE(a_vf_writing_during_the_pfs_update) {
  fixture f;
  BOOST_TEST((f.store.invalidate(0, block_mask{0b110}) == no_error));
  f.service();
  // The VF acknowledges bit 1 and asks for block 6; the PF reads the window...
  f.vf_write_u32(reg::invalidate_ack_low, 0b10);
  f.request(op_read, 6, 8, 1);
  const window_type seen = f.window;
  const auto& writes = f.session.service(seen);
  // ...and before its writes land, the VF acknowledges bit 2 too and writes its next request.
  f.vf_write_u32(reg::invalidate_ack_low, 0b110);
  f.request(op_read, 5, 16, 2);
  f.apply(writes);
  f.expect_writes({{0x38, pattern(8, 0x60)}, w32(0x28, 0b100), w32(0x30, 0), w32(0x20, status_word(1, 8, false, true, 0, 1))});
  BOOST_TEST(f.u32(reg::request) == request_word(2, 16, op_read));  // untouched by the PF
  BOOST_TEST(f.u32(reg::invalidate_ack_low) == 0u);                // the second acknowledgement was cleared
  BOOST_TEST(f.mask() == 0b100u);                                   // bit 2 stays latched: seen again
  f.service();
  BOOST_TEST((f.session.last_event() == mailbox_event::served));
  BOOST_TEST(f.u32(reg::status) == status_word(2, 16, false, true, 0, 1));
  BOOST_TEST(copy_of(std::span(f.window).subspan(reg::data, 16)) == pattern(16, 0x10), boost::test_tools::per_element());
}

// ---- the PF restarting, FLR ---------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(a_pf_restarting_mid_request_picks_a_new_epoch_and_adopts_the_vfs_next_sequence) {
  fixture f;
  for (int i = 0; i < 3; ++i) f.next(op_read, 5, 16);
  // The VF writes request 4; the PF process dies before it answers.
  f.request(op_read, 6, 8, 4);
  const std::uint32_t old_status = f.u32(reg::status);
  // The restarted PF: a new store with the same blocks, a new session on the same window.
  auto store = std::make_unique<pf_blocks<4>>();
  BOOST_REQUIRE((store->register_vf(0, 0x0101) == no_error));
  BOOST_REQUIRE((store->define_block(0, block_id{6}, pattern(8, 0x60), block_access::read_only) == no_error));
  pf_mailbox_session<4> restarted(*store, 0);
  f.apply(restarted.initialize(f.window, 0));
  BOOST_TEST(restarted.epoch() == 2u);
  BOOST_TEST(f.status().epoch == 2u);
  BOOST_TEST(f.u32(reg::status) != old_status);
  BOOST_TEST(f.u32(reg::request) == 0u);  // the unanswered request is gone: it is never run
  BOOST_TEST(f.last.back().offset == reg::status);
  // The VF saw the new epoch (its request 4 completes with peer_restarted) and goes on with 5: adopted,
  // no quarantine.
  f.request(op_read, 6, 8, 5);
  f.apply(restarted.service(f.window));
  BOOST_TEST((restarted.last_event() == mailbox_event::served));
  BOOST_TEST(f.u32(reg::status) == status_word(5, 8, false, false, 0, 2));
  BOOST_TEST((store->quarantined(0) == quarantine_reason::none));
  BOOST_TEST(store->counters(0).violations == 0u);
  // A VF that wrote its request between the old PF's death and the new PF's status (after the request
  // registers were zeroed) is adopted just the same.
  pf_mailbox_session<4> again(*store, 0);
  f.apply(again.initialize(f.window, 0));
  BOOST_TEST(again.epoch() == 3u);
  f.request(op_read, 6, 8, 6);
  f.apply(again.service(f.window));
  BOOST_TEST(f.u32(reg::status) == status_word(6, 8, false, false, 0, 3));
  BOOST_TEST((store->quarantined(0) == quarantine_reason::none));
}

// Found by the pf_mailbox_session fuzz target: a restarted PF (a new session on the window) published an
// empty latch, so invalidations its predecessor had latched and the VF had not yet taken were lost
// (docs/protocol.md 5.3: latched invalidations survive a PF restart and are published again).
BOOST_AUTO_TEST_CASE(a_restarted_pf_republishes_the_latch_its_predecessor_published) {
  fixture f;
  BOOST_TEST((f.store.invalidate(0, block_mask{0x8000000000000021ull}) == no_error));
  f.next(op_read, 5, 16);
  BOOST_TEST(f.mask() == 0x8000000000000021ull);
  // The PF process dies before the VF takes the invalidations; the restarted one has a new store.
  auto store = std::make_unique<pf_blocks<4>>();
  BOOST_REQUIRE((store->register_vf(0, 0x0101) == no_error));
  BOOST_TEST((store->invalidate(0, block_mask{0x2}) == no_error));  // raised since, in the new store
  pf_mailbox_session<4> restarted(*store, 0);
  f.apply(restarted.initialize(f.window, 0));
  BOOST_TEST(f.mask() == 0x8000000000000023ull);
  BOOST_TEST(restarted.latched_invalidations().bits() == 0x8000000000000023ull);
  BOOST_TEST(f.u32(reg::status) == status_word(0, 0, false, true, 0, 2));
  // The VF takes them; they leave the latch as usual.
  f.vf_write_u32(reg::invalidate_ack_low, 0x23);
  f.vf_write_u32(reg::invalidate_ack_high, 0x80000000);
  f.apply(restarted.service(f.window));
  BOOST_TEST(f.mask() == 0u);
  BOOST_TEST(f.u32(reg::status) == status_word(0, 0, false, false, 0, 2));
  // A window no PF initialised holds no latch to take over: epoch 0 (freshly placed), or whatever config
  // space held (not layout 2).
  window_type fresh{};
  le::store_u32(fresh.data() + reg::invalidate_mask_low, 0xFFFFFFFF);
  pf_mailbox_session<4> first(*store, 0);
  (void)first.initialize(fresh, 0);
  BOOST_TEST(first.latched_invalidations().bits() == 0u);
  window_type garbage;
  garbage.fill(std::byte{0xAA});
  pf_mailbox_session<4> second(*store, 0);
  (void)second.initialize(garbage, 0);
  BOOST_TEST(second.latched_invalidations().bits() == 0u);
}

// Also found by vpci-conformance (mailbox.invalidation_survives_restart): bits the VF acknowledged but the
// old PF died before clearing stay latched in the restarted PF, as after an FLR: the VF reads them again
// (a duplicate at worst); dropping them could lose a raise the old PF saw after the acknowledgement.
BOOST_AUTO_TEST_CASE(a_restarted_pf_keeps_bits_acknowledged_but_not_cleared) {
  fixture f;
  const std::uint64_t raised = (std::uint64_t{1} << 3) | (std::uint64_t{1} << 40) | 1u;
  BOOST_TEST((f.store.invalidate(0, block_mask{raised}) == no_error));
  f.service();
  BOOST_REQUIRE(f.mask() == raised);
  f.vf_write_u32(reg::invalidate_ack_low, 1u);  // the VF took bit 0; the old PF dies before it clears it
  auto store = std::make_unique<pf_blocks<4>>();
  BOOST_REQUIRE((store->register_vf(0, 0x0101) == no_error));
  pf_mailbox_session<4> restarted(*store, 0);
  f.apply(restarted.initialize(f.window, 0));
  BOOST_TEST(restarted.latched_invalidations().bits() == raised);
  BOOST_TEST(f.mask() == raised);
  BOOST_TEST(f.status().invalidated);
  BOOST_TEST(f.u32(reg::invalidate_ack_low) == 0u);
}

// Found by the interleaving explorer (tests/explore): the VF took bit 1 from the latch and was about to
// acknowledge it; the PF raised bit 1 again (noted as re-raised, so the acknowledgement of the first
// raise would not take it out) and then re-initialised the window. The re-initialisation forgot the
// re-raise, and the VF's acknowledgement, written after it (the VF learns of the new epoch only from its
// next status read), took the second raise out of the latch before the VF ever saw it.
BOOST_AUTO_TEST_CASE(explore_reinit_keeps_a_reraised_invalidation) {
  fixture f;
  BOOST_TEST((f.store.invalidate(0, block_mask{0b10}) == no_error));
  f.service();
  BOOST_TEST(f.mask() == 0b10u);  // the VF reads the latch here and delivers bit 1
  BOOST_TEST((f.store.invalidate(0, block_mask{0b10}) == no_error));  // raised again while latched
  f.service();
  f.apply(f.session.initialize(f.window, 0));
  BOOST_TEST(f.mask() == 0b10u);
  f.vf_write_u32(reg::invalidate_ack_low, 0b10);  // the acknowledgement of the first delivery, late
  f.service();
  BOOST_TEST(f.mask() == 0b10u);  // still latched: the second raise is delivered after the new epoch
  BOOST_TEST(f.status().invalidated);
  BOOST_TEST(f.u32(reg::invalidate_ack_low) == 0u);
  // Its own acknowledgement then takes it out.
  f.vf_write_u32(reg::invalidate_ack_low, 0b10);
  f.service();
  BOOST_TEST(f.mask() == 0u);
  BOOST_TEST(!f.status().invalidated);
}

// Found by the interleaving explorer (tests/explore): the PF re-initialised the window while the VF was
// writing a write request's data; the VF, which learns of a new epoch only from its next status read,
// went on with the rest of the data, kept the block register it had written, and rang. The new PF adopts
// the first sequence it sees, so it executed that request: with the data window it had zeroed under the
// VF's first dword, it stored bytes that are neither the old block nor the VF's write. A re-initialisation
// of a live window (one that shows an epoch) leaves what the VF composes (request_block and the data
// window) as the VF wrote it; only the doorbell (request) is zeroed.
BOOST_AUTO_TEST_CASE(explore_reinit_keeps_a_request_being_composed) {
  fixture f;
  const bytes written = pattern(16, 0xC0);
  f.vf_write(reg::data, slice(written, 0, 8));  // the first half of the data, then the PF re-initialises
  f.vf_write_u32(reg::request_block, 5);
  f.apply(f.session.initialize(f.window, 0));
  BOOST_TEST(f.session.epoch() == 2u);
  BOOST_TEST(f.u32(reg::request) == 0u);
  for (const recorded_write& w : f.last) {
    BOOST_TEST(w.offset != reg::request_block);
    BOOST_TEST((w.offset + w.data.size() <= reg::data || w.offset >= reg::data + mailbox::data_window_size));
  }
  // The VF (still on epoch 1) writes the rest and rings: the new PF adopts it and stores exactly the VF's bytes.
  f.vf_write(reg::data + 8, slice(written, 8, 8));
  f.vf_write_u32(reg::request, request_word(7, 16, op_write));
  f.service();
  BOOST_TEST((f.session.last_event() == mailbox_event::served));
  BOOST_TEST(f.status().ack == 7u);
  BOOST_TEST(!f.status().failed);
  BOOST_TEST(copy_of(f.store.contents(0, block_id{5})) == written, boost::test_tools::per_element());
}

// An FLR returns the function to its reset values whole, live window or not: after it, nothing one user of
// the VF wrote or read (its last block ID, its data, a read answer) is left in config space for the next
// user (a VF is reassigned to another guest after an FLR). A PF restart keeps them (the test above).
BOOST_AUTO_TEST_CASE(an_flr_leaves_nothing_of_the_previous_user_in_the_window) {
  fixture f;
  f.next(op_read, 5, 16);  // a read answer in the data window
  f.vf_write(reg::data + 16, pattern(8, 0xC0));
  f.vf_write_u32(reg::request_block, 6);
  BOOST_REQUIRE(f.u32(reg::request_block) == 6u);
  f.apply(f.session.initialize(f.window, 0, /*function_reset=*/true));
  BOOST_TEST(f.session.epoch() == 2u);
  BOOST_TEST(f.u32(reg::request_block) == 0u);
  BOOST_TEST(f.u32(reg::request) == 0u);
  BOOST_TEST(copy_of(std::span(f.window).subspan(reg::data)) == zeros(128), boost::test_tools::per_element());
  BOOST_TEST(f.u32(reg::status) == status_word(0, 0, false, false, 0, 2));
}

// An FLR under a VF driver at work: the driver wrote its data for block 6 and left the block register
// alone (it already held 6), the FLR zeroed both, then the driver rang. The PF adopted that sequence and
// ran the write on block 0 with zeroed data: a write the VF never made (found by a VF written from the
// spec against vpci's PF). After the zeroing the PF is synchronised at 0: only sequence 1 (what a driver
// that probed the new window rings) runs; any other is answered STATUS_DEVICE_NOT_READY, not run, not a
// violation, and the sequence after it runs.
BOOST_AUTO_TEST_CASE(a_request_composed_across_an_flr_is_not_run_on_the_zeroed_registers) {
  fixture f;
  BOOST_REQUIRE((f.store.define_block(0, block_id{0}, pattern(4, 0xB0)) == no_error));
  BOOST_REQUIRE((f.store.define_block(0, block_id{10}, pattern(4, 0xD0)) == no_error));
  f.next(op_read, 10, 4);  // the block register holds 10
  BOOST_REQUIRE(f.status().ack == 1u);
  f.vf_write(reg::data, pattern(4, 0xEE));  // a write of block 10 composed: data, no block register write
  f.apply(f.session.initialize(f.window, 0, /*function_reset=*/true));
  BOOST_TEST(f.session.synchronised());
  BOOST_TEST(f.session.last_sequence() == 0u);
  f.vf_write_u32(reg::request, request_word(2, 4, op_write));  // rung after the FLR
  f.service();
  BOOST_TEST((f.session.last_event() == mailbox_event::served));
  BOOST_TEST(f.status().ack == 2u);
  BOOST_TEST(f.status().failed);
  BOOST_TEST(f.status().count == 0u);
  BOOST_TEST(f.u32(reg::result) == 0xC00000A3u);  // STATUS_DEVICE_NOT_READY
  BOOST_TEST(copy_of(f.store.contents(0, block_id{0})) == pattern(4, 0xB0), boost::test_tools::per_element());
  BOOST_TEST(copy_of(f.store.contents(0, block_id{10})) == pattern(4, 0xD0), boost::test_tools::per_element());
  BOOST_TEST((f.store.quarantined(0) == quarantine_reason::none));
  BOOST_TEST(f.store.counters(0).violations == 0u);
  // The driver, told of the new epoch, probes and goes on from its sequence: served.
  f.request(op_write, 10, 4, 3);
  f.vf_write(reg::data, pattern(4, 0xEE));
  f.service();
  BOOST_TEST(f.status().ack == 3u);
  BOOST_TEST(!f.status().failed);
  BOOST_TEST(copy_of(f.store.contents(0, block_id{10})) == pattern(4, 0xEE), boost::test_tools::per_element());
  // A driver that probes a freshly reset window rings 1, which runs.
  f.apply(f.session.initialize(f.window, 0, /*function_reset=*/true));
  f.request(op_read, 0, 4, 1);
  f.service();
  BOOST_TEST(f.status().ack == 1u);
  BOOST_TEST(!f.status().failed);
  BOOST_TEST(f.status().count == 4u);
}

BOOST_AUTO_TEST_CASE(reinitialising_after_an_flr_keeps_and_republishes_the_latch) {
  fixture f;
  BOOST_TEST((f.store.invalidate(0, block_mask{0b1001}) == no_error));
  f.next(op_read, 5, 16);
  f.vf_write_u32(reg::control, mailbox::control_signal);
  f.vf_write_u32(reg::invalidate_ack_low, 0b1);  // taken, not yet processed
  BOOST_TEST((f.store.invalidate(0, block_mask{0b100}) == no_error));
  f.apply(f.session.initialize(f.window, 0));
  BOOST_TEST((f.session.last_event() == mailbox_event::initialized));
  BOOST_TEST(f.session.epoch() == 2u);
  // The whole latch (with the bit pending in the store) is published, INVALIDATED set; the acknowledgement
  // registers are zero, so the VF reads every latched bit again (a duplicate at worst, never a loss).
  BOOST_TEST(f.mask() == 0b1101u);
  BOOST_TEST(f.u32(reg::status) == status_word(0, 0, false, true, 0, 2));
  BOOST_TEST(f.u32(reg::invalidate_ack_low) == 0u);
  BOOST_TEST(f.u32(reg::control) == mailbox::control_signal);  // untouched: it held nothing to clear
  BOOST_TEST(f.session.signal_vf());
  // The data window is the VF's while it may compose a request (explore_reinit_keeps_a_request_being_composed):
  // it still holds the last answer (block 5's 16 bytes).
  BOOST_TEST(copy_of(std::span(f.window).subspan(reg::data, 16)) == pattern(16, 0x10), boost::test_tools::per_element());
  // Unsynchronised: the VF's next request, whatever its sequence, is adopted.
  f.request(op_read, 6, 8, 1);
  f.service();
  BOOST_TEST(f.u32(reg::status) == status_word(1, 8, false, true, 0, 2));
}

// Found by a differential run of the C firmware PF against this engine: a VF that wrote the mask
// registers past a transport's read-only bits (its process maps the shared object) had the session take
// its own window's mask into the latch at the next FLR or re-initialisation, so the VF's next driver was
// handed up to 64 invalidations nobody raised. Only a new session (a restarted PF) reads the latch there.
BOOST_AUTO_TEST_CASE(a_mask_the_vf_wrote_is_not_latched_by_the_sessions_own_flr_or_reinitialisation) {
  for (const bool function_reset : {true, false}) {
    BOOST_TEST_CONTEXT("function_reset " << function_reset) {
      fixture f;
      BOOST_TEST((f.store.invalidate(0, block_mask{0b100}) == no_error));
      f.next(op_read, 5, 16);
      BOOST_REQUIRE(f.mask() == 0b100u);
      f.vf_write_u32(reg::invalidate_mask_low, 0xFFFFFFFF);
      f.vf_write_u32(reg::invalidate_mask_high, 0x80000000);
      f.apply(f.session.initialize(f.window, 0, function_reset));
      BOOST_TEST(f.session.latched_invalidations().bits() == 0b100u);
      BOOST_TEST(f.mask() == 0b100u);
      BOOST_TEST(f.u32(reg::status) == status_word(0, 0, false, true, 0, 2));
      // With nothing latched, the status says so, whatever the VF wrote.
      f.vf_write_u32(reg::invalidate_ack_low, 0b100);
      f.service();
      BOOST_REQUIRE(f.session.latched_invalidations().bits() == 0u);
      f.vf_write_u32(reg::invalidate_mask_low, 0x1);
      f.apply(f.session.initialize(f.window, 0, function_reset));
      BOOST_TEST(f.session.latched_invalidations().bits() == 0u);
      BOOST_TEST(f.mask() == 0u);
      BOOST_TEST(!f.status().invalidated);
    }
  }
}

// ---- block IDs ------------------------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(block_ids_0_63_64_and_0xffffffff_reach_the_store_unchanged) {
  fixture f;
  id_recorder handler;
  BOOST_REQUIRE((f.store.define_block(0, block_id{0}, pattern(8, 0), block_access::read_write, &handler) == no_error));
  BOOST_REQUIRE((f.store.define_block(0, block_id{63}, pattern(8, 0), block_access::read_write, &handler) == no_error));
  // IDs of 64 and above: the store decides whether it can hold them (the compact store does; before it,
  // define refuses them with invalid_block_id and a request for one is answered as an undefined block).
  const bool wide_ids = f.store.define_block(0, block_id{64}, pattern(8, 0), block_access::read_write, &handler) == no_error;
  if (wide_ids)
    BOOST_REQUIRE((f.store.define_block(0, block_id{0xFFFFFFFF}, pattern(8, 0), block_access::read_write, &handler) == no_error));
  for (const std::uint32_t id : {0u, 63u, 64u, 0xFFFFFFFFu}) {
    BOOST_TEST_CONTEXT("block " << id) {
      handler.reads.clear();
      handler.writes.clear();
      f.next(op_read, id, 8);
      f.vf_write(reg::data, pattern(8, 0x11));
      f.next(op_write, id, 8);
      if (id < 64 || wide_ids) {
        BOOST_TEST(handler.reads == std::vector<std::uint32_t>{id});
        BOOST_TEST(handler.writes == std::vector<std::uint32_t>{id});
        BOOST_TEST(f.u32(reg::result) == 0u);
      } else {
        // Not truncated to a 6-bit index (which would reach block 0 or 63 and their handler).
        BOOST_TEST(handler.reads.empty());
        BOOST_TEST(handler.writes.empty());
        BOOST_TEST(f.u32(reg::result) == st(ntstatus::invalid_parameter));
      }
    }
  }
}

// ---- heartbeat ------------------------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(the_heartbeat_advances_on_the_times_given_and_rides_in_answers) {
  constexpr std::uint64_t ms = 1'000'000;
  fixture f({100, false});
  BOOST_TEST(f.u32(reg::identity) == 0x00050002u);  // invalidation, heartbeat
  BOOST_TEST(f.u32(reg::limits) == 0x00642080u);    // 100 ms
  BOOST_TEST(f.session.next_tick() == 100 * ms);
  f.tick(100 * ms - 1);
  BOOST_TEST(f.last.empty());
  BOOST_TEST((f.session.last_event() == mailbox_event::none));
  f.tick(100 * ms);
  BOOST_TEST((f.session.last_event() == mailbox_event::heartbeat));
  f.expect_writes({w32(0x20, status_word(0, 0, false, false, 1, 1))});
  BOOST_TEST(f.session.next_tick() == 200 * ms);
  // A late tick: one beat, the next an interval later (no burst to catch up).
  f.tick(450 * ms);
  f.expect_writes({w32(0x20, status_word(0, 0, false, false, 2, 1))});
  BOOST_TEST(f.session.next_tick() == 550 * ms);
  f.tick(550 * ms);
  f.tick(650 * ms);  // 3 -> 0
  f.expect_writes({w32(0x20, status_word(0, 0, false, false, 0, 1))});
  // An answer when a beat is due: one status write carries both.
  f.request(op_write, 7, 8, 1);
  f.service_at(750 * ms);
  BOOST_TEST((f.session.last_event() == mailbox_event::served));
  f.expect_writes({w32(0x20, status_word(1, 8, false, false, 1, 1))});
  // An answer before the beat is due leaves the heartbeat; service without a time never beats.
  f.request(op_write, 7, 8, 2);
  f.service_at(800 * ms);
  f.expect_writes({w32(0x20, status_word(2, 8, false, false, 1, 1))});
  f.service();
  BOOST_TEST(f.last.empty());
  f.service_at(850 * ms);
  BOOST_TEST((f.session.last_event() == mailbox_event::heartbeat));
  f.expect_writes({w32(0x20, status_word(2, 8, false, false, 2, 1))});
  // The heartbeat and the tear check: the answer fields stand while the heartbeat moves.
  BOOST_TEST((f.u32(reg::status) & mailbox::status_answer_fields) == (status_word(2, 8, false, false, 0, 1) & mailbox::status_answer_fields));

  // Without a heartbeat: nothing is ever due.
  fixture off;
  BOOST_TEST(off.session.next_tick() == no_tick);
  off.tick(~std::uint64_t{0} - 1);
  BOOST_TEST(off.last.empty());
  off.service_at(1'000'000 * ms);
  BOOST_TEST(off.last.empty());
}

// The next beat was now + the interval, which wrapped near the end of a 64-bit clock (a test clock run out
// to its end): from 50 ms before it the session beat at every tick, its next beat lying in the past. It is
// held at no_tick: no beat is due after the last interval that fits.
BOOST_AUTO_TEST_CASE(a_heartbeat_near_the_end_of_the_clock_does_not_wrap) {
  constexpr std::uint64_t ms = 1'000'000, end = ~std::uint64_t{0};
  fixture f({100, false});
  f.apply(f.session.initialize(f.window, end - 250 * ms));
  BOOST_TEST(f.session.next_tick() == end - 150 * ms);
  f.tick(end - 150 * ms);
  BOOST_TEST((f.session.last_event() == mailbox_event::heartbeat));
  BOOST_TEST(f.session.next_tick() == end - 50 * ms);
  f.tick(end - 50 * ms);
  BOOST_TEST((f.session.last_event() == mailbox_event::heartbeat));
  BOOST_TEST(f.session.next_tick() == no_tick);
  const std::uint8_t beat = f.status().heartbeat;
  for (std::uint64_t i = 1; i <= 10; ++i) {
    f.tick(end - 50 * ms + i * ms);
    BOOST_TEST(f.last.empty());
  }
  BOOST_TEST(f.status().heartbeat == beat);
}

// ---- signals --------------------------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(the_vf_is_signalled_only_when_it_asked_and_never_for_a_heartbeat_alone) {
  fixture f({100, true});
  BOOST_TEST(f.u32(reg::identity) == 0x00070002u);
  BOOST_TEST(!f.session.signal_vf());  // control was zero
  // Not asked: answers and invalidations are not signalled.
  f.next(op_read, 5, 16);
  BOOST_TEST(!f.session.signal_vf());
  BOOST_TEST((f.store.invalidate(0, block_mask{1}) == no_error));
  f.service();
  BOOST_TEST(!f.session.signal_vf());
  // Asked (control.SIGNAL): setting it is no update, nothing to signal.
  f.vf_write_u32(reg::control, mailbox::control_signal);
  f.service();
  BOOST_TEST(f.last.empty());
  BOOST_TEST(!f.session.signal_vf());
  f.next(op_read, 6, 8);
  BOOST_TEST(f.session.signal_vf());
  f.vf_write_u32(reg::invalidate_ack_low, 1);
  f.service();
  BOOST_TEST((f.session.last_event() == mailbox_event::invalidation));
  BOOST_TEST(f.session.signal_vf());
  // A heartbeat alone: not signalled (an idle VF on a signal costs nothing), by tick or by service.
  f.tick(100'000'000);
  BOOST_TEST(f.last.size() == 1u);
  BOOST_TEST(!f.session.signal_vf());
  f.service_at(200'000'000);
  BOOST_TEST(f.last.size() == 1u);
  BOOST_TEST(!f.session.signal_vf());
  // A heartbeat riding in an answer: signalled, for the answer.
  f.request(op_read, 5, 16, ++f.sequence);
  f.service_at(300'000'000);
  BOOST_TEST((f.session.last_event() == mailbox_event::served));
  BOOST_TEST(f.status().heartbeat == 3u);
  BOOST_TEST(f.session.signal_vf());
  // The VF clears SIGNAL: no more signals.
  f.vf_write_u32(reg::control, 0);
  f.next(op_read, 6, 8);
  BOOST_TEST(!f.session.signal_vf());
}

// ---- what is ignored ------------------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(a_short_window_or_an_uninitialised_session_is_ignored) {
  fixture f;
  f.request(op_write, 5, 16, 1);
  f.vf_write(reg::data, pattern(16, 0x99));
  const auto before = f.snapshot();
  BOOST_TEST((f.store.invalidate(0, block_mask{1}) == no_error));
  BOOST_TEST(f.session.service(std::span<const std::byte>(f.window).first(mailbox::window_size - 1)).empty());
  BOOST_TEST((f.session.last_event() == mailbox_event::none));
  BOOST_TEST(f.session.last_sequence() == 0u);  // still waiting for sequence 1
  BOOST_TEST(f.store.pending_invalidations(0).bits() == 1u);  // not taken
  BOOST_TEST(f.session.service(std::span<const std::byte>{}, 0).empty());
  BOOST_TEST((f.snapshot() == before));
  // The full window is then served normally.
  f.service();
  BOOST_TEST(f.status().ack == 1u);
  BOOST_TEST(copy_of(f.store.contents(0, block_id{5})) == pattern(16, 0x99), boost::test_tools::per_element());
  // A session never initialised has no epoch to answer with: it does nothing.
  pf_mailbox_session<4> idle(f.store, 0, {100, true});
  BOOST_TEST(idle.service(f.window, 1'000'000'000).empty());
  BOOST_TEST(idle.tick(1'000'000'000).empty());
  BOOST_TEST(f.store.counters(0).writes == 1u);
}

// A VF that acknowledges a bit of the mask's high half which the PF raised again meanwhile (the bit stays
// latched for one more delivery) changed only its acknowledgement register: the update clears it and the
// event is `invalidation`, as for the same acknowledgement in the low half. With a heartbeat due in the
// same call it still signals a VF that asked for signals: it is not a heartbeat alone.
BOOST_AUTO_TEST_CASE(an_acknowledgement_in_the_high_half_is_an_invalidation_event_and_signals) {
  for (const unsigned bit : {8u, 40u}) {
    BOOST_TEST_CONTEXT("bit " << bit) {
      fixture f({1, true});  // heartbeat every 1 ms, signal
      f.vf_write_u32(reg::control, mailbox::control_signal);
      f.service();
      BOOST_REQUIRE((f.store.invalidate(0, block_mask{std::uint64_t{1} << bit}) == no_error));
      f.service();  // latched and published
      BOOST_REQUIRE(f.session.latched_invalidations().bits() == std::uint64_t{1} << bit);
      BOOST_REQUIRE((f.store.invalidate(0, block_mask{std::uint64_t{1} << bit}) == no_error));
      f.service();  // raised again while latched
      // The VF took the bit (it read the mask before the second raise) and acknowledges it.
      const std::uint16_t ack = bit < 32 ? reg::invalidate_ack_low : reg::invalidate_ack_high;
      f.vf_write_u32(ack, std::uint32_t{1} << (bit % 32));
      f.service_at(5'000'000);  // a heartbeat is due too
      BOOST_TEST(f.u32(ack) == 0u);
      BOOST_TEST(f.session.latched_invalidations().bits() == std::uint64_t{1} << bit);  // one more delivery
      BOOST_TEST((f.session.last_event() == mailbox_event::invalidation));
      BOOST_TEST(f.session.signal_vf());
    }
  }
}

// Announcing a heartbeat publishes limits (its interval) before identity (the HEARTBEAT capability), and
// withdrawing it identity before limits: a VF probing in between never reads HEARTBEAT without an interval
// (docs/protocol.md 5.5).
BOOST_AUTO_TEST_CASE(set_heartbeat_orders_its_two_writes) {
  fixture f;
  const auto on = f.session.set_heartbeat(100, 0);
  BOOST_TEST(on[0].offset == reg::limits);
  BOOST_TEST(on[1].offset == reg::identity);
  BOOST_TEST(le::load_u32(on[0].bytes.data()) == 0x00642080u);  // docs/protocol.md: 100 ms, 32 dwords, 128 bytes
  BOOST_TEST(le::load_u32(on[1].bytes.data()) == 0x00050002u);  // layout 2, INVALIDATION (16), HEARTBEAT (18)
  BOOST_TEST(f.session.next_tick() == 100'000'000u);
  const auto off = f.session.set_heartbeat(0, 0);
  BOOST_TEST(off[0].offset == reg::identity);
  BOOST_TEST(off[1].offset == reg::limits);
  BOOST_TEST(le::load_u32(off[1].bytes.data()) == 0x00002080u);  // no heartbeat
  BOOST_TEST(le::load_u32(off[0].bytes.data()) == 0x00010002u);  // layout 2, INVALIDATION
  BOOST_TEST(f.session.next_tick() == no_tick);
}

// A write of a block of the largest size, 128 bytes (the whole data window), is served: STATUS_SUCCESS and
// the block holds the VF's data.
BOOST_AUTO_TEST_CASE(a_write_of_a_128_byte_block_fills_the_whole_data_window_and_is_served) {
  fixture f;
  const bytes data = pattern(128, 0x33);
  f.vf_write(reg::data, data);
  f.next(op_write, 8, 128);
  BOOST_TEST(f.status().ack == 1u);
  BOOST_TEST(!f.status().failed);
  BOOST_TEST(f.u32(reg::result) == st(ntstatus::success));
  BOOST_TEST(copy_of(f.store.contents(0, block_id{8})) == data, boost::test_tools::per_element());
  BOOST_TEST(f.store.counters(0).writes == 1u);
}

// A request with an operation the PF does not know (0, 3) or with reserved bits set is dropped, and counted
// so: `dropped`, not `refused` (nothing was refused to a request the PF could not read).
BOOST_AUTO_TEST_CASE(an_unknown_operation_or_reserved_bits_count_as_dropped) {
  for (const std::uint32_t op : {0u, 3u, std::uint32_t{op_read} | 0x4u}) {
    BOOST_TEST_CONTEXT("operation field " << op) {
      fixture f;
      f.next(op, 5, 16);
      BOOST_TEST(f.store.counters(0).dropped == 1u);
      BOOST_TEST(f.store.counters(0).refused == 0u);
    }
  }
}

// A released session (its mailbox detached) serves nothing and beats nothing until it is initialised again:
// a session that still counted as initialised answered requests in a window no longer its own.
BOOST_AUTO_TEST_CASE(a_released_session_serves_and_beats_nothing) {
  constexpr std::uint64_t ms = 1'000'000;
  fixture f({100, false});
  f.session.release();
  BOOST_TEST(!f.session.initialized());
  BOOST_TEST(f.session.next_tick() == no_tick);
  f.request(op_read, 5, 16, 1);
  f.service_at(500 * ms);
  BOOST_TEST(f.last.empty());
  BOOST_TEST((f.session.last_event() == mailbox_event::none));
  f.tick(1000 * ms);
  BOOST_TEST(f.last.empty());
}

// A reset serviced when a heartbeat is due carries the beat in its status write, and the next beat is an
// interval on (protocol.md 5.5: the heartbeat advances every interval, whatever else the PF writes).
BOOST_AUTO_TEST_CASE(a_reset_serviced_when_a_beat_is_due_carries_the_beat) {
  constexpr std::uint64_t ms = 1'000'000;
  fixture f({100, false});
  f.vf_write_u32(reg::control, mailbox::control_reset);
  f.service_at(100 * ms);
  BOOST_TEST((f.session.last_event() == mailbox_event::reset));
  BOOST_TEST(f.status().heartbeat == 1u);
  BOOST_TEST(f.session.next_tick() == 200 * ms);
}

// protocol.md 4.2: a service takes the VF's acknowledgements before it latches new raises. Latched first,
// an acknowledgement of a bit serviced with a new raise of it wiped the raise out (a VF that acknowledges
// a bit it was not shown is out of protocol, but the PF's raise must not be lost to it), and a bit raised
// again while latched lost one of its repeat deliveries.
BOOST_AUTO_TEST_CASE(acknowledgements_are_taken_before_new_raises_join_the_latch) {
  {
    fixture f;
    BOOST_TEST((f.store.invalidate(0, block_mask{0b1000}) == no_error));
    f.vf_write_u32(reg::invalidate_ack_low, 0b1000);
    f.service();
    BOOST_TEST(f.mask() == 0b1000u);
    BOOST_TEST(f.status().invalidated);
  }
  {
    fixture f;
    BOOST_TEST((f.store.invalidate(0, block_mask{0b100}) == no_error));
    f.service();
    BOOST_TEST((f.store.invalidate(0, block_mask{0b100}) == no_error));
    f.service();
    BOOST_TEST((f.store.invalidate(0, block_mask{0b100}) == no_error));
    f.vf_write_u32(reg::invalidate_ack_low, 0b100);
    f.service();
    BOOST_TEST(f.mask() == 0b100u);
    f.vf_write_u32(reg::invalidate_ack_low, 0b100);
    f.service();
    BOOST_TEST(f.mask() == 0b100u);  // the third raise, serviced with the first acknowledgement, came after it
    f.vf_write_u32(reg::invalidate_ack_low, 0b100);
    f.service();
    BOOST_TEST(f.mask() == 0u);
  }
}

BOOST_AUTO_TEST_SUITE_END()  // pf_mailbox_test
