// The exhaustive interleaving explorer's search (tests/explore): a depth-bounded depth-first search over
// the states of a "world" (real engines plus the shared medium and an oracle), every state deduplicated by
// a 64-bit hash of its full state, with the invariants the world checks after every transition and a
// liveness check (a fair run with no new events must bring every pending operation to an end) at every new
// state. On a violation the path to it is shrunk by replay (a step is dropped when the violation still
// happens without it) and printed step by step.
//
// A World provides:
//   using step_type = ...;                        // a transition label, replayable
//   void enabled(std::vector<step_type>&) const;  // the transitions enabled in this state
//   bool apply(step_type);                        // false: not enabled (the world is unchanged)
//   std::uint64_t hash() const;                   // the full state (diagnostic counters excepted)
//   bool check_progress();                        // the fair run (on a copy); false: a violation
//   const char* violation() const;                // the invariant broken (nullptr: none)
//   std::string detail() const;                   // what broke it
//   std::string describe(step_type) const;        // a trace line
//   void set_log(std::vector<std::string>*);      // notes of what each step did (trace printing)
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace vpci::explore {

// FNV-style mixing over 8-byte words: fast, and 64 bits keep collisions out of reach at 10^7 states.
class hasher {
 public:
  void bytes(const void* data, std::size_t length) noexcept {
    const auto* p = static_cast<const unsigned char*>(data);
    while (length >= 8) {
      std::uint64_t w;
      std::memcpy(&w, p, 8);
      mix(w);
      p += 8;
      length -= 8;
    }
    std::uint64_t tail = length;
    for (std::size_t i = 0; i < length; ++i) tail = (tail << 8) | p[i];
    mix(tail ^ 0xA5A5A5A500000000ull);
  }
  template <class T>
  void value(T v) noexcept {
    static_assert(sizeof(T) <= 8);
    std::uint64_t w = 0;
    std::memcpy(&w, &v, sizeof(T));
    mix(w);
  }
  [[nodiscard]] std::uint64_t digest() const noexcept {
    std::uint64_t z = state_ + 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }

 private:
  void mix(std::uint64_t w) noexcept {
    state_ ^= w;
    state_ *= 0x100000001B3ull;
    state_ = (state_ << 29) | (state_ >> 35);
  }
  std::uint64_t state_{0xCBF29CE484222325ull};
};

struct search_limits {
  unsigned depth{20};
  std::uint64_t max_states{~std::uint64_t{0}};
  bool check_progress{true};  // the fair-run liveness check at every new state
};

struct search_result {
  std::uint64_t states{0};       // distinct states (by hash)
  std::uint64_t transitions{0};  // transitions executed by the search (fair runs not counted)
  std::uint64_t revisits{0};     // transitions that reached a state already explored deep enough
  std::uint64_t progress_checks{0};
  double seconds{0};
  bool complete{true};  // false: max_states stopped the search before the depth bound was exhausted
  std::string invariant;  // empty: no violation
  std::string detail;
  std::vector<std::string> trace;  // the shrunk path, one line per step, then the violation
};

namespace detail {
// Open addressing, hash -> the most remaining depth a state was explored with (0 reserved: empty).
class visited_table {
 public:
  visited_table() { rehash(1u << 16); }
  // True when the state must be (re)explored with `remaining`; `fresh` says whether it is new.
  bool visit(std::uint64_t key, std::uint8_t remaining, bool& fresh) {
    if (key == 0) key = 1;
    if ((count_ + 1) * 2 > keys_.size()) rehash(keys_.size() * 2);
    std::size_t i = key & (keys_.size() - 1);
    for (;;) {
      if (keys_[i] == 0) {
        keys_[i] = key;
        depth_[i] = remaining;
        ++count_;
        fresh = true;
        return true;
      }
      if (keys_[i] == key) {
        fresh = false;
        if (depth_[i] >= remaining) return false;
        depth_[i] = remaining;
        return true;
      }
      i = (i + 1) & (keys_.size() - 1);
    }
  }
  [[nodiscard]] std::size_t size() const noexcept { return count_; }

 private:
  void rehash(std::size_t size) {
    std::vector<std::uint64_t> keys(size, 0);
    std::vector<std::uint8_t> depth(size, 0);
    for (std::size_t j = 0; j < keys_.size(); ++j) {
      if (keys_[j] == 0) continue;
      std::size_t i = keys_[j] & (size - 1);
      while (keys[i] != 0) i = (i + 1) & (size - 1);
      keys[i] = keys_[j];
      depth[i] = depth_[j];
    }
    keys_.swap(keys);
    depth_.swap(depth);
  }
  std::vector<std::uint64_t> keys_;
  std::vector<std::uint8_t> depth_;
  std::size_t count_{0};
};
}  // namespace detail

template <class World>
class explorer {
 public:
  using step_type = typename World::step_type;

  explorer(const World& root, search_limits limits) : root_(root), limits_(limits) {}

  search_result run() {
    const auto start = std::chrono::steady_clock::now();
    result_ = {};
    path_.clear();
    World w = root_;
    bool fresh = false;
    (void)visited_.visit(w.hash(), static_cast<std::uint8_t>(limits_.depth), fresh);
    result_.states = 1;
    if (limits_.check_progress) check_progress(w);
    if (result_.invariant.empty()) dfs(w, limits_.depth);
    result_.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (!result_.invariant.empty()) shrink_and_print();
    return result_;
  }

 private:
  void check_progress(const World& w) {
    World copy = w;
    ++result_.progress_checks;
    if (!copy.check_progress()) fail(copy, true);
  }

  void fail(const World& w, bool in_progress_check) {
    result_.invariant = w.violation();
    result_.detail = w.detail();
    failing_path_ = path_;
    failing_in_progress_ = in_progress_check;
  }

  bool stop() const { return !result_.invariant.empty() || !result_.complete; }

  void dfs(const World& w, unsigned remaining) {
    if (remaining == 0) return;
    std::vector<step_type> steps;
    w.enabled(steps);
    for (const step_type& s : steps) {
      World child = w;
      if (!child.apply(s)) continue;
      ++result_.transitions;
      path_.push_back(s);
      if (child.violation() != nullptr) {
        fail(child, false);
        return;
      }
      bool fresh = false;
      if (visited_.visit(child.hash(), static_cast<std::uint8_t>(remaining - 1), fresh)) {
        if (fresh) {
          if (++result_.states >= limits_.max_states) result_.complete = false;
          if (limits_.check_progress) check_progress(child);
        }
        if (!stop()) dfs(child, remaining - 1);
      } else {
        ++result_.revisits;
      }
      path_.pop_back();
      if (stop()) return;
    }
  }

  // Replays `steps` from the root; true when the same invariant breaks (the path is cut there).
  bool reproduces(std::vector<step_type>& steps) const {
    World w = root_;
    for (std::size_t i = 0; i < steps.size(); ++i) {
      if (!w.apply(steps[i])) return false;
      if (w.violation() != nullptr) {
        if (result_.invariant != w.violation()) return false;
        steps.resize(i + 1);
        return true;
      }
      if (failing_in_progress_) {
        World copy = w;
        if (!copy.check_progress()) {
          if (result_.invariant != copy.violation()) return false;
          steps.resize(i + 1);
          return true;
        }
      }
    }
    if (failing_in_progress_ && steps.empty()) {
      World copy = w;
      return !copy.check_progress() && result_.invariant == copy.violation();
    }
    return false;
  }

  void shrink_and_print() {
    std::vector<step_type> steps = failing_path_;
    if (reproduces(steps)) {
      for (std::size_t i = steps.size(); i-- > 0;) {
        std::vector<step_type> candidate = steps;
        candidate.erase(candidate.begin() + static_cast<std::ptrdiff_t>(i));
        if (reproduces(candidate)) steps = candidate;
        if (i > steps.size()) i = steps.size();
      }
    }
    // Print the shrunk path with what each step did, and the violation as the replay sees it.
    std::vector<std::string> notes;
    World w = root_;
    w.set_log(&notes);
    for (std::size_t i = 0; i < steps.size(); ++i) {
      const std::string line = std::to_string(i + 1) + ". " + w.describe(steps[i]);
      notes.clear();
      (void)w.apply(steps[i]);
      std::string joined;
      for (const std::string& n : notes) joined += (joined.empty() ? "  [" : "; ") + n;
      if (!joined.empty()) joined += "]";
      result_.trace.push_back(line + joined);
      if (w.violation() != nullptr) break;
    }
    if (failing_in_progress_ && w.violation() == nullptr) {
      result_.trace.push_back("then a fair run with no new events:");
      notes.clear();
      World copy = w;
      (void)copy.check_progress();
      // Its last steps (a livelock repeats itself).
      const std::size_t shown = notes.size() < 24 ? notes.size() : 24;
      if (shown < notes.size()) result_.trace.push_back("   ... " + std::to_string(notes.size() - shown) + " steps ...");
      for (std::size_t i = notes.size() - shown; i < notes.size(); ++i) result_.trace.push_back("   " + notes[i]);
      result_.detail = copy.detail();
    } else if (w.violation() != nullptr) {
      result_.detail = w.detail();
    }
    result_.trace.push_back("VIOLATION " + result_.invariant + ": " + result_.detail);
  }

  World root_;
  search_limits limits_;
  search_result result_;
  detail::visited_table visited_;
  std::vector<step_type> path_;
  std::vector<step_type> failing_path_;
  bool failing_in_progress_{false};
};

}  // namespace vpci::explore
