// Reads the text dump `lspci -x`/`-xxx`/`-xxxx` prints, the format driver teams attach to bug reports:
// per device a header line "[DDDD:]BB:DD.F description", then "OFF: xx xx ..." lines of 16 bytes.
// Lines indented by a tab (what -v adds), blank lines and a UTF-8 byte order mark opening the text are
// skipped. Used by vpci-inspect and its tests.
#pragma once

#include <cstddef>
#include <istream>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <vpci/config/access.hpp>
#include <vpci/transport/sysfs_config_space.hpp>

#include "listed_functions.hpp"
#include "quoted_text.hpp"

namespace vpci::tools {

struct dumped_device {
  pci_address address;
  std::string description;
  std::vector<std::byte> config;  // 64, 256 or 4096 bytes in practice: as many as the dump holds
};

namespace detail {
inline int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
}  // namespace detail

// Parses every device of the dump. On malformed input returns std::nullopt and says why in `error`
// ("line N: ..."): a data line before any device, offsets that are not contiguous from 0, a data line at or
// past 4096 (a config space holds no more: lspci refuses it too, "At most 4096 bytes of config space are
// supported"), a byte that is not two hex digits, a device with no data, an address listed twice; or,
// with no line number, a dump that is empty or has no device line.
inline std::optional<std::vector<dumped_device>> parse_lspci_dump(std::istream& in, std::string& error) {
  constexpr std::string_view utf8_byte_order_mark = "\xEF\xBB\xBF";
  std::vector<dumped_device> devices;
  listed_functions listed;  // by the line naming each
  std::string line;
  std::size_t line_number = 0;
  auto fail = [&](const std::string& why) {
    error = "line " + std::to_string(line_number) + ": " + why;
    return std::nullopt;
  };
  while (std::getline(in, line)) {
    ++line_number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    // A Windows editor saves a dump with a UTF-8 byte order mark in front: not text of the dump.
    if (line_number == 1 && line.rfind(utf8_byte_order_mark, 0) == 0) line.erase(0, utf8_byte_order_mark.size());
    if (line.empty() || line[0] == '\t' || line[0] == ' ') continue;
    const std::size_t space = line.find(' ');
    const std::string_view first = std::string_view(line).substr(0, space);
    if (first.size() >= 2 && first.back() == ':') {
      std::size_t offset = 0;
      bool past_config_space = false;  // noted, not returned: a malformed offset is named first
      for (char c : first.substr(0, first.size() - 1)) {
        const int v = detail::hex_value(c);
        if (v < 0) return fail("bad offset " + quoted_text(first));
        if (!past_config_space) offset = offset * 16 + static_cast<std::size_t>(v);
        past_config_space = past_config_space || offset >= config::extended_space_size;
      }
      // What lies there is no config space: reading it as the device's would report bytes it cannot have.
      if (past_config_space)
        return fail("offset " + std::string(first) + " is past the config space: at most " +
                    std::to_string(config::extended_space_size) + " bytes of config space are supported");
      if (devices.empty()) return fail("data before any device line");
      auto& config = devices.back().config;
      if (offset != config.size()) return fail("offset " + std::string(first) + " does not continue the previous line");
      std::string_view rest = std::string_view(line).substr(first.size());
      std::size_t count = 0;
      while (!rest.empty()) {
        if (rest[0] == ' ') {
          rest.remove_prefix(1);
          continue;
        }
        const int high = detail::hex_value(rest[0]);
        const int low = rest.size() > 1 ? detail::hex_value(rest[1]) : -1;
        if (high < 0 || low < 0 || (rest.size() > 2 && rest[2] != ' ')) return fail("bad byte in " + quoted_text(line));
        config.push_back(static_cast<std::byte>(high * 16 + low));
        rest.remove_prefix(2);
        ++count;
      }
      if (count != 16) return fail("a data line holds 16 bytes");
      continue;
    }
    const auto address = pci_address::parse(first);
    if (!address) return fail("neither a device line nor a data line: " + quoted_text(line));
    if (!devices.empty() && devices.back().config.empty())
      return fail("device " + devices.back().address.to_string() + " has no data");
    if (const auto first = listed.add(*address, line_number))
      return fail("device " + address->to_string() + " was listed at line " + std::to_string(*first) +
                  " already (a dump pasted twice, or two machines' dumps in one)");
    devices.push_back({*address, space == std::string::npos ? std::string{} : line.substr(space + 1), {}});
  }
  // The whole dump is at fault here, not its last line.
  if (devices.empty()) {
    error = line_number == 0 ? "the dump is empty" : "no device line in the dump: every line is blank or indented";
    return std::nullopt;
  }
  if (devices.back().config.empty()) return fail("device " + devices.back().address.to_string() + " has no data");
  return devices;
}

}  // namespace vpci::tools
