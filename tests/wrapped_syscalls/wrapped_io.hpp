// What pread and pwrite do to one chosen file in vpci_wrapped_syscall_tests, whose link wraps them
// (--wrap=pread, --wrap=pwrite, --wrap=pthread_join, --wrap=poll): the kernel's answers a regular file
// never gives (ENODEV when Linux removes a function under its open sysfs file, EPERM under lockdown, EIO),
// and accesses held in the kernel (a reset holding config access), as a test decides. Every other file,
// and the chosen one until told otherwise, is read and written as usual. And poll(2) on an eventfd
// interrupted by a signal, as a process with an interval timer or a profiler sees it; and a thread, a
// listen or a reactor registration that fails once (--wrap=pthread_create, listen, epoll_ctl).
#pragma once

#include <functional>
#include <string>
#include <vector>

namespace vpci::test::wrapped_io {

// Chooses the file at `path` (by device and inode) and resets what follows; no fault, nothing held.
void choose(const std::string& path);
// No file chosen: everything as usual again, nothing held.
void forget();

// From the chosen file's `after`-th access on (0: the next), every access fails with `error`.
void fail_from(long after, int error);

// Accesses of the chosen file wait, from now on, until release(); wait_held() returns once `count` of them
// are waiting (a worker thread is inside its system call).
void hold();
void wait_held(long count);
void release();

// The chosen file's accesses since choose(), and how many of them failed by fail_from.
long accesses();
long failed();

// Runs `before_join` (once) when the next pthread_join starts: a thread pool's join is where close()
// waits for its worker, after it has flagged the operations still queued.
void on_next_join(std::function<void()> before_join);

// The next call of one of these fails with `error`, once: pthread_create (a thread the process cannot
// start), listen(2), epoll_ctl(2) adding a descriptor (the reactor's registration of a socket).
enum class failing_call { thread_start, listen, epoll_add };
void fail_next_call(failing_call call, int error);

// The next `count` calls of poll(2) on one eventfd (an interrupt's) fail with EINTR, each after calling
// `meanwhile` (what the signal's handler took: a test moves its clock); the others poll as usual.
void interrupt_eventfd_polls(long count, std::function<void()> meanwhile);
// The calls of poll(2) on one eventfd since forget(), and the timeout (ms) each was given.
long eventfd_polls();
std::vector<int> eventfd_poll_timeouts();

// A test fixture: the case starts and ends with no file chosen. (A named type: a test case derives from
// it, and g++ warns of a base of internal linkage in a unity build.)
struct no_file_chosen {
  no_file_chosen() { forget(); }
  ~no_file_chosen() { forget(); }
  no_file_chosen(const no_file_chosen&) = delete;
  no_file_chosen& operator=(const no_file_chosen&) = delete;
};

}  // namespace vpci::test::wrapped_io
