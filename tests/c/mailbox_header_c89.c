/* Compiled as C89 and C99 (-pedantic-errors -Werror) by the build: include/vpci/c/vpci_mailbox.h needs
 * nothing newer (mailbox_header_check.c, C11, also checks the values with _Static_assert). */
#include <vpci/c/vpci_mailbox.h>

#include <stdint.h>

uint32_t vpci_c89_compose(uint32_t request, uint32_t status);

/* Every field macro, composed at run time. */
uint32_t vpci_c89_compose(uint32_t request, uint32_t status) {
  return VPCI_REQUEST(VPCI_REQUEST_SEQUENCE(request), VPCI_REQUEST_LENGTH(request), VPCI_REQUEST_OPERATION(request)) ^
         VPCI_REQUEST_RESERVED(request) ^
         VPCI_STATUS(VPCI_STATUS_ACK(status), VPCI_STATUS_COUNT(status), 1, 0, VPCI_STATUS_HEARTBEAT(status),
                     VPCI_STATUS_EPOCH(status)) ^
         VPCI_IDENTITY(VPCI_CAP_INVALIDATION) ^ VPCI_LIMITS(100u);
}
