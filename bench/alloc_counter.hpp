// The bench binary's allocation counters (alloc_counter.cpp replaces the global operator new/delete)
// and the helpers every benchmark reports its counters with.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <utility>

#include <benchmark/benchmark.h>

namespace vpci_bench {

// operator new calls so far, in all threads.
std::uint64_t allocation_count() noexcept;
// Heap bytes allocated through operator new and not yet freed (malloc_usable_size of each block).
std::int64_t live_heap_bytes() noexcept;

// Heap allocations per iteration between `before` (taken when the measured loop started, after the
// warm-up, so that recycling caches are filled: steady state) and now.
inline void report_allocations(benchmark::State& state, std::uint64_t before) {
  state.counters["allocs/op"] =
      benchmark::Counter(static_cast<double>(allocation_count() - before), benchmark::Counter::kAvgIterations);
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
