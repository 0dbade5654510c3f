// vpci-inspect: what the config-space model sees in a PCI function, for a driver engineer pointing it at
// a device or at a customer's dump.
//
// The command line, what each option does and the exit statuses are help_text's (--help).
//
// A VF's Vendor and Device ID registers read ffff (PCIe SR-IOV); its IDs are its PF's vendor ID and the VF
// Device ID of the PF's SR-IOV capability, which only the OS names: through sysfs they are Linux's (the
// VF's vendor and device files, its physfn link naming the PF), as lspci shows them, and -d matches them;
// in a dump or from a vfio-user server they are unknown, and -d matches such a VF only with both parts
// empty. Either way the VF is reported as one ("virtual function"), not as a function that is absent.
// Prints the header, the standard and extended capabilities by offset, ID and lspci's name, the SR-IOV
// capability (the fields lspci -vvv shows: counts, Function Dependency Link, IOVCap, IOVCtl, IOVSta, page
// sizes, the VF BARs as lspci decodes them, the VF Migration State Array; and each VF's routing ID, marked
// "not enabled" while VF Enable is clear), VSECs and DVSECs (the fields lspci -vvv shows for them), a vpci
// mailbox window's live state when the function has one (the DVSEC with its own vendor ID, any on a VF,
// and DVSEC ID 0x5650: config::find_mailbox; the layout, epoch, control and the request with their
// reserved bits flagged, the request's and the acknowledged sequence, whether a request is pending, the
// latched and acknowledged invalidation masks, and what the registers say about a quarantine), and the
// free ranges of the extended space. The JSON output has the
// same fields; what the human output shows in hexadecimal (IDs, offsets, registers, masks, addresses) is a
// "0x..." string there, counts and sizes are numbers, what it calls unknown is null. Malformed content is
// listed under "errors" and the rest of the device is still printed; so is what sysfs did not show (the
// bytes past 64 to a reader without CAP_SYS_ADMIN, an Express function's extended space Linux cannot
// reach) and what a dump does not hold (it stops at 64 bytes with lspci -x, at 256 with lspci -xxx). None
// of these changes the exit status, which says whether the devices were read, not what they hold.
#include <algorithm>
#include <array>
#include <charconv>
#include <cctype>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <span>
#include <sstream>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <boost/asio/io_context.hpp>

#include <vpci/block/endian.hpp>
#include <vpci/config/capabilities.hpp>
#include <vpci/config/find_mailbox.hpp>
#include <vpci/config/header.hpp>
#include <vpci/config/placement.hpp>
#include <vpci/config/sriov.hpp>
#include <vpci/config/vsec.hpp>
#include <vpci/error.hpp>
#include <vpci/protocol/constants.hpp>
#include <vpci/protocol/ntstatus.hpp>
#include <vpci/transport/sysfs_config_space.hpp>
#include <vpci/transport/vfio_user_config_space.hpp>
#include <vpci/wire/mailbox.hpp>

#include "given_options.hpp"
#include "json_string.hpp"
#include "listed_functions.hpp"
#include "lspci_dump.hpp"
#include "quoted_text.hpp"

namespace {

using namespace vpci;
using vpci::tools::json_string;
using vpci::tools::quoted_text;

struct vsec_entry {
  std::uint16_t offset;
  std::uint16_t vsec_id;
  std::uint8_t revision;
  std::uint16_t length;
};

struct dvsec_entry {
  std::uint16_t offset;
  std::uint16_t vendor_id;
  std::uint16_t dvsec_id;
  std::uint8_t revision;
  std::uint16_t length;
};

// A vpci mailbox window (binding 1, layout 2) as its registers show it now (docs/protocol.md).
struct mailbox_report {
  std::size_t offset = 0;
  std::uint32_t identity = 0;
  std::uint32_t limits = 0;
  std::uint32_t control = 0;
  std::uint32_t request_block = 0;
  mailbox::request_word request;
  mailbox::status_word status;
  std::uint32_t result = 0;
  std::uint64_t latched = 0;
  std::uint64_t acknowledged = 0;
};

struct sriov_report {
  config::sriov_capability capability;
  std::vector<pci_address> vf_routing_ids;
};

// A virtual function. Its Vendor and Device ID registers read 0xFFFF (PCIe SR-IOV): its IDs are its PF's
// vendor ID and the VF Device ID of the PF's SR-IOV capability, which its own config space does not hold.
// Linux holds them (pdev->vendor and pdev->device, sysfs's vendor and device files, what lspci shows) and
// links the VF to its PF (physfn); from the bytes alone all three are unknown.
struct virtual_function {
  std::optional<pci_address> physical_function;
  std::optional<std::uint16_t> vendor_id;
  std::optional<std::uint16_t> device_id;
};

struct device_report {
  pci_address address;
  std::size_t size = 0;
  std::optional<config::standard_header> header;
  std::optional<virtual_function> vf;
  std::vector<config::capability> capabilities;
  std::vector<config::extended_capability> extended_capabilities;
  std::optional<sriov_report> sriov;
  std::vector<vsec_entry> vsecs;
  std::vector<dvsec_entry> dvsecs;
  std::optional<mailbox_report> mailbox;
  std::vector<config::free_range> free;
  std::vector<std::string> errors;
};

std::string hex(unsigned value, int width) {
  char buffer[16];
  std::snprintf(buffer, sizeof buffer, "%0*x", width, value);
  return buffer;
}

// lspci's names (pciutils 3.x, ls-caps.c and ls-ecaps.c), so a reader can match the two outputs. Checked
// against lspci 3.9 for every standard ID 01..16 and extended ID 0001..0035 (inspect_test,
// every_capability_id_is_named_as_lspci_names_it); what 3.9 does not name is shown by number, as it does.
std::string capability_name(std::uint8_t id) {
  switch (id) {
    case 0x00: return "Null";
    case 0x01: return "Power Management";
    case 0x02: return "AGP";
    case 0x03: return "Vital Product Data";
    case 0x04: return "Slot ID";
    case 0x05: return "MSI";
    case 0x06: return "CompactPCI hot-swap";
    case 0x07: return "PCI-X";
    case 0x08: return "HyperTransport";
    case 0x09: return "Vendor Specific Information";
    case 0x0A: return "Debug port";
    case 0x0B: return "CompactPCI central resource control";
    case 0x0C: return "Hot-plug capable";
    case 0x0D: return "Subsystem";
    case 0x0E: return "AGP3";
    case 0x0F: return "Secure device";
    case 0x10: return "Express";
    case 0x11: return "MSI-X";
    case 0x12: return "SATA HBA";
    case 0x13: return "PCI Advanced Features";
    case 0x14: return "Enhanced Allocation (EA)";
    default: return "Capability ID 0x" + hex(id, 0);
  }
}

std::string extended_capability_name(std::uint16_t id) {
  switch (id) {
    case 0x0000: return "Null";
    case 0x0001: return "Advanced Error Reporting";
    case 0x0002: return "Virtual Channel";
    case 0x0003: return "Device Serial Number";
    case 0x0004: return "Power Budgeting";
    case 0x0005: return "Root Complex Link";
    case 0x0006: return "Root Complex Internal Link";
    case 0x0007: return "Root Complex Event Collector Endpoint Association";
    case 0x0008: return "Multi-Function Virtual Channel";
    case 0x0009: return "Virtual Channel";
    case 0x000A: return "Root Complex Register Block";
    case 0x000B: return "Vendor Specific Information";
    case 0x000D: return "Access Control Services";
    case 0x000E: return "Alternative Routing-ID Interpretation (ARI)";
    case 0x000F: return "Address Translation Service (ATS)";
    case 0x0010: return "Single Root I/O Virtualization (SR-IOV)";
    case 0x0011: return "Multi-Root I/O Virtualization";
    case 0x0012: return "Multicast";
    case 0x0013: return "Page Request Interface (PRI)";
    case 0x0015: return "Physical Resizable BAR";
    case 0x0016: return "Dynamic Power Allocation";
    case 0x0017: return "Transaction Processing Hints";
    case 0x0018: return "Latency Tolerance Reporting";
    case 0x0019: return "Secondary PCI Express";
    case 0x001A: return "Protocol Multiplexing";
    case 0x001B: return "Process Address Space ID (PASID)";
    case 0x001C: return "LN Requester";
    case 0x001D: return "Downstream Port Containment";
    case 0x001E: return "L1 PM Substates";
    case 0x001F: return "Precision Time Measurement";
    case 0x0020: return "PCI Express over M_PHY";
    case 0x0021: return "FRS Queueing";
    case 0x0022: return "Readiness Time Reporting";
    case 0x0023: return "Designated Vendor-Specific";
    case 0x0024: return "Virtual Resizable BAR";
    case 0x0025: return "Data Link Feature";
    case 0x0026: return "Physical Layer 16.0 GT/s";
    case 0x0027: return "Lane Margining at the Receiver";
    case 0x0028: return "Hierarchy ID";
    case 0x0029: return "Native PCIe Enclosure Management";
    case 0x002E: return "Data Object Exchange";
    default: return "Extended Capability ID 0x" + hex(id, 0);
  }
}

// A VF BAR as the SR-IOV capability holds it, decoded as lspci -vvv decodes it (pciutils ls-ecaps.c
// cap_sriov): memory only (bit 0 is not looked at), the address in bits 31:4, prefetchable or not. A BAR
// reading 0 (the device has none there) or ffffffff (none implemented, or a function gone) is left out, and
// the BAR after it is read as one of its own. Memory type 10 is 64-bit and takes the next BAR's dword as its
// upper half; the reserved types 01 and 11 take none and are named as lspci names them in a header's BARs
// (lspci.c show_bases: "low-1M", "type 3"). A 64-bit BAR5 has no next BAR: it is shown as the device types
// it, with its upper half missing.
struct vf_bar {
  unsigned index = 0;
  std::uint64_t address = 0;
  unsigned memory_type = 0;  // bits 2:1: 00 32-bit, 10 64-bit, 01 and 11 reserved
  bool prefetchable = false;
  bool upper_half_missing = false;
  [[nodiscard]] bool is_64bit() const { return memory_type == 2; }
  [[nodiscard]] bool reserved_type() const { return memory_type == 1 || memory_type == 3; }
};

const char* memory_type_name(const vf_bar& bar) {
  switch (bar.memory_type) {
    case 0: return "32-bit";
    case 1: return "low-1M";
    case 2: return "64-bit";
    default: return "type 3";
  }
}

std::vector<vf_bar> decode_vf_bars(const std::array<std::uint32_t, 6>& raw) {
  std::vector<vf_bar> out;
  for (unsigned i = 0; i < raw.size(); ++i) {
    const std::uint32_t low = raw[i];
    if (low == 0 || low == 0xFFFFFFFFu) continue;
    vf_bar bar{i, low & ~std::uint64_t{0xF}, (low >> 1) & 3u, (low & 8u) != 0, false};
    if (bar.is_64bit()) {
      bar.upper_half_missing = i + 1 == raw.size();
      if (!bar.upper_half_missing) bar.address |= std::uint64_t{raw[++i]} << 32;
    }
    out.push_back(bar);
  }
  return out;
}

// What the mailbox registers say about the VF's last request and a quarantine (docs/protocol.md 4.2,
// 4.4): a sequence violation is answered STATUS_INVALID_DEVICE_REQUEST, whatever the request, and
// quarantines the VF. Outside a violation that status answers only an unknown operation or reserved bits
// (a bad length is STATUS_INVALID_PARAMETER), so for a read or write the window shows, it means a
// quarantine; for another request, or when the answer is the previous request's (one is pending), it is
// only "possible". A quarantined VF is answered STATUS_ACCESS_DENIED, which is also the answer for a
// read-only or another VF's block: "possible" too.
enum class request_state { uninitialised, idle, pending, answered };
enum class quarantine_state { no, yes, possible };

struct mailbox_verdict {
  request_state request = request_state::idle;
  quarantine_state quarantine = quarantine_state::no;
};

// Whether a header whose Vendor ID reads 0xFFFF is a VF's rather than no function's. A function that is not
// there (removed, or its link down) reads all ones in every register; a VF reads 0xFFFF in its Vendor and Device ID
// registers only (PCIe SR-IOV), the rest of its header is real: its revision and class code, and a type-0
// header type. So IDs of 0xFFFF are a VF's unless revision, class code and header type read all ones too.
// All three are looked at because none alone is impossible for a function that answers (class ff is
// "unassigned", a broken device may read header type ff), but none answers with all of them all ones.
bool reads_as_vf(const config::standard_header& h) {
  const bool rest_all_ones = h.revision_id == 0xFF && h.class_code() == 0xFFFFFF && h.header_type == 0xFF;
  return h.vendor_id == config::vf_vendor_id && h.device_id == 0xFFFF && !rest_all_ones;
}

// Where a config space was read. Only the source can say why it holds fewer bytes than the function has,
// and so whether what lies past them is missing from the reading rather than from the device.
struct config_source {
  enum class kind { sysfs, dump, vfio_user };
  kind from = kind::vfio_user;
  std::size_t file_size = 0;  // sysfs: the size of the function's config file
};

// Why the standard space was read only to `size` bytes; std::nullopt when all of it was read.
// Linux shows a reader without CAP_SYS_ADMIN only the first 64 bytes of the file (128 of a CardBus
// bridge's; pci-sysfs.c pci_read_config()), and the file keeps its size: lspci says "<access denied>". The
// capability counts in the initial user namespace only (file_ns_capable(&init_user_ns)): a container's
// root is shown 64 bytes too.
// lspci -x dumps the first 64 bytes.
std::optional<std::string> standard_space_not_read(const config_source& source, std::size_t size) {
  if (source.from == config_source::kind::sysfs && source.file_size > size)
    return "access denied: only the first " + std::to_string(size) + " of " + std::to_string(source.file_size) +
           " bytes are readable (reading the rest needs CAP_SYS_ADMIN on the host: root there, not a container's root)";
  if (source.from == config_source::kind::dump && size < config::conventional_space_size)
    return "not read: the dump stops at " + std::to_string(size) + " bytes (lspci -xxx dumps the " +
           std::to_string(config::conventional_space_size) + " bytes of the standard space, lspci -xxxx all " +
           std::to_string(config::extended_space_size) + ")";
  return std::nullopt;
}

// Why a PCI Express function's extended space was not read; std::nullopt when it was. Linux gives an Express
// function a 256-byte file when it cannot reach the extended space (a read at 0x100 fails, reads all ones
// or aliases 0x00: probe.c pci_cfg_space_size_ext(); no ECAM, pci=nommconf, a VF in a guest without one).
// lspci -xxx dumps 256 bytes. Either way its extended capabilities, a mailbox window among them, are unseen,
// not absent.
std::optional<std::string> extended_space_not_read(const config_source& source, std::size_t size) {
  if (source.from == config_source::kind::sysfs && source.file_size == config::conventional_space_size)
    return "not read: the config space is " + std::to_string(source.file_size) +
           " bytes (the system gives no access to extended space)";
  if (source.from == config_source::kind::dump && size < config::extended_space_size)
    return "not read: the dump stops at " + std::to_string(size) + " bytes (lspci -xxxx dumps the extended space)";
  return std::nullopt;
}

// `sysfs_vf` is what sysfs says of a VF (no other source knows a VF's IDs); any other function whose header
// reads_as_vf is a VF with unknown IDs.
device_report analyse(const pci_address& address, std::span<const std::byte> space, const config_source& source,
                      std::optional<virtual_function> sysfs_vf = std::nullopt) {
  device_report r;
  r.address = address;
  r.size = space.size();
  r.vf = std::move(sysfs_vf);
  auto header = config::decode_header(space);
  if (!header) {
    r.errors.push_back("header: only " + std::to_string(space.size()) + " bytes (" + describe(header.error()) + ")");
    return r;
  }
  r.header = *header;
  const bool vf_header = reads_as_vf(*header);
  if (!r.vf && vf_header) r.vf = virtual_function{};
  // Both read as all ones; lspci says "Unknown header type" for the second and reads no capability. A VF
  // that sysfs names but that reads all ones is gone (VF Enable cleared behind Linux's back, surprise
  // removal, a link down): a reset Linux performs blocks a sysfs reader rather than showing all ones.
  if (!header->present() && !vf_header)
    r.errors.push_back("header: vendor ID " + hex(header->vendor_id, 4) + ": no function answers here (absent, removed or unreachable)");
  if (!header->known_layout())
    r.errors.push_back("header: unknown header type " + hex(header->layout(), 2) +
                       " (layouts 00 to 02 are defined): its capability list is not read");

  const auto walk = config::walk_capabilities(space);
  r.capabilities.assign(walk.entries.begin(), walk.entries.end());
  // A list leading past the bytes read was not read, it is not broken. What lies past them (the extended
  // space, a mailbox window, the free ranges) was not read either, so the report ends with the standard
  // capabilities.
  const auto standard_cut = standard_space_not_read(source, space.size());
  if (walk.error != no_error && header->known_layout()) {
    if (standard_cut && walk.error == errc::out_of_range) {
      r.errors.push_back("capabilities: " + *standard_cut);
    } else {
      const std::string after = walk.entries.empty() ? "at the capability pointer"
                                                     : "after [" + hex(walk.entries.end()[-1].offset, 2) + "]";
      r.errors.push_back("capabilities: " + after + ": " + describe(walk.error));
    }
  }
  if (standard_cut) return r;
  // Only a PCI Express or PCI-X function has an extended space (what a snapshot holds above 0x100 of any
  // other is not one, and the OS does not read it), so lspci shows extended capabilities only after one of
  // those two; so does this, saying so when the snapshot holds something there.
  const auto has_capability = [&](std::uint8_t id) {
    return std::any_of(walk.entries.begin(), walk.entries.end(), [id](const config::capability& c) { return c.id == id; });
  };
  const bool express = has_capability(config::capability_id::pci_express);
  if (!express && !has_capability(config::capability_id::pci_x)) {
    if (!config::extended_list_empty(space))
      r.errors.push_back("extended capabilities: not read: no PCI Express or PCI-X capability, so no extended space");
    return r;
  }
  // PCI-X has an extended space only in its 266 and 533 MHz modes, which this does not judge: no error there.
  if (const auto extended_cut = extended_space_not_read(source, space.size()); express && extended_cut) {
    r.errors.push_back("extended capabilities: " + *extended_cut);
    return r;
  }

  const auto ext = config::walk_extended_capabilities(space);
  r.extended_capabilities.assign(ext.entries.begin(), ext.entries.end());
  if (config::extended_space_aliases_header(space)) {
    r.errors.push_back("extended capabilities: none: from [100] on, every 256 bytes repeat the header's first dword "
                       "(no extended space: Linux sizes such a config space at 256 bytes, pci_ext_cfg_is_aliased)");
  } else if (ext.error != no_error) {
    const std::string after = ext.entries.empty() ? "at [100]" : "after [" + hex(ext.entries.end()[-1].offset, 3) + "]";
    r.errors.push_back("extended capabilities: " + after + ": " + describe(ext.error));
  }

  for (const auto& cap : ext.entries) {
    const std::string where = "[" + hex(cap.offset, 3) + "]";
    if (cap.id == config::extended_capability_id::vendor_specific) {
      if (auto v = config::decode_vsec(space, cap.offset))
        r.vsecs.push_back({v->offset, v->vsec_id, v->vsec_revision, v->length});
      else
        r.errors.push_back("vsec " + where + ": " + describe(v.error()));
    } else if (cap.id == config::extended_capability_id::designated_vendor_specific) {
      if (auto d = config::decode_dvsec(space, cap.offset))
        r.dvsecs.push_back({d->offset, d->vendor_id, d->dvsec_id, d->revision, d->length});
      else
        r.errors.push_back("dvsec " + where + ": " + describe(d.error()));
    } else if (cap.id == config::extended_capability_id::sriov && r.sriov) {
      // A function has one: which of two would the OS use? Linux takes the first, as this tool does.
      r.errors.push_back("sriov " + where + ": a second SR-IOV capability (only the first, at [" +
                         hex(r.sriov->capability.offset, 3) + "], is read)");
    } else if (cap.id == config::extended_capability_id::sriov) {
      auto s = config::decode_sriov(space, cap.offset);
      if (!s) {
        r.errors.push_back("sriov " + where + ": " + describe(s.error()));
        continue;
      }
      sriov_report report{*s, {}};
      if (s->num_vfs_exceeds_total_vfs())
        r.errors.push_back("sriov: NumVFs " + std::to_string(s->num_vfs) + " exceeds TotalVFs " + std::to_string(s->total_vfs));
      if (s->zero_stride_with_multiple_vfs())
        r.errors.push_back("sriov: VF Stride 0 with NumVFs " + std::to_string(s->num_vfs));
      if (s->zero_first_vf_offset())
        r.errors.push_back("sriov: First VF Offset 0 with NumVFs " + std::to_string(s->num_vfs) + ": VF 0 would be the PF");
      for (const auto& bar : decode_vf_bars(s->vf_bars)) {
        if (bar.upper_half_missing)
          r.errors.push_back("sriov: VF BAR" + std::to_string(bar.index) + " is 64-bit but is the last BAR: no upper half");
        if (bar.reserved_type())
          r.errors.push_back("sriov: VF BAR" + std::to_string(bar.index) + " has the reserved memory type " +
                             (bar.memory_type == 1 ? "01" : "11") + " (bits 2:1; 00 is 32-bit, 10 64-bit)");
      }
      const config::routing_id pf{address.routing_id()};
      for (std::uint16_t n = 0; n < s->num_vfs; ++n) {
        auto rid = config::vf_routing_id(pf, *s, n);
        if (!rid) {
          // The zero offset and the zero stride (malformed_message) are reported once, above.
          if (rid.error() == errc::out_of_range)
            r.errors.push_back("sriov: VF " + std::to_string(n) + " and above: routing IDs past bus ff");
          else if (rid.error() != errc::malformed_message)
            r.errors.push_back("sriov: VF " + std::to_string(n) + " routing ID: " + describe(rid.error()));
          break;
        }
        report.vf_routing_ids.push_back({address.domain, rid->bus(), rid->device(), rid->function()});
      }
      r.sriov = std::move(report);
    }
  }

  // The mailbox window under vpci's default names; one with those names that this tool cannot read is an
  // error (a broken list was reported above).
  if (auto window = config::find_mailbox(space)) {
    if (*window + mailbox::window_size > space.size()) {
      r.errors.push_back("mailbox [" + hex(static_cast<unsigned>(*window), 3) + "]: the window runs past the snapshot");
    } else {
      const auto at = [&](std::uint16_t reg) { return le::load_u32(space.data() + *window + reg); };
      mailbox_report m;
      m.offset = *window;
      m.identity = at(mailbox::reg::identity);
      m.limits = at(mailbox::reg::limits);
      m.control = at(mailbox::reg::control);
      m.request_block = at(mailbox::reg::request_block);
      m.request = mailbox::decode_request(at(mailbox::reg::request));
      m.status = mailbox::decode_status(at(mailbox::reg::status));
      m.result = at(mailbox::reg::result);
      m.latched = at(mailbox::reg::invalidate_mask_low) | std::uint64_t{at(mailbox::reg::invalidate_mask_high)} << 32;
      m.acknowledged = at(mailbox::reg::invalidate_ack_low) | std::uint64_t{at(mailbox::reg::invalidate_ack_high)} << 32;
      r.mailbox = m;
    }
  } else if (window.error() == errc::revision_mismatch || window.error() == errc::not_supported) {
    r.errors.push_back(std::string("mailbox: a DVSEC with vpci's names that is no layout-2 window: ") + describe(window.error()));
  } else if (window.error() == errc::malformed_message) {
    r.errors.push_back("mailbox: a DVSEC with vpci's names that another capability occupies bytes of: no window");
  }

  // A broken extended list was reported above; its free space is unknown, so none is listed.
  if (auto map = config::find_free_space(space)) r.free.assign(map->begin(), map->end());
  return r;
}

std::string operation_name(std::uint8_t operation) {
  switch (operation) {
    case static_cast<std::uint8_t>(mailbox::operation::read): return "read";
    case static_cast<std::uint8_t>(mailbox::operation::write): return "write";
    default: return "operation " + std::to_string(operation);
  }
}

// The mailbox's capability bits by name (unknown bits as one "0x...." entry).
std::vector<std::string> capability_list(std::uint16_t caps) {
  std::vector<std::string> out;
  if ((caps & mailbox::capability::invalidation) != 0) out.emplace_back("invalidation");
  if ((caps & mailbox::capability::signal) != 0) out.emplace_back("signal");
  if ((caps & mailbox::capability::heartbeat) != 0) out.emplace_back("heartbeat");
  const auto unknown = static_cast<std::uint16_t>(
      caps & ~(mailbox::capability::invalidation | mailbox::capability::signal | mailbox::capability::heartbeat));
  if (unknown != 0) out.push_back("0x" + hex(unknown, 4));
  return out;
}

std::string capability_names(std::uint16_t caps) {
  std::string out;
  for (const auto& name : capability_list(caps)) out += " " + name;
  return out.empty() ? " none" : out;
}

// Bits 31:2 of control are reserved (docs/protocol.md): a VF that sets them breaks the protocol, flagged as
// the request's reserved bits are.
bool control_reserved_bits(const mailbox_report& m) { return (m.control & ~mailbox::control_defined) != 0; }

mailbox_verdict judge(const mailbox_report& m) {
  mailbox_verdict v;
  // Epoch 0: no PF has initialised the window (docs/protocol.md 2): nothing in it is an answer yet.
  if (m.status.epoch == 0) {
    v.request = request_state::uninitialised;
    return v;
  }
  if (m.request.sequence != 0) v.request = m.request.sequence == m.status.ack ? request_state::answered : request_state::pending;
  const bool known_operation = !m.request.reserved_bits && (m.request.operation == static_cast<std::uint8_t>(mailbox::operation::read) ||
                                                             m.request.operation == static_cast<std::uint8_t>(mailbox::operation::write));
  if (!m.status.failed) return v;
  if (m.result == static_cast<std::uint32_t>(ntstatus::invalid_device_request))
    v.quarantine = known_operation && v.request == request_state::answered ? quarantine_state::yes : quarantine_state::possible;
  else if (m.result == static_cast<std::uint32_t>(ntstatus::access_denied))
    v.quarantine = quarantine_state::possible;
  return v;
}

const char* request_state_name(request_state s) {
  switch (s) {
    case request_state::uninitialised: return "uninitialised";
    case request_state::idle: return "idle";
    case request_state::pending: return "pending";
    case request_state::answered: return "answered";
  }
  return "?";
}
const char* quarantine_name(quarantine_state s) {
  switch (s) {
    case quarantine_state::no: return "no";
    case quarantine_state::yes: return "yes";
    case quarantine_state::possible: return "possible";
  }
  return "?";
}
std::string quarantine_text(quarantine_state s, std::uint32_t result) {
  switch (s) {
    case quarantine_state::no: return "no";
    case quarantine_state::yes:
      return "yes (a sequence violation: the PF refuses every request until a mailbox reset or an FLR)";
    case quarantine_state::possible:
      if (result == static_cast<std::uint32_t>(ntstatus::invalid_device_request))
        return "possible (STATUS_INVALID_DEVICE_REQUEST: an unknown operation or reserved bits, or a sequence violation)";
      return "possible (STATUS_ACCESS_DENIED: a read-only or another VF's block, or a quarantined VF)";
  }
  return "?";
}

void print_mailbox(const mailbox_report& m) {
  const auto caps = static_cast<std::uint16_t>(m.identity >> 16);
  std::printf("  mailbox [%03zx]: layout %u, capabilities%s, max block %u, data %u dwords, heartbeat %u ms\n", m.offset,
              m.identity & 0xFFFFu, capability_names(caps).c_str(), m.limits & 0xFFu, (m.limits >> 8) & 0xFFu,
              m.limits >> 16);
  std::printf("    control %08x%s%s%s\n", m.control, (m.control & mailbox::control_reset) != 0 ? " RESET" : "",
              (m.control & mailbox::control_signal) != 0 ? " SIGNAL" : "",
              control_reserved_bits(m) ? ", reserved bits set" : "");
  std::printf("    request: sequence %u, block %08x, length %u, %s%s\n", m.request.sequence, m.request_block,
              m.request.length, operation_name(m.request.operation).c_str(), m.request.reserved_bits ? ", reserved bits set" : "");
  std::printf("    status: epoch %u, acknowledged %u, count %u, heartbeat %u%s%s; result %08x\n", m.status.epoch,
              m.status.ack, m.status.count, m.status.heartbeat, m.status.failed ? ", FAILED" : "",
              m.status.invalidated ? ", INVALIDATED" : "", m.result);
  std::printf("    invalidations: latched %016llx, acknowledged %016llx\n", static_cast<unsigned long long>(m.latched),
              static_cast<unsigned long long>(m.acknowledged));
  const auto verdict = judge(m);
  std::string request;
  switch (verdict.request) {
    case request_state::uninitialised:
      request = "not initialised by a PF (epoch 0): not usable yet";
      break;
    case request_state::idle: request = "idle (no request since the window was reset)"; break;
    case request_state::pending:
      request = "request " + std::to_string(m.request.sequence) + " pending (the PF has acknowledged " +
                std::to_string(m.status.ack) + ")";
      break;
    case request_state::answered: request = "request " + std::to_string(m.request.sequence) + " answered"; break;
  }
  std::printf("    state: %s; quarantine: %s\n", request.c_str(), quarantine_text(verdict.quarantine, m.result).c_str());
}

const char* flag(bool on) { return on ? "+" : "-"; }

// SR-IOV register bits lspci -vvv shows that vpci/config/sriov.hpp does not name (pciutils' header.h:
// PCI_IOV_CAP_VF_10BIT_TAG_REQ, PCI_IOV_CTRL_VF_10BIT_TAG_REQ_EN; PCIe 4.0's VF 10-Bit Tag Requester
// Supported and Enable), and the VF Migration State Array Offset's fields (PCI_IOV_MSA_BIR, _OFFSET).
bool vf_10bit_tag_requester_supported(const config::sriov_capability& s) {
  return (s.capabilities & config::sriov_capabilities::vf_10bit_tag_requester_supported) != 0;
}
bool vf_10bit_tag_requester_enable(const config::sriov_capability& s) {
  return (s.control & config::sriov_control::vf_10bit_tag_requester_enable) != 0;
}
bool vf_migration_enable(const config::sriov_capability& s) {
  return (s.control & config::sriov_control::vf_migration_enable) != 0;
}
bool vf_migration_interrupt_enable(const config::sriov_capability& s) {
  return (s.control & config::sriov_control::vf_migration_interrupt_enable) != 0;
}
std::uint32_t migration_state_offset(const config::sriov_capability& s) {
  return s.vf_migration_state_array_offset & ~config::vf_migration_state_bir_mask;
}
unsigned migration_state_bir(const config::sriov_capability& s) {
  return s.vf_migration_state_array_offset & config::vf_migration_state_bir_mask;
}

// The fields and flags lspci -vvv shows (ls-ecaps.c cap_sriov), under its names where it names a flag.
void print_sriov(const sriov_report& report) {
  const auto& s = report.capability;
  std::printf("  sr-iov [%03x]: InitialVFs %u TotalVFs %u NumVFs %u First VF Offset %u VF Stride %u VF Device ID %04x "
              "Function Dependency Link %02x\n",
              s.offset, s.initial_vfs, s.total_vfs, s.num_vfs, s.first_vf_offset, s.vf_stride, s.vf_device_id,
              s.function_dependency_link);
  std::printf("    IOVCap %08x: Migration%s 10BitTagReq%s Interrupt Message Number %03x\n", s.capabilities,
              flag(s.vf_migration_capable()), flag(vf_10bit_tag_requester_supported(s)),
              s.vf_migration_interrupt_message_number());
  std::printf("    IOVCtl %04x: VF Enable%s Migration%s Interrupt%s VF MSE%s ARIHierarchy%s 10BitTagReq%s; IOVSta %04x: "
              "Migration%s\n",
              s.control, flag(s.vf_enable()), flag(vf_migration_enable(s)), flag(vf_migration_interrupt_enable(s)),
              flag(s.vf_memory_space_enable()), flag(s.ari_capable_hierarchy()), flag(vf_10bit_tag_requester_enable(s)),
              s.status, flag((s.status & 1u) != 0));
  std::printf("    Supported Page Size %08x, System Page Size %08x\n", s.supported_page_sizes, s.system_page_size);
  for (const auto& bar : decode_vf_bars(s.vf_bars))
    std::printf("    VF BAR%u: memory at %0*llx (%s, %sprefetchable)\n", bar.index, bar.is_64bit() ? 16 : 8,
                static_cast<unsigned long long>(bar.address), memory_type_name(bar), bar.prefetchable ? "" : "non-");
  std::printf("    VF Migration: offset %08x, BIR %u\n", migration_state_offset(s), migration_state_bir(s));
  const char* enabled = s.vf_enable() ? "" : " (not enabled)";
  for (std::size_t n = 0; n < report.vf_routing_ids.size(); ++n)
    std::printf("    VF %zu: %s%s\n", n, report.vf_routing_ids[n].to_string().c_str(), enabled);
}

void print_human(const device_report& r) {
  std::printf("%s", r.address.to_string().c_str());
  if (r.header) {
    const auto& h = *r.header;
    std::printf("  vendor %04x device %04x class %06x rev %02x header type %02x  (%zu bytes)\n", h.vendor_id,
                h.device_id, h.class_code(), h.revision_id, h.header_type, r.size);
  } else {
    std::printf("  (%zu bytes)\n", r.size);
  }
  if (r.vf) {
    const auto id = [](const std::optional<std::uint16_t>& value) { return value ? hex(*value, 4) : "unknown"; };
    std::printf("  virtual function: PF %s, vendor %s device %s (a VF's vendor and device ID registers read ffff: its "
                "IDs are its PF's vendor and VF Device ID, which sysfs names)\n",
                r.vf->physical_function ? r.vf->physical_function->to_string().c_str() : "unknown",
                id(r.vf->vendor_id).c_str(), id(r.vf->device_id).c_str());
  }
  if (!r.capabilities.empty()) {
    std::printf("  capabilities:\n");
    for (const auto& c : r.capabilities) std::printf("    [%02x] %s (id %02x)\n", c.offset, capability_name(c.id).c_str(), c.id);
  }
  if (!r.extended_capabilities.empty()) {
    std::printf("  extended capabilities:\n");
    for (const auto& c : r.extended_capabilities)
      std::printf("    [%03x v%u] %s (id %04x)\n", c.offset, c.version, extended_capability_name(c.id).c_str(), c.id);
  }
  if (r.sriov) print_sriov(*r.sriov);
  for (const auto& v : r.vsecs)
    std::printf("  vsec [%03x]: id %04x rev %u length %u\n", v.offset, v.vsec_id, v.revision, v.length);
  for (const auto& d : r.dvsecs)
    std::printf("  dvsec [%03x]: vendor %04x id %04x rev %u length %u\n", d.offset, d.vendor_id, d.dvsec_id, d.revision,
                d.length);
  if (r.mailbox) print_mailbox(*r.mailbox);
  if (!r.free.empty()) {
    std::printf("  free:");
    for (const auto& f : r.free) std::printf(" [%03x, %03x)", f.start, f.end);
    std::printf("\n");
  }
  for (const auto& e : r.errors) std::printf("  error: %s\n", e.c_str());
}

// JSON: hexadecimal values as "0x..." strings (the digits the human output shows), counts as numbers.
std::string hex_json(std::uint64_t value, int width) {
  char buffer[24];
  std::snprintf(buffer, sizeof buffer, "\"0x%0*llx\"", width, static_cast<unsigned long long>(value));
  return buffer;
}
std::string boolean_json(bool b) { return b ? "true" : "false"; }

template <class T, class Format>
std::string json_array(const std::vector<T>& items, Format format) {
  std::string out = "[";
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i != 0) out += ',';
    out += format(items[i]);
  }
  return out + "]";
}

std::string sriov_json(const sriov_report& report) {
  const auto& s = report.capability;
  std::string j = "{\"offset\":" + hex_json(s.offset, 3) + ",\"initial_vfs\":" + std::to_string(s.initial_vfs) +
                  ",\"total_vfs\":" + std::to_string(s.total_vfs) + ",\"num_vfs\":" + std::to_string(s.num_vfs) +
                  ",\"first_vf_offset\":" + std::to_string(s.first_vf_offset) + ",\"vf_stride\":" + std::to_string(s.vf_stride) +
                  ",\"vf_device_id\":" + hex_json(s.vf_device_id, 4) +
                  ",\"function_dependency_link\":" + hex_json(s.function_dependency_link, 2) +
                  ",\"capabilities\":" + hex_json(s.capabilities, 8) +
                  ",\"vf_migration_capable\":" + boolean_json(s.vf_migration_capable()) +
                  ",\"vf_10bit_tag_requester_supported\":" + boolean_json(vf_10bit_tag_requester_supported(s)) +
                  ",\"vf_migration_interrupt_message_number\":" + hex_json(s.vf_migration_interrupt_message_number(), 3) +
                  ",\"control\":" + hex_json(s.control, 4) + ",\"vf_enable\":" + boolean_json(s.vf_enable()) +
                  ",\"vf_migration_enable\":" + boolean_json(vf_migration_enable(s)) +
                  ",\"vf_migration_interrupt_enable\":" + boolean_json(vf_migration_interrupt_enable(s)) +
                  ",\"vf_memory_space_enable\":" + boolean_json(s.vf_memory_space_enable()) +
                  ",\"ari_capable_hierarchy\":" + boolean_json(s.ari_capable_hierarchy()) +
                  ",\"vf_10bit_tag_requester_enable\":" + boolean_json(vf_10bit_tag_requester_enable(s)) +
                  ",\"status\":" + hex_json(s.status, 4) +
                  ",\"vf_migration_status\":" + boolean_json((s.status & 1u) != 0) +
                  ",\"supported_page_sizes\":" + hex_json(s.supported_page_sizes, 8) +
                  ",\"system_page_size\":" + hex_json(s.system_page_size, 8);
  j += ",\"vf_migration_state\":{\"offset\":" + hex_json(migration_state_offset(s), 8) +
       ",\"bir\":" + std::to_string(migration_state_bir(s)) + "}";
  j += ",\"vf_bars\":" + json_array(decode_vf_bars(s.vf_bars), [](const vf_bar& b) {
    return "{\"bar\":" + std::to_string(b.index) + ",\"address\":" + hex_json(b.address, b.is_64bit() ? 16 : 8) +
           ",\"64bit\":" + boolean_json(b.is_64bit()) + ",\"type\":" + json_string(memory_type_name(b)) +
           ",\"prefetchable\":" + boolean_json(b.prefetchable) + "}";
  });
  std::vector<std::size_t> indices(report.vf_routing_ids.size());
  for (std::size_t n = 0; n < indices.size(); ++n) indices[n] = n;
  j += ",\"vfs\":" + json_array(indices, [&](std::size_t n) {
    return "{\"vf\":" + std::to_string(n) + ",\"routing_id\":" + json_string(report.vf_routing_ids[n].to_string()) +
           ",\"enabled\":" + boolean_json(s.vf_enable()) + "}";
  });
  return j + "}";
}

std::string mailbox_json(const mailbox_report& m) {
  const auto verdict = judge(m);
  return "{\"offset\":" + hex_json(m.offset, 3) + ",\"layout\":" + std::to_string(m.identity & 0xFFFFu) +
         ",\"capabilities\":" + hex_json(m.identity >> 16, 4) + ",\"capability_names\":" +
         json_array(capability_list(static_cast<std::uint16_t>(m.identity >> 16)), json_string) + ",\"max_block\":" + std::to_string(m.limits & 0xFFu) +
         ",\"data_dwords\":" + std::to_string((m.limits >> 8) & 0xFFu) + ",\"heartbeat_ms\":" + std::to_string(m.limits >> 16) +
         ",\"control\":" + hex_json(m.control, 8) + ",\"reset\":" + boolean_json((m.control & mailbox::control_reset) != 0) +
         ",\"signal\":" + boolean_json((m.control & mailbox::control_signal) != 0) +
         ",\"control_reserved_bits\":" + boolean_json(control_reserved_bits(m)) +
         ",\"request\":{\"sequence\":" + std::to_string(m.request.sequence) +
         ",\"block\":" + hex_json(m.request_block, 8) + ",\"length\":" + std::to_string(m.request.length) +
         ",\"operation\":" + json_string(operation_name(m.request.operation)) +
         ",\"reserved_bits\":" + boolean_json(m.request.reserved_bits) + "},\"status\":{\"epoch\":" +
         std::to_string(m.status.epoch) + ",\"acknowledged\":" + std::to_string(m.status.ack) +
         ",\"count\":" + std::to_string(m.status.count) + ",\"heartbeat\":" + std::to_string(m.status.heartbeat) +
         ",\"failed\":" + boolean_json(m.status.failed) + ",\"invalidated\":" + boolean_json(m.status.invalidated) +
         "},\"result\":" + hex_json(m.result, 8) + ",\"invalidations\":{\"latched\":" + hex_json(m.latched, 16) +
         ",\"acknowledged\":" + hex_json(m.acknowledged, 16) + "},\"state\":" +
         json_string(request_state_name(verdict.request)) + ",\"quarantine\":" + json_string(quarantine_name(verdict.quarantine)) +
         "}";
}

std::string virtual_function_json(const virtual_function& vf) {
  const auto id = [](const std::optional<std::uint16_t>& value) { return value ? hex_json(*value, 4) : "null"; };
  return "{\"physical_function\":" + (vf.physical_function ? json_string(vf.physical_function->to_string()) : "null") +
         ",\"vendor\":" + id(vf.vendor_id) + ",\"device\":" + id(vf.device_id) + "}";
}

std::string to_json(const device_report& r) {
  std::string j = "{\"address\":" + json_string(r.address.to_string());
  j += ",\"size\":" + std::to_string(r.size);
  j += ",\"vendor\":" + (r.header ? hex_json(r.header->vendor_id, 4) : "null");
  j += ",\"device\":" + (r.header ? hex_json(r.header->device_id, 4) : "null");
  j += ",\"class\":" + (r.header ? hex_json(r.header->class_code(), 6) : "null");
  j += ",\"revision\":" + (r.header ? hex_json(r.header->revision_id, 2) : "null");
  j += ",\"header_type\":" + (r.header ? hex_json(r.header->header_type, 2) : "null");
  j += ",\"virtual_function\":" + (r.vf ? virtual_function_json(*r.vf) : "null");
  j += ",\"capabilities\":" + json_array(r.capabilities, [](const config::capability& c) {
    return "{\"offset\":" + hex_json(c.offset, 2) + ",\"id\":" + hex_json(c.id, 2) +
           ",\"name\":" + json_string(capability_name(c.id)) + "}";
  });
  j += ",\"extended_capabilities\":" + json_array(r.extended_capabilities, [](const config::extended_capability& c) {
    return "{\"offset\":" + hex_json(c.offset, 3) + ",\"id\":" + hex_json(c.id, 4) + ",\"version\":" +
           std::to_string(c.version) + ",\"name\":" + json_string(extended_capability_name(c.id)) + "}";
  });
  j += ",\"sriov\":" + (r.sriov ? sriov_json(*r.sriov) : "null");
  j += ",\"vsecs\":" + json_array(r.vsecs, [](const vsec_entry& v) {
    return "{\"offset\":" + hex_json(v.offset, 3) + ",\"vsec_id\":" + hex_json(v.vsec_id, 4) +
           ",\"revision\":" + std::to_string(v.revision) + ",\"length\":" + std::to_string(v.length) + "}";
  });
  j += ",\"dvsecs\":" + json_array(r.dvsecs, [](const dvsec_entry& d) {
    return "{\"offset\":" + hex_json(d.offset, 3) + ",\"vendor_id\":" + hex_json(d.vendor_id, 4) +
           ",\"dvsec_id\":" + hex_json(d.dvsec_id, 4) + ",\"revision\":" + std::to_string(d.revision) +
           ",\"length\":" + std::to_string(d.length) + "}";
  });
  j += ",\"mailbox\":" + (r.mailbox ? mailbox_json(*r.mailbox) : "null");
  j += ",\"free\":" + json_array(r.free, [](const config::free_range& f) {
    // Appended, not "[" + ...: g++ 12 at -O3 reports a false -Wrestrict for a literal + string&& here.
    std::string pair = "[";
    pair += hex_json(f.start, 3);
    pair += ',';
    pair += hex_json(f.end, 3);
    return pair + "]";
  });
  j += ",\"errors\":" + json_array(r.errors, [](const std::string& e) { return json_string(e); });
  return j + "}";
}

// The directory of the PCI functions: /sys/bus/pci/devices, or VPCI_SYSFS_ROOT when set.
std::filesystem::path sysfs_root() {
  const char* root = std::getenv("VPCI_SYSFS_ROOT");
  return root != nullptr && *root != '\0' ? root : "/sys/bus/pci/devices";
}

// An ID as Linux writes it to a sysfs vendor or device file ("0x8086\n").
std::optional<std::uint16_t> read_sysfs_id(const std::filesystem::path& file) {
  std::ifstream in(file);
  std::string text;
  if (!(in >> text) || text.size() < 3 || text.size() > 6 || text.rfind("0x", 0) != 0) return std::nullopt;
  unsigned value = 0;
  const char* end = text.data() + text.size();
  const auto parsed = std::from_chars(text.data() + 2, end, value, 16);
  if (parsed.ec != std::errc{} || parsed.ptr != end) return std::nullopt;
  return static_cast<std::uint16_t>(value);
}

// What sysfs says of the function in `directory` if it is a VF (Linux gives every VF a physfn link to its
// PF); std::nullopt for any other function. An ID file that does not read is an unknown ID.
std::optional<virtual_function> sysfs_virtual_function(const std::filesystem::path& directory) {
  std::error_code ec;
  const auto physfn = std::filesystem::read_symlink(directory / "physfn", ec);
  if (ec) return std::nullopt;
  return virtual_function{pci_address::parse(physfn.filename().string()), read_sysfs_id(directory / "vendor"),
                          read_sysfs_id(directory / "device")};
}

// Reads the whole readable config space of one device through the read-only sysfs transport.
bool read_device(boost::asio::io_context& io, const std::filesystem::path& root, const std::string& address_text,
                 std::vector<device_report>& out) {
  const auto address = pci_address::parse(address_text);
  if (!address) {
    std::fprintf(stderr, "vpci-inspect: %s is not a PCI address (DDDD:BB:DD.F)\n", quoted_text(address_text).c_str());
    return false;
  }
  const auto directory = root / address->to_string();
  const auto config_file = (directory / "config").string();
  sysfs_config_space space{io.get_executor()};
  boost::system::error_code ec;
  space.open(config_file, access_mode::read_only, ec);
  std::vector<std::byte> bytes(space.size());
  if (!ec && !bytes.empty()) space.read(0, bytes, ec);
  if (ec || bytes.empty()) {
    std::fprintf(stderr, "vpci-inspect: cannot read %s: %s\n", quoted_text(config_file).c_str(),
                 ec ? ec.message().c_str() : "nothing readable");
    return false;
  }
  out.push_back(analyse(*address, bytes, {config_source::kind::sysfs, space.file_size()}, sysfs_virtual_function(directory)));
  return true;
}

// Reads the whole config space of the device a vfio-user server emulates (region 7 over the socket). What
// failed, if it did: a set-up error, there is no other device.
std::optional<std::string> read_vfio_user(const std::string& socket, std::vector<device_report>& out) {
  boost::asio::io_context io;
  vfio_user_config_space space{io.get_executor()};
  boost::system::error_code ec;
  space.connect(socket, ec);
  std::vector<std::byte> bytes(space.size());
  if (!ec) space.read(0, bytes, ec);
  if (ec) return "cannot read vfio-user " + quoted_text(socket) + ": " + ec.message();
  out.push_back(analyse(pci_address{}, bytes, {config_source::kind::vfio_user}));
  return std::nullopt;
}

// What --help prints: the command line, every option and the exit statuses.
constexpr const char* help_text =
    "usage: vpci-inspect [--json] [-d FILTER] [DDDD:BB:DD.F ...]   devices through sysfs, read-only (none named: all)\n"
    "       vpci-inspect [--json] [-d FILTER] --dump FILE         the devices of an lspci -x, -xxx or -xxxx dump\n"
    "       vpci-inspect [--json] --vfio-user SOCKET              the device a vfio-user server emulates\n"
    "\n"
    "Prints each device's header, its capabilities and extended capabilities under lspci's names, SR-IOV (the\n"
    "fields lspci -vvv shows, and each VF's routing ID), VSECs and DVSECs, a vpci mailbox window's live state\n"
    "and the free ranges of the extended space. What is malformed in a device's bytes, and what was not read,\n"
    "is listed as its errors; the rest of the device is still printed.\n"
    "\n"
    "  DDDD:BB:DD.F        a function under /sys/bus/pci/devices ($VPCI_SYSFS_ROOT when set): a domain of 4 to\n"
    "                      8 hex digits, or BB:DD.F in domain 0000. None named: every function there; one\n"
    "                      named twice (03:00.0 and 0000:03:00.0 too) is a usage error\n"
    "  --dump FILE         the devices of a text dump of lspci -x (64 bytes a device), -xxx (256) or -xxxx\n"
    "                      (4096); a device whose dump stops before its config space ends says so; a line\n"
    "                      past 4096 bytes is refused, as lspci -F refuses it\n"
    "  --vfio-user SOCKET  the device a vfio-user server emulates (docs/vfio-user.md), listed as 0000:00:00.0\n"
    "  --json              the same fields as JSON: hexadecimal values as \"0x...\" strings, counts and sizes as\n"
    "                      numbers, what is unknown as null; a usage error, or a dump, sysfs tree or vfio-user\n"
    "                      server not read, as {\"error\": MESSAGE} instead (the message on stderr too)\n"
    "  -d [VENDOR]:[DEVICE][:CLASS[:PROG-IF]]\n"
    "                      only the devices with that vendor and/or device ID, class (base class and subclass)\n"
    "                      and programming interface, as lspci -d: hex, at most 4 digits a part and 2 of\n"
    "                      PROG-IF; an empty or * part matches any, an x any digit of CLASS (02xx: every\n"
    "                      network controller). A VF's IDs are the ones sysfs gives it; in a dump or over\n"
    "                      vfio-user they are unknown, and only an empty part matches them\n"
    "  -h, --help          this text\n"
    "\n"
    "Exit status:\n"
    "  0  every device was read, whatever its bytes hold (its errors, a dump that stops short, bytes sysfs\n"
    "     denies an unprivileged reader)\n"
    "  1  an address is malformed or a function cannot be read through sysfs (the others are still printed),\n"
    "     the dump cannot be opened or read (the reason named) or does not parse, or the vfio-user server\n"
    "     cannot be read\n"
    "  2  a usage error, said before the usage lines: an unknown option, an option without its value or\n"
    "     given twice, two sources of devices (--dump, --vfio-user or addresses: one of them)\n";

// A usage error: what is wrong (the bare usage left the user to find it), the usage lines, and where the
// rest is; with `json`, {"error": MESSAGE} on stdout too.
void usage_error(const std::string& message, bool json) {
  const std::string_view text = help_text;
  const std::string usage_lines(text.substr(0, text.find("\n\n") + 1));
  tools::print_failure("vpci-inspect", message, json, "\n" + usage_lines + "(vpci-inspect --help: every option and the exit statuses)\n");
}

// The IDs lspci shows for a function: a VF's from sysfs (unknown without it), any other's from its header.
struct function_ids {
  std::optional<std::uint16_t> vendor_id;
  std::optional<std::uint16_t> device_id;
};
function_ids ids_of(const device_report& r) {
  if (r.vf) return {r.vf->vendor_id, r.vf->device_id};
  if (r.header) return {r.header->vendor_id, r.header->device_id};
  return {};
}

// -d [VENDOR]:[DEVICE][:CLASS[:PROG-IF]], as lspci -d (pciutils 3.8): hex, an empty or "*" part matches
// any; CLASS is base class and subclass (0200: Ethernet), where an x stands for any digit (02xx: every
// network controller). An unknown ID (a VF's outside sysfs) or class (a function with no header) matches
// only an empty part.
struct id_filter {
  std::optional<std::uint16_t> vendor;
  std::optional<std::uint16_t> device;
  std::optional<std::uint16_t> device_class;  // base class << 8 | subclass, under class_mask
  std::uint16_t class_mask = 0xFFFF;
  std::optional<std::uint8_t> programming_interface;

  static std::optional<id_filter> parse(const std::string& text) {
    std::vector<std::string> fields;
    for (std::size_t from = 0;;) {
      const auto colon = text.find(':', from);
      fields.push_back(text.substr(from, colon == std::string::npos ? std::string::npos : colon - from));
      if (colon == std::string::npos) break;
      from = colon + 1;
    }
    if (fields.size() < 2 || fields.size() > 4) return std::nullopt;
    // One field: up to `width` hex digits (and, where `mask` is given, x for any digit); false if
    // malformed. The width is the register's: a wider part names no ID, whatever its value.
    const auto field = [](const std::string& digits, std::size_t width, auto& out, std::uint16_t* mask) {
      if (digits.empty() || digits == "*") return true;
      if (digits.size() > width) return false;
      unsigned value = 0, bits = 0xFFFFu;
      for (const char c : digits) {
        const bool any = (c == 'x' || c == 'X') && mask != nullptr;
        const auto digit = std::string_view("0123456789abcdef").find(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
        if (!any && digit == std::string_view::npos) return false;
        value = (value << 4) | (any ? 0u : static_cast<unsigned>(digit));
        bits = (bits << 4) | (any ? 0u : 0xFu);
      }
      out = static_cast<typename std::remove_reference_t<decltype(out)>::value_type>(value);
      if (mask != nullptr) *mask = static_cast<std::uint16_t>(bits);
      return true;
    };
    id_filter f;
    const auto at = [&](std::size_t i) { return i < fields.size() ? fields[i] : std::string(); };
    if (!field(at(0), 4, f.vendor, nullptr) || !field(at(1), 4, f.device, nullptr) ||
        !field(at(2), 4, f.device_class, &f.class_mask) || !field(at(3), 2, f.programming_interface, nullptr))
      return std::nullopt;
    return f;
  }
  [[nodiscard]] bool matches(const device_report& r) const {
    const auto ids = ids_of(r);
    if ((vendor && ids.vendor_id != *vendor) || (device && ids.device_id != *device)) return false;
    if (device_class && (!r.header || ((r.header->class_code() >> 8) ^ *device_class) & class_mask)) return false;
    return !programming_interface || (r.header && r.header->programming_interface == *programming_interface);
  }
};

struct options {
  bool json = false;
  std::optional<id_filter> filter;
  // Where the configuration spaces come from: one of these.
  std::optional<std::string> dump;              // --dump FILE
  std::optional<std::string> vfio_user_socket;  // --vfio-user SOCKET
  std::vector<std::string> addresses;           // sysfs (none given: every device)
};

// Parses the command line; std::nullopt after printing usage (exit status in `status`).
std::optional<options> parse_options(int argc, char** argv, int& status) {
  options o;
  status = 2;
  // Looked for before the rest is parsed: a usage error met before a later --json is given as JSON too.
  o.json = tools::json_requested(argc, argv);
  const auto refuse = [&](const std::string& message) -> std::optional<options> {
    usage_error(message, o.json);
    return std::nullopt;
  };
  // Each option at most once (given_options.hpp): of two values, which the user meant cannot be told.
  tools::given_options given;
  // Takes the value of the option at argv[i] into `into`; what is wrong, if anything.
  const auto take = [&](int& i, std::optional<std::string>& into) -> std::optional<std::string> {
    const std::string option = argv[i];
    if (i + 1 >= argc) return option + " needs a value";
    if (auto twice = given.add(option, argv[i + 1])) return twice;
    into = argv[++i];
    return std::nullopt;
  };
  std::optional<std::string> filter;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--json") {
      // Read by tools::json_requested() above.
      if (const auto twice = given.add(arg)) return refuse(*twice);
    } else if (arg == "--dump") {
      if (const auto wrong = take(i, o.dump)) return refuse(*wrong);
    } else if (arg == "--vfio-user") {
      if (const auto wrong = take(i, o.vfio_user_socket)) return refuse(*wrong);
    } else if (arg == "-d") {
      if (const auto wrong = take(i, filter)) return refuse(*wrong);
      o.filter = id_filter::parse(*filter);
      if (!o.filter)
        return refuse("-d " + quoted_text(*filter) +
                      ": expected [VENDOR]:[DEVICE][:CLASS[:PROG-IF]] in hex, at most 4 digits a part and 2 of PROG-IF"
                      " (x: any digit of CLASS)");
    } else if (arg == "--help" || arg == "-h") {
      std::fputs(help_text, stdout);
      status = 0;
      return std::nullopt;
    } else if (!arg.empty() && arg[0] == '-') {
      return refuse("unknown option " + quoted_text(arg));
    } else {
      o.addresses.push_back(arg);
    }
  }
  // One source of devices: of two, one would be read and the other ignored.
  const auto two_sources = [&](const std::string& first, const std::string& second) {
    return refuse(first + " and " + second + " are two sources of devices: give one");
  };
  const std::string address = o.addresses.empty() ? "" : "the address " + quoted_text(o.addresses.front());
  if (o.dump && o.vfio_user_socket) return two_sources("--dump", "--vfio-user");
  if (o.dump && !o.addresses.empty()) return two_sources("--dump", address);
  if (o.vfio_user_socket && !o.addresses.empty()) return two_sources("--vfio-user", address);
  // A function named twice would be read and printed twice. The rule is a dump's (listed_functions), but
  // here the command line is at fault, not a device or a file: a usage error. An address that does not
  // parse is left to read_device, which names it.
  tools::listed_functions named;
  for (std::size_t i = 0; i < o.addresses.size(); ++i) {
    const auto parsed = pci_address::parse(o.addresses[i]);
    if (!parsed) continue;
    if (const auto first = named.add(*parsed, i))
      return refuse(parsed->to_string() + " is named twice (" + quoted_text(o.addresses[*first]) + ", then " +
                    quoted_text(o.addresses[i]) + ")");
  }
  return o;
}

// The devices of an lspci -xxxx dump. What failed, if it did: a set-up error, no device is read then.
std::optional<std::string> read_dump(const std::string& path, std::vector<device_report>& out) {
  // A directory opens as a stream that reads nothing, which would pass for an empty dump.
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) return quoted_text(path) + ": a directory, not a dump file";
  // Read whole before it is parsed: a stream would end a dump at a read error as at its end, and a dump cut
  // short parses as a shorter one.
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (file == nullptr) return "cannot open " + quoted_text(path) + ": " + std::strerror(errno);
  std::string text;
  std::array<char, 65536> buffer;
  std::size_t n = 0;
  do {
    errno = 0;
    n = std::fread(buffer.data(), 1, buffer.size(), file);
    text.append(buffer.data(), n);
  } while (n == buffer.size());
  const int read_error = std::ferror(file) != 0 ? (errno != 0 ? errno : EIO) : 0;
  std::fclose(file);
  if (read_error != 0) return "reading " + quoted_text(path) + " failed: " + std::strerror(read_error);
  std::istringstream in(text);
  std::string error;
  const auto devices = tools::parse_lspci_dump(in, error);
  if (!devices) return quoted_text(path) + ": " + error;
  for (const auto& d : *devices) out.push_back(analyse(d.address, d.config, {config_source::kind::dump}));
  return std::nullopt;
}

// The named devices through sysfs, or every device when none is named; `all_read` false when any failed
// (after its message: the others are still read). What failed, if the tree cannot be listed: a set-up
// error, no device is read then.
std::optional<std::string> read_sysfs(std::vector<std::string> addresses, std::vector<device_report>& out, bool& all_read) {
  boost::asio::io_context io;
  const auto root = sysfs_root();
  if (addresses.empty()) {
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(root, ec))
      addresses.push_back(entry.path().filename().string());
    if (ec) return "cannot list " + quoted_text(root.string()) + ": " + ec.message();
    std::sort(addresses.begin(), addresses.end());
  }
  all_read = true;
  for (const auto& a : addresses) all_read = read_device(io, root, a, out) && all_read;
  return std::nullopt;
}

}  // namespace

int main(int argc, char** argv) {
  int status = 0;
  const auto o = parse_options(argc, argv, status);
  if (!o) return status;

  std::vector<device_report> reports;
  bool ok = true;  // every function named was read
  // A set-up error (the dump, the sysfs tree or the vfio-user server not read) leaves no device to print:
  // with --json it is {"error": ...}, as vpci-conformance and vpci-perf give theirs, not an empty array.
  // Exit status 1, as documented.
  std::optional<std::string> failed;
  if (o->dump) failed = read_dump(*o->dump, reports);
  else if (o->vfio_user_socket) failed = read_vfio_user(*o->vfio_user_socket, reports);
  else failed = read_sysfs(o->addresses, reports, ok);
  if (failed) {
    tools::print_failure("vpci-inspect", *failed, o->json);
    return 1;
  }
  if (o->filter)
    reports.erase(std::remove_if(reports.begin(), reports.end(), [&](const device_report& r) { return !o->filter->matches(r); }),
                  reports.end());

  if (o->json) {
    std::printf("[");
    for (std::size_t i = 0; i < reports.size(); ++i) std::printf("%s%s", i ? ",\n" : "\n", to_json(reports[i]).c_str());
    std::printf("\n]\n");
  } else {
    for (const auto& r : reports) print_human(r);
  }
  return ok ? 0 : 1;
}
