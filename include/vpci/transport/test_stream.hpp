// vpci::test_stream: an in-memory, bidirectional byte stream for tests of binding 2 (Hyper-V messages
// over a stream), in the spirit of Beast's test stream. make_pair() connects two ends: what one end
// writes, the other reads. Each end models AsyncReadStream and AsyncWriteStream (async_read_some,
// async_write_some) and SyncReadStream and SyncWriteStream (read_some, write_some), so it stands in for
// a socket wherever the endpoints take a stream, and it lets a test script what a socket does rarely:
//
// - Fail at every step: fail_at(n, error) fails this end's operation number n (counting from 0 over
//   read_some, write_some, async_read_some and async_write_some, in the order they are started; an
//   async operation counts when it is initiated) with `error`, once or from then on (a dead peer). A
//   failed operation transfers nothing and completes with (error, 0). Run a scenario with n = 0, 1, 2,
//   ... until fault_triggered() stays false, as with vpci::fault_injecting_transport.
// - Chunking: set_read_chunk(n) hands reads at this end out at most n bytes at a time (1 included);
//   set_write_chunk(n) makes a write at this end take at most n bytes (short writes).
// - A peer that does not read: set_unread_limit(n) lets at most n bytes written by this end wait unread
//   at the peer (a full socket buffer); a write then waits until the peer reads. Raising the limit
//   resumes waiting writes at once.
// - Ending: shutdown(shutdown_send) half-closes (the peer reads what was written, then end of stream;
//   this end may still read), shutdown(shutdown_receive) stops this end reading, as a socket's;
//   close() is an orderly close (the peer reads what was written, then end of stream;
//   boost::asio::error::eof), reset() an abortive one (the peer's reads and writes fail with
//   boost::asio::error::connection_reset, unread bytes are discarded). Either end may do either; a
//   destroyed end closes. After close() or reset() a peer's write fails with broken_pipe (close) or
//   connection_reset (reset); this end's own operations then fail with boost::asio::error::bad_descriptor,
//   and those it had pending complete with boost::asio::error::operation_aborted.
// - Observation: written() is every byte this end has written (taken by the stream), in order;
//   available() the bytes waiting to be read at this end; pending_reads()/pending_writes() the async
//   operations of this end still waiting.
//
// Completions: void(boost::system::error_code, std::size_t), for any completion token, never inline:
// always posted to the end's executor (and run through the handler's associated executor). A read of an
// empty buffer completes with (success, 0) at once, as a socket's does. A pending operation counts as
// outstanding work of the end's executor, as a socket's does: io_context::run() does not return while
// an operation waits for the peer (poll() does), so close the stream to end a test's run().
// Cancellation: per-operation (terminal, partial and total) through the handler's cancellation slot, and
// cancel() for every pending operation of this end; a cancelled operation completes with
// boost::asio::error::operation_aborted and has transferred nothing.
// Synchronous forms block the calling thread until they can make progress (data, room, an end): use them
// only when the peer is served by another thread, or when they cannot wait (available() > 0, or room for
// the write). Do not mix synchronous and asynchronous reads (or writes) of one end at the same time.
//
// Thread safety: both ends may be used from different threads (the shared state is locked); one end's
// reads, and one end's writes, from one thread at a time, as with a socket. Shaping, fault plans and
// observation may be called from any thread.
#pragma once

#include <algorithm>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <limits>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/append.hpp>
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/cancellation_type.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/system/error_code.hpp>
#include <boost/system/system_error.hpp>
#include <boost/throw_exception.hpp>

#include <vpci/transport/fault_injecting.hpp>

namespace vpci {

class test_stream {
  struct shared_state;

 public:
  using executor_type = boost::asio::any_io_executor;
  // No limit (chunks, unread bytes) / no planned failure.
  static constexpr std::size_t unlimited = std::numeric_limits<std::size_t>::max();
  static constexpr std::size_t never = unlimited;

  // Two connected ends; completions of both run on `executor`.
  [[nodiscard]] static std::pair<test_stream, test_stream> make_pair(const executor_type& executor) {
    return make_pair(executor, executor);
  }
  // Two connected ends, each with its own executor (for a VF and a PF on different threads).
  [[nodiscard]] static std::pair<test_stream, test_stream> make_pair(const executor_type& first,
                                                                     const executor_type& second) {
    auto state = std::make_shared<shared_state>(first, second);
    return {test_stream(state, 0), test_stream(state, 1)};
  }

  test_stream(test_stream&& other) noexcept : state_(std::move(other.state_)), end_(other.end_) {}
  test_stream& operator=(test_stream&& other) noexcept {
    if (this != &other) {
      close();
      state_ = std::move(other.state_);
      end_ = other.end_;
    }
    return *this;
  }
  test_stream(const test_stream&) = delete;
  test_stream& operator=(const test_stream&) = delete;
  // An end destroyed closes: its pending operations complete with operation_aborted, the peer reads
  // what was written and then end of stream.
  ~test_stream() { close(); }

  [[nodiscard]] executor_type get_executor() const noexcept { return state_->ends[end_].executor; }

  // --- AsyncReadStream / AsyncWriteStream ------------------------------------------------------------
  // Completion: void(boost::system::error_code, std::size_t). Errors: the injected error; eof after the
  // peer closed and everything it wrote was read; connection_reset after a reset; bad_descriptor when
  // this end is closed; operation_aborted when cancelled or closed while pending.
  template <class MutableBufferSequence, class ReadToken = vpci::default_completion_token_t<executor_type>>
  auto async_read_some(const MutableBufferSequence& buffers, ReadToken&& token = ReadToken{}) {
    return boost::asio::async_initiate<ReadToken, void(boost::system::error_code, std::size_t)>(
        initiate{this}, token, buffer_list{to_vector<boost::asio::mutable_buffer>(buffers), {}});
  }
  // Completion: void(boost::system::error_code, std::size_t). Errors: the injected error; broken_pipe
  // after the peer closed; connection_reset after a reset; bad_descriptor when this end is closed;
  // operation_aborted when cancelled or closed while pending (nothing transferred).
  template <class ConstBufferSequence, class WriteToken = vpci::default_completion_token_t<executor_type>>
  auto async_write_some(const ConstBufferSequence& buffers, WriteToken&& token = WriteToken{}) {
    return boost::asio::async_initiate<WriteToken, void(boost::system::error_code, std::size_t)>(
        initiate{this}, token, buffer_list{{}, to_vector<boost::asio::const_buffer>(buffers)});
  }

  // --- SyncReadStream / SyncWriteStream (block until they can make progress) -------------------------
  template <class MutableBufferSequence>
  std::size_t read_some(const MutableBufferSequence& buffers, boost::system::error_code& ec) {
    return state_->transfer_now(end_, buffer_list{to_vector<boost::asio::mutable_buffer>(buffers), {}}, ec);
  }
  template <class MutableBufferSequence>
  std::size_t read_some(const MutableBufferSequence& buffers) {
    boost::system::error_code ec;
    const std::size_t n = read_some(buffers, ec);
    if (ec) boost::throw_exception(boost::system::system_error(ec));
    return n;
  }
  template <class ConstBufferSequence>
  std::size_t write_some(const ConstBufferSequence& buffers, boost::system::error_code& ec) {
    return state_->transfer_now(end_, buffer_list{{}, to_vector<boost::asio::const_buffer>(buffers)}, ec);
  }
  template <class ConstBufferSequence>
  std::size_t write_some(const ConstBufferSequence& buffers) {
    boost::system::error_code ec;
    const std::size_t n = write_some(buffers, ec);
    if (ec) boost::throw_exception(boost::system::system_error(ec));
    return n;
  }

  // --- ending ----------------------------------------------------------------------------------------
  enum shutdown_type { shutdown_receive, shutdown_send, shutdown_both };
  // As a socket's shutdown: after shutdown_send the peer reads what was written, then eof, and this end's
  // writes fail with broken_pipe; after shutdown_receive this end's reads end with eof and the peer's
  // writes fail with broken_pipe. Pending operations so ended complete with those errors.
  void shutdown(shutdown_type what, boost::system::error_code& ec) {
    state_->shutdown(end_, what != shutdown_receive, what != shutdown_send);
    ec = {};
  }
  void shutdown(shutdown_type what) { state_->shutdown(end_, what != shutdown_receive, what != shutdown_send); }
  // Orderly close (see the header comment). Closing a closed end does nothing.
  void close() {
    if (state_) state_->end_connection(end_, boost::asio::error::eof, boost::asio::error::broken_pipe);
  }
  void close(boost::system::error_code& ec) {
    close();
    ec = {};
  }
  // Abortive close: the peer's reads and writes fail with connection_reset; unread bytes are discarded.
  void reset() {
    if (state_)
      state_->end_connection(end_, boost::asio::error::connection_reset, boost::asio::error::connection_reset);
  }
  [[nodiscard]] bool is_open() const {
    std::lock_guard lock(state_->mutex);
    return state_->ends[end_].open;
  }
  // Every pending async operation of this end completes with operation_aborted.
  void cancel() { state_->cancel(end_, nullptr); }

  // --- shaping ---------------------------------------------------------------------------------------
  // Reads at this end hand out at most `max_bytes` (>= 1; 0 counts as 1) at a time.
  void set_read_chunk(std::size_t max_bytes) { state_->set_limit(&end_state::read_chunk, end_, max_bytes); }
  // Writes at this end take at most `max_bytes` (>= 1; 0 counts as 1) at a time.
  void set_write_chunk(std::size_t max_bytes) { state_->set_limit(&end_state::write_chunk, end_, max_bytes); }
  // At most `bytes` (>= 1; 0 counts as 1) written by this end wait unread at the peer; a write beyond
  // waits for the peer to read. unlimited by default.
  void set_unread_limit(std::size_t bytes) { state_->set_limit(&end_state::unread_limit, end_, bytes); }

  // --- faults (as vpci::fault_injecting_transport) ---------------------------------------------------
  // Fails this end's operation number `operation_index` (counting from 0 over the operations started
  // so far and later) with `error`. Replaces any previous plan; does not reset the count.
  void fail_at(std::size_t operation_index, boost::system::error_code error,
               fault_persistence persistence = fault_persistence::once) {
    std::lock_guard lock(state_->mutex);
    end_state& end = state_->ends[end_];
    end.fail_index = operation_index;
    end.fail_error = error;
    end.fail_persistence = persistence;
  }
  void disarm() {
    std::lock_guard lock(state_->mutex);
    state_->ends[end_].fail_index = never;
  }
  // Operations started at this end so far, failed ones included.
  [[nodiscard]] std::size_t operation_count() const { return read_end(&end_state::operations); }
  // Operations of this end failed by injection.
  [[nodiscard]] std::size_t faults_injected() const { return read_end(&end_state::faults); }
  [[nodiscard]] bool fault_triggered() const { return faults_injected() != 0; }

  // --- observation -----------------------------------------------------------------------------------
  // Every byte this end has written (taken by the stream), in order.
  [[nodiscard]] std::vector<std::byte> written() const {
    std::lock_guard lock(state_->mutex);
    return state_->ends[end_].written;
  }
  // Bytes the peer wrote that wait to be read at this end.
  [[nodiscard]] std::size_t available() const {
    std::lock_guard lock(state_->mutex);
    return state_->inbound(end_).unread.size();
  }
  // Async operations of this end still waiting.
  [[nodiscard]] std::size_t pending_reads() const {
    std::lock_guard lock(state_->mutex);
    return state_->ends[end_].reads.size();
  }
  [[nodiscard]] std::size_t pending_writes() const {
    std::lock_guard lock(state_->mutex);
    return state_->ends[end_].writes.size();
  }

 private:
  // An operation's buffers: `into` for a read, `from` for a write (the other one is empty).
  struct buffer_list {
    std::vector<boost::asio::mutable_buffer> into;
    std::vector<boost::asio::const_buffer> from;
    [[nodiscard]] bool is_read() const noexcept { return from.empty() && !into.empty(); }
    [[nodiscard]] std::size_t size() const noexcept {
      return boost::asio::buffer_size(into) + boost::asio::buffer_size(from);
    }
  };

  // A pending async operation's handler, type-erased; complete() posts it with the result.
  class completion {
   public:
    virtual ~completion() = default;
    // `clear_slot`: false when the completion comes from the cancellation handler itself, which must
    // not be destroyed while it runs.
    virtual void complete(boost::system::error_code ec, std::size_t n, bool clear_slot) = 0;
  };
  template <class Handler>
  class handler_completion final : public completion {
   public:
    handler_completion(Handler handler, const executor_type& io_executor)
        : handler_(std::move(handler)),
          io_executor_(io_executor),
          work_(io_executor) {}
    void complete(boost::system::error_code ec, std::size_t n, bool clear_slot) override {
      auto slot = boost::asio::get_associated_cancellation_slot(handler_);
      if (clear_slot && slot.is_connected()) slot.clear();
      boost::asio::post(io_executor_, boost::asio::append(std::move(handler_), ec, n));
    }

   private:
    Handler handler_;
    executor_type io_executor_;
    // Keeps the executor's work count raised while the operation waits (a guard, not prefer(tracked): an
    // any_io_executor built with BOOST_ASIO_USE_TS_EXECUTOR_AS_DEFAULT is a TS executor, which has no
    // properties).
    boost::asio::executor_work_guard<executor_type> work_;
  };

  struct pending_operation {
    std::uint64_t id{0};
    buffer_list buffers;
    std::unique_ptr<completion> handler;
  };

  // Bytes flowing from one end to the other.
  struct direction {
    std::deque<std::byte> unread;
    boost::system::error_code writer_ended;  // eof or connection_reset: the reader's reads end with it
    boost::system::error_code reader_ended;  // broken_pipe or connection_reset: the writer's writes fail
  };

  struct end_state {
    explicit end_state(executor_type e) : executor(std::move(e)) {}
    executor_type executor;
    bool open{true};
    bool sending{true};    // false after shutdown(shutdown_send)
    bool receiving{true};  // false after shutdown(shutdown_receive)
    std::size_t read_chunk{unlimited};
    std::size_t write_chunk{unlimited};
    std::size_t unread_limit{unlimited};
    std::size_t operations{0};
    std::size_t faults{0};
    std::size_t fail_index{never};
    boost::system::error_code fail_error;
    fault_persistence fail_persistence{fault_persistence::once};
    std::vector<std::byte> written;
    std::deque<pending_operation> reads;
    std::deque<pending_operation> writes;
  };

  struct ready_completion {
    std::unique_ptr<completion> handler;
    boost::system::error_code ec;
    std::size_t bytes;
  };

  struct shared_state {
    shared_state(const executor_type& first, const executor_type& second) : ends{end_state(first), end_state(second)} {}

    std::mutex mutex;
    std::condition_variable changed;
    end_state ends[2];
    direction directions[2];  // directions[i]: written by end i, read by end 1 - i
    std::uint64_t next_id{1};

    direction& inbound(int end) { return directions[1 - end]; }
    direction& outbound(int end) { return directions[end]; }

    // Counts one operation of `end`; true when it is to fail.
    bool take_fault(end_state& end) {
      const std::size_t index = end.operations++;
      const bool hit = end.fail_index != never &&
                       (index == end.fail_index ||
                        (end.fail_persistence == fault_persistence::from_then_on && index > end.fail_index));
      if (hit) ++end.faults;
      return hit;
    }

    // How an operation that does not need the peer ends at once: a fault, a closed end, an empty buffer.
    // Returns true with `ec` set when it ends now.
    bool ends_at_once(end_state& end, const buffer_list& buffers, boost::system::error_code& ec) {
      if (take_fault(end)) {
        ec = end.fail_error;
        return true;
      }
      if (!end.open) {
        ec = boost::asio::error::bad_descriptor;
        return true;
      }
      ec = {};
      return buffers.size() == 0;
    }

    // One read at `end` into `buffers`, if it can proceed: bytes, or the writer's end.
    bool try_read(int end, const buffer_list& buffers, boost::system::error_code& ec, std::size_t& n) {
      direction& from = inbound(end);
      if (!ends[end].receiving) {
        ec = boost::asio::error::eof;
        n = 0;
        return true;
      }
      if (!from.unread.empty()) {
        const std::size_t limit = std::min(ends[end].read_chunk, from.unread.size());
        n = 0;
        for (const auto& buffer : buffers.into) {
          const std::size_t k = std::min(buffer.size(), limit - n);
          std::copy_n(from.unread.begin(), k, static_cast<std::byte*>(buffer.data()));
          from.unread.erase(from.unread.begin(), from.unread.begin() + static_cast<std::ptrdiff_t>(k));
          n += k;
          if (n == limit) break;
        }
        ec = {};
        return true;
      }
      if (from.writer_ended) {
        ec = from.writer_ended;
        n = 0;
        return true;
      }
      return false;
    }

    // One write at `end` from `buffers`, if it can proceed: room at the peer, or the reader's end.
    bool try_write(int end, const buffer_list& buffers, boost::system::error_code& ec, std::size_t& n) {
      direction& to = outbound(end);
      end_state& writer = ends[end];
      if (!writer.sending || to.reader_ended) {
        ec = writer.sending ? to.reader_ended : boost::system::error_code(boost::asio::error::broken_pipe);
        n = 0;
        return true;
      }
      const std::size_t room = writer.unread_limit > to.unread.size() ? writer.unread_limit - to.unread.size() : 0;
      if (room == 0) return false;
      const std::size_t limit = std::min({room, writer.write_chunk, buffers.size()});
      n = 0;
      for (const auto& buffer : buffers.from) {
        const std::size_t k = std::min(buffer.size(), limit - n);
        const auto* data = static_cast<const std::byte*>(buffer.data());
        to.unread.insert(to.unread.end(), data, data + k);
        writer.written.insert(writer.written.end(), data, data + k);
        n += k;
        if (n == limit) break;
      }
      ec = {};
      return true;
    }

    // Completes every pending operation that can proceed, on both ends, until none can.
    void progress(std::vector<ready_completion>& ready) {
      for (bool moved = true; moved;) {
        moved = false;
        for (int end = 0; end < 2; ++end) {
          auto& reads = ends[end].reads;
          boost::system::error_code ec;
          std::size_t n = 0;
          while (!reads.empty() && try_read(end, reads.front().buffers, ec, n)) {
            ready.push_back({std::move(reads.front().handler), ec, n});
            reads.pop_front();
            moved = true;
          }
          auto& writes = ends[end].writes;
          while (!writes.empty() && try_write(end, writes.front().buffers, ec, n)) {
            ready.push_back({std::move(writes.front().handler), ec, n});
            writes.pop_front();
            moved = true;
          }
        }
      }
      if (!ready.empty()) changed.notify_all();
    }

    static void deliver(std::vector<ready_completion>& ready) {
      for (auto& r : ready) r.handler->complete(r.ec, r.bytes, true);
      ready.clear();
    }

    void start(int end, buffer_list buffers, std::unique_ptr<completion> handler, std::uint64_t id) {
      std::vector<ready_completion> ready;
      {
        std::lock_guard lock(mutex);
        boost::system::error_code ec;
        if (ends_at_once(ends[end], buffers, ec)) {
          ready.push_back({std::move(handler), ec, 0});
        } else {
          auto& queue = buffers.is_read() ? ends[end].reads : ends[end].writes;
          queue.push_back(pending_operation{id, std::move(buffers), std::move(handler)});
          progress(ready);
        }
      }
      deliver(ready);
    }

    std::size_t transfer_now(int end, const buffer_list& buffers, boost::system::error_code& ec) {
      std::vector<ready_completion> ready;
      std::size_t n = 0;
      {
        std::unique_lock lock(mutex);
        if (ends_at_once(ends[end], buffers, ec)) return 0;
        changed.wait(lock, [&] {
          if (!ends[end].open) {
            ec = boost::asio::error::operation_aborted;
            n = 0;
            return true;
          }
          return buffers.is_read() ? try_read(end, buffers, ec, n) : try_write(end, buffers, ec, n);
        });
        progress(ready);  // the transfer may let the peer's waiting operations proceed
        changed.notify_all();
      }
      deliver(ready);
      return n;
    }

    // `end` closes (orderly: eof / broken_pipe) or resets (connection_reset both ways).
    void end_connection(int end, boost::system::error_code to_reader, boost::system::error_code to_writer) {
      std::vector<ready_completion> ready;
      {
        std::lock_guard lock(mutex);
        if (!ends[end].open) return;
        ends[end].open = false;
        direction& out = outbound(end);
        out.writer_ended = to_reader;
        if (to_reader != boost::asio::error::eof) out.unread.clear();
        direction& in = inbound(end);
        in.reader_ended = to_writer;
        in.unread.clear();
        abort_pending(ends[end], ready);
        progress(ready);
        changed.notify_all();
      }
      deliver(ready);
    }

    void shutdown(int end, bool send, bool receive) {
      std::vector<ready_completion> ready;
      {
        std::lock_guard lock(mutex);
        if (!ends[end].open) return;
        if (send && ends[end].sending) {
          ends[end].sending = false;
          if (!outbound(end).writer_ended) outbound(end).writer_ended = boost::asio::error::eof;
        }
        if (receive && ends[end].receiving) {
          ends[end].receiving = false;
          if (!inbound(end).reader_ended) inbound(end).reader_ended = boost::asio::error::broken_pipe;
          inbound(end).unread.clear();
        }
        progress(ready);
        changed.notify_all();
      }
      deliver(ready);
    }

    void abort_pending(end_state& end, std::vector<ready_completion>& ready) {
      for (auto* queue : {&end.reads, &end.writes}) {
        for (auto& op : *queue) ready.push_back({std::move(op.handler), boost::asio::error::operation_aborted, 0});
        queue->clear();
      }
    }

    // Cancels one pending operation (by id), or all of `end`'s when `id` is null.
    void cancel(int end, const std::uint64_t* id) {
      std::vector<ready_completion> ready;
      {
        std::lock_guard lock(mutex);
        if (id == nullptr) {
          abort_pending(ends[end], ready);
        } else {
          for (auto* queue : {&ends[end].reads, &ends[end].writes}) {
            auto it = std::find_if(queue->begin(), queue->end(),
                                   [&](const pending_operation& op) { return op.id == *id; });
            if (it == queue->end()) continue;
            ready.push_back({std::move(it->handler), boost::asio::error::operation_aborted, 0});
            queue->erase(it);
          }
        }
      }
      // Per-operation cancellation runs inside the slot's handler: the slot is left for the next operation.
      for (auto& r : ready) r.handler->complete(r.ec, r.bytes, id == nullptr);
    }

    void set_limit(std::size_t end_state::*member, int end, std::size_t value) {
      std::vector<ready_completion> ready;
      {
        std::lock_guard lock(mutex);
        ends[end].*member = value == 0 ? 1 : value;
        progress(ready);
        changed.notify_all();
      }
      deliver(ready);
    }
  };

  // The per-operation cancellation handler: cancels the operation by id if it still waits.
  struct cancel_pending {
    std::shared_ptr<shared_state> state;
    int end;
    std::uint64_t id;
    void operator()(boost::asio::cancellation_type_t) const { state->cancel(end, &id); }
  };

  struct initiate {
    test_stream* self;
    using executor_type = test_stream::executor_type;
    executor_type get_executor() const noexcept { return self->get_executor(); }
    template <class Handler>
    void operator()(Handler&& handler, buffer_list buffers) const {
      shared_state& state = *self->state_;
      std::uint64_t id = 0;
      {
        std::lock_guard lock(state.mutex);
        id = state.next_id++;
      }
      auto slot = boost::asio::get_associated_cancellation_slot(handler);
      if (slot.is_connected()) slot.template emplace<cancel_pending>(cancel_pending{self->state_, self->end_, id});
      state.start(self->end_, std::move(buffers),
                  std::make_unique<handler_completion<std::decay_t<Handler>>>(std::forward<Handler>(handler),
                                                                                self->get_executor()),
                  id);
    }
  };

  template <class Buffer, class BufferSequence>
  static std::vector<Buffer> to_vector(const BufferSequence& buffers) {
    std::vector<Buffer> out;
    for (auto it = boost::asio::buffer_sequence_begin(buffers); it != boost::asio::buffer_sequence_end(buffers); ++it)
      if (Buffer b(*it); b.size() != 0) out.push_back(b);
    return out;
  }

  std::size_t read_end(std::size_t end_state::*member) const {
    std::lock_guard lock(state_->mutex);
    return state_->ends[end_].*member;
  }

  test_stream(std::shared_ptr<shared_state> state, int end) : state_(std::move(state)), end_(end) {}

  std::shared_ptr<shared_state> state_;
  int end_{0};
};

}  // namespace vpci
