// Shared by the benchmark files: how each reports its counters, the socket type, a completion handler for
// co_spawn that lets a coroutine's exception escape io_context::run (a failed benchmark must not look like
// a fast one), and how many operations run before the measured loop (recycling caches and sockets reach
// steady state).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <utility>

#include <benchmark/benchmark.h>
#include <boost/asio/local/stream_protocol.hpp>

#include "alloc_counter.hpp"

namespace vpci_bench {

using socket_type = boost::asio::local::stream_protocol::socket;

inline constexpr int warmup_operations = 200;

inline void rethrow(std::exception_ptr error) {
  if (error) std::rethrow_exception(error);
}

// The block sizes every measured binding runs with: ->Apply(block_sizes).
inline void block_sizes(benchmark::internal::Benchmark* b) { b->Arg(4)->Arg(64)->Arg(128); }

// Heap allocations per iteration between `before` (taken when the measured loop started, after the
// warm-up, so that recycling caches are filled: steady state) and now.
// `after`: taken when the measured loop ended, for a benchmark whose teardown (a peer's end of serving on
// another thread) runs before it reports.
inline void report_allocations(benchmark::State& state, std::uint64_t before, std::uint64_t after) {
  state.counters["allocs/op"] = benchmark::Counter(static_cast<double>(after - before), benchmark::Counter::kAvgIterations);
}
inline void report_allocations(benchmark::State& state, std::uint64_t before) {
  report_allocations(state, before, allocation_count());
}

// blocks/s (items) and bytes/s: one block of `block_bytes` per iteration.
inline void report_blocks(benchmark::State& state, std::size_t block_bytes) {
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(block_bytes));
}

// A paired benchmark's counters: each iteration ran `stretch` operations on each of two sides, alternating,
// each side's stretches timed into its total. blocks/s and bytes/s count both sides; counters `a_name`
// and `b_name` are each side's ns per operation, which are returned (a then b) for the ratio.
inline std::pair<double, double> report_paired(benchmark::State& state, int stretch, std::size_t block_bytes,
                                               const char* a_name, std::chrono::steady_clock::duration a,
                                               const char* b_name, std::chrono::steady_clock::duration b) {
  const std::int64_t operations = static_cast<std::int64_t>(state.iterations()) * 2 * stretch;
  state.SetItemsProcessed(operations);
  state.SetBytesProcessed(operations * static_cast<std::int64_t>(block_bytes));
  const double per_side = static_cast<double>(state.iterations()) * stretch;
  const auto ns = [per_side](std::chrono::steady_clock::duration total) {
    if (per_side <= 0) return 0.0;
    return static_cast<double>(std::chrono::duration_cast<std::chrono::nanoseconds>(total).count()) / per_side;
  };
  state.counters[a_name] = ns(a);
  state.counters[b_name] = ns(b);
  return {ns(a), ns(b)};
}

}  // namespace vpci_bench
