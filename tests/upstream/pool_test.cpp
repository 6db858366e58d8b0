// EndpointPool: every transition and limit, with a fake clock and no sockets (the connections
// are PooledConnection records with invalid sockets; the pool never does I/O).

#include "proxy/upstream/pool.h"

#include <gtest/gtest.h>

#include <vector>

namespace ferry::upstream {
namespace {

struct FakeClock {
  TimePoint t = TimePoint{} + std::chrono::hours(1);
  TimePoint now() const { return t; }
  void advance(Duration d) { t += d; }
};

struct Waiter final : PoolWaiter {
  int granted = 0;
  void onGranted() override { ++granted; }
};

// A connection "opened" by the owner after take() said kOpen.
PooledConnection takeNew(EndpointPool& p, TimePoint now) {
  PooledConnection c;
  EXPECT_EQ(p.take(now, false, c), EndpointPool::Take::kOpen);
  return c;
}

class PoolTest : public ::testing::Test {
 protected:
  EndpointPool make(PoolLimits l) {
    return EndpointPool(*io::Address::parse("127.0.0.1:1"), l, &counters);
  }
  FakeClock clock;
  metrics::ClusterCounters counters;
};

TEST_F(PoolTest, GivenBackConnectionIsReusedWarmestFirst) {
  EndpointPool p = make({});
  PooledConnection a = takeNew(p, clock.now());
  PooledConnection b = takeNew(p, clock.now());
  EXPECT_EQ(p.total(), 2U);
  a.created = clock.now() - seconds(5);  // tell them apart
  p.giveBack(std::move(a), clock.now());
  clock.advance(milliseconds(10));
  p.giveBack(std::move(b), clock.now());
  EXPECT_EQ(p.idleCount(), 2U);
  EXPECT_EQ(counters.idle.get(), 2U);
  PooledConnection c;
  ASSERT_EQ(p.take(clock.now(), false, c), EndpointPool::Take::kIdle);
  EXPECT_EQ(c.created, clock.now() - milliseconds(10));  // b, the last given back
  EXPECT_EQ(c.requests, 2U);
  EXPECT_EQ(p.idleCount(), 1U);
  EXPECT_EQ(p.total(), 2U);
}

TEST_F(PoolTest, FreshTakeSkipsIdleConnections) {
  EndpointPool p = make({});
  p.giveBack(takeNew(p, clock.now()), clock.now());
  PooledConnection c;
  EXPECT_EQ(p.take(clock.now(), true, c), EndpointPool::Take::kOpen);
  EXPECT_EQ(p.idleCount(), 1U);
  EXPECT_EQ(p.total(), 2U);
}

TEST_F(PoolTest, FreshTakeAtTheLimitClosesTheColdestIdleForItsSlot) {
  PoolLimits l;
  l.maxConnections = 1;
  EndpointPool p = make(l);
  p.giveBack(takeNew(p, clock.now()), clock.now());
  PooledConnection c;
  EXPECT_EQ(p.take(clock.now(), true, c), EndpointPool::Take::kOpen);
  EXPECT_EQ(p.idleCount(), 0U);
  EXPECT_EQ(p.total(), 1U);
  EXPECT_EQ(counters.total.get(), 1U);
}

TEST_F(PoolTest, MaxIdleClosesTheSurplus) {
  PoolLimits l;
  l.maxIdle = 1;
  EndpointPool p = make(l);
  PooledConnection a = takeNew(p, clock.now());
  PooledConnection b = takeNew(p, clock.now());
  p.giveBack(std::move(a), clock.now());
  p.giveBack(std::move(b), clock.now());
  EXPECT_EQ(p.idleCount(), 1U);
  EXPECT_EQ(p.total(), 1U);
  EXPECT_EQ(counters.poolFull.get(), 1U);
  EXPECT_EQ(counters.total.get(), 1U);
}

TEST_F(PoolTest, MaxIdleZeroKeepsNothing) {
  PoolLimits l;
  l.maxIdle = 0;
  EndpointPool p = make(l);
  p.giveBack(takeNew(p, clock.now()), clock.now());
  EXPECT_EQ(p.idleCount(), 0U);
  EXPECT_EQ(p.total(), 0U);
}

TEST_F(PoolTest, IdleTimeoutExpiresAtTakeAndByTheTimer) {
  PoolLimits l;
  l.idleTimeout = seconds(2);
  EndpointPool p = make(l);
  p.giveBack(takeNew(p, clock.now()), clock.now());
  EXPECT_EQ(p.nextExpiry(), clock.now() + seconds(2));
  clock.advance(seconds(2));
  PooledConnection c;
  EXPECT_EQ(p.take(clock.now(), false, c), EndpointPool::Take::kOpen);  // the idle one expired
  EXPECT_EQ(counters.idleExpired.get(), 1U);
  EXPECT_EQ(p.total(), 1U);
  // The timer's way: no take at all.
  p.giveBack(std::move(c), clock.now());
  clock.advance(milliseconds(1999));
  EXPECT_EQ(p.evictExpired(clock.now()), 0U);
  clock.advance(milliseconds(1));
  EXPECT_EQ(p.evictExpired(clock.now()), 1U);
  EXPECT_EQ(p.idleCount(), 0U);
  EXPECT_EQ(p.total(), 0U);
  EXPECT_EQ(counters.idleExpired.get(), 2U);
  EXPECT_EQ(counters.idle.get(), 0U);
  EXPECT_EQ(p.nextExpiry(), TimePoint::max());
}

TEST_F(PoolTest, KeepAliveTimeoutEvictsJustBefore) {
  PoolLimits l;
  l.idleTimeout = seconds(60);
  EndpointPool p = make(l);
  p.giveBack(takeNew(p, clock.now()), clock.now(), seconds(5));
  // 5 s minus a margin of a tenth (at least 300 ms): 4.5 s.
  EXPECT_EQ(p.nextExpiry(), clock.now() + milliseconds(4500));
  clock.advance(milliseconds(4499));
  EXPECT_EQ(p.evictExpired(clock.now()), 0U);
  clock.advance(milliseconds(1));
  EXPECT_EQ(p.evictExpired(clock.now()), 1U);
  // timeout=1: 700 ms; a shorter idle_timeout wins over a longer hint.
  p.giveBack(takeNew(p, clock.now()), clock.now(), seconds(1));
  EXPECT_EQ(p.nextExpiry(), clock.now() + milliseconds(700));
  p.closeIdle();
  l.idleTimeout = seconds(1);
  EndpointPool q = make(l);
  q.giveBack(takeNew(q, clock.now()), clock.now(), seconds(30));
  EXPECT_EQ(q.nextExpiry(), clock.now() + seconds(1));
}

TEST_F(PoolTest, KeepAliveTimeoutTooShortToReuseCloses) {
  EndpointPool p = make({});
  p.giveBack(takeNew(p, clock.now()), clock.now(), milliseconds(100));
  EXPECT_EQ(p.idleCount(), 0U);
  EXPECT_EQ(p.total(), 0U);
}

TEST_F(PoolTest, MaxRequestsPerConnectionRetiresOnGiveBack) {
  PoolLimits l;
  l.maxRequestsPerConnection = 3;
  EndpointPool p = make(l);
  PooledConnection c = takeNew(p, clock.now());  // request 1
  int opened = 1;
  for (int i = 0; i < 8; ++i) {
    p.giveBack(std::move(c), clock.now());
    c = PooledConnection{};
    EndpointPool::Take t = p.take(clock.now(), false, c);
    if (t == EndpointPool::Take::kOpen) ++opened;
  }
  // 9 requests, 3 per connection.
  EXPECT_EQ(opened, 3);
  EXPECT_EQ(counters.retired.get(), 2U);
  EXPECT_EQ(p.total(), 1U);
}

TEST_F(PoolTest, MaxConnectionLifetimeRetires) {
  PoolLimits l;
  l.maxConnectionLifetime = seconds(10);
  l.idleTimeout = seconds(60);
  EndpointPool p = make(l);
  PooledConnection c = takeNew(p, clock.now());
  clock.advance(seconds(4));
  p.giveBack(std::move(c), clock.now());
  // Idle, it expires at its lifetime's end, not idle_timeout's.
  EXPECT_EQ(p.nextExpiry(), clock.now() + seconds(6));
  clock.advance(seconds(6));
  EXPECT_EQ(p.evictExpired(clock.now()), 1U);
  EXPECT_EQ(counters.retired.get(), 1U);
  // In use past its lifetime: closed when given back.
  c = takeNew(p, clock.now());
  clock.advance(seconds(11));
  p.giveBack(std::move(c), clock.now());
  EXPECT_EQ(p.idleCount(), 0U);
  EXPECT_EQ(counters.retired.get(), 2U);
  EXPECT_EQ(p.total(), 0U);
}

TEST_F(PoolTest, MaxConnectionsQueuesWaitersFifoAndHandsConnectionsOver) {
  PoolLimits l;
  l.maxConnections = 2;
  EndpointPool p = make(l);
  PooledConnection a = takeNew(p, clock.now());
  PooledConnection b = takeNew(p, clock.now());
  PooledConnection c;
  EXPECT_EQ(p.take(clock.now(), false, c), EndpointPool::Take::kFull);
  Waiter w1, w2, w3;
  p.enqueue(w1);
  p.enqueue(w2);
  p.enqueue(w3);
  EXPECT_EQ(p.waiting(), 3U);
  // A connection given back goes to the first waiter, not to the idle list.
  a.requests = 1;
  p.giveBack(std::move(a), clock.now());
  EXPECT_EQ(w1.granted, 1);
  EXPECT_EQ(w1.grant, PoolWaiter::Grant::kConnection);
  EXPECT_EQ(w1.connection.requests, 2U);
  EXPECT_EQ(w2.granted, 0);
  EXPECT_EQ(p.idleCount(), 0U);
  // A closed connection frees its slot for the next waiter.
  p.release(std::move(b));
  EXPECT_EQ(w2.grant, PoolWaiter::Grant::kSlot);
  EXPECT_EQ(p.total(), 2U);
  // The third gave up (its queue_timeout): taken out, never granted later.
  p.cancel(w3);
  EXPECT_EQ(p.waiting(), 0U);
  p.release(std::move(w1.connection));
  EXPECT_EQ(w3.granted, 0);
  EXPECT_EQ(p.total(), 1U);
}

TEST_F(PoolTest, CancelInTheMiddleKeepsOrder) {
  PoolLimits l;
  l.maxConnections = 1;
  EndpointPool p = make(l);
  PooledConnection a = takeNew(p, clock.now());
  Waiter w1, w2, w3;
  p.enqueue(w1);
  p.enqueue(w2);
  p.enqueue(w3);
  p.cancel(w2);
  p.cancel(w2);  // twice: nothing
  p.release(std::move(a));
  EXPECT_EQ(w1.grant, PoolWaiter::Grant::kSlot);
  p.release(std::move(w1.connection));
  EXPECT_EQ(w3.grant, PoolWaiter::Grant::kSlot);
  EXPECT_EQ(w2.granted, 0);
  p.release(std::move(w3.connection));
  EXPECT_EQ(p.total(), 0U);
}

TEST_F(PoolTest, ARetiredConnectionGivenBackFreesItsSlotForAWaiter) {
  PoolLimits l;
  l.maxConnections = 1;
  l.maxRequestsPerConnection = 1;
  EndpointPool p = make(l);
  PooledConnection a = takeNew(p, clock.now());
  Waiter w;
  p.enqueue(w);
  p.giveBack(std::move(a), clock.now());
  EXPECT_EQ(w.grant, PoolWaiter::Grant::kSlot);
  EXPECT_EQ(counters.retired.get(), 1U);
}

TEST_F(PoolTest, MinIdleWarmsWithinTheLimits) {
  PoolLimits l;
  l.minIdle = 3;
  l.maxIdle = 2;
  l.maxConnections = 4;
  EndpointPool p = make(l);
  EXPECT_EQ(p.warmDeficit(), 2U);  // min_idle is capped by max_idle
  ASSERT_TRUE(p.reserveWarm());
  ASSERT_TRUE(p.reserveWarm());
  EXPECT_EQ(p.warmDeficit(), 0U);              // the two in progress count
  p.addWarm(PooledConnection{}, clock.now());  // one connect failed: its slot is freed
  EXPECT_EQ(p.total(), 1U);
  EXPECT_EQ(p.warmDeficit(), 1U);
  PooledConnection ok;
  p.addWarm(std::move(ok), clock.now());  // an invalid socket counts as failed too
  EXPECT_EQ(p.total(), 0U);
  // With three in use out of four, only one more may be opened.
  PooledConnection a = takeNew(p, clock.now()), b = takeNew(p, clock.now()),
                   c = takeNew(p, clock.now());
  EXPECT_EQ(p.warmDeficit(), 1U);
  ASSERT_TRUE(p.reserveWarm());
  EXPECT_FALSE(p.reserveWarm());
  p.addWarm(PooledConnection{}, clock.now());
  p.release(std::move(a));
  p.release(std::move(b));
  p.release(std::move(c));
  EXPECT_EQ(p.total(), 0U);
  EXPECT_EQ(counters.total.get(), 0U);
}

TEST_F(PoolTest, WarmConnectionGoesToAWaiterFirst) {
  PoolLimits l;
  l.maxConnections = 1;
  l.minIdle = 1;
  EndpointPool p = make(l);
  ASSERT_TRUE(p.reserveWarm());
  PooledConnection c;
  EXPECT_EQ(p.take(clock.now(), false, c), EndpointPool::Take::kFull);
  Waiter w;
  p.enqueue(w);
  // The connect failed: the slot passes to the waiter, which opens its own.
  p.addWarm(PooledConnection{}, clock.now());
  EXPECT_EQ(w.grant, PoolWaiter::Grant::kSlot);
  EXPECT_EQ(p.total(), 1U);
  p.release(std::move(w.connection));
}

TEST_F(PoolTest, ReleaseOfAPeerClosedConnectionIsCounted) {
  EndpointPool p = make({});
  p.release(takeNew(p, clock.now()), CloseReason::kPeerClosed);
  EXPECT_EQ(counters.idleClosedByPeer.get(), 1U);
  EXPECT_EQ(p.total(), 0U);
}

// Issue 16, section 6: max_connections is the endpoint's, across the workers. Two workers'
// pools of one endpoint share SharedSlots: together they open at most max_connections; a slot
// freed on one is found by the other's grantSlots (its owner's poll), and while the other
// waits, a connection given back here is closed rather than kept idle (and idle ones yield).
TEST_F(PoolTest, MaxConnectionsHoldsAcrossTheWorkersPools) {
  PoolLimits l;
  l.maxConnections = 2;
  SharedSlots shared;
  metrics::ClusterCounters other;
  EndpointPool w0 = make(l);
  EndpointPool w1(*io::Address::parse("127.0.0.1:1"), l, &other);
  w0.share(&shared);
  w1.share(&shared);
  PooledConnection a = takeNew(w0, clock.now());
  PooledConnection b = takeNew(w1, clock.now());
  EXPECT_EQ(shared.connections.load(), 2U);
  PooledConnection c;
  EXPECT_EQ(w0.take(clock.now(), false, c), EndpointPool::Take::kFull);
  EXPECT_EQ(w1.take(clock.now(), false, c), EndpointPool::Take::kFull);
  Waiter wait;
  w1.enqueue(wait);
  EXPECT_EQ(shared.wanted.load(), 1U);
  EXPECT_EQ(w1.grantSlots(), 0U);  // nothing freed yet
  // Worker 0 gives its connection back: kept idle it would starve worker 1; closed instead.
  w0.giveBack(std::move(a), clock.now());
  EXPECT_EQ(w0.idleCount(), 0U);
  EXPECT_EQ(w0.total(), 0U);
  EXPECT_EQ(shared.connections.load(), 1U);
  EXPECT_EQ(w1.grantSlots(), 1U);
  EXPECT_EQ(wait.grant, PoolWaiter::Grant::kSlot);
  EXPECT_EQ(shared.wanted.load(), 0U);
  EXPECT_EQ(shared.connections.load(), 2U);
  EXPECT_EQ(w1.total(), 2U);
  // No one waits: given back connections stay idle again, and hold their slots.
  w1.giveBack(std::move(b), clock.now());
  EXPECT_EQ(w1.idleCount(), 1U);
  Waiter wait0;
  EXPECT_EQ(w0.take(clock.now(), false, c), EndpointPool::Take::kFull);
  w0.enqueue(wait0);
  EXPECT_EQ(w1.yieldIdle(), 1U);  // worker 1's upkeep: its idle connection goes
  EXPECT_EQ(w0.grantSlots(), 1U);
  EXPECT_EQ(wait0.grant, PoolWaiter::Grant::kSlot);
  EXPECT_EQ(shared.connections.load(), 2U);
  PooledConnection done;
  w0.release(std::move(done));
  w1.release(std::move(wait.connection));
  EXPECT_EQ(shared.connections.load(), 0U);
}

// A worker keeps its share (max_connections / workers) even while another waits: slots move
// only from a pool holding more than its share.
TEST_F(PoolTest, AWorkerKeepsItsShareOfTheSharedSlots) {
  PoolLimits l;
  l.maxConnections = 2;
  l.keepShare = 1;
  SharedSlots shared;
  metrics::ClusterCounters other;
  EndpointPool w0 = make(l);
  EndpointPool w1(*io::Address::parse("127.0.0.1:1"), l, &other);
  w0.share(&shared);
  w1.share(&shared);
  PooledConnection a = takeNew(w0, clock.now());
  PooledConnection b = takeNew(w0, clock.now());
  w0.giveBack(std::move(a), clock.now());
  Waiter wait;
  PooledConnection c;
  EXPECT_EQ(w1.take(clock.now(), false, c), EndpointPool::Take::kFull);
  w1.enqueue(wait);
  EXPECT_EQ(w0.yieldIdle(), 1U);  // two held, one is its share
  EXPECT_EQ(w1.grantSlots(), 1U);
  w0.giveBack(std::move(b), clock.now());  // its share: kept idle
  EXPECT_EQ(w0.idleCount(), 1U);
  EXPECT_EQ(w0.yieldIdle(), 0U);
  w0.closeIdle();
  w1.release(std::move(wait.connection));
  EXPECT_EQ(shared.connections.load(), 0U);
}

TEST(KeepAliveTimeout, Parses) {
  EXPECT_EQ(keepAliveTimeout("timeout=5, max=100"), seconds(5));
  EXPECT_EQ(keepAliveTimeout("max=100, Timeout = 7"), seconds(7));
  EXPECT_EQ(keepAliveTimeout("timeout=1"), seconds(1));
  EXPECT_EQ(keepAliveTimeout("max=100"), Duration{});
  EXPECT_EQ(keepAliveTimeout("timeout=abc"), Duration{});
  EXPECT_EQ(keepAliveTimeout("timeout=5s"), Duration{});
  EXPECT_EQ(keepAliveTimeout(""), Duration{});
  EXPECT_EQ(keepAliveTimeout("timeouts=5"), Duration{});
}

}  // namespace
}  // namespace ferry::upstream

namespace ferry::upstream {
namespace {

TEST_F(PoolTest, MoveIdleToAnotherPoolKeepsTheWarmestWithinItsLimit) {
  EndpointPool from = make({});
  PoolLimits small;
  small.maxIdle = 2;
  EndpointPool to = make(small);
  PooledConnection a = takeNew(from, clock.now()), b = takeNew(from, clock.now()),
                   c = takeNew(from, clock.now()), inUse = takeNew(from, clock.now());
  a.requests = 10;
  b.requests = 20;
  c.requests = 30;
  from.giveBack(std::move(a), clock.now());
  from.giveBack(std::move(b), clock.now());
  from.giveBack(std::move(c), clock.now());
  EXPECT_EQ(from.moveIdleTo(to), 2U);
  EXPECT_EQ(to.idleCount(), 2U);
  EXPECT_EQ(to.total(), 2U);
  EXPECT_EQ(from.idleCount(), 0U);
  EXPECT_EQ(from.total(), 1U);  // the one in use stays the old pool's
  PooledConnection got;
  ASSERT_EQ(to.take(clock.now(), false, got), EndpointPool::Take::kIdle);
  EXPECT_EQ(got.requests, 21U);  // b: a was the coldest and did not fit
  // Retired, the old pool keeps nothing given back.
  from.retire();
  from.giveBack(std::move(inUse), clock.now());
  EXPECT_EQ(from.total(), 0U);
  EXPECT_EQ(from.warmDeficit(), 0U);
  to.release(std::move(got));
  to.closeIdle();
  EXPECT_EQ(counters.total.get(), 0U);
  EXPECT_EQ(counters.idle.get(), 0U);
}

}  // namespace
}  // namespace ferry::upstream
