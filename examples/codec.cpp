// vpci-codec: the Hyper-V vPCI frames a VF and a PF exchange, as a pci-hyperv guest and a host would:
// version negotiation, a read, a write as Linux sends it, an invalidation. Every frame is printed as it
// goes on the stream (u32 length, then the packet padded to 8 bytes as VMBus carries it) and decoded back.
#include <array>
#include <cstdio>
#include <span>

#include <vpci/core.hpp>

#include "blocks.hpp"

namespace {

using frame_buffer = std::array<std::byte, vpci::hyperv::max_frame_size>;

void print_bytes(const char* label, std::span<const std::byte> bytes) {
  std::printf("  %-31s (%3zu bytes)", label, bytes.size());
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

// The packet inside a frame.
std::span<const std::byte> packet_of(const frame_buffer& frame, std::size_t frame_size) {
  return std::span<const std::byte>{frame}.subspan(vpci::hyperv::frame_prefix_size,
                                                   frame_size - vpci::hyperv::frame_prefix_size);
}
// The request payload inside a VF's frame (after the descriptor).
std::span<const std::byte> payload_of(const frame_buffer& frame, std::size_t frame_size) {
  return packet_of(frame, frame_size).subspan(vpci::hyperv::vmbus::descriptor_size);
}

}  // namespace

int main() {
  using namespace vpci;
  const hyperv::wslot slot{2, 1};  // the VF at device 2, function 1 of the virtual bus
  frame_buffer request{};
  frame_buffer response{};
  std::uint64_t transaction = 1;

  // 1. Version negotiation: the VF offers the versions a Linux guest probes, highest first; this PF
  //    speaks up to 1.3, so it answers STATUS_REVISION_MISMATCH to 1.4 and accepts 1.3.
  std::printf("version negotiation\n");
  std::uint32_t agreed = 0;
  for (std::uint32_t offered : hyperv::linux_protocol_versions) {
    auto sent = hyperv::encode_version_request_frame(transaction, hyperv::version_request{offered}, request);
    if (!sent) return fail("encode version request", sent.error());
    print_bytes("VF -> PF QUERY_PROTOCOL_VERSION", std::span{request}.first(*sent));
    auto asked = hyperv::decode_version_request(payload_of(request, *sent));
    if (!asked) return fail("decode version request", asked.error());
    const ntstatus status = asked->version <= hyperv::protocol_version_1_3 && asked->version >= hyperv::protocol_version_1_1
                                ? ntstatus::success
                                : ntstatus::revision_mismatch;
    auto answered = hyperv::encode_version_response_frame(
        hyperv::version_response{transaction, status, hyperv::protocol_version_1_3}, response);
    if (!answered) return fail("encode version response", answered.error());
    print_bytes("PF -> VF completion", std::span{response}.first(*answered));
    auto answer = hyperv::decode_version_response(packet_of(response, *answered));
    if (!answer) return fail("decode version response", answer.error());
    ++transaction;
    const auto verdict = hyperv::judge_version_status(answer->status);
    std::printf("  VF: version 0x%05x -> status 0x%08x\n", static_cast<unsigned>(offered),
                static_cast<unsigned>(answer->status));
    if (verdict == hyperv::version_verdict::accepted) {
      agreed = offered;
      break;
    }
    if (verdict == hyperv::version_verdict::failed) break;
  }
  if (agreed == 0) return fail("negotiate a version", errc::revision_mismatch);
  std::printf("  agreed on version 0x%05x\n", static_cast<unsigned>(agreed));

  // 2. The VF reads its configuration block (block 1, 11 bytes).
  std::printf("\nread of block %u (%zu bytes)\n", example::vf_config_block::id.value(), example::vf_config_block::size);
  auto read_size = hyperv::encode_read_request_frame(
      transaction, hyperv::read_request{example::vf_config_block::id, slot, example::vf_config_block::size}, request);
  if (!read_size) return fail("encode read request", read_size.error());
  print_bytes("VF -> PF READ_BLOCK", std::span{request}.first(*read_size));
  auto read = hyperv::decode_read_request(payload_of(request, *read_size));
  if (!read) return fail("decode read request", read.error());
  std::printf("  PF decoded: block %u, %u bytes requested, slot dev %u func %u\n", read->block.value(),
              read->bytes_requested, read->slot.device, read->slot.function);

  const example::vf_config config{1, example::vf_flags::link_up, 9000, 100, 8};
  const auto config_bytes = example::vf_config_block::to_buffer(config);
  auto response_size =
      hyperv::encode_read_response_frame(hyperv::read_response{transaction, ntstatus::success, config_bytes.span()}, response);
  if (!response_size) return fail("encode read response", response_size.error());
  print_bytes("PF -> VF completion (padded)", std::span{response}.first(*response_size));
  auto completion = hyperv::decode_read_response(packet_of(response, *response_size));
  if (!completion) return fail("decode read response", completion.error());
  // 20 + 11 = 31 bytes, padded to 32: one padding byte follows the data; the read takes min(requested, present).
  const auto data = completion->data_for(read->bytes_requested);
  auto read_back = example::vf_config_block::decode(data);
  if (!read_back) return fail("decode vf_config", read_back.error());
  std::printf("  VF decoded: %zu bytes present, %zu taken; version %u, flags 0x%x, mtu %u, vlan %u, %u queue pairs\n",
              completion->data.size(), data.size(), read_back->version, static_cast<unsigned>(read_back->flags),
              read_back->mtu, read_back->vlan, read_back->queue_pairs);
  ++transaction;

  // 3. The VF writes its MAC address block (block 0, 6 bytes) as Linux sends it: 4 reserved bytes, then
  //    padding: 16 + 16 + 6 + 4 = 42 bytes, padded to 48.
  const example::mac_address mac{0x00, 0x15, 0x5d, 0x01, 0x02, 0x03};
  const auto mac_bytes = example::mac_block::to_buffer(mac);
  std::printf("\nwrite of block %u (%zu bytes)\n", example::mac_block::id.value(), example::mac_block::size);
  auto write_size = hyperv::encode_write_request_frame(
      transaction, hyperv::write_request{example::mac_block::id, slot, mac_bytes.span()}, request, /*with_linux_tail=*/true);
  if (!write_size) return fail("encode write request", write_size.error());
  print_bytes("VF -> PF WRITE_BLOCK", std::span{request}.first(*write_size));
  auto write = hyperv::decode_write_request(payload_of(request, *write_size));
  if (!write) return fail("decode write request", write.error());
  auto mac_back = example::mac_block::decode(write->data);
  if (!mac_back) return fail("decode mac", mac_back.error());
  std::printf("  PF decoded: block %u, byte_count %zu, MAC %02x:%02x:%02x:%02x:%02x:%02x\n", write->block.value(),
              write->data.size(), (*mac_back)[0], (*mac_back)[1], (*mac_back)[2], (*mac_back)[3], (*mac_back)[4],
              (*mac_back)[5]);
  auto done_size = hyperv::encode_write_completion_frame(hyperv::write_completion{transaction, ntstatus::success}, response);
  if (!done_size) return fail("encode write completion", done_size.error());
  print_bytes("PF -> VF completion (padded)", std::span{response}.first(*done_size));
  auto done = hyperv::decode_write_completion(packet_of(response, *done_size));
  if (!done) return fail("decode write completion", done.error());
  std::printf("  VF decoded: transaction %llu, status 0x%08x\n", static_cast<unsigned long long>(done->transaction_id),
              static_cast<unsigned>(done->status));

  // 4. The PF invalidates blocks 0 and 2; the VF learns which blocks to re-read.
  auto mask = block_mask::of({example::mac_block::id, example::stats_block::id});
  if (!mask) return fail("build mask", mask.error());
  auto invalidate_size = hyperv::encode_invalidate_frame(hyperv::invalidate{slot, *mask}, response);
  if (!invalidate_size) return fail("encode invalidate", invalidate_size.error());
  std::printf("\ninvalidate\n");
  print_bytes("PF -> VF INVALIDATE_BLOCK", std::span{response}.first(*invalidate_size));
  auto invalidated = hyperv::decode_invalidate(packet_of(response, *invalidate_size));
  if (!invalidated) return fail("decode invalidate", invalidated.error());
  std::printf("  VF decoded: re-read blocks");
  for (block_id id : invalidated->mask) std::printf(" %u", id.value());
  std::printf("\n");
  return 0;
}
