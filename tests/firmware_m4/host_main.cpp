// The host side of the firmware_m4 ctest: the same replay (replay.hpp) as the Cortex-M4 image, its lines
// written to stdout. run_firmware_test.sh compares this output, the image's under qemu-system-arm and the
// committed expected_output.txt byte for byte.
#include <cstdio>

#include "replay.hpp"

namespace {
struct stdout_sink {
  void operator()(const char* line, std::size_t length) const noexcept { std::fwrite(line, 1, length, stdout); }
};
}  // namespace

int main() {
  stdout_sink sink;
  const int status = vpci_firmware::replay(sink);
  return std::fflush(stdout) == 0 ? status : 1;
}
