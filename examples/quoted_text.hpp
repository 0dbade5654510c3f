// examples/quoted_text.hpp: the user's own text, quoted in the tools' error messages (vpci-codec,
// vpci-inspect, vpci-conformance, vpci-perf, vpci-vfio-user-device): in single quotes, every byte outside
// printable ASCII as \xHH. A NUL would otherwise end the message where printf stops, and a stray byte (a
// UTF-8 byte order mark, a lone 0xEF) would print as nothing visible or as an invalid character, hiding
// the very thing the message is about. Paths the user gave are such text too: a file name may hold any
// byte but '/' and NUL, and a newline in one would split the message, an escape sequence drive the
// terminal.
#pragma once

#include <cstdio>
#include <string>
#include <string_view>

namespace vpci::tools {

inline std::string quoted_text(std::string_view text) {
  std::string out = "'";
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte >= 0x20 && byte < 0x7F) {
      out += c;
    } else {
      char escaped[8];
      std::snprintf(escaped, sizeof escaped, "\\x%02X", static_cast<unsigned>(byte));
      out += escaped;
    }
  }
  return out + "'";
}

}  // namespace vpci::tools
