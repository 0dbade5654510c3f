// The PF serving binding 1, layout 2 (issues 8 and 10): mailbox attachments over any config_space_transport,
// served inside the VF's write (write hooks), on the peer signal, or by adaptive polling on virtual time;
// the window as a DVSEC with its names; the heartbeat on the Timing policy's timers; the VF's signal rung
// only when it asked; the PF's register writes per answer; a PF re-attaching (restart) and an FLR; PF-owned
// registers (case 13); the PF's own view of a VF's config space (NdisMGet/SetVirtualFunctionBusData); block
// handlers that call back into the endpoint; the endpoint destroyed with attachments live.
//
// The VF here is mostly a scripted one writing raw registers through the transport's driver side, so
// that every register, every poll and every virtual instant is exact.
#include <boost/test/unit_test.hpp>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <new>
#include <optional>
#include <ostream>
#include <span>
#include <stdexcept>
#include <utility>
#include <vector>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <vpci/asio/pf_endpoint.hpp>
#include <vpci/asio/timing.hpp>
#include <vpci/asio/vf_endpoint.hpp>
#include <vpci/block/endian.hpp>
#include <vpci/config/find_mailbox.hpp>
#include <vpci/transport/fault_injecting.hpp>
#include <vpci/transport/memory_config_space.hpp>
#include <vpci/transport/shm_config_space.hpp>

#include "test_support.hpp"

BOOST_AUTO_TEST_SUITE(pf_mailbox_serve_test)

using namespace vpci;
using namespace std::chrono_literals;
namespace reg = vpci::mailbox::reg;

namespace {

constexpr std::uint32_t op_read = 1;
constexpr std::uint32_t op_write = 2;
constexpr block_id block5{5};
constexpr std::size_t block5_size = 16;

std::vector<std::byte> pattern(std::size_t n, unsigned seed) {
  std::vector<std::byte> out(n);
  for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<std::byte>(seed + i * 7);
  return out;
}
std::array<std::byte, 4> u32_bytes(std::uint32_t value) {
  std::array<std::byte, 4> out{};
  le::store_u32(out.data(), value);
  return out;
}
block_mask bit(std::uint32_t id) {
  block_mask mask;
  (void)mask.set(block_id{id});
  return mask;
}

// A transport that has nothing but the concept (no write hooks, no signal, no device side, no write
// protection): the PF must poll it and write through its ordinary write. It counts the PF's looks (each
// ends with the one read of the acknowledgement pair, 8 bytes), its whole-window reads (passes) and every
// dword accessed.
// NonBlocking says whether its synchronous accesses may be used inline (else async_read/async_write).
template <bool NonBlocking>
class plain_transport {
 public:
  using executor_type = memory_config_space::executor_type;
  static constexpr bool nonblocking_access = NonBlocking;

  explicit plain_transport(memory_config_space& space) : space_(space) {}

  [[nodiscard]] executor_type get_executor() const { return space_.get_executor(); }
  [[nodiscard]] std::size_t size() const { return space_.size(); }
  std::size_t read(std::size_t offset, std::span<std::byte> out, boost::system::error_code& ec) {
    count(out.size());
    return space_.read(offset, out, ec);
  }
  std::size_t write(std::size_t offset, std::span<const std::byte> in, boost::system::error_code& ec) {
    accesses += (in.size() + 3) / 4;
    return space_.write(offset, in, ec);
  }
  template <class CompletionToken>
  auto async_read(std::size_t offset, std::span<std::byte> out, CompletionToken&& token) {
    count(out.size());
    return space_.async_read(offset, out, std::forward<CompletionToken>(token));
  }
  template <class CompletionToken>
  auto async_write(std::size_t offset, std::span<const std::byte> in, CompletionToken&& token) {
    accesses += (in.size() + 3) / 4;
    return space_.async_write(offset, in, std::forward<CompletionToken>(token));
  }

  std::size_t looks = 0;
  std::size_t passes = 0;
  std::size_t accesses = 0;

 private:
  void count(std::size_t length) {
    if (length == 8) ++looks;
    if (length == mailbox::window_size) ++passes;
    accesses += (length + 3) / 4;
  }
  memory_config_space& space_;
};
static_assert(config_space_transport<plain_transport<true>>);
static_assert(!write_observing_transport<plain_transport<true>> && !peer_signalling_transport<plain_transport<true>>);
static_assert(!nonblocking_transport_v<plain_transport<false>>);

// A transport whose reads are what a read of several dwords is on shared memory, a device's registers or
// any other transport: one dword after another, not one indivisible copy. A test runs what a VF does
// between two of the dwords (once, after the dword at `offset` was read), so that a PF's copy of the window
// is taken while the VF writes it. Polled (no hooks, no signal), with inline or asynchronous accesses.
template <bool NonBlocking>
class dword_by_dword_transport {
 public:
  using executor_type = memory_config_space::executor_type;
  static constexpr bool nonblocking_access = NonBlocking;

  explicit dword_by_dword_transport(memory_config_space& space) : space_(space) {}

  // Runs `action` once, right after the dword at `offset` is read (and before the next one).
  void after_reading(std::size_t offset, std::function<void()> action) {
    at_ = offset;
    action_ = std::move(action);
  }

  [[nodiscard]] executor_type get_executor() const { return space_.get_executor(); }
  [[nodiscard]] std::size_t size() const { return space_.size(); }
  std::size_t read(std::size_t offset, std::span<std::byte> out, boost::system::error_code& ec) {
    if (offset % 4 != 0 || out.size() % 4 != 0) return space_.read(offset, out, ec);
    for (std::size_t i = 0; i < out.size(); i += 4) {
      if (space_.read(offset + i, out.subspan(i, 4), ec) != 4) return 0;
      if (action_ && offset + i == at_) std::exchange(action_, nullptr)();
    }
    return out.size();
  }
  std::size_t write(std::size_t offset, std::span<const std::byte> in, boost::system::error_code& ec) {
    return space_.write(offset, in, ec);
  }
  template <class CompletionToken>
  auto async_read(std::size_t offset, std::span<std::byte> out, CompletionToken&& token) {
    return boost::asio::async_initiate<CompletionToken, void(boost::system::error_code, std::size_t)>(
        [this, offset, out](auto handler) {
          boost::asio::post(space_.get_executor(), [this, offset, out, handler = std::move(handler)]() mutable {
            boost::system::error_code ec;
            const std::size_t n = read(offset, out, ec);
            std::move(handler)(ec, n);
          });
        },
        token);
  }
  template <class CompletionToken>
  auto async_write(std::size_t offset, std::span<const std::byte> in, CompletionToken&& token) {
    return space_.async_write(offset, in, std::forward<CompletionToken>(token));
  }

 private:
  memory_config_space& space_;
  std::size_t at_ = 0;
  std::function<void()> action_;
};
static_assert(config_space_transport<dword_by_dword_transport<true>>);
static_assert(config_space_transport<dword_by_dword_transport<false>>);
static_assert(!write_observing_transport<dword_by_dword_transport<true>> &&
              !peer_signalling_transport<dword_by_dword_transport<true>>);

// VF 0's mailbox attached through a polled transport on one of the serving loop's two access paths: inline
// accesses (nonblocking) or asynchronous ones. f.window is set to the window attached.
template <template <bool> class Transport>
struct polled_attachment {
  std::optional<Transport<true>> inline_path;
  std::optional<Transport<false>> async_path;

  template <class Fixture>
  polled_attachment(Fixture& f, bool nonblocking, const mailbox_options& options) {
    const boost::system::result<std::size_t> placed = nonblocking
                                                          ? f.pf->attach_mailbox(0, inline_path.emplace(f.space), options)
                                                          : f.pf->attach_mailbox(0, async_path.emplace(f.space), options);
    BOOST_REQUIRE(placed.has_value());
    f.window = *placed;
  }
  // Runs fn on the transport attached.
  template <class Fn>
  decltype(auto) with(Fn&& fn) {
    return inline_path ? fn(*inline_path) : fn(*async_path);
  }
};

// A scripted VF: raw register accesses through the driver side of a config space (a memory_config_space,
// or a driver-role view of shared memory).
template <class Space = memory_config_space>
struct basic_raw_vf {
  Space& space;
  std::size_t window;
  std::uint16_t sequence = 0;

  // The request registers in one 8-byte write: the block ID, then the request dword (the doorbell) last.
  void request(std::uint32_t op, std::uint32_t id, std::uint32_t length) {
    std::array<std::byte, 8> area{};
    le::store_u32(area.data() + 0, id);
    le::store_u32(area.data() + 4, std::uint32_t{++sequence} | (length & 0xFF) << 16 | op << 24);
    boost::system::error_code ec;
    BOOST_REQUIRE(space.write(window + reg::request_block, area, ec) == 8u);
  }
  void write_data(std::span<const std::byte> data) {
    boost::system::error_code ec;
    BOOST_REQUIRE(space.write(window + reg::data, data, ec) == data.size());
  }
  void write_u32(std::uint16_t offset, std::uint32_t value) {
    boost::system::error_code ec;
    BOOST_REQUIRE(space.write(window + offset, u32_bytes(value), ec) == 4u);
  }
  [[nodiscard]] std::uint32_t u32(std::uint16_t offset) const {
    std::array<std::byte, 4> bytes{};
    boost::system::error_code ec;
    BOOST_REQUIRE(space.read(window + offset, bytes, ec) == 4u);
    return le::load_u32(bytes.data());
  }
  [[nodiscard]] std::vector<std::byte> data(std::size_t n) const {
    std::vector<std::byte> out(n);
    boost::system::error_code ec;
    BOOST_REQUIRE(space.read(window + reg::data, out, ec) == n);
    return out;
  }
  [[nodiscard]] mailbox::status_word status() const { return mailbox::decode_status(u32(reg::status)); }
  [[nodiscard]] bool answered() const { return status().epoch != 0 && status().ack == sequence; }
  // Answered with STATUS_SUCCESS and `count` bytes.
  [[nodiscard]] bool succeeded(std::size_t count) const {
    return answered() && !status().failed && status().count == count && u32(reg::result) == 0;
  }
  [[nodiscard]] std::uint64_t mask() const {
    return std::uint64_t{u32(reg::invalidate_mask_low)} | (std::uint64_t{u32(reg::invalidate_mask_high)} << 32);
  }
};
using raw_vf = basic_raw_vf<>;

std::vector<std::byte> snapshot(const memory_config_space& space) {
  std::vector<std::byte> bytes(space.size());
  BOOST_REQUIRE(space.device_read(0, bytes) == no_error);
  return bytes;
}

// Records a completion: how many times, with what.
struct serve_result {
  int calls = 0;
  boost::system::error_code ec;
  auto handler() {
    return [this](boost::system::error_code e) {
      ++calls;
      ec = e;
    };
  }
};

template <class Timing = steady_timing>
struct memory_fixture {
  boost::asio::io_context io;
  memory_config_space space{io, 4096};
  Timing timing{};
  std::optional<pf_endpoint<4, Timing>> pf{std::in_place, engine::pf_limits{}, timing};
  std::size_t window = 0;

  explicit memory_fixture(mailbox_options options = {}, bool attach = true) {
    BOOST_REQUIRE(!pf->register_vf(0, 0x0101));
    BOOST_REQUIRE(!pf->define_block(0, block5, pattern(block5_size, 0x10)));
    if (attach) {
      auto placed = pf->attach_mailbox(0, space, options);
      BOOST_REQUIRE(placed.has_value());
      window = *placed;
    }
  }
  raw_vf vf() { return raw_vf{space, window}; }
  void settle() {
    io.restart();
    io.poll();
  }
};

}  // namespace

// ---- case 14: serving over any transport ------------------------------------------------------------

BOOST_AUTO_TEST_CASE(case_14_a_users_write_hook_still_runs_beside_the_pf) {
  memory_fixture f({}, /*attach=*/false);
  std::vector<std::size_t> user_saw;
  // The user's hook, before and after the attachment: the PF neither replaces it nor is replaced by it.
  f.space.set_write_hook([&](std::size_t offset, std::size_t length) { user_saw.insert(user_saw.end(), {offset, length}); });
  auto placed = f.pf->attach_mailbox(0, f.space);
  BOOST_REQUIRE(placed.has_value());
  f.window = *placed;
  raw_vf vf = f.vf();
  vf.request(op_read, 5, block5_size);
  // Answered inside the VF's write: nothing ran on the io_context.
  BOOST_TEST(vf.succeeded(block5_size));
  BOOST_TEST(vf.data(block5_size) == pattern(block5_size, 0x10), boost::test_tools::per_element());
  BOOST_TEST(user_saw == (std::vector<std::size_t>{f.window + reg::request_block, 8}), boost::test_tools::per_element());

  // A hook installed after the attachment replaces only the user's.
  std::size_t replaced_calls = 0;
  f.space.set_write_hook([&](std::size_t, std::size_t) { ++replaced_calls; });
  vf.request(op_read, 5, block5_size);
  BOOST_TEST(vf.answered());
  BOOST_TEST(replaced_calls == 1u);
  BOOST_TEST(user_saw.size() == 2u);
  // The PF's own register writes are the device's: no hook sees them.
  BOOST_TEST(f.pf->invalidate(0, bit(3)) == boost::system::error_code{});
  BOOST_TEST(vf.mask() == 0b1000u);
  BOOST_TEST(replaced_calls == 1u);
}

BOOST_AUTO_TEST_CASE(case_14_adaptive_polling_on_virtual_time_counts_every_poll_on_both_access_paths) {
  for (const bool nonblocking : {true, false}) {
    BOOST_TEST_CONTEXT((nonblocking ? "inline accesses" : "asynchronous accesses")) {
      memory_fixture<manual_timing> f({}, /*attach=*/false);
      mailbox_options options;
      options.polling = {1ms, 8ms};
      polled_attachment<plain_transport> transport(f, nonblocking, options);
      // Each poll is a look (four dwords); the window is read whole only when the look finds it changed.
      auto polls = [&] { return transport.with([](auto& t) { return t.looks; }); };
      auto passes = [&] { return transport.with([](auto& t) { return t.passes; }); };
      BOOST_TEST(polls() == 0u);  // attaching reads the whole space, not the window

      serve_result served;
      f.pf->async_serve(0, served.handler());
      BOOST_TEST(polls() == 0u);  // never inside the initiation
      auto at = [&](std::chrono::milliseconds t) {
        f.timing.advance_to(to_nanoseconds(t));
        f.settle();
      };
      at(0ms);
      BOOST_TEST(polls() == 1u);
      BOOST_TEST(passes() == 0u);  // the window as the attach left it: nothing to serve
      // Idle: the next polls come after 1, 2, 4, 8, 8 ms: at 1, 3, 7, 15, 23.
      const std::pair<std::chrono::milliseconds, std::size_t> idle[] = {
          {1ms, 2}, {2ms, 2}, {3ms, 3}, {6ms, 3}, {7ms, 4}, {14ms, 4}, {15ms, 5}};
      for (const auto& [t, expected] : idle) {
        at(t);
        BOOST_TEST(polls() == expected, "at " << t.count() << " ms");
      }
      // The VF asks at 16 ms; the PF, backed off, answers with its poll at 23 ms, not before.
      at(16ms);
      raw_vf vf = f.vf();
      vf.request(op_read, 5, block5_size);
      at(22ms);
      BOOST_TEST(polls() == 5u);
      BOOST_TEST(passes() == 0u);  // the idle polls read four dwords each, never the window
      BOOST_TEST(!vf.answered());
      at(23ms);
      BOOST_TEST(polls() == 6u);
      BOOST_TEST(passes() == 1u);  // the look saw the doorbell
      BOOST_TEST(vf.succeeded(block5_size));
      BOOST_TEST(vf.data(block5_size) == pattern(block5_size, 0x10), boost::test_tools::per_element());
      // Active: fast again (24, 25), then backing off (27, 31).
      const std::pair<std::chrono::milliseconds, std::size_t> after[] = {
          {24ms, 7}, {25ms, 8}, {26ms, 8}, {27ms, 9}, {30ms, 9}, {31ms, 10}};
      for (const auto& [t, expected] : after) {
        at(t);
        BOOST_TEST(polls() == expected, "at " << t.count() << " ms");
      }
      // Detached: serving ends with success, the timer is gone, nothing polls any more.
      BOOST_TEST(!f.pf->detach_mailbox(0));
      f.settle();
      BOOST_TEST(served.calls == 1);
      BOOST_TEST(!served.ec);
      BOOST_TEST(f.timing.armed() == 0u);
      at(100ms);
      BOOST_TEST(polls() == 10u);
      BOOST_TEST(passes() == 1u);
    }
  }
}

// Found by the slow-config-space audit: every poll and every heartbeat of a polled window was a whole
// pass, the doorbell and the window read (47 dwords): an idle window cost about 4,700 accesses a second,
// and a PF polling 256 windows over config space at 50 us an access spent 600 ms going round them, so
// their heartbeats went out up to 614 ms apart and a VF with default options called the PF gone. A poll
// is now a look: four dwords (request, control, the acknowledgement pair), the window read only when
// they show the VF asked, and a heartbeat two (status read, then written). Over the first idle second after serving
// starts (defaults: polls from 20 us doubling to 10 ms, a beat every 100 ms):
BOOST_AUTO_TEST_CASE(an_idle_polled_window_costs_four_dwords_a_poll_and_two_a_heartbeat) {
  for (const bool nonblocking : {true, false}) {
    BOOST_TEST_CONTEXT((nonblocking ? "inline accesses" : "asynchronous accesses")) {
      memory_fixture<manual_timing> f({}, /*attach=*/false);
      polled_attachment<plain_transport> transport(f, nonblocking, mailbox_options{});
      const auto counts = [&] {
        return transport.with([](auto& t) { return std::array<std::size_t, 3>{t.looks, t.passes, t.accesses}; });
      };
      const std::size_t attached = counts()[2];  // the attach's own accesses (placement, initialisation)
      serve_result served;
      f.pf->async_serve(0, served.handler());
      f.settle();
      // The first pass is a look too: the window is as the attach left it.
      BOOST_TEST(counts() == (std::array<std::size_t, 3>{1, 0, attached + 4}));
      std::size_t beats = 0;
      std::uint8_t heartbeat = f.vf().status().heartbeat;
      for (std::uint64_t t = 10'000; t <= 1'000'000'000; t += 10'000) {  // every 10 us for a second
        f.timing.advance_to(t);
        f.settle();
        if (const std::uint8_t now = f.vf().status().heartbeat; now != heartbeat) {
          ++beats;
          heartbeat = now;
        }
      }
      const auto [looks, passes, accesses] = counts();
      BOOST_TEST(beats == 10u);  // at 100, 200, ..., 1000 ms
      BOOST_TEST(passes == 0u);  // the window never read whole
      BOOST_TEST(accesses - attached == 4 * looks + 2 * beats);  // a beat: status read, then written
      // The looks: the first; 9 polls 20 us doubling to 5.12 ms apart (to 10.22 ms); 8 more 10 ms apart
      // (to 90.22 ms); the beat at 100 ms, from which the polls run 10 ms apart again (110 .. 990 ms: 89);
      // the beat at 1000 ms. The beats from 200 ms on fall on polls: one look each.
      BOOST_TEST(looks == 1u + 9u + 8u + 1u + 89u + 1u);
      BOOST_TEST(!f.pf->detach_mailbox(0));
      f.settle();
      BOOST_TEST(served.calls == 1);
    }
  }
}

// Found by the review of the look: a VF write over `status` (a transport without read-only bits) was
// undone by the heartbeat's status write without being counted as dropped (section 3), for the beat wrote
// status from the PF's own copy without a service to see it. A look with a beat due reads status first:
// changed, it calls for a service, which undoes and counts the write.
BOOST_AUTO_TEST_CASE(a_vf_write_over_status_before_a_heartbeat_is_undone_and_counted) {
  for (const bool nonblocking : {true, false}) {
    BOOST_TEST_CONTEXT((nonblocking ? "inline accesses" : "asynchronous accesses")) {
      memory_fixture<manual_timing> f({}, /*attach=*/false);
      polled_attachment<plain_transport> transport(f, nonblocking, mailbox_options{});
      serve_result served;
      f.pf->async_serve(0, served.handler());
      f.settle();
      raw_vf vf = f.vf();
      const std::uint32_t status = vf.u32(reg::status);
      vf.write_u32(reg::status, 0xDEADBEEF);  // nothing protects it on this transport
      for (std::uint64_t t = 1'000'000; t <= 150'000'000; t += 1'000'000) {  // the beat at 100 ms
        f.timing.advance_to(t);
        f.settle();
      }
      BOOST_TEST(f.pf->blocks().counters(0).dropped == 1u);
      BOOST_TEST(transport.with([](auto& t) { return t.passes; }) == 1u);  // the beat's look called for it
      BOOST_TEST(mailbox::decode_status(vf.u32(reg::status)).epoch == mailbox::decode_status(status).epoch);
      BOOST_TEST(vf.status().heartbeat == 1u);  // the beat rode in the service's status write
      BOOST_TEST(!f.pf->detach_mailbox(0));
      f.settle();
      BOOST_TEST(served.calls == 1);
    }
  }
}

// memory_config_space with its hooks and device side, one of whose device writes fails (the index of the
// device write to fail): a device model whose register store can refuse a write.
class failing_device_transport {
 public:
  using executor_type = memory_config_space::executor_type;
  static constexpr bool nonblocking_access = true;
  explicit failing_device_transport(memory_config_space& space) : space_(space) {}
  [[nodiscard]] executor_type get_executor() const { return space_.get_executor(); }
  [[nodiscard]] std::size_t size() const { return space_.size(); }
  std::size_t read(std::size_t o, std::span<std::byte> out, boost::system::error_code& ec) { return space_.read(o, out, ec); }
  std::size_t write(std::size_t o, std::span<const std::byte> in, boost::system::error_code& ec) {
    return space_.write(o, in, ec);
  }
  template <class Token>
  auto async_read(std::size_t o, std::span<std::byte> out, Token&& token) {
    return space_.async_read(o, out, std::forward<Token>(token));
  }
  template <class Token>
  auto async_write(std::size_t o, std::span<const std::byte> in, Token&& token) {
    return space_.async_write(o, in, std::forward<Token>(token));
  }
  [[nodiscard]] errc device_read(std::size_t o, std::span<std::byte> out) const { return space_.device_read(o, out); }
  [[nodiscard]] errc device_write(std::size_t o, std::span<const std::byte> in) {
    if (device_writes++ == fail_device_write) return errc::device_error;
    return space_.device_write(o, in);
  }
  [[nodiscard]] errc set_write_mask(std::size_t o, std::span<const std::byte> mask) { return space_.set_write_mask(o, mask); }
  template <class Hook>
  write_hook_id add_write_hook(Hook hook) {
    return space_.add_write_hook(std::move(hook));
  }
  bool remove_write_hook(write_hook_id id) { return space_.remove_write_hook(id); }

  std::size_t device_writes = 0;
  std::size_t fail_device_write = ~std::size_t{0};

 private:
  memory_config_space& space_;
};
static_assert(write_observing_transport<failing_device_transport> && device_side_transport<failing_device_transport>);

// Found by the review of the look: where write hooks serve the window, the heartbeat is announced when
// async_serve starts; a failed write of that announcement was left to "the next pass", and the loop's
// passes (its first, each beat's) became looks, which restore nothing: identity stayed without HEARTBEAT
// and limits without its interval while the beat moved, for as long as the VF was idle. The next loop pass
// is now a whole one.
BOOST_AUTO_TEST_CASE(a_failed_heartbeat_announcement_is_restored_by_the_serving_loops_next_pass) {
  memory_fixture<manual_timing> f({}, /*attach=*/false);
  failing_device_transport transport(f.space);
  const auto placed = f.pf->attach_mailbox(0, transport);  // write hooks: nothing announced until serving
  BOOST_REQUIRE(placed.has_value());
  f.window = *placed;
  raw_vf vf = f.vf();
  BOOST_REQUIRE((vf.u32(reg::identity) >> 16 & mailbox::capability::heartbeat) == 0u);
  transport.fail_device_write = transport.device_writes;  // the announcement's first write (limits)
  serve_result served;
  f.pf->async_serve(0, served.handler());
  BOOST_REQUIRE(transport.device_writes > transport.fail_device_write);  // tried, and failed
  f.settle();  // the loop's first pass
  BOOST_TEST((vf.u32(reg::identity) >> 16 & mailbox::capability::heartbeat) != 0u);
  BOOST_TEST((vf.u32(reg::limits) >> 16) == 100u);
  for (std::uint64_t t = 1'000'000; t <= 250'000'000; t += 1'000'000) {
    f.timing.advance_to(t);
    f.settle();
  }
  BOOST_TEST(vf.status().heartbeat == 2u);
  BOOST_TEST(served.calls == 0);
  BOOST_TEST(!f.pf->detach_mailbox(0));
  f.settle();
  BOOST_TEST(served.calls == 1);
}

BOOST_AUTO_TEST_CASE(case_14_an_invalidation_on_an_asynchronous_transport_is_published_by_the_loop_at_once) {
  memory_fixture<manual_timing> f({}, /*attach=*/false);
  plain_transport<false> transport(f.space);
  mailbox_options options;
  options.polling = {1ms, 8ms};
  auto placed = f.pf->attach_mailbox(0, transport, options);
  BOOST_REQUIRE(placed.has_value());
  f.window = *placed;
  raw_vf vf = f.vf();
  serve_result served;
  f.pf->async_serve(0, served.handler());
  for (auto t : {0ms, 1ms, 3ms}) {
    f.timing.advance_to(to_nanoseconds(t));
    f.settle();
  }
  BOOST_TEST(transport.looks == 3u);  // next poll at 7 ms
  BOOST_TEST(transport.passes == 0u);
  // No blocking I/O inside invalidate(): the loop is woken and publishes before the timer is due, with a
  // whole pass (a publish asks for one: no look).
  BOOST_TEST(!f.pf->invalidate(0, bit(9)));
  BOOST_TEST(vf.mask() == 0u);
  f.settle();
  BOOST_TEST(transport.looks == 3u);
  BOOST_TEST(transport.passes == 1u);
  BOOST_TEST(vf.mask() == (std::uint64_t{1} << 9));
  BOOST_TEST(vf.status().invalidated);
  BOOST_TEST(served.calls == 0);
  BOOST_TEST(!f.pf->detach_mailbox(0));
  f.settle();
  BOOST_TEST(served.calls == 1);
}

// 256 VFs, each in its own config space, served by one PF on one thread (their async_serve loops keep the
// heartbeat on one io_context); each VF's write makes the PF's handler invalidate that VF's block 2 from
// inside on_write. The VFs are scripted (tests/pf_mailbox_many_vfs_test.cpp runs vf_endpoints).
BOOST_AUTO_TEST_CASE(case_14_256_vfs_over_memory_served_on_one_thread) {
  constexpr std::size_t count = 256;
  boost::asio::io_context io;
  manual_timing timing;
  std::vector<std::unique_ptr<memory_config_space>> spaces;  // outlive the endpoint
  auto pf = std::make_unique<pf_endpoint<count, manual_timing>>(engine::pf_limits{}, timing);
  std::vector<serve_result> served(count);
  auto handler = std::make_shared<function_block_handler>(
      [](vf_index vf, block_id, std::span<std::byte> out, std::size_t& bytes) {
        le::store_u32(out.data(), 0xA0000000u + vf);
        bytes = 4;
        return ntstatus::success;
      },
      [&pf](vf_index vf, block_id, std::span<const std::byte> data) {
        (void)pf->blocks().store(vf, block_id{2}, data);
        return pf->invalidate(vf, bit(2)) ? ntstatus::unsuccessful : ntstatus::success;
      });
  std::vector<raw_vf> vfs;
  for (std::size_t i = 0; i < count; ++i) {
    const auto vf = static_cast<vf_index>(i);
    BOOST_REQUIRE(!pf->register_vf(vf, static_cast<std::uint16_t>(0x100 + i)));
    BOOST_REQUIRE(!pf->define_block(vf, block_id{1}, std::array<std::byte, 4>{}, block_access::read_write, handler));
    BOOST_REQUIRE(!pf->define_block(vf, block_id{2}, std::array<std::byte, 4>{}, block_access::read_only));
    spaces.push_back(std::make_unique<memory_config_space>(io, 4096));
    auto placed = pf->attach_mailbox(vf, *spaces.back());
    BOOST_REQUIRE(placed.has_value());
    vfs.push_back(raw_vf{*spaces.back(), *placed});
    pf->async_serve(vf, served[i].handler());
  }
  handler.reset();  // the PF owns it now
  io.poll();
  BOOST_TEST(timing.armed() == count);  // one heartbeat timer per window
  for (std::size_t i = 0; i < count; ++i) {
    BOOST_TEST_CONTEXT("vf " << i) {
      raw_vf& vf = vfs[i];
      vf.request(op_read, 1, 4);
      BOOST_TEST(vf.succeeded(4));
      BOOST_TEST(le::load_u32(vf.data(4).data()) == 0xA0000000u + i);
      vf.write_data(u32_bytes(0xB0000000u + static_cast<std::uint32_t>(i)));
      vf.request(op_write, 1, 4);
      BOOST_TEST(vf.succeeded(4));
      BOOST_TEST(vf.mask() == 0b100u);
      BOOST_TEST(vf.status().invalidated);
      vf.write_u32(reg::invalidate_ack_low, 0b100);
      BOOST_TEST(vf.mask() == 0u);
      vf.request(op_read, 2, 4);
      BOOST_TEST(vf.succeeded(4));
      BOOST_TEST(le::load_u32(vf.data(4).data()) == 0xB0000000u + i);  // its own write, nobody else's
    }
  }
  // Time passes: every window's heartbeat advances once, from the one thread.
  timing.advance(100ms);
  io.poll();
  for (std::size_t i = 0; i < count; ++i) BOOST_TEST(vfs[i].status().heartbeat == 1u, "vf " << i);
  for (std::size_t v = 0; v < count; ++v) BOOST_TEST(!pf->detach_mailbox(static_cast<vf_index>(v)));
  io.poll();
  for (std::size_t i = 0; i < count; ++i) {
    BOOST_TEST_CONTEXT("vf " << i) {
      BOOST_TEST(served[i].calls == 1);
      BOOST_TEST(!served[i].ec);
      BOOST_TEST((pf->blocks().quarantined(static_cast<vf_index>(i)) == quarantine_reason::none));
    }
  }
  BOOST_TEST(timing.armed() == 0u);
}
// ---- case 13: PF-owned registers --------------------------------------------------------------------

// On a transport that makes them read-only (as a device does), a VF's write there never takes effect: the
// PF does not see it, nothing is counted, nobody is quarantined.
BOOST_AUTO_TEST_CASE(case_13_pf_owned_registers_are_read_only_to_the_vf_as_on_a_device) {
  memory_fixture f;
  raw_vf vf = f.vf();
  vf.request(op_read, 5, block5_size);
  BOOST_REQUIRE(vf.answered());
  const auto before = snapshot(f.space);
  const auto counters = f.pf->blocks().counters(0);
  // The DVSEC headers, identity, limits, status, result and the mask.
  for (std::uint16_t offset : {reg::ext_header, reg::dvsec_header1, reg::dvsec_header2, reg::identity, reg::limits,
                               reg::status, reg::result, reg::invalidate_mask_low, reg::invalidate_mask_high}) {
    vf.write_u32(offset, 0xDEADBEEF);
  }
  BOOST_TEST(snapshot(f.space) == before, boost::test_tools::per_element());
  BOOST_TEST(f.pf->blocks().counters(0).dropped == counters.dropped);
  BOOST_TEST(f.pf->blocks().counters(0).violations == 0u);
  BOOST_TEST((f.pf->blocks().quarantined(0) == quarantine_reason::none));
  vf.request(op_read, 5, block5_size);
  BOOST_TEST(vf.succeeded(block5_size));
}

// A transport that cannot protect bits lets the write land; the PF undoes it at its next service, counts
// it as dropped, and does not quarantine (the outcome a device gives, as far as it can be given).
BOOST_AUTO_TEST_CASE(case_13_on_a_transport_without_write_protection_the_pf_undoes_the_write) {
  memory_fixture<manual_timing> f({}, /*attach=*/false);
  plain_transport<true> transport(f.space);
  auto placed = f.pf->attach_mailbox(0, transport);
  BOOST_REQUIRE(placed.has_value());
  f.window = *placed;
  raw_vf vf = f.vf();
  vf.request(op_read, 5, block5_size);
  BOOST_TEST(!f.pf->service(0));
  BOOST_REQUIRE(vf.succeeded(block5_size));
  const std::uint32_t status = vf.u32(reg::status);
  const std::uint32_t identity = vf.u32(reg::identity);
  vf.write_u32(reg::status, 0xDEADBEEF);
  vf.write_u32(reg::identity, 0);
  vf.write_u32(reg::result, 7);
  BOOST_TEST(vf.u32(reg::status) == 0xDEADBEEFu);  // it got through
  BOOST_TEST(!f.pf->service(0));
  BOOST_TEST(vf.u32(reg::status) == status);
  BOOST_TEST(vf.u32(reg::identity) == identity);
  BOOST_TEST(vf.u32(reg::result) == 0u);
  BOOST_TEST(f.pf->blocks().counters(0).dropped == 1u);
  BOOST_TEST(f.pf->blocks().counters(0).violations == 0u);
  BOOST_TEST((f.pf->blocks().quarantined(0) == quarantine_reason::none));
  vf.request(op_read, 5, block5_size);
  BOOST_TEST(!f.pf->service(0));
  BOOST_TEST(vf.succeeded(block5_size));
}

// ---- the PF's view of a VF's config space (NdisMGet/SetVirtualFunctionBusData) ----------------------

BOOST_AUTO_TEST_CASE(read_and_write_vf_config_transfer_bytes_as_the_device) {
  memory_fixture f;
  // The device writes bits the driver side cannot: make 0x40..0x43 read-only to the driver first.
  BOOST_REQUIRE(f.space.set_register_kind(0x40, 4, register_kind::read_only) == no_error);
  int user_hook_calls = 0;
  f.space.set_write_hook([&](std::size_t, std::size_t) { ++user_hook_calls; });
  const std::array<std::byte, 6> data{std::byte{1}, std::byte{2}, std::byte{3}, std::byte{4}, std::byte{5}, std::byte{6}};
  BOOST_TEST(f.pf->write_vf_config(0, 0x40, data) == 6u);
  std::array<std::byte, 6> back{};
  BOOST_TEST(f.pf->read_vf_config(0, 0x40, back) == 6u);
  BOOST_TEST(back == data, boost::test_tools::per_element());
  BOOST_TEST(user_hook_calls == 0);  // the device's own writes are not driver writes
  // The error_code forms.
  boost::system::error_code ec = errc::timeout;
  BOOST_TEST(f.pf->read_vf_config(0, 0x41, std::span(back).first(2), ec) == 2u);
  BOOST_TEST(!ec);
  BOOST_TEST(std::to_integer<int>(back[0]) == 2);
  // The DVSEC headers of the window are capability structure, not protocol: the PF may read and write them
  // (to link another capability after it, say).
  std::array<std::byte, 12> header{};
  BOOST_TEST(f.pf->read_vf_config(0, f.window, header, ec) == 12u);
  BOOST_TEST(!ec);
  BOOST_TEST(le::load_u32(header.data()) == 0x00010023u);      // DVSEC, version 1, the list's end
  BOOST_TEST(le::load_u32(header.data() + 4) == 0x0B820000u);  // vendor 0000 (this space's), revision 2, 0xB8 bytes
  BOOST_TEST(le::load_u32(header.data() + 8) == 0x00005650u);  // DVSEC ID
  BOOST_TEST(f.pf->write_vf_config(0, f.window, std::span(header).first(4), ec) == 4u);
  BOOST_TEST(!ec);
  // Right after the window is free space again.
  BOOST_TEST(f.pf->write_vf_config(0, f.window + mailbox::window_size, std::span(data).first(4), ec) == 4u);
  BOOST_TEST(!ec);
}

BOOST_AUTO_TEST_CASE(read_and_write_vf_config_refusals_return_0_and_change_nothing) {
  memory_fixture f;
  (void)f.pf->register_vf(1, 0x0102);  // registered, no mailbox
  const auto before = snapshot(f.space);
  struct refusal {
    const char* what;
    vf_index vf;
    std::size_t offset;
    std::size_t length;
    errc expected;
  };
  const refusal refusals[] = {
      {"VF without a mailbox", 1, 0x40, 4, errc::not_found},
      {"unregistered VF", 3, 0x40, 4, errc::not_found},
      {"past the end", 0, 4094, 4, errc::out_of_range},
      {"offset past the size", 0, 4097, 1, errc::out_of_range},
      {"huge offset", 0, ~std::size_t{0} - 1, 4, errc::out_of_range},
      {"empty", 0, 0x40, 0, errc::invalid_argument},
      {"first protocol register", 0, f.window + reg::identity, 4, errc::access_denied},
      {"header into protocol", 0, f.window + 8, 8, errc::access_denied},
      {"status area", 0, f.window + reg::status, 4, errc::access_denied},
      {"last data byte", 0, f.window + mailbox::window_size - 1, 1, errc::access_denied},
      {"across the whole window", 0, f.window - 4, mailbox::window_size + 8, errc::access_denied},
  };
  for (const refusal& r : refusals) {
    BOOST_TEST_CONTEXT(r.what) {
      std::vector<std::byte> buffer(r.length, std::byte{0xEE});
      std::vector<std::byte> source(r.length, std::byte{0x5A});
      boost::system::error_code ec;
      BOOST_TEST(f.pf->read_vf_config(r.vf, r.offset, buffer, ec) == 0u);
      BOOST_TEST((ec == r.expected));
      BOOST_TEST(f.pf->read_vf_config(r.vf, r.offset, buffer) == 0u);  // NDIS: 0 on failure
      BOOST_TEST(buffer == std::vector<std::byte>(r.length, std::byte{0xEE}), boost::test_tools::per_element());
      ec = {};
      BOOST_TEST(f.pf->write_vf_config(r.vf, r.offset, source, ec) == 0u);
      BOOST_TEST((ec == r.expected));
      BOOST_TEST(f.pf->write_vf_config(r.vf, r.offset, source) == 0u);
      BOOST_TEST(snapshot(f.space) == before, boost::test_tools::per_element());
    }
  }
}

BOOST_AUTO_TEST_CASE(read_vf_config_passes_a_transport_error_through_unchanged) {
  memory_fixture f({}, /*attach=*/false);
  fault_injecting_transport<memory_config_space&> transport(f.space);
  auto placed = f.pf->attach_mailbox(0, transport);
  BOOST_REQUIRE(placed.has_value());
  transport.fail_at(transport.operation_count(), make_error_code(boost::system::errc::io_error));
  std::array<std::byte, 4> buffer{};
  boost::system::error_code ec;
  BOOST_TEST(f.pf->read_vf_config(0, 0x40, buffer, ec) == 0u);
  BOOST_TEST((ec == boost::system::errc::io_error));
  BOOST_TEST((ec.category() == boost::system::generic_category()));
  BOOST_TEST(f.pf->read_vf_config(0, 0x40, buffer, ec) == 4u);  // failed once only
  BOOST_TEST(!ec);
}

BOOST_AUTO_TEST_CASE(write_vf_config_on_shared_memory_signals_the_vf_once) {
  boost::asio::io_context io;
  auto device = shm_config_space::create_anonymous(io.get_executor(), 4096);
  pf_endpoint<2> pf;
  BOOST_REQUIRE(!pf.register_vf(0, 0x0101));
  BOOST_REQUIRE(pf.attach_mailbox(0, device).has_value());
  const std::uint32_t seen = device.doorbell_sequence(shm_doorbell::to_driver);
  const std::vector<std::byte> data = pattern(12, 3);
  BOOST_TEST(pf.write_vf_config(0, 0x40, data) == 12u);
  BOOST_TEST(device.doorbell_sequence(shm_doorbell::to_driver) == seen + 1);
  std::vector<std::byte> back(12);
  BOOST_TEST(pf.read_vf_config(0, 0x40, back) == 12u);
  BOOST_TEST(back == data, boost::test_tools::per_element());
}

// ---- handlers: owned, and free to call back into the endpoint ----------------------------------------

BOOST_AUTO_TEST_CASE(invalidate_from_inside_on_write_is_published_right_after_the_answer) {
  for (const bool hooks : {true, false}) {
    BOOST_TEST_CONTEXT((hooks ? "served inside the VF's write" : "served by async_serve on the peer's writes")) {
      memory_fixture<manual_timing> f({}, /*attach=*/false);
      int writes = 0;
      auto handler = std::make_shared<function_block_handler>(nullptr, [&](vf_index vf, block_id, std::span<const std::byte>) {
        ++writes;
        BOOST_TEST(!f.pf->invalidate(vf, bit(7)));
        BOOST_TEST(!f.pf->invalidate(vf, bit(40)));
        return ntstatus::success;
      });
      BOOST_REQUIRE(!f.pf->define_block(0, block_id{6}, std::array<std::byte, 8>{}, block_access::write_only, handler));
      mailbox_options options;
      options.service_on_write = hooks;
      options.polling = {1ms, 1ms};
      auto placed = f.pf->attach_mailbox(0, f.space, options);
      BOOST_REQUIRE(placed.has_value());
      f.window = *placed;
      serve_result served;
      if (!hooks) f.pf->async_serve(0, served.handler());
      f.settle();
      raw_vf vf = f.vf();
      vf.write_data(pattern(8, 0x30));
      vf.request(op_write, 6, 8);
      if (!hooks) {
        f.timing.advance(1ms);
        f.settle();
      }
      BOOST_TEST(writes == 1);
      BOOST_TEST(vf.succeeded(8));
      BOOST_TEST(vf.mask() == ((std::uint64_t{1} << 7) | (std::uint64_t{1} << 40)));
      BOOST_TEST(vf.status().invalidated);
      // Two updates: the answer, then the invalidations (no nested service in between).
      BOOST_TEST((f.pf->mailbox_session(0)->last_event() == engine::mailbox_event::invalidation));
      BOOST_TEST(f.pf->mailbox_session(0)->last_sequence() == 1u);
      if (!hooks) {
        BOOST_TEST(!f.pf->detach_mailbox(0));
        f.settle();
        BOOST_TEST(served.calls == 1);
      }
    }
  }
}

// A handler that redefines or removes its own block lets go of itself; the endpoint keeps it alive until
// it has returned, then releases it.
BOOST_AUTO_TEST_CASE(a_handler_may_release_itself_from_inside_on_write) {
  memory_fixture f;
  std::weak_ptr<engine::block_handler> watch;
  {
    auto handler = std::make_shared<function_block_handler>(nullptr, [&](vf_index vf, block_id id, std::span<const std::byte>) {
      BOOST_TEST(!f.pf->define_block(vf, id, std::array<std::byte, 8>{}, block_access::read_write));  // no handler now
      BOOST_TEST(!watch.expired());  // still running, still alive
      return ntstatus::success;
    });
    watch = handler;
    BOOST_REQUIRE(!f.pf->define_block(0, block_id{6}, std::array<std::byte, 8>{}, block_access::read_write, handler));
  }
  BOOST_TEST(!watch.expired());  // owned by the endpoint
  raw_vf vf = f.vf();
  vf.write_data(pattern(8, 0x30));
  vf.request(op_write, 6, 8);
  BOOST_TEST(vf.succeeded(8));
  BOOST_TEST(watch.expired());  // released once the dispatch ended
  // Removing the VF from inside a handler: the request goes unanswered (the window is no longer the VF's:
  // nothing more is written to it), the VF is gone afterwards.
  BOOST_REQUIRE(!f.pf->define_block(0, block_id{6}, std::array<std::byte, 8>{}, block_access::read_write,
                                    std::make_shared<function_block_handler>(nullptr, [&](vf_index vf, block_id, std::span<const std::byte>) {
                                      BOOST_TEST(!f.pf->remove_vf(vf));
                                      return ntstatus::success;
                                    })));
  vf.write_data(pattern(8, 0x31));
  const std::uint32_t status_before = vf.u32(reg::status);
  vf.request(op_write, 6, 8);
  BOOST_TEST(!vf.answered());
  BOOST_TEST(vf.u32(reg::status) == status_before);
  BOOST_TEST(!f.pf->blocks().registered(0));
  BOOST_TEST(f.pf->mailbox_session(0) == nullptr);
  vf.request(op_read, 5, block5_size);  // nobody serves the window any more
  BOOST_TEST(!vf.answered());
}

// ---- async_serve's own contract ------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(async_serve_errors_cancellation_and_removal) {
  memory_fixture<manual_timing> f({}, /*attach=*/false);
  plain_transport<true> transport(f.space);
  mailbox_options options;
  options.polling = {1ms, 1ms};
  auto placed = f.pf->attach_mailbox(0, transport, options);
  BOOST_REQUIRE(placed.has_value());
  f.window = *placed;
  auto on_io = [&](serve_result& r) { return boost::asio::bind_executor(f.io, r.handler()); };

  serve_result unknown;
  f.pf->async_serve(2, on_io(unknown));  // no mailbox for VF 2
  serve_result first, second;
  boost::asio::cancellation_signal cancel;
  f.pf->async_serve(0, boost::asio::bind_cancellation_slot(cancel.slot(), first.handler()));
  f.pf->async_serve(0, second.handler());  // already being served
  BOOST_TEST(unknown.calls + first.calls + second.calls == 0);  // never inline
  f.settle();
  BOOST_TEST(unknown.calls == 1);
  BOOST_TEST((unknown.ec == errc::not_found));
  BOOST_TEST(second.calls == 1);
  BOOST_TEST((second.ec == errc::invalid_argument));
  BOOST_TEST(first.calls == 0);
  BOOST_TEST(transport.looks == 1u);
  BOOST_TEST(transport.passes == 0u);

  cancel.emit(boost::asio::cancellation_type::terminal);
  BOOST_TEST(first.calls == 0);  // completes through the executor
  f.settle();
  BOOST_TEST(first.calls == 1);
  BOOST_TEST((first.ec == errc::cancelled));
  f.timing.advance(10ms);
  f.settle();
  BOOST_TEST(transport.looks == 1u);  // not serving any more
  BOOST_TEST(f.timing.armed() == 0u);

  // The attachment stayed: it can be served again; removing the VF ends that with vf_removed.
  serve_result third;
  f.pf->async_serve(0, third.handler());
  f.settle();
  BOOST_TEST(transport.looks == 2u);
  BOOST_TEST(transport.passes == 0u);  // the window as the attach left it: nothing to serve
  raw_vf vf = f.vf();
  vf.request(op_read, 5, block5_size);
  f.timing.advance(1ms);
  f.settle();
  BOOST_TEST(vf.answered());
  BOOST_TEST(!f.pf->remove_vf(0));
  f.settle();
  BOOST_TEST(third.calls == 1);
  BOOST_TEST((third.ec == errc::vf_removed));
  BOOST_TEST(f.timing.armed() == 0u);
}

// A serving cancelled (its completion posted, its slot armed until that runs), then served again at once:
// an emit on the first serving's slot stopped the second, an operation it was never bound to. (Write hooks
// serve this window and it keeps no heartbeat, so a cancellation ends the serving at once.)
BOOST_AUTO_TEST_CASE(a_cancelled_servings_slot_does_not_stop_the_serving_started_after_it) {
  mailbox_options options;
  options.heartbeat = 0ms;
  memory_fixture<manual_timing> f(options);
  serve_result first, second;
  boost::asio::cancellation_signal cancel;
  f.pf->async_serve(0, boost::asio::bind_cancellation_slot(cancel.slot(), first.handler()));
  f.settle();
  cancel.emit(boost::asio::cancellation_type::terminal);
  f.pf->async_serve(0, second.handler());  // the first completion has not run yet
  cancel.emit(boost::asio::cancellation_type::terminal);
  f.settle();
  BOOST_TEST(first.calls == 1);
  BOOST_TEST((first.ec == errc::cancelled));
  BOOST_TEST(second.calls == 0);  // still serving
  BOOST_TEST(!f.pf->remove_vf(0));
  f.settle();
  BOOST_TEST(second.calls == 1);
  BOOST_TEST((second.ec == errc::vf_removed));
}

// A transport failing in the middle of an update ends serving with its error, unchanged; the next pass
// finishes that update first, so the VF never takes half an answer for a whole one.
BOOST_AUTO_TEST_CASE(async_serve_ends_on_a_transport_error_and_the_interrupted_update_is_finished_later) {
  // The answer is two writes: the data, then status.
  for (std::size_t failing_write = 0; failing_write < 2; ++failing_write) {
    BOOST_TEST_CONTEXT("failing write " << failing_write) {
      memory_fixture<manual_timing> f({}, /*attach=*/false);
      fault_injecting_transport<memory_config_space&> transport(f.space);
      mailbox_options options;
      options.polling = {1ms, 1ms};
      auto placed = f.pf->attach_mailbox(0, transport, options);
      BOOST_REQUIRE(placed.has_value());
      f.window = *placed;
      serve_result served;
      f.pf->async_serve(0, served.handler());
      f.settle();  // the first (idle) poll: one read
      raw_vf vf = f.vf();
      vf.request(op_read, 5, block5_size);
      // The next poll reads the window (operation n), then writes the answer (n+1 ...).
      transport.fail_at(transport.operation_count() + 1 + failing_write, make_error_code(boost::system::errc::io_error));
      f.timing.advance(1ms);
      f.settle();
      BOOST_TEST(transport.fault_triggered());
      BOOST_TEST(served.calls == 1);
      BOOST_TEST((served.ec == boost::system::errc::io_error));
      BOOST_TEST(!vf.answered());
      BOOST_TEST(f.timing.armed() == 0u);
      // The synchronous entry finishes the update and the VF gets the whole answer.
      BOOST_TEST(!f.pf->service(0));
      BOOST_TEST(vf.succeeded(block5_size));
      BOOST_TEST(vf.data(block5_size) == pattern(block5_size, 0x10), boost::test_tools::per_element());
      BOOST_TEST((f.pf->blocks().quarantined(0) == quarantine_reason::none));
      BOOST_TEST(f.pf->blocks().counters(0).dropped == 0u);
      BOOST_TEST(f.pf->blocks().counters(0).reads == 1u);  // served once, not again
    }
  }
}

BOOST_AUTO_TEST_CASE(attach_mailbox_refusals_attach_nothing) {
  memory_fixture f({}, /*attach=*/false);
  const auto before = snapshot(f.space);
  mailbox_options bad;
  bad.polling = {0ms, 1ms};
  auto refused = f.pf->attach_mailbox(0, f.space, bad);
  BOOST_TEST((refused.error() == errc::invalid_argument));
  bad.polling = {2ms, 1ms};
  BOOST_TEST((f.pf->attach_mailbox(0, f.space, bad).error() == errc::invalid_argument));
  mailbox_options bad_heartbeat;
  bad_heartbeat.heartbeat = 65536ms;
  BOOST_TEST((f.pf->attach_mailbox(0, f.space, bad_heartbeat).error() == errc::invalid_argument));
  bad_heartbeat.heartbeat = -1ms;
  BOOST_TEST((f.pf->attach_mailbox(0, f.space, bad_heartbeat).error() == errc::invalid_argument));
  BOOST_TEST((f.pf->attach_mailbox(3, f.space).error() == errc::not_found));
  memory_config_space small(f.io, 256);  // no extended space
  BOOST_TEST((f.pf->attach_mailbox(0, small).error() == errc::insufficient_resources));
  BOOST_TEST(snapshot(f.space) == before, boost::test_tools::per_element());
  BOOST_TEST(f.pf->mailbox_session(0) == nullptr);
  BOOST_REQUIRE(f.pf->attach_mailbox(0, f.space).has_value());
  BOOST_TEST((f.pf->attach_mailbox(0, f.space).error() == errc::invalid_argument));

  // A shared-memory view in the driver role cannot protect the PF's registers: refused, bytes restored.
  auto device = shm_config_space::create_anonymous(f.io.get_executor(), 4096);
  auto driver = device.view(f.io.get_executor(), shm_role::driver);
  BOOST_REQUIRE(!f.pf->register_vf(1, 0x0102));
  std::vector<std::byte> shm_before(4096), shm_after(4096);
  boost::system::error_code ec;
  device.read(0, shm_before, ec);
  BOOST_TEST((f.pf->attach_mailbox(1, driver).error() == errc::access_denied));
  device.read(0, shm_after, ec);
  BOOST_TEST(shm_after == shm_before, boost::test_tools::per_element());
  BOOST_TEST(f.pf->mailbox_session(1) == nullptr);
}

// Fail at every step of attaching: the transport's error comes back unchanged, the space is as it was
// (nothing linked, the window's bytes restored), nothing is attached, and a later attach works.
BOOST_AUTO_TEST_CASE(attach_mailbox_fails_cleanly_at_every_step) {
  bool reached_the_end = false;
  for (std::size_t step = 0; step < 64 && !reached_the_end; ++step) {
    BOOST_TEST_CONTEXT("failing operation " << step) {
      memory_fixture f({}, /*attach=*/false);
      // An existing capability, so that the window is linked from it (not the list's head).
      BOOST_REQUIRE(f.space.device_write(0x100, u32_bytes(0x0001000Bu)) == no_error);  // VSEC, next 0
      BOOST_REQUIRE(f.space.device_write(0x104, u32_bytes((0x010u << 20) | (1u << 16) | 0x1234u)) == no_error);
      const auto before = snapshot(f.space);
      fault_injecting_transport<memory_config_space&> transport(f.space);
      transport.fail_at(step, make_error_code(boost::system::errc::io_error));
      std::vector<std::size_t> written;  // dword accesses of the PF's writes, in order
      f.space.set_access_observer([&](access_direction direction, std::size_t offset, std::size_t) {
        if (direction == access_direction::write) written.push_back(offset);
      });
      auto placed = f.pf->attach_mailbox(0, transport);
      if (!transport.fault_triggered()) {
        reached_the_end = true;
        BOOST_REQUIRE(placed.has_value());
        BOOST_TEST(*placed != 0x100u);
        BOOST_TEST(config::find_mailbox(snapshot(f.space)).has_value());
        // The window is complete before anything makes it reachable: its DVSEC headers, capability ID
        // last, then the link from the capability at 0x100.
        BOOST_REQUIRE(written.size() >= 4u);
        BOOST_TEST(written[written.size() - 4] == *placed + 4);
        BOOST_TEST(written[written.size() - 3] == *placed + 8);
        BOOST_TEST(written[written.size() - 2] == *placed);
        BOOST_TEST(written.back() == 0x100u);
        continue;
      }
      BOOST_TEST(!placed.has_value());
      BOOST_TEST((placed.error() == boost::system::errc::io_error));
      BOOST_TEST(snapshot(f.space) == before, boost::test_tools::per_element());
      BOOST_TEST(f.pf->mailbox_session(0) == nullptr);
      transport.disarm();
      placed = f.pf->attach_mailbox(0, transport);
      BOOST_REQUIRE(placed.has_value());
      f.window = *placed;
      raw_vf vf = f.vf();
      vf.request(op_read, 5, block5_size);
      BOOST_TEST(!f.pf->service(0));
      BOOST_TEST(vf.succeeded(block5_size));
      BOOST_TEST(vf.data(block5_size) == pattern(block5_size, 0x10), boost::test_tools::per_element());
    }
  }
  BOOST_TEST(reached_the_end);
}

// ---- the window as a DVSEC, its names, re-attaching ------------------------------------------------------

BOOST_AUTO_TEST_CASE(the_window_is_a_dvsec_named_by_the_functions_vendor_or_the_options) {
  memory_fixture f({}, /*attach=*/false);
  BOOST_REQUIRE(f.space.device_write(0, u32_bytes(0x15728086u)) == no_error);  // vendor 8086, device 1572
  mailbox_options polled;  // the heartbeat announced from the attach on (with write hooks: while serving)
  polled.service_on_write = false;
  auto placed = f.pf->attach_mailbox(0, f.space, polled);
  BOOST_REQUIRE(placed.has_value());
  const auto image = snapshot(f.space);
  const auto dvsec = config::decode_dvsec(image, *placed);
  BOOST_REQUIRE(dvsec.has_value());
  BOOST_TEST((*dvsec == config::dvsec_header{static_cast<std::uint16_t>(*placed), 1, 0, 0x8086, 2, 0xB8, 0x5650}));
  BOOST_TEST(*config::find_mailbox(image) == *placed);
  BOOST_TEST(*config::find_mailbox(image, 0x8086, 0x5650) == *placed);
  BOOST_TEST((config::find_mailbox(image, 0x1AF4, 0x5650).error() == errc::not_found));
  BOOST_TEST(le::load_u32(image.data() + *placed + reg::identity) == 0x00050002u);  // invalidation, heartbeat
  BOOST_TEST(le::load_u32(image.data() + *placed + reg::limits) == 0x00642080u);    // 100 ms

  // Names of the IHV's choosing; a space with the default window already (left by VF 0's detached
  // attachment: a space is one VF's while attached), so this one goes after it.
  BOOST_REQUIRE(!f.pf->register_vf(1, 0x0102));
  BOOST_REQUIRE(!f.pf->detach_mailbox(0));
  mailbox_options named;
  named.dvsec_vendor_id = 0x1AF4;
  named.dvsec_id = 0x0042;
  named.heartbeat = 0ms;
  auto second = f.pf->attach_mailbox(1, f.space, named);
  BOOST_REQUIRE(second.has_value());
  BOOST_TEST(*second == *placed + mailbox::window_size);
  const auto both = snapshot(f.space);
  BOOST_TEST(*config::find_mailbox(both, 0x1AF4, 0x0042) == *second);
  BOOST_TEST(*config::find_mailbox(both) == *placed);
  BOOST_TEST(le::load_u32(both.data() + *second + reg::identity) == 0x00010002u);  // no heartbeat
  BOOST_TEST(le::load_u32(both.data() + *second + reg::limits) == 0x00002080u);
}

// A config space is one VF's. Attaching VF 1 to the space VF 0's attachment serves adopted VF 0's window
// in place (a restarted PF's rule), so VF 0's driver was served VF 1's blocks and wrote them. The attach is
// refused with in_use, the space and both VFs' blocks unchanged, whatever DVSEC names it asks for; once
// VF 0 is detached the space may be attached again.
BOOST_AUTO_TEST_CASE(a_config_space_attached_for_one_vf_is_refused_to_another) {
  memory_fixture f;
  BOOST_REQUIRE(!f.pf->register_vf(1, 0x0102));
  BOOST_REQUIRE(!f.pf->define_block(1, block5, pattern(block5_size, 0xB0)));
  const auto before = snapshot(f.space);
  BOOST_TEST((f.pf->attach_mailbox(1, f.space).error() == errc::in_use));
  mailbox_options named;
  named.dvsec_vendor_id = 0x1AF4;
  named.dvsec_id = 0x0042;
  BOOST_TEST((f.pf->attach_mailbox(1, f.space, named).error() == errc::in_use));
  BOOST_TEST((snapshot(f.space) == before));
  BOOST_TEST(f.pf->mailbox_session(1) == nullptr);

  // VF 0's driver is still served VF 0's block, and its write reaches VF 0's block alone.
  raw_vf vf = f.vf();
  vf.request(op_read, 5, block5_size);
  BOOST_TEST(vf.succeeded(block5_size));
  BOOST_TEST(vf.data(block5_size) == pattern(block5_size, 0x10), boost::test_tools::per_element());
  vf.write_data(pattern(block5_size, 0x77));
  vf.request(op_write, 5, block5_size);
  BOOST_TEST(vf.answered());
  const auto contents = [&](vf_index v) {
    const auto bytes = f.pf->blocks().contents(v, block5);
    return std::vector<std::byte>(bytes.begin(), bytes.end());
  };
  BOOST_TEST(contents(0) == pattern(block5_size, 0x77), boost::test_tools::per_element());
  BOOST_TEST(contents(1) == pattern(block5_size, 0xB0), boost::test_tools::per_element());

  // Another space takes VF 1; after VF 0's detach, VF 0's space may be attached again.
  memory_config_space other{f.io, 4096};
  BOOST_TEST(f.pf->attach_mailbox(1, other).has_value());
  BOOST_REQUIRE(!f.pf->detach_mailbox(0));
  BOOST_TEST(f.pf->attach_mailbox(0, f.space).has_value());
  f.pf.reset();  // before `other`, which VF 1's attachment uses
}

// A block handler that resets its VF (remove_vf, register_vf, attach_mailbox on the same space, as an FLR
// handler does): the removed VF's session then wrote its answer over the window the new attachment had just
// initialised, so the window showed the old epoch with the request acknowledged and the handler's bytes in
// the data registers, where the VF registered again must inherit nothing (the test above): a VF endpoint
// took the removed VF's bytes as its read's success and failed its next read, the new registration's
// first, with peer_restarted. A detached
// attachment now writes nothing more: the request goes unanswered and the VF sees the new epoch. On each
// of the serving paths (write hooks; a polled transport's inline and asynchronous accesses).
BOOST_AUTO_TEST_CASE(a_vf_reset_by_its_own_block_handler_inherits_nothing_of_the_removed_vfs_answer) {
  const auto reset_handler = [](auto& f, auto attach_again) {
    return std::make_shared<function_block_handler>(
        [&f, attach_again](vf_index vf, block_id, std::span<std::byte> out, std::size_t& bytes) {
          BOOST_TEST(!f.pf->remove_vf(vf));
          BOOST_TEST(!f.pf->register_vf(vf, 0x0101));
          BOOST_TEST(!f.pf->define_block(vf, block_id{2}, pattern(4, 0x40)));
          BOOST_TEST(attach_again(vf));
          std::fill(out.begin(), out.end(), std::byte{0xEE});
          bytes = 16;
          return ntstatus::success;
        },
        nullptr);
  };
  const auto check_reset = [](const raw_vf& vf, std::uint8_t old_epoch) {
    BOOST_TEST(!vf.answered());
    BOOST_TEST(vf.status().epoch != old_epoch);
    BOOST_TEST(vf.status().epoch != 0);
    BOOST_TEST(vf.u32(reg::request_block) == 0u);
    BOOST_TEST(vf.data(mailbox::data_window_size) == std::vector<std::byte>(mailbox::data_window_size),
               boost::test_tools::per_element());
  };
  BOOST_TEST_CONTEXT("write hooks") {
    memory_fixture f;
    BOOST_REQUIRE(!f.pf->define_block(0, block_id{7}, std::array<std::byte, 16>{}, block_access::read_write,
                                      reset_handler(f, [&f](vf_index vf) { return f.pf->attach_mailbox(vf, f.space).has_value(); })));
    raw_vf vf = f.vf();
    const std::uint8_t old_epoch = vf.status().epoch;
    vf.request(op_read, 7, 16);
    check_reset(vf, old_epoch);
    vf.sequence = 0;  // the VF resynchronises with the new epoch: its next sequence is 1 (docs/protocol.md 7)
    vf.request(op_read, 2, 4);
    BOOST_TEST(vf.succeeded(4));
    BOOST_TEST(vf.data(4) == pattern(4, 0x40), boost::test_tools::per_element());
  }
  BOOST_TEST_CONTEXT("a VF endpoint, write hooks") {
    // What a VF driver sees: the read whose handler reset the VF ends with peer_restarted (its outcome
    // unknown to the VF), and the next read is served by the new registration.
    memory_fixture<manual_timing> f;
    BOOST_REQUIRE(!f.pf->define_block(0, block_id{7}, std::array<std::byte, 16>{}, block_access::read_write,
                                      reset_handler(f, [&f](vf_index vf) { return f.pf->attach_mailbox(vf, f.space).has_value(); })));
    vf_endpoint<memory_config_space, manual_timing> vf(f.space, f.window, vf_mailbox_options{}, f.timing);
    boost::system::error_code ec;
    std::array<std::byte, 16> out{};
    BOOST_TEST(vf.read_block(block_id{7}, out, ec) == 0u);
    BOOST_TEST((ec == errc::peer_restarted), ec.message());
    BOOST_TEST(out == (std::array<std::byte, 16>{}), boost::test_tools::per_element());
    std::array<std::byte, 4> block2{};
    BOOST_TEST(vf.read_block(block_id{2}, block2, ec) == 4u);
    BOOST_TEST(!ec, ec.message());
    BOOST_TEST(block2 == pattern(4, 0x40), boost::test_tools::per_element());
  }
  for (const bool nonblocking : {true, false}) {
    BOOST_TEST_CONTEXT((nonblocking ? "inline accesses" : "asynchronous accesses")) {
      memory_fixture<manual_timing> f({}, /*attach=*/false);
      mailbox_options options;
      options.polling = {1ms, 1ms};
      polled_attachment<plain_transport> transport(f, nonblocking, options);
      serve_result first, second;
      BOOST_REQUIRE(!f.pf->define_block(0, block_id{7}, std::array<std::byte, 16>{}, block_access::read_write,
                                        reset_handler(f, [&](vf_index vf) {
                                          if (!transport.with([&](auto& t) { return f.pf->attach_mailbox(vf, t, options).has_value(); }))
                                            return false;
                                          f.pf->async_serve(vf, second.handler());
                                          return true;
                                        })));
      f.pf->async_serve(0, first.handler());
      f.settle();
      raw_vf vf = f.vf();
      const std::uint8_t old_epoch = vf.status().epoch;
      vf.request(op_read, 7, 16);
      f.timing.advance(1ms);
      f.settle();
      BOOST_TEST(first.calls == 1);
      BOOST_TEST((first.ec == errc::vf_removed));
      check_reset(vf, old_epoch);
      vf.sequence = 0;
      vf.request(op_read, 2, 4);
      f.timing.advance(1ms);
      f.settle();
      BOOST_TEST(vf.succeeded(4));
      BOOST_TEST(vf.data(4) == pattern(4, 0x40), boost::test_tools::per_element());
      BOOST_TEST(second.calls == 0);
      BOOST_TEST(!f.pf->remove_vf(0));
      f.settle();
      BOOST_TEST(second.calls == 1);
    }
  }
}

// remove_vf, then register_vf at the same index and attach_mailbox on the same space: the new session took
// the window for a restarted PF's, so the next VF's driver read the removed VF's last block in the data
// window and was published the removed VF's invalidations (mask 0xF0, INVALIDATED), which the store had
// forgotten. The store now says the VF at that index was removed (mailbox_history::removed): the window
// is zeroed whole and nothing is adopted from it. A detach and re-attach of a VF still registered keeps
// its latch (the re-attach case), and a restarted PF (a new store) still adopts the window's.
BOOST_AUTO_TEST_CASE(a_vf_registered_again_at_a_removed_vfs_index_inherits_nothing_from_its_window) {
  memory_fixture f;
  raw_vf old_driver = f.vf();
  old_driver.request(op_read, 5, block5_size);
  BOOST_REQUIRE(old_driver.succeeded(block5_size));
  BOOST_REQUIRE(!f.pf->invalidate(0, block_mask{0xF0}));
  BOOST_REQUIRE(old_driver.mask() == 0xF0u);

  BOOST_REQUIRE(!f.pf->remove_vf(0));
  BOOST_TEST(!f.pf->blocks().registered(0));
  BOOST_REQUIRE(!f.pf->register_vf(0, 0x0101));
  BOOST_REQUIRE(!f.pf->define_block(0, block_id{2}, pattern(4, 0x40)));
  const auto again = f.pf->attach_mailbox(0, f.space);
  BOOST_REQUIRE(again.has_value());
  BOOST_TEST(*again == f.window);  // the DVSEC the removed VF's attachment placed, attached in place

  raw_vf next_driver = f.vf();
  BOOST_TEST(next_driver.data(mailbox::data_window_size) == std::vector<std::byte>(mailbox::data_window_size),
             boost::test_tools::per_element());
  BOOST_TEST(next_driver.mask() == 0u);
  BOOST_TEST(!next_driver.status().invalidated);
  BOOST_TEST(next_driver.status().epoch != 0);
  BOOST_TEST(next_driver.u32(reg::request_block) == 0u);
  next_driver.request(op_read, 2, 4);
  BOOST_TEST(next_driver.succeeded(4));
  BOOST_TEST(next_driver.data(4) == pattern(4, 0x40), boost::test_tools::per_element());

  // Said once: the next detach and re-attach of the registered VF publishes its own latch again.
  BOOST_REQUIRE(!f.pf->invalidate(0, block_mask{0x4}));
  BOOST_REQUIRE(next_driver.mask() == 0x4u);
  BOOST_REQUIRE(!f.pf->detach_mailbox(0));
  BOOST_REQUIRE(f.pf->attach_mailbox(0, f.space).has_value());
  BOOST_TEST(next_driver.mask() == 0x4u);
  BOOST_TEST(next_driver.status().invalidated);

  // A restarted PF (a new store, nothing removed there) adopts the latch the window shows.
  f.pf.reset();
  f.pf.emplace(engine::pf_limits{}, f.timing);
  BOOST_REQUIRE(!f.pf->register_vf(0, 0x0101));
  BOOST_REQUIRE(f.pf->attach_mailbox(0, f.space).has_value());
  BOOST_TEST(next_driver.mask() == 0x4u);
}

// A handler that throws ended the PF process (std::terminate) for every VF. Its request alone fails now:
// the VF is answered STATUS_UNSUCCESSFUL, the window serves on, and the handler is let go at once when
// its block is redefined (the endpoint's count of handler calls in progress was left raised by the throw,
// which kept every handler let go from then on).
BOOST_AUTO_TEST_CASE(a_handler_that_throws_fails_its_request_and_the_pf_serves_on) {
  memory_fixture f;
  auto handler = std::make_shared<function_block_handler>(
      [](vf_index, block_id, std::span<std::byte>, std::size_t&) -> ntstatus { throw std::runtime_error("read"); },
      [](vf_index, block_id, std::span<const std::byte>) -> ntstatus { throw std::bad_alloc(); });
  const std::weak_ptr<function_block_handler> watched = handler;
  BOOST_REQUIRE(!f.pf->define_block(0, block_id{1}, std::array<std::byte, 4>{}, engine::block_access::read_write,
                                    std::move(handler)));
  raw_vf vf = f.vf();
  vf.request(op_read, 1, 4);
  BOOST_TEST(vf.answered());
  BOOST_TEST(vf.status().failed);
  BOOST_TEST(vf.u32(reg::result) == 0xC0000001u);  // STATUS_UNSUCCESSFUL
  vf.write_data(pattern(4, 0x01));
  vf.request(op_write, 1, 4);
  BOOST_TEST(vf.answered());
  BOOST_TEST(vf.u32(reg::result) == 0xC0000001u);
  BOOST_TEST(f.pf->blocks().counters(0).refused == 2u);

  vf.request(op_read, 5, block5_size);
  BOOST_TEST(vf.succeeded(block5_size));
  BOOST_REQUIRE(!f.pf->define_block(0, block_id{1}, pattern(4, 0x20)));
  BOOST_TEST(watched.expired());
  vf.request(op_read, 1, 4);
  BOOST_TEST(vf.succeeded(4));
  BOOST_TEST(vf.data(4) == pattern(4, 0x20), boost::test_tools::per_element());
}

// A VF's config space reads vendor ID 0xFFFF (PCIe SR-IOV: the VF has its PF's vendor ID, which its own
// header does not hold). The default "the function's own vendor ID" then named no vendor: the PF placed a
// DVSEC of vendor 0xFFFF, and a VF's find_mailbox looked for vendor 0xFFFF. The PF now refuses to default
// (the PF's vendor ID must be named) and the VF's default takes the DVSEC 0x5650 of any vendor.
BOOST_AUTO_TEST_CASE(a_vfs_header_reading_vendor_ffff_names_no_dvsec_vendor) {
  memory_fixture f({}, /*attach=*/false);
  BOOST_REQUIRE(f.space.device_write(0, u32_bytes(0xFFFFFFFFu)) == no_error);  // a VF: vendor and device 0xFFFF
  const auto before = snapshot(f.space);
  BOOST_TEST((f.pf->attach_mailbox(0, f.space).error() == errc::invalid_argument));
  BOOST_TEST((snapshot(f.space) == before));  // nothing placed
  BOOST_TEST(f.pf->mailbox_session(0) == nullptr);
  mailbox_options explicit_ffff;
  explicit_ffff.dvsec_vendor_id = 0xFFFF;
  BOOST_TEST((f.pf->attach_mailbox(0, f.space, explicit_ffff).error() == errc::invalid_argument));
  BOOST_TEST((snapshot(f.space) == before));
  mailbox_options named;
  named.dvsec_vendor_id = 0x8086;  // the PF's
  auto placed = f.pf->attach_mailbox(0, f.space, named);
  BOOST_REQUIRE(placed.has_value());
  const auto image = snapshot(f.space);
  BOOST_TEST(config::decode_dvsec(image, *placed)->vendor_id == 0x8086u);
  BOOST_TEST(*config::find_mailbox(image) == *placed);  // the VF's default: any vendor
  BOOST_TEST(*config::find_mailbox(image, 0x8086) == *placed);
  BOOST_TEST((config::find_mailbox(image, 0x1AF4).error() == errc::not_found));
  f.window = *placed;
  raw_vf vf = f.vf();
  vf.request(op_read, 5, block5_size);
  BOOST_TEST(!f.pf->service(0));
  BOOST_TEST(vf.succeeded(block5_size));
}

// A PF process that restarts attaches to the window its predecessor left (a shared-memory space outlives
// it): in place, with the next epoch, the request left unanswered cleared, and the VF's next request (any
// sequence: it resynchronised on the epoch) served, not quarantined.
BOOST_AUTO_TEST_CASE(a_restarted_pf_reattaches_with_the_next_epoch_and_the_vf_is_not_quarantined) {
  boost::asio::io_context io;
  memory_config_space space(io, 4096);
  auto make_pf = [] {
    auto pf = std::make_unique<pf_endpoint<2>>();
    BOOST_REQUIRE(!pf->register_vf(0, 0x0101));
    BOOST_REQUIRE(!pf->define_block(0, block5, pattern(block5_size, 0x10)));
    return pf;
  };
  mailbox_options options;
  options.service_on_write = false;  // the VF's request waits for a service that never comes
  auto first = make_pf();
  auto placed = first->attach_mailbox(0, space, options);
  BOOST_REQUIRE(placed.has_value());
  raw_vf vf{space, *placed};
  vf.request(op_read, 5, block5_size);
  BOOST_TEST(!first->service(0));
  BOOST_TEST(vf.succeeded(block5_size));
  BOOST_TEST(vf.status().epoch == 1u);
  vf.request(op_read, 5, block5_size);  // 2: never answered
  first.reset();                        // the PF process is gone
  BOOST_TEST(!vf.answered());

  auto second = make_pf();
  auto again = second->attach_mailbox(0, space, options);
  BOOST_REQUIRE(again.has_value());
  BOOST_TEST(*again == *placed);
  const auto walk = config::walk_extended_capabilities(snapshot(space));
  BOOST_TEST(walk.entries.size() == 1u);  // the same DVSEC, no second one
  BOOST_TEST(vf.status().epoch == 2u);
  BOOST_TEST(vf.status().ack == 0u);
  BOOST_TEST(vf.u32(reg::request) == 0u);  // the unanswered request is never run
  BOOST_TEST(!second->service(0));
  BOOST_TEST(second->blocks().counters(0).reads == 0u);
  vf.request(op_read, 5, block5_size);  // 3, after its resynchronisation
  BOOST_TEST(!second->service(0));
  BOOST_TEST(vf.succeeded(block5_size));
  BOOST_TEST((second->blocks().quarantined(0) == quarantine_reason::none));
  BOOST_TEST(second->blocks().counters(0).violations == 0u);

  // Detaching and attaching again (the same endpoint) is a re-initialisation too: the next epoch.
  BOOST_TEST(!second->detach_mailbox(0));
  BOOST_REQUIRE(second->attach_mailbox(0, space, options).has_value());
  BOOST_TEST(vf.status().epoch == 3u);
}

// A re-attach by the same endpoint (detach_mailbox, then attach_mailbox) made a new session, which took its
// latch from the window's mask registers as a restarted PF does and started without the raised-again
// bits: the VF's late acknowledgement of a first delivery took out a second raise it never saw, and a mask
// the VF wrote past the transport's read-only bits was latched as invalidations nobody raised
// (docs/protocol.md 4.3, 5.3). The store keeps the latch the session leaves at the detach.
BOOST_AUTO_TEST_CASE(a_reattach_by_the_same_pf_keeps_its_latch_and_raised_again_bits_not_the_windows_mask) {
  memory_fixture f;
  raw_vf vf = f.vf();
  BOOST_TEST(!f.pf->invalidate(0, bit(1)));
  BOOST_REQUIRE(vf.mask() == 0b10u);         // the VF reads the mask here and delivers bit 1
  BOOST_TEST(!f.pf->invalidate(0, bit(1)));  // raised again while latched
  BOOST_TEST(!f.pf->detach_mailbox(0));
  BOOST_REQUIRE(f.pf->attach_mailbox(0, f.space).has_value());
  BOOST_TEST(vf.status().epoch == 2u);
  BOOST_TEST(vf.mask() == 0b10u);
  vf.write_u32(reg::invalidate_ack_low, 0b10);  // the acknowledgement of the first delivery, late
  BOOST_TEST(vf.mask() == 0b10u);               // still latched: the second raise is delivered
  BOOST_TEST(vf.status().invalidated);
  BOOST_TEST(vf.u32(reg::invalidate_ack_low) == 0u);
  vf.write_u32(reg::invalidate_ack_low, 0b10);  // its own acknowledgement takes it out
  BOOST_TEST(vf.mask() == 0u);
  BOOST_TEST(!vf.status().invalidated);

  // Detached, the window is served by nobody: a VF writes the mask registers past read-only bits (a
  // transport that cannot protect them); the PF raises bit 3, which waits in the store.
  BOOST_TEST(!f.pf->detach_mailbox(0));
  BOOST_REQUIRE(f.space.device_write(f.window + reg::invalidate_mask_low, u32_bytes(0xFFFFFFFFu)) == no_error);
  BOOST_REQUIRE(f.space.device_write(f.window + reg::invalidate_mask_high, u32_bytes(0x80000000u)) == no_error);
  BOOST_TEST(!f.pf->invalidate(0, bit(3)));
  BOOST_REQUIRE(f.pf->attach_mailbox(0, f.space).has_value());
  BOOST_TEST(vf.status().epoch == 3u);
  BOOST_TEST(f.pf->mailbox_session(0)->latched_invalidations().bits() == 0b1000u);
  BOOST_TEST(vf.mask() == 0b1000u);
  BOOST_TEST(vf.status().invalidated);
}

BOOST_AUTO_TEST_CASE(attach_refuses_a_dvsec_with_its_names_that_is_no_layout_2_window) {
  struct variant {
    const char* what;
    std::uint8_t revision;
    std::uint16_t length;
    std::uint32_t identity;
    errc expected;
  };
  const variant variants[] = {
      {"DVSEC revision 1", 1, 0xB8, 0x00010002, errc::revision_mismatch},
      {"identity layout 3", 2, 0xB8, 0x00010003, errc::revision_mismatch},
      {"0xB4 bytes long", 2, 0xB4, 0x00010002, errc::not_supported},
  };
  for (const variant& v : variants) {
    BOOST_TEST_CONTEXT(v.what) {
      memory_fixture f({}, /*attach=*/false);
      BOOST_REQUIRE(f.space.device_write(0x100, u32_bytes(0x00010023u)) == no_error);
      BOOST_REQUIRE(f.space.device_write(0x104, u32_bytes(config::encode_dvsec_header1(0, v.revision, v.length))) == no_error);
      BOOST_REQUIRE(f.space.device_write(0x108, u32_bytes(0x5650)) == no_error);
      BOOST_REQUIRE(f.space.device_write(0x10C, u32_bytes(v.identity)) == no_error);
      const auto before = snapshot(f.space);
      BOOST_TEST((f.pf->attach_mailbox(0, f.space).error() == v.expected));
      BOOST_TEST(snapshot(f.space) == before, boost::test_tools::per_element());
      BOOST_TEST(f.pf->mailbox_session(0) == nullptr);
      // A foreign DVSEC (another vendor's ID 0x5650) is none of the PF's business: a window goes after it.
      BOOST_REQUIRE(f.space.device_write(0x104, u32_bytes(config::encode_dvsec_header1(0x1AF4, v.revision, v.length))) == no_error);
      auto placed = f.pf->attach_mailbox(0, f.space);
      BOOST_REQUIRE(placed.has_value());
      BOOST_TEST(*placed > 0x100u);
      BOOST_TEST(*config::find_mailbox(snapshot(f.space)) == *placed);
    }
  }
}

// A device whose DVSEC is there from power-on (placed by hardware, identity and status 0: no PF has
// initialised it yet) is attached in place. It was refused with revision_mismatch, as a window of
// another layout, so a PF could not serve the window its own device carries.
BOOST_AUTO_TEST_CASE(a_placed_window_no_pf_initialised_is_attached_in_place) {
  memory_fixture f({}, /*attach=*/false);
  BOOST_REQUIRE(f.space.device_write(0x100, u32_bytes(0x00010023u)) == no_error);
  BOOST_REQUIRE(f.space.device_write(0x104, u32_bytes(config::encode_dvsec_header1(0, 2, 0xB8))) == no_error);
  BOOST_REQUIRE(f.space.device_write(0x108, u32_bytes(0x5650)) == no_error);
  auto placed = f.pf->attach_mailbox(0, f.space);
  BOOST_REQUIRE(placed.has_value());
  BOOST_TEST(*placed == 0x100u);
  const auto image = snapshot(f.space);
  BOOST_TEST(le::load_u32(image.data() + 0x100 + reg::identity) == 0x00010002u);  // no heartbeat: nothing serves yet
  BOOST_TEST(mailbox::decode_status(le::load_u32(image.data() + 0x100 + reg::status)).epoch == 1u);
  f.window = *placed;
  raw_vf vf = f.vf();
  vf.request(op_read, 5, block5_size);
  BOOST_TEST(!f.pf->service(0));
  BOOST_TEST(vf.succeeded(block5_size));
}

// An FLR of the VF (pf_endpoint::reset_vf): quarantine lifted, the window re-initialised with a new epoch,
// the invalidation latch kept and re-published; on a transport that must not block the caller, by the
// serving loop's next pass.
BOOST_AUTO_TEST_CASE(reset_vf_reinitialises_the_window_with_a_new_epoch_keeping_the_latch) {
  for (const bool nonblocking : {true, false}) {
    BOOST_TEST_CONTEXT((nonblocking ? "inline accesses" : "asynchronous accesses")) {
      memory_fixture<manual_timing> f({}, /*attach=*/false);
      mailbox_options options;
      options.polling = {1ms, 1ms};
      polled_attachment<plain_transport> transport(f, nonblocking, options);
      serve_result served;
      f.pf->async_serve(0, served.handler());
      f.settle();
      raw_vf vf = f.vf();
      BOOST_TEST(!f.pf->invalidate(0, bit(4)));
      f.settle();
      vf.request(op_read, 5, block5_size);
      f.timing.advance(1ms);
      f.settle();
      BOOST_TEST(vf.succeeded(block5_size));
      vf.sequence = 7;
      vf.request(op_read, 5, block5_size);  // a skipped sequence: quarantined
      f.timing.advance(1ms);
      f.settle();
      BOOST_REQUIRE((f.pf->blocks().quarantined(0) == quarantine_reason::protocol_violation));
      BOOST_TEST(vf.status().epoch == 1u);

      BOOST_TEST(!f.pf->reset_vf(0));
      BOOST_TEST((f.pf->blocks().quarantined(0) == quarantine_reason::none));
      if (!nonblocking) {
        BOOST_TEST(vf.status().epoch == 1u);  // not inside reset_vf: the loop does it
        f.settle();
      }
      BOOST_TEST(vf.status().epoch == 2u);
      BOOST_TEST(vf.status().ack == 0u);
      BOOST_TEST(vf.status().invalidated);
      BOOST_TEST(vf.mask() == 0b10000u);
      BOOST_TEST(vf.u32(reg::request) == 0u);
      // An FLR zeroes the request registers: the PF is synchronised at 0 (docs/protocol.md 5.1). The VF's
      // next sequence (9), rung without a probe, may have been composed before the FLR: answered, not run.
      // The PF follows on from it, as a VF that probes now reads it in `request`.
      BOOST_TEST(f.pf->mailbox_session(0)->synchronised());
      BOOST_TEST(f.pf->mailbox_session(0)->last_sequence() == 0u);
      vf.request(op_read, 5, block5_size);  // 9
      f.timing.advance(1ms);
      f.settle();
      BOOST_TEST(vf.status().ack == 9u);
      BOOST_TEST(vf.status().failed);
      BOOST_TEST(vf.u32(reg::result) == 0xC00000A3u);  // STATUS_DEVICE_NOT_READY
      BOOST_TEST((f.pf->blocks().quarantined(0) == quarantine_reason::none));
      BOOST_TEST((vf.u32(reg::request) & 0xFFFFu) == vf.sequence);
      vf.request(op_read, 5, block5_size);  // 10
      f.timing.advance(1ms);
      f.settle();
      BOOST_TEST(vf.succeeded(block5_size));
      BOOST_TEST(vf.status().epoch == 2u);
      BOOST_TEST(!f.pf->detach_mailbox(0));
      f.settle();
      BOOST_TEST(served.calls == 1);
    }
  }
  // Without a mailbox, reset_vf is the store's alone; an unknown VF is not_found.
  memory_fixture f({}, /*attach=*/false);
  BOOST_TEST(!f.pf->reset_vf(0));
  BOOST_TEST((f.pf->reset_vf(3) == errc::not_found));
}

// ---- the PF's register writes per answer ------------------------------------------------------------------

// Counted as the dword accesses the PF makes through a transport's driver side (what costs config cycles
// where the PF has no device side): a read of n bytes is ceil(n/4) data writes and status; a write is status
// alone; result only when it changes; a read of what the data window holds already is status alone.
BOOST_AUTO_TEST_CASE(the_pf_writes_per_answer) {
  memory_fixture<manual_timing> f({}, /*attach=*/false);
  BOOST_REQUIRE(!f.pf->define_block(0, block_id{1}, pattern(4, 0x01)));
  BOOST_REQUIRE(!f.pf->define_block(0, block_id{2}, pattern(64, 0x02)));
  BOOST_REQUIRE(!f.pf->define_block(0, block_id{3}, pattern(128, 0x03)));
  plain_transport<true> transport(f.space);
  auto placed = f.pf->attach_mailbox(0, transport);
  BOOST_REQUIRE(placed.has_value());
  f.window = *placed;
  raw_vf vf = f.vf();
  std::vector<std::size_t> pf_writes;  // offsets in the window of the PF's dword writes
  bool counting = false;
  f.space.set_access_observer([&](access_direction direction, std::size_t offset, std::size_t width) {
    if (counting && direction == access_direction::write) {
      BOOST_TEST(width == 4u);  // whole dwords only
      pf_writes.push_back(offset - f.window);
    }
  });
  auto answer = [&](std::uint32_t op, std::uint32_t id, std::uint32_t length) {
    vf.request(op, id, length);
    pf_writes.clear();
    counting = true;
    BOOST_TEST(!f.pf->service(0));
    counting = false;
    BOOST_TEST(vf.answered());
    return pf_writes;
  };
  auto data_then_status = [](std::size_t n) {
    std::vector<std::size_t> expected;
    for (std::size_t at = 0; at < n; at += 4) expected.push_back(reg::data + at);
    expected.push_back(reg::status);
    return expected;
  };
  for (const auto& [id, n] : {std::pair{1u, std::size_t{4}}, std::pair{2u, std::size_t{64}}, std::pair{3u, std::size_t{128}}}) {
    BOOST_TEST_CONTEXT("read of " << n << " bytes") {
      BOOST_TEST(answer(op_read, id, 128) == data_then_status(n), boost::test_tools::per_element());
      BOOST_TEST(vf.succeeded(n));
    }
  }
  // The same block again: its dwords are written again, then status.
  BOOST_TEST(answer(op_read, 3, 128) == data_then_status(128), boost::test_tools::per_element());
  vf.write_data(pattern(64, 0x22));
  BOOST_TEST(answer(op_write, 2, 64) == std::vector<std::size_t>{reg::status}, boost::test_tools::per_element());
  BOOST_TEST(answer(op_read, 40, 8) == (std::vector<std::size_t>{reg::result, reg::status}), boost::test_tools::per_element());
  BOOST_TEST(answer(op_read, 41, 8) == std::vector<std::size_t>{reg::status}, boost::test_tools::per_element());
  BOOST_TEST(answer(op_write, 2, 64) == (std::vector<std::size_t>{reg::result, reg::status}), boost::test_tools::per_element());
  // A replay: nothing.
  vf.sequence = static_cast<std::uint16_t>(vf.sequence - 1);
  BOOST_TEST(answer(op_write, 2, 64).empty());
}

// A write hook services the window only for a write that can change the PF's decision: writes that only
// compose a request (the block register, the data window) wait for the doorbell, which reads them then.
BOOST_AUTO_TEST_CASE(a_write_that_only_composes_a_request_runs_no_service) {
  memory_fixture f;
  raw_vf vf = f.vf();
  const auto* session = f.pf->mailbox_session(0);
  BOOST_REQUIRE(session != nullptr);
  auto last_event = [&] { return session->last_event(); };
  vf.request(op_read, 5, block5_size);
  BOOST_REQUIRE(vf.succeeded(block5_size));
  BOOST_REQUIRE(last_event() == engine::mailbox_event::served);
  const std::vector<std::byte> answered = snapshot(f.space);

  // Composing: the block register (whole, or one byte of it) and the data window (whole, or a part):
  // no service, so the last decision is still the answer, and the PF wrote nothing.
  vf.write_u32(reg::request_block, 0x0000'0009u);
  BOOST_TEST((last_event() == engine::mailbox_event::served));
  boost::system::error_code ec;
  const std::array<std::byte, 1> low_byte{std::byte{5}};
  BOOST_REQUIRE(f.space.write(f.window + reg::request_block, low_byte, ec) == 1u);
  BOOST_TEST((last_event() == engine::mailbox_event::served));
  vf.write_data(pattern(mailbox::data_window_size, 0x40));
  vf.write_u32(static_cast<std::uint16_t>(reg::data + 124), 0x1234'5678u);
  BOOST_TEST((last_event() == engine::mailbox_event::served));
  std::vector<std::byte> composed = answered;
  le::store_u32(composed.data() + f.window + reg::request_block, 5);
  const std::vector<std::byte> data = pattern(mailbox::data_window_size, 0x40);
  std::copy(data.begin(), data.end(), composed.begin() + static_cast<std::ptrdiff_t>(f.window + reg::data));
  le::store_u32(composed.data() + f.window + reg::data + 124, 0x1234'5678u);
  BOOST_TEST(snapshot(f.space) == composed, boost::test_tools::per_element());
  BOOST_TEST(f.pf->blocks().counters(0).reads == 1u);
  BOOST_TEST(f.pf->blocks().counters(0).refused == 0u);

  // The doorbell alone, in its own write: the request is the block register as composed (block 5).
  vf.write_u32(reg::request, std::uint32_t{++vf.sequence} | std::uint32_t{block5_size} << 16 | op_read << 24);
  BOOST_TEST((last_event() == engine::mailbox_event::served));
  BOOST_TEST(vf.succeeded(block5_size));
  BOOST_TEST(vf.data(block5_size) == pattern(block5_size, 0x10), boost::test_tools::per_element());
  BOOST_TEST(f.pf->blocks().counters(0).reads == 2u);

  // Any other write is serviced, even one that only reaches into a composing register: the request
  // registers written together, the control register, an acknowledgement register.
  vf.write_u32(reg::control, 0);
  BOOST_TEST((last_event() == engine::mailbox_event::none));
  vf.request(op_read, 5, block5_size);
  BOOST_TEST((last_event() == engine::mailbox_event::served));
  BOOST_TEST(vf.succeeded(block5_size));
  vf.write_u32(reg::invalidate_ack_low, 0);
  BOOST_TEST((last_event() == engine::mailbox_event::none));
  BOOST_TEST(f.pf->blocks().counters(0).reads == 3u);
}

// A block register naming a block the VF has none of (another VF's, undefined, any 32-bit value) is only
// composed: nothing is counted, refused or quarantined until the VF rings for it.
BOOST_AUTO_TEST_CASE(a_block_register_naming_no_block_of_its_own_changes_nothing) {
  memory_fixture f;
  BOOST_REQUIRE(!f.pf->register_vf(1, 0x0102));
  BOOST_REQUIRE(!f.pf->define_block(1, block_id{6}, pattern(8, 0x60)));
  raw_vf vf = f.vf();
  vf.request(op_read, 5, block5_size);
  BOOST_REQUIRE(vf.succeeded(block5_size));
  for (const std::uint32_t id : {6u, 7u, 64u, 0xFFFF'FFFFu}) {
    BOOST_TEST_CONTEXT("block register " << id) {
      vf.write_u32(reg::request_block, id);
      const auto counters = f.pf->blocks().counters(0);
      BOOST_TEST(counters.reads == 1u);
      BOOST_TEST(counters.refused == 0u);
      BOOST_TEST(counters.dropped == 0u);
      BOOST_TEST(counters.violations == 0u);
      BOOST_TEST((f.pf->blocks().quarantined(0) == engine::quarantine_reason::none));
      BOOST_TEST(vf.succeeded(block5_size));
    }
  }
  // Rung for, another VF's block is refused as ever.
  vf.write_u32(reg::request_block, 6);
  vf.write_u32(reg::request, std::uint32_t{++vf.sequence} | 8u << 16 | op_read << 24);
  BOOST_TEST(vf.answered());
  BOOST_TEST(vf.u32(reg::result) == static_cast<std::uint32_t>(ntstatus::access_denied));
  BOOST_TEST(f.pf->blocks().counters(0).refused == 1u);
}

// vpci-perf --role both --shm failed once under load with "block 3: the PF refuses to read it (invalid
// argument: no such block?)": the PF's copy of the window, read dword by dword in address order, took the
// block register (0x18) before the VF wrote it and the doorbell (0x1C) after the VF rang it, and ran the
// new request on the block register's old value (0 in a fresh window: no such block). The PF reads the
// doorbell first and the rest of the window after it, so what a doorbell it acts on announces (the block
// register, the data) is at least as new as that doorbell. The VF's writes land here between the PF's
// reads of the two registers, on both access paths of the serving loop.
BOOST_AUTO_TEST_CASE(a_request_rung_while_the_pf_copies_the_window_runs_on_the_block_it_names) {
  for (const bool nonblocking : {true, false}) {
    BOOST_TEST_CONTEXT((nonblocking ? "inline accesses" : "asynchronous accesses")) {
      memory_fixture<manual_timing> f({}, /*attach=*/false);
      mailbox_options options;
      options.polling = {1ms, 8ms};
      polled_attachment<dword_by_dword_transport> transport(f, nonblocking, options);
      raw_vf vf = f.vf();
      BOOST_REQUIRE(vf.u32(reg::request_block) == 0u);  // a fresh window: no block 0 is defined
      bool rung = false;
      auto ring_between = [&] {
        vf.request(op_read, block5.value(), block5_size);  // the block register, then the doorbell
        rung = true;
      };
      transport.with([&](auto& t) { t.after_reading(f.window + reg::request_block, ring_between); });
      // The VF sets control.SIGNAL first, so that the first poll's look finds the window changed and
      // copies it.
      vf.write_u32(reg::control, mailbox::control_signal);

      serve_result served;
      f.pf->async_serve(0, served.handler());
      auto at = [&](std::chrono::milliseconds t) {
        f.timing.advance_to(to_nanoseconds(t));
        f.settle();
      };
      at(0ms);  // the first poll: the VF rings while it is copied
      BOOST_REQUIRE(rung);
      // Taken or not by this poll, the request is never answered for a block it does not name.
      BOOST_TEST(!(vf.answered() && vf.status().failed), "result " << std::hex << vf.u32(reg::result));
      at(1ms);  // the next poll, at the latest
      BOOST_TEST(vf.succeeded(block5_size), "result " << std::hex << vf.u32(reg::result));
      BOOST_TEST(vf.data(block5_size) == pattern(block5_size, 0x10), boost::test_tools::per_element());
      BOOST_TEST(f.pf->blocks().counters(0).refused == 0u);
      BOOST_TEST(!f.pf->detach_mailbox(0));
      f.settle();
      BOOST_TEST(served.calls == 1);
    }
  }
}

// Found by the review of the look: the inline look read its registers without marking the window busy,
// so a service asked for from inside one of those reads (a device model calling back into the PF) ran as
// a whole pass nested in the look. It runs after the look now, as a service asked for during a pass does.
BOOST_AUTO_TEST_CASE(a_service_asked_for_during_a_look_runs_after_it_not_inside) {
  memory_fixture<manual_timing> f({}, /*attach=*/false);
  polled_attachment<dword_by_dword_transport> transport(f, /*nonblocking=*/true, mailbox_options{});
  raw_vf vf = f.vf();
  serve_result served;
  f.pf->async_serve(0, served.handler());
  f.settle();  // the first look
  vf.request(op_read, block5.value(), block5_size);
  bool answered_inside = true;
  transport.with([&](auto& t) {
    t.after_reading(f.window + reg::control, [&] {
      BOOST_TEST(!f.pf->service(0));
      answered_inside = vf.answered();
    });
  });
  f.timing.advance(std::chrono::microseconds(20));  // the next poll: a look, whose control read asks
  f.settle();
  BOOST_TEST(!answered_inside);
  BOOST_TEST(vf.succeeded(block5_size));
  BOOST_TEST(f.pf->blocks().counters(0).reads == 1u);  // once
  BOOST_TEST(!f.pf->detach_mailbox(0));
  f.settle();
  BOOST_TEST(served.calls == 1);
}

// ---- the heartbeat ---------------------------------------------------------------------------------------

// async_serve advances status bits 27:26 every mailbox_options::heartbeat on the Timing policy's timers,
// whatever the transport: write hooks, polled (inline or asynchronous accesses), shared memory's doorbell.
// Only while serving: a PF that does not serve has no heartbeat to give.
BOOST_AUTO_TEST_CASE(the_heartbeat_ticks_on_virtual_time_on_every_kind_of_transport) {
  enum class kind { hooks, polled_inline, polled_async };
  for (const kind k : {kind::hooks, kind::polled_inline, kind::polled_async}) {
    BOOST_TEST_CONTEXT("kind " << static_cast<int>(k)) {
      memory_fixture<manual_timing> f({}, /*attach=*/false);
      std::optional<plain_transport<true>> inline_transport;
      std::optional<plain_transport<false>> async_transport;
      mailbox_options options;
      options.polling = {1ms, 1s};  // backing off past the heartbeat: the heartbeat still comes on time
      options.heartbeat = 50ms;
      boost::system::result<std::size_t> placed = make_error_code(errc::not_found);
      if (k == kind::hooks) placed = f.pf->attach_mailbox(0, f.space, options);
      if (k == kind::polled_inline) placed = f.pf->attach_mailbox(0, inline_transport.emplace(f.space), options);
      if (k == kind::polled_async) placed = f.pf->attach_mailbox(0, async_transport.emplace(f.space), options);
      BOOST_REQUIRE(placed.has_value());
      f.window = *placed;
      raw_vf vf = f.vf();
      // Polled, the heartbeat is announced from the attach on; with write hooks, which serve without
      // async_serve, only once async_serve keeps it (its first pass), and it beats from then on.
      BOOST_TEST(vf.u32(reg::limits) == (k == kind::hooks ? 0x00002080u : 0x00322080u));  // 50 ms
      f.timing.advance(200ms);
      f.settle();
      BOOST_TEST(vf.status().heartbeat == 0u);  // nobody serves
      serve_result served;
      f.pf->async_serve(0, served.handler());
      f.settle();  // the first pass: polled, the beat due since 50 ms; with hooks, the announcement
      BOOST_TEST(vf.u32(reg::limits) == 0x00322080u);
      const unsigned first = k == kind::hooks ? 0u : 1u;
      BOOST_TEST(vf.status().heartbeat == first);
      for (unsigned beat = 1; beat <= 8; ++beat) {
        f.timing.advance(49ms);
        f.settle();
        BOOST_TEST(vf.status().heartbeat == (first + beat - 1) % 4, "beat " << beat << " not before 50 ms");
        f.timing.advance(1ms);
        f.settle();
        BOOST_TEST(vf.status().heartbeat == (first + beat) % 4, "beat " << beat);
      }
      // Requests are still served: at once on hooks, else by the next pass (the polls have backed off; the
      // heartbeat's pass comes first).
      vf.request(op_read, 5, block5_size);
      if (k != kind::hooks) {
        f.timing.advance(49ms);
        f.settle();
        BOOST_TEST(!vf.answered());
        f.timing.advance(1ms);
        f.settle();
      }
      BOOST_TEST(vf.succeeded(block5_size));
      BOOST_TEST(!f.pf->detach_mailbox(0));
      f.settle();
      BOOST_TEST(served.calls == 1);
      BOOST_TEST(!served.ec);
      BOOST_TEST(f.timing.armed() == 0u);
      const std::uint32_t stopped = vf.u32(reg::status);
      f.timing.advance(1s);
      f.settle();
      BOOST_TEST(vf.u32(reg::status) == stopped);
    }
  }
}

// On shared memory the serving loop waits on the VF's doorbell and the heartbeat's timer at once: whichever
// comes first cancels the other, and the pass after both are in serves the window.
BOOST_AUTO_TEST_CASE(the_heartbeat_and_the_doorbell_together_on_shared_memory) {
  boost::asio::io_context io;
  manual_timing timing;
  auto device = shm_config_space::create_anonymous(io.get_executor(), 4096);
  auto driver = device.view(io.get_executor(), shm_role::driver);
  pf_endpoint<1, manual_timing> pf({}, timing);
  BOOST_REQUIRE(!pf.register_vf(0, 0x0101));
  BOOST_REQUIRE(!pf.define_block(0, block5, pattern(block5_size, 0x10)));
  auto placed = pf.attach_mailbox(0, device);
  BOOST_REQUIRE(placed.has_value());
  basic_raw_vf<shm_config_space> vf{driver, *placed};
  serve_result served;
  pf.async_serve(0, served.handler());
  // The doorbell's waits complete from the transport's helper thread: run handlers until the state is
  // reached (bounded, so a failure cannot hang the test; a passing run never waits out the bound).
  auto run_until = [&](auto reached) {
    for (int i = 0; i < 20 && !reached(); ++i) io.run_one_for(std::chrono::seconds(2));
    return reached();
  };
  io.poll();
  BOOST_TEST(timing.armed() == 1u);
  timing.advance(100ms);
  BOOST_TEST(run_until([&] { return vf.status().heartbeat == 1u; }));
  BOOST_TEST(run_until([&] { return timing.armed() == 1u; }));  // both waits in again
  vf.request(op_read, 5, block5_size);  // rings the PF's doorbell
  BOOST_TEST(run_until([&] { return vf.answered(); }));
  BOOST_TEST(vf.succeeded(block5_size));
  BOOST_TEST(vf.status().heartbeat == 1u);
  timing.advance(100ms);
  BOOST_TEST(run_until([&] { return vf.status().heartbeat == 2u; }));
  BOOST_TEST(!pf.detach_mailbox(0));
  BOOST_TEST(run_until([&] { return served.calls == 1; }));
  BOOST_TEST(!served.ec);
  io.restart();
  io.run();
  BOOST_TEST(timing.armed() == 0u);
}

// ---- the VF's signal ---------------------------------------------------------------------------------------

// On shared memory the PF rings the VF's doorbell after an update only when the VF set control.SIGNAL, and
// never for a heartbeat alone (an idle VF sleeping on the doorbell costs nothing).
BOOST_AUTO_TEST_CASE(the_vfs_signal_is_rung_only_when_it_asked) {
  boost::asio::io_context io;
  manual_timing timing;
  auto device = shm_config_space::create_anonymous(io.get_executor(), 4096);
  auto driver = device.view(io.get_executor(), shm_role::driver);
  pf_endpoint<2, manual_timing> pf({}, timing);
  BOOST_REQUIRE(!pf.register_vf(0, 0x0101));
  BOOST_REQUIRE(!pf.define_block(0, block5, pattern(block5_size, 0x10)));
  auto placed = pf.attach_mailbox(0, device);
  BOOST_REQUIRE(placed.has_value());
  basic_raw_vf<shm_config_space> vf{driver, *placed};
  BOOST_TEST((vf.u32(reg::identity) >> 16) == 0x7u);  // invalidation, signal, heartbeat
  auto rings = [&, seen = device.doorbell_sequence(shm_doorbell::to_driver)]() mutable {
    const std::uint32_t now = device.doorbell_sequence(shm_doorbell::to_driver);
    return now - std::exchange(seen, now);
  };
  // Not asked: an answer and an invalidation are not signalled.
  vf.request(op_read, 5, block5_size);
  BOOST_TEST(!pf.service(0));
  BOOST_TEST(vf.succeeded(block5_size));
  BOOST_TEST(!pf.invalidate(0, bit(2)));
  BOOST_TEST(vf.mask() == 0b100u);
  BOOST_TEST(rings() == 0u);
  // Asked: each update is signalled once, after its last write.
  vf.write_u32(reg::control, mailbox::control_signal);
  BOOST_TEST(!pf.service(0));
  BOOST_TEST(rings() == 0u);  // setting the bit changes nothing the VF reads
  vf.request(op_read, 5, block5_size);
  BOOST_TEST(!pf.service(0));
  BOOST_TEST(rings() == 1u);
  BOOST_TEST(!pf.invalidate(0, bit(3)));
  BOOST_TEST(rings() == 1u);
  vf.write_u32(reg::invalidate_ack_low, 0b1100);
  BOOST_TEST(!pf.service(0));
  BOOST_TEST(rings() == 1u);
  BOOST_TEST(vf.mask() == 0u);
  // A heartbeat alone: not signalled.
  timing.advance(100ms);
  BOOST_TEST(!pf.service(0));
  BOOST_TEST(vf.status().heartbeat == 1u);
  BOOST_TEST(rings() == 0u);
  // An FLR re-initialisation: signalled (the VF sleeping on the doorbell sees the new epoch).
  BOOST_TEST(!pf.reset_vf(0));
  BOOST_TEST(vf.status().epoch == 2u);
  BOOST_TEST(rings() == 1u);
  // Cleared again: no more signals.
  vf.write_u32(reg::control, 0);
  vf.sequence = 0;
  vf.request(op_read, 5, block5_size);
  BOOST_TEST(!pf.service(0));
  BOOST_TEST(vf.succeeded(block5_size));
  BOOST_TEST(rings() == 0u);
}

// ---- the endpoint destroyed with attachments live ---------------------------------------------------------

BOOST_AUTO_TEST_CASE(pf_destroyed_with_mailbox_attachments_live) {
  boost::asio::io_context io;
  manual_timing timing;
  memory_config_space hooked(io, 4096), polled_inline(io, 4096), polled_async(io, 4096);
  plain_transport<true> inline_transport(polled_inline);
  plain_transport<false> async_transport(polled_async);
  auto device = shm_config_space::create_anonymous(io.get_executor(), 4096);
  int user_hook_calls = 0;
  hooked.set_write_hook([&](std::size_t, std::size_t) { ++user_hook_calls; });
  std::vector<serve_result> served(4);
  std::size_t hooked_window = 0;
  mailbox_options options;
  options.heartbeat = 0ms;  // the waits are the transports' own (pf_destroyed_with_heartbeats_armed has them)
  {
    pf_endpoint<4, manual_timing> pf({}, timing);
    for (vf_index vf = 0; vf < 4; ++vf) {
      BOOST_REQUIRE(!pf.register_vf(vf, static_cast<std::uint16_t>(0x100 + vf)));
      BOOST_REQUIRE(!pf.define_block(vf, block5, pattern(block5_size, 0x10)));
    }
    auto placed = pf.attach_mailbox(0, hooked, options);
    BOOST_REQUIRE(placed.has_value());
    hooked_window = *placed;
    BOOST_REQUIRE(pf.attach_mailbox(1, inline_transport, options).has_value());
    BOOST_REQUIRE(pf.attach_mailbox(2, async_transport, options).has_value());
    BOOST_REQUIRE(pf.attach_mailbox(3, device, options).has_value());
    for (vf_index vf = 0; vf < 4; ++vf) pf.async_serve(vf, served[vf].handler());
    io.poll();  // every loop is now waiting: a timer, a timer, a doorbell
    BOOST_TEST(timing.armed() == 2u);
    // VF 1's loop is waiting on its timer again and VF 2's has a read in flight when the endpoint goes.
    timing.advance(std::chrono::microseconds(20));
    BOOST_TEST(async_transport.looks == 1u);
    io.run_one();  // VF 1's timer: a look (inline accesses), then the next wait
    io.run_one();  // VF 2's timer: the look's first asynchronous read (the doorbell) is started, not completed
    BOOST_TEST(inline_transport.looks == 2u);
    BOOST_TEST(inline_transport.passes == 0u);
    BOOST_TEST(async_transport.looks == 1u);  // the acknowledgement pair is read after the doorbell and control
    BOOST_TEST(timing.armed() == 1u);
  }
  for (const serve_result& s : served) BOOST_TEST(s.calls == 0);  // never inline, not even here
  io.restart();
  io.run();  // every pending operation finishes on memory that is still alive; nothing else runs
  for (std::size_t vf = 0; vf < served.size(); ++vf) {
    BOOST_TEST_CONTEXT("vf " << vf) {
      BOOST_TEST(served[vf].calls == 1);
      BOOST_TEST((served[vf].ec == errc::vf_removed));
    }
  }
  BOOST_TEST(timing.armed() == 0u);
  // The PF's write hook is gone, the user's stays.
  raw_vf vf{hooked, hooked_window};
  vf.request(op_read, 5, block5_size);
  BOOST_TEST(user_hook_calls == 1);
  BOOST_TEST(!vf.answered());
  timing.advance(1s);
  io.restart();
  io.run();
  BOOST_TEST(async_transport.looks == 1u);  // the doorbell's read completed after the end: nothing more read
  BOOST_TEST(async_transport.passes == 0u);
  BOOST_TEST(inline_transport.looks == 2u);
  BOOST_TEST(inline_transport.passes == 0u);
}

// The endpoint destroyed while every kind of loop waits on its heartbeat timer (and shared memory's on its
// doorbell too): every async_serve completes with vf_removed once the io_context runs, no timer stays armed.
BOOST_AUTO_TEST_CASE(pf_destroyed_with_heartbeats_armed) {
  boost::asio::io_context io;
  manual_timing timing;
  memory_config_space hooked(io, 4096), polled(io, 4096);
  plain_transport<true> inline_transport(polled);
  auto device = shm_config_space::create_anonymous(io.get_executor(), 4096);
  std::vector<serve_result> served(3);
  {
    pf_endpoint<3, manual_timing> pf({}, timing);
    for (vf_index vf = 0; vf < 3; ++vf) BOOST_REQUIRE(!pf.register_vf(vf, static_cast<std::uint16_t>(0x100 + vf)));
    mailbox_options options;
    options.polling = {1s, 1s};  // the heartbeat comes first
    BOOST_REQUIRE(pf.attach_mailbox(0, hooked, options).has_value());
    BOOST_REQUIRE(pf.attach_mailbox(1, inline_transport, options).has_value());
    BOOST_REQUIRE(pf.attach_mailbox(2, device, options).has_value());
    for (vf_index vf = 0; vf < 3; ++vf) pf.async_serve(vf, served[vf].handler());
    io.poll();
    BOOST_TEST(timing.armed() == 3u);
    BOOST_TEST(timing.next_expiry() == to_nanoseconds(100ms));
  }
  for (const serve_result& s : served) BOOST_TEST(s.calls == 0);
  io.restart();
  io.run();
  for (std::size_t vf = 0; vf < served.size(); ++vf) {
    BOOST_TEST_CONTEXT("vf " << vf) {
      BOOST_TEST(served[vf].calls == 1);
      BOOST_TEST((served[vf].ec == errc::vf_removed));
    }
  }
  BOOST_TEST(timing.armed() == 0u);
}

// A VF waiting for invalidations from a PF that dies (the README's follow_config loop): its requests were
// found gone when the heartbeat stopped, but the wait stayed pending for good, and with it every
// synchronous call failed with busy (found by a first-day user's program). The wait now ends with
// peer_gone four intervals after the last beat, seen at the next watch poll; while the PF beats it stays.
BOOST_AUTO_TEST_CASE(a_vf_waiting_for_invalidations_ends_when_the_pfs_heartbeat_stops) {
  memory_fixture<manual_timing> f;  // heartbeat 100 ms
  serve_result served;
  f.pf->async_serve(0, served.handler());
  vf_endpoint<memory_config_space, manual_timing> vf(f.space, f.window, vf_mailbox_options{}, f.timing);
  boost::system::error_code waited = errc::device_error;
  bool woke = false;
  vf.async_wait_invalidate([&](boost::system::error_code e, block_mask) {
    waited = e;
    woke = true;
  });
  for (int i = 0; i < 100; ++i) {  // a second of a live PF: the wait stays
    f.timing.advance(10ms);
    f.settle();
  }
  BOOST_TEST(!woke);
  f.pf.reset();  // the PF is gone; its last beat is in the window
  const std::uint64_t gone_at = f.timing.now();
  for (int i = 0; i < 60 && !woke; ++i) {
    f.timing.advance(10ms);
    f.settle();
  }
  BOOST_REQUIRE(woke);
  BOOST_TEST((waited == errc::peer_gone), waited.message());
  BOOST_TEST(f.timing.now() - gone_at <= 510'000'000u);  // at most 4 intervals after the last beat, 1 poll late
  boost::system::error_code ec;
  std::array<std::byte, block5_size> out{};
  BOOST_TEST(vf.read_block(block5, out, ec) == 0u);  // not busy: nothing is pending any more
  BOOST_TEST((ec == errc::peer_gone), ec.message());
}

// The README's own PF: attach_mailbox with the defaults on memory_config_space, served by the write hooks,
// no async_serve. It announced a 100 ms heartbeat that nothing advanced, so a VF waiting for an invalidation
// found the PF gone 400 ms later, for good: a VF that finds the PF gone rings no more, and without its writes
// no hook ran to beat again (the PF's update, made 500 ms into the wait, never reached it). Found by a
// review that built a VF from docs/protocol.md alone. Where write hooks serve, the heartbeat is now
// announced only while async_serve runs, and withdrawn when serving ends.
BOOST_AUTO_TEST_CASE(a_pf_served_only_by_write_hooks_announces_no_heartbeat_it_does_not_keep) {
  memory_fixture<manual_timing> f;  // mailbox_options{}: heartbeat 100 ms
  BOOST_TEST(f.vf().u32(reg::identity) == 0x00010002u);  // invalidation only
  BOOST_TEST(f.vf().u32(reg::limits) == 0x00002080u);   // heartbeat 0
  vf_endpoint<memory_config_space, manual_timing> vf(f.space, f.window, vf_mailbox_options{}, f.timing);
  boost::system::error_code waited = errc::device_error;
  block_mask delivered{};
  bool woke = false;
  vf.async_wait_invalidate([&](boost::system::error_code e, block_mask m) {
    waited = e;
    delivered = m;
    woke = true;
  });
  for (int i = 0; i < 50; ++i) {  // half a second of an idle VF
    f.timing.advance(10ms);
    f.settle();
  }
  BOOST_TEST(!woke, waited.message());
  BOOST_TEST(!f.pf->invalidate(0, bit(5)));
  for (int i = 0; i < 5 && !woke; ++i) {
    f.timing.advance(10ms);
    f.settle();
  }
  BOOST_REQUIRE(woke);
  BOOST_TEST(!waited, waited.message());
  BOOST_TEST(delivered.bits() == bit(5).bits());
  std::array<std::byte, block5_size> out{};
  boost::system::error_code ec;
  BOOST_TEST(vf.read_block(block5, out, ec) == block5_size, ec.message());

  // async_serve keeps the heartbeat: announced at its first pass (limits before identity), advancing
  // every interval; withdrawn (identity before limits) when serving ends, the hooks still serving.
  serve_result served;
  boost::asio::cancellation_signal cancel;
  f.pf->async_serve(0, boost::asio::bind_cancellation_slot(cancel.slot(), served.handler()));
  f.settle();
  BOOST_TEST(f.vf().u32(reg::identity) == 0x00050002u);  // invalidation, heartbeat
  BOOST_TEST(f.vf().u32(reg::limits) == 0x00642080u);    // 100 ms
  const unsigned beat = f.vf().status().heartbeat;
  f.timing.advance(100ms);
  f.settle();
  BOOST_TEST(f.vf().status().heartbeat == (beat + 1) % 4);
  cancel.emit(boost::asio::cancellation_type::terminal);
  f.settle();
  BOOST_TEST(served.calls == 1);
  BOOST_TEST(f.vf().u32(reg::identity) == 0x00010002u);
  BOOST_TEST(f.vf().u32(reg::limits) == 0x00002080u);
  BOOST_TEST(vf.read_block(block5, out, ec) == block5_size, ec.message());  // the hooks still serve
}

// A VF that probed while async_serve ran knows the PF's heartbeat. When serving ended, the PF withdrew it
// (identity before limits) and served on through its write hooks, but the VF saw only the beat stop: after
// 4 intervals it called the PF gone and failed its requests from then on, some of them run by the PF
// (found by a review that built a VF from docs/protocol.md alone: 8 of 40 writes reported done, 9 run).
// When the beat stops the VF reads identity once, finds the heartbeat withdrawn, and goes on without it.
BOOST_AUTO_TEST_CASE(a_vf_that_saw_the_heartbeat_goes_on_when_the_pf_withdraws_it) {
  memory_fixture<manual_timing> f;
  serve_result served;
  boost::asio::cancellation_signal cancel;
  f.pf->async_serve(0, boost::asio::bind_cancellation_slot(cancel.slot(), served.handler()));
  f.settle();
  BOOST_REQUIRE(f.vf().u32(reg::identity) == 0x00050002u);  // invalidation, heartbeat
  vf_endpoint<memory_config_space, manual_timing> vf(f.space, f.window, vf_mailbox_options{}, f.timing);
  std::array<std::byte, block5_size> out{};
  boost::system::error_code ec;
  BOOST_REQUIRE(vf.read_block(block5, out, ec) == block5_size);  // the probe: a 100 ms heartbeat
  cancel.emit(boost::asio::cancellation_type::terminal);
  f.settle();
  BOOST_REQUIRE(served.calls == 1);
  BOOST_REQUIRE(f.vf().u32(reg::identity) == 0x00010002u);  // withdrawn
  std::size_t identity_reads = 0;
  f.space.set_access_observer([&](access_direction direction, std::size_t offset, std::size_t) {
    if (direction == access_direction::read && offset == f.window + reg::identity) ++identity_reads;
  });
  const auto writes_before = f.pf->blocks().counters(0).writes;
  for (unsigned i = 0; i < 60; ++i) {  // a write every 50 ms for 3 s
    f.timing.advance(50ms);
    f.settle();
    BOOST_TEST(vf.write_block(block5, pattern(block5_size, i), ec) == block5_size, "write " << i << ": " << ec.message());
  }
  BOOST_TEST(f.pf->blocks().counters(0).writes - writes_before == 60u);
  BOOST_TEST(identity_reads == 1u);  // once, when the beat was seen stopped
  const auto stored = f.pf->blocks().contents(0, block5);
  BOOST_TEST(std::vector<std::byte>(stored.begin(), stored.end()) == pattern(block5_size, 59), boost::test_tools::per_element());
}


// The acknowledgement registers are the VF's, both of them (docs/protocol.md, ownership): the PF makes
// ack_high writable to the driver as ack_low is, so a VF acknowledges blocks 32..63 as it does 0..31.
BOOST_AUTO_TEST_CASE(a_vf_acknowledges_a_block_above_31_through_ack_high) {
  memory_fixture f;
  raw_vf vf = f.vf();
  BOOST_TEST(!f.pf->invalidate(0, bit(40)));
  BOOST_TEST(!f.pf->invalidate(0, bit(3)));
  BOOST_REQUIRE(vf.mask() == ((std::uint64_t{1} << 40) | 0b1000u));
  BOOST_TEST(vf.status().invalidated);
  vf.write_u32(reg::invalidate_ack_high, 1u << (40 - 32));
  BOOST_TEST(vf.mask() == 0b1000u);  // bit 40 out, bit 3 still latched
  BOOST_TEST(vf.u32(reg::invalidate_ack_high) == 0u);
  vf.write_u32(reg::invalidate_ack_low, 0b1000);
  BOOST_TEST(vf.mask() == 0u);
  BOOST_TEST(!vf.status().invalidated);
  BOOST_TEST((f.pf->blocks().quarantined(0) == quarantine_reason::none));
}

BOOST_AUTO_TEST_SUITE_END()  // pf_mailbox_serve_test
