// include/vpci/c/vpci_mailbox.h (for firmware in C) and include/vpci/wire/mailbox.hpp describe the same
// layout: every value and every field macro agrees with the C++ mirror. The header also compiles as C11
// (tests/c/mailbox_header_check.c, built with -std=c11 -pedantic -Werror), and as C89 and C99. From C++ its
// macros convert without C casts: this file, where they expand, makes those casts' warnings errors.
#include <boost/test/unit_test.hpp>

#include <cstdint>

// The diagnostics are this file's own (pushed here, popped at its end): built together with other test files
// (a unity build), they would reach every file after it.
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic error "-Wold-style-cast"
#if !defined(__clang__)
#pragma GCC diagnostic error "-Wuseless-cast"
#endif
#endif

#include <vpci/c/vpci_mailbox.h>
#include <vpci/protocol/ntstatus.hpp>
#include <vpci/wire/mailbox.hpp>

BOOST_AUTO_TEST_SUITE(c_header_test)

namespace mb = vpci::mailbox;

static_assert(VPCI_DVSEC_ID_DEFAULT == mb::default_dvsec_id);
static_assert(VPCI_DVSEC_REVISION == mb::dvsec_revision);
static_assert(VPCI_LAYOUT_VERSION == mb::layout_version);
static_assert(VPCI_REG_EXT_HEADER == mb::reg::ext_header);
static_assert(VPCI_REG_DVSEC_HEADER1 == mb::reg::dvsec_header1);
static_assert(VPCI_REG_DVSEC_HEADER2 == mb::reg::dvsec_header2);
static_assert(VPCI_REG_IDENTITY == mb::reg::identity);
static_assert(VPCI_REG_LIMITS == mb::reg::limits);
static_assert(VPCI_REG_CONTROL == mb::reg::control);
static_assert(VPCI_REG_REQUEST_BLOCK == mb::reg::request_block);
static_assert(VPCI_REG_REQUEST == mb::reg::request);
static_assert(VPCI_REG_STATUS == mb::reg::status);
static_assert(VPCI_REG_RESULT == mb::reg::result);
static_assert(VPCI_REG_INVALIDATE_MASK_LOW == mb::reg::invalidate_mask_low);
static_assert(VPCI_REG_INVALIDATE_MASK_HIGH == mb::reg::invalidate_mask_high);
static_assert(VPCI_REG_INVALIDATE_ACK_LOW == mb::reg::invalidate_ack_low);
static_assert(VPCI_REG_INVALIDATE_ACK_HIGH == mb::reg::invalidate_ack_high);
static_assert(VPCI_REG_DATA == mb::reg::data);
static_assert(VPCI_DATA_WINDOW_SIZE == mb::data_window_size);
static_assert(VPCI_WINDOW_SIZE == mb::window_size);
static_assert(VPCI_CAP_INVALIDATION == mb::capability::invalidation);
static_assert(VPCI_CAP_SIGNAL == mb::capability::signal);
static_assert(VPCI_CAP_HEARTBEAT == mb::capability::heartbeat);
static_assert(VPCI_CONTROL_RESET == mb::control_reset);
static_assert(VPCI_CONTROL_SIGNAL == mb::control_signal);
static_assert(VPCI_OP_READ == static_cast<unsigned>(mb::operation::read));
static_assert(VPCI_OP_WRITE == static_cast<unsigned>(mb::operation::write));
static_assert(VPCI_STATUS_ANSWER_FIELDS == mb::status_answer_fields);
static_assert(VPCI_STATUS_SUCCESS == static_cast<std::uint32_t>(vpci::ntstatus::success));
static_assert(VPCI_STATUS_UNSUCCESSFUL == static_cast<std::uint32_t>(vpci::ntstatus::unsuccessful));
static_assert(VPCI_STATUS_INVALID_PARAMETER == static_cast<std::uint32_t>(vpci::ntstatus::invalid_parameter));
static_assert(VPCI_STATUS_INVALID_DEVICE_REQUEST == static_cast<std::uint32_t>(vpci::ntstatus::invalid_device_request));
static_assert(VPCI_STATUS_ACCESS_DENIED == static_cast<std::uint32_t>(vpci::ntstatus::access_denied));
static_assert(VPCI_STATUS_BUFFER_TOO_SMALL == static_cast<std::uint32_t>(vpci::ntstatus::buffer_too_small));
static_assert(VPCI_STATUS_DEVICE_NOT_READY == static_cast<std::uint32_t>(vpci::ntstatus::device_not_ready));

// The field macros agree with the C++ codecs over a sweep of values, both ways.
BOOST_AUTO_TEST_CASE(field_macros_agree_with_the_cpp_codecs) {
  for (std::uint32_t sequence : {0u, 1u, 0x7FFFu, 0xFFFFu})
    for (std::uint32_t length : {1u, 4u, 127u, 128u})
      for (unsigned op : {VPCI_OP_READ, VPCI_OP_WRITE}) {
        const std::uint32_t c = VPCI_REQUEST(sequence, length, op);
        BOOST_TEST(c == mb::encode_request(static_cast<std::uint16_t>(sequence), length, static_cast<mb::operation>(op)));
        const auto decoded = mb::decode_request(c);
        BOOST_TEST(decoded.sequence == VPCI_REQUEST_SEQUENCE(c));
        BOOST_TEST(decoded.length == VPCI_REQUEST_LENGTH(c));
        BOOST_TEST(decoded.operation == VPCI_REQUEST_OPERATION(c));
        BOOST_TEST(VPCI_REQUEST_RESERVED(c) == 0u);
      }
  for (std::uint32_t ack : {0u, 0x1234u, 0xFFFFu})
    for (std::uint32_t count : {0u, 16u, 128u})
      for (int failed : {0, 1})
        for (int invalidated : {0, 1})
          for (std::uint32_t beat : {0u, 3u})
            for (std::uint32_t epoch : {1u, 15u}) {
              const std::uint32_t c = VPCI_STATUS(ack, count, failed, invalidated, beat, epoch);
              const mb::status_word s{static_cast<std::uint16_t>(ack), static_cast<std::uint8_t>(count), failed != 0,
                                      invalidated != 0, static_cast<std::uint8_t>(beat), static_cast<std::uint8_t>(epoch)};
              BOOST_TEST(c == mb::encode_status(s));
              BOOST_TEST(VPCI_STATUS_ACK(c) == s.ack);
              BOOST_TEST(VPCI_STATUS_COUNT(c) == s.count);
              BOOST_TEST(((c & VPCI_STATUS_FAILED) != 0) == s.failed);
              BOOST_TEST(((c & VPCI_STATUS_INVALIDATED) != 0) == s.invalidated);
              BOOST_TEST(VPCI_STATUS_HEARTBEAT(c) == s.heartbeat);
              BOOST_TEST(VPCI_STATUS_EPOCH(c) == s.epoch);
            }
  BOOST_TEST(VPCI_IDENTITY(0x0007u) == mb::encode_identity(0x0007));
  BOOST_TEST(VPCI_LIMITS(250u) == mb::encode_limits(250));
}

BOOST_AUTO_TEST_SUITE_END()  // c_header_test

#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif
