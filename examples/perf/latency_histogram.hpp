// vpci-perf's latency histogram: log-linear buckets over 64-bit values (nanoseconds), so that percentiles
// from nanoseconds to minutes cost a fixed 15 KiB and one increment per sample, with a relative error
// bounded by the sub-bucket resolution (1/32: about 3 %).
//
// Values below 32 each have their own bucket (exact). Above, every power of two [2^k, 2^(k+1)) is split
// into 32 equal sub-buckets of width 2^(k-5). A percentile reports the highest value of the bucket that
// holds the sample of that rank (never more than the largest value recorded), so it is never below the
// true sample and at most one bucket width above it; max and min are exact.
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>

namespace vpci_perf {

class latency_histogram {
 public:
  static constexpr unsigned sub_bits = 5;
  static constexpr std::uint64_t sub_count = std::uint64_t{1} << sub_bits;  // 32
  // Octave 0 is the exact range [0, 32); octave o >= 1 is [2^(o+4), 2^(o+5)).
  static constexpr std::size_t bucket_count = (64 - sub_bits + 1) * sub_count;

  // The bucket of `value`.
  [[nodiscard]] static constexpr std::size_t index_of(std::uint64_t value) noexcept {
    if (value < sub_count) return static_cast<std::size_t>(value);
    const unsigned top = static_cast<unsigned>(std::bit_width(value)) - 1;  // >= sub_bits
    const std::uint64_t sub = (value >> (top - sub_bits)) - sub_count;
    return static_cast<std::size_t>((top - sub_bits + 1) * sub_count + sub);
  }
  // The lowest and highest value of bucket `index`.
  [[nodiscard]] static constexpr std::uint64_t lowest_of(std::size_t index) noexcept {
    const std::uint64_t octave = index / sub_count;
    const std::uint64_t sub = index % sub_count;
    if (octave == 0) return sub;
    return (sub_count + sub) << (octave - 1);
  }
  [[nodiscard]] static constexpr std::uint64_t highest_of(std::size_t index) noexcept {
    const std::uint64_t octave = index / sub_count;
    if (octave == 0) return lowest_of(index);
    return lowest_of(index) + ((std::uint64_t{1} << (octave - 1)) - 1);
  }

  void record(std::uint64_t value) noexcept {
    ++buckets_[index_of(value)];
    ++count_;
    sum_ += value;
    min_ = std::min(min_, value);
    max_ = std::max(max_, value);
  }
  void merge(const latency_histogram& other) noexcept {
    for (std::size_t i = 0; i != bucket_count; ++i) buckets_[i] += other.buckets_[i];
    count_ += other.count_;
    sum_ += other.sum_;
    min_ = std::min(min_, other.min_);
    max_ = std::max(max_, other.max_);
  }
  void reset() noexcept { *this = latency_histogram{}; }

  // ceil(thousandths / 100000 * count) without overflow for any count: count = q * 100000 + r, so the
  // product is thousandths * q * 100000 + thousandths * r, and thousandths * r < 10^10.
  [[nodiscard]] static constexpr std::uint64_t rank_of(std::uint64_t thousandths, std::uint64_t count) noexcept {
    constexpr std::uint64_t whole = 100'000;  // 100 % in thousandths
    thousandths = std::min(thousandths, whole);
    return thousandths * (count / whole) + (thousandths * (count % whole) + whole - 1) / whole;
  }

  [[nodiscard]] std::uint64_t count() const noexcept { return count_; }
  [[nodiscard]] std::uint64_t min() const noexcept { return count_ == 0 ? 0 : min_; }
  [[nodiscard]] std::uint64_t max() const noexcept { return max_; }
  [[nodiscard]] double mean() const noexcept {
    return count_ == 0 ? 0.0 : static_cast<double>(sum_) / static_cast<double>(count_);
  }

  // The value at `percent` (0..100, to the nearest thousandth): the sample of rank
  // ceil(percent/100 * count) (at least 1), reported as its bucket's highest value, capped at max(). 0
  // when empty. The rank is computed in integers: in floating point 99.9 * 41000 / 100 is
  // 40959.00000000001, one rank too high.
  [[nodiscard]] std::uint64_t percentile(double percent) const noexcept {
    if (count_ == 0) return 0;
    percent = std::clamp(percent, 0.0, 100.0);
    const auto thousandths = static_cast<std::uint64_t>(std::llround(percent * 1000.0));
    const std::uint64_t rank = std::clamp<std::uint64_t>(rank_of(thousandths, count_), 1, count_);
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i != bucket_count; ++i) {
      seen += buckets_[i];
      if (seen >= rank) return std::min(highest_of(i), max_);
    }
    return max_;
  }

 private:
  std::array<std::uint64_t, bucket_count> buckets_{};
  std::uint64_t count_{0};
  std::uint64_t sum_{0};
  std::uint64_t min_{~std::uint64_t{0}};
  std::uint64_t max_{0};
};

}  // namespace vpci_perf
