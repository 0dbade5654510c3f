// vpci/transport/closed_by_peer.hpp (hosted): whether a stream's error says the other end closed it.
// However a socket meets a peer that closed or died, it is one of three errors: an end of file (read at a
// message boundary), a reset (the peer closed with bytes unread) or a broken pipe (a write after the
// close). Code that tells a peer that left from a stream that broke (the vfio-user transport, the tools)
// asks this one rule.
#pragma once

#include <vpci/protocol/cxx20.hpp>

#include <boost/asio/error.hpp>
#include <boost/system/error_code.hpp>

namespace vpci {

[[nodiscard]] inline bool closed_by_peer(const boost::system::error_code& ec) noexcept {
  return ec == boost::asio::error::eof || ec == boost::asio::error::connection_reset ||
         ec == boost::asio::error::broken_pipe;
}

}  // namespace vpci
