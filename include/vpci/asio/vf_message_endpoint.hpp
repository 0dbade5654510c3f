// vpci::vf_message_endpoint: the VF driver's side of the block channel over the Hyper-V binding
// (binding 2): byte-exact READ_BLOCK / WRITE_BLOCK / INVALIDATE_BLOCK messages framed on any Asio
// stream (a local socket, TCP). A thin shell over engine::vf_message_engine: it writes request
// frames, feeds received frames to the engine, runs the deadline timer and resumes waiters.
//
// Requests are pipelined: up to 64 are in flight at once, answered in any order (transaction IDs).
// From its first operation on, the endpoint keeps reading the stream until the stream closes or fails,
// so invalidations are latched as soon as they arrive; close() (or closing the stream) ends that, and
// every pending operation then completes with vpci::errc::vf_removed.
// Thread safety: one executor (strand or single-threaded io_context) per endpoint.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <condition_variable>
#include <mutex>
#include <memory>
#include <span>
#include <utility>
#include <vector>

#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/cancellation_type.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/system/system_error.hpp>

#include <vpci/asio/detail/operation.hpp>
#include <vpci/asio/detail/sync_forms.hpp>
#include <vpci/asio/interface_standard.hpp>
#include <vpci/asio/vf_endpoint.hpp>
#include <vpci/block/block.hpp>
#include <vpci/engine/vf_messages.hpp>
#include <vpci/error.hpp>
#include <vpci/wire/framing.hpp>

namespace vpci {

template <class Stream>
class vf_message_endpoint : public detail::vf_sync_forms<vf_message_endpoint<Stream>> {
 public:
  using detail::vf_sync_forms<vf_message_endpoint>::read_block;
  using detail::vf_sync_forms<vf_message_endpoint>::write_block;
  using executor_type = typename Stream::executor_type;
  static constexpr std::size_t max_in_flight = 64;

  // `slot` is this VF's wslot on the virtual bus: written into every request; only invalidations for it
  // are accepted. The stream must be connected to the PF.
  vf_message_endpoint(Stream& stream, hyperv::wslot slot, vf_options options = {})
      : stream_(stream), options_(options), engine_(slot), timer_(stream.get_executor()) {
    pending_frames_.reserve(max_in_flight * hyperv::max_frame_size);
    writing_frames_.reserve(max_in_flight * hyperv::max_frame_size);
  }
  vf_message_endpoint(const vf_message_endpoint&) = delete;
  vf_message_endpoint& operator=(const vf_message_endpoint&) = delete;
  // Pending operations complete with vpci::errc::vf_removed. Close the stream first (or together) so
  // nothing is left reading into this object.
  ~vf_message_endpoint() {
    timer_.cancel();
    remove();
  }

  executor_type get_executor() noexcept { return stream_.get_executor(); }
  [[nodiscard]] const engine::vf_message_engine<max_in_flight>& engine() const noexcept { return engine_; }

  // Reads block `id` into `buffer` (1..128 bytes requested).
  // Completion: void(boost::system::error_code, std::size_t bytes_read). Errors: invalid_length, busy
  // (64 in flight), timeout, cancelled, protocol_violation, empty_response, the PF's status mapped to
  // errc (invalid_argument, access_denied, buffer_too_small, busy for STATUS_DEVICE_NOT_READY, ...),
  // vf_removed (removal, or the stream closed), stream errors.
  // Cancellation: terminal, partial and total (a late answer is dropped as a stale transaction ID).
  template <class CompletionToken>
  auto async_read_block(block_id id, std::span<std::byte> buffer, CompletionToken&& token) {
    return boost::asio::async_initiate<CompletionToken, void(boost::system::error_code, std::size_t)>(
        [this](auto handler, block_id block, std::span<std::byte> destination) {
          this->start(engine::vf_op_kind::read, block, destination, {}, std::move(handler));
        },
        token, id, buffer);
  }

  // Writes `data` (1..128 bytes, encoded into the request frame at initiation) to block `id`.
  // Completion: void(boost::system::error_code, std::size_t bytes_written). Errors as reads.
  // Cancellation: terminal only (the request is on the wire; the outcome is unknown).
  template <class CompletionToken>
  auto async_write_block(block_id id, std::span<const std::byte> data, CompletionToken&& token) {
    return boost::asio::async_initiate<CompletionToken, void(boost::system::error_code, std::size_t)>(
        [this](auto handler, block_id block, std::span<const std::byte> bytes) {
          this->start(engine::vf_op_kind::write, block, {}, bytes, std::move(handler));
        },
        token, id, data);
  }

  // Typed read: completion void(boost::system::error_code, typename Block::value_type).
  template <class Block, class CompletionToken>
    requires block_descriptor<Block>
  auto async_read(Block, CompletionToken&& token) {
    using value_type = typename Block::value_type;
    return boost::asio::async_initiate<CompletionToken, void(boost::system::error_code, value_type)>(
        [this](auto handler) {
          using op_type = detail::decoding_read_operation<Block, decltype(handler), executor_type>;
          auto* op = detail::allocate_operation<op_type>(handler, std::move(handler), get_executor());
          this->start_erased(engine::vf_op_kind::read, Block::id, op->buffer, {}, op, op->handler);
        },
        token);
  }

  // Typed write: completion void(boost::system::error_code, std::size_t).
  template <class Block, class CompletionToken>
    requires block_descriptor<Block>
  auto async_write(Block, const typename Block::value_type& value, CompletionToken&& token) {
    return boost::asio::async_initiate<CompletionToken, void(boost::system::error_code, std::size_t)>(
        [this](auto handler, const typename Block::value_type& v) {
          const auto bytes = Block::to_buffer(v);
          this->start(engine::vf_op_kind::write, Block::id, {}, bytes.span(), std::move(handler));
        },
        token, value);
  }

  // Latched invalidation wait: completion void(boost::system::error_code, vpci::block_mask).
  // Cancellation: terminal, partial and total.
  template <class CompletionToken>
  auto async_wait_invalidate(CompletionToken&& token) {
    return boost::asio::async_initiate<CompletionToken, void(boost::system::error_code, block_mask)>(
        [this](auto handler) { this->start_invalidate_wait(std::move(handler)); }, token);
  }

  // Synchronous forms: run the asynchronous operation and wait for it. The endpoint's executor must be
  // run by another thread (calling them from that thread would wait forever: vpci::errc::busy instead).
  // The throwing and typed forms (read(Block), write(Block, value)) come from detail::vf_sync_forms.
  std::size_t read_block(block_id id, std::span<std::byte> buffer, boost::system::error_code& ec) {
    return wait_for([&](auto handler) { async_read_block(id, buffer, std::move(handler)); }, ec);
  }
  std::size_t write_block(block_id id, std::span<const std::byte> data, boost::system::error_code& ec) {
    return wait_for([&](auto handler) { async_write_block(id, data, std::move(handler)); }, ec);
  }
  [[nodiscard]] interface_standard interface() noexcept { return make_interface_standard(*this); }

  // Closes the stream: reading stops and pending operations complete with vpci::errc::vf_removed.
  void close() {
    boost::system::error_code ignored;
    if constexpr (requires { stream_.shutdown(Stream::shutdown_both, ignored); }) stream_.shutdown(Stream::shutdown_both, ignored);
    if constexpr (requires { stream_.close(ignored); }) stream_.close(ignored);
    fail_all(boost::asio::error::operation_aborted);
  }

  // VF removal or reset: every pending operation completes with vpci::errc::vf_removed, in order.
  void remove() {
    engine_.remove([this](const engine::vf_completion& done) { deliver(done); });
    if (invalidate_waiter_ != nullptr)
      std::exchange(invalidate_waiter_, nullptr)->complete(errc::vf_removed, block_mask{});
  }

 private:
  using rw_operation = detail::pending_operation<std::size_t>;
  using invalidate_operation = detail::pending_operation<block_mask>;

  struct cancel_request {
    cancel_request(vf_message_endpoint* s, engine::vf_op_handle h, bool w) noexcept : self(s), handle(h), is_write(w) {}
    vf_message_endpoint* self;
    engine::vf_op_handle handle;
    bool is_write;
    void operator()(boost::asio::cancellation_type_t type) const {
      if (is_write && (type & boost::asio::cancellation_type::terminal) == boost::asio::cancellation_type::none) return;
      const engine::vf_event event = self->engine_.cancel(handle);
      if (event) {
        const auto done = event.completion;
        boost::asio::post(self->get_executor(), [s = self, done, life = std::weak_ptr<char>(self->life_)] {
          if (!life.expired()) s->deliver(done);
        });
      }
    }
  };

  struct cancel_invalidate_wait {
    explicit cancel_invalidate_wait(vf_message_endpoint* s) noexcept : self(s) {}
    vf_message_endpoint* self;
    void operator()(boost::asio::cancellation_type_t) const {
      if (self->invalidate_waiter_ == nullptr) return;
      auto* waiter = std::exchange(self->invalidate_waiter_, nullptr);
      boost::asio::post(self->get_executor(), [waiter] { waiter->complete(errc::cancelled, block_mask{}); });
    }
  };

  static std::uint64_t now_ns() noexcept {
    return static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch()).count());
  }

  template <class Handler>
  void start(engine::vf_op_kind kind, block_id id, std::span<std::byte> destination, std::span<const std::byte> data,
             Handler&& handler) {
    using op_type = detail::handler_operation<std::decay_t<Handler>, executor_type, std::size_t>;
    auto* op = detail::allocate_operation<op_type>(handler, std::move(handler), get_executor());
    this->start_erased(kind, id, destination, data, op, op->handler);
  }

  template <class Handler>
  void start_erased(engine::vf_op_kind kind, block_id id, std::span<std::byte> destination,
                    std::span<const std::byte> data, rw_operation* op, Handler& handler) {
    const std::uint64_t deadline = now_ns() + static_cast<std::uint64_t>(options_.default_timeout.count());
    // The engine encodes the request frame straight into the send queue (reserved for 64 frames).
    const std::size_t at = pending_frames_.size();
    pending_frames_.resize(at + hyperv::max_frame_size);
    const auto frame = std::span<std::byte>(pending_frames_).subspan(at);
    auto started = kind == engine::vf_op_kind::read ? engine_.start_read(id, destination, deadline, frame)
                                                    : engine_.start_write(id, data, deadline, frame);
    pending_frames_.resize(started ? at + started->frame_size : at);
    if (!started) {
      boost::asio::post(get_executor(), [op, e = started.error()] { op->complete(e, 0); });
      return;
    }
    operations_[slot_of(started->handle)] = op;
    auto slot = boost::asio::get_associated_cancellation_slot(handler);
    if (slot.is_connected())
      slot.template emplace<cancel_request>(this, started->handle, kind == engine::vf_op_kind::write);
    flush();
    ensure_reading();
    arm_timer();
  }

  template <class Handler>
  void start_invalidate_wait(Handler&& handler) {
    using op_type = detail::handler_operation<std::decay_t<Handler>, executor_type, block_mask>;
    auto* op = detail::allocate_operation<op_type>(handler, std::move(handler), get_executor());
    if (invalidate_waiter_ != nullptr) {
      boost::asio::post(get_executor(), [op] { op->complete(errc::busy, block_mask{}); });
      return;
    }
    if (!engine_.pending_invalidations().empty()) {
      // Latched before the wait: delivered at once (from the executor, never inline).
      boost::asio::post(get_executor(), [this, op, life = std::weak_ptr<char>(life_)] {
        if (life.expired()) return op->complete(errc::vf_removed, block_mask{});
        op->complete({}, engine_.take_invalidations());
      });
      return;
    }
    invalidate_waiter_ = op;
    auto slot = boost::asio::get_associated_cancellation_slot(op->handler);
    if (slot.is_connected()) slot.template emplace<cancel_invalidate_wait>(this);
    ensure_reading();
  }

  static std::size_t slot_of(engine::vf_op_handle handle) noexcept { return handle.transaction_id & 0xFFFF; }

  // Frames are gathered while a write is in progress and sent together: pipelined requests share
  // system calls.
  void flush() {
    if (writing_ || pending_frames_.empty()) return;
    writing_ = true;
    std::swap(pending_frames_, writing_frames_);
    boost::asio::async_write(stream_, boost::asio::buffer(writing_frames_),
                             [this, life = std::weak_ptr<char>(life_)](boost::system::error_code ec, std::size_t) {
                               if (life.expired()) return;
                               writing_ = false;
                               writing_frames_.clear();
                               if (ec) return fail_all(ec);
                               flush();
                             });
  }

  void ensure_reading() {
    if (reading_ || closed_) return;
    reading_ = true;
    stream_.async_read_some(boost::asio::buffer(input_),
                            [this, life = std::weak_ptr<char>(life_)](boost::system::error_code ec, std::size_t n) {
                              if (life.expired()) return;
                              if (ec) {
                                reading_ = false;
                                return fail_all(ec);
                              }
                              // Still "reading" while the chunk is consumed: a completion handler run
                              // from consume() may start an operation, and a read started then would
                              // receive into input_ (Asio reads speculatively at initiation) under the
                              // chunk being parsed.
                              consume(std::span<const std::byte>(input_.data(), n));
                              reading_ = false;
                              if (!closed_) ensure_reading();
                            });
  }

  void consume(std::span<const std::byte> chunk) {
    while (!chunk.empty()) {
      const auto step = decoder_.feed(chunk);
      chunk = chunk.subspan(step.consumed);
      if (step.error != no_error) {
        // The stream lost framing: nothing after this point can be trusted.
        fail_all(make_error_code(errc::protocol_violation));
        return;
      }
      if (step.packet.empty()) continue;
      const engine::vf_event event = engine_.on_packet(step.packet);
      if (event.kind == engine::vf_event_kind::completion) deliver(event.completion);
    }
    deliver_invalidations();
    arm_timer();
  }

  void deliver_invalidations() {
    if (invalidate_waiter_ == nullptr || engine_.pending_invalidations().empty()) return;
    std::exchange(invalidate_waiter_, nullptr)->complete({}, engine_.take_invalidations());
  }

  void deliver(const engine::vf_completion& done) {
    rw_operation* op = std::exchange(operations_[slot_of(done.handle)], nullptr);
    if (op == nullptr) return;
    op->complete(done.error == no_error ? boost::system::error_code{} : boost::system::error_code(make_error_code(done.error)),
                 done.bytes);
  }

  // The stream failed or closed: every pending operation completes, with vf_removed for a clean close.
  void fail_all(boost::system::error_code ec) {
    closed_ = true;
    (void)ec;
    remove();
  }

  void arm_timer() {
    const std::uint64_t deadline = engine_.next_deadline();
    if (deadline == engine::no_deadline) return;
    if (timer_armed_ && timer_deadline_ <= deadline) return;
    timer_armed_ = true;
    timer_deadline_ = deadline;
    const std::uint64_t now = now_ns();
    timer_.expires_after(std::chrono::nanoseconds(deadline > now ? static_cast<std::int64_t>(deadline - now) : 0));
    timer_.async_wait([this, generation = ++timer_generation_, life = std::weak_ptr<char>(life_)](boost::system::error_code) {
      if (life.expired() || generation != timer_generation_) return;
      timer_armed_ = false;
      const std::uint64_t now_after = now_ns();
      while (const engine::vf_event event = engine_.expire(now_after)) deliver(event.completion);
      arm_timer();
    });
  }

  // Whether the caller runs on this endpoint's io_context (where waiting would deadlock).
  bool running_in_this_thread() {
    auto executor = get_executor();
    if constexpr (requires { executor.running_in_this_thread(); }) {
      return executor.running_in_this_thread();
    } else if constexpr (requires { executor.template target<boost::asio::io_context::executor_type>(); }) {
      const auto* io = executor.template target<boost::asio::io_context::executor_type>();
      return io != nullptr && io->running_in_this_thread();
    } else {
      return false;
    }
  }

  // Starts the operation on the endpoint's executor and blocks this thread until it completes. A mutex
  // and condition variable rather than a std::future: the handler signals while holding the lock, so
  // nothing of this frame is touched after the waiting thread may return.
  template <class Start>
  std::size_t wait_for(Start start_operation, boost::system::error_code& ec) {
    ec = {};
    if (running_in_this_thread()) {
      ec = errc::busy;
      return 0;
    }
    std::mutex mutex;
    std::condition_variable done_signal;
    bool done = false;
    std::size_t bytes = 0;
    boost::asio::post(get_executor(), [&] {
      start_operation([&](boost::system::error_code result, std::size_t n) {
        std::lock_guard lock(mutex);
        ec = result;
        bytes = n;
        done = true;
        done_signal.notify_one();
      });
    });
    std::unique_lock lock(mutex);
    done_signal.wait(lock, [&] { return done; });
    return bytes;
  }

  Stream& stream_;
  vf_options options_;
  engine::vf_message_engine<max_in_flight> engine_;
  boost::asio::steady_timer timer_;
  hyperv::frame_decoder decoder_{};
  std::array<rw_operation*, max_in_flight> operations_{};
  invalidate_operation* invalidate_waiter_{nullptr};
  std::vector<std::byte> pending_frames_;
  std::vector<std::byte> writing_frames_;
  std::array<std::byte, 4096> input_{};
  std::shared_ptr<char> life_ = std::make_shared<char>();
  std::uint64_t timer_deadline_{0};
  std::uint64_t timer_generation_{0};
  bool timer_armed_{false};
  bool writing_{false};
  bool reading_{false};
  bool closed_{false};
};

}  // namespace vpci
