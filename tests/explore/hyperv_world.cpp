#include "hyperv_world.hpp"

#include "explore_oracle.hpp"

#include <algorithm>
#include <cstdio>
#include <cstring>

namespace vpci::explore {

namespace {
using engine::explore_access;
using vf_action = engine::vf_message_channel<2>::message_action;
constexpr hyperv::wslot vf_slot{3, 0};

std::array<std::array<std::byte, max_block_size>, hyperv_world::max_requests> destinations;

template <class T>
void hash_representation(hasher& h, const T& object) {
  h.bytes(&object, sizeof object);  // reading an object's representation is always allowed
}
}  // namespace

hyperv_world::store_type& hyperv_world::live_store() {
  static store_type store;
  return store;
}

hyperv_world::hyperv_world(hyperv_scenario scenario)
    : vf_(vf_slot), pf_(live_store(), 0, vf_slot), scenario_(scenario) {
  store_type& store = live_store();
  if (!store.registered(0)) {
    (void)store.register_vf(0, 0x0101);
    const auto one = block_version(1, 0, 8), two = block_version(2, 0, 4);
    (void)store.define_block(0, block_id{1}, std::span<const std::byte>(one).first(8));
    (void)store.define_block(0, block_id{2}, std::span<const std::byte>(two).first(4), engine::block_access::read_only);
  }
  (void)store.store(0, block_id{1}, std::span<const std::byte>(block_version(1, 0, 8)).first(8));
  (void)store.take_invalidations(0);
  (void)store.reset_vf(0);
  explore_access::save(store, store_);
  commit_index_[0] = ++commits_;
  // The root: the version agreed (the negotiation's interleavings are explored after every reconnect).
  pump();
  for (int i = 0; i < 16 && invariant_ == nullptr && vf_.negotiated_version() == 0; ++i) {
    if (vf_sending_) (void)apply({act::stream_takes_send, 0});
    else if (up_size_ != 0) (void)apply({act::pf_read_all, 0});
    else if (!pf_.handoff_in_progress() && pf_.has_output()) (void)apply({act::pf_handoff, 0});
    else if (handoff_size_ != 0) (void)apply({act::pf_write_all, 0});
    else if (down_size_ != 0) (void)apply({act::vf_receive_all, 0});
  }
}

void hyperv_world::fail(const char* invariant, std::string detail) {
  if (invariant_ != nullptr) return;
  invariant_ = invariant;
  detail_ = std::move(detail);
}

void hyperv_world::enabled(std::vector<step_type>& out) const {
  if (invariant_ != nullptr) return;
  if (vf_sending_) out.push_back({act::stream_takes_send, 0});
  if (connected_ && up_size_ != 0 && pf_.accepting()) {
    out.push_back({act::pf_read_all, 0});
    if (up_size_ > chunk) out.push_back({act::pf_read_some, 0});
  }
  if (connected_ && !pf_.handoff_in_progress() && pf_.has_output()) out.push_back({act::pf_handoff, 0});
  if (handoff_size_ != 0) {
    out.push_back({act::pf_write_all, 0});
    if (handoff_size_ - handoff_done_ > chunk) out.push_back({act::pf_write_some, 0});
  }
  if (down_size_ != 0) {
    out.push_back({act::vf_receive_all, 0});
    if (down_size_ > chunk) out.push_back({act::vf_receive_some, 0});
  }
  if (connected_ && started_ < scenario_.requests && started_ < max_requests) out.push_back({act::vf_start, 0});
  if (vf_.next_deadline() != engine::no_deadline && vf_.next_deadline() > now_) out.push_back({act::tick, 0});
  if (raises_ < scenario_.raises) {
    out.push_back({act::pf_raise, 1});
    out.push_back({act::pf_raise, 2});
  }
  if (cancels_ < scenario_.cancels)
    for (std::uint8_t i = 0; i < started_; ++i)
      if (requests_[i].state == req_state::pending) {
        out.push_back({act::vf_cancel, i});
        out.push_back({act::vf_cancel_unsent, i});
      }
  if (connected_ && disconnects_ < scenario_.disconnects) out.push_back({act::disconnect, 0});
  if (!connected_) out.push_back({act::reconnect, 0});
}

bool hyperv_world::apply(step_type s) {
  if (invariant_ != nullptr) return false;
  std::vector<step_type> steps;
  enabled(steps);
  if (std::none_of(steps.begin(), steps.end(), [&](const step_type& e) { return e.what == s.what && e.arg == s.arg; }))
    return false;
  explore_access::load(store_, live_store());
  for (auto& d : destinations) d.fill(std::byte{0xEE});

  switch (s.what) {
    case act::vf_start: {
      const std::uint8_t i = started_;
      const menu_entry& m = menu[i];
      hasher before;
      hash_representation(before, vf_);
      vpci::result<engine::vf_op_handle> r = errc::invalid_argument;
      if (m.write) {
        const auto data = block_version(m.block, static_cast<std::uint8_t>(1 + i), m.length);
        r = vf_.start_write(block_id{m.block}, std::span<const std::byte>(data).first(m.length), now_ + deadline_ns);
      } else {
        r = vf_.start_read(block_id{m.block}, std::span<std::byte>(destinations[i]).first(m.length), now_ + deadline_ns);
      }
      ++started_;
      if (r) {
        requests_[i] = request{req_state::pending, *r, commits_};
        if (log_ != nullptr) note("request " + std::to_string(i) + " started");
      } else {
        requests_[i].state = req_state::completed;
        hasher after;
        hash_representation(after, vf_);
        // busy (the table is full), or the error of a channel that is dead: a failed negotiation (its
        // offer timed out), a framing violation.
        const bool dead = vf_.negotiation().failed() || vf_.receive_error() != no_error;
        if (r.error() != errc::busy && !dead) fail("refused start", "a start refused with an unexpected error");
        else if (before.digest() != after.digest()) fail("refused start changes nothing", "a refused start changed the channel");
        if (log_ != nullptr) note("request " + std::to_string(i) + " refused at its start");
      }
      break;
    }
    case act::vf_cancel:
    case act::vf_cancel_unsent:
      ++cancels_;
      // The channel's contract: true means complete now, with errc::cancelled (step() does not report it).
      if (vf_.cancel(requests_[s.arg].handle, s.what == act::vf_cancel ? engine::cancel_scope::with_effects
                                                                        : engine::cancel_scope::without_effects)) {
        requests_[s.arg].state = req_state::completed;
        if (log_ != nullptr) note("request " + std::to_string(s.arg) + " cancelled");
      } else {
        if (log_ != nullptr) note("cancellation refused");
      }
      break;
    case act::stream_takes_send:
      vf_sending_ = false;
      vf_.on_sent();
      break;
    case act::pf_read_some: pf_input(chunk); break;
    case act::pf_read_all: pf_input(up_size_); break;
    case act::pf_handoff: {
      std::array<std::byte, session::invalidate_buffer_size> invalidate{};
      auto handoff = pf_.begin_handoff(invalidate);
      if (!handoff) {
        fail("the PF hands off", "begin_handoff failed");
        break;
      }
      // The answers, then the invalidation (begin_handoff's order).
      handoff_done_ = 0;
      std::memcpy(handoff_.data(), unsent_.data(), unsent_size_);
      handoff_size_ = unsent_size_;
      std::memcpy(handoff_.data() + handoff_size_, invalidate.data(), handoff->invalidate_size);
      handoff_size_ += handoff->invalidate_size;
      unsent_size_ = 0;
      if (log_ != nullptr) note("PF hands off " + std::to_string(handoff_size_) + " bytes");
      if (handoff_size_ == 0) pf_.end_handoff();
      break;
    }
    case act::pf_write_some: pf_write(chunk); break;
    case act::pf_write_all: pf_write(handoff_size_); break;
    case act::vf_receive_some: vf_receive(chunk); break;
    case act::vf_receive_all: vf_receive(down_size_); break;
    case act::pf_raise: {
      ++raises_;
      const block_mask mask{std::uint64_t{1} << s.arg};
      if (connected_) pf_.invalidate(mask);
      else (void)live_store().invalidate(0, mask);
      raised_ever_ |= mask.bits();
      undelivered_ |= mask.bits();
      break;
    }
    case act::disconnect:
      // The connection drops: bytes in the stream are lost; the PF stops serving; the VF's operations end
      // with the transport's failure.
      ++disconnects_;
      connected_ = false;
      up_size_ = down_size_ = unsent_size_ = handoff_size_ = handoff_done_ = 0;
      vf_sending_ = false;
      if (!scenario_.planted_skip_end_of_serving) pf_.end_of_serving();
      vf_.remove(errc::peer_gone, true);
      break;
    case act::reconnect:
      // A new stream: a new channel (negotiating again) and a new PF session over the same store, which
      // picks up the invalidations the last one could not deliver.
      connected_ = true;
      vf_ = channel(vf_slot);
      pf_ = session(live_store(), 0, vf_slot);
      pf_.invalidate(live_store().take_invalidations(0));
      break;
    case act::tick: now_ = vf_.next_deadline(); break;
  }
  pump();
  const block_mask delivered = vf_.take_invalidations();
  if ((delivered.bits() & ~raised_ever_) != 0) fail("no spurious invalidation", "an invalidation never raised");
  undelivered_ &= ~delivered.bits();
  if (!delivered.empty()) note("invalidations delivered");
  explore_access::save(live_store(), store_);
  return true;
}

void hyperv_world::pump() {
  for (int guard = 0; guard < 64; ++guard) {
    const vf_action a = vf_.step(now_);
    switch (a.what) {
      case vf_action::kind::complete: on_completion(a.done); continue;
      case vf_action::kind::send:
        if (vf_sending_) return fail("one send at a time", "a second send while one is in flight");
        if (!connected_) return fail("no send on a dead stream", "the removed channel sent");
        if (up_size_ + a.bytes.size() > up_.size()) return fail("bounded stream", "the VF sent more than the pipe holds");
        std::memcpy(up_.data() + up_size_, a.bytes.data(), a.bytes.size());
        up_size_ += a.bytes.size();
        vf_sending_ = true;
        if (log_ != nullptr) note("VF sends " + std::to_string(a.bytes.size()) + " bytes");
        return;
      case vf_action::kind::wait:
        if (a.until <= now_) return fail("no spin", "a wait for a moment already past");
        return;
      case vf_action::kind::idle: return;
      default: return fail("binding 2 actions only", "a register access");
    }
  }
  fail("no spin", "step() handed out 64 completions in a row");
}

void hyperv_world::on_completion(const channel::message_completion& done) {
  std::size_t i = 0;
  while (i < started_ && !(requests_[i].state == req_state::pending && requests_[i].handle == done.handle)) ++i;
  if (i == started_) return fail("every request completes exactly once", "a completion for no pending request");
  request& r = requests_[i];
  r.state = req_state::completed;
  const menu_entry& m = menu[i];
  if (log_ != nullptr) note("request " + std::to_string(i) + " completed: " + std::to_string(static_cast<int>(done.error)));
  if (done.error == no_error) {
    if (done.bytes != m.length) return fail("answers are whole", "a short answer");
    if (m.write) {
      if (m.block != 1) return fail("refused requests change nothing", "a write to the read-only block succeeded");
      if (commit_index_[1 + i] == 0) return fail("a successful write was committed", "the store never held it");
      return;
    }
    const int version = version_of(m.block, destinations[i].data(), m.length);
    if (version < 0) return fail("no torn block", "a read returned bytes that are no version of the block");
    if (m.block == 1) {
      const std::uint8_t index = commit_index_[static_cast<std::size_t>(version)];
      if (index == 0) return fail("no torn block", "a read returned a version never committed");
      if (index < r.floor) return fail("no stale read", "a read returned a version older than the one at its start");
    } else if (version != 0) {
      return fail("no torn block", "the read-only block changed");
    }
    return;
  }
  if (m.write && m.block == 1 && !outcome_unknown(done) && commit_index_[1 + i] != 0)
    fail("refused requests change nothing", "a refused write was committed");
}

void hyperv_world::pf_input(std::size_t limit) {
  std::size_t offered = std::min(limit, up_size_);
  std::size_t taken = 0;
  while (taken < offered) {
    // The store before this frame: a refused request must leave it as it was.
    explore_access::save(live_store(), store_);
    const std::array<std::byte, 64> before_frame = store_.arena;
    std::array<std::byte, session::response_buffer_size> response{};
    const engine::pf_input_step step =
        pf_.on_input(std::span<const std::byte>(up_).subspan(taken, offered - taken), response);
    if (step.error != no_error) return fail("conforming peers never violate the protocol", "the PF refused the stream");
    taken += step.consumed;
    if (step.reply.size != 0) {
      if (unsent_size_ + step.reply.size > unsent_.size()) return fail("bounded stream", "the PF's answers overflow");
      std::memcpy(unsent_.data() + unsent_size_, response.data(), step.reply.size);
      unsent_size_ += step.reply.size;
      if (log_ != nullptr) note("PF answers (status " + std::to_string(static_cast<std::uint32_t>(step.reply.status)) + ")");
      if (step.reply.status != ntstatus::success) {
        explore_access::save(live_store(), store_);
        if (store_.arena != before_frame)
          return fail("refused requests change nothing", "a refused request changed the store");
      }
    }
    commit_check(before_frame);  // each frame's commit: two writes in one chunk are two versions
    if (step.consumed == 0) break;
  }
  std::memmove(up_.data(), up_.data() + taken, up_size_ - taken);
  up_size_ -= taken;
}

void hyperv_world::commit_check(const std::array<std::byte, 64>& before) {
  explore_access::save(live_store(), store_);
  if (store_.arena == before) return;
  const auto contents = live_store().contents(0, block_id{1});
  const int version = version_of(1, contents.data(), 8);
  if (version < 0) return fail("no torn block", "the store took bytes that are no version of block 1");
  if (commit_index_[static_cast<std::size_t>(version)] == 0) commit_index_[static_cast<std::size_t>(version)] = ++commits_;
  if (log_ != nullptr) note("store commits block 1 version " + std::to_string(version));
}

void hyperv_world::pf_write(std::size_t limit) {
  const std::size_t n = std::min(limit, handoff_size_ - handoff_done_);
  if (down_size_ + n > down_.size()) return fail("bounded stream", "the PF wrote more than the pipe holds");
  std::memcpy(down_.data() + down_size_, handoff_.data() + handoff_done_, n);
  down_size_ += n;
  handoff_done_ += n;
  pf_.on_stream_progress(n);
  if (handoff_done_ == handoff_size_) {
    pf_.end_handoff();
    handoff_size_ = handoff_done_ = 0;
  }
}

void hyperv_world::vf_receive(std::size_t limit) {
  const std::size_t n = std::min(limit, down_size_);
  if (vf_.on_received(std::span<const std::byte>(down_).first(n)) != no_error)
    fail("conforming peers never violate the protocol", "the VF refused the stream");
  std::memmove(down_.data(), down_.data() + n, down_size_ - n);
  down_size_ -= n;
}

std::uint64_t hyperv_world::hash() const {
  hasher h;
  hash_representation(h, vf_);
  hash_representation(h, pf_);
  explore_access::hash(h, store_);
  h.value(connected_);
  h.value(vf_sending_);
  h.value(now_);
  h.value(up_size_);
  h.bytes(up_.data(), up_size_);
  h.value(down_size_);
  h.bytes(down_.data(), down_size_);
  h.value(unsent_size_);
  h.bytes(unsent_.data(), unsent_size_);
  h.value(handoff_size_);
  h.value(handoff_done_);
  h.bytes(handoff_.data() + handoff_done_, handoff_size_ - handoff_done_);
  for (const request& r : requests_) {
    h.value(r.state);
    h.value(r.handle.transaction_id);
    h.value(r.floor);
  }
  h.value(started_);
  h.bytes(commit_index_.data(), commit_index_.size());
  h.value(commits_);
  h.value(raised_ever_);
  h.value(undelivered_);
  const std::array<std::uint8_t, 3> budgets{raises_, cancels_, disconnects_};
  h.bytes(budgets.data(), budgets.size());
  return h.digest();
}

bool hyperv_world::quiescent() const {
  for (std::uint8_t i = 0; i < started_; ++i)
    if (requests_[i].state == req_state::pending) return false;
  return undelivered_ == 0;
}

// A fair run with no new events: the stream carries everything both ways, the VF reconnects after a
// drop, and time advances only when nothing else can happen.
bool hyperv_world::check_progress() {
  for (int i = 0; i < 200 && invariant_ == nullptr; ++i) {
    if (quiescent()) return true;
    step_type s{act::tick, 0};
    if (!connected_) s = {act::reconnect, 0};
    else if (vf_sending_) s = {act::stream_takes_send, 0};
    else if (handoff_size_ != 0) s = {act::pf_write_all, 0};
    else if (down_size_ != 0) s = {act::vf_receive_all, 0};
    else if (!pf_.handoff_in_progress() && pf_.has_output()) s = {act::pf_handoff, 0};
    else if (up_size_ != 0 && pf_.accepting()) s = {act::pf_read_all, 0};
    if (!apply(s)) break;
  }
  if (invariant_ != nullptr) return false;
  if (quiescent()) return true;
  bool pending = false;
  for (std::uint8_t i = 0; i < started_; ++i) pending = pending || requests_[i].state == req_state::pending;
  fail(pending ? "no deadlock" : "no invalidation is lost",
       pending ? "a request still pending after a fair run" : "a raised invalidation never delivered");
  return false;
}

std::string hyperv_world::describe(step_type s) const {
  switch (s.what) {
    case act::vf_start: return "VF starts request " + std::to_string(started_);
    case act::vf_cancel: return "VF cancels request " + std::to_string(s.arg) + " (with_effects)";
    case act::vf_cancel_unsent: return "VF cancels request " + std::to_string(s.arg) + " (without_effects)";
    case act::stream_takes_send: return "the stream takes the VF's send";
    case act::pf_read_some: return "PF reads 5 bytes";
    case act::pf_read_all: return "PF reads all it was sent";
    case act::pf_handoff: return "PF hands its answers to the stream";
    case act::pf_write_some: return "the stream carries 5 bytes to the VF";
    case act::pf_write_all: return "the stream carries the whole handoff to the VF";
    case act::vf_receive_some: return "VF receives 5 bytes";
    case act::vf_receive_all: return "VF receives all that arrived";
    case act::pf_raise: return "PF raises invalidation of block " + std::to_string(s.arg);
    case act::disconnect: return "the connection drops";
    case act::reconnect: return "the VF reconnects";
    case act::tick: return "time advances to the next deadline";
  }
  return "?";
}

}  // namespace vpci::explore
