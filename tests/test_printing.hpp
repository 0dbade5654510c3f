// How BOOST_TEST prints bytes and vpci enumerations. Needs no vpci header, so a test of one layer (the PF
// mailbox, the config model) includes only that layer; test_support.hpp adds the rest.
#pragma once

#include <cstddef>
#include <cstdint>
#include <ios>
#include <ostream>
#include <type_traits>

#include <boost/test/unit_test.hpp>

namespace boost::test_tools::tt_detail {
template <>
struct print_log_value<std::byte> {
  void operator()(std::ostream& out, std::byte value) {
    const auto flags = out.flags();
    out << "0x" << std::hex << static_cast<unsigned>(value);
    out.flags(flags);
  }
};
}  // namespace boost::test_tools::tt_detail

namespace vpci {
// Any vpci enumeration prints as its number (hex for 32-bit values such as NTSTATUS and message types).
template <class E>
  requires std::is_enum_v<E>
std::ostream& boost_test_print_type(std::ostream& out, const E& value) {
  const auto number = static_cast<std::underlying_type_t<E>>(value);
  const auto flags = out.flags();
  if constexpr (sizeof(E) >= 4 && std::is_unsigned_v<std::underlying_type_t<E>>)
    out << "0x" << std::hex << static_cast<std::uint64_t>(number);
  else
    out << static_cast<std::int64_t>(number);
  out.flags(flags);
  return out;
}
namespace engine {
using vpci::boost_test_print_type;
}
namespace hyperv {
using vpci::boost_test_print_type;
}
namespace config {
using vpci::boost_test_print_type;
}
}  // namespace vpci
