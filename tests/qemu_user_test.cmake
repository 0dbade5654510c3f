# vpci_qemu_user_test(NAME SCRIPT CROSS_CXX QEMU TIMEOUT): a ctest that builds suites with a cross compiler
# and runs them under qemu-user (tests/big_endian, tests/hosted_32bit). SCRIPT is called with the cross
# compiler, qemu, the Boost include directories, the source directory and an output directory. The script
# builds with its own compiler whatever the configuration's, so it is registered in the unsanitized
# configurations only (a sanitizer build would run the same check again). Skipped (77) when the cross
# compiler or qemu is missing.
function(vpci_qemu_user_test name script cross_cxx qemu timeout)
  if(VPCI_SANITIZE)
    return()
  endif()
  string(MAKE_C_IDENTIFIER "VPCI_${cross_cxx}" cxx_var)
  string(MAKE_C_IDENTIFIER "VPCI_${qemu}" qemu_var)
  find_program(${cxx_var} ${cross_cxx})
  find_program(${qemu_var} ${qemu})
  get_filename_component(dir ${script} DIRECTORY)
  get_filename_component(out ${dir} NAME)
  add_test(NAME ${name}
    COMMAND ${script} "${${cxx_var}}" "${${qemu_var}}"
            "$<TARGET_PROPERTY:Boost::headers,INTERFACE_INCLUDE_DIRECTORIES>" ${PROJECT_SOURCE_DIR}
            ${CMAKE_CURRENT_BINARY_DIR}/${out})
  set_tests_properties(${name} PROPERTIES LABELS build SKIP_RETURN_CODE 77 TIMEOUT ${timeout})
endfunction()
