#pragma once
// The logging facade: error/info/debug lines to stderr (spdlog; not the hot path), repeated
// warnings and errors rate-limited per call site, and the per-worker access log
// (access_log.h: lock-free rings drained by a background writer).

#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string_view>

#include "proxy/common/access_log.h"

namespace ferry::log {

// Sets up the process logger on stderr, each line stamped with its RFC 3339 UTC time (as the
// access log's). level: trace, debug, info, warn, error, off.
void init(std::string_view level);

template <class... Args>
void error(spdlog::format_string_t<Args...> fmt, Args&&... args) {
  spdlog::error(fmt, std::forward<Args>(args)...);
}
template <class... Args>
void warn(spdlog::format_string_t<Args...> fmt, Args&&... args) {
  spdlog::warn(fmt, std::forward<Args>(args)...);
}
template <class... Args>
void info(spdlog::format_string_t<Args...> fmt, Args&&... args) {
  spdlog::info(fmt, std::forward<Args>(args)...);
}
template <class... Args>
void debug(spdlog::format_string_t<Args...> fmt, Args&&... args) {
  spdlog::debug(fmt, std::forward<Args>(args)...);
}

// Lines suppressed by every Limiter, since start (ferry_log_lines_suppressed_total).
std::uint64_t suppressedLines();
void countSuppressed();

// Lets at most kBurst lines through per kPeriod; counts the rest, and the next line let through
// says how many were suppressed. One per call site and thread (FERRY_WARN_LIMITED), so a worker
// never waits on another and an outage's flood of identical lines costs a count each.
class Limiter {
 public:
  static constexpr int kBurst = 5;
  static constexpr std::chrono::seconds kPeriod{1};
  // True if a line may be logged at now; then suppressed() is what was dropped before it.
  bool pass(std::chrono::steady_clock::time_point now) {
    if (now - windowStart_ >= kPeriod) {
      windowStart_ = now;
      passed_ = 0;
    }
    if (passed_ >= kBurst) {
      ++pending_;
      countSuppressed();
      return false;
    }
    ++passed_;
    suppressed_ = pending_;
    pending_ = 0;
    return true;
  }
  std::uint64_t suppressed() const { return suppressed_; }

 private:
  std::chrono::steady_clock::time_point windowStart_{};
  int passed_ = 0;
  std::uint64_t pending_ = 0;
  std::uint64_t suppressed_ = 0;
};

// Logs a line a Limiter let through (FERRY_WARN_LIMITED), with its suppressed count.
template <class... Args>
void limited(const Limiter& l, spdlog::level::level_enum level,
             spdlog::format_string_t<Args...> fmt, Args&&... args) {
  fmt::memory_buffer b;
  fmt::format_to(std::back_inserter(b), fmt, std::forward<Args>(args)...);
  std::string_view line(b.data(), b.size());
  if (l.suppressed() == 0) {
    spdlog::log(level, "{}", line);
  } else {
    spdlog::log(level, "{} ({} more like this suppressed)", line, l.suppressed());
  }
}

}  // namespace ferry::log

// A warning or error from a call site that can repeat per request (an upstream refusing
// connections): rate-limited per call site and thread, with a count of what was suppressed. The
// arguments are evaluated only for lines that are logged.
#define FERRY_LOG_LIMITED(level, ...)                                                      \
  do {                                                                                     \
    static thread_local ::ferry::log::Limiter ferryLimiter_;                               \
    if (spdlog::should_log(level) && ferryLimiter_.pass(std::chrono::steady_clock::now())) \
      ::ferry::log::limited(ferryLimiter_, level, __VA_ARGS__);                            \
  } while (0)
#define FERRY_WARN_LIMITED(...) FERRY_LOG_LIMITED(spdlog::level::warn, __VA_ARGS__)
#define FERRY_ERROR_LIMITED(...) FERRY_LOG_LIMITED(spdlog::level::err, __VA_ARGS__)
