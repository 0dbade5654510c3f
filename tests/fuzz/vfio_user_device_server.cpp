// Fuzz target: vfio_user_device_server's sans-I/O core (handle, reset_connection_state) and its INTx line,
// fed a hostile vfio-user client's messages with real eventfds passed along, over a vfio_user_device_space
// with read-only and write-1-to-clear bits.
//
// Input: byte 0 the mode (bit 0: a 256-byte space, else 4096; bits 2:1: no reset function, one that
// succeeds, one that fails; bit 3: the PCI header's first 64 bytes read-only but for the command register
// (bytes 4..5) and the status register (bytes 6..7) write-1-to-clear); then operations, one opcode byte each,
// until the input ends:
//   0  a command built from fields: ID, command (every number 0..16 and 0xFFFF), flags (type command,
//      reply or another; No_reply; error), a payload shaped for the command from input fields (sizes one
//      short, exact or one long; argsz, indexes, offsets and counts at and past the limits; version data
//      that parses, does not, or input text; irq_set flags, start, count and data), 0..2 descriptors
//      passed with it, each an eventfd or a pipe's writing end whose reader is closed, the list marked
//      truncated or not;
//   1  a raw message: command, flags and up to 255 payload bytes from the input;
//   2  the device raises its interrupt (space.signal_peer());
//   3  the client ends an interrupt: writes its unmask eventfd, if it passed one, and the reactor runs;
//   4  the client disconnects (reset_connection_state);
//   5  the device stores input bytes into the space (write_unsignalled);
//   6  a message too large to read (refuse(h, E2BIG): the serving loop drops its payload).
// Every message handed to handle() is as the serving loop delivers it: the header's message size is the
// payload's.
//
// Invariants, after every operation, against a model the target keeps (docs/vfio-user.md's verdicts,
// restated):
// - a command with No_reply gets no reply; every other message exactly one: a reply header echoing the
//   message ID and command, its size the reply's, flags reply (| error), and either an error reply of 16
//   bytes with the errno the model expects or success with error number 0 and the payload the model
//   expects (device info, region info, IRQ info, the data read, the write's echo, the unmap's echo, the
//   negotiated version with the server's capabilities);
// - VERSION first, once, without descriptors and with version data ending in its NUL; before it every
//   other command is refused (EINVAL); a message too large to read gets E2BIG (nothing with No_reply)
//   and changes nothing;
// - REGION_READ returns exactly the space's bytes; REGION_WRITE changes exactly its range, through the
//   register kinds (read-only bits kept, write-1-to-clear bits cleared by a 1), in one driver-side write
//   (the write hook rings once, with its offset and count; an access of no bytes makes none); nothing
//   else changes the space but the device's own stores; **a refused message changes nothing**: the
//   space, the interrupt state, the descriptors held;
// - the interrupt: raised while an eventfd is installed and INTx unmasked, it writes the eventfd once and
//   masks INTx (AUTOMASKED); otherwise it stays pending and is delivered by the install or unmask that
//   enables it; an installed eventfd is non-blocking; the unmask eventfd unmasks when written; only an
//   eventfd is installed (a pipe is EINVAL: written at an interrupt it would raise SIGPIPE); disabling
//   INTx removes both eventfds and unmasks it;
// - descriptors: those a message does not use are closed; a disconnect closes the server's; after the
//   server is destroyed no descriptor the input created is open.
#include <array>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>

#include <vpci/asio/vfio_user_device_server.hpp>

#include "fuzz_support.hpp"

using namespace vpci;
using namespace vpci::fuzz;
namespace vu = vpci::vfio_user;

namespace {

template <class U>
void put(std::vector<std::byte>& out, std::size_t at, U value) {
  vu::host_store(out.data() + at, value);
}
template <class U>
U get(std::span<const std::byte> in, std::size_t at) {
  return vu::host_load<U>(in.data() + at);
}

// A descriptor the input created and the target keeps a duplicate of (the same open file description),
// to see what the server does with its copy: an eventfd, or a pipe's writing end with its reader closed.
struct watched_eventfd {
  int mine{-1};
  bool is_eventfd{true};
  ~watched_eventfd() {
    if (mine >= 0) ::close(mine);
  }
  // How many times it was written since last drained.
  std::uint64_t drain() const {
    std::uint64_t count = 0;
    const int flags = ::fcntl(mine, F_GETFL);
    (void)::fcntl(mine, F_SETFL, flags | O_NONBLOCK);
    const ssize_t n = ::read(mine, &count, sizeof count);
    (void)::fcntl(mine, F_SETFL, flags);
    return n == sizeof count ? count : 0;
  }
};

class world {
 public:
  explicit world(std::uint8_t mode)
      : space_(io_, (mode & 1) != 0 ? config::conventional_space_size : config::extended_space_size),
        reset_(std::array{device_reset::none, device_reset::succeeds, device_reset::fails,
                          device_reset::none}[(mode >> 1) & 3]),
        server_(std::make_optional<vfio_user_device_server>(space_, reset_function())) {
    rw_.assign(space_.size(), std::byte{0xFF});
    w1c_.assign(space_.size(), std::byte{0});
    if ((mode & 8) != 0) {
      std::array<std::byte, 64> mask{};
      mask[4] = mask[5] = std::byte{0xFF};
      VPCI_FUZZ_CHECK(space_.set_write_mask(0, mask) == no_error);
      VPCI_FUZZ_CHECK(space_.model().set_register_kind(6, 2, register_kind::write_one_to_clear) == no_error);
      for (std::size_t i = 0; i < 64; ++i) rw_[i] = mask[i];
      w1c_[6] = w1c_[7] = std::byte{0xFF};
    }
    std::vector<std::byte> header(64);
    for (std::size_t i = 0; i < header.size(); ++i) header[i] = static_cast<std::byte>(0xF0 ^ i);
    VPCI_FUZZ_CHECK(space_.model().device_write(0, header) == no_error);
    contents_ = snapshot();
    (void)space_.add_write_hook(
        [this](std::size_t offset, std::size_t length) { hooks_.emplace_back(offset, length); });
    // The reactor's own descriptors (epoll, its interrupter, a timer) come with the first I/O object: made
    // now, they are part of the baseline.
    { boost::asio::posix::stream_descriptor unopened(io_); }
    base_descriptors_ = open_descriptors();
  }
  ~world() {
    server_.reset();
    io_.poll();
  }

  void run(input_reader& in) {
    switch (in.u8() % 7) {
      case 0: built_message(in); break;
      case 1: raw_message(in); break;
      case 2:
        space_.signal_peer();
        pending_ = true;
        deliver();
        break;
      case 3:
        if (unmask_ && unmask_installed_) {
          const std::uint64_t one = 1;
          VPCI_FUZZ_CHECK(::write(unmask_->mine, &one, sizeof one) == sizeof one);
          io_.poll();
          io_.restart();
          masked_ = false;
          deliver();
        }
        break;
      case 4:
        server_->reset_connection_state();
        disable_intx();
        pending_ = negotiated_ = false;
        break;
      case 6: {
        // A message too large to read (the serving loop drops its payload): E2BIG, nothing changes.
        const std::uint16_t id = in.u16();
        const std::uint16_t command = in.u16();
        const auto size =
            static_cast<std::uint32_t>(vu::header_size + vfio_user_device_server::max_payload + 1 + in.u16());
        const vu::header h{id, command, size, in.u32(), 0};
        const auto reply = vfio_user_device_server::refuse(h, E2BIG);
        if (h.is_command() && h.no_reply()) {
          VPCI_FUZZ_CHECK(reply.empty());
        } else {
          auto r = vu::decode_header(reply);
          VPCI_FUZZ_CHECK(reply.size() == vu::header_size && r.has_value() && r->message_id == id &&
                          r->command == command && r->message_size == vu::header_size &&
                          r->flags == (1 | vu::flag_error) && r->error_number == E2BIG);
        }
        break;
      }
      default: {
        const std::size_t at = in.u16() % space_.size();
        const auto bytes = in.take(std::min<std::size_t>(in.u8(), space_.size() - at));
        boost::system::error_code ec;
        (void)space_.write_unsignalled(at, bytes, ec);
        VPCI_FUZZ_CHECK(!ec || bytes.empty());
        for (std::size_t i = 0; i < bytes.size(); ++i) contents_[at + i] = bytes[i];
        break;
      }
    }
    check_state();
  }

 private:
  vfio_user_device_server::reset_function reset_function() const {
    if (reset_ == device_reset::none) return {};
    const bool succeeds = reset_ == device_reset::succeeds;
    return [succeeds]() -> boost::system::error_code {
      return succeeds ? boost::system::error_code{} : make_error_code(errc::device_error);
    };
  }

  [[nodiscard]] std::vector<std::byte> snapshot() {
    std::vector<std::byte> bytes(space_.size());
    VPCI_FUZZ_CHECK(space_.model().device_read(0, bytes) == no_error);
    return bytes;
  }

  void check_state() {
    VPCI_FUZZ_CHECK(snapshot() == contents_);
    VPCI_FUZZ_CHECK(server_->interrupt_installed() == installed_);
    VPCI_FUZZ_CHECK(server_->unmask_eventfd_installed() == unmask_installed_);
    VPCI_FUZZ_CHECK(server_->interrupt_masked() == masked_);
    VPCI_FUZZ_CHECK(server_->interrupt_pending() == pending_);
    VPCI_FUZZ_CHECK((interrupt_ != nullptr) == installed_ && (unmask_ != nullptr) == unmask_installed_);
    const std::uint64_t delivered = interrupt_ ? interrupt_->drain() : 0;
    VPCI_FUZZ_CHECK(delivered == deliveries_);
    deliveries_ = 0;
    if (interrupt_) VPCI_FUZZ_CHECK((::fcntl(interrupt_->mine, F_GETFL) & O_NONBLOCK) != 0);
    // Open: what was open before the world's first message, and for each eventfd the server holds, its
    // copy and the target's duplicate. Every other descriptor a message brought is closed.
    VPCI_FUZZ_CHECK(open_descriptors() == base_descriptors_ + (installed_ ? 2u : 0u) + (unmask_installed_ ? 2u : 0u));
  }

  // The model's INTx delivery (vfio_user_device_server::deliver_pending).
  void deliver() {
    if (!pending_ || masked_ || !installed_) return;
    ++deliveries_;
    pending_ = false;
    masked_ = true;
  }

  // ---- messages ----

  // `count` fresh descriptors, each watched: eventfds (blocking, so that the server's O_NONBLOCK shows),
  // or where bit i of `pipes` is set, a pipe's writing end whose reader is closed.
  std::vector<std::shared_ptr<watched_eventfd>> make_eventfds(std::size_t count, unsigned pipes,
                                                              detail::vfio_user_fd_list& fds) {
    std::vector<std::shared_ptr<watched_eventfd>> made;
    for (std::size_t i = 0; i < count; ++i) {
      auto w = std::make_shared<watched_eventfd>();
      int fd = -1;
      if ((pipes >> i & 1u) != 0) {
        int ends[2];
        VPCI_FUZZ_CHECK(::pipe2(ends, O_CLOEXEC) == 0);
        ::close(ends[0]);
        fd = ends[1];
        w->is_eventfd = false;
      } else {
        fd = ::eventfd(0, EFD_CLOEXEC);
      }
      VPCI_FUZZ_CHECK(fd >= 0);
      w->mine = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
      VPCI_FUZZ_CHECK(w->mine >= 0);
      fds.push(fd);
      made.push_back(std::move(w));
    }
    return made;
  }

  void built_message(input_reader& in) {
    const std::uint16_t id = in.u16();
    const std::uint8_t pick = in.u8() % 18;
    const std::uint16_t command = pick == 17 ? std::uint16_t{0xFFFF} : pick;
    const std::uint8_t flag_bits = in.u8();
    const std::uint32_t type = std::array<std::uint32_t, 4>{0, 1, 2, 0xF}[flag_bits & 3];
    const std::uint32_t flags = type | ((flag_bits & 4) != 0 ? vu::flag_no_reply : 0) |
                                ((flag_bits & 8) != 0 ? vu::flag_error : 0);
    const std::uint8_t size_tweak = in.u8() % 8;  // 0: one short, 1: one long, else exact
    std::vector<std::byte> payload;
    const auto u32_near = [&](std::uint32_t value) {
      switch (in.u8() % 4) {
        case 0: return value;
        case 1: return value - 1;
        case 2: return value + 1;
        default: return in.u32();
      }
    };
    switch (static_cast<vu::command>(command)) {
      case vu::command::version: {
        const std::uint16_t major = in.u8() % 4 == 0 ? std::uint16_t{1} : std::uint16_t{0};
        const std::uint16_t minor = in.u16();
        std::string_view json;
        switch (in.u8() % 4) {
          case 0: break;
          case 1: json = R"({"capabilities":{"max_msg_fds":16,"max_data_xfer_size":1048576}})"; break;
          case 2: json = R"({"capabilities":{"max_msg_fds":-1}})"; break;
          default: {
            const auto text = in.take(in.u8());
            json = std::string_view(reinterpret_cast<const char*>(text.data()), text.size());
            json = json.substr(0, json.find('\0'));
          }
        }
        payload.resize(4 + json.size() + 1);
        payload.resize(*vu::encode(vu::version{major, minor, json}, payload));
        break;
      }
      case vu::command::device_get_info:
        payload.resize(vu::device_info_size);
        put(payload, 0, u32_near(16));
        break;
      case vu::command::device_get_region_info:
        payload.resize(vu::region_info_size);
        put(payload, 0, u32_near(32));
        put(payload, 8, std::uint32_t{in.u8()} % 11);
        break;
      case vu::command::device_get_irq_info:
        payload.resize(vu::irq_info_size);
        put(payload, 0, u32_near(16));
        put(payload, 8, std::uint32_t{in.u8()} % 7);
        break;
      case vu::command::region_read:
      case vu::command::region_write: {
        const std::uint64_t offset = (in.u8() % 8 == 0) ? in.u64() : in.u16() % (space_.size() + 8);
        const std::uint32_t region = in.u8() % 4 == 0 ? std::uint32_t{in.u8()} % 10 : vu::pci_config_region_index;
        const std::uint32_t count = in.u8() % 8 == 0 ? u32_near(4096) : std::uint32_t{in.u16()} % 300;
        payload.resize(vu::region_access_size);
        put(payload, 0, offset);
        put(payload, 8, region);
        put(payload, 12, count);
        if (command == static_cast<std::uint16_t>(vu::command::region_write)) {
          const auto data = in.take(std::min<std::size_t>(count, 4200));
          payload.insert(payload.end(), data.begin(), data.end());
          payload.resize(vu::region_access_size + std::min<std::size_t>(count, 4200), std::byte{0x5A});
        }
        break;
      }
      case vu::command::device_set_irqs: {
        const std::uint8_t f = in.u8();
        const std::uint32_t data_kind = std::array<std::uint32_t, 4>{1, 2, 4, 3}[f & 3];
        const std::uint32_t action = std::array<std::uint32_t, 4>{8, 16, 32, 40}[(f >> 2) & 3];
        const std::uint32_t index = (f & 0x10) != 0 ? std::uint32_t{in.u8()} % 6 : 0;
        const std::uint32_t start = (f & 0x20) != 0 ? 1 : 0;
        const std::uint32_t count = std::uint32_t{in.u8()} % 3;
        payload.resize(vu::irq_set_size);
        if (data_kind == vu::irq_set_data_bool)
          for (std::uint32_t i = 0; i < count; ++i)
            payload.push_back(std::byte{static_cast<std::uint8_t>(in.u8() % 2)});
        put(payload, 0, static_cast<std::uint32_t>(payload.size()));
        put(payload, 4, data_kind | action);
        put(payload, 8, index);
        put(payload, 12, start);
        put(payload, 16, count);
        break;
      }
      case vu::command::dma_map:
        payload.resize(vu::dma_map_size);
        put(payload, 0, std::uint32_t{32});
        put(payload, 4, std::uint32_t{3});
        break;
      case vu::command::dma_unmap:
        payload.resize(vu::dma_unmap_size);
        put(payload, 0, std::uint32_t{24});
        put(payload, 4, std::uint32_t{in.u8()} % 4);
        put(payload, 8, in.u64());
        break;
      case vu::command::device_reset:
        break;
      default: {
        const auto data = in.take(in.u8() % 40);
        payload.assign(data.begin(), data.end());
      }
    }
    if (size_tweak == 0 && !payload.empty()) payload.pop_back();
    if (size_tweak == 1) payload.push_back(std::byte{0});
    const std::uint8_t fd_bits = in.u8();
    const std::size_t fd_count = fd_bits % 3;
    const bool truncated = (flag_bits & 0x10) != 0 && (flag_bits & 0x20) != 0;
    deliver_message(vu::header{id, command, static_cast<std::uint32_t>(vu::header_size + payload.size()), flags, 0},
                    payload, fd_count, truncated, (fd_bits >> 4) & 3u);
  }

  void raw_message(input_reader& in) {
    const std::uint16_t id = in.u16();
    const std::uint16_t command = in.u16();
    const std::uint32_t flags = in.u32();
    const std::uint32_t error_number = in.u32();
    const auto data = in.take(in.u8());
    const std::vector<std::byte> payload(data.begin(), data.end());
    deliver_message(
        vu::header{id, command, static_cast<std::uint32_t>(vu::header_size + payload.size()), flags, error_number},
        payload, 0, false);
  }

  void deliver_message(const vu::header& h, const std::vector<std::byte>& bytes, std::size_t fd_count, bool truncated,
                       unsigned pipes = 0) {
    const exact_bytes payload{bytes};
    detail::vfio_user_fd_list fds;
    auto passed = make_eventfds(fd_count, pipes, fds);
    if (truncated) fds.mark_truncated();
    hooks_.clear();
    const int expected = verdict(h, payload.view(), passed, truncated);
    const auto reply = server_->handle(h, payload.view(), fds);
    fds.clear();
    check_reply(h, payload.view(), reply, expected);
    if (expected != 0) VPCI_FUZZ_CHECK(hooks_.empty());
  }

  // ---- the model: the errno a message gets (0: success), its effects applied when it succeeds ----

  int verdict(const vu::header& h, std::span<const std::byte> p,
              const std::vector<std::shared_ptr<watched_eventfd>>& fds, bool truncated) {
    if (!h.is_command()) return EINVAL;
    const auto c = static_cast<vu::command>(h.command);
    if (c == vu::command::version) {
      // No descriptors, once, and version data that ends with its NUL (as libvfio-user's server).
      if (!fds.empty() || truncated || negotiated_ || p.size() < 4 || (p.size() > 4 && p.back() != std::byte{0}))
        return EINVAL;
      if (get<std::uint16_t>(p, 0) != 0) return ENOTSUP;
      std::size_t length = 0;
      while (4 + length < p.size() && p[4 + length] != std::byte{0}) ++length;
      if (!vu::parse_capabilities(std::string_view(reinterpret_cast<const char*>(p.data() + 4), length))) return EINVAL;
      negotiated_ = true;
      return 0;
    }
    if (!negotiated_) return EINVAL;
    switch (c) {
      case vu::command::device_get_info:
        // Requests may be longer than their struct (the kernel's device info; SPDK's whole region-info buffer).
        return p.size() >= 16 && get<std::uint32_t>(p, 0) >= 16 ? 0 : EINVAL;
      case vu::command::device_get_region_info:
        return p.size() >= 32 && get<std::uint32_t>(p, 0) >= 32 && get<std::uint32_t>(p, 8) < 9 ? 0 : EINVAL;
      case vu::command::device_get_irq_info:
        return p.size() == 16 && get<std::uint32_t>(p, 0) >= 16 && get<std::uint32_t>(p, 8) < 5 ? 0 : EINVAL;
      case vu::command::region_read:
      case vu::command::region_write: {
        const bool write = c == vu::command::region_write;
        if (p.size() < 16) return EINVAL;
        const auto offset = get<std::uint64_t>(p, 0);
        const auto count = get<std::uint32_t>(p, 12);
        if (p.size() != 16 + (write ? count : 0) || get<std::uint32_t>(p, 8) != 7 || count > 4096 ||
            offset > space_.size() || count > space_.size() - offset)
          return EINVAL;
        if (write) {
          for (std::size_t i = 0; i < count; ++i) {
            std::byte& b = contents_[offset + i];
            const std::byte v = p[16 + i];
            b = ((b & ~rw_[offset + i]) | (v & rw_[offset + i])) & ~(v & w1c_[offset + i]);
          }
        }
        return 0;
      }
      case vu::command::device_set_irqs:
        return set_irqs(p, fds, truncated);
      case vu::command::device_reset:
        if (!p.empty()) return EINVAL;
        if (reset_ == device_reset::none) return ENOTSUP;
        if (reset_ == device_reset::fails) return EIO;
        masked_ = false;
        deliver();
        return 0;
      case vu::command::dma_map:
        return p.size() == 32 && (get<std::uint32_t>(p, 4) & ~3u) == 0 ? 0 : EINVAL;
      case vu::command::dma_unmap:
        // "Unmap all" (2) names no range.
        if (p.size() != 24) return EINVAL;
        if (get<std::uint32_t>(p, 4) == 0) return 0;
        return get<std::uint32_t>(p, 4) == 2 && get<std::uint64_t>(p, 8) == 0 && get<std::uint64_t>(p, 16) == 0 ? 0 : EINVAL;
      default:
        return ENOTSUP;
    }
  }

  // INTx disabled (also on a disconnect): both eventfds gone, unmasked.
  void disable_intx() {
    installed_ = unmask_installed_ = masked_ = false;
    interrupt_.reset();
    unmask_.reset();
  }
  // An EVENTFD message's descriptors the server takes: none, or one eventfd.
  static bool at_most_one_eventfd(const std::vector<std::shared_ptr<watched_eventfd>>& fds) {
    return fds.empty() || (fds.size() == 1 && fds[0]->is_eventfd);
  }
  int set_irqs(std::span<const std::byte> p, const std::vector<std::shared_ptr<watched_eventfd>>& fds, bool truncated) {
    auto s = vu::decode_irq_set(p);  // its acceptance is vfio_user_messages' to check
    if (!s) return EINVAL;
    const std::uint32_t data = s->flags & vu::irq_set_data_mask;
    const std::uint32_t action = s->flags & vu::irq_set_action_mask_bits;
    if (truncated) return EINVAL;
    if (data != vu::irq_set_data_eventfd && !fds.empty()) return EINVAL;
    if (s->index != 0) return data == vu::irq_set_data_none && s->start == 0 && s->count == 0 ? 0 : EINVAL;
    if (s->count == 0) {
      if (s->start != 0 || data != vu::irq_set_data_none) return EINVAL;
      if (action == vu::irq_set_action_trigger) disable_intx();
      return 0;
    }
    if (s->start != 0 || s->count != 1) return EINVAL;
    const bool selected = data != vu::irq_set_data_bool || s->data[0] != std::byte{0};
    if (action == vu::irq_set_action_trigger) {
      if (data != vu::irq_set_data_eventfd) {
        if (selected) {
          pending_ = true;
          deliver();
        }
        return 0;
      }
      if (!at_most_one_eventfd(fds)) return EINVAL;
      installed_ = fds.size() == 1;
      interrupt_ = installed_ ? fds[0] : nullptr;
      deliver();
      return 0;
    }
    if (action == vu::irq_set_action_mask) {
      if (data == vu::irq_set_data_eventfd) return EINVAL;
      if (selected) masked_ = true;
      return 0;
    }
    if (data == vu::irq_set_data_eventfd) {
      if (!at_most_one_eventfd(fds)) return EINVAL;
      unmask_installed_ = fds.size() == 1;
      unmask_ = unmask_installed_ ? fds[0] : nullptr;
      return 0;
    }
    if (selected) {
      masked_ = false;
      deliver();
    }
    return 0;
  }

  void check_reply(const vu::header& h, std::span<const std::byte> p, const std::vector<std::byte>& reply,
                   int expected) {
    if (h.is_command() && h.no_reply()) return VPCI_FUZZ_CHECK(reply.empty());
    const exact_bytes whole{reply};
    auto r = vu::decode_header(whole.view());
    VPCI_FUZZ_CHECK(r.has_value() && r->message_size == reply.size() && r->message_id == h.message_id &&
                    r->command == h.command && r->is_reply() && !r->no_reply());
    VPCI_FUZZ_CHECK(r->error() == (expected != 0));
    const auto body = whole.view().subspan(vu::header_size);
    if (expected != 0) {
      VPCI_FUZZ_CHECK(reply.size() == vu::header_size && r->error_number == static_cast<std::uint32_t>(expected) &&
                      r->flags == (1 | vu::flag_error));
      return;
    }
    VPCI_FUZZ_CHECK(r->flags == 1 && r->error_number == 0);
    switch (static_cast<vu::command>(h.command)) {
      case vu::command::version: {
        auto v = vu::decode_version(body);
        VPCI_FUZZ_CHECK(v.has_value() && v->major == 0 &&
                        v->minor == std::min<std::uint16_t>(get<std::uint16_t>(p, 2), 1));
        auto caps = vu::parse_capabilities(v->json);
        VPCI_FUZZ_CHECK(caps.has_value() && caps->max_msg_fds == 8 && caps->max_data_xfer_size == 4096);
        return;
      }
      case vu::command::device_get_info: {
        auto info = vu::decode_device_info(body);
        const bool resets = reset_ != device_reset::none;
        VPCI_FUZZ_CHECK(info.has_value() && info->argsz == 16 &&
                        info->flags == (vu::device_flag_pci | (resets ? vu::device_flag_reset : 0u)) &&
                        info->num_regions == 9 && info->num_irqs == 5);
        return;
      }
      case vu::command::device_get_region_info: {
        auto region = vu::decode_region_info(body);
        const std::uint32_t index = get<std::uint32_t>(p, 8);
        const bool config = index == 7;
        VPCI_FUZZ_CHECK(region.has_value() && region->argsz == 32 && region->index == index &&
                        region->cap_offset == 0 && region->offset == 0 && region->flags == (config ? 3u : 0u) &&
                        region->size == (config ? space_.size() : 0u));
        return;
      }
      case vu::command::device_get_irq_info: {
        auto irq = vu::decode_irq_info(body);
        const std::uint32_t index = get<std::uint32_t>(p, 8);
        VPCI_FUZZ_CHECK(irq.has_value() && irq->argsz == 16 && irq->index == index &&
                        irq->flags == (index == 0 ? 7u : 0u) && irq->count == (index == 0 ? 1u : 0u));
        return;
      }
      case vu::command::region_read:
      case vu::command::region_write: {
        const bool write = h.command == static_cast<std::uint16_t>(vu::command::region_write);
        auto access = vu::decode_region_access(body, !write);
        VPCI_FUZZ_CHECK(access.has_value() && access->offset == get<std::uint64_t>(p, 0) && access->region == 7 &&
                        access->count == get<std::uint32_t>(p, 12));
        const auto offset = static_cast<std::size_t>(access->offset);
        if (write && access->count == 0) {
          VPCI_FUZZ_CHECK(hooks_.empty());  // nothing to move: no access made
        } else if (write) {
          VPCI_FUZZ_CHECK(hooks_.size() == 1 && hooks_[0].first == offset && hooks_[0].second == access->count);
        } else {
          VPCI_FUZZ_CHECK(hooks_.empty() &&
                          equal(access->data, std::span<const std::byte>(contents_).subspan(offset, access->count)));
        }
        return;
      }
      case vu::command::dma_unmap:
        VPCI_FUZZ_CHECK(equal(body, p));
        return;
      default:
        VPCI_FUZZ_CHECK(body.empty());
    }
  }

  boost::asio::io_context io_;
  vfio_user_device_space space_;
  // The server's reset function: none (DEVICE_RESET is ENOTSUP), one that succeeds, one that fails (EIO).
  enum class device_reset { none, succeeds, fails };
  device_reset reset_;
  std::optional<vfio_user_device_server> server_;
  std::vector<std::byte> contents_, rw_, w1c_;
  std::vector<std::pair<std::size_t, std::size_t>> hooks_;
  bool negotiated_{false}, installed_{false}, unmask_installed_{false}, masked_{false}, pending_{false};
  std::uint64_t deliveries_{0};
  std::size_t base_descriptors_{0};
  std::shared_ptr<watched_eventfd> interrupt_, unmask_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::size_t descriptors = open_descriptors();
  {
    input_reader in{as_bytes(data, size)};
    world w{in.u8()};
    while (!in.empty()) w.run(in);
  }
  VPCI_FUZZ_CHECK(open_descriptors() == descriptors);
  return 0;
}
