// vpci/asio/detail/op_memory.hpp (hosted): memory for the asynchronous operations an object keeps in flight
// on its stream, at most Slots at a time (a background read and a write, a timer), each at most SlotBytes.
// Asio allocates an operation's memory from a small per-thread cache and, when that misses, from the heap
// (std::aligned_alloc): a binding-2 VF endpoint took two heap allocations per request in steady state, and
// the PF's stream server more. Handlers bound with bind() allocate their operations here instead; one that
// finds no free slot large enough is allocated from the heap as before.
//
// The allocator holds the memory by shared_ptr (an aliasing one into the owner's state), so the memory
// outlives every operation allocated from it whatever becomes of the owner. A slot is taken and given back
// atomically: an operation may be freed on another thread of the io_context than the one that allocates
// the next (a strand's handlers run on any of its threads).
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <memory>
#include <utility>

#include <boost/asio/bind_allocator.hpp>

namespace vpci::detail {

template <std::size_t Slots, std::size_t SlotBytes = 512>
class op_memory {
 public:
  [[nodiscard]] void* take(std::size_t bytes, std::size_t alignment) noexcept {
    if (bytes > SlotBytes || alignment > alignof(std::max_align_t)) return nullptr;
    for (slot& s : slots_) {
      bool used = false;
      if (s.used.compare_exchange_strong(used, true, std::memory_order_acquire)) return s.bytes.data();
    }
    return nullptr;
  }
  // Gives back a slot's memory; false for memory that is not one of its slots (the heap's).
  bool give_back(void* p) noexcept {
    for (slot& s : slots_) {
      if (p == s.bytes.data()) {
        s.used.store(false, std::memory_order_release);
        return true;
      }
    }
    return false;
  }

 private:
  struct slot {
    alignas(std::max_align_t) std::array<std::byte, SlotBytes> bytes;
    std::atomic<bool> used{false};
  };
  std::array<slot, Slots> slots_{};
};

template <class T, class Memory>
class op_allocator {
 public:
  using value_type = T;
  explicit op_allocator(std::shared_ptr<Memory> memory) noexcept : memory_(std::move(memory)) {}
  template <class U>
  op_allocator(const op_allocator<U, Memory>& other) noexcept : memory_(other.memory()) {}  // NOLINT: rebinding

  T* allocate(std::size_t n) {
    if (void* p = memory_->take(n * sizeof(T), alignof(T))) return static_cast<T*>(p);
    return std::allocator<T>().allocate(n);
  }
  void deallocate(T* p, std::size_t n) noexcept {
    if (!memory_->give_back(p)) std::allocator<T>().deallocate(p, n);
  }
  [[nodiscard]] const std::shared_ptr<Memory>& memory() const noexcept { return memory_; }
  template <class U>
  bool operator==(const op_allocator<U, Memory>& other) const noexcept {
    return memory_ == other.memory();
  }

 private:
  std::shared_ptr<Memory> memory_;
};

// `handler` with its operations' memory taken from `memory`.
template <class Memory, class Handler>
auto bind_op_memory(std::shared_ptr<Memory> memory, Handler&& handler) {
  return boost::asio::bind_allocator(op_allocator<void, Memory>(std::move(memory)), std::forward<Handler>(handler));
}

}  // namespace vpci::detail
