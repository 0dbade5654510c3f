// examples/json_string.hpp: a JSON string literal for the tools' --json outputs (vpci-inspect,
// vpci-conformance, vpci-perf): the text in quotes, with quotes, backslashes and control characters
// escaped (RFC 8259 section 7); and the error object those outputs give when a tool could not run.
#pragma once

#include <cstdio>
#include <string>
#include <string_view>

namespace vpci::example {

inline std::string json_string(std::string_view text) {
  std::string out = "\"";
  for (const char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char escaped[8];
      std::snprintf(escaped, sizeof escaped, "\\u%04x", static_cast<unsigned>(static_cast<unsigned char>(c)));
      out += escaped;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

// {"error": MESSAGE}: what a tool's --json gives instead of its results when it could not run (a usage or
// setup error), so that a reader of the JSON learns why there are none.
inline std::string json_error(std::string_view message) { return "{\"error\":" + json_string(message) + "}"; }

}  // namespace vpci::example
