// Protocol constants, NTSTATUS values and severities, CTL_CODE and IOCTL/OID values, block IDs and masks.
#include <boost/test/unit_test.hpp>

#include <array>
#include <vector>

#include <vpci/core.hpp>

BOOST_AUTO_TEST_SUITE(protocol_test)

using namespace vpci;

BOOST_AUTO_TEST_SUITE(protocol_constants)

BOOST_AUTO_TEST_CASE(limits_match_vpci_h) {
  static_assert(max_block_size == 128);
  static_assert(invalidatable_block_count == 64);
  static_assert(invalidate_block_all_vfs == 0xFFFF);
  static_assert(ndis_pf_function_id == 0xFFFF);
  BOOST_TEST(max_block_size == 128u);
  BOOST_TEST(invalidatable_block_count == 64u);
}

BOOST_AUTO_TEST_CASE(ctl_code_places_each_field) {
  static_assert(ctl_code(0x2A, 3, ioctl_method::neither, ioctl_access::read | ioctl_access::write) == 0x002AC00F);
  BOOST_TEST(ctl_code(0, 0, 0, 0) == 0u);
  BOOST_TEST(ctl_code(0xFFFF, 0, 0, 0) == 0xFFFF0000u);
  BOOST_TEST(ctl_code(0, 0, 0, 3) == 0x0000C000u);
  BOOST_TEST(ctl_code(0, 0xFFF, 0, 0) == 0x00003FFCu);
  BOOST_TEST(ctl_code(0, 0, 3, 0) == 3u);
  // Out-of-range arguments cannot spill into neighbouring fields.
  BOOST_TEST(ctl_code(0, 0x1000, 0, 0) == 0u);
  BOOST_TEST(ctl_code(0, 0, 4, 0) == 0u);
}

BOOST_AUTO_TEST_CASE(ioctl_values) {
  BOOST_TEST(ioctl::invalidate_block == 0x002AC007u);
  BOOST_TEST(ioctl::read_block == 0x002AC00Bu);
  BOOST_TEST(ioctl::write_block == 0x002AC00Fu);
  BOOST_TEST(ioctl::sriov_invalidate_block == 0x00226054u);
  BOOST_TEST(device_type::vpci == 0x2Au);
  BOOST_TEST(ioctl_method::buffered == 0u);
  BOOST_TEST(ioctl_method::neither == 3u);
  BOOST_TEST(ioctl_access::any == 0u);
  BOOST_TEST(ioctl_access::read == 1u);
  BOOST_TEST(ioctl_access::write == 2u);
}

BOOST_AUTO_TEST_CASE(ndis_oid_values) {
  BOOST_TEST(oid::sriov_read_vf_config_space == 0x00010251u);
  BOOST_TEST(oid::sriov_write_vf_config_space == 0x00010252u);
  BOOST_TEST(oid::sriov_read_vf_config_block == 0x00010253u);
  BOOST_TEST(oid::sriov_write_vf_config_block == 0x00010254u);
  BOOST_TEST(oid::sriov_vf_invalidate_config_block == 0x00010269u);
}

BOOST_AUTO_TEST_CASE(interface_guid) {
  BOOST_TEST(guid_vpci_interface_standard.data1 == 0x12E65E71u);
  BOOST_TEST(guid_vpci_interface_standard.data2 == 0xB651u);
  BOOST_TEST(guid_vpci_interface_standard.data3 == 0x4067u);
  const std::array<std::uint8_t, 8> tail{0x83, 0x1A, 0x13, 0x83, 0x20, 0x3C, 0xB0, 0xCB};
  for (std::size_t i = 0; i < tail.size(); ++i) BOOST_TEST(guid_vpci_interface_standard.data4[i] == tail[i]);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(ntstatus_values)

BOOST_AUTO_TEST_CASE(values_match_ntstatus_h) {
  BOOST_TEST(to_underlying(ntstatus::success) == 0x00000000u);
  BOOST_TEST(to_underlying(ntstatus::pending) == 0x00000103u);
  BOOST_TEST(to_underlying(ntstatus::buffer_overflow) == 0x80000005u);
  BOOST_TEST(to_underlying(ntstatus::unsuccessful) == 0xC0000001u);
  BOOST_TEST(to_underlying(ntstatus::invalid_parameter) == 0xC000000Du);
  BOOST_TEST(to_underlying(ntstatus::no_such_device) == 0xC000000Eu);
  BOOST_TEST(to_underlying(ntstatus::invalid_device_request) == 0xC0000010u);
  BOOST_TEST(to_underlying(ntstatus::access_denied) == 0xC0000022u);
  BOOST_TEST(to_underlying(ntstatus::buffer_too_small) == 0xC0000023u);
  BOOST_TEST(to_underlying(ntstatus::revision_mismatch) == 0xC0000059u);
  BOOST_TEST(to_underlying(ntstatus::insufficient_resources) == 0xC000009Au);
  BOOST_TEST(to_underlying(ntstatus::device_not_ready) == 0xC00000A3u);
  BOOST_TEST(to_underlying(ntstatus::io_timeout) == 0xC00000B5u);
  BOOST_TEST(to_underlying(ntstatus::not_supported) == 0xC00000BBu);
  BOOST_TEST(to_underlying(ntstatus::cancelled) == 0xC0000120u);
  BOOST_TEST(to_underlying(ntstatus::not_found) == 0xC0000225u);
  BOOST_TEST(to_underlying(ntstatus::bad_data) == 0xC000090Bu);
  BOOST_TEST(to_underlying(ntstatus::info_length_mismatch) == 0xC0000004u);
  BOOST_TEST(std::size(known_ntstatus_values) == 18u);
}

BOOST_AUTO_TEST_CASE(severity_is_the_top_two_bits) {
  BOOST_TEST((severity(ntstatus::success) == ntstatus_severity::success));
  BOOST_TEST((severity(ntstatus::pending) == ntstatus_severity::success));
  BOOST_TEST((severity(static_cast<ntstatus>(0x40000000u)) == ntstatus_severity::informational));
  BOOST_TEST((severity(ntstatus::buffer_overflow) == ntstatus_severity::warning));
  BOOST_TEST((severity(ntstatus::access_denied) == ntstatus_severity::error));
  BOOST_TEST(nt_success(ntstatus::success));
  BOOST_TEST(nt_success(ntstatus::pending));
  BOOST_TEST(nt_success(static_cast<ntstatus>(0x40000000u)));
  BOOST_TEST(!nt_success(ntstatus::buffer_overflow));
  BOOST_TEST(!nt_success(ntstatus::unsuccessful));
  BOOST_TEST(nt_information(static_cast<ntstatus>(0x40000001u)));
  BOOST_TEST(nt_warning(ntstatus::buffer_overflow));
  BOOST_TEST(nt_error(ntstatus::bad_data));
  BOOST_TEST(!nt_error(ntstatus::buffer_overflow));
}

BOOST_AUTO_TEST_CASE(errc_round_trips_from_every_error_status) {
  for (ntstatus s : known_ntstatus_values) {
    if (nt_success(s)) {
      BOOST_TEST((to_errc(s) == no_error));
      continue;
    }
    const errc e = to_errc(s);
    BOOST_TEST((e != no_error));
    // BUFFER_OVERFLOW (a warning) folds into BUFFER_TOO_SMALL; every other status maps back to itself.
    const ntstatus expected = s == ntstatus::buffer_overflow ? ntstatus::buffer_too_small : s;
    BOOST_TEST(to_underlying(to_ntstatus(e)) == to_underlying(expected));
  }
  BOOST_TEST((to_errc(static_cast<ntstatus>(0xC0001234u)) == errc::device_error));
  BOOST_TEST((to_ntstatus(errc::invalid_length) == ntstatus::invalid_parameter));
  BOOST_TEST((to_ntstatus(errc::buffer_too_small) == ntstatus::buffer_too_small));
  BOOST_TEST((to_ntstatus(errc::busy) == ntstatus::device_not_ready));
  BOOST_TEST((to_ntstatus(errc::timeout) == ntstatus::io_timeout));
  BOOST_TEST((to_ntstatus(errc::access_denied) == ntstatus::access_denied));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(block_masks)

BOOST_AUTO_TEST_CASE(set_test_reset) {
  block_mask mask;
  BOOST_TEST(mask.empty());
  BOOST_TEST((mask.set(block_id{0}) == no_error));
  BOOST_TEST((mask.set(block_id{63}) == no_error));
  BOOST_TEST(mask.bits() == 0x8000000000000001ull);
  BOOST_TEST(mask.test(block_id{0}));
  BOOST_TEST(mask.test(block_id{63}));
  BOOST_TEST(!mask.test(block_id{1}));
  BOOST_TEST(mask.count() == 2);
  BOOST_TEST((mask.reset(block_id{0}) == no_error));
  BOOST_TEST(mask.bits() == 0x8000000000000000ull);
}

BOOST_AUTO_TEST_CASE(id_64_and_above_is_rejected_and_changes_nothing) {
  block_mask mask{0x5};
  for (std::uint32_t id : {64u, 65u, 1000u, 0xFFFFFFFFu}) {
    BOOST_TEST((mask.set(block_id{id}) == errc::invalid_block_id));
    BOOST_TEST((mask.reset(block_id{id}) == errc::invalid_block_id));
    BOOST_TEST(!mask.test(block_id{id}));
    BOOST_TEST(mask.bits() == 0x5u);
  }
  auto built = block_mask::of({block_id{1}, block_id{64}});
  BOOST_TEST(!built.has_value());
  BOOST_TEST((built.error() == errc::invalid_block_id));
  BOOST_TEST(!block_id{64}.invalidatable());
  BOOST_TEST(block_id{63}.invalidatable());
}

BOOST_AUTO_TEST_CASE(merge_is_bitwise_or) {
  block_mask cached{0x0F};
  cached.merge(block_mask{0xF0});
  cached |= block_mask{0x100};
  BOOST_TEST(cached.bits() == 0x1FFu);
  BOOST_TEST((block_mask{1} | block_mask{2}).bits() == 3u);
  BOOST_TEST((block_mask{3} & block_mask{6}).bits() == 2u);
  BOOST_TEST(block_mask::all().count() == 64);
}

BOOST_AUTO_TEST_CASE(iterates_set_bits_in_order) {
  std::vector<std::uint32_t> seen;
  for (block_id id : block_mask{0x8000000000000025ull}) seen.push_back(id.value());
  BOOST_TEST(seen == (std::vector<std::uint32_t>{0, 2, 5, 63}), boost::test_tools::per_element());
  std::size_t count = 0;
  for ([[maybe_unused]] block_id id : block_mask{}) ++count;
  BOOST_TEST(count == 0u);
  count = 0;
  for ([[maybe_unused]] block_id id : block_mask::all()) ++count;
  BOOST_TEST(count == 64u);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE_END()  // protocol_test
