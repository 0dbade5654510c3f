// Every asynchronous operation of the public Asio layer called without a completion token: it uses
// vpci::default_completion_token_t of its executor (Asio's default for the executor; deferred where Asio
// has none), so the call returns a deferred operation, or an awaitable on an executor whose default is
// use_awaitable.
#include <boost/test/unit_test.hpp>

#include <array>
#include <cstddef>
#include <optional>
#include <type_traits>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <boost/asio/local/stream_protocol.hpp>

#include <vpci/asio/pf_endpoint.hpp>
#include <vpci/asio/timing.hpp>
#include <vpci/asio/vf_endpoint.hpp>
#include <vpci/asio/vf_message_endpoint.hpp>
#include <vpci/asio/vfio_user_device_server.hpp>
#include <vpci/transport/fault_injecting.hpp>
#include <vpci/transport/memory_config_space.hpp>
#include <vpci/transport/shm_config_space.hpp>
#include <vpci/transport/test_stream.hpp>

#include "../examples/blocks.hpp"
#include "test_support.hpp"

BOOST_AUTO_TEST_SUITE(default_token_test)

using namespace vpci;
using boost::system::error_code;

namespace {

template <class Operation>
constexpr bool is_deferred_operation = boost::asio::is_deferred<std::decay_t<Operation>>::value;

using awaitable_executor = boost::asio::use_awaitable_t<>::executor_with_default<boost::asio::any_io_executor>;

// A config-space transport whose executor's default token is use_awaitable: the memory space beneath,
// seen through that executor type.
class awaitable_default_transport {
 public:
  using executor_type = awaitable_executor;
  explicit awaitable_default_transport(memory_config_space& next) : next_(next) {}
  [[nodiscard]] executor_type get_executor() const noexcept { return executor_type(next_.get_executor()); }
  [[nodiscard]] std::size_t size() const noexcept { return next_.size(); }
  std::size_t read(std::size_t offset, std::span<std::byte> out, error_code& ec) { return next_.read(offset, out, ec); }
  std::size_t write(std::size_t offset, std::span<const std::byte> in, error_code& ec) {
    return next_.write(offset, in, ec);
  }
  template <class CompletionToken = default_completion_token_t<executor_type>>
  auto async_read(std::size_t offset, std::span<std::byte> out, CompletionToken&& token = CompletionToken{}) {
    return next_.async_read(offset, out, std::forward<CompletionToken>(token));
  }
  template <class CompletionToken = default_completion_token_t<executor_type>>
  auto async_write(std::size_t offset, std::span<const std::byte> in, CompletionToken&& token = CompletionToken{}) {
    return next_.async_write(offset, in, std::forward<CompletionToken>(token));
  }

 private:
  memory_config_space& next_;
};

struct pf_with_vf0 {
  boost::asio::io_context io;
  memory_config_space space{io, 4096};
  pf_endpoint<4> pf;
  std::size_t window = 0;

  pf_with_vf0() {
    BOOST_REQUIRE(!pf.register_vf(0, 0x0101));
    BOOST_REQUIRE(!pf.define<example::vf_config_block>(0, {1, example::vf_flags::link_up, 1500, 0, 4}));
    auto placed = pf.attach_mailbox(0, space);
    BOOST_REQUIRE(placed.has_value());
    window = *placed;
  }
};

}  // namespace

// The default is the executor's own, else deferred: checked where it is decided, at compile time.
static_assert(std::is_same_v<default_completion_token_t<boost::asio::any_io_executor>, boost::asio::deferred_t>);
static_assert(std::is_same_v<default_completion_token_t<awaitable_executor>, boost::asio::use_awaitable_t<>>);
static_assert(std::is_same_v<
              default_completion_token_t<boost::asio::deferred_t::executor_with_default<boost::asio::io_context::executor_type>>,
              boost::asio::deferred_t>);

BOOST_AUTO_TEST_CASE(vf_mailbox_endpoint_operations_without_a_token_are_deferred) {
  pf_with_vf0 f;
  vf_endpoint<memory_config_space> vf(f.space, f.window);
  std::array<std::byte, example::vf_config_block::size> raw{};
  const auto encoded = example::vf_config_block::to_buffer({1, example::vf_flags::link_up, 9000, 0, 4});

  auto read_block = vf.async_read_block(example::vf_config_block::id, raw);
  auto read_block_timeout = vf.async_read_block(example::vf_config_block::id, raw, std::chrono::seconds(5));
  auto write_block = vf.async_write_block(example::vf_config_block::id, encoded.span());
  auto write_block_timeout = vf.async_write_block(example::vf_config_block::id, encoded.span(), std::chrono::seconds(5));
  auto read = vf.async_read(example::vf_config_block{});
  auto write = vf.async_write(example::vf_config_block{}, {1, example::vf_flags::link_up, 1280, 0, 4});
  auto wait = vf.async_wait_invalidate();
  auto serve = f.pf.async_serve(0);
  static_assert(is_deferred_operation<decltype(read_block)> && is_deferred_operation<decltype(read_block_timeout)>);
  static_assert(is_deferred_operation<decltype(write_block)> && is_deferred_operation<decltype(write_block_timeout)>);
  static_assert(is_deferred_operation<decltype(read)> && is_deferred_operation<decltype(write)>);
  static_assert(is_deferred_operation<decltype(wait)> && is_deferred_operation<decltype(serve)>);

  // Deferred: nothing starts until the operation is launched with a handler.
  f.io.poll();
  BOOST_TEST(f.pf.load<example::vf_config_block>(0)->mtu == 1500u);  // the writes have not run
  std::optional<error_code> served;
  std::move(serve)([&](error_code ec) { served = ec; });

  // Each launched in turn (one block operation at a time) yields what the explicit-token form would.
  std::size_t read_bytes = 0;
  std::move(read_block)([&](error_code ec, std::size_t n) {
    BOOST_TEST(!ec);
    read_bytes = n;
  });
  f.io.restart();
  while (read_bytes == 0 && f.io.run_one() != 0) {
  }
  BOOST_TEST(read_bytes == example::vf_config_block::size);
  BOOST_TEST(example::vf_config_block::decode(raw)->mtu == 1500u);

  std::size_t written = 0;
  std::move(write_block_timeout)([&](error_code ec, std::size_t n) {
    BOOST_TEST(!ec);
    written = n;
  });
  while (written == 0 && f.io.run_one() != 0) {
  }
  BOOST_TEST(written == example::vf_config_block::size);
  BOOST_TEST(f.pf.load<example::vf_config_block>(0)->mtu == 9000u);

  std::optional<example::vf_config> typed;
  std::move(read)([&](error_code ec, example::vf_config value) {
    BOOST_TEST(!ec);
    typed = value;
  });
  while (!typed && f.io.run_one() != 0) {
  }
  BOOST_REQUIRE(typed.has_value());
  BOOST_TEST(typed->mtu == 9000u);

  written = 0;
  std::move(write)([&](error_code ec, std::size_t n) {
    BOOST_TEST(!ec);
    written = n;
  });
  while (written == 0 && f.io.run_one() != 0) {
  }
  BOOST_TEST(f.pf.load<example::vf_config_block>(0)->mtu == 1280u);

  std::optional<block_mask> invalidated;
  std::move(wait)([&](error_code ec, block_mask mask) {
    BOOST_TEST(!ec);
    invalidated = mask;
  });
  BOOST_REQUIRE(!f.pf.invalidate(0, example::vf_config_block::mask()));
  while (!invalidated && f.io.run_one() != 0) {
  }
  BOOST_REQUIRE(invalidated.has_value());
  BOOST_TEST((*invalidated == example::vf_config_block::mask()));

  BOOST_REQUIRE(!f.pf.detach_mailbox(0));
  while (!served && f.io.run_one() != 0) {
  }
  BOOST_REQUIRE(served.has_value());
  BOOST_TEST(!*served);
  (void)read_block_timeout;
  (void)write_block;
}

// A deferred write initiates when launched: the bytes it sends are those of the call, not what the
// caller's buffer holds by then (it may be gone: a temporary, a reused buffer).
BOOST_AUTO_TEST_CASE(a_deferred_block_write_sends_the_bytes_given_at_the_call) {
  pf_with_vf0 f;
  vf_endpoint<memory_config_space> vf(f.space, f.window);
  auto serve = f.pf.async_serve(0);
  std::move(serve)([](error_code) {});
  auto bytes = example::vf_config_block::to_buffer({1, example::vf_flags::link_up, 9000, 0, 4});
  auto write = vf.async_write_block(example::vf_config_block::id, bytes.span());
  bytes = example::vf_config_block::to_buffer({1, example::vf_flags::link_up, 576, 0, 4});  // reused
  std::size_t written = 0;
  std::move(write)([&](error_code ec, std::size_t n) {
    BOOST_TEST(!ec);
    written = n;
  });
  while (written == 0 && f.io.run_one() != 0) {
  }
  BOOST_TEST(written == example::vf_config_block::size);
  BOOST_TEST(f.pf.load<example::vf_config_block>(0)->mtu == 9000u);
  // A length no block has is still refused by its length.
  std::array<std::byte, 129> too_long{};
  auto refused = vf.async_write_block(example::vf_config_block::id, too_long);
  std::optional<error_code> outcome;
  std::move(refused)([&](error_code ec, std::size_t) { outcome = ec; });
  while (!outcome && f.io.run_one() != 0) {
  }
  BOOST_REQUIRE(outcome.has_value());
  BOOST_TEST((*outcome == make_error_code(errc::invalid_length)));
  BOOST_REQUIRE(!f.pf.detach_mailbox(0));
  f.io.run();
}

BOOST_AUTO_TEST_CASE(an_executor_defaulting_to_use_awaitable_gets_awaitables) {
  pf_with_vf0 f;
  awaitable_default_transport transport(f.space);
  vf_endpoint<awaitable_default_transport> vf(transport, f.window);
  f.pf.async_serve(0, boost::asio::detached);
  static_assert(std::is_same_v<decltype(vf.async_read(example::vf_config_block{})),
                               boost::asio::awaitable<example::vf_config>>);
  std::optional<std::uint32_t> mtu;
  boost::asio::co_spawn(
      f.io,
      [&]() -> boost::asio::awaitable<void> {
        auto read = vf.async_read(example::vf_config_block{});  // bound first: g++ 12 and co_await temporaries
        const example::vf_config config = co_await std::move(read);
        mtu = config.mtu;
        BOOST_TEST(!f.pf.detach_mailbox(0));
      },
      boost::asio::detached);
  f.io.run();
  BOOST_REQUIRE(mtu.has_value());
  BOOST_TEST(*mtu == 1500u);
}

BOOST_AUTO_TEST_CASE(message_binding_and_stream_serving_without_a_token_are_deferred) {
  boost::asio::io_context io;
  auto [vf_stream, pf_stream] = test_stream::make_pair(io.get_executor());
  pf_endpoint<4> pf;
  BOOST_REQUIRE(!pf.register_vf(0, 0x0101));
  BOOST_REQUIRE(!pf.define<example::vf_config_block>(0, {1, example::vf_flags::link_up, 1500, 0, 4}));
  const hyperv::wslot slot{2, 1};
  auto serve = pf.async_serve(0, slot, pf_stream);
  auto serve_with_options = pf.async_serve(0, slot, pf_stream, pf_stream_options<>{});
  static_assert(is_deferred_operation<decltype(serve)> && is_deferred_operation<decltype(serve_with_options)>);
  std::optional<error_code> served;
  std::move(serve)([&](error_code ec) { served = ec; });

  vf_message_endpoint<test_stream> vf(vf_stream, slot);
  auto read = vf.async_read(example::vf_config_block{});
  static_assert(is_deferred_operation<decltype(read)>);
  std::optional<example::vf_config> typed;
  std::move(read)([&](error_code ec, example::vf_config value) {
    BOOST_TEST(!ec);
    typed = value;
  });
  while (!typed && io.run_one() != 0) {
  }
  BOOST_REQUIRE(typed.has_value());
  BOOST_TEST(typed->mtu == 1500u);
  vf.close();
  vf_stream.close();
  io.run();
  BOOST_TEST(served.has_value());
  (void)serve_with_options;
}

BOOST_AUTO_TEST_CASE(transport_operations_without_a_token_are_deferred) {
  boost::asio::io_context io;
  memory_config_space space{io, 256};
  fault_injecting_transport<memory_config_space&> faulty{space};
  auto shm = shm_config_space::create_anonymous(io.get_executor(), 256);
  auto [one, two] = test_stream::make_pair(io.get_executor());
  const std::array<std::byte, 4> pattern{std::byte{1}, std::byte{2}, std::byte{3}, std::byte{4}};
  std::array<std::byte, 4> back{};
  std::array<std::byte, 4> shm_back{};
  std::array<std::byte, 4> stream_back{};

  auto write = space.async_write(0x40, pattern);
  auto read = faulty.async_read(0x40, back);
  auto shm_write = shm.async_write(0x40, pattern);
  auto shm_read = shm.async_read(0x40, shm_back);
  auto shm_signal = shm.async_wait_peer_signal(0);
  auto shm_gone = shm.async_wait_peer_gone();
  auto send = one.async_write_some(boost::asio::buffer(pattern));
  auto receive = two.async_read_some(boost::asio::buffer(stream_back));
  static_assert(is_deferred_operation<decltype(write)> && is_deferred_operation<decltype(read)>);
  static_assert(is_deferred_operation<decltype(shm_write)> && is_deferred_operation<decltype(shm_read)>);
  static_assert(is_deferred_operation<decltype(shm_signal)> && is_deferred_operation<decltype(shm_gone)>);
  static_assert(is_deferred_operation<decltype(send)> && is_deferred_operation<decltype(receive)>);

  int done = 0;
  auto count = [&](error_code ec, std::size_t n) {
    BOOST_TEST(!ec);
    BOOST_TEST(n == 4u);
    ++done;
  };
  std::move(write)(count);
  io.run();
  std::move(read)(count);
  std::move(shm_write)(count);
  io.restart();
  io.run();
  std::move(shm_read)(count);
  std::move(send)(count);
  std::move(receive)(count);
  io.restart();
  io.run();
  BOOST_TEST(done == 6);
  BOOST_TEST((back == pattern));
  BOOST_TEST((shm_back == pattern));
  BOOST_TEST((stream_back == pattern));
  (void)shm_signal;
  (void)shm_gone;
}

// The vfio-user device side and the timing policies' timers: operations a user calls too.
BOOST_AUTO_TEST_CASE(vfio_user_device_side_and_timers_without_a_token_are_deferred) {
  boost::asio::io_context io;
  vfio_user_device_space device_space(io, 256);
  vfio_user_device_server server(device_space);
  boost::asio::local::stream_protocol::socket socket(io);
  const std::array<std::byte, 4> pattern{std::byte{5}, std::byte{6}, std::byte{7}, std::byte{8}};
  std::array<std::byte, 4> back{};
  manual_timing timing;
  auto virtual_timer = timing.make_timer(io.get_executor());
  auto real_timer = steady_timing::make_timer(io.get_executor());
  virtual_timer.expires_at(1000);
  real_timer.expires_at(0);  // already due: completes without waiting

  auto write = device_space.async_write(0x40, pattern);
  auto read = device_space.async_read(0x40, back);
  auto serve = server.async_serve(std::move(socket));
  auto virtual_wait = virtual_timer.async_wait();
  auto real_wait = real_timer.async_wait();
  static_assert(is_deferred_operation<decltype(write)> && is_deferred_operation<decltype(read)>);
  static_assert(is_deferred_operation<decltype(serve)>);
  static_assert(is_deferred_operation<decltype(virtual_wait)> && is_deferred_operation<decltype(real_wait)>);

  int accesses = 0;
  auto count = [&](error_code ec, std::size_t n) {
    BOOST_TEST(!ec);
    BOOST_TEST(n == 4u);
    ++accesses;
  };
  std::move(write)(count);
  io.run();
  std::move(read)(count);
  io.restart();
  io.run();
  BOOST_TEST(accesses == 2);
  BOOST_TEST((back == pattern));

  int waits = 0;
  std::move(virtual_wait)([&](error_code ec) { waits += !ec ? 1 : 0; });
  std::move(real_wait)([&](error_code ec) { waits += !ec ? 1 : 0; });
  timing.advance_to(1000);
  io.restart();
  io.run();
  BOOST_TEST(waits == 2);

  std::optional<error_code> served;
  std::move(serve)([&](error_code ec) { served = ec; });  // a socket that was never connected
  io.restart();
  io.run();
  BOOST_TEST_REQUIRE(served.has_value());
  BOOST_TEST(static_cast<bool>(*served));
}

BOOST_AUTO_TEST_SUITE_END()  // default_token_test
