// vpci-conformance: running a selection of cases and listing them. The cases' own waits are each bounded
// (mailbox_port::wait_more, stream_port::receive), so every case ends; a case that throws (a transport
// that reports errors by exception) is a FAIL with the exception's text.
#pragma once

#include <exception>
#include <string>
#include <vector>

#include "report.hpp"

namespace vpci::conformance {

template <class Case, class Context>
std::vector<case_report> run_cases(const std::vector<Case>& cases, Context& ctx, const std::vector<std::string>& patterns,
                                   void (*each)(const case_report&) = nullptr) {
  std::vector<case_report> reports;
  for (const Case& c : cases) {
    if (!selected(c.name, patterns)) continue;
    case_report r{std::string(c.name), std::string(c.section), {}};
    try {
      r.result = c.run(ctx);
    } catch (const std::exception& e) {
      r.result = fail(std::string("exception: ") + e.what());
    }
    if (each) each(r);
    reports.push_back(std::move(r));
  }
  return reports;
}

template <class Case>
std::vector<case_listing> list_cases(const std::vector<Case>& cases, const std::vector<std::string>& patterns) {
  std::vector<case_listing> listed;
  for (const Case& c : cases)
    if (selected(c.name, patterns)) listed.push_back({std::string(c.name), std::string(c.section), std::string(c.checks)});
  return listed;
}

}  // namespace vpci::conformance
