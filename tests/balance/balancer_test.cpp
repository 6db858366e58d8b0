#include "proxy/balance/balancer.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace ferry::balance {
namespace {

std::vector<EndpointSpec> specs(std::vector<std::uint32_t> weights) {
  std::vector<EndpointSpec> out;
  for (std::size_t i = 0; i < weights.size(); ++i) {
    out.push_back({"10.0.0." + std::to_string(i + 1) + ":8080", weights[i]});
  }
  return out;
}

std::shared_ptr<const BalancerFactory> factory(Policy p, const std::vector<EndpointSpec>& eps,
                                               SlowStart ss = {}) {
  BalanceConfig cfg;
  cfg.policy = p;
  cfg.slowStart = ss;
  cfg.seed = 12345;
  return BalancerFactory::build(cfg, eps);
}

// Picks n times (hash policies get a different key per pick) and counts per endpoint.
std::vector<std::size_t> distribution(Balancer& b, std::size_t n, const PickInput& base) {
  std::vector<std::size_t> counts(b.size(), 0);
  for (std::size_t k = 0; k < n; ++k) {
    PickInput in = base;
    in.hash = mix64(k);
    Selection s(b, in);
    std::size_t i = s.next();
    EXPECT_NE(i, kNone);
    if (i != kNone) ++counts[i];
  }
  return counts;
}

// Each endpoint's share is within tolerance (relative) of its weight's share.
void expectShares(const std::vector<std::size_t>& counts, const std::vector<std::uint32_t>& w,
                  double tolerance, const char* what) {
  double total = 0, wsum = 0;
  for (std::size_t c : counts) total += static_cast<double>(c);
  for (std::uint32_t x : w) wsum += x;
  for (std::size_t i = 0; i < counts.size(); ++i) {
    double want = w[i] / wsum;
    double got = static_cast<double>(counts[i]) / total;
    EXPECT_NEAR(got, want, want * tolerance) << what << " endpoint " << i;
  }
}

constexpr std::size_t kPicks = 120000;

TEST(Balancer, ParsesPolicyNames) {
  for (Policy p : {Policy::RoundRobin, Policy::WeightedRoundRobin, Policy::LeastRequest,
                   Policy::Random, Policy::RingHash, Policy::Maglev}) {
    EXPECT_EQ(parsePolicy(policyName(p)), p);
  }
  EXPECT_FALSE(parsePolicy("roundrobin").has_value());
}

TEST(Balancer, RoundRobinGivesEqualTurnsAndIgnoresWeights) {
  auto f = factory(Policy::RoundRobin, specs({1, 5, 1, 3}));
  auto b = f->forWorker(0, 1);
  auto counts = distribution(*b, 4000, {});
  for (std::size_t c : counts) EXPECT_EQ(c, 1000U);
  // With slow start set (nobody ramping) it still takes strict turns in list order, from each
  // worker's own offset, ignoring weights.
  SlowStart ss;
  ss.window = seconds(30);
  auto fs = factory(Policy::RoundRobin, specs({1, 5, 1, 3}), ss);
  for (unsigned w = 0; w < 2; ++w) {
    auto bs = fs->forWorker(w, 2);
    EXPECT_EQ(bs->policy(), Policy::RoundRobin);
    std::string seq;
    for (int k = 0; k < 8; ++k) seq += static_cast<char>('a' + Selection(*bs, {}).next());
    EXPECT_EQ(seq, w == 0 ? "abcdabcd" : "cdabcdab");
  }
}

TEST(Balancer, RoundRobinWorkersStartAtDifferentOffsetsWithOwnCursors) {
  auto f = factory(Policy::RoundRobin, specs({1, 1, 1, 1}));
  auto w0 = f->forWorker(0, 2);
  auto w1 = f->forWorker(1, 2);
  PickInput in;
  EXPECT_EQ(Selection(*w0, in).next(), 0U);
  EXPECT_EQ(Selection(*w1, in).next(), 2U);
  EXPECT_EQ(Selection(*w0, in).next(), 1U);
  EXPECT_EQ(Selection(*w1, in).next(), 3U);
}

TEST(Balancer, WeightedRoundRobinIsExactPerCycleAndSmooth) {
  std::vector<std::uint32_t> w{5, 1, 1};
  auto f = factory(Policy::WeightedRoundRobin, specs(w));
  auto b = f->forWorker(0, 1);
  // NGINX's documented sequence for weights 5,1,1: a a b a c a a.
  std::string seq;
  for (int k = 0; k < 7; ++k) seq += static_cast<char>('a' + Selection(*b, {}).next());
  EXPECT_EQ(seq, "aabacaa");
  std::vector<std::uint32_t> w2{1, 2, 3, 4, 10};
  auto b2 = factory(Policy::WeightedRoundRobin, specs(w2))->forWorker(0, 1);
  auto counts = distribution(*b2, 20 * 1000, {});
  EXPECT_EQ(counts, (std::vector<std::size_t>{1000, 2000, 3000, 4000, 10000}));
}

TEST(Balancer, RandomRespectsWeights) {
  std::vector<std::uint32_t> w{1, 2, 3, 4, 10};
  auto b = factory(Policy::Random, specs(w))->forWorker(0, 1);
  expectShares(distribution(*b, kPicks, {}), w, 0.05, "random");
}

TEST(Balancer, LeastRequestRespectsWeightsWhenIdleAndAvoidsTheLoadedEndpoint) {
  std::vector<std::uint32_t> w{1, 2, 3, 4, 10};
  auto b = factory(Policy::LeastRequest, specs(w))->forWorker(0, 1);
  expectShares(distribution(*b, kPicks, {}), w, 0.05, "least_request");

  auto eq = factory(Policy::LeastRequest, specs({1, 1, 1, 1}))->forWorker(0, 1);
  std::vector<std::uint32_t> active{50, 0, 0, 0};
  PickInput in;
  in.active = active;
  auto counts = distribution(*eq, 40000, in);
  // The two choices are distinct endpoints, so the loaded one never wins a comparison.
  EXPECT_EQ(counts[0], 0U);
}

// Issue 16, section 6: with two endpoints, the two choices are both of them, so the slow
// (loaded) one gets nothing while the other is less loaded (drawing the same one twice gave it
// a quarter of the picks). With one eligible endpoint it is the pick.
TEST(Balancer, LeastRequestComparesTwoDistinctEndpoints) {
  for (std::vector<std::uint32_t> w : {std::vector<std::uint32_t>{1, 1}, {3, 1}, {1, 5}}) {
    auto b = factory(Policy::LeastRequest, specs(w))->forWorker(0, 1);
    std::vector<std::uint32_t> active{7, 0};
    PickInput in;
    in.active = active;
    auto counts = distribution(*b, 20000, in);
    EXPECT_EQ(counts[0], 0U) << "weights " << w[0] << "," << w[1];
    EXPECT_EQ(counts[1], 20000U);
  }
  auto b = factory(Policy::LeastRequest, specs({1, 1, 1}))->forWorker(0, 1);
  std::vector<std::uint32_t> active{9, 9, 9};
  std::vector<EndpointHealth> health{{false, {}}, {true, {}}, {false, {}}};
  PickInput in;
  in.active = active;
  in.health = HealthView::of(health);
  for (int k = 0; k < 1000; ++k) {
    Selection sel(*b, in, 0);  // panic off: only endpoint 1 is eligible
    EXPECT_EQ(sel.next(), 1U);
  }
}

TEST(Balancer, HashPoliciesSpreadKeysByWeightAndAreStable) {
  std::vector<std::uint32_t> w{1, 2, 3, 4, 10};
  for (Policy p : {Policy::RingHash, Policy::Maglev}) {
    auto f = factory(p, specs(w));
    auto b = f->forWorker(0, 2);
    auto other = f->forWorker(1, 2);
    expectShares(distribution(*b, kPicks, {}), w, p == Policy::RingHash ? 0.15 : 0.05,
                 std::string(policyName(p)).c_str());
    for (std::uint64_t k = 0; k < 1000; ++k) {
      PickInput in;
      in.hash = hashString("user-" + std::to_string(k));
      std::size_t first = Selection(*b, in).next();
      EXPECT_EQ(Selection(*b, in).next(), first);      // the same key, the same endpoint
      EXPECT_EQ(Selection(*other, in).next(), first);  // on every worker
    }
  }
}

// Disruption: the fraction of keys whose endpoint changes when one of N leaves, against the
// ideal 1/N (only the leaving endpoint's keys move).
struct Disruption {
  double moved;   // fraction of all keys that changed endpoint
  double excess;  // fraction of all keys that moved although their endpoint stayed
};

Disruption measureRemoval(Policy p, std::size_t n, std::size_t removed, std::size_t keys) {
  auto before = specs(std::vector<std::uint32_t>(n, 1));
  auto after = before;
  after.erase(after.begin() + static_cast<std::ptrdiff_t>(removed));
  auto b0 = factory(p, before)->forWorker(0, 1);
  auto b1 = factory(p, after)->forWorker(0, 1);
  std::size_t moved = 0, excess = 0;
  for (std::size_t k = 0; k < keys; ++k) {
    PickInput in;
    in.hash = hashString("10.1." + std::to_string(k / 256) + "." + std::to_string(k % 256));
    const std::string& was = before[Selection(*b0, in).next()].name;
    const std::string& is = after[Selection(*b1, in).next()].name;
    if (was != is) {
      ++moved;
      if (was != before[removed].name) ++excess;
    }
  }
  return {static_cast<double>(moved) / keys, static_cast<double>(excess) / keys};
}

TEST(Balancer, RingHashAndMaglevMoveFewKeysWhenAnEndpointLeaves) {
  constexpr std::size_t kKeys = 100000;
  for (std::size_t n : {5U, 10U, 50U}) {
    for (Policy p : {Policy::RingHash, Policy::Maglev}) {
      Disruption d = measureRemoval(p, n, n / 2, kKeys);
      double ideal = 1.0 / static_cast<double>(n);
      std::printf(
          "disruption %-9s N=%-3zu remove 1: moved %.4f (ideal 1/N %.4f, ratio %.2f), "
          "moved without need %.4f\n",
          std::string(policyName(p)).c_str(), n, d.moved, ideal, d.moved / ideal, d.excess);
      // The leaving endpoint's keys must move; a consistent hash moves little else.
      EXPECT_LT(d.moved, ideal * 1.5) << policyName(p) << " N=" << n;
      EXPECT_GT(d.moved, ideal * 0.5) << policyName(p) << " N=" << n;
      if (p == Policy::RingHash) {
        EXPECT_EQ(d.excess, 0.0);  // on a ring nothing else moves
      } else {
        EXPECT_LT(d.excess, 0.02);  // Maglev trades a little disruption for perfect balance
      }
    }
  }
}

TEST(Balancer, HashPoliciesMoveOnlyTheUnhealthyEndpointsKeys) {
  for (Policy p : {Policy::RingHash, Policy::Maglev}) {
    auto b = factory(p, specs(std::vector<std::uint32_t>(8, 1)))->forWorker(0, 1);
    std::vector<EndpointHealth> health(8);
    health[3].healthy = false;
    PickInput sick;
    sick.health = HealthView::of(health);
    std::size_t movedOthers = 0, fromSick = 0;
    for (std::uint64_t k = 0; k < 20000; ++k) {
      PickInput in;
      in.hash = mix64(k * 7919);
      sick.hash = in.hash;
      std::size_t was = Selection(*b, in).next();
      std::size_t is = Selection(*b, sick).next();
      EXPECT_NE(is, 3U);
      if (was == 3)
        ++fromSick;
      else if (was != is)
        ++movedOthers;
    }
    EXPECT_EQ(movedOthers, 0U) << policyName(p);
    EXPECT_GT(fromSick, 0U);
  }
}

TEST(Balancer, EveryPolicySkipsUnhealthyEndpointsAndOffersOthersOnRetry) {
  for (Policy p : {Policy::RoundRobin, Policy::WeightedRoundRobin, Policy::LeastRequest,
                   Policy::Random, Policy::RingHash, Policy::Maglev}) {
    auto b = factory(p, specs({1, 2, 3, 4, 5}))->forWorker(0, 1);
    std::vector<EndpointHealth> health(5);
    health[1].healthy = false;
    health[4].healthy = false;
    PickInput in;
    in.health = HealthView::of(health);
    for (std::uint64_t k = 0; k < 2000; ++k) {
      in.hash = mix64(k);
      Selection s(*b, in);
      std::set<std::size_t> seen;
      for (std::size_t i = s.next(); i != kNone; i = s.next()) {
        EXPECT_TRUE(health[i].healthy) << policyName(p);
        EXPECT_TRUE(seen.insert(i).second) << policyName(p) << ": offered twice";
      }
      // Retries walk every healthy endpoint once, then report none left.
      EXPECT_EQ(seen, (std::set<std::size_t>{0, 2, 3})) << policyName(p);
      EXPECT_FALSE(s.panic());
    }
  }
}

TEST(Balancer, AllUnhealthyGivesNoneWithPanicOffAndEveryEndpointInPanic) {
  for (Policy p : {Policy::RoundRobin, Policy::WeightedRoundRobin, Policy::LeastRequest,
                   Policy::Random, Policy::RingHash, Policy::Maglev}) {
    auto b = factory(p, specs({1, 1, 1, 1}))->forWorker(0, 1);
    std::vector<EndpointHealth> health(4);
    for (auto& h : health) h.healthy = false;
    PickInput in;
    in.health = HealthView::of(health);
    Selection off(*b, in, 0.0);
    EXPECT_EQ(off.next(), kNone) << policyName(p);
    EXPECT_FALSE(off.panic());

    std::vector<std::size_t> counts(4, 0);
    for (std::uint64_t k = 0; k < 4000; ++k) {
      in.hash = mix64(k);
      Selection s(*b, in);  // default threshold 50%
      EXPECT_TRUE(s.panic());
      std::size_t i = s.next();
      ASSERT_NE(i, kNone) << policyName(p);
      ++counts[i];
    }
    for (std::size_t c : counts) EXPECT_GT(c, 500U) << policyName(p);
  }
}

TEST(Balancer, PanicStartsBelowTheThreshold) {
  EXPECT_FALSE(inPanic(5, 10, 50.0));  // exactly half healthy: not yet
  EXPECT_TRUE(inPanic(4, 10, 50.0));
  EXPECT_FALSE(inPanic(0, 10, 0.0));  // 0 turns it off
  EXPECT_FALSE(inPanic(0, 0, 50.0));

  auto b = factory(Policy::RoundRobin, specs({1, 1, 1, 1}))->forWorker(0, 1);
  std::vector<EndpointHealth> health(4);
  health[0].healthy = health[1].healthy = health[2].healthy = false;  // 25% healthy
  PickInput in;
  in.health = HealthView::of(health);
  std::set<std::size_t> seen;
  for (int k = 0; k < 8; ++k) {
    Selection s(*b, in);
    EXPECT_TRUE(s.panic());
    seen.insert(s.next());
  }
  EXPECT_EQ(seen.size(), 4U);  // the unhealthy ones too
  Selection strict(*b, in, 20.0);
  EXPECT_FALSE(strict.panic());
  EXPECT_EQ(strict.next(), 3U);
  EXPECT_EQ(strict.next(), kNone);
}

TEST(Balancer, SlowStartRampsARecoveredEndpointsShareWithTheClock) {
  FakeClock clock;
  clock.advance(seconds(1000));
  SlowStart ss;
  ss.window = seconds(30);
  ss.minPercent = 10;
  for (Policy p :
       {Policy::RoundRobin, Policy::WeightedRoundRobin, Policy::Random, Policy::LeastRequest}) {
    auto f = factory(p, specs({1, 1, 1, 1}), ss);
    auto b = f->forWorker(0, 1);
    std::vector<EndpointHealth> health(4);
    health[0].healthySince = clock.now();  // endpoint 0 just recovered; the others never failed
    PickInput in;
    in.health = HealthView::of(health);
    FakeClock c = clock;
    std::vector<double> shares;
    for (int step = 0; step <= 4; ++step) {  // 0 s, 10 s, 20 s, 30 s, 40 s after recovery
      in.now = c.now();
      auto counts = distribution(*b, 40000, in);
      double factor = ss.factor(health[0].healthySince, in.now);
      double want = factor / (factor + 3);
      double got = static_cast<double>(counts[0]) / 40000;
      std::printf("slow_start %-20s t=%2ds factor %.3f share %.4f (expected %.4f)\n",
                  std::string(policyName(p)).c_str(), step * 10, factor, got, want);
      EXPECT_NEAR(got, want, 0.015) << policyName(p) << " step " << step;
      shares.push_back(got);
      c.advance(seconds(10));
    }
    EXPECT_LT(shares[0], shares[1]);
    EXPECT_LT(shares[1], shares[2]);
    EXPECT_NEAR(shares[3], 0.25, 0.015);
    EXPECT_NEAR(shares[4], 0.25, 0.015);
  }
}

TEST(Balancer, SlowStartFactorFollowsWindowFloorAndAggression) {
  SlowStart ss;
  ss.window = seconds(10);
  ss.minPercent = 10;
  TimePoint t0 = TimePoint{} + seconds(100);
  EXPECT_DOUBLE_EQ(ss.factor(t0, t0), 0.1);
  EXPECT_DOUBLE_EQ(ss.factor(t0, t0 + seconds(5)), 0.5);
  EXPECT_DOUBLE_EQ(ss.factor(t0, t0 + seconds(10)), 1.0);
  EXPECT_DOUBLE_EQ(ss.factor(TimePoint{}, t0), 1.0);  // present from the start: no ramp
  ss.aggression = 2.0;
  EXPECT_NEAR(ss.factor(t0, t0 + seconds(5)), 0.7071, 1e-4);
  SlowStart off;
  EXPECT_DOUBLE_EQ(off.factor(t0, t0), 1.0);
}

TEST(Balancer, EmptyClusterGivesNone) {
  for (Policy p : {Policy::RoundRobin, Policy::WeightedRoundRobin, Policy::LeastRequest,
                   Policy::Random, Policy::RingHash, Policy::Maglev}) {
    auto b = factory(p, {})->forWorker(0, 1);
    Selection s(*b, {});
    EXPECT_EQ(s.next(), kNone) << policyName(p);
  }
}

TEST(Hash, IsStableAndSpreadsShortKeys) {
  EXPECT_EQ(hashString("abc"), hashString("abc"));
  EXPECT_NE(hashString("abc"), hashString("abd"));
  EXPECT_NE(hashString("abc", 1), hashString("abc", 2));
  EXPECT_NE(hashString(""), hashString(std::string_view("\0", 1)));
  // Keys that differ in one bit land in different halves about half the time.
  int high = 0;
  for (int k = 0; k < 10000; ++k) high += (hashString("/api/" + std::to_string(k)) >> 63) != 0;
  EXPECT_NEAR(high, 5000, 300);
}

TEST(Hash, FindsCookieValues) {
  EXPECT_EQ(cookieValue("a=1; session=xyz; b=2", "session"), "xyz");
  EXPECT_EQ(cookieValue("session=\"q\"", "session"), "q");
  EXPECT_EQ(cookieValue("sessionx=1; session = 2 ", "session"), "2");
  EXPECT_EQ(cookieValue("a=1", "session"), "");
  EXPECT_EQ(cookieValue("", "session"), "");
}

}  // namespace
}  // namespace ferry::balance
