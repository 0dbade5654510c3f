#include <vpci/core.hpp>
using far_block = vpci::block<0x80000000u, std::uint32_t>;
vpci::errc raise(vpci::engine::pf_blocks<1>& store) {
  if (auto e = store.define<far_block>(0, 1u); e != vpci::no_error) return e;
  return store.invalidate<far_block>(0);  // must not compile: the block cannot be invalidated
}
