// How vpci-perf prints a latency histogram (perf/latency_histogram.hpp): the JSON object of the figures
// (nanoseconds), the human summary line (microseconds) and the progress line's p99. One place decides
// which percentile goes in which field, so that it can be checked against a histogram of known values
// (tests/perf_histogram_test.cpp): real runs' latencies differ from run to run and cannot pin it.
#pragma once

#include <array>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <string>

#include "perf/latency_histogram.hpp"

namespace vpci_perf {

// {"min":..,"mean":..,"p50":..,"p90":..,"p99":..,"p99_9":..,"max":..}; every field null for an empty
// histogram (no operation succeeded: zeros would read as a measurement).
inline std::string latency_json(const latency_histogram& h) {
  if (h.count() == 0)
    return R"({"min":null,"mean":null,"p50":null,"p90":null,"p99":null,"p99_9":null,"max":null})";
  std::array<char, 256> text{};
  std::snprintf(text.data(), text.size(),
                "{\"min\":%" PRIu64 ",\"mean\":%.1f,\"p50\":%" PRIu64 ",\"p90\":%" PRIu64 ",\"p99\":%" PRIu64
                ",\"p99_9\":%" PRIu64 ",\"max\":%" PRIu64 "}",
                h.min(), h.mean(), h.percentile(50), h.percentile(90), h.percentile(99), h.percentile(99.9), h.max());
  return text.data();
}

// "p50 1.00  p90 2.00  p99 3.00  p99.9 4.00  max 5.00  (min 0.50, mean 1.20)", microseconds.
inline std::string latency_line(const latency_histogram& h) {
  const auto us = [](std::uint64_t ns) { return static_cast<double>(ns) / 1000.0; };
  std::array<char, 256> text{};
  std::snprintf(text.data(), text.size(), "p50 %.2f  p90 %.2f  p99 %.2f  p99.9 %.2f  max %.2f  (min %.2f, mean %.2f)",
                us(h.percentile(50)), us(h.percentile(90)), us(h.percentile(99)), us(h.percentile(99.9)), us(h.max()),
                us(h.min()), h.mean() / 1000.0);
  return text.data();
}

// The progress line's p99 in microseconds, 8 wide ("       -" for an interval without a sample).
inline std::string progress_p99(const latency_histogram& h) {
  if (h.count() == 0) return "       -";
  std::array<char, 32> text{};
  std::snprintf(text.data(), text.size(), "%8.2f", static_cast<double>(h.percentile(99)) / 1000.0);
  return text.data();
}

}  // namespace vpci_perf
