// The README's PF handler, with a VF around it so the program runs.
#include <cstdio>
#include <memory>
#include <boost/asio/io_context.hpp>
#include <vpci/vpci.hpp>

#include "../blocks.hpp"

// readme-begin
// Computes block 1 for every VF on demand and validates what a VF writes to it.
class config_handler final : public vpci::engine::block_handler {
 public:
  vpci::ntstatus on_read(vpci::vf_index vf, vpci::block_id, std::span<std::byte> out, std::size_t& bytes) override {
    if (vf >= mtu_.size()) return vpci::ntstatus::invalid_parameter;  // a VF it keeps no MTU for
    const example::vf_config config{1, example::vf_flags::link_up, mtu_[vf], 0, 4};
    bytes = example::vf_config_block::size;
    return example::vf_config_block::encode(config, out) == vpci::no_error ? vpci::ntstatus::success
                                                                          : vpci::ntstatus::buffer_too_small;
  }
  vpci::ntstatus on_write(vpci::vf_index vf, vpci::block_id, std::span<const std::byte> data) override {
    auto config = example::vf_config_block::decode(data);  // exactly 11 bytes, checked
    if (vf >= mtu_.size() || !config || config->mtu < 68 || config->mtu > 9216) return vpci::ntstatus::invalid_parameter;
    mtu_[vf] = config->mtu;
    return vpci::ntstatus::success;
  }
 private:
  std::array<std::uint32_t, 4> mtu_{1500, 1500, 1500, 1500};
};
// readme-end

int main() {
  boost::asio::io_context io;
  vpci::memory_config_space space(io, 4096);
  vpci::pf_endpoint<4> pf;
  auto handler = std::make_shared<config_handler>();  // the PF keeps it as long as the block uses it
  (void)pf.register_vf(2, 0x0103);
  (void)pf.define<example::vf_config_block>(2, {}, vpci::block_access::read_write, handler);
  vpci::vf_endpoint vf(space, *pf.attach_mailbox(2, space));
  example::vf_config config = vf.read(example::vf_config_block{});
  config.mtu = 100000;
  boost::system::error_code refused;
  vf.write(example::vf_config_block{}, config, refused);
  config.mtu = 4000;
  vf.write(example::vf_config_block{}, config);
  const auto mtu = vf.read(example::vf_config_block{}).mtu;
  std::printf("refused: %s; MTU now %u\n", refused.message().c_str(), mtu);
  return refused == vpci::errc::invalid_argument && mtu == 4000 ? 0 : 1;
}
