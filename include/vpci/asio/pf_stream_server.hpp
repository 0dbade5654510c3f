// Serving one VF over the Hyper-V binding (binding 2) on an Asio stream: the PF half of
// vf_message_endpoint. Used through pf_endpoint::async_serve.
//
// Every decision is engine::pf_message_session's (framing verdicts, admission, the answer queue and its
// backpressure, invalidation coalescing, the stall verdict); this class only moves bytes between the
// stream and the session and runs the stall timer:
// - It reads while the session accepts input, and feeds it every byte read. When the session stops
//   accepting (the VF's answers are at their limit) it stops reading and keeps what it has not fed, and
//   resumes when the stream has taken the answers handed to it.
// - It feeds a stream at most frames_per_turn frames at a time (the session's fairness rule), so that the
//   other streams on the same thread are served between the turns of a VF that pipelines.
// - It keeps one handoff in the stream at a time (the pending invalidation frame, then every answer
//   produced since the last one, written with async_write_some until taken) and reports each write's
//   bytes to the session. An answer produced while no handoff is in the stream goes out at once; those
//   produced meanwhile gather into the next handoff.
// - A stall timer (the timing policy's) runs while the session watches for a stall. On a local socket it
//   also looks at the bytes the VF has not read (TIOCOUTQ) when the check is armed and when it comes due:
//   fewer is the VF reading, reported to the session as progress. At a clean end of stream with nothing
//   unread, the session is told the VF read everything (its invalidations were delivered).
// - End of stream: it stops reading, lets the answers already produced reach a VF that only half-closed,
//   and ends with the session's verdict (success, or truncated_message when cut inside a frame).
// - Whenever serving ends, for any reason, the session releases what it held and the stream is closed
//   (shutdown and close, where the stream has them), so the VF sees the end.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <concepts>
#include <utility>
#include <vector>

#if defined(__linux__)
#include <sys/ioctl.h>
#include <sys/socket.h>
#endif

#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/post.hpp>
#include <boost/system/error_code.hpp>

#include <vpci/asio/detail/op_memory.hpp>
#include <vpci/asio/timing.hpp>
#include <vpci/engine/pf_blocks.hpp>
#include <vpci/engine/pf_messages.hpp>
#include <vpci/error.hpp>
#include <vpci/wire/framing.hpp>

namespace vpci {

// How pf_endpoint::async_serve serves one stream.
template <class Timing = steady_timing>
struct pf_stream_options {
  // How long the stream may take none of the answers the PF holds for the VF before the VF is
  // quarantined for overflow (it sends but does not read). Judged by a periodic check, so a stall is
  // caught between one and two stall timeouts after the stream stopped taking bytes. Above zero
  // (async_serve refuses anything else: invalid_argument).
  std::chrono::nanoseconds stall_timeout{static_cast<std::int64_t>(engine::default_stall_timeout)};
  // What "now" is and the stall timer (vpci::manual_timing in tests).
  Timing timing{};
  // Protocol-version negotiation: required by default (a block message first is a protocol violation),
  // versions 1.1 to 1.4 supported (engine::pf_negotiation). Any version in the range is agreed; a range
  // whose lowest is above its highest is refused (invalid_argument).
  engine::pf_negotiation negotiation{};
};

}  // namespace vpci

namespace vpci::detail {

// What pf_endpoint keeps of each stream it serves, whatever the stream's type. Single-threaded: called
// on the stream's executor (the PF's thread or strand).
class pf_stream_link {
 public:
  pf_stream_link() = default;
  pf_stream_link(const pf_stream_link&) = delete;
  pf_stream_link& operator=(const pf_stream_link&) = delete;
  [[nodiscard]] virtual engine::vf_index vf() const noexcept = 0;
  // ORs `mask` into the stream's pending invalidation and sends it when the stream can take it. Never
  // ends serving by itself (so a caller may iterate its streams while calling it).
  virtual void invalidate(block_mask mask) = 0;
  // Ends serving with `ec` (once) and closes the stream.
  virtual void stop(boost::system::error_code ec) = 0;

 protected:
  ~pf_stream_link() = default;
};

// Done: void(pf_stream_link&, boost::system::error_code), called once when serving ends.
template <std::size_t MaxVfs, class Stream, class Timing, class Done>
class pf_stream_server final : public pf_stream_link,
                               public std::enable_shared_from_this<pf_stream_server<MaxVfs, Stream, Timing, Done>> {
 public:
  pf_stream_server(engine::pf_blocks<MaxVfs>& store, engine::vf_index vf, hyperv::wslot slot, Stream& stream,
                   const pf_stream_options<Timing>& options, Done done)
      : session_(store, vf, slot, to_nanoseconds(options.stall_timeout), options.negotiation),
        stream_(stream),
        timing_(options.timing),
        timer_(timing_.make_timer(stream.get_executor())),
        done_(std::move(done)) {
    // Both buffers are reserved to their bound: serving never allocates once started.
    const std::size_t bound = invalidate_frame_size + session_.answer_queue_limit() * hyperv::max_response_frame_size;
    unsent_.reserve(bound);
    handoff_.reserve(bound);
  }
  ~pf_stream_server() = default;

  void start() { read(); }

  [[nodiscard]] engine::vf_index vf() const noexcept override { return session_.vf(); }

  void invalidate(block_mask mask) override {
    if (phase_ == phase::finished || mask.empty()) return;
    session_.invalidate(mask);
    if (!consuming_) flush();  // from a block handler inside resume(): its loop hands it over
  }

  void stop(boost::system::error_code ec) override { finish(ec); }

 private:
  static constexpr std::size_t invalidate_frame_size = engine::pf_message_session<MaxVfs>::invalidate_buffer_size;
  static constexpr std::size_t response_size = engine::pf_message_session<MaxVfs>::response_buffer_size;

  // serving: reading and answering; draining: the VF ended its stream, answers already produced are
  // still written; finished: serving ended (the completion was delivered), later I/O does nothing.
  enum class phase : std::uint8_t { serving, draining, finished };

  [[nodiscard]] bool input_left() const noexcept { return input_begin_ != input_end_; }

  // A handler whose operation's memory is this server's (detail/op_memory.hpp): a read, a write and the
  // stall timer are in flight, and a cancelled timer's operation until its completion runs.
  template <class Handler>
  auto with_op_memory(Handler&& handler) {
    return detail::bind_op_memory(std::shared_ptr<detail::op_memory<4>>(this->shared_from_this(), &ops_),
                                  std::forward<Handler>(handler));
  }

  // Reads when the session accepts input and everything read so far was fed to it.
  void read() {
    if (phase_ != phase::serving || reading_ || input_left() || !session_.accepting()) return;
    reading_ = true;
    stream_.async_read_some(boost::asio::buffer(input_), with_op_memory([self = this->shared_from_this()](
                                                                          boost::system::error_code ec, std::size_t n) {
      self->reading_ = false;
      if (self->phase_ == phase::finished) return;
      if (ec == boost::asio::error::eof) return self->end_of_input();
      if (ec) return self->finish(ec);
      self->input_begin_ = 0;
      self->input_end_ = n;
      self->resume();
    }));
  }

  void end_of_input() {
    phase_ = phase::draining;
    verdict_ = make_code(session_.on_end_of_stream());
    // Answers already produced still go to a VF that only half-closed; the last write ends serving.
    if (!session_.handoff_in_progress() && session_.unsent_answers() == 0) {
      if (read_through_by_peer()) session_.on_stream_read_through();
      finish(verdict_);
    }
  }

  // Whether the VF is known to have read every byte this stream took: a local socket whose queue of
  // unread bytes is empty at a clean end with nothing left to write. Not after the draining writes: a VF
  // that closed while they sat unread empties the queue too.
  bool read_through_by_peer() { return unread_bytes() == std::size_t{0}; }

  // Feeds the input not yet fed while the session takes it, hands what it produced to the stream, and
  // reads more if it can. At most frames_per_turn frames per call: the rest is fed in a turn posted to
  // the stream's executor, behind the work already queued there (other VFs' streams).
  void resume() {
    consuming_ = true;
    std::size_t frames = 0;
    while (input_left() && phase_ != phase::finished) {
      if (frames == engine::pf_message_session<MaxVfs>::frames_per_turn) {
        next_turn();
        break;
      }
      ++frames;
      std::array<std::byte, response_size> response{};
      const auto input = std::span<const std::byte>(input_).subspan(input_begin_, input_end_ - input_begin_);
      const engine::pf_input_step step = session_.on_input(input, response);
      input_begin_ += step.consumed;
      if (step.error != no_error) {
        consuming_ = false;
        return finish(make_code(step.error));
      }
      if (step.reply.size != 0) {
        const auto frame = std::span<const std::byte>(response).first(step.reply.size);
        unsent_.insert(unsent_.end(), frame.begin(), frame.end());
        flush();  // the first answer goes out at once; the rest gather behind it into the next handoff
      }
      if (step.consumed == 0) break;  // the answer queue is full: wait for the stream
    }
    consuming_ = false;
    if (phase_ == phase::finished) return;
    flush();
    read();
    arm_stall_timer();  // answers may now be held behind a handoff in progress
  }

  // The rest of the input is fed in a later turn (one pending at a time; a handoff's completion may feed
  // it first, which leaves the turn nothing or less to do).
  void next_turn() {
    if (turn_posted_) return;
    turn_posted_ = true;
    boost::asio::post(stream_.get_executor(), [self = this->shared_from_this()] {
      self->turn_posted_ = false;
      if (self->phase_ != phase::finished) self->resume();
    });
  }

  // Starts a handoff when none is in the stream and there is something to hand over. Never finishes
  // serving (invalidate() relies on it).
  void flush() {
    if (phase_ == phase::finished || session_.handoff_in_progress() || !session_.has_output()) return;
    std::array<std::byte, invalidate_frame_size> frame{};
    auto handoff = session_.begin_handoff(frame);
    // Cannot fail: the buffer is sized, no handoff is in progress, async_serve checked the wslot.
    if (!handoff) return;
    handoff_.assign(unsent_.begin(), unsent_.end());
    handoff_.insert(handoff_.end(), frame.begin(), frame.begin() + static_cast<std::ptrdiff_t>(handoff->invalidate_size));
    unsent_.clear();
    written_ = 0;
    write();
    arm_stall_timer();
  }

  void write() {
    stream_.async_write_some(boost::asio::buffer(handoff_.data() + written_, handoff_.size() - written_),
                             with_op_memory([self = this->shared_from_this()](boost::system::error_code ec, std::size_t n) {
                               if (self->phase_ == phase::finished) return;
                               self->written(ec, n);
                             }));
  }

  void written(boost::system::error_code ec, std::size_t n) {
    session_.on_stream_progress(n);
    written_ += n;
    if (ec) return finish(phase_ == phase::draining ? verdict_ : ec);  // after end of stream, the VF is simply gone
    if (written_ < handoff_.size()) return write();
    session_.end_handoff();
    if (phase_ == phase::draining && session_.unsent_answers() == 0) return finish(verdict_);
    resume();
  }

  void arm_stall_timer() {
    if (timer_armed_ || phase_ == phase::finished) return;
    const std::uint64_t due = session_.arm_stall_check(timing_.now());
    if (due == engine::pf_message_session<MaxVfs>::no_deadline) return;
    timer_armed_ = true;
    queued_at_check_ = unread_bytes();
    timer_.expires_at(due);
    timer_.async_wait(with_op_memory([self = this->shared_from_this()](boost::system::error_code ec) {
      self->timer_armed_ = false;
      if (self->phase_ == phase::finished || ec) return;
      const std::optional<std::size_t> queued = self->unread_bytes();
      if (queued && self->queued_at_check_ && *queued < *self->queued_at_check_)
        self->session_.on_stream_progress(*self->queued_at_check_ - *queued);
      if (const errc verdict = self->session_.on_stall_check(); verdict != no_error)
        return self->finish(make_code(verdict));
      self->arm_stall_timer();
    }));
  }

  void finish(boost::system::error_code ec) {
    if (phase_ == phase::finished) return;
    phase_ = phase::finished;
    session_.end_of_serving();
    if (timer_armed_) timer_.cancel();
    close_stream();
    if (done_) {
      Done done = std::move(*done_);
      done_.reset();
      std::move(done)(*this, ec);
    }
  }

  // The bytes a local socket holds that its peer has not read (TIOCOUTQ); nullopt for a stream without a
  // descriptor, or one that is no local socket. Not TCP: there TIOCOUTQ counts what the peer's kernel has
  // not acknowledged, which it does into a receive buffer that grows while the VF reads nothing (a VF
  // that stopped reading was then not quarantined within two stall timeouts), and a VF that shuts its
  // sending side (vpci's close() does, before it closes) ends the stream cleanly with acknowledged bytes
  // unread.
  std::optional<std::size_t> unread_bytes() {
#if defined(__linux__)
    if constexpr (requires {
                    stream_.is_open();
                    { stream_.native_handle() } -> std::convertible_to<int>;
                  }) {
      if (!stream_.is_open()) return std::nullopt;
      const int fd = stream_.native_handle();
      if (!local_socket_) {
        ::sockaddr_storage address{};
        ::socklen_t length = sizeof address;
        local_socket_ = ::getsockname(fd, reinterpret_cast<::sockaddr*>(&address), &length) == 0 &&
                        address.ss_family == AF_UNIX;
      }
      int queued = 0;
      if (*local_socket_ && ::ioctl(fd, TIOCOUTQ, &queued) == 0 && queued >= 0) return static_cast<std::size_t>(queued);
    }
#endif
    return std::nullopt;
  }

  void close_stream() {
    boost::system::error_code ignored;
    if constexpr (requires { stream_.shutdown(Stream::shutdown_both, ignored); })
      stream_.shutdown(Stream::shutdown_both, ignored);
    if constexpr (requires { stream_.close(ignored); }) stream_.close(ignored);
  }

  static boost::system::error_code make_code(errc e) {
    return e == no_error ? boost::system::error_code{} : make_error_code(e);
  }

  engine::pf_message_session<MaxVfs> session_;
  Stream& stream_;
  Timing timing_;
  typename Timing::timer_type timer_;
  std::optional<Done> done_;
  std::array<std::byte, 4096> input_{};
  std::size_t input_begin_{0};  // input_[input_begin_, input_end_) is read but not yet fed
  std::size_t input_end_{0};
  std::vector<std::byte> unsent_;   // answer frames produced since the last handoff
  std::vector<std::byte> handoff_;  // the handoff in the stream
  std::size_t written_{0};          // bytes of handoff_ the stream took
  boost::system::error_code verdict_;  // how serving ends once draining
  phase phase_{phase::serving};
  // Orthogonal to the phase: what is in progress.
  // (A handoff in the stream is the session's handoff_in_progress().)
  detail::op_memory<4> ops_;
  bool reading_{false};      // an async_read_some
  bool consuming_{false};    // inside resume(): a block handler's invalidate() waits for its loop
  bool turn_posted_{false};  // resume() posted the next turn of the input
  bool timer_armed_{false};  // the stall timer
  std::optional<std::size_t> queued_at_check_;  // the socket's unread bytes when the stall check was armed
  std::optional<bool> local_socket_;            // whether the stream is a local socket, once looked at
};

}  // namespace vpci::detail
