#include "proxy/upstream/cluster.h"

#include <algorithm>

#include "proxy/common/log.h"

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
      active_(cfg.endpoints.size(), 0),
      board_(std::make_shared<HealthBoard>(cfg.endpoints.size())),
      outlier_(cfg.outlierDetection, cfg.endpoints.size()),
      retryPolicy_(RetryPolicy::from(cfg.retry)),
      budget_(cfg.retryBudget),
      rng_(balance::mix64(0x7265747279ULL + worker)),
      health_(cfg.endpoints.size()) {
  endpoints_.reserve(cfg.endpoints.size());
  for (const io::Address& a : cfg.endpoints) {
    endpoints_.emplace_back(a, cfg.maxIdlePerWorker, cfg.idleTimeout);
  }
}

std::size_t Cluster::pick(std::uint64_t hash, std::span<const std::size_t> tried) {
  TimePoint now = clock_.now();
  refreshHealth(now);
  std::size_t n = endpoints_.size();
  balance::PickInput in{balance::HealthView{health_, healthyCount_}, active_, hash, now};
  // In panic (or with no healthy endpoint at all) health is ignored, as Envoy does.
  bool ignoreHealth =
      healthyCount_ == 0 || balance::inPanic(healthyCount_, n, cfg_->healthyPanicThreshold);
  std::size_t ep = balancer_->pick(balance::Candidates(in, n, ignoreHealth, tried));
  // Every eligible endpoint tried: a retry goes to a healthy one again rather than an unhealthy.
  if (ep == balance::kNone) ep = balancer_->pick(balance::Candidates(in, n, ignoreHealth, {}));
  if (ep == balance::kNone) ep = balancer_->pick(balance::Candidates(in, n, true, {}));
  return ep == balance::kNone ? 0 : ep;
}

void Cluster::attachHealth(std::shared_ptr<HealthBoard> board) {
  if (!board || board->size() != endpoints_.size()) return;
  board_ = std::move(board);
  seenVersion_ = 0;
}

void Cluster::report(std::size_t ep, OutlierDetector::Result r) {
  if (!outlier_.enabled()) return;
  TimePoint now = clock_.now();
  if (outlier_.report(ep, r, now, *board_)) {
    counters_->ejections.add();
    log::warn("outlier detection: endpoint {} of cluster {} ejected for {} ms (ejection {})",
              endpoints_[ep].address().toString(), cfg_->name,
              std::chrono::duration_cast<std::chrono::milliseconds>(board_->ejectedUntil(ep) - now)
                  .count(),
              board_->timesEjected(ep));
  }
}

std::size_t Cluster::healthyCount() {
  refreshHealth(clock_.now());
  return healthyCount_;
}

bool Cluster::inPanic() {
  refreshHealth(clock_.now());
  return balance::inPanic(healthyCount_, endpoints_.size(), cfg_->healthyPanicThreshold);
}

void Cluster::refreshHealth(TimePoint now) {
  std::uint64_t v = board_->version();
  if (v == seenVersion_ && now < nextExpiry_) return;
  seenVersion_ = v;
  nextExpiry_ = TimePoint::max();
  healthyCount_ = 0;
  for (std::size_t i = 0; i < health_.size(); ++i) {
    TimePoint until = board_->ejectedUntil(i);
    bool ejected = until > now;
    if (ejected) nextExpiry_ = std::min(nextExpiry_, until);
    bool healthy = board_->checkedHealthy(i) && !ejected;
    // Slow start ramps from the later of: the checks passing again, the ejection ending.
    health_[i] = balance::EndpointHealth{healthy, std::max(board_->checkedSince(i), until)};
    if (healthy) ++healthyCount_;
  }
}

}  // namespace ferry::upstream
