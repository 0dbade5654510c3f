// vpci-vfio-user-device: a vpci PF serving one VF as a PCI device over vfio-user, for QEMU's vfio-user-pci
// (docs/vfio-user.md has the QEMU command line), vpci-inspect --vfio-user and vpci's own VF.
//
//   vpci-vfio-user-device SOCKET [--once] [--conformance-profile]
//
// Listens on the AF_UNIX socket SOCKET (replacing a stale one; a path where something else is, or a socket
// another process listens on, is refused and left alone; examples/unix_socket_file.hpp) and removes it at its
// end. It serves one client at a time: a connection that comes while one is served is closed at once (said on
// stderr), so that its client fails at once; --once exits after the first client leaves. The device: vendor
// 0x1234, device 0x5650, class ff0000, a PCI Express endpoint capability (so a guest reaches the extended
// space), INTA; the layout-2 mailbox DVSEC in the extended space, serving the example blocks
// (examples/blocks.hpp: MAC, VF configuration, statistics) with a 100 ms heartbeat. DEVICE_RESET is the
// layout's FLR. SIGINT/SIGTERM end it.
// --conformance-profile serves vpci-conformance's profile instead (examples/conformance/profile.hpp: the
// blocks `vpci-conformance --self` defines) and block 8 as the invalidation trigger (8 bytes, write-only:
// writing a little-endian mask raises those bits for the VF), for
// `vpci-conformance --vfio-user SOCKET --invalidate-block 8`.
// It prints "listening on SOCKET" once the socket accepts connections (what scripts wait for), then the
// mailbox window's offset; "client connected" and "client left" (with the error when serving failed).
#include <array>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/system/error_code.hpp>
#include <boost/system/system_error.hpp>

#include <vpci/asio/vfio_user_device_server.hpp>
#include <vpci/vpci.hpp>

#include "blocks.hpp"
#include "conformance/profile.hpp"
#include "given_options.hpp"
#include "quoted_text.hpp"
#include "unix_socket_file.hpp"

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

constexpr std::uint32_t invalidation_trigger = 8;

struct device {
  boost::asio::io_context& io;
  vfio_user_device_space space{io};
  pf_endpoint<2> pf;  // VF 1 only holds the conformance profile's foreign block
  vfio_user_device_server server{space, [this] { return pf.reset_vf(0); }};

  device(boost::asio::io_context& context, bool conformance_profile) : io(context) {
    const auto header = vf_header();
    auto& model = space.model();
    if (model.device_write(0, header) != no_error ||
        model.set_register_kind(0, 0x100, register_kind::read_only) != no_error ||
        model.set_register_kind(0x04, 2, register_kind::read_write) != no_error ||   // command
        model.set_register_kind(0x3C, 1, register_kind::read_write) != no_error)     // interrupt line
      throw std::runtime_error("config header");
    if (conformance_profile) {
      if (auto e = conformance::define_profile(pf, conformance::default_profile()); !e.empty()) throw std::runtime_error(e);
      // The trigger: the handler only takes the mask; the invalidation is raised on the next turn of the loop,
      // outside the PF's handling of this request.
      auto trigger = std::make_shared<function_block_handler>(
          nullptr, [this](vf_index vf, block_id, std::span<const std::byte> data) {
            if (data.size() != 8) return ntstatus::invalid_parameter;
            const std::uint64_t mask = le::load_u64(data.data());
            boost::asio::post(io, [this, vf, mask] { (void)pf.invalidate(vf, block_mask{mask}); });
            return ntstatus::success;
          });
      if (pf.define_block(0, block_id{invalidation_trigger}, std::vector<std::byte>(8), block_access::write_only, trigger))
        throw std::runtime_error("the invalidation trigger block");
    } else if (pf.register_vf(0, 0x0001) ||
               pf.define<::example::mac_block>(0, {0x02, 0x00, 0x00, 0x00, 0x56, 0x50}, block_access::read_only) ||
               pf.define<::example::vf_config_block>(0, {1, ::example::vf_flags::link_up, 1500, 0, 4}) ||
               pf.define<::example::stats_block>(0, {}, block_access::read_only)) {
      throw std::runtime_error("blocks");
    }
    auto placed = pf.attach_mailbox(0, space);
    if (!placed) throw boost::system::system_error(placed.error(), "attach_mailbox");
    window = *placed;
  }

  std::size_t window{};  // the mailbox's offset in the config space
};

// A client closing its connection is the normal end of serving it, however the socket met it: at a message
// boundary (success), or as an end of file, a broken pipe or a reset (it closed while the device wrote to it,
// or with a request unread). Anything else is a failure, said with its text.
bool client_closed(const boost::system::error_code& ec) { return !ec || vpci::closed_by_peer(ec); }

constexpr const char* usage_text = "usage: vpci-vfio-user-device SOCKET [--once] [--conformance-profile]\n";

// Exit status 2 with the usage, naming what was wrong.
int usage_error(const std::string& why) {
  std::fprintf(stderr, "vpci-vfio-user-device: %s\n%s", why.c_str(), usage_text);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  bool once = false;
  bool conformance_profile = false;
  if (argc == 2 && (std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0)) {
    std::fputs(usage_text, stdout);
    return 0;
  }
  if (argc < 2) return usage_error("no SOCKET given");
  if (argv[1][0] == '-') return usage_error("SOCKET comes first, not " + vpci::tools::quoted_text(argv[1]));
  vpci::tools::given_options given;  // an option given twice is refused, as by the other tools
  for (int i = 2; i < argc; ++i) {
    if (std::strcmp(argv[i], "--once") == 0) once = true;
    else if (std::strcmp(argv[i], "--conformance-profile") == 0) conformance_profile = true;
    else return usage_error("unexpected argument " + vpci::tools::quoted_text(argv[i]));
    if (const auto twice = given.add(argv[i])) return usage_error(*twice);
  }
  const std::string path = argv[1];
  try {
    boost::asio::io_context io;
    device d(io, conformance_profile);
    protocol::acceptor acceptor(io);
    const vpci::tools::unix_socket_file socket_file(acceptor, path);
    bool stopping = false;
    boost::asio::signal_set signals(io, SIGINT, SIGTERM);
    signals.async_wait([&](boost::system::error_code, int) {
      stopping = true;
      acceptor.close();
      io.stop();
    });
    // The heartbeat (and a pass when nothing else wakes it); the vfio-user writes serve the window.
    d.pf.async_serve(0, [](boost::system::error_code) {});
    // Connections are accepted while a client is served too: one that came then would otherwise wait in the
    // listen backlog until its handshake deadline, and fail as a timeout that says nothing of the reason.
    // Closed at once, its client meets the end of the stream.
    // Each connection goes to the server, which owns it: a client that connects as the previous one leaves
    // is served even before the previous one's completion has run, and that completion cannot reach it.
    std::function<void()> accept = [&] {
      acceptor.async_accept([&](boost::system::error_code ec, protocol::socket connection) {
        if (ec) return;
        accept();
        if (d.server.serving()) {
          std::fprintf(stderr, "vpci-vfio-user-device: closed a new connection: it serves one client at a time\n");
          connection.close(ec);
          return;
        }
        std::printf("client connected\n");
        std::fflush(stdout);
        d.server.async_serve(std::move(connection), [&](boost::system::error_code served) {
          if (client_closed(served)) std::printf("client left\n");
          else std::printf("client left: %s\n", served.message().c_str());
          std::fflush(stdout);
          if (once || stopping) io.stop();
        });
      });
    };
    accept();
    std::printf("listening on %s\n", path.c_str());
    std::printf("mailbox window at 0x%zx\n", d.window);
    std::fflush(stdout);
    io.run();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "vpci-vfio-user-device: %s\n", e.what());
    return 1;
  }
  return 0;
}
