// Hyper-V vPCI packets as real VMBus peers deliver them, written out by hand from the pci-hyperv.c structs
// (struct vmpacket_descriptor, pci_response, pci_read_block_response, pci_write_block,
// pci_version_request), FreeBSD's vmbus_pcib.c (its pci_version_request) and the padding rule of
// vmbus_sendpacket_getid (the packet rounded up to 8 bytes with zeros). Never produced by vpci's encoders:
// the tests compare the encoders against these.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <vector>

#include <vpci/core.hpp>

#include "test_support.hpp"

namespace vpci::test::linux_packets {

inline bytes concat(std::initializer_list<bytes> parts) {
  bytes out;
  for (const auto& part : parts) out.insert(out.end(), part.begin(), part.end());
  return out;
}
inline bytes repeat(std::size_t n, unsigned value) { return bytes(n, static_cast<std::byte>(value)); }

// A Linux guest's 5-byte write of block 7 (A1..A5) from slot dev 2 fn 1, transaction 7: 16 + 16 + 5 + 4
// reserved = 41 bytes, padded by VMBus to 48 (len8 6).
inline bytes linux_write_5(bool padded) {
  auto packet = concat({make_bytes({0x06, 0x00, 0x02, 0x00, 0x06, 0x00, 0x01, 0x00,    // in-band, offset8 2, len8 6,
                                    0x07, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,    // completion requested; id 7
                                    0x0A, 0x00, 0x49, 0x42, 0x07, 0x00, 0x00, 0x00,    // PCI_WRITE_BLOCK, block 7
                                    0x22, 0x00, 0x00, 0x00, 0x05, 0x00, 0x00, 0x00,    // wslot 0x22, byte_count 5
                                    0xA1, 0xA2, 0xA3, 0xA4, 0xA5}),                    // bytes[5]
                        repeat(4, 0x00)});                                            // pkt.reserved
  if (padded) packet = concat({packet, repeat(7, 0x00)});                             // VMBus padding
  return packet;
}

// A full 128-byte write of block 3 (pattern from 0x10), transaction 9, as Linux sends it: 16 + 16 + 128 + 4
// = 164 bytes, padded to 168 (len8 21).
inline bytes linux_write_128() {
  return concat({make_bytes({0x06, 0x00, 0x02, 0x00, 0x15, 0x00, 0x01, 0x00, 0x09, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
                             0x00,                                                   // id 9
                             0x0A, 0x00, 0x49, 0x42, 0x03, 0x00, 0x00, 0x00,          // PCI_WRITE_BLOCK, block 3
                             0x22, 0x00, 0x00, 0x00, 0x80, 0x00, 0x00, 0x00}),        // wslot, byte_count 128
                 pattern(128, 0x10), repeat(4, 0x00), repeat(4, 0x00)});              // reserved, padding
}

// A read completion carrying `data` (none for a failure), padded by VMBus: 20 + n rounded up to 8.
inline bytes host_read_completion(std::uint64_t id, std::uint32_t status, const bytes& data) {
  const std::size_t size = 20 + data.size();
  const std::size_t padded_size = (size + 7) / 8 * 8;
  bytes packet = concat({make_bytes({0x0B, 0x00, 0x02, 0x00}),  // VM_PKT_COMP, offset8 2
                         make_bytes({static_cast<unsigned>(padded_size / 8), 0x00, 0x00, 0x00}),  // len8, flags 0
                         repeat(8, 0x00), repeat(4, 0x00), data, repeat(padded_size - size, 0x00)});
  le::store_u64(packet.data() + 8, id);
  le::store_u32(packet.data() + 16, status);
  return packet;
}

// struct pci_response (a write's completion, or a version answer) padded from 20 to 24 bytes.
inline bytes host_completion(std::uint64_t id, std::uint32_t status) { return host_read_completion(id, status, {}); }

// hv_pci_protocol_negotiation's request for `version`: 16 + 8 = 24 bytes, no padding.
inline bytes linux_version_request(std::uint64_t id, std::uint32_t version) {
  auto packet = make_bytes({0x06, 0x00, 0x02, 0x00, 0x03, 0x00, 0x01, 0x00,   // in-band, len8 3, completion requested
                            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,   // transaction ID
                            0x13, 0x00, 0x49, 0x42,                           // PCI_QUERY_PROTOCOL_VERSION
                            0x00, 0x00, 0x00, 0x00});                         // protocol_version
  le::store_u64(packet.data() + 8, id);
  le::store_u32(packet.data() + 20, version);
  return packet;
}

// FreeBSD's hv_pci_protocol_negotiation (sys/dev/hyperv/pcib/vmbus_pcib.c): its pci_version_request is the
// Hyper-V header's, with `uint32_t is_last_attempt:1, reservedz:31` after the version (12 bytes, the
// attempt bit set), sent with VMBUS_CHANPKT_FLAG_RC: 16 + 12 = 28 bytes, padded to 32 (len8 4).
inline bytes freebsd_version_request(std::uint64_t id, std::uint32_t version) {
  auto packet = make_bytes({0x06, 0x00, 0x02, 0x00, 0x04, 0x00, 0x01, 0x00,   // in-band, len8 4, completion requested
                            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,   // transaction ID
                            0x13, 0x00, 0x49, 0x42,                           // PCI_QUERY_PROTOCOL_VERSION
                            0x00, 0x00, 0x00, 0x00,                           // protocol_version
                            0x01, 0x00, 0x00, 0x00,                           // is_last_attempt 1, reservedz 0
                            0x00, 0x00, 0x00, 0x00});                         // VMBus padding
  le::store_u64(packet.data() + 8, id);
  le::store_u32(packet.data() + 20, version);
  return packet;
}

// hv_pci_query_relations, the first message after negotiation: struct pci_message {PCI_QUERY_BUS_RELATIONS}
// sent with vmbus_sendpacket(..., requestid 0, VM_PKT_DATA_INBAND, flags 0): no completion asked for. 16 + 4
// = 20 bytes, padded to 24 (len8 3).
inline bytes linux_query_bus_relations() {
  return make_bytes({0x06, 0x00, 0x02, 0x00, 0x03, 0x00, 0x00, 0x00,   // in-band, len8 3, flags 0
                     0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,   // transaction ID 0
                     0x01, 0x00, 0x49, 0x42,                           // PCI_QUERY_BUS_RELATIONS
                     0x00, 0x00, 0x00, 0x00});                         // VMBus padding
}

// hv_pci_enter_d0: struct pci_bus_d0_entry {PCI_BUS_D0ENTRY, reserved, u64 mmio_base}, completion
// requested, the transaction ID the guest's packet address: 16 + 16 = 32 bytes, no padding.
inline bytes linux_bus_d0_entry(std::uint64_t id, std::uint64_t mmio_base) {
  auto packet = make_bytes({0x06, 0x00, 0x02, 0x00, 0x04, 0x00, 0x01, 0x00,   // in-band, len8 4, completion requested
                            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,   // transaction ID
                            0x07, 0x00, 0x49, 0x42, 0x00, 0x00, 0x00, 0x00,   // PCI_BUS_D0ENTRY, reserved
                            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00}); // mmio_base
  le::store_u64(packet.data() + 8, id);
  le::store_u64(packet.data() + 24, mmio_base);
  return packet;
}

// hv_send_resources_allocated on protocol 1.2 and later: struct pci_resources_assigned2 {PCI_RESOURCES_ASSIGNED2,
// wslot, memory_range[0x14][6], msi_descriptor_count, reserved[70]} = 4 + 4 + 120 + 4 + 70 = 202 bytes, sent
// with completion requested: 16 + 202 = 218 bytes, padded by VMBus to 224 (len8 28). Longer than any message
// of the block protocol (168).
inline bytes linux_resources_assigned2(std::uint64_t id, std::uint32_t wslot) {
  auto packet = concat({make_bytes({0x06, 0x00, 0x02, 0x00, 0x1C, 0x00, 0x01, 0x00,   // in-band, len8 28, completion requested
                                    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,   // transaction ID
                                    0x16, 0x00, 0x49, 0x42,                           // PCI_RESOURCES_ASSIGNED2
                                    0x00, 0x00, 0x00, 0x00}),                         // wslot
                        repeat(120, 0x00), make_bytes({0x01, 0x00, 0x00, 0x00}),       // memory_range, msi count 1
                        repeat(70, 0x00), repeat(6, 0x00)});                           // reserved, VMBus padding
  le::store_u64(packet.data() + 8, id);
  le::store_u32(packet.data() + 20, wslot);
  return packet;
}

// The host's PCI_BUS_RELATIONS2 (protocol 1.3 and later) naming `functions` functions: struct pci_bus_relations2
// {pci_incoming_message (descriptor, type), device_count, pci_function_description2 func[]}, 28 bytes per
// function, sent in-band without a completion: 24 + 28 n bytes (6 functions: 192, no padding). hv_pci_onchannelcallback
// grows its buffer to any packet and checks only that the functions fit.
inline bytes host_bus_relations2(std::uint32_t functions) {
  const std::size_t size = 24 + 28 * std::size_t{functions};
  const std::size_t padded_size = (size + 7) / 8 * 8;
  auto packet = concat({make_bytes({0x06, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00}),  // in-band, offset8 2, flags 0
                        repeat(8, 0x00),                                                // transaction ID 0
                        make_bytes({0x19, 0x00, 0x49, 0x42}),                           // PCI_BUS_RELATIONS2
                        repeat(4, 0x00), repeat(padded_size - 24, 0x00)});
  le::store_u16(packet.data() + 4, static_cast<std::uint16_t>(padded_size / 8));
  le::store_u32(packet.data() + 20, functions);
  for (std::uint32_t f = 0; f < functions; ++f) {
    std::byte* func = packet.data() + 24 + 28 * std::size_t{f};
    le::store_u16(func + 0, 0x15B3);  // v_id
    le::store_u16(func + 2, 0x101A);  // d_id
    le::store_u32(func + 12, f);      // win_slot
  }
  return packet;
}

}  // namespace vpci::test::linux_packets
