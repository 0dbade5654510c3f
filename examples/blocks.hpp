// The block set the examples share: what an IHV would write once in a header both drivers include.
#pragma once

// readme-begin
#include <array>
#include <cstdint>

#include <vpci/core.hpp>

namespace example {

// Block 0: the VF's permanent MAC address, six bytes.
using mac_address = std::array<std::uint8_t, 6>;
using mac_block = vpci::block<0, mac_address>;

// Block 1: VF configuration, versioned, with feature flags.
enum class vf_flags : std::uint16_t { none = 0, trusted = 1, spoof_check = 2, link_up = 4 };
struct vf_config {
  std::uint16_t version;
  vf_flags flags;
  std::uint32_t mtu;
  std::uint16_t vlan;
  std::uint8_t queue_pairs;
  friend constexpr auto vpci_fields(vpci::type_tag<vf_config>) {
    return vpci::fields(&vf_config::version, &vf_config::flags, &vf_config::mtu, &vf_config::vlan,
                        &vf_config::queue_pairs);
  }
};
using vf_config_block = vpci::block<1, vf_config>;

// Block 2: a 128-byte statistics frame, like mlx5's {sequence, offset, reserved, 120 data bytes}.
struct stats_frame {
  std::uint16_t sequence;
  std::uint16_t offset;
  std::uint32_t reserved;
  std::array<std::uint8_t, 120> data;
  friend constexpr auto vpci_fields(vpci::type_tag<stats_frame>) {
    return vpci::fields(&stats_frame::sequence, &stats_frame::offset, &stats_frame::reserved, &stats_frame::data);
  }
};
using stats_block = vpci::block<2, stats_frame>;

static_assert(mac_block::size == 6);
static_assert(vf_config_block::size == 11);
static_assert(stats_block::size == 128);

}  // namespace example
// readme-end
