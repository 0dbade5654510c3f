// The Hyper-V wire codecs, encode and decode of each message (and the stream frame decoder), alone:
// what a block costs in bytes-to-fields work before any I/O.
#include <array>
#include <cstddef>
#include <cstdint>

#include <vpci/wire/framing.hpp>
#include <vpci/wire/hyperv.hpp>

#include "alloc_counter.hpp"
#include "bench_support.hpp"

using namespace vpci_bench;
namespace hv = vpci::hyperv;

namespace {

constexpr hv::wslot slot{2, 1};

std::array<std::byte, 128> data_block() {
  std::array<std::byte, 128> bytes{};
  for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<std::byte>(i);
  return bytes;
}

// Runs `body` (which returns a result<T>) per iteration; the output escapes so nothing is folded away.
template <class Body>
void run_codec(benchmark::State& state, std::size_t block_bytes, Body body) {
  const std::uint64_t before = allocation_count();
  for (auto _ : state) {
    auto out = body();
    if (!out) {
      state.SkipWithError("codec refused its input");
      break;
    }
    benchmark::DoNotOptimize(out);
    benchmark::ClobberMemory();
  }
  report_allocations(state, before);
  report_blocks(state, block_bytes);
}

void BM_codec_encode_read_request(benchmark::State& state) {
  std::array<std::byte, hv::read_request::wire_size> out{};
  hv::read_request request{vpci::block_id{3}, slot, 128};
  run_codec(state, 0, [&] {
    benchmark::DoNotOptimize(request);
    return hv::encode(request, out);
  });
}
BENCHMARK(BM_codec_encode_read_request);

void BM_codec_decode_read_request(benchmark::State& state) {
  std::array<std::byte, hv::read_request::wire_size> wire{};
  (void)hv::encode(hv::read_request{vpci::block_id{3}, slot, 128}, wire);
  run_codec(state, 0, [&] {
    benchmark::DoNotOptimize(wire);
    return hv::decode_read_request(wire);
  });
}
BENCHMARK(BM_codec_decode_read_request);

void BM_codec_encode_read_response(benchmark::State& state) {
  const auto size = static_cast<std::size_t>(state.range(0));
  const auto data = data_block();
  std::array<std::byte, hv::read_response::max_wire_size> out{};
  const hv::read_response response{42, vpci::ntstatus::success, std::span<const std::byte>(data).first(size)};
  run_codec(state, size, [&] {
    benchmark::DoNotOptimize(data);
    return hv::encode(response, out);
  });
}
BENCHMARK(BM_codec_encode_read_response)->Apply(block_sizes);

void BM_codec_decode_read_response(benchmark::State& state) {
  const auto size = static_cast<std::size_t>(state.range(0));
  const auto data = data_block();
  std::array<std::byte, hv::read_response::max_wire_size> wire{};
  const auto encoded =
      hv::encode(hv::read_response{42, vpci::ntstatus::success, std::span<const std::byte>(data).first(size)}, wire);
  const auto packet = std::span<const std::byte>(wire).first(*encoded);
  std::array<std::byte, 128> copy{};
  run_codec(state, size, [&] {
    benchmark::DoNotOptimize(wire);
    auto decoded = hv::decode_read_response(packet);
    // A reader copies the block out of the packet (what it asked for, not the padding): that copy belongs
    // to decoding it.
    if (decoded) vpci::le::copy(decoded->data_for(size), copy.data());
    return decoded;
  });
}
BENCHMARK(BM_codec_decode_read_response)->Apply(block_sizes);

void BM_codec_encode_write_request(benchmark::State& state) {
  const auto size = static_cast<std::size_t>(state.range(0));
  const auto data = data_block();
  std::array<std::byte, hv::write_request::header_size + 128> out{};
  const hv::write_request request{vpci::block_id{3}, slot, std::span<const std::byte>(data).first(size)};
  run_codec(state, size, [&] {
    benchmark::DoNotOptimize(data);
    return hv::encode(request, out);
  });
}
BENCHMARK(BM_codec_encode_write_request)->Apply(block_sizes);

void BM_codec_decode_write_request(benchmark::State& state) {
  const auto size = static_cast<std::size_t>(state.range(0));
  const auto data = data_block();
  std::array<std::byte, hv::write_request::header_size + 128> wire{};
  const auto encoded =
      hv::encode(hv::write_request{vpci::block_id{3}, slot, std::span<const std::byte>(data).first(size)}, wire);
  const auto payload = std::span<const std::byte>(wire).first(*encoded);
  std::array<std::byte, 128> copy{};
  run_codec(state, size, [&] {
    benchmark::DoNotOptimize(wire);
    auto decoded = hv::decode_write_request(payload);
    if (decoded) vpci::le::copy(decoded->data, copy.data());
    return decoded;
  });
}
BENCHMARK(BM_codec_decode_write_request)->Apply(block_sizes);

void BM_codec_encode_write_completion(benchmark::State& state) {
  std::array<std::byte, hv::write_completion::wire_size> out{};
  hv::write_completion completion{42, vpci::ntstatus::success};
  run_codec(state, 0, [&] {
    benchmark::DoNotOptimize(completion);
    return hv::encode(completion, out);
  });
}
BENCHMARK(BM_codec_encode_write_completion);

void BM_codec_decode_write_completion(benchmark::State& state) {
  std::array<std::byte, hv::write_completion::wire_size> wire{};
  (void)hv::encode(hv::write_completion{42, vpci::ntstatus::success}, wire);
  run_codec(state, 0, [&] {
    benchmark::DoNotOptimize(wire);
    return hv::decode_write_completion(wire);
  });
}
BENCHMARK(BM_codec_decode_write_completion);

void BM_codec_encode_invalidate(benchmark::State& state) {
  std::array<std::byte, hv::invalidate::wire_size> out{};
  hv::invalidate message{slot, vpci::block_mask{0b1010}};
  run_codec(state, 0, [&] {
    benchmark::DoNotOptimize(message);
    return hv::encode(message, out);
  });
}
BENCHMARK(BM_codec_encode_invalidate);

void BM_codec_decode_invalidate(benchmark::State& state) {
  std::array<std::byte, hv::invalidate::wire_size> wire{};
  (void)hv::encode(hv::invalidate{slot, vpci::block_mask{0b1010}}, wire);
  run_codec(state, 0, [&] {
    benchmark::DoNotOptimize(wire);
    return hv::decode_invalidate(wire);
  });
}
BENCHMARK(BM_codec_decode_invalidate);

// The stream framing around them: one read-response frame of `size` bytes fed to the frame decoder.
void BM_codec_decode_frame(benchmark::State& state) {
  const auto size = static_cast<std::size_t>(state.range(0));
  const auto data = data_block();
  std::array<std::byte, hv::max_response_frame_size> wire{};
  const auto encoded = hv::encode_read_response_frame(
      hv::read_response{42, vpci::ntstatus::success, std::span<const std::byte>(data).first(size)}, wire);
  const auto frame = std::span<const std::byte>(wire).first(*encoded);
  hv::frame_decoder decoder;
  const std::uint64_t before = allocation_count();
  for (auto _ : state) {
    benchmark::DoNotOptimize(wire);
    const auto step = decoder.feed(frame);
    if (step.packet.empty()) {
      state.SkipWithError("the frame did not decode");
      break;
    }
    benchmark::DoNotOptimize(step.packet.data());
  }
  report_allocations(state, before);
  report_blocks(state, size);
}
BENCHMARK(BM_codec_decode_frame)->Apply(block_sizes);

}  // namespace
