// vpci-conformance: checks a PF implementation against docs/protocol.md (binding 1, the config-space
// mailbox, layout 2) or docs/hyperv-binding.md (binding 2, Hyper-V vPCI messages over a stream), acting
// as a VF, well-behaved and hostile. The cases are in mailbox_cases.hpp and hyperv_cases.hpp; this file
// only parses the command line, opens the transport and prints.
#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/system/system_error.hpp>

#include <vpci/transport/shm_config_space.hpp>
#include <vpci/transport/sysfs_config_space.hpp>
#include <vpci/transport/vfio_user_config_space.hpp>

#include "conformance/mailbox_port.hpp"
#include "conformance/runner.hpp"
#include "conformance/self_pf.hpp"
#include "conformance/shell_command.hpp"
#include "conformance/socket_stream.hpp"
#include "host_port.hpp"
#include "json_string.hpp"
#include "option_number.hpp"
#include "quoted_text.hpp"
#include "shm_mailbox_driver.hpp"

namespace {

using namespace vpci::conformance;
using vpci::tools::quoted_text;

constexpr const char* usage = R"(usage: vpci-conformance TARGET [options]

Checks a PF against docs/protocol.md (binding 1) or docs/hyperv-binding.md (binding 2), acting as a VF.

Targets, binding 1 (the config-space mailbox):
  --self                    vpci's own PF, started in this process (defines the conformance profile)
  --shm NAME                a PF serving a POSIX shared-memory config space (vpci's shm_config_space)
  --shm2 NAME               the second VF's space (isolation and flood cases)
  --sysfs BDF --allow-write a VF's config space through sysfs (writes refused without --allow-write)
  --sysfs2 BDF              the second VF
  --vfio-user SOCKET        a VF's config space served by a vfio-user server (vpci-vfio-user-device,
                            any libvfio-user device): REGION_READ/REGION_WRITE of its config region
  --vfio-user2 SOCKET       the second VF's server
Targets, binding 2 (Hyper-V vPCI messages, raw frames):
  --self --binding hyperv   vpci's own PF, serving socket pairs on a thread of this process
  --self --tcp HOST:0       vpci's own PF listening on HOST (any free port, one listener per VF), the cases
                            connecting over TCP as to an external PF
  --unix PATH / --tcp HOST:PORT, and --unix2 / --tcp2 for the second VF's stream ([HOST]:PORT for IPv6;
                            a HOST, PORT 1..65535, decimal: another value is a usage error before anything
                            runs)

Options:
  --binding mailbox|hyperv  the binding checked, also 1|2 (default mailbox; hyperv with --unix or --tcp)
  --case PATTERN            run only matching cases (a name or a glob; repeatable; one that matches no
                            case of the binding is an error)
  --exclude PATTERN         leave matching cases out (repeatable)
  --list                    list the cases and exit (with --json as {"binding": ..., "cases": [...]})
  --json                    print the results as JSON; a usage or setup error as {"error": MESSAGE}
  --timeout MS              how long to wait for each answer (default 1000)
  --block ID:SIZE[:ro|:wo]  the VF's blocks (repeatable; replaces the profile's VF blocks)
  --foreign-block ID        a block of another VF only      --undefined-block ID   a block nobody defines
  --second-block ID:SIZE    the second VF's own block
  --not-ready-block ID      a block whose handler answers STATUS_DEVICE_NOT_READY
  --empty-block ID          a block whose handler reports success with 0 bytes
  --dvsec-vendor ID         the window's DVSEC vendor ID (default: the function's own vendor ID)
  --dvsec-id ID             the window's DVSEC ID (default 0x5650)
  --wslot N / --wslot2 N    the VFs' wslots on binding 2 (default 0x22 / 0x42; with --self, the ones its PF
                            serves): device bits 4:0, function bits 7:5, so 0..0xFF (bits 31:8 are reserved)
  --stall-ms MS             the PF's stall timeout on binding 2 (enables hyperv.unread_answers_stall: a
                            stream the VF stops reading must end within two of them, and 5 s for load)
  --invalidate-cmd CMD      a shell command that makes the PF raise an invalidation: {vf} and {mask}
                            (hex) are replaced; it returns once the PF has taken it
  --invalidate-block ID     or: writing 8 bytes (a little-endian mask) to block ID makes the PF raise
                            those bits for the writing VF (a vendor's test hook)
  --restart-cmd CMD         a shell command that restarts the PF (and returns once it serves again)
  --flr-cmd CMD             a shell command that makes the PF reset VF {vf} (an FLR, protocol.md 5.4); it
                            returns once the PF has taken it (other VFs may be reset too). Over vfio-user
                            the transport resets the device itself (VFIO_USER_DEVICE_RESET) without it
                            A command run through the shell that fails (an exit status other than 0, or
                            a signal) fails the case that ran it, naming the exit status or the signal

Without --block the PF is assumed to define the conformance profile (what --self defines): VF 0 has
block 1 (16 bytes, read-write), 2 (4, read-only), 3 (128, read-write), 4 (4, write-only), 0x12345678
(8, read-write), 6 (handler: STATUS_DEVICE_NOT_READY), 7 (handler: success, 0 bytes); VF 1 has block 40
(8, read-write); 0xDEAD0000 is defined by nobody. With --block the profile is only what the options
give (0xDEAD0000 stays the undefined block); a case whose block is not given is SKIPped.
An option that only one binding's cases read is a usage error with the other binding: the targets,
--allow-write, --dvsec-vendor, --dvsec-id, --empty-block, --invalidate-block, --restart-cmd and --flr-cmd
are binding 1's; --wslot, --wslot2 and --stall-ms binding 2's. A run has one target (--self --tcp HOST:0
is one); a second VF's target only beside its first VF's (--shm2 beside --shm, --tcp2 beside an external
PF's --tcp, ...), and --allow-write only beside --sysfs: otherwise a usage error naming both options.
--invalidate-cmd, --restart-cmd and --flr-cmd are for an external PF: beside --self, whose PF the tool drives
itself, they are a usage error.
Binding-2 cases that commit protocol violations quarantine the VF: they run last, and the PF must reset
the VF before another run. Exit status: 0 when nothing failed, 1 when a case failed, 2 on a usage or
setup error (with --json also given as {"error": MESSAGE} on stdout).
)";

struct options {
  bool self{false};
  std::string binding{"mailbox"};
  std::string shm, shm2, sysfs, sysfs2, vfio_user, vfio_user2, unix_path, unix_path2, tcp, tcp2;
  std::optional<std::string> self_tcp_host;  // --self --tcp HOST:0: the HOST its PF listens on
  bool allow_write{false};
  std::vector<std::string> cases;
  std::vector<std::string> excluded;
  bool list{false};
  std::chrono::milliseconds timeout{1000};
  std::optional<std::chrono::milliseconds> stall;
  profile given;   // what the block options said
  profile blocks;  // what the cases assume: see the end of parse()
  std::optional<std::uint16_t> dvsec_vendor;
  std::uint16_t dvsec_id{vpci::mailbox::default_dvsec_id};
  vpci::hyperv::wslot wslot{default_wslots[0]}, wslot2{default_wslots[1]};
  std::string invalidate_cmd, restart_cmd, flr_cmd;
};

// What a numeric option accepts. The bounds are what the value is stored in (an ID) or what the tool can
// wait for (a time: steady_clock deadlines overflow long before milliseconds do).
struct number_range {
  std::uint64_t min, max;
  const char* described;
};
constexpr number_range milliseconds_range{1, 86'400'000, "1..86400000 (a day)"};
constexpr number_range id32_range{0, 0xFFFF'FFFF, "0..0xFFFFFFFF"};
constexpr number_range id16_range{0, 0xFFFF, "0..0xFFFF"};
constexpr number_range block_size_range{1, 128, "1..128"};

// `text` as `option`'s value: decimal, 0x hex or 0 octal, the whole text, within `range`.
std::uint64_t number(std::string_view option, const std::string& text, number_range range) {
  const auto value = vpci::tools::option_number(text, range.min, range.max, vpci::tools::number_syntax::c_literal);
  if (!value) throw std::invalid_argument(std::string(option) + ": " + quoted_text(text) + " is not a number in " + range.described);
  return *value;
}
std::uint32_t id32(std::string_view option, const std::string& text) {
  return static_cast<std::uint32_t>(number(option, text, id32_range));
}
std::uint16_t id16(std::string_view option, const std::string& text) {
  return static_cast<std::uint16_t>(number(option, text, id16_range));
}
std::chrono::milliseconds milliseconds(std::string_view option, const std::string& text) {
  return std::chrono::milliseconds(number(option, text, milliseconds_range));
}
// The VF's own wslot may not set the reserved bits: the tool would break the protocol in every request it
// sends, the PF would refuse them and quarantine the VF, and the run would blame the PF.
// hyperv.wslot_reserved_bits sends such a wslot on purpose.
vpci::hyperv::wslot parse_wslot(std::string_view option, const std::string& text) {
  const auto slot = vpci::hyperv::decode_wslot(id32(option, text));
  if (!slot)
    throw std::invalid_argument(std::string(option) + ": " + quoted_text(text) +
                                " is not a wslot: bits 31:8 are reserved (device bits 4:0, function bits 7:5: 0..0xFF)");
  return slot.value();
}

// The options only one binding reads: its targets, and what only its cases use. On the other binding
// nothing would read them, and the run would not be the one the command line describes while saying
// nothing of it (a --wslot never sent, an --flr-cmd never run, a --shm space never opened): a usage error
// naming the binding they apply to.
struct binding_option {
  std::string_view option;
  std::string_view binding;  // o.binding's value: "mailbox" (binding 1) or "hyperv" (binding 2)
};
constexpr std::array binding_options{
    // binding 1: its targets, the window's DVSEC, and the block roles and commands only its cases use
    binding_option{"--shm", "mailbox"}, binding_option{"--shm2", "mailbox"}, binding_option{"--sysfs", "mailbox"},
    binding_option{"--sysfs2", "mailbox"}, binding_option{"--allow-write", "mailbox"}, binding_option{"--vfio-user", "mailbox"},
    binding_option{"--vfio-user2", "mailbox"}, binding_option{"--dvsec-vendor", "mailbox"}, binding_option{"--dvsec-id", "mailbox"},
    binding_option{"--empty-block", "mailbox"}, binding_option{"--invalidate-block", "mailbox"},
    binding_option{"--restart-cmd", "mailbox"}, binding_option{"--flr-cmd", "mailbox"},
    // binding 2: its targets, the VFs' wslots, the PF's stall timeout
    binding_option{"--unix", "hyperv"}, binding_option{"--unix2", "hyperv"}, binding_option{"--tcp", "hyperv"},
    binding_option{"--tcp2", "hyperv"}, binding_option{"--wslot", "hyperv"}, binding_option{"--wslot2", "hyperv"},
    binding_option{"--stall-ms", "hyperv"},
};

std::string binding_title(std::string_view binding) { return binding == "hyperv" ? "binding 2 (hyperv)" : "binding 1 (mailbox)"; }

// A run checks one PF, its target. Of two, the tool would check the first it looked for and ignore the
// other without a word: a usage error naming both. --self --tcp HOST:0 is one target: vpci's PF, listening
// on HOST.
constexpr std::array<std::string_view, 6> targets{"--self", "--shm", "--sysfs", "--vfio-user", "--unix", "--tcp"};

// The options only one target reads: the second VF's target beside the first's, and --allow-write, which
// lets --sysfs write. Beside another target, or none, nothing would read them (--shm2 beside --self, --unix2
// beside --tcp, --tcp2 beside --self --tcp, whose PF listens for both VFs): a usage error naming both.
struct target_option {
  std::string_view option;
  std::string_view target;
};
constexpr std::array target_options{
    target_option{"--shm2", "--shm"}, target_option{"--sysfs2", "--sysfs"}, target_option{"--allow-write", "--sysfs"},
    target_option{"--vfio-user2", "--vfio-user"}, target_option{"--unix2", "--unix"}, target_option{"--tcp2", "--tcp"},
};

// The commands that make an external PF raise an invalidation, restart or reset a VF. --self's PF runs in
// this process and the tool does all three to it directly (self_pf.hpp's pf_control), so beside --self a
// command would never run and the run would not be the one the command line describes: a usage error.
constexpr std::array<std::string_view, 3> external_pf_commands{"--invalidate-cmd", "--restart-cmd", "--flr-cmd"};

// `named`: the options given, in order. After the binding check, so that the targets left are one
// binding's (a target of the other is refused there, naming its binding).
void check_target(const std::vector<std::string>& named) {
  const auto given = [&](std::string_view option) { return std::find(named.begin(), named.end(), option) != named.end(); };
  const bool self_listening = given("--self") && given("--tcp");  // --tcp HOST:0: where --self's PF listens
  std::vector<std::string> chosen;  // the targets given, in order, each once
  for (const std::string& a : named)
    if (std::find(targets.begin(), targets.end(), a) != targets.end() && !(self_listening && a == "--tcp") &&
        std::find(chosen.begin(), chosen.end(), a) == chosen.end())
      chosen.push_back(a);
  if (chosen.size() > 1) throw std::invalid_argument(chosen[0] + " and " + chosen[1] + " are two targets: give one");
  const std::string target = chosen.empty() ? "" : self_listening ? "--self --tcp" : chosen[0];
  for (const std::string& a : named) {
    const auto of = std::find_if(target_options.begin(), target_options.end(), [&](const target_option& t) { return t.option == a; });
    if (of != target_options.end() && target != of->target)
      throw std::invalid_argument(a + " applies to " + std::string(of->target) + " only, " +
                                  (target.empty() ? "and no " + std::string(of->target) + " is given" : "not to " + target));
  }
  if (target.starts_with("--self"))
    for (const std::string& a : named)
      if (std::find(external_pf_commands.begin(), external_pf_commands.end(), a) != external_pf_commands.end())
        throw std::invalid_argument(a + " applies to an external PF only, not to " + target +
                                    ": vpci's PF in this process is driven by the tool itself, without commands");
}

// --tcp / --tcp2 `text` (`option`'s value) as HOST:PORT, checked here so that a mistake in it is a usage
// error naming it, not every case's FAIL once the run connects (and exit status 1, as if the PF had failed).
// Beside --self, --tcp is where its PF listens: HOST:0, the PF taking a free port for each VF; the HOST is
// returned. Otherwise the cases connect there, and an empty HOST (":PORT") names no PF. The split and that
// rule are examples/host_port.hpp's, which connect_tcp follows too.
std::string check_tcp(std::string_view option, const std::string& text, bool self) {
  if (self) {
    const auto address = vpci::tools::split_host_port(text);
    // An empty HOST would leave --self's PF on socket pairs, not listening anywhere.
    if (!address || address->host.empty() || address->port != "0")
      throw std::invalid_argument(std::string(option) + ": expected HOST:0 beside --self, got " + quoted_text(text) +
                                  " (its PF listens on any free port, one per VF)");
    return std::string(address->host);
  }
  auto checked = vpci::tools::check_tcp_address(option, text, vpci::tools::tcp_use::connect);
  if (!checked.error.empty()) throw std::invalid_argument(checked.error);
  return std::move(checked.host);
}

block_spec parse_block(std::string_view option, const std::string& text) {
  const auto colon = text.find(':');
  if (colon == std::string::npos) throw std::invalid_argument(std::string(option) + ": expected ID:SIZE, got " + quoted_text(text));
  block_spec b;
  b.id = id32(std::string(option) + " ID", text.substr(0, colon));
  std::string rest = text.substr(colon + 1);
  const auto mode = rest.find(':');
  b.size = static_cast<std::size_t>(number(std::string(option) + " SIZE", rest.substr(0, mode), block_size_range));  // 1..128
  if (mode != std::string::npos) {
    const std::string m = rest.substr(mode + 1);
    if (m == "ro") b.access = vpci::engine::block_access::read_only;
    else if (m == "wo") b.access = vpci::engine::block_access::write_only;
    else if (m != "rw") throw std::invalid_argument(std::string(option) + ": block access must be ro, wo or rw: " + quoted_text(text));
  }
  return b;
}

options parse(int argc, char** argv) {
  options o;
  std::optional<std::string> binding;       // --binding, if given
  std::vector<std::string> named;           // the options given, in order
  std::vector<binding_option> one_binding;  // the binding_options given, in order
  auto value = [&](int& i) -> std::string {
    if (i + 1 >= argc) throw std::invalid_argument(std::string(argv[i]) + " needs a value");
    return argv[++i];
  };
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    named.push_back(a);
    const auto of_one = std::find_if(binding_options.begin(), binding_options.end(), [&](const binding_option& b) { return b.option == a; });
    if (of_one != binding_options.end()) one_binding.push_back(*of_one);
    if (a == "--help" || a == "-h") {
      std::fputs(usage, stdout);
      std::exit(0);
    } else if (a == "--self") o.self = true;
    else if (a == "--binding") binding = value(i);
    else if (a == "--shm") o.shm = value(i);
    else if (a == "--shm2") o.shm2 = value(i);
    else if (a == "--sysfs") o.sysfs = value(i);
    else if (a == "--sysfs2") o.sysfs2 = value(i);
    else if (a == "--vfio-user") o.vfio_user = value(i);
    else if (a == "--vfio-user2") o.vfio_user2 = value(i);
    else if (a == "--allow-write") o.allow_write = true;
    else if (a == "--unix") o.unix_path = value(i);
    else if (a == "--unix2") o.unix_path2 = value(i);
    else if (a == "--tcp") o.tcp = value(i);
    else if (a == "--tcp2") o.tcp2 = value(i);
    else if (a == "--case") o.cases.push_back(value(i));
    else if (a == "--exclude") o.excluded.push_back(value(i));
    else if (a == "--list") o.list = true;
    else if (a == "--json") continue;  // read by vpci::tools::json_requested() before parsing
    else if (a == "--timeout") o.timeout = milliseconds(a, value(i));
    else if (a == "--stall-ms") o.stall = milliseconds(a, value(i));
    else if (a == "--block") {
      o.given.blocks.push_back(parse_block(a, value(i)));
    } else if (a == "--foreign-block") o.given.foreign_block = id32(a, value(i));
    else if (a == "--undefined-block") o.given.undefined_block = id32(a, value(i));
    else if (a == "--not-ready-block") o.given.not_ready_block = id32(a, value(i));
    else if (a == "--empty-block") o.given.empty_block = id32(a, value(i));
    else if (a == "--second-block") o.given.second_vf_block = parse_block(a, value(i));
    else if (a == "--invalidate-block") o.given.invalidation_trigger = id32(a, value(i));
    else if (a == "--dvsec-vendor") o.dvsec_vendor = id16(a, value(i));
    else if (a == "--dvsec-id") o.dvsec_id = id16(a, value(i));
    else if (a == "--wslot") o.wslot = parse_wslot(a, value(i));
    else if (a == "--wslot2") o.wslot2 = parse_wslot(a, value(i));
    else if (a == "--invalidate-cmd") o.invalidate_cmd = value(i);
    else if (a == "--restart-cmd") o.restart_cmd = value(i);
    else if (a == "--flr-cmd") o.flr_cmd = value(i);
    else throw std::invalid_argument("unknown option " + quoted_text(a));
  }
  // --unix and --tcp are targets of binding 2 only, so they choose it without --binding; a --binding
  // mailbox beside them is a contradiction, refused below rather than settled by which came last.
  const auto given = [&](std::string_view option) { return std::find(named.begin(), named.end(), option) != named.end(); };
  if (binding) o.binding = *binding;
  else if (given("--unix") || given("--tcp")) o.binding = "hyperv";
  // The numbers are accepted as vpci-perf accepts them: the bindings' names in docs/protocol.md.
  if (o.binding == "1") o.binding = "mailbox";
  if (o.binding == "2") o.binding = "hyperv";
  if (o.binding != "mailbox" && o.binding != "hyperv")
    throw std::invalid_argument("--binding: " + quoted_text(o.binding) + " is neither mailbox (1) nor hyperv (2)");
  for (const binding_option& b : one_binding)
    if (b.binding != o.binding)
      throw std::invalid_argument(std::string(b.option) + " applies to " + binding_title(b.binding) + " only, not to " +
                                  binding_title(o.binding));
  check_target(named);
  // After the target check: --tcp2 beside --self --tcp is refused there, naming both options.
  if (given("--tcp")) {
    const std::string host = check_tcp("--tcp", o.tcp, o.self);
    if (o.self) o.self_tcp_host = host;
  }
  if (given("--tcp2")) (void)check_tcp("--tcp2", o.tcp2, false);
  // Without --block: the conformance profile, with any role given overriding it. With --block: only what
  // the options give, and the default undefined block ID.
  const profile defaults = default_profile();
  o.blocks = o.given.blocks.empty() ? defaults : o.given;
  if (o.given.blocks.empty()) o.blocks.blocks = defaults.blocks;
  auto pick = [&](auto member) {
    if (o.given.*member) o.blocks.*member = o.given.*member;
    else if (o.given.blocks.empty() || member == &profile::undefined_block) o.blocks.*member = defaults.*member;
  };
  pick(&profile::foreign_block);
  pick(&profile::undefined_block);
  pick(&profile::not_ready_block);
  pick(&profile::empty_block);
  if (o.given.second_vf_block) o.blocks.second_vf_block = o.given.second_vf_block;
  o.blocks.invalidation_trigger = o.given.invalidation_trigger;
  return o;
}

// A --case pattern that matches no case of the binding is a mistake (a typo, a case of the other binding):
// running nothing for it would end in "0 passed" and exit status 0, and a CI job would pass having checked
// nothing. Checked against every case, --exclude aside: excluding what --case selects is not a typo.
template <class Case>
void check_case_patterns(const std::vector<Case>& cases, const options& o) {
  for (const std::string& pattern : o.cases)
    if (std::none_of(cases.begin(), cases.end(), [&](const Case& c) { return selected(c.name, {pattern}); }))
      throw std::invalid_argument("--case " + quoted_text(pattern) + " matches no " + o.binding + " case (--list shows them)");
}

// The cases less those --exclude names.
template <class Case>
std::vector<Case> only(std::vector<Case> cases, const options& o) {
  std::erase_if(cases, [&](const Case& c) { return !o.excluded.empty() && selected(c.name, o.excluded); });
  return cases;
}

// --invalidate-cmd / --restart-cmd / --flr-cmd for an external PF.
class command_control final : public pf_control {
 public:
  command_control(std::string invalidate, std::string restart, std::string flr)
      : invalidate_(std::move(invalidate)), restart_(std::move(restart)), flr_(std::move(flr)) {}
  [[nodiscard]] std::string can_invalidate() const override {
    return invalidate_.empty() ? "the tool cannot make this PF raise invalidations (--invalidate-cmd)" : "";
  }
  [[nodiscard]] std::string can_restart() const override {
    return restart_.empty() ? "the tool cannot restart this PF (--restart-cmd)" : "";
  }
  std::string invalidate(int vf, std::uint64_t mask) override {
    std::string cmd = invalidate_;
    replace(cmd, "{vf}", std::to_string(vf));
    replace(cmd, "{mask}", hex(mask, 16));
    return run(cmd);
  }
  std::string restart() override { return run(restart_); }
  [[nodiscard]] std::string can_flr() const override { return flr_.empty() ? pf_control::can_flr() : ""; }
  std::string flr(int vf) override {
    if (flr_.empty()) return can_flr();
    std::string cmd = flr_;
    replace(cmd, "{vf}", std::to_string(vf));
    return run(cmd);
  }

 private:
  static void replace(std::string& s, const std::string& what, const std::string& with) {
    for (auto at = s.find(what); at != std::string::npos; at = s.find(what, at + with.size())) s.replace(at, what.size(), with);
  }
  static std::string run(const std::string& cmd) { return run_shell_command(cmd); }
  std::string invalidate_, restart_, flr_;
};

// Over vfio-user the transport itself resets the device: VFIO_USER_DEVICE_RESET is the function-level
// reset (on a vpci server, the layout's FLR), so mailbox.flr needs no --flr-cmd there. A --flr-cmd given
// still decides; invalidations and restarts stay the commands'.
class vfio_user_reset_control final : public pf_control {
 public:
  vfio_user_reset_control(pf_control& commands, std::array<vpci::vfio_user_config_space*, 2> devices)
      : commands_(commands), devices_(devices) {}
  [[nodiscard]] std::string can_invalidate() const override { return commands_.can_invalidate(); }
  [[nodiscard]] std::string can_restart() const override { return commands_.can_restart(); }
  std::string invalidate(int vf, std::uint64_t mask) override { return commands_.invalidate(vf, mask); }
  std::string restart() override { return commands_.restart(); }
  // A server that does not offer the reset (no VFIO_DEVICE_FLAGS_RESET) leaves it to --flr-cmd.
  [[nodiscard]] std::string can_flr() const override {
    if (commands_.can_flr().empty()) return {};
    if ((devices_[0]->device_info().flags & vpci::vfio_user::device_flag_reset) != 0) return {};
    return "the vfio-user server offers no device reset (VFIO_DEVICE_FLAGS_RESET), and no --flr-cmd";
  }
  std::string flr(int vf) override {
    if (commands_.can_flr().empty()) return commands_.flr(vf);
    vpci::vfio_user_config_space* device = vf >= 0 && vf < 2 ? devices_[static_cast<std::size_t>(vf)] : nullptr;
    if (device == nullptr) return "no vfio-user connection to VF " + std::to_string(vf);
    boost::system::error_code ec;
    device->reset(ec);
    return ec ? "VFIO_USER_DEVICE_RESET: " + ec.message() : std::string{};
  }

 private:
  pf_control& commands_;
  std::array<vpci::vfio_user_config_space*, 2> devices_;
};

bool json_output = false;
void print_line(const case_report& r) {
  if (!json_output) std::printf("%s\n", format_line(r).c_str()), std::fflush(stdout);
}

int finish(const std::vector<case_report>& reports) {
  if (json_output) std::printf("%s\n", format_json(reports).c_str());
  else std::printf("%s\n", format_summary(summarize(reports)).c_str());
  return summarize(reports).failed == 0 ? 0 : 1;
}

template <class Transport>
std::unique_ptr<mailbox_port> open_port(Transport& t, const options& o, answer_budget budget, std::string reached_through) {
  auto window = find_window(t, o.dvsec_vendor, o.dvsec_id);
  if (!window) throw boost::system::system_error(window.error(), "no layout-2 mailbox DVSEC found");
  return std::make_unique<transport_mailbox_port<Transport>>(t, *window, budget, std::move(reached_through));
}

// Opens the target `option` names (a space, a config file, a socket): `open()`'s result. The transport's
// exception names the target raw, so a newline in a name would split the message and an escape sequence
// drive the terminal, and Boost adds its source location: the message is the option, the target quoted,
// and the error's own text.
template <class Open>
auto open_target(std::string_view option, const std::string& target, Open open) {
  try {
    return open();
  } catch (const boost::system::system_error& e) {
    throw std::runtime_error(std::string(option) + ": cannot open " + quoted_text(target) + ": " + e.code().message());
  }
}

int run_mailbox(const options& o) {
  boost::asio::io_context io;
  const answer_budget real{0, o.timeout, std::chrono::microseconds(20)};
  std::unique_ptr<self_mailbox_pf> self;
  std::optional<vpci::shm_config_space> shm, shm2;
  std::unique_ptr<vpci::sysfs_config_space> sysfs, sysfs2;
  std::unique_ptr<vpci::vfio_user_config_space> vfio_user, vfio_user2;
  std::unique_ptr<mailbox_port> vf0, vf1;
  command_control commands(o.invalidate_cmd, o.restart_cmd, o.flr_cmd);
  pf_control* control = &commands;
  std::optional<vfio_user_reset_control> vfio_user_control;
  std::string second_vf_option;  // named by the two-VF cases' SKIP reason
  if (o.self) {
    self = std::make_unique<self_mailbox_pf>(o.blocks);
    if (auto e = self->start(); !e.empty()) throw std::runtime_error("starting vpci's PF: " + e);
    // The PF answers inside the VF's writes: a few status polls, no real time.
    const answer_budget in_process{16, o.timeout, {}};
    vf0 = open_port(self->space(0), o, in_process, "the in-process memory space (--self)");
    vf1 = open_port(self->space(1), o, in_process, "the in-process memory space (--self)");
    control = self.get();
  } else if (!o.shm.empty()) {
    // As the mailbox's only VF (shm_mailbox_driver.hpp): a driver beside it would make cases fail for no
    // fault of the PF's. --shm2 naming the --shm space is refused so too.
    const auto open_shm = [&](const char* option, const std::string& name) {
      return open_target(option, name, [&] { return vpci::tools::open_vf_mailbox_space(io.get_executor(), name); });
    };
    shm.emplace(open_shm("--shm", o.shm));
    vf0 = open_port(*shm, o, real, "POSIX shared memory (--shm NAME)");
    second_vf_option = "--shm2 NAME";
    if (!o.shm2.empty()) {
      shm2.emplace(open_shm("--shm2", o.shm2));
      vf1 = open_port(*shm2, o, real, "POSIX shared memory (--shm2 NAME)");
    }
  } else if (!o.sysfs.empty()) {
    if (!o.allow_write) throw std::invalid_argument("--sysfs writes the VF's config space: give --allow-write to allow it");
    auto open_sysfs = [&](const std::string& bdf, const char* option) {
      const auto address = vpci::pci_address::parse(bdf);
      if (!address)
        throw std::invalid_argument(std::string(option) + ": " + quoted_text(bdf) + " is not a PCI address (DDDD:BB:DD.F or BB:DD.F)");
      const std::string config_file = vpci::sysfs_config_space::device_config_path(*address);
      return open_target(option, config_file, [&] {
        return std::make_unique<vpci::sysfs_config_space>(io.get_executor(), config_file, vpci::access_mode::read_write);
      });
    };
    sysfs = open_sysfs(o.sysfs, "--sysfs");
    vf0 = open_port(*sysfs, o, real, "sysfs (--sysfs BDF)");
    second_vf_option = "--sysfs2 BDF";
    if (!o.sysfs2.empty()) {
      sysfs2 = open_sysfs(o.sysfs2, "--sysfs2");
      vf1 = open_port(*sysfs2, o, real, "sysfs (--sysfs2 BDF)");
    }
  } else if (!o.vfio_user.empty()) {
    // The server is another process: the synchronous forms (each access one request and its reply, each
    // bounded by the client's reply deadline) are what the cases' register accesses are.
    const auto connect = [&](const char* option, const std::string& socket) {
      return open_target(option, socket, [&] { return std::make_unique<vpci::vfio_user_config_space>(io.get_executor(), socket); });
    };
    vfio_user = connect("--vfio-user", o.vfio_user);
    vf0 = open_port(*vfio_user, o, real, "vfio-user (--vfio-user SOCKET)");
    second_vf_option = "--vfio-user2 SOCKET";
    if (!o.vfio_user2.empty()) {
      vfio_user2 = connect("--vfio-user2", o.vfio_user2);
      vf1 = open_port(*vfio_user2, o, real, "vfio-user (--vfio-user2 SOCKET)");
    }
    control = &vfio_user_control.emplace(commands, std::array{vfio_user.get(), vfio_user2.get()});
  } else {
    throw std::invalid_argument("binding 1 needs --self, --shm NAME, --sysfs BDF or --vfio-user SOCKET");
  }
  mailbox_context ctx{*vf0, vf1.get(), o.blocks, control, second_vf_option};
  return finish(run_cases(only(mailbox_cases(), o), ctx, o.cases, print_line));
}

int run_hyperv(const options& o) {
  std::unique_ptr<self_stream_pf> self;
  std::unique_ptr<socket_stream_target> sockets;
  command_control commands(o.invalidate_cmd, o.restart_cmd, o.flr_cmd);
  stream_target* target = nullptr;
  pf_control* control = &commands;
  if (o.self) {
    // --self --tcp HOST:0: vpci's PF listens there, the cases connect over TCP (checked in parse()).
    self = std::make_unique<self_stream_pf>(o.blocks, std::array{o.wslot, o.wslot2}, o.stall.value_or(std::chrono::seconds(5)),
                                            o.self_tcp_host.value_or(""));
    if (!self->setup_error().empty()) throw std::runtime_error("starting vpci's PF: " + self->setup_error());
    target = self.get();
    control = self.get();
  } else if (!o.unix_path.empty() || !o.tcp.empty()) {
    const bool tcp = o.unix_path.empty();
    sockets = std::make_unique<socket_stream_target>(tcp, tcp ? o.tcp : o.unix_path, tcp ? o.tcp2 : o.unix_path2);
    // Each case connects anew; a PF that is not there would fail every one of them, and the run would look
    // like a PF failing the protocol (exit status 1). One connection to each address first makes it a
    // setup error naming the option, as a binding-1 target that does not open is.
    for (int vf = 0; vf < (sockets->has_second() ? 2 : 1); ++vf) {
      std::string error;
      if (sockets->connect(vf, error) == nullptr) {
        const char* option = vf == 0 ? (tcp ? "--tcp" : "--unix") : (tcp ? "--tcp2" : "--unix2");
        throw std::runtime_error(std::string(option) + ": " + error);
      }
    }
    target = sockets.get();
  } else {
    throw std::invalid_argument("binding 2 needs --self, --unix PATH or --tcp HOST:PORT");
  }
  hyperv_context ctx{*target, o.blocks, control, vpci::hyperv::encode_wslot(o.wslot).value(),
                     vpci::hyperv::encode_wslot(o.wslot2).value(), o.timeout, o.stall};
  return finish(run_cases(only(hyperv_cases(), o), ctx, o.cases, print_line));
}

// A usage or setup error: the message on stderr (after a usage error, the usage too) and, with --json,
// {"error": MESSAGE} on stdout, as vpci-perf gives it, so that a reader of the JSON learns why there are no
// results. Exit status 2 either way.
int setup_failed(const std::string& message, bool show_usage) {
  vpci::tools::print_failure("vpci-conformance", message, json_output, show_usage ? "\n\n" + std::string(usage) : "\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  json_output = vpci::tools::json_requested(argc, argv);
  try {
    const options o = parse(argc, argv);
    if (o.binding == "hyperv") check_case_patterns(hyperv_cases(), o);
    else check_case_patterns(mailbox_cases(), o);
    if (o.list) {
      const auto listed = o.binding == "hyperv" ? list_cases(only(hyperv_cases(), o), o.cases)
                                                : list_cases(only(mailbox_cases(), o), o.cases);
      if (json_output) std::printf("%s\n", format_listing_json(o.binding, listed).c_str());
      else
        for (const case_listing& c : listed) std::printf("%s\n", format_listing_line(c).c_str());
      return 0;
    }
    return o.binding == "hyperv" ? run_hyperv(o) : run_mailbox(o);
  } catch (const std::invalid_argument& e) {
    return setup_failed(e.what(), true);
  } catch (const std::exception& e) {
    return setup_failed(e.what(), false);
  }
}
