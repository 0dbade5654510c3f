// Isolation between VFs: how much a flooding VF raises another VF's latency, on each binding. One PF
// thread serves two VFs. VF 1, the measured one, reads one block at a time on the benchmark thread; with
// the argument 1, VF 0 floods the PF from a thread of its own (start_flood) for the whole run (binding 1:
// 16 reads queued on its window; binding 2: 64 reads always in flight on its stream). Counters: p50_ns
// and p99_ns of VF 1's reads, the flood's reads per VF 1 read, and cpus (how many CPUs the three threads
// were placed on); scripts/bench divides flood/1's p99 by flood/0's (same run).
//   flood_mailbox  shared memory, one space per VF, the PF serving both windows on their doorbells
//   flood_hyperv   Unix socket pairs, the PF serving both streams
//
// Where the threads run (flood_cpus): the figure is meant to be the PF's isolation, what the flood costs
// VF 1 through the PF (its one thread, the order it takes turns in, its writes). A flooding VF's client
// runs in its own VM on CPUs of its own; here it is a thread that is busy all the time. Left to the
// scheduler on 2 CPUs, the three threads (PF, flooder, VF 1) took turns on the cores: measured on
// binding 2 (PF instrumented, 20000 reads), between VF 1's request and its execution the PF ran at most
// 16 of the flood's frames (two turns) at p99, and executing and writing VF 1's answer took under 2 us,
// while p99 was 50-100 us: the PF's and VF 1's threads waiting on a run queue (their schedstat wait per
// read 3x to 5x the unflooded run's). That is the host scheduler, not the PF. So the threads are placed:
// with 3 or more CPUs each has its own; with 1, nothing is placed; with 2, the PF has one to itself and
// the two VFs' clients share the other. (The PF and VF 1 shared one until the VF side got cheap enough
// for the flood to saturate the PF: VF 1 then waited for a CPU the PF never gave up, the host scheduler
// again. Measured on binding 2, 3 runs of 3 repetitions each way: VF 1 beside the PF 1.63x, 2.16x,
// 2.77x, its p50 doubling; VF 1 beside the flooder, which mostly waits for the PF, 1.26x, 1.28x, 1.19x,
// its p50 up 10 to 15 %. The unflooded p99 is 9 to 12 us beside the PF and 24 to 28 us across CPUs,
// where each request wakes the other CPU, as a VF's request to the PF does in a deployment.) The flood
// keeps the PF busy (the flooder keeps its requests in flight, so the PF has the flood's frames to take
// turns with whenever VF 1 asks). On a host where the PF got fast enough for the flooder's thread to be busy
// all the time (AMD EPYC, 2 vCPUs, bench/RESULTS.md ninth pass), VF 1 then waited for the CPU it
// shares with the flooder: binding 2 p99 0.85 to 2.6 ms against 92 to 143 us unflooded, each read of
// VF 1 taking 94 to 97 us of wall time for a p50 of 30 to 43 us. So on 2 CPUs the flooder runs at
// SCHED_IDLE: on its CPU it has whatever VF 1 does not use, the way a VM of its own would leave VF 1
// alone. The counter pf_busy (the PF thread's CPU time over the wall time) shows the flood still pressing
// the PF: 0.72 flooded against 0.36 unflooded on that host, at 28 to 32 flood reads per read of VF 1.
#include <array>
#include <chrono>
#include <cstddef>
#include <functional>
#include <optional>
#include <span>
#include <thread>
#include <utility>
#include <vector>

#include <pthread.h>
#include <sched.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/connect_pair.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <vpci/asio/pf_endpoint.hpp>
#include <vpci/asio/vf_endpoint.hpp>
#include <vpci/asio/vf_message_endpoint.hpp>
#include <vpci/transport/shm_config_space.hpp>

#include "alloc_counter.hpp"
#include "bench_support.hpp"
#include "cpu_placement.hpp"
#include "perf/latency_histogram.hpp"

using namespace vpci_bench;

namespace {

constexpr vpci::block_id flood_block{3};
constexpr std::size_t flood_size = 128;
constexpr vpci::hyperv::wslot flood_slot{2, 1};
using clock_type = std::chrono::steady_clock;

std::vector<std::byte> flood_pattern() { return std::vector<std::byte>(flood_size, std::byte{0x5A}); }

void report_latency(benchmark::State& state, const vpci_perf::latency_histogram& h) {
  state.counters["p50_ns"] = static_cast<double>(h.percentile(50));
  state.counters["p99_ns"] = static_cast<double>(h.percentile(99));
}

// VF 1's reads, one at a time on `io` (co_await each), one per iteration; their latency goes into `h`.
// Then `finish` runs on `io` (it stops the flood and closes what keeps `io` busy).
template <class Endpoint, class Finish>
void measure(benchmark::State& state, boost::asio::io_context& io, Endpoint& vf, vpci_perf::latency_histogram& h,
             Finish finish) {
  boost::asio::co_spawn(
      io,
      [&]() -> boost::asio::awaitable<void> {
        std::array<std::byte, flood_size> buffer{};
        boost::system::error_code ec;
        auto token = boost::asio::redirect_error(boost::asio::use_awaitable, ec);
        for (int i = 0; i < warmup_operations; ++i) (void)co_await vf.async_read_block(flood_block, buffer, token);
        for (auto _ : state) {
          const auto start = clock_type::now();
          const std::size_t n = co_await vf.async_read_block(flood_block, buffer, token);
          h.record(static_cast<std::uint64_t>(
              std::chrono::duration_cast<std::chrono::nanoseconds>(clock_type::now() - start).count()));
          if (ec || n != flood_size) {
            state.SkipWithError(ec ? ec.message().c_str() : "short read");
            break;
          }
        }
        finish();
      },
      rethrow);
  io.run();
}

// VF 0's flood: `depth` reads always in flight (each completion starts the next) until stop(), then
// `drained` once none is. A read that fails ends its slot and is counted (counter flood_errors): a PF
// that answered busy would otherwise thin the flood out unnoticed.
template <class Endpoint>
class flooder {
 public:
  flooder(Endpoint& vf, std::size_t depth, std::function<void()> drained)
      : vf_(vf), depth_(depth), drained_(std::move(drained)) {}
  void start() {
    for (std::size_t i = 0; i != depth_; ++i) issue(i);
  }
  void stop() {
    stopping_ = true;
    if (outstanding_ == 0 && drained_) std::exchange(drained_, nullptr)();
  }
  [[nodiscard]] std::uint64_t completed() const noexcept { return completed_; }
  [[nodiscard]] std::uint64_t failed() const noexcept { return failed_; }

 private:
  void issue(std::size_t i) {
    ++outstanding_;
    vf_.async_read_block(flood_block, buffers_[i], [this, i](boost::system::error_code ec, std::size_t) {
      --outstanding_;
      ++completed_;
      if (ec && !stopping_) ++failed_;
      if (!ec && !stopping_) return issue(i);
      if (outstanding_ == 0 && drained_) std::exchange(drained_, nullptr)();
    });
  }
  Endpoint& vf_;
  std::size_t depth_;
  std::function<void()> drained_;
  std::array<std::array<std::byte, flood_size>, 64> buffers_{};
  std::size_t outstanding_{0};
  std::uint64_t completed_{0};
  std::uint64_t failed_{0};
  bool stopping_{false};
};

// The CPUs of the three threads (see the top of the file): the PF on the server CPU, VF 1 on the
// client CPU, the flooder on a third or (2 CPUs) beside VF 1.
class flood_cpus {
 public:
  [[nodiscard]] std::size_t placed() const noexcept { return cpus_.placed(); }
  void pf() const { place_as_server(); }
  // Sharing VF 1's CPU (2 CPUs), the flooder runs at SCHED_IDLE: it takes all the time VF 1 leaves and
  // never any VF 1 wants, as a flooding VF's client in a VM of its own cannot (see the top of the file).
  void flooder() const {
    if (placed() == 2) {
      cpus_.pin(cpu_placement::client);
      sched_param none{};
      (void)pthread_setschedparam(pthread_self(), SCHED_IDLE, &none);
    } else {
      cpus_.pin(2);  // a CPU of its own (nothing placed on 1 CPU)
    }
  }

 private:
  cpu_placement cpus_;
};

// CPU time a thread has run so far (its CPU-time clock); zero when the clock cannot be read.
std::chrono::nanoseconds cpu_time(std::thread& thread) {
  clockid_t clock{};
  timespec now{};
  if (pthread_getcpuclockid(thread.native_handle(), &clock) != 0 || clock_gettime(clock, &now) != 0) return {};
  return std::chrono::seconds(now.tv_sec) + std::chrono::nanoseconds(now.tv_nsec);
}

// How busy the PF's thread was while VF 1 was measured: its CPU time over the wall time (1: it never
// waited for work). Reported as the counter pf_busy, so a run shows how hard the flood pressed the PF.
class pf_busy_meter {
 public:
  explicit pf_busy_meter(std::thread& pf) : pf_(pf), cpu_(cpu_time(pf)), wall_(clock_type::now()) {}
  [[nodiscard]] double busy() const {
    const std::chrono::duration<double> wall = clock_type::now() - wall_;
    const std::chrono::duration<double> cpu = cpu_time(pf_) - cpu_;
    return wall.count() > 0 ? cpu.count() / wall.count() : 0;
  }

 private:
  std::thread& pf_;
  std::chrono::nanoseconds cpu_;
  clock_type::time_point wall_;
};

template <class Load>
std::thread start_flood(const flood_cpus& cpus, boost::asio::io_context& io, Load& load) {
  return std::thread([&cpus, &io, &load] {
    cpus.flooder();
    load.start();
    io.run();
  });
}

void BM_flood_mailbox(benchmark::State& state) {
  const bool flood = state.range(0) != 0;
  const flood_cpus cpus;
  boost::asio::io_context pf_io;
  boost::asio::io_context vf_io;
  boost::asio::io_context flood_io;
  std::array<std::optional<vpci::shm_config_space>, 2> device;
  std::array<std::optional<vpci::shm_config_space>, 2> driver;
  vpci::pf_endpoint<2> pf;
  std::array<std::size_t, 2> window{};
  for (vpci::vf_index vf = 0; vf != 2; ++vf) {
    device[vf].emplace(vpci::shm_config_space::create_anonymous(pf_io.get_executor(), 4096));
    driver[vf].emplace(device[vf]->view(vf == 0 ? flood_io.get_executor() : vf_io.get_executor(), vpci::shm_role::driver));
    (void)pf.register_vf(vf, static_cast<std::uint16_t>(0x0101 + vf));
    (void)pf.define_block(vf, flood_block, flood_pattern());
    auto at = pf.attach_mailbox(vf, *device[vf]);
    if (!at) {
      state.SkipWithError("attach_mailbox failed");
      return;
    }
    window[vf] = *at;
    pf.async_serve(vf, [](boost::system::error_code) {});
  }
  std::thread pf_thread([&] {
    cpus.pf();
    pf_io.run();
  });
  vpci_perf::latency_histogram h;
  std::uint64_t flooded = 0;
  std::uint64_t flood_errors = 0;
  double pf_busy = 0;
  {
    vpci::vf_endpoint<vpci::shm_config_space> vf0(*driver[0], window[0]);
    vpci::vf_endpoint<vpci::shm_config_space> vf1(*driver[1], window[1]);
    // Binding 1 runs one request at a time through a window: 16 queued keep the window always busy.
    flooder<decltype(vf0)> load(vf0, 16, [&] { vf0.close(); });
    std::thread flood_thread;
    if (flood) flood_thread = start_flood(cpus, flood_io, load);
    const pf_busy_meter meter(pf_thread);
    {
      const placed_scope on_client_cpu;
      measure(state, vf_io, vf1, h, [&] { vf1.close(); });
    }
    pf_busy = meter.busy();
    boost::asio::post(flood_io, [&] { load.stop(); });
    if (flood_thread.joinable()) flood_thread.join();
    flooded = load.completed();
    flood_errors = load.failed();
  }
  boost::asio::post(pf_io, [&] {
    (void)pf.detach_mailbox(0);
    (void)pf.detach_mailbox(1);
  });
  pf_thread.join();
  report_latency(state, h);
  report_blocks(state, flood_size);
  if (state.iterations() != 0)
    state.counters["flood_reads/read"] = static_cast<double>(flooded) / static_cast<double>(state.iterations());
  state.counters["flood_errors"] = static_cast<double>(flood_errors);
  state.counters["cpus"] = static_cast<double>(cpus.placed());
  state.counters["pf_busy"] = pf_busy;
}
BENCHMARK(BM_flood_mailbox)->Arg(0)->Arg(1)->UseRealTime();

void BM_flood_hyperv(benchmark::State& state) {
  const bool flood = state.range(0) != 0;
  const flood_cpus cpus;
  boost::asio::io_context pf_io;
  boost::asio::io_context vf_io;
  boost::asio::io_context flood_io;
  socket_type pf_socket0(pf_io), pf_socket1(pf_io);
  socket_type vf_socket0(flood_io), vf_socket1(vf_io);
  boost::asio::local::connect_pair(vf_socket0, pf_socket0);
  boost::asio::local::connect_pair(vf_socket1, pf_socket1);
  // The default limits: the flooder keeps exactly the VF engine's 64 in flight, which the PF's default
  // cap admits (an answer leaves the count when it is handed to the stream, before the VF can read it);
  // flood_errors shows any busy answer.
  vpci::pf_endpoint<2> pf;
  for (vpci::vf_index vf = 0; vf != 2; ++vf) {
    (void)pf.register_vf(vf, static_cast<std::uint16_t>(0x0101 + vf));
    (void)pf.define_block(vf, flood_block, flood_pattern());
  }
  // Serving ends when the VFs close their sockets; the PF's run() then runs out of work.
  pf.async_serve(0, flood_slot, pf_socket0, [](boost::system::error_code) {});
  pf.async_serve(1, flood_slot, pf_socket1, [](boost::system::error_code) {});
  std::thread pf_thread([&] {
    cpus.pf();
    pf_io.run();
  });
  vpci_perf::latency_histogram h;
  std::uint64_t flooded = 0;
  std::uint64_t flood_errors = 0;
  double pf_busy = 0;
  {
    vpci::vf_message_endpoint<socket_type> vf0(vf_socket0, flood_slot);
    vpci::vf_message_endpoint<socket_type> vf1(vf_socket1, flood_slot);
    flooder<decltype(vf0)> load(vf0, 64, [&] { vf0.close(); });
    std::thread flood_thread;
    if (flood) flood_thread = start_flood(cpus, flood_io, load);
    const pf_busy_meter meter(pf_thread);
    {
      const placed_scope on_client_cpu;
      measure(state, vf_io, vf1, h, [&] { vf1.close(); });
    }
    pf_busy = meter.busy();
    boost::asio::post(flood_io, [&] { load.stop(); });
    if (flood_thread.joinable()) flood_thread.join();
    flooded = load.completed();
    flood_errors = load.failed();
  }
  vf_socket0.close();
  vf_socket1.close();
  pf_thread.join();
  report_latency(state, h);
  report_blocks(state, flood_size);
  if (state.iterations() != 0)
    state.counters["flood_reads/read"] = static_cast<double>(flooded) / static_cast<double>(state.iterations());
  state.counters["flood_errors"] = static_cast<double>(flood_errors);
  state.counters["cpus"] = static_cast<double>(cpus.placed());
  state.counters["pf_busy"] = pf_busy;
}
BENCHMARK(BM_flood_hyperv)->Arg(0)->Arg(1)->UseRealTime();

}  // namespace
