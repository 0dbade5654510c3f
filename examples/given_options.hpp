// examples/given_options.hpp: the tools' one rule for an option given twice (vpci-codec, vpci-inspect,
// vpci-perf). It is refused, never settled by the last one winning: of --count 5 --count 7, or --role pf
// --role both, which the user meant cannot be told, and a flag given twice (--json --json) is as likely a
// command line pasted together from two that disagree as a harmless repeat.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "quoted_text.hpp"

namespace vpci::tools {

class given_options {
 public:
  // Records `option` as given, with `value` (none for a flag). If it was given already, records nothing
  // and returns what the usage error says: "--count is given twice ('5', then '7')", or for a flag
  // "--quiet is given twice".
  std::optional<std::string> add(std::string_view option, std::optional<std::string_view> value = std::nullopt) {
    for (const entry& e : given_) {
      if (e.option != option) continue;
      std::string message = std::string(option) + " is given twice";
      if (e.value && value) message += " (" + quoted_text(*e.value) + ", then " + quoted_text(*value) + ")";
      return message;
    }
    given_.push_back({std::string(option), value ? std::optional<std::string>(*value) : std::nullopt});
    return std::nullopt;
  }

  [[nodiscard]] bool has(std::string_view option) const {
    for (const entry& e : given_)
      if (e.option == option) return true;
    return false;
  }

 private:
  struct entry {
    std::string option;
    std::optional<std::string> value;
  };
  std::vector<entry> given_;
};

}  // namespace vpci::tools
