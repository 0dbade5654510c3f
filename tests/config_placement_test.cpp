#include <boost/test/unit_test.hpp>

#include <cstdint>
#include <ostream>
#include <vector>

#include <vpci/config/placement.hpp>

#include "config_fixtures.hpp"

namespace vpci::config {
std::ostream& boost_test_print_type(std::ostream& out, const free_range& r) {
  return out << std::hex << "[0x" << r.start << ", 0x" << r.end << ")" << std::dec;
}
}  // namespace vpci::config

BOOST_AUTO_TEST_SUITE(config_placement_test)

using namespace vpci;
using vpci::test::config_image;
namespace cid = config::extended_capability_id;

namespace {
std::vector<config::free_range> ranges(const config_image& image, std::size_t size = 4096) {
  auto map = config::find_free_space(image.view(size));
  BOOST_TEST_REQUIRE(map.has_value());
  return {map->begin(), map->end()};
}
using range_list = std::vector<config::free_range>;
}  // namespace

namespace {

std::vector<std::uint16_t> list_offsets(const config_image& image) {
  const auto walk = config::walk_extended_capabilities(image.view());
  BOOST_TEST((walk.error == no_error));
  std::vector<std::uint16_t> out;
  for (const auto& c : walk.entries) out.push_back(c.offset);
  return out;
}
using v16 = std::vector<std::uint16_t>;

// AER at 0x100 (0x48 bytes), ARI at 0x148 (8), SR-IOV at 0x150 (0x40): used up to 0x190.
config_image pf_with_caps() {
  config_image image;
  image.extended_capability(0x100, cid::advanced_error_reporting, 2, 0x148);
  image.extended_capability(0x148, cid::alternative_routing_id, 1, 0x150);
  image.extended_capability(0x150, cid::sriov, 1, 0);
  image.put16(0x150 + 0x0E, 8);  // TotalVFs: a nonzero register inside the capability
  return image;
}
}  // namespace

BOOST_AUTO_TEST_CASE(empty_list_leaves_all_but_the_head_free) {
  BOOST_TEST(ranges(config_image{}) == range_list({{0x104, 0x1000}}), boost::test_tools::per_element());
  BOOST_TEST(ranges(config_image{}, 256).empty());
  BOOST_TEST(ranges(config_image{}, 0x200) == range_list({{0x104, 0x200}}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(known_extents) {
  BOOST_TEST(ranges(pf_with_caps()) == range_list({{0x190, 0x1000}}), boost::test_tools::per_element());
  config_image image;
  image.extended_capability(0x100, cid::device_serial_number, 1, 0x200);   // 0x0C
  image.extended_capability(0x200, cid::vendor_specific, 1, 0x300);        // its length: 0x18
  image.put32(0x204, config::encode_vsec_word(7, 0, 0x18));
  image.extended_capability(0x300, cid::access_control_services, 1, 0x400);
  image.put16(0x304, 0x2020);  // egress control with a 32-bit vector: 8 + 4 bytes
  image.extended_capability(0x400, cid::resizable_bar, 1, 0);
  image.put32(0x408, 2u << 5);  // two resizable BARs: 4 + 2 * 8 bytes
  BOOST_TEST(ranges(image) == range_list({{0x10C, 0x200}, {0x218, 0x300}, {0x30C, 0x400}, {0x414, 0x1000}}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(unknown_ids_occupy_up_to_the_next_header) {
  config_image image;
  image.extended_capability(0x100, 0x0019, 1, 0x300);  // Secondary PCIe: variable size, treated as unknown
  image.extended_capability(0x300, cid::latency_tolerance_reporting, 1, 0x200);
  image.extended_capability(0x200, 0x7777, 1, 0);       // unknown: up to the header at 0x300
  BOOST_TEST(ranges(image) == range_list({{0x308, 0x1000}}), boost::test_tools::per_element());
  image.extended_capability(0x300, 0x7778, 1, 0x200);   // unknown and highest: to the end of the space
  BOOST_TEST(ranges(image).empty());
  image.extended_capability(0x300, cid::latency_tolerance_reporting, 1, 0x200);
  image.extended_capability(0x200, cid::pasid, 1, 0);
  BOOST_TEST(ranges(image) == range_list({{0x208, 0x300}, {0x308, 0x1000}}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(nonzero_dwords_outside_the_list_are_not_free) {
  config_image image;
  image.put32(0x800, 0xDEADBEEFu);  // a register the device keeps outside its list
  image.put8(0x901, 0x01);
  BOOST_TEST(ranges(image) == range_list({{0x104, 0x800}, {0x804, 0x900}, {0x904, 0x1000}}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(malformed_list_has_no_free_space) {
  config_image image;
  image.extended_capability(0x100, cid::advanced_error_reporting, 1, 0x100);
  BOOST_TEST((config::find_free_space(image.view()).error() == errc::capability_loop));
  image.extended_capability(0x100, cid::advanced_error_reporting, 1, 0x80);
  BOOST_TEST((config::find_free_space(image.view()).error() == errc::bad_capability_pointer));
}

// for_each_free_range is find_free_space without the 2 KiB map (the placement's own walk on a firmware's
// stack): the same ranges in the same order, an early stop when the visitor says so, the same errors, and
// then no visit at all.
BOOST_AUTO_TEST_CASE(a_placement_on_a_small_firmware_stack_walks_the_free_ranges_without_a_map) {
  config_image image = pf_with_caps();
  image.put8(0x801, 0x01);
  image.put8(0x901, 0x01);
  range_list visited;
  BOOST_TEST((config::for_each_free_range(image.view(), [&](const config::free_range& r) { visited.push_back(r); }) ==
              no_error));
  BOOST_TEST(visited == ranges(image), boost::test_tools::per_element());
  BOOST_TEST(visited == range_list({{0x190, 0x800}, {0x804, 0x900}, {0x904, 0x1000}}), boost::test_tools::per_element());

  range_list first_two;
  BOOST_TEST((config::for_each_free_range(image.view(), [&](const config::free_range& r) {
                first_two.push_back(r);
                return first_two.size() < 2;
              }) == no_error));
  BOOST_TEST(first_two == range_list({{0x190, 0x800}, {0x804, 0x900}}), boost::test_tools::per_element());

  // A placement too large for the first range goes to the lowest one that holds it.
  config_image placed = pf_with_caps();
  placed.put8(0x201, 0x01);
  const auto at = config::place_dvsec(placed.span(), {0x1AF4, 0x5650, 2, 0xB8});
  BOOST_TEST_REQUIRE(at.has_value());
  BOOST_TEST(*at == 0x204);

  config_image looped;
  looped.extended_capability(0x100, cid::advanced_error_reporting, 1, 0x100);
  std::size_t visits = 0;
  BOOST_TEST((config::for_each_free_range(looped.view(), [&](const config::free_range&) { ++visits; }) ==
              errc::capability_loop));
  BOOST_TEST(visits == 0u);
}

BOOST_AUTO_TEST_CASE(places_at_0x100_in_an_empty_list_and_frees) {
  config_image image;
  const auto before = image.bytes();
  const auto placed = config::place_vsec(image.span(), {0x1AB, 2, 0x40});
  BOOST_TEST_REQUIRE(placed.has_value());
  BOOST_TEST(*placed == 0x100);
  BOOST_TEST(image.get32(0x100) == 0x0001000Bu);  // VSEC, version 1, next 0
  BOOST_TEST(image.get32(0x104) == 0x040201ABu);
  BOOST_TEST(list_offsets(image) == v16({0x100}), boost::test_tools::per_element());
  const auto v = config::decode_vsec(image.view(), 0x100);
  BOOST_TEST((*v == config::vsec_header{0x100, 1, 0, 0x1AB, 2, 0x40}));
  BOOST_TEST(ranges(image) == range_list({{0x140, 0x1000}}), boost::test_tools::per_element());

  BOOST_TEST((config::free_vsec(image.span(), 0x100) == no_error));
  BOOST_TEST((image.bytes() == before));
}

BOOST_AUTO_TEST_CASE(appends_at_the_tail_and_frees_byte_for_byte) {
  config_image image = pf_with_caps();
  const auto before = image.bytes();
  const auto placed = config::place_vsec(image.span(), {0x0001, 0, 0x80});
  BOOST_TEST_REQUIRE(placed.has_value());
  BOOST_TEST(*placed == 0x190);
  BOOST_TEST(list_offsets(image) == v16({0x100, 0x148, 0x150, 0x190}), boost::test_tools::per_element());
  BOOST_TEST(image.get32(0x150) == config::encode_extended_header(cid::sriov, 1, 0x190));
  BOOST_TEST(config::find_sriov(image.view())->total_vfs == 8);  // the SR-IOV registers are intact
  BOOST_TEST((config::free_vsec(image.span(), 0x190) == no_error));
  BOOST_TEST((image.bytes() == before));
}

BOOST_AUTO_TEST_CASE(one_region_per_vf_then_free_in_any_order) {
  config_image image = pf_with_caps();
  const auto before = image.bytes();
  std::vector<std::uint16_t> placed;
  for (std::uint16_t vf = 0; vf < 8; ++vf) {
    auto at = config::place_vsec(image.span(), {static_cast<std::uint16_t>(0x100 + vf), 1, 0x100});
    BOOST_TEST_REQUIRE(at.has_value());
    placed.push_back(*at);
  }
  BOOST_TEST(placed == v16({0x190, 0x290, 0x390, 0x490, 0x590, 0x690, 0x790, 0x890}), boost::test_tools::per_element());
  BOOST_TEST(list_offsets(image).size() == 11u);
  // Free the middle one: the list skips it and the space is reused by the next placement.
  BOOST_TEST((config::free_vsec(image.span(), 0x390) == no_error));
  BOOST_TEST(list_offsets(image) == v16({0x100, 0x148, 0x150, 0x190, 0x290, 0x490, 0x590, 0x690, 0x790, 0x890}),
             boost::test_tools::per_element());
  auto again = config::place_vsec(image.span(), {0x200, 1, 0x100});
  BOOST_TEST(*again == 0x390);
  BOOST_TEST(list_offsets(image).back() == 0x390);
  for (int at : {0x890, 0x190, 0x390, 0x490, 0x290, 0x690, 0x590, 0x790})
    BOOST_TEST((config::free_vsec(image.span(), static_cast<std::uint16_t>(at)) == no_error));
  BOOST_TEST((image.bytes() == before));
}

BOOST_AUTO_TEST_CASE(empty_list_with_0x100_unusable_gets_a_null_head) {
  config_image image;
  image.put32(0x108, 0x5A5A5A5Au);  // 0x100 is the empty head but 0x108 holds an unlisted register
  const auto before = image.bytes();
  const auto placed = config::place_vsec(image.span(), {0x0042, 0, 0x20});
  BOOST_TEST_REQUIRE(placed.has_value());
  BOOST_TEST(*placed == 0x10C);
  BOOST_TEST(image.get32(0x100) == config::encode_extended_header(cid::null_capability, 0, 0x10C));
  BOOST_TEST(list_offsets(image) == v16({0x100, 0x10C}), boost::test_tools::per_element());
  BOOST_TEST((config::free_vsec(image.span(), 0x10C) == no_error));
  BOOST_TEST(image.get32(0x100) == 0u);  // the empty list again
  BOOST_TEST((image.bytes() == before));
}

BOOST_AUTO_TEST_CASE(freeing_the_head_keeps_the_list_at_0x100) {
  config_image image;
  const auto before = image.bytes();
  BOOST_TEST(*config::place_vsec(image.span(), {1, 0, 0x10}) == 0x100);
  BOOST_TEST(*config::place_vsec(image.span(), {2, 0, 0x10}) == 0x110);
  BOOST_TEST((config::free_vsec(image.span(), 0x100) == no_error));
  BOOST_TEST(image.get32(0x100) == config::encode_extended_header(cid::null_capability, 0, 0x110));
  BOOST_TEST(list_offsets(image) == v16({0x100, 0x110}), boost::test_tools::per_element());
  BOOST_TEST(config::decode_vsec(image.view(), 0x110)->vsec_id == 2);
  BOOST_TEST((config::free_vsec(image.span(), 0x110) == no_error));
  BOOST_TEST((image.bytes() == before));
}

BOOST_AUTO_TEST_CASE(does_not_fit_changes_nothing) {
  config_image image = pf_with_caps();
  image.put32(0x800, 1);  // splits the free space into [0x190, 0x800) and [0x804, 0x1000)
  const auto before = image.bytes();
  auto too_big = config::place_vsec(image.span(), {1, 0, 0x800});
  BOOST_TEST((too_big.error() == errc::insufficient_resources));
  BOOST_TEST((image.bytes() == before));
  BOOST_TEST(*config::place_vsec(image.span(), {1, 0, 0x7FC}) == 0x804);  // only the upper range fits it

  config_image conventional;
  const auto conventional_before = conventional.bytes();
  BOOST_TEST((config::place_vsec(conventional.span(256), {1, 0, 8}).error() == errc::insufficient_resources));
  BOOST_TEST((conventional.bytes() == conventional_before));

  config_image no_extended_space;
  for (std::size_t at = 0x100; at < 0x1000; at += 4) no_extended_space.put32(at, 0xFFFFFFFFu);
  const auto all_ones = no_extended_space.bytes();
  BOOST_TEST((config::place_vsec(no_extended_space.span(), {1, 0, 8}).error() == errc::insufficient_resources));
  BOOST_TEST((no_extended_space.bytes() == all_ones));
}

BOOST_AUTO_TEST_CASE(bad_requests_change_nothing) {
  config_image image = pf_with_caps();
  const auto before = image.bytes();
  for (int length : {0, 4, 6, 10, 0xFFD, 0x1000})
    BOOST_TEST((config::place_vsec(image.span(), {1, 0, static_cast<std::uint16_t>(length)}).error() == errc::invalid_argument));
  BOOST_TEST((config::place_vsec(image.span(), {1, 16, 8}).error() == errc::invalid_argument));
  BOOST_TEST((image.bytes() == before));
}

BOOST_AUTO_TEST_CASE(malformed_list_is_not_edited) {
  config_image image = pf_with_caps();
  image.extended_capability(0x150, cid::sriov, 1, 0x148);  // SR-IOV -> ARI -> SR-IOV ...
  const auto before = image.bytes();
  BOOST_TEST((config::place_vsec(image.span(), {1, 0, 8}).error() == errc::capability_loop));
  BOOST_TEST((config::free_vsec(image.span(), 0x150) == errc::capability_loop));
  BOOST_TEST((image.bytes() == before));
}

BOOST_AUTO_TEST_CASE(free_refuses_what_it_did_not_place) {
  config_image image = pf_with_caps();
  const auto placed = config::place_vsec(image.span(), {1, 0, 0x20});
  const auto before = image.bytes();
  BOOST_TEST((config::free_vsec(image.span(), 0x150) == errc::not_found));  // SR-IOV, not a VSEC
  BOOST_TEST((config::free_vsec(image.span(), 0x194) == errc::not_found));  // inside, not a header
  BOOST_TEST((config::free_vsec(image.span(), 0x800) == errc::not_found));
  BOOST_TEST((image.bytes() == before));
  // A VSEC whose length would swallow the next capability's header is not zeroed.
  image.put32(*placed + 4u, config::encode_vsec_word(1, 0, 0x20));
  image.extended_capability(*placed, cid::vendor_specific, 1, 0x1A0);
  image.extended_capability(0x1A0, cid::alternative_routing_id, 1, 0);
  const auto overlapping = image.bytes();
  BOOST_TEST((config::free_vsec(image.span(), *placed) == errc::malformed_message));
  BOOST_TEST((image.bytes() == overlapping));
  // A VSEC with an invalid length: decode_vsec's error.
  image.put32(*placed + 4u, config::encode_vsec_word(1, 0, 4));
  const auto short_length = image.bytes();
  BOOST_TEST((config::free_vsec(image.span(), *placed) == errc::malformed_message));
  BOOST_TEST((image.bytes() == short_length));
}

// Found by the config_placement fuzz target: freeing the VSEC behind a Null Capability (version 0) in the
// middle of the list wrote that Null header as all zeros, which the walk reads as a broken link.
BOOST_AUTO_TEST_CASE(freeing_the_vsec_behind_a_null_capability_keeps_the_list_walkable) {
  config_image image = pf_with_caps();
  image.extended_capability(0x150, cid::sriov, 1, 0x190);
  image.extended_capability(0x190, cid::null_capability, 0, 0x1A0);  // links SR-IOV to the VSEC
  image.extended_capability(0x1A0, cid::vendor_specific, 1, 0);
  image.put32(0x1A4, config::encode_vsec_word(0x5650, 1, 0x20));
  BOOST_TEST((config::free_vsec(image.span(), 0x1A0) == no_error));
  // The Null Capability would link nothing: it is unlinked too, and SR-IOV ends the list.
  BOOST_TEST(list_offsets(image) == v16({0x100, 0x148, 0x150}), boost::test_tools::per_element());
  BOOST_TEST(image.get32(0x150) == config::encode_extended_header(cid::sriov, 1, 0));
  for (std::size_t at = 0x190; at < 0x1C0; at += 4) BOOST_TEST(image.get32(at) == 0u);
  BOOST_TEST(image.get32(0x150 + 0x0C) == 8u << 16);  // SR-IOV's registers are untouched

  // A chain of Null Capabilities from the head: all of them go, leaving the empty list.
  config_image nulls;
  nulls.extended_capability(0x100, cid::null_capability, 0, 0x110);
  nulls.extended_capability(0x110, cid::null_capability, 0, 0x120);
  nulls.extended_capability(0x120, cid::vendor_specific, 1, 0);
  nulls.put32(0x124, config::encode_vsec_word(0x5650, 1, 0x10));
  BOOST_TEST((config::free_vsec(nulls.span(), 0x120) == no_error));
  BOOST_TEST(config::extended_list_empty(nulls.view()));
  BOOST_TEST((config::walk_extended_capabilities(nulls.view()).error == no_error));
  BOOST_TEST((nulls.bytes() == config_image{}.bytes()));

  // A Null Capability of another version is not all zeros when it ends the list: it stays.
  config_image versioned = pf_with_caps();
  versioned.extended_capability(0x150, cid::sriov, 1, 0x190);
  versioned.extended_capability(0x190, cid::null_capability, 1, 0x1A0);
  versioned.extended_capability(0x1A0, cid::vendor_specific, 1, 0);
  versioned.put32(0x1A4, config::encode_vsec_word(0x5650, 1, 0x20));
  BOOST_TEST((config::free_vsec(versioned.span(), 0x1A0) == no_error));
  BOOST_TEST(list_offsets(versioned) == v16({0x100, 0x148, 0x150, 0x190}), boost::test_tools::per_element());
}

// A link with its reserved bits 1:0 set is followed masked by the walk, and freeing follows the same
// links: the Null Capability behind such a link is unlinked, nothing outside the chain is written (the
// raw link, 0x143, once led the loop to offset 0: the header zeroed, then an endless loop). A rewritten
// link keeps its reserved bits, so placing and freeing give back the bytes found.
BOOST_AUTO_TEST_CASE(freeing_behind_a_link_with_reserved_bits_set_follows_it_masked) {
  config_image image;
  image.put32(0x000, 0x12348086u);
  image.extended_capability(0x100, cid::vendor_specific, 1, 0x143);
  image.put32(0x104, config::encode_vsec_word(0x1234, 1, 0x10));
  image.extended_capability(0x140, cid::null_capability, 0, 0x180);
  image.extended_capability(0x180, cid::vendor_specific, 1, 0);
  image.put32(0x184, config::encode_vsec_word(0x5650, 1, 0x20));
  BOOST_TEST(list_offsets(image) == v16({0x100, 0x140, 0x180}), boost::test_tools::per_element());
  BOOST_TEST((config::free_vsec(image.span(), 0x180) == no_error));
  BOOST_TEST(list_offsets(image) == v16({0x100}), boost::test_tools::per_element());
  BOOST_TEST(image.get32(0x000) == 0x12348086u);
  // The link now ends the list; its reserved bits stay as they were (the walk masks them: next 0).
  BOOST_TEST(image.get32(0x100) == config::encode_extended_header(cid::vendor_specific, 1, 0x003));
  for (std::size_t at = 0x140; at < 0x1A0; at += 4) BOOST_TEST(image.get32(at) == 0u);
}

BOOST_AUTO_TEST_CASE(placing_after_a_link_with_reserved_bits_and_freeing_restores_the_bytes) {
  config_image image;
  image.extended_capability(0x100, cid::advanced_error_reporting, 1, 0x002);  // ends the list, bit 1 set
  const auto before = image.bytes();
  const auto placed = config::place_vsec(image.span(), {0x5650, 1, 0x20});
  BOOST_TEST_REQUIRE(placed.has_value());
  BOOST_TEST(image.get32(0x100) == config::encode_extended_header(cid::advanced_error_reporting, 1, *placed | 0x002));
  BOOST_TEST(list_offsets(image) == v16({0x100, *placed}), boost::test_tools::per_element());
  BOOST_TEST((config::free_vsec(image.span(), *placed) == no_error));
  BOOST_TEST((image.bytes() == before));
}

// A kept reserved bit never makes a header all ones (ID 0xFFFF, version 15, a link to 0xFFC): that reads as
// no extended space. The bits are dropped then, and the list stays walkable.
BOOST_AUTO_TEST_CASE(a_relinked_header_never_becomes_all_ones) {
  config_image image;
  image.put32(0x100, config::encode_extended_header(0xFFFF, 0xF, 0x203));  // a link with bits 1:0 set
  image.extended_capability(0x200, cid::vendor_specific, 1, 0xFFC);
  image.put32(0x204, config::encode_vsec_word(0x5650, 1, 0x10));
  image.extended_capability(0xFFC, cid::null_capability, 1, 0);
  BOOST_TEST(list_offsets(image) == v16({0x100, 0x200, 0xFFC}), boost::test_tools::per_element());
  BOOST_TEST((config::free_vsec(image.span(), 0x200) == no_error));
  BOOST_TEST(image.get32(0x100) == config::encode_extended_header(0xFFFF, 0xF, 0xFFC));
  BOOST_TEST(list_offsets(image) == v16({0x100, 0xFFC}), boost::test_tools::per_element());
}

// DVSECs are placed by the same rule as VSECs, with their three header dwords.
// Found by a longer fuzz run (config_placement): a placement whose header equals the function's first
// dword, placed at 0x100 where the space repeats that dword at every other 256-byte boundary, completed the
// alias that marks a function without extended space (extended_space_aliases_header, Linux's
// pci_ext_cfg_is_aliased). It succeeded, and the capability it placed could not be found or freed: every
// walk of the space failed with not_supported. A removal could complete the alias the same way (a Null head
// equal to the first dword). Both are refused now, with not_supported and nothing written; a placement
// that leaves one boundary different is made as before.
BOOST_AUTO_TEST_CASE(placing_or_freeing_never_makes_the_space_repeat_its_header) {
  // A DVSEC at 0x100 of a 4 KiB space whose first dword, 0x00010023, is its header, as is every boundary
  // from 0x200 on.
  config_image aliased_but_0x100(0x0023, 0x0001);
  for (std::size_t at = 0x200; at < 0x1000; at += 0x100) aliased_but_0x100.put32(at, 0x00010023);
  const config::dvsec_request dvsec{0x8086, 0x5650, 2, 12};
  config_image image = aliased_but_0x100;
  auto placed = config::place_dvsec(image.span(), dvsec);
  BOOST_TEST((!placed && placed.error() == errc::not_supported));
  BOOST_TEST((image.bytes() == aliased_but_0x100.bytes()));
  // One boundary different: placed at 0x100 and found there.
  image.put32(0xF00, 0);
  placed = config::place_dvsec(image.span(), dvsec);
  BOOST_TEST_REQUIRE(placed.has_value());
  BOOST_TEST(*placed == 0x100u);
  BOOST_TEST(list_offsets(image) == v16({0x100}), boost::test_tools::per_element());
  BOOST_TEST((config::free_dvsec(image.span(), 0x100) == no_error));

  // A VSEC in a snapshot that reaches only past 0x100 (one boundary): the first dword is its header.
  config_image vsec_header_first(0x000B, 0x0001);
  const config_image before_vsec = vsec_header_first;
  auto vsec = config::place_vsec(vsec_header_first.span(0x108), config::vsec_request{1, 0, 8});
  BOOST_TEST((!vsec && vsec.error() == errc::not_supported));
  BOOST_TEST((vsec_header_first.bytes() == before_vsec.bytes()));

  // Freeing the VSEC at the head: the Null head linking past it, 0x10800000, is the first dword.
  config_image head_vsec(0x0000, 0x1080);
  head_vsec.extended_capability(0x100, cid::vendor_specific, 1, 0x108);
  head_vsec.put32(0x104, config::encode_vsec_word(0, 0, 8));
  head_vsec.extended_capability(0x108, cid::null_capability, 1, 0);
  const config_image before_free = head_vsec;
  BOOST_TEST((config::walk_extended_capabilities(head_vsec.view(0x10C)).error == no_error));
  BOOST_TEST((config::free_vsec(head_vsec.span(0x10C), 0x100) == errc::not_supported));
  BOOST_TEST((head_vsec.bytes() == before_free.bytes()));
  // With extended space beyond 0x1FF that does not repeat it, the same removal is made.
  BOOST_TEST((config::free_vsec(head_vsec.span(), 0x100) == no_error));
  BOOST_TEST(list_offsets(head_vsec) == v16({0x100, 0x108}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(places_a_dvsec_by_the_same_rule_and_frees_it) {
  config_image image;
  const auto before = image.bytes();
  const auto placed = config::place_dvsec(image.span(), {0x8086, 0x5650, 2, 0xB8});
  BOOST_TEST_REQUIRE(placed.has_value());
  BOOST_TEST(*placed == 0x100);
  BOOST_TEST(image.get32(0x100) == 0x00010023u);  // DVSEC, version 1, next 0
  BOOST_TEST(image.get32(0x104) == 0x0B828086u);  // vendor 8086, revision 2, length 0xB8
  BOOST_TEST(image.get32(0x108) == 0x00005650u);  // DVSEC ID
  const auto d = config::decode_dvsec(image.view(), 0x100);
  BOOST_TEST((*d == config::dvsec_header{0x100, 1, 0, 0x8086, 2, 0xB8, 0x5650}));
  BOOST_TEST(ranges(image) == range_list({{0x1B8, 0x1000}}), boost::test_tools::per_element());
  // A VSEC next: after the DVSEC, linked from it.
  const auto vsec = config::place_vsec(image.span(), {0x1234, 1, 0x10});
  BOOST_TEST(*vsec == 0x1B8);
  BOOST_TEST(list_offsets(image) == v16({0x100, 0x1B8}), boost::test_tools::per_element());
  // Each free refuses the other kind.
  BOOST_TEST((config::free_vsec(image.span(), 0x100) == errc::not_found));
  BOOST_TEST((config::free_dvsec(image.span(), 0x1B8) == errc::not_found));
  BOOST_TEST((config::free_dvsec(image.span(), 0x100) == no_error));
  BOOST_TEST(image.get32(0x100) == config::encode_extended_header(cid::null_capability, 0, 0x1B8));
  BOOST_TEST((config::free_vsec(image.span(), 0x1B8) == no_error));
  BOOST_TEST((image.bytes() == before));

  // Appended to a PF's list, freed byte for byte.
  config_image pf = pf_with_caps();
  const auto pf_before = pf.bytes();
  BOOST_TEST(*config::place_dvsec(pf.span(), {0x1AF4, 0x0042, 0, 0x0C}) == 0x190);
  BOOST_TEST(pf.get32(0x150) == config::encode_extended_header(cid::sriov, 1, 0x190));
  BOOST_TEST((config::free_dvsec(pf.span(), 0x190) == no_error));
  BOOST_TEST((pf.bytes() == pf_before));
}

BOOST_AUTO_TEST_CASE(bad_dvsec_requests_change_nothing) {
  config_image image = pf_with_caps();
  const auto before = image.bytes();
  for (int length : {0, 8, 10, 14, 0xFFD, 0x1000})
    BOOST_TEST((config::place_dvsec(image.span(), {1, 2, 0, static_cast<std::uint16_t>(length)}).error() == errc::invalid_argument),
               "length " << length);
  BOOST_TEST((config::place_dvsec(image.span(), {1, 2, 16, 0x10}).error() == errc::invalid_argument));
  BOOST_TEST((image.bytes() == before));
  image.extended_capability(0x150, cid::sriov, 1, 0x148);  // a loop
  const auto looping = image.bytes();
  BOOST_TEST((config::place_dvsec(image.span(), {1, 2, 0, 0x10}).error() == errc::capability_loop));
  BOOST_TEST((image.bytes() == looping));
  config_image full;
  for (std::size_t at = 0x104; at < 0x1000; at += 4) full.put32(at, 1);
  const auto full_before = full.bytes();
  BOOST_TEST((config::place_dvsec(full.span(), {1, 2, 0, 0x10}).error() == errc::insufficient_resources));
  BOOST_TEST((full.bytes() == full_before));
}

BOOST_AUTO_TEST_SUITE_END()  // config_placement_test
