# Build-level checks run from ctest: the freestanding core, consumer projects, negative compile tests.

set(vpci_include ${PROJECT_SOURCE_DIR}/include)
find_program(VPCI_NM NAMES nm REQUIRED)

add_test(NAME freestanding_core_host
  COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/freestanding/check_freestanding.sh ${CMAKE_CXX_COMPILER} ${vpci_include}
          ${CMAKE_CURRENT_SOURCE_DIR}/freestanding/core_tu.cpp ${CMAKE_CURRENT_BINARY_DIR}/core_tu_host.o ${VPCI_NM})
set_tests_properties(freestanding_core_host PROPERTIES LABELS build)

# Each header on its own (firmware includes one engine or codec, not core.hpp; a host program one endpoint):
# found by a review, engine/vf_operation.hpp used ntstatus without including it and compiled only after
# another header. The test executables' unity batches and precompiled header cannot see this.
add_test(NAME core_headers_compile_alone
  COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/check_headers_alone.sh core ${CMAKE_CXX_COMPILER} ${vpci_include})
set_tests_properties(core_headers_compile_alone PROPERTIES LABELS build)
set(vpci_boost_includes)
foreach(directory IN LISTS Boost_INCLUDE_DIRS)
  # -isystem /usr/include would reorder the compiler's own search (libstdc++'s #include_next breaks).
  if(NOT directory IN_LIST CMAKE_CXX_IMPLICIT_INCLUDE_DIRECTORIES)
    list(APPEND vpci_boost_includes -isystem ${directory})
  endif()
endforeach()
add_test(NAME hosted_headers_compile_alone
  COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/check_headers_alone.sh hosted ${CMAKE_CXX_COMPILER} ${vpci_include}
          ${vpci_boost_includes})
set_tests_properties(hosted_headers_compile_alone PROPERTIES LABELS build)
# Asio's own configurations: with BOOST_ASIO_USE_TS_EXECUTOR_AS_DEFAULT, any_io_executor is a TS executor
# without properties, and vpci.hpp did not compile (test_stream asked it for outstanding_work.tracked).
add_test(NAME hosted_headers_compile_with_ts_executors_as_default
  COMMAND ${CMAKE_CXX_COMPILER} -std=c++20 -fsyntax-only -Wall -Wextra -Werror -DBOOST_ASIO_USE_TS_EXECUTOR_AS_DEFAULT
          -I ${vpci_include} ${vpci_boost_includes} ${PROJECT_SOURCE_DIR}/examples/readme/usage.cpp)
set_tests_properties(hosted_headers_compile_with_ts_executors_as_default PROPERTIES LABELS build)

find_program(VPCI_ARM_GXX arm-none-eabi-g++)
find_program(VPCI_ARM_NM arm-none-eabi-nm)
if(VPCI_ARM_GXX AND VPCI_ARM_NM)
  add_test(NAME freestanding_core_cortex_m4
    COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/freestanding/check_freestanding.sh ${VPCI_ARM_GXX} ${vpci_include}
            ${CMAKE_CURRENT_SOURCE_DIR}/freestanding/core_tu.cpp ${CMAKE_CURRENT_BINARY_DIR}/core_tu_m4.o ${VPCI_ARM_NM}
            -mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16)
  set_tests_properties(freestanding_core_cortex_m4 PROPERTIES LABELS build)
else()
  message(STATUS "vpci: arm-none-eabi-g++ not found; the Cortex-M4 build of the core is not tested")
endif()

# The PF engine's firmware footprint: a Cortex-M4 image at -Os for 4 VFs x 8 blocks with 300 bytes of block
# contents, at most 4 KiB of flash and 2 KiB of RAM beyond the contents (check_footprint.sh prints the
# figures). Skipped (exit 77) where the arm-none-eabi toolchain is missing.
find_program(VPCI_ARM_SIZE arm-none-eabi-size)
add_test(NAME footprint_pf_engine_cortex_m4
  COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/footprint/check_footprint.sh "${VPCI_ARM_GXX}" "${VPCI_ARM_SIZE}" "${VPCI_ARM_NM}"
          ${vpci_include} ${CMAKE_CURRENT_SOURCE_DIR}/footprint/pf_engine.cpp ${CMAKE_CURRENT_BINARY_DIR}/footprint
          300 4096 2048)
set_tests_properties(footprint_pf_engine_cortex_m4 PROPERTIES LABELS build SKIP_RETURN_CODE 77)

# The stack a PF's firmware gives vpci: every entry point of footprint/stack_usage.cpp (placing, finding and
# removing the mailbox's DVSEC; the session's initialisation, service and tick; a block's definition) at
# most 1 KiB deep on a Cortex-M4 at -Os, by GCC's call graph (check_stack.sh). Skipped (exit 77) without
# the arm-none-eabi toolchain.
add_test(NAME stack_usage_cortex_m4
  COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/footprint/check_stack.sh "${VPCI_ARM_GXX}" ${vpci_include}
          ${CMAKE_CURRENT_SOURCE_DIR}/footprint/stack_usage.cpp ${CMAKE_CURRENT_BINARY_DIR}/stack_usage 1024)
set_tests_properties(stack_usage_cortex_m4 PROPERTIES LABELS build SKIP_RETURN_CODE 77)

# The PF's block-register prefetch (pf_blocks::prefetch, reached from pf_mailbox_session::anticipate) must
# reach the binary: g++ 12 found it free of side effects and deleted every call, at -O2 and -O3.
add_test(NAME block_register_prefetch_is_not_compiled_out
  COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/codegen/check_reaches.sh ${CMAKE_CXX_COMPILER} ${vpci_include}
          ${CMAKE_CURRENT_SOURCE_DIR}/codegen/prefetch_tu.cpp ${CMAKE_CURRENT_BINARY_DIR}/codegen prefetch)
set_tests_properties(block_register_prefetch_is_not_compiled_out PROPERTIES LABELS build SKIP_RETURN_CODE 77)

# Block copies on a host (le::copy: the VF engine's answers, the block store's contents) must be memmove at
# -O2 and -O3: written as a byte loop, g++ 12 kept the loop at -O2, a fifth of an in-process 128-byte read.
add_test(NAME hosted_block_copies_are_memmove_not_a_byte_loop
  COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/codegen/check_reaches.sh ${CMAKE_CXX_COMPILER} ${vpci_include}
          ${CMAKE_CURRENT_SOURCE_DIR}/codegen/block_copy_tu.cpp ${CMAKE_CURRENT_BINARY_DIR}/codegen memmove)
set_tests_properties(hosted_block_copies_are_memmove_not_a_byte_loop PROPERTIES LABELS build SKIP_RETURN_CODE 77)

# Block buffers of several sizes in one program, built at -O1, -O2, -O3 and -Os and run: g++ 12 at -O2
# folded the sizes' out-of-line loops into one with the smallest array's bound, and a block's to_buffer
# became an endless loop (vpci-vfio-user-device hung at start-up in a release build).
add_test(NAME block_buffers_of_several_sizes_survive_optimisation
  COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/codegen/check_optimised_run.sh ${CMAKE_CXX_COMPILER} ${vpci_include}
          ${CMAKE_CURRENT_SOURCE_DIR}/codegen/block_buffer_sizes_tu.cpp ${CMAKE_CURRENT_BINARY_DIR}/codegen)
set_tests_properties(block_buffers_of_several_sizes_survive_optimisation PROPERTIES LABELS build TIMEOUT 300)

# Negative compile tests: each file must fail to compile, with the message that names the rule, and with
# that one static_assert only: the first rule broken is the one told (a second message would be a rule the
# type does not break, or a later check that did not keep quiet). g++ says "static assertion failed",
# clang "static_assert failed". Nor may a check's failure leave its answer no constant (clang's "not a
# constant expression" errors after the message). Further arguments are extra compiler flags.
function(vpci_compile_fail name source message)
  add_test(NAME compile_fail_${name}
    COMMAND ${CMAKE_CXX_COMPILER} -std=c++20 -fsyntax-only ${ARGN} -I ${vpci_include}
            ${CMAKE_CURRENT_SOURCE_DIR}/compile_fail/${source})
  set_tests_properties(compile_fail_${name} PROPERTIES LABELS build PASS_REGULAR_EXPRESSION "${message}"
    FAIL_REGULAR_EXPRESSION
    "(static assertion|static_assert) failed.*(static assertion|static_assert) failed|not (a|an integral) constant expression")
endfunction()
vpci_compile_fail(block_buffer_129 block_buffer_129.cpp "N exceeds vpci::max_block_size")
vpci_compile_fail(block_129_byte_type block_129_byte_type.cpp "T encodes to more than vpci::max_block_size")
vpci_compile_fail(block_not_trivially_copyable block_not_trivially_copyable.cpp "T must be trivially copyable")
vpci_compile_fail(invalidate_block_64 invalidate_block_64.cpp "only blocks with an Id below 64 can be invalidated")
vpci_compile_fail(store_invalidate_block_64 store_invalidate_block_64.cpp
                  "only blocks with an Id below 64 can be invalidated")
vpci_compile_fail(freestanding_store_without_storage freestanding_store_without_storage.cpp
                  "a freestanding build has no default capacity" -ffreestanding -fno-exceptions -fno-rtti)
vpci_compile_fail(block_undescribed_struct block_undescribed_struct.cpp "T has no wire layout")
vpci_compile_fail(block_unlisted_member block_unlisted_member.cpp "the vpci_fields list of T leaves out members of T")
vpci_compile_fail(block_unencodable_field block_unencodable_field.cpp "field N of T is not encodable")
vpci_compile_fail(block_field_listed_twice block_field_listed_twice.cpp "the vpci_fields list of T names a member of T twice")
vpci_compile_fail(block_field_of_another_type block_field_of_another_type.cpp "field N of T is not a member of T")
vpci_compile_fail(block_base_member block_base_member.cpp "field N of T is not a member of T")
vpci_compile_fail(block_nested_unlisted_member block_nested_unlisted_member.cpp
                  "the vpci_fields list of T leaves out members of T")
# A type whose size is the host's is refused on every host: wchar_t, and long double also where it is 8
# bytes (ARM, MSVC; -mlong-double-64 makes it so on x86, where the compiler takes that flag).
set(vpci_host_sized "a long double or wchar_t, whose size differs between hosts")
vpci_compile_fail(block_wchar_field block_wchar_field.cpp "${vpci_host_sized}")
vpci_compile_fail(block_long_double_field block_long_double_field.cpp "${vpci_host_sized}")
include(CheckCXXCompilerFlag)
check_cxx_compiler_flag(-mlong-double-64 VPCI_HAS_LONG_DOUBLE_64)
if(VPCI_HAS_LONG_DOUBLE_64)
  vpci_compile_fail(block_long_double_field_where_it_is_8_bytes block_long_double_field.cpp "${vpci_host_sized}"
                    -mlong-double-64)
  vpci_compile_fail(block_of_long_doubles_where_they_are_8_bytes block_long_double.cpp "${vpci_host_sized}"
                    -mlong-double-64)
endif()
vpci_compile_fail(block_base_member_listed_with_explicit_template_arguments block_base_member_explicit.cpp
                  "T has a base class, which vpci::fields\\(...\\) cannot list")
# The member count fails closed: a member it cannot count, or one it could miss, is an error.
vpci_compile_fail(block_reference_member block_reference_member.cpp "T has a const or reference member")
vpci_compile_fail(block_reference_member_with_gaps block_reference_member_with_gaps.cpp
                  "T has a const or reference member")
vpci_compile_fail(block_member_with_constructor_template block_member_with_constructor_template.cpp
                  "the vpci_fields list of T leaves out members of T")
vpci_compile_fail(block_uncountable_member block_uncountable_member.cpp "the members of T cannot be counted")
vpci_compile_fail(block_union_members_overlap block_union_members_overlap.cpp "fields N and M of T overlap")
vpci_compile_fail(block_fields_not_constexpr block_fields_not_constexpr.cpp "vpci_fields is not constexpr")
vpci_compile_fail(block_const_long_double block_const_long_double.cpp "T must not be const or volatile")
vpci_compile_fail(typed_read_value_discarded typed_read_value_discarded.cpp
                  "ignoring return value|discarding return value|nodiscard" -Werror -Wall ${vpci_boost_includes})
vpci_compile_fail(block_union_member_smaller_than_the_union block_union_member_smaller_than_the_union.cpp
                  "a member of an anonymous union that is smaller than the union")
vpci_compile_fail(block_nonaggregate_union_member_smaller_than_the_union
                  block_nonaggregate_union_member_smaller_than_the_union.cpp
                  "T holds an anonymous union \\(or a pointer\\) whose bytes vpci cannot weigh")
vpci_compile_fail(block_nonaggregate_union_beside_a_listed_array block_nonaggregate_union_beside_a_listed_array.cpp
                  "T holds an anonymous union \\(or a pointer\\) whose bytes vpci cannot weigh")
vpci_compile_fail(block_union_member_beside_uncountable_members block_union_member_beside_uncountable_members.cpp
                  "T holds an anonymous union \\(or a pointer\\) whose bytes vpci cannot weigh")
vpci_compile_fail(block_anonymous_struct_not_listed_whole block_anonymous_struct_not_listed_whole.cpp
                  "or of an anonymous struct not listed whole")
vpci_compile_fail(block_nonaggregate_base_member_left_out block_nonaggregate_base_member_left_out.cpp
                  "the vpci_fields list of T leaves out members of T")
vpci_compile_fail(block_const_array_payload block_const_array_payload.cpp
                  "T must not be const or volatile, nor an array of such elements")
vpci_compile_fail(block_deleted_move block_deleted_move.cpp "T must be a default-constructible, copyable and movable type")
vpci_compile_fail(block_union_members_of_one_type block_union_members_of_one_type.cpp
                  "fields N and M of T overlap|names a member of T twice \\(fields N and M; two members of one union")
vpci_compile_fail(block_zero_byte_struct block_zero_byte_struct.cpp "T encodes to 0 bytes; a block carries 1..128")
vpci_compile_fail(block_zero_byte_array block_zero_byte_array.cpp "T encodes to 0 bytes; a block carries 1..128")
vpci_compile_fail(block_array_of_struct_with_unlisted_member block_array_of_struct_with_unlisted_member.cpp
                  "the vpci_fields list of T leaves out members of T")
vpci_compile_fail(block_nested_array_unlisted_member block_nested_array_unlisted_member.cpp
                  "the vpci_fields list of T leaves out members of T")
vpci_compile_fail(block_const_member block_const_member.cpp "field N of T is const or volatile")
vpci_compile_fail(block_volatile_member block_volatile_member.cpp "field N of T is const or volatile")
vpci_compile_fail(block_const_payload block_const_payload.cpp "T must not be const or volatile")
vpci_compile_fail(block_union block_union.cpp "T or a field of T is \\(or holds\\) a union, which has no wire layout")
vpci_compile_fail(block_unfixed_enum block_unfixed_enum.cpp "an enum without a fixed underlying type")
vpci_compile_fail(block_int128 block_int128.cpp "an extended integer type \\(__int128, unsigned __int128\\)" -std=gnu++20)
vpci_compile_fail(block_not_literal block_not_literal.cpp "T \\(a struct with vpci_fields\\) is not a literal type")
vpci_compile_fail(block_trailing_uncountable_member block_trailing_uncountable_member.cpp
                  "the vpci_fields list of T leaves out members of T")
vpci_compile_fail(block_nonaggregate_unlisted_member block_nonaggregate_unlisted_member.cpp
                  "the vpci_fields list of T leaves out members of T")
vpci_compile_fail(block_aligned_member block_aligned_member.cpp
                  "leaves out members of T.*alignas on a member")
vpci_compile_fail(block_pointer_payload block_pointer_payload.cpp "T is \\(or is an array of\\) a pointer, which has no wire layout")
vpci_compile_fail(block_c_array_payload block_c_array_payload.cpp "T is a C array.*use std::array<E, N> as T")
vpci_compile_fail(block_reference_payload block_reference_payload.cpp
                  "T must be the payload type itself, not a reference")
vpci_compile_fail(block_void_payload block_void_payload.cpp "T must be the payload type itself, not a reference.*void")
vpci_compile_fail(block_errc_payload block_errc_payload.cpp "T cannot be vpci::errc: a typed read returns")
vpci_compile_fail(result_of_errc result_of_errc.cpp "vpci::result<T>: T cannot be vpci::errc")
# A consumer compiling as C++17 gets the one message (the compiler stops there, so nothing else follows).
vpci_compile_fail(cxx17_consumer cxx17_consumer.cpp "vpci needs C\\+\\+20 \\(-std=c\\+\\+20 or later\\)" -std=c++17)
set_tests_properties(compile_fail_cxx17_consumer PROPERTIES
                     FAIL_REGULAR_EXPRESSION "requires|concept|span|no member named|does not name|unknown type")
# The mailbox's C header compiles as strict C89 and C99 too (tests/c/mailbox_header_c89.c).
foreach(standard IN ITEMS c89 c99)
  add_test(NAME c_header_compiles_as_${standard}
    COMMAND ${CMAKE_CXX_COMPILER} -x c -std=${standard} -pedantic-errors -Wall -Wextra -Wconversion -Werror
            -fsyntax-only -I ${vpci_include} ${CMAKE_CURRENT_SOURCE_DIR}/c/mailbox_header_c89.c)
  set_tests_properties(c_header_compiles_as_${standard} PROPERTIES LABELS build)
endforeach()
# ... and on a target whose int is 16 bits (avr-gcc: the values, and the masks firmware makes with them).
find_program(VPCI_AVR_GCC avr-gcc)
if(VPCI_AVR_GCC)
  add_test(NAME c_header_on_a_16_bit_int_target
    COMMAND ${VPCI_AVR_GCC} -std=c11 -mmcu=atmega328p -ffreestanding -pedantic-errors -Wall -Wextra -Werror
            -fsyntax-only -I ${vpci_include} ${CMAKE_CURRENT_SOURCE_DIR}/c/mailbox_header_int16.c)
  set_tests_properties(c_header_on_a_16_bit_int_target PROPERTIES LABELS build)
else()
  message(STATUS "vpci: avr-gcc not found; the C header is not checked on a 16-bit int target")
endif()
# Control: the same harness accepts a valid descriptor, so a failure above is the rule, not the harness.
add_test(NAME compile_pass_control
  COMMAND ${CMAKE_CXX_COMPILER} -std=c++20 -fsyntax-only -Werror -I ${vpci_include}
          ${CMAKE_CURRENT_SOURCE_DIR}/compile_fail/control_valid.cpp)
set_tests_properties(compile_pass_control PROPERTIES LABELS build)

# Consumer projects (tests/consumer/run_consumer.cmake, whose top lists what each mode checks): install +
# find_package (hosted, and core alone) with the tools, and add_subdirectory; each built and run. Then one
# packaging rule each, from an install of the headers alone: pkg-config under warnings as errors, hosted
# as an optional component, find_package(vpci) without Boost, vpci as a subproject with its own targets
# on, a top-level build with VPCI_HOSTED=OFF, option values that cannot be built (all named at once), a
# Boost named by BOOST_ROOT, and find_package(vpci COMPONENTS ...) against a hosted and a core-only install.
set(consumer_dir ${CMAKE_CURRENT_BINARY_DIR}/consumers)
find_package(benchmark QUIET)
set(consumer_with_bench OFF)
if(benchmark_FOUND)
  set(consumer_with_bench ON)
endif()
set(consumer_arm_toolchain "")
if(VPCI_ARM_GXX)
  set(consumer_arm_toolchain ${CMAKE_CURRENT_SOURCE_DIR}/consumer/arm-none-eabi.cmake)
endif()
# The tools are installed from this tree and run where it builds them with the Release flags
# (VPCI_TOOLS_OPTIMISED, which scripts/test sets for g++: its optimiser brings the warnings a Debug build
# never sees, while clang's do not depend on -O). Elsewhere consumer_find_package installs the headers
# alone; the consumers are the same.
set(consumer_with_tools OFF)
if(VPCI_TOOLS_OPTIMISED AND VPCI_INSTALL AND TARGET vpci-tools)
  set(consumer_with_tools ON)
endif()
# The modes that compile a consumer with this compiler run in every configuration. The others check
# CMake's side alone (which package, component and option rules hold), the same whatever the compiler: a
# sanitizer configuration, which always has a plain one beside it, leaves them to that one.
set(consumer_modes install subdirectory pkg_config)
if(NOT VPCI_SANITIZE)
  list(APPEND consumer_modes optional_hosted hosted_without_boost subproject_options hosted_off boost_root components
                             unbuildable_options core_only_install)
endif()
set(consumer_tests "")
foreach(mode IN LISTS consumer_modes)
  set(name consumer_${mode})
  if(mode STREQUAL "install")
    set(name consumer_find_package)
  elseif(mode STREQUAL "subdirectory")
    set(name consumer_add_subdirectory)
  elseif(mode STREQUAL "unbuildable_options")
    set(name configure_stops_naming_every_option_value_that_cannot_be_built)
  elseif(mode STREQUAL "core_only_install")
    set(name a_core_only_install_holds_the_freestanding_core_headers_alone)
  endif()
  add_test(NAME ${name}
    COMMAND ${CMAKE_COMMAND} -DSOURCE=${PROJECT_SOURCE_DIR} -DWORK=${consumer_dir}/${mode}
            -DCONSUMER=${CMAKE_CURRENT_SOURCE_DIR}/consumer -DCXX=${CMAKE_CXX_COMPILER}
            -DGENERATOR=${CMAKE_GENERATOR} -DMODE=${mode} -DWITH_BENCH=${consumer_with_bench}
            -DWITH_TOOLS=${consumer_with_tools} -DTREE=${PROJECT_BINARY_DIR}
            -DARM_TOOLCHAIN=${consumer_arm_toolchain}
            -P ${CMAKE_CURRENT_SOURCE_DIR}/consumer/run_consumer.cmake)
  list(APPEND consumer_tests ${name})
endforeach()
set_tests_properties(${consumer_tests} PROPERTIES LABELS build TIMEOUT 1200)
# The longest tests start first (ctest runs in declaration order where it has no timings yet, as in CI),
# so that they do not run alone at the end of a parallel ctest.
set_tests_properties(consumer_find_package PROPERTIES COST 1000)
if(TEST consumer_subproject_options)
  set_tests_properties(consumer_subproject_options PROPERTIES COST 1000)
endif()
