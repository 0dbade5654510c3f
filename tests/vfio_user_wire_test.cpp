// The vfio-user codecs byte for byte. Every vector is written by hand from QEMU docs/interop/vfio-user.rst
// (section named per case), in the little-endian host order of every host vpci builds for.
#include <boost/test/unit_test.hpp>

#include <array>
#include <string_view>

#include <vpci/wire/vfio_user.hpp>

#include "test_support.hpp"

BOOST_AUTO_TEST_SUITE(vfio_user_wire_test)

using namespace vpci;
using namespace vpci::test;
namespace vu = vpci::vfio_user;

// The codec is constexpr (freestanding style): the capability reader works at compile time.
static_assert(vu::parse_capabilities(R"({"capabilities":{"max_data_xfer_size":64}})")->max_data_xfer_size == 64);
static_assert(!vu::parse_capabilities(R"({"capabilities":{"max_data_xfer_size":-64}})").has_value());

namespace {

template <class Payload>
bytes command_bytes(std::uint16_t id, vu::command c, const Payload& p) {
  bytes out(512, std::byte{0xEE});
  auto n = vu::encode_command(id, c, p, out);
  BOOST_REQUIRE(n.has_value());
  out.resize(*n);
  return out;
}

std::span<const std::byte> payload_of(const bytes& message) {
  return std::span<const std::byte>(message).subspan(vu::header_size);
}

}  // namespace

// "Header": msg_id 0..1, command 2..3, message size 4..7 (whole message), flags 8..11, error 12..15.
BOOST_AUTO_TEST_CASE(header_layout) {
  bytes out(16);
  BOOST_REQUIRE(vu::encode(vu::header{0x1234, 9, 0x20, 1 | vu::flag_error, 22}, out).has_value());
  BOOST_TEST(octets(out) == octets(make_bytes({0x34, 0x12, 0x09, 0x00, 0x20, 0x00, 0x00, 0x00, 0x21, 0x00, 0x00,
                                               0x00, 0x16, 0x00, 0x00, 0x00})),
             boost::test_tools::per_element());
  auto h = vu::decode_header(out);
  BOOST_REQUIRE(h.has_value());
  BOOST_TEST(h->message_id == 0x1234);
  BOOST_TEST(h->command == 9);
  BOOST_TEST(h->payload_size() == 16u);
  BOOST_TEST(h->is_reply());
  BOOST_TEST(h->error());
  BOOST_TEST(!h->no_reply());
  BOOST_TEST(h->error_number == 22u);
  // No_reply is bit 4.
  auto no_reply = vu::decode_header(make_bytes({1, 0, 10, 0, 16, 0, 0, 0, 0x10, 0, 0, 0, 0, 0, 0, 0}));
  BOOST_REQUIRE(no_reply.has_value());
  BOOST_TEST(no_reply->no_reply());
  BOOST_TEST(no_reply->is_command());
}

BOOST_AUTO_TEST_CASE(header_refusals) {
  BOOST_TEST((vu::decode_header(make_bytes({1, 0, 1, 0, 16, 0, 0})).error() == errc::truncated_message));
  // A message size below the header's own 16 bytes cannot frame anything.
  bytes small = make_bytes({1, 0, 1, 0, 15, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0});
  auto r = vu::decode_header(small);
  BOOST_TEST((r.error() == errc::malformed_message));
  bytes out(15, std::byte{0xAA});
  BOOST_TEST((vu::encode(vu::header{}, out).error() == errc::buffer_too_small));
  BOOST_TEST(octets(out) == std::vector<unsigned>(15, 0xAA));
}

// The message type is the whole of flags bits 3:0 (docs/vfio-user.md: 0 command, 1 reply): a type of
// 3, 9 or 15 has bit 0 set but is neither a reply nor a command, so the client's reply check
// (transport/vfio_user_config_space.hpp: !h.is_reply()) refuses it. A header that tested bit 0 alone
// would take a peer's reserved types as replies.
BOOST_AUTO_TEST_CASE(a_type_other_than_0_or_1_in_flags_bits_3_to_0_is_neither_command_nor_reply) {
  for (unsigned type : {0x3u, 0x9u, 0xFu, 0x2u}) {
    BOOST_TEST_CONTEXT("type " << type) {
      auto h = vu::decode_header(make_bytes({1, 0, 9, 0, 16, 0, 0, 0, type, 0, 0, 0, 0, 0, 0, 0}));
      BOOST_REQUIRE(h.has_value());
      BOOST_TEST(!h->is_reply());
      BOOST_TEST(!h->is_command());
      BOOST_TEST(static_cast<unsigned>(h->type()) == type);
    }
  }
  // Bits above 3:0 do not change the type: a reply with No_reply and Error set is still a reply.
  auto flagged = vu::decode_header(make_bytes({1, 0, 9, 0, 16, 0, 0, 0, 0x31, 0, 0, 0, 0, 0, 0, 0}));
  BOOST_REQUIRE(flagged.has_value());
  BOOST_TEST(flagged->is_reply());
}

// "Commands": the numbers of every command vpci uses.
BOOST_AUTO_TEST_CASE(command_numbers) {
  BOOST_TEST(static_cast<int>(vu::command::version) == 1);
  BOOST_TEST(static_cast<int>(vu::command::dma_map) == 2);
  BOOST_TEST(static_cast<int>(vu::command::dma_unmap) == 3);
  BOOST_TEST(static_cast<int>(vu::command::device_get_info) == 4);
  BOOST_TEST(static_cast<int>(vu::command::device_get_region_info) == 5);
  BOOST_TEST(static_cast<int>(vu::command::device_get_irq_info) == 7);
  BOOST_TEST(static_cast<int>(vu::command::device_set_irqs) == 8);
  BOOST_TEST(static_cast<int>(vu::command::region_read) == 9);
  BOOST_TEST(static_cast<int>(vu::command::region_write) == 10);
  BOOST_TEST(static_cast<int>(vu::command::device_reset) == 13);
}

// "VFIO_USER_VERSION": major, minor, NUL-terminated JSON.
BOOST_AUTO_TEST_CASE(version_message) {
  const bytes m = command_bytes(1, vu::command::version, vu::version{0, 1, R"({"a":1})"});
  BOOST_TEST(octets(m) == octets(make_bytes({0x01, 0x00, 0x01, 0x00, 0x1C, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
                                             0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, '{',  '"',
                                             'a',  '"',  ':',  '1',  '}',  0x00})),
             boost::test_tools::per_element());
  auto v = vu::decode_version(payload_of(m));
  BOOST_REQUIRE(v.has_value());
  BOOST_TEST(v->major == 0);
  BOOST_TEST(v->minor == 1);
  BOOST_TEST(v->json == R"({"a":1})");
  // Without version data: 4 bytes.
  const bytes bare = command_bytes(2, vu::command::version, vu::version{0, 0, {}});
  BOOST_TEST(bare.size() == 20u);
  BOOST_TEST(vu::decode_version(payload_of(bare))->json.empty());
  // Four bytes carry no version data, so no NUL is due, whatever the last byte: major 1, minor 0x100.
  const auto no_data = vu::decode_version(make_bytes({1, 0, 0, 1}));
  BOOST_REQUIRE(no_data.has_value());
  BOOST_TEST(no_data->major == 1);
  BOOST_TEST(no_data->minor == 0x100);
  BOOST_TEST(no_data->json.empty());
  BOOST_TEST((vu::decode_version(make_bytes({0, 0, 1})).error() == errc::truncated_message));
  // Version data ends with its NUL (libvfio-user's server and QEMU's client refuse it otherwise): without
  // it, or with bytes after it, malformed. A NUL inside ends the JSON, as C's strings do.
  BOOST_TEST((vu::decode_version(make_bytes({0, 0, 1, 0, '{', '}'})).error() == errc::malformed_message));
  BOOST_TEST((vu::decode_version(make_bytes({0, 0, 1, 0, '{', '}', 0, 'x'})).error() == errc::malformed_message));
  BOOST_TEST(vu::decode_version(make_bytes({0, 0, 1, 0, '{', '}', 0, 'x', 0}))->json == "{}");
}

BOOST_AUTO_TEST_CASE(capabilities_json) {
  auto caps = vu::parse_capabilities(
      R"( {"capabilities": {"max_msg_fds": 8, "pgsizes": 4096, "migration": {"pgsize": 4096},
           "max_data_xfer_size": 65536, "twin_socket": {"supported": true}, "write_multiple": false},
           "other": ["x\"y", null, -1.5e3]} )");
  BOOST_REQUIRE(caps.has_value());
  BOOST_TEST(caps->max_msg_fds == 8u);
  BOOST_TEST(caps->max_data_xfer_size == 65536u);
  // Absent: the spec's defaults.
  auto defaults = vu::parse_capabilities("");
  BOOST_TEST(defaults->max_data_xfer_size == 1048576u);
  BOOST_TEST(defaults->max_msg_fds == 1u);
  BOOST_TEST(vu::parse_capabilities("{}")->max_data_xfer_size == 1048576u);
  // Malformed or hostile.
  for (std::string_view bad :
       {R"({"capabilities":{"max_data_xfer_size":-1}})", R"({"capabilities":{"max_data_xfer_size":4294967296}})",
        R"({"capabilities":{"max_data_xfer_size":1.5}})", R"({"capabilities":{"max_data_xfer_size":"4096"}})",
        R"({"capabilities":[]})", R"({"capabilities":{}} x)", R"({"capabilities":{})", R"([1,2])", R"({"a":tru})",
        R"({"a":"\q"})", R"({"a":01})", "{\"a\":\"\x01\"}",
        R"({"a":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]})"}) {
    BOOST_TEST_INFO(bad);
    BOOST_TEST((vu::parse_capabilities(bad).error() == errc::malformed_message));
  }
}

// "VFIO_USER_DEVICE_GET_INFO": argsz, flags, num_regions, num_irqs.
BOOST_AUTO_TEST_CASE(device_get_info) {
  const bytes request = command_bytes(3, vu::command::device_get_info, vu::device_info{});
  BOOST_TEST(octets(request) == octets(make_bytes({0x03, 0x00, 0x04, 0x00, 0x20, 0x00, 0x00, 0x00, 0, 0, 0, 0,
                                                   0, 0, 0, 0, 0x10, 0x00, 0x00, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                                   0, 0, 0})),
             boost::test_tools::per_element());
  auto reply = vu::decode_device_info(make_bytes({0x10, 0, 0, 0, 0x03, 0, 0, 0, 0x09, 0, 0, 0, 0x05, 0, 0, 0}));
  BOOST_REQUIRE(reply.has_value());
  BOOST_TEST(reply->flags == (vu::device_flag_reset | vu::device_flag_pci));
  BOOST_TEST(reply->num_regions == 9u);
  BOOST_TEST(reply->num_irqs == 5u);
  BOOST_TEST((vu::decode_device_info(pattern(15)).error() == errc::truncated_message));
  BOOST_TEST((vu::decode_device_info(pattern(17)).error() == errc::malformed_message));
  // A request may be longer (the kernel's struct vfio_device_info is 24 bytes): taken with allow_tail.
  BOOST_TEST(vu::decode_device_info(pattern(24), true).has_value());
  BOOST_TEST((vu::decode_device_info(pattern(15), true).error() == errc::truncated_message));
}

// "VFIO_USER_DEVICE_GET_REGION_INFO": struct vfio_region_info, 32 bytes.
BOOST_AUTO_TEST_CASE(device_get_region_info) {
  vu::region_info request{};
  request.index = 7;
  const bytes m = command_bytes(4, vu::command::device_get_region_info, request);
  BOOST_TEST(octets(m) == octets(make_bytes({0x04, 0x00, 0x05, 0x00, 0x30, 0x00, 0x00, 0x00, 0, 0, 0, 0, 0, 0, 0,
                                             0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0x07, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                             0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})),
             boost::test_tools::per_element());
  const bytes reply = make_bytes({0x20, 0, 0, 0, 0x03, 0, 0, 0, 0x07, 0, 0, 0, 0, 0, 0, 0,
                                  0x00, 0x10, 0, 0, 0, 0, 0, 0, 0x00, 0x00, 0x00, 0x70, 0, 0, 0, 0});
  auto r = vu::decode_region_info(reply);
  BOOST_REQUIRE(r.has_value());
  BOOST_TEST(r->flags == (vu::region_flag_read | vu::region_flag_write));
  BOOST_TEST(r->index == 7u);
  BOOST_TEST(r->size == 4096u);
  BOOST_TEST(r->offset == 0x70000000u);
  bytes with_caps = reply;
  with_caps.resize(40);
  BOOST_TEST((vu::decode_region_info(with_caps).error() == errc::malformed_message));
  BOOST_TEST(vu::decode_region_info(with_caps, true).has_value());
  BOOST_TEST((vu::decode_region_info(pattern(31), true).error() == errc::truncated_message));
}

// "VFIO_USER_DEVICE_GET_IRQ_INFO": argsz, flags, index, count.
BOOST_AUTO_TEST_CASE(device_get_irq_info) {
  const bytes m = command_bytes(5, vu::command::device_get_irq_info, vu::irq_info{16, 0, 0, 0});
  BOOST_TEST(octets(m) == octets(make_bytes({0x05, 0x00, 0x07, 0x00, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
                                             0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})),
             boost::test_tools::per_element());
  auto r = vu::decode_irq_info(make_bytes({0x10, 0, 0, 0, 0x07, 0, 0, 0, 0, 0, 0, 0, 0x01, 0, 0, 0}));
  BOOST_REQUIRE(r.has_value());
  BOOST_TEST(r->flags == (vu::irq_info_eventfd | vu::irq_info_maskable | vu::irq_info_automasked));
  BOOST_TEST(r->count == 1u);
  BOOST_TEST((vu::decode_irq_info(pattern(20)).error() == errc::malformed_message));
}

// "VFIO_USER_DEVICE_SET_IRQS": argsz, flags, index, start, count, data.
BOOST_AUTO_TEST_CASE(device_set_irqs) {
  const bytes m = command_bytes(
      6, vu::command::device_set_irqs,
      vu::irq_set{20, vu::irq_set_data_eventfd | vu::irq_set_action_trigger, 0, 0, 1, {}});
  BOOST_TEST(octets(m) == octets(make_bytes({0x06, 0x00, 0x08, 0x00, 0x24, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x14, 0,
                                             0, 0, 0x24, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0, 0, 0})),
             boost::test_tools::per_element());
  auto s = vu::decode_irq_set(payload_of(m));
  BOOST_REQUIRE(s.has_value());
  BOOST_TEST(s->count == 1u);
  // DATA_BOOL carries count bytes.
  const bytes with_bool = make_bytes({0x15, 0, 0, 0, 0x22, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1});
  auto b = vu::decode_irq_set(with_bool);
  BOOST_REQUIRE(b.has_value());
  BOOST_TEST(b->data.size() == 1u);
  // argsz above the payload: QEMU passes on the kernel's, which counts the eventfds (24 for one).
  BOOST_TEST(vu::decode_irq_set(make_bytes({0x18, 0, 0, 0, 0x24, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0})).has_value());
  // Two data flags, no action, argsz below the fixed part, bool data missing, extra data on NONE.
  for (const bytes& bad : {make_bytes({0x14, 0, 0, 0, 0x23, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0}),
                           make_bytes({0x14, 0, 0, 0, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0}),
                           make_bytes({0x13, 0, 0, 0, 0x21, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0}),
                           make_bytes({0x14, 0, 0, 0, 0x22, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0}),
                           make_bytes({0x15, 0, 0, 0, 0x21, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1}),
                           make_bytes({0x14, 0, 0, 0, 0x21, 0, 0, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0})}) {
    BOOST_TEST((vu::decode_irq_set(bad).error() == errc::malformed_message));
  }
  BOOST_TEST((vu::decode_irq_set(pattern(19)).error() == errc::truncated_message));
}

// "VFIO_USER_REGION_READ" / "VFIO_USER_REGION_WRITE": offset u64, region u32, count u32, data.
BOOST_AUTO_TEST_CASE(region_read_and_write) {
  const bytes read = command_bytes(7, vu::command::region_read, vu::region_access{0x148, 7, 4});
  BOOST_TEST(octets(read) == octets(make_bytes({0x07, 0x00, 0x09, 0x00, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x48,
                                                0x01, 0, 0, 0, 0, 0, 0, 0x07, 0, 0, 0, 0x04, 0, 0, 0})),
             boost::test_tools::per_element());
  const bytes data = make_bytes({0xDE, 0xAD, 0xBE, 0xEF});
  const bytes write = command_bytes(8, vu::command::region_write, vu::region_access{0x15C, 7, 4, data});
  BOOST_TEST(octets(write) == octets(make_bytes({0x08, 0x00, 0x0A, 0x00, 0x24, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x5C,
                                                 0x01, 0, 0, 0, 0, 0, 0, 0x07, 0, 0, 0, 0x04, 0, 0, 0, 0xDE, 0xAD,
                                                 0xBE, 0xEF})),
              boost::test_tools::per_element());
  auto w = vu::decode_region_access(payload_of(write), true);
  BOOST_REQUIRE(w.has_value());
  BOOST_TEST(octets(w->data) == octets(data), boost::test_tools::per_element());
  auto r = vu::decode_region_access(payload_of(read), false);
  BOOST_REQUIRE(r.has_value());
  BOOST_TEST(r->offset == 0x148u);
  // count disagreeing with the data.
  bytes short_data(payload_of(write).begin(), payload_of(write).end() - 1);
  BOOST_TEST((vu::decode_region_access(short_data, true).error() == errc::truncated_message));
  BOOST_TEST((vu::decode_region_access(payload_of(write), false).error() == errc::malformed_message));
  BOOST_TEST((vu::decode_region_access(pattern(15), false).error() == errc::truncated_message));
}

// "VFIO_USER_DMA_MAP" (32 bytes) and "VFIO_USER_DMA_UNMAP" (24 bytes).
BOOST_AUTO_TEST_CASE(dma_map_and_unmap) {
  const bytes map = command_bytes(9, vu::command::dma_map, vu::dma_map{32, 3, 0x1000, 0x80000000, 0x200000});
  BOOST_TEST(octets(map) == octets(make_bytes({0x09, 0x00, 0x02, 0x00, 0x30, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x20,
                                               0, 0, 0, 0x03, 0, 0, 0, 0x00, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x80,
                                               0, 0, 0, 0, 0, 0, 0x20, 0, 0, 0, 0, 0})),
             boost::test_tools::per_element());
  BOOST_TEST(vu::decode_dma_map(payload_of(map))->address == 0x80000000u);
  const bytes unmap = command_bytes(10, vu::command::dma_unmap, vu::dma_unmap{24, 0, 0x80000000, 0x200000});
  BOOST_TEST(octets(unmap) == octets(make_bytes({0x0A, 0x00, 0x03, 0x00, 0x28, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x18,
                                                 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x80, 0, 0, 0, 0, 0, 0, 0x20, 0, 0, 0,
                                                 0, 0})),
              boost::test_tools::per_element());
  BOOST_TEST(vu::decode_dma_unmap(payload_of(unmap))->size == 0x200000u);
  BOOST_TEST((vu::decode_dma_map(pattern(33)).error() == errc::malformed_message));
  BOOST_TEST((vu::decode_dma_unmap(pattern(23)).error() == errc::truncated_message));
}

// "VFIO_USER_DEVICE_RESET": no payload; replies: header only; an error reply carries only the header.
BOOST_AUTO_TEST_CASE(reset_and_replies) {
  bytes out(16);
  BOOST_REQUIRE(vu::encode_command(11, vu::command::device_reset, out).has_value());
  BOOST_TEST(octets(out) == octets(make_bytes({0x0B, 0x00, 0x0D, 0x00, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})),
             boost::test_tools::per_element());
  const vu::header request = *vu::decode_header(out);
  BOOST_REQUIRE(vu::encode(vu::reply_header(request, 0), out).has_value());
  BOOST_TEST(octets(out) == octets(make_bytes({0x0B, 0x00, 0x0D, 0x00, 0x10, 0, 0, 0, 0x01, 0, 0, 0, 0, 0, 0, 0})),
             boost::test_tools::per_element());
  BOOST_REQUIRE(vu::encode(vu::error_reply_header(request, 95), out).has_value());
  BOOST_TEST(octets(out) == octets(make_bytes({0x0B, 0x00, 0x0D, 0x00, 0x10, 0, 0, 0, 0x21, 0, 0, 0, 0x5F, 0, 0, 0})),
             boost::test_tools::per_element());
  // Encoders write nothing into a buffer that is too small.
  check_refused(vu::region_access{0, 7, 4, make_bytes({1, 2, 3, 4})}, 19, errc::buffer_too_small);
  check_refused(vu::region_info{}, 31, errc::buffer_too_small);
}

// ---- From a mutation audit of the vfio-user pieces: each case failed on a mutant no test saw ----

// a capability is any integer that fits 32 bits, the largest included; one more is malformed.
BOOST_AUTO_TEST_CASE(a_capability_of_exactly_2_to_the_32_minus_1_is_taken_and_one_more_is_malformed) {
  auto largest = vu::parse_capabilities(R"({"capabilities":{"max_data_xfer_size":4294967295,"max_msg_fds":4294967295}})");
  BOOST_REQUIRE(largest.has_value());
  BOOST_TEST(largest->max_data_xfer_size == std::numeric_limits<std::uint32_t>::max());
  BOOST_TEST(largest->max_msg_fds == std::numeric_limits<std::uint32_t>::max());
  auto above = vu::parse_capabilities(R"({"capabilities":{"max_data_xfer_size":4294967296}})");
  BOOST_REQUIRE(!above.has_value());
  BOOST_TEST((above.error() == errc::malformed_message));
}

// an irq_set must name exactly one data kind (NONE, BOOL or EVENTFD): flags with an action and no
// data kind are malformed, as are two data kinds.
BOOST_AUTO_TEST_CASE(an_irq_set_without_a_data_kind_is_malformed) {
  for (const std::uint32_t flags : {vu::irq_set_action_trigger, vu::irq_set_action_unmask, vu::irq_set_action_mask,
                                    vu::irq_set_data_none | vu::irq_set_data_eventfd | vu::irq_set_action_trigger}) {
    std::array<std::byte, vu::irq_set_size> payload{};
    BOOST_REQUIRE(vu::encode(vu::irq_set{20, flags, 0, 0, 0, {}}, payload).has_value());
    auto decoded = vu::decode_irq_set(payload);
    BOOST_TEST_INFO("flags " << flags);
    BOOST_REQUIRE(!decoded.has_value());
    BOOST_TEST((decoded.error() == errc::malformed_message));
  }
  // The same with a data kind is taken.
  std::array<std::byte, vu::irq_set_size> payload{};
  BOOST_REQUIRE(vu::encode(vu::irq_set{20, vu::irq_set_data_none | vu::irq_set_action_trigger, 0, 0, 0, {}}, payload)
                    .has_value());
  BOOST_TEST(vu::decode_irq_set(payload).has_value());
}

BOOST_AUTO_TEST_SUITE_END()  // vfio_user_wire_test
