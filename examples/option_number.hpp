// The tools' numeric options: one rule for what a number on the command line is.
#pragma once

#include <charconv>
#include <cstdint>
#include <optional>
#include <string_view>

namespace vpci::example {

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

}  // namespace vpci::example
