// vpci-conformance: a mailbox_port over any config_space_transport (memory, POSIX shared memory, sysfs,
// vfio-user), and finding the window in the VF's config space (docs/protocol.md 2).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <boost/system/error_code.hpp>
#include <boost/system/result.hpp>

#include <vpci/block/endian.hpp>
#include <vpci/config/vsec.hpp>
#include <vpci/error.hpp>
#include <vpci/transport/concept.hpp>
#include <vpci/transport/traits.hpp>
#include <vpci/wire/mailbox.hpp>

#include "mailbox_cases.hpp"

namespace vpci::conformance {

// How long one wait for the PF may last. `polls` non-zero: that many status polls and no real time (a PF
// in this process that answers inside the VF's writes: if it has not answered by then it never will);
// otherwise `timeout` of real time, polling every `interval`.
struct answer_budget {
  std::size_t polls{0};
  std::chrono::milliseconds timeout{1000};
  std::chrono::microseconds interval{20};
};

template <config_space_transport Transport>
class transport_mailbox_port final : public mailbox_port {
 public:
  // `reached_through` is how the tool reached the window, transport and option ("vfio-user (--vfio-user
  // SOCKET)"), for the reasons that name it: the transport's traits say what it can do, not what it is.
  transport_mailbox_port(Transport& transport, std::size_t window, answer_budget budget, std::string reached_through)
      : transport_(transport), window_(window), budget_(budget), reached_through_(std::move(reached_through)) {}

  std::string read(std::size_t offset, std::span<std::byte> out) override {
    boost::system::error_code ec;
    transport_.read(window_ + offset, out, ec);
    return ec ? ec.message() : std::string{};
  }
  std::string write(std::size_t offset, std::span<const std::byte> bytes, std::size_t width) override {
    for (std::size_t at = 0; at < bytes.size(); at += width) {
      boost::system::error_code ec;
      const std::size_t n = std::min(width, bytes.size() - at);
      transport_.write(window_ + offset + at, bytes.subspan(at, n), ec);
      if (ec) return ec.message();
    }
    return {};
  }
  bool wait_more(std::size_t polls, std::chrono::steady_clock::time_point started) override {
    if (budget_.polls != 0) return polls + 1 < budget_.polls;
    if (std::chrono::steady_clock::now() - started >= budget_.timeout) return false;
    std::this_thread::sleep_for(budget_.interval);
    return true;
  }
  [[nodiscard]] std::string budget() const override {
    return budget_.polls != 0 ? std::to_string(budget_.polls) + " status polls (in-process PF)"
                              : std::to_string(budget_.timeout.count()) + " ms";
  }
  [[nodiscard]] std::optional<std::uint32_t> signal_count() const override {
    // A transport that coalesces signals (vfio-user's automasked INTx) cannot be counted: mailbox.signal SKIPs.
    if constexpr (peer_signals_counted_v<Transport>) return transport_.peer_signal_sequence();
    else return std::nullopt;
  }
  [[nodiscard]] std::string signal_unobservable() const override {
    if constexpr (!peer_signalling_transport<Transport>)
      return reached_through_ + " carries no signal from the PF";
    else if constexpr (!peer_signals_counted_v<Transport>)
      return reached_through_ + " delivers the PF's signals coalesced (several arrive as one interrupt): they cannot be counted";
    else
      return {};
  }

 private:
  Transport& transport_;
  std::size_t window_;
  answer_budget budget_;
  std::string reached_through_;
};

// Finds the window: the first DVSEC with `vendor` (default: the function's own vendor ID at 0x00, any
// vendor on a VF, whose vendor ID reads 0xFFFF: config::default_dvsec_vendor) and `dvsec_id` on the
// extended capability list. The checks of its fields are the case
// mailbox.window_registers'; this only needs the DVSEC.
template <config_space_transport Transport>
boost::system::result<std::size_t> find_window(Transport& transport, std::optional<std::uint16_t> vendor,
                                               std::uint16_t dvsec_id = mailbox::default_dvsec_id) {
  std::vector<std::byte> space(transport.size());
  boost::system::error_code ec;
  transport.read(0, space, ec);
  if (ec) return ec;
  auto header = config::decode_header(space);
  if (!vendor && !header) return make_error_code(header.error());
  const config::dvsec_vendor_filter owner = vendor ? config::dvsec_vendor_filter(*vendor) : config::default_dvsec_vendor(*header);
  auto dvsec = config::find_dvsec(space, owner, dvsec_id);
  if (!dvsec) return make_error_code(dvsec.error());
  return std::size_t{dvsec->offset};
}

}  // namespace vpci::conformance
