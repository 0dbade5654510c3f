# Flags for the project's own targets (tests, examples, benchmarks). Consumers of vpci::vpci get none.
find_package(Threads REQUIRED)

function(vpci_project_target target)
  target_link_libraries(${target} PRIVATE vpci::vpci Threads::Threads)
  target_compile_options(${target} PRIVATE
    -Wall -Wextra -Wpedantic -Wconversion -Wsign-conversion -Werror)
  if(VPCI_SANITIZE)
    target_compile_options(${target} PRIVATE -fsanitize=${VPCI_SANITIZE} -fno-omit-frame-pointer -fno-sanitize-recover=all)
    target_link_options(${target} PRIVATE -fsanitize=${VPCI_SANITIZE})
  endif()
endfunction()

# Asio and Boost.System for the hosted layer.
find_package(Boost 1.81 REQUIRED)
