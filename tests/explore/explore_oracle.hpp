// What both explorer worlds' oracles share: the block versions they write and recognise, and which
// errors leave a request's outcome unknown.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include <vpci/engine/vf_operation.hpp>
#include <vpci/protocol/errc.hpp>

namespace vpci::explore {

// Version `version` of block `block` (up to 8 bytes): every version of every block is a distinct pattern,
// so bytes that mix two versions are recognised as none.
inline std::array<std::byte, 8> block_version(std::uint32_t block, std::uint8_t version, std::size_t length) {
  std::array<std::byte, 8> out{};
  for (std::size_t i = 0; i < length; ++i)
    out[i] = static_cast<std::byte>(i == 0 ? block : i == 1 ? version : (block * 31 + version * 7u + i * 13u) & 0xFFu);
  return out;
}

// The version `data` is of `block`, or -1: bytes that are no version of it.
inline int version_of(std::uint32_t block, const std::byte* data, std::size_t length) {
  const auto version = static_cast<std::uint8_t>(data[1]);
  const auto expected = block_version(block, version, length);
  return std::memcmp(expected.data(), data, length) == 0 ? version : -1;
}

// Whether the request may or may not have taken effect at the PF: the transport failed, or the VF gave
// up on it (timeout, cancellation, removal, a restarted or silent PF, an answer it could not trust).
template <class Handle>
bool outcome_unknown(const engine::completion<Handle>& done) {
  if (done.transport_failure) return true;
  switch (done.error) {
    case errc::timeout:
    case errc::cancelled:
    case errc::peer_restarted:
    case errc::peer_gone:
    case errc::vf_removed:
    case errc::torn_read:
    case errc::protocol_violation:
    case errc::malformed_message:
    case errc::device_error: return true;
    default: return false;
  }
}

}  // namespace vpci::explore
