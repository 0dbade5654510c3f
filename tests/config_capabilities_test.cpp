#include <boost/test/unit_test.hpp>

#include <array>
#include <cstdint>
#include <vector>

#include <vpci/config/capabilities.hpp>
#include <vpci/config/find_mailbox.hpp>
#include <vpci/config/vsec.hpp>
#include <vpci/wire/mailbox.hpp>

#include "config_fixtures.hpp"

BOOST_AUTO_TEST_SUITE(config_capabilities_test)

using namespace vpci;
using vpci::test::config_image;
namespace cid = config::extended_capability_id;

namespace {
std::vector<std::uint8_t> offsets(const config::capability_walk& walk) {
  std::vector<std::uint8_t> out;
  for (const auto& c : walk.entries) out.push_back(c.offset);
  return out;
}
std::vector<std::uint16_t> offsets(const config::extended_capability_walk& walk) {
  std::vector<std::uint16_t> out;
  for (const auto& c : walk.entries) out.push_back(c.offset);
  return out;
}
using v8 = std::vector<std::uint8_t>;
using v16 = std::vector<std::uint16_t>;
}  // namespace

BOOST_AUTO_TEST_CASE(walks_the_standard_list_in_list_order) {
  config_image image;
  image.capability_pointer(0x40);
  image.standard_capability(0x40, 0x01, 0x70);
  image.standard_capability(0x70, 0x05, 0x50);
  image.standard_capability(0x50, 0x10, 0x00);
  const auto walk = config::walk_capabilities(image.view(256));
  BOOST_TEST((walk.error == no_error));
  BOOST_TEST_REQUIRE(walk.entries.size() == 3u);
  BOOST_TEST((walk.entries[0] == config::capability{0x01, 0x40, 0x70}));
  BOOST_TEST((walk.entries[1] == config::capability{0x05, 0x70, 0x50}));
  BOOST_TEST((walk.entries[2] == config::capability{0x10, 0x50, 0x00}));
}

BOOST_AUTO_TEST_CASE(no_list_without_status_bit_4) {
  config_image image;
  image.put8(0x34, 0x40);
  image.standard_capability(0x40, 0x01, 0x00);
  const auto walk = config::walk_capabilities(image.view(256));
  BOOST_TEST((walk.error == no_error));
  BOOST_TEST(walk.entries.empty());
}

BOOST_AUTO_TEST_CASE(standard_self_loop) {
  config_image image;
  image.capability_pointer(0x40);
  image.standard_capability(0x40, 0x01, 0x40);
  const auto walk = config::walk_capabilities(image.view(256));
  BOOST_TEST((walk.error == errc::capability_loop));
  BOOST_TEST(offsets(walk) == v8({0x40}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(standard_longer_cycle) {
  config_image image;
  image.capability_pointer(0x40);
  image.standard_capability(0x40, 0x01, 0x50);
  image.standard_capability(0x50, 0x05, 0x60);
  image.standard_capability(0x60, 0x10, 0x50);
  const auto walk = config::walk_capabilities(image.view(256));
  BOOST_TEST((walk.error == errc::capability_loop));
  BOOST_TEST(offsets(walk) == v8({0x40, 0x50, 0x60}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(standard_loop_through_masked_low_bits) {
  // 0x43 masks to 0x40: the loop is found on the masked pointer, as the spec's masking rule implies.
  config_image image;
  image.capability_pointer(0x40);
  image.standard_capability(0x40, 0x01, 0x43);
  const auto walk = config::walk_capabilities(image.view(256));
  BOOST_TEST((walk.error == errc::capability_loop));
  BOOST_TEST(walk.entries.size() == 1u);
}

BOOST_AUTO_TEST_CASE(standard_pointer_into_the_header) {
  config_image image;
  image.capability_pointer(0x3C);
  BOOST_TEST((config::walk_capabilities(image.view(256)).error == errc::bad_capability_pointer));
  BOOST_TEST(config::walk_capabilities(image.view(256)).entries.empty());

  image.capability_pointer(0x40);
  image.standard_capability(0x40, 0x01, 0x10);
  const auto walk = config::walk_capabilities(image.view(256));
  BOOST_TEST((walk.error == errc::bad_capability_pointer));
  BOOST_TEST(offsets(walk) == v8({0x40}), boost::test_tools::per_element());
}

// An entry that reads ID 0xFF is nothing answering there, not a capability: Linux's walk ends at it
// (__pci_find_next_cap_ttl) and lspci prints "<chain broken>"; what follows it is not listed.
BOOST_AUTO_TEST_CASE(standard_entry_with_id_ff_ends_the_walk) {
  config_image image;
  image.capability_pointer(0x40);
  image.standard_capability(0x40, 0x01, 0x50);
  image.standard_capability(0x50, 0xFF, 0x60);
  image.standard_capability(0x60, 0x05, 0x00);
  const auto before = image.bytes();
  const auto walk = config::walk_capabilities(image.view(256));
  BOOST_TEST((walk.error == errc::bad_capability_pointer));
  BOOST_TEST(offsets(walk) == v8({0x40}), boost::test_tools::per_element());
  BOOST_TEST((config::find_capability(image.view(256), 0x05).error() == errc::bad_capability_pointer));
  BOOST_TEST((image.bytes() == before));
}

// Layouts other than 0, 1 and 2 say nowhere where a capability pointer is: an absent function's all-ones
// space (layout 0x7F, status bit 4 set) walked from 0x34 read 0xFF entries until it "looped".
BOOST_AUTO_TEST_CASE(unknown_header_layout_has_no_standard_list) {
  std::array<std::byte, 4096> ones{};
  ones.fill(std::byte{0xFF});
  const auto walk = config::walk_capabilities(ones);
  BOOST_TEST((walk.error == errc::not_supported));
  BOOST_TEST(walk.entries.empty());
  BOOST_TEST((config::walk_extended_capabilities(ones).error == no_error));  // all ones at 0x100: no list
  BOOST_TEST(config::walk_extended_capabilities(ones).entries.empty());

  config_image image;
  image.capability_pointer(0x40);
  image.standard_capability(0x40, 0x01, 0x00);
  image.put8(0x0E, 0x83);  // a multi-function device of layout 3
  BOOST_TEST((config::walk_capabilities(image.view(256)).error == errc::not_supported));
  image.put8(0x0E, 0x81);  // layout 1, a bridge: the same pointer at 0x34
  BOOST_TEST((config::walk_capabilities(image.view(256)).error == no_error));
  BOOST_TEST(config::walk_capabilities(image.view(256)).entries.size() == 1u);
}

BOOST_AUTO_TEST_CASE(standard_misaligned_pointer_is_masked) {
  // Bits 1:0 are reserved and software masks them (PCI 3.0 6.7; Linux and lspci do the same).
  config_image image;
  image.capability_pointer(0x42);
  image.standard_capability(0x40, 0x01, 0x51);
  image.standard_capability(0x50, 0x11, 0x00);
  const auto walk = config::walk_capabilities(image.view(256));
  BOOST_TEST((walk.error == no_error));
  BOOST_TEST(offsets(walk) == v8({0x40, 0x50}), boost::test_tools::per_element());
  BOOST_TEST(walk.entries[0].next == 0x51);
}

BOOST_AUTO_TEST_CASE(truncated_snapshot_stops_with_out_of_range) {
  config_image image;
  image.capability_pointer(0x40);
  image.standard_capability(0x40, 0x01, 0x50);
  image.standard_capability(0x50, 0x05, 0x00);
  const auto walk64 = config::walk_capabilities(image.view(64));
  BOOST_TEST((walk64.error == errc::out_of_range));
  BOOST_TEST(walk64.entries.empty());
  const auto walk66 = config::walk_capabilities(image.view(0x42));
  BOOST_TEST((walk66.error == errc::out_of_range));
  BOOST_TEST(offsets(walk66) == v8({0x40}), boost::test_tools::per_element());
  BOOST_TEST((config::walk_capabilities(image.view(32)).error == errc::out_of_range));
}

BOOST_AUTO_TEST_CASE(longest_standard_list_has_48_entries) {
  config_image image;
  image.capability_pointer(0x40);
  for (std::size_t at = 0x40; at < 0x100; at += 4)
    image.standard_capability(static_cast<std::uint8_t>(at), 0x09, static_cast<std::uint8_t>(at == 0xFC ? 0 : at + 4));
  const auto walk = config::walk_capabilities(image.view(256));
  BOOST_TEST((walk.error == no_error));
  BOOST_TEST(walk.entries.size() == config::max_standard_capabilities);
  BOOST_TEST(config::max_standard_capabilities == 48u);
}

BOOST_AUTO_TEST_CASE(walks_the_extended_list) {
  config_image image;
  image.extended_capability(0x100, cid::advanced_error_reporting, 2, 0x148);
  image.extended_capability(0x148, cid::alternative_routing_id, 1, 0x150);
  image.extended_capability(0x150, cid::sriov, 1, 0x190);
  image.extended_capability(0x190, cid::vendor_specific, 1, 0);
  const auto walk = config::walk_extended_capabilities(image.view());
  BOOST_TEST((walk.error == no_error));
  BOOST_TEST_REQUIRE(walk.entries.size() == 4u);
  BOOST_TEST((walk.entries[0] == config::extended_capability{0x0001, 2, 0x100, 0x148}));
  BOOST_TEST((walk.entries[1] == config::extended_capability{0x000E, 1, 0x148, 0x150}));
  BOOST_TEST((walk.entries[2] == config::extended_capability{0x0010, 1, 0x150, 0x190}));
  BOOST_TEST((walk.entries[3] == config::extended_capability{0x000B, 1, 0x190, 0x000}));
}

BOOST_AUTO_TEST_CASE(empty_extended_lists) {
  config_image image;
  BOOST_TEST(config::walk_extended_capabilities(image.view()).entries.empty());
  BOOST_TEST(config::extended_list_empty(image.view()));
  image.put32(0x100, 0xFFFFFFFFu);  // no extended space behind a conventional bridge
  const auto walk = config::walk_extended_capabilities(image.view());
  BOOST_TEST((walk.error == no_error));
  BOOST_TEST(walk.entries.empty());
  // A 256-byte space has no extended list, whatever follows in memory.
  image.extended_capability(0x100, cid::sriov, 1, 0);
  BOOST_TEST(config::walk_extended_capabilities(image.view(256)).entries.empty());
  BOOST_TEST((config::walk_extended_capabilities(image.view(256)).error == no_error));
}

BOOST_AUTO_TEST_CASE(extended_self_loop) {
  config_image image;
  image.extended_capability(0x100, cid::advanced_error_reporting, 1, 0x100);
  const auto walk = config::walk_extended_capabilities(image.view());
  BOOST_TEST((walk.error == errc::capability_loop));
  BOOST_TEST(offsets(walk) == v16({0x100}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(extended_longer_cycle) {
  config_image image;
  image.extended_capability(0x100, cid::advanced_error_reporting, 1, 0x200);
  image.extended_capability(0x200, cid::sriov, 1, 0xFFC);
  image.extended_capability(0xFFC, cid::alternative_routing_id, 1, 0x200);
  const auto walk = config::walk_extended_capabilities(image.view());
  BOOST_TEST((walk.error == errc::capability_loop));
  BOOST_TEST(offsets(walk) == v16({0x100, 0x200, 0xFFC}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(extended_next_below_0x100) {
  for (std::uint16_t next : {std::uint16_t{0x0FC}, std::uint16_t{0x040}, std::uint16_t{0x004}}) {
    config_image image;
    image.extended_capability(0x100, cid::advanced_error_reporting, 1, next);
    const auto walk = config::walk_extended_capabilities(image.view());
    BOOST_TEST((walk.error == errc::bad_capability_pointer));
    BOOST_TEST(offsets(walk) == v16({0x100}), boost::test_tools::per_element());
  }
}

// Bits 1:0 of an extended `next` are reserved and masked, as Linux (PCI_EXT_CAP_NEXT) and lspci do: the
// capability behind the link is found, as a Linux driver finds it.
BOOST_AUTO_TEST_CASE(extended_next_with_reserved_low_bits_set_is_masked_as_linux_does) {
  for (std::uint16_t low_bits : {std::uint16_t{1}, std::uint16_t{2}, std::uint16_t{3}}) {
    config_image image;
    image.extended_capability(0x100, cid::advanced_error_reporting, 1, static_cast<std::uint16_t>(0x148 | low_bits));
    image.extended_capability(0x148, cid::sriov, 1, 0);
    const auto walk = config::walk_extended_capabilities(image.view());
    BOOST_TEST((walk.error == no_error));
    BOOST_TEST(offsets(walk) == v16({0x100, 0x148}), boost::test_tools::per_element());
  }
}

// A function without extended space that repeats its header at every 256-byte boundary from 0x100 has no
// extended list, as Linux decides it (pci_ext_cfg_is_aliased); one boundary that differs makes it a list.
BOOST_AUTO_TEST_CASE(extended_space_that_repeats_the_header_is_no_list) {
  config_image image;
  image.put32(0x000, 0x79111002u);
  for (std::size_t at = 0x100; at < 0x1000; at += 0x100) image.put32(at, 0x79111002u);
  BOOST_TEST(config::extended_space_aliases_header(image.view()));
  auto walk = config::walk_extended_capabilities(image.view());
  BOOST_TEST((walk.error == errc::not_supported));
  BOOST_TEST(walk.entries.size() == 0u);
  // No extended space holds no DVSEC: not found. The walk's not_supported, passed on, told find_mailbox's
  // callers "a DVSEC with these names that is no window" (vpci-inspect said so; found by a review).
  BOOST_TEST((config::find_dvsec(image.view(), config::any_dvsec_vendor, mailbox::default_dvsec_id).error() ==
              errc::not_found));
  BOOST_TEST((config::find_mailbox(image.view()).error() == errc::not_found));
  image.put32(0xF00, 0);
  BOOST_TEST(!config::extended_space_aliases_header(image.view()));
  walk = config::walk_extended_capabilities(image.view());
  BOOST_TEST(walk.entries.size() >= 1u);
  BOOST_TEST(walk.entries[0].id == 0x1002u);
}

// A `next` of 1 to 3 masks to 0: the end of the list, where Linux's walk ends too.
BOOST_AUTO_TEST_CASE(extended_next_of_only_reserved_bits_ends_the_list) {
  config_image image;
  image.extended_capability(0x100, cid::advanced_error_reporting, 1, 0x003);
  const auto walk = config::walk_extended_capabilities(image.view());
  BOOST_TEST((walk.error == no_error));
  BOOST_TEST(offsets(walk) == v16({0x100}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(extended_next_to_an_empty_header) {
  config_image image;
  image.extended_capability(0x100, cid::advanced_error_reporting, 1, 0x400);
  auto walk = config::walk_extended_capabilities(image.view());
  BOOST_TEST((walk.error == errc::bad_capability_pointer));
  BOOST_TEST(walk.entries.size() == 1u);
  image.put32(0x400, 0xFFFFFFFFu);
  walk = config::walk_extended_capabilities(image.view());
  BOOST_TEST((walk.error == errc::bad_capability_pointer));
  BOOST_TEST(walk.entries.size() == 1u);
}

BOOST_AUTO_TEST_CASE(extended_next_past_a_truncated_snapshot) {
  config_image image;
  image.extended_capability(0x100, cid::advanced_error_reporting, 1, 0x1FC);
  image.extended_capability(0x1FC, cid::sriov, 1, 0);
  BOOST_TEST((config::walk_extended_capabilities(image.view(0x200)).error == no_error));
  const auto walk = config::walk_extended_capabilities(image.view(0x1FF));
  BOOST_TEST((walk.error == errc::out_of_range));
  BOOST_TEST(offsets(walk) == v16({0x100}), boost::test_tools::per_element());
  // Too short to hold the head: no extended list, no error.
  BOOST_TEST(config::walk_extended_capabilities(image.view(0x103)).entries.empty());
  BOOST_TEST((config::walk_extended_capabilities(image.view(0x103)).error == no_error));
}

BOOST_AUTO_TEST_CASE(longest_extended_list_has_960_entries) {
  config_image image;
  for (std::size_t at = 0x100; at < 0x1000; at += 4)
    image.extended_capability(static_cast<std::uint16_t>(at), cid::data_link_feature, 1,
                              static_cast<std::uint16_t>(at == 0xFFC ? 0 : at + 4));
  const auto walk = config::walk_extended_capabilities(image.view());
  BOOST_TEST((walk.error == no_error));
  BOOST_TEST(walk.entries.size() == 960u);
  BOOST_TEST(walk.entries[959].offset == 0xFFC);
}

BOOST_AUTO_TEST_CASE(find_by_id) {
  config_image image;
  image.capability_pointer(0x40);
  image.standard_capability(0x40, 0x01, 0x50);
  image.standard_capability(0x50, 0x10, 0x00);
  image.extended_capability(0x100, cid::advanced_error_reporting, 1, 0x150);
  image.extended_capability(0x150, cid::sriov, 1, 0);
  BOOST_TEST(config::find_capability(image.view(), 0x10)->offset == 0x50);
  BOOST_TEST((config::find_capability(image.view(), 0x11).error() == errc::not_found));
  BOOST_TEST(config::find_extended_capability(image.view(), cid::sriov)->offset == 0x150);
  BOOST_TEST((config::find_extended_capability(image.view(), cid::pasid).error() == errc::not_found));
  // Found before the break: the entry; not found because of it: the break's error.
  image.extended_capability(0x150, cid::sriov, 1, 0x150);
  BOOST_TEST(config::find_extended_capability(image.view(), cid::sriov)->offset == 0x150);
  BOOST_TEST((config::find_extended_capability(image.view(), cid::pasid).error() == errc::capability_loop));
}

BOOST_AUTO_TEST_CASE(random_spaces_always_terminate_in_bounds) {
  // A deterministic generator: every byte pattern is a possible malformed device; the walks must end,
  // stay within their capacities and (under the sanitizers) never read outside the span.
  std::uint64_t state = 0x9E3779B97F4A7C15u;
  auto next = [&] {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
  };
  std::vector<std::byte> bytes(4096);
  for (int round = 0; round < 2000; ++round) {
    for (auto& b : bytes) b = static_cast<std::byte>(next());
    // Make lists likely: pointers in range, status bit 4 set, sizes varied.
    bytes[6] = std::byte{0x10};
    bytes[0x34] = static_cast<std::byte>(0x40 + next() % 0xC0);
    const std::size_t sizes[] = {0, 40, 64, 100, 256, 0x102, 0x200, 0x801, 4096};
    const std::span<const std::byte> space{bytes.data(), sizes[next() % 9]};
    const auto walk = config::walk_capabilities(space);
    const auto ext = config::walk_extended_capabilities(space);
    BOOST_TEST(walk.entries.size() <= 48u);
    BOOST_TEST(ext.entries.size() <= 960u);
    for (const auto& c : ext.entries) BOOST_TEST(c.offset + 4u <= space.size());
  }
}

BOOST_AUTO_TEST_SUITE_END()  // config_capabilities_test
