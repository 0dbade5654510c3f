// vpci::vf_endpoint: the VF driver's side of the block channel over the config-space mailbox
// (binding 1), through any config_space_transport. A thin Asio shell over engine::vf_mailbox_engine:
// it performs the engine's register accesses, runs its timers and resumes waiters.
//
// Thread safety: an endpoint belongs to one executor (strand or single-threaded io_context); start
// operations from it. Completion handlers run on their associated executors.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <thread>
#include <type_traits>
#include <utility>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/cancellation_type.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/system/system_error.hpp>

#include <vpci/asio/detail/operation.hpp>
#include <vpci/asio/detail/sync_forms.hpp>
#include <vpci/asio/doorbell.hpp>
#include <vpci/asio/interface_standard.hpp>
#include <vpci/block/block.hpp>
#include <vpci/engine/vf_mailbox.hpp>
#include <vpci/error.hpp>
#include <vpci/transport/concept.hpp>

namespace vpci {

struct vf_options {
  // The deadline of a request that names none: vpci::errc::timeout past it.
  std::chrono::nanoseconds default_timeout{std::chrono::seconds(1)};
  // Status polling interval when no doorbell wakes the VF earlier.
  std::chrono::nanoseconds poll_interval{std::chrono::microseconds(20)};
  // How long an abandoned request may stay unanswered before the VF resets the mailbox.
  std::chrono::nanoseconds orphan_timeout{std::chrono::milliseconds(100)};
};

template <config_space_transport Transport>
class vf_endpoint : public detail::vf_sync_forms<vf_endpoint<Transport>> {
 public:
  using detail::vf_sync_forms<vf_endpoint>::read_block;
  using detail::vf_sync_forms<vf_endpoint>::write_block;
  using executor_type = boost::asio::any_io_executor;
  using transport_type = Transport;
  static constexpr std::size_t max_queued = 16;

  // `window` is the config-space offset of the mailbox VSEC (see vpci::mailbox and docs/protocol.md).
  vf_endpoint(Transport& transport, std::size_t window, vf_options options = {})
      : transport_(transport),
        window_(window),
        options_(options),
        engine_(engine::vf_mailbox_config{to_ns(options.poll_interval), 32, to_ns(options.orphan_timeout)}),
        timer_(transport.get_executor()) {}

  vf_endpoint(const vf_endpoint&) = delete;
  vf_endpoint& operator=(const vf_endpoint&) = delete;
  // Pending handlers are completed with vpci::errc::vf_removed; internal waits still queued on the
  // executor see that the endpoint is gone and do nothing.
  ~vf_endpoint() {
    doorbell_cancel_.emit(boost::asio::cancellation_type::all);
    timer_.cancel();
    engine_.remove();
    for (;;) {
      const auto action = engine_.step(0);
      if (action.what != engine::mailbox_action::kind::complete) break;
      deliver(action.done);
    }
    if (invalidate_waiter_ != nullptr) std::exchange(invalidate_waiter_, nullptr)->complete(errc::vf_removed, block_mask{});
  }

  executor_type get_executor() noexcept { return timer_.get_executor(); }
  [[nodiscard]] const vf_options& options() const noexcept { return options_; }
  [[nodiscard]] const engine::vf_mailbox_engine<max_queued>& engine() const noexcept { return engine_; }

  // ---- asynchronous --------------------------------------------------------------------------------
  // Reads block `id` into `buffer` (1..128 bytes: the bytes requested).
  // Completion: void(boost::system::error_code, std::size_t bytes_read).
  // Errors: vpci::errc::invalid_length (buffer size), busy (16 requests queued), timeout, cancelled,
  //   torn_read, empty_response, protocol_violation, the PF's status (invalid_argument,
  //   access_denied, buffer_too_small, ...), not_found / revision_mismatch (no vpci mailbox at the
  //   window), vf_removed, and transport errors.
  // Cancellation: terminal, partial and total (a read has no side effect). `buffer` must stay valid
  //   until completion; after completion the endpoint never touches it.
  template <class CompletionToken>
  auto async_read_block(block_id id, std::span<std::byte> buffer, CompletionToken&& token) {
    return boost::asio::async_initiate<CompletionToken, void(boost::system::error_code, std::size_t)>(
        [this](auto handler, block_id block, std::span<std::byte> destination, std::chrono::nanoseconds timeout) {
          this->start(mailbox::operation::read, block, destination, {}, timeout, std::move(handler));
        },
        token, id, buffer, options_.default_timeout);
  }
  // As async_read_block, with this request's own timeout.
  template <class CompletionToken>
  auto async_read_block(block_id id, std::span<std::byte> buffer, std::chrono::nanoseconds timeout,
                        CompletionToken&& token) {
    return boost::asio::async_initiate<CompletionToken, void(boost::system::error_code, std::size_t)>(
        [this](auto handler, block_id block, std::span<std::byte> destination, std::chrono::nanoseconds t) {
          this->start(mailbox::operation::read, block, destination, {}, t, std::move(handler));
        },
        token, id, buffer, timeout);
  }

  // Writes `data` (1..128 bytes, copied at initiation) to block `id`.
  // Completion: void(boost::system::error_code, std::size_t bytes_written). Errors as async_read_block.
  // Cancellation: terminal always (the PF may have applied the write: the outcome is unknown);
  //   partial and total only while the request is still queued behind others (nothing happened).
  template <class CompletionToken>
  auto async_write_block(block_id id, std::span<const std::byte> data, CompletionToken&& token) {
    return boost::asio::async_initiate<CompletionToken, void(boost::system::error_code, std::size_t)>(
        [this](auto handler, block_id block, std::span<const std::byte> bytes, std::chrono::nanoseconds timeout) {
          this->start(mailbox::operation::write, block, {}, bytes, timeout, std::move(handler));
        },
        token, id, data, options_.default_timeout);
  }

  // Typed read: completion void(boost::system::error_code, typename Block::value_type).
  // A block whose bytes do not decode (wrong length, impossible field) gives vpci::errc::bad_data.
  template <class Block, class CompletionToken>
    requires block_descriptor<Block>
  auto async_read(Block, CompletionToken&& token) {
    using value_type = typename Block::value_type;
    return boost::asio::async_initiate<CompletionToken, void(boost::system::error_code, value_type)>(
        [this](auto handler) {
          using op_type = detail::decoding_read_operation<Block, decltype(handler), executor_type>;
          auto* op = detail::allocate_operation<op_type>(handler, std::move(handler), get_executor());
          this->start_erased(mailbox::operation::read, Block::id, op->buffer, {}, options_.default_timeout, op,
                       op->handler);
        },
        token);
  }

  // Typed write: completion void(boost::system::error_code, std::size_t bytes_written).
  // The value is encoded when the operation is initiated (lazy tokens such as use_awaitable and
  // deferred initiate later), so it is captured by value here.
  template <class Block, class CompletionToken>
    requires block_descriptor<Block>
  auto async_write(Block, const typename Block::value_type& value, CompletionToken&& token) {
    return boost::asio::async_initiate<CompletionToken, void(boost::system::error_code, std::size_t)>(
        [this](auto handler, const typename Block::value_type& v, std::chrono::nanoseconds timeout) {
          const auto bytes = Block::to_buffer(v);  // copied into the engine by start()
          this->start(mailbox::operation::write, Block::id, {}, bytes.span(), timeout, std::move(handler));
        },
        token, value, options_.default_timeout);
  }

  // Waits for invalidations. Latched: bits the PF raised before the wait started are delivered at once,
  // OR-coalesced. Completion: void(boost::system::error_code, vpci::block_mask) with a non-empty mask,
  // or vpci::errc::busy if another wait is pending, cancelled, vf_removed.
  // Cancellation: terminal, partial and total.
  template <class CompletionToken>
  auto async_wait_invalidate(CompletionToken&& token) {
    return boost::asio::async_initiate<CompletionToken, void(boost::system::error_code, block_mask)>(
        [this](auto handler) { this->start_invalidate_wait(std::move(handler)); }, token);
  }

  // ---- synchronous -----------------------------------------------------------------------------
  // Blocking forms, for callers without an event loop (the C facade, tools). They drive the engine on
  // the calling thread and must not overlap asynchronous operations of this endpoint (vpci::errc::busy).
  // The throwing and typed forms (read(Block), write(Block, value)) come from detail::vf_sync_forms.
  std::size_t read_block(block_id id, std::span<std::byte> buffer, boost::system::error_code& ec) {
    return run_sync(mailbox::operation::read, id, buffer, {}, ec);
  }
  std::size_t write_block(block_id id, std::span<const std::byte> data, boost::system::error_code& ec) {
    return run_sync(mailbox::operation::write, id, {}, data, ec);
  }
  // Polls the window once and returns the invalidations latched so far (possibly empty), taking them.
  block_mask poll_invalidations(boost::system::error_code& ec) {
    ec = {};
    if (async_pending()) {
      ec = errc::busy;
      return {};
    }
    engine_.watch_invalidations(true);
    drive_sync_until([this] { return !engine_.pending_invalidations().empty(); }, /*single_poll=*/true, ec);
    engine_.watch_invalidations(invalidate_waiter_ != nullptr);
    return engine_.take_invalidations();
  }

  // The VPCI_INTERFACE_STANDARD facade: driver code written against vpci.h ports line for line.
  [[nodiscard]] interface_standard interface() noexcept { return make_interface_standard(*this); }

  // VF removal or reset: every pending operation completes with vpci::errc::vf_removed, in order.
  void remove() {
    engine_.remove();
    schedule_pump();
    if (invalidate_waiter_ != nullptr) {
      auto* waiter = std::exchange(invalidate_waiter_, nullptr);
      waiter->complete(errc::vf_removed, block_mask{});
    }
  }

 private:
  using rw_operation = detail::pending_operation<std::size_t>;
  using invalidate_operation = detail::pending_operation<block_mask>;

  struct cancel_request {
    cancel_request(vf_endpoint* s, engine::op_handle h, bool w) noexcept : self(s), handle(h), is_write(w) {}
    vf_endpoint* self;
    engine::op_handle handle;
    bool is_write;
    void operator()(boost::asio::cancellation_type_t type) const {
      const bool side_effect_free = !is_write || self->engine_.is_queued(handle);
      if ((type & boost::asio::cancellation_type::terminal) != boost::asio::cancellation_type::none ||
          side_effect_free) {
        if (self->engine_.cancel(handle)) self->schedule_pump();
      }
    }
  };

  static std::uint64_t to_ns(std::chrono::nanoseconds d) noexcept {
    return d.count() <= 0 ? 0 : static_cast<std::uint64_t>(d.count());
  }
  static std::uint64_t now_ns() noexcept {
    return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                          std::chrono::steady_clock::now().time_since_epoch())
                                          .count());
  }

  template <class Handler>
  void start(mailbox::operation operation, block_id id, std::span<std::byte> destination,
             std::span<const std::byte> data, std::chrono::nanoseconds timeout, Handler&& handler) {
    using op_type = detail::handler_operation<std::decay_t<Handler>, executor_type, std::size_t>;
    auto* op = detail::allocate_operation<op_type>(handler, std::move(handler), get_executor());
    this->start_erased(operation, id, destination, data, timeout, op, op->handler);
  }

  template <class Handler>
  void start_erased(mailbox::operation operation, block_id id, std::span<std::byte> destination,
                    std::span<const std::byte> data, std::chrono::nanoseconds timeout, rw_operation* op,
                    Handler& handler) {
    const std::uint64_t deadline = now_ns() + to_ns(timeout);
    auto started = operation == mailbox::operation::read ? engine_.start_read(id, destination, deadline)
                                                          : engine_.start_write(id, data, deadline);
    if (!started) {
      // Never complete inline: the refusal is delivered from the executor.
      boost::asio::post(get_executor(), [op, e = started.error()] { op->complete(e, 0); });
      return;
    }
    operations_[started->slot] = op;
    auto slot = boost::asio::get_associated_cancellation_slot(handler);
    if (slot.is_connected())
      slot.template emplace<cancel_request>(this, *started, operation == mailbox::operation::write);
    schedule_pump();
  }

  template <class Handler>
  void start_invalidate_wait(Handler&& handler) {
    using op_type = detail::handler_operation<std::decay_t<Handler>, executor_type, block_mask>;
    auto* op = detail::allocate_operation<op_type>(handler, std::move(handler), get_executor());
    if (invalidate_waiter_ != nullptr) {
      boost::asio::post(get_executor(), [op] { op->complete(errc::busy, block_mask{}); });
      return;
    }
    invalidate_waiter_ = op;
    auto slot = boost::asio::get_associated_cancellation_slot(op->handler);
    if (slot.is_connected()) {
      slot.template emplace<cancel_invalidate_wait>(this);
    }
    engine_.watch_invalidations(true);
    schedule_pump();
  }

  struct cancel_invalidate_wait {
    explicit cancel_invalidate_wait(vf_endpoint* s) noexcept : self(s) {}
    vf_endpoint* self;
    void operator()(boost::asio::cancellation_type_t) const {
      if (self->invalidate_waiter_ == nullptr) return;
      auto* waiter = std::exchange(self->invalidate_waiter_, nullptr);
      self->engine_.watch_invalidations(false);
      boost::asio::post(self->get_executor(), [waiter] { waiter->complete(errc::cancelled, block_mask{}); });
    }
  };

  bool async_pending() const noexcept {
    for (auto* op : operations_)
      if (op != nullptr) return true;
    return invalidate_waiter_ != nullptr || io_in_flight_;
  }

  void schedule_pump() {
    if (pump_scheduled_ || pumping_) {
      repump_ = true;
      return;
    }
    pump_scheduled_ = true;
    boost::asio::post(get_executor(), [this, life = std::weak_ptr<char>(life_)] {
      if (life.expired()) return;
      pump_scheduled_ = false;
      pump();
    });
  }

  // Runs the engine until it must wait for I/O or time. Completions are dispatched from here, so a
  // handler that resumes a coroutine runs inside this loop and may start the next operation.
  void pump() {
    if (pumping_ || io_in_flight_) return;
    pumping_ = true;
    // The clock is read again only after what can take time: a delivered completion runs user code,
    // and perform_sync says when an access did.
    std::uint64_t now = now_ns();
    for (;;) {
      repump_ = false;
      const engine::mailbox_action action = engine_.step(now);
      using kind = engine::mailbox_action::kind;
      if (action.what == kind::complete) {
        deliver(action.done);
        now = now_ns();
        continue;
      }
      if (action.what == kind::write || action.what == kind::read) {
        if constexpr (is_nonblocking_transport<Transport>::value) {
          (void)perform_sync(action, now);
          continue;
        } else {
          perform_async(action);
          break;
        }
      }
      deliver_invalidations();
      if (action.what == kind::wait) {
        arm_timer(action.until);
        arm_doorbell();
      } else {
        arm_timer(engine_.next_deadline());
      }
      if (!repump_) break;
    }
    pumping_ = false;
  }

  // Performs a register access synchronously and reports it to the engine. `now` is read again only
  // after what can take time: a write (on a memory transport the PF services it inside the call) or any
  // access to a transport that may block. Reads of a non-blocking transport take nanoseconds; re-reading
  // the clock after each was a third of a synchronous read over memory_config_space (clock_gettime).
  // Returns the transport's error, already reported to the engine.
  boost::system::error_code perform_sync(const engine::mailbox_action& action, std::uint64_t& now) {
    boost::system::error_code ec;
    if (action.what == engine::mailbox_action::kind::write) {
      transport_.write(window_ + action.offset, action.bytes, ec);
      now = now_ns();
      if (ec) engine_.on_transport_error(transport_error(ec));
      else engine_.on_written(now);
      return ec;
    }
    note_doorbell();
    auto into = std::span<std::byte>(scratch_).first(action.length);
    transport_.read(window_ + action.offset, into, ec);
    if constexpr (!is_nonblocking_transport<Transport>::value) now = now_ns();
    if (ec) engine_.on_transport_error(transport_error(ec));
    else engine_.on_read(into, now);
    return ec;
  }

  // The doorbell's sequence before a read: a peer write after it ends the next wait at once.
  void note_doorbell() noexcept {
    if constexpr (transport_doorbell<Transport>::available) doorbell_seen_ = transport_doorbell<Transport>::sequence(transport_);
  }

  void perform_async(const engine::mailbox_action& action) {
    io_in_flight_ = true;
    auto done = [this, what = action.what, life = std::weak_ptr<char>(life_)](boost::system::error_code ec,
                                                                              std::size_t n) {
      if (life.expired()) return;
      io_in_flight_ = false;
      if (ec) engine_.on_transport_error(transport_error(ec));
      else if (what == engine::mailbox_action::kind::write) engine_.on_written(now_ns());
      else engine_.on_read(std::span<const std::byte>(scratch_).first(n), now_ns());
      pump();
    };
    if (action.what == engine::mailbox_action::kind::write)
      transport_.async_write(window_ + action.offset, action.bytes, std::move(done));
    else
      transport_.async_read(window_ + action.offset, std::span<std::byte>(scratch_).first(action.length),
                            std::move(done));
  }

  static errc transport_error(const boost::system::error_code& ec) noexcept {
    if (ec.category() == error_category()) return static_cast<errc>(ec.value());
    return errc::device_error;
  }

  void arm_timer(std::uint64_t until) {
    if (until == ~std::uint64_t{0}) {
      if (timer_armed_) {
        timer_.cancel();
        timer_armed_ = false;
      }
      return;
    }
    if (timer_armed_ && timer_deadline_ <= until) return;
    timer_deadline_ = until;
    timer_armed_ = true;
    const auto now = now_ns();
    timer_.expires_after(std::chrono::nanoseconds(until > now ? static_cast<std::int64_t>(until - now) : 0));
    timer_.async_wait([this, generation = ++timer_generation_, life = std::weak_ptr<char>(life_)](
                          boost::system::error_code ec) {
      if (life.expired() || generation != timer_generation_) return;  // gone, or superseded by a later arm
      timer_armed_ = false;
      if (ec == boost::asio::error::operation_aborted) return;
      engine_.wake();
      pump();
    });
  }

  // With a doorbell, a waiting engine wakes when the peer writes instead of at the next poll.
  void arm_doorbell() {
    if constexpr (transport_doorbell<Transport>::available) {
      if (doorbell_armed_) return;
      doorbell_armed_ = true;
      transport_doorbell<Transport>::async_wait(
          transport_, doorbell_seen_,
          boost::asio::bind_cancellation_slot(
              doorbell_cancel_.slot(),
              boost::asio::bind_executor(get_executor(), [this, life = std::weak_ptr<char>(life_)](
                                                             boost::system::error_code ec, std::uint32_t) {
            if (life.expired()) return;
            doorbell_armed_ = false;
            if (ec) return;
            engine_.wake();
            pump();
          })));
    }
  }

  void deliver(const engine::op_completion& done) {
    rw_operation* op = std::exchange(operations_[done.handle.slot], nullptr);
    if (op == nullptr) return;  // a synchronous operation's completion (run_sync takes it)
    op->complete(done.error == no_error ? boost::system::error_code{} : boost::system::error_code(make_error_code(done.error)),
                 done.bytes);
  }

  void deliver_invalidations() {
    if (invalidate_waiter_ == nullptr || engine_.pending_invalidations().empty()) return;
    auto* waiter = std::exchange(invalidate_waiter_, nullptr);
    engine_.watch_invalidations(false);
    waiter->complete({}, engine_.take_invalidations());
  }

  std::size_t run_sync(mailbox::operation operation, block_id id, std::span<std::byte> destination,
                       std::span<const std::byte> data, boost::system::error_code& ec) {
    ec = {};
    if (async_pending()) {
      ec = errc::busy;
      return 0;
    }
    const std::uint64_t start = now_ns();
    const std::uint64_t deadline = start + to_ns(options_.default_timeout);
    auto started = operation == mailbox::operation::read ? engine_.start_read(id, destination, deadline)
                                                          : engine_.start_write(id, data, deadline);
    if (!started) {
      ec = started.error();
      return 0;
    }
    sync_handle_ = *started;
    sync_done_ = false;
    drive_sync_until([this] { return sync_done_; }, false, ec, start);
    if (!sync_done_) return 0;
    if (sync_result_.error != no_error) {
      ec = sync_result_.error;
      return 0;
    }
    return sync_result_.bytes;
  }

  // Drives the engine on this thread until `done()` (or, with single_poll, one status read).
  // `start` is the time the caller read last (run_sync's, taken for the deadline), or 0 to read it here.
  template <class Done>
  void drive_sync_until(Done done, bool single_poll, boost::system::error_code& ec, std::uint64_t start = 0) {
    bool polled = false;
    // The clock is read again after a wait and where perform_sync says an access took time.
    std::uint64_t now = start != 0 ? start : now_ns();
    while (!done()) {
      const auto action = engine_.step(now);
      using kind = engine::mailbox_action::kind;
      switch (action.what) {
        case kind::complete:
          if (action.done.handle == sync_handle_) {
            sync_result_ = action.done;
            sync_done_ = true;
          }
          break;
        case kind::write:
        case kind::read: {
          const boost::system::error_code io = perform_sync(action, now);
          if (action.what == kind::read) polled = true;
          if (io && single_poll) {
            ec = io;
            return;
          }
          break;
        }
        case kind::wait:
          if (single_poll && polled) return;
          wait_until(action.until);
          engine_.wake();
          now = now_ns();
          break;
        case kind::idle:
          return;
      }
    }
  }

  // Blocking wait for the synchronous forms: the transport's doorbell if it has one, else the clock.
  void wait_until(std::uint64_t until) {
    const auto now = now_ns();
    if (until <= now) return;
    if constexpr (transport_doorbell<Transport>::available) {
      transport_doorbell<Transport>::wait(transport_, doorbell_seen_,
                                          std::chrono::nanoseconds(static_cast<std::int64_t>(until - now)));
    } else {
      std::this_thread::sleep_for(std::chrono::nanoseconds(static_cast<std::int64_t>(until - now)));
    }
  }

  Transport& transport_;
  std::size_t window_;
  vf_options options_;
  engine::vf_mailbox_engine<max_queued> engine_;
  boost::asio::steady_timer timer_;
  std::array<rw_operation*, max_queued> operations_{};
  invalidate_operation* invalidate_waiter_{nullptr};
  std::array<std::byte, mailbox::window_size> scratch_{};
  std::uint64_t timer_deadline_{0};
  std::uint64_t timer_generation_{0};
  engine::op_handle sync_handle_{};
  engine::op_completion sync_result_{};
  bool sync_done_{false};
  std::shared_ptr<char> life_ = std::make_shared<char>();
  boost::asio::cancellation_signal doorbell_cancel_;
  std::uint32_t doorbell_seen_{0};
  bool doorbell_armed_{false};
  bool timer_armed_{false};
  bool pumping_{false};
  bool pump_scheduled_{false};
  bool repump_{false};
  bool io_in_flight_{false};
};

}  // namespace vpci
