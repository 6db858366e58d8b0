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

Cluster::Cluster(const config::ClusterConfig& cfg, std::atomic<std::uint64_t>& cursor,
                 metrics::ClusterCounters& counters)
    : cfg_(&cfg), counters_(&counters), rr_(cfg.endpoints.size(), cursor) {
  endpoints_.reserve(cfg.endpoints.size());
  for (const io::Address& a : cfg.endpoints) {
    endpoints_.emplace_back(a, cfg.maxIdlePerWorker, cfg.idleTimeout);
  }
}

}  // namespace ferry::upstream
