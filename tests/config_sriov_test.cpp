#include <boost/test/unit_test.hpp>

#include <cstdint>

#include <vpci/config/sriov.hpp>

#include "config_fixtures.hpp"

BOOST_AUTO_TEST_SUITE(config_sriov_test)

using namespace vpci;
using vpci::test::config_image;
namespace cid = config::extended_capability_id;
namespace reg = config::sriov_register;

namespace {
struct sriov_fields {
  std::uint16_t control;
  std::uint16_t initial_vfs;
  std::uint16_t total_vfs;
  std::uint16_t num_vfs;
  std::uint16_t first_vf_offset;
  std::uint16_t vf_stride;
  std::uint16_t vf_device_id;
};

// A PF with PCIe, ARI at 0x100 and SR-IOV at 0x160, as a NIC PF presents them.
config_image make_pf(const sriov_fields& f) {
  config_image image{0x8086, 0x1572};
  image.capability_pointer(0x40);
  image.standard_capability(0x40, 0x10, 0x00);
  image.extended_capability(0x100, cid::alternative_routing_id, 1, 0x160);
  const std::uint16_t base = 0x160;
  image.extended_capability(base, cid::sriov, 1, 0);
  image.put32(base + reg::capabilities, 0x00200002u);  // ARI preserved, interrupt message number 1
  image.put16(base + reg::control, f.control);
  image.put16(base + reg::status, 0x0000);
  image.put16(base + reg::initial_vfs, f.initial_vfs);
  image.put16(base + reg::total_vfs, f.total_vfs);
  image.put16(base + reg::num_vfs, f.num_vfs);
  image.put8(base + reg::function_dependency_link, 0x00);
  image.put16(base + reg::first_vf_offset, f.first_vf_offset);
  image.put16(base + reg::vf_stride, f.vf_stride);
  image.put16(base + reg::vf_device_id, f.vf_device_id);
  image.put32(base + reg::supported_page_sizes, 0x00000553u);
  image.put32(base + reg::system_page_size, 0x00000001u);
  for (std::uint32_t i = 0; i < 6; ++i) image.put32(base + reg::vf_bar0 + 4 * i, 0xF0000000u + (i << 12) + 0xC);
  image.put32(base + reg::vf_migration_state_array_offset, 0x00000003u);
  return image;
}
}  // namespace

BOOST_AUTO_TEST_CASE(register_offsets_match_the_spec) {
  BOOST_TEST(reg::capabilities == 0x04u);
  BOOST_TEST(reg::control == 0x08u);
  BOOST_TEST(reg::status == 0x0Au);
  BOOST_TEST(reg::initial_vfs == 0x0Cu);
  BOOST_TEST(reg::total_vfs == 0x0Eu);
  BOOST_TEST(reg::num_vfs == 0x10u);
  BOOST_TEST(reg::function_dependency_link == 0x12u);
  BOOST_TEST(reg::first_vf_offset == 0x14u);
  BOOST_TEST(reg::vf_stride == 0x16u);
  BOOST_TEST(reg::vf_device_id == 0x1Au);
  BOOST_TEST(reg::supported_page_sizes == 0x1Cu);
  BOOST_TEST(reg::system_page_size == 0x20u);
  BOOST_TEST(reg::vf_bar0 == 0x24u);
  BOOST_TEST(reg::vf_migration_state_array_offset == 0x3Cu);
  BOOST_TEST(config::sriov_capability_size == 64u);
  BOOST_TEST(config::sriov_control::vf_enable == 0x01);
  BOOST_TEST(config::sriov_control::vf_memory_space_enable == 0x08);
  BOOST_TEST(config::sriov_control::ari_capable_hierarchy == 0x10);
}

BOOST_AUTO_TEST_CASE(pf_with_ari_decodes_every_register) {
  const auto image = make_pf({0x0019, 64, 64, 64, 1, 1, 0x154C});
  const auto s = config::find_sriov(image.view());
  BOOST_TEST_REQUIRE(s.has_value());
  BOOST_TEST(s->offset == 0x160);
  BOOST_TEST(s->version == 1);
  BOOST_TEST(s->capabilities == 0x00200002u);
  BOOST_TEST(s->vf_migration_interrupt_message_number() == 1);
  BOOST_TEST(!s->vf_migration_capable());
  BOOST_TEST(s->control == 0x0019);
  BOOST_TEST(s->vf_enable());
  BOOST_TEST(s->vf_memory_space_enable());
  BOOST_TEST(s->ari_capable_hierarchy());
  BOOST_TEST(s->status == 0);
  BOOST_TEST(s->initial_vfs == 64);
  BOOST_TEST(s->total_vfs == 64);
  BOOST_TEST(s->num_vfs == 64);
  BOOST_TEST(s->function_dependency_link == 0);
  BOOST_TEST(s->first_vf_offset == 1);
  BOOST_TEST(s->vf_stride == 1);
  BOOST_TEST(s->vf_device_id == 0x154C);
  BOOST_TEST(s->supported_page_sizes == 0x553u);
  BOOST_TEST(s->system_page_size == 1u);
  for (std::uint32_t i = 0; i < 6; ++i) BOOST_TEST(s->vf_bars[i] == 0xF0000000u + (i << 12) + 0xC);
  BOOST_TEST(s->vf_migration_state_array_offset == 3u);
  BOOST_TEST((s->validate() == no_error));

  // With ARI, VFs take function numbers 1..64 on the PF's bus: devfn is one 8-bit function number.
  const config::routing_id pf = config::routing_id::from(0x3B, 0, 0);
  BOOST_TEST(config::vf_routing_id(pf, *s, 0)->value == 0x3B01);
  BOOST_TEST(config::vf_routing_id(pf, *s, 63)->value == 0x3B40);
  BOOST_TEST(config::vf_routing_id(pf, *s, 63)->bus() == 0x3B);
  BOOST_TEST(config::vf_routing_id(pf, *s, 63)->devfn() == 0x40);
  BOOST_TEST((config::vf_routing_id(pf, *s, 64).error() == errc::not_found));
}

BOOST_AUTO_TEST_CASE(vf_range_crossing_buses) {
  // PF 03:00.0, First VF Offset 384 (0x180), stride 2: VF 0 at 04:10.0, crossing into bus 5 at VF 64.
  const auto image = make_pf({0x0009, 128, 128, 128, 384, 2, 0x1889});
  const auto s = config::find_sriov(image.view());
  BOOST_TEST_REQUIRE(s.has_value());
  const config::routing_id pf = config::routing_id::from(0x03, 0, 0);
  const auto vf0 = config::vf_routing_id(pf, *s, 0);
  BOOST_TEST(vf0->value == 0x0480);
  BOOST_TEST(vf0->bus() == 0x04);
  BOOST_TEST(vf0->device() == 0x10);
  BOOST_TEST(vf0->function() == 0);
  const auto vf63 = config::vf_routing_id(pf, *s, 63);
  BOOST_TEST(vf63->value == 0x04FE);
  BOOST_TEST(vf63->bus() == 0x04);
  BOOST_TEST(vf63->device() == 0x1F);
  BOOST_TEST(vf63->function() == 6);
  const auto vf64 = config::vf_routing_id(pf, *s, 64);
  BOOST_TEST(vf64->value == 0x0500);
  BOOST_TEST(vf64->bus() == 0x05);
  BOOST_TEST(vf64->device() == 0);
  BOOST_TEST(vf64->function() == 0);
  const auto vf127 = config::vf_routing_id(pf, *s, 127);
  BOOST_TEST(vf127->value == 0x057E);
  BOOST_TEST(vf127->device() == 0x0F);
  BOOST_TEST(vf127->function() == 6);
  BOOST_TEST(!s->ari_capable_hierarchy());
}

BOOST_AUTO_TEST_CASE(routing_id_overflow_is_out_of_range) {
  const auto image = make_pf({0x0001, 8, 8, 8, 0x80, 0x20, 0x1000});
  const auto s = config::find_sriov(image.view());
  const config::routing_id pf{0xFF00};
  BOOST_TEST(config::vf_routing_id(pf, *s, 3)->value == 0xFFE0);
  BOOST_TEST((config::vf_routing_id(pf, *s, 4).error() == errc::out_of_range));  // 0xFF00 + 0x80 + 0x80
  BOOST_TEST((config::vf_routing_id(config::routing_id{0xFFFF}, *s, 0).error() == errc::out_of_range));
}

BOOST_AUTO_TEST_CASE(num_vfs_above_total_vfs_is_flagged) {
  const auto image = make_pf({0x0001, 8, 8, 9, 1, 1, 0x1000});
  const auto before = image.bytes();
  const auto s = config::find_sriov(image.view());
  BOOST_TEST_REQUIRE(s.has_value());  // decoded as the device states it, so a tool can show it
  BOOST_TEST(s->num_vfs == 9);
  BOOST_TEST(s->num_vfs_exceeds_total_vfs());
  BOOST_TEST(!s->zero_stride_with_multiple_vfs());
  BOOST_TEST((s->validate() == errc::malformed_message));
  BOOST_TEST((image.bytes() == before));
}

BOOST_AUTO_TEST_CASE(zero_stride_with_several_vfs_is_flagged) {
  const auto image = make_pf({0x0001, 4, 4, 2, 1, 0, 0x1000});
  const auto s = config::find_sriov(image.view());
  BOOST_TEST(s->zero_stride_with_multiple_vfs());
  BOOST_TEST((s->validate() == errc::malformed_message));
  BOOST_TEST(config::vf_routing_id(config::routing_id{0x0100}, *s, 0)->value == 0x0101);
  BOOST_TEST((config::vf_routing_id(config::routing_id{0x0100}, *s, 1).error() == errc::malformed_message));
  // One VF with stride 0 is fine: the stride is never used.
  const auto one = config::find_sriov(make_pf({0x0001, 4, 4, 1, 1, 0, 0x1000}).view());
  BOOST_TEST((one->validate() == no_error));
}

// First VF Offset 0 makes VF 0 the PF itself: Linux refuses such a PF (compute_max_vf_buses). With
// NumVFs 0 the offset is never used.
BOOST_AUTO_TEST_CASE(zero_first_vf_offset_is_flagged) {
  const auto s = config::find_sriov(make_pf({0x0001, 4, 4, 1, 0, 1, 0x1000}).view());
  BOOST_TEST_REQUIRE(s.has_value());
  BOOST_TEST(s->zero_first_vf_offset());
  BOOST_TEST(!s->zero_stride_with_multiple_vfs());
  BOOST_TEST((s->validate() == errc::malformed_message));
  BOOST_TEST((config::vf_routing_id(config::routing_id{0x0300}, *s, 0).error() == errc::malformed_message));
  const auto none = config::find_sriov(make_pf({0x0000, 4, 4, 0, 0, 1, 0x1000}).view());
  BOOST_TEST(!none->zero_first_vf_offset());
  BOOST_TEST((none->validate() == no_error));
}

BOOST_AUTO_TEST_CASE(no_vfs_enabled_has_no_routing_ids) {
  const auto s = config::find_sriov(make_pf({0x0000, 16, 16, 0, 1, 1, 0x1000}).view());
  BOOST_TEST((config::vf_routing_id(config::routing_id{0x0100}, *s, 0).error() == errc::not_found));
}

BOOST_AUTO_TEST_CASE(truncated_or_missing_capability) {
  const auto image = make_pf({0x0001, 8, 8, 8, 1, 1, 0x1000});
  BOOST_TEST(config::decode_sriov(image.view(0x1A0), 0x160).has_value());
  BOOST_TEST((config::decode_sriov(image.view(0x19F), 0x160).error() == errc::out_of_range));
  BOOST_TEST((config::find_sriov(image.view(0x19F)).error() == errc::out_of_range));
  BOOST_TEST((config::decode_sriov(image.view(), 0x100).error() == errc::not_found));  // ARI there
  BOOST_TEST((config::decode_sriov(image.view(), 0xFF0).error() == errc::out_of_range));
  BOOST_TEST((config::decode_sriov(image.view(), 0x2000).error() == errc::out_of_range));
  BOOST_TEST((config::find_sriov(config_image{}.view()).error() == errc::not_found));
  BOOST_TEST((config::find_sriov(image.view(256)).error() == errc::not_found));
}

BOOST_AUTO_TEST_SUITE_END()  // config_sriov_test
