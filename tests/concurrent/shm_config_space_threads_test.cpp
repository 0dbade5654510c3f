#include <boost/test/unit_test.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <thread>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <vpci/transport/shm_config_space.hpp>

BOOST_AUTO_TEST_SUITE(shm_config_space_threads_test)

namespace {

using boost::system::error_code;
using vpci::shm_config_space;
using vpci::shm_doorbell;
using vpci::shm_role;

// Failure guard for waits a passing test ends at once.
constexpr std::chrono::seconds guard{10};

std::array<std::byte, 4> repeated(std::uint8_t value) {
  const auto b = static_cast<std::byte>(value);
  return {b, b, b, b};
}

}  // namespace

// A writer stores dwords whose four bytes are equal; a reader on another thread must only ever see such
// dwords. A torn access would show mixed bytes, a non-atomic one a ThreadSanitizer report.
BOOST_AUTO_TEST_CASE(dword_accesses_are_never_torn) {
  boost::asio::io_context io;
  auto device = shm_config_space::create_anonymous(io.get_executor(), 256);
  auto driver = device.view(io.get_executor(), shm_role::driver);
  constexpr int rounds = 20000;
  std::atomic<bool> writer_done{false};
  std::thread writer([&] {
    error_code ec;
    for (int i = 0; i != rounds; ++i) {
      const auto value = repeated(static_cast<std::uint8_t>(i));
      (void)driver.write(0x80, value, ec);
    }
    writer_done.store(true);
  });
  std::size_t torn = 0;
  std::size_t reads = 0;
  error_code ec;
  while (!writer_done.load() || reads == 0) {
    std::array<std::byte, 4> seen{};
    (void)device.read(0x80, seen, ec);
    ++reads;
    if (seen[0] != seen[1] || seen[0] != seen[2] || seen[0] != seen[3]) ++torn;
  }
  writer.join();
  BOOST_TEST(torn == 0U);
  std::array<std::byte, 4> last{};
  BOOST_TEST(device.read(0x80, last, ec) == 4U);
  BOOST_TEST(std::to_integer<unsigned>(last[2]) == static_cast<unsigned>((rounds - 1) & 0xFF));
}

// Two threads write different bytes of one dword with 1-byte accesses: each is a compare-and-swap on the
// dword, so neither loses the other's update.
BOOST_AUTO_TEST_CASE(byte_writes_to_one_dword_lose_no_update) {
  boost::asio::io_context io;
  auto device = shm_config_space::create_anonymous(io.get_executor(), 256);
  auto driver = device.view(io.get_executor(), shm_role::driver);
  constexpr int rounds = 20000;
  const auto hammer = [](shm_config_space& space, std::size_t offset, std::uint8_t last) {
    error_code ec;
    for (int i = 0; i != rounds; ++i) {
      const std::byte value = i + 1 == rounds ? static_cast<std::byte>(last) : static_cast<std::byte>(i);
      (void)space.write(offset, std::span(&value, 1), ec);
    }
  };
  std::thread first([&] { hammer(device, 0x41, 0xA1); });
  std::thread second([&] { hammer(driver, 0x42, 0xB2); });
  first.join();
  second.join();
  std::array<std::byte, 4> dword{};
  error_code ec;
  BOOST_TEST(device.read(0x40, dword, ec) == 4U);
  BOOST_TEST(std::to_integer<unsigned>(dword[0]) == 0U);
  BOOST_TEST(std::to_integer<unsigned>(dword[1]) == 0xA1U);
  BOOST_TEST(std::to_integer<unsigned>(dword[2]) == 0xB2U);
  BOOST_TEST(std::to_integer<unsigned>(dword[3]) == 0U);
}

// A device thread serves requests: it blocks on to_device, reads the request, writes the reply (which rings
// to_driver). The driver thread writes a request and blocks on to_driver for each round.
BOOST_AUTO_TEST_CASE(doorbells_wake_the_other_thread_for_every_round) {
  boost::asio::io_context io;
  auto device = shm_config_space::create_anonymous(io.get_executor(), 4096);
  auto driver = device.view(io.get_executor(), shm_role::driver);
  constexpr std::uint32_t rounds = 2000;
  std::uint32_t device_failures = 0;
  // Read before the driver can write: a ring between reading and waiting is then never lost.
  const std::uint32_t request_seen = device.doorbell_sequence(shm_doorbell::to_device);
  std::thread device_thread([&] {
    std::uint32_t seen = request_seen;
    error_code ec;
    for (std::uint32_t round = 0; round != rounds; ++round) {
      seen = device.wait_for_doorbell(shm_doorbell::to_device, seen, guard, ec);
      if (ec) {
        ++device_failures;
        return;
      }
      std::array<std::byte, 4> request{};
      (void)device.read(0x100, request, ec);
      for (auto& b : request) b = static_cast<std::byte>(std::to_integer<unsigned>(b) ^ 0xFFU);
      (void)device.write(0x200, request, ec);
    }
  });

  std::uint32_t wrong_replies = 0;
  std::uint32_t driver_timeouts = 0;
  std::uint32_t reply_seen = driver.doorbell_sequence(shm_doorbell::to_driver);
  error_code ec;
  for (std::uint32_t round = 0; round != rounds; ++round) {
    const auto request = repeated(static_cast<std::uint8_t>(round));
    (void)driver.write(0x100, request, ec);  // rings to_device
    reply_seen = driver.wait_for_doorbell(shm_doorbell::to_driver, reply_seen, guard, ec);
    if (ec) {
      ++driver_timeouts;
      break;
    }
    std::array<std::byte, 4> reply{};
    (void)driver.read(0x200, reply, ec);
    if (reply != repeated(static_cast<std::uint8_t>(~round))) ++wrong_replies;
  }
  device_thread.join();
  BOOST_TEST(device_failures == 0U);
  BOOST_TEST(driver_timeouts == 0U);
  BOOST_TEST(wrong_replies == 0U);
  BOOST_TEST(device.doorbell_sequence(shm_doorbell::to_device) == rounds);
  BOOST_TEST(device.doorbell_sequence(shm_doorbell::to_driver) == rounds);
}

// The io_context thread never blocks: a coroutine awaits the doorbell while another thread writes.
BOOST_AUTO_TEST_CASE(an_async_doorbell_wait_is_woken_by_another_thread) {
  boost::asio::io_context io;
  auto device = shm_config_space::create_anonymous(io.get_executor(), 256);
  auto driver = device.view(io.get_executor(), shm_role::driver);
  constexpr std::uint32_t rounds = 200;
  std::atomic<std::uint32_t> served{0};
  std::vector<std::uint32_t> sequences;
  auto serve = [&]() -> boost::asio::awaitable<void> {
    std::uint32_t seen = 0;
    for (std::uint32_t round = 0; round != rounds; ++round) {
      auto wait = device.async_wait_doorbell(shm_doorbell::to_device, seen, boost::asio::use_awaitable);
      seen = co_await std::move(wait);
      sequences.push_back(seen);
      served.store(round + 1);
      device.ring_doorbell(shm_doorbell::to_driver);  // "next, please"
    }
  };
  boost::asio::co_spawn(io, serve(), boost::asio::detached);
  std::thread runner([&] { io.run(); });

  error_code ec;
  std::uint32_t acknowledged = driver.doorbell_sequence(shm_doorbell::to_driver);
  std::uint32_t stalls = 0;
  for (std::uint32_t round = 0; round != rounds; ++round) {
    const auto value = repeated(static_cast<std::uint8_t>(round));
    (void)driver.write(0x10, value, ec);
    acknowledged = driver.wait_for_doorbell(shm_doorbell::to_driver, acknowledged, guard, ec);
    if (ec) {
      ++stalls;
      break;
    }
  }
  if (stalls != 0) io.stop();  // the coroutine would wait for ever
  runner.join();
  BOOST_TEST(stalls == 0U);
  BOOST_TEST(served.load() == rounds);
  BOOST_TEST_REQUIRE(sequences.size() == rounds);
  BOOST_TEST(sequences.back() == rounds);
}

BOOST_AUTO_TEST_SUITE_END()  // shm_config_space_threads_test
