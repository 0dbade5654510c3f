#include <boost/test/unit_test.hpp>

#include <vpci/config/header.hpp>

#include "config_fixtures.hpp"

BOOST_AUTO_TEST_SUITE(config_header_test)

using namespace vpci;
using vpci::test::config_image;

BOOST_AUTO_TEST_CASE(decodes_every_field) {
  config_image image{0x15B3, 0x1017};
  image.put16(0x04, 0x0406);
  image.put16(0x06, 0x0010);
  image.put8(0x08, 0x02);        // revision
  image.put8(0x09, 0x01);        // programming interface
  image.put8(0x0A, 0x00);        // subclass
  image.put8(0x0B, 0x02);        // base class: network
  image.put8(0x0E, 0x80);        // multi-function endpoint
  image.put8(0x34, 0x60);
  const auto h = config::decode_header(image.view(256));
  BOOST_TEST_REQUIRE(h.has_value());
  BOOST_TEST(h->vendor_id == 0x15B3);
  BOOST_TEST(h->device_id == 0x1017);
  BOOST_TEST(h->command == 0x0406);
  BOOST_TEST(h->status == 0x0010);
  BOOST_TEST(h->revision_id == 0x02);
  BOOST_TEST(h->class_code() == 0x020001u);
  BOOST_TEST(h->header_type == 0x80);
  BOOST_TEST(h->layout() == 0);
  BOOST_TEST(h->multi_function());
  BOOST_TEST(h->has_capabilities_list());
  BOOST_TEST(h->capabilities_pointer == 0x60);
  BOOST_TEST(h->present());
}

BOOST_AUTO_TEST_CASE(cardbus_bridge_pointer_is_at_0x14) {
  config_image image;
  image.put8(0x0E, 0x02);
  image.put8(0x14, 0x80);
  image.put8(0x34, 0x40);
  const auto h = config::decode_header(image.view(256));
  BOOST_TEST_REQUIRE(h.has_value());
  BOOST_TEST(h->layout() == 2);
  BOOST_TEST(h->capabilities_pointer == 0x80);
}

// Header type bit 7 is the multi-function flag, not part of the layout: a multi-function CardBus bridge
// (header type 0x82, as on the two-slot controllers lspci lists as functions .0 and .1) still keeps its
// capabilities pointer at 0x14, and its list is walked from there, as lspci does (it masks the header type
// with 0x7F before choosing PCI_CB_CAPABILITY_LIST). Reading 0x34 instead walks a CardBus register.
BOOST_AUTO_TEST_CASE(a_multi_function_cardbus_bridge_pointer_is_still_at_0x14) {
  config_image image;
  image.put16(0x06, config::status_capabilities_list);
  image.put8(0x0E, 0x82);
  image.put8(0x14, 0x80);
  image.put8(0x34, 0x40);  // a CardBus register, not a pointer
  image.put8(0x80, config::capability_id::power_management);
  image.put8(0x81, 0x00);
  const auto h = config::decode_header(image.view(256));
  BOOST_TEST_REQUIRE(h.has_value());
  BOOST_TEST(h->multi_function());
  BOOST_TEST(h->layout() == 2);
  BOOST_TEST(h->capabilities_pointer == 0x80);
  BOOST_TEST(config::capabilities_pointer_location(0x82) == 0x14u);
  const auto walk = config::walk_capabilities(image.view(256));
  BOOST_TEST((walk.error == no_error));
  BOOST_REQUIRE(walk.entries.size() == 1u);
  BOOST_TEST(walk.entries[0].offset == 0x80);
}

BOOST_AUTO_TEST_CASE(absent_function_reads_all_ones) {
  std::array<std::byte, 64> ones{};
  ones.fill(std::byte{0xFF});
  const auto h = config::decode_header(ones);
  BOOST_TEST_REQUIRE(h.has_value());
  BOOST_TEST(!h->present());
  BOOST_TEST(h->layout() == 0x7F);
  BOOST_TEST(!h->known_layout());  // so no capability pointer is read
}

BOOST_AUTO_TEST_CASE(truncated_snapshot_is_out_of_range) {
  config_image image;
  BOOST_TEST(config::decode_header(image.view(64)).has_value());
  BOOST_TEST((config::decode_header(image.view(63)).error() == errc::out_of_range));
  BOOST_TEST((config::decode_header(image.view(0)).error() == errc::out_of_range));
}

BOOST_AUTO_TEST_CASE(decodes_at_compile_time) {
  constexpr auto vendor = [] {
    std::array<std::byte, 64> bytes{};
    bytes[0] = std::byte{0x86};
    bytes[1] = std::byte{0x80};
    return config::decode_header(bytes)->vendor_id;
  }();
  static_assert(vendor == 0x8086);
  BOOST_TEST(vendor == 0x8086);
}

BOOST_AUTO_TEST_SUITE_END()  // config_header_test
