#include <boost/test/unit_test.hpp>

#include <vpci/config/vsec.hpp>

#include "config_fixtures.hpp"

BOOST_AUTO_TEST_SUITE(config_vsec_test)

using namespace vpci;
using vpci::test::config_image;
namespace cid = config::extended_capability_id;

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

BOOST_AUTO_TEST_CASE(encodes_dvsec_headers) {
  BOOST_TEST(config::encode_dvsec_header1(0x8086, 2, 0xB8) == 0x0B828086u);
  BOOST_TEST(config::encode_dvsec_header1(0x1E98, 1, 0x38) == 0x03811E98u);
  BOOST_TEST(config::encode_dvsec_header2(0x5650) == 0x00005650u);
}

BOOST_AUTO_TEST_CASE(find_dvsec_names_a_dvsec_by_vendor_and_id_in_list_order) {
  config_image image;
  image.extended_capability(0x100, cid::designated_vendor_specific, 1, 0x140);  // CXL's DVSEC ID 0
  image.put32(0x104, config::encode_dvsec_header1(0x1E98, 1, 0x38));
  image.put32(0x108, config::encode_dvsec_header2(0));
  image.extended_capability(0x140, cid::vendor_specific, 1, 0x180);  // a VSEC with the same ID: not a DVSEC
  image.put32(0x144, config::encode_vsec_word(0x5650, 2, 0x10));
  image.extended_capability(0x180, cid::designated_vendor_specific, 1, 0x1C0);  // another vendor's 0x5650
  image.put32(0x184, config::encode_dvsec_header1(0x1AF4, 2, 0x10));
  image.put32(0x188, config::encode_dvsec_header2(0x5650));
  image.extended_capability(0x1C0, cid::designated_vendor_specific, 1, 0x200);  // the one
  image.put32(0x1C4, config::encode_dvsec_header1(0x8086, 2, 0x10));
  image.put32(0x1C8, config::encode_dvsec_header2(0x5650));
  image.extended_capability(0x200, cid::designated_vendor_specific, 1, 0);  // a second one: never looked at
  image.put32(0x204, config::encode_dvsec_header1(0x8086, 3, 0x10));
  image.put32(0x208, config::encode_dvsec_header2(0x5650));
  const auto found = config::find_dvsec(image.view(), 0x8086, 0x5650);
  BOOST_TEST_REQUIRE(found.has_value());
  BOOST_TEST((*found == config::dvsec_header{0x1C0, 1, 0x200, 0x8086, 2, 0x10, 0x5650}));
  BOOST_TEST(config::find_dvsec(image.view(), 0x1AF4, 0x5650)->offset == 0x180);
  BOOST_TEST(config::find_dvsec(image.view(), 0x1E98, 0)->offset == 0x100);
  BOOST_TEST((config::find_dvsec(image.view(), 0x8086, 0x5651).error() == errc::not_found));
  // The names decide, as in Linux's pci_find_dvsec_capability: the first DVSEC so named is the one even
  // when its length does not decode (its error, not the later DVSEC a Linux driver never sees); another
  // vendor's malformed DVSEC is passed over.
  image.put32(0x1C4, config::encode_dvsec_header1(0x8086, 2, 4));
  BOOST_TEST((config::find_dvsec(image.view(), 0x8086, 0x5650).error() == errc::malformed_message));
  image.put32(0x1C4, config::encode_dvsec_header1(0x8086, 2, 0x10));
  image.put32(0x184, config::encode_dvsec_header1(0x1AF4, 2, 4));
  BOOST_TEST(config::find_dvsec(image.view(), 0x8086, 0x5650)->offset == 0x1C0);
  image.put32(0x184, config::encode_dvsec_header1(0x1AF4, 2, 0x10));
  // A list that breaks before one is found: the walk's error; after it: found.
  image.extended_capability(0x180, cid::designated_vendor_specific, 1, 0x180);  // loops onto itself
  BOOST_TEST((config::find_dvsec(image.view(), 0x8086, 0x5650).error() == errc::capability_loop));
  BOOST_TEST(config::find_dvsec(image.view(), 0x1E98, 0)->offset == 0x100);
}

BOOST_AUTO_TEST_SUITE_END()  // config_vsec_test
