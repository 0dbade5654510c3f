// vpci::shm_config_space: a configuration space in POSIX shared memory that a device-side (PF) process and
// a driver-side (VF) process both map, with futex doorbells so each side sees the other's writes without
// polling. Linux only (futex).
//
// Mapping layout (one shared object, all little-endian words in host order, which is the same on both
// sides of one machine):
//   [0, 256)                  header: magic "vpci" 0x69637076, layout version, space size;
//                             to_device doorbell (sequence, waiter count) at 64, to_driver at 128
//                             (separate cache lines so the two directions do not share one)
//   [256, 256 + size)         the configuration space, byte n of the space at byte 256 + n
//   [256 + size, 256 + 2size) driver-side write mask, one bit per config-space bit (1 = writable)
//
// Atomicity: every naturally aligned access a transfer is split into (config::for_each_access) is one
// atomic operation on its containing 4-byte word: a dword read is one load, a dword write one store, and
// 1- and 2-byte writes (or masked writes) one compare-and-swap loop on the containing dword, so no access
// is ever torn and ThreadSanitizer sees no data race. A multi-dword transfer is not atomic as a whole: a
// reader may see it half done (the mailbox protocol's generation counter exists for that).
//
// Doorbells: two per space, to_device (driver wrote something) and to_driver (device wrote something).
// A doorbell is a 32-bit sequence number in the mapping: ringing increments it and, when the waiter count
// says someone sleeps, issues FUTEX_WAKE; waiting is FUTEX_WAIT (shared, not FUTEX_PRIVATE_FLAG, so it
// works across processes) until the sequence differs from the one the waiter last saw. The waiter count
// and the sequence are both updated and read sequentially consistent, so a ring never misses a sleeper and
// an idle doorbell costs no system call. A write through the transport rings the other side's doorbell
// automatically, once per write call after all its bytes are stored: a driver-role view rings to_device,
// a device-role view rings to_driver. Read a doorbell's sequence before acting, then wait for a change
// from it: no ring in between can be lost.
//
// Roles and access: a driver-role view's writes go through the shared write mask (bits not writable are
// left unchanged, as hardware ignores writes to read-only bits); a device-role view writes every bit and
// may set the mask. A read-only view refuses every write with vpci::errc::read_only (enforced in
// software; it may still wait for and ring doorbells).
//
// Threads: one view may be used from several threads at once for read/write/doorbells (all shared state is
// atomic); the asynchronous doorbell wait uses a helper thread per doorbell and view, started on first use.
#pragma once

#include <atomic>
#include <bit>
#include <cerrno>
#include <chrono>
#include <climits>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>

#include <fcntl.h>
#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/cancellation_type.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/system/error_code.hpp>
#include <boost/system/system_error.hpp>

#include <vpci/config/access.hpp>
#include <vpci/error.hpp>
#include <vpci/transport/concept.hpp>
#include <vpci/transport/traits.hpp>
#include <vpci/transport/detail/deferred_access.hpp>

namespace vpci {

enum class shm_role { device, driver };
enum class shm_doorbell { to_device, to_driver };
enum class shm_access { read_write, read_only };
// Whether a write rings the other side's doorbell. A writer that publishes several writes as one update
// (the PF answering a mailbox request) writes them with `none` and rings once at the end, so the peer
// wakes once, to a complete update, instead of once per register.
enum class shm_ring { after_write, none };

namespace detail {

struct shm_layout {
  static constexpr std::uint32_t magic = 0x69637076;  // "vpci" in memory order
  static constexpr std::uint32_t version = 1;
  static constexpr std::size_t magic_offset = 0;
  static constexpr std::size_t version_offset = 4;
  static constexpr std::size_t size_offset = 8;
  static constexpr std::size_t doorbell_offset[2] = {64, 128};  // indexed by shm_doorbell
  static constexpr std::size_t waiter_count_delta = 4;          // waiter count follows the sequence
  static constexpr std::size_t header_size = 256;
  static constexpr std::size_t total_size(std::size_t space_size) noexcept { return header_size + 2 * space_size; }
};

inline boost::system::error_code last_system_error() noexcept {
  return {errno, boost::system::system_category()};
}

// One mmap of the shared object, shared by every view of it in this process. The view that created a
// named object unlinks the name when the last view of its mapping goes away.
class shm_mapping {
 public:
  // `space_size` is validated by the caller and kept here: the size word in the shared header is never
  // trusted again, since the other process could change it.
  shm_mapping(void* base, std::size_t length, std::size_t space_size, std::string unlink_name) noexcept
      : base_(static_cast<std::byte*>(base)),
        length_(length),
        space_size_(space_size),
        unlink_name_(std::move(unlink_name)) {}
  shm_mapping(const shm_mapping&) = delete;
  shm_mapping& operator=(const shm_mapping&) = delete;
  ~shm_mapping() {
    ::munmap(base_, length_);
    if (!unlink_name_.empty()) ::shm_unlink(unlink_name_.c_str());
  }

  // The 4-byte word at `offset` into the mapping (4-aligned: the mapping is page-aligned).
  [[nodiscard]] std::uint32_t& word(std::size_t offset) const noexcept {
    return *reinterpret_cast<std::uint32_t*>(base_ + offset);
  }
  [[nodiscard]] std::size_t space_size() const noexcept { return space_size_; }

 private:
  std::byte* base_;
  std::size_t length_;
  std::size_t space_size_;
  std::string unlink_name_;
};

inline long futex_wait(std::uint32_t& word, std::uint32_t expected, const ::timespec* timeout) noexcept {
  return ::syscall(SYS_futex, &word, FUTEX_WAIT, expected, timeout, nullptr, 0);
}
inline void futex_wake_all(std::uint32_t& word) noexcept {
  ::syscall(SYS_futex, &word, FUTEX_WAKE, INT_MAX, nullptr, nullptr, 0);
}

// The sequence and waiter-count words of one doorbell.
class shm_doorbell_words {
 public:
  shm_doorbell_words(const shm_mapping& mapping, shm_doorbell which) noexcept
      : sequence_(&mapping.word(shm_layout::doorbell_offset[static_cast<int>(which)])),
        waiters_(&mapping.word(shm_layout::doorbell_offset[static_cast<int>(which)] + shm_layout::waiter_count_delta)) {}

  [[nodiscard]] std::uint32_t sequence() const noexcept {
    return std::atomic_ref<std::uint32_t>(*sequence_).load(std::memory_order_seq_cst);
  }
  void ring() const noexcept {
    std::atomic_ref<std::uint32_t>(*sequence_).fetch_add(1, std::memory_order_seq_cst);
    if (std::atomic_ref<std::uint32_t>(*waiters_).load(std::memory_order_seq_cst) != 0) futex_wake_all(*sequence_);
  }
  // Wakes sleepers without changing the sequence (they see no change and sleep again).
  void wake_all() const noexcept { futex_wake_all(*sequence_); }

  // Sleeps while the sequence equals `seen`, until `timeout` (nullptr: no limit), a wake or a signal.
  // The caller re-checks the sequence afterwards; spurious returns are harmless.
  void sleep_while_equal(std::uint32_t seen, const ::timespec* timeout) const noexcept {
    std::atomic_ref<std::uint32_t> waiters(*waiters_);
    waiters.fetch_add(1, std::memory_order_seq_cst);
    if (sequence() == seen) (void)futex_wait(*sequence_, seen, timeout);
    waiters.fetch_sub(1, std::memory_order_seq_cst);
  }

 private:
  std::uint32_t* sequence_;
  std::uint32_t* waiters_;
};

// Asynchronous doorbell waits of one view and one doorbell: a helper thread sleeps on the futex for all of
// them and posts each completion to its handler's executor, so no io_context thread ever blocks.
class shm_doorbell_waiter {
 public:
  struct pending {
    pending* next = nullptr;
    pending* prev = nullptr;
    std::uint32_t seen = 0;
    virtual void finish(boost::system::error_code ec, std::uint32_t sequence) = 0;
    virtual ~pending() = default;
  };

  shm_doorbell_waiter(std::shared_ptr<shm_mapping> mapping, shm_doorbell which)
      : mapping_(std::move(mapping)), words_(*mapping_, which) {}
  shm_doorbell_waiter(const shm_doorbell_waiter&) = delete;
  shm_doorbell_waiter& operator=(const shm_doorbell_waiter&) = delete;
  ~shm_doorbell_waiter() { shutdown(); }

  [[nodiscard]] std::uint32_t sequence() const noexcept { return words_.sequence(); }

  // Takes ownership of `op`: finishes it at once (posted) when the sequence already differs from its
  // `seen`, else when the doorbell rings, on cancellation or on shutdown.
  void add(pending* op) {
    std::unique_lock lock(mutex_);
    const std::uint32_t current = words_.sequence();
    if (stopping_ || current != op->seen) {
      lock.unlock();
      op->finish(stopping_ ? boost::system::error_code{errc::cancelled} : boost::system::error_code{}, current);
      return;
    }
    link(op);
    if (!thread_.joinable()) thread_ = std::thread([this] { run(); });
    idle_.notify_one();
  }

  // Removes `op` if it is still waiting (the caller then finishes it); false if it already finished.
  bool remove(pending* op) {
    std::lock_guard lock(mutex_);
    for (pending* p = head_; p != nullptr; p = p->next) {
      if (p == op) {
        unlink(op);
        return true;
      }
    }
    return false;
  }

  // Stops the helper thread and finishes every pending wait with vpci::errc::cancelled.
  void shutdown() {
    pending* abandoned = nullptr;
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
      abandoned = head_;
      head_ = nullptr;
    }
    idle_.notify_all();
    if (thread_.joinable()) {
      // The helper may have checked `stopping_` just before going to sleep on the futex, where no state
      // of ours can reach it without changing the shared sequence; so wake until it confirms it left.
      std::unique_lock lock(mutex_);
      while (!exited_) {
        words_.wake_all();
        exited_signal_.wait_for(lock, std::chrono::milliseconds(1));
      }
      lock.unlock();
      thread_.join();
    }
    finish_all(abandoned, errc::cancelled, words_.sequence());
  }

 private:
  void link(pending* op) noexcept {
    op->prev = nullptr;
    op->next = head_;
    if (head_ != nullptr) head_->prev = op;
    head_ = op;
  }
  void unlink(pending* op) noexcept {
    if (op->prev != nullptr) op->prev->next = op->next;
    else head_ = op->next;
    if (op->next != nullptr) op->next->prev = op->prev;
    op->next = op->prev = nullptr;
  }
  static void finish_all(pending* list, boost::system::error_code ec, std::uint32_t sequence) {
    while (list != nullptr) {
      pending* next = list->next;
      list->finish(ec, sequence);
      list = next;
    }
  }

  void run() {
    std::unique_lock lock(mutex_);
    while (!stopping_) {
      if (head_ == nullptr) {
        idle_.wait(lock);
        continue;
      }
      const std::uint32_t current = words_.sequence();
      pending* ready = nullptr;
      for (pending* p = head_; p != nullptr;) {
        pending* next = p->next;
        if (p->seen != current) {
          unlink(p);
          p->next = ready;
          ready = p;
        }
        p = next;
      }
      lock.unlock();
      if (ready != nullptr) {
        finish_all(ready, {}, current);
      } else {
        words_.sleep_while_equal(current, nullptr);
      }
      lock.lock();
    }
    exited_ = true;
    exited_signal_.notify_all();
  }

  std::shared_ptr<shm_mapping> mapping_;
  shm_doorbell_words words_;
  std::mutex mutex_;
  std::condition_variable idle_;
  std::condition_variable exited_signal_;
  pending* head_ = nullptr;
  bool stopping_ = false;
  bool exited_ = false;
  std::thread thread_;
};

}  // namespace detail

class shm_config_space {
 public:
  using executor_type = boost::asio::any_io_executor;
  // Synchronous accesses are atomic loads and stores on the mapping (transport/traits.hpp).
  static constexpr bool nonblocking_access = true;

  // Creates the named shared object (name as for shm_open, e.g. "/vpci-pf0"; it must not exist yet) with a
  // zero-filled space of `size` bytes (256 or 4096, else std::invalid_argument), every bit driver-writable.
  // This view owns the name: it is unlinked when the last view of this mapping in this process goes away.
  // Throws boost::system::system_error with the errno of a failing shm_open/ftruncate/mmap.
  static shm_config_space create(executor_type executor, const std::string& name, std::size_t size,
                                 shm_role role = shm_role::device) {
    check_size(size);
    const int fd = ::shm_open(name.c_str(), O_CREAT | O_EXCL | O_RDWR, 0600);
    if (fd < 0) throw boost::system::system_error(detail::last_system_error(), "shm_open " + name);
    const std::size_t length = detail::shm_layout::total_size(size);
    void* base = MAP_FAILED;
    if (::ftruncate(fd, static_cast<::off_t>(length)) == 0) {
      base = ::mmap(nullptr, length, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    }
    if (base == MAP_FAILED) {
      const auto ec = detail::last_system_error();
      ::close(fd);
      ::shm_unlink(name.c_str());
      throw boost::system::system_error(ec, "create shared config space " + name);
    }
    ::close(fd);
    auto mapping = std::make_shared<detail::shm_mapping>(base, length, size, name);
    initialize(*mapping, size);
    return shm_config_space(std::move(executor), std::move(mapping), role, shm_access::read_write);
  }

  // Maps an existing named object made by create(). Throws boost::system::system_error: the errno of a
  // failing shm_open/fstat/mmap, vpci::errc::bad_data when the object is not a vpci config space (wrong
  // magic or length), vpci::errc::revision_mismatch for another layout version.
  static shm_config_space open(executor_type executor, const std::string& name, shm_role role = shm_role::driver,
                               shm_access access = shm_access::read_write) {
    const int fd = ::shm_open(name.c_str(), O_RDWR, 0);
    if (fd < 0) throw boost::system::system_error(detail::last_system_error(), "shm_open " + name);
    struct ::stat status {};
    if (::fstat(fd, &status) != 0) {
      const auto ec = detail::last_system_error();
      ::close(fd);
      throw boost::system::system_error(ec, "fstat " + name);
    }
    const auto length = static_cast<std::size_t>(status.st_size);
    if (length != detail::shm_layout::total_size(config::conventional_space_size) &&
        length != detail::shm_layout::total_size(config::extended_space_size)) {
      ::close(fd);
      throw boost::system::system_error(errc::bad_data, "shared config space " + name + " has a foreign length");
    }
    void* base = ::mmap(nullptr, length, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    const auto map_error = detail::last_system_error();
    ::close(fd);
    if (base == MAP_FAILED) throw boost::system::system_error(map_error, "mmap " + name);
    // The space size follows from the object's length, checked above.
    const std::size_t size = (length - detail::shm_layout::header_size) / 2;
    auto mapping = std::make_shared<detail::shm_mapping>(base, length, size, std::string{});
    const auto header_word = [&](std::size_t offset) {
      return std::atomic_ref<std::uint32_t>(mapping->word(offset)).load(std::memory_order_acquire);
    };
    if (header_word(detail::shm_layout::magic_offset) != detail::shm_layout::magic ||
        header_word(detail::shm_layout::size_offset) != size) {
      throw boost::system::system_error(errc::bad_data, "shared object " + name + " is not a vpci config space");
    }
    if (header_word(detail::shm_layout::version_offset) != detail::shm_layout::version) {
      throw boost::system::system_error(errc::revision_mismatch, "shared config space " + name);
    }
    return shm_config_space(std::move(executor), std::move(mapping), role, access);
  }

  // An unnamed space (MAP_SHARED | MAP_ANONYMOUS): shared with children forked afterwards and, through
  // view(), between threads of this process.
  static shm_config_space create_anonymous(executor_type executor, std::size_t size, shm_role role = shm_role::device) {
    check_size(size);
    const std::size_t length = detail::shm_layout::total_size(size);
    void* base = ::mmap(nullptr, length, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED) throw boost::system::system_error(detail::last_system_error(), "mmap anonymous");
    auto mapping = std::make_shared<detail::shm_mapping>(base, length, size, std::string{});
    initialize(*mapping, size);
    return shm_config_space(std::move(executor), std::move(mapping), role, shm_access::read_write);
  }

  // Another view of the same mapping, e.g. the driver side of a space this process created.
  [[nodiscard]] shm_config_space view(executor_type executor, shm_role role,
                                      shm_access access = shm_access::read_write) const {
    return shm_config_space(std::move(executor), mapping_, role, access);
  }

  shm_config_space(shm_config_space&&) noexcept = default;
  shm_config_space& operator=(shm_config_space&& other) noexcept {
    shutdown_waiters();
    executor_ = std::move(other.executor_);
    mapping_ = std::move(other.mapping_);
    waiters_[0] = std::move(other.waiters_[0]);
    waiters_[1] = std::move(other.waiters_[1]);
    role_ = other.role_;
    access_ = other.access_;
    return *this;
  }
  ~shm_config_space() { shutdown_waiters(); }

  [[nodiscard]] executor_type get_executor() const noexcept { return executor_; }
  [[nodiscard]] std::size_t size() const noexcept { return mapping_->space_size(); }
  [[nodiscard]] shm_role role() const noexcept { return role_; }
  [[nodiscard]] shm_access access() const noexcept { return access_; }

  // Errors: vpci::errc::out_of_range / invalid_argument as config::check_access. Each aligned access is
  // one atomic load. Returns the bytes transferred.
  std::size_t read(std::size_t offset, std::span<std::byte> buffer, boost::system::error_code& ec) const {
    if (const errc e = config::check_access(size(), offset, buffer.size()); e != no_error) {
      ec = e;
      return 0;
    }
    (void)config::for_each_access(offset, buffer.size(), [&](std::size_t at, std::size_t width) {
      const std::uint32_t word = config_word(at).load(std::memory_order_acquire);
      for (std::size_t i = 0; i != width; ++i) {
        buffer[at - offset + i] = static_cast<std::byte>(word >> byte_shift(at % 4 + i));
      }
      return no_error;
    });
    ec = {};
    return buffer.size();
  }

  // Errors: those of read(), and vpci::errc::read_only on a read-only view (nothing written, no ring).
  // A driver-role view leaves bits the write mask protects unchanged. Rings the other side's doorbell
  // once after all bytes are stored, unless `ring` is shm_ring::none.
  std::size_t write(std::size_t offset, std::span<const std::byte> bytes, boost::system::error_code& ec,
                    shm_ring ring = shm_ring::after_write) {
    if (const errc e = config::check_access(size(), offset, bytes.size()); e != no_error) {
      ec = e;
      return 0;
    }
    if (access_ == shm_access::read_only) {
      ec = errc::read_only;
      return 0;
    }
    (void)config::for_each_access(offset, bytes.size(), [&](std::size_t at, std::size_t width) {
      std::uint32_t value = 0;
      std::uint32_t selected = 0;
      for (std::size_t i = 0; i != width; ++i) {
        const unsigned shift = byte_shift(at % 4 + i);
        value |= std::uint32_t{std::to_integer<std::uint8_t>(bytes[at - offset + i])} << shift;
        selected |= std::uint32_t{0xFF} << shift;
      }
      if (role_ == shm_role::driver) selected &= mask_word(at).load(std::memory_order_acquire);
      store_bits(config_word(at), value, selected);
      return no_error;
    });
    ec = {};
    if (ring == shm_ring::after_write)
      doorbell_words(role_ == shm_role::driver ? shm_doorbell::to_device : shm_doorbell::to_driver).ring();
    return bytes.size();
  }

  // Completion signature: void(boost::system::error_code, std::size_t bytes_transferred). The access
  // never blocks, so it is performed in a function posted to the handler's associated executor (default:
  // this view's executor), immediately before the handler runs; never completes inline. Errors as the
  // synchronous forms. No cancellation (nothing waits). `buffer` must stay valid and this view must stay
  // in place (not destroyed, not moved) until the handler runs.
  template <class CompletionToken>
  auto async_read(std::size_t offset, std::span<std::byte> buffer, CompletionToken&& token) {
    return boost::asio::async_initiate<CompletionToken, void(boost::system::error_code, std::size_t)>(
        initiate_read{this}, token, offset, buffer);
  }
  template <class CompletionToken>
  auto async_write(std::size_t offset, std::span<const std::byte> bytes, CompletionToken&& token) {
    return boost::asio::async_initiate<CompletionToken, void(boost::system::error_code, std::size_t)>(
        initiate_write{this}, token, offset, bytes);
  }

  // Device role only: per bit from `offset`, 1 = the driver side may write the bit. Errors: out_of_range /
  // invalid_argument as read(), vpci::errc::access_denied from a driver-role view, vpci::errc::read_only
  // from a read-only view; nothing changes then.
  [[nodiscard]] errc set_write_mask(std::size_t offset, std::span<const std::byte> mask) {
    if (const errc e = config::check_access(size(), offset, mask.size()); e != no_error) return e;
    if (access_ == shm_access::read_only) return errc::read_only;
    if (role_ != shm_role::device) return errc::access_denied;
    (void)config::for_each_access(offset, mask.size(), [&](std::size_t at, std::size_t width) {
      std::uint32_t value = 0;
      std::uint32_t selected = 0;
      for (std::size_t i = 0; i != width; ++i) {
        const unsigned shift = byte_shift(at % 4 + i);
        value |= std::uint32_t{std::to_integer<std::uint8_t>(mask[at - offset + i])} << shift;
        selected |= std::uint32_t{0xFF} << shift;
      }
      store_bits(mask_word(at), value, selected);
      return no_error;
    });
    return no_error;
  }

  // ---- doorbells ----

  // The current sequence number of a doorbell; read it before acting, then wait for a change from it.
  [[nodiscard]] std::uint32_t doorbell_sequence(shm_doorbell which) const noexcept {
    return doorbell_words(which).sequence();
  }

  // Increments the doorbell's sequence and wakes its sleepers (a system call only when someone sleeps).
  void ring_doorbell(shm_doorbell which) const noexcept { doorbell_words(which).ring(); }

  // Blocks the calling thread until the doorbell's sequence differs from `seen_sequence` or `timeout`
  // passes; returns the sequence then. Errors: vpci::errc::timeout (the returned sequence is the unchanged
  // one). Returns at once when the sequence already differs. Thread-safe; never use it on an io_context
  // thread that must stay responsive (use async_wait_doorbell there).
  std::uint32_t wait_for_doorbell(shm_doorbell which, std::uint32_t seen_sequence, std::chrono::nanoseconds timeout,
                                  boost::system::error_code& ec) const {
    const detail::shm_doorbell_words words = doorbell_words(which);
    const auto start = std::chrono::steady_clock::now();
    for (;;) {
      const std::uint32_t current = words.sequence();
      if (current != seen_sequence) {
        ec = {};
        return current;
      }
      const auto remaining = timeout - (std::chrono::steady_clock::now() - start);
      if (remaining <= std::chrono::nanoseconds::zero()) {
        ec = errc::timeout;
        return current;
      }
      const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(remaining);
      const ::timespec relative{static_cast<::time_t>(seconds.count()),
                                static_cast<long>((remaining - seconds).count())};
      words.sleep_while_equal(seen_sequence, &relative);
    }
  }

  // The peer's signal (transport/traits.hpp): the doorbell the other side rings, to_driver for a
  // driver-role view and to_device for a device-role view.
  [[nodiscard]] shm_doorbell incoming_doorbell() const noexcept {
    return role_ == shm_role::driver ? shm_doorbell::to_driver : shm_doorbell::to_device;
  }
  [[nodiscard]] std::uint32_t peer_signal_sequence() const noexcept { return doorbell_sequence(incoming_doorbell()); }
  std::uint32_t wait_peer_signal(std::uint32_t seen, std::chrono::nanoseconds timeout,
                                 boost::system::error_code& ec) const {
    return wait_for_doorbell(incoming_doorbell(), seen, timeout, ec);
  }
  template <class CompletionToken>
  auto async_wait_peer_signal(std::uint32_t seen, CompletionToken&& token) {
    return async_wait_doorbell(incoming_doorbell(), seen, std::forward<CompletionToken>(token));
  }
  // One signal per update (transport/traits.hpp): writes that do not ring, then one ring of the other
  // side's doorbell.
  std::size_t write_unsignalled(std::size_t offset, std::span<const std::byte> bytes, boost::system::error_code& ec) {
    return write(offset, bytes, ec, shm_ring::none);
  }
  void signal_peer() const noexcept {
    ring_doorbell(role_ == shm_role::driver ? shm_doorbell::to_device : shm_doorbell::to_driver);
  }

  // Waits without blocking the caller: a helper thread of this view sleeps on the futex and posts the
  // completion to the handler's associated executor (default: this view's executor).
  // Completion signature: void(boost::system::error_code, std::uint32_t sequence). Never completes inline;
  // completes (with success) as soon as the sequence differs from `seen_sequence`, at once if it already
  // does. Errors: vpci::errc::cancelled on cancellation or when this view is destroyed or assigned first.
  // Cancellation: terminal, partial and total (nothing has happened when a wait is cancelled). No timeout:
  // bound it with a timer and per-operation cancellation. The view may be moved while a wait is pending.
  template <class CompletionToken>
  auto async_wait_doorbell(shm_doorbell which, std::uint32_t seen_sequence, CompletionToken&& token) {
    return boost::asio::async_initiate<CompletionToken, void(boost::system::error_code, std::uint32_t)>(
        initiate_wait{this}, token, which, seen_sequence);
  }

 private:
  shm_config_space(executor_type executor, std::shared_ptr<detail::shm_mapping> mapping, shm_role role,
                   shm_access access)
      : executor_(std::move(executor)), mapping_(std::move(mapping)), role_(role), access_(access) {}

  static void check_size(std::size_t size) {
    if (size != config::conventional_space_size && size != config::extended_space_size) {
      throw std::invalid_argument("vpci::shm_config_space: size must be 256 or 4096 bytes");
    }
  }

  // A fresh mapping is zero-filled; mark every bit driver-writable, then publish the magic last so that an
  // opener that sees the magic also sees the rest of the header.
  static void initialize(const detail::shm_mapping& mapping, std::size_t size) noexcept {
    for (std::size_t at = 0; at != size; at += 4) {
      std::atomic_ref<std::uint32_t>(mapping.word(detail::shm_layout::header_size + size + at))
          .store(0xFFFFFFFF, std::memory_order_relaxed);
    }
    std::atomic_ref<std::uint32_t>(mapping.word(detail::shm_layout::version_offset))
        .store(detail::shm_layout::version, std::memory_order_relaxed);
    std::atomic_ref<std::uint32_t>(mapping.word(detail::shm_layout::size_offset))
        .store(static_cast<std::uint32_t>(size), std::memory_order_relaxed);
    std::atomic_ref<std::uint32_t>(mapping.word(detail::shm_layout::magic_offset))
        .store(detail::shm_layout::magic, std::memory_order_release);
  }

  // Bit position of byte `index` (0..3, in config-space order) within a dword loaded in host order.
  static constexpr unsigned byte_shift(std::size_t index) noexcept {
    if constexpr (std::endian::native == std::endian::little) return static_cast<unsigned>(index * 8);
    else return static_cast<unsigned>((3 - index) * 8);
  }

  [[nodiscard]] std::atomic_ref<std::uint32_t> config_word(std::size_t offset) const noexcept {
    return std::atomic_ref<std::uint32_t>(mapping_->word(detail::shm_layout::header_size + (offset & ~std::size_t{3})));
  }
  [[nodiscard]] std::atomic_ref<std::uint32_t> mask_word(std::size_t offset) const noexcept {
    return std::atomic_ref<std::uint32_t>(
        mapping_->word(detail::shm_layout::header_size + size() + (offset & ~std::size_t{3})));
  }
  [[nodiscard]] detail::shm_doorbell_words doorbell_words(shm_doorbell which) const noexcept {
    return detail::shm_doorbell_words(*mapping_, which);
  }

  // Replaces the `selected` bits of `word` with those of `value` in one atomic operation.
  static void store_bits(std::atomic_ref<std::uint32_t> word, std::uint32_t value, std::uint32_t selected) noexcept {
    if (selected == 0) return;
    if (selected == 0xFFFFFFFF) {
      word.store(value, std::memory_order_release);
      return;
    }
    std::uint32_t old = word.load(std::memory_order_relaxed);
    while (!word.compare_exchange_weak(old, (old & ~selected) | (value & selected), std::memory_order_acq_rel,
                                       std::memory_order_relaxed)) {
    }
  }

  void shutdown_waiters() noexcept {
    for (auto& waiter : waiters_) {
      if (waiter) waiter->shutdown();
      waiter.reset();
    }
  }

  detail::shm_doorbell_waiter& waiter(shm_doorbell which) {
    auto& slot = waiters_[static_cast<int>(which)];
    if (!slot) slot = std::make_shared<detail::shm_doorbell_waiter>(mapping_, which);
    return *slot;
  }

  struct read_access {
    shm_config_space* self;
    std::size_t offset;
    std::span<std::byte> buffer;
    std::size_t operator()(boost::system::error_code& ec) const { return self->read(offset, buffer, ec); }
  };
  struct write_access {
    shm_config_space* self;
    std::size_t offset;
    std::span<const std::byte> bytes;
    std::size_t operator()(boost::system::error_code& ec) const { return self->write(offset, bytes, ec); }
  };

  struct initiate_read {
    shm_config_space* self;
    using executor_type = shm_config_space::executor_type;
    executor_type get_executor() const noexcept { return self->executor_; }
    template <class Handler>
    void operator()(Handler&& handler, std::size_t offset, std::span<std::byte> buffer) const {
      boost::asio::post(self->executor_, detail::deferred_access<std::decay_t<Handler>, read_access>(
                                             std::forward<Handler>(handler), read_access{self, offset, buffer}));
    }
  };
  struct initiate_write {
    shm_config_space* self;
    using executor_type = shm_config_space::executor_type;
    executor_type get_executor() const noexcept { return self->executor_; }
    template <class Handler>
    void operator()(Handler&& handler, std::size_t offset, std::span<const std::byte> bytes) const {
      boost::asio::post(self->executor_, detail::deferred_access<std::decay_t<Handler>, write_access>(
                                             std::forward<Handler>(handler), write_access{self, offset, bytes}));
    }
  };

  // One pending asynchronous doorbell wait. Its completion always runs on the handler's executor, where
  // the cancellation slot is also cleared (slots are not thread-safe).
  template <class Handler>
  class wait_operation final : public detail::shm_doorbell_waiter::pending {
   public:
    using handler_executor = boost::asio::associated_executor_t<Handler, executor_type>;

    wait_operation(Handler handler, const executor_type& io_executor, std::uint32_t seen)
        : handler_(std::move(handler)),
          work_(boost::asio::get_associated_executor(handler_, io_executor)) {
      this->seen = seen;
    }

    void finish(boost::system::error_code ec, std::uint32_t sequence) override {
      std::unique_ptr<wait_operation> self(this);
      const handler_executor target = work_.get_executor();
      boost::asio::post(target, [self = std::move(self), ec, sequence]() mutable {
        auto slot = boost::asio::get_associated_cancellation_slot(self->handler_);
        if (slot.is_connected()) slot.clear();
        Handler handler = std::move(self->handler_);
        self.reset();
        std::move(handler)(ec, sequence);
      });
    }

    Handler handler_;

   private:
    boost::asio::executor_work_guard<handler_executor> work_;
  };

  struct cancel_wait {
    // A constructor, not aggregate initialization: the slot constructs it with parentheses, which clang 14
    // does not accept for aggregates.
    cancel_wait(std::shared_ptr<detail::shm_doorbell_waiter> w, detail::shm_doorbell_waiter::pending* op) noexcept
        : waiter(std::move(w)), operation(op) {}
    std::shared_ptr<detail::shm_doorbell_waiter> waiter;
    detail::shm_doorbell_waiter::pending* operation;
    void operator()(boost::asio::cancellation_type type) const {
      using boost::asio::cancellation_type;
      if ((type & (cancellation_type::terminal | cancellation_type::partial | cancellation_type::total)) ==
          cancellation_type::none) {
        return;
      }
      if (waiter->remove(operation)) operation->finish(errc::cancelled, waiter->sequence());
    }
  };

  struct initiate_wait {
    shm_config_space* self;
    using executor_type = shm_config_space::executor_type;
    executor_type get_executor() const noexcept { return self->executor_; }
    template <class Handler>
    void operator()(Handler&& handler, shm_doorbell which, std::uint32_t seen) const {
      using operation_type = wait_operation<std::decay_t<Handler>>;
      auto slot = boost::asio::get_associated_cancellation_slot(handler);
      auto operation = std::make_unique<operation_type>(std::forward<Handler>(handler), self->executor_, seen);
      detail::shm_doorbell_waiter& waiter = self->waiter(which);
      if (slot.is_connected()) {
        slot.template emplace<cancel_wait>(self->waiters_[static_cast<int>(which)], operation.get());
      }
      waiter.add(operation.release());
    }
  };

  executor_type executor_;
  std::shared_ptr<detail::shm_mapping> mapping_;
  std::shared_ptr<detail::shm_doorbell_waiter> waiters_[2];
  shm_role role_;
  shm_access access_;
};

static_assert(config_space_transport<shm_config_space>);
static_assert(nonblocking_transport_v<shm_config_space>);
static_assert(peer_signalling_transport<shm_config_space>);
static_assert(write_protecting_transport<shm_config_space>);
static_assert(update_signalling_transport<shm_config_space>);

}  // namespace vpci
