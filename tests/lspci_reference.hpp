// What `lspci -vvv` (Debian pciutils) reports about capabilities, as a reference for the config-model
// tests: it runs lspci and parses its "Capabilities: [off] name" lines.
#pragma once

#include <sys/wait.h>

#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace vpci::test {

struct command_output {
  int exit_status = -1;
  std::string out;
};

// Runs a shell command and collects its stdout (stderr as the command line redirects it).
inline command_output run_command(const std::string& command) {
  command_output result;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return result;
  std::array<char, 4096> buffer{};
  std::size_t n;
  while ((n = std::fread(buffer.data(), 1, buffer.size(), pipe)) > 0) result.out.append(buffer.data(), n);
  const int status = ::pclose(pipe);
  result.exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

inline bool lspci_available() { return run_command("command -v lspci >/dev/null 2>&1 && echo yes").out == "yes\n"; }

struct lspci_capability {
  unsigned offset = 0;
  std::vector<unsigned> ids;  // the IDs lspci's name stands for; empty when the name is not in the table
  std::string text;           // what lspci prints after "[offset] ": the name, then its details
};

struct lspci_device {
  std::string address;  // DDDD:BB:DD.F (run lspci with -D)
  std::vector<lspci_capability> capabilities;
  std::vector<lspci_capability> extended_capabilities;
  bool standard_marker = false;  // lspci printed <chain looped>/<chain broken>/<access denied>
  bool extended_marker = false;
};

namespace detail {
struct name_to_id {
  std::string_view prefix;
  std::vector<unsigned> ids;
};

// Names lspci prints (ls-caps.c, ls-ecaps.c) for the IDs they stand for.
inline const std::vector<name_to_id>& standard_names() {
  static const std::vector<name_to_id> table = {
      {"Power Management", {0x01}}, {"AGP version", {0x02, 0x0E}}, {"Vital Product Data", {0x03}},
      {"Slot ID", {0x04}}, {"MSI:", {0x05}}, {"CompactPCI hot-swap", {0x06}}, {"PCI-X", {0x07}},
      {"HyperTransport", {0x08}}, {"Vendor Specific Information", {0x09}}, {"Debug port", {0x0A}},
      {"CompactPCI central resource control", {0x0B}}, {"PCI Hot-plug", {0x0C}}, {"Hot-plug capable", {0x0C}},
      {"Subsystem", {0x0D}},
      {"Secure device", {0x0F}}, {"Express", {0x10}}, {"MSI-X", {0x11}}, {"SATA HBA", {0x12}},
      {"PCI Advanced Features", {0x13}}, {"Enhanced Allocation", {0x14}}, {"Flattening Portal Bridge", {0x15}},
  };
  return table;
}
inline const std::vector<name_to_id>& extended_names() {
  static const std::vector<name_to_id> table = {
      {"Advanced Error Reporting", {0x01}}, {"Virtual Channel", {0x02, 0x09}}, {"Device Serial Number", {0x03}},
      {"Power Budgeting", {0x04}}, {"Root Complex Link", {0x05}}, {"Root Complex Internal Link", {0x06}},
      {"Root Complex Event Collector", {0x07}}, {"Multi-Function Virtual Channel", {0x08}},
      {"Root Complex Register Block", {0x0A}}, {"Vendor Specific Information", {0x0B}},
      {"Access Control Services", {0x0D}}, {"Alternative Routing-ID Interpretation", {0x0E}},
      {"Address Translation Service", {0x0F}}, {"Single Root I/O Virtualization", {0x10}},
      {"Multi-Root I/O Virtualization", {0x11}}, {"Multicast", {0x12}}, {"Page Request Interface", {0x13}},
      {"Physical Resizable BAR", {0x15}}, {"Dynamic Power Allocation", {0x16}}, {"Transaction Processing Hints", {0x17}},
      {"Latency Tolerance Reporting", {0x18}}, {"Secondary PCI Express", {0x19}}, {"Protocol Multiplexing", {0x1A}},
      {"Process Address Space ID", {0x1B}}, {"LN Requester", {0x1C}}, {"Downstream Port Containment", {0x1D}},
      {"L1 PM Substates", {0x1E}}, {"Precision Time Measurement", {0x1F}}, {"PCI Express over M_PHY", {0x20}},
      {"FRS Queueing", {0x21}}, {"Readiness Time Reporting", {0x22}}, {"Designated Vendor-Specific", {0x23}},
      {"VF Resizable BAR", {0x24}}, {"Virtual Resizable BAR", {0x24}}, {"Data Link Feature", {0x25}},
      {"Physical Layer 16.0 GT/s", {0x26}}, {"Lane Margining at the Receiver", {0x27}}, {"Hierarchy ID", {0x28}},
      {"Native PCIe Enclosure Management", {0x29}}, {"Data Object Exchange", {0x2E}},
  };
  return table;
}

inline std::vector<unsigned> ids_for(std::string_view name, bool extended) {
  if (!extended && name.size() > 1 && name[0] == '#') return {static_cast<unsigned>(std::strtoul(std::string(name.substr(1, 2)).c_str(), nullptr, 16))};
  constexpr std::string_view unknown_extended = "Extended Capability ID ";
  if (extended && name.substr(0, unknown_extended.size()) == unknown_extended)
    return {static_cast<unsigned>(std::strtoul(std::string(name.substr(unknown_extended.size())).c_str(), nullptr, 16))};
  for (const auto& entry : extended ? extended_names() : standard_names())
    if (name.substr(0, entry.prefix.size()) == entry.prefix) return entry.ids;
  return {};
}
}  // namespace detail

// Parses `lspci -D -vvv` output into devices with their capability lists, in list order.
inline std::vector<lspci_device> parse_lspci_verbose(const std::string& text) {
  std::vector<lspci_device> devices;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    if (line[0] != '\t' && line[0] != ' ') {
      devices.push_back({line.substr(0, line.find(' ')), {}, {}, false, false});
      continue;
    }
    if (devices.empty()) continue;
    constexpr std::string_view tag = "\tCapabilities: ";
    if (line.compare(0, tag.size(), tag) != 0) continue;
    std::string_view rest = std::string_view(line).substr(tag.size());
    auto& device = devices.back();
    if (rest.empty() || rest[0] != '[') {  // "<access denied>"
      device.standard_marker = true;
      continue;
    }
    const std::size_t close = rest.find(']');
    if (close == std::string_view::npos) continue;
    const std::string inside(rest.substr(1, close - 1));
    const bool extended = inside.find(' ') != std::string::npos || inside.size() == 3;
    const std::string_view name = close + 2 <= rest.size() ? rest.substr(close + 2) : std::string_view{};
    if (name.substr(0, 1) == "<") {
      (extended ? device.extended_marker : device.standard_marker) = true;
      continue;
    }
    if ((extended && device.extended_marker) || (!extended && device.standard_marker)) continue;
    lspci_capability cap{static_cast<unsigned>(std::strtoul(inside.c_str(), nullptr, 16)), detail::ids_for(name, extended), std::string(name)};
    (extended ? device.extended_capabilities : device.capabilities).push_back(cap);
  }
  return devices;
}

}  // namespace vpci::test
