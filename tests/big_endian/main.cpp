// Boost.Test's main for the big-endian build (run_big_endian_test.sh): the header-only form, since the
// host's Boost.Test library is built for the host's architecture, not the cross compiler's.
#define BOOST_TEST_MODULE vpci_big_endian
#include <boost/test/included/unit_test.hpp>
