# cmake -P script: builds and runs consumer projects against this source tree.
# MODE=install: install the tree TREE, which built the tools with the Release flags (WITH_TOOLS; the
#   headers alone otherwise), to a prefix, run each installed tool, then
#   - find_package(vpci) from a hosted consumer (links vpci::vpci only),
#   - find_package(vpci COMPONENTS core) from a core consumer with Boost and Threads made unfindable.
# MODE=subdirectory: the consumer pulls the source tree in with add_subdirectory (hosted and core).
# The modes below install the headers alone (no tools built) and check one packaging rule each:
# MODE=pkg_config: pkg-config --cflags --libs vpci (and vpci-core) for the two programs, compiled by hand
#   with warnings as errors (pkg-config gives -I, not -isystem, so the headers' warnings reach the user),
#   and find_package(vpci COMPONENTS core), all from an install moved after it was made (relocatable).
# MODE=optional_hosted: find_package(vpci COMPONENTS core OPTIONAL_COMPONENTS hosted) with Boost, without
#   it, and in a Cortex-M4 cross build (ARM_TOOLCHAIN, when given): found, with vpci_hosted_FOUND to match.
# MODE=hosted_without_boost: find_package(vpci) (the hosted default) where Boost or Threads cannot be
#   found must fail with a message that points at find_package(vpci COMPONENTS core).
# MODE=subproject_options: vpci added by add_subdirectory and by FetchContent with VPCI_BUILD_EXAMPLES,
#   VPCI_BUILD_TESTS and (WITH_BENCH) VPCI_BUILD_BENCH on: configures, the parent's targets build without
#   vpci's project flags, and the parent's install holds none of vpci's files unless VPCI_INSTALL is on.
# MODE=hosted_off: vpci at top level with -DVPCI_HOSTED=OFF configures with its defaults, and asking for
#   the tests and examples as well stops with one message that names VPCI_HOSTED and both options. A tree
#   configured with the defaults reconfigures with -DVPCI_HOSTED=OFF (the tests and examples follow it
#   off) and back (on again). Without Boost, the hosted configure's message names -DVPCI_HOSTED=OFF.
# MODE=core_only_install: the headers a VPCI_HOSTED=OFF install holds are the freestanding core alone: no
#   asio/, transport/, error.hpp or vpci.hpp, core.hpp and the C header there, and each header installed
#   finds what it includes in the install tree and the compiler's own headers (preprocessed freestanding:
#   -ffreestanding -fno-exceptions -fno-rtti), no Boost header among them.
# MODE=unbuildable_options: values that cannot be built stop vpci's top-level configure, every one named in
#   one message: a sanitizer the compiler does not take (VPCI_SANITIZE=adress), the fuzz targets without
#   clang or without the tests they are built with, VPCI_BUILD_FUZZ beside VPCI_HOSTED=OFF, a
#   VPCI_TEST_SUBSET that names no subset.
# MODE=components: find_package(vpci ...) with COMPONENTS, against a hosted and a core-only install
#   (VPCI_HOSTED=OFF): hosted asked of a core-only install fails at find_package time naming
#   VPCI_HOSTED=OFF (REQUIRED: an error; without: vpci_FOUND false and a warning; QUIET: silent), core
#   alone and the default (no component) work there, a program linking vpci::vpci where it is not
#   defined is told why at configure time, unknown components are refused (a warning when optional),
#   and hosted is found in a hosted install.
# MODE=boost_root: a Boost named by BOOST_ROOT (a stand-in with its own BoostConfig.cmake) is the one
#   found, by vpci's own configure and by find_package(vpci) in a consumer, not the system's.
file(REMOVE_RECURSE ${WORK})
file(MAKE_DIRECTORY ${WORK})

function(run)
  execute_process(COMMAND ${ARGV} RESULT_VARIABLE status OUTPUT_VARIABLE out ERROR_VARIABLE err)
  message("${out}${err}")
  if(NOT status EQUAL 0)
    message(FATAL_ERROR "command failed (${status}): ${ARGV}")
  endif()
endfunction()

function(build_and_run source_dir build_dir)
  run(${CMAKE_COMMAND} -S ${source_dir} -B ${build_dir} -G ${GENERATOR} -DCMAKE_CXX_COMPILER=${CXX} ${ARGN})
  run(${CMAKE_COMMAND} --build ${build_dir})
  run(${build_dir}/app)
endfunction()

# Runs a command that must fail, with output matching `pattern`.
function(run_expecting_failure pattern)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE status OUTPUT_VARIABLE out ERROR_VARIABLE err)
  message("${out}${err}")
  if(status EQUAL 0)
    message(FATAL_ERROR "command succeeded, expected a failure: ${ARGN}")
  endif()
  # CMake wraps its error messages at spaces: match on the text with its line breaks made spaces.
  string(REGEX REPLACE "[ \t\r\n]+" " " text "${out}${err}")
  if(NOT text MATCHES "${pattern}")
    message(FATAL_ERROR "command failed, but its output does not match '${pattern}': ${ARGN}")
  endif()
endfunction()

# Installs the headers, package config and pkg-config files alone (nothing built) to ${WORK}/${name},
# configured with the options given after `name` (e.g. -DVPCI_HOSTED=OFF).
function(install_headers_to name)
  run(${CMAKE_COMMAND} -S ${SOURCE} -B ${WORK}/${name}-build -G ${GENERATOR} -DCMAKE_CXX_COMPILER=${CXX}
      -DVPCI_BUILD_TESTS=OFF -DVPCI_BUILD_EXAMPLES=OFF -DVPCI_BUILD_BENCH=OFF -DCMAKE_INSTALL_MESSAGE=NEVER
      ${ARGN})
  run(${CMAKE_COMMAND} --install ${WORK}/${name}-build --prefix ${WORK}/${name})
endfunction()

# The same to ${WORK}/prefix, with the default options: the hosted layer included.
function(install_headers)
  install_headers_to(prefix ${ARGN})
endfunction()

# The warnings a consumer's own build may well turn into errors; the headers must not trigger them.
set(consumer_warnings -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Werror)

# Compiles one source with the flags pkg-config gives for `package`, then runs it.
function(pkg_config_build_and_run package source how)
  execute_process(COMMAND ${PKG_CONFIG} --cflags --libs ${package} RESULT_VARIABLE status
                  OUTPUT_VARIABLE flags ERROR_VARIABLE err OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(NOT status EQUAL 0)
    message(FATAL_ERROR "pkg-config --cflags --libs ${package} failed: ${err}")
  endif()
  message("pkg-config --cflags --libs ${package}: ${flags}")
  separate_arguments(flags UNIX_COMMAND "${flags}")
  run(${CXX} -std=c++20 ${consumer_warnings} "-DVPCI_CONSUMER_HOW=\"${how}\"" ${source} ${flags}
      -o ${WORK}/pkg-config-${package})
  run(${WORK}/pkg-config-${package})
endfunction()

if(MODE STREQUAL "install")
  if(WITH_TOOLS)
    # As a user installs it: the tools as the test tree built them, with the Release flags (warnings are
    # errors in them, and -O3 brings warnings a Debug build never sees; VPCI_TOOLS_OPTIMISED), installed
    # with the headers and package files, each installed tool then run. (Built once: a Release tree of
    # their own doubled the tools' build time in CI.)
    run(${CMAKE_COMMAND} --install ${TREE} --prefix ${WORK}/prefix)
    # The tools alone: a tree that also built the tests, the README's programs and the PF's test variants
    # installs none of them.
    set(tools vpci-codec vpci-conformance vpci-demo vpci-firmware-c-pf vpci-inspect vpci-perf vpci-vfio-user-device)
    file(GLOB installed RELATIVE ${WORK}/prefix/bin ${WORK}/prefix/bin/*)
    list(SORT installed)
    if(NOT installed STREQUAL tools)
      message(FATAL_ERROR "bin/ holds '${installed}', expected the tools '${tools}'")
    endif()
    foreach(tool IN LISTS tools)
      run(${WORK}/prefix/bin/${tool} --help)
    endforeach()
    run(${WORK}/prefix/bin/vpci-codec)  # the walkthrough: every packet encoded and decoded again
  else()
    install_headers()
  endif()
  build_and_run(${CONSUMER}/find_package ${WORK}/app-build -DCMAKE_PREFIX_PATH=${WORK}/prefix)
  build_and_run(${CONSUMER}/find_package_core ${WORK}/core-app-build -DCMAKE_PREFIX_PATH=${WORK}/prefix
                -DCMAKE_DISABLE_FIND_PACKAGE_Boost=ON -DCMAKE_DISABLE_FIND_PACKAGE_Threads=ON)
elseif(MODE STREQUAL "pkg_config")
  install_headers()
  # A packager builds into a staging directory and the files end up elsewhere: the install is moved
  # before use, so that a path written into a package file at install time fails here.
  file(RENAME ${WORK}/prefix ${WORK}/moved)
  find_program(PKG_CONFIG NAMES pkg-config pkgconf REQUIRED)
  set(ENV{PKG_CONFIG_PATH} ${WORK}/moved/share/pkgconfig)
  pkg_config_build_and_run(vpci ${CONSUMER}/hosted_main.cpp "built with pkg-config")
  pkg_config_build_and_run(vpci-core ${CONSUMER}/core_main.cpp "core built with pkg-config")
  build_and_run(${CONSUMER}/find_package_core ${WORK}/core-app-build -DCMAKE_PREFIX_PATH=${WORK}/moved
                -DCMAKE_DISABLE_FIND_PACKAGE_Boost=ON -DCMAKE_DISABLE_FIND_PACKAGE_Threads=ON)
elseif(MODE STREQUAL "optional_hosted")
  install_headers()
  build_and_run(${CONSUMER}/find_package_optional ${WORK}/with-boost -DCMAKE_PREFIX_PATH=${WORK}/prefix
                -DEXPECT_HOSTED=ON)
  run(${WORK}/with-boost/core_app)
  run(${CMAKE_COMMAND} -S ${CONSUMER}/find_package_optional -B ${WORK}/without-boost -G ${GENERATOR}
      -DCMAKE_CXX_COMPILER=${CXX} -DCMAKE_PREFIX_PATH=${WORK}/prefix -DEXPECT_HOSTED=OFF
      -DCMAKE_DISABLE_FIND_PACKAGE_Boost=ON)
  run(${CMAKE_COMMAND} --build ${WORK}/without-boost)
  run(${WORK}/without-boost/core_app)
  if(ARM_TOOLCHAIN)
    # Built, not run: a Cortex-M4 image.
    run(${CMAKE_COMMAND} -S ${CONSUMER}/find_package_optional -B ${WORK}/cortex-m4 -G ${GENERATOR}
        -DCMAKE_TOOLCHAIN_FILE=${ARM_TOOLCHAIN} -DVPCI_SYSROOT=${WORK}/prefix -DCMAKE_PREFIX_PATH=${WORK}/prefix
        -DEXPECT_HOSTED=OFF)
    run(${CMAKE_COMMAND} --build ${WORK}/cortex-m4)
  else()
    message("arm-none-eabi-g++ not found: the Cortex-M4 cross build is not tried")
  endif()
elseif(MODE STREQUAL "hosted_without_boost")
  install_headers()
  set(hint "find_package\\(vpci COMPONENTS core\\)")
  run_expecting_failure("${hint}" ${CMAKE_COMMAND} -S ${CONSUMER}/find_package -B ${WORK}/no-boost
      -G ${GENERATOR} -DCMAKE_CXX_COMPILER=${CXX} -DCMAKE_PREFIX_PATH=${WORK}/prefix
      -DCMAKE_DISABLE_FIND_PACKAGE_Boost=ON)
  run_expecting_failure("${hint}" ${CMAKE_COMMAND} -S ${CONSUMER}/find_package -B ${WORK}/no-threads
      -G ${GENERATOR} -DCMAKE_CXX_COMPILER=${CXX} -DCMAKE_PREFIX_PATH=${WORK}/prefix
      -DCMAKE_DISABLE_FIND_PACKAGE_Threads=ON)
  if(ARM_TOOLCHAIN)
    # A firmware team's cross build, where Boost is simply not there.
    run_expecting_failure("${hint}" ${CMAKE_COMMAND} -S ${CONSUMER}/find_package -B ${WORK}/cortex-m4
        -G ${GENERATOR} -DCMAKE_TOOLCHAIN_FILE=${ARM_TOOLCHAIN} -DVPCI_SYSROOT=${WORK}/prefix
        -DCMAKE_PREFIX_PATH=${WORK}/prefix)
  endif()
elseif(MODE STREQUAL "subproject_options")
  set(own_targets -DVPCI_BUILD_EXAMPLES=ON -DVPCI_BUILD_TESTS=ON -DVPCI_BUILD_BENCH=${WITH_BENCH})
  foreach(how add_subdirectory fetchcontent)
    set(build ${WORK}/${how})
    set(fetch OFF)
    if(how STREQUAL "fetchcontent")
      set(fetch ON)
    endif()
    run(${CMAKE_COMMAND} -S ${CONSUMER}/subproject_options -B ${build} -G ${GENERATOR}
        -DCMAKE_CXX_COMPILER=${CXX} -DVPCI_SOURCE=${SOURCE} -DVPCI_FETCHCONTENT=${fetch} ${own_targets}
        -DCMAKE_EXPORT_COMPILE_COMMANDS=ON)
    run(${CMAKE_COMMAND} --build ${build} --target app core_app)
    run(${build}/app)
    run(${build}/core_app)
    # The parent's own objects are compiled without vpci's project flags.
    file(READ ${build}/compile_commands.json commands)
    string(JSON entries LENGTH "${commands}")
    math(EXPR last "${entries} - 1")
    set(parent_commands "")
    foreach(i RANGE ${last})
      string(JSON file GET "${commands}" ${i} file)
      if(file MATCHES "/consumer/(hosted|core)_main\\.cpp$")
        string(JSON command GET "${commands}" ${i} command)
        list(APPEND parent_commands "${command}")
      endif()
    endforeach()
    list(LENGTH parent_commands count)
    if(NOT count EQUAL 2)
      message(FATAL_ERROR "${how}: expected the parent's 2 compile commands, found ${count}")
    endif()
    foreach(flag -Werror -Wconversion -Wsign-conversion -Wpedantic)
      if("${parent_commands}" MATCHES "${flag}")
        message(FATAL_ERROR "${how}: vpci's ${flag} reached the parent's targets: ${parent_commands}")
      endif()
    endforeach()
    # The parent's install: its two programs, nothing of vpci's.
    run(${CMAKE_COMMAND} --install ${build} --prefix ${WORK}/${how}-prefix)
    file(GLOB_RECURSE installed RELATIVE ${WORK}/${how}-prefix ${WORK}/${how}-prefix/*)
    list(SORT installed)
    if(NOT installed STREQUAL "bin/app;bin/core_app")
      message(FATAL_ERROR "${how}: the parent's install holds more than its own programs: ${installed}")
    endif()
  endforeach()
  # VPCI_INSTALL on: a subproject's headers, package config and pkg-config files are installed. (The
  # add_subdirectory tree above, reconfigured with vpci's own targets off, as a parent that installs vpci
  # has them: the parent's programs' flags do not change, so nothing rebuilds.)
  run(${CMAKE_COMMAND} -S ${CONSUMER}/subproject_options -B ${WORK}/add_subdirectory -DVPCI_INSTALL=ON
      -DVPCI_BUILD_EXAMPLES=OFF -DVPCI_BUILD_TESTS=OFF -DVPCI_BUILD_BENCH=OFF)
  run(${CMAKE_COMMAND} --build ${WORK}/add_subdirectory --target app core_app)
  run(${CMAKE_COMMAND} --install ${WORK}/add_subdirectory --prefix ${WORK}/install-on-prefix)
  foreach(file include/vpci/core.hpp share/cmake/vpci/vpci-config.cmake share/pkgconfig/vpci.pc bin/app)
    if(NOT EXISTS ${WORK}/install-on-prefix/${file})
      message(FATAL_ERROR "VPCI_INSTALL=ON: ${file} was not installed")
    endif()
  endforeach()
elseif(MODE STREQUAL "hosted_off")
  # Configured only: nothing of vpci's is built without the hosted layer but the package files.
  run(${CMAKE_COMMAND} -S ${SOURCE} -B ${WORK}/defaults -G ${GENERATOR} -DCMAKE_CXX_COMPILER=${CXX}
      -DVPCI_HOSTED=OFF)
  run(${CMAKE_COMMAND} --install ${WORK}/defaults --prefix ${WORK}/prefix)
  if(EXISTS ${WORK}/prefix/share/pkgconfig/vpci.pc OR NOT EXISTS ${WORK}/prefix/share/pkgconfig/vpci-core.pc)
    message(FATAL_ERROR "VPCI_HOSTED=OFF: expected vpci-core.pc alone")
  endif()
  run_expecting_failure("VPCI_BUILD_TESTS and VPCI_BUILD_EXAMPLES are ON but VPCI_HOSTED is OFF.*-DVPCI_BUILD_TESTS=OFF -DVPCI_BUILD_EXAMPLES=OFF"
      ${CMAKE_COMMAND} -S ${SOURCE} -B ${WORK}/tests-asked -G ${GENERATOR}
      -DCMAKE_CXX_COMPILER=${CXX} -DVPCI_HOSTED=OFF -DVPCI_BUILD_TESTS=ON -DVPCI_BUILD_EXAMPLES=ON)
  # The defaults follow VPCI_HOSTED from one configure to the next; a value the user set stays.
  function(expect_cached build option value)
    file(STRINGS ${build}/CMakeCache.txt line REGEX "^${option}:BOOL=")
    if(NOT line STREQUAL "${option}:BOOL=${value}")
      message(FATAL_ERROR "expected ${option}=${value} in ${build}, found '${line}'")
    endif()
  endfunction()
  set(switched ${WORK}/switched)
  run(${CMAKE_COMMAND} -S ${SOURCE} -B ${switched} -G ${GENERATOR} -DCMAKE_CXX_COMPILER=${CXX} -DVPCI_BUILD_EXAMPLES=OFF)
  expect_cached(${switched} VPCI_BUILD_TESTS ON)
  run(${CMAKE_COMMAND} -S ${SOURCE} -B ${switched} -DVPCI_HOSTED=OFF)
  expect_cached(${switched} VPCI_BUILD_TESTS OFF)
  expect_cached(${switched} VPCI_BUILD_EXAMPLES OFF)
  run(${CMAKE_COMMAND} -S ${SOURCE} -B ${switched} -DVPCI_HOSTED=ON)
  expect_cached(${switched} VPCI_BUILD_TESTS ON)
  expect_cached(${switched} VPCI_BUILD_EXAMPLES OFF)  # the user's own OFF
  run_expecting_failure("needs Boost >= 1.81, and none was found.*-DVPCI_HOSTED=OFF"
      ${CMAKE_COMMAND} -S ${SOURCE} -B ${WORK}/no-boost -G ${GENERATOR} -DCMAKE_CXX_COMPILER=${CXX}
      -DCMAKE_DISABLE_FIND_PACKAGE_Boost=ON)
elseif(MODE STREQUAL "core_only_install")
  install_headers_to(core-only -DVPCI_HOSTED=OFF)
  set(include_dir ${WORK}/core-only/include)
  foreach(hosted asio transport error.hpp vpci.hpp)
    if(EXISTS ${include_dir}/vpci/${hosted})
      message(FATAL_ERROR "VPCI_HOSTED=OFF installed the hosted layer's vpci/${hosted}")
    endif()
  endforeach()
  foreach(core core.hpp c/vpci_mailbox.h engine/pf_mailbox.hpp)
    if(NOT EXISTS ${include_dir}/vpci/${core})
      message(FATAL_ERROR "VPCI_HOSTED=OFF did not install the core's vpci/${core}")
    endif()
  endforeach()
  file(GLOB_RECURSE headers RELATIVE ${include_dir} ${include_dir}/vpci/*)
  foreach(header IN LISTS headers)
    execute_process(COMMAND ${CXX} -std=c++20 -ffreestanding -fno-exceptions -fno-rtti -x c++ -MM -I ${include_dir}
                            ${include_dir}/${header}
                    RESULT_VARIABLE status OUTPUT_VARIABLE dependencies ERROR_VARIABLE err)
    if(NOT status EQUAL 0)
      message(FATAL_ERROR "${header}, installed by VPCI_HOSTED=OFF, does not compile from the install alone: ${err}")
    endif()
    if(dependencies MATCHES "/boost/")
      message(FATAL_ERROR "${header}, installed by VPCI_HOSTED=OFF, includes Boost: ${dependencies}")
    endif()
  endforeach()
elseif(MODE STREQUAL "unbuildable_options")
  # Configures vpci with the options given after `pattern`, which must fail with output matching it.
  function(expect_refused name pattern)
    message("-- case ${name}")
    run_expecting_failure("${pattern}" ${CMAKE_COMMAND} -S ${SOURCE} -B ${WORK}/${name} -G ${GENERATOR}
                          -DCMAKE_CXX_COMPILER=${CXX} ${ARGN})
  endfunction()
  expect_refused(misspelt-sanitizer "vpci: VPCI_SANITIZE=adress: .* cannot build with -fsanitize=adress"
                 -DVPCI_SANITIZE=adress)
  set(no_fuzz "VPCI_BUILD_FUZZ is ON, but no fuzz target can be built:")
  expect_refused(fuzz-without-tests "vpci: ${no_fuzz} .*VPCI_BUILD_TESTS is OFF.*-DVPCI_BUILD_FUZZ=OFF"
                 -DVPCI_BUILD_TESTS=OFF -DVPCI_BUILD_FUZZ=ON)
  expect_refused(fuzz-with-the-thread-subset "vpci: ${no_fuzz} .*VPCI_TEST_SUBSET=concurrent leaves them out"
                 -DVPCI_TEST_SUBSET=concurrent -DVPCI_BUILD_FUZZ=ON)
  if(NOT CXX MATCHES "clang")
    expect_refused(fuzz-without-clang "vpci: ${no_fuzz} they need clang \\(libFuzzer ships with it\\), and the compiler is "
                   -DVPCI_BUILD_FUZZ=ON)
  endif()
  expect_refused(fuzz-without-hosted "VPCI_BUILD_FUZZ is ON but VPCI_HOSTED is OFF.*-DVPCI_BUILD_FUZZ=OFF"
                 -DVPCI_HOSTED=OFF -DVPCI_BUILD_FUZZ=ON)
  expect_refused(no-such-subset "vpci: VPCI_TEST_SUBSET=threads is no subset of the tests" -DVPCI_TEST_SUBSET=threads)
  # Several at once: each is named in the one message, not the first alone.
  expect_refused(several "vpci: 3 values set cannot be built: VPCI_TEST_SUBSET=threads .* ${no_fuzz} .*VPCI_BUILD_TESTS is OFF.* VPCI_SANITIZE=adress: "
                 -DVPCI_SANITIZE=adress -DVPCI_BUILD_TESTS=OFF -DVPCI_BUILD_FUZZ=ON -DVPCI_TEST_SUBSET=threads)
elseif(MODE STREQUAL "boost_root")
  # A stand-in Boost 1.99: its headers are the system's, its config file marks it as the one found.
  set(fake ${WORK}/fake-boost/lib/cmake/Boost-1.99.0)
  file(MAKE_DIRECTORY ${fake})
  file(WRITE ${fake}/BoostConfigVersion.cmake "set(PACKAGE_VERSION 1.99.0)
set(PACKAGE_VERSION_COMPATIBLE TRUE)
if(PACKAGE_FIND_VERSION VERSION_GREATER PACKAGE_VERSION)
  set(PACKAGE_VERSION_COMPATIBLE FALSE)
endif()
")
  file(WRITE ${fake}/BoostConfig.cmake "if(NOT TARGET Boost::headers)
  add_library(Boost::headers INTERFACE IMPORTED)
endif()
set(Boost_VERSION 1.99.0)
")
  function(expect_boost_dir build)
    file(STRINGS ${build}/CMakeCache.txt line REGEX "^Boost_DIR:")
    if(NOT line STREQUAL "Boost_DIR:PATH=${fake}")
      message(FATAL_ERROR "BOOST_ROOT=${WORK}/fake-boost was not the Boost found in ${build}: '${line}'")
    endif()
  endfunction()
  run(${CMAKE_COMMAND} -S ${SOURCE} -B ${WORK}/vpci-own -G ${GENERATOR} -DCMAKE_CXX_COMPILER=${CXX}
      -DVPCI_BUILD_TESTS=OFF -DVPCI_BUILD_EXAMPLES=OFF -DBOOST_ROOT=${WORK}/fake-boost)
  expect_boost_dir(${WORK}/vpci-own)
  install_headers()
  run(${CMAKE_COMMAND} -S ${CONSUMER}/find_package -B ${WORK}/consumer -G ${GENERATOR} -DCMAKE_CXX_COMPILER=${CXX}
      -DCMAKE_PREFIX_PATH=${WORK}/prefix -DBOOST_ROOT=${WORK}/fake-boost)
  expect_boost_dir(${WORK}/consumer)
elseif(MODE STREQUAL "components")
  install_headers_to(hosted)
  install_headers_to(core-only -DVPCI_HOSTED=OFF)
  # Case `name`: tests/consumer/find_package_components configured against the install INSTALL (hosted
  # or core-only) with find_package(vpci 0.1 CONFIG <FIND>). With FAILS_WITH the configure must fail, its
  # output matching that pattern. Otherwise it must succeed with vpci_FOUND and vpci_hosted_FOUND as
  # FOUND and HOSTED say, its output matching OUTPUT_MATCHES and not OUTPUT_LACKS, and the LINK_CORE and
  # LINK_HOSTED programs are built and run.
  function(components_case name)
    cmake_parse_arguments(PARSE_ARGV 1 case "LINK_CORE;LINK_HOSTED"
                          "INSTALL;FIND;FOUND;HOSTED;FAILS_WITH;OUTPUT_MATCHES;OUTPUT_LACKS" "")
    set(build ${WORK}/${name})
    set(configure ${CMAKE_COMMAND} -S ${CONSUMER}/find_package_components -B ${build} -G ${GENERATOR}
        -DCMAKE_CXX_COMPILER=${CXX} -DCMAKE_PREFIX_PATH=${WORK}/${case_INSTALL} "-DFIND_ARGS=${case_FIND}"
        -DLINK_CORE=${case_LINK_CORE} -DLINK_HOSTED=${case_LINK_HOSTED})
    if(case_INSTALL STREQUAL "core-only")
      # A core-only install is made for machines without Boost: no answer may depend on finding one. (Its
      # package config never looks, so CMake would call the variable unused.)
      list(APPEND configure -DCMAKE_DISABLE_FIND_PACKAGE_Boost=ON --no-warn-unused-cli)
    endif()
    message("-- case ${name}: find_package(vpci 0.1 CONFIG ${case_FIND}) against the ${case_INSTALL} install")
    if(DEFINED case_FAILS_WITH)
      run_expecting_failure("${case_FAILS_WITH}" ${configure})
      return()
    endif()
    execute_process(COMMAND ${configure} -DEXPECT_FOUND=${case_FOUND} -DEXPECT_HOSTED=${case_HOSTED}
                    RESULT_VARIABLE status OUTPUT_VARIABLE out ERROR_VARIABLE err)
    message("${out}${err}")
    if(NOT status EQUAL 0)
      message(FATAL_ERROR "case ${name}: the configure failed (${status})")
    endif()
    string(REGEX REPLACE "[ \t\r\n]+" " " text "${out}${err}")
    if(DEFINED case_OUTPUT_MATCHES AND NOT text MATCHES "${case_OUTPUT_MATCHES}")
      message(FATAL_ERROR "case ${name}: the output does not match '${case_OUTPUT_MATCHES}'")
    endif()
    if(DEFINED case_OUTPUT_LACKS AND text MATCHES "${case_OUTPUT_LACKS}")
      message(FATAL_ERROR "case ${name}: the output matches '${case_OUTPUT_LACKS}', which it must not")
    endif()
    if(case_LINK_CORE OR case_LINK_HOSTED)
      run(${CMAKE_COMMAND} --build ${build})
    endif()
    if(case_LINK_CORE)
      run(${build}/core_app)
    endif()
    if(case_LINK_HOSTED)
      run(${build}/app)
    endif()
  endfunction()

  # The core-only install (VPCI_HOSTED=OFF). Asked for hosted, find_package itself says why it is missing
  # and what to do: an error under REQUIRED, a warning without, nothing under QUIET.
  set(no_hosted "component hosted \\(vpci::vpci, the hosted layer\\) is not available: this vpci .*was installed with VPCI_HOSTED=OFF.*-DVPCI_HOSTED=ON.*find_package\\(vpci COMPONENTS core\\)")
  components_case(core-only-requires-hosted INSTALL core-only FIND "REQUIRED COMPONENTS hosted"
                  FAILS_WITH "${no_hosted}")
  components_case(core-only-asks-hosted INSTALL core-only FIND "COMPONENTS hosted" FOUND OFF HOSTED OFF
                  OUTPUT_MATCHES "${no_hosted}")
  components_case(core-only-asks-hosted-quietly INSTALL core-only FIND "QUIET COMPONENTS hosted"
                  FOUND OFF HOSTED OFF OUTPUT_LACKS "VPCI_HOSTED")
  components_case(core-only-requires-core INSTALL core-only FIND "REQUIRED COMPONENTS core" FOUND ON
                  HOSTED OFF LINK_CORE)
  components_case(core-only-hosted-optional INSTALL core-only FIND
                  "REQUIRED COMPONENTS core OPTIONAL_COMPONENTS hosted" FOUND ON HOSTED OFF LINK_CORE
                  OUTPUT_MATCHES "optional component hosted .*installed with VPCI_HOSTED=OFF")
  # No component named: found as before, the core alone. A program linking vpci::vpci (here or after
  # COMPONENTS core) is told why it is missing at configure time, not left with the generate step's
  # "target not found".
  components_case(core-only-default INSTALL core-only FIND "REQUIRED" FOUND ON HOSTED OFF LINK_CORE)
  components_case(core-only-default-links-hosted INSTALL core-only FIND "REQUIRED" LINK_HOSTED
                  FAILS_WITH "vpci::vpci \\(the hosted layer\\), which app links to, is not defined: this vpci .*was installed with VPCI_HOSTED=OFF.*-DVPCI_HOSTED=ON")
  components_case(core-only-core-links-hosted INSTALL core-only FIND "REQUIRED COMPONENTS core" LINK_HOSTED
                  FAILS_WITH "vpci::vpci \\(the hosted layer\\), which app links to, is not defined: this vpci .*was installed with VPCI_HOSTED=OFF, the freestanding core alone. Link vpci::core")
  # Unknown names: refused when required (with or without REQUIRED), a warning when optional.
  set(unknown "unknown component hostd: vpci has core \\(vpci::core\\) and hosted \\(vpci::vpci\\)")
  components_case(core-only-unknown INSTALL core-only FIND "REQUIRED COMPONENTS core hostd"
                  FAILS_WITH "${unknown}")
  components_case(core-only-unknown-not-required INSTALL core-only FIND "COMPONENTS core hostd"
                  FOUND OFF HOSTED OFF OUTPUT_MATCHES "${unknown}")
  components_case(core-only-unknown-optional INSTALL core-only FIND
                  "REQUIRED COMPONENTS core OPTIONAL_COMPONENTS hostd" FOUND ON HOSTED OFF OUTPUT_MATCHES "${unknown}")

  # The hosted install.
  components_case(hosted-requires-hosted INSTALL hosted FIND "REQUIRED COMPONENTS hosted" FOUND ON HOSTED ON
                  LINK_CORE LINK_HOSTED)
  components_case(hosted-unknown INSTALL hosted FIND "REQUIRED COMPONENTS hosted foo"
                  FAILS_WITH "unknown component foo: vpci has core")
  components_case(hosted-core-links-hosted INSTALL hosted FIND "REQUIRED COMPONENTS core" LINK_HOSTED
                  FAILS_WITH "vpci::vpci \\(the hosted layer\\), which app links to, is not defined: find_package\\(vpci\\) was called with COMPONENTS core, which leaves out hosted")
else()
  build_and_run(${CONSUMER}/add_subdirectory ${WORK}/app-build -DVPCI_SOURCE=${SOURCE})
  run(${WORK}/app-build/core_app)
endif()
