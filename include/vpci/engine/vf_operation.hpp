// What both VF engines share (freestanding): how an operation completes, how a caller may cancel it, and
// the actions an engine asks its binding to perform. The hosted VF endpoint core (asio/detail/vf_core.hpp)
// drives either engine through this vocabulary; only the I/O actions differ between the bindings.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include <vpci/protocol/errc.hpp>
#include <vpci/protocol/ntstatus.hpp>

namespace vpci::engine {

// How much of an operation's effect a cancellation may leave behind (Asio's cancellation types):
// - with_effects: terminal and partial cancellation: the peer may already have acted on the request
//   (a write may have been applied); the engine stays usable and drops the late answer.
// - without_effects: total cancellation: only while the request has not left the VF, so the peer never
//   sees it. A read has no effect on the peer's blocks and is always cancellable.
enum class cancel_scope : std::uint8_t { with_effects, without_effects };

enum class operation_kind : std::uint8_t { read, write };

// The life of an engine's operation slot, the one rule both VF engines keep: a slot goes free -> pending
// (an operation started in it) -> ended (the operation's completion is made but not yet handed to the
// binding) -> free (handed out). Only a free slot takes a new operation. The binding keeps each pending
// operation under its slot (asio/detail/vf_core.hpp's operation table) until the completion naming it is
// handed out: a slot reused while that completion still waited would put the new operation in the old
// one's place, and the old completion would find nobody to complete. So an engine's slot count bounds the
// operations started and not yet reported, not only those still waiting for the peer.
class operation_slot {
 public:
  [[nodiscard]] constexpr bool reusable() const noexcept { return state_ == state::free; }
  [[nodiscard]] constexpr bool pending() const noexcept { return state_ == state::pending; }
  [[nodiscard]] constexpr bool awaiting_report() const noexcept { return state_ == state::ended; }
  constexpr void start() noexcept { state_ = state::pending; }
  constexpr void end() noexcept { state_ = state::ended; }
  constexpr void reported() noexcept { state_ = state::free; }

 private:
  enum class state : std::uint8_t { free, pending, ended };
  state state_{state::free};
};

// One operation's outcome. `Handle` is the engine's full operation handle (slot and generation): a
// completion is matched to its operation by the whole handle, never by the slot alone.
template <class Handle>
struct completion {
  Handle handle{};
  errc error{no_error};
  std::size_t bytes{0};
  // The operation failed because the transport or stream failed: the binding reports that failure's own
  // error code (a socket's eof, an errno) instead of `error`, so the real cause reaches the caller.
  bool transport_failure{false};
  // The status the PF answered when the failure is its answer (`error` is then that status's errc, which
  // names fewer statuses than a PF may answer); STATUS_SUCCESS otherwise. What a facade that speaks
  // NTSTATUS hands on unchanged.
  ntstatus peer_status{ntstatus::success};
};

// What an engine asks of its binding next. Only the members its `what` names are meaningful.
template <class Handle>
struct action {
  enum class kind : std::uint8_t {
    idle,      // nothing to do until an operation starts, a wait ends or I/O completes
    complete,  // deliver `done`
    write,     // binding 1: write `bytes` at window `offset`, then on_written()
    read,      // binding 1: read `length` bytes at window `offset`, then on_read()
    send,      // binding 2: send `bytes` on the stream, then on_sent()
    wait,      // call step() again at `until` at the latest, or earlier on a peer signal (wake())
  };
  kind what{kind::idle};
  std::uint16_t offset{0};
  std::span<const std::byte> bytes{};
  std::size_t length{0};
  std::uint64_t until{0};
  completion<Handle> done{};
};

}  // namespace vpci::engine
