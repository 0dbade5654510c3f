// The NDIS shape of the PF side (vpci::ndis_pf): OID_SRIOV_READ_VF_CONFIG_BLOCK and
// OID_SRIOV_WRITE_VF_CONFIG_BLOCK answered from the PF's block store with every NDIS_STATUS documented for
// them (each refusal changing nothing), and NdisMInvalidateConfigBlock reaching a VF over binding 2.
#include <boost/test/unit_test.hpp>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <memory>
#include <vector>

#include <boost/asio/io_context.hpp>

#include <vpci/asio/ndis_pf.hpp>
#include <vpci/asio/pf_endpoint.hpp>
#include <vpci/asio/timing.hpp>
#include <vpci/asio/vf_message_endpoint.hpp>
#include <vpci/transport/test_stream.hpp>

#include "test_support.hpp"

namespace vpci::windows::ndis {
using vpci::boost_test_print_type;  // NDIS_STATUS values print as numbers
}

BOOST_AUTO_TEST_SUITE(ndis_pf_test)

using namespace vpci;
using namespace std::chrono_literals;
using ndis_status = windows::ndis::status;
using vpci::test::bytes;
using vpci::test::octets;
using vpci::test::pattern;

namespace {

// An InformationBuffer laid out field by field (so that values the encoder refuses can be sent too):
// NDIS_OBJECT_HEADER {Type, Revision, Size}, VFId, BlockId, Length, BufferOffset, then `size` bytes in all.
struct parameters_layout {
  std::uint8_t type{0x80};
  std::uint8_t revision{1};
  std::uint16_t header_size{20};
  std::uint16_t vf{0};
  std::uint32_t block{1};
  std::uint32_t length{6};
  std::uint32_t offset{20};
};
bytes information_buffer(const parameters_layout& p, std::size_t size, unsigned fill = 0xEE) {
  bytes out(size, static_cast<std::byte>(fill));
  if (size >= 20) {
    le::store_u8(out.data(), p.type);
    le::store_u8(out.data() + 1, p.revision);
    le::store_u16(out.data() + 2, p.header_size);
    le::store_u16(out.data() + 4, p.vf);
    le::store_u16(out.data() + 6, 0);
    le::store_u32(out.data() + 8, p.block);
    le::store_u32(out.data() + 12, p.length);
    le::store_u32(out.data() + 16, p.offset);
  }
  return out;
}

class scripted_handler final : public engine::block_handler {
 public:
  ntstatus answer{ntstatus::success};
  ntstatus on_read(vf_index, block_id, std::span<std::byte> out, std::size_t& bytes) override {
    for (auto& b : out) b = std::byte{0x5C};
    bytes = out.size();
    return answer;
  }
  ntstatus on_write(vf_index, block_id, std::span<const std::byte>) override { return answer; }
};

// VF 0: block 1 (6 bytes), block 3 (4 bytes, read-only), block 4 (4 bytes, write-only), block 5 (an IHV
// handler). VF 1: block 9. VF 2 registered, no blocks.
struct ndis_fixture {
  pf_endpoint<4> pf;
  ndis_pf<pf_endpoint<4>> ndis{pf};
  std::shared_ptr<scripted_handler> handler = std::make_shared<scripted_handler>();
  ndis_fixture() {
    BOOST_REQUIRE(!pf.register_vf(0, 0x0101));
    BOOST_REQUIRE(!pf.register_vf(1, 0x0102));
    BOOST_REQUIRE(!pf.register_vf(2, 0x0103));
    BOOST_REQUIRE(!pf.define_block(0, block_id{1}, pattern(6, 0x61)));
    BOOST_REQUIRE(!pf.define_block(0, block_id{3}, pattern(4, 0x30), block_access::read_only));
    BOOST_REQUIRE(!pf.define_block(0, block_id{4}, pattern(4, 0x40), block_access::write_only));
    BOOST_REQUIRE(!pf.define_block(0, block_id{5}, pattern(8, 0x50), block_access::read_write, handler));
    BOOST_REQUIRE(!pf.define_block(1, block_id{9}, pattern(4, 0x90)));
  }
  ndis_oid_request read_request(bytes& buffer, std::uint32_t input = 0, std::uint32_t output = 0) {
    ndis_oid_request r;
    r.RequestType = ndis_request_type::method;
    r.Oid = oid::sriov_read_vf_config_block;
    r.InformationBuffer = buffer.data();
    r.InputBufferLength = input != 0 ? input : static_cast<std::uint32_t>(buffer.size());
    r.OutputBufferLength = output != 0 ? output : static_cast<std::uint32_t>(buffer.size());
    r.BytesRead = r.BytesWritten = r.BytesNeeded = 0xDEAD;
    return r;
  }
  ndis_oid_request write_request(bytes& buffer) {
    ndis_oid_request r;
    r.RequestType = ndis_request_type::set_information;
    r.Oid = oid::sriov_write_vf_config_block;
    r.InformationBuffer = buffer.data();
    r.InputBufferLength = static_cast<std::uint32_t>(buffer.size());
    r.BytesRead = r.BytesWritten = r.BytesNeeded = 0xDEAD;
    return r;
  }
  void expect_unchanged() {
    BOOST_TEST(octets(pf.blocks().contents(0, block_id{1})) == octets(pattern(6, 0x61)));
    BOOST_TEST(octets(pf.blocks().contents(0, block_id{3})) == octets(pattern(4, 0x30)));
    BOOST_TEST(octets(pf.blocks().contents(0, block_id{4})) == octets(pattern(4, 0x40)));
    BOOST_TEST(octets(pf.blocks().contents(1, block_id{9})) == octets(pattern(4, 0x90)));
  }
};

}  // namespace

// NDIS_STATUS_SUCCESS, read: the block's bytes at BufferOffset (encoded with the wire codec, as the
// overlying driver builds it), BytesWritten up to their end; a Length above the block's size reads the
// block, the rest of the region untouched.
BOOST_FIXTURE_TEST_CASE(read_success, ndis_fixture) {
  bytes buffer(26, std::byte{0xEE});
  BOOST_REQUIRE(windows::ndis::encode(windows::ndis::vf_config_block_parameters{0, block_id{1}, 6, 20}, buffer).has_value());
  auto request = read_request(buffer);
  BOOST_TEST(ndis.oid_request(request) == ndis_status::success);
  BOOST_TEST(octets(std::span{buffer}.subspan(20)) == octets(pattern(6, 0x61)));
  BOOST_TEST(request.BytesWritten == 26u);
  BOOST_TEST(request.BytesRead == 20u);
  BOOST_TEST(request.BytesNeeded == 0u);
  bytes wide = information_buffer({.length = 16, .offset = 24}, 40);
  auto again = read_request(wide);
  BOOST_TEST(ndis.oid_request(again) == ndis_status::success);
  BOOST_TEST(octets(std::span{wide}.subspan(20, 4)) == std::vector<unsigned>(4, 0xEEu));  // the gap untouched
  BOOST_TEST(octets(std::span{wide}.subspan(24, 6)) == octets(pattern(6, 0x61)));
  BOOST_TEST(octets(std::span{wide}.subspan(30)) == std::vector<unsigned>(10, 0xEEu));
  BOOST_TEST(again.BytesWritten == 30u);
  // An IHV handler computes the block.
  bytes computed = information_buffer({.block = 5, .length = 8}, 28);
  auto handled = read_request(computed);
  BOOST_TEST(ndis.oid_request(handled) == ndis_status::success);
  BOOST_TEST(octets(std::span{computed}.subspan(20)) == std::vector<unsigned>(8, 0x5Cu));
}

// NDIS_STATUS_SUCCESS, write: the block replaced, BytesRead the whole request.
BOOST_FIXTURE_TEST_CASE(write_success, ndis_fixture) {
  bytes buffer(26);
  BOOST_REQUIRE(windows::ndis::encode(windows::ndis::vf_config_block_parameters{0, block_id{1}, 6, 20}, buffer).has_value());
  const bytes data = pattern(6, 0x0A);
  std::copy(data.begin(), data.end(), buffer.begin() + 20);
  auto request = write_request(buffer);
  BOOST_TEST(ndis.oid_request(request) == ndis_status::success);
  BOOST_TEST(octets(pf.blocks().contents(0, block_id{1})) == octets(data));
  BOOST_TEST(request.BytesRead == 26u);
  BOOST_TEST(request.BytesNeeded == 0u);
}

// NDIS_STATUS_NOT_SUPPORTED: OIDs this handler does not serve, and the wrong request types.
BOOST_FIXTURE_TEST_CASE(not_supported, ndis_fixture) {
  bytes buffer = information_buffer({}, 26);
  const bytes before = buffer;
  struct request_kind {
    ndis_request_type type;
    std::uint32_t oid;
  };
  for (const request_kind& k : {request_kind{ndis_request_type::method, oid::sriov_read_vf_config_space},
                                request_kind{ndis_request_type::set_information, oid::sriov_write_vf_config_space},
                                request_kind{ndis_request_type::method, oid::sriov_vf_invalidate_config_block},
                                request_kind{ndis_request_type::method, 0},
                                request_kind{ndis_request_type::set_information, oid::sriov_read_vf_config_block},
                                request_kind{ndis_request_type::query_information, oid::sriov_read_vf_config_block},
                                request_kind{ndis_request_type::method, oid::sriov_write_vf_config_block},
                                request_kind{ndis_request_type::query_information, oid::sriov_write_vf_config_block}}) {
    auto request = read_request(buffer);
    request.RequestType = k.type;
    request.Oid = k.oid;
    BOOST_TEST(ndis.oid_request(request) == ndis_status::not_supported);
    BOOST_TEST(request.BytesRead == 0u);
    BOOST_TEST(request.BytesWritten == 0u);
  }
  BOOST_TEST(octets(buffer) == octets(before));
  expect_unchanged();
  // An IHV handler's STATUS_NOT_SUPPORTED too.
  handler->answer = ntstatus::not_supported;
  bytes computed = information_buffer({.block = 5, .length = 8}, 28);
  auto handled = read_request(computed);
  BOOST_TEST(ndis.oid_request(handled) == ndis_status::not_supported);
}

// NDIS_STATUS_INVALID_LENGTH with BytesNeeded: the parameters do not fit, the data range ends past the
// buffer (for a read: past the output length), a null buffer of no length.
BOOST_FIXTURE_TEST_CASE(invalid_length, ndis_fixture) {
  struct case_t {
    const char* what;
    bytes buffer;
    std::uint32_t input;
    std::uint32_t output;
    std::uint32_t needed;
  };
  const std::vector<case_t> reads{
      {"19 bytes", information_buffer({}, 19), 0, 0, 20},
      {"input shorter than the parameters", information_buffer({}, 26), 19, 26, 20},
      {"data range past the buffer", information_buffer({}, 25), 0, 0, 26},
      {"data range far away", information_buffer({.offset = 0xFFFFFFF0u}, 26), 0, 0, 0xFFFFFFF6u},
      {"data range past 4 GiB", information_buffer({.offset = 0xFFFFFFFCu}, 26), 0, 0, 0xFFFFFFFFu},
      {"output shorter than the data range", information_buffer({}, 26), 20, 25, 26},
  };
  for (auto c : reads) {
    BOOST_TEST_CONTEXT("read: " << c.what) {
      const bytes before = c.buffer;
      auto request = read_request(c.buffer, c.input, c.output);
      BOOST_TEST(ndis.oid_request(request) == ndis_status::invalid_length);
      BOOST_TEST(request.BytesNeeded == c.needed);
      BOOST_TEST(request.BytesWritten == 0u);
      BOOST_TEST(octets(c.buffer) == octets(before));
    }
  }
  for (auto c : {case_t{"19 bytes", information_buffer({}, 19), 0, 0, 20},
                 case_t{"data range past the buffer", information_buffer({.length = 6, .offset = 24}, 29), 0, 0, 30}}) {
    BOOST_TEST_CONTEXT("write: " << c.what) {
      auto request = write_request(c.buffer);
      BOOST_TEST(ndis.oid_request(request) == ndis_status::invalid_length);
      BOOST_TEST(request.BytesNeeded == c.needed);
      BOOST_TEST(request.BytesRead == 0u);
    }
  }
  ndis_oid_request empty;
  empty.Oid = oid::sriov_read_vf_config_block;
  BOOST_TEST(ndis.oid_request(empty) == ndis_status::invalid_length);
  BOOST_TEST(empty.BytesNeeded == 20u);
  empty.RequestType = ndis_request_type::set_information;
  empty.Oid = oid::sriov_write_vf_config_block;
  BOOST_TEST(ndis.oid_request(empty) == ndis_status::invalid_length);
  expect_unchanged();
}

// NDIS_STATUS_INVALID_PARAMETER: every member that can be invalid; nothing changes.
BOOST_FIXTURE_TEST_CASE(invalid_parameter, ndis_fixture) {
  struct case_t {
    const char* what;
    parameters_layout p;
    std::size_t size;
  };
  const std::vector<case_t> both{
      {"header type", {.type = 0x81}, 26},
      {"header revision 0", {.revision = 0}, 26},
      {"header size 19", {.header_size = 19}, 26},
      {"header size past the buffer", {.header_size = 27}, 26},
      {"VFId NDIS_PF_FUNCTION_ID", {.vf = 0xFFFF}, 26},
      {"VF not registered", {.vf = 3}, 26},
      {"VF without that block", {.vf = 2}, 26},
      {"another VF's block", {.block = 9, .length = 4}, 24},
      {"no such block", {.block = 30}, 26},
      {"BlockId beyond 63", {.block = 64}, 26},
      {"Length 0", {.length = 0}, 26},
      {"Length 129", {.length = 129}, 149},
      {"BufferOffset inside the structure", {.offset = 16}, 26},
  };
  for (const auto& c : both) {
    BOOST_TEST_CONTEXT(c.what) {
      bytes read_buffer = information_buffer(c.p, c.size);
      const bytes before = read_buffer;
      auto read = read_request(read_buffer);
      BOOST_TEST(ndis.oid_request(read) == ndis_status::invalid_parameter);
      BOOST_TEST(octets(read_buffer) == octets(before));
      BOOST_TEST(read.BytesWritten == 0u);
      bytes write_buffer = information_buffer(c.p, c.size, 0x11);
      auto write = write_request(write_buffer);
      BOOST_TEST(ndis.oid_request(write) == ndis_status::invalid_parameter);
      BOOST_TEST(write.BytesRead == 0u);
    }
  }
  // A Length that does not fit the block: a read shorter than it, a write of another size.
  bytes short_read = information_buffer({.length = 5}, 25);
  auto read = read_request(short_read);
  BOOST_TEST(ndis.oid_request(read) == ndis_status::invalid_parameter);
  for (std::uint32_t length : {5u, 7u}) {
    bytes write_buffer = information_buffer({.length = length}, 20 + length, 0x11);
    auto write = write_request(write_buffer);
    BOOST_TEST(ndis.oid_request(write) == ndis_status::invalid_parameter);
  }
  // A null InformationBuffer with lengths claiming room.
  ndis_oid_request null_read;
  null_read.Oid = oid::sriov_read_vf_config_block;
  null_read.InputBufferLength = 26;
  null_read.OutputBufferLength = 26;
  BOOST_TEST(ndis.oid_request(null_read) == ndis_status::invalid_parameter);
  ndis_oid_request null_write;
  null_write.RequestType = ndis_request_type::set_information;
  null_write.Oid = oid::sriov_write_vf_config_block;
  null_write.InputBufferLength = 26;
  BOOST_TEST(ndis.oid_request(null_write) == ndis_status::invalid_parameter);
  expect_unchanged();
}

// NDIS_STATUS_FAILURE: the block's access forbids it, the VF is quarantined, an IHV handler failed;
// NDIS_STATUS_RESOURCES: a handler out of resources. Nothing changes, the data region stays as it was.
BOOST_FIXTURE_TEST_CASE(failure_and_resources, ndis_fixture) {
  bytes read_write_only = information_buffer({.block = 4, .length = 4}, 24);
  auto r1 = read_request(read_write_only);
  BOOST_TEST(ndis.oid_request(r1) == ndis_status::failure);
  BOOST_TEST(octets(std::span{read_write_only}.subspan(20)) == std::vector<unsigned>(4, 0xEEu));
  bytes write_read_only = information_buffer({.block = 3, .length = 4}, 24, 0x11);
  auto w1 = write_request(write_read_only);
  BOOST_TEST(ndis.oid_request(w1) == ndis_status::failure);
  for (ntstatus answer : {ntstatus::unsuccessful, ntstatus::device_not_ready, ntstatus::access_denied}) {
    handler->answer = answer;
    bytes computed = information_buffer({.block = 5, .length = 8}, 28);
    auto read = read_request(computed);
    BOOST_TEST(ndis.oid_request(read) == ndis_status::failure);
    BOOST_TEST(octets(std::span{computed}.subspan(20)) == std::vector<unsigned>(8, 0xEEu));  // the handler's bytes never land
    bytes written = information_buffer({.block = 5, .length = 8}, 28, 0x11);
    auto write = write_request(written);
    BOOST_TEST(ndis.oid_request(write) == ndis_status::failure);
  }
  handler->answer = ntstatus::insufficient_resources;
  bytes computed = information_buffer({.block = 5, .length = 8}, 28);
  auto read = read_request(computed);
  BOOST_TEST(ndis.oid_request(read) == ndis_status::resources);
  handler->answer = ntstatus::success;
  pf.blocks().quarantine(0, engine::quarantine_reason::protocol_violation);
  bytes quarantined = information_buffer({}, 26);
  auto q = read_request(quarantined);
  BOOST_TEST(ndis.oid_request(q) == ndis_status::failure);
  expect_unchanged();
  BOOST_REQUIRE(!pf.reset_vf(0));
  auto again = read_request(quarantined);
  BOOST_TEST(ndis.oid_request(again) == ndis_status::success);
}

// NdisMInvalidateConfigBlock(VFId, BlockMask) is pf_endpoint::invalidate: ORed into the VF's pending
// invalidations; a VF that is not registered (or NDIS_PF_FUNCTION_ID) is refused and nothing changes.
BOOST_FIXTURE_TEST_CASE(invalidate_config_block, ndis_fixture) {
  BOOST_TEST(NdisMInvalidateConfigBlock(ndis, 0, 0x5) == ndis_status::success);
  BOOST_TEST(NdisMInvalidateConfigBlock(ndis, 0, 0x8000'0000'0000'0000) == ndis_status::success);
  BOOST_TEST(pf.blocks().pending_invalidations(0).bits() == 0x8000'0000'0000'0005u);
  BOOST_TEST(NdisMInvalidateConfigBlock(ndis, 3, 0x1) == ndis_status::invalid_parameter);
  BOOST_TEST(NdisMInvalidateConfigBlock(ndis, ndis_pf_function_id, 0x1) == ndis_status::invalid_parameter);
  BOOST_TEST(pf.blocks().pending_invalidations(1).empty());
  BOOST_TEST(pf.blocks().pending_invalidations(2).empty());
}

// One call for one call: NdisMInvalidateConfigBlock reaches a VF served over binding 2, and the OID
// handler's write is what that VF reads next.
BOOST_FIXTURE_TEST_CASE(reaches_a_vf_over_binding_2, ndis_fixture) {
  boost::asio::io_context io;
  manual_timing clock;
  auto [vf_end, pf_end] = test_stream::make_pair(io.get_executor());
  constexpr hyperv::wslot slot{2, 1};
  pf.async_serve(0, slot, pf_end, pf_stream_options<manual_timing>{5s, clock}, [](auto) {});
  vf_message_endpoint<test_stream, manual_timing> vf(vf_end, slot, vf_message_options{}, clock);
  std::optional<block_mask> seen;
  vf.async_wait_invalidate([&](boost::system::error_code ec, block_mask m) {
    BOOST_TEST(!ec);
    seen = m;
  });
  io.poll();
  bytes buffer = information_buffer({}, 26);
  const bytes data = pattern(6, 0x77);
  std::copy(data.begin(), data.end(), buffer.begin() + 20);
  auto write = write_request(buffer);
  BOOST_TEST(ndis.oid_request(write) == ndis_status::success);
  (void)NdisMInvalidateConfigBlock(ndis, 0, 0x2);
  io.restart();
  io.poll();
  BOOST_REQUIRE(seen.has_value());
  BOOST_TEST(seen->bits() == 0x2u);
  std::array<std::byte, 6> block{};
  std::optional<boost::system::error_code> read;
  vf.async_read_block(block_id{1}, block, [&](boost::system::error_code ec, std::size_t) { read = ec; });
  io.restart();
  io.poll();
  BOOST_REQUIRE(read.has_value());
  BOOST_TEST(!*read);
  BOOST_TEST(octets(block) == octets(data));
  vf.close();
  io.restart();
  io.poll();
}

BOOST_AUTO_TEST_SUITE_END()  // ndis_pf_test
