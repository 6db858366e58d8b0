// Access-log formats (ferry, combined, json, templates), escaping, the background writer (and
// what it fails to write), reopen (logrotate) and the warning rate limiter.

#include "proxy/common/access_log.h"

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "proxy/common/log.h"

namespace ferry::log {
namespace {

AccessRecord sample() {
  AccessRecord r;
  r.clientAddress = "192.0.2.7";
  r.clientPort = 51234;
  r.method = "GET";
  r.target = "/a?b=1";
  r.protocol = "HTTP/1.1";
  r.status = 502;
  r.bytesIn = 78;
  r.bytesOut = 123;
  r.durationUs = 4567;
  r.upstream = "127.0.0.1:8081";
  r.upstreamTimeUs = 4000;
  r.cause = "upstream_connect_refused";
  r.retries = 1;
  r.reused = true;
  r.requestId = "abc-1";
  r.route = "api";
  r.cluster = "app";
  r.listener = "web";
  r.userAgent = "curl/7.88";
  r.referer = "";
  return r;
}

std::string line(std::string_view spec, const AccessRecord& r) {
  std::string error;
  std::optional<AccessFormat> f = AccessFormat::parse(spec, error);
  EXPECT_TRUE(f.has_value()) << error;
  if (!f) return {};
  char buf[4096];
  return std::string(buf, f->format(r, buf, sizeof(buf)));
}

TEST(AccessFormat, DefaultFerryLineHasEveryOperatorField) {
  std::string l = line("ferry", sample());
  EXPECT_TRUE(std::regex_match(
      l,
      std::regex(
          R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z 192\.0\.2\.7 "GET /a\?b=1 HTTP/1\.1" 502 78 123 4567us route=api upstream=127\.0\.0\.1:8081 cause=upstream_connect_refused retries=1 reused=1 id=abc-1\n)")))
      << l;
}

TEST(AccessFormat, DefaultFerryLineForATcpConnection) {
  AccessRecord r = sample();
  r.protocol = "tcp";
  r.method = "";
  r.target = "";
  r.cause = "ok";
  std::string l = line("ferry", r);
  EXPECT_TRUE(std::regex_match(
      l, std::regex(
             R"(\S+ 192\.0\.2\.7 tcp web 78 123 4567us upstream=127\.0\.0\.1:8081 cause=ok\n)")))
      << l;
}

TEST(AccessFormat, CombinedIsNginxCombined) {
  std::string l = line("combined", sample());
  EXPECT_TRUE(std::regex_match(
      l,
      std::regex(
          R"(192\.0\.2\.7 - - \[\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d \+0000\] "GET /a\?b=1 HTTP/1\.1" 502 123 "-" "curl/7\.88"\n)")))
      << l;
}

TEST(AccessFormat, JsonHasEveryField) {
  std::string l = line("json", sample());
  for (const char* kv : {R"("client_address":"192.0.2.7")",
                         R"("client_port":51234)",
                         R"("method":"GET")",
                         R"("target":"/a?b=1")",
                         R"("protocol":"HTTP/1.1")",
                         R"("status":502)",
                         R"("bytes_in":78)",
                         R"("bytes_out":123)",
                         R"("duration_us":4567)",
                         R"("upstream":"127.0.0.1:8081")",
                         R"("upstream_time_us":4000)",
                         R"("cause":"upstream_connect_refused")",
                         R"("retries":1)",
                         R"("reused":true)",
                         R"("request_id":"abc-1")",
                         R"("route":"api")",
                         R"("cluster":"app")",
                         R"("listener":"web")",
                         R"("user_agent":"curl/7.88")",
                         R"("referer":null)"}) {
    EXPECT_NE(l.find(kv), std::string::npos) << kv << " in " << l;
  }
  EXPECT_EQ(l.front(), '{');
  EXPECT_EQ(l.substr(l.size() - 2), "}\n");
}

TEST(AccessFormat, JsonEscapesWhatTheClientSent) {
  AccessRecord r = sample();
  r.target = "/x\"y\\z\n\x01\x7f";
  std::string l = line("json", r);
  EXPECT_NE(l.find(R"("target":"/x\"y\\z\u000a\u0001\u007f")"), std::string::npos) << l;
  EXPECT_EQ(l.find('\n'), l.size() - 1);
}

// JSON strings are UTF-8: valid UTF-8 goes as it is (not escaped byte by byte), and each
// ill-formed sequence becomes one U+FFFD (per maximal subpart, as Unicode and WHATWG say), so
// every line is valid JSON and valid UTF-8 whatever a client sent.
TEST(AccessFormat, JsonKeepsValidUtf8AndReplacesIllFormedSequences) {
  const std::string fffd = "\xEF\xBF\xBD";
  struct Case {
    std::string in;
    std::string out;
  } cases[] = {
      {"caf\xC3\xA9", "caf\xC3\xA9"},                                      // é, 2 bytes
      {"\xE2\x82\xAC \xF0\x9F\x9A\xA2", "\xE2\x82\xAC \xF0\x9F\x9A\xA2"},  // €, 🚢
      {"\xEF\xBF\xBF\xF4\x8F\xBF\xBF", "\xEF\xBF\xBF\xF4\x8F\xBF\xBF"},    // U+FFFF, U+10FFFF
      {"a\x80"
       "b",
       "a" + fffd + "b"},                               // stray continuation
      {"\xC0\xAF", fffd + fffd},                        // overlong '/'
      {"\xE0\x80\xAF", fffd + fffd + fffd},             // overlong, 3 bytes
      {"\xF0\x80\x80\xAF", fffd + fffd + fffd + fffd},  // overlong, 4 bytes
      {"\xED\xA0\x80", fffd + fffd + fffd},             // surrogate D800
      {"\xF4\x90\x80\x80", fffd + fffd + fffd + fffd},  // U+110000
      {"\xF5\xBF", fffd + fffd},                        // past U+10FFFF
      {"\xE2\x82", fffd},                               // cut short at the end
      {"\xE2\x82x", fffd + "x"},                        // cut short, then ASCII
      {"\xF0\x9F\x9A\"", fffd + "\\\""},                // cut short by a quote
      {"\xC3\xA9\xFF", "\xC3\xA9" + fffd},
  };
  for (const Case& c : cases) {
    AccessRecord r = sample();
    r.userAgent = c.in;
    std::string l = line("json", r);
    EXPECT_NE(l.find("\"user_agent\":\"" + c.out + "\""), std::string::npos)
        << ::testing::PrintToString(c.in) << " gave " << ::testing::PrintToString(l);
  }
}

// combined's size field is $body_bytes_sent: the body only, as NGINX counts it.
TEST(AccessFormat, CombinedCountsBodyBytesOnly) {
  AccessRecord r = sample();
  r.bytesOut = 423;
  r.bodyBytesOut = 300;
  EXPECT_NE(line("combined", r).find("\" 502 300 \"-\""), std::string::npos) << line("combined", r);
  r.bodyBytesOut = 0;  // a HEAD, a 304
  EXPECT_NE(line("combined", r).find("\" 502 0 \"-\""), std::string::npos) << line("combined", r);
}

TEST(AccessFormat, TextEscapesQuotesAndControlBytes) {
  AccessRecord r = sample();
  r.userAgent = "evil\"\n127.0.0.1 - - forged";
  std::string l = line("combined", r);
  EXPECT_NE(l.find(R"("evil\x22\x0A127.0.0.1 - - forged")"), std::string::npos) << l;
  EXPECT_EQ(l.find('\n'), l.size() - 1);
}

TEST(AccessFormat, TemplateFieldsAndPercent) {
  AccessRecord r = sample();
  EXPECT_EQ(line("%STATUS% %CAUSE% 100%% %CLIENT_ADDRESS%:%CLIENT_PORT% %UPSTREAM_TIME_US% "
                 "%REUSED% %LISTENER%/%ROUTE%/%CLUSTER% %REFERER%",
                 r),
            "502 upstream_connect_refused 100% 192.0.2.7:51234 4000 1 web/api/app -\n");
  r.upstreamTimeUs = -1;
  r.upstream = "";
  EXPECT_EQ(line("[%UPSTREAM%] [%UPSTREAM_TIME_US%]", r), "[-] [-]\n");
}

TEST(AccessFormat, RejectsUnknownFieldsAndUnclosedPercent) {
  std::string error;
  EXPECT_FALSE(AccessFormat::parse("%STATUS% %NOPE%", error));
  EXPECT_NE(error.find("unknown field %NOPE%"), std::string::npos) << error;
  EXPECT_FALSE(AccessFormat::parse("50% off", error));
  EXPECT_NE(error.find("unclosed"), std::string::npos) << error;
}

TEST(AccessFormat, LongLinesAreTruncatedNotOverrun) {
  std::string target(10000, 'a');
  AccessRecord r = sample();
  r.target = target;
  std::string error;
  auto f = AccessFormat::parse("%TARGET%", error);
  char buf[64];
  std::size_t n = f->format(r, buf, sizeof(buf));
  EXPECT_EQ(n, sizeof(buf));
  EXPECT_EQ(buf[n - 1], '\n');
}

std::string readFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Waits (bounded) until pred holds.
template <class F>
bool eventually(F pred) {
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (std::chrono::steady_clock::now() < until) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return pred();
}

TEST(AccessLog, WorkersWriteWholeLinesThroughTheWriterAndReopenFollowsRotation) {
  std::string name = "ferry-access-";
  name += std::to_string(std::chrono::steady_clock::now().time_since_epoch().count());
  auto dir = std::filesystem::temp_directory_path() / name;
  std::filesystem::create_directories(dir);
  std::string path = (dir / "access.log").string();
  {
    constexpr int kLines = 2000;
    std::vector<std::thread> workers;
    for (int w = 0; w < 4; ++w) {
      workers.emplace_back([&, w] {
        AccessLog log(path, "%LISTENER% %STATUS% %TARGET%");
        AccessRecord r = sample();
        std::string listener = "w";  // appended: GCC 12 (mingw) warns on "w" + string
        listener += std::to_string(w);
        r.listener = listener;
        for (int i = 0; i < kLines; ++i) {
          r.status = 200 + i % 100;
          log.log(r);
          if (i % 256 == 0) std::this_thread::yield();
        }
      });
    }
    for (auto& t : workers) t.join();
    flushAccessLogs();
    std::string text = readFile(path);
    std::istringstream in(text);
    std::string l;
    int count = 0;
    while (std::getline(in, l)) {
      ASSERT_TRUE(std::regex_match(l, std::regex(R"(w[0-3] [23]\d\d /a\?b=1)"))) << l;
      ++count;
    }
    EXPECT_EQ(count + static_cast<int>(accessLogDropped()), 4 * kLines);
    EXPECT_EQ(accessLogDropped(), 0U);  // 1 MiB per worker holds these
  }
#ifndef _WIN32  // Windows does not rename a file another handle holds open
  // logrotate: rename, then reopen(); new lines go to a new file at the old path.
  std::string rotated = path + ".1";
  std::filesystem::rename(path, rotated);
  AccessLog log(path, "after %STATUS%");
  reopen();
  // A writer in the middle of a pass reopens at its next one: wait for that pass, so the line
  // below cannot be drained into the renamed file (reopen() promises the file is reopened
  // before the writer's next write, not before the next log()).
  flushAccessLogs();
  AccessRecord r = sample();
  log.log(r);
  flushAccessLogs();
  EXPECT_TRUE(eventually([&] { return readFile(path) == "after 502\n"; })) << readFile(path);
  EXPECT_EQ(readFile(rotated).find("after"), std::string::npos);
#endif
  std::error_code ec;  // Windows: the writer still holds the file open
  std::filesystem::remove_all(dir, ec);
}

// A line the writer cannot write is counted in ferry_access_log_dropped_lines_total, never lost
// silently: a file that could not be opened (its directory is gone), a device that refuses
// every write.
TEST(AccessLog, LinesTheWriterCannotWriteAreCountedAsDropped) {
  auto gone = std::filesystem::temp_directory_path() / "ferry-access-log-no-such-dir";
  std::filesystem::remove_all(gone);
  std::vector<std::string> paths = {(gone / "a.log").string()};
#ifndef _WIN32
  paths.emplace_back("/dev/full");  // ENOSPC on every write
#endif
  for (const std::string& path : paths) {
    std::uint64_t before = accessLogDropped();
    {
      AccessLog log(path, "%STATUS%");
      for (int i = 0; i < 3; ++i) log.log(sample());
    }
    flushAccessLogs();
    EXPECT_TRUE(eventually([&] { return accessLogDropped() >= before + 3; }))
        << path << ": " << accessLogDropped() - before << " counted";
    EXPECT_EQ(accessLogDropped(), before + 3) << path;
  }
}

TEST(Limiter, LetsABurstThroughThenCountsWhatItSuppressed) {
  Limiter l;
  auto t = std::chrono::steady_clock::time_point() + std::chrono::hours(1);
  std::uint64_t before = suppressedLines();
  for (int i = 0; i < Limiter::kBurst; ++i) EXPECT_TRUE(l.pass(t));
  for (int i = 0; i < 7; ++i) EXPECT_FALSE(l.pass(t + std::chrono::milliseconds(10)));
  EXPECT_EQ(suppressedLines() - before, 7U);
  EXPECT_TRUE(l.pass(t + Limiter::kPeriod));
  EXPECT_EQ(l.suppressed(), 7U);  // the next line says how many were dropped
  EXPECT_TRUE(l.pass(t + Limiter::kPeriod));
  EXPECT_EQ(l.suppressed(), 0U);
}

// FERRY_WARN_LIMITED through a real spdlog logger: a flood from one call site logs a burst, the
// rest is counted (arguments not even evaluated), and the first line of the next period says
// how many were suppressed.
TEST(Limiter, AFloodFromOneCallSiteLogsABurstThenSaysHowManyItSuppressed) {
  std::ostringstream out;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out);
  auto logger = std::make_shared<spdlog::logger>("limiter-test", sink);
  logger->set_pattern("%v");
  std::shared_ptr<spdlog::logger> before = spdlog::default_logger();
  spdlog::level::level_enum level = spdlog::get_level();
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::warn);
  std::uint64_t suppressedBefore = suppressedLines();
  int evaluated = 0;
  auto flood = [&] { FERRY_WARN_LIMITED("upstream down (#{})", ++evaluated); };
  for (int i = 0; i < 50; ++i) flood();
  // Within one period only the burst got through (50 calls take far less than kPeriod; were
  // the machine slow enough to cross a period, up to two bursts would).
  EXPECT_GE(evaluated, Limiter::kBurst);
  EXPECT_LE(evaluated, 2 * Limiter::kBurst);
  EXPECT_EQ(suppressedLines() - suppressedBefore, static_cast<std::uint64_t>(50 - evaluated));
  // The next period's first line carries the count.
  bool said = eventually([&] {
    flood();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    return out.str().find("more like this suppressed)") != std::string::npos;
  });
  spdlog::set_default_logger(before);
  spdlog::set_level(level);
  ASSERT_TRUE(said) << out.str();
  EXPECT_TRUE(std::regex_search(
      out.str(),
      std::regex(R"(upstream down \(#\d+\) \([1-9]\d* more like this suppressed\)\r?\n)")))
      << out.str();
  // Every line logged evaluated its arguments once; no suppressed one did.
  std::string text = out.str();
  EXPECT_EQ(static_cast<int>(std::count(text.begin(), text.end(), '\n')), evaluated);
}

}  // namespace
}  // namespace ferry::log
