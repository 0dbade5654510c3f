// Fuzz target: vfio_user_device_server::async_serve, the serving loop over a socket, fed a hostile client's
// byte stream in input-chosen chunks: the framing (header, payload, messages too large to read and dropped
// in pieces), the replies' order, and how serving ends. What each message does is vfio_user_device_server's
// handle(), which the vfio_user_device_server target checks against a model; here a second server, fed the
// same messages through handle() directly, is the reference for the replies.
//
// Input: byte 0 the mode (bit 0: the client ends by closing its writing side, else serving is cancelled;
// bits 7:4 pick the chunk sizes the stream is sent in), then the client's stream.
//
// Invariants:
// - serving ends (the loop is bounded by turns, never by time) and completes once;
// - the bytes the client receives are exactly the reference server's replies to the stream's complete
//   messages, in order: a message is a 16-byte header and message size - 16 payload bytes; one whose payload
//   exceeds 16 + 4096 bytes is read and dropped and answered E2BIG (nothing with No_reply); nothing is
//   answered after a message size below 16;
// - the verdict: protocol_violation at a message size below 16; otherwise, closing: success when the stream
//   ended between messages, truncated_message inside one; cancelling: cancelled;
// - after serving, the server serves no one and its INTx state is reset; no descriptor is left open.
#include <array>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>

#include <vpci/asio/vfio_user_device_server.hpp>

#include "fuzz_support.hpp"

using namespace vpci;
using namespace vpci::fuzz;
namespace vu = vpci::vfio_user;

namespace {

using socket_type = boost::asio::local::stream_protocol::socket;

// A space and its server, as both sides of the comparison build them.
struct device {
  explicit device(boost::asio::io_context& io) : space(io) {
    std::array<std::byte, 64> header{};
    for (std::size_t i = 0; i < header.size(); ++i) header[i] = static_cast<std::byte>(0xA0 ^ i);
    VPCI_FUZZ_CHECK(space.model().device_write(0, header) == no_error);
  }
  vfio_user_device_space space;
  vfio_user_device_server server{space, [] { return boost::system::error_code{}; }};
};

// What serving the stream must produce: the replies and the verdict.
struct expectation {
  std::vector<std::byte> replies;
  boost::system::error_code verdict;
};

expectation reference(std::span<const std::byte> stream, bool closing) {
  boost::asio::io_context io;
  device d{io};
  expectation e;
  std::size_t at = 0;
  const auto append = [&](const std::vector<std::byte>& reply) {
    e.replies.insert(e.replies.end(), reply.begin(), reply.end());
  };
  for (;;) {
    const std::span<const std::byte> rest = stream.subspan(at);
    if (rest.empty()) {
      e.verdict = closing ? boost::system::error_code{} : make_error_code(errc::cancelled);
      return e;
    }
    if (rest.size() < vu::header_size) break;
    auto h = vu::decode_header(rest);
    if (!h) {
      e.verdict = make_error_code(errc::protocol_violation);
      return e;
    }
    if (rest.size() < h->message_size) break;
    const auto payload = rest.subspan(vu::header_size, h->payload_size());
    if (payload.size() > vfio_user_device_server::max_payload) {
      append(vfio_user_device_server::refuse(*h, E2BIG));
    } else {
      detail::vfio_user_fd_list none;
      const exact_bytes copy{payload};
      append(d.server.handle(*h, copy.view(), none));
    }
    at += h->message_size;
  }
  // The stream ends inside a message.
  e.verdict = closing ? make_error_code(errc::truncated_message) : make_error_code(errc::cancelled);
  return e;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::size_t descriptors = open_descriptors();
  const std::uint8_t mode = data[0];
  const bool closing = (mode & 1) != 0;
  const auto stream = as_bytes(data + 1, size - 1);
  const expectation expected = reference(stream, closing);
  {
    boost::asio::io_context io;
    device d{io};
    int fds[2];
    VPCI_FUZZ_CHECK(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0);
    const int client = fds[0];
    socket_type server_socket(io);
    server_socket.assign(boost::asio::local::stream_protocol(), fds[1]);
    boost::asio::cancellation_signal cancel;
    std::optional<boost::system::error_code> served;
    int completions = 0;
    d.server.async_serve(std::move(server_socket),
                         boost::asio::bind_cancellation_slot(cancel.slot(), [&](boost::system::error_code ec) {
                           served = ec;
                           ++completions;
                         }));
    std::vector<std::byte> received;
    // One turn of the loop: the server's ready handlers, then what it sent. False when nothing happened.
    const auto turn = [&] {
      io.restart();
      bool progress = io.poll() != 0;
      std::array<std::byte, 8192> buffer{};
      for (;;) {
        const ssize_t n = ::recv(client, buffer.data(), buffer.size(), MSG_DONTWAIT);
        if (n <= 0) return progress;
        received.insert(received.end(), buffer.begin(), buffer.begin() + n);
        progress = true;
      }
    };
    const auto settle = [&] {
      for (int k = 0; k < 100000 && turn(); ++k) {
      }
    };
    // The stream in chunks of sizes picked by the mode, the server's loop running in between.
    static constexpr std::array<std::size_t, 16> sizes{1,   2,   3,    5,    7,    16,   17,   31,
                                                       64, 100, 512, 513, 4096, 4113, 8192, 65536};
    std::size_t sent = 0;
    for (std::size_t i = 0; sent < stream.size() && !served; ++i) {
      const std::size_t chunk = std::min(sizes[((mode >> 4) + i % 3) & 15], stream.size() - sent);
      const ssize_t n = ::send(client, stream.data() + sent, chunk, MSG_DONTWAIT | MSG_NOSIGNAL);
      if (n > 0) sent += static_cast<std::size_t>(n);
      settle();
    }
    // Everything the server can take before the end is served: nothing more happens.
    settle();
    if (closing) {
      ::shutdown(client, SHUT_WR);
    } else if (!served) {
      cancel.emit(boost::asio::cancellation_type::terminal);
    }
    for (int k = 0; k < 100000 && !served; ++k) (void)turn();
    settle();
    VPCI_FUZZ_CHECK(served.has_value() && completions == 1);
    VPCI_FUZZ_CHECK(*served == expected.verdict);
    VPCI_FUZZ_CHECK(received == expected.replies);
    VPCI_FUZZ_CHECK(!d.server.serving());
    std::byte after{};  // the server closed its end: the client meets the end of the stream
    VPCI_FUZZ_CHECK(::recv(client, &after, 1, MSG_DONTWAIT) == 0);
    VPCI_FUZZ_CHECK(!d.server.interrupt_installed() && !d.server.interrupt_pending() && !d.server.interrupt_masked());
    ::close(client);
  }
  VPCI_FUZZ_CHECK(open_descriptors() == descriptors);
  return 0;
}
