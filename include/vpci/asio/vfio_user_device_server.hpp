// vpci::vfio_user_device_server: one function's configuration space served to a vfio-user client (QEMU
// 10.1's vfio-user-pci, vpci's vfio_user_config_space, any client of QEMU docs/interop/vfio-user.rst) over
// an AF_UNIX stream socket, and vpci::vfio_user_device_space, the space it serves.
//
// vfio_user_device_space is the VF's config space as the device process holds it, a config_space_transport
// with two sides (transport/traits.hpp):
// - the driver side, read/write/async_read/async_write: what the vfio-user client's REGION_READ/REGION_WRITE
//   of region 7 reach, through the register semantics of the memory model inside (read-only bits stay,
//   write hooks run: a pf_endpoint attached here serves its mailbox inside the client's write);
// - the device side, write_unsignalled + signal_peer: the PF's stores bypass register semantics and hooks,
//   and signal_peer raises the function's interrupt (INTx, below) once per update. So pf_endpoint announces
//   the SIGNAL capability in the window (docs/protocol.md) and raises the interrupt while the VF asks.
// model() gives the memory_config_space itself, for the device's own header (vendor ID, class, ...).
//
// The server answers, per message (docs/vfio-user.md lists every verdict):
// - VFIO_USER_VERSION: major 0 (another: ENOTSUP), minor min(proposed, 1), capabilities
//   {"max_msg_fds":8,"max_data_xfer_size":4096}; the client's JSON must parse (EINVAL). Required first: any
//   other command before it, or a second VERSION, gets EINVAL.
// - DEVICE_GET_INFO: flags PCI (| RESET when a reset function is given), 9 regions, 5 IRQ types.
// - DEVICE_GET_REGION_INFO: region 7 readable and writable, the space's size; regions 0-6 and 8 size 0 and
//   no flags; an index of 9 or more EINVAL.
// - REGION_READ / REGION_WRITE: region 7 only, 1..4096 bytes inside the space (else EINVAL), performed as one
//   driver-side call of the space.
// - DEVICE_GET_IRQ_INFO: index 0 (INTx): count 1, EVENTFD | MASKABLE | AUTOMASKED; MSI, MSI-X, ERR, REQ:
//   count 0; an index of 5 or more EINVAL.
// - DEVICE_SET_IRQS on INTx: TRIGGER with EVENTFD installs the eventfd (count 1, one descriptor) or removes it
//   (count 1, no descriptor); TRIGGER with NONE/BOOL fires the interrupt; MASK/UNMASK with NONE/BOOL mask and
//   unmask it (an unmask delivers an interrupt raised while masked); UNMASK with EVENTFD installs or removes
//   the unmask ("resample") eventfd: INTx is unmasked whenever it becomes readable, which is how QEMU ends
//   an interrupt under KVM (the guest's EOI reaches only that eventfd). MASK with EVENTFD and other shapes
//   EINVAL. On the other IRQ types only "disable all" (DATA_NONE, start 0, count 0) succeeds. Descriptors a
//   message does not use are closed. A descriptor that is not an eventfd is refused (EINVAL, the one
//   installed before kept): the server writes the trigger eventfd at each interrupt, and a pipe or socket whose
//   reader the client closed would raise SIGPIPE there, whose default action ends the process, the PF and
//   every VF it serves with it. Both eventfds are made non-blocking (O_NONBLOCK on the description the
//   client shares): a blocking one whose counter the client filled would otherwise stop the thread the
//   server shares with the PF at the next interrupt. Disabling INTx (TRIGGER, DATA_NONE, count 0) tears it
//   down as VFIO does: both eventfds removed and INTx unmasked, so a later enable starts unmasked (an
//   interrupt still pending is delivered by the next install).
// - DEVICE_RESET: the reset function (pf_endpoint::reset_vf: the layout's FLR semantics, the window
//   re-initialised with a new epoch); ENOTSUP without one, EIO when it fails. The interrupt is unmasked.
// - DMA_MAP / DMA_UNMAP: accepted and ignored (the function does no DMA); passed descriptors closed; the
//   unmap reply echoes the request. Unmap flags: 0 or VFIO_DMA_UNMAP_FLAG_ALL (QEMU sends it when a vIOMMU
//   drops the whole address space); the dirty bitmap or anything else EINVAL.
// - anything else: ENOTSUP; a message of more than 16 + 4112 bytes: its payload is read and dropped (64 KiB
//   per turn of the executor), E2BIG.
// A command with No_reply set gets no reply, error or not. Malformed payloads (sizes, argsz too small,
// reserved values) get EINVAL; nothing changes then. A message whose handling the user's code interrupts
// with an exception (a write hook, an access observer, the reset function) is answered EIO; serving goes
// on, and the exception goes out of the executor's run().
//
// Interrupt: signal_peer() writes 1 to the installed eventfd unless INTx is masked; delivery masks it
// (AUTOMASKED: the client unmasks after handling, as for INTx under VFIO). With no eventfd, or while
// masked, the interrupt stays pending and is delivered by the next install or unmask.
//
// Threading: a server, its space, the pf_endpoint serving the space and the connection are used from one
// thread (the connection's executor). One client at a time per server (one socket per VF): each VF has its own space,
// server and socket, so one client's messages never reach another VF's state.
#pragma once

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/append.hpp>
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/cancellation_type.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/system/error_code.hpp>
#include <boost/system/system_error.hpp>

#include <vpci/asio/pf_mailbox_server.hpp>
#include <vpci/config/access.hpp>
#include <vpci/error.hpp>
#include <vpci/transport/concept.hpp>
#include <vpci/transport/default_token.hpp>
#include <vpci/transport/detail/vfio_user_fds.hpp>
#include <vpci/transport/detail/would_block.hpp>
#include <vpci/transport/memory_config_space.hpp>
#include <vpci/transport/traits.hpp>
#include <vpci/wire/vfio_user.hpp>

namespace vpci {

class vfio_user_device_space {
 public:
  using executor_type = boost::asio::any_io_executor;
  // Accesses touch memory only.
  static constexpr bool nonblocking_access = true;

  // A zero-filled space of `size` bytes (256 or 4096; else std::invalid_argument), every bit writable by
  // the driver side until the device says otherwise.
  explicit vfio_user_device_space(executor_type executor, std::size_t size = config::extended_space_size)
      : model_(std::move(executor), size) {}
  template <class ExecutionContext>
    requires std::convertible_to<ExecutionContext&, boost::asio::execution_context&>
  explicit vfio_user_device_space(ExecutionContext& context, std::size_t size = config::extended_space_size)
      : vfio_user_device_space(executor_type(context.get_executor()), size) {}
  vfio_user_device_space(const vfio_user_device_space&) = delete;
  vfio_user_device_space& operator=(const vfio_user_device_space&) = delete;

  [[nodiscard]] executor_type get_executor() const noexcept { return model_.get_executor(); }
  [[nodiscard]] std::size_t size() const noexcept { return model_.size(); }

  // ---- the driver side (the vfio-user client's accesses) ----
  std::size_t read(std::size_t offset, std::span<std::byte> out, boost::system::error_code& ec) {
    return model_.read(offset, out, ec);
  }
  std::size_t write(std::size_t offset, std::span<const std::byte> in, boost::system::error_code& ec) {
    return model_.write(offset, in, ec);
  }
  // As memory_config_space's: void(boost::system::error_code, std::size_t), never inline.
  template <class CompletionToken = vpci::default_completion_token_t<executor_type>>
  auto async_read(std::size_t offset, std::span<std::byte> out, CompletionToken&& token = CompletionToken{}) {
    return model_.async_read(offset, out, std::forward<CompletionToken>(token));
  }
  template <class CompletionToken = vpci::default_completion_token_t<executor_type>>
  auto async_write(std::size_t offset, std::span<const std::byte> in, CompletionToken&& token = CompletionToken{}) {
    return model_.async_write(offset, in, std::forward<CompletionToken>(token));
  }
  write_hook_id add_write_hook(std::function<void(std::size_t, std::size_t)> hook) {
    return model_.add_write_hook(std::move(hook));
  }
  bool remove_write_hook(write_hook_id id) noexcept { return model_.remove_write_hook(id); }
  [[nodiscard]] errc set_write_mask(std::size_t offset, std::span<const std::byte> mask) noexcept {
    return model_.set_write_mask(offset, mask);
  }

  // ---- the device side ----
  // Stores bypassing register semantics and hooks. Errors: out_of_range, invalid_argument.
  std::size_t write_unsignalled(std::size_t offset, std::span<const std::byte> in, boost::system::error_code& ec) {
    const errc e = model_.device_write(offset, in);
    ec = e == no_error ? boost::system::error_code{} : make_error_code(e);
    return e == no_error ? in.size() : 0;
  }
  // Raises the function's interrupt (the server's INTx; nothing when no server is attached).
  void signal_peer() {
    ++signals_;
    if (interrupt_) interrupt_();
  }
  // How many times the device raised its interrupt.
  [[nodiscard]] std::uint64_t signals() const noexcept { return signals_; }

  // The memory model: the device's header and register kinds (device_write, set_register_kind, ...).
  [[nodiscard]] memory_config_space& model() noexcept { return model_; }

  // The server's interrupt line. One server serves a space at a time: the one made last holds the line, so
  // a server made to replace another before that one is destroyed keeps it; `owner` lets go only of a
  // line still its own.
  void set_interrupt(const void* owner, std::function<void()> raise) {
    interrupt_ = std::move(raise);
    interrupt_owner_ = owner;
  }
  void release_interrupt(const void* owner) noexcept {
    if (interrupt_owner_ != owner) return;
    interrupt_ = {};
    interrupt_owner_ = nullptr;
  }

 private:
  memory_config_space model_;
  std::function<void()> interrupt_;
  const void* interrupt_owner_{nullptr};
  std::uint64_t signals_{0};
};

static_assert(config_space_transport<vfio_user_device_space>);
static_assert(device_side_signalling_transport<vfio_user_device_space>);
static_assert(write_observing_transport<vfio_user_device_space>);

class vfio_user_device_server {
 public:
  using socket_type = boost::asio::local::stream_protocol::socket;
  // DEVICE_RESET: the function-level reset (pf_endpoint::reset_vf(vf) for a vpci VF).
  using reset_function = std::function<boost::system::error_code()>;

  // The most data one REGION_READ/REGION_WRITE may carry (announced as max_data_xfer_size).
  static constexpr std::size_t max_transfer = 4096;
  // The largest payload read: a region access with max_transfer bytes.
  static constexpr std::size_t max_payload = vfio_user::region_access_size + max_transfer;

  explicit vfio_user_device_server(vfio_user_device_space& space, reset_function reset = {})
      : space_(space), reset_(std::move(reset)) {
    space_.set_interrupt(this, [this] { raise_interrupt(); });
  }
  vfio_user_device_server(const vfio_user_device_server&) = delete;
  vfio_user_device_server& operator=(const vfio_user_device_server&) = delete;
  // Destroying the server while it serves ends serving: the connection is closed and the completion runs
  // afterwards (never inside the destructor) with boost::asio::error::operation_aborted; nothing the
  // client sent is handled any more, nor is the message that destroyed it (from the reset function or a
  // write hook) answered. On the connection's executor's thread, as every call here.
  ~vfio_user_device_server() {
    if (session_) session_->abandon();
    space_.release_interrupt(this);
    drop_eventfd();
    drop_unmask_eventfd();
  }

  // Serves the client connected on `connection` until it disconnects. The server takes the connection: it
  // is closed when serving ends, and nothing of the caller's refers to it, so the caller may accept the next
  // client into the same socket object at once (even before this completion has run).
  // Completion: void(boost::system::error_code), never inline. Errors:
  // - success: the client closed the connection at a message boundary;
  // - vpci::errc::truncated_message: the connection ended inside a message;
  // - vpci::errc::protocol_violation: a message size below 16 (no framing can follow);
  // - vpci::errc::busy: this server already serves a client (`connection` is closed; the served one is
  //   untouched);
  // - vpci::errc::cancelled: cancelled;
  // - boost::asio::error::operation_aborted: the server was destroyed;
  // - the socket's errors, unchanged.
  // When serving ends the client's eventfd is closed and the interrupt state reset (the spec's reconnect
  // rule: descriptors of the old client are closed).
  // Cancellation: terminal, partial and total through the handler's cancellation slot (the way to end
  // serving from this side).
  // Thread safety: the connection's executor's thread only. The space must outlive the server; the server
  // may go while serving (the destructor ends it).
  template <class CompletionToken = vpci::default_completion_token_t<socket_type::executor_type>>
  auto async_serve(socket_type connection, CompletionToken&& token = CompletionToken{}) {
    return boost::asio::async_initiate<CompletionToken, void(boost::system::error_code)>(
        [this](auto handler, socket_type socket) {
          using handler_type = decltype(handler);
          if (session_) {
            const auto executor = socket.get_executor();
            boost::system::error_code ignored;
            socket.close(ignored);
            boost::asio::post(executor, boost::asio::append(std::move(handler), make_error_code(errc::busy)));
            return;
          }
          auto slot = boost::asio::get_associated_cancellation_slot(handler);
          auto completion = std::make_unique<detail::serve_completion_for<handler_type, socket_type::executor_type>>(
              std::move(handler), socket.get_executor());
          auto s = std::make_shared<session>(*this, std::move(socket), std::move(completion));
          session_ = s;
          if (slot.is_connected()) slot.template emplace<cancel_serving>(std::weak_ptr<session>(s));
          s->start();
        },
        token, std::move(connection));
  }

  // True from async_serve until the served connection ends: false already while its completion is on its
  // way, so the next client can be served then.
  [[nodiscard]] bool serving() const noexcept { return session_ != nullptr; }
  // INTx state, for tests and diagnostics.
  [[nodiscard]] bool interrupt_installed() const noexcept { return eventfd_ >= 0; }
  [[nodiscard]] bool unmask_eventfd_installed() const noexcept { return unmask_ != nullptr; }
  [[nodiscard]] bool interrupt_masked() const noexcept { return masked_; }
  [[nodiscard]] bool interrupt_pending() const noexcept { return pending_; }

  // The sans-I/O core: the reply to one complete message (empty: none), applying its effect to the space
  // and the interrupt state. `fds` are the descriptors that came with it: those it uses are taken, the rest
  // stay in the list (the caller closes them).
  std::vector<std::byte> handle(const vfio_user::header& h, std::span<const std::byte> payload,
                                detail::vfio_user_fd_list& fds) {
    std::vector<std::byte> reply;
    const int error = dispatch(h, payload, fds, reply);
    if (error != 0) return refuse(h, error);
    if (h.no_reply() && h.is_command()) return {};
    return reply;
  }
  // The error reply to `h` (none when it asked for none): E2BIG for a message whose payload was too large
  // to read (dropped), EIO for one whose handling the user's code interrupted with an exception.
  static std::vector<std::byte> refuse(const vfio_user::header& h, int error) {
    if (h.no_reply() && h.is_command()) return {};
    std::vector<std::byte> reply(vfio_user::header_size);
    (void)vfio_user::encode(vfio_user::error_reply_header(h, static_cast<std::uint32_t>(error)), reply);
    return reply;
  }

  // Ends the connection's state: the eventfd closed, the interrupt unmasked and not pending, VERSION
  // required again.
  void reset_connection_state() noexcept {
    disable_intx();
    pending_ = false;
    negotiated_ = false;
  }

 private:
  static constexpr std::string_view server_json = R"({"capabilities":{"max_msg_fds":8,"max_data_xfer_size":4096}})";

  template <class Payload>
  static void encode_reply(const vfio_user::header& request, const Payload& payload, std::vector<std::byte>& out) {
    out.assign(vfio_user::header_size + max_payload + server_json.size() + 8, std::byte{0});
    auto size = vfio_user::encode(payload, std::span<std::byte>(out).subspan(vfio_user::header_size));
    (void)vfio_user::encode(vfio_user::reply_header(request, *size), out);
    out.resize(vfio_user::header_size + *size);
  }
  static void encode_empty_reply(const vfio_user::header& request, std::vector<std::byte>& out) {
    out.assign(vfio_user::header_size, std::byte{0});
    (void)vfio_user::encode(vfio_user::reply_header(request, 0), out);
  }

  // Returns 0 (reply in `out`) or an errno.
  int dispatch(const vfio_user::header& h, std::span<const std::byte> payload, detail::vfio_user_fd_list& fds,
               std::vector<std::byte>& out) {
    using vfio_user::command;
    if (!h.is_command()) return EINVAL;
    const auto c = static_cast<command>(h.command);
    // VERSION takes no descriptors (libvfio-user refuses them too).
    if (c == command::version) return fds.empty() && !fds.truncated() ? on_version(h, payload, out) : EINVAL;
    if (!negotiated_) return EINVAL;
    switch (c) {
      case command::device_get_info: {
        auto request = vfio_user::decode_device_info(payload, true);
        if (!request || request->argsz < vfio_user::device_info_size) return EINVAL;
        const std::uint32_t flags = vfio_user::device_flag_pci | (reset_ ? vfio_user::device_flag_reset : 0U);
        encode_reply(h, vfio_user::device_info{16, flags, vfio_user::pci_region_count, vfio_user::pci_irq_count}, out);
        return 0;
      }
      case command::device_get_region_info: {
        auto request = vfio_user::decode_region_info(payload, true);
        if (!request || request->argsz < vfio_user::region_info_size ||
            request->index >= vfio_user::pci_region_count)
          return EINVAL;
        vfio_user::region_info reply{32, 0, request->index, 0, 0, 0};
        if (request->index == vfio_user::pci_config_region_index) {
          reply.flags = vfio_user::region_flag_read | vfio_user::region_flag_write;
          reply.size = space_.size();
        }
        encode_reply(h, reply, out);
        return 0;
      }
      case command::region_read:
      case command::region_write: {
        const bool is_write = c == command::region_write;
        auto access = vfio_user::decode_region_access(payload, is_write);
        if (!access || access->region != vfio_user::pci_config_region_index || access->count > max_transfer ||
            access->offset > space_.size() || access->count > space_.size() - access->offset)
          return EINVAL;
        const auto offset = static_cast<std::size_t>(access->offset);
        if (access->count == 0) {  // nothing to move: answered at once, as libvfio-user does; no access made
          encode_reply(h, vfio_user::region_access{access->offset, access->region, 0}, out);
          return 0;
        }
        boost::system::error_code ec;
        if (is_write) {
          space_.write(offset, access->data, ec);
          if (ec) return EIO;
          encode_reply(h, vfio_user::region_access{access->offset, access->region, access->count}, out);
        } else {
          std::array<std::byte, max_transfer> data{};
          std::span<std::byte> bytes(data.data(), access->count);
          space_.read(offset, bytes, ec);
          if (ec) return EIO;
          encode_reply(h, vfio_user::region_access{access->offset, access->region, access->count, bytes}, out);
        }
        return 0;
      }
      case command::device_get_irq_info: {
        auto request = vfio_user::decode_irq_info(payload);
        if (!request || request->argsz < vfio_user::irq_info_size || request->index >= vfio_user::pci_irq_count)
          return EINVAL;
        vfio_user::irq_info reply{16, 0, request->index, 0};
        if (request->index == vfio_user::pci_intx_irq_index) {
          reply.flags = vfio_user::irq_info_eventfd | vfio_user::irq_info_maskable | vfio_user::irq_info_automasked;
          reply.count = 1;
        }
        encode_reply(h, reply, out);
        return 0;
      }
      case command::device_set_irqs: {
        auto request = vfio_user::decode_irq_set(payload);
        if (!request) return EINVAL;
        if (const int error = on_set_irqs(*request, fds); error != 0) return error;
        encode_empty_reply(h, out);
        return 0;
      }
      case command::device_reset: {
        if (!payload.empty()) return EINVAL;
        if (!reset_) return ENOTSUP;
        // The reset function may destroy the server (a device that goes away at its reset): it runs from a
        // copy, and nothing of the server is touched after it once the server is gone.
        const std::weak_ptr<const bool> alive = life_;
        const reset_function reset = reset_;
        const bool failed = static_cast<bool>(reset());
        if (alive.expired()) return ECANCELED;
        if (failed) return EIO;
        masked_ = false;
        deliver_pending();
        encode_empty_reply(h, out);
        return 0;
      }
      case command::dma_map: {
        auto request = vfio_user::decode_dma_map(payload);
        if (!request || (request->flags & ~(vfio_user::dma_map_flag_read | vfio_user::dma_map_flag_write)) != 0)
          return EINVAL;
        encode_empty_reply(h, out);  // ignored: the function does no DMA; the descriptor is closed
        return 0;
      }
      case command::dma_unmap: {
        auto request = vfio_user::decode_dma_unmap(payload);
        // "Unmap all" names no range: an address or size beside it is refused, as libvfio-user does.
        if (!request || (request->flags != 0 && request->flags != vfio_user::dma_unmap_flag_all) ||
            (request->flags == vfio_user::dma_unmap_flag_all && (request->address != 0 || request->size != 0)))
          return EINVAL;
        encode_reply(h, *request, out);
        return 0;
      }
      default:
        return ENOTSUP;
    }
  }

  int on_version(const vfio_user::header& h, std::span<const std::byte> payload, std::vector<std::byte>& out) {
    if (negotiated_) return EINVAL;
    auto proposed = vfio_user::decode_version(payload);
    if (!proposed) return EINVAL;
    if (proposed->major != vfio_user::version_major) return ENOTSUP;
    if (!vfio_user::parse_capabilities(proposed->json)) return EINVAL;
    const std::uint16_t minor = std::min(proposed->minor, vfio_user::version_minor);
    encode_reply(h, vfio_user::version{vfio_user::version_major, minor, server_json}, out);
    negotiated_ = true;
    return 0;
  }

  int on_set_irqs(const vfio_user::irq_set& s, detail::vfio_user_fd_list& fds) {
    const std::uint32_t data = s.flags & vfio_user::irq_set_data_mask;
    const std::uint32_t action = s.flags & vfio_user::irq_set_action_mask_bits;
    if (fds.truncated()) return EINVAL;
    if (data != vfio_user::irq_set_data_eventfd && !fds.empty()) return EINVAL;
    if (s.index != vfio_user::pci_intx_irq_index) {
      // Other types have no interrupts: only "disable all" is meaningful.
      return data == vfio_user::irq_set_data_none && s.start == 0 && s.count == 0 ? 0 : EINVAL;
    }
    if (s.count == 0) {
      if (s.start != 0 || data != vfio_user::irq_set_data_none) return EINVAL;
      if (action == vfio_user::irq_set_action_trigger) disable_intx();
      return 0;
    }
    if (s.start != 0 || s.count != 1) return EINVAL;
    const bool selected = data != vfio_user::irq_set_data_bool || s.data[0] != std::byte{0};
    switch (action) {
      case vfio_user::irq_set_action_trigger:
        if (data == vfio_user::irq_set_data_eventfd) {
          if (!at_most_one_eventfd(fds)) return EINVAL;
          drop_eventfd();
          if (fds.size() == 1) {
            eventfd_ = fds.take(0);
            make_nonblocking(eventfd_);
            deliver_pending();
          }
          return 0;
        }
        if (selected) raise_interrupt();
        return 0;
      case vfio_user::irq_set_action_mask:
        if (data == vfio_user::irq_set_data_eventfd) return EINVAL;  // mask notification: not supported
        if (selected) masked_ = true;
        return 0;
      case vfio_user::irq_set_action_unmask:
        if (data == vfio_user::irq_set_data_eventfd) {
          if (!at_most_one_eventfd(fds)) return EINVAL;
          drop_unmask_eventfd();
          return fds.size() == 1 ? install_unmask_eventfd(fds.take(0)) : 0;
        }
        if (selected) unmask();
        return 0;
      default:
        return EINVAL;
    }
  }

  void raise_interrupt() noexcept {
    pending_ = true;
    deliver_pending();
  }
  void unmask() noexcept {
    masked_ = false;
    deliver_pending();
  }
  void deliver_pending() noexcept {
    if (!pending_ || masked_ || eventfd_ < 0) return;
    const std::uint64_t one = 1;
    // A full eventfd counter (EAGAIN: the descriptor is non-blocking) already wakes the client: nothing is
    // lost.
    (void)!::write(eventfd_, &one, sizeof one);
    pending_ = false;
    masked_ = true;  // AUTOMASKED
  }
  void drop_eventfd() noexcept {
    if (eventfd_ >= 0) ::close(eventfd_);
    eventfd_ = -1;
  }
  // VFIO's INTx disable (vfio_intx_disable): the trigger and the unmask eventfd go, and the next enable
  // starts unmasked. Without the unmask, an interrupt delivered before a disable (QEMU disables and enables
  // INTx around a guest reset) left INTx masked for the new eventfd, which then never fired.
  void disable_intx() noexcept {
    drop_eventfd();
    drop_unmask_eventfd();
    masked_ = false;
  }
  // An EVENTFD message's descriptors: none (remove) or one eventfd (install).
  static bool at_most_one_eventfd(const detail::vfio_user_fd_list& fds) noexcept {
    return fds.size() == 0 || (fds.size() == 1 && is_eventfd(fds.get(0)));
  }
  // Whether `fd` is an eventfd, as /proc names it (Linux: "anon_inode:[eventfd]"). Anything else a client
  // passes (a pipe or socket whose reader is gone: SIGPIPE at the next interrupt; a file that ignores
  // O_NONBLOCK: a blocked thread) is refused; so is every descriptor where /proc cannot tell.
  static bool is_eventfd(int fd) noexcept {
    std::array<char, 32> path{};
    std::array<char, 32> target{};
    constexpr std::string_view eventfd_link = "anon_inode:[eventfd]";
    if (std::snprintf(path.data(), path.size(), "/proc/self/fd/%d", fd) <= 0) return false;
    const ssize_t n = ::readlink(path.data(), target.data(), target.size());
    return n == static_cast<ssize_t>(eventfd_link.size()) &&
           std::string_view(target.data(), eventfd_link.size()) == eventfd_link;
  }
  static void make_nonblocking(int fd) noexcept {
    if (const int flags = ::fcntl(fd, F_GETFL); flags >= 0) (void)::fcntl(fd, F_SETFL, flags | O_NONBLOCK);
  }

  // The unmask eventfd and its wait. The wait holds the line, not the server: once the server let go of it
  // (a new one installed, the client gone, the server destroyed) its completion reaches nothing.
  struct unmask_line {
    unmask_line(const boost::asio::any_io_executor& executor, int fd) : descriptor(executor, fd) {}
    boost::asio::posix::stream_descriptor descriptor;
    vfio_user_device_server* owner = nullptr;
  };
  // 0, or the errno of the reactor's refusal (ENOMEM when memory ran out): the descriptor is closed then.
  int install_unmask_eventfd(int fd) {
    make_nonblocking(fd);
    try {
      unmask_ = std::make_shared<unmask_line>(space_.get_executor(), fd);
    } catch (const boost::system::system_error& e) {
      ::close(fd);  // a descriptor the reactor did not take stays the caller's
      return e.code().category() == boost::system::system_category() && e.code().value() > 0 ? e.code().value() : EINVAL;
    } catch (...) {
      ::close(fd);
      return ENOMEM;
    }
    unmask_->owner = this;
    wait_for_unmask(unmask_);
    return 0;
  }
  static void wait_for_unmask(const std::shared_ptr<unmask_line>& line) {
    line->descriptor.async_wait(boost::asio::posix::stream_descriptor::wait_read,
                                [line](boost::system::error_code ec) {
                                  if (ec || line->owner == nullptr) return;
                                  std::uint64_t count = 0;
                                  const ssize_t n = ::read(line->descriptor.native_handle(), &count, sizeof count);
                                  if (n <= 0 && !(n < 0 && errno == EAGAIN)) {
                                    // Not an eventfd that works (its writer closed, an error): readable for
                                    // good, it would wake this wait in a loop; the client unmasks by message.
                                    line->owner->drop_unmask_eventfd();
                                    return;
                                  }
                                  line->owner->unmask();
                                  wait_for_unmask(line);
                                });
  }
  void drop_unmask_eventfd() noexcept {
    if (!unmask_) return;
    unmask_->owner = nullptr;
    boost::system::error_code ignored;
    unmask_->descriptor.close(ignored);
    unmask_.reset();
  }

  // One connection's serving loop.
  class session : public std::enable_shared_from_this<session> {
   public:
    session(vfio_user_device_server& server, socket_type socket, std::unique_ptr<detail::serve_completion> done)
        : server_(&server), socket_(std::move(socket)), done_(std::move(done)) {}

    void start() {
      boost::system::error_code ignored;
      socket_.non_blocking(true, ignored);
      server_->reset_connection_state();
      rx_.resize(vfio_user::header_size + max_payload);
      // The first step is posted: serving never completes inline.
      boost::asio::post(socket_.get_executor(), [self = this->shared_from_this()] { self->read_header(); });
    }

    // Ends serving at the next step with `reason`, or with the reason given first (a cancellation, then
    // the server's destruction, completes `cancelled`).
    void stop(boost::system::error_code reason) {
      if (finished_) return;
      if (!stop_reason_) stop_reason_ = reason;
      boost::system::error_code ignored;
      socket_.cancel(ignored);
    }
    // The server is being destroyed: the session lets go of it and ends at its next step, which every
    // path reaches through stop_reason_ before touching the server (the unmask line's rule too).
    void abandon() noexcept {
      server_ = nullptr;
      stop(boost::asio::error::operation_aborted);
    }

   private:
    void read_header() {
      need_ = vfio_user::header_size;
      got_ = 0;
      discarding_ = 0;
      fds_.clear();
      receive();
    }

    // Reads until got_ == need_ (into rx_, or dropped while discarding_), then proceeds.
    void receive() {
      if (stop_reason_) return finish(stop_reason_);
      std::size_t dropped = 0;  // this turn
      while (got_ < need_) {
        if (discarding_ != 0 && dropped >= discard_per_turn) {
          // A message too large to read (up to 4 GiB) is dropped a turn at a time: a client that keeps its
          // socket full must not keep the thread the PF and the other VFs' servers share.
          boost::asio::post(socket_.get_executor(), [self = this->shared_from_this()] { self->receive(); });
          return;
        }
        std::span<std::byte> into = discarding_ != 0 ? std::span<std::byte>(scratch_)
                                                     : std::span<std::byte>(rx_.data() + got_, need_ - got_);
        if (discarding_ != 0) into = into.first(std::min<std::size_t>(into.size(), need_ - got_));
        const ssize_t n = detail::vfio_user_receive(socket_.native_handle(), into, fds_);
        if (n == 0) {
          // End of stream: clean only between messages.
          const bool between = got_ == 0 && need_ == vfio_user::header_size && discarding_ == 0;
          return finish(between ? boost::system::error_code{} : make_error_code(errc::truncated_message));
        }
        if (n < 0) {
          if (detail::would_block(errno)) {
            socket_.async_wait(socket_type::wait_read,
                               [self = this->shared_from_this()](boost::system::error_code ec) {
                                 if (ec) return self->finish(self->stop_reason_ ? self->stop_reason_ : ec);
                                 self->receive();
                               });
            return;
          }
          return finish(boost::system::error_code(errno, boost::system::system_category()));
        }
        got_ += static_cast<std::size_t>(n);
        if (discarding_ != 0) dropped += static_cast<std::size_t>(n);
      }
      if (discarding_ != 0) return send(refuse(header_, E2BIG));
      if (need_ == vfio_user::header_size) {
        auto h = vfio_user::decode_header(std::span<const std::byte>(rx_.data(), vfio_user::header_size));
        if (!h) return finish(make_error_code(errc::protocol_violation));
        header_ = *h;
        if (header_.payload_size() > max_payload) {
          discarding_ = 1;
          need_ = header_.payload_size();
          got_ = 0;
          return receive();
        }
        if (header_.payload_size() != 0) {
          need_ = vfio_user::header_size + header_.payload_size();
          return receive();
        }
      }
      std::vector<std::byte> reply;
      try {
        reply = server_->handle(header_, std::span<const std::byte>(rx_.data() + vfio_user::header_size,
                                                                     header_.payload_size()),
                                fds_);
      } catch (...) {
        // The user's write hook, access observer or reset function threw: the message is answered as a
        // failed device access and serving goes on; the exception goes out of run() (README, Lifetime).
        // Left unanswered, the session read nothing more (not even the client's hang-up) and stayed
        // serving for good.
        fds_.clear();
        if (stop_reason_) finish(stop_reason_);
        else send(refuse(header_, EIO));
        throw;
      }
      fds_.clear();  // descriptors the message did not use
      // The server destroyed by what the message ran (its reset function, a write hook): no answer.
      if (stop_reason_) return finish(stop_reason_);
      send(std::move(reply));
    }

    void send(std::vector<std::byte> reply) {
      if (reply.empty()) {
        // Posted, not called: a flood of No_reply messages must not nest one call per message.
        boost::asio::post(socket_.get_executor(), [self = this->shared_from_this()] { self->read_header(); });
        return;
      }
      tx_ = std::move(reply);
      boost::asio::async_write(socket_, boost::asio::buffer(tx_),
                               [self = this->shared_from_this()](boost::system::error_code ec, std::size_t) {
                                 if (ec) return self->finish(self->stop_reason_ ? self->stop_reason_ : ec);
                                 if (self->stop_reason_) return self->finish(self->stop_reason_);
                                 self->read_header();
                               });
    }

    void finish(boost::system::error_code ec) {
      if (finished_) return;
      finished_ = true;
      fds_.clear();
      boost::system::error_code ignored;
      socket_.shutdown(socket_type::shutdown_both, ignored);
      socket_.close(ignored);
      if (server_ != nullptr) {
        server_->reset_connection_state();
        server_->session_.reset();
      }
      done_->complete(ec);
    }

    vfio_user_device_server* server_;  // null once the server is destroyed
    socket_type socket_;  // the connection, the session's own: no completion reaches a socket of the caller's
    std::unique_ptr<detail::serve_completion> done_;
    std::vector<std::byte> rx_;
    std::vector<std::byte> tx_;
    static constexpr std::size_t discard_per_turn = 64 * 1024;
    std::array<std::byte, 4096> scratch_{};
    detail::vfio_user_fd_list fds_;
    vfio_user::header header_{};
    std::size_t need_{0};
    std::size_t got_{0};
    int discarding_{0};
    boost::system::error_code stop_reason_{};
    bool finished_{false};
  };

  struct cancel_serving {
    explicit cancel_serving(std::weak_ptr<session> s) noexcept : target(std::move(s)) {}
    std::weak_ptr<session> target;
    void operator()(boost::asio::cancellation_type type) const {
      if (type == boost::asio::cancellation_type::none) return;
      if (auto s = target.lock()) s->stop(make_error_code(errc::cancelled));
    }
  };

  vfio_user_device_space& space_;
  reset_function reset_;
  std::shared_ptr<const bool> life_{std::make_shared<const bool>(true)};  // expires with the server
  std::shared_ptr<session> session_;
  int eventfd_{-1};
  std::shared_ptr<unmask_line> unmask_;
  bool masked_{false};
  bool pending_{false};
  bool negotiated_{false};
};

}  // namespace vpci
