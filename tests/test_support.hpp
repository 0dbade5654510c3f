// Shared by the tests: how BOOST_TEST prints values it has no operator<< for.
#pragma once

#include <cstddef>
#include <ios>
#include <ostream>

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
