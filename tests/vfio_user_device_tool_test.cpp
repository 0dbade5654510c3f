// vpci-vfio-user-device (examples/vfio_user_device.cpp) and examples/run_with_vfio_user_device.sh run as
// their users run them, as child processes; every wait is bounded (child_process.hpp). The clients are
// vpci's own vfio-user transport, in this process.
#include <boost/test/unit_test.hpp>

#include <array>
#include <csignal>
#include <span>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>
#include <vector>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/write.hpp>

#include <vpci/transport/vfio_user_config_space.hpp>
#include <vpci/vpci.hpp>
#include <vpci/wire/vfio_user.hpp>

#include "child_process.hpp"

BOOST_AUTO_TEST_SUITE(vfio_user_device_tool_test)

namespace {

using vpci::test::program_process;
namespace fs = std::filesystem;

const std::string device_program = VPCI_VFIO_USER_DEVICE_PROGRAM;
const std::string run_script = VPCI_RUN_WITH_VFIO_USER_DEVICE;

using vpci::test::contains;

// A path of this test process's own, removed (whatever is there) when the test ends.
class scratch_path {
 public:
  explicit scratch_path(const std::string& what)
      : path_("/tmp/vpci-device-test-" + std::to_string(::getpid()) + "-" + what) {
    remove();
  }
  ~scratch_path() { remove(); }
  scratch_path(const scratch_path&) = delete;
  scratch_path& operator=(const scratch_path&) = delete;
  [[nodiscard]] const std::string& str() const noexcept { return path_; }

 private:
  void remove() const {
    std::error_code ignored;
    fs::remove(path_, ignored);
  }
  std::string path_;
};

std::optional<ino_t> inode_of(const std::string& path) {
  struct ::stat status {};
  if (::lstat(path.c_str(), &status) != 0) return std::nullopt;
  return status.st_ino;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// vpci-vfio-user-device on `path`, started and waited for until it listens.
struct running_device {
  explicit running_device(const std::string& path)
      : process({device_program, path}, program_process::capture::stdout_and_stderr),
        listening(process.wait_for_output("listening on " + path + "\n")) {}
  program_process process;
  bool listening;
};

// A client that connects to the device at `path` and completes the handshake: the error, if any.
boost::system::error_code handshake(const std::string& path) {
  boost::asio::io_context io;
  vpci::vfio_user_config_space client(io.get_executor());
  boost::system::error_code ec;
  client.connect(path, ec);
  return ec;
}

// What the script prints when the device cannot listen on `socket` (its directory missing); it exits 2.
std::string script_output_when_the_device_cannot_listen(const std::string& socket) {
  program_process run({"/bin/bash", run_script, device_program, socket, "--", "/bin/true"},
                      program_process::capture::stdout_and_stderr);
  BOOST_TEST(run.wait_exit() == 2);
  return run.output();
}

}  // namespace

// The device unlinked whatever was at SOCKET: a regular file was deleted, and a live device's socket was
// taken over (that device served on, unreachable, and the second one unlinked the path at its exit).
BOOST_AUTO_TEST_CASE(a_regular_file_at_socket_is_refused_and_kept) {
  const scratch_path file("notes.txt");
  std::ofstream(file.str()) << "keep me";
  program_process run({device_program, file.str()}, program_process::capture::stdout_and_stderr);
  BOOST_TEST(run.wait_exit() == 1);
  BOOST_TEST(contains(run.output(), "vpci-vfio-user-device: '" + file.str() + "' exists and is not a socket"), run.output());
  BOOST_TEST(!contains(run.output(), "listening on"), run.output());
  BOOST_TEST(read_file(file.str()) == "keep me");
}

BOOST_AUTO_TEST_CASE(a_live_devices_socket_is_refused_and_still_serves) {
  const scratch_path socket("live.sock");
  running_device first(socket.str());
  BOOST_TEST_REQUIRE(first.listening, first.process.output());
  const auto inode = inode_of(socket.str());
  {
    program_process second({device_program, socket.str()}, program_process::capture::stdout_and_stderr);
    BOOST_TEST(second.wait_exit() == 1);
    BOOST_TEST(contains(second.output(), "another process is listening on '" + socket.str() + "'"), second.output());
  }
  BOOST_TEST((inode_of(socket.str()) == inode));
  // The second one's look at the socket was a connection to the first: served and ended before this one.
  BOOST_TEST_REQUIRE(first.process.wait_for_output("client left"), first.process.output());
  const auto ec = handshake(socket.str());
  BOOST_TEST(!ec, ec.message());
}

// A device killed leaves its socket behind, stale: the next one replaces it, and removes its own at its end.
BOOST_AUTO_TEST_CASE(a_stale_socket_is_replaced) {
  const scratch_path socket("stale.sock");
  {
    running_device killed(socket.str());
    BOOST_TEST_REQUIRE(killed.listening, killed.process.output());
    killed.process.signal(SIGKILL);
    (void)killed.process.wait_exit();
  }
  BOOST_TEST_REQUIRE(fs::is_socket(fs::symlink_status(socket.str())));
  running_device next(socket.str());
  BOOST_TEST_REQUIRE(next.listening, next.process.output());
  const auto ec = handshake(socket.str());
  BOOST_TEST(!ec, ec.message());
  next.process.signal(SIGTERM);
  BOOST_TEST(next.process.wait_exit() == 0, next.process.output());
  BOOST_TEST(!fs::exists(fs::symlink_status(socket.str())));
}

// examples/run_with_vfio_user_device.sh read the device's output and threw it away: a device that could not
// listen showed only "did not start listening", without the device's reason. The device printed its
// mailbox window before it failed to listen, as if it were up.
BOOST_AUTO_TEST_CASE(a_device_that_cannot_listen_says_why_through_the_script) {
  const std::string missing = "/tmp/vpci-device-test-" + std::to_string(::getpid()) + "-missing/device.sock";
  const std::string output = script_output_when_the_device_cannot_listen(missing);
  BOOST_TEST(contains(output, "vpci-vfio-user-device: cannot listen on '" + missing + "': No such file or directory\n"), output);
  BOOST_TEST(contains(output, "vpci-vfio-user-device did not start listening on '" + missing + "'\n"), output);
  BOOST_TEST(!contains(output, "mailbox window"), output);
}

// The script printed the socket path raw where the device quotes it: a path with a control character put
// that character on the user's terminal. It quotes as the tools do now (examples/quoted_text.hpp).
BOOST_AUTO_TEST_CASE(the_script_quotes_the_socket_path_as_the_device_does) {
  const std::string directory = "/tmp/vpci-device-test-" + std::to_string(::getpid()) + "-missing";
  const std::string output = script_output_when_the_device_cannot_listen(directory + "\x1b[2J\n\xC3\xA9/device.sock");
  const std::string shown = "'" + directory + "\\x1B[2J\\x0A\\xC3\\xA9/device.sock'";
  BOOST_TEST(contains(output, "vpci-vfio-user-device: cannot listen on " + shown + ": No such file or directory\n"), output);
  BOOST_TEST(contains(output, "vpci-vfio-user-device did not start listening on " + shown + "\n"), output);
  BOOST_TEST(!contains(output, "\x1b"), output);
}

// A usage error printed the usage alone, without saying which argument was wrong.
BOOST_AUTO_TEST_CASE(a_usage_error_names_the_argument) {
  struct bad_call {
    std::vector<std::string> args;
    std::string said;
  };
  for (const bad_call& bad : {bad_call{{}, "no SOCKET given"},
                              bad_call{{"--once", "/tmp/device.sock"}, "SOCKET comes first, not '--once'"},
                              bad_call{{"/tmp/device.sock", "--onse"}, "unexpected argument '--onse'"}}) {
    std::vector<std::string> args{device_program};
    args.insert(args.end(), bad.args.begin(), bad.args.end());
    BOOST_TEST_CONTEXT(bad.said) {
      program_process run(args, program_process::capture::stdout_and_stderr);
      BOOST_TEST(run.wait_exit() == 2);
      BOOST_TEST(contains(run.output(), "vpci-vfio-user-device: " + bad.said + "\nusage: vpci-vfio-user-device SOCKET"),
                 run.output());
    }
  }
}

// --once --once was taken, as were two --conformance-profile: the device refuses an option given twice, as
// the other tools do (examples/given_options.hpp), with a usage error naming it.
BOOST_AUTO_TEST_CASE(an_option_given_twice_is_a_usage_error_naming_it) {
  for (const std::string option : {"--once", "--conformance-profile"}) {
    BOOST_TEST_CONTEXT(option) {
      // Refused before anything listens: nothing is made at the path.
      const std::string path = "/tmp/vpci-device-twice-" + std::to_string(::getpid()) + ".sock";
      program_process run({device_program, path, option, "--once", option},
                          program_process::capture::stdout_and_stderr);
      BOOST_TEST(run.wait_exit() == 2);
      BOOST_TEST(run.output().starts_with("vpci-vfio-user-device: " + option + " is given twice\nusage: vpci-vfio-user-device SOCKET"),
                 run.output());
    }
  }
}

// A second client waited in the listen backlog while the device served the first, and its handshake failed
// at its deadline as "operation timed out", with no hint that the device serves one client at a time. The
// device closes its connection at once and says so; the client's handshake says the server closed it.
BOOST_AUTO_TEST_CASE(a_second_client_is_closed_at_once) {
  const scratch_path socket("busy.sock");
  running_device device(socket.str());
  BOOST_TEST_REQUIRE(device.listening, device.process.output());
  boost::asio::io_context io;
  vpci::vfio_user_config_space first(io.get_executor());
  boost::system::error_code ec;
  first.connect(socket.str(), ec);
  BOOST_TEST_REQUIRE(!ec, ec.message());
  const auto second = handshake(socket.str());
  BOOST_TEST((second == vpci::errc::connection_closed), second.message());
  BOOST_TEST(device.process.wait_for_output("vpci-vfio-user-device: closed a new connection: it serves one client at a time\n"),
             device.process.output());
  std::array<std::byte, 4> id{};  // the first one is still served
  BOOST_TEST(first.read(0, id, ec) == id.size(), ec.message());
}

// A client that closed its connection with a reply on its way (vpci-perf does at the end of a run) was
// logged as "client left: Broken pipe" (or "Connection reset by peer"), as if serving it had failed.
BOOST_AUTO_TEST_CASE(a_client_closing_is_logged_as_leaving_not_as_a_failure) {
  const scratch_path socket("leaving.sock");
  running_device device(socket.str());
  BOOST_TEST_REQUIRE(device.listening, device.process.output());
  {
    boost::asio::io_context io;
    boost::asio::local::stream_protocol::socket client(io);
    client.connect(boost::asio::local::stream_protocol::endpoint(socket.str()));
    // A VERSION request, then gone before its reply.
    std::array<std::byte, 128> request{};
    const auto payload = vpci::vfio_user::encode(vpci::vfio_user::version{0, 1, R"({"capabilities":{}})"},
                                                 std::span<std::byte>(request).subspan(vpci::vfio_user::header_size));
    BOOST_TEST_REQUIRE(payload.has_value());
    const auto size = static_cast<std::uint32_t>(vpci::vfio_user::header_size + *payload);
    BOOST_TEST_REQUIRE(vpci::vfio_user::encode(vpci::vfio_user::header{1, static_cast<std::uint16_t>(vpci::vfio_user::command::version), size, 0, 0},
                                               request)
                           .has_value());
    boost::asio::write(client, boost::asio::buffer(request.data(), size));
  }
  BOOST_TEST_REQUIRE(device.process.wait_for_output("client left"), device.process.output());
  device.process.signal(SIGTERM);
  BOOST_TEST(device.process.wait_exit() == 0);
  BOOST_TEST(contains(device.process.output(), "client left\n"), device.process.output());
  BOOST_TEST(!contains(device.process.output(), "client left:"), device.process.output());
}

// A client that connected as the previous one left was closed by the end of the previous one's serving:
// the device served it in the socket object the previous connection had been in, and the previous client's
// completion, run afterwards, replaced that socket. Its handshake failed with connection_closed and the
// device said "client left: Bad file descriptor".
BOOST_AUTO_TEST_CASE(a_client_connecting_as_the_previous_one_leaves_is_served) {
  const scratch_path socket("reconnect.sock");
  running_device device(socket.str());
  BOOST_TEST_REQUIRE(device.listening, device.process.output());
  boost::asio::io_context io;
  vpci::vfio_user_config_space previous(io.get_executor());
  boost::system::error_code ec;
  previous.connect(socket.str(), ec);
  BOOST_TEST_REQUIRE(!ec, ec.message());
  // Stopped, the device meets the previous client's end and the next connection in one turn of its loop.
  device.process.signal(SIGSTOP);
  ::siginfo_t stopped{};
  BOOST_TEST_REQUIRE(::waitid(P_PID, static_cast<::id_t>(device.process.pid()), &stopped, WSTOPPED | WNOWAIT) == 0);
  BOOST_TEST_REQUIRE(stopped.si_code == CLD_STOPPED);
  previous.close();
  boost::asio::local::stream_protocol::socket connection(io);
  connection.connect(boost::asio::local::stream_protocol::endpoint(socket.str()));  // into the listen backlog
  device.process.signal(SIGCONT);
  vpci::vfio_user_config_space next(io.get_executor());
  next.open(std::move(connection), ec);
  BOOST_TEST_REQUIRE(!ec, ec.message());
  std::array<std::byte, 4> id{};
  BOOST_TEST(next.read(0, id, ec) == id.size(), ec.message());
  next.close();
  device.process.signal(SIGTERM);
  BOOST_TEST(device.process.wait_exit() == 0);
  BOOST_TEST(!contains(device.process.output(), "client left:"), device.process.output());
  BOOST_TEST(!contains(device.process.output(), "closed a new connection"), device.process.output());
}

BOOST_AUTO_TEST_SUITE_END()  // vfio_user_device_tool_test
