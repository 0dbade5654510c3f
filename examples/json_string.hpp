// examples/json_string.hpp: a JSON string literal for the tools' --json outputs (vpci-inspect,
// vpci-conformance, vpci-perf): the text in quotes, with quotes, backslashes and control characters
// escaped (RFC 8259 section 7). JSON text is UTF-8 (RFC 8259 section 8.1), and the text may hold any bytes
// (a path, a peer's message): a well-formed UTF-8 sequence (RFC 3629: no overlong form, no surrogate,
// nothing above U+10FFFF) is copied as it is, and every byte that starts none is written as \ufffd, the
// replacement character, so that a JSON reader never refuses the output. And the error object those
// outputs give when a tool could not run, printed by the one function every tool says so with.
#pragma once

#include <cstddef>
#include <cstdio>
#include <string>
#include <string_view>

namespace vpci::tools {

namespace detail {

// The length of the well-formed UTF-8 sequence at the start of `text` (1 to 4), or 0 if none starts there.
// The second byte's range excludes the overlong forms (after E0, F0), the surrogates (after ED) and code
// points above U+10FFFF (after F4); every later byte is a continuation byte, 80..BF.
inline std::size_t utf8_sequence_length(std::string_view text) {
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text[i]); };
  const unsigned char lead = byte(0);
  if (lead < 0x80) return 1;
  std::size_t length = 0;
  unsigned char second_low = 0x80;
  unsigned char second_high = 0xBF;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    if (lead == 0xE0) second_low = 0xA0;
    if (lead == 0xED) second_high = 0x9F;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    if (lead == 0xF0) second_low = 0x90;
    if (lead == 0xF4) second_high = 0x8F;
  } else {
    return 0;  // a continuation byte, C0, C1 or F5..FF: no sequence starts with it
  }
  if (text.size() < length || byte(1) < second_low || byte(1) > second_high) return 0;
  for (std::size_t i = 2; i < length; ++i)
    if (byte(i) < 0x80 || byte(i) > 0xBF) return 0;
  return length;
}

}  // namespace detail

inline std::string json_string(std::string_view text) {
  std::string out = "\"";
  while (!text.empty()) {
    const char c = text.front();
    const std::size_t length = detail::utf8_sequence_length(text);
    if (length == 0) {
      out += "\\ufffd";
    } else if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char escaped[8];
      std::snprintf(escaped, sizeof escaped, "\\u%04x", static_cast<unsigned>(static_cast<unsigned char>(c)));
      out += escaped;
    } else {
      out += text.substr(0, length);
    }
    text.remove_prefix(length == 0 ? 1 : length);
  }
  return out + "\"";
}

// Whether --json is on the command line, anywhere: looked for before the arguments are parsed, so that a
// usage error met before a later --json is given as JSON too. Only the argument "--json" itself counts (a
// value "--json" given to another option counts as well: the output follows the same rule).
inline bool json_requested(int argc, char** argv) {
  for (int i = 1; i < argc; ++i)
    if (std::string_view(argv[i]) == "--json") return true;
  return false;
}

// {"error": MESSAGE}: what a tool's --json gives instead of its results when it could not run (a usage or
// setup error), so that a reader of the JSON learns why there are none.
inline std::string json_error(std::string_view message) { return "{\"error\":" + json_string(message) + "}"; }

// A failure after which `tool` gives no results (a usage or set-up error): "TOOL: MESSAGE" and `after` on
// stderr (`after` ends the line and holds what follows it: a hint, the usage), and with `json` (the tool's
// json_requested()) {"error": MESSAGE} on stdout as well. One function for every tool, so that the text and
// the JSON of one failure cannot drift apart, nor one tool's failures from another's.
inline void print_failure(std::string_view tool, std::string_view message, bool json, std::string_view after = "\n") {
  std::fprintf(stderr, "%.*s: %.*s%.*s", static_cast<int>(tool.size()), tool.data(), static_cast<int>(message.size()), message.data(),
               static_cast<int>(after.size()), after.data());
  if (json) std::printf("%s\n", json_error(message).c_str());
}

}  // namespace vpci::tools
