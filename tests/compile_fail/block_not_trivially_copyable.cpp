#include <vpci/core.hpp>
struct owns_resource {
  std::uint32_t value;
  ~owns_resource() {}
};
constexpr auto size = vpci::block<3, owns_resource>::size;  // must not compile: not trivially copyable
