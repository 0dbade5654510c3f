// Writes the seed corpora of the fuzz targets.
//
//   vpci_fuzz_make_corpus OUT
//       the committed seeds, OUT/<target>/<name>: hand-made valid inputs (the VMBus packets of
//       tests/linux_packets.hpp, messages from vpci's encoders, synthesized config spaces, small dumps);
//       tests/fuzz/corpus is this output (regression inputs found by fuzzing are added there by hand);
//   vpci_fuzz_make_corpus --reference-only OUT DUMPS
//       extra seeds from the lspci -xxxx dumps in DUMPS (../shared/reference/pci-dumps, which must not be
//       copied into the project): each device's config space for the config-space targets and each dump
//       for the lspci target, written to the build tree. A missing DUMPS directory writes nothing.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <vpci/block/endian.hpp>
#include <vpci/config/capabilities.hpp>
#include <vpci/config/placement.hpp>
#include <vpci/config/sriov.hpp>
#include <vpci/config/vsec.hpp>
#include <vpci/wire/framing.hpp>
#include <vpci/wire/hyperv.hpp>
#include <vpci/wire/mailbox.hpp>
#include <vpci/wire/vfio_user.hpp>
#include <vpci/wire/windows.hpp>

#include "every_kind.hpp"
#include "config_image_seeds.hpp"
#include "linux_packets.hpp"
#include "lspci_dump.hpp"
#include "session_inputs.hpp"

namespace fs = std::filesystem;
using namespace vpci;
using vpci::test::bytes;
using vpci::test::make_bytes;
using vpci::test::pattern;
namespace lp = vpci::test::linux_packets;

namespace {

class corpus_writer {
 public:
  explicit corpus_writer(fs::path root) : root_(std::move(root)) {}
  void write(const std::string& target, const std::string& name, std::span<const std::byte> data) {
    const fs::path dir = root_ / target;
    fs::create_directories(dir);
    std::ofstream out(dir / name, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
    if (!out) throw std::runtime_error("cannot write " + (dir / name).string());
    ++count_;
  }
  void write_text(const std::string& target, const std::string& name, const std::string& text) {
    write(target, name, std::as_bytes(std::span{text.data(), text.size()}));
  }
  [[nodiscard]] std::size_t count() const { return count_; }

 private:
  fs::path root_;
  std::size_t count_ = 0;
};

bytes concat(std::initializer_list<bytes> parts) { return lp::concat(parts); }

template <class Encode>
bytes encoded(std::size_t room, Encode encode) {
  bytes out(room);
  auto n = encode(std::span<std::byte>{out});
  if (!n) throw std::runtime_error("a seed failed to encode");
  out.resize(*n);
  return out;
}

bytes after_descriptor(const bytes& packet) { return bytes(packet.begin() + 16, packet.end()); }

void hyperv_seeds(corpus_writer& w) {
  using namespace vpci::hyperv;
  const read_request read{block_id{3}, wslot{2, 1}, 16};
  const bytes read_payload = encoded(64, [&](auto out) { return encode(read, out); });
  const bytes read_frame = encoded(64, [&](auto out) { return encode_read_request_frame(5, read, out); });
  const bytes read_packet(read_frame.begin() + 4, read_frame.end());
  const bytes block_data = pattern(16, 0x30);
  const bytes response_16 = lp::host_read_completion(5, 0, block_data);
  const bytes response_5 = lp::host_read_completion(6, 0, pattern(5, 0xA1));
  const bytes response_128 = lp::host_read_completion(7, 0, pattern(128, 0x10));
  const bytes response_failed = lp::host_read_completion(8, 0xC0000225, {});
  const bytes write_5 = lp::linux_write_5(true);
  const bytes write_5_unpadded = lp::linux_write_5(false);
  const bytes write_128 = lp::linux_write_128();
  const bytes completion = lp::host_completion(7, 0);
  const bytes completion_failed = lp::host_completion(9, 0xC0000001);
  const bytes version_request_1_4 = lp::linux_version_request(1, protocol_version_1_4);
  const invalidate inval{wslot{2, 1}, block_mask{0x8000000000000009u}};
  const bytes inval_packet = encoded(64, [&](auto out) { return encode(inval, out); });
  const bytes version_answer = encoded(64, [&](auto out) {
    return encode(version_response{1, ntstatus::success, protocol_version_1_4}, out);
  });
  const bytes version_mismatch = encoded(64, [&](auto out) {
    return encode(version_response{2, ntstatus::revision_mismatch, 0}, out);
  });

  w.write("hyperv_descriptor", "read-request-packet", read_packet);
  w.write("hyperv_descriptor", "linux-write-5-padded", write_5);
  w.write("hyperv_descriptor", "linux-write-5-unpadded", write_5_unpadded);
  w.write("hyperv_descriptor", "linux-write-128", write_128);
  w.write("hyperv_descriptor", "host-read-completion-5", response_5);
  w.write("hyperv_descriptor", "host-completion", completion);
  w.write("hyperv_descriptor", "linux-version-request", version_request_1_4);
  w.write("hyperv_descriptor", "invalidate", inval_packet);

  w.write("hyperv_read_request", "block-3-16-bytes", read_payload);
  w.write("hyperv_read_request", "block-63-128-bytes",
          encoded(64, [&](auto out) { return encode(read_request{block_id{63}, wslot{31, 7}, 128}, out); }));
  w.write("hyperv_read_request", "block-ffffffff-1-byte",
          encoded(64, [&](auto out) { return encode(read_request{block_id{0xFFFFFFFF}, wslot{0, 0}, 1}, out); }));

  w.write("hyperv_write_request", "linux-write-5-padded", after_descriptor(write_5));
  w.write("hyperv_write_request", "linux-write-5-unpadded", after_descriptor(write_5_unpadded));
  w.write("hyperv_write_request", "linux-write-128", after_descriptor(write_128));
  const bytes one = make_bytes({0x5A});
  w.write("hyperv_write_request", "write-1-byte-no-tail",
          encoded(64, [&](auto out) { return encode(write_request{block_id{1}, wslot{0, 0}, one}, out); }));

  w.write("hyperv_read_response", "host-read-completion-16", response_16);
  w.write("hyperv_read_response", "host-read-completion-5", response_5);
  w.write("hyperv_read_response", "host-read-completion-128", response_128);
  w.write("hyperv_read_response", "host-read-failed", response_failed);
  w.write("hyperv_read_response", "unpadded-5",
          bytes(response_5.begin(), response_5.begin() + 25));

  w.write("hyperv_write_completion", "host-completion", completion);
  w.write("hyperv_write_completion", "host-completion-failed", completion_failed);
  w.write("hyperv_write_completion", "unpadded-20", bytes(completion.begin(), completion.begin() + 20));

  w.write("hyperv_invalidate", "invalidate-blocks-0-3-63", inval_packet);
  w.write("hyperv_invalidate", "invalidate-all",
          encoded(64, [&](auto out) { return encode(invalidate{wslot{31, 7}, block_mask::all()}, out); }));

  for (const std::uint32_t version : linux_protocol_versions) {
    const bytes packet = lp::linux_version_request(version, version);
    w.write("hyperv_version_request", "linux-version-" + std::to_string(version >> 16) + "." +
                                          std::to_string(version & 0xFFFF),
            after_descriptor(packet));
  }
  w.write("hyperv_version_request", "freebsd-version-1.1",
          after_descriptor(lp::freebsd_version_request(1, protocol_version_1_1)));
  w.write("hyperv_version_response", "accepted-1.4", version_answer);
  w.write("hyperv_version_response", "revision-mismatch", version_mismatch);
  w.write("hyperv_version_response", "bare-pci-response-padded", completion);
  w.write("hyperv_version_response", "bare-pci-response-20", bytes(completion.begin(), completion.begin() + 20));

  // Frame decoder: [k][k chunk sizes][stream].
  bytes stream;
  auto add_frame = [&](const bytes& packet) {
    bytes prefix(4);
    le::store_u32(prefix.data(), static_cast<std::uint32_t>(packet.size()));
    stream = concat({stream, prefix, packet});
  };
  add_frame(version_request_1_4);
  add_frame(version_answer);
  add_frame(read_packet);
  add_frame(response_16);
  add_frame(write_5);
  add_frame(completion);
  add_frame(inval_packet);
  add_frame(write_128);
  add_frame(response_128);
  const auto with_chunks = [](std::initializer_list<unsigned> sizes, const bytes& s) {
    bytes head{static_cast<std::byte>(sizes.size() - 1)};
    for (unsigned size : sizes) head.push_back(static_cast<std::byte>(size));
    return lp::concat({head, s});
  };
  w.write("hyperv_frame_decoder", "session-whole", with_chunks({255}, stream));
  w.write("hyperv_frame_decoder", "session-1-byte-chunks", with_chunks({1}, stream));
  w.write("hyperv_frame_decoder", "session-mixed-chunks", with_chunks({3, 0, 7, 40, 1, 200}, stream));
  w.write("hyperv_frame_decoder", "session-cut-mid-frame",
          with_chunks({5, 13}, bytes(stream.begin(), stream.begin() + 60)));
  bytes bad = stream;
  le::store_u32(bad.data() + 4 + version_request_1_4.size() + 4 + version_answer.size(), 16385);
  w.write("hyperv_frame_decoder", "session-bad-length", with_chunks({9}, bad));
  // Packets longer than the protocol's, as the vPCI channel carries them: the first 168 bytes kept.
  bytes long_packets;
  for (const bytes& packet : {lp::linux_resources_assigned2(0x1000, 0x22), lp::host_bus_relations2(6), read_packet}) {
    bytes prefix(4);
    le::store_u32(prefix.data(), static_cast<std::uint32_t>(packet.size()));
    long_packets = concat({long_packets, prefix, packet});
  }
  w.write("hyperv_frame_decoder", "session-long-packets", with_chunks({7, 100}, long_packets));
}

void windows_seeds(corpus_writer& w) {
  using namespace vpci::windows;
  const bytes data = pattern(12, 0x40);
  w.write("windows_ioctl", "read-block-3-16",
          encoded(16, [&](auto out) { return encode(read_block_input{block_id{3}, 16}, out); }));
  w.write("windows_ioctl", "write-block-7-12",
          encoded(160, [&](auto out) { return encode(write_block_input{block_id{7}, data}, out); }));
  w.write("windows_ioctl", "invalidate-output",
          encoded(16, [&](auto out) { return encode(invalidate_block_output{block_mask{0x11}}, out); }));

  using namespace vpci::windows::ndis;
  bytes read_oid(20 + 16);
  (void)encode(vf_config_block_parameters{2, block_id{3}, 16, 20}, read_oid);
  w.write("ndis_oid", "read-vf-2-block-3", read_oid);
  bytes write_oid = concat({bytes(24), pattern(8, 0x90)});
  (void)encode(vf_config_block_parameters{0, block_id{9}, 8, 24}, write_oid);
  w.write("ndis_oid", "write-vf-0-gap-before-data", write_oid);
  bytes later_revision = write_oid;  // a revision-2 structure of 24 bytes
  later_revision[1] = std::byte{2};
  le::store_u16(later_revision.data() + 2, 24);
  w.write("ndis_oid", "later-revision-size-24", later_revision);
  bytes info(16);
  (void)encode(vf_invalidate_config_block_info{block_mask{0xF0}}, info);
  w.write("ndis_oid", "invalidate-info", info);
}

void block_seeds(corpus_writer& w) {
  using namespace vpci::fuzz;
  every_kind v{};
  v.u8 = 0xFE;
  v.i8 = -2;
  v.u16 = 0xBEEF;
  v.i16 = -300;
  v.u32 = 0xDEADBEEF;
  v.i32 = -70000;
  v.u64 = 0x0123456789ABCDEFu;
  v.i64 = -1;
  v.c = 'v';
  v.c16 = u'\u20AC';
  v.flag = true;
  v.raw = std::byte{0x7F};
  v.col = color::red;
  v.pl = plain_b;
  v.f = 1.5f;
  v.d = -0.25;
  v.arr = {1, 2, 0xFFFF};
  v.flags[0] = false;
  v.flags[1] = true;
  v.nested = {0xCAFE, true, {std::byte{1}, std::byte{2}}};
  v.nested_array = {inner{1, false, {}}, inner{2, true, {std::byte{0xFF}, std::byte{0}}}};
  v.grid[0][0] = 1;
  v.grid[1][1] = -1;
  w.write("block_codec", "every-kind", every_block::to_buffer(v).span());
  w.write("block_codec", "every-kind-zero", every_block::to_buffer(every_kind{}).span());
}

// The placement target's request prefix: [mode][ID][revision][length / 4]; mode 4 asks for a DVSEC of a
// dword-aligned length, here the mailbox window (vendor 8086 and its DVSEC ID 0x8680: the ID's bytes
// swapped), mode 0 for a VSEC.
bytes placement_request(bool dvsec) {
  bytes request(6);
  request[0] = std::byte{static_cast<unsigned char>(dvsec ? 4 : 0)};
  le::store_u16(request.data() + 1, 0x8086);
  request[3] = std::byte{mailbox::dvsec_revision};
  le::store_u16(request.data() + 4, static_cast<std::uint16_t>(mailbox::window_size / 4));
  return request;
}
// The discovery target's prefix: mode 0, the function's own vendor ID and DVSEC ID 0x5650.
bytes find_mailbox_prefix() { return bytes(1); }

void config_seeds(corpus_writer& w) {
  using namespace vpci::fuzz;
  // Every image for the walks; for the other targets the images that reach their cases, to keep the
  // committed corpus small.
  const auto uses = [](const std::string& name, std::initializer_list<const char*> names) {
    for (const char* n : names)
      if (name == n) return true;
    return false;
  };
  for (const auto& seed : config_image_seeds()) {
    w.write("config_capabilities", seed.name, seed.image);
    if (uses(seed.name, {"sriov-pf-4096", "sriov-pf-cut-in-sriov", "extended-misaligned-next"}))
      w.write("config_sriov", seed.name, seed.image);
    if (uses(seed.name, {"sriov-pf-4096", "mailbox-placed-on-empty-list", "vpci-dvsec-layout-3", "extended-loop"}))
      w.write("config_find_mailbox", seed.name, concat({find_mailbox_prefix(), seed.image}));
    if (uses(seed.name, {"sriov-pf-4096", "sriov-pf-256", "empty-extended-list", "mailbox-placed-on-empty-list",
                         "no-extended-space", "vpci-dvsec-layout-3"})) {
      w.write("config_placement", seed.name + "-mailbox", concat({placement_request(true), seed.image}));
      w.write("config_placement", seed.name + "-vsec", concat({placement_request(false), seed.image}));
    }
  }
}

std::string dump_text(const std::string& device_line, std::span<const std::byte> config, const char* eol) {
  std::ostringstream out;
  out << device_line << eol;
  char buffer[8];
  for (std::size_t at = 0; at < config.size(); at += 16) {
    std::snprintf(buffer, sizeof buffer, "%02zx:", at);
    out << buffer;
    for (std::size_t i = at; i < at + 16 && i < config.size(); ++i) {
      std::snprintf(buffer, sizeof buffer, " %02x", std::to_integer<unsigned>(config[i]));
      out << buffer;
    }
    out << eol;
  }
  return out.str();
}

void lspci_seeds(corpus_writer& w) {
  using namespace vpci::fuzz;
  const auto seeds = config_image_seeds();
  const auto& full = seeds.front().image;
  const std::span<const std::byte> config{full};
  w.write_text("lspci_dump", "one-device-x",
               dump_text("00:02.0 Ethernet controller: Synthesized (rev 01)", config.first(64), "\n"));
  w.write_text("lspci_dump", "one-device-xxxx-crlf",
               dump_text("0000:3b:00.0 Ethernet controller: Synthesized SR-IOV PF", config, "\r\n"));
  w.write_text("lspci_dump", "two-devices-verbose",
               dump_text("00:00.0 Host bridge: Synthesized", config.first(256), "\n") +
                   "\tSubsystem: Synthesized\n\tFlags: fast devsel\n\n" +
                   dump_text("ff:1f.7 Unassigned class [ff00]", config.first(64), "\n"));
}

// Each device of each dump in `dumps`: its config space for the config targets, and the dump itself.
void reference_seeds(corpus_writer& w, const fs::path& dumps) {
  if (!fs::is_directory(dumps)) return;
  for (const auto& entry : fs::directory_iterator(dumps)) {
    if (!entry.is_regular_file() || entry.path().extension() == ".md") continue;
    std::ifstream in(entry.path());
    std::stringstream text;
    text << in.rdbuf();
    const std::string name = entry.path().filename().string();
    w.write_text("lspci_dump", "ref-" + name, text.str());
    std::istringstream parse_in(text.str());
    std::string error;
    auto devices = tools::parse_lspci_dump(parse_in, error);
    if (!devices) continue;
    std::size_t index = 0;
    for (const auto& device : *devices) {
      const std::string seed = "ref-" + name + "-" + std::to_string(index++);
      for (const char* target : {"config_capabilities", "config_sriov"}) w.write(target, seed, device.config);
      w.write("config_find_mailbox", seed, concat({find_mailbox_prefix(), device.config}));
      w.write("config_placement", seed, concat({placement_request(true), device.config}));
    }
  }
}

// ---- the session targets: a setup, then operation codes (session_inputs.hpp) and their arguments --------

// Little-endian values appended in order.
class input_builder {
 public:
  input_builder& u8(unsigned v) {
    out_.push_back(static_cast<std::byte>(v & 0xFF));
    return *this;
  }
  input_builder& u16(unsigned v) { return u8(v).u8(v >> 8); }
  input_builder& u32(std::uint32_t v) { return u16(v & 0xFFFF).u16(v >> 16); }
  input_builder& u64(std::uint64_t v) { return u32(static_cast<std::uint32_t>(v)).u32(static_cast<std::uint32_t>(v >> 32)); }
  input_builder& fill(std::size_t n, unsigned seed) {
    for (std::size_t i = 0; i < n; ++i) u8(static_cast<unsigned>(seed + i * 3));
    return *this;
  }
  input_builder& append(const bytes& more) {
    out_.insert(out_.end(), more.begin(), more.end());
    return *this;
  }
  [[nodiscard]] const bytes& get() const { return out_; }

 private:
  bytes out_;
};

// session_support.hpp's setup: VF 0 block 1 (16 bytes, read-write), block 63 (8 bytes, read-only),
// block 64 (4 bytes, read-write, a handler answering 4 bytes), block 0x100 (128 bytes, write-only); VF 1
// blocks 1 (8 bytes) and 7 (4 bytes). ID selectors index fuzz::block_ids {0, 1, 7, 63, 64, 0x100, ...}.
void standard_blocks(input_builder& b) {
  b.u8(3);                                  // 4 blocks of VF 0
  b.u8(1).u8(15).u8(2).fill(16, 0x10);      // ID 1, 16 bytes, read-write
  b.u8(3).u8(7).u8(0).fill(8, 0x60);        // ID 63, 8 bytes, read-only
  b.u8(4).u8(3).u8(0x14).fill(4, 0x40);     // ID 64, 4 bytes, read-write, handled:
  b.u8(0).u8(4).u8(0x20);                   //   read/write success, 4 bytes produced, fill 0x20
  b.u8(5).u8(127).u8(1).fill(128, 0x80);    // ID 0x100, 128 bytes, write-only
  b.u8(2);                                  // 2 blocks of VF 1
  b.u8(1).u8(7);                            // ID 1, 8 bytes
  b.u8(2).u8(3);                            // ID 7, 4 bytes
}

void pf_mailbox_seeds(corpus_writer& w) {
  namespace op = vpci::fuzz::pf_mailbox_ops;
  const std::string t = "pf_mailbox_session";
  // Reads, writes, invalidation and acknowledgement, a reset, an FLR and a restart, serviced in between.
  {
    input_builder b;
    b.u8(0x01).u8(0);  // SIGNAL, no heartbeat, read-only PF registers, a zero window
    standard_blocks(b);
    b.u8(op::op_vf_request).u8(0x00).u8(1).u8(16).u8(op::op_service).u8(0);           // read block 1
    b.u8(op::op_vf_request).u8(0x01).u8(1).u8(16).fill(16, 0x33).u8(op::op_service).u8(0);  // write block 1
    b.u8(op::op_vf_request).u8(0x00).u8(1).u8(16).u8(op::op_service).u8(0);           // read it back
    b.u8(op::op_vf_request).u8(0x00).u8(4).u8(8).u8(op::op_service).u8(0);            // the handled block
    b.u8(op::op_vf_request).u8(0x00).u8(2).u8(8).u8(op::op_service).u8(0);            // VF 1's block 7: denied
    b.u8(op::op_invalidate).u8(0).u64(0x8000000000000003ull).u8(op::op_service).u8(0);
    b.u8(op::op_vf_ack).u8(0).u8(op::op_service).u8(0);
    b.u8(op::op_pf_update).u8(0).fill(16, 0x90);
    b.u8(op::op_vf_reset).u8(1).u8(op::op_service).u8(0);
    b.u8(op::op_vf_request).u8(0x00).u8(1).u8(16).u8(op::op_service).u8(0);
    b.u8(op::op_flr).u8(op::op_restart);
    b.u8(op::op_vf_request).u8(0x00).u8(3).u8(8).u8(op::op_service).u8(0);
    w.write(t, "read-write-invalidate-reset-flr-restart", b.get());
  }
  // A skipped sequence: a violation, refused while quarantined, lifted by a reset.
  {
    input_builder b;
    b.u8(0x00).u8(0);
    standard_blocks(b);
    b.u8(op::op_vf_request).u8(0x00).u8(1).u8(16).u8(op::op_service).u8(0);
    b.u8(op::op_vf_request).u8(0x20).u8(1).u8(16).u16(0x4000).u8(op::op_service).u8(0);  // sequence 0x4000
    b.u8(op::op_vf_request).u8(0x01).u8(1).u8(16).fill(16, 0x77).u8(op::op_service).u8(0);
    b.u8(op::op_vf_request).u8(0x10).u8(1).u8(16).u8(op::op_service).u8(0);  // a replay
    b.u8(op::op_vf_reset).u8(0).u8(op::op_service).u8(0);
    b.u8(op::op_vf_request).u8(0x41).u8(5).u8(128).u8(0xFF).fill(128, 0x01).u8(op::op_service).u8(0);  // bad op
    b.u8(op::op_vf_request).u8(0x01).u8(5).u8(128).fill(128, 0x02).u8(op::op_service).u8(0);
    w.write(t, "violation-quarantine-reset", b.get());
  }
  // Shared memory: VF writes over PF registers, restored; a heartbeat; a VF write racing the service.
  {
    input_builder b;
    b.u8(0x07).u8(1);  // SIGNAL, a heartbeat of 2 ms, no read-only bits
    standard_blocks(b);
    b.u8(op::op_vf_write).u8(0x20).u8(2).u32(0xFFFFFFFF).u8(op::op_service).u8(1).u16(3);
    b.u8(op::op_vf_write).u8(0x0C).u8(1).u32(0x1234).u8(op::op_vf_write).u8(0x29).u8(0).u32(0xFF);
    b.u8(op::op_service).u8(0);
    b.u8(op::op_tick).u16(300).u8(op::op_tick).u16(1);
    b.u8(op::op_vf_request).u8(0x00).u8(1).u8(16).u8(op::op_service).u8(3).u8(0x1C).u32(0x00100005).u16(1);
    b.u8(op::op_short_service).u8(100);
    w.write(t, "shared-memory-heartbeat-race", b.get());
  }
  // A session not initialised yet ignores the window; then it is.
  {
    input_builder b;
    b.u8(0x18).u8(0).fill(mailbox::window_size, 0xC0);  // an initial window of garbage, not initialised
    standard_blocks(b);
    b.u8(op::op_vf_request).u8(0x00).u8(1).u8(16).u8(op::op_service).u8(0).u8(op::op_tick).u16(5);
    b.u8(op::op_restart).u8(op::op_vf_request).u8(0x00).u8(1).u8(16).u8(op::op_service).u8(0);
    w.write(t, "uninitialised-then-restarted", b.get());
  }
  // A heartbeat announced while serving and withdrawn after (a PF on write hooks), ticking between.
  {
    input_builder b;
    b.u8(0x00).u8(0);  // no heartbeat at the attach
    standard_blocks(b);
    b.u8(op::op_tick).u16(50).u8(op::op_set_heartbeat).u8(3);
    b.u8(op::op_tick).u16(200).u8(op::op_tick).u16(300);
    b.u8(op::op_vf_request).u8(0x00).u8(1).u8(16).u8(op::op_service).u8(1).u16(5000);
    b.u8(op::op_set_heartbeat).u8(0).u8(op::op_tick).u16(1000).u8(op::op_service).u8(1).u16(9000);
    w.write(t, "heartbeat-announced-then-withdrawn", b.get());
  }
  // A VF read and invalidated, then removed and registered again: the next session starts from a zeroed
  // window with no latch, and serves the VF's blocks.
  {
    input_builder b;
    b.u8(0x01).u8(0);
    standard_blocks(b);
    b.u8(op::op_vf_request).u8(0x00).u8(1).u8(16).u8(op::op_service).u8(0);
    b.u8(op::op_invalidate).u8(0).u64(0xF0).u8(op::op_service).u8(0);
    b.u8(op::op_remove_vf);
    b.u8(op::op_vf_request).u8(0x00).u8(1).u8(16).u8(op::op_service).u8(0);
    w.write(t, "vf-removed-and-registered-again", b.get());
  }
  // Shared memory: an invalidation published, the VF writes over the mask registers, the binding detaches
  // and attaches again: the new session publishes the latch it was left, not what the registers show.
  {
    input_builder b;
    b.u8(0x05).u8(0);  // SIGNAL, no heartbeat, no read-only bits
    standard_blocks(b);
    b.u8(op::op_invalidate).u8(0).u64(0x30).u8(op::op_service).u8(0);
    b.u8(op::op_vf_write).u8(0x28).u8(2).u32(0xFFFF0000);
    b.u8(op::op_reattach);
    b.u8(op::op_vf_request).u8(0x00).u8(1).u8(16).u8(op::op_service).u8(0);
    w.write(t, "detached-and-attached-again", b.get());
  }
}

void pf_message_seeds(corpus_writer& w) {
  namespace op = vpci::fuzz::pf_message_ops;
  const std::string t = "pf_message_session";
  // Negotiation required, cap 4: version 1.4 agreed, reads and writes, a foreign wslot, a bad length,
  // invalidations held until the agreement is handed over, handoffs, end of serving.
  {
    input_builder b;
    b.u8(0x09).u8(0x21).u16(5);  // required, cap 4, wslot device 1 function 1, stall 6 ms
    standard_blocks(b);
    b.u8(op::op_invalidate).u8(0x80).u64(0x5);
    b.u8(op::op_request).u8(2).u8(1).u8(4).u8(0);         // version 1.4, ID 1, whole
    b.u8(op::op_handoff).u8(3);
    b.u8(op::op_request).u8(0).u8(2).u8(1).u8(16).u8(5);    // read block 1, 16 bytes, chunked
    b.u8(op::op_request).u8(1).u8(3).u8(16).u8(1).fill(16, 0x44).u8(0);  // write block 1
    b.u8(op::op_request).u8(0).u8(4).u8(1).u8(16).u8(0);
    b.u8(op::op_request).u8(0x10).u8(5).u8(0x00).u8(7).u8(1).u8(16).u8(0);  // a foreign wslot
    b.u8(op::op_request).u8(0x20).u8(6).u8(1).u32(0).u8(0);  // length 0
    b.u8(op::op_handoff).u8(1).u8(op::op_progress).u8(10).u8(op::op_end_handoff);
    b.u8(op::op_request).u8(0).u8(7).u8(4).u8(4).u8(0);   // the handled block
    b.u8(op::op_invalidate).u8(0).u8(63).u8(op::op_handoff).u8(0).u8(op::op_end_serving);
    w.write(t, "negotiated-reads-writes-invalidations", b.get());
  }
  // No negotiation, cap 1: busy answers, a full queue, a stall quarantines, then everything is refused.
  {
    input_builder b;
    b.u8(0x02).u8(0x00).u16(0);
    standard_blocks(b);
    for (unsigned i = 0; i < 6; ++i) b.u8(op::op_request).u8(0).u8(i + 1).u8(1).u8(16).u8(0);
    b.u8(op::op_handoff).u8(0).u8(op::op_stall_check).u8(0);
    b.u8(op::op_request).u8(0).u8(9).u8(1).u8(16).u8(0).u8(op::op_end_handoff);
    b.u8(op::op_request).u8(0).u8(10).u8(1).u8(16).u8(0).u8(op::op_store_raise).u64(1).u8(op::op_end_serving);
    w.write(t, "busy-full-queue-stall", b.get());
  }
  // A bad frame length on the stream: a violation; the stream is dead from then on.
  {
    input_builder b;
    b.u8(0x00).u8(0x00).u16(0);
    standard_blocks(b);
    b.u8(op::op_request).u8(0).u8(1).u8(1).u8(16).u8(0);
    b.u8(op::op_raw_bytes).u8(8).u32(0x4001).u32(0);
    b.u8(op::op_request).u8(0).u8(2).u8(1).u8(16).u8(0).u8(op::op_small_buffer).u8(2).u8(1).u8(2).u8(3);
    w.write(t, "bad-frame-length", b.get());
  }
  // A Linux guest's RESOURCES_ASSIGNED2 (224 bytes, longer than any block message): STATUS_BAD_DATA, and
  // the stream goes on to the next read.
  {
    input_builder b;
    b.u8(0x00).u8(0x00).u16(0);
    standard_blocks(b);
    const bytes packet = vpci::test::linux_packets::linux_resources_assigned2(0x1000, 0x22);
    bytes frame(4);
    le::store_u32(frame.data(), static_cast<std::uint32_t>(packet.size()));
    frame = lp::concat({frame, packet});
    b.u8(op::op_raw_bytes).u8(static_cast<unsigned>(frame.size())).append(frame);
    b.u8(op::op_request).u8(0).u8(2).u8(1).u8(16).u8(0);
    w.write(t, "linux-resources-assigned2", b.get());
  }
}

void vf_message_seeds(corpus_writer& w) {
  namespace op = vpci::fuzz::vf_message_ops;
  const std::string t = "vf_message_engine";
  // Negotiation: 1.4 refused, 1.3 agreed; a read and a write answered, an invalidation, a stale answer.
  {
    input_builder b;
    b.u8(0x01).u8(0x21);
    b.u8(op::op_start_read).u32(1).u8(15).u16(1000);
    b.u8(op::op_step).u8(1).u8(op::op_version).u8(0).u8(5).u8(4);  // ID 1: STATUS_REVISION_MISMATCH
    b.u8(op::op_step).u8(1).u8(op::op_version).u8(1).u8(0).u8(4);  // ID 2: success
    b.u8(op::op_step).u8(1);
    b.u8(op::op_answer).u8(0).u8(0).u8(0).u8(16).fill(16, 0x10).u8(0);  // success, 16 bytes, whole
    b.u8(op::op_start_write).u32(3).u8(7).u16(1000).fill(8, 0x20).u8(op::op_step).u8(1);
    b.u8(op::op_answer).u8(0).u8(0).u8(0).u8(4).u8(3);  // success, in 3-byte chunks
    b.u8(op::op_invalidate).u8(0).u64(0x11).u8(op::op_invalidate).u8(1).u8(3).u8(1).u64(0x2);
    b.u8(op::op_answer).u8(0x80).u64(0x10000).u8(0).u8(4).u8(0);
    w.write(t, "negotiated-read-write-invalidate", b.get());
  }
  // No negotiation: a full table, busy, cancellations, short and failed answers, timeouts, a removal.
  {
    input_builder b;
    b.u8(0x00).u8(0x00);
    for (unsigned i = 0; i < 5; ++i) b.u8(op::op_start_read).u32(i).u8(31).u16(10);
    b.u8(op::op_cancel).u8(0).u8(0).u8(op::op_step).u8(0).u8(op::op_sent);
    b.u8(op::op_answer).u8(0).u8(0).u8(0).u8(3).fill(3, 0x55).u8(0);  // 3 of 32 bytes
    b.u8(op::op_answer).u8(0).u8(0).u8(2).u8(0).u8(0);                // STATUS_UNSUCCESSFUL
    b.u8(op::op_start_write).u32(9).u8(127).u16(5).fill(128, 0x01);
    b.u8(op::op_cancel).u8(1).u8(0).u8(op::op_time).u16(20).u8(op::op_step).u8(1);
    b.u8(op::op_start_read).u32(7).u8(0xF0).u16(1);  // length 0
    b.u8(op::op_start_read).u32(7).u8(1).u16(50).u8(op::op_remove).u8(3);
    w.write(t, "table-full-cancel-timeout-remove", b.get());
  }
  // Garbage from the PF: a framing error is sticky and every start fails with it.
  {
    input_builder b;
    b.u8(0x00).u8(0x05);
    b.u8(op::op_start_read).u32(1).u8(15).u16(100).u8(op::op_step).u8(1);
    b.u8(op::op_raw).u8(24).u32(20).fill(20, 0x0B);
    b.u8(op::op_raw).u8(4).u32(0xFFFF);
    b.u8(op::op_start_read).u32(1).u8(15).u16(100);
    w.write(t, "garbage-then-framing-error", b.get());
  }
}

void vf_mailbox_seeds(corpus_writer& w) {
  namespace op = vpci::fuzz::vf_mailbox_ops;
  const std::string t = "vf_mailbox_engine";
  // A well-formed window: a read answered (11 bytes, a count not a multiple of 4), a write answered, an
  // invalidation raised and acknowledged, a signal.
  {
    input_builder b;
    b.u8(0x20 | 0x40 | 0x02);  // start initialised, capabilities: invalidation; watching
    b.u8(op::op_start_read).u32(5).u8(10).u16(1000);
    b.u8(op::op_step).u8(0).u8(op::op_step).u8(0).u8(op::op_step).u8(0);  // probe, block, doorbell
    b.u8(op::op_answer).u8(0).u8(11).u8(11).fill(11, 0x50);               // ack = sequence, 11 bytes
    b.u8(op::op_settle);
    b.u8(op::op_start_write).u32(5).u8(10).u16(1000).fill(11, 0x70).u8(op::op_settle);
    b.u8(op::op_answer).u8(0).u8(11).u8(0).u8(op::op_settle);
    b.u8(op::op_invalidate).u64(0x8000000000000005ULL).u8(op::op_time).u16(200).u8(op::op_settle);
    b.u8(op::op_wake).u8(op::op_settle);
    w.write(t, "read-write-invalidate", b.get());
  }
  // Hostile answers: a count above the request, a torn answer between the data and the tear check, a
  // failed answer, a new epoch in the middle of a request, an access that fails, a short read.
  {
    input_builder b;
    b.u8(0x20 | 0x40 | 0x04);  // initialised; two torn retries
    b.u8(op::op_start_read).u32(1).u8(7).u16(5000).u8(op::op_settle);
    b.u8(op::op_answer).u8(0).u8(200).u8(0).u8(op::op_time).u16(20).u8(op::op_settle);  // count 200 for 8 bytes
    b.u8(op::op_start_read).u32(1).u8(7).u16(5000).u8(op::op_settle);
    b.u8(op::op_answer).u8(0).u8(8).u8(8).fill(8, 0x10).u8(op::op_time).u16(20);
    b.u8(op::op_step).u8(0).u8(op::op_step).u8(0);                        // status, data
    b.u8(op::op_answer).u8(0).u8(4).u8(4).fill(4, 0x90).u8(op::op_settle);  // re-answered under the VF
    b.u8(op::op_start_write).u32(2).u8(3).u16(5000).fill(4, 0x33).u8(op::op_settle);
    b.u8(op::op_answer).u8(0x42).u8(0).u32(0xC0000022).u8(0).u8(op::op_time).u16(20).u8(op::op_settle);
    b.u8(op::op_start_read).u32(3).u8(3).u16(5000).u8(op::op_step).u8(0);
    b.u8(op::op_initialise).u8(1).u8(op::op_time).u16(20).u8(op::op_settle);  // the PF restarted under it
    b.u8(op::op_start_read).u32(3).u8(3).u16(5000).u8(op::op_step).u8(1).u8(op::op_step).u8(2);
    b.u8(op::op_time).u16(20).u8(op::op_settle);
    w.write(t, "hostile-answers", b.get());
  }
  // Orphans and resets: requests that time out or are cancelled, a queue full, the VF resetting the
  // mailbox while the PF never finishes the reset, then does; a removal.
  {
    input_builder b;
    b.u8(0x20 | 0x40 | 0x01);  // initialised; the signal asked for, not offered
    for (unsigned i = 0; i < 5; ++i) b.u8(op::op_start_read).u32(i).u8(15).u16(50);
    b.u8(op::op_cancel).u8(0).u8(1).u8(op::op_cancel).u8(1).u8(0).u8(op::op_settle);
    b.u8(op::op_time).u16(100).u8(op::op_settle).u8(op::op_time).u16(600).u8(op::op_settle);
    b.u8(op::op_reset_done).u8(op::op_time).u16(10).u8(op::op_settle);
    b.u8(op::op_start_write).u32(9).u8(127).u16(100).fill(128, 0x01).u8(op::op_step).u8(0);
    b.u8(op::op_poke).u8(8).u32(0xFFFFFFFF).u8(op::op_settle).u8(op::op_remove).u8(3);
    w.write(t, "orphans-resets-remove", b.get());
  }
}

}  // namespace

// vfio_user_messages: a selector byte (the decoder, bit 4 its flag), then the payload, each from vpci's
// encoders in the shapes QEMU's client and vpci's server send.
void vfio_user_seeds(corpus_writer& w) {
  namespace vu = vpci::vfio_user;
  const auto after_header = [](const bytes& message) {
    return bytes(message.begin() + vu::header_size, message.end());
  };
  const auto seed = [&](const std::string& name, std::uint8_t selector, const bytes& payload) {
    bytes input{std::byte{selector}};
    input.insert(input.end(), payload.begin(), payload.end());
    w.write("vfio_user_messages", name, input);
  };
  const std::string_view qemu_json =
      R"({"capabilities":{"max_msg_fds":16,"max_data_xfer_size":1048576,"migration":{"pgsize":4096},"pgsizes":4096}})";
  const vu::version offer{0, 1, qemu_json};
  const bytes version_message =
      encoded(512, [&](std::span<std::byte> out) { return vu::encode_command(1, vu::command::version, offer, out); });
  seed("header_version", 0, version_message);
  seed("version_qemu", 1, after_header(version_message));
  bytes unterminated = after_header(version_message);
  unterminated.pop_back();  // no NUL: tolerated
  seed("version_without_nul", 1, unterminated);
  seed("version_no_data", 1,
       encoded(8, [](std::span<std::byte> out) { return vu::encode(vu::version{0, 1, {}}, out); }));
  seed("device_info", 2, encoded(16, [](std::span<std::byte> out) {
         return vu::encode(vu::device_info{16, vu::device_flag_pci | vu::device_flag_reset, 9, 5}, out);
       }));
  const bytes region = encoded(32, [](std::span<std::byte> out) {
    return vu::encode(vu::region_info{32, vu::region_flag_read | vu::region_flag_write, 7, 0, 4096, 0}, out);
  });
  seed("region_info_request", 3, region);
  bytes with_caps = region;
  with_caps.resize(48, std::byte{0x11});
  seed("region_info_reply_with_capabilities", 0x13, with_caps);
  seed("irq_info", 4, encoded(16, [](std::span<std::byte> out) {
         const std::uint32_t flags = vu::irq_info_eventfd | vu::irq_info_maskable | vu::irq_info_automasked;
         return vu::encode(vu::irq_info{16, flags, 0, 1}, out);
       }));
  const bytes flag{std::byte{1}};
  seed("irq_set_bool_trigger", 5, encoded(32, [&](std::span<std::byte> out) {
         return vu::encode(vu::irq_set{21, vu::irq_set_data_bool | vu::irq_set_action_trigger, 0, 0, 1, flag}, out);
       }));
  seed("irq_set_eventfd_unmask", 5, encoded(32, [](std::span<std::byte> out) {
         return vu::encode(vu::irq_set{20, vu::irq_set_data_eventfd | vu::irq_set_action_unmask, 0, 0, 1, {}}, out);
       }));
  const bytes dword = pattern(4, 0x40);
  seed("region_read_request", 6, encoded(16, [](std::span<std::byte> out) {
         return vu::encode(vu::region_access{0x100, 7, 4, {}}, out);
       }));
  seed("region_read_reply", 0x16, encoded(32, [&](std::span<std::byte> out) {
         return vu::encode(vu::region_access{0x100, 7, 4, dword}, out);
       }));
  seed("dma_map", 7, encoded(32, [](std::span<std::byte> out) {
         return vu::encode(vu::dma_map{32, 3, 0, 0x100000, 0x200000}, out);
       }));
  seed("dma_unmap_all", 8, encoded(24, [](std::span<std::byte> out) {
         return vu::encode(vu::dma_unmap{24, vu::dma_unmap_flag_all, 0, 0}, out);
       }));
  // The built capabilities document (max_msg_fds 65535, max_data_xfer_size 4096) with a skipped member
  // nested to either side of the limit, beside "capabilities" (where 0) and inside it (where 1).
  for (const auto& [depth, where] : {std::pair{0u, 0u}, {15u, 0u}, {16u, 0u}, {14u, 1u}, {15u, 1u}}) {
    const bytes built = make_bytes({0, 0xFF, 0xFF, 0, 0, 0, 0, 0, 0, 0,  // shape, magnitude, shift
                                    0, 0x00, 0x10, 0, 0, 0, 0, 0, 0, 0,  // the same for max_data_xfer_size
                                    depth, where});
    seed("capabilities_depth_" + std::to_string(depth) + (where != 0 ? "_inside" : ""), 9, built);
  }
}

// vfio_user_device_server: a mode byte, then operations (the target's header): a client's session as
// QEMU runs it (negotiation, info, a config read and write, INTx with its resample eventfd, a reset, DMA
// map and unmap, a disconnect), and a hostile one (commands before VERSION, a second VERSION, writes to
// read-only and write-1-to-clear bits, refused descriptor shapes, a truncated descriptor list, raw
// messages, No_reply, a message too large to read).
void vfio_user_server_seeds(corpus_writer& w) {
  // Built command: opcode 0, ID, command, flag bits, size (2: exact); the command's fields follow.
  const auto built = [](unsigned id, unsigned command, unsigned flag_bits, std::initializer_list<unsigned> fields) {
    bytes op = make_bytes({0, id, 0, command, flag_bits, 2});
    const bytes rest = make_bytes(fields);
    op.insert(op.end(), rest.begin(), rest.end());
    return op;
  };
  const bytes qemu = concat({
      make_bytes({0x02}),                               // 4096 bytes, a reset that succeeds
      built(1, 1, 0, {1, 1, 0, 1, 0}),                  // VERSION 0.1, QEMU's capabilities, no descriptor
      built(2, 4, 0, {0, 0}),                           // DEVICE_GET_INFO
      built(3, 5, 0, {0, 7, 0}),                        // GET_REGION_INFO 7
      built(4, 7, 0, {0, 0, 0}),                        // GET_IRQ_INFO 0
      built(5, 9, 0, {1, 0, 0, 1, 1, 64, 0, 0}),        // REGION_READ 64 bytes at 0
      built(6, 10, 0, {1, 4, 0, 1, 1, 4, 0, 7, 1, 0, 0, 0}),  // REGION_WRITE 4 bytes at 4
      built(7, 8, 0, {0x0A, 1, 1}),                     // SET_IRQS INTx TRIGGER EVENTFD, one descriptor
      make_bytes({2, 2}),                               // two interrupts: one delivered, one pending
      built(8, 8, 0, {0x06, 1, 1}),                     // SET_IRQS INTx UNMASK EVENTFD (resample)
      make_bytes({3}),                                  // end of interrupt: unmasked, the pending one sent
      built(9, 13, 0, {0}),                             // DEVICE_RESET
      built(10, 2, 0, {0}),                             // DMA_MAP
      built(11, 3, 0, {2, 0, 0, 0, 0, 0, 0, 0, 0, 0}),  // DMA_UNMAP all
      make_bytes({4}),                                  // disconnect
  });
  w.write("vfio_user_device_server", "qemu_session", qemu);
  const bytes hostile = concat({
      make_bytes({0x0D}),                               // 256 bytes, a failing reset, read-only header
      built(1, 4, 0, {0, 0}),                           // GET_INFO before VERSION: EINVAL
      built(2, 1, 0, {0, 0, 0, 1, 0}),                  // VERSION 1.0: ENOTSUP
      built(3, 1, 0, {1, 1, 0, 2, 0}),                  // VERSION with a malformed capability: EINVAL
      built(4, 1, 0, {1, 1, 0, 0, 0}),                  // VERSION without data
      built(5, 1, 0, {1, 1, 0, 0, 0}),                  // a second VERSION: EINVAL
      built(6, 10, 0, {1, 0, 0, 1, 1, 8, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0}),  // into the header
      built(7, 9, 0, {1, 0xFC, 0, 1, 1, 8, 0, 0}),      // a read crossing the end: EINVAL
      built(8, 9, 0, {1, 0, 0, 0, 3, 1, 4, 0, 0}),      // another region: EINVAL
      built(9, 8, 0x30, {0x0A, 1, 1}),                  // a truncated descriptor list: EINVAL
      built(10, 8, 0, {0x0A, 1, 2}),                    // two eventfds: EINVAL, both closed
      built(11, 8, 0, {0x18, 2, 0, 0}),                 // MSI-X: disable all (NONE, TRIGGER, count 0)
      built(12, 8, 0, {0x02, 1, 0}),                    // MASK with EVENTFD: EINVAL
      built(13, 13, 0, {0}),                            // reset failing: EIO
      built(14, 3, 0, {1, 0, 0, 0, 0, 0, 0, 0, 0, 0}),  // unmap with a dirty bitmap: EINVAL
      built(15, 4, 4, {0, 0}),                          // No_reply: no reply
      built(16, 4, 1, {0, 0}),                          // a reply sent to the server: EINVAL
      make_bytes({1, 17, 0, 0x99, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0xAA, 0xBB, 0xCC}),  // unknown command
      make_bytes({5, 0x40, 0, 4, 1, 2, 3, 4}),          // the device stores 4 bytes
      make_bytes({2, 3}),                               // an interrupt with no eventfd: pending
      make_bytes({6, 18, 0, 10, 0, 0, 0, 0, 0, 0, 0}),  // a REGION_WRITE too large to read: E2BIG
  });
  w.write("vfio_user_device_server", "hostile_client", hostile);
}

// vfio_user_client: a mode byte, the server's script (u16 length, then its bytes), then operations (the
// target's header): vpci's server answering a session with the interrupt (a read, a write, a signal and
// the UNMASK before the next read, a reset, then the end of the connection), and a server with an 8-byte
// max_data_xfer_size answering a split read, then one reply of another offset, then silence.
void vfio_user_client_seeds(corpus_writer& w) {
  namespace vu = vpci::vfio_user;
  // The reply vpci's server builds (reply_header) to command `c` with ID `id`.
  const auto reply = [](unsigned id, vu::command c, const auto& payload) {
    return encoded(8192, [&](std::span<std::byte> out) -> vpci::result<std::size_t> {
      auto n = vu::encode(payload, out.subspan(vu::header_size));
      if (!n) return n;
      (void)vu::encode(vu::reply_header(vu::command_header(static_cast<std::uint16_t>(id), c, 0), *n), out);
      return vu::header_size + *n;
    });
  };
  const auto empty_reply = [](unsigned id, vu::command c) {
    return encoded(vu::header_size, [&](std::span<std::byte> out) {
      return vu::encode(vu::reply_header(vu::command_header(static_cast<std::uint16_t>(id), c, 0), 0), out);
    });
  };
  const auto program = [](unsigned mode, const bytes& script, const bytes& ops) {
    const auto length = static_cast<unsigned>(script.size());
    bytes input = make_bytes({mode, length & 0xFF, length >> 8});
    input.insert(input.end(), script.begin(), script.end());
    input.insert(input.end(), ops.begin(), ops.end());
    return input;
  };
  const std::string_view server_json = R"({"capabilities":{"max_msg_fds":8,"max_data_xfer_size":4096}})";
  const bytes handshake = concat({
      reply(1, vu::command::version, vu::version{0, 1, server_json}),
      reply(2, vu::command::device_get_info, vu::device_info{16, vu::device_flag_pci | vu::device_flag_reset, 9, 5}),
      reply(3, vu::command::device_get_region_info, vu::region_info{32, 3, 7, 0, 4096, 0}),
      reply(4, vu::command::device_get_irq_info, vu::irq_info{16, 7, 0, 1}),
      empty_reply(5, vu::command::device_set_irqs),
  });
  const bytes header = pattern(64, 0x10);
  const bytes dword = pattern(4, 0x80);
  const bytes served = concat({
      handshake,
      reply(6, vu::command::region_read, vu::region_access{0, 7, 64, header}),
      reply(7, vu::command::region_write, vu::region_access{0x40, 7, 8, {}}),
      empty_reply(8, vu::command::device_set_irqs),  // the UNMASK after the signal
      reply(9, vu::command::region_read, vu::region_access{0x100, 7, 4, dword}),
      empty_reply(10, vu::command::device_reset),
  });
  w.write("vfio_user_client", "vpci_server_session",
          program(3, served,
                  concat({make_bytes({0, 0, 0, 64}), make_bytes({1, 0x40, 0, 8}), pattern(8, 0x60), make_bytes({3}),
                          make_bytes({0, 0, 1, 4}), make_bytes({2}), make_bytes({0, 0, 0, 4, 0, 0, 0, 4})})));
  const bytes split = concat({
      reply(1, vu::command::version, vu::version{0, 1, R"({"capabilities":{"max_data_xfer_size":8}})"}),
      reply(2, vu::command::device_get_info, vu::device_info{16, vu::device_flag_pci, 9, 0}),
      reply(3, vu::command::device_get_region_info, vu::region_info{32, 3, 7, 0, 256, 0}),
      reply(4, vu::command::region_read, vu::region_access{2, 7, 6, pattern(6, 0x20)}),
      reply(5, vu::command::region_read, vu::region_access{8, 7, 7, pattern(7, 0x30)}),
      reply(6, vu::command::region_read, vu::region_access{4, 7, 4, dword}),  // asked for offset 0
  });
  w.write("vfio_user_client", "split_read_then_lies",
          program(0, split, make_bytes({0, 2, 0, 13, 0, 0, 0, 4, 1, 0, 0, 4, 1, 2, 3, 4, 0, 0, 0, 4})));
}

// vfio_user_serving: a mode byte (bit 0: the client closes, else serving is cancelled; bits 7:4 the chunk
// sizes), then the client's stream: QEMU's session; the largest message read and a message one byte too
// large to read, each between two others; a stream cut inside a message; a message size below 16 after a
// good message.
void vfio_user_serving_seeds(corpus_writer& w) {
  namespace vu = vpci::vfio_user;
  const auto command = [](unsigned id, vu::command c, const auto& payload) {
    return encoded(8192, [&](std::span<std::byte> out) {
      return vu::encode_command(static_cast<std::uint16_t>(id), c, payload, out);
    });
  };
  const auto bare = [](unsigned id, vu::command c) {
    return encoded(16, [&](std::span<std::byte> out) {
      return vu::encode_command(static_cast<std::uint16_t>(id), c, out);
    });
  };
  const auto input = [](unsigned mode, const bytes& stream) { return concat({make_bytes({mode}), stream}); };
  const std::string_view json = R"({"capabilities":{"max_msg_fds":16,"max_data_xfer_size":4096}})";
  const bytes version = command(1, vu::command::version, vu::version{0, 1, json});
  bytes no_reply_write = command(6, vu::command::region_write, vu::region_access{0x44, 7, 4, pattern(4, 0x90)});
  no_reply_write[8] = std::byte{vu::flag_no_reply};
  const bytes session = concat({
      version,
      command(2, vu::command::device_get_info, vu::device_info{16, 0, 0, 0}),
      command(3, vu::command::device_get_region_info, vu::region_info{32, 0, 7, 0, 0, 0}),
      command(4, vu::command::region_read, vu::region_access{0, 7, 64, {}}),
      command(5, vu::command::region_write, vu::region_access{0x40, 7, 4, pattern(4, 0x70)}),
      no_reply_write,
      command(7, vu::command::dma_map, vu::dma_map{32, 3, 0, 0x100000, 0x1000}),
      bare(8, vu::command::device_reset),
  });
  w.write("vfio_user_serving", "qemu_session_closing", input(0x01, session));
  w.write("vfio_user_serving", "qemu_session_in_small_chunks", input(0x21, session));
  bytes oversized = bare(9, vu::command::region_write);
  vu::host_store(oversized.data() + 4, std::uint32_t{16 + 16 + 4096 + 1});
  oversized.resize(16 + 16 + 4096 + 1, std::byte{0x5A});
  const bytes info = command(10, vu::command::device_get_info, vu::device_info{16, 0, 0, 0});
  // The largest message read: a 4096-byte REGION_WRITE (payload 16 + 4096), one byte under the drop.
  const bytes largest = command(11, vu::command::region_write, vu::region_access{0, 7, 4096, pattern(4096, 0x33)});
  w.write("vfio_user_serving", "the_largest_message_read", input(0xD1, concat({version, largest, info})));
  w.write("vfio_user_serving", "a_message_too_large_to_read", input(0xC1, concat({version, oversized, info})));
  bytes cut = command(2, vu::command::region_read, vu::region_access{0, 7, 4, {}});
  cut.resize(20);
  w.write("vfio_user_serving", "cut_inside_a_message_then_cancelled", input(0x40, concat({version, cut})));
  w.write("vfio_user_serving", "cut_inside_a_message_then_closed", input(0x41, concat({version, cut})));
  bytes too_small = bare(3, vu::command::device_get_info);
  vu::host_store(too_small.data() + 4, std::uint32_t{15});
  w.write("vfio_user_serving", "a_message_size_below_16",
          input(0x01, concat({version, too_small, bare(4, vu::command::device_reset)})));
}

int main(int argc, char** argv) {
  try {
    if (argc == 4 && std::string(argv[1]) == "--reference-only") {
      corpus_writer w{argv[2]};
      reference_seeds(w, argv[3]);
      std::cout << "vpci_fuzz_make_corpus: " << w.count() << " reference seeds in " << argv[2] << "\n";
      return 0;
    }
    if (argc != 2) {
      std::cerr << "usage: " << argv[0] << " OUT | --reference-only OUT DUMPS\n";
      return 2;
    }
    corpus_writer w{argv[1]};
    hyperv_seeds(w);
    windows_seeds(w);
    block_seeds(w);
    config_seeds(w);
    lspci_seeds(w);
    pf_mailbox_seeds(w);
    pf_message_seeds(w);
    vf_message_seeds(w);
    vf_mailbox_seeds(w);
    vfio_user_seeds(w);
    vfio_user_server_seeds(w);
    vfio_user_client_seeds(w);
    vfio_user_serving_seeds(w);
    std::cout << "vpci_fuzz_make_corpus: " << w.count() << " seeds in " << argv[1] << "\n";
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "vpci_fuzz_make_corpus: " << e.what() << "\n";
    return 1;
  }
}
