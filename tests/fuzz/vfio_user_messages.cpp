// Fuzz target: the vfio-user codecs (wire/vfio_user.hpp): decode_header, decode_version and
// parse_capabilities (the version data's JSON), decode_device_info, decode_region_info (request and reply),
// decode_irq_info, decode_irq_set, decode_region_access (with and without data), decode_dma_map,
// decode_dma_unmap, every encoder and encode_command. These take what a vfio-user peer sent: the client's
// commands in vfio_user_device_server, the server's replies in vfio_user_config_space.
//
// Input: byte 0 picks the decoder (low nibble, modulo 10) and its flag (bit 4: region_info's
// allow_capabilities, region_access's with_data); the rest is the payload (the whole message for the
// header).
//
// Invariants:
// - each decoder accepts exactly what its contract allows, restated here from the header's comments with
//   the fields read independently (std::memcpy in host order): the header 16 bytes or more with a message
//   size of 16 or more; the version 4 bytes or more; device_info, irq_info, dma_map, dma_unmap exactly 16,
//   16, 32, 24 bytes; region_info 32 bytes (more only with allow_capabilities); irq_set 20 bytes or more,
//   no flag outside the six, exactly one data and one action flag, argsz equal to the payload size, DATA_BOOL
//   followed by `count` bytes and the other kinds by none; region_access 16 bytes or more followed by
//   exactly `count` bytes with data and none without. A refusal carries the reasons that apply
//   (truncated_message for too few bytes, malformed_message otherwise) and no value; no read past the input;
// - every field equals the bytes at its offset; data and JSON views lie inside the input (the JSON runs up
//   to the first NUL or the end);
// - encode(decode(x)) == x for every fixed part and its data (every byte is a field); for the version up to
//   the JSON's NUL (bytes after it are not part of the message's data), with the NUL added when the peer
//   omitted it; for a region_info reply its first 32 bytes (capabilities are not interpreted);
// - parse_capabilities: accepts the same text with whitespace around it the same way (same values or same
//   error); an accepted text with a character after it is refused (trailing garbage); empty text gives the
//   defaults. A document built from input fields, `{"capabilities":{"max_msg_fds":A,"max_data_xfer_size":B}}`
//   with numbers written as the input says (any digits, a sign, a fraction or exponent) and other members
//   nested to an input-chosen depth, parses to exactly A and B when both are integers 0..2^32-1 without a
//   sign and no value lies more than 16 levels down (the root object's members are level 1), and is
//   refused otherwise;
// - the encoders, on fields and data from the input and an output buffer of input-chosen size: refuse
//   exactly too small a buffer (buffer_too_small), writing nothing then; on success write exactly the size
//   they report, which decodes back to the same fields; encode_command writes a command header (this ID and
//   command, flags 0, the whole size) before the payload, or nothing.
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include <vpci/wire/vfio_user.hpp>

#include "fuzz_support.hpp"

// Equality of the decoded values, for the round trips and refused_cleanly (a refusal reads as T{}).
namespace vpci::vfio_user {
bool operator==(const device_info& a, const device_info& b) {
  return a.argsz == b.argsz && a.flags == b.flags && a.num_regions == b.num_regions && a.num_irqs == b.num_irqs;
}
bool operator==(const region_info& a, const region_info& b) {
  return a.argsz == b.argsz && a.flags == b.flags && a.index == b.index && a.cap_offset == b.cap_offset &&
         a.size == b.size && a.offset == b.offset;
}
bool operator==(const irq_info& a, const irq_info& b) {
  return a.argsz == b.argsz && a.flags == b.flags && a.index == b.index && a.count == b.count;
}
bool operator==(const dma_map& a, const dma_map& b) {
  return a.argsz == b.argsz && a.flags == b.flags && a.offset == b.offset && a.address == b.address && a.size == b.size;
}
bool operator==(const dma_unmap& a, const dma_unmap& b) {
  return a.argsz == b.argsz && a.flags == b.flags && a.address == b.address && a.size == b.size;
}
bool operator==(const header& a, const header& b) {
  return a.message_id == b.message_id && a.command == b.command && a.message_size == b.message_size &&
         a.flags == b.flags && a.error_number == b.error_number;
}
bool operator==(const version& a, const version& b) {
  return a.major == b.major && a.minor == b.minor && a.json == b.json;
}
bool operator==(const irq_set& a, const irq_set& b) {
  return a.argsz == b.argsz && a.flags == b.flags && a.index == b.index && a.start == b.start &&
         a.count == b.count && a.data.data() == b.data.data() && a.data.size() == b.data.size();
}
bool operator==(const region_access& a, const region_access& b) {
  return a.offset == b.offset && a.region == b.region && a.count == b.count && a.data.data() == b.data.data() &&
         a.data.size() == b.data.size();
}
}  // namespace vpci::vfio_user

using namespace vpci;
using namespace vpci::fuzz;
namespace vu = vpci::vfio_user;

namespace {

// Fields in host order, as the spec says, read without the codec's own helpers.
template <class U>
U field(std::span<const std::byte> x, std::size_t at) {
  U value{};
  std::memcpy(&value, x.data() + at, sizeof value);
  return value;
}

// A refused decode: one of the reasons that apply, and a default value.
template <class T>
void check_refusal(const result<T>& r, bool too_short) {
  VPCI_FUZZ_CHECK(refused_cleanly(r));
  VPCI_FUZZ_CHECK(r.error() == (too_short ? errc::truncated_message : errc::malformed_message));
}

// An encoder driven with an output of `room` bytes: refuses exactly when `size` does not fit, then writes
// nothing; otherwise writes exactly `size` bytes. Returns the encoded bytes (empty when refused).
template <class Payload>
std::vector<std::byte> encode_into(const Payload& p, std::size_t size, std::size_t room) {
  sentinel_buffer out{room};
  auto n = vu::encode(p, out.span());
  VPCI_FUZZ_CHECK(n.has_value() == (room >= size));
  if (!n) {
    VPCI_FUZZ_CHECK(n.error() == errc::buffer_too_small && out.untouched_from(0));
    return {};
  }
  VPCI_FUZZ_CHECK(*n == size && out.untouched_from(size));
  return {out.view().begin(), out.view().begin() + static_cast<std::ptrdiff_t>(size)};
}


// ---- decoders ----

void check_header(std::span<const std::byte> x) {
  auto h = vu::decode_header(x);
  const bool ok = x.size() >= vu::header_size && field<std::uint32_t>(x, 4) >= vu::header_size;
  VPCI_FUZZ_CHECK(h.has_value() == ok);
  if (!h) return check_refusal(h, x.size() < vu::header_size);
  VPCI_FUZZ_CHECK(h->message_id == field<std::uint16_t>(x, 0) && h->command == field<std::uint16_t>(x, 2) &&
                  h->message_size == field<std::uint32_t>(x, 4) && h->flags == field<std::uint32_t>(x, 8) &&
                  h->error_number == field<std::uint32_t>(x, 12));
  VPCI_FUZZ_CHECK(h->payload_size() == h->message_size - vu::header_size);
  VPCI_FUZZ_CHECK(h->is_reply() == ((h->flags & 0xF) == 1) && h->is_command() == ((h->flags & 0xF) == 0));
  VPCI_FUZZ_CHECK(h->no_reply() == ((h->flags & 0x10) != 0) && h->error() == ((h->flags & 0x20) != 0));
  std::array<std::byte, vu::header_size> again{};
  VPCI_FUZZ_CHECK(vu::encode(*h, again).value() == vu::header_size && equal(again, x.first(vu::header_size)));
  // The reply headers vpci builds for this request: its ID and command, reply type, the sizes given.
  const auto reply = vu::reply_header(*h, 5);
  VPCI_FUZZ_CHECK(reply.message_id == h->message_id && reply.command == h->command && reply.is_reply() &&
                  !reply.error() && !reply.no_reply() && reply.message_size == vu::header_size + 5);
  const auto failure = vu::error_reply_header(*h, 22);
  VPCI_FUZZ_CHECK(failure.message_id == h->message_id && failure.command == h->command && failure.is_reply() &&
                  failure.error() && failure.error_number == 22 && failure.message_size == vu::header_size);
}

void check_parse_is_stable(std::string_view json);

void check_version(std::span<const std::byte> x) {
  auto v = vu::decode_version(x);
  // Version data, when there is any, ends with its NUL.
  VPCI_FUZZ_CHECK(v.has_value() == (x.size() == 4 || (x.size() > 4 && x.back() == std::byte{0})));
  if (!v) return check_refusal(v, x.size() < 4);
  VPCI_FUZZ_CHECK(v->major == field<std::uint16_t>(x, 0) && v->minor == field<std::uint16_t>(x, 2));
  std::size_t length = 0;
  while (4 + length < x.size() && x[4 + length] != std::byte{0}) ++length;
  VPCI_FUZZ_CHECK(v->json.size() == length);
  VPCI_FUZZ_CHECK(within(std::as_bytes(std::span{v->json.data(), v->json.size()}), x));
  if (length != 0) VPCI_FUZZ_CHECK(reinterpret_cast<const std::byte*>(v->json.data()) == x.data() + 4);
  // Round trip up to the JSON's first NUL.
  const std::size_t size = 4 + (length == 0 ? 0 : length + 1);
  std::vector<std::byte> again(x.size() + 8);
  auto n = vu::encode(*v, again);
  VPCI_FUZZ_CHECK(n.has_value() && *n == size);
  const std::size_t carried = size < x.size() ? size : x.size();
  VPCI_FUZZ_CHECK(equal(std::span<const std::byte>(again).first(carried), x.first(carried)));
  if (length != 0) VPCI_FUZZ_CHECK(again[size - 1] == std::byte{0});
  check_parse_is_stable(v->json);
}

// A payload of `fixed` bytes exactly; `fields(x)` reads what an accepted one holds.
template <class Decode, class Fields>
void check_fixed(std::span<const std::byte> x, std::size_t fixed, Decode decode, Fields fields) {
  auto d = decode(x);
  VPCI_FUZZ_CHECK(d.has_value() == (x.size() == fixed));
  if (!d) return check_refusal(d, x.size() < fixed);
  VPCI_FUZZ_CHECK(*d == fields(x));
  std::array<std::byte, 64> again{};
  VPCI_FUZZ_CHECK(vu::encode(*d, again).value() == fixed && equal(std::span{again}.first(fixed), x));
}

void check_region_info(std::span<const std::byte> x, bool allow_tail) {
  auto r = vu::decode_region_info(x, allow_tail);
  VPCI_FUZZ_CHECK(r.has_value() == (x.size() == vu::region_info_size || (allow_tail && x.size() > vu::region_info_size)));
  if (!r) return check_refusal(r, x.size() < vu::region_info_size);
  VPCI_FUZZ_CHECK(r->argsz == field<std::uint32_t>(x, 0) && r->flags == field<std::uint32_t>(x, 4) &&
                  r->index == field<std::uint32_t>(x, 8) && r->cap_offset == field<std::uint32_t>(x, 12) &&
                  r->size == field<std::uint64_t>(x, 16) && r->offset == field<std::uint64_t>(x, 24));
  std::array<std::byte, vu::region_info_size> again{};
  VPCI_FUZZ_CHECK(vu::encode(*r, again).value() == again.size() && equal(again, x.first(again.size())));
}

void check_irq_set(std::span<const std::byte> x) {
  auto s = vu::decode_irq_set(x);
  bool ok = x.size() >= vu::irq_set_size;
  if (ok) {
    const auto flags = field<std::uint32_t>(x, 4);
    const std::uint32_t data_kinds = (flags & 1) + ((flags >> 1) & 1) + ((flags >> 2) & 1);
    const std::uint32_t actions = ((flags >> 3) & 1) + ((flags >> 4) & 1) + ((flags >> 5) & 1);
    const std::size_t data = (flags & 2) != 0 ? field<std::uint32_t>(x, 16) : 0;
    ok = (flags & ~0x3Fu) == 0 && data_kinds == 1u && actions == 1u && field<std::uint32_t>(x, 0) >= vu::irq_set_size &&
         x.size() - vu::irq_set_size == data;
  }
  VPCI_FUZZ_CHECK(s.has_value() == ok);
  if (!s) return check_refusal(s, x.size() < vu::irq_set_size);
  VPCI_FUZZ_CHECK(s->argsz == field<std::uint32_t>(x, 0) && s->flags == field<std::uint32_t>(x, 4) &&
                  s->index == field<std::uint32_t>(x, 8) && s->start == field<std::uint32_t>(x, 12) &&
                  s->count == field<std::uint32_t>(x, 16));
  VPCI_FUZZ_CHECK(within(s->data, x) && s->data.size() == x.size() - vu::irq_set_size);
  if (!s->data.empty()) VPCI_FUZZ_CHECK(s->data.data() == x.data() + vu::irq_set_size);
  const auto again = encode_into(*s, x.size(), x.size());
  VPCI_FUZZ_CHECK(equal(again, x));
}

void check_region_access(std::span<const std::byte> x, bool with_data) {
  auto a = vu::decode_region_access(x, with_data);
  const std::size_t expected = x.size() >= vu::region_access_size && with_data ? field<std::uint32_t>(x, 12) : 0;
  const bool ok = x.size() >= vu::region_access_size && x.size() - vu::region_access_size == expected;
  VPCI_FUZZ_CHECK(a.has_value() == ok);
  if (!a) {
    return check_refusal(a, x.size() < vu::region_access_size || x.size() - vu::region_access_size < expected);
  }
  VPCI_FUZZ_CHECK(a->offset == field<std::uint64_t>(x, 0) && a->region == field<std::uint32_t>(x, 8) &&
                  a->count == field<std::uint32_t>(x, 12));
  VPCI_FUZZ_CHECK(within(a->data, x) && a->data.size() == expected);
  if (!a->data.empty()) VPCI_FUZZ_CHECK(a->data.data() == x.data() + vu::region_access_size);
  const auto again = encode_into(*a, x.size(), x.size());
  VPCI_FUZZ_CHECK(equal(again, x));
}

// ---- the capabilities' JSON ----

bool same(const result<vu::capabilities>& a, const result<vu::capabilities>& b) {
  if (a.has_value() != b.has_value()) return false;
  if (!a) return a.error() == b.error();
  return a->max_msg_fds == b->max_msg_fds && a->max_data_xfer_size == b->max_data_xfer_size;
}

void check_parse_is_stable(std::string_view json) {
  const auto caps = vu::parse_capabilities(json);
  if (!caps) VPCI_FUZZ_CHECK(caps.error() == errc::malformed_message);
  const std::string padded = " \t\n" + std::string(json) + "\r\n ";
  VPCI_FUZZ_CHECK(same(vu::parse_capabilities(padded), caps));
  if (caps) VPCI_FUZZ_CHECK(!vu::parse_capabilities(std::string(json) + "x").has_value());
  bool blank = true;
  for (const char c : json) blank = blank && (c == ' ' || c == '\t' || c == '\n' || c == '\r');
  if (blank) {
    VPCI_FUZZ_CHECK(caps.has_value() && caps->max_msg_fds == vu::default_max_msg_fds &&
                    caps->max_data_xfer_size == vu::default_max_data_xfer_size);
  }
}

// A JSON number from input bytes: its text and, when it is an integer 0..2^32-1 as JSON writes one (no
// leading zeros), its value.
struct number_text {
  std::string text;
  bool is_u32{false};
  std::uint32_t value{0};
};

number_text make_number(input_reader& in) {
  const std::uint8_t shape = in.u8();
  const std::uint64_t magnitude = in.u64() >> (in.u8() % 64);
  number_text n;
  const bool negative = (shape & 1) != 0;
  const bool fraction = (shape & 2) != 0;
  const bool exponent = (shape & 4) != 0;
  n.text = (negative ? "-" : "") + std::to_string(magnitude) + (fraction ? ".5" : "") + (exponent ? "e1" : "");
  if ((shape & 8) != 0) n.text = "\"" + n.text + "\"";  // a string, not a number
  n.is_u32 = (shape & 15) == 0 && magnitude <= 0xFFFFFFFFu;
  n.value = static_cast<std::uint32_t>(magnitude);
  if ((shape & 0x10) != 0) {  // "-0" is an integer in JSON, but not one vpci takes (a sign)
    n.text = "-0";
    n.is_u32 = false;
  }
  return n;
}

void check_built_capabilities(input_reader& in) {
  const number_text fds = make_number(in);
  const number_text xfer = make_number(in);
  const std::uint8_t depth = in.u8() % 20;  // the nesting of a member vpci skips
  const std::uint8_t where = in.u8();
  std::string nested;
  for (std::uint8_t i = 0; i < depth; ++i) nested += (i % 2 == 0) ? "[" : "{\"k\":";
  nested += "null";
  for (std::uint8_t i = depth; i > 0; --i) nested += ((i - 1) % 2 == 0) ? "]" : "}";
  // The skipped member's value is level 1 (beside "capabilities") or 2 (inside it), the root object's
  // members being level 1: its innermost value (null) is at level depth + 1 or depth + 2, and the reader
  // refuses a value below level 16.
  const bool inside = (where & 1) != 0;
  std::string json = "{";
  if (!inside) json += "\"other\":" + nested + ",";
  json += "\"capabilities\":{";
  if (inside) json += "\"skipped\":" + nested + ",";
  json += "\"max_msg_fds\":" + fds.text + ",\"max_data_xfer_size\":" + xfer.text + "}}";
  const int deepest = depth + (inside ? 2 : 1);
  const bool nesting_ok = deepest <= 16;
  const auto caps = vu::parse_capabilities(json);
  VPCI_FUZZ_CHECK(caps.has_value() == (fds.is_u32 && xfer.is_u32 && nesting_ok));
  if (caps) VPCI_FUZZ_CHECK(caps->max_msg_fds == fds.value && caps->max_data_xfer_size == xfer.value);
  else VPCI_FUZZ_CHECK(caps.error() == errc::malformed_message);
  check_parse_is_stable(json);
}

// ---- encoders from input fields ----

template <class Payload>
void check_command(input_reader& in, vu::command c, const Payload& p, std::size_t payload_size) {
  const std::uint16_t id = in.u16();
  const std::size_t room = in.u16() % (vu::header_size + payload_size + 8);
  sentinel_buffer out{room};
  auto n = vu::encode_command(id, c, p, out.span());
  VPCI_FUZZ_CHECK(n.has_value() == (room >= vu::header_size + payload_size));
  if (!n) {
    VPCI_FUZZ_CHECK(n.error() == errc::buffer_too_small && out.untouched_from(0));
    return;
  }
  VPCI_FUZZ_CHECK(*n == vu::header_size + payload_size && out.untouched_from(*n));
  auto h = vu::decode_header(out.view());
  VPCI_FUZZ_CHECK(h.has_value() && h->message_id == id && h->command == static_cast<std::uint16_t>(c) &&
                  h->message_size == *n && h->flags == 0 && h->error_number == 0);
}

void check_encoders(input_reader& in) {
  const std::size_t room = in.u8();
  const std::uint32_t a = in.u32(), b = in.u32(), c = in.u32(), d = in.u32(), e = in.u32();
  const std::uint64_t w = in.u64(), y = in.u64(), z = in.u64();
  const exact_bytes data{in.take(in.u8())};

  const vu::device_info info{a, b, c, d};
  if (auto got = encode_into(info, vu::device_info_size, room); !got.empty())
    VPCI_FUZZ_CHECK(vu::decode_device_info(got).value() == info);
  const vu::region_info region{a, b, c, d, w, y};
  if (auto got = encode_into(region, vu::region_info_size, room); !got.empty())
    VPCI_FUZZ_CHECK(vu::decode_region_info(got).value() == region);
  const vu::irq_info irq{a, b, c, d};
  if (auto got = encode_into(irq, vu::irq_info_size, room); !got.empty())
    VPCI_FUZZ_CHECK(vu::decode_irq_info(got).value() == irq);
  const vu::dma_map map{a, b, w, y, z};
  if (auto got = encode_into(map, vu::dma_map_size, room); !got.empty())
    VPCI_FUZZ_CHECK(vu::decode_dma_map(got).value() == map);
  const vu::dma_unmap unmap{a, b, w, y};
  if (auto got = encode_into(unmap, vu::dma_unmap_size, room); !got.empty())
    VPCI_FUZZ_CHECK(vu::decode_dma_unmap(got).value() == unmap);

  // Messages with data: the codec writes whatever fields it is given (a peer's shape is the decoder's
  // verdict), so the decode back is checked where the fields make the shape valid.
  const vu::region_access access{w, a, static_cast<std::uint32_t>(data.view().size()), data.view()};
  if (auto got = encode_into(access, vu::region_access_size + data.view().size(), room); !got.empty()) {
    auto back = vu::decode_region_access(got, true);
    VPCI_FUZZ_CHECK(back.has_value() && back->offset == w && back->region == a && equal(back->data, data.view()));
  }
  const std::uint32_t bool_flags = vu::irq_set_data_bool | vu::irq_set_action_trigger;
  const std::size_t set_size = vu::irq_set_size + data.view().size();
  const vu::irq_set set{static_cast<std::uint32_t>(set_size), bool_flags, c, d,
                        static_cast<std::uint32_t>(data.view().size()), data.view()};
  if (auto got = encode_into(set, set_size, room); !got.empty()) {
    auto back = vu::decode_irq_set(got);
    VPCI_FUZZ_CHECK(back.has_value() && back->index == c && back->start == d && equal(back->data, data.view()));
  }
  const std::string_view text(reinterpret_cast<const char*>(data.view().data()), data.view().size());
  const vu::version version{static_cast<std::uint16_t>(a), static_cast<std::uint16_t>(b),
                            text.substr(0, text.find('\0') == std::string_view::npos ? text.size() : text.find('\0'))};
  const std::size_t version_size = 4 + (version.json.empty() ? 0 : version.json.size() + 1);
  if (auto got = encode_into(version, version_size, room); !got.empty()) {
    auto back = vu::decode_version(got);
    VPCI_FUZZ_CHECK(back.has_value() && back->major == version.major && back->minor == version.minor &&
                    back->json == version.json);
  }
  const vu::header fields{static_cast<std::uint16_t>(a), static_cast<std::uint16_t>(b), c, d, e};
  if (auto got = encode_into(fields, vu::header_size, room); !got.empty()) {
    auto back = vu::decode_header(got);
    VPCI_FUZZ_CHECK(back.has_value() == (c >= vu::header_size));
    if (back) VPCI_FUZZ_CHECK(*back == fields);
  }

  switch (e % 4) {
    case 0: return check_command(in, vu::command::device_get_region_info, region, vu::region_info_size);
    case 1: return check_command(in, vu::command::region_write, access, vu::region_access_size + data.view().size());
    case 2: return check_command(in, vu::command::version, version, version_size);
    default: {
      const std::uint16_t id = in.u16();
      sentinel_buffer out{std::size_t{in.u8()} % 24};
      auto n = vu::encode_command(id, vu::command::device_reset, out.span());
      VPCI_FUZZ_CHECK(n.has_value() == (out.view().size() >= vu::header_size));
      if (!n) return VPCI_FUZZ_CHECK(out.untouched_from(0));
      auto h = vu::decode_header(out.view());
      VPCI_FUZZ_CHECK(*n == vu::header_size && out.untouched_from(*n) && h.has_value() && h->message_id == id &&
                      h->message_size == vu::header_size && h->payload_size() == 0);
    }
  }
}

}  // namespace


extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const auto selector = data[0];
  const bool flag = (selector & 0x10) != 0;
  const exact_bytes payload{as_bytes(data + 1, size - 1)};
  const auto x = payload.view();
  switch ((selector & 0xF) % 10) {
    case 0: check_header(x); break;
    case 1: check_version(x); break;
    case 2:
      if (flag) {  // a request: bytes after the 16 are taken and ignored
        auto d = vu::decode_device_info(x, true);
        VPCI_FUZZ_CHECK(d.has_value() == (x.size() >= vu::device_info_size));
        if (!d) {
          check_refusal(d, true);
          break;
        }
        VPCI_FUZZ_CHECK(d->argsz == field<std::uint32_t>(x, 0) && d->num_irqs == field<std::uint32_t>(x, 12));
        break;
      }
      check_fixed(x, vu::device_info_size, [](auto y) { return vu::decode_device_info(y); }, [](auto y) {
        return vu::device_info{field<std::uint32_t>(y, 0), field<std::uint32_t>(y, 4), field<std::uint32_t>(y, 8),
                               field<std::uint32_t>(y, 12)};
      });
      break;
    case 3: check_region_info(x, flag); break;
    case 4:
      check_fixed(x, vu::irq_info_size, vu::decode_irq_info, [](auto y) {
        return vu::irq_info{field<std::uint32_t>(y, 0), field<std::uint32_t>(y, 4), field<std::uint32_t>(y, 8),
                            field<std::uint32_t>(y, 12)};
      });
      break;
    case 5: check_irq_set(x); break;
    case 6: check_region_access(x, flag); break;
    case 7:
      check_fixed(x, vu::dma_map_size, vu::decode_dma_map, [](auto y) {
        return vu::dma_map{field<std::uint32_t>(y, 0), field<std::uint32_t>(y, 4), field<std::uint64_t>(y, 8),
                           field<std::uint64_t>(y, 16), field<std::uint64_t>(y, 24)};
      });
      break;
    case 8:
      check_fixed(x, vu::dma_unmap_size, vu::decode_dma_unmap, [](auto y) {
        return vu::dma_unmap{field<std::uint32_t>(y, 0), field<std::uint32_t>(y, 4), field<std::uint64_t>(y, 8),
                             field<std::uint64_t>(y, 16)};
      });
      break;
    default: {
      input_reader in{x};
      check_built_capabilities(in);
      break;
    }
  }
  input_reader in{x};
  check_encoders(in);
  return 0;
}
