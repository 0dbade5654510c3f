// Counting replacements of the global allocation functions for the bench binary: every operator new in
// any thread bumps one counter (the allocs/op counter of each benchmark), and live heap bytes are
// tracked with malloc_usable_size (the PF's memory per VF in BM_pf_scale). Only this binary has them.
// Boost.Asio allocates the memory of its operations with std::aligned_alloc, not operator new, when its
// per-thread recycling misses: the binary is linked with --wrap=aligned_alloc, and those calls count too
// (their bytes are not tracked: Asio frees them with std::free). The allocation tests also make one
// allocation fail on purpose (fail_allocation); the bench never does.
#include "alloc_counter.hpp"

#include <malloc.h>

#include <atomic>
#include <cstdlib>
#include <new>

extern "C" void* __real_aligned_alloc(std::size_t alignment, std::size_t size);  // NOLINT: the linker's name

namespace {

std::atomic<std::uint64_t> allocations{0};
std::atomic<std::int64_t> live_bytes{0};
std::atomic<std::int64_t> fail_countdown{-1};  // -1: no failure armed
std::atomic<bool> failed{false};

// Whether this allocation is the one armed to fail (the countdown reaches it).
bool fails_now() noexcept {
  std::int64_t left = fail_countdown.load(std::memory_order_relaxed);
  while (left >= 0) {
    if (fail_countdown.compare_exchange_weak(left, left - 1, std::memory_order_relaxed)) {
      if (left != 0) return false;
      failed.store(true, std::memory_order_relaxed);
      return true;
    }
  }
  return false;
}

void account(void* p) noexcept {
  allocations.fetch_add(1, std::memory_order_relaxed);
  live_bytes.fetch_add(static_cast<std::int64_t>(::malloc_usable_size(p)), std::memory_order_relaxed);
}

void* allocate_nothrow(std::size_t size) noexcept {
  if (fails_now()) return nullptr;
  void* p = std::malloc(size == 0 ? 1 : size);
  if (p != nullptr) account(p);
  return p;
}

void* allocate_aligned_nothrow(std::size_t size, std::align_val_t alignment) noexcept {
  if (fails_now()) return nullptr;
  const auto align = static_cast<std::size_t>(alignment);
  // aligned_alloc wants a size that is a multiple of the alignment.
  const std::size_t rounded = ((size == 0 ? 1 : size) + align - 1) / align * align;
  void* p = __real_aligned_alloc(align, rounded);  // counted here, not again by the wrapper
  if (p != nullptr) account(p);
  return p;
}

void* allocate(std::size_t size) {
  void* p = allocate_nothrow(size);
  if (p == nullptr) throw std::bad_alloc();
  return p;
}

void* allocate_aligned(std::size_t size, std::align_val_t alignment) {
  void* p = allocate_aligned_nothrow(size, alignment);
  if (p == nullptr) throw std::bad_alloc();
  return p;
}

void release(void* p) noexcept {
  if (p == nullptr) return;
  live_bytes.fetch_sub(static_cast<std::int64_t>(::malloc_usable_size(p)), std::memory_order_relaxed);
  std::free(p);
}

}  // namespace

extern "C" void* __wrap_aligned_alloc(std::size_t alignment, std::size_t size) {  // NOLINT: the linker's name
  if (fails_now()) return nullptr;
  void* p = __real_aligned_alloc(alignment, size);
  if (p != nullptr) allocations.fetch_add(1, std::memory_order_relaxed);
  return p;
}

namespace vpci_bench {
std::uint64_t allocation_count() noexcept { return allocations.load(std::memory_order_relaxed); }
std::int64_t live_heap_bytes() noexcept { return live_bytes.load(std::memory_order_relaxed); }
void fail_allocation(std::uint64_t after) noexcept {
  failed.store(false, std::memory_order_relaxed);
  fail_countdown.store(static_cast<std::int64_t>(after), std::memory_order_relaxed);
}
void fail_no_allocation() noexcept { fail_countdown.store(-1, std::memory_order_relaxed); }
bool allocation_failed() noexcept { return failed.load(std::memory_order_relaxed); }
}  // namespace vpci_bench

void* operator new(std::size_t size) { return allocate(size); }
void* operator new[](std::size_t size) { return allocate(size); }
void* operator new(std::size_t size, const std::nothrow_t&) noexcept { return allocate_nothrow(size); }
void* operator new[](std::size_t size, const std::nothrow_t&) noexcept { return allocate_nothrow(size); }
void* operator new(std::size_t size, std::align_val_t alignment) { return allocate_aligned(size, alignment); }
void* operator new[](std::size_t size, std::align_val_t alignment) { return allocate_aligned(size, alignment); }
void* operator new(std::size_t size, std::align_val_t alignment, const std::nothrow_t&) noexcept {
  return allocate_aligned_nothrow(size, alignment);
}
void* operator new[](std::size_t size, std::align_val_t alignment, const std::nothrow_t&) noexcept {
  return allocate_aligned_nothrow(size, alignment);
}

void operator delete(void* p) noexcept { release(p); }
void operator delete[](void* p) noexcept { release(p); }
void operator delete(void* p, std::size_t) noexcept { release(p); }
void operator delete[](void* p, std::size_t) noexcept { release(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { release(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { release(p); }
void operator delete(void* p, std::align_val_t) noexcept { release(p); }
void operator delete[](void* p, std::align_val_t) noexcept { release(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { release(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { release(p); }
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { release(p); }
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept { release(p); }
