// vpci::detail::shm_object_lock: how processes agree on which shared object a name refers to.
//
// A name changes hands in three ways: a creator makes an object under it and initialises it, a replacer
// unlinks the object it names, a device that ends unlinks its own. Each holds an exclusive flock on the
// object the name refers to while it changes anything, and checks under that lock that the name still
// refers to that object (another process may have changed it while this one waited). A creator locks its
// fresh object before it sizes it and keeps the lock until the object is published, so nobody judges a
// half-made object: an opener's shared lock waits for the publication, and an object found unpublished
// under the lock was left by a creator that died there, except an empty one: in the instant between a
// creator's shm_open and its flock the object is empty and unlocked. An opener then takes it for not
// there yet (ENOENT), and a replacer may lock it first and take the name: the creator then finds its
// name gone under its lock and starts again, meeting the replacer's object. Closing the descriptor is
// not enough to let go: the creator's mapping keeps the open file description, and with it the lock,
// alive; so the lock is released explicitly.
//
// flock, not a robust futex as for liveness: this lock is held for microseconds by one thread of a
// process that is running the code that took it, never across a fork the process makes on purpose. A
// holder that never lets go (a process forked while another thread held it, or anyone who opened the
// object and locked it) makes the others give up after a bounded wait, never hang.
#pragma once

#include <vpci/protocol/cxx20.hpp>

#include <cerrno>
#include <chrono>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <string>

namespace vpci::detail {

// How long a process waits for another's hold on an object's lock: every hold is an initialisation, a
// judgement and an unlink, microseconds to a few milliseconds (the device's presence thread starts under
// it).
inline constexpr std::chrono::milliseconds shm_object_lock_patience{2000};

// Takes `operation` (LOCK_EX or LOCK_SH) on the object behind `fd`, waiting at most
// shm_object_lock_patience for a holder to let go; false (errno EWOULDBLOCK) when none did, or with the
// errno of a failing flock.
inline bool lock_shm_object(int fd, int operation) noexcept {
  const auto give_up = std::chrono::steady_clock::now() + shm_object_lock_patience;
  long pause_ns = 20'000;
  for (;;) {
    if (::flock(fd, operation | LOCK_NB) == 0) return true;
    if (errno == EINTR) continue;
    if (errno != EWOULDBLOCK || std::chrono::steady_clock::now() >= give_up) return false;
    const ::timespec pause{0, pause_ns};
    (void)::nanosleep(&pause, nullptr);
    pause_ns = pause_ns < 5'000'000 ? pause_ns * 2 : pause_ns;
  }
}

inline void unlock_shm_object(int fd) noexcept { (void)::flock(fd, LOCK_UN); }

// Whether `name` refers to the object behind `fd` right now.
inline bool shm_name_refers_to(const std::string& name, int fd) noexcept {
  struct ::stat held {};
  if (::fstat(fd, &held) != 0) return false;
  const int named = ::shm_open(name.c_str(), O_RDONLY, 0);
  if (named < 0) return false;
  struct ::stat current {};
  const bool same = ::fstat(named, &current) == 0 && current.st_dev == held.st_dev && current.st_ino == held.st_ino;
  ::close(named);
  return same;
}

// A descriptor closed, and its object's lock released, when the scope ends.
class shm_locked_fd {
 public:
  explicit shm_locked_fd(int fd) noexcept : fd_(fd) {}
  shm_locked_fd(const shm_locked_fd&) = delete;
  shm_locked_fd& operator=(const shm_locked_fd&) = delete;
  ~shm_locked_fd() {
    if (locked_) unlock_shm_object(fd_);
    ::close(fd_);
  }
  [[nodiscard]] bool lock(int operation) noexcept { return locked_ = lock_shm_object(fd_, operation); }
  void unlock() noexcept {
    if (locked_) unlock_shm_object(fd_);
    locked_ = false;
  }
  [[nodiscard]] int get() const noexcept { return fd_; }

 private:
  int fd_;
  bool locked_ = false;
};

}  // namespace vpci::detail
