// EndpointPool and its owner (PoolOwner): idle connections watched for the backend's close, every
// watch stopped before its connection leaves the idle list, and sockets ended cleanly (for
// reuse) only when ferry ends a connection that is fine. A fake owner records the calls; the
// sockets are fake handles that the owner takes and never closes (no I/O here).

#include <gtest/gtest.h>

#include <vector>

#include "proxy/upstream/pool.h"

namespace ferry::upstream {
namespace {

struct FakeWatch final : IdleWatch {
  io::NativeHandle socket = io::kInvalidHandle;
  bool stopped = false;
};

class FakeOwner final : public PoolOwner {
 public:
  IdleWatch* watch(EndpointPool&, const PooledConnection& c) override {
    watches.push_back(std::make_unique<FakeWatch>());
    watches.back()->socket = c.socket.native();
    return watches.back().get();
  }
  void unwatch(IdleWatch& w) override {
    auto& f = static_cast<FakeWatch&>(w);
    EXPECT_FALSE(f.stopped) << "stopped twice";
    f.stopped = true;
  }
  void endSocket(EndpointPool&, io::Socket&& s, bool clean) override {
    ended.push_back({s.release(), clean});
  }
  std::size_t armed() const {
    std::size_t n = 0;
    for (const auto& w : watches) n += w->stopped ? 0 : 1;
    return n;
  }
  struct Ended {
    io::NativeHandle socket;
    bool clean;
  };
  std::vector<std::unique_ptr<FakeWatch>> watches;
  std::vector<Ended> ended;
};

struct Waiter final : PoolWaiter {
  int granted = 0;
  void onGranted() override { ++granted; }
};

class PoolWatchTest : public ::testing::Test {
 protected:
  EndpointPool make(PoolLimits l) {
    EndpointPool p(*io::Address::parse("127.0.0.1:1"), l, &counters);
    p.setOwner(&owner);
    return p;
  }
  // A connection "opened" after take() said kOpen, with a fake handle nobody closes.
  PooledConnection open(EndpointPool& p) {
    PooledConnection c;
    EXPECT_EQ(p.take(now, false, c), EndpointPool::Take::kOpen);
    c.socket = io::Socket(static_cast<io::NativeHandle>(nextHandle++));
    return c;
  }
  static void forget(PooledConnection& c) { static_cast<void>(c.socket.release()); }
  double closed(metrics::CloseReason r) const {
    return static_cast<double>(counters.closedByReason[static_cast<std::size_t>(r)].get());
  }

  TimePoint now = TimePoint{} + std::chrono::hours(1);
  int nextHandle = 1000000;
  metrics::ClusterCounters counters;
  FakeOwner owner;
};

TEST_F(PoolWatchTest, IdleConnectionsAreWatchedOnceAndATakeStopsTheWatchFirst) {
  EndpointPool p = make({});
  PooledConnection a = open(p), b = open(p);
  io::NativeHandle bh = b.socket.native();
  p.giveBack(std::move(a), now);
  p.giveBack(std::move(b), now);
  EXPECT_EQ(owner.watches.size(), 0U) << "given back: not watched until the owner asks";
  EXPECT_EQ(p.watchIdle(), 2U);
  EXPECT_EQ(p.watchIdle(), 0U) << "already watched";
  ASSERT_EQ(owner.armed(), 2U);
  PooledConnection c;
  ASSERT_EQ(p.take(now, false, c), EndpointPool::Take::kIdle);
  EXPECT_EQ(c.socket.native(), bh);
  EXPECT_EQ(c.watch, nullptr);
  EXPECT_TRUE(owner.watches[1]->stopped);  // b's watch, stopped before b was handed out
  EXPECT_EQ(owner.armed(), 1U);
  // Given back again and taken at once (the keep-alive path): no watch started or stopped.
  p.giveBack(std::move(c), now);
  ASSERT_EQ(p.take(now, false, c), EndpointPool::Take::kIdle);
  EXPECT_EQ(owner.watches.size(), 2U);
  EXPECT_EQ(owner.armed(), 1U);
  forget(c);
}

TEST_F(PoolWatchTest, AFiredWatchClosesItsConnectionCountsPeerClosedAndFreesTheSlot) {
  PoolLimits l;
  l.maxConnections = 2;
  EndpointPool p = make(l);
  PooledConnection a = open(p), b = open(p);
  io::NativeHandle ah = a.socket.native();
  p.giveBack(std::move(a), now);
  ASSERT_EQ(p.watchIdle(), 1U);
  PooledConnection c;
  ASSERT_EQ(p.take(now, true, c), EndpointPool::Take::kOpen);  // fresh: the idle one made room
  forget(c);
  ASSERT_EQ(p.total(), 2U);
  EXPECT_EQ(owner.ended.size(), 1U);
  // Put one idle again, watch it, queue a waiter, then the backend closes the idle one.
  p.giveBack(std::move(b), now);
  ASSERT_EQ(p.watchIdle(), 1U);
  FakeWatch& watch = *owner.watches.back();
  ASSERT_EQ(p.take(now, false, c), EndpointPool::Take::kIdle);
  p.giveBack(std::move(c), now);  // back, unwatched (its watch stopped at the take)
  EXPECT_FALSE(p.watchFired(watch)) << "a stopped watch's completion closes nothing";
  ASSERT_EQ(p.watchIdle(), 1U);
  FakeWatch& again = *owner.watches.back();
  EXPECT_TRUE(p.watchFired(again));
  EXPECT_EQ(p.idleCount(), 0U);
  EXPECT_EQ(p.total(), 1U);
  EXPECT_FALSE(again.stopped) << "a completed watch is not stopped";
  EXPECT_EQ(counters.idleClosedByPeer.get(), 1U);
  EXPECT_EQ(closed(metrics::CloseReason::kPeerClosed), 1);
  ASSERT_EQ(owner.ended.size(), 2U);
  EXPECT_FALSE(owner.ended.back().clean);
  EXPECT_NE(owner.ended.back().socket, ah);
  // Its slot is free again: a request waiting at max_connections gets it.
  PooledConnection e;
  ASSERT_EQ(p.take(now, false, e), EndpointPool::Take::kOpen);
  ASSERT_EQ(p.take(now, false, c), EndpointPool::Take::kFull);
  Waiter w;
  p.enqueue(w);
  p.release(std::move(e));
  EXPECT_EQ(w.granted, 1);
  EXPECT_EQ(w.grant, PoolWaiter::Grant::kSlot);
}

TEST_F(PoolWatchTest, EveryCloseStopsTheWatchAndOnlyFerrysOwnEndsAreClean) {
  PoolLimits l;
  l.maxIdle = 1;
  l.idleTimeout = seconds(10);
  l.maxRequestsPerConnection = 3;
  EndpointPool p = make(l);
  PooledConnection a = open(p), b = open(p), c = open(p), d = open(p);
  p.giveBack(std::move(a), now);
  p.giveBack(std::move(b), now);  // max_idle 1: closed (pool_full), clean
  ASSERT_EQ(owner.ended.size(), 1U);
  EXPECT_TRUE(owner.ended[0].clean);
  EXPECT_EQ(closed(metrics::CloseReason::kPoolFull), 1);
  ASSERT_EQ(p.watchIdle(), 1U);
  now += seconds(11);
  EXPECT_EQ(p.evictExpired(now), 1U);  // idle_timeout: watch stopped, clean
  EXPECT_TRUE(owner.watches[0]->stopped);
  EXPECT_TRUE(owner.ended[1].clean);
  EXPECT_EQ(closed(metrics::CloseReason::kIdleTimeout), 1);
  c.requests = 3;
  p.giveBack(std::move(c), now);  // max_requests_per_connection: retired, clean
  EXPECT_TRUE(owner.ended[2].clean);
  EXPECT_EQ(closed(metrics::CloseReason::kRetired), 1);
  p.release(std::move(d));  // an error: plain close, counted by the session, not here
  ASSERT_EQ(owner.ended.size(), 4U);
  EXPECT_FALSE(owner.ended[3].clean);
  EXPECT_EQ(p.total(), 0U);
}

TEST_F(PoolWatchTest, CloseIdleAndMovingToAnotherPoolStopTheWatches) {
  EndpointPool p = make({});
  FakeOwner other;
  EndpointPool q(*io::Address::parse("127.0.0.1:1"), PoolLimits{}, &counters);
  q.setOwner(&other);
  PooledConnection a = open(p), b = open(p);
  p.giveBack(std::move(a), now);
  p.giveBack(std::move(b), now);
  ASSERT_EQ(p.watchIdle(), 2U);
  EXPECT_EQ(p.moveIdleTo(q), 2U);
  EXPECT_EQ(owner.armed(), 0U) << "the old owner's watches stopped";
  EXPECT_EQ(q.watchIdle(), 2U) << "the new owner watches them anew";
  q.closeIdle();
  EXPECT_EQ(other.armed(), 0U);
  EXPECT_EQ(other.ended.size(), 2U);
  EXPECT_EQ(q.total(), 0U);
}

}  // namespace
}  // namespace ferry::upstream
