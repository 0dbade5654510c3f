// Fuzz target: hyperv::frame_decoder, the stream framing of binding 2, fed a byte stream in arbitrary
// chunkings taken from the input.
//
// Input: byte 0 gives k = 1 + (byte 0 % 16) chunk sizes, the next k bytes are the sizes (cycled; 0 means an
// empty feed followed by a 1-byte chunk), the rest is the stream. Each chunk is an exact-size heap copy.
//
// Invariants:
// - the packets and the end-of-stream verdict (finish()) are those of a reference reading of the stream:
//   frames of a u32 length L in 16..16384 and L bytes, of which a packet is its first min(L, 168) bytes
//   and its length L; the first other L ends the stream as malformed_message; a stream cut inside a frame
//   (prefix or packet) is truncated_message;
// - so they do not depend on the chunking;
// - every feed takes at most its input, and a non-empty feed takes at least one byte unless the decoder is
//   in error; an empty feed takes nothing and hands out no packet;
// - the error is sticky: once set, every feed takes nothing and returns it;
// - at_frame_boundary() is true exactly between frames;
// - reset() forgets everything: the whole stream fed again at once gives the same packets and verdict;
// - re-framing each packet (prefix L, then the packet) gives back the stream's bytes up to where the
//   decoder stopped (encode(decode(x)) == x for the framing), the skipped bytes of a longer packet aside.
#include <cstddef>
#include <cstdint>
#include <vector>

#include <vpci/wire/framing.hpp>

#include "fuzz_support.hpp"

using namespace vpci;
using namespace vpci::fuzz;
using namespace vpci::hyperv;

namespace {

struct reading {
  std::vector<std::vector<std::byte>> packets;  // the bytes kept of each
  std::vector<std::size_t> sizes;                 // each packet's length L
  errc verdict{no_error};
};

// The framing rule, read straight off the stream.
reading reference(std::span<const std::byte> stream) {
  reading r;
  std::size_t at = 0;
  while (at < stream.size()) {
    if (stream.size() - at < frame_prefix_size) {
      r.verdict = errc::truncated_message;
      return r;
    }
    const std::uint32_t length = le::load_u32(stream.data() + at);
    if (length < 16 || length > 16384) {
      r.verdict = errc::malformed_message;
      return r;
    }
    if (stream.size() - at - frame_prefix_size < length) {
      r.verdict = errc::truncated_message;
      return r;
    }
    const auto packet = stream.subspan(at + frame_prefix_size, length < 168 ? length : 168);
    r.packets.emplace_back(packet.begin(), packet.end());
    r.sizes.push_back(length);
    at += frame_prefix_size + length;
  }
  return r;
}

// Feeds one chunk to the end (or to an error), collecting packets and checking each step.
void feed_chunk(frame_decoder& decoder, std::span<const std::byte> chunk, reading& out) {
  const exact_bytes copy{chunk};
  auto rest = copy.view();
  if (rest.empty()) {
    const errc before = decoder.error();
    auto step = decoder.feed(rest);
    VPCI_FUZZ_CHECK(step.consumed == 0 && step.packet.empty() && step.error == before);
    return;
  }
  while (!rest.empty()) {
    const errc before = decoder.error();
    auto step = decoder.feed(rest);
    VPCI_FUZZ_CHECK(step.consumed <= rest.size());
    VPCI_FUZZ_CHECK(step.error == decoder.error());
    if (before != no_error) {
      VPCI_FUZZ_CHECK(step.consumed == 0 && step.packet.empty() && step.error == before);
      return;
    }
    if (step.error != no_error) {
      VPCI_FUZZ_CHECK(step.error == errc::malformed_message && step.packet.empty());
      auto again = decoder.feed(rest.subspan(step.consumed));
      VPCI_FUZZ_CHECK(again.consumed == 0 && again.packet.empty() && again.error == step.error);
      return;
    }
    VPCI_FUZZ_CHECK(step.consumed >= 1);
    VPCI_FUZZ_CHECK(step.packet.empty() ||
                    (step.packet.size() >= 16 && step.packet.size() <= 168 &&
                     step.packet_size == (step.packet.size() < 168 ? step.packet.size() : step.packet_size) &&
                     step.packet_size >= step.packet.size() && step.packet_size <= 16384));
    VPCI_FUZZ_CHECK(!step.packet.empty() || step.packet_size == 0);
    if (!step.packet.empty()) {
      // A packet ends the step: the decoder stops at the end of the frame.
      VPCI_FUZZ_CHECK(decoder.at_frame_boundary());
      out.packets.emplace_back(step.packet.begin(), step.packet.end());
      out.sizes.push_back(step.packet_size);
    } else {
      // No packet: the step ran out of input inside a frame.
      VPCI_FUZZ_CHECK(step.consumed == rest.size() && !decoder.at_frame_boundary());
    }
    rest = rest.subspan(step.consumed);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  input_reader in{as_bytes(data, size)};
  const std::size_t count = 1 + in.u8() % 16;
  const auto sizes = in.take(count);
  const auto stream = in.rest();
  const reading expected = reference(stream);

  frame_decoder decoder;
  VPCI_FUZZ_CHECK(decoder.at_frame_boundary() && decoder.finish() == no_error);
  reading chunked;
  std::size_t at = 0;
  for (std::size_t i = 0; at < stream.size(); ++i) {
    std::size_t length = sizes.empty() ? stream.size() : static_cast<std::size_t>(sizes[i % sizes.size()]);
    if (length == 0) {
      feed_chunk(decoder, {}, chunked);
      length = 1;
    }
    if (length > stream.size() - at) length = stream.size() - at;
    feed_chunk(decoder, stream.subspan(at, length), chunked);
    at += length;
  }
  chunked.verdict = decoder.finish();
  VPCI_FUZZ_CHECK(chunked.verdict == expected.verdict);
  VPCI_FUZZ_CHECK(chunked.packets == expected.packets && chunked.sizes == expected.sizes);

  // Re-framing the packets reproduces the stream up to where reading stopped: each frame's prefix and
  // kept bytes in place, its skipped bytes after them.
  std::size_t reframed = 0;
  for (std::size_t i = 0; i < chunked.packets.size(); ++i) {
    const auto& packet = chunked.packets[i];
    std::byte prefix[frame_prefix_size];
    le::store_u32(prefix, static_cast<std::uint32_t>(chunked.sizes[i]));
    VPCI_FUZZ_CHECK(reframed + frame_prefix_size + chunked.sizes[i] <= stream.size());
    VPCI_FUZZ_CHECK(equal(std::span<const std::byte>(prefix, frame_prefix_size), stream.subspan(reframed, frame_prefix_size)));
    VPCI_FUZZ_CHECK(equal(packet, stream.subspan(reframed + frame_prefix_size, packet.size())));
    reframed += frame_prefix_size + chunked.sizes[i];
  }
  if (expected.verdict == no_error) VPCI_FUZZ_CHECK(reframed == stream.size());

  decoder.reset();
  VPCI_FUZZ_CHECK(decoder.error() == no_error && decoder.at_frame_boundary());
  reading whole;
  feed_chunk(decoder, stream, whole);
  whole.verdict = decoder.finish();
  VPCI_FUZZ_CHECK(whole.verdict == expected.verdict && whole.packets == expected.packets &&
                  whole.sizes == expected.sizes);
  return 0;
}
