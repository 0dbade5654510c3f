// vpci::vfio_user_config_space: the configuration space of a PCI device that a vfio-user server emulates
// (QEMU docs/interop/vfio-user.rst; a vpci vfio_user_device_server, a libvfio-user or SPDK server), as a
// config_space_transport over an AF_UNIX stream socket.
//
// Connecting (connect / open, or async_connect / async_open) performs the handshake, in this order:
// - VFIO_USER_VERSION: major 0, minor 1, capabilities {"max_msg_fds":1,"max_data_xfer_size":4096}. The reply
//   must keep major 0 and not raise the minor; its JSON is parsed strictly (wire/vfio_user.hpp) and its
//   max_data_xfer_size (default 1 MiB) bounds every REGION_READ/REGION_WRITE this client sends.
// - VFIO_USER_DEVICE_GET_INFO: the device must say it is a PCI device (VFIO_DEVICE_FLAGS_PCI) with the
//   config region (index 7).
// - VFIO_USER_DEVICE_GET_REGION_INFO for region 7 (VFIO_PCI_CONFIG_REGION_INDEX): readable, at least 256
//   bytes. size() is 4096 when the region holds an extended space, else 256.
// - When the device has IRQ types (and options.use_interrupt): VFIO_USER_DEVICE_GET_IRQ_INFO for INTx and,
//   when it offers an eventfd, VFIO_USER_DEVICE_SET_IRQS installing this client's (see "the device's
//   interrupt" below; a server without it is not an error).
// Handshake errors: vpci::errc::not_supported (another major version, not a PCI device, no readable config
// region of 256 bytes or more, a max_data_xfer_size below 4), vpci::errc::malformed_message (JSON that does
// not parse, a reply that does not decode or answers another region), vpci::errc::timeout (a silent server,
// see "Reply deadline"), vpci::errc::connection_closed when the server closed the connection (an end of file,
// a reset or a broken pipe: a server that serves one client at a time closes another's connection so), the
// framing errors below, the socket's other errors unchanged. The socket is closed after a failed handshake.
//
// Accesses: read/write split the transfer into REGION_READ / REGION_WRITE messages of region 7, each of at
// most min(max_data_xfer_size, 4096) bytes and ending on a dword boundary (so no naturally aligned 1/2/4-byte
// access of config::for_each_access straddles two messages). How the server performs one message is its
// own: vpci's server performs it as one indivisible driver-side call of its device model. A config region
// without VFIO_REGION_INFO_FLAG_WRITE makes writes fail locally with vpci::errc::read_only.
//
// Errors of an access: config::check_access's (out_of_range, invalid_argument; nothing sent then);
// boost::asio::error::not_connected before a handshake succeeded; a server error reply: its errno as a
// boost::system::error_code of the system category (an error reply with errno 0: vpci::errc::device_error),
// a payload beside it read and ignored (libvfio-user sends the reply it had prepared);
// vpci::errc::malformed_message for a reply that frames correctly but does not match the request (another
// offset, region or count, a payload of the wrong size); vpci::errc::timeout
// (see "Reply deadline"); the socket's errors (eof when the server went away) unchanged. Framing violations leave the stream unusable:
// vpci::errc::protocol_violation for a reply with another message ID or command, a message that is not a
// reply, a message size below 16 or above this client's limit (16 + 16 + 4096); the socket is then closed and
// every later operation fails with the error that broke it. Bytes transferred before an error are not
// reported (0 on error), as for every transport (transport/concept.hpp): the messages before the failed one
// were performed, so a failed read may have filled the start of its buffer and a failed write may have
// written the start of its data.
//
// Asynchronous operations take any completion token; without one, vpci::default_completion_token_t
// (vpci/transport/default_token.hpp: the executor's default, else boost::asio::deferred).
//
// Threading and ordering: one object is used from one thread (or strand). Asynchronous operations may be
// started while others are pending: they run one after another in the order started (each operation's
// messages are never interleaved with another's). The synchronous forms block the calling thread on the
// socket; they fail with vpci::errc::busy while an asynchronous operation is pending, and so do connecting
// and opening, in either form (see connect()). Never run the server
// on the same thread as a synchronous form (it would wait for itself): use the asynchronous forms there.
//
// Reply deadline: each request must be answered within options.reply_timeout (default 1 s), measured by the
// options' timing policy (vpci::steady_timing, or vpci::manual_timing in tests: virtual time, where a
// synchronous form only looks at the socket and then moves virtual time to the deadline). A server that
// accepts a request and never answers fails the operation with vpci::errc::timeout; the stream is then out
// of step (a late reply would answer the next request), so the socket is closed and every later operation
// fails at once with errc::timeout, as for the framing violations above. The deadline covers writing the
// request and reading its whole reply; each message of a split transfer and of the handshake has its own.
//
// A connection failed for good: after a missed reply deadline, a framing violation or a socket error (eof
// when the server went away) the socket is closed and lasting_failure() returns that error until the next
// connect or open (the lasting-failure trait of transport/traits.hpp): an endpoint over the client then
// ends with it at once, its pending operations and invalidation wait included, and reports it as failure().
//
// The server's liveness (transport/traits.hpp): peer_alive() is false once the server is known to have
// closed its end: its hang-up was seen on the socket (async_wait_peer_gone), or an access met it (eof, a
// reset connection, a broken pipe). An endpoint over the client then fails with vpci::errc::peer_gone;
// an idle one waiting for invalidations learns it from the hang-up itself, without an access: the
// interrupt's eventfd outlives a crashed server and would never wake it.
//
// Cancellation: none. A request on the wire cannot be withdrawn, and its reply must be consumed to keep the
// stream in step; close() ends every pending operation (operation_aborted). The reply deadline bounds how
// long an operation can wait.
#pragma once

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include <poll.h>
#include <sys/un.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/append.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/cancellation_state.hpp>
#include <boost/asio/compose.hpp>
#include <boost/asio/cancellation_type.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/system/error_code.hpp>
#include <boost/system/system_error.hpp>

#include <vpci/asio/timing.hpp>
#include <vpci/config/access.hpp>
#include <vpci/error.hpp>
#include <vpci/transport/closed_by_peer.hpp>
#include <vpci/transport/concept.hpp>
#include <vpci/transport/default_token.hpp>
#include <vpci/transport/detail/vfio_user_fds.hpp>
#include <vpci/transport/traits.hpp>
#include <vpci/wire/vfio_user.hpp>

namespace vpci {

// How a vfio-user client waits for its server.
template <class Timing = steady_timing>
struct vfio_user_client_options {
  // How long one request may wait for its reply (see "Reply deadline" above). Zero or negative: at once.
  std::chrono::nanoseconds reply_timeout{std::chrono::seconds(1)};
  // What "now" is and the deadline timer (vpci::manual_timing in tests).
  Timing timing{};
  // Install an eventfd for the device's INTx when the server offers one (see "the device's interrupt"):
  // false keeps the client without it, so an endpoint over it polls.
  bool use_interrupt{true};
};

// vfio_user_config_space (below) is this with real time; tests use basic_vfio_user_config_space<manual_timing>.
template <class Timing = steady_timing>
class basic_vfio_user_config_space {
 public:
  using executor_type = boost::asio::any_io_executor;
  using protocol_type = boost::asio::local::stream_protocol;
  using socket_type = protocol_type::socket;

  // The most data one REGION_READ/REGION_WRITE of this client carries (also announced to the server).
  static constexpr std::size_t max_transfer = 4096;
  // The device's INTx is automasked until the client unmasks it with its next message: signals given
  // meanwhile arrive as one, late (docs/vfio-user.md).
  static constexpr bool peer_signals_coalesce = true;
  // The largest reply accepted: header, the region access or region info fixed part, and max_transfer.
  static constexpr std::size_t max_reply_size = vfio_user::header_size + 16 + max_transfer;

  using timing_type = Timing;
  using options_type = vfio_user_client_options<Timing>;

  explicit basic_vfio_user_config_space(executor_type executor, const options_type& options = {})
      : socket_(executor),
        irq_(std::move(executor)),
        use_interrupt_(options.use_interrupt),
        reply_timeout_(options.reply_timeout),
        timing_(options.timing),
        timer_(timing_.make_timer(socket_.get_executor())) {}
  template <class ExecutionContext>
    requires std::convertible_to<ExecutionContext&, boost::asio::execution_context&>
  explicit basic_vfio_user_config_space(ExecutionContext& context, const options_type& options = {})
      : basic_vfio_user_config_space(executor_type(context.get_executor()), options) {}
  // Connects to the server listening at `path` and performs the handshake; throws boost::system::system_error
  // with connect()'s errors. (What a command-line tool wants: vfio_user_config_space space(io, path);)
  basic_vfio_user_config_space(executor_type executor, const std::string& path, const options_type& options = {})
      : basic_vfio_user_config_space(std::move(executor), options) {
    boost::system::error_code ec;
    connect(path, ec);
    if (ec) throw boost::system::system_error(ec, "vpci: vfio-user connect " + path);
  }
  template <class ExecutionContext>
    requires std::convertible_to<ExecutionContext&, boost::asio::execution_context&>
  basic_vfio_user_config_space(ExecutionContext& context, const std::string& path, const options_type& options = {})
      : basic_vfio_user_config_space(executor_type(context.get_executor()), path, options) {}
  // Every pending completion checks life_ before touching the object: the operations in flight complete
  // with operation_aborted as the socket's own end (destroyed with it), those queued behind them as they
  // are posted here; none inside the destructor. (Before, a read in flight then resumed into freed memory.)
  ~basic_vfio_user_config_space() {
    life_->alive = false;
    for (auto& resume_queued : waiting_) resume_queued();  // each posts itself
    waiting_.clear();
    drop_interrupt();
  }

  // Pending operations refer to this object: it neither copies nor moves.
  basic_vfio_user_config_space(const basic_vfio_user_config_space&) = delete;
  basic_vfio_user_config_space& operator=(const basic_vfio_user_config_space&) = delete;

  [[nodiscard]] executor_type get_executor() noexcept { return socket_.get_executor(); }
  // 256 or 4096 once connected; 0 before (every access then fails with not_connected).
  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  [[nodiscard]] bool is_open() const noexcept { return size_ != 0 && socket_.is_open() && !broken_; }
  // The error that closed the connection for good (see "A connection failed for good"); empty while it works
  // and before the first connection. close() by this side is not a failure and leaves it as it was.
  [[nodiscard]] boost::system::error_code lasting_failure() const noexcept { return broken_; }
  // What the handshake learnt (meaningful once connected).
  [[nodiscard]] const vfio_user::capabilities& server_capabilities() const noexcept { return server_caps_; }
  [[nodiscard]] const vfio_user::device_info& device_info() const noexcept { return device_info_; }
  [[nodiscard]] const vfio_user::region_info& config_region() const noexcept { return config_region_; }
  [[nodiscard]] std::uint16_t negotiated_minor() const noexcept { return minor_; }

  // ---- connecting ----

  // Blocking connect to `path` and handshake. Errors: the socket's (connect), the handshake's (above),
  // vpci::errc::busy while an asynchronous operation is pending, one that close() ended included until its
  // completion has run, and boost::asio::error::name_too_long for a path longer than a socket address holds
  // (nothing changes on either: the connection in use, or its lasting failure, stays).
  void connect(const std::string& path, boost::system::error_code& ec) {
    if (active_) {  // an asynchronous operation still uses the socket
      ec = errc::busy;
      return;
    }
    const auto endpoint = endpoint_of(path, ec);
    if (ec) return;
    reset_state();
    socket_.close(ec);
    socket_.connect(endpoint, ec);
    ec = without_source_location(ec);
    if (!ec) handshake_sync(ec);
  }
  // Adopts a connected socket (a socketpair end, an accepted connection) and performs the handshake.
  void open(socket_type socket, boost::system::error_code& ec) {
    if (active_) {
      ec = errc::busy;
      return;
    }
    reset_state();
    socket_ = std::move(socket);
    handshake_sync(ec);
  }

  // Completion: void(boost::system::error_code). Errors as connect(): busy while an asynchronous operation
  // is pending, name_too_long for a path a socket address cannot hold, both posted, and nothing changes
  // then. Operations started while it connects run after its handshake. Never completes inline.
  template <class CompletionToken = vpci::default_completion_token_t<executor_type>>
  auto async_connect(std::string path, CompletionToken&& token = CompletionToken{}) {
    return boost::asio::async_compose<CompletionToken, void(boost::system::error_code)>(
        connect_op{this, life_, std::move(path)}, token, socket_);
  }
  // Completion: void(boost::system::error_code). Errors as open(): busy (posted) while an asynchronous
  // operation is pending, and nothing changes then (`socket` is closed). Never completes inline.
  template <class CompletionToken = vpci::default_completion_token_t<executor_type>>
  auto async_open(socket_type socket, CompletionToken&& token = CompletionToken{}) {
    return boost::asio::async_compose<CompletionToken, void(boost::system::error_code)>(
        open_op{this, std::move(socket)}, token, socket_);
  }

  // Closes the socket: pending operations complete with boost::asio::error::operation_aborted (the waits
  // with cancelled); later ones with not_connected. Not a failure: lasting_failure() stays as it was.
  void close() noexcept {
    ++generation_;           // completions of the connection's I/O still to come touch nothing now
    ++deadline_generation_;  // and its pending deadline judges nothing
    boost::system::error_code ignored;
    socket_.close(ignored);
    size_ = 0;
    drop_interrupt();
  }

  // ---- the device's interrupt: the peer's signal (transport/traits.hpp) ----
  //
  // The handshake installs an eventfd (DEVICE_SET_IRQS, TRIGGER | DATA_EVENTFD, passed with SCM_RIGHTS) for
  // the INTx interrupt when the server offers one with EVENTFD (DEVICE_GET_IRQ_INFO, index 0); a server that
  // offers none or refuses the eventfd (an error reply) leaves the client without it (interrupt_installed()
  // false), which is not an error. Each time the eventfd is found signalled, the count below goes up by one
  // and an UNMASK (SET_IRQS, ACTION_UNMASK | DATA_NONE) is due: INTx is AUTOMASKED under VFIO, so the
  // server delivers the next interrupt only once unmasked. The UNMASK goes out before the next operation's
  // own requests (or on its own, queued like an operation, when an asynchronous wait finds the signal); an
  // error reply to it is not reported to that operation.

  [[nodiscard]] bool interrupt_installed() const noexcept { return irq_native_ >= 0; }
  // For the endpoints (transport/traits.hpp): the signal works only with the interrupt installed; without
  // it a vf_endpoint made over this client polls.
  [[nodiscard]] bool peer_signal_available() const noexcept { return interrupt_installed(); }
  // The interrupt's count (wraps): how many times the eventfd was found signalled. Looks at the eventfd
  // first (a non-blocking read), so a signal already delivered counts.
  [[nodiscard]] std::uint32_t peer_signal_sequence() const noexcept { return drain_signals(); }
  // Blocks until the count differs from `seen` or `timeout` passes (errc::timeout); with no interrupt
  // installed, errc::not_supported at once; poll(2)'s own failure as its errno. Returns the count. The wait
  // runs to a deadline on the Timing's clock: a signal the process takes meanwhile (EINTR) leaves it the
  // rest of its time, not the whole timeout again, and a timeout longer than one poll's limit (INT_MAX ms)
  // is waited in several. Under virtual time it looks at the interrupt, then moves the clock to the
  // deadline (the timing policy's rule for blocking waits).
  std::uint32_t wait_peer_signal(std::uint32_t seen, std::chrono::nanoseconds timeout, boost::system::error_code& ec) const {
    ec = {};
    std::uint32_t count = drain_signals();
    if (count != seen) return count;
    if (irq_native_ < 0) {
      ec = errc::not_supported;
      return count;
    }
    const std::uint64_t deadline = deadline_after(timing_.now(), timeout);
    for (;;) {
      pollfd ready{irq_native_, POLLIN, 0};
      const int n = poll_before(ready, deadline, ec);
      if (n < 0) return count;  // the deadline passed, or poll failed
      count = drain_signals();
      if (count != seen) return count;
      if (n > 0 && (ready.revents & POLLNVAL) != 0) {  // the eventfd was closed under the wait: no spinning on it
        ec = make_error_code(boost::system::errc::bad_file_descriptor);
        return count;
      }
    }
  }
  // Completion: void(boost::system::error_code, std::uint32_t count): success as soon as the count differs
  // from `seen` (at once, posted, when it already does). Never completes inline. Errors: not_supported (no
  // interrupt installed), vpci::errc::cancelled (cancellation, close(), the object destroyed), the error
  // that broke the stream. Cancellation: terminal, partial and total (nothing has happened). Any number
  // of waits may be pending; each signal ends them all.
  template <class CompletionToken = vpci::default_completion_token_t<executor_type>>
  auto async_wait_peer_signal(std::uint32_t seen, CompletionToken&& token = CompletionToken{}) {
    return boost::asio::async_compose<CompletionToken, void(boost::system::error_code, std::uint32_t)>(
        signal_wait_op{this, life_, seen}, token, socket_);
  }

  // ---- the server's liveness (transport/traits.hpp; see "The server's liveness" above) ----

  [[nodiscard]] bool peer_alive() const noexcept { return !server_gone_; }
  // Completion: void(boost::system::error_code): success as soon as the server hung up (at once, posted,
  // when it is known to have). Never completes inline. Errors: vpci::errc::cancelled (cancellation, close(),
  // the object destroyed), the error that broke the connection (lasting_failure(): a missed deadline, a
  // broken framing), boost::asio::error::not_connected (no connection). It waits for the socket's hang-up
  // or error condition only: replies and their reads are untouched.
  // Cancellation: terminal, partial and total (nothing has happened).
  template <class CompletionToken = vpci::default_completion_token_t<executor_type>>
  auto async_wait_peer_gone(CompletionToken&& token = CompletionToken{}) {
    return boost::asio::async_compose<CompletionToken, void(boost::system::error_code)>(
        peer_gone_op{this, life_}, token, socket_);
  }

  // ---- config_space_transport ----

  std::size_t read(std::size_t offset, std::span<std::byte> out, boost::system::error_code& ec) {
    plan p(this, plan::kind::read, offset, out);
    return run_sync(p, ec);
  }
  std::size_t write(std::size_t offset, std::span<const std::byte> in, boost::system::error_code& ec) {
    plan p(this, plan::kind::write, offset, {}, in);
    return run_sync(p, ec);
  }

  // VFIO_USER_DEVICE_RESET: the function-level reset (on a vpci server: the layout's FLR, the mailbox window
  // re-initialised with a new epoch). Errors: not_supported (the device did not announce
  // VFIO_DEVICE_FLAGS_RESET; nothing sent), not_connected, and a server's error reply as for accesses.
  void reset(boost::system::error_code& ec) {
    plan p(this, plan::kind::reset);
    run_sync(p, ec);
  }
  // Completion: void(boost::system::error_code); never inline. Errors as reset().
  template <class CompletionToken = vpci::default_completion_token_t<executor_type>>
  auto async_reset(CompletionToken&& token = CompletionToken{}) {
    return async_exchange(plan(this, plan::kind::reset), std::forward<CompletionToken>(token),
                          [](boost::system::error_code ec, std::size_t) { return ec; });
  }

  // Completion: void(boost::system::error_code, std::size_t bytes_transferred); never inline. Errors as
  // read(). No cancellation (see above). `out` must stay valid until completion. Destroying this object
  // completes every pending read, write, reset and connect with operation_aborted (after the destructor,
  // from the executor), as close() does.
  template <class CompletionToken = vpci::default_completion_token_t<executor_type>>
  auto async_read(std::size_t offset, std::span<std::byte> out, CompletionToken&& token = CompletionToken{}) {
    return async_exchange(plan(this, plan::kind::read, offset, out), std::forward<CompletionToken>(token),
                          [](boost::system::error_code ec, std::size_t n) { return std::pair{ec, n}; });
  }
  // As async_read, for write().
  template <class CompletionToken = vpci::default_completion_token_t<executor_type>>
  auto async_write(std::size_t offset, std::span<const std::byte> in, CompletionToken&& token = CompletionToken{}) {
    return async_exchange(plan(this, plan::kind::write, offset, {}, in), std::forward<CompletionToken>(token),
                          [](boost::system::error_code ec, std::size_t n) { return std::pair{ec, n}; });
  }

 private:
  // What a pending completion (a deadline, a signal wait) holds: the object may be gone when it runs.
  struct life_state {
    bool alive{true};
  };

  // One operation's messages: what to send next and what to make of each reply. Owns its buffers.
  class plan {
   public:
    // unmask: no request of its own, only the UNMASK that is due (see unmask_first).
    enum class kind { handshake, read, write, reset, unmask };

    plan(basic_vfio_user_config_space* owner, kind k, std::size_t offset = 0, std::span<std::byte> out = {},
         std::span<const std::byte> in = {})
        : owner_(owner), kind_(k), offset_(offset), out_(out), in_(in) {}

    // Checks made before anything is sent. Errors: not_connected, out_of_range, invalid_argument, read_only.
    [[nodiscard]] boost::system::error_code check() const {
      if (kind_ == kind::handshake) return {};
      if (owner_->size_ == 0 || !owner_->socket_.is_open()) return boost::asio::error::not_connected;
      if (kind_ == kind::unmask) return {};
      if (kind_ == kind::reset)
        return (owner_->device_info_.flags & vfio_user::device_flag_reset) != 0 ? boost::system::error_code{}
                                                                                 : make_error_code(errc::not_supported);
      const std::size_t length = kind_ == kind::read ? out_.size() : in_.size();
      if (const errc e = config::check_access(owner_->size_, offset_, length); e != no_error) return e;
      if (kind_ == kind::write && (owner_->config_region_.flags & vfio_user::region_flag_write) == 0)
        return errc::read_only;
      return {};
    }

    // Encodes the next request into `tx` with message ID `id`; false when the operation is complete.
    bool next(std::vector<std::byte>& tx, std::uint16_t id) {
      id_ = id;
      tx.resize(vfio_user::header_size + vfio_user::region_access_size + max_transfer);
      result<std::size_t> size = errc::invalid_argument;
      in_prefix_ = unmask_first_;
      if (unmask_first_) {
        unmask_first_ = false;
        command_ = vfio_user::command::device_set_irqs;
        size = vfio_user::encode_command(
            id, command_,
            vfio_user::irq_set{vfio_user::irq_set_size, vfio_user::irq_set_data_none | vfio_user::irq_set_action_unmask,
                               vfio_user::pci_intx_irq_index, 0, 1, {}},
            tx);
        tx.resize(*size);
        return true;
      }
      switch (kind_) {
        case kind::handshake:
          if (stage_ == 0) {
            command_ = vfio_user::command::version;
            size = vfio_user::encode_command(id, command_, vfio_user::version{0, vfio_user::version_minor, client_json},
                                             tx);
          } else if (stage_ == 1) {
            command_ = vfio_user::command::device_get_info;
            size = vfio_user::encode_command(id, command_, vfio_user::device_info{}, tx);
          } else if (stage_ == 2) {
            command_ = vfio_user::command::device_get_region_info;
            vfio_user::region_info request{};
            request.index = vfio_user::pci_config_region_index;
            size = vfio_user::encode_command(id, command_, request, tx);
          } else if (stage_ == 3) {
            command_ = vfio_user::command::device_get_irq_info;
            size = vfio_user::encode_command(id, command_, vfio_user::irq_info{16, 0, vfio_user::pci_intx_irq_index, 0}, tx);
          } else if (stage_ == 4) {
            // The eventfd the server will signal; without one (no descriptors left) the client goes on without
            // the interrupt.
            if (!owner_->make_pending_irq_fd()) return false;
            command_ = vfio_user::command::device_set_irqs;
            size = vfio_user::encode_command(
                id, command_,
                vfio_user::irq_set{vfio_user::irq_set_size, vfio_user::irq_set_data_eventfd | vfio_user::irq_set_action_trigger,
                                   vfio_user::pci_intx_irq_index, 0, 1, {}},
                tx);
          } else {
            return false;
          }
          break;
        case kind::unmask:
          return false;
        case kind::reset:
          if (stage_ != 0) return false;
          command_ = vfio_user::command::device_reset;
          size = vfio_user::encode_command(id, command_, tx);
          break;
        case kind::read:
        case kind::write: {
          const std::size_t total = kind_ == kind::read ? out_.size() : in_.size();
          if (done_ == total) return false;
          const std::size_t at = offset_ + done_;
          chunk_ = std::min(total - done_, owner_->chunk_ - (at & 3));
          vfio_user::region_access access{at, vfio_user::pci_config_region_index, static_cast<std::uint32_t>(chunk_)};
          if (kind_ == kind::read) {
            command_ = vfio_user::command::region_read;
          } else {
            command_ = vfio_user::command::region_write;
            access.data = in_.subspan(done_, chunk_);
          }
          size = vfio_user::encode_command(id, command_, access, tx);
          break;
        }
      }
      tx.resize(*size);  // the buffer is sized for every request above: encoding cannot fail
      return true;
    }

    [[nodiscard]] std::uint16_t id() const noexcept { return id_; }
    [[nodiscard]] vfio_user::command expected_command() const noexcept { return command_; }
    [[nodiscard]] std::size_t transferred() const noexcept { return done_; }
    [[nodiscard]] bool is_handshake() const noexcept { return kind_ == kind::handshake; }
    // Sends the due UNMASK before this operation's own requests.
    void unmask_first() noexcept { unmask_first_ = true; }
    // The descriptor to pass with the request just encoded (SCM_RIGHTS), or -1.
    [[nodiscard]] int pass_fd() const noexcept {
      return kind_ == kind::handshake && stage_ == 4 && !in_prefix_ ? owner_->pending_irq_fd_ : -1;
    }
    // An error reply to the interrupt's requests (GET_IRQ_INFO, SET_IRQS, UNMASK) means "no interrupt" and is
    // not the operation's error.
    [[nodiscard]] bool tolerates_refusal() const noexcept {
      return in_prefix_ || (kind_ == kind::handshake && stage_ >= 3);
    }
    void refused() noexcept {
      if (in_prefix_) return;
      owner_->drop_interrupt();
      stage_ = handshake_done;
    }

    // The reply to the request just sent, its header already checked (a reply, this ID and command, no
    // error). Errors: the handshake's verdicts, malformed_message.
    boost::system::error_code accept(std::span<const std::byte> payload) {
      if (in_prefix_) return payload.empty() ? boost::system::error_code{} : make_error_code(errc::malformed_message);
      switch (kind_) {
        case kind::unmask:
          return {};
        case kind::handshake:
          return accept_handshake(payload);
        case kind::reset:
          ++stage_;
          return payload.empty() ? boost::system::error_code{} : make_error_code(errc::malformed_message);
        case kind::read: {
          auto reply = vfio_user::decode_region_access(payload, true);
          if (!reply) return errc::malformed_message;
          if (!echoes(*reply)) return errc::malformed_message;
          std::copy(reply->data.begin(), reply->data.end(), out_.begin() + static_cast<std::ptrdiff_t>(done_));
          done_ += chunk_;
          return {};
        }
        case kind::write: {
          auto reply = vfio_user::decode_region_access(payload, false);
          if (!reply || !echoes(*reply)) return errc::malformed_message;
          done_ += chunk_;
          return {};
        }
      }
      return errc::malformed_message;
    }

   private:
    [[nodiscard]] bool echoes(const vfio_user::region_access& reply) const noexcept {
      return reply.offset == offset_ + done_ && reply.region == vfio_user::pci_config_region_index &&
             reply.count == chunk_;
    }

    boost::system::error_code accept_handshake(std::span<const std::byte> payload) {
      const int stage = stage_++;
      if (stage == 0) {
        auto v = vfio_user::decode_version(payload);
        if (!v) return errc::malformed_message;
        if (v->major != vfio_user::version_major) return errc::not_supported;
        if (v->minor > vfio_user::version_minor) return errc::malformed_message;
        auto caps = vfio_user::parse_capabilities(v->json);
        if (!caps) return errc::malformed_message;
        if (caps->max_data_xfer_size < 4) return errc::not_supported;
        owner_->minor_ = v->minor;
        owner_->server_caps_ = *caps;
        owner_->chunk_ = std::min<std::size_t>(max_transfer, caps->max_data_xfer_size) & ~std::size_t{3};
        return {};
      }
      if (stage == 1) {
        auto info = vfio_user::decode_device_info(payload);
        if (!info) return errc::malformed_message;
        if ((info->flags & vfio_user::device_flag_pci) == 0 ||
            info->num_regions <= vfio_user::pci_config_region_index)
          return errc::not_supported;
        owner_->device_info_ = *info;
        return {};
      }
      if (stage == 2) {
        auto region = vfio_user::decode_region_info(payload);  // at most the argsz (32) this client gave
        if (!region || region->index != vfio_user::pci_config_region_index) return errc::malformed_message;
        if (region->size < config::conventional_space_size || (region->flags & vfio_user::region_flag_read) == 0)
          return errc::not_supported;
        owner_->config_region_ = *region;
        owner_->size_ =
            region->size >= config::extended_space_size ? config::extended_space_size : config::conventional_space_size;
        if (!owner_->use_interrupt_ || owner_->device_info_.num_irqs <= vfio_user::pci_intx_irq_index)
          stage_ = handshake_done;  // no INTx wanted or none offered
        return {};
      }
      if (stage == 3) {
        auto irq = vfio_user::decode_irq_info(payload);
        if (!irq || irq->index != vfio_user::pci_intx_irq_index) return errc::malformed_message;
        if (irq->count == 0 || (irq->flags & vfio_user::irq_info_eventfd) == 0) stage_ = handshake_done;
        return {};
      }
      // stage 4: the eventfd is installed.
      if (!payload.empty()) return errc::malformed_message;
      owner_->adopt_pending_irq_fd();
      return {};
    }

    static constexpr int handshake_done = 5;

    static constexpr std::string_view client_json = R"({"capabilities":{"max_msg_fds":1,"max_data_xfer_size":4096}})";

    basic_vfio_user_config_space* owner_;
    kind kind_;
    std::size_t offset_;
    std::span<std::byte> out_;
    std::span<const std::byte> in_;
    std::size_t done_{0};
    std::size_t chunk_{0};
    int stage_{0};
    std::uint16_t id_{0};
    vfio_user::command command_{vfio_user::command::version};
    bool unmask_first_{false};
    bool in_prefix_{false};  // the request on the wire is the UNMASK sent first
  };

  // A new connection: a generation of its own.
  void reset_state() noexcept {
    ++generation_;
    ++deadline_generation_;
    drop_interrupt();
    size_ = 0;
    broken_ = {};
    server_gone_ = false;
    chunk_ = max_transfer;
    server_caps_ = {};
    device_info_ = {};
    config_region_ = {};
    minor_ = 0;
  }

  // Verdict on a reply header before its payload is read: framing errors break the stream. A reply's
  // command is its request's, or 0: libvfio-user's servers before it echoed the command wrote 0 there
  // (lib/tran_sock.c, "FIXME: SPEC: should the reply include the command?"), and QEMU's and SPDK's
  // clients match a reply by its message ID alone. Another command is a reply to something else.
  [[nodiscard]] static boost::system::error_code check_header(const vfio_user::header& h, const plan& p) {
    if (h.message_size > max_reply_size || !h.is_reply() || h.message_id != p.id() ||
        (h.command != 0 && h.command != static_cast<std::uint16_t>(p.expected_command())))
      return errc::protocol_violation;
    return {};
  }
  // Verdict on a complete reply whose framing is fine.
  [[nodiscard]] static boost::system::error_code check_reply(const vfio_user::header& h, plan& p,
                                                             std::span<const std::byte> payload) {
    if (h.error()) {
      // The errno is the answer; a payload beside it (libvfio-user sends the reply it had prepared, a failed
      // REGION_READ's data included) is read whole like any other and ignored.
      if (p.tolerates_refusal()) {
        p.refused();
        return {};
      }
      if (h.error_number == 0) return errc::device_error;
      return boost::system::error_code(static_cast<int>(h.error_number), boost::system::system_category());
    }
    return p.accept(payload);
  }

  // Asio records where in its own sources a socket call failed; that location would follow the code into
  // system_error::what() and error_code::what() of every caller ("[system:2 at .../reactive_socket_service.hpp
  // ...]"), naming Boost's files instead of the failure. The code and category are what the caller gets.
  [[nodiscard]] static boost::system::error_code without_source_location(const boost::system::error_code& ec) noexcept {
    if (!ec.has_location()) return ec;
    return {ec.value(), ec.category()};
  }

  void break_stream(boost::system::error_code ec) noexcept {
    if (!broken_) broken_ = ec;
    if (closed_by_peer(ec)) server_gone_ = true;
    boost::system::error_code ignored;
    socket_.close(ignored);
    size_ = 0;
    drop_interrupt();
  }

  std::size_t run_sync(plan& p, boost::system::error_code& ec) {
    ec = broken_ ? broken_ : p.check();
    if (!ec && active_) ec = errc::busy;
    if (ec) return 0;
    take_due_unmask(p);
    std::vector<std::byte> tx;
    std::vector<std::byte> rx(max_reply_size);
    while (p.next(tx, next_id_)) {
      ++next_id_;
      const std::uint64_t deadline = deadline_after(timing_.now(), reply_timeout_);
      if (const int fd = p.pass_fd(); fd >= 0)
        send_with_fd(tx, fd, ec);
      else
        transfer_sync(POLLOUT, std::span<std::byte>(tx), deadline, ec);
      if (!ec) transfer_sync(POLLIN, std::span<std::byte>(rx.data(), vfio_user::header_size), deadline, ec);
      if (ec) {
        break_stream(ec);
        return 0;
      }
      auto h = vfio_user::decode_header(std::span<const std::byte>(rx.data(), vfio_user::header_size));
      ec = h ? check_header(*h, p) : boost::system::error_code(errc::protocol_violation);
      if (!ec && h->payload_size() != 0)
        transfer_sync(POLLIN, std::span<std::byte>(rx.data() + vfio_user::header_size, h->payload_size()), deadline,
                      ec);
      if (ec) {  // a framing verdict or an I/O error: the stream is out of step
        break_stream(ec);
        return 0;
      }
      ec = check_reply(*h, p, std::span<const std::byte>(rx.data() + vfio_user::header_size, h->payload_size()));
      if (ec) return 0;
    }
    return p.transferred();
  }

  // The client's one blocking wait: polls `ready` with what is left before `deadline`. 1: ready (revents
  // set); 0: not yet (a signal interrupted the poll, or, under virtual time, where it only looks, the
  // clock was moved to the deadline): the caller looks again; -1: `ec` says why it ends, errc::timeout
  // (the deadline passed) or poll's own failure. A signal leaves the wait the rest of its time, and a wait
  // longer than one poll's limit (INT_MAX ms) is polled again.
  int poll_before(pollfd& ready, std::uint64_t deadline, boost::system::error_code& ec) const {
    const std::uint64_t now = timing_.now();
    if (now >= deadline) {
      ec = errc::timeout;
      return -1;
    }
    const std::uint64_t wait_ms = (deadline - now + 999'999) / 1'000'000;
    const int n = ::poll(&ready, 1, Timing::is_virtual ? 0 : static_cast<int>(std::min<std::uint64_t>(wait_ms, INT_MAX)));
    if (n < 0 && errno != EINTR) {
      ec = boost::system::error_code(errno, boost::system::system_category());
      return -1;
    }
    if (n == 0 && Timing::is_virtual) timing_.sleep_until(deadline);
    return n > 0 ? 1 : 0;
  }

  // Writes (POLLOUT) or reads (POLLIN) all of `bytes` before `deadline`: errc::timeout when it passes, the
  // socket's errors unchanged. Under virtual time it only looks at the socket and then moves time to the
  // deadline (the timing policy's rule for blocking waits).
  void transfer_sync(short direction, std::span<std::byte> bytes, std::uint64_t deadline, boost::system::error_code& ec) {
    std::size_t done = 0;
    while (done < bytes.size()) {
      pollfd ready{socket_.native_handle(), direction, 0};
      const int n = poll_before(ready, deadline, ec);
      if (n < 0) return;
      if (n == 0) continue;
      // Ready (or hung up / failed, which the transfer reports): this does not block.
      const std::span<std::byte> rest = bytes.subspan(done);
      done += direction == POLLIN ? socket_.read_some(boost::asio::buffer(rest.data(), rest.size()), ec)
                                  : socket_.write_some(boost::asio::buffer(rest.data(), rest.size()), ec);
      ec = without_source_location(ec);
      if (ec) return;
    }
  }

  void handshake_sync(boost::system::error_code& ec) {
    plan p(this, plan::kind::handshake);
    run_sync(p, ec);
    if (ec) fail_handshake(ec);
  }
  // A server that closed the connection before the handshake finished is said so: the socket's error for
  // it (an end of file, a reset, a broken pipe, whichever the timing gave) names no cause.
  void fail_handshake(boost::system::error_code& ec) noexcept {
    if (server_gone_) ec = errc::connection_closed;
    boost::system::error_code ignored;
    socket_.close(ignored);
    size_ = 0;
    drop_interrupt();
  }

  // Sends `tx` with `fd` as SCM_RIGHTS (the SET_IRQS of the handshake: a few bytes into a socket the server
  // has just emptied, so the blocking send does not wait).
  void send_with_fd(std::span<const std::byte> tx, int fd, boost::system::error_code& ec) {
    if (const int error = detail::vfio_user_send(socket_.native_handle(), tx, std::span<const int>(&fd, 1)); error != 0)
      ec = boost::system::error_code(error, boost::system::system_category());
  }

  // ---- the interrupt ----

  void take_due_unmask(plan& p) noexcept {
    if (unmask_due_ && !p.is_handshake()) {
      p.unmask_first();
      unmask_due_ = false;
    }
  }
  bool make_pending_irq_fd() noexcept {
    if (pending_irq_fd_ < 0) pending_irq_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    return pending_irq_fd_ >= 0;
  }
  void adopt_pending_irq_fd() {
    boost::system::error_code ec;
    irq_.assign(pending_irq_fd_, ec);
    if (ec) {
      ::close(pending_irq_fd_);
    } else {
      irq_native_ = pending_irq_fd_;
    }
    pending_irq_fd_ = -1;
  }
  // Closes the eventfd (pending waits end with cancelled) and forgets a due UNMASK.
  void drop_interrupt() noexcept {
    if (pending_irq_fd_ >= 0) ::close(pending_irq_fd_);
    pending_irq_fd_ = -1;
    boost::system::error_code ignored;
    irq_.close(ignored);
    irq_native_ = -1;
    unmask_due_ = false;
  }
  // Reads the eventfd without blocking: a signal counts once and makes an UNMASK due.
  std::uint32_t drain_signals() const noexcept {
    if (irq_native_ < 0) return signals_;
    std::uint64_t count = 0;
    ssize_t n;
    do {
      n = ::read(irq_native_, &count, sizeof count);
    } while (n < 0 && errno == EINTR);
    if (n == static_cast<ssize_t>(sizeof count) && count != 0) {
      ++signals_;
      unmask_due_ = true;
    }
    return signals_;
  }
  // Sends the due UNMASK as an operation of its own, queued behind those started before (one at a time;
  // an operation that starts first takes it instead and this one then sends nothing).
  void schedule_unmask() {
    if (!unmask_due_ || unmask_queued_ || size_ == 0) return;
    unmask_queued_ = true;
    async_exchange(plan(this, plan::kind::unmask), [this, life = life_](boost::system::error_code, std::size_t) {
      if (life->alive) unmask_queued_ = false;
    }, [](boost::system::error_code ec, std::size_t n) { return std::pair{ec, n}; });
  }

  struct signal_wait_op {
    basic_vfio_user_config_space* self;
    std::shared_ptr<life_state> life;
    std::uint32_t seen;
    bool started{false};
    std::uint64_t generation{0};  // the connection it waits on

    template <class Self>
    void operator()(Self& s, boost::system::error_code ec = {}) {
      if (!started) {
        started = true;
        generation = self->generation_;
        s.reset_cancellation_state(boost::asio::enable_total_cancellation());
        boost::asio::post(self->socket_.get_executor(), std::move(s));  // never complete inline
        return;
      }
      ec = without_source_location(ec);
      if (!life->alive) return s.complete(make_error_code(errc::cancelled), std::uint32_t{0});
      if (generation != self->generation_)  // closed by this side, or another connection since
        return s.complete(make_error_code(errc::cancelled), self->signals_);
      if (ec == boost::asio::error::operation_aborted || (!ec && s.cancelled() != boost::asio::cancellation_type::none))
        return s.complete(self->broken_ ? self->broken_ : make_error_code(errc::cancelled), self->signals_);
      if (ec) return s.complete(ec, self->signals_);
      const std::uint32_t now = self->drain_signals();
      self->schedule_unmask();
      if (now != seen) return s.complete(boost::system::error_code{}, now);
      if (self->irq_native_ < 0)
        return s.complete(self->broken_ ? self->broken_ : make_error_code(errc::not_supported), now);
      self->irq_.async_wait(boost::asio::posix::stream_descriptor::wait_read, std::move(s));
    }
  };

  struct peer_gone_op {
    basic_vfio_user_config_space* self;
    std::shared_ptr<life_state> life;
    bool started{false};
    bool waited{false};  // the socket wait is armed: its success is the hang-up
    std::uint64_t generation{0};  // the connection it waits on

    template <class Self>
    void operator()(Self& s, boost::system::error_code ec = {}) {
      using boost::asio::cancellation_type;
      if (!started) {
        started = true;
        generation = self->generation_;
        s.reset_cancellation_state(boost::asio::enable_total_cancellation());
        boost::asio::post(self->socket_.get_executor(), std::move(s));  // never complete inline
        return;
      }
      ec = without_source_location(ec);
      if (!life->alive) return s.complete(make_error_code(errc::cancelled));
      // Closed by this side, or another connection since: nothing of the current one is known from here.
      if (generation != self->generation_) return s.complete(make_error_code(errc::cancelled));
      if (self->server_gone_) return s.complete(boost::system::error_code{});
      if (s.cancelled() != cancellation_type::none) return s.complete(make_error_code(errc::cancelled));
      if (ec == boost::asio::error::operation_aborted)  // this side closed the socket
        return s.complete(self->broken_ ? self->broken_ : make_error_code(errc::cancelled));
      if (ec) return s.complete(ec);
      if (waited) {  // the socket's hang-up or error condition (epoll reports both to an error wait)
        self->server_gone_ = true;
        return s.complete(boost::system::error_code{});
      }
      if (!self->socket_.is_open() || self->size_ == 0)
        return s.complete(self->broken_ ? self->broken_ : boost::system::error_code(boost::asio::error::not_connected));
      waited = true;
      self->socket_.async_wait(socket_type::wait_error, std::move(s));
    }
  };

  // The socket's operations never see the caller's cancellation slot: a request half written, or a reply
  // half read, would leave the stream out of step (see "Cancellation" above).
  template <class Handler>
  static auto uncancellable(Handler&& handler) {
    return boost::asio::bind_cancellation_slot(boost::asio::cancellation_slot(), std::forward<Handler>(handler));
  }

  // The asynchronous engine: one operation's exchanges, queued behind the operations started before it.
  template <class Adapt>
  struct exchange_op {
    basic_vfio_user_config_space* self;
    std::shared_ptr<life_state> life;  // self is gone once this says so: complete without touching it
    std::unique_ptr<plan> p;
    Adapt adapt;  // (ec, n) -> the completion's arguments
    enum class state { start, queued, running, writing, reading_header, reading_payload } at{state::start};
    std::vector<std::byte> tx{};
    std::vector<std::byte> rx{};
    vfio_user::header h{};
    std::uint64_t generation{0};  // the connection it was started on

    template <class Self>
    void operator()(Self& s) {
      if (at == state::start) {
        generation = self->generation_;
        if (self->active_) {
          at = state::queued;
          // Resumed by posting the operation itself, so that its step runs through the handler's executor
          // (a plain function posted to the socket's ran it, and a completion made there, on the socket's).
          auto shared = std::make_shared<Self>(std::move(s));
          self->waiting_.push_back(
              [shared, executor = self->socket_.get_executor()] { boost::asio::post(executor, std::move(*shared)); });
          return;
        }
        self->active_ = true;
        at = state::running;
        boost::asio::post(self->socket_.get_executor(), std::move(s));  // never complete inline
        return;
      }
      // Resumed by the operation before it, which handed the stream over (active_ stayed true), or by the
      // destructor.
      if (!life->alive) return abandon(s);
      at = state::running;
      if (generation != self->generation_) return finish(s, boost::asio::error::operation_aborted);
      boost::system::error_code ec = self->broken_ ? self->broken_ : p->check();
      if (ec) return finish(s, ec);
      self->take_due_unmask(*p);
      send_next(s);
    }

    template <class Self>
    void operator()(Self& s, boost::system::error_code ec, std::size_t) {
      if (!life->alive) return abandon(s);  // the object was destroyed: its socket ended this I/O
      ec = without_source_location(ec);
      // This side closed the connection (or opened another) since: the I/O belonged to a connection that is
      // gone, and its errors say nothing of the current one.
      if (generation != self->generation_) return finish(s, boost::asio::error::operation_aborted);
      if (ec) {
        self->break_stream(ec);
        return finish(s, self->broken_);  // the deadline's timeout when it closed the socket under us
      }
      if (at == state::writing) {
        at = state::reading_header;
        rx.resize(max_reply_size);
        // The buffer is taken before `s` (which owns rx) is moved: argument evaluation order is unspecified.
        const auto into = boost::asio::buffer(rx.data(), vfio_user::header_size);
        boost::asio::async_read(self->socket_, into, uncancellable(std::move(s)));
        return;
      }
      if (at == state::reading_header) {
        auto decoded = vfio_user::decode_header(std::span<const std::byte>(rx.data(), vfio_user::header_size));
        ec = decoded ? check_header(*decoded, *p) : boost::system::error_code(errc::protocol_violation);
        if (ec) {
          self->break_stream(ec);
          return finish(s, ec);
        }
        h = *decoded;
        if (h.payload_size() != 0) {
          at = state::reading_payload;
          const auto into = boost::asio::buffer(rx.data() + vfio_user::header_size, h.payload_size());
          boost::asio::async_read(self->socket_, into, uncancellable(std::move(s)));
          return;
        }
      }
      ec = check_reply(h, *p, std::span<const std::byte>(rx.data() + vfio_user::header_size, h.payload_size()));
      if (ec) return finish(s, ec);
      send_next(s);
    }

    template <class Self>
    void send_next(Self& s) {
      if (!p->next(tx, self->next_id_)) return finish(s, {});
      ++self->next_id_;
      at = state::writing;
      self->arm_deadline();
      if (const int fd = p->pass_fd(); fd >= 0) {
        boost::system::error_code ec;
        self->send_with_fd(tx, fd, ec);
        const std::size_t n = ec ? 0 : tx.size();
        boost::asio::post(self->socket_.get_executor(),
                          [s = std::move(s), ec, n]() mutable { s(ec, n); });
        return;
      }
      const auto from = boost::asio::buffer(tx);
      boost::asio::async_write(self->socket_, from, uncancellable(std::move(s)));
    }

    template <class Self>
    void finish(Self& s, boost::system::error_code ec) {
      const std::size_t n = ec ? 0 : p->transferred();
      self->disarm_deadline();
      if (ec && p->is_handshake() && generation == self->generation_) self->fail_handshake(ec);
      self->release_stream();
      std::apply([&s](auto&&... args) { s.complete(std::forward<decltype(args)>(args)...); }, as_tuple(adapt(ec, n)));
    }

    // The object is gone: nothing of it is touched (its stream, deadline and queue went with it).
    template <class Self>
    void abandon(Self& s) {
      std::apply([&s](auto&&... args) { s.complete(std::forward<decltype(args)>(args)...); },
                 as_tuple(adapt(boost::asio::error::operation_aborted, 0)));
    }

    static std::tuple<boost::system::error_code> as_tuple(boost::system::error_code ec) { return {ec}; }
    static std::tuple<boost::system::error_code, std::size_t> as_tuple(std::pair<boost::system::error_code, std::size_t> r) {
      return {r.first, r.second};
    }
  };

  template <class CompletionToken, class Adapt>
  auto async_exchange(plan p, CompletionToken&& token, Adapt adapt) {
    using signature = std::conditional_t<std::is_same_v<std::invoke_result_t<Adapt, boost::system::error_code, std::size_t>,
                                                        boost::system::error_code>,
                                         void(boost::system::error_code), void(boost::system::error_code, std::size_t)>;
    return boost::asio::async_compose<CompletionToken, signature>(
        exchange_op<Adapt>{this, life_, std::make_unique<plan>(std::move(p)), std::move(adapt)}, token, socket_);
  }

  // Ends the turn of the operation that had the stream: the first one queued gets it (handed over: active_
  // stays true, so nothing started meanwhile runs ahead of it), else the stream is free.
  void release_stream() {
    if (waiting_.empty()) {
      active_ = false;
      return;
    }
    auto resume_next = std::move(waiting_.front());
    waiting_.pop_front();
    resume_next();  // posts it: it never runs inside this call
  }

  // async_open / async_connect refused (busy, or a path too long): nothing changes.
  template <class Self>
  void refuse(Self& s, boost::system::error_code ec) {
    boost::asio::post(socket_.get_executor(), boost::asio::append(std::move(s), ec));
  }

  // The socket address of `path`, or name_too_long when sun_path cannot hold it (Asio's endpoint throws
  // then, which the error-code forms must not).
  static protocol_type::endpoint endpoint_of(const std::string& path, boost::system::error_code& ec) {
    if (path.size() >= sizeof(::sockaddr_un{}.sun_path)) {
      ec = boost::asio::error::name_too_long;
      return {};
    }
    ec = {};
    return protocol_type::endpoint(path);
  }

  // async_open: the socket adopted, then the handshake.
  struct open_op {
    basic_vfio_user_config_space* self;
    socket_type socket;

    template <class Self>
    void operator()(Self& s) {
      if (self->active_) return self->refuse(s, make_error_code(errc::busy));  // it still uses the connection
      self->reset_state();
      self->socket_ = std::move(socket);
      self->async_exchange(plan(self, plan::kind::handshake), std::move(s),
                           [](boost::system::error_code e, std::size_t) { return e; });
    }
    template <class Self>
    void operator()(Self& s, boost::system::error_code ec) {
      s.complete(ec);
    }
  };

  // async_connect: the socket's connect, then the handshake. It holds the stream while it connects, so that
  // operations started meanwhile queue behind its handshake.
  struct connect_op {
    basic_vfio_user_config_space* self;
    std::shared_ptr<life_state> life;
    std::string path;
    enum class state { start, connecting, handshaking } at{state::start};
    std::uint64_t generation{0};

    template <class Self>
    void operator()(Self& s) {
      if (self->active_) return self->refuse(s, make_error_code(errc::busy));
      boost::system::error_code invalid;
      const auto endpoint = endpoint_of(path, invalid);
      if (invalid) return self->refuse(s, invalid);
      self->active_ = true;
      self->reset_state();
      generation = self->generation_;
      boost::system::error_code ignored;
      self->socket_.close(ignored);
      at = state::connecting;
      self->socket_.async_connect(endpoint, uncancellable(std::move(s)));
    }
    template <class Self>
    void operator()(Self& s, boost::system::error_code ec) {
      if (at != state::connecting) return s.complete(ec);  // refused, or the handshake's verdict
      if (!life->alive) return s.complete(boost::asio::error::operation_aborted);  // destroyed while connecting
      at = state::handshaking;
      ec = without_source_location(ec);
      if (generation != self->generation_) ec = boost::asio::error::operation_aborted;  // closed meanwhile
      if (ec) {
        if (generation == self->generation_) {
          boost::system::error_code ignored;
          self->socket_.close(ignored);
        }
        self->release_stream();
        return s.complete(ec);
      }
      // The handshake takes the stream at once: it starts before anything queued meanwhile.
      self->active_ = false;
      self->async_exchange(plan(self, plan::kind::handshake), std::move(s),
                           [](boost::system::error_code e, std::size_t) { return e; });
    }
  };

  // Arms the reply deadline of the request about to be sent; expiry breaks the stream with errc::timeout
  // (closing the socket ends the pending write or read, which then reports broken_).
  void arm_deadline() {
    const std::uint64_t generation = ++deadline_generation_;
    timer_.expires_at(deadline_after(timing_.now(), reply_timeout_));
    timer_.async_wait([this, life = life_, generation](boost::system::error_code ec) {
      if (!life->alive || ec || generation != deadline_generation_) return;  // gone, cancelled or superseded
      break_stream(errc::timeout);
    });
  }
  void disarm_deadline() {
    ++deadline_generation_;
    timer_.cancel();
  }

  socket_type socket_;
  boost::asio::posix::stream_descriptor irq_;  // the installed eventfd
  int irq_native_{-1};
  int pending_irq_fd_{-1};                      // created for SET_IRQS, installed when the server accepts it
  mutable std::uint32_t signals_{0};
  mutable bool unmask_due_{false};
  bool unmask_queued_{false};
  std::shared_ptr<life_state> life_{std::make_shared<life_state>()};
  bool use_interrupt_;
  std::chrono::nanoseconds reply_timeout_;
  Timing timing_;
  typename Timing::timer_type timer_;
  std::uint64_t deadline_generation_{0};
  std::size_t size_{0};
  std::size_t chunk_{max_transfer};
  std::uint16_t next_id_{1};
  std::uint16_t minor_{0};
  vfio_user::capabilities server_caps_{};
  vfio_user::device_info device_info_{};
  vfio_user::region_info config_region_{};
  boost::system::error_code broken_{};
  bool server_gone_{false};
  // An asynchronous operation has the stream (or has been handed it, posted); the others wait in waiting_.
  bool active_{false};
  // The connection's generation: a new one for each connect/open, and when this side closes it.
  std::uint64_t generation_{0};
  std::deque<std::function<void()>> waiting_;
};

using vfio_user_config_space = basic_vfio_user_config_space<>;

static_assert(config_space_transport<vfio_user_config_space>);
static_assert(config_space_transport<basic_vfio_user_config_space<manual_timing>>);
static_assert(peer_signalling_transport<vfio_user_config_space>);

}  // namespace vpci
