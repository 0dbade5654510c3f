// vpci::config_space_transport: one function's PCI configuration space, reachable synchronously and
// asynchronously. Every backend (memory, sysfs, shared memory) models it; endpoints take any model.
//
// Rules every model follows:
// - size() is 256 (conventional) or 4096 (PCIe extended).
// - read/write check bounds with config::check_access: offset > size or length > size - offset gives
//   vpci::errc::out_of_range, zero length gives vpci::errc::invalid_argument; nothing is transferred then.
// - Transfers are split into naturally aligned 1/2/4-byte accesses (config::for_each_access); each
//   backend documents which widths are single (atomic) accesses.
// - read/write return the bytes transferred (0 on error) and set the error_code. An error after the
//   checks above can come part-way: a read may have filled part of `out` (its bytes are then unspecified)
//   and a write may have reached part of the space (what it wrote stays written). A backend that splits
//   transfers (sysfs, vfio-user) documents where.
// - async_read/async_write complete with void(boost::system::error_code, std::size_t), never inline,
//   for any Asio completion token.
#pragma once

#include <vpci/protocol/cxx20.hpp>

#include <concepts>
#include <cstddef>
#include <span>

#include <boost/asio/deferred.hpp>
#include <boost/system/error_code.hpp>

namespace vpci {

template <class T>
concept config_space_transport =
    requires(T& t, std::size_t offset, std::span<std::byte> out, std::span<const std::byte> in,
             boost::system::error_code& ec) {
      typename T::executor_type;
      { t.get_executor() } -> std::convertible_to<typename T::executor_type>;
      { t.size() } -> std::convertible_to<std::size_t>;
      { t.read(offset, out, ec) } -> std::same_as<std::size_t>;
      { t.write(offset, in, ec) } -> std::same_as<std::size_t>;
      t.async_read(offset, out, boost::asio::deferred);
      t.async_write(offset, in, boost::asio::deferred);
    };

}  // namespace vpci
