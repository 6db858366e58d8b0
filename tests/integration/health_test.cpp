// Retries as a policy, outlier ejection and active health checks through the real binary, with
// real test backends that are made to fail, killed and restarted. Backends answer with their
// names (tests/support/test_backend.cpp); /status-if?name=X&code=N makes backend X answer N.

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/harness.h"

namespace ferry::test {
namespace {

std::string config(const std::vector<int>& endpoints, const std::string& clusterExtra,
                   int workers = 2, const std::string& routeExtra = "") {
  std::string eps;
  for (int e : endpoints) eps += (eps.empty() ? "" : ", ") + ("127.0.0.1:" + std::to_string(e));
  return "workers: " + std::to_string(workers) +
         "\naccess_log: false\nadmin: { address: {{ADMIN}} }\n"
         "listeners:\n  - name: web\n    address: 127.0.0.1:0\n"
         "    routes:\n      - { name: all, match: { path_prefix: / }, cluster: c" +
         routeExtra +
         " }\n"
         "clusters:\n  - name: c\n    endpoints: [" +
         eps + "]\n" + clusterExtra;
}

std::string get(int port, const std::string& path, const std::string& method = "GET") {
  std::string body = method == "POST" ? "Content-Length: 5\r\n\r\nhello" : "\r\n";
  return rawExchange(
      port, method + " " + path + " HTTP/1.1\r\nHost: a\r\nConnection: close\r\n" + body, 10s);
}

std::string bodyOf(const std::string& r) {
  std::size_t p = r.find("\r\n\r\n");
  return p == std::string::npos ? "" : r.substr(p + 4);
}

// retry_on: [503]: a backend answering 503 is retried on the other one; the client never sees
// the 503 (it was read, judged and dropped before anything reached the client).
TEST(Retry, A503IsRetriedOnTheOtherBackend) {
  Backend s1("s1"), s2("s2");
  Ferry f(config({s1.port(), s2.port()}, "    retry: { retry_on: [503], max_retries: 1 }\n"));
  int port = f.port("web");
  for (int i = 0; i < 12; ++i) {
    std::string r = get(port, "/status-if?name=s1&code=503");
    EXPECT_EQ(statusOf(r), 200) << r;
    EXPECT_EQ(bodyOf(r), "s2\n");
  }
  // s1 did get its share of first tries (each answered 503 and retried).
  EXPECT_GE(s1.requests(), 1);
  EXPECT_EQ(s2.requests(), 12);
  // Every retry is counted with its reason.
  EXPECT_EQ(f.metric("ferry_upstream_retries_total{cluster=\"c\",reason=\"503\"}"), s1.requests());
  EXPECT_EQ(f.metric("ferry_upstream_retry_budget_exhausted_total{cluster=\"c\",reason=\"503\"}"),
            0);
}

// The default policy does not retry a 5xx: the client gets the backend's answer.
TEST(Retry, A5xxIsForwardedWhenRetryOnDoesNotCoverIt) {
  Backend s1("s1"), s2("s2");
  Ferry f(config({s1.port(), s2.port()}, "", 1));
  int port = f.port("web");
  int n503 = 0;
  for (int i = 0; i < 6; ++i) {
    std::string r = get(port, "/status-if?name=s1&code=503");
    if (statusOf(r) == 503) {
      ++n503;
      EXPECT_EQ(bodyOf(r), "s1\n");
    }
  }
  EXPECT_EQ(n503, 3);  // one worker, round robin: every other request went to s1
}

// A route's retry policy replaces its cluster's.
TEST(Retry, RoutePolicyOverridesTheCluster) {
  Backend s1("s1"), s2("s2");
  Ferry f(config({s1.port(), s2.port()}, "    retry: { retry_on: [reset], max_retries: 1 }\n", 1,
                 ", retry: { retry_on: [5xx], max_retries: 2 }"));
  int port = f.port("web");
  for (int i = 0; i < 6; ++i) {
    std::string r = get(port, "/status-if?name=s1&code=500");
    EXPECT_EQ(statusOf(r), 200) << r;
  }
}

// A POST that reached a backend is never sent again, whatever retry_on says: the 503 is the
// client's answer, and every POST reached exactly one backend once.
TEST(Retry, APostThatReachedABackendIsNeverRetried) {
  Backend s1("s1"), s2("s2");
  Ferry f(config({s1.port(), s2.port()},
                 "    retry: { retry_on: [5xx, reset, timeout], max_retries: 3 }\n", 1));
  int port = f.port("web");
  int n503 = 0, n200 = 0;
  for (int i = 0; i < 6; ++i) {
    int st = statusOf(get(port, "/status-if?name=s1&code=503", "POST"));
    n503 += st == 503;
    n200 += st == 200;
  }
  EXPECT_EQ(n503, 3);
  EXPECT_EQ(n200, 3);
  EXPECT_EQ(s1.requests() + s2.requests(), 6);
  // A POST to a backend that resets after reading it: 502, never replayed.
  long before = s1.requests() + s2.requests();
  int n502 = 0;
  for (int i = 0; i < 6; ++i) n502 += statusOf(get(port, "/reset-if?name=s1", "POST")) == 502;
  EXPECT_EQ(n502, 3);
  EXPECT_EQ(s1.requests() + s2.requests() - before, 6);
}

// The retry budget: with no allowance (percent 0, 1 retry per second over the 10 s window) only
// 10 retries go out; the rest of the 503s reach the client.
TEST(Retry, TheBudgetCapsRetries) {
  Backend s1("s1"), s2("s2");
  Ferry f(config({s1.port(), s2.port()},
                 "    retry: { retry_on: [503], max_retries: 1 }\n"
                 "    retry_budget: { percent: 0, min_retries_per_second: 1 }\n",
                 1));
  int port = f.port("web");
  int n503 = 0, n200 = 0;
  for (int i = 0; i < 40; ++i) {
    int st = statusOf(get(port, "/status-if?name=s1&code=503"));
    n503 += st == 503;
    n200 += st == 200;
  }
  // 20 first tries went to s1; at most 10 of them (the window's budget) were retried.
  EXPECT_EQ(n503 + n200, 40);
  EXPECT_GE(n503, 10);
  EXPECT_LE(n503, 20);
  // Each 503 the client saw is a retry the budget refused, counted with its reason; each of
  // s1's other 503s was retried on s2 and counted as a retry.
  EXPECT_EQ(f.metric("ferry_upstream_retry_budget_exhausted_total{cluster=\"c\",reason=\"503\"}"),
            n503);
  EXPECT_EQ(f.metric("ferry_upstream_retries_total{cluster=\"c\",reason=\"503\"}"),
            s1.requests() - n503);
}

// per_try_timeout: a try with no response head in time is given up and retried (timeout).
TEST(Retry, PerTryTimeoutEndsATryAndRetries) {
  Backend s1("s1");
  Ferry f(config({s1.port()},
                 "    retry: { retry_on: [timeout], max_retries: 1, per_try_timeout: 300ms }\n",
                 1));
  std::string r = get(f.port("web"), "/slow?ms=3000");
  EXPECT_EQ(statusOf(r), 504) << r;
  EXPECT_TRUE(waitUntil([&] { return s1.requests() == 2; }, 10s)) << s1.requests();
}

// Passive outlier detection: a backend answering 5xx in a row is ejected (every worker skips it)
// and the log says so.
TEST(Outlier, ABackendFailingInARowIsEjected) {
  Backend s1("s1"), s2("s2");
  Ferry f(config({s1.port(), s2.port()},
                 "    outlier_detection: { consecutive_5xx: 2, base_ejection_time: 30s,"
                 " max_ejection_percent: 50 }\n",
                 1));
  int port = f.port("web");
  int n503 = 0;
  for (int i = 0; i < 20; ++i) n503 += statusOf(get(port, "/status-if?name=s1&code=503")) == 503;
  EXPECT_EQ(n503, 2);  // then s1 is ejected: s2 takes everything
  EXPECT_NE(f.process().logText().find("ejected for 30000 ms"), std::string::npos)
      << f.process().logText();
  // Visible in /metrics and on the admin listener's /clusters.
  EXPECT_EQ(f.metric("ferry_upstream_outlier_ejections_total{cluster=\"c\"}"), 1);
  std::string clusters = bodyOf(
      rawExchange(f.adminPort(), "GET /clusters HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"));
  std::size_t at = clusters.find("\"address\":\"127.0.0.1:" + std::to_string(s1.port()) + "\"");
  ASSERT_NE(at, std::string::npos) << clusters;
  std::size_t end = clusters.find('}', at);
  std::string s1Json = clusters.substr(at, end - at);
  EXPECT_NE(s1Json.find("\"ejected\":true"), std::string::npos) << s1Json;
  EXPECT_NE(s1Json.find("\"times_ejected\":1"), std::string::npos) << s1Json;
}

// Active health checks: a killed backend causes no failed GET (each failure is retried on the
// other backend), is marked unhealthy within about unhealthy_threshold x interval, and is used
// again once it is back and passes healthy_threshold checks.
TEST(HealthCheck, AKilledBackendIsMarkedUnhealthyAndComesBack) {
  using Clock = std::chrono::steady_clock;
  Backend s1("s1");
  auto s2 = std::make_unique<Process>(std::vector<std::string>{backendBinary(), "s2", "0"}, true);
  int p2 = std::atoi(s2->firstLine().c_str());
  ASSERT_GT(p2, 0);
  const int intervalMs = 200, unhealthy = 3;
  Ferry f(config({s1.port(), p2}, "    health_check: { type: http, path: /health, interval: " +
                                      std::to_string(intervalMs) +
                                      "ms, timeout: 100ms, healthy_threshold: 2,"
                                      " unhealthy_threshold: " +
                                      std::to_string(unhealthy) + " }\n"));
  int port = f.port("web");
  std::string ep2 = "127.0.0.1:" + std::to_string(p2);
  std::string downLine = "endpoint " + ep2 + " of cluster c is unhealthy";
  std::string upLine = "endpoint " + ep2 + " of cluster c is healthy again";
  ASSERT_TRUE(waitUntil([&] { return bodyOf(get(port, "/")) == "s2\n"; }, 10s));

  long failed = 0, total = 0;
  auto kill = Clock::now();
  s2->stop();
  s2.reset();
  // GETs all along, until the log says s2 is unhealthy (bounded by the deadline).
  bool marked = false;
  Clock::time_point markedAt{};
  while (Clock::now() - kill < 10s) {
    std::string r = get(port, "/");
    ++total;
    if (statusOf(r) != 200 || bodyOf(r) != "s1\n") ++failed;
    if (f.process().logText().find(downLine) != std::string::npos) {
      markedAt = Clock::now();
      marked = true;
      break;
    }
  }
  ASSERT_TRUE(marked) << f.process().logText();
  long ms = std::chrono::duration_cast<std::chrono::milliseconds>(markedAt - kill).count();
  std::printf(
      "[ measured ] killed backend marked unhealthy after %ld ms (unhealthy_threshold x "
      "interval = %d ms); %ld of %ld GETs failed meanwhile\n",
      ms, unhealthy * intervalMs, failed, total);
  EXPECT_EQ(failed, 0);
  // A bound with room for a loaded machine: the checks take unhealthy x interval, not seconds.
  EXPECT_LT(ms, 5000);
  // Marked down: GETs go to s1 without even trying s2.
  for (int i = 0; i < 20; ++i) {
    std::string r = get(port, "/");
    EXPECT_EQ(statusOf(r), 200);
    EXPECT_EQ(bodyOf(r), "s1\n");
  }
  // Back on the same port: healthy again after healthy_threshold checks, and used.
  s2 = std::make_unique<Process>(
      std::vector<std::string>{backendBinary(), "s2", std::to_string(p2)}, true);
  ASSERT_EQ(std::atoi(s2->firstLine().c_str()), p2);
  EXPECT_TRUE(
      waitUntil([&] { return f.process().logText().find(upLine) != std::string::npos; }, 10s));
  EXPECT_TRUE(waitUntil([&] { return bodyOf(get(port, "/")) == "s2\n"; }, 10s));
}

// http checks judge the answer to `path` by expect_status (default: any 2xx): a backend that
// answers the check's path with 503 is marked down; with expect_status: 503 the one that
// answers 200 is.
TEST(HealthCheck, HttpCheckJudgesThePathsStatusByExpectStatus) {
  Backend s1("s1"), s2("s2");
  auto healthy = [](Ferry& f, int port) {
    return f.metric("ferry_upstream_endpoint_healthy{cluster=\"c\",endpoint=\"127.0.0.1:" +
                    std::to_string(port) + "\"}");
  };
  const std::string check =
      "    health_check: { type: http, path: \"/status-if?name=s2&code=503\", interval: 1s,"
      " timeout: 1s, unhealthy_threshold: 2";
  {
    Ferry f(config({s1.port(), s2.port()}, check + " }\n", 1));
    EXPECT_TRUE(waitUntil([&] { return healthy(f, s2.port()) == 0; }, 10s)) << f.metrics();
    EXPECT_EQ(healthy(f, s1.port()), 1);
    // The first round (before serving) judged it; the loop's failures are counted after.
    EXPECT_TRUE(waitUntil(
        [&] { return f.metric("ferry_upstream_health_checks_failed_total{cluster=\"c\"}") >= 2; },
        10s));
    for (int i = 0; i < 6; ++i) EXPECT_EQ(bodyOf(get(f.port("web"), "/")), "s1\n");
  }
  Ferry f(config({s1.port(), s2.port()}, check + ", expect_status: 503 }\n", 1));
  EXPECT_TRUE(waitUntil([&] { return healthy(f, s1.port()) == 0; }, 10s)) << f.metrics();
  EXPECT_EQ(healthy(f, s2.port()), 1);
  for (int i = 0; i < 6; ++i) EXPECT_EQ(bodyOf(get(f.port("web"), "/a")), "s2\n");
}

// An HTTP server on 127.0.0.1 in this process that answers every request 200 and keeps the
// first request head it read (one connection at a time, closed after each answer).
class HeadRecorder {
 public:
  HeadRecorder() {
    listen_ = listenLoopback(16, port_);
    if (listen_ < 0) throw std::runtime_error("recorder bind/listen");
    thread_ = std::thread([this] { serve(); });
  }
  ~HeadRecorder() {
    stop_ = true;
    ::shutdown(listen_, SHUT_RDWR);
    thread_.join();
    ::close(listen_);
  }
  int port() const { return port_; }
  std::string first() {
    std::lock_guard<std::mutex> g(mu_);
    return first_;
  }

 private:
  void serve() {
    while (!stop_) {
      int fd = ::accept(listen_, nullptr, nullptr);
      if (fd < 0) continue;
      std::string head;
      char buf[2048];
      while (head.find("\r\n\r\n") == std::string::npos) {
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, 2000) <= 0) break;
        ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
        if (n <= 0) break;
        head.append(buf, static_cast<std::size_t>(n));
      }
      static const std::string ok =
          "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n";
      ::send(fd, ok.data(), ok.size(), MSG_NOSIGNAL);
      ::close(fd);
      std::lock_guard<std::mutex> g(mu_);
      if (first_.empty()) first_ = head;
    }
  }
  int listen_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::mutex mu_;
  std::string first_;
};

// An http check sends GET path with the configured host as its Host header.
TEST(HealthCheck, HttpCheckSendsItsPathAndHost) {
  HeadRecorder r;
  Ferry f(config({r.port()},
                 "    health_check: { type: http, path: \"/hc?probe=1\", host: check.internal,"
                 " interval: 200ms, timeout: 200ms }\n",
                 1));
  ASSERT_TRUE(waitUntil([&] { return !r.first().empty(); }, 10s)) << "no check arrived";
  std::string head = r.first();
  EXPECT_EQ(head.rfind("GET /hc?probe=1 HTTP/1.1\r\n", 0), 0U) << head;
  EXPECT_NE(head.find("\r\nHost: check.internal\r\n"), std::string::npos) << head;
}

// tcp checks: a connect is enough.
TEST(HealthCheck, TcpCheckMarksARefusingEndpointDown) {
  Backend s1("s1");
  ReservedPort dead;
  Ferry f(config({s1.port(), dead.port()},
                 "    health_check: { type: tcp, interval: 100ms, timeout: 100ms,"
                 " unhealthy_threshold: 2 }\n"));
  std::string line =
      "endpoint 127.0.0.1:" + std::to_string(dead.port()) + " of cluster c is unhealthy";
  EXPECT_TRUE(
      waitUntil([&] { return f.process().logText().find(line) != std::string::npos; }, 10s));
  EXPECT_EQ(f.process().logText().find("127.0.0.1:" + std::to_string(s1.port()) +
                                       " of cluster c is unhealthy"),
            std::string::npos);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(bodyOf(get(f.port("web"), "/")), "s1\n");
  // /metrics says it per endpoint.
  auto healthy = [&](int port) {
    return f.metric("ferry_upstream_endpoint_healthy{cluster=\"c\",endpoint=\"127.0.0.1:" +
                    std::to_string(port) + "\"}");
  };
  EXPECT_TRUE(waitUntil([&] { return healthy(dead.port()) == 0; }, 10s)) << f.metrics();
  EXPECT_EQ(healthy(s1.port()), 1) << f.metrics();
  // The admin listener's GET /clusters says the same, as JSON.
  std::string deadEp = "\"address\":\"127.0.0.1:" + std::to_string(dead.port()) + "\"";
  EXPECT_TRUE(waitUntil(
      [&] {
        std::string r = bodyOf(rawExchange(
            f.adminPort(), "GET /clusters HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"));
        std::size_t at = r.find(deadEp);
        return r.find("\"name\":\"c\"") != std::string::npos && at != std::string::npos &&
               r.find("\"health\":\"unhealthy\"", at) != std::string::npos;
      },
      10s));
  // ...and the pools' state: s1 served the requests and keeps idle connections, the dead one
  // has none.
  std::string clusters = bodyOf(
      rawExchange(f.adminPort(), "GET /clusters HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"));
  std::size_t live = clusters.find("\"address\":\"127.0.0.1:" + std::to_string(s1.port()) + "\"");
  ASSERT_NE(live, std::string::npos) << clusters;
  const std::string idle = "\"pool\":{\"idle\":";
  std::size_t pool = clusters.find(idle, live);
  ASSERT_NE(pool, std::string::npos) << clusters;
  EXPECT_GE(std::atoi(clusters.c_str() + pool + idle.size()), 1) << clusters;
  std::size_t deadAt = clusters.find(deadEp);
  ASSERT_NE(deadAt, std::string::npos) << clusters;
  EXPECT_NE(clusters.find("\"pool\":{\"idle\":0,\"active\":0}", deadAt), std::string::npos)
      << clusters;
}

// ---- Issue 16: health across reloads, the first check round, cluster-wide limits ----

std::string adminCall(Ferry& f, const std::string& method, const std::string& path) {
  return rawExchange(f.adminPort(),
                     method + " " + path +
                         " HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                     30s);
}

// A backend process on a port of its own that a test stops and starts again on that port.
struct Restartable {
  explicit Restartable(const std::string& name) : name_(name) { start(0); }
  void start(int port) {
    proc_ = std::make_unique<Process>(
        std::vector<std::string>{backendBinary(), name_, std::to_string(port)}, true);
    port_ = std::atoi(proc_->firstLine().c_str());
  }
  void stop() {
    proc_->stop();
    proc_.reset();
  }
  int port() const { return port_; }

 private:
  std::string name_;
  std::unique_ptr<Process> proc_;
  int port_ = 0;
};

double healthyMetric(Ferry& f, int port) {
  return f.metric("ferry_upstream_endpoint_healthy{cluster=\"c\",endpoint=\"127.0.0.1:" +
                  std::to_string(port) + "\"}");
}

// Section 2: an endpoint that recovered while a reload started a new checker came back only if
// the new checker saw it fail first (it started from "healthy", so passes changed nothing): it
// stayed unhealthy for good. It must be brought back by its passing checks.
TEST(HealthCheck, ARecoveredEndpointComesBackAcrossAReload) {
  Backend s1("s1");
  Restartable s2("s2");
  ASSERT_GT(s2.port(), 0);
  Ferry f(config({s1.port(), s2.port()},
                 "    health_check: { type: http, path: /health, interval: 100ms, timeout: 100ms,"
                 " healthy_threshold: 2, unhealthy_threshold: 2 }\n",
                 1));
  s2.stop();
  ASSERT_TRUE(waitUntil([&] { return healthyMetric(f, s2.port()) == 0; }, 10s)) << f.metrics();
  s2.start(s2.port());
  ASSERT_GT(s2.port(), 0);
  std::string r = adminCall(f, "POST", "/reload");  // before two checks could pass
  ASSERT_EQ(statusOf(r), 200) << r;
  EXPECT_TRUE(waitUntil([&] { return healthyMetric(f, s2.port()) == 1; }, 10s)) << f.metrics();
  EXPECT_TRUE(waitUntil([&] { return bodyOf(get(f.port("web"), "/")) == "s2\n"; }, 10s));
}

// Section 2: with active checks, an endpoint that is down when ferry starts never gets a
// request: the first check round runs before the listeners serve (unhealthy_threshold x interval
// is 30 s here, so without it the dead endpoint would take half the first requests).
TEST(HealthCheck, ADeadEndpointGetsNoRequestAtStart) {
  Backend s1("s1");
  ReservedPort dead;
  Ferry f(config({s1.port(), dead.port()},
                 "    health_check: { type: tcp, interval: 10s, timeout: 500ms,"
                 " unhealthy_threshold: 3 }\n"
                 "    retry: { retry_on: [], max_retries: 0 }\n"));
  for (int i = 0; i < 10; ++i) EXPECT_EQ(bodyOf(get(f.port("web"), "/")), "s1\n");
  EXPECT_EQ(f.metric("ferry_upstream_connect_failures_total{cluster=\"c\"}"), 0);
  EXPECT_EQ(healthyMetric(f, dead.port()), 0);
}

// Section 2: a reload that changes the cluster (one weight) keeps its endpoints' health and its
// idle connections: the dead endpoint stays out (no connect to it after the reload) and the live
// one's pooled connection is reused (no new upstream connection).
TEST(HealthCheck, AReloadChangingTheClusterKeepsHealthAndPools) {
  Backend s1("s1");
  ReservedPort dead;
  auto yaml = [&](int weight) {
    std::string eps = "[{ address: 127.0.0.1:" + std::to_string(s1.port()) +
                      ", weight: " + std::to_string(weight) +
                      " }, 127.0.0.1:" + std::to_string(dead.port()) + "]";
    std::string c = config({}, "", 1);
    return c.substr(0, c.find("endpoints: [")) + "endpoints: " + eps + "\n" +
           "    health_check: { type: tcp, interval: 10s, timeout: 500ms }\n"
           "    retry: { retry_on: [], max_retries: 0 }\n";
  };
  Ferry f(yaml(1));
  for (int i = 0; i < 5; ++i) EXPECT_EQ(bodyOf(get(f.port("web"), "/")), "s1\n");
  const std::string openedTotal = "ferry_upstream_connections_opened_total{cluster=\"c\"}";
  double opened = f.metric(openedTotal);
  {
    std::ifstream in(f.configPath());  // as the harness wrote it (the admin address filled in)
    std::string text, line;
    while (std::getline(in, line)) text += line + "\n";
    std::size_t w = text.find("weight: 1 ");
    ASSERT_NE(w, std::string::npos) << text;
    text.replace(w, 10, "weight: 3 ");
    std::ofstream out(f.configPath() + ".new");
    out << text;
  }
  std::rename((f.configPath() + ".new").c_str(), f.configPath().c_str());
  std::string r = adminCall(f, "POST", "/reload");
  ASSERT_EQ(statusOf(r), 200) << r;
  for (int i = 0; i < 10; ++i) EXPECT_EQ(bodyOf(get(f.port("web"), "/")), "s1\n");
  EXPECT_EQ(f.metric("ferry_upstream_connect_failures_total{cluster=\"c\"}"), 0);
  EXPECT_EQ(healthyMetric(f, dead.port()), 0);
  EXPECT_EQ(f.metric(openedTotal), opened);  // the pooled connection moved to the new cluster
}

// Sections 1 and 6: a refused connect is retried even with the retry budget spent (it cost the
// backends nothing), on one worker as on Windows.
TEST(Retry, ARefusedConnectIsRetriedWhateverTheBudget) {
  Backend s1("s1");
  ReservedPort dead;
  Ferry f(config({s1.port(), dead.port()},
                 "    retry: { retry_on: [connect-failure], max_retries: 1 }\n"
                 "    retry_budget: { percent: 0, min_retries_per_second: 0 }\n",
                 1));
  for (int i = 0; i < 20; ++i) {
    std::string r = get(f.port("web"), "/");
    EXPECT_EQ(statusOf(r), 200) << r;
  }
  EXPECT_EQ(
      f.metric("ferry_upstream_retry_budget_exhausted_total{cluster=\"c\",reason=\"refused\"}"), 0);
}

// Section 6: consecutive_5xx counts cluster-wide: on two workers, 3 ejects after exactly 3
// errors (each worker counting its own let up to 5 through).
TEST(Outlier, ConsecutiveErrorsCountAcrossTwoWorkers) {
  Backend s1("s1"), s2("s2");
  Ferry f(config({s1.port(), s2.port()},
                 "    outlier_detection: { consecutive_5xx: 3, base_ejection_time: 60s,"
                 " max_ejection_percent: 50 }\n",
                 2));
  int n500 = 0;
  for (int i = 0; i < 40; ++i)
    n500 += statusOf(get(f.port("web"), "/status-if?name=s1&code=500")) == 500;
  EXPECT_EQ(n500, 3);
  EXPECT_EQ(s1.requests(), 3);
  EXPECT_EQ(f.metric("ferry_upstream_outlier_ejections_total{cluster=\"c\"}"), 1);
}

// A backend in this process that answers every request after `holdMs` and records how many
// connections it had open at once.
class ConcurrencyRecorder {
 public:
  explicit ConcurrencyRecorder(int holdMs) : holdMs_(holdMs) {
    listen_ = listenLoopback(64, port_);
    if (listen_ < 0) throw std::runtime_error("recorder bind/listen");
    acceptor_ = std::thread([this] { acceptAll(); });
  }
  ~ConcurrencyRecorder() {
    stop_ = true;
    ::shutdown(listen_, SHUT_RDWR);
    acceptor_.join();
    for (std::thread& t : conns_) t.join();
    ::close(listen_);
  }
  int port() const { return port_; }
  int most() const { return most_.load(); }

 private:
  void acceptAll() {
    while (!stop_) {
      int fd = ::accept(listen_, nullptr, nullptr);
      if (fd < 0) continue;
      int now = ++open_;
      int m = most_.load();
      while (now > m && !most_.compare_exchange_weak(m, now)) {
      }
      conns_.emplace_back([this, fd] { serve(fd); });
    }
  }
  void serve(int fd) {
    static const std::string ok = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n";
    std::string in;
    while (!stop_) {
      std::size_t end = in.find("\r\n\r\n");
      if (end == std::string::npos) {
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, 200) == 0) continue;
        char buf[2048];
        ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
        if (n <= 0) break;
        in.append(buf, static_cast<std::size_t>(n));
        continue;
      }
      in.erase(0, end + 4);
      std::this_thread::sleep_for(std::chrono::milliseconds(holdMs_));  // the backend's work
      ::send(fd, ok.data(), ok.size(), MSG_NOSIGNAL);
    }
    --open_;
    ::close(fd);
  }
  int holdMs_;
  int listen_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> open_{0};
  std::atomic<int> most_{0};
  std::thread acceptor_;
  std::vector<std::thread> conns_;
};

// Section 6: max_connections is the endpoint's across the workers: 16 clients at once through
// two workers open at most 2 connections to it, and every client is answered (a worker waiting
// for a slot the other holds gets it when freed).
TEST(Limits, MaxConnectionsHoldsAcrossTwoWorkers) {
  ConcurrencyRecorder b(150);
  Ferry f(config({b.port()}, "    max_connections: 2\n    queue_timeout: 20s\n", 2));
  std::atomic<int> ok{0};
  std::vector<std::thread> clients;
  for (int i = 0; i < 16; ++i) {
    clients.emplace_back([&] { ok += statusOf(get(f.port("web"), "/")) == 200 ? 1 : 0; });
  }
  for (std::thread& t : clients) t.join();
  EXPECT_EQ(ok.load(), 16);
  EXPECT_LE(b.most(), 2);
}

// Section 6: panic is visible: a log line when the cluster enters it and when it leaves, the
// `panic` field of /clusters, and ferry_upstream_cluster_panic.
TEST(HealthCheck, PanicIsLoggedShownAndMeasured) {
  Backend s1("s1");
  Restartable s2("s2"), s3("s3");
  int p2 = s2.port(), p3 = s3.port();
  s2.stop();
  s3.stop();
  Ferry f(config({s1.port(), p2, p3},
                 "    health_check: { type: tcp, interval: 100ms, timeout: 100ms,"
                 " healthy_threshold: 1 }\n",
                 1));
  auto clusters = [&] { return bodyOf(adminCall(f, "GET", "/clusters")); };
  EXPECT_TRUE(waitUntil(
      [&] { return f.process().logText().find("cluster c: panic") != std::string::npos; }, 10s))
      << f.process().logText();
  EXPECT_NE(clusters().find("\"panic\":true"), std::string::npos) << clusters();
  EXPECT_EQ(f.metric("ferry_upstream_cluster_panic{cluster=\"c\"}"), 1);
  s2.start(p2);
  s3.start(p3);
  EXPECT_TRUE(waitUntil(
      [&] { return f.process().logText().find("cluster c: out of panic") != std::string::npos; },
      10s))
      << f.process().logText();
  EXPECT_NE(clusters().find("\"panic\":false"), std::string::npos) << clusters();
  EXPECT_EQ(f.metric("ferry_upstream_cluster_panic{cluster=\"c\"}"), 0);
}

}  // namespace
}  // namespace ferry::test
