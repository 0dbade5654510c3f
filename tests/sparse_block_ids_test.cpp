// Any 32-bit block ID, end to end on both bindings (a Windows BlockId is a ULONG): blocks 0, 63, 64,
// 0x80000000 and 0xFFFFFFFF read and written by a VF through the config-space mailbox and through the
// Hyper-V messages, typed blocks with far IDs, an ID next to them that nobody defines refused, and only
// blocks 0..63 invalidated (pf_endpoint::store of a wider block does not invalidate by default and
// refuses to when asked, with nothing changed).
#include <boost/test/unit_test.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <ostream>
#include <span>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/connect_pair.hpp>
#include <boost/asio/local/stream_protocol.hpp>

#include <vpci/asio/pf_endpoint.hpp>
#include <vpci/asio/vf_endpoint.hpp>
#include <vpci/asio/vf_message_endpoint.hpp>
#include <vpci/transport/memory_config_space.hpp>

#include "test_support.hpp"

BOOST_AUTO_TEST_SUITE(sparse_block_ids_test)

using namespace vpci;
using socket_type = boost::asio::local::stream_protocol::socket;

namespace {

struct sparse_block {
  std::uint32_t id;
  std::size_t size;
};
// The edges of the mask and of the 32-bit range, each block its own size.
constexpr sparse_block sparse[] = {{0, 4}, {63, 63}, {64, 64}, {0x80000000, 100}, {0xFFFFFFFF, 128}};

std::vector<std::byte> contents_of(std::uint32_t id, std::size_t size, unsigned salt = 0) {
  std::vector<std::byte> out(size);
  for (std::size_t i = 0; i < size; ++i) out[i] = static_cast<std::byte>((id >> 24) + id + i * 7 + salt);
  return out;
}

std::vector<std::byte> copy_of(std::span<const std::byte> bytes) { return {bytes.begin(), bytes.end()}; }

using far_block = block<0xFFFFFFF0u, std::uint32_t>;  // typed, cannot be invalidated
using near_block = block<62, std::uint32_t>;          // typed, can be

// A PF with VF 0's sparse blocks and the two typed ones.
void define_blocks(pf_endpoint<4>& pf) {
  BOOST_REQUIRE(!pf.register_vf(0, 0x0101));
  for (const auto& b : sparse) BOOST_REQUIRE(!pf.define_block(0, block_id{b.id}, contents_of(b.id, b.size)));
  BOOST_REQUIRE(!pf.define<far_block>(0, 0xF00D0001u));
  BOOST_REQUIRE(!pf.define<near_block>(0, 0x0EA40001u));
}

}  // namespace

BOOST_AUTO_TEST_CASE(binding_1_reads_and_writes_any_32_bit_block_id) {
  boost::asio::io_context io;
  memory_config_space space{io, 4096};
  pf_endpoint<4> pf;
  define_blocks(pf);
  auto window = pf.attach_mailbox(0, space);
  BOOST_REQUIRE(window.has_value());
  vf_endpoint<memory_config_space> vf{space, *window};

  for (const auto& b : sparse) {
    BOOST_TEST_CONTEXT("block 0x" << std::hex << b.id) {
      std::vector<std::byte> buffer(b.size);
      boost::system::error_code ec;
      const std::size_t n = vf.read_block(block_id{b.id}, buffer, ec);
      BOOST_TEST(!ec);
      BOOST_TEST(n == b.size);
      BOOST_TEST(buffer == contents_of(b.id, b.size), boost::test_tools::per_element());
      const auto written = contents_of(b.id, b.size, 0x5A);
      BOOST_TEST(vf.write_block(block_id{b.id}, written, ec) == b.size);
      BOOST_TEST(!ec);
      BOOST_TEST(copy_of(pf.blocks().contents(0, block_id{b.id})) == written, boost::test_tools::per_element());
    }
  }
  // Every other block kept its bytes.
  BOOST_TEST(copy_of(pf.blocks().contents(0, block_id{0xFFFFFFFF})) == contents_of(0xFFFFFFFF, 128, 0x5A),
             boost::test_tools::per_element());
  boost::system::error_code ec;
  BOOST_TEST(vf.read(far_block{}, ec) == 0xF00D0001u);
  BOOST_TEST(!ec);
  std::array<std::byte, 4> buffer{};
  for (std::uint32_t nobody : {65u, 0x7FFFFFFFu, 0x80000001u, 0xFFFFFFFEu}) {
    BOOST_TEST(vf.read_block(block_id{nobody}, buffer, ec) == 0u);
    BOOST_TEST((ec == errc::invalid_argument));  // STATUS_INVALID_PARAMETER
  }

  // Only blocks 0..63 are invalidated: a far block's update says nothing unless asked, and asked it is
  // refused with the stored value unchanged.
  BOOST_TEST(!pf.store<far_block>(0, 0xF00D0002u));
  BOOST_TEST((pf.store<far_block>(0, 0xF00D0003u, true) == errc::invalid_block_id));
  BOOST_TEST(*pf.load<far_block>(0) == 0xF00D0002u);
  BOOST_TEST(vf.poll_invalidations(ec).empty());
  BOOST_TEST(!pf.store<near_block>(0, 0x0EA40002u));
  BOOST_TEST(vf.poll_invalidations(ec) == near_block::mask());
  BOOST_TEST(vf.read(far_block{}, ec) == 0xF00D0002u);
  BOOST_TEST(vf.read(near_block{}, ec) == 0x0EA40002u);
}

BOOST_AUTO_TEST_CASE(binding_2_reads_and_writes_any_32_bit_block_id) {
  boost::asio::io_context io;
  socket_type vf_socket{io};
  socket_type pf_socket{io};
  boost::asio::local::connect_pair(vf_socket, pf_socket);
  constexpr hyperv::wslot slot{2, 1};
  pf_endpoint<4> pf;
  define_blocks(pf);
  std::optional<boost::system::error_code> served;
  pf.async_serve(0, slot, pf_socket, [&](boost::system::error_code ec) { served = ec; });
  vf_message_endpoint<socket_type> vf{vf_socket, slot};

  // Every read and write in flight at once; the VF closes when the last has completed.
  struct outcome {
    boost::system::error_code ec;
    std::size_t bytes{0};
  };
  std::vector<std::vector<std::byte>> buffers;
  std::vector<std::vector<std::byte>> writes;
  for (const auto& b : sparse) {
    buffers.emplace_back(b.size);
    writes.push_back(contents_of(b.id, b.size, 0xA5));
  }
  std::vector<outcome> reads(std::size(sparse)), written(std::size(sparse));
  outcome nobody;
  std::array<std::byte, 4> nobody_buffer{};
  std::size_t completed = 0;
  const std::size_t total = 2 * std::size(sparse) + 1;
  auto done = [&] {
    if (++completed == total) {
      boost::system::error_code ignored;
      vf_socket.shutdown(socket_type::shutdown_both, ignored);
      vf_socket.close(ignored);
    }
  };
  for (std::size_t i = 0; i < std::size(sparse); ++i) {
    vf.async_read_block(block_id{sparse[i].id}, buffers[i], [&, i](boost::system::error_code ec, std::size_t n) {
      reads[i] = {ec, n};
      done();
    });
    vf.async_write_block(block_id{sparse[i].id}, writes[i], [&, i](boost::system::error_code ec, std::size_t n) {
      written[i] = {ec, n};
      done();
    });
  }
  vf.async_read_block(block_id{0xFFFFFFFE}, nobody_buffer, [&](boost::system::error_code ec, std::size_t n) {
    nobody = {ec, n};
    done();
  });
  io.run();
  BOOST_TEST(completed == total);
  for (std::size_t i = 0; i < std::size(sparse); ++i) {
    BOOST_TEST_CONTEXT("block 0x" << std::hex << sparse[i].id) {
      // Each read was answered before the write after it (one stream, in order).
      BOOST_TEST(!reads[i].ec);
      BOOST_TEST(reads[i].bytes == sparse[i].size);
      BOOST_TEST(buffers[i] == contents_of(sparse[i].id, sparse[i].size), boost::test_tools::per_element());
      BOOST_TEST(!written[i].ec);
      BOOST_TEST(written[i].bytes == sparse[i].size);
      BOOST_TEST(copy_of(pf.blocks().contents(0, block_id{sparse[i].id})) == writes[i],
                 boost::test_tools::per_element());
    }
  }
  BOOST_TEST((nobody.ec == errc::invalid_argument));
  BOOST_TEST(nobody.bytes == 0u);
  BOOST_REQUIRE(served.has_value());
  BOOST_TEST(!*served);
}

BOOST_AUTO_TEST_SUITE_END()  // sparse_block_ids_test
