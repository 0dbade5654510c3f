// Field-by-field little-endian wire layout of block payload types.
//
// A payload type is encodable when it is an integer, an enum with a fixed underlying type, bool, std::byte,
// float or double, an array (C array or std::array; a C array not as the block's T itself) of encodable
// elements, or a literal struct whose fields are listed once by a vpci_fields function found by
// argument-dependent lookup:
//
//   struct vf_config {
//     std::uint16_t version;
//     std::uint16_t flags;
//     std::uint32_t mtu;
//     friend constexpr auto vpci_fields(vpci::type_tag<vf_config>) {
//       return vpci::fields(&vf_config::version, &vf_config::flags, &vf_config::mtu);
//     }
//   };
//
// Fields are packed in the order listed, with no padding, each little-endian: the bytes are the same
// on every host and compiler, so the PF and the VF agree on a block described once. That holds for
// types whose size is the same everywhere: use the fixed-width integers (std::uint32_t, ...). `long` and
// `unsigned long` are 8 bytes on 64-bit Linux and 4 on Windows and 32-bit targets (a ULONG shared with a
// Windows VF driver is std::uint32_t here); they cannot be refused, since std::int64_t is `long` on
// 64-bit Linux. wchar_t (4 bytes on Linux, 2 on Windows) and long double (16 bytes on x86-64 Linux, 12
// on 32-bit x86, 8 on ARM and with MSVC) are refused on every host, alone, in arrays and as an enum's
// underlying type: accepting long double where it happens to be 8 bytes would give a descriptor that
// compiles for one peer and not the other, or, with a codec per size, different bytes on each. So are
// __int128 and unsigned __int128 (not every host and compiler has them), and an enum without a fixed
// underlying type (`enum E { ... }`: 4 bytes with x86-64 g++, 1 with arm-none-eabi's short enums; and a
// peer's value outside its range could not be stored in it without UB): write `enum E : std::uint8_t`.
//
// The list names every member of T, each once, and only T's own members: one left out (a
// member added to the struct later, say) would silently never travel, one named twice would travel twice
// in place of another, and another type's member cannot be read from a T, so vpci::block rejects each at
// compile time ("leaves out members of T", "names a member of T twice", "field N of T is not a member of
// T"). A described struct must be a literal type ("T ... is not a literal type"): where its fields live
// is asked of a T in a constant expression. Three checks find a member left out. An aggregate's members are
// counted by how many initializers T{...} accepts, bare (C arrays count their elements, as brace elision
// does) or braced (one per member). The count fails closed: a listed member neither initializer reaches
// ("the members of T cannot be counted") is an error, not the end of T. And in any T, aggregate or not,
// the listed fields, in the order they lie, must leave no room for another member: each starts where the
// one before ends, rounded up to its type's alignment, and the last ends where T does, rounded up to T's
// (this finds an unlisted member after the last counted one, and those of a struct with constructors or
// private members; not one that fits in padding the next field's alignment leaves anyway, which only the
// count of an aggregate finds). And in any T without padding the listed fields hold all of T's bytes. A gap
// made on purpose (alignas on a member) needs fields_with_gaps. A listed member of an anonymous union (or
// of a GNU anonymous struct) must hold all of it; where T{...} cannot take T's members one by one, an
// anonymous union is refused unless the listed fields hold every byte of a T without padding. Two
// listed fields at one address (two members of one anonymous union) are refused ("fields N and M of T overlap"), and so is a
// const or reference member, listed or not (decoding fills in a T{}; a reference is not encodable), a
// const or volatile field, and a union as T or as a field (which member is active is not known). A struct
// that deliberately keeps members off the wire (a local cache, padding the peer never sees) says so with
// vpci::fields_with_gaps(...) instead of vpci::fields(...).
//
// A member of a base class counts as another type's: describe the base as a member struct instead. An
// aggregate with a base class cannot be listed with vpci::fields(...) at all ("T has a base class"): T{...}
// takes a whole base as one initializer, so the count cannot tell which of the base's members a list
// left out, and C++20 cannot tell a base's member named through T (fields<T, M...>(&T::base_member),
// with explicit template arguments, converts it to an `M T::*`) from T's own. Without this rule such a
// list passed the count with one base member standing for the whole base, and the others never
// travelled. vpci::fields_with_gaps(...) may list T's own members of a struct with a base (the base stays
// off the wire); as it claims no completeness, a base member named through T there is not detected. A
// struct with a base and constructors is no aggregate, and nothing in C++20 tells its base apart: a base
// member it leaves out is found as any member left out of a struct with constructors is.
#pragma once

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <tuple>
#include <type_traits>
#include <utility>

#include <vpci/block/endian.hpp>

namespace vpci {

template <class T>
struct type_tag {};

// The field list of a described struct: pointers to its data members, in wire order. Every member of
// the struct must be listed. The second form takes pointers that name different classes, so that one
// naming another type's member (a base's, say) reaches vpci::block's own message rather than a failed
// deduction; the first, more specialised, is the one a list of T's members (and fields<T>(...)) takes.
template <class T, class... Members>
  requires(std::is_object_v<Members> && ...)
constexpr auto fields(Members T::*... members) noexcept {
  return std::tuple<Members T::*...>{members...};
}
template <class... Members>
  requires(std::is_member_object_pointer_v<Members> && ...)
constexpr auto fields(Members... members) noexcept {
  return std::tuple<Members...>{members...};
}

// A field list that deliberately leaves members of the struct off the wire (they keep whatever the
// decoding side's T{} gives them).
template <class List>
struct field_list_with_gaps {
  List list;
};
template <class T, class... Members>
  requires(std::is_object_v<Members> && ...)
constexpr auto fields_with_gaps(Members T::*... members) noexcept {
  return field_list_with_gaps<std::tuple<Members T::*...>>{{members...}};
}
template <class... Members>
  requires(std::is_member_object_pointer_v<Members> && ...)
constexpr auto fields_with_gaps(Members... members) noexcept {
  return field_list_with_gaps<std::tuple<Members...>>{{members...}};
}

namespace detail {

template <class T>
concept described_struct = std::is_class_v<T> && requires { vpci_fields(type_tag<T>{}); };

template <class T>
struct codec;  // no definition: T has no wire layout

template <class T>
concept encodable = requires { codec<T>::size; };

// Decoding writes each field, so a const or volatile one (or T itself so qualified) has no codec.
template <class T>
concept unqualified = std::is_same_v<T, std::remove_cv_t<T>>;

// The types whose size is the host's, not the wire's (wchar_t, long double), also inside an array or as
// an enum's underlying type: no codec takes them, on any host (see the note at the top).
template <class T>
struct host_sized : std::bool_constant<std::is_same_v<T, wchar_t> || std::is_same_v<T, long double>> {};
template <class T>
  requires std::is_enum_v<T>
struct host_sized<T> : host_sized<std::underlying_type_t<T>> {};
template <class E, std::size_t N>
struct host_sized<E[N]> : host_sized<std::remove_cv_t<E>> {};
template <class E, std::size_t N>
struct host_sized<std::array<E, N>> : host_sized<std::remove_cv_t<E>> {};
template <class T>
inline constexpr bool size_differs_between_hosts = host_sized<std::remove_cv_t<T>>::value;

// The extended integer types (__int128, unsigned __int128): not every host or compiler has them (MSVC and
// 32-bit targets do not), so no codec takes them, also inside an array or as an enum's underlying type.
#ifdef __SIZEOF_INT128__
__extension__ typedef __int128 int128_type;
__extension__ typedef unsigned __int128 uint128_type;
#else
struct int128_type;
struct uint128_type;
#endif
template <class T>
inline constexpr bool standard_integer =
    std::is_same_v<T, bool> || std::is_same_v<T, char> || std::is_same_v<T, signed char> ||
    std::is_same_v<T, unsigned char> || std::is_same_v<T, char8_t> || std::is_same_v<T, char16_t> ||
    std::is_same_v<T, char32_t> || std::is_same_v<T, wchar_t> || std::is_same_v<T, short> ||
    std::is_same_v<T, unsigned short> || std::is_same_v<T, int> || std::is_same_v<T, unsigned> ||
    std::is_same_v<T, long> || std::is_same_v<T, unsigned long> || std::is_same_v<T, long long> ||
    std::is_same_v<T, unsigned long long>;
template <class T>
struct extended_int : std::bool_constant<(std::is_integral_v<T> && !standard_integer<T>) ||
                                         std::is_same_v<T, int128_type> || std::is_same_v<T, uint128_type>> {};
template <class T>
  requires std::is_enum_v<T>
struct extended_int<T> : extended_int<std::underlying_type_t<T>> {};
template <class E, std::size_t N>
struct extended_int<E[N]> : extended_int<std::remove_cv_t<E>> {};
template <class E, std::size_t N>
struct extended_int<std::array<E, N>> : extended_int<std::remove_cv_t<E>> {};
template <class T>
inline constexpr bool extended_integer = extended_int<std::remove_cv_t<T>>::value;

// An enum without a fixed underlying type (`enum E { ... }`): its size is the compiler's choice (4 bytes
// with x86-64 g++ and clang++, 1 with arm-none-eabi's short enums), and a value outside its range (a
// peer's byte) cannot be stored in it without undefined behaviour. Only such an enum refuses E{u} from a
// value of its underlying type; a scoped enum always has a fixed type (int by default).
template <class T>
struct unfixed_enum_type : std::false_type {};
template <class T>
  requires std::is_enum_v<T>
struct unfixed_enum_type<T> : std::bool_constant<!requires(std::underlying_type_t<T> u) { T{u}; }> {};
template <class E, std::size_t N>
struct unfixed_enum_type<E[N]> : unfixed_enum_type<std::remove_cv_t<E>> {};
template <class E, std::size_t N>
struct unfixed_enum_type<std::array<E, N>> : unfixed_enum_type<std::remove_cv_t<E>> {};
template <class T>
inline constexpr bool unfixed_enum = unfixed_enum_type<std::remove_cv_t<T>>::value;

template <class T>
  requires unqualified<T> && std::is_integral_v<T> && (!std::is_same_v<T, bool>) &&
           (!size_differs_between_hosts<T>) && (!extended_integer<T>)
struct codec<T> {
  static constexpr std::size_t size = sizeof(T);
  using wire = std::make_unsigned_t<T>;
  static constexpr void encode(const T& v, std::byte* out) noexcept { le::store(out, static_cast<wire>(v)); }
  static constexpr bool decode(const std::byte* in, T& v) noexcept {
    v = static_cast<T>(le::load<wire>(in));
    return true;
  }
};

// bool travels as one byte, 0 or 1; any other byte from a peer is bad data, not UB.
template <>
struct codec<bool> {
  static constexpr std::size_t size = 1;
  static constexpr void encode(const bool& v, std::byte* out) noexcept { out[0] = static_cast<std::byte>(v ? 1 : 0); }
  static constexpr bool decode(const std::byte* in, bool& v) noexcept {
    if (in[0] != std::byte{0} && in[0] != std::byte{1}) return false;
    v = in[0] == std::byte{1};
    return true;
  }
};

template <>
struct codec<std::byte> {
  static constexpr std::size_t size = 1;
  static constexpr void encode(const std::byte& v, std::byte* out) noexcept { out[0] = v; }
  static constexpr bool decode(const std::byte* in, std::byte& v) noexcept {
    v = in[0];
    return true;
  }
};

template <class T>
  requires unqualified<T> && std::is_enum_v<T> && (!unfixed_enum<T>) && encodable<std::underlying_type_t<T>>
struct codec<T> {
  using underlying = std::underlying_type_t<T>;
  static constexpr std::size_t size = codec<underlying>::size;
  static constexpr void encode(const T& v, std::byte* out) noexcept {
    codec<underlying>::encode(static_cast<underlying>(v), out);
  }
  static constexpr bool decode(const std::byte* in, T& v) noexcept {
    underlying u{};
    if (!codec<underlying>::decode(in, u)) return false;
    v = static_cast<T>(u);
    return true;
  }
};

// float and double: IEEE binary32 and binary64 wherever vpci builds. Not long double, even where it is 8
// bytes (ARM, MSVC): x86-64 Linux could not decode what such a peer sends.
template <class T>
  requires unqualified<T> && std::is_floating_point_v<T> && (!size_differs_between_hosts<T>) &&
           (sizeof(T) == 4 || sizeof(T) == 8)
struct codec<T> {
  using wire = std::conditional_t<sizeof(T) == 4, std::uint32_t, std::uint64_t>;
  static constexpr std::size_t size = sizeof(T);
  static constexpr void encode(const T& v, std::byte* out) noexcept { le::store(out, std::bit_cast<wire>(v)); }
  static constexpr bool decode(const std::byte* in, T& v) noexcept {
    v = std::bit_cast<T>(le::load<wire>(in));
    return true;
  }
};

template <class E, std::size_t N>
  requires encodable<E>
struct codec<std::array<E, N>> {
  static constexpr std::size_t size = N * codec<E>::size;
  static constexpr void encode(const std::array<E, N>& v, std::byte* out) noexcept {
    for (std::size_t i = 0; i < N; ++i) codec<E>::encode(v[i], out + i * codec<E>::size);
  }
  static constexpr bool decode(const std::byte* in, std::array<E, N>& v) noexcept {
    for (std::size_t i = 0; i < N; ++i)
      if (!codec<E>::decode(in + i * codec<E>::size, v[i])) return false;
    return true;
  }
};

template <class E, std::size_t N>
  requires encodable<E>
struct codec<E[N]> {
  static constexpr std::size_t size = N * codec<E>::size;
  static constexpr void encode(const E (&v)[N], std::byte* out) noexcept {
    for (std::size_t i = 0; i < N; ++i) codec<E>::encode(v[i], out + i * codec<E>::size);
  }
  static constexpr bool decode(const std::byte* in, E (&v)[N]) noexcept {
    for (std::size_t i = 0; i < N; ++i)
      if (!codec<E>::decode(in + i * codec<E>::size, v[i])) return false;
    return true;
  }
};

template <class M>
struct member_type;
template <class T, class M>
struct member_type<M T::*> {
  using type = M;
  using of = T;  // the class the member pointer names a member of
};

template <class List>
constexpr const List& field_tuple(const List& list) noexcept {
  return list;
}
template <class List>
constexpr const List& field_tuple(const field_list_with_gaps<List>& list) noexcept {
  return list.list;
}
// The described struct's fields as a std::tuple of member pointers, whichever way they were listed.
template <class T>
constexpr auto listed_fields() noexcept {
  return field_tuple(vpci_fields(type_tag<T>{}));
}
template <class T>
using field_list_t = decltype(listed_fields<T>());

template <class T>
inline constexpr bool has_gaps = false;
template <class List>
inline constexpr bool has_gaps<field_list_with_gaps<List>> = true;
template <class T>
inline constexpr bool fields_declared_with_gaps = has_gaps<decltype(vpci_fields(type_tag<T>{}))>;

// ---- the rules a fields(...) list of an aggregate follows, checked in this order ----
// Each rule answers true when an earlier one already failed: that rule speaks, not this one.

// An array's element type, through C arrays and std::array: a described struct in an array is checked as
// the struct it is.
template <class T>
struct wire_element {
  using type = T;
};
template <class E, std::size_t N>
struct wire_element<E[N]> : wire_element<E> {};
template <class E, std::size_t N>
struct wire_element<std::array<E, N>> : wire_element<E> {};
template <class T>
using wire_element_t = typename wire_element<T>::type;

// True when every listed member pointer names a member of T itself.
template <class T, class List = field_list_t<T>>
struct lists_own_members;
template <class T, class... Ptrs>
struct lists_own_members<T, std::tuple<Ptrs...>>
    : std::bool_constant<(std::is_same_v<typename member_type<Ptrs>::of, T> && ...)> {};

// Converts only to a base class of T, so T{base_initializer<T>{}} compiles exactly when T's first
// aggregate element is a base (bases come first; no member can take it unless T has a base).
template <class T>
struct base_initializer {
  template <class Base>
    requires(std::is_base_of_v<Base, T> && !std::is_same_v<Base, T>)
  operator Base() const noexcept;  // never defined: only asked about in unevaluated requires-expressions
};
// Converts to nothing: a first element that takes it (a constructor template taking any argument) would
// take base_initializer too, which then tells nothing; the count refuses such a member instead.
struct no_initializer {};
template <class T>
inline constexpr bool aggregate_with_base = std::is_aggregate_v<T> && !requires { T{no_initializer{}}; } &&
                                            requires { T{base_initializer<T>{}}; };

// True unless T is an aggregate with a base class listed by fields(...): such a list either leaves the
// base out or names its members through T, and the count below cannot tell how many (see the note at
// the top).
template <class T>
consteval bool describes_no_base() {
  return fields_declared_with_gaps<T> || !aggregate_with_base<T>;
}

// A const or reference member (listed or not) leaves T without an assignment: decoding fills in a T{},
// which a const member refuses, and a reference is no value the peer could be sent. Such a member also
// escapes the count below (no initializer converts to a non-const reference), so it is refused first.
template <class T>
consteval bool members_assignable() {
  return !describes_no_base<T>() || std::is_copy_assignable_v<T>;
}

// A described struct must be a literal type: where its listed fields live (do two share storage? is a
// member left out between or after them?) is asked of a T in a constant expression, which clang (and the
// standard, before C++23) allows only of a literal type. A trivially copyable T fails it by a
// constructor that is not constexpr or a volatile member; without this rule those checks were skipped.
template <class T>
consteval bool described_literal() {
  return !describes_no_base<T>() || !members_assignable<T>() || __is_literal_type(T);
}

// The list itself is read at compile time (where each listed field lives, whether one is listed twice), so
// vpci_fields must be constexpr. Refused here, by name: otherwise every check that reads the list gave an
// error of its own about constant expressions, none naming vpci_fields.
template <class T>
consteval bool fields_readable_at_compile_time() {
  return !describes_no_base<T>() || !members_assignable<T>() || !described_literal<T>() ||
         requires { typename std::integral_constant<bool, (static_cast<void>(listed_fields<T>()), true)>; };
}

// ---- where the listed fields live ----
// Asked of a T that is never constructed (the union's first member is active), so T needs no constexpr
// default constructor. A field's offset is the index of the byte of `bytes` at its address.
template <class T>
union unconstructed {
  char none;
  T value;
  unsigned char bytes[sizeof(T)];
  constexpr unconstructed() noexcept : none{} {}
};

// Each listed field's place in T, in list order (one more entry: never a zero-length array). A field whose
// address is not among T's bytes gets offset sizeof(T), which the checks below refuse or pass over.
struct field_place {
  std::size_t offset = 0;
  std::size_t size = 0;
  std::size_t align = 1;
  bool empty = false;
};
template <class T>
consteval auto listed_field_places() {
  constexpr std::size_t count = std::tuple_size_v<field_list_t<T>>;
  std::array<field_place, count + 1> place{};
  unconstructed<T> storage;
  std::apply(
      [&](auto... members) {
        std::size_t at = 0;
        [[maybe_unused]] const auto locate = [&](auto member) {
          using M = typename member_type<decltype(member)>::type;
          const void* address = static_cast<const void*>(&(storage.value.*member));
          std::size_t offset = sizeof(T);
          for (std::size_t i = 0; i < sizeof(T); ++i)
            if (address == static_cast<const void*>(&storage.bytes[i])) offset = i;
          place[at++] = {offset, sizeof(M), alignof(M), std::is_empty_v<M>};
        };
        (locate(members), ...);
      },
      listed_fields<T>());
  return place;
}

// ---- two listed fields sharing storage: one member named twice, or two members of one union ----

template <class A, class B>
constexpr bool same_member(A a, B b) noexcept {
  if constexpr (std::is_same_v<A, B>) return a == b;
  else return false;
}

// The first pair of listed fields at one address (an empty member may share its address and holds no
// bytes, so it shares nothing). A member named twice compares equal as a member pointer too; g++ also
// finds two members of one union of the same type equal that way, so both are reported as "named twice".
struct shared_fields {
  bool found = false;
  bool same_member = false;
  std::size_t first = 0;
  std::size_t second = 0;
};
template <class T>
consteval shared_fields first_shared_fields() {
  constexpr auto fields = listed_fields<T>();
  constexpr std::size_t count = std::tuple_size_v<field_list_t<T>>;
  shared_fields pair;
  if constexpr (count > 1) {
    const auto place = listed_field_places<T>();
    bool same[count][count]{};
    std::size_t row = 0;
    const auto compare_with_each = [&](auto first) {
      std::size_t column = 0;
      std::apply([&](auto... second) { ((same[row][column] = same_member(first, second), ++column), ...); }, fields);
      ++row;
    };
    std::apply([&](auto... first) { (compare_with_each(first), ...); }, fields);
    for (std::size_t i = 0; i < count && !pair.found; ++i)
      for (std::size_t j = i + 1; j < count && !pair.found; ++j)
        if (same[i][j] || (place[i].offset < sizeof(T) && place[i].offset == place[j].offset && !place[i].empty &&
                           !place[j].empty))
          pair = {true, same[i][j], i, j};
  }
  return pair;
}
// True when no two listed fields share storage.
template <class T>
consteval bool lists_no_shared_storage() {
  if constexpr (!lists_own_members<T>::value || !describes_no_base<T>() || !members_assignable<T>() ||
                !described_literal<T>() || !fields_readable_at_compile_time<T>()) {
    return true;
  } else {
    return !first_shared_fields<T>().found;
  }
}

// ---- a member left out between the listed fields or after them: the placement check ----
// Taken in the order they lie in T, each listed field must start where the one before it ends, rounded
// up to its own alignment, and the last must end where T does, rounded up to T's alignment; anything
// else is room for a member the list leaves out. It applies to any literal T, aggregate or not (a struct
// with constructors or private members cannot be counted below), and catches the member the count cannot
// reach (one taking no initializer, after the counted ones). An empty field holds no bytes: one sharing its
// place with another field ([[no_unique_address]]) is passed over. Its blind spot: a member left out that
// fits in padding the next field's alignment leaves anyway (std::uint8_t a; [std::uint8_t b;] std::uint16_t c).
// A member placed apart on purpose (alignas on it, [[no_unique_address]] reusing another's tail padding)
// reads as a gap too: such a struct is listed with vpci::fields_with_gaps(...).
template <class T>
consteval bool fields_lie_in_place() {
  constexpr std::size_t count = std::tuple_size_v<field_list_t<T>>;
  auto place = listed_field_places<T>();
  // Sorted by offset (a non-empty field before an empty one at the same place).
  for (std::size_t i = 1; i < count; ++i)
    for (std::size_t j = i; j > 0; --j) {
      const field_place& a = place[j - 1];
      const field_place& b = place[j];
      if (a.offset > b.offset || (a.offset == b.offset && a.empty && !b.empty)) {
        const field_place swapped = place[j - 1];
        place[j - 1] = place[j];
        place[j] = swapped;
      }
    }
  const auto round_up = [](std::size_t n, std::size_t align) { return (n + align - 1) / align * align; };
  std::size_t end = 0;
  for (std::size_t i = 0; i < count; ++i) {
    const field_place& f = place[i];
    if (f.offset >= sizeof(T)) return false;
    if (f.empty && f.offset < end) continue;  // shares its place with a field before it
    if (f.offset != round_up(end, f.align)) return false;
    end = f.offset + f.size;
  }
  return round_up(end, alignof(T)) == sizeof(T);
}
template <class T>
consteval bool lists_fields_in_place() {
  if constexpr (std::is_empty_v<T>) {
    return true;  // no member to leave out (one byte of nothing)
  } else {
    return fields_lie_in_place<T>();
  }
}

// ---- counting an aggregate's members: how many initializers T{...} accepts ----
struct any_initializer {
  template <class M>
  operator M() const noexcept;  // never defined: only asked about in unevaluated requires-expressions
};
template <std::size_t>
using any_initializer_at = any_initializer;

// Two ways to count, each with its own blind spot: a bare initializer converts to the member (a C array
// takes one per element, by brace elision), but is ambiguous for a member whose constructor template takes
// any argument; a braced one, {initializer}, initializes a whole member (a C array too) and picks such a
// constructor, but cannot reach an explicit one. An element after the counted ones is also tried with {},
// its default constructor.
template <class T, class Indices>
struct brace_probe;
template <class T, std::size_t... I>
struct brace_probe<T, std::index_sequence<I...>> {
  static constexpr bool accepts = requires { T{any_initializer_at<I>{}...}; };
  static constexpr bool accepts_one_more =
      requires { T{any_initializer_at<I>{}..., any_initializer{}}; } || requires { T{any_initializer_at<I>{}..., {}}; };
  static constexpr bool accepts_braced = requires { T{{any_initializer_at<I>{}}...}; };
  static constexpr bool accepts_one_more_braced =
      requires { T{{any_initializer_at<I>{}}..., {any_initializer{}}}; } || requires { T{{any_initializer_at<I>{}}..., {}}; };
};
template <class T, std::size_t N>
using brace_probe_of = brace_probe<T, std::make_index_sequence<N>>;

// The initializers a member takes in T{...}: a C array one per element (brace elision), anything else
// one (an initializer converts to it directly).
template <class M>
inline constexpr std::size_t initializers_of = std::is_array_v<M> ? sizeof(M) / sizeof(std::remove_all_extents_t<M>) : 1;

template <class T, class List = field_list_t<T>>
struct listed_initializers;
template <class T, class... Ptrs>
struct listed_initializers<T, std::tuple<Ptrs...>>
    : std::integral_constant<std::size_t, (initializers_of<typename member_type<Ptrs>::type> + ... + 0)> {};

// The structs whose fields(...) list claims every member, once the rules before the count hold: checked
// by placement (any of them) and counted against T{...} (aggregates).
template <class T>
consteval bool checked_complete() {
  return !fields_declared_with_gaps<T> && lists_own_members<T>::value && describes_no_base<T>() &&
         members_assignable<T>() && described_literal<T>() && fields_readable_at_compile_time<T>() &&
         lists_no_shared_storage<T>();
}
template <class T>
consteval bool counted() {
  return std::is_aggregate_v<T> && checked_complete<T>();
}

// The count by elements (bare initializers: as many as the listed fields take) and by members (braced
// ones: one per listed field).
template <class T>
using element_probe = brace_probe_of<T, listed_initializers<T>::value>;
template <class T>
using member_probe = brace_probe_of<T, std::tuple_size_v<field_list_t<T>>>;

// The count fails closed: T{...} must take an initializer for every listed field, one way or the other,
// or the count could not tell a member it failed to initialize from the end of T (it would stop early,
// and the members after it would stay off the wire unnoticed).
template <class T>
consteval bool members_countable() {
  if constexpr (!counted<T>()) {
    return true;
  } else {
    return element_probe<T>::accepts || member_probe<T>::accepts_braced;
  }
}

// ---- a member left out where T has no padding: the byte count ----
// A T without padding (std::has_unique_object_representations) has no byte that no member holds, and the
// listed fields are distinct members (lists_no_shared_storage), so they must hold sizeof(T) bytes between
// them (an empty field holds none). This finds, in any such T, the member the placement check cannot see:
// one in room the next field's alignment leaves anyway, which in a struct with constructors, or a base's
// member, T{...} cannot count either (struct S : header { constexpr S(); std::uint16_t mtu; }, listing
// header's version and not its flags, sent 3 of S's 4 bytes).
template <class T, class List = field_list_t<T>>
struct listed_bytes_held;
template <class T, class... Ptrs>
struct listed_bytes_held<T, std::tuple<Ptrs...>>
    : std::integral_constant<std::size_t, ((std::is_empty_v<typename member_type<Ptrs>::type>
                                                ? std::size_t{0}
                                                : sizeof(typename member_type<Ptrs>::type)) +
                                           ... + 0)> {};
template <class T>
consteval bool holds_every_byte() {
  if constexpr (std::has_unique_object_representations_v<T>) {
    return listed_bytes_held<T>::value == sizeof(T);
  } else {
    return true;  // padding: the placement check and the count are all there is
  }
}

// True unless T's fields(...) list leaves members out: T{...} takes one more initializer than the listed
// members, counted either way (an aggregate), the listed fields leave room for another (any T), or they
// hold fewer bytes than a T without padding (any T).
template <class T>
consteval bool lists_every_member() {
  if constexpr (!checked_complete<T>() || !members_countable<T>()) {
    return true;
  } else if constexpr (!lists_fields_in_place<T>()) {
    return false;
  } else if constexpr (!holds_every_byte<T>()) {
    return false;
  } else if constexpr (!std::is_aggregate_v<T>) {
    return true;
  } else {
    return !(element_probe<T>::accepts && element_probe<T>::accepts_one_more) &&
           !(member_probe<T>::accepts_braced && member_probe<T>::accepts_one_more_braced);
  }
}

// ---- a listed member of an anonymous union that is smaller than the union ----
// The count takes an anonymous union as one member, and the placement check sees only the listed member:
// listing std::uint8_t small of union { std::uint8_t small; std::uint32_t big; } left the union's other
// three bytes in what read as padding, and big travelled cut to its low byte. Each initializer of T{...}
// records the size of what it initializes when converted (an anonymous union: the whole union; an array:
// each element), and the listed fields must add up to the same bytes. A member type that cannot be made in
// a constant expression leaves this check out (the count and the placement still apply).
// (An anonymous union is made with M{}, which g++ allows while its is_default_constructible says no;
// anything else from zero bytes, which needs no constructor: T is trivially copyable.)
struct size_recording_initializer {
  std::size_t* total;
  template <class M>
  constexpr operator M() const noexcept {
    *total += sizeof(M);
    if constexpr (std::is_union_v<M>) {
      return M{};
    } else {
      return std::bit_cast<M>(std::array<unsigned char, sizeof(M)>{});
    }
  }
};
// The initializers reach a C array's elements by brace elision, as in the count.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-braces"
template <class T, std::size_t... I>
constexpr std::size_t initialized_bytes(std::index_sequence<I...>) {
  std::size_t total = 0;
  [[maybe_unused]] const T value{((void)I, size_recording_initializer{&total})...};
  return total;
}
#pragma GCC diagnostic pop
// Whether the recording can run: T{...} takes the recording initializers, and their conversions are
// constant expressions.
template <class T, std::size_t... I>
consteval bool initialized_bytes_known(std::index_sequence<I...>) {
  if constexpr (requires { T{((void)I, size_recording_initializer{nullptr})...}; }) {
    return requires {
      typename std::integral_constant<std::size_t, initialized_bytes<T>(std::index_sequence<I...>{})>;
    };
  } else {
    return false;
  }
}
template <class T, class List = field_list_t<T>>
struct listed_bytes;
template <class T, class... Ptrs>
struct listed_bytes<T, std::tuple<Ptrs...>>
    : std::integral_constant<std::size_t, (sizeof(typename member_type<Ptrs>::type) + ... + 0)> {};

// Whether what each initializer of T{...} initializes can be recorded: an aggregate whose members take
// bare initializers, each made in a constant expression.
template <class T>
consteval bool union_bytes_recorded() {
  if constexpr (!counted<T>() || !members_countable<T>() || !element_probe<T>::accepts) {
    return false;
  } else {
    return initialized_bytes_known<T>(std::make_index_sequence<listed_initializers<T>::value>{});
  }
}

// True unless a listed field is a member of an anonymous union that is smaller than the union (or
// T{...} initializes more bytes than the listed fields hold in any other way), once the count holds.
template <class T>
consteval bool lists_whole_unions() {
  if constexpr (!counted<T>() || !members_countable<T>() || !lists_every_member<T>()) {
    return true;
  } else if constexpr (!union_bytes_recorded<T>()) {
    return true;  // unions_weighed below
  } else {
    return initialized_bytes<T>(std::make_index_sequence<listed_initializers<T>::value>{}) == listed_bytes<T>::value;
  }
}

// ---- an anonymous union in a T whose initializers cannot be recorded ----
// The recording above needs an aggregate whose members take bare initializers. In any other T (one with
// constructors, or a member whose constructor template takes any argument) a listed union member smaller
// than its union passed every check, and its union's other bytes never travelled. Such a T is refused
// when it holds a union at all, unless no byte of it is left to hide one (no padding, every byte a listed
// field's: holds_every_byte). A union is seen without constructing T: std::bit_cast to a type with a union
// (or pointer) subobject is no constant expression. A listed field whose own type holds one (a described
// struct with its own union, checked as its own type) leaves this check out.
template <class T>
inline constexpr bool made_from_bytes_at_compile_time =
    requires { typename std::integral_constant<bool, (std::bit_cast<T>(std::array<unsigned char, sizeof(T)>{}), true)>; };
template <class T, class List = field_list_t<T>>
struct listed_types_made_from_bytes;
template <class T, class... Ptrs>
struct listed_types_made_from_bytes<T, std::tuple<Ptrs...>>
    : std::bool_constant<(made_from_bytes_at_compile_time<std::remove_all_extents_t<typename member_type<Ptrs>::type>> &&
                          ...)> {};
// (Nested: g++ instantiates a function named after an operand of || that a true one before it decides.)
template <class T>
consteval bool unions_weighed() {
  if constexpr (!checked_complete<T>() || !members_countable<T>() || !lists_every_member<T>() ||
                !lists_whole_unions<T>()) {
    return true;
  } else if constexpr (union_bytes_recorded<T>() || std::has_unique_object_representations_v<T>) {
    return true;
  } else {
    return made_from_bytes_at_compile_time<T> || !listed_types_made_from_bytes<T>::value;
  }
}

template <class T, class List = field_list_t<T>>
struct all_fields_encodable;
template <class T, class... Ptrs>
struct all_fields_encodable<T, std::tuple<Ptrs...>>
    : std::bool_constant<(encodable<typename member_type<Ptrs>::type> && ...)> {};

template <class T, class List = field_list_t<T>>
struct fields_size;
template <class T, class... Ptrs>
struct fields_size<T, std::tuple<Ptrs...>>
    : std::integral_constant<std::size_t, (codec<typename member_type<Ptrs>::type>::size + ... + 0)> {};

// The rules for each listed field: a member of T itself, and encodable.
template <class T>
consteval bool listed_fields_follow_the_rules() {
  return lists_own_members<T>::value && all_fields_encodable<T>::value;
}

// The rules for the list as a whole, in order (each later one assumes the earlier hold), once the
// listed fields follow theirs.
template <class T>
consteval bool whole_list_follows_the_rules() {
  return describes_no_base<T>() && members_assignable<T>() && described_literal<T>() &&
         fields_readable_at_compile_time<T>() && lists_no_shared_storage<T>() && members_countable<T>() && lists_every_member<T>() && lists_whole_unions<T>() &&
         unions_weighed<T>();
}

// Every rule, in order.
template <class T>
consteval bool field_list_follows_the_rules() {
  if constexpr (!listed_fields_follow_the_rules<T>()) {
    return false;
  } else {
    return whole_list_follows_the_rules<T>();
  }
}

template <class T>
  requires described_struct<T> && (field_list_follows_the_rules<T>())
struct codec<T> {
  static constexpr std::size_t size = fields_size<T>::value;
  static constexpr void encode(const T& v, std::byte* out) noexcept {
    std::apply(
        [&](auto... members) {
          std::size_t at = 0;
          ((encode_one(v.*members, out, at)), ...);
        },
        listed_fields<T>());
  }
  static constexpr bool decode(const std::byte* in, T& v) noexcept {
    return std::apply(
        [&](auto... members) {
          std::size_t at = 0;
          return (decode_one(in, v.*members, at) && ...);
        },
        listed_fields<T>());
  }

 private:
  template <class M>
  static constexpr void encode_one(const M& field, std::byte* out, std::size_t& at) noexcept {
    codec<M>::encode(field, out + at);
    at += codec<M>::size;
  }
  template <class M>
  static constexpr bool decode_one(const std::byte* in, M& field, std::size_t& at) noexcept {
    bool ok = codec<M>::decode(in + at, field);
    at += codec<M>::size;
    return ok;
  }
};

// ---- the diagnostics vpci::block gives for a type without a wire layout ----
// Each names the rule broken; the compiler's "required from" lines give T, N and M.
template <class T>
consteval bool layout_diagnosed();

// Instantiates Check, whose static_assert gives the message of the rule broken, and answers true: the
// message has been given. A check holds nothing but its static_asserts, and is only named in an
// unevaluated operand: clang takes a class whose static_assert failed as no constant at all, so reading a
// member of it would add errors of its own after the one that names the rule.
template <class Check>
consteval bool told() {
  using instantiated [[maybe_unused]] = decltype(sizeof(Check));
  return true;
}

// The one message for a type whose size is the host's, whether it is T itself or a field of T (the
// compiler's "required from" lines say which).
template <class M>
struct host_size_check {
  static_assert(!size_differs_between_hosts<M>,
                "vpci::block<Id, T>: T or a field of T is (or holds) a long double or wchar_t, whose size differs "
                "between hosts (long double: 16 bytes on x86-64 Linux, 8 on ARM and with MSVC; wchar_t: 4 on "
                "Linux, 2 on Windows), so a PF and a VF on different hosts would disagree on the block's bytes; "
                "refused on every host: use double, or a fixed-width integer type");
};

// The one message for an extended integer type (__int128), as T or a field of T.
template <class M>
struct extended_integer_check {
  static_assert(!extended_integer<M>,
                "vpci::block<Id, T>: T or a field of T is (or holds) an extended integer type (__int128, unsigned "
                "__int128), which not every host and compiler has (MSVC and 32-bit targets do not), so a PF and a "
                "VF built apart might not agree on the block at all; refused on every host: use two "
                "std::uint64_t fields, or a std::array<std::uint64_t, 2>");
};

// The one message for an enum without a fixed underlying type, as T or a field of T.
template <class M>
struct fixed_enum_check {
  static_assert(!unfixed_enum<M>,
                "vpci::block<Id, T>: T or a field of T is (or holds) an enum without a fixed underlying type, "
                "whose size is the compiler's choice (4 bytes with x86-64 g++ and clang++, 1 with arm-none-eabi's "
                "short enums), so a PF and a VF on different hosts would disagree on the block's bytes, and a "
                "peer's value outside the enum's range could not be decoded without undefined behaviour; give "
                "the enum a fixed underlying type: enum E : std::uint8_t { ... } (an enum class has one)");
};

// A pointer (or member pointer) as T, alone or in an array: an address means nothing in the peer's address
// space. (A pointer field gets the message of any field without a codec.)
template <class M>
inline constexpr bool is_address = std::is_pointer_v<std::remove_cv_t<wire_element_t<std::remove_cv_t<M>>>> ||
                                   std::is_member_pointer_v<std::remove_cv_t<wire_element_t<std::remove_cv_t<M>>>>;
template <class M>
struct address_check {
  static_assert(!is_address<M>,
                "vpci::block<Id, T>: T is (or is an array of) a pointer, which has no wire layout (an address "
                "means nothing to the peer, and its size differs between hosts): send an index or an offset as a "
                "fixed-width integer, or the data it points to");
};

// A C array as T itself (as a field it is fine): decode returns a vpci::result<T>, and an array cannot be
// returned or assigned.
template <class M>
struct c_array_payload_check {
  static_assert(!std::is_array_v<M>,
                "vpci::block<Id, T>: T is a C array, which decode cannot return (an array is not assignable): "
                "use std::array<E, N> as T (C arrays are fine as fields of a described struct)");
};

// A union, as T or a field of T (alone or in an array): which member is active is not known, so its bytes
// have no one meaning; a vpci_fields list in it changes nothing.
template <class M>
struct union_check {
  static_assert(!std::is_union_v<M>,
                "vpci::block<Id, T>: T or a field of T is (or holds) a union, which has no wire layout (its "
                "members share their bytes, and which one is active is not known): send a struct of the "
                "members both sides read, or the bytes as a std::array");
};

// True when the field has a wire layout; otherwise the message of the rule it breaks has been given.
template <class T, std::size_t N, class Ptr>
consteval bool listed_field_diagnosed() {
  using member = typename member_type<Ptr>::type;
  using element = std::remove_cv_t<wire_element_t<member>>;
  if constexpr (!std::is_same_v<typename member_type<Ptr>::of, T>) {
    return false;  // listed_field's own message
  } else if constexpr (!unqualified<wire_element_t<member>>) {
    return false;  // listed_field's own message
  } else if constexpr (size_differs_between_hosts<member>) {
    return told<host_size_check<member>>();
  } else if constexpr (extended_integer<member>) {
    return told<extended_integer_check<member>>();
  } else if constexpr (unfixed_enum<member>) {
    return told<fixed_enum_check<member>>();
  } else if constexpr (std::is_union_v<element>) {
    return told<union_check<element>>();
  } else if constexpr (described_struct<element> && !encodable<member>) {
    return layout_diagnosed<element>();
  } else {
    return encodable<member>;
  }
}

template <class T, std::size_t N, class Ptr>
struct listed_field {
  using member = typename member_type<Ptr>::type;
  static constexpr bool own = std::is_same_v<typename member_type<Ptr>::of, T>;
  static_assert(own,
                "vpci::block<Id, T>: field N of T is not a member of T (a member of another struct, or of a base "
                "of T: list T's own members, and describe a base as a member struct)");
  static constexpr bool unqualified_field = unqualified<wire_element_t<member>>;
  static_assert(!own || unqualified_field,
                "vpci::block<Id, T>: field N of T is const or volatile (or an array of such): decoding writes "
                "each field of a T{}; drop the qualifier");
  // A described struct (also in an array) that breaks a rule of its own says which, and so does a union or
  // a type whose size is the host's; any other member without a layout gets this message.
  static_assert(!own || !unqualified_field || listed_field_diagnosed<T, N, Ptr>(),
                "vpci::block<Id, T>: field N of T is not encodable (an integer, enum, bool, std::byte, float, "
                "double, an array of those, or a struct with its own vpci_fields)");
};
// Every listed field's check, as a base: instantiating this class gives each failing field's message.
template <class T, class Ptrs = field_list_t<T>, class Indices = std::make_index_sequence<std::tuple_size_v<Ptrs>>>
struct listed_fields_check;
template <class T, class... Ptrs, std::size_t... N>
struct listed_fields_check<T, std::tuple<Ptrs...>, std::index_sequence<N...>> : listed_field<T, N, Ptrs>... {};

// Fields N and M of T share storage: the same member twice, or two members of one union.
template <class T, std::size_t N, std::size_t M, bool SameMember>
struct shared_fields_check {
  static_assert(!SameMember,
                "vpci::block<Id, T>: the vpci_fields list of T names a member of T twice (fields N and M; two "
                "members of one union of the same type may be reported so too): list each member once, and one "
                "member of a union");
  static_assert(SameMember,
                "vpci::block<Id, T>: fields N and M of T overlap (members of one union share their bytes): list "
                "one member of a union, the one both sides read");
};
// True unless two fields share storage, once the message for the first such pair has been given.
template <class T>
consteval bool shared_fields_diagnosed() {
  if constexpr (lists_no_shared_storage<T>()) {
    return true;
  } else {
    constexpr shared_fields pair = first_shared_fields<T>();
    return told<shared_fields_check<T, pair.first, pair.second, pair.same_member>>();
  }
}

template <class T>
struct field_list_check {
  static_assert(describes_no_base<T>(),
                "vpci::block<Id, T>: T has a base class, which vpci::fields(...) cannot list: T{...} counts a "
                "whole base as one member, so a base member left out could not be told (nor one named through "
                "T, as fields<T, M...>(&T::base_member) does, from T's own); describe the base as a member "
                "struct, or list T's own members with vpci::fields_with_gaps(...) to keep the base off the wire");
  static_assert(members_assignable<T>(),
                "vpci::block<Id, T>: T has a const or reference member (listed or not), so it cannot be "
                "assigned: decoding fills in the members of a T{}, and a reference is not encodable (the peer "
                "cannot follow it); make the member a plain value, or keep it out of the payload type");
  static_assert(described_literal<T>(),
                "vpci::block<Id, T>: T (a struct with vpci_fields) is not a literal type, so vpci cannot see where "
                "its members live (whether two listed fields overlap, or the list leaves a member out): give T's "
                "constructors (and those of its members' types) constexpr, and make no member volatile");
  static_assert(fields_readable_at_compile_time<T>(),
                "vpci::block<Id, T>: T's vpci_fields is not constexpr, so vpci cannot read the list at compile "
                "time: declare it friend constexpr auto vpci_fields(vpci::type_tag<T>)");
  static_assert(shared_fields_diagnosed<T>());  // shared_fields_check speaks
  static_assert(members_countable<T>(),
                "vpci::block<Id, T>: the members of T cannot be counted, so vpci cannot tell whether the "
                "vpci_fields list leaves some out: T{...} takes no initializer for one of them (a member type "
                "whose constructors refuse both a bare and a braced initializer, or take it ambiguously); list T's fields with "
                "vpci::fields_with_gaps(...), which claims no completeness, or give the member a plainer type");
  static_assert(lists_every_member<T>(),
                "vpci::block<Id, T>: the vpci_fields list of T leaves out members of T (T{...} takes more "
                "initializers than it lists, or its fields leave room in T for another member); list every "
                "member, or use vpci::fields_with_gaps(...) to keep some off the wire deliberately (also for a "
                "gap made on purpose: alignas on a member, [[no_unique_address]])");
  static_assert(!lists_every_member<T>() || lists_whole_unions<T>(),
                "vpci::block<Id, T>: a field of T is a member of an anonymous union that is smaller than the "
                "union, or of an anonymous struct not listed whole (T{...} initializes more bytes than the "
                "vpci_fields list holds): the other bytes would not travel; list the union's largest member, "
                "and every member of an anonymous struct");
  static_assert(!lists_every_member<T>() || !lists_whole_unions<T>() || unions_weighed<T>(),
                "vpci::block<Id, T>: T holds an anonymous union (or a pointer) whose bytes vpci cannot weigh "
                "against the vpci_fields list (T is not an aggregate whose members each take a bare "
                "initializer), so a listed union member smaller than its union, whose other bytes would not "
                "travel, could not be told; list T's fields with vpci::fields_with_gaps(...), naming each "
                "union's largest member, or make T an aggregate of plain members");
};
// True when T has a wire layout. For a described struct that has none (also as an array's element), a
// union, or a type whose size is the host's, the failing rule's own static_assert has already spoken, so
// this is true to keep the generic message quiet.
template <class T>
consteval bool layout_diagnosed() {
  using element = std::remove_cv_t<wire_element_t<T>>;
  if constexpr (std::is_array_v<T> && encodable<T>) {
    return told<c_array_payload_check<T>>();
  } else if constexpr (encodable<T>) {
    return true;
  } else if constexpr (size_differs_between_hosts<T>) {
    return told<host_size_check<T>>();
  } else if constexpr (extended_integer<T>) {
    return told<extended_integer_check<T>>();
  } else if constexpr (unfixed_enum<T>) {
    return told<fixed_enum_check<T>>();
  } else if constexpr (is_address<T>) {
    return told<address_check<T>>();
  } else if constexpr (std::is_union_v<element>) {
    return told<union_check<element>>();
  } else if constexpr (described_struct<element> && unqualified<wire_element_t<T>>) {
    if constexpr (!std::is_same_v<element, T>) {
      return layout_diagnosed<element>();
    } else if constexpr (!listed_fields_follow_the_rules<T>()) {
      return told<listed_fields_check<T>>();
    } else if constexpr (!whole_list_follows_the_rules<T>()) {
      return told<field_list_check<T>>();
    } else {
      return false;
    }
  } else {
    return false;
  }
}

template <class T>
consteval std::size_t encoded_size_or_zero() {
  if constexpr (encodable<T>) {
    return codec<T>::size;
  } else {
    return 0;
  }
}

}  // namespace detail

// The number of bytes T occupies on the wire (0 when T has no wire layout).
template <class T>
inline constexpr std::size_t encoded_size = detail::encoded_size_or_zero<T>();

template <class T>
concept wire_encodable = detail::encodable<T>;

}  // namespace vpci
