#include <boost/test/unit_test.hpp>

#include <array>
#include <chrono>
#include <cstddef>
#include <future>
#include <thread>
#include <tuple>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>

#include <vpci/transport/fault_injecting.hpp>
#include <vpci/transport/memory_config_space.hpp>
#include <vpci/transport/shm_config_space.hpp>

BOOST_AUTO_TEST_SUITE(transport_tokens_test)

namespace {

using boost::system::error_code;
using vpci::errc;

// Failure guard for futures that a passing test fulfils at once.
constexpr std::chrono::seconds guard{10};

// Each backend with a fixture that builds it on an io_context.
struct memory_backend {
  boost::asio::io_context io;
  vpci::memory_config_space transport{io, 256};
};
struct shm_backend {
  boost::asio::io_context io;
  vpci::shm_config_space transport = vpci::shm_config_space::create_anonymous(io.get_executor(), 256);
};
struct fault_injecting_backend {
  boost::asio::io_context io;
  vpci::memory_config_space space{io, 256};
  vpci::fault_injecting_transport<vpci::memory_config_space&> transport{space};
};

using backends = std::tuple<memory_backend, shm_backend, fault_injecting_backend>;

const std::array<std::byte, 4> pattern{std::byte{0x11}, std::byte{0x22}, std::byte{0x33}, std::byte{0x44}};

template <class Transport>
boost::asio::awaitable<void> coroutine_round_trip(Transport& transport, std::array<std::byte, 4>& back, int& steps) {
  // g++ 12 mishandles temporaries inside co_await expressions: every operation is bound to a local first.
  auto write = transport.async_write(0x20, pattern, boost::asio::use_awaitable);
  const std::size_t written = co_await std::move(write);
  BOOST_TEST(written == 4U);
  auto read = transport.async_read(0x20, back, boost::asio::use_awaitable);
  const std::size_t read_bytes = co_await std::move(read);
  BOOST_TEST(read_bytes == 4U);
  // Errors arrive as exceptions with use_awaitable.
  try {
    auto bad = transport.async_read(0x100, back, boost::asio::use_awaitable);
    (void)co_await std::move(bad);
    BOOST_FAIL("out-of-range read must throw");
  } catch (const boost::system::system_error& e) {
    BOOST_TEST((e.code() == errc::out_of_range));
  }
  ++steps;
}

}  // namespace

BOOST_AUTO_TEST_CASE_TEMPLATE(callback, Backend, backends) {
  Backend backend;
  std::array<std::byte, 4> back{};
  int calls = 0;
  backend.transport.async_write(0x10, pattern, [&](error_code ec, std::size_t n) {
    BOOST_TEST(!ec);
    BOOST_TEST(n == 4U);
    ++calls;
  });
  backend.transport.async_read(0x10, back, [&](error_code ec, std::size_t n) {
    BOOST_TEST(!ec);
    BOOST_TEST(n == 4U);
    ++calls;
  });
  BOOST_TEST(calls == 0);
  backend.io.run();
  BOOST_TEST(calls == 2);
  BOOST_TEST(std::to_integer<unsigned>(back[3]) == 0x44U);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(use_awaitable_in_co_spawn, Backend, backends) {
  Backend backend;
  std::array<std::byte, 4> back{};
  int steps = 0;
  bool finished = false;
  boost::asio::co_spawn(backend.io, coroutine_round_trip(backend.transport, back, steps),
                        [&](std::exception_ptr failure) { finished = !failure; });
  backend.io.run();
  BOOST_TEST(finished);
  BOOST_TEST(steps == 1);
  BOOST_TEST(std::to_integer<unsigned>(back[0]) == 0x11U);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(deferred, Backend, backends) {
  Backend backend;
  std::array<std::byte, 4> back{};
  auto write = backend.transport.async_write(0x30, pattern, boost::asio::deferred);
  auto read = backend.transport.async_read(0x30, back, boost::asio::deferred);
  int calls = 0;
  // Nothing starts until the deferred operations are invoked.
  std::move(write)([&](error_code ec, std::size_t n) {
    BOOST_TEST(!ec);
    BOOST_TEST(n == 4U);
    ++calls;
    std::move(read)([&](error_code e, std::size_t m) {
      BOOST_TEST(!e);
      BOOST_TEST(m == 4U);
      ++calls;
    });
  });
  backend.io.run();
  BOOST_TEST(calls == 2);
  BOOST_TEST(std::to_integer<unsigned>(back[2]) == 0x33U);
}

// The futures are fulfilled by running the context on this thread: the token is exercised without a
// second thread (libstdc++'s future handoff across threads draws ThreadSanitizer reports of its own).
BOOST_AUTO_TEST_CASE_TEMPLATE(use_future, Backend, backends) {
  Backend backend;
  std::array<std::byte, 4> back{};
  std::future<std::size_t> written = backend.transport.async_write(0x40, pattern, boost::asio::use_future);
  BOOST_TEST((written.wait_for(std::chrono::seconds(0)) == std::future_status::timeout));  // never inline
  backend.io.run();
  BOOST_TEST_REQUIRE((written.wait_for(guard) == std::future_status::ready));
  BOOST_TEST(written.get() == 4U);
  std::future<std::size_t> read = backend.transport.async_read(0x40, back, boost::asio::use_future);
  std::future<std::size_t> bad = backend.transport.async_read(0x101, back, boost::asio::use_future);
  backend.io.restart();
  backend.io.run();
  BOOST_TEST_REQUIRE((read.wait_for(guard) == std::future_status::ready));
  BOOST_TEST(read.get() == 4U);
  BOOST_TEST_REQUIRE((bad.wait_for(guard) == std::future_status::ready));
  try {
    (void)bad.get();
    BOOST_FAIL("out-of-range read must throw");
  } catch (const boost::system::system_error& e) {
    BOOST_TEST((e.code() == errc::out_of_range));
  }
  BOOST_TEST(std::to_integer<unsigned>(back[1]) == 0x22U);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(as_tuple, Backend, backends) {
  Backend backend;
  std::array<std::byte, 4> back{};
  int calls = 0;
  backend.transport.async_read(0xFE, back, boost::asio::as_tuple([&](std::tuple<error_code, std::size_t> result) {
    BOOST_TEST((std::get<0>(result) == errc::out_of_range));
    BOOST_TEST(std::get<1>(result) == 0U);
    ++calls;
  }));
  std::array<std::byte, 2> two{};
  backend.transport.async_read(0xFE, two, boost::asio::as_tuple([&](std::tuple<error_code, std::size_t> result) {
    BOOST_TEST(!std::get<0>(result));
    BOOST_TEST(std::get<1>(result) == 2U);
    ++calls;
  }));
  backend.io.run();
  BOOST_TEST(calls == 2);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(as_tuple_with_use_awaitable, Backend, backends) {
  Backend backend;
  std::array<std::byte, 4> back{};
  bool finished = false;
  auto body = [&]() -> boost::asio::awaitable<void> {
    auto read = backend.transport.async_read(0x100, back, boost::asio::as_tuple(boost::asio::use_awaitable));
    const auto [ec, n] = co_await std::move(read);
    BOOST_TEST((ec == errc::out_of_range));
    BOOST_TEST(n == 0U);
    finished = true;
  };
  boost::asio::co_spawn(backend.io, body(), boost::asio::detached);
  backend.io.run();
  BOOST_TEST(finished);
}

BOOST_AUTO_TEST_SUITE_END()  // transport_tokens_test
