// Cluster on a real proactor (loopback sockets, no HTTP): the teardown of a cluster whose
// min_idle warm connects are still in flight (a reload dropping it while its backend is slow to
// accept) and of one whose idle connections are watched. Run under ASan too (make test-asan):
// a warm connect or a watch that touched its destroyed cluster fails there.

#include <gtest/gtest.h>

#include "proxy/io/proactor.h"
#include "proxy/upstream/cluster.h"
#include "tests/support/platform.h"

namespace ferry::upstream {
namespace {

using namespace std::chrono_literals;

config::ClusterConfig clusterOf(const io::Address& a) {
  config::ClusterConfig c;
  c.name = std::string(1, 'w');  // not = "w": GCC 12 under mingw warns falsely (-Wrestrict)
  std::string why;
  c.endpoints.push_back(*config::parseEndpoint(a.toString(), why));
  return c;
}

template <class Pred>
bool runUntil(io::Proactor& p, Pred pred, std::chrono::milliseconds limit) {
  auto end = std::chrono::steady_clock::now() + limit;
  while (!pred() && std::chrono::steady_clock::now() < end) p.runOnce(20ms);
  return pred();
}

TEST(ClusterTeardown, WarmConnectsInFlightOutliveTheirClusterSafely) {
  auto p = io::makeProactor(io::Backend::kAuto);
  ASSERT_TRUE(p.ok()) << p.error().message();
  io::Proactor& proactor = *p.value();
  test::BlackHole hole;  // connects to it neither succeed nor fail
  std::size_t handlesBefore = test::openHandles();
  metrics::ClusterCounters counters;
  config::ClusterConfig cfg = clusterOf(hole.address());
  cfg.minIdle = 3;
  cfg.maxIdlePerWorker = 3;
  cfg.connectTimeout = 1s;  // were they left running, they would end (and touch it) after this
  auto factory = makeBalancerFactory(cfg);
  auto cluster = std::make_unique<Cluster>(cfg, *factory, 0, 1, counters);
  cluster->start(proactor);
  EXPECT_EQ(cluster->endpoint(0).total(), 3U);         // three warm connects reserved their slots
  for (int i = 0; i < 5; ++i) proactor.runOnce(10ms);  // submitted, waiting on the black hole
  EXPECT_EQ(counters.warmOpened.get(), 0U);
  // What a reload that drops the cluster does: retire it, then destroy it once its holder goes.
  cluster->retire();
  cluster.reset();
  // The cancelled connects complete without the cluster and close their sockets.
  EXPECT_TRUE(runUntil(
      proactor, [&] { return test::openHandles() <= handlesBefore; }, 5s))
      << test::openHandles() << " handles open, " << handlesBefore << " before";
  // Past the connect timeout: nothing more comes, and nothing was counted through the cluster.
  auto until = std::chrono::steady_clock::now() + 1500ms;
  runUntil(
      proactor, [&] { return std::chrono::steady_clock::now() >= until; }, 3s);
  EXPECT_EQ(counters.connectFailures.get(), 0U);
  EXPECT_EQ(counters.warmOpened.get(), 0U);
}

TEST(ClusterTeardown, WatchedIdleConnectionsCloseWithTheirCluster) {
  auto p = io::makeProactor(io::Backend::kAuto);
  ASSERT_TRUE(p.ok()) << p.error().message();
  io::Proactor& proactor = *p.value();
  auto l = proactor.listen(*io::Address::parse("127.0.0.1:0"), io::ListenOptions{});
  ASSERT_TRUE(l.ok()) << l.error().message();
  metrics::ClusterCounters counters;
  config::ClusterConfig cfg = clusterOf(l.value()->address());
  cfg.minIdle = 2;
  cfg.maxIdlePerWorker = 2;
  auto factory = makeBalancerFactory(cfg);
  auto cluster = std::make_unique<Cluster>(cfg, *factory, 0, 1, counters);
  cluster->start(proactor);
  // The warm connections arrive in the listener's queue (never accepted: the backend is silent),
  // go idle, and the next upkeep tick watches them.
  ASSERT_TRUE(runUntil(
      proactor, [&] { return cluster->endpoint(0).idleCount() == 2; }, 5s));
  auto until = std::chrono::steady_clock::now() + 400ms;
  runUntil(
      proactor, [&] { return std::chrono::steady_clock::now() >= until; }, 2s);
  EXPECT_EQ(counters.warmOpened.get(), 2U);
  EXPECT_EQ(counters.idleClosedByPeer.get(), 0U);
  cluster.reset();  // the watches are cancelled; their completions come after the cluster
  for (int i = 0; i < 10; ++i) proactor.runOnce(10ms);
  EXPECT_EQ(counters.idle.get(), 0U);
  EXPECT_EQ(counters.total.get(), 0U);
  // Ferry ended them (they were fine): each socket went to endForReuse (closed on Linux and
  // under Wine, recycled where Windows can reuse handles).
  EXPECT_TRUE(runUntil(
      proactor,
      [&] { return proactor.socketReuse().closed + proactor.socketReuse().recycled == 2; }, 5s));
}

}  // namespace
}  // namespace ferry::upstream
