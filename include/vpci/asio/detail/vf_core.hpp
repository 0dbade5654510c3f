// The one VF endpoint core both bindings share. It owns the operation table (keyed by the engine's full
// handle), the invalidation waiter, the typed and synchronous forms, cancellation, deadlines and the
// endpoint's life (dead peer, close, removal, destruction). A binding (vf_endpoint for the config-space
// mailbox, vf_message_endpoint for Hyper-V messages) supplies only how its engine's I/O is performed, as
// the `Derived` class of this template:
//
//   executor_type get_executor()
//   Engine& engine_ref()
//   bool perform(const action& a, std::uint64_t& now)
//       an I/O action (read/write/send): perform it and report it to the engine. True when done inline
//       (`now` updated); false when it completes later, the binding then reports it to the engine and
//       calls resume().
//   void await_peer()       the engine waits: make sure the peer can wake it (a peer signal, a read)
//   void rest()             the engine has nothing to do: release what keeps the executor busy
//   boost::system::error_code peer_status()
//       an empty code while the peer may be alive; the reason it is known to be gone otherwise
//   bool prepare_blocking() make the binding's I/O usable from the calling thread (false: busy)
//   boost::system::error_code perform_blocking(const action& a, std::uint64_t& now)
//   void wait_blocking(std::uint64_t until)
//       the synchronous forms' I/O on the calling thread; wait_blocking returns at `until` or as soon as
//       the peer may have acted (it feeds the engine what arrived)
//   void shut_down()        close(): stop using the transport or stream
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <type_traits>
#include <utility>

#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/cancellation_type.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/post.hpp>
#include <boost/system/error_code.hpp>

#include <vpci/asio/detail/op_memory.hpp>
#include <vpci/asio/detail/operation.hpp>
#include <vpci/asio/detail/sync_forms.hpp>
#include <vpci/asio/interface_standard.hpp>
#include <vpci/asio/timing.hpp>
#include <vpci/block/block.hpp>
#include <vpci/engine/vf_operation.hpp>
#include <vpci/error.hpp>
#include <vpci/protocol/block_id.hpp>
#include <vpci/transport/default_token.hpp>

namespace vpci::detail {

// What the I/O a binding started may still touch after its endpoint is gone: the handlers of that I/O
// hold this, check `alive` and return.
struct vf_life {
  bool alive{true};
};

template <class Derived, class Engine, class Timing, class Executor, class Options>
class vf_core : public vf_sync_forms<Derived> {
 public:
  using handle_type = typename Engine::handle_type;
  using action_type = engine::action<handle_type>;
  using completion_type = engine::completion<handle_type>;
  using timing_type = Timing;
  using executor_type = Executor;
  using engine_type = Engine;
  static constexpr std::size_t max_operations = Engine::max_operations;
  // At most this many completions are delivered in one turn of the executor while operations are still
  // pending: a program whose handlers start the next operation (a load loop, a coroutine reading in a
  // loop) over a transport whose PF answers inline would otherwise keep the turn as long as it reads, and
  // the executor's timers, signals and other handlers would never run.
  static constexpr std::size_t completions_per_turn = 64;

  vf_core(const vf_core&) = delete;
  vf_core& operator=(const vf_core&) = delete;

  // ---- asynchronous operations ---------------------------------------------------------------------
  // Each takes any Asio completion token; without one, vpci::default_completion_token_t<executor_type>
  // (vpci/transport/default_token.hpp: the executor's default, else boost::asio::deferred).
  // Reads block `id` into `buffer` (1..128 bytes: the bytes requested).
  // Completion: void(boost::system::error_code, std::size_t bytes_read).
  // Errors: vpci::errc::invalid_length (buffer size: refused before anything is sent), busy (the
  //   binding's operations are all in use), timeout (this request's deadline), cancelled (its
  //   cancellation), the PF's status mapped to errc by to_errc (invalid_argument, access_denied,
  //   buffer_too_small, ...; the statuses that would read as one of this side's conditions have errc
  //   values of their own: peer_no_such_device, peer_timeout, peer_cancelled, peer_not_ready,
  //   peer_revision_mismatch), empty_response, protocol_violation, torn_read, vf_removed (remove() or the
  //   endpoint destroyed), peer_gone (the transport knows the PF is dead, or binding 1 saw its heartbeat
  //   stop or the function read all ones: never a status in an answer), and the transport's or stream's
  //   own error when it failed (eof, connection_reset, an errno, a transport's errc), passed through
  //   unchanged. Once the peer is gone or the stream failed, every operation fails at once with that same
  //   error. A PF's failure status fails only the request it answers: the endpoint, its other operations
  //   and its invalidation wait go on. The endpoint's own state is judged before the arguments: a dead
  //   endpoint reports its failure (and a synchronous form refused as busy reports busy) whatever the
  //   buffer's size.
  // Cancellation: terminal, partial and total (a read has no effect on the PF). `buffer` must stay
  //   valid until completion; after completion the endpoint never touches it.
  template <class CompletionToken = vpci::default_completion_token_t<Executor>>
    requires(!std::is_convertible_v<CompletionToken, std::chrono::nanoseconds>)  // that is the timeout form
  auto async_read_block(block_id id, std::span<std::byte> buffer, CompletionToken&& token = CompletionToken{}) {
    return async_read_block(id, buffer, default_timeout_, std::forward<CompletionToken>(token));
  }
  // As async_read_block, with this request's own timeout.
  template <class CompletionToken = vpci::default_completion_token_t<Executor>>
  auto async_read_block(block_id id, std::span<std::byte> buffer, std::chrono::nanoseconds timeout,
                        CompletionToken&& token = CompletionToken{}) {
    return async_read_block(id, buffer, timeout, pf_status_report{}, std::forward<CompletionToken>(token));
  }
  // As above, and the PF's own NTSTATUS in `*report.status` (vpci/error.hpp, pf_status_report), set before
  // the handler runs; `*report.status` must stay valid until then.
  template <class CompletionToken = vpci::default_completion_token_t<Executor>>
  auto async_read_block(block_id id, std::span<std::byte> buffer, std::chrono::nanoseconds timeout,
                        pf_status_report report, CompletionToken&& token = CompletionToken{}) {
    return boost::asio::async_initiate<CompletionToken, void(boost::system::error_code, std::size_t)>(
        [this](auto user_handler, block_id block, std::span<std::byte> destination, std::chrono::nanoseconds t,
               pf_status_report r) {
          auto handler = with_operation_memory(std::move(user_handler));
          using op_type = handler_operation<decltype(handler), executor_type, std::size_t>;
          auto* op = allocate_operation<op_type>(handler, std::move(handler), self().get_executor());
          watch_pf_status(op, r);
          this->start(engine::operation_kind::read, block, destination, {}, t, op, op->handler);
        },
        token, id, buffer, timeout, report);
  }

  // Writes `data` (1..128 bytes, copied when the call is made, whatever the token: the caller's buffer
  // may go as soon as the call returns, even with a lazy token such as deferred, the default, which
  // initiates only when launched) to block `id`.
  // Completion: void(boost::system::error_code, std::size_t bytes_written). Errors as async_read_block.
  // Cancellation: terminal and partial always (the PF may already have applied the write: the outcome is
  //   unknown, the endpoint stays usable); total only while the request has not left the VF (it is then
  //   never sent: nothing happened).
  template <class CompletionToken = vpci::default_completion_token_t<Executor>>
    requires(!std::is_convertible_v<CompletionToken, std::chrono::nanoseconds>)  // that is the timeout form
  auto async_write_block(block_id id, std::span<const std::byte> data, CompletionToken&& token = CompletionToken{}) {
    return async_write_block(id, data, default_timeout_, std::forward<CompletionToken>(token));
  }
  template <class CompletionToken = vpci::default_completion_token_t<Executor>>
  auto async_write_block(block_id id, std::span<const std::byte> data, std::chrono::nanoseconds timeout,
                         CompletionToken&& token = CompletionToken{}) {
    return async_write_block(id, data, timeout, pf_status_report{}, std::forward<CompletionToken>(token));
  }
  // As above, with the PF's own NTSTATUS in `*report.status`, as async_read_block's.
  template <class CompletionToken = vpci::default_completion_token_t<Executor>>
  auto async_write_block(block_id id, std::span<const std::byte> data, std::chrono::nanoseconds timeout,
                         pf_status_report report, CompletionToken&& token = CompletionToken{}) {
    // A lazy token keeps the initiation's arguments until launch: the copy travels with them, and nothing
    // of the caller's. A length above 128 cannot be copied; the engine refuses it by its length alone, so
    // it is handed one of the same kind (129 bytes of oversize_block, never read).
    block_buffer<> copy;
    const bool oversize = copy.assign(data) != no_error;
    return boost::asio::async_initiate<CompletionToken, void(boost::system::error_code, std::size_t)>(
        [this](auto user_handler, block_id block, const block_buffer<>& bytes, bool too_long,
               std::chrono::nanoseconds t, pf_status_report r) {
          auto handler = with_operation_memory(std::move(user_handler));
          using op_type = handler_operation<decltype(handler), executor_type, std::size_t>;
          auto* op = allocate_operation<op_type>(handler, std::move(handler), self().get_executor());
          watch_pf_status(op, r);
          const std::span<const std::byte> sent = too_long ? std::span<const std::byte>(oversize_block) : bytes.span();
          this->start(engine::operation_kind::write, block, {}, sent, t, op, op->handler);
        },
        token, id, copy, oversize, timeout, report);
  }

  // Typed read: completion void(boost::system::error_code, typename Block::value_type). Another byte
  // count than Block::size gives vpci::errc::block_size_mismatch (binding 1: the PF's block is shorter than
  // the descriptor; binding 2 cannot tell: the PF pads a shorter block with zeros to Block::size, which
  // decode as data, docs/hyperv-binding.md rule 4), bytes that do not decode bad_data, each with a
  // value-initialized value (detail::decode_received); a block longer than the descriptor is refused by the
  // PF (buffer_too_small). Errors and cancellation as async_read_block.
  template <class Block, class CompletionToken = vpci::default_completion_token_t<Executor>>
    requires block_descriptor<Block>
  auto async_read(Block, CompletionToken&& token = CompletionToken{}) {
    using value_type = typename Block::value_type;
    return boost::asio::async_initiate<CompletionToken, void(boost::system::error_code, value_type)>(
        [this](auto user_handler) {
          auto handler = with_operation_memory(std::move(user_handler));
          using op_type = decoding_read_operation<Block, decltype(handler), executor_type>;
          auto* op = allocate_operation<op_type>(handler, std::move(handler), self().get_executor());
          this->start(engine::operation_kind::read, Block::id, op->buffer, {}, default_timeout_, op, op->handler);
        },
        token);
  }

  // Typed write: completion void(boost::system::error_code, std::size_t bytes_written). The value is
  // encoded when the operation is initiated (lazy tokens such as use_awaitable and deferred initiate
  // later), so it is captured by value. Errors and cancellation as async_write_block.
  template <class Block, class CompletionToken = vpci::default_completion_token_t<Executor>>
    requires block_descriptor<Block>
  auto async_write(Block, const typename Block::value_type& value, CompletionToken&& token = CompletionToken{}) {
    return boost::asio::async_initiate<CompletionToken, void(boost::system::error_code, std::size_t)>(
        [this](auto user_handler, const typename Block::value_type& v) {
          const auto bytes = Block::to_buffer(v);  // copied into the engine by start()
          auto handler = with_operation_memory(std::move(user_handler));
          using op_type = handler_operation<decltype(handler), executor_type, std::size_t>;
          auto* op = allocate_operation<op_type>(handler, std::move(handler), self().get_executor());
          this->start(engine::operation_kind::write, Block::id, {}, bytes.span(), default_timeout_, op, op->handler);
        },
        token, value);
  }

  // Waits for invalidations. Latched: bits the PF raised before the wait started are delivered at once
  // (never inline), OR-coalesced. Completion: void(boost::system::error_code, vpci::block_mask) with a
  // non-empty mask. Errors: vpci::errc::busy (another wait is pending: one waiter at a time), cancelled,
  // vf_removed, and the dead-peer errors of async_read_block (on binding 1 peer_gone also when the PF's
  // heartbeat stops while the wait is pending and the wait polls: docs/protocol.md 5.5. A wait on the PF's
  // signal reads nothing while idle, so it learns that the PF hung from the transport, when it reports the
  // PF's end itself, or from the next request; revision_mismatch or not_supported, as a request's, for a
  // window of another layout or revision or too short for this one; not_supported for a PF that announces
  // no invalidations: docs/protocol.md 8).
  // Cancellation: terminal, partial and total (the latched bits stay latched for the next wait).
  template <class CompletionToken = vpci::default_completion_token_t<Executor>>
  auto async_wait_invalidate(CompletionToken&& token = CompletionToken{}) {
    return boost::asio::async_initiate<CompletionToken, void(boost::system::error_code, block_mask)>(
        [this](auto user_handler) {
          auto handler = with_operation_memory(std::move(user_handler));
          using op_type = handler_operation<decltype(handler), executor_type, block_mask>;
          auto* op = allocate_operation<op_type>(handler, std::move(handler), self().get_executor());
          this->start_wait(op, op->handler);
        },
        token);
  }

  // ---- synchronous forms -----------------------------------------------------------------------------
  // Blocking forms for callers without an event loop (the C facades, tools). They perform the operation
  // on the calling thread, driving the binding's I/O themselves (config accesses; blocking reads and
  // writes of the stream), so nothing needs to run the endpoint's executor. They fail with
  // vpci::errc::busy while an asynchronous operation or invalidation wait of this endpoint is pending;
  // like every call on an endpoint, they must not run concurrently with another call or with the
  // endpoint's handlers. Errors as the asynchronous forms; the deadline is the default timeout. The
  // throwing and typed forms (read(Block), write(Block, value)) come from detail::vf_sync_forms.
  using vf_sync_forms<Derived>::read_block;
  using vf_sync_forms<Derived>::write_block;
  std::size_t read_block(block_id id, std::span<std::byte> buffer, boost::system::error_code& ec) {
    return run_blocking(engine::operation_kind::read, id, buffer, {}, ec, {});
  }
  std::size_t write_block(block_id id, std::span<const std::byte> data, boost::system::error_code& ec) {
    return run_blocking(engine::operation_kind::write, id, {}, data, ec, {});
  }
  // As above, with the PF's own NTSTATUS in `*report.status` (pf_status_report), set before they return.
  std::size_t read_block(block_id id, std::span<std::byte> buffer, boost::system::error_code& ec, pf_status_report report) {
    return run_blocking(engine::operation_kind::read, id, buffer, {}, ec, report);
  }
  std::size_t write_block(block_id id, std::span<const std::byte> data, boost::system::error_code& ec,
                          pf_status_report report) {
    return run_blocking(engine::operation_kind::write, id, {}, data, ec, report);
  }
  // Looks once for invalidations (one poll of the window; what the stream already delivered) and returns
  // those latched so far, possibly none, taking them. Errors: busy, the transport's error of the look, and
  // on binding 1 peer_gone when the look shows that the PF's heartbeat stopped, revision_mismatch or
  // not_supported when it shows a window of another layout (as read_block) or a PF that announces no
  // invalidations (not_supported). A window no PF has
  // initialised yet is no error: it has nothing to report yet, as a watcher keeps looking (read_block
  // reports it as not_found).
  block_mask poll_invalidations(boost::system::error_code& ec) {
    ec = {};
    if (!blocking_allowed(ec)) return {};
    const blocking_scope scope(*this);
    auto& e = self().engine_ref();
    // The watch is this call's for the length of its look (no wait is pending: blocking_allowed refuses
    // then), and ends however the call does (a user's hook or observer may throw out of an access): left
    // on, the idle pump would read status at every interval.
    struct watch_scope {
      engine_type& engine;
      ~watch_scope() { engine.watch_invalidations(false); }
    } const watch{e};
    e.watch_invalidations(true);
    e.wake();
    std::uint64_t now = timing_.now();
    bool looked = false;
    for (;;) {
      const action_type a = e.step(now);
      if (a.what == action_type::kind::complete) continue;  // a cancelled operation's late report
      if (a.what == action_type::kind::wait || a.what == action_type::kind::idle) {
        if (looked) break;
        self().wait_blocking(now);  // take what already arrived, without waiting
        looked = true;
        continue;
      }
      if (const auto io = self().perform_blocking(a, now); io) {
        ec = io;
        break;
      }
      looked = looked || a.what == action_type::kind::read;
    }
    // What the look found about the PF is this call's to report: restoring the watch forgets it.
    const errc failure = e.take_watch_failure();
    if (!ec && failure != no_error) ec = failure;
    return e.take_invalidations();
  }

  // The VPCI_INTERFACE_STANDARD facade: driver code written against vpci.h ports line for line.
  [[nodiscard]] interface_standard interface() noexcept { return make_interface_standard(self()); }

  // ---- life --------------------------------------------------------------------------------------
  // VF removal or reset: every pending operation completes with vpci::errc::vf_removed, in the order
  // they were started (from the executor, never inside this call), and so does a pending invalidation
  // wait. The endpoint stays usable: binding 1 probes the window afresh before its next request.
  void remove() {
    self().engine_ref().remove(errc::vf_removed, false);
    post_completions();
    if (waiter_ != nullptr) complete_waiter(make_error_code(errc::vf_removed), {});
    schedule_pump();
  }

  // Stops using the transport or stream: pending operations and a pending wait complete with
  // boost::asio::error::operation_aborted, nothing of the endpoint stays armed on the executor (run()
  // returns once the completions ran), and every later operation fails at once with
  // boost::asio::error::bad_descriptor.
  void close() {
    fail(boost::asio::error::operation_aborted);
    dead_ = boost::asio::error::bad_descriptor;
    arm_timer(never);
    self().shut_down();
  }

  // The error every operation now fails with (the peer is gone, the stream failed, the endpoint was
  // closed, binding 2's version negotiation failed), or an empty code while the endpoint works.
  [[nodiscard]] boost::system::error_code failure() const { return dead_ ? dead_ : self().peer_status(); }
  [[nodiscard]] const Timing& timing() const noexcept { return timing_; }
  [[nodiscard]] const Options& options() const noexcept { return options_; }
  // Whether this endpoint still exists, for what may outlive it: a completion it posted before its
  // destruction runs afterwards (with vpci::errc::vf_removed), and a facade over it must not touch it then.
  [[nodiscard]] const std::shared_ptr<vf_life>& life() const noexcept { return life_; }

 protected:
  using rw_operation = pending_operation<std::size_t>;
  using wait_operation = pending_operation<block_mask>;

  vf_core(const executor_type& executor, const Options& options, Timing timing)
      : default_timeout_(options.default_timeout),
        timing_(std::move(timing)),
        options_(options),
        timer_(timing_.make_timer(executor)) {}

  // Pending handlers complete with vpci::errc::vf_removed, posted as remove() posts them: the endpoint
  // may be destroyed from its own executor, where a dispatched handler would run inside the destructor.
  // I/O still queued on the executor, and a cancellation emitted on a slot whose completion has not run
  // yet (cancel_request, cancel_wait), see that the endpoint is gone and touch nothing of it.
  ~vf_core() = default;
  void destroy() {
    life_->alive = false;
    (void)timer_.cancel();
    self().engine_ref().remove(errc::vf_removed, false);
    post_completions();
    operations_.take_each([this](rw_operation* op) { post_completion(op, make_error_code(errc::vf_removed)); });
    if (waiter_ != nullptr) complete_waiter(make_error_code(errc::vf_removed), {});
  }

  // ---- for the binding ---------------------------------------------------------------------------
  // Asynchronous I/O the binding started has been reported to the engine: continue.
  void resume() { pump(); }
  // The peer signalled (a doorbell), or bytes arrived: the engine looks at once.
  void wake_and_resume() {
    self().engine_ref().wake();
    pump();
  }
  // The transport or stream failed for good (the peer is gone, the stream ended or broke): every
  // pending operation and the wait complete with `ec`, and every later one fails at once with it. The
  // first cause stays the endpoint's: a later call (the synchronous forms ask peer_status() after a
  // wait, which then names what the stream's end did to the engine, a negotiation abandoned with
  // device_error) completes nothing with another error.
  void fail(boost::system::error_code ec) {
    if (!dead_) dead_ = ec;
    transport_error_ = dead_;
    self().engine_ref().remove(errc::device_error, true);
    if (!blocking_) post_completions();  // a synchronous form takes its own completion from the engine
    if (waiter_ != nullptr) complete_waiter(ec, {});
    schedule_pump();
  }
  // The error of the transport failure the engine is about to report (engine completions marked
  // transport_failure complete with it).
  void note_transport_error(boost::system::error_code ec) { transport_error_ = ec; }

  [[nodiscard]] bool active() const noexcept { return waiter_ != nullptr || !operations_.empty(); }
 private:
  Derived& self() noexcept { return static_cast<Derived&>(*this); }
  const Derived& self() const noexcept { return static_cast<const Derived&>(*this); }

  // What async_write_block hands the engine for data above 128 bytes: a length the engine refuses.
  static constexpr std::array<std::byte, max_block_size + 1> oversize_block{};

  // The operations started and not yet completed, in their engine slots. It counts them as they come and
  // go, so that active(), which every synchronous call asks, reads one word: scanning the slots cost a
  // PF's benchmark with 256 VFs four cache misses per read (callgrind), the largest single share.
  class operation_table {
   public:
    // Files `op` under its slot; false, changing nothing, when the slot still holds an operation. The
    // engines give out only slots whose completion was handed out (engine::operation_slot), so that
    // would be an engine breaking its rule: the new operation must fail then, never take the old one's
    // place (whose completion would find nobody to complete).
    [[nodiscard]] bool put(handle_type handle, rw_operation* op) noexcept {
      entry& e = entries_[Engine::slot_of(handle)];
      if (e.op != nullptr) return false;
      ++count_;
      e = entry{handle, op};
      return true;
    }
    // The operation `handle` names, taken out; null when it completed or was cancelled already.
    rw_operation* take(handle_type handle) noexcept {
      entry& e = entries_[Engine::slot_of(handle)];
      if (e.op == nullptr || !(e.handle == handle)) return nullptr;
      --count_;
      return std::exchange(e.op, nullptr);
    }
    // Takes out each operation, in slot order, and passes it to `f`.
    template <class F>
    void take_each(F f) {
      for (entry& e : entries_)
        if (e.op != nullptr) {
          --count_;
          f(std::exchange(e.op, nullptr));
        }
    }
    [[nodiscard]] bool empty() const noexcept { return count_ == 0; }

   private:
    struct entry {
      handle_type handle{};
      rw_operation* op{nullptr};
    };
    std::size_t count_{0};  // first: it shares a cache line with the core's other per-call members
    std::array<entry, Engine::max_operations> entries_{};
  };

  // A cancellation handler stays in its slot until the operation's completion runs, which is posted
  // whenever the endpoint completes it (remove(), close(), a failure, its own cancellation, destruction):
  // an emit in between finds the operation gone (its full handle matches nothing), or the endpoint gone
  // (`life`), and does nothing.
  struct cancel_request {
    cancel_request(vf_core* s, handle_type h) noexcept : self(s), life(s->life_), handle(h) {}
    vf_core* self;
    std::shared_ptr<vf_life> life;
    handle_type handle;
    void operator()(boost::asio::cancellation_type_t type) const {
      using boost::asio::cancellation_type;
      if (!life->alive) return;
      const auto scope = (type & (cancellation_type::terminal | cancellation_type::partial)) != cancellation_type::none
                             ? engine::cancel_scope::with_effects
                             : engine::cancel_scope::without_effects;
      if (!self->self().engine_ref().cancel(handle, scope)) return;
      // Complete it now (posted). The engine frees its slot once the cancellation is reported: binding 2's
      // channel counts this return as the report; binding 1's next step reports it, and that report then
      // matches no entry and is ignored.
      if (rw_operation* op = self->take(handle)) self->post_completion(op, make_error_code(errc::cancelled));
      self->schedule_pump();
    }
  };
  // A wait is named by its generation: an emit for a wait already completed must not cancel a later one.
  struct cancel_wait {
    cancel_wait(vf_core* s, std::uint64_t g) noexcept : self(s), life(s->life_), generation(g) {}
    vf_core* self;
    std::shared_ptr<vf_life> life;
    std::uint64_t generation;
    void operator()(boost::asio::cancellation_type_t) const {
      if (!life->alive || self->waiter_ == nullptr || self->wait_generation_ != generation) return;
      wait_operation* waiter = std::exchange(self->waiter_, nullptr);
      self->self().engine_ref().watch_invalidations(false);
      boost::asio::post(self->self().get_executor(),
                        posted_completion<block_mask>(waiter, make_error_code(errc::cancelled), block_mask{}));
      self->schedule_pump();
    }
  };

  // The initiations hand `op` to start or start_wait, which own it: completed once from the executor, or,
  // when the start itself throws (out of memory: the cancellation handler's memory, the pump's post),
  // destroyed unrun with the engine and the tables as they were, the exception leaving the initiating
  // call as Asio's own initiations do. An operation that both threw and completed later had two outcomes.
  template <class Operation>
  struct unstarted {
    Operation* op;
    ~unstarted() {
      if (op != nullptr) op->destroy();
    }
    Operation* release() noexcept { return std::exchange(op, nullptr); }
  };

  template <class Handler>
  void start(engine::operation_kind kind, block_id id, std::span<std::byte> destination,
             std::span<const std::byte> data, std::chrono::nanoseconds timeout, rw_operation* op, Handler& handler) {
    unstarted<rw_operation> owned{op};
    if (dead_ || (dead_ = self().peer_status())) return post_completion(owned.release(), dead_);
    auto& e = self().engine_ref();
    const std::uint64_t deadline = deadline_after(timing_.now(), timeout);
    auto started = kind == engine::operation_kind::read ? e.start_read(id, destination, deadline)
                                                        : e.start_write(id, data, deadline);
    if (!started) return post_completion(owned.release(), make_error_code(started.error()));  // never inline
    if (!operations_.put(*started, op)) {
      // The slot's previous operation is still waiting for its completion (see put): this one ends
      // unsent, as busy, and the previous one keeps its place.
      (void)e.cancel(*started, engine::cancel_scope::with_effects);
      schedule_pump();  // binding 1 reports the cancellation from its next step
      return post_completion(owned.release(), make_error_code(errc::busy));
    }
    auto slot = boost::asio::get_associated_cancellation_slot(handler);
    try {
      if (slot.is_connected()) slot.template emplace<cancel_request>(this, *started);
      schedule_pump();
    } catch (...) {
      if (slot.is_connected()) slot.clear();
      (void)take(*started);
      (void)e.cancel(*started, engine::cancel_scope::without_effects);  // not sent yet: nothing happened
      throw;
    }
    owned.release();
  }

  template <class Handler>
  void start_wait(wait_operation* op, Handler& handler) {
    unstarted<wait_operation> owned{op};
    if (dead_ || (dead_ = self().peer_status())) {
      boost::asio::post(self().get_executor(), posted_completion<block_mask>(owned.release(), dead_, block_mask{}));
      return;
    }
    if (waiter_ != nullptr) {
      boost::asio::post(self().get_executor(),
                        posted_completion<block_mask>(owned.release(), make_error_code(errc::busy), block_mask{}));
      return;
    }
    auto slot = boost::asio::get_associated_cancellation_slot(handler);
    if (slot.is_connected()) slot.template emplace<cancel_wait>(this, wait_generation_ + 1);
    try {
      schedule_pump();  // latched bits are delivered by the pump, from the executor
    } catch (...) {
      if (slot.is_connected()) slot.clear();
      throw;
    }
    waiter_ = owned.release();
    ++wait_generation_;
    self().engine_ref().watch_invalidations(true);
  }

  // A handler without an allocator of its own takes its operation's memory from the endpoint's slots: one
  // for each request the engine can hold and one for the invalidation wait, so that requests kept in
  // flight never touch the heap. Asio's per-thread cache, the default, keeps two blocks: a burst of 64
  // requests took 62 heap allocations, every burst. A handler bound to an allocator keeps it.
  template <class Handler>
  auto with_operation_memory(Handler&& handler) {
    if constexpr (has_associated_allocator_v<std::decay_t<Handler>>) return std::forward<Handler>(handler);
    else return bind_op_memory(operation_memory_, std::forward<Handler>(handler));
  }

  rw_operation* take(handle_type handle) noexcept { return operations_.take(handle); }
  void post_completion(rw_operation* op, boost::system::error_code ec, std::size_t bytes = 0) {
    boost::asio::post(self().get_executor(), posted_completion<std::size_t>(op, ec, bytes));
  }
  void complete_waiter(boost::system::error_code ec, block_mask mask) {
    wait_operation* waiter = std::exchange(waiter_, nullptr);
    self().engine_ref().watch_invalidations(false);
    boost::asio::post(self().get_executor(), posted_completion<block_mask>(waiter, ec, mask));
  }

  boost::system::error_code error_of(const completion_type& done) const {
    if (done.transport_failure) return transport_error_ ? transport_error_ : make_error_code(errc::device_error);
    return done.error == no_error ? boost::system::error_code{} : make_error_code(done.error);
  }
  void deliver(const completion_type& done) {
    if (rw_operation* op = take(done.handle)) {
      report_pf_status(op, done);
      op->complete(error_of(done), done.bytes);
    }
  }
  // Armed at initiation: STATUS_SUCCESS until a completion from the PF's answer says otherwise (an
  // operation that ends without one, refused, cancelled, timed out, reports success there).
  static void watch_pf_status(rw_operation* op, pf_status_report report) noexcept {
    op->pf_status = report.status;
    if (report.status != nullptr) *report.status = ntstatus::success;
  }
  // The PF's own status in a completion: none when the transport failed (the PF answered nothing).
  static ntstatus pf_status_of(const completion_type& done) noexcept {
    return done.transport_failure ? ntstatus::success : done.peer_status;
  }
  static void report_pf_status(rw_operation* op, const completion_type& done) noexcept {
    if (op->pf_status != nullptr) *op->pf_status = pf_status_of(done);
  }
  // Completions the engine has ready, delivered from the executor in the order they happened (their
  // slots are free at once for the operations started next).
  void post_completions() {
    completion_type done{};
    while (self().engine_ref().next_completion(done))
      if (rw_operation* op = take(done.handle)) {
        report_pf_status(op, done);
        post_completion(op, error_of(done), done.bytes);
      }
  }
  void deliver_invalidations() {
    auto& e = self().engine_ref();
    if (waiter_ == nullptr) return;
    // Latched bits first; else the engine may have found the peer gone while watching: the wait then
    // ends as the requests did.
    errc failure = no_error;
    if (e.pending_invalidations().empty() && (failure = e.take_watch_failure()) == no_error) return;
    wait_operation* waiter = std::exchange(waiter_, nullptr);
    e.watch_invalidations(false);
    if (failure != no_error) waiter->complete(make_error_code(failure), block_mask{});
    else waiter->complete({}, e.take_invalidations());
  }

  void schedule_pump() {
    if (pumping_) {
      repump_ = true;
      return;
    }
    if (pump_scheduled_) return;
    // post() never runs the function inline; it may throw (out of memory), and then no pump is scheduled.
    boost::asio::post(self().get_executor(), [this, life = life_] {
      if (!life->alive) return;
      pump_scheduled_ = false;
      pump();
    });
    pump_scheduled_ = true;
  }

  // Runs the engine until it must wait for I/O or time, or has delivered completions_per_turn
  // completions with operations still pending (the rest in a turn posted behind what the executor has
  // queued). Completions are delivered from here, so a handler that resumes a coroutine runs inside this
  // loop and may start the next operation.
  void pump() {
    if (pumping_) {
      repump_ = true;
      return;
    }
    pumping_ = true;
    // A handler delivered here may destroy this endpoint (a coroutine holding it returns): then nothing of
    // it is touched again. The life record outlives it, as it does for every handler that was posted.
    const std::shared_ptr<vf_life> life = life_;
    try {
      pump_engine(life);
    } catch (...) {
      // Out of memory arming the timer or starting a wait (or a handler that threw, out of the event loop
      // as Asio hands it on): the next pump starts afresh rather than finding this one still running, and
      // one is scheduled for when the loop runs again (a watch waits on a timer that did not start:
      // nothing else would wake it). Out of memory for that too, the next event pumps.
      if (life->alive) {
        pumping_ = false;
        try {
          schedule_pump();
        } catch (...) {
        }
      }
      throw;
    }
  }
  void pump_engine(const std::shared_ptr<vf_life>& life) {
    auto& e = self().engine_ref();
    std::uint64_t now = timing_.now();
    std::size_t delivered = 0;
    for (;;) {
      repump_ = false;
      const action_type a = e.step(now);
      switch (a.what) {
        case action_type::kind::complete:
          deliver(a.done);
          if (!life->alive) return;
          if (++delivered >= completions_per_turn && !operations_.empty()) {
            pumping_ = false;
            schedule_pump();
            return;
          }
          now = timing_.now();  // a handler ran user code
          continue;
        case action_type::kind::read:
        case action_type::kind::write:
        case action_type::kind::send:
          if (self().perform(a, now)) continue;
          break;  // the I/O completes later and resumes the pump
        case action_type::kind::wait:
          arm_timer(a.until);
          self().await_peer();
          break;
        case action_type::kind::idle:
          arm_timer(never);
          if (!active()) self().rest();
          else self().await_peer();
          break;
      }
      deliver_invalidations();
      if (!life->alive) return;
      if (!repump_) break;
    }
    pumping_ = false;
  }

  void arm_timer(std::uint64_t until) {
    if (until == never) {
      if (timer_armed_) {
        timer_armed_ = false;
        (void)timer_.cancel();
      }
      return;
    }
    if (timer_armed_ && timer_at_ <= until) return;
    timer_armed_ = false;  // until the new wait has started (expires_at ends the one before)
    timer_.expires_at(until);
    // Armed once the wait is started: a wait that could not start (out of memory) leaves the timer unarmed,
    // and the next pump arms it again instead of waiting for a timer that never fires.
    timer_.async_wait([this, life = life_, generation = ++timer_generation_](boost::system::error_code) {
      if (!life->alive || generation != timer_generation_) return;  // gone, or superseded by a later arm
      timer_armed_ = false;
      pump();
    });
    timer_armed_ = true;
    timer_at_ = until;
  }

  bool blocking_allowed(boost::system::error_code& ec) {
    if (dead_ || (dead_ = self().peer_status())) {
      ec = dead_;
      return false;
    }
    // A pump merely posted (remove() posts one) holds nothing a synchronous call could interleave with:
    // it steps the engine, which the call leaves idle. Refusing for it failed every synchronous call
    // after remove() in a program that runs no event loop.
    if (active() || self().engine_ref().io_in_flight() || !self().prepare_blocking()) {
      ec = errc::busy;
      return false;
    }
    return true;
  }

  std::size_t run_blocking(engine::operation_kind kind, block_id id, std::span<std::byte> destination,
                           std::span<const std::byte> data, boost::system::error_code& ec, pf_status_report report) {
    ec = {};
    if (report.status != nullptr) *report.status = ntstatus::success;
    if (!blocking_allowed(ec)) return 0;
    const blocking_scope scope(*this);
    auto& e = self().engine_ref();
    std::uint64_t now = timing_.now();
    auto started = kind == engine::operation_kind::read ? e.start_read(id, destination, deadline_after(now, default_timeout_))
                                                        : e.start_write(id, data, deadline_after(now, default_timeout_));
    if (!started) {
      ec = started.error();
      return 0;
    }
    try {
      return drive_blocking(*started, now, ec, report);
    } catch (...) {
      // Thrown out of an access (a transport hook's exception) or a wait: the operation ends here, its
      // destination (the caller's, about to be gone) never written again.
      (void)e.cancel(*started, engine::cancel_scope::with_effects);
      throw;
    }
  }
  std::size_t drive_blocking(const auto& started, std::uint64_t now, boost::system::error_code& ec,
                             pf_status_report report) {
    auto& e = self().engine_ref();
    for (;;) {
      const action_type a = e.step(now);
      switch (a.what) {
        case action_type::kind::complete:
          if (!(a.done.handle == started)) continue;  // a cancelled operation's late report
          if (a.done.transport_failure || a.done.error != no_error) {
            ec = error_of(a.done);
            if (report.status != nullptr) *report.status = pf_status_of(a.done);
            return 0;
          }
          return a.done.bytes;
        case action_type::kind::read:
        case action_type::kind::write:
        case action_type::kind::send:
          if (const auto io = self().perform_blocking(a, now); io) transport_error_ = io;
          continue;
        case action_type::kind::wait:
          self().wait_blocking(a.until);
          now = timing_.now();
          // A wait that brought no answer may mean a dead peer: the operation then ends with it now.
          if (const auto gone = self().peer_status(); gone) fail(gone);
          continue;
        case action_type::kind::idle:
          // Cannot happen while the operation is pending (the engine always has an action for it); if it
          // ever did, the operation ends here rather than waiting forever.
          ec = dead_ ? dead_ : make_error_code(errc::device_error);
          return 0;
      }
    }
  }

  struct blocking_scope {
    explicit blocking_scope(vf_core& c) noexcept : core(c) { core.blocking_ = true; }
    ~blocking_scope() { core.blocking_ = false; }
    blocking_scope(const blocking_scope&) = delete;
    blocking_scope& operator=(const blocking_scope&) = delete;
    vf_core& core;
  };

  // What every synchronous call reads comes first, at the start of the endpoint's object (operations_
  // starts with its count): a PF's benchmark serving 256 VFs in one process counts every other cache
  // line as a miss.
  std::chrono::nanoseconds default_timeout_;
  wait_operation* waiter_{nullptr};
  boost::system::error_code dead_{};
  bool timer_armed_{false};
  bool pumping_{false};
  bool pump_scheduled_{false};
  bool repump_{false};
  bool blocking_{false};
  operation_table operations_;
  boost::system::error_code transport_error_{};
  std::uint64_t timer_at_{0};
  std::uint64_t timer_generation_{0};
  std::uint64_t wait_generation_{0};
  std::shared_ptr<vf_life> life_ = std::make_shared<vf_life>();
  // A slot holds an operation whose handler is a few pointers, a coroutine's included, with a typed read's
  // 128-byte buffer (296 bytes: a coroutine's typed read of a 128-byte block).
  using operation_memory = op_memory<max_operations + 1, 384>;
  std::shared_ptr<operation_memory> operation_memory_ = std::make_shared<operation_memory>();

 protected:
  Timing timing_;
  Options options_;

 private:
  typename Timing::timer_type timer_;  // after timing_, which makes it
};

}  // namespace vpci::detail
