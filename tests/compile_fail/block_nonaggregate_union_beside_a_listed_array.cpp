#include <vpci/core.hpp>
// As block_nonaggregate_union_member_smaller_than_the_union, beside a listed C array: whether the listed
// fields can be made from bytes at compile time was asked of the array type itself (never: no function
// returns an array), which let the union through unweighed, and `big`'s upper four bytes never travelled.
struct vf_tag {
  constexpr vf_tag() : head{}, big{} {}
  std::uint8_t head[5];
  union {
    std::uint64_t big;
    std::uint32_t small;
  };
  friend constexpr auto vpci_fields(vpci::type_tag<vf_tag>) { return vpci::fields(&vf_tag::head, &vf_tag::small); }
};
constexpr auto size = vpci::block<4, vf_tag>::size;  // must not compile: the union cannot be weighed
