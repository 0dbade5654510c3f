// One PF serving many VFs: 1, 16, 64 or 256 VFs with 64 blocks of 128 bytes each, requests round-robin
// over VFs then over the first 64 or 1 of their blocks (the second argument), each VF reading through
// its own mailbox (memory_config_space, serviced in-process): what the PF's per-request cost does as the
// number of VFs grows. Counters: the PF's heap bytes per VF (its block store, sessions and attachments:
// everything pf_endpoint allocated while the VFs were registered, defined and attached, divided by the
// VF count) and the store's share per VF slot. The store finds blocks 0..63 through its direct index
// (pf_endpoint uses the hosted default store). The target (256 VFs >= 0.9x the blocks/s of 1 VF) is judged
// on BM_pf_scale_paired, the two worlds alternating in one process (below).
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include <boost/asio/io_context.hpp>

#include <vpci/asio/pf_endpoint.hpp>
#include <vpci/asio/vf_endpoint.hpp>
#include <vpci/transport/memory_config_space.hpp>

#include "alloc_counter.hpp"
#include "bench_support.hpp"

using namespace vpci_bench;

namespace {

constexpr std::size_t max_vfs = 256;
constexpr std::size_t blocks_per_vf = vpci::invalidatable_block_count;  // 64
constexpr std::size_t block_bytes = 128;
using pf_type = vpci::pf_endpoint<max_vfs>;
using vf_type = vpci::vf_endpoint<vpci::memory_config_space>;

// Defines VF `vf`'s 64 blocks of 128 bytes (block b holds the byte vf + b) on a pf_endpoint or on its
// store; false if a definition failed.
template <class Pf>
bool define_vf_blocks(Pf& pf, vpci::vf_index vf) {
  std::array<std::byte, block_bytes> initial{};
  for (std::size_t b = 0; b < blocks_per_vf; ++b) {
    initial.fill(static_cast<std::byte>(vf + b));
    // pf_endpoint answers with an error_code, the store with an errc: each one's default is success.
    const auto result = pf.define_block(vf, vpci::block_id{static_cast<std::uint32_t>(b)}, initial);
    if (result != decltype(result){}) return false;
  }
  return true;
}

// A PF with `vf_count` VFs, each with 64 blocks of 128 bytes and its own mailbox, and the VFs' endpoints;
// reads go round-robin over the VFs, then to the next of the first `read_blocks` blocks.
class pf_world {
 public:
  pf_world(std::size_t vf_count, std::uint32_t read_blocks) : vf_count_(vf_count), read_blocks_(read_blocks) {
    for (std::size_t i = 0; i < vf_count; ++i) spaces_.push_back(std::make_unique<vpci::memory_config_space>(io_, 4096));
    const std::int64_t heap_before_pf = live_heap_bytes();
    pf_ = std::make_unique<pf_type>();
    for (std::size_t vf = 0; vf < vf_count; ++vf) {
      const auto index = static_cast<vpci::vf_index>(vf);
      (void)pf_->register_vf(index, static_cast<std::uint16_t>(0x0100 + vf));
      (void)define_vf_blocks(*pf_, index);
      auto window = pf_->attach_mailbox(index, *spaces_[vf]);
      if (!window) return;  // ok() is false
      windows_.push_back(*window);
    }
    pf_bytes_ = live_heap_bytes() - heap_before_pf;
    for (std::size_t vf = 0; vf < vf_count; ++vf) vfs_.push_back(std::make_unique<vf_type>(*spaces_[vf], windows_[vf]));
  }

  [[nodiscard]] bool ok() const noexcept { return vfs_.size() == vf_count_; }
  // Every block every VF reads, once: all of them have been served before anything is measured.
  bool warm_up(boost::system::error_code& ec) {
    for (std::size_t i = 0; i < vf_count_ * blocks_per_vf; ++i)
      if (!read_next(ec)) return false;
    return true;
  }
  // The next read of the round-robin; false (with `ec` set, or a short read) if it failed.
  bool read_next(boost::system::error_code& ec) {
    const std::size_t n = vfs_[vf_]->read_block(vpci::block_id{block_}, buffer_, ec);
    benchmark::DoNotOptimize(buffer_.data());
    if (++vf_ == vf_count_) {
      vf_ = 0;
      block_ = (block_ + 1) % read_blocks_;
    }
    return !ec && n == block_bytes;
  }

  [[nodiscard]] double pf_bytes_per_vf() const noexcept {
    return static_cast<double>(pf_bytes_) / static_cast<double>(vf_count_);
  }
  // The store object and the slots and arena it allocated (its default capacity: 64 blocks of 128
  // bytes per VF slot, and its room for run skews), per VF slot.
  [[nodiscard]] double store_bytes_per_vf_slot() const noexcept {
    const auto& store = pf_->blocks();
    return static_cast<double>(sizeof(pf_type::store_type) +
                               store.block_capacity() * sizeof(vpci::engine::pf_block_slot) + store.arena_size()) /
           static_cast<double>(max_vfs);
  }

 private:
  boost::asio::io_context io_;
  std::size_t vf_count_;
  std::uint32_t read_blocks_;
  std::vector<std::unique_ptr<vpci::memory_config_space>> spaces_;
  std::unique_ptr<pf_type> pf_;
  std::vector<std::size_t> windows_;
  std::int64_t pf_bytes_{0};
  std::vector<std::unique_ptr<vf_type>> vfs_;
  std::array<std::byte, block_bytes> buffer_{};
  std::size_t vf_{0};
  std::uint32_t block_{0};
};

void fail(benchmark::State& state, const boost::system::error_code& ec) {
  state.SkipWithError(ec ? ec.message().c_str() : "short read");
}

void BM_pf_scale(benchmark::State& state) {
  pf_world world(static_cast<std::size_t>(state.range(0)), static_cast<std::uint32_t>(state.range(1)));
  boost::system::error_code ec;
  if (!world.ok()) return state.SkipWithError("attach_mailbox failed");
  if (!world.warm_up(ec)) return fail(state, ec);
  const std::uint64_t before = allocation_count();
  for (auto _ : state) {
    if (!world.read_next(ec)) {
      fail(state, ec);
      break;
    }
  }
  report_allocations(state, before);
  report_blocks(state, block_bytes);
  state.counters["pf_bytes/vf"] = world.pf_bytes_per_vf();
  state.counters["store_bytes/vf_slot"] = world.store_bytes_per_vf_slot();
}
// {VFs, blocks each VF's reads rotate over}: with 64 the reads cover 8 KiB of block contents for 1 VF
// and 2 MiB for 256 VFs (as much as L2: the contents then come from L3 or memory, and the PF's block
// register prefetch has the VF's doorbell write, in-process about 90 ns, to bring them in); with 1
// the contents stay in cache, so what grows is the PF's own per-VF cost (and the simulated config
// spaces' and VF endpoints').
BENCHMARK(BM_pf_scale)
    ->Args({1, 64})->Args({16, 64})->Args({64, 64})->Args({256, 64})
    ->Args({1, 1})->Args({256, 1})
    ->UseRealTime();

// The ratio the target judges: the 1-VF world and the many-VF world alternating in one process, each
// iteration a stretch of `stretch` reads in each (which goes first alternates), each stretch timed on its
// own. A host's slow stretch lasts seconds, so separate rows (each repetition a second or two of one
// world) catch it in one world and not the other: on the 2-vCPU VM of bench/RESULTS.md the separate
// rows' ratio moved from 0.82x to 1.13x over four full runs of one commit. Alternating every few hundred
// microseconds, both worlds see the same host. A stretch is long enough that the 1-VF world's re-warming
// after the other's stretch (its few KiB back into L1) is below a percent of it.
// Counters: ns/read of each world and `vs_1vf`, the many-VF world's blocks/s over the 1-VF world's.
// {1, 64} pairs two identical 1-VF worlds: the method's own error (1.00x within half a percent there).
void BM_pf_scale_paired(benchmark::State& state) {
  const auto read_blocks = static_cast<std::uint32_t>(state.range(1));
  pf_world one(1, read_blocks);
  pf_world many(static_cast<std::size_t>(state.range(0)), read_blocks);
  boost::system::error_code ec;
  if (!one.ok() || !many.ok()) return state.SkipWithError("attach_mailbox failed");
  if (!one.warm_up(ec) || !many.warm_up(ec)) return fail(state, ec);
  constexpr int stretch = 1024;
  using clock = std::chrono::steady_clock;
  clock::duration one_time{}, many_time{};
  const auto timed = [&](pf_world& world, clock::duration& total) {
    const auto start = clock::now();
    for (int i = 0; i < stretch; ++i)
      if (!world.read_next(ec)) return false;
    total += clock::now() - start;
    return true;
  };
  const std::uint64_t before = allocation_count();
  bool one_first = true;
  bool ok = true;
  for (auto _ : state) {
    ok = one_first ? timed(one, one_time) && timed(many, many_time) : timed(many, many_time) && timed(one, one_time);
    if (!ok) break;
    one_first = !one_first;
  }
  if (!ok) return fail(state, ec);
  report_allocations(state, before);
  const auto [one_ns, many_ns] = report_paired(state, stretch, block_bytes, "ns_1vf", one_time, "ns_many", many_time);
  state.counters["vs_1vf"] = many_ns > 0 ? one_ns / many_ns : 0;
}
BENCHMARK(BM_pf_scale_paired)->Args({256, 64})->Args({256, 1})->Args({1, 64})->UseRealTime();

// A VF's blocks going and coming back while the others stay (an FLR reassigning it, SR-IOV cycling):
// among `vf_count` VFs of 64 blocks of 128 bytes each, one VF is unregistered, registered again and its 64
// blocks defined again, per iteration, on the PF's store alone; the VFs take turns, so the one churned
// always holds the arena's lowest regions (the arena is packed in definition order): everything above
// them moves. The PF serves no one meanwhile.
void BM_pf_vf_churn(benchmark::State& state) {
  const auto vf_count = static_cast<std::size_t>(state.range(0));
  auto store = std::make_unique<pf_type::store_type>();
  for (std::size_t vf = 0; vf < vf_count; ++vf) {
    const auto index = static_cast<vpci::vf_index>(vf);
    if (store->register_vf(index, static_cast<std::uint16_t>(vf)) != vpci::no_error || !define_vf_blocks(*store, index))
      return state.SkipWithError("defining the blocks failed");
  }
  std::size_t next = 0;
  for (auto _ : state) {
    const auto churned = static_cast<vpci::vf_index>(next);
    next = (next + 1) % vf_count;
    if (store->unregister_vf(churned) != vpci::no_error || store->register_vf(churned, 0) != vpci::no_error ||
        !define_vf_blocks(*store, churned))
      return state.SkipWithError("the churn failed");
  }
  state.counters["blocks"] = static_cast<double>(store->blocks_defined());
}
BENCHMARK(BM_pf_vf_churn)->Arg(1)->Arg(256)->UseRealTime();

// A PF coming up: `vf_count` VFs registered and their 64 blocks of 128 bytes each defined, VF by VF, into
// an empty store, then one request served (the first request after definitions finds its block as every
// later one does). Per iteration: the whole bring-up, the store's allocation included.
void BM_pf_define_all(benchmark::State& state) {
  const auto vf_count = static_cast<std::size_t>(state.range(0));
  for (auto _ : state) {
    auto store = std::make_unique<pf_type::store_type>();
    for (std::size_t vf = 0; vf < vf_count; ++vf) {
      const auto index = static_cast<vpci::vf_index>(vf);
      if (store->register_vf(index, static_cast<std::uint16_t>(vf)) != vpci::no_error || !define_vf_blocks(*store, index))
        return state.SkipWithError("defining the blocks failed");
    }
    std::array<std::byte, block_bytes> answer{};
    const auto served = store->serve_read(0, vpci::block_id{0}, block_bytes, answer);
    if (served.status != vpci::ntstatus::success) return state.SkipWithError("the first request failed");
    benchmark::DoNotOptimize(answer.data());
  }
  state.counters["blocks"] = static_cast<double>(vf_count * blocks_per_vf);
}
BENCHMARK(BM_pf_define_all)->Arg(1)->Arg(256)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
