// examples/listed_functions.hpp: a list that names each PCI function once (vpci-inspect: the device lines
// of a dump, the addresses on its command line). A function named twice has no one report: which of two
// dumped devices at one address is it (a dump pasted twice, two machines' dumps in one), and a function
// printed twice reads as two. So the second naming is refused, saying where the first was. Addresses are
// compared as addresses, not as text: 03:00.0 and 0000:03:00.0 are one function.
#pragma once

#include <cstddef>
#include <optional>
#include <vector>

#include <vpci/transport/sysfs_config_space.hpp>

namespace vpci::tools {

class listed_functions {
 public:
  // Lists `address`, named at `where` (the caller's count: a line number, an argument's index). If it is
  // listed already, lists nothing and returns where it was named first.
  std::optional<std::size_t> add(const pci_address& address, std::size_t where) {
    for (const entry& e : entries_)
      if (e.address == address) return e.where;
    entries_.push_back({address, where});
    return std::nullopt;
  }

 private:
  struct entry {
    pci_address address;
    std::size_t where;
  };
  std::vector<entry> entries_;
};

}  // namespace vpci::tools
