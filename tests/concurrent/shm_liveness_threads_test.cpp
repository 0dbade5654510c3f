// shm_config_space liveness across threads of one process (run under ThreadSanitizer): presences claimed
// and released on one thread while others read them, wait for them and start waits on the same view.
#include <boost/test/unit_test.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <thread>
#include <vector>

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include <vpci/transport/shm_config_space.hpp>

BOOST_AUTO_TEST_SUITE(shm_liveness_threads_test)

namespace {

using boost::system::error_code;
using vpci::shm_config_space;
using vpci::shm_doorbell;
using vpci::shm_role;

// Failure guard for waits a passing test ends at once.
constexpr std::chrono::seconds guard{10};

}  // namespace

// The VF's io_context runs on its own thread; the PF shuts down on the test thread.
BOOST_AUTO_TEST_CASE(a_pf_shutting_down_on_one_thread_wakes_a_vf_waiting_on_another) {
  boost::asio::io_context pf_io;
  boost::asio::io_context vf_io;
  std::optional<shm_config_space> pf(shm_config_space::create_anonymous(pf_io.get_executor(), 256));
  auto vf = pf->view(vf_io.get_executor(), shm_role::driver);
  std::atomic<int> completions{0};
  error_code result = vpci::errc::device_error;
  vf.async_wait_peer_gone([&](error_code ec) {
    result = ec;
    completions.fetch_add(1);
  });
  std::thread runner([&] { (void)vf_io.run_for(guard); });
  pf.reset();
  runner.join();
  BOOST_TEST(completions.load() == 1);
  BOOST_TEST(!result);
  BOOST_TEST(!vf.peer_alive());
}

// VFs attach and leave on one thread while another reads peer_alive() and a PF waits for them to be gone.
BOOST_AUTO_TEST_CASE(vfs_attach_and_leave_while_the_pf_watches) {
  boost::asio::io_context io;
  auto pf = shm_config_space::create_anonymous(io.get_executor(), 256);
  constexpr int rounds = 100;
  std::atomic<bool> done{false};
  std::thread churn([&] {
    boost::asio::io_context vf_io;
    for (int i = 0; i != rounds; ++i) {
      auto vf = pf.view(vf_io.get_executor(), shm_role::driver);
      auto second = vf.view(vf_io.get_executor(), shm_role::driver);  // shares the attachment
    }
    done.store(true);
  });
  std::uint64_t reads = 0;
  while (!done.load() || reads == 0) {
    (void)pf.peer_alive();
    ++reads;
  }
  churn.join();
  BOOST_TEST(!pf.peer_alive());
  bool gone = false;
  pf.async_wait_peer_gone([&](error_code ec) { gone = !ec; });
  BOOST_TEST(io.run_one_for(guard) == 1U);
  BOOST_TEST(gone);
}

// Two threads start waits on one view at once (the view's wait queues are made on first use); then the
// device rings and ends: every wait completes once, successfully. The last completion releases the work
// guard, so the runner returns as soon as all ran (the guard bounds it otherwise).
BOOST_AUTO_TEST_CASE(waits_started_on_one_view_from_two_threads_all_complete) {
  boost::asio::io_context io;
  auto work = boost::asio::make_work_guard(io);
  std::optional<shm_config_space> device(shm_config_space::create_anonymous(io.get_executor(), 256));
  auto driver = device->view(io.get_executor(), shm_role::driver);
  constexpr int per_thread = 50;
  constexpr int expected = 4 * per_thread;  // a doorbell wait and a peer wait per round, two threads
  std::atomic<int> completions{0};
  std::atomic<int> failures{0};
  const auto count = [&](error_code ec) {
    if (ec) failures.fetch_add(1);
    if (completions.fetch_add(1) + 1 == expected) work.reset();  // on the runner thread only
  };
  const auto seen = driver.doorbell_sequence(shm_doorbell::to_driver);
  const auto start_waits = [&] {
    for (int i = 0; i != per_thread; ++i) {
      driver.async_wait_doorbell(shm_doorbell::to_driver, seen, [&](error_code ec, std::uint32_t) { count(ec); });
      driver.async_wait_peer_gone(count);
    }
  };
  std::thread runner([&] { (void)io.run_for(guard); });
  std::thread first(start_waits);
  std::thread second(start_waits);
  first.join();
  second.join();
  device.reset();  // rings to_driver and ends the device
  runner.join();
  BOOST_TEST(completions.load() == expected);
  BOOST_TEST(failures.load() == 0);
}

// Found by a review: release() marked the word gone from another thread, and the presence thread then ended
// with its robust list still naming the word, by then anyone's to claim. The kernel marks a word gone at a
// thread's end when it holds that thread's ID as numbered in the thread's own PID namespace, so a driver of
// another PID namespace (another container) that had claimed the word under the same number was marked gone
// while it lived. A presence thread that no longer holds its word leaves the kernel nothing to do.
BOOST_AUTO_TEST_CASE(a_released_presence_thread_ends_with_an_empty_robust_list) {
  std::uint32_t word = 0;
  std::uint32_t* const candidates[] = {&word};
  vpci::detail::presence_holder holder(candidates);
  const std::uint32_t held = std::atomic_ref<std::uint32_t>(word).load();
  BOOST_TEST_REQUIRE((held & FUTEX_TID_MASK) != 0u);
  // The holder's registration, as the kernel has it: the list lives in the holder's state, which outlives
  // its thread until the holder is destroyed.
  ::robust_list_head* head = nullptr;
  std::size_t length = 0;
  BOOST_TEST_REQUIRE(::syscall(SYS_get_robust_list, static_cast<int>(held & FUTEX_TID_MASK), &head, &length) == 0);
  BOOST_TEST_REQUIRE(length == sizeof(::robust_list_head));
  BOOST_TEST(head->list.next != &head->list);  // holding: the word is listed
  holder.release();
  BOOST_TEST(head->list.next == &head->list);
  BOOST_TEST(head->list_op_pending == nullptr);
  BOOST_TEST(std::atomic_ref<std::uint32_t>(word).load() == std::uint32_t{FUTEX_OWNER_DIED});
}

BOOST_AUTO_TEST_SUITE_END()  // shm_liveness_threads_test
