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

// The allocation tests' out-of-memory: the `after`-th allocation from now (0: the next), in any thread,
// fails once: operator new throws std::bad_alloc, its nothrow forms and std::aligned_alloc return null.
// fail_no_allocation() disarms; allocation_failed() says whether the armed failure happened.
void fail_allocation(std::uint64_t after) noexcept;
void fail_no_allocation() noexcept;
bool allocation_failed() noexcept;

}  // namespace vpci_bench
