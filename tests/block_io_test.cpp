// Moving a block's bytes in and out: encoding into a C array, receiving into a block_buffer's storage, and
// a typed read of a block whose size differs from its descriptor, on both bindings.
#include <boost/test/unit_test.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/connect_pair.hpp>
#include <boost/asio/local/stream_protocol.hpp>

#include <vpci/asio/pf_endpoint.hpp>
#include <vpci/asio/vf_endpoint.hpp>
#include <vpci/asio/vf_message_endpoint.hpp>
#include <vpci/block/block.hpp>
#include <vpci/error.hpp>
#include <vpci/transport/memory_config_space.hpp>

#include "test_support.hpp"

BOOST_AUTO_TEST_SUITE(block_io_test)

using namespace vpci;
using socket_type = boost::asio::local::stream_protocol::socket;

namespace {

struct config_v1 {  // 6 bytes
  std::uint16_t version;
  std::uint32_t mtu;
  friend constexpr auto vpci_fields(type_tag<config_v1>) { return fields(&config_v1::version, &config_v1::mtu); }
};
struct config_v2 {  // 11 bytes: v1 and two fields more
  std::uint16_t version;
  std::uint32_t mtu;
  std::uint32_t features;
  std::uint8_t queues;
  friend constexpr auto vpci_fields(type_tag<config_v2>) {
    return fields(&config_v2::version, &config_v2::mtu, &config_v2::features, &config_v2::queues);
  }
};
using v1_block = block<1, config_v1>;
using v2_block = block<1, config_v2>;  // the same block ID, another layout
static_assert(v1_block::size == 6 && v2_block::size == 11);

constexpr config_v1 v1_value{1, 1500};
constexpr config_v2 v2_value{2, 9000, 0xA5A5A5A5, 8};

std::vector<unsigned> octets(std::span<const std::byte> bytes) {
  std::vector<unsigned> out;
  for (std::byte b : bytes) out.push_back(std::to_integer<unsigned>(b));
  return out;
}

bool is_value_initialized(const config_v2& c) { return c.version == 0 && c.mtu == 0 && c.features == 0 && c.queues == 0; }
bool is_value_initialized(const config_v1& c) { return c.version == 0 && c.mtu == 0; }

// Binding 1: a PF serving VF 0 block 1 as `PfBlock`, over a simulated config space, and the VF's endpoint.
template <class PfBlock>
struct mailbox_pair {
  boost::asio::io_context io;
  memory_config_space space{io, 4096};
  pf_endpoint<4> pf;
  std::optional<vf_endpoint<memory_config_space>> vf;

  explicit mailbox_pair(const typename PfBlock::value_type& value) {
    BOOST_REQUIRE(!pf.register_vf(0, 0x0101));
    BOOST_REQUIRE(!pf.define<PfBlock>(0, value));
    auto window = pf.attach_mailbox(0, space);
    BOOST_REQUIRE(window.has_value());
    vf.emplace(space, *window);
  }
};

// Binding 2: a PF serving VF 0 block 1 as `PfBlock` over a local socket pair, in one io_context.
constexpr hyperv::wslot vf0_slot{2, 1};
template <class PfBlock>
struct message_pair {
  boost::asio::io_context io;
  socket_type vf_socket{io};
  socket_type pf_socket{io};
  pf_endpoint<4> pf;
  std::optional<vf_message_endpoint<socket_type>> vf;
  std::optional<boost::system::error_code> served;

  explicit message_pair(const typename PfBlock::value_type& value) {
    boost::asio::local::connect_pair(vf_socket, pf_socket);
    BOOST_REQUIRE(!pf.register_vf(0, 0x0101));
    BOOST_REQUIRE(!pf.define<PfBlock>(0, value));
    pf.async_serve(0, vf0_slot, pf_socket, [this](boost::system::error_code ec) { served = ec; });
    vf.emplace(vf_socket, vf0_slot);
  }
  void close_vf() {
    boost::system::error_code ignored;
    vf_socket.shutdown(socket_type::shutdown_both, ignored);
    vf_socket.close(ignored);
  }
};

// The async typed read's outcome, the loop run until it completes.
template <class Pair, class Block>
std::pair<boost::system::error_code, typename Block::value_type> async_read_of(Pair& p, Block b) {
  std::optional<std::pair<boost::system::error_code, typename Block::value_type>> outcome;
  p.vf->async_read(b, [&](boost::system::error_code ec, typename Block::value_type v) { outcome.emplace(ec, v); });
  while (!outcome && p.io.run_one() != 0) {
  }
  BOOST_REQUIRE(outcome.has_value());
  return *outcome;
}

}  // namespace

// `std::byte out[config_block::size]; config_block::encode(c, out);` was ambiguous: the C array converts
// to std::span<std::byte, size> and to std::span<std::byte> alike.
BOOST_AUTO_TEST_CASE(encode_into_a_c_array_of_the_blocks_size) {
  std::byte out[v1_block::size]{};
  v1_block::encode(v1_value, out);
  BOOST_TEST(octets(out) == (std::vector<unsigned>{0x01, 0x00, 0xDC, 0x05, 0x00, 0x00}));
  // The same bytes as every other form.
  BOOST_TEST(octets(out) == octets(v1_block::to_buffer(v1_value).span()));
  std::array<std::byte, v1_block::size> as_array{};
  v1_block::encode(v1_value, as_array);
  BOOST_TEST(octets(out) == octets(as_array));
  // A C array with more room takes the checked span form, which reports; one too small is refused untouched.
  std::byte room[v1_block::size + 2]{};
  BOOST_TEST((v1_block::encode(v1_value, room) == no_error));
  BOOST_TEST(octets(std::span<const std::byte>(room).first(v1_block::size)) == octets(out));
  std::byte small[v1_block::size - 1]{};
  BOOST_TEST((v1_block::encode(v1_value, small) == errc::buffer_too_small));
  BOOST_TEST(octets(small) == (std::vector<unsigned>(v1_block::size - 1, 0)));
  // decode takes a const C array of the block's size, and a mutable one.
  const std::byte in[v1_block::size] = {std::byte{0x02}, std::byte{0x00}, std::byte{0x28},
                                        std::byte{0x23}, std::byte{0x00}, std::byte{0x00}};
  const auto back = v1_block::decode(in);
  BOOST_REQUIRE(back.has_value());
  BOOST_TEST(back->version == 2u);
  BOOST_TEST(back->mtu == 9000u);
  BOOST_TEST(v1_block::decode(out)->mtu == 1500u);
}

// Usable in constant expressions, as the other encode forms are.
constexpr std::array<std::byte, v1_block::size> encoded_at_compile_time() {
  std::byte out[v1_block::size]{};
  v1_block::encode(v1_value, out);
  std::array<std::byte, v1_block::size> copy{};
  for (std::size_t i = 0; i < copy.size(); ++i) copy[i] = out[i];
  return copy;
}
static_assert(encoded_at_compile_time()[2] == std::byte{0xDC});

// storage() said "for receiving into before resize()", but resize() zeroes what it adds: the bytes
// received were destroyed. commit(n) declares the first n bytes of storage() the contents, as they are.
BOOST_AUTO_TEST_CASE(bytes_received_into_storage_are_kept_by_commit) {
  block_buffer<8> buffer;
  auto room = buffer.storage();
  BOOST_TEST(room.size() == 8u);
  room[0] = std::byte{0x11};
  room[1] = std::byte{0x22};
  room[2] = std::byte{0x33};
  BOOST_TEST((buffer.commit(3) == no_error));
  BOOST_TEST(buffer.size() == 3u);
  BOOST_TEST(octets(buffer.span()) == (std::vector<unsigned>{0x11, 0x22, 0x33}));
  // Receiving again, fewer bytes: the length follows, the bytes are what storage() holds.
  room[0] = std::byte{0x44};
  BOOST_TEST((buffer.commit(1) == no_error));
  BOOST_TEST(octets(buffer.span()) == (std::vector<unsigned>{0x44}));
  // The whole capacity, and none.
  for (std::size_t i = 0; i < room.size(); ++i) room[i] = static_cast<std::byte>(0xA0 + i);
  BOOST_TEST((buffer.commit(8) == no_error));
  BOOST_TEST(octets(buffer.span()) == (std::vector<unsigned>{0xA0, 0xA1, 0xA2, 0xA3, 0xA4, 0xA5, 0xA6, 0xA7}));
  BOOST_TEST((buffer.commit(0) == no_error));
  BOOST_TEST(buffer.empty());
  // resize still zeroes what it adds (the library relies on it).
  BOOST_TEST((buffer.resize(2) == no_error));
  BOOST_TEST(octets(buffer.span()) == (std::vector<unsigned>{0, 0}));
}

BOOST_AUTO_TEST_CASE(commit_above_the_capacity_is_refused_and_changes_nothing) {
  block_buffer<4> buffer;
  BOOST_REQUIRE((buffer.assign(std::array{std::byte{1}, std::byte{2}}) == no_error));
  buffer.storage()[2] = std::byte{9};
  BOOST_TEST((buffer.commit(5) == errc::invalid_length));  // as resize and assign refuse
  BOOST_TEST((buffer.resize(5) == errc::invalid_length));
  BOOST_TEST(buffer.size() == 2u);
  BOOST_TEST(octets(buffer.span()) == (std::vector<unsigned>{1, 2}));
  BOOST_TEST(octets(buffer.storage()) == (std::vector<unsigned>{1, 2, 9, 0}));
  block_buffer<> largest;
  BOOST_TEST((largest.commit(max_block_size + 1) == errc::invalid_length));
  BOOST_TEST(largest.empty());
  BOOST_TEST((largest.commit(max_block_size) == no_error));
  BOOST_TEST(largest.size() == max_block_size);
}

constexpr bool commit_in_a_constant_expression() {
  block_buffer<3> buffer;
  buffer.storage()[1] = std::byte{7};
  return buffer.commit(2) == no_error && buffer.span()[1] == std::byte{7} && buffer.commit(4) == errc::invalid_length &&
         buffer.size() == 2;
}
static_assert(commit_in_a_constant_expression());

// The PF serves block 1 in the 6-byte v1 layout, the VF reads it with the 11-byte v2 descriptor. Binding 1's
// answer carries the block's byte count (6): the typed read failed with invalid_length, whose message ("block
// length must be 1 to 128 bytes") is wrong for it. It fails with block_size_mismatch, returning nothing
// of the 6 bytes.
BOOST_AUTO_TEST_CASE(binding_1_typed_read_of_a_shorter_block_is_a_size_mismatch) {
  mailbox_pair<v1_block> p{v1_value};
  boost::system::error_code ec;
  const config_v2 c = p.vf->read(v2_block{}, ec);
  BOOST_TEST((ec == errc::block_size_mismatch));
  BOOST_TEST(ec.message() == describe(errc::block_size_mismatch));
  BOOST_TEST(ec.message() != describe(errc::invalid_length));
  BOOST_TEST(is_value_initialized(c));
  BOOST_TEST((to_ntstatus(ec) == ntstatus::info_length_mismatch));
  BOOST_TEST(to_underlying(to_ntstatus(ec)) == 0xC0000004u);
  // The throwing form throws it.
  try {
    (void)p.vf->read(v2_block{});
    BOOST_TEST(false, "read did not throw");
  } catch (const boost::system::system_error& e) {
    BOOST_TEST((e.code() == errc::block_size_mismatch));
  }
  // The asynchronous form, the same rule.
  const auto [async_ec, async_value] = async_read_of(p, v2_block{});
  BOOST_TEST((async_ec == errc::block_size_mismatch));
  BOOST_TEST(is_value_initialized(async_value));
  // The raw read says what arrived: the PF's 6 bytes. The block itself is untouched, and the matching
  // descriptor reads it.
  std::array<std::byte, v2_block::size> raw{};
  BOOST_TEST(p.vf->read_block(v2_block::id, raw, ec) == v1_block::size);
  BOOST_TEST(!ec);
  const config_v1 right = p.vf->read(v1_block{}, ec);
  BOOST_TEST(!ec);
  BOOST_TEST(right.mtu == 1500u);
}

// A block longer than the descriptor: the PF refuses the read (STATUS_BUFFER_TOO_SMALL) on either binding,
// and the typed read reports the PF's word.
BOOST_AUTO_TEST_CASE(binding_1_typed_read_of_a_longer_block_is_refused_by_the_pf) {
  mailbox_pair<v2_block> p{v2_value};
  boost::system::error_code ec;
  const config_v1 c = p.vf->read(v1_block{}, ec);
  BOOST_TEST((ec == errc::buffer_too_small));
  BOOST_TEST(is_value_initialized(c));
  const auto [async_ec, async_value] = async_read_of(p, v1_block{});
  BOOST_TEST((async_ec == errc::buffer_too_small));
  BOOST_TEST(is_value_initialized(async_value));
}

// Binding 2's read completion has no length field: the PF answers with the bytes it has, then zeros up to
// the length asked (docs/hyperv-binding.md rule 4), so a shorter block reads as the descriptor's size,
// zero-padded, and decodes. Documented, not checkable: the padding cannot be told apart from data.
BOOST_AUTO_TEST_CASE(binding_2_typed_read_of_a_shorter_block_reads_it_zero_padded) {
  message_pair<v1_block> p{v1_value};
  const auto [ec, c] = async_read_of(p, v2_block{});
  BOOST_TEST(!ec);
  BOOST_TEST(c.version == 1u);
  BOOST_TEST(c.mtu == 1500u);
  BOOST_TEST(c.features == 0u);  // the PF's padding
  BOOST_TEST(c.queues == 0u);
  p.close_vf();
  p.io.run();
  BOOST_TEST(p.served.has_value());
}

BOOST_AUTO_TEST_CASE(binding_2_typed_read_of_a_longer_block_is_refused_by_the_pf) {
  message_pair<v2_block> p{v2_value};
  const auto [ec, c] = async_read_of(p, v1_block{});
  BOOST_TEST((ec == errc::buffer_too_small));
  BOOST_TEST(is_value_initialized(c));
  p.close_vf();
  p.io.run();
}

// The synchronous form on binding 2 (the PF served from another thread, as the synchronous forms need).
BOOST_AUTO_TEST_CASE(binding_2_synchronous_typed_read_of_a_shorter_block_reads_it_zero_padded) {
  boost::asio::io_context vf_io;
  boost::asio::io_context pf_io;
  socket_type vf_socket{vf_io};
  socket_type pf_socket{pf_io};
  boost::asio::local::connect_pair(vf_socket, pf_socket);
  pf_endpoint<4> pf;
  BOOST_REQUIRE(!pf.register_vf(0, 0x0101));
  BOOST_REQUIRE(!pf.define<v1_block>(0, v1_value));
  std::optional<boost::system::error_code> served;
  pf.async_serve(0, vf0_slot, pf_socket, [&](boost::system::error_code ec) { served = ec; });
  std::thread runner([&] { pf_io.run(); });
  {
    vf_message_endpoint vf(vf_socket, vf0_slot);
    boost::system::error_code ec;
    const config_v2 c = vf.read(v2_block{}, ec);
    BOOST_TEST(!ec);
    BOOST_TEST(c.version == 1u);
    BOOST_TEST(c.mtu == 1500u);
    BOOST_TEST(c.features == 0u);
    BOOST_TEST(c.queues == 0u);
    vf.close();
  }
  runner.join();
  BOOST_TEST(served.has_value());
}

BOOST_AUTO_TEST_SUITE_END()  // block_io_test
