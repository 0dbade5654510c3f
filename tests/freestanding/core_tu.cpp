// Compiled with exactly -std=c++20 -ffreestanding -fno-exceptions -fno-rtti (host and Cortex-M4):
// proves the core builds for firmware, and exercises enough of it that the object file shows what
// it would need from a runtime (check_freestanding.sh rejects heap, exception and I/O symbols).
#include <vpci/core.hpp>

#if defined(BOOST_VERSION) || defined(_GLIBCXX_STRING) || defined(_GLIBCXX_VECTOR) || defined(_GLIBCXX_MEMORY) || \
    defined(_GLIBCXX_IOSTREAM) || defined(_GLIBCXX_SYSTEM_ERROR) || defined(_GLIBCXX_FUNCTIONAL)
#error "vpci/core.hpp pulled in a hosted header (Boost, <string>, <vector>, <memory>, <iostream>, <system_error> or <functional>)"
#endif

namespace {
struct vf_config {
  std::uint16_t version;
  std::uint16_t flags;
  std::uint32_t mtu;
  friend constexpr auto vpci_fields(vpci::type_tag<vf_config>) {
    return vpci::fields(&vf_config::version, &vf_config::flags, &vf_config::mtu);
  }
};
using vf_config_block = vpci::block<1, vf_config>;
static_assert(vf_config_block::size == 8);
}  // namespace

extern "C" int vpci_freestanding_probe(const std::byte* in, unsigned length, std::byte* out) {
  const std::span<const std::byte> bytes{in, length};
  int score = 0;
  if (auto r = vpci::hyperv::decode_read_response(bytes)) score += static_cast<int>(r->data.size());
  if (auto w = vpci::hyperv::decode_write_request(bytes)) score += static_cast<int>(w->data.size());
  if (auto i = vpci::hyperv::decode_invalidate(bytes)) score += i->mask.count();
  if (auto c = vf_config_block::decode(bytes.first(length < 8 ? length : 8))) score += c->version;
  vpci::hyperv::read_request request{vpci::block_id{3}, {2, 1}, 16};
  if (auto n = vpci::hyperv::encode(request, {out, 16})) score += static_cast<int>(*n);
  vpci::block_buffer<16> buffer;
  if (buffer.assign(bytes.first(length < 16 ? length : 16)) == vpci::no_error) score += static_cast<int>(buffer.size());
  return score + static_cast<int>(vpci::to_ntstatus(vpci::errc::timeout) == vpci::ntstatus::io_timeout);
}
