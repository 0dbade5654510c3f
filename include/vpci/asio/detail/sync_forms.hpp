// The synchronous convenience forms both VF endpoints offer (throwing overloads, typed blocks), built on
// the endpoint's own read_block/write_block(id, span, error_code&) primitives.
#pragma once

#include <array>
#include <cstddef>
#include <span>

#include <boost/system/error_code.hpp>
#include <boost/system/system_error.hpp>

#include <vpci/block/block.hpp>
#include <vpci/error.hpp>
#include <vpci/protocol/block_id.hpp>

namespace vpci::detail {

template <class Endpoint>
class vf_sync_forms {
 public:
  // Throws boost::system::system_error where the error_code overload would report an error.
  std::size_t read_block(block_id id, std::span<std::byte> buffer) {
    boost::system::error_code ec;
    const std::size_t n = self().read_block(id, buffer, ec);
    throw_if(ec, "vpci: read_block");
    return n;
  }
  std::size_t write_block(block_id id, std::span<const std::byte> data) {
    boost::system::error_code ec;
    const std::size_t n = self().write_block(id, data, ec);
    throw_if(ec, "vpci: write_block");
    return n;
  }

  // Typed read: the block's bytes decoded (detail::decode_received, the rule async_read follows too). On
  // failure ec is set and the value is a value-initialized T: vpci::errc::block_size_mismatch when the read
  // returned another byte count than Block::size (binding 1: a PF's block shorter than the descriptor),
  // bad_data when the bytes do not decode, or the read's own error (a block longer than the descriptor:
  // the PF refuses the read, buffer_too_small). Binding 2 cannot tell a shorter block: the PF pads it with
  // zeros to the length asked, so it reads as Block::size bytes, zero past the PF's block
  // (docs/hyperv-binding.md rule 4, as Linux's hv_read_config_block).
  // [[nodiscard]]: a read whose value is thrown away is a mistake (the asynchronous forms warn the same way
  // through Asio's deferred operations).
  template <class Block>
    requires block_descriptor<Block>
  [[nodiscard]] typename Block::value_type read(Block, boost::system::error_code& ec) {
    std::array<std::byte, Block::size> bytes{};
    const std::size_t n = self().read_block(Block::id, bytes, ec);
    if (ec) return {};
    auto decoded = decode_received<Block>(std::span<const std::byte>(bytes).first(n));
    if (!decoded) {
      ec = make_error_code(decoded.error());
      return {};
    }
    return *decoded;
  }
  template <class Block>
    requires block_descriptor<Block>
  [[nodiscard]] typename Block::value_type read(Block block) {
    boost::system::error_code ec;
    auto value = read(block, ec);
    throw_if(ec, "vpci: read");
    return value;
  }

  // Typed write: the value encoded field by field, then written whole.
  template <class Block>
    requires block_descriptor<Block>
  std::size_t write(Block, const typename Block::value_type& value, boost::system::error_code& ec) {
    const auto bytes = Block::to_buffer(value);
    return self().write_block(Block::id, bytes.span(), ec);
  }
  template <class Block>
    requires block_descriptor<Block>
  std::size_t write(Block block, const typename Block::value_type& value) {
    boost::system::error_code ec;
    const std::size_t n = write(block, value, ec);
    throw_if(ec, "vpci: write");
    return n;
  }

 private:
  Endpoint& self() noexcept { return static_cast<Endpoint&>(*this); }
  static void throw_if(const boost::system::error_code& ec, const char* what) {
    if (ec) throw boost::system::system_error(ec, what);
  }
};

}  // namespace vpci::detail
