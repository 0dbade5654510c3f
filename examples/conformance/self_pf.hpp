// vpci-conformance --self: vpci's own PF, started by the tool, with the conformance profile's blocks.
// - Binding 1: pf_endpoint serving two VF windows over memory_config_space in this thread (the window is
//   served inside each VF write, as a device's write hook would); a restart replaces the PF endpoint by a
//   new one that attaches to the same windows in place (a new epoch), as a restarted PF process does.
// - Binding 2: pf_endpoint serving each stream the tool opens on a thread of its own: a Unix socket pair,
//   or (with a TCP address) a loopback TCP connection to a listener of the PF's, one per VF, so the tool's
//   TCP path (connect_tcp) is what carries the cases.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <deque>
#include <future>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>

#include <sys/socket.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/post.hpp>
#include <boost/system/system_error.hpp>

#include <vpci/asio/pf_endpoint.hpp>
#include <vpci/transport/memory_config_space.hpp>

#include "../quoted_text.hpp"
#include "mailbox_port.hpp"
#include "profile.hpp"
#include "socket_stream.hpp"

namespace vpci::conformance {

inline constexpr std::uint16_t self_vendor_id = 0x1AF4;

class self_mailbox_pf final : public pf_control {
 public:
  using endpoint = pf_endpoint<4>;

  explicit self_mailbox_pf(profile p) : profile_(std::move(p)) {
    for (auto& space : spaces_) {
      const std::array<std::byte, 2> vendor{static_cast<std::byte>(self_vendor_id & 0xFF), static_cast<std::byte>(self_vendor_id >> 8)};
      (void)space->device_write(0, vendor);
    }
  }

  // Starts (or restarts) the PF. Returns an error text.
  std::string start() {
    pf_.reset();  // the old PF process "exits": its windows stay as they are
    pf_ = std::make_unique<endpoint>();
    if (auto e = define_profile(*pf_, profile_); !e.empty()) return e;
    mailbox_options options;
    options.heartbeat = std::chrono::milliseconds(0);  // served from the write hook: no serving loop to beat
    for (const vf_index vf : {vf_index{0}, vf_index{1}})
      if (auto at = pf_->attach_mailbox(vf, *spaces_[vf], options); !at) return "attach_mailbox: " + at.error().message();
    return {};
  }

  memory_config_space& space(int vf) { return *spaces_[static_cast<std::size_t>(vf)]; }
  endpoint& pf() { return *pf_; }

  [[nodiscard]] std::string can_invalidate() const override { return {}; }
  [[nodiscard]] std::string can_restart() const override { return {}; }
  std::string invalidate(int vf, std::uint64_t mask) override {
    auto ec = pf_->invalidate(static_cast<vf_index>(vf), block_mask{mask});
    return ec ? ec.message() : std::string{};
  }
  std::string restart() override { return start(); }
  [[nodiscard]] std::string can_flr() const override { return {}; }
  std::string flr(int vf) override {
    auto ec = pf_->reset_vf(static_cast<vf_index>(vf));
    return ec ? ec.message() : std::string{};
  }

 private:
  profile profile_;
  boost::asio::io_context io_;
  std::array<std::unique_ptr<memory_config_space>, 2> spaces_{std::make_unique<memory_config_space>(io_, 4096),
                                                               std::make_unique<memory_config_space>(io_, 4096)};
  std::unique_ptr<endpoint> pf_;
};

// The binding-2 PF on its own thread; every connect() is a new stream (a socket pair) it serves.
class self_stream_pf final : public stream_target, public pf_control {
 public:
  using endpoint = pf_endpoint<4>;
  using socket = boost::asio::local::stream_protocol::socket;

  // `wslots`: VF 0's and VF 1's, as the tool's --wslot / --wslot2 give them. `tcp_host`: serve over TCP,
  // listening on that host (any free port, one listener per VF), instead of socket pairs.
  explicit self_stream_pf(profile p, std::array<hyperv::wslot, 2> wslots = default_wslots,
                          std::chrono::nanoseconds stall = std::chrono::seconds(5), std::string tcp_host = {})
      : wslots_(wslots), stall_(stall) {
    setup_error_ = define_profile(pf_, p);
    if (setup_error_.empty() && !tcp_host.empty()) {
      try {
        boost::asio::ip::tcp::resolver resolver(io_);
        const auto where = *resolver.resolve(tcp_host, "0").begin();
        for (std::size_t vf = 0; vf < 2; ++vf) {
          acceptors_.emplace_back(io_, where.endpoint());
          const auto bound = acceptors_.back().local_endpoint();
          addresses_[vf] = (bound.address().is_v6() ? "[" + bound.address().to_string() + "]" : bound.address().to_string()) +
                           ":" + std::to_string(bound.port());
        }
      } catch (const boost::system::system_error& e) {
        // The host is the user's text, quoted; the error's own text without Boost's source location.
        setup_error_ = "listening on " + vpci::tools::quoted_text(tcp_host) + ": " + e.code().message();
      }
    }
    thread_ = std::thread([this] { io_.run(); });
  }
  self_stream_pf(const self_stream_pf&) = delete;
  self_stream_pf& operator=(const self_stream_pf&) = delete;
  ~self_stream_pf() override {
    on_pf([this] {
      boost::system::error_code ignored;
      for (auto& s : sockets_) s.close(ignored);
      for (auto& s : tcp_sockets_) s.close(ignored);
      for (auto& a : acceptors_) a.close(ignored);
      return std::string{};
    });
    work_.reset();
    io_.stop();
    thread_.join();
  }

  [[nodiscard]] const std::string& setup_error() const { return setup_error_; }

  // The address VF `vf`'s listener is bound to (TCP only).
  [[nodiscard]] const std::string& address(int vf) const { return addresses_[static_cast<std::size_t>(vf)]; }

  std::unique_ptr<stream_port> connect(int vf, std::string& error) override {
    if (!acceptors_.empty()) return connect_over_tcp(vf, error);
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0) {
      error = std::strerror(errno);
      return nullptr;
    }
    error = on_pf([this, vf, fd = fds[1]] {
      sockets_.emplace_back(io_);
      socket& s = sockets_.back();
      boost::system::error_code ec;
      s.assign(boost::asio::local::stream_protocol(), fd, ec);
      if (ec) {  // the socket did not take the descriptor (the reactor refused it): it is still this one's
        ::close(fd);
        sockets_.pop_back();
        return ec.message();
      }
      pf_stream_options<steady_timing> options;
      options.stall_timeout = stall_;
      pf_.async_serve(static_cast<vf_index>(vf), wslots_[static_cast<std::size_t>(vf)], s, options, [](boost::system::error_code) {});
      return std::string{};
    });
    if (!error.empty()) {
      ::close(fds[0]);
      return nullptr;
    }
    return std::make_unique<socket_stream_port>(fds[0]);
  }
  [[nodiscard]] bool has_second() const override { return true; }

  [[nodiscard]] std::string can_invalidate() const override { return {}; }
  [[nodiscard]] std::string can_restart() const override { return "--self on binding 2 does not restart its PF"; }
  [[nodiscard]] std::string can_flr() const override { return "binding 2 has no window to reset (an FLR ends the VF's streams)"; }
  std::string invalidate(int vf, std::uint64_t mask) override {
    return on_pf([this, vf, mask] {
      auto ec = pf_.invalidate(static_cast<vf_index>(vf), block_mask{mask});
      return ec ? ec.message() : std::string{};
    });
  }
  std::string restart() override { return can_restart(); }

 private:
  // Runs `f` on the PF's thread and waits for its result.
  template <class F>
  std::string on_pf(F f) {
    std::promise<std::string> done;
    auto result = done.get_future();
    boost::asio::post(io_, [&] { done.set_value(f()); });
    return result.get();
  }

  // The PF accepts one connection on VF `vf`'s listener and serves it; the tool connects with connect_tcp.
  std::unique_ptr<stream_port> connect_over_tcp(int vf, std::string& error) {
    auto accepted = std::make_shared<std::promise<std::string>>();
    auto done = accepted->get_future();
    error = on_pf([this, vf, accepted] {
      acceptors_[static_cast<std::size_t>(vf)].async_accept(
          [this, vf, accepted](boost::system::error_code ec, boost::asio::ip::tcp::socket s) {
            if (ec) return accepted->set_value("accept: " + ec.message());
            boost::system::error_code ignored;  // small answers the VF waits for: no Nagle delay
            s.set_option(boost::asio::ip::tcp::no_delay(true), ignored);
            tcp_sockets_.push_back(std::move(s));
            pf_stream_options<steady_timing> options;
            options.stall_timeout = stall_;
            pf_.async_serve(static_cast<vf_index>(vf), wslots_[static_cast<std::size_t>(vf)], tcp_sockets_.back(), options,
                            [](boost::system::error_code) {});
            accepted->set_value({});
          });
      return std::string{};
    });
    if (!error.empty()) return nullptr;
    auto port = connect_tcp(addresses_[static_cast<std::size_t>(vf)], error);
    if (!port) {
      on_pf([this] {
        boost::system::error_code ignored;
        for (auto& a : acceptors_) a.cancel(ignored);
        return std::string{};
      });
    }
    if (auto e = done.get(); !e.empty() && error.empty()) error = e;
    return error.empty() ? std::move(port) : nullptr;
  }

  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_{io_.get_executor()};
  std::list<socket> sockets_;  // every stream served, kept until the PF ends
  std::deque<boost::asio::ip::tcp::acceptor> acceptors_;  // TCP only: VF 0's, VF 1's
  std::list<boost::asio::ip::tcp::socket> tcp_sockets_;
  std::array<std::string, 2> addresses_{};
  endpoint pf_;
  std::array<hyperv::wslot, 2> wslots_;
  std::chrono::nanoseconds stall_;
  std::string setup_error_;
  std::thread thread_;
};

}  // namespace vpci::conformance
