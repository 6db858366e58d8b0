// Health thresholds, the shared board, outlier ejection (growing with repeats, capped by
// max_ejection_percent) and panic, with a fake clock; /clusters' JSON.
#include "proxy/upstream/health.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "proxy/balance/balancer.h"
#include "proxy/upstream/cluster.h"
#include "proxy/upstream/outlier.h"

namespace ferry::upstream {
namespace {

using R = OutlierDetector::Result;

TEST(HealthCheck, StatusLine) {
  EXPECT_EQ(parseStatusLine("HTTP/1.1 200 OK\r\n"), 200);
  EXPECT_EQ(parseStatusLine("HTTP/1.0 503 Service Unavailable\r\n"), 503);
  EXPECT_EQ(parseStatusLine("HTTP/1.1 204\r\n"), 204);
  EXPECT_EQ(parseStatusLine("HTTP/1.1 20"), 0);
  EXPECT_EQ(parseStatusLine("HTTP/2 200 OK\r\n"), 0);
  EXPECT_EQ(parseStatusLine("SSH-2.0-OpenSSH\r\n"), 0);
  EXPECT_EQ(parseStatusLine("HTTP/1.1 2000 OK\r\n"), 0);
  EXPECT_TRUE(statusPasses(200, 0));
  EXPECT_TRUE(statusPasses(299, 0));
  EXPECT_FALSE(statusPasses(301, 0));
  EXPECT_FALSE(statusPasses(0, 0));
  EXPECT_TRUE(statusPasses(301, 301));
  EXPECT_FALSE(statusPasses(200, 301));
}

TEST(HealthCheck, ThresholdsInARow) {
  CheckCounter c(2, 3);
  EXPECT_TRUE(c.healthy());
  EXPECT_FALSE(c.record(false));
  EXPECT_FALSE(c.record(false));
  EXPECT_FALSE(c.record(true));  // a pass breaks the run of failures
  EXPECT_FALSE(c.record(false));
  EXPECT_FALSE(c.record(false));
  EXPECT_TRUE(c.record(false));  // the third failure in a row
  EXPECT_FALSE(c.healthy());
  EXPECT_FALSE(c.record(false));
  EXPECT_FALSE(c.record(true));
  EXPECT_FALSE(c.record(false));  // a failure breaks the run of passes
  EXPECT_FALSE(c.record(true));
  EXPECT_TRUE(c.record(true));  // the second pass in a row
  EXPECT_TRUE(c.healthy());
}

TEST(HealthBoard, VersionChangesWithEveryWrite) {
  HealthBoard b(3);
  std::uint64_t v = b.version();
  EXPECT_TRUE(b.checkedHealthy(1));
  b.setChecked(1, false, TimePoint{} + seconds(5));
  EXPECT_NE(b.version(), v);
  EXPECT_FALSE(b.checkedHealthy(1));
  EXPECT_EQ(b.checkedSince(1), TimePoint{} + seconds(5));
  v = b.version();
  b.eject(2, TimePoint{} + seconds(30), 1);
  EXPECT_NE(b.version(), v);
  EXPECT_EQ(b.ejectedCount(TimePoint{} + seconds(29)), 1U);
  EXPECT_EQ(b.ejectedCount(TimePoint{} + seconds(30)), 0U);
}

config::OutlierDetectionConfig outlierConfig() {
  config::OutlierDetectionConfig c;
  c.consecutive5xx = 3;
  c.consecutiveConnectFailures = 2;
  c.baseEjectionTime = seconds(10);
  c.maxEjectionPercent = 50;
  return c;
}

TEST(Outlier, ConsecutiveFailuresEjectAndSuccessResets) {
  FakeClock clock;
  HealthBoard b(4);
  OutlierDetector d(outlierConfig());
  EXPECT_FALSE(d.report(0, R::kServerError, clock.now(), b));
  EXPECT_FALSE(d.report(0, R::kServerError, clock.now(), b));
  EXPECT_FALSE(d.report(0, R::kSuccess, clock.now(), b));  // not in a row any more
  EXPECT_FALSE(d.report(0, R::kServerError, clock.now(), b));
  EXPECT_FALSE(d.report(0, R::kServerError, clock.now(), b));
  EXPECT_TRUE(d.report(0, R::kServerError, clock.now(), b));
  EXPECT_EQ(b.ejectedUntil(0), clock.now() + seconds(10));
  EXPECT_FALSE(d.report(1, R::kConnectFailure, clock.now(), b));
  EXPECT_TRUE(d.report(1, R::kConnectFailure, clock.now(), b));
  EXPECT_EQ(b.ejectedCount(clock.now()), 2U);
}

TEST(Outlier, EjectionTimeGrowsWithRepeatsAndDecays) {
  FakeClock clock;
  HealthBoard b(2);
  config::OutlierDetectionConfig c = outlierConfig();
  c.consecutiveConnectFailures = 1;
  OutlierDetector d(c);
  ASSERT_TRUE(d.report(0, R::kConnectFailure, clock.now(), b));
  EXPECT_EQ(b.ejectedUntil(0) - clock.now(), seconds(10));
  // Still ejected: a failure reported meanwhile (a request in flight) does not eject again.
  clock.advance(seconds(5));
  EXPECT_FALSE(d.report(0, R::kConnectFailure, clock.now(), b));
  clock.advance(seconds(5));  // the ejection ran out
  ASSERT_TRUE(d.report(0, R::kConnectFailure, clock.now(), b));
  EXPECT_EQ(b.ejectedUntil(0) - clock.now(), seconds(20));  // base x 2
  EXPECT_EQ(b.timesEjected(0), 2U);
  clock.advance(seconds(20));
  ASSERT_TRUE(d.report(0, R::kConnectFailure, clock.now(), b));
  EXPECT_EQ(b.ejectedUntil(0) - clock.now(), seconds(30));  // base x 3
  // Calm for two base times after the ejection ended: the multiplier drops by two.
  clock.advance(seconds(30) + seconds(20));
  ASSERT_TRUE(d.report(0, R::kConnectFailure, clock.now(), b));
  EXPECT_EQ(b.ejectedUntil(0) - clock.now(), seconds(20));
  // Capped at kMaxMultiplier x base.
  for (int i = 0; i < 20; ++i) {
    clock.advance(b.ejectedUntil(0) - clock.now());
    ASSERT_TRUE(d.report(0, R::kConnectFailure, clock.now(), b));
  }
  EXPECT_EQ(b.ejectedUntil(0) - clock.now(), seconds(10) * OutlierDetector::kMaxMultiplier);
}

TEST(Outlier, MaxEjectionPercentButAlwaysOne) {
  FakeClock clock;
  config::OutlierDetectionConfig c = outlierConfig();
  c.consecutiveConnectFailures = 1;
  c.maxEjectionPercent = 10;
  HealthBoard b(4);
  OutlierDetector d(c);
  EXPECT_EQ(d.maxEjected(4), 1U);  // 10% of 4 rounds down to 0, but one may always go
  EXPECT_TRUE(d.report(0, R::kConnectFailure, clock.now(), b));
  EXPECT_FALSE(d.report(1, R::kConnectFailure, clock.now(), b));
  EXPECT_EQ(b.ejectedCount(clock.now()), 1U);
  c.maxEjectionPercent = 0;
  OutlierDetector never(c);
  HealthBoard b2(4);
  EXPECT_FALSE(never.report(0, R::kConnectFailure, clock.now(), b2));
  OutlierDetector off(std::nullopt);
  EXPECT_FALSE(off.enabled());
  EXPECT_FALSE(off.report(0, R::kConnectFailure, clock.now(), b2));
}

// The cluster as a worker sees it: ejected and unhealthy endpoints are skipped, and below the
// panic threshold every endpoint is used.
struct ClusterFixture {
  config::ClusterConfig cfg;
  std::shared_ptr<const balance::BalancerFactory> factory;
  metrics::ClusterCounters counters;
  explicit ClusterFixture(std::size_t n, std::uint32_t panic = 50) {
    cfg.name = "c";
    for (std::size_t i = 0; i < n; ++i) {
      std::string why;
      cfg.endpoints.push_back(*config::parseEndpoint("127.0.0.1:" + std::to_string(9000 + i), why));
    }
    cfg.healthyPanicThreshold = panic;
    cfg.outlierDetection = outlierConfig();
    factory = makeBalancerFactory(cfg);
  }
};

std::vector<int> spread(Cluster& c, int picks) {
  std::vector<int> n(c.size(), 0);
  for (int i = 0; i < picks; ++i) ++n[c.pick()];
  return n;
}

TEST(ClusterHealth, UnhealthyAndEjectedEndpointsAreSkipped) {
  ClusterFixture f(4);
  Cluster c(f.cfg, *f.factory, 0, 1, f.counters);
  auto board = std::make_shared<HealthBoard>(4);
  c.attachHealth(board);
  EXPECT_EQ(spread(c, 400), (std::vector<int>{100, 100, 100, 100}));
  board->setChecked(1, false, TimePoint{});
  board->eject(2, SteadyClock().now() + std::chrono::hours(1), 1);
  EXPECT_EQ(c.healthyCount(), 2U);
  EXPECT_FALSE(c.inPanic());
  EXPECT_EQ(spread(c, 400), (std::vector<int>{200, 0, 0, 200}));
  // A retry skips the endpoint tried, and with every healthy one tried goes to a healthy one.
  std::size_t tried[] = {0};
  EXPECT_EQ(c.pick(0, tried), 3U);
  std::size_t both[] = {0, 3};
  std::size_t again = c.pick(0, both);
  EXPECT_TRUE(again == 0 || again == 3) << again;
  // Back to healthy: every endpoint again.
  board->setChecked(1, true, TimePoint{});
  board->eject(2, TimePoint{}, 1);
  EXPECT_EQ(c.healthyCount(), 4U);
  EXPECT_EQ(spread(c, 400), (std::vector<int>{100, 100, 100, 100}));
}

TEST(ClusterHealth, PanicBelowThresholdUsesEveryEndpoint) {
  ClusterFixture f(4, 50);
  Cluster c(f.cfg, *f.factory, 0, 1, f.counters);
  auto board = std::make_shared<HealthBoard>(4);
  c.attachHealth(board);
  board->setChecked(0, false, TimePoint{});
  board->setChecked(1, false, TimePoint{});
  EXPECT_FALSE(c.inPanic());  // 2 of 4 = 50%: not below
  EXPECT_EQ(spread(c, 400), (std::vector<int>{0, 0, 200, 200}));
  board->setChecked(2, false, TimePoint{});
  EXPECT_TRUE(c.inPanic());  // 25% < 50%
  EXPECT_EQ(spread(c, 400), (std::vector<int>{100, 100, 100, 100}));
  // Threshold 0: never panic; the one healthy endpoint takes everything.
  ClusterFixture g(4, 0);
  Cluster d(g.cfg, *g.factory, 0, 1, g.counters);
  d.attachHealth(board);
  EXPECT_FALSE(d.inPanic());
  EXPECT_EQ(spread(d, 400), (std::vector<int>{0, 0, 0, 400}));
  // And with none healthy at all, every endpoint is still tried rather than none.
  board->setChecked(3, false, TimePoint{});
  EXPECT_EQ(spread(d, 400), (std::vector<int>{100, 100, 100, 100}));
}

// Slow start through the cluster: an endpoint ramps from when its checks passed again, or from
// when its ejection ran out; one healthy from the start does not ramp. Each endpoint gets
// weight x factor of the smooth weighted round robin; the clock is the real one, so the
// bounds allow a second's drift (1/30 of the window).
TEST(ClusterHealth, SlowStartRampsFromRecoveryAndFromTheEndOfAnEjection) {
  for (config::BalancePolicy policy :
       {config::BalancePolicy::kRoundRobin, config::BalancePolicy::kWeightedRoundRobin}) {
    ClusterFixture f(2);
    f.cfg.balance.policy = policy;
    f.cfg.balance.slowStart = seconds(30);
    f.factory = makeBalancerFactory(f.cfg);
    auto board = std::make_shared<HealthBoard>(2);
    Cluster c(f.cfg, *f.factory, 0, 1, f.counters);
    c.attachHealth(board);
    EXPECT_EQ(spread(c, 1000), (std::vector<int>{500, 500}));  // nobody ramping
    TimePoint now = SteadyClock().now();
    // Checks passed again 15 s ago: factor 0.5, so a third of the picks.
    board->setChecked(1, true, now - seconds(15));
    std::vector<int> n = spread(c, 3000);
    EXPECT_GT(n[1], 850) << n[1];
    EXPECT_LT(n[1], 1150) << n[1];
    // Ejected, then the ejection ran out 3 s ago (after the checks' time): factor 0.1.
    board->eject(1, now - seconds(3), 1);
    n = spread(c, 3000);
    EXPECT_GT(n[1], 200) << n[1];
    EXPECT_LT(n[1], 450) << n[1];
    // Past the window: equal again.
    board->setChecked(1, true, now - seconds(60));
    board->eject(1, now - seconds(60), 1);
    EXPECT_EQ(spread(c, 1000), (std::vector<int>{500, 500}));
  }
}

TEST(ClusterHealth, OutlierReportsEjectThroughTheSharedBoard) {
  ClusterFixture f(2);
  metrics::ClusterCounters other;
  Cluster w0(f.cfg, *f.factory, 0, 2, f.counters);
  Cluster w1(f.cfg, *f.factory, 1, 2, other);
  auto board = std::make_shared<HealthBoard>(2);
  w0.attachHealth(board);
  w1.attachHealth(board);
  for (int i = 0; i < 2; ++i) w0.report(1, R::kConnectFailure);
  EXPECT_EQ(f.counters.ejections.get(), 1U);
  // Worker 1 saw none of those failures but skips the endpoint too.
  EXPECT_EQ(spread(w1, 100), (std::vector<int>{100, 0}));
  EXPECT_EQ(spread(w0, 100), (std::vector<int>{100, 0}));
}

// Issue 16, section 6: the consecutive counts are the cluster's, not each worker's:
// consecutive_5xx 3 ejects at the third 5xx in a row whichever workers saw them (per worker,
// two workers let 5 through), and the ejection is counted once.
TEST(ClusterHealth, ConsecutiveFailuresCountAcrossTheWorkers) {
  ClusterFixture f(2);
  metrics::ClusterCounters other;
  Cluster w0(f.cfg, *f.factory, 0, 2, f.counters);
  Cluster w1(f.cfg, *f.factory, 1, 2, other);
  auto board = std::make_shared<HealthBoard>(f.cfg);
  w0.attachHealth(board);
  w1.attachHealth(board);
  w0.report(1, R::kServerError);
  w1.report(1, R::kServerError);
  EXPECT_EQ(board->ejectedCount(SteadyClock().now()), 0U);
  w0.report(1, R::kServerError);
  EXPECT_EQ(board->ejectedCount(SteadyClock().now()), 1U);
  EXPECT_EQ(f.counters.ejections.get() + other.ejections.get(), 1U);
  // A success on either worker breaks the run for both.
  w0.report(0, R::kServerError);
  w1.report(0, R::kServerError);
  w0.report(0, R::kSuccess);
  w1.report(0, R::kServerError);
  EXPECT_GT(board->ejectedUntil(1), SteadyClock().now());
  EXPECT_EQ(board->ejectedUntil(0), TimePoint{});
}

// Threads (the workers) reporting 5xx at once: exactly one ejection per threshold reached.
TEST(Outlier, OneEjectionWhenWorkersReportAtOnce) {
  config::OutlierDetectionConfig c = outlierConfig();
  c.consecutive5xx = 4;
  c.baseEjectionTime = std::chrono::hours(1);
  HealthBoard b(2);
  OutlierDetector d(c);
  std::atomic<int> ejected{0};
  std::vector<std::thread> workers;
  TimePoint now = TimePoint{} + std::chrono::hours(2);
  for (int w = 0; w < 4; ++w) {
    workers.emplace_back([&] {
      if (d.report(0, R::kServerError, now, b)) ++ejected;
    });
  }
  for (std::thread& t : workers) t.join();
  EXPECT_EQ(ejected.load(), 1);
  EXPECT_EQ(b.timesEjected(0), 1U);
}

// max_active_requests and max_pending_requests are the cluster's: two workers' clusters
// sharing a board admit max_active_requests requests in all.
TEST(ClusterLimits, MaxActiveRequestsHoldsAcrossTheWorkers) {
  ClusterFixture f(2);
  f.cfg.maxActiveRequests = 3;
  metrics::ClusterCounters other;
  Cluster w0(f.cfg, *f.factory, 0, 2, f.counters);
  Cluster w1(f.cfg, *f.factory, 1, 2, other);
  auto board = std::make_shared<HealthBoard>(f.cfg);
  w0.attachHealth(board);
  w1.attachHealth(board);
  EXPECT_TRUE(w0.admit());
  EXPECT_TRUE(w0.admit());
  EXPECT_TRUE(w1.admit());
  EXPECT_FALSE(w1.admit());
  EXPECT_FALSE(w0.admit());
  EXPECT_EQ(other.rejectedActive.get(), 1U);
  w0.finish();
  EXPECT_TRUE(w1.admit());
  w0.finish();
  w1.finish();
  w1.finish();
  EXPECT_EQ(board->counts().requests.load(), 0U);
  // The retry budget is the board's too: one budget, whatever the worker count.
  EXPECT_EQ(&w0.retryBudget(), &w1.retryBudget());
}

// Issue 16, section 2: a reload that changes a cluster (one weight) gives it a new board that
// takes the old one's endpoint state by name: health, ejections, consecutive counts, open
// connections and the cluster's counts; an endpoint the reload adds ramps up (slow start)
// from the reload; one that left takes its state with it.
TEST(HealthBoard, AReloadCarriesEndpointStateOverByName) {
  ClusterFixture f(3);
  f.cfg.healthCheck = config::HealthCheckConfig{};
  HealthBoard old(f.cfg);
  TimePoint t = TimePoint{} + std::chrono::hours(5);
  old.setChecked(1, false, t);
  old.eject(2, t + seconds(30), 2);
  old.endpoint(2).consecutive5xx.store(1);
  old.endpoint(1).slots.connections.store(4);
  old.counts().requests.store(7);
  config::ClusterConfig next = f.cfg;
  next.endpoints.erase(next.endpoints.begin());  // 9000 leaves
  next.endpoints[0].weight = 5;                  // 9001 changes weight
  std::string why;
  next.endpoints.push_back(*config::parseEndpoint("127.0.0.1:9100", why));  // a new one
  HealthBoard b(next, &old, t + seconds(1));
  ASSERT_EQ(b.size(), 3U);
  EXPECT_EQ(b.name(0), "127.0.0.1:9001");
  EXPECT_FALSE(b.checkedHealthy(0));
  EXPECT_TRUE(b.everChecked(0));
  EXPECT_EQ(b.ejectedUntil(1), t + seconds(30));
  EXPECT_EQ(b.timesEjected(1), 2U);
  EXPECT_EQ(b.endpoint(1).consecutive5xx.load(), 1U);
  EXPECT_EQ(&b.endpoint(0).slots, &old.endpoint(1).slots);  // the same connections count
  EXPECT_EQ(b.counts().requests.load(), 7U);
  EXPECT_TRUE(b.checkedHealthy(2));
  EXPECT_FALSE(b.everChecked(2));  // its first check round comes before it takes traffic
  EXPECT_EQ(b.checkedSince(2), t + seconds(1));
  EXPECT_EQ(&b.retryBudget(), &old.retryBudget());  // budget config unchanged: kept
  // Checks removed from the cluster: no verdict would ever clear the old one.
  config::ClusterConfig unchecked = next;
  unchecked.healthCheck.reset();
  HealthBoard u(unchecked, &b, t + seconds(2));
  EXPECT_TRUE(u.checkedHealthy(0));
}

// Issue 16, section 2: a checker started by a reload starts from the board's verdict, so an
// endpoint found unhealthy before the reload is brought back by healthy_threshold passes (a
// counter that started "healthy" saw no change to report, and the endpoint stayed unhealthy).
TEST(HealthCheck, ACounterStartsFromTheBoardsVerdict) {
  CheckCounter c(2, 3, false);
  EXPECT_FALSE(c.healthy());
  EXPECT_FALSE(c.record(true));
  EXPECT_TRUE(c.record(true));
  EXPECT_TRUE(c.healthy());
}

// Issue 16, section 6: panic shows in /clusters (and the gauge reads the same board).
TEST(ClustersJson, ShowsPanic) {
  config::Config cfg;
  ClusterFixture f(4, 50);
  cfg.clusters.push_back(f.cfg);
  auto board = std::make_shared<HealthBoard>(4);
  std::vector<std::shared_ptr<HealthBoard>> boards{board};
  TimePoint now = TimePoint{} + std::chrono::hours(1);
  EXPECT_NE(clustersJson(cfg, boards, now).find("\"healthy_endpoints\":4,\"panic\":false"),
            std::string::npos);
  board->setChecked(0, false, now);
  board->setChecked(1, false, now);
  EXPECT_FALSE(board->inPanic(now, 50));
  board->eject(2, now + seconds(1), 1);
  EXPECT_TRUE(board->inPanic(now, 50));
  EXPECT_NE(clustersJson(cfg, boards, now).find("\"healthy_endpoints\":1,\"panic\":true"),
            std::string::npos);
  EXPECT_FALSE(board->inPanic(now + seconds(1), 50));  // the ejection ran out
}

TEST(ClustersJson, EndpointsWithHealthEjectionAndWeight) {
  config::Config cfg;
  ClusterFixture f(2);
  f.cfg.endpoints[1].weight = 3;
  cfg.clusters.push_back(f.cfg);
  auto board = std::make_shared<HealthBoard>(2);
  TimePoint now = TimePoint{} + std::chrono::hours(1);
  board->setChecked(0, false, now);
  board->eject(1, now + milliseconds(1500), 2);
  std::vector<std::shared_ptr<HealthBoard>> boards{board};
  std::string j = clustersJson(cfg, boards, now);
  EXPECT_EQ(j,
            "{\"clusters\":[{\"name\":\"c\",\"healthy_panic_threshold\":50,"
            "\"healthy_endpoints\":0,\"panic\":true,\"health_check\":false,"
            "\"outlier_detection\":true,\"endpoints\":["
            "{\"address\":\"127.0.0.1:9000\",\"weight\":1,\"health\":\"unhealthy\","
            "\"ejected\":false,\"ejected_for_ms\":0,\"times_ejected\":0,\"dns\":false,"
            "\"resolved\":[\"127.0.0.1:9000\"]},"
            "{\"address\":\"127.0.0.1:9001\",\"weight\":3,\"health\":\"healthy\","
            "\"ejected\":true,\"ejected_for_ms\":1500,\"times_ejected\":2,\"dns\":false,"
            "\"resolved\":[\"127.0.0.1:9001\"]}]}]}");
  // With the pools' state: every endpoint says its idle and active connections.
  std::string withPools =
      clustersJson(cfg, boards, now, {}, [](const auto&, const config::EndpointConfig& e) {
        return e.address == "127.0.0.1:9001" ? EndpointPoolState{3, 1} : EndpointPoolState{};
      });
  EXPECT_NE(withPools.find("\"resolved\":[\"127.0.0.1:9001\"],\"pool\":{\"idle\":3,\"active\":1}}"),
            std::string::npos)
      << withPools;
  EXPECT_NE(withPools.find("\"pool\":{\"idle\":0,\"active\":0}}"), std::string::npos) << withPools;
  // Without a board: all healthy.
  std::string none = clustersJson(cfg, {}, now);
  EXPECT_NE(none.find("\"health\":\"healthy\",\"ejected\":false"), std::string::npos);
  EXPECT_EQ(none.find("unhealthy"), std::string::npos);
}

}  // namespace
}  // namespace ferry::upstream
