// vpci-conformance: what a case concluded, and how a run is reported (one line per case, a summary line,
// or JSON). One idea: the verdicts and their presentation; the cases themselves are in
// mailbox_cases.hpp (binding 1) and hyperv_cases.hpp (binding 2).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include <fnmatch.h>

#include "../json_string.hpp"

namespace vpci::conformance {

using vpci::tools::json_string;

enum class verdict { pass, fail, skip };

struct case_result {
  verdict outcome{verdict::pass};
  std::string reason;  // empty for a plain pass
};

inline case_result pass(std::string reason = {}) { return {verdict::pass, std::move(reason)}; }
inline case_result fail(std::string reason) { return {verdict::fail, std::move(reason)}; }
inline case_result skip(std::string reason) { return {verdict::skip, std::move(reason)}; }

// One finished case as reported.
struct case_report {
  std::string name;
  std::string section;  // the rule's section in the doc, e.g. "protocol.md §4.4"
  case_result result;
};

inline std::string_view verdict_name(verdict v) {
  switch (v) {
    case verdict::pass: return "PASS";
    case verdict::fail: return "FAIL";
    case verdict::skip: return "SKIP";
  }
  return "?";
}

// "0x0000ABCD"
inline std::string hex(std::uint64_t value, int digits = 8) {
  char text[24];
  std::snprintf(text, sizeof text, "0x%0*llX", digits, static_cast<unsigned long long>(value));
  return text;
}

// A case name matches a --case pattern as a shell glob (fnmatch), or exactly.
inline bool selected(std::string_view name, const std::vector<std::string>& patterns) {
  if (patterns.empty()) return true;
  const std::string n(name);
  for (const std::string& p : patterns)
    if (p == n || ::fnmatch(p.c_str(), n.c_str(), 0) == 0) return true;
  return false;
}

struct summary {
  std::size_t passed{0};
  std::size_t failed{0};
  std::size_t skipped{0};
};

inline summary summarize(const std::vector<case_report>& reports) {
  summary s;
  for (const case_report& r : reports) {
    if (r.result.outcome == verdict::pass) ++s.passed;
    else if (r.result.outcome == verdict::fail) ++s.failed;
    else ++s.skipped;
  }
  return s;
}

// "PASS  mailbox.read_success  protocol.md §4.4  16 bytes"
inline std::string format_line(const case_report& r) {
  std::string line(verdict_name(r.result.outcome));
  line += "  " + r.name + "  " + r.section;
  if (!r.result.reason.empty()) line += "  " + r.result.reason;
  return line;
}

inline std::string format_summary(const summary& s) {
  return std::to_string(s.passed) + " passed, " + std::to_string(s.failed) + " failed, " + std::to_string(s.skipped) +
         " skipped";
}

// {"cases":[{"name":...,"section":...,"verdict":"PASS","reason":...},...],"passed":N,"failed":M,"skipped":K}
inline std::string format_json(const std::vector<case_report>& reports) {
  std::string out = "{\"cases\":[";
  for (std::size_t i = 0; i < reports.size(); ++i) {
    const case_report& r = reports[i];
    if (i != 0) out += ",";
    out += "{\"name\":" + json_string(r.name) + ",\"section\":" + json_string(r.section) +
           ",\"verdict\":" + json_string(verdict_name(r.result.outcome)) + ",\"reason\":" + json_string(r.result.reason) +
           "}";
  }
  const summary s = summarize(reports);
  out += "],\"passed\":" + std::to_string(s.passed) + ",\"failed\":" + std::to_string(s.failed) +
         ",\"skipped\":" + std::to_string(s.skipped) + "}";
  return out;
}

// One case as --list shows it, before it runs: its name, the rule's section, what it checks.
struct case_listing {
  std::string name;
  std::string section;
  std::string checks;
};

// "mailbox.sequence_replay  protocol.md §4.2  a replayed doorbell is a no-op, even with new data"
inline std::string format_listing_line(const case_listing& c) { return c.name + "  " + c.section + "  " + c.checks; }

// {"binding":"mailbox","cases":[{"name":...,"section":...,"checks":...},...]}: the cases keyed as
// format_json keys their reports, so that a reader of both matches them by name; the binding is said
// because a listing holds one binding's cases only.
inline std::string format_listing_json(std::string_view binding, const std::vector<case_listing>& cases) {
  std::string out = "{\"binding\":" + json_string(binding) + ",\"cases\":[";
  for (std::size_t i = 0; i < cases.size(); ++i) {
    const case_listing& c = cases[i];
    if (i != 0) out += ",";
    out += "{\"name\":" + json_string(c.name) + ",\"section\":" + json_string(c.section) + ",\"checks\":" + json_string(c.checks) + "}";
  }
  return out + "]}";
}

}  // namespace vpci::conformance
