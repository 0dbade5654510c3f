// vpci::block<Id, T>: a block descriptor binding a block ID to a payload type, checked at compile time.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <type_traits>

#include <vpci/block/block_buffer.hpp>
#include <vpci/block/layout.hpp>
#include <vpci/protocol/block_id.hpp>
#include <vpci/protocol/constants.hpp>
#include <vpci/protocol/result.hpp>

namespace vpci {

namespace detail {
// layout_diagnosed<T>, asked only once the payload rules before it hold (RulesHold): g++ instantiates a
// function template named after a false operand of && all the same, and its message then came second to
// the rule that had already spoken.
template <class T, bool RulesHold>
consteval bool layout_diagnosed_once() {
  if constexpr (!RulesHold) {
    return false;
  } else {
    return layout_diagnosed<T>();
  }
}
}  // namespace detail

template <std::uint32_t Id, class T>
struct block {
  // Each check below keeps quiet when one before it has failed: the first rule broken is the one told.
  static constexpr bool copyable = std::is_trivially_copyable_v<T>;
  static_assert(copyable,
                "vpci::block<Id, T>: T must be trivially copyable (a plain struct of integers, enums, bytes and arrays)");
  // Through arrays: std::array<const E, N> is no more assignable than a const T.
  static constexpr bool unqualified = detail::unqualified<T> && detail::unqualified<detail::wire_element_t<T>>;
  static_assert(!copyable || unqualified,
                "vpci::block<Id, T>: T must not be const or volatile, nor an array of such elements: decode builds "
                "a T{} and fills it in (name the type itself: block<Id, U>, not block<Id, const U>; "
                "std::array<E, N>, not std::array<const E, N>)");
  // A described struct with a bad field list gets its own message (field N not encodable, members left
  // out), from layout_diagnosed; any other type without a layout gets this one.
  static constexpr bool not_an_error_code = !copyable || !unqualified || result_can_hold<T>;
  static_assert(not_an_error_code,
                "vpci::block<Id, T>: T cannot be vpci::errc: a typed read returns a vpci::result<T>, whose error is "
                "an errc, so a decoded errc could not be told from a failed read; make it a field of a described "
                "struct (an enum class is encodable as a field)");
  static constexpr bool laid_out = detail::layout_diagnosed_once<T, copyable && unqualified && not_an_error_code>();
  static_assert(!copyable || !unqualified || !not_an_error_code || laid_out,
                "vpci::block<Id, T>: T has no wire layout; list its fields with a vpci_fields(vpci::type_tag<T>) function");
  // A C array has had its own message (detail::c_array_payload_check).
  static_assert(!laid_out || !detail::encodable<T> || std::is_array_v<T> ||
                    (std::is_default_constructible_v<T> && std::is_copy_assignable_v<T> &&
                     std::is_move_assignable_v<T> && std::is_copy_constructible_v<T> &&
                     std::is_move_constructible_v<T>),
                "vpci::block<Id, T>: T must be a default-constructible, copyable and movable type: decode builds "
                "a T{}, fills it in and returns it (a deleted move constructor or assignment refuses that)");
  static_assert(!laid_out || !detail::encodable<T> || encoded_size<T> != 0,
                "vpci::block<Id, T>: T encodes to 0 bytes; a block carries 1..128 (vpci::valid_block_length)");
  static_assert(encoded_size<T> <= max_block_size,
                "vpci::block<Id, T>: T encodes to more than vpci::max_block_size (128 bytes, VPCI_MAX_READ_WRITE_BLOCK_SIZE)");

  using value_type = T;
  static constexpr block_id id{Id};
  static constexpr std::uint32_t id_value = Id;
  // Any 32-bit ID names a block, but only blocks 0..63 can be invalidated (the UINT64 BlockMask).
  static constexpr bool invalidatable = Id < invalidatable_block_count;
  // The block length on the wire: every read and write of this block moves exactly this many bytes.
  static constexpr std::size_t size = encoded_size<T>;
  using buffer_type = block_buffer<size>;

  static constexpr void encode(const T& value, std::span<std::byte, size> out) noexcept {
    detail::codec<T>::encode(value, out.data());
  }
  // An array of exactly the block's size, std::array or C array: chosen over the span overloads (it
  // converts to both spans, so without these the call would be ambiguous).
  static constexpr void encode(const T& value, std::array<std::byte, size>& out) noexcept {
    detail::codec<T>::encode(value, out.data());
  }
  static constexpr void encode(const T& value, std::byte (&out)[size]) noexcept {
    detail::codec<T>::encode(value, out);
  }
  // Fewer than `size` bytes of room: buffer_too_small, nothing written.
  [[nodiscard]] static constexpr errc encode(const T& value, std::span<std::byte> out) noexcept {
    if (out.size() < size) return errc::buffer_too_small;
    detail::codec<T>::encode(value, out.data());
    return no_error;
  }
  [[nodiscard]] static constexpr buffer_type to_buffer(const T& value) noexcept {
    buffer_type buffer;
    (void)buffer.resize(size);
    detail::codec<T>::encode(value, buffer.data());
    return buffer;
  }
  // This block's bit in an invalidation mask. A block that cannot be invalidated (Id 64 or above) has
  // none: asking for it does not compile.
  [[nodiscard]] static constexpr block_mask mask() noexcept {
    static_assert(invalidatable,
                  "vpci::block<Id, T>::mask(): only blocks with an Id below 64 can be invalidated (the UINT64 BlockMask)");
    if constexpr (invalidatable) return block_mask{std::uint64_t{1} << Id};
    else return block_mask{};
  }
  // Exactly `size` bytes or invalid_length; a field a peer filled with an impossible value: bad_data.
  // (A typed read judges the bytes it received with detail::decode_received: another count is
  // block_size_mismatch there.)
  [[nodiscard]] static constexpr result<T> decode(std::span<const std::byte> in) noexcept {
    if (in.size() != size) return errc::invalid_length;
    T value{};
    if (!detail::codec<T>::decode(in.data(), value)) return errc::bad_data;
    return value;
  }
};

// A reference, void or a function type is no payload. This specialization only says so: the primary's
// members (encode takes a const T&) would fail on their own, with errors that do not name the rule.
template <std::uint32_t Id, class T>
  requires(!std::is_object_v<T>)
struct block<Id, T> {
  static_assert(std::is_object_v<T>,
                "vpci::block<Id, T>: T must be the payload type itself, not a reference (block<Id, U>, not "
                "block<Id, U&>), void or a function type");
};

template <class B>
concept block_descriptor = requires {
  typename B::value_type;
  { B::id } -> std::convertible_to<block_id>;
  { B::size } -> std::convertible_to<std::size_t>;
} && std::is_same_v<B, block<B::id_value, typename B::value_type>>;

namespace detail {
// The one rule for a block's bytes judged against its descriptor: what a typed read received (both VF
// bindings, every form: vf_sync_forms::read, decoding_read_operation), and a PF's stored block
// (pf_blocks::load). A count other than Block::size is
// block_size_mismatch: the PF's block has another size than the descriptor says (binding 1 returns the
// block's own size; on binding 2 the PF pads a shorter block with zeros up to the length asked, so its
// read returns Block::size bytes and decodes the padding as data: docs/hyperv-binding.md rule 4). Then
// as Block::decode (bad_data for a field no value of its type has).
template <block_descriptor Block>
[[nodiscard]] constexpr result<typename Block::value_type> decode_received(std::span<const std::byte> received) noexcept {
  if (received.size() != Block::size) return errc::block_size_mismatch;
  return Block::decode(received);
}
}  // namespace detail

// The invalidation mask of several blocks, from their descriptors; checked as Block::mask() is.
template <block_descriptor... Blocks>
[[nodiscard]] constexpr block_mask mask_of() noexcept {
  return (block_mask{} | ... | Blocks::mask());
}

}  // namespace vpci
