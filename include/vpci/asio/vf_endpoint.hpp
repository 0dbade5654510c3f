// vpci::vf_endpoint: the VF driver's side of the block channel over the config-space mailbox (binding 1),
// through any config_space_transport. The operations, their completion signatures, errors, cancellation
// and threading rules are those of the VF endpoint core (asio/detail/vf_core.hpp), the same on both
// bindings; this class supplies how the mailbox engine's register accesses are performed:
// - on a transport whose accesses never block (memory, shared memory) they run inline on the endpoint's
//   executor; on any other (sysfs, a fault-injecting wrapper) through its asynchronous operations;
// - while the engine waits for the PF, a transport with a peer signal (a doorbell) wakes it as soon as the
//   PF wrote, and the VF asks the PF to signal it (control.signal) so an idle watcher costs no config
//   access at all; otherwise the engine polls the status dword (from poll_interval, doubling up to
//   watch_interval, while a request waits; watch_interval while only an invalidation wait is pending:
//   100 accesses per second by default);
// - a transport that knows its peer's liveness (transport/traits.hpp) ends every operation with
//   vpci::errc::peer_gone once the PF is dead, at once and for good; one that can fail for good (a
//   vfio-user connection after a missed reply deadline or a broken framing) ends them with its lasting
//   failure as soon as an access meets it. failure() reports either.
//
// Thread safety: an endpoint belongs to one executor (a strand or a single-threaded io_context); start
// operations from it (or call the synchronous forms from one thread while no operation is pending).
// Completion handlers run on their associated executors.
#pragma once

#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <span>
#include <utility>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/cancellation_type.hpp>
#include <boost/system/error_code.hpp>

#include <vpci/asio/detail/vf_core.hpp>
#include <vpci/asio/timing.hpp>
#include <vpci/engine/vf_mailbox.hpp>
#include <vpci/error.hpp>
#include <vpci/transport/concept.hpp>
#include <vpci/transport/traits.hpp>
#include <vpci/wire/mailbox.hpp>

namespace vpci {

// Binding 1's options.
struct vf_mailbox_options {
  // The deadline of a request that names none (and of the synchronous forms): vpci::errc::timeout past it.
  std::chrono::nanoseconds default_timeout{std::chrono::seconds(1)};
  // Status polling while a request awaits its answer from a PF that does not signal this VF: the delay
  // before the second read, doubling after each unanswered one up to watch_interval (a PF that signals is
  // read when it signals, and every watch_interval as a safety net).
  // Here and in watch_interval and orphan_timeout, 0 or less is taken as 1 ns (engine::vf_mailbox_config).
  std::chrono::nanoseconds poll_interval{std::chrono::microseconds(20)};
  // Status polling while only an invalidation wait is pending and no peer signal wakes the VF: the bound
  // on invalidation delivery latency over a transport without a signal.
  std::chrono::nanoseconds watch_interval{std::chrono::milliseconds(10)};
  // How long an abandoned request may stay unanswered before the VF resets the mailbox.
  std::chrono::nanoseconds orphan_timeout{std::chrono::milliseconds(100)};
  // How often a read is retried when the PF kept changing its answer under it (then errc::torn_read).
  std::uint32_t max_torn_retries{32};
  // The window's owner, as its DVSEC names it: the DVSEC ID (vpci's default 0x5650), and the DVSEC vendor
  // ID (by default any: whatever discovery found, as config::find_mailbox matched it; a VF's own vendor ID
  // reads 0xFFFF). A vendor ID converts to a filter that matches only it.
  std::uint16_t dvsec_id{mailbox::default_dvsec_id};
  config::dvsec_vendor_filter dvsec_vendor{config::any_dvsec_vendor};
};

template <config_space_transport Transport, class Timing = steady_timing>
class vf_endpoint final : public detail::vf_core<vf_endpoint<Transport, Timing>, engine::vf_mailbox_engine<16>,
                                                 Timing, typename Transport::executor_type, vf_mailbox_options> {
  using core = typename vf_endpoint::vf_core;

 public:
  // Up to 16 requests wait in engine_type; they run one at a time through the window.
  // `window` is the config-space offset of the mailbox VSEC (docs/protocol.md; config::find_mailbox
  // finds it). The transport must outlive the endpoint.
  vf_endpoint(Transport& transport, std::size_t window, vf_mailbox_options options = {}, Timing timing = {})
      : core(transport.get_executor(), options, std::move(timing)),
        transport_(transport),
        window_(window),
        engine_(engine::vf_mailbox_config{to_nanoseconds(options.poll_interval), to_nanoseconds(options.watch_interval),
                                          options.max_torn_retries, to_nanoseconds(options.orphan_timeout),
                                          peer_signal_available(transport), options.dvsec_id, options.dvsec_vendor}) {}

  // Pending operations complete with vpci::errc::vf_removed; I/O and waits still queued on the executor
  // find the endpoint gone and touch nothing of it.
  ~vf_endpoint() {
    this->destroy();
    disarm();
  }

  typename core::executor_type get_executor() const noexcept { return transport_.get_executor(); }
  [[nodiscard]] const typename core::engine_type& engine() const noexcept { return engine_; }
  [[nodiscard]] Transport& transport() noexcept { return transport_; }

 private:
  friend core;
  using engine_type = typename core::engine_type;
  engine_type& engine_ref() noexcept { return engine_; }

  // What asynchronous I/O and waits may still touch after the endpoint is gone.
  struct io_state {
    std::array<std::byte, mailbox::window_size> scratch{};  // what an asynchronous read lands in
    std::array<std::byte, mailbox::window_size> outgoing{}; // what an asynchronous write sends
    boost::asio::cancellation_signal signal_cancel;
    boost::asio::cancellation_signal liveness_cancel;
  };

  // ---- core hooks ----
  bool perform(const typename core::action_type& a, std::uint64_t& now) {
    if constexpr (nonblocking_transport_v<Transport>) {
      (void)perform_blocking(a, now);
      return true;
    } else {
      auto done = [this, life = this->life(), io = io_, what = a.what](boost::system::error_code ec, std::size_t n) {
        if (!life->alive) return;
        const std::uint64_t at = this->timing_.now();
        report(what, ec, std::span<const std::byte>(io->scratch).first(ec ? 0 : n), at);
        this->resume();
      };
      // An access that cannot start fails the operation it served (access_or_fail).
      return !access_or_fail(a.what, now, [&] {
        if (a.what == core::action_type::kind::write) {
          // The bytes are copied out of the engine: the write may outlive the endpoint.
          std::copy(a.bytes.begin(), a.bytes.end(), io_->outgoing.begin());
          transport_.async_write(window_ + a.offset, std::span<const std::byte>(io_->outgoing).first(a.bytes.size()),
                                 std::move(done));
        } else {
          note_signal();
          transport_.async_read(window_ + a.offset, std::span<std::byte>(io_->scratch).first(a.length), std::move(done));
        }
      });
    }
  }

  // Performs a register access on this thread and reports it. `now` is read again only after an access
  // that may block. An access of a non-blocking transport takes nanoseconds, a write the PF serves inside
  // the call (memory_config_space) included: what time it took shows at the engine's next wait, which
  // reads the clock again, so a deadline that passed meanwhile is seen one poll step later at most. A
  // clock read per access was a third of a synchronous read over memory_config_space; one after each
  // write still cost 6% of a 128-byte read and 13% of a write (about 20 ns each on a VM's vDSO clock).
  boost::system::error_code perform_blocking(const typename core::action_type& a, std::uint64_t& now) {
    boost::system::error_code ec;
    if (a.what == core::action_type::kind::write) {
      if (!access_or_fail(a.what, now, [&] { transport_.write(window_ + a.offset, a.bytes, ec); }))
        return make_error_code(boost::system::errc::not_enough_memory);
      if constexpr (!nonblocking_transport_v<Transport>) now = this->timing_.now();
      report(a.what, ec, {}, now);
      return ec;
    }
    note_signal();
    // The engine copies what it keeps before report() returns, so a synchronous read lands on the stack,
    // which is in cache whichever endpoint this is: in a process driving hundreds of them, each one's own
    // scratch is one more cold line per 64 bytes.
    std::array<std::byte, mailbox::window_size> landed;
    const auto into = std::span<std::byte>(landed).first(a.length);
    if (!access_or_fail(a.what, now, [&] { transport_.read(window_ + a.offset, into, ec); }))
      return make_error_code(boost::system::errc::not_enough_memory);
    if constexpr (!nonblocking_transport_v<Transport>) now = this->timing_.now();
    report(a.what, ec, into, now);
    return ec;
  }

  // An access that throws (a transport's write hook or access observer, the user's code; out of memory) is
  // one that failed: the engine is told, so the operation it served fails instead of waiting for a report
  // that never comes. Out of memory is that operation's error (false); anything else is the user's and
  // goes on out of the call after the engine was told.
  template <class Access>
  bool access_or_fail(typename core::action_type::kind what, std::uint64_t now, Access access) {
    try {
      access();
      return true;
    } catch (const std::bad_alloc&) {
      report(what, make_error_code(boost::system::errc::not_enough_memory), {}, now);
      return false;
    } catch (...) {
      report(what, make_error_code(errc::device_error), {}, now);
      throw;
    }
  }

  void report(typename core::action_type::kind what, const boost::system::error_code& ec, std::span<const std::byte> bytes,
              std::uint64_t now) {
    if (ec) {
      this->note_transport_error(ec);
      engine_.on_transport_error(now);
      // The error may have shown that the PF is gone or the transport failed for good: the endpoint ends
      // here, its wait included, rather than polling a connection that every access fails on.
      if (const auto gone = peer_status(); gone) this->fail(gone);
    } else if (what == core::action_type::kind::write) {
      engine_.on_written(now);
    } else {
      engine_.on_read(bytes, now);
    }
  }

  // The signal's count before a read: a peer write after it ends the next wait at once.
  void note_signal() noexcept {
    if constexpr (peer_signalling_transport<Transport>) signal_seen_ = transport_.peer_signal_sequence();
  }

  void await_peer() {
    if constexpr (peer_signalling_transport<Transport>) {
      // Each flag is set once its wait has started: a wait that could not start (out of memory) is started
      // again at the next pump instead of counted on for good.
      if (!signal_armed_) {
        transport_.async_wait_peer_signal(
            signal_seen_,
            boost::asio::bind_cancellation_slot(
                io_->signal_cancel.slot(),
                boost::asio::bind_executor(get_executor(), [this, life = this->life(), io = io_](
                                                               boost::system::error_code ec, std::uint32_t) {
                  // `io` keeps the cancellation signal alive until this completion cleared its slot.
                  if (!life->alive) return;
                  signal_armed_ = false;
                  if (!ec) this->wake_and_resume();
                })));
        signal_armed_ = true;
      }
    }
    if constexpr (liveness_transport<Transport>) {
      if (!liveness_armed_) {
        transport_.async_wait_peer_gone(boost::asio::bind_cancellation_slot(
            io_->liveness_cancel.slot(),
            boost::asio::bind_executor(get_executor(), [this, life = this->life(), io = io_](boost::system::error_code ec) {
              if (!life->alive) return;
              liveness_armed_ = false;
              if (!ec) this->fail(make_error_code(errc::peer_gone));
            })));
        liveness_armed_ = true;
      }
    }
  }
  void rest() { disarm(); }
  void disarm() {
    if (signal_armed_) io_->signal_cancel.emit(boost::asio::cancellation_type::all);
    if (liveness_armed_) io_->liveness_cancel.emit(boost::asio::cancellation_type::all);
  }

  boost::system::error_code peer_status() const {
    if constexpr (liveness_transport<Transport>) {
      if (!transport_.peer_alive()) return make_error_code(errc::peer_gone);
    }
    return lasting_failure();
  }
  boost::system::error_code lasting_failure() const {
    if constexpr (lasting_failure_transport<Transport>) {
      return transport_.lasting_failure();
    } else {
      return {};
    }
  }

  bool prepare_blocking() { return true; }

  void wait_blocking(std::uint64_t until) {
    const std::uint64_t now = this->timing_.now();
    if (until <= now) return;
    if constexpr (peer_signalling_transport<Transport>) {
      const auto timeout = Timing::is_virtual ? std::chrono::nanoseconds(0)
                                              : std::chrono::nanoseconds(static_cast<std::int64_t>(until - now));
      boost::system::error_code ec;
      if (transport_.wait_peer_signal(signal_seen_, timeout, ec) != signal_seen_) {
        engine_.wake();
        return;
      }
    }
    this->timing_.sleep_until(until);
  }

  void shut_down() { disarm(); }

  Transport& transport_;
  std::size_t window_;
  engine_type engine_;
  std::shared_ptr<io_state> io_ = std::make_shared<io_state>();
  std::uint32_t signal_seen_{0};
  bool signal_armed_{false};
  bool liveness_armed_{false};
};

}  // namespace vpci
