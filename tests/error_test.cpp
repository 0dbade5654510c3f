// The hosted error model: vpci::errc through std::error_code and boost::system::error_code, and the
// mapping between error codes and NTSTATUS in both directions.
#include <boost/test/unit_test.hpp>

#include <cstdint>
#include <ostream>
#include <set>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include <boost/system/error_code.hpp>

#include <vpci/error.hpp>

#include "test_support.hpp"

BOOST_AUTO_TEST_SUITE(error_test)

using vpci::errc;
using vpci::ntstatus;

namespace {

struct errc_mapping {
  errc code;
  int value;
  ntstatus status;  // to_ntstatus(code)
};

// Every errc, its pinned value, and the NTSTATUS it is reported as.
constexpr errc_mapping all_errc[] = {
    {errc::invalid_length, 1, ntstatus::invalid_parameter},
    {errc::buffer_too_small, 2, ntstatus::buffer_too_small},
    {errc::invalid_block_id, 3, ntstatus::invalid_parameter},
    {errc::invalid_argument, 4, ntstatus::invalid_parameter},
    {errc::truncated_message, 5, ntstatus::bad_data},
    {errc::malformed_message, 6, ntstatus::bad_data},
    {errc::unknown_message_type, 7, ntstatus::invalid_device_request},
    {errc::empty_response, 8, ntstatus::unsuccessful},
    {errc::out_of_range, 9, ntstatus::invalid_parameter},
    {errc::read_only, 10, ntstatus::access_denied},
    {errc::capability_loop, 11, ntstatus::bad_data},
    {errc::bad_capability_pointer, 12, ntstatus::bad_data},
    {errc::insufficient_resources, 13, ntstatus::insufficient_resources},
    {errc::not_found, 14, ntstatus::not_found},
    {errc::access_denied, 15, ntstatus::access_denied},
    {errc::busy, 16, ntstatus::device_not_ready},
    {errc::timeout, 17, ntstatus::io_timeout},
    {errc::cancelled, 18, ntstatus::cancelled},
    {errc::not_supported, 19, ntstatus::not_supported},
    {errc::revision_mismatch, 20, ntstatus::revision_mismatch},
    {errc::protocol_violation, 21, ntstatus::invalid_device_request},
    {errc::quarantined, 22, ntstatus::access_denied},
    {errc::vf_removed, 23, ntstatus::cancelled},
    {errc::bad_data, 24, ntstatus::bad_data},
    {errc::torn_read, 25, ntstatus::bad_data},
    {errc::device_error, 26, ntstatus::unsuccessful},
    {errc::peer_gone, 27, ntstatus::no_such_device},
    {errc::peer_restarted, 28, ntstatus::cancelled},
    {errc::connection_closed, 29, ntstatus::no_such_device},
    {errc::in_use, 30, ntstatus::access_denied},
    {errc::peer_no_such_device, 31, ntstatus::no_such_device},
    {errc::peer_timeout, 32, ntstatus::io_timeout},
    {errc::peer_cancelled, 33, ntstatus::cancelled},
    {errc::peer_not_ready, 34, ntstatus::device_not_ready},
    {errc::peer_revision_mismatch, 35, ntstatus::revision_mismatch},
    {errc::block_size_mismatch, 36, ntstatus::info_length_mismatch},
};

struct status_mapping {
  ntstatus status;
  errc code;  // to_errc(status); no_error for success and informational statuses
};

constexpr status_mapping all_ntstatus[] = {
    {ntstatus::success, vpci::no_error},
    {ntstatus::pending, vpci::no_error},
    {ntstatus::buffer_overflow, errc::buffer_too_small},
    {ntstatus::unsuccessful, errc::device_error},
    {ntstatus::info_length_mismatch, errc::block_size_mismatch},
    {ntstatus::invalid_parameter, errc::invalid_argument},
    {ntstatus::no_such_device, errc::peer_no_such_device},
    {ntstatus::invalid_device_request, errc::protocol_violation},
    {ntstatus::access_denied, errc::access_denied},
    {ntstatus::buffer_too_small, errc::buffer_too_small},
    {ntstatus::revision_mismatch, errc::peer_revision_mismatch},
    {ntstatus::insufficient_resources, errc::insufficient_resources},
    {ntstatus::device_not_ready, errc::peer_not_ready},
    {ntstatus::io_timeout, errc::peer_timeout},
    {ntstatus::not_supported, errc::not_supported},
    {ntstatus::cancelled, errc::peer_cancelled},
    {ntstatus::not_found, errc::not_found},
    {ntstatus::bad_data, errc::bad_data},
};

}  // namespace

BOOST_AUTO_TEST_CASE(errc_values_start_at_one_and_are_consecutive) {
  static_assert(static_cast<int>(vpci::no_error) == 0);
  static_assert(static_cast<int>(errc::invalid_length) == 1);
  int expected = 1;
  for (const auto& m : all_errc) {
    BOOST_TEST(static_cast<int>(m.code) == m.value);
    BOOST_TEST(m.value == expected);
    ++expected;
  }
}

BOOST_AUTO_TEST_CASE(category_is_named_vpci) {
  BOOST_TEST(std::string{vpci::error_category().name()} == "vpci");
  // One category object for the whole program.
  BOOST_TEST(&vpci::error_category() == &vpci::error_category());
  BOOST_TEST(&vpci::make_error_code(errc::timeout).category() == &vpci::error_category());
}

BOOST_AUTO_TEST_CASE(every_errc_has_a_distinct_non_empty_message) {
  std::set<std::string> messages;
  const std::string unknown = vpci::error_category().message(9999);
  BOOST_TEST(!unknown.empty());
  for (const auto& m : all_errc) {
    const std::string text = vpci::error_category().message(m.value);
    BOOST_TEST_CONTEXT("errc " << m.value) {
      BOOST_TEST(!text.empty());
      BOOST_TEST(text != unknown);
      BOOST_TEST(text == std::string{vpci::describe(m.code)});
      BOOST_TEST(vpci::make_error_code(m.code).message() == text);
      BOOST_TEST(messages.insert(text).second);
    }
  }
  BOOST_TEST(messages.size() == std::size(all_errc));
  BOOST_TEST(std::string{vpci::describe(vpci::no_error)} == "success");
  BOOST_TEST(messages.count("success") == 0u);
}

BOOST_AUTO_TEST_CASE(std_error_code_from_errc) {
  static_assert(std::is_error_code_enum_v<errc>);
  std::error_code ec = errc::timeout;
  BOOST_TEST(static_cast<bool>(ec));
  BOOST_TEST(ec.value() == 17);
  BOOST_TEST(std::string{ec.category().name()} == "vpci");
  BOOST_TEST((ec == errc::timeout));
  BOOST_TEST((errc::timeout == ec));
  BOOST_TEST((ec != errc::cancelled));
  BOOST_TEST((ec == std::error_code(vpci::make_error_code(errc::timeout))));
  ec = errc::cancelled;
  BOOST_TEST((ec == errc::cancelled));
  BOOST_TEST((ec != errc::timeout));
  // The same number in another category is a different error.
  const std::error_code generic_17{17, std::generic_category()};
  BOOST_TEST((generic_17 != errc::timeout));
  BOOST_TEST((generic_17 != ec));
  for (const auto& m : all_errc) {
    const std::error_code code = m.code;
    BOOST_TEST(code.value() == m.value);
    BOOST_TEST((code == m.code));
    BOOST_TEST(code.message() == vpci::describe(m.code));
  }
}

// Asio hands handlers boost::system::error_code: the vpci category is a Boost.System category, so a
// code keeps its category, its value and its equality however it travels.
BOOST_AUTO_TEST_CASE(boost_error_code_from_errc_keeps_its_category) {
  static_assert(boost::system::is_error_code_enum<errc>::value);
  static_assert(std::is_same_v<decltype(vpci::make_error_code(errc::timeout)), boost::system::error_code>);
  boost::system::error_code bec = errc::timeout;
  BOOST_TEST(static_cast<bool>(bec));
  BOOST_TEST(bec.failed());
  BOOST_TEST(bec.value() == 17);
  BOOST_TEST((bec.category() == vpci::error_category()));
  BOOST_TEST(&bec.category() == &vpci::error_category());
  BOOST_TEST((bec == errc::timeout));
  BOOST_TEST((errc::timeout == bec));
  BOOST_TEST((bec != errc::cancelled));
  BOOST_TEST(!(bec == errc::cancelled));
  BOOST_TEST(bec.message() == "operation timed out");
  bec = errc::cancelled;
  BOOST_TEST((bec == errc::cancelled));
  BOOST_TEST((bec != errc::timeout));
  const boost::system::error_code boost_generic{17, boost::system::generic_category()};
  BOOST_TEST((boost_generic != errc::timeout));
  for (const auto& m : all_errc) {
    const boost::system::error_code code = m.code;
    BOOST_TEST(code.value() == m.value);
    BOOST_TEST((code == m.code));
    BOOST_TEST((code.category() == vpci::error_category()));
  }
}

// Case 10 of the hostile-peers issue: a transport's errc::read_only used to reach callers as
// device_error, because a std category wrapped inside a boost::system::error_code no longer compared
// equal to vpci's. Every hop an error takes (a transport's error_code, an Asio handler's, a std one and
// back) now keeps it.
BOOST_AUTO_TEST_CASE(error_codes_lose_their_category_no_more) {
  const boost::system::error_code from_transport = errc::read_only;
  const std::error_code as_std = from_transport;
  const boost::system::error_code back = as_std;
  BOOST_TEST((back == errc::read_only));
  BOOST_TEST((back.category() == vpci::error_category()));
  BOOST_TEST(back.value() == static_cast<int>(errc::read_only));
  BOOST_TEST((back == from_transport));
  BOOST_TEST((as_std == errc::read_only));
  BOOST_TEST(std::string{as_std.category().name()} == "vpci");
  BOOST_TEST((vpci::to_ntstatus(as_std) == ntstatus::access_denied));
  BOOST_TEST((vpci::to_ntstatus(back) == ntstatus::access_denied));
}

BOOST_AUTO_TEST_CASE(boost_error_code_converts_to_std_and_keeps_equality) {
  const boost::system::error_code bec = errc::busy;
  const std::error_code ec = bec;
  BOOST_TEST((ec == errc::busy));
  BOOST_TEST((ec != errc::timeout));
  BOOST_TEST(std::string{ec.category().name()} == "vpci");
  BOOST_TEST((ec == std::error_code(vpci::make_error_code(errc::busy))));
  // And back: std -> boost gives the original category.
  const boost::system::error_code again = ec;
  BOOST_TEST((again == errc::busy));
  BOOST_TEST((again == bec));
  BOOST_TEST(&again.category() == &vpci::error_category());
  BOOST_TEST((static_cast<std::error_code>(again) == ec));
}

BOOST_AUTO_TEST_CASE(errc_to_ntstatus_for_every_errc) {
  BOOST_TEST((vpci::to_ntstatus(vpci::no_error) == ntstatus::success));
  for (const auto& m : all_errc) {
    BOOST_TEST_CONTEXT("errc " << m.value) {
      BOOST_TEST((vpci::to_ntstatus(m.code) == m.status));
      // Every error is reported with an error-severity status the library names.
      BOOST_TEST(vpci::nt_error(vpci::to_ntstatus(m.code)));
      BOOST_TEST((vpci::to_ntstatus(vpci::make_error_code(m.code)) == m.status));
      BOOST_TEST((vpci::to_ntstatus(std::error_code{m.code}) == m.status));
      BOOST_TEST((vpci::to_ntstatus(boost::system::error_code{m.code}) == m.status));
    }
  }
  // A value outside the enum in the vpci category still maps to an error status, never success.
  BOOST_TEST((vpci::to_ntstatus(static_cast<errc>(999)) == ntstatus::unsuccessful));
  BOOST_TEST((vpci::to_ntstatus(boost::system::error_code{999, vpci::error_category()}) == ntstatus::unsuccessful));
}

BOOST_AUTO_TEST_CASE(ntstatus_to_errc_for_every_ntstatus) {
  BOOST_TEST(std::size(all_ntstatus) == std::size(vpci::known_ntstatus_values));
  for (std::size_t i = 0; i < std::size(all_ntstatus); ++i) {
    const auto& m = all_ntstatus[i];
    BOOST_TEST_CONTEXT("ntstatus 0x" << std::hex << static_cast<std::uint32_t>(m.status)) {
      BOOST_TEST((vpci::known_ntstatus_values[i] == m.status));
      BOOST_TEST((vpci::to_errc(m.status) == m.code));
      const boost::system::error_code ec = vpci::make_error_code(m.status);
      if (m.code == vpci::no_error) {
        BOOST_TEST(!ec);
        BOOST_TEST((ec == boost::system::error_code{}));
      } else {
        BOOST_TEST(static_cast<bool>(ec));
        BOOST_TEST((ec == m.code));
        BOOST_TEST((ec.category() == vpci::error_category()));
        // Round trip: every error status but the BUFFER_OVERFLOW warning comes back as itself.
        const ntstatus back = m.status == ntstatus::buffer_overflow ? ntstatus::buffer_too_small : m.status;
        BOOST_TEST((vpci::to_ntstatus(ec) == back));
      }
    }
  }
  // Statuses the library does not name map by severity.
  BOOST_TEST((vpci::to_errc(static_cast<ntstatus>(0xC0001234u)) == errc::device_error));
  BOOST_TEST((vpci::to_errc(static_cast<ntstatus>(0x80001234u)) == errc::device_error));
  BOOST_TEST((vpci::to_errc(static_cast<ntstatus>(0x40001234u)) == vpci::no_error));
  BOOST_TEST((vpci::to_errc(static_cast<ntstatus>(0x00000001u)) == vpci::no_error));
  BOOST_TEST(!vpci::make_error_code(static_cast<ntstatus>(0x40001234u)));
  BOOST_TEST((vpci::make_error_code(static_cast<ntstatus>(0xC0001234u)) == errc::device_error));
}

BOOST_AUTO_TEST_CASE(error_code_to_ntstatus_handles_empty_and_foreign_codes) {
  BOOST_TEST((vpci::to_ntstatus(std::error_code{}) == ntstatus::success));
  BOOST_TEST((vpci::to_ntstatus(boost::system::error_code{}) == ntstatus::success));
  // A vpci-category code with value 0 is "no error".
  BOOST_TEST((vpci::to_ntstatus(boost::system::error_code{0, vpci::error_category()}) == ntstatus::success));
  // Foreign categories: STATUS_UNSUCCESSFUL, whatever the value (17 is vpci's timeout number).
  BOOST_TEST((vpci::to_ntstatus(std::error_code{17, std::generic_category()}) == ntstatus::unsuccessful));
  BOOST_TEST((vpci::to_ntstatus(std::error_code{2, std::system_category()}) == ntstatus::unsuccessful));
  BOOST_TEST((vpci::to_ntstatus(std::make_error_code(std::errc::timed_out)) == ntstatus::unsuccessful));
  BOOST_TEST((vpci::to_ntstatus(std::make_error_code(std::io_errc::stream)) == ntstatus::unsuccessful));
  BOOST_TEST((vpci::to_ntstatus(boost::system::error_code{17, boost::system::generic_category()}) ==
              ntstatus::unsuccessful));
  BOOST_TEST((vpci::to_ntstatus(boost::system::error_code{2, boost::system::system_category()}) ==
              ntstatus::unsuccessful));
  BOOST_TEST((vpci::to_ntstatus(boost::system::errc::make_error_code(boost::system::errc::timed_out)) ==
              ntstatus::unsuccessful));
}

// A PF that answered one request STATUS_NO_SUCH_DEVICE read as errc::peer_gone, the error the endpoint
// gives once it knows the PF dead, and the facades over the endpoint took it for the device gone: every
// call waiting for a slot ended with it. Likewise STATUS_IO_TIMEOUT read as the caller's own deadline
// (timeout), STATUS_CANCELLED as the caller's own cancellation (cancelled), STATUS_DEVICE_NOT_READY as
// this side's slots all taken (busy), and STATUS_REVISION_MISMATCH as the layout or the negotiation
// failing (revision_mismatch). No status a PF can answer maps to a condition this side raises itself,
// whatever its value, and each maps back to itself.
BOOST_AUTO_TEST_CASE(a_status_the_pf_answers_never_reads_as_a_condition_of_this_side) {
  const errc own_conditions[] = {errc::peer_gone, errc::timeout,        errc::cancelled,        errc::busy,
                                 errc::vf_removed, errc::revision_mismatch, errc::peer_restarted, errc::connection_closed};
  std::vector<ntstatus> statuses(std::begin(vpci::known_ntstatus_values), std::end(vpci::known_ntstatus_values));
  for (std::uint32_t unnamed : {0xC0001234u, 0x80001234u, 0x40001234u, 0x00000001u, 0xFFFFFFFFu})
    statuses.push_back(static_cast<ntstatus>(unnamed));
  for (const ntstatus s : statuses) {
    BOOST_TEST_CONTEXT("ntstatus 0x" << std::hex << static_cast<std::uint32_t>(s)) {
      for (const errc own : own_conditions) {
        BOOST_TEST((vpci::to_errc(s) != own));
        BOOST_TEST((vpci::block_completion_errc(s) != own));
        BOOST_TEST((vpci::make_error_code(s) != own));
      }
    }
  }
  const std::pair<ntstatus, errc> answered[] = {
      {ntstatus::no_such_device, errc::peer_no_such_device}, {ntstatus::io_timeout, errc::peer_timeout},
      {ntstatus::cancelled, errc::peer_cancelled},           {ntstatus::device_not_ready, errc::peer_not_ready},
      {ntstatus::revision_mismatch, errc::peer_revision_mismatch}};
  for (const auto& [status, code] : answered) {
    BOOST_TEST((vpci::block_completion_errc(status) == code));
    BOOST_TEST((vpci::to_ntstatus(vpci::make_error_code(status)) == status));
  }
}

BOOST_AUTO_TEST_SUITE_END()  // error_test
