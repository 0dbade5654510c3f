#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>

#include <vpci/core.hpp>
#include <vpci/transport/sysfs_config_space.hpp>

#include "../examples/lspci_dump.hpp"
#include "lspci_reference.hpp"

BOOST_AUTO_TEST_SUITE(config_lspci_test)

using namespace vpci;
namespace fs = std::filesystem;

namespace {

// The reference dumps live next to the repository (../shared/reference/pci-dumps); VPCI_PCI_DUMPS
// overrides the location.
fs::path dumps_directory() {
  if (const char* env = std::getenv("VPCI_PCI_DUMPS")) return env;
  return fs::path(__FILE__).parent_path() / ".." / ".." / "shared" / "reference" / "pci-dumps";
}

bool matches(const test::lspci_capability& reference, unsigned offset, unsigned id) {
  if (reference.offset != offset) return false;
  return reference.ids.empty() || std::find(reference.ids.begin(), reference.ids.end(), id) != reference.ids.end();
}

// Checks the walks of `space` against lspci's view of the same device. lspci stops where a list breaks
// (and says so), and shows extended capabilities only for PCIe functions with an extended space.
void compare_with_lspci(const std::string& address, std::span<const std::byte> space, const test::lspci_device& ref) {
  const auto walk = config::walk_capabilities(space);
  BOOST_TEST_CONTEXT(address) {
    if (ref.standard_marker) {
      BOOST_TEST(walk.entries.size() >= ref.capabilities.size());
    } else {
      BOOST_TEST((walk.error == no_error));
      BOOST_TEST(walk.entries.size() == ref.capabilities.size());
    }
    for (std::size_t i = 0; i < std::min(walk.entries.size(), ref.capabilities.size()); ++i)
      BOOST_TEST(matches(ref.capabilities[i], walk.entries[i].offset, walk.entries[i].id),
                 "capability " << i << ": ours [" << std::hex << unsigned{walk.entries[i].offset} << "] id "
                               << unsigned{walk.entries[i].id} << ", lspci [" << ref.capabilities[i].offset << "]");

    const bool pcie = config::find_capability(space, config::capability_id::pci_express).has_value();
    if (!pcie || space.size() <= 256) {
      BOOST_TEST(ref.extended_capabilities.empty());
      return;
    }
    const auto ext = config::walk_extended_capabilities(space);
    if (ref.extended_marker) {
      BOOST_TEST(ext.entries.size() >= ref.extended_capabilities.size());
      BOOST_TEST((ext.error != no_error));
    } else {
      BOOST_TEST((ext.error == no_error));
      BOOST_TEST(ext.entries.size() == ref.extended_capabilities.size());
    }
    for (std::size_t i = 0; i < std::min(ext.entries.size(), ref.extended_capabilities.size()); ++i)
      BOOST_TEST(matches(ref.extended_capabilities[i], ext.entries[i].offset, ext.entries[i].id),
                 "extended capability " << i << ": ours [" << std::hex << ext.entries[i].offset << "] id "
                                        << ext.entries[i].id << ", lspci [" << ref.extended_capabilities[i].offset << "]");
  }
}

}  // namespace

BOOST_AUTO_TEST_CASE(walks_agree_with_lspci_on_this_machine) {
  if (!test::lspci_available()) {
    BOOST_TEST_MESSAGE("lspci not installed (Debian: pciutils): comparison with real devices skipped");
    return;
  }
  const auto listing = test::run_command("lspci -D -vvv 2>/dev/null");
  const auto devices = test::parse_lspci_verbose(listing.out);
  boost::asio::io_context io;
  std::size_t compared = 0;
  for (const auto& ref : devices) {
    sysfs_config_space device(io.get_executor());
    boost::system::error_code ec;
    device.open_device(ref.address, access_mode::read_only, ec);
    if (ec || device.size() < 256) continue;  // lspci sees no capabilities either without privileges
    std::vector<std::byte> bytes(device.size());
    BOOST_TEST_REQUIRE(device.read(0, bytes, ec) == bytes.size());
    compare_with_lspci(ref.address, bytes, ref);
    ++compared;
  }
  if (compared == 0) BOOST_TEST_MESSAGE("no PCI device readable in full here: comparison with real devices skipped");
  else BOOST_TEST_MESSAGE("compared " << compared << " devices with lspci -vvv");
}

BOOST_AUTO_TEST_CASE(walks_agree_with_lspci_on_reference_dumps) {
  const fs::path dir = dumps_directory();
  if (!fs::is_directory(dir)) {
    BOOST_TEST_MESSAGE(dir.string() << " does not exist: comparison with reference dumps skipped");
    return;
  }
  if (!test::lspci_available()) {
    BOOST_TEST_MESSAGE("lspci not installed (Debian: pciutils): comparison with reference dumps skipped");
    return;
  }
  std::size_t compared = 0;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().filename() == "README.md") continue;
    std::ifstream in(entry.path());
    std::string error;
    const auto dumped = tools::parse_lspci_dump(in, error);
    BOOST_TEST_REQUIRE(dumped.has_value(), entry.path().string() << ": " << error);
    const auto listing = test::run_command("lspci -D -vvv -F '" + entry.path().string() + "' 2>/dev/null");
    BOOST_TEST(listing.exit_status == 0);
    std::map<std::string, test::lspci_device> by_address;
    for (auto& d : test::parse_lspci_verbose(listing.out)) by_address[d.address] = d;
    BOOST_TEST(by_address.size() == dumped->size(), entry.path().filename().string());
    for (const auto& device : *dumped) {
      const auto it = by_address.find(device.address.to_string());
      BOOST_TEST_REQUIRE((it != by_address.end()), device.address.to_string());
      compare_with_lspci(entry.path().filename().string() + " " + device.address.to_string(), device.config, it->second);
      ++compared;
    }
  }
  BOOST_TEST(compared > 0u);
  BOOST_TEST_MESSAGE("compared " << compared << " dumped devices with lspci -F -vvv");
}

BOOST_AUTO_TEST_CASE(broken_ecaps_dump_reports_its_extended_list) {
  const fs::path file = dumps_directory() / "broken-ecaps";
  if (!fs::exists(file)) {
    BOOST_TEST_MESSAGE(file.string() << " does not exist: skipped");
    return;
  }
  std::ifstream in(file);
  std::string error;
  const auto dumped = tools::parse_lspci_dump(in, error);
  BOOST_TEST_REQUIRE(dumped.has_value());
  BOOST_TEST_REQUIRE(dumped->size() == 1u);
  const auto& config_bytes = (*dumped)[0].config;
  BOOST_TEST(config_bytes.size() == 4096u);
  // The header repeated at every 256-byte boundary: no extended space, as Linux decides it
  // (pci_ext_cfg_is_aliased). Read as a list it would be capability 0x1002 with next 0x791.
  BOOST_TEST(config::extended_space_aliases_header(config_bytes));
  const auto ext = config::walk_extended_capabilities(config_bytes);
  BOOST_TEST((ext.error == errc::not_supported));
  BOOST_TEST(ext.entries.size() == 0u);
  BOOST_TEST((config::find_free_space(config_bytes).error() == errc::not_supported));
}

BOOST_AUTO_TEST_CASE(dump_parser_rejects_malformed_text) {
  auto parse = [](const std::string& text) {
    std::istringstream in(text);
    std::string error;
    const bool ok = tools::parse_lspci_dump(in, error).has_value();
    return ok ? std::string("ok") : error;
  };
  const std::string line0 = "00: 86 80 d7 0d 00 00 00 00 00 00 00 06 00 00 00 00\n";
  BOOST_TEST(parse("00:00.0 Host bridge\n" + line0) == "ok");
  // What is wrong with the whole dump is said without a line number: there was no "line 0".
  BOOST_TEST(parse("") == "the dump is empty");
  BOOST_TEST(parse("\n\tSubsystem: y\n\n") == "no device line in the dump: every line is blank or indented");
  BOOST_TEST(parse(line0) == "line 1: data before any device line");
  BOOST_TEST(parse("00:00.0 x\n10: 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00\n") ==
             "line 2: offset 10: does not continue the previous line");
  BOOST_TEST(parse("00:00.0 x\n00: 86 80 d7\n") == "line 2: a data line holds 16 bytes");
  BOOST_TEST(parse("00:00.0 x\n00: 86 8g d7 0d 00 00 00 00 00 00 00 06 00 00 00 00\n") ==
             "line 2: bad byte in '00: 86 8g d7 0d 00 00 00 00 00 00 00 06 00 00 00 00'");
  BOOST_TEST(parse("00:00.0 x\n01:00.0 y\n" + line0) == "line 2: device 0000:00:00.0 has no data");
  BOOST_TEST(parse("00:00.0 x\n" + line0 + "garbage here\n") == "line 3: neither a device line nor a data line: 'garbage here'");
  BOOST_TEST(parse("0001:02:1f.7 x\n\tSubsystem: y\n" + line0) == "ok");
  // A UTF-8 byte order mark opens a dump saved by a Windows editor: it is not the dump's text. Only the
  // first line's is one; anywhere else it is a stray byte, shown as such.
  BOOST_TEST(parse("\xEF\xBB\xBF" "00:00.0 Host bridge\r\n" + line0) == "ok");
  BOOST_TEST(parse("00:00.0 x\n\xEF\xBB\xBF" + line0) == "line 2: bad offset '\\xEF\\xBB\\xBF00:'");
  // One address twice is one dump pasted twice or two machines' dumps in one: which bytes are the device's?
  BOOST_TEST(parse("00:01.0 x\n" + line0 + "\n00:02.0 y\n" + line0 + "0000:00:01.0 x\n" + line0) ==
             "line 6: device 0000:00:01.0 was listed at line 1 already (a dump pasted twice, or two machines' dumps in one)");
  // The user's text is quoted with its non-printable bytes escaped: a NUL no longer ends the message.
  BOOST_TEST(parse(std::string("00:00.0 x\n00: 86\0", 17)) == "line 2: bad byte in '00: 86\\x00'");
  BOOST_TEST(parse("0\x7f:\n") == "line 1: bad offset '0\\x7F:'");
  BOOST_TEST(parse("00:00.0\x01 x\n") == "line 1: neither a device line nor a data line: '00:00.0\\x01 x'");
}

// A config space holds 4096 bytes, and lspci -F refuses a dump line past them ("At most 4096 bytes of config
// space are supported"). The parser took lines up to offset 0x10000: a device of 8192 bytes whose second
// half was read as nothing.
BOOST_AUTO_TEST_CASE(a_dump_line_at_or_past_4096_bytes_is_refused_naming_the_line) {
  auto parse = [](const std::string& text) {
    std::istringstream in(text);
    std::string error;
    const auto devices = tools::parse_lspci_dump(in, error);
    return devices ? "ok: " + std::to_string(devices->front().config.size()) + " bytes" : error;
  };
  const auto lines = [](std::size_t from, std::size_t to) {
    std::string text;
    char offset[24];
    for (std::size_t at = from; at < to; at += 16) {
      std::snprintf(offset, sizeof offset, "%02zx:", at);
      text += offset;
      text += " 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00\n";
    }
    return text;
  };
  BOOST_TEST(parse("00:00.0 x\n" + lines(0, 4096)) == "ok: 4096 bytes");
  BOOST_TEST(parse("00:00.0 x\n" + lines(0, 8192)) ==
             "line 258: offset 1000: is past the config space: at most 4096 bytes of config space are supported");
  // A line far past it, or with more digits than any offset, is named so too, not as a gap.
  BOOST_TEST(parse("00:00.0 x\n" + lines(0, 16) + "fff0: 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00\n") ==
             "line 3: offset fff0: is past the config space: at most 4096 bytes of config space are supported");
  BOOST_TEST(parse("00:00.0 x\n" + lines(0, 16) + "123456789abcdef0123: 00\n") ==
             "line 3: offset 123456789abcdef0123: is past the config space: at most 4096 bytes of config space are "
             "supported");
  // A malformed offset is named as such, however long.
  BOOST_TEST(parse("00:00.0 x\n" + lines(0, 16) + "12345678g: 00\n") == "line 3: bad offset '12345678g:'");
}

BOOST_AUTO_TEST_SUITE_END()  // config_lspci_test
