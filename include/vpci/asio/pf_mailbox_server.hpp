// vpci/asio/pf_mailbox_server.hpp (hosted; detail: used through pf_endpoint): one VF's mailbox window
// as the PF serves it over any config_space_transport. It places nothing and decides nothing: the
// placement is pf_endpoint's, every protocol decision engine::pf_mailbox_session's, the polling rhythm
// engine::poll_schedule's. This file only moves the window's bytes and schedules the services.
//
// How a VF's writes are noticed, from what the transport says of itself (transport/traits.hpp):
// - observed: the transport runs a hook inside each driver-side write (an in-process device model); the
//   window is serviced inside the VF's write, before the write returns, as the session's verdict on the
//   write says (engine::pf_mailbox_session::effect_of_config_write: not a write that only composes a
//   request);
// - signalled: the transport has a peer signal (a doorbell); the serving loop sleeps on it;
// - polled: neither; the serving loop polls the window on an engine::poll_schedule, on the Timing
//   policy's timers.
// Accesses go through transport/device_side.hpp, synchronously on transports whose accesses never block
// (or that have a device side of their own), else through async_read/async_write.
//
// One service ("pass"): read the window (the doorbell first: read_window), let the session decide (with the
// Timing policy's time, so a heartbeat that is due rides along), perform its writes in order, and raise the
// VF's signal once when the session says so (the VF set control.SIGNAL; transports with a peer signal:
// transport/traits.hpp). The serving loop also wakes when the session's next heartbeat is due. A pass is
// never nested in another pass of the same window. A pass that nothing asked for (the loop's timer alone:
// a poll, a heartbeat due; not a peer signal, a publish or a re-initialisation) looks first: it reads the
// four registers through which a VF asks for a service (request, control, the acknowledgement pair) and
// reads the window only when the session finds them changed (engine::pf_mailbox_session::wants_service),
// else writes a heartbeat that is due (after reading status: a VF's write over it is left to a service,
// which counts it): an idle window costs a look a poll, not a pass, and a PF polling hundreds of windows
// over a slow transport keeps their heartbeats. A service asked for during a pass or a look (a block
// handler calling pf_endpoint::invalidate from on_write, a second VF write) runs as a second pass right
// after it. A pass once started always completes its writes, so the window is never left in the middle of
// an update by a stop, a detach or the pf_endpoint's destruction.
#pragma once

#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <utility>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/associated_allocator.hpp>
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/bind_allocator.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/cancellation_type.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/system/error_code.hpp>

#include <vpci/asio/timing.hpp>
#include <vpci/block/endian.hpp>
#include <vpci/config/access.hpp>
#include <vpci/engine/pf_blocks.hpp>
#include <vpci/engine/pf_mailbox.hpp>
#include <vpci/engine/poll_schedule.hpp>
#include <vpci/error.hpp>
#include <vpci/transport/concept.hpp>
#include <vpci/transport/device_side.hpp>
#include <vpci/transport/traits.hpp>
#include <vpci/wire/mailbox.hpp>

namespace vpci {

// How the PF polls a VF's window on a transport that neither reports writes nor signals (any other
// transport ignores it): every `fast` while the VF is active, backing off (doubling) while it is idle,
// at least every `slow`. A VF request waits at most `slow` for its answer. A poll is a look of four
// dword reads; the window (47) is read only when they show the VF asked: an idle window costs 4 accesses
// a poll, 400 a second at the 10 ms default, and a heartbeat 2 (status read, then written).
struct mailbox_polling {
  std::chrono::nanoseconds fast{std::chrono::microseconds(20)};
  std::chrono::nanoseconds slow{std::chrono::milliseconds(10)};
};

struct mailbox_options {
  mailbox_polling polling{};
  // On a transport that reports driver-side writes in-process (write hooks), service the window inside
  // each VF write from attach on (but a write that only composes a request, which waits for the
  // doorbell: engine::pf_mailbox_session::effect_of_write). False: the window is served like any other
  // transport's (async_serve polls or waits for the peer signal; service() runs a pass).
  bool service_on_write{true};
  // The window's DVSEC names (docs/protocol.md, Discovery): the DVSEC vendor ID (none: the function's own
  // vendor ID, read from config offset 0x00 when attaching; a space whose header is a VF's reads 0xFFFF
  // there, and must name the PF's vendor ID here) and the DVSEC ID. A VF finds the window with the same two
  // values (config::find_mailbox; on a VF, its default takes any vendor).
  std::optional<std::uint16_t> dvsec_vendor_id{};
  std::uint16_t dvsec_id{mailbox::default_dvsec_id};
  // The heartbeat the window announces (limits bits 31:16): async_serve advances status bits 27:26 at
  // this interval on the Timing policy's timers (service() advances it too when it is due), and a VF that
  // sees no change for 4 intervals while it waits reports the PF gone. Where write hooks serve the window
  // (service_on_write on a transport with them), it is announced only while async_serve runs: nothing
  // beats otherwise. 0 ms: no heartbeat. Whole milliseconds, at most 65535.
  std::chrono::milliseconds heartbeat{100};
};

namespace detail {

using engine::vf_index;

// The user's async_serve handler, type-erased: completes once, posted to the handler's executor (which
// the serving loop's steps are also dispatched through), with the work kept until then. The post carries
// the handler's associated allocator (pf_endpoint::async_serve: an executor that takes it uses it).
class serve_completion {
 public:
  virtual ~serve_completion() = default;
  [[nodiscard]] virtual boost::asio::any_io_executor executor() const = 0;
  virtual void complete(boost::system::error_code ec) = 0;
};

template <class Handler, class IoExecutor>
class serve_completion_for final : public serve_completion {
 public:
  using handler_executor = boost::asio::associated_executor_t<Handler, IoExecutor>;

  serve_completion_for(Handler handler, const IoExecutor& io_executor)
      : handler_(std::move(handler)), work_(boost::asio::get_associated_executor(handler_, io_executor)) {}

  [[nodiscard]] boost::asio::any_io_executor executor() const override { return work_.get_executor(); }

  void complete(boost::system::error_code ec) override {
    const handler_executor target = work_.get_executor();
    const auto allocator = boost::asio::get_associated_allocator(handler_);
    auto call = [handler = std::move(handler_), work = std::move(work_), ec]() mutable {
      // The slot is cleared on the handler's executor before the handler runs (slots are not thread-safe).
      auto slot = boost::asio::get_associated_cancellation_slot(handler);
      if (slot.is_connected()) slot.clear();
      work.reset();
      std::move(handler)(ec);
    };
    boost::asio::post(target, boost::asio::bind_allocator(allocator, std::move(call)));
  }

 private:
  Handler handler_;
  boost::asio::executor_work_guard<handler_executor> work_;
};

// One attached window, as pf_endpoint sees it (the transport's type is erased here).
template <std::size_t MaxVfs>
class pf_mailbox_attachment {
 public:
  using session_type = engine::pf_mailbox_session<MaxVfs>;

  pf_mailbox_attachment(engine::pf_blocks<MaxVfs>& store, vf_index vf, std::size_t window,
                        engine::pf_mailbox_config config)
      : window_(window), session_(store, vf, config) {}
  pf_mailbox_attachment(const pf_mailbox_attachment&) = delete;
  pf_mailbox_attachment& operator=(const pf_mailbox_attachment&) = delete;
  virtual ~pf_mailbox_attachment() = default;

  [[nodiscard]] vf_index vf() const noexcept { return session_.vf(); }
  [[nodiscard]] std::size_t window() const noexcept { return window_; }
  [[nodiscard]] const session_type& session() const noexcept { return session_; }
  // The transport's executor: where serving completes when the handler names none.
  [[nodiscard]] virtual boost::asio::any_io_executor io_executor() const = 0;
  // Whether this attachment serves the window of the transport object at `transport` (one VF's config
  // space: no other VF's attachment may serve it too).
  [[nodiscard]] virtual bool uses(const void* transport) const noexcept = 0;

  // A pass now, on the caller's thread (blocking I/O on a blocking transport); during a pass in progress,
  // a second pass after it. Errors: the transport's.
  virtual boost::system::error_code service() = 0;
  // The store has invalidations for this VF: publish them (at once where the transport never blocks; else
  // by waking the serving loop, or with the next service when nothing serves).
  virtual boost::system::error_code publish_invalidations() = 0;
  // The VF was reset (FLR): re-initialise the window with a new epoch (the session keeps its latch), at
  // once where the transport never blocks, else by the serving loop's next pass (or the next service).
  virtual boost::system::error_code reinitialize() = 0;
  // Starts serving (pf_endpoint::async_serve) as serving `id` (not 0, never given twice; serving_id() while
  // it lasts: a cancellation names the serving it belongs to); the completion reports how serving ended.
  virtual void start_serving(std::unique_ptr<serve_completion> completion, std::uint64_t id) = 0;
  [[nodiscard]] virtual bool serving() const noexcept = 0;
  // The ID start_serving gave the serving in progress; 0 when not serving.
  [[nodiscard]] virtual std::uint64_t serving_id() const noexcept = 0;
  // Ends serving with `reason` (after the pass in progress, if any); no-op when not serving.
  virtual void stop_serving(boost::system::error_code reason) = 0;
  // No more passes and no more hooks: serving ends with `reason`, and the session leaves its latch to the
  // store (engine::pf_mailbox_session::release: a re-attach publishes it). Called while the store lives;
  // it may be gone afterwards. The transport must stay until serving has completed.
  virtual void detach(boost::system::error_code reason) = 0;
  // The PF's own accesses to the VF's config space outside the protocol registers.
  virtual std::size_t read_config(std::size_t offset, std::span<std::byte> out, boost::system::error_code& ec) = 0;
  virtual std::size_t write_config(std::size_t offset, std::span<const std::byte> bytes,
                                   boost::system::error_code& ec) = 0;

 protected:
  // The session's verdict on the window's bytes (block handlers may run inside): a re-initialisation when
  // one is pending, else a service with the time (a heartbeat that is due rides along).
  const typename session_type::write_list& decide(std::span<const std::byte> window, std::uint64_t now) {
    if (std::exchange(reinitialize_, false)) return session_.initialize(window, now, /*function_reset=*/true);
    return session_.service(window, now);
  }

  // The window's offset and flag first: they share a cache line with the object's start and the
  // session's first members.
  std::size_t window_;
  bool reinitialize_{false};  // the next decision re-initialises the window (an FLR)
  session_type session_;
};

template <std::size_t MaxVfs, config_space_transport Transport, class Timing>
class pf_mailbox_server final : public pf_mailbox_attachment<MaxVfs>,
                                public std::enable_shared_from_this<pf_mailbox_server<MaxVfs, Transport, Timing>> {
  using base = pf_mailbox_attachment<MaxVfs>;
  using timer_type = typename Timing::timer_type;

  enum class kind { observed, signalled, polled };
  // Where the serving loop is: nothing scheduled (not serving, or serving passively on write hooks), its
  // first step posted, in a pass, or waiting for the peer's signal or the poll timer.
  enum class loop_state { idle, posted, passing, waiting };

  static constexpr bool sync_io = nonblocking_transport_v<Transport> || device_side_transport<Transport>;

 public:
  // What the session announces over this transport from the attach on: the signal capability where the
  // device side can signal the VF, and the heartbeat of the options, except where write hooks serve the
  // window: there nothing beats until async_serve runs, so the heartbeat is announced only while it does
  // (start_serving). Announced without a beat, a VF watching for invalidations found the PF gone after 4
  // intervals, for good (it rings no more, so no write hook ran again).
  static engine::pf_mailbox_config session_config(const mailbox_options& options) noexcept {
    const bool beats_from_attach = select_kind(options) != kind::observed;
    return engine::pf_mailbox_config{beats_from_attach ? heartbeat_of(options) : std::uint16_t{0},
                                     device_side_signalling_transport<Transport>};
  }
  static std::uint16_t heartbeat_of(const mailbox_options& options) noexcept {
    return static_cast<std::uint16_t>(options.heartbeat.count());
  }

  pf_mailbox_server(engine::pf_blocks<MaxVfs>& store, vf_index vf, std::size_t window, Transport& transport,
                    const Timing& timing, const mailbox_options& options)
      : base(store, vf, window, session_config(options)),
        transport_(transport),
        kind_(select_kind(options)),
        heartbeat_ms_(heartbeat_of(options)),
        timing_(timing),
        timer_(timing.make_timer(boost::asio::any_io_executor(transport.get_executor()))),
        schedule_(to_nanoseconds(options.polling.fast), to_nanoseconds(options.polling.slow)) {}

  // Initialises the placed window and links it in: the registers first (a new epoch, different from the
  // one the window shows: a PF re-attaching to a window it served before), then the driver-side
  // protection, then the DVSEC headers (the capability ID last: at the head of the list, 0x100, that dword
  // is the link), then the link from the capability before it (the dword outside the window that placement
  // changed), so a VF walking the list never finds a half-made window. `placed` equal to `original` (a
  // window that was there already) writes no header and no link. On an error the window's bytes are put
  // back as they were (best effort) and nothing is linked.
  boost::system::error_code open(std::span<const std::byte> original, std::span<const std::byte> placed) {
    const std::size_t window = this->window_;
    boost::system::error_code ec;
    for (const engine::register_write& w :
         this->session_.initialize(original.subspan(window, mailbox::window_size), timing_.now())) {
      device_side_write(transport_, window + w.offset, w.bytes, ec);
      if (ec) break;
    }
    if (!ec) {
      std::array<std::byte, mailbox::window_size> mask{};
      for (const mailbox::register_range& r : mailbox::vf_writable_ranges)
        for (std::size_t i = r.start; i < r.end; ++i) mask[i] = std::byte{0xFF};
      const errc protected_ = protect_driver_writes(transport_, window, mask);
      // Without protection the session's shadow undoes what a VF writes there (engine/pf_mailbox.hpp).
      if (protected_ != no_error && protected_ != errc::not_supported) ec = protected_;
    }
    const auto headers = placed.subspan(window + 4, mailbox::reg::identity - 4);
    const bool new_headers = !std::equal(headers.begin(), headers.end(), original.begin() + static_cast<std::ptrdiff_t>(window + 4));
    if (!ec && new_headers) device_side_write(transport_, window + 4, headers, ec);
    const auto header = placed.subspan(window, 4);
    const bool new_header = !std::equal(header.begin(), header.end(), original.begin() + static_cast<std::ptrdiff_t>(window));
    if (!ec && new_header) device_side_write(transport_, window, header, ec);
    for (std::size_t at = 0; !ec && at + 4 <= placed.size(); at += 4) {
      if (at >= window && at < window + mailbox::window_size) continue;
      const auto word = placed.subspan(at, 4);
      if (!std::equal(word.begin(), word.end(), original.begin() + static_cast<std::ptrdiff_t>(at)))
        device_side_write(transport_, at, word, ec);
    }
    if (ec) {
      take_back_window(original, window);
      return ec;
    }
    device_side_publish(transport_);
    if constexpr (write_observing_transport<Transport>) {
      if (kind_ == kind::observed) {
        // A write that only composes a request (the block register, the data window) waits for the
        // doorbell: the session says what each write calls for. A hook that cannot be added (out of
        // memory) leaves no window behind that nobody would serve.
        try {
          hook_ = transport_.add_write_hook(
              [self = this->shared_from_this(), window](std::size_t offset, std::size_t length) {
                using effect = typename base::session_type::write_effect;
                switch (base::session_type::effect_of_config_write(window, offset, length)) {
                  case effect::service: (void)self->service(); return;
                  case effect::anticipate: self->anticipate(); return;
                  case effect::none: return;
                }
              });
        } catch (...) {
          take_back_window(original, window);
          throw;
        }
      }
    }
    return {};
  }
  // An open that failed: the window's bytes as they were before it, published.
  void take_back_window(std::span<const std::byte> original, std::size_t window) {
    boost::system::error_code ignored;
    device_side_write(transport_, window, original.subspan(window, mailbox::window_size), ignored);
    device_side_publish(transport_);
  }

  [[nodiscard]] bool uses(const void* transport) const noexcept override {
    return transport == static_cast<const void*>(&transport_);
  }
  [[nodiscard]] boost::asio::any_io_executor io_executor() const override {
    return boost::asio::any_io_executor(transport_.get_executor());
  }

  // The VF wrote its block register: the store is told which block the coming request names.
  void anticipate() {
    std::array<std::byte, 4> block{};
    boost::system::error_code ec;
    device_side_read(transport_, this->window_ + mailbox::reg::request_block, block, ec);
    if (!ec) this->session_.anticipate(block_id{le::load_u32(block.data())});
  }

  boost::system::error_code service() override {
    bool wrote = false;
    return pass_now(wrote);
  }

  boost::system::error_code publish_invalidations() override {
    if constexpr (sync_io) {
      return service();
    } else {
      kick();
      return {};
    }
  }

  boost::system::error_code reinitialize() override {
    this->reinitialize_ = true;
    return publish_invalidations();
  }

  [[nodiscard]] bool serving() const noexcept override { return completion_ != nullptr; }
  [[nodiscard]] std::uint64_t serving_id() const noexcept override { return completion_ != nullptr ? serving_id_ : 0; }

  void start_serving(std::unique_ptr<serve_completion> completion, std::uint64_t id) override {
    serving_id_ = id;
    completion_ = std::move(completion);
    executor_ = completion_->executor();
    stopping_ = false;
    stop_reason_ = {};
    if (detached_) {
      stop_serving(errc::vf_removed);
      return;
    }
    // The write hook serves; without a heartbeat to keep, serving only ends. With one, it is announced now
    // (session_config).
    if (kind_ == kind::observed) {
      if (heartbeat_ms_ == 0) return;
      announce_heartbeat(heartbeat_ms_);
    }
    // The first pass is posted to the transport's executor and from there dispatched to the loop's (the
    // handler's), as every later step reaches it from a transport or timer completion: never inside
    // async_serve's initiation, and never on a thread of the loop's executor's own. Posted to the loop's
    // executor directly, a use_future handler's (which runs posted work on the system executor's threads)
    // ran the loop on a thread the transport and the endpoint are not used from.
    state_ = loop_state::posted;
    boost::asio::post(io_executor(), boost::asio::bind_executor(executor_, [self = this->shared_from_this()] {
                        self->state_ = loop_state::idle;
                        self->loop_pass();
                      }));
  }

  void stop_serving(boost::system::error_code reason) override {
    if (!completion_ || stopping_) return;
    stopping_ = true;
    stop_reason_ = reason;
    switch (state_) {
      case loop_state::idle: finish(); return;
      case loop_state::posted:   // the posted step finishes
      case loop_state::passing:  // the pass completes its writes, then finishes
        return;
      case loop_state::waiting: cancel_wait(); return;
    }
  }

  void detach(boost::system::error_code reason) override {
    this->session_.release();
    detached_ = true;
    if constexpr (write_observing_transport<Transport>) {
      if (hook_) (void)transport_.remove_write_hook(*std::exchange(hook_, std::nullopt));
    }
    stop_serving(reason);
  }

  std::size_t read_config(std::size_t offset, std::span<std::byte> out, boost::system::error_code& ec) override {
    if (!config_access_allowed(offset, out.size(), ec)) return 0;
    return device_side_read(transport_, offset, out, ec);
  }
  std::size_t write_config(std::size_t offset, std::span<const std::byte> bytes,
                           boost::system::error_code& ec) override {
    if (!config_access_allowed(offset, bytes.size(), ec)) return 0;
    const std::size_t written = device_side_write(transport_, offset, bytes, ec);
    if (written != 0) device_side_publish(transport_);
    return written;
  }

 private:
  static kind select_kind(const mailbox_options& options) noexcept {
    if constexpr (write_observing_transport<Transport>)
      if (options.service_on_write) return kind::observed;
    if constexpr (peer_signalling_transport<Transport>) return kind::signalled;
    return kind::polled;
  }

  // Announces the heartbeat (0: withdraws it) where write hooks serve the window, written at once in the
  // session's order (engine::pf_mailbox_session::set_heartbeat), as open() writes the window. A failed
  // write leaves the session's shadow ahead of the window: the loop's next pass is a whole one, whose
  // service restores it from there.
  void announce_heartbeat(std::uint16_t heartbeat_ms) {
    boost::system::error_code ec;
    for (const engine::register_write& w : this->session_.set_heartbeat(heartbeat_ms, timing_.now())) {
      device_side_write(transport_, this->window_ + w.offset, w.bytes, ec);
      if (ec) {
        behind_ = true;  // the loop's next pass is a whole one (a look restores nothing)
        return;
      }
    }
  }

  // Outside the space: out_of_range; zero length: invalid_argument (as every transport); overlapping the
  // protocol registers (the window after its 12 bytes of DVSEC headers, which the binding owns):
  // access_denied.
  bool config_access_allowed(std::size_t offset, std::size_t length, boost::system::error_code& ec) const {
    if (const errc e = config::check_access(transport_.size(), offset, length); e != no_error) {
      ec = e;
      return false;
    }
    const std::size_t protocol_begin = this->window_ + mailbox::reg::identity;
    const std::size_t protocol_end = this->window_ + mailbox::window_size;
    if (offset < protocol_end && offset + length > protocol_begin) {
      ec = errc::access_denied;
      return false;
    }
    ec = {};
    return true;
  }

  // A synchronous pass (repeated while one was asked for during it). `wrote`: the window changed.
  boost::system::error_code pass_now(bool& wrote) {
    if (servicing_) {
      again_ = true;
      return {};
    }
    servicing_ = true;
    boost::system::error_code ec = finish_update_now(wrote);  // an update a failed write interrupted
    // The copy lives on the stack, which is in cache whichever VF's window this is (buffer_ is one more
    // per-VF object to miss on when a PF serves hundreds); the session keeps nothing of it.
    std::array<std::byte, mailbox::window_size> window;
    for (bool read = true; !ec && read && !detached_;) {
      again_ = false;
      read_window(window, ec);
      if (ec) break;
      decided(this->decide(window, timing_.now()));
      ec = finish_update_now(wrote);
      read = again_;
    }
    again_ = false;
    servicing_ = false;
    return ec;
  }
  // A pass nothing asked for (the serving loop's timer), synchronously: the look (after_look says what it
  // calls for), then a whole pass when the session wants one, else the heartbeat if it is due.
  boost::system::error_code look_now(bool& wrote) {
    if (servicing_ || writes_ != nullptr || this->reinitialize_) return pass_now(wrote);
    // Busy as a pass is: a service asked for from inside a transport access (a device model calling
    // back into the PF) is a whole pass after the look, not one nested in it.
    servicing_ = true;
    again_ = false;
    boost::system::error_code ec;
    for (int step = 0; !ec && step < look_status_step; ++step) read_look_step(step, ec);
    const std::uint64_t now = timing_.now();
    look_verdict verdict = look_verdict::whole_pass;
    if (!ec) verdict = after_look(false, now);
    if (!ec && verdict == look_verdict::read_status) {
      read_look_step(look_status_step, ec);
      if (!ec) verdict = after_look(true, now);
    }
    if (!ec && verdict == look_verdict::heartbeat && !again_) {
      decided(this->session_.tick(now));
      ec = finish_update_now(wrote);
    }
    servicing_ = false;
    if (ec) return ec;
    const bool asked = std::exchange(again_, false);
    return verdict == look_verdict::whole_pass || asked ? pass_now(wrote) : boost::system::error_code{};
  }
  // The registers a look reads, each one access: request, control, then the acknowledgement pair (steps 0
  // to 2); status too (step 3) when a heartbeat is due (engine::pf_mailbox_session::look_reads_status).
  struct look_registers {
    std::array<std::byte, 4> request{};
    std::array<std::byte, 4> control{};
    std::array<std::byte, 8> acknowledged{};
    std::array<std::byte, 4> status{};
  };
  static constexpr int look_status_step = 3;
  struct look_read {
    std::size_t offset;  // in the window
    std::span<std::byte> into;
  };
  [[nodiscard]] look_read look_step(int step) noexcept {
    switch (step) {
      case 0:
        return {mailbox::reg::request, look_.request};
      case 1:
        return {mailbox::reg::control, look_.control};
      case 2:
        return {mailbox::reg::invalidate_ack_low, look_.acknowledged};
      default:
        return {mailbox::reg::status, look_.status};
    }
  }
  void read_look_step(int step, boost::system::error_code& ec) {
    const look_read read = look_step(step);
    device_side_read(transport_, this->window_ + read.offset, read.into, ec);
  }
  enum class look_verdict { whole_pass, read_status, heartbeat };
  // What the look's reads call for, status among them or not: a whole pass when the session wants a
  // service; else a read of status first when a heartbeat is due (a VF write over status is a service's
  // to undo and count, and the beat would overwrite it unseen); else the heartbeat, tick()'s (nothing to
  // write when none is due).
  [[nodiscard]] look_verdict after_look(bool status_read, std::uint64_t now) const {
    const auto word = [](std::span<const std::byte> bytes) { return le::load_u32(bytes.data()); };
    if (this->session_.wants_service(word(look_.request), word(look_.control), word(look_.acknowledged),
                                     word(std::span(look_.acknowledged).subspan(4))))
      return look_verdict::whole_pass;
    if (!status_read)
      return this->session_.look_reads_status(now) ? look_verdict::read_status : look_verdict::heartbeat;
    return this->session_.status_changed(word(look_.status)) ? look_verdict::whole_pass : look_verdict::heartbeat;
  }

  // The copy a pass decides from: the doorbell (`request`) first, then the whole window, the copy keeping
  // the doorbell as first read (docs/protocol.md 4.2). A read of several dwords is no indivisible copy on
  // most transports (shared memory, a device's registers: one dword after another, in address order), and
  // the VF writes the block register and the data before the doorbell: read in address order, a copy could
  // hold the block register from before the VF wrote it and the doorbell from after it rang, and the PF
  // ran the new request on the old block (vpci-perf --shm, once under load: "the PF refuses to read it").
  // Whatever the rest of the copy holds was read after the doorbell it acts on, so it is at least that new.
  // A doorbell rung after the first read is left for the next pass (a replay now).
  void read_window(std::span<std::byte, mailbox::window_size> window, boost::system::error_code& ec) {
    std::array<std::byte, 4> doorbell{};
    device_side_read(transport_, this->window_ + mailbox::reg::request, doorbell, ec);
    if (!ec) device_side_read(transport_, this->window_, window, ec);
    if (!ec) take_doorbell(doorbell, window);
  }
  static void take_doorbell(std::span<const std::byte, 4> doorbell, std::span<std::byte, mailbox::window_size> window) {
    std::copy(doorbell.begin(), doorbell.end(), window.begin() + mailbox::reg::request);
  }
  // The session's decision becomes the update in progress, with what to do once it is written (nothing,
  // when a block handler the decision ran detached this attachment: engine::pf_mailbox_session::release).
  void decided(const typename base::session_type::write_list& writes) {
    writes_ = &writes;
    next_write_ = 0;
    signal_after_ = this->session_.signal_vf();
    // A heartbeat alone is no sign of a busy VF: the poll schedule keeps backing off.
    update_active_ = this->session_.last_event() != engine::mailbox_event::heartbeat;
  }
  // Performs the writes of the update in progress from next_write_ on, then signals the peer once when the
  // session asked for it. A failed write leaves the rest for the next pass, which finishes this update
  // before anything else: the VF never sees half an update as complete (status is its last write).
  boost::system::error_code finish_update_now(bool& wrote) {
    if (writes_ == nullptr) return {};
    boost::system::error_code ec;
    for (; next_write_ < writes_->size(); ++next_write_) {
      const engine::register_write& w = (*writes_)[next_write_];
      device_side_write(transport_, this->window_ + w.offset, w.bytes, ec);
      if (ec) return ec;
    }
    end_update(wrote);
    return {};
  }
  void end_update(bool& wrote) {
    if (!writes_->empty()) {
      if (signal_after_) device_side_publish(transport_);
      wrote = true;
      if (update_active_) active_ = true;
    }
    writes_ = nullptr;
  }

  // ---- the serving loop (signalled and polled kinds) ----

  void loop_pass() {
    if (stopping_ || detached_) return finish();
    // Asked for: kicked (a publish, a re-initialisation), the window behind the session's shadow, or the
    // VF signalled. Else the timer alone woke the loop, and the pass looks first.
    bool asked = std::exchange(kicked_, false);
    asked = std::exchange(behind_, false) || asked;
    if constexpr (peer_signalling_transport<Transport>) {
      // Read the signal's count before the pass: a signal during the pass is not lost.
      if (kind_ == kind::signalled) {
        const std::uint32_t sequence = transport_.peer_signal_sequence();
        asked = asked || sequence != seen_;
        seen_ = sequence;
      }
    }
    state_ = loop_state::passing;
    if constexpr (sync_io) {
      bool wrote = false;
      const boost::system::error_code ec = asked ? pass_now(wrote) : look_now(wrote);
      after_pass(ec);
    } else {
      if (asked) return async_pass();
      async_look();
    }
  }

  void async_pass() {
    if (servicing_) {  // a synchronous service() is running (it called into a handler that got here)
      again_ = true;
      return after_pass({});
    }
    servicing_ = true;
    again_ = false;
    // An update a failed write interrupted is finished first, then the window is read as usual.
    resuming_ = writes_ != nullptr;
    if (resuming_) return write_next();
    read_next();
  }
  // As look_now: the look's reads, one step at a time, then what after_look says.
  void async_look() {
    if (servicing_ || writes_ != nullptr || this->reinitialize_) return async_pass();
    servicing_ = true;
    again_ = false;
    look_next(0);
  }
  void look_next(int step) {
    const look_read read = look_step(step);
    transport_.async_read(this->window_ + read.offset, read.into,
                          boost::asio::bind_executor(executor_, [self = this->shared_from_this(), step](
                                                                    boost::system::error_code ec, std::size_t) {
                            if (ec || self->detached_) return self->end_async_pass(ec);
                            if (step + 1 < look_status_step) return self->look_next(step + 1);
                            self->on_look(step == look_status_step);
                          }));
  }
  void on_look(bool status_read) {
    const std::uint64_t now = timing_.now();
    switch (after_look(status_read, now)) {
      case look_verdict::whole_pass:
        return read_next();
      case look_verdict::read_status:
        return look_next(look_status_step);
      case look_verdict::heartbeat:
        break;
    }
    decided(this->session_.tick(now));
    write_next();
  }
  // As read_window: the doorbell, then the window.
  void read_next() {
    transport_.async_read(this->window_ + mailbox::reg::request, doorbell_,
                          boost::asio::bind_executor(executor_, [self = this->shared_from_this()](
                                                                    boost::system::error_code ec, std::size_t) {
                            if (ec || self->detached_) return self->end_async_pass(ec);
                            self->read_window_after_doorbell();
                          }));
  }
  void read_window_after_doorbell() {
    transport_.async_read(this->window_, buffer_,
                          boost::asio::bind_executor(executor_, [self = this->shared_from_this()](
                                                                    boost::system::error_code ec, std::size_t) {
                            self->on_pass_read(ec);
                          }));
  }
  void on_pass_read(boost::system::error_code ec) {
    if (ec || detached_) return end_async_pass(ec);
    take_doorbell(doorbell_, buffer_);
    decided(this->decide(buffer_, timing_.now()));
    write_next();
  }
  void write_next() {
    if (next_write_ == writes_->size()) {
      bool wrote = false;
      end_update(wrote);
      const bool resumed = std::exchange(resuming_, false);
      const bool asked = std::exchange(again_, false);
      if ((resumed || asked) && !detached_) return read_next();
      return end_async_pass({});
    }
    const engine::register_write& w = (*writes_)[next_write_];
    transport_.async_write(this->window_ + w.offset, w.bytes,
                           boost::asio::bind_executor(executor_, [self = this->shared_from_this()](
                                                                     boost::system::error_code ec, std::size_t) {
                             if (ec) return self->end_async_pass(ec);
                             ++self->next_write_;
                             self->write_next();
                           }));
  }
  void end_async_pass(boost::system::error_code ec) {
    servicing_ = false;
    after_pass(ec);
  }

  void after_pass(boost::system::error_code ec) {
    state_ = loop_state::idle;
    if (ec && !stopping_) {
      // A failed transport access ends serving with the transport's error, unchanged.
      stopping_ = true;
      stop_reason_ = ec;
    }
    if (stopping_ || detached_) return finish();
    if (kicked_) return loop_pass();
    // The timer: the next poll (polled kind) or the next heartbeat, whichever comes first; the peer signal
    // (signalled kind) beside it. With neither (write hooks and no heartbeat) the loop rests until stopped.
    std::uint64_t deadline = this->session_.next_tick();
    if (kind_ == kind::polled) {
      const bool active = std::exchange(active_, false);
      deadline = std::min(deadline, deadline_after(timing_.now(), std::chrono::nanoseconds(schedule_.after_poll(active))));
    }
    const bool on_timer = deadline != engine::no_tick;
    const bool on_signal = kind_ == kind::signalled;
    if (!on_timer && !on_signal) return;
    state_ = loop_state::waiting;
    waits_ = 0;
    woken_ = false;
    if (on_timer) {
      ++waits_;
      timer_.expires_at(deadline);
      timer_.async_wait(boost::asio::bind_executor(
          executor_, [self = this->shared_from_this()](boost::system::error_code) { self->after_wait(false, {}); }));
    }
    if constexpr (peer_signalling_transport<Transport>) {
      if (on_signal) {
        ++waits_;
        transport_.async_wait_peer_signal(
            seen_, boost::asio::bind_cancellation_slot(
                       wait_cancel_.slot(),
                       boost::asio::bind_executor(executor_, [self = this->shared_from_this()](
                                                                 boost::system::error_code wait_error, std::uint32_t) {
                         self->after_wait(true, wait_error);
                       })));
      }
    }
  }

  // One of the loop's waits completed. The first one cancels the other; the loop goes on once both are in.
  void after_wait(bool from_signal, boost::system::error_code wait_error) {
    // A wait we cancelled (stop, kick, the other wait completing first) is not an error; any other failure
    // of the peer signal ends serving.
    if (from_signal && wait_error && !woken_ && !stopping_ && !kicked_) {
      stopping_ = true;
      stop_reason_ = wait_error;
    }
    --waits_;
    if (!std::exchange(woken_, true) && waits_ != 0) cancel_wait();
    if (waits_ != 0) return;
    state_ = loop_state::idle;
    loop_pass();
  }

  // Makes the loop run a pass now (blocking transports: a publish that must not block the caller).
  void kick() {
    if (servicing_) {  // a pass is running (a handler published from inside it): one more pass after it
      again_ = true;
      return;
    }
    if (!completion_ || stopping_ || detached_) return;
    if (state_ == loop_state::passing) {
      again_ = true;
    } else if (state_ == loop_state::waiting) {
      kicked_ = true;
      cancel_wait();
    }
  }

  void cancel_wait() {
    if (kind_ == kind::signalled) wait_cancel_.emit(boost::asio::cancellation_type::terminal);
    (void)timer_.cancel();
  }

  void finish() {
    state_ = loop_state::idle;
    if (!completion_) return;
    // Write hooks go on serving the window, but nothing beats any more: the heartbeat is withdrawn
    // (session_config).
    if (kind_ == kind::observed && !detached_ && heartbeat_ms_ != 0) announce_heartbeat(0);
    std::unique_ptr<serve_completion> completion = std::move(completion_);
    stopping_ = false;
    completion->complete(std::exchange(stop_reason_, {}));
  }

  // What every pass touches comes first, together: a PF serving hundreds of VFs misses on each cache
  // line of each server once per request.
  Transport& transport_;
  // The update in progress: the session's writes (valid until its next service) and the next to perform.
  const typename base::session_type::write_list* writes_{nullptr};
  std::size_t next_write_{0};
  bool signal_after_{false};   // raise the VF's signal once the update is written
  bool update_active_{false};  // the update is more than a heartbeat
  bool servicing_{false};
  bool again_{false};     // a pass was asked for during the pass in progress
  bool resuming_{false};  // the asynchronous pass began by finishing an interrupted update
  bool active_{false};   // a pass changed the window since the loop last scheduled a poll
  bool detached_{false};
  kind kind_;
  std::uint16_t heartbeat_ms_;  // mailbox_options::heartbeat
  Timing timing_;
  timer_type timer_;
  engine::poll_schedule schedule_;
  std::optional<write_hook_id> hook_;
  std::array<std::byte, 4> doorbell_{};  // an asynchronous pass's first read (read_next)
  look_registers look_{};                // the last look's reads
  std::array<std::byte, mailbox::window_size> buffer_{};
  // Serving.
  std::unique_ptr<serve_completion> completion_;
  std::uint64_t serving_id_{0};
  boost::asio::any_io_executor executor_;
  loop_state state_{loop_state::idle};
  bool stopping_{false};
  bool kicked_{false};
  // A write of the heartbeat's announcement failed: the window is behind the session's shadow until a
  // whole pass's service restores it.
  bool behind_{false};
  boost::system::error_code stop_reason_;
  std::uint32_t seen_{0};
  int waits_{0};        // the loop's waits in flight (the timer, the peer signal)
  bool woken_{false};   // one of them completed (or was cancelled) since they were started
  boost::asio::cancellation_signal wait_cancel_;
};

}  // namespace detail
}  // namespace vpci
