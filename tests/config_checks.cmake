# Hooks for the config-space tests: inspect_test runs the vpci-inspect binary built by examples/.
if(TARGET vpci-inspect AND TARGET vpci_inspect_test)
  add_dependencies(vpci_inspect_test vpci-inspect)
  set_tests_properties(inspect_test PROPERTIES ENVIRONMENT "VPCI_INSPECT=$<TARGET_FILE:vpci-inspect>")
endif()
