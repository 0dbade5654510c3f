// vpci::test_stream across threads: a synchronous writer on one thread, held back by a peer that does not
// keep up (unread limit 2 bytes), and a synchronous reader on another; every byte arrives in order, then
// end of stream.
#include <boost/test/unit_test.hpp>

#include <array>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <boost/asio/write.hpp>

#include <vpci/transport/test_stream.hpp>

#include "../test_support.hpp"

BOOST_AUTO_TEST_SUITE(test_stream_threads_test)

using vpci::test_stream;
using vpci::test::bytes;
using vpci::test::octets;

BOOST_AUTO_TEST_CASE(synchronous_forms_wait_for_a_peer_on_another_thread) {
  boost::asio::io_context io;
  auto [a, b] = test_stream::make_pair(io.get_executor());
  a.set_unread_limit(2);
  const bytes sent = vpci::test::pattern(4096, 3);
  std::thread writer([&, &a = a] {
    boost::asio::write(a, boost::asio::buffer(sent));
    a.close();
  });
  bytes received;
  std::array<std::byte, 5> in{};
  boost::system::error_code ec;
  while (!ec) {
    const std::size_t n = b.read_some(boost::asio::buffer(in), ec);
    received.insert(received.end(), in.begin(), in.begin() + static_cast<std::ptrdiff_t>(n));
  }
  writer.join();
  BOOST_TEST((ec == boost::asio::error::eof));
  BOOST_TEST(octets(received) == octets(sent), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_SUITE_END()  // test_stream_threads_test
