#include "proxy/common/log.h"

#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#ifdef _WIN32
#include <io.h>
#else
#include <unistd.h>
#endif

#include <cerrno>
#include <mutex>

namespace ferry::log {
namespace {

// A sink that is only ever used by one thread: no mutex, one write(2) per line.
class FdSink final : public spdlog::sinks::base_sink<spdlog::details::null_mutex> {
 public:
  explicit FdSink(int fd) : fd_(fd) {}

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    spdlog::memory_buf_t line;
    formatter_->format(msg, line);
    const char* p = line.data();
    std::size_t left = line.size();
    while (left > 0) {
#ifdef _WIN32
      long n = ::_write(fd_, p, static_cast<unsigned>(left));
#else
      ssize_t n = ::write(fd_, p, left);
#endif
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return;  // a closed or full access-log pipe must not stop the proxy
      p += n;
      left -= static_cast<std::size_t>(n);
    }
  }
  void flush_() override {}

 private:
  int fd_;
};

}  // namespace

void init(std::string_view level) {
  static std::once_flag once;
  std::call_once(once, [] {
    auto logger = spdlog::stderr_color_mt("ferry");
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ [%t] %v");
    spdlog::set_default_logger(logger);
  });
  spdlog::set_level(spdlog::level::from_str(std::string(level)));
}

AccessLog::AccessLog(int fd, bool enabled) {
  if (!enabled) return;
  logger_ = std::make_shared<spdlog::logger>("access", std::make_shared<FdSink>(fd));
  logger_->set_pattern("%Y-%m-%dT%H:%M:%S.%e %v");
  logger_->set_level(spdlog::level::info);
}

}  // namespace ferry::log
