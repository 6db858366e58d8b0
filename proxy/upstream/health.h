#pragma once
// Endpoint health shared by every worker: the active health checker's verdicts and the outlier
// ejections, one HealthBoard per cluster and config snapshot.
//
//   HealthChecker (worker 0's proactor, coroutines) ──set()──┐
//   OutlierDetector (each worker, on its own results) ─eject()─┤──> HealthBoard (atomics, version)
//                                                              │
//   Cluster::pick (each worker) <── local copy, refreshed ─────┘  when version() changed or an
//                                   ejection ran out
//
// Concurrency note: a board is a fixed array of per-endpoint atomics plus a version counter,
// allocated once. Writers (the checker's thread, a worker that ejects) store the endpoint's
// fields, then bump the version with release order; readers load the version with acquire and,
// only when it changed, copy the fields into their own snapshot. No lock anywhere; a request
// costs one atomic load. Two workers ejecting at once each store their own endpoint's fields:
// the last store wins, which is harmless (both meant "ejected until about now + t").

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
#include "proxy/upstream/resolver.h"

namespace ferry::upstream {

class HealthBoard {
 public:
  // endpoints: the cluster's endpoint count (fixed for the board's life). Every endpoint starts
  // healthy and not ejected.
  explicit HealthBoard(std::size_t endpoints);
  std::size_t size() const { return size_; }

  // Changes whenever any endpoint's state changes (acquire). Any thread.
  std::uint64_t version() const { return version_.load(std::memory_order_acquire); }

  // The active checker's verdict for endpoint i (the checker's thread only). `since` is when it
  // changed (slow start ramps from there).
  void setChecked(std::size_t i, bool healthy, TimePoint since);
  bool checkedHealthy(std::size_t i) const;
  TimePoint checkedSince(std::size_t i) const;

  // Outlier ejection of endpoint i until `until` (any worker). timesEjected is recorded for the
  // ejection time's growth and for /clusters.
  void eject(std::size_t i, TimePoint until, std::uint32_t timesEjected);
  TimePoint ejectedUntil(std::size_t i) const;
  std::uint32_t timesEjected(std::size_t i) const;
  // Endpoints whose ejection has not run out at `now`.
  std::size_t ejectedCount(TimePoint now) const;

 private:
  struct Slot {
    std::atomic<bool> healthy{true};
    std::atomic<std::int64_t> healthySince{0};  // ns since the steady clock's epoch
    std::atomic<std::int64_t> ejectedUntil{0};
    std::atomic<std::uint32_t> timesEjected{0};
  };
  std::size_t size_;
  std::unique_ptr<Slot[]> slots_;
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
class CheckCounter {
 public:
  CheckCounter(std::uint32_t healthyThreshold, std::uint32_t unhealthyThreshold)
      : up_(healthyThreshold), down_(unhealthyThreshold) {}
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
  // Starts a check loop per endpoint of every cluster that has a health_check.
  void start();
  // Ends the loops: each finishes after its current check (its sleeping timer is cancelled).
  // The worker's thread; destroy the checker only once running() is 0 (or the proactor ended).
  void stop();
  // Loops still running (tests).
  std::size_t running() const { return running_; }

 private:
  struct Loop;
  Task<void> run(Loop& loop);
  Task<bool> checkOnce(Loop& loop);
  io::Proactor& proactor_;
  const config::Config& config_;
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
// {"clusters":[{"name":"c","healthy_panic_threshold":50,"endpoints":[{"address":"127.0.0.1:8081",
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
