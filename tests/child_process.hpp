// tests/child_process.hpp: a child process a test started, waited for through a pidfd so that every wait
// for its end is bounded without sleeping, and killed and reaped if the test forgets it; and a program
// started as one, its output read through a pipe, every wait for a line of it bounded too; and the one
// question the tests ask of that output, whether it holds a text.
#pragma once

#include <cerrno>
#include <chrono>
#include <csignal>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <fcntl.h>
#include <poll.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

namespace vpci::test {

// Whether a program's output holds `part`: what the tests that run the tools ask of it.
inline bool contains(std::string_view output, std::string_view part) { return output.find(part) != std::string_view::npos; }

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
  // The signal that ended the child once reaped (0 when it exited, or was not reaped yet).
  [[nodiscard]] int end_signal() const noexcept { return end_signal_; }

 private:
  int reap() {
    int status = 0;
    ::pid_t reaped = -1;
    do {
      reaped = ::waitpid(pid_, &status, 0);
    } while (reaped < 0 && errno == EINTR);
    pid_ = -1;
    end_signal_ = reaped >= 0 && WIFSIGNALED(status) ? WTERMSIG(status) : 0;
    return reaped >= 0 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

  ::pid_t pid_;
  int pidfd_;
  int end_signal_ = 0;
};

// A program run as a child process with its stdout (and, if asked, its stderr) on a pipe. The destructor
// stops a program still running with SIGTERM (a clean stop, so that it removes what it created), then
// kills it if it does not end within the guard.
// Whether `check` holds in a forked child: for a test's precondition that changes the process for good
// (a namespace, a seccomp filter) and so can only be tried where nothing else runs afterwards.
template <class Check>
bool holds_in_a_child(Check check) {
  const ::pid_t pid = ::fork();
  if (pid < 0) return false;
  if (pid == 0) ::_exit(check() ? 0 : 1);
  child_process probe(pid);
  return probe.wait_exit() == 0;
}

class program_process {
 public:
  enum class capture { stdout_only, stdout_and_stderr };

  // `args[0]` is the program's path. running() is false if the pipe or the fork failed.
  explicit program_process(std::vector<std::string> args, capture what = capture::stdout_only) {
    int out[2];
    if (::pipe2(out, O_CLOEXEC) != 0) return;
    std::vector<char*> argv;  // made before the fork: the child only calls async-signal-safe functions
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    const ::pid_t pid = ::fork();
    if (pid < 0) {
      ::close(out[0]);
      ::close(out[1]);
      return;
    }
    if (pid == 0) {
      ::dup2(out[1], STDOUT_FILENO);
      if (what == capture::stdout_and_stderr) ::dup2(out[1], STDERR_FILENO);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    ::close(out[1]);
    output_fd_ = out[0];
    process_.emplace(pid);
  }
  program_process(const program_process&) = delete;
  program_process& operator=(const program_process&) = delete;
  ~program_process() {
    if (running()) {
      process_->signal(SIGTERM);
      (void)wait_exit();
    }
    if (output_fd_ >= 0) ::close(output_fd_);
  }

  [[nodiscard]] bool running() const noexcept { return process_ && process_->running(); }
  [[nodiscard]] ::pid_t pid() const noexcept { return running() ? process_->pid() : -1; }
  // Reads the output until `text` is in it (at most child_process::guard_ms). False if the program's
  // output ended first or it took too long.
  bool wait_for_output(std::string_view text) {
    const auto deadline = guard_deadline();
    while (output_.find(text) == std::string::npos)
      if (!read_some(deadline)) return false;
    return true;
  }
  void signal(int number) const {
    if (running()) process_->signal(number);
  }
  // Waits (bounded, then SIGKILL) for the program to exit and reads the rest of its output; its exit
  // status, -1 if it did not exit normally (or never started).
  int wait_exit() {
    if (!running()) return -1;
    const int status = process_->wait_exit();
    const auto deadline = guard_deadline();
    while (read_some(deadline)) {
    }
    return status;
  }
  [[nodiscard]] const std::string& output() const noexcept { return output_; }
  // The signal that ended the program once wait_exit() returned (0 when it exited by itself).
  [[nodiscard]] int end_signal() const noexcept { return process_ ? process_->end_signal() : 0; }

 private:
  static std::chrono::steady_clock::time_point guard_deadline() {
    return std::chrono::steady_clock::now() + std::chrono::milliseconds(child_process::guard_ms);
  }
  // Appends what the program wrote next; false once its output ended or `deadline` passed.
  bool read_some(std::chrono::steady_clock::time_point deadline) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    ::pollfd readable{output_fd_, POLLIN, 0};
    if (output_fd_ < 0 || left.count() <= 0 || ::poll(&readable, 1, static_cast<int>(left.count())) != 1) return false;
    char buffer[256];
    const ::ssize_t n = ::read(output_fd_, buffer, sizeof buffer);
    if (n <= 0) return false;
    output_.append(buffer, static_cast<std::size_t>(n));
    return true;
  }

  std::optional<child_process> process_;
  int output_fd_ = -1;
  std::string output_;
};

}  // namespace vpci::test
