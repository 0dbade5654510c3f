// Field-by-field little-endian wire layout of block payload types.
//
// A payload type is encodable when it is an integer, enum, bool, std::byte, float or double, an array
// (C array or std::array) of encodable elements, or a struct whose fields are listed once by a
// vpci_fields function found by argument-dependent lookup:
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
// compiles for one peer and not the other, or, with a codec per size, different bytes on each.
//
// The list names every member of an aggregate, each once, and only T's own members: one left out (a
// member added to the struct later, say) would silently never travel, one named twice would travel twice
// in place of another, and another type's member cannot be read from a T, so vpci::block rejects each at
// compile time ("leaves out members of T", "names a member of T twice", "field N of T is not a member of
// T"). Members are counted by how many initializers T{...} accepts (C arrays count their elements, as
// brace elision does). A struct that deliberately keeps members off the wire (a local cache, padding the
// peer never sees) says so with vpci::fields_with_gaps(...) instead of vpci::fields(...). Types that are
// not aggregates (constructors, private members) cannot be counted and are not checked.
//
// A member of a base class counts as another type's: describe the base as a member struct instead. An
// aggregate with a base class cannot be listed with vpci::fields(...) at all ("T has a base class"): T{...}
// takes a whole base as one initializer, so the count cannot tell which of the base's members a list
// left out, and C++20 cannot tell a base's member named through T (fields<T, M...>(&T::base_member),
// with explicit template arguments, converts it to an `M T::*`) from T's own. Without this rule such a
// list passed the count with one base member standing for the whole base, and the others never
// travelled. vpci::fields_with_gaps(...) may list T's own members of a struct with a base (the base stays
// off the wire); as it claims no completeness, a base member named through T there is not detected.
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
// an aggregate must be listed. The second form takes pointers that name different classes, so that one
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

template <class T>
  requires std::is_integral_v<T> && (!std::is_same_v<T, bool>) && (!size_differs_between_hosts<T>)
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
  requires std::is_enum_v<T> && encodable<std::underlying_type_t<T>>
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
  requires std::is_floating_point_v<T> && (!size_differs_between_hosts<T>) && (sizeof(T) == 4 || sizeof(T) == 8)
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

// ---- counting an aggregate's members: how many initializers T{...} accepts ----
struct any_initializer {
  template <class M>
  operator M() const noexcept;  // never defined: only asked about in unevaluated requires-expressions
};
template <std::size_t>
using any_initializer_at = any_initializer;

template <class T, class Indices>
struct brace_probe;
template <class T, std::size_t... I>
struct brace_probe<T, std::index_sequence<I...>> {
  static constexpr bool accepts = requires { T{any_initializer_at<I>{}...}; };
};
template <class T, std::size_t N>
inline constexpr bool accepts_initializers = brace_probe<T, std::make_index_sequence<N>>::accepts;

// The initializers a member takes in T{...}: a C array one per element (brace elision), anything else
// one (an initializer converts to it directly).
template <class M>
inline constexpr std::size_t initializers_of = std::is_array_v<M> ? sizeof(M) / sizeof(std::remove_all_extents_t<M>) : 1;

template <class T, class List = field_list_t<T>>
struct listed_initializers;
template <class T, class... Ptrs>
struct listed_initializers<T, std::tuple<Ptrs...>>
    : std::integral_constant<std::size_t, (initializers_of<typename member_type<Ptrs>::type> + ... + 0)> {};

// Converts only to a base class of T, so T{base_initializer<T>{}} compiles exactly when T's first
// aggregate element is a base (bases come first; no member can take it unless T has a base).
template <class T>
struct base_initializer {
  template <class Base>
    requires(std::is_base_of_v<Base, T> && !std::is_same_v<Base, T>)
  operator Base() const noexcept;  // never defined, as any_initializer's
};
template <class T>
inline constexpr bool aggregate_with_base = std::is_aggregate_v<T> && requires { T{base_initializer<T>{}}; };

// True unless T is an aggregate with a base class listed by fields(...): such a list either leaves the
// base out or names its members through T, and the count below cannot tell how many (see the note at
// the top).
template <class T>
consteval bool describes_no_base() {
  return fields_declared_with_gaps<T> || !aggregate_with_base<T>;
}

// True unless T is an aggregate whose fields(...) list leaves members out: T{...} then accepts more
// initializers than the listed members take.
template <class T>
consteval bool lists_every_member() {
  if constexpr (!std::is_aggregate_v<T> || fields_declared_with_gaps<T>) {
    return true;
  } else if constexpr (!describes_no_base<T>()) {
    return true;  // another rule speaks first
  } else {
    return !accepts_initializers<T, listed_initializers<T>::value + 1>;
  }
}

// True when every listed member pointer names a member of T itself.
template <class T, class List = field_list_t<T>>
struct lists_own_members;
template <class T, class... Ptrs>
struct lists_own_members<T, std::tuple<Ptrs...>>
    : std::bool_constant<(std::is_same_v<typename member_type<Ptrs>::of, T> && ...)> {};

// How many of `members` are `member` (only a pointer of the same type can be the same member).
template <class Ptr, class... Ptrs>
constexpr std::size_t occurrences(Ptr member, Ptrs... members) noexcept {
  std::size_t found = 0;
  ((found += [&] {
     if constexpr (std::is_same_v<Ptr, Ptrs>) return members == member ? 1u : 0u;
     else return 0u;
   }()),
   ...);
  return found;
}
// True when the list names no member twice.
template <class T>
consteval bool lists_each_member_once() {
  if constexpr (!lists_own_members<T>::value || !describes_no_base<T>()) {
    return true;  // another rule speaks first
  } else {
    return std::apply([](auto... members) { return ((occurrences(members, members...) == 1) && ...); },
                      listed_fields<T>());
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

template <class T>
  requires described_struct<T> && lists_own_members<T>::value && all_fields_encodable<T>::value &&
           (describes_no_base<T>()) && (lists_every_member<T>()) && (lists_each_member_once<T>())
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
// Each names the rule broken; the compiler's "required from" lines give T and N.
template <class T>
consteval bool layout_diagnosed();

// The one message for a type whose size is the host's, whether it is T itself or a field of T (the
// compiler's "required from" lines say which).
template <class M>
struct host_size_check {
  static_assert(!size_differs_between_hosts<M>,
                "vpci::block<Id, T>: T or a field of T is (or holds) a long double or wchar_t, whose size differs "
                "between hosts (long double: 16 bytes on x86-64 Linux, 8 on ARM and with MSVC; wchar_t: 4 on "
                "Linux, 2 on Windows), so a PF and a VF on different hosts would disagree on the block's bytes; "
                "refused on every host: use double, or a fixed-width integer type");
  static constexpr bool ok = !size_differs_between_hosts<M>;
};

template <class T, std::size_t N, class Ptr>
struct listed_field {
  using member = typename member_type<Ptr>::type;
  static_assert(std::is_same_v<typename member_type<Ptr>::of, T>,
                "vpci::block<Id, T>: field N of T is not a member of T (a member of another struct, or of a base "
                "of T: list T's own members, and describe a base as a member struct)");
  // A described struct that breaks a rule of its own says which (its own static_assert), and so does a
  // type whose size is the host's; any other member without a layout gets this message.
  static_assert(encodable<member> || described_struct<member> || size_differs_between_hosts<member>,
                "vpci::block<Id, T>: field N of T is not encodable (an integer, enum, bool, std::byte, float, "
                "double, an array of those, or a struct with its own vpci_fields)");
  static constexpr bool ok = std::is_same_v<typename member_type<Ptr>::of, T> && host_size_check<member>::ok &&
                             (encodable<member> || (described_struct<member> && layout_diagnosed<member>() && false));
};
template <class T, class Ptrs = field_list_t<T>, class Indices = std::make_index_sequence<std::tuple_size_v<Ptrs>>>
struct listed_fields_check;
template <class T, class... Ptrs, std::size_t... N>
struct listed_fields_check<T, std::tuple<Ptrs...>, std::index_sequence<N...>> {
  static constexpr bool ok = (listed_field<T, N, Ptrs>::ok && ...);
};
template <class T>
struct field_list_check {
  static_assert(describes_no_base<T>(),
                "vpci::block<Id, T>: T has a base class, which vpci::fields(...) cannot list: T{...} counts a "
                "whole base as one member, so a base member left out could not be told (nor one named through "
                "T, as fields<T, M...>(&T::base_member) does, from T's own); describe the base as a member "
                "struct, or list T's own members with vpci::fields_with_gaps(...) to keep the base off the wire");
  static_assert(lists_every_member<T>(),
                "vpci::block<Id, T>: the vpci_fields list of T leaves out members of T; list every member, or "
                "use vpci::fields_with_gaps(...) to keep some off the wire deliberately");
  static_assert(lists_each_member_once<T>(),
                "vpci::block<Id, T>: the vpci_fields list of T names a member of T twice; list each member once");
  static constexpr bool ok = describes_no_base<T>() && lists_every_member<T>() && lists_each_member_once<T>();
};
// True when T has a wire layout. For a described struct that has none, or a type whose size is the
// host's, the failing rule's own static_assert has already spoken, so this is true to keep the generic
// message quiet.
template <class T>
consteval bool layout_diagnosed() {
  if constexpr (described_struct<T>) {
    if constexpr (listed_fields_check<T>::ok) static_cast<void>(field_list_check<T>::ok);
    return true;
  } else if constexpr (size_differs_between_hosts<T>) {
    static_cast<void>(host_size_check<T>::ok);
    return true;
  } else {
    return encodable<T>;
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
