// The allocation counters of the bench binary and of the allocation tests (alloc_counter.cpp replaces the
// global operator new/delete and counts std::aligned_alloc, wrapped at link time). Only those two
// binaries link it.
#pragma once

#include <cstddef>
#include <cstdint>

namespace vpci_bench {

// operator new and std::aligned_alloc calls so far, in all threads.
std::uint64_t allocation_count() noexcept;
// Heap bytes allocated through operator new and not yet freed (malloc_usable_size of each block).
std::int64_t live_heap_bytes() noexcept;

}  // namespace vpci_bench
