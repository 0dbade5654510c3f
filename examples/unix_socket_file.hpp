// examples/unix_socket_file.hpp: the socket file a tool listening on an AF_UNIX path makes (vpci-perf's PF
// role on --unix PATH, vpci-vfio-user-device on SOCKET), and the endpoint of such a path for listening and
// connecting alike (unix_endpoint). What was at the path before is never removed unless it was a stale
// socket (nobody listening): a regular file is the user's, and replacing a socket another process listens
// on would leave that process serving where no client can reach it. At the end the path is unlinked only
// while it is still this socket. Each of the two is one step under an exclusive flock of the path's
// directory: two tools started at once on one stale path would otherwise both find it stale, and the
// second would unlink the first one's socket and bind its own. The messages name the path as
// quoted_text.hpp quotes the user's text: a newline in it would split them, an escape sequence drive the
// terminal.
#pragma once

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/socket_base.hpp>
#include <boost/system/system_error.hpp>

#include "quoted_text.hpp"

namespace vpci::tools {

// The endpoint of AF_UNIX path `path`. Asio's endpoint throws for a path longer than sun_path, with a
// source location in its text: a tool says instead what it could not do, `failing` (naming the path,
// quoted), and why, as std::runtime_error.
inline boost::asio::local::stream_protocol::endpoint unix_endpoint(const std::string& path,
                                                                   const std::string& failing) {
  try {
    return boost::asio::local::stream_protocol::endpoint(path);
  } catch (const boost::system::system_error& e) {
    throw std::runtime_error(failing + ": " + e.code().message());
  }
}

class unix_socket_file {
 public:
  using acceptor_type = boost::asio::local::stream_protocol::acceptor;

  // Makes `acceptor` listen at `path`. Throws std::runtime_error with a message naming the path when
  // something else is there, when a process listens on it, or when the socket cannot be made there (a
  // missing directory, no permission, a name longer than sun_path).
  unix_socket_file(acceptor_type& acceptor, const std::string& path) : path_(path) {
    // Checked before the path is judged, and said as a failure to listen there.
    const auto endpoint = unix_endpoint(path, "cannot listen on " + quoted_text(path));
    const directory_lock lock(path);
    struct ::stat found {};
    if (::lstat(path.c_str(), &found) == 0) {
      if (!S_ISSOCK(found.st_mode))
        throw std::runtime_error(quoted_text(path) + " exists and is not a socket; give another socket path");
      if (listened_on(path))
        throw std::runtime_error("another process is listening on " + quoted_text(path) + "; give another socket path");
      ::unlink(path.c_str());  // stale: its listener is gone
    } else if (const int failure = errno; failure != ENOENT) {  // before the message is built, which may change errno
      throw std::runtime_error("cannot use " + quoted_text(path) + ": " + std::strerror(failure));
    }
    boost::system::error_code ec;
    acceptor.open(endpoint.protocol(), ec);
    bool bound = false;
    if (!ec) {
      acceptor.bind(endpoint, ec);
      bound = !ec;
    }
    if (!ec) acceptor.listen(boost::asio::socket_base::max_listen_connections, ec);
    if (ec) {
      // Nothing left behind: the socket closed, and the file its bind made (the lock is still held, so the
      // file is the one made here).
      boost::system::error_code ignored;
      acceptor.close(ignored);
      if (bound) ::unlink(path.c_str());
      throw std::runtime_error("cannot listen on " + quoted_text(path) + ": " + ec.message());
    }
    struct ::stat made {};
    if (::lstat(path.c_str(), &made) == 0) identity_ = made;
  }
  ~unix_socket_file() { remove(); }
  unix_socket_file(const unix_socket_file&) = delete;
  unix_socket_file& operator=(const unix_socket_file&) = delete;

  // Unlinks the path if it still names the socket made here (someone may have replaced it).
  void remove() noexcept {
    if (!identity_) return;
    const directory_lock lock(path_);
    struct ::stat now {};
    if (::lstat(path_.c_str(), &now) == 0 && now.st_dev == identity_->st_dev && now.st_ino == identity_->st_ino)
      ::unlink(path_.c_str());
    identity_.reset();
  }

 private:
  // An exclusive flock of the directory holding `path`, held for its scope; none where the directory
  // cannot be opened (its socket is then made or removed without one).
  class directory_lock {
   public:
    explicit directory_lock(const std::string& path) {
      const auto directory = std::filesystem::path(path).parent_path();
      fd_ = ::open(directory.empty() ? "." : directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      while (fd_ >= 0 && ::flock(fd_, LOCK_EX) != 0 && errno == EINTR) {
      }
    }
    ~directory_lock() {
      if (fd_ >= 0) ::close(fd_);  // releases the lock
    }
    directory_lock(const directory_lock&) = delete;
    directory_lock& operator=(const directory_lock&) = delete;

   private:
    int fd_{-1};
  };

  // A connect that succeeds, or would wait for a full backlog, finds a listener; refused means the socket
  // is stale. Anything else (no permission) is no proof of staleness: the path is left alone.
  static bool listened_on(const std::string& path) {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return true;
    ::sockaddr_un address{};
    address.sun_family = AF_UNIX;
    path.copy(address.sun_path, sizeof address.sun_path - 1);
    const bool refused = ::connect(fd, reinterpret_cast<const ::sockaddr*>(&address), sizeof address) != 0 &&
                         (errno == ECONNREFUSED || errno == ENOENT);
    ::close(fd);
    return !refused;
  }

  std::string path_;
  std::optional<struct ::stat> identity_;
};

}  // namespace vpci::tools
