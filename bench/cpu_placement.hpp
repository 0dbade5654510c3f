// Where the cross-thread benchmarks run their threads. A row that measures a round trip between two
// threads (a VF and its PF, an echo client and its server) places them as a deployment does: the client
// on one CPU, the server on another, so every round trip wakes the other CPU, in every row and in both
// halves of a paired row. Left to the scheduler, a server thread sometimes shared the client's CPU and
// sometimes not. On a VM whose idle vCPUs wake slowly the two cases differ by 5x: on the AMD host of
// bench/RESULTS.md's ninth pass, BM_read_block_hyperv_uds_paired read 0.2x and 5.8x in runs minutes
// apart, whichever world's server happened to share the benchmark thread's CPU being the fast one. With
// one CPU nothing is placed.
#pragma once

#include <array>
#include <cstddef>

#include <pthread.h>
#include <sched.h>

namespace vpci_bench {

// The first CPUs this process may use, in order, as it had them at its first placement: a thread placed
// since (the benchmark thread inside a placed_scope, and the threads it starts, which inherit its CPU)
// still places the others on CPUs of their own. pin(i) places the calling thread on the i-th.
class cpu_placement {
 public:
  static constexpr std::size_t client = 0;  // the benchmark thread: a VF, an echo client
  static constexpr std::size_t server = 1;  // a PF's, a device's or an echo server's thread

  cpu_placement() : cpus_(process_cpus()) {}
  // How many CPUs threads are placed on (0: one CPU, nothing placed).
  [[nodiscard]] std::size_t placed() const noexcept { return cpus_.count < 2 ? 0 : cpus_.count; }
  // Places the calling thread on the `which`-th CPU (0, 1 or 2; past the last one, the last).
  void pin(std::size_t which) const {
    if (placed() == 0) return;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpus_.cpus[which < cpus_.count ? which : cpus_.count - 1], &set);
    (void)pthread_setaffinity_np(pthread_self(), sizeof set, &set);
  }

 private:
  struct cpu_list {
    std::array<std::size_t, 3> cpus{};
    std::size_t count{0};
  };
  static const cpu_list& process_cpus() {
    static const cpu_list first = [] {
      cpu_list list;
      cpu_set_t allowed;
      CPU_ZERO(&allowed);
      if (sched_getaffinity(0, sizeof allowed, &allowed) != 0) return list;
      for (std::size_t cpu = 0; cpu != std::size_t{CPU_SETSIZE} && list.count != list.cpus.size(); ++cpu)
        if (CPU_ISSET(cpu, &allowed)) list.cpus[list.count++] = cpu;
      return list;
    }();
    return first;
  }

  cpu_list cpus_;
};

// Places the calling thread, a server's (PF, device, echo server), on the server CPU for good.
inline void place_as_server() { cpu_placement{}.pin(cpu_placement::server); }

// Places the calling thread (the benchmark's own) on the `which`-th CPU for the scope, then gives it back
// the CPUs it had.
class placed_scope {
 public:
  explicit placed_scope(std::size_t which = cpu_placement::client) {
    CPU_ZERO(&before_);
    saved_ = pthread_getaffinity_np(pthread_self(), sizeof before_, &before_) == 0;
    cpu_placement{}.pin(which);
  }
  placed_scope(const placed_scope&) = delete;
  placed_scope& operator=(const placed_scope&) = delete;
  ~placed_scope() {
    if (saved_) (void)pthread_setaffinity_np(pthread_self(), sizeof before_, &before_);
  }

 private:
  cpu_set_t before_;
  bool saved_{false};
};

}  // namespace vpci_bench
