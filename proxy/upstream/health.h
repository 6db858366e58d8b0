#pragma once
// A cluster's state shared by every worker's Cluster of one config snapshot: the active health
// checker's verdicts, the outlier ejections and their consecutive-failure counts, and the
// cluster-wide limits' counts (connections per endpoint, requests admitted, requests waiting,
// the retry budget). One HealthBoard per cluster and config snapshot.
//
//   HealthChecker (worker 0's proactor, coroutines) ──set()──┐
//   OutlierDetector (each worker, counts on the board) ─eject()─┤─> HealthBoard (atomics, version)
//                                                              │
//   Cluster::pick (each worker) <── local copy, refreshed ─────┘  when version() changed or an
//                                   ejection ran out
//
// Reload: a board made for a changed cluster (same name) takes over, by endpoint name, the
// per-endpoint state of the board it replaces (health, ejections, consecutive counts, open
// connections: the same objects, so the old cluster's connections still in flight count
// against max_connections), and its cluster-wide counts; endpoints the reload adds ramp up
// under slow start from then on.
//
// Concurrency note: a board is a fixed array of per-endpoint atomics plus a version counter,
// allocated once. Writers (the checker's thread, a worker that ejects) store the endpoint's
// fields, then bump the version with release order; readers load the version with acquire and,
// only when it changed, copy the fields into their own snapshot. No lock anywhere; a pick costs
// one atomic load. Counts are touched once per connection opened or closed, per admission, per
// retry decision and per outlier report (read-only while an endpoint does not fail), never per
// byte. An ejection is decided once: the worker whose report makes the cluster-wide count reach
// the threshold takes the count back to zero with a compare-exchange and ejects.

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "proxy/common/task.h"
#include "proxy/common/time.h"
#include "proxy/config/config.h"
#include "proxy/io/proactor.h"
#include "proxy/metrics/metrics.h"
#include "proxy/upstream/pool.h"
#include "proxy/upstream/resolver.h"
#include "proxy/upstream/retry.h"

namespace ferry::upstream {

class HealthBoard {
 public:
  // One endpoint's shared state. Kept across reloads while the endpoint's name stays.
  struct Endpoint {
    std::atomic<bool> healthy{true};
    std::atomic<bool> checked{false};           // an active check gave a verdict (or pending)
    std::atomic<std::int64_t> healthySince{0};  // ns since the steady clock's epoch
    std::atomic<std::int64_t> ejectedUntil{0};
    std::atomic<std::uint32_t> timesEjected{0};
    std::atomic<std::uint32_t> consecutive5xx{0};      // outlier detection, every worker's
    std::atomic<std::uint32_t> consecutiveConnect{0};  // results
    SharedSlots slots;  // connections open across the workers (max_connections)
  };
  // The cluster's own counts, kept across reloads while the cluster's name stays.
  struct Counts {
    std::atomic<std::uint32_t> requests{0};  // admitted, every worker (when max_active_requests)
    std::atomic<std::uint32_t> pending{0};   // waiting for a connection (max_pending_requests)
    std::atomic<bool> panic{false};          // as last logged (worker 0 writes it)
  };

  // endpoints: the cluster's endpoint count (fixed for the board's life). Every endpoint starts
  // healthy and not ejected; the retry budget has the defaults. Tests.
  explicit HealthBoard(std::size_t endpoints);
  // The board of cluster c. previous: the board of the cluster of the same name in the snapshot
  // a reload replaces (null: none, or at start); its endpoints' state is taken over by name, and
  // endpoints it lacks start their slow start at `now`. The retry budget carries over when its
  // config did not change.
  HealthBoard(const config::ClusterConfig& c, const HealthBoard* previous = nullptr,
              TimePoint now = {});
  std::size_t size() const { return size_; }
  // Endpoint i's name ("" for a board made by endpoint count).
  const std::string& name(std::size_t i) const { return names_[i]; }

  // Changes whenever any endpoint's state changes (acquire). Any thread.
  std::uint64_t version() const { return version_.load(std::memory_order_acquire); }

  // The active checker's verdict for endpoint i (the checker's thread only). `since` is when it
  // changed (slow start ramps from there).
  void setChecked(std::size_t i, bool healthy, TimePoint since);
  bool checkedHealthy(std::size_t i) const;
  TimePoint checkedSince(std::size_t i) const;
  // Whether an active check ever gave endpoint i a verdict (the first round, see
  // runFirstCheckRound).
  bool everChecked(std::size_t i) const;

  // Outlier ejection of endpoint i until `until` (any worker). timesEjected is recorded for the
  // ejection time's growth and for /clusters.
  void eject(std::size_t i, TimePoint until, std::uint32_t timesEjected);
  TimePoint ejectedUntil(std::size_t i) const;
  std::uint32_t timesEjected(std::size_t i) const;
  // Endpoints whose ejection has not run out at `now`.
  std::size_t ejectedCount(TimePoint now) const;
  // Endpoints passing their checks and not ejected at `now`; whether that is below
  // thresholdPercent (panic: every endpoint is used). Any thread (gauges, /clusters).
  std::size_t healthyCount(TimePoint now) const;
  bool inPanic(TimePoint now, double thresholdPercent) const;

  Endpoint& endpoint(std::size_t i) { return *slots_[i]; }
  Counts& counts() { return *counts_; }
  RetryBudget& retryBudget() { return *budget_; }

 private:
  std::size_t size_;
  std::vector<std::string> names_;
  std::vector<std::shared_ptr<Endpoint>> slots_;
  std::shared_ptr<Counts> counts_;
  config::RetryBudgetConfig budgetConfig_;
  std::shared_ptr<RetryBudget> budget_;
  std::atomic<std::uint64_t> version_{1};
};

// What one HTTP check's answer says: the status of "HTTP/1.x NNN ..." or 0 if it is not one.
int parseStatusLine(std::string_view bytes);
// Whether a status passes: expect (0: any 2xx).
constexpr bool statusPasses(int status, std::uint32_t expect) {
  return expect == 0 ? status >= 200 && status < 300 : status == static_cast<int>(expect);
}

// The thresholds of one endpoint's checks: `unhealthy_threshold` failures in a row make a
// healthy endpoint unhealthy, `healthy_threshold` passes in a row make it healthy again. Pure.
// healthy: the verdict it starts from (a checker started by a reload starts from the board's,
// so an endpoint found unhealthy before the reload comes back by passing its checks).
class CheckCounter {
 public:
  CheckCounter(std::uint32_t healthyThreshold, std::uint32_t unhealthyThreshold,
               bool healthy = true)
      : up_(healthyThreshold), down_(unhealthyThreshold), healthy_(healthy) {}
  // Records one check; returns true when the verdict changed (then healthy() is the new one).
  bool record(bool passed);
  bool healthy() const { return healthy_; }

 private:
  std::uint32_t up_;
  std::uint32_t down_;
  std::uint32_t passes_ = 0;
  std::uint32_t failures_ = 0;
  bool healthy_ = true;
};

// Runs the active checks of every cluster with a health_check, one coroutine per endpoint, on
// one worker's proactor (no thread of its own), and publishes verdicts to the clusters' boards.
// Made, started and stopped on that worker's thread; the config, boards and counters must
// outlive it (they belong to the worker's snapshot).
class HealthChecker {
 public:
  // boards[i], counters[i] and sources[i] belong to config.clusters[i]; sources[i][e] is where
  // endpoint e's addresses come from (NameDirectory), read at every check; without it an IP
  // literal is checked at its address and a DNS name fails its checks (no address).
  HealthChecker(io::Proactor& p, const config::Config& config,
                std::span<const std::shared_ptr<HealthBoard>> boards,
                std::span<metrics::ClusterCounters* const> counters,
                std::span<const std::vector<std::shared_ptr<ResolvedName>>> sources = {});
  ~HealthChecker();
  HealthChecker(const HealthChecker&) = delete;
  HealthChecker& operator=(const HealthChecker&) = delete;
  // Starts a check loop per endpoint of every cluster that has a health_check. Each starts from
  // its board's verdict (a reload keeps it), and the clusters' endpointsUnhealthy gauges are set
  // from the boards.
  void start();
  // The first check round, before the endpoints take traffic (Envoy's cluster warming): checks
  // once every endpoint that no check has judged yet (a new endpoint or cluster) and records the
  // verdict at once (a pass: healthy; a failure: unhealthy). Runs the proactor on the calling
  // thread until every check has ended, each bounded by its check's timeout; returns how many
  // were checked. Use a checker made for this on a proactor nobody else runs, instead of
  // start().
  std::size_t firstRound();
  // Ends the loops: each finishes after its current check (its sleeping timer is cancelled).
  // The worker's thread; destroy the checker only once running() is 0 (or the proactor ended).
  void stop();
  // Loops still running (tests).
  std::size_t running() const { return running_; }

 private:
  struct Loop;
  Task<void> run(Loop& loop);
  Task<void> first(Loop& loop, std::size_t& left);
  Task<bool> checkOnce(Loop& loop);
  io::Proactor& proactor_;
  const config::Config& config_;
  std::vector<metrics::ClusterCounters*> counters_;  // per config cluster; may be null
  std::vector<std::unique_ptr<Loop>> loops_;
  bool stopping_ = false;
  std::size_t running_ = 0;
};

// An endpoint's upstream connections now, summed over the workers: GET /clusters' "pool".
struct EndpointPoolState {
  std::uint64_t idle = 0;    // waiting in the pools
  std::uint64_t active = 0;  // carrying a request
};
using PoolStateOf =
    std::function<EndpointPoolState(const config::ClusterConfig&, const config::EndpointConfig&)>;

// Every cluster's endpoints as JSON, for the admin listener's GET /clusters:
// {"clusters":[{"name":"c","healthy_panic_threshold":50,"healthy_endpoints":2,"panic":false,
//   "endpoints":[{"address":"127.0.0.1:8081",
//   "weight":1,"health":"healthy"|"unhealthy","ejected":false,"ejected_for_ms":0,
//   "times_ejected":0,"dns":false,"resolved":["127.0.0.1:8081"]}, ...]}, ...]}
// "address" is the endpoint's name as configured; "resolved" its addresses now (connect_by_list
// order; empty for a DNS name not resolved yet); a DNS name also has "dns_generation",
// "dns_resolutions" and "dns_failures"; with pools, every endpoint has
// "pool":{"idle":N,"active":M}. boards[i] and sources[i] belong to config.clusters[i] (a missing or
// null board reads as all healthy; without sources a literal shows its address, a name none). Any
// thread (it only reads atomics); allocates (admin path, not the request path).
std::string clustersJson(const config::Config& config,
                         std::span<const std::shared_ptr<HealthBoard>> boards, TimePoint now,
                         std::span<const std::vector<std::shared_ptr<ResolvedName>>> sources = {},
                         const PoolStateOf& pools = {});

}  // namespace ferry::upstream
