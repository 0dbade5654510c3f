// An allocator that counts what it is asked for, for a handler bound to it (boost::asio::bind_allocator):
// whether an operation takes its memory from the handler's allocator, as Asio's own operations do.
#pragma once

#include <cstddef>
#include <memory>

namespace vpci_test {

template <class T>
struct counted_allocator {
  using value_type = T;
  std::size_t* allocations;
  explicit counted_allocator(std::size_t* count) noexcept : allocations(count) {}
  template <class U>
  counted_allocator(const counted_allocator<U>& other) noexcept : allocations(other.allocations) {}  // NOLINT
  T* allocate(std::size_t n) {
    ++*allocations;
    return std::allocator<T>().allocate(n);
  }
  void deallocate(T* p, std::size_t n) noexcept { std::allocator<T>().deallocate(p, n); }
  template <class U>
  bool operator==(const counted_allocator<U>& other) const noexcept {
    return allocations == other.allocations;
  }
};

}  // namespace vpci_test
