// The README's porting snippets (Linux and Windows VF driver shapes), with a PF and a thread running the
// endpoint's io_context around them so the program runs: both facades block their caller, so the driver
// code runs on the main thread while the io_context runs on another.
#include <cstdint>
#include <cstdio>
#include <thread>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <vpci/asio/ioctl_device.hpp>
#include <vpci/asio/linux_block_ops.hpp>
#include <vpci/vpci.hpp>

#include "../blocks.hpp"

// readme-begin
using vf_type = vpci::vf_endpoint<vpci::memory_config_space>;  // or a vf_message_endpoint<Stream>

// Linux (mlx5 calling pci-hyperv-intf.c): 0 or a negative errno; the calls sleep like Linux's.
void on_invalidate(void* context, std::uint64_t block_mask) {  // Linux's block_invalidate callback
  std::printf("%s: blocks %#llx changed\n", static_cast<const char*>(context),
              static_cast<unsigned long long>(block_mask));
}
int linux_style(vf_type& vf, unsigned int block_id) {
  char context[] = "mlx5";  // handed back to the callback: declared first, so it outlives dev's registration
  vpci::linux_block_ops dev(vf);
  unsigned char buf[vpci::linux_block_ops<vf_type>::block_size_max];  // HV_CONFIG_BLOCK_SIZE_MAX (128)
  unsigned int bytes_returned = 0;
  int rc = hyperv_read_cfg_blk(&dev, buf, sizeof buf, block_id, &bytes_returned);
  if (rc == 0) rc = hyperv_reg_block_invalidate(&dev, context, on_invalidate);
  std::printf("Linux: rc %d, %u bytes of block %u\n", rc, bytes_returned, block_id);
  return rc;
}

// Windows (a VF driver sending vpci.h's IOCTLs): STATUS_PENDING, then the completion.
struct read_block_input {  // VPCI_READ_BLOCK_INPUT as vpci.h lays it out
  std::uint32_t BlockId;
  std::uint32_t BytesRequested;
};
vpci::ntstatus windows_style(vf_type& vf, std::uint32_t block_id) {
  vpci::ioctl_device device(vf);
  std::uint8_t buffer[11];  // the block's size
  const read_block_input input{block_id, sizeof buffer};
  vpci::io_status_block iosb;
  vpci::io_event event;  // a notification KEVENT
  vpci::ntstatus status =
      device.device_io_control(vpci::ioctl::read_block, &input, sizeof input, buffer, sizeof buffer, iosb, event);
  if (status == vpci::ntstatus::pending) {
    event.wait();
    status = iosb.Status;
  }
  std::printf("Windows: status %#x, %zu bytes\n", static_cast<unsigned>(status), static_cast<std::size_t>(iosb.Information));
  return status;
}
// readme-end

int main() {
  boost::asio::io_context io;
  auto work = boost::asio::make_work_guard(io);
  vpci::memory_config_space space(io, 4096);
  vpci::pf_endpoint<2> pf;
  (void)pf.register_vf(0, 0x0101);
  (void)pf.define<example::vf_config_block>(0, {1, example::vf_flags::link_up, 1500, 0, 4});
  vf_type vf(space, *pf.attach_mailbox(0, space));
  std::thread runner([&] { io.run(); });
  const int rc = linux_style(vf, example::vf_config_block::id_value);
  const vpci::ntstatus status = windows_style(vf, example::vf_config_block::id_value);
  work.reset();
  boost::asio::post(io, [&] { vf.close(); });
  runner.join();
  return rc == 0 && status == vpci::ntstatus::success ? 0 : 1;
}
