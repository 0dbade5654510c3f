// Discovery of the mailbox window (config::find_mailbox, layout 2): the DVSEC named by its DVSEC vendor ID
// and DVSEC ID, first in list order; a foreign DVSEC skipped; a wrong revision, layout or length refused
// with the error that says which; the function's own vendor ID as the default.
#include <boost/test/unit_test.hpp>

#include <cstdint>

#include <vpci/config/find_mailbox.hpp>
#include <vpci/config/placement.hpp>
#include <vpci/wire/mailbox.hpp>

#include "config_fixtures.hpp"
#include "test_support.hpp"

BOOST_AUTO_TEST_SUITE(config_find_mailbox_test)

using namespace vpci;
using vpci::test::config_image;
namespace cid = config::extended_capability_id;

namespace {

// A window at `at`, as a PF leaves it after placement and initialisation (identity written).
void window(config_image& image, std::uint16_t at, std::uint16_t next, std::uint16_t vendor, std::uint16_t id,
            std::uint8_t revision = 2, std::uint16_t length = 0xB8, std::uint16_t layout = 2) {
  image.extended_capability(at, cid::designated_vendor_specific, 1, next);
  image.put32(at + 4u, config::encode_dvsec_header1(vendor, revision, length));
  image.put32(at + 8u, config::encode_dvsec_header2(id));
  image.put32(at + 0x0Cu, std::uint32_t{layout} | 0x00070000u);
}

}  // namespace

BOOST_AUTO_TEST_CASE(finds_the_dvsec_with_its_names) {
  config_image image{0x8086, 0x1572};
  image.extended_capability(0x100, cid::sriov, 1, 0x200);
  window(image, 0x200, 0, 0x8086, 0x5650);
  BOOST_TEST(*config::find_mailbox(image.view()) == 0x200u);  // the function's vendor, ID 0x5650
  BOOST_TEST(*config::find_mailbox(image.view(), 0x8086) == 0x200u);
  BOOST_TEST(*config::find_mailbox(image.view(), 0x8086, 0x5650) == 0x200u);
  BOOST_TEST((config::find_mailbox(image.view(), 0x1AF4).error() == errc::not_found));
  BOOST_TEST((config::find_mailbox(image.view(), 0x8086, 0x5651).error() == errc::not_found));
  // Names of the IHV's choosing.
  window(image, 0x200, 0, 0x1AF4, 0x0042);
  BOOST_TEST((config::find_mailbox(image.view()).error() == errc::not_found));
  BOOST_TEST(*config::find_mailbox(image.view(), 0x1AF4, 0x0042) == 0x200u);
  // What the placement allocator makes is found.
  config_image placed{0x10EC, 0x8168};
  const auto at = config::place_dvsec(placed.span(), {0x10EC, mailbox::default_dvsec_id, mailbox::dvsec_revision,
                                                      static_cast<std::uint16_t>(mailbox::window_size)});
  BOOST_TEST_REQUIRE(at.has_value());
  placed.put32(*at + std::size_t{mailbox::reg::identity}, mailbox::encode_identity(mailbox::capability::invalidation));
  BOOST_TEST(*config::find_mailbox(placed.view()) == *at);
}

// A VF's vendor ID reads 0xFFFF: the default then searches any vendor (the window's owner is the PF's
// vendor, which the VF's space does not hold), still by DVSEC ID; a named vendor is matched exactly.
BOOST_AUTO_TEST_CASE(on_a_vf_whose_vendor_id_reads_ffff_the_default_takes_any_vendor) {
  config_image image{0xFFFF, 0xFFFF};
  image.extended_capability(0x100, cid::sriov, 1, 0x200);
  window(image, 0x200, 0x300, 0x8086, 0x4242);  // the PF's vendor, another DVSEC ID: not the window
  window(image, 0x300, 0, 0x8086, 0x5650);
  BOOST_TEST(*config::find_mailbox(image.view()) == 0x300u);
  BOOST_TEST(*config::find_mailbox(image.view(), 0x8086) == 0x300u);
  BOOST_TEST(*config::find_mailbox(image.view(), config::any_dvsec_vendor) == 0x300u);
  BOOST_TEST((config::find_mailbox(image.view(), 0xFFFF).error() == errc::not_found));
  BOOST_TEST((config::find_mailbox(image.view(), 0x1AF4).error() == errc::not_found));
  // A function with a vendor ID of its own is not searched with any vendor.
  config_image pf{0x1AF4, 0x1000};
  window(pf, 0x100, 0, 0x8086, 0x5650);
  BOOST_TEST((config::find_mailbox(pf.view()).error() == errc::not_found));
}

BOOST_AUTO_TEST_CASE(foreign_dvsecs_and_vsecs_are_skipped) {
  config_image image{0x8086, 0x1572};
  window(image, 0x100, 0x200, 0x1AF4, 0x5650);  // another vendor's ID 0x5650
  image.extended_capability(0x200, cid::vendor_specific, 1, 0x240);  // a layout-1 window: a VSEC 0x5650
  image.put32(0x204, config::encode_vsec_word(0x5650, 1, 0xD0));
  window(image, 0x300, 0, 0x8086, 0x5650);
  image.extended_capability(0x240, cid::designated_vendor_specific, 1, 0x300);  // the vendor's other DVSEC
  image.put32(0x244, config::encode_dvsec_header1(0x8086, 2, 0x10));
  image.put32(0x248, config::encode_dvsec_header2(0x0001));
  BOOST_TEST(*config::find_mailbox(image.view()) == 0x300u);
}

BOOST_AUTO_TEST_CASE(a_window_this_library_does_not_speak_is_refused_with_the_reason) {
  struct variant {
    const char* what;
    std::uint8_t revision;
    std::uint16_t length;
    std::uint16_t layout;
    errc expected;
  };
  const variant variants[] = {
      {"DVSEC revision 1", 1, 0xB8, 2, errc::revision_mismatch},
      {"DVSEC revision 3", 3, 0x100, 2, errc::revision_mismatch},
      {"identity layout 1", 2, 0xB8, 1, errc::revision_mismatch},
      {"identity layout 3", 2, 0xB8, 3, errc::revision_mismatch},
      {"0xB4 bytes: shorter than the window", 2, 0xB4, 2, errc::not_supported},
      {"0x0C bytes", 2, 0x0C, 2, errc::not_supported},
  };
  for (const variant& v : variants) {
    BOOST_TEST_CONTEXT(v.what) {
      config_image image{0x8086, 0x1572};
      window(image, 0x100, 0x300, 0x8086, 0x5650, v.revision, v.length, v.layout);
      window(image, 0x300, 0, 0x8086, 0x5650);  // a good one later: the first one decides
      BOOST_TEST((config::find_mailbox(image.view()).error() == v.expected));
    }
  }
  // Identity layout 0 is no layout: the window is placed and no PF has initialised it yet. It is the
  // window (a VF that loads before its PF attaches to it; its requests fail with not_found until the PF
  // initialises it), not one of another layout: it was revision_mismatch, "incompatible", for good.
  config_image placed{0x8086, 0x1572};
  window(placed, 0x100, 0x300, 0x8086, 0x5650, 2, 0xB8, 0);
  window(placed, 0x300, 0, 0x8086, 0x5650);
  BOOST_TEST(*config::find_mailbox(placed.view()) == 0x100u);
  // Longer than the window is fine (room for a later layout's registers).
  config_image longer{0x8086, 0x1572};
  window(longer, 0x100, 0, 0x8086, 0x5650, 2, 0x200);
  BOOST_TEST(*config::find_mailbox(longer.view()) == 0x100u);
}

// The identity register's layout version is the whole of bits 15:0 (docs/protocol.md): a layout whose low
// byte happens to be 2 (0x0102) or 0 (0x0100, 0x0200) is another layout, refused as revision_mismatch,
// neither taken as this layout nor as "not initialised yet". A reader that masked the field to 8 bits
// would adopt a window of a layout it does not speak and write its registers.
BOOST_AUTO_TEST_CASE(the_identity_layout_is_all_sixteen_bits_of_the_register) {
  for (std::uint16_t layout : {std::uint16_t{0x0102}, std::uint16_t{0x0100}, std::uint16_t{0x0200}, std::uint16_t{0x8002}}) {
    BOOST_TEST_CONTEXT("layout 0x" << std::hex << layout) {
      config_image image{0x8086, 0x1572};
      window(image, 0x100, 0x300, 0x8086, 0x5650, 2, 0xB8, layout);
      window(image, 0x300, 0, 0x8086, 0x5650);  // a good one later: the first one decides
      BOOST_TEST((config::find_mailbox(image.view()).error() == errc::revision_mismatch));
      BOOST_TEST((mailbox::layout_of(std::uint32_t{layout} | 0x00070000u) == mailbox::identity_layout::other));
    }
  }
}

BOOST_AUTO_TEST_CASE(truncated_snapshots_and_broken_lists) {
  config_image image{0x8086, 0x1572};
  image.extended_capability(0x100, cid::sriov, 1, 0x200);
  window(image, 0x200, 0x300, 0x8086, 0x5650);
  image.extended_capability(0x300, cid::alternative_routing_id, 1, 0x300);  // loops after the window
  BOOST_TEST(*config::find_mailbox(image.view()) == 0x200u);               // found before the list breaks
  BOOST_TEST((config::find_mailbox(image.view(0x20C)).error() == errc::out_of_range));  // ends before identity
  BOOST_TEST((config::find_mailbox(image.view(0x100)).error() == errc::not_found));      // no extended space
  BOOST_TEST((config::find_mailbox(image.view(63)).error() == errc::out_of_range));      // no vendor ID to default to
  BOOST_TEST(*config::find_mailbox(image.view(0x210), 0x8086) == 0x200u);  // named: no header needed
  config_image broken{0x8086, 0x1572};
  broken.extended_capability(0x100, cid::sriov, 1, 0x100);  // loops before any window
  BOOST_TEST((config::find_mailbox(broken.view()).error() == errc::capability_loop));
}

// Found by an audit of hostile config spaces: a window another capability occupies bytes of (an AER header
// inside it; the window inside a VSEC's length) was found, adopted by attach_mailbox, and a VF's block write
// overwrote AER's header and broke the list. Such a DVSEC is no window: malformed_message. A window right
// after another capability, or after one of unknown extent (up to the next header), is still found.
BOOST_AUTO_TEST_CASE(a_window_another_capability_overlaps_is_no_window) {
  config_image aer_inside{0x8086, 0x1572};
  window(aer_inside, 0x100, 0x140, 0x8086, 0x5650);
  aer_inside.extended_capability(0x140, cid::advanced_error_reporting, 1, 0);
  BOOST_TEST((config::find_mailbox(aer_inside.view()).error() == errc::malformed_message));
  config_image inside_a_vsec{0x8086, 0x1572};
  inside_a_vsec.extended_capability(0x100, cid::vendor_specific, 1, 0x180);
  inside_a_vsec.put32(0x104, config::encode_vsec_word(0x0001, 1, 0x100));  // 0x100..0x1FF
  window(inside_a_vsec, 0x180, 0, 0x8086, 0x5650);
  BOOST_TEST((config::find_mailbox(inside_a_vsec.view()).error() == errc::malformed_message));
  // Right after a capability (AER, 0x48 bytes), and right before one.
  config_image adjacent{0x8086, 0x1572};
  adjacent.extended_capability(0x100, cid::advanced_error_reporting, 1, 0x148);
  window(adjacent, 0x148, 0x200, 0x8086, 0x5650);
  adjacent.extended_capability(0x200, cid::alternative_routing_id, 1, 0);
  BOOST_TEST(*config::find_mailbox(adjacent.view()) == 0x148u);
  // After a capability whose extent only the next header bounds (Virtual Channel).
  config_image after_vc{0x8086, 0x1572};
  after_vc.extended_capability(0x100, cid::virtual_channel, 1, 0x200);
  window(after_vc, 0x200, 0, 0x8086, 0x5650);
  BOOST_TEST(*config::find_mailbox(after_vc.view()) == 0x200u);
}

// Found by the same audit: a function that reads all ones (removed, VF Enable cleared) was "no mailbox"
// (not_found), which sends a driver looking elsewhere; the VF engine's probe already says peer_gone for it.
// A VF's own vendor and device IDs read all ones too: its class dword (0x08) does not.
BOOST_AUTO_TEST_CASE(a_function_that_reads_all_ones_is_gone_not_without_a_mailbox) {
  config_image gone{0xFFFF, 0xFFFF};
  for (std::size_t at = 0; at < 4096; at += 4) gone.put32(at, 0xFFFF'FFFFu);
  BOOST_TEST((config::find_mailbox(gone.view()).error() == errc::peer_gone));
  BOOST_TEST((config::find_mailbox(gone.view(), 0x8086).error() == errc::peer_gone));
  config_image vf{0xFFFF, 0xFFFF};
  vf.put32(0x08, 0x02000001);
  BOOST_TEST((config::find_mailbox(vf.view()).error() == errc::not_found));
}

BOOST_AUTO_TEST_SUITE_END()  // config_find_mailbox_test
