#include "wrapped_io.hpp"

#include <poll.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <array>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <string_view>
#include <utility>
#include <vector>

namespace vpci::test::wrapped_io {
namespace {

struct state {
  std::mutex mutex;
  std::condition_variable changed;
  bool chosen = false;
  dev_t device = 0;
  ino_t inode = 0;
  long fail_after = -1;  // -1: no fault
  int error = 0;
  bool holding = false;
  long held = 0;
  long accesses = 0;
  long failed = 0;
  std::function<void()> before_join;
  long interrupt_polls = 0;
  std::function<void()> meanwhile;
  std::vector<int> eventfd_poll_timeouts;
  std::array<int, 3> fail_next{};  // by failing_call: the errno the next call fails with, or 0
};

state& the_state() {
  static state s;
  return s;
}

// What the wrapper does with an access of `fd`: 0 to perform it, else the errno it fails with. Waits while
// accesses are held.
int decide(int fd) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return 0;
  state& s = the_state();
  std::unique_lock lock(s.mutex);
  if (!s.chosen || st.st_dev != s.device || st.st_ino != s.inode) return 0;
  const long index = s.accesses++;
  if (s.holding) {
    ++s.held;
    s.changed.notify_all();
    s.changed.wait(lock, [&s] { return !s.holding; });
    --s.held;
  }
  if (s.fail_after >= 0 && index >= s.fail_after) {
    ++s.failed;
    return s.error;
  }
  return 0;
}

}  // namespace

void choose(const std::string& path) {
  struct stat st {};
  const bool found = ::stat(path.c_str(), &st) == 0;
  state& s = the_state();
  const std::lock_guard lock(s.mutex);
  s.chosen = found;
  s.device = st.st_dev;
  s.inode = st.st_ino;
  s.fail_after = -1;
  s.error = 0;
  s.holding = false;
  s.accesses = 0;
  s.failed = 0;
  s.changed.notify_all();
}

void forget() {
  state& s = the_state();
  const std::lock_guard lock(s.mutex);
  s.chosen = false;
  s.fail_after = -1;
  s.holding = false;
  s.before_join = nullptr;
  s.interrupt_polls = 0;
  s.meanwhile = nullptr;
  s.eventfd_poll_timeouts.clear();
  s.fail_next = {};
  s.changed.notify_all();
}

void fail_from(long after, int error) {
  state& s = the_state();
  const std::lock_guard lock(s.mutex);
  s.fail_after = after;
  s.error = error;
}

void hold() {
  state& s = the_state();
  const std::lock_guard lock(s.mutex);
  s.holding = true;
}

void wait_held(long count) {
  state& s = the_state();
  std::unique_lock lock(s.mutex);
  s.changed.wait(lock, [&s, count] { return s.held >= count; });
}

void release() {
  state& s = the_state();
  const std::lock_guard lock(s.mutex);
  s.holding = false;
  s.changed.notify_all();
}

long accesses() {
  state& s = the_state();
  const std::lock_guard lock(s.mutex);
  return s.accesses;
}

long failed() {
  state& s = the_state();
  const std::lock_guard lock(s.mutex);
  return s.failed;
}

void on_next_join(std::function<void()> before_join) {
  state& s = the_state();
  const std::lock_guard lock(s.mutex);
  s.before_join = std::move(before_join);
}

void interrupt_eventfd_polls(long count, std::function<void()> meanwhile) {
  state& s = the_state();
  const std::lock_guard lock(s.mutex);
  s.interrupt_polls = count;
  s.meanwhile = std::move(meanwhile);
}

long eventfd_polls() {
  state& s = the_state();
  const std::lock_guard lock(s.mutex);
  return static_cast<long>(s.eventfd_poll_timeouts.size());
}

std::vector<int> eventfd_poll_timeouts() {
  state& s = the_state();
  const std::lock_guard lock(s.mutex);
  return s.eventfd_poll_timeouts;
}

void fail_next_call(failing_call call, int error) {
  state& s = the_state();
  const std::lock_guard lock(s.mutex);
  s.fail_next[static_cast<std::size_t>(call)] = error;
}

namespace {
// The errno the call fails with now (once), or 0 to perform it.
int take_failure(failing_call call) {
  state& s = the_state();
  const std::lock_guard lock(s.mutex);
  return std::exchange(s.fail_next[static_cast<std::size_t>(call)], 0);
}

bool is_eventfd(int fd) {
  char link[64] = {};
  const std::string path = "/proc/self/fd/" + std::to_string(fd);
  const ssize_t n = ::readlink(path.c_str(), link, sizeof link - 1);
  return n > 0 && std::string_view(link, static_cast<std::size_t>(n)) == "anon_inode:[eventfd]";
}
}  // namespace

}  // namespace vpci::test::wrapped_io

extern "C" {
ssize_t __real_pread(int fd, void* buffer, std::size_t count, off_t offset);
ssize_t __real_pwrite(int fd, const void* buffer, std::size_t count, off_t offset);
int __real_pthread_join(pthread_t thread, void** result);
int __real_poll(pollfd* fds, nfds_t count, int timeout);
int __real_pthread_create(pthread_t* thread, const pthread_attr_t* attributes, void* (*start)(void*), void* argument);
int __real_listen(int fd, int backlog);
int __real_epoll_ctl(int epoll, int operation, int fd, epoll_event* event);

int __wrap_pthread_create(pthread_t* thread, const pthread_attr_t* attributes, void* (*start)(void*), void* argument) {
  if (const int error = vpci::test::wrapped_io::take_failure(vpci::test::wrapped_io::failing_call::thread_start);
      error != 0)
    return error;  // pthread_create returns its error; errno is not set
  return __real_pthread_create(thread, attributes, start, argument);
}

int __wrap_listen(int fd, int backlog) {
  if (const int error = vpci::test::wrapped_io::take_failure(vpci::test::wrapped_io::failing_call::listen); error != 0) {
    errno = error;
    return -1;
  }
  return __real_listen(fd, backlog);
}

int __wrap_epoll_ctl(int epoll, int operation, int fd, epoll_event* event) {
  if (operation == EPOLL_CTL_ADD) {
    if (const int error = vpci::test::wrapped_io::take_failure(vpci::test::wrapped_io::failing_call::epoll_add);
        error != 0) {
      errno = error;
      return -1;
    }
  }
  return __real_epoll_ctl(epoll, operation, fd, event);
}

ssize_t __wrap_pread(int fd, void* buffer, std::size_t count, off_t offset) {
  if (const int error = vpci::test::wrapped_io::decide(fd); error != 0) {
    errno = error;
    return -1;
  }
  return __real_pread(fd, buffer, count, offset);
}

ssize_t __wrap_pwrite(int fd, const void* buffer, std::size_t count, off_t offset) {
  if (const int error = vpci::test::wrapped_io::decide(fd); error != 0) {
    errno = error;
    return -1;
  }
  return __real_pwrite(fd, buffer, count, offset);
}

int __wrap_pthread_join(pthread_t thread, void** result) {
  std::function<void()> before_join;
  {
    auto& s = vpci::test::wrapped_io::the_state();
    const std::lock_guard lock(s.mutex);
    before_join = std::exchange(s.before_join, nullptr);
  }
  if (before_join) before_join();
  return __real_pthread_join(thread, result);
}

int __wrap_poll(pollfd* fds, nfds_t count, int timeout) {
  namespace wrapped_io = vpci::test::wrapped_io;
  if (count == 1 && wrapped_io::is_eventfd(fds[0].fd)) {
    std::function<void()> meanwhile;
    {
      auto& s = wrapped_io::the_state();
      const std::lock_guard lock(s.mutex);
      s.eventfd_poll_timeouts.push_back(timeout);
      if (s.interrupt_polls > 0) {
        --s.interrupt_polls;
        meanwhile = s.meanwhile;
      }
    }
    if (meanwhile) {
      meanwhile();
      errno = EINTR;
      return -1;
    }
  }
  return __real_poll(fds, count, timeout);
}
}
