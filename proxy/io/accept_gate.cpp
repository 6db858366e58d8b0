#include "proxy/io/accept_gate.h"

#ifndef _WIN32
#include <sys/resource.h>
#endif

#include <algorithm>
#include <utility>

#include "proxy/common/log.h"

namespace ferry::io {

bool isAcceptResourceError(std::error_code ec) {
  return ec == std::errc::too_many_files_open || ec == std::errc::too_many_files_open_in_system ||
         ec == std::errc::no_buffer_space || ec == std::errc::not_enough_memory;
}

std::uint64_t descriptorLimit() {
#ifdef _WIN32
  return 0;  // sockets are handles: no per-process table to run out of
#else
  rlimit r{};
  if (::getrlimit(RLIMIT_NOFILE, &r) != 0 || r.rlim_cur == RLIM_INFINITY) return 0;
  return static_cast<std::uint64_t>(r.rlim_cur);
#endif
}

std::uint64_t reservedDescriptors(std::uint64_t descriptors) {
  // 64 for what the process holds whatever its load (per worker: a ring or an epoll set, an
  // eventfd, a socket per listener; the admin listener, logs, the resolver), and a sixteenth
  // for what grows with it (idle pooled upstream connections, splice pipes, accepted sockets
  // waiting for the budget).
  return 64 + descriptors / 16;
}

std::uint64_t connectionLimit(std::uint64_t configured, std::uint64_t descriptors,
                              std::uint64_t perConnection) {
  if (descriptors == 0) return configured;
  std::uint64_t reserve = reservedDescriptors(descriptors);
  std::uint64_t per = std::max<std::uint64_t>(perConnection, 1);
  std::uint64_t share = descriptors > reserve + per ? (descriptors - reserve) / per : 1;
  return configured == 0 ? share : std::min(configured, share);
}

ConnectionBudget& ConnectionBudget::process() {
  static ConnectionBudget budget;
  return budget;
}

bool ConnectionBudget::take() {
  std::uint64_t n = open_.load(std::memory_order_relaxed);
  for (;;) {
    std::uint64_t l = limit();
    if (l != 0 && n >= l) return false;
    if (open_.compare_exchange_weak(n, n + 1, std::memory_order_relaxed)) return true;
  }
}

AcceptGate::AcceptGate(Proactor& p, ConnectionBudget& budget, std::string name)
    : proactor_(p), budget_(budget), name_(std::move(name)) {
  pauseTimer_.gate = this;
  quietTimer_.gate = this;
}

// Destroyed with its worker, after the proactor stopped: a timer still pending never completes.
AcceptGate::~AcceptGate() = default;

void AcceptGate::Waiter::await_suspend(std::coroutine_handle<> h) {
  handle_ = h;
  next_ = gate_.waiters_;
  gate_.waiters_ = this;
  ++gate_.waits_;
  if (!gate_.paused()) gate_.pause(kLimitPoll, Why::kLimit);
}

bool AcceptGate::failed(std::error_code ec) {
  if (!isAcceptResourceError(ec)) return false;
  if (!paused()) pause(backoff_.next(), Why::kDescriptors, ec);
  ++failures_;
  return true;
}

bool AcceptGate::admit() {
  if (!budget_.take()) return false;
  backoff_.reset();
  return true;
}

void AcceptGate::closed() {
  budget_.release();
  if (pauseTimer_.pending()) proactor_.cancel(pauseTimer_);  // a descriptor is free: try now
}

void AcceptGate::wakeAll() {
  if (pauseTimer_.pending()) proactor_.cancel(pauseTimer_);
}

void AcceptGate::pause(Duration d, Why why, std::error_code ec) {
  if (!episode_) {
    episode_ = true;
    episodeStart_ = std::chrono::steady_clock::now();
    failures_ = 0;
    waits_ = 0;
    budget_.countPause();
    if (why == Why::kDescriptors) {
      log::warn(
          "{}: accepting paused: {} ({} client connections open); resuming when one "
          "closes or in {} ms",
          name_, ec.message(), budget_.open(), std::chrono::duration_cast<milliseconds>(d).count());
    } else {
      log::warn(
          "{}: accepting paused: {} client connections open, the limit (max_connections, "
          "or the descriptors' share); the backlog holds new clients",
          name_, budget_.limit());
    }
  }
  pauseTimer_.timeout = d;
  proactor_.startTimer(pauseTimer_);
}

void AcceptGate::onPauseEnd() {
  lastPauseEnd_ = std::chrono::steady_clock::now();
  Waiter* w = waiters_;
  waiters_ = nullptr;
  // The loops look again; one that finds the gate closed waits again (a new pause).
  while (w != nullptr) {
    Waiter* next = w->next_;
    w->handle_.resume();
    w = next;
  }
  if (episode_ && !quietTimer_.pending() && !paused()) {
    quietTimer_.timeout = kQuiet;
    proactor_.startTimer(quietTimer_);
  }
}

void AcceptGate::onQuiet(std::error_code ec) {
  if (ec || !episode_) return;
  TimePoint now = std::chrono::steady_clock::now();
  if (paused() || waiters_ != nullptr) return;  // onPauseEnd starts the wait again
  Duration since = now - lastPauseEnd_;
  if (since < kQuiet) {
    quietTimer_.timeout = kQuiet - since;
    proactor_.startTimer(quietTimer_);
    return;
  }
  episode_ = false;
  log::info(
      "{}: accepting again after {} ms: {} accepts failed for want of descriptors or "
      "memory, {} delayed; {} client connections open",
      name_, std::chrono::duration_cast<milliseconds>(lastPauseEnd_ - episodeStart_).count(),
      failures_, waits_, budget_.open());
}

}  // namespace ferry::io
