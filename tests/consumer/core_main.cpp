// A downstream program: uses vpci the way a firmware or driver team would, and checks the bytes.
#include <cstdio>
#include <vpci/core.hpp>

int main() {
  std::array<std::byte, 16> out{};
  const vpci::hyperv::read_request request{vpci::block_id{3}, {2, 1}, 16};
  auto written = vpci::hyperv::encode(request, out);
  if (!written || *written != 16 || out[0] != std::byte{0x09} || out[8] != std::byte{0x22}) {
    std::puts("consumer: unexpected encoding");
    return 1;
  }
  std::printf("consumer: vpci %s, read request encoded to %zu bytes\n", VPCI_CONSUMER_HOW, *written);
  return 0;
}
