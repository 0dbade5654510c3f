# Flags for the project's own targets (tests, examples, benchmarks). Consumers of vpci::vpci get none.
find_package(Threads REQUIRED)

function(vpci_project_target target)
  target_link_libraries(${target} PRIVATE vpci::vpci Threads::Threads)
  target_compile_options(${target} PRIVATE
    -Wall -Wextra -Wpedantic -Wconversion -Wsign-conversion -Werror)
  if(VPCI_SANITIZE)
    target_compile_options(${target} PRIVATE -fsanitize=${VPCI_SANITIZE} -fno-omit-frame-pointer -fno-sanitize-recover=all)
    if(CMAKE_CXX_COMPILER_ID STREQUAL "Clang" AND VPCI_SANITIZE MATCHES "undefined")
      # clang 14's -fsanitize=function cannot compile C++20 coroutines ("Cannot represent a difference
      # across sections", llvm/llvm-project#49689); the rest of UBSan stays on.
      target_compile_options(${target} PRIVATE -fno-sanitize=function)
    endif()
    if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND VPCI_SANITIZE MATCHES "thread")
      # g++ warns that TSan does not model std::atomic_thread_fence, which Asio uses internally.
      target_compile_options(${target} PRIVATE -Wno-tsan)
    endif()
    target_link_options(${target} PRIVATE -fsanitize=${VPCI_SANITIZE})
  endif()
endfunction()

# Boost: found where vpci::vpci is defined (CMakeLists.txt); the targets built with these flags need
# VPCI_HOSTED, which CMakeLists.txt checks.
