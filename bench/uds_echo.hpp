// The uds_echo floor's setup, for the baseline benchmark and for the paired binding-2 benchmark that
// alternates with it: a local stream socket pair, an echo server on its own thread and io_context
// (read 128 bytes, write them back, until the client closes), and the client's one echo as an awaitable
// on the client's io_context. Asio and nothing else: what a round trip between two threads costs here.
#pragma once

#include <array>
#include <cstddef>
#include <thread>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/connect_pair.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "bench_support.hpp"
#include "cpu_placement.hpp"

namespace vpci_bench {

struct uds_echo_pair {
  boost::asio::io_context client_io;
  boost::asio::io_context server_io;
  socket_type client{client_io};
  socket_type server{server_io};
  std::thread server_thread;
  std::array<std::byte, 128> out{};
  std::array<std::byte, 128> in{};
  boost::system::error_code ec;  // of the last echo that failed

  uds_echo_pair() {
    boost::asio::local::connect_pair(client, server);
    out.fill(std::byte{0x5A});
    boost::asio::co_spawn(server_io, serve(), rethrow);
    server_thread = std::thread([this] {
      place_as_server();
      server_io.run();
    });
  }
  uds_echo_pair(const uds_echo_pair&) = delete;
  uds_echo_pair& operator=(const uds_echo_pair&) = delete;
  // The server sees end of stream and its loop returns.
  ~uds_echo_pair() {
    boost::system::error_code ignored;
    client.close(ignored);
    if (server_thread.joinable()) server_thread.join();
  }

  // One round trip from the client's io_context; false (with `ec`) if it failed.
  boost::asio::awaitable<bool> echo() {
    co_await boost::asio::async_write(client, boost::asio::buffer(out),
                                      boost::asio::redirect_error(boost::asio::use_awaitable, ec));
    if (!ec)
      co_await boost::asio::async_read(client, boost::asio::buffer(in),
                                       boost::asio::redirect_error(boost::asio::use_awaitable, ec));
    co_return !ec;
  }

 private:
  boost::asio::awaitable<void> serve() {
    std::array<std::byte, 128> block{};
    boost::system::error_code error;
    for (;;) {
      co_await boost::asio::async_read(server, boost::asio::buffer(block),
                                       boost::asio::redirect_error(boost::asio::use_awaitable, error));
      if (error) co_return;
      co_await boost::asio::async_write(server, boost::asio::buffer(block),
                                        boost::asio::redirect_error(boost::asio::use_awaitable, error));
      if (error) co_return;
    }
  }
};

}  // namespace vpci_bench
