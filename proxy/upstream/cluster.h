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

#include "proxy/balance/round_robin.h"
#include "proxy/common/time.h"
#include "proxy/config/config.h"
#include "proxy/io/socket.h"
#include "proxy/metrics/metrics.h"

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

class Cluster {
 public:
  // cursor: the round-robin position shared by all workers' views of this cluster.
  Cluster(const config::ClusterConfig& cfg, std::atomic<std::uint64_t>& cursor,
          metrics::ClusterCounters& counters);
  const config::ClusterConfig& config() const { return *cfg_; }
  metrics::ClusterCounters& counters() { return *counters_; }
  // The next endpoint by round robin.
  std::size_t pick() { return rr_.next(); }
  EndpointPool& endpoint(std::size_t i) { return endpoints_[i]; }
  std::size_t size() const { return endpoints_.size(); }

 private:
  const config::ClusterConfig* cfg_;
  metrics::ClusterCounters* counters_;
  std::vector<EndpointPool> endpoints_;
  balance::RoundRobin rr_;
};

}  // namespace ferry::upstream
