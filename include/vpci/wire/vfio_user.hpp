// Byte-exact codecs for the vfio-user messages vpci speaks (QEMU docs/interop/vfio-user.rst, "Protocol
// Specification"; libvfio-user include/vfio-user.h), sans I/O and freestanding: no Boost, no heap.
//
// Byte order: the spec says "all data is in the endianness of the host system" (Protocol Specification),
// so every field here is stored in host order (vfio_user::host_store / host_load), which is little-endian on
// every host vpci has been built for; the byte vectors in the tests are the little-endian forms.
//
// Every message is a 16-byte header (section "Header") followed by a command-specific payload; the codecs
// below encode and decode payloads, header separately. Decoders check every size before reading; encoders
// refuse an output buffer that is too small (buffer_too_small) and write nothing then.
//
// Size verdicts on payloads a peer sent (treat every peer as hostile):
// - a payload shorter than its fixed part: truncated_message;
// - a fixed-size payload with extra bytes: malformed_message (the spec fixes these sizes; nothing may follow);
// - GET_REGION_INFO replies may carry region capabilities after the 32 fixed bytes (VFIO_REGION_INFO_FLAG_CAPS,
//   section "VFIO region capabilities"): extra bytes are accepted there and not interpreted;
// - REGION_READ replies and REGION_WRITE requests: `count` must equal the data that follows.
#pragma once

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <type_traits>

#include <vpci/block/endian.hpp>
#include <vpci/protocol/errc.hpp>
#include <vpci/protocol/result.hpp>

namespace vpci::vfio_user {

// ---- host byte order ------------------------------------------------------------------------------------

template <class U>
  requires std::is_unsigned_v<U>
constexpr void host_store(std::byte* out, U value) noexcept {
  for (std::size_t i = 0; i < sizeof(U); ++i) {
    const std::size_t shift = std::endian::native == std::endian::little ? i : sizeof(U) - 1 - i;
    out[i] = static_cast<std::byte>(static_cast<std::uint8_t>(value >> (8 * shift)));
  }
}

template <class U>
  requires std::is_unsigned_v<U>
[[nodiscard]] constexpr U host_load(const std::byte* in) noexcept {
  U value = 0;
  for (std::size_t i = 0; i < sizeof(U); ++i) {
    const std::size_t shift = std::endian::native == std::endian::little ? i : sizeof(U) - 1 - i;
    value = static_cast<U>(value | static_cast<U>(static_cast<U>(in[i]) << (8 * shift)));
  }
  return value;
}

// ---- commands, flags, indexes ---------------------------------------------------------------------------

// Section "Commands" (and enum vfio_user_command of vfio-user.h).
enum class command : std::uint16_t {
  version = 1,
  dma_map = 2,
  dma_unmap = 3,
  device_get_info = 4,
  device_get_region_info = 5,
  device_get_region_io_fds = 6,
  device_get_irq_info = 7,
  device_set_irqs = 8,
  region_read = 9,
  region_write = 10,
  dma_read = 11,
  dma_write = 12,
  device_reset = 13,
  region_write_multi = 15,
  device_feature = 16,
};

// Header flags (section "Header"): type in bits 3:0 (0 command, 1 reply), bit 4 no_reply, bit 5 error.
enum class message_type : std::uint8_t { command = 0, reply = 1 };
inline constexpr std::uint32_t flag_type_mask = 0xF;
inline constexpr std::uint32_t flag_no_reply = 1U << 4;
inline constexpr std::uint32_t flag_error = 1U << 5;

inline constexpr std::size_t header_size = 16;

// Protocol version vpci speaks (section "VFIO_USER_VERSION"): major 0, minor 1 (libvfio-user's
// LIB_VFIO_USER_MINOR; QEMU proposes minor 0, VFIO_USER_MINOR_VER in hw/vfio-user/protocol.h, and a server
// answers it with min(proposed, its own)); a reply must keep the major and may lower the minor.
inline constexpr std::uint16_t version_major = 0;
inline constexpr std::uint16_t version_minor = 1;
// max_data_xfer_size when the peer's capabilities name none (Version, Capabilities table).
inline constexpr std::uint32_t default_max_data_xfer_size = 1048576;
// max_msg_fds when the peer names none.
inline constexpr std::uint32_t default_max_msg_fds = 1;

// VFIO_DEVICE_FLAGS_* (linux/vfio.h; section "VFIO_USER_DEVICE_GET_INFO").
inline constexpr std::uint32_t device_flag_reset = 1U << 0;
inline constexpr std::uint32_t device_flag_pci = 1U << 1;

// VFIO PCI region indexes (linux/vfio.h): BAR0..5 = 0..5, ROM = 6, CONFIG = 7, VGA = 8; 9 regions.
inline constexpr std::uint32_t pci_config_region_index = 7;
inline constexpr std::uint32_t pci_region_count = 9;
// VFIO PCI IRQ indexes (linux/vfio.h): INTX = 0, MSI = 1, MSIX = 2, ERR = 3, REQ = 4; 5 types.
inline constexpr std::uint32_t pci_intx_irq_index = 0;
inline constexpr std::uint32_t pci_irq_count = 5;

// VFIO_REGION_INFO_FLAG_* (section "VFIO_USER_DEVICE_GET_REGION_INFO").
inline constexpr std::uint32_t region_flag_read = 1U << 0;
inline constexpr std::uint32_t region_flag_write = 1U << 1;
inline constexpr std::uint32_t region_flag_mmap = 1U << 2;
inline constexpr std::uint32_t region_flag_caps = 1U << 3;

// VFIO_IRQ_INFO_* (section "VFIO_USER_DEVICE_GET_IRQ_INFO").
inline constexpr std::uint32_t irq_info_eventfd = 1U << 0;
inline constexpr std::uint32_t irq_info_maskable = 1U << 1;
inline constexpr std::uint32_t irq_info_automasked = 1U << 2;
inline constexpr std::uint32_t irq_info_noresize = 1U << 3;

// VFIO_IRQ_SET_* (section "VFIO_USER_DEVICE_SET_IRQS"): one data flag and one action flag.
inline constexpr std::uint32_t irq_set_data_none = 1U << 0;
inline constexpr std::uint32_t irq_set_data_bool = 1U << 1;
inline constexpr std::uint32_t irq_set_data_eventfd = 1U << 2;
inline constexpr std::uint32_t irq_set_action_mask = 1U << 3;
inline constexpr std::uint32_t irq_set_action_unmask = 1U << 4;
inline constexpr std::uint32_t irq_set_action_trigger = 1U << 5;
inline constexpr std::uint32_t irq_set_data_mask = irq_set_data_none | irq_set_data_bool | irq_set_data_eventfd;
inline constexpr std::uint32_t irq_set_action_mask_bits =
    irq_set_action_mask | irq_set_action_unmask | irq_set_action_trigger;

// ---- header ---------------------------------------------------------------------------------------------

struct header {
  std::uint16_t message_id{0};
  std::uint16_t command{0};     // raw: a peer may name a command this codec does not know
  std::uint32_t message_size{0};  // the whole message, header included
  std::uint32_t flags{0};
  std::uint32_t error_number{0};  // an errno in an error reply; reserved (0) in a command

  [[nodiscard]] constexpr message_type type() const noexcept {
    return static_cast<message_type>(flags & flag_type_mask);
  }
  [[nodiscard]] constexpr bool is_reply() const noexcept { return (flags & flag_type_mask) == 1; }
  [[nodiscard]] constexpr bool is_command() const noexcept { return (flags & flag_type_mask) == 0; }
  [[nodiscard]] constexpr bool no_reply() const noexcept { return (flags & flag_no_reply) != 0; }
  [[nodiscard]] constexpr bool error() const noexcept { return (flags & flag_error) != 0; }
  [[nodiscard]] constexpr std::size_t payload_size() const noexcept {
    return message_size >= header_size ? message_size - header_size : 0;
  }
};

[[nodiscard]] constexpr header command_header(std::uint16_t id, command c, std::size_t payload) noexcept {
  return header{id, static_cast<std::uint16_t>(c), static_cast<std::uint32_t>(header_size + payload), 0, 0};
}
[[nodiscard]] constexpr header reply_header(const header& request, std::size_t payload) noexcept {
  return header{request.message_id, request.command, static_cast<std::uint32_t>(header_size + payload), 1, 0};
}
[[nodiscard]] constexpr header error_reply_header(const header& request, std::uint32_t error_number) noexcept {
  return header{request.message_id, request.command, static_cast<std::uint32_t>(header_size), 1 | flag_error,
                error_number};
}

[[nodiscard]] constexpr result<std::size_t> encode(const header& h, std::span<std::byte> out) noexcept {
  if (out.size() < header_size) return errc::buffer_too_small;
  host_store(out.data(), h.message_id);
  host_store(out.data() + 2, h.command);
  host_store(out.data() + 4, h.message_size);
  host_store(out.data() + 8, h.flags);
  host_store(out.data() + 12, h.error_number);
  return header_size;
}

// Decodes the first 16 bytes. A message size below the header's own size is malformed (no framing can
// follow it); whether the size is acceptable otherwise is the reader's decision (its limit).
[[nodiscard]] constexpr result<header> decode_header(std::span<const std::byte> in) noexcept {
  if (in.size() < header_size) return errc::truncated_message;
  header h;
  h.message_id = host_load<std::uint16_t>(in.data());
  h.command = host_load<std::uint16_t>(in.data() + 2);
  h.message_size = host_load<std::uint32_t>(in.data() + 4);
  h.flags = host_load<std::uint32_t>(in.data() + 8);
  h.error_number = host_load<std::uint32_t>(in.data() + 12);
  if (h.message_size < header_size) return errc::malformed_message;
  return h;
}

namespace detail {

// A payload of a struct of `fixed` bytes: fewer is truncated; more is malformed unless `allow_tail` (a
// request whose bytes after the struct are taken and ignored).
[[nodiscard]] constexpr errc check_fixed(std::size_t size, std::size_t fixed, bool allow_tail = false) noexcept {
  if (size < fixed) return errc::truncated_message;
  if (size > fixed && !allow_tail) return errc::malformed_message;
  return no_error;
}

}  // namespace detail

// ---- VFIO_USER_VERSION ----------------------------------------------------------------------------------

// Payload: major u16, minor u16, then optional JSON (UTF-8, NUL-terminated) with a "capabilities" object.
struct version {
  std::uint16_t major{version_major};
  std::uint16_t minor{version_minor};
  std::string_view json{};  // without the terminating NUL; empty: no version data
};

// The JSON is written followed by its NUL when not empty.
[[nodiscard]] constexpr result<std::size_t> encode(const version& v, std::span<std::byte> out) noexcept {
  const std::size_t size = 4 + (v.json.empty() ? 0 : v.json.size() + 1);
  if (out.size() < size) return errc::buffer_too_small;
  host_store(out.data(), v.major);
  host_store(out.data() + 2, v.minor);
  for (std::size_t i = 0; i < v.json.size(); ++i) out[4 + i] = static_cast<std::byte>(v.json[i]);
  if (!v.json.empty()) out[4 + v.json.size()] = std::byte{0};
  return size;
}

// `json` views into `in`: up to (not including) the first NUL. Version data must end with its NUL, as
// libvfio-user's server (lib/tran.c, recv_version) and QEMU's client ("corrupt version reply") require:
// malformed_message otherwise. Errors: truncated_message, malformed_message.
[[nodiscard]] inline result<version> decode_version(std::span<const std::byte> in) noexcept {
  if (in.size() < 4) return errc::truncated_message;
  if (in.size() > 4 && in.back() != std::byte{0}) return errc::malformed_message;
  version v;
  v.major = host_load<std::uint16_t>(in.data());
  v.minor = host_load<std::uint16_t>(in.data() + 2);
  std::size_t length = 0;
  while (4 + length < in.size() && in[4 + length] != std::byte{0}) ++length;
  v.json = std::string_view(reinterpret_cast<const char*>(in.data() + 4), length);
  return v;
}

// The capabilities vpci reads from a peer's version data; the rest of the object is parsed (to reject
// malformed JSON) and ignored.
struct capabilities {
  std::uint32_t max_msg_fds{default_max_msg_fds};
  std::uint32_t max_data_xfer_size{default_max_data_xfer_size};
};

namespace detail {

// A minimal strict JSON reader (RFC 8259 grammar): enough to walk any value, bounded nesting, no allocation.
class json_reader {
 public:
  explicit constexpr json_reader(std::string_view text) noexcept : text_(text) {}

 private:
  static constexpr int max_depth = 16;

  [[nodiscard]] constexpr bool empty() const noexcept { return at_ >= text_.size(); }
  [[nodiscard]] constexpr char peek() const noexcept { return text_[at_]; }
  constexpr void skip_space() noexcept {
    while (!empty() && (peek() == ' ' || peek() == '\t' || peek() == '\n' || peek() == '\r')) ++at_;
  }
  [[nodiscard]] constexpr bool take(char c) noexcept {
    skip_space();
    if (empty() || peek() != c) return false;
    ++at_;
    return true;
  }

  template <class OnMember>
  [[nodiscard]] constexpr errc read_object(int depth, OnMember&& on_member) noexcept {
    if (depth > max_depth) return errc::malformed_message;
    if (!take('{')) return errc::malformed_message;
    if (take('}')) return no_error;
    for (;;) {
      skip_space();
      std::string_view key;
      if (const errc e = read_string(key); e != no_error) return e;
      if (!take(':')) return errc::malformed_message;
      if (const errc e = on_member(key, *this); e != no_error) return e;
      if (take('}')) return no_error;
      if (!take(',')) return errc::malformed_message;
    }
  }

  // A string's raw contents (escapes validated, not decoded: the keys vpci looks for have none).
  [[nodiscard]] constexpr errc read_string(std::string_view& out) noexcept {
    if (empty() || peek() != '"') return errc::malformed_message;
    const std::size_t start = ++at_;
    while (!empty()) {
      const char c = text_[at_];
      if (c == '"') {
        out = text_.substr(start, at_ - start);
        ++at_;
        return no_error;
      }
      if (static_cast<unsigned char>(c) < 0x20) return errc::malformed_message;
      if (c == '\\') {
        if (++at_ >= text_.size()) return errc::malformed_message;
        const char e = text_[at_];
        if (e == 'u') {
          for (int i = 0; i < 4; ++i) {
            if (++at_ >= text_.size() || !is_hex(text_[at_])) return errc::malformed_message;
          }
        } else if (e != '"' && e != '\\' && e != '/' && e != 'b' && e != 'f' && e != 'n' && e != 'r' && e != 't') {
          return errc::malformed_message;
        }
      }
      ++at_;
    }
    return errc::malformed_message;
  }

  static constexpr bool is_hex(char c) noexcept {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
  }
  static constexpr bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }

  // A JSON number's extent; `integer` receives its value when it is a non-negative integer below 2^32.
  [[nodiscard]] constexpr errc read_number(bool& is_u32, std::uint32_t& integer) noexcept {
    skip_space();
    is_u32 = true;
    std::uint64_t value = 0;
    if (!empty() && peek() == '-') {
      is_u32 = false;
      ++at_;
    }
    if (empty() || !is_digit(peek())) return errc::malformed_message;
    if (peek() == '0') {
      ++at_;
    } else {
      while (!empty() && is_digit(peek())) {
        value = value * 10 + static_cast<std::uint64_t>(peek() - '0');
        if (value > 0xFFFFFFFFU) {
          is_u32 = false;
          value = 0xFFFFFFFFU;  // keeps the arithmetic bounded; the verdict is already "not a u32"
        }
        ++at_;
      }
    }
    if (!empty() && peek() == '.') {
      is_u32 = false;
      ++at_;
      if (empty() || !is_digit(peek())) return errc::malformed_message;
      while (!empty() && is_digit(peek())) ++at_;
    }
    if (!empty() && (peek() == 'e' || peek() == 'E')) {
      is_u32 = false;
      ++at_;
      if (!empty() && (peek() == '+' || peek() == '-')) ++at_;
      if (empty() || !is_digit(peek())) return errc::malformed_message;
      while (!empty() && is_digit(peek())) ++at_;
    }
    integer = static_cast<std::uint32_t>(value);
    return no_error;
  }

  // A capability that must be a non-negative integer that fits 32 bits: anything else is malformed.
  [[nodiscard]] constexpr errc read_u32(std::uint32_t& out) noexcept {
    bool is_u32 = false;
    std::uint32_t value = 0;
    if (const errc e = read_number(is_u32, value); e != no_error) return e;
    if (!is_u32) return errc::malformed_message;
    out = value;
    return no_error;
  }

  [[nodiscard]] constexpr bool take_literal(std::string_view word) noexcept {
    if (text_.substr(at_, word.size()) != word) return false;
    at_ += word.size();
    return true;
  }

  [[nodiscard]] constexpr errc skip_value(int depth) noexcept {
    if (depth > max_depth) return errc::malformed_message;
    skip_space();
    if (empty()) return errc::malformed_message;
    switch (peek()) {
      case '{':
        return read_object(depth, [depth](std::string_view, json_reader& r) { return r.skip_value(depth + 1); });
      case '[': {
        ++at_;
        if (take(']')) return no_error;
        for (;;) {
          if (const errc e = skip_value(depth + 1); e != no_error) return e;
          if (take(']')) return no_error;
          if (!take(',')) return errc::malformed_message;
        }
      }
      case '"': {
        std::string_view ignored;
        return read_string(ignored);
      }
      case 't':
        return take_literal("true") ? no_error : errc::malformed_message;
      case 'f':
        return take_literal("false") ? no_error : errc::malformed_message;
      case 'n':
        return take_literal("null") ? no_error : errc::malformed_message;
      default: {
        bool is_u32 = false;
        std::uint32_t ignored = 0;
        return read_number(is_u32, ignored);
      }
    }
  }

 public:
  // Defined after the members it uses: clang 14 cannot evaluate at compile time a member template that is
  // used before its definition in the class.
  [[nodiscard]] constexpr errc read_document(capabilities& caps) noexcept {
    skip_space();
    if (empty()) return no_error;  // no version data at all: every capability at its default
    if (peek() != '{') return errc::malformed_message;
    errc e = read_object(0, [&](std::string_view key, json_reader& r) -> errc {
      if (key != "capabilities") return r.skip_value(1);
      r.skip_space();
      if (r.empty() || r.peek() != '{') return errc::malformed_message;
      return r.read_object(1, [&](std::string_view name, json_reader& inner) -> errc {
        if (name == "max_data_xfer_size") return inner.read_u32(caps.max_data_xfer_size);
        if (name == "max_msg_fds") return inner.read_u32(caps.max_msg_fds);
        return inner.skip_value(2);
      });
    });
    if (e != no_error) return e;
    skip_space();
    return empty() ? no_error : errc::malformed_message;
  }

 private:
  std::string_view text_;
  std::size_t at_{0};
};

}  // namespace detail

// Reads the capabilities vpci uses from a version message's JSON. Empty text: every default.
// Errors: malformed_message (not a JSON object, trailing garbage, nesting deeper than 16, a capability vpci
// reads that is not a non-negative integer below 2^32).
[[nodiscard]] constexpr result<capabilities> parse_capabilities(std::string_view json) noexcept {
  capabilities caps;
  detail::json_reader reader(json);
  if (const errc e = reader.read_document(caps); e != no_error) return e;
  return caps;
}

// ---- VFIO_USER_DEVICE_GET_INFO --------------------------------------------------------------------------

// Request and reply: argsz, flags, num_regions, num_irqs (16 bytes). In a request, argsz is the largest
// reply payload accepted and the rest is zero.
struct device_info {
  std::uint32_t argsz{16};
  std::uint32_t flags{0};
  std::uint32_t num_regions{0};
  std::uint32_t num_irqs{0};
};
inline constexpr std::size_t device_info_size = 16;

[[nodiscard]] constexpr result<std::size_t> encode(const device_info& d, std::span<std::byte> out) noexcept {
  if (out.size() < device_info_size) return errc::buffer_too_small;
  host_store(out.data(), d.argsz);
  host_store(out.data() + 4, d.flags);
  host_store(out.data() + 8, d.num_regions);
  host_store(out.data() + 12, d.num_irqs);
  return device_info_size;
}
// `allow_tail`: bytes after the 16 are taken and ignored, for a request (libvfio-user takes any payload of
// at least 16: a client may send the kernel's 24-byte struct vfio_device_info); a reply is exactly 16.
[[nodiscard]] constexpr result<device_info> decode_device_info(std::span<const std::byte> in,
                                                               bool allow_tail = false) noexcept {
  if (const errc e = detail::check_fixed(in.size(), device_info_size, allow_tail); e != no_error) return e;
  return device_info{host_load<std::uint32_t>(in.data()), host_load<std::uint32_t>(in.data() + 4),
                     host_load<std::uint32_t>(in.data() + 8), host_load<std::uint32_t>(in.data() + 12)};
}

// ---- VFIO_USER_DEVICE_GET_REGION_INFO -------------------------------------------------------------------

// struct vfio_region_info: argsz, flags, index, cap_offset, size u64, offset u64 (32 bytes).
struct region_info {
  std::uint32_t argsz{32};
  std::uint32_t flags{0};
  std::uint32_t index{0};
  std::uint32_t cap_offset{0};
  std::uint64_t size{0};
  std::uint64_t offset{0};
};
inline constexpr std::size_t region_info_size = 32;

[[nodiscard]] constexpr result<std::size_t> encode(const region_info& r, std::span<std::byte> out) noexcept {
  if (out.size() < region_info_size) return errc::buffer_too_small;
  host_store(out.data(), r.argsz);
  host_store(out.data() + 4, r.flags);
  host_store(out.data() + 8, r.index);
  host_store(out.data() + 12, r.cap_offset);
  host_store(out.data() + 16, r.size);
  host_store(out.data() + 24, r.offset);
  return region_info_size;
}
// `allow_tail`: bytes after the 32 are taken and ignored, for a request: SPDK's client sends its whole
// argsz-sized buffer (lib/vfio_user/host/vfio_user.c: argsz and payload 4064), and libvfio-user takes any
// payload of at least 32. Without it the payload is exactly 32: a reply to a client that gave argsz 32 (a
// reply is at most argsz bytes; QEMU's client calls a longer one a broken stream).
[[nodiscard]] constexpr result<region_info> decode_region_info(std::span<const std::byte> in,
                                                               bool allow_tail = false) noexcept {
  if (const errc e = detail::check_fixed(in.size(), region_info_size, allow_tail); e != no_error) return e;
  return region_info{host_load<std::uint32_t>(in.data()),      host_load<std::uint32_t>(in.data() + 4),
                     host_load<std::uint32_t>(in.data() + 8),  host_load<std::uint32_t>(in.data() + 12),
                     host_load<std::uint64_t>(in.data() + 16), host_load<std::uint64_t>(in.data() + 24)};
}

// ---- VFIO_USER_DEVICE_GET_IRQ_INFO ----------------------------------------------------------------------

// struct vfio_irq_info: argsz, flags, index, count (16 bytes), request and reply.
struct irq_info {
  std::uint32_t argsz{16};
  std::uint32_t flags{0};
  std::uint32_t index{0};
  std::uint32_t count{0};
};
inline constexpr std::size_t irq_info_size = 16;

[[nodiscard]] constexpr result<std::size_t> encode(const irq_info& i, std::span<std::byte> out) noexcept {
  if (out.size() < irq_info_size) return errc::buffer_too_small;
  host_store(out.data(), i.argsz);
  host_store(out.data() + 4, i.flags);
  host_store(out.data() + 8, i.index);
  host_store(out.data() + 12, i.count);
  return irq_info_size;
}
[[nodiscard]] constexpr result<irq_info> decode_irq_info(std::span<const std::byte> in) noexcept {
  if (const errc e = detail::check_fixed(in.size(), irq_info_size); e != no_error) return e;
  return irq_info{host_load<std::uint32_t>(in.data()), host_load<std::uint32_t>(in.data() + 4),
                  host_load<std::uint32_t>(in.data() + 8), host_load<std::uint32_t>(in.data() + 12)};
}

// ---- VFIO_USER_DEVICE_SET_IRQS --------------------------------------------------------------------------

// struct vfio_irq_set: argsz, flags, index, start, count (20 bytes), then `data` (DATA_BOOL: count bytes).
// Eventfds travel as SCM_RIGHTS, not in the payload. The reply has no payload.
struct irq_set {
  std::uint32_t argsz{20};
  std::uint32_t flags{0};
  std::uint32_t index{0};
  std::uint32_t start{0};
  std::uint32_t count{0};
  std::span<const std::byte> data{};
};
inline constexpr std::size_t irq_set_size = 20;

[[nodiscard]] constexpr result<std::size_t> encode(const irq_set& s, std::span<std::byte> out) noexcept {
  const std::size_t size = irq_set_size + s.data.size();
  if (out.size() < size) return errc::buffer_too_small;
  host_store(out.data(), s.argsz);
  host_store(out.data() + 4, s.flags);
  host_store(out.data() + 8, s.index);
  host_store(out.data() + 12, s.start);
  host_store(out.data() + 16, s.count);
  le::copy(s.data, out.data() + irq_set_size);
  return size;
}
// Checks the shape the spec gives: exactly one data flag and one action flag, no other bits, argsz at least
// the fixed 20 bytes, DATA_BOOL carrying `count` bytes and the other data kinds none. argsz is not the
// payload's size: QEMU's client passes on the kernel's, which counts the eventfds (24 for one) that travel
// as SCM_RIGHTS instead (hw/vfio-user/device.c); libvfio-user checks argsz >= 20 alone.
// Errors: truncated_message, malformed_message.
[[nodiscard]] constexpr result<irq_set> decode_irq_set(std::span<const std::byte> in) noexcept {
  if (in.size() < irq_set_size) return errc::truncated_message;
  irq_set s{host_load<std::uint32_t>(in.data()),      host_load<std::uint32_t>(in.data() + 4),
            host_load<std::uint32_t>(in.data() + 8),  host_load<std::uint32_t>(in.data() + 12),
            host_load<std::uint32_t>(in.data() + 16), in.subspan(irq_set_size)};
  const std::uint32_t data_kind = s.flags & irq_set_data_mask;
  const std::uint32_t action = s.flags & irq_set_action_mask_bits;
  if ((s.flags & ~(irq_set_data_mask | irq_set_action_mask_bits)) != 0 || std::popcount(data_kind) != 1 ||
      std::popcount(action) != 1)
    return errc::malformed_message;
  if (s.argsz < irq_set_size) return errc::malformed_message;
  const std::size_t expected_data = data_kind == irq_set_data_bool ? s.count : 0;
  if (s.data.size() != expected_data) return errc::malformed_message;
  return s;
}

// ---- VFIO_USER_REGION_READ / VFIO_USER_REGION_WRITE -----------------------------------------------------

// offset u64, region u32, count u32 (16 bytes), then `data`: a read request and a write reply have none; a
// read reply and a write request have `count` bytes.
struct region_access {
  std::uint64_t offset{0};
  std::uint32_t region{0};
  std::uint32_t count{0};
  std::span<const std::byte> data{};
};
inline constexpr std::size_t region_access_size = 16;

[[nodiscard]] constexpr result<std::size_t> encode(const region_access& a, std::span<std::byte> out) noexcept {
  const std::size_t size = region_access_size + a.data.size();
  if (out.size() < size) return errc::buffer_too_small;
  host_store(out.data(), a.offset);
  host_store(out.data() + 8, a.region);
  host_store(out.data() + 12, a.count);
  le::copy(a.data, out.data() + region_access_size);
  return size;
}
// `with_data`: the message carries `count` data bytes (a read reply, a write request); else none (a read
// request, a write reply). Errors: truncated_message, malformed_message (the bytes after the fixed part
// are not what `count` says).
[[nodiscard]] constexpr result<region_access> decode_region_access(std::span<const std::byte> in,
                                                                   bool with_data) noexcept {
  if (in.size() < region_access_size) return errc::truncated_message;
  region_access a{host_load<std::uint64_t>(in.data()), host_load<std::uint32_t>(in.data() + 8),
                  host_load<std::uint32_t>(in.data() + 12), in.subspan(region_access_size)};
  const std::size_t expected = with_data ? a.count : 0;
  if (a.data.size() < expected) return errc::truncated_message;
  if (a.data.size() > expected) return errc::malformed_message;
  return a;
}

// ---- VFIO_USER_DMA_MAP / VFIO_USER_DMA_UNMAP ------------------------------------------------------------

// DMA_MAP request: argsz, flags, offset u64, address u64, size u64 (32 bytes); no reply payload.
struct dma_map {
  std::uint32_t argsz{32};
  std::uint32_t flags{0};
  std::uint64_t offset{0};
  std::uint64_t address{0};
  std::uint64_t size{0};
};
inline constexpr std::size_t dma_map_size = 32;
// The flags a DMA_MAP may carry: the client's access to the region (libvfio-user refuses any other bit).
inline constexpr std::uint32_t dma_map_flag_read = 1U << 0;
inline constexpr std::uint32_t dma_map_flag_write = 1U << 1;

[[nodiscard]] constexpr result<std::size_t> encode(const dma_map& m, std::span<std::byte> out) noexcept {
  if (out.size() < dma_map_size) return errc::buffer_too_small;
  host_store(out.data(), m.argsz);
  host_store(out.data() + 4, m.flags);
  host_store(out.data() + 8, m.offset);
  host_store(out.data() + 16, m.address);
  host_store(out.data() + 24, m.size);
  return dma_map_size;
}
[[nodiscard]] constexpr result<dma_map> decode_dma_map(std::span<const std::byte> in) noexcept {
  if (const errc e = detail::check_fixed(in.size(), dma_map_size); e != no_error) return e;
  return dma_map{host_load<std::uint32_t>(in.data()), host_load<std::uint32_t>(in.data() + 4),
                 host_load<std::uint64_t>(in.data() + 8), host_load<std::uint64_t>(in.data() + 16),
                 host_load<std::uint64_t>(in.data() + 24)};
}

// DMA_UNMAP request and reply ("the server responds with the original DMA entry"): argsz, flags,
// address u64, size u64 (24 bytes). Flags as linux/vfio.h's: vpci supports no dirty-page bitmap (bit 0);
// "unmap all" (bit 1) is what QEMU sends when a vIOMMU drops the whole address space.
struct dma_unmap {
  std::uint32_t argsz{24};
  std::uint32_t flags{0};
  std::uint64_t address{0};
  std::uint64_t size{0};
};
inline constexpr std::size_t dma_unmap_size = 24;
inline constexpr std::uint32_t dma_unmap_flag_get_dirty_bitmap = 1U << 0;
inline constexpr std::uint32_t dma_unmap_flag_all = 1U << 1;

[[nodiscard]] constexpr result<std::size_t> encode(const dma_unmap& m, std::span<std::byte> out) noexcept {
  if (out.size() < dma_unmap_size) return errc::buffer_too_small;
  host_store(out.data(), m.argsz);
  host_store(out.data() + 4, m.flags);
  host_store(out.data() + 8, m.address);
  host_store(out.data() + 16, m.size);
  return dma_unmap_size;
}
[[nodiscard]] constexpr result<dma_unmap> decode_dma_unmap(std::span<const std::byte> in) noexcept {
  if (const errc e = detail::check_fixed(in.size(), dma_unmap_size); e != no_error) return e;
  return dma_unmap{host_load<std::uint32_t>(in.data()), host_load<std::uint32_t>(in.data() + 4),
                   host_load<std::uint64_t>(in.data() + 8), host_load<std::uint64_t>(in.data() + 16)};
}

// ---- whole messages -------------------------------------------------------------------------------------

// A command: header (message ID `id`, reply flags clear) then `payload`. Returns the message size.
template <class Payload>
[[nodiscard]] constexpr result<std::size_t> encode_command(std::uint16_t id, command c, const Payload& payload,
                                                           std::span<std::byte> out) noexcept {
  if (out.size() < header_size) return errc::buffer_too_small;
  auto body = encode(payload, out.subspan(header_size));
  if (!body) return body.error();
  (void)encode(command_header(id, c, *body), out);
  return header_size + *body;
}
// A command without payload (DEVICE_RESET).
[[nodiscard]] constexpr result<std::size_t> encode_command(std::uint16_t id, command c,
                                                           std::span<std::byte> out) noexcept {
  return encode(command_header(id, c, 0), out);
}

}  // namespace vpci::vfio_user
