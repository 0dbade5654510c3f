// vpci-codec: builds typed blocks, encodes the Hyper-V vPCI messages a VF and a PF exchange for a read
// and a write, decodes them back and prints every step.
#include <array>
#include <cstdio>
#include <span>

#include <vpci/core.hpp>

#include "blocks.hpp"

namespace {

void print_bytes(const char* label, std::span<const std::byte> bytes) {
  std::printf("  %-26s (%3zu bytes)", label, bytes.size());
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    if (i % 16 == 0) std::printf("\n    %04zx:", i);
    std::printf(" %02x", static_cast<unsigned>(bytes[i]));
  }
  std::printf("\n");
}

int fail(const char* what, vpci::errc e) {
  std::fprintf(stderr, "vpci-codec: %s failed (errc %d)\n", what, static_cast<int>(e));
  return 1;
}

}  // namespace

int main() {
  using namespace vpci;
  const hyperv::wslot slot{2, 1};  // the VF at device 2, function 1 of the virtual bus

  // 1. The VF reads its configuration block (block 1): request, and the PF's response.
  std::printf("read of block %u (%zu bytes) on slot dev %u func %u\n", example::vf_config_block::id.value(),
              example::vf_config_block::size, slot.device, slot.function);
  std::array<std::byte, hyperv::vmbus::max_packet_size> request{};
  auto request_size = hyperv::encode(
      hyperv::read_request{example::vf_config_block::id, slot, example::vf_config_block::size}, request);
  if (!request_size) return fail("encode read request", request_size.error());
  print_bytes("VF -> PF read request", std::span{request}.first(*request_size));

  auto decoded_request = hyperv::decode_read_request(std::span{request}.first(*request_size));
  if (!decoded_request) return fail("decode read request", decoded_request.error());
  std::printf("  PF decoded: block %u, %u bytes requested, slot dev %u func %u\n",
              decoded_request->block.value(), decoded_request->bytes_requested, decoded_request->slot.device,
              decoded_request->slot.function);

  const example::vf_config config{1, example::vf_flags::link_up, 9000, 100, 8};
  const auto config_bytes = example::vf_config_block::to_buffer(config);
  std::array<std::byte, hyperv::vmbus::max_packet_size> response{};
  auto response_size = hyperv::encode(hyperv::read_response{7, ntstatus::success, config_bytes.span()}, response);
  if (!response_size) return fail("encode read response", response_size.error());
  print_bytes("PF -> VF read response", std::span{response}.first(*response_size));

  auto decoded_response = hyperv::decode_read_response(std::span{response}.first(*response_size));
  if (!decoded_response) return fail("decode read response", decoded_response.error());
  auto read_back = example::vf_config_block::decode(decoded_response->data);
  if (!read_back) return fail("decode vf_config", read_back.error());
  std::printf("  VF decoded: transaction %llu, status 0x%08x, version %u, flags 0x%x, mtu %u, vlan %u, %u queue pairs\n",
              static_cast<unsigned long long>(decoded_response->transaction_id),
              static_cast<unsigned>(decoded_response->status), read_back->version,
              static_cast<unsigned>(read_back->flags), read_back->mtu, read_back->vlan, read_back->queue_pairs);

  // 2. The VF writes its MAC address block (block 0), as the Linux guest sends it (4 reserved bytes).
  const example::mac_address mac{0x00, 0x15, 0x5d, 0x01, 0x02, 0x03};
  const auto mac_bytes = example::mac_block::to_buffer(mac);
  std::printf("\nwrite of block %u (%zu bytes)\n", example::mac_block::id.value(), example::mac_block::size);
  auto write_size = hyperv::encode(hyperv::write_request{example::mac_block::id, slot, mac_bytes.span()}, request,
                                   /*with_linux_tail=*/true);
  if (!write_size) return fail("encode write request", write_size.error());
  print_bytes("VF -> PF write request", std::span{request}.first(*write_size));
  auto decoded_write = hyperv::decode_write_request(std::span{request}.first(*write_size));
  if (!decoded_write) return fail("decode write request", decoded_write.error());
  auto mac_back = example::mac_block::decode(decoded_write->data);
  if (!mac_back) return fail("decode mac", mac_back.error());
  std::printf("  PF decoded: block %u, %zu bytes, MAC %02x:%02x:%02x:%02x:%02x:%02x\n", decoded_write->block.value(),
              decoded_write->data.size(), (*mac_back)[0], (*mac_back)[1], (*mac_back)[2], (*mac_back)[3],
              (*mac_back)[4], (*mac_back)[5]);

  auto completion_size = hyperv::encode(hyperv::write_completion{8, ntstatus::success}, response);
  if (!completion_size) return fail("encode write completion", completion_size.error());
  print_bytes("PF -> VF write completion", std::span{response}.first(*completion_size));
  auto completion = hyperv::decode_write_completion(std::span{response}.first(*completion_size));
  if (!completion) return fail("decode write completion", completion.error());
  std::printf("  VF decoded: transaction %llu, status 0x%08x\n",
              static_cast<unsigned long long>(completion->transaction_id), static_cast<unsigned>(completion->status));

  // 3. The PF invalidates blocks 0 and 2; the VF learns which blocks to re-read.
  auto mask = block_mask::of({example::mac_block::id, example::stats_block::id});
  if (!mask) return fail("build mask", mask.error());
  auto invalidate_size = hyperv::encode(hyperv::invalidate{slot, *mask}, response);
  if (!invalidate_size) return fail("encode invalidate", invalidate_size.error());
  std::printf("\ninvalidate\n");
  print_bytes("PF -> VF invalidate", std::span{response}.first(*invalidate_size));
  auto invalidated = hyperv::decode_invalidate(std::span{response}.first(*invalidate_size));
  if (!invalidated) return fail("decode invalidate", invalidated.error());
  std::printf("  VF decoded: re-read blocks");
  for (block_id id : invalidated->mask) std::printf(" %u", id.value());
  std::printf("\n");
  return 0;
}
