// Binding 1 end to end through vfio-user: a vpci PF serves a VF's config space (its layout-2 mailbox
// window) with vfio_user_device_server; a vpci VF reaches it with vfio_user_config_space, reads and writes
// blocks and receives invalidations. In one process (virtual time) and across two processes (fork).
#include <boost/test/unit_test.hpp>

#include <array>
#include <chrono>
#include <cstdlib>
#include <memory>

#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/io_context.hpp>

#include <vpci/asio/vfio_user_device_server.hpp>
#include <vpci/transport/vfio_user_config_space.hpp>
#include <vpci/vpci.hpp>

#include "../examples/blocks.hpp"
#include "test_support.hpp"

BOOST_AUTO_TEST_SUITE(vfio_user_mailbox_test)

using namespace vpci;
using namespace vpci::test;
using namespace std::chrono_literals;
namespace vu = vpci::vfio_user;
using socket_type = boost::asio::local::stream_protocol::socket;

namespace {

const example::mac_address mac{0x02, 0x00, 0x00, 0x00, 0x00, 0x42};
// Block 3: a doorbell; writing it makes the PF invalidate block 0 (the MAC), from inside the VF's write.
using doorbell_block = block<3, std::uint32_t>;

// The PF's process: the VF's space with the PF's window, served over vfio-user with FLR on reset.
struct pf_side {
  boost::asio::io_context& io;
  vfio_user_device_space space{io};
  pf_endpoint<2> pf;
  vfio_user_device_server server{space, [this] { return pf.reset_vf(0); }};
  std::size_t window = 0;

  explicit pf_side(boost::asio::io_context& context) : io(context) {
    const bytes header = make_bytes({0xF4, 0x1A, 0x41, 0x10});  // vendor 0x1AF4, device 0x1041
    BOOST_REQUIRE(space.model().device_write(0, header) == no_error);
    BOOST_REQUIRE(!pf.register_vf(0, 0x0101));
    BOOST_REQUIRE(!pf.define<example::mac_block>(0, mac, block_access::read_only));
    BOOST_REQUIRE(!pf.define<example::vf_config_block>(0, {1, example::vf_flags::none, 1500, 0, 2}));
    auto ring = std::make_shared<function_block_handler>(
        nullptr, [this](vf_index vf, block_id, std::span<const std::byte>) {
          (void)pf.invalidate(vf, example::mac_block::mask());
          return ntstatus::success;
        });
    BOOST_REQUIRE(!pf.define<doorbell_block>(0, 0, block_access::read_write, ring));
    mailbox_options options;
    options.heartbeat = 0ms;  // served from the vfio-user writes alone: no serving loop to keep a heartbeat
    auto at = pf.attach_mailbox(0, space, options);
    BOOST_REQUIRE(at.has_value());
    window = *at;
  }

  [[nodiscard]] std::uint32_t status() {
    std::array<std::byte, 4> raw{};
    BOOST_REQUIRE(space.model().device_read(window + 0x20, raw) == no_error);
    return le::load_u32(raw.data());
  }
};

// Runs the loop until `done`, moving virtual time only when nothing is ready (bounded by turns).
template <class Done>
void drive(boost::asio::io_context& io, const manual_timing& clock, Done done) {
  for (int turns = 0; turns < 20000 && !done(); ++turns) {
    io.restart();
    if (io.poll() == 0) clock.advance(20us);
  }
  BOOST_REQUIRE(done());
}

// vpci's PF serving one VF's space over vfio-user, and a client connected to it (handshake done), in one
// process on virtual time.
struct connected {
  boost::asio::io_context io;
  manual_timing clock;
  pf_side pf{io};
  int fds[2]{-1, -1};
  socket_type server_socket{make_server_socket()};
  bool served = false;
  // Ends serving: the server closes its end of the connection (the device hanging up).
  boost::asio::cancellation_signal stop_serving;
  vfio_user_config_space client;

  explicit connected(bool interrupt = true) : client(io, vfio_user_client_options<>{std::chrono::seconds(1), {}, interrupt}) {
    pf.server.async_serve(std::move(server_socket), boost::asio::bind_cancellation_slot(
                                                  stop_serving.slot(), [this](boost::system::error_code) { served = true; }));
    bool opened = false;
    client.async_open(socket_type(io, boost::asio::local::stream_protocol(), fds[0]), [&](boost::system::error_code ec) {
      BOOST_TEST(!ec);
      opened = true;
    });
    drive(io, clock, [&] { return opened; });
  }
  socket_type make_server_socket() {
    BOOST_REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0);
    return socket_type(io, boost::asio::local::stream_protocol(), fds[1]);
  }
};

std::size_t find_window(vfio_user_config_space& space) {
  std::array<std::byte, 4096> snapshot{};
  boost::system::error_code ec;
  space.read(0, snapshot, ec);
  if (ec) return 0;
  auto window = config::find_mailbox(snapshot);
  return window ? *window : 0;
}

}  // namespace

BOOST_FIXTURE_TEST_CASE(vf_reads_writes_and_is_invalidated_in_one_process, connected) {
  // Discovery over vfio-user.
  std::array<std::byte, 4096> snapshot{};
  bool read_all = false;
  client.async_read(0, snapshot, [&](boost::system::error_code ec, std::size_t) {
    BOOST_TEST(!ec);
    read_all = true;
  });
  drive(io, clock, [&] { return read_all; });
  auto window = config::find_mailbox(snapshot);
  BOOST_REQUIRE(window.has_value());
  BOOST_TEST(*window == pf.window);

  vf_endpoint<vfio_user_config_space, manual_timing> vf(client, *window, vf_mailbox_options{}, clock);
  bool done = false;
  vf.async_read(example::mac_block{}, [&](boost::system::error_code ec, example::mac_address value) {
    BOOST_TEST(!ec);
    BOOST_TEST((value == mac));
    done = true;
  });
  drive(io, clock, [&] { return done; });
  done = false;
  vf.async_write(example::vf_config_block{}, example::vf_config{1, example::vf_flags::trusted, 9000, 7, 4},
                 [&](boost::system::error_code ec, std::size_t) {
                   BOOST_TEST(!ec);
                   done = true;
                 });
  drive(io, clock, [&] { return done; });
  BOOST_TEST(pf.pf.load<example::vf_config_block>(0)->mtu == 9000u);
  // An invalidation the PF raises from inside the VF's write reaches the VF's waiter.
  block_mask delivered{};
  bool woke = false;
  vf.async_wait_invalidate([&](boost::system::error_code ec, block_mask mask) {
    BOOST_TEST(!ec);
    delivered = mask;
    woke = true;
  });
  done = false;
  vf.async_write(doorbell_block{}, 1u, [&](boost::system::error_code ec, std::size_t) {
    BOOST_TEST(!ec);
    done = true;
  });
  drive(io, clock, [&] { return done && woke; });
  BOOST_TEST(delivered.test(example::mac_block::id));
  BOOST_TEST(pf.pf.blocks().counters(0).violations == 0u);
  // DEVICE_RESET is the layout's FLR: a new epoch in the window; the VF resynchronises and goes on.
  const std::uint32_t epoch_before = pf.status() >> 28;
  bool reset = false;
  client.async_reset([&](boost::system::error_code ec) {
    BOOST_TEST(!ec);
    reset = true;
  });
  drive(io, clock, [&] { return reset; });
  const std::uint32_t epoch_after = pf.status() >> 28;
  BOOST_TEST(epoch_after != epoch_before);
  BOOST_TEST(epoch_after != 0u);
  // The first request after the FLR meets the new epoch: its outcome is unknown (peer_restarted); the VF has
  // resynchronised by then and the next one is answered.
  boost::system::error_code first = make_error_code(errc::device_error);
  done = false;
  vf.async_read(example::vf_config_block{}, [&](boost::system::error_code ec, example::vf_config) {
    first = ec;
    done = true;
  });
  drive(io, clock, [&] { return done; });
  BOOST_TEST((first == errc::peer_restarted));
  done = false;
  vf.async_read(example::vf_config_block{}, [&](boost::system::error_code ec, example::vf_config value) {
    BOOST_TEST(!ec, ec.message());
    BOOST_TEST(value.mtu == 9000u);
    done = true;
  });
  drive(io, clock, [&] { return done; });
  vf.close();
  client.close();
  drive(io, clock, [&] { return served; });
}

// The PF's window announces the signal capability over vfio-user (the device side can raise INTx), and the
// PF raises the VF's interrupt through the installed eventfd after its status writes while control.SIGNAL
// is set.
BOOST_AUTO_TEST_CASE(pf_raises_the_vf_interrupt_through_the_eventfd) {
  boost::asio::io_context io;
  pf_side pf(io);
  std::array<std::byte, 4> identity{};
  BOOST_REQUIRE(pf.space.model().device_read(pf.window + 0x0C, identity) == no_error);
  BOOST_TEST((le::load_u32(identity.data()) & (1U << 17)) != 0u);  // capability bit 17: signal
  const int efd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  BOOST_REQUIRE(efd >= 0);
  detail::vfio_user_fd_list fds;
  auto send = [&](const bytes& m) {
    auto h = vu::decode_header(m);
    return pf.server.handle(*h, std::span<const std::byte>(m).subspan(16), fds);
  };
  bytes m(256);
  m.resize(*vu::encode_command(1, vu::command::version, vu::version{0, 1, {}}, m));
  BOOST_REQUIRE(send(m).size() > 16u);
  fds.push(::dup(efd));  // with SET_IRQS only: a VERSION that carries descriptors is refused
  m.resize(256);
  m.resize(*vu::encode_command(
      2, vu::command::device_set_irqs,
      vu::irq_set{20, vu::irq_set_data_eventfd | vu::irq_set_action_trigger, 0, 0, 1, {}}, m));
  BOOST_REQUIRE(send(m).size() == 16u);
  std::uint64_t count = 0;
  (void)!::read(efd, &count, sizeof count);  // whatever attach raised
  // The VF sets control.SIGNAL (a REGION_WRITE of control) and asks for block 0.
  auto write_dword = [&](std::uint16_t id, std::size_t offset, std::uint32_t value) {
    std::array<std::byte, 4> raw{};
    le::store_u32(raw.data(), value);
    bytes w(256);
    w.resize(*vu::encode_command(id, vu::command::region_write, vu::region_access{offset, 7, 4, raw}, w));
    BOOST_REQUIRE(send(w).size() == 32u);
  };
  write_dword(3, pf.window + 0x14, 2);  // control.SIGNAL
  const bytes unmask = [] {
    bytes u(64);
    u.resize(*vu::encode_command(4, vu::command::device_set_irqs,
                                 vu::irq_set{20, vu::irq_set_data_none | vu::irq_set_action_unmask, 0, 0, 1, {}}, u));
    return u;
  }();
  // Whatever the SIGNAL write raised is delivered by the unmask (and masks again: AUTOMASKED); the second
  // unmask finds nothing pending and leaves the line open.
  BOOST_REQUIRE(send(unmask).size() == 16u);
  (void)!::read(efd, &count, sizeof count);
  BOOST_REQUIRE(send(unmask).size() == 16u);
  BOOST_REQUIRE(!pf.server.interrupt_masked());
  write_dword(5, pf.window + 0x18, 0);                                    // request_block: block 0
  write_dword(6, pf.window + 0x1C, 1U | (6U << 16) | (1U << 24));  // sequence 1, 6 bytes, read
  count = 0;
  BOOST_TEST(::read(efd, &count, sizeof count) == static_cast<ssize_t>(sizeof count));
  BOOST_TEST(count == 1u);
  BOOST_TEST((pf.status() & 0xFFFFu) == 1u);  // answered
  ::close(efd);
}

namespace {

// One idle watcher over vfio-user, with or without the interrupt (see the test below).
void idle_watcher(bool interrupt) {
  connected c(interrupt);
  boost::asio::io_context& io = c.io;
  manual_timing& clock = c.clock;
  pf_side& pf = c.pf;
  vfio_user_config_space& client = c.client;
  BOOST_REQUIRE(client.interrupt_installed() == interrupt);
  // The VF's config accesses: each REGION_READ/REGION_WRITE reaches the model as driver-side accesses.
  std::size_t accesses = 0;
  pf.space.model().set_access_observer([&](access_direction, std::size_t, std::size_t) { ++accesses; });
  vf_endpoint<vfio_user_config_space, manual_timing> watcher(client, pf.window, vf_mailbox_options{}, clock);
  bool woke = false;
  block_mask delivered{};
  watcher.async_wait_invalidate([&](boost::system::error_code ec, block_mask mask) {
    BOOST_TEST(!ec);
    delivered = mask;
    woke = true;
  });
  for (int i = 0; i < 200; ++i) {  // the probe and control.SIGNAL, no time passing
    io.restart();
    io.poll();
  }
  BOOST_REQUIRE(watcher.engine().signalled() == interrupt);
  BOOST_REQUIRE(accesses > 0u);
  accesses = 0;
  for (int i = 0; i < 100; ++i) {
    clock.advance(10ms);
    io.restart();
    io.poll();
  }
  BOOST_TEST(!woke);
  BOOST_TEST(accesses == (interrupt ? 0u : 100u));  // the status dword, once per watch interval
  if (interrupt) BOOST_TEST(!pf.server.interrupt_masked());  // every interrupt so far was unmasked again
  BOOST_REQUIRE(!pf.pf.invalidate(0, example::mac_block::mask()));
  for (int i = 0; i < 200 && !woke; ++i) {  // no time passes: only the interrupt can wake it
    io.restart();
    io.poll();
  }
  BOOST_TEST(woke == interrupt);
  if (!interrupt) drive(io, clock, [&] { return woke; });  // the next poll finds it
  BOOST_TEST(delivered.test(example::mac_block::id));
  BOOST_TEST(accesses > 0u);
  watcher.close();
  client.close();
  drive(io, clock, [&] { return c.served; });
}

}  // namespace

// An idle VF over vfio-user waits for the interrupt instead of polling: the PF's window offers the signal,
// the client installed the eventfd, so a watcher makes no config access in a virtual second; an
// invalidation the PF raises wakes it through INTx at once. A client told not to install the interrupt
// makes the VF poll: one status read per 10 ms, 100 in the second, and the invalidation is found by a poll.
BOOST_AUTO_TEST_CASE(an_idle_watcher_waits_for_the_interrupt) {
  for (const bool interrupt : {true, false}) {
    BOOST_TEST_CONTEXT("interrupt " << interrupt) { idle_watcher(interrupt); }
  }
}

// The server hangs up while a VF waits for invalidations over the interrupt. An idle VF makes no access
// there, and the eventfd outlives a crashed server: before, the wait stayed pending for good, failure()
// stayed empty, and a tool had to ask the transport itself (is_open()). The client sees the hang-up on
// its socket (peer_alive(), async_wait_peer_gone), so the endpoint ends at once: the wait completes with
// peer_gone, failure() says it, and the next operation fails with it without waiting.
BOOST_FIXTURE_TEST_CASE(a_vfio_user_server_that_hangs_up_ends_an_idle_endpoint, connected) {
  BOOST_REQUIRE(client.interrupt_installed());
  BOOST_TEST(client.peer_alive());
  // The server runs on this thread: only the asynchronous forms can reach it.
  vf_endpoint<vfio_user_config_space, manual_timing> vf(client, pf.window, vf_mailbox_options{}, clock);
  bool read = false;
  vf.async_read(example::mac_block{}, [&](boost::system::error_code e, example::mac_address value) {
    BOOST_TEST(!e);
    BOOST_TEST((value == mac));
    read = true;
  });
  drive(io, clock, [&] { return read; });
  boost::system::error_code waited = make_error_code(errc::device_error);
  bool woke = false;
  vf.async_wait_invalidate([&](boost::system::error_code e, block_mask) {
    waited = e;
    woke = true;
  });
  io.restart();
  io.poll();
  BOOST_TEST(!woke);
  stop_serving.emit(boost::asio::cancellation_type::terminal);  // the device hangs up
  const std::uint64_t closed_at = clock.now();
  drive(io, clock, [&] { return woke; });
  BOOST_TEST(clock.now() == closed_at);  // no poll interval passed: the hang-up itself woke it
  BOOST_TEST((waited == errc::peer_gone), waited.message());
  BOOST_TEST(!client.peer_alive());
  BOOST_TEST((vf.failure() == errc::peer_gone));
  bool done = false;
  boost::system::error_code read_error;
  vf.async_read(example::vf_config_block{}, [&](boost::system::error_code e, example::vf_config) {
    read_error = e;
    done = true;
  });
  io.restart();
  io.poll();
  BOOST_REQUIRE(done);
  BOOST_TEST((read_error == errc::peer_gone));
  boost::system::error_code ec;
  (void)vf.read(example::vf_config_block{}, ec);  // fails before any access: no server to block on
  BOOST_TEST((ec == errc::peer_gone));
  BOOST_TEST(served);
}

BOOST_AUTO_TEST_CASE(vf_and_pf_in_two_processes) {
  int fds[2];
  BOOST_REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0);
  boost::asio::io_context io;
  pf_side pf(io);
  const pid_t child = fork();
  BOOST_REQUIRE(child >= 0);
  if (child == 0) {
    ::close(fds[1]);
    int result = 90;
    try {
      boost::asio::io_context vf_io;
      vfio_user_config_space space(vf_io);
      boost::system::error_code ec;
      space.open(socket_type(vf_io, boost::asio::local::stream_protocol(), fds[0]), ec);
      const std::size_t window = ec ? 0 : find_window(space);
      result = window == 0 ? 91 : 0;
      if (result == 0) {
        vf_endpoint<vfio_user_config_space> vf(space, window);
        if (vf.read(example::mac_block{}, ec) != mac || ec) result = 92;
        example::vf_config config = vf.read(example::vf_config_block{}, ec);
        if (result == 0 && (ec || config.mtu != 1500)) result = 93;
        config.mtu = 4321;
        if (result == 0 && (vf.write(example::vf_config_block{}, config, ec) != example::vf_config_block::size || ec))
          result = 94;
        if (result == 0 && (vf.write(doorbell_block{}, 1u, ec) != doorbell_block::size || ec)) result = 95;
        if (result == 0 && !vf.poll_invalidations(ec).test(example::mac_block::id)) result = 96;
        if (result == 0 && ec) result = 97;
      }
      space.close();
    } catch (...) {
      result = 99;
    }
    std::_Exit(result);
  }
  ::close(fds[0]);
  socket_type socket(io, boost::asio::local::stream_protocol(), fds[1]);
  boost::system::error_code served = make_error_code(errc::device_error);
  pf.server.async_serve(std::move(socket), [&](boost::system::error_code ec) { served = ec; });
  io.run();  // until the VF process closes its end
  int status = 0;
  BOOST_REQUIRE(waitpid(child, &status, 0) == child);
  BOOST_TEST(WIFEXITED(status));
  BOOST_TEST(WEXITSTATUS(status) == 0);
  BOOST_TEST(!served);
  BOOST_TEST(pf.pf.load<example::vf_config_block>(0)->mtu == 4321u);
  BOOST_TEST(pf.pf.blocks().counters(0).violations == 0u);
}

BOOST_AUTO_TEST_SUITE_END()  // vfio_user_mailbox_test
