// Heap allocations of the VF endpoints, counted exactly. This file is its own executable
// (vpci_allocation_tests): it replaces the global operator new and wraps std::aligned_alloc with the
// bench's counter (bench/alloc_counter.cpp), which the suite's other tests must not run under.
#include <boost/test/unit_test.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
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

#include <vpci/asio/pf_endpoint.hpp>
#include <vpci/asio/vf_endpoint.hpp>
#include <vpci/asio/vf_message_endpoint.hpp>
#include <vpci/transport/memory_config_space.hpp>

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

// Binding 1: a PF answering on write hooks through a simulated config space, and VF 0's endpoint.
struct mailbox_world {
  boost::asio::io_context io;
  memory_config_space space{io, 4096};
  pf_endpoint<4> pf;
  std::optional<vf_endpoint<memory_config_space>> vf;
  mailbox_world() {
    BOOST_REQUIRE(!pf.register_vf(0, 0x0101));
    BOOST_REQUIRE(!pf.define<example::stats_block>(0, example::stats_frame{}));
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
    BOOST_REQUIRE(!pf.register_vf(0, 0x0101));
    BOOST_REQUIRE(!pf.define<example::stats_block>(0, example::stats_frame{}));
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

BOOST_AUTO_TEST_SUITE_END()
