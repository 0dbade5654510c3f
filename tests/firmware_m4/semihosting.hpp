// Arm semihosting (Semihosting for AArch32 and AArch64, v2.0) from a Thumb M-profile image: BKPT 0xAB with
// the operation in r0 and its argument in r1. QEMU (-semihosting-config enable=on) implements it; on a
// board without a debugger attached the BKPT would fault, so this is for the emulated target only.
#pragma once

#include <cstdint>

namespace vpci_firmware::semihosting {

inline constexpr std::uint32_t sys_write0 = 0x04;         // writes a NUL-terminated string to the console
inline constexpr std::uint32_t sys_exit_extended = 0x20;  // ends the program with {reason, status}
inline constexpr std::uint32_t application_exit = 0x20026;  // ADP_Stopped_ApplicationExit

inline std::uint32_t call(std::uint32_t operation, const void* argument) noexcept {
  register std::uint32_t r0 asm("r0") = operation;
  register const void* r1 asm("r1") = argument;
  asm volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
  return r0;
}

inline void write0(const char* text) noexcept { (void)call(sys_write0, text); }

// SYS_EXIT_EXTENDED: the 32-bit SYS_EXIT cannot carry a status (QEMU exits 0 for ApplicationExit, 1 for
// anything else); the extended call passes it, so qemu-system-arm exits with the image's status.
[[noreturn]] inline void exit(std::uint32_t status) noexcept {
  const std::uint32_t block[2] = {application_exit, status};
  (void)call(sys_exit_extended, block);
  for (;;) asm volatile("wfi");  // not reached under QEMU; a host without semihosting stops here
}

}  // namespace vpci_firmware::semihosting
