// vpci-explore: the exhaustive interleaving explorer's command line.
//   vpci-explore [--binding mailbox|hyperv] [--depth N] [--max-states N] [--no-progress-check] [budgets]
// Prints the distinct states explored, the transitions, the time; on a violation the shrunk trace, and
// exits 1. Exit 2: bad arguments (a number is taken only as written, by option_number.hpp's rule, and
// within its range: the search says what it explored, so a value it cannot take is refused, not wrapped).
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>

#include "explore_search.hpp"
#include "hyperv_world.hpp"
#include "mailbox_world.hpp"
#include "option_number.hpp"

namespace {

int usage() {
  std::fprintf(stderr,
               "usage: vpci-explore [--binding mailbox|hyperv] [--depth N] [--max-states N] [--no-progress-check]\n"
               "  binding 1 budgets: [--requests N] [--raises N] [--pf-updates N] [--cancels N] [--failed-accesses N]\n"
               "                     [--missed-doorbells N] [--extra-doorbells N] [--reinits N] [--removals N]\n"
               "                     [--signal] [--missed-signals N] [--orphan-us N]\n"
               "  binding 2 budgets: [--requests N] [--raises N] [--cancels N] [--disconnects N]\n");
  return 2;
}

template <class World>
int run(const World& root, vpci::explore::search_limits limits, const char* name) {
  vpci::explore::explorer<World> search(root, limits);
  const vpci::explore::search_result r = search.run();
  std::printf("binding %s, depth %u: %llu distinct states, %llu transitions (%llu revisits), %llu progress checks, "
              "%.2f s%s\n",
              name, limits.depth, static_cast<unsigned long long>(r.states), static_cast<unsigned long long>(r.transitions),
              static_cast<unsigned long long>(r.revisits), static_cast<unsigned long long>(r.progress_checks), r.seconds,
              r.complete ? "" : " (stopped at --max-states)");
  if (r.invariant.empty()) {
    std::printf("no violation\n");
    return 0;
  }
  for (const std::string& line : r.trace) std::printf("%s\n", line.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::string binding = "mailbox";
  vpci::explore::search_limits limits;
  limits.depth = 0;
  vpci::explore::mailbox_scenario mailbox;
  vpci::explore::hyperv_scenario hyperv;
  // Budgets: no more events than the deepest search has steps.
  constexpr std::uint64_t max_depth = 250, max_budget = max_depth;
  // The orphan timeout in microseconds, up to 1000 s (0 included: the engine takes it as 1 ns).
  constexpr std::uint64_t max_orphan_us = 1'000'000'000;
  bool valid = true;
  const auto number = [&](const char* text, std::uint64_t low, std::uint64_t high) {
    const std::optional<std::uint64_t> value = vpci::tools::option_number(text, low, high);
    valid = valid && value.has_value();
    return value.value_or(0);
  };
  const auto count = [&](const char* text) { return static_cast<unsigned>(number(text, 0, max_budget)); };
  for (int i = 1; i < argc && valid; ++i) {
    const std::string arg = argv[i];
    const bool has_value = i + 1 < argc;
    if (arg == "--binding" && has_value) binding = argv[++i];
    else if (arg == "--depth" && has_value) limits.depth = static_cast<unsigned>(number(argv[++i], 1, max_depth));
    else if (arg == "--max-states" && has_value) limits.max_states = number(argv[++i], 1, UINT64_MAX);
    else if (arg == "--no-progress-check") limits.check_progress = false;
    // The environment's budgets (binding 1): how many of each event the search may insert anywhere.
    else if (arg == "--requests" && has_value) mailbox.requests = hyperv.requests = count(argv[++i]);
    else if (arg == "--raises" && has_value) mailbox.raises = hyperv.raises = count(argv[++i]);
    else if (arg == "--disconnects" && has_value) hyperv.disconnects = count(argv[++i]);
    else if (arg == "--pf-updates" && has_value) mailbox.pf_updates = count(argv[++i]);
    else if (arg == "--cancels" && has_value) mailbox.cancels = hyperv.cancels = count(argv[++i]);
    else if (arg == "--failed-accesses" && has_value) mailbox.failed_accesses = count(argv[++i]);
    else if (arg == "--missed-doorbells" && has_value) mailbox.missed_doorbells = count(argv[++i]);
    else if (arg == "--extra-doorbells" && has_value) mailbox.extra_doorbells = count(argv[++i]);
    else if (arg == "--reinits" && has_value) mailbox.reinits = count(argv[++i]);
    else if (arg == "--removals" && has_value) mailbox.removals = count(argv[++i]);
    else if (arg == "--signal") mailbox.signal = true;
    else if (arg == "--missed-signals" && has_value) mailbox.missed_signals = count(argv[++i]);
    else if (arg == "--orphan-us" && has_value) mailbox.orphan_ns = number(argv[++i], 0, max_orphan_us) * 1000;
    else return usage();
  }
  if (!valid) return usage();
  if (binding == "mailbox") {
    if (limits.depth == 0) limits.depth = 24;
    return run(vpci::explore::mailbox_world{mailbox}, limits, "mailbox");
  }
  if (binding == "hyperv") {
    if (limits.depth == 0) limits.depth = 16;
    return run(vpci::explore::hyperv_world{hyperv}, limits, "hyperv");
  }
  return usage();
}
