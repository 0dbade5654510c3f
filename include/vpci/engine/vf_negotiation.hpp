// The VF side of Hyper-V protocol-version negotiation, sans-I/O (freestanding: no heap, no I/O), as
// pci-hyperv.c's hv_pci_protocol_negotiation probes: when a stream starts, before any block request,
// QUERY_PROTOCOL_VERSION offers 1.4, then 1.3, 1.2, 1.1 (hyperv::linux_protocol_versions). Each answer is
// judged by hyperv::judge_version_status: success (any non-negative status) agrees the version offered;
// STATUS_REVISION_MISMATCH asks for the next lower one; any other status ends the negotiation. Unlike the
// Linux guest, which waits without a deadline, each offer has one: no answer by then ends it with
// errc::timeout.
//
// Failure errors: revision_mismatch when every version drew STATUS_REVISION_MISMATCH; the status's own
// error (to_errc) when the PF refused otherwise; protocol_violation when the answer does not decode;
// timeout when none came.
//
// Transaction IDs: offer k (0-based) is sent with ID k + 1. Operation IDs are (generation << 16) | slot
// with a generation never 0 (vf_messages.hpp), so IDs below 0x10000 are never an operation's: an answer
// can be told from a block completion by its ID alone, and a late answer to an earlier offer is stale.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include <vpci/engine/time_after.hpp>
#include <vpci/protocol/errc.hpp>
#include <vpci/protocol/result.hpp>
#include <vpci/protocol/status_mapping.hpp>
#include <vpci/wire/framing.hpp>
#include <vpci/wire/hyperv.hpp>

namespace vpci::engine {

struct vf_negotiation_options {
  // Negotiate when the stream starts. Off for a PF that does not answer QUERY_PROTOCOL_VERSION: block
  // requests are then sent at once and no version is known.
  bool enabled{true};
  // How long (ns) the PF may take to answer each version offered.
  std::uint64_t timeout{1'000'000'000};
};

enum class vf_negotiation_state : std::uint8_t {
  disabled,  // negotiation is off: block requests flow at once
  idle,      // not started: the next step sends the first offer
  offering,  // the next offer is to be sent
  awaiting,  // an offer was sent; its answer is due by deadline()
  agreed,    // a version is agreed (version())
  failed,    // no version agreed (error())
};

class vf_negotiation {
 public:
  // The versions offered, highest first.
  static constexpr auto versions = hyperv::linux_protocol_versions;

  constexpr explicit vf_negotiation(vf_negotiation_options options = {}) noexcept
      : timeout_(options.timeout),
        state_(options.enabled ? vf_negotiation_state::idle : vf_negotiation_state::disabled) {}

  [[nodiscard]] constexpr vf_negotiation_state state() const noexcept { return state_; }
  // Block requests may be sent: a version is agreed, or negotiation is off.
  [[nodiscard]] constexpr bool open() const noexcept {
    return state_ == vf_negotiation_state::agreed || state_ == vf_negotiation_state::disabled;
  }
  [[nodiscard]] constexpr bool failed() const noexcept { return state_ == vf_negotiation_state::failed; }
  // The version agreed, or 0.
  [[nodiscard]] constexpr std::uint32_t version() const noexcept {
    return state_ == vf_negotiation_state::agreed ? versions[index_] : 0;
  }
  // Why negotiation failed, or no_error.
  [[nodiscard]] constexpr errc error() const noexcept { return error_; }
  // The version offered now or last.
  [[nodiscard]] constexpr std::uint32_t offered() const noexcept { return versions[index_]; }
  [[nodiscard]] static constexpr std::uint64_t transaction_id(std::size_t offer) noexcept { return offer + 1; }

  // An offer is to be sent now.
  [[nodiscard]] constexpr bool wants_to_send() const noexcept {
    return state_ == vf_negotiation_state::idle || state_ == vf_negotiation_state::offering;
  }
  // Encodes the next offer into `out` (>= hyperv::version_request_frame_size) and starts its deadline at
  // now + timeout. Errors (nothing changed): invalid_argument when no offer is due, buffer_too_small.
  constexpr result<std::size_t> send(std::uint64_t now, std::span<std::byte> out) noexcept {
    if (!wants_to_send()) return errc::invalid_argument;
    auto size = hyperv::encode_version_request_frame(transaction_id(index_), hyperv::version_request{versions[index_]}, out);
    if (!size) return size.error();
    deadline_ = deadline_after(now, timeout_);
    state_ = vf_negotiation_state::awaiting;
    return *size;
  }

  // Whether a completion with this transaction ID answers the offer awaiting its answer.
  [[nodiscard]] constexpr bool answers(std::uint64_t id) const noexcept {
    return state_ == vf_negotiation_state::awaiting && id == transaction_id(index_);
  }
  // The PF's answer to the offer awaiting it (a completion packet of `packet_size` bytes, whole or its
  // first bytes; answers() said so). Returns the new state: agreed, offering (the next lower version is
  // due), or failed.
  constexpr vf_negotiation_state on_answer(std::span<const std::byte> packet, std::size_t packet_size) noexcept {
    if (state_ != vf_negotiation_state::awaiting) return state_;
    auto answer = hyperv::decode_version_response(packet, packet_size);
    if (!answer) return fail(errc::protocol_violation);
    switch (hyperv::judge_version_status(answer->status)) {
      case hyperv::version_verdict::accepted: state_ = vf_negotiation_state::agreed; break;
      case hyperv::version_verdict::next_version:
        if (index_ + 1 == versions.size()) return fail(errc::revision_mismatch);
        ++index_;
        state_ = vf_negotiation_state::offering;
        break;
      case hyperv::version_verdict::failed: {
        const errc e = to_errc(answer->status);
        return fail(e == no_error ? errc::device_error : e);
      }
    }
    return state_;
  }

  // The offer's deadline while its answer is awaited, else no_deadline.
  [[nodiscard]] constexpr std::uint64_t deadline() const noexcept {
    return state_ == vf_negotiation_state::awaiting ? deadline_ : no_deadline;
  }
  // True when the answer is overdue at `now`: negotiation has then failed with errc::timeout.
  constexpr bool expire(std::uint64_t now) noexcept {
    if (state_ != vf_negotiation_state::awaiting || now < deadline_) return false;
    fail(errc::timeout);
    return true;
  }
  // The stream is gone: a negotiation in progress ends with `reason` (an agreed version stays known).
  constexpr void abandon(errc reason) noexcept {
    if (state_ == vf_negotiation_state::idle || state_ == vf_negotiation_state::offering ||
        state_ == vf_negotiation_state::awaiting)
      fail(reason);
  }

 private:
  constexpr vf_negotiation_state fail(errc reason) noexcept {
    error_ = reason;
    state_ = vf_negotiation_state::failed;
    return state_;
  }

  std::uint64_t timeout_;
  std::uint64_t deadline_{no_deadline};
  std::size_t index_{0};
  errc error_{no_error};
  vf_negotiation_state state_;
};

}  // namespace vpci::engine
