// Boost.Test's main for the 32-bit build (run_hosted_32bit_test.sh): the header-only form, since the host's
// Boost.Test library is built for the host's architecture, not the cross compiler's.
#define BOOST_TEST_MODULE vpci_hosted_32bit
#include <boost/test/included/unit_test.hpp>
