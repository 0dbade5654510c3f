// The NTSTATUS values the backchannel produces or consumes, with the severity helpers of ntdef.h.
#pragma once

#include <vpci/protocol/cxx20.hpp>

#include <cstdint>

namespace vpci {

enum class ntstatus : std::uint32_t {
  success = 0x00000000,
  pending = 0x00000103,
  buffer_overflow = 0x80000005,
  unsuccessful = 0xC0000001,
  info_length_mismatch = 0xC0000004,  // "the length does not match the length required"
  invalid_parameter = 0xC000000D,
  no_such_device = 0xC000000E,
  invalid_device_request = 0xC0000010,
  access_denied = 0xC0000022,
  buffer_too_small = 0xC0000023,
  revision_mismatch = 0xC0000059,
  insufficient_resources = 0xC000009A,
  device_not_ready = 0xC00000A3,
  io_timeout = 0xC00000B5,
  not_supported = 0xC00000BB,
  cancelled = 0xC0000120,
  not_found = 0xC0000225,
  bad_data = 0xC000090B,
};

enum class ntstatus_severity : std::uint8_t { success = 0, informational = 1, warning = 2, error = 3 };

constexpr std::uint32_t to_underlying(ntstatus s) noexcept { return static_cast<std::uint32_t>(s); }

// Severity is the top two bits of the 32-bit value.
constexpr ntstatus_severity severity(ntstatus s) noexcept {
  return static_cast<ntstatus_severity>(to_underlying(s) >> 30);
}
// NT_SUCCESS: success and informational codes (STATUS_PENDING included).
constexpr bool nt_success(ntstatus s) noexcept { return static_cast<std::int32_t>(to_underlying(s)) >= 0; }
constexpr bool nt_information(ntstatus s) noexcept { return severity(s) == ntstatus_severity::informational; }
constexpr bool nt_warning(ntstatus s) noexcept { return severity(s) == ntstatus_severity::warning; }
constexpr bool nt_error(ntstatus s) noexcept { return severity(s) == ntstatus_severity::error; }

// Every NTSTATUS value this library names, for tests and for validating statuses read off the wire.
inline constexpr ntstatus known_ntstatus_values[] = {
    ntstatus::success,          ntstatus::pending,           ntstatus::buffer_overflow,
    ntstatus::unsuccessful,     ntstatus::info_length_mismatch,
    ntstatus::invalid_parameter, ntstatus::no_such_device,   ntstatus::invalid_device_request,
    ntstatus::access_denied,    ntstatus::buffer_too_small,  ntstatus::revision_mismatch,
    ntstatus::insufficient_resources, ntstatus::device_not_ready, ntstatus::io_timeout,
    ntstatus::not_supported,    ntstatus::cancelled,         ntstatus::not_found,
    ntstatus::bad_data,
};

}  // namespace vpci
