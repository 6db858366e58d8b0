#pragma once
// The logging facade: error/info/debug lines to stderr (spdlog, locked; not the hot path) and the
// per-worker access log (lock-free: each line is one write(2) to the access-log fd).

#include <spdlog/spdlog.h>

#include <memory>
#include <string_view>

namespace ferry::log {

// Sets up the process logger on stderr. level: trace, debug, info, warn, error, off.
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

// One per worker, used only by that worker's thread. Writes each line with a single write(2)
// to fd (stdout by default), so lines from different workers never interleave and no lock is
// taken. A disabled access log costs one branch.
class AccessLog {
 public:
  AccessLog(int fd, bool enabled);
  bool enabled() const { return logger_ != nullptr; }
  template <class... Args>
  void write(spdlog::format_string_t<Args...> fmt, Args&&... args) {
    if (logger_) logger_->info(fmt, std::forward<Args>(args)...);
  }

 private:
  std::shared_ptr<spdlog::logger> logger_;
};

}  // namespace ferry::log
