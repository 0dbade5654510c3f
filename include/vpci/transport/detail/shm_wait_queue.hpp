// vpci/transport/detail/shm_wait_queue.hpp (hosted, Linux, not public API): asynchronous waits for a change
// in shared memory (a doorbell's sequence, a peer's presence) without blocking any io_context thread.
// One helper thread per queue sleeps on the futex for all of the queue's waits and posts each completion to
// its handler's executor.
//
// A Watch says what is watched:
//   std::uint32_t observe() const     the current value (a doorbell's sequence; 1 once a peer is gone)
//   void sleep(std::uint32_t seen)    blocks while the value may still be `seen` (spurious returns allowed)
//   void wake()                       makes a sleep() in progress return
// A wait completes as soon as observe() differs from the value it was started with.
//
// Per-operation cancellation follows Asio's own I/O objects (its timers and sockets), not its composed
// operations: a wait installs its cancellation handler into the slot when it starts and never touches the
// slot again. The handler refers to the wait by a unique id through a weak reference to the queue, so once
// the wait completed it stays installed harmlessly (a late emit finds nothing, even if another wait now
// sits at the same address) until the slot is reused or its signal destroyed. Hence the signal may be
// destroyed at any time: while the wait is pending (the wait can then no longer be cancelled but still
// completes) or while its completion is queued (the completion touches nothing of the signal). Clearing
// the slot when completing, as composed operations do, would require the signal to outlive the completion;
// a completion queued after its owner died (a VF endpoint destroyed while it waited) would then write to
// freed memory.
//
// Out of memory: posting a completion allocates (the executor's operation), on the helper thread among
// others, where an exception would end the process. A completion that cannot be posted leaves its wait
// as it was: the helper thread and the queue's shutdown try again a millisecond apart until it is posted,
// a cancellation puts it back and throws std::bad_alloc to the canceller, and a
// wait finished at its start throws std::bad_alloc from the initiating function without calling the handler.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <new>
#include <thread>
#include <utility>

#include <unistd.h>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/cancellation_type.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/system/error_code.hpp>

#include <vpci/error.hpp>
#include <vpci/transport/detail/helper_thread.hpp>

namespace vpci::detail {

struct shm_wait_pending {
  shm_wait_pending* next = nullptr;
  shm_wait_pending* prev = nullptr;
  std::uint64_t id = 0;
  std::uint32_t seen = 0;
  // Posts the operation's completion and lets go of it (the completion owns it then): true. False when the
  // post ran out of memory: the operation is as it was, still the caller's.
  [[nodiscard]] virtual bool try_finish(boost::system::error_code ec, std::uint32_t observed) noexcept = 0;
  // Destroys the operation without calling its handler (its initiation threw).
  virtual void discard() noexcept = 0;
  virtual ~shm_wait_pending() = default;
};

template <class Watch>
class shm_wait_queue {
 public:
  explicit shm_wait_queue(Watch watch) : watch_(std::move(watch)), state_(std::make_unique<queue_state>()), owner_(::getpid()) {}
  shm_wait_queue(const shm_wait_queue&) = delete;
  shm_wait_queue& operator=(const shm_wait_queue&) = delete;
  ~shm_wait_queue() { shutdown(); }

  [[nodiscard]] std::uint32_t observe() const noexcept { return watch_.observe(); }
  [[nodiscard]] std::uint64_t next_id() noexcept { return next_id_.fetch_add(1, std::memory_order_relaxed); }

  // Takes `op` (which owns itself until finished or discarded) and finishes it at once (posted) when the
  // value already differs from its `seen`, else when it changes, on cancellation or on shutdown
  // (vpci::errc::cancelled). Throws boost::system::system_error with the errno of thread creation when the
  // helper thread cannot start, std::bad_alloc when the immediate completion cannot be posted: `op` is
  // then discarded, as an initiating function that throws never calls its handler.
  void add(shm_wait_pending* op) {
    queue_state& state = *state_;
    std::unique_lock lock(state.mutex);
    const std::uint32_t current = watch_.observe();
    if (state.stopping || current != op->seen) {
      const bool stopping = state.stopping;
      lock.unlock();
      if (!op->try_finish(stopping ? boost::system::error_code{errc::cancelled} : boost::system::error_code{}, current)) {
        op->discard();
        throw std::bad_alloc();
      }
      return;
    }
    if (!thread_) {
      try {
        thread_ = start_helper_thread([this] { run(); }, "start the wait thread");
      } catch (...) {
        op->discard();
        throw;
      }
    }
    state.link(op);
    state.idle.notify_one();
  }

  // Puts back a wait taken out by remove() whose completion could not be posted: pending again, as if it
  // had never been taken out (the helper thread finishes it once the value differs from its `seen`).
  void put_back(shm_wait_pending* op) noexcept {
    queue_state& state = *state_;
    {
      std::lock_guard lock(state.mutex);
      if (!state.stopping) {
        state.link(op);
        state.idle.notify_one();
        return;
      }
    }
    finish_until_posted(op, errc::cancelled, watch_.observe());  // the shutdown has taken the others (op->next is null)
  }

  // Unlinks the wait `id` if it is still pending and returns it (the caller finishes it); nullptr if it
  // already finished.
  shm_wait_pending* remove(std::uint64_t id) {
    queue_state& state = *state_;
    std::lock_guard lock(state.mutex);
    for (shm_wait_pending* p = state.head; p != nullptr; p = p->next) {
      if (p->id == id) {
        state.unlink(p);
        return p;
      }
    }
    return nullptr;
  }

  // Stops the helper thread and finishes every pending wait with vpci::errc::cancelled. Idempotent. In a
  // process forked from the one that made the queue, abandons it instead: the helper thread and the waits'
  // handlers belong to the parent, and the copied mutex and condition variables may still count the
  // helper (destroying them would wait for it for ever).
  void shutdown() {
    if (!state_) return;
    if (::getpid() != owner_) {
      (void)thread_.release();
      (void)state_.release();
      return;
    }
    queue_state& state = *state_;
    shm_wait_pending* abandoned = nullptr;
    {
      std::lock_guard lock(state.mutex);
      state.stopping = true;
      abandoned = state.head;
      state.head = nullptr;
    }
    state.idle.notify_all();
    if (thread_) {
      // The helper may have checked `stopping` just before going to sleep on the futex, where no state of
      // ours reaches it without a wake; so wake until it confirms it left.
      std::unique_lock lock(state.mutex);
      while (!state.exited) {
        watch_.wake();
        state.exited_signal.wait_for(lock, std::chrono::milliseconds(1));
      }
      lock.unlock();
      thread_->join();
      thread_.reset();
    }
    finish_until_posted(abandoned, errc::cancelled, watch_.observe());
  }

 private:
  struct queue_state {
    std::mutex mutex;
    std::condition_variable idle;
    std::condition_variable exited_signal;
    shm_wait_pending* head = nullptr;
    bool stopping = false;
    bool exited = false;

    void link(shm_wait_pending* op) noexcept {
      op->prev = nullptr;
      op->next = head;
      if (head != nullptr) head->prev = op;
      head = op;
    }
    void unlink(shm_wait_pending* op) noexcept {
      if (op->prev != nullptr) op->prev->next = op->next;
      else head = op->next;
      if (op->next != nullptr) op->next->prev = op->prev;
      op->next = op->prev = nullptr;
    }
  };

  static constexpr std::chrono::milliseconds retry_delay{1};

  // Finishes each wait of the list (linked by `next`). Each completes exactly once, so out of memory its post
  // is tried again, a millisecond apart, until it is made.
  static void finish_until_posted(shm_wait_pending* list, boost::system::error_code ec, std::uint32_t observed) noexcept {
    while (list != nullptr) {
      shm_wait_pending* next = list->next;  // read first: once posted, the wait may be gone
      while (!list->try_finish(ec, observed)) std::this_thread::sleep_for(retry_delay);
      list = next;
    }
  }

  void run() {
    queue_state& state = *state_;
    std::unique_lock lock(state.mutex);
    while (!state.stopping) {
      if (state.head == nullptr) {
        state.idle.wait(lock);
        continue;
      }
      const std::uint32_t current = watch_.observe();
      shm_wait_pending* ready = nullptr;
      for (shm_wait_pending* p = state.head; p != nullptr;) {
        shm_wait_pending* next = p->next;
        if (p->seen != current) {
          state.unlink(p);
          p->next = ready;
          ready = p;
        }
        p = next;
      }
      lock.unlock();
      if (ready == nullptr) {
        watch_.sleep(current);
        lock.lock();
        continue;
      }
      // Out of memory, this thread tries each post again until it is made: nothing else could.
      finish_until_posted(ready, {}, current);
      lock.lock();
    }
    state.exited = true;
    state.exited_signal.notify_all();
  }

  Watch watch_;
  std::unique_ptr<queue_state> state_;
  ::pid_t owner_;
  std::atomic<std::uint64_t> next_id_{1};
  std::unique_ptr<std::thread> thread_;
};

// How a finished wait calls its handler: with the observed value (void(error_code, std::uint32_t)) or
// without it (void(error_code)).
enum class shm_wait_result { with_value, without_value };

// One pending asynchronous wait. Its completion always runs on the handler's associated executor (work is
// held on it meanwhile). It never touches the handler's cancellation slot (see the top of this file). It
// owns itself (`self_`) from start_shm_wait until its completion is posted, which then owns it, or until it
// is discarded: a post that fails leaves the posted copy of the ownership behind, never the operation.
template <class Handler, shm_wait_result Result>
class shm_wait_operation final : public shm_wait_pending {
 public:
  using handler_executor = boost::asio::associated_executor_t<Handler, boost::asio::any_io_executor>;

  shm_wait_operation(Handler handler, const boost::asio::any_io_executor& io_executor,
                     std::uint32_t seen_value, std::uint64_t operation_id)
      : handler_(std::move(handler)), work_(boost::asio::get_associated_executor(handler_, io_executor)) {
    this->seen = seen_value;
    this->id = operation_id;
  }

  void own(std::shared_ptr<shm_wait_operation> self) noexcept { self_ = std::move(self); }

  bool try_finish(boost::system::error_code ec, std::uint32_t observed) noexcept override {
    try {
      boost::asio::post(work_.get_executor(), [self = self_, ec, observed]() mutable {
        Handler handler = std::move(self->handler_);
        self.reset();  // freed first (unless try_finish has not let go yet), so the handler may start the next wait
        complete(handler, ec, observed);
      });
    } catch (const std::bad_alloc&) {
      return false;
    }
    // The completion may already have run on another thread: nothing but our own reference is touched.
    const std::shared_ptr<shm_wait_operation> posted = std::move(self_);
    return true;
  }
  void discard() noexcept override { const std::shared_ptr<shm_wait_operation> last = std::move(self_); }

 private:
  static void complete(Handler& handler, boost::system::error_code ec, std::uint32_t observed) {
    if constexpr (Result == shm_wait_result::with_value) {
      std::move(handler)(ec, observed);
    } else {
      (void)observed;
      std::move(handler)(ec);
    }
  }

  Handler handler_;
  boost::asio::executor_work_guard<handler_executor> work_;
  std::shared_ptr<shm_wait_operation> self_;
};

// The cancellation handler a wait installs into its slot.
template <class Queue>
class shm_wait_canceller {
 public:
  // A constructor, not aggregate initialization: the slot constructs it with parentheses, which clang 14
  // does not accept for aggregates.
  shm_wait_canceller(std::weak_ptr<Queue> queue, std::uint64_t id) noexcept : queue_(std::move(queue)), id_(id) {}

  void operator()(boost::asio::cancellation_type type) const {
    using boost::asio::cancellation_type;
    if ((type & (cancellation_type::terminal | cancellation_type::partial | cancellation_type::total)) ==
        cancellation_type::none) {
      return;
    }
    const std::shared_ptr<Queue> queue = queue_.lock();
    if (!queue) return;
    shm_wait_pending* op = queue->remove(id_);
    if (op == nullptr || op->try_finish(errc::cancelled, queue->observe())) return;
    queue->put_back(op);  // not cancelled: the wait goes on
    throw std::bad_alloc();
  }

 private:
  std::weak_ptr<Queue> queue_;
  std::uint64_t id_;
};

// Starts a wait on `queue` for a change from `seen`, completing `handler` as Result says.
template <shm_wait_result Result, class Queue, class Handler>
void start_shm_wait(const std::shared_ptr<Queue>& queue, Handler&& handler,
                    const boost::asio::any_io_executor& io_executor, std::uint32_t seen) {
  using operation_type = shm_wait_operation<std::decay_t<Handler>, Result>;
  auto slot = boost::asio::get_associated_cancellation_slot(handler);
  auto operation = std::make_shared<operation_type>(std::forward<Handler>(handler), io_executor, seen, queue->next_id());
  if (slot.is_connected()) slot.template emplace<shm_wait_canceller<Queue>>(queue, operation->id);
  operation->own(operation);
  queue->add(operation.get());
}

}  // namespace vpci::detail
