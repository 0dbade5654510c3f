#include <boost/test/unit_test.hpp>

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <boost/json/src.hpp>

#include <vpci/config/capabilities.hpp>
#include <vpci/config/sriov.hpp>
#include <vpci/config/vsec.hpp>

#include "config_fixtures.hpp"
#include "lspci_reference.hpp"

using namespace vpci;
namespace fs = std::filesystem;
namespace json = boost::json;
using vpci::test::config_image;
namespace cid = config::extended_capability_id;

namespace {

// The binary under test; tests/config_checks.cmake passes its path.
const char* inspect_binary() { return std::getenv("VPCI_INSPECT"); }

struct run_result {
  int exit_status;
  std::string out;
  std::string err;
};

class temp_file {
 public:
  explicit temp_file(const std::string& text) {
    std::string pattern = (fs::temp_directory_path() / "vpci-inspect-XXXXXX").string();
    const int fd = ::mkstemp(pattern.data());
    BOOST_TEST_REQUIRE(fd >= 0);
    ::close(fd);
    path_ = pattern;
    std::ofstream(path_) << text;
  }
  ~temp_file() { fs::remove(path_); }
  temp_file(const temp_file&) = delete;
  temp_file& operator=(const temp_file&) = delete;
  [[nodiscard]] const std::string& path() const { return path_; }

 private:
  std::string path_;
};

run_result run_inspect(const std::string& arguments) {
  temp_file err("");
  const auto r = test::run_command(std::string("'") + inspect_binary() + "' " + arguments + " 2>'" + err.path() + "'");
  std::ifstream in(err.path());
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return {r.exit_status, r.out, text};
}

// The lspci -xxxx text of one device.
std::string dump_text(const std::string& header, std::span<const std::byte> bytes) {
  std::string text = header + "\n";
  for (std::size_t line = 0; line < bytes.size(); line += 16) {
    char buffer[24];
    std::snprintf(buffer, sizeof buffer, "%02zx:", line);
    text += buffer;
    for (std::size_t i = line; i < line + 16; ++i) {
      std::snprintf(buffer, sizeof buffer, " %02x", static_cast<unsigned>(bytes[i]));
      text += buffer;
    }
    text += "\n";
  }
  return text + "\n";
}

std::vector<std::int64_t> ints(const json::value& array, const char* key) {
  std::vector<std::int64_t> out;
  for (const auto& item : array.as_array()) out.push_back(item.at(key).as_int64());
  return out;
}

bool skip_without_binary() {
  if (inspect_binary() != nullptr) return false;
  BOOST_TEST_MESSAGE("VPCI_INSPECT is not set (examples not built): vpci-inspect tests skipped");
  return true;
}

// An SR-IOV PF at 03:00.0 whose 4 VFs cross onto bus 4 (First VF Offset 384, stride 2), with a VSEC.
config_image sriov_pf() {
  config_image image{0x8086, 0x1572};
  image.put8(0x0B, 0x02);
  image.capability_pointer(0x40);
  image.standard_capability(0x40, 0x01, 0x70);
  image.standard_capability(0x70, 0x10, 0x00);
  image.extended_capability(0x100, cid::alternative_routing_id, 1, 0x150);
  image.extended_capability(0x150, cid::sriov, 1, 0x200);
  image.put16(0x150 + 0x0C, 64);
  image.put16(0x150 + 0x0E, 64);
  image.put16(0x150 + 0x10, 4);
  image.put16(0x150 + 0x14, 384);
  image.put16(0x150 + 0x16, 2);
  image.put16(0x150 + 0x1A, 0x154C);
  image.extended_capability(0x200, cid::vendor_specific, 1, 0);
  image.put32(0x204, config::encode_vsec_word(0x00A5, 1, 0x20));
  return image;
}

config_image looping_device() {
  config_image image{0x1AF4, 0x1041};
  image.capability_pointer(0x40);
  image.standard_capability(0x40, 0x09, 0x50);
  image.standard_capability(0x50, 0x11, 0x40);
  return image;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(inspect_tool)

BOOST_AUTO_TEST_CASE(json_for_a_synthesized_dump) {
  if (skip_without_binary()) return;
  const auto pf = sriov_pf();
  const auto loop = looping_device();
  temp_file dump(dump_text("03:00.0 Ethernet controller: synthesized SR-IOV PF", pf.view()) +
                 dump_text("0001:00:02.0 Ethernet controller: looping", loop.view(256)));
  const auto r = run_inspect("--json --dump '" + dump.path() + "'");
  BOOST_TEST(r.exit_status == 0);
  BOOST_TEST(r.err.empty());
  const json::value doc = json::parse(r.out);
  BOOST_TEST_REQUIRE(doc.as_array().size() == 2u);

  const auto& d = doc.as_array()[0];
  BOOST_TEST(d.at("address").as_string() == "0000:03:00.0");
  BOOST_TEST(d.at("vendor").as_int64() == 0x8086);
  BOOST_TEST(d.at("device").as_int64() == 0x1572);
  BOOST_TEST(ints(d.at("capabilities"), "offset") == std::vector<std::int64_t>({0x40, 0x70}), boost::test_tools::per_element());
  BOOST_TEST(ints(d.at("capabilities"), "id") == std::vector<std::int64_t>({0x01, 0x10}), boost::test_tools::per_element());
  BOOST_TEST(ints(d.at("extended_capabilities"), "offset") == std::vector<std::int64_t>({0x100, 0x150, 0x200}),
             boost::test_tools::per_element());
  BOOST_TEST(ints(d.at("extended_capabilities"), "id") == std::vector<std::int64_t>({0x0E, 0x10, 0x0B}),
             boost::test_tools::per_element());
  BOOST_TEST(ints(d.at("extended_capabilities"), "version") == std::vector<std::int64_t>({1, 1, 1}),
             boost::test_tools::per_element());
  const auto& s = d.at("sriov");
  BOOST_TEST(s.at("initial_vfs").as_int64() == 64);
  BOOST_TEST(s.at("total_vfs").as_int64() == 64);
  BOOST_TEST(s.at("num_vfs").as_int64() == 4);
  BOOST_TEST(s.at("first_vf_offset").as_int64() == 384);
  BOOST_TEST(s.at("vf_stride").as_int64() == 2);
  BOOST_TEST(s.at("vf_device_id").as_int64() == 0x154C);
  BOOST_TEST(json::serialize(s.at("vf_routing_ids")) ==
             R"(["0000:04:10.0","0000:04:10.2","0000:04:10.4","0000:04:10.6"])");
  BOOST_TEST(json::serialize(d.at("vsecs")) == R"([{"offset":512,"vsec_id":165,"revision":1,"length":32}])");
  // ARI 0x100..0x108, SR-IOV 0x150..0x190, VSEC 0x200..0x220.
  BOOST_TEST(json::serialize(d.at("free")) == "[[264,336],[400,512],[544,4096]]");
  BOOST_TEST(d.at("errors").as_array().empty());

  const auto& l = doc.as_array()[1];
  BOOST_TEST(l.at("address").as_string() == "0001:00:02.0");
  BOOST_TEST(ints(l.at("capabilities"), "offset") == std::vector<std::int64_t>({0x40, 0x50}), boost::test_tools::per_element());
  BOOST_TEST(l.at("extended_capabilities").as_array().empty());
  BOOST_TEST(l.at("sriov").is_null());
  BOOST_TEST(l.at("free").as_array().empty());
  BOOST_TEST(json::serialize(l.at("errors")) == R"(["capabilities: after [50]: capability list loops"])");
}

BOOST_AUTO_TEST_CASE(human_output_for_a_synthesized_dump) {
  if (skip_without_binary()) return;
  temp_file dump(dump_text("03:00.0 PF", sriov_pf().view()));
  const auto r = run_inspect("--dump '" + dump.path() + "'");
  BOOST_TEST(r.exit_status == 0);
  BOOST_TEST(r.out ==
             "0000:03:00.0  vendor 8086 device 1572 class 020000 rev 00 header type 00  (4096 bytes)\n"
             "  capabilities:\n"
             "    [40] id 01\n"
             "    [70] id 10\n"
             "  extended capabilities:\n"
             "    [100] id 000e v1\n"
             "    [150] id 0010 v1\n"
             "    [200] id 000b v1\n"
             "  sr-iov [150]: InitialVFs 64 TotalVFs 64 NumVFs 4 First VF Offset 384 VF Stride 2 VF Device ID 154c\n"
             "    VF 0000:04:10.0\n"
             "    VF 0000:04:10.2\n"
             "    VF 0000:04:10.4\n"
             "    VF 0000:04:10.6\n"
             "  vsec [200]: id 00a5 rev 1 length 32\n"
             "  free: [108, 150) [190, 200) [220, 1000)\n");
}

BOOST_AUTO_TEST_CASE(malformed_sriov_and_truncated_spaces_are_listed_as_errors) {
  if (skip_without_binary()) return;
  auto pf = sriov_pf();
  pf.put16(0x150 + 0x10, 65);  // NumVFs > TotalVFs
  const auto plain = looping_device();
  temp_file dump(dump_text("03:00.0 PF", pf.view()) + dump_text("00:04.0 truncated", plain.view(64)));
  const auto r = run_inspect("--json --dump '" + dump.path() + "'");
  BOOST_TEST(r.exit_status == 0);
  const json::value doc = json::parse(r.out);
  BOOST_TEST(json::serialize(doc.as_array()[0].at("errors")) == R"(["sriov: NumVFs 65 exceeds TotalVFs 64"])");
  BOOST_TEST(doc.as_array()[0].at("sriov").at("vf_routing_ids").as_array().size() == 65u);
  BOOST_TEST(json::serialize(doc.as_array()[1].at("errors")) ==
             R"(["capabilities: at the capability pointer: offset or length outside the configuration space"])");
}

BOOST_AUTO_TEST_CASE(reference_dumps_agree_with_lspci) {
  if (skip_without_binary()) return;
  const char* env = std::getenv("VPCI_PCI_DUMPS");
  const fs::path dir = env ? fs::path(env) : fs::path(__FILE__).parent_path() / ".." / ".." / "shared" / "reference" / "pci-dumps";
  if (!fs::is_directory(dir) || !test::lspci_available()) {
    BOOST_TEST_MESSAGE("no reference dumps or no lspci: skipped");
    return;
  }
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().filename() == "README.md") continue;
    const auto r = run_inspect("--json --dump '" + entry.path().string() + "'");
    BOOST_TEST_REQUIRE(r.exit_status == 0, entry.path().string() << ": " << r.err);
    const json::value doc = json::parse(r.out);
    const auto reference = test::parse_lspci_verbose(test::run_command("lspci -D -vvv -F '" + entry.path().string() + "' 2>/dev/null").out);
    BOOST_TEST(doc.as_array().size() == reference.size());
    for (const auto& device : doc.as_array()) {
      const std::string address(device.at("address").as_string());
      BOOST_TEST_CONTEXT(entry.path().filename().string() << " " << address) {
        auto it = std::find_if(reference.begin(), reference.end(), [&](const auto& d) { return d.address == address; });
        BOOST_TEST_REQUIRE((it != reference.end()));
        std::vector<std::int64_t> lspci_offsets;
        for (const auto& c : it->capabilities) lspci_offsets.push_back(c.offset);
        BOOST_TEST(ints(device.at("capabilities"), "offset") == lspci_offsets, boost::test_tools::per_element());
        if (!it->extended_capabilities.empty()) {
          std::vector<std::int64_t> lspci_ext;
          for (const auto& c : it->extended_capabilities) lspci_ext.push_back(c.offset);
          BOOST_TEST(ints(device.at("extended_capabilities"), "offset") == lspci_ext, boost::test_tools::per_element());
        }
        if (entry.path().filename() == "broken-ecaps")
          BOOST_TEST(json::serialize(device.at("errors")) ==
                     R"(["extended capabilities: after [100]: capability pointer invalid"])");
        else
          BOOST_TEST(device.at("errors").as_array().empty());
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(real_devices_agree_with_lspci) {
  if (skip_without_binary()) return;
  const auto r = run_inspect("--json");
  const json::value doc = json::parse(r.out);
  if (doc.as_array().empty()) {
    BOOST_TEST_MESSAGE("no PCI devices here: skipped");
    return;
  }
  BOOST_TEST(r.exit_status == 0, r.err);
  if (!test::lspci_available()) {
    BOOST_TEST_MESSAGE("lspci not installed: comparison skipped");
    return;
  }
  const auto reference = test::parse_lspci_verbose(test::run_command("lspci -D -vvv 2>/dev/null").out);
  std::size_t compared = 0;
  for (const auto& device : doc.as_array()) {
    const std::string address(device.at("address").as_string());
    if (device.at("size").as_int64() < 256) continue;  // unprivileged: lspci sees no capabilities either
    auto it = std::find_if(reference.begin(), reference.end(), [&](const auto& d) { return d.address == address; });
    BOOST_TEST_REQUIRE((it != reference.end()), address);
    std::vector<std::int64_t> lspci_offsets;
    for (const auto& c : it->capabilities) lspci_offsets.push_back(c.offset);
    BOOST_TEST(ints(device.at("capabilities"), "offset") == lspci_offsets, boost::test_tools::per_element());
    std::vector<std::int64_t> lspci_ext;
    for (const auto& c : it->extended_capabilities) lspci_ext.push_back(c.offset);
    if (!lspci_ext.empty())
      BOOST_TEST(ints(device.at("extended_capabilities"), "offset") == lspci_ext, boost::test_tools::per_element());
    ++compared;
  }
  BOOST_TEST_MESSAGE("vpci-inspect --json agrees with lspci on " << compared << " devices");
}

BOOST_AUTO_TEST_CASE(bad_input_fails_with_a_message) {
  if (skip_without_binary()) return;
  auto r = run_inspect("00:00");
  BOOST_TEST(r.exit_status == 1);
  BOOST_TEST(r.out.empty());
  BOOST_TEST(r.err == "vpci-inspect: '00:00' is not a PCI address (DDDD:BB:DD.F)\n");
  r = run_inspect("ffff:ff:1f.7");
  BOOST_TEST(r.exit_status == 1);
  BOOST_TEST(r.err == "vpci-inspect: cannot read /sys/bus/pci/devices/ffff:ff:1f.7/config: No such file or directory\n");
  r = run_inspect("--dump /nonexistent/vpci/dump");
  BOOST_TEST(r.exit_status == 1);
  BOOST_TEST(r.err == "vpci-inspect: cannot open /nonexistent/vpci/dump\n");
  temp_file garbage("not a dump\n");
  r = run_inspect("--json --dump '" + garbage.path() + "'");
  BOOST_TEST(r.exit_status == 1);
  BOOST_TEST(r.out.empty());
  BOOST_TEST(r.err == "vpci-inspect: " + garbage.path() + ": line 1: neither a device line nor a data line: 'not a dump'\n");
  r = run_inspect("--frobnicate");
  BOOST_TEST(r.exit_status == 2);
  BOOST_TEST(r.err.find("usage: vpci-inspect") == 0u);
}

BOOST_AUTO_TEST_SUITE_END()
