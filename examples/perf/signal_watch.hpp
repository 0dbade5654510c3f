// perf/signal_watch.hpp: Ctrl-C for a tool whose own thread may be blocked.
//
// SIGINT and SIGTERM are blocked in the thread that makes the watch, and so in every thread it starts
// afterwards, and are read from a signalfd by a thread of the watch's own. That thread calls the handler
// of the moment with the signal and how many have come since the handler was set. So a signal is seen at
// once even while the tool's thread waits in a synchronous exchange (a vfio-user server that stopped
// answering holds it up to the reply deadline); the handler decides what is posted to that thread and what
// cannot wait for it. Make the watch before any other thread, and only one.
#pragma once

#include <cerrno>
#include <cstddef>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <mutex>
#include <system_error>
#include <thread>
#include <utility>

#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

namespace vpci_perf {

class signal_watch {
 public:
  // signal: SIGINT or SIGTERM; count: 1 for the first since the handler was set. Called on the watch's
  // thread, never while set_handler() runs.
  using handler = std::function<void(int signal, unsigned count)>;

  signal_watch() {
    sigset_t watched;
    sigemptyset(&watched);
    sigaddset(&watched, SIGINT);
    sigaddset(&watched, SIGTERM);
    if (const int error = ::pthread_sigmask(SIG_BLOCK, &watched, &previous_mask_); error != 0)
      throw std::system_error(error, std::generic_category(), "blocking SIGINT and SIGTERM");
    signals_ = ::signalfd(-1, &watched, SFD_CLOEXEC);
    stop_ = ::eventfd(0, EFD_CLOEXEC);
    if (signals_ < 0 || stop_ < 0) {
      const int error = errno;
      close_all();
      throw std::system_error(error, std::generic_category(), "watching SIGINT and SIGTERM");
    }
    try {
      thread_ = std::thread([this] { watch(); });
    } catch (...) {  // a thread that cannot start: nothing kept, the signals unblocked again
      close_all();
      throw;
    }
  }
  // Stops the watch's thread, then unblocks the signals in this thread: one that came in between is
  // delivered then, and ends the tool as it ends any program.
  ~signal_watch() {
    const std::uint64_t one = 1;
    (void)!::write(stop_, &one, sizeof one);
    thread_.join();
    close_all();
  }
  signal_watch(const signal_watch&) = delete;
  signal_watch& operator=(const signal_watch&) = delete;

  // Replaces the handler and starts its count at 0. Once this returns the old handler is not running and
  // is not called again.
  void set_handler(handler h) {
    const std::lock_guard lock(mutex_);
    handler_ = std::move(h);
    count_ = 0;
  }

  // Ends the process as `signal` ends a program that does not handle it, after stdout and stderr are
  // flushed: a shell and a parent's waitpid() then see a program the signal ended (an interrupted shell
  // loop stops). For a handler to call.
  [[noreturn]] static void end_as(int signal) {
    std::fflush(stdout);
    std::fflush(stderr);
    std::signal(signal, SIG_DFL);
    sigset_t only;
    sigemptyset(&only);
    sigaddset(&only, signal);
    ::pthread_sigmask(SIG_UNBLOCK, &only, nullptr);
    ::pthread_kill(::pthread_self(), signal);
    std::_Exit(128 + signal);  // not reached: the default action of SIGINT and SIGTERM ends the process
  }

 private:
  void watch() {
    for (;;) {
      pollfd ready[2] = {{signals_, POLLIN, 0}, {stop_, POLLIN, 0}};
      if (::poll(ready, 2, -1) < 0) {
        if (errno == EINTR) continue;
        return;
      }
      if (ready[1].revents != 0) return;
      // Every signal pending now, in one read, handed to one handler under one lock: two that came
      // together (Ctrl-C twice while the tool could not react) are the first and the second to the same
      // handler. Read one at a time, the tool's thread could replace the handler between them (its run
      // ending after the first), and the second became the next stage's first.
      signalfd_siginfo infos[4]{};
      const ssize_t got = ::read(signals_, infos, sizeof infos);
      if (got < static_cast<ssize_t>(sizeof infos[0])) continue;
      const std::lock_guard lock(mutex_);
      for (std::size_t i = 0; i != static_cast<std::size_t>(got) / sizeof infos[0]; ++i) {
        ++count_;
        if (handler_) handler_(static_cast<int>(infos[i].ssi_signo), count_);
      }
    }
  }
  void close_all() noexcept {
    if (signals_ >= 0) ::close(signals_);
    if (stop_ >= 0) ::close(stop_);
    signals_ = stop_ = -1;
    ::pthread_sigmask(SIG_SETMASK, &previous_mask_, nullptr);
  }

  sigset_t previous_mask_{};
  int signals_{-1};
  int stop_{-1};
  std::mutex mutex_;
  handler handler_;
  unsigned count_{0};
  std::thread thread_;
};

}  // namespace vpci_perf
