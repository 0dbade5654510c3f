// Isolation between VFs: how much a flooding VF raises another VF's latency, on each binding. One PF
// thread serves two VFs; VF 1 (the measured one) reads one block at a time on the benchmark thread; with
// the argument 1, VF 0 floods the PF from a thread of its own for the whole run (binding 1: reads back to
// back through its window; binding 2: 64 reads always in flight on its stream). The counters p50_ns and
// p99_ns are VF 1's read latency; scripts/bench divides flood/1's p99 by flood/0's (same run).
//   flood_mailbox  shared memory, one space per VF, the PF serving both windows on their doorbells
//   flood_hyperv   Unix socket pairs, the PF serving both streams
#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <optional>
#include <span>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/connect_pair.hpp>
#include <boost/asio/post.hpp>

#include <vpci/asio/pf_endpoint.hpp>
#include <vpci/asio/vf_endpoint.hpp>
#include <vpci/asio/vf_message_endpoint.hpp>
#include <vpci/transport/shm_config_space.hpp>

#include "alloc_counter.hpp"
#include "bench_support.hpp"
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

// Measures VF 1's synchronous reads: one per iteration, its latency into `h`.
template <class Endpoint>
void measure(benchmark::State& state, Endpoint& vf, vpci_perf::latency_histogram& h) {
  std::array<std::byte, flood_size> buffer{};
  boost::system::error_code ec;
  for (int i = 0; i < warmup_operations; ++i) (void)vf.read_block(flood_block, buffer, ec);
  for (auto _ : state) {
    const auto start = clock_type::now();
    const std::size_t n = vf.read_block(flood_block, buffer, ec);
    h.record(static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(clock_type::now() - start).count()));
    if (ec || n != flood_size) {
      state.SkipWithError(ec ? ec.message().c_str() : "short read");
      break;
    }
  }
}

void BM_flood_mailbox(benchmark::State& state) {
  const bool flood = state.range(0) != 0;
  boost::asio::io_context pf_io;
  boost::asio::io_context vf_io;  // the views' executors; the VFs' waits here block
  std::array<std::optional<vpci::shm_config_space>, 2> device;
  std::array<std::optional<vpci::shm_config_space>, 2> driver;
  vpci::pf_endpoint<2> pf;
  std::array<std::size_t, 2> window{};
  for (vpci::vf_index vf = 0; vf != 2; ++vf) {
    device[vf].emplace(vpci::shm_config_space::create_anonymous(pf_io.get_executor(), 4096));
    driver[vf].emplace(device[vf]->view(vf_io.get_executor(), vpci::shm_role::driver));
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
  std::thread pf_thread([&] { pf_io.run(); });

  std::atomic<bool> stop{false};
  std::thread flooder;
  if (flood) {
    flooder = std::thread([&] {
      vpci::vf_endpoint<vpci::shm_config_space> vf0(*driver[0], window[0]);
      std::array<std::byte, flood_size> buffer{};
      boost::system::error_code ec;
      while (!stop.load(std::memory_order_relaxed)) (void)vf0.read_block(flood_block, buffer, ec);
    });
  }
  vpci_perf::latency_histogram h;
  {
    vpci::vf_endpoint<vpci::shm_config_space> vf1(*driver[1], window[1]);
    measure(state, vf1, h);
  }
  stop.store(true);
  if (flooder.joinable()) flooder.join();
  boost::asio::post(pf_io, [&] {
    (void)pf.detach_mailbox(0);
    (void)pf.detach_mailbox(1);
  });
  pf_thread.join();
  report_latency(state, h);
  report_blocks(state, flood_size);
}
BENCHMARK(BM_flood_mailbox)->Arg(0)->Arg(1)->UseRealTime();

void BM_flood_hyperv(benchmark::State& state) {
  const bool flood = state.range(0) != 0;
  boost::asio::io_context pf_io;
  boost::asio::io_context flood_io;
  boost::asio::io_context vf_io;
  socket_type pf_socket0(pf_io), pf_socket1(pf_io);
  socket_type vf_socket0(flood_io), vf_socket1(vf_io);
  boost::asio::local::connect_pair(vf_socket0, pf_socket0);
  boost::asio::local::connect_pair(vf_socket1, pf_socket1);
  // Room for the flooder's 64 in flight and the answers the stream has not taken yet.
  vpci::pf_endpoint<2> pf(vpci::engine::pf_limits{128});
  for (vpci::vf_index vf = 0; vf != 2; ++vf) {
    (void)pf.register_vf(vf, static_cast<std::uint16_t>(0x0101 + vf));
    (void)pf.define_block(vf, flood_block, flood_pattern());
  }
  pf.async_serve(0, flood_slot, pf_socket0, [](boost::system::error_code) {});
  pf.async_serve(1, flood_slot, pf_socket1, [](boost::system::error_code) {});
  std::thread pf_thread([&] { pf_io.run(); });

  std::atomic<bool> stop{false};
  std::optional<vpci::vf_message_endpoint<socket_type>> vf0;
  std::array<std::array<std::byte, flood_size>, 64> buffers{};
  std::size_t outstanding = 0;
  std::function<void(std::size_t)> issue = [&](std::size_t i) {
    ++outstanding;
    vf0->async_read_block(flood_block, buffers[i], [&, i](boost::system::error_code ec, std::size_t) {
      --outstanding;
      if (!ec && !stop.load(std::memory_order_relaxed)) return issue(i);
      if (outstanding == 0) vf0->close();
    });
  };
  std::thread flooder;
  if (flood) {
    vf0.emplace(vf_socket0, flood_slot);
    flooder = std::thread([&] {
      for (std::size_t i = 0; i != buffers.size(); ++i) issue(i);
      flood_io.run();
    });
  }
  vpci_perf::latency_histogram h;
  {
    vpci::vf_message_endpoint<socket_type> vf1(vf_socket1, flood_slot);
    measure(state, vf1, h);
    vf1.close();
  }
  stop.store(true);
  if (flooder.joinable()) flooder.join();
  vf0.reset();
  vf_socket0.close();
  vf_socket1.close();
  pf_thread.join();
  report_latency(state, h);
  report_blocks(state, flood_size);
}
BENCHMARK(BM_flood_hyperv)->Arg(0)->Arg(1)->UseRealTime();

}  // namespace
