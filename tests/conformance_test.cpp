// vpci-conformance's case engine (examples/conformance/) run in-process: it passes against vpci's PF on
// both bindings (in this thread over memory_config_space, in another thread over POSIX shared memory, in
// another thread over a Unix socket pair), and fails each broken PF on the case that checks the rule it
// breaks. The broken PFs are vpci's own PF session behind a fault: the session decides, the fault bends
// one rule (the sequence check, the invalidation latch, the VF a block belongs to, the order of writes).
// The in-process PFs answer inside the VF's writes, so their cases wait on status polls, never real time.
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <csignal>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <functional>
#include <future>
#include <mutex>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/json.hpp>

#include <vpci/config/placement.hpp>
#include <vpci/engine/pf_mailbox.hpp>
#include <vpci/transport/shm_config_space.hpp>

#include "child_process.hpp"
#include "test_support.hpp"
#include "conformance/mailbox_port.hpp"
#include "conformance/runner.hpp"
#include "conformance/self_pf.hpp"

BOOST_AUTO_TEST_SUITE(conformance_test)

using namespace vpci;
using namespace vpci::conformance;

namespace {

const case_report* find_report(const std::vector<case_report>& reports, std::string_view name) {
  for (const case_report& r : reports)
    if (r.name == name) return &r;
  return nullptr;
}

// Every case passed or was skipped for one of `allowed_skips`.
void expect_no_failure(const std::vector<case_report>& reports, std::initializer_list<std::string_view> allowed_skips) {
  BOOST_TEST(!reports.empty());
  for (const case_report& r : reports) {
    BOOST_TEST_CONTEXT(format_line(r)) {
      BOOST_TEST((r.result.outcome != verdict::fail));
      if (r.result.outcome == verdict::skip) {
        bool allowed = false;
        for (const std::string_view s : allowed_skips) allowed = allowed || r.name == s;
        BOOST_TEST(allowed);
      }
    }
  }
}

const answer_budget in_process{16, std::chrono::milliseconds(1000), {}};

// ---- a broken PF: vpci's session behind one fault ----------------------------------------------------------

constexpr block_spec odd_block{9, 6, block_access::read_only};

enum class fault {
  none,
  no_sequence_check,                 // executes any new sequence as the next one
  invalidation_cleared_without_ack,  // drops the latch whenever it serves a request
  foreign_block_served,              // answers VF 0's requests for VF 1's block from VF 1's block
  status_before_data,                // writes status first, and (a slow device) one register write per two VF accesses
  no_signal_after_invalidation,      // signals the VF after answers only, not when it publishes a raised invalidation
  flr_keeps_window,                  // an FLR re-initialises like a PF restart: request_block and the data window kept
  flr_adopts_stale_sequence,         // an FLR zeroes the registers, then the first doorbell's sequence is run, whatever it is
  // Found by a mutation audit of examples/firmware-c (vpci-conformance passed each):
  count_rounded_up,       // a read's count rounded up to whole dwords
  padding_not_zeroed,     // the data window past a read's count keeps what was there
  length_before_access,   // a write of another length to a read-only block: INVALID_PARAMETER, not ACCESS_DENIED
  reset_clears_signal,    // a reset clears control.SIGNAL with RESET
  flr_zeroes_short,       // an FLR zeroes the data window but its last dword
  // Not a fault: a heartbeat whose interval (1 ms of a test clock) elapses between any two services, so
  // the status word's heartbeat moves on every VF write, as a slow VF sees a real PF's do.
  heartbeat_every_service,
};

class faulty_pf final : public pf_control {
 public:
  static constexpr std::uint16_t vendor = 0x1AF4;

  explicit faulty_pf(fault f) : fault_(f) {
    const profile p = default_profile();
    for (const vf_index vf : {vf_index{0}, vf_index{1}}) BOOST_REQUIRE((store_->register_vf(vf, static_cast<std::uint16_t>(0x101 + vf)) == no_error));
    for (const block_spec& b : p.blocks)
      BOOST_REQUIRE((store_->define_block(0, block_id{b.id}, initial_contents(b.id, b.size), b.access) == no_error));
    BOOST_REQUIRE((store_->define_block(0, block_id{*p.not_ready_block}, initial_contents(6, 8), block_access::read_write, &not_ready_) == no_error));
    BOOST_REQUIRE((store_->define_block(0, block_id{*p.empty_block}, initial_contents(7, 8), block_access::read_write, &empty_) == no_error));
    BOOST_REQUIRE((store_->define_block(1, block_id{40}, initial_contents(40, 8)) == no_error));
    // A read-only block whose size is no multiple of 4 (odd_profile names it).
    BOOST_REQUIRE((store_->define_block(0, block_id{odd_block.id}, initial_contents(odd_block.id, odd_block.size),
                                        odd_block.access) == no_error));
    if (f == fault::foreign_block_served)
      BOOST_REQUIRE((store_->define_block(0, block_id{40}, initial_contents(40, 8), block_access::read_write, &foreign_) == no_error));
    for (std::size_t vf = 0; vf < 2; ++vf) place(vf);
  }
  faulty_pf(const faulty_pf&) = delete;
  faulty_pf& operator=(const faulty_pf&) = delete;

  memory_config_space& space(int vf) { return *spaces_[static_cast<std::size_t>(vf)]; }

  [[nodiscard]] std::string can_invalidate() const override { return {}; }
  [[nodiscard]] std::string can_restart() const override { return "the broken test PF does not restart"; }
  std::string invalidate(int vf, std::uint64_t mask) override {
    if (store_->invalidate(static_cast<vf_index>(vf), block_mask{mask}) != no_error) return "invalidate refused";
    service(static_cast<std::size_t>(vf), true);
    return {};
  }
  std::string restart() override { return can_restart(); }
  [[nodiscard]] std::string can_flr() const override { return {}; }
  std::string flr(int vf) override {
    const auto v = static_cast<std::size_t>(vf);
    while (!queue_.empty()) apply_one();
    if (store_->reset_vf(static_cast<vf_index>(vf)) != no_error) return "reset_vf refused";
    std::array<std::byte, mailbox::window_size> copy{};
    BOOST_REQUIRE((spaces_[v]->device_read(window_, copy) == no_error));
    for (const engine::register_write& w : sessions_[v]->initialize(copy, 0, fault_ != fault::flr_keeps_window))
      (void)spaces_[v]->device_write(window_ + w.offset, w.bytes);
    if (fault_ == fault::flr_zeroes_short) {
      const std::size_t last = mailbox::reg::data + mailbox::data_window_size - 4;
      (void)spaces_[v]->device_write(window_ + last, std::span<const std::byte>(copy).subspan(last, 4));
    }
    adopt_next_[v] = fault_ == fault::flr_adopts_stale_sequence;
    delta_[v] = 0;
    return {};
  }
  // How often the PF signalled VF `vf` (the SIGNAL capability it announces: a counter a test port reads).
  [[nodiscard]] std::uint32_t signals(int vf) const { return signals_[static_cast<std::size_t>(vf)]; }

 private:
  struct pending_write {
    std::size_t offset;
    std::vector<std::byte> bytes;
  };

  // The window at 0x100, its headers and registers written as a device does; the PF-owned registers and the
  // headers read-only to the VF.
  void place(std::size_t vf) {
    memory_config_space& s = *spaces_[vf];
    std::vector<std::byte> image(4096);
    image[0] = std::byte{vendor & 0xFF};
    image[1] = std::byte{vendor >> 8};
    auto at = config::place_dvsec(image, {vendor, mailbox::default_dvsec_id, mailbox::dvsec_revision,
                                          static_cast<std::uint16_t>(mailbox::window_size)});
    BOOST_REQUIRE(at.has_value());
    window_ = *at;
    for (const engine::register_write& w : sessions_[vf]->initialize(std::span<const std::byte>(image).subspan(window_, mailbox::window_size)))
      std::copy(w.bytes.begin(), w.bytes.end(), image.begin() + static_cast<std::ptrdiff_t>(window_ + w.offset));
    BOOST_REQUIRE((s.device_write(0, image) == no_error));
    BOOST_REQUIRE((s.set_register_kind(0, 4096, register_kind::read_only) == no_error));
    for (const mailbox::register_range& r : mailbox::vf_writable_ranges)
      BOOST_REQUIRE((s.set_register_kind(window_ + r.start, r.end - r.start, register_kind::read_write) == no_error));
    s.add_write_hook([this, vf](std::size_t, std::size_t) { service(vf); });
    if (fault_ == fault::status_before_data)
      s.set_access_observer([this](access_direction, std::size_t, std::size_t) {
        if (++accesses_ % 2 == 0) apply_one();
      });
  }

  void apply_one() {
    if (queue_.empty()) return;
    const pending_write w = std::move(queue_.front());
    queue_.pop_front();
    (void)spaces_[queue_vf_]->device_write(w.offset, w.bytes);
  }

  void service(std::size_t vf, bool raised = false) {
    while (!queue_.empty()) apply_one();  // the previous update completes first
    memory_config_space& s = *spaces_[vf];
    std::array<std::byte, mailbox::window_size> copy{};
    BOOST_REQUIRE((s.device_read(window_, copy) == no_error));
    auto& session = *sessions_[vf];
    const std::uint32_t request = le::load_u32(copy.data() + mailbox::reg::request);
    const auto sequence = static_cast<std::uint16_t>(request & 0xFFFF);
    std::uint16_t& delta = delta_[vf];
    if (adopt_next_[vf] && sequence != 0) {
      // The session, synchronised at 0 by the FLR, sees the first doorbell after it as sequence 1.
      adopt_next_[vf] = false;
      delta = static_cast<std::uint16_t>(sequence - 1);
    }
    if (delta != 0 && fault_ == fault::flr_adopts_stale_sequence) {
      const auto status = le::load_u32(copy.data() + mailbox::reg::status);
      le::store_u32(copy.data() + mailbox::reg::status, (status & 0xFFFF0000u) | static_cast<std::uint16_t>((status & 0xFFFF) - delta));
      if (sequence != 0)
        le::store_u32(copy.data() + mailbox::reg::request, (request & 0xFFFF0000u) | static_cast<std::uint16_t>(sequence - delta));
    }
    if (fault_ == fault::no_sequence_check) {
      // The session sees the VF's sequences shifted so that every new one is its "next".
      if (!session.synchronised()) delta = 0;
      const auto status = le::load_u32(copy.data() + mailbox::reg::status);
      le::store_u32(copy.data() + mailbox::reg::status, (status & 0xFFFF0000u) | static_cast<std::uint16_t>((status & 0xFFFF) - delta));
      if (session.synchronised() && sequence != 0) {
        const auto seen = static_cast<std::uint16_t>(sequence - delta);
        const std::uint16_t last = session.last_sequence();
        const auto next = static_cast<std::uint16_t>(last + 1 == 0x10000 ? 1 : last + 1);
        if (seen != last && seen != next) delta = static_cast<std::uint16_t>(sequence - next);
        le::store_u32(copy.data() + mailbox::reg::request,
                      (request & 0xFFFF0000u) | static_cast<std::uint16_t>(sequence - delta));
      }
    }
    if (fault_ == fault::invalidation_cleared_without_ack && sequence != last_request_[vf] && sequence != 0) {
      // Serving a new request "acknowledges" whatever is latched, though the VF acknowledged nothing.
      const block_mask latched = session.latched_invalidations();
      le::store_u32(copy.data() + mailbox::reg::invalidate_ack_low, static_cast<std::uint32_t>(latched.bits()));
      le::store_u32(copy.data() + mailbox::reg::invalidate_ack_high, static_cast<std::uint32_t>(latched.bits() >> 32));
    }
    last_request_[vf] = sequence;
    std::vector<pending_write> writes;
    now_ += beat_ns;
    const auto& update = fault_ == fault::heartbeat_every_service ? session.service(copy, now_) : session.service(copy);
    for (const engine::register_write& w : update) writes.push_back({window_ + w.offset, {w.bytes.begin(), w.bytes.end()}});
    for (pending_write& w : writes) {
      if ((fault_ == fault::no_sequence_check || fault_ == fault::flr_adopts_stale_sequence) && w.offset == window_ + mailbox::reg::status) {
        const auto status = le::load_u32(w.bytes.data());
        le::store_u32(w.bytes.data(), (status & 0xFFFF0000u) | static_cast<std::uint16_t>((status & 0xFFFF) + delta));
      }
      break_write(w, copy, vf);
    }
    if (session.signal_vf() && !(raised && fault_ == fault::no_signal_after_invalidation)) ++signals_[vf];
    if (fault_ == fault::status_before_data) {
      std::stable_partition(writes.begin(), writes.end(), [&](const pending_write& w) { return w.offset == window_ + mailbox::reg::status; });
      queue_vf_ = vf;
      for (pending_write& w : writes) queue_.push_back(std::move(w));
      apply_one();  // status, at once
      return;
    }
    for (const pending_write& w : writes) (void)s.device_write(w.offset, w.bytes);
  }

  // The faults that change what one write of an update carries; `copy` is the window the update served.
  void break_write(pending_write& w, std::span<const std::byte> copy, std::size_t vf) const {
    const std::uint32_t request = le::load_u32(copy.data() + mailbox::reg::request);
    const bool write_request = ((request >> 24) & 3u) == 2;
    const std::size_t length = (request >> 16) & 0xFF;
    if (fault_ == fault::count_rounded_up && w.offset == window_ + mailbox::reg::status) {
      auto status = mailbox::decode_status(le::load_u32(w.bytes.data()));
      if (!status.failed && !write_request) status.count = static_cast<std::uint8_t>((status.count + 3) & ~3u);
      le::store_u32(w.bytes.data(), mailbox::encode_status(status));
    }
    const block_id block{le::load_u32(copy.data() + mailbox::reg::request_block)};
    const std::size_t block_size = store_->contents(static_cast<vf_index>(vf), block).size();
    if (fault_ == fault::padding_not_zeroed && w.offset == window_ + mailbox::reg::data && !write_request)
      for (std::size_t i = block_size; i < w.bytes.size(); ++i) w.bytes[i] = std::byte{0xAD};
    if (fault_ == fault::length_before_access && w.offset == window_ + mailbox::reg::result && write_request) {
      const std::span<const std::byte> contents = store_->contents(static_cast<vf_index>(vf), block);
      if (le::load_u32(w.bytes.data()) == static_cast<std::uint32_t>(ntstatus::access_denied) && !contents.empty() &&
          length != contents.size())
        le::store_u32(w.bytes.data(), static_cast<std::uint32_t>(ntstatus::invalid_parameter));
    }
    if (fault_ == fault::reset_clears_signal && w.offset == window_ + mailbox::reg::control) le::store_u32(w.bytes.data(), 0);
  }

  // The handler of a broken lookup: VF 0's block 40 answered from VF 1's.
  class foreign_reader final : public engine::block_handler {
   public:
    explicit foreign_reader(engine::pf_blocks<4>& store) : store_(store) {}
    ntstatus on_read(vf_index, block_id id, std::span<std::byte> out, std::size_t& bytes) override {
      const auto other = store_.contents(1, id);
      std::copy(other.begin(), other.end(), out.begin());
      bytes = other.size();
      return ntstatus::success;
    }
    ntstatus on_write(vf_index, block_id, std::span<const std::byte>) override { return ntstatus::success; }

   private:
    engine::pf_blocks<4>& store_;
  };
  class status_handler final : public engine::block_handler {
   public:
    explicit status_handler(ntstatus s) : status_(s) {}
    ntstatus on_read(vf_index, block_id, std::span<std::byte>, std::size_t& bytes) override {
      bytes = 0;
      return status_;
    }
    ntstatus on_write(vf_index, block_id, std::span<const std::byte>) override { return status_; }

   private:
    ntstatus status_;
  };

  fault fault_;
  boost::asio::io_context io_;
  std::unique_ptr<engine::pf_blocks<4>> store_ = std::make_unique<engine::pf_blocks<4>>();
  static constexpr std::uint64_t beat_ns = 1'000'000;
  const engine::pf_mailbox_config config_{static_cast<std::uint16_t>(fault_ == fault::heartbeat_every_service ? 1 : 0), true};
  std::array<std::unique_ptr<engine::pf_mailbox_session<4>>, 2> sessions_{
      std::make_unique<engine::pf_mailbox_session<4>>(*store_, 0, config_),
      std::make_unique<engine::pf_mailbox_session<4>>(*store_, 1, config_)};
  std::uint64_t now_{0};  // the test clock of heartbeat_every_service
  std::array<std::unique_ptr<memory_config_space>, 2> spaces_{std::make_unique<memory_config_space>(io_, 4096),
                                                               std::make_unique<memory_config_space>(io_, 4096)};
  foreign_reader foreign_{*store_};
  status_handler not_ready_{ntstatus::device_not_ready};
  status_handler empty_{ntstatus::success};
  std::size_t window_{0};
  std::array<std::uint16_t, 2> delta_{};
  std::array<bool, 2> adopt_next_{};
  std::array<std::uint16_t, 2> last_request_{};
  std::deque<pending_write> queue_;
  std::size_t queue_vf_{0};
  std::size_t accesses_{0};
  std::array<std::uint32_t, 2> signals_{};
};

// The broken PFs' window as the VF sees it, with the PF's signal count observable.
class signalled_port final : public mailbox_port {
 public:
  signalled_port(faulty_pf& pf, int vf)
      : pf_(pf), vf_(vf), port_(pf.space(vf), *find_window(pf.space(vf), std::nullopt), in_process, "the broken test PF's memory space") {}
  std::string read(std::size_t offset, std::span<std::byte> out) override { return port_.read(offset, out); }
  std::string write(std::size_t offset, std::span<const std::byte> bytes, std::size_t width) override {
    return port_.write(offset, bytes, width);
  }
  bool wait_more(std::size_t polls, std::chrono::steady_clock::time_point started) override { return port_.wait_more(polls, started); }
  [[nodiscard]] std::string budget() const override { return port_.budget(); }
  [[nodiscard]] std::optional<std::uint32_t> signal_count() const override { return pf_.signals(vf_); }
  [[nodiscard]] std::string signal_unobservable() const override { return {}; }

 private:
  faulty_pf& pf_;
  int vf_;
  transport_mailbox_port<memory_config_space> port_;
};

// The default profile with the broken PFs' read-only block of 6 bytes.
profile odd_profile() {
  profile p = default_profile();
  p.blocks.push_back(odd_block);
  return p;
}

std::vector<case_report> run_against(faulty_pf& pf, const std::vector<std::string>& patterns,
                                     const profile& p = default_profile()) {
  auto vf0 = std::make_unique<signalled_port>(pf, 0);
  auto vf1 = std::make_unique<signalled_port>(pf, 1);
  mailbox_context ctx{*vf0, vf1.get(), p, &pf};
  return run_cases(mailbox_cases(), ctx, patterns);
}

// The broken PF fails `failing` (and the same PF without its fault passes it).
void expect_fails(fault f, std::string_view failing, const profile& p = default_profile()) {
  faulty_pf good(fault::none), broken(f);
  const std::vector<std::string> only{std::string(failing)};
  const auto passed = run_against(good, only, p);
  const auto failed = run_against(broken, only, p);
  BOOST_REQUIRE(passed.size() == 1u);
  BOOST_REQUIRE(failed.size() == 1u);
  BOOST_TEST_MESSAGE(format_line(failed[0]));
  BOOST_TEST_CONTEXT(format_line(passed[0]) << " / " << format_line(failed[0])) {
    BOOST_TEST((passed[0].result.outcome == verdict::pass));
    BOOST_TEST((failed[0].result.outcome == verdict::fail));
  }
}


// ---- a broken binding-2 PF: a minimal one written here, frame by frame ------------------------------------

// Serves one stream on a thread of its own: version offers agreed, READ_BLOCK answered with zeros, writes
// blocking (a VF that does not read stalls it). Invalidations raised through pf_control wait for the next
// answer; `coalesce` ORs them into one pending frame (the rule), otherwise each raise is its own frame.
class frame_pf final : public stream_target, public pf_control {
 public:
  explicit frame_pf(bool coalesce) : coalesce_(coalesce) {}
  frame_pf(const frame_pf&) = delete;
  frame_pf& operator=(const frame_pf&) = delete;
  ~frame_pf() override {
    for (std::thread& t : threads_) t.join();
  }

  std::unique_ptr<stream_port> connect(int, std::string& error) override {
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0) {
      error = "socketpair failed";
      return nullptr;
    }
    threads_.emplace_back([this, fd = fds[1]] { serve(fd); });
    return std::make_unique<socket_stream_port>(fds[0]);
  }
  [[nodiscard]] bool has_second() const override { return false; }
  [[nodiscard]] std::string can_invalidate() const override { return {}; }
  [[nodiscard]] std::string can_restart() const override { return "no restart"; }
  std::string invalidate(int, std::uint64_t mask) override {
    const std::lock_guard lock(mutex_);
    if (coalesce_ && !pending_.empty()) pending_.back() |= mask;
    else pending_.push_back(mask);
    return {};
  }
  std::string restart() override { return can_restart(); }

 private:
  static std::vector<std::byte> packet(std::uint16_t type, std::uint64_t txid, const std::vector<std::byte>& body) {
    const std::size_t padded = (16 + body.size() + 7) & ~std::size_t{7};
    std::vector<std::byte> out;
    hv::put32(out, static_cast<std::uint32_t>(padded));
    hv::put32(out, std::uint32_t{type} | (2u << 16));
    hv::put32(out, static_cast<std::uint32_t>(padded / 8));
    hv::put32(out, static_cast<std::uint32_t>(txid));
    hv::put32(out, static_cast<std::uint32_t>(txid >> 32));
    out.insert(out.end(), body.begin(), body.end());
    out.resize(4 + padded);
    return out;
  }
  static bool all(int fd, std::byte* at, std::size_t n, bool sending) {
    while (n != 0) {
      const ::ssize_t done = sending ? ::send(fd, at, n, MSG_NOSIGNAL) : ::recv(fd, at, n, 0);
      if (done <= 0) return false;
      at += done;
      n -= static_cast<std::size_t>(done);
    }
    return true;
  }
  void serve(int fd) {
    for (;;) {
      std::array<std::byte, 4> prefix{};
      if (!all(fd, prefix.data(), 4, false)) break;
      const std::uint32_t length = le::load_u32(prefix.data());
      if (length < 24 || length > 168) break;
      std::vector<std::byte> bytes(length);
      if (!all(fd, bytes.data(), length, false)) break;
      const std::uint64_t txid = hv::get64(bytes, 8);
      const std::uint32_t message = hv::get32(bytes, 16);
      std::vector<std::byte> body;
      hv::put32(body, 0);  // STATUS_SUCCESS
      if (message == hv::msg_version) hv::put32(body, hv::get32(bytes, 20));
      else if (message == hv::msg_read) body.resize(4 + std::min<std::uint32_t>(hv::get32(bytes, 28), 128));
      std::vector<std::uint64_t> masks;
      {
        const std::lock_guard lock(mutex_);
        masks.swap(pending_);
      }
      std::vector<std::byte> out;
      for (const std::uint64_t m : masks) {
        std::vector<std::byte> invalidation;
        for (const std::uint32_t w : {hv::msg_invalidate, 0x22u, static_cast<std::uint32_t>(m), static_cast<std::uint32_t>(m >> 32)})
          hv::put32(invalidation, w);
        const auto frame = packet(hv::type_inband, 0, invalidation);
        out.insert(out.end(), frame.begin(), frame.end());
      }
      const auto answer = packet(hv::type_completion, txid, body);
      out.insert(out.end(), answer.begin(), answer.end());
      if (!all(fd, out.data(), out.size(), true)) break;
    }
    ::close(fd);
  }

  bool coalesce_;
  std::mutex mutex_;
  std::vector<std::uint64_t> pending_;
  std::vector<std::thread> threads_;
};

case_report run_hyperv_case(stream_target& target, pf_control& control, std::string_view name) {
  profile p;
  p.blocks = {{3, 128, block_access::read_write}};
  hyperv_context ctx{target, p, &control, 0x22, 0x42, std::chrono::milliseconds(2000), std::nullopt};
  const auto reports = run_cases(hyperv_cases(), ctx, {std::string(name)});
  BOOST_REQUIRE(reports.size() == 1u);
  return reports[0];
}

}  // namespace

BOOST_AUTO_TEST_SUITE(conformance_suite)

// ---- output ----------------------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(lines_summary_json_and_case_selection) {
  const std::vector<case_report> reports{{"mailbox.a", "protocol.md §4.4", pass()},
                                         {"mailbox.b", "protocol.md §4.2", fail("no answer within 5 ms (\"x\")")},
                                         {"hyperv.c", "hyperv-binding.md Framing", skip("why")}};
  BOOST_TEST(format_line(reports[0]) == "PASS  mailbox.a  protocol.md §4.4");
  BOOST_TEST(format_line(reports[1]) == "FAIL  mailbox.b  protocol.md §4.2  no answer within 5 ms (\"x\")");
  BOOST_TEST(format_summary(summarize(reports)) == "1 passed, 1 failed, 1 skipped");
  BOOST_TEST(format_json(reports) ==
             "{\"cases\":[{\"name\":\"mailbox.a\",\"section\":\"protocol.md §4.4\",\"verdict\":\"PASS\",\"reason\":\"\"},"
             "{\"name\":\"mailbox.b\",\"section\":\"protocol.md §4.2\",\"verdict\":\"FAIL\",\"reason\":\"no answer within 5 ms (\\\"x\\\")\"},"
             "{\"name\":\"hyperv.c\",\"section\":\"hyperv-binding.md Framing\",\"verdict\":\"SKIP\",\"reason\":\"why\"}],"
             "\"passed\":1,\"failed\":1,\"skipped\":1}");
  BOOST_TEST(selected("mailbox.sequence_skip", {}));
  BOOST_TEST(selected("mailbox.sequence_skip", {"mailbox.sequence_*"}));
  BOOST_TEST(selected("mailbox.sequence_skip", {"hyperv.*", "mailbox.sequence_skip"}));
  BOOST_TEST(!selected("mailbox.sequence_skip", {"mailbox.length_*"}));
  // Every case has a unique name and a section.
  std::vector<std::string> names;
  for (const auto& c : mailbox_cases()) {
    names.emplace_back(c.name);
    BOOST_TEST(!c.section.empty());
  }
  for (const auto& c : hyperv_cases()) {
    names.emplace_back(c.name);
    BOOST_TEST(!c.section.empty());
  }
  std::sort(names.begin(), names.end());
  BOOST_TEST((std::adjacent_find(names.begin(), names.end()) == names.end()));
}

// ---- vpci's PF passes --------------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(mailbox_cases_pass_against_vpcis_pf_in_process) {
  self_mailbox_pf pf(default_profile());
  BOOST_REQUIRE(pf.start().empty());
  transport_mailbox_port<memory_config_space> vf0(pf.space(0), *find_window(pf.space(0), std::nullopt), in_process, "the memory space");
  transport_mailbox_port<memory_config_space> vf1(pf.space(1), *find_window(pf.space(1), std::nullopt), in_process, "the memory space");
  const profile p = default_profile();
  mailbox_context ctx{vf0, &vf1, p, &pf};
  // The memory transport has no signal: vpci's PF does not announce SIGNAL there.
  expect_no_failure(run_cases(mailbox_cases(), ctx, {}), {"mailbox.heartbeat", "mailbox.signal"});
}

BOOST_AUTO_TEST_CASE(mailbox_cases_pass_against_the_broken_pfs_harness_without_a_fault) {
  faulty_pf pf(fault::none);
  expect_no_failure(run_against(pf, {}), {"mailbox.heartbeat", "mailbox.pf_restart_epoch", "mailbox.invalidation_survives_restart"});
}

// A status word whose heartbeat moved between the answer and the VF's next status read still shows that
// answer: a replayed doorbell and a sequence-0 write, each followed by a heartbeat, change nothing (found
// under ThreadSanitizer against vpci's PF over shared memory, whose 20 ms heartbeat fell between the two
// reads; the cases compared the whole status word).
// (The heartbeat and signal cases wait for beats in real time, which this PF gives only on VF writes.)
BOOST_AUTO_TEST_CASE(a_heartbeat_between_two_status_reads_fails_no_case) {
  faulty_pf pf(fault::heartbeat_every_service);
  const auto reports = run_against(pf, {"mailbox.sequence_replay", "mailbox.sequence_zero_synchronised"});
  BOOST_REQUIRE(reports.size() == 2u);
  for (const case_report& r : reports)
    BOOST_TEST_CONTEXT(format_line(r)) { BOOST_TEST((r.result.outcome == verdict::pass)); }
}

// vpci's PF in another thread, serving a named shared-memory space on its doorbell, with a heartbeat; the
// VF side opens the space by name as `vpci-conformance --shm NAME --shm2 NAME2` does.
BOOST_AUTO_TEST_CASE(mailbox_cases_pass_against_vpcis_pf_over_shm_in_another_thread) {
  const std::string names[2] = {"/vpci-conformance-test-" + std::to_string(::getpid()) + "-0",
                                "/vpci-conformance-test-" + std::to_string(::getpid()) + "-1"};
  boost::asio::io_context pf_io;
  std::optional<shm_config_space> devices[2];
  for (int vf = 0; vf < 2; ++vf) {
    devices[vf].emplace(shm_config_space::create(pf_io.get_executor(), names[vf], 4096, shm_create::replace));
    const std::array<std::byte, 2> vendor{std::byte{0xF4}, std::byte{0x1A}};
    boost::system::error_code ec;
    devices[vf]->write(0, vendor, ec);
    BOOST_REQUIRE(!ec);
  }
  // The PF "process": an endpoint with the profile's blocks serving both windows; a restart replaces it by
  // a new one that attaches to the same windows in place (a new epoch), as a restarted PF process does.
  std::unique_ptr<pf_endpoint<4>> pf;
  auto start_pf = [&]() -> std::string {
    pf.reset();
    pf = std::make_unique<pf_endpoint<4>>();
    if (auto e = define_profile(*pf, default_profile()); !e.empty()) return e;
    mailbox_options options;
    options.heartbeat = std::chrono::milliseconds(20);
    for (int vf = 0; vf < 2; ++vf) {
      if (auto at = pf->attach_mailbox(static_cast<vf_index>(vf), *devices[vf], options); !at) return at.error().message();
      pf->async_serve(static_cast<vf_index>(vf), [](boost::system::error_code) {});
    }
    return {};
  };
  BOOST_REQUIRE(start_pf().empty());
  std::thread pf_thread([&] { pf_io.run(); });

  struct threaded_control final : pf_control {
    boost::asio::io_context& io;
    std::unique_ptr<pf_endpoint<4>>& pf;
    std::function<std::string()> start;
    threaded_control(boost::asio::io_context& i, std::unique_ptr<pf_endpoint<4>>& p, std::function<std::string()> s)
        : io(i), pf(p), start(std::move(s)) {}
    [[nodiscard]] std::string can_invalidate() const override { return {}; }
    [[nodiscard]] std::string can_restart() const override { return {}; }
    std::string on_pf(const std::function<std::string()>& f) {
      std::promise<std::string> done;
      boost::asio::post(io, [&] { done.set_value(f()); });
      return done.get_future().get();
    }
    std::string invalidate(int vf, std::uint64_t mask) override {
      return on_pf([&] {
        auto ec = pf->invalidate(static_cast<vf_index>(vf), block_mask{mask});
        return ec ? ec.message() : std::string{};
      });
    }
    std::string restart() override { return on_pf(start); }
    [[nodiscard]] std::string can_flr() const override { return {}; }
    std::string flr(int vf) override {
      return on_pf([&] {
        auto ec = pf->reset_vf(static_cast<vf_index>(vf));
        return ec ? ec.message() : std::string{};
      });
    }
  } control(pf_io, pf, start_pf);

  std::vector<case_report> reports;
  {
    boost::asio::io_context vf_io;
    auto vf0_space = shm_config_space::open(vf_io.get_executor(), names[0], shm_role::driver);
    auto vf1_space = shm_config_space::open(vf_io.get_executor(), names[1], shm_role::driver);
    const answer_budget real{0, std::chrono::milliseconds(2000), std::chrono::microseconds(20)};
    transport_mailbox_port<shm_config_space> vf0(vf0_space, *find_window(vf0_space, std::nullopt), real, "shared memory");
    transport_mailbox_port<shm_config_space> vf1(vf1_space, *find_window(vf1_space, std::nullopt), real, "shared memory");
    const profile p = default_profile();
    mailbox_context ctx{vf0, &vf1, p, &control};
    reports = run_cases(mailbox_cases(), ctx, {});
  }
  std::promise<void> stopped;
  boost::asio::post(pf_io, [&] {
    pf.reset();  // ends serving (vf_removed); the loops finish their passes
    stopped.set_value();
  });
  stopped.get_future().get();
  pf_thread.join();  // run() returns once the serving loops completed
  expect_no_failure(reports, {});
  // Over shared memory the PF signals (the to_driver doorbell) and beats: these cases ran, not skipped.
  for (const std::string_view name : {"mailbox.heartbeat", "mailbox.signal", "mailbox.flr"}) {
    const case_report* r = find_report(reports, name);
    BOOST_REQUIRE(r != nullptr);
    BOOST_TEST_CONTEXT(format_line(*r)) { BOOST_TEST((r->result.outcome == verdict::pass)); }
  }
}

// vpci's PF on its own thread, serving each stream the cases open (a Unix socket pair).
BOOST_AUTO_TEST_CASE(hyperv_cases_pass_against_vpcis_pf_over_a_unix_socket) {
  self_stream_pf pf(default_profile());
  BOOST_REQUIRE(pf.setup_error().empty());
  const profile p = default_profile();
  hyperv_context ctx{pf, p, &pf, 0x22, 0x42, std::chrono::milliseconds(2000), std::nullopt};
  expect_no_failure(run_cases(hyperv_cases(), ctx, {}), {"hyperv.unread_answers_stall"});
}

// vpci-conformance --self served its streams at 0x22 / 0x42 whatever --wslot / --wslot2 said. The PF now
// serves the wslots it is given: the cases pass at the lowest and highest wslot, and a VF naming the
// default one is refused.
BOOST_AUTO_TEST_CASE(vpcis_pf_serves_its_streams_at_the_wslots_it_is_given) {
  const profile p = default_profile();
  {
    self_stream_pf pf(p, {hyperv::wslot{0, 0}, hyperv::wslot{31, 7}});
    BOOST_REQUIRE(pf.setup_error().empty());
    hyperv_context ctx{pf, p, &pf, 0x00, 0xFF, std::chrono::milliseconds(2000), std::nullopt};
    expect_no_failure(run_cases(hyperv_cases(), ctx, {}), {"hyperv.unread_answers_stall"});
  }
  self_stream_pf pf(p, {hyperv::wslot{5, 0}, hyperv::wslot{6, 0}});
  BOOST_REQUIRE(pf.setup_error().empty());
  hyperv_context at_the_default{pf, p, &pf, 0x22, 0x42, std::chrono::milliseconds(2000), std::nullopt};
  const auto reports = run_cases(hyperv_cases(), at_the_default, {"hyperv.read_exact_length"});
  BOOST_REQUIRE(reports.size() == 1u);
  BOOST_TEST((reports[0].result.outcome == verdict::fail));
  BOOST_TEST(reports[0].result.reason.find("0xC0000022") != std::string::npos, reports[0].result.reason);
}

// ---- broken PFs fail the case of the rule they break ---------------------------------------------------------

// On a real VF the header's vendor ID reads 0xFFFF: the tool looked for a DVSEC of vendor 0xFFFF and found
// no window (--sysfs on a VF) unless given --dvsec-vendor. It now takes the DVSEC 0x5650 of any vendor there,
// as config::find_mailbox does; a named vendor is still matched exactly.
BOOST_AUTO_TEST_CASE(the_window_of_a_vf_whose_vendor_id_reads_ffff_is_found) {
  boost::asio::io_context io;
  memory_config_space space(io, 4096);
  std::vector<std::byte> image(4096);
  image[0] = image[1] = image[2] = image[3] = std::byte{0xFF};  // a VF: vendor and device ID read ffff
  const auto at = config::place_dvsec(image, {0x8086, mailbox::default_dvsec_id, mailbox::dvsec_revision,
                                              static_cast<std::uint16_t>(mailbox::window_size)});
  BOOST_REQUIRE(at.has_value());
  BOOST_REQUIRE(space.device_write(0, image) == no_error);
  const auto found = find_window(space, std::nullopt);
  BOOST_REQUIRE(found.has_value());
  BOOST_TEST(*found == *at);
  BOOST_TEST(*find_window(space, std::uint16_t{0x8086}) == *at);
  BOOST_TEST(!find_window(space, std::uint16_t{0x1AF4}).has_value());
}

BOOST_AUTO_TEST_CASE(a_pf_without_a_sequence_check_fails_sequence_skip) {
  expect_fails(fault::no_sequence_check, "mailbox.sequence_skip");
  expect_fails(fault::no_sequence_check, "mailbox.sequence_reverse");
}

BOOST_AUTO_TEST_CASE(a_pf_clearing_an_invalidation_without_acknowledgement_fails_latched_until_ack) {
  expect_fails(fault::invalidation_cleared_without_ack, "mailbox.invalidation_latched_until_ack");
}

BOOST_AUTO_TEST_CASE(a_pf_serving_another_vfs_block_fails_foreign_block_and_isolation) {
  expect_fails(fault::foreign_block_served, "mailbox.foreign_block");
  expect_fails(fault::foreign_block_served, "mailbox.isolation_two_vfs");
}

BOOST_AUTO_TEST_CASE(a_pf_writing_status_before_the_data_fails_answer_data_before_status) {
  expect_fails(fault::status_before_data, "mailbox.answer_data_before_status");
}

BOOST_AUTO_TEST_CASE(a_pf_not_signalling_a_raised_invalidation_fails_signal) {
  expect_fails(fault::no_signal_after_invalidation, "mailbox.signal");
}

BOOST_AUTO_TEST_CASE(a_pf_keeping_the_window_across_an_flr_fails_flr) {
  expect_fails(fault::flr_keeps_window, "mailbox.flr");
}

// Found by a mutation audit of examples/firmware-c's PF: vpci-conformance passed a PF with each of these
// faults (the firmware's blocks were all multiples of 4 bytes, the status rows used each block's exact
// size, resets never asked for SIGNAL, the FLR case left the data window's end zero already).
BOOST_AUTO_TEST_CASE(a_pf_rounding_a_reads_count_up_to_dwords_fails_read_success) {
  expect_fails(fault::count_rounded_up, "mailbox.read_success", odd_profile());
}
BOOST_AUTO_TEST_CASE(a_pf_leaving_the_answers_padding_unzeroed_fails_read_success) {
  expect_fails(fault::padding_not_zeroed, "mailbox.read_success", odd_profile());
}
BOOST_AUTO_TEST_CASE(a_pf_judging_the_length_before_the_access_fails_write_read_only) {
  expect_fails(fault::length_before_access, "mailbox.write_read_only");
}
BOOST_AUTO_TEST_CASE(a_pf_whose_reset_clears_signal_fails_reset) {
  expect_fails(fault::reset_clears_signal, "mailbox.reset");
}
BOOST_AUTO_TEST_CASE(a_pf_zeroing_the_data_window_short_of_its_end_at_an_flr_fails_flr) {
  expect_fails(fault::flr_zeroes_short, "mailbox.flr");
}

// The FLR race: a PF that zeroes the registers as it should, then runs whatever sequence rings first (a
// request composed before the FLR, on the zeroed block register and data) instead of answering it
// DEVICE_NOT_READY.
BOOST_AUTO_TEST_CASE(a_pf_running_a_stale_doorbell_after_an_flr_fails_flr) {
  expect_fails(fault::flr_adopts_stale_sequence, "mailbox.flr");
}

// Binding 2: a PF that sends one INVALIDATE_BLOCK frame per raise against a stalled stream (instead of one
// pending frame with their OR) fails hyperv.invalidation_coalesced; the same PF coalescing passes it.
BOOST_AUTO_TEST_CASE(a_pf_not_coalescing_invalidations_fails_invalidation_coalesced) {
  case_report passed, failed;
  {
    frame_pf good(true);
    passed = run_hyperv_case(good, good, "hyperv.invalidation_coalesced");
  }
  {
    frame_pf broken(false);
    failed = run_hyperv_case(broken, broken, "hyperv.invalidation_coalesced");
  }
  BOOST_TEST_MESSAGE(format_line(failed));
  BOOST_TEST_CONTEXT(format_line(passed) << " / " << format_line(failed)) {
    BOOST_TEST((passed.result.outcome == verdict::pass));
    BOOST_TEST((failed.result.outcome == verdict::fail));
    BOOST_TEST(failed.result.reason.find("3 INVALIDATE_BLOCK frames") != std::string::npos);
  }
}

// Binding 2: a PF that keeps a stream open however long the VF leaves its answers unread fails
// hyperv.unread_answers_stall; vpci's PF, which gives such a stream up after its stall timeout, passes it.
// The case waits for the end without reading (reading is progress), so a loaded host only delays it.
BOOST_AUTO_TEST_CASE(a_pf_that_never_gives_up_a_stalled_stream_fails_unread_answers_stall) {
  profile p;
  p.blocks = {{3, 128, block_access::read_write}};
  const auto run = [&](stream_target& target) {
    hyperv_context ctx{target, p, nullptr, 0x22, 0x42, std::chrono::milliseconds(500), std::chrono::milliseconds(100)};
    ctx.stall_margin = std::chrono::milliseconds(200);
    const auto reports = run_cases(hyperv_cases(), ctx, {"hyperv.unread_answers_stall"});
    BOOST_REQUIRE(reports.size() == 1u);
    return reports[0];
  };
  case_report passed, failed;
  {
    self_stream_pf vpcis(p, {hyperv::wslot{2, 1}, hyperv::wslot{2, 2}}, std::chrono::milliseconds(100));
    BOOST_REQUIRE(vpcis.setup_error().empty());
    passed = run(vpcis);
  }
  {
    frame_pf never_gives_up(true);
    failed = run(never_gives_up);
  }
  BOOST_TEST_MESSAGE(format_line(failed));
  BOOST_TEST_CONTEXT(format_line(passed) << " / " << format_line(failed)) {
    BOOST_TEST((passed.result.outcome == verdict::pass));
    BOOST_TEST((failed.result.outcome == verdict::fail));
    BOOST_TEST(failed.result.reason == "the stream is still open two stall timeouts and 200 ms after the VF stopped reading");
  }
}

// A PF that never answers is a FAIL "no answer within ...", bounded by the port's budget, never a hang.
BOOST_AUTO_TEST_CASE(a_pf_that_never_answers_fails_every_case_within_the_budget) {
  boost::asio::io_context io;
  memory_config_space space(io, 4096);
  // A window that looks initialised (epoch 1) but nobody serves.
  std::vector<std::byte> image(4096);
  image[0] = std::byte{0xF4};
  image[1] = std::byte{0x1A};
  auto at = config::place_dvsec(image, {0x1AF4, mailbox::default_dvsec_id, mailbox::dvsec_revision,
                                        static_cast<std::uint16_t>(mailbox::window_size)});
  BOOST_REQUIRE(at.has_value());
  le::store_u32(image.data() + *at + mailbox::reg::identity, mailbox::encode_identity(mailbox::capability::invalidation));
  le::store_u32(image.data() + *at + mailbox::reg::limits, mailbox::encode_limits(0));
  le::store_u32(image.data() + *at + mailbox::reg::status, 0x10000000);
  BOOST_REQUIRE((space.device_write(0, image) == no_error));
  transport_mailbox_port<memory_config_space> vf0(space, *at, in_process, "the memory space");
  const profile p = default_profile();
  mailbox_context ctx{vf0, nullptr, p, nullptr};
  const auto reports = run_cases(mailbox_cases(), ctx, {"mailbox.read_success", "mailbox.sequence_skip"});
  BOOST_REQUIRE(reports.size() == 2u);
  for (const case_report& r : reports) {
    BOOST_TEST((r.result.outcome == verdict::fail));
    // The reset never completes: control bit 0 stays set.
    BOOST_TEST(r.result.reason.find("within 16 status polls") != std::string::npos, r.result.reason);
  }
}

BOOST_AUTO_TEST_SUITE_END()

// ---- the tools, run as their users run them ----------------------------------------------------------------

// vpci-conformance, vpci-vfio-user-device and examples/run_with_vfio_user_device.sh as child processes, every
// wait bounded (child_process.hpp). tests/CMakeLists.txt passes their paths where the examples are built;
// elsewhere (the ThreadSanitizer configuration) these cases have nothing to run.
namespace {

struct tool_run {
  int status;
  std::string output;  // stdout and stderr, or stdout only
};

tool_run run_tool(std::vector<std::string> args,
                  vpci::test::program_process::capture what = vpci::test::program_process::capture::stdout_and_stderr) {
  vpci::test::program_process program(std::move(args), what);
  BOOST_TEST_REQUIRE(program.running());
  const int status = program.wait_exit();
  return {status, program.output()};
}

using vpci::test::contains;

// The paths, or nothing (with a message) outside ctest.
std::optional<std::vector<std::string>> tool_paths(std::initializer_list<const char*> variables) {
  std::vector<std::string> paths;
  for (const char* variable : variables) {
    const char* path = std::getenv(variable);
    if (path == nullptr) {
      BOOST_TEST_MESSAGE(variable << " not set: run through ctest with the examples built");
      return std::nullopt;
    }
    paths.emplace_back(path);
  }
  return paths;
}

// A usage error before anything runs (--list is added, so that nothing would run were it taken): exit
// status 2, the message then the usage, and with --json only {"error": MESSAGE} on stdout.
void check_usage_error(const std::string& program, const std::vector<std::string>& given, const std::string& message) {
  BOOST_TEST_CONTEXT(message) {
    std::vector<std::string> args{program};
    args.insert(args.end(), given.begin(), given.end());
    args.emplace_back("--list");
    const tool_run text = run_tool(args);
    BOOST_TEST(text.status == 2);
    BOOST_TEST(text.output.starts_with("vpci-conformance: " + message + "\n\nusage: vpci-conformance"), text.output);
    args.emplace_back("--json");
    const tool_run json = run_tool(args, vpci::test::program_process::capture::stdout_only);
    BOOST_TEST(json.status == 2);
    BOOST_TEST(json.output == R"json({"error":")json" + message + "\"}\n");
  }
}

// Options taken: with --list added, the cases are listed and the tool ends well.
void check_taken(const std::string& program, const std::vector<std::string>& given) {
  std::vector<std::string> args{program};
  args.insert(args.end(), given.begin(), given.end());
  args.emplace_back("--list");
  const tool_run run = run_tool(args);
  BOOST_TEST(run.status == 0, run.output);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(conformance_tools)

// Each numeric option's value: not a number, negative (strtoull takes "-5" as 2^64-5), past 64 bits, past
// what the option's field holds (truncated before), trailing text. Before, the first printed only
// "vpci-conformance: stoull", the one past 64 bits did so without the usage, and the others ran with a
// value nobody gave.
// --sysfs takes a PCI address; one that does not parse was pasted into a path under /sys/bus/pci/devices as
// it was, and failed as a missing file.
BOOST_AUTO_TEST_CASE(a_sysfs_value_that_is_no_pci_address_is_a_usage_error_naming_it) {
  const auto paths = tool_paths({"VPCI_CONFORMANCE"});
  if (!paths) return;
  for (const char* value : {"0000:00:zz.0", "../../../dev/null"}) {
    const tool_run run = run_tool({paths->at(0), "--allow-write", "--sysfs", value});
    BOOST_TEST(run.status == 2, run.output);
    BOOST_TEST(contains(run.output, std::string("vpci-conformance: --sysfs: '") + value +
                                        "' is not a PCI address (DDDD:BB:DD.F or BB:DD.F)"),
               run.output);
  }
}

BOOST_AUTO_TEST_CASE(a_bad_number_is_a_usage_error_naming_the_option_and_the_value) {
  const auto paths = tool_paths({"VPCI_CONFORMANCE"});
  if (!paths) return;
  struct bad_value {
    std::vector<std::string> args;
    std::string_view option, shown;
  };
  const bad_value bad[] = {
      {{"--timeout", "abc"}, "--timeout", "'abc'"},
      {{"--timeout", "-5"}, "--timeout", "'-5'"},
      {{"--timeout", "0"}, "--timeout", "'0'"},
      {{"--timeout", "18446744073709551616"}, "--timeout", "'18446744073709551616'"},
      {{"--stall-ms", "300ms"}, "--stall-ms", "'300ms'"},
      {{"--wslot", "0x100000022"}, "--wslot", "'0x100000022'"},
      {{"--dvsec-id", "70000"}, "--dvsec-id", "'70000'"},
      {{"--dvsec-vendor", " 0x1AF4"}, "--dvsec-vendor", "' 0x1AF4'"},
      {{"--foreign-block", "4294967296"}, "--foreign-block", "'4294967296'"},
      {{"--block", "1:abc"}, "--block SIZE", "'abc'"},
      {{"--block", "1:129"}, "--block SIZE", "'129'"},
      {{"--second-block", "-1:8"}, "--second-block ID", "'-1'"},
  };
  for (const bad_value& b : bad) {
    std::vector<std::string> args{paths->at(0), "--self", "--list"};
    args.insert(args.end(), b.args.begin(), b.args.end());
    BOOST_TEST_CONTEXT(b.args[0] << " " << b.args[1]) {
      const tool_run run = run_tool(args);
      BOOST_TEST(run.status == 2);
      BOOST_TEST(contains(run.output, "vpci-conformance: " + std::string(b.option) + ": " + std::string(b.shown) + " is not a number in "),
                 run.output);
      BOOST_TEST(contains(run.output, "usage: vpci-conformance"));
    }
  }
  // What the options take: decimal, 0x hex, the bounds themselves.
  for (const auto& good : std::vector<std::vector<std::string>>{
           {"--timeout", "0x3E8"}, {"--timeout", "86400000"}, {"--wslot", "0xFF"}, {"--dvsec-id", "0xFFFF"}, {"--block", "1:128:ro"}}) {
    // --binding hyperv for --wslot, mailbox (the default) for --dvsec-id: each where it applies.
    std::vector<std::string> args{paths->at(0), "--self", "--list", "--binding", good[0] == "--wslot" ? "hyperv" : "mailbox"};
    args.insert(args.end(), good.begin(), good.end());
    BOOST_TEST_CONTEXT(good[0] << " " << good[1]) {
      const tool_run run = run_tool(args);
      BOOST_TEST(run.status == 0, run.output);
    }
  }
}

// A --case pattern that matches nothing (a typo, a case of the other binding) ran nothing and ended in
// "0 passed" with exit status 0: a CI job with the typo passed having checked nothing.
BOOST_AUTO_TEST_CASE(a_case_pattern_matching_no_case_is_a_usage_error) {
  const auto paths = tool_paths({"VPCI_CONFORMANCE"});
  if (!paths) return;
  const std::string& conformance = paths->at(0);
  {
    const tool_run run = run_tool({conformance, "--self", "--case", "mailbox.sequnce_skip"});
    BOOST_TEST(run.status == 2);
    BOOST_TEST(contains(run.output, "vpci-conformance: --case 'mailbox.sequnce_skip' matches no mailbox case"), run.output);
    BOOST_TEST(!contains(run.output, "0 passed"));
  }
  {  // one good pattern does not cover a bad one beside it; --list checks them too
    const tool_run run = run_tool({conformance, "--self", "--list", "--case", "mailbox.sequence_*", "--case", "hyperv.*"});
    BOOST_TEST(run.status == 2);
    BOOST_TEST(contains(run.output, "--case 'hyperv.*' matches no mailbox case"), run.output);
  }
  {
    const tool_run run = run_tool({conformance, "--self", "--binding", "hyperv", "--list", "--case", "mailbox.*"});
    BOOST_TEST(run.status == 2);
    BOOST_TEST(contains(run.output, "--case 'mailbox.*' matches no hyperv case"), run.output);
  }
  {  // a pattern that matches, even with all it matches excluded, is no mistake
    const tool_run run = run_tool({conformance, "--self", "--list", "--case", "mailbox.sequence_*", "--exclude", "mailbox.sequence_wrap"});
    BOOST_TEST(run.status == 0, run.output);
    BOOST_TEST(contains(run.output, "mailbox.sequence_skip"));
    BOOST_TEST(!contains(run.output, "mailbox.sequence_wrap"));
  }
}

// --wslot / --wslot2 took any 32-bit value. One above 0xFF sets win_slot's reserved bits 31:8: the tool broke
// the protocol in every request it sent, an external PF refused them (and quarantined the VF), and the run
// reported the PF failing (exit status 1).
BOOST_AUTO_TEST_CASE(a_wslot_setting_reserved_bits_is_a_usage_error_naming_the_rule) {
  const auto paths = tool_paths({"VPCI_CONFORMANCE"});
  if (!paths) return;
  for (const std::string option : {"--wslot", "--wslot2"}) {
    for (const std::string value : {"0x100", "0x122", "0xFFFFFFFF"}) {
      BOOST_TEST_CONTEXT(option << " " << value) {
        const tool_run run = run_tool({paths->at(0), "--self", "--binding", "hyperv", option, value});
        BOOST_TEST(run.status == 2);
        BOOST_TEST(contains(run.output, "vpci-conformance: " + option + ": '" + value +
                                            "' is not a wslot: bits 31:8 are reserved (device bits 4:0, function bits 7:5: 0..0xFF)"),
                   run.output);
        BOOST_TEST(!contains(run.output, "passed"));
      }
    }
  }
}

// --self ignored --wslot / --wslot2: its PF served 0x22 / 0x42 and the cases used those. Now its PF serves
// the wslots given, the lowest and the highest too.
BOOST_AUTO_TEST_CASE(self_on_binding_2_runs_at_the_wslots_given) {
  const auto paths = tool_paths({"VPCI_CONFORMANCE"});
  if (!paths) return;
  const tool_run run = run_tool({paths->at(0), "--self", "--binding", "hyperv", "--stall-ms", "300", "--wslot", "0", "--wslot2", "0xFF"});
  BOOST_TEST(run.status == 0, run.output);
  BOOST_TEST(contains(run.output, " 0 failed"), run.output);
}

// With --json a usage or setup error gave no JSON (the usage or a line of text on stderr, nothing on stdout),
// also when --json came after the bad option. Now stdout has {"error": MESSAGE}, the exit status unchanged.
BOOST_AUTO_TEST_CASE(with_json_a_usage_or_setup_error_is_an_error_object_on_stdout) {
  const auto paths = tool_paths({"VPCI_CONFORMANCE"});
  if (!paths) return;
  using capture = vpci::test::program_process::capture;
  struct failure {
    std::vector<std::string> args;
    std::string starts;  // the JSON line's start; it ends with "}
  };
  const failure failures[] = {
      {{"--self", "--bogus"}, R"json({"error":"unknown option '--bogus'"})json"},
      {{"--self", "--timeout", "abc"}, R"json({"error":"--timeout: 'abc' is not a number in 1..86400000 (a day)"})json"},
      {{"--self", "--case", "nope"}, R"json({"error":"--case 'nope' matches no mailbox case (--list shows them)"})json"},
      {{"--shm", "/vpci-conformance-no-such-space"}, R"json({"error":"--shm: cannot open '/vpci-conformance-no-such-space': )json"},
  };
  for (const failure& f : failures) {
    BOOST_TEST_CONTEXT(f.args[0] << " " << f.args[1]) {
      std::vector<std::string> args{paths->at(0)};
      args.insert(args.end(), f.args.begin(), f.args.end());
      const tool_run text = run_tool(args, capture::stdout_only);
      BOOST_TEST(text.status == 2);
      BOOST_TEST(text.output.empty(), text.output);
      std::vector<std::string> json_first{paths->at(0), "--json"};
      json_first.insert(json_first.end(), f.args.begin(), f.args.end());
      std::vector<std::string> json_last = args;
      json_last.emplace_back("--json");
      for (const auto& with_json : {json_first, json_last}) {
        const tool_run run = run_tool(with_json, capture::stdout_only);
        BOOST_TEST(run.status == 2);
        BOOST_TEST(run.output.starts_with(f.starts), run.output);
        BOOST_TEST(run.output.ends_with("\"}\n"), run.output);
        BOOST_TEST(std::count(run.output.begin(), run.output.end(), '\n') == 1);
      }
    }
  }
}

// The text a user gives went into the messages raw (an unknown option, a --case pattern, a --block value,
// the number options' values between bare quotes, a --sysfs address, a target that cannot be opened or
// connected to, a --*-cmd that failed): a newline split a message, an escape sequence drove the terminal.
// Each is now quoted through quoted_text, as vpci-inspect quotes its user's text, a byte outside printable
// ASCII as \xHH, in the text, the JSON and the reasons of the cases alike.
BOOST_AUTO_TEST_CASE(text_given_with_a_control_character_is_quoted_in_every_message) {
  const auto paths = tool_paths({"VPCI_CONFORMANCE"});
  if (!paths) return;
  using capture = vpci::test::program_process::capture;
  struct quoted {
    std::vector<std::string> args;  // after the program
    int status;
    std::string message;  // the line's start (it ends the line where `whole_line`)
    bool whole_line = true;
  };
  const std::string space = "/vpci-conformance-no-such-space\x1b[2J";
  const std::string socket = "/tmp/vpci-conformance-no-such-socket-" + std::to_string(::getpid()) + "\n";
  const quoted messages[] = {
      {{"--self", "--list", "--bogus\x1b[2J"}, 2, "vpci-conformance: unknown option '--bogus\\x1B[2J'"},
      {{"--self", "--list", "--case", "mailbox.\nsequence_skip"}, 2,
       "vpci-conformance: --case 'mailbox.\\x0Asequence_skip' matches no mailbox case (--list shows them)"},
      {{"--self", "--list", "--block", "1\t16"}, 2, "vpci-conformance: --block: expected ID:SIZE, got '1\\x0916'"},
      {{"--self", "--list", "--block", "1:16:r\x7fo"}, 2, "vpci-conformance: --block: block access must be ro, wo or rw: '1:16:r\\x7Fo'"},
      {{"--self", "--list", "--timeout", "1\x1b"}, 2, "vpci-conformance: --timeout: '1\\x1B' is not a number in 1..86400000 (a day)"},
      {{"--self", "--list", "--binding", "hyper\bv"}, 2, "vpci-conformance: --binding: 'hyper\\x08v' is neither mailbox (1) nor hyperv (2)"},
      {{"--allow-write", "--sysfs", "00:01.0\x1b"}, 2, "vpci-conformance: --sysfs: '00:01.0\\x1B' is not a PCI address (DDDD:BB:DD.F or BB:DD.F)"},
      {{"--shm", space}, 2, "vpci-conformance: --shm: cannot open '/vpci-conformance-no-such-space\\x1B[2J': No such file or directory"},
      {{"--vfio-user", socket}, 2,
       "vpci-conformance: --vfio-user: cannot open '" + socket.substr(0, socket.size() - 1) + "\\x0A': No such file or directory"},
      // Binding 2 connects once before the cases: a PF that is not there is a setup error.
      {{"--unix", socket, "--case", "hyperv.version_negotiation"}, 2,
       "vpci-conformance: --unix: connect '" + socket.substr(0, socket.size() - 1) + "\\x0A': No such file or directory"},
      // A --tcp that is no HOST:PORT is refused before anything runs (a_tcp_address_that_is_no_host_port_is_a_usage_error).
      {{"--tcp", "127.0.0.1\x1b", "--case", "hyperv.version_negotiation"}, 2, "vpci-conformance: --tcp: expected HOST:PORT, got '127.0.0.1\\x1B'"},
      {{"--tcp", "127.0.0.1:no\x1bport", "--case", "hyperv.version_negotiation"}, 2,
       "vpci-conformance: --tcp: the port of '127.0.0.1:no\\x1Bport' is not a number in 1..65535"},
      // Where a port is refused or an address cannot be taken, the text is quoted all the same.
      {{"--tcp", "127.0.0.1:1", "--case", "hyperv.version_negotiation"}, 2,
       "vpci-conformance: --tcp: connect '127.0.0.1:1': Connection refused"},
      {{"--self", "--tcp", "192.0.2.1:0"}, 2, "vpci-conformance: starting vpci's PF: listening on '192.0.2.1': ", false},
  };
  for (const quoted& q : messages) {
    BOOST_TEST_CONTEXT(q.args[q.args.size() > 2 && q.args[0] == "--self" ? 2 : 0] << " " << q.args.back()) {
      std::vector<std::string> args{paths->at(0)};
      args.insert(args.end(), q.args.begin(), q.args.end());
      const tool_run run = run_tool(args);
      BOOST_TEST(run.status == q.status, run.output);
      const auto at = run.output.find(q.message);
      BOOST_TEST(at != std::string::npos, run.output);
      // A line of its own: nothing of the text given broke it.
      if (at != std::string::npos) BOOST_TEST((at == 0 || run.output[at - 1] == '\n'), run.output);
      if (at != std::string::npos && q.whole_line) BOOST_TEST(run.output.substr(at + q.message.size(), 1) == "\n", run.output);
    }
  }
  // In the JSON the quoted text is what the message says, a JSON string of it.
  const tool_run json = run_tool({paths->at(0), "--self", "--list", "--json", "--case", "mailbox.\nsequence_skip"}, capture::stdout_only);
  BOOST_TEST(json.status == 2);
  BOOST_TEST(json.output == R"json({"error":"--case 'mailbox.\\x0Asequence_skip' matches no mailbox case (--list shows them)"})json" "\n");

  // A --*-cmd that fails: over vfio-user (vpci-vfio-user-device), --flr-cmd decides the FLR.
  const auto device = tool_paths({"VPCI_RUN_WITH_VFIO_USER_DEVICE", "VPCI_VFIO_USER_DEVICE"});
  if (!device) return;
  const std::string served = "/tmp/vpci-conformance-test-" + std::to_string(::getpid()) + "-quoted.sock";
  const tool_run flr = run_tool({device->at(0), device->at(1), served, "--conformance-profile", "--", paths->at(0), "--vfio-user", served,
                                 "--case", "mailbox.flr", "--flr-cmd", "false # \x1b[2J\n"});
  BOOST_TEST(flr.status == 1, flr.output);
  BOOST_TEST(contains(flr.output, "FAIL  mailbox.flr  protocol.md §5.4, §5.1  'false # \\x1B[2J\\x0A' exited with status "), flr.output);
}

// A --*-cmd that failed was reported with std::system's raw wait status: `exit 1` read "exited with status
// 256", and a command killed by a signal gave a number that named no signal. The status is now decoded: the
// command's exit status, or the signal that ended it. Over vfio-user (vpci-vfio-user-device), where
// --flr-cmd decides mailbox.flr.
BOOST_AUTO_TEST_CASE(a_failed_command_names_its_exit_status_or_the_signal_that_ended_it) {
  const auto paths = tool_paths({"VPCI_RUN_WITH_VFIO_USER_DEVICE", "VPCI_VFIO_USER_DEVICE", "VPCI_CONFORMANCE"});
  if (!paths) return;
  const std::string served = "/tmp/vpci-conformance-test-" + std::to_string(::getpid()) + "-status.sock";
  const std::string fail_line = "FAIL  mailbox.flr  protocol.md §5.4, §5.1  ";
  for (const auto& [command, reason] : {std::pair<std::string, std::string>{"exit 1", "'exit 1' exited with status 1"},
                                        {"exit 3", "'exit 3' exited with status 3"},
                                        {"kill -TERM $$", "'kill -TERM $$' was ended by signal SIGTERM"}}) {
    BOOST_TEST_CONTEXT(command) {
      const tool_run run = run_tool({paths->at(0), paths->at(1), served, "--conformance-profile", "--", paths->at(2), "--vfio-user",
                                     served, "--case", "mailbox.flr", "--flr-cmd", command});
      BOOST_TEST(run.status == 1, run.output);
      BOOST_TEST(contains(run.output, fail_line + reason + "\n"), run.output);
    }
  }
}

// Ctrl-C while a --*-cmd ran did not end vpci-conformance: std::system ignores SIGINT in the caller while the
// command runs, so only the command died; the tool reported it as a failed command ("was ended by signal
// SIGINT") and went on to the next case. A command ended by SIGINT or SIGQUIT is now taken as the user's
// interrupt: the tool ends by that signal, as it does when Ctrl-C comes with no command running. The command
// here ends itself by SIGINT, what a Ctrl-C does to it; the wrapper script gives the tool's status, 128 + 2.
BOOST_AUTO_TEST_CASE(ctrl_c_while_a_command_runs_ends_the_tool_by_sigint) {
  const auto paths = tool_paths({"VPCI_RUN_WITH_VFIO_USER_DEVICE", "VPCI_VFIO_USER_DEVICE", "VPCI_CONFORMANCE"});
  if (!paths) return;
  const std::string served = "/tmp/vpci-conformance-test-" + std::to_string(::getpid()) + "-interrupt.sock";
  const tool_run run = run_tool({paths->at(0), paths->at(1), served, "--conformance-profile", "--", paths->at(2), "--vfio-user", served,
                                 "--case", "mailbox.flr", "--case", "mailbox.heartbeat", "--flr-cmd", "kill -INT $$"});
  BOOST_TEST(run.status == 128 + SIGINT, run.output);
  BOOST_TEST(!contains(run.output, "was ended by signal"), run.output);
  BOOST_TEST(!contains(run.output, "mailbox.heartbeat"), run.output);  // the case after it never ran
  // Any other signal is the command's own failure, reported as before (a_failed_command_names_...).
  const tool_run terminated = run_tool({paths->at(0), paths->at(1), served, "--conformance-profile", "--", paths->at(2), "--vfio-user",
                                        served, "--case", "mailbox.flr", "--flr-cmd", "kill -HUP $$"});
  BOOST_TEST(terminated.status == 1, terminated.output);
  BOOST_TEST(contains(terminated.output, "'kill -HUP $$' was ended by signal SIGHUP\n"), terminated.output);
}

// --list --json printed the text listing: a reader of the JSON got no document. Now it is one JSON object,
// the binding listed and each case with the fields the text listing shows (name, section, what it checks),
// keyed as the results' JSON keys them; --case and --exclude select as for the text.
BOOST_AUTO_TEST_CASE(list_with_json_prints_the_cases_as_a_json_document) {
  const auto paths = tool_paths({"VPCI_CONFORMANCE"});
  if (!paths) return;
  using capture = vpci::test::program_process::capture;
  const tool_run two = run_tool({paths->at(0), "--self", "--list", "--json", "--case", "mailbox.sequence_replay", "--case",
                                 "mailbox.sequence_skip"},
                                capture::stdout_only);
  BOOST_TEST(two.status == 0);
  BOOST_TEST(two.output ==
             R"json({"binding":"mailbox","cases":[{"name":"mailbox.sequence_replay","section":"protocol.md §4.2",)json"
             R"json("checks":"a replayed doorbell is a no-op, even with new data"},{"name":"mailbox.sequence_skip",)json"
             R"json("section":"protocol.md §4.2, §4.4","checks":"a skipped sequence: FAILED INVALID_DEVICE_REQUEST, )json"
             R"json(quarantine until reset"}]})json"
             "\n");
  // Every case of each binding, in the order the text lists them, as a JSON reader reads the document.
  const auto expected = [](std::string_view binding, const auto& cases) {
    boost::json::array listed;
    for (const auto& c : cases) listed.push_back(boost::json::object{{"name", c.name}, {"section", c.section}, {"checks", c.checks}});
    return boost::json::value{{"binding", binding}, {"cases", std::move(listed)}};
  };
  for (const auto& [binding, cases] : {std::pair{std::string("mailbox"), expected("mailbox", mailbox_cases())},
                                       std::pair{std::string("hyperv"), expected("hyperv", hyperv_cases())}}) {
    BOOST_TEST_CONTEXT(binding) {
      const tool_run run = run_tool({paths->at(0), "--self", "--binding", binding, "--list", "--json"}, capture::stdout_only);
      BOOST_TEST(run.status == 0);
      BOOST_TEST(std::count(run.output.begin(), run.output.end(), '\n') == 1, run.output);
      boost::system::error_code ec;
      const boost::json::value document = boost::json::parse(run.output, ec);
      BOOST_TEST_REQUIRE(!ec, ec.message() << " in " << run.output);
      BOOST_TEST(document == cases, boost::json::serialize(document));
    }
  }
  const tool_run excluded = run_tool({paths->at(0), "--self", "--list", "--json", "--case", "mailbox.sequence_*", "--exclude",
                                      "mailbox.sequence_wrap"},
                                     capture::stdout_only);
  BOOST_TEST(excluded.status == 0);
  BOOST_TEST(contains(excluded.output, R"json({"name":"mailbox.sequence_skip",)json"), excluded.output);
  BOOST_TEST(!contains(excluded.output, "mailbox.sequence_wrap"), excluded.output);
  BOOST_TEST(!contains(excluded.output, "mailbox.reset"), excluded.output);
}

// An option that only one binding reads was silently ignored on the other (--wslot on binding 1, --shm or
// --flr-cmd on binding 2, --unix after --binding mailbox): the run was not the one the command line asked
// for, and said nothing. Now each is a usage error naming the option and the binding it applies to, as
// {"error": ...} with --json.
BOOST_AUTO_TEST_CASE(an_option_of_one_binding_on_the_other_is_a_usage_error_naming_its_binding) {
  const auto paths = tool_paths({"VPCI_CONFORMANCE"});
  if (!paths) return;
  struct misplaced {
    std::vector<std::string> args;  // after the program; the option is args[option]
    std::size_t option;
    std::string_view applies, given;  // the binding the option applies to, the run's
  };
  const std::string_view mailbox = "binding 1 (mailbox)", hyperv = "binding 2 (hyperv)";
  std::vector<misplaced> cases;
  for (const std::vector<std::string>& option : std::vector<std::vector<std::string>>{
           {"--shm", "/vpci-x"}, {"--shm2", "/vpci-y"}, {"--sysfs", "0000:00:01.0"}, {"--sysfs2", "0000:00:01.1"}, {"--allow-write"},
           {"--vfio-user", "/tmp/x.sock"}, {"--vfio-user2", "/tmp/y.sock"}, {"--dvsec-vendor", "0x1AF4"}, {"--dvsec-id", "0x5650"},
           {"--empty-block", "7"}, {"--invalidate-block", "8"}, {"--restart-cmd", "true"}, {"--flr-cmd", "true"}}) {
    std::vector<std::string> args{"--self", "--binding", "hyperv"};
    args.insert(args.end(), option.begin(), option.end());
    cases.push_back({args, 3, mailbox, hyperv});
  }
  for (const std::vector<std::string>& option : std::vector<std::vector<std::string>>{
           {"--wslot", "0x22"}, {"--wslot2", "0x42"}, {"--stall-ms", "300"}, {"--unix2", "/tmp/y.sock"}, {"--tcp2", "127.0.0.1:1"}}) {
    std::vector<std::string> args{"--self"};
    args.insert(args.end(), option.begin(), option.end());
    cases.push_back({args, 1, hyperv, mailbox});
  }
  // A binding 2 target after --binding mailbox (before, the target chose binding 2, and the last of the two
  // given won), and a binding 1 target beside a binding 2 one (which chooses binding 2).
  cases.push_back({{"--binding", "mailbox", "--unix", "/tmp/x.sock"}, 2, hyperv, mailbox});
  cases.push_back({{"--tcp", "127.0.0.1:1", "--binding", "mailbox"}, 0, hyperv, mailbox});
  cases.push_back({{"--shm", "/vpci-x", "--unix", "/tmp/x.sock"}, 0, mailbox, hyperv});
  for (const misplaced& m : cases) {
    const std::string& option = m.args[m.option];
    const std::string message = option + " applies to " + std::string(m.applies) + " only, not to " + std::string(m.given);
    check_usage_error(paths->at(0), m.args, message);
  }
  // On their own binding they are taken.
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           // An external PF's target: --self takes no command (a_command_beside_self_is_a_usage_error_naming_it).
           {"--shm", "/vpci-x", "--dvsec-vendor", "0x1AF4", "--dvsec-id", "0x5650", "--empty-block", "7", "--invalidate-block",
            "8", "--restart-cmd", "true", "--flr-cmd", "true", "--binding", "mailbox"},
           {"--self", "--binding", "hyperv", "--wslot", "0x22", "--wslot2", "0x42", "--stall-ms", "300"},
           {"--unix", "/tmp/x.sock", "--unix2", "/tmp/y.sock", "--binding", "hyperv"},
           {"--tcp", "127.0.0.1:1", "--tcp2", "127.0.0.1:2"}}) {
    BOOST_TEST_CONTEXT(args[0] << " " << args[1]) check_taken(paths->at(0), args);
  }
}

// Two targets of one binding (--self with --shm, --shm with --sysfs, --unix with --tcp) were not refused:
// the first the tool looked for was checked, the other ignored without a word. A second VF's target without
// its first (--shm2 without --shm, --unix2 when the run uses --tcp, --tcp2 beside --self --tcp, whose PF
// listens for both VFs) and --allow-write without --sysfs were ignored the same way. Each is now a usage
// error naming both options, as the other usage errors: exit status 2, the usage, {"error": ...} with --json.
BOOST_AUTO_TEST_CASE(two_targets_or_a_target_option_without_its_target_is_a_usage_error_naming_both) {
  const auto paths = tool_paths({"VPCI_CONFORMANCE"});
  if (!paths) return;
  struct refused {
    std::vector<std::string> args;  // after the program; --list is added, so that nothing is opened
    std::string message;
  };
  const refused cases[] = {
      // two targets of binding 1
      {{"--self", "--shm", "/vpci-x"}, "--self and --shm are two targets: give one"},
      {{"--shm", "/vpci-x", "--sysfs", "0000:00:01.0", "--allow-write"}, "--shm and --sysfs are two targets: give one"},
      {{"--vfio-user", "/tmp/x.sock", "--self"}, "--vfio-user and --self are two targets: give one"},
      {{"--allow-write", "--sysfs", "00:01.0", "--vfio-user", "/tmp/x.sock"}, "--sysfs and --vfio-user are two targets: give one"},
      // two targets of binding 2 (--self --tcp HOST:0 is one: vpci's PF listening there)
      {{"--unix", "/tmp/x.sock", "--tcp", "127.0.0.1:1"}, "--unix and --tcp are two targets: give one"},
      {{"--self", "--binding", "hyperv", "--unix", "/tmp/x.sock"}, "--self and --unix are two targets: give one"},
      {{"--self", "--tcp", "127.0.0.1:0", "--unix", "/tmp/x.sock"}, "--self and --unix are two targets: give one"},
      // a second VF's target without its first, on binding 1
      {{"--shm2", "/vpci-y"}, "--shm2 applies to --shm only, and no --shm is given"},
      {{"--self", "--shm2", "/vpci-y"}, "--shm2 applies to --shm only, not to --self"},
      {{"--vfio-user", "/tmp/x.sock", "--shm2", "/vpci-y"}, "--shm2 applies to --shm only, not to --vfio-user"},
      {{"--shm", "/vpci-x", "--sysfs2", "0000:00:01.1"}, "--sysfs2 applies to --sysfs only, not to --shm"},
      {{"--shm", "/vpci-x", "--vfio-user2", "/tmp/y.sock"}, "--vfio-user2 applies to --vfio-user only, not to --shm"},
      // ... and on binding 2
      {{"--tcp", "127.0.0.1:1", "--unix2", "/tmp/y.sock"}, "--unix2 applies to --unix only, not to --tcp"},
      {{"--unix", "/tmp/x.sock", "--tcp2", "127.0.0.1:2"}, "--tcp2 applies to --tcp only, not to --unix"},
      {{"--self", "--binding", "hyperv", "--unix2", "/tmp/y.sock"}, "--unix2 applies to --unix only, not to --self"},
      {{"--self", "--tcp", "127.0.0.1:0", "--tcp2", "127.0.0.1:2"}, "--tcp2 applies to --tcp only, not to --self --tcp"},
      {{"--binding", "hyperv", "--tcp2", "127.0.0.1:2"}, "--tcp2 applies to --tcp only, and no --tcp is given"},
      // --allow-write, which only --sysfs reads
      {{"--shm", "/vpci-x", "--allow-write"}, "--allow-write applies to --sysfs only, not to --shm"},
      {{"--self", "--allow-write"}, "--allow-write applies to --sysfs only, not to --self"},
  };
  for (const refused& r : cases) check_usage_error(paths->at(0), r.args, r.message);
  // One target, with its second VF's beside it, is taken.
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"--self", "--tcp", "127.0.0.1:0"},
           {"--shm", "/vpci-x", "--shm2", "/vpci-y"},
           {"--allow-write", "--sysfs", "0000:00:01.0", "--sysfs2", "0000:00:01.1"},
           {"--vfio-user", "/tmp/x.sock", "--vfio-user2", "/tmp/y.sock"},
           {"--unix", "/tmp/x.sock", "--unix2", "/tmp/y.sock"},
           {"--tcp", "127.0.0.1:1", "--tcp2", "127.0.0.1:2"}}) {
    BOOST_TEST_CONTEXT(args[0] << " " << args[1]) check_taken(paths->at(0), args);
  }
}

// --invalidate-cmd, --restart-cmd and --flr-cmd beside --self were ignored without a word: the tool raises
// invalidations in, restarts and resets the VFs of its own PF itself, so the command given never ran and the
// run was not the one the command line asked for. Each is now a usage error naming the option and why.
BOOST_AUTO_TEST_CASE(a_command_beside_self_is_a_usage_error_naming_it) {
  const auto paths = tool_paths({"VPCI_CONFORMANCE"});
  if (!paths) return;
  struct refused {
    std::vector<std::string> args;  // after the program; --list is added, so that nothing runs
    std::string message;
  };
  const std::string why = ": vpci's PF in this process is driven by the tool itself, without commands";
  const refused cases[] = {
      {{"--self", "--invalidate-cmd", "true"}, "--invalidate-cmd applies to an external PF only, not to --self" + why},
      {{"--restart-cmd", "true", "--self"}, "--restart-cmd applies to an external PF only, not to --self" + why},
      {{"--self", "--flr-cmd", "true"}, "--flr-cmd applies to an external PF only, not to --self" + why},
      {{"--self", "--binding", "hyperv", "--invalidate-cmd", "true"}, "--invalidate-cmd applies to an external PF only, not to --self" + why},
      {{"--self", "--tcp", "127.0.0.1:0", "--invalidate-cmd", "true"},
       "--invalidate-cmd applies to an external PF only, not to --self --tcp" + why},
  };
  for (const refused& r : cases) check_usage_error(paths->at(0), r.args, r.message);
  // Beside an external PF's target they are taken.
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"--shm", "/vpci-x", "--invalidate-cmd", "true", "--restart-cmd", "true", "--flr-cmd", "true"},
           {"--unix", "/tmp/x.sock", "--invalidate-cmd", "true"}}) {
    BOOST_TEST_CONTEXT(args[0]) check_taken(paths->at(0), args);
  }
}

// A --tcp or --tcp2 without a colon or with a port that is no number in 1..65535 was taken as given: --list
// listed the cases, and a run reported every case FAIL for it at run time ("cannot connect: expected
// HOST:PORT", "resolve ...: Servname not supported"), exit status 1 as if the PF had failed; --self --tcp
// with a port other than 0 was refused only when the run started. Each is now a usage error naming the
// option and the value, before anything runs. So, later, is an empty HOST (":PORT", "[]:PORT"), which names
// no PF: every case failed on it ("resolve ':5000': Name or service not known"), and vpci-perf's VF took it
// as 0.0.0.0. Both tools now refuse it by examples/host_port.hpp's one rule.
BOOST_AUTO_TEST_CASE(a_tcp_address_that_is_no_host_port_is_a_usage_error) {
  const auto paths = tool_paths({"VPCI_CONFORMANCE"});
  if (!paths) return;
  struct refused {
    std::vector<std::string> args;  // after the program; --list is added
    std::string message;
  };
  const std::string self_listens = " (its PF listens on any free port, one per VF)";
  const refused cases[] = {
      {{"--tcp", "127.0.0.1"}, "--tcp: expected HOST:PORT, got '127.0.0.1'"},
      {{"--tcp", ""}, "--tcp: expected HOST:PORT, got ''"},
      {{"--tcp", "[::1]"}, "--tcp: expected HOST:PORT, got '[::1]'"},
      {{"--tcp", ":5000"}, "--tcp: expected HOST:PORT, got ':5000'"},
      {{"--tcp", "[]:5000"}, "--tcp: expected HOST:PORT, got '[]:5000'"},
      {{"--tcp", "127.0.0.1:"}, "--tcp: the port of '127.0.0.1:' is not a number in 1..65535"},
      {{"--tcp", "127.0.0.1:http"}, "--tcp: the port of '127.0.0.1:http' is not a number in 1..65535"},
      {{"--tcp", "127.0.0.1:65536"}, "--tcp: the port of '127.0.0.1:65536' is not a number in 1..65535"},
      {{"--tcp", "127.0.0.1:0"},
       "--tcp: the port of '127.0.0.1:0' is not a number in 1..65535 (port 0 is for a PF that listens, taking any free port)"},
      {{"--tcp", "127.0.0.1:+1"}, "--tcp: the port of '127.0.0.1:+1' is not a number in 1..65535"},
      {{"--tcp", "127.0.0.1:0x50"}, "--tcp: the port of '127.0.0.1:0x50' is not a number in 1..65535"},
      {{"--tcp", "127.0.0.1:1", "--tcp2", "127.0.0.1"}, "--tcp2: expected HOST:PORT, got '127.0.0.1'"},
      {{"--tcp", "127.0.0.1:1", "--tcp2", ":5000"}, "--tcp2: expected HOST:PORT, got ':5000'"},
      {{"--tcp", "127.0.0.1:1", "--tcp2", "127.0.0.1:-2"}, "--tcp2: the port of '127.0.0.1:-2' is not a number in 1..65535"},
      {{"--self", "--tcp", "127.0.0.1:1"}, "--tcp: expected HOST:0 beside --self, got '127.0.0.1:1'" + self_listens},
      {{"--self", "--tcp", "127.0.0.1"}, "--tcp: expected HOST:0 beside --self, got '127.0.0.1'" + self_listens},
      {{"--self", "--tcp", ":0"}, "--tcp: expected HOST:0 beside --self, got ':0'" + self_listens},
  };
  for (const refused& r : cases) check_usage_error(paths->at(0), r.args, r.message);
  // HOST:PORT, [HOST]:PORT for IPv6, the bounds of the port, and HOST:0 beside --self are taken.
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"--tcp", "127.0.0.1:1", "--tcp2", "localhost:65535"}, {"--tcp", "[::1]:80"}, {"--self", "--tcp", "[::1]:0"}}) {
    BOOST_TEST_CONTEXT(args.back()) check_taken(paths->at(0), args);
  }
}

// A binding-2 PF that is not there (nothing at --unix, --tcp refused, no --unix2 beside a --unix that
// listens) ran every case, each FAILing with "cannot connect", and exited 1 as if the PF broke the protocol.
// The tool connects to each address first: one line naming the option, exit status 2, no case run.
BOOST_AUTO_TEST_CASE(an_unreachable_binding_2_pf_is_a_setup_error_on_one_line) {
  const auto paths = tool_paths({"VPCI_CONFORMANCE"});
  if (!paths) return;
  const std::string base = "/tmp/vpci-conformance-unreachable-" + std::to_string(::getpid());
  const std::string listening = base + "-vf0.sock", missing = base + "-missing.sock";
  ::unlink(listening.c_str());
  ::unlink(missing.c_str());
  // A PF's first listener that takes connections (the backlog accepts them: nothing needs to serve).
  const int listener = ::socket(AF_UNIX, SOCK_STREAM, 0);
  BOOST_REQUIRE(listener >= 0);
  ::sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::memcpy(address.sun_path, listening.c_str(), listening.size() + 1);
  BOOST_REQUIRE(::bind(listener, reinterpret_cast<const ::sockaddr*>(&address), sizeof address) == 0);
  BOOST_REQUIRE(::listen(listener, 8) == 0);
  const std::pair<std::vector<std::string>, std::string> runs[] = {
      {{"--unix", missing}, "--unix: connect '" + missing + "': No such file or directory"},
      {{"--tcp", "127.0.0.1:1"}, "--tcp: connect '127.0.0.1:1': Connection refused"},
      {{"--unix", listening, "--unix2", missing}, "--unix2: connect '" + missing + "': No such file or directory"},
  };
  for (const auto& [given, message] : runs) {
    BOOST_TEST_CONTEXT(message) {
      std::vector<std::string> args{paths->at(0)};
      args.insert(args.end(), given.begin(), given.end());
      const tool_run text = run_tool(args);
      BOOST_TEST(text.status == 2);
      BOOST_TEST(text.output == "vpci-conformance: " + message + "\n");
      args.emplace_back("--json");
      const tool_run json = run_tool(args, vpci::test::program_process::capture::stdout_only);
      BOOST_TEST(json.status == 2);
      BOOST_TEST(json.output == R"json({"error":")json" + message + "\"}\n");
    }
  }
  ::close(listener);
  ::unlink(listening.c_str());
}

// An IPv6 address, [HOST]:PORT, went to getaddrinfo with its brackets ("resolve '[::1]:PORT': Name or
// service not known"): --self --tcp [::1]:0 failed every case, its PF naming its listeners so, and an
// external PF's --tcp [HOST]:PORT could not be reached. connect_tcp now splits by host_port.hpp.
BOOST_AUTO_TEST_CASE(self_over_tcp_on_an_ipv6_host_connects) {
  const auto paths = tool_paths({"VPCI_CONFORMANCE"});
  if (!paths) return;
  if (!vpci::test::has_ipv6_loopback()) {  // a host without IPv6 loopback has nothing to show here
    BOOST_TEST_MESSAGE("no IPv6 loopback: nothing to check");
    return;
  }
  const tool_run run = run_tool({paths->at(0), "--self", "--tcp", "[::1]:0", "--case", "hyperv.version_negotiation"});
  BOOST_TEST(run.status == 0, run.output);
  BOOST_TEST(contains(run.output, "PASS  hyperv.version_negotiation"), run.output);
}

// Over vfio-user (vpci-vfio-user-device --conformance-profile, as README.md runs it) the SKIP reasons spoke
// of other transports: mailbox.signal of "the in-process memory space" and shared memory although the device
// announces SIGNAL (vfio-user's interrupt coalesces signals), the two-VF cases of --shm2 NAME.
BOOST_AUTO_TEST_CASE(skip_reasons_over_vfio_user_name_vfio_user_and_its_options) {
  const auto paths = tool_paths({"VPCI_RUN_WITH_VFIO_USER_DEVICE", "VPCI_VFIO_USER_DEVICE", "VPCI_CONFORMANCE"});
  if (!paths) return;
  const std::string socket = "/tmp/vpci-conformance-test-" + std::to_string(::getpid()) + ".sock";
  const tool_run run = run_tool({paths->at(0), paths->at(1), socket, "--conformance-profile", "--", paths->at(2), "--vfio-user",
                                 socket, "--invalidate-block", "8"});
  BOOST_TEST(run.status == 0, run.output);
  BOOST_TEST(contains(run.output, "SKIP  mailbox.signal  protocol.md §4.2, §5.5  vfio-user (--vfio-user SOCKET) delivers the PF's signals coalesced"),
             run.output);
  BOOST_TEST(contains(run.output, "SKIP  mailbox.isolation_two_vfs  protocol.md §4.2, §4.4  no second VF window (--vfio-user2 SOCKET)\n"));
  BOOST_TEST(contains(run.output, "SKIP  mailbox.flood_two_vfs  protocol.md §4.1, §4.2  no second VF window (--vfio-user2 SOCKET)\n"));
  // The transport resets the device itself (VFIO_USER_DEVICE_RESET, the server's FLR): no --flr-cmd needed.
  BOOST_TEST(contains(run.output, "PASS  mailbox.flr  protocol.md §5.4, §5.1"), run.output);
  for (const std::string_view other : {"--shm", "shared memory", "in-process", "memory space", "sysfs", "--unix", "--tcp"})
    BOOST_TEST(!contains(run.output, other), other);
}

// A socket path the device cannot bind printed Boost's exception text: "bind: No such file or directory
// [system:2 at .../reactive_socket_service.hpp:161:5 in function '...']".
BOOST_AUTO_TEST_CASE(a_socket_path_the_device_cannot_bind_is_a_one_line_error_naming_it) {
  const auto paths = tool_paths({"VPCI_VFIO_USER_DEVICE"});
  if (!paths) return;
  const std::string missing_directory = "/tmp/vpci-conformance-test-" + std::to_string(::getpid()) + "-missing/device.sock";
  const std::string too_long = "/tmp/" + std::string(200, 'x') + ".sock";  // longer than sockaddr_un's sun_path
  for (const auto& [path, reason] : {std::pair{missing_directory, std::string_view("No such file or directory")},
                                     std::pair{too_long, std::string_view("File name too long")}}) {
    BOOST_TEST_CONTEXT(path) {
      const tool_run run = run_tool({paths->at(0), path, "--once"});
      BOOST_TEST(run.status == 1);
      BOOST_TEST(contains(run.output, "vpci-vfio-user-device: cannot listen on '" + path + "': " + std::string(reason) + "\n"), run.output);
      BOOST_TEST(!contains(run.output, ".hpp"), run.output);
      BOOST_TEST(!contains(run.output, "listening on"));
    }
  }
}

// Without arguments the script read $1 under set -u: "$1: unbound variable", status 1.
BOOST_AUTO_TEST_CASE(run_with_vfio_user_device_without_arguments_prints_its_usage) {
  const auto paths = tool_paths({"VPCI_RUN_WITH_VFIO_USER_DEVICE"});
  if (!paths) return;
  const std::string& script = paths->at(0);
  for (const auto& args : std::vector<std::vector<std::string>>{{script}, {script, "DEVICE"}, {script, "DEVICE", "SOCKET", "--"}}) {
    BOOST_TEST_CONTEXT(args.size() - 1 << " arguments") {
      const tool_run run = run_tool(args);
      BOOST_TEST(run.status == 2);
      BOOST_TEST(contains(run.output, "usage: run_with_vfio_user_device.sh DEVICE SOCKET"), run.output);
      BOOST_TEST(!contains(run.output, "unbound variable"), run.output);
    }
  }
}

// The same for the script that runs vpci-conformance against examples/firmware-c's PF.
BOOST_AUTO_TEST_CASE(run_against_firmware_c_without_arguments_prints_its_usage) {
  const auto paths = tool_paths({"VPCI_RUN_AGAINST_FIRMWARE_C"});
  if (!paths) return;
  const std::string& script = paths->at(0);
  for (const auto& args : std::vector<std::vector<std::string>>{{"/bin/sh", script}, {"/bin/sh", script, "CONFORMANCE", "PF"}}) {
    BOOST_TEST_CONTEXT(args.size() - 2 << " arguments") {
      const tool_run run = run_tool(args);
      BOOST_TEST(run.status == 2);
      BOOST_TEST(contains(run.output, "usage: run_against_firmware_c.sh CONFORMANCE PF NAME"), run.output);
      BOOST_TEST(!contains(run.output, "parameter not set"), run.output);
    }
  }
}

// vpci-conformance --shm NAME drove the mailbox of a space another VF driver had open: the two overwrote
// each other's requests, and the cases failed for a reason that was no PF's. It opens the space as its only
// read-write driver and refuses, naming the mailbox, while another driver is attached (here one the test
// holds); --shm2 naming the same space as --shm is refused the same way. The PF placed its window and
// never serves: nothing gets as far as a request.
BOOST_AUTO_TEST_CASE(a_second_vf_on_one_shared_memory_mailbox_is_refused) {
  const auto paths = tool_paths({"VPCI_CONFORMANCE"});
  if (!paths) return;
  const std::string name = "/vpci-conformance-test-" + std::to_string(::getpid()) + "-second-vf";
  boost::asio::io_context io;
  auto device = shm_config_space::create(io.get_executor(), name, 4096, shm_create::replace);
  pf_endpoint<1> pf;
  BOOST_TEST_REQUIRE(!pf.register_vf(0, 0x0101));
  BOOST_TEST_REQUIRE(pf.attach_mailbox(0, device).has_value());
  const std::string refused = "vpci-conformance: another VF is attached to mailbox '" + name + "'";
  {
    const auto other = shm_config_space::open(io.get_executor(), name);  // a read-write driver
    const tool_run run = run_tool({paths->at(0), "--shm", name});
    BOOST_TEST(run.status == 2, run.output);
    BOOST_TEST(contains(run.output, refused), run.output);
  }
  const tool_run twice = run_tool({paths->at(0), "--shm", name, "--shm2", name});
  BOOST_TEST(twice.status == 2, twice.output);
  BOOST_TEST(contains(twice.output, refused), twice.output);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE_END()  // conformance_test
