// vpci::pf_endpoint: the PF driver's side of the block channel. It owns the block store (per VF, per
// block: stored contents and/or IHV handlers), places and serves each VF's config-space mailbox over any
// config_space_transport, serves the Hyper-V binding over streams, raises invalidations, and gives the PF
// its own view of a VF's config space (NdisMGet/SetVirtualFunctionBusData). A thin shell over
// engine::pf_blocks, engine::pf_mailbox_session (through asio/pf_mailbox_server.hpp) and the stream server.
//
// Errors, one idiom across the class: a command that can fail returns boost::system::error_code (empty on
// success, [[nodiscard]]); a query that can fail returns boost::system::result<T>; read_vf_config and
// write_vf_config return the bytes transferred (0 on failure) as NDIS does, with an error_code& overload
// as every transport has; async operations complete with void(boost::system::error_code). Errors of a
// transport pass through unchanged. (Accessors that cannot fail return plain values: blocks(),
// mailbox_session() (nullptr when none), invalidate_all().)
//
// Block handlers are owned: define() takes a std::shared_ptr<engine::block_handler>, kept until the block
// is redefined or its VF removed (or the endpoint destroyed), and never released while it runs. A handler
// may call back into the endpoint from on_read/on_write (invalidate, store, load, define, remove_vf...):
// an invalidation raised there is published right after the answer that is being served. It must not
// destroy the endpoint.
//
// Thread safety: one PF endpoint is used from one thread (or strand) at a time; async_serve's loops run
// where their transport's completions do, dispatched through the handler's executor (a strand there
// serializes them with the endpoint's other uses; use_future's runs them inline), which must be that
// thread; on a transport with write hooks the window is served on the thread that performs the VF's write.
#pragma once

#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <utility>
#include <vector>

#include <boost/asio/append.hpp>
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/cancellation_type.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/system_executor.hpp>
#include <boost/system/result.hpp>

#include <vpci/asio/pf_mailbox_server.hpp>
#include <vpci/asio/pf_stream_server.hpp>
#include <vpci/asio/timing.hpp>
#include <vpci/block/endian.hpp>
#include <vpci/config/find_mailbox.hpp>
#include <vpci/config/placement.hpp>
#include <vpci/engine/pf_blocks.hpp>
#include <vpci/engine/pf_mailbox.hpp>
#include <vpci/error.hpp>
#include <vpci/transport/concept.hpp>
#include <vpci/transport/default_token.hpp>
#include <vpci/transport/device_side.hpp>
#include <vpci/wire/mailbox.hpp>

namespace vpci {

using engine::block_access;
using engine::quarantine_reason;
using engine::vf_index;

// Adapts two callables to engine::block_handler, for IHVs that compute blocks instead of storing them
// (pf.define<B>(vf, initial, access, std::make_shared<vpci::function_block_handler>(on_read, on_write))):
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

namespace detail {
template <class T>
inline constexpr bool is_pf_stream_options = false;
template <class Timing>
inline constexpr bool is_pf_stream_options<pf_stream_options<Timing>> = true;
}  // namespace detail

template <std::size_t MaxVfs = 256, class Timing = steady_timing>
class pf_endpoint {
 public:
  using store_type = engine::pf_blocks<MaxVfs>;
  using session_type = engine::pf_mailbox_session<MaxVfs>;
  using timing_type = Timing;

  explicit pf_endpoint(engine::pf_limits limits = {}, Timing timing = {})
      : store_(std::make_unique<store_type>(limits)), timing_(std::move(timing)) {}
  pf_endpoint(const pf_endpoint&) = delete;
  pf_endpoint& operator=(const pf_endpoint&) = delete;
  // Mailbox attachments: write hooks are removed; serving operations complete with vpci::errc::vf_removed
  // once the transport operation they have in flight finished (run the io_context to deliver them; the
  // transports must stay alive until then). Nothing keeps running on the endpoint's memory.
  ~pf_endpoint() {
    for (auto& attachment : mailbox_attachments_) attachment->detach(make_error_code(errc::vf_removed));
    // Every stream ends now (vf_removed, closed); their I/O still queued finds them finished and does
    // nothing, so nothing runs on this endpoint's memory afterwards.
    for_each_stream_of([](vf_index) { return true; },
                       [](detail::pf_stream_link& stream) { stream.stop(make_error_code(errc::vf_removed)); });
  }

  // The block store: define blocks, store values, read counters. A handler given to the store directly
  // is not owned (the engine's contract: the caller keeps it alive); define() here owns it.
  [[nodiscard]] store_type& blocks() noexcept { return *store_; }
  [[nodiscard]] const store_type& blocks() const noexcept { return *store_; }

  // Registers VF `vf` (index 0..MaxVfs-1) with its routing ID.
  // Errors: invalid_argument (out of range or already registered).
  [[nodiscard]] boost::system::error_code register_vf(vf_index vf, std::uint16_t routing_id) {
    return code(store_->register_vf(vf, routing_id));
  }

  // Defines a typed block of `vf` from its descriptor, with an optional handler that computes it. The
  // endpoint keeps the handler until the block is redefined or the VF removed.
  // Errors: not_found (VF not registered); nothing changed then.
  template <class Block>
  [[nodiscard]] boost::system::error_code define(vf_index vf, const typename Block::value_type& initial,
                                                 block_access access = block_access::read_write,
                                                 std::shared_ptr<engine::block_handler> handler = nullptr) {
    const auto bytes = Block::to_buffer(initial);
    return define_block(vf, Block::id, bytes.span(), access, std::move(handler));
  }
  // Any 32-bit block ID. Errors: not_found (VF not registered), invalid_length (0 or above 128 bytes),
  // insufficient_resources (the store's capacity is used up); nothing changed then.
  [[nodiscard]] boost::system::error_code define_block(vf_index vf, block_id id, std::span<const std::byte> initial,
                                                       block_access access = block_access::read_write,
                                                       std::shared_ptr<engine::block_handler> handler = nullptr) {
    auto owned = handler ? std::make_shared<owned_handler>(std::move(handler), keeper_) : nullptr;
    // What allocates comes before the store names the handler: the map's entry that keeps it and the
    // keeper's room for the handler it replaces. Out of memory there, the call throws with nothing
    // changed; the store never points at a handler already freed (it did when the entry's allocation
    // failed after the store took the pointer: the next read of the block called freed memory).
    const std::pair<vf_index, std::uint32_t> key{vf, id.value()};
    auto entry = handlers_.find(key);
    const bool made = owned && entry == handlers_.end();
    if (made) entry = handlers_.emplace(key, nullptr).first;
    try {
      keeper_.make_room();
    } catch (...) {
      if (made) handlers_.erase(entry);
      throw;
    }
    const auto ec = code(store_->define_block(vf, id, initial, access, owned.get()));
    if (ec) {
      if (made) handlers_.erase(entry);
      return ec;
    }
    if (entry != handlers_.end()) {
      keeper_.retire(std::exchange(entry->second, std::move(owned)));
      if (!entry->second) handlers_.erase(entry);
    }
    return ec;
  }
  // Updates a stored block; with `invalidate_block` (the default for blocks 0..63, the ones that can be
  // invalidated) the VF is told to re-read it.
  // Errors: not_found (no such block), invalid_length (not the block's size), invalid_block_id
  // (`invalidate_block` for a block of ID 64 or above); nothing changed then; those of invalidate().
  template <class Block>
  [[nodiscard]] boost::system::error_code store(vf_index vf, const typename Block::value_type& value,
                                                bool invalidate_block = Block::invalidatable) {
    if (invalidate_block && !Block::invalidatable) return code(errc::invalid_block_id);
    if (auto ec = code(store_->template store<Block>(vf, value)); ec) return ec;
    if (!invalidate_block) return {};
    if constexpr (Block::invalidatable) return invalidate(vf, Block::mask());
    else return {};
  }
  // Errors: not_found (no such block), block_size_mismatch (the block defined has another size than the
  // descriptor), bad_data (the stored bytes do not decode).
  template <class Block>
  [[nodiscard]] boost::system::result<typename Block::value_type> load(vf_index vf) const {
    auto loaded = store_->template load<Block>(vf);
    if (!loaded) return make_error_code(loaded.error());
    return std::move(*loaded);
  }

  // ORs `mask` into the VF's invalidations and publishes them (coalesced until the VF takes them): at once
  // on a transport whose accesses never block (also from inside a block handler: right after the answer
  // being served), by the serving loop otherwise, and on the VF's streams.
  // Errors: not_found (VF not registered; nothing changed); a transport error while publishing (the
  // invalidation stays pending and is published by the next service).
  [[nodiscard]] boost::system::error_code invalidate(vf_index vf, block_mask mask) {
    return publish_raised(vf, store_->invalidate(vf, mask));
  }
  // One block by ID, published the same way. Errors: invalid_block_id (64 or above: the mask has no bit
  // for it) and those above; nothing changed then.
  [[nodiscard]] boost::system::error_code invalidate(vf_index vf, block_id id) {
    return publish_raised(vf, store_->invalidate(vf, id));
  }
  // One block by descriptor: a block that cannot be invalidated (Id 64 or above) does not compile.
  template <class Block>
  [[nodiscard]] boost::system::error_code invalidate(vf_index vf) {
    return invalidate(vf, Block::mask());
  }
  // SRIOV_INVALIDATE_BLOCK_ALL_VFS. Publishing errors are left to each VF's next service.
  void invalidate_all(block_mask mask) {
    store_->invalidate_all(mask);
    // A handler run by one publish may attach or detach: publish to the attachments there were.
    const auto attachments = mailbox_attachments_;
    for (auto& attachment : attachments) (void)attachment->publish_invalidations();
    std::vector<vf_index> served;
    for (const auto& stream : stream_attachments_) served.push_back(stream->vf());
    std::sort(served.begin(), served.end());
    served.erase(std::unique(served.begin(), served.end()), served.end());
    for (vf_index vf : served) push_invalidations(vf);
  }

  // A PF-initiated VF reset (FLR): lifts quarantine; blocks, pending invalidations and the in-flight count
  // of answers its streams still hold survive (engine::pf_blocks::reset_vf). An attached
  // mailbox window is re-initialised with a new epoch (its invalidation latch kept and re-published; a VF
  // sees the new epoch and resynchronises): at once on a transport whose accesses never block, else by the
  // serving loop's next pass (or the next service()).
  // Errors: not_found (VF not registered); a transport error while re-initialising (the re-initialisation
  // stays pending: the next pass makes it).
  [[nodiscard]] boost::system::error_code reset_vf(vf_index vf) {
    if (auto ec = code(store_->reset_vf(vf)); ec) return ec;
    if (auto attachment = find_mailbox(vf)) return attachment->reinitialize();
    return {};
  }

  // Places VF `vf`'s mailbox window as a DVSEC (options.dvsec_vendor_id, default the function's own vendor
  // ID; options.dvsec_id, default 0x5650) in unused extended config space of `transport` (the VF's config
  // space as the device sees it: a memory_config_space, a shared-memory view in the device role, any
  // config_space_transport whose writes reach every bit), initialises it, links it into the extended
  // capability list last, and makes the PF-owned registers read-only to the VF where the transport can
  // (transport/traits.hpp; elsewhere the session undoes a VF's write there, docs/protocol.md). A space that
  // already holds a layout-2 window with these DVSEC names (a PF process that restarted on a shared-memory
  // space, a re-attach after detach_mailbox) is attached in place: re-initialised with the next epoch, so
  // the VF resynchronises instead of being quarantined. On a transport with write hooks (and
  // options.service_on_write) the window is served inside each VF write from now on (but a write that only
  // composes a request: engine::pf_mailbox_session::effect_of_write); otherwise async_serve() or service()
  // serve it. `transport` must outlive the attachment (detach_mailbox, remove_vf or this
  // endpoint's destruction, and any async_serve's completion). Returns the window's offset.
  // Errors: not_found (VF not registered), in_use (`transport` is attached for another VF: a config space
  // is one VF's), invalid_argument (VF already attached, polling.fast not above
  // zero or above polling.slow, a heartbeat below 0 or above 65535 ms, a DVSEC vendor ID of 0xFFFF: named,
  // or defaulted from a header whose vendor ID reads 0xFFFF, as a VF's does, where the PF's vendor ID must
  // be named in options.dvsec_vendor_id), insufficient_resources (no room),
  // revision_mismatch / not_supported (the space holds a DVSEC with these names that is not a layout-2
  // window: config::find_mailbox), the extended list's error when it is malformed, the transport's errors
  // (e.g. access_denied from a shared-memory view in the driver role); nothing is attached then, and nothing
  // linked.
  template <config_space_transport Transport>
  [[nodiscard]] boost::system::result<std::size_t> attach_mailbox(vf_index vf, Transport& transport,
                                                                  mailbox_options options = {}) {
    if (options.polling.fast <= std::chrono::nanoseconds::zero() || options.polling.slow < options.polling.fast ||
        options.heartbeat.count() < 0 || options.heartbeat.count() > 0xFFFF)
      return make_error_code(errc::invalid_argument);
    if (!store_->registered(vf)) return make_error_code(errc::not_found);
    if (find_mailbox(vf)) return make_error_code(errc::invalid_argument);
    // A config space is one VF's: another VF attached to it would adopt that VF's window and serve that
    // VF's driver its own blocks (nothing a VF sends names a VF: the window it writes does).
    for (const auto& attachment : mailbox_attachments_)
      if (attachment->uses(&transport)) return make_error_code(errc::in_use);
    std::vector<std::byte> original(transport.size());
    boost::system::error_code ec;
    device_side_read(transport, 0, original, ec);
    if (ec) return ec;
    const std::uint16_t vendor =
        options.dvsec_vendor_id.value_or(original.size() >= 2 ? le::load_u16(original.data()) : std::uint16_t{0});
    if (vendor == config::vf_vendor_id) return make_error_code(errc::invalid_argument);  // a VF's header: no vendor
    std::vector<std::byte> placed = original;
    std::size_t window = 0;
    if (auto existing = config::find_mailbox(original, vendor, options.dvsec_id)) {
      window = *existing;
      if (window + mailbox::window_size > original.size()) return make_error_code(errc::out_of_range);
    } else if (existing.error() != errc::not_found) {
      return make_error_code(existing.error());
    } else {
      auto at = config::place_dvsec(placed, {vendor, options.dvsec_id, mailbox::dvsec_revision,
                                             static_cast<std::uint16_t>(mailbox::window_size)});
      if (!at) return make_error_code(at.error());
      window = *at;
    }
    // Room for the attachment before the window opens: once open, its hook serves the window, and an
    // attachment that could not be recorded then served a VF that detach_mailbox and remove_vf cannot see.
    mailbox_attachments_.reserve(mailbox_attachments_.size() + 1);
    auto server = std::make_shared<detail::pf_mailbox_server<MaxVfs, Transport, Timing>>(*store_, vf, window, transport,
                                                                                         timing_, options);
    if (auto opened = server->open(original, placed); opened) return opened;
    mailbox_attachments_.push_back(std::move(server));  // no allocation: the room is made
    return window;
  }

  // Serves VF `vf`'s mailbox window until the attachment ends: on the transport's peer signal (a
  // doorbell) where it has one, else by polling it (mailbox_options::polling, on the Timing policy's
  // timers); on a transport with write hooks the hooks serve it. Whatever the transport, the window's
  // heartbeat (mailbox_options::heartbeat) advances on the Timing policy's timers while this operation runs
  // (where write hooks serve the window, it is announced when this operation starts and withdrawn when it
  // ends: nothing else beats there), and the VF is signalled after the PF's updates when it asked
  // (control.SIGNAL) and the transport has a signal. Serve any number of VFs from one thread: one
  // operation each, on one io_context.
  // Completion signature: void(boost::system::error_code). Success: the attachment was detached
  // (detach_mailbox). Errors: vpci::errc::vf_removed (remove_vf, or this endpoint destroyed),
  // vpci::errc::cancelled (per-operation cancellation), vpci::errc::not_found (no mailbox attachment for
  // `vf`), vpci::errc::invalid_argument (already being served), a transport error, unchanged (a failed
  // access or signal wait: serving ends; call async_serve again to resume).
  // Cancellation: terminal and partial; serving stops after the pass in progress (the window is never
  // left in the middle of an update) and the attachment stays.
  // Never completes inline; completes on the handler's associated executor (default: the transport's;
  // for not_found, which has no transport, the system executor), and only once the loop's last transport
  // operation has finished. The loop's steps come from the transport's executor (its first pass is posted
  // there) and are dispatched through the handler's executor, as a composed operation's intermediate
  // steps are: a strand serializes them, and use_future's executor runs them on the transport's thread
  // (posted to it directly, the first pass ran on a thread of the system executor). Thread safety: as the
  // endpoint.
  // Memory: serving's state is allocated once, when it starts; the completion's post takes the handler's
  // associated allocator (an executor given as such keeps it; Asio 1.81's any_io_executor allocates its
  // own memory for whatever it runs).
  // Without a token: vpci::default_completion_token_t<boost::asio::any_io_executor> (deferred).
  template <class CompletionToken = vpci::default_completion_token_t<boost::asio::any_io_executor>>
  auto async_serve(vf_index vf, CompletionToken&& token = CompletionToken{}) {
    return boost::asio::async_initiate<CompletionToken, void(boost::system::error_code)>(
        [this, vf](auto handler) {
          using handler_type = decltype(handler);
          auto attachment = find_mailbox(vf);
          if (!attachment || attachment->serving()) {
            const auto executor = boost::asio::get_associated_executor(
                handler, attachment ? attachment->io_executor()
                                    : boost::asio::any_io_executor(boost::asio::system_executor()));
            const boost::system::error_code ec = make_error_code(attachment ? errc::invalid_argument : errc::not_found);
            boost::asio::post(executor, boost::asio::append(std::move(handler), ec));
            return;
          }
          // Armed before serving starts: the first pass (or the completion) is posted to the handler's
          // executor, which may run on another thread.
          auto slot = boost::asio::get_associated_cancellation_slot(handler);
          const std::uint64_t id = ++serving_ids_;
          if (slot.is_connected()) slot.template emplace<cancel_serving>(attachment, id);
          attachment->start_serving(
              std::make_unique<detail::serve_completion_for<handler_type, boost::asio::any_io_executor>>(
                  std::move(handler), attachment->io_executor()),
              id);
        },
        token);
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
  // - vpci::errc::protocol_violation: garbage, a broken frame, a packet a VF may not send, a block request
  //   that does not decode (the VF is quarantined; a message of a type this PF does not serve is answered
  //   STATUS_BAD_DATA instead, and serving goes on: docs/hyperv-binding.md);
  // - vpci::errc::quarantined: overflow, the stream took none of the VF's answers for the stall timeout
  //   (options.stall_timeout) while the VF kept them waiting;
  // - vpci::errc::vf_removed: remove_vf(vf), or this endpoint destroyed;
  // - vpci::errc::not_found: VF not registered; vpci::errc::invalid_argument: `slot` does not encode, or
  //   options.stall_timeout is not above zero;
  // - vpci::errc::cancelled: the operation was cancelled;
  // - the stream's own errors, unchanged.
  // Whenever serving ends, the PF closes the stream (shutdown and close, where Stream has them), so the
  // VF sees the end. Cancellation: terminal, partial and total through the handler's cancellation slot;
  // all end serving with vpci::errc::cancelled (emit on the endpoint's thread).
  // Thread safety: the endpoint's (one thread or strand), which must be the stream's executor. The stream
  // and its executor's context must outlive the operation (destroying the endpoint ends it).
  // A pipe (a posix::stream_descriptor on a FIFO): a VF that closes its reading end makes the PF's next
  // answer raise SIGPIPE, whose default action ends the process with every VF it serves; ignore SIGPIPE
  // in a program that serves pipes (Asio's sockets send with MSG_NOSIGNAL and need nothing).
  // Memory: as the mailbox form's (state allocated once at the start, the completion's post with the
  // handler's allocator).
  // Without a token: vpci::default_completion_token_t<typename Stream::executor_type>.
  template <class Stream, class CompletionToken = vpci::default_completion_token_t<typename Stream::executor_type>>
    requires(!detail::is_pf_stream_options<std::remove_cvref_t<CompletionToken>>)  // that is the form below
  auto async_serve(vf_index vf, hyperv::wslot slot, Stream& stream, CompletionToken&& token = CompletionToken{}) {
    return async_serve(vf, slot, stream, pf_stream_options<Timing>{pf_stream_options<Timing>{}.stall_timeout, timing_},
                       std::forward<CompletionToken>(token));
  }
  // As above, with a stall timeout and timing policy (vpci::manual_timing in tests).
  template <class Stream, class StreamTiming,
            class CompletionToken = vpci::default_completion_token_t<typename Stream::executor_type>>
  auto async_serve(vf_index vf, hyperv::wslot slot, Stream& stream, const pf_stream_options<StreamTiming>& options,
                   CompletionToken&& token = CompletionToken{}) {
    return boost::asio::async_initiate<CompletionToken, void(boost::system::error_code)>(
        [this, vf, slot, &stream, options](auto handler) {
          // A stall timeout of zero would judge a VF at once: quarantined whenever its stream is full for
          // a moment, however soon it reads.
          const bool bad_options = !hyperv::encode_wslot(slot).has_value() ||
                                   options.stall_timeout <= std::chrono::nanoseconds::zero() ||
                                   !options.negotiation.valid();
          const errc refused = !store_->registered(vf) ? errc::not_found
                               : bad_options           ? errc::invalid_argument
                                                       : no_error;
          if (refused != no_error) {
            boost::asio::post(stream.get_executor(), boost::asio::append(std::move(handler), code(refused)));
            return;
          }
          auto cancellation = boost::asio::get_associated_cancellation_slot(handler);
          // As the mailbox form's: the work on the handler's executor is kept while serving runs.
          using completion_type = detail::serve_completion_for<decltype(handler), typename Stream::executor_type>;
          // The slot is cleared here, on the endpoint's thread, where the contract has cancellation emitted.
          auto done = [this, cancellation, completion = std::make_unique<completion_type>(std::move(handler), stream.get_executor())](
                          detail::pf_stream_link& link, boost::system::error_code ec) mutable {
            if (cancellation.is_connected()) cancellation.clear();
            forget_stream(link);
            completion->complete(ec);
          };
          auto server = std::make_shared<detail::pf_stream_server<MaxVfs, Stream, StreamTiming, decltype(done)>>(
              *store_, vf, slot, stream, options, std::move(done));
          if (cancellation.is_connected())
            cancellation.template emplace<cancel_stream_serving>(std::weak_ptr<detail::pf_stream_link>(server),
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

  // The mailbox session of an attached VF (for counters and tests), or nullptr when none is attached.
  [[nodiscard]] const session_type* mailbox_session(vf_index vf) const noexcept {
    for (const auto& attachment : mailbox_attachments_)
      if (attachment->vf() == vf) return &attachment->session();
    return nullptr;
  }

  // The synchronous entry, for callers without an event loop: services VF `vf`'s window now (one pass, on
  // the caller's thread, blocking on a blocking transport; during a pass in progress, a second pass right
  // after it) and hands pending invalidations to every stream of the VF (coalesced there until the stream
  // takes them). Safe from inside a block handler.
  // Errors: not_found (neither a mailbox nor a stream for `vf`), the transport's.
  [[nodiscard]] boost::system::error_code service(vf_index vf) {
    boost::system::error_code ec;
    bool found = false;
    if (auto attachment = find_mailbox(vf)) {
      found = true;
      ec = attachment->service();
    }
    if (streams(vf) != 0) {
      found = true;
      push_invalidations(vf);
    }
    return found ? ec : code(errc::not_found);
  }

  // NdisMGetVirtualFunctionBusData: reads `buffer.size()` bytes of VF `vf`'s config space at `offset`,
  // as the device sees it, through the transport its mailbox is attached on. Returns the bytes read, 0 on
  // failure (as NDIS does). Errors: not_found (no mailbox attachment for `vf`), out_of_range (outside the
  // space), invalid_argument (empty buffer), access_denied (overlaps the mailbox's protocol registers: the
  // window after its 12 bytes of DVSEC headers), the transport's; `buffer` is left unchanged then.
  std::size_t read_vf_config(vf_index vf, std::size_t offset, std::span<std::byte> buffer,
                             boost::system::error_code& ec) {
    auto attachment = find_mailbox(vf);
    if (!attachment) {
      ec = errc::not_found;
      return 0;
    }
    return attachment->read_config(offset, buffer, ec);
  }
  std::size_t read_vf_config(vf_index vf, std::size_t offset, std::span<std::byte> buffer) {
    boost::system::error_code ignored;
    return read_vf_config(vf, offset, buffer, ignored);
  }

  // NdisMSetVirtualFunctionBusData: writes `data` into VF `vf`'s config space at `offset` as the device
  // (read-only bits included; a VF waiting on the transport's signal is woken once). Returns the bytes
  // written, 0 on failure. Errors as read_vf_config; a refused write changes nothing.
  std::size_t write_vf_config(vf_index vf, std::size_t offset, std::span<const std::byte> data,
                              boost::system::error_code& ec) {
    auto attachment = find_mailbox(vf);
    if (!attachment) {
      ec = errc::not_found;
      return 0;
    }
    return attachment->write_config(offset, data, ec);
  }
  std::size_t write_vf_config(vf_index vf, std::size_t offset, std::span<const std::byte> data) {
    boost::system::error_code ignored;
    return write_vf_config(vf, offset, data, ignored);
  }

  // Stops serving VF `vf`'s mailbox window: its write hook is removed, its async_serve completes with
  // success, nothing more is written to the window (called from a block handler, the request it serves
  // goes unanswered); the DVSEC stays in place (a later attach_mailbox re-attaches to it with a new epoch). The
  // window's invalidation latch stays with the store, raised-again bits included, and a re-attach
  // publishes it rather than what the window's mask registers show (docs/protocol.md 5.3). Invalidations
  // raised afterwards wait in the store for the VF's next binding.
  // Errors: not_found (no mailbox attachment for `vf`).
  [[nodiscard]] boost::system::error_code detach_mailbox(vf_index vf) {
    return end_mailbox(vf, {}) ? boost::system::error_code{} : code(errc::not_found);
  }

  // VF removal: stops serving every stream of it (closed) and its mailbox (their operations complete with
  // vpci::errc::vf_removed) and forgets the VF, its blocks and their handlers. The window's bytes stay as
  // they were (on hardware the VF's config space goes with it; called from a block handler, the request it
  // serves goes unanswered on either binding); a VF registered again at this index and
  // attached to the same space starts from a zeroed window and inherits nothing of it (docs/protocol.md
  // 5.3).
  // Errors: not_found (VF not registered).
  [[nodiscard]] boost::system::error_code remove_vf(vf_index vf) {
    std::size_t handlers = 0;
    for (auto it = handlers_.lower_bound({vf, 0}); it != handlers_.end() && it->first.first == vf; ++it) ++handlers;
    keeper_.make_room(handlers);  // before anything changes: retire() below never allocates
    for_each_stream_of([vf](vf_index v) { return v == vf; }, [](detail::pf_stream_link& stream) {
      stream.stop(make_error_code(errc::vf_removed));  // closed; its async_serve completes with vf_removed
    });
    (void)end_mailbox(vf, make_error_code(errc::vf_removed));
    const auto ec = code(store_->unregister_vf(vf));
    if (!ec) {
      for (auto it = handlers_.lower_bound({vf, 0}); it != handlers_.end() && it->first.first == vf;) {
        keeper_.retire(std::move(it->second));
        it = handlers_.erase(it);
      }
    }
    return ec;
  }

 private:
  using mailbox_attachment = detail::pf_mailbox_attachment<MaxVfs>;

  // Per-operation cancellation of a mailbox async_serve: serving stops, the attachment stays.
  struct cancel_serving {
    // A constructor, not aggregate initialization: the slot constructs it with parentheses, which clang 14
    // does not accept for aggregates.
    // The slot stays armed until the completion runs: an emit in between must not stop a serving started
    // since (`serving`, the ID start_serving gave this one).
    cancel_serving(const std::shared_ptr<mailbox_attachment>& a, std::uint64_t id) noexcept : attachment(a), serving(id) {}
    std::weak_ptr<mailbox_attachment> attachment;
    std::uint64_t serving;
    void operator()(boost::asio::cancellation_type type) const {
      using boost::asio::cancellation_type;
      if ((type & (cancellation_type::terminal | cancellation_type::partial)) == cancellation_type::none) return;
      if (auto a = attachment.lock(); a && a->serving_id() == serving) a->stop_serving(make_error_code(errc::cancelled));
    }
  };

  // A shared reference: a handler run by the attachment may detach it (or others) meanwhile.
  [[nodiscard]] std::shared_ptr<mailbox_attachment> find_mailbox(vf_index vf) const {
    for (const auto& attachment : mailbox_attachments_)
      if (attachment->vf() == vf) return attachment;
    return nullptr;
  }

  bool end_mailbox(vf_index vf, boost::system::error_code reason) {
    auto attachment = find_mailbox(vf);
    if (!attachment) return false;
    std::erase(mailbox_attachments_, attachment);
    attachment->detach(reason);
    return true;
  }

  // Handlers let go of (redefined block, removed VF) while a handler may be running (one that redefines
  // or removes its own block): released when the outermost handler call returns.
  class handler_keeper {
   public:
    void enter() noexcept { ++depth_; }
    void leave() noexcept {
      if (--depth_ == 0) retired_.clear();
    }
    // Room for `count` more handlers let go of, made before they are: retire() then never allocates (a
    // handler freed while it runs is what the keeper is for).
    void make_room(std::size_t count = 1) {
      if (depth_ != 0) retired_.reserve(retired_.size() + count);
    }
    void retire(std::shared_ptr<engine::block_handler> handler) noexcept {
      if (handler && depth_ != 0) retired_.push_back(std::move(handler));  // room made by make_room()
    }

   private:
    std::size_t depth_{0};
    std::vector<std::shared_ptr<engine::block_handler>> retired_;
  };
  // A handler call, left however it ends (the store catches what a handler throws, after this).
  class inside_handler {
   public:
    explicit inside_handler(handler_keeper& keeper) noexcept : keeper_(keeper) { keeper_.enter(); }
    inside_handler(const inside_handler&) = delete;
    inside_handler& operator=(const inside_handler&) = delete;
    ~inside_handler() { keeper_.leave(); }

   private:
    handler_keeper& keeper_;
  };

  // What the store calls: the user's handler, owned, kept alive (with itself) for the length of each call,
  // whichever binding made it.
  class owned_handler final : public engine::block_handler, public std::enable_shared_from_this<owned_handler> {
   public:
    owned_handler(std::shared_ptr<engine::block_handler> handler, handler_keeper& keeper) noexcept
        : handler_(std::move(handler)), keeper_(&keeper) {}
    ntstatus on_read(vf_index vf, block_id id, std::span<std::byte> out, std::size_t& bytes) override {
      const auto self = this->shared_from_this();
      const inside_handler inside(*keeper_);
      return handler_->on_read(vf, id, out, bytes);
    }
    ntstatus on_write(vf_index vf, block_id id, std::span<const std::byte> data) override {
      const auto self = this->shared_from_this();
      const inside_handler inside(*keeper_);
      return handler_->on_write(vf, id, data);
    }

   private:
    std::shared_ptr<engine::block_handler> handler_;
    handler_keeper* keeper_;
  };

  // Calls `f` on each stream whose VF matches, held first (stopping one removes it from
  // stream_attachments_). Up to four are held without the heap: a VF has one stream, and an invalidation
  // is handed to it without an allocation.
  template <class Match, class F>
  void for_each_stream_of(Match match, F f) const {
    std::array<std::shared_ptr<detail::pf_stream_link>, 4> few;
    std::vector<std::shared_ptr<detail::pf_stream_link>> more;
    std::size_t held = 0;
    for (const auto& stream : stream_attachments_) {
      if (!match(stream->vf())) continue;
      if (held < few.size()) few[held++] = stream;
      else more.push_back(stream);
    }
    for (std::size_t i = 0; i < held; ++i) f(*few[i]);
    for (const auto& stream : more) f(*stream);
  }
  [[nodiscard]] bool has_stream_of(vf_index vf) const noexcept {
    return std::any_of(stream_attachments_.begin(), stream_attachments_.end(),
                       [vf](const auto& stream) { return stream->vf() == vf; });
  }

  // After the store raised an invalidation for `vf` (`raised` is its verdict): publishes it in the VF's
  // mailbox window and hands it to its streams.
  boost::system::error_code publish_raised(vf_index vf, errc raised) {
    if (auto ec = code(raised); ec) return ec;
    boost::system::error_code ec;
    if (auto attachment = find_mailbox(vf)) ec = attachment->publish_invalidations();
    push_invalidations(vf);
    return ec;
  }

  // Takes VF `vf`'s pending invalidations from the store and hands them to every stream of it. With no
  // stream they stay in the store for the next one.
  void push_invalidations(vf_index vf) {
    if (!has_stream_of(vf)) return;
    const block_mask mask = store_->take_invalidations(vf);
    if (mask.empty()) return;
    for_each_stream_of([vf](vf_index v) { return v == vf; },
                       [mask](detail::pf_stream_link& stream) { stream.invalidate(mask); });
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
  struct cancel_stream_serving {
    cancel_stream_serving(std::weak_ptr<detail::pf_stream_link> l, boost::asio::any_io_executor e)
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
  Timing timing_;
  handler_keeper keeper_;  // before the handlers: they refer to it
  std::map<std::pair<vf_index, std::uint32_t>, std::shared_ptr<engine::block_handler>> handlers_;
  std::vector<std::shared_ptr<mailbox_attachment>> mailbox_attachments_;
  std::vector<std::shared_ptr<detail::pf_stream_link>> stream_attachments_;
  std::uint64_t serving_ids_{0};  // the last ID a mailbox serving was given (0: none)
};

}  // namespace vpci
