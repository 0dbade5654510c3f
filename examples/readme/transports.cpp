// The README's transport examples, each a function; main runs them.
#include <array>
#include <cstdio>
#include <filesystem>
#include <string>
#include <unistd.h>
#include <boost/asio/io_context.hpp>
#include <vpci/vpci.hpp>

// readme-begin
// In-process, with a device's register semantics: read-only bits, RW1C bits, a doorbell hook.
void memory_example(boost::asio::io_context& io) {
  vpci::memory_config_space space(io, 4096);
  (void)space.set_register_kind(0x06, 2, vpci::register_kind::write_one_to_clear);  // status
  space.set_write_hook([](std::size_t offset, std::size_t length) {
    std::printf("device saw a write of %zu bytes at 0x%zx\n", length, offset);
  });
  boost::system::error_code ec;
  space.write(0x04, std::array<std::byte, 2>{std::byte{0x06}, std::byte{0x00}}, ec);
}

// A real device through sysfs: read-only unless write access is asked for explicitly.
void sysfs_example(boost::asio::io_context& io, const std::string& address /* "0000:00:1f.0" */) {
  vpci::sysfs_config_space device(io.get_executor());
  boost::system::error_code ec;
  device.open_device(address, vpci::access_mode::read_only, ec);
  std::array<std::byte, 4> id{};
  if (!ec) device.read(0, id, ec);
  std::printf("%s: %s, vendor %02x%02x\n", address.c_str(), ec ? ec.message().c_str() : "ok",
              static_cast<unsigned>(id[1]), static_cast<unsigned>(id[0]));
}

// The config accesses a driver makes, counted on any transport (a VF endpoint takes the wrapper as it
// takes the transport: vpci::vf_endpoint vf(counted, window)).
void counting_example(vpci::config_space_transport auto& transport) {
  vpci::access_counting_transport<decltype(transport)> counted(transport);
  std::array<std::byte, 7> bytes{};
  boost::system::error_code ec;
  counted.read(0x01, bytes, ec);  // a byte at 0x01, a word at 0x02, a dword at 0x04
  std::printf("%s: %llu config reads\n", ec ? ec.message().c_str() : "ok",
              static_cast<unsigned long long>(counted.counts().reads));
}

// Shared memory between a PF process (device role) and a VF process (driver role), futex doorbells.
void shm_example(boost::asio::io_context& io) {
  const std::string name = "/vpci-readme-" + std::to_string(::getpid());
  auto pf_side = vpci::shm_config_space::create(io.get_executor(), name, 4096);
  auto vf_side = vpci::shm_config_space::open(io.get_executor(), name, vpci::shm_role::driver);
  const std::uint32_t seen = pf_side.doorbell_sequence(vpci::shm_doorbell::to_device);
  boost::system::error_code ec;
  vf_side.write(0x100, std::array<std::byte, 4>{std::byte{1}}, ec);  // rings to_device
  pf_side.wait_for_doorbell(vpci::shm_doorbell::to_device, seen, std::chrono::seconds(1), ec);
  std::printf("PF woke: %s\n", ec ? ec.message().c_str() : "the VF wrote");
}
// readme-end

int main() {
  boost::asio::io_context io;
  memory_example(io);
  shm_example(io);
  vpci::memory_config_space space(io, 256);
  counting_example(space);
  for (const auto& entry : std::filesystem::directory_iterator("/sys/bus/pci/devices")) {
    sysfs_example(io, entry.path().filename().string());
    vpci::sysfs_config_space device(io.get_executor());
    boost::system::error_code ec;
    device.open_device(entry.path().filename().string(), vpci::access_mode::read_only, ec);
    if (!ec) counting_example(device);
    break;
  }
}
