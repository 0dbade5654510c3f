// Compiled with -ffreestanding: a store must be given its capacity (there is no heap to take it from).
#include <vpci/core.hpp>
vpci::engine::pf_blocks<4> store;  // must not compile: no storage
