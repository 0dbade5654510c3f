// vpci-perf (examples/perf/) run as its users run it, as a child process: a long run prints a progress
// line each second and ends on Ctrl-C with the figures so far. Every wait is bounded (child_process.hpp);
// the only time that passes is the tool's own second before its first progress line, and the deadlines of
// operations that nobody answers (a few milliseconds each, where a test needs them).
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <cerrno>
#include <csignal>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <poll.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>

#include <vpci/asio/vfio_user_device_server.hpp>
#include <vpci/vpci.hpp>

#include "child_process.hpp"
#include "test_support.hpp"

BOOST_AUTO_TEST_SUITE(perf_tool_test)

namespace {

using vpci::test::program_process;
namespace fs = std::filesystem;

const std::string perf = VPCI_PERF_PROGRAM;

using vpci::test::contains;

struct run_result {
  int status;
  std::string output;  // stdout and stderr together
};

// Runs vpci-perf to its end (bounded by child_process::guard_ms).
run_result run_perf(std::vector<std::string> args) {
  args.insert(args.begin(), perf);
  program_process run(std::move(args), program_process::capture::stdout_and_stderr);
  const int status = run.wait_exit();
  return {status, run.output()};
}

// The port a PF on TCP names on its serving line ("on tcp ADDRESS:PORT; Ctrl-C ends"); nullopt when the
// line names no such address.
std::optional<std::string> serving_port(const std::string& output, const std::string& address) {
  const std::string prefix = "on tcp " + address + ":";
  const auto at = output.find(prefix);
  if (at == std::string::npos) return std::nullopt;
  const auto port = at + prefix.size();
  return output.substr(port, output.find(';', port) - port);
}

// The number after "key": in a JSON text; -1 when the key is not there or holds no number.
double json_number(const std::string& json, const std::string& key) {
  const std::string quoted = "\"" + key + "\":";
  const auto at = json.find(quoted);
  if (at == std::string::npos) return -1;
  char* end = nullptr;
  const std::string rest = json.substr(at + quoted.size(), 32);
  const double value = std::strtod(rest.c_str(), &end);
  return end == rest.c_str() ? -1 : value;
}

// A directory of this test's own, removed with everything in it.
class temp_directory {
 public:
  temp_directory() {
    std::string pattern = (fs::temp_directory_path() / "vpci-perf-test-XXXXXX").string();
    if (::mkdtemp(pattern.data()) != nullptr) path_ = pattern;
  }
  ~temp_directory() {
    std::error_code ignored;
    if (!path_.empty()) fs::remove_all(path_, ignored);
  }
  temp_directory(const temp_directory&) = delete;
  temp_directory& operator=(const temp_directory&) = delete;
  [[nodiscard]] std::string operator/(const std::string& name) const { return path_ + "/" + name; }
  [[nodiscard]] bool made() const { return !path_.empty(); }

 private:
  std::string path_;
};

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// A config-space file as sysfs shows a VF whose PF placed the vpci mailbox and then stopped answering:
// the window is there, and every request the VF makes stays unanswered (until its deadline, or until the
// VF finds the heartbeat `options` announce stopped).
void write_unanswered_mailbox(const std::string& path, const vpci::mailbox_options& options = {}) {
  boost::asio::io_context io;
  vpci::memory_config_space space(io, 4096);
  vpci::pf_endpoint<1> pf;
  BOOST_TEST_REQUIRE(!pf.register_vf(0, 0x0101));
  BOOST_TEST_REQUIRE(pf.attach_mailbox(0, space, options).has_value());
  std::vector<std::byte> image(4096);
  boost::system::error_code ec;
  space.read(0, image, ec);
  BOOST_TEST_REQUIRE(!ec);
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(image.data()),
                                              static_cast<std::streamsize>(image.size()));
}

// Whether `fd` has something to read (a connection to accept, bytes), waiting at most the guard.
bool readable_within_guard(int fd) {
  ::pollfd readable{fd, POLLIN, 0};
  return fd >= 0 && ::poll(&readable, 1, vpci::test::child_process::guard_ms) == 1;
}

// An AF_UNIX stream socket bound at `path`; listening or not.
class unix_listener {
 public:
  unix_listener(const std::string& path, bool listen) : fd_(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    ::sockaddr_un address{};
    address.sun_family = AF_UNIX;
    path.copy(address.sun_path, sizeof address.sun_path - 1);
    bound_ = fd_ >= 0 && ::bind(fd_, reinterpret_cast<const ::sockaddr*>(&address), sizeof address) == 0 &&
             (!listen || ::listen(fd_, 16) == 0);
  }
  ~unix_listener() { close(); }
  unix_listener(const unix_listener&) = delete;
  unix_listener& operator=(const unix_listener&) = delete;
  // Closes the socket; its file stays behind (a stale socket).
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  [[nodiscard]] bool bound() const { return bound_; }
  // Whether a connection waits to be accepted, within the guard.
  [[nodiscard]] bool connected_to() const { return readable_within_guard(fd_); }

 private:
  int fd_;
  bool bound_{false};
};

std::optional<ino_t> inode_of(const std::string& path) {
  struct ::stat status {};
  if (::lstat(path.c_str(), &status) != 0) return std::nullopt;
  return status.st_ino;
}

// A vfio-user server on a thread of its own at `path`, serving block 3 (128 bytes, `access`) of VF 0 through
// the mailbox, one client; it can stop answering while its socket stays open.
class vfio_user_device {
 public:
  explicit vfio_user_device(const std::string& path, vpci::block_access access = vpci::block_access::read_write)
      : acceptor_(io_, boost::asio::local::stream_protocol::endpoint(path)) {
    const std::array<std::byte, 4> header{std::byte{0xF4}, std::byte{0x1A}, std::byte{0x41}, std::byte{0x10}};
    vpci::mailbox_options options;
    options.heartbeat = std::chrono::milliseconds(0);  // served from the client's writes alone
    ready_ = space_.model().device_write(0, header) == vpci::no_error && !pf_.register_vf(0, 0x0101) &&
             !pf_.define_block(0, vpci::block_id{3}, std::vector<std::byte>(128), access) &&
             pf_.attach_mailbox(0, space_, options).has_value();
    acceptor_.async_accept(client_, [this](boost::system::error_code ec) {
      if (ec) return;
      // The server takes the connection; its descriptor stays open while the server's session holds it.
      client_fd_ = client_.native_handle();
      server_.async_serve(std::move(client_), [](boost::system::error_code) {});
    });
    thread_ = std::thread([this] { io_.run(); });
  }
  ~vfio_user_device() { stop_answering(); }
  vfio_user_device(const vfio_user_device&) = delete;
  vfio_user_device& operator=(const vfio_user_device&) = delete;

  [[nodiscard]] bool ready() const noexcept { return ready_; }
  void stop_answering() {
    io_.stop();
    if (thread_.joinable()) thread_.join();
  }
  // After stop_answering(): whether a request from the client waits unread, within the guard.
  [[nodiscard]] bool request_unanswered() const { return readable_within_guard(client_fd_); }

 private:
  boost::asio::io_context io_;
  vpci::vfio_user_device_space space_{io_};
  vpci::pf_endpoint<1> pf_;
  vpci::vfio_user_device_server server_{space_};
  boost::asio::local::stream_protocol::acceptor acceptor_;
  boost::asio::local::stream_protocol::socket client_{io_};
  int client_fd_{-1};  // set on the server's thread before the client's first request can be answered
  bool ready_{false};
  std::thread thread_;
};

// A binding 2 PF on a thread of its own at `path`, serving block 3 (128 bytes) of VF 0 at vpci-perf's wslot:
// its block handler answers the first `answered` reads and holds every later one unanswered, its thread
// blocked there, until the object goes. (A read shorter than the block is refused by the PF's store
// without the handler: vpci-perf's sizing takes one handler read.)
class holding_message_pf {
 public:
  holding_message_pf(const std::string& path, int answered)
      : acceptor_(io_, boost::asio::local::stream_protocol::endpoint(path)), released_(release_.get_future().share()) {
    auto handler = std::make_shared<vpci::function_block_handler>(
        [this, answered](vpci::vf_index, vpci::block_id, std::span<std::byte> out, std::size_t& bytes) {
          if (++reads_ > answered) released_.wait();
          std::fill(out.begin(), out.end(), std::byte{0});
          bytes = 128;
          return vpci::ntstatus::success;
        },
        nullptr);
    ready_ = !pf_.register_vf(0, 0x0101) &&
             !pf_.define_block(0, vpci::block_id{3}, std::vector<std::byte>(128), vpci::block_access::read_write, handler);
    acceptor_.async_accept(client_, [this](boost::system::error_code ec) {
      if (!ec) pf_.async_serve(0, vpci::hyperv::wslot{2, 1}, client_, [](boost::system::error_code) {});
    });
    thread_ = std::thread([this] { io_.run(); });
  }
  ~holding_message_pf() {
    release_.set_value();
    io_.stop();
    thread_.join();
  }
  holding_message_pf(const holding_message_pf&) = delete;
  holding_message_pf& operator=(const holding_message_pf&) = delete;

  [[nodiscard]] bool ready() const noexcept { return ready_; }

 private:
  boost::asio::io_context io_;
  vpci::pf_endpoint<1> pf_;
  boost::asio::local::stream_protocol::acceptor acceptor_;
  boost::asio::local::stream_protocol::socket client_{io_};
  std::promise<void> release_;
  std::shared_future<void> released_;
  int reads_{0};  // on the PF's thread only
  bool ready_{false};
  std::thread thread_;
};

// A shared-memory name of this test process's own.
std::string shm_name(const std::string& what) { return "/vpci-perf-test-" + std::to_string(::getpid()) + "-" + what; }

// Whether process `pid` waits for an flock someone else holds, within the guard: /proc/locks lists it as a
// waiter ("-> FLOCK ... PID ..."). Read again and again rather than slept on: the wait ends as soon as the
// line is there.
bool waits_for_a_lock(::pid_t pid) {
  const std::string waiter = " " + std::to_string(pid) + " ";
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(vpci::test::child_process::guard_ms);
  while (std::chrono::steady_clock::now() < until) {
    std::ifstream locks("/proc/locks");
    for (std::string line; std::getline(locks, line);)
      if (contains(line, "-> FLOCK") && contains(line, waiter)) return true;
  }
  return false;
}

}  // namespace

// On --memory the PF answers inside the VF's own config writes, so every read completes without waiting,
// and vpci-perf starts the next one from each completion. Before the VF endpoint gave its executor to
// other work between completions (vf_core's completions_per_turn), such a run printed no progress line,
// ignored Ctrl-C and ran to the end of its --duration.
BOOST_AUTO_TEST_CASE(a_memory_run_prints_progress_and_ends_on_ctrl_c) {
  for (const std::string binding : {"mailbox", "hyperv"}) {
    BOOST_TEST_CONTEXT("binding " << binding) {
      program_process run({perf, "--memory", "--binding", binding, "--duration", "3600", "--json"},
                          program_process::capture::stdout_and_stderr);
      BOOST_TEST_REQUIRE(run.running());
      // The first progress line (stderr; the figures at the end are JSON on stdout, without "blocks/s").
      BOOST_TEST_REQUIRE(run.wait_for_output(" blocks/s "));
      run.signal(SIGINT);
      BOOST_TEST(run.wait_exit() == 0);
      const std::string& out = run.output();
      BOOST_TEST(contains(out, "\"binding\":\"" + binding + "\""));
      BOOST_TEST(contains(out, "\"interrupted\":true"));
      BOOST_TEST(contains(out, "\"error_count\":0"));
      BOOST_TEST(!contains(out, "\"operations\":0,"));
      if (binding == "mailbox") BOOST_TEST(contains(out, "\"config_accesses_per_op\":35.000"));
    }
  }
}

// Every request of the mailbox, a block read's included, is written into the window's registers; the
// sysfs file opened read-only refused them all ("configuration space is read-only"). Reads now reach the
// device (here nobody answers them, so they time out); block writes still need --allow-write.
BOOST_AUTO_TEST_CASE(sysfs_reads_need_no_allow_write) {
  temp_directory dir;
  BOOST_TEST_REQUIRE(dir.made());
  const std::string config = dir / "config";
  write_unanswered_mailbox(config);
  const auto reads = run_perf({"--role", "vf", "--sysfs", config, "--count", "2", "--warmup", "0", "--timeout", "1",
                               "--json", "--quiet"});
  BOOST_TEST(reads.status == 1);
  BOOST_TEST(!contains(reads.output, "read-only"));
  BOOST_TEST(contains(reads.output, "\"errors\":{\"operation timed out\":2}"), reads.output);
  // Throughput counts the blocks that moved: none did.
  BOOST_TEST(json_number(reads.output, "blocks_per_second") == 0.0, reads.output);
  BOOST_TEST(json_number(reads.output, "mb_per_second") == 0.0, reads.output);
  const auto writes = run_perf({"--role", "vf", "--sysfs", config, "--read-percent", "50", "--count", "2"});
  BOOST_TEST(writes.status == 2);
  BOOST_TEST(contains(writes.output, "--allow-write"), writes.output);
}

// Found by a newcomer's audit: --sysfs opens its file read-write and the mailbox writes its registers into
// it, whatever the file is (a mistyped path; a file that happened to hold the DVSEC's bytes was written at
// 0x114..0x11F). A file of another size than a config file's (256 or 4096 bytes) is refused, untouched.
BOOST_AUTO_TEST_CASE(a_sysfs_file_that_is_no_config_space_is_refused_untouched) {
  temp_directory dir;
  BOOST_TEST_REQUIRE(dir.made());
  const std::string config = dir / "config";
  write_unanswered_mailbox(config);
  BOOST_TEST_REQUIRE(::truncate(config.c_str(), 4000) == 0);
  const std::string before = read_file(config);
  const auto run = run_perf({"--role", "vf", "--sysfs", config, "--count", "1"});
  BOOST_TEST(run.status == 2);  // a set-up failure
  BOOST_TEST(contains(run.output, "'" + config + "' is not a PCI function's config space: it holds 4000 bytes, and a "
                                  "config file holds 256 or 4096"),
             run.output);
  BOOST_TEST(read_file(config) == before);
}

// Found by a review: Linux gives an Express function a 256-byte config file when it cannot reach extended
// space (probe.c pci_cfg_space_size_ext()), and the mailbox lives there; vpci-perf said only "not found".
// It says the space was too short to hold it.
BOOST_AUTO_TEST_CASE(a_config_file_without_extended_space_is_named_as_the_reason_no_mailbox_is_found) {
  temp_directory dir;
  BOOST_TEST_REQUIRE(dir.made());
  const std::string config = dir / "config";
  write_unanswered_mailbox(config);
  BOOST_TEST_REQUIRE(::truncate(config.c_str(), 256) == 0);
  const auto run = run_perf({"--role", "vf", "--sysfs", config, "--count", "1"});
  BOOST_TEST(run.status == 2);  // a set-up failure
  BOOST_TEST(contains(run.output, "no vpci mailbox in the config space of '" + config +
                                      "' (not found; only 256 bytes of config space are readable, and the mailbox is in "
                                      "extended space)"),
             run.output);
}

// The warm-up's failures were counted among the measured operations (--count 3 reported 5 operations,
// and the config accesses per operation were divided by 5); they are reported on their own.
BOOST_AUTO_TEST_CASE(warm_up_failures_are_not_measured_operations) {
  temp_directory dir;
  BOOST_TEST_REQUIRE(dir.made());
  const std::string config = dir / "config";
  write_unanswered_mailbox(config);
  const std::vector<std::string> args{"--role", "vf", "--sysfs", config, "--allow-write", "--count", "3",
                                      "--warmup", "2", "--timeout", "1", "--quiet"};
  auto json_args = args;
  json_args.push_back("--json");
  const auto json = run_perf(json_args);
  BOOST_TEST(json.status == 1);
  BOOST_TEST(json_number(json.output, "operations") == 3.0, json.output);
  BOOST_TEST(json_number(json.output, "error_count") == 3.0);
  BOOST_TEST(contains(json.output, "\"errors\":{\"operation timed out\":3}"));
  BOOST_TEST(json_number(json.output, "warmup_operations") == 2.0);
  BOOST_TEST(json_number(json.output, "warmup_error_count") == 2.0);
  BOOST_TEST(contains(json.output, "\"warmup_errors\":{\"operation timed out\":2}"));
  const auto human = run_perf(args);
  BOOST_TEST(human.status == 1);
  BOOST_TEST(contains(human.output, "operations  3 (0 reads, 0 writes, 3 failed)"), human.output);
  BOOST_TEST(contains(human.output, "warm-up     2 operations (2 failed)"));
  BOOST_TEST(contains(human.output, "warm-up errors  2 x operation timed out"));
}

// A PF that accepts the connection and never answers: binding 2's version negotiation times out (after
// --timeout, not a fixed second), after which every operation fails at once. The run ended only at its
// count or duration, spinning through failures at full speed; it ends with that error now.
BOOST_AUTO_TEST_CASE(an_endpoint_failed_for_good_ends_the_run) {
  temp_directory dir;
  BOOST_TEST_REQUIRE(dir.made());
  const std::string path = dir / "silent.sock";
  unix_listener silent(path, true);
  BOOST_TEST_REQUIRE(silent.bound());
  const auto run = run_perf({"--role", "vf", "--unix", path, "--count", "100000", "--warmup", "0", "--timeout", "50",
                             "--json", "--quiet"});
  BOOST_TEST(run.status == 1);
  // The operation that was waiting for the negotiation, and at most one started before it failed.
  const double errors = json_number(run.output, "error_count");
  BOOST_TEST((errors >= 1.0 && errors <= 2.0), run.output);
  BOOST_TEST(contains(run.output, "\"ended_by\":\"version negotiation failed: operation timed out\""), run.output);
}

// vfio-user: a server that stops answering. The client closes its connection after the reply deadline,
// and every later access fails at once with errc::timeout, which alone looks like any timeout.
BOOST_AUTO_TEST_CASE(a_vfio_user_connection_closed_for_good_ends_the_run) {
  temp_directory dir;
  BOOST_TEST_REQUIRE(dir.made());
  const std::string path = dir / "device.sock";
  vfio_user_device device(path);
  BOOST_TEST_REQUIRE(device.ready());
  program_process run({perf, "--role", "vf", "--vfio-user", path, "--count", "1000000000", "--warmup", "0",
                       "--timeout", "100", "--json"},
                      program_process::capture::stdout_and_stderr);
  const bool progressed = run.wait_for_output(" blocks/s ");
  device.stop_answering();
  BOOST_TEST_REQUIRE(progressed);
  BOOST_TEST(run.wait_exit() == 1);
  BOOST_TEST(contains(run.output(), "\"ended_by\":\"the vfio-user connection is closed: operation timed out\""),
             run.output());
}

// vfio-user: the server goes away (its end of the connection closed). The run ended with the endpoint's
// peer_gone, named "peer is gone: it exited, crashed or stopped its heartbeat", though the tool knows the
// connection is what closed (found by an audit killing vpci-vfio-user-device under a run).
BOOST_AUTO_TEST_CASE(a_vfio_user_server_that_goes_away_is_named_as_the_connection_closed) {
  temp_directory dir;
  BOOST_TEST_REQUIRE(dir.made());
  const std::string path = dir / "device.sock";
  std::optional<vfio_user_device> device(std::in_place, path);
  BOOST_TEST_REQUIRE(device->ready());
  program_process run({perf, "--role", "vf", "--vfio-user", path, "--count", "1000000000", "--warmup", "0", "--json"},
                      program_process::capture::stdout_and_stderr);
  const bool progressed = run.wait_for_output(" blocks/s ");
  device.reset();  // its thread stopped, its sockets closed
  BOOST_TEST_REQUIRE(progressed);
  BOOST_TEST(run.wait_exit() == 1);
  BOOST_TEST(contains(run.output(), "\"ended_by\":\"the vfio-user connection is closed: the server closed it or exited\""),
             run.output());
}

// A run shorter than a tenth of a second printed "in 0.000 s" beside its blocks/s.
BOOST_AUTO_TEST_CASE(a_short_run_prints_its_seconds_to_the_microsecond) {
  const auto run = run_perf({"--memory", "--count", "200", "--warmup", "0"});
  BOOST_TEST(run.status == 0, run.output);
  const auto at = run.output.find(" failed) in 0.");
  BOOST_TEST_REQUIRE(at != std::string::npos, run.output);
  const std::string seconds = run.output.substr(at + 12, run.output.find(" s\n", at) - at - 12);
  BOOST_TEST(seconds.size() == 8u, seconds);  // 0.dddddd
  BOOST_TEST(seconds != "0.000000", seconds);
}

// The PF's block holds 128 bytes and the VF asks for 64, or the other way round. The tool took the short
// read for a protocol violation of the peer's, and spun on "buffer too small" and "invalid argument".
BOOST_AUTO_TEST_CASE(a_block_size_mismatch_names_block_size) {
  temp_directory dir;
  BOOST_TEST_REQUIRE(dir.made());
  struct combination {
    std::string pf_size;
    std::string vf_size;
  };
  for (const auto& [pf_size, vf_size] : {combination{"128", "64"}, combination{"64", "128"}}) {
    for (const std::string transport : {"--shm", "--unix"}) {
      BOOST_TEST_CONTEXT("PF " << pf_size << " bytes, VF " << vf_size << " bytes, " << transport) {
        const std::string where = transport == "--shm" ? shm_name("size") : dir / "size.sock";
        program_process pf({perf, "--role", "pf", transport, where, "--block-size", pf_size},
                           program_process::capture::stdout_and_stderr);
        BOOST_TEST_REQUIRE(pf.wait_for_output("Ctrl-C ends"));
        for (const std::string read_percent : {"100", "0"}) {
          const auto run = run_perf({"--role", "vf", transport, where, "--block-size", vf_size, "--read-percent",
                                     read_percent, "--count", "10", "--warmup", "0", "--json"});
          BOOST_TEST(run.status == 2);
          BOOST_TEST(contains(run.output, "block 3 holds " + pf_size + " bytes, not --block-size " + vf_size),
                     run.output);
          BOOST_TEST(!contains(run.output, "violated"));
        }
        // The size the PF has fits (binding 2 pads a read to the size asked: the search must not stop there).
        const auto fits = run_perf({"--role", "vf", transport, where, "--block-size", pf_size, "--read-percent", "50",
                                    "--count", "10", "--warmup", "0"});
        BOOST_TEST(fits.status == 0, fits.output);
        pf.signal(SIGTERM);
        BOOST_TEST(pf.wait_exit() == 0);
      }
    }
  }
}

// --role both ran the PF on a thread and let an exception from the VF's setup destroy that thread still
// joinable: std::terminate (exit status 134). It stops the thread and exits with 2 and the message.
BOOST_AUTO_TEST_CASE(role_both_exits_cleanly_when_setup_fails) {
  const auto run = run_perf({"--role", "both", "--unix", "", "--count", "10"});
  BOOST_TEST(run.status == 2);
  BOOST_TEST(contains(run.output, "vpci-perf: "), run.output);
  BOOST_TEST(!contains(run.output, "terminate"));
}

// The PF role unlinked whatever was at --unix PATH (a regular file too) and took over a socket another
// PF was listening on; at exit it unlinked the path even when it no longer was its socket.
BOOST_AUTO_TEST_CASE(unix_path_of_another_is_left_alone) {
  temp_directory dir;
  BOOST_TEST_REQUIRE(dir.made());
  // A regular file: refused by both roles that listen, and kept.
  const std::string file = dir / "notes.txt";
  std::ofstream(file) << "keep me";
  for (const std::string role : {"both", "pf"}) {
    BOOST_TEST_CONTEXT("role " << role) {
      program_process run({perf, "--role", role, "--unix", file, "--count", "10"},
                          program_process::capture::stdout_and_stderr);
      BOOST_TEST(!run.wait_for_output("Ctrl-C ends"));
      BOOST_TEST(run.wait_exit() == 2);
      BOOST_TEST(contains(run.output(), "'" + file + "' exists and is not a socket"), run.output());
      BOOST_TEST(read_file(file) == "keep me");
    }
  }
  // A socket another process listens on: refused, and left as it is.
  const std::string live = dir / "live.sock";
  unix_listener other(live, true);
  BOOST_TEST_REQUIRE(other.bound());
  const auto live_inode = inode_of(live);
  for (const std::string role : {"both", "pf"}) {
    BOOST_TEST_CONTEXT("role " << role) {
      program_process run({perf, "--role", role, "--unix", live, "--count", "10"},
                          program_process::capture::stdout_and_stderr);
      BOOST_TEST(!run.wait_for_output("Ctrl-C ends"));
      BOOST_TEST(run.wait_exit() == 2);
      BOOST_TEST(contains(run.output(), "another process is listening on '" + live + "'"), run.output());
      BOOST_TEST((inode_of(live) == live_inode));
    }
  }
  // A stale socket (nobody listens): replaced, and the run's own socket is gone at its end.
  const std::string stale = dir / "stale.sock";
  unix_listener gone(stale, false);
  BOOST_TEST_REQUIRE(gone.bound());
  gone.close();
  const auto replaced = run_perf({"--role", "both", "--unix", stale, "--count", "10", "--warmup", "0"});
  BOOST_TEST(replaced.status == 0, replaced.output);
  BOOST_TEST(!fs::exists(fs::symlink_status(stale)));
  // At its end the PF removes its socket only: here someone put a file in its place meanwhile.
  const std::string served = dir / "served.sock";
  {
    program_process pf({perf, "--role", "pf", "--unix", served}, program_process::capture::stdout_and_stderr);
    BOOST_TEST_REQUIRE(pf.wait_for_output("Ctrl-C ends"));
    BOOST_TEST_REQUIRE(fs::remove(served));
    std::ofstream(served) << "mine";
    pf.signal(SIGTERM);
    BOOST_TEST(pf.wait_exit() == 0);
  }
  BOOST_TEST(read_file(served) == "mine");
  // No path at all.
  for (const std::string role : {"pf", "both", "vf"}) {
    const auto empty = run_perf({"--role", role, "--unix", "", "--count", "10"});
    BOOST_TEST(empty.status == 2);
    BOOST_TEST(contains(empty.output, "(vpci-perf --help)"), empty.output);
  }
}

// Two PFs started at once on one stale --unix path both found it stale: the second unlinked the first
// one's new socket and bound its own, and the first served on, unreachable. Judging and replacing the path
// is now one step under an exclusive flock of its directory. Here the test holds that lock while a PF
// starts, puts a live socket at the path (as the other PF's would be), and lets go: the PF must find it.
BOOST_AUTO_TEST_CASE(a_pf_replacing_a_stale_unix_socket_holds_the_directory_while_it_judges) {
  temp_directory dir;
  BOOST_TEST_REQUIRE(dir.made());
  const std::string path = dir / "race.sock";
  {
    unix_listener stale(path, false);
    BOOST_TEST_REQUIRE(stale.bound());
  }
  const int directory = ::open((dir / "").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  BOOST_TEST_REQUIRE(directory >= 0);
  BOOST_TEST_REQUIRE(::flock(directory, LOCK_EX) == 0);
  program_process pf({perf, "--role", "pf", "--unix", path}, program_process::capture::stdout_and_stderr);
  const bool waiting = waits_for_a_lock(pf.pid());
  BOOST_TEST_REQUIRE(fs::remove(path));
  unix_listener other(path, true);
  BOOST_TEST_REQUIRE(other.bound());
  ::close(directory);
  BOOST_TEST(waiting);
  BOOST_TEST(pf.wait_exit() == 2, pf.output());
  BOOST_TEST(contains(pf.output(), "another process is listening on '" + path + "'"), pf.output());
}

// A second PF on the same --shm NAME replaced the live PF's segment (its VFs saw their device gone) and
// unlinked it at exit. A live segment is refused; a stale one (its PF died) is replaced.
BOOST_AUTO_TEST_CASE(a_live_pf_shared_memory_segment_is_not_replaced) {
  const std::string name = shm_name("live");
  program_process first({perf, "--role", "pf", "--shm", name}, program_process::capture::stdout_and_stderr);
  BOOST_TEST_REQUIRE(first.wait_for_output("Ctrl-C ends"));
  for (const std::string role : {"pf", "both"}) {
    BOOST_TEST_CONTEXT("role " << role) {
      program_process second({perf, "--role", role, "--shm", name, "--count", "10"},
                             program_process::capture::stdout_and_stderr);
      BOOST_TEST(!second.wait_for_output("Ctrl-C ends"));
      BOOST_TEST(second.wait_exit() == 2);
      BOOST_TEST(contains(second.output(), "a live PF serves shared memory '" + name + "'"), second.output());
    }
  }
  // The first PF still serves its VF.
  const auto vf = run_perf({"--role", "vf", "--shm", name, "--count", "10", "--warmup", "0"});
  BOOST_TEST(vf.status == 0, vf.output);
  // Killed, it leaves its segment behind, stale: the next PF replaces it, and unlinks its own at its end.
  first.signal(SIGKILL);
  BOOST_TEST(first.wait_exit() == -1);
  const auto replaced = run_perf({"--role", "both", "--shm", name, "--count", "10", "--warmup", "0"});
  BOOST_TEST(replaced.status == 0, replaced.output);
  const int fd = ::shm_open(name.c_str(), O_RDONLY, 0);
  BOOST_TEST(fd < 0);
  if (fd >= 0) {
    ::close(fd);
    ::shm_unlink(name.c_str());
  }
}

// "--tcp 127.0.0.1:0 --role pf" said it served on port 0; it names the port the kernel chose. Found by a
// review: with --quiet it printed nothing, and the port could not be learned; the line stays then.
BOOST_AUTO_TEST_CASE(tcp_port_0_prints_the_port_bound) {
  for (const bool quiet : {false, true}) {
    BOOST_TEST_CONTEXT("quiet " << quiet) {
      std::vector<std::string> args{perf, "--role", "pf", "--tcp", "127.0.0.1:0"};
      if (quiet) args.emplace_back("--quiet");
      program_process pf(args, program_process::capture::stdout_and_stderr);
      BOOST_TEST_REQUIRE(pf.wait_for_output("; Ctrl-C ends"));
      const auto port = serving_port(pf.output(), "127.0.0.1");
      BOOST_TEST_REQUIRE(port.has_value(), pf.output());
      BOOST_TEST(*port != "0");
      const auto vf = run_perf({"--role", "vf", "--tcp", "127.0.0.1:" + *port, "--count", "10", "--warmup", "0"});
      BOOST_TEST(vf.status == 0, vf.output);
    }
  }
}

// The figures could not be written (stdout on a full device), and the exit status said all went well.
BOOST_AUTO_TEST_CASE(figures_that_cannot_be_written_fail_the_run) {
  program_process run({"/bin/sh", "-c", "exec \"$0\" --memory --count 10 --warmup 0 >/dev/full", perf},
                      program_process::capture::stdout_and_stderr);
  BOOST_TEST(run.wait_exit() == 1);
  BOOST_TEST(contains(run.output(), "No space left on device"), run.output());
}

// The help shows --count and --duration as alternatives; given both, --duration was ignored silently.
BOOST_AUTO_TEST_CASE(count_and_duration_together_are_a_usage_error) {
  const auto run = run_perf({"--memory", "--count", "10", "--duration", "1"});
  BOOST_TEST(run.status == 2);
  BOOST_TEST(contains(run.output, "--count or --duration"), run.output);
}

// An option given twice ran with the last one (--count 5 --count 7 measured 7, --role pf --role both ran
// both roles), and --allow-write beside a transport other than --sysfs was ignored. Each is a usage error
// naming the option (both values when it has them), exit status 2, before anything runs; with --json,
// {"error": ...} on stdout too.
BOOST_AUTO_TEST_CASE(an_option_given_twice_or_allow_write_without_sysfs_is_a_usage_error) {
  struct usage_case {
    std::vector<std::string> args;
    std::string message;
  };
  for (const auto& [args, message] : {
           usage_case{{"--memory", "--count", "5", "--count", "7"}, "--count is given twice ('5', then '7')"},
           usage_case{{"--memory", "--count=5", "--count", "5"}, "--count is given twice ('5', then '5')"},
           usage_case{{"--role", "pf", "--role", "both", "--memory"}, "--role is given twice ('pf', then 'both')"},
           usage_case{{"--memory", "--binding", "1", "--binding", "hyperv"}, "--binding is given twice ('1', then 'hyperv')"},
           usage_case{{"--memory", "--quiet", "--duration", "1", "--quiet"}, "--quiet is given twice"},
           usage_case{{"--role", "vf", "--shm", "x", "--allow-write"}, "--allow-write applies to --sysfs only, not to --shm"},
           usage_case{{"--role", "pf", "--unix", "x.sock", "--allow-write"},
                      "--allow-write applies to --sysfs only, not to --unix"},
           usage_case{{"--memory", "--allow-write"}, "--allow-write applies to --sysfs only, not to --memory"},
       }) {
    BOOST_TEST_CONTEXT(message) {
      const auto run = run_perf(args);
      BOOST_TEST(run.status == 2);
      BOOST_TEST(run.output == "vpci-perf: " + message + " (vpci-perf --help)\n", run.output);
      std::vector<std::string> command{perf};
      command.insert(command.end(), args.begin(), args.end());
      command.push_back("--json");
      program_process json(command);  // stdout only
      BOOST_TEST(json.wait_exit() == 2);
      BOOST_TEST(json.output() == "{\"error\":\"" + message + "\"}\n", json.output());
    }
  }
}

// A --tcp without a port or with a port above 65535 was found only after the start banner. Messages as
// vpci-conformance's for its --tcp (a_tcp_address_that_is_no_host_port_is_a_usage_error there).
BOOST_AUTO_TEST_CASE(bad_tcp_arguments_are_refused_before_the_banner) {
  struct refused {
    std::string where;
    std::string message;
  };
  for (const auto& [where, message] :
       {refused{"127.0.0.1", "--tcp: expected HOST:PORT, got '127.0.0.1'"},
        refused{"[::1]", "--tcp: expected HOST:PORT, got '[::1]'"},
        refused{":5000", "--tcp: expected HOST:PORT, got ':5000'"},
        refused{"[]:5000", "--tcp: expected HOST:PORT, got '[]:5000'"},
        refused{"127.0.0.1:65536", "--tcp: the port of '127.0.0.1:65536' is not a number in 1..65535"},
        refused{"127.0.0.1:", "--tcp: the port of '127.0.0.1:' is not a number in 1..65535"},
        refused{"127.0.0.1:x", "--tcp: the port of '127.0.0.1:x' is not a number in 1..65535"},
        refused{"127.0.0.1:0x50", "--tcp: the port of '127.0.0.1:0x50' is not a number in 1..65535"},
        refused{"127.0.0.1:0",
                "--tcp: the port of '127.0.0.1:0' is not a number in 1..65535 (port 0 is for a PF that listens, taking any "
                "free port)"}}) {
    BOOST_TEST_CONTEXT(where) {
      const auto run = run_perf({"--role", "vf", "--tcp", where, "--count", "10"});
      BOOST_TEST(run.status == 2);
      BOOST_TEST(run.output == "vpci-perf: " + message + " (vpci-perf --help)\n", run.output);
    }
  }
  // A PF listens on port 0 too (any free port); past 65535 it is refused by the same rule.
  for (const char* role : {"pf", "both"}) {
    BOOST_TEST_CONTEXT(role) {
      const auto run = run_perf({"--role", role, "--tcp", "127.0.0.1:65536"});
      BOOST_TEST(run.status == 2);
      BOOST_TEST(run.output == "vpci-perf: --tcp: the port of '127.0.0.1:65536' is not a number in 0..65535 (vpci-perf --help)\n",
                 run.output);
    }
  }
}

// A VF's "--tcp :PORT" (no host) was taken as 0.0.0.0, a destination only some systems read as this host
// (Linux does), while vpci-conformance's cases failed on it ("resolve ':PORT': Name or service not known")
// once the run had started. One rule now (examples/host_port.hpp): a tool that connects needs a HOST, and
// ":PORT" is a usage error before anything runs. A PF given no HOST listens on every address and says so
// on its serving line; --role both, whose PF listens so, has its VF connect to loopback. That was every
// IPv4 address only, so a VF given [::1]:PORT was refused: it is IPv6 and IPv4 now, on one socket ([::]),
// and 0.0.0.0 only where the host has no IPv6.
BOOST_AUTO_TEST_CASE(an_empty_tcp_host_is_a_usage_error_to_a_vf_and_every_address_to_a_pf) {
  for (const std::string where : {":5000", "[]:5000"}) {
    BOOST_TEST_CONTEXT(where) {
      program_process json({perf, "--role", "vf", "--tcp", where, "--count", "10", "--json"});  // stdout only
      BOOST_TEST(json.wait_exit() == 2);
      BOOST_TEST(json.output() == "{\"error\":\"--tcp: expected HOST:PORT, got '" + where + "'\"}\n", json.output());
    }
  }
  program_process pf({perf, "--role", "pf", "--tcp", ":0"}, program_process::capture::stdout_and_stderr);
  BOOST_TEST_REQUIRE(pf.wait_for_output("; Ctrl-C ends"));
  // This host has IPv6 (its loopback, ::1, is what the second VF below connects to, where there is one:
  // a host with IPv6 disabled still opens [::], but has no ::1 to reach it by).
  const auto port = serving_port(pf.output(), "[::]");
  BOOST_TEST_REQUIRE(port.has_value(), pf.output());
  std::vector<std::string> hosts{"127.0.0.1"};
  if (vpci::test::has_ipv6_loopback()) hosts.emplace_back("[::1]");
  else BOOST_TEST_MESSAGE("no IPv6 loopback: nothing to check");
  for (const std::string& host : hosts) {
    const auto vf = run_perf({"--role", "vf", "--tcp", host + ":" + *port, "--count", "10", "--warmup", "0"});
    BOOST_TEST(vf.status == 0, host << ": " << vf.output);
  }
  pf.signal(SIGTERM);
  BOOST_TEST(pf.wait_exit() == 0, pf.output());
  const auto both = run_perf({"--role", "both", "--tcp", ":0", "--count", "10", "--warmup", "0"});
  BOOST_TEST(both.status == 0, both.output);
}

// A PF given no host listens on [::] (both families); on a host without IPv6 that socket cannot be opened,
// and the PF listens on 0.0.0.0 instead. Run under a library that makes every IPv6 socket fail as it fails
// there (tests/preload/no_ipv6.cpp). An IPv6 address given explicitly is not replaced by an IPv4 one.
BOOST_AUTO_TEST_CASE(a_pf_given_no_host_on_a_host_without_ipv6_listens_on_every_ipv4_address) {
  const std::string preload = std::string("LD_PRELOAD=") + VPCI_NO_IPV6_PRELOAD;
  program_process pf({"/usr/bin/env", preload, perf, "--role", "pf", "--tcp", ":0"},
                     program_process::capture::stdout_and_stderr);
  BOOST_TEST_REQUIRE(pf.wait_for_output("; Ctrl-C ends"), pf.output());
  const auto port = serving_port(pf.output(), "0.0.0.0");
  BOOST_TEST_REQUIRE(port.has_value(), pf.output());
  const auto vf = run_perf({"--role", "vf", "--tcp", "127.0.0.1:" + *port, "--count", "10", "--warmup", "0"});
  BOOST_TEST(vf.status == 0, vf.output);
  pf.signal(SIGTERM);
  BOOST_TEST(pf.wait_exit() == 0, pf.output());

  program_process v6({"/usr/bin/env", preload, perf, "--role", "pf", "--tcp", "[::]:0"},
                     program_process::capture::stdout_and_stderr);
  BOOST_TEST(v6.wait_exit() == 2);
  BOOST_TEST(contains(v6.output(), "cannot listen on [::]:0: Address family not supported by protocol"), v6.output());
  BOOST_TEST(!contains(v6.output(), "0.0.0.0"), v6.output());
}

// A failed connect printed Boost's source location instead of saying where it tried to connect.
BOOST_AUTO_TEST_CASE(connect_errors_name_the_address_and_the_reason) {
  temp_directory dir;
  BOOST_TEST_REQUIRE(dir.made());
  const std::string missing = dir / "missing.sock";
  const auto unix_run = run_perf({"--role", "vf", "--unix", missing, "--count", "10"});
  BOOST_TEST(unix_run.status == 2);
  BOOST_TEST(contains(unix_run.output, "'" + missing + "': No such file or directory"), unix_run.output);
  BOOST_TEST(!contains(unix_run.output, ".hpp"));
  // A port nobody listens on (port 1 is tcpmux's, served nowhere these days).
  const auto tcp_run = run_perf({"--role", "vf", "--tcp", "127.0.0.1:1", "--count", "10"});
  BOOST_TEST(tcp_run.status == 2);
  BOOST_TEST(contains(tcp_run.output, "127.0.0.1:1: "), tcp_run.output);
  BOOST_TEST(!contains(tcp_run.output, ".hpp"));
}

// Ctrl-C during the warm-up printed zero figures as if a run had measured them.
BOOST_AUTO_TEST_CASE(an_interrupted_run_that_measured_nothing_says_so) {
  temp_directory dir;
  BOOST_TEST_REQUIRE(dir.made());
  const std::string config = dir / "config";
  write_unanswered_mailbox(config);
  program_process run({perf, "--role", "vf", "--sysfs", config, "--allow-write", "--count", "10", "--warmup",
                       "1000000000", "--timeout", "20"},
                      program_process::capture::stdout_and_stderr);
  BOOST_TEST_REQUIRE(run.wait_for_output("[warm-up]"));
  run.signal(SIGINT);
  BOOST_TEST(run.wait_exit() == 1);  // the warm-up's operations failed
  BOOST_TEST(contains(run.output(), "nothing measured: interrupted during the warm-up"), run.output());
  BOOST_TEST(!contains(run.output(), "blocks/s    0"));
}

// Found by a review: at a queue depth above 1 the first measured operation was issued while the warm-up's
// were still in flight, and the measured seconds started there: they included the warm-up's end (a
// --count 1 run at queue depth 16 reported 16 operations' time, its one latency 6 times a lone one's).
// Measuring now starts once the warm-up's operations have ended. Here the one warm-up read is never
// answered: nothing is measured, so the interrupted run's seconds are 0 (they were the whole wait).
BOOST_AUTO_TEST_CASE(the_measured_seconds_start_once_the_warm_ups_operations_have_ended) {
  temp_directory dir;
  BOOST_TEST_REQUIRE(dir.made());
  const std::string path = dir / "holding.sock";
  holding_message_pf pf(path, 1);  // the sizing read
  BOOST_TEST_REQUIRE(pf.ready());
  program_process vf({perf, "--role", "vf", "--unix", path, "--warmup", "1", "--queue-depth", "2", "--count", "1",
                      "--timeout", "60000", "--json"},
                     program_process::capture::stdout_and_stderr);
  // Before the fix the line said " blocks/s ": the measured operation was under way beside the warm-up's.
  BOOST_TEST_REQUIRE(vf.wait_for_output("[warm-up] 0 of 1 operations"), vf.output());
  vf.signal(SIGINT);
  BOOST_TEST(vf.wait_exit() == 0, vf.output());
  const std::string& out = vf.output();
  BOOST_TEST(contains(out, "\"operations\":0,"), out);
  BOOST_TEST(contains(out, "\"seconds\":0.000000,"), out);
  BOOST_TEST(contains(out, "\"warmup_operations\":0,\"warmup_error_count\":0,"), out);
  BOOST_TEST(contains(out, "\"interrupted\":true"), out);
}

// Found by a review: Ctrl-C only stopped issuing and then waited for the operations in flight, each up to
// its --timeout (a stopped PF: 60 s for --timeout 60000), counted the wait's timeouts as errors and
// measured the seconds to the end of it. The first signal cancels what is in flight; those cancellations
// are no errors, and the seconds end at the signal.
BOOST_AUTO_TEST_CASE(ctrl_c_cancels_the_operations_in_flight_instead_of_waiting_for_them) {
  temp_directory dir;
  BOOST_TEST_REQUIRE(dir.made());
  const std::string path = dir / "stopped.sock";
  program_process pf({perf, "--role", "pf", "--unix", path}, program_process::capture::stdout_and_stderr);
  BOOST_TEST_REQUIRE(pf.wait_for_output("Ctrl-C ends"));
  program_process vf({perf, "--role", "vf", "--unix", path, "--duration", "100", "--queue-depth", "4", "--timeout",
                      "60000", "--json"},
                     program_process::capture::stdout_and_stderr);
  BOOST_TEST_REQUIRE(vf.wait_for_output(" blocks/s "));
  pf.signal(SIGSTOP);  // what the VF has in flight now, and all it starts later, stays unanswered
  vf.signal(SIGINT);
  const int status = vf.wait_exit();  // bounded by the guard (10 s), far below the 60 s deadlines
  pf.signal(SIGCONT);
  BOOST_TEST(status == 0, vf.output());
  const std::string& out = vf.output();
  BOOST_TEST(contains(out, "\"interrupted\":true"), out);
  BOOST_TEST(contains(out, "\"error_count\":0,\"errors\":{}"), out);
  BOOST_TEST(!contains(out, "cancelled"));
  BOOST_TEST(!contains(out, "timed out"));
  BOOST_TEST(json_number(out, "operations") > 0.0);
}

// The same during binding 2's version negotiation: a listener that never accepts (the kernel completes the
// connection, nobody answers). SIGINT, SIGINT and SIGTERM were all ignored until the negotiation timed out.
BOOST_AUTO_TEST_CASE(ctrl_c_while_waiting_for_the_pf_ends_the_run) {
  temp_directory dir;
  BOOST_TEST_REQUIRE(dir.made());
  const std::string path = dir / "silent.sock";
  unix_listener silent(path, true);
  BOOST_TEST_REQUIRE(silent.bound());
  program_process vf({perf, "--role", "vf", "--unix", path, "--count", "10", "--timeout", "60000"},
                     program_process::capture::stdout_and_stderr);
  BOOST_TEST_REQUIRE(vf.wait_for_output("[sizing]"));  // the load generator runs: it waits for the PF
  vf.signal(SIGINT);
  BOOST_TEST(vf.wait_exit() == 0, vf.output());
  BOOST_TEST(contains(vf.output(), "(interrupted)"), vf.output());
  BOOST_TEST(contains(vf.output(), "nothing measured: interrupted before the block's size was known"), vf.output());
  BOOST_TEST(contains(vf.output(), "errors      none"));
}

// A second signal does not wait for the first one's clean end: it prints the figures so far and exits with
// 130 at once. The VF is stopped while both signals are sent, so that it sees them together, as a user
// pressing Ctrl-C twice before the tool could react.
BOOST_AUTO_TEST_CASE(a_second_signal_exits_at_once_with_130) {
  temp_directory dir;
  BOOST_TEST_REQUIRE(dir.made());
  const std::string path = dir / "served.sock";
  program_process pf({perf, "--role", "pf", "--unix", path}, program_process::capture::stdout_and_stderr);
  BOOST_TEST_REQUIRE(pf.wait_for_output("Ctrl-C ends"));
  program_process vf({perf, "--role", "vf", "--unix", path, "--duration", "100", "--queue-depth", "4", "--json"},
                     program_process::capture::stdout_and_stderr);
  BOOST_TEST_REQUIRE(vf.wait_for_output(" blocks/s "));
  vf.signal(SIGSTOP);
  vf.signal(SIGINT);
  vf.signal(SIGTERM);
  vf.signal(SIGCONT);
  BOOST_TEST(vf.wait_exit() == 130, vf.output());
  BOOST_TEST(contains(vf.output(), "second signal"), vf.output());
  BOOST_TEST(contains(vf.output(), "\"interrupted\":true"), vf.output());
}

// Binding 1's config accesses per operation are among the figures a second signal prints: they were
// worked out only at the load's clean end, so the status-130 output had no such line and JSON null.
BOOST_AUTO_TEST_CASE(a_second_signal_still_prints_the_config_accesses_per_operation) {
  for (const bool json : {false, true}) {
    BOOST_TEST_CONTEXT((json ? "--json" : "text")) {
      std::vector<std::string> args{perf, "--memory", "--duration", "100"};
      if (json) args.emplace_back("--json");
      program_process run(args, program_process::capture::stdout_and_stderr);
      BOOST_TEST_REQUIRE(run.wait_for_output(" blocks/s "));
      run.signal(SIGSTOP);
      run.signal(SIGINT);
      run.signal(SIGTERM);
      run.signal(SIGCONT);
      BOOST_TEST(run.wait_exit() == 130, run.output());
      BOOST_TEST(contains(run.output(), "second signal"), run.output());
      // A 128-byte read is 35 accesses; the operations in flight when the tool exits add a few.
      BOOST_TEST(contains(run.output(), json ? "\"config_accesses_per_op\":3" : "config accesses per operation  3"),
                 run.output());
    }
  }
}

// Over vfio-user the VF's config accesses are exchanges with the server, and one cannot be cancelled (its
// reply keeps the stream in step). A server that stops answering holds one up to its reply deadline (here
// 60 s, --timeout): Ctrl-C cancelled the operations and then waited for that exchange, and a second
// Ctrl-C, once the operations were cancelled, was not listened for. The run's end now closes the
// connection, and signals are listened for until the run is over.
BOOST_AUTO_TEST_CASE(ctrl_c_does_not_wait_for_an_exchange_the_vfio_user_server_does_not_answer) {
  temp_directory dir;
  BOOST_TEST_REQUIRE(dir.made());
  const std::string path = dir / "device.sock";
  vfio_user_device device(path);
  BOOST_TEST_REQUIRE(device.ready());
  program_process run({perf, "--role", "vf", "--vfio-user", path, "--duration", "1000", "--timeout", "60000", "--json"},
                      program_process::capture::stdout_and_stderr);
  const bool progressed = run.wait_for_output(" blocks/s ");
  device.stop_answering();
  BOOST_TEST_REQUIRE(progressed);
  // A request reaches the stopped server: from now on only its reply deadline would end that exchange.
  BOOST_TEST_REQUIRE(device.request_unanswered());
  run.signal(SIGINT);
  BOOST_TEST(run.wait_exit() == 0, run.output());  // bounded by the guard (10 s), far below the 60 s deadline
  BOOST_TEST(contains(run.output(), "\"interrupted\":true"), run.output());
  BOOST_TEST(contains(run.output(), "\"error_count\":0,\"errors\":{}"), run.output());
  BOOST_TEST(json_number(run.output(), "operations") > 0.0, run.output());
}

// A signal before the load runs (connecting, a vfio-user handshake the server never answers) ended the
// tool without a word, as the default action does. It says so (with --json as {"error": ...} on stdout
// too) and then ends as the signal ends any program, so that a shell loop running it stops too.
BOOST_AUTO_TEST_CASE(a_signal_while_setting_up_says_so_and_ends_the_tool_as_the_signal_does) {
  temp_directory dir;
  BOOST_TEST_REQUIRE(dir.made());
  const std::string path = dir / "silent.sock";
  unix_listener silent(path, true);  // the kernel completes the connection; nobody answers the handshake
  BOOST_TEST_REQUIRE(silent.bound());
  program_process setup({perf, "--role", "vf", "--vfio-user", path, "--count", "10", "--timeout", "60000", "--json"},
                        program_process::capture::stdout_and_stderr);
  BOOST_TEST_REQUIRE(silent.connected_to());  // the tool waits for the handshake's first reply
  setup.signal(SIGINT);
  BOOST_TEST(setup.wait_exit() == -1, setup.output());
  BOOST_TEST(setup.end_signal() == SIGINT);
  BOOST_TEST(contains(setup.output(), "{\"error\":\"interrupted while setting up\"}\n"), setup.output());
  BOOST_TEST(contains(setup.output(), "vpci-perf: interrupted while setting up\n"), setup.output());
}

// The reads that find the block's size came first, and one that failed otherwise than by being too short
// (a timeout, a refusal) was dropped: the load started and the failure was in no figure, so a run whose
// other operations all succeeded, or that was interrupted in its warm-up, said "errors none" and exited 0.
// It is reported in both outputs ("sizing failed", "sizing_error") and makes the exit status 1.
BOOST_AUTO_TEST_CASE(a_failed_sizing_read_is_reported_and_fails_the_run) {
  temp_directory dir;
  BOOST_TEST_REQUIRE(dir.made());
  // A write-only block: the PF refuses the sizing read, and every measured write succeeds.
  const std::string path = dir / "device.sock";
  vfio_user_device device(path, vpci::block_access::write_only);
  BOOST_TEST_REQUIRE(device.ready());
  const auto json = run_perf({"--role", "vf", "--vfio-user", path, "--read-percent", "0", "--count", "3", "--warmup",
                              "0", "--json", "--quiet"});
  BOOST_TEST(json.status == 1, json.output);
  BOOST_TEST(json_number(json.output, "writes") == 3.0, json.output);
  BOOST_TEST(json_number(json.output, "error_count") == 0.0, json.output);
  BOOST_TEST(json_number(json.output, "warmup_error_count") == 0.0, json.output);
  BOOST_TEST(contains(json.output, "\"sizing_error\":\"access denied\","), json.output);
  // A PF that never answers: the sizing read times out. Whatever follows, the human output names it too.
  const std::string config = dir / "config";
  write_unanswered_mailbox(config);
  const auto human = run_perf({"--role", "vf", "--sysfs", config, "--count", "1", "--warmup", "0", "--timeout", "1",
                               "--quiet"});
  BOOST_TEST(human.status == 1, human.output);
  BOOST_TEST(contains(human.output, "\n  sizing      failed: operation timed out (the block's size was not checked)\n"),
             human.output);
  // A run whose sizing read succeeded has none.
  const auto fine = run_perf({"--memory", "--count", "5", "--warmup", "0", "--json", "--quiet"});
  BOOST_TEST(fine.status == 0, fine.output);
  BOOST_TEST(contains(fine.output, "\"sizing_error\":null,"), fine.output);
}

// While the block's size is being read, the progress line says so; it said "[warm-up] 0 of 100 operations"
// of a sizing read waiting for a PF that never answers.
BOOST_AUTO_TEST_CASE(the_progress_line_while_sizing_says_sizing_not_warm_up) {
  temp_directory dir;
  BOOST_TEST_REQUIRE(dir.made());
  const std::string config = dir / "config";
  vpci::mailbox_options no_heartbeat;
  no_heartbeat.heartbeat = std::chrono::milliseconds(0);  // the read waits for its deadline alone
  write_unanswered_mailbox(config, no_heartbeat);
  program_process run({perf, "--role", "vf", "--sysfs", config, "--count", "10", "--timeout", "60000"},
                      program_process::capture::stdout_and_stderr);
  BOOST_TEST_REQUIRE(run.wait_for_output("[sizing] reading the size of block 3\n"), run.output());
  run.signal(SIGINT);
  BOOST_TEST(run.wait_exit() == 0, run.output());  // the sizing read was cancelled, not failed
  BOOST_TEST(!contains(run.output(), "[warm-up]"), run.output());
  BOOST_TEST(contains(run.output(), "nothing measured: interrupted before the block's size was known"), run.output());
  BOOST_TEST(!contains(run.output(), "sizing      failed"), run.output());
}

// Found by a review: a block the PF does not define made every operation fail ("invalid argument", exit
// status 1, latencies of zero). The PF's refusal of the first read is a set-up failure naming the block;
// with --json, stdout holds it as {"error": ...} too.
BOOST_AUTO_TEST_CASE(a_block_the_pf_does_not_define_is_a_setup_failure) {
  temp_directory dir;
  BOOST_TEST_REQUIRE(dir.made());
  for (const std::string transport : {"--shm", "--unix"}) {
    BOOST_TEST_CONTEXT(transport) {
      const std::string where = transport == "--shm" ? shm_name("missing") : dir / "missing.sock";
      program_process pf({perf, "--role", "pf", transport, where, "--block-size", "64"},
                         program_process::capture::stdout_and_stderr);
      BOOST_TEST_REQUIRE(pf.wait_for_output("Ctrl-C ends"));
      const auto run = run_perf({"--role", "vf", transport, where, "--block-id", "9", "--block-size", "64", "--count",
                                 "10", "--warmup", "0"});
      BOOST_TEST(run.status == 2);
      BOOST_TEST(contains(run.output, "vpci-perf: block 9: the PF refuses to read it (invalid argument: no such block?)"),
                 run.output);
      BOOST_TEST(!contains(run.output, "errors "));
      pf.signal(SIGTERM);
      BOOST_TEST(pf.wait_exit() == 0);
    }
  }
}

// Found by a review: a run whose every operation failed printed latencies of 0 as if measured ("p50 0.00",
// JSON "min":0). It says no operation succeeded, and the JSON's latency fields are null.
BOOST_AUTO_TEST_CASE(a_run_without_a_successful_operation_reports_no_latency) {
  temp_directory dir;
  BOOST_TEST_REQUIRE(dir.made());
  const std::string config = dir / "config";
  write_unanswered_mailbox(config);
  const std::vector<std::string> args{"--role", "vf", "--sysfs", config, "--count", "2", "--warmup", "0",
                                      "--timeout", "1", "--quiet"};
  auto json_args = args;
  json_args.push_back("--json");
  const auto json = run_perf(json_args);
  BOOST_TEST(json.status == 1);
  BOOST_TEST(contains(json.output, "\"latency_ns\":{\"min\":null,\"mean\":null,\"p50\":null,\"p90\":null,\"p99\":null,"
                                   "\"p99_9\":null,\"max\":null}"),
             json.output);
  const auto human = run_perf(args);
  BOOST_TEST(human.status == 1);
  BOOST_TEST(contains(human.output, "operations  2 (0 reads, 0 writes, 2 failed)"), human.output);
  BOOST_TEST(contains(human.output, "  latency     none: no operation succeeded\n"), human.output);
  BOOST_TEST(!contains(human.output, "p50"));
}

// Found by a review: an option that needs a value took the next option for it ("--shm --json" ran with a
// space named "--json", and without JSON). A value that starts with -- is refused, naming the option;
// --option=VALUE gives any value, one starting with -- too.
BOOST_AUTO_TEST_CASE(an_option_without_its_value_is_refused) {
  const auto missing = run_perf({"--count", "10", "--shm", "--json", "--quiet"});
  BOOST_TEST(missing.status == 2);
  BOOST_TEST(contains(missing.output, "vpci-perf: --shm needs a value, not the option '--json' (--shm=VALUE gives "
                                      "a value starting with --)"),
             missing.output);
  const auto at_end = run_perf({"--memory", "--count"});
  BOOST_TEST(at_end.status == 2);
  BOOST_TEST(contains(at_end.output, "--count needs a value"), at_end.output);
  // --option=VALUE: the value is taken as it is.
  const auto joined = run_perf({"--memory", "--count=10", "--warmup=0", "--json", "--quiet"});
  BOOST_TEST(joined.status == 0, joined.output);
  BOOST_TEST(json_number(joined.output, "operations") == 10.0, joined.output);
  const auto dashes = run_perf({"--role", "vf", "--unix=--no-such.sock", "--count", "10"});
  BOOST_TEST(dashes.status == 2);
  BOOST_TEST(contains(dashes.output, "cannot connect to '--no-such.sock': "), dashes.output);
  // A flag takes no value.
  const auto flag = run_perf({"--memory", "--count", "10", "--quiet=yes"});
  BOOST_TEST(flag.status == 2);
  BOOST_TEST(contains(flag.output, "--quiet takes no value"), flag.output);
}

// Found by a review: with --json a set-up failure wrote nothing to stdout, only its message to stderr. As
// iperf3 -J does, stdout holds {"error": MESSAGE}; the exit status stays 2. Found by a later review: a path
// that is not UTF-8 (a byte 0xFF) made JSON that readers refuse. The path is now quoted in the message, the
// byte as \xFF (examples/quoted_text.hpp), and the JSON string escapes that backslash.
BOOST_AUTO_TEST_CASE(a_setup_failure_with_json_prints_a_json_error) {
  temp_directory dir;
  BOOST_TEST_REQUIRE(dir.made());
  struct path_case {
    std::string name;
    std::string in_json;
  };
  for (const auto& [name, in_json] : {path_case{"missing.sock", "missing.sock"}, path_case{"a\xff", "a\\\\xFF"}}) {
    program_process run({perf, "--role", "vf", "--unix", dir / name, "--count", "10", "--json"});  // stdout only
    BOOST_TEST(run.wait_exit() == 2);
    BOOST_TEST(run.output() == "{\"error\":\"cannot connect to '" + (dir / in_json) + "': No such file or directory\"}\n",
               run.output());
  }
}

// --role pf took the VF's options (--count, --duration, ...) silently, as if it would act on them. It warns
// (an argument list is often shared by both roles' command lines) and serves as before. --json is not one
// of them: it warned that it had no effect, yet gave a PF's set-up failure as {"error": ...}, as it does.
BOOST_AUTO_TEST_CASE(the_pf_role_warns_about_the_vf_options_it_ignores) {
  temp_directory dir;
  BOOST_TEST_REQUIRE(dir.made());
  program_process pf({perf, "--role", "pf", "--unix", dir / "pf.sock", "--count", "10", "--json"},
                     program_process::capture::stdout_and_stderr);
  BOOST_TEST_REQUIRE(pf.wait_for_output("Ctrl-C ends"));
  pf.signal(SIGTERM);
  BOOST_TEST(pf.wait_exit() == 0);
  BOOST_TEST(contains(pf.output(), "vpci-perf: warning: --count has no effect with --role pf"), pf.output());
  BOOST_TEST(!contains(pf.output(), "--json"), pf.output());
  const std::string unreachable = dir / "no-such-directory/pf.sock";
  program_process failed({perf, "--role", "pf", "--unix", unreachable, "--json"});  // stdout only
  BOOST_TEST(failed.wait_exit() == 2);
  BOOST_TEST(failed.output().starts_with("{\"error\":\""), failed.output());
  BOOST_TEST(contains(failed.output(), unreachable), failed.output());
}

// Found by a review: with --json a set-up failure was {"error": ...} on stdout, a bad argument nothing at
// all. --json anywhere on the command line, after the bad argument too, makes it JSON; the message stays
// on stderr, and the exit status is 2.
BOOST_AUTO_TEST_CASE(a_usage_error_with_json_prints_a_json_error) {
  struct usage_case {
    std::vector<std::string> args;
    std::string message;
  };
  for (const auto& [args, message] :
       {usage_case{{"--memory", "--block-size", "0", "--json"}, "bad block size '0'"},
        usage_case{{"--json", "--memory", "--block-size", "0"}, "bad block size '0'"},
        usage_case{{"--count", "10", "--shm", "--json"}, "--shm needs a value, not the option '--json' (--shm=VALUE "
                                                          "gives a value starting with --)"},
        usage_case{{"--role", "pf", "--memory", "--json"}, "--memory needs --role both"}}) {
    BOOST_TEST_CONTEXT(message) {
      std::vector<std::string> command{perf};
      command.insert(command.end(), args.begin(), args.end());
      program_process json(command);  // stdout only
      BOOST_TEST(json.wait_exit() == 2);
      BOOST_TEST(json.output() == "{\"error\":\"" + message + "\"}\n", json.output());
      const auto both = run_perf(args);
      BOOST_TEST(both.status == 2);
      BOOST_TEST(contains(both.output, "vpci-perf: " + message + " (vpci-perf --help)\n"), both.output);
    }
  }
  // Without --json stdout stays empty.
  program_process human({perf, "--memory", "--block-size", "0"});
  BOOST_TEST(human.wait_exit() == 2);
  BOOST_TEST(human.output().empty(), human.output());
}

// Found by a review: a VF whose PF ended said "ended by Broken pipe" (the PF's Ctrl-C) or "End of file"
// (TCP, the PF killed), and the PF said its own Ctrl-C ended the connection with "VF removed or reset".
// The VF says the PF closed the connection, the PF that it is shutting down.
BOOST_AUTO_TEST_CASE(a_pf_that_ends_is_named_as_the_end_of_the_run) {
  temp_directory dir;
  BOOST_TEST_REQUIRE(dir.made());
  struct ending {
    std::string transport;
    int signal;
  };
  for (const auto& [transport, signal] : {ending{"--unix", SIGINT}, ending{"--tcp", SIGKILL}}) {
    BOOST_TEST_CONTEXT(transport << ", signal " << signal) {
      const std::string where = transport == "--unix" ? dir / "ending.sock" : "127.0.0.1:0";
      program_process pf({perf, "--role", "pf", transport, where}, program_process::capture::stdout_and_stderr);
      BOOST_TEST_REQUIRE(pf.wait_for_output("; Ctrl-C ends"));
      std::string serving = where;
      if (transport == "--tcp") {
        const auto at = pf.output().find("on tcp ") + 7;
        serving = pf.output().substr(at, pf.output().find(';', at) - at);
      }
      program_process vf({perf, "--role", "vf", transport, serving, "--duration", "100", "--json"},
                         program_process::capture::stdout_and_stderr);
      BOOST_TEST_REQUIRE(vf.wait_for_output(" blocks/s "));
      pf.signal(signal);
      const int pf_status = pf.wait_exit();
      BOOST_TEST(vf.wait_exit() == 1, vf.output());  // the operation in flight failed
      BOOST_TEST(contains(vf.output(), "\"ended_by\":\"the PF closed the connection\""), vf.output());
      BOOST_TEST(contains(vf.output(), "\"errors\":{\"the PF closed the connection\":1}"), vf.output());
      if (signal == SIGINT) {
        BOOST_TEST(pf_status == 0);
        BOOST_TEST(contains(pf.output(), "[pf] connection ended: the PF is shutting down\n"), pf.output());
        BOOST_TEST(!contains(pf.output(), "VF removed"), pf.output());
      }
    }
  }
}

// Found by a review: --duration went through strtod, which takes " 1", "0x1p-3" and "1e3", while the
// whole-number options refuse a space and hexadecimal. It follows their rule (examples/option_number.hpp):
// decimal digits and an optional fraction.
BOOST_AUTO_TEST_CASE(a_duration_is_decimal_digits_with_an_optional_fraction) {
  for (const std::string duration : {" 1", "1 ", "0x1p-3", "1e3", "-1", "+1", "inf", "nan", "0", "0.0", ".5"}) {
    BOOST_TEST_CONTEXT("'" << duration << "'") {
      const auto run = run_perf({"--memory", "--duration", duration});
      BOOST_TEST(run.status == 2);
      BOOST_TEST(contains(run.output, "vpci-perf: bad duration '" + duration + "' (vpci-perf --help)"), run.output);
    }
  }
  const auto fraction = run_perf({"--memory", "--duration", "0.05", "--warmup", "0", "--json", "--quiet"});
  BOOST_TEST(fraction.status == 0, fraction.output);
  BOOST_TEST(json_number(fraction.output, "seconds") >= 0.05, fraction.output);
}

// Found by a review: "--role pf --shm=" said "cannot create shared memory : Invalid argument", and
// "--role both --shm=" ran on a name of its own choosing. An empty transport value is a usage error that
// names the option.
BOOST_AUTO_TEST_CASE(an_empty_transport_value_is_a_usage_error) {
  struct empty_case {
    std::string role;
    std::string option;
  };
  for (const auto& [role, option] : {empty_case{"pf", "--shm"}, empty_case{"both", "--shm"}, empty_case{"pf", "--unix"},
                                     empty_case{"pf", "--tcp"}, empty_case{"vf", "--sysfs"},
                                     empty_case{"vf", "--vfio-user"}}) {
    for (const bool joined : {true, false}) {
      BOOST_TEST_CONTEXT(role << " " << option << (joined ? "=" : " ''")) {
        std::vector<std::string> args{"--role", role};
        if (joined) {
          args.push_back(option + "=");
        } else {
          args.push_back(option);
          args.emplace_back("");
        }
        args.insert(args.end(), {"--count", "10"});
        const auto run = run_perf(args);
        BOOST_TEST(run.status == 2);
        BOOST_TEST(contains(run.output, "vpci-perf: " + option + " needs a value, not an empty one (vpci-perf --help)"),
                   run.output);
      }
    }
  }
}

// Found by a review: "bad role" and "bad binding" did not repeat the value given, and a block of one byte
// "holds 1 bytes".
// From the tools' mutation audit (each of these survived a mutant): MB/s is blocks/s times the block
// size (a throughput tool's headline figure, never related to anything), and a warm-up without failures
// still reports its line.
BOOST_AUTO_TEST_CASE(mb_per_second_is_blocks_per_second_times_the_block_size) {
  for (const char* size : {"64", "128"}) {
    BOOST_TEST_CONTEXT("block size " << size) {
      const auto run = run_perf({"--memory", "--count", "300", "--warmup", "5", "--block-size", size, "--json", "--quiet"});
      BOOST_TEST(run.status == 0, run.output);
      const double blocks = json_number(run.output, "blocks_per_second");
      const double mb = json_number(run.output, "mb_per_second");
      BOOST_TEST(blocks > 0.0, run.output);
      // Printed as %.1f and %.3f: the rounding of each, no more.
      BOOST_TEST(std::abs(mb - blocks * std::stod(size) / 1e6) <= 0.0005 + 0.05 * std::stod(size) / 1e6, run.output);
    }
  }
  const auto text = run_perf({"--memory", "--count", "10", "--warmup", "5"});
  BOOST_TEST(text.status == 0, text.output);
  BOOST_TEST(contains(text.output, "  warm-up     5 operations (0 failed)"), text.output);
}

// From the tools' mutation audit: the bounds of the queue depth (1 to 16 on binding 1, 1 to 64 on binding
// 2) and of the read percentage (0 to 100) were never tried at the value just past them.
BOOST_AUTO_TEST_CASE(queue_depth_and_read_percentage_are_refused_just_past_their_bounds) {
  const auto deep_mailbox = run_perf({"--memory", "--queue-depth", "17", "--count", "1"});
  BOOST_TEST(deep_mailbox.status == 2);
  BOOST_TEST(contains(deep_mailbox.output, "queue depth above 16 on binding 1"), deep_mailbox.output);
  const auto deepest_hyperv = run_perf({"--memory", "--binding", "hyperv", "--queue-depth", "64", "--count", "64", "--quiet"});
  BOOST_TEST(deepest_hyperv.status == 0, deepest_hyperv.output);
  const auto too_deep = run_perf({"--memory", "--binding", "hyperv", "--queue-depth", "65", "--count", "1"});
  BOOST_TEST(too_deep.status == 2);
  BOOST_TEST(contains(too_deep.output, "bad queue depth '65'"), too_deep.output);
  const auto zero = run_perf({"--memory", "--queue-depth", "0", "--count", "1"});
  BOOST_TEST(zero.status == 2);
  BOOST_TEST(contains(zero.output, "bad queue depth '0'"), zero.output);
  const auto percent = run_perf({"--memory", "--read-percent", "101", "--count", "1"});
  BOOST_TEST(percent.status == 2);
  BOOST_TEST(contains(percent.output, "bad read percentage '101'"), percent.output);
  const auto all_writes = run_perf({"--memory", "--read-percent", "0", "--count", "10", "--json", "--quiet"});
  BOOST_TEST(all_writes.status == 0, all_writes.output);
  BOOST_TEST(json_number(all_writes.output, "reads") == 0.0, all_writes.output);
  BOOST_TEST(json_number(all_writes.output, "writes") == 10.0, all_writes.output);
}

BOOST_AUTO_TEST_CASE(messages_name_the_value_and_count_in_the_right_number) {
  const auto role = run_perf({"--role", "pff", "--memory"});
  BOOST_TEST(role.status == 2);
  BOOST_TEST(contains(role.output, "bad role 'pff': give pf, vf or both"), role.output);
  const auto binding = run_perf({"--binding", "3", "--memory"});
  BOOST_TEST(binding.status == 2);
  BOOST_TEST(contains(binding.output, "bad binding '3': give mailbox (or 1) or hyperv (or 2)"), binding.output);
  const std::string name = shm_name("one-byte");
  program_process pf({perf, "--role", "pf", "--shm", name, "--block-size", "1"},
                     program_process::capture::stdout_and_stderr);
  BOOST_TEST_REQUIRE(pf.wait_for_output("Ctrl-C ends"));
  BOOST_TEST(contains(pf.output(), "block 3 (1 byte)"), pf.output());
  const auto run = run_perf({"--role", "vf", "--shm", name, "--block-size", "2", "--count", "10"});
  BOOST_TEST(run.status == 2);
  BOOST_TEST(contains(run.output, "block 3 holds 1 byte, not --block-size 2"), run.output);
}

// Found by a review: --sysfs errors did not name the file ("reading the config space failed: invalid
// argument" for /dev/null), and a PCI address, as vpci-conformance's --sysfs takes, was opened as a file
// name. Errors name the file; an address names /sys/bus/pci/devices/DDDD:BB:DD.F/config.
BOOST_AUTO_TEST_CASE(sysfs_errors_name_the_file_and_a_pci_address_names_its_config_file) {
  const auto empty = run_perf({"--role", "vf", "--sysfs", "/dev/null", "--count", "1"});
  BOOST_TEST(empty.status == 2);
  BOOST_TEST(contains(empty.output, "'/dev/null' is not a PCI function's config space: it holds 0 bytes"), empty.output);
  // Domain ffff: a function no machine has, so that the open fails the same way everywhere.
  for (const std::string address : {"ffff:ff:1f.7", "FFFF:FF:1F.7"}) {
    const auto run = run_perf({"--role", "vf", "--sysfs", address, "--count", "1"});
    BOOST_TEST(run.status == 2);
    BOOST_TEST(contains(run.output, "cannot open '/sys/bus/pci/devices/ffff:ff:1f.7/config' read-write"), run.output);
  }
  // The short form is domain 0: this test only checks the file named, whatever the machine has there.
  const auto short_form = run_perf({"--role", "vf", "--sysfs", "ff:1f.7", "--count", "1"});
  BOOST_TEST(short_form.status == 2);
  BOOST_TEST(contains(short_form.output, "/sys/bus/pci/devices/0000:ff:1f.7/config"), short_form.output);
}

// Two VFs on one shared-memory mailbox were neither refused nor warned about: the second VF's requests
// overwrote the first one's in the window's registers, and each read answers meant for the other. The VF
// now opens the space as its only read-write driver (vpci::shm_sharing::exclusive) and is refused, naming
// the mailbox, while another driver is attached: here one the test holds, as another tool would, and then
// a second vpci-perf VF beside a running one, whose run goes on without an error.
BOOST_AUTO_TEST_CASE(a_second_vf_on_one_shared_memory_mailbox_is_refused) {
  const std::string name = shm_name("second-vf");
  program_process pf({perf, "--role", "pf", "--shm", name}, program_process::capture::stdout_and_stderr);
  BOOST_TEST_REQUIRE(pf.wait_for_output("Ctrl-C ends"));
  const std::string refused = "vpci-perf: another VF is attached to mailbox '" + name + "'";
  {
    boost::asio::io_context io;
    const auto other = vpci::shm_config_space::open(io.get_executor(), name);  // a read-write driver
    const auto run = run_perf({"--role", "vf", "--shm", name, "--count", "10", "--warmup", "0"});
    BOOST_TEST(run.status == 2, run.output);
    BOOST_TEST(contains(run.output, refused), run.output);
    BOOST_TEST(!contains(run.output, "operations"), run.output);
  }
  program_process first({perf, "--role", "vf", "--shm", name, "--duration", "100", "--json"},
                        program_process::capture::stdout_and_stderr);
  BOOST_TEST_REQUIRE(first.wait_for_output(" blocks/s "));
  const auto second = run_perf({"--role", "vf", "--shm", name, "--count", "1000", "--warmup", "0", "--json"});
  BOOST_TEST(second.status == 2, second.output);
  BOOST_TEST(contains(second.output, refused), second.output);
  BOOST_TEST(contains(second.output, "{\"error\":\"another VF is attached to mailbox '" + name + "'"), second.output);
  first.signal(SIGINT);
  BOOST_TEST(first.wait_exit() == 0, first.output());
  BOOST_TEST(contains(first.output(), "\"error_count\":0,\"errors\":{}"), first.output());
  BOOST_TEST(contains(first.output(), "\"warmup_error_count\":0,"), first.output());
  // Once the first VF is gone, the mailbox takes a VF again.
  const auto after = run_perf({"--role", "vf", "--shm", name, "--count", "10", "--warmup", "0"});
  BOOST_TEST(after.status == 0, after.output);
}

// The PF role took SIGINT and SIGTERM only once it was serving: one that came while it set up (here while
// it waits for the lock of its socket's directory, held by the test) was held back, and the PF went on
// waiting, then served, then shut down as if the signal had come then. It now ends as the VF role does
// during its set-up: it says so (with --json as {"error": ...} on stdout too) and ends as the signal ends
// any program, having made nothing.
BOOST_AUTO_TEST_CASE(a_signal_while_the_pf_sets_up_says_so_and_ends_the_tool_as_the_signal_does) {
  temp_directory dir;
  BOOST_TEST_REQUIRE(dir.made());
  const std::string path = dir / "pf.sock";
  const int directory = ::open((dir / "").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  BOOST_TEST_REQUIRE(directory >= 0);
  BOOST_TEST_REQUIRE(::flock(directory, LOCK_EX) == 0);
  program_process pf({perf, "--role", "pf", "--unix", path, "--json"}, program_process::capture::stdout_and_stderr);
  BOOST_TEST_REQUIRE(waits_for_a_lock(pf.pid()));
  pf.signal(SIGINT);
  const int status = pf.wait_exit();
  ::close(directory);
  BOOST_TEST(status == -1, pf.output());
  BOOST_TEST(pf.end_signal() == SIGINT);
  BOOST_TEST(contains(pf.output(), "{\"error\":\"interrupted while setting up\"}\n"), pf.output());
  BOOST_TEST(contains(pf.output(), "vpci-perf: interrupted while setting up\n"), pf.output());
  BOOST_TEST(!contains(pf.output(), "Ctrl-C ends"), pf.output());
  BOOST_TEST(!fs::exists(fs::symlink_status(path)));
}

// A socket path longer than sockaddr_un holds is one line naming the path and the reason, not Asio's
// exception text with its source location, whichever role meets it first: the VF connecting, the PF (and
// --role both) listening.
BOOST_AUTO_TEST_CASE(a_socket_path_too_long_for_sun_path_is_a_setup_failure_naming_it) {
  const std::string too_long = "/tmp/" + std::string(200, 'x') + ".sock";
  struct path_case {
    std::string role;
    std::string message;
  };
  for (const auto& [role, message] : {path_case{"vf", "cannot use socket path "}, path_case{"pf", "cannot listen on "},
                                      path_case{"both", "cannot listen on "}}) {
    BOOST_TEST_CONTEXT("role " << role) {
      const auto run = run_perf({"--role", role, "--unix", too_long, "--count", "10"});
      BOOST_TEST(run.status == 2, run.output);
      BOOST_TEST(contains(run.output, "vpci-perf: " + message + "'" + too_long + "': File name too long\n"), run.output);
      BOOST_TEST(!contains(run.output, ".hpp"), run.output);
    }
  }
}

// vpci-perf put the text it was given into its messages raw or between bare quotes: a newline in a socket
// path split the message, an escape sequence in an option drove the terminal. As vpci-conformance's and
// vpci-inspect's, its messages quote every text given through examples/quoted_text.hpp, a byte outside
// printable ASCII as \xHH: usage errors, set-up failures, and the PF's serving line; the JSON error object
// holds the quoted text as a JSON string.
BOOST_AUTO_TEST_CASE(text_given_with_a_control_character_is_quoted_in_every_message) {
  temp_directory dir;
  BOOST_TEST_REQUIRE(dir.made());
  struct quoted {
    std::vector<std::string> args;  // after the program
    std::string message;            // a whole line
  };
  const std::string missing = dir / "no\nsuch.sock";
  const std::string quoted_missing = dir / "no\\x0Asuch.sock";
  const std::string file = dir / "notes\x1b[2J";
  std::ofstream(file) << "keep me";
  const std::string zeros = dir / "config\t";
  std::ofstream(zeros) << std::string(4096, '\0');
  const std::string space = shm_name("no-such-space\x1b[2J");
  const std::string quoted_space = "'" + shm_name("no-such-space\\x1B[2J") + "'";
  const std::string help = " (vpci-perf --help)";
  const quoted messages[] = {
      // Usage errors: status 2, the usage hint after the message.
      {{"--memory", "--bogus\x1b[2J"}, "vpci-perf: unknown argument '--bogus\\x1B[2J'" + help},
      {{"--role", "p\nf", "--memory"}, "vpci-perf: bad role 'p\\x0Af': give pf, vf or both" + help},
      {{"--binding", "hyper\bv", "--memory"}, "vpci-perf: bad binding 'hyper\\x08v': give mailbox (or 1) or hyperv (or 2)" + help},
      {{"--memory", "--count", "1\x1b"}, "vpci-perf: bad count '1\\x1B'" + help},
      {{"--memory", "--duration=\x7f" "1"}, "vpci-perf: bad duration '\\x7F1'" + help},
      {{"--memory", "--block-size", "\xef\xbb\xbf" "64"}, "vpci-perf: bad block size '\\xEF\\xBB\\xBF64'" + help},
      {{"--count", "10", "--shm", "--json\n"},
       "vpci-perf: --shm needs a value, not the option '--json\\x0A' (--shm=VALUE gives a value starting with --)" + help},
      {{"--role", "vf", "--tcp", "127.0.0.1\x1b"}, "vpci-perf: --tcp: expected HOST:PORT, got '127.0.0.1\\x1B'" + help},
      {{"--role", "vf", "--tcp", ":50\n00"}, "vpci-perf: --tcp: expected HOST:PORT, got ':50\\x0A00'" + help},
      {{"--role", "vf", "--tcp", "127.0.0.1:no\x1bport"}, "vpci-perf: --tcp: the port of '127.0.0.1:no\\x1Bport' is not a number in 1..65535" + help},
      // Set-up failures: status 2, the text named as given.
      {{"--role", "vf", "--unix", missing, "--count", "10", "--quiet"},
       "vpci-perf: cannot connect to '" + quoted_missing + "': No such file or directory"},
      {{"--role", "pf", "--unix", dir / "no-such-directory/pf\n.sock"},
       "vpci-perf: cannot listen on '" + (dir / "no-such-directory/pf\\x0A.sock") + "': No such file or directory"},
      {{"--role", "pf", "--unix", file},
       "vpci-perf: '" + (dir / "notes\\x1B[2J") + "' exists and is not a socket; give another socket path"},
      {{"--role", "vf", "--shm", space, "--count", "10", "--quiet"},
       "vpci-perf: cannot open shared memory " + quoted_space + ": No such file or directory"},
      {{"--role", "vf", "--sysfs", dir / "no-such-config\x1b", "--count", "10", "--quiet"},
       "vpci-perf: cannot open '" + (dir / "no-such-config\\x1B") +
           "' read-write (the mailbox writes its registers to read a block too): No such file or directory"},
      {{"--role", "vf", "--sysfs", zeros, "--count", "10", "--quiet"},
       "vpci-perf: no vpci mailbox in the config space of '" + (dir / "config\\x09") + "' (not found)"},
      {{"--role", "vf", "--vfio-user", missing, "--count", "10", "--quiet"},
       "vpci-perf: cannot connect to the vfio-user server at '" + quoted_missing + "': No such file or directory"},
  };
  for (const quoted& q : messages) {
    BOOST_TEST_CONTEXT(q.message) {
      const auto run = run_perf(q.args);
      BOOST_TEST(run.status == 2, run.output);
      // A line of its own: nothing of the text given broke it.
      const auto at = run.output.find(q.message + "\n");
      BOOST_TEST(at != std::string::npos, run.output);
      if (at != std::string::npos) BOOST_TEST((at == 0 || run.output[at - 1] == '\n'), run.output);
    }
  }
  BOOST_TEST(read_file(file) == "keep me");
  // In the JSON the quoted text is what the message says, a JSON string of it: a usage error and a set-up
  // failure.
  program_process usage({perf, "--memory", "--count", "1\x1b", "--json"});  // stdout only
  BOOST_TEST(usage.wait_exit() == 2);
  BOOST_TEST(usage.output() == R"json({"error":"bad count '1\\x1B'"})json" "\n", usage.output());
  program_process setup({perf, "--role", "vf", "--unix", missing, "--count", "10", "--json"});  // stdout only
  BOOST_TEST(setup.wait_exit() == 2);
  BOOST_TEST(setup.output() == "{\"error\":\"cannot connect to '" + (dir / "no\\\\x0Asuch.sock") +
                                   "': No such file or directory\"}\n",
             setup.output());
  // The PF's serving line names its socket so too.
  const std::string served = dir / "pf\x1b[2J.sock";
  program_process pf({perf, "--role", "pf", "--unix", served}, program_process::capture::stdout_and_stderr);
  BOOST_TEST_REQUIRE(pf.wait_for_output("; Ctrl-C ends\n"));
  BOOST_TEST(contains(pf.output(), "[pf] serving VF 0, block 3 (128 bytes), on unix '" + (dir / "pf\\x1B[2J.sock") +
                                       "'; Ctrl-C ends\n"),
             pf.output());
  pf.signal(SIGTERM);
  BOOST_TEST(pf.wait_exit() == 0, pf.output());
}

BOOST_AUTO_TEST_SUITE_END()  // perf_tool_test
