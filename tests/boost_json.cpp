// Boost.JSON's definitions, for the tests that read the tools' JSON: its header-only form is compiled in
// exactly one translation unit of a program.
#include <boost/json/src.hpp>
