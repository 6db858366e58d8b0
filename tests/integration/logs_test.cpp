// ferry's own logs, through the real binary: the error log's times are UTC (as the access log's),
// a stop asked by POST /drain is logged as such (not as the signal it sends itself), access lines
// ferry cannot write are counted in ferry_access_log_dropped_lines_total, and combined's size
// field counts body bytes only.

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>

#include "tests/support/harness.h"

namespace ferry::test {
namespace {

std::string config(int backendPort, const std::string& accessLog) {
  return "workers: 1\naccess_log: " + accessLog +
         "\nadmin: { address: {{ADMIN}} }\n"
         "listeners:\n"
         "  - { name: web, address: 127.0.0.1:0, routes: [{ cluster: c }] }\n"
         "clusters:\n"
         "  - { name: c, endpoints: [127.0.0.1:" +
         std::to_string(backendPort) + "] }\n";
}

std::string get(int port) {
  return rawExchange(port, "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", 10s);
}

// POST /drain stops ferry by sending itself SIGTERM: the log says who asked, not "signal 15".
// Every line of the error log carries an RFC 3339 UTC time, whatever the time zone (TZ=EST5 is
// five hours west: a local time would be off and carry no Z).
TEST(Logs, PostDrainIsLoggedAsSuchAndErrorLogTimesAreUtc) {
  ::setenv("TZ", "EST5", 1);  // inherited by ferry
  Backend s1("s1");
  // A drain delay keeps ferry up while it answers POST /drain: with none, ferry can exit before
  // the answer is written (the admin handler answers after it started the stop).
  Ferry f("drain_delay: 1s\n" + config(s1.port(), "false"));
  ::unsetenv("TZ");
  ASSERT_EQ(statusOf(get(f.port("web"))), 200);
  std::string r = rawExchange(
      f.adminPort(),
      "POST /drain HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", 10s);
  ASSERT_EQ(statusOf(r), 200) << r;
  ASSERT_TRUE(waitUntil([&] { return !f.process().running(); }, 30s)) << f.process().logText();
  EXPECT_EQ(f.process().stop(), 0) << f.process().logText();
  std::string log = f.process().logText();
  EXPECT_NE(log.find("POST /drain: stopping"), std::string::npos) << log;
  EXPECT_EQ(log.find("signal 15"), std::string::npos) << log;
  EXPECT_EQ(log.find("SIGTERM"), std::string::npos) << log;
  std::istringstream lines(log);
  std::string line;
  int timed = 0;
  const std::regex utc(R"(^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z \w+ \[\d+\] .*)");
  const std::regex dated(R"(^\d{4}-\d\d-.*)");  // ferry's lines (not Wine's own, under Wine)
  while (std::getline(lines, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();  // ferry.exe ends lines in CRLF
    if (!std::regex_match(line, dated)) continue;
    EXPECT_TRUE(std::regex_match(line, utc)) << line;
    ++timed;
  }
  EXPECT_GE(timed, 3) << log;
}

// An access log ferry cannot write (here a device that refuses every write with ENOSPC, as a full
// disk does) drops its lines, and counts them instead of losing them silently.
TEST(Logs, AccessLinesThatCannotBeWrittenAreCounted) {
  if (testingUnderWine()) GTEST_SKIP() << "no /dev/full on Windows (unit test: a missing dir)";
  Backend s1("s1");
  Ferry f(config(s1.port(), "{ path: /dev/full }"));
  EXPECT_EQ(f.metric("ferry_access_log_dropped_lines_total"), 0) << f.metrics();
  for (int i = 0; i < 3; ++i) ASSERT_EQ(statusOf(get(f.port("web"))), 200);
  EXPECT_TRUE(waitUntil([&] { return f.metric("ferry_access_log_dropped_lines_total") >= 3; }))
      << f.metrics();
  EXPECT_NE(f.process().logText().find("access log /dev/full: No space left on device"),
            std::string::npos)
      << f.process().logText();
}

// combined's size field is the body's bytes only, as NGINX's $body_bytes_sent: a static file's
// length for a GET, 0 for a HEAD (the head's bytes are not counted).
TEST(Logs, CombinedCountsOnlyTheBodyOfStaticFiles) {
  std::string dir = ::testing::TempDir() + "/ferry-logs-" + std::to_string(::getpid());
  std::filesystem::create_directories(dir + "/root");
  std::ofstream(dir + "/root/f.txt") << "hello";
  Ferry f("workers: 1\naccess_log: { format: combined, path: \"" + dir +
          "/a.log\" }\nadmin: { address: {{ADMIN}} }\n"
          "listeners:\n  - { name: files, address: 127.0.0.1:0, static: { root: \"" +
          dir + "/root\" } }\n");
  for (const char* method : {"GET", "HEAD"}) {
    std::string r = rawExchange(f.port("files"),
                                std::string(method) +
                                    " /f.txt HTTP/1.1\r\nHost: a\r\n"
                                    "Connection: close\r\n\r\n",
                                10s);
    ASSERT_EQ(statusOf(r), 200) << r;
  }
  auto text = [&] {
    std::ifstream in(dir + "/a.log");
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  };
  EXPECT_TRUE(waitUntil([&] {
    std::string t = text();
    return std::count(t.begin(), t.end(), '\n') >= 2;
  })) << text();
  std::string log = text();
  EXPECT_NE(log.find("\"GET /f.txt HTTP/1.1\" 200 5 \"-\""), std::string::npos) << log;
  EXPECT_NE(log.find("\"HEAD /f.txt HTTP/1.1\" 200 0 \"-\""), std::string::npos) << log;
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

}  // namespace
}  // namespace ferry::test
