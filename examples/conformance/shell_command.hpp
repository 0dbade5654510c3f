// vpci-conformance: running a --invalidate-cmd / --restart-cmd / --flr-cmd through the shell and saying how
// it failed. std::system returns a wait status, not an exit status: `exit 1` is 256 and a command killed by
// SIGTERM is 15, numbers a user would read as the wrong status or as none. The status is decoded here, once.
#pragma once

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include <sys/wait.h>

#include "../quoted_text.hpp"

namespace vpci::conformance {

// "SIGTERM" for SIGTERM: the name a user knows from kill(1). Signal numbers differ between architectures,
// so the table is of the macros; a signal not in it is given by its number.
inline std::string signal_name(int number) {
  struct named {
    int number;
    std::string_view name;
  };
  static constexpr named names[] = {
      {SIGHUP, "SIGHUP"},   {SIGINT, "SIGINT"},   {SIGQUIT, "SIGQUIT"}, {SIGILL, "SIGILL"},   {SIGTRAP, "SIGTRAP"},
      {SIGABRT, "SIGABRT"}, {SIGBUS, "SIGBUS"},   {SIGFPE, "SIGFPE"},   {SIGKILL, "SIGKILL"}, {SIGUSR1, "SIGUSR1"},
      {SIGSEGV, "SIGSEGV"}, {SIGUSR2, "SIGUSR2"}, {SIGPIPE, "SIGPIPE"}, {SIGALRM, "SIGALRM"}, {SIGTERM, "SIGTERM"},
      {SIGXCPU, "SIGXCPU"}, {SIGXFSZ, "SIGXFSZ"}, {SIGSYS, "SIGSYS"},
  };
  for (const named& n : names)
    if (n.number == number) return std::string(n.name);
  return std::to_string(number);
}

// Runs `command` through the shell and waits for it. Empty when it exited with status 0; otherwise how it
// ended, the command quoted (it is the user's text).
//
// std::system ignores SIGINT and SIGQUIT in this process while the command runs, so a Ctrl-C then reaches
// only the command: the tool would go on to its next case as if the command had merely failed, and a user
// would have to press Ctrl-C again at a moment with no command running. A command ended by either signal is
// taken as the user's interrupt (POSIX's advice for callers of system()): the signal is raised here, so the
// tool ends by it as it would have with no command running. Where this process ignores it (started with it
// ignored, as a background job of a shell), raising it does nothing and the command is reported as failed.
inline std::string run_shell_command(const std::string& command) {
  const int status = std::system(command.c_str());
  if (status != -1 && WIFSIGNALED(status) && (WTERMSIG(status) == SIGINT || WTERMSIG(status) == SIGQUIT))
    std::raise(WTERMSIG(status));
  const std::string quoted = vpci::tools::quoted_text(command);
  // -1: no child, or its status could not be obtained (errno says why); the shell never ran the command.
  if (status == -1) return quoted + " could not be run: starting the shell failed: " + std::strerror(errno);
  if (WIFEXITED(status)) {
    const int code = WEXITSTATUS(status);
    if (code == 0) return {};
    // std::system reports a shell it could not execute as exit status 127, and so does the shell for a
    // command it cannot find: the two cannot be told apart here, so both are named.
    if (code == 127) return quoted + " exited with status 127 (the shell could not be run, or found no such command)";
    return quoted + " exited with status " + std::to_string(code);
  }
  if (WIFSIGNALED(status)) return quoted + " was ended by signal " + signal_name(WTERMSIG(status));
  // std::system waits without WUNTRACED, so a stopped child is not reported; kept for a status no rule covers.
  return quoted + " ended with wait status " + std::to_string(status);
}

}  // namespace vpci::conformance
