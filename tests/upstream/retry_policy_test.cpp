// The retry policy on top of retrySafety: retry_on, max_retries, backoff and the retry budget,
// with a fake clock.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "proxy/upstream/retry.h"

namespace ferry::upstream {
namespace {

using Stage = AttemptFacts::Stage;

config::RetryConfig retryConfig(std::vector<std::string> on, std::uint32_t max = 2) {
  config::RetryConfig c;
  c.retryOn = std::move(on);
  c.maxRetries = max;
  return c;
}

AttemptFacts facts(Stage st, bool idempotent, bool forwarded = false) {
  AttemptFacts f;
  f.stage = st;
  f.idempotent = idempotent;
  f.responseForwarded = forwarded;
  f.replayable = true;
  return f;
}

TEST(RetryPolicy, RetryOnNamesAndUmbrellas) {
  RetryPolicy p = RetryPolicy::from(retryConfig({"connect-failure", "5xx"}));
  EXPECT_TRUE(p.allows(RetryReason::kConnectFailure));
  EXPECT_TRUE(p.allows(RetryReason::kRefused));  // connect-failure covers a refused connect
  EXPECT_TRUE(p.allows(RetryReason::k5xx));
  EXPECT_TRUE(p.allows(RetryReason::k503));  // 5xx covers 503
  EXPECT_FALSE(p.allows(RetryReason::kReset));
  EXPECT_FALSE(p.allows(RetryReason::kTimeout));

  RetryPolicy q = RetryPolicy::from(retryConfig({"refused", "503", "timeout"}));
  EXPECT_TRUE(q.allows(RetryReason::kRefused));
  EXPECT_FALSE(q.allows(RetryReason::kConnectFailure));
  EXPECT_TRUE(q.allows(RetryReason::k503));
  EXPECT_FALSE(q.allows(RetryReason::k5xx));
  EXPECT_TRUE(q.allows(RetryReason::kTimeout));
}

TEST(RetryPolicy, DefaultConfigRetriesConnectionFailuresOnce) {
  RetryPolicy p = RetryPolicy::from(config::RetryConfig{});
  EXPECT_EQ(p.maxRetries, 1U);
  EXPECT_TRUE(p.allows(RetryReason::kConnectFailure));
  EXPECT_TRUE(p.allows(RetryReason::kReset));
  EXPECT_FALSE(p.allows(RetryReason::k5xx));
  EXPECT_FALSE(p.allows(RetryReason::kTimeout));
}

TEST(RetryPolicy, ReasonForStatus) {
  EXPECT_EQ(reasonForStatus(503), RetryReason::k503);
  EXPECT_EQ(reasonForStatus(500), RetryReason::k5xx);
  EXPECT_EQ(reasonForStatus(599), RetryReason::k5xx);
  EXPECT_FALSE(reasonForStatus(404));
  EXPECT_FALSE(reasonForStatus(200));
}

// Full jitter: retry n waits within [0, min(max, base * 2^(n-1))], and the waits spread over
// that range (not all at its top).
TEST(RetryPolicy, BackoffIsJitteredExponentialAndCapped) {
  config::RetryConfig c = retryConfig({"reset"});
  c.backoff.base = milliseconds(10);
  c.backoff.max = milliseconds(100);
  RetryPolicy p = RetryPolicy::from(c);
  balance::Rng rng(42);
  const Duration caps[] = {milliseconds(10), milliseconds(20),  milliseconds(40),
                           milliseconds(80), milliseconds(100), milliseconds(100)};
  for (std::uint32_t n = 1; n <= 6; ++n) {
    Duration lo = Duration::max(), hi = Duration::zero();
    for (int k = 0; k < 2000; ++k) {
      Duration d = p.backoff(n, rng);
      ASSERT_GE(d, Duration::zero());
      ASSERT_LE(d, caps[n - 1]) << "retry " << n;
      lo = std::min(lo, d);
      hi = std::max(hi, d);
    }
    EXPECT_LT(lo, caps[n - 1] / 10) << "retry " << n;
    EXPECT_GT(hi, caps[n - 1] * 9 / 10) << "retry " << n;
  }
  EXPECT_EQ(p.backoff(0, rng), Duration::zero());
}

TEST(RetryBudget, MinimumPerSecondThenPercentOfRequests) {
  FakeClock clock;
  clock.advance(std::chrono::hours(1));
  config::RetryBudgetConfig c;
  c.percent = 20;
  c.minRetriesPerSecond = 3;
  RetryBudget b(c);
  // No traffic: the floor, min_retries_per_second x the window (10 s).
  int allowed = 0;
  for (int i = 0; i < 100; ++i) allowed += b.tryRetry(clock.now()) ? 1 : 0;
  EXPECT_EQ(allowed, 30);
  EXPECT_FALSE(b.tryRetry(clock.now()));
  // 1000 first tries add 20% of them.
  for (int i = 0; i < 1000; ++i) b.onRequest(clock.now());
  allowed = 0;
  for (int i = 0; i < 1000; ++i) allowed += b.tryRetry(clock.now()) ? 1 : 0;
  EXPECT_EQ(allowed, 200);
  EXPECT_EQ(b.retriesInWindow(clock.now()), 230U);
}

TEST(RetryBudget, WindowSlidesWithTheClock) {
  FakeClock clock;
  config::RetryBudgetConfig c;
  c.percent = 0;
  c.minRetriesPerSecond = 1;
  RetryBudget b(c);
  for (int i = 0; i < 10; ++i) EXPECT_TRUE(b.tryRetry(clock.now()));
  EXPECT_FALSE(b.tryRetry(clock.now()));
  // Within the 10 s window nothing frees up...
  clock.advance(seconds(9));
  EXPECT_FALSE(b.tryRetry(clock.now()));
  // ...then the second holding the retries leaves the window.
  clock.advance(seconds(1));
  EXPECT_EQ(b.retriesInWindow(clock.now()), 0U);
  EXPECT_TRUE(b.tryRetry(clock.now()));
  // A long quiet time resets everything.
  clock.advance(std::chrono::hours(2));
  EXPECT_EQ(b.requestsInWindow(clock.now()), 0U);
  EXPECT_EQ(b.retriesInWindow(clock.now()), 0U);
}

// A failing cluster under steady load: retries stay near percent% of the requests.
TEST(RetryBudget, FailingClusterIsNotHammered) {
  FakeClock clock;
  RetryBudget b(config::RetryBudgetConfig{});  // 20%, 3/s
  RetryPolicy p = RetryPolicy::from(retryConfig({"5xx"}, 3));
  long requests = 0, retries = 0;
  for (int ms = 0; ms < 60000; ms += 10) {  // 100 requests per second for a minute
    clock.advance(milliseconds(10));
    b.onRequest(clock.now());
    ++requests;
    for (std::uint32_t r = 0;; ++r) {
      if (decideRetry(p, facts(Stage::kWritten, true), RetryReason::k503, r, b, clock.now()) !=
          RetryVerdict::kRetry) {
        break;
      }
      ++retries;
    }
  }
  double ratio = static_cast<double>(retries) / static_cast<double>(requests);
  EXPECT_LT(ratio, 0.26) << retries << " retries for " << requests << " requests";
  EXPECT_GT(ratio, 0.19);
}

TEST(DecideRetry, SafetyFirstThenPolicyThenBudget) {
  FakeClock clock;
  config::RetryBudgetConfig none;
  none.percent = 0;
  none.minRetriesPerSecond = 0;
  RetryBudget empty(none);
  RetryBudget plenty(config::RetryBudgetConfig{});
  RetryPolicy p = RetryPolicy::from(retryConfig({"reset", "503"}, 1));
  TimePoint t = clock.now();
  // A POST whose bytes reached the backend: never, whatever the policy and budget.
  EXPECT_EQ(decideRetry(p, facts(Stage::kWritten, false), RetryReason::kReset, 0, plenty, t),
            RetryVerdict::kUnsafe);
  EXPECT_EQ(decideRetry(p, facts(Stage::kWritten, false), RetryReason::kReset, 0, plenty, t, true),
            RetryVerdict::kUnsafe);
  // A GET after a 1xx went to the client: never.
  EXPECT_EQ(decideRetry(p, facts(Stage::kWritten, true, true), RetryReason::k503, 0, plenty, t),
            RetryVerdict::kUnsafe);
  // Not in retry_on.
  EXPECT_EQ(decideRetry(p, facts(Stage::kWritten, true), RetryReason::kTimeout, 0, plenty, t),
            RetryVerdict::kNotRetryOn);
  // max_retries reached.
  EXPECT_EQ(decideRetry(p, facts(Stage::kWritten, true), RetryReason::k503, 1, plenty, t),
            RetryVerdict::kExhausted);
  // The budget says no (and is consulted last: the refusals above charged nothing).
  EXPECT_EQ(decideRetry(p, facts(Stage::kConnect, false), RetryReason::kReset, 0, empty, t),
            RetryVerdict::kBudget);
  EXPECT_EQ(plenty.retriesInWindow(t), 0U);
  EXPECT_EQ(decideRetry(p, facts(Stage::kConnect, false), RetryReason::kReset, 0, plenty, t),
            RetryVerdict::kRetry);
  EXPECT_EQ(plenty.retriesInWindow(t), 1U);
  // A stale pooled connection: retried even past retry_on, max_retries and the budget.
  RetryPolicy strict = RetryPolicy::from(retryConfig({}, 0));
  EXPECT_EQ(
      decideRetry(strict, facts(Stage::kWritten, true), RetryReason::kReset, 0, empty, t, true),
      RetryVerdict::kRetry);
  EXPECT_EQ(decideRetry(strict, facts(Stage::kWritten, true), RetryReason::kReset, 0, empty, t),
            RetryVerdict::kNotRetryOn);
}

// Issue 16, section 1: a refused connect (the backend cannot have processed the request) is
// retried even with the budget spent; retry_on and max_retries still bound it, and it charges
// nothing. A failure after bytes went out is still the budget's.
TEST(DecideRetry, AFailedConnectIsNotStarvedByTheBudget) {
  FakeClock clock;
  config::RetryBudgetConfig none;
  none.percent = 0;
  none.minRetriesPerSecond = 0;
  RetryBudget empty(none);
  RetryPolicy p = RetryPolicy::from(retryConfig({"connect-failure", "reset"}, 2));
  TimePoint t = clock.now();
  EXPECT_EQ(decideRetry(p, facts(Stage::kConnect, false), RetryReason::kRefused, 0, empty, t),
            RetryVerdict::kRetry);
  EXPECT_EQ(decideRetry(p, facts(Stage::kConnect, true), RetryReason::kConnectFailure, 1, empty, t),
            RetryVerdict::kRetry);
  EXPECT_EQ(empty.retriesInWindow(t), 0U);
  EXPECT_EQ(decideRetry(p, facts(Stage::kConnect, true), RetryReason::kRefused, 2, empty, t),
            RetryVerdict::kExhausted);
  RetryPolicy noConnect = RetryPolicy::from(retryConfig({"reset"}, 2));
  EXPECT_EQ(
      decideRetry(noConnect, facts(Stage::kConnect, true), RetryReason::kRefused, 0, empty, t),
      RetryVerdict::kNotRetryOn);
  EXPECT_EQ(decideRetry(p, facts(Stage::kUnwritten, true), RetryReason::kReset, 0, empty, t),
            RetryVerdict::kBudget);
  EXPECT_EQ(decideRetry(p, facts(Stage::kWritten, true), RetryReason::kReset, 0, empty, t),
            RetryVerdict::kBudget);
}

// Issue 16, section 6: one budget per cluster, whatever the worker count. Four threads (the
// workers) drawing on it at once get min_retries_per_second x 10 in all, not each.
TEST(RetryBudget, SharedByEveryWorkerExactly) {
  FakeClock clock;
  clock.advance(std::chrono::hours(1));
  config::RetryBudgetConfig c;
  c.percent = 10;
  c.minRetriesPerSecond = 3;
  RetryBudget b(c);
  TimePoint t = clock.now();
  std::atomic<int> granted{0};
  std::atomic<int> counted{0};
  std::vector<std::thread> workers;
  for (int w = 0; w < 4; ++w) {
    workers.emplace_back([&] {
      for (int i = 0; i < 500; ++i) b.onRequest(t);
      ++counted;
      while (counted.load() < 4) std::this_thread::yield();  // every first try is in
      for (int i = 0; i < 200; ++i) granted += b.tryRetry(t) ? 1 : 0;
    });
  }
  for (std::thread& th : workers) th.join();
  EXPECT_EQ(b.requestsInWindow(t), 2000U);
  EXPECT_EQ(granted.load(), 30 + 200);  // 3/s x 10 s, plus 10% of 2000 first tries
  EXPECT_EQ(b.retriesInWindow(t), 230U);
}

}  // namespace
}  // namespace ferry::upstream

namespace ferry::upstream {
namespace {

// The YAML keys of this module, read into the model (and the cross-key checks).
TEST(RetryConfigKeys, ClusterAndRouteKeysLoad) {
  const char* yaml = R"(
listeners:
  - name: web
    address: 127.0.0.1:0
    routes:
      - { cluster: c, retry: { retry_on: [5xx], max_retries: 3 } }
clusters:
  - name: c
    endpoints: [127.0.0.1:1, 127.0.0.1:2]
    retry: { retry_on: [503, timeout], max_retries: 2, per_try_timeout: 2s,
             backoff: { base: 10ms, max: 1s } }
    retry_budget: { percent: 30, min_retries_per_second: 5 }
    outlier_detection: { consecutive_5xx: 4, consecutive_connect_failures: 2,
                         base_ejection_time: 15s, max_ejection_percent: 40 }
    health_check: { type: http, path: /healthz, host: api.internal, expect_status: 204,
                    interval: 2s, timeout: 500ms, healthy_threshold: 3, unhealthy_threshold: 4 }
    healthy_panic_threshold: 30
)";
  config::LoadResult r = config::loadString(yaml, "t.yaml", "/tmp");
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].format();
  const config::ClusterConfig& c = r.config->clusters[0];
  RetryPolicy p = RetryPolicy::from(c.retry);
  EXPECT_TRUE(p.allows(RetryReason::k503));
  EXPECT_FALSE(p.allows(RetryReason::k5xx));
  EXPECT_TRUE(p.allows(RetryReason::kTimeout));
  EXPECT_EQ(p.maxRetries, 2U);
  EXPECT_EQ(p.perTryTimeout, seconds(2));
  EXPECT_EQ(p.backoffBase, milliseconds(10));
  EXPECT_EQ(p.backoffMax, seconds(1));
  EXPECT_EQ(c.retryBudget.percent, 30U);
  EXPECT_EQ(c.retryBudget.minRetriesPerSecond, 5U);
  ASSERT_TRUE(c.outlierDetection);
  EXPECT_EQ(c.outlierDetection->consecutive5xx, 4U);
  EXPECT_EQ(c.outlierDetection->consecutiveConnectFailures, 2U);
  EXPECT_EQ(c.outlierDetection->baseEjectionTime, seconds(15));
  EXPECT_EQ(c.outlierDetection->maxEjectionPercent, 40U);
  ASSERT_TRUE(c.healthCheck);
  EXPECT_EQ(c.healthCheck->type, config::HealthCheckType::kHttp);
  EXPECT_EQ(c.healthCheck->path, "/healthz");
  EXPECT_EQ(c.healthCheck->host, "api.internal");
  EXPECT_EQ(c.healthCheck->expectStatus, 204U);
  EXPECT_EQ(c.healthCheck->interval, seconds(2));
  EXPECT_EQ(c.healthCheck->timeout, milliseconds(500));
  EXPECT_EQ(c.healthCheck->healthyThreshold, 3U);
  EXPECT_EQ(c.healthCheck->unhealthyThreshold, 4U);
  EXPECT_EQ(c.healthyPanicThreshold, 30U);
  const auto& route = r.config->listeners[0].routes[0];
  ASSERT_TRUE(route.retry);
  EXPECT_TRUE(RetryPolicy::from(*route.retry).allows(RetryReason::k503));
  EXPECT_EQ(route.retry->maxRetries, 3U);
}

TEST(RetryConfigKeys, DefaultsWhenAbsent) {
  const char* yaml = R"(
listeners: [{ name: web, address: 127.0.0.1:0, routes: [{ cluster: c }] }]
clusters: [{ name: c, endpoints: [127.0.0.1:1] }]
)";
  config::LoadResult r = config::loadString(yaml, "t.yaml", "/tmp");
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].format();
  const config::ClusterConfig& c = r.config->clusters[0];
  EXPECT_FALSE(c.outlierDetection);
  EXPECT_FALSE(c.healthCheck);
  EXPECT_EQ(c.healthyPanicThreshold, 50U);
  EXPECT_EQ(c.retryBudget.percent, 20U);
  RetryPolicy p = RetryPolicy::from(c.retry);
  EXPECT_EQ(p.maxRetries, 1U);
  EXPECT_TRUE(p.allows(RetryReason::kRefused));
  EXPECT_FALSE(p.allows(RetryReason::k503));
}

TEST(RetryConfigKeys, CrossKeyErrors) {
  const char* yaml = R"(
listeners: [{ name: web, address: 127.0.0.1:0, routes: [{ cluster: c }] }]
clusters:
  - name: c
    endpoints: [127.0.0.1:1]
    retry: { retry_on: [teapot], backoff: { base: 2s, max: 1s } }
    health_check: { type: tcp, path: /x, interval: 1s, timeout: 2s }
    healthy_panic_threshold: 101
)";
  config::LoadResult r = config::loadString(yaml, "t.yaml", "/tmp");
  std::string all;
  for (const config::ConfigError& e : r.errors) all += e.format() + "\n";
  EXPECT_NE(all.find("retry_on"), std::string::npos) << all;
  EXPECT_NE(all.find("backoff base is longer than its max"), std::string::npos) << all;
  EXPECT_NE(all.find("timeout is longer than the interval"), std::string::npos) << all;
  EXPECT_NE(all.find("applies to type: http only"), std::string::npos) << all;
  EXPECT_NE(all.find("healthy_panic_threshold"), std::string::npos) << all;
}

}  // namespace
}  // namespace ferry::upstream
