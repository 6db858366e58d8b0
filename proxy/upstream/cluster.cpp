#include "proxy/upstream/cluster.h"

namespace ferry::upstream {

io::Socket EndpointPool::takeIdle(TimePoint now, metrics::Counter& idleGauge) {
  while (!idle_.empty()) {
    Idle entry = std::move(idle_.back());
    idle_.pop_back();
    idleGauge.sub();
    if (now - entry.since <= idleTimeout_ && entry.socket.idleAndOpen()) {
      return std::move(entry.socket);
    }
  }
  return io::Socket();
}

void EndpointPool::giveBack(io::Socket s, TimePoint now, metrics::Counter& idleGauge) {
  if (idle_.size() >= maxIdle_) return;  // s closes here
  // Drop the coldest ones that expired, so a burst does not leave stale sockets behind.
  while (!idle_.empty() && now - idle_.front().since > idleTimeout_) {
    idle_.erase(idle_.begin());
    idleGauge.sub();
  }
  idle_.push_back(Idle{std::move(s), now});
  idleGauge.add();
}

std::shared_ptr<const balance::BalancerFactory> makeBalancerFactory(
    const config::ClusterConfig& c) {
  balance::BalanceConfig b;
  switch (c.balance.policy) {
    case config::BalancePolicy::kRoundRobin:
      b.policy = balance::Policy::RoundRobin;
      break;
    case config::BalancePolicy::kWeightedRoundRobin:
      b.policy = balance::Policy::WeightedRoundRobin;
      break;
    case config::BalancePolicy::kLeastRequest:
      b.policy = balance::Policy::LeastRequest;
      break;
    case config::BalancePolicy::kRandom:
      b.policy = balance::Policy::Random;
      break;
    case config::BalancePolicy::kRingHash:
      b.policy = balance::Policy::RingHash;
      break;
    case config::BalancePolicy::kMaglev:
      b.policy = balance::Policy::Maglev;
      break;
  }
  b.slowStart.window = c.balance.slowStart;
  std::vector<balance::EndpointSpec> specs;
  for (std::size_t i = 0; i < c.endpoints.size(); ++i) {
    std::uint32_t w = i < c.weightedEndpoints.size() ? c.weightedEndpoints[i].weight : 1;
    specs.push_back({c.endpoints[i].toString(), w});
  }
  return balance::BalancerFactory::build(b, specs);
}

Cluster::Cluster(const config::ClusterConfig& cfg, const balance::BalancerFactory& factory,
                 unsigned worker, unsigned workers, metrics::ClusterCounters& counters)
    : cfg_(&cfg),
      counters_(&counters),
      balancer_(factory.forWorker(worker, workers)),
      active_(cfg.endpoints.size(), 0) {
  endpoints_.reserve(cfg.endpoints.size());
  for (const io::Address& a : cfg.endpoints) {
    endpoints_.emplace_back(a, cfg.maxIdlePerWorker, cfg.idleTimeout);
  }
}

std::size_t Cluster::pick(std::uint64_t hash, std::span<const std::size_t> tried) {
  // No health checks yet: every endpoint is healthy (an empty health view says so).
  balance::PickInput in{{}, active_, hash, clock_.now()};
  std::size_t ep = balancer_->pick(balance::Candidates(in, endpoints_.size(), true, tried));
  if (ep == balance::kNone)
    ep = balancer_->pick(balance::Candidates(in, endpoints_.size(), true, {}));
  return ep == balance::kNone ? 0 : ep;
}

}  // namespace ferry::upstream
