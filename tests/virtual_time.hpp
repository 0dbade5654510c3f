// Driving an io_context on virtual time (vpci::manual_timing) in tests: nothing waits on real time.
#pragma once

#include <cstdint>

#include <boost/asio/io_context.hpp>

#include <vpci/asio/timing.hpp>

namespace vpci::test {

// Runs every handler that is ready now.
inline void run_ready(boost::asio::io_context& io) {
  io.restart();
  io.poll();
}

// Runs the io_context and moves virtual time to each next timer until `done()` or `limit` (virtual
// nanoseconds; a virtual minute unless given).
template <class Done>
void run_until(boost::asio::io_context& io, const manual_timing& clock, Done done, std::uint64_t limit = 60'000'000'000) {
  for (int i = 0; i < 1'000'000 && !done(); ++i) {
    run_ready(io);
    if (done()) return;
    const std::uint64_t next = clock.next_expiry();
    if (next == never || next > limit) return;
    clock.advance_to(next);
  }
}

}  // namespace vpci::test
