// vpci::memory_config_space: a simulated function's configuration space in this process, with the register
// semantics of a real device (read-only, read-write and write-1-to-clear bits), a device-side write hook
// (the "doorbell" a simulated device services its registers from) and optional injected latency for the
// asynchronous operations, driven by any clock (tests use a manual clock, never sleeps).
//
// Two sides:
// - The driver side is the config_space_transport interface (read/write/async_read/async_write): what a
//   VF or PF driver sees. Writes go through the per-bit register kinds; reads return the stored bytes.
// - The device side (device_read/device_write/set_register_kind/set_write_mask/...) is the simulated
//   device itself: it bypasses the register kinds and never calls the hooks.
// - Write hooks: one replaceable hook (set_write_hook) and any number of added ones (add_write_hook), so
//   a PF serving a mailbox here and the user's own hook both see every driver-side write.
//
// Atomicity and threading: an in-process, single-threaded model. Every driver-side call performs all its
// aligned 1/2/4-byte accesses (config::for_each_access) back to back with nothing interleaved, so each
// access, and each whole call, is indivisible with respect to the device side and the hooks. The object is
// not thread-safe: use it from one thread (or one strand) only.
#pragma once

#include <chrono>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <span>
#include <stdexcept>
#include <type_traits>
#include <utility>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/basic_waitable_timer.hpp>
#include <boost/asio/execution_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/wait_traits.hpp>
#include <boost/system/error_code.hpp>

#include <vpci/config/access.hpp>
#include <vpci/error.hpp>
#include <vpci/transport/default_token.hpp>
#include <vpci/transport/concept.hpp>
#include <vpci/transport/traits.hpp>
#include <vpci/transport/detail/deferred_access.hpp>

namespace vpci {

// What a driver-side write does to a bit.
enum class register_kind {
  read_only,           // writes are ignored, as hardware ignores them
  read_write,          // writes store the written value
  write_one_to_clear,  // writing 1 clears the bit, writing 0 leaves it (status bits)
};

// Direction of one aligned access reported to an access observer.
enum class access_direction { read, write };

template <class Clock = std::chrono::steady_clock, class WaitTraits = boost::asio::wait_traits<Clock>>
class basic_memory_config_space {
 public:
  using executor_type = boost::asio::any_io_executor;
  using clock_type = Clock;
  using duration = typename Clock::duration;
  using timer_type = boost::asio::basic_waitable_timer<Clock, WaitTraits, executor_type>;
  // Synchronous accesses touch memory only (transport/traits.hpp).
  static constexpr bool nonblocking_access = true;

  // Called once per driver-side write call (sync or async) after all its bytes were applied, with the
  // range the call wrote. This is the device's doorbell: a simulated device services its registers here.
  using write_hook = std::function<void(std::size_t offset, std::size_t length)>;
  // Called for every naturally aligned access a driver-side call is split into, in order (tests use it
  // to see the config cycles a transfer becomes).
  using access_observer = std::function<void(access_direction direction, std::size_t offset, std::size_t width)>;

  // A zero-filled space of `size` bytes (256 or 4096; anything else throws std::invalid_argument), every
  // bit read-write until the device side says otherwise.
  basic_memory_config_space(executor_type executor, std::size_t size)
      : storage_(zeroed_storage(checked_size(size))), size_(size), executor_(std::move(executor)) {
    std::memset(read_write_bits(), 0xFF, size_);
    std::memset(plain_dword_bits(), 0xFF, size_ / 4 / 8);
  }
  ~basic_memory_config_space() {
    // One by one: a long list destroyed through its links would recurse once per hook.
    while (added_hooks_) added_hooks_ = std::move(added_hooks_->next);
  }

  template <class ExecutionContext>
    requires std::convertible_to<ExecutionContext&, boost::asio::execution_context&>
  basic_memory_config_space(ExecutionContext& context, std::size_t size)
      : basic_memory_config_space(executor_type(context.get_executor()), size) {}

  // Pending asynchronous operations and the hooks refer to this object: it neither copies nor moves.
  basic_memory_config_space(const basic_memory_config_space&) = delete;
  basic_memory_config_space& operator=(const basic_memory_config_space&) = delete;

  [[nodiscard]] executor_type get_executor() const noexcept { return executor_; }
  [[nodiscard]] std::size_t size() const noexcept { return size_; }

  // ---- driver side (config_space_transport) ----

  // Errors: vpci::errc::out_of_range (offset > size or length > size - offset), vpci::errc::invalid_argument
  // (zero length); nothing is transferred then. Returns the bytes transferred.
  std::size_t read(std::size_t offset, std::span<std::byte> buffer, boost::system::error_code& ec) {
    if (const errc e = config::check_access(size(), offset, buffer.size()); e != no_error) {
      ec = e;
      return 0;
    }
    (void)config::for_each_access(offset, buffer.size(), [&](std::size_t at, std::size_t width) {
      std::memcpy(buffer.data() + (at - offset), contents() + at, width);
      observe(access_direction::read, at, width);
      return no_error;
    });
    ec = {};
    return buffer.size();
  }

  // Same errors as read. Bits that are read-only are left as they are (the write still "succeeds" and
  // reports every byte transferred, as a config write to a read-only register does); write-1-to-clear
  // bits written with 1 are cleared. The write hook runs once afterwards with (offset, bytes.size()).
  // A write made from inside a hook or observer does not call the hooks again (no re-entry).
  std::size_t write(std::size_t offset, std::span<const std::byte> bytes, boost::system::error_code& ec) {
    if (const errc e = config::check_access(size(), offset, bytes.size()); e != no_error) {
      ec = e;
      return 0;
    }
    (void)config::for_each_access(offset, bytes.size(), [&](std::size_t at, std::size_t width) {
      // Checked per access: an observer may change the register kinds between two accesses.
      if (is_plain_read_write(at)) {
        std::memcpy(contents() + at, bytes.data() + (at - offset), width);
      } else {
        for (std::size_t i = at; i != at + width; ++i) store_through_register_kind(i, bytes[i - offset]);
      }
      observe(access_direction::write, at, width);
      return no_error;
    });
    ec = {};
    ring_write_hook(offset, bytes.size());
    return bytes.size();
  }

  // Completion signature: void(boost::system::error_code, std::size_t bytes_transferred).
  // Never completes inline. With no latency the access is performed in a function posted to the
  // handler's associated executor (default: this space's executor), immediately before the handler
  // runs; with a latency it is performed when the latency has elapsed. Errors: those of read(), and
  // vpci::errc::cancelled when the latency wait was cancelled (nothing transferred then).
  // Cancellation: terminal/partial/total while a latency is pending; none without latency (nothing waits).
  // `buffer` and this object must stay valid until the handler runs.
  template <class CompletionToken = vpci::default_completion_token_t<executor_type>>
  auto async_read(std::size_t offset, std::span<std::byte> buffer, CompletionToken&& token = CompletionToken{}) {
    return boost::asio::async_initiate<CompletionToken, void(boost::system::error_code, std::size_t)>(
        initiate_read{this}, token, offset, buffer);
  }

  // As async_read, for write(); the write hook runs when the access is performed.
  template <class CompletionToken = vpci::default_completion_token_t<executor_type>>
  auto async_write(std::size_t offset, std::span<const std::byte> bytes, CompletionToken&& token = CompletionToken{}) {
    return boost::asio::async_initiate<CompletionToken, void(boost::system::error_code, std::size_t)>(
        initiate_write{this}, token, offset, bytes);
  }

  // ---- device side: bypasses register kinds, never calls the hooks ----

  [[nodiscard]] errc device_read(std::size_t offset, std::span<std::byte> buffer) const noexcept {
    if (const errc e = config::check_access(size(), offset, buffer.size()); e != no_error) return e;
    std::memcpy(buffer.data(), contents() + offset, buffer.size());
    return no_error;
  }

  [[nodiscard]] errc device_write(std::size_t offset, std::span<const std::byte> bytes) noexcept {
    if (const errc e = config::check_access(size(), offset, bytes.size()); e != no_error) return e;
    std::memcpy(contents() + offset, bytes.data(), bytes.size());
    return no_error;
  }

  // Every bit of [offset, offset + length) becomes `kind`. Errors as read(); nothing changes then.
  [[nodiscard]] errc set_register_kind(std::size_t offset, std::size_t length, register_kind kind) noexcept {
    if (const errc e = config::check_access(size(), offset, length); e != no_error) return e;
    const std::byte all{0xFF};
    const std::byte none{0x00};
    for (std::size_t i = offset; i != offset + length; ++i) {
      read_write_bits()[i] = kind == register_kind::read_write ? all : none;
      write_one_to_clear_bits()[i] = kind == register_kind::write_one_to_clear ? all : none;
    }
    classify_dwords(offset, length);
    return no_error;
  }

  // Per bit, starting at `offset`: bits set in `mask` become read-write; bits clear in `mask` stop being
  // read-write (they are read-only unless they are write-1-to-clear).
  [[nodiscard]] errc set_write_mask(std::size_t offset, std::span<const std::byte> mask) noexcept {
    if (const errc e = config::check_access(size(), offset, mask.size()); e != no_error) return e;
    for (std::size_t i = 0; i != mask.size(); ++i) {
      read_write_bits()[offset + i] = mask[i];
      write_one_to_clear_bits()[offset + i] &= ~mask[i];
    }
    classify_dwords(offset, mask.size());
    return no_error;
  }

  // Per bit, starting at `offset`: bits set in `mask` become write-1-to-clear; bits clear in `mask` stop
  // being write-1-to-clear (they are read-only unless they are read-write).
  [[nodiscard]] errc set_write_one_to_clear_mask(std::size_t offset, std::span<const std::byte> mask) noexcept {
    if (const errc e = config::check_access(size(), offset, mask.size()); e != no_error) return e;
    for (std::size_t i = 0; i != mask.size(); ++i) {
      write_one_to_clear_bits()[offset + i] = mask[i];
      read_write_bits()[offset + i] &= ~mask[i];
    }
    classify_dwords(offset, mask.size());
    return no_error;
  }

  // The kind of one bit (bit 0..7 of the byte at `offset`); precondition: offset < size(), bit < 8.
  [[nodiscard]] register_kind kind_of_bit(std::size_t offset, unsigned bit) const noexcept {
    const std::byte selected{static_cast<unsigned char>(1U << bit)};
    if ((read_write_bits()[offset] & selected) != std::byte{0}) return register_kind::read_write;
    if ((write_one_to_clear_bits()[offset] & selected) != std::byte{0}) return register_kind::write_one_to_clear;
    return register_kind::read_only;
  }

  // Hooks may be replaced at any time, also from inside a hook (the replacement takes effect once the
  // running hook returns). An empty function removes the hook. A hook that throws propagates the exception
  // to the driver-side caller (sync) or out of the io_context's run (async); the bytes stay written.
  void set_write_hook(write_hook hook) { replace_callback(write_hook_, pending_write_hook_, std::move(hook)); }

  // More observers of driver-side writes, beside the one set_write_hook installs (a PF serving a mailbox in
  // this space, a logger, a test): each runs once per driver-side write call, after the set_write_hook one,
  // in the order they were added, with the same (offset, length) and the same no-re-entry rule. Hooks may
  // be added and removed at any time, also from inside a hook: a hook removed during a write is not called
  // again (one already running finishes), a hook added during a write runs from the next write on.
  // add_write_hook takes any callable with that signature (a write_hook too) and returns the id to remove
  // it with; an empty write_hook is stored but never called. remove_write_hook is false when `id` is not
  // added (never was, or already removed).
  template <class Hook>
    requires std::invocable<Hook&, std::size_t, std::size_t>
  write_hook_id add_write_hook(Hook hook) {
    auto node = std::make_unique<hook_of<Hook>>(std::move(hook));
    node->id = next_write_hook_id_++;
    std::unique_ptr<hook_node>* link = &added_hooks_;
    while (*link) link = &(*link)->next;
    *link = std::move(node);
    return (*link)->id;
  }
  bool remove_write_hook(write_hook_id id) noexcept {
    for (hook_node* node = added_hooks_.get(); node != nullptr; node = node->next.get()) {
      if (node->id != id || node->removed) continue;
      // A write in progress may be walking the list or running this very hook: leave a tombstone,
      // destroyed and unlinked after the write.
      node->removed = true;
      if (!in_callback_) drop_removed_write_hooks();
      return true;
    }
    return false;
  }
  void set_access_observer(access_observer observer) {
    replace_callback(access_observer_, pending_access_observer_, std::move(observer));
  }

  // Delay before each asynchronous access is performed and completed, measured on clock_type through a
  // timer of this space's executor. Zero (the default) means no timer: the operation is only posted.
  void set_latency(duration latency) noexcept { latency_ = latency; }
  [[nodiscard]] duration latency() const noexcept { return latency_; }

 private:
  // The contents, the read-write mask, the write-1-to-clear mask and the plain-dword bits, in one allocation.
  static std::unique_ptr<std::byte[]> zeroed_storage(std::size_t size) {
    return std::make_unique<std::byte[]>(3 * size + size / 4 / 8);
  }
  [[nodiscard]] std::byte* contents() noexcept { return storage_.get(); }
  [[nodiscard]] const std::byte* contents() const noexcept { return storage_.get(); }
  [[nodiscard]] std::byte* read_write_bits() noexcept { return storage_.get() + size_; }
  [[nodiscard]] const std::byte* read_write_bits() const noexcept { return storage_.get() + size_; }
  [[nodiscard]] std::byte* write_one_to_clear_bits() noexcept { return storage_.get() + 2 * size_; }
  [[nodiscard]] const std::byte* write_one_to_clear_bits() const noexcept { return storage_.get() + 2 * size_; }

  // An access to a dword whose every bit is read-write stores what is written without reading the masks
  // (two more cache lines per 64 bytes). One bit per dword, set when the dword is plain read-write; an
  // aligned access of at most 4 bytes lies inside one dword.
  [[nodiscard]] std::byte* plain_dword_bits() noexcept { return storage_.get() + 3 * size_; }
  [[nodiscard]] const std::byte* plain_dword_bits() const noexcept { return storage_.get() + 3 * size_; }
  [[nodiscard]] bool is_plain_read_write(std::size_t at) const noexcept {
    const std::size_t dword = at / 4;
    return ((plain_dword_bits()[dword / 8] >> (dword % 8)) & std::byte{1}) != std::byte{0};
  }
  void classify_dwords(std::size_t offset, std::size_t length) noexcept {
    if (length == 0) return;
    for (std::size_t dword = offset / 4; dword <= (offset + length - 1) / 4; ++dword) {
      bool plain = true;
      for (std::size_t i = 4 * dword; i != 4 * dword + 4; ++i)
        plain = plain && read_write_bits()[i] == std::byte{0xFF} && write_one_to_clear_bits()[i] == std::byte{0};
      const std::byte bit{static_cast<unsigned char>(1U << (dword % 8))};
      std::byte& bits = plain_dword_bits()[dword / 8];
      bits = plain ? bits | bit : bits & ~bit;
    }
  }

  static std::size_t checked_size(std::size_t size) {
    if (size != config::conventional_space_size && size != config::extended_space_size) {
      throw std::invalid_argument("vpci::memory_config_space: size must be 256 or 4096 bytes");
    }
    return size;
  }

  void store_through_register_kind(std::size_t at, std::byte value) noexcept {
    const std::byte writable = read_write_bits()[at];
    const std::byte cleared = value & write_one_to_clear_bits()[at];
    contents()[at] = ((contents()[at] & ~writable) | (value & writable)) & ~cleared;
  }

  // The replaceable hook and the observer are held through pointers, null when there is none: the
  // pointers fit in the object's first cache line, where two std::function objects would not.
  // A replacement set during a callback (of either kind) waits in `pending` (an empty function there
  // removes); the callback's end installs every waiting one, also when the callback throws, so the newest
  // setting of each is the one in place once no callback runs.
  struct callback_scope {
    basic_memory_config_space& self;
    ~callback_scope() {
      self.in_callback_ = false;
      install(self.write_hook_, self.pending_write_hook_);
      install(self.access_observer_, self.pending_access_observer_);
    }
    template <class Callback>
    static void install(std::unique_ptr<Callback>& current, std::unique_ptr<Callback>& pending) noexcept {
      if (!pending) return;
      if (*pending) {
        current = std::move(pending);
      } else {
        current.reset();
        pending.reset();
      }
    }
  };

  template <class Callback>
  void replace_callback(std::unique_ptr<Callback>& current, std::unique_ptr<Callback>& pending, Callback replacement) {
    if (in_callback_) {
      pending = std::make_unique<Callback>(std::move(replacement));
    } else {
      current = replacement ? std::make_unique<Callback>(std::move(replacement)) : nullptr;
    }
  }

  void observe(access_direction direction, std::size_t at, std::size_t width) {
    if (in_callback_ || !access_observer_) return;
    in_callback_ = true;
    callback_scope scope{*this};
    (*access_observer_)(direction, at, width);
  }

  void ring_write_hook(std::size_t offset, std::size_t length) {
    if (in_callback_ || (!added_hooks_ && !write_hook_)) return;
    in_callback_ = true;
    callback_scope scope{*this};
    if (write_hook_) (*write_hook_)(offset, length);
    // Hooks added during this write are linked after `last`; a removal during it only marks the node (see
    // remove_write_hook), so every node stays where it is until the walk ends.
    hook_node* last = added_hooks_.get();
    while (last != nullptr && last->next) last = last->next.get();
    for (hook_node* node = added_hooks_.get(); node != nullptr; node = node->next.get()) {
      if (!node->removed) node->call(offset, length);
      if (node == last) break;
    }
    drop_removed_write_hooks();
  }

  void drop_removed_write_hooks() noexcept {
    for (std::unique_ptr<hook_node>* link = &added_hooks_; *link;) {
      if ((*link)->removed) {
        *link = std::move((*link)->next);
      } else {
        link = &(*link)->next;
      }
    }
  }

  template <class Handler, class Access>
  void start(Handler&& handler, Access access) {
    using decayed_handler = std::decay_t<Handler>;
    if (latency_ <= duration::zero()) {
      boost::asio::post(executor_,
                        detail::deferred_access<decayed_handler, Access>(std::forward<Handler>(handler), access));
      return;
    }
    auto timer = std::make_unique<timer_type>(executor_, latency_);
    timer_type& waiting = *timer;
    waiting.async_wait(detail::deferred_access<decayed_handler, Access, timer_type>(std::forward<Handler>(handler),
                                                                                   access, std::move(timer)));
  }

  struct read_access {
    basic_memory_config_space* self;
    std::size_t offset;
    std::span<std::byte> buffer;
    std::size_t operator()(boost::system::error_code& ec) const { return self->read(offset, buffer, ec); }
  };
  struct write_access {
    basic_memory_config_space* self;
    std::size_t offset;
    std::span<const std::byte> bytes;
    std::size_t operator()(boost::system::error_code& ec) const { return self->write(offset, bytes, ec); }
  };

  struct initiate_read {
    basic_memory_config_space* self;
    using executor_type = basic_memory_config_space::executor_type;
    executor_type get_executor() const noexcept { return self->executor_; }
    template <class Handler>
    void operator()(Handler&& handler, std::size_t offset, std::span<std::byte> buffer) const {
      self->start(std::forward<Handler>(handler), read_access{self, offset, buffer});
    }
  };
  struct initiate_write {
    basic_memory_config_space* self;
    using executor_type = basic_memory_config_space::executor_type;
    executor_type get_executor() const noexcept { return self->executor_; }
    template <class Handler>
    void operator()(Handler&& handler, std::size_t offset, std::span<const std::byte> bytes) const {
      self->start(std::forward<Handler>(handler), write_access{self, offset, bytes});
    }
  };

  // An added hook and the callable it runs, in one allocation of one cache line for a callable of up to
  // 32 bytes (a PF's mailbox hook is one).
  struct alignas(64) hook_node {
    hook_node() = default;
    hook_node(const hook_node&) = delete;
    hook_node& operator=(const hook_node&) = delete;
    virtual ~hook_node() = default;
    virtual void call(std::size_t offset, std::size_t length) = 0;
    std::unique_ptr<hook_node> next;
    write_hook_id id = 0;
    bool removed = false;  // a tombstone until the write in progress ends
  };
  template <class Hook>
  struct hook_of final : hook_node {
    explicit hook_of(Hook h) : hook(std::move(h)) {}
    void call(std::size_t offset, std::size_t length) override {
      if constexpr (std::is_same_v<Hook, write_hook>) {
        if (!hook) return;
      }
      hook(offset, length);
    }
    Hook hook;
  };

  // The first 64 bytes hold everything a driver-side access touches besides the bytes (and the hooks and
  // observer it calls): a PF serving hundreds of these spaces touches each once per request, and every
  // cache line of it is then one more miss. The object is not aligned to a line on purpose: users keep
  // it in coroutine frames, which g++ 12 and clang 14 align to 16 bytes only.
  std::unique_ptr<std::byte[]> storage_;
  std::size_t size_;
  bool in_callback_ = false;
  std::unique_ptr<hook_node> added_hooks_;
  std::unique_ptr<access_observer> access_observer_;
  std::unique_ptr<write_hook> write_hook_;
  std::unique_ptr<write_hook> pending_write_hook_;
  std::unique_ptr<access_observer> pending_access_observer_;
  write_hook_id next_write_hook_id_ = 1;
  executor_type executor_;
  duration latency_ = duration::zero();
};

using memory_config_space = basic_memory_config_space<>;

static_assert(config_space_transport<memory_config_space>);
static_assert(nonblocking_transport_v<memory_config_space>);
static_assert(device_side_transport<memory_config_space>);
static_assert(write_protecting_transport<memory_config_space>);
static_assert(write_observing_transport<memory_config_space>);

}  // namespace vpci
