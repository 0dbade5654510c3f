// vpci/vpci.hpp: the hosted umbrella: the freestanding core plus the error model, the config-space
// transports (vfio-user included) and the Asio endpoints of both bindings. The porting facades (asio/linux_block_ops.hpp,
// asio/ioctl_device.hpp, asio/ndis_pf.hpp) are left out on purpose: they define Linux- and Windows-shaped
// names (read_cfg_blk, device_io_control, NDIS_* structures) that code being ported may already define,
// so a port includes the one it needs.
#pragma once

#include <vpci/core.hpp>

#include <vpci/asio/interface_standard.hpp>
#include <vpci/asio/pf_endpoint.hpp>
#include <vpci/asio/vfio_user_device_server.hpp>
#include <vpci/asio/vf_endpoint.hpp>
#include <vpci/asio/vf_message_endpoint.hpp>
#include <vpci/error.hpp>
#include <vpci/transport/access_counting.hpp>
#include <vpci/transport/closed_by_peer.hpp>
#include <vpci/transport/concept.hpp>
#include <vpci/transport/fault_injecting.hpp>
#include <vpci/transport/memory_config_space.hpp>
#include <vpci/transport/shm_config_space.hpp>
#include <vpci/transport/sysfs_config_space.hpp>
#include <vpci/transport/test_stream.hpp>
#include <vpci/transport/vfio_user_config_space.hpp>
