// vpci::pf_endpoint: the PF driver's side of the block channel. It owns the block store (per VF, per
// block: stored contents and/or IHV handlers), places and services each VF's config-space mailbox, and
// raises invalidations. A thin shell over engine::pf_blocks and engine::pf_mailbox_session.
//
// Thread safety: one PF endpoint is used from one thread (or strand) at a time; the memory transport's
// write hook runs on the thread that performs the VF's write.
#pragma once

#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include <boost/asio/append.hpp>
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/cancellation_type.hpp>
#include <boost/asio/post.hpp>

#include <vpci/asio/pf_stream_server.hpp>
#include <vpci/config/placement.hpp>
#include <vpci/engine/pf_blocks.hpp>
#include <vpci/engine/pf_mailbox.hpp>
#include <vpci/error.hpp>
#include <vpci/transport/memory_config_space.hpp>
#include <vpci/transport/shm_config_space.hpp>
#include <vpci/wire/mailbox.hpp>

namespace vpci {

using engine::block_access;
using engine::quarantine_reason;
using engine::vf_index;

// Adapts two callables to engine::block_handler, for IHVs that compute blocks instead of storing them:
//   on_read(vf, id, std::span<std::byte> out, std::size_t& bytes) -> ntstatus
//   on_write(vf, id, std::span<const std::byte> data) -> ntstatus
class function_block_handler final : public engine::block_handler {
 public:
  using read_function = std::function<ntstatus(vf_index, block_id, std::span<std::byte>, std::size_t&)>;
  using write_function = std::function<ntstatus(vf_index, block_id, std::span<const std::byte>)>;

  function_block_handler(read_function on_read, write_function on_write)
      : on_read_(std::move(on_read)), on_write_(std::move(on_write)) {}

  ntstatus on_read(vf_index vf, block_id id, std::span<std::byte> out, std::size_t& bytes) override {
    if (!on_read_) return ntstatus::access_denied;
    return on_read_(vf, id, out, bytes);
  }
  ntstatus on_write(vf_index vf, block_id id, std::span<const std::byte> data) override {
    if (!on_write_) return ntstatus::access_denied;
    return on_write_(vf, id, data);
  }

 private:
  read_function on_read_;
  write_function on_write_;
};

template <std::size_t MaxVfs = 256>
class pf_endpoint {
 public:
  using store_type = engine::pf_blocks<MaxVfs>;
  using session_type = engine::pf_mailbox_session<MaxVfs>;

  explicit pf_endpoint(engine::pf_limits limits = {}) : store_(std::make_unique<store_type>(limits)) {}
  pf_endpoint(const pf_endpoint&) = delete;
  pf_endpoint& operator=(const pf_endpoint&) = delete;
  ~pf_endpoint() {
    for (auto& attachment : mailbox_attachments_)
      if (attachment.detach) attachment.detach();
    // Every stream ends now (vf_removed, closed); their I/O still queued finds them finished and does
    // nothing, so nothing runs on this endpoint's memory afterwards.
    for (const auto& stream : streams_of([](vf_index) { return true; }))
      stream->stop(make_error_code(errc::vf_removed));
  }

  // The block store: define blocks, store values, read counters.
  [[nodiscard]] store_type& blocks() noexcept { return *store_; }
  [[nodiscard]] const store_type& blocks() const noexcept { return *store_; }

  // Registers VF `vf` (index 0..MaxVfs-1) with its routing ID.
  boost::system::error_code register_vf(vf_index vf, std::uint16_t routing_id) {
    return code(store_->register_vf(vf, routing_id));
  }

  // Defines a typed block of `vf` from its descriptor, with an optional handler that computes it.
  template <class Block>
  boost::system::error_code define(vf_index vf, const typename Block::value_type& initial,
                                   block_access access = block_access::read_write,
                                   engine::block_handler* handler = nullptr) {
    return code(store_->template define<Block>(vf, initial, access, handler));
  }
  boost::system::error_code define_block(vf_index vf, block_id id, std::span<const std::byte> initial,
                                         block_access access = block_access::read_write,
                                         engine::block_handler* handler = nullptr) {
    return code(store_->define_block(vf, id, initial, access, handler));
  }
  // Updates a stored block; with `invalidate` the VF is told to re-read it.
  template <class Block>
  boost::system::error_code store(vf_index vf, const typename Block::value_type& value, bool invalidate_block = true) {
    if (auto ec = code(store_->template store<Block>(vf, value)); ec) return ec;
    if (!invalidate_block) return {};
    block_mask mask;
    (void)mask.set(Block::id);
    return invalidate(vf, mask);
  }
  template <class Block>
  result<typename Block::value_type> load(vf_index vf) const noexcept {
    return store_->template load<Block>(vf);
  }

  // ORs `mask` into the VF's invalidations and publishes them (coalesced until the VF takes them).
  boost::system::error_code invalidate(vf_index vf, block_mask mask) {
    if (auto ec = code(store_->invalidate(vf, mask)); ec) return ec;
    service(vf);
    return {};
  }
  // SRIOV_INVALIDATE_BLOCK_ALL_VFS.
  void invalidate_all(block_mask mask) {
    store_->invalidate_all(mask);
    for (auto& attachment : mailbox_attachments_) attachment.service();
    std::vector<vf_index> served;
    for (const auto& stream : stream_attachments_) served.push_back(stream->vf());
    std::sort(served.begin(), served.end());
    served.erase(std::unique(served.begin(), served.end()), served.end());
    for (vf_index vf : served) push_invalidations(vf);
  }

  // A PF-initiated VF reset (FLR): lifts quarantine; blocks and pending invalidations survive.
  boost::system::error_code reset_vf(vf_index vf) { return code(store_->reset_vf(vf)); }

  // Places VF `vf`'s mailbox window as a VSEC in unused extended config space of `space` (the VF's
  // simulated config space), makes the PF-owned registers read-only as a device would, and services
  // the window from the space's write hook. Returns the window's offset.
  // Errors: insufficient_resources (no room: nothing changed), not_found (VF not registered),
  // invalid_argument (VF already attached).
  template <class Clock, class WaitTraits>
  result<std::size_t> attach_mailbox(vf_index vf, basic_memory_config_space<Clock, WaitTraits>& space) {
    std::vector<std::byte> image(space.size());
    if (auto e = space.device_read(0, image); e != no_error) return e;
    auto placed = place_window(vf, image);
    if (!placed) return placed.error();
    const std::size_t window = *placed;
    (void)space.device_write(0, image);
    (void)space.set_register_kind(window, mailbox::window_size, register_kind::read_only);
    for (const mailbox::register_range& r : mailbox::vf_writable_ranges)
      (void)space.set_register_kind(window + r.start, std::size_t{r.end} - r.start, register_kind::read_write);

    auto write_register = [&space](std::size_t offset, std::span<const std::byte> bytes) {
      (void)space.device_write(offset, bytes);
    };
    mailbox_attachment& attachment = attach(
        vf, window, write_register,
        [&space](std::size_t offset, std::span<std::byte> bytes) { return space.device_read(offset, bytes) == no_error; },
        write_register, [] {});
    attachment.detach = [&space] { space.set_write_hook({}); };
    space.set_write_hook([service = attachment.service, window](std::size_t offset, std::size_t length) {
      if (offset + length > window && offset < window + mailbox::window_size) service();
    });
    return window;
  }

  // Places VF `vf`'s mailbox window in a shared-memory config space (`device` must be a device-role view
  // the PF keeps) and makes the PF-owned registers read-only to the driver side through the shared write
  // mask. Service it with wait_and_service() from the PF's thread. Errors as the memory overload, and
  // access_denied for a driver-role view.
  result<std::size_t> attach_mailbox(vf_index vf, shm_config_space& device) {
    if (device.role() != shm_role::device) return errc::access_denied;
    std::vector<std::byte> image(device.size());
    boost::system::error_code ec;
    device.read(0, image, ec);
    if (ec) return errc::device_error;
    auto placed = place_window(vf, image);
    if (!placed) return placed.error();
    const std::size_t window = *placed;
    device.write(0, image, ec);
    if (ec) return errc::device_error;
    std::array<std::byte, mailbox::window_size> mask{};
    for (const mailbox::register_range& r : mailbox::vf_writable_ranges)
      for (std::size_t i = r.start; i < r.end; ++i) mask[i] = std::byte{0xFF};
    std::vector<std::byte> all_read_only(device.size());
    (void)device.set_write_mask(0, all_read_only);
    (void)device.set_write_mask(window, mask);

    mailbox_attachment& attachment = attach(
        vf, window,
        [&device](std::size_t offset, std::span<const std::byte> bytes) {
          boost::system::error_code ignored;
          device.write(offset, bytes, ignored);
        },
        [&device](std::size_t offset, std::span<std::byte> bytes) {
          boost::system::error_code read_error;
          device.read(offset, bytes, read_error);
          return !read_error;
        },
        // One update, one ring: the VF wakes to a complete answer, not once per register.
        [&device](std::size_t offset, std::span<const std::byte> bytes) {
          boost::system::error_code ignored;
          device.write(offset, bytes, ignored, shm_ring::none);
        },
        [&device] { device.ring_doorbell(shm_doorbell::to_driver); });
    attachment.wait = [&device](std::uint32_t seen, std::chrono::nanoseconds timeout) {
      boost::system::error_code wait_error;
      return device.wait_for_doorbell(shm_doorbell::to_device, seen, timeout, wait_error);
    };
    attachment.sequence = [&device] { return device.doorbell_sequence(shm_doorbell::to_device); };
    return window;
  }

  // For doorbell-driven attachments (shared memory): services the window, then waits up to `timeout`
  // for the VF to ring and services it again. Returns true if the VF rang. Call it in a loop on the
  // PF's thread; a VF write between two calls is never missed (the doorbell sequence is read first).
  bool wait_and_service(vf_index vf, std::chrono::nanoseconds timeout) {
    for (auto& attachment : mailbox_attachments_) {
      if (attachment.vf != vf || !attachment.wait) continue;
      const std::uint32_t seen = attachment.sequence();
      attachment.service();
      if (attachment.wait(seen, timeout) == seen) return false;
      attachment.service();
      return true;
    }
    return false;
  }

  // Serves VF `vf` over the Hyper-V binding on `stream` (connected to that VF: the PF knows which VF a
  // connection belongs to, never from the messages) with the VF's wslot `slot`, until the stream ends or
  // the VF is cut off. Each call is its own attachment: a VF may have several streams (a reconnect
  // before the old stream is seen to end); invalidations go to every stream of the VF, and to the next
  // one when it has none. The answer queue, backpressure, invalidation coalescing and quarantine rules
  // are engine::pf_message_session's (docs/hyperv-binding.md).
  //
  // Completion: void(boost::system::error_code), never inline. Errors:
  // - success: the VF closed the stream at a frame boundary (answers already produced were written
  //   first, for a VF that only half-closed);
  // - vpci::errc::truncated_message: the stream ended inside a frame (the VF crashed; no quarantine);
  // - vpci::errc::protocol_violation: garbage, a broken frame, a message a VF may not send (the VF is
  //   quarantined);
  // - vpci::errc::quarantined: overflow, the stream took none of the VF's answers for the stall timeout
  //   (options.stall_timeout) while the VF kept them waiting;
  // - vpci::errc::vf_removed: remove_vf(vf), or this endpoint destroyed;
  // - vpci::errc::not_found: VF not registered; vpci::errc::invalid_argument: `slot` does not encode;
  // - vpci::errc::cancelled: the operation was cancelled;
  // - the stream's own errors, unchanged.
  // Whenever serving ends, the PF closes the stream (shutdown and close, where Stream has them), so the
  // VF sees the end. Cancellation: terminal, partial and total through the handler's cancellation slot;
  // all end serving with vpci::errc::cancelled (emit on the endpoint's thread).
  // Thread safety: the endpoint's (one thread or strand), which must be the stream's executor. The stream
  // and its executor's context must outlive the operation (destroying the endpoint ends it).
  template <class Stream, class CompletionToken>
  auto async_serve(vf_index vf, hyperv::wslot slot, Stream& stream, CompletionToken&& token) {
    return async_serve(vf, slot, stream, pf_stream_options<>{}, std::forward<CompletionToken>(token));
  }
  // As above, with a stall timeout and timing policy (vpci::manual_timing in tests).
  template <class Stream, class Timing, class CompletionToken>
  auto async_serve(vf_index vf, hyperv::wslot slot, Stream& stream, const pf_stream_options<Timing>& options,
                   CompletionToken&& token) {
    return boost::asio::async_initiate<CompletionToken, void(boost::system::error_code)>(
        [this, vf, slot, &stream, options](auto handler) {
          const errc refused = !store_->registered(vf)          ? errc::not_found
                               : !hyperv::encode_wslot(slot).has_value() ? errc::invalid_argument
                                                                         : no_error;
          if (refused != no_error) {
            boost::asio::post(stream.get_executor(), boost::asio::append(std::move(handler), code(refused)));
            return;
          }
          auto cancellation = boost::asio::get_associated_cancellation_slot(handler);
          auto done = [this, executor = stream.get_executor(), h = std::move(handler)](
                          detail::pf_stream_link& link, boost::system::error_code ec) mutable {
            if (auto s = boost::asio::get_associated_cancellation_slot(h); s.is_connected()) s.clear();
            forget_stream(link);
            boost::asio::post(executor, boost::asio::append(std::move(h), ec));
          };
          auto server = std::make_shared<detail::pf_stream_server<MaxVfs, Stream, Timing, decltype(done)>>(
              *store_, vf, slot, stream, options, std::move(done));
          if (cancellation.is_connected())
            cancellation.template emplace<cancel_serving>(std::weak_ptr<detail::pf_stream_link>(server),
                                                          stream.get_executor());
          stream_attachments_.push_back(server);
          server->start();
          push_invalidations(vf);  // those raised while the VF had no stream
        },
        token);
  }

  // How many streams of VF `vf` are being served.
  [[nodiscard]] std::size_t streams(vf_index vf) const noexcept {
    return static_cast<std::size_t>(std::count_if(stream_attachments_.begin(), stream_attachments_.end(),
                                                  [vf](const auto& s) { return s->vf() == vf; }));
  }

  // The mailbox session of an attached VF (for counters and tests), or nullptr.
  [[nodiscard]] const session_type* mailbox_session(vf_index vf) const noexcept {
    for (const auto& attachment : mailbox_attachments_)
      if (attachment.vf == vf) return attachment.session.get();
    return nullptr;
  }

  // Services VF `vf`'s window now (bindings without a write hook call this from their doorbell or poll),
  // and hands pending invalidations to every stream of the VF (coalesced there until the stream takes
  // them). Safe from inside a block handler (on_write while a stream is being served).
  void service(vf_index vf) {
    for (auto& attachment : mailbox_attachments_)
      if (attachment.vf == vf) attachment.service();
    push_invalidations(vf);
  }

  // Stops servicing VF `vf`'s mailbox window (its write hook is removed; the VSEC stays in place).
  // Invalidations raised afterwards wait in the store for the VF's next binding. not_found if none.
  boost::system::error_code detach_mailbox(vf_index vf) {
    const auto removed = std::erase_if(mailbox_attachments_, [&](mailbox_attachment& a) {
      if (a.vf != vf) return false;
      if (a.detach) a.detach();
      return true;
    });
    return removed == 0 ? code(errc::not_found) : boost::system::error_code{};
  }

  // VF removal: stops serving every stream of it (their operations complete with vpci::errc::vf_removed;
  // the streams are closed) and forgets the VF and its blocks.
  boost::system::error_code remove_vf(vf_index vf) {
    for (const auto& stream : streams_of([vf](vf_index v) { return v == vf; }))
      stream->stop(make_error_code(errc::vf_removed));
    std::erase_if(mailbox_attachments_, [&](mailbox_attachment& a) {
      if (a.vf != vf) return false;
      if (a.detach) a.detach();
      return true;
    });
    return code(store_->unregister_vf(vf));
  }

 private:
  struct mailbox_attachment {
    vf_index vf{0};
    std::unique_ptr<session_type> session;
    std::function<void()> service;
    std::function<void()> detach;
    std::function<std::uint32_t(std::uint32_t, std::chrono::nanoseconds)> wait;
    std::function<std::uint32_t()> sequence;
  };

  // Checks that `vf` can take a mailbox and places its VSEC in the config-space `image` (which is left
  // unchanged on any error). Returns the window's offset.
  result<std::size_t> place_window(vf_index vf, std::span<std::byte> image) {
    if (!store_->registered(vf)) return errc::not_found;
    for (const auto& attachment : mailbox_attachments_)
      if (attachment.vf == vf) return errc::invalid_argument;
    auto placed = config::place_vsec(image, {mailbox::vsec_id, mailbox::vsec_revision,
                                             static_cast<std::uint16_t>(mailbox::window_size)});
    if (!placed) return placed.error();
    return std::size_t{*placed};
  }

  // Creates VF `vf`'s session, initialises its window through `initialize_register`, and records how to
  // service it: read the window, let the session decide, perform its writes in order, then `publish`.
  template <class Initialize, class ReadWindow, class WriteRegister, class Publish>
  mailbox_attachment& attach(vf_index vf, std::size_t window, Initialize initialize_register, ReadWindow read_window,
                             WriteRegister write_register, Publish publish) {
    auto session = std::make_unique<session_type>(*store_, vf);
    for (const engine::register_write& w : session->initialize()) initialize_register(window + w.offset, w.bytes);
    mailbox_attachment attachment;
    attachment.vf = vf;
    session_type* raw = session.get();
    attachment.session = std::move(session);
    attachment.service = [raw, window, read_window, write_register, publish] {
      std::array<std::byte, mailbox::window_size> bytes{};
      if (!read_window(window, bytes)) return;
      const auto& writes = raw->service(bytes);
      for (const engine::register_write& w : writes) write_register(window + w.offset, w.bytes);
      if (!writes.empty()) publish();
    };
    mailbox_attachments_.push_back(std::move(attachment));
    return mailbox_attachments_.back();
  }

  // The streams whose VF matches, held: stopping one removes it from stream_attachments_.
  template <class Match>
  std::vector<std::shared_ptr<detail::pf_stream_link>> streams_of(Match match) const {
    std::vector<std::shared_ptr<detail::pf_stream_link>> out;
    for (const auto& stream : stream_attachments_)
      if (match(stream->vf())) out.push_back(stream);
    return out;
  }

  // Takes VF `vf`'s pending invalidations from the store and hands them to every stream of it. With no
  // stream they stay in the store for the next one.
  void push_invalidations(vf_index vf) {
    const auto streams = streams_of([vf](vf_index v) { return v == vf; });
    if (streams.empty()) return;
    const block_mask mask = store_->take_invalidations(vf);
    if (mask.empty()) return;
    for (const auto& stream : streams) stream->invalidate(mask);
  }

  // A stream ended: only it is forgotten. What it had not delivered went back to the store; the VF's
  // other streams get it.
  void forget_stream(const detail::pf_stream_link& link) {
    const vf_index vf = link.vf();
    std::erase_if(stream_attachments_, [&link](const auto& s) { return s.get() == &link; });
    push_invalidations(vf);
  }

  // The per-operation cancellation handler of async_serve. Stopping is posted: completing from inside
  // the slot's handler would clear the slot while the handler runs.
  struct cancel_serving {
    cancel_serving(std::weak_ptr<detail::pf_stream_link> l, boost::asio::any_io_executor e)
        : link(std::move(l)), executor(std::move(e)) {}
    std::weak_ptr<detail::pf_stream_link> link;
    boost::asio::any_io_executor executor;
    void operator()(boost::asio::cancellation_type_t) const {
      boost::asio::post(executor, [link = link] {
        if (auto stream = link.lock()) stream->stop(make_error_code(errc::cancelled));
      });
    }
  };

  static boost::system::error_code code(errc e) {
    return e == no_error ? boost::system::error_code{} : boost::system::error_code(make_error_code(e));
  }


  std::unique_ptr<store_type> store_;
  std::vector<mailbox_attachment> mailbox_attachments_;
  std::vector<std::shared_ptr<detail::pf_stream_link>> stream_attachments_;
};

}  // namespace vpci
