# The PF engine as bare-metal Cortex-M4 firmware under qemu-system-arm (mps2-an386), compared with the same
# replay on the host and with expected_output.txt (firmware_main.cpp says what it proves). The host side
# is built here; the image is built by run_firmware_test.sh when the test runs, with the cross compiler,
# so a build without the arm-none-eabi toolchain or qemu-system-arm still configures (the test is skipped).
add_executable(vpci_firmware_m4_host ${CMAKE_CURRENT_LIST_DIR}/host_main.cpp)
vpci_project_target(vpci_firmware_m4_host)

find_program(VPCI_ARM_GXX arm-none-eabi-g++)
find_program(VPCI_QEMU_SYSTEM_ARM qemu-system-arm)
add_test(NAME firmware_m4_pf_engine_qemu
  COMMAND ${CMAKE_CURRENT_LIST_DIR}/run_firmware_test.sh "${VPCI_ARM_GXX}" "${VPCI_QEMU_SYSTEM_ARM}"
          $<TARGET_FILE:vpci_firmware_m4_host> ${PROJECT_SOURCE_DIR}/include ${CMAKE_CURRENT_BINARY_DIR}/firmware_m4)
set_tests_properties(firmware_m4_pf_engine_qemu PROPERTIES LABELS build SKIP_RETURN_CODE 77 TIMEOUT 180)
