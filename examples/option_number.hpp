// The tools' numeric options: one rule for what a number on the command line is. A value is used only as
// written: digits and nothing else (no sign, no space, nothing left over); a whole number may be a C
// literal where a tool asks for that (number_syntax::c_literal), and a fractional one (a duration in
// seconds) is decimal digits with an optional fraction, "2" or "0.25", never hexadecimal or an exponent.
#pragma once

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <optional>
#include <string_view>

namespace vpci::tools {

enum class number_syntax { decimal, c_literal };

// `text` as a number in [low, high], or nothing. The whole text must be digits: a sign, a space or
// anything left over is refused (strtoull would take "-5" as 2^64 - 5, "12x" as 12 and " 7" as 7), so a
// value is used only as written. number_syntax::c_literal also takes C's 0x hexadecimal and 0 octal.
inline std::optional<std::uint64_t> option_number(std::string_view text, std::uint64_t low, std::uint64_t high,
                                                  number_syntax syntax = number_syntax::decimal) {
  int base = 10;
  if (syntax == number_syntax::c_literal && text.size() > 1 && text[0] == '0') {
    const bool hex = text[1] == 'x' || text[1] == 'X';
    base = hex ? 16 : 8;
    text.remove_prefix(hex ? 2 : 1);
  }
  // from_chars into an unsigned type takes no sign and no space: only digits of the base.
  std::uint64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value, base);
  if (ec != std::errc{} || end != text.data() + text.size() || value < low || value > high) return std::nullopt;
  return value;
}

// `text` as a decimal fraction in [low, high], or nothing: digits, then optionally a point and more digits
// ("2", "0.25"). strtod would take " 1" as 1, "0x1p-3" as 0.125 and "1e3" as 1000, and from_chars takes
// "-1", "inf" and "nan": the text is checked against the rule before it is converted.
inline std::optional<double> option_decimal(std::string_view text, double low, double high) {
  const auto point = text.find('.');
  const auto whole = text.substr(0, point);
  const auto fraction = point == std::string_view::npos ? std::string_view{} : text.substr(point + 1);
  const auto digits = [](std::string_view part) {
    return !part.empty() && std::all_of(part.begin(), part.end(), [](char c) { return c >= '0' && c <= '9'; });
  };
  if (!digits(whole) || (point != std::string_view::npos && !digits(fraction))) return std::nullopt;
  double value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value, std::chars_format::fixed);
  if (ec != std::errc{} || end != text.data() + text.size() || value < low || value > high) return std::nullopt;
  return value;
}

}  // namespace vpci::tools
