// vpci-demo: a PF process and a VF process exchanging configuration blocks, over both bindings.
//
// It first prints what it builds (the VFs, each block with its ID, name, size and access, the transports),
// then:
//   1. The config-space mailbox (binding 1), one shared-memory config space per VF: the PF places the
//      mailbox DVSEC, the VF driver finds it by walking the extended capability list. Two VFs are served:
//      VF 1 shows isolation (its own MAC, its own configuration; VF 0's private block is refused to it).
//   2. Hyper-V vPCI messages (binding 2) over a Unix socket, for VF 0.
//
// In each, VF 0 reads its MAC address and configuration, writes a new configuration, the PF answers by
// refreshing the statistics block and invalidating it, the VF re-reads it, and the VF measures how many
// 128-byte blocks per second the binding moves. What VF 0 wrote over the mailbox is still there over the
// socket: the PF keeps one block store per VF, and both bindings are only ways into it.
//
// Ctrl-C (SIGINT or SIGTERM) removes the shared memory and the socket it made and ends it as the signal ends
// any program. A VF process whose PF is gone says what failed.
#include <array>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include <signal.h>
#include <sys/mman.h>
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
#include "shm_mailbox_driver.hpp"

namespace {

using namespace std::chrono_literals;
using socket_type = boost::asio::local::stream_protocol::socket;
using clock_type = std::chrono::steady_clock;

constexpr vpci::vf_index vf0 = 0;
constexpr vpci::vf_index vf1 = 1;
constexpr vpci::hyperv::wslot vf0_slot{2, 1};
constexpr int throughput_reads = 20000;

// Block 3: the VF says which phase it has finished (the PF moves on to the next binding).
using phase_block = vpci::block<3, std::uint32_t>;
// Block 4: a block only VF 0 has (say, a per-VF key): any other VF asking for it is refused.
using private_block = vpci::block<4, std::uint64_t>;

// What the demo defines, printed before it builds anything.
struct block_label {
  std::uint32_t id;
  const char* name;
  std::size_t size;
  const char* who;
  const char* access;
};
constexpr block_label block_labels[] = {
    {example::mac_block::id_value, "mac_address", example::mac_block::size, "VF 0 and VF 1 (each its own)", "read-only"},
    {example::vf_config_block::id_value, "vf_config", example::vf_config_block::size, "VF 0 and VF 1 (each its own)",
     "read-write, the PF's handler checks the MTU"},
    {example::stats_block::id_value, "stats_frame", example::stats_block::size, "VF 0 and VF 1", "read-only, refreshed by the PF"},
    {phase_block::id_value, "phase", phase_block::size, "VF 0 and VF 1", "read-write (the VF reports progress)"},
    {private_block::id_value, "vf0_private", private_block::size, "VF 0 only", "read-only"},
};

std::string block_name(vpci::block_id id) {
  for (const auto& b : block_labels)
    if (b.id == id.value()) return "block " + std::to_string(b.id) + " (" + b.name + ")";
  return "block " + std::to_string(id.value());
}

void say(const char* who, const std::string& text) {
  std::printf("[%s] %s\n", who, text.c_str());
  std::fflush(stdout);
}

std::string mac_text(const example::mac_address& mac) {
  char text[32];
  std::snprintf(text, sizeof text, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
  return text;
}

void print_plan(const std::string& shm_name, const std::string& socket_path) {
  std::printf("vpci-demo builds:\n");
  std::printf("  a PF endpoint with VF 0 (routing ID 0101) and VF 1 (routing ID 0102), and these blocks:\n");
  std::printf("    %-3s %-12s %-5s %-30s %s\n", "ID", "name", "bytes", "defined for", "access");
  for (const auto& b : block_labels) std::printf("    %-3u %-12s %-5zu %-30s %s\n", b.id, b.name, b.size, b.who, b.access);
  std::printf("  binding 1: a 4096-byte shared-memory config space per VF (%s-vf0, %s-vf1), the mailbox DVSEC\n"
              "             placed in each; the VF finds it by walking the extended capabilities\n",
              shm_name.c_str(), shm_name.c_str());
  std::printf("  binding 2: a Unix socket (%s) carrying Hyper-V vPCI messages for VF 0 (wslot device %u function %u)\n",
              socket_path.c_str(), vf0_slot.device, vf0_slot.function);
  std::printf("  then it forks: the child process is the VF driver side, the parent the PF\n\n");
  std::fflush(stdout);
}

// What the PF process makes (the two shared-memory config spaces and the socket), removed when SIGINT or
// SIGTERM (Ctrl-C) ends it, which then ends as the signal ends any program: every interrupted run left three
// behind. The names are in fixed buffers, filled before the handler is installed, so that the handler calls
// only async-signal-safe functions (shm_unlink is an unlink under /dev/shm).
struct made_names {
  char shm_vf0[64];
  char shm_vf1[64];
  char socket[108];
};
made_names made{};

void remove_made_and_end(int signal_number) {
  ::shm_unlink(made.shm_vf0);
  ::shm_unlink(made.shm_vf1);
  ::unlink(made.socket);
  std::signal(signal_number, SIG_DFL);
  std::raise(signal_number);
}

void remove_on_interrupt(const std::string& shm_name, const std::string& socket_path) {
  std::snprintf(made.shm_vf0, sizeof made.shm_vf0, "%s-vf0", shm_name.c_str());
  std::snprintf(made.shm_vf1, sizeof made.shm_vf1, "%s-vf1", shm_name.c_str());
  std::snprintf(made.socket, sizeof made.socket, "%s", socket_path.c_str());
  struct sigaction action {};
  action.sa_handler = remove_made_and_end;
  sigemptyset(&action.sa_mask);
  for (const int signal_number : {SIGINT, SIGTERM}) ::sigaction(signal_number, &action, nullptr);
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
                  std::to_string(config->vlan) + "; refreshing its " + block_name(example::stats_block::id) +
                  " and invalidating it");
    ++sequence_;
    example::stats_frame stats{};
    stats.sequence = sequence_;
    for (std::size_t i = 0; i < stats.data.size(); ++i) stats.data[i] = static_cast<std::uint8_t>(sequence_ + i);
    (void)pf_.store<example::stats_block>(vf, stats, /*invalidate=*/false);
    invalidate_pending_[vf] = true;
    return vpci::ntstatus::success;
  }
  // Invalidations are raised after the write's answer went out (outside the handler), for the VF that
  // wrote only.
  void raise_invalidations() {
    for (vpci::vf_index vf = 0; vf < invalidate_pending_.size(); ++vf)
      if (std::exchange(invalidate_pending_[vf], false)) (void)pf_.invalidate(vf, example::stats_block::mask());
  }

 private:
  vpci::pf_endpoint<4>& pf_;
  std::uint16_t sequence_{0};
  std::array<bool, 4> invalidate_pending_{};
};

void define_blocks(vpci::pf_endpoint<4>& pf, const std::shared_ptr<pf_logic>& logic) {
  for (vpci::vf_index vf : {vf0, vf1}) {
    const auto last = static_cast<std::uint8_t>(vf + 1);
    (void)pf.define<example::mac_block>(vf, {0x00, 0x15, 0x5d, 0x2a, 0x00, last}, vpci::block_access::read_only);
    (void)pf.define<example::vf_config_block>(vf, {1, example::vf_flags::link_up, 1500, 0, 4},
                                              vpci::block_access::read_write, logic);
    (void)pf.define<example::stats_block>(vf, example::stats_frame{}, vpci::block_access::read_only);
    (void)pf.define<phase_block>(vf, 0u);
  }
  (void)pf.define<private_block>(vf0, 0x5ec7e7u, vpci::block_access::read_only);
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
  say("PF", "serving VF 0 and VF 1 through their config-space mailboxes in shared memory");
  bool mailbox_served = false;
  bool vf1_served = false;
  pf.async_serve(vf0, [&](boost::system::error_code) { mailbox_served = true; });
  pf.async_serve(vf1, [&](boost::system::error_code) { vf1_served = true; });
  while (!(mailbox_served && vf1_served) && io.run_one() != 0) {
    logic.raise_invalidations();
    // A phase write was answered in the pass that stored it: that mailbox can be retired.
    for (vpci::vf_index vf : {vf0, vf1}) {
      // Handled here, not by result::value(): its failure path records this file's path, which would then
      // be in every vpci-demo built. The block is defined for both VFs above, so a failure is the PF's own.
      const auto phase = pf.load<phase_block>(vf);
      if (!phase) {
        say("PF", "cannot read VF " + std::to_string(vf) + "'s phase block: " + phase.error().message());
        if (!vf_exited) {
          ::kill(vf_process, SIGTERM);
          waitpid(vf_process, &vf_status, 0);
        }
        return 1;
      }
      if (*phase >= 1) (void)pf.detach_mailbox(vf);
    }
  }
  if (vf_exited) return 1;  // the VF died early
  // Phase 2: Hyper-V messages over the Unix socket (the mailbox was retired: one binding per VF).
  say("PF", "serving VF 0 with Hyper-V vPCI messages over a Unix socket. VF 0's blocks are the ones it used over "
            "the mailbox: the PF keeps one block store per VF and every binding reads and writes that store, so "
            "the MTU VF 0 wrote over the mailbox is what it reads over the socket");
  socket_type connection = acceptor.accept();
  (void)pf.blocks().store(vf0, phase_block::id, phase_block::to_buffer(0u).span());
  boost::system::error_code served;
  pf.async_serve(vf0, vf0_slot, connection, [&](boost::system::error_code ec) { served = ec; });
  // The handler asks for invalidations; raise them between events.
  while (io.run_one() != 0) logic.raise_invalidations();
  say("PF", "VF closed the connection (" + (served ? served.message() : std::string("cleanly")) + ")");
  if (!vf_exited) waitpid(vf_process, &vf_status, 0);
  return WIFEXITED(vf_status) ? WEXITSTATUS(vf_status) : 1;
}

// ---- the VF process -------------------------------------------------------------------------------

template <class Endpoint>
boost::asio::awaitable<void> vf_session(Endpoint& vf, const char* binding) {
  using boost::asio::use_awaitable;
  const auto mac = co_await vf.async_read(example::mac_block{}, use_awaitable);
  say("VF 0", block_name(example::mac_block::id) + ": " + mac_text(mac));
  auto config = co_await vf.async_read(example::vf_config_block{}, use_awaitable);
  say("VF 0", block_name(example::vf_config_block::id) + ": v" + std::to_string(config.version) + ", MTU " +
                std::to_string(config.mtu) + ", VLAN " + std::to_string(config.vlan) + ", " +
                std::to_string(config.queue_pairs) + " queue pairs" +
                (config.mtu == 9000 ? " (what VF 0 wrote over the mailbox: the PF's block store outlives the binding)"
                                    : ""));
  config.mtu = 9000;
  config.vlan = 100;
  co_await vf.async_write(example::vf_config_block{}, config, use_awaitable);
  say("VF 0", "wrote MTU 9000, VLAN 100");
  const vpci::block_mask changed = co_await vf.async_wait_invalidate(use_awaitable);
  std::string which;
  for (vpci::block_id id : changed) which += " " + std::to_string(id.value());
  say("VF 0", "PF invalidated block(s)" + which + "; re-reading");
  const auto stats = co_await vf.async_read(example::stats_block{}, use_awaitable);
  say("VF 0", block_name(example::stats_block::id) + ": sequence " + std::to_string(stats.sequence) + ", first data byte " +
                std::to_string(stats.data[0]));
  config.mtu = 100000;  // outside the IHV's range: the PF's handler refuses it
  boost::system::error_code refused;
  std::array<std::byte, example::vf_config_block::size> raw{};
  example::vf_config_block::encode(config, raw);
  co_await vf.async_write_block(example::vf_config_block::id, raw,
                                boost::asio::redirect_error(use_awaitable, refused));
  say("VF 0", "MTU 100000 refused by the PF: " + refused.message() + " (NTSTATUS 0x" +
                [&] {
                  char hex[16];
                  std::snprintf(hex, sizeof hex, "%08X", vpci::to_underlying(vpci::to_ntstatus(refused)));
                  return std::string(hex);
                }() + ")");

  std::array<std::byte, 128> block{};
  const auto start = clock_type::now();
  for (int i = 0; i < throughput_reads; ++i) co_await vf.async_read_block(example::stats_block::id, block, use_awaitable);
  say("VF 0", throughput_text(binding, throughput_reads, clock_type::now() - start));
  co_await vf.async_write(phase_block{}, 1u, use_awaitable);
}

// VF 1 beside VF 0: its own MAC and configuration, and VF 0's private block refused.
template <class Endpoint>
boost::asio::awaitable<void> vf1_isolation(Endpoint& vf) {
  using boost::asio::use_awaitable;
  const auto mac = co_await vf.async_read(example::mac_block{}, use_awaitable);
  say("VF 1", block_name(example::mac_block::id) + ": " + mac_text(mac) + " (VF 0 has its own)");
  auto config = co_await vf.async_read(example::vf_config_block{}, use_awaitable);
  config.mtu = 1280;
  co_await vf.async_write(example::vf_config_block{}, config, use_awaitable);
  say("VF 1", "wrote MTU 1280 to its own " + block_name(example::vf_config_block::id) + "; VF 0's is untouched");
  std::array<std::byte, private_block::size> secret{};
  boost::system::error_code refused;
  co_await vf.async_read_block(private_block::id, secret, boost::asio::redirect_error(use_awaitable, refused));
  say("VF 1", "reading VF 0's " + block_name(private_block::id) + ": " + refused.message() +
                  " (a block defined for another VF only is STATUS_ACCESS_DENIED)");
  co_await vf.async_write(phase_block{}, 1u, use_awaitable);
}

// The completion of a VF coroutine: whether it succeeded, and what failed when it did not (the PF process
// may have died: the error says so), instead of a silent exit status.
auto record_outcome(const char* who, bool& ok) {
  return [who, &ok](std::exception_ptr failure) {
    ok = !failure;
    if (!failure) return;
    try {
      std::rethrow_exception(failure);
    } catch (const std::exception& e) {
      say(who, std::string("failed: ") + e.what());
    }
  };
}

int run_vf(const std::string& shm_name, const std::string& socket_path) {
  boost::asio::io_context io;
  try {
    // Binding 1: find the mailbox in each VF's config space, then use it.
    // Each VF is its mailbox's only driver (shm_mailbox_driver.hpp).
    auto space = vpci::tools::open_vf_mailbox_space(io.get_executor(), shm_name + "-vf0");
    auto space1 = vpci::tools::open_vf_mailbox_space(io.get_executor(), shm_name + "-vf1");
    const auto find = [](vpci::shm_config_space& s) -> std::optional<std::size_t> {
      std::array<std::byte, 4096> snapshot{};
      boost::system::error_code ec;
      s.read(0, snapshot, ec);
      auto window = vpci::config::find_mailbox(snapshot);
      if (ec || !window) return std::nullopt;
      return *window;
    };
    const auto window = find(space);
    const auto window1 = find(space1);
    if (!window || !window1) {
      say("VF 0", "no vpci mailbox in the config space");
      return 1;
    }
    char found[64];
    std::snprintf(found, sizeof found, "found the mailbox DVSEC at 0x%03zx", *window);
    say("VF 0", found);
    vpci::vf_endpoint<vpci::shm_config_space> mailbox_vf(space, *window);
    vpci::vf_endpoint<vpci::shm_config_space> mailbox_vf1(space1, *window1);
    bool ok = false;
    bool ok1 = false;
    boost::asio::co_spawn(io, vf1_isolation(mailbox_vf1), record_outcome("VF 1", ok1));
    boost::asio::co_spawn(io, vf_session(mailbox_vf, "mailbox over shared memory"), record_outcome("VF 0", ok));
    io.run();
    if (!ok || !ok1) return 1;

    // Binding 2: Hyper-V messages over the PF's socket.
    io.restart();
    socket_type socket(io);
    socket.connect(boost::asio::local::stream_protocol::endpoint(socket_path));
    say("VF 0", "connected to the PF's socket");
    ok = false;
    {
      vpci::vf_message_endpoint<socket_type> message_vf(socket, vf0_slot);
      boost::asio::co_spawn(io, vf_session(message_vf, "Hyper-V messages over a socket"),
                            [&, outcome = record_outcome("VF 0", ok)](std::exception_ptr e) {
                              outcome(e);
                              message_vf.close();  // the endpoint reads until its stream closes
                            });
      io.run();
    }
    return ok ? 0 : 1;
  } catch (const std::exception& e) {
    say("VF 0", std::string("failed: ") + e.what());
    return 1;
  }
}

constexpr const char* usage =
    "usage: vpci-demo [--help]\n"
    "A PF process and a VF process exchanging configuration blocks: over the config-space mailbox (two VFs,\n"
    "one shared-memory config space each), then over Hyper-V vPCI messages on a Unix socket. It prints what\n"
    "it builds first, then each step. It takes no options: it makes its own shared memory and socket.\n";

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1) {
    const std::string option = argv[1];
    if (argc == 2 && (option == "--help" || option == "-h")) {
      std::fputs(usage, stdout);
      return 0;
    }
    // Not run with an option it would ignore: the user meant something the demo does not do.
    const char* unexpected = option == "--help" || option == "-h" ? argv[2] : argv[1];
    std::fprintf(stderr, "vpci-demo: unexpected argument '%s'\n%s", unexpected, usage);
    return 2;
  }
  const std::string shm_name = "/vpci-demo-" + std::to_string(getpid());
  const std::string socket_path = "/tmp/vpci-demo-" + std::to_string(getpid()) + ".sock";
  remove_on_interrupt(shm_name, socket_path);
  print_plan(shm_name, socket_path);
  boost::asio::io_context io;
  auto device = vpci::shm_config_space::create(io.get_executor(), shm_name + "-vf0", 4096);
  auto device1 = vpci::shm_config_space::create(io.get_executor(), shm_name + "-vf1", 4096);
  vpci::pf_endpoint<4> pf;
  auto logic = std::make_shared<pf_logic>(pf);
  (void)pf.register_vf(vf0, 0x0101);
  (void)pf.register_vf(vf1, 0x0102);
  define_blocks(pf, logic);
  auto window = pf.attach_mailbox(vf0, device);
  auto window1 = pf.attach_mailbox(vf1, device1);
  if (!window || !window1) {
    std::fprintf(stderr, "vpci-demo: no room for the mailbox\n");
    return 1;
  }
  ::unlink(socket_path.c_str());
  boost::asio::local::stream_protocol::acceptor acceptor(io, boost::asio::local::stream_protocol::endpoint(socket_path));
  // Installed before the fork, so that an early exit of the VF process is not missed.
  boost::asio::signal_set child_exit(io, SIGCHLD);
  std::fflush(stdout);
  const pid_t child = fork();
  if (child < 0) {
    std::fprintf(stderr, "vpci-demo: cannot start the VF process: %s\n", std::strerror(errno));
    ::unlink(socket_path.c_str());
    return 1;
  }
  if (child == 0) {
    // The VF process builds its own io_context; it uses nothing of the PF's but the names, and leaves what
    // the PF made to the PF: Ctrl-C ends it as any program.
    std::signal(SIGINT, SIG_DFL);
    std::signal(SIGTERM, SIG_DFL);
    std::_Exit(run_vf(shm_name, socket_path));
  }
  const int result = run_pf(pf, *logic, child_exit, acceptor, io, child);
  ::unlink(socket_path.c_str());
  say("PF", result == 0 ? "done" : "the VF process failed");
  return result;
}
