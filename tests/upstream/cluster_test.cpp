// Cluster: pools keyed by endpoint address across a reload (no sockets, no proactor: the
// connections are records with invalid sockets, put in and out of the pools directly).

#include "proxy/upstream/cluster.h"

#include <gtest/gtest.h>

namespace ferry::upstream {
namespace {

config::ClusterConfig clusterOf(std::initializer_list<const char*> addrs) {
  config::ClusterConfig c;
  c.name = std::string(1, 'c');  // not = "c": GCC 12 under mingw warns falsely (-Wrestrict)
  for (const char* a : addrs) {
    c.weightedEndpoints.push_back({*io::Address::parse(a), 1});
    c.endpoints.push_back(*io::Address::parse(a));
  }
  return c;
}

void addIdle(EndpointPool& p, int n) {
  TimePoint now = SteadyClock().now();
  std::vector<PooledConnection> cs(static_cast<std::size_t>(n));
  for (PooledConnection& c : cs) ASSERT_EQ(p.take(now, false, c), EndpointPool::Take::kOpen);
  for (PooledConnection& c : cs) p.giveBack(std::move(c), now);
}

TEST(Cluster, ReloadKeepsPoolsOfEndpointsByAddressAndRetiresTheRest) {
  metrics::ClusterCounters counters;
  config::ClusterConfig oldCfg = clusterOf({"127.0.0.1:1001", "127.0.0.1:1002"});
  // Reordered, one endpoint removed and one added.
  config::ClusterConfig newCfg = clusterOf({"127.0.0.1:1003", "127.0.0.1:1002"});
  auto oldF = makeBalancerFactory(oldCfg);
  auto newF = makeBalancerFactory(newCfg);
  Cluster before(oldCfg, *oldF, 0, 1, counters);
  addIdle(before.endpoint(0), 2);
  addIdle(before.endpoint(1), 3);
  EXPECT_FALSE(before.quiescent());
  Cluster after(newCfg, *newF, 0, 1, counters);
  EXPECT_EQ(after.adoptPools(before), 3U);
  EXPECT_EQ(after.endpoint(1).idleCount(), 3U);  // 127.0.0.1:1002 kept its connections
  EXPECT_EQ(after.endpoint(0).idleCount(), 0U);
  EXPECT_TRUE(before.quiescent());  // the removed endpoint's idle connections closed
  EXPECT_EQ(counters.idle.get(), 3U);
  EXPECT_EQ(counters.total.get(), 3U);
  after.retire();
  EXPECT_TRUE(after.quiescent());
  EXPECT_EQ(counters.total.get(), 0U);
}

TEST(Cluster, AdmissionCapsRequestsInFlight) {
  metrics::ClusterCounters counters;
  config::ClusterConfig cfg = clusterOf({"127.0.0.1:1001"});
  cfg.maxActiveRequests = 2;
  auto f = makeBalancerFactory(cfg);
  Cluster c(cfg, *f, 0, 1, counters);
  {
    Admission a(c), b(c);
    EXPECT_TRUE(a.admitted());
    EXPECT_TRUE(b.admitted());
    Admission refused(c);
    EXPECT_FALSE(refused.admitted());
    EXPECT_EQ(counters.rejectedActive.get(), 1U);
    EXPECT_EQ(counters.requests.get(), 2U);
    EXPECT_FALSE(c.quiescent());
  }
  EXPECT_EQ(counters.requests.get(), 0U);
  EXPECT_TRUE(Admission(c).admitted());
  EXPECT_TRUE(c.quiescent());
}

}  // namespace
}  // namespace ferry::upstream
