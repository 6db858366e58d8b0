#pragma once
// Pacing accepts when descriptors run short or the process's connection limit is reached (the
// HAProxy way: over `maxconn` a listener stops accepting and the kernel's backlog holds the
// clients; on EMFILE it pauses instead of retrying at once).
//
// - ConnectionBudget: the process's downstream connections, counted in one atomic shared by the
//   workers, and the limit on them: `max_connections` and a share of RLIMIT_NOFILE that keeps a
//   descriptor free for each connection's upstream connect (connectionLimit).
// - AcceptGate: one per worker. Its accept loops ask it before each accept; it is closed while
//   the budget is full and during a pause after an accept failed for want of resources
//   (EMFILE, ENFILE, ENOBUFS, ENOMEM; WSAEMFILE, WSAENOBUFS on Windows). A pause ends when a
//   connection of the worker closes or after a delay (100 ms, doubling while failures repeat,
//   up to 1 s), whichever comes first: never a busy loop. One log line when an episode starts,
//   one when accepting went on for a second without a pause, with the counts.
//
// The backends do their part: an accept that fails for want of resources completes (the first
// waiting AcceptOp gets the error) and the kernel accept is not armed again until the next
// acceptEx (proactor.h).

#include <atomic>
#include <coroutine>
#include <cstdint>
#include <string>
#include <system_error>

#include "proxy/common/time.h"
#include "proxy/io/proactor.h"

namespace ferry::io {

// Whether an accept failed for want of resources (descriptors, buffers, memory): trying again at
// once fails again.
bool isAcceptResourceError(std::error_code ec);

// RLIMIT_NOFILE (the soft limit) of this process; 0 where there is none to respect (Windows,
// or unlimited).
std::uint64_t descriptorLimit();

// Descriptors kept out of the downstream share: the process's own (rings, listeners, logs,
// pipes) and headroom for idle pooled upstream connections. Pure.
std::uint64_t reservedDescriptors(std::uint64_t descriptors);

// The limit on downstream connections: `configured` (0: none), and, when descriptors is not 0,
// what the reserve leaves divided by what one connection may hold: perConnection descriptors
// (2: the client's socket and one upstream connection; 6 for a spliced TCP tunnel, whose two
// pipes hold four more). 0: no limit. Pure.
std::uint64_t connectionLimit(std::uint64_t configured, std::uint64_t descriptors,
                              std::uint64_t perConnection = 2);

// The process's downstream connections and their limit. Any thread; one atomic operation per
// connection opened or closed, nothing per request.
class ConnectionBudget {
 public:
  // The one of the process, as the descriptor table is one per process.
  static ConnectionBudget& process();

  // 0: no limit. Any thread (a reload sets it from each worker; the value is the same).
  void setLimit(std::uint64_t n) { limit_.store(n, std::memory_order_relaxed); }
  std::uint64_t limit() const { return limit_.load(std::memory_order_relaxed); }
  std::uint64_t open() const { return open_.load(std::memory_order_relaxed); }
  bool full() const {
    std::uint64_t l = limit();
    return l != 0 && open() >= l;
  }
  // Counts one more connection if that stays within the limit; false (nothing counted) if not.
  bool take();
  // Counts one more connection whatever the limit (one accepted while the worker drains).
  void takeAnyway() { open_.fetch_add(1, std::memory_order_relaxed); }
  void release() { open_.fetch_sub(1, std::memory_order_relaxed); }
  // Episodes in which a worker stopped accepting (ferry_accept_pauses_total).
  std::uint64_t pauses() const { return pauses_.load(std::memory_order_relaxed); }
  void countPause() { pauses_.fetch_add(1, std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> open_{0};
  std::atomic<std::uint64_t> limit_{0};
  std::atomic<std::uint64_t> pauses_{0};
};

// The pause lengths after accepts failed for want of resources. Pure.
class AcceptBackoff {
 public:
  static constexpr Duration kFirst = milliseconds(100);
  static constexpr Duration kMax = seconds(1);
  // The next pause: kFirst, then doubling up to kMax while failures repeat.
  Duration next() {
    Duration d = next_;
    next_ = next_ * 2 < kMax ? next_ * 2 : kMax;
    return d;
  }
  // An accept succeeded: the next failure pauses kFirst again.
  void reset() { next_ = kFirst; }

 private:
  Duration next_ = kFirst;
};

// One worker's say on whether its accept loops accept now. Worker thread only.
class AcceptGate {
 public:
  // How long a loop waits for the budget when no connection of this worker closes first (other
  // workers' closes are not told here).
  static constexpr Duration kLimitPoll = milliseconds(100);
  // Accepting this long without a pause ends an episode (its closing log line).
  static constexpr Duration kQuiet = seconds(1);

  // name: how log lines call the worker ("worker 0").
  AcceptGate(Proactor& p, ConnectionBudget& budget, std::string name);
  ~AcceptGate();
  AcceptGate(const AcceptGate&) = delete;
  AcceptGate& operator=(const AcceptGate&) = delete;

  // Whether a loop may post an accept now: no pause, and the budget not full.
  bool open() const { return !paused() && !budget_.full(); }
  bool paused() const { return pauseTimer_.pending(); }
  // Whether an accept may take connections ahead of demand (AcceptOp::ahead): not while an
  // episode is on, nor with fewer than kAhead connections left in the budget, since a multishot
  // accept empties a whole backlog at once and every socket it takes holds a descriptor.
  static constexpr std::uint64_t kAhead = 4096;
  bool ahead() const {
    std::uint64_t l = budget_.limit();
    return !episode_ && (l == 0 || budget_.open() + kAhead < l);
  }

  // co_await gate.wait(): until the pause ends, a connection of this worker closes, or wakeAll();
  // then the caller looks again (open(), admit(), its own reasons to stop). Starts a pause of
  // kLimitPoll if none is on (the budget is full).
  class Waiter {
   public:
    explicit Waiter(AcceptGate& g) : gate_(g) {}
    bool await_ready() const noexcept { return false; }
    void await_suspend(std::coroutine_handle<> h);
    void await_resume() const noexcept {}

   private:
    friend class AcceptGate;
    AcceptGate& gate_;
    std::coroutine_handle<> handle_;
    Waiter* next_ = nullptr;
  };
  Waiter wait() { return Waiter(*this); }

  // An accept completed with ec. A resource error pauses the gate (or counts in the pause on)
  // and returns true; anything else returns false (the caller logs it).
  bool failed(std::error_code ec);
  // An accept succeeded: counts the connection in the budget; false if the budget is full (the
  // caller holds the socket, waits, and asks again). admitAnyway counts it regardless.
  bool admit();
  void admitAnyway() { budget_.takeAnyway(); }
  // A connection this gate admitted closed: out of the budget; a pause ends now.
  void closed();
  // Every waiter resumes on a later turn (drain, a reload closing listeners).
  void wakeAll();

 private:
  enum class Why : std::uint8_t { kDescriptors, kLimit };
  struct PauseTimer final : TimerOp {
    AcceptGate* gate = nullptr;
    void onComplete(std::error_code, std::size_t) override { gate->onPauseEnd(); }
  };
  struct QuietTimer final : TimerOp {
    AcceptGate* gate = nullptr;
    void onComplete(std::error_code ec, std::size_t) override { gate->onQuiet(ec); }
  };
  void pause(Duration d, Why why, std::error_code ec = {});
  void onPauseEnd();
  void onQuiet(std::error_code ec);

  Proactor& proactor_;
  ConnectionBudget& budget_;
  std::string name_;
  AcceptBackoff backoff_;
  PauseTimer pauseTimer_;
  QuietTimer quietTimer_;
  Waiter* waiters_ = nullptr;
  // The episode: from the first pause to kQuiet of accepting without one.
  bool episode_ = false;
  TimePoint episodeStart_{};
  TimePoint lastPauseEnd_{};
  std::uint64_t failures_ = 0;  // accepts that failed for want of resources
  std::uint64_t waits_ = 0;     // times a loop waited (an accept delayed)
};

}  // namespace ferry::io
