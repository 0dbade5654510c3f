// What the codegen check (check_reaches.sh ... prefetch) compiles: the two ways a PF asks for a block's
// contents ahead of the doorbell, each behind a plain symbol so that the check can find its body in the
// assembly. Each body must keep a prefetch instruction: the hint's whole effect is that instruction, and
// g++ 12 at -O2 deleted it (it found pf_blocks::prefetch free of side effects and dropped every call).
#include <cstdint>

#include <vpci/engine/pf_blocks.hpp>
#include <vpci/engine/pf_mailbox.hpp>

extern "C" void vpci_codegen_store_prefetch(const vpci::engine::pf_blocks<256>& store, std::uint16_t vf,
                                            std::uint32_t id) {
  store.prefetch(vf, vpci::block_id{id});
}

extern "C" void vpci_codegen_session_anticipate(const vpci::engine::pf_mailbox_session<256>& session,
                                                std::uint32_t id) {
  session.anticipate(vpci::block_id{id});
}
