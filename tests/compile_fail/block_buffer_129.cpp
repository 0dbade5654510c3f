#include <vpci/core.hpp>
vpci::block_buffer<129> too_large;  // must not compile: above VPCI_MAX_READ_WRITE_BLOCK_SIZE
