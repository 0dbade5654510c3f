// Binding 1 under transport failures: a vf_endpoint over vpci::fault_injecting_transport wrapping a
// memory_config_space that a pf_endpoint services. "Fail at every step": for N = 0, 1, 2, ... the Nth
// transport operation fails; each typed operation must complete exactly once with either the right
// result or the injected error (mapped), never hang or return a wrong or mixed value, and the endpoint
// must recover (a fresh probe) so that the next operation succeeds. fault_injecting_transport is not a
// nonblocking transport for vf_endpoint, so this covers its asynchronous transport path.
#include <boost/test/unit_test.hpp>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <ostream>
#include <span>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/system/error_code.hpp>

#include <vpci/asio/pf_endpoint.hpp>
#include <vpci/asio/vf_endpoint.hpp>
#include <vpci/transport/fault_injecting.hpp>
#include <vpci/transport/memory_config_space.hpp>

#include "virtual_time.hpp"

BOOST_AUTO_TEST_SUITE(mailbox_fault_test)

using namespace vpci;
using namespace std::chrono_literals;

namespace {

using word_block = block<3, std::uint32_t>;

struct frame {
  std::uint32_t sequence;
  std::array<std::uint8_t, 124> data;
  friend constexpr auto vpci_fields(type_tag<frame>) { return fields(&frame::sequence, &frame::data); }
};
using frame_block = block<4, frame>;  // 128 bytes: the whole data window
static_assert(frame_block::size == 128);

frame make_frame(std::uint32_t sequence) {
  frame f{};
  f.sequence = sequence;
  for (std::size_t i = 0; i < f.data.size(); ++i) f.data[i] = static_cast<std::uint8_t>(sequence * 31 + i);
  return f;
}
bool same(const frame& a, const frame& b) { return a.sequence == b.sequence && a.data == b.data; }

using faulty = fault_injecting_transport<memory_config_space&>;
static_assert(!nonblocking_transport_v<faulty>);

struct fault_fixture {
  boost::asio::io_context io;
  memory_config_space space{io, 4096};
  pf_endpoint<2> pf;
  faulty transport{space};
  std::size_t window = 0;
  std::optional<vf_endpoint<faulty>> vf;

  fault_fixture() {
    BOOST_REQUIRE(!pf.register_vf(0, 0x0101));
    BOOST_REQUIRE(!pf.define<word_block>(0, 0xA1B2C3D4u));
    BOOST_REQUIRE(!pf.define<frame_block>(0, make_frame(7)));
    auto placed = pf.attach_mailbox(0, space);
    BOOST_REQUIRE(placed.has_value());
    window = *placed;
    vf.emplace(transport, window);
  }

  // What the window's block register holds.
  std::uint32_t block_register() const {
    std::array<std::byte, 4> bytes{};
    BOOST_REQUIRE(space.device_read(window + mailbox::reg::request_block, bytes) == no_error);
    return le::load_u32(bytes.data());
  }
  std::uint16_t request_sequence() const {
    std::array<std::byte, 4> bytes{};
    BOOST_REQUIRE(space.device_read(window + mailbox::reg::request, bytes) == no_error);
    return static_cast<std::uint16_t>(le::load_u32(bytes.data()) & 0xFFFFu);
  }

  // Runs the io_context until `done` (bounded: a hang fails the test instead of blocking it).
  template <class Done>
  void run_until(Done done) {
    io.restart();
    for (int i = 0; i < 100 && !done(); ++i) io.run_for(100ms);
    BOOST_REQUIRE(done());
  }

  template <class Block>
  std::pair<boost::system::error_code, typename Block::value_type> read() {
    int calls = 0;
    boost::system::error_code result;
    typename Block::value_type value{};
    vf->async_read(Block{}, [&](boost::system::error_code ec, typename Block::value_type v) {
      ++calls;
      result = ec;
      value = v;
    });
    run_until([&] { return calls != 0; });
    io.restart();
    io.poll();  // nothing may complete twice
    BOOST_TEST(calls == 1);
    return {result, value};
  }

  template <class Block>
  std::pair<boost::system::error_code, std::size_t> write(const typename Block::value_type& value) {
    int calls = 0;
    boost::system::error_code result;
    std::size_t bytes = 0;
    vf->async_write(Block{}, value, [&](boost::system::error_code ec, std::size_t n) {
      ++calls;
      result = ec;
      bytes = n;
    });
    run_until([&] { return calls != 0; });
    io.restart();
    io.poll();
    BOOST_TEST(calls == 1);
    return {result, bytes};
  }
};

// The error a vf_endpoint reports for a failed transport operation: the transport's own error code,
// whatever its category, passed through unchanged.
boost::system::error_code mapped(const boost::system::error_code& injected) { return injected; }

const boost::system::error_code injected_errors[] = {
    errc::out_of_range,
    make_error_code(boost::system::errc::io_error),
};

}  // namespace

BOOST_AUTO_TEST_CASE(the_fixture_reads_without_faults) {
  fault_fixture f;
  const auto [ec, value] = f.read<word_block>();
  BOOST_TEST(!ec);
  BOOST_TEST(value == 0xA1B2C3D4u);
  // probe, block register, request, status, data, tear check
  BOOST_TEST(f.transport.operation_count() == 6u);
  // The same block again: no probe, and the block register already holds it.
  const std::size_t before = f.transport.operation_count();
  BOOST_TEST(!f.read<word_block>().first);
  BOOST_TEST(f.transport.operation_count() - before == 4u);
}

BOOST_AUTO_TEST_CASE(fail_at_every_step_of_a_typed_read) {
  for (const auto& injected : injected_errors) {
    std::size_t failing = 0;
    for (std::size_t n = 0;; ++n) {
      BOOST_TEST_CONTEXT("error " << injected.message() << ", failing operation " << n) {
        fault_fixture f;
        f.transport.fail_at(n, injected);
        const auto [ec, value] = f.read<word_block>();
        const bool hit = f.transport.fault_triggered();
        f.transport.disarm();
        if (!hit) {
          BOOST_TEST(!ec);
          BOOST_TEST(value == 0xA1B2C3D4u);
          break;
        }
        ++failing;
        BOOST_TEST(f.transport.faults_injected() == 1u);
        // Either the right value or the injected error: never a wrong value.
        if (ec) {
          BOOST_TEST(ec == mapped(injected));
          BOOST_TEST(value == 0u);
        } else {
          BOOST_TEST(value == 0xA1B2C3D4u);
        }
        // The endpoint recovers: the next read succeeds, after a fresh probe of the window when the
        // failure reached the engine (and a write of the block register when it does not hold the block,
        // or when the request register the probe reads is 0: sequence 1 always writes it).
        const std::size_t before = f.transport.operation_count();
        const bool block_in_register = f.block_register() == word_block::id.value() && f.request_sequence() != 0;
        const auto [again, value2] = f.read<word_block>();
        BOOST_TEST(!again);
        BOOST_TEST(value2 == 0xA1B2C3D4u);
        BOOST_TEST(f.transport.operation_count() - before == (ec ? 5u + (block_in_register ? 0u : 1u) : 4u));
        // And the PF saw nothing it had to refuse.
        BOOST_TEST((f.pf.blocks().quarantined(0) == quarantine_reason::none));
        BOOST_TEST(f.pf.blocks().counters(0).violations == 0u);
      }
      BOOST_REQUIRE(n < 20u);
    }
    BOOST_TEST(failing == 6u);  // every one of the read's six accesses was failed once
  }
}

BOOST_AUTO_TEST_CASE(fail_at_every_step_of_a_full_window_read_while_the_pf_updates) {
  // The 128-byte block, with the PF storing a new frame and invalidating it between attempts: the
  // value read is always one whole frame, never a mix.
  for (std::size_t n = 0;; ++n) {
    BOOST_TEST_CONTEXT("failing operation " << n) {
      fault_fixture f;
      f.transport.fail_at(n, errc::device_error);
      const auto [ec, value] = f.read<frame_block>();
      const bool hit = f.transport.fault_triggered();
      f.transport.disarm();
      if (ec) {
        BOOST_TEST(hit);
        BOOST_TEST((ec == errc::device_error));
      } else {
        BOOST_TEST(same(value, make_frame(7)));
      }
      BOOST_TEST(!f.pf.store<frame_block>(0, make_frame(8)));
      const auto [again, fresh] = f.read<frame_block>();
      BOOST_TEST(!again);
      BOOST_TEST(same(fresh, make_frame(8)));
      if (!hit) break;
    }
    BOOST_REQUIRE(n < 40u);
  }
}

BOOST_AUTO_TEST_CASE(fail_at_every_step_of_a_typed_write) {
  std::size_t failing = 0;
  for (std::size_t n = 0;; ++n) {
    BOOST_TEST_CONTEXT("failing operation " << n) {
      fault_fixture f;
      f.transport.fail_at(n, errc::device_error);
      const auto [ec, bytes] = f.write<word_block>(0x01020304u);
      const bool hit = f.transport.fault_triggered();
      f.transport.disarm();
      auto stored = f.pf.load<word_block>(0);
      BOOST_REQUIRE(stored.has_value());
      if (!hit) {
        BOOST_TEST(!ec);
        BOOST_TEST(bytes == 4u);
        BOOST_TEST(*stored == 0x01020304u);
        break;
      }
      ++failing;
      if (ec) {
        BOOST_TEST((ec == errc::device_error));
        BOOST_TEST(bytes == 0u);
        // The outcome of a failed write is unknown to the VF, but the block holds one of the two
        // values, never a mix.
        BOOST_TEST((*stored == 0x01020304u || *stored == 0xA1B2C3D4u));
      } else {
        BOOST_TEST(*stored == 0x01020304u);
      }
      const auto [again, value] = f.read<word_block>();
      BOOST_TEST(!again);
      BOOST_TEST(value == *stored);
      const auto [rewrite, n2] = f.write<word_block>(0x0A0B0C0Du);
      BOOST_TEST(!rewrite);
      BOOST_TEST(n2 == 4u);
      BOOST_TEST(*f.pf.load<word_block>(0) == 0x0A0B0C0Du);
    }
    BOOST_REQUIRE(n < 20u);
  }
  BOOST_TEST(failing == 5u);  // probe, data window, block register, request, status
}

BOOST_AUTO_TEST_CASE(a_dead_transport_fails_requests_promptly_and_a_revived_one_works) {
  fault_fixture f;
  f.transport.fail_at(0, errc::device_error, fault_persistence::from_then_on);
  for (int i = 0; i < 3; ++i) {
    const auto [ec, value] = f.read<word_block>();
    BOOST_TEST((ec == errc::device_error));
    BOOST_TEST(value == 0u);
  }
  // Each failed on its first access (the probe) instead of probing in a loop until its deadline.
  BOOST_TEST(f.transport.operation_count() == 3u);
  f.transport.disarm();
  const auto [ec, value] = f.read<word_block>();
  BOOST_TEST(!ec);
  BOOST_TEST(value == 0xA1B2C3D4u);
}

// ---- what a transport failure leaves behind (README "Errors", docs/protocol.md 4.1 and 4.3) ----

namespace {

// A PF that serves by polling (its async_serve loop, no write hook) on virtual time, and VF 0 on `faulty`.
struct polled_world {
  boost::asio::io_context io;
  memory_config_space space{io, 4096};
  manual_timing clock;
  pf_endpoint<2, manual_timing> pf{engine::pf_limits{}, clock};
  faulty transport{space};
  std::optional<vf_endpoint<faulty, manual_timing>> vf;
  explicit polled_world(bool service_on_write) {
    BOOST_REQUIRE(!pf.register_vf(0, 0x0101));
    BOOST_REQUIRE(!pf.define_block(0, block_id{8}, std::vector<std::byte>(128, std::byte{0xAA})));
    BOOST_REQUIRE(!pf.define_block(0, block_id{4}, std::vector<std::byte>(8)));
    mailbox_options options;
    options.service_on_write = service_on_write;
    auto window = pf.attach_mailbox(0, space, options);
    BOOST_REQUIRE(window.has_value());
    if (!service_on_write) pf.async_serve(0, [](boost::system::error_code) {});
    vf.emplace(transport, *window, vf_mailbox_options{}, clock);
  }
  // Runs handlers and virtual time until `done`, at most `budget` ns of virtual time.
  template <class Done>
  bool drive(Done done, std::uint64_t budget = 10'000'000'000) {
    test::run_until(io, clock, done, clock.now() + budget);
    return done();
  }
  std::optional<boost::system::error_code> write(std::uint8_t fill) {
    const std::vector<std::byte> data(128, std::byte{fill});
    std::optional<boost::system::error_code> result;
    vf->async_write_block(block_id{8}, std::span<const std::byte>(data),
                          [&](boost::system::error_code ec, std::size_t) { result = ec; });
    drive([&] { return result.has_value(); });
    return result;
  }
};

}  // namespace

// A write whose transport fails after its doorbell (the status read that follows it, here) completes with
// the transport's error, but the PF was rung for it: its outcome is unknown, as a cancelled write's. What
// holds: the PF runs it at most once, and never after a later request of the endpoint (the next request
// waits for its answer first, docs/protocol.md 4.1), so the block ends with what the later write says.
BOOST_AUTO_TEST_CASE(a_write_failed_after_its_doorbell_runs_at_most_once_and_never_after_a_later_write) {
  polled_world w(false);
  // probe, data window, block register, doorbell, then the status read after the doorbell fails
  w.transport.fail_at(4, errc::device_error);
  const auto failed = w.write(0x55);
  BOOST_REQUIRE(failed.has_value());
  BOOST_TEST((*failed == errc::device_error));
  BOOST_TEST(w.transport.faults_injected() == 1u);
  w.transport.disarm();
  const auto later = w.write(0x66);
  BOOST_REQUIRE(later.has_value());
  BOOST_TEST(!*later);
  BOOST_TEST(w.pf.blocks().counters(0).writes == 2u);  // the failed write ran once, before the later one
  std::vector<std::byte> held(128);
  std::optional<boost::system::error_code> read;
  w.vf->async_read_block(block_id{8}, std::span<std::byte>(held), [&](boost::system::error_code ec, std::size_t) { read = ec; });
  BOOST_REQUIRE(w.drive([&] { return read.has_value(); }));
  BOOST_TEST(!*read);
  BOOST_TEST((held == std::vector<std::byte>(128, std::byte{0x66})));
}

// An invalidation look whose transport fails at any of its accesses loses nothing: each raised block is
// delivered by that wait or the next, at most twice (a failed acknowledgement leaves the PF's latch up,
// and the next look delivers the bits again: at least once, never lost, docs/protocol.md 4.3), and a
// later raise arrives.
BOOST_AUTO_TEST_CASE(a_failed_invalidation_look_delivers_every_raised_block_at_least_once_and_at_most_twice) {
  constexpr std::uint64_t raised = (std::uint64_t{1} << 4) | (std::uint64_t{1} << 63);
  constexpr std::uint64_t later = std::uint64_t{1} << 11;
  std::size_t faults = 0;
  for (std::size_t k = 0; k < 8; ++k) {
    BOOST_TEST_CONTEXT("the look's access " << k << " fails") {
      polled_world w(true);
      std::vector<std::byte> bytes(8);
      boost::system::error_code ec;
      BOOST_REQUIRE(w.vf->read_block(block_id{4}, bytes, ec) == 8u);  // probed, idle
      std::vector<std::uint64_t> delivered;
      const auto wait = [&]() -> std::optional<boost::system::error_code> {
        std::optional<boost::system::error_code> result;
        w.vf->async_wait_invalidate([&](boost::system::error_code e, block_mask mask) {
          result = e;
          if (!e) delivered.push_back(mask.bits());
        });
        w.drive([&] { return result.has_value(); }, 2'000'000'000);
        return result;
      };
      w.transport.fail_at(w.transport.operation_count() + k, errc::device_error);
      BOOST_REQUIRE(!w.pf.invalidate(0, block_mask{raised}));
      const auto first = wait();
      BOOST_REQUIRE(first.has_value());
      if (*first) BOOST_TEST((*first == errc::device_error));
      faults += w.transport.faults_injected();
      w.transport.disarm();
      std::uint64_t seen = 0;
      for (std::uint64_t m : delivered) seen |= m;
      if ((seen & raised) != raised) BOOST_REQUIRE(wait().has_value());
      BOOST_REQUIRE(!w.pf.invalidate(0, block_mask{later}));
      for (int i = 0; i < 3; ++i) {
        std::uint64_t all = 0;
        for (std::uint64_t m : delivered) all |= m;
        if ((all & later) != 0) break;
        BOOST_REQUIRE(wait().has_value());
      }
      std::uint64_t four = 0, sixty_three = 0, eleven = 0;
      for (std::uint64_t m : delivered) {
        four += (m >> 4) & 1;
        sixty_three += (m >> 63) & 1;
        eleven += (m >> 11) & 1;
      }
      BOOST_TEST(four >= 1u);
      BOOST_TEST(four <= 2u);
      BOOST_TEST(sixty_three >= 1u);
      BOOST_TEST(sixty_three <= 2u);
      BOOST_TEST(eleven == 1u);
    }
  }
  BOOST_TEST(faults >= 4u);  // the looks' accesses were reached (status, acknowledgements, mask, acknowledgement)
}

BOOST_AUTO_TEST_SUITE_END()  // mailbox_fault_test
