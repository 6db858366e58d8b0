// Idle upstream connections watched by a pending read (proxy/upstream/POOL.md), through the real
// binary on io_uring, epoll and (in the Windows leg) IOCP under Wine: a backend closing an idle
// keep-alive connection is noticed with no traffic at all, closed and counted as peer_closed;
// a watched connection taken by a request is reused as if nothing watched it.
//
// Backend: tests/support/test_backend with IDLE_CLOSE_MS (it closes a keep-alive connection
// idle for that long).

#include <gtest/gtest.h>

#include <string>

#include "tests/support/harness.h"

namespace ferry::test {
namespace {

std::string config(int backendPort, const std::string& clusterExtra) {
  return "workers: 1\naccess_log: false\nadmin: { address: {{ADMIN}} }\n"
         "listeners:\n  - name: web\n    address: 127.0.0.1:0\n"
         "    routes:\n      - { name: all, match: { path_prefix: / }, cluster: c }\n"
         "clusters:\n  - name: c\n    endpoints: [127.0.0.1:" +
         std::to_string(backendPort) + "]\n" + clusterExtra;
}

std::string get(const std::string& path) {
  return "GET " + path + " HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
}

// The backend's own count of connections it accepted (its /stats, asked directly; that request
// is a connection too, counted in the answer).
long backendConnections(int port) {
  std::string r = rawExchange(port, get("/stats"));
  std::size_t p = r.find("connections=");
  return p == std::string::npos ? -1 : std::atol(r.c_str() + p + 12);
}

const char kPeerClosed[] =
    R"(ferry_upstream_connections_closed_total{cluster="c",reason="peer_closed"})";
const char kIdleTimeout[] =
    R"(ferry_upstream_connections_closed_total{cluster="c",reason="idle_timeout"})";

// One request, then nothing: the backend closes the pooled connection after 300 ms, and ferry
// notices at once (its idle_timeout is a minute away), closes its side and counts it.
TEST(IdleWatch, BackendClosingAnIdleConnectionIsNoticedWithoutTraffic) {
  Process backend({backendBinary(), "b1", "0", "127.0.0.1", "300"}, true);
  int port = std::atoi(backend.firstLine().c_str());
  ASSERT_GT(port, 0);
  Ferry f(config(port, "    idle_timeout: 60s\n"));
  ASSERT_EQ(statusOf(rawExchange(f.port("web"), get("/a"))), 200);
  EXPECT_TRUE(waitUntil([&] { return f.metric(kPeerClosed) == 1; }, 10s))
      << "peer_closed: " << f.metric(kPeerClosed);
  EXPECT_EQ(f.metric(R"(ferry_upstream_idle_closed_by_peer_total{cluster="c"})"), 1);
  EXPECT_EQ(f.metric(kIdleTimeout), 0);
  // Its slot is freed right after the count (the scrape may fall in between: wait for it).
  EXPECT_TRUE(
      waitUntil([&] { return f.metric(R"(ferry_upstream_connections{cluster="c"})") == 0; }, 5s));
  EXPECT_EQ(f.metric(R"(ferry_upstream_pool_idle_connections{cluster="c"})"), 0);
  // The next request gets a new connection and its answer.
  EXPECT_EQ(statusOf(rawExchange(f.port("web"), get("/a"))), 200);
}

// Requests spaced wider than the upkeep tick, so each takes a connection whose watch was armed:
// the watch stops, the request goes out on it, and the one backend connection carries them all.
TEST(IdleWatch, WatchedConnectionIsReusedWhenTaken) {
  Process backend({backendBinary(), "b1", "0", "127.0.0.1", "20000"}, true);
  int port = std::atoi(backend.firstLine().c_str());
  ASSERT_GT(port, 0);
  Ferry f(config(port, "    idle_timeout: 60s\n"));
  for (int i = 0; i < 4; ++i) {
    ASSERT_EQ(statusOf(rawExchange(f.port("web"), get("/a"))), 200) << i;
    // Past at least one upkeep tick (200 ms): the idle connection is watched by then.
    auto until = std::chrono::steady_clock::now() + 300ms;
    waitUntil([&] { return std::chrono::steady_clock::now() >= until; }, 1s);
  }
  EXPECT_EQ(f.metric(R"(ferry_upstream_connections_reused_total{cluster="c"})"), 3);
  EXPECT_EQ(f.metric(kPeerClosed), 0);
  EXPECT_EQ(backendConnections(port), 2);  // ferry's one, and this /stats request's
}

}  // namespace
}  // namespace ferry::test
