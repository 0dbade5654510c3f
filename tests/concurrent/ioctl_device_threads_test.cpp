// vpci::ioctl_device used as a Windows driver uses IOCTLs: requests issued from threads other than the
// one running the endpoint's executor, each caller waiting on its own event (KeWaitForSingleObject's
// role), and a cancellation from yet another thread; more callers at once than the endpoint has
// operation slots. Under ThreadSanitizer too.
#include <boost/test/unit_test.hpp>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <future>
#include <latch>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include <vpci/asio/ioctl_device.hpp>
#include <vpci/asio/pf_endpoint.hpp>
#include <vpci/asio/timing.hpp>
#include <vpci/asio/vf_message_endpoint.hpp>
#include <vpci/transport/test_stream.hpp>

#include "../test_support.hpp"

BOOST_AUTO_TEST_SUITE(ioctl_device_threads_test)

using namespace vpci;
using namespace std::chrono_literals;
using vpci::test::pattern;

namespace {

// A binding 2 VF served by vpci's PF over a test stream (block 2: 128 bytes of pattern 0x80), its
// endpoint's executor run by a thread of its own until the fixture ends.
struct threaded_device {
  using message_vf = vf_message_endpoint<test_stream, manual_timing>;
  static constexpr hyperv::wslot slot{2, 1};
  // VPCI_READ_BLOCK_INPUT for all of block 2.
  static std::array<std::byte, 8> read_block_2() {
    std::array<std::byte, 8> input{};
    le::store_u32(input.data(), 2);
    le::store_u32(input.data() + 4, 128);
    return input;
  }

  boost::asio::io_context io;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> guard = boost::asio::make_work_guard(io);
  manual_timing clock;
  std::pair<test_stream, test_stream> ends = test_stream::make_pair(io.get_executor());
  pf_endpoint<2> pf;
  std::optional<message_vf> vf;
  std::optional<ioctl_device<message_vf>> device;
  std::thread runner;

  threaded_device() {
    BOOST_REQUIRE(!pf.register_vf(0, 0x0101));
    BOOST_REQUIRE(!pf.define_block(0, block_id{2}, pattern(128, 0x80)));
    pf.async_serve(0, slot, ends.second, pf_stream_options<manual_timing>{5s, clock}, [](auto) {});
    vf.emplace(ends.first, slot, vf_message_options{}, clock);
    device.emplace(*vf);
    runner = std::thread([this] { io.run(); });
  }
  threaded_device(const threaded_device&) = delete;
  threaded_device& operator=(const threaded_device&) = delete;
  ~threaded_device() {
    boost::asio::post(io, [this] {
      vf->close();
      ends.second.close();
    });
    guard.reset();
    runner.join();
  }
};

}  // namespace

BOOST_AUTO_TEST_CASE(callers_on_their_own_threads_wait_on_events) {
  threaded_device t;
  auto& device = *t.device;

  constexpr std::size_t callers = 6;
  std::array<io_status_block, callers> statuses{};
  std::array<std::array<std::byte, 128>, callers> outputs{};
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < callers; ++i)
    threads.emplace_back([&, i] {
      const auto input = threaded_device::read_block_2();
      for (int round = 0; round < 10; ++round) {
        io_event event;
        const ntstatus issued = device.device_io_control(ioctl::read_block, input.data(), 8, outputs[i].data(), 128,
                                                         statuses[i], event);
        if (issued == ntstatus::pending) event.wait();
        if (statuses[i].Status != ntstatus::success) return;
      }
    });
  // An invalidate request waited on by this thread, cancelled from another.
  std::array<std::byte, 8> mask{};
  io_status_block wait_status;
  io_event wait_event;
  BOOST_TEST(device.device_io_control(ioctl::invalidate_block, nullptr, 0, mask.data(), 8, wait_status, wait_event) ==
             ntstatus::pending);
  std::thread canceller([&] { device.cancel_io(wait_status); });
  wait_event.wait();
  canceller.join();
  for (auto& thread : threads) thread.join();
  BOOST_TEST(wait_status.Status == ntstatus::cancelled);
  for (std::size_t i = 0; i < callers; ++i) {
    BOOST_TEST(statuses[i].Status == ntstatus::success);
    BOOST_TEST(statuses[i].Information == 128u);
    BOOST_TEST(vpci::test::octets(outputs[i]) == vpci::test::octets(pattern(128, 0x80)));
  }
}

// Found by a review: with every operation slot of the endpoint taken, a further caller's request
// completed STATUS_DEVICE_NOT_READY. The endpoint's thread is held while 64 + 6 callers, each on its own
// thread, issue a read, so all of them arrive before any slot frees: every one stays pending and succeeds.
BOOST_AUTO_TEST_CASE(more_callers_than_slots_on_their_own_threads_all_succeed) {
  threaded_device t;
  auto& device = *t.device;

  constexpr std::size_t callers = ioctl_device<threaded_device::message_vf>::max_requests_in_flight + 6;
  std::promise<void> held;
  std::promise<void> release;
  boost::asio::post(t.io, [&held, released = release.get_future()] {
    held.set_value();
    released.wait();
  });
  held.get_future().wait();
  std::latch issued(callers);
  std::vector<io_status_block> statuses(callers);
  std::vector<ntstatus> returned(callers, ntstatus::success);
  std::vector<std::array<std::byte, 128>> outputs(callers);
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < callers; ++i)
    threads.emplace_back([&, i] {
      const auto input = threaded_device::read_block_2();
      io_event event;
      returned[i] = device.device_io_control(ioctl::read_block, input.data(), 8, outputs[i].data(), 128, statuses[i],
                                             event);
      issued.count_down();
      if (returned[i] == ntstatus::pending) event.wait();
    });
  issued.wait();  // every request handed to the endpoint's executor, behind the held handler
  release.set_value();
  for (auto& thread : threads) thread.join();
  for (std::size_t i = 0; i < callers; ++i) {
    BOOST_TEST_CONTEXT("caller " << i) {
      BOOST_TEST(returned[i] == ntstatus::pending);
      BOOST_TEST(statuses[i].Status == ntstatus::success);
      BOOST_TEST(statuses[i].Information == 128u);
      BOOST_TEST(vpci::test::octets(outputs[i]) == vpci::test::octets(pattern(128, 0x80)));
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()  // ioctl_device_threads_test
