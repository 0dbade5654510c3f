#include "wrapped_io.hpp"

#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <utility>

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

}  // namespace vpci::test::wrapped_io

extern "C" {
ssize_t __real_pread(int fd, void* buffer, std::size_t count, off_t offset);
ssize_t __real_pwrite(int fd, const void* buffer, std::size_t count, off_t offset);
int __real_pthread_join(pthread_t thread, void** result);

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
}
