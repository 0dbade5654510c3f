# The hosted layer on a 32-bit host: built with the armhf cross compiler and a 64-bit time_t, run under
# qemu-user (run_hosted_32bit_test.sh says what and why). The script builds with its own compiler whatever
# the configuration's, so it is registered in the unsanitized configurations only. Skipped (77) when the
# cross compiler or qemu-arm is missing.
if(NOT VPCI_SANITIZE)
  find_program(VPCI_ARMHF_GXX arm-linux-gnueabihf-g++)
  find_program(VPCI_QEMU_ARM qemu-arm)
  add_test(NAME hosted_32bit_armhf_qemu
    COMMAND ${CMAKE_CURRENT_LIST_DIR}/run_hosted_32bit_test.sh "${VPCI_ARMHF_GXX}" "${VPCI_QEMU_ARM}"
            "$<TARGET_PROPERTY:Boost::headers,INTERFACE_INCLUDE_DIRECTORIES>" ${PROJECT_SOURCE_DIR}
            ${CMAKE_CURRENT_BINARY_DIR}/hosted_32bit)
  set_tests_properties(hosted_32bit_armhf_qemu PROPERTIES LABELS build SKIP_RETURN_CODE 77 TIMEOUT 900)
endif()
