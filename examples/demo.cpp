// vpci-demo: a PF process and a VF process exchanging configuration blocks, over both bindings.
//
//   1. The config-space mailbox (binding 1) in a shared-memory config space: the PF places the mailbox
//      DVSEC, the VF finds it by walking the extended capability list.
//   2. Hyper-V vPCI messages (binding 2) over a Unix socket.
//
// In each, the VF reads its MAC address and configuration, writes a new configuration, the PF answers
// by refreshing the statistics block and invalidating it, the VF re-reads it, and the VF measures how
// many 128-byte blocks per second the binding moves.
#include <array>
#include <chrono>
#include <cstdio>
#include <csignal>
#include <cstdlib>
#include <memory>
#include <string>

#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <vpci/vpci.hpp>

#include "blocks.hpp"

namespace {

using namespace std::chrono_literals;
using socket_type = boost::asio::local::stream_protocol::socket;
using clock_type = std::chrono::steady_clock;

constexpr vpci::vf_index vf0 = 0;
constexpr vpci::hyperv::wslot vf0_slot{2, 1};
constexpr int throughput_reads = 20000;

// Block 3: the VF says which phase it has finished (the PF moves on to the next binding).
using phase_block = vpci::block<3, std::uint32_t>;

void say(const char* who, const std::string& text) {
  std::printf("[%s] %s\n", who, text.c_str());
  std::fflush(stdout);
}

std::string mac_text(const example::mac_address& mac) {
  char text[32];
  std::snprintf(text, sizeof text, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
  return text;
}

std::string throughput_text(const char* binding, int blocks, clock_type::duration elapsed) {
  const double seconds = std::chrono::duration<double>(elapsed).count();
  char text[160];
  std::snprintf(text, sizeof text, "throughput %-28s %8.0f blocks/s  %7.2f MB/s  (%d x 128-byte reads)", binding,
                blocks / seconds, blocks * 128.0 / seconds / 1e6, blocks);
  return text;
}

// ---- the PF process -------------------------------------------------------------------------------

// The PF's reaction to a VF writing its configuration: refresh the statistics and invalidate them.
class pf_logic final : public vpci::engine::block_handler {
 public:
  explicit pf_logic(vpci::pf_endpoint<4>& pf) : pf_(pf) {}
  vpci::ntstatus on_read(vpci::vf_index vf, vpci::block_id, std::span<std::byte> out, std::size_t& bytes) override {
    const auto config = pf_.blocks().contents(vf, example::vf_config_block::id);
    vpci::le::copy(config, out.data());
    bytes = config.size();
    return vpci::ntstatus::success;
  }
  vpci::ntstatus on_write(vpci::vf_index vf, vpci::block_id, std::span<const std::byte> data) override {
    auto config = example::vf_config_block::decode(data);
    if (!config) return vpci::ntstatus::invalid_parameter;
    if (config->mtu < 68 || config->mtu > 9216) return vpci::ntstatus::invalid_parameter;  // the IHV's own rule
    (void)pf_.blocks().store(vf, example::vf_config_block::id, data);
    say("PF", "VF " + std::to_string(vf) + " set MTU " + std::to_string(config->mtu) + ", VLAN " +
                  std::to_string(config->vlan) + "; refreshing statistics and invalidating block 2");
    ++sequence_;
    example::stats_frame stats{};
    stats.sequence = sequence_;
    for (std::size_t i = 0; i < stats.data.size(); ++i) stats.data[i] = static_cast<std::uint8_t>(sequence_ + i);
    (void)pf_.store<example::stats_block>(vf, stats, /*invalidate=*/false);
    invalidate_pending_ = true;
    return vpci::ntstatus::success;
  }
  // Invalidations are raised after the write's answer went out (outside the handler).
  bool take_invalidate() { return std::exchange(invalidate_pending_, false); }

 private:
  vpci::pf_endpoint<4>& pf_;
  std::uint16_t sequence_{0};
  bool invalidate_pending_{false};
};

void define_blocks(vpci::pf_endpoint<4>& pf, const std::shared_ptr<pf_logic>& logic) {
  (void)pf.define<example::mac_block>(vf0, {0x00, 0x15, 0x5d, 0x2a, 0x00, 0x01}, vpci::block_access::read_only);
  (void)pf.define<example::vf_config_block>(vf0, {1, example::vf_flags::link_up, 1500, 0, 4},
                                            vpci::block_access::read_write, logic);
  (void)pf.define<example::stats_block>(vf0, example::stats_frame{}, vpci::block_access::read_only);
  (void)pf.define<phase_block>(vf0, 0u);
}

int run_pf(vpci::pf_endpoint<4>& pf, pf_logic& logic, boost::asio::signal_set& child_exit,
           boost::asio::local::stream_protocol::acceptor& acceptor, boost::asio::io_context& io, pid_t vf_process) {
  // The VF process's exit (expected at the end of phase 2) also ends phase 1 if it comes early.
  bool vf_exited = false;
  int vf_status = 0;
  child_exit.async_wait([&](boost::system::error_code ec, int) {
    if (ec || waitpid(vf_process, &vf_status, WNOHANG) != vf_process) return;
    vf_exited = true;
    (void)pf.detach_mailbox(vf0);
  });
  // Phase 1: the mailbox in shared memory, served on its doorbell; the handler's invalidations are raised
  // between events.
  say("PF", "serving VF 0 through the config-space mailbox in shared memory");
  bool mailbox_served = false;
  pf.async_serve(vf0, [&](boost::system::error_code) { mailbox_served = true; });
  while (!mailbox_served && io.run_one() != 0) {
    if (logic.take_invalidate()) (void)pf.invalidate(vf0, vpci::block_mask{1u << example::stats_block::id.value()});
    // The phase write was answered in the pass that stored it: the mailbox can be retired.
    if (pf.load<phase_block>(vf0).value() >= 1) (void)pf.detach_mailbox(vf0);
  }
  if (vf_exited) return 1;  // the VF died early
  // Phase 2: Hyper-V messages over the Unix socket (the mailbox was retired: one binding per VF).
  say("PF", "serving VF 0 with Hyper-V vPCI messages over a Unix socket");
  socket_type connection = acceptor.accept();
  (void)pf.blocks().store(vf0, phase_block::id, phase_block::to_buffer(0u).span());
  boost::system::error_code served;
  pf.async_serve(vf0, vf0_slot, connection, [&](boost::system::error_code ec) { served = ec; });
  // The handler asks for invalidations; raise them between events.
  while (io.run_one() != 0)
    if (logic.take_invalidate()) (void)pf.invalidate(vf0, vpci::block_mask{1u << example::stats_block::id.value()});
  say("PF", "VF closed the connection (" + (served ? served.message() : std::string("cleanly")) + ")");
  if (!vf_exited) waitpid(vf_process, &vf_status, 0);
  return WIFEXITED(vf_status) ? WEXITSTATUS(vf_status) : 1;
}

// ---- the VF process -------------------------------------------------------------------------------

template <class Endpoint>
boost::asio::awaitable<void> vf_session(Endpoint& vf, const char* binding) {
  using boost::asio::use_awaitable;
  const auto mac = co_await vf.async_read(example::mac_block{}, use_awaitable);
  say("VF", std::string("MAC address ") + mac_text(mac));
  auto config = co_await vf.async_read(example::vf_config_block{}, use_awaitable);
  say("VF", "configuration v" + std::to_string(config.version) + ": MTU " + std::to_string(config.mtu) + ", " +
                std::to_string(config.queue_pairs) + " queue pairs");
  config.mtu = 9000;
  config.vlan = 100;
  co_await vf.async_write(example::vf_config_block{}, config, use_awaitable);
  say("VF", "wrote MTU 9000, VLAN 100");
  const vpci::block_mask changed = co_await vf.async_wait_invalidate(use_awaitable);
  std::string which;
  for (vpci::block_id id : changed) which += " " + std::to_string(id.value());
  say("VF", "PF invalidated block(s)" + which + "; re-reading");
  const auto stats = co_await vf.async_read(example::stats_block{}, use_awaitable);
  say("VF", "statistics frame sequence " + std::to_string(stats.sequence) + ", first data byte " +
                std::to_string(stats.data[0]));
  config.mtu = 100000;  // outside the IHV's range: the PF's handler refuses it
  boost::system::error_code refused;
  std::array<std::byte, example::vf_config_block::size> raw{};
  example::vf_config_block::encode(config, raw);
  co_await vf.async_write_block(example::vf_config_block::id, raw,
                                boost::asio::redirect_error(use_awaitable, refused));
  say("VF", "MTU 100000 refused by the PF: " + refused.message() + " (NTSTATUS 0x" +
                [&] {
                  char hex[16];
                  std::snprintf(hex, sizeof hex, "%08X", vpci::to_underlying(vpci::to_ntstatus(refused)));
                  return std::string(hex);
                }() + ")");

  std::array<std::byte, 128> block{};
  const auto start = clock_type::now();
  for (int i = 0; i < throughput_reads; ++i) co_await vf.async_read_block(example::stats_block::id, block, use_awaitable);
  say("VF", throughput_text(binding, throughput_reads, clock_type::now() - start));
  co_await vf.async_write(phase_block{}, 1u, use_awaitable);
}

int run_vf(const std::string& shm_name, const std::string& socket_path) {
  boost::asio::io_context io;
  try {
    // Binding 1: find the mailbox in the VF's config space, then use it.
    auto space = vpci::shm_config_space::open(io.get_executor(), shm_name, vpci::shm_role::driver);
    std::array<std::byte, 4096> snapshot{};
    boost::system::error_code ec;
    space.read(0, snapshot, ec);
    auto window = vpci::config::find_mailbox(snapshot);
    if (ec || !window) {
      say("VF", "no vpci mailbox in the config space");
      return 1;
    }
    char found[64];
    std::snprintf(found, sizeof found, "found the mailbox DVSEC at 0x%03zx", *window);
    say("VF", found);
    vpci::vf_endpoint<vpci::shm_config_space> mailbox_vf(space, *window);
    bool ok = false;
    boost::asio::co_spawn(io, vf_session(mailbox_vf, "mailbox over shared memory"),
                          [&](std::exception_ptr e) { ok = !e; });
    io.run();
    if (!ok) return 1;

    // Binding 2: Hyper-V messages over the PF's socket.
    io.restart();
    socket_type socket(io);
    socket.connect(boost::asio::local::stream_protocol::endpoint(socket_path));
    say("VF", "connected to the PF's socket");
    ok = false;
    {
      vpci::vf_message_endpoint<socket_type> message_vf(socket, vf0_slot);
      boost::asio::co_spawn(io, vf_session(message_vf, "Hyper-V messages over a socket"), [&](std::exception_ptr e) {
        ok = !e;
        message_vf.close();  // the endpoint reads until its stream closes
      });
      io.run();
    }
    return ok ? 0 : 1;
  } catch (const std::exception& e) {
    say("VF", std::string("failed: ") + e.what());
    return 1;
  }
}

}  // namespace

int main() {
  const std::string shm_name = "/vpci-demo-" + std::to_string(getpid());
  const std::string socket_path = "/tmp/vpci-demo-" + std::to_string(getpid()) + ".sock";
  boost::asio::io_context io;
  auto device = vpci::shm_config_space::create(io.get_executor(), shm_name, 4096);
  vpci::pf_endpoint<4> pf;
  auto logic = std::make_shared<pf_logic>(pf);
  (void)pf.register_vf(vf0, 0x0101);
  define_blocks(pf, logic);
  auto window = pf.attach_mailbox(vf0, device);
  if (!window) {
    std::fprintf(stderr, "vpci-demo: no room for the mailbox\n");
    return 1;
  }
  ::unlink(socket_path.c_str());
  boost::asio::local::stream_protocol::acceptor acceptor(io, boost::asio::local::stream_protocol::endpoint(socket_path));
  // Installed before the fork, so that an early exit of the VF process is not missed.
  boost::asio::signal_set child_exit(io, SIGCHLD);
  std::fflush(stdout);
  const pid_t child = fork();
  if (child < 0) return 1;
  if (child == 0) {
    // The VF process builds its own io_context; it uses nothing of the PF's but the names.
    std::_Exit(run_vf(shm_name, socket_path));
  }
  const int result = run_pf(pf, *logic, child_exit, acceptor, io, child);
  ::unlink(socket_path.c_str());
  say("PF", result == 0 ? "done" : "the VF process failed");
  return result;
}
