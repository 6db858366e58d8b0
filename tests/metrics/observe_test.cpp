// What a session records (proxy/session/observe.h): every refusal cause counts its rejection
// reason, every timeout cause its kind, an upstream attempt fills the upstream histograms, the
// bytes and the close reason; and the exposition shows it. Pure logic: no sockets, no clock.

#include "proxy/session/observe.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <utility>

namespace ferry::session {
namespace {

using namespace std::chrono_literals;
using metrics::Rejection;
using metrics::Timeout;

std::uint64_t total(const metrics::Histogram& h) {
  std::uint64_t n = 0;
  for (std::size_t i = 0; i < metrics::Histogram::kBuckets; ++i) n += h.bucket(i);
  return n;
}

// The bucket index of a duration (the first bound at or above it).
std::size_t bucketOf(std::chrono::microseconds d) {
  std::size_t i = 0;
  while (i < metrics::Histogram::kBoundsUs.size() &&
         static_cast<std::uint64_t>(d.count()) > metrics::Histogram::kBoundsUs[i]) {
    ++i;
  }
  return i;
}

TEST(Observe, EveryRefusalCauseCountsItsRejectionReasonOnly) {
  const std::pair<Cause, Rejection> kCases[] = {
      {Cause::kBadRequest, Rejection::kBadRequest},
      {Cause::kTargetTooLong, Rejection::kTargetTooLong},
      {Cause::kHeadersTooLarge, Rejection::kHeadersTooLarge},
      {Cause::kBodyTooLarge, Rejection::kBodyTooLarge},
      {Cause::kMethodNotAllowed, Rejection::kMethodNotAllowed},
      {Cause::kNotImplemented, Rejection::kNotImplemented},
      {Cause::kNoRoute, Rejection::kNoRoute},
  };
  for (const auto& [cause, rejection] : kCases) {
    metrics::ListenerCounters l;
    metrics::RouteCounters r;
    recordRequest(l, r, statusFor(cause), cause, 10, 20, 1ms, true);
    for (std::size_t i = 0; i < l.rejections.size(); ++i) {
      EXPECT_EQ(l.rejections[i].get(), i == static_cast<std::size_t>(rejection) ? 1U : 0U)
          << causeName(cause) << " -> " << metrics::kRejectionNames[i];
    }
    for (const metrics::Counter& t : l.timeouts) EXPECT_EQ(t.get(), 0U) << causeName(cause);
    int status = statusFor(cause);
    EXPECT_EQ(r.byClass[static_cast<std::size_t>(status / 100 - 1)].get(), 1U)
        << causeName(cause) << " answers " << status;
  }
  // Not a refusal: nothing counted.
  metrics::ListenerCounters l;
  metrics::RouteCounters r;
  recordRequest(l, r, 200, Cause::kOk, 0, 0, 1ms, true);
  recordRequest(l, r, 502, Cause::kUpstreamConnectRefused, 0, 0, 1ms, true);
  for (const metrics::Counter& c : l.rejections) EXPECT_EQ(c.get(), 0U);
}

// A 408 (the head or the body late) is also a rejection (client_timeout); the route's deadline
// (504) and a client not reading (no answer) are not.
TEST(Observe, ClientTimeoutsCountTheirKindAnd408sARejection) {
  const std::pair<Cause, Timeout> kCases[] = {
      {Cause::kRequestHeaderTimeout, Timeout::kRequestHeader},
      {Cause::kRequestBodyTimeout, Timeout::kRequestBody},
      {Cause::kRequestTimeout, Timeout::kRoute},
      {Cause::kClientSendTimeout, Timeout::kClientSend},
  };
  for (const auto& [cause, kind] : kCases) {
    metrics::ListenerCounters l;
    metrics::RouteCounters r;
    recordRequest(l, r, statusFor(cause), cause, 0, 0, 1ms, true);
    for (std::size_t i = 0; i < l.timeouts.size(); ++i) {
      EXPECT_EQ(l.timeouts[i].get(), i == static_cast<std::size_t>(kind) ? 1U : 0U)
          << causeName(cause) << " -> " << metrics::kTimeoutNames[i];
    }
    bool is408 = statusFor(cause) == 408;
    for (std::size_t i = 0; i < l.rejections.size(); ++i) {
      bool want = is408 && i == static_cast<std::size_t>(Rejection::kClientTimeout);
      EXPECT_EQ(l.rejections[i].get(), want ? 1U : 0U)
          << causeName(cause) << " -> " << metrics::kRejectionNames[i];
    }
  }
  // An upstream timeout is counted per attempt (AttemptMeter::record), not per request.
  metrics::ListenerCounters l;
  metrics::RouteCounters r;
  recordRequest(l, r, 504, Cause::kUpstreamResponseTimeout, 0, 0, 1ms, true);
  for (const metrics::Counter& t : l.timeouts) EXPECT_EQ(t.get(), 0U);
}

TEST(Observe, RequestCountsClassBytesAndDurationOnlyWhenAHeadWasRead) {
  metrics::ListenerCounters l;
  metrics::RouteCounters r;
  recordRequest(l, r, 200, Cause::kOk, 100, 2000, 3ms, true);
  recordRequest(l, r, 0, Cause::kClientClosed, 7, 0, 40s, false);  // no head: no duration
  EXPECT_EQ(r.byClass[1].get(), 1U);
  EXPECT_EQ(r.byClass[5].get(), 1U);  // status 0: "other" (exported only once seen)
  EXPECT_EQ(l.bytesReceived.get(), 107U);
  EXPECT_EQ(l.bytesSent.get(), 2000U);
  EXPECT_EQ(total(r.duration), 1U);
  EXPECT_EQ(r.duration.bucket(bucketOf(3ms)), 1U);
  EXPECT_EQ(r.duration.sumUs(), 3000U);
}

// A WebSocket upgrade (101) is a response counted as 1xx, but its duration is the tunnel's life:
// it goes to the websocket tunnel histogram, never the route's request histogram.
TEST(Observe, AWebSocketTunnelIsKeptOutOfTheRequestHistogram) {
  metrics::ListenerCounters l;
  metrics::RouteCounters r;
  recordRequest(l, r, 101, Cause::kOk, 300, 200, 600s, true);
  EXPECT_EQ(r.byClass[0].get(), 1U);
  EXPECT_EQ(total(r.duration), 0U);
  const metrics::Histogram& ws =
      l.tunnelDuration[static_cast<std::size_t>(metrics::TunnelKind::kWebSocket)];
  EXPECT_EQ(total(ws), 1U);
  EXPECT_EQ(ws.sumUs(), 600'000'000U);
  recordTunnel(l, metrics::TunnelKind::kTcp, 2s);
  EXPECT_EQ(total(l.tunnelDuration[static_cast<std::size_t>(metrics::TunnelKind::kTcp)]), 1U);
  EXPECT_EQ(total(ws), 1U);
}

// How an upstream attempt counts per endpoint: its status class; an upstream failure with no
// response: error; nothing when the endpoint was never reached or the client left.
TEST(Observe, EndpointOutcomesByStatusClassOrError) {
  using O = metrics::EndpointOutcome;
  EXPECT_EQ(endpointOutcomeOf(101, Cause::kOk, false), O::k1xx);
  EXPECT_EQ(endpointOutcomeOf(204, Cause::kOk, true), O::k2xx);
  EXPECT_EQ(endpointOutcomeOf(302, Cause::kOk, false), O::k3xx);
  EXPECT_EQ(endpointOutcomeOf(404, Cause::kOk, false), O::k4xx);
  EXPECT_EQ(endpointOutcomeOf(503, Cause::kUpstreamRetriedStatus, false), O::k5xx);
  EXPECT_EQ(endpointOutcomeOf(200, Cause::kUpstreamResetDuringResponse, false), O::k2xx);
  for (Cause c : {Cause::kUpstreamConnectRefused, Cause::kUpstreamConnectTimeout,
                  Cause::kUpstreamConnectFailed, Cause::kUpstreamSendFailed,
                  Cause::kUpstreamResetBeforeResponse, Cause::kUpstreamResponseTimeout,
                  Cause::kUpstreamBadResponse}) {
    EXPECT_EQ(endpointOutcomeOf(0, c, false), O::kError) << causeName(c);
  }
  // A pooled connection the backend had closed while idle: retried, not the endpoint's failure.
  EXPECT_EQ(endpointOutcomeOf(0, Cause::kUpstreamResetBeforeResponse, true), std::nullopt);
  EXPECT_EQ(endpointOutcomeOf(0, Cause::kUpstreamConnectRefused, true), O::kError);
  for (Cause c : {Cause::kOverloaded, Cause::kQueueTimeout, Cause::kUpstreamUnresolved,
                  Cause::kClientClosed, Cause::kOk}) {
    EXPECT_EQ(endpointOutcomeOf(0, c, false), std::nullopt) << causeName(c);
  }
  metrics::EndpointCounters cells;
  recordEndpointAttempt(&cells, 502, Cause::kOk, false);
  recordEndpointAttempt(&cells, 0, Cause::kUpstreamConnectTimeout, false);
  recordEndpointAttempt(&cells, 0, Cause::kOverloaded, false);
  recordEndpointAttempt(nullptr, 200, Cause::kOk, false);
  EXPECT_EQ(cells.responses[static_cast<std::size_t>(O::k5xx)].get(), 1U);
  EXPECT_EQ(cells.responses[static_cast<std::size_t>(O::kError)].get(), 1U);
  std::uint64_t all = 0;
  for (const metrics::Counter& c : cells.responses) all += c.get();
  EXPECT_EQ(all, 2U);
}

TEST(Observe, AFreshAttemptFillsTheUpstreamHistogramsBytesAndCloseReason) {
  metrics::ListenerCounters l;
  metrics::ClusterCounters c;
  TimePoint t0 = TimePoint() + 1h;
  AttemptMeter m{t0};
  m.connectStart = t0 + 100us;
  m.fresh = true;
  m.holding = t0 + 2ms;  // connect: 1.9 ms; pool wait: 2 ms
  m.sent = t0 + 3ms;
  m.firstBytes(t0 + 40ms, 500);  // first byte: 37 ms after the request was sent
  m.firstBytes(t0 + 45ms, 300);  // later bytes do not move the first byte
  m.bytesSent = 120;
  Duration d = m.record(l, c, Cause::kOk, t0 + 50ms);
  EXPECT_EQ(d, 50ms);
  EXPECT_EQ(total(c.connectTime), 1U);
  EXPECT_EQ(c.connectTime.bucket(bucketOf(1900us)), 1U);
  EXPECT_EQ(c.connectTime.sumUs(), 1900U);
  EXPECT_EQ(c.poolWait.bucket(bucketOf(2ms)), 1U);
  EXPECT_EQ(c.firstByteTime.bucket(bucketOf(37ms)), 1U);
  EXPECT_EQ(c.firstByteTime.sumUs(), 37000U);
  EXPECT_EQ(c.upstreamBytesSent.get(), 120U);
  EXPECT_EQ(c.upstreamBytesReceived.get(), 800U);
  // Not given back to the pool after a good exchange: not reusable.
  EXPECT_EQ(c.closedByReason[static_cast<std::size_t>(metrics::CloseReason::kNotReusable)].get(),
            1U);
  EXPECT_EQ(c.closedByReason[static_cast<std::size_t>(metrics::CloseReason::kError)].get(), 0U);
  for (const metrics::Counter& t : l.timeouts) EXPECT_EQ(t.get(), 0U);
}

TEST(Observe, APooledAttemptHasNoConnectTimeAndNoClose) {
  metrics::ListenerCounters l;
  metrics::ClusterCounters c;
  TimePoint t0 = TimePoint() + 1h;
  AttemptMeter m{t0};
  m.holding = t0 + 10us;
  m.sent = t0 + 20us;
  m.firstBytes(t0 + 300us, 10);
  m.pooled = true;
  (void)m.record(l, c, Cause::kOk, t0 + 400us);
  EXPECT_EQ(total(c.connectTime), 0U);
  EXPECT_EQ(c.poolWait.bucket(0), 1U);  // 10 us: the first bucket (<= 100 us)
  EXPECT_EQ(c.firstByteTime.bucket(bucketOf(280us)), 1U);
  for (const metrics::Counter& k : c.closedByReason) EXPECT_EQ(k.get(), 0U);
}

TEST(Observe, FailedAttemptsCountTheirTimeoutKindAndCloseOnError) {
  const std::pair<Cause, Timeout> kCases[] = {
      {Cause::kUpstreamConnectTimeout, Timeout::kUpstreamConnect},
      {Cause::kUpstreamResponseTimeout, Timeout::kUpstreamResponse},
      {Cause::kUpstreamTimeoutDuringResponse, Timeout::kUpstreamBody},
  };
  TimePoint t0 = TimePoint() + 1h;
  for (const auto& [cause, kind] : kCases) {
    metrics::ListenerCounters l;
    metrics::ClusterCounters c;
    AttemptMeter m{t0};
    if (cause != Cause::kUpstreamConnectTimeout) {
      m.holding = t0 + 1ms;
      m.sent = t0 + 1ms;
    }
    (void)m.record(l, c, cause, t0 + 1s);
    for (std::size_t i = 0; i < l.timeouts.size(); ++i) {
      EXPECT_EQ(l.timeouts[i].get(), i == static_cast<std::size_t>(kind) ? 1U : 0U)
          << causeName(cause) << " -> " << metrics::kTimeoutNames[i];
    }
    // A connection held and not pooled after a failure closes on error; a connect that never
    // finished held none (no pool wait, no close).
    bool held = cause != Cause::kUpstreamConnectTimeout;
    EXPECT_EQ(c.closedByReason[static_cast<std::size_t>(metrics::CloseReason::kError)].get(),
              held ? 1U : 0U)
        << causeName(cause);
    EXPECT_EQ(total(c.poolWait), held ? 1U : 0U) << causeName(cause);
    EXPECT_EQ(total(c.firstByteTime), 0U) << "no byte arrived: " << causeName(cause);
  }
}

TEST(Observe, RecordedRequestsAppearInTheExposition) {
  config::LoadResult cfg = config::loadString(R"(
listeners:
  - name: web
    address: 127.0.0.1:0
    routes:
      - { name: api, match: { path_prefix: /api }, cluster: app }
clusters:
  - name: app
    endpoints: [127.0.0.1:1]
)",
                                              "test.yaml", ".");
  ASSERT_TRUE(cfg.errors.empty()) << cfg.errors.front().format();
  metrics::Registry reg(cfg.config, 1);
  metrics::ListenerCounters& l = reg.listener(0, "web");
  std::vector<metrics::RouteCounters*> routes = reg.routesOf(0, cfg.config->listeners[0]);
  recordRequest(l, *routes[1], 414, Cause::kTargetTooLong, 9000, 100, 1ms, true);
  recordRequest(l, *routes[0], 408, Cause::kRequestHeaderTimeout, 5, 100, 10s, true);
  std::string text = reg.serialize();
  for (const char* series :
       {R"(ferry_http_rejections_total{listener="web",reason="target_too_long"} 1)",
        R"(ferry_http_rejections_total{listener="web",reason="bad_request"} 0)",
        R"(ferry_timeouts_total{listener="web",kind="request_header"} 1)",
        R"(ferry_http_rejections_total{listener="web",reason="client_timeout"} 1)",
        R"(ferry_http_requests_total{listener="web",route="none",code_class="4xx"} 1)",
        R"(ferry_http_requests_total{listener="web",route="api",code_class="4xx"} 1)",
        R"(ferry_downstream_received_bytes_total{listener="web"} 9005)",
        R"(ferry_http_request_duration_seconds_bucket{listener="web",route="api",le="10"} 1)",
        R"(ferry_http_request_duration_seconds_bucket{listener="web",route="api",le="5"} 0)"}) {
    EXPECT_NE(text.find(std::string("\n") + series + "\n"), std::string::npos) << series << "\n"
                                                                               << text;
  }
}

}  // namespace
}  // namespace ferry::session
