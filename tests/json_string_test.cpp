// The tools' JSON string literal (examples/json_string.hpp): escapes, and UTF-8 as RFC 8259 requires it.
// Found by a review: bytes from 0x80 up were copied unchanged, so a path holding an invalid UTF-8 byte made
// --json output that JSON readers refuse (python's json.load). Well-formed sequences pass through; every
// byte that starts none is \ufffd.
#include <boost/test/unit_test.hpp>

#include <string>

#include "json_string.hpp"

BOOST_AUTO_TEST_SUITE(json_string_test)

using vpci::tools::json_string;

BOOST_AUTO_TEST_CASE(quotes_backslashes_and_control_characters_are_escaped) {
  BOOST_TEST(json_string("") == "\"\"");
  BOOST_TEST(json_string("a\"b\\c") == "\"a\\\"b\\\\c\"");
  BOOST_TEST(json_string(std::string("\n\x1f\0x", 4)) == "\"\\u000a\\u001f\\u0000x\"");
  BOOST_TEST(json_string("\x7f~") == "\"\x7f~\"");
}

BOOST_AUTO_TEST_CASE(well_formed_utf8_passes_through) {
  // U+00E9, U+20AC, U+10348, and the edges: U+0080, U+07FF, U+0800, U+D7FF, U+E000, U+FFFF, U+10000, U+10FFFF.
  for (const std::string text : {"caf\xc3\xa9", "\xe2\x82\xac", "\xf0\x90\x8d\x88", "\xc2\x80", "\xdf\xbf",
                                 "\xe0\xa0\x80", "\xed\x9f\xbf", "\xee\x80\x80", "\xef\xbf\xbf", "\xf0\x90\x80\x80",
                                 "\xf4\x8f\xbf\xbf"}) {
    BOOST_TEST(json_string(text) == "\"" + text + "\"");
  }
}

BOOST_AUTO_TEST_CASE(every_byte_that_starts_no_sequence_is_a_replacement_character) {
  BOOST_TEST(json_string("/tmp/a\xff") == "\"/tmp/a\\ufffd\"");
  BOOST_TEST(json_string("\x80x\xbf") == "\"\\ufffdx\\ufffd\"");           // lone continuation bytes
  BOOST_TEST(json_string("\xc0\xaf") == "\"\\ufffd\\ufffd\"");              // overlong '/'
  BOOST_TEST(json_string("\xe0\x80\xaf") == "\"\\ufffd\\ufffd\\ufffd\"");  // overlong, three bytes
  BOOST_TEST(json_string("\xed\xa0\x80") == "\"\\ufffd\\ufffd\\ufffd\"");  // the surrogate U+D800
  BOOST_TEST(json_string("\xf4\x90\x80\x80") == "\"\\ufffd\\ufffd\\ufffd\\ufffd\"");  // above U+10FFFF
  BOOST_TEST(json_string("\xf5\xfe") == "\"\\ufffd\\ufffd\"");
  // A sequence cut short, by the end or by another character: its bytes each, and what follows as it is.
  BOOST_TEST(json_string("\xe2\x82") == "\"\\ufffd\\ufffd\"");
  BOOST_TEST(json_string("\xe2\x82\"\xc3\xa9") == "\"\\ufffd\\ufffd\\\"\xc3\xa9\"");
  // The third and fourth bytes are continuation bytes too (the tools' mutation audit: only the second was
  // checked by a test): invalid UTF-8 never reaches --json output.
  BOOST_TEST(json_string("\xe2\x82\xc0") == "\"\\ufffd\\ufffd\\ufffd\"");
  BOOST_TEST(json_string("\xf0\x9f\x98\xff") == "\"\\ufffd\\ufffd\\ufffd\\ufffd\"");
  BOOST_TEST(json_string("\xf0\x9f\x98\x80") == "\"\xf0\x9f\x98\x80\"");
}

BOOST_AUTO_TEST_SUITE_END()  // json_string_test
