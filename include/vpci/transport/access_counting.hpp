// vpci::access_counting_transport: wraps any config_space_transport and counts the config accesses a
// driver makes through it, the figure that decides a protocol's cost on real config space (about 1 us per
// access on bare metal, tens of microseconds in a VM). It works on every transport: a real device through
// sysfs, a vfio-user device, shared memory, memory (whose access observer sees only that in-process space).
//
// What counts as one access: a read or write call is the naturally aligned 1-, 2- and 4-byte accesses
// config::for_each_access splits it into, as a config request carries at most a dword and Linux's sysfs
// config file splits a range the same way (a 128-byte read is 32 accesses, 7 bytes at offset 1 are 3).
// A transport that carries a range in one message (vfio_user_config_space) is counted the same way: in the
// accesses a guest's driver would make, each trapped on its own, not in messages.
// Each call counts the accesses of the bytes it transferred (returned, or passed to the handler), whatever
// its error: a refused call transferred nothing and counts nothing. An asynchronous call counts when it
// completes, before its handler runs, so a handler sees its own accesses counted.
//
// Traits: the wrapped transport's, passed through (detail/transport_layer.hpp), and nonblocking_access
// when the wrapped transport has it (counting never blocks), so endpoints drive the wrapper exactly as they
// would drive the transport itself. Not thread-safe (one thread or strand), as the counters are plain. The
// wrapper must outlive its asynchronous operations, as a transport must.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <type_traits>
#include <utility>

#include <boost/asio/associator.hpp>
#include <boost/system/error_code.hpp>

#include <vpci/config/access.hpp>
#include <vpci/transport/concept.hpp>
#include <vpci/transport/detail/transport_layer.hpp>
#include <vpci/transport/traits.hpp>

namespace vpci {

// Config accesses counted so far, by direction.
struct config_access_counts {
  std::uint64_t reads = 0;
  std::uint64_t writes = 0;
  [[nodiscard]] constexpr std::uint64_t total() const noexcept { return reads + writes; }
  friend constexpr bool operator==(const config_access_counts&, const config_access_counts&) = default;
};

namespace detail {

// The accesses [offset, offset + length) is split into.
[[nodiscard]] constexpr std::uint64_t config_accesses_in(std::size_t offset, std::size_t length) noexcept {
  std::uint64_t count = 0;
  (void)config::for_each_access(offset, length, [&](std::size_t, std::size_t) {
    ++count;
    return no_error;
  });
  return count;
}

// The completion an asynchronous access hands to the wrapped transport: counts what was transferred, then
// calls the user's handler (every associator forwarded to it, below).
template <class Handler>
struct counting_completion {
  Handler handler_;
  std::uint64_t* counter;
  std::size_t offset;

  void operator()(boost::system::error_code ec, std::size_t transferred) {
    *counter += config_accesses_in(offset, transferred);
    std::move(handler_)(ec, transferred);
  }
};

}  // namespace detail

template <class Transport>
  requires config_space_transport<std::remove_cvref_t<Transport>>
class access_counting_transport : public detail::transport_layer<access_counting_transport<Transport>, Transport> {
  using layer = detail::transport_layer<access_counting_transport<Transport>, Transport>;
  friend layer;
  using layer::next_;

 public:
  using typename layer::executor_type;
  using typename layer::next_layer_type;
  // Counting adds no wait: the wrapper blocks exactly when the wrapped transport does.
  static constexpr bool nonblocking_access = nonblocking_transport_v<next_layer_type>;

  using layer::layer;  // the wrapped transport, or its constructor's arguments

  [[nodiscard]] config_access_counts counts() const noexcept { return counts_; }
  void reset_counts() noexcept { counts_ = {}; }

  std::size_t read(std::size_t offset, std::span<std::byte> buffer, boost::system::error_code& ec) {
    const std::size_t transferred = next_.read(offset, buffer, ec);
    counts_.reads += detail::config_accesses_in(offset, transferred);
    return transferred;
  }

  std::size_t write(std::size_t offset, std::span<const std::byte> bytes, boost::system::error_code& ec) {
    const std::size_t transferred = next_.write(offset, bytes, ec);
    counts_.writes += detail::config_accesses_in(offset, transferred);
    return transferred;
  }

  // async_read and async_write: detail/transport_layer.hpp's, counted when they complete.

 private:
  // An asynchronous operation (detail/transport_layer.hpp), passed on with a completion that counts it.
  template <class Handler, class Buffer>
  void start(Handler&& handler, std::size_t offset, Buffer buffer) {
    std::uint64_t& counter = std::is_const_v<typename Buffer::element_type> ? counts_.writes : counts_.reads;
    this->start_on_next(detail::counting_completion<std::decay_t<Handler>>{std::forward<Handler>(handler), &counter, offset},
                        offset, buffer);
  }

  config_access_counts counts_;
};

}  // namespace vpci

// Forward every associator (executor, allocator, cancellation slot, immediate executor) to the user's
// handler, as Asio's own append/consign wrappers do.
template <template <class, class> class Associator, class Handler, class DefaultCandidate>
struct boost::asio::associator<Associator, vpci::detail::counting_completion<Handler>, DefaultCandidate>
    : Associator<Handler, DefaultCandidate> {
  static typename Associator<Handler, DefaultCandidate>::type get(
      const vpci::detail::counting_completion<Handler>& h) noexcept {
    return Associator<Handler, DefaultCandidate>::get(h.handler_);
  }
  static auto get(const vpci::detail::counting_completion<Handler>& h, const DefaultCandidate& candidate) noexcept
      -> decltype(Associator<Handler, DefaultCandidate>::get(h.handler_, candidate)) {
    return Associator<Handler, DefaultCandidate>::get(h.handler_, candidate);
  }
};
