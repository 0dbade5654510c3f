// Pins the edges of the config-space model: capability walks, header layouts, SR-IOV routing IDs,
// VSEC/DVSEC decoding, mailbox discovery, and window placement and freeing, on both sides of every bound.
// Each snapshot is a std::vector holding exactly its bytes. A read or write past the end is then an
// AddressSanitizer report, and not a read inside a larger array (as with the fixtures' 4096-byte image).
#include <boost/test/unit_test.hpp>

#include <cstddef>
#include <cstdint>
#include <vector>

#include <vpci/block/endian.hpp>
#include <vpci/config/capabilities.hpp>
#include <vpci/config/find_mailbox.hpp>
#include <vpci/config/header.hpp>
#include <vpci/config/placement.hpp>
#include <vpci/config/sriov.hpp>
#include <vpci/config/vsec.hpp>

BOOST_AUTO_TEST_SUITE(config_bounds_test)

using namespace vpci;
namespace cid = config::extended_capability_id;

namespace {
using bytes = std::vector<std::byte>;

// A heap snapshot of exactly `size` bytes: ASan catches an access one byte past its end.
bytes snapshot(std::size_t size, std::byte fill = std::byte{0}) { return bytes(size, fill); }

void put8(bytes& s, std::size_t at, std::uint8_t v) { le::store_u8(s.data() + at, v); }
void put16(bytes& s, std::size_t at, std::uint16_t v) { le::store_u16(s.data() + at, v); }
void put32(bytes& s, std::size_t at, std::uint32_t v) { le::store_u32(s.data() + at, v); }
void extended_capability(bytes& s, std::size_t at, std::uint16_t id, std::uint8_t version, std::uint16_t next) {
  put32(s, at, config::encode_extended_header(id, version, next));
}

// The mailbox DVSEC (vendor 0x8086, ID 0x5650, revision 2, 0xB8 bytes) at `at`, identity layout 2.
void mailbox_window(bytes& s, std::size_t at, std::uint16_t next) {
  extended_capability(s, at, cid::designated_vendor_specific, 1, next);
  put32(s, at + 4, config::encode_dvsec_header1(0x8086, 2, 0xB8));
  put32(s, at + 8, config::encode_dvsec_header2(0x5650));
  put32(s, at + 0x0C, 0x00070002u);  // identity register: layout 2
}

// The extent of an ACS capability at 0x100 with these capability bits (bits 15:8: egress vector size).
std::size_t acs_extent(std::uint16_t caps) {
  auto s = snapshot(4096);
  extended_capability(s, 0x100, cid::access_control_services, 1, 0);
  put16(s, 0x104, caps);
  const auto walk = config::walk_extended_capabilities(s);
  BOOST_TEST_REQUIRE(walk.entries.size() == 1u);
  return config::known_extent(s, walk.entries[0]);
}
}  // namespace

// --- Standard capability list and header layouts ---

// 65 bytes: status bit 4, pointer 0x40, ID 0x05 at 0x40. The entry's next byte (0x41) is past the end.
BOOST_AUTO_TEST_CASE(a_standard_entry_whose_next_byte_is_past_the_end_is_out_of_range) {
  auto s = snapshot(0x41);
  put8(s, 0x06, 0x10);
  put8(s, 0x34, 0x40);
  put8(s, 0x40, 0x05);
  const auto walk = config::walk_capabilities(s);
  BOOST_TEST((walk.error == errc::out_of_range));
  BOOST_TEST(walk.entries.empty());
}

// Vendor-specific capabilities (ID 0x09) may repeat. find_capability returns the first one in list order.
BOOST_AUTO_TEST_CASE(find_capability_returns_the_first_of_two_entries_with_the_same_id) {
  auto s = snapshot(256);
  put8(s, 0x06, 0x10);
  put8(s, 0x34, 0x40);
  put8(s, 0x40, 0x09);
  put8(s, 0x41, 0x50);
  put8(s, 0x50, 0x09);
  put8(s, 0x51, 0x00);
  const auto found = config::find_capability(s, 0x09);
  BOOST_TEST_REQUIRE(found.has_value());
  BOOST_TEST(found->offset == 0x40);
}

// Header layout 2 (CardBus) is a known layout. Its capability pointer is at 0x14, not 0x34.
BOOST_AUTO_TEST_CASE(a_cardbus_bridge_list_is_walked_from_its_pointer_at_0x14) {
  auto s = snapshot(256);
  put16(s, 0x00, 0x104C);  // vendor
  put8(s, 0x06, 0x10);     // status bit 4
  put8(s, 0x0E, 0x02);     // header layout 2
  put8(s, 0x14, 0x40);     // CardBus capability pointer
  put8(s, 0x40, 0x01);     // PM, next 0
  BOOST_TEST(config::decode_header(s)->known_layout());
  const auto walk = config::walk_capabilities(s);
  BOOST_TEST((walk.error == no_error));
  BOOST_TEST_REQUIRE(walk.entries.size() == 1u);
  BOOST_TEST(walk.entries[0].offset == 0x40);
}

BOOST_AUTO_TEST_CASE(a_vendor_id_of_zero_is_not_a_present_function) {
  auto s = snapshot(64);
  put16(s, 0x02, 0x1572);  // device 0x1572, vendor 0x0000
  const auto h = config::decode_header(s);
  BOOST_TEST_REQUIRE(h.has_value());
  BOOST_TEST(!h->present());
}

// --- Extended capability list ---

// The snapshot ends right after the dword at 0x100 (AER, version 1, next 0: bytes 01 00 01 00).
BOOST_AUTO_TEST_CASE(a_snapshot_of_exactly_0x104_bytes_holds_the_extended_list_head) {
  auto s = snapshot(0x104);
  put8(s, 0x100, 0x01);
  put8(s, 0x102, 0x01);
  const auto walk = config::walk_extended_capabilities(s);
  BOOST_TEST((walk.error == no_error));
  BOOST_TEST_REQUIRE(walk.entries.size() == 1u);
  BOOST_TEST(walk.entries[0].id == 0x0001);
  BOOST_TEST(walk.entries[0].offset == 0x100);
}

// The alias check compares the last whole 0x100 boundary too. Here 0x100 repeats dword 0 but 0x200 does
// not, so the space is a list and not the header repeated.
BOOST_AUTO_TEST_CASE(the_last_boundary_dword_of_a_0x204_byte_snapshot_decides_aliasing) {
  auto s = snapshot(0x204);
  put32(s, 0x000, 0x00000001u);  // vendor 0x0001, device 0x0000
  put32(s, 0x100, 0x00000001u);  // the same dword: reads as AER (ID 1), version 0, next 0
  put32(s, 0x200, 0x12345678u);  // the last boundary differs
  BOOST_TEST(!config::extended_space_aliases_header(s));
  const auto walk = config::walk_extended_capabilities(s);
  BOOST_TEST((walk.error == no_error));
  BOOST_TEST_REQUIRE(walk.entries.size() == 1u);
  BOOST_TEST(walk.entries[0].offset == 0x100);
}

// The dword at 0x40 is non-zero (a PM capability, which would read as extended ID 1, next 0). It is never
// read as an extended capability.
BOOST_AUTO_TEST_CASE(an_extended_next_pointer_below_0x100_ends_the_walk_as_a_bad_pointer) {
  auto s = snapshot(4096);
  put32(s, 0x40, 0x00000001u);
  extended_capability(s, 0x100, cid::advanced_error_reporting, 1, 0x040);
  const auto walk = config::walk_extended_capabilities(s);
  BOOST_TEST((walk.error == errc::bad_capability_pointer));
  BOOST_TEST_REQUIRE(walk.entries.size() == 1u);
  BOOST_TEST(walk.entries[0].offset == 0x100);
}

// --- SR-IOV routing IDs ---

// PF 0xFF00, First VF Offset 0xFF, stride 1: VF0 is 0xFFFF (bus 255, device 31, function 7), VF1 would be 0x10000.
BOOST_AUTO_TEST_CASE(routing_id_0xffff_is_the_last_valid_vf_and_one_past_it_is_out_of_range) {
  config::sriov_capability c;
  c.num_vfs = 2;
  c.total_vfs = 2;
  c.first_vf_offset = 0xFF;
  c.vf_stride = 1;
  const config::routing_id pf{0xFF00};
  const auto vf0 = config::vf_routing_id(pf, c, 0);
  BOOST_TEST_REQUIRE(vf0.has_value());
  BOOST_TEST(vf0->value == 0xFFFF);
  BOOST_TEST((config::vf_routing_id(pf, c, 1).error() == errc::out_of_range));
}

// A function of 8 must not spill into the device field.
BOOST_AUTO_TEST_CASE(routing_id_from_keeps_only_three_function_bits) {
  const auto r = config::routing_id::from(0x12, 0x02, 0x08);
  BOOST_TEST(r.value == 0x1210);
  BOOST_TEST(r.device() == 0x02);
  BOOST_TEST(r.function() == 0x00);
}

// --- VSEC and DVSEC headers ---

// Revision 9 sets the field's top bit (19:16; bytes 34 12 09 01).
BOOST_AUTO_TEST_CASE(the_vsec_revision_is_four_bits_wide) {
  auto s = snapshot(4096);
  extended_capability(s, 0x100, cid::vendor_specific, 1, 0);
  put32(s, 0x104, config::encode_vsec_word(0x1234, 9, 0x10));
  const auto v = config::decode_vsec(s, 0x100);
  BOOST_TEST_REQUIRE(v.has_value());
  BOOST_TEST(v->vsec_revision == 9);
  BOOST_TEST(v->length == 0x10);
  BOOST_TEST(v->vsec_id == 0x1234);
}

// A length of 0x800 sets bit 11 of the 12-bit field (header 1 bytes F4 1A 02 80).
BOOST_AUTO_TEST_CASE(the_dvsec_length_is_the_full_twelve_bit_field) {
  auto s = snapshot(4096);
  extended_capability(s, 0x100, cid::designated_vendor_specific, 1, 0);
  put32(s, 0x104, config::encode_dvsec_header1(0x1AF4, 2, 0x800));
  put32(s, 0x108, config::encode_dvsec_header2(0x5650));
  const auto d = config::decode_dvsec(s, 0x100);
  BOOST_TEST_REQUIRE(d.has_value());
  BOOST_TEST(d->length == 0x800);
}

// A DVSEC header is 10 bytes. With 8 or 9 of them in the snapshot, the DVSEC ID (0x108..0x109) is past its end.
BOOST_AUTO_TEST_CASE(decode_dvsec_needs_all_ten_header_bytes_in_the_snapshot) {
  auto s = snapshot(0x108);
  extended_capability(s, 0x100, cid::designated_vendor_specific, 1, 0);
  put32(s, 0x104, config::encode_dvsec_header1(0x1AF4, 2, 0x10));
  BOOST_TEST((config::decode_dvsec(s, 0x100).error() == errc::out_of_range));
  auto nine = s;  // one byte more: still short of the DVSEC ID's second byte
  nine.push_back(std::byte{0x50});
  BOOST_TEST((config::decode_dvsec(nine, 0x100).error() == errc::out_of_range));
}

// find_dvsec reads a DVSEC's names only when they are in the snapshot. Names past the end stop the search.
BOOST_AUTO_TEST_CASE(find_dvsec_ends_with_out_of_range_at_a_dvsec_whose_names_are_past_the_end) {
  auto s = snapshot(0x108);
  extended_capability(s, 0x100, cid::designated_vendor_specific, 1, 0);
  put32(s, 0x104, config::encode_dvsec_header1(0x1AF4, 2, 0xB8));
  const auto d = config::find_dvsec(s, config::any_dvsec_vendor, 0x5650);
  BOOST_TEST((d.error() == errc::out_of_range));
}

// --- Mailbox discovery: peer_gone and overlapping capabilities ---

// The header (0..0x3F) reads all ones but 0x100 reads zero: no mailbox, and not a gone function.
BOOST_AUTO_TEST_CASE(an_all_ones_header_over_a_zero_extended_head_is_no_mailbox_not_a_gone_peer) {
  auto s = snapshot(4096);
  for (std::size_t i = 0; i < 64; ++i) s[i] = std::byte{0xFF};
  BOOST_TEST((config::find_mailbox(s).error() == errc::not_found));
}

// A VF reads vendor/device FFFF. Its class dword at 0x08 answers, so it is alive even when 0x100 reads
// all ones.
BOOST_AUTO_TEST_CASE(a_vf_whose_class_dword_answers_is_alive_even_with_an_all_ones_extended_head) {
  auto s = snapshot(4096);
  put32(s, 0x00, 0xFFFFFFFFu);
  put32(s, 0x08, 0x02000001u);
  put32(s, 0x100, 0xFFFFFFFFu);
  BOOST_TEST((config::find_mailbox(s).error() == errc::not_found));
}

// The dword at 0x100 is the snapshot's last, so the extended head is in it and reads all ones too.
BOOST_AUTO_TEST_CASE(an_all_ones_snapshot_of_exactly_0x104_bytes_is_a_gone_peer) {
  const auto s = snapshot(0x104, std::byte{0xFF});
  BOOST_TEST((config::find_mailbox(s).error() == errc::peer_gone));
}

// A VSEC at 0x100, 0x14 bytes long (to 0x114), ends inside the first dword of the window at 0x110.
BOOST_AUTO_TEST_CASE(a_capability_ending_in_the_window_first_dword_overlaps_the_mailbox) {
  auto s = snapshot(4096);
  put16(s, 0x00, 0x8086);
  extended_capability(s, 0x100, cid::vendor_specific, 1, 0x110);
  put32(s, 0x104, config::encode_vsec_word(7, 0, 0x14));
  mailbox_window(s, 0x110, 0);
  BOOST_TEST(config::overlaps_another_capability(s, 0x110, 0xB8));
  BOOST_TEST((config::find_mailbox(s).error() == errc::malformed_message));
}

// The window at 0x100 runs to 0x1B8. A Device Serial Number header at 0x1B4 is in its last dword.
BOOST_AUTO_TEST_CASE(a_capability_header_in_the_window_last_dword_overlaps_the_mailbox) {
  auto s = snapshot(4096);
  put16(s, 0x00, 0x8086);
  mailbox_window(s, 0x100, 0x1B4);
  extended_capability(s, 0x1B4, cid::device_serial_number, 1, 0);
  BOOST_TEST(config::overlaps_another_capability(s, 0x100, 0xB8));
  BOOST_TEST((config::find_mailbox(s).error() == errc::malformed_message));
}

// --- Extents and free space ---

// ACS egress control vector: a size field of 0 means 256 bits (8 + 32 bytes). A partial dword takes a
// whole one: 1 bit is 8 + 4 bytes, and 33 bits are 8 + 8.
BOOST_AUTO_TEST_CASE(an_acs_egress_vector_size_of_zero_means_256_bits_and_partial_dwords_round_up) {
  BOOST_TEST(acs_extent(0x0020) == 0x28u);
  BOOST_TEST(acs_extent(0x0120) == 0x0Cu);
  BOOST_TEST(acs_extent(0x2120) == 0x10u);
}

// Resizable BAR with 6 BARs (the most a function has): 4 + 6 * 8 = 0x34 bytes, and free space starts at 0x134.
BOOST_AUTO_TEST_CASE(six_resizable_bars_occupy_0x34_bytes) {
  auto s = snapshot(4096);
  extended_capability(s, 0x100, cid::resizable_bar, 1, 0);
  put32(s, 0x108, 6u << 5);  // first control register: 6 resizable BARs
  const auto walk = config::walk_extended_capabilities(s);
  BOOST_TEST_REQUIRE(walk.entries.size() == 1u);
  BOOST_TEST(config::known_extent(s, walk.entries[0]) == 0x34u);
  const auto free = config::find_free_space(s);
  BOOST_TEST_REQUIRE(free.has_value());
  BOOST_TEST_REQUIRE(free->size() == 1u);
  BOOST_TEST((*free)[0].start == 0x134);
}

// A 0x1FF-byte snapshot: free space ends at 0x1FC, and the partial dword 0x1FC..0x1FE is never read.
BOOST_AUTO_TEST_CASE(free_space_of_an_unaligned_snapshot_stops_at_its_last_whole_dword) {
  const auto s = snapshot(0x1FF);
  const auto map = config::find_free_space(s);
  BOOST_TEST_REQUIRE(map.has_value());
  BOOST_TEST_REQUIRE(map->size() == 1u);
  BOOST_TEST((*map)[0].start == 0x104);
  BOOST_TEST((*map)[0].end == 0x1FC);
}

// --- Placing windows ---

// An empty list and a snapshot that ends exactly at 0x100 + 0xB8.
BOOST_AUTO_TEST_CASE(a_region_that_exactly_fills_an_empty_space_is_placed_at_0x100) {
  auto s = snapshot(0x100 + 0xB8);
  const auto at = config::place_dvsec(s, {0x8086, 0x5650, 2, 0xB8});
  BOOST_TEST_REQUIRE(at.has_value());
  BOOST_TEST(*at == 0x100);
}

// 0xFFC is the largest dword-multiple length. It does not fit (insufficient_resources) but is not invalid.
BOOST_AUTO_TEST_CASE(a_placed_length_of_0xffc_is_valid_and_0x1000_is_not) {
  auto s = snapshot(4096);
  BOOST_TEST((config::place_vsec(s, {1, 0, 0xFFC}).error() == errc::insufficient_resources));
  BOOST_TEST((config::place_dvsec(s, {0x8086, 0x5650, 2, 0xFFC}).error() == errc::insufficient_resources));
  BOOST_TEST((config::place_vsec(s, {1, 0, 0x1000}).error() == errc::invalid_argument));
}

BOOST_AUTO_TEST_CASE(dvsec_revision_15_is_placed_and_16_is_invalid) {
  auto s = snapshot(4096);
  const auto at = config::place_dvsec(s, {0x8086, 0x1234, 15, 0x10});
  BOOST_TEST_REQUIRE(at.has_value());
  BOOST_TEST(config::decode_dvsec(s, *at)->revision == 15);
  BOOST_TEST((config::place_dvsec(s, {0x8086, 0x1234, 16, 0x10}).error() == errc::invalid_argument));
}

// 0x100 reads all ones, meaning there is no extended space, even though the dwords after it read zero.
// Nothing is placed and the span is unchanged.
BOOST_AUTO_TEST_CASE(an_all_ones_extended_head_takes_no_placement) {
  auto s = snapshot(4096);
  put32(s, 0x100, 0xFFFFFFFFu);
  const bytes before(s);
  BOOST_TEST((config::place_vsec(s, {1, 0, 0x10}).error() == errc::insufficient_resources));
  BOOST_TEST((config::place_dvsec(s, {0x8086, 0x5650, 2, 0xB8}).error() == errc::insufficient_resources));
  BOOST_TEST((s == before));
}

// --- Freeing windows ---

// 0x200-byte snapshot with a VSEC at 0x100 of length 0x180 (to 0x280). Zeroing it would write 0x80 bytes
// past the span.
BOOST_AUTO_TEST_CASE(freeing_a_vsec_that_runs_past_the_snapshot_end_is_out_of_range_and_writes_nothing) {
  auto s = snapshot(0x200);
  extended_capability(s, 0x100, cid::vendor_specific, 1, 0);
  put32(s, 0x104, config::encode_vsec_word(7, 0, 0x180));
  const bytes before(s);
  BOOST_TEST((config::free_vsec(s, 0x100) == errc::out_of_range));
  BOOST_TEST((s == before));
}

// A VSEC at 0x100 of length 0x20 (to 0x120) links to a Device Serial Number at 0x11C. Freeing it would
// zero that header.
BOOST_AUTO_TEST_CASE(freeing_a_vsec_that_covers_another_header_in_its_last_dword_is_refused) {
  auto s = snapshot(4096);
  extended_capability(s, 0x100, cid::vendor_specific, 1, 0x11C);
  put32(s, 0x104, config::encode_vsec_word(7, 0, 0x20));
  extended_capability(s, 0x11C, cid::device_serial_number, 1, 0);
  const bytes before(s);
  BOOST_TEST((config::free_vsec(s, 0x100) == errc::malformed_message));
  BOOST_TEST((s == before));
}

// A linked DSN at 0x1FC of a 0x200-byte snapshot is not a VSEC or DVSEC. The answer is not_found, even
// though a (D)VSEC header there would not fit (decode_vsec's out_of_range).
BOOST_AUTO_TEST_CASE(freeing_a_non_vsec_at_the_snapshot_end_is_not_found_rather_than_out_of_range) {
  auto s = snapshot(0x200);
  extended_capability(s, 0x100, cid::advanced_error_reporting, 1, 0x1FC);
  extended_capability(s, 0x1FC, cid::device_serial_number, 1, 0);
  BOOST_TEST((config::free_vsec(s, 0x1FC) == errc::not_found));
  BOOST_TEST((config::free_dvsec(s, 0x1FC) == errc::not_found));
}

BOOST_AUTO_TEST_SUITE_END()
