// The registry: families keyed by name, series present from the start, per-worker cells summed
// at scrape, histograms with the proxy's buckets, the process collector.

#include "proxy/metrics/metrics.h"

#include <gtest/gtest.h>

#include <chrono>
#include <regex>
#include <string>

#include "proxy/metrics/process.h"

namespace ferry::metrics {
namespace {

std::shared_ptr<const config::Config> load(const std::string& yaml) {
  config::LoadResult r = config::loadString(yaml, "test.yaml", ".");
  EXPECT_TRUE(r.errors.empty()) << (r.errors.empty() ? "" : r.errors.front().format());
  return r.config;
}

const char* kTwoUnnamedRoutes = R"(
listeners:
  - name: web
    address: 127.0.0.1:0
    routes:
      - { match: { path_prefix: /a }, cluster: app }
      - { match: { path_prefix: /b }, cluster: app }
clusters:
  - name: app
    endpoints: [127.0.0.1:1, 127.0.0.1:2]
)";

// The value of the series written exactly as `series` in the exposition, or -1.
double valueOf(const std::string& text, const std::string& series) {
  std::size_t at = 0;
  while ((at = text.find(series + " ", at)) != std::string::npos) {
    if (at == 0 || text[at - 1] == '\n') return std::stod(text.substr(at + series.size() + 1));
    at += series.size();
  }
  return -1;
}

TEST(Registry, EveryStatusClassOfEveryRouteExistsAtZero) {
  Registry reg(load(kTwoUnnamedRoutes), 2);
  std::string text = reg.serialize();
  for (const char* route : {"app", "app-2", "none"}) {
    for (const char* cls : {"1xx", "2xx", "3xx", "4xx", "5xx"}) {
      std::string s = std::string("ferry_http_requests_total{listener=\"web\",route=\"") + route +
                      "\",code_class=\"" + cls + "\"}";
      EXPECT_EQ(valueOf(text, s), 0) << s;
    }
  }
  EXPECT_EQ(text.find("code_class=\"other\""), std::string::npos);
}

TEST(Registry, TwoUnnamedRoutesToOneClusterExportDistinctLabelSets) {
  Registry reg(load(kTwoUnnamedRoutes), 1);
  auto cfg = load(kTwoUnnamedRoutes);
  std::vector<RouteCounters*> routes = reg.routesOf(0, cfg->listeners[0]);
  ASSERT_EQ(routes.size(), 3U);  // two routes and the no-route slot
  EXPECT_NE(routes[0], routes[1]);
  routes[0]->count(200);
  routes[1]->count(503);
  routes[1]->count(503);
  std::string text = reg.serialize();
  EXPECT_EQ(
      valueOf(text, R"(ferry_http_requests_total{listener="web",route="app",code_class="2xx"})"),
      1);
  EXPECT_EQ(
      valueOf(text, R"(ferry_http_requests_total{listener="web",route="app-2",code_class="5xx"})"),
      2);
}

TEST(Registry, SumsWorkersAndKeysByNameNotPosition) {
  Registry reg(load(kTwoUnnamedRoutes), 2);
  reg.cluster(0, "app").opened.add(3);
  reg.cluster(1, "app").opened.add(4);
  reg.listener(1, "web").bytesSent.add(100);
  EXPECT_EQ(&reg.cluster(1, "app"), &reg.cluster(1, "app"));
  EXPECT_NE(&reg.cluster(0, "app"), &reg.cluster(1, "app"));
  std::string text = reg.serialize();
  EXPECT_EQ(valueOf(text, R"(ferry_upstream_connections_opened_total{cluster="app"})"), 7);
  EXPECT_EQ(valueOf(text, R"(ferry_downstream_sent_bytes_total{listener="web"})"), 100);
  // A reload that reorders clusters and drops a route keeps the cells of what stayed.
  ClusterCounters* before = &reg.cluster(0, "app");
  reg.apply(*load(R"(
listeners:
  - name: web
    address: 127.0.0.1:0
    routes:
      - { match: { path_prefix: /a }, cluster: other }
clusters:
  - { name: other, endpoints: [127.0.0.1:3] }
  - { name: app, endpoints: [127.0.0.1:1] }
)"));
  EXPECT_EQ(&reg.cluster(0, "app"), before);
  text = reg.serialize();
  EXPECT_EQ(valueOf(text, R"(ferry_upstream_connections_opened_total{cluster="app"})"), 7);
  EXPECT_EQ(valueOf(text, R"(ferry_upstream_connections_opened_total{cluster="other"})"), 0);
  // Retired series are no longer exported: the route "app-2" and endpoint 127.0.0.1:2.
  EXPECT_EQ(text.find("route=\"app-2\""), std::string::npos);
  EXPECT_EQ(text.find("127.0.0.1:2"), std::string::npos);
  EXPECT_NE(
      text.find(
          R"(ferry_upstream_endpoint_idle_connections{cluster="other",endpoint="127.0.0.1:3"} 0)"),
      std::string::npos);
}

TEST(Registry, HistogramBucketsAreCumulativeInSeconds) {
  Registry reg(load(kTwoUnnamedRoutes), 2);
  RouteCounters& r0 = reg.route(0, "web", "app");
  RouteCounters& r1 = reg.route(1, "web", "app");
  r0.duration.observe(std::chrono::microseconds(50));   // <= 100us
  r0.duration.observe(std::chrono::microseconds(100));  // <= 100us (le is inclusive)
  r1.duration.observe(std::chrono::milliseconds(3));    // <= 5ms
  r1.duration.observe(std::chrono::seconds(31));        // +Inf
  std::string text = reg.serialize();
  const std::string h =
      R"(ferry_http_request_duration_seconds_bucket{listener="web",route="app",le=")";
  EXPECT_EQ(valueOf(text, h + "0.0001\"}"), 2);
  EXPECT_EQ(valueOf(text, h + "0.0025\"}"), 2);
  EXPECT_EQ(valueOf(text, h + "0.005\"}"), 3);
  EXPECT_EQ(valueOf(text, h + "30\"}"), 3);
  EXPECT_EQ(valueOf(text, h + "+Inf\"}"), 4);
  EXPECT_EQ(
      valueOf(text, R"(ferry_http_request_duration_seconds_count{listener="web",route="app"})"), 4);
  EXPECT_NEAR(
      valueOf(text, R"(ferry_http_request_duration_seconds_sum{listener="web",route="app"})"),
      31.00315, 1e-9);
}

TEST(Registry, ReasonFamiliesHaveEverySeries) {
  Registry reg(load(kTwoUnnamedRoutes), 1);
  reg.listener(0, "web").timeouts[static_cast<std::size_t>(Timeout::kUpstreamConnect)].add();
  std::string text = reg.serialize();
  EXPECT_EQ(valueOf(text, R"(ferry_timeouts_total{listener="web",kind="upstream_connect"})"), 1);
  for (const char* r : kRejectionNames) {
    EXPECT_EQ(valueOf(text, std::string(R"(ferry_http_rejections_total{listener="web",reason=")") +
                                r + "\"}"),
              0);
  }
  for (const char* r : kCloseReasonNames) {
    EXPECT_EQ(
        valueOf(text,
                std::string(R"(ferry_upstream_connections_closed_total{cluster="app",reason=")") +
                    r + "\"}"),
        0);
  }
}

const char* kTcpAndHttp = R"(
listeners:
  - name: web
    address: 127.0.0.1:0
    routes:
      - { name: all, match: { path_prefix: / }, cluster: app }
  - { name: db, address: 127.0.0.1:0, protocol: tcp, cluster: app }
  - { name: files, address: 127.0.0.1:0, static: { root: / } }
clusters:
  - name: app
    endpoints: [127.0.0.1:1, 127.0.0.1:2]
)";

// A TCP listener answers no HTTP request: it gets no HTTP series (requests, their duration,
// requests_active, rejections; of the timeouts only upstream_connect), and its connections go to
// ferry_tunnel_duration_seconds{kind="tcp"}; a proxy listener's tunnels are websocket ones, a
// static listener has none.
TEST(Registry, TcpListenersGetNoHttpSeriesAndTunnelsTheirOwnFamily) {
  auto cfg = load(kTcpAndHttp);
  Registry reg(cfg, 2);
  EXPECT_TRUE(reg.routesOf(0, cfg->listeners[1]).empty());
  reg.listener(1, "db").tunnelDuration[static_cast<std::size_t>(TunnelKind::kTcp)].observe(
      std::chrono::seconds(90));
  reg.listener(0, "db").timeouts[static_cast<std::size_t>(Timeout::kUpstreamConnect)].add();
  std::string text = reg.serialize();
  for (const char* absent :
       {R"(ferry_http_requests_total{listener="db")", R"(ferry_http_requests_active{listener="db")",
        R"(ferry_http_request_duration_seconds_count{listener="db")",
        R"(ferry_http_rejections_total{listener="db")",
        R"(ferry_timeouts_total{listener="db",kind="request_header"})",
        R"(ferry_tunnel_duration_seconds_count{listener="db",kind="websocket"})",
        R"(ferry_tunnel_duration_seconds_count{listener="files")"}) {
    EXPECT_EQ(text.find(absent), std::string::npos) << absent << "\n" << text;
  }
  EXPECT_EQ(valueOf(text, R"(ferry_timeouts_total{listener="db",kind="upstream_connect"})"), 1);
  EXPECT_EQ(valueOf(text, R"(ferry_tunnel_duration_seconds_count{listener="db",kind="tcp"})"), 1);
  EXPECT_EQ(valueOf(text, R"(ferry_tunnel_duration_seconds_sum{listener="db",kind="tcp"})"), 90);
  EXPECT_EQ(
      valueOf(text, R"(ferry_tunnel_duration_seconds_count{listener="web",kind="websocket"})"), 0);
  EXPECT_EQ(valueOf(text, R"(ferry_http_requests_active{listener="web"})"), 0);
  EXPECT_EQ(valueOf(text, R"(ferry_downstream_connections_total{listener="db"})"), 0);
}

// ferry_upstream_endpoint_responses_total: every class of every configured endpoint exists at 0
// (cells per endpoint of the config, none per request), summed over workers.
TEST(Registry, EndpointResponsesHaveEveryClassOfEveryEndpoint) {
  auto cfg = load(kTcpAndHttp);
  Registry reg(cfg, 2);
  std::vector<EndpointCounters*> w0 = reg.endpointsOf(0, cfg->clusters[0]);
  std::vector<EndpointCounters*> w1 = reg.endpointsOf(1, cfg->clusters[0]);
  ASSERT_EQ(w0.size(), 2U);
  w0[1]->responses[static_cast<std::size_t>(EndpointOutcome::k5xx)].add(2);
  w1[1]->responses[static_cast<std::size_t>(EndpointOutcome::k5xx)].add(3);
  w1[0]->responses[static_cast<std::size_t>(EndpointOutcome::kError)].add();
  std::string text = reg.serialize();
  for (const char* ep : {"127.0.0.1:1", "127.0.0.1:2"}) {
    for (const char* cls : kEndpointOutcomeNames) {
      std::string s = std::string(R"(ferry_upstream_endpoint_responses_total{cluster="app",)") +
                      "endpoint=\"" + ep + "\",class=\"" + cls + "\"}";
      EXPECT_GE(valueOf(text, s), 0) << s << "\n" << text;
    }
  }
  EXPECT_EQ(valueOf(text, R"(ferry_upstream_endpoint_responses_total{cluster="app",)"
                          R"(endpoint="127.0.0.1:2",class="5xx"})"),
            5);
  EXPECT_EQ(valueOf(text, R"(ferry_upstream_endpoint_responses_total{cluster="app",)"
                          R"(endpoint="127.0.0.1:1",class="error"})"),
            1);
  EXPECT_EQ(valueOf(text, R"(ferry_upstream_endpoint_responses_total{cluster="app",)"
                          R"(endpoint="127.0.0.1:1",class="2xx"})"),
            0);
}

TEST(Registry, BuildInfoReloadsAndCallbacks) {
  Registry reg(load(kTwoUnnamedRoutes), 1);
  reg.setIoBackend("epoll");
  reg.recordReload(true);
  reg.recordReload(false);
  reg.addCallback("ferry_test_value", "A test value", Registry::Type::kGauge, [] { return 42.0; });
  std::string text = reg.serialize();
  EXPECT_TRUE(std::regex_search(
      text,
      std::regex(R"(ferry_build_info\{io_backend="epoll",version="[0-9]+\.[0-9]+\.[0-9]+"\} 1)")))
      << text;
  EXPECT_EQ(valueOf(text, R"(ferry_config_reloads_total{result="success"})"), 1);
  EXPECT_EQ(valueOf(text, R"(ferry_config_reloads_total{result="failure"})"), 1);
  EXPECT_EQ(valueOf(text, "ferry_config_last_reload_successful"), 0);
  EXPECT_EQ(valueOf(text, "ferry_test_value"), 42);
}

TEST(Histogram, BucketEdges) {
  Histogram h;
  h.observeUs(0);
  h.observeUs(100);
  h.observeUs(101);
  h.observeUs(30000000);
  h.observeUs(30000001);
  EXPECT_EQ(h.bucket(0), 2U);
  EXPECT_EQ(h.bucket(1), 1U);
  EXPECT_EQ(h.bucket(Histogram::kBoundsUs.size() - 1), 1U);
  EXPECT_EQ(h.bucket(Histogram::kBoundsUs.size()), 1U);
  EXPECT_EQ(h.sumUs(), 60000202U);
}

TEST(Process, StatsArePlausible) {
  std::optional<ProcessStats> s = readProcessStats();
  ASSERT_TRUE(s.has_value());
  EXPECT_GT(s->residentBytes, 1 << 20);
#ifdef _WIN32
  EXPECT_GE(s->openFds, 0);  // GetProcessHandleCount: Wine answers 0, Windows the real count
#else
  EXPECT_GE(s->openFds, 3);
#endif
  EXPECT_GE(s->maxFds, s->openFds);
  auto now = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch());
  EXPECT_LE(s->startTimeSeconds, now.count() + 1);
  EXPECT_GT(s->startTimeSeconds, now.count() - 3600);  // this test started within the hour
  // CPU time grows with work.
  volatile double x = 0;
  double before = s->cpuSeconds;
  auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(300);
  while (std::chrono::steady_clock::now() < until) x = x + 1;
  EXPECT_GT(readProcessStats()->cpuSeconds, before);
  std::string text = Registry(load(kTwoUnnamedRoutes), 1).serialize();
  for (const char* f : {"process_cpu_seconds_total ", "process_resident_memory_bytes ",
                        "process_open_fds ", "process_max_fds ", "process_start_time_seconds "}) {
    EXPECT_NE(text.find(std::string("\n") + f), std::string::npos) << f;
  }
}

}  // namespace
}  // namespace ferry::metrics
