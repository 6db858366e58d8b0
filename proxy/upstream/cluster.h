#pragma once
// A cluster as one worker sees it: its endpoints, each with a pool of idle keep-alive
// connections, and a round-robin balancer. One per worker and cluster: no locks.
//
// Pool states of an upstream connection: connecting (owned by the session's ConnectOp) ->
// active (owned by the session, counted in `active`) -> idle (owned by the pool, counted in
// `idle`) -> active again on reuse, or closed (idle too long, pool full, peer closed, error).

#include <atomic>
#include <cstddef>
#include <vector>

#include "proxy/balance/balancer.h"
#include "proxy/common/time.h"
#include "proxy/config/config.h"
#include "proxy/io/socket.h"
#include "proxy/metrics/metrics.h"
#include "proxy/upstream/health.h"
#include "proxy/upstream/outlier.h"
#include "proxy/upstream/retry.h"

namespace ferry::upstream {

class EndpointPool {
 public:
  EndpointPool(const io::Address& address, std::size_t maxIdle, Duration idleTimeout)
      : address_(address), maxIdle_(maxIdle), idleTimeout_(idleTimeout) {
    idle_.reserve(maxIdle);
  }
  const io::Address& address() const { return address_; }
  std::size_t idleCount() const { return idle_.size(); }

  // The most recently used idle connection that is still open, or an invalid socket. Closes
  // connections that idled past idleTimeout or that the backend closed meanwhile.
  io::Socket takeIdle(TimePoint now, metrics::Counter& idleGauge);
  // Keeps s for reuse if there is room; otherwise closes it.
  void giveBack(io::Socket s, TimePoint now, metrics::Counter& idleGauge);

 private:
  struct Idle {
    io::Socket socket;
    TimePoint since;
  };
  io::Address address_;
  std::size_t maxIdle_;
  Duration idleTimeout_;
  std::vector<Idle> idle_;  // LIFO: the warmest connection first
};

// The balancer of a cluster, built once per config snapshot and shared by the workers (each
// takes its own per-worker Balancer from it).
std::shared_ptr<const balance::BalancerFactory> makeBalancerFactory(const config::ClusterConfig& c);

class Cluster {
 public:
  // factory: the cluster's balancer (makeBalancerFactory); worker, workers: this worker's index
  // and the count, so that per-worker state (round-robin cursors, random seeds) differs.
  Cluster(const config::ClusterConfig& cfg, const balance::BalancerFactory& factory,
          unsigned worker, unsigned workers, metrics::ClusterCounters& counters);
  const config::ClusterConfig& config() const { return *cfg_; }
  metrics::ClusterCounters& counters() { return *counters_; }
  // The endpoint for a request by the cluster's policy, skipping the ones in `tried` (a retry
  // goes elsewhere when it can); hash is the request's key for ring_hash and maglev. With every
  // endpoint tried, the policy's choice among all. No allocation.
  std::size_t pick(std::uint64_t hash = 0, std::span<const std::size_t> tried = {});
  // Requests in flight per endpoint, for least_request: begin() when a request takes an
  // endpoint, end() when it is done with it.
  void begin(std::size_t ep) { ++active_[ep]; }
  void end(std::size_t ep) { --active_[ep]; }
  EndpointPool& endpoint(std::size_t i) { return endpoints_[i]; }
  std::size_t size() const { return endpoints_.size(); }

  // ---- Health, outlier detection and retries (health.h, outlier.h, retry.h) ----
  // The cluster's shared health board (every worker's Cluster of one snapshot gets the same);
  // until one is attached the cluster has its own. Setup only, on the owning worker.
  void attachHealth(std::shared_ptr<HealthBoard> board);
  HealthBoard& health() { return *board_; }
  // An attempt's result at endpoint ep, for outlier detection (counts an ejection).
  void report(std::size_t ep, OutlierDetector::Result r);
  const RetryPolicy& retryPolicy() const { return retryPolicy_; }
  RetryBudget& retryBudget() { return budget_; }
  balance::Rng& rng() { return rng_; }
  // Endpoints the balancer sees as healthy now (active checks and ejections), and whether the
  // cluster is below healthy_panic_threshold (then every endpoint is used).
  std::size_t healthyCount();
  bool inPanic();

 private:
  // Refreshes health_ from the board when its version changed or an ejection ran out.
  void refreshHealth(TimePoint now);

  const config::ClusterConfig* cfg_;
  metrics::ClusterCounters* counters_;
  std::vector<EndpointPool> endpoints_;
  std::unique_ptr<balance::Balancer> balancer_;
  std::vector<std::uint32_t> active_;
  SteadyClock clock_;
  std::shared_ptr<HealthBoard> board_;
  OutlierDetector outlier_;
  RetryPolicy retryPolicy_;
  RetryBudget budget_;
  balance::Rng rng_;
  std::vector<balance::EndpointHealth> health_;
  std::size_t healthyCount_ = 0;
  std::uint64_t seenVersion_ = 0;
  TimePoint nextExpiry_ = TimePoint::max();
};

}  // namespace ferry::upstream
