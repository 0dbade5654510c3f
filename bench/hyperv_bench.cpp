// Binding 2, the Hyper-V messages over a local stream socket: the VF endpoint on the benchmark thread's
// io_context, the PF serving it (pf_endpoint::async_serve) on an io_context of its own thread, as a VF
// driver and a PF driver would be.
//   hyperv_uds            one read at a time (co_await each)
//   hyperv_uds_pipelined  16 or 64 reads of 128 bytes kept in flight; an iteration is one completion
//   hyperv_uds_paired     hyperv_uds/128 against the uds_echo floor in the same process, alternating
//                         every 64 round trips: the ratio the <= 1.15x target judges. Separate benchmarks
//                         run seconds apart, and a cross-thread round trip on a shared machine moves by
//                         a fifth from one second to the next, more than the difference measured.
#include <array>
#include <chrono>
#include <cstddef>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/connect_pair.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <vpci/asio/pf_endpoint.hpp>
#include <vpci/asio/vf_message_endpoint.hpp>

#include "alloc_counter.hpp"
#include "bench_support.hpp"
#include "cpu_placement.hpp"
#include "uds_echo.hpp"

using namespace vpci_bench;

namespace {

constexpr vpci::block_id bench_block{3};
constexpr vpci::hyperv::wslot bench_slot{2, 1};

struct hyperv_pair {
  boost::asio::io_context vf_io;
  boost::asio::io_context pf_io;
  socket_type vf_socket{vf_io};
  socket_type pf_socket{pf_io};
  vpci::pf_endpoint<4> pf;
  std::optional<vpci::vf_message_endpoint<socket_type>> vf;
  std::thread pf_thread;
  boost::system::error_code served;  // how serving ended (read after the PF thread is joined)

  explicit hyperv_pair(std::size_t size) {
    boost::asio::local::connect_pair(vf_socket, pf_socket);
    (void)pf.register_vf(0, 0x0101);
    std::vector<std::byte> initial(size, std::byte{0x5A});
    (void)pf.define_block(0, bench_block, initial);
    // Serving ends when the VF closes its socket (end of stream); run() then runs out of work.
    pf.async_serve(0, bench_slot, pf_socket, [this](boost::system::error_code ec) { served = ec; });
    vf.emplace(vf_socket, bench_slot);
    pf_thread = std::thread([this] {
      place_as_server();
      pf_io.run();
    });
  }
  hyperv_pair(const hyperv_pair&) = delete;
  hyperv_pair& operator=(const hyperv_pair&) = delete;
  ~hyperv_pair() {
    if (pf_thread.joinable()) pf_thread.join();
  }
  // From the VF's io_context: closes the VF side (the PF sees end of stream) and stops the VF's loop,
  // which would otherwise wait for the endpoint's idle deadline timer.
  void finish() {
    vf->close();
    vf_io.stop();
  }
};

void BM_read_block_hyperv_uds(benchmark::State& state) {
  const placed_scope on_client_cpu;
  const auto size = static_cast<std::size_t>(state.range(0));
  hyperv_pair p(size);
  std::array<std::byte, 128> buffer{};
  const auto destination = std::span<std::byte>(buffer).first(size);
  std::uint64_t before = 0;
  boost::asio::co_spawn(
      p.vf_io,
      [&]() -> boost::asio::awaitable<void> {
        boost::system::error_code ec;
        auto token = boost::asio::redirect_error(boost::asio::use_awaitable, ec);
        for (int i = 0; i < warmup_operations; ++i) (void)co_await p.vf->async_read_block(bench_block, destination, token);
        before = allocation_count();
        for (auto _ : state) {
          const std::size_t n = co_await p.vf->async_read_block(bench_block, destination, token);
          if (ec || n != size) {
            state.SkipWithError(ec ? ec.message().c_str() : "short read");
            break;
          }
          benchmark::DoNotOptimize(buffer.data());
        }
        report_allocations(state, before);
        p.finish();
      },
      rethrow);
  p.vf_io.run();
  report_blocks(state, size);
}
BENCHMARK(BM_read_block_hyperv_uds)->Apply(block_sizes)->UseRealTime();

// Keeps `depth` reads in flight: each completion starts the next read in its buffer. Google Benchmark's
// KeepRunning() is called once per completion, so an iteration is one completed block and the timer
// stops at the completion that ends the run (the reads still in flight then are not counted).
class pipeline {
 public:
  pipeline(hyperv_pair& pair, benchmark::State& state, std::size_t depth) : pair_(pair), state_(state), depth_(depth) {}

  // Warm-up: `warmup` reads through the same pipeline, untimed; then the measured run.
  void start(std::size_t warmup) {
    remaining_warmup_ = warmup;
    for (std::size_t i = 0; i < depth_; ++i) issue(i);
  }
  [[nodiscard]] std::uint64_t allocations_before() const noexcept { return before_; }
  [[nodiscard]] std::uint64_t allocations_after() const noexcept { return after_; }
  [[nodiscard]] const boost::system::error_code& error() const noexcept { return error_; }

 private:
  void issue(std::size_t index) {
    ++outstanding_;
    pair_.vf->async_read_block(bench_block, buffers_[index],
                               [this, index](boost::system::error_code ec, std::size_t n) { done(index, ec, n); });
  }

  void done(std::size_t index, boost::system::error_code ec, std::size_t n) {
    --outstanding_;
    if ((ec || n != buffers_[index].size()) && !error_) error_ = ec ? ec : boost::system::error_code(make_error_code(vpci::errc::bad_data));
    if (error_) {
      stopping_ = true;
    } else if (warming_) {
      if (remaining_warmup_ > 0) {
        --remaining_warmup_;
        return issue(index);
      }
      // The warm-up drains; the measured run starts once nothing of it is in flight.
      if (outstanding_ == 0) begin_measured();
      return;
    } else if (!stopping_ && state_.KeepRunning()) {
      return issue(index);
    } else {
      // The measured run ends here: what the reads still in flight and the PF's end of serving (on its
      // thread, once the VF closes) allocate is not the reads'.
      if (!stopping_) after_ = allocation_count();
      stopping_ = true;
    }
    if (outstanding_ == 0) pair_.finish();
  }

  void begin_measured() {
    warming_ = false;
    before_ = allocation_count();
    after_ = before_;
    if (!state_.KeepRunning()) return pair_.finish();  // starts the timer; counts the first completion
    for (std::size_t i = 0; i < depth_; ++i) issue(i);
  }

  hyperv_pair& pair_;
  benchmark::State& state_;
  std::size_t depth_;
  std::array<std::array<std::byte, 128>, 64> buffers_{};
  std::size_t outstanding_{0};
  std::size_t remaining_warmup_{0};
  std::uint64_t before_{0};
  std::uint64_t after_{0};
  boost::system::error_code error_;
  bool warming_{true};
  bool stopping_{false};
};

void BM_read_block_hyperv_uds_pipelined(benchmark::State& state) {
  const placed_scope on_client_cpu;
  const auto depth = static_cast<std::size_t>(state.range(0));
  hyperv_pair p(128);
  pipeline run(p, state, depth);
  run.start(static_cast<std::size_t>(warmup_operations) * 4);
  p.vf_io.run();
  if (run.error()) {
    // KeepRunning() may be mid-run; an error run reports nothing but the error.
    if (p.pf_thread.joinable()) p.pf_thread.join();
    const std::string message = "VF: " + run.error().message() + "; PF serving ended with: " + p.served.message() +
                                "; PF answered busy " + std::to_string(p.pf.blocks().counters(0).busy) + " times";
    state.SkipWithError(message.c_str());
    return;
  }
  report_allocations(state, run.allocations_before(), run.allocations_after());
  report_blocks(state, 128);
}
BENCHMARK(BM_read_block_hyperv_uds_pipelined)->Arg(16)->Arg(64)->UseRealTime();

// Runs `stretch()` (an awaitable<bool>) on `io` to its end from this thread; false if it failed.
template <class Stretch>
bool run_stretch(boost::asio::io_context& io, Stretch stretch) {
  bool done = false;
  bool ok = false;
  boost::asio::co_spawn(io, stretch(), [&](std::exception_ptr error, bool result) {
    rethrow(error);
    ok = result;
    done = true;
  });
  io.restart();  // the echo client's context runs out of work between stretches
  while (!done) io.run_one();
  return ok;
}

// An iteration is 64 reads and 64 echoes (which goes first alternates), each stretch timed on its own.
// Counters: ns/op of each, and `vs_echo`, the read's time over the echo's.
void BM_read_block_hyperv_uds_paired(benchmark::State& state) {
  const placed_scope on_client_cpu;
  hyperv_pair p(128);
  uds_echo_pair echo;
  std::array<std::byte, 128> buffer{};
  boost::system::error_code ec;
  constexpr int stretch = 64;
  auto reads = [&](int count) {
    return [&, count]() -> boost::asio::awaitable<bool> {
      auto token = boost::asio::redirect_error(boost::asio::use_awaitable, ec);
      for (int i = 0; i < count; ++i) {
        const std::size_t n = co_await p.vf->async_read_block(bench_block, buffer, token);
        if (ec || n != buffer.size()) co_return false;
      }
      co_return true;
    };
  };
  auto echoes = [&](int count) {
    return [&, count]() -> boost::asio::awaitable<bool> {
      for (int i = 0; i < count; ++i)
        if (!co_await echo.echo()) co_return false;
      co_return true;
    };
  };
  using clock = std::chrono::steady_clock;
  clock::duration read_time{}, echo_time{};
  const auto timed = [&](boost::asio::io_context& io, auto body, clock::duration& total) {
    const auto start = clock::now();
    const bool ok = run_stretch(io, body);
    total += clock::now() - start;
    return ok;
  };
  bool ok = run_stretch(p.vf_io, reads(warmup_operations)) && run_stretch(echo.client_io, echoes(warmup_operations));
  const std::uint64_t before = allocation_count();
  bool reads_first = true;
  for (auto _ : state) {
    if (!ok) break;
    ok = reads_first ? timed(p.vf_io, reads(stretch), read_time) && timed(echo.client_io, echoes(stretch), echo_time)
                     : timed(echo.client_io, echoes(stretch), echo_time) && timed(p.vf_io, reads(stretch), read_time);
    reads_first = !reads_first;
  }
  report_allocations(state, before);
  boost::asio::post(p.vf_io, [&p] { p.finish(); });
  p.vf_io.restart();
  p.vf_io.run();
  if (!ok) {
    const boost::system::error_code failed = ec ? ec : echo.ec;
    state.SkipWithError(failed ? failed.message().c_str() : "short read");
    return;
  }
  const auto [read_ns, echo_ns] = report_paired(state, stretch, 128, "ns_hyperv", read_time, "ns_echo", echo_time);
  state.counters["vs_echo"] = echo_ns > 0 ? read_ns / echo_ns : 0;
}
BENCHMARK(BM_read_block_hyperv_uds_paired)->UseRealTime();

}  // namespace
