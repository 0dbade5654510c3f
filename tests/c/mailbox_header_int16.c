/* Compiled as C11 for a target whose int is 16 bits (avr-gcc, by the ctest c_header_on_a_16_bit_int_target),
 * with tests/c/mailbox_header_check.c's values: the header's register values are 32-bit wherever they
 * land, so the idioms firmware writes with them keep bits 31:16 (a plain 0x2u is a 16-bit unsigned int
 * there, and ~0x2u clears the upper half of any register it masks). */
#include "mailbox_header_check.c"

_Static_assert(sizeof(int) == 2, "this check needs a target whose int is 16 bits");

/* Clearing one control bit keeps the others. */
_Static_assert((UINT32_C(0xFFFFFFFF) & ~VPCI_CONTROL_SIGNAL) == UINT32_C(0xFFFFFFFD), "~VPCI_CONTROL_SIGNAL");
_Static_assert((UINT32_C(0xFFFFFFFF) & ~VPCI_CONTROL_RESET) == UINT32_C(0xFFFFFFFE), "~VPCI_CONTROL_RESET");
_Static_assert((UINT32_C(0xFFFFFFFF) & ~VPCI_STATUS_FAILED) == UINT32_C(0xFEFFFFFF), "~VPCI_STATUS_FAILED");
_Static_assert((UINT32_C(0xFFFFFFFF) & ~VPCI_STATUS_INVALIDATED) == UINT32_C(0xFDFFFFFF), "~VPCI_STATUS_INVALIDATED");
_Static_assert((UINT32_C(0xFFFFFFFF) & ~VPCI_STATUS_ANSWER_FIELDS) == UINT32_C(0x0E000000), "~VPCI_STATUS_ANSWER_FIELDS");
/* An answer's result compared with the register as read. */
_Static_assert(VPCI_STATUS_UNSUCCESSFUL == UINT32_C(0xC0000001), "NTSTATUS values");
_Static_assert((UINT32_C(0xFFFFFFFF) & ~VPCI_STATUS_SUCCESS) == UINT32_C(0xFFFFFFFF), "~VPCI_STATUS_SUCCESS");
/* The capability bits as they sit in IDENTITY, bits 31:16. */
_Static_assert((VPCI_IDENTITY(VPCI_CAP_HEARTBEAT) >> 16) == VPCI_CAP_HEARTBEAT, "capabilities");
