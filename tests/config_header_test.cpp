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
