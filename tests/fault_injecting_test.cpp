#include <boost/test/unit_test.hpp>

#include <array>
#include <cstddef>
#include <vector>

#include <boost/asio/io_context.hpp>

#include <vpci/transport/fault_injecting.hpp>
#include <vpci/transport/memory_config_space.hpp>

BOOST_AUTO_TEST_SUITE(fault_injecting_test)

namespace {

using boost::system::error_code;
using vpci::errc;
using vpci::fault_injecting_transport;
using vpci::fault_persistence;
using vpci::memory_config_space;

static_assert(vpci::config_space_transport<fault_injecting_transport<memory_config_space&>>);
static_assert(vpci::config_space_transport<fault_injecting_transport<memory_config_space>>);
// Traits pass through only where the wrapped transport has them (shm_liveness_test checks the positive side),
// and nonblocking_access never does: the endpoints drive the wrapper through its async forms, where every
// injected failure shows.
static_assert(vpci::nonblocking_transport_v<memory_config_space>);
static_assert(!vpci::nonblocking_transport_v<fault_injecting_transport<memory_config_space&>>);
static_assert(!vpci::peer_signalling_transport<fault_injecting_transport<memory_config_space&>>);
static_assert(!vpci::liveness_transport<fault_injecting_transport<memory_config_space>>);

unsigned byte_at(const memory_config_space& space, std::size_t offset) {
  std::byte value{};
  BOOST_TEST(space.device_read(offset, std::span(&value, 1)) == vpci::no_error);
  return std::to_integer<unsigned>(value);
}

// A small "driver step" sequence: write a command (0x40), read status (0x44), write an acknowledgement
// (0x48). Returns the first error; stops there, as a driver would.
error_code run_steps(fault_injecting_transport<memory_config_space&>& transport) {
  error_code ec;
  const std::array<std::byte, 4> command{std::byte{1}, std::byte{2}, std::byte{3}, std::byte{4}};
  std::array<std::byte, 4> status{};
  const std::array<std::byte, 1> ack{std::byte{0xAC}};
  if (transport.write(0x40, command, ec); ec) return ec;
  if (transport.read(0x44, status, ec); ec) return ec;
  if (transport.write(0x48, ack, ec); ec) return ec;
  return {};
}

}  // namespace

BOOST_AUTO_TEST_CASE(an_unarmed_wrapper_passes_everything_through_and_counts) {
  boost::asio::io_context io;
  memory_config_space space(io, 256);
  fault_injecting_transport<memory_config_space&> transport(space);
  BOOST_TEST(transport.size() == 256U);
  BOOST_TEST(&transport.next_layer() == &space);
  BOOST_TEST(!run_steps(transport));
  BOOST_TEST(transport.operation_count() == 3U);
  BOOST_TEST(!transport.fault_triggered());
  BOOST_TEST(byte_at(space, 0x48) == 0xACU);
  error_code ec;
  std::array<std::byte, 1> buffer{};
  BOOST_TEST(transport.read(0x100, buffer, ec) == 0U);  // the wrapped transport's own errors pass through
  BOOST_TEST((ec == errc::out_of_range));
}

BOOST_AUTO_TEST_CASE(fail_at_every_step_reports_the_injected_error_and_skips_the_wrapped_transport) {
  boost::asio::io_context io;
  const error_code injected = errc::device_error;
  std::size_t step = 0;
  for (;; ++step) {
    memory_config_space space(io, 256);
    fault_injecting_transport<memory_config_space&> transport(space);
    int hook_calls = 0;
    space.set_write_hook([&](std::size_t, std::size_t) { ++hook_calls; });
    transport.fail_at(step, injected);
    const error_code result = run_steps(transport);
    if (!transport.fault_triggered()) {
      BOOST_TEST(!result);
      break;
    }
    BOOST_TEST_CONTEXT("failing step " << step) {
      BOOST_TEST((result == errc::device_error));
      BOOST_TEST(transport.faults_injected() == 1U);
      BOOST_TEST(transport.operation_count() == step + 1);
      // The failed write never reached the space: no hook call for it, its bytes absent.
      const int writes_before_failure = step == 0 ? 0 : 1;  // only the command write precedes steps 1 and 2
      BOOST_TEST(hook_calls == writes_before_failure);
      BOOST_TEST(byte_at(space, 0x40) == (step == 0 ? 0U : 1U));
      BOOST_TEST(byte_at(space, 0x48) == 0U);
    }
  }
  BOOST_TEST(step == 3U);  // three steps, each failed once, then a clean run
}

BOOST_AUTO_TEST_CASE(a_persistent_fault_fails_every_later_operation) {
  boost::asio::io_context io;
  fault_injecting_transport<memory_config_space> transport(io, std::size_t{256});  // owns the space
  transport.fail_at(1, errc::vf_removed, fault_persistence::from_then_on);
  error_code ec;
  std::array<std::byte, 2> buffer{};
  BOOST_TEST(transport.read(0, buffer, ec) == 2U);
  BOOST_TEST(!ec);
  for (int i = 0; i != 3; ++i) {
    BOOST_TEST(transport.write(0, buffer, ec) == 0U);
    BOOST_TEST((ec == errc::vf_removed));
  }
  BOOST_TEST(transport.faults_injected() == 3U);
  transport.disarm();
  BOOST_TEST(transport.read(0, buffer, ec) == 2U);
  BOOST_TEST(!ec);
}

BOOST_AUTO_TEST_CASE(async_operations_fail_through_the_executor_never_inline) {
  boost::asio::io_context io;
  memory_config_space space(io, 256);
  fault_injecting_transport<memory_config_space&> transport(space);
  transport.fail_at(1, errc::timeout);
  const std::array<std::byte, 2> pattern{std::byte{0x11}, std::byte{0x22}};
  std::array<std::byte, 2> back{};
  std::vector<error_code> results;
  std::vector<std::size_t> sizes;
  const auto record = [&](error_code ec, std::size_t n) {
    results.push_back(ec);
    sizes.push_back(n);
  };
  transport.async_write(0x10, pattern, record);  // operation 0: passes
  transport.async_write(0x20, pattern, record);  // operation 1: fails
  transport.async_read(0x10, back, record);      // operation 2: passes
  BOOST_TEST(results.empty());
  BOOST_TEST(io.run() == 3U);
  BOOST_TEST_REQUIRE(results.size() == 3U);
  BOOST_TEST(!results[0]);
  BOOST_TEST((results[1] == errc::timeout));
  BOOST_TEST(!results[2]);
  BOOST_TEST(sizes == (std::vector<std::size_t>{2, 0, 2}), boost::test_tools::per_element());
  BOOST_TEST(byte_at(space, 0x10) == 0x11U);
  BOOST_TEST(byte_at(space, 0x20) == 0U);  // the failed write never happened
  BOOST_TEST(std::to_integer<unsigned>(back[1]) == 0x22U);
}

BOOST_AUTO_TEST_SUITE_END()  // fault_injecting_test
