// 256 VF endpoints against one PF on one thread over binding 1 (case 14 of issue 8), end to end: the VF
// side is vpci::vf_endpoint. tests/pf_mailbox_serve_test.cpp has the same with scripted VFs.
#include <boost/test/unit_test.hpp>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <vpci/asio/pf_endpoint.hpp>
#include <vpci/asio/vf_endpoint.hpp>
#include <vpci/block/endian.hpp>
#include <vpci/transport/memory_config_space.hpp>

BOOST_AUTO_TEST_SUITE(pf_mailbox_many_vfs_test)

using namespace vpci;
using namespace std::chrono_literals;

namespace {

block_mask bit(std::uint32_t id) {
  block_mask mask;
  (void)mask.set(block_id{id});
  return mask;
}

// Records a completion: how many times, with what.
struct serve_result {
  int calls = 0;
  boost::system::error_code ec;
  auto handler() {
    return [this](boost::system::error_code e) {
      ++calls;
      ec = e;
    };
  }
};

}  // namespace

// 256 VFs, each in its own config space, served by one PF on one thread; each VF's write makes the PF's
// handler invalidate that VF's block 2 from inside on_write.
BOOST_AUTO_TEST_CASE(case_14_256_vfs_over_memory_served_on_one_thread) {
  constexpr std::size_t count = 256;
  boost::asio::io_context io;
  std::vector<std::unique_ptr<memory_config_space>> spaces;  // outlive the endpoint
  auto pf = std::make_unique<pf_endpoint<count>>();
  std::vector<std::unique_ptr<vf_endpoint<memory_config_space>>> vfs;
  std::vector<serve_result> served(count);
  auto handler = std::make_shared<function_block_handler>(
      [](vf_index vf, block_id, std::span<std::byte> out, std::size_t& bytes) {
        le::store_u32(out.data(), 0xA0000000u + vf);
        bytes = 4;
        return ntstatus::success;
      },
      [&pf](vf_index vf, block_id, std::span<const std::byte> data) {
        (void)pf->blocks().store(vf, block_id{2}, data);
        return pf->invalidate(vf, bit(2)) ? ntstatus::unsuccessful : ntstatus::success;
      });
  for (std::size_t i = 0; i < count; ++i) {
    const auto vf = static_cast<vf_index>(i);
    BOOST_REQUIRE(!pf->register_vf(vf, static_cast<std::uint16_t>(0x100 + i)));
    BOOST_REQUIRE(!pf->define_block(vf, block_id{1}, std::array<std::byte, 4>{}, block_access::read_write, handler));
    BOOST_REQUIRE(!pf->define_block(vf, block_id{2}, std::array<std::byte, 4>{}, block_access::read_only));
    spaces.push_back(std::make_unique<memory_config_space>(io, 4096));
    auto placed = pf->attach_mailbox(vf, *spaces.back());
    BOOST_REQUIRE(placed.has_value());
    vfs.push_back(std::make_unique<vf_endpoint<memory_config_space>>(*spaces.back(), *placed));
    pf->async_serve(vf, served[i].handler());
  }
  handler.reset();  // the PF owns it now
  using word_block = block<1, std::uint32_t>;
  using echo_block = block<2, std::uint32_t>;
  std::vector<std::uint32_t> read_back(count), echoed(count);
  std::vector<std::uint64_t> invalidated(count);
  std::size_t finished = 0;
  for (std::size_t i = 0; i < count; ++i) {
    boost::asio::co_spawn(
        io,
        [&, i]() -> boost::asio::awaitable<void> {
          auto& vf = *vfs[i];
          read_back[i] = co_await vf.async_read(word_block{}, boost::asio::use_awaitable);
          co_await vf.async_write(word_block{}, 0xB0000000u + static_cast<std::uint32_t>(i), boost::asio::use_awaitable);
          invalidated[i] = (co_await vf.async_wait_invalidate(boost::asio::use_awaitable)).bits();
          echoed[i] = co_await vf.async_read(echo_block{}, boost::asio::use_awaitable);
          // The last VF done retires every mailbox: serving completes and io.run() returns.
          if (++finished == count)
            for (std::size_t v = 0; v < count; ++v) BOOST_TEST(!pf->detach_mailbox(static_cast<vf_index>(v)));
        },
        [](std::exception_ptr e) { BOOST_TEST(!e); });
  }
  // Bounded: a lost invalidation fails the test instead of hanging it (a passing run returns as soon as
  // the last serving operation completed).
  for (int guard = 0; guard < 100 && !io.stopped(); ++guard) io.run_for(100ms);
  BOOST_REQUIRE(finished == count);
  for (std::size_t i = 0; i < count; ++i) {
    BOOST_TEST_CONTEXT("vf " << i) {
      BOOST_TEST(read_back[i] == 0xA0000000u + i);
      BOOST_TEST(invalidated[i] == 0b100u);
      BOOST_TEST(echoed[i] == 0xB0000000u + i);  // its own write, nobody else's
      BOOST_TEST(served[i].calls == 1);
      BOOST_TEST(!served[i].ec);
      BOOST_TEST((pf->blocks().quarantined(static_cast<vf_index>(i)) == quarantine_reason::none));
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()  // pf_mailbox_many_vfs_test
