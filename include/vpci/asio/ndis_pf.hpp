// vpci::ndis_pf: the NDIS shape of the PF side, so a Windows PF miniport's code maps onto vpci's PF one
// call for one call:
//
//   // MiniportOidRequest, for the two config-block OIDs:
//   case OID_SRIOV_READ_VF_CONFIG_BLOCK:
//   case OID_SRIOV_WRITE_VF_CONFIG_BLOCK: return ndis.oid_request(request);
//   // where the miniport changed a block and tells the VF:
//   NdisMInvalidateConfigBlock(ndis, VFId, BlockMask);
//
// The requests are answered from the PF endpoint's block store (pf_endpoint::blocks(): the blocks, their
// access rules and IHV handlers, exactly as the VF's own requests over either binding are), and
// invalidations go through pf_endpoint::invalidate, which delivers them to the VF on every binding it is
// attached to. Nothing else of the endpoint is used.
//
// The statuses NDIS documents for these OIDs, and when each is returned (every refusal changes no block
// and writes nothing to the data region):
//   NDIS_STATUS_SUCCESS            read: the block's bytes at BufferOffset, BytesWritten = BufferOffset +
//                                  the block's size, BytesRead = the parameters' size; write: the block
//                                  replaced (or the IHV handler took it), BytesRead = BufferOffset + Length.
//   NDIS_STATUS_NOT_SUPPORTED      an OID this handler does not serve, or the wrong request type (the read
//                                  is a method request, the write a set request); an IHV handler's
//                                  STATUS_NOT_SUPPORTED.
//   NDIS_STATUS_INVALID_LENGTH     the buffer cannot hold NDIS_SRIOV_*_VF_CONFIG_BLOCK_PARAMETERS (20
//                                  bytes) or the data range BufferOffset..+Length (for a read: the output
//                                  length); BytesNeeded = what it must hold.
//   NDIS_STATUS_INVALID_PARAMETER  the parameters are not valid: header (type, revision, size), VFId
//                                  NDIS_PF_FUNCTION_ID or a VF without resources (not registered), Length 0
//                                  or above VPCI_MAX_READ_WRITE_BLOCK_SIZE, BufferOffset inside the
//                                  structure, a BlockId this VF has no block for, a Length that does not
//                                  fit the block (a read shorter than it, a write of another size); a null
//                                  InformationBuffer.
//   NDIS_STATUS_RESOURCES          an IHV handler's STATUS_INSUFFICIENT_RESOURCES.
//   NDIS_STATUS_FAILURE            the request failed otherwise: the block's access forbids it (a write-only
//                                  block read, a read-only block written), the VF is quarantined, or an IHV
//                                  handler failed.
//
// Thread safety: the PF endpoint's (one thread or strand).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>

#include <vpci/block/endian.hpp>
#include <vpci/protocol/block_id.hpp>
#include <vpci/protocol/constants.hpp>
#include <vpci/protocol/errc.hpp>
#include <vpci/protocol/ntstatus.hpp>
#include <vpci/wire/windows.hpp>

namespace vpci {

// NDIS_REQUEST_TYPE (ndis.h): the values these OIDs arrive with.
enum class ndis_request_type : std::uint32_t {
  query_information = 0,  // NdisRequestQueryInformation
  set_information = 1,    // NdisRequestSetInformation: OID_SRIOV_WRITE_VF_CONFIG_BLOCK
  method = 12,            // NdisRequestMethod: OID_SRIOV_READ_VF_CONFIG_BLOCK
};

// What a miniport's OID handler reads and fills of NDIS_OID_REQUEST for these OIDs (DATA.METHOD_INFORMATION
// and DATA.SET_INFORMATION, flattened): InformationBuffer holds the parameters structure and, at its
// BufferOffset, the data.
struct ndis_oid_request {
  ndis_request_type RequestType{ndis_request_type::method};
  std::uint32_t Oid{0};
  void* InformationBuffer{nullptr};
  std::uint32_t InputBufferLength{0};   // method: InputBufferLength; set: InformationBufferLength
  std::uint32_t OutputBufferLength{0};  // method only: the room for the answer in InformationBuffer
  std::uint32_t BytesRead{0};           // filled by the handler
  std::uint32_t BytesWritten{0};        // filled by the handler (method)
  std::uint32_t BytesNeeded{0};         // filled by the handler (NDIS_STATUS_INVALID_LENGTH)
};

template <class PfEndpoint>
class ndis_pf {
 public:
  using status = windows::ndis::status;

  explicit ndis_pf(PfEndpoint& pf) noexcept : pf_(&pf) {}

  // Handles OID_SRIOV_READ_VF_CONFIG_BLOCK (method) and OID_SRIOV_WRITE_VF_CONFIG_BLOCK (set) from the
  // block store; fills BytesRead, BytesWritten and BytesNeeded. Returns the NDIS_STATUS (above).
  status oid_request(ndis_oid_request& request) {
    request.BytesRead = 0;
    request.BytesWritten = 0;
    request.BytesNeeded = 0;
    switch (request.Oid) {
      case oid::sriov_read_vf_config_block:
        if (request.RequestType != ndis_request_type::method) return status::not_supported;
        return read(request);
      case oid::sriov_write_vf_config_block:
        if (request.RequestType != ndis_request_type::set_information) return status::not_supported;
        return write(request);
      default: return status::not_supported;
    }
  }

  // NdisMInvalidateConfigBlock(NdisMiniportHandle, VFId, BlockMask): ORs BlockMask into the VF's
  // invalidations (coalesced until the VF takes them). NDIS_STATUS_INVALID_PARAMETER for a VF that is not
  // registered (NDIS_PF_FUNCTION_ID included): nothing is invalidated. (The NDIS function returns
  // nothing; a miniport may ignore the status.)
  status invalidate_config_block(ndis_function_id vf, std::uint64_t mask) {
    if (vf == ndis_pf_function_id || !pf_->blocks().registered(vf)) return status::invalid_parameter;
    (void)pf_->invalidate(vf, block_mask{mask});
    return status::success;
  }

  [[nodiscard]] PfEndpoint& endpoint() const noexcept { return *pf_; }

 private:
  using parameters = windows::ndis::vf_config_block_parameters;

  static std::uint32_t clamp(std::uint64_t n) noexcept {
    return n > std::numeric_limits<std::uint32_t>::max() ? std::numeric_limits<std::uint32_t>::max()
                                                         : static_cast<std::uint32_t>(n);
  }

  // Decodes the parameters from `buffer`, or the refusal: INVALID_LENGTH with BytesNeeded, or
  // INVALID_PARAMETER.
  static status decode(std::span<const std::byte> buffer, std::uint32_t input_length, ndis_oid_request& request,
                       parameters& out) {
    if (input_length < parameters::size_revision_1) {
      request.BytesNeeded = static_cast<std::uint32_t>(parameters::size_revision_1);
      return status::invalid_length;
    }
    auto decoded = windows::ndis::decode_vf_config_block_parameters(buffer);
    if (!decoded) {
      if (decoded.error() != errc::buffer_too_small) return status::invalid_parameter;
      // The data range ends past the buffer: what it must hold is where the range ends.
      request.BytesNeeded = clamp(std::uint64_t{le::load_u32(buffer.data() + 16)} + le::load_u32(buffer.data() + 12));
      return status::invalid_length;
    }
    out = *decoded;
    return status::success;
  }

  // The VF and its block must exist: a VF without resources, or a BlockId it has no block for, is an
  // invalid parameter whoever else owns that ID.
  status check_target(const parameters& p) const {
    const auto& store = pf_->blocks();
    if (!store.registered(p.vf_id) || !store.defined(p.vf_id, p.block)) return status::invalid_parameter;
    return status::success;
  }

  static status to_ndis(ntstatus s) noexcept {
    switch (s) {
      case ntstatus::success: return status::success;
      case ntstatus::invalid_parameter:
      case ntstatus::buffer_too_small: return status::invalid_parameter;  // Length does not fit the block
      case ntstatus::insufficient_resources: return status::resources;
      case ntstatus::not_supported: return status::not_supported;
      default: return status::failure;
    }
  }

  status read(ndis_oid_request& request) {
    const std::uint32_t size = request.InputBufferLength > request.OutputBufferLength ? request.InputBufferLength
                                                                                      : request.OutputBufferLength;
    if (request.InformationBuffer == nullptr) {
      if (size != 0) return status::invalid_parameter;
      request.BytesNeeded = static_cast<std::uint32_t>(parameters::size_revision_1);
      return status::invalid_length;
    }
    const auto buffer = std::span<std::byte>(static_cast<std::byte*>(request.InformationBuffer), size);
    parameters p;
    if (const status s = decode(buffer, request.InputBufferLength, request, p); s != status::success) return s;
    const std::uint64_t required = windows::ndis::required_buffer_size(p);
    if (request.OutputBufferLength < required) {
      request.BytesNeeded = clamp(required);
      return status::invalid_length;
    }
    if (const status s = check_target(p); s != status::success) return s;
    // Served into a scratch block first: a handler that fails leaves the caller's buffer untouched.
    std::array<std::byte, max_block_size> data{};
    const auto served = pf_->blocks().serve_read(p.vf_id, p.block, p.length, data);
    if (served.status != ntstatus::success) return to_ndis(served.status);
    le::copy(std::span<const std::byte>(data).first(served.bytes), windows::ndis::data_region(buffer, p).data());
    request.BytesRead = static_cast<std::uint32_t>(parameters::size_revision_1);
    request.BytesWritten = clamp(std::uint64_t{p.buffer_offset} + served.bytes);
    return status::success;
  }

  status write(ndis_oid_request& request) {
    if (request.InformationBuffer == nullptr) {
      if (request.InputBufferLength != 0) return status::invalid_parameter;
      request.BytesNeeded = static_cast<std::uint32_t>(parameters::size_revision_1);
      return status::invalid_length;
    }
    const auto buffer =
        std::span<const std::byte>(static_cast<const std::byte*>(request.InformationBuffer), request.InputBufferLength);
    parameters p;
    if (const status s = decode(buffer, request.InputBufferLength, request, p); s != status::success) return s;
    if (const status s = check_target(p); s != status::success) return s;
    const auto served = pf_->blocks().serve_write(p.vf_id, p.block, windows::ndis::data_region(buffer, p));
    if (served.status != ntstatus::success) return to_ndis(served.status);
    request.BytesRead = clamp(windows::ndis::required_buffer_size(p));
    return status::success;
  }

  PfEndpoint* pf_;
};

// NdisMInvalidateConfigBlock with the facade as the miniport handle.
template <class PfEndpoint>
windows::ndis::status NdisMInvalidateConfigBlock(ndis_pf<PfEndpoint>& NdisMiniportHandle, ndis_function_id VFId,
                                                 std::uint64_t BlockMask) {
  return NdisMiniportHandle.invalidate_config_block(VFId, BlockMask);
}

}  // namespace vpci
