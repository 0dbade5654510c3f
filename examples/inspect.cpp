// vpci-inspect: what the config-space model sees in a PCI function, for a driver engineer pointing it at
// a device or at a customer's dump.
//
//   vpci-inspect [--json] [DDDD:BB:DD.F ...]   devices through sysfs, read-only (no address: all of them)
//   vpci-inspect [--json] --dump FILE          every device of an `lspci -xxxx` text dump
//   vpci-inspect [--json] --vfio-user SOCKET   the device a vfio-user server emulates (docs/vfio-user.md),
//                                              listed as 0000:00:00.0
//
// Prints the header, the standard and extended capabilities, the SR-IOV capability with the VF routing
// IDs, VSECs and DVSECs (the fields lspci -vvv shows for them), a vpci mailbox window's live state when the
// function has one (the DVSEC with its own vendor ID and DVSEC ID 0x5650: config::find_mailbox), and the
// free ranges of the extended space. Malformed content is listed under "errors" and
// the rest of the device is still printed; a bad address, an unreadable device or file, or a dump that
// does not parse is a message on stderr and exit status 1 (2 for a usage error).
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <span>
#include <string>
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
#include <vpci/transport/sysfs_config_space.hpp>
#include <vpci/transport/vfio_user_config_space.hpp>
#include <vpci/wire/mailbox.hpp>

#include "lspci_dump.hpp"

namespace {

using namespace vpci;

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

struct device_report {
  pci_address address;
  std::size_t size = 0;
  std::optional<config::standard_header> header;
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

device_report analyse(const pci_address& address, std::span<const std::byte> space) {
  device_report r;
  r.address = address;
  r.size = space.size();
  auto header = config::decode_header(space);
  if (!header) {
    r.errors.push_back("header: only " + std::to_string(space.size()) + " bytes (" + describe(header.error()) + ")");
    return r;
  }
  r.header = *header;

  const auto walk = config::walk_capabilities(space);
  r.capabilities.assign(walk.entries.begin(), walk.entries.end());
  if (walk.error != no_error) {
    const std::string after = walk.entries.empty() ? "at the capability pointer"
                                                   : "after [" + hex(walk.entries.end()[-1].offset, 2) + "]";
    r.errors.push_back("capabilities: " + after + ": " + describe(walk.error));
  }

  const auto ext = config::walk_extended_capabilities(space);
  r.extended_capabilities.assign(ext.entries.begin(), ext.entries.end());
  if (ext.error != no_error) {
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
    } else if (cap.id == config::extended_capability_id::sriov && !r.sriov) {
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
      const config::routing_id pf{address.routing_id()};
      for (std::uint16_t n = 0; n < s->num_vfs; ++n) {
        auto rid = config::vf_routing_id(pf, *s, n);
        if (!rid) {
          if (rid.error() != errc::malformed_message)  // the zero stride is reported once, above
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

std::string capability_names(std::uint16_t caps) {
  std::string out;
  if ((caps & mailbox::capability::invalidation) != 0) out += " invalidation";
  if ((caps & mailbox::capability::signal) != 0) out += " signal";
  if ((caps & mailbox::capability::heartbeat) != 0) out += " heartbeat";
  if ((caps & ~(mailbox::capability::invalidation | mailbox::capability::signal | mailbox::capability::heartbeat)) != 0)
    out += " 0x" + hex(caps, 4);
  return out.empty() ? " none" : out;
}

void print_mailbox(const mailbox_report& m) {
  const auto caps = static_cast<std::uint16_t>(m.identity >> 16);
  std::printf("  mailbox [%03zx]: layout %u, capabilities%s, max block %u, data %u dwords, heartbeat %u ms\n", m.offset,
              m.identity & 0xFFFFu, capability_names(caps).c_str(), m.limits & 0xFFu, (m.limits >> 8) & 0xFFu,
              m.limits >> 16);
  std::printf("    control %08x%s%s\n", m.control, (m.control & mailbox::control_reset) != 0 ? " RESET" : "",
              (m.control & mailbox::control_signal) != 0 ? " SIGNAL" : "");
  std::printf("    request: sequence %u, block %08x, length %u, %s%s\n", m.request.sequence, m.request_block,
              m.request.length, operation_name(m.request.operation).c_str(), m.request.reserved_bits ? ", reserved bits set" : "");
  std::printf("    status: epoch %u, acknowledged %u, count %u, heartbeat %u%s%s; result %08x\n", m.status.epoch,
              m.status.ack, m.status.count, m.status.heartbeat, m.status.failed ? ", FAILED" : "",
              m.status.invalidated ? ", INVALIDATED" : "", m.result);
  std::printf("    invalidations: latched %016llx, acknowledged %016llx\n", static_cast<unsigned long long>(m.latched),
              static_cast<unsigned long long>(m.acknowledged));
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
  if (!r.capabilities.empty()) {
    std::printf("  capabilities:\n");
    for (const auto& c : r.capabilities) std::printf("    [%02x] id %02x\n", c.offset, c.id);
  }
  if (!r.extended_capabilities.empty()) {
    std::printf("  extended capabilities:\n");
    for (const auto& c : r.extended_capabilities) std::printf("    [%03x] id %04x v%u\n", c.offset, c.id, c.version);
  }
  if (r.sriov) {
    const auto& s = r.sriov->capability;
    std::printf("  sr-iov [%03x]: InitialVFs %u TotalVFs %u NumVFs %u First VF Offset %u VF Stride %u VF Device ID %04x%s\n",
                s.offset, s.initial_vfs, s.total_vfs, s.num_vfs, s.first_vf_offset, s.vf_stride, s.vf_device_id,
                s.ari_capable_hierarchy() ? " ARI" : "");
    for (const auto& vf : r.sriov->vf_routing_ids) std::printf("    VF %s\n", vf.to_string().c_str());
  }
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

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      out += "\\u" + hex(static_cast<unsigned char>(c), 4);
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::string to_json(const device_report& r) {
  std::string j = "{\"address\":" + json_string(r.address.to_string());
  j += ",\"size\":" + std::to_string(r.size);
  j += ",\"vendor\":" + (r.header ? std::to_string(r.header->vendor_id) : "null");
  j += ",\"device\":" + (r.header ? std::to_string(r.header->device_id) : "null");
  j += ",\"class\":" + (r.header ? std::to_string(r.header->class_code()) : "null");
  j += ",\"capabilities\":[";
  for (std::size_t i = 0; i < r.capabilities.size(); ++i)
    j += std::string(i ? "," : "") + "{\"id\":" + std::to_string(r.capabilities[i].id) +
         ",\"offset\":" + std::to_string(r.capabilities[i].offset) + "}";
  j += "],\"extended_capabilities\":[";
  for (std::size_t i = 0; i < r.extended_capabilities.size(); ++i) {
    const auto& c = r.extended_capabilities[i];
    j += std::string(i ? "," : "") + "{\"id\":" + std::to_string(c.id) + ",\"version\":" + std::to_string(c.version) +
         ",\"offset\":" + std::to_string(c.offset) + "}";
  }
  j += "],\"sriov\":";
  if (r.sriov) {
    const auto& s = r.sriov->capability;
    j += "{\"offset\":" + std::to_string(s.offset) + ",\"initial_vfs\":" + std::to_string(s.initial_vfs) +
         ",\"total_vfs\":" + std::to_string(s.total_vfs) + ",\"num_vfs\":" + std::to_string(s.num_vfs) +
         ",\"first_vf_offset\":" + std::to_string(s.first_vf_offset) + ",\"vf_stride\":" + std::to_string(s.vf_stride) +
         ",\"vf_device_id\":" + std::to_string(s.vf_device_id) +
         ",\"ari_capable_hierarchy\":" + (s.ari_capable_hierarchy() ? "true" : "false") + ",\"vf_routing_ids\":[";
    for (std::size_t i = 0; i < r.sriov->vf_routing_ids.size(); ++i)
      j += std::string(i ? "," : "") + json_string(r.sriov->vf_routing_ids[i].to_string());
    j += "]}";
  } else {
    j += "null";
  }
  j += ",\"vsecs\":[";
  for (std::size_t i = 0; i < r.vsecs.size(); ++i)
    j += std::string(i ? "," : "") + "{\"offset\":" + std::to_string(r.vsecs[i].offset) +
         ",\"vsec_id\":" + std::to_string(r.vsecs[i].vsec_id) + ",\"revision\":" + std::to_string(r.vsecs[i].revision) +
         ",\"length\":" + std::to_string(r.vsecs[i].length) + "}";
  j += "],\"dvsecs\":[";
  for (std::size_t i = 0; i < r.dvsecs.size(); ++i)
    j += std::string(i ? "," : "") + "{\"offset\":" + std::to_string(r.dvsecs[i].offset) +
         ",\"vendor_id\":" + std::to_string(r.dvsecs[i].vendor_id) + ",\"dvsec_id\":" + std::to_string(r.dvsecs[i].dvsec_id) +
         ",\"revision\":" + std::to_string(r.dvsecs[i].revision) + ",\"length\":" + std::to_string(r.dvsecs[i].length) + "}";
  j += "],\"mailbox\":";
  if (r.mailbox) {
    const auto& m = *r.mailbox;
    const auto boolean = [](bool b) { return std::string(b ? "true" : "false"); };
    j += "{\"offset\":" + std::to_string(m.offset) + ",\"layout\":" + std::to_string(m.identity & 0xFFFFu) +
         ",\"capabilities\":" + std::to_string(m.identity >> 16) + ",\"max_block\":" + std::to_string(m.limits & 0xFFu) +
         ",\"data_dwords\":" + std::to_string((m.limits >> 8) & 0xFFu) + ",\"heartbeat_ms\":" + std::to_string(m.limits >> 16) +
         ",\"control\":" + std::to_string(m.control) + ",\"request\":{\"sequence\":" + std::to_string(m.request.sequence) +
         ",\"block\":" + std::to_string(m.request_block) + ",\"length\":" + std::to_string(m.request.length) +
         ",\"operation\":" + std::to_string(m.request.operation) + ",\"reserved_bits\":" + boolean(m.request.reserved_bits) +
         "},\"status\":{\"epoch\":" + std::to_string(m.status.epoch) + ",\"acknowledged\":" + std::to_string(m.status.ack) +
         ",\"count\":" + std::to_string(m.status.count) + ",\"heartbeat\":" + std::to_string(m.status.heartbeat) +
         ",\"failed\":" + boolean(m.status.failed) + ",\"invalidated\":" + boolean(m.status.invalidated) +
         "},\"result\":" + std::to_string(m.result) + ",\"latched\":" + std::to_string(m.latched) +
         ",\"acknowledged\":" + std::to_string(m.acknowledged) + "}";
  } else {
    j += "null";
  }
  j += ",\"free\":[";
  for (std::size_t i = 0; i < r.free.size(); ++i)
    j += std::string(i ? "," : "") + "[" + std::to_string(r.free[i].start) + "," + std::to_string(r.free[i].end) + "]";
  j += "],\"errors\":[";
  for (std::size_t i = 0; i < r.errors.size(); ++i) j += std::string(i ? "," : "") + json_string(r.errors[i]);
  return j + "]}";
}

// Reads the whole readable config space of one device through the read-only sysfs transport.
bool read_device(boost::asio::io_context& io, const std::string& address_text, std::vector<device_report>& out) {
  const auto address = pci_address::parse(address_text);
  if (!address) {
    std::fprintf(stderr, "vpci-inspect: '%s' is not a PCI address (DDDD:BB:DD.F)\n", address_text.c_str());
    return false;
  }
  sysfs_config_space space{io.get_executor()};
  boost::system::error_code ec;
  space.open_device(address_text, access_mode::read_only, ec);
  std::vector<std::byte> bytes(space.size());
  if (!ec && !bytes.empty()) space.read(0, bytes, ec);
  if (ec || bytes.empty()) {
    std::fprintf(stderr, "vpci-inspect: cannot read %s: %s\n", sysfs_config_space::device_config_path(*address).c_str(),
                 ec ? ec.message().c_str() : "nothing readable");
    return false;
  }
  out.push_back(analyse(*address, bytes));
  return true;
}

// Reads the whole config space of the device a vfio-user server emulates (region 7 over the socket).
bool read_vfio_user(boost::asio::io_context& io, const std::string& socket, std::vector<device_report>& out) {
  vfio_user_config_space space{io.get_executor()};
  boost::system::error_code ec;
  space.connect(socket, ec);
  std::vector<std::byte> bytes(space.size());
  if (!ec) space.read(0, bytes, ec);
  if (ec) {
    std::fprintf(stderr, "vpci-inspect: cannot read vfio-user %s: %s\n", socket.c_str(), ec.message().c_str());
    return false;
  }
  out.push_back(analyse(pci_address{}, bytes));
  return true;
}

int usage() {
  std::fprintf(stderr,
               "usage: vpci-inspect [--json] [DDDD:BB:DD.F ...]\n       vpci-inspect [--json] --dump FILE\n"
               "       vpci-inspect [--json] --vfio-user SOCKET\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  bool json = false;
  std::string dump;
  std::string vfio_user_socket;
  std::vector<std::string> addresses;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--json") {
      json = true;
    } else if (arg == "--dump") {
      if (i + 1 >= argc || !dump.empty()) return usage();
      dump = argv[++i];
    } else if (arg == "--vfio-user") {
      if (i + 1 >= argc || !vfio_user_socket.empty()) return usage();
      vfio_user_socket = argv[++i];
    } else if (arg == "--help" || arg == "-h") {
      usage();
      return 0;
    } else if (!arg.empty() && arg[0] == '-') {
      return usage();
    } else {
      addresses.push_back(arg);
    }
  }
  if (!dump.empty() && !addresses.empty()) return usage();
  if (!vfio_user_socket.empty() && (!dump.empty() || !addresses.empty())) return usage();

  std::vector<device_report> reports;
  bool ok = true;
  if (!dump.empty()) {
    std::ifstream in(dump);
    if (!in) {
      std::fprintf(stderr, "vpci-inspect: cannot open %s\n", dump.c_str());
      return 1;
    }
    std::string error;
    const auto devices = example::parse_lspci_dump(in, error);
    if (!devices) {
      std::fprintf(stderr, "vpci-inspect: %s: %s\n", dump.c_str(), error.c_str());
      return 1;
    }
    for (const auto& d : *devices) reports.push_back(analyse(d.address, d.config));
  } else if (!vfio_user_socket.empty()) {
    boost::asio::io_context io;
    ok = read_vfio_user(io, vfio_user_socket, reports);
  } else {
    boost::asio::io_context io;
    if (addresses.empty()) {
      std::error_code ec;
      for (const auto& entry : std::filesystem::directory_iterator("/sys/bus/pci/devices", ec))
        addresses.push_back(entry.path().filename().string());
      if (ec) {
        std::fprintf(stderr, "vpci-inspect: cannot list /sys/bus/pci/devices: %s\n", ec.message().c_str());
        return 1;
      }
      std::sort(addresses.begin(), addresses.end());
    }
    for (const auto& a : addresses) ok = read_device(io, a, reports) && ok;
  }

  if (json) {
    std::printf("[");
    for (std::size_t i = 0; i < reports.size(); ++i) std::printf("%s%s", i ? ",\n" : "\n", to_json(reports[i]).c_str());
    std::printf("\n]\n");
  } else {
    for (const auto& r : reports) print_human(r);
  }
  return ok ? 0 : 1;
}
