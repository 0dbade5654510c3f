/* Compiled as C11 (-std=c11 -pedantic -Werror) by the build: include/vpci/c/vpci_mailbox.h is usable from
 * C firmware, and its values are the ones docs/protocol.md gives (the C++ mirror is checked against these
 * in tests/c_header_test.cpp). */
#include <vpci/c/vpci_mailbox.h>

#include <stdint.h>

_Static_assert(VPCI_EXT_CAP_ID_DVSEC == 0x0023u, "DVSEC capability ID");
_Static_assert(VPCI_DVSEC_ID_DEFAULT == 0x5650u, "default DVSEC ID");
_Static_assert(VPCI_WINDOW_SIZE == 0xB8u, "window size");
_Static_assert(VPCI_REG_DATA + VPCI_DATA_WINDOW_SIZE == VPCI_WINDOW_SIZE, "the data window ends the window");
_Static_assert(VPCI_REG_STATUS == 0x20u && VPCI_REG_REQUEST == 0x1Cu && VPCI_REG_REQUEST_BLOCK == 0x18u, "offsets");
_Static_assert(VPCI_REQUEST(0xFFFFu, 128u, VPCI_OP_WRITE) == 0x0280FFFFu, "request dword");
_Static_assert(VPCI_REQUEST_SEQUENCE(0x0280FFFFu) == 0xFFFFu, "request sequence");
_Static_assert(VPCI_REQUEST_LENGTH(0x0280FFFFu) == 128u, "request length");
_Static_assert(VPCI_REQUEST_OPERATION(0x0280FFFFu) == VPCI_OP_WRITE, "request operation");
_Static_assert(VPCI_STATUS(0x1234u, 16u, 1, 0, 2u, 5u) == 0x59101234u, "status dword");
_Static_assert(VPCI_STATUS_EPOCH(0x59101234u) == 5u && VPCI_STATUS_HEARTBEAT(0x59101234u) == 2u, "status fields");
_Static_assert(VPCI_IDENTITY(VPCI_CAP_INVALIDATION | VPCI_CAP_SIGNAL) == 0x00030002u, "identity");
_Static_assert(VPCI_LIMITS(100u) == 0x00642080u, "limits");

/* A PF's answer to a read, as firmware would write it: the macros compose at run time too. */
uint32_t vpci_c_answer(uint16_t sequence, uint8_t count, uint8_t epoch) {
  return VPCI_STATUS(sequence, count, 0, 0, 0u, epoch);
}
