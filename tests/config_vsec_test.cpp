#include <boost/test/unit_test.hpp>

#include <vpci/config/vsec.hpp>

#include "config_fixtures.hpp"

using namespace vpci;
using vpci::test::config_image;
namespace cid = config::extended_capability_id;

BOOST_AUTO_TEST_SUITE(config_vsec)

BOOST_AUTO_TEST_CASE(decodes_a_vsec_header) {
  config_image image;
  image.extended_capability(0x100, cid::vendor_specific, 1, 0x200);
  image.put32(0x104, config::encode_vsec_word(0x1234, 3, 0x40));
  BOOST_TEST(image.get32(0x104) == 0x04031234u);
  const auto v = config::decode_vsec(image.view(), 0x100);
  BOOST_TEST_REQUIRE(v.has_value());
  BOOST_TEST((*v == config::vsec_header{0x100, 1, 0x200, 0x1234, 3, 0x40}));
}

BOOST_AUTO_TEST_CASE(decodes_a_dvsec_header) {
  config_image image;
  image.extended_capability(0x200, cid::designated_vendor_specific, 1, 0);
  image.put32(0x204, 0x03811E98u);  // vendor 0x1E98 (CXL), revision 1, length 0x38
  image.put16(0x208, 0x0000);        // DVSEC ID 0
  const auto d = config::decode_dvsec(image.view(), 0x200);
  BOOST_TEST_REQUIRE(d.has_value());
  BOOST_TEST((*d == config::dvsec_header{0x200, 1, 0, 0x1E98, 1, 0x38, 0}));
  image.put32(0x204, 0x00911E98u);  // length 9: less than both headers
  BOOST_TEST((config::decode_dvsec(image.view(), 0x200).error() == errc::malformed_message));
}

BOOST_AUTO_TEST_CASE(length_below_8_is_malformed) {
  config_image image;
  image.extended_capability(0x100, cid::vendor_specific, 1, 0);
  for (int length : {0, 4, 7}) {
    image.put32(0x104, config::encode_vsec_word(1, 0, static_cast<std::uint16_t>(length)));
    const auto before = image.bytes();
    BOOST_TEST((config::decode_vsec(image.view(), 0x100).error() == errc::malformed_message));
    BOOST_TEST((image.bytes() == before));
  }
  image.put32(0x104, config::encode_vsec_word(1, 0, 8));
  BOOST_TEST(config::decode_vsec(image.view(), 0x100)->length == 8);
}

BOOST_AUTO_TEST_CASE(length_past_4096_is_out_of_range) {
  config_image image;
  image.extended_capability(0x100, cid::vendor_specific, 1, 0xF00);
  image.extended_capability(0xF00, cid::vendor_specific, 1, 0);
  image.put32(0xF04, config::encode_vsec_word(1, 0, 0x100));
  BOOST_TEST(config::decode_vsec(image.view(), 0xF00)->length == 0x100);  // ends exactly at 4096
  image.put32(0xF04, config::encode_vsec_word(1, 0, 0x104));
  BOOST_TEST((config::decode_vsec(image.view(), 0xF00).error() == errc::out_of_range));
  image.put32(0xF04, config::encode_vsec_word(1, 0, 0xFFF));
  BOOST_TEST((config::decode_vsec(image.view(), 0xF00).error() == errc::out_of_range));
}

BOOST_AUTO_TEST_CASE(truncated_snapshot_and_wrong_id) {
  config_image image;
  image.extended_capability(0x100, cid::vendor_specific, 1, 0);
  image.put32(0x104, config::encode_vsec_word(1, 0, 0x20));
  BOOST_TEST((config::decode_vsec(image.view(0x107), 0x100).error() == errc::out_of_range));
  BOOST_TEST((config::decode_vsec(image.view(256), 0x100).error() == errc::out_of_range));
  BOOST_TEST((config::decode_vsec(image.view(), 0xFFC).error() == errc::out_of_range));
  BOOST_TEST((config::decode_vsec(image.view(), 0x5000).error() == errc::out_of_range));
  image.extended_capability(0x100, cid::sriov, 1, 0);
  BOOST_TEST((config::decode_vsec(image.view(), 0x100).error() == errc::not_found));
  BOOST_TEST((config::decode_dvsec(image.view(), 0x100).error() == errc::not_found));
}

BOOST_AUTO_TEST_SUITE_END()
