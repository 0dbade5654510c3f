// vpci-conformance: which blocks the PF under test serves, and what the tool can make the PF do.
//
// The cases need to know the PF's blocks. Without --block options the tool assumes the conformance
// profile below (the blocks `--self` defines, and the set a PF must define to be checked on every row of
// docs/protocol.md 4.4). --block ID:SIZE[:ro|:wo] options replace the whole profile: the VF's blocks are
// those given, and the other roles (--foreign-block, --second-block, --not-ready-block, --empty-block,
// --invalidate-block) are given one by one; only the undefined block ID keeps its default (0xDEAD0000).
// A case whose block role is missing is SKIPped with the reason.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <vpci/asio/pf_endpoint.hpp>
#include <vpci/engine/pf_blocks.hpp>
#include <vpci/wire/hyperv.hpp>

#include "report.hpp"

namespace vpci::conformance {

struct block_spec {
  std::uint32_t id{0};
  std::size_t size{0};  // 1..128
  engine::block_access access{engine::block_access::read_write};
};

struct profile {
  // The VF's own blocks. The cases look for: a read-write block of 16 bytes or less (the "small" one), a
  // read-write block of 128 bytes, a read-only block, a write-only block, a block with an ID above 63.
  std::vector<block_spec> blocks;
  // A block another VF (the second VF of the isolation cases) defines and this one does not.
  std::optional<std::uint32_t> foreign_block;
  // A block ID nobody defines.
  std::optional<std::uint32_t> undefined_block;
  // A block whose IHV handler answers STATUS_DEVICE_NOT_READY (0xC00000A3), and one whose handler reports
  // success with 0 bytes.
  std::optional<std::uint32_t> not_ready_block;
  std::optional<std::uint32_t> empty_block;
  // The second VF's own block (read-write), for the isolation and flood cases.
  std::optional<block_spec> second_vf_block;
  // A block through which the VF makes the PF raise invalidations (a vendor's test hook, not part of the
  // protocol): writing 8 bytes, a little-endian 64-bit mask, raises those bits for the writing VF.
  std::optional<std::uint32_t> invalidation_trigger;

  [[nodiscard]] const block_spec* find(auto&& match) const {
    for (const block_spec& b : blocks)
      if (match(b)) return &b;
    return nullptr;
  }
  [[nodiscard]] const block_spec* small_rw() const {
    return find([](const block_spec& b) { return b.access == engine::block_access::read_write && b.size >= 4 && b.size < 128; });
  }
  [[nodiscard]] const block_spec* full_rw() const {
    return find([](const block_spec& b) { return b.access == engine::block_access::read_write && b.size == 128; });
  }
  [[nodiscard]] const block_spec* read_only() const {
    return find([](const block_spec& b) { return b.access == engine::block_access::read_only; });
  }
  [[nodiscard]] const block_spec* write_only() const {
    return find([](const block_spec& b) { return b.access == engine::block_access::write_only; });
  }
  [[nodiscard]] const block_spec* high_id() const {
    return find([](const block_spec& b) { return b.id > 63 && b.access != engine::block_access::write_only; });
  }
};

// The conformance profile: what --self defines, and what the tool assumes of a PF given no --block.
inline profile default_profile() {
  using engine::block_access;
  profile p;
  p.blocks = {{1, 16, block_access::read_write},
              {2, 4, block_access::read_only},
              {3, 128, block_access::read_write},
              {4, 4, block_access::write_only},
              {0x12345678, 8, block_access::read_write}};
  p.foreign_block = 40;
  p.undefined_block = 0xDEAD0000;
  p.not_ready_block = 6;
  p.empty_block = 7;
  p.second_vf_block = block_spec{40, 8, block_access::read_write};
  return p;
}

// The VFs' wslots on binding 2 (VF 0's, VF 1's) unless --wslot / --wslot2 give others: the streams --self
// serves, and what the tool assumes of another PF.
inline constexpr std::array<hyperv::wslot, 2> default_wslots{{{2, 1}, {2, 2}}};  // 0x22, 0x42

// The SKIP reason of a case whose block role the profile does not fill.
inline std::string missing(std::string_view role) {
  return "the profile names no " + std::string(role) + " (see --block and the conformance profile)";
}

// The initial contents --self gives a block: byte i is (id * 29 + i) mod 256.
inline std::vector<std::byte> initial_contents(std::uint32_t id, std::size_t size) {
  std::vector<std::byte> bytes(size);
  for (std::size_t i = 0; i < size; ++i) bytes[i] = static_cast<std::byte>((id * 29u + i) & 0xFFu);
  return bytes;
}

// Registers VF 0 and VF 1 of `pf` (a vpci::pf_endpoint; vpci-vfio-user-device --conformance-profile
// uses it too) and defines the profile's blocks: VF 0's own (contents initial_contents()),
// the handler blocks, and the second VF's block.
template <class Endpoint>
std::string define_profile(Endpoint& pf, const profile& p) {
  for (const vf_index vf : {vf_index{0}, vf_index{1}})
    if (auto ec = pf.register_vf(vf, static_cast<std::uint16_t>(0x0101 + vf)); ec) return "register_vf: " + ec.message();
  for (const block_spec& b : p.blocks)
    if (auto ec = pf.define_block(0, block_id{b.id}, initial_contents(b.id, b.size), b.access); ec)
      return "define block " + hex(b.id) + ": " + ec.message();
  if (p.not_ready_block) {
    auto handler = std::make_shared<function_block_handler>(
        [](vf_index, block_id, std::span<std::byte>, std::size_t&) { return ntstatus::device_not_ready; }, nullptr);
    if (auto ec = pf.define_block(0, block_id{*p.not_ready_block}, initial_contents(*p.not_ready_block, 8),
                                  block_access::read_write, handler);
        ec)
      return "define handler block: " + ec.message();
  }
  if (p.empty_block) {
    auto handler = std::make_shared<function_block_handler>(
        [](vf_index, block_id, std::span<std::byte>, std::size_t& bytes) {
          bytes = 0;
          return ntstatus::success;
        },
        nullptr);
    if (auto ec = pf.define_block(0, block_id{*p.empty_block}, initial_contents(*p.empty_block, 8),
                                  block_access::read_write, handler);
        ec)
      return "define handler block: " + ec.message();
  }
  if (p.second_vf_block) {
    const block_spec& b = *p.second_vf_block;
    if (auto ec = pf.define_block(1, block_id{b.id}, initial_contents(b.id, b.size), b.access); ec)
      return "define the second VF's block: " + ec.message();
  }
  return {};
}

// What the tool can make the PF do besides answering: raise invalidations, restart, reset a VF (an FLR).
// --self does all three; an external PF through --invalidate-cmd / --restart-cmd / --flr-cmd; otherwise the
// cases that need it SKIP.
class pf_control {
 public:
  virtual ~pf_control() = default;
  // Empty when possible; otherwise why not (the SKIP reason).
  [[nodiscard]] virtual std::string can_invalidate() const = 0;
  [[nodiscard]] virtual std::string can_restart() const = 0;
  // Raises `mask` (blocks 0..63) for VF `vf` (0: the VF under test, 1: the second VF). Returns an error text.
  virtual std::string invalidate(int vf, std::uint64_t mask) = 0;
  virtual std::string restart() = 0;
  // A Function Level Reset of VF `vf` (docs/protocol.md 5.4). Returns once the PF has taken it (the case
  // waits for the new epoch). By default a PF under test cannot be made to reset a VF.
  [[nodiscard]] virtual std::string can_flr() const { return "the tool cannot make this PF reset a VF (--flr-cmd)"; }
  virtual std::string flr(int /*vf*/) { return can_flr(); }
};

}  // namespace vpci::conformance
