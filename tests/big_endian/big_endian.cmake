# The byte-exact suites on a big-endian host: built with the s390x cross compiler, run under qemu-user
# (run_big_endian_test.sh says which and why). The script builds with its own compiler whatever the
# configuration's, so it is registered in the unsanitized configurations only: a sanitizer build would run
# the same check again. Skipped (77) when the cross compiler or qemu-s390x is missing.
if(NOT VPCI_SANITIZE)
  find_program(VPCI_S390X_GXX s390x-linux-gnu-g++)
  find_program(VPCI_QEMU_S390X qemu-s390x)
  add_test(NAME big_endian_s390x_qemu
    COMMAND ${CMAKE_CURRENT_LIST_DIR}/run_big_endian_test.sh "${VPCI_S390X_GXX}" "${VPCI_QEMU_S390X}"
            "$<TARGET_PROPERTY:Boost::headers,INTERFACE_INCLUDE_DIRECTORIES>" ${PROJECT_SOURCE_DIR}
            ${CMAKE_CURRENT_BINARY_DIR}/big_endian)
  set_tests_properties(big_endian_s390x_qemu PROPERTIES LABELS build SKIP_RETURN_CODE 77 TIMEOUT 600)
endif()
