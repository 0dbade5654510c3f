// Binding 2 for the explorer: the real VF message channel (engine::vf_message_channel: the transaction
// table, the send queue, the frame decoder, version negotiation) and the real PF message session
// (engine::pf_message_session over engine::pf_blocks) joined by a byte stream in each direction.
//
// Steps: the VF starts the next request of the menu, cancels one (either scope); the stream takes the
// VF's send (on_sent); the PF reads a chunk of what the VF sent (5 bytes, or everything there: arbitrary
// chunking, frames split anywhere) and answers; the PF hands its answers, then its pending invalidation, to
// the stream (begin_handoff) and the stream carries them a chunk at a time (on_stream_progress, end_handoff);
// the VF receives a chunk (5 bytes or everything); the PF raises an invalidation; the connection drops
// (the VF's operations end with a transport failure, the PF session's end_of_serving puts undelivered
// invalidations back in the store) and the VF reconnects (a new channel and a new PF session over the
// same store, negotiating again); virtual time advances to the next deadline (late answers then meet a
// table that timed their operations out).
//
// Invariants, as binding 1: every request completes exactly once, with an outcome it may have (a
// successful read returns a committed version not older than the one committed at its start; a successful
// write was committed; a refused one never is); a refused start changes nothing; a delivered invalidation
// was raised; and in a fair run with no new events every pending request completes and every raised
// invalidation is delivered after its raise.
//
// The state hash covers the engines' object representations whole (their private parts have no explorer
// accessor), so stale buffer bytes and counters can keep apart states that behave the same: the count of
// distinct states is an upper bound here, never an undercount of what was explored.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <vpci/engine/pf_blocks.hpp>
#include <vpci/engine/pf_messages.hpp>
#include <vpci/engine/vf_message_channel.hpp>

#include "explore_access.hpp"
#include "explore_search.hpp"

namespace vpci::explore {

struct hyperv_scenario {
  unsigned requests{3};
  unsigned raises{1};
  unsigned cancels{1};
  unsigned disconnects{1};
  // A deliberately broken PF binding (the planted-bug test): it ends a dropped stream without
  // end_of_serving, so what the stream held is never given back.
  bool planted_skip_end_of_serving{false};
};

class hyperv_world {
 public:
  static constexpr std::size_t max_requests = 4;
  static constexpr std::uint64_t deadline_ns = 100'000;

  enum class act : std::uint8_t {
    vf_start, vf_cancel, vf_cancel_unsent, stream_takes_send, pf_read_some, pf_read_all, pf_handoff,
    pf_write_some, pf_write_all, vf_receive_some, vf_receive_all, pf_raise, disconnect, reconnect, tick,
  };
  struct step_type {
    act what;
    std::uint8_t arg;
  };

  explicit hyperv_world(hyperv_scenario scenario = {});

  void enabled(std::vector<step_type>& out) const;
  bool apply(step_type s);
  [[nodiscard]] std::uint64_t hash() const;
  bool check_progress();
  [[nodiscard]] const char* violation() const { return invariant_; }
  [[nodiscard]] std::string detail() const { return detail_; }
  [[nodiscard]] std::string describe(step_type s) const;
  void set_log(std::vector<std::string>* log) { log_ = log; }

 private:
  using channel = engine::vf_message_channel<2>;
  using store_type = engine::static_pf_blocks<1, 4, 64>;
  using session = engine::pf_message_session<1>;
  using image = engine::explore_access::store_image<1, 64>;
  static constexpr std::size_t chunk = 5;

  struct menu_entry {
    bool write;
    std::uint32_t block;
    std::uint8_t length;
  };
  // A read and a write of the read-write block 1, another read of it, a write to the read-only block 2.
  static constexpr std::array<menu_entry, max_requests> menu{{{false, 1, 8}, {true, 1, 8}, {false, 1, 8}, {true, 2, 4}}};

  enum class req_state : std::uint8_t { unstarted, pending, completed };
  struct request {
    req_state state{req_state::unstarted};
    engine::vf_op_handle handle{};
    std::uint8_t floor{0};
  };

  static store_type& live_store();
  void fail(const char* invariant, std::string detail);
  void note(const std::string& text) {
    if (log_ != nullptr) log_->push_back(text);
  }
  void pump();
  void on_completion(const channel::message_completion& done);
  void pf_input(std::size_t limit);
  void vf_receive(std::size_t limit);
  void pf_write(std::size_t limit);
  void commit_check(const std::array<std::byte, 64>& before);
  [[nodiscard]] bool quiescent() const;
  [[nodiscard]] bool connected_idle() const;

  channel vf_;
  session pf_;
  image store_{};
  bool connected_{true};
  bool vf_sending_{false};  // a send was handed to the stream and not yet taken
  std::uint64_t now_{0};
  // VF -> PF and PF -> VF bytes in the stream; the PF's answers not yet handed; the handoff being written
  std::array<std::byte, 1024> up_{};
  std::size_t up_size_{0};
  std::array<std::byte, 1024> down_{};
  std::size_t down_size_{0};
  std::array<std::byte, 1024> unsent_{};
  std::size_t unsent_size_{0};
  std::array<std::byte, 1024> handoff_{};
  std::size_t handoff_size_{0};
  std::size_t handoff_done_{0};
  // the oracle
  std::array<request, max_requests> requests_{};
  std::uint8_t started_{0};
  std::array<std::uint8_t, 64> commit_index_{};
  std::uint8_t commits_{0};
  std::uint64_t raised_ever_{0};
  std::uint64_t undelivered_{0};
  hyperv_scenario scenario_;
  std::uint8_t raises_{0}, cancels_{0}, disconnects_{0};
  const char* invariant_{nullptr};
  std::string detail_;
  std::vector<std::string>* log_{nullptr};
};

}  // namespace vpci::explore
