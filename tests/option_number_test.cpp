// The tools' one rule for a number on the command line (examples/option_number.hpp). Found by a review:
// vpci-perf's --duration went through strtod and took " 1" and "0x1p-3", which its whole-number options
// refuse; a fractional value follows the same rule: decimal digits, an optional fraction, nothing else.
#include <boost/test/unit_test.hpp>

#include <cstdint>
#include <string>

#include "given_options.hpp"
#include "option_number.hpp"

BOOST_AUTO_TEST_SUITE(option_number_test)

using vpci::tools::number_syntax;
using vpci::tools::option_decimal;
using vpci::tools::option_number;

BOOST_AUTO_TEST_CASE(a_whole_number_is_digits_only) {
  BOOST_TEST(option_number("42", 0, 100).value_or(0) == 42u);
  for (const std::string text : {"", " 7", "7 ", "-5", "+5", "12x", "0x10", "101"})
    BOOST_TEST(!option_number(text, 0, 100).has_value(), "'" << text << "'");
  BOOST_TEST(option_number("0x10", 0, 100, number_syntax::c_literal).value_or(0) == 16u);
  BOOST_TEST(option_number("010", 0, 100, number_syntax::c_literal).value_or(0) == 8u);
  // Two characters starting with 0 are an octal literal too (the tools' mutation audit: "08" taken as 8).
  BOOST_TEST(option_number("07", 0, 100, number_syntax::c_literal).value_or(99) == 7u);
  BOOST_TEST(!option_number("08", 0, 100, number_syntax::c_literal).has_value());
  BOOST_TEST(option_number("0", 0, 100, number_syntax::c_literal).value_or(99) == 0u);
}

BOOST_AUTO_TEST_CASE(a_fraction_is_decimal_digits_with_an_optional_point) {
  BOOST_TEST(option_decimal("2", 0, 10).value_or(-1) == 2.0);
  BOOST_TEST(option_decimal("0.25", 0, 10).value_or(-1) == 0.25);
  BOOST_TEST(option_decimal("10.0", 0, 10).value_or(-1) == 10.0);
  for (const std::string text : {"", " 1", "1 ", "\t1", "-1", "+1", "0x1p-3", "0x1", "1e3", "1E3", "inf", "nan",
                                 ".5", "5.", "1.2.3", "1,5", "10.5"})
    BOOST_TEST(!option_decimal(text, 0, 10).has_value(), "'" << text << "'");
}

// The tools' one rule for an option given twice (examples/given_options.hpp): vpci-perf and vpci-codec let
// the last one win (--count 5 --count 7 measured 7), vpci-inspect refused it with a rule of its own. Each
// option is taken once; the second is named, with both values when it has them.
BOOST_AUTO_TEST_CASE(an_option_given_twice_is_named_with_both_values) {
  vpci::tools::given_options given;
  BOOST_TEST(!given.add("--count", "5").has_value());
  BOOST_TEST(!given.add("--quiet").has_value());
  BOOST_TEST(!given.add("--role", "pf").has_value());
  BOOST_TEST(given.add("--count", "7").value_or("") == "--count is given twice ('5', then '7')");
  BOOST_TEST(given.add("--count", "5").value_or("") == "--count is given twice ('5', then '5')");
  BOOST_TEST(given.add("--quiet").value_or("") == "--quiet is given twice");
  BOOST_TEST(given.add("--role", "b\noth").value_or("") == "--role is given twice ('pf', then 'b\\x0Aoth')");
  BOOST_TEST(given.has("--role"));
  BOOST_TEST(!given.has("--json"));
}

BOOST_AUTO_TEST_SUITE_END()  // option_number_test
