// The floors: what no library can beat on this machine, measured in the same run as the library.
//   memcpy128     copying a 128-byte block
//   co_await      resuming a coroutine through an Asio awaitable that completes at once
//   co_await_post co_await of boost::asio::post (no target: explains the async gap)
//   uds_echo      a 128-byte echo over a local stream socket between two threads, Asio, no protocol
//   shm_pingpong  a 128-byte block there and back through shm_config_space with its futex doorbells
#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstring>
#include <exception>
#include <thread>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <vpci/transport/shm_config_space.hpp>

#include "alloc_counter.hpp"
#include "bench_support.hpp"
#include "cpu_placement.hpp"
#include "uds_echo.hpp"

using namespace vpci_bench;

namespace {

void BM_baseline_memcpy128(benchmark::State& state) {
  std::array<std::byte, 128> source{};
  std::array<std::byte, 128> destination{};
  source.fill(std::byte{0x5A});
  const std::uint64_t before = allocation_count();
  for (auto _ : state) {
    // Both buffers escape, so the copy cannot be elided or hoisted out of the loop.
    benchmark::DoNotOptimize(source.data());
    std::memcpy(destination.data(), source.data(), source.size());
    benchmark::DoNotOptimize(destination.data());
    benchmark::ClobberMemory();
  }
  report_allocations(state, before);
  report_blocks(state, 128);
}
BENCHMARK(BM_baseline_memcpy128)->UseRealTime();

// An Asio awaitable that completes at once: the cost of suspending into a child coroutine frame and
// resuming with its value (frames come from Asio's per-thread recycling allocator). An operation that
// invokes a use_awaitable handler inside its initiation would be no cheaper, and Asio does not
// trampoline it: a loop of them overflows the stack.
boost::asio::awaitable<std::size_t> ready(std::size_t value) { co_return value; }

void BM_baseline_co_await(benchmark::State& state) {
  boost::asio::io_context io;
  std::uint64_t before = 0;
  boost::asio::co_spawn(
      io,
      [&]() -> boost::asio::awaitable<void> {
        for (int i = 0; i < warmup_operations; ++i) (void)co_await ready(1);
        before = allocation_count();
        for (auto _ : state) {
          const std::size_t n = co_await ready(128);
          benchmark::DoNotOptimize(n);
        }
      },
      rethrow);
  io.run();
  report_allocations(state, before);
  report_blocks(state, 128);
}
BENCHMARK(BM_baseline_co_await)->UseRealTime();

// Not a target's baseline; it explains one: Asio operations never complete inside their initiating
// function, so the cheapest such operation goes once through the io_context's queue. This is co_await
// of boost::asio::post: the floor of any conforming asynchronous operation resumed by use_awaitable.
void BM_baseline_co_await_post(benchmark::State& state) {
  boost::asio::io_context io;
  std::uint64_t before = 0;
  boost::asio::co_spawn(
      io,
      [&]() -> boost::asio::awaitable<void> {
        for (int i = 0; i < warmup_operations; ++i) co_await boost::asio::post(io, boost::asio::use_awaitable);
        before = allocation_count();
        for (auto _ : state) co_await boost::asio::post(io, boost::asio::use_awaitable);
      },
      rethrow);
  io.run();
  report_allocations(state, before);
  report_blocks(state, 128);
}
BENCHMARK(BM_baseline_co_await_post)->UseRealTime();

void BM_baseline_uds_echo(benchmark::State& state) {
  const placed_scope on_client_cpu;
  uds_echo_pair pair;
  std::uint64_t before = 0;
  boost::asio::co_spawn(
      pair.client_io,
      [&]() -> boost::asio::awaitable<void> {
        for (int i = 0; i < warmup_operations; ++i) (void)co_await pair.echo();
        before = allocation_count();
        for (auto _ : state) {
          if (!co_await pair.echo()) {
            state.SkipWithError(pair.ec.message().c_str());
            break;
          }
        }
      },
      rethrow);
  pair.client_io.run();
  report_allocations(state, before);
  report_blocks(state, 128);
}
BENCHMARK(BM_baseline_uds_echo)->UseRealTime();

void BM_baseline_shm_pingpong(benchmark::State& state) {
  boost::asio::io_context io;  // the views' executor; nothing runs on it (every wait here blocks)
  vpci::shm_config_space device = vpci::shm_config_space::create_anonymous(io.get_executor(), 4096);
  vpci::shm_config_space driver = device.view(io.get_executor(), vpci::shm_role::driver);
  constexpr std::size_t request_at = 0x100;
  constexpr std::size_t answer_at = 0x200;
  std::atomic<bool> stop{false};

  const placed_scope on_client_cpu;
  // The device side: wait for the driver's doorbell, read its 128 bytes, write them back elsewhere
  // (the write rings the driver's doorbell). The sequence is read once and then carried, so a ring
  // between two waits is never missed.
  std::thread device_thread([&] {
    place_as_server();
    std::array<std::byte, 128> block{};
    boost::system::error_code ec;
    std::uint32_t seen = device.doorbell_sequence(vpci::shm_doorbell::to_device);
    while (!stop.load(std::memory_order_acquire)) {
      const std::uint32_t now =
          device.wait_for_doorbell(vpci::shm_doorbell::to_device, seen, std::chrono::milliseconds(100), ec);
      if (now == seen) continue;
      seen = now;
      if (stop.load(std::memory_order_acquire)) break;
      device.read(request_at, block, ec);
      device.write(answer_at, block, ec);
    }
  });

  std::array<std::byte, 128> out{};
  std::array<std::byte, 128> in{};
  out.fill(std::byte{0x5A});
  boost::system::error_code ec;
  auto pingpong = [&] {
    const std::uint32_t seen = driver.doorbell_sequence(vpci::shm_doorbell::to_driver);
    driver.write(request_at, out, ec);  // rings to_device
    (void)driver.wait_for_doorbell(vpci::shm_doorbell::to_driver, seen, std::chrono::milliseconds(100), ec);
    if (!ec) driver.read(answer_at, in, ec);
    return !ec;
  };
  for (int i = 0; i < warmup_operations; ++i) (void)pingpong();
  const std::uint64_t before = allocation_count();
  for (auto _ : state) {
    if (!pingpong()) {
      state.SkipWithError(ec.message().c_str());
      break;
    }
    benchmark::DoNotOptimize(in.data());
  }
  report_allocations(state, before);
  stop.store(true, std::memory_order_release);
  driver.ring_doorbell(vpci::shm_doorbell::to_device);
  device_thread.join();
  report_blocks(state, 128);
}
BENCHMARK(BM_baseline_shm_pingpong)->UseRealTime();

}  // namespace
