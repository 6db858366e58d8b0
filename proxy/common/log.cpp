#include "proxy/common/log.h"

#include <spdlog/sinks/stdout_color_sinks.h>

#include <mutex>

namespace ferry::log {
namespace {
std::atomic<std::uint64_t> g_suppressed{0};
}  // namespace

void init(std::string_view level) {
  static std::once_flag once;
  std::call_once(once, [] {
    auto logger = spdlog::stderr_color_mt("ferry");
    // RFC 3339 in UTC, as the access log's times: 2026-12-07T23:05:02.123Z.
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %^%l%$ [%t] %v", spdlog::pattern_time_type::utc);
    spdlog::set_default_logger(logger);
  });
  spdlog::set_level(spdlog::level::from_str(std::string(level)));
}

std::uint64_t suppressedLines() {
  return g_suppressed.load(std::memory_order_relaxed);
}

void countSuppressed() {
  g_suppressed.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace ferry::log
