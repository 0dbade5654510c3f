// The PF side of the config-space mailbox (engine::pf_mailbox_session) against a scripted fake VF that
// writes raw register bytes into a window array and applies the session's register writes in order:
// the initial image, reads and writes served with the exact register contents and write order, and
// every kind of bad input (exact status in the window, the block store unchanged, nothing leaked).
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
bytes u32s(std::initializer_list<std::uint32_t> values) {
  bytes out;
  for (std::uint32_t v : values) {
    const bytes b = u32_bytes(v);
    out.insert(out.end(), b.begin(), b.end());
  }
  return out;
}

struct recorded_write {
  std::uint16_t offset;
  bytes data;
};

constexpr std::uint32_t op_read = 1;
constexpr std::uint32_t op_write = 2;
constexpr std::uint32_t st(ntstatus s) { return static_cast<std::uint32_t>(s); }

// VF 0's window, its session, and VF 1 in the same store. VF 0: block 5 (16 bytes, read-write),
// block 6 (8 bytes, read-only), block 7 (8 bytes, write-only), block 8 (128 bytes). VF 1: block 20.
struct fixture {
  std::unique_ptr<pf_blocks<4>> owned = std::make_unique<pf_blocks<4>>();
  pf_blocks<4>& store = *owned;
  pf_mailbox_session<4> session{store, 0};
  window_type window{};
  std::vector<recorded_write> last;  // the writes of the last service(), in order
  std::uint32_t sequence = 0;

  fixture() {
    BOOST_REQUIRE((store.register_vf(0, 0x0101) == no_error));
    BOOST_REQUIRE((store.register_vf(1, 0x0102) == no_error));
    BOOST_REQUIRE((store.define_block(0, block_id{5}, pattern(16, 0x10)) == no_error));
    BOOST_REQUIRE((store.define_block(0, block_id{6}, pattern(8, 0x60), block_access::read_only) == no_error));
    BOOST_REQUIRE((store.define_block(0, block_id{7}, pattern(8, 0x70), block_access::write_only) == no_error));
    BOOST_REQUIRE((store.define_block(0, block_id{8}, pattern(128, 0x80)) == no_error));
    BOOST_REQUIRE((store.define_block(1, block_id{20}, pattern(8, 0xA0)) == no_error));
    apply(session.initialize());
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

  // The fake VF's accesses.
  void vf_write(std::uint16_t offset, std::span<const std::byte> data) {
    for (std::size_t i = 0; i < data.size(); ++i) window[offset + i] = data[i];
  }
  void vf_write_u32(std::uint16_t offset, std::uint32_t value) { le::store_u32(window.data() + offset, value); }
  void request(std::uint32_t op, std::uint32_t id, std::uint32_t length, std::uint32_t seq) {
    vf_write_u32(reg::request_operation, op);
    vf_write_u32(reg::request_block_id, id);
    vf_write_u32(reg::request_length, length);
    vf_write_u32(reg::request_sequence, seq);  // last
  }
  // A request with the next sequence number, serviced.
  void next(std::uint32_t op, std::uint32_t id, std::uint32_t length) {
    request(op, id, length, ++sequence);
    service();
  }
  [[nodiscard]] std::uint32_t u32(std::uint16_t offset) const { return le::load_u32(window.data() + offset); }
  [[nodiscard]] std::uint64_t mask() const { return le::load_u64(window.data() + reg::invalidate_mask_low); }

  struct store_snapshot {
    std::vector<bytes> blocks;
  };
  [[nodiscard]] store_snapshot snapshot() const {
    store_snapshot s;
    for (vf_index vf : {vf_index{0}, vf_index{1}})
      for (std::uint32_t id = 0; id < 64; ++id) s.blocks.push_back(copy_of(store.contents(vf, block_id{id})));
    return s;
  }
  void expect_store(const store_snapshot& before) const {
    const store_snapshot now = snapshot();
    for (std::size_t i = 0; i < now.blocks.size(); ++i)
      BOOST_TEST_CONTEXT("vf " << i / 64 << " block " << i % 64) {
        BOOST_TEST(now.blocks[i] == before.blocks[i], boost::test_tools::per_element());
      }
  }
  // The status update of one answer: generation odd, [data], status+count, mask, [ack clear],
  // generation even, ack_sequence last.
  void expect_status_update(std::uint32_t generation_before, std::uint32_t status, std::uint32_t count,
                            std::uint32_t ack, const bytes* data = nullptr, bool ack_cleared = false) {
    std::vector<recorded_write> expected;
    expected.push_back({reg::generation, u32_bytes(generation_before + 1)});
    if (data != nullptr) expected.push_back({reg::data, *data});
    expected.push_back({reg::status, u32s({status, count})});
    bytes mask_bytes(8);
    le::store_u64(mask_bytes.data(), session.latched_invalidations().bits());
    expected.push_back({reg::invalidate_mask_low, mask_bytes});
    if (ack_cleared) expected.push_back({reg::invalidate_ack_low, bytes(8)});
    expected.push_back({reg::generation, u32_bytes(generation_before + 2)});
    expected.push_back({reg::ack_sequence, u32_bytes(ack)});
    BOOST_REQUIRE(last.size() == expected.size());
    for (std::size_t i = 0; i < expected.size(); ++i) {
      BOOST_TEST_CONTEXT("write " << i) {
        BOOST_TEST(last[i].offset == expected[i].offset);
        BOOST_TEST(last[i].data == expected[i].data, boost::test_tools::per_element());
      }
    }
    BOOST_TEST(u32(reg::generation) == generation_before + 2);
    BOOST_TEST(u32(reg::status) == status);
    BOOST_TEST(u32(reg::byte_count) == count);
    BOOST_TEST(u32(reg::ack_sequence) == ack);
  }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(pf_mailbox_suite)

BOOST_AUTO_TEST_CASE(initialize_writes_the_documented_image) {
  auto store = std::make_unique<pf_blocks<2>>();
  pf_mailbox_session<2> session(*store, 1);
  BOOST_TEST(session.vf() == 1u);
  window_type window;
  window.fill(std::byte{0xAA});  // whatever was in config space before
  const auto& writes = session.initialize();
  BOOST_REQUIRE(writes.size() == 5u);
  const std::uint16_t offsets[] = {0x08, 0x14, 0x28, 0x40, 0x50};
  const std::size_t sizes[] = {12, 20, 24, 16, 128};
  for (std::size_t i = 0; i < 5; ++i) {
    BOOST_TEST(writes[i].offset == offsets[i]);
    BOOST_TEST(writes[i].bytes.size() == sizes[i]);
    for (std::size_t j = 0; j < writes[i].bytes.size(); ++j) window[writes[i].offset + j] = writes[i].bytes[j];
  }
  window_type expected{};
  for (std::size_t i = 0; i < 8; ++i) expected[i] = std::byte{0xAA};  // the VSEC headers are the placement's
  const unsigned identity[] = {0x56, 0x50, 0x43, 0x49, 0x01, 0x00, 0x03, 0x00, 0x80, 0x00, 0x80, 0x00};
  for (std::size_t i = 0; i < 12; ++i) expected[8 + i] = static_cast<std::byte>(identity[i]);
  BOOST_TEST(copy_of(window) == copy_of(expected), boost::test_tools::per_element());
  BOOST_TEST(session.generation() == 0u);
  BOOST_TEST(session.last_sequence() == 0u);
  // A freshly initialised window has nothing to do.
  BOOST_TEST(session.service(window).empty());
  BOOST_TEST((session.last_event() == mailbox_event::none));
}

BOOST_AUTO_TEST_CASE(a_read_is_served_with_generation_around_it_and_ack_last) {
  fixture f;
  f.vf_write(reg::data, pattern(128, 0xEE));  // stale bytes in the data window
  f.request(op_read, 5, 32, 1);
  f.service();
  BOOST_TEST((f.session.last_event() == mailbox_event::served));
  const bytes block5 = pattern(16, 0x10);
  f.expect_status_update(0, 0, 16, 1, &block5);
  BOOST_TEST(copy_of(std::span(f.window).subspan(reg::data, 16)) == block5, boost::test_tools::per_element());
  // Only the block's bytes are written into the data window.
  const bytes stale = pattern(128, 0xEE);
  BOOST_TEST(copy_of(std::span(f.window).subspan(reg::data + 16, 112)) == copy_of(std::span(stale).subspan(16)),
             boost::test_tools::per_element());
  BOOST_TEST(f.session.last_sequence() == 1u);
  BOOST_TEST(f.session.generation() == 2u);

  // The next one: generation +2, still even.
  f.request(op_read, 8, 128, 2);
  f.service();
  const bytes block8 = pattern(128, 0x80);
  f.expect_status_update(2, 0, 128, 2, &block8);
  BOOST_TEST(copy_of(std::span(f.window).subspan(reg::data, 128)) == block8, boost::test_tools::per_element());
  BOOST_TEST(f.store.counters(0).reads == 2u);
  // Nothing new: no writes.
  f.service();
  BOOST_TEST(f.last.empty());
  BOOST_TEST((f.session.last_event() == mailbox_event::none));
}

BOOST_AUTO_TEST_CASE(a_write_is_served_from_the_data_window) {
  fixture f;
  const bytes data = pattern(16, 0x33);
  f.vf_write(reg::data, data);
  f.request(op_write, 5, 16, 1);
  f.service();
  BOOST_TEST((f.session.last_event() == mailbox_event::served));
  f.expect_status_update(0, 0, 16, 1);  // no data write for a write answer
  BOOST_TEST(copy_of(f.store.contents(0, block_id{5})) == data, boost::test_tools::per_element());
  BOOST_TEST(copy_of(std::span(f.window).subspan(reg::data, 16)) == data, boost::test_tools::per_element());
  // Write-only block: written, and a read of it is refused.
  f.vf_write(reg::data, pattern(8, 0x44));
  f.request(op_write, 7, 8, 2);
  f.service();
  BOOST_TEST(f.u32(reg::status) == 0u);
  BOOST_TEST(copy_of(f.store.contents(0, block_id{7})) == pattern(8, 0x44), boost::test_tools::per_element());
  BOOST_TEST(f.store.counters(0).writes == 2u);
}

BOOST_AUTO_TEST_CASE(bad_requests_get_the_exact_status_and_change_nothing) {
  fixture f;
  struct row {
    std::uint32_t op;
    std::uint32_t id;
    std::uint32_t length;
    ntstatus status;
    const char* what;
  };
  const row rows[] = {
      {op_read, 5, 0, ntstatus::invalid_parameter, "read length 0"},
      {op_read, 5, 129, ntstatus::invalid_parameter, "read length 129"},
      {op_read, 5, 0xFFFFFFFF, ntstatus::invalid_parameter, "read length 2^32-1"},
      {op_write, 5, 0, ntstatus::invalid_parameter, "write length 0"},
      {op_write, 5, 129, ntstatus::invalid_parameter, "write length 129"},
      {op_write, 5, 0x80000010, ntstatus::invalid_parameter, "write length 2^31+16"},
      {op_write, 5, 15, ntstatus::invalid_parameter, "write shorter than the block"},
      {op_read, 5, 15, ntstatus::buffer_too_small, "read shorter than the block"},
      {op_read, 20, 8, ntstatus::access_denied, "read of VF 1's block"},
      {op_write, 20, 8, ntstatus::access_denied, "write of VF 1's block"},
      {op_read, 40, 8, ntstatus::invalid_parameter, "read of a block nobody defines"},
      {op_write, 40, 8, ntstatus::invalid_parameter, "write of a block nobody defines"},
      {op_read, 64, 8, ntstatus::invalid_parameter, "block 64"},
      {op_read, 0xFFFFFFFF, 8, ntstatus::invalid_parameter, "block 0xFFFFFFFF"},
      {op_write, 6, 8, ntstatus::access_denied, "write of a read-only block"},
      {op_read, 7, 8, ntstatus::access_denied, "read of a write-only block"},
      {0, 5, 16, ntstatus::invalid_device_request, "operation 0"},
      {3, 5, 16, ntstatus::invalid_device_request, "operation 3"},
      {0xFF, 5, 16, ntstatus::invalid_device_request, "operation 0xFF"},
      {0x101, 5, 16, ntstatus::invalid_device_request, "read with reserved bit 8"},
      {0x80000001, 5, 16, ntstatus::invalid_device_request, "read with reserved bit 31"},
      {0x00000202, 5, 16, ntstatus::invalid_device_request, "write with reserved bit 9"},
  };
  const bytes garbage = pattern(128, 0xC3);
  std::uint32_t generation = 0;
  for (const row& r : rows) {
    BOOST_TEST_CONTEXT(r.what) {
      f.vf_write(reg::data, garbage);  // what a write would carry; a refused read must not replace it
      const auto before = f.snapshot();
      f.next(r.op, r.id, r.length);
      BOOST_TEST((f.session.last_event() == mailbox_event::served));
      f.expect_status_update(generation, st(r.status), 0, f.sequence);
      generation += 2;
      f.expect_store(before);
      // Nothing leaked: the data window holds what the VF put there.
      BOOST_TEST(copy_of(std::span(f.window).subspan(reg::data)) == garbage, boost::test_tools::per_element());
      // Counts of errors never quarantine.
      BOOST_TEST((f.store.quarantined(0) == quarantine_reason::none));
    }
  }
  BOOST_TEST(f.store.counters(0).violations == 0u);
  BOOST_TEST(f.store.counters(0).reads == 0u);
  BOOST_TEST(f.store.counters(0).writes == 0u);
  // And the VF is still served.
  f.next(op_read, 5, 16);
  BOOST_TEST(f.u32(reg::status) == 0u);
  BOOST_TEST(f.u32(reg::byte_count) == 16u);
}

BOOST_AUTO_TEST_CASE(a_replayed_sequence_is_a_no_op) {
  fixture f;
  const bytes first = pattern(16, 0x01);
  f.vf_write(reg::data, first);
  f.next(op_write, 5, 16);
  BOOST_TEST(f.u32(reg::status) == 0u);
  const window_type answered = f.window;
  // The VF rings again with the same number (a replayed doorbell), even with other contents.
  f.vf_write(reg::data, pattern(16, 0x02));
  f.request(op_write, 5, 16, 1);
  const auto before = f.snapshot();
  f.service();
  BOOST_TEST(f.last.empty());
  BOOST_TEST((f.session.last_event() == mailbox_event::none));
  f.expect_store(before);
  BOOST_TEST(copy_of(f.store.contents(0, block_id{5})) == first, boost::test_tools::per_element());
  BOOST_TEST(copy_of(std::span(f.window).subspan(reg::generation, 24)) ==
                 copy_of(std::span(answered).subspan(reg::generation, 24)),
             boost::test_tools::per_element());
  f.request(op_read, 20, 8, 1);  // a replay naming another VF's block changes nothing either
  f.service();
  BOOST_TEST(f.last.empty());
  BOOST_TEST(f.u32(reg::status) == 0u);
  BOOST_TEST((f.store.quarantined(0) == quarantine_reason::none));
  BOOST_TEST(f.session.last_sequence() == 1u);
}

BOOST_AUTO_TEST_CASE(a_skipped_sequence_quarantines_until_the_mailbox_is_reset) {
  fixture f;
  f.next(op_read, 5, 16);  // 1
  f.request(op_read, 5, 16, 3);  // skips 2
  const auto before = f.snapshot();
  f.service();
  BOOST_TEST((f.session.last_event() == mailbox_event::violation));
  f.expect_status_update(2, st(ntstatus::invalid_device_request), 0, 3);
  BOOST_TEST((f.store.quarantined(0) == quarantine_reason::protocol_violation));
  BOOST_TEST(f.store.counters(0).violations == 1u);
  BOOST_TEST(f.session.last_sequence() == 3u);
  f.sequence = 3;

  // Quarantined: every request, whatever it is, is answered ACCESS_DENIED and changes nothing.
  const bytes garbage = pattern(128, 0x5A);
  f.vf_write(reg::data, garbage);
  f.next(op_read, 5, 16);
  f.expect_status_update(4, st(ntstatus::access_denied), 0, 4);
  f.next(op_write, 5, 16);
  f.expect_status_update(6, st(ntstatus::access_denied), 0, 5);
  f.next(op_read, 5, 0);
  BOOST_TEST(f.u32(reg::status) == st(ntstatus::access_denied));
  f.next(0xFF, 5, 16);
  BOOST_TEST(f.u32(reg::status) == st(ntstatus::access_denied));
  f.expect_store(before);
  BOOST_TEST(copy_of(std::span(f.window).subspan(reg::data)) == garbage, boost::test_tools::per_element());

  // An invalidation raised while quarantined is latched and survives the reset.
  BOOST_TEST((f.store.invalidate(0, block_mask{0b100}) == no_error));
  f.service();
  BOOST_TEST((f.session.last_event() == mailbox_event::invalidation));
  BOOST_TEST(f.mask() == 0b100u);

  const std::uint32_t generation = f.session.generation();
  f.vf_write_u32(reg::control, mailbox::control_reset);
  f.service();
  BOOST_TEST((f.session.last_event() == mailbox_event::reset));
  BOOST_TEST((f.store.quarantined(0) == quarantine_reason::none));
  BOOST_TEST(f.session.last_sequence() == 0u);
  BOOST_TEST(f.u32(reg::control) == 0u);
  BOOST_TEST(f.last.back().offset == reg::control);  // control is cleared last
  BOOST_TEST(f.u32(reg::status) == 0u);
  BOOST_TEST(f.u32(reg::byte_count) == 0u);
  BOOST_TEST(f.u32(reg::ack_sequence) == 0u);
  BOOST_TEST(f.u32(reg::generation) == generation + 2);
  BOOST_TEST(f.mask() == 0b100u);
  BOOST_TEST(f.session.latched_invalidations().bits() == 0b100u);

  // Before the VF writes its next request, the PF raises another invalidation: the window still
  // holds the request area from before the reset, which must not count as a skipped sequence.
  BOOST_TEST((f.store.invalidate(0, block_mask{0b1000}) == no_error));
  f.service();
  BOOST_TEST((f.session.last_event() == mailbox_event::invalidation));
  BOOST_TEST((f.store.quarantined(0) == quarantine_reason::none));
  BOOST_TEST(f.mask() == 0b1100u);

  // The VF starts again from sequence 0: its next request is 1, served.
  f.sequence = 0;
  f.next(op_read, 5, 16);
  BOOST_TEST((f.session.last_event() == mailbox_event::served));
  BOOST_TEST(f.u32(reg::status) == 0u);
  BOOST_TEST(f.u32(reg::byte_count) == 16u);
  BOOST_TEST(f.u32(reg::ack_sequence) == 1u);
  BOOST_TEST(f.store.counters(0).violations == 1u);
}

BOOST_AUTO_TEST_CASE(a_reversed_sequence_is_a_violation) {
  for (std::uint32_t bad : {std::uint32_t{4}, std::uint32_t{0}, std::uint32_t{0xFFFFFFFF}, std::uint32_t{7}}) {
    BOOST_TEST_CONTEXT("sequence " << bad) {
      fixture f;
      for (int i = 0; i < 5; ++i) f.next(op_read, 5, 16);
      f.request(op_read, 5, 16, bad);
      f.service();
      BOOST_TEST((f.session.last_event() == mailbox_event::violation));
      BOOST_TEST(f.u32(reg::status) == st(ntstatus::invalid_device_request));
      BOOST_TEST(f.u32(reg::ack_sequence) == bad);
      BOOST_TEST((f.store.quarantined(0) == quarantine_reason::protocol_violation));
    }
  }
  // Sequence numbers wrap: after 0xFFFFFFFF the next one is 0, not a reversal. (The session reaches
  // 0xFFFFFFFF here through a resynchronising violation, lifted by the PF's reset of the VF.)
  fixture f;
  f.request(op_read, 5, 16, 0xFFFFFFFF);
  f.service();
  BOOST_TEST(f.session.last_sequence() == 0xFFFFFFFFu);
  BOOST_TEST((f.store.reset_vf(0) == no_error));
  f.request(op_read, 5, 16, 0);
  f.service();
  BOOST_TEST((f.session.last_event() == mailbox_event::served));
  BOOST_TEST(f.u32(reg::status) == 0u);
  BOOST_TEST(f.u32(reg::ack_sequence) == 0u);
}

// Case 13: PF-owned registers are read-only to the VF, as on a device, where a config write to read-only
// bits never reaches the device: no quarantine. On a transport that let such a write through, the
// session undoes it (restores every PF-owned register in one status update) and counts it as dropped.
BOOST_AUTO_TEST_CASE(case_13_a_pf_owned_register_written_by_the_vf_is_restored_without_quarantine) {
  // Every byte of the identification registers (0x08-0x13), the PF's status area (0x28-0x3F) and the
  // reserved registers (0x48-0x4F).
  std::vector<std::uint16_t> offsets;
  for (std::uint16_t o = 0x08; o < 0x14; ++o) offsets.push_back(o);
  for (std::uint16_t o = 0x28; o < 0x40; ++o) offsets.push_back(o);
  for (std::uint16_t o = 0x48; o < 0x50; ++o) offsets.push_back(o);
  for (std::uint16_t offset : offsets) {
    BOOST_TEST_CONTEXT("offset 0x" << std::hex << offset) {
      fixture f;
      BOOST_TEST((f.store.invalidate(0, block_mask{0x0000000100000010}) == no_error));
      f.next(op_read, 5, 16);
      const window_type good = f.window;
      const std::uint32_t generation = f.session.generation();
      const auto before = f.snapshot();
      const auto counters = f.store.counters(0);
      f.window[offset] ^= std::byte{0xFF};
      f.service();
      BOOST_TEST((f.session.last_event() == mailbox_event::restored));
      BOOST_TEST((f.store.quarantined(0) == quarantine_reason::none));
      BOOST_TEST(f.store.counters(0).violations == counters.violations);
      BOOST_TEST(f.store.counters(0).dropped == counters.dropped + 1);
      BOOST_REQUIRE(!f.last.empty());
      BOOST_TEST(f.last.front().offset == reg::magic);  // identification restored first
      BOOST_TEST(f.last.back().offset == reg::ack_sequence);
      // Every PF-owned register holds what the PF last wrote; the generation moved on by 2.
      BOOST_TEST(copy_of(std::span(f.window).subspan(0x08, 12)) == copy_of(std::span(good).subspan(0x08, 12)),
                 boost::test_tools::per_element());
      BOOST_TEST(copy_of(std::span(f.window).subspan(0x2C, 20)) == copy_of(std::span(good).subspan(0x2C, 20)),
                 boost::test_tools::per_element());
      BOOST_TEST(copy_of(std::span(f.window).subspan(0x48, 8)) == bytes(8), boost::test_tools::per_element());
      BOOST_TEST(f.u32(reg::generation) == generation + 2);
      f.expect_store(before);
      // Not quarantined: the next request is served.
      f.next(op_read, 5, 16);
      BOOST_TEST(f.u32(reg::status) == st(ntstatus::success));
      BOOST_TEST(f.u32(reg::byte_count) == 16u);
      // After the restore, servicing again finds everything intact: nothing more to undo.
      f.service();
      BOOST_TEST(f.last.empty());
      BOOST_TEST(f.store.counters(0).dropped == counters.dropped + 1);
    }
  }
}

BOOST_AUTO_TEST_CASE(the_same_value_written_over_a_status_register_is_not_a_violation) {
  fixture f;
  f.next(op_read, 5, 16);
  const std::uint32_t status = f.u32(reg::status);
  f.vf_write_u32(reg::status, status);
  f.service();
  BOOST_TEST(f.last.empty());
  BOOST_TEST((f.store.quarantined(0) == quarantine_reason::none));
}

BOOST_AUTO_TEST_CASE(invalidations_are_or_coalesced_and_cleared_only_by_acknowledgement) {
  fixture f;
  BOOST_TEST((f.store.invalidate(0, block_mask{0b10}) == no_error));
  f.service();
  BOOST_TEST((f.session.last_event() == mailbox_event::invalidation));
  f.expect_status_update(0, 0, 0, 0);  // an invalidation-only update, ack_sequence unchanged
  BOOST_TEST(f.mask() == 0b10u);
  BOOST_TEST((f.store.invalidate(0, block_mask{0b10000}) == no_error));
  BOOST_TEST((f.store.invalidate(0, block_mask{std::uint64_t{1} << 63}) == no_error));
  f.service();
  BOOST_TEST(f.mask() == ((std::uint64_t{1} << 63) | 0b10010u));
  BOOST_TEST(f.u32(reg::invalidate_mask_high) == 0x80000000u);
  BOOST_TEST(f.store.pending_invalidations(0).empty());  // moved into the latch
  // A request in between does not disturb the latch.
  f.next(op_read, 5, 16);
  BOOST_TEST(f.mask() == ((std::uint64_t{1} << 63) | 0b10010u));

  // The VF acknowledges bits 1 and 63: exactly those leave the latch; the ack registers are cleared.
  std::uint32_t generation = f.session.generation();
  f.vf_write_u32(reg::invalidate_ack_low, 0b10);
  f.vf_write_u32(reg::invalidate_ack_high, 0x80000000u);
  f.service();
  BOOST_TEST((f.session.last_event() == mailbox_event::invalidation));
  f.expect_status_update(generation, 0, 16, 1, nullptr, /*ack_cleared=*/true);
  BOOST_TEST(f.mask() == 0b10000u);
  BOOST_TEST(f.u32(reg::invalidate_ack_low) == 0u);
  BOOST_TEST(f.u32(reg::invalidate_ack_high) == 0u);

  // Acknowledging a bit that is not latched takes nothing else.
  generation = f.session.generation();
  f.vf_write_u32(reg::invalidate_ack_low, 0b1);
  f.service();
  f.expect_status_update(generation, 0, 16, 1, nullptr, true);
  BOOST_TEST(f.mask() == 0b10000u);

  // invalidate_all reaches this VF too.
  f.store.invalidate_all(block_mask{0b1});
  f.service();
  BOOST_TEST(f.mask() == 0b10001u);
  BOOST_TEST(f.store.pending_invalidations(1).bits() == 0b1u);  // VF 1 has no session here: still pending
}

BOOST_AUTO_TEST_CASE(an_invalidation_raised_again_after_the_vf_read_the_latch_is_not_lost) {
  fixture f;
  BOOST_TEST((f.store.invalidate(0, block_mask{0b10}) == no_error));
  f.service();
  BOOST_TEST(f.mask() == 0b10u);
  // The VF reads the latch (bit 1), delivers it, and its reader re-reads block 1 at once.
  // The PF changes block 1 again and raises bit 1 again: coalesced into the latched bit.
  BOOST_TEST((f.store.invalidate(0, block_mask{0b10}) == no_error));
  f.service();
  // The VF now acknowledges what it read. The second raise came after that read: the bit must stay
  // latched (delivered again), or the second change would never be announced.
  f.vf_write_u32(reg::invalidate_ack_low, 0b10);
  f.service();
  BOOST_TEST(f.u32(reg::invalidate_ack_low) == 0u);
  BOOST_TEST(f.mask() == 0b10u);
  // Its second acknowledgement, with no raise in between, clears it.
  f.vf_write_u32(reg::invalidate_ack_low, 0b10);
  f.service();
  BOOST_TEST(f.mask() == 0u);
  // A raise serviced together with the acknowledgement is latched afresh, and its acknowledgement
  // then clears it.
  BOOST_TEST((f.store.invalidate(0, block_mask{0b100}) == no_error));
  f.service();
  BOOST_TEST(f.mask() == 0b100u);
  BOOST_TEST((f.store.invalidate(0, block_mask{0b100}) == no_error));
  f.vf_write_u32(reg::invalidate_ack_low, 0b100);
  f.service();
  BOOST_TEST(f.mask() == 0b100u);
  f.vf_write_u32(reg::invalidate_ack_low, 0b100);
  f.service();
  BOOST_TEST(f.mask() == 0u);
}

BOOST_AUTO_TEST_CASE(a_reset_keeps_the_latch_and_takes_acknowledged_bits) {
  fixture f;
  BOOST_TEST((f.store.invalidate(0, block_mask{0b110}) == no_error));
  f.service();
  f.next(op_read, 5, 16);
  // The VF acknowledges bit 1 and asks for a reset before the PF serviced the acknowledgement.
  f.vf_write_u32(reg::invalidate_ack_low, 0b10);
  f.vf_write_u32(reg::control, mailbox::control_reset);
  BOOST_TEST((f.store.invalidate(0, block_mask{0b1000}) == no_error));
  f.service();
  BOOST_TEST((f.session.last_event() == mailbox_event::reset));
  BOOST_TEST(f.mask() == 0b1100u);  // bit 1 was taken; bit 2 and the new bit 3 stay latched
  BOOST_TEST(f.u32(reg::invalidate_ack_low) == 0u);
  BOOST_TEST(f.u32(reg::control) == 0u);
  BOOST_TEST(f.u32(reg::ack_sequence) == 0u);
  // The request area is clear: the VF's next sequence is 1.
  BOOST_TEST(f.u32(reg::request_sequence) == 0u);
  f.service();
  BOOST_TEST(f.last.empty());
  f.sequence = 0;
  f.next(op_read, 6, 8);
  BOOST_TEST(f.u32(reg::status) == 0u);
  BOOST_TEST(f.u32(reg::ack_sequence) == 1u);
}

BOOST_AUTO_TEST_CASE(a_short_window_is_ignored) {
  fixture f;
  f.request(op_write, 5, 16, 1);
  f.vf_write(reg::data, pattern(16, 0x99));
  const auto before = f.snapshot();
  BOOST_TEST((f.store.invalidate(0, block_mask{1}) == no_error));
  const auto& writes = f.session.service(std::span<const std::byte>(f.window).first(mailbox::window_size - 1));
  BOOST_TEST(writes.empty());
  BOOST_TEST((f.session.last_event() == mailbox_event::none));
  BOOST_TEST(f.session.last_sequence() == 0u);
  BOOST_TEST(f.store.pending_invalidations(0).bits() == 1u);  // not taken
  BOOST_TEST(f.session.service(std::span<const std::byte>{}).empty());
  f.expect_store(before);
  // The full window is then served normally.
  f.service();
  BOOST_TEST(f.u32(reg::ack_sequence) == 1u);
  BOOST_TEST(copy_of(f.store.contents(0, block_id{5})) == pattern(16, 0x99), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_SUITE_END()
