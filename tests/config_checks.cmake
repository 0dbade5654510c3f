# Hooks for the config-space tests: inspect_test runs the vpci-inspect binary built by examples/.
if(TARGET vpci-inspect AND TEST inspect_test)
  add_dependencies(vpci_tests vpci-inspect)
  set_tests_properties(inspect_test PROPERTIES ENVIRONMENT "VPCI_INSPECT=$<TARGET_FILE:vpci-inspect>")
endif()
# codec_tool_test runs the vpci-codec binary built by examples/.
if(TARGET vpci-codec AND TEST codec_tool_test)
  add_dependencies(vpci_tests vpci-codec)
  set_tests_properties(codec_tool_test PROPERTIES ENVIRONMENT "VPCI_CODEC=$<TARGET_FILE:vpci-codec>")
endif()
