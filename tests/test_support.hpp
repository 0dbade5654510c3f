// Shared by the tests: how BOOST_TEST prints vpci values, and small byte-buffer helpers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <ios>
#include <ostream>
#include <span>
#include <type_traits>
#include <vector>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>

#include <vpci/engine/vf_messages.hpp>
#include <vpci/protocol/errc.hpp>

namespace boost::test_tools::tt_detail {
template <>
struct print_log_value<std::byte> {
  void operator()(std::ostream& out, std::byte value) {
    const auto flags = out.flags();
    out << "0x" << std::hex << static_cast<unsigned>(value);
    out.flags(flags);
  }
};
}  // namespace boost::test_tools::tt_detail

namespace vpci {
// Any vpci enumeration prints as its number (hex for 32-bit values such as NTSTATUS and message types).
template <class E>
  requires std::is_enum_v<E>
std::ostream& boost_test_print_type(std::ostream& out, const E& value) {
  const auto number = static_cast<std::underlying_type_t<E>>(value);
  const auto flags = out.flags();
  if constexpr (sizeof(E) >= 4 && std::is_unsigned_v<std::underlying_type_t<E>>)
    out << "0x" << std::hex << static_cast<std::uint64_t>(number);
  else
    out << static_cast<std::int64_t>(number);
  out.flags(flags);
  return out;
}
namespace engine {
using vpci::boost_test_print_type;
inline std::ostream& boost_test_print_type(std::ostream& out, const vf_op_handle& handle) {
  const auto flags = out.flags();
  out << "vf_op_handle(0x" << std::hex << handle.transaction_id << ")";
  out.flags(flags);
  return out;
}
}  // namespace engine
namespace hyperv {
using vpci::boost_test_print_type;
}
namespace config {
using vpci::boost_test_print_type;
}
}  // namespace vpci

namespace vpci::test {

using bytes = std::vector<std::byte>;

inline bytes make_bytes(std::initializer_list<unsigned> values) {
  bytes out;
  for (unsigned v : values) out.push_back(static_cast<std::byte>(v));
  return out;
}

// The bytes as numbers, for per-element comparisons that print readably.
inline std::vector<unsigned> octets(std::span<const std::byte> in) {
  std::vector<unsigned> out;
  for (std::byte b : in) out.push_back(std::to_integer<unsigned>(b));
  return out;
}

// n bytes counting up from `start`, wrapping at 256.
inline bytes pattern(std::size_t n, unsigned start = 0) {
  bytes out(n);
  for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<std::byte>((start + i) & 0xFF);
  return out;
}

// An encoder call refused with `expected`: the whole output buffer (pre-filled with 0xAA) stays as it
// was. `encode` is found by argument-dependent lookup in the message's namespace.
template <class Message, class... Extra>
void check_refused(const Message& m, std::size_t out_size, errc expected, Extra... extra) {
  bytes out(out_size, std::byte{0xAA});
  auto r = encode(m, std::span<std::byte>{out}, extra...);
  BOOST_TEST(!r.has_value());
  BOOST_TEST((r.error() == expected));
  BOOST_TEST(octets(out) == std::vector<unsigned>(out_size, 0xAA));
}

// A decoder call refused with `expected`: a variable assigned only on success keeps its old value.
template <class Decode, class T>
void check_rejected(Decode decode, std::span<const std::byte> in, errc expected, const T& sentinel) {
  T out = sentinel;
  auto r = decode(in);
  if (r) out = *r;
  BOOST_TEST(!r.has_value());
  BOOST_TEST((r.error() == expected));
  BOOST_TEST((out == sentinel));
}

// Whether this host has an IPv6 loopback (::1) to connect to: a container or a kernel with IPv6 disabled
// has none, and what a test would check over it cannot be shown there. Binding ::1 is the probe: it fails
// exactly where connecting to it would.
inline bool has_ipv6_loopback() {
  const int probe = ::socket(AF_INET6, SOCK_STREAM, 0);
  ::sockaddr_in6 loopback{};
  loopback.sin6_family = AF_INET6;
  loopback.sin6_addr = in6addr_loopback;
  const bool bound = probe >= 0 && ::bind(probe, reinterpret_cast<const ::sockaddr*>(&loopback), sizeof loopback) == 0;
  if (probe >= 0) ::close(probe);
  return bound;
}

}  // namespace vpci::test
