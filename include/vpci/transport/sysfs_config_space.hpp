// vpci::sysfs_config_space: a Linux PCI function's configuration space through its sysfs file
// (/sys/bus/pci/devices/DDDD:BB:DD.F/config), read and written with pread/pwrite. Hosted (Boost.Asio).
//
// Access rules:
// - Read-only unless write access is asked for explicitly (access_mode::read_write): the file is opened
//   O_RDONLY, and a write through such an object fails with vpci::errc::read_only before any I/O.
// - Bounds as every transport (config::check_access). Each naturally aligned 1/2/4-byte access of
//   config::for_each_access is exactly one pread/pwrite of that width at that offset; Linux's sysfs config
//   file turns an aligned 1/2/4-byte pread/pwrite into one config read/write of that width
//   (pci_read_config_byte/word/dword), so each such access is a single config cycle: dword accesses at
//   dword offsets are atomic with respect to the device, a transfer of several dwords is not.
// - size() is the *readable* size: the file size (256 or 4096) for a privileged reader; Linux returns only
//   the first 64 bytes (128 for a CardBus bridge) to a reader without CAP_SYS_ADMIN, and size() is then that
//   shorter length, so that a read inside size() never comes back short. file_size() is the file's size
//   either way: size() < file_size() says the reader was shown only the start.
// - An access past file_size() fails with errc::out_of_range (there is no such config space). A read
//   inside the file but past size() fails with EACCES (system_category), before any I/O: the space is
//   there but this opener may not read it (Linux's pci_read_config answers such a reader short, without
//   an error), and a caller told out_of_range would look for its registers elsewhere instead of asking
//   for privilege; linux_block_ops passes it through as -EACCES. Writes are bounded by the file only, as
//   Linux's pci_write_config asks no privilege of a writer the file's mode let open it (a kernel in
//   lockdown refuses every write, EPERM; a write into a range a driver reserved taints the kernel).
// - A host whose config accessors are 32 bits wide only turns a 1- or 2-byte write into a dword
//   read-modify-write, which may clear write-one-to-clear bits beside it; the mailbox makes dword accesses
//   only.
// - A function removed while its file is open (hot unplug, VF Enable cleared through sriov_numvfs) fails
//   every access of that file with ENODEV, for good: Linux never revives the file, a function that comes
//   back has another. The first ENODEV is the object's lasting_failure(), and every later access fails at
//   once with it, making no system call, until open() attaches a file again. An endpoint over the object
//   ends there (its pending operations and its invalidation wait complete with ENODEV).
// - While Linux blocks config access to the function (pci_cfg_access_lock, held through a function reset,
//   whose wait for the function to become ready may last up to a minute), every access sleeps in the
//   kernel until it is released, and a signal does not end it; open() (which reads to learn size()),
//   close() and destruction wait as long.
//
// Asynchronous operations: a multi-dword transfer is a loop of blocking system calls, so it never runs on
// the caller's io_context thread. Each object owns one worker thread (a boost::asio::thread_pool of size
// one) that runs the pread/pwrite loop; the completion is then posted to the handler's associated executor
// (by default the object's executor), never invoked inline. Operations of one object run in the order they
// were started. The caller keeps the buffer alive until the completion runs, as for every Asio operation.
//
// Thread safety: distinct objects, safe. A shared object: read, write, size, lasting_failure, async_read
// and async_write may be called concurrently; open, close, move and destruction may not overlap any other
// call. Destruction and close() wait for the operation running on the worker (at most 4096 bytes of config
// accesses, each as long as Linux lets it take: above) and complete the ones not yet started with
// boost::asio::error::operation_aborted.
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <new>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/associated_allocator.hpp>
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/bind_allocator.hpp>
#include <boost/asio/cancellation_type.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/system/error_code.hpp>
#include <boost/system/system_error.hpp>

#include <vpci/config/access.hpp>
#include <vpci/error.hpp>
#include <vpci/transport/default_token.hpp>

namespace vpci {

// A PCI function's address as Linux names it: domain:bus:device.function, "DDDD:BB:DD.F" in hex. The
// domain is 32-bit (pci_domain_nr() is an int): Linux prints it with at least 4 digits ("%04x"), so a
// domain past ffff, such as an Intel VMD controller's 10000 and above, takes 5 or more.
struct pci_address {
  std::uint32_t domain = 0;
  std::uint8_t bus = 0;
  std::uint8_t device = 0;    // 0..31
  std::uint8_t function = 0;  // 0..7

  // Accepts "DDDD:BB:DD.F" with a domain of 4 to 8 hex digits and lspci's short "BB:DD.F" (domain 0);
  // hex digits of either case, exactly 2/2/1 for bus, device and function. Anything else (including
  // device > 0x1F or function > 7) is std::nullopt.
  [[nodiscard]] static std::optional<pci_address> parse(std::string_view text) noexcept {
    auto hex = [](std::string_view digits, std::size_t min_count, std::size_t max_count, unsigned max, unsigned& out) {
      if (digits.size() < min_count || digits.size() > max_count) return false;
      for (char c : digits) {
        const bool is_hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
        if (!is_hex) return false;
      }
      auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), out, 16);
      return error == std::errc{} && end == digits.data() + digits.size() && out <= max;
    };
    constexpr std::size_t short_form = 7;  // "BB:DD.F"
    unsigned domain = 0, bus = 0, device = 0, function = 0;
    if (text.size() > short_form) {
      const std::size_t domain_digits = text.size() - short_form - 1;
      if (text[domain_digits] != ':' || !hex(text.substr(0, domain_digits), 4, 8, 0xFFFFFFFFu, domain))
        return std::nullopt;
      text.remove_prefix(domain_digits + 1);
    }
    if (text.size() != short_form || text[2] != ':' || text[5] != '.') return std::nullopt;
    if (!hex(text.substr(0, 2), 2, 2, 0xFF, bus) || !hex(text.substr(3, 2), 2, 2, 0x1F, device) ||
        !hex(text.substr(6, 1), 1, 1, 7, function))
      return std::nullopt;
    return pci_address{domain, static_cast<std::uint8_t>(bus), static_cast<std::uint8_t>(device),
                       static_cast<std::uint8_t>(function)};
  }

  // "DDDD:BB:DD.F", lower-case hex, the domain in 4 digits or as many more as it needs: the directory
  // names under /sys/bus/pci/devices, and lspci -D's.
  [[nodiscard]] std::string to_string() const {
    char text[24];
    std::snprintf(text, sizeof text, "%04x:%02x:%02x.%x", static_cast<unsigned>(domain), static_cast<unsigned>(bus),
                  static_cast<unsigned>(device), static_cast<unsigned>(function & 0x7));
    return text;
  }

  // The routing ID within the domain: bus 15:8, device 7:3, function 2:0.
  [[nodiscard]] constexpr std::uint16_t routing_id() const noexcept {
    return static_cast<std::uint16_t>(bus << 8 | (device & 0x1F) << 3 | (function & 0x7));
  }

  friend constexpr bool operator==(const pci_address&, const pci_address&) = default;
};

enum class access_mode { read_only, read_write };

class sysfs_config_space {
 public:
  using executor_type = boost::asio::any_io_executor;

  // A closed object; open() or open_device() attaches a file.
  explicit sysfs_config_space(executor_type executor) : executor_(std::move(executor)) {}

  // Opens `config_file` (any file: tests use regular files). Throws boost::system::system_error.
  sysfs_config_space(executor_type executor, const std::string& config_file, access_mode mode = access_mode::read_only)
      : executor_(std::move(executor)) {
    boost::system::error_code ec;
    open(config_file, mode, ec);
    if (ec) throw boost::system::system_error(ec, "vpci::sysfs_config_space: " + config_file);
  }

  sysfs_config_space(const sysfs_config_space&) = delete;
  sysfs_config_space& operator=(const sysfs_config_space&) = delete;
  sysfs_config_space(sysfs_config_space&& other) noexcept
      : executor_(other.executor_),
        fd_(std::exchange(other.fd_, -1)),
        size_(std::exchange(other.size_, 0)),
        file_size_(std::exchange(other.file_size_, 0)),
        mode_(other.mode_),
        worker_(std::move(other.worker_)),
        shared_(std::move(other.shared_)) {}
  sysfs_config_space& operator=(sysfs_config_space&& other) noexcept {
    if (this != &other) {
      close();
      executor_ = other.executor_;
      fd_ = std::exchange(other.fd_, -1);
      size_ = std::exchange(other.size_, 0);
      file_size_ = std::exchange(other.file_size_, 0);
      mode_ = other.mode_;
      worker_ = std::move(other.worker_);
      shared_ = std::move(other.shared_);
    }
    return *this;
  }
  ~sysfs_config_space() { close(); }

  // The sysfs config file of the function at `address`.
  [[nodiscard]] static std::string device_config_path(const pci_address& address) {
    return "/sys/bus/pci/devices/" + address.to_string() + "/config";
  }

  // Opens a file; on failure sets ec (errno's error, that of the open or of the reads that learn size(), or
  // the worker thread's that could not start) and leaves the object closed.
  void open(const std::string& config_file, access_mode mode, boost::system::error_code& ec) {
    close();
    ec.clear();
    const int fd = ::open(config_file.c_str(), (mode == access_mode::read_write ? O_RDWR : O_RDONLY) | O_CLOEXEC);
    if (fd < 0) {
      ec = last_error();
      return;
    }
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
      ec = last_error();
      ::close(fd);
      return;
    }
    const std::size_t file_size = st.st_size > 0 ? static_cast<std::size_t>(st.st_size) : 0;
    std::size_t readable = 0;
    if (const int failure = readable_size(fd, file_size, readable); failure != 0) {
      ec = {failure, boost::system::system_category()};
      ::close(fd);
      return;
    }
    // The worker is started before anything is kept: a thread that cannot start (EAGAIN at the process's
    // limit) or memory that runs out is this call's error, with the object and the file closed.
    std::shared_ptr<shared_state> shared;
    std::unique_ptr<boost::asio::thread_pool> worker;
    try {
      shared = std::make_shared<shared_state>();
      worker = std::make_unique<boost::asio::thread_pool>(1);
    } catch (const boost::system::system_error& e) {  // Asio's thread start (throw_error)
      ec = e.code();
    } catch (const std::bad_alloc&) {
      ec = make_error_code(boost::system::errc::not_enough_memory);
    }
    if (ec) {
      ::close(fd);
      return;
    }
    fd_ = fd;
    mode_ = mode;
    file_size_ = file_size;
    size_ = readable;
    shared_ = std::move(shared);
    worker_ = std::move(worker);
  }

  // Opens /sys/bus/pci/devices/<address>/config; errc::invalid_argument for an address that does not parse.
  void open_device(std::string_view address, access_mode mode, boost::system::error_code& ec) {
    const auto parsed = pci_address::parse(address);
    if (!parsed) {
      close();
      ec = errc::invalid_argument;
      return;
    }
    open(device_config_path(*parsed), mode, ec);
  }

  // Waits for operations running on the worker, aborts the ones not started, closes the file.
  void close() noexcept {
    if (worker_) {
      shared_->closing.store(true);
      worker_->join();
      worker_.reset();
    }
    shared_.reset();
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    size_ = 0;
    file_size_ = 0;
  }

  [[nodiscard]] bool is_open() const noexcept { return fd_ >= 0; }
  [[nodiscard]] access_mode mode() const noexcept { return mode_; }
  [[nodiscard]] executor_type get_executor() const noexcept { return executor_; }
  // The readable size in bytes (see the header comment); 0 when closed.
  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  // The file's size in bytes (256 or 4096 for a sysfs config file), whatever this reader may read; 0 when closed.
  [[nodiscard]] std::size_t file_size() const noexcept { return file_size_; }
  // ENODEV (system_category) once an access found the function removed (see the header comment); an empty
  // code while accesses may work, and when closed.
  [[nodiscard]] boost::system::error_code lasting_failure() const noexcept {
    const int failure = shared_ ? shared_->removed.load() : 0;
    return failure != 0 ? boost::system::error_code{failure, boost::system::system_category()}
                        : boost::system::error_code{};
  }

  // Errors: boost::asio::error::bad_descriptor (closed), lasting_failure() when there is one,
  // errc::out_of_range / errc::invalid_argument (bounds of the file), EACCES (system_category: inside the
  // file, past size(), what this opener may read), errno's error of a failed pread,
  // boost::system::errc::io_error for a short one. Returns the bytes read, 0 on error.
  std::size_t read(std::size_t offset, std::span<std::byte> out, boost::system::error_code& ec) const {
    ec = transfer(fd_, shared_.get(), {size_, file_size_}, mode_, offset, out.data(), out.size(), false);
    return ec ? 0 : out.size();
  }

  // The errors of read but EACCES (a write may reach the whole file), and errc::read_only when the object
  // was opened read-only (nothing is written).
  std::size_t write(std::size_t offset, std::span<const std::byte> in, boost::system::error_code& ec) {
    // pwrite takes a const buffer; the cast only lets read and write share one loop.
    ec = transfer(fd_, shared_.get(), {size_, file_size_}, mode_, offset, const_cast<std::byte*>(in.data()), in.size(), true);
    return ec ? 0 : in.size();
  }

  // Without a token, returns a deferred operation (boost::asio::deferred).
  // Completion signature: void(boost::system::error_code, std::size_t bytes_read). Errors: those of read,
  // and boost::asio::error::operation_aborted when cancelled (or the object closed) before the transfer
  // started. Cancellation: terminal, partial and total are honoured until the worker starts the transfer;
  // a started transfer (at most 4096 bytes of config accesses) runs to its end. Never completes inline.
  template <class CompletionToken = vpci::default_completion_token_t<executor_type>>
  auto async_read(std::size_t offset, std::span<std::byte> out,
                  CompletionToken&& token = CompletionToken{}) {
    return boost::asio::async_initiate<CompletionToken, void(boost::system::error_code, std::size_t)>(
        initiation{this}, token, offset, out.data(), out.size(), false);
  }

  // Completion signature: void(boost::system::error_code, std::size_t bytes_written). Errors: those of
  // write and of async_read; errc::read_only is also reported through the completion, never inline.
  template <class CompletionToken = vpci::default_completion_token_t<executor_type>>
  auto async_write(std::size_t offset, std::span<const std::byte> in,
                   CompletionToken&& token = CompletionToken{}) {
    return boost::asio::async_initiate<CompletionToken, void(boost::system::error_code, std::size_t)>(
        initiation{this}, token, offset, const_cast<std::byte*>(in.data()), in.size(), true);
  }

 private:
  static boost::system::error_code last_error() noexcept {
    return {errno, boost::system::system_category()};
  }

  // Probes the last byte of the file, then the 128- and 64-byte limits unprivileged readers get: a byte
  // a reader is not shown reads as the end of the file. Sets `readable` (0 when none is shown); returns a
  // failed read's errno (the function removed: ENODEV), else 0.
  static int readable_size(int fd, std::size_t file_size, std::size_t& readable) noexcept {
    readable = 0;
    for (std::size_t candidate : {file_size, std::size_t{128}, std::size_t{64}}) {
      if (candidate == 0 || candidate > file_size) continue;
      std::byte probe{};
      ssize_t n;
      do {
        n = ::pread(fd, &probe, 1, static_cast<off_t>(candidate - 1));
      } while (n < 0 && errno == EINTR);
      if (n < 0) return errno;
      if (n == 1) {
        readable = candidate;
        return 0;
      }
    }
    return 0;
  }

  // The object's two sizes, as a transfer checks them.
  struct extent {
    std::size_t readable;
    std::size_t file;
  };

  // What the object's operations share with it: queued ones may outlive a moved-from object's members.
  struct shared_state {
    // Set by close() so that operations queued behind the one running complete as aborted, quickly.
    std::atomic<bool> closing{false};
    // ENODEV once an access found the function removed: lasting_failure().
    std::atomic<int> removed{0};
  };

  // One pread/pwrite per aligned access; stops at the first failure.
  static boost::system::error_code transfer(int fd, shared_state* shared, extent sizes, access_mode mode,
                                            std::size_t offset, std::byte* data, std::size_t length,
                                            bool is_write) noexcept {
    if (fd < 0 || shared == nullptr) return boost::asio::error::bad_descriptor;
    if (const int removed = shared->removed.load(); removed != 0) return {removed, boost::system::system_category()};
    if (errc e = config::check_access(sizes.file, offset, length); e != no_error) return e;
    if (!is_write && config::check_access(sizes.readable, offset, length) != no_error)
      return {EACCES, boost::system::system_category()};
    if (is_write && mode != access_mode::read_write) return errc::read_only;
    int failure = 0;
    bool short_transfer = false;
    config::for_each_access(offset, length, [&](std::size_t at, std::size_t width) {
      std::byte* p = data + (at - offset);
      ssize_t n;
      do {
        n = is_write ? ::pwrite(fd, p, width, static_cast<off_t>(at)) : ::pread(fd, p, width, static_cast<off_t>(at));
      } while (n < 0 && errno == EINTR);
      if (n < 0) {
        failure = errno;
        return errc::device_error;  // stops the loop; the errno is reported below
      }
      if (static_cast<std::size_t>(n) != width) {
        short_transfer = true;
        return errc::device_error;
      }
      return no_error;
    });
    if (failure == ENODEV) shared->removed.store(failure);
    if (failure != 0) return {failure, boost::system::system_category()};
    if (short_transfer) return boost::system::errc::make_error_code(boost::system::errc::io_error);
    return {};
  }

  struct operation_state {
    std::atomic<bool> cancelled{false};
  };

  struct cancel_handler {
    std::shared_ptr<operation_state> state;
    void operator()(boost::asio::cancellation_type type) const {
      if ((type & (boost::asio::cancellation_type::terminal | boost::asio::cancellation_type::partial |
                   boost::asio::cancellation_type::total)) != boost::asio::cancellation_type::none)
        state->cancelled.store(true);
    }
  };

  struct initiation {
    sysfs_config_space* self;

    template <class Handler>
    void operator()(Handler&& handler, std::size_t offset, std::byte* data, std::size_t length, bool is_write) const {
      using handler_type = std::decay_t<Handler>;
      auto completion_executor = boost::asio::get_associated_executor(handler, self->executor_);
      auto work = boost::asio::make_work_guard(completion_executor);
      auto state = std::make_shared<operation_state>();
      auto slot = boost::asio::get_associated_cancellation_slot(handler);
      if (slot.is_connected()) slot.template emplace<cancel_handler>(cancel_handler{state});

      auto complete = [work = std::move(work), state](handler_type h, boost::system::error_code ec,
                                                      std::size_t n) mutable {
        auto ex = work.get_executor();
        // The completion's post carries the handler's allocator: an executor that takes it as a property
        // (an io_context's, as the handler's own) allocates from it; Asio 1.81's any_io_executor (this
        // object's) does not carry the property and allocates its own memory, none of it left when the
        // handler runs. The access's own state (make_shared above) is this object's.
        const auto allocator = boost::asio::get_associated_allocator(h);
        auto call = [h = std::move(h), ec, n, work = std::move(work)]() mutable {
          // The slot belongs to the handler's executor: clear it there, before the handler may reuse it.
          auto handler_slot = boost::asio::get_associated_cancellation_slot(h);
          if (handler_slot.is_connected()) handler_slot.clear();
          work.reset();
          std::move(h)(ec, n);
        };
        boost::asio::post(ex, boost::asio::bind_allocator(allocator, std::move(call)));
      };

      if (!self->worker_) {
        complete(std::forward<Handler>(handler), boost::asio::error::bad_descriptor, 0);
        return;
      }
      boost::asio::post(*self->worker_, [h = handler_type(std::forward<Handler>(handler)), complete = std::move(complete),
                                         shared = self->shared_, fd = self->fd_,
                                         sizes = extent{self->size_, self->file_size_}, mode = self->mode_,
                                         offset, data, length, is_write, state]() mutable {
        if (state->cancelled.load() || shared->closing.load()) {
          complete(std::move(h), boost::asio::error::operation_aborted, 0);
          return;
        }
        const boost::system::error_code ec = transfer(fd, shared.get(), sizes, mode, offset, data, length, is_write);
        complete(std::move(h), ec, ec ? 0 : length);
      });
    }
  };

  executor_type executor_;
  int fd_ = -1;
  std::size_t size_ = 0;
  std::size_t file_size_ = 0;
  access_mode mode_ = access_mode::read_only;
  std::unique_ptr<boost::asio::thread_pool> worker_;
  std::shared_ptr<shared_state> shared_;
};

}  // namespace vpci
