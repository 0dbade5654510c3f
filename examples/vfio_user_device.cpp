// vpci-vfio-user-device: a vpci PF serving one VF as a PCI device over vfio-user, for QEMU's vfio-user-pci
// (docs/vfio-user.md has the QEMU command line), vpci-inspect --vfio-user and vpci's own VF.
//
//   vpci-vfio-user-device SOCKET [--once]
//
// Listens on the AF_UNIX socket SOCKET (replacing a stale one) and serves one client at a time; --once
// exits after the first client leaves. The device: vendor 0x1234, device 0x5650, class ff0000, a PCI
// Express endpoint capability (so a guest reaches the extended space), INTA; the layout-2 mailbox DVSEC in
// the extended space, serving the example blocks (examples/blocks.hpp: MAC, VF configuration, statistics)
// with a 100 ms heartbeat. DEVICE_RESET is the layout's FLR. SIGINT/SIGTERM end it.
#include <array>
#include <cstdio>
#include <cstring>
#include <string>

#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/signal_set.hpp>

#include <vpci/asio/vfio_user_device_server.hpp>
#include <vpci/vpci.hpp>

#include "blocks.hpp"

namespace {

using namespace vpci;
using protocol = boost::asio::local::stream_protocol;

void put16(std::array<std::byte, 0x100>& h, std::size_t at, std::uint16_t v) { le::store_u16(h.data() + at, v); }

// A type-0 header with a PCI Express endpoint capability at 0x40 (capability version 2).
std::array<std::byte, 0x100> vf_header() {
  std::array<std::byte, 0x100> h{};
  put16(h, 0x00, 0x1234);                   // vendor ID
  put16(h, 0x02, 0x5650);                   // device ID
  put16(h, 0x06, 0x0010);                   // status: capabilities list
  h[0x0B] = std::byte{0xFF};                // class: unassigned (ff0000)
  h[0x34] = std::byte{0x40};                // capabilities pointer
  h[0x3D] = std::byte{0x01};                // interrupt pin: INTA
  h[0x40] = std::byte{0x10};                // PCI Express capability, last in the list
  put16(h, 0x42, 0x0002);                   // version 2, device/port type 0 (endpoint)
  return h;
}

struct device {
  boost::asio::io_context& io;
  vfio_user_device_space space{io};
  pf_endpoint<1> pf;
  vfio_user_device_server server{space, [this] { return pf.reset_vf(0); }};

  explicit device(boost::asio::io_context& context) : io(context) {
    const auto header = vf_header();
    auto& model = space.model();
    if (model.device_write(0, header) != no_error ||
        model.set_register_kind(0, 0x100, register_kind::read_only) != no_error ||
        model.set_register_kind(0x04, 2, register_kind::read_write) != no_error ||   // command
        model.set_register_kind(0x3C, 1, register_kind::read_write) != no_error)     // interrupt line
      throw std::runtime_error("config header");
    if (pf.register_vf(0, 0x0001) ||
        pf.define<example::mac_block>(0, {0x02, 0x00, 0x00, 0x00, 0x56, 0x50}, block_access::read_only) ||
        pf.define<example::vf_config_block>(0, {1, example::vf_flags::link_up, 1500, 0, 4}) ||
        pf.define<example::stats_block>(0, {}, block_access::read_only))
      throw std::runtime_error("blocks");
    auto window = pf.attach_mailbox(0, space);
    if (!window) throw boost::system::system_error(window.error(), "attach_mailbox");
    std::printf("mailbox window at 0x%zx\n", *window);
  }
};

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || argc > 3 || (argc == 3 && std::strcmp(argv[2], "--once") != 0)) {
    std::fprintf(stderr, "usage: vpci-vfio-user-device SOCKET [--once]\n");
    return 2;
  }
  const std::string path = argv[1];
  const bool once = argc == 3;
  try {
    boost::asio::io_context io;
    device d(io);
    ::unlink(path.c_str());
    protocol::acceptor acceptor(io, protocol::endpoint(path));
    protocol::socket client(io);
    bool stopping = false;
    boost::asio::signal_set signals(io, SIGINT, SIGTERM);
    signals.async_wait([&](boost::system::error_code, int) {
      stopping = true;
      acceptor.close();
      client.close();
      io.stop();
    });
    // The heartbeat (and a pass when nothing else wakes it); the vfio-user writes serve the window.
    d.pf.async_serve(0, [](boost::system::error_code) {});
    std::function<void()> accept = [&] {
      acceptor.async_accept(client, [&](boost::system::error_code ec) {
        if (ec) return;
        std::printf("client connected\n");
        std::fflush(stdout);
        d.server.async_serve(client, [&](boost::system::error_code served) {
          std::printf("client left: %s\n", served ? served.message().c_str() : "closed");
          std::fflush(stdout);
          client = protocol::socket(io);
          if (once || stopping) {
            io.stop();
            return;
          }
          accept();
        });
      });
    };
    accept();
    std::printf("listening on %s\n", path.c_str());
    std::fflush(stdout);
    io.run();
    ::unlink(path.c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "vpci-vfio-user-device: %s\n", e.what());
    return 1;
  }
  return 0;
}
