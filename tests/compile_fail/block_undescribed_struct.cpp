#include <vpci/core.hpp>
struct undescribed {
  std::uint32_t a;
  std::uint16_t b;
};
constexpr auto size = vpci::block<4, undescribed>::size;  // must not compile: no field list
