// How the endpoints wait for the other side of a transport: transports with a doorbell (shared memory)
// wake a waiting endpoint as soon as the peer wrote; the others are polled at the engine's interval.
#pragma once

#include <chrono>
#include <cstdint>
#include <type_traits>
#include <utility>

#include <boost/system/error_code.hpp>

#include <vpci/transport/memory_config_space.hpp>
#include <vpci/transport/shm_config_space.hpp>

namespace vpci {

// Transports whose synchronous accesses never block (memory, shared memory): the endpoints perform
// their register accesses inline instead of through their asynchronous operations.
template <class Transport>
struct is_nonblocking_transport : std::false_type {};
template <class Clock, class WaitTraits>
struct is_nonblocking_transport<basic_memory_config_space<Clock, WaitTraits>> : std::true_type {};
template <>
struct is_nonblocking_transport<shm_config_space> : std::true_type {};

// No doorbell: the primary template says so.
template <class Transport>
struct transport_doorbell {
  static constexpr bool available = false;
};

// shm_config_space: the driver (VF) waits on to_driver, the device (PF) on to_device.
template <>
struct transport_doorbell<shm_config_space> {
  static constexpr bool available = true;
  static shm_doorbell incoming(const shm_config_space& space) noexcept {
    return space.role() == shm_role::driver ? shm_doorbell::to_driver : shm_doorbell::to_device;
  }
  static std::uint32_t sequence(const shm_config_space& space) noexcept {
    return space.doorbell_sequence(incoming(space));
  }
  // Blocks until the peer rang after `seen` or `timeout` passed.
  static void wait(const shm_config_space& space, std::uint32_t seen, std::chrono::nanoseconds timeout) {
    boost::system::error_code ignored;
    (void)space.wait_for_doorbell(incoming(space), seen, timeout, ignored);
  }
  template <class Handler>
  static void async_wait(shm_config_space& space, std::uint32_t seen, Handler&& handler) {
    space.async_wait_doorbell(incoming(space), seen, std::forward<Handler>(handler));
  }
};

}  // namespace vpci
