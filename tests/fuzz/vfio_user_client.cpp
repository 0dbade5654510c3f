// Fuzz target: vfio_user_config_space, the vfio-user client (its synchronous forms under virtual time),
// against a hostile server whose whole byte stream is the input: the handshake, then config reads, writes,
// resets and the interrupt's unmasks, over a real socketpair.
//
// Input: byte 0 the mode (bit 0: ask for the interrupt; bit 1: the server closes its end after the script,
// else it stays silent), a u16 script length and the script (everything the server ever sends, written
// into the socket before the client runs); then operations, one opcode byte each, until the input ends:
//   0  read: offset (u16, modulo the space's size + 16), length (u8, or u16 modulo 5000 when the opcode's
//      bit 4 is set);
//   1  write: the same, then the data;
//   2  reset;
//   3  the server signals the interrupt (writes the eventfd the client passed, if it passed one) and the
//      client looks at its count, as an endpoint does.
// The reply deadline is virtual (manual_timing): a synchronous form that finds nothing to read moves time
// to the deadline, so a silent server costs no wall time.
//
// Invariants, after every operation:
// - it returns: nothing hangs, whatever the server sends or withholds;
// - a success transfers exactly the length asked, with no error; a failure transfers 0 and has an error;
// - the requests are as documented: the client's messages are commands with IDs 1, 2, 3, ... in order;
//   every REGION_READ / REGION_WRITE names region 7, carries 1..min(max_data_xfer_size, 4096) bytes, the
//   messages of one access cover exactly its range in order and all but the last end on a dword boundary;
//   a write's messages carry exactly its data;
// - **a successful access took only replies that answer its requests** (replies are matched to requests in
//   the order sent: the script is cut into messages by their headers): each a reply to that ID and command
//   (or command 0) without the error flag, echoing the request's offset, region and count; a read returns
//   exactly their data, in order;
// - out-of-range accesses and those before a successful handshake send nothing;
// - once the connection failed for good (lasting_failure()), the client is closed and every later access
//   fails with that error at once, sending nothing; a failed handshake leaves the client closed with size 0;
// - a handshake that succeeds learnt a 256- or 4096-byte space; a signal on the installed interrupt's
//   eventfd counts once, and the next access starts with the UNMASK;
// - no descriptor leaks.
#include <array>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <utility>
#include <vector>

#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>

#include <vpci/asio/timing.hpp>
#include <vpci/transport/detail/vfio_user_fds.hpp>
#include <vpci/transport/vfio_user_config_space.hpp>

#include "fuzz_support.hpp"

using namespace vpci;
using namespace vpci::fuzz;
namespace vu = vpci::vfio_user;

namespace {

using client_type = basic_vfio_user_config_space<manual_timing>;

struct message {
  vu::header h;
  std::vector<std::byte> payload;
};

class world {
 public:
  world(std::uint8_t mode, std::span<const std::byte> script) : script_(script.begin(), script.end()) {
    int fds[2];
    VPCI_FUZZ_CHECK(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0);
    server_ = fds[1];
    // The script fits the socket's buffer (at most 64 KiB): written before the client runs.
    std::size_t sent = 0;
    while (sent < script_.size()) {
      const ssize_t n = ::send(server_, script_.data() + sent, script_.size() - sent, MSG_NOSIGNAL);
      VPCI_FUZZ_CHECK(n > 0);
      sent += static_cast<std::size_t>(n);
    }
    if ((mode & 2) != 0) ::shutdown(server_, SHUT_WR);
    client_.emplace(io_, vfio_user_client_options<manual_timing>{std::chrono::seconds(1), clock_, (mode & 1) != 0});
    boost::asio::local::stream_protocol::socket socket(io_);
    socket.assign(boost::asio::local::stream_protocol(), fds[0]);
    boost::system::error_code ec;
    client_->open(std::move(socket), ec);
    (void)after_operation(ec, true);
    if (ec) {
      VPCI_FUZZ_CHECK(!client_->is_open() && client_->size() == 0);
    } else {
      VPCI_FUZZ_CHECK(client_->is_open() && (client_->size() == 256 || client_->size() == 4096));
      const auto xfer = client_->server_capabilities().max_data_xfer_size;
      chunk_ = (xfer < 4096 ? xfer : 4096) & ~std::uint32_t{3};
    }
  }
  ~world() {
    client_.reset();
    if (eventfd_ >= 0) ::close(eventfd_);
    ::close(server_);
  }

  void run(input_reader& in) {
    const std::uint8_t op = in.u8();
    switch (op % 4) {
      case 0:
      case 1: return access(in, op);
      case 2: {
        const auto lasting = client_->lasting_failure();
        boost::system::error_code ec;
        client_->reset(ec);
        if (lasting) VPCI_FUZZ_CHECK(ec == lasting);
        (void)after_operation(ec, false);
        return;
      }
      default: {
        // The endpoint's look at the count (peer_signal_sequence) is what finds a signal: one more, and an
        // UNMASK goes out before the next access's own requests.
        const std::uint32_t before = client_->peer_signal_sequence();
        if (eventfd_ >= 0) {
          const std::uint64_t one = 1;
          VPCI_FUZZ_CHECK(::write(eventfd_, &one, sizeof one) == sizeof one);
        }
        const bool counted = eventfd_ >= 0 && client_->interrupt_installed();
        VPCI_FUZZ_CHECK(client_->peer_signal_sequence() == before + (counted ? 1u : 0u));
      }
    }
  }

 private:
  void access(input_reader& in, std::uint8_t op) {
    const bool write = op % 4 == 1;
    const std::size_t span = client_->size() + 16;
    const std::size_t offset = in.u16() % span;
    const std::size_t length = (op & 0x10) != 0 ? in.u16() % 5000 : in.u8();
    const auto lasting = client_->lasting_failure();
    const bool was_open = client_->is_open();
    const bool in_range = length != 0 && offset <= client_->size() && length <= client_->size() - offset;
    boost::system::error_code ec;
    std::size_t n = 0;
    std::vector<std::byte> out(length, sentinel_buffer::sentinel);
    const auto data = write ? in.take(length) : std::span<const std::byte>{};
    std::vector<std::byte> padded(data.begin(), data.end());
    padded.resize(length, std::byte{0x3C});
    const exact_bytes written{padded};
    if (write) {
      n = client_->write(offset, written.view(), ec);
    } else {
      n = client_->read(offset, out, ec);
    }
    VPCI_FUZZ_CHECK(ec ? n == 0 : n == length);
    if (lasting) VPCI_FUZZ_CHECK(ec == lasting);
    const auto sent = after_operation(ec, false);
    if (!was_open || !in_range) VPCI_FUZZ_CHECK(ec && sent.empty());
    if (sent.empty()) return;
    // The requests of this access (an UNMASK may come first).
    std::size_t at = offset;
    std::vector<std::byte> expected;
    for (const auto& [request, reply] : sent) {
      const auto c = static_cast<vu::command>(request.h.command);
      if (c == vu::command::device_set_irqs) continue;
      VPCI_FUZZ_CHECK(c == (write ? vu::command::region_write : vu::command::region_read));
      auto a = vu::decode_region_access(request.payload, write);
      VPCI_FUZZ_CHECK(a.has_value() && a->region == vu::pci_config_region_index && a->offset == at && a->count >= 1 &&
                      a->count <= chunk_);
      at += a->count;
      if (at != offset + length) VPCI_FUZZ_CHECK(at % 4 == 0);
      if (write) VPCI_FUZZ_CHECK(equal(a->data, written.view().subspan(a->offset - offset, a->count)));
      if (ec) continue;
      // A success took only replies that answer their request: a reply to this ID and command (or command 0,
      // as older libvfio-user servers write), no error, the same offset, region and count, and (a read)
      // exactly count bytes, which it returns.
      VPCI_FUZZ_CHECK(reply.has_value() && reply->h.is_reply() && !reply->h.error() &&
                      reply->h.message_id == request.h.message_id &&
                      (reply->h.command == request.h.command || reply->h.command == 0));
      auto answer = vu::decode_region_access(reply->payload, !write);
      VPCI_FUZZ_CHECK(answer.has_value() && answer->offset == a->offset && answer->region == a->region &&
                      answer->count == a->count);
      expected.insert(expected.end(), answer->data.begin(), answer->data.end());
    }
    if (!ec) {
      VPCI_FUZZ_CHECK(at == offset + length);
      if (!write) VPCI_FUZZ_CHECK(out == expected);
    }
  }

  // Takes what the client sent since the last call, checks it as commands with consecutive IDs, and pairs
  // each with the next message of the script (none once the script is used up or out of step). After a
  // lasting failure the client is closed. Returns the pairs.
  std::vector<std::pair<message, std::optional<message>>> after_operation(const boost::system::error_code& ec,
                                                                          bool handshake) {
    std::vector<std::byte> bytes;
    for (;;) {
      std::array<std::byte, 8192> chunk{};
      detail::vfio_user_fd_list fds;
      const ssize_t n = detail::vfio_user_receive(server_, chunk, fds);
      if (n <= 0) break;
      bytes.insert(bytes.end(), chunk.begin(), chunk.begin() + n);
      if (!fds.empty()) {
        VPCI_FUZZ_CHECK(fds.size() == 1 && eventfd_ < 0);
        eventfd_ = fds.take(0);
      }
    }
    std::vector<std::pair<message, std::optional<message>>> pairs;
    std::size_t at = 0;
    while (at < bytes.size()) {
      const std::span<const std::byte> rest = std::span<const std::byte>(bytes).subspan(at);
      auto h = vu::decode_header(rest);
      VPCI_FUZZ_CHECK(h.has_value() && h->message_size <= rest.size() && h->is_command() && !h->no_reply() &&
                      h->flags == 0 && h->error_number == 0 && h->message_id == next_id_);
      ++next_id_;
      message request{*h, {rest.begin() + vu::header_size, rest.begin() + h->message_size}};
      at += h->message_size;
      pairs.emplace_back(std::move(request), next_reply());
    }
    if (client_->lasting_failure()) {
      VPCI_FUZZ_CHECK(!client_->is_open());
      in_step_ = false;
    }
    if (handshake && ec) in_step_ = false;
    return pairs;
  }

  std::optional<message> next_reply() {
    if (!in_step_ || cursor_ + vu::header_size > script_.size()) {
      in_step_ = false;
      return std::nullopt;
    }
    const std::span<const std::byte> rest = std::span<const std::byte>(script_).subspan(cursor_);
    auto h = vu::decode_header(rest);
    if (!h || h->message_size > rest.size() || h->message_size > client_type::max_reply_size) {
      in_step_ = false;
      return std::nullopt;
    }
    message reply{*h, {rest.begin() + vu::header_size, rest.begin() + h->message_size}};
    cursor_ += h->message_size;
    return reply;
  }

  boost::asio::io_context io_;
  manual_timing clock_{};
  std::vector<std::byte> script_;
  int server_{-1};
  int eventfd_{-1};
  std::optional<client_type> client_;
  std::uint32_t chunk_{4096};
  std::uint16_t next_id_{1};
  std::size_t cursor_{0};
  bool in_step_{true};
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::size_t descriptors = open_descriptors();
  {
    input_reader in{as_bytes(data, size)};
    const std::uint8_t mode = in.u8();
    const auto script = in.take(in.u16());
    world w{mode, script};
    while (!in.empty()) w.run(in);
  }
  VPCI_FUZZ_CHECK(open_descriptors() == descriptors);
  return 0;
}
