// Fuzz target: the lspci text-dump parser (examples/lspci_dump.hpp) on arbitrary text.
//
// Invariants:
// - a refused dump yields std::nullopt and an error "line N: ..." with N inside the text's lines, or one of
//   the whole dump ("the dump is empty" for no text at all, "no device line in the dump: ..."); an
//   accepted one leaves `error` untouched;
// - an accepted dump has at least one device; every device has data, a whole number of 16-byte lines, at
//   most 0x10010 bytes, and an address whose device (0..31) and function (0..7) are in range and which
//   parses back from its own text form;
// - printing the parsed devices again in lspci's format (offsets in lower-case hex, 16 bytes a line, CRLF
//   line ends so that a description ending in CR survives) and parsing that gives the same devices:
//   address, description and every byte.
#include <cstddef>
#include <cstdint>
#include <sstream>
#include <string>

#include "lspci_dump.hpp"

#include "fuzz_support.hpp"

using namespace vpci;
using namespace vpci::fuzz;

namespace {

std::string print(const std::vector<tools::dumped_device>& devices) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  for (const auto& d : devices) {
    out += d.address.to_string();
    if (!d.description.empty()) out += " " + d.description;
    out += "\r\n";
    for (std::size_t at = 0; at < d.config.size(); at += 16) {
      std::string offset;
      for (std::size_t v = at; v != 0 || offset.size() < 2; v /= 16) offset.insert(offset.begin(), digits[v % 16]);
      out += offset + ":";
      for (std::size_t i = at; i < at + 16; ++i) {
        const auto b = std::to_integer<unsigned>(d.config[i]);
        out += ' ';
        out += digits[b >> 4];
        out += digits[b & 0xF];
      }
      out += "\r\n";
    }
  }
  return out;
}

bool same(const std::vector<tools::dumped_device>& a, const std::vector<tools::dumped_device>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (!(a[i].address == b[i].address) || a[i].description != b[i].description || a[i].config != b[i].config)
      return false;
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  std::size_t lines = 1;
  for (const char c : text) lines += c == '\n' ? 1 : 0;

  std::istringstream in{text};
  std::string error = "untouched";
  auto devices = tools::parse_lspci_dump(in, error);
  if (!devices) {
    if (error == "the dump is empty") {
      VPCI_FUZZ_CHECK(text.empty());
      return 0;
    }
    if (error.rfind("no device line in the dump", 0) == 0) return 0;
    VPCI_FUZZ_CHECK(error.rfind("line ", 0) == 0);
    const std::size_t colon = error.find(':');
    VPCI_FUZZ_CHECK(colon != std::string::npos && colon > 5);
    const std::size_t line = std::stoul(error.substr(5, colon - 5));
    VPCI_FUZZ_CHECK(line <= lines);
    return 0;
  }
  VPCI_FUZZ_CHECK(error == "untouched");
  VPCI_FUZZ_CHECK(!devices->empty());
  for (const auto& d : *devices) {
    VPCI_FUZZ_CHECK(!d.config.empty() && d.config.size() % 16 == 0 && d.config.size() <= 0x10010);
    VPCI_FUZZ_CHECK(d.address.device <= 31 && d.address.function <= 7);
    auto again = pci_address::parse(d.address.to_string());
    VPCI_FUZZ_CHECK(again.has_value() && *again == d.address);
    VPCI_FUZZ_CHECK(d.description.find('\n') == std::string::npos);
  }

  std::istringstream printed{print(*devices)};
  std::string second_error;
  auto reparsed = tools::parse_lspci_dump(printed, second_error);
  VPCI_FUZZ_CHECK(reparsed.has_value() && same(*devices, *reparsed));
  return 0;
}
