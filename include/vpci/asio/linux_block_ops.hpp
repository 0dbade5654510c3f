// vpci::linux_block_ops: the VF functions of Linux's drivers/pci/controller/pci-hyperv-intf.c that a VF
// driver such as mlx5 calls (hyperv_read_cfg_blk, hyperv_write_cfg_blk, hyperv_reg_block_invalidate),
// over any VF endpoint (vf_endpoint or vf_message_endpoint: one core serves both), with Linux's return
// convention, so Linux driver code ports line for line:
//
//   vpci::linux_block_ops dev(endpoint);                        // the endpoint's executor runs elsewhere
//   unsigned int bytes_returned;
//   int rc = hyperv_read_cfg_blk(&dev, buf, HV_CONFIG_BLOCK_SIZE_MAX, block_id, &bytes_returned);
//   rc = hyperv_reg_block_invalidate(&dev, context, mlx5_hv_vhca_invalidate);
//
// Return values (0 or a negative errno, as pci-hyperv.c's hv_read_config_block / hv_write_config_block /
// hv_register_block_invalidate; <cerrno> values):
//   0            success; a read stores the bytes read in *bytes_returned (1..len), nothing else does;
//   -EINVAL      a length of 0 or above 128, a null buffer or bytes_returned: nothing is sent;
//   -EIO         the PF answered with a failure status, whichever (access denied, invalid parameter, buffer
//                too small, device not ready, and STATUS_NO_SUCH_DEVICE, STATUS_IO_TIMEOUT, STATUS_CANCELLED
//                and STATUS_REVISION_MISMATCH too: as Linux answers -EIO for every status but success), or
//                with success and no data (an empty answer), or with an answer that breaks the protocol;
//                on binding 1 also a PF that restarted under the call (peer_restarted: a write's outcome is
//                unknown) and a read the PF's writes kept tearing (torn_read); also the endpoint's busy
//                when operations started on it other than through this facade hold every slot (the
//                facade's own callers wait: Threading). Such an answer fails that call
//                only: the calls waiting for a slot start, and the invalidation callback stays registered;
//   -ENODEV      the device is gone: the operation was ended by a VF removal (the endpoint's remove() or
//                destruction: a call still waiting when the endpoint is destroyed returns it too), the PF is
//                known dead (the endpoint's own verdict: never a status the PF answered), the stream or
//                transport failed or ended, or the endpoint was closed; once the
//                endpoint is dead every call returns it (Linux's answer once the channel is rescinded:
//                wait_for_response, get_pcichild_wslot). A call waiting for a slot (Threading) returns it
//                as soon as one of this facade's calls does: it waited across the device going away;
//   -ETIMEDOUT   no answer by the endpoint's default timeout (a PF's STATUS_IO_TIMEOUT is -EIO). Linux waits
//                without a deadline (only a
//                rescinded channel ends the wait, with -ENODEV); vpci bounds the wait and reports it apart
//                from -ENODEV because the endpoint stays usable: a slow PF is not a removed device;
//   -EPROTO      no protocol version could be agreed with the PF (binding 2; hv_pci_protocol_negotiation's
//                error), or the mailbox layout's revision differs (binding 1);
//   -EDEADLK     read_cfg_blk or write_cfg_blk called from this facade's invalidation callback (any
//                executor; another facade's callback on the same thread is not told), or on
//                the thread running the endpoint's executor when that is an io_context's or a thread_pool's
//                (with any blocking, relationship or outstanding-work property; the default allocator), or
//                a strand of either or of an any_io_executor, type-erased or not: the call would wait
//                for that very thread. On a thread of another kind of executor (a strand of a strand, one
//                with an allocator of its own, a user's executor type) such a call waits for good:
//                do not make one there (nor destroy there a facade with a callback registered);
//   -EOPNOTSUPP  the free functions with a null `dev` (pci-hyperv-intf.c's answer when no backend is there);
//   -errno       a transport's own system error (sysfs' EACCES, ...), passed through.
//
// Threading, as in Linux: read_cfg_blk and write_cfg_blk sleep until the answer, so they are called from
// threads other than the one running the endpoint's executor (Linux: process context), which must be
// running. Any number of threads may call them at once: up to max_calls_in_flight (the endpoint's
// operations in flight: 64 on binding 2, 16 queued on binding 1) are pipelined, and further callers sleep
// until one of those completes, then start in the order they arrived (Linux's callers never fail because
// others are busy). A waiting call's deadline (-ETIMEDOUT) runs from when it starts; the -EDEADLK cases
// are told before a call waits. The slots counted are this facade's: operations started on the endpoint
// by other means (its asynchronous or synchronous forms, another facade over it) share the endpoint's
// slots unseen, and a call that finds them all taken returns -EIO (the rule: detail/slot_queue.hpp). The
// invalidation callback runs on the endpoint's executor (Linux: the channel callback) and must not sleep;
// it may call reg_blk_invalidate. reg_blk_invalidate may be called from any thread, the callback
// included; from another thread it waits for the endpoint's executor (so that no earlier callback runs
// once it returns, which Linux does not promise): never call it, or destroy the facade, while holding a
// lock the callback takes. An unregistration (and so the destructor) finding the endpoint's io_context
// stopped does not wait for it: the callback is withdrawn at once, until a later registration applies
// (destroy the facade after the threads running the io_context have returned, as the usual shutdown does).
//
// Reads of a block shorter than `buf_len`: binding 2 answers `buf_len` bytes (the PF pads the block with
// zeros, as Linux's host does), binding 1 the block's own size (docs/hyperv-binding.md). A driver that
// requires *bytes_returned == buf_len fails there on binding 1 (mlx5's mlx5_hv_config_common returns -EIO)
// unless its blocks are buf_len long, as mlx5's 128-byte blocks are.
//
// Invalidations: while a callback is registered the facade keeps the endpoint's invalidation wait (do not
// start async_wait_invalidate on that endpoint meanwhile: it would be refused busy, and invalidations
// would stop reaching the callback), for as long as the endpoint lives, as Linux calls block_invalidate
// for as long as the device exists: a PF whose heartbeat paused ends the wait (peer_gone), and the facade
// waits again. Invalidations raised while none is registered are latched by the endpoint and delivered to
// the next callback registered, never lost (Linux drops them).
//
// Lifetime: destroy the facade before the endpoint, while the endpoint's executor runs (or from its
// thread): the destructor unregisters the callback first, as mlx5_hv_unregister_invalidate does. Calls
// in flight or waiting for a slot when the facade is destroyed hold what they need and go on; the
// endpoint's destruction then ends them all with -ENODEV.
#pragma once

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <utility>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/cancellation_type.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/post.hpp>
#include <boost/system/error_code.hpp>

#include <vpci/asio/detail/slot_queue.hpp>
#include <vpci/asio/detail/vf_core.hpp>
#include <vpci/error.hpp>
#include <vpci/protocol/block_id.hpp>
#include <vpci/protocol/constants.hpp>

extern "C" {
// void (*block_invalidate)(void *context, u64 block_mask)
typedef void (*vpci_linux_block_invalidate)(void* context, std::uint64_t block_mask);
}

namespace vpci {

namespace detail {

// The facade state whose invalidation callback this thread is running, if any: a blocking call made from
// there waits for this very thread, whatever kind of executor runs it (running_in_this_thread knows only
// some).
inline thread_local const void* linux_block_ops_in_callback = nullptr;

// One blocking call's result, shared with the handler that produces it (which may outlive nothing: the
// caller waits, but the handler's last touch must not race the caller's return).
struct linux_call_result {
  std::mutex mutex;
  std::condition_variable ready;
  bool done{false};
  int rc{0};
  std::size_t bytes{0};
  void set(int value, std::size_t n = 0) {
    std::lock_guard lock(mutex);
    rc = value;
    bytes = n;
    done = true;
    ready.notify_all();
  }
  int wait() {
    std::unique_lock lock(mutex);
    ready.wait(lock, [this] { return done; });
    return rc;
  }
  // Waits until set, or until `given_up()` (asked every `slice` while not set) says no answer will come.
  template <class GivenUp>
  std::optional<int> wait_unless(GivenUp given_up, std::chrono::milliseconds slice) {
    std::unique_lock lock(mutex);
    while (!ready.wait_for(lock, slice, [this] { return done; })) {
      lock.unlock();
      const bool give_up = given_up();
      lock.lock();
      if (give_up && !done) return std::nullopt;
    }
    return rc;
  }
};

}  // namespace detail

template <class Endpoint>
class linux_block_ops {
 public:
  // HV_CONFIG_BLOCK_SIZE_MAX.
  static constexpr unsigned int block_size_max = static_cast<unsigned int>(max_block_size);
  // The calls started on the endpoint at once: its operation slots. Callers beyond them wait for one.
  static constexpr std::size_t max_calls_in_flight = Endpoint::max_operations;

  explicit linux_block_ops(Endpoint& endpoint) : state_(std::make_shared<state>(endpoint, endpoint.life())) {}
  linux_block_ops(const linux_block_ops&) = delete;
  linux_block_ops& operator=(const linux_block_ops&) = delete;
  // Unregisters the callback (as reg_blk_invalidate(nullptr, nullptr)): none runs once this returns. A
  // facade with no callback registered (never, or unregistered since) touches nothing. On a stopped
  // io_context it does not wait (reg_blk_invalidate says how).
  ~linux_block_ops() {
    if (state_->registered.load()) (void)reg_blk_invalidate(nullptr, nullptr);
  }

  // hyperv_read_cfg_blk: reads `buf_len` (1..128) bytes of block `block_id` into `buf`; on success stores
  // the bytes read (1..buf_len) in *bytes_returned. Sleeps until the answer. Return values: above.
  int read_cfg_blk(void* buf, unsigned int buf_len, unsigned int block_id, unsigned int* bytes_returned) {
    if (buf == nullptr || bytes_returned == nullptr || buf_len == 0 || buf_len > block_size_max) return -EINVAL;
    const auto destination = std::span<std::byte>(static_cast<std::byte*>(buf), buf_len);
    std::size_t bytes = 0;
    const int rc = call([destination, block_id](const std::shared_ptr<state>& s, auto done) {
      s->endpoint->async_read_block(block_id_of(block_id), destination, std::move(done));
    }, bytes);
    if (rc == 0) *bytes_returned = static_cast<unsigned int>(bytes);
    return rc;
  }

  // hyperv_write_cfg_blk: writes `len` (1..128) bytes of `buf` to block `block_id`. Sleeps until the
  // answer. Return values: above.
  int write_cfg_blk(void* buf, unsigned int len, unsigned int block_id) {
    if (buf == nullptr || len == 0 || len > block_size_max) return -EINVAL;
    const auto data = std::span<const std::byte>(static_cast<const std::byte*>(buf), len);
    std::size_t bytes = 0;
    return call([data, block_id](const std::shared_ptr<state>& s, auto done) {
      s->endpoint->async_write_block(block_id_of(block_id), data, std::move(done));
    }, bytes);
  }

  // hyperv_reg_block_invalidate: `block_invalidate(context, mask)` is called for every invalidation from
  // now on (replacing any earlier callback); a null callback unregisters. Returns 0, or -ENODEV once the
  // endpoint is dead. Never sleeps on the endpoint's own thread; from another it waits until the
  // registration took effect (no earlier callback runs afterwards).
  int reg_blk_invalidate(void* context, vpci_linux_block_invalidate block_invalidate) {
    auto s = state_;
    if (block_invalidate != nullptr) s->registered.store(true);
    auto apply = [s, context, block_invalidate] {
      const bool dead = !s->life->alive || static_cast<bool>(s->endpoint->failure());
      if (block_invalidate == nullptr) {  // unregistering always takes effect
        s->registered.store(false);
        s->context = nullptr;
        s->callback = nullptr;
        if (s->waiting) s->cancel.emit(boost::asio::cancellation_type::terminal);
        return dead ? -ENODEV : 0;
      }
      if (dead) {
        s->registered.store(s->callback != nullptr);  // refused: registered as before this call
        return -ENODEV;
      }
      s->registered.store(true);  // again: an unregistration applied after this call began cleared it
      s->withdrawn.store(false);  // a withdrawal while the io_context was stopped ends with this registration
      s->context = context;
      s->callback = block_invalidate;
      arm(s);
      // Bits that arrived while none was registered: delivered to this callback, from the executor (never
      // inside this call, which the callback itself may make).
      if (!s->kept.empty())
        boost::asio::post(s->executor, [s] {
          if (s->life->alive) deliver(s, block_mask{});
        });
      return 0;
    };
    if (on_executor_thread(*s)) return apply();
    auto result = std::make_shared<detail::linux_call_result>();
    boost::asio::post(s->executor, [apply, result] { result->set(apply()); });
    if (block_invalidate != nullptr) return result->wait();
    // An unregistration must not wait for an io_context that is stopped (~linux_block_ops after the
    // usual shutdown: stop, join, destroy waited for good): the callback is withdrawn instead, which every
    // later delivery reads, and the unregistration stays queued should the io_context run again. A
    // callback that is running on another thread at that moment may still finish.
    const auto rc = result->wait_unless([&s] { return detail::io_context_stopped(s->executor); }, std::chrono::milliseconds(10));
    if (rc) return *rc;
    s->withdrawn.store(true);
    s->registered.store(false);
    return 0;
  }

  [[nodiscard]] Endpoint& endpoint() const noexcept { return *state_->endpoint; }

 private:
  struct state;
  struct waiting_call;
  // A blocking call's completion on the endpoint's executor: wakes its caller, frees its slot, starts the
  // next waiting call.
  struct call_completion {
    std::shared_ptr<state> s;
    std::shared_ptr<detail::linux_call_result> result;
    void operator()(boost::system::error_code ec, std::size_t n) const {
      const int rc = to_errno(*s, ec);
      result->set(rc, n);
      // The device went away while calls waited for a slot: they return what this call returns (-ENODEV;
      // after a failed negotiation -ETIMEDOUT or -EPROTO, which starting would have given them), as a
      // rescinded channel wakes every sleeping Linux caller (detail::slot_queue).
      s->calls.completed(detail::device_gone(*s->life, *s->endpoint, ec),
                         [rc](waiting_call&& call) { call.result->set(rc); },
                         [s = s](waiting_call&& call) { return start_call(s, std::move(call)); });
    }
  };
  // A call that arrived on the executor: `start` hands its operation to the endpoint once it has a slot.
  struct waiting_call {
    std::shared_ptr<detail::linux_call_result> result;
    std::function<void(const std::shared_ptr<state>&, call_completion)> start;
  };

  // Touched only on the endpoint's executor (the blocking calls hand their work to it).
  struct state {
    state(Endpoint& e, std::shared_ptr<detail::vf_life> l)
        : endpoint(&e), executor(e.get_executor()), life(std::move(l)) {}
    Endpoint* endpoint;
    // The endpoint's executor, kept so that the calling threads never touch the endpoint: it may be
    // destroyed meanwhile (the facade's work then finds `life` false on the executor).
    typename Endpoint::executor_type executor;
    // Whether `endpoint` still exists (read on the executor only): a completion the endpoint posted before
    // it was destroyed runs after it, and so may work a caller posted; neither may touch it.
    std::shared_ptr<detail::vf_life> life;
    void* context{nullptr};
    vpci_linux_block_invalidate callback{nullptr};
    // A callback is registered, or being registered (the destructor must unregister). Set by the
    // registering thread at once, and on the executor in the order the registrations apply.
    std::atomic<bool> registered{false};
    // Unregistered while the io_context was stopped (reg_blk_invalidate): no callback runs until the next
    // registration applies.
    std::atomic<bool> withdrawn{false};
    // Invalidations a wait delivered while no callback was registered, for the next one.
    block_mask kept{};
    bool waiting{false};
    boost::asio::cancellation_signal cancel;
    // This facade's calls on the endpoint's slots: at most max_calls_in_flight started, the others
    // waiting, oldest first.
    detail::slot_queue<waiting_call> calls{max_calls_in_flight};
  };

  static block_id block_id_of(unsigned int id) noexcept { return block_id{static_cast<std::uint32_t>(id)}; }

  // Whether this thread runs the endpoint's executor, as far as can be told: inside the callback always.
  static bool on_executor_thread(const state& s) {
    return detail::linux_block_ops_in_callback == &s || detail::running_in_this_thread(s.executor);
  }

  // Starts `operation(state, handler)` on the endpoint's executor once one of the facade's slots is free
  // (behind the calls that arrived before it) and waits for its completion, mapped to an errno.
  template <class Operation>
  int call(Operation operation, std::size_t& bytes) {
    auto s = state_;
    if (on_executor_thread(*s)) return -EDEADLK;
    auto result = std::make_shared<detail::linux_call_result>();
    boost::asio::post(s->executor, [s, result, operation]() mutable {
      s->calls.arrive(waiting_call{std::move(result), std::move(operation)},
                      [&s](waiting_call&& call) { return start_call(s, std::move(call)); });
    });
    const int rc = result->wait();
    std::lock_guard lock(result->mutex);
    bytes = result->bytes;
    return rc;
  }

  // Hands a call that has a slot to the endpoint (on the executor); false when the endpoint was destroyed
  // before it started: it returns -ENODEV then.
  static bool start_call(const std::shared_ptr<state>& s, waiting_call&& call) {
    if (!s->life->alive) {
      call.result->set(-ENODEV);
      return false;
    }
    call.start(s, call_completion{s, std::move(call.result)});
    return true;
  }

  // Whether `ec` is the endpoint's failed negotiation (binding 2; binding 1 negotiates nothing).
  static bool failed_negotiation(const Endpoint& endpoint, const boost::system::error_code& ec) {
    if constexpr (requires { endpoint.negotiation_failure(); }) {
      return ec == endpoint.negotiation_failure();
    } else {
      return false;
    }
  }

  // The errno for an operation's outcome (on the endpoint's executor, where failure() may be read).
  static int to_errno(const state& s, const boost::system::error_code& ec) {
    if (!ec) return 0;
    if (!s.life->alive) return -ENODEV;  // ended by the endpoint's destruction: nothing of it is left to ask
    // First: a failed negotiation is also the endpoint's lasting failure, and stays -ETIMEDOUT when the PF
    // never answered, else -EPROTO whatever status it refused with (hv_pci_protocol_negotiation).
    if (ec == errc::timeout) return -ETIMEDOUT;
    if (ec == errc::revision_mismatch || failed_negotiation(*s.endpoint, ec)) return -EPROTO;
    if (detail::device_gone(*s.life, *s.endpoint, ec)) return -ENODEV;
    if (ec.category() == error_category()) return -EIO;
    if ((ec.category() == boost::system::system_category() || ec.category() == boost::system::generic_category()) &&
        ec.value() > 0)
      return -ec.value();
    return -EIO;
  }

  // Keeps one invalidation wait pending while a callback is registered; each delivery calls the callback
  // registered at that moment.
  static void arm(const std::shared_ptr<state>& s) {
    if (s->waiting) return;
    s->waiting = true;
    s->endpoint->async_wait_invalidate(boost::asio::bind_cancellation_slot(
        s->cancel.slot(), [s](boost::system::error_code ec, block_mask mask) {
          s->waiting = false;
          if (!s->life->alive) return;  // the endpoint was destroyed
          if (!ec) {
            deliver(s, mask);
          } else if (ec == errc::peer_gone && !s->endpoint->failure()) {
            // The PF's heartbeat paused: the endpoint lives and finds out when it beats again.
          } else if (ec != errc::cancelled && ec != errc::vf_removed) {
            return;  // the endpoint is dead, or another waiter holds the wait: nothing more comes here
          }
          rearm(s);  // (a cancelled wait's bits stay latched)
        }));
  }
  // A callback is there to call: registered, and not withdrawn since.
  static bool listening(const state& s) { return s.callback != nullptr && !s.withdrawn.load(); }
  static void rearm(const std::shared_ptr<state>& s) {
    if (listening(*s) && s->life->alive) arm(s);
  }

  // Calls the callback registered now with `mask` and the bits kept for it. With none (unregistered or
  // withdrawn since the wait began) the bits are kept for the next callback registered: never lost.
  static void deliver(const std::shared_ptr<state>& s, block_mask mask) {
    if (!listening(*s)) {
      s->kept |= mask;
      return;
    }
    mask |= std::exchange(s->kept, block_mask{});
    if (mask.empty()) return;
    const void* const outer = std::exchange(detail::linux_block_ops_in_callback, s.get());
    try {
      s->callback(s->context, mask.bits());
    } catch (...) {
      // A callback that throws (C++ driver code) stays registered: this thread is out of it again and its
      // next invalidation is waited for before the exception goes out of the loop.
      detail::linux_block_ops_in_callback = outer;
      rearm(s);
      throw;
    }
    detail::linux_block_ops_in_callback = outer;
  }

  std::shared_ptr<state> state_;
};

// pci-hyperv-intf.c's exported functions, taking the facade where Linux takes the struct pci_dev.
template <class Endpoint>
int hyperv_read_cfg_blk(linux_block_ops<Endpoint>* dev, void* buf, unsigned int buf_len, unsigned int block_id,
                        unsigned int* bytes_returned) {
  return dev == nullptr ? -EOPNOTSUPP : dev->read_cfg_blk(buf, buf_len, block_id, bytes_returned);
}
template <class Endpoint>
int hyperv_write_cfg_blk(linux_block_ops<Endpoint>* dev, void* buf, unsigned int len, unsigned int block_id) {
  return dev == nullptr ? -EOPNOTSUPP : dev->write_cfg_blk(buf, len, block_id);
}
template <class Endpoint>
int hyperv_reg_block_invalidate(linux_block_ops<Endpoint>* dev, void* context,
                                vpci_linux_block_invalidate block_invalidate) {
  return dev == nullptr ? -EOPNOTSUPP : dev->reg_blk_invalidate(context, block_invalidate);
}

}  // namespace vpci
