// vpci/asio/detail/op_memory.hpp (hosted): memory for the asynchronous operations an object keeps in flight,
// at most Slots at a time, each at most SlotBytes: a stream's background read and write and a timer (the
// binding-2 VF endpoint, the PF's stream server), or a VF endpoint's pending requests and invalidation wait.
// Asio allocates an operation's memory from a per-thread cache of two blocks and, when that misses, from
// the heap (std::aligned_alloc): a binding-2 VF endpoint took two heap allocations per request in steady
// state, and a VF endpoint with 64 requests in flight took 62 at each burst. Handlers bound with
// bind_op_memory() allocate their operations here instead; one that finds no free slot large enough is
// allocated as Asio would have (its recycling allocator).
//
// The allocator holds the memory by shared_ptr (an aliasing one into the owner's state, or the memory's
// own), so the memory outlives every operation allocated from it whatever becomes of the owner. A slot is
// taken and given back atomically: an operation may be freed on another thread of the io_context than the
// one that allocates the next (a strand's handlers run on any of its threads).
#pragma once

#include <array>
#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>

#include <boost/asio/bind_allocator.hpp>
#include <boost/asio/recycling_allocator.hpp>

namespace vpci::detail {

template <std::size_t Slots, std::size_t SlotBytes = 512>
class op_memory {
  static_assert(Slots >= 1, "op_memory: at least one slot");
  static_assert(SlotBytes % alignof(std::max_align_t) == 0, "op_memory: slots keep max_align_t alignment");

 public:
  // A free slot's memory, or null when `bytes` or `alignment` do not fit a slot or every slot is taken.
  // Constant time: a word of the occupancy bitmap holds 64 slots.
  [[nodiscard]] void* take(std::size_t bytes, std::size_t alignment) noexcept {
    if (bytes > SlotBytes || alignment > alignof(std::max_align_t)) return nullptr;
    for (std::size_t w = 0; w < words; ++w) {
      std::uint64_t used = used_[w].load(std::memory_order_relaxed);
      for (;;) {
        const auto bit = static_cast<std::size_t>(std::countr_one(used));
        if (bit >= slots_in(w)) break;
        if (used_[w].compare_exchange_weak(used, used | (std::uint64_t{1} << bit), std::memory_order_acquire,
                                           std::memory_order_relaxed))
          return bytes_.data() + (w * 64 + bit) * SlotBytes;
      }
    }
    return nullptr;
  }
  // Gives back a slot's memory; false for memory that is not one of its slots (the heap's).
  bool give_back(void* p) noexcept {
    const auto address = reinterpret_cast<std::uintptr_t>(p);
    const auto first = reinterpret_cast<std::uintptr_t>(bytes_.data());
    if (address < first || address >= first + bytes_.size() || (address - first) % SlotBytes != 0) return false;
    const std::size_t slot = (address - first) / SlotBytes;
    used_[slot / 64].fetch_and(~(std::uint64_t{1} << (slot % 64)), std::memory_order_release);
    return true;
  }

 private:
  static constexpr std::size_t words = (Slots + 63) / 64;
  static constexpr std::size_t slots_in(std::size_t word) noexcept {
    return word + 1 < words ? 64 : Slots - (words - 1) * 64;
  }
  alignas(std::max_align_t) std::array<std::byte, Slots * SlotBytes> bytes_;
  std::array<std::atomic<std::uint64_t>, words> used_{};
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
    return boost::asio::recycling_allocator<T>().allocate(n);
  }
  void deallocate(T* p, std::size_t n) noexcept {
    if (!memory_->give_back(p)) boost::asio::recycling_allocator<T>().deallocate(p, n);
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
