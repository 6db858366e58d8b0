#pragma once
// Per-worker metric cells and their Prometheus exposition (design: README.md in this folder).
//
// Concurrency note: every cell (Counter, Histogram) has one writer, the worker that owns it.
// Values are relaxed atomics written with load+store (no locked instruction: a single writer
// cannot lose an update), so the admin thread reads them at scrape time without tearing and
// without a lock on the request path. A scrape sums the workers' cells. prometheus-cpp is
// linked only here (metrics.cpp).
//
// Keys: cells belong to named things (listener, route of a listener, cluster, endpoint of a
// cluster), never to a position in the config, so a reload can keep, add and retire series.

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "proxy/common/buffer.h"
#include "proxy/config/config.h"

namespace ferry::metrics {

// A monotonic counter, or a gauge (add/sub). One writer thread; readable from any thread.
class Counter {
 public:
  void add(std::uint64_t n = 1) {
    v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  void sub(std::uint64_t n = 1) {
    v_.store(v_.load(std::memory_order_relaxed) - n, std::memory_order_relaxed);
  }
  // A gauge that mirrors a count its writer knows (a pool's idle list).
  void set(std::uint64_t n) { v_.store(n, std::memory_order_relaxed); }
  std::uint64_t get() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> v_{0};
};

// A latency histogram with fixed buckets chosen for a proxy (100 µs .. 30 s). observe() is a
// search over 17 bounds and two relaxed stores: no allocation, no lock. One writer thread.
class Histogram {
 public:
  // Upper bounds in microseconds; a last, implicit bucket is +Inf.
  static constexpr std::array<std::uint64_t, 17> kBoundsUs = {
      100,    250,    500,    1000,    2500,    5000,    10000,    25000,   50000,
      100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000, 30000000};
  static constexpr std::size_t kBuckets = kBoundsUs.size() + 1;

  void observeUs(std::uint64_t us) {
    std::size_t i = 0;
    while (i < kBoundsUs.size() && us > kBoundsUs[i]) ++i;
    buckets_[i].add();
    sumUs_.add(us);
  }
  template <class Rep, class Period>
  void observe(std::chrono::duration<Rep, Period> d) {
    auto us = std::chrono::duration_cast<std::chrono::microseconds>(d).count();
    observeUs(us < 0 ? 0 : static_cast<std::uint64_t>(us));
  }
  // Non-cumulative count of bucket i (i == kBoundsUs.size(): above the last bound).
  std::uint64_t bucket(std::size_t i) const { return buckets_[i].get(); }
  std::uint64_t sumUs() const { return sumUs_.get(); }

 private:
  std::array<Counter, kBuckets> buckets_;
  Counter sumUs_;
};

// ---- reasons (bounded label values) ----

// Why a request was refused before reaching a backend (label `reason` of
// ferry_http_rejections_total). The session maps its Outcome causes onto these.
enum class Rejection : std::uint8_t {
  kBadRequest,        // 400: malformed head or body framing
  kTargetTooLong,     // 414
  kHeadersTooLarge,   // 431
  kBodyTooLarge,      // 413
  kMethodNotAllowed,  // 405 (TRACE)
  kNotImplemented,    // 501 (CONNECT)
  kNoRoute,           // 404: no route matched
  kClientTimeout,     // 408: the head, or the body, did not arrive in time (also counted in
                      // ferry_timeouts_total as request_header / request_body)
  kCount
};
inline constexpr std::array<const char*, static_cast<std::size_t>(Rejection::kCount)>
    kRejectionNames = {"bad_request",    "target_too_long",    "headers_too_large",
                       "body_too_large", "method_not_allowed", "not_implemented",
                       "no_route",       "client_timeout"};

// Which timeout fired (label `kind` of ferry_timeouts_total).
enum class Timeout : std::uint8_t {
  kRequestHeader,     // request_header_timeout: the head did not arrive (408)
  kRequestBody,       // request_body_timeout: the client stalled mid-upload (408)
  kRoute,             // the route's whole-exchange timeout (504)
  kClientSend,        // send_timeout: the client did not read the response
  kUpstreamConnect,   // connect_timeout (504)
  kUpstreamResponse,  // response_timeout before a response head (504)
  kUpstreamBody,      // response_timeout after the response began (cut)
  kCount
};
inline constexpr std::array<const char*, static_cast<std::size_t>(Timeout::kCount)> kTimeoutNames =
    {"request_header",   "request_body",      "route",        "client_send",
     "upstream_connect", "upstream_response", "upstream_body"};

// Why an upstream connection was closed (label `reason` of
// ferry_upstream_connections_closed_total): by the session instead of pooling it, or by the
// pool (proxy/upstream/pool.h).
enum class CloseReason : std::uint8_t {
  kNotReusable,  // the exchange ended fine but the connection cannot carry another request
                 // (Connection: close, a body read to EOF, a tunnel ended)
  kError,        // the exchange failed (reset, timeout, bad response, client gone)
  kIdleTimeout,  // pool: idle past idle_timeout or the backend's Keep-Alive timeout
  kPeerClosed,   // pool: the backend closed it (or sent bytes unasked) while it was idle
  kRetired,      // pool: max_requests_per_connection or max_connection_lifetime reached
  kPoolFull,     // pool: given back with max_idle connections already idle
  kCount
};
inline constexpr std::array<const char*, static_cast<std::size_t>(CloseReason::kCount)>
    kCloseReasonNames = {"not_reusable", "error",   "idle_timeout",
                         "peer_closed",  "retired", "pool_full"};

// What a tunnel carries (label `kind` of ferry_tunnel_duration_seconds).
enum class TunnelKind : std::uint8_t {
  kWebSocket,  // an HTTP request upgraded (101 Switching Protocols) on a proxy listener
  kTcp,        // a `protocol: tcp` listener's connection relayed to its cluster
  kCount
};
inline constexpr std::array<const char*, static_cast<std::size_t>(TunnelKind::kCount)>
    kTunnelKindNames = {"websocket", "tcp"};

// How one upstream attempt at an endpoint ended (label `class` of
// ferry_upstream_endpoint_responses_total): the response's status class, or kError when no
// response came (connect failure, reset, timeout, a malformed response).
enum class EndpointOutcome : std::uint8_t { k1xx, k2xx, k3xx, k4xx, k5xx, kError, kCount };
inline constexpr std::array<const char*, static_cast<std::size_t>(EndpointOutcome::kCount)>
    kEndpointOutcomeNames = {"1xx", "2xx", "3xx", "4xx", "5xx", "error"};

// ---- the cells of one named thing, one set per worker ----

// Requests answered on one route (or on a listener with no matching route).
struct RouteCounters {
  std::array<Counter, 6> byClass;  // 1xx..5xx, then anything else
  Histogram duration;              // first byte of the head to the end of the answer
  void count(int status) {
    std::size_t c = status >= 100 && status < 600 ? static_cast<std::size_t>(status / 100 - 1) : 5;
    byClass[c].add();
  }
};

struct ListenerCounters {
  Counter accepted;        // downstream connections accepted
  Counter active;          // gauge: downstream connections open now
  Counter activeRequests;  // gauge: requests between their head and their answer
  Counter bytesReceived;   // from clients (heads and bodies)
  Counter bytesSent;       // to clients
  std::array<Counter, static_cast<std::size_t>(Rejection::kCount)> rejections;
  std::array<Counter, static_cast<std::size_t>(Timeout::kCount)> timeouts;
  // A tunnel's life, from the request's head (WebSocket) or the accept (TCP) to its close:
  // kept out of the request histogram, whose quantiles it would swamp.
  std::array<Histogram, static_cast<std::size_t>(TunnelKind::kCount)> tunnelDuration;
};

// Per cluster. Fields others add here are exported by one line in kClusterFields
// (metrics.cpp).
struct ClusterCounters {
  Counter opened;           // new upstream connections established
  Counter reused;           // requests sent on a pooled keep-alive connection
  Counter connectFailures;  // connect attempts that failed or timed out
  Counter active;           // gauge: connections carrying a request now
  Counter idle;             // gauge: connections waiting in the pool
  // Recorded once per upstream attempt by the session.
  Histogram connectTime;    // connect start to connected (new connections only)
  Histogram firstByteTime;  // request sent to the first response byte
  Histogram poolWait;       // asking the pool to holding a connection (idle: ~0; new: connect)
  Counter upstreamBytesSent;
  Counter upstreamBytesReceived;
  std::array<Counter, static_cast<std::size_t>(CloseReason::kCount)> closedByReason;
  // Retries (upstream/retry.h): indexed by upstream::RetryReason (kRetryReasonNames).
  std::array<Counter, 6> retries;             // retries sent, by the failure they answered
  std::array<Counter, 6> retryBudgetRefused;  // retries the retry budget refused, by failure
  Counter ejections;                          // outlier ejections made by this worker
  Counter endpointsUnhealthy;  // gauge: endpoints failing active checks (the checker's worker)
  Counter healthChecksFailed;  // active health checks that failed
  // The pool's limits and admission (proxy/upstream/pool.h, cluster.h).
  Counter total;             // gauge: upstream connections open, opening or in use
  Counter requests;          // gauge: requests admitted now (what max_active_requests caps)
  Counter pending;           // gauge: requests waiting for a connection (max_connections)
  Counter queued;            // requests that had to wait for a connection
  Counter queueTimeouts;     // requests that waited past queue_timeout: 503
  Counter rejectedPending;   // refused at once, max_pending_requests already waiting: 503
  Counter rejectedActive;    // refused at once, max_active_requests in flight: 503
  Counter idleExpired;       // idle connections closed at idle_timeout or the Keep-Alive timeout
  Counter idleClosedByPeer;  // idle connections the backend had closed, noticed by ferry
  Counter retired;           // closed at max_requests_per_connection or max_connection_lifetime
  Counter poolFull;          // closed when given back with max_idle connections already idle
  Counter warmOpened;        // connections opened ahead of demand (min_idle)
};
// Label values of ClusterCounters::retries and retryBudgetRefused (upstream::RetryReason order).
inline constexpr std::array<const char*, 6> kRetryReasonNames = {
    "connect_failure", "refused", "reset", "5xx", "503", "timeout"};

// Per endpoint of a cluster.
struct EndpointCounters {
  Counter active;  // gauge: connections carrying a request now
  Counter idle;    // gauge: connections idle in this endpoint's pool (this worker's)
  // Upstream attempts at this endpoint by how they ended (EndpointOutcome).
  std::array<Counter, static_cast<std::size_t>(EndpointOutcome::kCount)> responses;
};

// The per-worker view the runtime hands to sessions; kept for code that reaches the buffer pool.
struct WorkerCounters {
  // The worker's buffer pool, set once before the worker serves; read at scrape time for
  // ferry_buffers_in_use (BufferPool::outstanding is safe to read from another thread).
  std::atomic<const BufferPool*> buffers{nullptr};
};

// The name a route is exported under: its name (config generates one for unnamed routes);
// the no-route slot is "none" (proxy listeners) or "static" (static listeners).
std::string_view noRouteName(const config::ListenerConfig& l);

class Registry {
 public:
  // Declares every listener, route, cluster and endpoint of config (apply()).
  Registry(std::shared_ptr<const config::Config> config, unsigned workers);
  ~Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Declares the named things of c: new names get cells (every series at 0 from the start),
  // names already known keep theirs, names c no longer has stop being exported (their cells
  // live on, so a worker still on the old snapshot writes somewhere valid). Any thread but the
  // request path (takes the registry's lock). Call before workers take cells of c.
  void apply(const config::Config& c);

  // Cells of worker w for a named thing; the same object for the same name and worker for the
  // life of the registry. Set-up time only (takes the lock); a name apply() has not seen is
  // declared on the spot.
  ListenerCounters& listener(unsigned w, std::string_view name);
  RouteCounters& route(unsigned w, std::string_view listener, std::string_view route);
  ClusterCounters& cluster(unsigned w, std::string_view name);
  EndpointCounters& endpoint(unsigned w, std::string_view cluster, std::string_view endpoint);
  // Worker w's route cells of listener l: one per route in config order, then the no-route
  // slot (what session::ListenerContext::routeCounters holds). None for a `protocol: tcp`
  // listener: it answers no HTTP request, so it gets no HTTP series.
  std::vector<RouteCounters*> routesOf(unsigned w, const config::ListenerConfig& l);
  // Worker w's endpoint cells of cluster c, in the order of c.endpoints (labelled by each
  // endpoint's name, config::EndpointConfig::address).
  std::vector<EndpointCounters*> endpointsOf(unsigned w, const config::ClusterConfig& c);

  WorkerCounters& worker(unsigned i) { return *workers_[i]; }
  unsigned workers() const { return static_cast<unsigned>(workers_.size()); }

  // ferry_build_info's io_backend label ("io_uring", "epoll", "iocp"): set once the first
  // worker picked its backend.
  void setIoBackend(std::string_view name);
  // Exports a value computed at scrape (a module's own atomic, e.g. the access log's dropped
  // lines) as a family without labels. fn is called on the scraping thread. Set-up time only.
  enum class Type { kCounter, kGauge };
  void addCallback(std::string name, std::string help, Type type, double (*fn)());
  // One series of a family computed at scrape by its owner (addSamplesCallback).
  struct Sample {
    std::vector<std::pair<std::string, std::string>> labels;
    double value = 0;
  };
  // Exports a labelled family whose values live with their owner (e.g. upstream's health
  // boards, shared by the workers): fn runs on the scraping thread and returns every series.
  // Set-up time only.
  void addSamplesCallback(std::string name, std::string help, Type type,
                          std::function<std::vector<Sample>()> fn);
  // A config reload's result (ferry_config_reloads_total{result},
  // ferry_config_last_reload_successful, and when ok
  // ferry_config_last_reload_success_timestamp_seconds = unixSeconds). Any thread.
  void recordReload(bool ok, double unixSeconds = 0);

  // The Prometheus text exposition of everything, summed over workers. Any thread.
  std::string serialize() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
  std::vector<std::unique_ptr<WorkerCounters>> workers_;
};

}  // namespace ferry::metrics
