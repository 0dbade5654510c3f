// Serving one VF over the Hyper-V binding (binding 2) on an Asio stream: the PF half of
// vf_message_endpoint. Used through pf_endpoint::async_serve.
#pragma once

#include <array>
#include <cstddef>
#include <functional>
#include <memory>
#include <span>
#include <utility>
#include <vector>

#include <boost/asio/write.hpp>
#include <boost/system/error_code.hpp>

#include <vpci/engine/pf_blocks.hpp>
#include <vpci/engine/pf_messages.hpp>
#include <vpci/error.hpp>
#include <vpci/wire/framing.hpp>

namespace vpci::detail {

// Reads request frames, answers each through the session (isolation, admission and statuses live
// there), and writes the answers in order. Answers queue while the VF does not read them; past
// the session's answer_queue_limit() queued answers the VF is quarantined for overflow and the stream is
// given up. Both decisions (framing errors, overflow) are the session's; this class only moves bytes.
template <std::size_t MaxVfs, class Stream>
class pf_stream_server : public std::enable_shared_from_this<pf_stream_server<MaxVfs, Stream>> {
 public:
  using done_function = std::function<void(boost::system::error_code)>;

  pf_stream_server(engine::pf_blocks<MaxVfs>& store, engine::vf_index vf, hyperv::wslot slot, Stream& stream,
                   done_function done)
      : session_(store, vf, slot), stream_(stream), done_(std::move(done)) {
    pending_.reserve(queue_limit() * hyperv::max_response_frame_size);
    writing_.reserve(queue_limit() * hyperv::max_response_frame_size);
    // The replies queue to the same bound as their frames: serving never allocates once started.
    pending_replies_.reserve(queue_limit());
    writing_replies_.reserve(queue_limit());
  }

  void start() { read(); }

  // Sends the VF's pending (coalesced) invalidations, if any.
  void push_invalidations() {
    if (finished_) return;
    std::array<std::byte, hyperv::invalidate_frame_size> frame{};
    auto size = session_.make_pending_invalidate(frame);
    if (!size || *size == 0) return;
    enqueue(std::span<const std::byte>(frame).first(*size), engine::pf_reply{});
  }

  // Stops serving: the completion is delivered with `ec` once.
  void stop(boost::system::error_code ec) { finish(ec); }

  [[nodiscard]] const engine::pf_message_session<MaxVfs>& session() const noexcept { return session_; }
  [[nodiscard]] engine::vf_index vf() const noexcept { return session_.vf(); }
  [[nodiscard]] bool finished() const noexcept { return finished_; }

 private:
  std::size_t queue_limit() const noexcept { return session_.answer_queue_limit(); }

  void read() {
    if (finished_) return;
    stream_.async_read_some(boost::asio::buffer(input_), [self = this->shared_from_this()](
                                                             boost::system::error_code ec, std::size_t n) {
      if (self->finished_) return;
      if (ec) return self->finish(ec == boost::asio::error::eof ? boost::system::error_code{} : ec);
      self->consume(std::span<const std::byte>(self->input_.data(), n));
      self->read();
    });
  }

  void consume(std::span<const std::byte> chunk) {
    while (!chunk.empty() && !finished_) {
      const auto step = decoder_.feed(chunk);
      chunk = chunk.subspan(step.consumed);
      if (step.error != no_error) {
        // Garbage or an oversized frame: the stream has no framing left.
        return finish(make_error_code(session_.on_framing_error()));
      }
      if (step.packet.empty()) continue;
      std::array<std::byte, hyperv::max_response_frame_size> response{};
      auto reply = session_.on_packet(step.packet, response);
      if (!reply) return finish(make_error_code(reply.error()));
      if (queued_ >= queue_limit()) {
        // The VF sends without reading the answers.
        return finish(make_error_code(session_.on_overflow()));
      }
      enqueue(std::span<const std::byte>(response).first(reply->size), *reply);
    }
  }

  void enqueue(std::span<const std::byte> frame, const engine::pf_reply& reply) {
    pending_.insert(pending_.end(), frame.begin(), frame.end());
    pending_replies_.push_back(reply);
    ++queued_;
    flush();
  }

  void flush() {
    if (writing_now_ || pending_.empty() || finished_) return;
    writing_now_ = true;
    std::swap(pending_, writing_);
    std::swap(pending_replies_, writing_replies_);
    // An answer leaves the PF's in-flight count when it is handed to the stream: the VF cannot see it,
    // and send its next request, any earlier. It keeps counting against the overflow bound (queued_)
    // until the stream has taken it.
    for (const auto& reply : writing_replies_) session_.response_written(reply);
    boost::asio::async_write(stream_, boost::asio::buffer(writing_),
                             [self = this->shared_from_this()](boost::system::error_code ec, std::size_t) {
                               self->writing_now_ = false;
                               if (self->finished_) return;
                               self->queued_ -= self->writing_replies_.size();
                               self->writing_replies_.clear();
                               self->writing_.clear();
                               if (ec) return self->finish(ec);
                               self->flush();
                             });
  }

  void finish(boost::system::error_code ec) {
    if (finished_) return;
    finished_ = true;
    // Answers that were never handed to the stream are retired: nothing stays counted in flight.
    for (const auto& reply : pending_replies_) session_.response_written(reply);
    pending_replies_.clear();
    writing_replies_.clear();
    if (done_) std::exchange(done_, nullptr)(ec);
  }

  engine::pf_message_session<MaxVfs> session_;
  Stream& stream_;
  done_function done_;
  hyperv::frame_decoder decoder_{};
  std::array<std::byte, 4096> input_{};
  std::vector<std::byte> pending_;
  std::vector<std::byte> writing_;
  std::vector<engine::pf_reply> pending_replies_;
  std::vector<engine::pf_reply> writing_replies_;
  std::size_t queued_{0};
  bool writing_now_{false};
  bool finished_{false};
};

}  // namespace vpci::detail
