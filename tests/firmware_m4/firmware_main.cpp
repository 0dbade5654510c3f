// vpci's PF engine as Cortex-M4 firmware, run under QEMU (mps2-an386) with semihosting.
//
// What it proves: the freestanding core's PF side (vpci::engine::static_pf_blocks and the layout-2
// pf_mailbox_session) builds for a bare-metal Cortex-M4 (arm-none-eabi-g++, -ffreestanding, no exceptions,
// no RTTI, no heap, our own startup and linker script, nothing but newlib-nano's memcpy/memset from a
// runtime) and, run on that CPU, makes exactly the register writes it makes on the host: it replays a
// recorded VF register trace (trace.hpp: probe, reads, a write, refused requests, a replay, an
// invalidation with its acknowledgement, a hostile write into a PF-owned register, a sequence violation
// and quarantine, a mailbox reset, an FLR with a new epoch) and prints every access and every PF register
// write (offset, width, value) through semihosting. The ctest firmware_m4_pf_engine_qemu
// (run_firmware_test.sh) compares that output byte for byte with the same replay built for the host
// (host_main.cpp) and with the committed expected_output.txt, and requires both to exit 0 (every value the
// trace recorded was found in the window). The image exits with the replay's status (SYS_EXIT_EXTENDED),
// a fault with status 3.
#include "replay.hpp"
#include "semihosting.hpp"

namespace {
struct semihosting_sink {
  // One SYS_WRITE0 per line (the line is NUL-terminated): QEMU writes it to its stdout.
  void operator()(const char* line, std::size_t) const noexcept { vpci_firmware::semihosting::write0(line); }
};
}  // namespace

int main() {
  semihosting_sink sink;
  return vpci_firmware::replay(sink);
}
