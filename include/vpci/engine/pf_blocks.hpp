// The PF's block store (freestanding, sans-I/O): per VF, per block, stored contents and/or an IHV
// handler, with the isolation and admission rules every binding shares. Bindings (the config-space
// mailbox, the Hyper-V messages) decode requests, tag them with the VF they physically came from, and
// call serve_read / serve_write here; nothing a VF sends can name another VF.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include <vpci/block/block.hpp>
#include <vpci/block/block_buffer.hpp>
#include <vpci/protocol/block_id.hpp>
#include <vpci/protocol/constants.hpp>
#include <vpci/protocol/ntstatus.hpp>
#include <vpci/protocol/result.hpp>

namespace vpci::engine {

using vf_index = std::uint16_t;

enum class block_access : std::uint8_t { read_only = 1, write_only = 2, read_write = 3 };

// Why a VF was quarantined. Only overflow and protocol violations quarantine, never counts of errors.
enum class quarantine_reason : std::uint8_t { none = 0, overflow, protocol_violation };

// An IHV handler for computed blocks. Called on the PF's engine thread, synchronously.
class block_handler {
 public:
  // Fill `out` (capacity = the block's size) and set `bytes`; return the NTSTATUS to report.
  virtual ntstatus on_read(vf_index vf, block_id id, std::span<std::byte> out, std::size_t& bytes) = 0;
  // `data` has exactly the block's size. Return the NTSTATUS to report.
  virtual ntstatus on_write(vf_index vf, block_id id, std::span<const std::byte> data) = 0;

 protected:
  ~block_handler() = default;
};

// Per-VF counters a PF operator wants to see (all saturate rather than wrap).
struct vf_counters {
  std::uint64_t reads{0};
  std::uint64_t writes{0};
  std::uint64_t refused{0};       // requests answered with an error status
  std::uint64_t busy{0};          // requests answered STATUS_DEVICE_NOT_READY
  std::uint64_t dropped{0};       // frames or doorbells ignored (stale, duplicate, quarantined)
  std::uint64_t violations{0};    // protocol violations seen
};

struct serve_result {
  ntstatus status{ntstatus::success};
  std::size_t bytes{0};
};

struct pf_limits {
  // Requests a VF may have in flight before it is answered busy (STATUS_DEVICE_NOT_READY). The default
  // matches the VF engines' own limit, so a VF that keeps to the protocol never sees busy.
  std::uint32_t max_in_flight{64};
};

template <std::size_t MaxVfs>
class pf_blocks {
  static_assert(MaxVfs >= 1 && MaxVfs <= 0xFFFF, "pf_blocks: MaxVfs must be 1..65535");

 public:
  static constexpr std::size_t max_vfs = MaxVfs;

  constexpr explicit pf_blocks(pf_limits limits = {}) noexcept : limits_(limits) {}

  // --- VF lifecycle -------------------------------------------------------------------------------
  // Registers VF `vf` with its routing ID. Already registered or out of range: errors, nothing changed.
  [[nodiscard]] constexpr errc register_vf(vf_index vf, std::uint16_t routing_id) noexcept {
    if (vf >= MaxVfs) return errc::invalid_argument;
    if (vfs_[vf].registered) return errc::invalid_argument;
    vfs_[vf] = vf_state{};
    vfs_[vf].registered = true;
    vfs_[vf].routing_id = routing_id;
    return no_error;
  }
  // Forgets the VF and every block of it.
  [[nodiscard]] constexpr errc unregister_vf(vf_index vf) noexcept {
    if (!registered(vf)) return errc::not_found;
    for (block_id id : block_mask{vfs_[vf].defined_mask}) --owners_[id.value()];
    vfs_[vf] = vf_state{};
    return no_error;
  }
  // A VF reset (FLR): lifts quarantine and clears in-flight accounting; blocks stay defined and
  // pending invalidations stay pending (an invalidation is never lost).
  [[nodiscard]] constexpr errc reset_vf(vf_index vf) noexcept {
    if (!registered(vf)) return errc::not_found;
    vfs_[vf].quarantine = quarantine_reason::none;
    vfs_[vf].in_flight = 0;
    return no_error;
  }
  [[nodiscard]] constexpr bool registered(vf_index vf) const noexcept { return vf < MaxVfs && vfs_[vf].registered; }
  [[nodiscard]] constexpr std::uint16_t routing_id(vf_index vf) const noexcept {
    return registered(vf) ? vfs_[vf].routing_id : 0;
  }

  // --- blocks -------------------------------------------------------------------------------------
  // Defines raw block `id` of `vf` with `initial` contents (its length is the block's size, 1..128).
  [[nodiscard]] constexpr errc define_block(vf_index vf, block_id id, std::span<const std::byte> initial,
                                            block_access access = block_access::read_write,
                                            block_handler* handler = nullptr) noexcept {
    if (!registered(vf)) return errc::not_found;
    if (!id.invalidatable()) return errc::invalid_block_id;
    if (!valid_block_length(initial.size())) return errc::invalid_length;
    block_slot& slot = vfs_[vf].blocks[id.value()];
    (void)slot.contents.assign(initial);
    if (!slot.defined) {
      ++owners_[id.value()];
      vfs_[vf].defined_mask |= std::uint64_t{1} << id.value();
    }
    slot.access = access;
    slot.handler = handler;
    slot.defined = true;
    return no_error;
  }
  // Defines a typed block from its descriptor: the size is the descriptor's, the contents `initial`.
  template <class Block>
  [[nodiscard]] constexpr errc define(vf_index vf, const typename Block::value_type& initial,
                                      block_access access = block_access::read_write,
                                      block_handler* handler = nullptr) noexcept {
    const auto bytes = Block::to_buffer(initial);
    return define_block(vf, Block::id, bytes.span(), access, handler);
  }
  [[nodiscard]] constexpr bool defined(vf_index vf, block_id id) const noexcept {
    return registered(vf) && id.invalidatable() && vfs_[vf].blocks[id.value()].defined;
  }
  // The PF's own update of a stored block (same size as defined). Does not invalidate by itself.
  [[nodiscard]] constexpr errc store(vf_index vf, block_id id, std::span<const std::byte> bytes) noexcept {
    if (!defined(vf, id)) return errc::not_found;
    block_slot& slot = vfs_[vf].blocks[id.value()];
    if (bytes.size() != slot.contents.size()) return errc::invalid_length;
    (void)slot.contents.assign(bytes);
    return no_error;
  }
  template <class Block>
  [[nodiscard]] constexpr errc store(vf_index vf, const typename Block::value_type& value) noexcept {
    const auto bytes = Block::to_buffer(value);
    return store(vf, Block::id, bytes.span());
  }
  // The stored bytes of a block (empty when not defined).
  [[nodiscard]] constexpr std::span<const std::byte> contents(vf_index vf, block_id id) const noexcept {
    if (!defined(vf, id)) return {};
    return vfs_[vf].blocks[id.value()].contents.span();
  }
  template <class Block>
  [[nodiscard]] constexpr result<typename Block::value_type> load(vf_index vf) const noexcept {
    if (!defined(vf, Block::id)) return errc::not_found;
    return Block::decode(contents(vf, Block::id));
  }

  // --- serving requests a VF sent -----------------------------------------------------------------
  // The VF's read of `requested` bytes of block `id`, answered into `out` (>= the block's size).
  // Windows semantics: Length 0 or > 128 is STATUS_INVALID_PARAMETER; an undefined block or an ID the
  // VF has no block for is STATUS_INVALID_PARAMETER; a length below the block's size is
  // STATUS_BUFFER_TOO_SMALL; a write-only block is STATUS_ACCESS_DENIED.
  constexpr serve_result serve_read(vf_index vf, block_id id, std::size_t requested, std::span<std::byte> out) noexcept {
    if (!registered(vf)) return {ntstatus::access_denied, 0};
    vf_state& state = vfs_[vf];
    if (state.quarantine != quarantine_reason::none) return refuse(state, ntstatus::access_denied);
    if (!valid_block_length(requested)) return refuse(state, ntstatus::invalid_parameter);
    if (!id.invalidatable() || !state.blocks[id.value()].defined) return refuse(state, undefined_block_status(id));
    block_slot& slot = state.blocks[id.value()];
    if ((static_cast<std::uint8_t>(slot.access) & 1u) == 0) return refuse(state, ntstatus::access_denied);
    const std::size_t size = slot.contents.size();
    if (requested < size || out.size() < size) return refuse(state, ntstatus::buffer_too_small);
    serve_result answer{ntstatus::success, size};
    if (slot.handler != nullptr) {
      std::size_t produced = 0;
      answer.status = slot.handler->on_read(vf, id, out.first(size), produced);
      // A handler cannot claim more than the block holds: the answer is clamped, never over-read.
      answer.bytes = produced > size ? size : produced;
      if (answer.status != ntstatus::success) answer.bytes = 0;
      else if (answer.bytes == 0) answer.status = ntstatus::unsuccessful;
    } else {
      le::copy(slot.contents.span(), out.data());
    }
    if (answer.status != ntstatus::success) return refuse(state, answer.status);
    bump(state.counters.reads);
    return answer;
  }

  // The VF's write of `data` to block `id`: the length must equal the block's size.
  constexpr serve_result serve_write(vf_index vf, block_id id, std::span<const std::byte> data) noexcept {
    if (!registered(vf)) return {ntstatus::access_denied, 0};
    vf_state& state = vfs_[vf];
    if (state.quarantine != quarantine_reason::none) return refuse(state, ntstatus::access_denied);
    if (!valid_block_length(data.size())) return refuse(state, ntstatus::invalid_parameter);
    if (!id.invalidatable() || !state.blocks[id.value()].defined) return refuse(state, undefined_block_status(id));
    block_slot& slot = state.blocks[id.value()];
    if ((static_cast<std::uint8_t>(slot.access) & 2u) == 0) return refuse(state, ntstatus::access_denied);
    if (data.size() != slot.contents.size()) return refuse(state, ntstatus::invalid_parameter);
    if (slot.handler != nullptr) {
      const ntstatus status = slot.handler->on_write(vf, id, data);
      if (status != ntstatus::success) return refuse(state, status);
    } else {
      (void)slot.contents.assign(data);
    }
    bump(state.counters.writes);
    return {ntstatus::success, data.size()};
  }

  // --- admission: requests in flight, quarantine --------------------------------------------------
  // Admits one more request of `vf`: busy past the cap, access_denied when quarantined or unknown.
  [[nodiscard]] constexpr ntstatus admit(vf_index vf) noexcept {
    if (!registered(vf)) return ntstatus::access_denied;
    vf_state& state = vfs_[vf];
    if (state.quarantine != quarantine_reason::none) {
      bump(state.counters.dropped);
      return ntstatus::access_denied;
    }
    if (state.in_flight >= limits_.max_in_flight) {
      bump(state.counters.busy);
      return ntstatus::device_not_ready;
    }
    ++state.in_flight;
    return ntstatus::success;
  }
  // The answer to an admitted request has left the PF.
  constexpr void retire(vf_index vf) noexcept {
    if (registered(vf) && vfs_[vf].in_flight > 0) --vfs_[vf].in_flight;
  }
  [[nodiscard]] constexpr std::uint32_t in_flight(vf_index vf) const noexcept {
    return registered(vf) ? vfs_[vf].in_flight : 0;
  }
  constexpr void quarantine(vf_index vf, quarantine_reason reason) noexcept {
    if (!registered(vf) || reason == quarantine_reason::none) return;
    if (reason == quarantine_reason::protocol_violation) bump(vfs_[vf].counters.violations);
    if (vfs_[vf].quarantine == quarantine_reason::none) vfs_[vf].quarantine = reason;
  }
  [[nodiscard]] constexpr quarantine_reason quarantined(vf_index vf) const noexcept {
    return registered(vf) ? vfs_[vf].quarantine : quarantine_reason::none;
  }
  constexpr void count_dropped(vf_index vf) noexcept {
    if (registered(vf)) bump(vfs_[vf].counters.dropped);
  }
  [[nodiscard]] constexpr vf_counters counters(vf_index vf) const noexcept {
    return registered(vf) ? vfs_[vf].counters : vf_counters{};
  }
  [[nodiscard]] constexpr const pf_limits& limits() const noexcept { return limits_; }

  // --- invalidation -------------------------------------------------------------------------------
  // ORs `mask` into the VF's pending invalidations (coalescing); bindings deliver and clear them.
  [[nodiscard]] constexpr errc invalidate(vf_index vf, block_mask mask) noexcept {
    if (!registered(vf)) return errc::not_found;
    vfs_[vf].pending_invalidations |= mask;
    return no_error;
  }
  // SRIOV_INVALIDATE_BLOCK_ALL_VFS.
  constexpr void invalidate_all(block_mask mask) noexcept {
    for (vf_state& state : vfs_)
      if (state.registered) state.pending_invalidations |= mask;
  }
  [[nodiscard]] constexpr block_mask pending_invalidations(vf_index vf) const noexcept {
    return registered(vf) ? vfs_[vf].pending_invalidations : block_mask{};
  }
  // Takes the pending mask (the binding has delivered it).
  constexpr block_mask take_invalidations(vf_index vf) noexcept {
    if (!registered(vf)) return {};
    const block_mask mask = vfs_[vf].pending_invalidations;
    vfs_[vf].pending_invalidations = block_mask{};
    return mask;
  }

 private:
  struct block_slot {
    block_buffer<max_block_size> contents{};
    block_handler* handler{nullptr};
    block_access access{block_access::read_write};
    bool defined{false};
  };
  struct vf_state {
    std::array<block_slot, invalidatable_block_count> blocks{};
    vf_counters counters{};
    block_mask pending_invalidations{};
    std::uint64_t defined_mask{0};
    std::uint32_t in_flight{0};
    std::uint16_t routing_id{0};
    quarantine_reason quarantine{quarantine_reason::none};
    bool registered{false};
  };

  static constexpr void bump(std::uint64_t& counter) noexcept {
    if (counter != ~std::uint64_t{0}) ++counter;
  }
  // A block another VF owns is that VF's: access denied. A block nobody defines: invalid parameter.
  constexpr ntstatus undefined_block_status(block_id id) const noexcept {
    return id.invalidatable() && owners_[id.value()] > 0 ? ntstatus::access_denied : ntstatus::invalid_parameter;
  }
  constexpr serve_result refuse(vf_state& state, ntstatus status) noexcept {
    bump(state.counters.refused);
    return {status, 0};
  }

  pf_limits limits_;
  std::array<std::uint32_t, invalidatable_block_count> owners_{};  // how many VFs define each block ID
  std::array<vf_state, MaxVfs> vfs_{};
};

}  // namespace vpci::engine
