// vpci::detail::slot_queue: how a facade over a VF endpoint (linux_block_ops, ioctl_device and the
// VPCI_INTERFACE_STANDARD its interface() gives) hands its calls to the endpoint's fixed operation slots
// (Endpoint::max_operations: 64 on binding 2, 16 on binding 1). The shapes those facades copy never
// fail a call because others are busy (a Linux caller sleeps, a Windows IRP stays pending in its queue),
// where the endpoint answers errc::busy once its slots are taken. So: at most `slots` calls are started
// at once; a call arriving beyond them waits, and the waiting ones start oldest first as started ones
// complete; when a started call reports the device gone (device_gone below), every call still waiting
// ends with that call's outcome instead of starting: it waited across the device going away, and after a
// remove() the endpoint is usable again, so a waiting call would otherwise reach a PF that removed its VF.
//
// Not thread-safe: the facade touches it on the endpoint's executor only. The facade reports each started
// call's completion (completed) after delivering that call's own; an endpoint never completes an operation
// inside the call that starts it, so starting one never runs inside another start. The slots counted are
// the facade's: operations started on the endpoint by other means share its slots unseen.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <type_traits>
#include <utility>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/system/error_code.hpp>

#include <vpci/asio/detail/vf_core.hpp>
#include <vpci/error.hpp>

namespace vpci::detail {

// The executor types of an io_context and of a thread_pool with the default allocator: every value of
// their Bits parameter (the properties a user may require or prefer that the type records: in Boost 1.81
// outstanding_work.tracked, and a pool's blocking.always; the others are kept in the object, but a Boost
// that moved one into the type stays covered), each also inside a strand. `ask`'s answer for the first
// of them `executor` holds; none when it holds none.
template <class Executor, class Ask, std::uintptr_t... IoBits, unsigned... PoolBits>
std::optional<bool> ask_standard_executor(const Executor& executor, Ask& ask,
                                          std::integer_sequence<std::uintptr_t, IoBits...>,
                                          std::integer_sequence<unsigned, PoolBits...>) {
  std::optional<bool> answer;
  const auto try_type = [&]<class E>(std::type_identity<E>) {
    if (answer) return;
    if (const auto* e = executor.template target<E>()) {
      answer = ask(*e);
    } else if (const auto* in_strand = executor.template target<boost::asio::strand<E>>()) {
      answer = ask(*in_strand);
    }
  };
  (try_type(std::type_identity<boost::asio::io_context::basic_executor_type<std::allocator<void>, IoBits>>{}), ...);
  (try_type(std::type_identity<boost::asio::thread_pool::basic_executor_type<std::allocator<void>, PoolBits>>{}), ...);
  return answer;
}

// Hands `ask` the executor inside `executor`, as its own type, when `executor` is type-erased
// (any_io_executor) and holds one this layer knows: an io_context's or a thread_pool's (with any of the
// properties above: a facade that missed one waited on its thread for itself), a strand of one of those
// or of an any_io_executor. An executor that is not
// type-erased is handed over as it is; `ask` says what it can of it. False for an erased one of another
// kind (one with an allocator of its own, say).
template <class Executor, class Ask>
bool ask_known_executor(const Executor& executor, Ask ask) {
  if constexpr (requires { executor.template target<boost::asio::io_context::executor_type>(); }) {
    const std::optional<bool> answer = ask_standard_executor(
        executor, ask, std::make_integer_sequence<std::uintptr_t, 8>{}, std::make_integer_sequence<unsigned, 16>{});
    if (answer) return *answer;
    if (const auto* e = executor.template target<boost::asio::strand<boost::asio::any_io_executor>>()) return ask(*e);
    return false;
  } else {
    return ask(executor);
  }
}

// Whether the calling thread is running `executor` (a facade's blocking call made there would wait for
// its own thread, so the facades refuse it): an executor that can say so, directly or inside a
// type-erased one (ask_known_executor). A strand is run by the threads that run its inner executor: a
// thread running that one outside the strand counts too. It may be the only one (an io_context run by one
// thread), and a call waiting there for the strand waited for good.
template <class Executor>
bool running_in_this_thread(const Executor& executor) {
  return ask_known_executor(executor, [](const auto& e) -> bool {
    if constexpr (requires { e.get_inner_executor(); })  // a strand
      return e.running_in_this_thread() || running_in_this_thread(e.get_inner_executor());
    else if constexpr (requires { e.running_in_this_thread(); })
      return e.running_in_this_thread();
    else
      return false;
  });
}

// Whether `executor` is an io_context's (or a strand of one), directly or inside a type-erased one, and
// that io_context is stopped: it runs nothing until restarted (the usual shutdown stops it and joins its
// threads before destroying what used it). False for other executors, which cannot be asked.
template <class Executor>
bool io_context_stopped(const Executor& executor) {
  return ask_known_executor(executor, [](const auto& e) -> bool {
    if constexpr (requires { e.get_inner_executor(); })  // a strand
      return io_context_stopped(e.get_inner_executor());
    else if constexpr (requires { e.context().stopped(); })
      return e.context().stopped();
    else
      return false;
  });
}

// Whether `ec`, a call's outcome on `endpoint`, says the device went away: the endpoint was destroyed
// (`life`), the VF was removed, the PF is known dead, the endpoint failed for good (its stream or transport
// failed or ended, its negotiation failed) or was closed. Read on the endpoint's executor. Each of these
// is the endpoint's own verdict: no status a PF puts in an answer maps to vf_removed or peer_gone
// (to_errc, vpci/protocol/status_mapping.hpp: STATUS_NO_SUCH_DEVICE is peer_no_such_device), so a PF
// that answers one request "no such device" fails that request only, and the calls waiting start.
template <class Endpoint>
bool device_gone(const vf_life& life, const Endpoint& endpoint, const boost::system::error_code& ec) {
  if (!ec) return false;
  if (!life.alive) return true;  // nothing of the endpoint is left to ask
  return ec == endpoint.failure() || ec == errc::vf_removed || ec == errc::peer_gone ||
         ec == boost::asio::error::operation_aborted;
}

// `Call` is what the facade keeps of a call until it starts (movable). The facade's `start(Call&&)`
// hands a call to the endpoint and returns true, or ends it without starting it and returns false (its
// slot stays free); `end(Call&&)` completes a call that never started.
template <class Call>
class slot_queue {
 public:
  explicit slot_queue(std::size_t slots) noexcept : slots_(slots) {}

  // A call arrived: it waits behind the calls already waiting, and the free slots start the oldest.
  template <class Start>
  void arrive(Call call, Start&& start) {
    waiting_.push_back(std::move(call));
    start_waiting(start);
  }

  // A started call completed, its own completion delivered: its slot is free. With `device_gone` (its
  // outcome said so), every call waiting ends by `end` first; then the free slots start the oldest.
  template <class End, class Start>
  void completed(bool device_gone, End&& end, Start&& start) {
    --in_flight_;
    if (device_gone) (void)end_waiting_if([](const Call&) { return true; }, end);
    start_waiting(start);
  }

  // Takes the waiting calls `selected(const Call&)` picks out of the queue and ends each by `end`, oldest
  // first (a cancellation); the others keep their places. Returns how many ended.
  template <class Select, class End>
  std::size_t end_waiting_if(Select&& selected, End&& end) {
    std::deque<Call> ended;
    std::deque<Call> kept;
    for (Call& call : waiting_) (selected(std::as_const(call)) ? ended : kept).push_back(std::move(call));
    waiting_ = std::move(kept);  // before any `end` runs: the queue is whole whatever it does
    for (Call& call : ended) end(std::move(call));
    return ended.size();
  }

  [[nodiscard]] std::size_t slots() const noexcept { return slots_; }
  [[nodiscard]] std::size_t in_flight() const noexcept { return in_flight_; }
  [[nodiscard]] std::size_t waiting() const noexcept { return waiting_.size(); }

 private:
  template <class Start>
  void start_waiting(Start& start) {
    while (in_flight_ < slots_ && !waiting_.empty()) {
      Call next = std::move(waiting_.front());
      waiting_.pop_front();
      ++in_flight_;
      if (!start(std::move(next))) --in_flight_;
    }
  }

  std::size_t slots_;
  std::size_t in_flight_{0};   // started, not yet completed: at most slots_
  std::deque<Call> waiting_;   // arrived while no slot was free, oldest first
};

}  // namespace vpci::detail
