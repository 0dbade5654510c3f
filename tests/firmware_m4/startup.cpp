// Startup for the Cortex-M4 image on QEMU's mps2-an386 (hw/arm/mps2.c: ZBT SSRAM1, 4 MiB at 0x00000000,
// holds the image and the vector table; ZBT SSRAM2&3, 4 MiB at 0x20000000, holds .data, .bss and the
// stack; see mps2_an386.ld). The vector table gives the initial stack pointer and the reset handler; the
// reset handler copies .data from its load address, zeroes .bss, runs the constructors of globals (none
// today; kept so a global with a constructor is not silently left unconstructed), calls main() and ends
// the program with main's status through semihosting. Every fault ends it with status 3 and a message,
// so a crash fails the ctest at once instead of hanging until its timeout.
#include <cstdint>

#include "semihosting.hpp"

extern "C" {
// From mps2_an386.ld.
extern std::uint32_t __data_load[];
extern std::uint32_t __data_start[];
extern std::uint32_t __data_end[];
extern std::uint32_t __bss_start[];
extern std::uint32_t __bss_end[];
extern std::uint32_t __stack_top[];
extern void (*__init_array_start[])();
extern void (*__init_array_end[])();

int main();
[[noreturn]] void vpci_reset_handler() noexcept;
[[noreturn]] void vpci_fault_handler() noexcept;
}

namespace {
using handler = void (*)() noexcept;

// The ARMv7-M vector table: initial SP, then the 15 system exceptions (external interrupts stay disabled,
// so none are listed).
struct vector_table {
  std::uint32_t* initial_sp;
  handler reset;
  handler nmi;
  handler hard_fault;
  handler mem_manage;
  handler bus_fault;
  handler usage_fault;
  handler reserved1[4];
  handler svcall;
  handler debug_monitor;
  handler reserved2;
  handler pendsv;
  handler systick;
};

[[gnu::section(".vectors"), gnu::used]] const vector_table vectors = {
    __stack_top,        vpci_reset_handler, vpci_fault_handler, vpci_fault_handler,
    vpci_fault_handler, vpci_fault_handler, vpci_fault_handler, {nullptr, nullptr, nullptr, nullptr},
    vpci_fault_handler, vpci_fault_handler, nullptr,            vpci_fault_handler,
    vpci_fault_handler,
};
}  // namespace

extern "C" [[noreturn]] void vpci_reset_handler() noexcept {
  // Volatile, so the compiler does not turn these loops into library calls made before .data exists.
  for (volatile std::uint32_t *from = __data_load, *to = __data_start; to < __data_end;) *to++ = *from++;
  for (volatile std::uint32_t* to = __bss_start; to < __bss_end;) *to++ = 0;
  for (void (**init)() = __init_array_start; init < __init_array_end; ++init) (*init)();
  vpci_firmware::semihosting::exit(static_cast<std::uint32_t>(main()));
}

extern "C" [[noreturn]] void vpci_fault_handler() noexcept {
  vpci_firmware::semihosting::write0("FAULT: the image took an exception (vpci firmware_m4)\n");
  vpci_firmware::semihosting::exit(3);
}
