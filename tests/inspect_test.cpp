#include <boost/test/unit_test.hpp>

#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include <vpci/config/capabilities.hpp>
#include <vpci/config/placement.hpp>
#include <vpci/config/sriov.hpp>
#include <vpci/config/vsec.hpp>
#include <vpci/engine/pf_mailbox.hpp>
#include <vpci/wire/mailbox.hpp>

#include "config_fixtures.hpp"
#include "lspci_reference.hpp"

BOOST_AUTO_TEST_SUITE(inspect_test)

using namespace vpci;
namespace fs = std::filesystem;
namespace json = boost::json;
using vpci::test::config_image;
namespace cid = config::extended_capability_id;

namespace {

// The binary under test; tests/CMakeLists.txt passes its path.
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

// A directory of its own, removed with what it holds.
class temp_directory {
 public:
  temp_directory() {
    std::string pattern = (fs::temp_directory_path() / "vpci-inspect-XXXXXX").string();
    BOOST_TEST_REQUIRE(::mkdtemp(pattern.data()) != nullptr);
    path_ = pattern;
  }
  ~temp_directory() { fs::remove_all(path_); }
  temp_directory(const temp_directory&) = delete;
  temp_directory& operator=(const temp_directory&) = delete;
  [[nodiscard]] const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// `environment`: variable assignments for the tool's command line ("NAME='value' ").
run_result run_inspect(const std::string& arguments, const std::string& environment = "") {
  temp_file err("");
  const auto r =
      test::run_command(environment + "'" + inspect_binary() + "' " + arguments + " 2>'" + err.path() + "'");
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

// A JSON value vpci-inspect prints in hexadecimal ("0x..." string) or as a number.
std::int64_t number(const json::value& v) {
  if (v.is_string()) {
    const std::string text(v.as_string());
    BOOST_TEST_REQUIRE(text.rfind("0x", 0) == 0u, text);
    return std::stoll(text, nullptr, 16);
  }
  return v.as_int64();
}

std::vector<std::int64_t> ints(const json::value& array, const char* key) {
  std::vector<std::int64_t> out;
  for (const auto& item : array.as_array()) out.push_back(number(item.at(key)));
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

// A VF (8086:154c, a PCIe function) whose mailbox window a PF placed at 0x100 and serves: the live registers
// after the session initialised it (epoch 1, 100 ms heartbeat, the signal announced), answered a read of
// block 5 (sequence 1), failed a write to a read-only block (sequence 2), latched invalidations of blocks 1
// and 40, beat twice, and after the VF set SIGNAL and acknowledged block 1 without the PF servicing it yet.
// With `last_request`, the VF then sends that request word and the PF answers it: sequence 7 (after 2) is a
// violation, and the PF quarantines the VF.
config_image vf_with_mailbox(std::optional<std::uint32_t> last_request = std::nullopt) {
  config_image image{0x8086, 0x154C};
  image.capability_pointer(0x40);
  image.standard_capability(0x40, 0x10, 0x00);
  image.put16(0x42, 0x0002);  // PCIe capability version 2, endpoint
  const auto window = config::place_dvsec(image.span(), {0x8086, mailbox::default_dvsec_id, mailbox::dvsec_revision,
                                                         static_cast<std::uint16_t>(mailbox::window_size)});
  BOOST_TEST_REQUIRE(window.has_value());
  engine::pf_blocks<1> store;
  BOOST_TEST_REQUIRE((store.register_vf(0, 1) == no_error));
  BOOST_TEST_REQUIRE((store.define_block(0, block_id{5}, std::vector<std::byte>(16, std::byte{0x55})) == no_error));
  BOOST_TEST_REQUIRE((store.define_block(0, block_id{6}, std::vector<std::byte>(8), engine::block_access::read_only) == no_error));
  engine::pf_mailbox_session<1> session(store, 0, {100, true});
  auto apply = [&](const auto& writes) {
    for (const engine::register_write& w : writes)
      for (std::size_t i = 0; i < w.bytes.size(); ++i) image.span()[*window + w.offset + i] = w.bytes[i];
  };
  auto view = [&] { return image.view().subspan(*window, mailbox::window_size); };
  apply(session.initialize(view(), 0));
  image.put32(*window + 0x18u, 5);
  image.put32(*window + 0x1Cu, mailbox::encode_request(1, 16, mailbox::operation::read));
  apply(session.service(view()));
  image.put32(*window + 0x18u, 6);
  image.put32(*window + 0x1Cu, mailbox::encode_request(2, 8, mailbox::operation::write));
  apply(session.service(view()));
  BOOST_TEST_REQUIRE((store.invalidate(0, block_mask{(std::uint64_t{1} << 40) | 0b10}) == no_error));
  apply(session.service(view(), 100'000'000));
  apply(session.tick(200'000'000));
  image.put32(*window + 0x14u, mailbox::control_signal);
  image.put32(*window + 0x30u, 0b10);
  if (last_request) {
    image.put32(*window + mailbox::reg::request, *last_request);
    apply(session.service(view()));
    const bool violation = mailbox::decode_request(*last_request).sequence != 3;
    BOOST_TEST_REQUIRE(((store.quarantined(0) != engine::quarantine_reason::none) == violation));
  }
  return image;
}

// vf_with_mailbox() as a VF's config space reads on a real host: Vendor and Device ID 0xFFFF (PCIe SR-IOV:
// its IDs are its PF's, named by the OS only), the rest of its header real (an Ethernet controller,
// revision 1, header type 0), and its window's DVSEC naming the PF's vendor, 8086.
config_image vf_as_it_reads() {
  auto image = vf_with_mailbox();
  image.put16(0x00, 0xFFFF);
  image.put16(0x02, 0xFFFF);
  image.put8(0x08, 0x01);
  image.put8(0x0B, 0x02);
  return image;
}

// What the tool says of a VF after its header line, with the IDs and PF it knows ("unknown" otherwise).
std::string vf_line(const std::string& pf, const std::string& vendor, const std::string& device) {
  return "  virtual function: PF " + pf + ", vendor " + vendor + " device " + device +
         " (a VF's vendor and device ID registers read ffff: its IDs are its PF's vendor and VF Device ID, which "
         "sysfs names)\n";
}

// A function's directory in a copy of /sys/bus/pci/devices, holding a config file of `bytes`.
fs::path sysfs_function(const fs::path& root, const std::string& address, std::span<const std::byte> bytes) {
  const fs::path directory = root / address;
  fs::create_directory(directory);
  std::ofstream(directory / "config", std::ios::binary)
      .write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  return directory;
}

// The addresses vpci-inspect --json lists, in order.
std::vector<std::string> listed(const run_result& r) {
  const json::value doc = json::parse(r.out);
  std::vector<std::string> out;
  for (const auto& d : doc.as_array()) out.emplace_back(d.at("address").as_string());
  return out;
}

// The same PF with its VFs enabled (IOVCtl VF Enable, VF MSE), page sizes, and VF BARs: BAR0/1 one
// 64-bit prefetchable BAR at 0x2000000000, BAR2 a 32-bit one at 0xfe000000, BAR3..5 not implemented.
config_image sriov_pf_enabled() {
  auto image = sriov_pf();
  image.put16(0x150 + 0x08, 0x0009);
  image.put32(0x150 + 0x1C, 0x00000553);
  image.put32(0x150 + 0x20, 0x00000001);
  image.put32(0x150 + 0x24, 0x0000000C);
  image.put32(0x150 + 0x28, 0x00000020);
  image.put32(0x150 + 0x2C, 0xFE000000);
  return image;
}

config_image looping_device() {
  config_image image{0x1AF4, 0x1041};
  image.capability_pointer(0x40);
  image.standard_capability(0x40, 0x09, 0x50);
  image.standard_capability(0x50, 0x11, 0x40);
  return image;
}

// What the tool prints of the window vf_with_mailbox() and vf_as_it_reads() carry, after the header line
// (and a VF's line), and its JSON.
const std::string window_lines =
    "  capabilities:\n"
    "    [40] Express (id 10)\n"
    "  extended capabilities:\n"
    "    [100 v1] Designated Vendor-Specific (id 0023)\n"
    "  dvsec [100]: vendor 8086 id 5650 rev 2 length 184\n"
    "  mailbox [100]: layout 2, capabilities invalidation signal heartbeat, max block 128, data 32 dwords, heartbeat 100 ms\n"
    "    control 00000002 SIGNAL\n"
    "    request: sequence 2, block 00000006, length 8, write\n"
    "    status: epoch 1, acknowledged 2, count 0, heartbeat 2, FAILED, INVALIDATED; result c0000022\n"
    "    invalidations: latched 0000010000000002, acknowledged 0000000000000002\n"
    "    state: request 2 answered; quarantine: possible (STATUS_ACCESS_DENIED: a read-only or another VF's "
    "block, or a quarantined VF)\n"
    "  free: [1b8, 1000)\n";
const std::string window_json =
    R"({"offset":"0x100","layout":2,"capabilities":"0x0007","capability_names":["invalidation","signal","heartbeat"],)"
    R"("max_block":128,"data_dwords":32,"heartbeat_ms":100,"control":"0x00000002","reset":false,"signal":true,"control_reserved_bits":false,"request":{"sequence":2,"block":"0x00000006","length":8,"operation":"write","reserved_bits":false},)"
    R"("status":{"epoch":1,"acknowledged":2,"count":0,"heartbeat":2,"failed":true,"invalidated":true},)"
    R"("result":"0xc0000022","invalidations":{"latched":"0x0000010000000002","acknowledged":"0x0000000000000002"},)"
    R"("state":"answered","quarantine":"possible"})";

}  // namespace

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
  BOOST_TEST(d.at("vendor").as_string() == "0x8086");
  BOOST_TEST(d.at("device").as_string() == "0x1572");
  BOOST_TEST(d.at("class").as_string() == "0x020000");
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
  BOOST_TEST(s.at("vf_device_id").as_string() == "0x154c");
  BOOST_TEST(s.at("control").as_string() == "0x0000");
  BOOST_TEST(!s.at("vf_enable").as_bool());
  BOOST_TEST(json::serialize(s.at("vfs")) ==
             R"([{"vf":0,"routing_id":"0000:04:10.0","enabled":false},{"vf":1,"routing_id":"0000:04:10.2","enabled":false},)"
             R"({"vf":2,"routing_id":"0000:04:10.4","enabled":false},{"vf":3,"routing_id":"0000:04:10.6","enabled":false}])");
  BOOST_TEST(json::serialize(d.at("vsecs")) == R"([{"offset":"0x200","vsec_id":"0x00a5","revision":1,"length":32}])");
  BOOST_TEST(json::serialize(d.at("extended_capabilities")) ==
             R"x([{"offset":"0x100","id":"0x000e","version":1,"name":"Alternative Routing-ID Interpretation (ARI)"},)x"
             R"x({"offset":"0x150","id":"0x0010","version":1,"name":"Single Root I/O Virtualization (SR-IOV)"},)x"
             R"x({"offset":"0x200","id":"0x000b","version":1,"name":"Vendor Specific Information"}])x");
  // ARI 0x100..0x108, SR-IOV 0x150..0x190, VSEC 0x200..0x220.
  BOOST_TEST(json::serialize(d.at("free")) == R"([["0x108","0x150"],["0x190","0x200"],["0x220","0x1000"]])");
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
             "    [40] Power Management (id 01)\n"
             "    [70] Express (id 10)\n"
             "  extended capabilities:\n"
             "    [100 v1] Alternative Routing-ID Interpretation (ARI) (id 000e)\n"
             "    [150 v1] Single Root I/O Virtualization (SR-IOV) (id 0010)\n"
             "    [200 v1] Vendor Specific Information (id 000b)\n"
             "  sr-iov [150]: InitialVFs 64 TotalVFs 64 NumVFs 4 First VF Offset 384 VF Stride 2 VF Device ID 154c "
             "Function Dependency Link 00\n"
             "    IOVCap 00000000: Migration- 10BitTagReq- Interrupt Message Number 000\n"
             "    IOVCtl 0000: VF Enable- Migration- Interrupt- VF MSE- ARIHierarchy- 10BitTagReq-; IOVSta 0000: Migration-\n"
             "    Supported Page Size 00000000, System Page Size 00000000\n"
             "    VF Migration: offset 00000000, BIR 0\n"
             "    VF 0: 0000:04:10.0 (not enabled)\n"
             "    VF 1: 0000:04:10.2 (not enabled)\n"
             "    VF 2: 0000:04:10.4 (not enabled)\n"
             "    VF 3: 0000:04:10.6 (not enabled)\n"
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
  BOOST_TEST(doc.as_array()[0].at("sriov").at("vfs").as_array().size() == 65u);
  BOOST_TEST(json::serialize(doc.as_array()[1].at("errors")) ==
             R"x(["capabilities: not read: the dump stops at 64 bytes (lspci -xxx dumps the 256 bytes of the standard space, lspci -xxxx all 4096)"])x");
}

// Found by an audit of hostile config spaces: a mailbox DVSEC with an AER header inside its window was shown
// as a mailbox, with no error (config::find_mailbox now refuses it).
BOOST_AUTO_TEST_CASE(a_mailbox_window_another_capability_overlaps_is_an_error_not_a_mailbox) {
  if (skip_without_binary()) return;
  config_image image{0x8086, 0x1572};
  image.capability_pointer(0x40);
  image.standard_capability(0x40, 0x10, 0x00);  // PCI Express: extended space is read
  image.put16(0x42, 0x0002);
  image.extended_capability(0x100, vpci::config::extended_capability_id::designated_vendor_specific, 1, 0x140);
  image.put32(0x104, vpci::config::encode_dvsec_header1(0x8086, 2, 0xB8));
  image.put32(0x108, vpci::config::encode_dvsec_header2(0x5650));
  image.put32(0x10C, 0x00070002);
  image.extended_capability(0x140, vpci::config::extended_capability_id::advanced_error_reporting, 1, 0);
  temp_file dump(dump_text("05:00.0 overlapped", image.view()));
  const auto r = run_inspect("--json --dump '" + dump.path() + "'");
  BOOST_TEST(r.exit_status == 0);
  const json::value doc = json::parse(r.out);
  BOOST_TEST(doc.as_array()[0].at("mailbox").is_null(), r.out);
  BOOST_TEST(json::serialize(doc.as_array()[0].at("errors")) ==
                 R"(["mailbox: a DVSEC with vpci's names that another capability occupies bytes of: no window"])",
             r.out);
}

// lspci -x dumps 64 bytes and lspci -xxx 256: what lies past them is not in the dump, which says nothing
// of the device. The tool says where the dump stops, as it says what sysfs did not show, instead of
// calling a capability list broken (64 bytes) or listing no extended capability and no error (256 bytes of
// a PCI Express function). A conventional function has no extended space to miss. Exit status 0: the
// devices were read.
BOOST_AUTO_TEST_CASE(a_dump_that_stops_before_the_config_space_ends_says_where) {
  if (skip_without_binary()) return;
  config_image conventional{0x8086, 0x0004};
  conventional.capability_pointer(0x40);
  conventional.standard_capability(0x40, 0x01, 0x00);
  temp_file dump(dump_text("03:00.0 PF, lspci -x", sriov_pf().view(64)) +
                 dump_text("04:10.0 VF, lspci -xxx", vf_with_mailbox().view(256)) +
                 dump_text("00:04.0 conventional, lspci -xxx", conventional.view(256)));
  const std::string standard_cut =
      "capabilities: not read: the dump stops at 64 bytes (lspci -xxx dumps the 256 bytes of the standard space, "
      "lspci -xxxx all 4096)";
  const std::string extended_cut = "extended capabilities: not read: the dump stops at 256 bytes (lspci -xxxx dumps the extended space)";

  const auto r = run_inspect("--json --dump '" + dump.path() + "'");
  BOOST_TEST(r.exit_status == 0, r.err);
  const json::value doc = json::parse(r.out);
  BOOST_TEST_REQUIRE(doc.as_array().size() == 3u);
  const auto& pf = doc.as_array()[0];
  BOOST_TEST(pf.at("capabilities").as_array().empty());
  BOOST_TEST(pf.at("free").as_array().empty());
  BOOST_TEST(json::serialize(pf.at("errors")) == json::serialize(json::array{json::string(standard_cut)}));
  const auto& vf = doc.as_array()[1];
  BOOST_TEST(ints(vf.at("capabilities"), "offset") == std::vector<std::int64_t>({0x40}), boost::test_tools::per_element());
  BOOST_TEST(vf.at("extended_capabilities").as_array().empty());
  BOOST_TEST(vf.at("mailbox").is_null());
  BOOST_TEST(json::serialize(vf.at("errors")) == json::serialize(json::array{json::string(extended_cut)}));
  BOOST_TEST(doc.as_array()[2].at("errors").as_array().empty());

  const auto human = run_inspect("--dump '" + dump.path() + "'");
  BOOST_TEST(human.exit_status == 0, human.err);
  BOOST_TEST(human.out ==
             "0000:03:00.0  vendor 8086 device 1572 class 020000 rev 00 header type 00  (64 bytes)\n"
             "  error: " + standard_cut + "\n"
             "0000:04:10.0  vendor 8086 device 154c class 000000 rev 00 header type 00  (256 bytes)\n"
             "  capabilities:\n"
             "    [40] Express (id 10)\n"
             "  error: " + extended_cut + "\n"
             "0000:00:04.0  vendor 8086 device 0004 class 000000 rev 00 header type 00  (256 bytes)\n"
             "  capabilities:\n"
             "    [40] Power Management (id 01)\n");
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
                     R"(["extended capabilities: not read: no PCI Express or PCI-X capability, so no extended space"])");
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
  BOOST_TEST(r.err == "vpci-inspect: cannot read '/sys/bus/pci/devices/ffff:ff:1f.7/config': No such file or directory\n");
  r = run_inspect("--dump /nonexistent/vpci/dump");
  BOOST_TEST(r.exit_status == 1);
  BOOST_TEST(r.err == "vpci-inspect: cannot open '/nonexistent/vpci/dump': No such file or directory\n");
  temp_file garbage("not a dump\n");
  r = run_inspect("--dump '" + garbage.path() + "'");
  BOOST_TEST(r.exit_status == 1);
  BOOST_TEST(r.out.empty());
  BOOST_TEST(r.err == "vpci-inspect: '" + garbage.path() + "': line 1: neither a device line nor a data line: 'not a dump'\n");
  r = run_inspect("--frobnicate");
  BOOST_TEST(r.exit_status == 2);
  BOOST_TEST(r.err.starts_with("vpci-inspect: unknown option '--frobnicate'\nusage: vpci-inspect"), r.err);
}

// --help prints the full help to stdout, exit status 0, as the other tools do: every option, what it does,
// and the exit statuses. A usage error prints what is wrong and only the usage lines to stderr, exit status 2.
BOOST_AUTO_TEST_CASE(help_prints_every_option_and_the_exit_statuses_to_stdout) {
  if (skip_without_binary()) return;
  for (const char* option : {"--help", "-h"}) {
    const auto r = run_inspect(option);
    BOOST_TEST(r.exit_status == 0, option);
    BOOST_TEST(r.err.empty(), r.err);
    BOOST_TEST(r.out.find("usage: vpci-inspect") == 0u, r.out);
    for (const char* named : {"\n  --json ", "\n  -d [VENDOR]:[DEVICE][:CLASS[:PROG-IF]]", "\n  --dump FILE ",
                              "\n  --vfio-user SOCKET ", "\n  -h, --help ", "\n  DDDD:BB:DD.F ", "VPCI_SYSFS_ROOT",
                              "\nExit status:", "\n  0 ", "\n  1 ", "\n  2 "})
      BOOST_TEST(r.out.find(named) != std::string::npos, named << " in:\n" << r.out);
  }
  const auto bad = run_inspect("--dump");
  BOOST_TEST(bad.exit_status == 2);
  BOOST_TEST(bad.out.empty());
  BOOST_TEST(bad.err.starts_with("vpci-inspect: --dump needs a value\nusage: vpci-inspect"), bad.err);
  BOOST_TEST(bad.err.find("Exit status") == std::string::npos, bad.err);
  BOOST_TEST(bad.err.find("vpci-inspect --help") != std::string::npos, bad.err);
}

// A usage error printed only the usage: an unknown option, --dump beside addresses, an option without its
// value or given twice left the user to find what was wrong. Each now names it (the text given quoted, as
// vpci-codec's "unknown option '-v'") on the line before the usage; exit status 2, nothing on stdout.
BOOST_AUTO_TEST_CASE(a_usage_error_names_what_is_wrong_before_the_usage) {
  if (skip_without_binary()) return;
  temp_file dump(dump_text("03:00.0 PF", sriov_pf().view()));
  const std::string file = "'" + dump.path() + "'";
  struct usage_error {
    std::string arguments;
    std::string message;
  };
  for (const usage_error& u : {
           usage_error{"-v", "unknown option '-v'"},
           usage_error{"\"$(printf -- '--frob\\033[2J')\"", "unknown option '--frob\\x1B[2J'"},
           usage_error{"--dump " + file + " 03:00.0", "--dump and the address '03:00.0' are two sources of devices: give one"},
           usage_error{"00:02.0 --dump " + file, "--dump and the address '00:02.0' are two sources of devices: give one"},
           usage_error{"--vfio-user /tmp/x.sock --dump " + file, "--dump and --vfio-user are two sources of devices: give one"},
           usage_error{"--vfio-user /tmp/x.sock 03:00.0", "--vfio-user and the address '03:00.0' are two sources of devices: give one"},
           usage_error{"--dump", "--dump needs a value"},
           usage_error{"--vfio-user", "--vfio-user needs a value"},
           usage_error{"-d", "-d needs a value"},
           usage_error{"--dump a --dump b", "--dump is given twice ('a', then 'b')"},
           usage_error{"--vfio-user a --vfio-user \"$(printf 'b\\nx')\"", "--vfio-user is given twice ('a', then 'b\\x0Ax')"},
           usage_error{"-d 8086: -d 1af4:", "-d is given twice ('8086:', then '1af4:')"},
       }) {
    BOOST_TEST_CONTEXT(u.arguments) {
      const auto r = run_inspect(u.arguments);
      BOOST_TEST(r.exit_status == 2);
      BOOST_TEST(r.out.empty(), r.out);
      BOOST_TEST(r.err.starts_with("vpci-inspect: " + u.message + "\nusage: vpci-inspect"), r.err);
    }
  }
}

// Every option given twice is a usage error, by the one rule vpci-perf and vpci-codec follow too
// (examples/given_options.hpp); --json twice was taken, as the only option the rule left out.
BOOST_AUTO_TEST_CASE(json_given_twice_is_a_usage_error_as_every_option_given_twice_is) {
  if (skip_without_binary()) return;
  const auto r = run_inspect("--json 03:00.0 --json");
  BOOST_TEST(r.exit_status == 2);
  BOOST_TEST(r.out == R"({"error":"--json is given twice"})" "\n", r.out);
  BOOST_TEST(r.err.starts_with("vpci-inspect: --json is given twice\nusage: vpci-inspect"), r.err);
}

// With --json, a usage error and a set-up error (the dump, the sysfs tree or the vfio-user server not
// read) gave no JSON: the message on stderr, nothing or an empty array on stdout, so a reader of the JSON
// could not tell a failure from no devices. As vpci-conformance and vpci-perf do, stdout now has
// {"error": MESSAGE}, wherever --json stands on the line; the exit status and the stderr message are
// unchanged. A function that cannot be read among others is no set-up error: the others are the results.
BOOST_AUTO_TEST_CASE(with_json_a_usage_or_set_up_error_is_an_error_object_on_stdout) {
  if (skip_without_binary()) return;
  temp_directory directory;
  const std::string base = directory.path().string();
  temp_file garbage("not a dump\n");
  struct failure {
    std::string arguments;  // --json is put first and last
    std::string environment;
    int status;
    std::string message;
    bool usage;
  };
  for (const failure& f : {
           failure{"-v", "", 2, "unknown option '-v'", true},
           failure{"--dump a 03:00.0", "", 2, "--dump and the address '03:00.0' are two sources of devices: give one", true},
           failure{"-d 12345:", "", 2,
                   "-d '12345:': expected [VENDOR]:[DEVICE][:CLASS[:PROG-IF]] in hex, at most 4 digits a part and 2 of PROG-IF (x: any digit "
                   "of CLASS)",
                   true},
           failure{"--dump '" + base + "/missing'", "", 1, "cannot open '" + base + "/missing': No such file or directory", false},
           failure{"--dump '" + base + "'", "", 1, "'" + base + "': a directory, not a dump file", false},
           failure{"--dump '" + garbage.path() + "'", "", 1,
                   "'" + garbage.path() + "': line 1: neither a device line nor a data line: 'not a dump'", false},
           failure{"--vfio-user '" + base + "/socket'", "", 1, "cannot read vfio-user '" + base + "/socket': No such file or directory",
                   false},
           failure{"", "VPCI_SYSFS_ROOT='" + base + "/sys' ", 1, "cannot list '" + base + "/sys': No such file or directory", false},
       }) {
    BOOST_TEST_CONTEXT(f.environment << f.arguments) {
      const auto text = run_inspect(f.arguments, f.environment);
      BOOST_TEST(text.exit_status == f.status);
      BOOST_TEST(text.out.empty(), text.out);
      for (const std::string& arguments : {"--json " + f.arguments, f.arguments + " --json"}) {
        const auto r = run_inspect(arguments, f.environment);
        BOOST_TEST(r.exit_status == f.status);
        BOOST_TEST(r.out == json::serialize(json::object{{"error", f.message}}) + "\n");
        BOOST_TEST(r.err.starts_with("vpci-inspect: " + f.message + "\n" + (f.usage ? "usage: vpci-inspect" : "")), r.err);
        if (!f.usage) BOOST_TEST(r.err == "vpci-inspect: " + f.message + "\n");
      }
    }
  }
  // A malformed address among the functions named: the rest are read and printed, the array with them.
  temp_directory root;
  sysfs_function(root.path(), "0000:03:00.0", sriov_pf().view());
  const auto r = run_inspect("--json 00:00 03:00.0", "VPCI_SYSFS_ROOT='" + root.path().string() + "' ");
  BOOST_TEST(r.exit_status == 1);
  BOOST_TEST(listed(r) == std::vector<std::string>({"0000:03:00.0"}), boost::test_tools::per_element());
  BOOST_TEST(r.err == "vpci-inspect: '00:00' is not a PCI address (DDDD:BB:DD.F)\n");
}

// Linux's PCI domains are 32-bit: an Intel VMD controller's devices sit in domains 10000 and up, which
// sysfs and lspci name with 5 digits (10000:e1:00.0). Such a device is read like any other, from a dump and
// through sysfs, and printed under the name Linux gives it.
BOOST_AUTO_TEST_CASE(a_domain_of_more_than_4_hex_digits_is_a_pci_address) {
  if (skip_without_binary()) return;
  const auto pf = sriov_pf();
  temp_file dump(dump_text("10000:e1:00.0 Non-Volatile memory controller: behind VMD", looping_device().view(256)) +
                 dump_text("0000:03:00.0 PF", pf.view()));
  auto r = run_inspect("--json --dump '" + dump.path() + "'");
  BOOST_TEST(r.exit_status == 0, r.err);
  BOOST_TEST(listed(r) == std::vector<std::string>({"10000:e1:00.0", "0000:03:00.0"}), boost::test_tools::per_element());

  temp_directory root;
  sysfs_function(root.path(), "0000:03:00.0", pf.view());
  sysfs_function(root.path(), "10000:e1:00.0", looping_device().view(256));
  const std::string environment = "VPCI_SYSFS_ROOT='" + root.path().string() + "' ";
  r = run_inspect("--json", environment);
  BOOST_TEST(r.exit_status == 0, r.err);
  BOOST_TEST(listed(r) == std::vector<std::string>({"0000:03:00.0", "10000:e1:00.0"}), boost::test_tools::per_element());
  r = run_inspect("10000:E1:00.0", environment);
  BOOST_TEST(r.exit_status == 0, r.err);
  BOOST_TEST(r.out.find("10000:e1:00.0  vendor 1af4 device 1041") == 0u, r.out);
  // The SR-IOV VFs of a PF in such a domain are in that domain too.
  temp_file vmd_pf(dump_text("10000:03:00.0 PF", pf.view()));
  r = run_inspect("--dump '" + vmd_pf.path() + "'");
  BOOST_TEST(r.out.find("    VF 0: 10000:04:10.0 (not enabled)\n") != std::string::npos, r.out);
}

// A message quotes the user's text with its non-printable bytes as \xHH: a NUL in a dump line cut the
// message short where printf stopped, and a control character in an argument went to the terminal raw.
BOOST_AUTO_TEST_CASE(messages_show_the_users_text_with_non_printable_bytes_escaped) {
  if (skip_without_binary()) return;
  temp_file dump(std::string("00:00.0 Host bridge\n00: 86 80\0d7 0d 00 00 00 00 00 00 00 06 00 00 00 00\n", 72));
  auto r = run_inspect("--dump '" + dump.path() + "'");
  BOOST_TEST(r.exit_status == 1);
  BOOST_TEST(r.err == "vpci-inspect: '" + dump.path() +
                          "': line 2: bad byte in '00: 86 80\\x00d7 0d 00 00 00 00 00 00 00 06 00 00 00 00'\n");
  r = run_inspect("\"$(printf '00:00.0\\033[2J')\"");
  BOOST_TEST(r.exit_status == 1);
  BOOST_TEST(r.err == "vpci-inspect: '00:00.0\\x1B[2J' is not a PCI address (DDDD:BB:DD.F)\n");
  r = run_inspect("-d \"$(printf '80\\t86:')\"");
  BOOST_TEST(r.exit_status == 2);
  BOOST_TEST(r.err.find("vpci-inspect: -d '80\\x0986:': expected") == 0u, r.err);
}

// The paths a message names (a dump file, the sysfs tree of VPCI_SYSFS_ROOT, a function's config file in
// it, a vfio-user socket) went to stderr raw: a newline split the message, an escape sequence drove the
// terminal. Each is quoted as the rest of the user's text is, its control bytes as \xHH.
BOOST_AUTO_TEST_CASE(a_path_with_a_control_character_is_quoted_in_every_message) {
  if (skip_without_binary()) return;
  temp_directory directory;
  const std::string base = directory.path().string();
  temp_file garbage("not a dump\n");
  const std::string dump = base + "/dump\x1b[2J\nfile";
  fs::copy_file(garbage.path(), dump);
  auto r = run_inspect("--dump '" + dump + "'");
  BOOST_TEST(r.exit_status == 1);
  BOOST_TEST(r.err == "vpci-inspect: '" + base + "/dump\\x1B[2J\\x0Afile': line 1: neither a device line nor a data line: 'not a dump'\n");
  r = run_inspect("--dump '" + base + "/missing\x07'");
  BOOST_TEST(r.exit_status == 1);
  BOOST_TEST(r.err == "vpci-inspect: cannot open '" + base + "/missing\\x07': No such file or directory\n");
  fs::create_directory(base + "/sub\tdirectory");
  r = run_inspect("--dump '" + base + "/sub\tdirectory'");
  BOOST_TEST(r.exit_status == 1);
  BOOST_TEST(r.err == "vpci-inspect: '" + base + "/sub\\x09directory': a directory, not a dump file\n");

  const std::string root = base + "/sys\x1b";
  r = run_inspect("", "VPCI_SYSFS_ROOT='" + root + "' ");
  BOOST_TEST(r.exit_status == 1);
  BOOST_TEST(r.err == "vpci-inspect: cannot list '" + base + "/sys\\x1B': No such file or directory\n");
  fs::create_directory(root);
  r = run_inspect("0000:00:01.0", "VPCI_SYSFS_ROOT='" + root + "' ");
  BOOST_TEST(r.exit_status == 1);
  BOOST_TEST(r.err == "vpci-inspect: cannot read '" + base + "/sys\\x1B/0000:00:01.0/config': No such file or directory\n");

  r = run_inspect("--vfio-user '" + base + "/socket\n'");
  BOOST_TEST(r.exit_status == 1);
  BOOST_TEST(r.err.starts_with("vpci-inspect: cannot read vfio-user '" + base + "/socket\\x0A': "), r.err);
  BOOST_TEST(std::count(r.err.begin(), r.err.end(), '\n') == 1, r.err);
}

// A dump saved by a Windows editor opens with a UTF-8 byte order mark, which is not the dump's text.
BOOST_AUTO_TEST_CASE(a_dump_opening_with_a_utf8_byte_order_mark_is_read) {
  if (skip_without_binary()) return;
  temp_file dump("\xEF\xBB\xBF" + dump_text("03:00.0 PF", sriov_pf().view()));
  const auto r = run_inspect("--json --dump '" + dump.path() + "'");
  BOOST_TEST(r.exit_status == 0, r.err);
  BOOST_TEST(listed(r) == std::vector<std::string>({"0000:03:00.0"}), boost::test_tools::per_element());
}

// A dump naming one address twice is one dump pasted twice or two machines' dumps in one: which device the
// address is cannot be told, so the dump is refused with the address and both lines.
BOOST_AUTO_TEST_CASE(a_dump_listing_an_address_twice_is_refused_naming_both_lines) {
  if (skip_without_binary()) return;
  const auto once = dump_text("03:00.0 PF", sriov_pf().view()) + dump_text("00:02.0 virtio", looping_device().view(256));
  temp_file dump(once + once);
  const auto r = run_inspect("--dump '" + dump.path() + "'");
  BOOST_TEST(r.exit_status == 1);
  BOOST_TEST(r.out.empty());
  BOOST_TEST(r.err == "vpci-inspect: '" + dump.path() +
                          "': line 277: device 0000:03:00.0 was listed at line 1 already (a dump pasted twice, or two "
                          "machines' dumps in one)\n");
}

// A sysfs address named twice on the command line was read and printed twice. As a dump listing a device
// twice is refused, so is a command line naming one twice, however each is written (03:00.0 is
// 0000:03:00.0): a usage error naming the function and both texts, nothing printed.
BOOST_AUTO_TEST_CASE(a_sysfs_address_named_twice_is_a_usage_error_naming_it) {
  if (skip_without_binary()) return;
  temp_directory root;
  sysfs_function(root.path(), "0000:03:00.0", sriov_pf().view());
  sysfs_function(root.path(), "0000:00:02.0", looping_device().view(256));
  const std::string environment = "VPCI_SYSFS_ROOT='" + root.path().string() + "' ";
  struct twice {
    std::string arguments;
    std::string message;
  };
  for (const twice& t : {twice{"0000:03:00.0 0000:03:00.0", "0000:03:00.0 is named twice ('0000:03:00.0', then '0000:03:00.0')"},
                         twice{"--json 03:00.0 00:02.0 0000:03:00.0", "0000:03:00.0 is named twice ('03:00.0', then '0000:03:00.0')"},
                         twice{"00:02.0 -d 1af4: 0000:00:02.0", "0000:00:02.0 is named twice ('00:02.0', then '0000:00:02.0')"}}) {
    BOOST_TEST_CONTEXT(t.arguments) {
      const auto r = run_inspect(t.arguments, environment);
      BOOST_TEST(r.exit_status == 2);
      // No device printed; with --json, the error object.
      BOOST_TEST(r.out == (t.arguments.starts_with("--json") ? "{\"error\":\"" + t.message + "\"}\n" : ""), r.out);
      BOOST_TEST(r.err.starts_with("vpci-inspect: " + t.message + "\nusage: vpci-inspect"), r.err);
    }
  }
  // Named once each, both are printed once.
  const auto r = run_inspect("--json 03:00.0 00:02.0", environment);
  BOOST_TEST(r.exit_status == 0, r.err);
  BOOST_TEST(listed(r) == std::vector<std::string>({"0000:03:00.0", "0000:00:02.0"}), boost::test_tools::per_element());
}

// A dump is at most 4096 bytes a device, a config space's size: lspci -F refuses more ("At most 4096 bytes of
// config space are supported"). The tool took 8192 bytes, said "(8192 bytes)" and read none past 4096. It
// refuses the dump, naming the line, exit status 1.
BOOST_AUTO_TEST_CASE(a_dump_with_data_past_4096_bytes_is_refused_as_lspci_refuses_it) {
  if (skip_without_binary()) return;
  std::string text = dump_text("04:10.0 VF", vf_with_mailbox().view());
  text.pop_back();  // the blank line after the device
  text += "1000: 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00\n";
  temp_file dump(text);
  const auto r = run_inspect("--dump '" + dump.path() + "'");
  BOOST_TEST(r.exit_status == 1);
  BOOST_TEST(r.out.empty(), r.out);
  BOOST_TEST(r.err == "vpci-inspect: '" + dump.path() +
                          "': line 258: offset 1000: is past the config space: at most 4096 bytes of config space are "
                          "supported\n",
             r.err);
  if (!test::lspci_available()) return;
  const auto lspci = test::run_command("lspci -xxxx -F '" + dump.path() + "' 2>&1");
  BOOST_TEST(lspci.exit_status != 0, lspci.out);
  BOOST_TEST(lspci.out.find("At most 4096 bytes of config space are supported") != std::string::npos, lspci.out);
}

// A dump that opens but cannot be read (here /proc/self/mem, whose offset 0 is never mapped: EIO) was read
// as the end of the file ("the dump is empty"), and one that does not open said only "cannot open": each
// names the reason, exit status 1.
BOOST_AUTO_TEST_CASE(a_dump_that_cannot_be_opened_or_read_names_the_reason) {
  if (skip_without_binary()) return;
  auto r = run_inspect("--dump /proc/self/mem");
  BOOST_TEST(r.exit_status == 1);
  BOOST_TEST(r.err == "vpci-inspect: reading '/proc/self/mem' failed: Input/output error\n", r.err);
  r = run_inspect("--json --dump /proc/self/mem");
  BOOST_TEST(r.exit_status == 1);
  BOOST_TEST(r.out == R"({"error":"reading '/proc/self/mem' failed: Input/output error"})" "\n", r.out);
  r = run_inspect("--dump /nonexistent/vpci/dump");
  BOOST_TEST(r.exit_status == 1);
  BOOST_TEST(r.err == "vpci-inspect: cannot open '/nonexistent/vpci/dump': No such file or directory\n", r.err);
}

// --dump given a directory or an empty file says so; it said "line 0: no device in the dump".
BOOST_AUTO_TEST_CASE(a_directory_or_an_empty_file_as_a_dump_is_named_as_such) {
  if (skip_without_binary()) return;
  temp_directory directory;
  auto r = run_inspect("--dump '" + directory.path().string() + "'");
  BOOST_TEST(r.exit_status == 1);
  BOOST_TEST(r.err == "vpci-inspect: '" + directory.path().string() + "': a directory, not a dump file\n");
  temp_file empty("");
  r = run_inspect("--dump '" + empty.path() + "'");
  BOOST_TEST(r.exit_status == 1);
  BOOST_TEST(r.err == "vpci-inspect: '" + empty.path() + "': the dump is empty\n");
}

// vpci-inspect shows the window's DVSEC with the fields lspci -vvv shows ("Designated Vendor-Specific:
// Vendor=8086 ID=5650 Rev=2 Len=184") and decodes the window's live state.
BOOST_AUTO_TEST_CASE(a_mailbox_window_as_lspci_shows_it_and_its_live_state) {
  if (skip_without_binary()) return;
  temp_file dump(dump_text("04:10.0 Ethernet controller: synthesized VF", vf_with_mailbox().view()));
  const auto human = run_inspect("--dump '" + dump.path() + "'");
  BOOST_TEST(human.exit_status == 0);
  BOOST_TEST(human.out ==
             "0000:04:10.0  vendor 8086 device 154c class 000000 rev 00 header type 00  (4096 bytes)\n" + window_lines);
  const auto r = run_inspect("--json --dump '" + dump.path() + "'");
  BOOST_TEST(r.exit_status == 0);
  const json::value doc = json::parse(r.out);
  const auto& d = doc.as_array()[0];
  BOOST_TEST(json::serialize(d.at("dvsecs")) ==
             R"([{"offset":"0x100","vendor_id":"0x8086","dvsec_id":"0x5650","revision":2,"length":184}])");
  BOOST_TEST(json::serialize(d.at("mailbox")) == window_json);
  BOOST_TEST(d.at("errors").as_array().empty());
  if (!test::lspci_available()) {
    BOOST_TEST_MESSAGE("lspci not installed: comparison skipped");
    return;
  }
  const auto lspci = test::run_command("lspci -vvv -F '" + dump.path() + "' 2>/dev/null").out;
  BOOST_TEST(lspci.find("Capabilities: [100 v1] Designated Vendor-Specific: Vendor=8086 ID=5650 Rev=2 Len=184") != std::string::npos,
             lspci);
}

// A DVSEC with vpci's names that is no layout-2 window is an error, not a mailbox.
BOOST_AUTO_TEST_CASE(a_dvsec_with_vpcis_names_of_another_layout_is_an_error) {
  if (skip_without_binary()) return;
  auto image = vf_with_mailbox();
  image.put32(0x10C, 0x00070003u);  // identity: layout 3
  temp_file dump(dump_text("04:10.0 VF", image.view()));
  const auto r = run_inspect("--json --dump '" + dump.path() + "'");
  BOOST_TEST(r.exit_status == 0);
  const json::value doc = json::parse(r.out);
  BOOST_TEST(doc.as_array()[0].at("mailbox").is_null());
  BOOST_TEST(json::serialize(doc.as_array()[0].at("errors")) ==
             R"(["mailbox: a DVSEC with vpci's names that is no layout-2 window: protocol or layout revision mismatch"])");
}

// IOVCtl and IOVSta as lspci shows them, the VFs enabled, page sizes and the implemented VF BARs, in both
// outputs.
BOOST_AUTO_TEST_CASE(sriov_control_status_and_vf_bars) {
  if (skip_without_binary()) return;
  temp_file dump(dump_text("03:00.0 PF", sriov_pf_enabled().view()));
  const auto human = run_inspect("--dump '" + dump.path() + "'");
  BOOST_TEST(human.exit_status == 0);
  const std::string expected =
      "  sr-iov [150]: InitialVFs 64 TotalVFs 64 NumVFs 4 First VF Offset 384 VF Stride 2 VF Device ID 154c "
      "Function Dependency Link 00\n"
      "    IOVCap 00000000: Migration- 10BitTagReq- Interrupt Message Number 000\n"
      "    IOVCtl 0009: VF Enable+ Migration- Interrupt- VF MSE+ ARIHierarchy- 10BitTagReq-; IOVSta 0000: Migration-\n"
      "    Supported Page Size 00000553, System Page Size 00000001\n"
      "    VF BAR0: memory at 0000002000000000 (64-bit, prefetchable)\n"
      "    VF BAR2: memory at fe000000 (32-bit, non-prefetchable)\n"
      "    VF Migration: offset 00000000, BIR 0\n"
      "    VF 0: 0000:04:10.0\n"
      "    VF 1: 0000:04:10.2\n"
      "    VF 2: 0000:04:10.4\n"
      "    VF 3: 0000:04:10.6\n";
  BOOST_TEST(human.out.find(expected) != std::string::npos, human.out);
  const auto r = run_inspect("--json --dump '" + dump.path() + "'");
  BOOST_TEST(r.exit_status == 0);
  const json::value doc = json::parse(r.out);
  const auto& s = doc.as_array()[0].at("sriov");
  BOOST_TEST(s.at("control").as_string() == "0x0009");
  BOOST_TEST(s.at("vf_enable").as_bool());
  BOOST_TEST(s.at("vf_memory_space_enable").as_bool());
  BOOST_TEST(!s.at("ari_capable_hierarchy").as_bool());
  BOOST_TEST(s.at("status").as_string() == "0x0000");
  BOOST_TEST(s.at("supported_page_sizes").as_string() == "0x00000553");
  BOOST_TEST(s.at("system_page_size").as_string() == "0x00000001");
  BOOST_TEST(json::serialize(s.at("vf_bars")) ==
             R"([{"bar":0,"address":"0x0000002000000000","64bit":true,"type":"64-bit","prefetchable":true},)"
             R"({"bar":2,"address":"0xfe000000","64bit":false,"type":"32-bit","prefetchable":false}])");
  for (const auto& vf : s.at("vfs").as_array()) BOOST_TEST(vf.at("enabled").as_bool());
}

// The SR-IOV fields lspci -vvv shows besides those above, in both outputs: IOVCap (VF Migration Capable,
// VF 10-Bit Tag Requester Supported, the VF Migration Interrupt Message Number), IOVCtl's VF Migration
// Enable, VF Migration Interrupt Enable and VF 10-Bit Tag Requester Enable, the Function Dependency Link
// and the VF Migration State Array (offset, bits 31:3; BIR, bits 2:0). The tool left them all out.
BOOST_AUTO_TEST_CASE(sriov_migration_10bit_tags_and_function_dependency_link_as_lspci_shows_them) {
  if (skip_without_binary()) return;
  auto image = sriov_pf_enabled();
  image.put32(0x150 + 0x04, 0x00A00005u);  // Migration Capable, 10-Bit Tag Requester Supported, message 005
  image.put16(0x150 + 0x08, 0x003F);       // every IOVCtl bit lspci names
  image.put8(0x150 + 0x12, 0x03);          // Function Dependency Link
  image.put32(0x150 + 0x3C, 0x00012344u);  // VF Migration State: offset 00012340, BIR 4
  temp_file dump(dump_text("03:00.0 PF", image.view()));
  const auto human = run_inspect("--dump '" + dump.path() + "'");
  BOOST_TEST(human.exit_status == 0);
  BOOST_TEST(human.out.find(
                 "  sr-iov [150]: InitialVFs 64 TotalVFs 64 NumVFs 4 First VF Offset 384 VF Stride 2 VF Device ID 154c "
                 "Function Dependency Link 03\n"
                 "    IOVCap 00a00005: Migration+ 10BitTagReq+ Interrupt Message Number 005\n"
                 "    IOVCtl 003f: VF Enable+ Migration+ Interrupt+ VF MSE+ ARIHierarchy+ 10BitTagReq+; IOVSta 0000: Migration-\n"
                 "    Supported Page Size 00000553, System Page Size 00000001\n"
                 "    VF BAR0: memory at 0000002000000000 (64-bit, prefetchable)\n"
                 "    VF BAR2: memory at fe000000 (32-bit, non-prefetchable)\n"
                 "    VF Migration: offset 00012340, BIR 4\n"
                 "    VF 0: 0000:04:10.0\n") != std::string::npos,
             human.out);
  const auto r = run_inspect("--json --dump '" + dump.path() + "'");
  BOOST_TEST(r.exit_status == 0);
  const json::value doc = json::parse(r.out);
  const auto& s = doc.as_array()[0].at("sriov");
  BOOST_TEST(s.at("capabilities").as_string() == "0x00a00005");
  BOOST_TEST(s.at("vf_migration_capable").as_bool());
  BOOST_TEST(s.at("vf_10bit_tag_requester_supported").as_bool());
  BOOST_TEST(s.at("vf_migration_interrupt_message_number").as_string() == "0x005");
  BOOST_TEST(s.at("vf_migration_enable").as_bool());
  BOOST_TEST(s.at("vf_migration_interrupt_enable").as_bool());
  BOOST_TEST(s.at("vf_10bit_tag_requester_enable").as_bool());
  BOOST_TEST(s.at("function_dependency_link").as_string() == "0x03");
  BOOST_TEST(json::serialize(s.at("vf_migration_state")) == R"({"offset":"0x00012340","bir":4})");
  // The same registers cleared: every flag '-', in both outputs.
  auto cleared = sriov_pf_enabled();
  temp_file plain(dump_text("03:00.0 PF", cleared.view()));
  const auto off = run_inspect("--dump '" + plain.path() + "'");
  BOOST_TEST(off.out.find("    IOVCap 00000000: Migration- 10BitTagReq- Interrupt Message Number 000\n"
                          "    IOVCtl 0009: VF Enable+ Migration- Interrupt- VF MSE+ ARIHierarchy- 10BitTagReq-; IOVSta 0000: "
                          "Migration-\n") != std::string::npos,
             off.out);
  BOOST_TEST(off.out.find("    VF Migration: offset 00000000, BIR 0\n") != std::string::npos, off.out);
  const json::value off_doc = json::parse(run_inspect("--json --dump '" + plain.path() + "'").out);
  const auto& o = off_doc.as_array()[0].at("sriov");
  for (const char* key : {"vf_migration_capable", "vf_10bit_tag_requester_supported", "vf_migration_enable",
                          "vf_migration_interrupt_enable", "vf_10bit_tag_requester_enable"})
    BOOST_TEST(!o.at(key).as_bool(), key);
  if (!test::lspci_available()) {
    BOOST_TEST_MESSAGE("lspci not installed: comparison skipped");
    return;
  }
  // What lspci 3.9 -vvv prints for the same dump (the values above are these).
  const auto lspci = test::run_command("lspci -vvv -F '" + dump.path() + "' 2>/dev/null").out;
  BOOST_TEST(lspci.find("\t\tIOVCap:\tMigration+ 10BitTagReq+ Interrupt Message Number: 005\n"
                        "\t\tIOVCtl:\tEnable+ Migration+ Interrupt+ MSE+ ARIHierarchy+ 10BitTagReq+\n"
                        "\t\tIOVSta:\tMigration-\n"
                        "\t\tInitial VFs: 64, Total VFs: 64, Number of VFs: 4, Function Dependency Link: 03\n"
                        "\t\tVF offset: 384, stride: 2, Device ID: 154c\n"
                        "\t\tSupported Page Size: 00000553, System Page Size: 00000001\n"
                        "\t\tRegion 0: Memory at 0000002000000000 (64-bit, prefetchable)\n"
                        "\t\tRegion 2: Memory at fe000000 (32-bit, non-prefetchable)\n"
                        "\t\tVF Migration: offset: 00012340, BIR: 4\n") != std::string::npos,
             lspci);
}

// What a gone or resetting function reads (all ones) and an entry reading ID 0xFF: lspci says "Unknown
// header type 7f" and "<chain broken>", Linux ends its walk; the tool listed 0xFF entries as capabilities
// and walked past them (and an all-ones space "looped").
BOOST_AUTO_TEST_CASE(an_absent_function_and_an_entry_with_id_ff_end_the_walk) {
  if (skip_without_binary()) return;
  config_image absent;
  for (std::size_t at = 0; at < 4096; at += 4) absent.put32(at, 0xFFFFFFFFu);
  config_image broken{0x8086, 0x0003};
  broken.capability_pointer(0x40);
  broken.standard_capability(0x40, 0x01, 0x50);
  broken.standard_capability(0x50, 0xFF, 0x60);
  broken.standard_capability(0x60, 0x05, 0x00);
  temp_file dump(dump_text("05:00.0 absent", absent.view()) + dump_text("00:03.0 broken", broken.view(256)));
  const auto human = run_inspect("--dump '" + dump.path() + "'");
  BOOST_TEST(human.exit_status == 0);
  BOOST_TEST(human.out.find("0000:05:00.0  vendor ffff device ffff class ffffff rev ff header type ff  (4096 bytes)\n"
                            "  error: header: vendor ID ffff: no function answers here (absent, removed or unreachable)\n"
                            "  error: header: unknown header type 7f (layouts 00 to 02 are defined): its capability "
                            "list is not read\n"
                            "0000:00:03.0") != std::string::npos,
             human.out);
  BOOST_TEST(human.out.find("  capabilities:\n"
                            "    [40] Power Management (id 01)\n"
                            "  error: capabilities: after [40]: capability pointer invalid\n") != std::string::npos,
             human.out);
  BOOST_TEST(human.out.find("Capability ID 0xff") == std::string::npos, human.out);
  const json::value doc = json::parse(run_inspect("--json --dump '" + dump.path() + "'").out);
  BOOST_TEST(doc.as_array()[0].at("capabilities").as_array().empty());
  BOOST_TEST(doc.as_array()[0].at("errors").as_array().size() == 2u);
  BOOST_TEST(doc.as_array()[1].at("capabilities").as_array().size() == 1u);
}

// A window that was placed but that no PF has initialised (identity and status 0), or whose status epoch is
// still 0: nothing in it is an answer, and a VF must not use it yet (docs/protocol.md 2). The tool called
// the first a window "of another layout" and the second "idle"; both are the window, not initialised.
BOOST_AUTO_TEST_CASE(a_window_no_pf_initialised_is_not_usable_yet) {
  if (skip_without_binary()) return;
  config_image image{0x8086, 0x154C};
  image.capability_pointer(0x40);
  image.standard_capability(0x40, 0x10, 0x00);
  BOOST_TEST_REQUIRE(config::place_dvsec(image.span(), {0x8086, mailbox::default_dvsec_id, mailbox::dvsec_revision,
                                                        static_cast<std::uint16_t>(mailbox::window_size)})
                         .has_value());
  auto identity_written = image;  // a PF between its first write (identity) and its last (status)
  identity_written.put32(0x100 + mailbox::reg::identity, mailbox::layout_version);
  temp_file dump(dump_text("04:10.0 placed", image.view()) + dump_text("04:10.1 identity", identity_written.view()));
  const auto human = run_inspect("--dump '" + dump.path() + "'");
  BOOST_TEST(human.out.find("error") == std::string::npos, human.out);
  const std::string uninitialised = "    state: not initialised by a PF (epoch 0): not usable yet; quarantine: no\n";
  const auto first = human.out.find(uninitialised);
  BOOST_TEST_REQUIRE(first != std::string::npos, human.out);
  BOOST_TEST(human.out.find(uninitialised, first + 1) != std::string::npos, human.out);
  const json::value doc = json::parse(run_inspect("--json --dump '" + dump.path() + "'").out);
  for (const auto& device : doc.as_array()) {
    BOOST_TEST(device.at("errors").as_array().empty());
    BOOST_TEST(device.at("mailbox").at("state").as_string() == "uninitialised");
  }
}

// Only a PCI Express or PCI-X function has an extended space: lspci shows extended capabilities only after
// one of those capabilities, and Linux reads 256 bytes of any other. The tool listed "free" ranges of a
// conventional host bridge, and the capabilities of whatever its snapshot held above 0x100.
BOOST_AUTO_TEST_CASE(a_function_without_pci_express_has_no_extended_space) {
  if (skip_without_binary()) return;
  config_image bridge{0x1022, 0x7910};  // no capability list; zeros above 0x100
  config_image conventional{0x8086, 0x0004};
  conventional.capability_pointer(0x40);
  conventional.standard_capability(0x40, 0x01, 0x00);
  conventional.extended_capability(0x100, cid::advanced_error_reporting, 1, 0);  // not an extended space
  config_image pci_x{0x8086, 0x0005};
  pci_x.capability_pointer(0x40);
  pci_x.standard_capability(0x40, 0x07, 0x00);
  pci_x.extended_capability(0x100, cid::advanced_error_reporting, 1, 0);
  temp_file dump(dump_text("00:00.0 bridge", bridge.view()) + dump_text("00:04.0 conventional", conventional.view()) +
                 dump_text("00:05.0 PCI-X", pci_x.view()));
  const json::value doc = json::parse(run_inspect("--json --dump '" + dump.path() + "'").out);
  BOOST_TEST(doc.as_array()[0].at("free").as_array().empty());
  BOOST_TEST(doc.as_array()[0].at("errors").as_array().empty());
  BOOST_TEST(doc.as_array()[1].at("extended_capabilities").as_array().empty());
  BOOST_TEST(doc.as_array()[1].at("free").as_array().empty());
  BOOST_TEST(json::serialize(doc.as_array()[1].at("errors")) ==
             R"(["extended capabilities: not read: no PCI Express or PCI-X capability, so no extended space"])");
  BOOST_TEST(doc.as_array()[2].at("extended_capabilities").as_array().size() == 1u);
  BOOST_TEST(doc.as_array()[2].at("errors").as_array().empty());
  const auto human = run_inspect("--dump '" + dump.path() + "'");
  BOOST_TEST(human.out.find("free:") > human.out.find("0000:00:05.0"), human.out);  // the PCI-X function's only
}

// SR-IOV values Linux refuses or cannot place, each named: First VF Offset 0 (VF 0 would be the PF), a
// 64-bit VF BAR5 (no BAR above it for the upper half; lspci shows it as 64-bit), routing IDs past bus 255.
BOOST_AUTO_TEST_CASE(sriov_values_that_cannot_be_placed_are_named) {
  if (skip_without_binary()) return;
  auto zero_offset = sriov_pf();
  zero_offset.put16(0x150 + 0x14, 0);
  auto last_bar_64bit = sriov_pf_enabled();
  last_bar_64bit.put32(0x150 + 0x24 + 5 * 4, 0x0000000C);
  auto past_bus_ff = sriov_pf();
  past_bus_ff.put16(0x150 + 0x14, 0x02FE);  // from fd:00.0 (0xFD00): VF 0 at ff:1f.6 (0xFFFE), VF 1 past bus ff
  temp_file dump(dump_text("03:00.0 zero offset", zero_offset.view()) + dump_text("03:00.1 BAR5", last_bar_64bit.view()) +
                 dump_text("fd:00.0 past bus ff", past_bus_ff.view()));
  const json::value doc = json::parse(run_inspect("--json --dump '" + dump.path() + "'").out);
  BOOST_TEST(json::serialize(doc.as_array()[0].at("errors")) ==
             R"(["sriov: First VF Offset 0 with NumVFs 4: VF 0 would be the PF"])");
  BOOST_TEST(doc.as_array()[0].at("sriov").at("vfs").as_array().empty());
  BOOST_TEST(json::serialize(doc.as_array()[1].at("errors")) ==
             R"(["sriov: VF BAR5 is 64-bit but is the last BAR: no upper half"])");
  BOOST_TEST(json::serialize(doc.as_array()[1].at("sriov").at("vf_bars").as_array().back()) ==
             R"({"bar":5,"address":"0x0000000000000000","64bit":true,"type":"64-bit","prefetchable":true})");
  BOOST_TEST(json::serialize(doc.as_array()[2].at("errors")) == R"(["sriov: VF 1 and above: routing IDs past bus ff"])");
  BOOST_TEST(doc.as_array()[2].at("sriov").at("vfs").as_array().size() == 1u);
  const auto human = run_inspect("--dump '" + dump.path() + "'");
  BOOST_TEST(human.out.find("    VF BAR5: memory at 0000000000000000 (64-bit, prefetchable)\n") != std::string::npos, human.out);
}

// VF BARs as lspci -vvv decodes them (pciutils ls-ecaps.c cap_sriov): one reading ffffffff (none
// implemented, or a function gone) is left out, as one reading 0 is; it was shown as "memory at fffffff0
// (32-bit, prefetchable)". The reserved memory types 01 and 11 take no upper half (as lspci's: the next BAR is
// one of its own); they were called 32-bit, and are named as lspci names them in a header's BARs (lspci.c
// show_bases: "low-1M", "type 3"), and listed as errors.
BOOST_AUTO_TEST_CASE(vf_bars_reading_all_ones_or_of_a_reserved_type_are_decoded_as_lspci_decodes_them) {
  if (skip_without_binary()) return;
  auto image = sriov_pf_enabled();
  image.put32(0x150 + 0x24 + 3 * 4, 0xFFFFFFFF);
  image.put32(0x150 + 0x24 + 4 * 4, 0xFD000002);  // type 01
  image.put32(0x150 + 0x24 + 5 * 4, 0xFC00000E);  // type 11, prefetchable
  temp_file dump(dump_text("03:00.0 PF", image.view()));
  const auto human = run_inspect("--dump '" + dump.path() + "'");
  BOOST_TEST(human.exit_status == 0);
  BOOST_TEST(human.out.find("    VF BAR0: memory at 0000002000000000 (64-bit, prefetchable)\n"
                            "    VF BAR2: memory at fe000000 (32-bit, non-prefetchable)\n"
                            "    VF BAR4: memory at fd000000 (low-1M, non-prefetchable)\n"
                            "    VF BAR5: memory at fc000000 (type 3, prefetchable)\n"
                            "    VF Migration:") != std::string::npos,
             human.out);
  BOOST_TEST(human.out.find("  error: sriov: VF BAR4 has the reserved memory type 01 (bits 2:1; 00 is 32-bit, 10 64-bit)\n"
                            "  error: sriov: VF BAR5 has the reserved memory type 11 (bits 2:1; 00 is 32-bit, 10 64-bit)\n") !=
                 std::string::npos,
             human.out);
  const auto r = run_inspect("--json --dump '" + dump.path() + "'");
  BOOST_TEST(r.exit_status == 0);
  const json::value doc = json::parse(r.out);
  BOOST_TEST(json::serialize(doc.as_array()[0].at("sriov").at("vf_bars")) ==
             R"([{"bar":0,"address":"0x0000002000000000","64bit":true,"type":"64-bit","prefetchable":true},)"
             R"({"bar":2,"address":"0xfe000000","64bit":false,"type":"32-bit","prefetchable":false},)"
             R"({"bar":4,"address":"0xfd000000","64bit":false,"type":"low-1M","prefetchable":false},)"
             R"({"bar":5,"address":"0xfc000000","64bit":false,"type":"type 3","prefetchable":true}])");
  BOOST_TEST(json::serialize(doc.as_array()[0].at("errors")) ==
             R"json(["sriov: VF BAR4 has the reserved memory type 01 (bits 2:1; 00 is 32-bit, 10 64-bit)",)json"
             R"json("sriov: VF BAR5 has the reserved memory type 11 (bits 2:1; 00 is 32-bit, 10 64-bit)"])json");
  if (!test::lspci_available()) {
    BOOST_TEST_MESSAGE("lspci not installed: comparison skipped");
    return;
  }
  // lspci shows the same regions at the same addresses, and none for BAR3.
  const auto lspci = test::run_command("lspci -vvv -F '" + dump.path() + "' 2>/dev/null").out;
  BOOST_TEST(lspci.find("Region 0: Memory at 0000002000000000 (64-bit, prefetchable)") != std::string::npos, lspci);
  BOOST_TEST(lspci.find("Region 2: Memory at fe000000 (32-bit, non-prefetchable)") != std::string::npos, lspci);
  BOOST_TEST(lspci.find("Region 3:") == std::string::npos, lspci);
  BOOST_TEST(lspci.find("Region 4: Memory at fd000000 (") != std::string::npos, lspci);
  BOOST_TEST(lspci.find("Region 5: Memory at fc000000 (") != std::string::npos, lspci);
}

// A function has one SR-IOV capability; a second is named, and the first is the one decoded (as Linux's
// pci_find_ext_capability takes the first).
BOOST_AUTO_TEST_CASE(a_second_sriov_capability_is_named) {
  if (skip_without_binary()) return;
  auto pf = sriov_pf();
  pf.extended_capability(0x200, cid::sriov, 1, 0);  // in place of the VSEC, NumVFs 0
  temp_file dump(dump_text("03:00.0 two", pf.view()));
  const json::value doc = json::parse(run_inspect("--json --dump '" + dump.path() + "'").out);
  BOOST_TEST(json::serialize(doc.as_array()[0].at("errors")) ==
             R"json(["sriov [200]: a second SR-IOV capability (only the first, at [150], is read)"])json");
  BOOST_TEST(doc.as_array()[0].at("sriov").at("num_vfs").as_int64() == 4);
}

// Every capability's name is the one lspci prints for it (the start of lspci's text after the offset).
BOOST_AUTO_TEST_CASE(capability_names_are_lspcis) {
  if (skip_without_binary()) return;
  const char* env = std::getenv("VPCI_PCI_DUMPS");
  const fs::path dir = env ? fs::path(env) : fs::path(__FILE__).parent_path() / ".." / ".." / "shared" / "reference" / "pci-dumps";
  if (!fs::is_directory(dir) || !test::lspci_available()) {
    BOOST_TEST_MESSAGE("no reference dumps or no lspci: skipped");
    return;
  }
  std::size_t compared = 0;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().filename() == "README.md") continue;
    const json::value doc = json::parse(run_inspect("--json --dump '" + entry.path().string() + "'").out);
    const auto reference = test::parse_lspci_verbose(test::run_command("lspci -D -vvv -F '" + entry.path().string() + "' 2>/dev/null").out);
    for (const auto& device : doc.as_array()) {
      const std::string address(device.at("address").as_string());
      auto it = std::find_if(reference.begin(), reference.end(), [&](const auto& d) { return d.address == address; });
      BOOST_TEST_REQUIRE((it != reference.end()));
      const auto check = [&](const json::array& ours, const std::vector<test::lspci_capability>& theirs) {
        BOOST_TEST_REQUIRE(ours.size() >= theirs.size());
        for (std::size_t i = 0; i < theirs.size(); ++i) {
          const std::string name(ours[i].at("name").as_string());
          BOOST_TEST(theirs[i].text.rfind(name, 0) == 0u, address << ": ours '" << name << "', lspci '" << theirs[i].text << "'");
          ++compared;
        }
      };
      check(device.at("capabilities").as_array(), it->capabilities);
      check(device.at("extended_capabilities").as_array(), it->extended_capabilities);
    }
  }
  BOOST_TEST(compared > 0u);
}

// Every standard capability ID 01..16 and extended ID 0001..0035 chained in one function: each name is the
// one lspci 3.9 prints (the start of its text), unnamed IDs included ("Capability ID 0x15", "Extended
// Capability ID 0x2a"). Extended ID 0020 showed as "Extended Capability ID 0x20"; pciutils names it "PCI
// Express over M_PHY" (ls-ecaps.c, PCI_EXT_CAP_ID_M_PCIE).
BOOST_AUTO_TEST_CASE(every_capability_id_is_named_as_lspci_names_it) {
  if (skip_without_binary()) return;
  config_image image{0x8086, 0x1234};
  image.capability_pointer(0x40);
  for (unsigned id = 0x01; id <= 0x16; ++id) {
    const auto at = static_cast<std::uint8_t>(0x40 + 8 * (id - 1));
    image.standard_capability(at, static_cast<std::uint8_t>(id), id == 0x16 ? 0 : static_cast<std::uint8_t>(at + 8));
  }
  for (unsigned id = 0x01; id <= 0x35; ++id) {
    const auto at = static_cast<std::uint16_t>(0x100 + 0x40 * (id - 1));
    image.extended_capability(at, static_cast<std::uint16_t>(id), 1, id == 0x35 ? 0 : static_cast<std::uint16_t>(at + 0x40));
  }
  temp_file dump(dump_text("01:00.0 every ID", image.view()));
  const json::value doc = json::parse(run_inspect("--json --dump '" + dump.path() + "'").out);
  const auto& device = doc.as_array()[0];
  const auto& ours = device.at("capabilities").as_array();
  const auto& ours_ext = device.at("extended_capabilities").as_array();
  BOOST_TEST_REQUIRE(ours.size() == 0x16u);
  BOOST_TEST_REQUIRE(ours_ext.size() == 0x35u);
  BOOST_TEST(ours_ext[0x20 - 1].at("name").as_string() == "PCI Express over M_PHY");
  if (!test::lspci_available()) {
    BOOST_TEST_MESSAGE("lspci not installed: comparison skipped");
    return;
  }
  const auto reference = test::parse_lspci_verbose(test::run_command("lspci -D -vvv -F '" + dump.path() + "' 2>/dev/null").out);
  BOOST_TEST_REQUIRE(reference.size() == 1u);
  const auto check = [](const json::array& names, const std::vector<test::lspci_capability>& theirs) {
    BOOST_TEST_REQUIRE(names.size() == theirs.size());
    for (std::size_t i = 0; i < theirs.size(); ++i) {
      const std::string name(names[i].at("name").as_string());
      BOOST_TEST(theirs[i].text.rfind(name, 0) == 0u, "ours '" << name << "', lspci '" << theirs[i].text << "'");
    }
  };
  check(ours, reference[0].capabilities);
  check(ours_ext, reference[0].extended_capabilities);
}

// The first things to look at when a VF hangs: a request the PF has not answered, and a quarantine.
BOOST_AUTO_TEST_CASE(mailbox_pending_request_and_quarantine) {
  if (skip_without_binary()) return;
  auto pending = vf_with_mailbox();
  pending.put32(0x100 + mailbox::reg::request, mailbox::encode_request(3, 8, mailbox::operation::read));  // not serviced
  const auto quarantined = vf_with_mailbox(mailbox::encode_request(7, 8, mailbox::operation::read));
  temp_file dump(dump_text("04:10.0 pending", pending.view()) + dump_text("04:10.2 quarantined", quarantined.view()));
  const auto human = run_inspect("--dump '" + dump.path() + "'");
  BOOST_TEST(human.exit_status == 0);
  BOOST_TEST(human.out.find("    state: request 3 pending (the PF has acknowledged 2); quarantine: possible") != std::string::npos,
             human.out);
  BOOST_TEST(human.out.find("    state: request 7 answered; quarantine: yes (a sequence violation: the PF refuses every "
                            "request until a mailbox reset or an FLR)") != std::string::npos,
             human.out);
  const json::value doc = json::parse(run_inspect("--json --dump '" + dump.path() + "'").out);
  BOOST_TEST(doc.as_array()[0].at("mailbox").at("state").as_string() == "pending");
  BOOST_TEST(doc.as_array()[1].at("mailbox").at("state").as_string() == "answered");
  BOOST_TEST(doc.as_array()[1].at("mailbox").at("quarantine").as_string() == "yes");
  BOOST_TEST(doc.as_array()[1].at("mailbox").at("result").as_string() == "0xc0000010");
}

// Bits 31:2 of control are reserved (docs/protocol.md 2); a control with them set showed only "RESET". They
// are flagged as the request's reserved bits are, in both outputs.
BOOST_AUTO_TEST_CASE(a_mailbox_control_with_reserved_bits_set_is_flagged_as_the_request_is) {
  if (skip_without_binary()) return;
  auto image = vf_with_mailbox();
  image.put32(0x100 + mailbox::reg::control, 0x80000001u);
  temp_file dump(dump_text("04:10.0 VF", image.view()));
  const auto human = run_inspect("--dump '" + dump.path() + "'");
  BOOST_TEST(human.exit_status == 0);
  BOOST_TEST(human.out.find("\n    control 80000001 RESET, reserved bits set\n") != std::string::npos, human.out);
  const auto r = run_inspect("--json --dump '" + dump.path() + "'");
  const json::value doc = json::parse(r.out);
  const auto& m = doc.as_array()[0].at("mailbox");
  BOOST_TEST(m.at("control").as_string() == "0x80000001");
  BOOST_TEST(m.at("reset").as_bool());
  BOOST_TEST(!m.at("signal").as_bool());
  BOOST_TEST(m.at("control_reserved_bits").as_bool());
  // The defined bits alone are no reserved bits.
  image.put32(0x100 + mailbox::reg::control, 0x00000003u);
  temp_file defined(dump_text("04:10.0 VF", image.view()));
  BOOST_TEST(run_inspect("--dump '" + defined.path() + "'").out.find("\n    control 00000003 RESET SIGNAL\n") != std::string::npos);
  BOOST_TEST(!json::parse(run_inspect("--json --dump '" + defined.path() + "'").out).as_array()[0].at("mailbox").at(
                  "control_reserved_bits").as_bool());
}

// A function whose extended space repeats its header at every 256-byte boundary has none (Linux:
// pci_ext_cfg_is_aliased). The tool said "not supported" for the walk and then reported a DVSEC with vpci's
// names that is no window, though there is no DVSEC at all (found by a review).
BOOST_AUTO_TEST_CASE(an_extended_space_repeating_the_header_is_named_and_holds_no_mailbox) {
  if (skip_without_binary()) return;
  config_image image{0x8086, 0x1572};
  image.capability_pointer(0x40);
  image.standard_capability(0x40, 0x10, 0x00);
  image.put16(0x42, 0x0002);  // PCI Express: the extended space is read
  for (std::size_t at = 0x100; at < 0x1000; at += 0x100) image.put32(at, 0x15728086u);
  temp_file dump(dump_text("00:01.0 aliased", image.view()));
  const auto human = run_inspect("--dump '" + dump.path() + "'");
  BOOST_TEST(human.exit_status == 0);
  BOOST_TEST(human.out.find("error: extended capabilities: none: from [100] on, every 256 bytes repeat the header's "
                            "first dword (no extended space") != std::string::npos,
             human.out);
  BOOST_TEST(human.out.find("mailbox") == std::string::npos, human.out);
  const json::value doc = json::parse(run_inspect("--json --dump '" + dump.path() + "'").out);
  BOOST_TEST(doc.as_array()[0].at("errors").as_array().size() == 1u);
}

// Capability bits vpci does not name are one "0x...." entry of those bits alone. It showed the whole register
// (identity 0x00090002: "invalidation 0x0009", the named bit twice), in both outputs (found by a review).
BOOST_AUTO_TEST_CASE(a_mailboxs_unknown_capability_bits_are_shown_without_the_known_ones) {
  if (skip_without_binary()) return;
  auto image = vf_with_mailbox();
  image.put32(0x100 + mailbox::reg::identity, 0x00090002u);  // invalidation, and bit 19
  temp_file dump(dump_text("04:10.0 VF", image.view()));
  const auto human = run_inspect("--dump '" + dump.path() + "'");
  BOOST_TEST(human.exit_status == 0);
  BOOST_TEST(human.out.find("mailbox [100]: layout 2, capabilities invalidation 0x0008, ") != std::string::npos, human.out);
  const json::value doc = json::parse(run_inspect("--json --dump '" + dump.path() + "'").out);
  const auto& m = doc.as_array()[0].at("mailbox");
  BOOST_TEST(m.at("capabilities").as_string() == "0x0009");  // the register, as read
  BOOST_TEST(json::serialize(m.at("capability_names")) == R"(["invalidation","0x0008"])");
  image.put32(0x100 + mailbox::reg::identity, 0xFFFF0002u);
  temp_file all(dump_text("04:10.0 VF", image.view()));
  BOOST_TEST(run_inspect("--dump '" + all.path() + "'").out.find("capabilities invalidation signal heartbeat 0xfff8, ") !=
             std::string::npos);
}

// A violation is answered STATUS_INVALID_DEVICE_REQUEST whatever the request; outside one, that status
// answers only an unknown operation or reserved bits (a length of 0 or above 128 is
// STATUS_INVALID_PARAMETER). So a read or write with a bad length is a quarantine, and a request with an
// unknown operation may be one; the tool said "no" to both.
BOOST_AUTO_TEST_CASE(quarantine_after_a_violation_with_a_bad_length_or_operation) {
  if (skip_without_binary()) return;
  const auto operation_3 = static_cast<mailbox::operation>(3);
  const auto zero_length = vf_with_mailbox(mailbox::encode_request(7, 0, mailbox::operation::read));
  const auto long_write = vf_with_mailbox(mailbox::encode_request(7, 200, mailbox::operation::write));
  const auto unknown_violation = vf_with_mailbox(mailbox::encode_request(7, 8, operation_3));
  const auto unknown_in_sequence = vf_with_mailbox(mailbox::encode_request(3, 8, operation_3));  // no violation
  temp_file dump(dump_text("04:10.0 zero", zero_length.view()) + dump_text("04:10.1 long", long_write.view()) +
                 dump_text("04:10.2 op3", unknown_violation.view()) + dump_text("04:10.3 op3", unknown_in_sequence.view()));
  const auto human = run_inspect("--dump '" + dump.path() + "'");
  BOOST_TEST(human.exit_status == 0);
  const std::string yes = "quarantine: yes (a sequence violation: the PF refuses every request until a mailbox reset or an FLR)";
  const std::string possible =
      "quarantine: possible (STATUS_INVALID_DEVICE_REQUEST: an unknown operation or reserved bits, or a sequence violation)";
  BOOST_TEST(human.out.find("    request: sequence 7, block 00000006, length 0, read\n") != std::string::npos, human.out);
  BOOST_TEST(human.out.find("    state: request 7 answered; " + yes) != std::string::npos, human.out);
  BOOST_TEST(human.out.find("    request: sequence 7, block 00000006, length 200, write\n") != std::string::npos, human.out);
  BOOST_TEST(human.out.find("    state: request 7 answered; " + possible) != std::string::npos, human.out);
  BOOST_TEST(human.out.find("    state: request 3 answered; " + possible) != std::string::npos, human.out);
  const json::value doc = json::parse(run_inspect("--json --dump '" + dump.path() + "'").out);
  BOOST_TEST(doc.as_array()[0].at("mailbox").at("quarantine").as_string() == "yes");
  BOOST_TEST(doc.as_array()[1].at("mailbox").at("quarantine").as_string() == "yes");
  BOOST_TEST(doc.as_array()[2].at("mailbox").at("quarantine").as_string() == "possible");
  BOOST_TEST(doc.as_array()[3].at("mailbox").at("quarantine").as_string() == "possible");
  BOOST_TEST(doc.as_array()[3].at("mailbox").at("result").as_string() == "0xc0000010");
}

// From the tools' mutation audit: fields a mutant could change unnoticed. A request pending after a
// STATUS_INVALID_DEVICE_REQUEST answer is only a possible quarantine (the answer may be to another request
// than the one the VF now waits for); a heartbeat interval of 256 ms or more is all 16 bits of limits.
BOOST_AUTO_TEST_CASE(a_request_pending_after_invalid_device_request_and_a_long_heartbeat) {
  if (skip_without_binary()) return;
  auto pending = vf_with_mailbox(mailbox::encode_request(7, 8, mailbox::operation::read));  // quarantined
  pending.put32(0x100 + mailbox::reg::request, mailbox::encode_request(8, 8, mailbox::operation::read));
  auto slow_beat = vf_with_mailbox();
  slow_beat.put32(0x100 + mailbox::reg::limits, mailbox::encode_limits(1000));
  temp_file dump(dump_text("04:10.0 pending", pending.view()) + dump_text("04:10.2 slow", slow_beat.view()));
  const auto human = run_inspect("--dump '" + dump.path() + "'");
  BOOST_TEST(human.exit_status == 0);
  BOOST_TEST(human.out.find("    state: request 8 pending (the PF has acknowledged 7); quarantine: possible "
                            "(STATUS_INVALID_DEVICE_REQUEST: an unknown operation or reserved bits, or a sequence "
                            "violation)") != std::string::npos,
             human.out);
  BOOST_TEST(human.out.find("data 32 dwords, heartbeat 1000 ms\n") != std::string::npos, human.out);
  const json::value doc = json::parse(run_inspect("--json --dump '" + dump.path() + "'").out);
  BOOST_TEST(doc.as_array()[0].at("mailbox").at("state").as_string() == "pending");
  BOOST_TEST(doc.as_array()[0].at("mailbox").at("quarantine").as_string() == "possible");
  BOOST_TEST(doc.as_array()[1].at("mailbox").at("heartbeat_ms").as_int64() == 1000);
}

// From the tools' mutation audit: a VF BAR is prefetchable by its bit 3 and 64-bit by bits 2:1 (the
// fixtures had only a 64-bit prefetchable BAR and a 32-bit non-prefetchable one, so bit 2 and bit 3 always
// agreed), and the JSON's vf_migration_status is IOVSta bit 0 (only the human output was checked).
BOOST_AUTO_TEST_CASE(vf_bar_prefetchable_and_iov_status_migration_are_their_own_bits) {
  if (skip_without_binary()) return;
  auto image = sriov_pf_enabled();
  image.put32(0x150 + 0x24, 0xFD000008);  // VF BAR0: 32-bit, prefetchable
  image.put32(0x150 + 0x28, 0xFC000004);  // VF BAR1: 64-bit, non-prefetchable
  image.put32(0x150 + 0x2C, 0x00000000);  //   its upper half
  image.put16(0x150 + 0x0A, 0x0001);      // IOVSta: VF Migration Status
  auto other = sriov_pf_enabled();
  other.put16(0x150 + 0x0A, 0x0002);  // a bit IOVSta does not define
  temp_file dump(dump_text("03:00.0 PF", image.view()) + dump_text("05:00.0 PF", other.view()));
  const auto human = run_inspect("--dump '" + dump.path() + "'");
  BOOST_TEST(human.exit_status == 0);
  BOOST_TEST(human.out.find("    VF BAR0: memory at fd000000 (32-bit, prefetchable)\n"
                            "    VF BAR1: memory at 00000000fc000000 (64-bit, non-prefetchable)\n") != std::string::npos,
             human.out);
  BOOST_TEST(human.out.find("; IOVSta 0001: Migration+\n") != std::string::npos, human.out);
  BOOST_TEST(human.out.find("; IOVSta 0002: Migration-\n") != std::string::npos, human.out);
  const json::value doc = json::parse(run_inspect("--json --dump '" + dump.path() + "'").out);
  const auto& s = doc.as_array()[0].at("sriov");
  BOOST_TEST(json::serialize(s.at("vf_bars")) ==
             R"([{"bar":0,"address":"0xfd000000","64bit":false,"type":"32-bit","prefetchable":true},)"
             R"({"bar":1,"address":"0x00000000fc000000","64bit":true,"type":"64-bit","prefetchable":false}])");
  BOOST_TEST(s.at("vf_migration_status").as_bool());
  BOOST_TEST(!doc.as_array()[1].at("sriov").at("vf_migration_status").as_bool());
}

// From the tools' mutation audit: -d :::PROG-IF never matches a function whose header could not be read
// (a dump of its first 16 bytes), as it never matches one of another programming interface.
BOOST_AUTO_TEST_CASE(dash_d_prog_if_does_not_match_a_function_without_a_header) {
  if (skip_without_binary()) return;
  temp_file dump(dump_text("00:01.0 Short", config_image{0x8086, 0x1234}.view(16)));
  const auto all = run_inspect("--json --dump '" + dump.path() + "'");
  BOOST_TEST(all.exit_status == 0);
  BOOST_TEST(json::parse(all.out).as_array().size() == 1u, all.out);
  const auto filtered = run_inspect("--json --dump '" + dump.path() + "' -d :::00");
  BOOST_TEST(filtered.exit_status == 0);
  BOOST_TEST(filtered.out == "[\n]\n");
}

// -d VENDOR:DEVICE keeps the matching devices, as lspci -d; a malformed filter is a usage error.
BOOST_AUTO_TEST_CASE(dash_d_filters_by_vendor_and_device) {
  if (skip_without_binary()) return;
  temp_file dump(dump_text("03:00.0 PF", sriov_pf().view()) + dump_text("04:10.0 VF", vf_with_mailbox().view()) +
                 dump_text("00:02.0 virtio", looping_device().view(256)));
  const auto addresses = [&](const std::string& filter) {
    const json::value doc = json::parse(run_inspect("--json -d " + filter + " --dump '" + dump.path() + "'").out);
    std::vector<std::string> out;
    for (const auto& d : doc.as_array()) out.emplace_back(d.at("address").as_string());
    return out;
  };
  BOOST_TEST(addresses("8086:") == std::vector<std::string>({"0000:03:00.0", "0000:04:10.0"}), boost::test_tools::per_element());
  BOOST_TEST(addresses("8086:154c") == std::vector<std::string>({"0000:04:10.0"}), boost::test_tools::per_element());
  BOOST_TEST(addresses(":1041") == std::vector<std::string>({"0000:00:02.0"}), boost::test_tools::per_element());
  BOOST_TEST(addresses("1234:5678").empty());
  const auto bad = run_inspect("-d 8086 --dump '" + dump.path() + "'");
  BOOST_TEST(bad.exit_status == 2);
  BOOST_TEST(bad.err.find("vpci-inspect: -d '8086': expected [VENDOR]:[DEVICE][:CLASS[:PROG-IF]] in hex, at most 4 digits "
                          "a part and 2 of PROG-IF (x: any digit of CLASS)\n") == 0u,
             bad.err);
}

// Vendor and device IDs are 16-bit, the class 16 bits (base class and subclass), the programming interface
// 8: a part with more digits is a usage error naming the value, even when its value would fit (00000 was
// taken as vendor 0000).
BOOST_AUTO_TEST_CASE(dash_d_parts_wider_than_their_register_are_a_usage_error) {
  if (skip_without_binary()) return;
  temp_file dump(dump_text("03:00.0 PF", sriov_pf().view()));
  for (const std::string malformed : {"00000:", ":01572", "08086:1572", "::00200", "::0200:000", "::0xxxx"}) {
    const auto bad = run_inspect("-d " + malformed + " --dump '" + dump.path() + "'");
    BOOST_TEST(bad.exit_status == 2, malformed);
    BOOST_TEST(bad.out.empty());
    BOOST_TEST(bad.err.find("vpci-inspect: -d '" + malformed + "': expected") == 0u, bad.err);
  }
}

// -d's class and programming interface parts, as lspci -d of pciutils 3.8: CLASS is base class and
// subclass (the PF is an Ethernet controller, 0200; the other two are class 0000), an x any digit of it;
// "02" is class 0002, not base class 02, as in lspci. A malformed part is a usage error.
BOOST_AUTO_TEST_CASE(dash_d_filters_by_class_and_programming_interface_as_lspci) {
  if (skip_without_binary()) return;
  auto programmed = looping_device();
  programmed.put8(0x09, 0x30);
  temp_file dump(dump_text("03:00.0 PF", sriov_pf().view()) + dump_text("04:10.0 VF", vf_with_mailbox().view()) +
                 dump_text("00:02.0 virtio", programmed.view(256)));
  const auto addresses = [&](const std::string& filter) { return listed(run_inspect("--json -d " + filter + " --dump '" + dump.path() + "'")); };
  using list = std::vector<std::string>;
  BOOST_TEST(addresses("::0200") == list({"0000:03:00.0"}), boost::test_tools::per_element());
  BOOST_TEST(addresses("::02xx") == list({"0000:03:00.0"}), boost::test_tools::per_element());
  BOOST_TEST(addresses("*:*:02XX") == list({"0000:03:00.0"}), boost::test_tools::per_element());
  BOOST_TEST(addresses("::0000") == list({"0000:04:10.0", "0000:00:02.0"}), boost::test_tools::per_element());
  BOOST_TEST(addresses("8086::0000") == list({"0000:04:10.0"}), boost::test_tools::per_element());
  BOOST_TEST(addresses("::xx00") == list({"0000:03:00.0", "0000:04:10.0", "0000:00:02.0"}), boost::test_tools::per_element());
  BOOST_TEST(addresses("::0000:30") == list({"0000:00:02.0"}), boost::test_tools::per_element());
  BOOST_TEST(addresses(":::00") == list({"0000:03:00.0", "0000:04:10.0"}), boost::test_tools::per_element());
  BOOST_TEST(addresses("::02").empty());
  BOOST_TEST(addresses("::0200:01").empty());
  for (const std::string malformed : {"::20000", "::xxxxx", "::0200:100", "::0200:x0", "x:154c", "1:2:3:4:5", "::0g00"}) {
    const auto bad = run_inspect("-d " + malformed + " --dump '" + dump.path() + "'");
    BOOST_TEST(bad.exit_status == 2, malformed);
    BOOST_TEST(bad.err.find("vpci-inspect: -d '" + malformed + "': expected") == 0u, bad.err);
  }
}

// A VF's Vendor and Device ID registers read ffff on every real host; the rest of its header is real. The
// tool called every VF "no function answers here", and found its window only by the DVSEC of any vendor
// (config::find_mailbox on a VF): the window's live state is decoded as on any function.
BOOST_AUTO_TEST_CASE(a_vf_reading_ffff_is_a_vf_not_an_absent_function_and_its_mailbox_is_decoded) {
  if (skip_without_binary()) return;
  temp_file dump(dump_text("04:10.0 Ethernet controller: VF", vf_as_it_reads().view()));
  const auto human = run_inspect("--dump '" + dump.path() + "'");
  BOOST_TEST(human.exit_status == 0);
  BOOST_TEST(human.out ==
             "0000:04:10.0  vendor ffff device ffff class 020000 rev 01 header type 00  (4096 bytes)\n" +
                 vf_line("unknown", "unknown", "unknown") +
                 window_lines);
  const auto r = run_inspect("--json --dump '" + dump.path() + "'");
  BOOST_TEST(r.exit_status == 0);
  const json::value doc = json::parse(r.out);
  const auto& d = doc.as_array()[0];
  BOOST_TEST(d.at("vendor").as_string() == "0xffff");
  BOOST_TEST(d.at("device").as_string() == "0xffff");
  BOOST_TEST(d.at("class").as_string() == "0x020000");
  BOOST_TEST(d.at("errors").as_array().empty());
  BOOST_TEST(json::serialize(d.at("virtual_function")) == R"({"physical_function":null,"vendor":null,"device":null})");
  BOOST_TEST(json::serialize(d.at("mailbox")) == window_json);
}

// IDs of ffff are a VF's unless revision, class code and header type read all ones too (what nothing
// answering reads): any one of them that does not is a function that answers.
BOOST_AUTO_TEST_CASE(ids_of_ffff_are_a_vfs_unless_class_code_revision_and_header_type_are_all_ones) {
  if (skip_without_binary()) return;
  config_image absent;
  for (std::size_t at = 0; at < 4096; at += 4) absent.put32(at, 0xFFFFFFFFu);
  config_image header_all_ones{0xFFFF, 0xFFFF};  // status, capability pointer and the rest zero
  header_all_ones.put32(0x08, 0xFFFFFFFFu);
  header_all_ones.put8(0x0E, 0xFF);
  auto header_type_0 = header_all_ones;
  header_type_0.put8(0x0E, 0x00);
  config_image class_only{0xFFFF, 0xFFFF};
  class_only.put8(0x0B, 0x02);
  class_only.put8(0x0E, 0xFF);
  temp_file dump(dump_text("05:00.0 absent", absent.view()) + dump_text("05:00.1 header all ones", header_all_ones.view()) +
                 dump_text("05:00.2 header type 0", header_type_0.view()) + dump_text("05:00.3 class", class_only.view()));
  const json::value doc = json::parse(run_inspect("--json --dump '" + dump.path() + "'").out);
  BOOST_TEST_REQUIRE(doc.as_array().size() == 4u);
  const std::string absent_errors =
      R"json(["header: vendor ID ffff: no function answers here (absent, removed or unreachable)",)json"
      R"json("header: unknown header type 7f (layouts 00 to 02 are defined): its capability list is not read"])json";
  BOOST_TEST(json::serialize(doc.as_array()[0].at("errors")) == absent_errors);
  BOOST_TEST(json::serialize(doc.as_array()[1].at("errors")) == absent_errors);
  BOOST_TEST(doc.as_array()[2].at("errors").as_array().empty());
  BOOST_TEST(json::serialize(doc.as_array()[3].at("errors")) ==
             R"json(["header: unknown header type 7f (layouts 00 to 02 are defined): its capability list is not read"])json");
  const std::string unknown_vf = R"({"physical_function":null,"vendor":null,"device":null})";
  BOOST_TEST(doc.as_array()[0].at("virtual_function").is_null());
  BOOST_TEST(doc.as_array()[1].at("virtual_function").is_null());
  BOOST_TEST(json::serialize(doc.as_array()[2].at("virtual_function")) == unknown_vf);
  BOOST_TEST(json::serialize(doc.as_array()[3].at("virtual_function")) == unknown_vf);
  const auto human = run_inspect("--dump '" + dump.path() + "'");
  BOOST_TEST(human.out.find("0000:05:00.2  vendor ffff device ffff class ffffff rev ff header type 00  (4096 bytes)\n" +
                            vf_line("unknown", "unknown", "unknown") + "0000:05:00.3") != std::string::npos,
             human.out);
}

// In a dump a VF's IDs are unknown (its registers read ffff; the OS names them): -d matches it only with
// both parts empty, and never by the ffff its registers read.
BOOST_AUTO_TEST_CASE(dash_d_matches_a_vf_in_a_dump_only_with_both_parts_empty) {
  if (skip_without_binary()) return;
  temp_file dump(dump_text("03:00.0 PF", sriov_pf().view()) + dump_text("04:10.0 VF", vf_as_it_reads().view()));
  const auto addresses = [&](const std::string& filter) {
    return listed(run_inspect("--json -d " + filter + " --dump '" + dump.path() + "'"));
  };
  BOOST_TEST(addresses(":") == std::vector<std::string>({"0000:03:00.0", "0000:04:10.0"}), boost::test_tools::per_element());
  BOOST_TEST(addresses("8086:") == std::vector<std::string>({"0000:03:00.0"}), boost::test_tools::per_element());
  BOOST_TEST(addresses("8086:154c").empty());
  BOOST_TEST(addresses("ffff:").empty());
  BOOST_TEST(addresses(":ffff").empty());
}

// Through sysfs a VF's IDs are Linux's (its vendor and device files, what lspci shows and lspci -d
// matches) and its PF is its physfn link's target; an ID file that does not read leaves that ID unknown.
// The tree is a copy under VPCI_SYSFS_ROOT, laid out as /sys/bus/pci/devices.
BOOST_AUTO_TEST_CASE(a_vf_through_sysfs_has_the_ids_and_pf_linux_gives_it) {
  if (skip_without_binary()) return;
  temp_directory root;
  const auto function = [&](const std::string& address, const config_image& image, const std::string& vendor,
                            const std::string& device) {
    const fs::path directory = sysfs_function(root.path(), address, image.view());
    if (!vendor.empty()) std::ofstream(directory / "vendor") << vendor;
    if (!device.empty()) std::ofstream(directory / "device") << device;
    return directory;
  };
  function("0000:03:00.0", sriov_pf_enabled(), "0x8086\n", "0x1572\n");
  fs::create_directory_symlink("../0000:03:00.0", function("0000:04:10.0", vf_as_it_reads(), "0x8086\n", "0x154c\n") / "physfn");
  fs::create_directory_symlink("../0000:03:00.0", function("0000:04:10.2", vf_as_it_reads(), "", "garbage\n") / "physfn");
  const std::string environment = "VPCI_SYSFS_ROOT='" + root.path().string() + "' ";

  const auto r = run_inspect("--json", environment);
  BOOST_TEST(r.exit_status == 0, r.err);
  const json::value doc = json::parse(r.out);
  BOOST_TEST_REQUIRE(doc.as_array().size() == 3u);
  BOOST_TEST(doc.as_array()[0].at("address").as_string() == "0000:03:00.0");
  BOOST_TEST(doc.as_array()[0].at("virtual_function").is_null());
  const auto& vf0 = doc.as_array()[1];
  BOOST_TEST(vf0.at("address").as_string() == "0000:04:10.0");
  BOOST_TEST(vf0.at("vendor").as_string() == "0xffff");
  BOOST_TEST(vf0.at("device").as_string() == "0xffff");
  BOOST_TEST(json::serialize(vf0.at("virtual_function")) ==
             R"({"physical_function":"0000:03:00.0","vendor":"0x8086","device":"0x154c"})");
  BOOST_TEST(vf0.at("mailbox").at("state").as_string() == "answered");
  BOOST_TEST(vf0.at("errors").as_array().empty());
  const auto& vf1 = doc.as_array()[2];
  BOOST_TEST(json::serialize(vf1.at("virtual_function")) ==
             R"({"physical_function":"0000:03:00.0","vendor":null,"device":null})");
  BOOST_TEST(vf1.at("errors").as_array().empty());

  const auto human = run_inspect("0000:04:10.0 04:10.2", environment);
  BOOST_TEST(human.exit_status == 0, human.err);
  BOOST_TEST(human.out.find("0000:04:10.0  vendor ffff device ffff class 020000 rev 01 header type 00  (4096 bytes)\n" +
                            vf_line("0000:03:00.0", "8086", "154c") + "  capabilities:\n") == 0u,
             human.out);
  BOOST_TEST(human.out.find("0000:04:10.2  vendor ffff device ffff class 020000 rev 01 header type 00  (4096 bytes)\n" +
                            vf_line("0000:03:00.0", "unknown", "unknown") + "  capabilities:\n") != std::string::npos,
             human.out);

  const auto addresses = [&](const std::string& filter) { return listed(run_inspect("--json -d " + filter, environment)); };
  BOOST_TEST(addresses("8086:") == std::vector<std::string>({"0000:03:00.0", "0000:04:10.0"}), boost::test_tools::per_element());
  BOOST_TEST(addresses("8086:154c") == std::vector<std::string>({"0000:04:10.0"}), boost::test_tools::per_element());
  BOOST_TEST(addresses(":154c") == std::vector<std::string>({"0000:04:10.0"}), boost::test_tools::per_element());
  BOOST_TEST(addresses("ffff:ffff").empty());
  BOOST_TEST(addresses(":") == std::vector<std::string>({"0000:03:00.0", "0000:04:10.0", "0000:04:10.2"}),
             boost::test_tools::per_element());
}

// Linux gives a PCI Express function a 256-byte config file when it cannot reach its extended space (no
// ECAM, pci=nommconf, a VF passed into a guest without one: probe.c pci_cfg_space_size_ext()); a mailbox
// window there is then out of sight, which the tool says instead of listing no extended capabilities and
// no error. A conventional or PCI-X function has 256 bytes and no extended space to miss.
BOOST_AUTO_TEST_CASE(an_express_function_with_a_256_byte_config_file_says_extended_space_is_not_reachable) {
  if (skip_without_binary()) return;
  temp_directory root;
  sysfs_function(root.path(), "0000:04:10.0", vf_with_mailbox().view(256));
  config_image conventional{0x8086, 0x0004};
  conventional.capability_pointer(0x40);
  conventional.standard_capability(0x40, 0x01, 0x00);
  sysfs_function(root.path(), "0000:00:04.0", conventional.view(256));
  config_image pci_x{0x8086, 0x0005};
  pci_x.capability_pointer(0x40);
  pci_x.standard_capability(0x40, 0x07, 0x00);
  sysfs_function(root.path(), "0000:00:05.0", pci_x.view(256));
  const std::string environment = "VPCI_SYSFS_ROOT='" + root.path().string() + "' ";
  const std::string unreachable =
      "extended capabilities: not read: the config space is 256 bytes (the system gives no access to extended space)";

  const auto r = run_inspect("--json", environment);
  BOOST_TEST(r.exit_status == 0, r.err);
  const json::value doc = json::parse(r.out);
  BOOST_TEST_REQUIRE(doc.as_array().size() == 3u);
  const auto& express = doc.as_array()[2];
  BOOST_TEST(express.at("address").as_string() == "0000:04:10.0");
  BOOST_TEST(express.at("size").as_int64() == 256);
  BOOST_TEST(express.at("extended_capabilities").as_array().empty());
  BOOST_TEST(express.at("mailbox").is_null());
  BOOST_TEST(json::serialize(express.at("errors")) == json::serialize(json::array{json::string(unreachable)}));
  BOOST_TEST(doc.as_array()[0].at("errors").as_array().empty());  // conventional
  BOOST_TEST(doc.as_array()[1].at("errors").as_array().empty());  // PCI-X

  const auto human = run_inspect("0000:04:10.0 0000:00:04.0", environment);
  BOOST_TEST(human.exit_status == 0, human.err);
  BOOST_TEST(human.out.find("  error: " + unreachable + "\n") != std::string::npos, human.out);
  BOOST_TEST(human.out.find("error:") == human.out.rfind("error:"), human.out);  // the Express function's only
}

// Linux shows a reader without CAP_SYS_ADMIN only the first 64 bytes of a config file (128 of a CardBus
// bridge's; pci-sysfs.c pci_read_config()) while the file keeps its size. No regular file reads so, so the
// tool runs in a user namespace of its own (unshare --user: no CAP_SYS_ADMIN in the initial namespace,
// root or not) on a real function of this host with a capability list; skipped where there is none.
BOOST_AUTO_TEST_CASE(a_config_file_readable_only_in_its_first_64_bytes_says_access_is_denied) {
  if (skip_without_binary()) return;
  if (test::run_command("unshare --user true 2>/dev/null && echo yes").out != "yes\n") {
    BOOST_TEST_MESSAGE("no user namespace for an unprivileged reader (unshare --user): skipped");
    return;
  }
  const fs::path devices = "/sys/bus/pci/devices";
  std::vector<fs::path> functions;
  std::error_code list_error;
  for (const auto& entry : fs::directory_iterator(devices, list_error)) functions.push_back(entry.path());
  std::sort(functions.begin(), functions.end());
  std::string address;
  std::uintmax_t file_size = 0;
  for (const auto& function : functions) {
    // The first 64 bytes read for anyone: a function with a capability list (status bit 4) and a type 0
    // or 1 header (a CardBus bridge shows 128 bytes).
    std::array<unsigned char, 64> header{};
    std::ifstream in(function / "config", std::ios::binary);
    if (!in.read(reinterpret_cast<char*>(header.data()), header.size())) continue;
    const bool vendor_reads = header[0] != 0xFF || header[1] != 0xFF;
    if (vendor_reads && (header[0x06] & 0x10) != 0 && (header[0x0E] & 0x7F) <= 1) {
      address = function.filename().string();
      file_size = fs::file_size(function / "config");
      break;
    }
  }
  if (address.empty()) {
    BOOST_TEST_MESSAGE("no PCI function with a capability list under " << devices << ": skipped");
    return;
  }
  const std::string denied = "capabilities: access denied: only the first 64 of " + std::to_string(file_size) +
                             " bytes are readable (reading the rest needs CAP_SYS_ADMIN on the host: root there, not a container's root)";
  const std::string unprivileged = "VPCI_SYSFS_ROOT='" + devices.string() + "' unshare --user ";

  const auto r = run_inspect("--json " + address, unprivileged);
  BOOST_TEST(r.exit_status == 0, r.err);
  const json::value doc = json::parse(r.out);
  BOOST_TEST_REQUIRE(doc.as_array().size() == 1u);
  const auto& d = doc.as_array()[0];
  BOOST_TEST(d.at("size").as_int64() == 64);
  BOOST_TEST(d.at("capabilities").as_array().empty());  // the list starts at 0x40 or above: none was read
  BOOST_TEST(json::serialize(d.at("errors")) == json::serialize(json::array{json::string(denied)}), address);

  const auto human = run_inspect(address, unprivileged);
  BOOST_TEST(human.exit_status == 0, human.err);
  BOOST_TEST(human.out.find("  error: " + denied + "\n") != std::string::npos, human.out);
  BOOST_TEST(human.out.find("error:") == human.out.rfind("error:"), human.out);
}

BOOST_AUTO_TEST_SUITE_END()  // inspect_test
