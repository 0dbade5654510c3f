// vpci/core.hpp: the freestanding core. No Boost, no exceptions, no RTTI, no heap, no I/O:
// builds with -ffreestanding -fno-exceptions -fno-rtti, for firmware as well as hosts.
#pragma once

#include <vpci/block/block.hpp>
#include <vpci/block/block_buffer.hpp>
#include <vpci/block/endian.hpp>
#include <vpci/block/layout.hpp>
#include <vpci/config/access.hpp>
#include <vpci/config/capabilities.hpp>
#include <vpci/config/header.hpp>
#include <vpci/config/find_mailbox.hpp>
#include <vpci/config/placement.hpp>
#include <vpci/config/sriov.hpp>
#include <vpci/config/vsec.hpp>
#include <vpci/protocol/block_id.hpp>
#include <vpci/protocol/constants.hpp>
#include <vpci/protocol/errc.hpp>
#include <vpci/protocol/ntstatus.hpp>
#include <vpci/protocol/result.hpp>
#include <vpci/protocol/status_mapping.hpp>
#include <vpci/wire/hyperv.hpp>
#include <vpci/wire/windows.hpp>
#include <vpci/wire/framing.hpp>
#include <vpci/wire/vfio_user.hpp>
#include <vpci/engine/vf_messages.hpp>
#include <vpci/engine/pf_messages.hpp>
#include <vpci/engine/pf_blocks.hpp>
#include <vpci/engine/pf_mailbox.hpp>
#include <vpci/engine/registers.hpp>
#include <vpci/engine/vf_mailbox.hpp>
#include <vpci/engine/poll_schedule.hpp>
#include <vpci/wire/mailbox.hpp>
