// Shared by the benchmark files: the socket type, a completion handler for co_spawn that lets a
// coroutine's exception escape io_context::run (a failed benchmark must not look like a fast one), and
// how many operations run before the measured loop (recycling caches and sockets reach steady state).
#pragma once

#include <exception>

#include <benchmark/benchmark.h>
#include <boost/asio/local/stream_protocol.hpp>

namespace vpci_bench {

using socket_type = boost::asio::local::stream_protocol::socket;

inline constexpr int warmup_operations = 200;

inline void rethrow(std::exception_ptr error) {
  if (error) std::rethrow_exception(error);
}

// The block sizes every measured binding runs with: ->Apply(block_sizes).
inline void block_sizes(benchmark::internal::Benchmark* b) { b->Arg(4)->Arg(64)->Arg(128); }

}  // namespace vpci_bench
