#include "mailbox_world.hpp"

#include "explore_oracle.hpp"

#include <cstring>

namespace vpci::explore {

namespace {
using engine::explore_access;
using vf_action = engine::mailbox_action;

// Where the VF's reads land: one buffer per request of the menu, outside every world (the engine's
// destination spans point here in every copy of a world). Poisoned before each step, so a read reported
// successful must have been copied by the step that reported it.
std::array<std::array<std::byte, max_block_size>, mailbox_world::max_requests> destinations;

std::string hex(std::uint32_t v) {
  char buffer[16];
  std::snprintf(buffer, sizeof buffer, "0x%08x", v);
  return buffer;
}

const char* errc_name(errc e) {
  static constexpr const char* names[] = {
      "success", "invalid_length", "buffer_too_small", "invalid_block_id", "invalid_argument", "truncated_message",
      "malformed_message", "unknown_message_type", "empty_response", "out_of_range", "read_only",
      "capability_loop", "bad_capability_pointer", "insufficient_resources", "not_found", "access_denied", "busy",
      "timeout", "cancelled", "not_supported", "revision_mismatch", "protocol_violation", "quarantined",
      "vf_removed", "bad_data", "torn_read", "device_error", "peer_gone", "peer_restarted",
      "connection_closed", "in_use"};
  const auto i = static_cast<std::size_t>(e);
  return i < std::size(names) ? names[i] : "?";
}

}  // namespace

mailbox_world::store_type& mailbox_world::live_store() {
  static store_type store;
  return store;
}

mailbox_world::mailbox_world(mailbox_scenario scenario)
    : vf_(engine::vf_mailbox_config{poll_ns, watch_ns, 32, scenario.orphan_ns, scenario.signal}),
      pf_(live_store(), vf, engine::pf_mailbox_config{0, scenario.signal}),
      scenario_(scenario) {
  store_type& store = live_store();
  if (!store.registered(vf)) {
    (void)store.register_vf(vf, 0x0101);
    const auto one = block_version(1, 0, 8), two = block_version(2, 0, 4);
    (void)store.define_block(vf, block_id{1}, std::span<const std::byte>(one).first(8));
    (void)store.define_block(vf, block_id{2}, std::span<const std::byte>(two).first(4), engine::block_access::read_only);
  }
  // A fresh store image: the blocks at version 0, nothing pending.
  (void)store.store(vf, block_id{1}, std::span<const std::byte>(block_version(1, 0, 8)).first(8));
  (void)store.take_invalidations(vf);
  (void)store.reset_vf(vf);
  explore_access::save(store, store_);
  commit_index_[0] = ++commits_;

  // The placement's headers (the PF's, fixed), then the session initialises the window.
  le::store_u32(window_.data() + mailbox::reg::ext_header, 0x00010023u);
  le::store_u32(window_.data() + mailbox::reg::dvsec_header1, 0x1AF4u | (2u << 16) | (std::uint32_t{mailbox::window_size} << 20));
  le::store_u32(window_.data() + mailbox::reg::dvsec_header2, mailbox::default_dvsec_id);
  for (const auto& w : pf_.initialize(window_, 0))
    std::memcpy(window_.data() + w.offset, w.bytes.data(), w.bytes.size());
  vf_.watch_invalidations(true);
  pump();
  // The root is the VF after its first probe (and, with the signal, after it asked for it), watching (the
  // probe's interleavings with a PF are explored after every re-initialisation and failed access): the
  // depth bound goes to the requests.
  while (mode_ == vf_mode::access && invariant_ == nullptr) {
    vf_access_step();
    pump();
    if (doorbells_ != 0 && scenario_.signal) {
      // The PF services the VF's control write (SIGNAL) before the root.
      doorbells_ = 0;
      explore_access::load(store_, live_store());
      (void)pf_.service(window_);
      explore_access::save(live_store(), store_);
    }
  }
  doorbells_ = 0;
}

void mailbox_world::fail(const char* invariant, std::string detail) {
  if (invariant_ != nullptr) return;
  invariant_ = invariant;
  detail_ = std::move(detail);
}

// ---- transitions ----------------------------------------------------------------------------------

void mailbox_world::enabled(std::vector<step_type>& out) const {
  if (invariant_ != nullptr) return;
  if (queue_count_ != 0) out.push_back({act::pf_write, 0});
  if (mode_ == vf_mode::access) out.push_back({act::vf_access, 0});
  if (queue_count_ == 0 && doorbells_ != 0) out.push_back({act::pf_service, 0});
  if (started_ < scenario_.requests && started_ < max_requests) out.push_back({act::vf_start, 0});
  out.push_back({act::tick, 0});
  if (raises_ < scenario_.raises) {
    out.push_back({act::pf_raise, 1});
    out.push_back({act::pf_raise, 2});
  }
  if (updates_ < scenario_.pf_updates) out.push_back({act::pf_update, 0});
  if (cancels_ < scenario_.cancels)
    for (std::uint8_t i = 0; i < started_; ++i)
      if (requests_[i].state == req_state::pending) {
        out.push_back({act::vf_cancel, i});
        out.push_back({act::vf_cancel_queued, i});
      }
  if (faults_ < scenario_.failed_accesses && mode_ == vf_mode::access) out.push_back({act::vf_fail, 0});
  if (missed_ < scenario_.missed_doorbells && doorbells_ != 0) out.push_back({act::drop_doorbell, 0});
  if (extra_ < scenario_.extra_doorbells && queue_count_ == 0 && doorbells_ == 0) out.push_back({act::extra_doorbell, 0});
  if (reinits_ < scenario_.reinits) out.push_back({act::pf_reinit, 0});
  if (removals_ < scenario_.removals) out.push_back({act::vf_remove, 0});
  if (signals_ != 0) out.push_back({act::vf_signal, 0});
  if (signals_ != 0 && missed_signals_ < scenario_.missed_signals) out.push_back({act::drop_signal, 0});
}

bool mailbox_world::apply(step_type s) {
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
      explore::hasher before;
      explore_access::hash(before, vf_);
      vpci::result<engine::op_handle> r = errc::invalid_argument;
      const std::uint64_t deadline = now_ + deadline_ns;
      if (m.write) {
        const auto data = block_version(m.block, static_cast<std::uint8_t>(1 + i), m.length);
        r = vf_.start_write(block_id{m.block}, std::span<const std::byte>(data).first(m.length), deadline);
      } else {
        r = vf_.start_read(block_id{m.block}, std::span<std::byte>(destinations[i]).first(m.length), deadline);
      }
      ++started_;
      if (r) {
        requests_[i].state = req_state::pending;
        requests_[i].handle = *r;
        requests_[i].floor = commits_;
        if (log_ != nullptr) note("request " + std::to_string(i) + " started");
      } else {
        // Refused at the start: it counts as completed, and must have changed nothing.
        requests_[i].state = req_state::completed;
        explore::hasher after;
        explore_access::hash(after, vf_);
        if (r.error() != errc::busy) fail("refused start", std::string("start refused with ") + errc_name(r.error()));
        else if (before.digest() != after.digest()) fail("refused start changes nothing", "a busy start changed the engine");
        if (log_ != nullptr) note("request " + std::to_string(i) + " refused: busy");
      }
      break;
    }
    case act::vf_access: vf_access_step(); break;
    case act::vf_fail:
      ++faults_;
      mode_ = vf_mode::idle;
      vf_.on_transport_error(now_);
      break;
    case act::vf_cancel:
    case act::vf_cancel_queued: {
      ++cancels_;
      explore::hasher before;
      explore_access::hash(before, vf_);
      const bool done = vf_.cancel(requests_[s.arg].handle, s.what == act::vf_cancel ? engine::cancel_scope::with_effects
                                                                                      : engine::cancel_scope::without_effects);
      if (log_ != nullptr) note(done ? "cancelled" : "cancellation refused");
      if (!done) {
        explore::hasher after;
        explore_access::hash(after, vf_);
        if (before.digest() != after.digest()) fail("refused cancellation changes nothing", "a refused cancel changed the engine");
      }
      break;
    }
    case act::vf_remove:
      ++removals_;
      vf_.remove();
      break;
    case act::pf_service:
      --doorbells_;
      pf_service_now();
      break;
    case act::extra_doorbell:
      ++extra_;
      pf_service_now();
      break;
    case act::drop_doorbell:
      ++missed_;
      --doorbells_;
      break;
    case act::pf_write: pf_write_step(); break;
    case act::vf_signal:
      --signals_;
      vf_.wake();
      if (mode_ == vf_mode::waiting) mode_ = vf_mode::idle;
      break;
    case act::drop_signal:
      ++missed_signals_;
      --signals_;
      break;
    case act::pf_raise: {
      ++raises_;
      (void)live_store().invalidate(vf, block_id{s.arg});
      raised_ever_ |= std::uint64_t{1} << s.arg;
      undelivered_ |= std::uint64_t{1} << s.arg;
      if (doorbells_ < 2) ++doorbells_;  // the PF services the window after raising
      break;
    }
    case act::pf_update: {
      ++updates_;
      const auto version = static_cast<std::uint8_t>(32 + updates_);
      (void)live_store().store(vf, block_id{1}, std::span<const std::byte>(block_version(1, version, 8)).first(8));
      commit_index_[version] = ++commits_;
      (void)live_store().invalidate(vf, block_id{1});
      raised_ever_ |= 2;
      undelivered_ |= 2;
      if (doorbells_ < 2) ++doorbells_;
      break;
    }
    case act::pf_reinit: {
      // The PF re-initialises the window (an FLR, or a restart that kept its store): the writes it had
      // queued and not performed are lost; the new initialisation's are queued.
      ++reinits_;
      queue_count_ = 0;
      queue_head_ = 0;
      queue_writes(pf_.initialize(window_, now_));
      signal_when_written_ = pf_.signal_vf();
      signal_if_done();
      break;
    }
    case act::tick: {
      const std::uint64_t next = next_time();
      now_ = next;
      if (now_ % pf_poll_ns == 0) pf_poll();
      if (mode_ == vf_mode::waiting && now_ >= until_) mode_ = vf_mode::idle;
      if (log_ != nullptr) note("now " + std::to_string(now_ / 1000) + " us");
      break;
    }
  }
  pump();
  const block_mask delivered = vf_.take_invalidations();
  if ((delivered.bits() & ~raised_ever_) != 0)
    fail("no spurious invalidation", "delivered " + hex(static_cast<std::uint32_t>(delivered.bits())) + ", never raised");
  undelivered_ &= ~delivered.bits();
  if (!delivered.empty()) note("invalidations delivered " + hex(static_cast<std::uint32_t>(delivered.bits())));
  explore_access::save(live_store(), store_);
  return true;
}

// The next moment something waits for: the VF's wait, a deadline, the PF's poll.
std::uint64_t mailbox_world::next_time() const {
  std::uint64_t next = (now_ / pf_poll_ns + 1) * pf_poll_ns;
  if (mode_ == vf_mode::waiting && until_ > now_) next = std::min(next, until_);
  const std::uint64_t deadline = vf_.next_deadline();
  if (deadline > now_) next = std::min(next, deadline);
  return next;
}

// Runs the VF engine until it asks for an access or waits; delivers completions.
void mailbox_world::pump() {
  for (int guard = 0; guard < 64; ++guard) {
    const vf_action a = vf_.step(now_);
    switch (a.what) {
      case vf_action::kind::complete: on_completion(a.done); continue;
      case vf_action::kind::read:
      case vf_action::kind::write:
        if (mode_ == vf_mode::access) return fail("one access at a time", "a second access while one is in flight");
        if (a.what == vf_action::kind::read && (a.length == 0 || a.length > access_bytes_.size()))
          return fail("access within the window", "read of " + std::to_string(a.length) + " bytes");
        if (a.what == vf_action::kind::write && (a.bytes.empty() || a.bytes.size() > access_bytes_.size()))
          return fail("access within the window", "write of " + std::to_string(a.bytes.size()) + " bytes");
        mode_ = vf_mode::access;
        access_read_ = a.what == vf_action::kind::read;
        access_offset_ = a.offset;
        access_length_ = static_cast<std::uint16_t>(access_read_ ? a.length : a.bytes.size());
        access_done_ = 0;
        if (a.offset + std::size_t{access_length_} > mailbox::window_size)
          return fail("access within the window", "access at " + hex(a.offset));
        if (!access_read_) std::memcpy(access_bytes_.data(), a.bytes.data(), a.bytes.size());
        return;
      case vf_action::kind::wait:
        if (mode_ == vf_mode::access) return;
        if (a.until <= now_) return fail("no spin", "a wait until " + std::to_string(a.until) + " at " + std::to_string(now_));
        mode_ = vf_mode::waiting;
        until_ = a.until;
        return;
      case vf_action::kind::idle:
        if (mode_ != vf_mode::access) mode_ = vf_mode::idle;
        return;
      case vf_action::kind::send: return fail("binding 1 actions only", "a send action");
    }
  }
  fail("no spin", "step() handed out 64 completions in a row");
}

void mailbox_world::on_completion(const engine::op_completion& done) {
  std::size_t i = 0;
  while (i < started_ && !(requests_[i].state == req_state::pending && requests_[i].handle == done.handle)) ++i;
  if (i == started_) return fail("every request completes exactly once", "a completion for no pending request");
  request& r = requests_[i];
  r.state = req_state::completed;
  const menu_entry& m = menu[i];
  if (log_ != nullptr) note("request " + std::to_string(i) + " completed: " + errc_name(done.error) + (done.transport_failure ? " (transport)" : ""));
  if (done.error == no_error) {
    if (done.bytes != m.length)
      return fail("answers are whole", "request " + std::to_string(i) + " returned " + std::to_string(done.bytes) + " bytes");
    if (m.block == 7) return fail("refused requests change nothing", "block 7 (undefined) served");
    if (m.write) {
      if (m.block != 1) return fail("refused requests change nothing", "a write to the read-only block succeeded");
      if (commit_index_[1 + i] == 0)
        return fail("a successful write was committed", "request " + std::to_string(i) + " succeeded, store never held it");
      return;
    }
    const int version = version_of(m.block, destinations[i].data(), m.length);
    if (version < 0) {
      std::string bytes;
      for (std::size_t k = 0; k < m.length; ++k) bytes += hex(static_cast<std::uint32_t>(destinations[i][k])).substr(8) + " ";
      return fail("no torn block", "request " + std::to_string(i) + " returned " + bytes + "(no committed version)");
    }
    if (m.block == 1) {
      const std::uint8_t index = commit_index_[static_cast<std::size_t>(version)];
      if (index == 0) return fail("no torn block", "returned version " + std::to_string(version) + " was never committed");
      if (index < r.floor)
        return fail("no stale read", "returned version " + std::to_string(version) + ", older than the one committed at the start");
    } else if (version != 0) {
      return fail("no torn block", "read-only block 2 returned version " + std::to_string(version));
    }
    return;
  }
  if (m.write && m.block == 1 && !outcome_unknown(done)) {
    if (commit_index_[1 + i] != 0) return fail("refused requests change nothing", "a refused write was committed");
    refused_versions_ |= std::uint64_t{1} << (1 + i);
  }
}

void mailbox_world::vf_access_step() {
  const std::uint16_t at = static_cast<std::uint16_t>(access_offset_ + access_done_);
  const std::uint16_t n = static_cast<std::uint16_t>(std::min<std::size_t>(4, access_length_ - access_done_));
  if (access_read_) {
    std::memcpy(access_bytes_.data() + access_done_, window_.data() + at, n);
    if (log_ != nullptr && n == 4) note("VF reads " + hex(at) + " = " + hex(le::load_u32(window_.data() + at)));
  } else {
    std::memcpy(window_.data() + at, access_bytes_.data() + access_done_, n);
    if (log_ != nullptr && n == 4) note("VF writes " + hex(at) + " = " + hex(le::load_u32(window_.data() + at)));
  }
  access_done_ = static_cast<std::uint16_t>(access_done_ + n);
  if (access_done_ < access_length_) return;
  mode_ = vf_mode::idle;
  if (access_read_) {
    vf_.on_read(std::span<const std::byte>(access_bytes_).first(access_length_), now_);
  } else {
    vf_.on_written(now_);
    if (doorbells_ < 2) ++doorbells_;  // the write hook: the VF's doorbell
  }
}

// The PF's bounded poll, as the serving loop's timer runs it: a look at request, control and the
// acknowledgement pair (the session's wants_service), then a service when it wants one (a doorbell: the
// service is a step of its own, so VF accesses interleave between the look and the copy), else a due
// heartbeat (none in this world). Writes of the last update still queued: a service, as the binding's
// pass finishes them first.
void mailbox_world::pf_poll() {
  const auto load = [this](std::uint16_t r) { return le::load_u32(window_.data() + r); };
  if (queue_count_ == 0 && !pf_.wants_service(load(mailbox::reg::request), load(mailbox::reg::control),
                                              load(mailbox::reg::invalidate_ack_low),
                                              load(mailbox::reg::invalidate_ack_high))) {
    if (log_ != nullptr) note("PF looks: nothing to serve");
    queue_writes(pf_.tick(now_));
    return;
  }
  if (doorbells_ < 2) ++doorbells_;
}

void mailbox_world::pf_service_now() {
  explore_access::save(live_store(), store_);
  const std::array<std::byte, 64> arena_before = store_.arena;
  const session::write_list& writes = pf_.service(window_);
  const engine::mailbox_event event = pf_.last_event();
  if (log_ != nullptr) note("PF services: event " + std::to_string(static_cast<int>(event)) + ", " + std::to_string(writes.size()) + " writes");
  queue_writes(writes);
  signal_when_written_ = pf_.signal_vf();
  signal_if_done();
  if (scenario_.bug == planted_bug::latch_forgotten) explore_access::forget_latch(pf_);
  explore_access::save(live_store(), store_);
  if ((event == engine::mailbox_event::served || event == engine::mailbox_event::violation) &&
      pf_.result() != ntstatus::success && store_.arena != arena_before)
    fail("refused requests change nothing", "the PF refused a request and its store changed");
  commit_check(arena_before);
}

// A change of block 1 in the store is a commit: of a version some write carried, never of a refused one.
void mailbox_world::commit_check(const std::array<std::byte, 64>& before) {
  const auto contents = live_store().contents(vf, block_id{1});
  std::array<std::byte, 8> now{};
  std::memcpy(now.data(), contents.data(), 8);
  explore_access::save(live_store(), store_);
  if (std::memcmp(before.data(), store_.arena.data(), 64) == 0) return;
  const int version = version_of(1, now.data(), 8);
  if (version < 0) return fail("no torn block", "the store took bytes that are no version of block 1");
  if ((refused_versions_ >> version & 1u) != 0) return fail("refused requests change nothing", "a refused write was committed");
  if (commit_index_[static_cast<std::size_t>(version)] == 0) commit_index_[static_cast<std::size_t>(version)] = ++commits_;
  if (log_ != nullptr) note("store commits block 1 version " + std::to_string(version));
}

void mailbox_world::queue_writes(const session::write_list& writes) {
  std::uint16_t used = 0;
  for (std::uint8_t k = 0; k < queue_count_; ++k) {
    const pf_write& w = queue_[(queue_head_ + k) % queue_.size()];
    used = std::max<std::uint16_t>(used, static_cast<std::uint16_t>(w.at + w.length));
  }
  // Compact what is queued (nothing, in practice: a service runs only on an empty queue).
  std::vector<pf_write> list;
  for (std::uint8_t k = 0; k < queue_count_; ++k) list.push_back(queue_[(queue_head_ + k) % queue_.size()]);
  for (const auto& w : writes) {
    if (used + w.bytes.size() > queue_bytes_.size() || list.size() == queue_.size())
      return fail("PF writes fit", "the PF queued more than the explorer holds");
    std::memcpy(queue_bytes_.data() + used, w.bytes.data(), w.bytes.size());
    list.push_back(pf_write{w.offset, static_cast<std::uint16_t>(w.bytes.size()), used});
    used = static_cast<std::uint16_t>(used + w.bytes.size());
  }
  if (scenario_.bug == planted_bug::status_before_data) {
    // The broken PF: status first, then the rest.
    std::stable_partition(list.begin(), list.end(), [](const pf_write& w) { return w.offset == mailbox::reg::status; });
  }
  queue_head_ = 0;
  queue_count_ = static_cast<std::uint8_t>(list.size());
  std::copy(list.begin(), list.end(), queue_.begin());
}

void mailbox_world::pf_write_step() {
  pf_write& w = queue_[queue_head_];
  const std::uint16_t n = w.length > 32 ? w.length : std::min<std::uint16_t>(4, w.length);
  std::memcpy(window_.data() + w.offset, queue_bytes_.data() + w.at, n);
  if (log_ != nullptr && n == 4) note("PF writes " + hex(w.offset) + " = " + hex(le::load_u32(window_.data() + w.offset)));
  if (log_ != nullptr && n > 4) note("PF writes " + std::to_string(n) + " bytes at " + hex(w.offset));
  w.offset = static_cast<std::uint16_t>(w.offset + n);
  w.at = static_cast<std::uint16_t>(w.at + n);
  w.length = static_cast<std::uint16_t>(w.length - n);
  if (w.length == 0) {
    queue_head_ = static_cast<std::uint8_t>((queue_head_ + 1) % queue_.size());
    --queue_count_;
    signal_if_done();
  }
}

// The PF raises the VF's signal once the writes of the update that asked for it are performed.
void mailbox_world::signal_if_done() {
  if (!signal_when_written_ || queue_count_ != 0) return;
  signal_when_written_ = false;
  if (signals_ < 2) ++signals_;
}

// ---- the state's hash -----------------------------------------------------------------------------

std::uint64_t mailbox_world::hash() const {
  explore::hasher h;
  h.bytes(window_.data(), window_.size());
  explore_access::hash(h, vf_);
  explore_access::hash(h, pf_);
  explore_access::hash(h, store_);
  h.value(mode_);
  if (mode_ == vf_mode::access) {
    h.value(access_read_);
    h.value(access_offset_);
    h.value(access_length_);
    h.value(access_done_);
    if (!access_read_) h.bytes(access_bytes_.data(), access_length_);
    else h.bytes(access_bytes_.data(), access_done_);
  }
  if (mode_ == vf_mode::waiting) h.value(until_);
  h.value(now_);
  h.value(doorbells_);
  h.value(signal_when_written_);
  h.value(signals_);
  h.value(queue_count_);
  for (std::uint8_t k = 0; k < queue_count_; ++k) {
    const pf_write& w = queue_[(queue_head_ + k) % queue_.size()];
    h.value(w.offset);
    h.value(w.length);
    h.bytes(queue_bytes_.data() + w.at, w.length);
  }
  for (const request& r : requests_) {
    h.value(r.state);
    h.value(r.handle.slot);
    h.value(r.handle.generation);
    h.value(r.floor);
  }
  h.value(started_);
  h.bytes(commit_index_.data(), commit_index_.size());
  h.value(commits_);
  h.value(refused_versions_);
  h.value(raised_ever_);
  h.value(undelivered_);
  const std::array<std::uint8_t, 9> budgets{raises_, updates_, cancels_, faults_, missed_, extra_, reinits_, removals_,
                                            missed_signals_};
  h.bytes(budgets.data(), budgets.size());
  return h.digest();
}

// ---- liveness -------------------------------------------------------------------------------------

bool mailbox_world::quiescent() const {
  for (std::uint8_t i = 0; i < started_; ++i)
    if (requests_[i].state == req_state::pending) return false;
  return undelivered_ == 0;
}

std::string mailbox_world::pending_text() const {
  std::string text;
  for (std::uint8_t i = 0; i < started_; ++i)
    if (requests_[i].state == req_state::pending) text += "request " + std::to_string(i) + " still pending; ";
  if (undelivered_ != 0) text += "invalidation " + hex(static_cast<std::uint32_t>(undelivered_)) + " raised and never delivered; ";
  text += "VF engine state " + std::to_string(static_cast<int>(vf_.current_state())) + ", now " +
          std::to_string(now_ / 1000) + " us";
  return text;
}

// With no new events (no starts, cancellations, raises, faults or re-initialisations), a fair schedule:
// the PF performs its writes and services its doorbells, the VF performs its accesses, and time advances
// only when nothing else can happen. Within the bound every pending request must have completed and every
// raised invalidation been delivered.
bool mailbox_world::check_progress() {
  for (int i = 0; i < 400 && invariant_ == nullptr; ++i) {
    if (quiescent()) return true;
    step_type s{act::tick, 0};
    if (queue_count_ != 0) s = {act::pf_write, 0};
    else if (doorbells_ != 0) s = {act::pf_service, 0};
    else if (mode_ == vf_mode::access) s = {act::vf_access, 0};
    else if (signals_ != 0) s = {act::vf_signal, 0};
    (void)apply(s);
  }
  if (invariant_ != nullptr) return false;
  if (quiescent()) return true;
  fail(undelivered_ != 0 && std::none_of(requests_.begin(), requests_.begin() + started_,
                                         [](const request& r) { return r.state == req_state::pending; })
           ? "no invalidation is lost"
           : "no deadlock",
       pending_text());
  return false;
}

std::string mailbox_world::describe(step_type s) const {
  switch (s.what) {
    case act::vf_start: {
      const menu_entry& m = menu[started_];
      return std::string("VF starts request ") + std::to_string(started_) + ": " + (m.write ? "write" : "read") +
             " block " + std::to_string(m.block);
    }
    case act::vf_access: {
      const std::uint16_t at = static_cast<std::uint16_t>(access_offset_ + access_done_);
      return std::string("VF ") + (access_read_ ? "read" : "write") + " access at " + hex(at);
    }
    case act::vf_fail: return "the transport fails the VF's access";
    case act::vf_cancel: return "VF cancels request " + std::to_string(s.arg) + " (with_effects)";
    case act::vf_cancel_queued: return "VF cancels request " + std::to_string(s.arg) + " (without_effects)";
    case act::vf_remove: return "VF removed";
    case act::pf_service: return "PF services the window (doorbell)";
    case act::extra_doorbell: return "PF services the window (duplicated doorbell)";
    case act::drop_doorbell: return "a doorbell is lost";
    case act::pf_write: return "PF register write";
    case act::pf_raise: return "PF raises invalidation of block " + std::to_string(s.arg);
    case act::pf_update: return "PF updates block 1 and invalidates it";
    case act::pf_reinit: return "PF re-initialises the window (new epoch)";
    case act::tick: return "time advances";
    case act::vf_signal: return "the PF's signal reaches the VF";
    case act::drop_signal: return "the PF's signal is lost";
  }
  return "?";
}

}  // namespace vpci::explore
