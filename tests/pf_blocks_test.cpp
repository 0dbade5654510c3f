// The PF's block store (engine::pf_blocks): VF lifecycle, typed and raw blocks, the status of every
// serve_read / serve_write refusal exactly as docs/protocol.md's status table gives it, the state left
// unchanged by every refusal, admission (busy cap), quarantine only on overflow or violation, and
// OR-coalesced invalidations.
#include <boost/test/unit_test.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <ostream>
#include <span>
#include <vector>

#include <vpci/engine/pf_blocks.hpp>

#include "test_support.hpp"

using namespace vpci;
using namespace vpci::engine;

namespace {

using store_type = pf_blocks<4>;
using word_block = block<3, std::uint32_t>;  // 4 bytes

struct pair_value {
  std::uint16_t a;
  std::uint8_t b;
  friend constexpr auto vpci_fields(type_tag<pair_value>) { return fields(&pair_value::a, &pair_value::b); }
};
using pair_block = block<9, pair_value>;  // 3 bytes

std::vector<std::byte> pattern(std::size_t n, unsigned seed) {
  std::vector<std::byte> out(n);
  for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<std::byte>(seed + i * 13);
  return out;
}
std::vector<std::byte> copy_of(std::span<const std::byte> bytes) { return {bytes.begin(), bytes.end()}; }

// VF 0 and VF 1 registered. VF 0: block 5 raw 16 bytes (read-write), block 6 raw 8 bytes read-only,
// block 7 raw 8 bytes write-only, word_block. VF 1: block 20 (8 bytes), nobody else defines it.
struct store_fixture {
  std::unique_ptr<store_type> owned = std::make_unique<store_type>(pf_limits{4});
  store_type& s = *owned;
  std::vector<std::byte> b5 = pattern(16, 0x10);
  std::vector<std::byte> b6 = pattern(8, 0x60);
  std::vector<std::byte> b7 = pattern(8, 0x70);
  std::vector<std::byte> b20 = pattern(8, 0xA0);

  store_fixture() {
    BOOST_REQUIRE((s.register_vf(0, 0x0101) == no_error));
    BOOST_REQUIRE((s.register_vf(1, 0x0102) == no_error));
    BOOST_REQUIRE((s.define_block(0, block_id{5}, b5) == no_error));
    BOOST_REQUIRE((s.define_block(0, block_id{6}, b6, block_access::read_only) == no_error));
    BOOST_REQUIRE((s.define_block(0, block_id{7}, b7, block_access::write_only) == no_error));
    BOOST_REQUIRE((s.define<word_block>(0, 0x11223344u) == no_error));
    BOOST_REQUIRE((s.define_block(1, block_id{20}, b20) == no_error));
  }

  // Every byte of every block of both VFs, plus what else a refusal must not touch.
  struct snapshot {
    std::vector<std::vector<std::byte>> blocks;
    std::uint64_t pending0, pending1;
    quarantine_reason q0, q1;
    std::uint32_t in_flight0, in_flight1;
    std::uint64_t reads0, writes0, reads1, writes1;
  };
  snapshot take() const {
    snapshot snap;
    for (vf_index vf : {vf_index{0}, vf_index{1}})
      for (std::uint32_t id = 0; id < 64; ++id) snap.blocks.push_back(copy_of(s.contents(vf, block_id{id})));
    snap.pending0 = s.pending_invalidations(0).bits();
    snap.pending1 = s.pending_invalidations(1).bits();
    snap.q0 = s.quarantined(0);
    snap.q1 = s.quarantined(1);
    snap.in_flight0 = s.in_flight(0);
    snap.in_flight1 = s.in_flight(1);
    snap.reads0 = s.counters(0).reads;
    snap.writes0 = s.counters(0).writes;
    snap.reads1 = s.counters(1).reads;
    snap.writes1 = s.counters(1).writes;
    return snap;
  }
  void expect_unchanged(const snapshot& before) const {
    const snapshot now = take();
    BOOST_REQUIRE(now.blocks.size() == before.blocks.size());
    for (std::size_t i = 0; i < now.blocks.size(); ++i) {
      BOOST_TEST_CONTEXT("vf " << i / 64 << " block " << i % 64) {
        BOOST_TEST(now.blocks[i] == before.blocks[i], boost::test_tools::per_element());
      }
    }
    BOOST_TEST(now.pending0 == before.pending0);
    BOOST_TEST(now.pending1 == before.pending1);
    BOOST_TEST((now.q0 == before.q0));
    BOOST_TEST((now.q1 == before.q1));
    BOOST_TEST(now.in_flight0 == before.in_flight0);
    BOOST_TEST(now.in_flight1 == before.in_flight1);
    BOOST_TEST(now.reads0 == before.reads0);
    BOOST_TEST(now.writes0 == before.writes0);
    BOOST_TEST(now.reads1 == before.reads1);
    BOOST_TEST(now.writes1 == before.writes1);
  }
};

// A handler whose answers the test scripts; it records what it was called with.
class scripted_handler final : public block_handler {
 public:
  ntstatus read_status{ntstatus::success};
  std::size_t claim{0};
  std::vector<std::byte> fill;
  ntstatus write_status{ntstatus::success};
  int reads{0};
  int writes{0};
  std::size_t out_size{0};
  std::vector<std::byte> written;
  vf_index last_vf{0xFFFF};
  std::uint32_t last_id{0xFFFFFFFF};

  ntstatus on_read(vf_index vf, block_id id, std::span<std::byte> out, std::size_t& bytes) override {
    ++reads;
    last_vf = vf;
    last_id = id.value();
    out_size = out.size();
    for (std::size_t i = 0; i < fill.size() && i < out.size(); ++i) out[i] = fill[i];
    bytes = claim;
    return read_status;
  }
  ntstatus on_write(vf_index vf, block_id id, std::span<const std::byte> data) override {
    ++writes;
    last_vf = vf;
    last_id = id.value();
    written = copy_of(data);
    return write_status;
  }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(pf_blocks_suite)

BOOST_AUTO_TEST_CASE(register_unregister_and_reset) {
  auto owned = std::make_unique<store_type>();
  store_type& s = *owned;
  BOOST_TEST(!s.registered(0));
  BOOST_TEST((s.register_vf(4, 1) == errc::invalid_argument));  // MaxVfs = 4: index 4 is out of range
  BOOST_TEST(!s.registered(4));
  BOOST_TEST((s.register_vf(0, 0x0201) == no_error));
  BOOST_TEST(s.registered(0));
  BOOST_TEST(s.routing_id(0) == 0x0201u);
  BOOST_TEST((s.register_vf(0, 0x0999) == errc::invalid_argument));  // already registered: nothing changes
  BOOST_TEST(s.routing_id(0) == 0x0201u);
  BOOST_TEST(s.routing_id(1) == 0u);
  BOOST_TEST((s.unregister_vf(1) == errc::not_found));
  BOOST_TEST((s.reset_vf(1) == errc::not_found));
  BOOST_TEST((s.reset_vf(9) == errc::not_found));

  const auto bytes = pattern(4, 1);
  BOOST_TEST((s.define_block(0, block_id{7}, bytes) == no_error));
  BOOST_TEST((s.invalidate(0, block_mask{0b10}) == no_error));
  s.quarantine(0, quarantine_reason::overflow);
  BOOST_TEST((s.unregister_vf(0) == no_error));
  BOOST_TEST(!s.registered(0));
  BOOST_TEST(!s.defined(0, block_id{7}));
  BOOST_TEST(s.contents(0, block_id{7}).empty());
  // Registered again, the VF starts clean: no blocks, no invalidations, no quarantine.
  BOOST_TEST((s.register_vf(0, 0x0202) == no_error));
  BOOST_TEST(s.routing_id(0) == 0x0202u);
  BOOST_TEST(!s.defined(0, block_id{7}));
  BOOST_TEST(s.pending_invalidations(0).empty());
  BOOST_TEST((s.quarantined(0) == quarantine_reason::none));
  BOOST_TEST(s.counters(0).violations == 0u);
}

BOOST_AUTO_TEST_CASE(unregistering_the_owner_turns_access_denied_into_invalid_parameter) {
  store_fixture f;
  std::array<std::byte, 8> out{};
  BOOST_TEST((f.s.serve_read(0, block_id{20}, 8, out).status == ntstatus::access_denied));
  BOOST_TEST((f.s.unregister_vf(1) == no_error));
  BOOST_TEST((f.s.serve_read(0, block_id{20}, 8, out).status == ntstatus::invalid_parameter));
  // Two owners: the block stays "another VF's" until both are gone.
  BOOST_TEST((f.s.register_vf(1, 1) == no_error));
  BOOST_TEST((f.s.register_vf(2, 2) == no_error));
  BOOST_TEST((f.s.define_block(1, block_id{21}, pattern(2, 0)) == no_error));
  BOOST_TEST((f.s.define_block(2, block_id{21}, pattern(2, 0)) == no_error));
  BOOST_TEST((f.s.define_block(2, block_id{21}, pattern(3, 0)) == no_error));  // redefinition: still one owner
  BOOST_TEST((f.s.unregister_vf(1) == no_error));
  BOOST_TEST((f.s.serve_read(0, block_id{21}, 8, out).status == ntstatus::access_denied));
  BOOST_TEST((f.s.unregister_vf(2) == no_error));
  BOOST_TEST((f.s.serve_read(0, block_id{21}, 8, out).status == ntstatus::invalid_parameter));
}

BOOST_AUTO_TEST_CASE(define_store_load_typed_and_raw) {
  store_fixture f;
  store_type& s = f.s;
  // Typed: little-endian bytes, decoded back by load.
  const auto word = s.contents(0, word_block::id);
  BOOST_TEST(copy_of(word) == (std::vector<std::byte>{std::byte{0x44}, std::byte{0x33}, std::byte{0x22}, std::byte{0x11}}),
             boost::test_tools::per_element());
  auto loaded = s.load<word_block>(0);
  BOOST_REQUIRE(loaded.has_value());
  BOOST_TEST(*loaded == 0x11223344u);
  BOOST_TEST((s.store<word_block>(0, 0xCAFEF00Du) == no_error));
  BOOST_TEST(*s.load<word_block>(0) == 0xCAFEF00Du);
  BOOST_TEST((s.load<word_block>(1).error() == errc::not_found));
  BOOST_TEST((s.define<pair_block>(1, pair_value{0x0102, 0x03}) == no_error));
  BOOST_TEST(s.contents(1, pair_block::id).size() == 3u);
  BOOST_TEST(s.load<pair_block>(1)->a == 0x0102u);
  BOOST_TEST(s.load<pair_block>(1)->b == 0x03u);
  BOOST_TEST((s.store<pair_block>(0, pair_value{1, 2}) == errc::not_found));  // VF 0 has no block 9

  // Raw.
  BOOST_TEST(copy_of(s.contents(0, block_id{5})) == f.b5, boost::test_tools::per_element());
  const auto next = pattern(16, 0x99);
  BOOST_TEST((s.store(0, block_id{5}, next) == no_error));
  BOOST_TEST(copy_of(s.contents(0, block_id{5})) == next, boost::test_tools::per_element());
  // Refusals change nothing.
  BOOST_TEST((s.store(0, block_id{5}, pattern(15, 0)) == errc::invalid_length));
  BOOST_TEST((s.store(0, block_id{5}, pattern(17, 0)) == errc::invalid_length));
  BOOST_TEST((s.store(0, block_id{8}, pattern(16, 0)) == errc::not_found));
  BOOST_TEST((s.store(3, block_id{5}, pattern(16, 0)) == errc::not_found));
  BOOST_TEST(copy_of(s.contents(0, block_id{5})) == next, boost::test_tools::per_element());
  BOOST_TEST((s.define_block(3, block_id{1}, pattern(4, 0)) == errc::not_found));  // VF 3 not registered
  BOOST_TEST((s.define_block(0, block_id{64}, pattern(4, 0)) == errc::invalid_block_id));
  BOOST_TEST((s.define_block(0, block_id{8}, {}) == errc::invalid_length));
  BOOST_TEST((s.define_block(0, block_id{8}, pattern(129, 0)) == errc::invalid_length));
  BOOST_TEST(!s.defined(0, block_id{8}));
  BOOST_TEST(!s.defined(0, block_id{64}));
  BOOST_TEST((s.define_block(0, block_id{8}, pattern(128, 0)) == no_error));
  BOOST_TEST(s.contents(0, block_id{8}).size() == 128u);
  // Redefinition replaces size and contents.
  BOOST_TEST((s.define_block(0, block_id{8}, pattern(1, 0x42)) == no_error));
  BOOST_TEST(copy_of(s.contents(0, block_id{8})) == (std::vector<std::byte>{std::byte{0x42}}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(serve_read_statuses_follow_the_status_table) {
  store_fixture f;
  std::array<std::byte, 128> out{};
  struct row {
    vf_index vf;
    std::uint32_t id;
    std::size_t length;
    ntstatus status;
    const char* what;
  };
  const row rows[] = {
      {0, 5, 0, ntstatus::invalid_parameter, "length 0"},
      {0, 5, 129, ntstatus::invalid_parameter, "length 129"},
      {0, 5, 0xFFFFFFFF, ntstatus::invalid_parameter, "length 2^32-1"},
      {0, 20, 8, ntstatus::access_denied, "another VF's block"},
      {0, 40, 8, ntstatus::invalid_parameter, "a block nobody defines"},
      {0, 64, 8, ntstatus::invalid_parameter, "block 64"},
      {0, 0xFFFFFFFF, 8, ntstatus::invalid_parameter, "block 0xFFFFFFFF"},
      {0, 5, 15, ntstatus::buffer_too_small, "one byte short"},
      {0, 5, 1, ntstatus::buffer_too_small, "1 byte of 16"},
      {0, 7, 8, ntstatus::access_denied, "write-only block"},
      {1, 5, 16, ntstatus::access_denied, "VF 1 reads VF 0's block"},
      {2, 5, 16, ntstatus::access_denied, "an unregistered VF"},
      {0, 20, 0, ntstatus::invalid_parameter, "length is checked before the owner"},
      {0, 40, 129, ntstatus::invalid_parameter, "both wrong"},
  };
  for (const row& r : rows) {
    BOOST_TEST_CONTEXT(r.what) {
      out.fill(std::byte{0xEE});
      const auto before = f.take();
      const serve_result answer = f.s.serve_read(r.vf, block_id{r.id}, r.length, out);
      BOOST_TEST((answer.status == r.status));
      BOOST_TEST(answer.bytes == 0u);
      f.expect_unchanged(before);
      // Nothing leaked into the answer buffer.
      for (std::byte b : out) BOOST_TEST(b == std::byte{0xEE});
    }
  }
  BOOST_TEST(f.s.counters(0).refused == 12u);  // unregistered VF 2 has no counters to bump; VF 1 refused once
  BOOST_TEST(f.s.counters(1).refused == 1u);

  // Successes: the block's full size, whatever larger length was requested.
  for (std::size_t length : {std::size_t{16}, std::size_t{17}, std::size_t{128}}) {
    out.fill(std::byte{0});
    const serve_result answer = f.s.serve_read(0, block_id{5}, length, out);
    BOOST_TEST((answer.status == ntstatus::success));
    BOOST_TEST(answer.bytes == 16u);
    BOOST_TEST(copy_of(std::span(out).first(16)) == f.b5, boost::test_tools::per_element());
    BOOST_TEST(out[16] == std::byte{0});
  }
  const serve_result ro = f.s.serve_read(0, block_id{6}, 8, out);
  BOOST_TEST((ro.status == ntstatus::success));
  BOOST_TEST(ro.bytes == 8u);
  BOOST_TEST(f.s.counters(0).reads == 4u);
  const serve_result other = f.s.serve_read(1, block_id{20}, 8, out);
  BOOST_TEST((other.status == ntstatus::success));
  BOOST_TEST(copy_of(std::span(out).first(8)) == f.b20, boost::test_tools::per_element());
  // An answer buffer shorter than the block: refused, not over-written.
  std::array<std::byte, 15> short_out{};
  BOOST_TEST((f.s.serve_read(0, block_id{5}, 16, short_out).status == ntstatus::buffer_too_small));
  BOOST_TEST(short_out == (std::array<std::byte, 15>{}));
}

BOOST_AUTO_TEST_CASE(serve_write_statuses_follow_the_status_table) {
  store_fixture f;
  const auto data129 = pattern(129, 1);
  const std::span<const std::byte> all{data129};
  struct row {
    vf_index vf;
    std::uint32_t id;
    std::size_t length;
    ntstatus status;
    const char* what;
  };
  const row rows[] = {
      {0, 5, 0, ntstatus::invalid_parameter, "length 0"},
      {0, 5, 129, ntstatus::invalid_parameter, "length 129"},
      {0, 20, 8, ntstatus::access_denied, "another VF's block"},
      {0, 40, 8, ntstatus::invalid_parameter, "a block nobody defines"},
      {0, 64, 8, ntstatus::invalid_parameter, "block 64"},
      {0, 5, 15, ntstatus::invalid_parameter, "shorter than the block"},
      {0, 5, 17, ntstatus::invalid_parameter, "longer than the block"},
      {0, 6, 8, ntstatus::access_denied, "read-only block"},
      {1, 5, 16, ntstatus::access_denied, "VF 1 writes VF 0's block"},
      {3, 5, 16, ntstatus::access_denied, "an unregistered VF"},
  };
  for (const row& r : rows) {
    BOOST_TEST_CONTEXT(r.what) {
      const auto before = f.take();
      const serve_result answer = f.s.serve_write(r.vf, block_id{r.id}, all.first(r.length));
      BOOST_TEST((answer.status == r.status));
      BOOST_TEST(answer.bytes == 0u);
      f.expect_unchanged(before);
    }
  }
  const auto next = pattern(16, 0x33);
  const serve_result ok = f.s.serve_write(0, block_id{5}, next);
  BOOST_TEST((ok.status == ntstatus::success));
  BOOST_TEST(ok.bytes == 16u);
  BOOST_TEST(copy_of(f.s.contents(0, block_id{5})) == next, boost::test_tools::per_element());
  const auto wo = pattern(8, 0x44);
  BOOST_TEST((f.s.serve_write(0, block_id{7}, wo).status == ntstatus::success));
  BOOST_TEST(copy_of(f.s.contents(0, block_id{7})) == wo, boost::test_tools::per_element());
  BOOST_TEST(f.s.counters(0).writes == 2u);
  BOOST_TEST(f.s.counters(0).refused == 8u);
}

BOOST_AUTO_TEST_CASE(handler_statuses_pass_through_and_byte_counts_are_checked) {
  store_fixture f;
  scripted_handler h;
  BOOST_REQUIRE((f.s.define_block(0, block_id{11}, pattern(10, 0), block_access::read_write, &h) == no_error));
  std::array<std::byte, 128> out{};

  h.fill = pattern(10, 0x50);
  h.claim = 10;
  serve_result r = f.s.serve_read(0, block_id{11}, 64, out);
  BOOST_TEST((r.status == ntstatus::success));
  BOOST_TEST(r.bytes == 10u);
  BOOST_TEST(h.out_size == 10u);  // the handler sees exactly the block's size
  BOOST_TEST(h.last_vf == 0u);
  BOOST_TEST(h.last_id == 11u);
  BOOST_TEST(copy_of(std::span(out).first(10)) == h.fill, boost::test_tools::per_element());

  h.claim = 4;  // fewer bytes than the block: reported as produced
  r = f.s.serve_read(0, block_id{11}, 10, out);
  BOOST_TEST((r.status == ntstatus::success));
  BOOST_TEST(r.bytes == 4u);

  h.claim = 1000;  // more than the block holds: clamped, never over-read
  r = f.s.serve_read(0, block_id{11}, 10, out);
  BOOST_TEST((r.status == ntstatus::success));
  BOOST_TEST(r.bytes == 10u);

  h.claim = 0;  // success with no bytes is not a success
  r = f.s.serve_read(0, block_id{11}, 10, out);
  BOOST_TEST((r.status == ntstatus::unsuccessful));
  BOOST_TEST(r.bytes == 0u);

  for (ntstatus s : {ntstatus::device_not_ready, ntstatus::not_supported, ntstatus::bad_data,
                     static_cast<ntstatus>(0xE0001234u)}) {
    h.read_status = s;
    h.claim = 10;
    r = f.s.serve_read(0, block_id{11}, 10, out);
    BOOST_TEST((r.status == s));
    BOOST_TEST(r.bytes == 0u);
    h.write_status = s;
    const serve_result w = f.s.serve_write(0, block_id{11}, pattern(10, 9));
    BOOST_TEST((w.status == s));
    BOOST_TEST(w.bytes == 0u);
  }
  h.write_status = ntstatus::success;
  const auto data = pattern(10, 0x77);
  const serve_result w = f.s.serve_write(0, block_id{11}, data);
  BOOST_TEST((w.status == ntstatus::success));
  BOOST_TEST(w.bytes == 10u);
  BOOST_TEST(h.written == data, boost::test_tools::per_element());
  // A handler block's stored contents belong to the IHV's definition, not to the VF's writes.
  BOOST_TEST(copy_of(f.s.contents(0, block_id{11})) == pattern(10, 0), boost::test_tools::per_element());
  // Refused before the handler: it is never called.
  const int reads = h.reads;
  const int writes = h.writes;
  BOOST_TEST((f.s.serve_read(0, block_id{11}, 9, out).status == ntstatus::buffer_too_small));
  BOOST_TEST((f.s.serve_write(0, block_id{11}, pattern(9, 0)).status == ntstatus::invalid_parameter));
  BOOST_TEST(h.reads == reads);
  BOOST_TEST(h.writes == writes);
}

BOOST_AUTO_TEST_CASE(admission_caps_requests_in_flight) {
  store_fixture f;  // max_in_flight = 4
  BOOST_TEST(f.s.limits().max_in_flight == 4u);
  for (int i = 0; i < 4; ++i) BOOST_TEST((f.s.admit(0) == ntstatus::success));
  BOOST_TEST(f.s.in_flight(0) == 4u);
  for (int i = 0; i < 100; ++i) BOOST_TEST((f.s.admit(0) == ntstatus::device_not_ready));
  BOOST_TEST(f.s.in_flight(0) == 4u);
  BOOST_TEST(f.s.counters(0).busy == 100u);
  // A busy VF is never quarantined for it, and the other VF is unaffected.
  BOOST_TEST((f.s.quarantined(0) == quarantine_reason::none));
  BOOST_TEST((f.s.admit(1) == ntstatus::success));
  f.s.retire(0);
  BOOST_TEST(f.s.in_flight(0) == 3u);
  BOOST_TEST((f.s.admit(0) == ntstatus::success));
  for (int i = 0; i < 10; ++i) f.s.retire(0);  // never below zero
  BOOST_TEST(f.s.in_flight(0) == 0u);
  BOOST_TEST((f.s.admit(3) == ntstatus::access_denied));  // unregistered
  f.s.retire(3);
  BOOST_TEST(f.s.in_flight(3) == 0u);
  // A reset clears the in-flight accounting.
  for (int i = 0; i < 4; ++i) BOOST_TEST((f.s.admit(0) == ntstatus::success));
  BOOST_TEST((f.s.reset_vf(0) == no_error));
  BOOST_TEST(f.s.in_flight(0) == 0u);
  BOOST_TEST((f.s.admit(0) == ntstatus::success));
}

BOOST_AUTO_TEST_CASE(quarantine_only_on_overflow_or_violation) {
  store_fixture f;
  std::array<std::byte, 128> out{};
  // Thousands of refused requests never quarantine.
  for (int i = 0; i < 5000; ++i) {
    (void)f.s.serve_read(0, block_id{20}, 8, out);
    (void)f.s.serve_read(0, block_id{5}, 0, out);
    (void)f.s.serve_write(0, block_id{6}, pattern(8, 0));
  }
  BOOST_TEST((f.s.quarantined(0) == quarantine_reason::none));
  BOOST_TEST(f.s.counters(0).refused == 15000u);
  BOOST_TEST(f.s.counters(0).violations == 0u);
  BOOST_TEST((f.s.serve_read(0, block_id{5}, 16, out).status == ntstatus::success));

  f.s.quarantine(0, quarantine_reason::none);  // not a reason
  BOOST_TEST((f.s.quarantined(0) == quarantine_reason::none));
  f.s.quarantine(0, quarantine_reason::overflow);
  BOOST_TEST((f.s.quarantined(0) == quarantine_reason::overflow));
  f.s.quarantine(0, quarantine_reason::protocol_violation);  // counted, the first reason stays
  BOOST_TEST((f.s.quarantined(0) == quarantine_reason::overflow));
  BOOST_TEST(f.s.counters(0).violations == 1u);

  // Quarantined: everything is access denied and nothing changes; VF 1 is still served.
  const auto before = f.take();
  out.fill(std::byte{0xEE});
  BOOST_TEST((f.s.serve_read(0, block_id{5}, 16, out).status == ntstatus::access_denied));
  BOOST_TEST((f.s.serve_read(0, block_id{5}, 0, out).status == ntstatus::access_denied));
  BOOST_TEST((f.s.serve_write(0, block_id{5}, pattern(16, 0)).status == ntstatus::access_denied));
  const auto dropped = f.s.counters(0).dropped;
  BOOST_TEST((f.s.admit(0) == ntstatus::access_denied));
  BOOST_TEST(f.s.counters(0).dropped == dropped + 1);
  f.expect_unchanged(before);
  for (std::byte b : out) BOOST_TEST(b == std::byte{0xEE});
  BOOST_TEST((f.s.serve_read(1, block_id{20}, 8, out).status == ntstatus::success));

  // A reset lifts it; the blocks are still defined.
  BOOST_TEST((f.s.reset_vf(0) == no_error));
  BOOST_TEST((f.s.quarantined(0) == quarantine_reason::none));
  BOOST_TEST((f.s.serve_read(0, block_id{5}, 16, out).status == ntstatus::success));
  f.s.quarantine(1, quarantine_reason::protocol_violation);
  BOOST_TEST((f.s.quarantined(1) == quarantine_reason::protocol_violation));
  BOOST_TEST((f.s.quarantined(0) == quarantine_reason::none));
  f.s.quarantine(3, quarantine_reason::overflow);  // unregistered: ignored
  BOOST_TEST((f.s.quarantined(3) == quarantine_reason::none));
}

BOOST_AUTO_TEST_CASE(invalidations_coalesce_and_survive_reset) {
  store_fixture f;
  BOOST_TEST((f.s.invalidate(0, block_mask{0b0001}) == no_error));
  BOOST_TEST((f.s.invalidate(0, block_mask{0b0100}) == no_error));
  BOOST_TEST((f.s.invalidate(0, block_mask{0b0101}) == no_error));
  BOOST_TEST((f.s.invalidate(0, block_mask{std::uint64_t{1} << 63}) == no_error));
  BOOST_TEST(f.s.pending_invalidations(0).bits() == ((std::uint64_t{1} << 63) | 0b0101u));
  BOOST_TEST(f.s.pending_invalidations(1).empty());
  BOOST_TEST((f.s.invalidate(2, block_mask{1}) == errc::not_found));  // unregistered
  BOOST_TEST(f.s.pending_invalidations(2).empty());

  f.s.invalidate_all(block_mask{0b1000});
  BOOST_TEST(f.s.pending_invalidations(0).bits() == ((std::uint64_t{1} << 63) | 0b1101u));
  BOOST_TEST(f.s.pending_invalidations(1).bits() == 0b1000u);
  BOOST_TEST(f.s.pending_invalidations(2).empty());  // only registered VFs
  BOOST_TEST((f.s.register_vf(2, 3) == no_error));
  BOOST_TEST(f.s.pending_invalidations(2).empty());

  // A VF reset keeps pending invalidations (never lost), and so does quarantine.
  f.s.quarantine(0, quarantine_reason::protocol_violation);
  BOOST_TEST((f.s.reset_vf(0) == no_error));
  BOOST_TEST(f.s.pending_invalidations(0).bits() == ((std::uint64_t{1} << 63) | 0b1101u));

  BOOST_TEST(f.s.take_invalidations(0).bits() == ((std::uint64_t{1} << 63) | 0b1101u));
  BOOST_TEST(f.s.pending_invalidations(0).empty());
  BOOST_TEST(f.s.take_invalidations(0).empty());
  BOOST_TEST(f.s.take_invalidations(3).empty());
  BOOST_TEST(f.s.pending_invalidations(1).bits() == 0b1000u);
  BOOST_TEST((f.s.unregister_vf(1) == no_error));
  BOOST_TEST(f.s.pending_invalidations(1).empty());
}

BOOST_AUTO_TEST_SUITE_END()
