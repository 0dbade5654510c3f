// examples/shm_mailbox_driver.hpp: how a tool's VF opens the mailbox in a shared-memory config space
// (vpci-perf --shm with --role vf or both, vpci-conformance --shm and --shm2, vpci-demo's VF process). One
// mailbox serves one VF: a second one driving it would overwrite the first one's requests in the window's
// registers, and each would take answers meant for the other. So the VF opens the space as its only
// read-write driver (vpci::shm_sharing::exclusive), which also keeps any other driver out while it runs,
// and a space another driver is attached to is refused with a message that names the mailbox.
#pragma once

#include <stdexcept>
#include <string>

#include <boost/asio/any_io_executor.hpp>
#include <boost/system/system_error.hpp>

#include <vpci/error.hpp>
#include <vpci/transport/shm_config_space.hpp>

#include "quoted_text.hpp"

namespace vpci::tools {

// The driver-role view of shared-memory config space `name`, this process its only read-write driver.
// Throws std::runtime_error naming the mailbox when another read-write driver is attached, else as
// vpci::shm_config_space::open() does.
inline vpci::shm_config_space open_vf_mailbox_space(const boost::asio::any_io_executor& executor,
                                                    const std::string& name) {
  try {
    return vpci::shm_config_space::open(executor, name, vpci::shm_role::driver, vpci::shm_access::read_write,
                                        vpci::shm_sharing::exclusive);
  } catch (const boost::system::system_error& e) {
    if (e.code() == vpci::errc::in_use)
      throw std::runtime_error("another VF is attached to mailbox " + quoted_text(name) + " (one mailbox serves one VF at a time)");
    throw;
  }
}

}  // namespace vpci::tools
