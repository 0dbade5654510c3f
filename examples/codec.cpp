// vpci-codec: the Hyper-V vPCI frames a VF and a PF exchange (binding 2), decoded field by field.
//
//   vpci-codec                       a walkthrough: version negotiation, a read, a write as Linux sends it,
//                                    an invalidation, each frame encoded and then decoded
//   vpci-codec [--frame|--packet] HEX...
//                                    decodes your own bytes: a frame (u32 length prefix, then the packet)
//                                    or a bare VMBus packet; without --frame/--packet, bytes whose first
//                                    four are the length of the rest are a frame. "-" reads HEX from
//                                    standard input. The forms HEX takes are usage_text's (--help).
//
// Every packet, yours or the walkthrough's, is printed the same way: the bytes, the VMBus descriptor
// (type, offset8, len8, flags, transaction ID), then the message's own fields. A completion does not say
// which request it answers (the transaction ID does), so its fields are shown as every completion reads
// them (status, then the bytes after it: a read's block data, a version completion's version).
// Bytes that do not decode: the fields that did, then the error, and exit status 1; so does standard input
// that cannot be read (the reason named). A usage error (an unknown option, HEX that is not hex, an option
// or "-" given twice, --frame with --packet) is exit status 2.
#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <iterator>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <vpci/core.hpp>
#include <vpci/error.hpp>

#include "blocks.hpp"
#include "given_options.hpp"
#include "quoted_text.hpp"

namespace {

using namespace vpci;
using vpci::tools::quoted_text;
using frame_buffer = std::array<std::byte, hyperv::max_frame_size>;

void print_bytes(std::span<const std::byte> bytes, const char* indent) {
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    if (i % 16 == 0) std::printf("%s%s%04zx:", i ? "\n" : "", indent, i);
    std::printf(" %02x", static_cast<unsigned>(bytes[i]));
  }
  if (!bytes.empty()) std::printf("\n");
}

const char* ntstatus_name(std::uint32_t status) {
  switch (static_cast<ntstatus>(status)) {
    case ntstatus::success: return "STATUS_SUCCESS";
    case ntstatus::pending: return "STATUS_PENDING";
    case ntstatus::buffer_overflow: return "STATUS_BUFFER_OVERFLOW";
    case ntstatus::unsuccessful: return "STATUS_UNSUCCESSFUL";
    case ntstatus::info_length_mismatch: return "STATUS_INFO_LENGTH_MISMATCH";
    case ntstatus::invalid_parameter: return "STATUS_INVALID_PARAMETER";
    case ntstatus::no_such_device: return "STATUS_NO_SUCH_DEVICE";
    case ntstatus::invalid_device_request: return "STATUS_INVALID_DEVICE_REQUEST";
    case ntstatus::access_denied: return "STATUS_ACCESS_DENIED";
    case ntstatus::buffer_too_small: return "STATUS_BUFFER_TOO_SMALL";
    case ntstatus::revision_mismatch: return "STATUS_REVISION_MISMATCH";
    case ntstatus::insufficient_resources: return "STATUS_INSUFFICIENT_RESOURCES";
    case ntstatus::device_not_ready: return "STATUS_DEVICE_NOT_READY";
    case ntstatus::io_timeout: return "STATUS_IO_TIMEOUT";
    case ntstatus::not_supported: return "STATUS_NOT_SUPPORTED";
    case ntstatus::cancelled: return "STATUS_CANCELLED";
    case ntstatus::not_found: return "STATUS_NOT_FOUND";
    case ntstatus::bad_data: return "STATUS_BAD_DATA";
  }
  return "an NTSTATUS vpci does not name";
}

const char* descriptor_type_name(std::uint16_t type) {
  switch (type) {
    case hyperv::vmbus::packet_data_inband: return "VM_PKT_DATA_INBAND";
    case hyperv::vmbus::packet_completion: return "VM_PKT_COMP";
    default: return "not a type vPCI uses";
  }
}

void print_status(std::uint32_t status) { std::printf("    status:           0x%08x (%s)\n", status, ntstatus_name(status)); }

void print_wslot(std::uint32_t raw) {
  std::printf("    wslot:            0x%08x", raw);
  if (auto slot = hyperv::decode_wslot(raw))
    std::printf(" (device %u, function %u)\n", slot->device, slot->function);
  else
    std::printf(" (reserved bits 31:8 set)\n");
}

int failed(errc e) {
  std::printf("    error:            %s\n", describe(e));
  return 1;
}

// Decodes and prints one VMBus packet; 0 when it decoded, 1 after printing the error.
int print_packet(std::span<const std::byte> packet) {
  std::printf("  packet (%zu byte%s):\n", packet.size(), packet.size() == 1 ? "" : "s");
  print_bytes(packet, "    ");
  // The descriptor's fields, each one whose bytes are there: a packet cut short still shows what it says.
  const auto holds = [&](std::size_t end) { return packet.size() >= end; };
  const std::uint16_t type = holds(2) ? le::load_u16(packet.data()) : 0;
  const std::uint16_t offset8 = holds(4) ? le::load_u16(packet.data() + 2) : 0;
  const std::uint16_t len8 = holds(6) ? le::load_u16(packet.data() + 4) : 0;
  const std::uint16_t flags = holds(8) ? le::load_u16(packet.data() + 6) : 0;
  if (holds(2)) std::printf("    descriptor type:  %u (%s)\n", type, descriptor_type_name(type));
  if (holds(4)) std::printf("    offset8:          %u (payload at byte %u)\n", offset8, offset8 * 8u);
  if (holds(6)) std::printf("    len8:             %u (%u bytes)\n", len8, len8 * 8u);
  if (holds(8))
    std::printf("    flags:            0x%04x%s\n", flags,
                (flags & hyperv::vmbus::flag_completion_requested) != 0 ? " (completion requested)" : "");
  if (holds(16))
    std::printf("    transaction ID:   %llu\n", static_cast<unsigned long long>(le::load_u64(packet.data() + 8)));
  const auto len8_mismatch = [&] {
    std::printf("    len8 says %u bytes; this packet is %zu (%zu padded to 8 bytes)\n", len8 * 8u, packet.size(),
                hyperv::vmbus::padded(packet.size()));
  };
  if (!holds(hyperv::vmbus::descriptor_size)) {
    std::printf("    descriptor:       only %zu of its %zu bytes\n", packet.size(), hyperv::vmbus::descriptor_size);
    // A len8 claiming more bytes than came says where they went: lost, not only a short descriptor.
    if (holds(6) && len8 * 8u > hyperv::vmbus::padded(packet.size())) len8_mismatch();
    return failed(errc::truncated_message);
  }
  auto descriptor = hyperv::vmbus::decode_descriptor(packet);
  if (!descriptor) {
    // Each field at fault is named (find_descriptor_fault names the first only).
    if (offset8 * 8u < hyperv::vmbus::descriptor_size || offset8 * 8u > packet.size())
      std::printf("    offset8 puts the payload at byte %u, outside this %zu-byte packet (from byte %zu on)\n",
                  offset8 * 8u, packet.size(), hyperv::vmbus::descriptor_size);
    if (len8 * 8u != hyperv::vmbus::padded(packet.size())) len8_mismatch();
    return failed(descriptor.error());
  }

  if (descriptor->type == hyperv::vmbus::packet_completion) {
    if (packet.size() < hyperv::read_response::header_size) return failed(errc::truncated_message);
    const std::uint32_t status = le::load_u32(packet.data() + 16);
    const auto after = packet.subspan(hyperv::read_response::header_size);
    std::printf("    message:          completion (answers the request with this transaction ID)\n");
    print_status(status);
    std::printf("    after the status: %zu bytes (a read's block data and padding; a write's padding; a version "
                "completion's version)\n",
                after.size());
    print_bytes(after, "      ");
    if (after.size() == 4) {  // a version completion's size (a write completion's too: its 4 bytes are padding)
      const std::uint32_t version = le::load_u32(after.data());
      std::printf("    if it answers a version query: version 0x%08x (%u.%u)\n", version, version >> 16, version & 0xFFFFu);
    }
    // A completion without its status is no completion, whichever request it claims to answer (a VF
    // takes any bytes after the status, as pci-hyperv.c).
    auto completion = hyperv::decode_write_completion(packet);
    return completion ? 0 : failed(completion.error());
  }
  if (descriptor->type != hyperv::vmbus::packet_data_inband) return failed(errc::unknown_message_type);

  const auto payload = hyperv::vmbus::payload_of(packet, *descriptor);
  auto kind = hyperv::peek_message_type(payload);
  if (!kind) {
    if (payload.size() >= 4) std::printf("    message:          0x%08x (unknown)\n", le::load_u32(payload.data()));
    return failed(kind.error());
  }
  const std::uint32_t raw_type = le::load_u32(payload.data());
  switch (*kind) {
    case hyperv::message_type::read_block: {
      std::printf("    message:          0x%08x PCI_READ_BLOCK (VF -> PF)\n", raw_type);
      if (payload.size() >= hyperv::read_request::wire_size) {
        std::printf("    block ID:         %u\n", le::load_u32(payload.data() + 4));
        print_wslot(le::load_u32(payload.data() + 8));
        std::printf("    bytes requested:  %u\n", le::load_u32(payload.data() + 12));
      }
      auto m = hyperv::decode_read_request(payload);
      return m ? 0 : failed(m.error());
    }
    case hyperv::message_type::write_block: {
      std::printf("    message:          0x%08x PCI_WRITE_BLOCK (VF -> PF)\n", raw_type);
      if (payload.size() >= hyperv::write_request::header_size) {
        std::printf("    block ID:         %u\n", le::load_u32(payload.data() + 4));
        print_wslot(le::load_u32(payload.data() + 8));
        std::printf("    byte count:       %u\n", le::load_u32(payload.data() + 12));
      }
      auto m = hyperv::decode_write_request(payload);
      if (!m) return failed(m.error());
      std::printf("    data:             %zu bytes\n", m->data.size());
      print_bytes(m->data, "      ");
      const auto rest = payload.subspan(hyperv::write_request::header_size + m->data.size());
      std::printf("    after the data:   %zu bytes (Linux's 4 reserved bytes and VMBus padding)\n", rest.size());
      print_bytes(rest, "      ");
      return 0;
    }
    case hyperv::message_type::query_protocol_version: {
      std::printf("    message:          0x%08x PCI_QUERY_PROTOCOL_VERSION (VF -> PF)\n", raw_type);
      auto m = hyperv::decode_version_request(payload);
      if (!m) return failed(m.error());
      std::printf("    protocol version: 0x%08x (%u.%u)\n", m->version, m->version >> 16, m->version & 0xFFFFu);
      const auto rest = payload.subspan(hyperv::version_request::wire_size);
      std::printf("    after the version: %zu bytes (the Hyper-V form's is_last_attempt and reserved word, and VMBus "
                  "padding; the PF reads the version only)\n",
                  rest.size());
      print_bytes(rest, "      ");
      return 0;
    }
    case hyperv::message_type::invalidate_block: {
      std::printf("    message:          0x%08x PCI_INVALIDATE_BLOCK (PF -> VF)\n", raw_type);
      if (payload.size() >= 16) {
        print_wslot(le::load_u32(payload.data() + 4));
        std::printf("    block mask:       0x%016llx\n", static_cast<unsigned long long>(le::load_u64(payload.data() + 8)));
      }
      auto m = hyperv::decode_invalidate(packet);
      if (!m && std::size_t{descriptor->offset8} * 8 != hyperv::vmbus::descriptor_size)
        std::printf("    an invalidation's payload starts right after the 16-byte descriptor (offset8 2, as Linux "
                    "reads it); this one's offset8 is %u\n",
                    descriptor->offset8);
      if (!m) return failed(m.error());
      std::printf("    blocks:          ");
      if (m->mask.empty()) std::printf(" (none)");
      for (block_id id : m->mask) std::printf(" %u", id.value());
      std::printf("\n");
      return 0;
    }
  }
  return failed(errc::unknown_message_type);
}

// Decodes and prints one frame: the length prefix, then its packet.
int print_frame(std::span<const std::byte> frame) {
  if (frame.size() < hyperv::frame_prefix_size) {
    std::printf("frame (%zu byte%s): shorter than the 4-byte length prefix\n", frame.size(), frame.size() == 1 ? "" : "s");
    return 1;
  }
  const std::uint32_t length = le::load_u32(frame.data());
  const auto packet = frame.subspan(hyperv::frame_prefix_size);
  std::printf("frame (%zu bytes): length prefix %u (%02x %02x %02x %02x)\n", frame.size(), length,
              static_cast<unsigned>(frame[0]), static_cast<unsigned>(frame[1]), static_cast<unsigned>(frame[2]),
              static_cast<unsigned>(frame[3]));
  if (length != packet.size()) {
    std::printf("  error: the prefix says %u bytes, %zu follow\n", length, packet.size());
    return 1;
  }
  if (!hyperv::valid_frame_packet_size(length)) {
    std::printf("  error: %u is no packet length (a frame carries %zu to %zu bytes: the stream lost sync)\n", length,
                hyperv::min_frame_packet_size, hyperv::max_frame_packet_size);
    return 1;
  }
  return print_packet(packet);
}

// ---- your own bytes ----------------------------------------------------------------------------------

// HEX is read line by line (each argument is a line of its own) and token by token; see usage_text for the
// forms taken. A dump line's offset column and ASCII column are recognised by what they must hold, never by
// position alone: od's and hexdump's offset is the number of bytes before it, an ASCII column shows the
// line's bytes (printable ones as themselves, others as '.'). So a line of data is not taken for either.

bool is_hex_digit(char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; }
bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\r'; }
bool is_separator(char c) { return is_blank(c) || c == ',' || c == ':' || c == '-'; }

// The tokens of `text`: what lies between separators.
std::vector<std::string_view> tokens_of(std::string_view text) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && is_separator(text[i])) ++i;
    const std::size_t start = i;
    while (i < text.size() && !is_separator(text[i])) ++i;
    if (i > start) out.push_back(text.substr(start, i - start));
  }
  return out;
}

// Appends the bytes one token stands for: a 0x token is one byte (0x6 is 06); a bare token of even length
// is its bytes in order (0600 is 06 00, as xxd groups them). False with `error` naming the token otherwise:
// an odd bare token ("6", or one digit lost from a longer token) cannot be split without a guess, and a 0x
// value wider than a byte ("0x42490012") does not say in which order its bytes go.
bool append_token(std::string_view token, std::vector<std::byte>& out, std::string& error) {
  const bool prefixed = token.size() >= 2 && token[0] == '0' && (token[1] == 'x' || token[1] == 'X');
  const std::string_view digits = prefixed ? token.substr(2) : token;
  const std::string quoted = quoted_text(token);
  for (char c : digits)
    if (!is_hex_digit(c)) {
      error = quoted_text(std::string_view(&c, 1)) + " is not a hex digit (in " + quoted + ")";
      return false;
    }
  const auto byte_at = [&](std::size_t at, std::size_t n) {
    return static_cast<std::byte>(std::stoul(std::string(digits.substr(at, n)), nullptr, 16));
  };
  if (prefixed) {
    if (digits.empty()) {
      error = quoted + " has no hex digits";
      return false;
    }
    if (digits.size() > 2) {
      error = quoted + " is wider than a byte: a 0x token is one byte (0x0 to 0xff); write a wider value's bytes in "
                       "the order they are sent (0x42490012 as 12 00 49 42)";
      return false;
    }
    out.push_back(byte_at(0, digits.size()));
    return true;
  }
  if (digits.size() % 2 != 0) {
    error = quoted + " has an odd number of hex digits (a byte is two digits, or one after 0x: 0x6)";
    return false;
  }
  for (std::size_t i = 0; i < digits.size(); i += 2) out.push_back(byte_at(i, 2));
  return true;
}

// Appends the bytes of `text` when every token of it is bytes: to `shown` in the order written, to
// `reversed` with each token's bytes reversed (xxd -e's little-endian groups); false otherwise.
bool append_bytes_of(std::string_view text, std::vector<std::byte>& shown, std::vector<std::byte>& reversed) {
  std::string ignored;
  for (const auto token : tokens_of(text)) {
    const std::size_t start = shown.size();
    if (!append_token(token, shown, ignored)) return false;
    reversed.insert(reversed.end(), shown.rbegin(), shown.rbegin() + static_cast<std::ptrdiff_t>(shown.size() - start));
  }
  return true;
}

// Whether `column` is how xxd and hexdump -C show `bytes`: one character each, a printable one as itself,
// any other as '.'. Blanks the column ends with may be missing (an editor's or a terminal's trimming).
bool shows_as_ascii(std::string_view column, std::span<const std::byte> bytes) {
  if (bytes.empty() || column.size() > bytes.size()) return false;
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    const auto b = static_cast<unsigned char>(bytes[i]);
    const char shown = b >= 0x20 && b < 0x7F ? static_cast<char>(b) : '.';
    if (i < column.size() ? column[i] != shown : shown != ' ') return false;
  }
  return true;
}

// The offset column xxd, tcpdump -x and this tool print ("00000010: 0900", "0x0010:  4500", "0010: 09 00"):
// 4 or more hex digits (after 0x: tcpdump's), a colon and a blank (or the line's end); its length, or 0.
// Without the blank it is data: colon-separated words ("18000000:06000200").
std::size_t colon_offset_column(std::string_view line) {
  const std::size_t first = line.starts_with("0x") ? 2 : 0;
  std::size_t n = first;
  while (n < line.size() && is_hex_digit(line[n])) ++n;
  if (n - first < 4 || n >= line.size() || line[n] != ':') return 0;
  return n + 1 == line.size() || is_blank(line[n + 1]) ? n + 1 : 0;
}

// The offsets of the colon columns read so far. Each must be where the bytes before it end, counted from
// the first one's (xxd -s and -o start elsewhere than 0), in hexadecimal (xxd, tcpdump, this tool) or
// decimal (xxd -d) throughout: a line lost, repeated or out of order in a paste breaks the chain, and its
// bytes would otherwise be decoded as if they were where they stand.
class offset_chain {
 public:
  // False when the offset `column` (with its colon) of a line that starts after `bytes_before` bytes breaks
  // the chain; `expected` is then the offset the chain expected there.
  bool follows(std::string_view column, std::size_t bytes_before, std::string& expected) {
    std::string_view digits = column.substr(0, column.size() - 1);
    if (digits.starts_with("0x")) digits.remove_prefix(2);
    const auto hex = value_of(digits, 16);
    const auto decimal = value_of(digits, 10);
    if (!first_) {
      first_ = first_line{hex, decimal, bytes_before};
      return true;
    }
    const std::uint64_t since_first = bytes_before - first_->bytes_before;
    const auto fits = [&](const std::optional<std::uint64_t>& first, const std::optional<std::uint64_t>& value) {
      return first && value && *value >= *first && *value - *first == since_first;
    };
    const bool hex_fitted = hex_fits_;
    hex_fits_ = hex_fits_ && fits(first_->hex, hex);
    decimal_fits_ = decimal_fits_ && fits(first_->decimal, decimal);
    if (hex_fits_ || decimal_fits_) return true;
    // Counted in hexadecimal unless only decimal fitted up to this line.
    const std::uint64_t at = (hex_fitted ? first_->hex : first_->decimal).value_or(0) + since_first;
    char text[32];
    std::snprintf(text, sizeof text, hex_fitted ? "%0*llx" : "%0*llu", static_cast<int>(digits.size()),
                  static_cast<unsigned long long>(at));
    expected = text;
    return false;
  }

 private:
  struct first_line {
    std::optional<std::uint64_t> hex;
    std::optional<std::uint64_t> decimal;
    std::size_t bytes_before;
  };
  static std::optional<std::uint64_t> value_of(std::string_view digits, int base) {
    std::uint64_t value = 0;
    const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), value, base);
    if (error != std::errc{} || end != digits.data() + digits.size()) return std::nullopt;
    return value;
  }
  std::optional<first_line> first_;
  bool hex_fits_{true};
  bool decimal_fits_{true};
};

// In which order a dump line's groups hold their bytes, as its ASCII column tells (the column shows the
// bytes in memory order whatever the grouping): xxd shows a group's bytes in order ("0600 0200"), xxd -e
// reversed, as the little-endian value they make ("00020006"). `untold` when both readings fit, when
// they are the same bytes, and when the line has no ASCII column.
enum class group_order { untold, as_shown, reversed };

struct dump_line {
  std::string_view hex;  // the line without its ASCII column
  group_order order{group_order::untold};
};

// In which order `column` shows the bytes before it, `shown` as written and `reversed` group by group;
// std::nullopt when it shows them in neither (it is no ASCII column).
std::optional<group_order> order_shown_by(std::string_view column, std::span<const std::byte> shown,
                                          std::span<const std::byte> reversed) {
  const bool as_shown = shows_as_ascii(column, shown);
  const bool as_reversed = shows_as_ascii(column, reversed);
  if (!as_shown && !as_reversed) return std::nullopt;
  if (as_shown == as_reversed || std::equal(shown.begin(), shown.end(), reversed.begin(), reversed.end()))
    return group_order::untold;
  return as_shown ? group_order::as_shown : group_order::reversed;
}

// A dump line (after its offset column) without its ASCII column: hexdump -C's "|...|" at the end, or
// xxd's (and Wireshark's), after two blanks (it may hold '|' and two blanks itself). Kept whole when what
// would be the column shows the bytes before it in neither order.
dump_line without_ascii_column(std::string_view line) {
  std::vector<std::byte> shown;
  std::vector<std::byte> reversed;
  if (const auto open = line.find('|'); open != std::string_view::npos) {
    const auto close = line.rfind('|');
    const auto hex = line.substr(0, open);
    const bool last = line.find_first_not_of(" \t", close + 1) == std::string_view::npos;
    if (close > open && last && append_bytes_of(hex, shown, reversed))
      if (const auto order = order_shown_by(line.substr(open + 1, close - open - 1), shown, reversed)) return {hex, *order};
    shown.clear();
    reversed.clear();
  }
  // Each place after two blanks may open the column. The tokens before it are read once, as the scan
  // passes them (two blanks end a token, so none spans two places): a line megabytes long takes one pass.
  std::size_t read_to = 0;
  for (std::size_t at = 2; at < line.size(); ++at) {
    if (line[at - 1] != ' ' || line[at - 2] != ' ') continue;
    if (!append_bytes_of(line.substr(read_to, at - read_to), shown, reversed)) break;  // no place after has bytes alone before it
    read_to = at;
    if (const auto order = order_shown_by(line.substr(at), shown, reversed)) return {line.substr(0, at), *order};
  }
  return {line, group_order::untold};
}

// The offset column od -tx1 (7 octal digits), od -Ad -tx1 (7 decimal), od -Ax -tx1 (6 hex), hexdump -C
// (8 hex) and Wireshark's "Copy as Hex Dump" (4 hex) print, with no colon: its length, or 0. It is one
// only when its value is `bytes_so_far` and the rest of the line is single bytes ("12 00 49", before an
// ASCII column), or nothing: the closing line holding the total, after other lines of the dump
// (`dump_seen`). A leading word of data ("20000000 06 00") does not hold the number of bytes before it.
// With `group_digits` 4 or 8: the same column before words (od -x, -tx2, -tx4 and hexdump's default dump).
std::size_t bare_offset_column(std::string_view line, std::size_t bytes_so_far, bool dump_seen,
                               std::size_t group_digits = 2) {
  std::size_t n = 0;
  while (n < line.size() && is_hex_digit(line[n])) ++n;
  // Wireshark's 4 hex digits stand apart by three blanks; 4 digits and one blank are a word of data.
  const bool wireshark = n == 4 && line.substr(n, 2) == "  ";
  if (!(wireshark || (n >= 6 && n <= 8)) || (n < line.size() && !is_blank(line[n]))) return 0;
  const std::string digits(line.substr(0, n));
  const auto value_is = [&](int base) {
    if (base == 8 && digits.find_first_not_of("01234567") != std::string::npos) return false;
    if (base == 10 && digits.find_first_not_of("0123456789") != std::string::npos) return false;
    return std::stoull(digits, nullptr, base) == bytes_so_far;
  };
  if (!(n == 7 ? value_is(8) || value_is(10) : value_is(16))) return 0;
  std::string_view rest = line.substr(n);
  if (const auto bar = rest.find('|'); bar != std::string_view::npos) rest = rest.substr(0, bar);
  rest = without_ascii_column(rest).hex;  // Wireshark's column, after three blanks
  const auto tokens = tokens_of(rest);
  if (tokens.empty()) return dump_seen ? n : 0;
  for (const auto token : tokens)
    if (token.size() != group_digits || !std::all_of(token.begin(), token.end(), is_hex_digit)) return 0;
  return n;
}

std::string_view trimmed(std::string_view s) {
  while (!s.empty() && is_blank(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_blank(s.back())) s.remove_suffix(1);
  return s;
}

// A line of xxd -i's C array without its wrapper: what follows "unsigned char name[] = {" and what comes
// before "};". A brace with other text around it than a declaration is kept, and refused as a token.
std::string_view inside_c_braces(std::string_view line) {
  if (const auto open = line.find('{'); open != std::string_view::npos) {
    const auto before = trimmed(line.substr(0, open));
    if (before.empty() || before.back() == '=') line = line.substr(open + 1);
  }
  if (const auto close = line.find('}'); close != std::string_view::npos) {
    const auto after = trimmed(line.substr(close + 1));
    if (after.empty() || after == ";" || after == ",") line = line.substr(0, close);
  }
  return line;
}

// The N of xxd -i's length line, "unsigned int name_len = N;" (-C: NAME_LEN); std::nullopt for any other.
std::optional<std::size_t> c_array_length(std::string_view line) {
  const auto equals = line.find('=');
  const auto semicolon = line.find(';');
  if (equals == std::string_view::npos || semicolon == std::string_view::npos || semicolon < equals) return std::nullopt;
  const auto name = trimmed(line.substr(0, equals));
  const auto value = trimmed(line.substr(equals + 1, semicolon - equals - 1));
  const bool length_name = name.size() > 4 && (name.substr(name.size() - 4) == "_len" || name.substr(name.size() - 4) == "_LEN");
  if (!length_name || value.empty() || value.size() > 9 || value.find_first_not_of("0123456789") != std::string_view::npos ||
      !trimmed(line.substr(semicolon + 1)).empty())
    return std::nullopt;
  return std::stoul(std::string(value));
}

// The bytes of HEX (usage_text); std::nullopt with `error` naming the token or line that is not bytes.
// Dump lines in groups of more than one byte are read as xxd's unless an ASCII column shows them
// reversed (xxd -e) or `groups` says so; `note` says when nothing told the two apart.
std::optional<std::vector<std::byte>> parse_hex(const std::string& text, group_order groups, std::string& error,
                                                std::string& note) {
  std::vector<std::byte> bytes;
  bool dump_seen = false;  // a line opened with od's or hexdump's offset column
  offset_chain colon_offsets;
  int line_number = 0;
  // Each group of an xxd line ([first byte, end)), and the first line whose ASCII column told its order.
  std::vector<std::pair<std::size_t, std::size_t>> groups_read;
  int told_as_shown = 0;
  int told_reversed = 0;
  for (std::size_t start = 0; start < text.size();) {
    std::size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string_view line = std::string_view(text).substr(start, end - start);
    start = end + 1;
    ++line_number;
    // Trailing blanks are kept: an xxd ASCII column may end with one (a byte 20).
    while (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.starts_with("\xEF\xBB\xBF")) line.remove_prefix(3);  // a UTF-8 byte order mark (a Windows editor's file)
    while (!line.empty() && is_blank(line.front())) line.remove_prefix(1);
    if (line.substr(0, line.find_last_not_of(" \t") + 1) == "*") {
      error = "line " + std::to_string(line_number) +
              ": '*' stands for repeated lines the dump left out (dump with -v: od -v, hexdump -v)";
      return std::nullopt;
    }
    if (const auto length = c_array_length(line)) {  // xxd -i's, after its array: it must be what was read
      if (*length == bytes.size()) continue;
      error = "line " + std::to_string(line_number) + ": the dump gives its length as " + std::to_string(*length) +
              " bytes, " + std::to_string(bytes.size()) + " were read (a line lost in the paste?)";
      return std::nullopt;
    }
    line = inside_c_braces(line);
    std::size_t column = colon_offset_column(line);
    const bool xxd_line = column != 0;  // its groups may be xxd -e's
    if (std::string expected; xxd_line && !colon_offsets.follows(line.substr(0, column), bytes.size(), expected)) {
      error = "line " + std::to_string(line_number) + "'s offset " + std::string(line.substr(0, column - 1)) +
              " is not where the bytes before it end (" + expected + "): a line lost, repeated or out of order?";
      return std::nullopt;
    }
    if (column == 0) {
      column = bare_offset_column(line, bytes.size(), dump_seen);
      // od and hexdump open every line with its offset, the closing one included: after the first, a line
      // without the offset where the bytes before it end is one lost, repeated or out of order. Read as data,
      // od -Ax's six digits after a lost line were three bytes of a different packet.
      if (column == 0 && dump_seen && !trimmed(line).empty()) {
        char counted[64];
        std::snprintf(counted, sizeof counted, "%zu bytes: 0x%zx, octal %zo", bytes.size(), bytes.size(), bytes.size());
        error = "line " + std::to_string(line_number) + " does not open with the offset where the bytes before it end (" +
                counted + "), as the dump's lines before it do: a line lost, repeated or out of order?";
        return std::nullopt;
      }
      dump_seen = dump_seen || column != 0;
    }
    if (column == 0 && (bare_offset_column(line, bytes.size(), false, 4) != 0 || bare_offset_column(line, bytes.size(), false, 8) != 0)) {
      error = "line " + std::to_string(line_number) +
              " is a dump in words (od -x, -tx2, -tx4 or hexdump's default): each word is in the byte order of the "
              "machine that dumped it, which the text does not give; dump with od -tx1, hexdump -C or xxd";
      return std::nullopt;
    }
    if (column != 0) {
      const auto stripped = without_ascii_column(line.substr(column));
      line = stripped.hex;
      if (stripped.order == group_order::as_shown && told_as_shown == 0) told_as_shown = line_number;
      if (stripped.order == group_order::reversed && told_reversed == 0) told_reversed = line_number;
    }
    for (const auto token : tokens_of(line)) {
      const std::size_t first = bytes.size();
      if (!append_token(token, bytes, error)) return std::nullopt;
      if (xxd_line && bytes.size() - first > 1) groups_read.emplace_back(first, bytes.size());
    }
  }
  if (bytes.empty()) {
    error = "no bytes given";
    return std::nullopt;
  }
  const auto line_text = [](int n) { return "line " + std::to_string(n); };
  if (told_as_shown != 0 && (told_reversed != 0 || groups == group_order::reversed)) {
    error = line_text(told_as_shown) + "'s ASCII column shows its groups' bytes in the order written (xxd), " +
            (told_reversed != 0 ? line_text(told_reversed) + "'s reversed (xxd -e)" : std::string("not reversed as --xxd-e says"));
    return std::nullopt;
  }
  if (told_reversed != 0) groups = group_order::reversed;
  const bool groups_matter = std::any_of(groups_read.begin(), groups_read.end(), [&](const auto& g) {
    return !std::equal(bytes.begin() + static_cast<std::ptrdiff_t>(g.first), bytes.begin() + static_cast<std::ptrdiff_t>(g.second),
                       bytes.rbegin() + static_cast<std::ptrdiff_t>(bytes.size() - g.second));
  });
  if (groups == group_order::untold && told_as_shown == 0 && groups_matter)
    note = "no ASCII column tells xxd's groups from xxd -e's (each group reversed); read as xxd's (give --xxd-e for "
           "xxd -e's)";
  if (groups == group_order::reversed)
    for (const auto& [first, last] : groups_read)
      std::reverse(bytes.begin() + static_cast<std::ptrdiff_t>(first), bytes.begin() + static_cast<std::ptrdiff_t>(last));
  return bytes;
}

// What --help prints: the forms HEX takes, token by token and dump line by dump line.
constexpr const char* usage_text =
    "usage: vpci-codec                                 (the walkthrough)\n"
    "       vpci-codec [--frame|--packet] [--xxd-e] HEX... | -\n"
    "                                                  (decode your own frame or packet; - reads HEX from stdin)\n"
    "\n"
    "HEX is read a line at a time (each argument is a line) and a token at a time. Tokens are separated by\n"
    "blanks, ',', ':' and '-'. A token is bytes in the order written:\n"
    "  0x06, 0x6   one byte each (a 0x token wider than a byte, 0x42490012, is refused: its byte order is\n"
    "              not known; write it as the bytes sent, 12 00 49 42)\n"
    "  06, 0600    two hex digits a byte, in order (xxd's groups, a continuous xxd -p stream)\n"
    "  6, 060      refused: an odd number of digits, never joined to a neighbour\n"
    "Dump lines paste in as they are; their offset and ASCII columns are left out:\n"
    "  this tool's and xxd's (also -g1, -c, -u)   '0010: 09 00 ...', '00000010: 0900 ...  ..IB'\n"
    "  xxd -e (little-endian groups)              '00000010: 42490012 ...  ..IB'\n"
    "  od -tx1 (also -Ax, -Ad) and hexdump -C     '0000020 12 00 ...', '00000010  12 00 ...  |..IB|'\n"
    "  Wireshark (Copy as Hex Dump), tcpdump -X   '0010   12 00 49 42 ...   ..IB', '0x0010:  1200 4942  ..IB'\n"
    "  xxd -i                                     'unsigned char f[] = {', '0x12, 0x00, ...', '};'\n"
    "An offset without a ':' is one only when it is the number of bytes before it and single bytes follow\n"
    "(or nothing: od's and hexdump's closing line); an ASCII column only when it shows the line's bytes.\n"
    "After such a line, every line must open with one: a line lost, repeated or out of order is refused.\n"
    "Offsets with a ':' must each be where the bytes before them end (from the first, in hex or decimal:\n"
    "xxd -s, -o, -d): a line lost, repeated or out of order is refused. A byte order mark is skipped.\n"
    "xxd's groups of more than one byte are its bytes in order, xxd -e's reversed: the ASCII column tells\n"
    "which (it shows the bytes in order either way). When none does (all '.', or no column), they are read\n"
    "as xxd's, with a note; --xxd-e reads them as xxd -e's. xxd -i's length line must match the bytes.\n"
    "A '*' line (od and hexdump leaving out repeated lines) is refused: dump with -v. So are dumps in words\n"
    "(od -x, -tx2, -tx4, hexdump's default): their byte order is the dumping machine's, which they do not give.\n"
    "\n"
    "An option or - given twice is a usage error, and so are --frame and --packet together.\n";

// A usage error: the two usage lines, and where the forms are.
int usage() {
  const std::string_view text = usage_text;
  std::fprintf(stderr, "%.*s(vpci-codec --help: the forms HEX takes)\n", static_cast<int>(text.find("\n\n") + 1), text.data());
  return 2;
}

// Appends all of standard input to `text`; false with `error` naming the reason when a read fails (a
// directory given as input, an I/O error part-way): what was read then is not the input.
bool append_standard_input(std::string& text, std::string& error) {
  std::array<char, 65536> buffer;
  for (;;) {
    errno = 0;
    const std::size_t n = std::fread(buffer.data(), 1, buffer.size(), stdin);
    text.append(buffer.data(), n);
    if (n == buffer.size()) continue;
    if (std::ferror(stdin) == 0) return true;  // the end of the input
    error = std::string("reading standard input failed: ") + std::strerror(errno != 0 ? errno : EIO);
    return false;
  }
}

int decode_user_bytes(int argc, char** argv) {
  enum class form { guess, frame, packet } as = form::guess;
  group_order groups = group_order::untold;
  std::string text;
  vpci::tools::given_options given;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const bool option = arg.size() > 1 && arg[0] == '-';  // no HEX opens with '-' (it separates tokens)
    if (option && arg != "--frame" && arg != "--packet" && arg != "--xxd-e") {
      std::fprintf(stderr, "vpci-codec: unknown option %s\n", quoted_text(arg).c_str());
      return usage();
    }
    // Standard input ends at its first reading: a second "-" would read nothing.
    if (option || arg == "-") {
      if (const auto twice = given.add(arg == "-" ? "- (standard input)" : arg)) {
        std::fprintf(stderr, "vpci-codec: %s\n", twice->c_str());
        return usage();
      }
    }
    if (arg == "--frame") {
      as = form::frame;
    } else if (arg == "--packet") {
      as = form::packet;
    } else if (arg == "--xxd-e") {
      groups = group_order::reversed;
    } else if (arg == "-") {
      // Not a usage error: the command line was right, the input could not be read.
      if (std::string error; !append_standard_input(text, error)) {
        std::fprintf(stderr, "vpci-codec: %s\n", error.c_str());
        return 1;
      }
    } else {
      text += arg + "\n";  // each argument opens a line (it may open with an offset column)
    }
  }
  // Each names what the bytes are: given both, the bytes would be read as whichever came last.
  if (given.has("--frame") && given.has("--packet")) {
    std::fprintf(stderr, "vpci-codec: give --frame or --packet, not both\n");
    return usage();
  }
  std::string error;
  std::string note;
  const auto bytes = parse_hex(text, groups, error, note);
  if (!bytes) {
    std::fprintf(stderr, "vpci-codec: %s\n", error.c_str());
    return usage();
  }
  if (!note.empty()) std::fprintf(stderr, "vpci-codec: note: %s\n", note.c_str());
  if (as == form::guess)
    as = bytes->size() >= hyperv::frame_prefix_size && le::load_u32(bytes->data()) == bytes->size() - hyperv::frame_prefix_size
             ? form::frame
             : form::packet;
  return as == form::frame ? print_frame(*bytes) : print_packet(*bytes);
}

// ---- the walkthrough ---------------------------------------------------------------------------------

int fail(const char* what, errc e) {
  std::fprintf(stderr, "vpci-codec: %s failed: %s\n", what, describe(e));
  return 1;
}

// Prints a frame the walkthrough built, as `vpci-codec HEX` would print it.
int show(const char* label, const frame_buffer& frame, std::size_t size) {
  std::printf("%s: ", label);
  return print_frame(std::span<const std::byte>{frame}.first(size));
}

// The packet inside a frame, and the request payload inside a VF's packet (after the descriptor).
std::span<const std::byte> packet_of(const frame_buffer& frame, std::size_t frame_size) {
  return std::span<const std::byte>{frame}.subspan(hyperv::frame_prefix_size, frame_size - hyperv::frame_prefix_size);
}
std::span<const std::byte> payload_of(const frame_buffer& frame, std::size_t frame_size) {
  return packet_of(frame, frame_size).subspan(hyperv::vmbus::descriptor_size);
}

int walkthrough() {
  const hyperv::wslot slot{2, 1};  // the VF at device 2, function 1 of the virtual bus
  frame_buffer request{};
  frame_buffer response{};
  std::uint64_t transaction = 1;

  // 1. Version negotiation: the VF offers the versions a Linux guest probes, highest first; this PF
  //    speaks up to 1.3, so it answers STATUS_REVISION_MISMATCH to 1.4 and accepts 1.3.
  std::printf("== version negotiation\n");
  std::uint32_t agreed = 0;
  for (std::uint32_t offered : hyperv::linux_protocol_versions) {
    auto sent = hyperv::encode_version_request_frame(transaction, hyperv::version_request{offered}, request);
    if (!sent) return fail("encode version request", sent.error());
    if (show("VF -> PF", request, *sent) != 0) return 1;
    auto asked = hyperv::decode_version_request(payload_of(request, *sent));
    if (!asked) return fail("decode version request", asked.error());
    const ntstatus status = asked->version <= hyperv::protocol_version_1_3 && asked->version >= hyperv::protocol_version_1_1
                                ? ntstatus::success
                                : ntstatus::revision_mismatch;
    auto answered = hyperv::encode_version_response_frame(
        hyperv::version_response{transaction, status, hyperv::protocol_version_1_3}, response);
    if (!answered) return fail("encode version response", answered.error());
    if (show("PF -> VF", response, *answered) != 0) return 1;
    auto answer = hyperv::decode_version_response(packet_of(response, *answered));
    if (!answer) return fail("decode version response", answer.error());
    ++transaction;
    const auto verdict = hyperv::judge_version_status(answer->status);
    if (verdict == hyperv::version_verdict::accepted) {
      agreed = offered;
      break;
    }
    if (verdict == hyperv::version_verdict::failed) break;
  }
  if (agreed == 0) return fail("negotiate a version", errc::revision_mismatch);
  std::printf("agreed on version %u.%u\n", agreed >> 16, agreed & 0xFFFFu);

  // 2. The VF reads its configuration block (examples/blocks.hpp: block 1, 11 bytes).
  std::printf("\n== read of block %u (%zu bytes)\n", ::example::vf_config_block::id.value(), ::example::vf_config_block::size);
  auto read_size = hyperv::encode_read_request_frame(
      transaction, hyperv::read_request{::example::vf_config_block::id, slot, ::example::vf_config_block::size}, request);
  if (!read_size) return fail("encode read request", read_size.error());
  if (show("VF -> PF", request, *read_size) != 0) return 1;
  auto read = hyperv::decode_read_request(payload_of(request, *read_size));
  if (!read) return fail("decode read request", read.error());

  const ::example::vf_config config{1, ::example::vf_flags::link_up, 9000, 100, 8};
  const auto config_bytes = ::example::vf_config_block::to_buffer(config);
  auto response_size =
      hyperv::encode_read_response_frame(hyperv::read_response{transaction, ntstatus::success, config_bytes.span()}, response);
  if (!response_size) return fail("encode read response", response_size.error());
  if (show("PF -> VF", response, *response_size) != 0) return 1;
  auto completion = hyperv::decode_read_response(packet_of(response, *response_size));
  if (!completion) return fail("decode read response", completion.error());
  // 20 + 11 = 31 bytes, padded to 32: one padding byte follows the data; the read takes min(requested, present).
  const auto data = completion->data_for(read->bytes_requested);
  auto read_back = ::example::vf_config_block::decode(data);
  if (!read_back) return fail("decode vf_config", read_back.error());
  std::printf("the VF takes %zu of the %zu bytes: vf_config{version %u, flags 0x%x, mtu %u, vlan %u, queue_pairs %u}\n",
              data.size(), completion->data.size(), read_back->version, static_cast<unsigned>(read_back->flags),
              read_back->mtu, read_back->vlan, read_back->queue_pairs);
  ++transaction;

  // 3. The VF writes its MAC address block (block 0, 6 bytes) as Linux sends it: 4 reserved bytes, then
  //    padding: 16 + 16 + 6 + 4 = 42 bytes, padded to 48.
  const ::example::mac_address mac{0x00, 0x15, 0x5d, 0x01, 0x02, 0x03};
  const auto mac_bytes = ::example::mac_block::to_buffer(mac);
  std::printf("\n== write of block %u (%zu bytes)\n", ::example::mac_block::id.value(), ::example::mac_block::size);
  auto write_size = hyperv::encode_write_request_frame(
      transaction, hyperv::write_request{::example::mac_block::id, slot, mac_bytes.span()}, request, /*with_linux_tail=*/true);
  if (!write_size) return fail("encode write request", write_size.error());
  if (show("VF -> PF", request, *write_size) != 0) return 1;
  auto write = hyperv::decode_write_request(payload_of(request, *write_size));
  if (!write) return fail("decode write request", write.error());
  auto mac_back = ::example::mac_block::decode(write->data);
  if (!mac_back) return fail("decode mac", mac_back.error());
  std::printf("the PF stores MAC %02x:%02x:%02x:%02x:%02x:%02x\n", (*mac_back)[0], (*mac_back)[1], (*mac_back)[2],
              (*mac_back)[3], (*mac_back)[4], (*mac_back)[5]);
  auto done_size = hyperv::encode_write_completion_frame(hyperv::write_completion{transaction, ntstatus::success}, response);
  if (!done_size) return fail("encode write completion", done_size.error());
  if (show("PF -> VF", response, *done_size) != 0) return 1;

  // 4. The PF invalidates blocks 0 and 2; the VF learns which blocks to re-read.
  auto mask = block_mask::of({::example::mac_block::id, ::example::stats_block::id});
  if (!mask) return fail("build mask", mask.error());
  auto invalidate_size = hyperv::encode_invalidate_frame(hyperv::invalidate{slot, *mask}, response);
  if (!invalidate_size) return fail("encode invalidate", invalidate_size.error());
  std::printf("\n== invalidation of blocks %u and %u\n", ::example::mac_block::id.value(), ::example::stats_block::id.value());
  return show("PF -> VF", response, *invalidate_size);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 1) return walkthrough();
  for (int i = 1; i < argc; ++i)
    if (std::string_view(argv[i]) == "--help" || std::string_view(argv[i]) == "-h") return std::fputs(usage_text, stdout), 0;
  return decode_user_bytes(argc, argv);
}
