# cmake -P script: builds and runs a consumer project against this source tree.
# MODE=install: configure vpci alone, install it to a prefix, then find_package it from the consumer.
# MODE=subdirectory: the consumer pulls the source tree in with add_subdirectory.
file(REMOVE_RECURSE ${WORK})
file(MAKE_DIRECTORY ${WORK})

function(run)
  execute_process(COMMAND ${ARGV} RESULT_VARIABLE status)
  if(NOT status EQUAL 0)
    message(FATAL_ERROR "command failed (${status}): ${ARGV}")
  endif()
endfunction()

if(MODE STREQUAL "install")
  run(${CMAKE_COMMAND} -S ${SOURCE} -B ${WORK}/vpci-build -G ${GENERATOR} -DCMAKE_CXX_COMPILER=${CXX}
      -DVPCI_BUILD_TESTS=OFF -DVPCI_BUILD_EXAMPLES=OFF -DVPCI_BUILD_BENCH=OFF)
  run(${CMAKE_COMMAND} --install ${WORK}/vpci-build --prefix ${WORK}/prefix)
  run(${CMAKE_COMMAND} -S ${CONSUMER} -B ${WORK}/app-build -G ${GENERATOR} -DCMAKE_CXX_COMPILER=${CXX}
      -DCMAKE_PREFIX_PATH=${WORK}/prefix)
else()
  run(${CMAKE_COMMAND} -S ${CONSUMER} -B ${WORK}/app-build -G ${GENERATOR} -DCMAKE_CXX_COMPILER=${CXX}
      -DVPCI_SOURCE=${SOURCE})
endif()
run(${CMAKE_COMMAND} --build ${WORK}/app-build)
run(${WORK}/app-build/app)
