// The PF's block store (engine::pf_blocks): VF lifecycle, typed and raw blocks, the status of every
// serve_read / serve_write refusal exactly as docs/protocol.md's status table gives it, the state left
// unchanged by every refusal, admission (busy cap), quarantine only on overflow or violation,
// OR-coalesced invalidations; any 32-bit block ID (sparse IDs), capacity fixed at compile time, by the
// caller or by default, refused beyond it with nothing changed, and the packed arena checked against a
// model through thousands of random definitions, redefinitions and removals.
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <new>
#include <ostream>
#include <random>
#include <span>
#include <stdexcept>
#include <utility>
#include <vector>

#include <vpci/engine/pf_blocks.hpp>

#include "test_support.hpp"

BOOST_AUTO_TEST_SUITE(pf_blocks_test)

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

// IDs a snapshot looks at beyond 0..63: the edges of the 32-bit range and around the mask's end.
constexpr std::uint32_t sparse_ids[] = {64, 65, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFE, 0xFFFFFFFF};

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
    for (vf_index vf : {vf_index{0}, vf_index{1}}) {
      for (std::uint32_t id = 0; id < 64; ++id) snap.blocks.push_back(copy_of(s.contents(vf, block_id{id})));
      for (std::uint32_t id : sparse_ids) snap.blocks.push_back(copy_of(s.contents(vf, block_id{id})));
    }
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
      BOOST_TEST_CONTEXT("snapshot entry " << i) {
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


// A read and a write of VF 0's computed block `id` (`size` bytes) are both answered STATUS_UNSUCCESSFUL
// with nothing transferred, and counted as refused, not as served.
void expect_read_and_write_unsuccessful(store_fixture& f, block_id id, std::size_t size) {
  std::array<std::byte, 128> out{};
  const vf_counters before = f.s.counters(0);
  const serve_result r = f.s.serve_read(0, id, size, out);
  BOOST_TEST((r.status == ntstatus::unsuccessful));
  BOOST_TEST(r.bytes == 0u);
  const serve_result w = f.s.serve_write(0, id, pattern(size, 0x70));
  BOOST_TEST((w.status == ntstatus::unsuccessful));
  BOOST_TEST(w.bytes == 0u);
  BOOST_TEST(f.s.counters(0).refused == before.refused + 2);
  BOOST_TEST(f.s.counters(0).reads == before.reads);
  BOOST_TEST(f.s.counters(0).writes == before.writes);
}
}  // namespace

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

// A block defined raw with another size than a descriptor gives loads of that descriptor the same error a
// VF's typed read of it gets, not invalid_length ("block length must be 1 to 128 bytes").
BOOST_AUTO_TEST_CASE(a_typed_load_of_a_block_of_another_size_is_a_size_mismatch) {
  store_fixture f;
  BOOST_TEST_REQUIRE((f.s.define_block(1, word_block::id, pattern(6, 0x10)) == no_error));
  BOOST_TEST((f.s.load<word_block>(1).error() == errc::block_size_mismatch));
  BOOST_TEST(copy_of(f.s.contents(1, word_block::id)) == pattern(6, 0x10), boost::test_tools::per_element());
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
  BOOST_TEST((s.define_block(0, block_id{8}, {}) == errc::invalid_length));
  BOOST_TEST((s.define_block(0, block_id{8}, pattern(129, 0)) == errc::invalid_length));
  BOOST_TEST(!s.defined(0, block_id{8}));
  // Any 32-bit ID is a block ID (only invalidation stops at 63).
  BOOST_TEST((s.define_block(0, block_id{64}, pattern(4, 0)) == no_error));
  BOOST_TEST(s.defined(0, block_id{64}));
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

// prefetch is a hint: whatever it names (the VF's own block, a computed one, another VF's, none, an
// unregistered or out-of-range VF), no handler runs and no counter, content or quarantine changes.
BOOST_AUTO_TEST_CASE(prefetch_is_a_hint_that_changes_nothing) {
  store_fixture f;
  scripted_handler h;
  BOOST_REQUIRE((f.s.define_block(0, block_id{11}, pattern(10, 0), block_access::read_write, &h) == no_error));
  const auto same_counters = [](const vf_counters& a, const vf_counters& b) {
    return a.reads == b.reads && a.writes == b.writes && a.refused == b.refused && a.busy == b.busy &&
           a.dropped == b.dropped && a.violations == b.violations;
  };
  const vf_counters before0 = f.s.counters(0);
  const vf_counters before1 = f.s.counters(1);
  const struct {
    vf_index vf;
    std::uint32_t id;
  } named[] = {{0, 5}, {0, 11}, {0, 20}, {0, 9}, {0, 0xFFFF'FFFF}, {1, 5}, {3, 5}, {4, 5}, {0xFFFF, 5}};
  for (const auto& n : named) f.s.prefetch(n.vf, block_id{n.id});
  BOOST_TEST(h.reads == 0);
  BOOST_TEST(h.writes == 0);
  BOOST_TEST(same_counters(f.s.counters(0), before0));
  BOOST_TEST(same_counters(f.s.counters(1), before1));
  BOOST_TEST((f.s.quarantined(0) == quarantine_reason::none));
  BOOST_TEST(copy_of(f.s.contents(0, block_id{5})) == f.b5, boost::test_tools::per_element());
  BOOST_TEST(!f.s.registered(3));
}

// A handler that returns a status NT_SUCCESS takes for success but that is not STATUS_SUCCESS (a ported
// miniport's STATUS_PENDING / NDIS_STATUS_PENDING, an informational value): it was forwarded with no bytes,
// and the VFs read it three ways (binding 2 took it for success: a read delivered padding as data, a
// write the PF refused reported done; binding 1 a protocol violation). It is answered as
// STATUS_UNSUCCESSFUL now, on both bindings, counted as refused; warnings and errors pass unchanged.
BOOST_AUTO_TEST_CASE(a_handler_status_a_vf_would_take_for_success_is_answered_unsuccessful) {
  store_fixture f;
  scripted_handler h;
  BOOST_REQUIRE((f.s.define_block(0, block_id{11}, pattern(10, 0), block_access::read_write, &h) == no_error));
  std::array<std::byte, 128> out{};
  h.fill = pattern(10, 0x50);
  h.claim = 10;
  const ntstatus success_like[] = {ntstatus::pending, static_cast<ntstatus>(0x00000001u),
                                   static_cast<ntstatus>(0x40000000u), static_cast<ntstatus>(0x7FFFFFFFu)};
  for (const ntstatus status : success_like) {
    BOOST_TEST_CONTEXT("handler status " << std::hex << static_cast<std::uint32_t>(status)) {
      h.read_status = h.write_status = status;
      expect_read_and_write_unsuccessful(f, block_id{11}, 10);
    }
  }
  for (const ntstatus status : {ntstatus::buffer_overflow, ntstatus::access_denied, static_cast<ntstatus>(0xC0000001u)}) {
    BOOST_TEST_CONTEXT("handler status " << std::hex << static_cast<std::uint32_t>(status)) {
      h.read_status = h.write_status = status;
      BOOST_TEST((f.s.serve_read(0, block_id{11}, 64, out).status == status));
      BOOST_TEST((f.s.serve_write(0, block_id{11}, pattern(10, 0x70)).status == status));
    }
  }
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

// A handler that throws took the whole PF down: serve_read and serve_write are noexcept, and the
// exception of one VF's request reached std::terminate. The store catches it (hosted, with exceptions):
// that request alone fails, STATUS_UNSUCCESSFUL with no bytes, counted as refused; nothing else changes,
// and the next request is served.
class throwing_handler final : public block_handler {
 public:
  ntstatus on_read(vf_index, block_id, std::span<std::byte> out, std::size_t& bytes) override {
    out[0] = std::byte{0xEE};
    bytes = out.size();
    throw std::runtime_error("the IHV's read failed");
  }
  ntstatus on_write(vf_index, block_id, std::span<const std::byte>) override { throw std::bad_alloc(); }
};

BOOST_AUTO_TEST_CASE(a_block_handler_that_throws_fails_that_request_alone) {
  store_fixture f;
  throwing_handler handler;
  BOOST_REQUIRE((f.s.define_block(0, block_id{30}, pattern(8, 0x30), block_access::read_write, &handler) == no_error));
  const auto before = f.take();
  expect_read_and_write_unsuccessful(f, block_id{30}, 8);
  f.expect_unchanged(before);

  std::array<std::byte, 128> out{};
  const serve_result next = f.s.serve_read(0, block_id{5}, 16, out);
  BOOST_TEST((next.status == ntstatus::success));
  BOOST_TEST(copy_of(std::span<const std::byte>(out).first(16)) == f.b5, boost::test_tools::per_element());
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
}

// A VF reset (an FLR, or the mailbox's RESET) zeroed the in-flight count, which counts the answers the
// Hyper-V binding admitted and still holds: each is retired when handed (or when serving stops), so after
// a reset those retirements went missing from a count already at 0, and the VF had up to twice the cap
// admitted. A reset lifts quarantine and leaves the count to the binding that admitted.
BOOST_AUTO_TEST_CASE(a_vf_reset_keeps_the_in_flight_count_of_answers_not_yet_handed) {
  store_fixture f;  // max_in_flight = 4
  for (int i = 0; i < 4; ++i) BOOST_REQUIRE((f.s.admit(0) == ntstatus::success));
  f.s.quarantine(0, quarantine_reason::overflow);
  BOOST_TEST((f.s.reset_vf(0) == no_error));
  BOOST_TEST((f.s.quarantined(0) == quarantine_reason::none));
  BOOST_TEST(f.s.in_flight(0) == 4u);
  BOOST_TEST((f.s.admit(0) == ntstatus::device_not_ready));
  BOOST_TEST(f.s.in_flight(0) == 4u);
  for (int i = 0; i < 4; ++i) f.s.retire(0);  // the four answers handed
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

// Sparse IDs: 0, 63, 64, 0x80000000 and 0xFFFFFFFF are blocks like any other, each its own, on every path.
BOOST_AUTO_TEST_CASE(sparse_ids_are_blocks_like_any_other) {
  store_fixture f;
  store_type& s = f.s;
  const std::uint32_t ids[] = {0, 63, 64, 0x80000000, 0xFFFFFFFF};
  std::map<std::uint32_t, std::vector<std::byte>> vf0;
  for (std::size_t i = 0; i < std::size(ids); ++i) {
    vf0[ids[i]] = pattern(1 + i * 31, static_cast<unsigned>(0x20 + i));  // 1, 32, 63, 94 and 125 bytes
    BOOST_REQUIRE((s.define_block(0, block_id{ids[i]}, vf0[ids[i]]) == no_error));
  }
  // VF 1 defines two of the same IDs with other sizes, in the other order.
  const auto vf1_far = pattern(7, 0xC0);
  const auto vf1_64 = pattern(128, 0xD0);
  BOOST_REQUIRE((s.define_block(1, block_id{0xFFFFFFFF}, vf1_far) == no_error));
  BOOST_REQUIRE((s.define_block(1, block_id{64}, vf1_64) == no_error));

  std::array<std::byte, 128> out{};
  for (std::uint32_t id : ids) {
    BOOST_TEST_CONTEXT("block 0x" << std::hex << id) {
      BOOST_TEST(s.defined(0, block_id{id}));
      BOOST_TEST(copy_of(s.contents(0, block_id{id})) == vf0[id], boost::test_tools::per_element());
      const serve_result answer = s.serve_read(0, block_id{id}, 128, out);
      BOOST_TEST((answer.status == ntstatus::success));
      BOOST_REQUIRE(answer.bytes == vf0[id].size());
      BOOST_TEST(copy_of(std::span(out).first(answer.bytes)) == vf0[id], boost::test_tools::per_element());
    }
  }
  serve_result answer = s.serve_read(1, block_id{64}, 128, out);
  BOOST_TEST((answer.status == ntstatus::success));
  BOOST_TEST(copy_of(std::span(out).first(answer.bytes)) == vf1_64, boost::test_tools::per_element());
  answer = s.serve_read(1, block_id{0xFFFFFFFF}, 128, out);
  BOOST_TEST(copy_of(std::span(out).first(answer.bytes)) == vf1_far, boost::test_tools::per_element());

  // Refusals change nothing: another VF's sparse block, IDs next to the defined ones that nobody defines.
  const auto before = f.take();
  out.fill(std::byte{0xEE});
  BOOST_TEST((s.serve_read(1, block_id{0x80000000}, 128, out).status == ntstatus::access_denied));
  BOOST_TEST((s.serve_write(1, block_id{63}, vf0[63]).status == ntstatus::access_denied));
  for (std::uint32_t id : {1u, 62u, 65u, 0x7FFFFFFFu, 0x80000001u, 0xFFFFFFFEu}) {
    BOOST_TEST_CONTEXT("nobody's block 0x" << std::hex << id) {
      BOOST_TEST((s.serve_read(0, block_id{id}, 128, out).status == ntstatus::invalid_parameter));
      BOOST_TEST((s.serve_write(0, block_id{id}, pattern(4, 0)).status == ntstatus::invalid_parameter));
    }
  }
  BOOST_TEST((s.serve_read(2, block_id{0xFFFFFFFF}, 128, out).status == ntstatus::access_denied));  // unregistered
  BOOST_TEST((s.store(0, block_id{0xFFFFFFFE}, pattern(4, 0)) == errc::not_found));
  f.expect_unchanged(before);
  for (std::byte b : out) BOOST_TEST(b == std::byte{0xEE});

  // Writes and the PF's updates reach exactly their block.
  const auto written = pattern(125, 0x77);
  BOOST_TEST((s.serve_write(0, block_id{0xFFFFFFFF}, written).status == ntstatus::success));
  vf0[0xFFFFFFFF] = written;
  const auto updated = pattern(94, 0x55);
  BOOST_TEST((s.store(0, block_id{0x80000000}, updated) == no_error));
  vf0[0x80000000] = updated;
  for (std::uint32_t id : ids) BOOST_TEST(copy_of(s.contents(0, block_id{id})) == vf0[id], boost::test_tools::per_element());
  BOOST_TEST(copy_of(s.contents(1, block_id{0xFFFFFFFF})) == vf1_far, boost::test_tools::per_element());

  // Typed blocks with far IDs.
  using far_block = block<0x80000000u, std::uint32_t>;
  BOOST_TEST((s.define<far_block>(1, 0xA1B2C3D4u) == no_error));
  BOOST_TEST(*s.load<far_block>(1) == 0xA1B2C3D4u);
  BOOST_TEST((s.store<far_block>(1, 0x01020304u) == no_error));
  BOOST_TEST(*s.load<far_block>(1) == 0x01020304u);
  BOOST_TEST(copy_of(s.contents(0, block_id{0x80000000})) == vf0[0x80000000], boost::test_tools::per_element());

  // Removing VF 1 leaves VF 0's blocks as they were; VF 1's IDs are nobody's now.
  BOOST_TEST((s.unregister_vf(1) == no_error));
  for (std::uint32_t id : ids) BOOST_TEST(copy_of(s.contents(0, block_id{id})) == vf0[id], boost::test_tools::per_element());
  BOOST_TEST((s.serve_read(0, block_id{20}, 8, out).status == ntstatus::invalid_parameter));
}

// Beyond capacity (slots or bytes) a definition is refused with insufficient_resources and nothing
// changes; room freed by a smaller redefinition or a removed VF is used again.
BOOST_AUTO_TEST_CASE(definitions_beyond_capacity_are_refused_and_change_nothing) {
  static_pf_blocks<2, 4, 40> s;
  BOOST_TEST(s.block_capacity() == 4u);
  BOOST_TEST(s.byte_capacity() == 40u);
  BOOST_TEST(s.blocks_defined() == 0u);
  BOOST_REQUIRE((s.register_vf(0, 1) == no_error));
  BOOST_REQUIRE((s.register_vf(1, 2) == no_error));
  const std::pair<vf_index, std::uint32_t> keys[] = {{0, 0xFFFFFFFF}, {1, 0}, {0, 64}, {1, 0x80000000}, {0, 7}, {1, 8}};
  std::map<std::pair<vf_index, std::uint32_t>, std::vector<std::byte>> model;
  std::map<std::pair<vf_index, std::uint32_t>, bool> computed;
  auto define = [&](vf_index vf, std::uint32_t id, std::size_t size, unsigned seed, block_handler* handler = nullptr) {
    const auto bytes = pattern(size, seed);
    const errc e = s.define_block(vf, block_id{id}, bytes, block_access::read_write, handler);
    if (e == no_error) {
      model[{vf, id}] = bytes;
      computed[{vf, id}] = handler != nullptr;
    }
    return e;
  };
  auto expect_model = [&] {
    std::size_t bytes = 0;
    for (const auto& key : keys) {
      const auto it = model.find(key);
      BOOST_TEST_CONTEXT("vf " << key.first << " block 0x" << std::hex << key.second) {
        BOOST_TEST(s.defined(key.first, block_id{key.second}) == (it != model.end()));
        const auto expected = it == model.end() ? std::vector<std::byte>{} : it->second;
        BOOST_TEST(copy_of(s.contents(key.first, block_id{key.second})) == expected, boost::test_tools::per_element());
      }
      if (it != model.end()) bytes += it->second.size() + (computed[key] ? sizeof(block_handler*) : 0);
    }
    BOOST_TEST(s.blocks_defined() == model.size());
    BOOST_TEST(s.bytes_used() == bytes);
  };
  BOOST_TEST((define(0, 0xFFFFFFFF, 10, 1) == no_error));
  BOOST_TEST((define(1, 0, 10, 2) == no_error));
  BOOST_TEST((define(0, 64, 10, 3) == no_error));
  BOOST_TEST((define(1, 0x80000000, 9, 4) == no_error));
  expect_model();

  scripted_handler h;
  BOOST_TEST((define(0, 7, 1, 5) == errc::insufficient_resources));  // every slot taken
  BOOST_TEST((define(1, 0x80000000, 11, 6) == errc::insufficient_resources));  // 41 bytes of 40
  // A handler's pointer is kept in the arena: the block needs that much more room.
  BOOST_TEST((define(1, 0x80000000, 9, 6, &h) == errc::insufficient_resources));
  BOOST_TEST((s.define_block(3, block_id{1}, pattern(1, 0)) == errc::not_found));
  expect_model();

  BOOST_TEST((define(1, 0x80000000, 10, 7) == no_error));  // exactly full
  BOOST_TEST(s.bytes_used() == 40u);
  BOOST_TEST((define(0, 64, 1, 8) == no_error));  // shrinks: the blocks after it move down
  expect_model();
  BOOST_TEST((define(1, 0x80000000, 10 + 9 - sizeof(block_handler*), 9, &h) == no_error));
  std::array<std::byte, 128> out{};
  h.fill = pattern(128, 0x31);
  h.claim = 128;
  BOOST_TEST((s.serve_read(1, block_id{0x80000000}, 128, out).status == ntstatus::success));
  BOOST_TEST(h.last_id == 0x80000000u);
  BOOST_TEST((define(0, 7, 1, 10) == errc::insufficient_resources));
  expect_model();

  // A removed VF's slots and bytes are free again.
  BOOST_TEST((s.unregister_vf(1) == no_error));
  model.erase({1, 0});
  model.erase({1, 0x80000000});
  expect_model();
  BOOST_TEST((define(0, 7, 29, 11) == no_error));
  BOOST_TEST((define(1, 8, 1, 12) == errc::not_found));  // VF 1 is gone
  BOOST_TEST((s.register_vf(1, 2) == no_error));
  BOOST_TEST((define(1, 8, 1, 12) == errc::insufficient_resources));  // 41 bytes of 40
  BOOST_TEST((define(1, 8, 0, 12) == errc::invalid_length));
  expect_model();
  BOOST_TEST(s.bytes_used() == 40u);
}

// The caller's storage: the store keeps its blocks in the slots and arena it is given.
BOOST_AUTO_TEST_CASE(caller_storage_holds_the_blocks) {
  std::array<pf_block_slot, 3> slots;
  std::array<std::byte, 16> arena{};
  pf_blocks<2> s{slots, arena, pf_limits{2}};
  BOOST_TEST(s.block_capacity() == 3u);
  BOOST_TEST(s.byte_capacity() == 16u);
  BOOST_TEST(s.limits().max_in_flight == 2u);
  BOOST_REQUIRE((s.register_vf(1, 7) == no_error));
  const auto a = pattern(5, 0x10);
  const auto b = pattern(5, 0x20);
  const auto c = pattern(6, 0x30);
  BOOST_TEST((s.define_block(1, block_id{0xFFFFFFFF}, a) == no_error));
  BOOST_TEST((s.define_block(1, block_id{0}, b) == no_error));
  BOOST_TEST((s.define_block(1, block_id{64}, c) == no_error));
  BOOST_TEST((s.define_block(1, block_id{65}, pattern(1, 0)) == errc::insufficient_resources));
  // Packed in the order defined, in the caller's arena.
  std::vector<std::byte> expected = a;
  expected.insert(expected.end(), b.begin(), b.end());
  expected.insert(expected.end(), c.begin(), c.end());
  BOOST_TEST(copy_of(arena) == expected, boost::test_tools::per_element());
  // A redefined block's bytes are closed up and it goes last.
  const auto b2 = pattern(4, 0x40);
  BOOST_TEST((s.define_block(1, block_id{0}, b2) == no_error));
  expected = a;
  expected.insert(expected.end(), c.begin(), c.end());
  expected.insert(expected.end(), b2.begin(), b2.end());
  BOOST_TEST(copy_of(std::span(arena).first(15)) == expected, boost::test_tools::per_element());
  BOOST_TEST(s.bytes_used() == 15u);
  std::array<std::byte, 8> out{};
  BOOST_TEST((s.serve_read(1, block_id{64}, 8, out).status == ntstatus::success));
  BOOST_TEST(copy_of(std::span(out).first(6)) == c, boost::test_tools::per_element());
  BOOST_TEST((s.admit(1) == ntstatus::success));
  BOOST_TEST((s.admit(1) == ntstatus::success));
  BOOST_TEST((s.admit(1) == ntstatus::device_not_ready));
}

namespace {
// The hosted default store of two VFs, both registered (routing IDs 1 and 2).
std::unique_ptr<pf_blocks<2>> default_store_with_two_vfs() {
  auto store = std::make_unique<pf_blocks<2>>();
  BOOST_REQUIRE((store->register_vf(0, 1) == no_error));
  BOOST_REQUIRE((store->register_vf(1, 2) == no_error));
  return store;
}
}  // namespace

// pf_blocks<MaxVfs> made with limits only: every VF's 64 blocks of 128 bytes, shared by the VFs.
BOOST_AUTO_TEST_CASE(default_capacity_holds_64_full_blocks_per_vf) {
  auto owned = std::make_unique<pf_blocks<2>>();
  pf_blocks<2>& s = *owned;
  BOOST_TEST(s.block_capacity() == 128u);
  BOOST_TEST(s.byte_capacity() == 128u * 128u);
  BOOST_REQUIRE((s.register_vf(0, 1) == no_error));
  BOOST_REQUIRE((s.register_vf(1, 2) == no_error));
  // VF 0 takes all of it with IDs spread over the 32-bit range; VF 1 has no room left.
  for (std::uint32_t i = 0; i < 128; ++i)
    BOOST_REQUIRE((s.define_block(0, block_id{i * 0x02000001u}, pattern(128, i)) == no_error));
  BOOST_TEST((s.define_block(1, block_id{1}, pattern(1, 0)) == errc::insufficient_resources));
  for (std::uint32_t i = 0; i < 128; i += 17)
    BOOST_TEST(copy_of(s.contents(0, block_id{i * 0x02000001u})) == pattern(128, i), boost::test_tools::per_element());
  BOOST_TEST((s.unregister_vf(0) == no_error));
  BOOST_TEST(s.blocks_defined() == 0u);
  BOOST_REQUIRE((s.register_vf(0, 1) == no_error));
  for (std::uint32_t id = 0; id < 64; ++id) {
    BOOST_REQUIRE((s.define_block(0, block_id{id}, pattern(128, id)) == no_error));
    BOOST_REQUIRE((s.define_block(1, block_id{id}, pattern(128, id + 1)) == no_error));
  }
  BOOST_TEST(s.bytes_used() == 128u * 128u);
}

// pf_scale (256 VFs x 64 blocks, 0.78x of 1 VF): the heap aligns to 16 bytes, so in the default store's
// arena every 128-byte block spanned three cache lines; a PF serving hundreds of VFs finds the contents
// out of cache, and each line is a miss. The arena now starts on a cache line: two lines per block.
BOOST_AUTO_TEST_CASE(pf_scale_the_default_store_keeps_128_byte_blocks_on_two_cache_lines) {
  const auto owned = default_store_with_two_vfs();
  pf_blocks<2>& s = *owned;
  for (std::uint32_t id = 0; id < 64; ++id)
    for (vf_index vf = 0; vf < 2; ++vf) BOOST_REQUIRE((s.define_block(vf, block_id{id}, pattern(128, id + vf)) == no_error));
  for (std::uint32_t id = 0; id < 64; ++id)
    for (vf_index vf = 0; vf < 2; ++vf) {
      const auto contents = s.contents(vf, block_id{id});
      BOOST_TEST(reinterpret_cast<std::uintptr_t>(contents.data()) % 64 == 0u);
      BOOST_TEST(copy_of(contents) == pattern(128, id + vf), boost::test_tools::per_element());
    }
}

// pf_scale 256 VFs x 1 block (0.83x to 0.89x of 1 VF): a PF defines its VFs' blocks VF by VF, so with 64
// blocks of 128 bytes each VF's copy of a block sat 8 KiB from the next VF's. 8 KiB apart, lines share
// their set index in L2 (1 MiB, 16 ways, 1024 sets) every 8 of them: block 0 of 256 VFs used 16 of the
// 1024 sets, 512 lines for 256 places, and a round over the VFs missed L2 on every read (callgrind: 2.4
// misses per read, 0 now). The default store now starts such a run 128 bytes later.
namespace {
// The L2 set (1024 sets of 64-byte lines) a block's first line falls in.
std::size_t l2_set(std::span<const std::byte> contents) {
  return (reinterpret_cast<std::uintptr_t>(contents.data()) / 64) % 1024;
}
}  // namespace

BOOST_AUTO_TEST_CASE(pf_scale_the_vfs_copies_of_a_block_do_not_share_the_cache_sets) {
  auto owned = std::make_unique<pf_blocks<256>>();
  pf_blocks<256>& s = *owned;
  BOOST_TEST(s.byte_capacity() == 256u * 64u * 128u);
  BOOST_TEST(s.arena_size() == 256u * 64u * 128u + 256u * 128u);
  for (vf_index vf = 0; vf < 256; ++vf) {
    BOOST_REQUIRE((s.register_vf(vf, vf) == no_error));
    for (std::uint32_t id = 0; id < 64; ++id)
      BOOST_REQUIRE((s.define_block(vf, block_id{id}, pattern(128, vf + id)) == no_error));
  }
  // Full: what the capacity promises fits, and the skews are not counted in it.
  BOOST_TEST(s.bytes_used() == s.byte_capacity());
  BOOST_TEST((s.define_block(0, block_id{64}, pattern(1, 0)) == errc::insufficient_resources));
  for (std::uint32_t id : {0u, 1u, 63u}) {
    BOOST_TEST_CONTEXT("block " << id) {
      std::vector<std::size_t> sets;
      for (vf_index vf = 0; vf < 256; ++vf) {
        const auto contents = s.contents(vf, block_id{id});
        BOOST_TEST(copy_of(contents) == pattern(128, vf + id), boost::test_tools::per_element());
        BOOST_TEST(reinterpret_cast<std::uintptr_t>(contents.data()) % 128 == 0u);  // still two lines
        if (vf > 0) {
          const auto previous = s.contents(static_cast<vf_index>(vf - 1), block_id{id});
          BOOST_TEST(contents.data() - previous.data() == 8192 + 128);
        }
        sets.push_back(l2_set(contents));
      }
      std::sort(sets.begin(), sets.end());
      BOOST_TEST(static_cast<std::size_t>(std::unique(sets.begin(), sets.end()) - sets.begin()) == 256u);  // 8 before
    }
  }
}

// Runs whose length is not a multiple of 1 KiB keep no hole between them: VFs with one 16-byte block,
// or with 12 blocks of 128 bytes (1536 bytes), are packed as before.
BOOST_AUTO_TEST_CASE(pf_scale_runs_that_do_not_alias_stay_packed) {
  for (const std::size_t blocks : {1u, 12u}) {
    const std::size_t size = blocks == 1 ? 16 : 128;
    BOOST_TEST_CONTEXT(blocks << " blocks of " << size << " bytes per VF") {
      auto owned = std::make_unique<pf_blocks<64>>();
      pf_blocks<64>& s = *owned;
      for (vf_index vf = 0; vf < 64; ++vf) {
        BOOST_REQUIRE((s.register_vf(vf, vf) == no_error));
        for (std::uint32_t id = 0; id < blocks; ++id)
          BOOST_REQUIRE((s.define_block(vf, block_id{id}, pattern(size, vf + id)) == no_error));
      }
      for (vf_index vf = 1; vf < 64; ++vf)
        BOOST_TEST(s.contents(vf, block_id{0}).data() - s.contents(static_cast<vf_index>(vf - 1), block_id{0}).data() ==
                   static_cast<std::ptrdiff_t>(blocks * size));
      BOOST_TEST(s.bytes_used() == 64u * blocks * size);
    }
  }
}

// The skews come from their own room (128 bytes per VF): runs beyond it are not skewed, and every byte
// byte_capacity() promises can still be defined. Two VFs take turns defining 1 KiB runs: the second and
// third runs are skewed, the room is then used up, and all 16 KiB fit.
BOOST_AUTO_TEST_CASE(pf_scale_run_skews_never_take_the_capacitys_bytes) {
  const auto owned = default_store_with_two_vfs();
  pf_blocks<2>& s = *owned;
  for (std::uint32_t run = 0; run < 16; ++run)
    for (std::uint32_t i = 0; i < 8; ++i) {
      const auto vf = static_cast<vf_index>(run % 2);
      BOOST_REQUIRE((s.define_block(vf, block_id{run / 2 * 8 + i}, pattern(128, run * 8 + i)) == no_error));
    }
  BOOST_TEST(s.bytes_used() == 128u * 128u);
  BOOST_TEST((s.define_block(0, block_id{1000}, pattern(1, 0)) == errc::insufficient_resources));
  // Run r starts with block r / 2 * 8 of VF r % 2.
  const auto run_start = [&](std::uint32_t run) {
    return s.contents(static_cast<vf_index>(run % 2), block_id{run / 2 * 8}).data();
  };
  const std::ptrdiff_t expected[] = {1024 + 128, 1024 + 128, 1024, 1024, 1024, 1024, 1024, 1024,
                                     1024,       1024,       1024, 1024, 1024, 1024, 1024};
  for (std::uint32_t run = 1; run < 16; ++run) BOOST_TEST(run_start(run) - run_start(run - 1) == expected[run - 1]);
  for (std::uint32_t run = 0; run < 16; ++run)
    for (std::uint32_t i = 0; i < 8; ++i)
      BOOST_TEST(copy_of(s.contents(static_cast<vf_index>(run % 2), block_id{run / 2 * 8 + i})) ==
                     pattern(128, run * 8 + i),
                 boost::test_tools::per_element());
}

// A VF's removal gives its runs' skews back: 200 rounds of removing a VF and defining its 64 blocks again
// (SR-IOV cycling a VF among three others) never run out of room, and every block keeps its bytes.
BOOST_AUTO_TEST_CASE(pf_scale_run_skews_come_back_when_a_vf_goes) {
  auto owned = std::make_unique<pf_blocks<4>>();
  pf_blocks<4>& s = *owned;
  std::array<std::uint32_t, 4> generation{};
  const auto define_all = [&](vf_index vf) {
    for (std::uint32_t id = 0; id < 64; ++id)
      BOOST_REQUIRE((s.define_block(vf, block_id{id}, pattern(128, generation[vf] * 64 + id + vf)) == no_error));
  };
  for (vf_index vf = 0; vf < 4; ++vf) {
    BOOST_REQUIRE((s.register_vf(vf, vf) == no_error));
    define_all(vf);
  }
  const std::byte* arena = s.contents(0, block_id{0}).data();  // the first run is never skewed
  for (std::uint32_t round = 0; round < 200; ++round) {
    const auto vf = static_cast<vf_index>(round % 4);
    BOOST_REQUIRE((s.unregister_vf(vf) == no_error));
    BOOST_REQUIRE((s.register_vf(vf, vf) == no_error));
    ++generation[vf];
    define_all(vf);
    BOOST_TEST(s.bytes_used() == 4u * 64u * 128u);
    for (vf_index v = 0; v < 4; ++v) {
      for (std::uint32_t id = 0; id < 64; id += 21) {
        const auto contents = s.contents(v, block_id{id});
        BOOST_TEST(copy_of(contents) == pattern(128, generation[v] * 64 + id + v), boost::test_tools::per_element());
        BOOST_TEST(contents.data() >= arena);
        BOOST_TEST(contents.data() + 128 <= arena + s.arena_size());
      }
    }
  }
}

// The PF may define or store a block from the store's own contents(), even where the definition moves
// those bytes in the arena.
BOOST_AUTO_TEST_CASE(defining_from_the_stores_own_contents) {
  store_fixture f;
  store_type& s = f.s;
  // Block 5 (16 bytes) is the first in the arena: redefining it closes its bytes up, moving block 6's.
  BOOST_TEST((s.define_block(0, block_id{5}, s.contents(0, block_id{6})) == no_error));
  BOOST_TEST(copy_of(s.contents(0, block_id{5})) == f.b6, boost::test_tools::per_element());
  BOOST_TEST(copy_of(s.contents(0, block_id{6})) == f.b6, boost::test_tools::per_element());
  BOOST_TEST((s.define_block(0, block_id{0xFFFFFFFF}, s.contents(0, block_id{7})) == no_error));
  BOOST_TEST(copy_of(s.contents(0, block_id{0xFFFFFFFF})) == f.b7, boost::test_tools::per_element());
  BOOST_TEST((s.store(0, block_id{6}, s.contents(0, block_id{6})) == no_error));
  BOOST_TEST((s.store(0, block_id{6}, s.contents(0, block_id{7})) == no_error));
  BOOST_TEST(copy_of(s.contents(0, block_id{6})) == f.b7, boost::test_tools::per_element());
  BOOST_TEST(copy_of(s.contents(1, block_id{20})) == f.b20, boost::test_tools::per_element());
}

// Invalidation: blocks 0..63 only. By ID a wider ID is invalid_block_id with nothing changed; by
// descriptor it does not compile (tests/compile_fail/store_invalidate_block_64.cpp).
BOOST_AUTO_TEST_CASE(invalidation_by_id_stops_at_63) {
  store_fixture f;
  BOOST_TEST((f.s.invalidate(0, block_id{63}) == no_error));
  BOOST_TEST(f.s.pending_invalidations(0).bits() == std::uint64_t{1} << 63);
  for (std::uint32_t id : sparse_ids) {
    BOOST_TEST((f.s.define_block(0, block_id{id}, pattern(4, 0)) == no_error));  // a block all the same
    BOOST_TEST((f.s.invalidate(0, block_id{id}) == errc::invalid_block_id));
  }
  BOOST_TEST(f.s.pending_invalidations(0).bits() == std::uint64_t{1} << 63);
  BOOST_TEST((f.s.invalidate(2, block_id{1}) == errc::not_found));
  BOOST_TEST(f.s.pending_invalidations(2).empty());
  BOOST_TEST((f.s.invalidate<word_block>(1) == no_error));
  BOOST_TEST(f.s.pending_invalidations(1).bits() == std::uint64_t{1} << 3);
  BOOST_TEST((f.s.invalidate(1, mask_of<word_block, pair_block>()) == no_error));
  BOOST_TEST(f.s.pending_invalidations(1).bits() == ((std::uint64_t{1} << 3) | (std::uint64_t{1} << 9)));
  static_assert(word_block::invalidatable && !block<64, std::uint32_t>::invalidatable);
}

namespace {
// Runs `during` inside the handler call, as a PF's handler that calls back into the store would.
class reentrant_handler final : public block_handler {
 public:
  std::function<void()> during;
  int calls{0};
  ntstatus on_read(vf_index, block_id, std::span<std::byte> out, std::size_t& bytes) override {
    ++calls;
    if (during) during();
    for (std::size_t i = 0; i < out.size(); ++i) out[i] = static_cast<std::byte>(0xA0 + i);
    bytes = out.size();
    return ntstatus::success;
  }
  ntstatus on_write(vf_index, block_id, std::span<const std::byte>) override {
    ++calls;
    if (during) during();
    return ntstatus::success;
  }
};
}  // namespace

// A handler may define or remove blocks while it is serving: its own block's slot and region move (or
// go), and the answer and the store stay right.
BOOST_AUTO_TEST_CASE(a_handler_that_changes_the_store_while_serving_gets_its_answer) {
  store_fixture f;
  reentrant_handler h;
  BOOST_REQUIRE((f.s.define_block(0, block_id{0xFFFFFFFF}, pattern(8, 0x11), block_access::read_write, &h) == no_error));
  h.during = [&] {
    // Lower IDs: every later slot and region moves up, the handler's own included.
    BOOST_REQUIRE((f.s.define_block(0, block_id{1}, pattern(100, 1)) == no_error));
    BOOST_REQUIRE((f.s.define_block(1, block_id{2}, pattern(100, 2)) == no_error));
  };
  std::array<std::byte, 128> out{};
  const serve_result answer = f.s.serve_read(0, block_id{0xFFFFFFFF}, 8, out);
  BOOST_TEST((answer.status == ntstatus::success));
  BOOST_TEST(answer.bytes == 8u);
  BOOST_TEST(out[7] == std::byte{0xA7});
  BOOST_TEST(copy_of(f.s.contents(0, block_id{5})) == f.b5, boost::test_tools::per_element());
  BOOST_TEST(copy_of(f.s.contents(0, block_id{0xFFFFFFFF})) == pattern(8, 0x11), boost::test_tools::per_element());
  BOOST_TEST(f.s.counters(0).reads == 1u);
  // Still a handler block after moving: the handler answers again.
  h.during = nullptr;
  BOOST_TEST((f.s.serve_read(0, block_id{0xFFFFFFFF}, 8, out).status == ntstatus::success));
  BOOST_TEST(h.calls == 2);
  // A handler that removes its own VF while serving a write.
  h.during = [&] { BOOST_REQUIRE((f.s.unregister_vf(0) == no_error)); };
  BOOST_TEST((f.s.serve_write(0, block_id{0xFFFFFFFF}, pattern(8, 0)).status == ntstatus::success));
  BOOST_TEST(!f.s.registered(0));
  BOOST_TEST(copy_of(f.s.contents(1, block_id{20})) == f.b20, boost::test_tools::per_element());
  BOOST_TEST(copy_of(f.s.contents(1, block_id{2})) == pattern(100, 2), boost::test_tools::per_element());
}

// The packed arena against a model: thousands of random definitions (new, redefined larger or smaller,
// with and without handlers), PF updates, VF writes and reads, and VF removals over sparse IDs, with the
// capacity reached again and again. After every step each block holds exactly its bytes.
namespace {
struct model_run {
  int defined = 0;
  int refused_slots = 0;
  int refused_bytes = 0;
};
model_run run_against_model(pf_blocks<3>& s) {
  const std::size_t slot_count = s.block_capacity();
  const std::size_t byte_count = s.byte_capacity();
  const std::uint32_t ids[] = {0,    1,          2,          62,         63,         64,         65,         1000,
                               4096, 0x7FFFFFFE, 0x7FFFFFFF, 0x80000000, 0x80000001, 0xFFFFFFFD, 0xFFFFFFFE, 0xFFFFFFFF};
  struct entry {
    std::vector<std::byte> bytes;
    bool computed;
  };
  std::map<std::pair<vf_index, std::uint32_t>, entry> model;
  bool registered[3] = {true, true, true};
  for (vf_index vf = 0; vf < 3; ++vf) BOOST_REQUIRE((s.register_vf(vf, vf) == no_error));
  scripted_handler h;
  h.fill = pattern(128, 0x99);
  std::mt19937 random{20261201};
  auto pick = [&](std::size_t n) { return static_cast<std::size_t>(random() % n); };
  auto region = [](const entry& e) { return e.bytes.size() + (e.computed ? sizeof(block_handler*) : 0); };
  auto used = [&] {
    std::size_t bytes = 0;
    for (const auto& [key, e] : model) bytes += region(e);
    return bytes;
  };
  int defined = 0, refused_slots = 0, refused_bytes = 0;
  std::array<std::byte, 128> out{};
  for (int step = 0; step < 4000; ++step) {
    const auto vf = static_cast<vf_index>(pick(3));
    const std::uint32_t id = ids[pick(std::size(ids))];
    const auto key = std::make_pair(vf, id);
    const auto it = model.find(key);
    const unsigned seed = static_cast<unsigned>(step);
    BOOST_TEST_CONTEXT("step " << step << ": vf " << vf << " block 0x" << std::hex << id) {
      const std::size_t what = pick(40);
      switch (what < 20 ? 0 : what < 24 ? 1 : what < 28 ? 2 : what < 29 ? 3 : 4) {
        case 0: {
          // Mostly small blocks (the slots run out), sometimes large ones (the bytes run out).
          entry next{pattern(pick(4) == 0 ? 1 + pick(128) : 1 + pick(16), seed), pick(8) == 0};
          const std::size_t grow = region(next) - std::min(region(next), it == model.end() ? 0 : region(it->second));
          errc expected = no_error;
          if (!registered[vf]) expected = errc::not_found;
          else if (it == model.end() && model.size() == slot_count) expected = errc::insufficient_resources;
          else if (grow > byte_count - used()) expected = errc::insufficient_resources;
          const errc e = s.define_block(vf, block_id{id}, next.bytes, block_access::read_write, next.computed ? &h : nullptr);
          BOOST_TEST((e == expected));
          if (e == no_error) {
            model[key] = next;
            ++defined;
          } else if (e == errc::insufficient_resources) {
            ++(it == model.end() && model.size() == slot_count ? refused_slots : refused_bytes);
          }
          break;
        }
        case 1: {  // the PF's update, sometimes of the wrong size
          const std::size_t size = it == model.end() ? 4 : it->second.bytes.size() + (pick(4) == 0 ? 1 : 0);
          const auto bytes = pattern(size, seed);
          const errc expected = it == model.end() ? errc::not_found
                                : size != it->second.bytes.size() ? errc::invalid_length : no_error;
          BOOST_TEST((s.store(vf, block_id{id}, bytes) == expected));
          if (expected == no_error) it->second.bytes = bytes;
          break;
        }
        case 2: {  // the VF's write: stored blocks take it, handler blocks pass it to the handler
          if (it == model.end()) break;
          const auto bytes = pattern(it->second.bytes.size(), seed);
          BOOST_TEST((s.serve_write(vf, block_id{id}, bytes).status == ntstatus::success));
          if (!it->second.computed) it->second.bytes = bytes;
          else BOOST_TEST(copy_of(h.written) == bytes, boost::test_tools::per_element());
          break;
        }
        case 3: {
          if (registered[vf]) {
            BOOST_TEST((s.unregister_vf(vf) == no_error));
            std::erase_if(model, [vf](const auto& item) { return item.first.first == vf; });
          } else {
            BOOST_TEST((s.register_vf(vf, vf) == no_error));
          }
          registered[vf] = !registered[vf];
          break;
        }
        default: {  // the VF's read: the stored bytes, or the handler's answer
          if (it == model.end()) {
            const bool another = std::any_of(model.begin(), model.end(), [id](const auto& item) { return item.first.second == id; });
            const ntstatus expected = !registered[vf] || another ? ntstatus::access_denied : ntstatus::invalid_parameter;
            BOOST_TEST((s.serve_read(vf, block_id{id}, 128, out).status == expected));
            break;
          }
          const std::size_t size = it->second.bytes.size();
          h.claim = size;
          const serve_result answer = s.serve_read(vf, block_id{id}, 128, out);
          BOOST_TEST((answer.status == ntstatus::success));
          BOOST_TEST(answer.bytes == size);
          const auto expected = it->second.computed ? std::vector<std::byte>(h.fill.begin(), h.fill.begin() + static_cast<std::ptrdiff_t>(size))
                                                    : it->second.bytes;
          BOOST_TEST(copy_of(std::span(out).first(answer.bytes)) == expected, boost::test_tools::per_element());
          if (it->second.computed) {
            BOOST_TEST(h.last_id == id);
            BOOST_TEST(h.last_vf == vf);
          }
          break;
        }
      }
      // Every block, every step.
      for (vf_index v = 0; v < 3; ++v) {
        for (std::uint32_t other : ids) {
          const auto m = model.find({v, other});
          const auto expected = m == model.end() ? std::vector<std::byte>{} : m->second.bytes;
          BOOST_TEST(copy_of(s.contents(v, block_id{other})) == expected, boost::test_tools::per_element());
        }
      }
      BOOST_TEST(s.blocks_defined() == model.size());
      BOOST_TEST(s.bytes_used() == used());
    }
  }
  BOOST_TEST_MESSAGE("defined " << defined << ", refused for slots " << refused_slots << ", for bytes " << refused_bytes);
  return {defined, refused_slots, refused_bytes};
}
}  // namespace

BOOST_AUTO_TEST_CASE(random_definitions_keep_every_block_intact) {
  auto s = std::make_unique<static_pf_blocks<3, 24, 400>>();
  const model_run run = run_against_model(*s);
  // The run reached both limits many times and defined many blocks.
  BOOST_TEST(run.defined > 500);
  BOOST_TEST(run.refused_slots > 20);
  BOOST_TEST(run.refused_bytes > 20);
}

// The same with the hosted default capacity, whose direct index finds blocks 0..63: a definition or a
// removal outdates it, the next request rebuilds it, and the PF's own lookups in between (contents, store,
// define) take the binary search.
BOOST_AUTO_TEST_CASE(random_definitions_keep_every_block_intact_with_the_default_capacity) {
  auto s = std::make_unique<pf_blocks<3>>();
  const model_run run = run_against_model(*s);
  BOOST_TEST(run.defined > 500);
}

// The run skews against a model: VFs defining runs of 1 KiB (8 new blocks of 128 bytes or 16 of 64, which
// are skewed while there is room) among runs of other lengths, redefinitions to other sizes, and VFs
// leaving and coming back, with the capacity reached again and again. After every step each block holds
// exactly its bytes, no two blocks overlap, the bytes in use are the model's, and what the model says
// fits is accepted.
BOOST_AUTO_TEST_CASE(random_runs_with_skews_keep_every_block_intact) {
  constexpr vf_index vfs = 4;
  auto owned = std::make_unique<pf_blocks<vfs>>();
  pf_blocks<vfs>& s = *owned;
  std::map<std::pair<vf_index, std::uint32_t>, std::vector<std::byte>> model;
  std::array<bool, vfs> registered{};
  std::mt19937 random{20261202};
  auto pick = [&](std::size_t n) { return static_cast<std::size_t>(random() % n); };
  const auto used = [&] {
    std::size_t bytes = 0;
    for (const auto& item : model) bytes += item.second.size();
    return bytes;
  };
  int refused = 0, removed = 0, step = 0;
  std::ptrdiff_t most_gaps = 0;
  const auto check = [&] {
    BOOST_TEST(s.bytes_used() == used());
    std::vector<std::pair<const std::byte*, std::size_t>> places;
    for (const auto& [key, bytes] : model) {
      const auto contents = s.contents(key.first, block_id{key.second});
      BOOST_TEST(std::equal(contents.begin(), contents.end(), bytes.begin(), bytes.end()),
                 "step " << step << ": VF " << key.first << " block " << key.second);
      places.emplace_back(contents.data(), contents.size());
    }
    std::sort(places.begin(), places.end());
    std::ptrdiff_t gaps = 0;  // skews between blocks (a skew before the first block is not seen)
    for (std::size_t i = 1; i < places.size(); ++i) {
      const std::ptrdiff_t gap = places[i].first - (places[i - 1].first + places[i - 1].second);
      BOOST_TEST(gap >= 0, "step " << step << ": blocks overlap");
      gaps += gap;
    }
    most_gaps = std::max(most_gaps, gaps);
  };
  const auto define = [&](vf_index vf, std::uint32_t id, std::size_t size) {
    const auto bytes = pattern(size, static_cast<unsigned>(step++));
    const auto it = model.find({vf, id});
    const std::size_t old = it == model.end() ? 0 : it->second.size();
    const bool fits = (it != model.end() || model.size() < s.block_capacity()) &&
                      (size <= old || size - old <= s.byte_capacity() - used());
    const errc e = s.define_block(vf, block_id{id}, bytes);
    BOOST_TEST((e == (fits ? no_error : errc::insufficient_resources)), "step " << step);
    if (e == no_error) model[{vf, id}] = bytes;
    else ++refused;
    check();
  };
  for (int run = 0; run < 600; ++run) {
    const auto vf = static_cast<vf_index>(pick(vfs));
    if (!registered[vf]) {
      BOOST_REQUIRE((s.register_vf(vf, vf) == no_error));
      registered[vf] = true;
    } else if (pick(30) == 0) {
      BOOST_REQUIRE((s.unregister_vf(vf) == no_error));
      std::erase_if(model, [&](const auto& item) { return item.first.first == vf; });
      registered[vf] = false;
      ++removed;
      check();
      continue;
    }
    const std::size_t kind = pick(5);
    if (kind < 3) {  // 1 KiB of new blocks (IDs 64 and above take the binary search)
      const std::size_t size = kind == 0 ? 64 : 128;
      std::uint32_t id = static_cast<std::uint32_t>(pick(100));
      for (std::size_t n = 0; n < 1024 / size; ++n) {
        for (int tries = 0; tries < 100 && model.contains({vf, id}); ++tries) id = (id + 1) % 100;
        define(vf, id, size);  // a redefinition when the VF has all 100 IDs
      }
    } else {  // a few definitions of any size, new or redefined
      for (std::size_t n = 1 + pick(6); n > 0; --n) define(vf, static_cast<std::uint32_t>(pick(100)), 1 + pick(128));
    }
  }
  BOOST_TEST_MESSAGE("refused " << refused << ", VFs removed " << removed << ", skew bytes at most " << most_gaps);
  BOOST_TEST(refused > 20);  // the capacity was reached
  BOOST_TEST(removed > 5);
  BOOST_TEST(most_gaps >= 3 * 128);  // runs were skewed
}


// take_mailbox_latch says a removal once, and only until a session on the new VF: a latch kept by a
// session that ran after the removal is that VF's own (taken as kept), and the takes after it say nothing
// of the removed VF. Said again, a later session (one whose predecessor never released its latch) would
// zero the window of a VF that was never removed, and adopt nothing from it.
BOOST_AUTO_TEST_CASE(a_latch_kept_after_a_removal_ends_what_the_store_says_of_the_removal) {
  auto owned = std::make_unique<store_type>();
  store_type& s = *owned;
  BOOST_TEST((s.register_vf(0, 0x0201) == no_error));
  BOOST_TEST((s.unregister_vf(0) == no_error));
  BOOST_TEST((s.register_vf(0, 0x0202) == no_error));
  s.keep_mailbox_latch(0, mailbox_latch{block_mask{0b100}, block_mask{}});  // the new VF's session detached
  mailbox_latch latch;
  BOOST_TEST((s.take_mailbox_latch(0, latch) == mailbox_history::kept));
  BOOST_TEST(latch.latched.bits() == 0b100u);
  mailbox_latch untouched{block_mask{0b1}, block_mask{}};
  BOOST_TEST((s.take_mailbox_latch(0, untouched) == mailbox_history::none));
  BOOST_TEST(untouched.latched.bits() == 0b1u);
  // Without a kept latch, the removal is said exactly once.
  BOOST_TEST((s.unregister_vf(0) == no_error));
  BOOST_TEST((s.register_vf(0, 0x0203) == no_error));
  BOOST_TEST((s.take_mailbox_latch(0, untouched) == mailbox_history::removed));
  BOOST_TEST((s.take_mailbox_latch(0, untouched) == mailbox_history::none));
}

// A store for more than 256 VFs keeps each VF's blocks its own: a block's key packs the VF index beside the
// block ID, and a key with 8 bits for the index gave VF 256 the blocks of VF 0 (a read of one VF's block
// answered with another's contents).
BOOST_AUTO_TEST_CASE(vf_indices_past_255_keep_their_blocks_apart) {
  auto s = std::make_unique<pf_blocks<512>>();
  BOOST_REQUIRE((s->register_vf(0, 1) == no_error));
  BOOST_REQUIRE((s->register_vf(256, 2) == no_error));
  BOOST_REQUIRE((s->register_vf(511, 3) == no_error));
  BOOST_REQUIRE((s->define_block(256, block_id{1}, pattern(4, 0x11)) == no_error));
  BOOST_REQUIRE((s->define_block(0, block_id{2}, pattern(8, 0x22)) == no_error));
  BOOST_REQUIRE((s->define_block(511, block_id{1}, pattern(6, 0x33)) == no_error));
  BOOST_TEST(s->blocks_defined() == 3u);
  BOOST_TEST(copy_of(s->contents(256, block_id{1})) == pattern(4, 0x11), boost::test_tools::per_element());
  BOOST_TEST(copy_of(s->contents(0, block_id{2})) == pattern(8, 0x22), boost::test_tools::per_element());
  BOOST_TEST(copy_of(s->contents(511, block_id{1})) == pattern(6, 0x33), boost::test_tools::per_element());
  BOOST_TEST(!s->defined(0, block_id{1}));
  BOOST_TEST(!s->defined(256, block_id{2}));
  BOOST_TEST(!s->defined(255, block_id{1}));
}

BOOST_AUTO_TEST_SUITE_END()  // pf_blocks_test
