// Cluster: pools keyed by endpoint name across a reload, endpoint addresses from names (no
// sockets, no proactor: the connections are records with invalid sockets, put in and out of the
// pools directly; a ResolvedName plays the resolver with publish()).

#include "proxy/upstream/cluster.h"

#include <gtest/gtest.h>

namespace ferry::upstream {
namespace {

config::ClusterConfig clusterOf(std::initializer_list<const char*> addrs) {
  config::ClusterConfig c;
  c.name = std::string(1, 'c');  // not = "c": GCC 12 under mingw warns falsely (-Wrestrict)
  for (const char* a : addrs) {
    std::string why;
    c.endpoints.push_back(*config::parseEndpoint(a, why));
  }
  return c;
}

std::shared_ptr<const AddressList> listOf(std::initializer_list<const char*> addrs,
                                          std::uint64_t generation) {
  auto l = std::make_shared<AddressList>();
  for (const char* a : addrs) l->addresses.push_back(*io::Address::parse(a));
  l->generation = generation;
  return l;
}

void addIdle(EndpointPool& p, int n) {
  TimePoint now = SteadyClock().now();
  std::vector<PooledConnection> cs(static_cast<std::size_t>(n));
  for (PooledConnection& c : cs) ASSERT_EQ(p.take(now, false, c), EndpointPool::Take::kOpen);
  for (PooledConnection& c : cs) p.giveBack(std::move(c), now);
}

// acquire() where it completes at once (an idle record or a free slot): its result.
Cluster::Acquire acquireNow(Cluster& c, io::Proactor& p, bool verify, Lease& lease) {
  Task<Cluster::Acquire> t = c.acquire(p, 0, false, verify, lease);
  t.start();
  EXPECT_TRUE(t.done());
  return t.done() ? t.result() : Cluster::Acquire::kQueueTimeout;
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

TEST(Cluster, LiteralEndpointsHaveTheirOneAddressAndNamesNoneUntilResolved) {
  metrics::ClusterCounters counters;
  config::ClusterConfig cfg = clusterOf({"127.0.0.1:1001", "API.Example.test.:80"});
  EXPECT_EQ(cfg.endpoints[1].address, "api.example.test:80");
  auto f = makeBalancerFactory(cfg);
  Cluster c(cfg, *f, 0, 1, counters);
  EXPECT_EQ(c.endpointName(0), "127.0.0.1:1001");
  EXPECT_EQ(c.endpointName(1), "api.example.test:80");
  ASSERT_NE(c.addresses(0), nullptr);
  EXPECT_EQ(c.addresses(0)->addresses.size(), 1U);
  EXPECT_EQ(c.addresses(0)->addresses[0].toString(), "127.0.0.1:1001");
  EXPECT_EQ(c.addresses(1), nullptr);  // no source attached: never resolved
  EXPECT_EQ(c.refreshAddresses(), 0U);

  // The runtime attaches the name's watch; the worker takes its lists at a safe point.
  auto name = std::make_shared<ResolvedName>("api.example.test", 80);
  std::vector<std::shared_ptr<ResolvedName>> sources{nullptr, name};
  c.attachSources(sources);
  EXPECT_EQ(c.addresses(1), nullptr);
  name->publish(listOf({"127.0.0.2:80", "127.0.0.3:80"}, 1));
  EXPECT_EQ(c.addresses(1), nullptr);  // not before the worker refreshes
  EXPECT_EQ(c.refreshAddresses(), 1U);
  ASSERT_NE(c.addresses(1), nullptr);
  EXPECT_EQ(c.addresses(1)->addresses.size(), 2U);
  EXPECT_EQ(c.refreshAddresses(), 0U);  // nothing new
  EXPECT_EQ(c.addresses(0)->addresses[0].toString(), "127.0.0.1:1001");
}

// A name's pool keeps its connections while its addresses only grow; when an address leaves,
// its idle connections close and a connection in use is closed when given back, so new requests
// reach only the current addresses.
TEST(Cluster, AnAddressLeavingANameClosesItsPooledConnections) {
  auto proactor = io::makeProactor(io::Backend::kAuto);  // outlives the cluster (its upkeep)
  ASSERT_TRUE(proactor.ok());
  metrics::ClusterCounters counters;
  config::ClusterConfig cfg = clusterOf({"api.example.test:80"});
  auto f = makeBalancerFactory(cfg);
  Cluster c(cfg, *f, 0, 1, counters);
  auto name = std::make_shared<ResolvedName>("api.example.test", 80);
  name->publish(listOf({"127.0.0.2:80"}, 1));
  std::vector<std::shared_ptr<ResolvedName>> sources{name};
  c.attachSources(sources);
  addIdle(c.endpoint(0), 2);

  name->publish(listOf({"127.0.0.2:80", "127.0.0.3:80"}, 2));  // one more: the pool stays
  EXPECT_EQ(c.refreshAddresses(), 1U);
  EXPECT_EQ(c.endpoint(0).idleCount(), 2U);

  // Two requests hold the endpoint (acquire: the records' invalid sockets read as closed, so
  // each gets a slot) while the name moves away from 127.0.0.2.
  Lease early, late;
  EXPECT_EQ(acquireNow(c, *proactor.value(), true, early), Cluster::Acquire::kReady);
  name->publish(listOf({"127.0.0.3:80"}, 3));
  EXPECT_EQ(c.refreshAddresses(), 1U);
  EXPECT_EQ(c.endpoint(0).idleCount(), 0U);  // idle ones closed at once
  EXPECT_EQ(acquireNow(c, *proactor.value(), true, late), Cluster::Acquire::kReady);
  EXPECT_EQ(c.endpoint(0).total(), 2U);
  TimePoint now = SteadyClock().now();
  early.giveBack(now, {});  // began before the change: closed, not pooled
  EXPECT_EQ(c.endpoint(0).total(), 1U);
  EXPECT_EQ(c.endpoint(0).idleCount(), 0U);
  late.giveBack(now, {});  // began after it: pooled (a record: invalid socket)
  EXPECT_EQ(c.endpoint(0).total(), 1U);
  EXPECT_EQ(c.endpoint(0).idleCount(), 1U);
  EXPECT_EQ(c.addresses(0)->addresses.size(), 1U);
  EXPECT_EQ(c.addresses(0)->addresses[0].toString(), "127.0.0.3:80");
  c.retire();
  // The upkeep timer the acquire started is cancelled by retire; let it complete.
  proactor.value()->runOnce(milliseconds(50));
}

TEST(Cluster, ReloadKeepsTheIdleConnectionsOfANameWhoseAddressesAreUnchanged) {
  metrics::ClusterCounters counters;
  config::ClusterConfig cfg = clusterOf({"api.example.test:80", "127.0.0.1:1001"});
  auto name = std::make_shared<ResolvedName>("api.example.test", 80);
  name->publish(listOf({"127.0.0.2:80"}, 1));
  std::vector<std::shared_ptr<ResolvedName>> sources{name, nullptr};
  auto f = makeBalancerFactory(cfg);
  Cluster before(cfg, *f, 0, 1, counters);
  before.attachSources(sources);
  addIdle(before.endpoint(0), 2);
  addIdle(before.endpoint(1), 1);
  config::ClusterConfig next = clusterOf({"127.0.0.1:1001", "api.example.test:80"});
  auto nf = makeBalancerFactory(next);
  Cluster after(next, *nf, 0, 1, counters);
  std::vector<std::shared_ptr<ResolvedName>> nextSources{nullptr, name};
  after.attachSources(nextSources);
  EXPECT_EQ(after.adoptPools(before), 3U);
  EXPECT_EQ(after.endpoint(1).idleCount(), 2U);  // by name, wherever it is in the list
  EXPECT_EQ(after.endpoint(0).idleCount(), 1U);
  after.retire();
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

// acquire(verify): a pooled connection is looked at (a peek) only when asked. The records'
// invalid sockets read as closed: looked at, each is closed and its slot reused for a new
// connection; not looked at, it is handed out as it is (the request then relies on the stale
// connection retry, upstream/retry.h).
TEST(Cluster, VerifyLooksAtAPooledConnectionOnlyWhenAsked) {
  auto proactor = io::makeProactor(io::Backend::kAuto);  // outlives the cluster (its upkeep)
  ASSERT_TRUE(proactor.ok());
  metrics::ClusterCounters counters;
  config::ClusterConfig cfg = clusterOf({"127.0.0.1:1001"});
  auto f = makeBalancerFactory(cfg);
  Cluster c(cfg, *f, 0, 1, counters);
  addIdle(c.endpoint(0), 2);

  Lease trusted, looked;
  EXPECT_EQ(acquireNow(c, *proactor.value(), false, trusted), Cluster::Acquire::kReady);
  EXPECT_TRUE(trusted.reused());
  EXPECT_EQ(c.endpoint(0).idleCount(), 1U);

  EXPECT_EQ(acquireNow(c, *proactor.value(), true, looked), Cluster::Acquire::kReady);
  EXPECT_FALSE(looked.reused());  // the idle one read as closed: a slot to connect instead
  EXPECT_EQ(c.endpoint(0).idleCount(), 0U);
  EXPECT_EQ(c.endpoint(0).total(), 2U);
  EXPECT_EQ(counters.idleClosedByPeer.get(), 1U);
  trusted.drop();
  looked.drop();
  EXPECT_EQ(c.endpoint(0).total(), 0U);
  c.retire();
  // The upkeep timer the acquire started is cancelled by retire; let it complete (else its
  // record waits for a completion that never comes: LeakSanitizer finds it).
  proactor.value()->runOnce(milliseconds(50));
  EXPECT_TRUE(c.quiescent());
}

}  // namespace
}  // namespace ferry::upstream
