// Block storage and descriptors: block_buffer<N>, the checked views, and block<Id, T> with its
// field-by-field little-endian layout, shown on a realistic IHV descriptor set.
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <ostream>
#include <span>
#include <vector>

#include <vpci/core.hpp>

#include "test_support.hpp"

BOOST_AUTO_TEST_SUITE(block_test)

using namespace vpci;

namespace {

// Bytes as numbers, so Boost.Test can compare and print them element by element.
std::vector<unsigned> octets(std::span<const std::byte> bytes) {
  std::vector<unsigned> out;
  out.reserve(bytes.size());
  for (std::byte b : bytes) out.push_back(std::to_integer<unsigned>(b));
  return out;
}

template <std::size_t N>
std::array<std::byte, N> filled(std::uint8_t value) {
  std::array<std::byte, N> out;
  out.fill(std::byte{value});
  return out;
}

template <class... V>
constexpr std::array<std::byte, sizeof...(V)> bytes_of(V... v) {
  return {static_cast<std::byte>(v)...};
}

// ---- The descriptor set an IHV would write once, in a header both drivers include. ----

// Block 0: the VF's permanent MAC address.
using mac_address = std::array<std::uint8_t, 6>;
using mac_block = block<0, mac_address>;

// Block 1: VF configuration, versioned, with feature flags.
enum class vf_flags : std::uint16_t { none = 0, trusted = 1, spoof_check = 2, link_up = 4 };
constexpr vf_flags operator|(vf_flags a, vf_flags b) {
  return static_cast<vf_flags>(static_cast<std::uint16_t>(static_cast<std::uint16_t>(a) | static_cast<std::uint16_t>(b)));
}
struct vf_config {
  std::uint16_t version;
  vf_flags flags;
  std::uint32_t mtu;
  std::uint16_t vlan;
  std::uint8_t queue_pairs;
  bool rss_enabled;
  friend constexpr auto vpci_fields(type_tag<vf_config>) {
    return fields(&vf_config::version, &vf_config::flags, &vf_config::mtu, &vf_config::vlan, &vf_config::queue_pairs,
                  &vf_config::rss_enabled);
  }
  friend constexpr bool operator==(const vf_config&, const vf_config&) = default;
};
using vf_config_block = block<1, vf_config>;

// Block 2: a 128-byte statistics frame like mlx5's {sequence u16, offset u16, 4 reserved, 120 data}.
struct stats_frame {
  std::uint16_t sequence;
  std::uint16_t offset;
  std::uint32_t reserved;
  std::uint8_t data[120];
  friend constexpr auto vpci_fields(type_tag<stats_frame>) {
    return fields(&stats_frame::sequence, &stats_frame::offset, &stats_frame::reserved, &stats_frame::data);
  }
};
using stats_block = block<2, stats_frame>;

// The highest ID a descriptor may carry.
using last_block = block<63, std::uint32_t>;

// ---- Types exercising the layout rules. ----

// Padding in memory (sizeof 8), none on the wire (5 bytes).
struct padded {
  std::uint8_t a;
  std::uint32_t b;
  friend constexpr auto vpci_fields(type_tag<padded>) { return fields(&padded::a, &padded::b); }
  friend constexpr bool operator==(const padded&, const padded&) = default;
};

// Wire order is the order of the field list, not the declaration order.
struct reordered {
  std::uint8_t first_declared;
  std::uint16_t second_declared;
  friend constexpr auto vpci_fields(type_tag<reordered>) {
    return fields(&reordered::second_declared, &reordered::first_declared);
  }
};

struct floats {
  float f;
  double d;
  friend constexpr auto vpci_fields(type_tag<floats>) { return fields(&floats::f, &floats::d); }
};

struct signed_fields {
  std::int8_t i8;
  std::int16_t i16;
  std::int32_t i32;
  std::int64_t i64;
  friend constexpr auto vpci_fields(type_tag<signed_fields>) {
    return fields(&signed_fields::i8, &signed_fields::i16, &signed_fields::i32, &signed_fields::i64);
  }
  friend constexpr bool operator==(const signed_fields&, const signed_fields&) = default;
};

struct inner {
  std::uint16_t a;
  bool b;
  friend constexpr auto vpci_fields(type_tag<inner>) { return fields(&inner::a, &inner::b); }
  friend constexpr bool operator==(const inner&, const inner&) = default;
};
struct outer {
  inner head;
  inner pair[2];
  std::array<std::uint16_t, 2> words;
  std::byte tag;
  std::uint32_t tail;
  friend constexpr auto vpci_fields(type_tag<outer>) {
    return fields(&outer::head, &outer::pair, &outer::words, &outer::tag, &outer::tail);
  }
};

struct c_arrays {
  std::uint16_t values[3];
  std::uint8_t grid[2][2];
  friend constexpr auto vpci_fields(type_tag<c_arrays>) { return fields(&c_arrays::values, &c_arrays::grid); }
};

// A member left out of the list is no wire layout (vpci::block says which rule; tests/compile_fail);
// fields_with_gaps keeps members off the wire on purpose.
struct unlisted {
  std::uint32_t sent;
  std::uint32_t forgotten;
  friend constexpr auto vpci_fields(type_tag<unlisted>) { return fields(&unlisted::sent); }
};
struct gapped {
  std::uint16_t sent;
  std::uint32_t local_cache = 0xCAFE;  // never on the wire: the decoder's own default
  std::uint8_t also_sent;
  friend constexpr auto vpci_fields(type_tag<gapped>) {
    return fields_with_gaps(&gapped::sent, &gapped::also_sent);
  }
};

// Members the count of T{...} once stopped at, taking the members after them for absent.
inline std::uint32_t shared_counter = 0;
struct behind_a_reference {
  std::uint32_t head;
  std::uint32_t& counter = shared_counter;
  std::uint32_t tail;  // was never sent
  friend constexpr auto vpci_fields(type_tag<behind_a_reference>) { return fields(&behind_a_reference::head); }
};
// A constructor template taking any argument made the count's conversion ambiguous.
struct any_wrapper {
  std::uint32_t value{};
  any_wrapper() = default;
  template <class U>
  constexpr any_wrapper(U v) : value(static_cast<std::uint32_t>(v)) {}
  friend constexpr auto vpci_fields(type_tag<any_wrapper>) { return fields(&any_wrapper::value); }
};
struct behind_a_constructor_template {
  std::uint32_t head;
  any_wrapper rate;     // was never sent
  std::uint32_t queues; // was never sent
  friend constexpr auto vpci_fields(type_tag<behind_a_constructor_template>) {
    return fields(&behind_a_constructor_template::head);
  }
};
struct constructor_template_listed {
  std::uint16_t head;
  any_wrapper rate;
  friend constexpr auto vpci_fields(type_tag<constructor_template_listed>) {
    return fields(&constructor_template_listed::head, &constructor_template_listed::rate);
  }
};
// Two members of one union took two of the count's initializers and stood for `head`, never sent.
struct union_members_listed {
  std::uint32_t head;
  union {
    std::uint32_t raw;
    float ratio;
  };
  std::uint32_t tail;
  friend constexpr auto vpci_fields(type_tag<union_members_listed>) {
    return fields(&union_members_listed::raw, &union_members_listed::ratio, &union_members_listed::tail);
  }
};
struct union_member_listed_once {
  std::uint16_t head;
  union {
    std::uint32_t raw;
    float ratio;
  };
  std::uint8_t tail;
  friend constexpr auto vpci_fields(type_tag<union_member_listed_once>) {
    return fields(&union_member_listed_once::head, &union_member_listed_once::raw, &union_member_listed_once::tail);
  }
};
// Structs T{...} cannot count (constructors) still encode when the checks can see every byte listed.
// No padding, a base's members all listed through T: the byte count passes.
struct counted_header {
  std::uint8_t version;
  std::uint8_t flags;
};
struct based_with_constructor : counted_header {
  constexpr based_with_constructor() : counted_header{}, mtu{} {}
  std::uint16_t mtu;
  friend constexpr auto vpci_fields(type_tag<based_with_constructor>) {
    return fields<based_with_constructor, std::uint8_t, std::uint8_t, std::uint16_t>(
        &based_with_constructor::version, &based_with_constructor::flags, &based_with_constructor::mtu);
  }
};
// A union whose members have one size and no padding: every byte of T is a listed field's.
struct union_of_one_size_with_constructor {
  constexpr union_of_one_size_with_constructor() : raw{}, tail{} {}
  union {
    std::uint32_t raw;
    std::int32_t signed_raw;
  };
  std::uint32_t tail;
  friend constexpr auto vpci_fields(type_tag<union_of_one_size_with_constructor>) {
    return fields(&union_of_one_size_with_constructor::raw, &union_of_one_size_with_constructor::tail);
  }
};
// Padding and a float, but no union: nothing to weigh.
struct padded_with_constructor {
  constexpr padded_with_constructor() : flag{}, ratio{} {}
  std::uint8_t flag;
  float ratio;
  friend constexpr auto vpci_fields(type_tag<padded_with_constructor>) {
    return fields(&padded_with_constructor::flag, &padded_with_constructor::ratio);
  }
};
// A union (its own, checked as its own type) inside a listed member: weighed there, not here.
struct padded_around_a_member_with_a_union {
  constexpr padded_around_a_member_with_a_union() : flag{}, inner{} {}
  std::uint8_t flag;
  union_member_listed_once inner;
  friend constexpr auto vpci_fields(type_tag<padded_around_a_member_with_a_union>) {
    return fields(&padded_around_a_member_with_a_union::flag, &padded_around_a_member_with_a_union::inner);
  }
};

// Qualified members and payloads, and unions: no codec takes them.
struct with_const_member {
  const std::uint32_t version;
  std::uint16_t mtu;
  friend constexpr auto vpci_fields(type_tag<with_const_member>) {
    return fields(&with_const_member::version, &with_const_member::mtu);
  }
};
struct with_volatile_member {
  volatile std::uint32_t doorbell;
  friend constexpr auto vpci_fields(type_tag<with_volatile_member>) { return fields(&with_volatile_member::doorbell); }
};
struct with_reference_kept_off_the_wire {
  std::uint32_t& counter;
  std::uint16_t mtu;
  friend constexpr auto vpci_fields(type_tag<with_reference_kept_off_the_wire>) {
    return fields_with_gaps(&with_reference_kept_off_the_wire::mtu);
  }
};
union described_union {
  std::uint32_t raw;
  float ratio;
  friend constexpr auto vpci_fields(type_tag<described_union>) { return fields(&described_union::raw); }
};

// Enums: a fixed underlying type gives the size on every host; without one, the compiler picks it.
enum unfixed_state { unfixed_down, unfixed_up };
enum fixed_state : std::uint8_t { fixed_down, fixed_up };
enum class scoped_state { down, up };  // int, fixed
struct with_states {
  fixed_state fixed;
  scoped_state scoped;
  friend constexpr auto vpci_fields(type_tag<with_states>) { return fields(&with_states::fixed, &with_states::scoped); }
};
struct with_unfixed_state {
  std::uint8_t version;
  unfixed_state state;
  friend constexpr auto vpci_fields(type_tag<with_unfixed_state>) {
    return fields(&with_unfixed_state::version, &with_unfixed_state::state);
  }
};

// vpci::errc cannot be a payload (a read's result could not tell it from a failure); as a field it can.
struct reported_status {
  errc code;
  std::uint8_t attempts;
  friend constexpr auto vpci_fields(type_tag<reported_status>) {
    return fields(&reported_status::code, &reported_status::attempts);
  }
};

// Not a literal type: where its fields live cannot be asked in a constant expression.
struct stamp {
  stamp() {}  // not constexpr
  std::uint32_t value;
  friend constexpr auto vpci_fields(type_tag<stamp>) { return fields_with_gaps(&stamp::value); }
};

// A last member that takes no initializer: the count stops before it, the placement check does not.
struct strong_rate {
  std::uint32_t value;
  explicit constexpr strong_rate(std::uint32_t v) : value(v) {}
  template <class U>
  strong_rate(U) = delete;
};
struct behind_the_last_counted {
  std::uint32_t mtu;
  strong_rate limit{1000u};  // left out
  friend constexpr auto vpci_fields(type_tag<behind_the_last_counted>) { return fields(&behind_the_last_counted::mtu); }
};

// Not aggregates (a constructor, private members): checked by placement.
struct constructed_unlisted {
  std::uint16_t version = 1;
  std::uint32_t mtu = 1500;
  std::uint16_t vlan = 0;  // left out
  constexpr constructed_unlisted() = default;
  friend constexpr auto vpci_fields(type_tag<constructed_unlisted>) {
    return fields(&constructed_unlisted::version, &constructed_unlisted::mtu);
  }
};
class private_unlisted {
  std::uint32_t rx_ = 0;
  std::uint32_t tx_ = 0;  // left out
 public:
  constexpr std::uint32_t tx() const { return tx_; }
  friend constexpr auto vpci_fields(type_tag<private_unlisted>) { return fields(&private_unlisted::rx_); }
};
class private_listed {
  std::uint16_t rx_ = 0;
  std::uint32_t tx_ = 0;
 public:
  constexpr private_listed() = default;
  constexpr private_listed(std::uint16_t rx, std::uint32_t tx) : rx_(rx), tx_(tx) {}
  constexpr std::uint16_t rx() const { return rx_; }
  constexpr std::uint32_t tx() const { return tx_; }
  friend constexpr auto vpci_fields(type_tag<private_listed>) {
    return fields(&private_listed::rx_, &private_listed::tx_);
  }
};
struct unlisted_between {
  std::uint32_t head;
  std::uint32_t middle;  // left out: the room before tail
  std::uint32_t tail;
  friend constexpr auto vpci_fields(type_tag<unlisted_between>) {
    return fields(&unlisted_between::head, &unlisted_between::tail);
  }
};

// Places the placement check must not take for a member left out: padding, nested structs and C arrays,
// empty members, alignas on T; and what it must take for one (alignas on a member: fields_with_gaps).
struct nothing {
  friend constexpr auto vpci_fields(type_tag<nothing>) { return fields(); }
};
struct laid_out_naturally {
  std::uint8_t tag;
  inner pair[2];  // 6 bytes, aligned to 2
  nothing empty;
  std::uint8_t bytes[3];
  [[no_unique_address]] nothing shared;
  std::uint64_t wide;
  std::uint8_t last;
  friend constexpr auto vpci_fields(type_tag<laid_out_naturally>) {
    return fields(&laid_out_naturally::tag, &laid_out_naturally::pair, &laid_out_naturally::empty,
                  &laid_out_naturally::bytes, &laid_out_naturally::shared, &laid_out_naturally::wide,
                  &laid_out_naturally::last);
  }
};
struct alignas(16) over_aligned {
  std::uint32_t value;
  friend constexpr auto vpci_fields(type_tag<over_aligned>) { return fields(&over_aligned::value); }
};
struct aligned_member {
  std::uint8_t head;
  alignas(8) std::uint32_t value;
  friend constexpr auto vpci_fields(type_tag<aligned_member>) {
    return fields(&aligned_member::head, &aligned_member::value);
  }
};
struct aligned_member_with_gaps {
  std::uint8_t head;
  alignas(8) std::uint32_t value;
  friend constexpr auto vpci_fields(type_tag<aligned_member_with_gaps>) {
    return fields_with_gaps(&aligned_member_with_gaps::head, &aligned_member_with_gaps::value);
  }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(block_buffers)

BOOST_AUTO_TEST_CASE(capacity_and_initial_state) {
  static_assert(block_buffer<>::capacity() == 128);
  static_assert(block_buffer<1>::capacity() == 1);
  static_assert(block_buffer<6>::capacity_bytes == 6);
  block_buffer<6> buffer;
  BOOST_TEST(buffer.capacity() == 6u);
  BOOST_TEST(buffer.size() == 0u);
  BOOST_TEST(buffer.empty());
  BOOST_TEST(buffer.span().size() == 0u);
  BOOST_TEST(buffer.storage().size() == 6u);
  BOOST_TEST(buffer.storage().data() == buffer.data());
  BOOST_TEST(octets(buffer.storage()) == (std::vector<unsigned>{0, 0, 0, 0, 0, 0}));
}

BOOST_AUTO_TEST_CASE(assign_copies_and_sets_size) {
  block_buffer<6> buffer;
  const auto input = bytes_of(1, 2, 3);
  BOOST_TEST((buffer.assign(input) == no_error));
  BOOST_TEST(buffer.size() == 3u);
  BOOST_TEST(!buffer.empty());
  BOOST_TEST(octets(buffer.span()) == (std::vector<unsigned>{1, 2, 3}));
  BOOST_TEST(buffer.span().data() == buffer.data());
  const auto full = bytes_of(9, 8, 7, 6, 5, 4);
  BOOST_TEST((buffer.assign(full) == no_error));
  BOOST_TEST(octets(buffer.span()) == (std::vector<unsigned>{9, 8, 7, 6, 5, 4}));
  BOOST_TEST((buffer.assign({}) == no_error));
  BOOST_TEST(buffer.empty());
}

BOOST_AUTO_TEST_CASE(assign_beyond_capacity_is_refused_and_changes_nothing) {
  block_buffer<6> buffer;
  BOOST_TEST((buffer.assign(bytes_of(1, 2, 3)) == no_error));
  const auto too_long = bytes_of(0xA, 0xB, 0xC, 0xD, 0xE, 0xF, 0x10);
  BOOST_TEST((buffer.assign(too_long) == errc::invalid_length));
  BOOST_TEST(buffer.size() == 3u);
  BOOST_TEST(octets(buffer.storage()) == (std::vector<unsigned>{1, 2, 3, 0, 0, 0}));

  block_buffer<> largest;
  const auto block_plus_one = filled<129>(0x5A);
  BOOST_TEST((largest.assign(block_plus_one) == errc::invalid_length));
  BOOST_TEST(largest.size() == 0u);
  for (std::byte b : largest.storage()) BOOST_TEST(std::to_integer<unsigned>(b) == 0u);
  BOOST_TEST((largest.assign(std::span{block_plus_one}.first(128)) == no_error));
  BOOST_TEST(largest.size() == 128u);
}

BOOST_AUTO_TEST_CASE(resize_zero_fills_the_new_tail) {
  block_buffer<6> buffer;
  BOOST_TEST((buffer.assign(bytes_of(1, 2, 3, 4)) == no_error));
  BOOST_TEST((buffer.resize(1) == no_error));
  BOOST_TEST(octets(buffer.span()) == (std::vector<unsigned>{1}));
  // Growing again must not resurrect the old bytes 2, 3, 4.
  BOOST_TEST((buffer.resize(5) == no_error));
  BOOST_TEST(octets(buffer.span()) == (std::vector<unsigned>{1, 0, 0, 0, 0}));
  BOOST_TEST((buffer.resize(6) == no_error));
  BOOST_TEST(octets(buffer.span()) == (std::vector<unsigned>{1, 0, 0, 0, 0, 0}));
  BOOST_TEST((buffer.resize(0) == no_error));
  BOOST_TEST(buffer.empty());
}

BOOST_AUTO_TEST_CASE(resize_beyond_capacity_is_refused_and_changes_nothing) {
  block_buffer<6> buffer;
  BOOST_TEST((buffer.assign(bytes_of(7, 7)) == no_error));
  for (std::size_t length : {std::size_t{7}, std::size_t{129}, std::numeric_limits<std::size_t>::max()}) {
    BOOST_TEST((buffer.resize(length) == errc::invalid_length));
    BOOST_TEST(buffer.size() == 2u);
    BOOST_TEST(octets(buffer.storage()) == (std::vector<unsigned>{7, 7, 0, 0, 0, 0}));
  }
  block_buffer<> largest;
  BOOST_TEST((largest.resize(129) == errc::invalid_length));
  BOOST_TEST(largest.size() == 0u);
  BOOST_TEST((largest.resize(128) == no_error));
  BOOST_TEST(largest.size() == 128u);
}

BOOST_AUTO_TEST_CASE(equality_compares_live_bytes_only) {
  block_buffer<4> a;
  block_buffer<4> b;
  BOOST_TEST((a == b));
  BOOST_TEST((a.assign(bytes_of(1, 2, 3)) == no_error));
  BOOST_TEST((b.assign(bytes_of(1, 2, 9)) == no_error));
  BOOST_TEST(!(a == b));
  BOOST_TEST((a.resize(2) == no_error));
  BOOST_TEST((b.resize(2) == no_error));
  BOOST_TEST((a == b));  // the differing third byte is past the end
  BOOST_TEST((b.resize(1) == no_error));
  BOOST_TEST(!(a == b));  // same prefix, different length
  a.clear();
  BOOST_TEST(a.empty());
  BOOST_TEST(a.storage().size() == 4u);
}

BOOST_AUTO_TEST_CASE(usable_in_constant_expressions) {
  constexpr auto buffer = [] {
    block_buffer<4> b;
    (void)b.assign(bytes_of(0xAB, 0xCD));
    (void)b.resize(3);
    return b;
  }();
  static_assert(buffer.size() == 3);
  static_assert(buffer.data()[0] == std::byte{0xAB});
  static_assert(buffer.data()[1] == std::byte{0xCD});
  static_assert(buffer.data()[2] == std::byte{0});
  static_assert([] {
    block_buffer<2> b;
    return b.resize(3) == errc::invalid_length && b.size() == 0;
  }());
  BOOST_TEST(buffer.size() == 3u);
}

// le::copy, every block copy's one rule: the same bytes in constant expressions (a byte loop) and at run
// time (memmove on a host), a region moving down over itself as the block store's compaction moves one,
// and nothing touched for a zero length, null pointers included.
BOOST_AUTO_TEST_CASE(le_copy_copies_the_same_bytes_at_run_time_and_in_constant_expressions) {
  static_assert([] {
    std::array<std::byte, 5> out{};
    const auto in = bytes_of(1, 2, 3);
    le::copy(in, out.data() + 1);
    return out == bytes_of(0, 1, 2, 3, 0);
  }());

  std::array<std::byte, 131> out = filled<131>(0xEE);
  std::array<std::byte, 129> in{};
  for (std::size_t i = 0; i < in.size(); ++i) in[i] = static_cast<std::byte>(i + 1);
  le::copy(std::span<const std::byte>(in).subspan(1), out.data() + 2);
  BOOST_TEST(std::to_integer<unsigned>(out[1]) == 0xEEu);
  BOOST_TEST(octets(std::span<const std::byte>(out).subspan(2, 128)) ==
                 octets(std::span<const std::byte>(in).subspan(1)),
             boost::test_tools::per_element());
  BOOST_TEST(std::to_integer<unsigned>(out[130]) == 0xEEu);

  std::array<std::byte, 8> region = bytes_of(1, 2, 3, 4, 5, 6, 7, 8);
  le::copy(std::span<const std::byte>(region).subspan(3), region.data() + 1);
  BOOST_TEST(octets(region) == octets(bytes_of(1, 4, 5, 6, 7, 8, 7, 8)), boost::test_tools::per_element());

  le::copy(std::span<const std::byte>{}, nullptr);
  le::copy(std::span<const std::byte>(in).first(0), out.data());
  BOOST_TEST(std::to_integer<unsigned>(out[0]) == 0xEEu);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(block_views)

BOOST_AUTO_TEST_CASE(valid_lengths_are_1_to_128) {
  static_assert(!valid_block_length(0));
  static_assert(valid_block_length(1));
  static_assert(valid_block_length(128));
  static_assert(!valid_block_length(129));
  static_assert(!valid_block_length(0xFFFFFFFFu));
  BOOST_TEST(!valid_block_length(4096));
  BOOST_TEST(!valid_block_length(std::numeric_limits<std::size_t>::max()));
  // 4 GiB: checked on the length itself, since a span claiming 4 GiB over a smaller object is UB to build.
  if constexpr (sizeof(std::size_t) > 4) {
    const auto four_gib = static_cast<std::size_t>(std::uint64_t{1} << 32);
    BOOST_TEST(!valid_block_length(four_gib));
    BOOST_TEST(!valid_block_length(four_gib + 1));  // would wrap to 1 if truncated to 32 bits
    BOOST_TEST(!valid_block_length(four_gib + 128));
  }
}

BOOST_AUTO_TEST_CASE(read_only_view_checks_length) {
  std::array<std::byte, 4096> memory{};
  const std::span<const std::byte> all{memory};

  auto none = block_view::make(all.first(0));
  BOOST_TEST(!none.has_value());
  BOOST_TEST((none.error() == errc::invalid_length));
  auto null = block_view::make(std::span<const std::byte>{});
  BOOST_TEST((null.error() == errc::invalid_length));

  auto one = block_view::make(all.first(1));
  BOOST_TEST(one.has_value());
  BOOST_TEST(one->size() == 1u);
  BOOST_TEST(one->data() == memory.data());
  BOOST_TEST(one->bytes().data() == memory.data());

  auto full = block_view::make(all.subspan(7, 128));
  BOOST_TEST(full.has_value());
  BOOST_TEST(full->size() == 128u);
  BOOST_TEST(full->data() == memory.data() + 7);

  auto over = block_view::make(all.first(129));
  BOOST_TEST((over.error() == errc::invalid_length));
  // A whole PCIe configuration space is far too long for one block.
  auto page = block_view::make(all);
  BOOST_TEST((page.error() == errc::invalid_length));
}

BOOST_AUTO_TEST_CASE(mutable_view_checks_length_and_writes_through) {
  std::array<std::byte, 4096> memory{};
  const std::span<std::byte> all{memory};
  BOOST_TEST((mutable_block_view::make(all.first(0)).error() == errc::invalid_length));
  BOOST_TEST((mutable_block_view::make(all.first(129)).error() == errc::invalid_length));
  BOOST_TEST((mutable_block_view::make(all).error() == errc::invalid_length));

  auto one = mutable_block_view::make(all.first(1));
  BOOST_TEST(one.has_value());
  BOOST_TEST(one->size() == 1u);

  auto full = mutable_block_view::make(all.subspan(100, 128));
  BOOST_TEST(full.has_value());
  BOOST_TEST(full->size() == 128u);
  full->data()[0] = std::byte{0x42};
  full->bytes()[127] = std::byte{0x24};
  BOOST_TEST(std::to_integer<unsigned>(memory[100]) == 0x42u);
  BOOST_TEST(std::to_integer<unsigned>(memory[227]) == 0x24u);
  BOOST_TEST(std::to_integer<unsigned>(memory[228]) == 0u);
}

BOOST_AUTO_TEST_CASE(views_are_constexpr) {
  static constexpr std::array<std::byte, 130> memory{};
  static_assert(block_view::make(std::span{memory}.first(128)).has_value());
  static_assert(block_view::make(std::span{memory}.first(129)).error() == errc::invalid_length);
  static_assert(block_view::make(std::span{memory}.first(0)).error() == errc::invalid_length);
  BOOST_TEST(block_view::make(std::span{memory}.first(128)).has_value());
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(block_descriptors)

BOOST_AUTO_TEST_CASE(descriptor_properties) {
  static_assert(mac_block::id == block_id{0});
  static_assert(mac_block::id_value == 0);
  static_assert(mac_block::size == 6);
  static_assert(vf_config_block::id == block_id{1});
  static_assert(vf_config_block::size == 2 + 2 + 4 + 2 + 1 + 1);
  static_assert(stats_block::id == block_id{2});
  static_assert(stats_block::size == max_block_size);
  static_assert(last_block::id == block_id{63});
  static_assert(last_block::size == 4);
  static_assert(std::is_same_v<stats_block::buffer_type, block_buffer<128>>);
  static_assert(std::is_same_v<vf_config_block::value_type, vf_config>);
  static_assert(block_descriptor<mac_block>);
  static_assert(block_descriptor<stats_block>);
  static_assert(!block_descriptor<vf_config>);
  static_assert(!block_descriptor<block_buffer<4>>);
  static_assert(encoded_size<padded> == 5 && sizeof(padded) == 8);
  static_assert(encoded_size<outer> == 3 + 6 + 4 + 1 + 4);
  static_assert(encoded_size<c_arrays> == 6 + 4);
  static_assert(encoded_size<floats> == 12);
  static_assert(encoded_size<signed_fields> == 15);
  static_assert(encoded_size<bool> == 1);
  static_assert(encoded_size<std::byte> == 1);
  static_assert(wire_encodable<vf_config>);
  static_assert(!wire_encodable<void*>);
  static_assert(encoded_size<void*> == 0);
  struct undescribed {
    int x;
  };
  static_assert(!wire_encodable<undescribed>);
  BOOST_TEST(stats_block::size == 128u);
}

BOOST_AUTO_TEST_CASE(mac_block_encodes_six_bytes_in_order) {
  const mac_address mac{0x00, 0x15, 0x5D, 0x01, 0x02, 0xFE};
  std::array<std::byte, 6> out = filled<6>(0xAA);
  mac_block::encode(mac, std::span<std::byte, 6>{out});
  BOOST_TEST(octets(out) == (std::vector<unsigned>{0x00, 0x15, 0x5D, 0x01, 0x02, 0xFE}));
  auto back = mac_block::decode(out);
  BOOST_TEST(back.has_value());
  BOOST_TEST((*back == mac));
}

BOOST_AUTO_TEST_CASE(vf_config_block_exact_bytes_and_round_trip) {
  const vf_config cfg{2, vf_flags::trusted | vf_flags::link_up, 9000, 100, 4, true};
  const auto buffer = vf_config_block::to_buffer(cfg);
  BOOST_TEST(buffer.size() == 12u);
  BOOST_TEST(octets(buffer.span()) == (std::vector<unsigned>{0x02, 0x00,              // version
                                                             0x05, 0x00,              // flags
                                                             0x28, 0x23, 0x00, 0x00,  // mtu 9000
                                                             0x64, 0x00,              // vlan 100
                                                             0x04,                    // queue pairs
                                                             0x01}));                 // rss
  auto back = vf_config_block::decode(buffer.span());
  BOOST_TEST(back.has_value());
  BOOST_TEST((*back == cfg));
}

BOOST_AUTO_TEST_CASE(stats_frame_is_exactly_128_bytes) {
  stats_frame frame{};
  frame.sequence = 0x0102;
  frame.offset = 0x0378;
  frame.reserved = 0;
  for (std::size_t i = 0; i < 120; ++i) frame.data[i] = static_cast<std::uint8_t>(0x80 + i);
  std::array<std::byte, 128> out = filled<128>(0xAA);
  stats_block::encode(frame, std::span<std::byte, 128>{out});
  std::vector<unsigned> expected{0x02, 0x01, 0x78, 0x03, 0x00, 0x00, 0x00, 0x00};
  for (unsigned i = 0; i < 120; ++i) expected.push_back((0x80 + i) & 0xFFu);
  BOOST_TEST(octets(out) == expected);

  auto back = stats_block::decode(out);
  BOOST_TEST(back.has_value());
  BOOST_TEST(back->sequence == 0x0102u);
  BOOST_TEST(back->offset == 0x0378u);
  BOOST_TEST(back->reserved == 0u);
  BOOST_TEST(std::memcmp(back->data, frame.data, 120) == 0);
}

BOOST_AUTO_TEST_CASE(padding_is_not_encoded) {
  const padded value{0x11, 0xAABBCCDD};
  const auto buffer = block<5, padded>::to_buffer(value);
  BOOST_TEST(octets(buffer.span()) == (std::vector<unsigned>{0x11, 0xDD, 0xCC, 0xBB, 0xAA}));
  auto back = block<5, padded>::decode(buffer.span());
  BOOST_TEST(back.has_value());
  BOOST_TEST((*back == value));
}

BOOST_AUTO_TEST_CASE(wire_order_follows_the_field_list) {
  const reordered value{0x11, 0x3322};
  const auto buffer = block<6, reordered>::to_buffer(value);
  BOOST_TEST(octets(buffer.span()) == (std::vector<unsigned>{0x22, 0x33, 0x11}));
}

BOOST_AUTO_TEST_CASE(signed_integers_are_twos_complement_little_endian) {
  const signed_fields value{-1, -2, -0x12345678, std::numeric_limits<std::int64_t>::min()};
  const auto buffer = block<7, signed_fields>::to_buffer(value);
  BOOST_TEST(octets(buffer.span()) == (std::vector<unsigned>{0xFF,                                            // -1
                                                             0xFE, 0xFF,                                      // -2
                                                             0x88, 0xA9, 0xCB, 0xED,                          // -0x12345678
                                                             0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80}));  // min
  auto back = block<7, signed_fields>::decode(buffer.span());
  BOOST_TEST(back.has_value());
  BOOST_TEST((*back == value));
}

BOOST_AUTO_TEST_CASE(float_fields_are_ieee754_little_endian) {
  const floats value{-2.5f, 1.0};
  const auto buffer = block<8, floats>::to_buffer(value);
  BOOST_TEST(octets(buffer.span()) == (std::vector<unsigned>{0x00, 0x00, 0x20, 0xC0,  // -2.5f = 0xC0200000
                                                             0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xF0, 0x3F}));
  auto back = block<8, floats>::decode(buffer.span());
  BOOST_TEST(back.has_value());
  BOOST_TEST(back->f == -2.5f);
  BOOST_TEST(back->d == 1.0);
  // Bit patterns survive exactly (negative zero, a NaN payload).
  const floats odd{-0.0f, std::bit_cast<double>(std::uint64_t{0x7FF8000000000123})};
  auto odd_back = block<8, floats>::decode(block<8, floats>::to_buffer(odd).span());
  BOOST_TEST(odd_back.has_value());
  BOOST_TEST(std::bit_cast<std::uint32_t>(odd_back->f) == 0x80000000u);
  BOOST_TEST(std::bit_cast<std::uint64_t>(odd_back->d) == 0x7FF8000000000123u);
}

BOOST_AUTO_TEST_CASE(nested_structs_and_arrays) {
  outer value{};
  value.head = {0x0102, true};
  value.pair[0] = {0x0304, false};
  value.pair[1] = {0x0506, true};
  value.words = {0x0708, 0x090A};
  value.tag = std::byte{0xEE};
  value.tail = 0x0B0C0D0E;
  const auto buffer = block<9, outer>::to_buffer(value);
  BOOST_TEST(octets(buffer.span()) == (std::vector<unsigned>{0x02, 0x01, 0x01,                         // head
                                                             0x04, 0x03, 0x00, 0x06, 0x05, 0x01,       // pair
                                                             0x08, 0x07, 0x0A, 0x09,                   // words
                                                             0xEE,                                     // tag
                                                             0x0E, 0x0D, 0x0C, 0x0B}));                // tail
  auto back = block<9, outer>::decode(buffer.span());
  BOOST_TEST(back.has_value());
  BOOST_TEST((back->head == value.head));
  BOOST_TEST((back->pair[0] == value.pair[0]));
  BOOST_TEST((back->pair[1] == value.pair[1]));
  BOOST_TEST((back->words == value.words));
  BOOST_TEST(std::to_integer<unsigned>(back->tag) == 0xEEu);
  BOOST_TEST(back->tail == 0x0B0C0D0Eu);
}

BOOST_AUTO_TEST_CASE(a_field_list_must_name_every_member_unless_it_declares_gaps) {
  static_assert(!wire_encodable<unlisted>);
  static_assert(wire_encodable<outer> && wire_encodable<c_arrays>);  // C arrays count element by element
  static_assert(encoded_size<gapped> == 3);
  const gapped value{0x0102, 0x11223344, 0x7F};
  const auto buffer = block<11, gapped>::to_buffer(value);
  const std::array<std::byte, 3> expected{std::byte{0x02}, std::byte{0x01}, std::byte{0x7F}};
  BOOST_TEST((std::equal(buffer.span().begin(), buffer.span().end(), expected.begin(), expected.end())));
  auto back = block<11, gapped>::decode(buffer.span());
  BOOST_REQUIRE(back.has_value());
  BOOST_TEST(back->sent == 0x0102u);
  BOOST_TEST(back->also_sent == 0x7Fu);
  BOOST_TEST(back->local_cache == 0xCAFEu);  // the gap is the decoder's T{}, not the sender's value
}

BOOST_AUTO_TEST_CASE(no_member_is_left_off_the_wire_behind_one_the_count_cannot_initialize) {
  static_assert(!wire_encodable<behind_a_reference>);
  static_assert(!wire_encodable<behind_a_constructor_template>);
  static_assert(!wire_encodable<union_members_listed>);
  // Complete lists of such structs still encode, member by member.
  static_assert(encoded_size<constructor_template_listed> == 2 + 4);
  static_assert(encoded_size<union_member_listed_once> == 2 + 4 + 1);
  constructor_template_listed with_template{0x0102, 0x03040506u};
  BOOST_TEST(octets(block<12, constructor_template_listed>::to_buffer(with_template).span()) ==
             (std::vector<unsigned>{0x02, 0x01, 0x06, 0x05, 0x04, 0x03}));
  union_member_listed_once with_union{};
  with_union.head = 0x0A0B;
  with_union.raw = 0x11223344u;
  with_union.tail = 0x7E;
  const auto buffer = block<13, union_member_listed_once>::to_buffer(with_union);
  BOOST_TEST(octets(buffer.span()) == (std::vector<unsigned>{0x0B, 0x0A, 0x44, 0x33, 0x22, 0x11, 0x7E}));
  auto back = block<13, union_member_listed_once>::decode(buffer.span());
  BOOST_REQUIRE(back.has_value());
  BOOST_TEST(back->raw == 0x11223344u);
  BOOST_TEST(back->tail == 0x7Eu);
}

BOOST_AUTO_TEST_CASE(structs_with_constructors_encode_when_every_byte_is_seen_listed) {
  static_assert(encoded_size<based_with_constructor> == 4);
  static_assert(encoded_size<union_of_one_size_with_constructor> == 8);
  static_assert(encoded_size<padded_with_constructor> == 5);
  static_assert(encoded_size<padded_around_a_member_with_a_union> == 1 + 7);
  based_with_constructor config;
  config.version = 2;
  config.flags = 0x7F;
  config.mtu = 0x05DC;
  const auto buffer = block<14, based_with_constructor>::to_buffer(config);
  BOOST_TEST(octets(buffer.span()) == (std::vector<unsigned>{0x02, 0x7F, 0xDC, 0x05}));
  auto back = block<14, based_with_constructor>::decode(buffer.span());
  BOOST_REQUIRE(back.has_value());
  BOOST_TEST(back->flags == 0x7Fu);  // sent: listed, so it travels
  union_of_one_size_with_constructor word;
  word.raw = 0x11223344u;
  word.tail = 0x55u;
  BOOST_TEST(octets(block<15, union_of_one_size_with_constructor>::to_buffer(word).span()) ==
             (std::vector<unsigned>{0x44, 0x33, 0x22, 0x11, 0x55, 0, 0, 0}));
}

BOOST_AUTO_TEST_CASE(const_volatile_reference_and_union_payloads_have_no_wire_layout) {
  static_assert(!wire_encodable<const std::uint32_t>);
  static_assert(!wire_encodable<volatile std::uint8_t>);
  static_assert(!wire_encodable<const std::uint8_t[4]>);
  static_assert(!wire_encodable<std::array<const std::uint16_t, 2>>);
  static_assert(!wire_encodable<with_const_member>);
  static_assert(!wire_encodable<with_volatile_member>);
  static_assert(!wire_encodable<with_reference_kept_off_the_wire>);
  // Listed, yet a union: which member is active is not known.
  BOOST_TEST((std::get<0>(vpci_fields(type_tag<described_union>{})) == &described_union::raw));
  static_assert(!wire_encodable<described_union>);
  BOOST_TEST(encoded_size<with_const_member> == 0u);
}

BOOST_AUTO_TEST_CASE(c_arrays_encode_element_by_element) {
  const c_arrays value{{0x0102, 0x0304, 0x0506}, {{0xA, 0xB}, {0xC, 0xD}}};
  const auto buffer = block<10, c_arrays>::to_buffer(value);
  BOOST_TEST(octets(buffer.span()) == (std::vector<unsigned>{0x02, 0x01, 0x04, 0x03, 0x06, 0x05, 0xA, 0xB, 0xC, 0xD}));
  auto back = block<10, c_arrays>::decode(buffer.span());
  BOOST_TEST(back.has_value());
  BOOST_TEST(back->values[2] == 0x0506u);
  BOOST_TEST(back->grid[1][0] == 0xCu);
}

BOOST_AUTO_TEST_CASE(decode_of_wrong_length_is_invalid_length) {
  const auto good = vf_config_block::to_buffer(vf_config{1, vf_flags::none, 1500, 0, 1, false});
  std::array<std::byte, 13> longer{};
  for (std::size_t i = 0; i < 12; ++i) longer[i] = good.data()[i];

  const vf_config sentinel{0xDEAD, vf_flags::spoof_check, 77, 7, 7, true};
  vf_config out = sentinel;
  for (std::span<const std::byte> wrong :
       {good.span().first(0), good.span().first(1), good.span().first(11), std::span<const std::byte>{longer}}) {
    auto r = vf_config_block::decode(wrong);
    if (r) out = *r;
    BOOST_TEST(!r.has_value());
    BOOST_TEST((r.error() == errc::invalid_length));
    BOOST_TEST((out == sentinel));
  }
  const auto frame = filled<129>(0);
  BOOST_TEST((stats_block::decode(frame).error() == errc::invalid_length));
  BOOST_TEST((stats_block::decode(std::span{frame}.first(127)).error() == errc::invalid_length));
  BOOST_TEST(stats_block::decode(std::span{frame}.first(128)).has_value());
}

BOOST_AUTO_TEST_CASE(bool_byte_other_than_0_or_1_is_bad_data) {
  auto buffer = vf_config_block::to_buffer(vf_config{3, vf_flags::trusted, 1500, 5, 2, true});
  const vf_config sentinel{0xBEEF, vf_flags::none, 1, 1, 1, false};
  for (unsigned bad : {2u, 0x80u, 0xFFu}) {
    buffer.data()[11] = static_cast<std::byte>(bad);
    vf_config out = sentinel;
    auto r = vf_config_block::decode(buffer.span());
    if (r) out = *r;
    BOOST_TEST(!r.has_value());
    BOOST_TEST((r.error() == errc::bad_data));
    BOOST_TEST((out == sentinel));
  }
  buffer.data()[11] = std::byte{0};
  auto ok = vf_config_block::decode(buffer.span());
  BOOST_TEST(ok.has_value());
  BOOST_TEST(!ok->rss_enabled);

  // A bad bool deep inside a nested array is caught too.
  auto nested = block<9, outer>::to_buffer(outer{});
  nested.data()[8] = std::byte{2};  // pair[1].b
  BOOST_TEST((block<9, outer>::decode(nested.span()).error() == errc::bad_data));
  nested.data()[8] = std::byte{1};
  BOOST_TEST((block<9, outer>::decode(nested.span()).has_value()));
  BOOST_TEST((block<11, bool>::decode(bytes_of(3)).error() == errc::bad_data));
  BOOST_TEST((block<11, std::array<bool, 3>>::decode(bytes_of(1, 0, 7)).error() == errc::bad_data));
}

BOOST_AUTO_TEST_CASE(encode_into_too_small_span_writes_nothing) {
  const vf_config cfg{2, vf_flags::link_up, 9000, 100, 4, true};
  std::array<std::byte, 12> room = filled<12>(0xAA);
  for (std::size_t size : {std::size_t{0}, std::size_t{1}, std::size_t{11}}) {
    BOOST_TEST((vf_config_block::encode(cfg, std::span<std::byte>{room}.first(size)) == errc::buffer_too_small));
    BOOST_TEST(octets(room) == std::vector<unsigned>(12, 0xAA));
  }
  // Exactly enough, and more than enough (the bytes past the block stay untouched).
  std::array<std::byte, 14> bigger = filled<14>(0xAA);
  BOOST_TEST((vf_config_block::encode(cfg, std::span<std::byte>{bigger}) == no_error));
  BOOST_TEST(octets(bigger) == (std::vector<unsigned>{0x02, 0x00, 0x04, 0x00, 0x28, 0x23, 0x00, 0x00, 0x64, 0x00, 0x04,
                                                      0x01, 0xAA, 0xAA}));
  BOOST_TEST((vf_config_block::encode(cfg, std::span<std::byte>{room}) == no_error));
  BOOST_TEST(octets(room) == octets(std::span{bigger}.first(12)));

  std::array<std::byte, 127> almost = filled<127>(0xAA);
  BOOST_TEST((stats_block::encode(stats_frame{}, almost) == errc::buffer_too_small));
  for (std::byte b : almost) BOOST_TEST(std::to_integer<unsigned>(b) == 0xAAu);
}

// Encoding and decoding are constant expressions: a block layout can be pinned at compile time.
constexpr std::array<std::byte, 12> compile_time_config() {
  std::array<std::byte, 12> out{};
  vf_config_block::encode(vf_config{2, vf_flags::trusted | vf_flags::spoof_check, 1500, 0x0FFF, 8, false},
                          std::span<std::byte, 12>{out});
  return out;
}
static_assert(compile_time_config() ==
              bytes_of(0x02, 0x00, 0x03, 0x00, 0xDC, 0x05, 0x00, 0x00, 0xFF, 0x0F, 0x08, 0x00));
static_assert(vf_config_block::decode(compile_time_config())->mtu == 1500);
static_assert(vf_config_block::decode(compile_time_config())->flags == (vf_flags::trusted | vf_flags::spoof_check));
static_assert(block<5, padded>::to_buffer(padded{0x11, 0x22334455}).size() == 5);
static_assert(block<5, padded>::to_buffer(padded{0x11, 0x22334455}).data()[4] == std::byte{0x22});
static_assert(block<8, floats>::to_buffer(floats{1.0f, 0.0}).data()[3] == std::byte{0x3F});
static_assert(block<11, bool>::decode(bytes_of(2)).error() == errc::bad_data);
static_assert(block<11, bool>::decode(bytes_of(1, 0)).error() == errc::invalid_length);

BOOST_AUTO_TEST_CASE(constexpr_evaluation) {
  // The static_asserts above are the test; this repeats one at run time so a regression shows as a failure
  // here as well as at compile time.
  BOOST_TEST(octets(compile_time_config()) ==
             (std::vector<unsigned>{0x02, 0x00, 0x03, 0x00, 0xDC, 0x05, 0x00, 0x00, 0xFF, 0x0F, 0x08, 0x00}));
}

BOOST_AUTO_TEST_CASE(bytes_do_not_depend_on_host_endianness) {
  // The encoding is defined as exact bytes; on a little-endian host it happens to equal the memory image,
  // on a big-endian host it is the reverse of it. Either way the wire bytes below are the same.
  const std::uint32_t word = 0x11223344;
  const auto encoded = block<12, std::uint32_t>::to_buffer(word);
  BOOST_TEST(octets(encoded.span()) == (std::vector<unsigned>{0x44, 0x33, 0x22, 0x11}));
  std::array<std::byte, 4> memory_image{};
  std::memcpy(memory_image.data(), &word, 4);
  if constexpr (std::endian::native == std::endian::little) {
    BOOST_TEST(octets(memory_image) == octets(encoded.span()));
  } else {
    BOOST_TEST(octets(memory_image) == (std::vector<unsigned>{0x11, 0x22, 0x33, 0x44}));
  }

  std::array<std::byte, 8> out{};
  le::store_u16(out.data(), 0xA1B2);
  BOOST_TEST(octets(std::span{out}.first(2)) == (std::vector<unsigned>{0xB2, 0xA1}));
  le::store_u32(out.data(), 0xA1B2C3D4);
  BOOST_TEST(octets(std::span{out}.first(4)) == (std::vector<unsigned>{0xD4, 0xC3, 0xB2, 0xA1}));
  le::store_u64(out.data(), 0x0102030405060708);
  BOOST_TEST(octets(out) == (std::vector<unsigned>{8, 7, 6, 5, 4, 3, 2, 1}));
  BOOST_TEST(le::load_u64(out.data()) == 0x0102030405060708u);
  BOOST_TEST(le::load_u32(out.data() + 4) == 0x01020304u);
  BOOST_TEST(le::load_u16(out.data() + 6) == 0x0102u);
  BOOST_TEST(le::load_u8(out.data() + 7) == 0x01u);
  // High bits survive the byte-wise load (no sign extension through std::byte promotions).
  const auto high = bytes_of(0xFF, 0xFE, 0xFD, 0xFC, 0xFB, 0xFA, 0xF9, 0xF8);
  BOOST_TEST(le::load_u64(high.data()) == 0xF8F9FAFBFCFDFEFFu);
  BOOST_TEST(le::load_u16(high.data()) == 0xFEFFu);
}

BOOST_AUTO_TEST_CASE(an_enum_needs_a_fixed_underlying_type) {
  static_assert(!wire_encodable<unfixed_state>);
  static_assert(!wire_encodable<unfixed_state[2]>);
  static_assert(!wire_encodable<std::array<unfixed_state, 2>>);
  static_assert(!wire_encodable<with_unfixed_state>);
  static_assert(encoded_size<fixed_state> == 1 && encoded_size<scoped_state> == 4);
  static_assert(encoded_size<with_states> == 1 + 4);
  // Every value of a fixed underlying type is a value of the enum: a peer's 7 decodes, without UB.
  const std::array<std::byte, 5> peer{std::byte{7}, std::byte{1}, std::byte{0}, std::byte{0}, std::byte{0}};
  auto back = block<14, with_states>::decode(peer);
  BOOST_REQUIRE(back.has_value());
  BOOST_TEST(static_cast<unsigned>(back->fixed) == 7u);
  BOOST_TEST((back->scoped == scoped_state::up));
}

BOOST_AUTO_TEST_CASE(an_errc_travels_as_a_field_of_a_described_struct) {
  static_assert(!result_can_hold<errc> && !result_can_hold<const errc> && result_can_hold<int>);
  static_assert(encoded_size<reported_status> == 4 + 1);
  const auto buffer = block<16, reported_status>::to_buffer({errc::bad_data, 3});
  const auto bad_data = static_cast<unsigned>(errc::bad_data);
  BOOST_TEST(octets(buffer.span()) == (std::vector<unsigned>{bad_data, 0, 0, 0, 3}));
  auto back = block<16, reported_status>::decode(buffer.span());
  BOOST_REQUIRE(back.has_value());
  BOOST_TEST((back->code == errc::bad_data));
  BOOST_TEST(back->attempts == 3u);
}

BOOST_AUTO_TEST_CASE(extended_integer_types_have_no_wire_layout) {
#ifdef __SIZEOF_INT128__
  __extension__ typedef __int128 int128;
  __extension__ typedef unsigned __int128 uint128;
  static_assert(!wire_encodable<int128> && !wire_encodable<uint128>);
  static_assert(!wire_encodable<uint128[2]> && !wire_encodable<std::array<int128, 1>>);
#endif
  static_assert(wire_encodable<char16_t> && wire_encodable<char32_t> && wire_encodable<char8_t>);
  BOOST_TEST(encoded_size<unsigned long long> == 8u);
}

BOOST_AUTO_TEST_CASE(a_described_struct_must_be_a_literal_type) {
  static_assert(!wire_encodable<stamp>);
  static_assert(wire_encodable<private_listed>);
  BOOST_TEST(encoded_size<stamp> == 0u);
}

BOOST_AUTO_TEST_CASE(a_member_left_out_is_found_by_where_the_listed_fields_lie) {
  static_assert(!wire_encodable<behind_the_last_counted>);  // after the last counted member
  static_assert(!wire_encodable<unlisted_between>);
  static_assert(!wire_encodable<constructed_unlisted>);  // not aggregates
  static_assert(!wire_encodable<private_unlisted>);
  static_assert(!wire_encodable<aligned_member>);        // a deliberate gap is declared...
  static_assert(encoded_size<aligned_member_with_gaps> == 1 + 4);  // ...so
  static_assert(encoded_size<laid_out_naturally> == 1 + 6 + 0 + 3 + 0 + 8 + 1);
  static_assert(encoded_size<over_aligned> == 4);
  const private_listed value{0x0102, 0x03040506u};
  const auto buffer = block<15, private_listed>::to_buffer(value);
  BOOST_TEST(octets(buffer.span()) == (std::vector<unsigned>{0x02, 0x01, 0x06, 0x05, 0x04, 0x03}));
  auto back = block<15, private_listed>::decode(buffer.span());
  BOOST_REQUIRE(back.has_value());
  BOOST_TEST(back->rx() == 0x0102u);
  BOOST_TEST(back->tx() == 0x03040506u);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE_END()  // block_test
