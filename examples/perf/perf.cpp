// vpci-perf: block throughput and latency of the vpci block channel, like fio or iperf3 for config blocks.
// Point it at vpci's own peers (both roles in one process, or the PF and VF roles in two processes) or,
// with the VF role, at a real device through sysfs.
//
//   vpci-perf [--role pf|vf|both] [--binding mailbox|hyperv] TRANSPORT [options]
//
//   TRANSPORT (one of)
//     --memory             in-process config space (binding 1) or socket pair (binding 2); role both only
//     --shm NAME           shared-memory config space NAME (binding 1); the PF creates it (replacing a stale
//                          one, never one a live PF serves), the VF opens it as its mailbox's only VF
//                          (refused while another VF, or any other read-write driver, is attached to it;
//                          a VF attached keeps any other out)
//     --unix PATH          Unix stream socket (binding 2); the PF listens (replacing a stale socket, never
//                          another file or a socket a process listens on), the VF connects
//     --tcp HOST:PORT      TCP (binding 2); the PF listens on HOST's first address (port 0: any free port,
//                          which its serving line on stderr names, --quiet or not; no HOST, ":PORT": every
//                          address, IPv6 and IPv4, [::], or 0.0.0.0 on a host without IPv6), the VF tries
//                          each of HOST's addresses in turn (it needs a HOST: ":PORT" names no PF, a usage
//                          error)
//     --sysfs FILE|ADDRESS a real device's config file (binding 1, role vf), or its PCI address DDDD:BB:DD.F
//                          or BB:DD.F (/sys/bus/pci/devices/DDDD:BB:DD.F/config), opened read-write: the
//                          mailbox writes its request registers for a block read too (a file of another
//                          size than 256 or 4096 bytes is refused, untouched); block writes need
//                          --allow-write
//     --vfio-user SOCKET   a vfio-user server's device (binding 1, role vf): vpci-vfio-user-device or any
//                          libvfio-user device; each config access is one REGION_READ/REGION_WRITE exchange
//   A transport's value is never empty ("--shm=" is an error). An option given twice is a usage error
//   (given_options.hpp), even with one value twice: of two, which was meant cannot be told.
//   options (an option's value is the next argument, or joined as --option=VALUE: a value starting with --
//   can only be given so; numbers are decimal digits, a fraction only where SECONDS says so, without a
//   sign, a space, hexadecimal or an exponent)
//     --block-size N       bytes per block, 1..128 (128); the block must hold exactly that many
//     --block-id N         the block used (3)
//     --queue-depth N      operations in flight, 1..16 on binding 1 and 1..64 on binding 2 (1)
//     --read-percent N     share of reads, 0..100, spread evenly over the operations (100)
//     --count N            measured operations (default: --duration 5 when neither is given)
//     --duration SECONDS   measure for this long (instead of --count): above 0, a fraction allowed (2.5)
//     --warmup N           operations before measuring (100)
//     --timeout MS         per-operation deadline, binding 2's version negotiation's, and, when above
//                          1000, a vfio-user exchange's reply deadline (1000)
//     --allow-write        let --sysfs write blocks (a --read-percent below 100 needs it there); beside any
//                          other transport a usage error
//     --no-verify          do not check that reads return the PF role's pattern: needed against any PF other
//                          than vpci-perf's (a firmware's over --shm, say), the default against a device
//                          (--sysfs, --vfio-user)
//     --json               the final figures as one JSON object on stdout (progress stays on stderr); the
//                          fields of "latency_ns" are null when no measured operation succeeded; bad
//                          arguments (--json anywhere on the command line) and a set-up failure are
//                          {"error": MESSAGE}, the message on stderr too (with --role pf its one effect, a
//                          signal while it sets up included)
//     --quiet              no progress lines (a PF on TCP port 0 still prints its serving line)
//
// First a few reads find the block's size: a block of another size than --block-size is an error that
// names both. A read that fails otherwise (a timeout, a refusal) says nothing of the size: the load runs
// without it, and the failed read is reported ("sizing failed: ...", JSON "sizing_error", null when none)
// and makes the exit status 1, as any failed operation does. While the size is read the progress line
// says "[sizing]". Each second a progress line goes to stderr; at the end: blocks/s, MB/s (10^6 bytes), latency
// percentiles (p50, p90, p99, p99.9, max) from a log-linear histogram (perf/latency_histogram.hpp), config
// accesses per operation on binding 1 (the VF's, counted by vpci::access_counting_transport on every
// transport), and errors by kind; the warm-up's operations and errors are reported on their own and are in
// none of those figures. An error after which the endpoint serves no more (the peer is gone, the stream
// failed, binding 2's negotiation failed, the vfio-user connection closed) ends the run, which says so.
// On binding 1 the PF is gone also when its heartbeat stops for 4 of its intervals (0.4 s at the PF role's
// 100 ms) while an operation waits: a PF stopped (SIGSTOP) or stalled that long ends the run too;
// on binding 2 the stream's end, a broken pipe and a reset connection are all "the PF closed the
// connection" (a PF role says "the PF is shutting down" of the connections its Ctrl-C ends).
// Ctrl-C (SIGINT or SIGTERM) ends a run at once with the figures so far, marked interrupted: the seconds
// end at the signal, and the operations in flight are cancelled (in no figure, not errors) rather than
// waited for. A second signal exits at once with status 130 after printing the figures so far. Before the
// load generator runs, or the PF role serves (connecting, opening, a vfio-user handshake, creating the
// space, waiting for the lock of the socket's directory: steps a silent peer or another process can hold
// up), a signal says "interrupted while setting up" (with --json as {"error": ...} on stdout too) and ends
// the tool as the signal ends any program, leaving what it made by then stale for the next PF to replace;
// so does one after the serving, while the PF role ends. One after the load, while the tool ends (the PF's
// thread joined, a socket closed), prints the figures first, "interrupted while finishing" on stderr.
// Signals are taken on a thread of their
// own (perf/signal_watch.hpp). A PF role serves until Ctrl-C, which ends it cleanly (exit status 0).
//
// The PF serves VF 0 with one read-write block of --block-size bytes holding a fixed pattern; the VF
// writes that same pattern, so a read that returns anything else is an error ("data mismatch").
// Exit status: 0 when the run had no errors, 1 when it had (the warm-up's and the sizing read's included)
// or its figures could not be written, 2 on bad arguments or setup failure, 130 on a second Ctrl-C.
#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <limits>
#include <map>
#include <mutex>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/local/connect_pair.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/system/errc.hpp>
#include <boost/system/system_error.hpp>

#include <vpci/transport/vfio_user_config_space.hpp>
#include <vpci/vpci.hpp>

#include "given_options.hpp"
#include "host_port.hpp"
#include "json_string.hpp"
#include "option_number.hpp"
#include "perf/latency_histogram.hpp"
#include "perf/latency_report.hpp"
#include "perf/signal_watch.hpp"
#include "quoted_text.hpp"
#include "shm_mailbox_driver.hpp"
#include "unix_socket_file.hpp"

namespace {

using vpci::tools::quoted_text;
using clock_type = std::chrono::steady_clock;
using local_socket = boost::asio::local::stream_protocol::socket;
using local_acceptor = boost::asio::local::stream_protocol::acceptor;
using tcp = boost::asio::ip::tcp;

constexpr vpci::vf_index perf_vf = 0;
constexpr vpci::hyperv::wslot perf_slot{2, 1};

enum class role_kind { pf, vf, both };
enum class binding_kind { mailbox, hyperv };
enum class transport_kind { none, memory, shm, unix_socket, tcp_socket, sysfs, vfio_user };

struct options {
  role_kind role{role_kind::both};
  binding_kind binding{binding_kind::mailbox};
  transport_kind transport{transport_kind::none};
  std::string where;  // the name, path, HOST:PORT or file of the transport
  std::string tcp_host;  // --tcp, split and checked when parsed
  unsigned short tcp_port{0};
  std::size_t block_size{128};
  std::uint32_t block_id{3};
  std::size_t queue_depth{1};
  unsigned read_percent{100};
  std::optional<std::uint64_t> count;
  std::optional<double> duration;
  std::uint64_t warmup{100};
  std::chrono::milliseconds timeout{1000};
  bool allow_write{false};
  bool verify{true};
  bool json{false};
  bool quiet{false};
};

// A setup step failed (a connect, a listen, an open, a block of another size): the message says which,
// on what, and why; the exit status is 2.
struct setup_failure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

const char* name_of(binding_kind b) { return b == binding_kind::mailbox ? "mailbox" : "hyperv"; }
const char* name_of(transport_kind t) {
  switch (t) {
    case transport_kind::none: return "none";
    case transport_kind::memory: return "memory";
    case transport_kind::shm: return "shm";
    case transport_kind::unix_socket: return "unix";
    case transport_kind::tcp_socket: return "tcp";
    case transport_kind::sysfs: return "sysfs";
    case transport_kind::vfio_user: return "vfio-user";
  }
  return "?";
}
const char* name_of(role_kind r) { return r == role_kind::pf ? "pf" : r == role_kind::vf ? "vf" : "both"; }

// The arguments are wrong: main says what is wrong (as JSON too with --json) and exits with status 2.
struct usage_failure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

[[noreturn]] void usage_error(const std::string& text) { throw usage_failure(text); }

// A numeric option's value, by option_number.hpp's rule (decimal fractions for a floating T).
template <class T>
T parse_number(std::string_view text, const char* what, T low, T high) {
  std::optional<T> value;
  if constexpr (std::is_floating_point_v<T>) value = vpci::tools::option_decimal(text, low, high);
  else if (const auto whole = vpci::tools::option_number(text, low, high)) value = static_cast<T>(*whole);
  if (!value) usage_error(std::string("bad ") + what + " " + quoted_text(text));
  return *value;
}

// "1 byte", "2 bytes".
std::string bytes(std::size_t n) { return std::to_string(n) + (n == 1 ? " byte" : " bytes"); }

void print_help() {
  std::printf(
      "usage: vpci-perf [--role pf|vf|both] [--binding mailbox|hyperv] TRANSPORT [options]\n"
      "transports: --memory | --shm NAME | --unix PATH | --tcp HOST:PORT | --sysfs FILE | --vfio-user SOCKET\n"
      "options: --block-size N (1..128)  --block-id N  --queue-depth N  --read-percent N (0..100)\n"
      "         --count N | --duration SECONDS  --warmup N  --timeout MS  --allow-write  --no-verify\n"
      "         --json  --quiet\n"
      "Reads are checked against the pattern vpci-perf's PF role serves (\"data mismatch\" otherwise): against\n"
      "any other PF give --no-verify; against a device (--sysfs, --vfio-user) nothing is checked.\n"
      "--sysfs opens the device's config file read-write (the mailbox writes its registers for reads too);\n"
      "writing blocks there (--read-percent below 100) needs --allow-write, which only --sysfs takes.\n"
      "An option given twice is a usage error.\n"
      "A PCI address (DDDD:BB:DD.F or BB:DD.F) in place of FILE names its /sys/bus/pci/devices/.../config.\n"
      "--tcp takes [HOST]:PORT for an IPv6 HOST. A PF given no HOST (--tcp :PORT) listens on every\n"
      "address, IPv6 and IPv4 ([::], or 0.0.0.0 on a host without IPv6); the VF role needs its PF's\n"
      "HOST.\n"
      "A value may be joined to its option, --option=VALUE: the only way to give one starting with --.\n"
      "Ctrl-C ends a run with the figures so far; a second Ctrl-C exits at once (status 130).\n"
      "MB/s counts 10^6 bytes. Exit status: 0 a run without errors, 1 a run with errors (or figures not\n"
      "written), 2 bad arguments or a failed setup, 130 a second Ctrl-C.\n");
}

// --tcp HOST:PORT ([HOST]:PORT for IPv6, split by host_port.hpp as vpci-conformance splits it), checked
// before anything starts. The VF role connects there, and an empty HOST (":PORT") names no PF: refused as
// vpci-conformance refuses it (host_port.hpp's rule). A PF listens there, and an empty HOST is every
// address (listen_tcp), which --role both's VF reaches through the loopback address.
void parse_tcp(options& o) {
  using vpci::tools::tcp_use;
  // --role both listens: its PF takes the address, its VF connects to where the PF listens.
  auto address = vpci::tools::check_tcp_address("--tcp", o.where, o.role == role_kind::vf ? tcp_use::connect : tcp_use::listen);
  if (!address.error.empty()) usage_error(address.error);
  o.tcp_host = std::move(address.host);
  o.tcp_port = address.port;
}

options parse(int argc, char** argv) {
  options o;
  bool binding_given = false;
  std::string_view a;                       // the option being parsed, without "=VALUE"
  std::optional<std::string_view> joined;  // the VALUE of --option=VALUE, until taken
  std::vector<std::string> vf_only;         // the VF's options given, which a PF role ignores
  vpci::tools::given_options given;       // each option at most once (given_options.hpp)
  std::optional<std::string_view> taken;    // the value the option being parsed took, if any
  // An option's value: joined to it (any value, one starting with -- too), or the next argument unless that
  // is an option itself: "--shm --json" lacks the name, it does not name a space "--json".
  auto value = [&](int& i) -> std::string_view {
    if (joined) return *(taken = std::exchange(joined, std::nullopt));
    const std::string name(a);
    if (i + 1 >= argc) usage_error(name + " needs a value");
    const std::string_view next = argv[i + 1];
    if (next.starts_with("--"))
      usage_error(name + " needs a value, not the option " + quoted_text(next) + " (" + name +
                  "=VALUE gives a value starting with --)");
    return *(taken = argv[++i]);
  };
  auto set_transport = [&](transport_kind t, std::string where) {
    if (o.transport != transport_kind::none) usage_error("give one transport");
    o.transport = t;
    o.where = std::move(where);
  };
  // A transport's name, path or address: an empty one ("--shm=") names nothing.
  auto transport_value = [&](int& i) {
    const auto v = value(i);
    if (v.empty()) usage_error(std::string(a) + " needs a value, not an empty one");
    return std::string(v);
  };
  for (int i = 1; i < argc; ++i) {
    a = argv[i];
    joined.reset();
    taken.reset();
    if (const auto equals = a.find('='); a.starts_with("--") && equals != std::string_view::npos) {
      joined = a.substr(equals + 1);
      a = a.substr(0, equals);
    }
    if (a == "--help" || a == "-h") {
      print_help();
      std::exit(0);
    } else if (a == "--role") {
      const auto v = value(i);
      if (v != "pf" && v != "vf" && v != "both") usage_error("bad role " + quoted_text(v) + ": give pf, vf or both");
      o.role = v == "pf" ? role_kind::pf : v == "vf" ? role_kind::vf : role_kind::both;
    } else if (a == "--binding") {
      const auto v = value(i);
      binding_given = true;
      const bool mailbox = v == "mailbox" || v == "1";
      if (!mailbox && v != "hyperv" && v != "2")
        usage_error("bad binding " + quoted_text(v) + ": give mailbox (or 1) or hyperv (or 2)");
      o.binding = mailbox ? binding_kind::mailbox : binding_kind::hyperv;
    } else if (a == "--memory") {
      set_transport(transport_kind::memory, "");
    } else if (a == "--shm") {
      set_transport(transport_kind::shm, transport_value(i));
    } else if (a == "--unix") {
      set_transport(transport_kind::unix_socket, transport_value(i));
    } else if (a == "--tcp") {
      set_transport(transport_kind::tcp_socket, transport_value(i));
    } else if (a == "--sysfs") {
      set_transport(transport_kind::sysfs, transport_value(i));
    } else if (a == "--vfio-user") {
      set_transport(transport_kind::vfio_user, transport_value(i));
    } else if (a == "--block-size") {
      o.block_size = parse_number<std::size_t>(value(i), "block size", 1, vpci::max_block_size);
    } else if (a == "--block-id") {
      o.block_id = parse_number<std::uint32_t>(value(i), "block ID", 0, 0xFFFFFFFFu);
    } else if (a == "--queue-depth") {
      o.queue_depth = parse_number<std::size_t>(value(i), "queue depth", 1, 64);
    } else if (a == "--read-percent") {
      o.read_percent = parse_number<unsigned>(value(i), "read percentage", 0, 100);
    } else if (a == "--count") {
      o.count = parse_number<std::uint64_t>(value(i), "count", 1, ~std::uint64_t{0} / 2);
    } else if (a == "--duration") {
      // Above zero: a run of no time measures nothing.
      o.duration = parse_number<double>(value(i), "duration", std::numeric_limits<double>::min(), 1e7);
    } else if (a == "--warmup") {
      o.warmup = parse_number<std::uint64_t>(value(i), "warm-up count", 0, ~std::uint64_t{0} / 2);
    } else if (a == "--timeout") {
      o.timeout = std::chrono::milliseconds(parse_number<std::uint32_t>(value(i), "timeout", 1, 3'600'000));
    } else if (a == "--allow-write") {
      o.allow_write = true;
    } else if (a == "--no-verify") {
      o.verify = false;
    } else if (a == "--json") {
      o.json = true;
    } else if (a == "--quiet") {
      o.quiet = true;
    } else {
      usage_error("unknown argument " + quoted_text(a));
    }
    if (joined) usage_error(std::string(a) + " takes no value");
    if (const auto twice = given.add(a, taken)) usage_error(*twice);
    if (a == "--count" || a == "--duration" || a == "--read-percent" || a == "--warmup" || a == "--timeout" ||
        a == "--no-verify")
      vf_only.emplace_back(a);
  }
  if (o.transport == transport_kind::none) usage_error("give a transport");
  // Only a real device's blocks are guarded by it: elsewhere it would be silently ignored. Said as
  // vpci-conformance says it.
  if (o.allow_write && o.transport != transport_kind::sysfs)
    usage_error(std::string("--allow-write applies to --sysfs only, not to --") + name_of(o.transport));
  // The transport implies the binding where only one fits; a contradiction is an error.
  const bool socket = o.transport == transport_kind::unix_socket || o.transport == transport_kind::tcp_socket;
  if (socket) {
    if (binding_given && o.binding != binding_kind::hyperv) usage_error("sockets carry binding 2 (--binding hyperv)");
    o.binding = binding_kind::hyperv;
  } else if (o.transport != transport_kind::memory) {
    if (binding_given && o.binding != binding_kind::mailbox)
      usage_error(std::string(name_of(o.transport)) + " carries binding 1 (--binding mailbox)");
    o.binding = binding_kind::mailbox;
  }
  if (o.transport == transport_kind::memory && o.role != role_kind::both) usage_error("--memory needs --role both");
  const bool device = o.transport == transport_kind::sysfs || o.transport == transport_kind::vfio_user;
  if (device && o.role != role_kind::vf) usage_error(std::string("--") + name_of(o.transport) + " needs --role vf (the device is the PF)");
  if (o.transport == transport_kind::tcp_socket) parse_tcp(o);
  if (device) o.verify = false;  // the device's block holds the device's data
  // A PCI address names its function's config file, as vpci-conformance's --sysfs does.
  if (const auto address = vpci::pci_address::parse(o.where); address && o.transport == transport_kind::sysfs)
    o.where = vpci::sysfs_config_space::device_config_path(*address);
  if (o.transport == transport_kind::sysfs && o.read_percent != 100 && !o.allow_write)
    usage_error("writing blocks through sysfs (--read-percent below 100) needs --allow-write");
  const std::size_t max_depth = o.binding == binding_kind::mailbox ? 16 : 64;
  if (o.queue_depth > max_depth)
    usage_error("queue depth above " + std::to_string(max_depth) + " on binding " +
                (o.binding == binding_kind::mailbox ? "1" : "2"));
  if (o.count && o.duration) usage_error("give --count or --duration, not both");
  if (!o.count && !o.duration) o.duration = 5.0;
  // A warning, not an error: one argument list is often shared by both roles' command lines. Given only
  // once the command line is known to be valid, so that an error does not follow a warning.
  if (o.role == role_kind::pf)
    for (const auto& name : vf_only)
      std::fprintf(stderr, "vpci-perf: warning: %s has no effect with --role pf (the PF serves until Ctrl-C)\n",
                   name.c_str());
  return o;
}

// The block's contents: the PF defines it with this pattern and the VF writes the same bytes back.
std::vector<std::byte> pattern(std::size_t size) {
  std::vector<std::byte> bytes(size);
  for (std::size_t i = 0; i < size; ++i) bytes[i] = static_cast<std::byte>(i * 7 + 1);
  return bytes;
}

// ---- figures ------------------------------------------------------------------------------------------

struct figures {
  vpci_perf::latency_histogram latency;  // measured operations that succeeded
  std::uint64_t reads{0};
  std::uint64_t writes{0};
  std::uint64_t failed{0};
  std::map<std::string, std::uint64_t> errors;  // by kind
  std::uint64_t warmup_operations{0};           // completed, failed ones included
  std::uint64_t warmup_failed{0};
  std::map<std::string, std::uint64_t> warmup_errors;  // by kind
  // The read that was to find the block's size failed (other than by being too short, which sizes it):
  // the size is unchecked and the load ran without it, but the read failed as any operation can.
  std::optional<std::string> sizing_error;
  double seconds{0};
  std::optional<double> accesses_per_op;
  bool interrupted{false};
  bool load_started{false};  // the block was sized (or sizing proved nothing) and operations started
  std::optional<std::string> ended_by;  // the error after which the endpoint served no more
  std::optional<std::string> fatal;     // the run could not start (a block of another size)
  [[nodiscard]] std::uint64_t blocks() const { return reads + writes; }
  [[nodiscard]] std::uint64_t operations() const { return blocks() + failed; }
};

void print_errors_json(const std::map<std::string, std::uint64_t>& errors) {
  std::printf("{");
  bool first = true;
  for (const auto& [kind, n] : errors) {
    std::printf("%s%s:%" PRIu64, first ? "" : ",", vpci::tools::json_string(kind).c_str(), n);
    first = false;
  }
  std::printf("}");
}

void print_figures(const options& o, const figures& f) {
  const double seconds = f.seconds > 0 ? f.seconds : 1e-9;
  const double blocks_per_s = static_cast<double>(f.blocks()) / seconds;
  const double mb_per_s = blocks_per_s * static_cast<double>(o.block_size) / 1e6;
  const auto& h = f.latency;
  if (o.json) {
    std::printf("{\"binding\":\"%s\",\"transport\":\"%s\",\"role\":\"%s\",\"block_size\":%zu,\"queue_depth\":%zu,"
                "\"read_percent\":%u,\"operations\":%" PRIu64 ",\"reads\":%" PRIu64 ",\"writes\":%" PRIu64
                ",\"seconds\":%.6f,\"blocks_per_second\":%.1f,\"mb_per_second\":%.3f,",
                name_of(o.binding), name_of(o.transport), name_of(o.role), o.block_size, o.queue_depth, o.read_percent,
                f.operations(), f.reads, f.writes, f.seconds, blocks_per_s, mb_per_s);
    // Without a successful operation there is no latency (the histogram holds successes only): nulls.
    std::printf("\"latency_ns\":%s,", vpci_perf::latency_json(h).c_str());
    if (f.accesses_per_op) std::printf("\"config_accesses_per_op\":%.3f,", *f.accesses_per_op);
    else std::printf("\"config_accesses_per_op\":null,");
    std::printf("\"error_count\":%" PRIu64 ",\"errors\":", f.failed);
    print_errors_json(f.errors);
    std::printf(",\"warmup_operations\":%" PRIu64 ",\"warmup_error_count\":%" PRIu64 ",\"warmup_errors\":",
                f.warmup_operations, f.warmup_failed);
    print_errors_json(f.warmup_errors);
    std::printf(",\"sizing_error\":%s", f.sizing_error ? vpci::tools::json_string(*f.sizing_error).c_str() : "null");
    std::printf(",\"ended_by\":%s", f.ended_by ? vpci::tools::json_string(*f.ended_by).c_str() : "null");
    std::printf(",\"interrupted\":%s}\n", f.interrupted ? "true" : "false");
    return;
  }
  std::printf("%s over %s, %zu-byte blocks, queue depth %zu, %u%% reads%s\n", name_of(o.binding), name_of(o.transport),
              o.block_size, o.queue_depth, o.read_percent, f.interrupted ? " (interrupted)" : "");
  if (f.operations() == 0) {
    // Zero blocks/s and empty percentiles would read as a measurement.
    const char* why = f.interrupted ? "interrupted" : "the run ended";
    if (!f.load_started) std::printf("  nothing measured: %s before the block's size was known\n", why);
    else if (f.warmup_operations < o.warmup) std::printf("  nothing measured: %s during the warm-up\n", why);
    else std::printf("  nothing measured: %s before the first measured operation ended\n", why);
  } else {
    // A short run's seconds to the microsecond: "0.000 s" beside its blocks/s would read as no time at all.
    std::printf("  operations  %" PRIu64 " (%" PRIu64 " reads, %" PRIu64 " writes, %" PRIu64 " failed) in %.*f s\n",
                f.operations(), f.reads, f.writes, f.failed, f.seconds >= 0.1 ? 3 : 6, f.seconds);
    std::printf("  blocks/s    %.0f\n  MB/s        %.3f\n", blocks_per_s, mb_per_s);
    if (f.blocks() == 0) {
      std::printf("  latency     none: no operation succeeded\n");
    } else {
      std::printf("  latency us  %s\n", vpci_perf::latency_line(h).c_str());
    }
    if (f.accesses_per_op) std::printf("  config accesses per operation  %.2f\n", *f.accesses_per_op);
  }
  if (f.errors.empty()) {
    std::printf("  errors      none\n");
  } else {
    for (const auto& [kind, n] : f.errors) std::printf("  errors      %" PRIu64 " x %s\n", n, kind.c_str());
  }
  if (f.warmup_operations != 0) {
    std::printf("  warm-up     %" PRIu64 " operations (%" PRIu64 " failed)\n", f.warmup_operations, f.warmup_failed);
    for (const auto& [kind, n] : f.warmup_errors) std::printf("  warm-up errors  %" PRIu64 " x %s\n", n, kind.c_str());
  }
  if (f.sizing_error) std::printf("  sizing      failed: %s (the block's size was not checked)\n", f.sizing_error->c_str());
  if (f.ended_by) std::printf("  ended by    %s\n", f.ended_by->c_str());
}

// A stream closed by its peer (vpci::closed_by_peer) means to this tool that the PF closed the connection
// (it shut down or died). Binding 2's endpoint passes its stream's errors through unchanged
// (vpci/error.hpp), so the tool names them.
bool closed_by_the_pf(const boost::system::error_code& ec) { return vpci::closed_by_peer(ec); }

// An error as the figures name it.
std::string error_text(const boost::system::error_code& ec) {
  return closed_by_the_pf(ec) ? "the PF closed the connection" : ec.message();
}

// Errors after which the endpoint will not serve again, or (peer_gone for a PF whose heartbeat stopped)
// fails every operation at once until the PF beats again: the run stops instead of counting them by the
// million.
bool ends_the_run(const boost::system::error_code& ec) {
  return ec == vpci::errc::peer_gone || ec == vpci::errc::vf_removed || ec == vpci::errc::truncated_message ||
         ec == vpci::errc::protocol_violation || ec == vpci::errc::revision_mismatch || ec == vpci::errc::not_found ||
         ec == vpci::errc::quarantined || closed_by_the_pf(ec) || ec == boost::asio::error::operation_aborted;
}

std::string size_mismatch(const options& o, std::string_view holds) {
  return "block " + std::to_string(o.block_id) + " holds " + std::string(holds) + ", not --block-size " +
         std::to_string(o.block_size);
}

// What the run is told by the binding it drives.
struct load_hooks {
  // Called once the warm-up is over and every warm-up operation has completed: the config-access counter
  // resets there, so that it holds the measured operations' accesses only (binding 1 performs the
  // operations on its one window in the order they were started).
  std::function<void()> on_counting_start;
  // Called at the end: the config accesses counted since on_counting_start, if the transport counts them.
  std::function<std::optional<std::uint64_t>()> accesses;
  // How to name the endpoint's failure() in "ended by", when the error alone says too little.
  std::function<std::string(const boost::system::error_code& failure)> name_failure;
  // Called at the end, once no operation is in flight.
  std::function<void()> after;
};

// ---- the VF: the load generator -----------------------------------------------------------------------

// A failure after which no figures follow (bad arguments, a set-up failure, a signal while setting up): the
// message on stderr, `hint` after it, and with `json` as {"error": MESSAGE} on stdout too (as iperf3 -J
// does), so that a reader of the JSON learns why there are no figures.
void print_failure(const std::string& message, bool json, std::string_view hint = {}) {
  vpci::tools::print_failure("vpci-perf", message, json, std::string(hint) + "\n");
}

// What a signal does outside the load: says so (with `json_error`, as {"error": ...} on stdout too, where no
// figures can follow) and ends the tool as the signal ends any program.
vpci_perf::signal_watch::handler ended_by_signal(const char* when, bool json_error) {
  return [when, json_error](int signal, unsigned) {
    print_failure(std::string("interrupted ") + when, json_error);
    vpci_perf::signal_watch::end_as(signal);
  };
}

// After the load, or the PF's serving, what is left is the tool's end, which no signal should have to wait
// for: one ends the tool as it ends any program, saying so. Also what replaces a handler that refers to
// what such a stage holds, before that goes.
void finish_on_signal(vpci_perf::signal_watch& signals) {
  signals.set_handler(ended_by_signal("while finishing", false));
}

// Calls finish_on_signal when its scope ends, however it ends (an exception included): declared after what
// the handler of the moment refers to, it replaces that handler before those go.
class finish_on_signal_at_scope_end {
 public:
  explicit finish_on_signal_at_scope_end(vpci_perf::signal_watch& signals) : signals_(signals) {}
  ~finish_on_signal_at_scope_end() { finish_on_signal(signals_); }
  finish_on_signal_at_scope_end(const finish_on_signal_at_scope_end&) = delete;
  finish_on_signal_at_scope_end& operator=(const finish_on_signal_at_scope_end&) = delete;

 private:
  vpci_perf::signal_watch& signals_;
};

// The figures, from the load's end until they are printed. What comes between (the PF's thread joined, a
// socket closed) can hold the tool up, and a signal there printed nothing: two Ctrl-Cs close together
// (the first ending the load) lost the run's figures. A signal there now prints them, then ends the tool
// as the signal does; otherwise main prints them. Printed once, by whichever comes first.
class figures_to_print {
 public:
  static figures_to_print& kept() {
    static figures_to_print instance;
    return instance;
  }
  // From now on a signal prints `f` (a copy: the load's own goes with it).
  void keep(vpci_perf::signal_watch& signals, const options& o, const figures& f) {
    {
      const std::lock_guard lock(mutex_);
      options_ = &o;
      figures_ = f;
    }
    signals.set_handler([this](int signal, unsigned) {
      // Held to the end: main, waiting for the lock, neither prints them again nor exits first.
      const std::lock_guard lock(mutex_);
      if (!printed_ && figures_) {
        printed_ = true;
        std::fprintf(stderr, "vpci-perf: interrupted while finishing\n");
        print_figures(*options_, *figures_);
      }
      vpci_perf::signal_watch::end_as(signal);
    });
  }
  // Prints them unless a signal did.
  void print(const options& o, const figures& f) {
    const std::lock_guard lock(mutex_);
    if (printed_) return;
    printed_ = true;
    print_figures(o, f);
  }

 private:
  std::mutex mutex_;
  const options* options_{nullptr};
  std::optional<figures> figures_;
  bool printed_{false};
};

// Finds the block's size with a few reads, then keeps --queue-depth operations in flight on `vf` (each
// completion starts the next), measures after the warm-up, prints progress each second, stops at the count
// or duration, on Ctrl-C or on an error after which the endpoint serves no more, then calls `done` (on the
// endpoint's executor, once no operation is in flight).
template <class Endpoint>
class load_generator {
 public:
  load_generator(Endpoint& vf, const options& o, boost::asio::io_context& io, vpci_perf::signal_watch& signals,
                 load_hooks hooks, std::function<void()> done)
      : vf_(vf), o_(o), io_(io), progress_(io), signals_(signals), hooks_(std::move(hooks)), done_(std::move(done)),
        expected_(pattern(o.block_size)), buffers_(o.queue_depth * o.block_size), slot_cancels_(o.queue_depth) {
    waiting_slots_.reserve(o.queue_depth);
  }

  // The handler start() set posts to this object, so it is replaced before the object goes. After the
  // load a signal ends the tool as it ends any program: the figures follow at once, unless what comes
  // after the load (joining the PF's thread) hangs.
  ~load_generator() {
    if (!kept_) finish_on_signal(signals_);
  }
  load_generator(const load_generator&) = delete;
  load_generator& operator=(const load_generator&) = delete;

  void start() {
    // Each signal is posted to this thread, which never blocks while the load runs (every operation and
    // wait is asynchronous), until the generator is gone: a second one after the run ended, while
    // something still holds the io_context, exits too.
    signals_.set_handler([this](int, unsigned count) {
      if (count == 1) boost::asio::post(io_, [this] { interrupt(); });
      if (count != 2) return;
      second_signal_ = true;  // for after(): posted once the io_context ran out of work, it would never run
      boost::asio::post(io_, [this] { abandon(); });
    });
    tick();
    size_the_block();
  }

  figures& result() { return f_; }

  // Called once the io_context has run out of work, on its thread. The handler is replaced first, in one
  // step: a signal after prints the figures and ends the tool (figures_to_print), and a second signal that
  // came before is then recorded (its posted abandon() never runs) and exits as one.
  void after_load() {
    if (f_.fatal) finish_on_signal(signals_);
    else figures_to_print::kept().keep(signals_, o_, f_);
    kept_ = true;
    if (second_signal_) abandon();
  }

 private:
  // Finds the block's size before the load starts: of another size than --block-size, every operation
  // would fail (a short read, buffer_too_small, the PF refusing a write of the wrong size) and look like
  // the peer's fault; it is named instead. So is a block the PF does not define: it refuses the first read
  // with invalid_argument (STATUS_INVALID_PARAMETER), and every operation would fail alike. A read of k
  // bytes fails with buffer_too_small exactly when the block is larger than k; otherwise binding 1 answers
  // with the block's own size and binding 2 with k bytes (the block's, then zeros:
  // docs/hyperv-binding.md). So the size is the smallest k that reads, searched from --block-size: two
  // reads when it fits. Any other failure proves nothing about the size (a timeout; access_denied, a
  // write-only block that writes can still measure); the load then starts, and its operations meet the
  // same error and report it.
  void size_the_block() {
    active_ = 1;
    read_size(o_.block_size);
  }
  void read_size(std::size_t k) {
    ++size_reads_;
    vf_.async_read_block(vpci::block_id{o_.block_id}, std::span<std::byte>(sizing_).first(k), o_.timeout,
                         boost::asio::bind_cancellation_slot(sizing_cancel_.slot(), [this, k](boost::system::error_code ec, std::size_t n) {
                           if (stopping_) {
                             // Only the interruption stops a sizing read: a failure it did not cause counts.
                             if (ec && !cancelled_by_interruption(ec)) f_.sizing_error = error_text(ec);
                             return retire();
                           }
                           if (!ec && n < k) return sized(n);
                           if (!ec) size_high_ = k;
                           else if (ec == vpci::errc::buffer_too_small) size_low_ = k + 1;
                           else if (ec == vpci::errc::invalid_argument && size_reads_ == 1) return refused(ec);
                           else return sizing_failed(ec);
                           if (size_low_ >= size_high_)
                             return size_high_ <= vpci::max_block_size ? sized(size_high_) : start_load();
                           // Right after --block-size read, its neighbour below settles the usual case.
                           const bool first = size_reads_ == 1 && size_high_ == k;
                           read_size(first ? k - 1 : size_low_ + (size_high_ - size_low_) / 2);
                         }));
  }
  // A failure that says nothing of the size: the load starts without it (its operations meet the same
  // error, or not: a write-only block refuses reads only), and the failed read is reported as any
  // failed operation is, making the exit status 1.
  void sizing_failed(const boost::system::error_code& ec) {
    f_.sizing_error = error_text(ec);
    start_load();
  }
  void refused(const boost::system::error_code& ec) {
    f_.fatal = "block " + std::to_string(o_.block_id) + ": the PF refuses to read it (" + ec.message() + ": no such block?)";
    retire();
  }
  void sized(std::size_t size) {
    if (size != o_.block_size) {
      f_.fatal = size_mismatch(o_, bytes(size));
      return retire();
    }
    start_load();
  }

  void start_load() {
    f_.load_started = true;
    active_ = o_.queue_depth;
    for (std::size_t slot = 0; slot != o_.queue_depth; ++slot) issue(slot);
  }

  // Measuring starts once every warm-up operation has ended, with the first measured operation: one issued
  // beside them would queue behind them, and the seconds would include their end (at queue depth 16, a
  // --count 1 run's seconds were 16 operations' and its one latency 6 times a lone one's). A slot whose
  // next operation is a measured one waits until then.
  void begin_measuring() {
    measuring_ = true;
    measure_start_ = clock_type::now();
    last_tick_ = measure_start_;
    if (hooks_.on_counting_start) hooks_.on_counting_start();
  }
  void warmup_operation_ended() {
    if (--warmup_in_flight_ != 0) return;
    std::vector<std::size_t> waiting;
    waiting.swap(waiting_slots_);
    for (const std::size_t slot : waiting) issue(slot);
  }

  bool is_write(std::uint64_t n) const {
    // Bresenham: writes spread evenly, (100 - read_percent) in every 100 operations.
    const std::uint64_t w = 100 - o_.read_percent;
    return (n + 1) * w / 100 != n * w / 100;
  }

  void issue(std::size_t slot) {
    const bool measured = issued_ >= o_.warmup;
    if (stopping_ || (o_.count && measured && measured_issued_ >= *o_.count)) return retire();
    if (measured && !measuring_) {
      if (warmup_in_flight_ != 0) return waiting_slots_.push_back(slot);
      begin_measuring();
    }
    const auto start = clock_type::now();
    const std::uint64_t n = issued_++;
    if (measured) ++measured_issued_;
    else ++warmup_in_flight_;
    const bool write = is_write(n);
    const vpci::block_id id{o_.block_id};
    auto buffer = std::span<std::byte>(buffers_).subspan(slot * o_.block_size, o_.block_size);
    auto done = boost::asio::bind_cancellation_slot(
        slot_cancels_[slot].slot(), [this, slot, start, write, measured](boost::system::error_code ec, std::size_t n_bytes) {
          complete(slot, start, write, measured, ec, n_bytes);
        });
    if (write) vf_.async_write_block(id, std::span<const std::byte>(expected_), o_.timeout, std::move(done));
    else vf_.async_read_block(id, buffer, o_.timeout, std::move(done));
  }

  void complete(std::size_t slot, clock_type::time_point start, bool write, bool measured, boost::system::error_code ec,
                std::size_t n) {
    const auto end = clock_type::now();
    if (cancelled_by_interruption(ec)) {
      // Cancelled by the interruption, not failed: in no figure.
      if (!measured) warmup_operation_ended();
      return retire();
    }
    std::string error;
    if (!ec && n != o_.block_size) {
      // The block's size changed since it was sized: the tool's size is wrong, not the peer.
      error = size_mismatch(o_, bytes(n));
      end_run(error);
    } else if (!write && ec == vpci::errc::buffer_too_small) {
      error = size_mismatch(o_, "more than " + bytes(o_.block_size));
      end_run(error);
    } else if (ec) {
      error = error_text(ec);
      // A transport that names its own failure (the vfio-user connection closed) says what ended the run
      // before the operation's error does: that is peer_gone for a connection that dropped.
      const auto failure = vf_.failure();
      if (failure && hooks_.name_failure) end_run(hooks_.name_failure(failure));
      else if (ends_the_run(ec)) end_run(error);
      else if (failure) end_run(error_text(failure));
    } else if (!write && o_.verify &&
               !std::equal(expected_.begin(), expected_.end(), buffers_.begin() + static_cast<std::ptrdiff_t>(slot * o_.block_size))) {
      error = "data mismatch (not the pattern vpci-perf's PF role serves: --no-verify for another PF)";
    }
    if (measured) {
      if (error.empty()) {
        const auto ns =
            static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(end - start).count());
        f_.latency.record(ns);
        interval_.record(ns);
        ++(write ? f_.writes : f_.reads);
      } else {
        ++f_.failed;
        ++f_.errors[error];
      }
    } else {
      ++f_.warmup_operations;
      if (!error.empty()) {
        ++f_.warmup_failed;
        ++f_.warmup_errors[error];
      }
      warmup_operation_ended();
    }
    if (measuring_ && o_.duration && std::chrono::duration<double>(end - measure_start_).count() >= *o_.duration)
      stop_issuing();
    issue(slot);
  }

  void stop_issuing() { stopping_ = true; }
  [[nodiscard]] bool cancelled_by_interruption(const boost::system::error_code& ec) const {
    return f_.interrupted && (ec == vpci::errc::cancelled || ec == boost::asio::error::operation_aborted);
  }

  // The first Ctrl-C (SIGINT or SIGTERM): the run ends now, as fio and iperf3 do. The seconds end here, and
  // what is in flight is cancelled rather than waited for (a stopped PF would hold each operation until
  // its deadline).
  void interrupt() {
    f_.interrupted = true;
    stopped_at_ = clock_type::now();
    stop_issuing();
    sizing_cancel_.emit(boost::asio::cancellation_type::terminal);
    for (auto& cancel : slot_cancels_) cancel.emit(boost::asio::cancellation_type::terminal);
  }
  // The second signal: the figures so far, without waiting for anything, and exit status 130 (128 + SIGINT,
  // as a shell reports a program that Ctrl-C ended). Nothing is unwound: whatever is in flight is the
  // reason not to wait, and a --role both run's socket file or shared memory stays behind, stale, for the
  // next run to replace.
  [[noreturn]] void abandon() {
    std::fprintf(stderr, "vpci-perf: second signal: exiting without waiting for the operations in flight\n");
    settle_figures();
    figures_to_print::kept().print(o_, f_);  // unless a signal after the load printed them
    std::fflush(stdout);
    std::fflush(stderr);
    std::_Exit(130);
  }
  // The figures taken at the end, of the load or of the tool at a second signal: the seconds, and binding
  // 1's config accesses per operation (at a second signal they include what the operations in flight
  // made, as the seconds include their time).
  void settle_figures() {
    if (measuring_) f_.seconds = std::chrono::duration<double>(stopped_at_.value_or(clock_type::now()) - measure_start_).count();
    if (hooks_.accesses && measuring_ && f_.operations() != 0 && !f_.accesses_per_op) {
      if (const auto n = hooks_.accesses(); n)
        f_.accesses_per_op = static_cast<double>(*n) / static_cast<double>(f_.operations());
    }
  }
  void end_run(std::string why) {
    if (!f_.ended_by) f_.ended_by = std::move(why);
    stop_issuing();
  }

  void retire() {
    if (--active_ != 0) return;
    settle_figures();
    progress_.cancel();
    done_();
  }

  // One line per second on stderr: the last second's blocks/s, MB/s and p99 ("-" for a second in which no
  // measured operation succeeded: 0 would read as a measurement), and the errors so far.
  void tick() {
    progress_.expires_after(std::chrono::seconds(1));
    progress_.async_wait([this](boost::system::error_code ec) {
      if (ec || active_ == 0) return;
      const auto now = clock_type::now();
      if (o_.duration && measuring_ && std::chrono::duration<double>(now - measure_start_).count() >= *o_.duration)
        stop_issuing();
      if (!o_.quiet && measuring_) {
        const double span = std::chrono::duration<double>(now - last_tick_).count();
        const double rate = static_cast<double>(interval_.count()) / (span > 0 ? span : 1);
        std::fprintf(stderr, "[%6.1fs] %10.0f blocks/s %9.3f MB/s  p99 %s us  errors %" PRIu64 "\n",
                     std::chrono::duration<double>(now - measure_start_).count(), rate,
                     rate * static_cast<double>(o_.block_size) / 1e6, vpci_perf::progress_p99(interval_).c_str(), f_.failed);
      } else if (!o_.quiet && !f_.load_started) {
        std::fprintf(stderr, "[sizing] reading the size of block %u\n", o_.block_id);
      } else if (!o_.quiet) {
        std::fprintf(stderr, "[warm-up] %" PRIu64 " of %" PRIu64 " operations\n", f_.warmup_operations, o_.warmup);
      }
      interval_.reset();
      last_tick_ = now;
      tick();
    });
  }

  Endpoint& vf_;
  const options& o_;
  boost::asio::io_context& io_;
  boost::asio::steady_timer progress_;
  vpci_perf::signal_watch& signals_;
  load_hooks hooks_;
  std::function<void()> done_;
  std::vector<std::byte> expected_;
  std::vector<std::byte> buffers_;  // one block per slot
  std::array<std::byte, vpci::max_block_size> sizing_{};
  boost::asio::cancellation_signal sizing_cancel_;
  std::vector<boost::asio::cancellation_signal> slot_cancels_;  // one per slot
  // The block's size is in [size_low_, size_high_]; max_block_size + 1 while no read succeeded.
  std::size_t size_low_{1};
  std::size_t size_high_{vpci::max_block_size + 1};
  std::size_t size_reads_{0};
  figures f_;
  vpci_perf::latency_histogram interval_;
  clock_type::time_point measure_start_{};
  clock_type::time_point last_tick_{};
  std::uint64_t issued_{0};
  std::uint64_t measured_issued_{0};
  std::size_t warmup_in_flight_{0};
  std::size_t active_{0};
  std::vector<std::size_t> waiting_slots_;  // slots whose first measured operation waits for the warm-up's end
  bool measuring_{false};
  bool stopping_{false};
  std::optional<clock_type::time_point> stopped_at_;  // the first signal: the measured seconds end there
  std::atomic<bool> second_signal_{false};             // set on the signal watch's thread
  bool kept_{false};                                   // after_load() handed the signals on
};

// Runs the load on `vf` until it is done; returns the figures. A block of another size than --block-size
// is a setup failure.
template <class Endpoint>
figures generate_load(Endpoint& vf, const options& o, boost::asio::io_context& io, vpci_perf::signal_watch& signals,
                      load_hooks hooks) {
  figures result;
  auto after = std::move(hooks.after);
  load_generator<Endpoint> load(vf, o, io, signals, std::move(hooks), [&] {
    result = load.result();
    if (after) after();
  });
  boost::asio::post(io, [&] { load.start(); });
  io.run();
  load.after_load();
  if (result.fatal) throw setup_failure(*result.fatal);
  return result;
}

// Finds the mailbox window in the VF's config space (as a driver does: walking the capability list).
// `space_name` says whose config space it is in the errors: a file, a shared-memory name, a socket.
template <class Transport>
std::size_t find_window(Transport& space, const std::string& space_name) {
  std::vector<std::byte> snapshot(space.size());
  boost::system::error_code ec;
  space.read(0, snapshot, ec);
  if (ec) throw setup_failure("reading the config space of " + space_name + " failed: " + ec.message());
  auto window = vpci::config::find_mailbox(snapshot);
  if (!window) {
    // The window lives in extended space: a shorter space (Linux's 256-byte config file when it cannot
    // reach extended space, or 64 bytes to a reader without CAP_SYS_ADMIN) hides it rather than lacks it.
    const std::string why = snapshot.size() < vpci::config::extended_space_size
                                ? "; only " + bytes(snapshot.size()) +
                                      " of config space are readable, and the mailbox is in extended space"
                                : "";
    throw setup_failure("no vpci mailbox in the config space of " + space_name + " (" +
                        make_error_code(window.error()).message() + why + ")");
  }
  return *window;
}

// The VF role of binding 1 on any config-space transport: the hook every transport (vfio-user included)
// plugs into. The VF's config accesses are counted on its way to the transport, whichever it is (the PF's
// are the device's own, not config cycles).
template <class Transport>
figures run_mailbox_vf(Transport& space, const std::string& space_name, const options& o, boost::asio::io_context& io,
                       vpci_perf::signal_watch& signals, std::function<void()> after = {}) {
  const auto window = find_window(space, space_name);
  vpci::vf_mailbox_options mo;
  mo.default_timeout = o.timeout;
  using counted_type = vpci::access_counting_transport<Transport&>;
  counted_type counted(space);
  vpci::vf_endpoint<counted_type> vf(counted, window, mo);
  load_hooks hooks;
  hooks.on_counting_start = [&] { counted.reset_counts(); };
  hooks.accesses = [&]() -> std::optional<std::uint64_t> { return counted.counts().total(); };
  if constexpr (std::is_same_v<Transport, vpci::vfio_user_config_space>) {
    // The endpoint's failure() is then the connection's lasting failure: a timeout alone would not say that
    // the connection is what ended.
    hooks.name_failure = [](const boost::system::error_code& failure) -> std::string {
      // peer_gone is the server's end closed (it exited or hung up); its own text speaks of heartbeats.
      if (failure == vpci::errc::peer_gone) return "the vfio-user connection is closed: the server closed it or exited";
      return "the vfio-user connection is closed: " + failure.message();
    };
  }
  hooks.after = std::move(after);
  return generate_load(vf, o, io, signals, std::move(hooks));
}

template <class Stream>
figures run_message_vf(Stream& stream, const options& o, boost::asio::io_context& io, vpci_perf::signal_watch& signals,
                       std::function<void()> after = {}) {
  vpci::vf_message_options mo;
  mo.default_timeout = o.timeout;
  mo.negotiation_timeout = o.timeout;
  vpci::vf_message_endpoint<Stream> vf(stream, perf_slot, mo);
  load_hooks hooks;
  // A failed negotiation is the endpoint's failure(); its error alone (a timeout) would not say which wait.
  hooks.name_failure = [&vf](const boost::system::error_code& failure) {
    return vf.channel().negotiation().failed() ? "version negotiation failed: " + failure.message() : error_text(failure);
  };
  hooks.after = [&vf, after = std::move(after)] {
    vf.close();  // the endpoint keeps reading its stream until closed
    if (after) after();
  };
  return generate_load(vf, o, io, signals, std::move(hooks));
}

// ---- setting up transports ------------------------------------------------------------------------------

std::string text_of(const tcp::endpoint& endpoint) {
  const auto address = endpoint.address().to_string();
  return (endpoint.address().is_v6() ? "[" + address + "]" : address) + ":" + std::to_string(endpoint.port());
}

// Every address HOST resolves to, in the resolver's order (a HOST is given: parse_tcp sees to it).
std::vector<tcp::endpoint> resolve_tcp(const options& o, boost::asio::io_context& io) {
  tcp::resolver resolver(io);
  boost::system::error_code ec;
  const auto found = resolver.resolve(o.tcp_host, std::to_string(o.tcp_port), ec);
  if (ec || found.empty())
    throw setup_failure("cannot resolve " + quoted_text(o.tcp_host) + ": " + (ec ? ec.message() : "no address"));
  std::vector<tcp::endpoint> endpoints;
  for (const auto& entry : found) endpoints.push_back(entry.endpoint());
  return endpoints;
}

// Opens, binds and listens; on failure `ec` says why and the acceptor is closed again.
void try_listen(tcp::acceptor& acceptor, const tcp::endpoint& at, bool dual_stack, boost::system::error_code& ec) {
  acceptor.open(at.protocol(), ec);
  if (!ec && dual_stack) acceptor.set_option(boost::asio::ip::v6_only(false), ec);
  if (!ec) acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor.bind(at, ec);
  if (!ec) acceptor.listen(boost::asio::socket_base::max_listen_connections, ec);
  if (ec) {
    boost::system::error_code ignored;
    acceptor.close(ignored);
  }
}

// A PF listens on HOST's first address. Given no HOST, it listens on every address: IPv6 and IPv4 on one
// socket ([::] with IPV6_V6ONLY off, as iperf3 does), or every IPv4 address (0.0.0.0) on a host without
// IPv6, so that a VF reaches it by either family.
void listen_tcp(tcp::acceptor& acceptor, const options& o, boost::asio::io_context& io) {
  const bool every_address = o.tcp_host.empty();
  tcp::endpoint at = every_address ? tcp::endpoint(tcp::v6(), o.tcp_port) : resolve_tcp(o, io).front();
  boost::system::error_code ec;
  try_listen(acceptor, at, every_address, ec);
  using boost::system::errc::errc_t;
  const bool no_ipv6 = ec == errc_t::address_family_not_supported || ec == errc_t::address_not_available ||
                       ec == errc_t::no_protocol_option;
  if (every_address && no_ipv6) {
    at = tcp::endpoint(tcp::v4(), o.tcp_port);
    try_listen(acceptor, at, false, ec);
  }
  if (ec) throw setup_failure("cannot listen on " + text_of(at) + ": " + ec.message());
}

// Tries each address in turn until one accepts: a name may resolve to ::1 and 127.0.0.1 with the PF
// listening on one of them only.
void connect_tcp(tcp::socket& socket, const std::vector<tcp::endpoint>& to) {
  boost::system::error_code ec;
  boost::asio::connect(socket, to, ec);
  if (!ec) socket.set_option(tcp::no_delay(true), ec);
  if (ec) {
    std::string tried = text_of(to.front());
    for (std::size_t i = 1; i < to.size(); ++i) tried += (i == 1 ? " (also " : ", ") + text_of(to[i]);
    if (to.size() > 1) tried += ")";
    throw setup_failure("cannot connect to " + tried + ": " + ec.message());
  }
}

void connect_unix(local_socket& socket, const std::string& path) {
  boost::system::error_code ec;
  socket.connect(vpci::tools::unix_endpoint(path, "cannot use socket path " + quoted_text(path)), ec);
  if (ec) throw setup_failure("cannot connect to " + quoted_text(path) + ": " + ec.message());
}

using vpci::tools::unix_socket_file;

// The PF's shared-memory space NAME: made afresh, or in place of a stale one (its PF died, shut down, or
// died while making it). A live PF's space is refused (replacing it would cut that PF's VFs off), and so
// is an object that is not a vpci config space. The transport judges and replaces under the object's
// lock, so of several PFs started at once on one name exactly one serves it.
vpci::shm_config_space create_pf_space(const boost::asio::any_io_executor& executor, const std::string& name) {
  try {
    return vpci::shm_config_space::create(executor, name, 4096, vpci::shm_create::replace_stale);
  } catch (const boost::system::system_error& e) {
    const auto code = e.code();
    if (code == boost::system::errc::file_exists)
      throw setup_failure("a live PF serves shared memory " + quoted_text(name) + "; give another --shm name");
    if (code == vpci::errc::bad_data)
      throw setup_failure("shared memory " + quoted_text(name) +
                          " is there and is no vpci config space; give another --shm name");
    if (code == vpci::errc::revision_mismatch)
      throw setup_failure("shared memory " + quoted_text(name) +
                          " is a vpci config space of another layout version; give another --shm name");
    throw setup_failure("cannot create shared memory " + quoted_text(name) + ": " + code.message());
  }
}

// The VF's view of shared memory NAME, as the mailbox's only VF (shm_mailbox_driver.hpp: a VF attached
// already is named in the failure).
vpci::shm_config_space open_vf_space(const boost::asio::any_io_executor& executor, const std::string& name) {
  try {
    return vpci::tools::open_vf_mailbox_space(executor, name);
  } catch (const boost::system::system_error& e) {
    throw setup_failure("cannot open shared memory " + quoted_text(name) + ": " + e.code().message());
  }
}

// ---- the PF -------------------------------------------------------------------------------------------

using pf_type = vpci::pf_endpoint<4>;

std::unique_ptr<pf_type> make_pf(const options& o) {
  // Room for every request a VF may pipeline: 64 in flight on binding 2 (docs/hyperv-binding.md), and the
  // answers the stream has not written yet.
  vpci::engine::pf_limits limits;
  limits.max_in_flight = std::max<std::uint32_t>(limits.max_in_flight, static_cast<std::uint32_t>(2 * o.queue_depth));
  auto pf = std::make_unique<pf_type>(limits);
  (void)pf->register_vf(perf_vf, 0x0101);
  if (auto ec = pf->define_block(perf_vf, vpci::block_id{o.block_id}, pattern(o.block_size)); ec)
    throw setup_failure("defining the block failed: " + ec.message());
  return pf;
}

template <class Transport>
void attach(pf_type& pf, Transport& space) {
  if (auto window = pf.attach_mailbox(perf_vf, space); !window)
    throw setup_failure("attaching the mailbox failed: " + window.error().message());
}

// Serves binding 2 on every connection `acceptor` accepts, until `io` stops. Once `shutting_down` is set,
// the connections end because the PF does (it ends every stream with vf_removed), which the line says.
template <class Acceptor>
void accept_loop(pf_type& pf, Acceptor& acceptor, bool quiet, const bool& shutting_down) {
  acceptor.async_accept([&pf, &acceptor, quiet, &shutting_down](boost::system::error_code ec,
                                                                 typename Acceptor::protocol_type::socket s) {
    if (ec) return;
    // Every answer is a small write the VF waits for: with Nagle's algorithm on, it waits for the VF's
    // delayed acknowledgement (40 ms on Linux) whenever an earlier answer is still unacknowledged.
    if constexpr (std::is_same_v<typename Acceptor::protocol_type, tcp>) {
      boost::system::error_code ignored;
      s.set_option(tcp::no_delay(true), ignored);
    }
    auto socket = std::make_shared<typename Acceptor::protocol_type::socket>(std::move(s));
    pf.async_serve(perf_vf, perf_slot, *socket, [socket, quiet, &shutting_down](boost::system::error_code served) {
      if (quiet) return;
      const std::string why = shutting_down ? "the PF is shutting down"
                              : served      ? served.message()
                                            : "closed by the VF";
      std::fprintf(stderr, "[pf] connection ended: %s\n", why.c_str());
    });
    accept_loop(pf, acceptor, quiet, shutting_down);
  });
}

// The PF role alone: serves until Ctrl-C. Until it serves, a signal ends it as `signals`' handler of the
// moment says (main's: "interrupted while setting up").
int run_pf(const options& o, vpci_perf::signal_watch& signals) {
  boost::asio::io_context io;
  // The transports are declared before the PF, which must be gone before them.
  std::optional<vpci::shm_config_space> space;
  local_acceptor unix_acceptor(io);
  std::optional<unix_socket_file> socket_file;
  tcp::acceptor tcp_acceptor(io);
  auto pf = make_pf(o);
  bool shutting_down = false;
  std::string serving = quoted_text(o.where);
  switch (o.transport) {
    case transport_kind::shm:
      space.emplace(create_pf_space(io.get_executor(), o.where));
      attach(*pf, *space);
      pf->async_serve(perf_vf, [](boost::system::error_code ec) {
        if (ec && ec != vpci::errc::vf_removed) std::fprintf(stderr, "[pf] serving ended: %s\n", ec.message().c_str());
      });
      break;
    case transport_kind::unix_socket:
      socket_file.emplace(unix_acceptor, o.where);
      accept_loop(*pf, unix_acceptor, o.quiet, shutting_down);
      break;
    case transport_kind::tcp_socket:
      listen_tcp(tcp_acceptor, o, io);
      serving = text_of(tcp_acceptor.local_endpoint());  // the port the kernel chose for port 0
      accept_loop(*pf, tcp_acceptor, o.quiet, shutting_down);
      break;
    default: usage_error("the PF role serves --shm, --unix or --tcp");
  }
  const auto shut_down = [&] {
    shutting_down = true;
    if (space) (void)pf->detach_mailbox(perf_vf);
    pf.reset();  // every stream ends (vf_removed) and is closed
    unix_acceptor.close();
    if (socket_file) socket_file->remove();
    tcp_acceptor.close();
  };
  // Serving: the first signal ends it cleanly, posted to this thread, which runs the PF (later ones find it
  // ending already). Set before the serving line, which tells the user (and a test) that Ctrl-C now ends
  // the PF so; whatever ends the serving, the handler is replaced before `io` goes.
  const finish_on_signal_at_scope_end serving_ends(signals);
  signals.set_handler([&io, shut_down](int, unsigned count) {
    if (count == 1) boost::asio::post(io, shut_down);
  });
  // The line is the only place that names the port the kernel chose for port 0: --quiet keeps it then.
  const bool port_chosen = o.transport == transport_kind::tcp_socket && o.tcp_port == 0;
  if (!o.quiet || port_chosen)
    std::fprintf(stderr, "[pf] serving VF 0, block %u (%s), on %s %s; Ctrl-C ends\n", o.block_id,
                 bytes(o.block_size).c_str(), name_of(o.transport), serving.c_str());
  io.run();
  return 0;
}

// ---- the VF role alone --------------------------------------------------------------------------------

figures run_vf(const options& o, vpci_perf::signal_watch& signals) {
  boost::asio::io_context io;
  switch (o.transport) {
    case transport_kind::shm: {
      auto space = open_vf_space(io.get_executor(), o.where);
      return run_mailbox_vf(space, "shared memory " + quoted_text(o.where), o, io, signals);
    }
    case transport_kind::sysfs: {
      // Read-write whatever the operations: a block read is a request written into the window's registers.
      vpci::sysfs_config_space space(io.get_executor());
      boost::system::error_code ec;
      space.open(o.where, vpci::access_mode::read_write, ec);
      if (ec)
        throw setup_failure("cannot open " + quoted_text(o.where) +
                            " read-write (the mailbox writes its registers to read a block too): " + ec.message());
      // The mailbox writes into the file: one of another size is no function's config file (a mistyped
      // path, a saved dump cut short), and is refused before anything is written to it.
      if (space.file_size() != 256 && space.file_size() != 4096)
        throw setup_failure(quoted_text(o.where) + " is not a PCI function's config space: it holds " +
                            std::to_string(space.file_size()) + " bytes, and a config file holds 256 or 4096");
      return run_mailbox_vf(space, quoted_text(o.where), o, io, signals);
    }
    case transport_kind::vfio_user: {
      // Connects and handshakes; every config access of the VF is then a REGION_READ/REGION_WRITE
      // exchange with the server.
      // A missed reply deadline closes the connection for good, so it is never shorter than the client's
      // default (1 s): a --timeout below it fails that operation only. A longer --timeout (a slow server the
      // user allowed for) is each exchange's deadline too, so the connection does not break first.
      vpci::vfio_user_client_options<> client;
      client.reply_timeout = std::max<std::chrono::nanoseconds>(client.reply_timeout, o.timeout);
      vpci::vfio_user_config_space space(io.get_executor(), client);
      boost::system::error_code ec;
      space.connect(o.where, ec);
      if (ec)
        throw setup_failure("cannot connect to the vfio-user server at " + quoted_text(o.where) + ": " + ec.message());
      // An exchange cannot be cancelled (its reply keeps the stream in step), and one in progress when the
      // run ends would hold it up to the reply deadline: a server that stopped answering, and Ctrl-C, waited
      // for all of it (--timeout 60000: a minute). The run is over, so the connection is closed instead.
      return run_mailbox_vf(space, "the vfio-user server at " + quoted_text(o.where), o, io, signals,
                            [&space] { space.close(); });
    }
    case transport_kind::unix_socket: {
      local_socket socket(io);
      connect_unix(socket, o.where);
      return run_message_vf(socket, o, io, signals);
    }
    case transport_kind::tcp_socket: {
      tcp::socket socket(io);
      connect_tcp(socket, resolve_tcp(o, io));
      return run_message_vf(socket, o, io, signals);
    }
    default: usage_error("the VF role uses --shm, --unix, --tcp, --sysfs or --vfio-user");
  }
}

// ---- both roles in one process ------------------------------------------------------------------------

// The PF's thread in --role both. However the VF's side ends, an exception included, the thread is stopped
// and joined before what it uses is destroyed (it is declared after those), and never destroyed joinable
// (std::terminate).
class pf_thread {
 public:
  explicit pf_thread(boost::asio::io_context& io) : io_(io), thread_([&io] { io.run(); }) {}
  ~pf_thread() {
    if (!thread_.joinable()) return;
    io_.stop();
    thread_.join();
  }
  pf_thread(const pf_thread&) = delete;
  pf_thread& operator=(const pf_thread&) = delete;
  // Waits for the PF's work to run out: the VF's side has ended it.
  void join() { thread_.join(); }

 private:
  boost::asio::io_context& io_;
  std::thread thread_;
};

// On --memory: one thread; the PF serves inside the VF's writes (binding 1) or on the same io_context
// (binding 2).
figures run_both_memory(const options& o, vpci_perf::signal_watch& signals) {
  // The transports are declared before the PF, which must be gone before them.
  boost::asio::io_context io;
  if (o.binding == binding_kind::mailbox) {
    vpci::memory_config_space space(io, 4096);
    auto pf = make_pf(o);
    attach(*pf, space);
    pf->async_serve(perf_vf, [](boost::system::error_code) {});  // the heartbeat (the hook serves)
    return run_mailbox_vf(space, "the PF in this process", o, io, signals, [&] { (void)pf->detach_mailbox(perf_vf); });
  }
  local_socket pf_side(io);
  local_socket vf_side(io);
  boost::asio::local::connect_pair(pf_side, vf_side);
  auto pf = make_pf(o);
  pf->async_serve(perf_vf, perf_slot, pf_side, [](boost::system::error_code) {});
  return run_message_vf(vf_side, o, io, signals);
}

// On any other transport: the PF on a thread of its own, as in two processes.
figures run_both_shm(const options& o, vpci_perf::signal_watch& signals) {
  boost::asio::io_context pf_io;
  auto device = create_pf_space(pf_io.get_executor(), o.where);
  auto pf = make_pf(o);
  attach(*pf, device);
  pf->async_serve(perf_vf, [](boost::system::error_code) {});
  pf_thread thread(pf_io);
  boost::asio::io_context io;
  auto space = open_vf_space(io.get_executor(), o.where);
  auto result = run_mailbox_vf(space, "shared memory " + quoted_text(o.where), o, io, signals);
  boost::asio::post(pf_io, [&] { (void)pf->detach_mailbox(perf_vf); });  // serving ends; pf_io runs out
  thread.join();
  return result;
}

figures run_both_unix(const options& o, vpci_perf::signal_watch& signals) {
  boost::asio::io_context pf_io;
  local_acceptor acceptor(pf_io);
  unix_socket_file socket_file(acceptor, o.where);
  local_socket pf_side(pf_io);
  auto pf = make_pf(o);
  acceptor.async_accept(pf_side, [&](boost::system::error_code ec) {
    if (!ec) pf->async_serve(perf_vf, perf_slot, pf_side, [](boost::system::error_code) {});
  });
  pf_thread thread(pf_io);
  boost::asio::io_context io;
  local_socket socket(io);
  connect_unix(socket, o.where);
  auto result = run_message_vf(socket, o, io, signals, [&] { socket.close(); });  // the PF sees the end and finishes
  thread.join();
  return result;
}

figures run_both_tcp(const options& o, vpci_perf::signal_watch& signals) {
  boost::asio::io_context pf_io;
  tcp::acceptor acceptor(pf_io);
  listen_tcp(acceptor, o, pf_io);
  const tcp::endpoint listening = acceptor.local_endpoint();
  tcp::socket pf_side(pf_io);
  auto pf = make_pf(o);
  acceptor.async_accept(pf_side, [&](boost::system::error_code ec) {
    if (ec) return;
    pf_side.set_option(tcp::no_delay(true), ec);
    pf->async_serve(perf_vf, perf_slot, pf_side, [](boost::system::error_code) {});
  });
  pf_thread thread(pf_io);
  boost::asio::io_context io;
  tcp::socket socket(io);
  const tcp::endpoint to(listening.address().is_unspecified() ? boost::asio::ip::address(boost::asio::ip::address_v4::loopback())
                                                               : listening.address(),
                         listening.port());
  connect_tcp(socket, {to});
  auto result = run_message_vf(socket, o, io, signals, [&] { socket.close(); });
  thread.join();
  return result;
}

figures run_both(const options& o, vpci_perf::signal_watch& signals) {
  switch (o.transport) {
    case transport_kind::memory: return run_both_memory(o, signals);
    case transport_kind::shm: return run_both_shm(o, signals);
    case transport_kind::unix_socket: return run_both_unix(o, signals);
    case transport_kind::tcp_socket: return run_both_tcp(o, signals);
    default: usage_error("--role both uses --memory, --shm, --unix or --tcp");
  }
}

}  // namespace

int main(int argc, char** argv) {
  // --json anywhere makes every failure JSON too, an argument error's included.
  const bool json = vpci::tools::json_requested(argc, argv);
  try {
    const options o = parse(argc, argv);
    // Before any thread: every thread the tool starts blocks the signals the watch takes. Every role sets
    // up first (creating, listening, connecting, opening: steps a lock or a silent peer can hold up).
    vpci_perf::signal_watch signals;
    signals.set_handler(ended_by_signal("while setting up", o.json));
    if (o.role == role_kind::pf) return run_pf(o, signals);
    if (!o.quiet && !o.json)
      std::fprintf(stderr, "vpci-perf: %s over %s, role %s, %zu-byte blocks, queue depth %zu, %u%% reads\n",
                   name_of(o.binding), name_of(o.transport), name_of(o.role), o.block_size, o.queue_depth,
                   o.read_percent);
    const figures f = o.role == role_kind::vf ? run_vf(o, signals) : run_both(o, signals);
    figures_to_print::kept().print(o, f);
    // The figures are what the run is for: not written (stdout on a full disk) is a failed run.
    errno = 0;
    if (std::fflush(stdout) != 0 || std::ferror(stdout) != 0) {
      const int error = errno != 0 ? errno : EIO;
      std::fprintf(stderr, "vpci-perf: writing the figures to stdout failed: %s\n", std::strerror(error));
      return 1;
    }
    return f.failed == 0 && f.warmup_failed == 0 && !f.sizing_error ? 0 : 1;
  } catch (const usage_failure& e) {
    print_failure(e.what(), json, " (vpci-perf --help)");
  } catch (const boost::system::system_error& e) {
    print_failure(e.code().message(), json);
  } catch (const std::exception& e) {
    print_failure(e.what(), json);
  }
  return 2;
}
