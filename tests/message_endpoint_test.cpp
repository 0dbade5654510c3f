// Binding 2 end to end in one process: a VF message endpoint and a PF serving it over a local socket.
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <array>
#include <functional>
#include <future>
#include <boost/asio/buffers_iterator.hpp>
#include <optional>
#include <thread>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect_pipe.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/connect_pair.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/asio/write.hpp>

#include <vpci/asio/pf_endpoint.hpp>
#include <vpci/asio/timing.hpp>
#include <vpci/asio/vf_message_endpoint.hpp>
#include <vpci/transport/closed_by_peer.hpp>
#include <vpci/transport/test_stream.hpp>

#include "../examples/blocks.hpp"
#include "test_support.hpp"
#include "virtual_time.hpp"

BOOST_AUTO_TEST_SUITE(message_endpoint_test)

using namespace vpci;
using namespace std::chrono_literals;
using socket_type = boost::asio::local::stream_protocol::socket;

namespace {

constexpr hyperv::wslot vf0_slot{2, 1};
constexpr hyperv::wslot vf1_slot{3, 0};

struct message_fixture {
  boost::asio::io_context io;
  socket_type vf_socket{io};
  socket_type pf_socket{io};
  pf_endpoint<4> pf;
  std::optional<vf_message_endpoint<socket_type>> vf;
  std::optional<boost::system::error_code> served;

  explicit message_fixture(vf_message_options options = {}, engine::pf_limits limits = {}) : pf(limits) {
    boost::asio::local::connect_pair(vf_socket, pf_socket);
    BOOST_REQUIRE(!pf.register_vf(0, 0x0101));
    BOOST_REQUIRE(!pf.register_vf(1, 0x0102));
    BOOST_REQUIRE(!pf.define<example::mac_block>(0, {0x00, 0x15, 0x5d, 0x01, 0x02, 0x03}, block_access::read_only));
    BOOST_REQUIRE(!pf.define<example::vf_config_block>(0, {1, example::vf_flags::link_up, 1500, 0, 4}));
    BOOST_REQUIRE(!pf.define_block(1, block_id{9}, std::array<std::byte, 4>{}));  // VF 1's own block
    pf.async_serve(0, vf0_slot, pf_socket, [this](boost::system::error_code ec) { served = ec; });
    vf.emplace(vf_socket, vf0_slot, options);
  }
  void close_vf() {
    boost::system::error_code ignored;
    vf_socket.shutdown(socket_type::shutdown_both, ignored);
    vf_socket.close(ignored);
  }
};

// A PF serving VF 0 (the example MAC block) and the VF's socket, each side on an io_context of its own: a
// test runs one without the other (the PF on another thread, or the VF reading nothing it is not let).
struct separate_contexts {
  boost::asio::io_context vf_io;
  boost::asio::io_context pf_io;
  socket_type vf_socket{vf_io};
  socket_type pf_socket{pf_io};
  pf_endpoint<4> pf;
  std::optional<boost::system::error_code> served;

  separate_contexts() {
    boost::asio::local::connect_pair(vf_socket, pf_socket);
    BOOST_REQUIRE(!pf.register_vf(0, 0x0101));
    BOOST_REQUIRE(!pf.define<example::mac_block>(0, {0x00, 0x15, 0x5d, 0x01, 0x02, 0x03}, block_access::read_only));
    pf.async_serve(0, vf0_slot, pf_socket, [this](boost::system::error_code ec) { served = ec; });
  }
};

// A VF endpoint over a test stream whose other end the test plays as the PF, on virtual time. Each read
// of `pipelined` below is counted: every handler must run exactly once.
struct scripted_pf {
  static constexpr std::size_t slots = 64;
  boost::asio::io_context io;
  manual_timing clock;
  std::pair<test_stream, test_stream> ends = test_stream::make_pair(io.get_executor());
  test_stream& pf_end = ends.second;
  vf_message_endpoint<test_stream, manual_timing> vf{ends.first, vf0_slot, no_negotiation(), clock};

  static vf_message_options no_negotiation() {
    vf_message_options options;
    options.negotiate = false;  // the PF below answers block requests only
    options.default_timeout = 1s;
    return options;
  }
  void run_ready() {
    io.restart();
    io.poll();
  }
  // The transaction IDs of the read requests waiting on the wire, in the order they were sent.
  std::vector<std::uint64_t> take_requests() {
    std::vector<std::uint64_t> ids;
    std::array<std::byte, hyperv::read_request_frame_size> request{};
    while (pf_end.available() != 0) {
      boost::asio::read(pf_end, boost::asio::buffer(request));
      ids.push_back(hyperv::vmbus::decode_descriptor(std::span<const std::byte>(request).subspan(4))->transaction_id);
    }
    return ids;
  }
  // Answers every one of `ids` in one write, last first; the request with ID `ids[k]` reads pattern(4, k).
  void answer_in_reverse(const std::vector<std::uint64_t>& ids) {
    std::vector<std::byte> answers;
    for (std::size_t k = ids.size(); k-- > 0;) {
      std::array<std::byte, hyperv::max_response_frame_size> frame{};
      const auto data = vpci::test::pattern(4, static_cast<unsigned>(k));
      const auto size = hyperv::encode_read_response_frame(hyperv::read_response{ids[k], ntstatus::success, data}, frame);
      BOOST_REQUIRE(size.has_value());
      answers.insert(answers.end(), frame.begin(), frame.begin() + static_cast<std::ptrdiff_t>(*size));
    }
    boost::asio::write(pf_end, boost::asio::buffer(answers));
  }
};

// 2 * 64 counted reads: the first 64 start at once; each of their handlers starts one of the other 64.
struct pipelined {
  scripted_pf& pf;
  std::vector<std::array<std::byte, 4>> buffers = std::vector<std::array<std::byte, 4>>(2 * scripted_pf::slots);
  std::vector<int> calls = std::vector<int>(2 * scripted_pf::slots, 0);
  std::vector<boost::system::error_code> errors = std::vector<boost::system::error_code>(2 * scripted_pf::slots);
  std::vector<boost::asio::cancellation_signal> cancel = std::vector<boost::asio::cancellation_signal>(2 * scripted_pf::slots);
  std::size_t next{scripted_pf::slots};

  // Read i of the first 64 has the timeout `first_timeout(i)`; the others the default.
  template <class Timeout>
  pipelined(scripted_pf& p, Timeout first_timeout) : pf(p) {
    for (std::size_t i = 0; i < scripted_pf::slots; ++i) start(i, first_timeout(i));
    pf.run_ready();
  }
  explicit pipelined(scripted_pf& p) : pipelined(p, [](std::size_t) { return std::chrono::nanoseconds(1s); }) {}
  pipelined(const pipelined&) = delete;
  pipelined& operator=(const pipelined&) = delete;
  // What is still pending completes before the handlers' state and cancellation slots go.
  ~pipelined() {
    pf.vf.close();
    pf.run_ready();
  }
  void start(std::size_t i, std::chrono::nanoseconds timeout = 1s) {
    pf.vf.async_read_block(block_id{static_cast<std::uint32_t>(i)}, buffers[i], timeout,
                           boost::asio::bind_cancellation_slot(cancel[i].slot(), [this, i](boost::system::error_code ec, std::size_t) {
                             ++calls[i];
                             errors[i] = ec;
                             if (i < scripted_pf::slots && next < calls.size()) start(next++);
                           }));
  }
  // Reads first..first + 63 each ran their handler once, with `error` (but read `except`).
  void expect_called_once(std::size_t first, boost::system::error_code error, std::size_t except = ~std::size_t{0}) const {
    for (std::size_t i = first; i < first + scripted_pf::slots; ++i) {
      if (i == except) continue;
      BOOST_TEST(calls[i] == 1, "read " << i << " handler calls: " << calls[i]);
      BOOST_TEST(errors[i] == error, "read " << i << ": " << errors[i].message());
    }
  }
};

}  // namespace

// The PF answers 64 pipelined reads in one write, in reverse order, and each handler starts a new read
// between two deliveries. An answer freed its operation's slot before the completion was delivered, so a
// new read took the slot of an answer still waiting and that answer's handler never ran: its caller waited
// for good.
BOOST_AUTO_TEST_CASE(answers_in_any_order_call_every_pipelined_handler_exactly_once) {
  scripted_pf pf;
  pipelined reads(pf);
  const auto first = pf.take_requests();
  BOOST_REQUIRE(first.size() == scripted_pf::slots);
  pf.answer_in_reverse(first);
  pf.run_ready();
  reads.expect_called_once(0, {});
  for (std::size_t i = 0; i < scripted_pf::slots; ++i)
    BOOST_TEST(vpci::test::octets(reads.buffers[i]) == vpci::test::octets(vpci::test::pattern(4, static_cast<unsigned>(i))));
  // The reads the handlers started are on the wire, one per slot, and complete once each too.
  const auto second = pf.take_requests();
  BOOST_REQUIRE(second.size() == scripted_pf::slots);
  pf.answer_in_reverse(second);
  pf.run_ready();
  reads.expect_called_once(scripted_pf::slots, {});
  BOOST_TEST(pf.vf.channel().engine().slots_in_use() == 0u);
}

// The same when a cancellation frees a slot while the answers to the others wait to be delivered.
BOOST_AUTO_TEST_CASE(a_cancellation_among_waiting_answers_calls_every_pipelined_handler_exactly_once) {
  scripted_pf pf;
  pipelined reads(pf);
  auto first = pf.take_requests();
  BOOST_REQUIRE(first.size() == scripted_pf::slots);
  auto answered = first;
  answered.erase(answered.begin() + 5);  // read 5 stays unanswered
  pf.answer_in_reverse(answered);
  reads.cancel[5].emit(boost::asio::cancellation_type::terminal);
  pf.run_ready();
  BOOST_TEST(reads.calls[5] == 1);
  BOOST_TEST((reads.errors[5] == errc::cancelled));
  reads.expect_called_once(0, {}, 5);
  const auto second = pf.take_requests();
  BOOST_REQUIRE(second.size() == scripted_pf::slots);
  pf.answer_in_reverse(second);
  pf.run_ready();
  reads.expect_called_once(scripted_pf::slots, {});
  BOOST_TEST(pf.vf.channel().engine().slots_in_use() == 0u);
}

// The same when the deadlines free the slots: all 64 time out at once, the last started first (its
// deadline is the earliest), and each handler starts a new read.
BOOST_AUTO_TEST_CASE(timeouts_call_every_pipelined_handler_exactly_once) {
  scripted_pf pf;
  pipelined reads(pf, [](std::size_t i) { return std::chrono::nanoseconds(2s) - i * std::chrono::nanoseconds(1ms); });
  BOOST_REQUIRE(pf.take_requests().size() == scripted_pf::slots);  // and never answered
  pf.clock.advance(2s);
  pf.run_ready();
  reads.expect_called_once(0, make_error_code(errc::timeout));
  const auto second = pf.take_requests();
  BOOST_REQUIRE(second.size() == scripted_pf::slots);
  pf.answer_in_reverse(second);
  pf.run_ready();
  reads.expect_called_once(scripted_pf::slots, {});
}

BOOST_AUTO_TEST_CASE(coroutine_reads_writes_and_sees_invalidations) {
  message_fixture f;
  bool finished = false;
  boost::asio::co_spawn(
      f.io,
      [&]() -> boost::asio::awaitable<void> {
        auto mac = co_await f.vf->async_read(example::mac_block{}, boost::asio::use_awaitable);
        BOOST_TEST(mac[2] == 0x5d);
        auto config = co_await f.vf->async_read(example::vf_config_block{}, boost::asio::use_awaitable);
        config.mtu = 9000;
        const std::size_t written = co_await f.vf->async_write(example::vf_config_block{}, config, boost::asio::use_awaitable);
        BOOST_TEST(written == example::vf_config_block::size);
        config.vlan = 7;
        BOOST_TEST(!f.pf.store<example::vf_config_block>(0, config));  // stores and invalidates block 1
        auto mask = co_await f.vf->async_wait_invalidate(boost::asio::use_awaitable);
        BOOST_TEST(mask.bits() == 0b10u);
        auto after = co_await f.vf->async_read(example::vf_config_block{}, boost::asio::use_awaitable);
        BOOST_TEST(after.vlan == 7u);
        BOOST_TEST(after.mtu == 9000u);
        finished = true;
        f.close_vf();
      },
      boost::asio::detached);
  f.io.run();
  BOOST_TEST(finished);
  BOOST_REQUIRE(f.served.has_value());
  BOOST_TEST(!*f.served);  // the VF closed: serving ends cleanly
}

// A completion handler that destroys its endpoint (a coroutine owning it returns after its last co_await):
// nothing of the endpoint may be touched afterwards. Binding 2 delivered the answer from inside the
// background read's completion and then started the next read on the freed endpoint (ASan:
// heap-use-after-free in ensure_receiving). Both read paths: a socket's (wait for readiness, then read) and
// a stream without waits (test_stream: async_read_some). The storage is filled with a pattern right after
// the destruction, as binding 1's test does.
template <class Stream>
void destroy_in_own_handler(boost::asio::io_context& io, Stream& vf_end, Stream& pf_end) {
  using endpoint = vf_message_endpoint<Stream>;
  pf_endpoint<4> pf;
  BOOST_REQUIRE(!pf.register_vf(0, 0x0101));
  BOOST_REQUIRE(!pf.define<example::mac_block>(0, {0x00, 0x15, 0x5d, 0x01, 0x02, 0x03}));
  pf.async_serve(0, vf0_slot, pf_end, [](boost::system::error_code) {});
  alignas(endpoint) std::array<std::byte, sizeof(endpoint)> storage{};
  auto* vf = new (storage.data()) endpoint(vf_end, vf0_slot);
  bool called = false;
  vf->async_read(example::mac_block{}, [&](boost::system::error_code ec, example::mac_address mac) {
    BOOST_TEST(!ec, ec.message());
    BOOST_TEST(mac[5] == 0x03);
    vf->~endpoint();
    storage.fill(std::byte{0xA5});
    called = true;
  });
  for (int i = 0; i < 1000 && !called; ++i) {
    io.restart();
    io.run_one();
  }
  BOOST_REQUIRE(called);
  io.restart();
  io.poll();
  BOOST_TEST(std::all_of(storage.begin(), storage.end(), [](std::byte b) { return b == std::byte{0xA5}; }));
}

BOOST_AUTO_TEST_CASE(a_binding_2_endpoint_destroyed_by_its_completion_handler_is_not_touched_again) {
  {
    boost::asio::io_context io;
    socket_type vf_socket(io), pf_socket(io);
    boost::asio::local::connect_pair(vf_socket, pf_socket);
    destroy_in_own_handler(io, vf_socket, pf_socket);
  }
  boost::asio::io_context io;
  auto ends = test_stream::make_pair(io.get_executor());
  destroy_in_own_handler(io, ends.first, ends.second);
}

BOOST_AUTO_TEST_CASE(pipelined_requests_complete_with_exact_statuses) {
  message_fixture f;
  std::array<std::array<std::byte, 6>, 40> buffers{};
  std::array<std::byte, 4> small{};
  std::array<std::byte, 4> foreign{};
  std::size_t ok = 0;
  std::size_t completed = 0;
  constexpr std::size_t total = 44;
  boost::system::error_code too_small, other_vf, nobody, zero;
  auto done = [&] {
    if (++completed == total) f.close_vf();
  };
  for (auto& buffer : buffers)
    f.vf->async_read_block(example::mac_block::id, buffer, [&](boost::system::error_code ec, std::size_t n) {
      if (!ec && n == 6) ++ok;
      done();
    });
  f.vf->async_read_block(example::mac_block::id, small, [&](boost::system::error_code ec, std::size_t) {
    too_small = ec;
    done();
  });
  f.vf->async_read_block(block_id{9}, foreign, [&](boost::system::error_code ec, std::size_t) {
    other_vf = ec;
    done();
  });
  f.vf->async_read_block(block_id{30}, foreign, [&](boost::system::error_code ec, std::size_t) {
    nobody = ec;
    done();
  });
  f.vf->async_read_block(block_id{1}, std::span<std::byte>{}, [&](boost::system::error_code ec, std::size_t) {
    zero = ec;
    done();
  });
  f.io.run();
  BOOST_TEST(completed == total);
  BOOST_TEST(ok == buffers.size());
  BOOST_TEST(buffers[39][5] == std::byte{0x03});
  BOOST_TEST((too_small == errc::buffer_too_small));
  BOOST_TEST(small == (std::array<std::byte, 4>{}));
  BOOST_TEST((other_vf == errc::access_denied));
  BOOST_TEST((nobody == errc::invalid_argument));
  BOOST_TEST((zero == errc::invalid_length));
  BOOST_TEST(f.pf.blocks().in_flight(0) == 0u);  // every admitted request retired
}

BOOST_AUTO_TEST_CASE(completion_tokens_and_synchronous_forms) {
  message_fixture f;
  // use_future, deferred and as_tuple, completed by running the context on this thread.
  std::array<std::byte, 6> a{}, b{}, c{};
  std::future<std::size_t> future = f.vf->async_read_block(example::mac_block::id, a, boost::asio::use_future);
  std::size_t deferred_bytes = 0;
  std::size_t tuple_bytes = 0;
  auto op = f.vf->async_read_block(example::mac_block::id, b, boost::asio::deferred);
  std::move(op)([&](boost::system::error_code ec, std::size_t n) { deferred_bytes = ec ? 0 : n; });
  f.vf->async_read_block(example::mac_block::id, c,
                         boost::asio::as_tuple([&](std::tuple<boost::system::error_code, std::size_t> t) {
                           tuple_bytes = std::get<0>(t) ? 0 : std::get<1>(t);
                         }));
  while (tuple_bytes == 0 || deferred_bytes == 0 || future.wait_for(std::chrono::seconds(0)) != std::future_status::ready)
    f.io.run_one();
  BOOST_TEST(future.get() == 6u);
  BOOST_TEST(deferred_bytes == 6u);
  BOOST_TEST(tuple_bytes == 6u);
  BOOST_TEST(c[1] == std::byte{0x15});
  f.close_vf();
  f.io.run();
}

// Found by an audit that wrote a binding-2 VF from the docs: a mask the VF had read was given back at the
// end of every stream and sent again on each later one, for good (0x4 on 5 streams of 5). A local socket
// that ends cleanly with nothing unread was read through: the mask was delivered, and stays so.
BOOST_AUTO_TEST_CASE(an_invalidation_the_vf_read_before_its_stream_ended_is_not_sent_again) {
  message_fixture f;
  BOOST_REQUIRE(!f.pf.invalidate(0, block_mask{0x4}));
  block_mask seen{};
  f.vf->async_wait_invalidate([&](boost::system::error_code ec, block_mask mask) {
    BOOST_TEST(!ec);
    seen = mask;
  });
  std::array<std::byte, 6> mac{};
  std::size_t bytes = 0;
  f.vf->async_read_block(example::mac_block::id, mac, [&](boost::system::error_code ec, std::size_t n) {
    BOOST_TEST(!ec);
    bytes = n;
  });
  for (int i = 0; i < 1000 && (seen.empty() || bytes == 0); ++i) f.io.run_one();
  BOOST_TEST(seen.bits() == 0x4u);
  BOOST_TEST(bytes == 6u);
  f.vf->close();
  for (int i = 0; i < 1000 && !f.served; ++i) f.io.run_one();
  BOOST_REQUIRE(f.served.has_value());
  BOOST_TEST(!*f.served, f.served->message());  // a clean end
  BOOST_TEST(f.pf.blocks().pending_invalidations(0).empty());
}

// The other side of it: a VF that closes with the frame unread in its socket gets it on its next stream.
// The PF and the VF run on io_contexts of their own, so the VF reads nothing the test does not let it.
BOOST_AUTO_TEST_CASE(an_invalidation_left_unread_when_the_stream_ended_is_given_back) {
  separate_contexts f;
  vf_message_endpoint<socket_type> vf(f.vf_socket, vf0_slot);
  std::array<std::byte, 6> mac{};
  std::size_t bytes = 0;
  vf.async_read_block(example::mac_block::id, mac, [&](boost::system::error_code ec, std::size_t n) {
    BOOST_TEST(!ec);
    bytes = n;
  });
  for (int i = 0; i < 1000 && bytes == 0; ++i) {  // the negotiation and one read
    vpci::test::run_ready(f.pf_io);
    vpci::test::run_ready(f.vf_io);
  }
  BOOST_REQUIRE(bytes == 6u);
  BOOST_REQUIRE(!f.pf.invalidate(0, block_mask{0x4}));
  vpci::test::run_ready(f.pf_io);  // the frame is written; the VF's context does not run
  vf.close();
  for (int i = 0; i < 1000 && !f.served; ++i) f.pf_io.run_one();
  BOOST_REQUIRE(f.served.has_value());
  BOOST_TEST(f.pf.blocks().pending_invalidations(0).bits() == 0x4u);  // for the VF's next stream
  vpci::test::run_ready(f.vf_io);
}

// The synchronous forms read and write the stream on the calling thread: the VF's executor need not run.
// The PF serves from its own io_context on another thread (the VF endpoint is used from this thread only).
BOOST_AUTO_TEST_CASE(synchronous_forms_run_on_the_calling_thread) {
  separate_contexts f;
  std::thread runner([&] { f.pf_io.run(); });
  {
    vf_message_endpoint vf(f.vf_socket, vf0_slot);
    boost::system::error_code ec;
    const auto mac = vf.read(example::mac_block{}, ec);
    BOOST_TEST(!ec);
    BOOST_TEST(mac[5] == 0x03);
    interface_standard vpci_if = vf.interface();
    std::array<std::uint8_t, 16> buffer{};
    BOOST_TEST(vpci_if.ReadVfConfigBlock(vpci_if.Context, 0, buffer.data(), 16) == 0);
    BOOST_TEST(vpci_if.ReadVfConfigBlock(vpci_if.Context, 0, buffer.data(), 4) == std::int32_t(0xC0000023));
    BOOST_TEST(vpci_if.ReadVfConfigBlock(vpci_if.Context, 0, buffer.data(), 200) == std::int32_t(0xC000000D));
    BOOST_TEST(vpci_if.WriteVfConfigBlock(vpci_if.Context, 0, buffer.data(), 6) == std::int32_t(0xC0000022));  // read-only block
    // An asynchronous operation pending: the synchronous forms refuse (busy) rather than interleave.
    std::array<std::byte, 6> a{};
    vf.async_read_block(example::mac_block::id, a, [](boost::system::error_code, std::size_t) {});
    (void)vf.read_block(example::mac_block::id, a, ec);
    BOOST_TEST((ec == errc::busy));
    f.vf_io.run_one();  // start it
    while (f.vf_io.run_one() != 0 && a[5] != std::byte{0x03}) {
    }
    BOOST_TEST(a[5] == std::byte{0x03});
    // With the asynchronous operation done, the synchronous forms work again (the read the endpoint
    // kept pending on the stream is given up first).
    const auto again = vf.read(example::mac_block{}, ec);
    BOOST_TEST(!ec);
    BOOST_TEST(again[0] == 0x00);
    vf.close();
  }
  runner.join();
  BOOST_REQUIRE(f.served.has_value());
}

// A synchronous call between two turns of the loop, when the endpoint's background read had already taken
// bytes (its completion queued, not yet run): giving the read up threw those bytes away. An invalidation
// in them was lost, and the frame cut at the 4096-byte buffer's end broke the framing, so the next frame
// failed the endpoint with protocol_violation (found by a first-day user's program). The background read
// now waits for readiness and takes the bytes in its handler, so a synchronous form gives up nothing.
BOOST_AUTO_TEST_CASE(a_synchronous_call_between_turns_loses_no_received_byte) {
  vf_message_options options;
  options.negotiate = false;
  boost::asio::io_context io;
  socket_type vf_socket{io}, fake_pf{io};
  boost::asio::local::connect_pair(vf_socket, fake_pf);
  vf_message_endpoint<socket_type> vf(vf_socket, vf0_slot, options);
  block_mask first{};
  boost::system::error_code first_ec = errc::device_error;
  vf.async_wait_invalidate([&](boost::system::error_code ec, block_mask mask) {
    first_ec = ec;
    first = mask;
  });
  io.poll();  // the wait starts the endpoint's reading of the stream
  // More than the endpoint's 4096-byte read buffer of invalidations: block 0 in the first 4096 bytes,
  // block 63 only after them.
  std::vector<std::byte> frames;
  std::array<std::byte, 64> frame{};
  while (frames.size() < 4096 + 200) {
    const bool late = frames.size() >= 4096 + 36;
    const auto n = hyperv::encode_invalidate_frame({vf0_slot, block_mask{late ? 1ull << 63 : 1ull}}, frame);
    BOOST_REQUIRE(n.has_value());
    frames.insert(frames.end(), frame.begin(), frame.begin() + static_cast<std::ptrdiff_t>(*n));
  }
  boost::asio::write(fake_pf, boost::asio::buffer(frames));
  BOOST_TEST(io.run_one() == 1u);  // one turn: the stream is readable (or read), the wait not yet delivered
  boost::system::error_code ec;
  const block_mask polled = vf.poll_invalidations(ec);
  BOOST_TEST(!ec, ec.message());
  io.restart();
  io.poll();
  // Between the wait and the poll, every raised bit arrived exactly once in all.
  BOOST_TEST((first | polled).bits() == ((1ull << 63) | 1ull));
  // The framing held: one more frame is delivered to the next wait, and the endpoint works.
  const auto n = hyperv::encode_invalidate_frame({vf0_slot, block_mask{1ull << 62}}, frame);
  boost::asio::write(fake_pf, boost::asio::buffer(frame.data(), *n));
  block_mask later{};
  boost::system::error_code later_ec = errc::device_error;
  vf.async_wait_invalidate([&](boost::system::error_code e, block_mask mask) {
    later_ec = e;
    later = mask;
  });
  for (int i = 0; i < 100 && later.empty() && later_ec == errc::device_error; ++i) {
    io.restart();
    io.run_one();
  }
  BOOST_TEST(!later_ec, later_ec.message());
  BOOST_TEST(later.bits() == (1ull << 62));
  BOOST_TEST(!vf.failure());
  vf.close();
  io.restart();
  io.poll();
}

// On virtual time: the first request times out at its deadline whatever the host's speed (on real time a
// slow host also timed the second one out before the scripted PF's answer came).
BOOST_AUTO_TEST_CASE(timeout_then_late_reply_is_dropped) {
  vf_message_options options;
  options.default_timeout = 1ms;
  options.negotiate = false;  // the scripted PF below answers block requests only
  boost::asio::io_context io;
  socket_type vf_socket{io}, fake_pf{io};
  boost::asio::local::connect_pair(vf_socket, fake_pf);
  manual_timing clock;
  vf_message_endpoint<socket_type, manual_timing> vf(vf_socket, vf0_slot, options, clock);
  const std::array<std::byte, 6> data{std::byte{1}, std::byte{2}, std::byte{3}, std::byte{4}, std::byte{5}, std::byte{6}};
  std::array<std::byte, hyperv::read_request_frame_size> request{};
  std::array<std::byte, hyperv::max_response_frame_size> response{};
  auto answer = [&](std::span<const std::byte> frame) {
    const auto id = hyperv::vmbus::decode_descriptor(frame.subspan(4))->transaction_id;
    auto size = hyperv::encode_read_response_frame(hyperv::read_response{id, ntstatus::success, data}, response);
    boost::asio::write(fake_pf, boost::asio::buffer(response.data(), *size));
  };

  // A scripted PF that answers the first request only after the VF gave up on it.
  std::array<std::byte, 6> first_buffer{};
  std::array<std::byte, 6> second_buffer{};
  boost::system::error_code first, second;
  std::uint64_t first_done_at = 0;
  std::size_t second_bytes = 0;
  bool second_done = false;
  vf.async_read_block(block_id{0}, first_buffer, [&](boost::system::error_code ec, std::size_t) {
    first = ec;
    first_done_at = clock.now();
    answer(request);  // the late answer to the timed-out request
    vf.async_read_block(block_id{0}, second_buffer, [&](boost::system::error_code ec2, std::size_t n) {
      second = ec2;
      second_bytes = n;
      second_done = true;
      vf.close();
    });
    boost::asio::async_read(fake_pf, boost::asio::buffer(request), [&](boost::system::error_code ec3, std::size_t) {
      BOOST_REQUIRE(!ec3);
      answer(request);
    });
  });
  boost::asio::async_read(fake_pf, boost::asio::buffer(request), [](boost::system::error_code, std::size_t) {});
  // Virtual time moves only to the first request's deadline: the second is answered before its own.
  vpci::test::run_until(io, clock, [&] { return second_done; }, 1'000'000);
  BOOST_TEST((first == errc::timeout));
  BOOST_TEST(first_done_at == 1'000'000u);
  BOOST_TEST(first_buffer == (std::array<std::byte, 6>{}));  // the late answer never reached it
  BOOST_TEST(second_done);
  BOOST_TEST(!second);
  BOOST_TEST(second_bytes == 6u);
  BOOST_TEST(second_buffer == data);
  BOOST_TEST(vf.engine().counters().dropped_unknown_id == 1u);
  BOOST_TEST(vf.engine().counters().timed_out == 1u);
  vpci::test::run_ready(io);
}

BOOST_AUTO_TEST_CASE(garbage_from_the_vf_quarantines_it_and_other_vfs_keep_being_served) {
  boost::asio::io_context io;
  socket_type vf0{io}, pf0{io}, vf1{io}, pf1{io};
  boost::asio::local::connect_pair(vf0, pf0);
  boost::asio::local::connect_pair(vf1, pf1);
  pf_endpoint<4> pf;
  BOOST_REQUIRE(!pf.register_vf(0, 1));
  BOOST_REQUIRE(!pf.register_vf(1, 2));
  BOOST_REQUIRE(!pf.define_block(1, block_id{9}, std::array<std::byte, 4>{std::byte{9}, std::byte{9}, std::byte{9}, std::byte{9}}));
  std::optional<boost::system::error_code> served0;
  pf.async_serve(0, vf0_slot, pf0, [&](boost::system::error_code ec) { served0 = ec; });
  pf.async_serve(1, vf1_slot, pf1, [&](boost::system::error_code) {});
  const std::array<std::byte, 8> garbage{std::byte{0xFF}, std::byte{0xFF}, std::byte{0xFF}, std::byte{0xFF},
                                         std::byte{1}, std::byte{2}, std::byte{3}, std::byte{4}};
  boost::asio::write(vf0, boost::asio::buffer(garbage));
  vf_message_endpoint<socket_type> good(vf1, vf1_slot);
  std::array<std::byte, 4> block{};
  std::size_t read = 0;
  good.async_read_block(block_id{9}, block, [&](boost::system::error_code ec, std::size_t n) {
    BOOST_TEST(!ec);
    read = n;
    boost::system::error_code ignored;
    vf1.close(ignored);
  });
  io.run();
  BOOST_REQUIRE(served0.has_value());
  BOOST_TEST((*served0 == errc::protocol_violation));
  BOOST_TEST((pf.blocks().quarantined(0) == quarantine_reason::protocol_violation));
  BOOST_TEST((pf.blocks().quarantined(1) == quarantine_reason::none));
  BOOST_TEST(read == 4u);
  BOOST_TEST(block[0] == std::byte{9});
}

namespace {

engine::pf_limits two_in_flight() {
  engine::pf_limits limits;
  limits.max_in_flight = 2;
  return limits;
}

// VF 0 served over a local socket (two requests in flight, a 100 ms stall timeout on virtual time), after
// it wrote read requests without reading until both sides were stuck: answers pile up once the socket
// buffer is full, then the PF stops reading (backpressure), and its socket holds what the VF has not read.
struct flooded_stream {
  boost::asio::io_context io;
  socket_type vf0{io}, pf0{io};
  pf_endpoint<2> pf{two_in_flight()};
  manual_timing clock;
  pf_stream_options<manual_timing> options{100ms, clock};
  std::optional<boost::system::error_code> served;

  flooded_stream() {
    boost::asio::local::connect_pair(vf0, pf0);
    BOOST_REQUIRE(!pf.register_vf(0, 1));
    BOOST_REQUIRE(!pf.define_block(0, block_id{1}, std::array<std::byte, 128>{}));
    pf.async_serve(0, vf0_slot, pf0, options, [this](boost::system::error_code ec) { served = ec; });
    std::array<std::byte, hyperv::read_request_frame_size> frame{};
    (void)hyperv::encode_read_request_frame(1, hyperv::read_request{block_id{1}, vf0_slot, 128}, frame);
    std::array<std::byte, hyperv::version_request_frame_size> version{};  // negotiation comes first
    (void)hyperv::encode_version_request_frame(1, hyperv::version_request{hyperv::protocol_version_1_4}, version);
    std::vector<std::byte> flood(version.begin(), version.end());
    for (int i = 0; i < 4000; ++i) flood.insert(flood.end(), frame.begin(), frame.end());
    vf0.non_blocking(true);
    std::size_t offset = 0;
    while (!served && offset < flood.size()) {
      boost::system::error_code ec;
      const std::size_t n = vf0.write_some(boost::asio::buffer(flood.data() + offset, flood.size() - offset), ec);
      offset += n;
      if (io.poll() == 0 && n == 0) break;  // both sides are stuck
    }
  }
  // One stall timeout of virtual time, and the handlers it makes ready.
  void one_stall_timeout() {
    clock.advance(options.stall_timeout);
    io.restart();
    io.poll();
  }
};

}  // namespace

BOOST_AUTO_TEST_CASE(vf_that_floods_without_reading_is_quarantined_for_overflow) {
  flooded_stream f;
  // The stream takes none of the PF's answers for the stall timeout (caught within two).
  for (int i = 0; i < 2 && !f.served; ++i) f.one_stall_timeout();
  BOOST_REQUIRE(f.served.has_value());
  BOOST_TEST((*f.served == errc::quarantined));
  BOOST_TEST((f.pf.blocks().quarantined(0) == quarantine_reason::overflow));
  BOOST_TEST(f.pf.blocks().counters(0).busy > 0u);
  BOOST_TEST(f.pf.blocks().in_flight(0) == 0u);
}

// Found by a hostile-VF audit over real local sockets: a VF that reads its answers slowly (1 KiB a stall
// timeout) was quarantined for overflow within two stall timeouts. A local socket accepts a write again
// only once most of its queue is read, so the PF's writes took nothing for seconds while the VF read; the
// PF now also sees its socket's send queue shrink. docs/hyperv-binding.md: "A VF that reads its answers,
// however slowly, is never quarantined." One that stops reading still is.
BOOST_AUTO_TEST_CASE(a_vf_reading_slowly_from_a_local_socket_is_never_quarantined) {
  flooded_stream f;
  BOOST_REQUIRE(!f.served.has_value());
  // The VF reads 1 KiB each stall timeout: ten timeouts, never quarantined.
  std::array<std::byte, 1024> chunk{};
  for (int i = 0; i < 10 && !f.served; ++i) {
    boost::system::error_code ec;
    BOOST_TEST(f.vf0.read_some(boost::asio::buffer(chunk), ec) == chunk.size());
    f.one_stall_timeout();
  }
  BOOST_TEST(!f.served.has_value());
  BOOST_TEST((f.pf.blocks().quarantined(0) == quarantine_reason::none));
  // It stops reading: quarantined within two stall timeouts, as any VF that does not read.
  for (int i = 0; i < 2 && !f.served; ++i) f.one_stall_timeout();
  BOOST_REQUIRE(f.served.has_value());
  BOOST_TEST((*f.served == errc::quarantined));
  BOOST_TEST((f.pf.blocks().quarantined(0) == quarantine_reason::overflow));
}

// A stream whose writes wait until the test releases them: the moment between an answer being handed
// to the stream and the stream having taken it becomes observable.
class held_write_stream {
 public:
  using executor_type = socket_type::executor_type;
  explicit held_write_stream(socket_type& socket) : socket_(socket) {}
  executor_type get_executor() { return socket_.get_executor(); }
  template <class Buffers, class Handler>
  void async_read_some(const Buffers& buffers, Handler&& handler) {
    socket_.async_read_some(buffers, std::forward<Handler>(handler));
  }
  template <class Buffers, class Handler>
  void async_write_some(const Buffers& buffers, Handler&& handler) {
    held_.assign(boost::asio::buffers_begin(buffers), boost::asio::buffers_end(buffers));
    release_ = [this, h = std::move(handler)]() mutable {
      boost::system::error_code ec;
      const std::size_t n = boost::asio::write(socket_, boost::asio::buffer(held_), ec);
      std::move(h)(ec, n);
    };
  }
  bool holding() const { return static_cast<bool>(release_); }
  std::size_t held_bytes() const { return held_.size(); }
  void release() { std::exchange(release_, nullptr)(); }

 private:
  socket_type& socket_;
  std::vector<char> held_;
  std::function<void()> release_;
};

BOOST_AUTO_TEST_CASE(answers_leave_the_in_flight_count_when_handed_to_the_stream) {
  boost::asio::io_context io;
  socket_type vf_socket{io}, pf_socket{io};
  boost::asio::local::connect_pair(vf_socket, pf_socket);
  held_write_stream pf_stream(pf_socket);
  pf_endpoint<2> pf;
  BOOST_REQUIRE(!pf.register_vf(0, 1));
  BOOST_REQUIRE(!pf.define_block(0, block_id{1}, std::array<std::byte, 8>{}));
  pf.async_serve(0, vf0_slot, pf_stream, [](boost::system::error_code) {});
  vf_message_endpoint<socket_type> vf(vf_socket, vf0_slot);
  std::array<std::array<std::byte, 8>, 64> buffers{};
  std::size_t ok = 0;
  for (auto& buffer : buffers)
    vf.async_read_block(block_id{1}, buffer, [&](boost::system::error_code ec, std::size_t) {
      if (!ec) ++ok;
    });
  while (!pf_stream.holding()) io.run_one();
  // The first write is the answer to the VF's version request; block requests follow agreement.
  BOOST_TEST(pf_stream.held_bytes() == hyperv::version_response_frame_size);
  pf_stream.release();
  while (!pf_stream.holding()) io.run_one();
  io.poll();  // the PF reads the other requests while its first answers wait in the stream
  // The answers handed to the stream left the in-flight count at once, although the stream has not taken
  // them yet; the others wait behind that write and are still in flight.
  std::array<std::byte, hyperv::max_response_frame_size> answer{};
  const std::size_t answer_size =
      hyperv::encode_read_response_frame(hyperv::read_response{1, ntstatus::success, std::array<std::byte, 8>{}}, answer)
          .value();
  BOOST_TEST(pf_stream.held_bytes() % answer_size == 0u);
  BOOST_TEST(pf.blocks().in_flight(0) == buffers.size() - pf_stream.held_bytes() / answer_size);
  while (pf_stream.holding() || ok < buffers.size()) {
    if (pf_stream.holding()) pf_stream.release();
    io.poll();
  }
  BOOST_TEST(ok == buffers.size());
  BOOST_TEST(pf.blocks().counters(0).busy == 0u);
  vf.close();
  boost::system::error_code ignored;
  pf_socket.close(ignored);
  io.poll();
}

BOOST_AUTO_TEST_CASE(removal_mid_request_completes_everything_in_order) {
  boost::asio::io_context io;
  socket_type vf_socket{io}, silent_pf{io};
  boost::asio::local::connect_pair(vf_socket, silent_pf);
  vf_message_endpoint<socket_type> vf(vf_socket, vf0_slot);
  std::vector<int> order;
  std::array<std::array<std::byte, 4>, 3> buffers{};
  for (int i = 0; i < 3; ++i)
    vf.async_read_block(block_id{1}, buffers[static_cast<std::size_t>(i)], [&, i](boost::system::error_code ec, std::size_t) {
      BOOST_TEST((ec == errc::vf_removed));
      order.push_back(i);
    });
  io.poll();
  vf.remove();
  io.poll();
  BOOST_TEST(order == (std::vector<int>{0, 1, 2}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(cancellation_with_a_late_reply) {
  boost::asio::io_context io;
  socket_type vf_socket{io}, fake_pf{io};
  boost::asio::local::connect_pair(vf_socket, fake_pf);
  vf_message_endpoint<socket_type> vf(vf_socket, vf0_slot);
  boost::asio::cancellation_signal signal;
  std::array<std::byte, 6> buffer{};
  boost::system::error_code result;
  vf.async_read_block(block_id{0}, buffer,
                      boost::asio::bind_cancellation_slot(signal.slot(), [&](boost::system::error_code ec, std::size_t) {
                        result = ec;
                      }));
  io.poll();
  signal.emit(boost::asio::cancellation_type::partial);
  io.poll();
  BOOST_TEST((result == errc::cancelled));
  BOOST_TEST(vf.engine().in_flight_count() == 0u);
}

// A wrapper of a local socket with a socket's names, counting its own reads.
struct counting_stream {
  using protocol_type = boost::asio::local::stream_protocol;
  using executor_type = socket_type::executor_type;
  using wait_type = socket_type::wait_type;
  static constexpr wait_type wait_read = socket_type::wait_read;
  socket_type& socket;
  int reads = 0;
  executor_type get_executor() { return socket.get_executor(); }
  int native_handle() { return socket.native_handle(); }
  template <class Buffers>
  std::size_t read_some(const Buffers& b, boost::system::error_code& ec) {
    ++reads;
    return socket.read_some(b, ec);
  }
  template <class Buffers>
  std::size_t write_some(const Buffers& b, boost::system::error_code& ec) {
    return socket.write_some(b, ec);
  }
  template <class Buffers, class Handler>
  void async_write_some(const Buffers& b, Handler&& h) {
    socket.async_write_some(b, std::forward<Handler>(h));
  }
  template <class Handler>
  void async_wait(wait_type w, Handler&& h) {
    socket.async_wait(w, std::forward<Handler>(h));
  }
  void cancel(boost::system::error_code& ec) { socket.cancel(ec); }
  bool non_blocking() const { return socket.non_blocking(); }
  void non_blocking(bool mode, boost::system::error_code& ec) { socket.non_blocking(mode, ec); }
};

// A stream wrapper with a socket's names (a protocol_type, a native handle): its own reads must run, for
// whatever it adds (logging, fault injection). Found by a review: taking every such type for a socket,
// the endpoint read the descriptor underneath with recv(2) and skipped the wrapper's read_some.
BOOST_AUTO_TEST_CASE(a_stream_wrapper_with_a_sockets_names_is_read_through_its_own_reads) {
  boost::asio::io_context io;
  socket_type vf_socket(io), fake_pf(io);
  boost::asio::local::connect_pair(vf_socket, fake_pf);
  counting_stream wrapper{vf_socket};
  vf_message_options options;
  options.negotiate = false;
  vf_message_endpoint<counting_stream> vf(wrapper, vf0_slot, options);
  block_mask seen{};
  vf.async_wait_invalidate([&](boost::system::error_code ec, block_mask mask) {
    BOOST_TEST(!ec);
    seen = mask;
  });
  std::array<std::byte, 64> frame{};
  const auto n = hyperv::encode_invalidate_frame({vf0_slot, block_mask{0x5}}, frame);
  BOOST_REQUIRE(n.has_value());
  boost::asio::write(fake_pf, boost::asio::buffer(frame.data(), *n));
  for (int i = 0; i < 100 && seen.empty(); ++i) io.run_one_for(2s);
  BOOST_TEST(seen.bits() == 0x5u);
  BOOST_TEST(wrapper.reads >= 1);
  vf.close();
}


// A synchronous call whose request the PF takes none of by the deadline (its socket full): the call fails
// with timeout, and so does the endpoint (the stream is closed: a frame may be cut), not with a clean end
// of stream the PF never sent.
BOOST_AUTO_TEST_CASE(a_synchronous_request_the_pf_never_takes_times_out) {
  vf_message_options options;
  options.default_timeout = 5ms;
  options.negotiate = false;
  boost::asio::io_context io;
  socket_type vf_socket{io}, silent_pf{io};
  boost::asio::local::connect_pair(vf_socket, silent_pf);
  // Fill the stream: the PF reads nothing.
  vf_socket.non_blocking(true);
  const std::vector<std::byte> filler(65536, std::byte{0});
  for (int i = 0; i < 10000; ++i) {
    boost::system::error_code ec;
    (void)vf_socket.write_some(boost::asio::buffer(filler), ec);
    if (ec == boost::asio::error::would_block) break;
    BOOST_REQUIRE(!ec);
  }
  manual_timing clock;
  vf_message_endpoint<socket_type, manual_timing> vf(vf_socket, vf0_slot, options, clock);
  std::array<std::byte, 6> buffer{};
  boost::system::error_code ec;
  BOOST_TEST(vf.read_block(block_id{0}, buffer, ec) == 0u);
  BOOST_TEST((ec == errc::timeout), ec.message());
  BOOST_TEST((vf.failure() == errc::timeout), vf.failure().message());
}

// Found by a fault sweep over real sockets: a stream that ended while the version negotiation was in
// progress failed the first synchronous call with device_error (the negotiation's abandonment, written
// over the stream's own error), where the asynchronous form and every later call gave eof; a caller
// deciding with closed_by_peer() whether to reconnect was misled on the first call after connecting.
BOOST_AUTO_TEST_CASE(a_stream_ending_during_negotiation_fails_the_synchronous_call_with_its_own_error) {
  boost::asio::io_context io;
  socket_type vf_socket{io}, pf_socket{io};
  boost::asio::local::connect_pair(vf_socket, pf_socket);
  pf_socket.shutdown(socket_type::shutdown_send);  // the version request goes out; its answer never comes
  vf_message_endpoint<socket_type> vf(vf_socket, vf0_slot);
  std::array<std::byte, 6> buffer{};
  boost::system::error_code ec;
  BOOST_TEST(vf.read_block(block_id{0}, buffer, ec) == 0u);
  BOOST_TEST((ec == boost::asio::error::eof), ec.message());
  BOOST_TEST(closed_by_peer(ec));
  BOOST_TEST((vf.failure() == boost::asio::error::eof), vf.failure().message());
  BOOST_TEST(vf.read_block(block_id{0}, buffer, ec) == 0u);
  BOOST_TEST((ec == boost::asio::error::eof), ec.message());
  std::array<std::byte, 64> request{};
  BOOST_TEST(pf_socket.read_some(boost::asio::buffer(request)) == 4u + 16u + 8u);  // the version offer alone
}

BOOST_AUTO_TEST_SUITE_END()  // message_endpoint_test
