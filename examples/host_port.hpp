// The tools' HOST:PORT (vpci-perf's --tcp, vpci-conformance's --tcp and --tcp2, and the addresses
// vpci-conformance connects to): one rule for where the host ends and the port begins. An IPv6 address has
// colons of its own, so it is written [HOST]:PORT, as in a URL; the brackets are not part of the host a
// resolver takes. The port stays text: each tool checks it by option_number.hpp's rule against the ports
// it takes (a PF may listen on port 0, any free one; a VF cannot connect there). The host has one rule for
// both tools: one that connects needs it (split_host_port_to_connect), a listener may leave it empty.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "option_number.hpp"
#include "quoted_text.hpp"

namespace vpci::tools {

struct host_and_port {
  std::string_view host;  // without the brackets of [HOST]; may be empty (":PORT")
  std::string_view port;  // everything after the colon, unchecked
};

// `text` split at the colon before its port, or nothing when it has none: "[HOST]" alone, or a text
// without a colon. "[::1]:80" is "::1" and "80"; "::1:80", unbracketed, splits at the last colon.
inline std::optional<host_and_port> split_host_port(std::string_view text) {
  if (text.starts_with('[')) {
    const auto close = text.find("]:");
    if (close == std::string_view::npos) return std::nullopt;
    return host_and_port{text.substr(1, close - 1), text.substr(close + 2)};
  }
  const auto colon = text.rfind(':');
  if (colon == std::string_view::npos) return std::nullopt;
  return host_and_port{text.substr(0, colon), text.substr(colon + 1)};
}

// `text` split as split_host_port splits it, for a tool that connects there: nothing also when its HOST is
// empty (":PORT", "[]:PORT"), which names no peer. getaddrinfo refuses an empty name (vpci-conformance's
// cases each failed so, once the run had started), and vpci-perf's VF took it as 0.0.0.0, a destination
// only some kernels read as this host: either way a mistake found late, or never. A listener may take an
// empty HOST (vpci-perf's PF: every IPv4 address); that is the listener's to say.
inline std::optional<host_and_port> split_host_port_to_connect(std::string_view text) {
  const auto address = split_host_port(text);
  if (!address || address->host.empty()) return std::nullopt;
  return address;
}

// What a tool does at a --tcp address: connect there (a VF; a PF's HOST and a PORT 1..65535 needed), or
// listen there (a PF; PORT 0 takes any free one, and the tool says what an empty HOST means to it).
enum class tcp_use { connect, listen };

// A --tcp value checked, or the usage error a tool gives for it.
struct tcp_address {
  std::string host;
  std::uint16_t port = 0;
  std::string error;  // names the option and quotes the value; empty when the value is good
};

// `text`, `option`'s value, checked as HOST:PORT for `use`: the one rule and the one wording of both tools'
// --tcp (and vpci-conformance's --tcp2), so that a mistake reads the same in either. The port is decimal
// only: the text goes to getaddrinfo as the service, which reads no 0x. Port 0 is no PF's to connect to
// (a listener given 0 takes a free port and names another).
inline tcp_address check_tcp_address(std::string_view option, std::string_view text, tcp_use use) {
  const auto address = use == tcp_use::connect ? split_host_port_to_connect(text) : split_host_port(text);
  const std::string given = std::string(option) + ": ";
  if (!address) return {{}, 0, given + "expected HOST:PORT, got " + quoted_text(text)};
  const std::uint64_t lowest = use == tcp_use::connect ? 1 : 0;
  const auto port = option_number(address->port, lowest, 65535);
  if (!port) {
    std::string error = given + "the port of " + quoted_text(text) + " is not a number in " + std::to_string(lowest) + "..65535";
    if (use == tcp_use::connect && address->port == "0") error += " (port 0 is for a PF that listens, taking any free port)";
    return {{}, 0, error};
  }
  return {std::string(address->host), static_cast<std::uint16_t>(*port), {}};
}

}  // namespace vpci::tools
