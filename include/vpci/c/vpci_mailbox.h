/* vpci_mailbox.h: the config-space mailbox (binding 1), layout 2, for firmware written in C (C11 or later,
 * or C++). Every offset, field and value of docs/protocol.md; include/vpci/wire/mailbox.hpp is the C++
 * mirror, and a test checks that both agree. Offsets are from the start of the DVSEC that holds the window.
 * All registers are little-endian dwords, accessed as single dwords; a value that goes into a register is
 * a uint32_t constant (UINT32_C) on any target, a 16-bit int's included. No dependencies beyond <stdint.h>. */
#ifndef VPCI_MAILBOX_H
#define VPCI_MAILBOX_H

#include <stdint.h>

/* VPCI_CAST(type, value): the macros' conversions. A C cast in C; in C++ a static_cast inside a function
 * template, so that a C++ file including this header stays clean under -Wold-style-cast, and under
 * -Wuseless-cast where the value already has the type. */
#ifdef __cplusplus
extern "C++" {
namespace vpci_mailbox_detail {
template <class To, class From>
#if __cplusplus >= 201103L
constexpr
#endif
    inline To
    cast(From value) {
  return static_cast<To>(value);
}
} /* namespace vpci_mailbox_detail */
}
#define VPCI_CAST(type, value) (vpci_mailbox_detail::cast<type>(value))
#else
#define VPCI_CAST(type, value) ((type)(value))
#endif

/* Discovery: a DVSEC (extended capability 0x0023), revision 2, length 0xB8. */
#define VPCI_EXT_CAP_ID_DVSEC 0x0023u
#define VPCI_DVSEC_ID_DEFAULT 0x5650u /* "VP"; the DVSEC vendor ID defaults to the function's own */
#define VPCI_DVSEC_REVISION 2u
#define VPCI_LAYOUT_VERSION 2u

/* Register offsets. */
#define VPCI_REG_EXT_HEADER 0x00u    /* ID 0x0023, version 1, next pointer */
#define VPCI_REG_DVSEC_HEADER1 0x04u /* vendor ID 15:0, revision 19:16, length 31:20 */
#define VPCI_REG_DVSEC_HEADER2 0x08u /* DVSEC ID 15:0; 31:16 zero */
#define VPCI_REG_IDENTITY 0x0Cu      /* PF, RO: layout version 15:0, capabilities 31:16 */
#define VPCI_REG_LIMITS 0x10u        /* PF, RO: max block 7:0, window dwords 15:8, heartbeat ms 31:16 */
#define VPCI_REG_CONTROL 0x14u       /* VF: RESET bit 0 (PF clears), SIGNAL bit 1 */
#define VPCI_REG_REQUEST_BLOCK 0x18u /* VF: block ID */
#define VPCI_REG_REQUEST 0x1Cu       /* VF, last: sequence 15:0, length 23:16, operation 25:24 */
#define VPCI_REG_STATUS 0x20u        /* PF, last: ack 15:0, count 23:16, FAILED 24, INVALIDATED 25, heartbeat 27:26, epoch 31:28 */
#define VPCI_REG_RESULT 0x24u        /* PF: NTSTATUS of the acknowledged request */
#define VPCI_REG_INVALIDATE_MASK_LOW 0x28u
#define VPCI_REG_INVALIDATE_MASK_HIGH 0x2Cu
#define VPCI_REG_INVALIDATE_ACK_LOW 0x30u
#define VPCI_REG_INVALIDATE_ACK_HIGH 0x34u
#define VPCI_REG_DATA 0x38u
#define VPCI_DATA_WINDOW_SIZE 128u
#define VPCI_WINDOW_SIZE 0xB8u
#define VPCI_MAX_BLOCK_SIZE 128u

/* identity capabilities (bits 31:16 of VPCI_REG_IDENTITY, given here as 16-bit values) */
#define VPCI_CAP_INVALIDATION 0x0001u
#define VPCI_CAP_SIGNAL 0x0002u
#define VPCI_CAP_HEARTBEAT 0x0004u

/* control: bits of a 32-bit register (UINT32_C, so that ~VPCI_CONTROL_SIGNAL keeps bits 31:16 where int is
 * 16 bits) */
#define VPCI_CONTROL_RESET UINT32_C(0x1)
#define VPCI_CONTROL_SIGNAL UINT32_C(0x2)

/* request operations */
#define VPCI_OP_READ 1u
#define VPCI_OP_WRITE 2u

/* request dword */
#define VPCI_REQUEST_SEQUENCE(w) (VPCI_CAST(uint16_t, (w)&0xFFFFu))
#define VPCI_REQUEST_LENGTH(w) (VPCI_CAST(uint8_t, ((w) >> 16) & 0xFFu))
#define VPCI_REQUEST_OPERATION(w) (VPCI_CAST(uint8_t, ((w) >> 24) & 0x3u))
#define VPCI_REQUEST_RESERVED(w) (VPCI_CAST(uint32_t, (w) >> 26))
#define VPCI_REQUEST(seq, len, op)                                                                  \
  (VPCI_CAST(uint32_t, VPCI_CAST(uint16_t, seq)) | (VPCI_CAST(uint32_t, (len)&0xFFu) << 16) | \
   (VPCI_CAST(uint32_t, (op)&0x3u) << 24))

/* status dword */
#define VPCI_STATUS_ACK(w) (VPCI_CAST(uint16_t, (w)&0xFFFFu))
#define VPCI_STATUS_COUNT(w) (VPCI_CAST(uint8_t, ((w) >> 16) & 0xFFu))
#define VPCI_STATUS_FAILED UINT32_C(0x01000000)
#define VPCI_STATUS_INVALIDATED UINT32_C(0x02000000)
#define VPCI_STATUS_HEARTBEAT(w) (VPCI_CAST(uint8_t, ((w) >> 26) & 0x3u))
#define VPCI_STATUS_EPOCH(w) (VPCI_CAST(uint8_t, ((w) >> 28) & 0xFu))
#define VPCI_STATUS_ANSWER_FIELDS UINT32_C(0xF1FFFFFF) /* what a VF's tear check compares */
#define VPCI_STATUS(ack, count, failed, invalidated, heartbeat, epoch)                             \
  (VPCI_CAST(uint32_t, VPCI_CAST(uint16_t, ack)) | (VPCI_CAST(uint32_t, (count)&0xFFu) << 16) | \
   ((failed) ? VPCI_STATUS_FAILED : UINT32_C(0)) |                                             \
   ((invalidated) ? VPCI_STATUS_INVALIDATED : UINT32_C(0)) |                                   \
   (VPCI_CAST(uint32_t, (heartbeat)&0x3u) << 26) | (VPCI_CAST(uint32_t, (epoch)&0xFu) << 28))

/* identity and limits values a PF publishes */
#define VPCI_IDENTITY(capabilities) \
  (VPCI_CAST(uint32_t, VPCI_LAYOUT_VERSION) | (VPCI_CAST(uint32_t, VPCI_CAST(uint16_t, capabilities)) << 16))
#define VPCI_LIMITS(heartbeat_ms)                                                                  \
  (VPCI_CAST(uint32_t, VPCI_MAX_BLOCK_SIZE) | (VPCI_CAST(uint32_t, VPCI_DATA_WINDOW_SIZE / 4u) << 8) | \
   (VPCI_CAST(uint32_t, VPCI_CAST(uint16_t, heartbeat_ms)) << 16))

/* NTSTATUS values a PF answers with */
#define VPCI_STATUS_SUCCESS UINT32_C(0x00000000)
#define VPCI_STATUS_UNSUCCESSFUL UINT32_C(0xC0000001)
#define VPCI_STATUS_INVALID_PARAMETER UINT32_C(0xC000000D)
#define VPCI_STATUS_INVALID_DEVICE_REQUEST UINT32_C(0xC0000010)
#define VPCI_STATUS_ACCESS_DENIED UINT32_C(0xC0000022)
#define VPCI_STATUS_BUFFER_TOO_SMALL UINT32_C(0xC0000023)
#define VPCI_STATUS_DEVICE_NOT_READY UINT32_C(0xC00000A3)

#endif /* VPCI_MAILBOX_H */
