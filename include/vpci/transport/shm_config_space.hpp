// vpci::shm_config_space: a configuration space in POSIX shared memory that a device-side (PF) process and
// a driver-side (VF) process both map, with futex doorbells so each side sees the other's writes without
// polling, and presence words so each side tells a dead peer from a slow one. Linux only (futex, robust
// futexes).
//
// Mapping layout (one shared object, all words in host byte order, which is the same on both sides of one
// machine; layout version 2):
//   [0, 256)                  header: magic "vpci" 0x69637076 at 0, layout version at 4, space size at 8;
//                             to_device doorbell (sequence, waiter count) at 64, to_driver at 128
//                             (separate cache lines so the two directions do not share one);
//                             presence at 192: the device's presence word at 192, "a driver has attached"
//                             at 196, eight driver presence words at 200..231; the exclusive drivers' marks
//                             at 232 (see Sharing below)
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
// an idle doorbell costs no system call; a sleeper also re-checks every second (doorbell_recheck), for a
// waiter count another process overwrote. A write through the transport rings the other side's doorbell
// automatically, once per write call after all its bytes are stored: a driver-role view rings to_device,
// a device-role view rings to_driver. Read a doorbell's sequence before acting, then wait for a change
// from it: no ring in between can be lost.
//
// Roles and access: a driver-role view's writes go through the shared write mask (bits not writable are
// left unchanged, as hardware ignores writes to read-only bits); a device-role view writes every bit and
// may set the mask. A read-only view refuses every write with vpci::errc::read_only (enforced in
// software; it may still wait for and ring doorbells).
//
// Liveness (transport/traits.hpp's liveness_transport): each side's presence is a word in the header that
// the holding process registers with the kernel as a robust futex (detail/shm_presence.hpp). The kernel
// marks it gone while that process exits, however it exits (crash, SIGKILL, exec, normal exit), before the
// process's parent can reap it, and wakes the watchers: a dead peer is known at once, a slow or stopped
// one stays present for as long as it lives.
//   - The device is the process that created the object (create, create_anonymous): it is present while
//     that process keeps a device-role view of its mapping. Destroying the last one is a clean shutdown
//     (the device is marked gone, to_driver rings so waiting drivers wake, the name is unlinked); so is
//     replacing the object (create with shm_create::replace). A device is never present again in the
//     same object: a restarted PF makes a new one. Device-role views that open() an existing object are
//     co-devices: they neither keep the device present nor end it.
//   - A driver is a mapping with read-write driver-role views (open() with shm_role::driver, or view()):
//     it claims one of eight driver words with its first such view and releases it with its last (or
//     when its process exits). Read-only views are observers and claim nothing. Drivers come and go; the
//     device's peer is gone when a driver has attached since the object was made and none is attached now.
//   - Sharing: read-write drivers share the space unless one asks to be its only one (open() with
//     shm_sharing::exclusive, as a mailbox VF does: one mailbox serves one driver, and two would overwrite
//     each other's requests). Such a driver is refused (vpci::errc::in_use) while another read-write
//     driver is attached, and while it is attached every other read-write driver is refused, whatever it
//     asked. Each driver first claims its word and publishes its choice (a bit per driver word at 232, set
//     for exclusive, cleared for shared: only the word's holder writes its bit), then looks at the others,
//     all sequentially consistent: of two that attach at once, at least one sees the other, so they never
//     both stay when either asked to be alone (both may be refused; neither then stays attached). A bit
//     counts only while its word is present, so one left by a driver that died is void, and the next
//     holder of the word overwrites it. Observers are never refused and never refuse anyone. A driver that
//     knows nothing of the marks (layout-2 code from before them) attaches as a shared one that looks at
//     nobody: exclusivity holds among drivers that read the marks.
//   - peer_alive() is one atomic load (nine for a device-role view), no system call; open() of an object
//     whose device is gone fails with vpci::errc::peer_gone; async_wait_peer_gone completes as soon as
//     the peer is gone (a helper thread sleeps on the presence word).
//   - The doorbell waits do not watch liveness: a peer that crashes leaves them waiting until their
//     timeout or cancellation (a clean shutdown or replace rings to_driver, so drivers wake at once).
//     Wait on the doorbell and on async_wait_peer_gone together, or check peer_alive() when a wait
//     brought no progress.
// Why robust futexes, and not the alternatives: a PID in the header with pidfd_open/poll is immediate but
// needs /proc start times against PID reuse, means nothing across PID namespaces and needs a second
// mechanism for a clean shutdown of a process that goes on living; fcntl record locks are dropped when
// the holder closes any descriptor of the file and cannot be waited for without taking them; flock and
// OFD locks are inherited across fork, so a VF forked from the PF after the object was made (as the demo
// does) would keep its dead parent's lock alive. A presence word is cleared by the kernel per thread, and
// fork copies no thread: the child never holds its parent's presence. The kernel matches the holder by its
// thread ID in the holder's own PID namespace and wakes through the shared page, so liveness works
// between containers too (they must share the object, e.g. a bind-mounted /dev/shm).
//
// Threads: one view may be used from several threads at once (all shared state is atomic or locked).
// The asynchronous waits use a helper thread per view and doorbell or peer, started on first use; each
// side's presence is held by a dedicated thread of the process that holds it (the kernel clears robust
// futexes per thread, so the holder must live exactly as long as the presence).
//
// Fork: views belong to the process that made them. A child forked after views exist must not use the
// views it inherited: it opens the object itself (open()) and, if it ends with destructors, destroying
// inherited views there releases nothing, unlinks nothing and joins no thread of its parent. So a PF that
// daemonizes (forks, and lets the parent exit) must create its space afterwards: its presence ends with the
// process that created it.
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <utility>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/post.hpp>
#include <boost/system/error_code.hpp>
#include <boost/system/system_error.hpp>

#include <vpci/asio/timing.hpp>
#include <vpci/config/access.hpp>
#include <vpci/error.hpp>
#include <vpci/transport/default_token.hpp>
#include <vpci/transport/concept.hpp>
#include <vpci/transport/traits.hpp>
#include <vpci/transport/detail/deferred_access.hpp>
#include <vpci/transport/detail/futex.hpp>
#include <vpci/transport/detail/shm_object_lock.hpp>
#include <vpci/transport/detail/shm_presence.hpp>
#include <vpci/transport/detail/shm_wait_queue.hpp>

namespace vpci {

enum class shm_role { device, driver };
enum class shm_doorbell { to_device, to_driver };
enum class shm_access { read_write, read_only };
// Whether a write rings the other side's doorbell. A writer that publishes several writes as one update
// (the PF answering a mailbox request) writes them with `none` and rings once at the end, so the peer
// wakes once, to a complete update, instead of once per register.
enum class shm_ring { after_write, none };
// What create() does when the name exists:
// - exclusive: fail (EEXIST; the message says whether the object's device lives or is gone);
// - replace_stale: replace an object whose device is gone (it crashed, shut down, or died before it
//   published the object), fail with EEXIST while its device lives, and refuse anything that is not a
//   vpci config space (vpci::errc::bad_data; vpci::errc::revision_mismatch for another layout version).
//   What a restarted PF wants: of several started at once on one name, exactly one serves it;
// - replace: replace the object whatever it is. Replacing marks the old object's device gone (its
//   drivers learn it at once, as if the old device had exited) and unlinks it; processes that still map
//   it keep their mapping until they let go of it.
enum class shm_create { exclusive, replace_stale, replace };
// Whether a read-write driver shares the space with other read-write drivers (see Sharing above):
// - shared: it does, unless one of them asked to be the only one;
// - exclusive: it is the only one while it is attached (a mailbox's VF: two would corrupt each other's
//   requests), refused with vpci::errc::in_use while another is attached.
enum class shm_sharing { shared, exclusive };

namespace detail {

struct shm_layout {
  static constexpr std::uint32_t magic = 0x69637076;  // "vpci" in memory order
  static constexpr std::uint32_t version = 2;         // 2: presence words
  static constexpr std::size_t magic_offset = 0;
  static constexpr std::size_t version_offset = 4;
  static constexpr std::size_t size_offset = 8;
  static constexpr std::size_t doorbell_offset[2] = {64, 128};  // indexed by shm_doorbell
  static constexpr std::size_t waiter_count_delta = 4;          // waiter count follows the sequence
  static constexpr std::size_t device_presence_offset = 192;
  static constexpr std::size_t driver_attached_offset = 196;    // 0 until a driver first attaches, then 1
  static constexpr std::size_t driver_presence_offset = 200;
  static constexpr std::size_t driver_slots = 8;
  static constexpr std::size_t exclusive_drivers_offset = 232;  // bit i: driver word i's holder asked to be alone
  static constexpr std::size_t header_size = 256;
  static constexpr std::size_t total_size(std::size_t space_size) noexcept { return header_size + 2 * space_size; }
  static constexpr bool valid_length(std::size_t length) noexcept {
    return length == total_size(config::conventional_space_size) || length == total_size(config::extended_space_size);
  }
};
static_assert(shm_layout::driver_presence_offset + 4 * shm_layout::driver_slots <=
              shm_layout::exclusive_drivers_offset);
static_assert(shm_layout::exclusive_drivers_offset + 4 <= shm_layout::header_size);
static_assert(shm_layout::driver_slots <= 32);  // one mark bit per driver word

inline boost::system::error_code last_system_error() noexcept {
  return {errno, boost::system::system_category()};
}

class shm_side_presence;

// One mmap of the shared object, shared by every view of it in this process.
class shm_mapping {
 public:
  // `space_size` is validated by the caller and kept here: the size word in the shared header is never
  // trusted again, since the other process could change it.
  shm_mapping(void* base, std::size_t length, std::size_t space_size) noexcept
      : base_(static_cast<std::byte*>(base)), length_(length), space_size_(space_size) {}
  shm_mapping(const shm_mapping&) = delete;
  shm_mapping& operator=(const shm_mapping&) = delete;
  ~shm_mapping() { ::munmap(base_, length_); }

  // The 4-byte word at `offset` into the mapping (4-aligned: the mapping is page-aligned).
  [[nodiscard]] std::uint32_t& word(std::size_t offset) const noexcept {
    return *reinterpret_cast<std::uint32_t*>(base_ + offset);
  }
  [[nodiscard]] std::uint32_t load(std::size_t offset) const noexcept {
    return std::atomic_ref<std::uint32_t>(word(offset)).load(std::memory_order_seq_cst);
  }
  [[nodiscard]] std::size_t space_size() const noexcept { return space_size_; }

  // The name this process created the object under, and the object's identity.
  void set_name(std::string name, const struct ::stat& identity) {
    name_ = std::move(name);
    device_id_ = identity.st_dev;
    inode_ = identity.st_ino;
  }
  // Unlinks the name if it still refers to this object: after a replace it names another one. Under the
  // object's lock (detail/shm_object_lock.hpp), so a replacement made meanwhile keeps its name. Left when
  // the lock cannot be had: the name then refers to a device that is gone, which replace_stale takes over.
  void unlink_name_if_still_ours() const noexcept {
    if (name_.empty()) return;
    const int fd = ::shm_open(name_.c_str(), O_RDONLY, 0);
    if (fd < 0) return;
    shm_locked_fd object(fd);
    struct ::stat status {};
    if (::fstat(fd, &status) != 0 || status.st_dev != device_id_ || status.st_ino != inode_) return;
    if (object.lock(LOCK_EX) && shm_name_refers_to(name_, fd)) ::shm_unlink(name_.c_str());
  }

  // The presences this mapping's views share (see shm_config_space::presence_for), and how its driver
  // presence attaches, whenever it does (as open() asked).
  std::mutex presence_mutex;
  std::weak_ptr<shm_side_presence> device_presence;
  std::weak_ptr<shm_side_presence> driver_presence;
  shm_sharing driver_sharing = shm_sharing::shared;

 private:
  std::byte* base_;
  std::size_t length_;
  std::size_t space_size_;
  std::string name_;
  ::dev_t device_id_{};
  ::ino_t inode_{};
};

// A doorbell sleeper re-checks the sequence at least this often. Any process that maps the object may
// overwrite a waiter count (zero it while someone sleeps), and a ring then skips its FUTEX_WAKE: the
// sleeper still sees that ring within this bound, at the cost of one wake-up per bound while it waits.
inline constexpr std::chrono::seconds doorbell_recheck{1};

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

  // Sleeps while the sequence equals `seen`, until `at_most` (and at most doorbell_recheck) passes, a
  // wake or a signal. The caller re-checks the sequence afterwards; spurious returns are harmless.
  void sleep_while_equal(std::uint32_t seen, std::chrono::nanoseconds at_most = doorbell_recheck) const noexcept {
    const std::chrono::nanoseconds bound = std::min<std::chrono::nanoseconds>(at_most, doorbell_recheck);
    const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(bound);
    const ::timespec timeout{static_cast<::time_t>(seconds.count()), static_cast<long>((bound - seconds).count())};
    std::atomic_ref<std::uint32_t> waiters(*waiters_);
    waiters.fetch_add(1, std::memory_order_seq_cst);
    if (sequence() == seen) (void)futex_wait(*sequence_, seen, &timeout);
    // Taken back down to zero at least: a count another process zeroed while this one slept would wrap to
    // 0xFFFFFFFF, and the next lone sleeper would bring it to zero, so that every later ring skipped its
    // wake for good (each wait then lasting a re-check).
    std::uint32_t count = waiters.load(std::memory_order_seq_cst);
    while (count != 0 && !waiters.compare_exchange_weak(count, count - 1, std::memory_order_seq_cst)) {
    }
  }

 private:
  std::uint32_t* sequence_;
  std::uint32_t* waiters_;
};

// Whether the device of the object behind `mapping` is present. Anything but a present word (unclaimed
// included: a device claims its word before the object's magic is published) counts as gone.
[[nodiscard]] inline bool shm_device_present(const shm_mapping& mapping) noexcept {
  return load_presence(mapping.word(shm_layout::device_presence_offset)) == presence::present;
}

[[nodiscard]] inline std::uint32_t& shm_driver_word(const shm_mapping& mapping, std::size_t slot) noexcept {
  return mapping.word(shm_layout::driver_presence_offset + 4 * slot);
}

// Whether the drivers are gone: one attached since the object was made and none is attached now.
[[nodiscard]] inline bool shm_drivers_gone(const shm_mapping& mapping) noexcept {
  if (mapping.load(shm_layout::driver_attached_offset) == 0) return false;
  for (std::size_t slot = 0; slot != shm_layout::driver_slots; ++slot) {
    if (load_presence(shm_driver_word(mapping, slot)) == presence::present) return false;
  }
  return true;
}

// Whether the peer of a `watcher`-role view is gone: the device for a driver, the drivers for a device.
[[nodiscard]] inline bool shm_peer_gone(const shm_mapping& mapping, shm_role watcher) noexcept {
  return watcher == shm_role::driver ? !shm_device_present(mapping) : shm_drivers_gone(mapping);
}

// Publishes how the driver holding word `slot` shares the space (Sharing, above): its bit in the exclusive
// drivers' marks set or cleared. Only that word's holder calls it, after claiming the word and before
// shm_driver_conflicts; and with `shared` again before releasing the word, so that no bit of it outlives
// its holder but one that died.
inline void shm_mark_driver_sharing(const shm_mapping& mapping, std::size_t slot, shm_sharing sharing) noexcept {
  std::atomic_ref<std::uint32_t> marks(mapping.word(shm_layout::exclusive_drivers_offset));
  const std::uint32_t bit = std::uint32_t{1} << slot;
  if (sharing == shm_sharing::exclusive) (void)marks.fetch_or(bit, std::memory_order_seq_cst);
  else (void)marks.fetch_and(~bit, std::memory_order_seq_cst);
}

// Whether the driver holding word `slot`, which published `sharing`, must not stay: another driver is
// present and either of the two asked to be alone. Every driver claims, publishes, then calls this, all
// sequentially consistent, so of two attaching at once at least one sees the other's word (and, for a
// shared one that sees it, the exclusive one's bit): they never both stay. A bit whose word is not present
// is one a dead driver left: void.
[[nodiscard]] inline bool shm_driver_conflicts(const shm_mapping& mapping, std::size_t slot,
                                               shm_sharing sharing) noexcept {
  for (std::size_t other = 0; other != shm_layout::driver_slots; ++other) {
    if (other == slot || load_presence(shm_driver_word(mapping, other)) != presence::present) continue;
    if (sharing == shm_sharing::exclusive) return true;
    if ((mapping.load(shm_layout::exclusive_drivers_offset) & (std::uint32_t{1} << other)) != 0) return true;
  }
  return false;
}

// What a doorbell wait watches (detail/shm_wait_queue.hpp): the doorbell's sequence.
class shm_doorbell_watch {
 public:
  shm_doorbell_watch(std::shared_ptr<shm_mapping> mapping, shm_doorbell which) noexcept
      : mapping_(std::move(mapping)), words_(*mapping_, which) {}
  [[nodiscard]] std::uint32_t observe() const noexcept { return words_.sequence(); }
  void sleep(std::uint32_t seen) const noexcept { words_.sleep_while_equal(seen); }
  void wake() const noexcept { words_.wake_all(); }

 private:
  std::shared_ptr<shm_mapping> mapping_;  // keeps the words mapped
  shm_doorbell_words words_;
};

// What a liveness wait watches: 1 once the peer of a `watcher`-role view is gone, else 0.
class shm_peer_watch {
 public:
  shm_peer_watch(std::shared_ptr<shm_mapping> mapping, shm_role watcher) noexcept
      : mapping_(std::move(mapping)), watcher_(watcher) {}

  [[nodiscard]] std::uint32_t observe() const noexcept { return shm_peer_gone(*mapping_, watcher_) ? 1 : 0; }

  // The device can only go, so a driver watches its one word. Drivers come and go, but the drivers are
  // gone only after the last present one went: a device sleeps on any present driver's word, or on the
  // "attached" word while none ever attached.
  void sleep(std::uint32_t) const noexcept {
    if (watcher_ == shm_role::driver) {
      sleep_while_present(mapping_->word(shm_layout::device_presence_offset));
      return;
    }
    if (mapping_->load(shm_layout::driver_attached_offset) == 0) {
      const ::timespec recheck{static_cast<::time_t>(presence_recheck.count()), 0};
      (void)futex_wait(mapping_->word(shm_layout::driver_attached_offset), 0, &recheck);
      return;
    }
    for (std::size_t slot = 0; slot != shm_layout::driver_slots; ++slot) {
      std::uint32_t& word = shm_driver_word(*mapping_, slot);
      if (load_presence(word) == presence::present) {
        sleep_while_present(word);
        return;
      }
    }
  }

  void wake() const noexcept {
    if (watcher_ == shm_role::driver) {
      futex_wake_all(mapping_->word(shm_layout::device_presence_offset));
      return;
    }
    futex_wake_all(mapping_->word(shm_layout::driver_attached_offset));
    for (std::size_t slot = 0; slot != shm_layout::driver_slots; ++slot) futex_wake_all(shm_driver_word(*mapping_, slot));
  }

 private:
  std::shared_ptr<shm_mapping> mapping_;
  shm_role watcher_;
};

// One side's presence as this process holds it for one mapping: the device's (shared by the device-role
// views of the mapping that created the object) or a driver's (shared by the read-write driver-role views
// of one mapping). It ends with the last view that shares it.
class shm_side_presence {
 public:
  // A driver's presence shares the space as `sharing` says. Throws boost::system::system_error as
  // presence_holder (insufficient_resources: eight drivers attached), or vpci::errc::in_use when a driver
  // it must not share the space with is attached (then it holds no word and has marked nothing).
  shm_side_presence(std::shared_ptr<shm_mapping> mapping, shm_role side, shm_sharing sharing = shm_sharing::shared)
      : mapping_(std::move(mapping)), side_(side), holder_(candidates(*mapping_, side).words()) {
    if (side_ != shm_role::driver) return;
    slot_ = static_cast<std::size_t>(holder_.word() - &shm_driver_word(*mapping_, 0));
    shm_mark_driver_sharing(*mapping_, slot_, sharing);
    if (shm_driver_conflicts(*mapping_, slot_, sharing)) {
      shm_mark_driver_sharing(*mapping_, slot_, shm_sharing::shared);  // before the word is let go
      throw boost::system::system_error(errc::in_use, "another read-write driver is attached");  // holder_ releases
    }
    // Only a driver that stays counts as attached: a refused one never came, so it cannot have gone either.
    std::atomic_ref<std::uint32_t> attached(mapping_->word(shm_layout::driver_attached_offset));
    if (attached.exchange(1, std::memory_order_seq_cst) == 0) futex_wake_all(mapping_->word(shm_layout::driver_attached_offset));
  }
  shm_side_presence(const shm_side_presence&) = delete;
  shm_side_presence& operator=(const shm_side_presence&) = delete;
  ~shm_side_presence() {
    if (!holder_.made_in_this_process()) return;  // a forked child's copy: the parent's presence, left alone
    if (side_ == shm_role::driver) shm_mark_driver_sharing(*mapping_, slot_, shm_sharing::shared);
    holder_.release();
    if (side_ == shm_role::device) {
      // Drivers waiting for an answer wake now instead of at their timeout, and find the device gone.
      shm_doorbell_words(*mapping_, shm_doorbell::to_driver).ring();
      mapping_->unlink_name_if_still_ours();
    }
  }

  [[nodiscard]] bool made_in_this_process() const noexcept { return holder_.made_in_this_process(); }

 private:
  struct candidate_words {
    std::array<std::uint32_t*, shm_layout::driver_slots> all{};
    std::size_t count = 0;
    [[nodiscard]] std::span<std::uint32_t* const> words() const noexcept { return std::span(all).first(count); }
  };
  static candidate_words candidates(const shm_mapping& mapping, shm_role side) noexcept {
    candidate_words result;
    if (side == shm_role::device) {
      result.all[0] = &mapping.word(shm_layout::device_presence_offset);
      result.count = 1;
    } else {
      for (std::size_t slot = 0; slot != shm_layout::driver_slots; ++slot) result.all[slot] = &shm_driver_word(mapping, slot);
      result.count = shm_layout::driver_slots;
    }
    return result;
  }

  std::shared_ptr<shm_mapping> mapping_;  // keeps the word mapped while the kernel may still write it
  shm_role side_;
  presence_holder holder_;
  std::size_t slot_ = 0;  // a driver's: which of the driver words it holds
};

// What an existing object is, judged under its lock (no creator is half way through it then, unless it
// died there).
enum class shm_found {
  empty,          // no bytes: its creator is between its shm_open and its lock, or died before sizing it
  unpublished,    // sized but never published: its creator died before it was done
  gone,           // a vpci space whose device is gone
  live,           // a vpci space whose device lives
  other_version,  // a vpci space of another layout version: its presence cannot be read
  foreign,        // not a vpci config space
};

// What an object of `length` bytes is, as far as its length tells: empty, foreign, or to be mapped and
// judged by judge_shm_mapping.
[[nodiscard]] inline std::optional<shm_found> judge_shm_length(std::size_t length) noexcept {
  if (length == 0) return shm_found::empty;
  if (!shm_layout::valid_length(length)) return shm_found::foreign;
  return std::nullopt;
}

// What a mapped object of a valid length is, from its header (read under the object's lock, or after the
// magic was seen: everything else was published before it).
[[nodiscard]] inline shm_found judge_shm_mapping(const shm_mapping& mapping) noexcept {
  const std::uint32_t magic = mapping.load(shm_layout::magic_offset);
  if (magic == 0) return shm_found::unpublished;
  if (magic != shm_layout::magic || mapping.load(shm_layout::size_offset) != mapping.space_size()) return shm_found::foreign;
  if (mapping.load(shm_layout::version_offset) != shm_layout::version) return shm_found::other_version;
  return shm_device_present(mapping) ? shm_found::live : shm_found::gone;
}

// Judges the object behind `fd` and, with `mark_gone`, marks a vpci space of this layout as having lost
// its device: it is being replaced, and drivers still mapping it must learn so at once (to_driver rings,
// so those waiting for an answer wake). Returns what it was before.
inline shm_found examine_shm_object(int fd, bool mark_gone) noexcept {
  struct ::stat status {};
  if (::fstat(fd, &status) != 0) return shm_found::foreign;
  const auto length = static_cast<std::size_t>(status.st_size);
  if (const auto by_length = judge_shm_length(length)) return *by_length;
  void* base = ::mmap(nullptr, length, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (base == MAP_FAILED) return shm_found::foreign;
  const shm_mapping old(base, length, (length - shm_layout::header_size) / 2);  // unmaps on scope exit
  const shm_found found = judge_shm_mapping(old);
  if (found != shm_found::live && found != shm_found::gone) return found;
  if (mark_gone) {
    mark_presence_gone(old.word(shm_layout::device_presence_offset));
    shm_doorbell_words(old, shm_doorbell::to_driver).ring();
  }
  return found;
}

}  // namespace detail

class shm_config_space {
 public:
  using executor_type = boost::asio::any_io_executor;
  // Synchronous accesses are atomic loads and stores on the mapping (transport/traits.hpp).
  static constexpr bool nonblocking_access = true;

  // Creates the named shared object (name as for shm_open, e.g. "/vpci-pf0") with a zero-filled space of
  // `size` bytes (256 or 4096, else std::invalid_argument), every bit driver-writable, and returns its
  // device-role view: this process is the object's device (see Liveness above). The name exists until the
  // last device-role view of this mapping goes away (unless another create() replaced it meanwhile).
  // `mode` (shm_create): what to do when the name exists. Replacing (replace_stale, replace) marks the old
  // object's device gone where it is not yet: drivers still mapping it see it gone (peer_alive() false,
  // async_wait_peer_gone completes, to_driver rings), as if it had exited; a live device of an object
  // `replace` took the name from keeps its now nameless mapping and its views still work. Processes that
  // create, replace and end on one name at once never take a name from a live device except through
  // `replace` (detail/shm_object_lock.hpp).
  // Throws boost::system::system_error: EEXIST as `mode` says; vpci::errc::bad_data or
  // vpci::errc::revision_mismatch when replace_stale finds no vpci space of this layout;
  // vpci::errc::busy when another process holds the object for more than two seconds (or the name changed
  // hands eight times while this one tried); the errno of a failing shm_open/shm_unlink/ftruncate/
  // fallocate/mmap (ENOSPC when the shared-memory file system cannot hold the object: its pages are
  // reserved here, so a full /dev/shm is an error, not a SIGBUS at the first store), or of set_robust_list
  // or thread creation when the device's presence cannot be registered. Nothing is left behind then, with
  // one exception: `busy` because another process locked this process's fresh object in the instant
  // between its creation and its lock, and held it for two seconds, leaves that object empty under the
  // name (open() then says ENOENT and create() EEXIST) until replace_stale or replace takes it, as it
  // takes any object whose creator died there; unlinking it without its lock could take the name from a
  // replacer's object.
  static shm_config_space create(executor_type executor, const std::string& name, std::size_t size,
                                 shm_create mode = shm_create::exclusive) {
    check_size(size);
    constexpr int attempts = 8;  // the name may change hands between this process's steps
    for (int attempt = 0; attempt != attempts; ++attempt) {
      const int fd = ::shm_open(name.c_str(), O_CREAT | O_EXCL | O_RDWR, 0600);
      if (fd >= 0) {
        if (auto made = make_named(executor, name, size, fd)) return std::move(*made);
        continue;  // a replacer took the name before this process locked its fresh object
      }
      if (errno != EEXIST) throw boost::system::system_error(detail::last_system_error(), "shm_open " + name);
      if (mode == shm_create::exclusive) {
        const boost::system::error_code exists = detail::last_system_error();
        throw boost::system::system_error(exists, "shm_open " + name + what_holds(name));
      }
      take_name_from_existing(name, mode);
    }
    throw boost::system::system_error(errc::busy, "create shared config space " + name + ": the name kept changing hands");
  }

  // An unnamed space (MAP_SHARED | MAP_ANONYMOUS) and its device-role view: shared with children forked
  // afterwards and, through view(), between threads of this process. This process is its device. Throws
  // as create().
  static shm_config_space create_anonymous(executor_type executor, std::size_t size) {
    check_size(size);
    const std::size_t length = detail::shm_layout::total_size(size);
    void* base = ::mmap(nullptr, length, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED) throw boost::system::system_error(detail::last_system_error(), "mmap anonymous");
    return make_device(std::move(executor), std::make_shared<detail::shm_mapping>(base, length, size));
  }

  // Maps an existing named object made by create(), once its creator has published it (a creator at work
  // holds the object's lock for microseconds). A read-write driver-role view attaches this mapping as a
  // driver (see Liveness above), sharing the space with other read-write drivers as `sharing` says (see
  // Sharing above; only a read-write driver chooses: shm_sharing::exclusive for any other view is
  // std::invalid_argument). Throws boost::system::system_error: the errno of a failing
  // shm_open/fstat/mmap (ENOENT also for an object still empty: being created, or its creator died before
  // sizing it), vpci::errc::bad_data when the object is not a vpci config space (wrong magic or
  // length), vpci::errc::revision_mismatch for another layout version, vpci::errc::peer_gone when its
  // device is gone (crashed, shut down or replaced: nobody will ever answer in it; or it died before it
  // published the object), vpci::errc::busy when another process holds the object for more than two
  // seconds, vpci::errc::insufficient_resources when eight drivers are attached already,
  // vpci::errc::in_use when a read-write driver is attached and either it or this one asked to be the only
  // one, the errno of set_robust_list or thread creation when this driver's presence cannot be registered.
  static shm_config_space open(executor_type executor, const std::string& name, shm_role role = shm_role::driver,
                               shm_access access = shm_access::read_write, shm_sharing sharing = shm_sharing::shared) {
    if (sharing == shm_sharing::exclusive && (role != shm_role::driver || access != shm_access::read_write)) {
      throw std::invalid_argument("vpci::shm_config_space: only a read-write driver asks to be the only one");
    }
    const int fd = ::shm_open(name.c_str(), O_RDWR, 0);
    if (fd < 0) throw boost::system::system_error(detail::last_system_error(), "shm_open " + name);
    detail::shm_locked_fd object(fd);
    if (!object.lock(LOCK_SH)) {
      throw boost::system::system_error(errc::busy, "shared config space " + name + ": another process holds it");
    }
    struct ::stat status {};
    if (::fstat(fd, &status) != 0) throw boost::system::system_error(detail::last_system_error(), "fstat " + name);
    const auto length = static_cast<std::size_t>(status.st_size);
    std::shared_ptr<detail::shm_mapping> mapping;
    auto found = detail::judge_shm_length(length);
    if (!found) {
      void* base = ::mmap(nullptr, length, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
      if (base == MAP_FAILED) throw boost::system::system_error(detail::last_system_error(), "mmap " + name);
      // The space size follows from the object's length, checked above.
      mapping = std::make_shared<detail::shm_mapping>(base, length, (length - detail::shm_layout::header_size) / 2);
      found = detail::judge_shm_mapping(*mapping);
    }
    object.unlock();
    switch (*found) {
      case detail::shm_found::live: break;
      case detail::shm_found::empty:
        // Not created yet (its creator is between its shm_open and its lock), or its creator died before
        // sizing it: either way nothing is there yet.
        throw boost::system::system_error(boost::system::error_code(ENOENT, boost::system::system_category()),
                                          "shared config space " + name + ": not created yet");
      case detail::shm_found::unpublished:
        throw boost::system::system_error(errc::peer_gone, "shared config space " + name + ": its device died before publishing it");
      case detail::shm_found::gone:
        throw boost::system::system_error(errc::peer_gone, "shared config space " + name + ": its device is gone");
      case detail::shm_found::other_version:
        throw boost::system::system_error(errc::revision_mismatch, "shared config space " + name);
      case detail::shm_found::foreign:
        throw boost::system::system_error(errc::bad_data, "shared object " + name + " is not a vpci config space");
    }
    mapping->driver_sharing = sharing;  // a fresh mapping: no other thread sees it yet
    auto presence = presence_for(mapping, role, access);
    return shm_config_space(std::move(executor), std::move(mapping), std::move(presence), role, access);
  }

  // Another view of the same mapping, e.g. the driver side of a space this process created. A device-role
  // view of the creating mapping shares the device's presence (while it lasts); a read-write driver-role
  // view shares this mapping's driver presence, attaching it first if no such view exists (as the open()
  // that made the mapping asked, shared for a created one; throws then as open() does for a driver's
  // presence).
  [[nodiscard]] shm_config_space view(executor_type executor, shm_role role,
                                      shm_access access = shm_access::read_write) const {
    return shm_config_space(std::move(executor), mapping_, presence_for(mapping_, role, access), role, access);
  }

  shm_config_space(shm_config_space&&) noexcept = default;
  shm_config_space& operator=(shm_config_space&& other) noexcept {
    shutdown_waits();
    executor_ = std::move(other.executor_);
    mapping_ = std::move(other.mapping_);
    presence_ = std::move(other.presence_);
    waits_ = std::move(other.waits_);
    role_ = other.role_;
    access_ = other.access_;
    return *this;
  }
  ~shm_config_space() { shutdown_waits(); }

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
  template <class CompletionToken = vpci::default_completion_token_t<executor_type>>
  auto async_read(std::size_t offset, std::span<std::byte> buffer, CompletionToken&& token = CompletionToken{}) {
    return boost::asio::async_initiate<CompletionToken, void(boost::system::error_code, std::size_t)>(
        initiate_read{this}, token, offset, buffer);
  }
  template <class CompletionToken = vpci::default_completion_token_t<executor_type>>
  auto async_write(std::size_t offset, std::span<const std::byte> bytes, CompletionToken&& token = CompletionToken{}) {
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
    // A deadline, clamped (deadline_after): any timeout is valid, nanoseconds::min() and max() included.
    const std::uint64_t deadline = deadline_after(steady_timing::now(), timeout);
    for (;;) {
      const std::uint32_t current = words.sequence();
      if (current != seen_sequence) {
        ec = {};
        return current;
      }
      const std::uint64_t now = steady_timing::now();
      if (now >= deadline) {
        ec = errc::timeout;
        return current;
      }
      const std::uint64_t remaining = std::min<std::uint64_t>(deadline - now, std::numeric_limits<std::int64_t>::max());
      words.sleep_while_equal(seen_sequence, std::chrono::nanoseconds(static_cast<std::int64_t>(remaining)));
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
  template <class CompletionToken = vpci::default_completion_token_t<executor_type>>
  auto async_wait_peer_signal(std::uint32_t seen, CompletionToken&& token = CompletionToken{}) {
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
  // bound it with a timer and per-operation cancellation. The cancellation slot, as with Asio's own timers
  // and sockets: the wait installs its handler when it starts and never touches the slot again, and the
  // handler stays installed after the wait completed, harmlessly (it finds the wait by a unique id through
  // a weak reference: a late emit cancels nothing, whatever wait runs now). So the signal may be
  // destroyed at any time, with the wait pending (it then completes normally, no longer cancellable) or
  // its completion queued (the completion does not touch the slot); emit it only where the handler's
  // executor runs, as Asio requires of every slot. Throws boost::system::system_error (the errno of thread
  // creation) when the view's helper thread for this doorbell cannot start; the handler is then never
  // called. Thread-safe; the view may be moved while a wait is pending.
  template <class CompletionToken = vpci::default_completion_token_t<executor_type>>
  auto async_wait_doorbell(shm_doorbell which, std::uint32_t seen_sequence, CompletionToken&& token = CompletionToken{}) {
    return boost::asio::async_initiate<CompletionToken, void(boost::system::error_code, std::uint32_t)>(
        initiate_wait{this}, token, which, seen_sequence);
  }

  // ---- liveness (transport/traits.hpp) ----

  // Whether this view's peer is still there: for a driver-role view the device, for a device-role view
  // the drivers (true until one attached and after, while at least one is attached). False as soon as
  // the peer's process has exited (the kernel marks it while the process exits), shut down cleanly or
  // was replaced. For a driver-role view, once false it stays false. One atomic load (nine for a
  // device-role view), no system call; thread-safe. Reads and writes keep working on a space whose peer
  // is gone (the memory stays), but nobody answers in it any more.
  [[nodiscard]] bool peer_alive() const noexcept {
    return !detail::shm_peer_gone(*mapping_, role_);
  }

  // Whether the object's device, the process that created it, is present, whatever this view's role:
  // for a driver-role view peer_alive(). A co-device (a device-role view open()ed on an object another
  // process created and holds) serves a space whose liveness is that holder's: its VFs fail with
  // peer_gone the moment the holder ends, while its own peer_alive() watches only the drivers. It
  // checks this (from its heartbeat, a timer) and moves to the holder's next object. One atomic load.
  [[nodiscard]] bool device_alive() const noexcept { return detail::shm_device_present(*mapping_); }

  // Waits until peer_alive() is false, without blocking the caller: a helper thread of this view sleeps
  // on the peer's presence word and posts the completion to the handler's associated executor (default:
  // this view's executor). Completion signature: void(boost::system::error_code). Never completes inline;
  // completes with success as soon as the peer is gone (posted at once if it already is), within the
  // time the kernel takes to end the dying process (a one-second re-check covers the one case where its
  // single wake-up could be lost: the watcher it woke dies before passing it on). Errors:
  // vpci::errc::cancelled on cancellation or when this view is destroyed or assigned first. Cancellation:
  // terminal, partial and total; the cancellation slot's rules are those of async_wait_doorbell. Throws
  // as async_wait_doorbell when its helper thread cannot start. Thread-safe; the view may be moved while
  // a wait is pending.
  template <class CompletionToken = vpci::default_completion_token_t<executor_type>>
  auto async_wait_peer_gone(CompletionToken&& token = CompletionToken{}) {
    return boost::asio::async_initiate<CompletionToken, void(boost::system::error_code)>(initiate_peer_gone{this},
                                                                                         token);
  }

 private:
  using doorbell_queue = detail::shm_wait_queue<detail::shm_doorbell_watch>;
  using peer_queue = detail::shm_wait_queue<detail::shm_peer_watch>;

  // The asynchronous waits of one view, made on first use. Behind a pointer so the view stays movable.
  struct view_waits {
    std::mutex mutex;
    std::shared_ptr<doorbell_queue> doorbells[2];
    std::shared_ptr<peer_queue> peer;
  };

  shm_config_space(executor_type executor, std::shared_ptr<detail::shm_mapping> mapping,
                   std::shared_ptr<detail::shm_side_presence> presence, shm_role role, shm_access access)
      : executor_(std::move(executor)),
        mapping_(std::move(mapping)),
        presence_(std::move(presence)),
        waits_(std::make_unique<view_waits>()),
        role_(role),
        access_(access) {}

  static void check_size(std::size_t size) {
    if (size != config::conventional_space_size && size != config::extended_space_size) {
      throw std::invalid_argument("vpci::shm_config_space: size must be 256 or 4096 bytes");
    }
  }

  // Sizes, maps and publishes the object this process just created under `name` (`fd`, closed here), all
  // under the object's lock. Empty when the name no longer refers to it once locked: a replacer took it
  // (it judged the empty object a creation that died), and the caller starts again.
  static std::optional<shm_config_space> make_named(executor_type& executor, const std::string& name,
                                                    std::size_t size, int fd) {
    detail::shm_locked_fd object(fd);
    if (!object.lock(LOCK_EX)) {
      throw boost::system::system_error(errc::busy, "create shared config space " + name + ": another process holds it");
    }
    if (!detail::shm_name_refers_to(name, fd)) return std::nullopt;
    const std::size_t length = detail::shm_layout::total_size(size);
    struct ::stat identity {};
    void* base = MAP_FAILED;
    boost::system::error_code ec;
    if (::ftruncate(fd, static_cast<::off_t>(length)) != 0 || ::fstat(fd, &identity) != 0) {
      ec = detail::last_system_error();
    } else if (const int reserved = ::posix_fallocate(fd, 0, static_cast<::off_t>(length)); reserved != 0) {
      ec = boost::system::error_code(reserved, boost::system::system_category());
    } else if (base = ::mmap(nullptr, length, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0); base == MAP_FAILED) {
      ec = detail::last_system_error();
    }
    if (ec) {
      ::shm_unlink(name.c_str());  // the name is this object's: checked under its lock
      throw boost::system::system_error(ec, "create shared config space " + name);
    }
    auto mapping = std::make_shared<detail::shm_mapping>(base, length, size);
    try {
      mapping->set_name(name, identity);
      return make_device(std::move(executor), std::move(mapping));
    } catch (...) {
      ::shm_unlink(name.c_str());
      throw;
    }
  }

  // What the object under `name` is, for an exclusive create's EEXIST: a daemon restarted after a crash
  // otherwise read only "File exists", with no word that the old device is dead and replace_stale would
  // take the name. Judged under the object's shared lock, as open() judges it, and without any write: a
  // creator holds the lock until it published its object, so the object of a creator that won a race for
  // the name is not called gone while it is being made. An empty object may be one a creator has not
  // locked yet.
  static std::string what_holds(const std::string& name) {
    const int fd = ::shm_open(name.c_str(), O_RDWR, 0);
    if (fd < 0) return {};
    detail::shm_locked_fd object(fd);
    if (!object.lock(LOCK_SH)) return " (another process holds it)";
    switch (detail::examine_shm_object(fd, false)) {
      case detail::shm_found::live: return " (its device lives)";
      case detail::shm_found::empty: return " (an empty object: its creator is starting, or died before sizing it)";
      case detail::shm_found::unpublished:
      case detail::shm_found::gone: return " (its device is gone: shm_create::replace_stale takes the name)";
      case detail::shm_found::other_version: return " (a vpci config space of another layout version)";
      case detail::shm_found::foreign: return " (not a vpci config space)";
    }
    return {};
  }

  // Unlinks the object `name` refers to, if `mode` lets it go (see shm_create), under its lock; returns
  // when the name is free to create again, or refers to another object than the one judged (the caller
  // tries again), and throws when the object stays.
  static void take_name_from_existing(const std::string& name, shm_create mode) {
    const int fd = ::shm_open(name.c_str(), O_RDWR, 0);
    if (fd < 0) {
      if (errno == ENOENT) return;
      throw boost::system::system_error(detail::last_system_error(), "shm_open " + name);
    }
    detail::shm_locked_fd object(fd);
    if (!object.lock(LOCK_EX)) {
      throw boost::system::system_error(errc::busy, "replace shared config space " + name + ": another process holds it");
    }
    if (!detail::shm_name_refers_to(name, fd)) return;
    const detail::shm_found found = detail::examine_shm_object(fd, mode == shm_create::replace);
    if (mode == shm_create::replace_stale) {
      if (found == detail::shm_found::live) {
        throw boost::system::system_error(boost::system::error_code(EEXIST, boost::system::system_category()),
                                          "shared config space " + name + ": its device lives");
      }
      if (found == detail::shm_found::foreign) {
        throw boost::system::system_error(errc::bad_data, "shared object " + name + " is not a vpci config space");
      }
      if (found == detail::shm_found::other_version) {
        throw boost::system::system_error(errc::revision_mismatch, "shared config space " + name);
      }
    }
    if (::shm_unlink(name.c_str()) != 0 && errno != ENOENT) {
      throw boost::system::system_error(detail::last_system_error(), "shm_unlink " + name);
    }
  }

  // A fresh mapping is zero-filled: mark every bit driver-writable, claim the device's presence, then
  // publish the magic last, so that an opener that sees the magic also sees the rest of the header and a
  // present device (or one that has gone since).
  static shm_config_space make_device(executor_type executor, std::shared_ptr<detail::shm_mapping> mapping) {
    const std::size_t size = mapping->space_size();
    for (std::size_t at = 0; at != size; at += 4) {
      std::atomic_ref<std::uint32_t>(mapping->word(detail::shm_layout::header_size + size + at))
          .store(0xFFFFFFFF, std::memory_order_relaxed);
    }
    std::atomic_ref<std::uint32_t>(mapping->word(detail::shm_layout::version_offset))
        .store(detail::shm_layout::version, std::memory_order_relaxed);
    std::atomic_ref<std::uint32_t>(mapping->word(detail::shm_layout::size_offset))
        .store(static_cast<std::uint32_t>(size), std::memory_order_relaxed);
    auto presence = std::make_shared<detail::shm_side_presence>(mapping, shm_role::device);
    mapping->device_presence = presence;
    std::atomic_ref<std::uint32_t>(mapping->word(detail::shm_layout::magic_offset))
        .store(detail::shm_layout::magic, std::memory_order_release);
    return shm_config_space(std::move(executor), std::move(mapping), std::move(presence), shm_role::device,
                            shm_access::read_write);
  }

  // The presence a new view of `mapping` shares: the device's for a device-role view of the creating
  // mapping (none once it has gone: a device never comes back), this mapping's driver presence for a
  // read-write driver-role view (attached anew, sharing the space as the mapping's open() asked, when none
  // is held in this process), none otherwise.
  static std::shared_ptr<detail::shm_side_presence> presence_for(const std::shared_ptr<detail::shm_mapping>& mapping,
                                                                 shm_role role, shm_access access) {
    std::lock_guard lock(mapping->presence_mutex);
    if (role == shm_role::device) return mapping->device_presence.lock();
    if (access != shm_access::read_write) return nullptr;
    auto presence = mapping->driver_presence.lock();
    if (presence && presence->made_in_this_process()) return presence;
    presence = std::make_shared<detail::shm_side_presence>(mapping, shm_role::driver, mapping->driver_sharing);
    mapping->driver_presence = presence;
    return presence;
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

  // Ends every wait of this view (cancelled). The queues' helper threads are joined outside the lock.
  void shutdown_waits() noexcept {
    if (!waits_) return;
    std::shared_ptr<doorbell_queue> doorbells[2];
    std::shared_ptr<peer_queue> peer;
    {
      std::lock_guard lock(waits_->mutex);
      doorbells[0] = std::move(waits_->doorbells[0]);
      doorbells[1] = std::move(waits_->doorbells[1]);
      peer = std::move(waits_->peer);
    }
    for (auto& queue : doorbells)
      if (queue) queue->shutdown();
    if (peer) peer->shutdown();
  }

  std::shared_ptr<doorbell_queue> doorbell_waits(shm_doorbell which) {
    std::lock_guard lock(waits_->mutex);
    auto& queue = waits_->doorbells[static_cast<int>(which)];
    if (!queue) queue = std::make_shared<doorbell_queue>(detail::shm_doorbell_watch(mapping_, which));
    return queue;
  }
  std::shared_ptr<peer_queue> peer_waits() {
    std::lock_guard lock(waits_->mutex);
    if (!waits_->peer) waits_->peer = std::make_shared<peer_queue>(detail::shm_peer_watch(mapping_, role_));
    return waits_->peer;
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

  struct initiate_wait {
    shm_config_space* self;
    using executor_type = shm_config_space::executor_type;
    executor_type get_executor() const noexcept { return self->executor_; }
    template <class Handler>
    void operator()(Handler&& handler, shm_doorbell which, std::uint32_t seen) const {
      detail::start_shm_wait<detail::shm_wait_result::with_value>(self->doorbell_waits(which),
                                                                  std::forward<Handler>(handler), self->executor_, seen);
    }
  };

  struct initiate_peer_gone {
    shm_config_space* self;
    using executor_type = shm_config_space::executor_type;
    executor_type get_executor() const noexcept { return self->executor_; }
    template <class Handler>
    void operator()(Handler&& handler) const {
      detail::start_shm_wait<detail::shm_wait_result::without_value>(self->peer_waits(), std::forward<Handler>(handler),
                                                                     self->executor_, 0);
    }
  };

  executor_type executor_;
  std::shared_ptr<detail::shm_mapping> mapping_;
  std::shared_ptr<detail::shm_side_presence> presence_;  // this view's share of its side's presence, if any
  std::unique_ptr<view_waits> waits_;
  shm_role role_;
  shm_access access_;
};

static_assert(config_space_transport<shm_config_space>);
static_assert(nonblocking_transport_v<shm_config_space>);
static_assert(peer_signalling_transport<shm_config_space>);
static_assert(liveness_transport<shm_config_space>);
static_assert(write_protecting_transport<shm_config_space>);
static_assert(update_signalling_transport<shm_config_space>);

}  // namespace vpci
