// The PF's block store (freestanding, sans-I/O): per VF, per block, stored contents and/or an IHV
// handler, with the isolation and admission rules every binding shares. Bindings (the config-space
// mailbox, the Hyper-V messages) decode requests, tag them with the VF they physically came from, and
// call serve_read / serve_write here; nothing a VF sends can name another VF.
//
// Capacity is fixed when the store is made, never grown: how many blocks all VFs together may define
// (one slot each) and how many bytes of contents they may hold (one arena, packed in the order blocks
// were defined: a block takes exactly its size, and a block with a handler sizeof(block_handler*) more,
// where its handler is kept; a redefined or removed block's bytes are closed up). Three ways to make
// one, one set of rules (the hosted default store also skews VFs' runs of blocks apart, below):
// - static_pf_blocks<MaxVfs, MaxBlocks, MaxBytes>: the storage inside the object, sized at compile
//   time (firmware: a global one is zero-initialised, .bss, and set up by its constructor at startup);
// - pf_blocks<MaxVfs>(slots, arena): the caller's storage;
// - pf_blocks<MaxVfs>(limits), hosted builds only: default_block_capacity slots and
//   default_byte_capacity bytes (every VF 64 blocks of 128 bytes), allocated once by the constructor.
// Bindings and sessions take a pf_blocks<MaxVfs>&, which each of them is.
//
// Block IDs are any 32-bit value (a Windows BlockId is a ULONG). A block is found by binary search
// over the slots, sorted by (ID, VF): O(log n) for any ID, sparse or not, and the same search tells
// whether another VF defines the ID (the hosted default store adds a direct index of blocks 0..63, for
// hundreds of VFs). Only blocks 0..63 can be invalidated (the UINT64 BlockMask).
#pragma once

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <span>
#include <type_traits>

#if __STDC_HOSTED__
#include <memory>
#include <new>
#endif

#include <vpci/block/block.hpp>
#include <vpci/block/block_buffer.hpp>
#include <vpci/block/endian.hpp>
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
//
// A handler returns STATUS_SUCCESS, or a failure: a warning or an error (NT_SUCCESS false). Any other
// status that NT_SUCCESS takes for success (STATUS_PENDING, an informational value) is answered as
// STATUS_UNSUCCESSFUL with nothing transferred: the VFs read NT_SUCCESS values as success (Linux's
// pci-hyperv does), so forwarding one reported a read of data never given, or a write never done.
class block_handler {
 public:
  // Fill `out` (capacity = the block's size) and set `bytes`; return the NTSTATUS to report. A handler that
  // throws (hosted) fails that request alone: the VF is answered STATUS_UNSUCCESSFUL, counted as refused,
  // and the exception goes no further (what the handler changed before it threw is its own).
  virtual ntstatus on_read(vf_index vf, block_id id, std::span<std::byte> out, std::size_t& bytes) = 0;
  // `data` has exactly the block's size. Return the NTSTATUS to report (a throw: as on_read's).
  virtual ntstatus on_write(vf_index vf, block_id id, std::span<const std::byte> data) = 0;

 protected:
  ~block_handler() = default;
};

// A counter is the target's word: 32 bits on a 32-bit microcontroller, 64 bits on a 64-bit host. On a
// microcontroller a 64-bit count costs a second word per counter and a two-word saturating add on every
// request, and buys nothing: at one config cycle per microsecond and at least five cycles per request,
// 2^32 requests take more than five hours of back-to-back traffic, and a count that saturates says so.
using vf_counter = std::conditional_t<(sizeof(void*) < 8), std::uint32_t, std::uint64_t>;

// Per-VF counters a PF operator wants to see (all saturate rather than wrap). Each names exactly what
// bumps it; a request is counted once at most, and some answered requests in no counter at all (below).
struct vf_counters {
  vf_counter reads{0};   // reads the store served (serve_read answered STATUS_SUCCESS), any binding
  vf_counter writes{0};  // writes the store served (serve_write answered STATUS_SUCCESS), any binding
  // Requests the store refused: serve_read / serve_write answered an error status (a quarantined VF, a
  // bad length, a block the VF has none of, its access, a handler's failure or a status it may not
  // give). Requests a binding refuses before asking the store are not in it: the mailbox's unknown
  // operation or reserved bits (dropped), its sequence violation (violations), its request rung before
  // an FLR zeroed the registers (STATUS_DEVICE_NOT_READY, in no counter here); the Hyper-V binding's
  // admission refusals (busy, dropped) and its foreign wslot or bad length (its session's counters).
  vf_counter refused{0};
  // Requests admit() refused at the in-flight cap (STATUS_DEVICE_NOT_READY; the Hyper-V binding). Not a
  // handler's STATUS_DEVICE_NOT_READY (refused), nor the mailbox's answer to a stale doorbell.
  vf_counter busy{0};
  // Requests admit() refused because the VF is quarantined (the Hyper-V binding); mailbox requests with
  // an unknown operation or reserved bits (answered STATUS_INVALID_DEVICE_REQUEST); VF writes into
  // PF-owned mailbox registers the PF undid (one per service that undid any). A replayed doorbell is no
  // request and is not counted.
  vf_counter dropped{0};
  vf_counter violations{0};  // protocol violations: quarantine(vf, protocol_violation) calls, from any binding
};

// A config-space mailbox window's invalidation latch (docs/protocol.md 4.3): the bits published and not
// yet acknowledged, and those raised again since they were latched.
struct mailbox_latch {
  block_mask latched{};
  block_mask reraised{};
};

// What a VF's next mailbox session on a store starts from (pf_blocks::take_mailbox_latch).
enum class mailbox_history : std::uint8_t {
  none,     // nothing kept: a window some PF initialised is a restarted PF's (its latch adopted, a live
            // window's request kept); a freestanding store always answers this
  kept,     // the latch an earlier session of this store left at a detach (a re-attach publishes it)
  removed,  // this store removed the VF at this index (unregister_vf) since its last session: a window
            // shows what that VF left, which is no restarted PF's and not the new VF's (zeroed whole,
            // nothing adopted from it)
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
class pf_blocks;

// One defined block: the store's bookkeeping, in storage the store is given (12 bytes). Trivial, so
// storage for many of them costs nothing until blocks are defined.
class pf_block_slot {
  template <std::size_t>
  friend class pf_blocks;

  std::uint32_t id_;
  std::uint32_t offset_;  // of the block's region in the arena
  vf_index vf_;
  std::uint8_t size_;   // of the contents, 1..128
  std::uint8_t flags_;  // block_access bits, and computed_flag
};

template <std::size_t MaxVfs>
class pf_blocks {
  static_assert(MaxVfs >= 1 && MaxVfs <= 0xFFFF, "pf_blocks: MaxVfs must be 1..65535");

 public:
  static constexpr std::size_t max_vfs = MaxVfs;
  // The capacity of pf_blocks<MaxVfs>(limits) in a hosted build: what the store held before capacity
  // became a choice (every VF 64 blocks of 128 bytes), now shared by the VFs and allocated once.
  static constexpr std::size_t default_block_capacity = MaxVfs * invalidatable_block_count;
  static constexpr std::size_t default_byte_capacity = default_block_capacity * max_block_size;
  // Run skews (hosted default store only). A PF defines its VFs' blocks VF by VF, each VF the same set,
  // so the arena holds one run per VF and block b of every VF sits one run's length from the next VF's.
  // When that length is a multiple of 1 KiB (64 blocks of 128 bytes: 8 KiB) the VFs' copies of a block
  // fall into a few cache sets: at 256 VFs x 8 KiB, block b of all VFs maps to 16 of L2's 1024 sets (1 MiB,
  // 16 ways) and a round over the VFs misses L2 on every read although it touches 32 KiB of contents. So
  // a run that follows one of such a length starts run_skew bytes later (two lines: 128-byte blocks stay
  // aligned pairs of lines), from room the store adds for it (run_skew per VF) and never counts against
  // byte_capacity(): what fits without skews fits with them, and when the room is used up runs are
  // simply not skewed. Stores on the caller's storage are never skewed (their bytes are exactly theirs).
  static constexpr std::size_t run_skew = 128;
  static constexpr std::size_t run_alias_period = 1024;
  static constexpr std::size_t default_skew_capacity = MaxVfs * run_skew;

  // Serves from the caller's storage, which must outlive the store: `slots` bound how many blocks all
  // VFs together may define, `arena` their contents (up to 4 GiB of it is used).
  pf_blocks(std::span<pf_block_slot> slots, std::span<std::byte> arena, pf_limits limits = {}) noexcept
      : limits_(limits),
        slots_(slots.data()),
        arena_(arena.data()),
        slot_capacity_(slots.size()),
        byte_capacity_(arena.size() > 0xFFFFFFFFu ? 0xFFFFFFFFu : static_cast<std::uint32_t>(arena.size())) {}
#if __STDC_HOSTED__
  // Hosted: default_block_capacity slots and default_byte_capacity bytes (and default_skew_capacity for
  // run skews) from the heap, allocated here once (untouched until blocks are defined), with a direct
  // index of blocks 0..63 (below); serving never allocates. The arena starts on a 128-byte boundary (the
  // heap aligns to 16 bytes only), so a 128-byte block defined among 128-byte blocks is one aligned pair
  // of cache lines, not three lines: a PF serving hundreds of VFs reads contents that are not in cache,
  // each line is a miss, and the hardware fetches a line's aligned pair with it.
  explicit pf_blocks(pf_limits limits = {}) : limits_(limits) {
    auto slots = std::make_unique_for_overwrite<pf_block_slot[]>(default_block_capacity);
    std::unique_ptr<std::byte[], arena_delete> arena(
        static_cast<std::byte*>(::operator new[](default_byte_capacity + default_skew_capacity, arena_alignment)));
    auto direct = std::make_unique<std::uint32_t[]>(MaxVfs * invalidatable_block_count);
    slots_ = slots.release();
    arena_ = arena.release();
    direct_ = direct.release();
    slot_capacity_ = default_block_capacity;
    byte_capacity_ = static_cast<std::uint32_t>(default_byte_capacity);
    skew_capacity_ = static_cast<std::uint32_t>(default_skew_capacity);
  }
  ~pf_blocks() {
    if (direct_ != nullptr) {  // the storage is this store's own
      delete[] slots_;
      arena_delete{}(arena_);
      delete[] direct_;
    }
  }
#else
  // A freestanding build has no heap: the store must be given its storage.
  template <class Limits = pf_limits>
    requires std::is_same_v<Limits, pf_limits>
  explicit pf_blocks(Limits = {}) {
    static_assert(sizeof(Limits) == 0,
                  "vpci::engine::pf_blocks<MaxVfs>: a freestanding build has no default capacity (it would need the "
                  "heap); use static_pf_blocks<MaxVfs, MaxBlocks, MaxBytes> or give the store its slots and arena");
  }
#endif
  // The store refers to its storage (its own, or the caller's): copying it would share that.
  pf_blocks(const pf_blocks&) = delete;
  pf_blocks& operator=(const pf_blocks&) = delete;

  // --- capacity -----------------------------------------------------------------------------------
  [[nodiscard]] std::size_t block_capacity() const noexcept { return slot_capacity_; }
  [[nodiscard]] std::size_t byte_capacity() const noexcept { return byte_capacity_; }
  [[nodiscard]] std::size_t blocks_defined() const noexcept { return used_slots_; }
  // Arena bytes in use: the contents of every block, and the pointer of every block with a handler.
  [[nodiscard]] std::size_t bytes_used() const noexcept { return used_bytes_; }
  // The arena's size: byte_capacity(), and in the hosted default store the room for run skews.
  [[nodiscard]] std::size_t arena_size() const noexcept {
#if __STDC_HOSTED__
    return std::size_t{byte_capacity_} + skew_capacity_;
#else
    return byte_capacity_;
#endif
  }

  // --- VF lifecycle -------------------------------------------------------------------------------
  // Registers VF `vf` with its routing ID. Already registered or out of range: errors, nothing changed.
  [[nodiscard]] errc register_vf(vf_index vf, std::uint16_t routing_id) noexcept {
    if (vf >= MaxVfs) return errc::invalid_argument;
    if (vfs_[vf].registered) return errc::invalid_argument;
#if __STDC_HOSTED__
    const bool removed = vfs_[vf].removed;
#endif
    vfs_[vf] = vf_state{};
#if __STDC_HOSTED__
    vfs_[vf].removed = removed;
#endif
    vfs_[vf].registered = true;
    vfs_[vf].routing_id = routing_id;
    return no_error;
  }
  // Forgets the VF and every block of it; their slots and bytes are free again. Each region is freed in
  // turn (the arena above it moves down), then the slots close up in one pass and the index is marked
  // outdated: a slot shift and an index pass per block made SR-IOV's end on a PF serving 256 VFs x 64
  // blocks take seconds.
  [[nodiscard]] errc unregister_vf(vf_index vf) noexcept {
    if (!registered(vf)) return errc::not_found;
    for (std::size_t i = 0; i < used_slots_; ++i)
      if (slots_[i].vf_ == vf) free_region(slots_[i]);
    std::size_t kept = 0;
    for (std::size_t i = 0; i < used_slots_; ++i)
      if (slots_[i].vf_ != vf) slots_[kept++] = slots_[i];
    if (kept != used_slots_) {
      used_slots_ = kept;
      index_outdated();
    }
    vfs_[vf] = vf_state{};
#if __STDC_HOSTED__
    vfs_[vf].removed = true;
#endif
    return no_error;
  }
  // A VF reset, an FLR or the mailbox's RESET (docs/protocol.md 5.2, 5.4): lifts quarantine. Blocks stay
  // defined, pending invalidations pending (an invalidation is never lost), a mailbox latch kept. The
  // in-flight count stays too: it counts answers a binding admitted and still holds (the Hyper-V
  // binding's queue, which a reset does not empty), and that binding retires each one as it hands it or
  // stops serving; zeroing it here let those retirements go missing and the VF have twice the cap
  // admitted (a VF could do it at will by writing RESET in its mailbox).
  [[nodiscard]] errc reset_vf(vf_index vf) noexcept {
    if (!registered(vf)) return errc::not_found;
    vfs_[vf].quarantine = quarantine_reason::none;
    return no_error;
  }
  [[nodiscard]] bool registered(vf_index vf) const noexcept { return vf < MaxVfs && vfs_[vf].registered; }
  [[nodiscard]] std::uint16_t routing_id(vf_index vf) const noexcept {
    return registered(vf) ? vfs_[vf].routing_id : 0;
  }

  // --- blocks -------------------------------------------------------------------------------------
  // Defines raw block `id` (any 32-bit ID) of `vf` with `initial` contents (its length is the block's
  // size, 1..128); a block already defined is redefined (size, contents, access, handler).
  // Errors, nothing changed: not_found (VF not registered), invalid_length, insufficient_resources (no
  // free slot for a new block, or not enough free bytes for its contents).
  [[nodiscard]] errc define_block(vf_index vf, block_id id, std::span<const std::byte> initial,
                                  block_access access = block_access::read_write,
                                  block_handler* handler = nullptr) noexcept {
    if (!registered(vf)) return errc::not_found;
    if (!valid_block_length(initial.size())) return errc::invalid_length;
    // `initial` may be another block's contents(), which the arena moves below: taken first.
    std::array<std::byte, max_block_size> staged;
    copy_bytes(staged.data(), initial.data(), initial.size());
    const position at = locate(vf, id);
    const std::uint32_t region = static_cast<std::uint32_t>(initial.size()) + (handler != nullptr ? handler_bytes : 0u);
    const std::uint32_t old_region = at.found ? region_size(slots_[at.index]) : 0u;
    if (!at.found && used_slots_ == slot_capacity_) return errc::insufficient_resources;
    if (region > old_region && region - old_region > byte_capacity_ - used_bytes_) return errc::insufficient_resources;
    if (at.found) {
      free_region(slots_[at.index]);  // redefined: its region is made anew at the end
    } else {
      slots_opened(at.index);
      slots_[at.index].id_ = id.value();
      slots_[at.index].vf_ = vf;
      ++used_slots_;
      index_outdated();
    }
    pf_block_slot& slot = slots_[at.index];
    const std::uint32_t skew = start_of_run(vf);
    slot.offset_ = arena_end() + skew;
    used_bytes_ += region;
    run_skewed(skew);
    slot.size_ = static_cast<std::uint8_t>(initial.size());
    slot.flags_ = static_cast<std::uint8_t>((static_cast<std::uint8_t>(access) & 3u) |
                                            (handler != nullptr ? computed_flag : 0u) | (skew != 0 ? skewed_flag : 0u));
    if (handler != nullptr) {
      const auto representation = std::bit_cast<std::array<std::byte, handler_bytes>>(handler);
      le::copy(representation, arena_ + slot.offset_);
    }
    copy_bytes(contents_of(slot), staged.data(), initial.size());
    return no_error;
  }
  // Defines a typed block from its descriptor: the size is the descriptor's, the contents `initial`.
  template <class Block>
  [[nodiscard]] errc define(vf_index vf, const typename Block::value_type& initial,
                            block_access access = block_access::read_write,
                            block_handler* handler = nullptr) noexcept {
    const auto bytes = Block::to_buffer(initial);
    return define_block(vf, Block::id, bytes.span(), access, handler);
  }
  [[nodiscard]] bool defined(vf_index vf, block_id id) const noexcept { return find(vf, id) != nullptr; }
  // The PF's own update of a stored block (same size as defined). Does not invalidate by itself.
  [[nodiscard]] errc store(vf_index vf, block_id id, std::span<const std::byte> bytes) noexcept {
    const pf_block_slot* slot = find(vf, id);
    if (slot == nullptr) return errc::not_found;
    if (bytes.size() != slot->size_) return errc::invalid_length;
    copy_bytes(contents_of(*slot), bytes.data(), bytes.size());
    return no_error;
  }
  template <class Block>
  [[nodiscard]] errc store(vf_index vf, const typename Block::value_type& value) noexcept {
    const auto bytes = Block::to_buffer(value);
    return store(vf, Block::id, bytes.span());
  }
  // The stored bytes of a block (empty when not defined). Valid until the next define_block, define
  // or unregister_vf (which may move contents in the arena).
  [[nodiscard]] std::span<const std::byte> contents(vf_index vf, block_id id) const noexcept {
    const pf_block_slot* slot = find(vf, id);
    if (slot == nullptr) return {};
    return {contents_of(*slot), slot->size_};
  }
  // The stored block decoded: not_found when not defined, block_size_mismatch when it was defined with
  // another size than the descriptor's (the rule a VF's typed read follows, detail::decode_received).
  template <class Block>
  [[nodiscard]] result<typename Block::value_type> load(vf_index vf) const noexcept {
    if (!defined(vf, Block::id)) return errc::not_found;
    return detail::decode_received<Block>(contents(vf, Block::id));
  }

  // --- serving requests a VF sent -----------------------------------------------------------------
  // The VF's read of `requested` bytes of block `id`, answered into `out` (>= the block's size).
  // Windows semantics: Length 0 or > 128 is STATUS_INVALID_PARAMETER; an undefined block or an ID the
  // VF has no block for is STATUS_INVALID_PARAMETER, or STATUS_ACCESS_DENIED when another VF defines
  // it; a length below the block's size is STATUS_BUFFER_TOO_SMALL; a write-only block is
  // STATUS_ACCESS_DENIED.
  serve_result serve_read(vf_index vf, block_id id, std::size_t requested, std::span<std::byte> out) noexcept {
    if (!registered(vf)) return {ntstatus::access_denied, 0};
    vf_state& state = vfs_[vf];
    if (state.quarantine != quarantine_reason::none) return refuse(state, ntstatus::access_denied);
    if (!valid_block_length(requested)) return refuse(state, ntstatus::invalid_parameter);
    index_updated();
    const position at = locate(vf, id);
    if (!at.found) return refuse(state, undefined_block_status(at, id));
    const pf_block_slot& slot = slots_[at.index];
    if ((slot.flags_ & readable_flag) == 0) return refuse(state, ntstatus::access_denied);
    const std::size_t size = slot.size_;
    if (requested < size || out.size() < size) return refuse(state, ntstatus::buffer_too_small);
    serve_result answer{ntstatus::success, size};
    if ((slot.flags_ & computed_flag) != 0) {
      // The handler may define or remove blocks: nothing of the slot is used after it returns.
      std::size_t produced = 0;
#if defined(__cpp_exceptions)
      answer.status = call_on_read(*handler_of(slot), vf, id, out.first(size), produced);
#else
      answer.status = handler_of(slot)->on_read(vf, id, out.first(size), produced);
#endif
      // A handler cannot claim more than the block holds: the answer is clamped, never over-read.
      answer.bytes = produced > size ? size : produced;
      if (answer.status != ntstatus::success) answer.bytes = 0;
      else if (answer.bytes == 0) answer.status = ntstatus::unsuccessful;
    } else {
      copy_bytes(out.data(), contents_of(slot), size);
    }
    if (answer.status != ntstatus::success) return refuse(state, answer.status);
    bump(state.counters.reads);
    return answer;
  }

  // The VF's write of `data` to block `id`: the length must equal the block's size.
  serve_result serve_write(vf_index vf, block_id id, std::span<const std::byte> data) noexcept {
    if (!registered(vf)) return {ntstatus::access_denied, 0};
    vf_state& state = vfs_[vf];
    if (state.quarantine != quarantine_reason::none) return refuse(state, ntstatus::access_denied);
    if (!valid_block_length(data.size())) return refuse(state, ntstatus::invalid_parameter);
    index_updated();
    const position at = locate(vf, id);
    if (!at.found) return refuse(state, undefined_block_status(at, id));
    const pf_block_slot& slot = slots_[at.index];
    if ((slot.flags_ & writable_flag) == 0) return refuse(state, ntstatus::access_denied);
    if (data.size() != slot.size_) return refuse(state, ntstatus::invalid_parameter);
    if ((slot.flags_ & computed_flag) != 0) {
#if defined(__cpp_exceptions)
      const ntstatus status = call_on_write(*handler_of(slot), vf, id, data);
#else
      const ntstatus status = handler_of(slot)->on_write(vf, id, data);
#endif
      if (status != ntstatus::success) return refuse(state, status);
    } else {
      copy_bytes(contents_of(slot), data.data(), data.size());
    }
    bump(state.counters.writes);
    return {ntstatus::success, data.size()};
  }

  // A hint, changing nothing: `vf` named block `id` and a request for it is likely next, so the block's
  // slot and stored contents start on their way into the cache now. A PF serving hundreds of VFs finds
  // their contents in memory, not in cache; a binding that sees the VF write its block register before
  // the doorbell overlaps that wait with the VF's next access. Nothing for an unknown VF or block.
  void prefetch(vf_index vf, block_id id) const noexcept {
    const pf_block_slot* slot = find(vf, id);
    if (slot == nullptr || (slot->flags_ & computed_flag) != 0) return;
#if defined(__GNUC__)  // clang defines it too
    const std::byte* contents = contents_of(*slot);
    for (std::size_t at = 0; at < slot->size_; at += prefetch_stride) {
      __builtin_prefetch(contents + at);
      // g++ counts a prefetch as no side effect, finds this function pure and deletes every call to it
      // (g++ 12 at -O2 emitted none). An empty volatile asm is a side effect it must keep; it emits nothing.
      asm volatile("" : : "r"(contents + at));
    }
#endif
  }

  // --- admission: requests in flight, quarantine --------------------------------------------------
  // Admits one more request of `vf`: busy past the cap, access_denied when quarantined or unknown.
  [[nodiscard]] ntstatus admit(vf_index vf) noexcept {
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
  void retire(vf_index vf) noexcept {
    if (registered(vf) && vfs_[vf].in_flight > 0) --vfs_[vf].in_flight;
  }
  [[nodiscard]] std::uint32_t in_flight(vf_index vf) const noexcept {
    return registered(vf) ? vfs_[vf].in_flight : 0;
  }
  void quarantine(vf_index vf, quarantine_reason reason) noexcept {
    if (!registered(vf) || reason == quarantine_reason::none) return;
    if (reason == quarantine_reason::protocol_violation) bump(vfs_[vf].counters.violations);
    if (vfs_[vf].quarantine == quarantine_reason::none) vfs_[vf].quarantine = reason;
  }
  [[nodiscard]] quarantine_reason quarantined(vf_index vf) const noexcept {
    return registered(vf) ? vfs_[vf].quarantine : quarantine_reason::none;
  }
  void count_dropped(vf_index vf) noexcept {
    if (registered(vf)) bump(vfs_[vf].counters.dropped);
  }
  [[nodiscard]] vf_counters counters(vf_index vf) const noexcept {
    return registered(vf) ? vfs_[vf].counters : vf_counters{};
  }
  [[nodiscard]] const pf_limits& limits() const noexcept { return limits_; }

  // --- invalidation -------------------------------------------------------------------------------
  // ORs `mask` into the VF's pending invalidations (coalescing); bindings deliver and clear them.
  [[nodiscard]] errc invalidate(vf_index vf, block_mask mask) noexcept {
    if (!registered(vf)) return errc::not_found;
    vfs_[vf].pending_invalidations |= mask;
    return no_error;
  }
  // One block by ID. Errors, nothing changed: invalid_block_id (64 or above: the mask has no bit for
  // it), not_found (VF not registered).
  [[nodiscard]] errc invalidate(vf_index vf, block_id id) noexcept {
    block_mask mask;
    if (const errc e = mask.set(id); e != no_error) return e;
    return invalidate(vf, mask);
  }
  // One block by descriptor: a block that cannot be invalidated (Id 64 or above) does not compile.
  template <class Block>
  [[nodiscard]] errc invalidate(vf_index vf) noexcept {
    return invalidate(vf, Block::mask());
  }
  // SRIOV_INVALIDATE_BLOCK_ALL_VFS.
  void invalidate_all(block_mask mask) noexcept {
    for (vf_state& state : vfs_)
      if (state.registered) state.pending_invalidations |= mask;
  }
  [[nodiscard]] block_mask pending_invalidations(vf_index vf) const noexcept {
    return registered(vf) ? vfs_[vf].pending_invalidations : block_mask{};
  }
  // The mailbox latch a session of this store left when it stopped serving the VF's window
  // (pf_mailbox_session::release): the VF's next session here takes it at its first initialisation
  // instead of the mask the window shows (docs/protocol.md 5.3: a PF re-initialising a window it serves
  // publishes its own latch; only a PF without one, a restarted process with a new store, reads it there).
  // Kept across reset_vf, forgotten by unregister_vf, which leaves mailbox_history::removed for the next VF
  // at that index instead (its window is not to inherit the removed VF's data and latch); nothing kept for
  // an unregistered VF. A freestanding store keeps none: firmware serves a window with one session for the
  // VF's life (its re-initialisations keep their own latch), and the Cortex-M4 budget has no 24 bytes per
  // VF to spare for a re-attach it never makes.
  void keep_mailbox_latch([[maybe_unused]] vf_index vf, [[maybe_unused]] mailbox_latch latch) noexcept {
#if __STDC_HOSTED__
    if (!registered(vf)) return;
    vfs_[vf].kept_latch = latch;
    vfs_[vf].latch_kept = true;
#endif
  }
  // What the VF's next session starts from: kept (the latch, now in `latch` and no longer kept here),
  // removed (the VF at this index was removed since; said once) or none (`latch` unchanged).
  [[nodiscard]] mailbox_history take_mailbox_latch([[maybe_unused]] vf_index vf,
                                                   [[maybe_unused]] mailbox_latch& latch) noexcept {
#if __STDC_HOSTED__
    if (!registered(vf)) return mailbox_history::none;
    if (vfs_[vf].latch_kept) {
      latch = vfs_[vf].kept_latch;
      vfs_[vf].latch_kept = false;
      vfs_[vf].removed = false;
      return mailbox_history::kept;
    }
    if (vfs_[vf].removed) {
      vfs_[vf].removed = false;
      return mailbox_history::removed;
    }
#endif
    return mailbox_history::none;
  }
  // Takes the pending mask (the binding has delivered it).
  block_mask take_invalidations(vf_index vf) noexcept {
    if (!registered(vf)) return {};
    const block_mask mask = vfs_[vf].pending_invalidations;
    vfs_[vf].pending_invalidations = block_mask{};
    return mask;
  }

 private:
  // tests/explore reads and restores the whole state to explore every interleaving (no behaviour).
  friend struct explore_access;
  // What every request reads (registered, quarantine, the invalidations to publish) next to the counter
  // it bumps (reads, writes): a PF serving hundreds of VFs misses on each line of this once per request.
  struct vf_state {
    bool registered{false};
    quarantine_reason quarantine{quarantine_reason::none};
    std::uint16_t routing_id{0};
    std::uint32_t in_flight{0};
    block_mask pending_invalidations{};
    vf_counters counters{};
#if __STDC_HOSTED__
    // Touched only when a mailbox session stops or starts serving the window: after the hot part.
    bool latch_kept{false};
    bool removed{false};  // unregister_vf removed the VF at this index since its last mailbox session began
    mailbox_latch kept_latch{};
#endif
  };
  // Where (vf, id) is or would be inserted in the slots, sorted by (ID, VF).
  struct position {
    std::size_t index;
    bool found;
  };

  // `vf` is registered (below MaxVfs).
  [[nodiscard]] position locate(vf_index vf, block_id id) const noexcept {
    const std::uint64_t key = key_of(id.value(), vf);
#if __STDC_HOSTED__
    if (direct_ != nullptr && direct_current_ && id.value() < invalidatable_block_count) {
      // Taken only when it names this very block: the index speeds lookups up and never decides them.
      const std::uint32_t entry = direct_[direct_entry(vf, id.value())];
      if (entry != 0 && entry <= used_slots_ && key_of(slots_[entry - 1]) == key) return {entry - 1, true};
    }
#endif
    // A lower bound without branches on the data: every probe's outcome is a conditional move, so a
    // request costs the same ~log2(n) steps whatever the IDs, with no mispredicted branches.
    const pf_block_slot* base = slots_;
    std::size_t count = used_slots_;
    while (count > 1) {
      const std::size_t half = count / 2;
      base = key_of(base[half - 1]) < key ? base + half : base;
      count -= half;
    }
    const std::size_t index = static_cast<std::size_t>(base - slots_) + (count == 1 && key_of(*base) < key ? 1 : 0);
    return {index, index < used_slots_ && key_of(slots_[index]) == key};
  }
  static constexpr std::uint64_t key_of(std::uint32_t id, vf_index vf) noexcept { return (std::uint64_t{id} << 16) | vf; }
  static constexpr std::uint64_t key_of(const pf_block_slot& slot) noexcept { return key_of(slot.id_, slot.vf_); }
  [[nodiscard]] const pf_block_slot* find(vf_index vf, block_id id) const noexcept {
    if (!registered(vf)) return nullptr;
    const position at = locate(vf, id);
    return at.found ? &slots_[at.index] : nullptr;
  }

  // A block another VF defines is that VF's: access denied. A block nobody defines: invalid parameter.
  // The slots of one ID are adjacent, so another VF's is right beside where this VF's would be.
  [[nodiscard]] ntstatus undefined_block_status(position at, block_id id) const noexcept {
    const bool after = at.index < used_slots_ && slots_[at.index].id_ == id.value();
    const bool before = at.index > 0 && slots_[at.index - 1].id_ == id.value();
    return after || before ? ntstatus::access_denied : ntstatus::invalid_parameter;
  }

  // The direct index (hosted default storage): entry (vf, id) of blocks 0..63 is the slot index + 1, or 0.
  // A round-robin over many VFs' blocks finds each in one step instead of ~log2(n) probes spread over the
  // slots, which miss the cache once there are thousands (256 VFs x 64 blocks). A slot inserted or
  // removed moves the slots above it, so it only marks the index outdated; the next request a VF sends
  // rebuilds it, once (O(MaxVfs * 64 + blocks)). Keeping it in step with each insertion instead was a pass
  // over all MaxVfs * 64 entries per block defined: a PF defining its VFs' blocks one by one paid that
  // per block (256 VFs x 64 blocks: 16384 passes of 16384 entries). Lookups between a definition and the
  // next request (the PF's own define, store, contents) take the binary search.
  static constexpr std::size_t direct_entry(vf_index vf, std::uint32_t id) noexcept {
    return std::size_t{vf} * invalidatable_block_count + id;
  }
  void index_outdated() noexcept {
#if __STDC_HOSTED__
    direct_current_ = false;
#endif
  }
  void index_updated() noexcept {
#if __STDC_HOSTED__
    if (direct_ == nullptr || direct_current_) return;
    for (std::size_t i = 0; i < MaxVfs * invalidatable_block_count; ++i) direct_[i] = 0;
    for (std::size_t i = 0; i < used_slots_; ++i)
      if (slots_[i].id_ < invalidatable_block_count)
        direct_[direct_entry(slots_[i].vf_, slots_[i].id_)] = static_cast<std::uint32_t>(i + 1);
    direct_current_ = true;
#endif
  }
  // Slots [index, used) move up by one, opening slot `index` (there is room: the caller checked).
  void slots_opened(std::size_t index) noexcept {
#if __STDC_HOSTED__
    __builtin_memmove(slots_ + index + 1, slots_ + index, (used_slots_ - index) * sizeof(pf_block_slot));
#else
    for (std::size_t i = used_slots_; i > index; --i) slots_[i] = slots_[i - 1];
#endif
  }

  // Frees a block's region, its run skew included: the regions after it move down (the arena stays
  // packed), and so do their offsets.
  void free_region(const pf_block_slot& slot) noexcept {
    const std::uint32_t skew = skew_of(slot);
    const std::uint32_t held = region_size(slot);
    const std::uint32_t start = slot.offset_ - skew;
    const std::uint32_t size = held + skew;
    copy_bytes(arena_ + start, arena_ + start + size, arena_end() - start - size);
    for (std::size_t i = 0; i < used_slots_; ++i)
      if (slots_[i].offset_ > start) slots_[i].offset_ -= size;
    used_bytes_ -= held;
    run_freed(skew);
  }

  // Run skews (see run_skew); nothing in a freestanding build. A definition for another VF than the
  // one before starts a run; the skew it starts with is 0 or run_skew.
  [[nodiscard]] std::uint32_t start_of_run([[maybe_unused]] vf_index vf) noexcept {
#if __STDC_HOSTED__
    if (vf == run_vf_) return 0;
    // A run in progress holds at least its first region above run_start_: a removal ends it (run_freed).
    const std::uint32_t end = arena_end();
    const bool aliasing = run_vf_ != no_run && (end - run_start_) % run_alias_period == 0;
    const std::uint32_t skew = aliasing && skew_capacity_ - skew_used_ >= run_skew ? std::uint32_t{run_skew} : 0u;
    run_vf_ = vf;
    run_start_ = end + skew;
    return skew;
#else
    return 0;
#endif
  }
  void run_skewed([[maybe_unused]] std::uint32_t skew) noexcept {
#if __STDC_HOSTED__
    skew_used_ += skew;
#endif
  }
  // A freed region moves the arena under the run being defined: the next definition starts one afresh.
  void run_freed([[maybe_unused]] std::uint32_t skew) noexcept {
#if __STDC_HOSTED__
    skew_used_ -= skew;
    run_vf_ = no_run;
#endif
  }
  // Where the next region goes: past every region and skew.
  [[nodiscard]] std::uint32_t arena_end() const noexcept {
#if __STDC_HOSTED__
    return used_bytes_ + skew_used_;
#else
    return used_bytes_;
#endif
  }
  [[nodiscard]] static constexpr std::uint32_t skew_of([[maybe_unused]] const pf_block_slot& slot) noexcept {
#if __STDC_HOSTED__
    return (slot.flags_ & skewed_flag) != 0 ? std::uint32_t{run_skew} : 0u;
#else
    return 0;
#endif
  }

  // Contents into or out of the arena (le::copy: memmove on a host, a byte loop in firmware). They
  // overlap only as le::copy allows: store() given a block's own contents(), a region moving down.
  static void copy_bytes(std::byte* to, const std::byte* from, std::size_t size) noexcept {
    le::copy(std::span<const std::byte>(from, size), to);
  }

  // A block's region in the arena: its handler, when it has one, then its contents.
  static constexpr std::uint8_t readable_flag = static_cast<std::uint8_t>(block_access::read_only);
  static constexpr std::uint8_t writable_flag = static_cast<std::uint8_t>(block_access::write_only);
  static constexpr std::uint8_t computed_flag = 4;
  static constexpr std::uint8_t skewed_flag = 8;  // the region starts with a run skew (run_skew bytes of no block)
  static constexpr std::uint32_t handler_bytes = sizeof(block_handler*);
  static constexpr std::uint32_t region_size(const pf_block_slot& slot) noexcept {
    return slot.size_ + ((slot.flags_ & computed_flag) != 0 ? handler_bytes : 0u);
  }
  [[nodiscard]] std::byte* contents_of(const pf_block_slot& slot) const noexcept {
    return arena_ + slot.offset_ + ((slot.flags_ & computed_flag) != 0 ? handler_bytes : 0u);
  }
  [[nodiscard]] block_handler* handler_of(const pf_block_slot& slot) const noexcept {
    std::array<std::byte, handler_bytes> representation;
    for (std::size_t i = 0; i < handler_bytes; ++i) representation[i] = arena_[slot.offset_ + i];
    return std::bit_cast<block_handler*>(representation);
  }

  template <class Counter>
  static void bump(Counter& counter) noexcept {
    if (counter != static_cast<Counter>(~Counter{0})) ++counter;
  }
#if defined(__cpp_exceptions)
  // A handler that throws (a build with exceptions) fails that request alone, STATUS_UNSUCCESSFUL: every
  // caller up to the binding is noexcept, and one VF's request must not end the PF for every VF
  // (std::terminate). Without exceptions (firmware) serve_read and serve_write call the handler directly:
  // even an inlined wrapper cost the Cortex-M4 image 8 bytes.
  static ntstatus call_on_read(block_handler& handler, vf_index vf, block_id id, std::span<std::byte> out,
                               std::size_t& bytes) noexcept {
    try {
      return handler.on_read(vf, id, out, bytes);
    } catch (...) {
      bytes = 0;
      return ntstatus::unsuccessful;
    }
  }
  static ntstatus call_on_write(block_handler& handler, vf_index vf, block_id id, std::span<const std::byte> data) noexcept {
    try {
      return handler.on_write(vf, id, data);
    } catch (...) {
      return ntstatus::unsuccessful;
    }
  }
#endif

  // Every refusal, a handler's included: a status a VF would take for success (block_handler) is
  // answered as STATUS_UNSUCCESSFUL. One place, as the Cortex-M4 engine has bytes, not words, to spare.
  serve_result refuse(vf_state& state, ntstatus status) noexcept {
    bump(state.counters.refused);
    return {nt_success(status) ? ntstatus::unsuccessful : status, 0};
  }

  static constexpr std::size_t prefetch_stride = 64;  // a cache line on the hosts vpci serves from

#if __STDC_HOSTED__
  static constexpr std::align_val_t arena_alignment{max_block_size};
  struct arena_delete {
    void operator()(std::byte* arena) const noexcept { ::operator delete[](arena, arena_alignment); }
  };
#endif

  pf_limits limits_;
  pf_block_slot* slots_{nullptr};
  std::byte* arena_{nullptr};
  std::size_t slot_capacity_{0};
  std::size_t used_slots_{0};
  std::uint32_t byte_capacity_{0};
  std::uint32_t used_bytes_{0};
  std::uint32_t* direct_{nullptr};  // hosted default storage only: the direct index, and the storage is ours
#if __STDC_HOSTED__
  bool direct_current_{true};  // the direct index names every slot where it is (index_updated)
  static constexpr vf_index no_run = 0xFFFF;  // a VF index is below MaxVfs <= 0xFFFF
  std::uint32_t skew_capacity_{0};  // the hosted default store's room for run skews; 0: never skewed
  std::uint32_t skew_used_{0};
  std::uint32_t run_start_{0};  // where the run being defined (of VF run_vf_) starts
  vf_index run_vf_{no_run};
#endif
  std::array<vf_state, MaxVfs> vfs_{};
};

namespace detail {
// static_pf_blocks' storage, a base constructed before the store that refers to it.
template <std::size_t MaxBlocks, std::size_t MaxBytes>
struct pf_blocks_storage {
  // Left uninitialised: the store reads a slot or a byte only after writing it (and a global is zero).
  std::array<pf_block_slot, MaxBlocks> slots;
  std::array<std::byte, MaxBytes> arena;
};
}  // namespace detail

// A store with its storage inside: up to MaxBlocks blocks in all (over all VFs) holding up to MaxBytes
// bytes of contents in all. E.g. static_pf_blocks<4, 32, 300>: 4 VFs, 32 blocks, 300 bytes.
template <std::size_t MaxVfs, std::size_t MaxBlocks, std::size_t MaxBytes>
class static_pf_blocks : private detail::pf_blocks_storage<MaxBlocks, MaxBytes>, public pf_blocks<MaxVfs> {
  static_assert(MaxBlocks >= 1, "static_pf_blocks: MaxBlocks must be at least 1");
  static_assert(MaxBytes >= 1 && MaxBytes <= 0xFFFFFFFFu, "static_pf_blocks: MaxBytes must be 1..2^32-1");
  using storage = detail::pf_blocks_storage<MaxBlocks, MaxBytes>;

 public:
  // Not constexpr on purpose: a global one is zero-initialised (.bss) and set up at startup by the static
  // constructors (.init_array), instead of being constant-initialised into .data with its storage's
  // addresses (.data costs flash as well). A startup that runs no constructors leaves it without capacity
  // (every definition insufficient_resources) until the firmware constructs it (placement new).
  explicit static_pf_blocks(pf_limits limits = {}) noexcept
      : pf_blocks<MaxVfs>(storage::slots, storage::arena, limits) {}
};

}  // namespace vpci::engine
