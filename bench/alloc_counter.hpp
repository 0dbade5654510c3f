// The bench binary's allocation counters (alloc_counter.cpp replaces the global operator new/delete)
// and the helpers every benchmark reports its counters with.
#pragma once

#include <cstddef>
#include <cstdint>

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

}  // namespace vpci_bench
