# Runs vpci-perf with ARGS (a ;-list) and --json, and checks what a user of the JSON relies on: every field
# is there, the run did the operations asked for (COUNT) with the read/write split asked for, no errors
# (in the warm-up neither), it was not ended early, and figures that agree with each other.
#   cmake -DPERF=path/to/vpci-perf -DARGS="--memory;--count;500" -DCOUNT=500 -DREADS=350
#         [-DACCESSES=34.7 | -DACCESSES_AT_LEAST=18.5] -P check_perf_json.cmake
# ACCESSES: the config accesses per operation must be exactly this (binding 1 where the PF answers inside
# the VF's writes: the protocol's floor); ACCESSES_AT_LEAST: at least this (a PF on another thread or
# process: the VF may read the status before the answer is there); neither: none reported (binding 2).
execute_process(COMMAND ${PERF} ${ARGS} --json --quiet OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc
                TIMEOUT 120)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "vpci-perf ${ARGS} exited with ${rc}\nstdout: ${out}\nstderr: ${err}")
endif()
foreach(field binding transport role block_size queue_depth read_percent operations reads writes seconds
              blocks_per_second mb_per_second config_accesses_per_op error_count errors warmup_operations
              warmup_error_count warmup_errors sizing_error ended_by interrupted)
  string(JSON value ERROR_VARIABLE missing GET "${out}" ${field})
  if(missing)
    message(FATAL_ERROR "the JSON lacks '${field}': ${out}")
  endif()
  set(json_${field} "${value}")
endforeach()
foreach(field min mean p50 p90 p99 p99_9 max)
  string(JSON value ERROR_VARIABLE missing GET "${out}" latency_ns ${field})
  if(missing)
    message(FATAL_ERROR "the JSON lacks 'latency_ns.${field}': ${out}")
  endif()
  set(latency_${field} "${value}")
endforeach()
string(JSON error_kinds LENGTH "${out}" errors)
string(JSON warmup_error_kinds LENGTH "${out}" warmup_errors)
if(NOT json_error_count EQUAL 0 OR NOT error_kinds EQUAL 0 OR NOT json_warmup_error_count EQUAL 0
   OR NOT warmup_error_kinds EQUAL 0)
  message(FATAL_ERROR "the run had errors: ${out}")
endif()
string(JSON sizing_error_type TYPE "${out}" sizing_error)
if(NOT sizing_error_type STREQUAL "NULL")
  message(FATAL_ERROR "the read that sizes the block failed: ${out}")
endif()
string(JSON ended_by_type TYPE "${out}" ended_by)
if(NOT ended_by_type STREQUAL "NULL")
  message(FATAL_ERROR "the run ended early: ${out}")
endif()
if(NOT json_operations EQUAL COUNT)
  message(FATAL_ERROR "${json_operations} operations, ${COUNT} asked for: ${out}")
endif()
math(EXPR expected_writes "${COUNT} - ${READS}")
if(NOT json_reads EQUAL READS OR NOT json_writes EQUAL expected_writes)
  message(FATAL_ERROR "${json_reads} reads and ${json_writes} writes, ${READS} and ${expected_writes} expected: ${out}")
endif()
if(NOT json_interrupted STREQUAL "OFF" AND NOT json_interrupted STREQUAL "false")
  message(FATAL_ERROR "the run says it was interrupted: ${out}")
endif()
# Percentiles are ordered, and bounded by the minimum and maximum.
if(latency_min GREATER latency_p50 OR latency_p50 GREATER latency_p90 OR latency_p90 GREATER latency_p99
   OR latency_p99 GREATER latency_p99_9 OR latency_p99_9 GREATER latency_max OR latency_max EQUAL 0)
  message(FATAL_ERROR "latency figures out of order: ${out}")
endif()
string(JSON accesses_type TYPE "${out}" config_accesses_per_op)
if(DEFINED ACCESSES OR DEFINED ACCESSES_AT_LEAST)
  if(NOT accesses_type STREQUAL "NUMBER")
    message(FATAL_ERROR "no config accesses per operation: ${out}")
  endif()
  if(DEFINED ACCESSES AND NOT json_config_accesses_per_op EQUAL ACCESSES)
    message(FATAL_ERROR "${json_config_accesses_per_op} config accesses per operation, ${ACCESSES} expected: ${out}")
  endif()
  if(DEFINED ACCESSES_AT_LEAST AND json_config_accesses_per_op LESS ACCESSES_AT_LEAST)
    message(FATAL_ERROR "${json_config_accesses_per_op} config accesses per operation, below the floor of ${ACCESSES_AT_LEAST}: ${out}")
  endif()
elseif(NOT accesses_type STREQUAL "NULL")
  message(FATAL_ERROR "config accesses per operation reported where the transport counts none: ${out}")
endif()
message(STATUS "vpci-perf ${ARGS}: ${json_blocks_per_second} blocks/s, p99 ${latency_p99} ns")
