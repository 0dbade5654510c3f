// vpci-conformance: stream_port over a connected POSIX socket (Unix or TCP), every receive bounded by
// poll(2); and the stream_target that connects to a PF listening on a Unix path or a TCP host:port.
#pragma once

#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <utility>

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "../host_port.hpp"
#include "../quoted_text.hpp"
#include "hyperv_cases.hpp"

namespace vpci::conformance {

class socket_stream_port final : public stream_port {
 public:
  explicit socket_stream_port(int fd) : fd_(fd) {}
  socket_stream_port(const socket_stream_port&) = delete;
  socket_stream_port& operator=(const socket_stream_port&) = delete;
  ~socket_stream_port() override {
    if (fd_ >= 0) ::close(fd_);
  }

  std::string send(std::span<const std::byte> bytes) override {
    while (!bytes.empty()) {
      const ::ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EINTR) continue;
        return std::string("send: ") + std::strerror(errno);
      }
      bytes = bytes.subspan(static_cast<std::size_t>(n));
    }
    return {};
  }

  std::size_t send_within(std::span<const std::byte> bytes, std::chrono::milliseconds timeout) override {
    std::size_t sent = 0;
    while (sent < bytes.size()) {
      const ::ssize_t n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n > 0) {
        sent += static_cast<std::size_t>(n);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) break;
      ::pollfd p{fd_, POLLOUT, 0};
      if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0) break;  // full for the whole timeout
    }
    return sent;
  }

  io receive(std::span<std::byte> out, std::chrono::milliseconds timeout) override {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    std::size_t got = 0;
    while (got < out.size()) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() < 0) return io::timeout;
      ::pollfd p{fd_, POLLIN, 0};
      const int ready = ::poll(&p, 1, static_cast<int>(left.count()) + 1);
      if (ready < 0 && errno == EINTR) continue;
      if (ready < 0) return io::error;
      if (ready == 0) continue;  // the deadline check above ends the wait
      const ::ssize_t n = ::recv(fd_, out.data() + got, out.size() - got, 0);
      if (n == 0) return io::eof;
      if (n < 0) {
        if (errno == EINTR || errno == EAGAIN) continue;
        return errno == ECONNRESET ? io::eof : io::error;
      }
      got += static_cast<std::size_t>(n);
    }
    return io::ok;
  }

  void shutdown_send() override { ::shutdown(fd_, SHUT_WR); }

  bool wait_ended(std::chrono::milliseconds bound) override {
    const auto deadline = std::chrono::steady_clock::now() + bound;
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() < 0) return false;
      // POLLHUP: both directions ended (a Unix peer closed, a TCP reset); POLLRDHUP: the PF's end came.
      ::pollfd p{fd_, POLLRDHUP, 0};
      const int ready = ::poll(&p, 1, static_cast<int>(left.count()) + 1);
      if (ready < 0 && errno != EINTR) return false;
      if (ready > 0 && (p.revents & (POLLHUP | POLLERR | POLLRDHUP)) != 0) return true;
    }
  }

 private:
  int fd_;
};

inline std::unique_ptr<stream_port> connect_unix(const std::string& path, std::string& error) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  ::sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (fd < 0 || path.size() >= sizeof address.sun_path) {
    error = fd < 0 ? std::strerror(errno) : "socket path too long";
    if (fd >= 0) ::close(fd);
    return nullptr;
  }
  std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
  if (::connect(fd, reinterpret_cast<const ::sockaddr*>(&address), sizeof address) != 0) {
    const int failure = errno;  // before the message is built: nothing then may change it
    error = "connect " + vpci::tools::quoted_text(path) + ": " + std::strerror(failure);
    ::close(fd);
    return nullptr;
  }
  return std::make_unique<socket_stream_port>(fd);
}

// HOST:PORT, [HOST]:PORT for IPv6, split by host_port.hpp as --tcp was checked (and as --self --tcp's PF
// names its IPv6 listeners): getaddrinfo takes no brackets, and no empty HOST.
inline std::unique_ptr<stream_port> connect_tcp(const std::string& host_port, std::string& error) {
  const auto address = vpci::tools::split_host_port_to_connect(host_port);
  if (!address) {
    error = "expected HOST:PORT, got " + vpci::tools::quoted_text(host_port);
    return nullptr;
  }
  const std::string host(address->host), port(address->port);
  ::addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  ::addrinfo* found = nullptr;
  if (const int e = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &found); e != 0) {
    error = "resolve " + vpci::tools::quoted_text(host_port) + ": " + ::gai_strerror(e);
    return nullptr;
  }
  int fd = -1;
  for (::addrinfo* a = found; a != nullptr; a = a->ai_next) {
    fd = ::socket(a->ai_family, a->ai_socktype, a->ai_protocol);
    if (fd < 0) continue;
    if (::connect(fd, a->ai_addr, a->ai_addrlen) == 0) break;
    ::close(fd);
    fd = -1;
  }
  const int failure = errno;  // the last failed socket() or connect()'s, before anything may change it
  ::freeaddrinfo(found);
  if (fd < 0) {
    error = "connect " + vpci::tools::quoted_text(host_port) + ": " + std::strerror(failure);
    return nullptr;
  }
  const int one = 1;
  (void)::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return std::make_unique<socket_stream_port>(fd);
}

// A PF listening on a Unix path or TCP address (the second VF's on another, when given).
class socket_stream_target final : public stream_target {
 public:
  socket_stream_target(bool tcp, std::string first, std::string second)
      : tcp_(tcp), first_(std::move(first)), second_(std::move(second)) {}

  std::unique_ptr<stream_port> connect(int vf, std::string& error) override {
    const std::string& where = vf == 0 ? first_ : second_;
    if (where.empty()) {
      error = "no address for the second VF";
      return nullptr;
    }
    return tcp_ ? connect_tcp(where, error) : connect_unix(where, error);
  }
  [[nodiscard]] bool has_second() const override { return !second_.empty(); }

 private:
  bool tcp_;
  std::string first_, second_;
};

}  // namespace vpci::conformance
