// vfio_user_config_space: against vpci's own server in one process (asynchronous forms, one io_context),
// and against scripted servers that lie (synchronous forms: the whole script is in the socket before the
// client runs, so nothing waits on time).
#include <boost/test/unit_test.hpp>

#include <array>
#include <chrono>
#include <cstring>
#include <cerrno>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>

#include <vpci/asio/vf_endpoint.hpp>
#include <vpci/asio/vfio_user_device_server.hpp>
#include <vpci/transport/detail/vfio_user_fds.hpp>
#include <vpci/transport/vfio_user_config_space.hpp>

#include "test_support.hpp"

BOOST_AUTO_TEST_SUITE(vfio_user_transport_test)

using namespace vpci;
using namespace vpci::test;
namespace vu = vpci::vfio_user;
using socket_type = boost::asio::local::stream_protocol::socket;

namespace {

struct socket_pair {
  socket_pair(boost::asio::io_context& io) : client(io), server(io) {
    int fds[2];
    BOOST_REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0);
    client.assign(boost::asio::local::stream_protocol(), fds[0]);
    server.assign(boost::asio::local::stream_protocol(), fds[1]);
  }
  socket_type client;
  socket_type server;
};

// vpci's server and a connected client, both on `io`.
struct served_fixture {
  boost::asio::io_context io;
  vfio_user_device_space space{io};
  vfio_user_device_server server{space};
  socket_pair sockets{io};
  vfio_user_config_space client{io};
  boost::system::error_code served = make_error_code(errc::device_error);
  bool serve_done = false;
  // Ends serving: the server closes its end (the server hanging up).
  boost::asio::cancellation_signal stop_serving;

  served_fixture() {
    const bytes header = make_bytes({0xF4, 0x1A, 0x34, 0x12});  // vendor 0x1AF4, device 0x1234
    BOOST_REQUIRE(space.model().device_write(0, header) == no_error);
    BOOST_REQUIRE(space.model().set_register_kind(0, 4, register_kind::read_only) == no_error);
    server.async_serve(std::move(sockets.server),
                       boost::asio::bind_cancellation_slot(stop_serving.slot(), [this](boost::system::error_code ec) {
                         served = ec;
                         serve_done = true;
                       }));
    boost::system::error_code opened = make_error_code(errc::device_error);
    bool done = false;
    client.async_open(std::move(sockets.client), [&](boost::system::error_code ec) {
      opened = ec;
      done = true;
    });
    run_until([&] { return done; });
    BOOST_REQUIRE(!opened);
  }

  // Runs the loop until `done` (bounded by turns, never by time).
  template <class Done>
  void run_until(Done done) {
    for (int turns = 0; turns < 10000 && !done(); ++turns) {
      io.restart();
      io.run_one();
    }
    BOOST_REQUIRE(done());
  }
};

// A scripted server: the replies are written before the client runs.
template <class Timing>
struct basic_scripted_fixture {
  boost::asio::io_context io;
  Timing clock{};
  socket_pair sockets{io};
  basic_vfio_user_config_space<Timing> client{io, vfio_user_client_options<Timing>{std::chrono::seconds(1), clock}};

  void reply(const bytes& message) {
    BOOST_REQUIRE(::write(sockets.server.native_handle(), message.data(), message.size()) ==
                  static_cast<ssize_t>(message.size()));
  }
  template <class Payload>
  void reply(std::uint16_t id, vu::command c, const Payload& payload) {
    bytes out(8192);
    auto n = vu::encode(payload, std::span<std::byte>(out).subspan(16));
    BOOST_REQUIRE(n.has_value());
    BOOST_REQUIRE(vu::encode(vu::header{id, static_cast<std::uint16_t>(c), static_cast<std::uint32_t>(16 + *n), 1, 0},
                             out)
                      .has_value());
    out.resize(16 + *n);
    reply(out);
  }
  void reply_header(vu::header h) {
    bytes out(16);
    BOOST_REQUIRE(vu::encode(h, out).has_value());
    reply(out);
  }
  // Without IRQ types (the default) the client asks nothing about interrupts.
  void handshake(std::string_view json = R"({"capabilities":{"max_data_xfer_size":1048576}})",
                 std::uint64_t region_size = 4096, std::uint32_t region_flags = 3, std::uint32_t irq_types = 0) {
    reply(1, vu::command::version, vu::version{0, 1, json});
    reply(2, vu::command::device_get_info, vu::device_info{16, vu::device_flag_pci, 9, irq_types});
    reply(3, vu::command::device_get_region_info, vu::region_info{32, region_flags, 7, 0, region_size, 0});
  }
  // The handshake's first three replies from a server with no capabilities that offers interrupts (five
  // IRQ types): the client then asks about INTx (GET_IRQ_INFO, message 4).
  void handshake_offering_interrupts() { handshake(R"({"capabilities":{}})", 4096, 3, 5); }
  boost::system::error_code open() {
    boost::system::error_code ec;
    client.open(std::move(sockets.client), ec);
    return ec;
  }
  // Starts async_open on the client's socket; `opened` holds its error once it completed.
  std::optional<boost::system::error_code> opened;
  void start_async_open() {
    client.async_open(std::move(sockets.client), [this](boost::system::error_code ec) { opened = ec; });
  }
  // Everything the client sent so far, split into messages.
  std::vector<bytes> requests() {
    std::vector<bytes> out;
    bytes all(65536);
    const ssize_t n = ::recv(sockets.server.native_handle(), all.data(), all.size(), MSG_DONTWAIT);
    if (n <= 0) return out;
    all.resize(static_cast<std::size_t>(n));
    std::size_t at = 0;
    while (at + 16 <= all.size()) {
      auto h = vu::decode_header(std::span<const std::byte>(all).subspan(at));
      BOOST_REQUIRE(h.has_value());
      out.emplace_back(all.begin() + static_cast<std::ptrdiff_t>(at),
                       all.begin() + static_cast<std::ptrdiff_t>(at + h->message_size));
      at += h->message_size;
    }
    return out;
  }
};
using scripted_fixture = basic_scripted_fixture<steady_timing>;
// Virtual time: a server that stays silent is judged without waiting.
using silent_fixture = basic_scripted_fixture<manual_timing>;

// Runs `io` until `done` (bounded by turns, never by time).
template <class Done>
void run_until(boost::asio::io_context& io, Done done) {
  for (int turns = 0; turns < 10000 && !done(); ++turns) {
    io.restart();
    if (io.poll_one() == 0) break;
  }
}

}  // namespace

BOOST_AUTO_TEST_CASE(handshake_learns_the_device) {
  served_fixture f;
  BOOST_TEST(f.client.size() == 4096u);
  BOOST_TEST(f.client.is_open());
  BOOST_TEST(f.client.negotiated_minor() == 1);
  BOOST_TEST(f.client.server_capabilities().max_data_xfer_size == 4096u);
  BOOST_TEST(f.client.device_info().num_regions == 9u);
  BOOST_TEST(f.client.device_info().num_irqs == 5u);
  BOOST_TEST(f.client.config_region().size == 4096u);
}

BOOST_AUTO_TEST_CASE(reads_and_writes_through_the_register_semantics) {
  served_fixture f;
  std::array<std::byte, 4> id{};
  boost::system::error_code ec = errc::device_error;
  std::size_t n = 0;
  f.client.async_read(0, id, [&](boost::system::error_code e, std::size_t k) { ec = e, n = k; });
  f.run_until([&] { return n != 0 || ec != errc::device_error; });
  BOOST_TEST(!ec);
  BOOST_TEST(octets(id) == octets(make_bytes({0xF4, 0x1A, 0x34, 0x12})), boost::test_tools::per_element());
  // A 4 KiB transfer is one message each way; the vendor ID stays (read-only), the rest is stored.
  const bytes data = pattern(4096, 7);
  bool wrote = false;
  f.client.async_write(0, data, [&](boost::system::error_code e, std::size_t k) {
    ec = e, n = k;
    wrote = true;
  });
  f.run_until([&] { return wrote; });
  BOOST_TEST(!ec);
  BOOST_TEST(n == 4096u);
  bytes stored(4096);
  BOOST_TEST(f.space.model().device_read(0, stored) == no_error);
  BOOST_TEST(octets(std::span(stored).first(4)) == octets(make_bytes({0xF4, 0x1A, 0x34, 0x12})),
             boost::test_tools::per_element());
  BOOST_TEST(octets(std::span(stored).subspan(4)) == octets(std::span(data).subspan(4)),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(operations_started_together_run_in_order) {
  served_fixture f;
  std::array<std::byte, 2> a{};
  std::array<std::byte, 2> b{};
  std::vector<int> order;
  const bytes value = make_bytes({0x55, 0x66});
  f.client.async_write(0x40, value, [&](boost::system::error_code ec, std::size_t) {
    BOOST_TEST(!ec);
    order.push_back(1);
  });
  f.client.async_read(0x40, a, [&](boost::system::error_code ec, std::size_t) {
    BOOST_TEST(!ec);
    order.push_back(2);
  });
  f.client.async_read(0x02, b, [&](boost::system::error_code ec, std::size_t) {
    BOOST_TEST(!ec);
    order.push_back(3);
  });
  f.run_until([&] { return order.size() == 3; });
  BOOST_TEST(order == (std::vector<int>{1, 2, 3}));
  BOOST_TEST(octets(a) == octets(value), boost::test_tools::per_element());
  BOOST_TEST(octets(b) == octets(make_bytes({0x34, 0x12})), boost::test_tools::per_element());
}

// async_open and async_connect while an operation was pending replaced the socket under it: the pending read
// failed, and its aborted I/O then broke the new connection, which failed "Operation canceled" and stayed
// the lasting failure. Both are refused with busy now, posted, and nothing changes: the pending operation
// completes on the connection it started on.
BOOST_AUTO_TEST_CASE(open_or_connect_while_an_operation_is_pending_is_busy_and_changes_nothing) {
  served_fixture f;
  std::array<std::byte, 4> id{};
  boost::system::error_code read = errc::device_error;
  bool read_done = false;
  f.client.async_read(0, id, [&](boost::system::error_code e, std::size_t) {
    read = e;
    read_done = true;
  });
  f.io.restart();
  f.io.poll_one();  // the request is on its way
  socket_pair other(f.io);
  boost::system::error_code opened = errc::device_error;
  boost::system::error_code connected = errc::device_error;
  int refusals = 0;
  f.client.async_open(std::move(other.client), [&](boost::system::error_code e) {
    opened = e;
    ++refusals;
  });
  f.client.async_connect("/nonexistent/vpci.sock", [&](boost::system::error_code e) {
    connected = e;
    ++refusals;
  });
  BOOST_TEST(refusals == 0);  // never inline
  boost::system::error_code sync_open = errc::device_error;
  socket_pair third(f.io);
  f.client.open(std::move(third.client), sync_open);
  f.run_until([&] { return read_done && refusals == 2; });
  BOOST_TEST((opened == errc::busy), opened.message());
  BOOST_TEST((connected == errc::busy), connected.message());
  BOOST_TEST((sync_open == errc::busy), sync_open.message());
  BOOST_TEST(!read, read.message());
  BOOST_TEST(octets(id) == octets(make_bytes({0xF4, 0x1A, 0x34, 0x12})), boost::test_tools::per_element());
  BOOST_TEST(f.client.is_open());
  BOOST_TEST(!f.client.lasting_failure());
  std::array<std::byte, 1> none{};  // the refused socket was closed: its peer meets the end of the stream
  BOOST_TEST(::recv(other.server.native_handle(), none.data(), none.size(), MSG_DONTWAIT) == 0);
  // The connection still works.
  std::size_t n = 0;
  read_done = false;
  f.client.async_read(0, id, [&](boost::system::error_code e, std::size_t got) {
    read = e;
    n = got;
    read_done = true;
  });
  f.run_until([&] { return read_done; });
  BOOST_TEST(!read, read.message());
  BOOST_TEST(n == id.size());
}

// async_connect holds the stream while it connects: an operation started meanwhile runs after its handshake,
// on the new connection, and another async_connect is busy.
BOOST_AUTO_TEST_CASE(operations_started_while_connecting_run_after_the_handshake) {
  boost::asio::io_context io;
  vfio_user_device_space space(io);
  const bytes header = make_bytes({0xF4, 0x1A, 0x34, 0x12});
  BOOST_REQUIRE(space.model().device_write(0, header) == no_error);
  vfio_user_device_server server(space);
  const std::string path = "/tmp/vpci-vfio-user-connecting-" + std::to_string(::getpid());
  ::unlink(path.c_str());
  boost::asio::local::stream_protocol::acceptor acceptor(io, boost::asio::local::stream_protocol::endpoint(path));
  acceptor.async_accept([&](boost::system::error_code ec, socket_type accepted) {
    BOOST_REQUIRE(!ec);
    server.async_serve(std::move(accepted), [](boost::system::error_code) {});
  });
  vfio_user_config_space client(io);
  std::vector<std::string> order;
  client.async_connect(path, [&](boost::system::error_code ec) { order.push_back("connect " + ec.message()); });
  std::array<std::byte, 4> id{};
  client.async_read(0, id, [&](boost::system::error_code ec, std::size_t n) {
    order.push_back("read " + ec.message() + " " + std::to_string(n));
  });
  boost::system::error_code second = errc::device_error;
  client.async_connect(path, [&](boost::system::error_code ec) { second = ec; });
  run_until(io, [&] { return order.size() == 2; });
  ::unlink(path.c_str());
  BOOST_TEST(order == (std::vector<std::string>{"connect Success", "read Success 4"}), boost::test_tools::per_element());
  BOOST_TEST((second == errc::busy), second.message());
  BOOST_TEST(octets(id) == octets(header), boost::test_tools::per_element());
}

// close() during a pending operation made lasting_failure() "Operation canceled": the aborted read broke the
// stream as if the server had failed. A close by this side is not a failure: the operation completes
// operation_aborted, nothing is recorded, and a new connection opens and works.
BOOST_AUTO_TEST_CASE(close_during_a_pending_operation_is_not_a_failure) {
  scripted_fixture f;
  f.handshake();
  BOOST_REQUIRE(!f.open());
  std::array<std::byte, 4> id{};
  boost::system::error_code read = errc::device_error;
  bool read_done = false;
  f.client.async_read(0, id, [&](boost::system::error_code e, std::size_t) {
    read = e;
    read_done = true;
  });
  run_until(f.io, [] { return false; });  // the request sent, its reply awaited
  BOOST_REQUIRE(!read_done);
  // One queued behind it was pending too: it is aborted as well, not started on the closed connection
  // (where it failed not_connected, the answer for an operation started after close()).
  const std::array<std::byte, 4> pattern{std::byte{9}, std::byte{8}, std::byte{7}, std::byte{6}};
  boost::system::error_code queued = errc::device_error;
  bool queued_done = false;
  f.client.async_write(0x40, pattern, [&](boost::system::error_code e, std::size_t) {
    queued = e;
    queued_done = true;
  });
  f.client.close();
  run_until(f.io, [&] { return read_done && queued_done; });
  BOOST_TEST((read == boost::asio::error::operation_aborted), read.message());
  BOOST_TEST((queued == boost::asio::error::operation_aborted), queued.message());
  BOOST_TEST(!f.client.lasting_failure(), f.client.lasting_failure().message());
  BOOST_TEST(f.client.peer_alive());
  boost::system::error_code ec;
  BOOST_TEST(f.client.read(0, id, ec) == 0u);
  BOOST_TEST((ec == boost::asio::error::not_connected), ec.message());
  // Another connection (message IDs go on from 5) opens and works.
  socket_pair again(f.io);
  f.sockets.server = std::move(again.server);
  f.sockets.client = std::move(again.client);
  f.reply(5, vu::command::version, vu::version{0, 1, R"({"capabilities":{}})"});
  f.reply(6, vu::command::device_get_info, vu::device_info{16, vu::device_flag_pci, 9, 0});
  f.reply(7, vu::command::device_get_region_info, vu::region_info{32, 3, 7, 0, 4096, 0});
  f.reply(8, vu::command::region_read, vu::region_access{0, 7, 4, make_bytes({1, 2, 3, 4})});
  bool opened = false;
  f.client.async_open(std::move(f.sockets.client), [&](boost::system::error_code e) {
    ec = e;
    opened = true;
  });
  run_until(f.io, [&] { return opened; });
  BOOST_TEST(!ec, ec.message());
  std::size_t n = 0;
  read_done = false;
  f.client.async_read(0, id, [&](boost::system::error_code e, std::size_t got) {
    read = e;
    n = got;
    read_done = true;
  });
  run_until(f.io, [&] { return read_done; });
  BOOST_TEST(!read, read.message());
  BOOST_TEST(n == id.size());
  BOOST_TEST(octets(id) == octets(make_bytes({1, 2, 3, 4})), boost::test_tools::per_element());
  BOOST_TEST(!f.client.lasting_failure());
}

namespace {

using steady_client = basic_vfio_user_config_space<steady_timing>;

// Where a test holds a client that it destroys with operations pending, and then makes another one:
// - on_the_heap: as an application holds it. A step that reaches the destroyed object is a heap-use-after-free
//   under ASan (in a std::optional on the test's stack ASan saw nothing: the storage was still in scope).
//   Without ASan the allocator commonly hands the freed block to the next client, as in_place does.
// - in_place: the next client is made in the very storage of the destroyed one, so a step that reaches the
//   destroyed object reaches the new client, which must not notice: seen without a sanitizer.
struct on_the_heap {
  std::unique_ptr<steady_client> held;
  void make(boost::asio::io_context& io) {
    held = std::make_unique<steady_client>(io, vfio_user_client_options<steady_timing>{std::chrono::seconds(1)});
  }
  void reset() { held.reset(); }
  steady_client* operator->() { return held.get(); }
};
struct in_place {
  std::optional<steady_client> held;
  void make(boost::asio::io_context& io) {
    held.emplace(io, vfio_user_client_options<steady_timing>{std::chrono::seconds(1)});
  }
  void reset() { held.reset(); }
  steady_client* operator->() { return &*held; }
};

// A client opened on `f`'s scripted connection (its handshake scripted by the caller).
template <class Holder>
void open_on(Holder& client, scripted_fixture& f) {
  client.make(f.io);
  boost::system::error_code ec;
  client->open(std::move(f.sockets.client), ec);
  BOOST_REQUIRE(!ec);
  BOOST_REQUIRE(f.requests().size() == 3u);  // the handshake's
}

// The next client, made after the destroyed one, on the connection `next` scripts (its handshake and the
// reply to a read of 4 bytes at 0, message 4): the read it starts at once, before the destroyed one's
// steps ran, must complete as if nothing had been there before.
struct next_client_read {
  std::array<std::byte, 4> id{};
  boost::system::error_code result = errc::device_error;
  std::size_t n = 0;
  bool done = false;

  template <class Holder>
  void start(Holder& client, scripted_fixture& next) {
    next.handshake();
    next.reply(4, vu::command::region_read, vu::region_access{0, 7, 4, make_bytes({5, 6, 7, 8})});
    open_on(client, next);
    client->async_read(0, id, [this](boost::system::error_code e, std::size_t got) {
      result = e;
      n = got;
      done = true;
    });
  }
  template <class Holder>
  void check(Holder& client, scripted_fixture& next) {
    run_until(next.io, [&] { return done; });
    BOOST_TEST(done);
    BOOST_TEST(!result, "the next client's first read: " << result.message());
    BOOST_TEST(n == id.size());
    BOOST_TEST(octets(id) == octets(make_bytes({5, 6, 7, 8})), boost::test_tools::per_element());
    BOOST_TEST(client->is_open());
    BOOST_TEST(!client->lasting_failure(), client->lasting_failure().message());
    BOOST_TEST(next.requests().size() == 1u);  // its read's request alone
  }
};

template <class Holder>
void destroy_with_operations_pending() {
  scripted_fixture f;     // the destroyed client's connection
  scripted_fixture next;  // the next client's (the fixture's own client is not used)
  f.handshake();
  Holder client;
  open_on(client, f);
  std::array<std::byte, 4> first{};
  std::array<std::byte, 4> third{};
  const std::array<std::byte, 4> pattern{std::byte{1}, std::byte{2}, std::byte{3}, std::byte{4}};
  std::vector<boost::system::error_code> outcomes(3, errc::device_error);
  std::vector<int> calls(3, 0);
  const auto record = [&](std::size_t which) {
    return [&, which](boost::system::error_code e, std::size_t n) {
      outcomes[which] = e;
      ++calls[which];
      BOOST_TEST(n == 0u);
    };
  };
  client->async_read(0, first, record(0));      // in flight: its reply never comes
  client->async_write(0x40, pattern, record(1));  // queued behind it
  boost::asio::io_context other;  // the last one's handler is bound to another context
  client->async_read(8, third, boost::asio::bind_executor(other, [&, handler = record(2)](boost::system::error_code e,
                                                                                          std::size_t n) {
                       BOOST_TEST(other.get_executor().running_in_this_thread());
                       handler(e, n);
                     }));  // and behind that
  run_until(f.io, [] { return false; });         // the first request sent, its reply awaited
  BOOST_REQUIRE(f.requests().size() == 1u);
  client.reset();
  BOOST_TEST((calls == std::vector<int>{0, 0, 0}), "none inside the destructor");
  next_client_read fresh;
  fresh.start(client, next);
  run_until(f.io, [&] { return calls == std::vector<int>{1, 1, 0}; });
  BOOST_TEST((calls == std::vector<int>{1, 1, 0}), "the third waits for its own executor");
  run_until(other, [&] { return calls[2] == 1; });
  BOOST_TEST((calls == std::vector<int>{1, 1, 1}));
  for (const auto& outcome : outcomes) BOOST_TEST((outcome == boost::asio::error::operation_aborted), outcome.message());
  BOOST_TEST(f.requests().empty());  // nothing more was sent
  fresh.check(client, next);
}

}  // namespace

// A token audit: destroying the client with a read in flight resumed the read into freed memory when the
// socket's end arrived (ASan: heap-use-after-free), with or without close() first; a queued operation was
// reached through the freed queue. Each now completes once, with operation_aborted, after the destructor.
// And through its handler's executor: a queued one was resumed as a plain function on the socket's, and
// its completion (made in that step) ran there, on a thread its handler was not bound to.
// A mutation audit: with the client in a std::optional on the stack, dropping the life check of the I/O
// completion went unseen (the in-flight read resumed into the destroyed object's storage, still in scope,
// and still completed aborted): the client is on the heap, and a new client made at once must be untouched
// by the old one's steps.
BOOST_AUTO_TEST_CASE(destroying_the_client_with_operations_pending_completes_each_aborted) {
  destroy_with_operations_pending<on_the_heap>();
}

// The same with the new client made in the very storage of the destroyed one: the in-flight read's step,
// had it reached `self`, would break the new client's stream (same generation) and free its queue turn.
BOOST_AUTO_TEST_CASE(a_client_made_in_the_storage_of_a_destroyed_one_is_untouched_by_its_pending_operations) {
  destroy_with_operations_pending<in_place>();
}

namespace {

// What the accepted end of a connection has received: the messages' headers, and whether the client's end
// is closed after them (an end of file). Never waits.
struct received_messages {
  std::vector<vu::header> headers;
  bool closed = false;
};
received_messages received_on(socket_type& accepted) {
  received_messages out;
  bytes all(65536);
  std::size_t size = 0;
  for (;;) {
    const ssize_t n = ::recv(accepted.native_handle(), all.data() + size, all.size() - size, MSG_DONTWAIT);
    if (n <= 0) {
      out.closed = n == 0;
      break;
    }
    size += static_cast<std::size_t>(n);
  }
  for (std::size_t at = 0; at + 16 <= size;) {
    auto h = vu::decode_header(std::span<const std::byte>(all.data() + at, size - at));
    BOOST_REQUIRE(h.has_value());
    out.headers.push_back(*h);
    at += h->message_size;
  }
  return out;
}

template <class Holder>
void destroy_while_connecting() {
  boost::asio::io_context io;
  const std::string path = "/tmp/vpci-vfio-user-destroyed-connecting-" + std::to_string(::getpid());
  ::unlink(path.c_str());
  boost::asio::local::stream_protocol::acceptor acceptor(io, boost::asio::local::stream_protocol::endpoint(path));
  {  // Before the io_context ran: the socket's connect (at once, to a listening path) completes posted.
    scripted_fixture next;  // the next client's connection (the fixture's own client is not used)
    Holder client;
    client.make(io);
    std::vector<boost::system::error_code> connected;
    client->async_connect(path, [&](boost::system::error_code ec) { connected.push_back(ec); });
    client.reset();
    BOOST_TEST(connected.empty(), "none inside the destructor");
    next_client_read fresh;
    fresh.start(client, next);
    run_until(io, [&] { return !connected.empty(); });
    BOOST_TEST_REQUIRE(connected.size() == 1u);
    BOOST_TEST((connected[0] == boost::asio::error::operation_aborted), connected[0].message());
    socket_type accepted = acceptor.accept();  // the destroyed client's connection
    const auto seen = received_on(accepted);
    BOOST_TEST(seen.headers.empty(), "nothing sent: " << seen.headers.size() << " messages");
    BOOST_TEST(seen.closed);
    fresh.check(client, next);
    run_until(io, [] { return false; });
    BOOST_TEST(connected.size() == 1u, "once");
  }
  {  // Connected, the handshake's VERSION request sent and its reply awaited.
    Holder client;
    client.make(io);
    std::vector<boost::system::error_code> connected;
    client->async_connect(path, [&](boost::system::error_code ec) { connected.push_back(ec); });
    socket_type accepted = acceptor.accept();
    run_until(io, [] { return false; });
    auto seen = received_on(accepted);
    BOOST_TEST_REQUIRE(seen.headers.size() == 1u);
    BOOST_TEST(seen.headers[0].command == static_cast<std::uint16_t>(vu::command::version));
    BOOST_TEST(!seen.closed);
    BOOST_TEST_REQUIRE(connected.empty());
    client.reset();
    BOOST_TEST(connected.empty(), "none inside the destructor");
    run_until(io, [&] { return !connected.empty(); });
    BOOST_TEST_REQUIRE(connected.size() == 1u);
    BOOST_TEST((connected[0] == boost::asio::error::operation_aborted), connected[0].message());
    seen = received_on(accepted);
    BOOST_TEST(seen.headers.empty(), "nothing sent after the destructor: " << seen.headers.size() << " messages");
    BOOST_TEST(seen.closed);
    run_until(io, [] { return false; });
    BOOST_TEST(connected.size() == 1u, "once");
  }
  ::unlink(path.c_str());
}

}  // namespace

// A mutation audit: no test destroyed the client while async_connect was in flight, and dropping its life
// check went unseen (the connect's completion, arriving after the destructor, went on to the handshake on
// the destroyed object). Destroyed before the io_context ran and destroyed with the handshake's first request
// on the wire: the handler runs once, after the destructor, with operation_aborted; nothing more is sent;
// and a client made at once (on the heap, and in the destroyed one's storage) is untouched.
BOOST_AUTO_TEST_CASE(destroying_the_client_while_it_connects_completes_the_connect_aborted) {
  destroy_while_connecting<on_the_heap>();
  destroy_while_connecting<in_place>();
}

// Cancellation is not supported: a cancelled operation still completes with its reply, and the stream stays
// in step (a half-read reply would desynchronise it).
BOOST_AUTO_TEST_CASE(cancellation_leaves_the_stream_in_step) {
  served_fixture f;
  boost::asio::cancellation_signal cancel;
  std::array<std::byte, 4> id{};
  boost::system::error_code ec = errc::device_error;
  bool done = false;
  f.client.async_read(0, id, boost::asio::bind_cancellation_slot(cancel.slot(), [&](boost::system::error_code e, std::size_t) {
                        ec = e;
                        done = true;
                      }));
  f.io.restart();
  f.io.poll_one();  // the request is on its way
  cancel.emit(boost::asio::cancellation_type::terminal);
  f.run_until([&] { return done; });
  BOOST_TEST(!ec);
  BOOST_TEST(octets(id) == octets(make_bytes({0xF4, 0x1A, 0x34, 0x12})), boost::test_tools::per_element());
  BOOST_TEST(f.client.is_open());
}

BOOST_AUTO_TEST_CASE(async_connect_to_a_listening_path) {
  boost::asio::io_context io;
  vfio_user_device_space space(io);
  vfio_user_device_server server(space);
  const std::string path = "/tmp/vpci-vfio-user-connect-" + std::to_string(::getpid());
  ::unlink(path.c_str());
  boost::asio::local::stream_protocol::acceptor acceptor(io, boost::asio::local::stream_protocol::endpoint(path));
  socket_type accepted(io);
  acceptor.async_accept(accepted, [&](boost::system::error_code ec) {
    BOOST_REQUIRE(!ec);
    server.async_serve(std::move(accepted), [](boost::system::error_code) {});
  });
  vfio_user_config_space client(io);
  boost::system::error_code connected = errc::device_error;
  bool done = false;
  client.async_connect(path, [&](boost::system::error_code ec) {
    connected = ec;
    done = true;
  });
  for (int i = 0; i < 1000 && !done; ++i) {
    io.restart();
    io.run_one();
  }
  ::unlink(path.c_str());
  BOOST_TEST(!connected);
  BOOST_TEST(client.size() == 4096u);
  // Nobody listening: the socket's error, unchanged.
  vfio_user_config_space lonely(io);
  boost::system::error_code ec;
  lonely.connect(path, ec);
  BOOST_TEST((ec == boost::system::errc::no_such_file_or_directory));
  BOOST_TEST(!lonely.is_open());
}

BOOST_AUTO_TEST_CASE(a_failed_connect_says_what_failed_without_naming_boost_source_files) {
  boost::asio::io_context io;
  const std::string path = "/tmp/vpci-vfio-user-nobody-" + std::to_string(::getpid()) + ".sock";
  ::unlink(path.c_str());
  // The throwing constructor: what a command-line tool prints.
  std::string what;
  try {
    vfio_user_config_space space(io, path);
  } catch (const boost::system::system_error& e) {
    what = e.what();
  }
  BOOST_TEST(what == "vpci: vfio-user connect " + path + ": No such file or directory [system:2]");
  // The error_code form, synchronous and asynchronous: the same code, with no location either.
  vfio_user_config_space client(io);
  boost::system::error_code ec;
  client.connect(path, ec);
  BOOST_TEST((ec == boost::system::errc::no_such_file_or_directory));
  BOOST_TEST(!ec.has_location());
  BOOST_TEST(ec.what() == "No such file or directory [system:2]");
  boost::system::error_code async_ec = errc::device_error;
  client.async_connect(path, [&](boost::system::error_code e) { async_ec = e; });
  io.run();
  BOOST_TEST((async_ec == boost::system::errc::no_such_file_or_directory));
  BOOST_TEST(!async_ec.has_location());
}

// A path longer than a socket address holds (sun_path, 108 bytes): Asio's endpoint throws for it, and the
// error_code form of connect() let that exception out, so a tool reported a bare "File name too long"
// without the path. Both forms say name_too_long, nothing throws, and the connection in use stays.
BOOST_AUTO_TEST_CASE(a_path_too_long_for_a_socket_address_is_name_too_long_and_changes_nothing) {
  served_fixture f;
  const std::string too_long = "/tmp/" + std::string(120, 'x') + ".sock";
  boost::system::error_code ec;
  BOOST_CHECK_NO_THROW(f.client.connect(too_long, ec));
  BOOST_TEST((ec == boost::asio::error::name_too_long), ec.message());
  boost::system::error_code async_ec = errc::device_error;
  bool done = false;
  f.client.async_connect(too_long, [&](boost::system::error_code e) {
    async_ec = e;
    done = true;
  });
  BOOST_TEST(!done);  // never inline
  f.run_until([&] { return done; });
  BOOST_TEST((async_ec == boost::asio::error::name_too_long), async_ec.message());
  BOOST_TEST(f.client.is_open());
  BOOST_TEST(!f.client.lasting_failure());
  std::array<std::byte, 4> id{};
  boost::system::error_code read = errc::device_error;
  bool read_done = false;
  f.client.async_read(0, id, [&](boost::system::error_code e, std::size_t) {
    read = e;
    read_done = true;
  });
  f.run_until([&] { return read_done; });
  BOOST_TEST(!read, read.message());
  BOOST_TEST(octets(id) == octets(make_bytes({0xF4, 0x1A, 0x34, 0x12})), boost::test_tools::per_element());
  // The throwing constructor names the path.
  std::string what;
  try {
    vfio_user_config_space space(f.io, too_long);
  } catch (const boost::system::system_error& e) {
    what = e.what();
  }
  BOOST_TEST(what == "vpci: vfio-user connect " + too_long + ": File name too long [system:36]");
}

BOOST_AUTO_TEST_CASE(bounds_are_checked_before_anything_is_sent) {
  served_fixture f;
  std::array<std::byte, 4> out{};
  boost::system::error_code ec;
  bool done = false;
  f.client.async_read(4094, out, [&](boost::system::error_code e, std::size_t n) {
    ec = e;
    BOOST_TEST(n == 0u);
    done = true;
  });
  BOOST_TEST(!done);  // never inline
  f.run_until([&] { return done; });
  BOOST_TEST((ec == errc::out_of_range));
  done = false;
  f.client.async_read(0, std::span<std::byte>{}, [&](boost::system::error_code e, std::size_t) {
    ec = e;
    done = true;
  });
  f.run_until([&] { return done; });
  BOOST_TEST((ec == errc::invalid_argument));
  // Not connected.
  vfio_user_config_space idle(f.io);
  BOOST_TEST(idle.size() == 0u);
  idle.read(0, out, ec);
  BOOST_TEST((ec == boost::asio::error::not_connected));
}

BOOST_AUTO_TEST_CASE(a_server_error_reply_is_its_errno) {
  scripted_fixture f;
  f.handshake();
  f.reply_header(vu::header{4, 9, 16, 1 | vu::flag_error, EIO});
  f.reply_header(vu::header{5, 9, 16, 1 | vu::flag_error, 0});
  f.reply(6, vu::command::region_read, vu::region_access{0, 7, 2, make_bytes({0xAB, 0xCD})});
  BOOST_REQUIRE(!f.open());
  std::array<std::byte, 2> out{};
  boost::system::error_code ec;
  BOOST_TEST(f.client.read(0, out, ec) == 0u);
  BOOST_TEST((ec == boost::system::error_code(EIO, boost::system::system_category())));
  BOOST_TEST(f.client.read(0, out, ec) == 0u);
  BOOST_TEST((ec == errc::device_error));
  // The stream is still in step: the next read succeeds.
  BOOST_TEST(f.client.read(0, out, ec) == 2u);
  BOOST_TEST(!ec);
  BOOST_TEST(octets(out) == octets(make_bytes({0xAB, 0xCD})), boost::test_tools::per_element());
}

// libvfio-user answers a failed region access with the Error bit, its errno and the payload it had
// prepared (a REGION_READ's header and count bytes, a REGION_WRITE's header): the client reported
// malformed_message and lost the errno. The payload is read whole and ignored; the errno is the answer.
BOOST_AUTO_TEST_CASE(an_error_reply_with_a_payload_is_its_errno) {
  scripted_fixture f;
  f.handshake();
  const auto error_reply = [](std::uint16_t id, vu::command c, std::uint32_t error, const vu::region_access& payload) {
    bytes out(16 + 16 + 4096);
    const auto n = vu::encode(payload, std::span<std::byte>(out).subspan(16));
    BOOST_REQUIRE(n.has_value());
    BOOST_REQUIRE(vu::encode(vu::header{id, static_cast<std::uint16_t>(c), static_cast<std::uint32_t>(16 + *n),
                                        1 | vu::flag_error, error},
                             out)
                      .has_value());
    out.resize(16 + *n);
    return out;
  };
  f.reply(error_reply(4, vu::command::region_read, EIO, vu::region_access{0x40, 7, 4, bytes(4)}));
  f.reply(error_reply(5, vu::command::region_write, EIO, vu::region_access{0x40, 7, 4}));
  f.reply(error_reply(6, vu::command::region_read, 0, vu::region_access{0x40, 7, 4, bytes(4)}));
  f.reply(7, vu::command::region_read, vu::region_access{0x40, 7, 4, make_bytes({1, 2, 3, 4})});
  BOOST_REQUIRE(!f.open());
  std::array<std::byte, 4> out{};
  boost::system::error_code ec;
  BOOST_TEST(f.client.read(0x40, out, ec) == 0u);
  BOOST_TEST((ec == boost::system::error_code(EIO, boost::system::system_category())), ec.message());
  BOOST_TEST(f.client.write(0x40, out, ec) == 0u);
  BOOST_TEST((ec == boost::system::error_code(EIO, boost::system::system_category())), ec.message());
  BOOST_TEST(f.client.read(0x40, out, ec) == 0u);
  BOOST_TEST((ec == errc::device_error), ec.message());
  // In step, and nothing broke.
  BOOST_TEST(f.client.read(0x40, out, ec) == 4u);
  BOOST_TEST(!ec);
  BOOST_TEST(octets(out) == octets(make_bytes({1, 2, 3, 4})), boost::test_tools::per_element());
  BOOST_TEST(!f.client.lasting_failure());
}

BOOST_AUTO_TEST_CASE(hostile_server_wrong_message_id_breaks_the_stream) {
  scripted_fixture f;
  f.handshake();
  f.reply(9, vu::command::region_read, vu::region_access{0, 7, 4, make_bytes({1, 2, 3, 4})});
  BOOST_REQUIRE(!f.open());
  std::array<std::byte, 4> out{};
  boost::system::error_code ec;
  BOOST_TEST(f.client.read(0, out, ec) == 0u);
  BOOST_TEST((ec == errc::protocol_violation));
  BOOST_TEST(octets(out) == std::vector<unsigned>(4, 0));
  BOOST_TEST(!f.client.is_open());
  f.client.read(0, out, ec);
  BOOST_TEST((ec == errc::protocol_violation));
}

BOOST_AUTO_TEST_CASE(hostile_server_wrong_command_or_not_a_reply) {
  for (const vu::header lie : {vu::header{4, 10, 20, 1, 0}, vu::header{4, 9, 20, 0, 0}, vu::header{4, 9, 12, 1, 0}}) {
    scripted_fixture f;
    f.handshake();
    f.reply_header(lie);
    f.reply(make_bytes({1, 2, 3, 4}));
    BOOST_REQUIRE(!f.open());
    std::array<std::byte, 4> out{};
    boost::system::error_code ec;
    BOOST_TEST(f.client.read(0, out, ec) == 0u);
    BOOST_TEST((ec == errc::protocol_violation));
  }
}

BOOST_AUTO_TEST_CASE(hostile_server_oversized_reply_is_not_read) {
  scripted_fixture f;
  f.handshake();
  f.reply_header(vu::header{4, 9, 1U << 30, 1, 0});
  BOOST_REQUIRE(!f.open());
  std::array<std::byte, 4> out{};
  boost::system::error_code ec;
  BOOST_TEST(f.client.read(0, out, ec) == 0u);
  BOOST_TEST((ec == errc::protocol_violation));
}

BOOST_AUTO_TEST_CASE(hostile_server_short_or_mismatched_data) {
  scripted_fixture f;
  f.handshake();
  // count says 4, two bytes follow (the message size agrees with the two).
  bytes short_reply(16 + 16 + 2);
  (void)vu::encode(vu::header{4, 9, 34, 1, 0}, short_reply);
  (void)vu::encode(vu::region_access{0, 7, 2}, std::span<std::byte>(short_reply).subspan(16));
  vu::host_store(short_reply.data() + 28, std::uint32_t{4});
  f.reply(short_reply);
  // Another offset, another region, another count.
  f.reply(5, vu::command::region_read, vu::region_access{8, 7, 4, make_bytes({1, 2, 3, 4})});
  f.reply(6, vu::command::region_read, vu::region_access{0, 6, 4, make_bytes({1, 2, 3, 4})});
  f.reply(7, vu::command::region_read, vu::region_access{0, 7, 2, make_bytes({1, 2})});
  f.reply(8, vu::command::region_read, vu::region_access{0, 7, 4, make_bytes({1, 2, 3, 4})});
  BOOST_REQUIRE(!f.open());
  std::array<std::byte, 4> out{};
  boost::system::error_code ec;
  for (int i = 0; i < 4; ++i) {
    BOOST_TEST(f.client.read(0, out, ec) == 0u);
    BOOST_TEST((ec == errc::malformed_message));
  }
  BOOST_TEST(f.client.read(0, out, ec) == 4u);
  BOOST_TEST(!ec);
}

BOOST_AUTO_TEST_CASE(hostile_server_handshakes) {
  struct lie {
    std::string_view json;
    std::uint16_t major;
    std::uint16_t minor;
    std::uint64_t region_size;
    std::uint32_t region_flags;
    std::uint32_t device_flags;
    errc expected;
  };
  const std::string_view good = R"({"capabilities":{}})";
  for (const lie& l : {lie{good, 1, 0, 4096, 3, 2, errc::not_supported}, lie{good, 0, 2, 4096, 3, 2, errc::malformed_message},
                       lie{R"({"capabilities":)", 0, 0, 4096, 3, 2, errc::malformed_message},
                       lie{R"({"capabilities":{"max_data_xfer_size":2}})", 0, 0, 4096, 3, 2, errc::not_supported},
                       lie{good, 0, 0, 255, 3, 2, errc::not_supported}, lie{good, 0, 0, 4096, 2, 2, errc::not_supported},
                       lie{good, 0, 0, 4096, 3, 1, errc::not_supported}}) {
    scripted_fixture f;
    f.reply(1, vu::command::version, vu::version{l.major, l.minor, l.json});
    f.reply(2, vu::command::device_get_info, vu::device_info{16, l.device_flags, 9, 5});
    f.reply(3, vu::command::device_get_region_info, vu::region_info{32, l.region_flags, 7, 0, l.region_size, 0});
    const auto ec = f.open();
    BOOST_TEST_INFO(l.json << " " << l.major << "." << l.minor << " size " << l.region_size);
    BOOST_TEST((ec == l.expected));
    BOOST_TEST(f.client.size() == 0u);
    BOOST_TEST(!f.client.is_open());
  }
}

// libvfio-user's servers before they echoed the command wrote 0 in a reply's command field (lib/tran_sock.c,
// "FIXME: SPEC: should the reply include the command?"; SPDK targets built with them still do). The client
// called that a protocol violation and failed the handshake; QEMU's and SPDK's clients match replies by
// message ID alone. Command 0 is taken; another command is still a reply to something else.
BOOST_AUTO_TEST_CASE(an_old_libvfio_user_server_writing_command_0_in_its_replies_is_served) {
  scripted_fixture f;
  const auto with_command_0 = [&f](std::uint16_t id, const auto& payload) {
    bytes out(8192);
    auto n = vu::encode(payload, std::span<std::byte>(out).subspan(16));
    BOOST_REQUIRE(n.has_value());
    BOOST_REQUIRE(vu::encode(vu::header{id, 0, static_cast<std::uint32_t>(16 + *n), 1, 0}, out).has_value());
    out.resize(16 + *n);
    f.reply(out);
  };
  with_command_0(1, vu::version{0, 1, R"({"capabilities":{"max_msg_fds":8,"max_data_xfer_size":1048576}})"});
  with_command_0(2, vu::device_info{16, vu::device_flag_pci | vu::device_flag_reset, 9, 0});
  with_command_0(3, vu::region_info{32, 3, 7, 0, 4096, std::uint64_t{7} << 40});
  BOOST_REQUIRE(!f.open());
  with_command_0(4, vu::region_access{0x10, 7, 4, make_bytes({1, 2, 3, 4})});
  std::array<std::byte, 4> out{};
  boost::system::error_code ec;
  BOOST_TEST(f.client.read(0x10, out, ec) == 4u);
  BOOST_TEST(!ec);
  BOOST_TEST(octets(out) == octets(make_bytes({1, 2, 3, 4})), boost::test_tools::per_element());
  f.reply(5, vu::command::region_write, vu::region_access{0x10, 7, 4});  // the current form, command echoed
  BOOST_TEST(f.client.write(0x10, out, ec) == 4u);
  BOOST_TEST(!ec);
}

// A reply is at most the argsz its request gave (libvfio-user sends MIN(32 + capabilities, argsz); QEMU's
// client calls a longer one a broken stream). The client gives 32 for the config region's info and took a
// reply of 96: refused now, and the connection is not opened.
BOOST_AUTO_TEST_CASE(a_region_info_reply_longer_than_the_argsz_given_is_refused) {
  scripted_fixture f;
  f.reply(1, vu::command::version, vu::version{0, 1, R"({"capabilities":{}})"});
  f.reply(2, vu::command::device_get_info, vu::device_info{16, vu::device_flag_pci, 9, 0});
  bytes info(16 + 96);
  BOOST_REQUIRE(vu::encode(vu::region_info{96, 3 | 8, 7, 32, 4096, 0}, std::span<std::byte>(info).subspan(16)).has_value());
  BOOST_REQUIRE(vu::encode(vu::header{3, 5, 16 + 96, 1, 0}, info).has_value());
  f.reply(info);
  BOOST_TEST((f.open() == errc::malformed_message));
  BOOST_TEST(!f.client.is_open());
  BOOST_TEST(f.client.size() == 0u);
}

BOOST_AUTO_TEST_CASE(a_256_byte_region_and_a_read_only_region) {
  scripted_fixture f;
  f.handshake(R"({"capabilities":{}})", 256, vu::region_flag_read);
  BOOST_REQUIRE(!f.open());
  BOOST_TEST(f.client.size() == 256u);
  boost::system::error_code ec;
  const bytes value = make_bytes({1});
  BOOST_TEST(f.client.write(0x40, value, ec) == 0u);
  BOOST_TEST((ec == errc::read_only));
  std::array<std::byte, 4> out{};
  f.client.read(256, out, ec);
  BOOST_TEST((ec == errc::out_of_range));
}

BOOST_AUTO_TEST_CASE(transfers_split_at_max_data_xfer_size_on_dword_boundaries) {
  scripted_fixture f;
  f.handshake(R"({"capabilities":{"max_data_xfer_size":10}})");
  // A 14-byte read at 0x42 in messages of at most 8 bytes ending on dword boundaries: 0x42+6, 0x48+8.
  f.reply(4, vu::command::region_read, vu::region_access{0x42, 7, 6, pattern(6, 0)});
  f.reply(5, vu::command::region_read, vu::region_access{0x48, 7, 8, pattern(8, 6)});
  BOOST_REQUIRE(!f.open());
  (void)f.requests();  // the handshake
  bytes out(14);
  boost::system::error_code ec;
  BOOST_TEST(f.client.read(0x42, out, ec) == 14u);
  BOOST_TEST(!ec);
  BOOST_TEST(octets(out) == octets(pattern(14)), boost::test_tools::per_element());
  const auto sent = f.requests();
  BOOST_REQUIRE(sent.size() == 2u);
  BOOST_TEST(octets(sent[0]) == octets(make_bytes({0x04, 0, 0x09, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x42, 0,
                                                   0, 0, 0, 0, 0, 0, 0x07, 0, 0, 0, 0x06, 0, 0, 0})),
             boost::test_tools::per_element());
  BOOST_TEST(octets(sent[1]) == octets(make_bytes({0x05, 0, 0x09, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x48, 0,
                                                   0, 0, 0, 0, 0, 0, 0x07, 0, 0, 0, 0x08, 0, 0, 0})),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(the_handshake_requests_byte_for_byte) {
  scripted_fixture f;
  f.handshake();
  BOOST_REQUIRE(!f.open());
  const auto sent = f.requests();
  BOOST_REQUIRE(sent.size() == 3u);
  const std::string_view json = R"({"capabilities":{"max_msg_fds":1,"max_data_xfer_size":4096}})";
  bytes version = make_bytes({0x01, 0, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x00, 0x00, 0x01, 0x00});
  for (char c : json) version.push_back(static_cast<std::byte>(c));
  version.push_back(std::byte{0});
  version[4] = static_cast<std::byte>(version.size());
  BOOST_TEST(octets(sent[0]) == octets(version), boost::test_tools::per_element());
  BOOST_TEST(octets(sent[1]) == octets(make_bytes({0x02, 0, 0x04, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10, 0,
                                                   0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})),
             boost::test_tools::per_element());
  BOOST_TEST(octets(sent[2]) == octets(make_bytes({0x03, 0, 0x05, 0, 0x30, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x20, 0,
                                                   0, 0, 0, 0, 0, 0, 0x07, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                                   0, 0, 0, 0, 0, 0, 0, 0, 0})),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(a_server_that_hangs_up_mid_reply) {
  scripted_fixture f;
  f.handshake();
  f.reply(make_bytes({4, 0, 9, 0, 36, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0}));
  BOOST_REQUIRE(!f.open());
  ::shutdown(f.sockets.server.native_handle(), SHUT_WR);  // the server's side ends inside the reply
  std::array<std::byte, 4> out{};
  boost::system::error_code ec;
  BOOST_TEST(f.client.read(0, out, ec) == 0u);
  BOOST_TEST((ec == boost::asio::error::eof));
  f.client.read(0, out, ec);
  BOOST_TEST((ec == boost::asio::error::eof));
  BOOST_TEST((f.client.lasting_failure() == boost::asio::error::eof));
  BOOST_TEST(!f.client.peer_alive());
}

// A server that reads a request and never answers: the operation fails with timeout at its deadline (not
// before), the socket is closed (a late reply would answer the next request) and later operations fail at
// once with the same error; the server sees nothing more.
BOOST_AUTO_TEST_CASE(hostile_server_silent_after_a_request_times_out) {
  silent_fixture f;
  f.handshake();
  BOOST_REQUIRE(!f.open());
  (void)f.requests();
  std::array<std::byte, 4> out{};
  boost::system::error_code ec;
  std::size_t n = 99;
  bool done = false;
  f.client.async_read(0, out, [&](boost::system::error_code e, std::size_t k) {
    ec = e, n = k;
    done = true;
  });
  run_until(f.io, [&] { return done; });
  BOOST_TEST(!done);
  BOOST_TEST(f.requests().size() == 1u);  // the request is with the server
  f.clock.advance(std::chrono::milliseconds(999));
  run_until(f.io, [&] { return done; });
  BOOST_TEST(!done);
  f.clock.advance(std::chrono::milliseconds(1));
  run_until(f.io, [&] { return done; });
  BOOST_REQUIRE(done);
  BOOST_TEST((ec == errc::timeout));
  BOOST_TEST(n == 0u);
  BOOST_TEST(!f.client.is_open());
  BOOST_TEST((f.client.lasting_failure() == errc::timeout));
  BOOST_TEST(f.client.peer_alive());  // silent, not known gone
  BOOST_TEST(f.clock.armed() == 0u);
  // The client closed its end: a late reply finds nobody (and could never be taken for the next request's).
  const bytes late = make_bytes({4, 0, 9, 0, 16, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0});
  BOOST_TEST(::send(f.sockets.server.native_handle(), late.data(), late.size(), MSG_NOSIGNAL) == -1);
  BOOST_TEST(errno == EPIPE);
  // The next operation fails at once, sending nothing.
  done = false;
  f.client.async_read(0, out, [&](boost::system::error_code e, std::size_t) {
    ec = e;
    done = true;
  });
  run_until(f.io, [&] { return done; });
  BOOST_REQUIRE(done);
  BOOST_TEST((ec == errc::timeout));
  BOOST_TEST(octets(out) == std::vector<unsigned>(4, 0));
  BOOST_TEST(f.client.read(0, out, ec) == 0u);
  BOOST_TEST((ec == errc::timeout));
}

// A VF endpoint over a server that goes silent: the access that missed its deadline closed the connection
// for good, so the endpoint ends with it, the invalidation wait included, and failure() reports it. Before,
// the read failed with the timeout but the wait kept polling the closed connection every watch interval
// and failure() stayed empty.
BOOST_AUTO_TEST_CASE(an_endpoint_over_a_silent_server_ends_with_the_timeout) {
  silent_fixture f;
  f.handshake();
  BOOST_REQUIRE(!f.open());
  vf_mailbox_options options;
  options.default_timeout = std::chrono::seconds(5);  // the transport's 1 s deadline comes first
  vf_endpoint<basic_vfio_user_config_space<manual_timing>, manual_timing> vf(f.client, 0x100, options, f.clock);
  boost::system::error_code waited = errc::device_error;
  boost::system::error_code read = errc::device_error;
  bool woke = false;
  bool done = false;
  vf.async_wait_invalidate([&](boost::system::error_code e, block_mask) {
    waited = e;
    woke = true;
  });
  std::array<std::byte, 8> value{};
  vf.async_read_block(block_id{1}, value, [&](boost::system::error_code e, std::size_t) {
    read = e;
    done = true;
  });
  run_until(f.io, [&] { return done && woke; });
  BOOST_TEST(!done);
  f.clock.advance(std::chrono::seconds(1));
  run_until(f.io, [&] { return done && woke; });
  BOOST_REQUIRE(done);
  BOOST_REQUIRE(woke);
  BOOST_TEST((read == errc::timeout));
  BOOST_TEST((waited == errc::timeout));
  BOOST_TEST((vf.failure() == errc::timeout));
  BOOST_TEST(f.clock.armed() == 0u);  // nothing of the endpoint or the client waits any more
}

// The synchronous form: under virtual time it looks, then moves time to the deadline.
BOOST_AUTO_TEST_CASE(hostile_server_silent_synchronous_form_times_out) {
  silent_fixture f;
  f.handshake();
  BOOST_REQUIRE(!f.open());
  const std::uint64_t start = f.clock.now();
  std::array<std::byte, 4> out{};
  boost::system::error_code ec;
  BOOST_TEST(f.client.read(0, out, ec) == 0u);
  BOOST_TEST((ec == errc::timeout));
  BOOST_TEST(f.clock.now() - start == 1'000'000'000u);
  BOOST_TEST(!f.client.is_open());
  const bytes value = make_bytes({1});
  BOOST_TEST(f.client.write(0x40, value, ec) == 0u);
  BOOST_TEST((ec == errc::timeout));
}

// Half a reply, then silence: the deadline covers the whole reply.
BOOST_AUTO_TEST_CASE(hostile_server_stops_mid_reply_times_out) {
  silent_fixture f;
  f.handshake();
  f.reply(make_bytes({4, 0, 9, 0, 36, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0}));
  BOOST_REQUIRE(!f.open());
  std::array<std::byte, 4> out{};
  boost::system::error_code ec;
  bool done = false;
  f.client.async_read(0, out, [&](boost::system::error_code e, std::size_t) {
    ec = e;
    done = true;
  });
  run_until(f.io, [&] { return done; });
  BOOST_TEST(!done);
  f.clock.advance(std::chrono::seconds(1));
  run_until(f.io, [&] { return done; });
  BOOST_REQUIRE(done);
  BOOST_TEST((ec == errc::timeout));
}

// A silent server during the handshake: the handshake fails with timeout, the client stays unconnected.
BOOST_AUTO_TEST_CASE(hostile_server_silent_during_the_handshake) {
  silent_fixture f;
  f.reply(1, vu::command::version, vu::version{0, 1, R"({"capabilities":{}})"});
  f.start_async_open();
  run_until(f.io, [&] { return f.opened.has_value(); });
  BOOST_TEST(!f.opened);
  f.clock.advance(std::chrono::seconds(1));
  run_until(f.io, [&] { return f.opened.has_value(); });
  BOOST_REQUIRE(f.opened);
  BOOST_TEST((*f.opened == errc::timeout));
  BOOST_TEST(f.client.size() == 0u);
  BOOST_TEST(!f.client.is_open());
}

// A server that closes the connection during the handshake (vpci-vfio-user-device does so to a client that
// comes while it serves another): the socket's error for it was the handshake's, "End of file" or "Broken
// pipe" as the timing gave, which names no cause. It is connection_closed, on both forms.
BOOST_AUTO_TEST_CASE(a_server_closing_during_the_handshake_is_connection_closed) {
  {  // before reading anything: the VERSION request meets a closed socket
    scripted_fixture f;
    f.sockets.server.close();
    const auto ec = f.open();
    BOOST_TEST((ec == errc::connection_closed), ec.message());
    BOOST_TEST(!f.client.is_open());
  }
  {  // after the VERSION reply: the next reply ends in an end of file
    scripted_fixture f;
    f.reply(1, vu::command::version, vu::version{0, 1, R"({"capabilities":{}})"});
    ::shutdown(f.sockets.server.native_handle(), SHUT_WR);
    const auto ec = f.open();
    BOOST_TEST((ec == errc::connection_closed), ec.message());
  }
  {  // the asynchronous form
    scripted_fixture f;
    ::shutdown(f.sockets.server.native_handle(), SHUT_WR);
    f.start_async_open();
    run_until(f.io, [&] { return f.opened.has_value(); });
    BOOST_REQUIRE(f.opened);
    BOOST_TEST((*f.opened == errc::connection_closed), f.opened->message());
    BOOST_TEST(!f.client.is_open());
  }
}

// Each request has its own deadline: replies that come in time, one after another, never time out, and a
// deadline of a completed operation never fires later.
BOOST_AUTO_TEST_CASE(each_request_has_its_own_deadline) {
  boost::asio::io_context io;
  manual_timing clock;
  vfio_user_device_space space(io);
  vfio_user_device_server server(space);
  socket_pair sockets(io);
  basic_vfio_user_config_space<manual_timing> client(
      io, vfio_user_client_options<manual_timing>{std::chrono::milliseconds(50), clock});
  server.async_serve(std::move(sockets.server), [](boost::system::error_code) {});
  boost::system::error_code ec = errc::device_error;
  bool done = false;
  client.async_open(std::move(sockets.client), [&](boost::system::error_code e) {
    ec = e;
    done = true;
  });
  run_until(io, [&] { return done; });
  BOOST_REQUIRE(done);
  BOOST_REQUIRE(!ec);
  std::array<std::byte, 4> out{};
  for (int i = 0; i < 3; ++i) {
    clock.advance(std::chrono::milliseconds(40));  // between requests: no deadline runs
    done = false;
    client.async_read(0, out, [&](boost::system::error_code e, std::size_t) {
      ec = e;
      done = true;
    });
    run_until(io, [&] { return done; });
    BOOST_REQUIRE(done);
    BOOST_TEST(!ec);
    BOOST_TEST(clock.armed() == 0u);
  }
  clock.advance(std::chrono::seconds(10));
  io.restart();
  io.poll();
  BOOST_TEST(client.is_open());
}

// Without a completion token the operations return vpci::default_completion_token_t's (deferred with a
// plain executor): nothing starts until the deferred operation is invoked.
BOOST_AUTO_TEST_CASE(operations_without_a_token_are_deferred) {
  boost::asio::io_context io;
  vfio_user_device_space space(io);
  const bytes header = make_bytes({0xF4, 0x1A, 0x34, 0x12});
  BOOST_REQUIRE(space.model().device_write(0, header) == no_error);
  vfio_user_device_server server(space);
  socket_pair sockets(io);
  vfio_user_config_space client(io);
  server.async_serve(std::move(sockets.server), [](boost::system::error_code) {});
  int completed = 0;
  auto open = client.async_open(std::move(sockets.client));
  std::move(open)([&](boost::system::error_code e) {
    BOOST_TEST(!e);
    ++completed;
  });
  run_until(io, [&] { return completed == 1; });
  BOOST_REQUIRE(completed == 1);
  const bytes value = make_bytes({0x5A});
  auto write = client.async_write(0x40, value);
  std::array<std::byte, 4> id{};
  auto read = client.async_read(0, id);
  io.restart();
  io.poll();
  BOOST_TEST(octets(id) == std::vector<unsigned>(4, 0));  // not started
  std::move(write)([&](boost::system::error_code e, std::size_t n) {
    BOOST_TEST(!e);
    BOOST_TEST(n == 1u);
    ++completed;
  });
  std::move(read)([&](boost::system::error_code e, std::size_t n) {
    BOOST_TEST(!e);
    BOOST_TEST(n == 4u);
    ++completed;
  });
  run_until(io, [&] { return completed == 3; });
  BOOST_TEST(completed == 3);
  BOOST_TEST(octets(id) == octets(header), boost::test_tools::per_element());
  bytes stored(1);
  BOOST_TEST(space.model().device_read(0x40, stored) == no_error);
  BOOST_TEST(octets(stored) == octets(value), boost::test_tools::per_element());
  auto reset = client.async_reset();
  std::move(reset)([&](boost::system::error_code e) {
    BOOST_TEST((!e || e == errc::not_supported));
    ++completed;
  });
  run_until(io, [&] { return completed == 4; });
  BOOST_TEST(completed == 4);
  // async_connect, too (nobody listens at this path: the socket's error).
  auto connect = client.async_connect("/nonexistent/vpci-vfio-user.sock");
  std::move(connect)([&](boost::system::error_code e) {
    BOOST_TEST((e == boost::system::errc::no_such_file_or_directory));
    ++completed;
  });
  run_until(io, [&] { return completed == 5; });
  BOOST_TEST(completed == 5);
}

// The handshake installs an eventfd for the INTx the server offers; each signal of it counts once, ends the
// waits, and the client unmasks INTx (AUTOMASKED) so the next one is delivered.
BOOST_AUTO_TEST_CASE(the_interrupt_is_installed_counted_and_unmasked) {
  served_fixture f;
  BOOST_TEST(f.client.interrupt_installed());
  BOOST_TEST(f.server.interrupt_installed());
  const std::uint32_t start = f.client.peer_signal_sequence();
  boost::system::error_code ec;
  BOOST_TEST(f.client.wait_peer_signal(start, std::chrono::nanoseconds(0), ec) == start);
  BOOST_TEST((ec == errc::timeout));
  for (std::uint32_t round = 1; round <= 3; ++round) {
    BOOST_TEST_CONTEXT("round " << round) {
      std::uint32_t seen = 0;
      bool done = false;
      f.client.async_wait_peer_signal(start + round - 1, [&](boost::system::error_code e, std::uint32_t n) {
        ec = e;
        seen = n;
        done = true;
      });
      f.io.restart();
      f.io.poll();
      BOOST_TEST(!done);
      f.space.signal_peer();  // the device raises INTx: delivered, then masked until the client unmasks
      BOOST_TEST(f.server.interrupt_masked());
      f.run_until([&] { return done; });
      BOOST_TEST(!ec);
      BOOST_TEST(seen == start + round);
      f.run_until([&] { return !f.server.interrupt_masked(); });  // the UNMASK went out by itself
    }
  }
  // A raise while masked is delivered by the unmask: never lost. The synchronous wait sees it.
  f.space.signal_peer();
  f.space.signal_peer();
  BOOST_TEST(f.client.wait_peer_signal(start + 3, std::chrono::nanoseconds(0), ec) == start + 4);
  BOOST_TEST(!ec);
}

BOOST_AUTO_TEST_CASE(a_signal_wait_is_cancellable_and_ends_with_close) {
  served_fixture f;
  boost::asio::cancellation_signal cancel;
  boost::system::error_code ec;
  bool done = false;
  const std::uint32_t start = f.client.peer_signal_sequence();
  f.client.async_wait_peer_signal(start, boost::asio::bind_cancellation_slot(cancel.slot(), [&](boost::system::error_code e, std::uint32_t) {
                                    ec = e;
                                    done = true;
                                  }));
  f.io.restart();
  f.io.poll();
  BOOST_TEST(!done);
  cancel.emit(boost::asio::cancellation_type::partial);
  f.run_until([&] { return done; });
  BOOST_TEST((ec == errc::cancelled));
  done = false;
  f.client.async_wait_peer_signal(start, [&](boost::system::error_code e, std::uint32_t) {
    ec = e;
    done = true;
  });
  f.io.restart();
  f.io.poll();
  f.client.close();
  f.run_until([&] { return done; });
  BOOST_TEST((ec == errc::cancelled));
  BOOST_TEST(!f.client.interrupt_installed());
}

// The server's hang-up is seen on the socket without an access (an idle endpoint makes none): the wait
// completes with success and peer_alive() turns false. The wait is cancellable, ends with close(), and
// completes at once when the server is already known gone.
BOOST_AUTO_TEST_CASE(a_server_hang_up_is_seen_without_an_access) {
  served_fixture f;
  boost::asio::cancellation_signal cancel;
  boost::system::error_code ec = errc::device_error;
  bool done = false;
  auto wait = [&](auto token) { f.client.async_wait_peer_gone(token); };
  wait(boost::asio::bind_cancellation_slot(cancel.slot(), [&](boost::system::error_code e) {
    ec = e;
    done = true;
  }));
  f.io.restart();
  f.io.poll();
  BOOST_TEST(!done);
  cancel.emit(boost::asio::cancellation_type::terminal);
  f.run_until([&] { return done; });
  BOOST_TEST((ec == errc::cancelled));
  BOOST_TEST(f.client.peer_alive());
  done = false;
  wait([&](boost::system::error_code e) {
    ec = e;
    done = true;
  });
  f.io.restart();
  f.io.poll();
  BOOST_TEST(!done);  // replies and the serving loop's reads do not end it: only a hang-up does
  f.stop_serving.emit(boost::asio::cancellation_type::terminal);  // the server closes the connection
  f.run_until([&] { return done; });
  BOOST_TEST(!ec);
  BOOST_TEST(!f.client.peer_alive());
  BOOST_TEST(!f.client.lasting_failure());  // nothing failed yet: no access was made
  // Known gone: the next wait completes at once (posted); an access fails on the closed connection.
  done = false;
  wait([&](boost::system::error_code e) {
    ec = e;
    done = true;
  });
  BOOST_TEST(!done);
  f.io.restart();
  f.io.poll();
  BOOST_TEST(done);
  BOOST_TEST(!ec);
  std::array<std::byte, 4> out{};
  bool read = false;
  f.client.async_read(0, out, [&](boost::system::error_code e, std::size_t) {
    ec = e;
    read = true;
  });
  f.run_until([&] { return read; });
  BOOST_TEST((ec == boost::asio::error::broken_pipe || ec == boost::asio::error::eof ||
              ec == boost::asio::error::connection_reset), ec.message());
  BOOST_TEST((f.client.lasting_failure() == ec));
}

BOOST_AUTO_TEST_CASE(a_peer_gone_wait_ends_with_close) {
  served_fixture f;
  boost::system::error_code ec;
  bool done = false;
  f.client.async_wait_peer_gone([&](boost::system::error_code e) {
    ec = e;
    done = true;
  });
  f.io.restart();
  f.io.poll();
  f.client.close();
  f.run_until([&] { return done; });
  BOOST_TEST((ec == errc::cancelled));
  BOOST_TEST(f.client.peer_alive());  // this side closed it: nothing is known of the server
}

// The interrupt's part of the handshake, byte for byte: GET_IRQ_INFO for INTx, then SET_IRQS TRIGGER |
// DATA_EVENTFD with one descriptor as SCM_RIGHTS.
BOOST_AUTO_TEST_CASE(the_interrupt_handshake_byte_for_byte) {
  scripted_fixture f;
  f.handshake_offering_interrupts();
  f.reply(4, vu::command::device_get_irq_info, vu::irq_info{16, vu::irq_info_eventfd | vu::irq_info_maskable, 0, 1});
  f.reply_header(vu::header{5, 8, 16, 1, 0});
  BOOST_REQUIRE(!f.open());
  BOOST_TEST(f.client.interrupt_installed());
  bytes all(4096);
  detail::vfio_user_fd_list fds;
  const ssize_t n = detail::vfio_user_receive(f.sockets.server.native_handle(), all, fds);
  BOOST_REQUIRE(n > 0);
  all.resize(static_cast<std::size_t>(n));
  BOOST_REQUIRE(fds.size() == 1u);
  // The last two requests (the first three are the_handshake_requests_byte_for_byte's).
  const bytes irq_info = make_bytes({0x04, 0, 0x07, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10, 0, 0, 0, 0, 0, 0, 0,
                                     0, 0, 0, 0, 0, 0, 0, 0});
  const bytes set_irqs = make_bytes({0x05, 0, 0x08, 0, 0x24, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x14, 0, 0, 0, 0x24, 0, 0, 0,
                                     0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0, 0, 0});
  BOOST_REQUIRE(all.size() >= irq_info.size() + set_irqs.size());
  const auto tail = std::span<const std::byte>(all).last(irq_info.size() + set_irqs.size());
  BOOST_TEST(octets(tail.first(irq_info.size())) == octets(irq_info), boost::test_tools::per_element());
  BOOST_TEST(octets(tail.subspan(irq_info.size())) == octets(set_irqs), boost::test_tools::per_element());
  // The descriptor is the client's eventfd: a write to it is the client's signal.
  const std::uint32_t start = f.client.peer_signal_sequence();
  const std::uint64_t one = 1;
  BOOST_REQUIRE(::write(fds.take(0), &one, sizeof one) == static_cast<ssize_t>(sizeof one));
  BOOST_TEST(f.client.peer_signal_sequence() == start + 1);
}

// A server that offers no INTx eventfd, or refuses the client's: no interrupt, and not an error.
BOOST_AUTO_TEST_CASE(a_server_without_the_interrupt) {
  {
    scripted_fixture f;
    f.handshake_offering_interrupts();
    f.reply(4, vu::command::device_get_irq_info, vu::irq_info{16, 0, 0, 1});  // no EVENTFD
    BOOST_REQUIRE(!f.open());
    BOOST_TEST(!f.client.interrupt_installed());
    BOOST_TEST(f.requests().size() == 4u);  // no SET_IRQS
    boost::system::error_code ec;
    f.client.wait_peer_signal(0, std::chrono::nanoseconds(0), ec);
    BOOST_TEST((ec == errc::not_supported));
  }
  {
    scripted_fixture f;
    f.handshake_offering_interrupts();
    f.reply_header(vu::header{4, 7, 16, 1 | vu::flag_error, ENOTSUP});
    BOOST_REQUIRE(!f.open());
    BOOST_TEST(!f.client.interrupt_installed());
  }
  {
    scripted_fixture f;
    f.handshake_offering_interrupts();
    f.reply(4, vu::command::device_get_irq_info, vu::irq_info{16, vu::irq_info_eventfd, 0, 1});
    f.reply_header(vu::header{5, 8, 16, 1 | vu::flag_error, EINVAL});
    f.reply(6, vu::command::region_read, vu::region_access{0, 7, 2, make_bytes({0xAB, 0xCD})});
    BOOST_REQUIRE(!f.open());
    BOOST_TEST(!f.client.interrupt_installed());
    std::array<std::byte, 2> out{};
    boost::system::error_code ec;
    BOOST_TEST(f.client.read(0, out, ec) == 2u);  // in step
    BOOST_TEST(!ec);
  }
  {  // A lie in the IRQ info is a lie like any other.
    scripted_fixture f;
    f.handshake_offering_interrupts();
    f.reply(4, vu::command::device_get_irq_info, vu::irq_info{16, vu::irq_info_eventfd, 3, 1});  // another index
    BOOST_TEST((f.open() == errc::malformed_message));
    BOOST_TEST(!f.client.is_open());
  }
}

// Found by a mutation audit: what a peer's SCM_RIGHTS can make the receiver hold. `count` descriptors of
// /dev/null with one byte, sent with a raw sendmsg (vfio_user_send refuses more than the bound).
namespace {
void send_descriptors(int socket, std::size_t count) {
  std::vector<int> fds(count);
  for (int& fd : fds) fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  std::vector<char> control(CMSG_SPACE(sizeof(int) * count));
  char byte = 'x';
  ::iovec io{&byte, 1};
  ::msghdr message{};
  message.msg_iov = &io;
  message.msg_iovlen = 1;
  message.msg_control = control.data();
  message.msg_controllen = control.size();
  ::cmsghdr* c = CMSG_FIRSTHDR(&message);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int) * count);
  std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * count);
  BOOST_TEST_REQUIRE(::sendmsg(socket, &message, 0) == 1);
  for (const int fd : fds) ::close(fd);
}
}  // namespace

// A list that holds vfio_user_max_fds descriptors takes no more: a further one is closed and the list
// marked truncated, so a peer cannot make the receiver hold more than the bound.
BOOST_AUTO_TEST_CASE(a_full_descriptor_list_takes_no_more_and_is_marked_truncated) {
  boost::asio::io_context io;
  socket_pair pair(io);
  send_descriptors(pair.client.native_handle(), detail::vfio_user_max_fds);
  send_descriptors(pair.client.native_handle(), 1);
  detail::vfio_user_fd_list fds;
  std::array<std::byte, 1> buffer{};
  BOOST_TEST(detail::vfio_user_receive(pair.server.native_handle(), buffer, fds) == 1);
  BOOST_TEST(fds.size() == detail::vfio_user_max_fds);
  BOOST_TEST(!fds.truncated());
  BOOST_TEST(detail::vfio_user_receive(pair.server.native_handle(), buffer, fds) == 1);
  BOOST_TEST(fds.size() == detail::vfio_user_max_fds);
  BOOST_TEST(fds.truncated());
}

// A message with more descriptors than the receiver's control buffer holds is marked truncated
// (MSG_CTRUNC), and the ones that arrived are kept, within the bound.
BOOST_AUTO_TEST_CASE(more_descriptors_than_the_control_buffer_holds_mark_the_list_truncated) {
  boost::asio::io_context io;
  socket_pair pair(io);
  send_descriptors(pair.client.native_handle(), detail::vfio_user_max_fds + 4);
  detail::vfio_user_fd_list fds;
  std::array<std::byte, 1> buffer{};
  BOOST_TEST(detail::vfio_user_receive(pair.server.native_handle(), buffer, fds) == 1);
  BOOST_TEST(fds.truncated());
  BOOST_TEST(fds.size() <= detail::vfio_user_max_fds);
}

// ---- From a mutation audit of the vfio-user pieces: each case failed on a mutant no test saw ----

// a REGION_READ of max_transfer (4096) bytes is answered by the largest reply the client reads
// (16 + 16 + 4096 bytes): taken whole, not a protocol violation.
BOOST_AUTO_TEST_CASE(a_read_of_the_whole_4096_byte_space_in_one_reply_succeeds) {
  scripted_fixture f;
  f.handshake(R"({"capabilities":{"max_data_xfer_size":4096}})");
  f.reply(4, vu::command::region_read, vu::region_access{0, 7, 4096, pattern(4096)});
  BOOST_REQUIRE(!f.open());
  bytes out(4096);
  boost::system::error_code ec;
  BOOST_TEST(f.client.read(0, out, ec) == 4096u);
  BOOST_TEST(!ec);
  BOOST_TEST(octets(out) == octets(pattern(4096)), boost::test_tools::per_element());
  BOOST_TEST(f.client.is_open());
}

// a REGION_WRITE reply must echo the request's offset, region and count; one that does not is
// malformed_message, nothing counted as written, and the stream stays in step.
BOOST_AUTO_TEST_CASE(a_write_reply_that_does_not_echo_the_request_is_malformed) {
  scripted_fixture f;
  f.handshake();
  f.reply(4, vu::command::region_write, vu::region_access{0x44, 7, 4});  // another offset
  f.reply(5, vu::command::region_write, vu::region_access{0x40, 6, 4});  // another region
  f.reply(6, vu::command::region_write, vu::region_access{0x40, 7, 2});  // another count
  f.reply(7, vu::command::region_write, vu::region_access{0x40, 7, 4});  // the echo
  BOOST_REQUIRE(!f.open());
  const bytes value = make_bytes({1, 2, 3, 4});
  boost::system::error_code ec;
  for (int i = 0; i < 3; ++i) {
    BOOST_TEST_INFO("reply " << i);
    BOOST_TEST(f.client.write(0x40, value, ec) == 0u);
    BOOST_TEST((ec == errc::malformed_message));
  }
  BOOST_TEST(f.client.write(0x40, value, ec) == 4u);
  BOOST_TEST(!ec);
  BOOST_TEST(f.client.is_open());
}

// a server whose INTx has the EVENTFD flag but a count of 0 offers no interrupt: the client sends no
// SET_IRQS, opens without one, and says so.
BOOST_AUTO_TEST_CASE(an_intx_of_count_0_is_no_interrupt_and_no_set_irqs_is_sent) {
  silent_fixture f;
  f.handshake_offering_interrupts();
  f.reply(4, vu::command::device_get_irq_info, vu::irq_info{16, vu::irq_info_eventfd, 0, 0});
  BOOST_REQUIRE(!f.open());
  BOOST_TEST(f.client.is_open());
  BOOST_TEST(!f.client.interrupt_installed());
  BOOST_TEST(f.requests().size() == 4u);  // VERSION, GET_INFO, GET_REGION_INFO, GET_IRQ_INFO
}

// the reply to SET_IRQS carries no payload; one with a payload is malformed_message and the
// connection is not opened (no interrupt half-installed).
BOOST_AUTO_TEST_CASE(a_set_irqs_reply_with_a_payload_fails_the_handshake) {
  scripted_fixture f;
  f.handshake_offering_interrupts();
  f.reply(4, vu::command::device_get_irq_info, vu::irq_info{16, vu::irq_info_eventfd, 0, 1});
  bytes set_irqs(16 + 4);
  BOOST_REQUIRE(vu::encode(vu::header{5, 8, 20, 1, 0}, set_irqs).has_value());
  f.reply(set_irqs);
  BOOST_TEST((f.open() == errc::malformed_message));
  BOOST_TEST(!f.client.is_open());
  BOOST_TEST(f.client.size() == 0u);
  BOOST_TEST(!f.client.interrupt_installed());
}

BOOST_AUTO_TEST_SUITE_END()  // vfio_user_transport_test
