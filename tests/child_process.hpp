// tests/child_process.hpp: a child process a test started, waited for through a pidfd so that every wait
// for its end is bounded without sleeping, and killed and reaped if the test forgets it.
#pragma once

#include <cerrno>
#include <csignal>

#include <poll.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

namespace vpci::test {

class child_process {
 public:
  // How long wait_exit() lets the child take before it kills it: no step of a working peer comes near it.
  static constexpr int guard_ms = 10'000;

  explicit child_process(::pid_t pid) : pid_(pid), pidfd_(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0))) {}
  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;
  ~child_process() {
    if (pid_ > 0) kill();
    if (pidfd_ >= 0) ::close(pidfd_);
  }

  // SIGKILL, then reap: when this returns, the kernel has finished the child's exit.
  void kill() {
    ::kill(pid_, SIGKILL);
    (void)reap();
  }
  void signal(int number) const { ::kill(pid_, number); }
  // Waits (at most guard_ms, then kills it) for the child to exit by itself; its exit status, -1 if it
  // did not exit normally.
  int wait_exit() {
    ::pollfd ended{pidfd_, POLLIN, 0};
    if (pidfd_ < 0 || ::poll(&ended, 1, guard_ms) != 1) ::kill(pid_, SIGKILL);
    return reap();
  }
  [[nodiscard]] ::pid_t pid() const noexcept { return pid_; }
  [[nodiscard]] bool running() const noexcept { return pid_ > 0; }

 private:
  int reap() {
    int status = 0;
    ::pid_t reaped = -1;
    do {
      reaped = ::waitpid(pid_, &status, 0);
    } while (reaped < 0 && errno == EINTR);
    pid_ = -1;
    return reaped >= 0 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

  ::pid_t pid_;
  int pidfd_;
};

}  // namespace vpci::test
