// vpci::vf_message_endpoint: the VF driver's side of the block channel over the Hyper-V binding
// (binding 2): byte-exact READ_BLOCK / WRITE_BLOCK / INVALIDATE_BLOCK messages framed on any Asio stream
// (a local socket, TCP). The operations, their completion signatures, errors, cancellation and
// threading rules are those of the VF endpoint core (asio/detail/vf_core.hpp), the same on both
// bindings; this class supplies how the message channel's I/O is performed:
// - the stream starts with protocol-version negotiation (vf_message_options::negotiate, on by default):
//   block requests wait until a version is agreed (negotiated_version());
// - requests are pipelined: up to 64 are in flight at once, answered in any order (transaction IDs); an
//   operation holds its slot until its handler is called, so the 64 count operations started and not yet
//   completed, and a 65th fails with vpci::errc::busy; frames started while a send is in progress go out
//   together in the next one;
// - from its first operation on, the endpoint keeps reading the stream, so invalidations are latched as
//   they arrive; close() ends that;
// - the stream ending or failing (eof, connection reset, garbage that breaks the framing) fails every
//   pending operation with that cause, and every later one at once with it; on a framing violation the
//   endpoint closes the stream (the receiver closes it: docs/hyperv-binding.md).
// - the synchronous forms read and write the stream on the calling thread (poll(2) on the stream's
//   native handle bounds every wait by the deadline), so the stream must have native_handle(); a read the
//   endpoint left pending on the stream is cancelled first (the stream must then have cancel()).
//
// Thread safety: one executor (a strand or a single-threaded io_context) per endpoint.
// A pipe as the stream (a posix::stream_descriptor): the PF closing its reading end makes the VF's next
// request raise SIGPIPE, whose default action ends the process; ignore SIGPIPE in a program that drives
// VFs over pipes (Asio's sockets send with MSG_NOSIGNAL and need nothing).
#pragma once

#include <poll.h>
#include <sys/socket.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <type_traits>
#include <utility>
#include <vector>

#include <boost/asio/basic_socket.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/write.hpp>
#include <boost/system/error_code.hpp>

#include <vpci/asio/detail/op_memory.hpp>
#include <vpci/asio/detail/vf_core.hpp>
#include <vpci/asio/timing.hpp>
#include <vpci/engine/vf_message_channel.hpp>
#include <vpci/error.hpp>
#include <vpci/transport/detail/would_block.hpp>
#include <vpci/wire/hyperv.hpp>

namespace vpci {

// Binding 2's options.
struct vf_message_options {
  // The deadline of a request that names none (and of the synchronous forms): vpci::errc::timeout past it.
  std::chrono::nanoseconds default_timeout{std::chrono::seconds(1)};
  // Protocol-version negotiation when the stream starts, as a pci-hyperv guest does it
  // (docs/hyperv-binding.md): before any block request the endpoint offers 1.4, then 1.3, 1.2, 1.1;
  // operations started meanwhile wait (their deadlines run). If no version is agreed every pending and
  // later operation fails with vpci::errc::revision_mismatch (every version refused), vpci::errc::timeout
  // (no answer within negotiation_timeout) or the PF's refusal mapped to errc. Turn it off for a PF that
  // does not answer QUERY_PROTOCOL_VERSION.
  bool negotiate{true};
  // How long the PF may take to answer each version offered. 0 or less gives it no time: the first offer
  // is overdue as soon as it is sent, and negotiation fails with vpci::errc::timeout.
  std::chrono::nanoseconds negotiation_timeout{std::chrono::seconds(1)};
};

template <class Stream, class Timing = steady_timing>
class vf_message_endpoint final : public detail::vf_core<vf_message_endpoint<Stream, Timing>,
                                                         engine::vf_message_channel<64>, Timing,
                                                         typename Stream::executor_type, vf_message_options> {
  using core = typename vf_message_endpoint::vf_core;
  using channel_type = typename core::engine_type;

 public:
  // Up to 64 requests are in flight at once (started and not yet completed), answered in any order.
  // `slot` is this VF's wslot on the virtual bus: written into every request; only invalidations for it
  // are accepted. The stream must be connected to the PF and outlive the endpoint.
  vf_message_endpoint(Stream& stream, hyperv::wslot slot, vf_message_options options = {}, Timing timing = {})
      : core(stream.get_executor(), options, std::move(timing)),
        stream_(stream),
        channel_(std::make_unique<channel_type>(
            slot, engine::vf_negotiation_options{options.negotiate, to_nanoseconds(options.negotiation_timeout)})) {}

  // Pending operations complete with vpci::errc::vf_removed. The endpoint's background read (or readiness
  // wait) is cancelled where the stream can cancel (cancel(), or its lowest layer's): left pending it
  // would keep the stream's executor busy (run() would not return) and, on a stream read without a wait
  // first, take bytes meant for the next endpoint made on the same stream. Not while a send is in
  // progress: a stream cancels everything pending on it, and a frame cut there would break the PF's
  // framing for whatever comes next on the stream. That send then finishes on its own, and the read when
  // the PF next sends or the stream is closed, each keeping its own buffers and finding the endpoint gone:
  // until then the read keeps the executor busy (close() first, or close the stream, where run() must
  // return).
  ~vf_message_endpoint() {
    this->destroy();
    if (reading_ && !channel_->io_in_flight()) cancel_stream();
  }

  typename core::executor_type get_executor() const noexcept { return stream_.get_executor(); }
  [[nodiscard]] const engine::vf_message_engine<64>& engine() const noexcept { return channel_->engine(); }
  [[nodiscard]] const channel_type& channel() const noexcept { return *channel_; }
  // The protocol version agreed with the PF, (major << 16) | minor (hyperv::protocol_version_1_4, ...);
  // 0 before agreement, after a failed negotiation, or with negotiation off.
  [[nodiscard]] std::uint32_t negotiated_version() const noexcept { return channel_->negotiated_version(); }
  // Why no version could be agreed: errc::revision_mismatch (the PF refused every offer with
  // STATUS_REVISION_MISMATCH), errc::timeout (an offer went unanswered), or the errc of the status the PF
  // refused an offer with otherwise (STATUS_ACCESS_DENIED: access_denied); an empty code until then and with
  // negotiation off. Every operation fails with it from then on (failure(), while the stream lasts).
  [[nodiscard]] boost::system::error_code negotiation_failure() const {
    const auto& negotiation = channel_->negotiation();
    return negotiation.failed() ? make_error_code(negotiation.error()) : boost::system::error_code{};
  }
  [[nodiscard]] Stream& stream() noexcept { return stream_; }

 private:
  friend core;
  channel_type& engine_ref() noexcept { return *channel_; }

  // What a read or write in progress may still touch after the endpoint is gone.
  struct io_state {
    // Room for the largest send the channel makes, taken once: copying a frame out in the pump never
    // allocates (an allocation that failed there lost the operation whose frame it was).
    io_state() { output.reserve(channel_type::max_send_size); }
    std::array<std::byte, 4096> input{};
    std::vector<std::byte> output;
    detail::op_memory<2> ops;  // a background read (or wait) and a write
  };
  template <class Handler>
  auto with_op_memory(Handler&& handler) {
    return detail::bind_op_memory(std::shared_ptr<detail::op_memory<2>>(io_, &io_->ops), std::forward<Handler>(handler));
  }

  // ---- core hooks ----
  bool perform(const typename core::action_type& a, std::uint64_t&) {
    // The frames are copied out of the channel: the write may outlive the endpoint.
    io_->output.assign(a.bytes.begin(), a.bytes.end());
    boost::asio::async_write(stream_, boost::asio::buffer(io_->output),
                             with_op_memory([this, life = this->life(), io = io_](boost::system::error_code ec, std::size_t) {
                               if (!life->alive) return;
                               channel_->on_sent();
                               if (ec) return stream_failed(ec);
                               this->resume();
                             }));
    ensure_receiving();
    return false;
  }

  void await_peer() { ensure_receiving(); }
  void rest() {}  // the stream stays read: invalidations are latched as they arrive
  // What the channel refuses every operation with for good (a failed negotiation): the endpoint's failure.
  // An empty code while it refuses nothing: make_error_code(no_error) is false but compares unequal to
  // boost::system::error_code{}, which failure() promises while the endpoint works.
  boost::system::error_code peer_status() const {
    const errc refusal = channel_->refusal();
    return refusal == no_error ? boost::system::error_code{} : make_error_code(refusal);
  }

  // The stream is read continuously. Where it can wait for readiness (a socket, a descriptor), the read
  // waits first and then takes what is there: a wait consumes nothing, so a synchronous form may give it up
  // at any time. A read given up instead could already have taken bytes (its completion queued, not yet
  // run) that a synchronous form then never saw: an invalidation lost and the framing broken.
  void ensure_receiving() {
    if (reading_ || this->failure()) return;
    reading_ = true;
    const std::uint64_t generation = ++read_generation_;
    if constexpr (waits_for_readiness) {
      stream_.async_wait(Stream::wait_read, with_op_memory([this, life = this->life(), generation](boost::system::error_code ec) {
        if (!read_ended(*life, generation, ec)) return;
        const std::size_t n = read_now(ec);
        if (ec == boost::asio::error::would_block) return ensure_receiving();  // spurious readiness
        if (ec) return stream_failed(ec);
        take_input(n);
      }));
    } else {
      stream_.async_read_some(boost::asio::buffer(io_->input),
                              with_op_memory([this, life = this->life(), io = io_, generation](boost::system::error_code ec,
                                                                                              std::size_t n) {
                                if (read_ended(*life, generation, ec)) take_input(n);
                              }));
    }
  }
  // A background wait or read completed: whether to go on with it (false when the endpoint is gone, the
  // read was given up for a synchronous form, the endpoint failed, or the stream did, which is reported).
  bool read_ended(const detail::vf_life& life, std::uint64_t generation, boost::system::error_code ec) {
    if (!life.alive || generation != read_generation_) return false;
    reading_ = false;
    if (this->failure()) return false;
    if (ec) {
      stream_failed(ec);
      return false;
    }
    return true;
  }
  // The chunk is consumed (copied into the decoder) before anything runs that could start a read. The
  // pump delivers answers inline, and a handler may destroy this endpoint (a coroutine owning it returns):
  // then nothing of it is touched after resume().
  void take_input(std::size_t n) {
    if (!received(std::span<const std::byte>(io_->input).first(n))) return;
    const std::shared_ptr<detail::vf_life> life = this->life();
    this->resume();
    if (life->alive) ensure_receiving();
  }
  static constexpr bool waits_for_readiness = requires(Stream& s) {
    s.async_wait(Stream::wait_read, [](boost::system::error_code) {});
  };

  // Feeds what arrived; false when it broke the framing (the stream is then closed and everything fails).
  bool received(std::span<const std::byte> bytes) {
    if (channel_->on_received(bytes) == no_error) return true;
    close_stream();
    this->fail(make_error_code(errc::protocol_violation));
    return false;
  }

  // The stream ended or broke: a clean end at a frame boundary is eof; cut mid-frame, truncated_message.
  void stream_failed(boost::system::error_code ec) {
    if (ec == boost::asio::error::eof) {
      if (const errc cut = channel_->on_end_of_stream(); cut != no_error) ec = make_error_code(cut);
    }
    this->fail(ec);
  }

  // Cancels what is pending on the stream, where it has a way to: true if it did.
  bool cancel_stream() {
    boost::system::error_code ignored;
    if constexpr (requires { stream_.cancel(ignored); }) {
      stream_.cancel(ignored);
      return true;
    } else if constexpr (requires { stream_.cancel(); }) {
      stream_.cancel();
      return true;
    } else if constexpr (requires { stream_.lowest_layer().cancel(ignored); }) {
      stream_.lowest_layer().cancel(ignored);
      return true;
    } else {
      return false;
    }
  }

  void close_stream() {
    boost::system::error_code ignored;
    if constexpr (requires { stream_.shutdown(Stream::shutdown_both, ignored); }) stream_.shutdown(Stream::shutdown_both, ignored);
    if constexpr (requires { stream_.close(ignored); }) stream_.close(ignored);
  }
  void shut_down() { close_stream(); }

  // ---- the synchronous forms: the stream on the calling thread ----
  bool prepare_blocking() {
    if constexpr (!requires { stream_.native_handle(); }) {
      return false;
    } else {
      if (!reading_) return true;
      if constexpr (waits_for_readiness && requires(boost::system::error_code& ec) { stream_.cancel(ec); }) {
        // Give up the wait the endpoint left pending: its completion is ignored (even one already queued),
        // and reading resumes with the next asynchronous operation. A wait consumed nothing.
        cancel_stream();
        reading_ = false;
        ++read_generation_;
        return true;
      } else {
        return false;
      }
    }
  }

  // Waits up to `until` (virtual time: only looks) for the stream to become ready for `events`.
  bool ready_for(short events, std::uint64_t until) {
    if constexpr (requires { stream_.native_handle(); }) {
      const std::uint64_t now = this->timing_.now();
      const int timeout_ms = Timing::is_virtual || until <= now
                                 ? 0
                                 : static_cast<int>((std::min<std::uint64_t>(until - now, 60'000'000'000) + 999'999) / 1'000'000);
      ::pollfd fd{static_cast<int>(stream_.native_handle()), events, 0};
      const int ready = ::poll(&fd, 1, timeout_ms);
      if (ready > 0) return true;
      if (Timing::is_virtual) this->timing_.sleep_until(until);
      return false;
    } else {
      return false;
    }
  }

  boost::system::error_code perform_blocking(const typename core::action_type& a, std::uint64_t& now) {
    boost::system::error_code ec;
    std::span<const std::byte> rest = a.bytes;
    const std::uint64_t deadline = channel_->next_deadline();
    while (!rest.empty() && !ec) {
      if (!ready_for(POLLOUT, deadline)) {
        if (this->timing_.now() >= deadline) break;  // the operation times out; the frames stay unsent
        continue;
      }
      const std::size_t n = write_now(rest, ec);
      if (ec == boost::asio::error::would_block) ec = {};
      rest = rest.subspan(n);
    }
    channel_->on_sent();
    now = this->timing_.now();
    if (!ec && !rest.empty()) {
      // The PF took no bytes until the deadline: a frame may be cut, so the stream is unusable.
      close_stream();
      ec = make_error_code(errc::timeout);
    }
    if (ec) stream_failed(ec);
    return ec;
  }

  void wait_blocking(std::uint64_t until) {
    if (!ready_for(POLLIN, until)) return;
    boost::system::error_code ec;
    const std::size_t n = read_now(ec);
    if (ec == boost::asio::error::would_block) return;  // readiness was spurious: nothing is lost
    if (ec) return stream_failed(ec);
    (void)received(std::span<const std::byte>(io_->input).first(n));
  }

  // One read into io_->input, and one write of `bytes`, of what the stream takes now: never blocking,
  // would_block when nothing can move, so that a readiness the reactor or poll(2) reported (and which
  // another reader may have used up) is never followed by an unbounded block. A socket is read and written
  // with MSG_DONTWAIT, one system call: switching its mode for the call and back costs three ioctls per
  // round trip (Asio clears its own non-blocking flag with the user's), about 4 us of every 30 of a
  // binding-2 read over a local socket. Another stream is switched for the call.
  // Asio's own socket classes only: a wrapper with a socket's names has its own reads and writes to run.
  static constexpr bool is_socket = [] {
    if constexpr (requires { typename Stream::protocol_type; }) {
      return std::is_base_of_v<boost::asio::basic_socket<typename Stream::protocol_type, typename Stream::executor_type>,
                               Stream>;
    } else {
      return false;
    }
  }();
  std::size_t read_now(boost::system::error_code& ec) {
    if constexpr (is_socket) {
      return socket_call(ec, [&] { return ::recv(stream_.native_handle(), io_->input.data(), io_->input.size(), MSG_DONTWAIT); });
    } else {
      return without_blocking([&] { return stream_.read_some(boost::asio::buffer(io_->input), ec); });
    }
  }
  std::size_t write_now(std::span<const std::byte> bytes, boost::system::error_code& ec) {
    if constexpr (is_socket) {
      return socket_call(
          ec, [&] { return ::send(stream_.native_handle(), bytes.data(), bytes.size(), MSG_DONTWAIT | MSG_NOSIGNAL); });
    } else {
      return without_blocking([&] { return stream_.write_some(boost::asio::buffer(bytes.data(), bytes.size()), ec); });
    }
  }
  // A recv(2) or send(2) of a non-empty buffer, as Asio reports it: 0 bytes read is the end of the stream.
  template <class Call>
  static std::size_t socket_call(boost::system::error_code& ec, Call call) {
    for (;;) {
      const ssize_t n = call();
      if (n > 0) {
        ec = {};
        return static_cast<std::size_t>(n);
      }
      if (n == 0) {
        ec = boost::asio::error::eof;
        return 0;
      }
      if (errno == EINTR) continue;
      ec = detail::would_block(errno) ? boost::system::error_code(boost::asio::error::would_block)
                                                   : boost::system::error_code(errno, boost::system::system_category());
      return 0;
    }
  }
  // Runs a synchronous stream call in non-blocking mode where the stream has one.
  template <class Call>
  std::size_t without_blocking(Call call) {
    if constexpr (requires(boost::system::error_code& ec) { stream_.non_blocking(true, ec); }) {
      const bool was = stream_.non_blocking();
      boost::system::error_code ignored;
      stream_.non_blocking(true, ignored);
      const std::size_t n = call();
      stream_.non_blocking(was, ignored);
      return n;
    } else {
      return call();
    }
  }

  Stream& stream_;
  std::unique_ptr<channel_type> channel_;
  std::shared_ptr<io_state> io_ = std::make_shared<io_state>();
  std::uint64_t read_generation_{0};
  bool reading_{false};
};

}  // namespace vpci
