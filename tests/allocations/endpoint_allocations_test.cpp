// Heap allocations of the VF endpoints, counted exactly. This file is its own executable
// (vpci_allocation_tests): it replaces the global operator new and wraps std::aligned_alloc with the
// bench's counter (bench/alloc_counter.cpp), which the suite's other tests must not run under.
#include <boost/test/unit_test.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <new>
#include <memory>
#include <optional>
#include <vector>

#include <boost/asio/bind_allocator.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/connect_pair.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <vpci/asio/ioctl_device.hpp>
#include <vpci/asio/pf_endpoint.hpp>
#include <vpci/asio/vf_endpoint.hpp>
#include <vpci/asio/vf_message_endpoint.hpp>
#include <vpci/transport/device_side.hpp>
#include <vpci/transport/fault_injecting.hpp>
#include <vpci/transport/memory_config_space.hpp>
#include <vpci/transport/shm_config_space.hpp>

#include "../../bench/alloc_counter.hpp"
#include "../../examples/blocks.hpp"
#include "../counted_allocator.hpp"

BOOST_AUTO_TEST_SUITE(endpoint_allocations_test)

using namespace vpci;
using vpci_bench::allocation_count;
using socket_type = boost::asio::local::stream_protocol::socket;

namespace {

constexpr hyperv::wslot vf0_slot{2, 1};
constexpr block_id stats_id = example::stats_block::id;

// VF 0 registered with the PF, its stats block defined.
template <class Pf>
void register_vf0_with_stats(Pf& pf) {
  BOOST_REQUIRE(!pf.register_vf(0, 0x0101));
  BOOST_REQUIRE(!pf.template define<example::stats_block>(0, example::stats_frame{}));
}

// Binding 1: a PF answering on write hooks through a simulated config space, and VF 0's endpoint.
struct mailbox_world {
  boost::asio::io_context io;
  memory_config_space space{io, 4096};
  pf_endpoint<4> pf;
  std::optional<vf_endpoint<memory_config_space>> vf;
  mailbox_world() {
    register_vf0_with_stats(pf);
    const auto window = pf.attach_mailbox(0, space);
    BOOST_REQUIRE(window.has_value());
    vf.emplace(space, *window);
  }
};

// Binding 2: a PF serving VF 0 over a local socket in the same io_context.
struct message_world {
  boost::asio::io_context io;
  socket_type vf_socket{io};
  socket_type pf_socket{io};
  pf_endpoint<4> pf;
  std::optional<vf_message_endpoint<socket_type>> vf;
  message_world() {
    boost::asio::local::connect_pair(vf_socket, pf_socket);
    register_vf0_with_stats(pf);
    pf.async_serve(0, vf0_slot, pf_socket, [](boost::system::error_code) {});
    vf.emplace(vf_socket, vf0_slot);
  }
};

// Runs `bursts` bursts of `count` reads of the stats block (callback handlers) in one run() of the
// io_context, as a program does: each burst starts from the completion of the last read of the one before,
// all `count` reads at once. Returns the heap allocations each burst took, from its start to its last
// completion. (Asio keeps its per-thread caches for the length of a run() call: a test that runs the
// io_context call by call would count what no program pays.)
template <class World>
std::vector<std::uint64_t> allocations_of_bursts(World& w, std::size_t count, std::size_t bursts) {
  std::array<std::array<std::byte, example::stats_block::size>, 64> buffers{};
  BOOST_REQUIRE(count <= buffers.size());
  std::vector<std::uint64_t> taken;
  taken.reserve(bursts);
  std::size_t completed = 0;
  std::size_t failed = 0;
  std::uint64_t before = 0;
  std::function<void()> start = [&] {
    completed = 0;
    before = allocation_count();
    for (std::size_t i = 0; i < count; ++i)
      w.vf->async_read_block(stats_id, buffers[i], [&](boost::system::error_code ec, std::size_t) {
        if (ec) ++failed;
        if (++completed < count) return;
        taken.push_back(allocation_count() - before);
        if (taken.size() < bursts) start();
        else w.io.stop();
      });
  };
  boost::asio::post(w.io, start);
  w.io.run();
  BOOST_TEST(failed == 0u);
  BOOST_REQUIRE(taken.size() == bursts);
  return taken;
}

}  // namespace

// An endpoint's pending operations took their memory from Asio's per-thread cache, which keeps two
// blocks: every burst of requests beyond two took the rest from the heap, each time.
BOOST_AUTO_TEST_CASE(a_burst_of_requests_takes_no_heap_memory_after_the_first_on_binding_1) {
  mailbox_world w;
  constexpr std::size_t burst = vf_endpoint<memory_config_space>::max_operations;
  const auto taken = allocations_of_bursts(w, burst, 4);
  // The first burst fills the caches (Asio's, the socket's); the others take nothing from the heap.
  BOOST_TEST(std::vector<std::uint64_t>(taken.begin() + 1, taken.end()) == std::vector<std::uint64_t>(3, 0),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(a_burst_of_requests_takes_no_heap_memory_after_the_first_on_binding_2) {
  message_world w;
  constexpr std::size_t burst = vf_message_endpoint<socket_type>::max_operations;
  const auto taken = allocations_of_bursts(w, burst, 4);
  BOOST_TEST(std::vector<std::uint64_t>(taken.begin() + 1, taken.end()) == std::vector<std::uint64_t>(3, 0),
             boost::test_tools::per_element());
}

// A coroutine's typed reads and writes and its invalidation waits, in steady state: its handlers run on the
// endpoint's executor and are called without a type-erased wrapper, their operations in the endpoint's slots.
template <class World>
std::uint64_t allocations_of_a_coroutine(World& w, int rounds) {
  std::uint64_t taken = 0;
  bool finished = false;
  boost::asio::co_spawn(
      w.io,
      [&]() -> boost::asio::awaitable<void> {
        const auto round = [&]() -> boost::asio::awaitable<void> {
          const example::stats_frame stats = co_await w.vf->async_read(example::stats_block{}, boost::asio::use_awaitable);
          const std::size_t written = co_await w.vf->async_write(example::stats_block{}, stats, boost::asio::use_awaitable);
          BOOST_REQUIRE(written == example::stats_block::size);
          BOOST_REQUIRE(!w.pf.template invalidate<example::stats_block>(0));
          const block_mask raised = co_await w.vf->async_wait_invalidate(boost::asio::use_awaitable);
          BOOST_REQUIRE(raised == example::stats_block::mask());
        };
        for (int i = 0; i < 4; ++i) co_await round();
        const std::uint64_t before = allocation_count();
        for (int i = 0; i < rounds; ++i) co_await round();
        taken = allocation_count() - before;
        finished = true;
        w.io.stop();
      },
      boost::asio::detached);
  w.io.run();
  BOOST_REQUIRE(finished);
  return taken;
}

BOOST_AUTO_TEST_CASE(a_coroutine_takes_no_heap_memory_in_steady_state_on_binding_1) {
  mailbox_world w;
  BOOST_TEST(allocations_of_a_coroutine(w, 50) == 0u);
}

BOOST_AUTO_TEST_CASE(a_coroutine_takes_no_heap_memory_in_steady_state_on_binding_2) {
  message_world w;
  BOOST_TEST(allocations_of_a_coroutine(w, 50) == 0u);
}

using vpci_test::counted_allocator;

BOOST_AUTO_TEST_CASE(a_handler_with_an_allocator_of_its_own_is_allocated_with_it) {
  mailbox_world w;
  std::size_t asked = 0;
  std::array<std::byte, example::stats_block::size> buffer{};
  std::optional<boost::system::error_code> result;
  w.vf->async_read_block(stats_id, buffer,
                         boost::asio::bind_allocator(counted_allocator<void>(&asked),
                                                     [&](boost::system::error_code ec, std::size_t) { result = ec; }));
  w.io.run();
  BOOST_REQUIRE(result.has_value());
  BOOST_TEST(!*result);
  BOOST_TEST(asked == 1u);
}

// The PF's serving completes through a post (never inline): that post takes its memory from the handler's
// allocator, and from nowhere else. It took Asio's recycling allocator, the handler's ignored. The handlers
// name the io_context's own executor: through any_io_executor (the default), Asio 1.81's type erasure
// allocates for itself whatever the handler's allocator.
namespace {

// Serves VF `vf` of `w` with a handler on the io_context's executor, bound to a counted allocator.
void serve_counted(mailbox_world& w, vf_index vf, std::size_t& asked, std::optional<boost::system::error_code>& result) {
  w.pf.async_serve(vf, boost::asio::bind_executor(w.io.get_executor(),
                                                  boost::asio::bind_allocator(counted_allocator<void>(&asked),
                                                                              [&result](boost::system::error_code ec) { result = ec; })));
}

}  // namespace

BOOST_AUTO_TEST_CASE(a_pf_serve_whose_handler_has_an_allocator_completes_with_it) {
  mailbox_world w;
  std::size_t asked = 0;
  std::optional<boost::system::error_code> result;
  serve_counted(w, 0, asked, result);
  w.io.poll();  // serving runs (its first pass)
  BOOST_REQUIRE(!result.has_value());
  const std::size_t asked_while_serving = asked;
  const std::uint64_t before = allocation_count();
  BOOST_REQUIRE(!w.pf.detach_mailbox(0));  // serving ends with success
  w.io.poll();
  BOOST_REQUIRE(result.has_value());
  BOOST_TEST(!*result);
  BOOST_TEST(asked - asked_while_serving == 1u);
  BOOST_TEST(allocation_count() - before == 1u);  // that one, and no other
}

// A refused serve (VF 3 is not registered) completes through a post that takes the handler's allocator too.
BOOST_AUTO_TEST_CASE(a_refused_pf_serve_completes_with_its_handlers_allocator) {
  mailbox_world w;
  std::size_t asked = 0;
  std::optional<boost::system::error_code> result;
  serve_counted(w, 3, asked, result);
  w.io.poll();
  BOOST_REQUIRE(result.has_value());
  BOOST_TEST((*result == errc::not_found));
  BOOST_TEST(asked == 1u);
}

// ---- out of memory: the allocation a call needs fails (fail_allocation), one after another ----

namespace {

// A block handler that counts its calls and answers `fill` bytes.
struct counting_handler final : engine::block_handler {
  explicit counting_handler(std::byte fill) : fill(fill) {}
  ntstatus on_read(vf_index, block_id, std::span<std::byte> out, std::size_t& bytes) override {
    ++reads;
    std::fill(out.begin(), out.end(), fill);
    bytes = out.size();
    return ntstatus::success;
  }
  ntstatus on_write(vf_index, block_id, std::span<const std::byte>) override { return ntstatus::success; }
  std::byte fill;
  int reads = 0;
};

// Runs `call` with its `n`-th allocation failing, for n = 0, 1, ... until a run needs fewer allocations
// than n; `check(threw)` after each run whose failure happened. Returns how many runs failed one.
template <class Call, class Check>
std::size_t with_each_allocation_failing(Call call, Check check) {
  std::size_t runs = 0;
  for (std::uint64_t n = 0; n < 200; ++n) {
    bool threw = false;
    vpci_bench::fail_allocation(n);
    try {
      call();
    } catch (const std::bad_alloc&) {
      threw = true;
    }
    vpci_bench::fail_no_allocation();
    if (!vpci_bench::allocation_failed()) return runs;
    ++runs;
    BOOST_TEST_CONTEXT("allocation " << n << " failed") { check(threw); }
  }
  BOOST_ERROR("a call that never stops allocating");
  return runs;
}

// Runs what is ready (the peers answer each other at once: nothing waits on time); a bad_alloc out of the
// loop is the program's to see, and the loop is run again.
void poll_through_out_of_memory(boost::asio::io_context& io) {
  for (int i = 0; i < 8; ++i) {
    try {
      io.restart();
      io.poll();
      return;
    } catch (const std::bad_alloc&) {
    }
  }
  BOOST_ERROR("the event loop kept running out of memory");
}

// A 128-byte write of block 70 and a read of the stats block on `vf`, each with every allocation in turn
// failing (at least `least_failures` of them): the call throws and nothing completes, or the request
// completes exactly once, successfully or with `allowed_error` (any error when none is given). A read
// succeeds afterwards.
template <class Endpoint>
void requests_out_of_memory_complete_once(boost::asio::io_context& io, Endpoint& vf, std::size_t least_failures,
                                          std::optional<boost::system::error_code> allowed_error) {
  std::array<std::byte, example::stats_block::size> buffer{};
  std::array<std::byte, 128> large{};
  int completions = 0;
  boost::system::error_code outcome;
  const auto done = [&](boost::system::error_code ec, std::size_t) {
    outcome = ec;
    ++completions;
  };
  const auto until_completed = [&] {
    for (int turn = 0; turn < 100 && completions == 0; ++turn) poll_through_out_of_memory(io);
  };
  for (const bool write : {true, false}) {
    BOOST_TEST_CONTEXT((write ? "write of 128 bytes" : "read")) {
      const std::size_t failed = with_each_allocation_failing(
          [&] {
            completions = 0;
            outcome = {};
            if (write) vf.async_write_block(block_id{70}, large, done);
            else vf.async_read_block(stats_id, buffer, done);
            until_completed();
          },
          [&](bool threw) {
            BOOST_TEST(completions == (threw ? 0 : 1));
            if (completions == 1 && outcome && allowed_error) BOOST_TEST((outcome == *allowed_error), outcome.message());
          });
      BOOST_TEST(failed >= least_failures);
    }
  }
  completions = 0;
  outcome = errc::device_error;
  vf.async_read_block(stats_id, buffer, done);
  until_completed();
  BOOST_TEST(completions == 1);
  BOOST_TEST(!outcome, outcome.message());
}

}  // namespace

// A block (re)defined with a handler: the store took the new handler's pointer before the map entry that
// keeps it was allocated, so when that allocation failed the call threw, the handler was freed and the
// block pointed at it (the next read called freed memory), the old handler gone too. Out of memory, the
// call now throws with nothing changed: the old handler still answers.
BOOST_AUTO_TEST_CASE(a_block_handler_defined_out_of_memory_changes_nothing) {
  pf_endpoint<4> pf;
  BOOST_REQUIRE(!pf.register_vf(0, 0x0101));
  const auto old_handler = std::make_shared<counting_handler>(std::byte{0x11});
  const auto new_handler = std::make_shared<counting_handler>(std::byte{0x22});
  const std::array<std::byte, 16> initial{};
  BOOST_REQUIRE(!pf.define_block(0, block_id{5}, initial, block_access::read_write, old_handler));
  std::array<std::byte, 16> out{};
  const auto read = [&](std::uint32_t id) { return pf.blocks().serve_read(0, block_id{id}, out.size(), out); };
  // A redefinition.
  const std::size_t failed_redefinitions = with_each_allocation_failing(
      [&] { (void)pf.define_block(0, block_id{5}, initial, block_access::read_write, new_handler); },
      [&](bool threw) {
        BOOST_TEST(threw);
        const int before = old_handler->reads;
        BOOST_TEST((read(5).status == ntstatus::success));
        BOOST_TEST(old_handler->reads == before + 1);
        BOOST_TEST(new_handler->reads == 0);
        BOOST_TEST((out[0] == std::byte{0x11}));
      });
  BOOST_TEST(failed_redefinitions >= 1u);
  BOOST_TEST((read(5).status == ntstatus::success));  // the last run succeeded: the new handler answers
  BOOST_TEST((out[0] == std::byte{0x22}));
  // A new block.
  const auto third = std::make_shared<counting_handler>(std::byte{0x33});
  const std::size_t failed_definitions = with_each_allocation_failing(
      [&] {
        const auto ec = pf.define_block(0, block_id{6}, initial, block_access::read_write, third);
        if (!ec) return;
        BOOST_ERROR("define_block failed without throwing: " << ec.message());
      },
      [&](bool threw) {
        BOOST_TEST(threw);
        BOOST_TEST((read(6).status == ntstatus::invalid_parameter));  // not defined
        BOOST_TEST(third->reads == 0);
        BOOST_TEST(!pf.blocks().defined(0, block_id{6}));
      });
  BOOST_TEST(failed_definitions >= 2u);  // the handler's wrapper, then the entry that keeps it
  BOOST_TEST((read(6).status == ntstatus::success));
  BOOST_TEST(third->reads == 1);
}

// An IOCTL read or invalidate that the device accepted (STATUS_PENDING) whose start on the executor ran out
// of memory: nothing completed it, and the caller's event was never set. Each allocation of the request in
// turn failing: the request completes exactly once (STATUS_INSUFFICIENT_RESOURCES where its start failed),
// or the call refuses it at once; a bad_alloc out of the event loop is the program's to see, and the loop
// run again finishes the work. The device serves a read afterwards.
BOOST_AUTO_TEST_CASE(an_ioctl_request_out_of_memory_completes_once_and_never_stays_pending) {
  mailbox_world w;
  ioctl_device<vf_endpoint<memory_config_space>> device(*w.vf);
  const auto run = [&] {
    for (int i = 0; i < 8; ++i) {
      try {
        w.io.restart();
        w.io.run();
        return;
      } catch (const std::bad_alloc&) {
      }
    }
    BOOST_ERROR("the event loop kept running out of memory");
  };
  std::array<std::byte, 8> input{};
  le::store_u32(input.data(), stats_id.value());
  le::store_u32(input.data() + 4, example::stats_block::size);
  std::array<std::byte, example::stats_block::size> output{};
  const auto issue = [&](std::uint32_t code, io_status_block& status, int& completions) {
    const std::uint32_t input_size = code == ioctl::read_block ? 8u : 0u;
    return device.device_io_control(code, input_size != 0 ? input.data() : nullptr, input_size, output.data(),
                                    code == ioctl::read_block ? static_cast<std::uint32_t>(output.size()) : 8u, status,
                                    [&completions](io_status_block&) { ++completions; });
  };
  {  // warm: Asio's caches hold what a request takes
    io_status_block status;
    int completions = 0;
    BOOST_TEST((issue(ioctl::read_block, status, completions) == ntstatus::pending));
    run();
    BOOST_TEST(completions == 1);
  }
  for (const std::uint32_t code : {ioctl::read_block, ioctl::invalidate_block}) {
    BOOST_TEST_CONTEXT((code == ioctl::read_block ? "read" : "invalidate")) {
      io_status_block status;
      int completions = 0;
      ntstatus returned = ntstatus::success;
      const std::size_t failed = with_each_allocation_failing(
          [&] {
            completions = 0;
            returned = ntstatus::success;
            returned = issue(code, status, completions);
            if (code == ioctl::invalidate_block && returned == ntstatus::pending) {
              vpci_bench::fail_no_allocation();
              (void)w.pf.invalidate(0, block_mask{1});  // what ends the wait (no allocation counted)
            }
            run();
          },
          [&](bool threw) {
            if (threw || returned != ntstatus::pending) {
              BOOST_TEST(completions == 0);  // refused at once: nothing to complete
              return;
            }
            BOOST_TEST(completions == 1);
            BOOST_TEST((status.Status == ntstatus::success || status.Status == ntstatus::insufficient_resources));
          });
      BOOST_TEST(failed >= 1u);
    }
  }
  io_status_block status;
  int completions = 0;
  BOOST_TEST((issue(ioctl::read_block, status, completions) == ntstatus::pending));
  run();
  BOOST_TEST(completions == 1);
  BOOST_TEST((status.Status == ntstatus::success));
}

// Binding 2, a request started while memory runs out, each allocation of it in turn failing: the frame's
// copy grew the endpoint's output buffer inside the pump (the first frame larger than any before), and an
// allocation failing there, or after the request was filed, lost the request (neither thrown nor
// completed) and left the endpoint's pump marked running: every later request hung. Now the call throws
// with nothing started, or the request completes exactly once; the endpoint serves a read afterwards.
BOOST_AUTO_TEST_CASE(a_binding_2_request_out_of_memory_throws_or_completes_once_and_the_endpoint_goes_on) {
  message_world w;
  requests_out_of_memory_complete_once(w.io, *w.vf, 1, std::nullopt);
}

// Binding 1 over a transport whose accesses complete later (the fault-injecting wrapper drives the
// simulated config space through async_read/async_write, as shm and sysfs are driven), each allocation of a
// read or a write in turn failing. An access that could not start for want of memory inside the endpoint's
// pump left the engine waiting for a report that never came: the operation hung (without a deadline, for
// good) and the next one queued behind it. Now the access fails the operation with not_enough_memory, the
// call throws with nothing started, or the operation succeeds; exactly one completion either way, and the
// endpoint serves a read afterwards.
BOOST_AUTO_TEST_CASE(a_binding_1_access_that_cannot_start_out_of_memory_fails_its_operation_instead_of_hanging) {
  boost::asio::io_context io;
  memory_config_space space{io, 4096};
  pf_endpoint<4> pf;
  register_vf0_with_stats(pf);
  BOOST_REQUIRE(!pf.define_block(0, block_id{70}, std::array<std::byte, 128>{}, block_access::read_write));
  const auto window = pf.attach_mailbox(0, space);
  BOOST_REQUIRE(window.has_value());
  fault_injecting_transport<memory_config_space&> accesses{space};
  vf_endpoint<fault_injecting_transport<memory_config_space&>> vf(accesses, *window);
  requests_out_of_memory_complete_once(io, vf, 2, make_error_code(boost::system::errc::not_enough_memory));
}

// Binding 1 over shared memory, where a PF's write rings the VF's doorbell: an invalidation wait whose
// doorbell wait could not start (out of memory) left the endpoint marked as waiting on the doorbell, so no
// later pump started one: the idle watcher, which reads nothing while it counts on the doorbell, never
// woke for the PF's invalidation (and every request after it waited for the watch interval). Each
// allocation of the wait's start in turn failing: the call throws with nothing started, or the wait ends
// at the PF's invalidation, on virtual time that never moved.
BOOST_AUTO_TEST_CASE(a_doorbell_wait_that_cannot_start_out_of_memory_is_started_again) {
  using shm_vf = vf_endpoint<shm_config_space, manual_timing>;
  boost::asio::io_context io;
  std::optional<shm_config_space> space(shm_config_space::create_anonymous(io.get_executor(), 4096));
  auto driver = space->view(io.get_executor(), shm_role::driver);
  pf_endpoint<2> pf;
  register_vf0_with_stats(pf);
  const auto window = pf.attach_mailbox(0, *space);
  BOOST_REQUIRE(window.has_value());
  pf.async_serve(0, [](boost::system::error_code) {});
  manual_timing clock;
  shm_vf vf(driver, *window, vf_mailbox_options{}, clock);
  // Runs what is ready; a bad_alloc out of the loop is the program's to see, and the loop goes on.
  const auto run_for = [&](auto done) {
    for (int i = 0; i < 500 && !done(); ++i) {
      try {
        io.restart();
        io.run_one_for(std::chrono::milliseconds(10));  // a guard: the doorbell wakes a thread of the view
      } catch (const std::bad_alloc&) {
      }
    }
  };
  std::array<std::byte, example::stats_block::size> buffer{};
  int reads = 0;
  vf.async_read_block(stats_id, buffer, [&](boost::system::error_code ec, std::size_t) {
    BOOST_TEST(!ec, ec.message());
    ++reads;
  });
  run_for([&] { return reads == 1; });
  BOOST_REQUIRE(reads == 1);
  std::uint32_t next_bit = 0;
  int completions = 0;
  block_mask delivered{};
  const std::size_t failed = with_each_allocation_failing(
      [&] {
        completions = 0;
        delivered = block_mask{};
        vf.async_wait_invalidate([&](boost::system::error_code ec, block_mask mask) {
          BOOST_TEST(!ec, ec.message());
          delivered = mask;
          ++completions;
        });
        poll_through_out_of_memory(io);
      },
      [&](bool threw) {
        if (threw) {
          BOOST_TEST(completions == 0);
          return;
        }
        const block_mask raised{std::uint64_t{1} << (next_bit++ % 64)};
        BOOST_REQUIRE(!pf.invalidate(0, raised));
        run_for([&] { return completions != 0; });
        BOOST_TEST(completions == 1);
        BOOST_TEST((delivered == raised));
      });
  BOOST_TEST(failed >= 1u);
  BOOST_TEST(clock.now() == 0u);  // the doorbell woke every wait, never the watch interval
}

// A shared-memory doorbell wait completes through a post from the transport's own helper thread, and that
// post allocates: out of memory there, the exception ended the process (std::terminate on that thread).
// Now the completion is posted again a millisecond later: the wait completes once, with the ring.
BOOST_AUTO_TEST_CASE(a_doorbell_wait_completion_posted_out_of_memory_is_posted_again_instead_of_ending_the_process) {
  boost::asio::io_context io;
  auto device = shm_config_space::create_anonymous(io.get_executor(), 256);
  const std::uint32_t seen = device.doorbell_sequence(shm_doorbell::to_device);
  int completions = 0;
  boost::system::error_code result = errc::device_error;
  std::uint32_t observed = 0;
  device.async_wait_doorbell(shm_doorbell::to_device, seen, [&](boost::system::error_code ec, std::uint32_t value) {
    result = ec;
    observed = value;
    ++completions;
  });
  // The helper thread is waiting on the doorbell (or about to): the ring wakes it, and the next allocation
  // of the process, its post of the completion, fails.
  vpci_bench::fail_allocation(0);
  device.ring_doorbell(shm_doorbell::to_device);
  for (int i = 0; i < 500 && completions == 0; ++i) io.run_one_for(std::chrono::milliseconds(10));
  BOOST_TEST(vpci_bench::allocation_failed());
  vpci_bench::fail_no_allocation();
  BOOST_TEST(completions == 1);
  BOOST_TEST(!result, result.message());
  BOOST_TEST(observed == seen + 1);
}

// vpci::manual_timing posts a timer's completion when the test advances time or the timer is cancelled,
// re-armed or destroyed, and that post allocates. Out of memory there, the completion was dropped: the
// wait never completed (a test driving an endpoint through it saw the endpoint hang), and a timer
// destroyed meanwhile ended the process. Now the wait stays armed until posted (the call that tried
// throws) and completes exactly once: with success at the next advance, with operation_aborted at the next
// cancel, or, for a timer destroyed meanwhile, at the next advance.
BOOST_AUTO_TEST_CASE(a_virtual_timer_completion_posted_out_of_memory_stays_armed_and_completes_once) {
  using namespace std::chrono_literals;
  boost::asio::io_context io;
  manual_timing clock;
  int completions = 0;
  boost::system::error_code result;
  bool armed = false;
  const auto wait_on = [&](manual_timing::timer_type& timer, std::chrono::nanoseconds after) {
    poll_through_out_of_memory(io);  // what the run before completed (a sweep's last run is not checked)
    completions = 0;
    result = errc::device_error;
    armed = false;
    timer.expires_at(deadline_after(clock.now(), after));
    timer.async_wait([&](boost::system::error_code ec) {
      result = ec;
      ++completions;
    });
    armed = true;
  };
  // Reached by an advance.
  auto timer = clock.make_timer(io.get_executor());
  std::size_t failed = with_each_allocation_failing([&] {
    wait_on(timer, 1ms);
    clock.advance(1ms);
  }, [&](bool) {
    clock.advance(0ms);
    poll_through_out_of_memory(io);
    BOOST_TEST(completions == (armed ? 1 : 0));
    if (armed) BOOST_TEST(!result, result.message());
    BOOST_TEST(clock.armed() == 0u);
  });
  BOOST_TEST(failed >= 1u);
  // Re-armed (a cancel): the wait stays armed until a cancel posts it.
  failed = with_each_allocation_failing([&] {
    wait_on(timer, 1h);
    timer.expires_at(never);
  }, [&](bool) {
    (void)timer.cancel();
    poll_through_out_of_memory(io);
    BOOST_TEST(completions == (armed ? 1 : 0));
    if (armed) BOOST_TEST((result == boost::asio::error::operation_aborted), result.message());
    BOOST_TEST(clock.armed() == 0u);
  });
  BOOST_TEST(failed >= 1u);
  // Destroyed with its wait pending: the wait completes with operation_aborted, at the next advance at the
  // latest.
  failed = with_each_allocation_failing([&] {
    auto doomed = clock.make_timer(io.get_executor());
    wait_on(doomed, 1h);
  }, [&](bool) {
    clock.advance(0ms);
    poll_through_out_of_memory(io);
    BOOST_TEST(completions == (armed ? 1 : 0));
    if (armed) BOOST_TEST((result == boost::asio::error::operation_aborted), result.message());
    BOOST_TEST(clock.armed() == 0u);
  });
  BOOST_TEST(failed >= 1u);
}

// attach_mailbox with each of its allocations failing in turn: the window was written and published, then
// the write hook that serves it could not be added (a window nobody serves: a VF finding it timed out), or
// the attachment could not be recorded after the hook was in (a server answering the VF that
// detach_mailbox, remove_vf and a second attach could not see). Now the call throws or fails with the
// config space as it was and nothing attached; the next attach serves the VF.
BOOST_AUTO_TEST_CASE(a_mailbox_attached_out_of_memory_leaves_the_config_space_as_it_was) {
  boost::asio::io_context io;
  memory_config_space space{io, 4096};
  pf_endpoint<4> pf;
  register_vf0_with_stats(pf);
  std::vector<std::byte> before(space.size());
  boost::system::error_code ec;
  device_side_read(space, 0, before, ec);
  BOOST_REQUIRE(!ec);
  const std::size_t failed = with_each_allocation_failing(
      [&] {
        const auto window = pf.attach_mailbox(0, space);
        if (window.has_value()) BOOST_REQUIRE(!pf.detach_mailbox(0));  // the run that needed no failure
      },
      [&](bool) {
        std::vector<std::byte> after(space.size());
        boost::system::error_code read_error;
        device_side_read(space, 0, after, read_error);
        BOOST_TEST(!read_error);
        BOOST_TEST((after == before));
        BOOST_TEST((pf.detach_mailbox(0) == errc::not_found));  // nothing attached, seen or unseen
      });
  BOOST_TEST(failed >= 3u);
  const auto window = pf.attach_mailbox(0, space);
  BOOST_REQUIRE(window.has_value());
  vf_endpoint<memory_config_space> vf(space, *window);
  std::array<std::byte, example::stats_block::size> buffer{};
  boost::system::error_code read_error;
  BOOST_TEST(vf.read_block(stats_id, buffer, read_error) == buffer.size());
  BOOST_TEST(!read_error);
}

BOOST_AUTO_TEST_SUITE_END()
