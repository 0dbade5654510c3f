// Synthesized config spaces, the seeds of the config-space fuzz targets (and, printed as dumps, of the
// lspci target): a full SR-IOV PF with standard and extended capabilities and a vpci mailbox, its
// truncated snapshots, and the malformed lists the walks must refuse.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <vpci/block/endian.hpp>
#include <vpci/config/capabilities.hpp>
#include <vpci/config/placement.hpp>
#include <vpci/config/vsec.hpp>
#include <vpci/wire/mailbox.hpp>

namespace vpci::fuzz {

struct config_image_seed {
  std::string name;
  std::vector<std::byte> image;
};

class seed_image {
 public:
  seed_image() : bytes_(4096) {
    put16(0x00, 0x8086);
    put16(0x02, 0x1572);
    put8(0x0B, 0x02);  // network controller
    put8(0x0E, 0x80);  // multi-function endpoint
  }
  void put8(std::size_t at, unsigned v) { le::store_u8(bytes_.data() + at, static_cast<std::uint8_t>(v)); }
  void put16(std::size_t at, unsigned v) { le::store_u16(bytes_.data() + at, static_cast<std::uint16_t>(v)); }
  void put32(std::size_t at, std::uint32_t v) { le::store_u32(bytes_.data() + at, v); }
  void standard(std::size_t at, unsigned id, unsigned next) {
    put8(at, id);
    put8(at + 1, next);
  }
  void extended(std::size_t at, std::uint16_t id, std::uint8_t version, std::uint16_t next) {
    put32(at, config::encode_extended_header(id, version, next));
  }
  void capability_list(unsigned pointer) {
    put16(0x06, 0x0010);
    put8(0x34, pointer);
  }
  [[nodiscard]] std::vector<std::byte> first(std::size_t n) const { return {bytes_.begin(), bytes_.begin() + static_cast<std::ptrdiff_t>(n)}; }
  [[nodiscard]] const std::vector<std::byte>& all() const { return bytes_; }
  std::vector<std::byte>& all() { return bytes_; }

 private:
  std::vector<std::byte> bytes_;
};

// The mailbox window as a PF presents it (docs/protocol.md): a DVSEC with the function's vendor ID (8086)
// and DVSEC ID 0x5650, its identity (of `layout`) and limits.
inline void put_mailbox(seed_image& s, std::size_t at, std::uint16_t next, std::uint16_t layout = mailbox::layout_version) {
  s.extended(at, config::extended_capability_id::designated_vendor_specific, 1, next);
  s.put32(at + 4, config::encode_dvsec_header1(0x8086, mailbox::dvsec_revision, static_cast<std::uint16_t>(mailbox::window_size)));
  s.put32(at + 8, config::encode_dvsec_header2(mailbox::default_dvsec_id));
  s.put32(at + mailbox::reg::identity, (mailbox::encode_identity(0x7) & 0xFFFF0000u) | layout);
  s.put32(at + mailbox::reg::limits, mailbox::encode_limits(100));
}

inline seed_image sriov_pf() {
  namespace id = config::extended_capability_id;
  seed_image s;
  s.capability_list(0x40);
  s.standard(0x40, config::capability_id::power_management, 0x50);
  s.standard(0x50, config::capability_id::msi, 0x70);
  s.standard(0x70, config::capability_id::pci_express, 0xA0);
  s.standard(0xA0, config::capability_id::msix, 0x00);
  s.extended(0x100, id::advanced_error_reporting, 2, 0x148);
  s.extended(0x148, id::device_serial_number, 1, 0x150);
  s.extended(0x150, id::alternative_routing_id, 1, 0x160);
  s.extended(0x160, id::sriov, 1, 0x1A0);
  s.put16(0x160 + 0x08, 0x0019);  // VF Enable, VF MSE, ARI Capable Hierarchy
  s.put16(0x160 + 0x0C, 64);      // InitialVFs
  s.put16(0x160 + 0x0E, 64);      // TotalVFs
  s.put16(0x160 + 0x10, 8);       // NumVFs
  s.put16(0x160 + 0x14, 0x80);    // First VF Offset
  s.put16(0x160 + 0x16, 2);       // VF Stride
  s.put16(0x160 + 0x1A, 0x154C);  // VF Device ID
  s.put32(0x160 + 0x1C, 0x553);   // Supported Page Sizes
  s.put32(0x160 + 0x20, 1);       // System Page Size
  s.put32(0x160 + 0x24, 0x0C);    // VF BAR0: 64-bit prefetchable memory
  s.extended(0x1A0, id::access_control_services, 1, 0x1B0);
  s.extended(0x1B0, id::resizable_bar, 1, 0x1C0);
  s.put32(0x1B0 + 8, 1u << 5);  // one resizable BAR
  s.extended(0x1C0, id::designated_vendor_specific, 1, 0x200);
  s.put32(0x1C0 + 4, config::encode_dvsec_header1(0x1E98, 0, 0x10));
  put_mailbox(s, 0x200, 0);
  return s;
}

inline std::vector<config_image_seed> config_image_seeds() {
  namespace id = config::extended_capability_id;
  std::vector<config_image_seed> seeds;
  const seed_image pf = sriov_pf();
  seeds.push_back({"sriov-pf-4096", pf.all()});
  seeds.push_back({"sriov-pf-256", pf.first(256)});
  seeds.push_back({"sriov-pf-64", pf.first(64)});
  seeds.push_back({"sriov-pf-cut-in-sriov", pf.first(0x170)});

  seed_image empty;
  empty.capability_list(0x40);
  empty.standard(0x40, config::capability_id::pci_express, 0);
  seeds.push_back({"empty-extended-list", empty.all()});

  seed_image placed = empty;
  config::dvsec_request request{0x8086, mailbox::default_dvsec_id, mailbox::dvsec_revision,
                                static_cast<std::uint16_t>(mailbox::window_size)};
  if (auto at = config::place_dvsec(placed.all(), request))
    placed.put32(*at + std::size_t{mailbox::reg::identity}, mailbox::encode_identity(0x7));
  seeds.push_back({"mailbox-placed-on-empty-list", placed.all()});

  seed_image no_extended = empty;
  for (std::size_t at = 0x100; at < 4096; at += 4) no_extended.put32(at, 0xFFFFFFFFu);
  seeds.push_back({"no-extended-space", no_extended.all()});

  seed_image loop = empty;
  loop.extended(0x100, id::advanced_error_reporting, 1, 0x148);
  loop.extended(0x148, id::designated_vendor_specific, 1, 0x100);
  loop.put32(0x148 + 4, config::encode_dvsec_header1(0x8086, mailbox::dvsec_revision, 0x10));
  loop.put32(0x148 + 8, config::encode_dvsec_header2(mailbox::default_dvsec_id));
  seeds.push_back({"extended-loop", loop.all()});

  seed_image misaligned = empty;
  misaligned.extended(0x100, id::sriov, 1, 0x142);
  seeds.push_back({"extended-misaligned-next", misaligned.all()});

  seed_image wrong_layout = empty;
  wrong_layout.extended(0x100, id::null_capability, 0, 0x180);
  put_mailbox(wrong_layout, 0x180, 0, 3);
  seeds.push_back({"vpci-dvsec-layout-3", wrong_layout.all()});

  seed_image standard_loop;
  standard_loop.capability_list(0x40);
  standard_loop.standard(0x40, config::capability_id::msi, 0x60);
  standard_loop.standard(0x60, config::capability_id::vendor_specific, 0x41);  // bits 1:0 masked: back to 0x40
  seeds.push_back({"standard-loop", standard_loop.first(256)});

  seed_image cardbus;
  cardbus.put8(0x0E, 0x02);
  cardbus.put16(0x06, 0x0010);
  cardbus.put8(0x14, 0x80);
  cardbus.standard(0x80, config::capability_id::power_management, 0);
  seeds.push_back({"cardbus-bridge", cardbus.first(256)});

  seed_image cut = empty;
  cut.extended(0x100, id::vendor_specific, 1, 0x200);
  cut.put32(0x104, config::encode_vsec_word(0x1234, 0, 0x20));
  seeds.push_back({"extended-next-past-snapshot", cut.first(0x110)});
  return seeds;
}

}  // namespace vpci::fuzz
