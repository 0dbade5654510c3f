// vpci::test_stream: transfer both ways, chunking, the Nth operation failing (once and from then on),
// orderly and abortive ends from either side, a peer that does not read, cancellation, completions never
// inline, the synchronous forms, and Asio's composed operations over it.
#include <boost/test/unit_test.hpp>

#include <array>
#include <cstddef>
#include <optional>
#include <tuple>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

#include <vpci/transport/test_stream.hpp>

#include "test_support.hpp"

BOOST_AUTO_TEST_SUITE(test_stream_test)

using boost::system::error_code;
using vpci::fault_persistence;
using vpci::test_stream;
using vpci::test::bytes;
using vpci::test::octets;
using vpci::test::pattern;

namespace {

struct outcome {
  std::optional<error_code> ec;
  std::size_t bytes{0};
  auto handler() {
    return [this](error_code e, std::size_t n) {
      ec = e;
      bytes = n;
    };
  }
};

struct pair_fixture {
  boost::asio::io_context io;
  std::pair<test_stream, test_stream> ends{test_stream::make_pair(io.get_executor())};
  test_stream& a{ends.first};
  test_stream& b{ends.second};
  void run() {
    io.restart();
    io.poll();
  }
};

}  // namespace

BOOST_FIXTURE_TEST_CASE(bytes_flow_both_ways_and_completions_are_never_inline, pair_fixture) {
  const bytes sent = pattern(10, 1);
  outcome write;
  a.async_write_some(boost::asio::buffer(sent), write.handler());
  BOOST_TEST(!write.ec.has_value());  // posted, not inline
  std::array<std::byte, 16> in{};
  outcome read;
  b.async_read_some(boost::asio::buffer(in), read.handler());
  BOOST_TEST(!read.ec.has_value());
  run();
  BOOST_REQUIRE(write.ec.has_value());
  BOOST_TEST(!*write.ec);
  BOOST_TEST(write.bytes == 10U);
  BOOST_REQUIRE(read.ec.has_value());
  BOOST_TEST(!*read.ec);
  BOOST_TEST(read.bytes == 10U);
  BOOST_TEST(octets(std::span(in).first(10)) == octets(sent), boost::test_tools::per_element());
  BOOST_TEST(octets(a.written()) == octets(sent), boost::test_tools::per_element());
  BOOST_TEST(b.written().empty());
  // The other way, with the read started first: it waits for the bytes.
  outcome back;
  a.async_read_some(boost::asio::buffer(in), back.handler());
  run();
  BOOST_TEST(!back.ec.has_value());
  BOOST_TEST(a.pending_reads() == 1U);
  const bytes reply = pattern(3, 0x80);
  boost::asio::write(b, boost::asio::buffer(reply));
  run();
  BOOST_REQUIRE(back.ec.has_value());
  BOOST_TEST(back.bytes == 3U);
  BOOST_TEST(octets(std::span(in).first(3)) == octets(reply), boost::test_tools::per_element());
  BOOST_TEST(a.pending_reads() == 0U);
  BOOST_TEST(a.operation_count() == 2U);
  BOOST_TEST(b.operation_count() == 2U);
}

BOOST_FIXTURE_TEST_CASE(reads_are_handed_out_in_chunks_down_to_one_byte, pair_fixture) {
  const bytes sent = pattern(7, 0x10);
  boost::asio::write(a, boost::asio::buffer(sent));
  b.set_read_chunk(1);
  std::array<std::byte, 7> in{};
  outcome read;
  b.async_read_some(boost::asio::buffer(in), read.handler());
  run();
  BOOST_TEST(read.bytes == 1U);
  BOOST_TEST(b.available() == 6U);
  // A composed read still gets everything, one byte per operation.
  outcome all;
  boost::asio::async_read(b, boost::asio::buffer(in.data() + 1, in.size() - 1), all.handler());
  run();
  BOOST_REQUIRE(all.ec.has_value());
  BOOST_TEST(!*all.ec);
  BOOST_TEST(all.bytes == 6U);
  BOOST_TEST(octets(in) == octets(sent), boost::test_tools::per_element());
  BOOST_TEST(b.operation_count() == 7U);
  // Chunks of 3 from a synchronous read.
  boost::asio::write(a, boost::asio::buffer(sent));
  b.set_read_chunk(3);
  BOOST_TEST(b.read_some(boost::asio::buffer(in)) == 3U);
}

BOOST_FIXTURE_TEST_CASE(short_writes_and_composed_writes, pair_fixture) {
  a.set_write_chunk(4);
  const bytes sent = pattern(10, 0x20);
  outcome one;
  a.async_write_some(boost::asio::buffer(sent), one.handler());
  run();
  BOOST_TEST(one.bytes == 4U);
  outcome all;
  boost::asio::async_write(a, boost::asio::buffer(sent), all.handler());
  run();
  BOOST_TEST(all.bytes == 10U);
  BOOST_TEST(b.available() == 14U);
  BOOST_TEST(a.written().size() == 14U);
}

BOOST_FIXTURE_TEST_CASE(the_nth_operation_fails_once, pair_fixture) {
  const error_code injected = boost::asio::error::connection_reset;
  a.fail_at(1, injected);
  const bytes sent = pattern(4);
  BOOST_TEST(a.write_some(boost::asio::buffer(sent)) == 4U);  // operation 0
  outcome failed;
  a.async_write_some(boost::asio::buffer(sent), failed.handler());  // operation 1
  BOOST_TEST(!failed.ec.has_value());
  run();
  BOOST_REQUIRE(failed.ec.has_value());
  BOOST_TEST((*failed.ec == boost::asio::error::connection_reset));
  BOOST_TEST(failed.bytes == 0U);
  BOOST_TEST(b.available() == 4U);  // nothing of the failed write arrived
  error_code ec;
  BOOST_TEST(a.write_some(boost::asio::buffer(sent), ec) == 4U);  // operation 2: once means once
  BOOST_TEST(!ec);
  BOOST_TEST(a.faults_injected() == 1U);
  BOOST_TEST(a.fault_triggered());
  BOOST_TEST(a.operation_count() == 3U);
  BOOST_TEST(!b.fault_triggered());
}

BOOST_FIXTURE_TEST_CASE(failing_from_then_on_is_a_dead_peer_and_disarm_ends_it, pair_fixture) {
  const error_code injected = vpci::errc::device_error;
  b.fail_at(1, injected, fault_persistence::from_then_on);
  boost::asio::write(a, boost::asio::buffer(pattern(8)));
  std::array<std::byte, 2> in{};
  error_code ec;
  BOOST_TEST(b.read_some(boost::asio::buffer(in), ec) == 2U);
  for (int i = 0; i < 3; ++i) {
    outcome r;
    b.async_read_some(boost::asio::buffer(in), r.handler());
    run();
    BOOST_REQUIRE(r.ec.has_value());
    BOOST_TEST((*r.ec == vpci::errc::device_error));  // the chosen error, category kept
  }
  BOOST_TEST(b.read_some(boost::asio::buffer(in), ec) == 0U);
  BOOST_TEST((ec == vpci::errc::device_error));
  BOOST_TEST(b.faults_injected() == 4U);
  b.disarm();
  BOOST_TEST(b.read_some(boost::asio::buffer(in), ec) == 2U);
  BOOST_TEST(!ec);
  BOOST_TEST(b.available() == 4U);  // the failed reads took nothing
}

BOOST_FIXTURE_TEST_CASE(orderly_close_delivers_what_was_written_then_eof, pair_fixture) {
  boost::asio::write(a, boost::asio::buffer(pattern(5)));
  std::array<std::byte, 16> in{};
  outcome own_read;
  a.async_read_some(boost::asio::buffer(in), own_read.handler());
  a.close();
  BOOST_TEST(!a.is_open());
  BOOST_TEST(b.is_open());
  run();
  BOOST_REQUIRE(own_read.ec.has_value());
  BOOST_TEST((*own_read.ec == boost::asio::error::operation_aborted));
  outcome first, second;
  b.async_read_some(boost::asio::buffer(in), first.handler());
  run();
  b.async_read_some(boost::asio::buffer(in), second.handler());
  run();
  BOOST_TEST(first.bytes == 5U);
  BOOST_REQUIRE(second.ec.has_value());
  BOOST_TEST((*second.ec == boost::asio::error::eof));
  // The peer's writes now fail; this end's own operations fail with bad_descriptor.
  error_code ec;
  BOOST_TEST(b.write_some(boost::asio::buffer(pattern(1)), ec) == 0U);
  BOOST_TEST((ec == boost::asio::error::broken_pipe));
  BOOST_TEST(a.write_some(boost::asio::buffer(pattern(1)), ec) == 0U);
  BOOST_TEST((ec == boost::asio::error::bad_descriptor));
  outcome closed_read;
  a.async_read_some(boost::asio::buffer(in), closed_read.handler());
  run();
  BOOST_TEST((*closed_read.ec == boost::asio::error::bad_descriptor));
}

BOOST_FIXTURE_TEST_CASE(shutdown_send_half_closes_and_shutdown_receive_stops_reading, pair_fixture) {
  boost::asio::write(a, boost::asio::buffer(pattern(3)));
  std::array<std::byte, 8> in{};
  outcome waiting;
  b.async_read_some(boost::asio::buffer(in), waiting.handler());
  run();  // takes the 3 bytes
  outcome after;
  b.async_read_some(boost::asio::buffer(in), after.handler());
  a.shutdown(test_stream::shutdown_send);
  run();
  BOOST_TEST(waiting.bytes == 3U);
  BOOST_TEST((*after.ec == boost::asio::error::eof));
  error_code ec;
  BOOST_TEST(a.write_some(boost::asio::buffer(pattern(1)), ec) == 0U);
  BOOST_TEST((ec == boost::asio::error::broken_pipe));
  // The half-closed end still reads.
  boost::asio::write(b, boost::asio::buffer(pattern(2)));
  BOOST_TEST(a.read_some(boost::asio::buffer(in)) == 2U);
  BOOST_TEST(a.is_open());
  // shutdown_receive: this end's reads end, the peer's writes fail.
  b.shutdown(test_stream::shutdown_receive, ec);
  BOOST_TEST(!ec);
  BOOST_TEST(b.read_some(boost::asio::buffer(in), ec) == 0U);
  BOOST_TEST((ec == boost::asio::error::eof));
  boost::asio::write(b, boost::asio::buffer(pattern(1)));  // b still sends
  BOOST_TEST(a.read_some(boost::asio::buffer(in)) == 1U);
}

BOOST_FIXTURE_TEST_CASE(a_pending_read_sees_the_peer_close, pair_fixture) {
  std::array<std::byte, 4> in{};
  outcome read;
  b.async_read_some(boost::asio::buffer(in), read.handler());
  run();
  BOOST_TEST(!read.ec.has_value());
  a.close();
  run();
  BOOST_REQUIRE(read.ec.has_value());
  BOOST_TEST((*read.ec == boost::asio::error::eof));
}

BOOST_FIXTURE_TEST_CASE(reset_fails_the_peer_with_connection_reset_from_either_side, pair_fixture) {
  boost::asio::write(a, boost::asio::buffer(pattern(5)));
  outcome waiting_write;
  b.set_unread_limit(1);
  boost::asio::write(b, boost::asio::buffer(pattern(1)));
  b.async_write_some(boost::asio::buffer(pattern(3)), waiting_write.handler());  // no room: waits
  run();
  BOOST_TEST(!waiting_write.ec.has_value());
  a.reset();
  run();
  BOOST_REQUIRE(waiting_write.ec.has_value());
  BOOST_TEST((*waiting_write.ec == boost::asio::error::connection_reset));
  std::array<std::byte, 8> in{};
  error_code ec;
  BOOST_TEST(b.read_some(boost::asio::buffer(in), ec) == 0U);  // unread bytes are discarded
  BOOST_TEST((ec == boost::asio::error::connection_reset));
  BOOST_TEST(b.available() == 0U);

  pair_fixture other;
  std::array<std::byte, 8> buffer{};
  outcome read;
  other.a.async_read_some(boost::asio::buffer(buffer), read.handler());
  other.b.reset();
  other.run();
  BOOST_REQUIRE(read.ec.has_value());
  BOOST_TEST((*read.ec == boost::asio::error::connection_reset));
}

BOOST_FIXTURE_TEST_CASE(a_peer_that_does_not_read_holds_writes_until_it_reads, pair_fixture) {
  a.set_unread_limit(6);
  const bytes sent = pattern(10, 0x40);
  outcome write;
  boost::asio::async_write(a, boost::asio::buffer(sent), write.handler());
  run();
  BOOST_TEST(!write.ec.has_value());  // 6 bytes taken, the rest waits
  BOOST_TEST(a.written().size() == 6U);
  BOOST_TEST(a.pending_writes() == 1U);
  std::array<std::byte, 3> in{};
  BOOST_TEST(b.read_some(boost::asio::buffer(in)) == 3U);  // room for 3 more
  run();
  BOOST_TEST(a.written().size() == 9U);
  BOOST_TEST(!write.ec.has_value());
  a.set_unread_limit(test_stream::unlimited);  // the peer drains at once
  run();
  BOOST_REQUIRE(write.ec.has_value());
  BOOST_TEST(!*write.ec);
  BOOST_TEST(write.bytes == 10U);
  BOOST_TEST(octets(a.written()) == octets(sent), boost::test_tools::per_element());
  BOOST_TEST(b.available() == 7U);
}

BOOST_FIXTURE_TEST_CASE(per_operation_cancellation_and_cancel, pair_fixture) {
  boost::asio::cancellation_signal signal;
  std::array<std::byte, 4> in{};
  outcome read;
  b.async_read_some(boost::asio::buffer(in), boost::asio::bind_cancellation_slot(signal.slot(), read.handler()));
  run();
  signal.emit(boost::asio::cancellation_type::terminal);
  run();
  BOOST_REQUIRE(read.ec.has_value());
  BOOST_TEST((*read.ec == boost::asio::error::operation_aborted));
  BOOST_TEST(b.pending_reads() == 0U);
  // Emitting again after completion does nothing.
  signal.emit(boost::asio::cancellation_type::terminal);
  // The stream stays usable: the next read gets the bytes.
  outcome next;
  b.async_read_some(boost::asio::buffer(in), boost::asio::bind_cancellation_slot(signal.slot(), next.handler()));
  boost::asio::write(a, boost::asio::buffer(pattern(2)));
  run();
  BOOST_TEST(!*next.ec);
  BOOST_TEST(next.bytes == 2U);
  // cancel() ends every pending operation of this end.
  a.set_unread_limit(1);
  outcome r, w;
  b.async_read_some(boost::asio::buffer(in), r.handler());
  boost::asio::write(a, boost::asio::buffer(pattern(1)));  // b reads it
  run();
  a.async_write_some(boost::asio::buffer(pattern(1)), w.handler());
  a.async_write_some(boost::asio::buffer(pattern(1)), w.handler());
  run();
  BOOST_TEST(a.pending_writes() == 1U);
  a.cancel();
  run();
  BOOST_TEST((*w.ec == boost::asio::error::operation_aborted));
  BOOST_TEST(a.pending_writes() == 0U);
}

BOOST_FIXTURE_TEST_CASE(an_end_destroyed_with_operations_pending_aborts_them, pair_fixture) {
  std::optional<test_stream> c;
  std::optional<test_stream> d;
  {
    auto p = test_stream::make_pair(io.get_executor());
    c.emplace(std::move(p.first));
    d.emplace(std::move(p.second));
  }
  std::array<std::byte, 4> in{};
  outcome read, peer;
  c->async_read_some(boost::asio::buffer(in), read.handler());
  d->async_read_some(boost::asio::buffer(in), peer.handler());
  c.reset();
  run();
  BOOST_TEST((*read.ec == boost::asio::error::operation_aborted));
  BOOST_TEST((*peer.ec == boost::asio::error::eof));
  d.reset();
  run();
}

BOOST_FIXTURE_TEST_CASE(a_pending_operation_is_outstanding_work, pair_fixture) {
  std::array<std::byte, 4> in{};
  outcome read;
  b.async_read_some(boost::asio::buffer(in), read.handler());
  // run() would wait for the read; a close from inside the context ends it.
  boost::asio::post(io, [&] { a.close(); });
  io.run();
  BOOST_TEST((*read.ec == boost::asio::error::eof));
}

BOOST_FIXTURE_TEST_CASE(empty_buffers_complete_at_once, pair_fixture) {
  outcome read;
  b.async_read_some(boost::asio::mutable_buffer(), read.handler());
  run();
  BOOST_TEST(!*read.ec);
  BOOST_TEST(read.bytes == 0U);
  BOOST_TEST(b.read_some(boost::asio::mutable_buffer()) == 0U);
}

BOOST_FIXTURE_TEST_CASE(any_completion_token, pair_fixture) {
  std::array<std::byte, 4> in{};
  auto op = b.async_read_some(boost::asio::buffer(in), boost::asio::deferred);
  std::size_t got = 0;
  std::move(op)([&](error_code, std::size_t n) { got = n; });
  std::tuple<error_code, std::size_t> tuple;
  a.async_write_some(boost::asio::buffer(pattern(4)),
                     boost::asio::as_tuple([&](std::tuple<error_code, std::size_t> t) { tuple = t; }));
  run();
  BOOST_TEST(got == 4U);
  BOOST_TEST(std::get<1>(tuple) == 4U);
}

BOOST_FIXTURE_TEST_CASE(throwing_synchronous_forms, pair_fixture) {
  a.close();
  BOOST_CHECK_THROW(b.write_some(boost::asio::buffer(pattern(1))), boost::system::system_error);
  std::array<std::byte, 1> in{};
  BOOST_CHECK_THROW(b.read_some(boost::asio::buffer(in)), boost::system::system_error);
}

BOOST_AUTO_TEST_CASE(two_executors_one_per_end) {
  boost::asio::io_context first, second;
  auto [a, b] = test_stream::make_pair(first.get_executor(), second.get_executor());
  BOOST_TEST((a.get_executor() == boost::asio::any_io_executor(first.get_executor())));
  BOOST_TEST((b.get_executor() == boost::asio::any_io_executor(second.get_executor())));
  std::array<std::byte, 4> in{};
  outcome read;
  b.async_read_some(boost::asio::buffer(in), read.handler());
  boost::asio::write(a, boost::asio::buffer(pattern(4)));
  first.poll();
  BOOST_TEST(!read.ec.has_value());  // its completion runs on the reading end's executor
  second.poll();
  BOOST_TEST(read.bytes == 4U);
}

BOOST_AUTO_TEST_SUITE_END()  // test_stream_test
