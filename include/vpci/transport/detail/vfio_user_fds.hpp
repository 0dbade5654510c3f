// vpci/transport/detail/vfio_user_fds.hpp (hosted, not public API): file descriptors travelling with
// vfio-user messages as SCM_RIGHTS ancillary data on an AF_UNIX stream (QEMU docs/interop/vfio-user.rst,
// "VFIO_USER_DMA_MAP" and "VFIO_USER_DEVICE_SET_IRQS": "the descriptors are sent as SCM_RIGHTS type
// ancillary data"), and an owned descriptor list that closes what nobody took.
#pragma once

#include <array>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <span>
#include <utility>
#include <vector>

#include <poll.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#include <vpci/transport/detail/would_block.hpp>

namespace vpci::detail {

// Descriptors received with one message: closed on destruction unless taken.
class vfio_user_fd_list {
 public:
  vfio_user_fd_list() = default;
  vfio_user_fd_list(const vfio_user_fd_list&) = delete;
  vfio_user_fd_list& operator=(const vfio_user_fd_list&) = delete;
  vfio_user_fd_list(vfio_user_fd_list&& other) noexcept
      : fds_(std::move(other.fds_)), truncated_(std::exchange(other.truncated_, false)) {}
  vfio_user_fd_list& operator=(vfio_user_fd_list&& other) noexcept {
    if (this != &other) {
      clear();
      fds_ = std::move(other.fds_);
      truncated_ = std::exchange(other.truncated_, false);
    }
    return *this;
  }
  ~vfio_user_fd_list() { clear(); }

  [[nodiscard]] std::size_t size() const noexcept { return fds_.size(); }
  [[nodiscard]] bool empty() const noexcept { return fds_.empty(); }
  // The sender passed more descriptors than the receiver had room for (the surplus was closed).
  [[nodiscard]] bool truncated() const noexcept { return truncated_; }
  void mark_truncated() noexcept { truncated_ = true; }
  void push(int fd) { fds_.push_back(fd); }
  // Descriptor `i`, still held by the list (to look at before taking it); -1 when out of range.
  [[nodiscard]] int get(std::size_t i) const noexcept { return i < fds_.size() ? fds_[i] : -1; }
  // Takes descriptor `i` out of the list (the list no longer holds or closes it); -1 when out of range.
  [[nodiscard]] int take(std::size_t i) noexcept {
    if (i >= fds_.size()) return -1;
    const int fd = fds_[i];
    fds_.erase(fds_.begin() + static_cast<std::ptrdiff_t>(i));
    return fd;
  }
  void clear() noexcept {
    for (int fd : fds_)
      if (fd >= 0) ::close(fd);
    fds_.clear();
    truncated_ = false;
  }

 private:
  std::vector<int> fds_;
  bool truncated_{false};
};

// At most this many descriptors are accepted with one message; vpci's server announces it as max_msg_fds.
inline constexpr std::size_t vfio_user_max_fds = 8;

// One non-blocking recvmsg into `buffer`, descriptors appended to `fds` (close-on-exec; any beyond
// vfio_user_max_fds in the list are closed and the list marked truncated). Returns the bytes read, 0 at
// end of stream, -1 with errno set (EAGAIN: nothing to read now).
inline ssize_t vfio_user_receive(int socket, std::span<std::byte> buffer, vfio_user_fd_list& fds) noexcept {
  alignas(cmsghdr) std::array<char, CMSG_SPACE(sizeof(int) * vfio_user_max_fds)> control{};
  iovec io{buffer.data(), buffer.size()};
  msghdr message{};
  message.msg_iov = &io;
  message.msg_iovlen = 1;
  message.msg_control = control.data();
  message.msg_controllen = control.size();
  ssize_t n;
  do {
    n = ::recvmsg(socket, &message, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return n;
  for (cmsghdr* c = CMSG_FIRSTHDR(&message); c != nullptr; c = CMSG_NXTHDR(&message, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    const std::size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (std::size_t i = 0; i < count; ++i) {
      int fd;
      std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
      if (fds.size() < vfio_user_max_fds) {
        try {
          fds.push(fd);
        } catch (...) {
          ::close(fd);
          fds.mark_truncated();
        }
      } else {
        ::close(fd);
        fds.mark_truncated();
      }
    }
  }
  if ((message.msg_flags & MSG_CTRUNC) != 0) fds.mark_truncated();
  return n;
}

// Sends all of `bytes` (blocking), the descriptors with the first chunk. Returns 0 or an errno.
inline int vfio_user_send(int socket, std::span<const std::byte> bytes, std::span<const int> fds) noexcept {
  std::size_t sent = 0;
  while (sent < bytes.size()) {
    alignas(cmsghdr) std::array<char, CMSG_SPACE(sizeof(int) * vfio_user_max_fds)> control{};
    iovec io{const_cast<std::byte*>(bytes.data() + sent), bytes.size() - sent};
    msghdr message{};
    message.msg_iov = &io;
    message.msg_iovlen = 1;
    if (sent == 0 && !fds.empty()) {
      if (fds.size() > vfio_user_max_fds) return EINVAL;
      message.msg_control = control.data();
      message.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
      cmsghdr* c = CMSG_FIRSTHDR(&message);
      c->cmsg_level = SOL_SOCKET;
      c->cmsg_type = SCM_RIGHTS;
      c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
      std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
    }
    const ssize_t n = ::sendmsg(socket, &message, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (would_block(errno)) {  // Asio may have made the socket non-blocking
        pollfd writable{socket, POLLOUT, 0};
        (void)::poll(&writable, 1, -1);
        continue;
      }
      return errno;
    }
    sent += static_cast<std::size_t>(n);
  }
  return 0;
}

}  // namespace vpci::detail
