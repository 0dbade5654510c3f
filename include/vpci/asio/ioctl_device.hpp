// vpci::ioctl_device: the VF side's IOCTL shape of vpci.h (the "asynchronous alternative" to
// ReadVfConfigBlock / WriteVfConfigBlock) over any VF endpoint (both bindings), so driver code that builds
// IOCTL_VPCI_READ_BLOCK / IOCTL_VPCI_WRITE_BLOCK / IOCTL_VPCI_INVALIDATE_BLOCK requests ports line for
// line:
//
//   vpci::ioctl_device device(endpoint);
//   VPCI_READ_BLOCK_INPUT input{BlockId, sizeof buffer};     // vpci::windows::encode(read_block_input)
//   vpci::io_status_block iosb;
//   vpci::io_event event;                                     // KeInitializeEvent(NotificationEvent)
//   auto status = device.device_io_control(vpci::ioctl::read_block, &input, sizeof input, buffer,
//                                          sizeof buffer, iosb, event);
//   if (status == vpci::ntstatus::pending) { event.wait(); status = iosb.Status; }
//
// The requests (METHOD_NEITHER: the caller's buffers are used in place):
// - IOCTL_VPCI_READ_BLOCK: input VPCI_READ_BLOCK_INPUT {BlockId, BytesRequested} (8 bytes); the block's
//   bytes land in the output buffer, which must hold BytesRequested; Information = the bytes read.
// - IOCTL_VPCI_WRITE_BLOCK: input VPCI_WRITE_BLOCK_INPUT {BlockId, DataLength, Data} (8 + DataLength
//   bytes); no output (an output buffer is ignored); Information = the bytes written.
// - IOCTL_VPCI_INVALIDATE_BLOCK: kept pending until the PF invalidates blocks, then completed with
//   VPCI_INVALIDATE_BLOCK_OUTPUT {BlockMask} (8 bytes), Information 0 (as the IOCTL's page says). Where
//   the structure goes: the IOCTL's WDK page puts it in Type3InputBuffer, InputBufferLength its size (with
//   METHOD_NEITHER that buffer is the caller's own memory, written in place), and callers that pass it as
//   the output buffer exist too. So the output buffer takes it when it holds 8 bytes, else the input
//   buffer when that does (it is then written: it must not be a const object); neither is
//   STATUS_BUFFER_TOO_SMALL.
//   The caller re-issues it, as NDIS does; invalidations raised while none is pending are latched by the
//   endpoint and complete the next one at once, so none is lost. One may be pending at a time: a second
//   completes STATUS_DEVICE_NOT_READY (the endpoint's one-waiter rule, not a capacity limit: it is kept).
//   It takes none of the endpoint's operation slots (the endpoint keeps its one waiter apart from its
//   operations), so one pending for as long as the PF stays quiet neither holds a slot the reads and
//   writes need nor waits behind them in the queue below.
//
// The endpoint's operation slots (max_requests_in_flight = Endpoint::max_operations: 64 on binding 2, 16
// on binding 1): as a WDF queue holds the IRPs a device cannot take yet, a read or write that arrives
// while the facade's requests hold every slot stays STATUS_PENDING in the facade's queue (it does not
// complete STATUS_DEVICE_NOT_READY, the endpoint's busy), and the queued ones start in the order they
// arrived, one as each started read or write completes. Its deadline (STATUS_IO_TIMEOUT) runs from when
// it starts. When a started request completes with the device gone (the VF removed, the PF known dead,
// the stream or transport failed or ended, the endpoint closed or destroyed: the endpoint's own verdicts,
// never a status the PF answered), every queued request completes
// with that request's status (STATUS_CANCELLED, STATUS_NO_SUCH_DEVICE, STATUS_UNSUCCESSFUL, ...) without
// going out: after a removal the endpoint is usable again, and a request queued across it must not reach
// a PF that removed its VF. The slots counted are this facade's: operations started on the endpoint by
// other means (its own asynchronous or synchronous forms, another facade over it) share them unseen, and
// a request that finds them all taken still completes STATUS_DEVICE_NOT_READY. (linux_block_ops follows
// the same rule, from detail/slot_queue.hpp.)
//
// Completion (IoStatus, as the WDK pages state): Status is STATUS_SUCCESS or the failure; Information is
// as above on success and 0 otherwise. device_io_control returns
// - at once, with the final status, for a request refused before it starts: STATUS_INVALID_DEVICE_REQUEST
//   (an unknown code), STATUS_BUFFER_TOO_SMALL (InputBufferLength below the input structure, and its data
//   for a write; OutputBufferLength below BytesRequested for a read, both buffers below 8 for an invalidate),
//   STATUS_INVALID_PARAMETER (BytesRequested or DataLength 0 or above 128, a null buffer it needs). IoStatus
//   is filled before it returns; nothing reaches the endpoint.
// - STATUS_PENDING otherwise (IoStatus.Status reads STATUS_PENDING until completion): the request
//   completes later with the PF's status, unchanged, whichever it is (STATUS_ACCESS_DENIED,
//   STATUS_INVALID_PARAMETER, STATUS_BUFFER_TOO_SMALL, STATUS_NO_SUCH_DEVICE, STATUS_IO_TIMEOUT, an IHV's
//   own, a warning such as STATUS_BUFFER_OVERFLOW ...: a Windows VF sees the status the host's PF driver
//   gave; the endpoint's pf_status_report carries it, since vpci::errc names fewer), or the endpoint's
//   error as vpci::to_ntstatus maps it (STATUS_IO_TIMEOUT past its deadline, STATUS_REVISION_MISMATCH, STATUS_NO_SUCH_DEVICE for a
//   PF the endpoint knows dead, STATUS_CANCELLED for a VF removal; STATUS_UNSUCCESSFUL for a stream or
//   transport failure), or STATUS_CANCELLED when cancelled. A PF's failure status ends that request only:
//   it never counts as the device gone below, whatever the status says (STATUS_NO_SUCH_DEVICE included),
//   so the queued requests start and a pending IOCTL_VPCI_INVALIDATE_BLOCK stays pending.
// Either way the completion is signalled exactly once: the event is set (it stays set until reset, as a
// notification KEVENT; device_io_control resets it first), or the completion routine is called with the
// status block, on the endpoint's executor and never inside device_io_control.
//
// Cancellation (IoCancelIrp / CancelIoEx): cancel_io(iosb) cancels the pending request completing into
// `iosb`, cancel_io() every pending one. A read and an invalidate complete STATUS_CANCELLED at once; a
// write completes STATUS_CANCELLED only while its request has not left the VF (it is then never sent),
// otherwise it completes with the PF's answer, since the PF may already have applied it. A request still
// in the queue for a slot was never sent, a write included: it completes STATUS_CANCELLED at once
// (Information 0) and leaves the queue.
//
// The VPCI_INTERFACE_STANDARD (interface()): ReadVfConfigBlock / WriteVfConfigBlock as vpci.h declares
// them, each issued as a read or write request of this facade and waited for, so they share its queue
// and its rules above (slots, arrival order, the device-gone status for the queued ones, deadlines) and
// run beside a pending IOCTL_VPCI_INVALIDATE_BLOCK, which Windows' VF drivers keep pending while they
// use the interface (they re-read a block when the IOCTL completes). The endpoint's own
// interface() runs its synchronous forms, which refuse (STATUS_DEVICE_NOT_READY) while that IOCTL, or
// any asynchronous operation, is pending, and which may not run while another thread runs the endpoint's
// executor: use this one with an event loop, that one without. Returns (NTSTATUS, as the signed LONG):
// - STATUS_INVALID_PARAMETER at once for a null Context or Buffer, a Length of 0 or above 128 (nothing is
//   issued);
// - STATUS_INVALID_DEVICE_REQUEST at once on the thread running the endpoint's executor (an io_context's
//   or a thread_pool's, with any blocking, relationship or outstanding-work property and the default
//   allocator; a strand of either or of an any_io_executor: the call would wait for its own thread;
//   on another kind of executor's thread (a strand of a strand, one with an allocator of its own, a
//   user's executor type) it waits for good, as io_event::wait there);
// - STATUS_INSUFFICIENT_RESOURCES when the request cannot be allocated;
// - otherwise the request's final status (IoStatus.Status above). A successful read fills all of Length:
//   the bytes past a block shorter than Length are zeroed (VPCI_READ_BLOCK reports no byte count; binding
//   2's PF pads them so, binding 1 reads the block's own size); a failed one leaves the buffer as the
//   read left it (unspecified).
// They block the calling thread until the completion (the endpoint's default timeout bounds it): call
// them from any thread but the executor's, which must be running; from any number of threads at once.
// cancel_io leaves them alone (Windows cannot cancel them either).
//
// Threading: device_io_control and cancel_io may be called from any thread (they hand the work to the
// endpoint's executor and never wait); completion routines run on the endpoint's executor. io_event::wait
// blocks its caller: never on the thread running the endpoint's executor. The caller keeps the buffers and
// the status block valid until completion (METHOD_NEITHER). The endpoint must outlive every call into the
// facade, not the facade itself: destroyed first, it completes its pending requests (the device gone) and
// the queued ones complete with their status, after which the facade may only be destroyed. Requests
// pending when the facade is destroyed still complete, the queued ones included (they still start as
// slots free). The queue is kept on the endpoint's executor, so it needs no lock.
#pragma once

#include <array>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <new>
#include <mutex>
#include <span>
#include <utility>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/cancellation_type.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/post.hpp>
#include <boost/system/error_code.hpp>

#include <vpci/asio/detail/slot_queue.hpp>
#include <vpci/asio/detail/vf_core.hpp>
#include <vpci/asio/interface_standard.hpp>
#include <vpci/block/endian.hpp>
#include <vpci/error.hpp>
#include <vpci/protocol/block_id.hpp>
#include <vpci/protocol/constants.hpp>
#include <vpci/protocol/ntstatus.hpp>
#include <vpci/wire/windows.hpp>

namespace vpci {

// IO_STATUS_BLOCK: the final status of a request and its Information.
struct io_status_block {
  ntstatus Status{ntstatus::success};
  std::uintptr_t Information{0};
};

// A notification event (KEVENT, NotificationEvent): set() signals it and it stays signalled until
// reset(); wait() (KeWaitForSingleObject's role) blocks until it is signalled. Thread-safe.
class io_event {
 public:
  void set() {
    std::lock_guard lock(mutex_);
    signaled_ = true;
    changed_.notify_all();
  }
  void reset() {
    std::lock_guard lock(mutex_);
    signaled_ = false;
  }
  [[nodiscard]] bool signaled() const {
    std::lock_guard lock(mutex_);
    return signaled_;
  }
  void wait() const {
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [this] { return signaled_; });
  }

 private:
  mutable std::mutex mutex_;
  mutable std::condition_variable changed_;
  bool signaled_{false};
};

template <class Endpoint>
class ioctl_device {
 public:
  // An IoCompletion routine's role: called once with the request's status block.
  using completion_routine = std::function<void(io_status_block&)>;
  // The read and write requests started on the endpoint at once: its operation slots (64 on binding 2,
  // 16 on binding 1). Requests beyond them stay pending in the facade's queue until one frees.
  static constexpr std::size_t max_requests_in_flight = Endpoint::max_operations;

  explicit ioctl_device(Endpoint& endpoint) : state_(std::make_shared<state>(endpoint)) {}
  ioctl_device(const ioctl_device&) = delete;
  ioctl_device& operator=(const ioctl_device&) = delete;

  // Issues request `code` with the caller's buffers; `event` is set when it completes. Returns
  // STATUS_PENDING, or the final status of a request refused at once (see above).
  ntstatus device_io_control(std::uint32_t code, const void* input, std::uint32_t input_length, void* output,
                             std::uint32_t output_length, io_status_block& status, io_event& event) {
    event.reset();
    return issue(code, input, input_length, output, output_length, status, completion{&event, {}});
  }
  // As above; `routine(status)` is called on the endpoint's executor when it completes.
  ntstatus device_io_control(std::uint32_t code, const void* input, std::uint32_t input_length, void* output,
                             std::uint32_t output_length, io_status_block& status, completion_routine routine) {
    return issue(code, input, input_length, output, output_length, status, completion{nullptr, std::move(routine)});
  }

  // Cancels the pending request completing into `status` (nothing if none is).
  void cancel_io(io_status_block& status) {
    boost::asio::post(state_->endpoint->get_executor(), [s = state_, target = &status] {
      (void)s->queue.end_waiting_if([target](const std::shared_ptr<request>& r) { return r->status == target; },
                                    end_cancelled);
      for (const auto& r : s->pending)
        if (r->status == target) emit_cancel(*r);
    });
  }
  // Cancels every pending request (not the interface's calls: they cannot be cancelled, as on Windows).
  void cancel_io() {
    boost::asio::post(state_->endpoint->get_executor(), [s = state_] {
      (void)s->queue.end_waiting_if([](const std::shared_ptr<request>& r) { return r->cancellable; }, end_cancelled);
      for (const auto& r : s->pending)
        if (r->cancellable) emit_cancel(*r);
    });
  }

  // The VPCI_INTERFACE_STANDARD of this device (what IRP_MN_QUERY_INTERFACE answers a VF driver on the
  // device its IOCTLs go to): ReadVfConfigBlock and WriteVfConfigBlock issue a read or write request
  // here and wait for its completion (above: interface()). Context is this facade: it must outlive the
  // interface's use.
  [[nodiscard]] interface_standard interface(std::uint32_t serial_number = 0) noexcept {
    return detail::make_interface(this, &interface_write, &interface_read, serial_number);
  }

  [[nodiscard]] Endpoint& endpoint() const noexcept { return *state_->endpoint; }

 private:
  struct completion {
    io_event* event{nullptr};
    completion_routine routine;
    void signal(io_status_block& status) {
      if (event != nullptr) event->set();
      else if (routine) routine(status);
    }
  };

  enum class kind : std::uint8_t { read, write, invalidate };

  struct request {
    kind what{kind::read};
    io_status_block* status{nullptr};
    completion done;
    block_id block{};
    std::span<std::byte> output{};
    std::array<std::byte, max_block_size> data{};  // a write's data, copied at issue
    std::size_t length{0};
    bool cancellable{true};  // false for the interface's calls
    ntstatus pf_status{ntstatus::success};  // the PF's own status for a read or write (pf_status_report)
    boost::asio::cancellation_signal cancel;
  };

  // Touched only on the endpoint's executor.
  struct state {
    explicit state(Endpoint& e) : endpoint(&e), life(e.life()) {}
    Endpoint* endpoint;
    // Whether `endpoint` still exists: its destruction completes the requests started on it afterwards
    // (STATUS_CANCELLED), and neither they nor the requests queued may touch it then.
    std::shared_ptr<detail::vf_life> life;
    std::list<std::shared_ptr<request>> pending;  // started, not yet completed
    // The reads and writes on the endpoint's slots: at most max_requests_in_flight started (also in
    // `pending`), the others waiting, oldest first.
    detail::slot_queue<std::shared_ptr<request>> queue{max_requests_in_flight};
  };

  ntstatus issue(std::uint32_t code, const void* input, std::uint32_t input_length, void* output,
                 std::uint32_t output_length, io_status_block& status, completion done) {
    auto r = std::make_unique<request>();
    const ntstatus refused = prepare(*r, code, input, input_length, output, output_length);
    if (refused != ntstatus::pending) {
      status.Status = refused;
      status.Information = 0;
      if (done.event != nullptr) {
        done.event->set();
      } else if (done.routine) {
        boost::asio::post(state_->endpoint->get_executor(),
                          [routine = std::move(done.routine), &status]() mutable { routine(status); });
      }
      return refused;
    }
    submit(std::move(r), status, std::move(done));
    return ntstatus::pending;
  }

  // Hands a request that may start to the endpoint's executor; it completes into `status` by `done`.
  void submit(std::unique_ptr<request> r, io_status_block& status, completion done) {
    status.Status = ntstatus::pending;
    status.Information = 0;
    r->status = &status;
    r->done = std::move(done);
    boost::asio::post(state_->endpoint->get_executor(),
                      [s = state_, owned = std::shared_ptr<request>(std::move(r))]() mutable {
                        arrive(s, std::move(owned));
                      });
  }

  // An interface call's request, its status block and the event its caller waits on: shared with the
  // completion, whose last touch (setting the event) may come after the caller saw it set.
  struct blocking_call {
    io_status_block status;
    io_event completed;
  };

  // Issues `r` (a read or a write the interface checked) and waits for its completion, from a thread
  // other than the one running the endpoint's executor; STATUS_INVALID_DEVICE_REQUEST there.
  ntstatus issue_and_wait(std::unique_ptr<request> r, std::size_t& information) {
    if (detail::running_in_this_thread(state_->endpoint->get_executor())) return ntstatus::invalid_device_request;
    r->cancellable = false;
    auto call = std::make_shared<blocking_call>();
    submit(std::move(r), call->status, completion{nullptr, [call](io_status_block&) { call->completed.set(); }});
    call->completed.wait();
    information = call->status.Information;
    return call->status.Status;
  }

  static std::int32_t interface_read(void* context, std::uint32_t block, void* buffer, std::uint32_t length) noexcept {
    if (detail::interface_arguments_refused(context, buffer, length))
      return detail::interface_status(ntstatus::invalid_parameter);
    const auto destination = std::span<std::byte>(static_cast<std::byte*>(buffer), length);
    try {
      auto r = std::make_unique<request>();
      r->what = kind::read;
      r->block = block_id{block};
      r->output = destination;
      std::size_t bytes_read = 0;
      const ntstatus status = static_cast<ioctl_device*>(context)->issue_and_wait(std::move(r), bytes_read);
      return detail::interface_read_outcome(destination, bytes_read, status);
    } catch (...) {
      return detail::interface_status(ntstatus::insufficient_resources);
    }
  }

  static std::int32_t interface_write(void* context, std::uint32_t block, void* buffer, std::uint32_t length) noexcept {
    if (detail::interface_arguments_refused(context, buffer, length))
      return detail::interface_status(ntstatus::invalid_parameter);
    try {
      auto r = std::make_unique<request>();
      r->what = kind::write;
      r->block = block_id{block};
      r->length = length;
      le::copy(std::span<const std::byte>(static_cast<const std::byte*>(buffer), length), r->data.data());
      std::size_t bytes_written = 0;
      return detail::interface_status(static_cast<ioctl_device*>(context)->issue_and_wait(std::move(r), bytes_written));
    } catch (...) {
      return detail::interface_status(ntstatus::insufficient_resources);
    }
  }

  // Checks the buffers of request `code` against its rules; STATUS_PENDING when it may start.
  static ntstatus prepare(request& r, std::uint32_t code, const void* input, std::uint32_t input_length, void* output,
                          std::uint32_t output_length) {
    const auto in = std::span<const std::byte>(static_cast<const std::byte*>(input), input == nullptr ? 0 : input_length);
    switch (code) {
      case ioctl::read_block: {
        if (input_length < windows::read_block_input::wire_size) return ntstatus::buffer_too_small;
        if (input == nullptr) return ntstatus::invalid_parameter;
        auto decoded = windows::decode_read_block_input(in);
        if (!decoded) return decoded.error() == errc::buffer_too_small ? ntstatus::buffer_too_small : ntstatus::invalid_parameter;
        if (output_length < decoded->bytes_requested) return ntstatus::buffer_too_small;
        if (output == nullptr) return ntstatus::invalid_parameter;
        r.what = kind::read;
        r.block = decoded->block;
        r.output = std::span<std::byte>(static_cast<std::byte*>(output), decoded->bytes_requested);
        return ntstatus::pending;
      }
      case ioctl::write_block: {
        if (input_length < windows::write_block_input::header_size) return ntstatus::buffer_too_small;
        if (input == nullptr) return ntstatus::invalid_parameter;
        auto decoded = windows::decode_write_block_input(in);
        if (!decoded) return decoded.error() == errc::buffer_too_small ? ntstatus::buffer_too_small : ntstatus::invalid_parameter;
        r.what = kind::write;
        r.block = decoded->block;
        r.length = decoded->data.size();
        le::copy(decoded->data, r.data.data());
        return ntstatus::pending;
      }
      case ioctl::invalidate_block: {
        constexpr std::size_t size = windows::invalidate_block_output::wire_size;
        if (output_length < size && input_length < size) return ntstatus::buffer_too_small;
        // The output buffer when it is there; else Type3InputBuffer, as the WDK page lays the request out
        // (the caller's writable memory), whatever OutputBufferLength says: that page's request carries
        // UserBuffer NULL beside an OutputBufferLength of its own.
        std::byte* into = output != nullptr && output_length >= size ? static_cast<std::byte*>(output) : nullptr;
        if (into == nullptr && input != nullptr && input_length >= size)
          into = const_cast<std::byte*>(static_cast<const std::byte*>(input));
        if (into == nullptr) return ntstatus::invalid_parameter;
        r.what = kind::invalidate;
        r.output = std::span<std::byte>(into, size);
        return ntstatus::pending;
      }
      default: return ntstatus::invalid_device_request;
    }
  }

  // On the executor: a read or write waits for one of the endpoint's slots (behind those that arrived
  // before it); an invalidate takes none (the endpoint keeps its one waiter apart) and starts at once.
  static void arrive(const std::shared_ptr<state>& s, std::shared_ptr<request> r) {
    if (r->what == kind::invalidate) {
      (void)start_if_alive(s, r);
      return;
    }
    s->queue.arrive(std::move(r), [&s](std::shared_ptr<request>&& next) { return start_if_alive(s, next); });
  }
  // A request that may start now (a read or write with a slot, or an invalidate): started, or ended when
  // the endpoint was destroyed before it started, or when the memory to start it could not be had
  // (STATUS_INSUFFICIENT_RESOURCES, as Windows completes an IRP it cannot allocate for; its slot stays
  // free). Ended so, not left pending: the caller was told STATUS_PENDING and waits for its event.
  static bool start_if_alive(const std::shared_ptr<state>& s, const std::shared_ptr<request>& r) {
    if (!s->life->alive) {
      end(*r, to_ntstatus(errc::vf_removed));  // as the requests the destruction ended
      return false;
    }
    try {
      start(s, r);
    } catch (const std::bad_alloc&) {
      end(*r, ntstatus::insufficient_resources);
      return false;
    }
    return true;
  }

  // On the executor: hands the request to the endpoint. A read's or write's completion frees its slot for
  // the next queued request; one that reports the device gone ends the queued ones with its status.
  static void start(const std::shared_ptr<state>& s, const std::shared_ptr<request>& r) {
    const auto where = s->pending.insert(s->pending.end(), r);
    try {
      hand_to_endpoint(s, r.get(), where);
    } catch (...) {  // the endpoint did not take it: it is not pending
      s->pending.erase(where);
      throw;
    }
  }
  template <class Where>
  static void hand_to_endpoint(const std::shared_ptr<state>& s, request* raw, Where where) {
    auto finish = [s, where](boost::system::error_code ec, std::size_t bytes) {
      const std::shared_ptr<request> done = std::move(*where);
      s->pending.erase(where);
      const ntstatus final_status = settle(*done, ec, bytes);
      const auto next = [&] {
        if (done->what == kind::invalidate) return;
        s->queue.completed(
            detail::device_gone(*s->life, *s->endpoint, ec),
            [final_status](std::shared_ptr<request>&& queued) { end(*queued, final_status); },
            [&s](std::shared_ptr<request>&& next_request) { return start_if_alive(s, next_request); });
      };
      // The slot goes to the next request whatever the completion routine (the caller's code) does: one
      // that throws, out of the event loop, kept it, and the queue stalled one slot short for good.
      try {
        done->done.signal(*done->status);
      } catch (...) {
        next();
        throw;
      }
      next();
    };
    switch (raw->what) {
      case kind::read:
        s->endpoint->async_read_block(raw->block, raw->output, s->endpoint->options().default_timeout,
                                      pf_status_report{&raw->pf_status},
                                      boost::asio::bind_cancellation_slot(raw->cancel.slot(), std::move(finish)));
        break;
      case kind::write:
        s->endpoint->async_write_block(raw->block, std::span<const std::byte>(raw->data).first(raw->length),
                                       s->endpoint->options().default_timeout, pf_status_report{&raw->pf_status},
                                       boost::asio::bind_cancellation_slot(raw->cancel.slot(), std::move(finish)));
        break;
      case kind::invalidate:
        s->endpoint->async_wait_invalidate(boost::asio::bind_cancellation_slot(
            raw->cancel.slot(), [finish = std::move(finish), raw](boost::system::error_code ec, block_mask mask) mutable {
              if (!ec) (void)windows::encode(windows::invalidate_block_output{mask}, raw->output);
              finish(ec, 0);  // Information: zero, as the IOCTL's page says (the mask is in the output)
            }));
        break;
    }
  }

  static void emit_cancel(request& r) {
    // A write that left the VF may have been applied: only total cancellation, which refuses then.
    r.cancel.emit(r.what == kind::write ? boost::asio::cancellation_type::total : boost::asio::cancellation_type::terminal);
  }

  // A started request's outcome in its IO_STATUS_BLOCK (signalled by the caller); returns its final status.
  static ntstatus settle(request& r, const boost::system::error_code& ec, std::size_t bytes) {
    ntstatus final_status = ntstatus::success;
    if (ec == boost::asio::error::operation_aborted) final_status = ntstatus::cancelled;  // the endpoint was closed
    else if (ec) final_status = to_ntstatus(ec, r.pf_status);
    r.status->Status = final_status;
    r.status->Information = final_status == ntstatus::success ? bytes : 0;
    return final_status;
  }
  // Completes a request that never started (never sent) with `final_status`.
  static void end(request& r, ntstatus final_status) {
    r.status->Status = final_status;
    r.status->Information = 0;
    r.done.signal(*r.status);
  }
  static void end_cancelled(std::shared_ptr<request>&& r) { end(*r, ntstatus::cancelled); }

  std::shared_ptr<state> state_;
};

}  // namespace vpci
