// The tools' HOST:PORT (vpci-perf's --tcp, vpci-conformance's --tcp and --tcp2, and the addresses
// vpci-conformance connects to): one rule for where the host ends and the port begins. An IPv6 address has
// colons of its own, so it is written [HOST]:PORT, as in a URL; the brackets are not part of the host a
// resolver takes. The port stays text: each tool checks it by option_number.hpp's rule against the ports
// it takes (a PF may listen on port 0, any free one; a VF cannot connect there). The host has one rule for
// both tools: one that connects needs it (split_host_port_to_connect), a listener may leave it empty.
#pragma once

#include <optional>
#include <string_view>

namespace vpci::example {

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

}  // namespace vpci::example
