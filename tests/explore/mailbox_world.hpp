// Binding 1 for the explorer: the real VF mailbox engine (engine::vf_mailbox_engine) and the real PF
// session (engine::pf_mailbox_session over engine::pf_blocks) sharing one layout-2 window in memory.
//
// Atomic steps are the engines' own accesses, at dword granularity on both sides: each dword of a VF
// read or write is one step (a multi-dword read can be torn by a PF update between its dwords), the PF
// service (it takes a copy of the window, decides, and queues its register writes), each dword the PF
// writes (a write longer than 32 bytes, the data-window zeroing of an initialisation, is one step),
// and the environment: the VF starts the next request of a fixed menu, cancels one (either scope), is
// removed; a transport access fails; a doorbell is missed or rings twice; the PF raises an invalidation,
// updates a block itself (and invalidates it), or re-initialises the window (a new epoch: an FLR or a
// PF restart that keeps its store, dropping the writes it had not performed yet); virtual time advances to
// the next moment anything waits for (a VF wait, a deadline, the PF's bounded poll).
//
// The oracle checks after every step: every request completes exactly once and with an outcome it may
// have (a successful read returns a committed version of the block, not older than the one committed when
// the read started; a successful write was committed; a refused write is never committed; a refused start
// leaves the engine unchanged; a request the PF refuses leaves the store unchanged); the store only ever
// holds committed versions; an engine never asks for a second access while one is in flight, nor waits
// for a moment already past; a delivered invalidation was raised. The fair run (check_progress) adds:
// with no new events, every pending request completes and every raised invalidation is delivered after
// its raise.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include <vpci/block/endian.hpp>
#include <vpci/engine/pf_blocks.hpp>
#include <vpci/engine/pf_mailbox.hpp>
#include <vpci/engine/vf_mailbox.hpp>
#include <vpci/wire/mailbox.hpp>

#include "explore_access.hpp"
#include "explore_search.hpp"

namespace vpci::explore {

// A deliberately broken PF (the planted-bug tests prove the explorer can fail); none ships.
enum class planted_bug : std::uint8_t {
  none,
  latch_forgotten,     // the PF drops its invalidation latch right after publishing it
  status_before_data,  // the PF writes an answer's status before its data
};

struct mailbox_scenario {
  unsigned requests{3};         // how many of the request menu (below) the VF starts, in menu order
  unsigned raises{1};           // PF invalidations of block 1 or 2
  unsigned pf_updates{0};       // PF updates of block 1 (each also invalidates it)
  unsigned cancels{1};          // VF cancellations (with_effects or without_effects)
  unsigned failed_accesses{1};  // transport faults: a VF access fails
  unsigned missed_doorbells{1};
  unsigned extra_doorbells{1};  // a duplicated doorbell: a PF service nobody rang for
  unsigned reinits{1};          // PF re-initialisations of the window (new epoch)
  unsigned removals{0};         // VF removals (engine.remove())
  unsigned missed_signals{0};   // PF -> VF signals lost (with `signal`)
  bool signal{false};           // the PF offers the signal and the VF uses it (it sleeps while idle)
  std::uint64_t orphan_ns{200'000};  // the VF's orphan timeout: after it, the VF resets the mailbox
  planted_bug bug{planted_bug::none};
};

class mailbox_world {
 public:
  static constexpr std::size_t max_requests = 5;
  static constexpr std::uint16_t vf = 0;
  // Virtual time: the VF polls an answer every 20 us, watches every 100 us, resets an orphan after
  // 200 us; a request's deadline is 150 us after its start; the PF polls its window every 50 us.
  static constexpr std::uint64_t poll_ns = 20'000, watch_ns = 100'000, deadline_ns = 150'000, pf_poll_ns = 50'000;

  enum class act : std::uint8_t {
    vf_start, vf_access, vf_fail, vf_cancel, vf_cancel_queued, vf_remove,
    pf_service, pf_write, pf_raise, pf_update, pf_reinit, drop_doorbell, extra_doorbell, tick, vf_signal, drop_signal,
  };
  struct step_type {
    act what;
    std::uint8_t arg;
  };

  explicit mailbox_world(mailbox_scenario scenario = {});

  void enabled(std::vector<step_type>& out) const;
  bool apply(step_type s);
  [[nodiscard]] std::uint64_t hash() const;
  bool check_progress();
  [[nodiscard]] const char* violation() const { return invariant_; }
  [[nodiscard]] std::string detail() const { return detail_; }
  [[nodiscard]] std::string describe(step_type s) const;
  void set_log(std::vector<std::string>* log) { log_ = log; }

 private:
  using vf_engine = engine::vf_mailbox_engine<2>;
  using store_type = engine::static_pf_blocks<1, 4, 64>;
  using session = engine::pf_mailbox_session<1>;
  using image = engine::explore_access::store_image<1, 64>;

  struct menu_entry {
    bool write;
    std::uint32_t block;
    std::uint8_t length;
  };
  // The requests the VF starts, in order: a read and a write of the read-write block 1, another read of
  // it, a write to the read-only block 2 (refused: access denied), a read of block 7 nobody defined
  // (refused: not found).
  static constexpr std::array<menu_entry, max_requests> menu{{
      {false, 1, 8}, {true, 1, 8}, {false, 1, 8}, {true, 2, 4}, {false, 7, 8}}};

  enum class vf_mode : std::uint8_t { idle, access, waiting };
  enum class req_state : std::uint8_t { unstarted, pending, completed };
  struct request {
    req_state state{req_state::unstarted};
    engine::op_handle handle{};
    std::uint8_t floor{0};  // block 1's commit count when the request started (freshness of a read)
  };
  struct pf_write {
    std::uint16_t offset;
    std::uint16_t length;
    std::uint16_t at;  // in queue_bytes_
  };

  static store_type& live_store();
  void fail(const char* invariant, std::string detail);
  void note(const std::string& text) {
    if (log_ != nullptr) log_->push_back(text);
  }
  [[nodiscard]] std::uint64_t next_time() const;
  [[nodiscard]] bool quiescent() const;
  [[nodiscard]] std::string pending_text() const;

  void pump();
  void on_completion(const engine::op_completion& done);
  void vf_access_step();
  void pf_poll();
  void pf_service_now();
  void pf_write_step();
  void queue_writes(const session::write_list& writes);
  void signal_if_done();
  void commit_check(const std::array<std::byte, 64>& before);

  std::array<std::byte, mailbox::window_size> window_{};
  vf_engine vf_;
  session pf_;
  image store_{};
  // the VF's driver: the access in flight, or the wait
  vf_mode mode_{vf_mode::idle};
  bool access_read_{false};
  std::uint16_t access_offset_{0};
  std::uint16_t access_length_{0};
  std::uint16_t access_done_{0};
  std::array<std::byte, 160> access_bytes_{};
  std::uint64_t until_{0};
  std::uint64_t now_{0};
  // the PF's driver: doorbells not yet serviced, writes not yet performed
  std::uint8_t doorbells_{0};
  bool signal_when_written_{false};  // the last service asked to signal the VF once its writes are done
  std::uint8_t signals_{0};          // PF -> VF signals not yet delivered
  std::uint8_t queue_head_{0};
  std::uint8_t queue_count_{0};
  std::array<pf_write, 16> queue_{};
  std::array<std::byte, 320> queue_bytes_{};
  // the oracle
  std::array<request, max_requests> requests_{};
  std::uint8_t started_{0};
  std::array<std::uint8_t, 64> commit_index_{};  // block 1: version -> 1 + its commit order (0: never)
  std::uint8_t commits_{0};
  std::uint64_t refused_versions_{0};  // block-1 versions whose write was refused
  std::uint64_t raised_ever_{0};
  std::uint64_t undelivered_{0};  // raised and not delivered since
  // budgets
  mailbox_scenario scenario_;
  std::uint8_t raises_{0}, updates_{0}, cancels_{0}, faults_{0}, missed_{0}, extra_{0}, reinits_{0}, removals_{0},
      missed_signals_{0};
  // a violation
  const char* invariant_{nullptr};
  std::string detail_;
  std::vector<std::string>* log_{nullptr};
};

}  // namespace vpci::explore
