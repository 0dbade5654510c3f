// vpci-explore: the exhaustive interleaving explorer's command line.
//   vpci-explore [--binding mailbox|hyperv] [--depth N] [--max-states N] [--no-progress-check]
// Prints the distinct states explored, the transitions, the time; on a violation the shrunk trace, and
// exits 1. Exit 2: bad arguments.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "explore_search.hpp"
#include "mailbox_world.hpp"

namespace {

int usage() {
  std::fprintf(stderr,
               "usage: vpci-explore [--binding mailbox|hyperv] [--depth N] [--max-states N] [--no-progress-check]\n");
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
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const bool has_value = i + 1 < argc;
    if (arg == "--binding" && has_value) binding = argv[++i];
    else if (arg == "--depth" && has_value) limits.depth = static_cast<unsigned>(std::strtoul(argv[++i], nullptr, 10));
    else if (arg == "--max-states" && has_value) limits.max_states = std::strtoull(argv[++i], nullptr, 10);
    else if (arg == "--no-progress-check") limits.check_progress = false;
    else return usage();
  }
  if (limits.depth > 250) return usage();
  if (binding == "mailbox") {
    if (limits.depth == 0) limits.depth = 24;
    return run(vpci::explore::mailbox_world{}, limits, "mailbox");
  }
  return usage();
}
