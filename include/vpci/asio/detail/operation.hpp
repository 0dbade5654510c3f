// Type-erased pending operations for the endpoints: the completion handler lives in storage from its
// associated allocator (Asio's recycling allocator by default, so a steady stream of operations does
// not touch the heap) until the engine reports the operation's completion.
#pragma once

#include <array>
#include <cstddef>
#include <span>
#include <memory>
#include <tuple>
#include <type_traits>
#include <utility>

#include <boost/asio/associated_allocator.hpp>
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/recycling_allocator.hpp>
#include <boost/system/error_code.hpp>

#include <vpci/block/block.hpp>
#include <vpci/error.hpp>

namespace vpci::detail {

// One pending operation. complete() hands (error, value) to the user's handler and frees the storage;
// it is called exactly once, from the endpoint's executor, never from the initiating function. destroy()
// frees it without calling the handler: for a completion that can no longer run (its io_context was
// destroyed first), as Asio destroys abandoned handlers.
template <class... Values>
struct pending_operation {
  using complete_function = void (*)(pending_operation*, bool invoke, boost::system::error_code, Values...);
  complete_function complete_fn;
  // A read's or write's pf_status_report: set by the endpoint when the engine reports the completion.
  ntstatus* pf_status{nullptr};
  void complete(boost::system::error_code ec, Values... values) { complete_fn(this, true, ec, std::move(values)...); }
  void destroy() { complete_fn(this, false, {}, Values{}...); }

 protected:
  explicit pending_operation(complete_function fn) noexcept : complete_fn(fn) {}
  ~pending_operation() = default;
};

// A completion posted to an executor: it owns the operation until it runs, and destroys it unrun if the
// executor's context goes away first, so a completion posted during teardown never leaks.
template <class... Values>
class posted_completion {
 public:
  posted_completion(pending_operation<Values...>* op, boost::system::error_code ec, Values... values)
      : op_(op), ec_(ec), values_(std::move(values)...) {}
  posted_completion(posted_completion&& other) noexcept
      : op_(std::exchange(other.op_, nullptr)), ec_(other.ec_), values_(std::move(other.values_)) {}
  posted_completion(const posted_completion&) = delete;
  posted_completion& operator=(const posted_completion&) = delete;
  posted_completion& operator=(posted_completion&&) = delete;
  ~posted_completion() {
    if (op_ != nullptr) op_->destroy();
  }
  void operator()() {
    std::apply([this](Values&... values) { std::exchange(op_, nullptr)->complete(ec_, std::move(values)...); }, values_);
  }

 private:
  pending_operation<Values...>* op_;
  boost::system::error_code ec_;
  std::tuple<Values...> values_;
};

// Whether `Handler` has an associated allocator of its own (bound, or its allocator_type), rather than the
// default an operation picks for it.
struct no_associated_allocator {};
template <class Handler>
inline constexpr bool has_associated_allocator_v =
    !std::is_same_v<boost::asio::associated_allocator_t<Handler, no_associated_allocator>, no_associated_allocator>;

template <class Handler>
auto handler_allocator(const Handler& handler) {
  return boost::asio::get_associated_allocator(handler, boost::asio::recycling_allocator<void>());
}

// Allocates and constructs T with the handler's associated allocator.
template <class T, class Handler, class... Args>
T* allocate_operation(const Handler& handler, Args&&... args) {
  using allocator = typename std::allocator_traits<decltype(handler_allocator(handler))>::template rebind_alloc<T>;
  allocator alloc(handler_allocator(handler));
  T* storage = std::allocator_traits<allocator>::allocate(alloc, 1);
  try {
    return ::new (static_cast<void*>(storage)) T(std::forward<Args>(args)...);
  } catch (...) {
    std::allocator_traits<allocator>::deallocate(alloc, storage, 1);
    throw;
  }
}

// Destroys and frees an operation allocated by allocate_operation, before its handler runs, so the
// handler may start the next operation in the same recycled storage.
template <class T, class Handler>
void deallocate_operation(T* op, const Handler& handler) {
  using allocator = typename std::allocator_traits<decltype(handler_allocator(handler))>::template rebind_alloc<T>;
  allocator alloc(handler_allocator(handler));
  op->~T();
  std::allocator_traits<allocator>::deallocate(alloc, op, 1);
}

// Whether an operation's handler runs on the endpoint's own executor (the fallback its associated executor
// defaults to): its own executor compares equal to it, or it has none.
template <class WorkGuard, class Executor>
bool same_executor(const WorkGuard& work, const Executor& fallback) {
  using work_executor = std::decay_t<decltype(work.get_executor())>;
  if constexpr (std::is_same_v<work_executor, Executor>) return work.get_executor() == fallback;
  else return false;
}

// Calls a completion handler, from the endpoint's executor (every completion runs there: the pump, or a
// completion posted to it). A handler on that same executor is called directly: dispatch() would call it
// inline too, but through any_io_executor it first wraps the call in a type-erased function, whose memory
// comes from Asio's per-thread cache of two blocks, which a burst of completions misses. A handler on
// another executor is dispatched to it.
template <class WorkGuard, class Handler, class... Args>
void call_on(WorkGuard& work, bool direct, Handler&& handler, Args... args) {
  if (direct) {
    std::move(handler)(std::move(args)...);
    return;
  }
  auto executor = work.get_executor();
  boost::asio::dispatch(executor, [h = std::move(handler), ... a = std::move(args)]() mutable {
    std::move(h)(std::move(a)...);
  });
}

// What a concrete operation keeps of its user: the handler, a work guard on its associated executor, and
// whether that executor is the endpoint's own (the fallback).
template <class Handler, class Executor>
struct operation_handler {
  using work_executor = boost::asio::associated_executor_t<Handler, Executor>;
  operation_handler(Handler&& h, const Executor& fallback)
      : handler(std::move(h)), work(boost::asio::get_associated_executor(handler, fallback)),
        on_fallback(same_executor(work, fallback)) {}
  Handler handler;
  boost::asio::executor_work_guard<work_executor> work;
  bool on_fallback;
};

// Frees operation `self` before its handler runs (so the handler may start the next operation in the same
// memory), then hands the handler `args` unless the completion can no longer run (`invoke` false).
template <class Op, class... Args>
void finish_operation(Op* self, bool invoke, Args... args) {
  auto h = std::move(self->handler);
  auto guard = std::move(self->work);
  const bool direct = self->on_fallback;
  boost::asio::get_associated_cancellation_slot(h).clear();
  deallocate_operation(self, h);
  if (invoke) call_on(guard, direct, std::move(h), std::move(args)...);
}

// The usual concrete operation: the handler gets the engine's values as they are.
template <class Handler, class Executor, class... Values>
struct handler_operation final : pending_operation<Values...>, operation_handler<Handler, Executor> {
  using base = pending_operation<Values...>;

  handler_operation(Handler&& h, const Executor& fallback)
      : base(&do_complete), operation_handler<Handler, Executor>(std::move(h), fallback) {}

  static void do_complete(base* b, bool invoke, boost::system::error_code ec, Values... values) {
    finish_operation(static_cast<handler_operation*>(b), invoke, ec, std::move(values)...);
  }
};

// A typed read: the endpoint reads the block's bytes into `buffer`; completion decodes them and hands the
// user's handler (error, value). Bytes that do not decode complete with their errc and a value-initialized
// value (detail::decode_received: block_size_mismatch for another byte count than Block::size, bad_data).
template <class Block, class Handler, class Executor>
struct decoding_read_operation final : pending_operation<std::size_t>, operation_handler<Handler, Executor> {
  using base = pending_operation<std::size_t>;
  using value_type = typename Block::value_type;

  decoding_read_operation(Handler&& h, const Executor& fallback)
      : base(&do_complete), operation_handler<Handler, Executor>(std::move(h), fallback) {}

  static void do_complete(base* b, bool invoke, boost::system::error_code ec, std::size_t n) {
    auto* self = static_cast<decoding_read_operation*>(b);
    value_type value{};
    if (invoke && !ec) {
      auto decoded = decode_received<Block>(std::span<const std::byte>(self->buffer).first(n));
      if (decoded) value = *decoded;
      else ec = make_error_code(decoded.error());
    }
    finish_operation(self, invoke, ec, value);
  }

  std::array<std::byte, Block::size> buffer{};
};

}  // namespace vpci::detail
