// Binding 1 across threads over shm_config_space: a PF thread serves the window on its doorbell
// (pf_endpoint::async_serve on its own io_context) while it keeps rewriting a block; a VF thread reads
// it. No read may ever return mixed bytes.
#include <boost/test/unit_test.hpp>

#include <array>
#include <atomic>
#include <functional>
#include <thread>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <vpci/asio/pf_endpoint.hpp>
#include <vpci/asio/vf_endpoint.hpp>
#include <vpci/transport/shm_config_space.hpp>

BOOST_AUTO_TEST_SUITE(mailbox_shm_test)

using namespace vpci;
using namespace std::chrono_literals;

namespace {

constexpr block_id stream_block{5};

struct shm_fixture {
  boost::asio::io_context pf_io;
  boost::asio::io_context vf_io;
  shm_config_space device = shm_config_space::create_anonymous(pf_io.get_executor(), 4096);
  shm_config_space driver = device.view(vf_io.get_executor(), shm_role::driver);
  pf_endpoint<2> pf;
  std::size_t window = 0;

  shm_fixture() {
    BOOST_REQUIRE(!pf.register_vf(0, 0x0101));
    std::array<std::byte, 128> zeros{};
    BOOST_REQUIRE(!pf.define_block(0, stream_block, zeros));
    auto placed = pf.attach_mailbox(0, device);
    BOOST_REQUIRE(placed.has_value());
    window = *placed;
  }
};

}  // namespace

// Runs the PF on its own thread: async_serve on `pf_io`, plus `between` run between any two of its
// handlers until stop() (then the mailbox is detached, serving completes and the thread ends).
class pf_thread {
 public:
  template <class Between>
  pf_thread(shm_fixture& f, Between between) : f_(f) {
    f_.pf.async_serve(0, [this](boost::system::error_code ec) { served_ = ec; });
    thread_ = std::thread([this, between]() mutable {
      std::function<void()> again = [&] {
        if (stopping_.load()) {
          (void)f_.pf.detach_mailbox(0);
          return;
        }
        between();
        boost::asio::post(f_.pf_io, again);
      };
      boost::asio::post(f_.pf_io, again);
      f_.pf_io.run();
    });
  }
  // Returns how serving ended.
  boost::system::error_code stop() {
    stopping_.store(true);
    thread_.join();
    return served_;
  }

 private:
  shm_fixture& f_;
  std::atomic<bool> stopping_{false};
  boost::system::error_code served_{errc::timeout};
  std::thread thread_;
};

BOOST_AUTO_TEST_CASE(concurrent_writer_and_reader_never_see_a_torn_block) {
  shm_fixture f;
  std::atomic<std::uint64_t> rewrites{0};
  std::array<std::byte, 128> pattern{};
  std::uint8_t value = 0;
  pf_thread pf(f, [&] {
    // Rewrite the whole block with one byte value, and tell the VF, between services.
    ++value;
    pattern.fill(std::byte{value});
    (void)f.pf.blocks().store(0, stream_block, pattern);
    (void)f.pf.invalidate(0, block_mask{std::uint64_t{1} << stream_block.value()});
    rewrites.fetch_add(1);
  });

  vf_mailbox_options options;
  options.default_timeout = 5s;
  vf_endpoint<shm_config_space> vf(f.driver, f.window, options);
  std::size_t reads = 0;
  std::size_t torn = 0;
  std::size_t invalidations_seen = 0;
  for (int i = 0; i < 3000; ++i) {
    std::array<std::byte, 128> block{};
    boost::system::error_code ec;
    const std::size_t n = vf.read_block(stream_block, block, ec);
    BOOST_REQUIRE_MESSAGE(!ec, ec.message());
    BOOST_REQUIRE(n == 128u);
    ++reads;
    for (std::byte b : block)
      if (b != block[0]) {
        ++torn;
        break;
      }
    if (i % 100 == 0) {
      boost::system::error_code poll_error;
      if (!vf.poll_invalidations(poll_error).empty()) ++invalidations_seen;
      BOOST_REQUIRE(!poll_error);
    }
  }
  BOOST_TEST(!pf.stop());  // detached: serving ended with success
  BOOST_TEST(reads == 3000u);
  BOOST_TEST(torn == 0u);
  BOOST_TEST(rewrites.load() > 0u);
  BOOST_TEST(invalidations_seen > 0u);
  BOOST_TEST_MESSAGE("reads " << reads << ", PF rewrites " << rewrites.load() << ", VF torn-read retries "
                              << vf.engine().torn_retries());
}

BOOST_AUTO_TEST_CASE(async_vf_on_its_own_io_context_is_woken_by_the_doorbell) {
  shm_fixture f;
  // The PF thread does nothing but serve: its io_context sleeps on the doorbell between requests.
  f.pf.async_serve(0, [](boost::system::error_code) {});
  std::thread pf_thread([&] { f.pf_io.run(); });
  vf_endpoint<shm_config_space> vf(f.driver, f.window);
  std::size_t completed = 0;
  boost::asio::co_spawn(
      f.vf_io,
      [&]() -> boost::asio::awaitable<void> {
        std::array<std::byte, 128> block{};
        for (int i = 0; i < 200; ++i) {
          const std::size_t n = co_await vf.async_read_block(stream_block, block, boost::asio::use_awaitable);
          if (n == 128) ++completed;
        }
      },
      boost::asio::detached);
  f.vf_io.run();
  boost::asio::post(f.pf_io, [&] { (void)f.pf.detach_mailbox(0); });
  pf_thread.join();
  BOOST_TEST(completed == 200u);
}

BOOST_AUTO_TEST_SUITE_END()  // mailbox_shm_test
