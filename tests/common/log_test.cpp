// The process logger (proxy/common/log.cpp): its lines' times are RFC 3339 in UTC, as the access
// log's are, whatever the machine's time zone.

#include "proxy/common/log.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <ctime>
#include <regex>
#include <string>

namespace ferry::log {
namespace {

// Seconds since the epoch of a UTC "YYYY-MM-DDTHH:MM:SS" (days from civil, H. Hinnant).
std::int64_t utcSeconds(int y, int m, int d, int hh, int mm, int ss) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const std::int64_t yoe = y - era * 400;
  const std::int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const std::int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  const std::int64_t days = era * 146097 + doe - 719468;
  return days * 86400 + hh * 3600 + mm * 60 + ss;
}

TEST(ErrorLog, TimesAreRfc3339InUtcWhateverTheTimeZone) {
  // Five hours west of UTC: a local time would be off by 5 h and carry no Z.
#ifdef _WIN32
  _putenv_s("TZ", "EST5");
  _tzset();
#else
  ::setenv("TZ", "EST5", 1);
  ::tzset();
#endif
  ::testing::internal::CaptureStderr();  // first: a terminal would get colors
  init("info");
  auto before = std::chrono::system_clock::now();
  info("a line with its time");
  spdlog::default_logger()->flush();
  auto after = std::chrono::system_clock::now();
  std::string out = ::testing::internal::GetCapturedStderr();
  std::smatch m;
  ASSERT_TRUE(std::regex_search(
      out, m,
      std::regex(R"((\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)\.\d{3}Z info \[\d+\] a line with)")))
      << out;
  std::int64_t logged = utcSeconds(std::stoi(m[1]), std::stoi(m[2]), std::stoi(m[3]),
                                   std::stoi(m[4]), std::stoi(m[5]), std::stoi(m[6]));
  auto secs = [](std::chrono::system_clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
  };
  EXPECT_GE(logged, secs(before)) << out;
  EXPECT_LE(logged, secs(after)) << out;
}

}  // namespace
}  // namespace ferry::log
