// vpci::result<T>: a value or an errc, for the freestanding core where exceptions are unavailable.
#pragma once

#include <type_traits>
#include <utility>

#include <vpci/protocol/errc.hpp>

namespace vpci {

// An errc is what a result holds when it fails, so a result cannot hold one as its value too:
// result<errc>{errc::bad_data} could be either.
template <class T>
inline constexpr bool result_can_hold = !std::is_same_v<std::remove_cv_t<T>, errc>;

template <class T>
class [[nodiscard]] result {
  static_assert(std::is_default_constructible_v<T>, "vpci::result<T> needs a default-constructible T");
  static_assert(result_can_hold<T>,
                "vpci::result<T>: T cannot be vpci::errc, the type of a result's error: a value and a failure "
                "would look the same");

 public:
  // Constrained so that result<errc> stops at the message above rather than at two identical constructors.
  constexpr result(T value) noexcept(std::is_nothrow_move_constructible_v<T>)
    requires result_can_hold<T>
      : value_(std::move(value)) {}
  constexpr result(errc error) noexcept : error_(error) {}

  [[nodiscard]] constexpr bool has_value() const noexcept { return error_ == no_error; }
  constexpr explicit operator bool() const noexcept { return has_value(); }
  [[nodiscard]] constexpr errc error() const noexcept { return error_; }

  // Precondition: has_value(). Reading the value of an error result yields a default T, never UB.
  [[nodiscard]] constexpr T& value() & noexcept { return value_; }
  [[nodiscard]] constexpr const T& value() const& noexcept { return value_; }
  [[nodiscard]] constexpr T&& value() && noexcept { return std::move(value_); }
  constexpr T* operator->() noexcept { return &value_; }
  constexpr const T* operator->() const noexcept { return &value_; }
  constexpr T& operator*() & noexcept { return value_; }
  constexpr const T& operator*() const& noexcept { return value_; }

 private:
  T value_{};
  errc error_{no_error};
};

template <>
class [[nodiscard]] result<void> {
 public:
  constexpr result() noexcept = default;
  constexpr result(errc error) noexcept : error_(error) {}
  [[nodiscard]] constexpr bool has_value() const noexcept { return error_ == no_error; }
  constexpr explicit operator bool() const noexcept { return has_value(); }
  [[nodiscard]] constexpr errc error() const noexcept { return error_; }

 private:
  errc error_{no_error};
};

}  // namespace vpci
