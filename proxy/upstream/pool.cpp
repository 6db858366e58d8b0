#include "proxy/upstream/pool.h"

#include <algorithm>
#include <charconv>

#include "proxy/common/assert.h"

namespace ferry::upstream {

namespace {
// How long before a backend's Keep-Alive timeout an idle connection is closed: the backend's
// clock started at its last write, a little before ours, and a request sent at the edge would
// race its close.
Duration keepAliveMargin(Duration timeout) {
  return std::max<Duration>(timeout / 10, milliseconds(300));
}
}  // namespace

EndpointPool::EndpointPool(const io::Address& address, const PoolLimits& limits,
                           metrics::ClusterCounters* counters)
    : address_(address), limits_(limits), counters_(counters) {
  idle_.reserve(limits.maxIdle);
}

EndpointPool::~EndpointPool() {
  FERRY_ASSERT(head_ == nullptr);
  closeIdle();
}

EndpointPool::Take EndpointPool::take(TimePoint now, bool fresh, PooledConnection& out) {
  while (!fresh && !idle_.empty()) {
    PooledConnection c = std::move(idle_.back());
    idle_.pop_back();
    if (counters_ != nullptr) counters_->idle.sub();
    if (now >= c.expires) {
      close(c, retired(c, now) ? CloseReason::kRetired : CloseReason::kIdleExpired);
      freeSlot();
      continue;
    }
    unwatch(c);
    ++c.requests;
    out = std::move(c);
    return Take::kIdle;
  }
  if (!reserveSlot()) {
    if (idle_.empty()) return Take::kFull;
    // A retry wants a new connection: the coldest idle one makes room.
    PooledConnection c = std::move(idle_.front());
    idle_.erase(idle_.begin());
    if (counters_ != nullptr) counters_->idle.sub();
    close(c, CloseReason::kIdleExpired);
  }
  out = PooledConnection{};
  out.created = now;
  out.requests = 1;
  return Take::kOpen;
}

bool EndpointPool::reserveSlot() {
  if (shared_ != nullptr) {
    // Requests of another worker wait and this pool holds its share: a slot freed now is
    // theirs (taking it here would leave them waiting and make this pool yield it again).
    if (limits_.keepShare != 0 && total_ >= limits_.keepShare &&
        shared_->wanted.load(std::memory_order_relaxed) > waiting_) {
      return false;
    }
    if (!shared_->reserve(limits_.maxConnections)) return false;
  } else if (limits_.maxConnections != 0 && total_ >= limits_.maxConnections) {
    return false;
  }
  ++total_;
  if (counters_ != nullptr) counters_->total.add();
  return true;
}

void EndpointPool::dropSlot() {
  FERRY_ASSERT(total_ > 0);
  --total_;
  if (counters_ != nullptr) counters_->total.sub();
  if (shared_ != nullptr) shared_->release();
}

void EndpointPool::enqueue(PoolWaiter& w) {
  FERRY_ASSERT(!w.queued_);
  if (shared_ != nullptr) shared_->wanted.fetch_add(1, std::memory_order_relaxed);
  w.grant = PoolWaiter::Grant::kNone;
  w.queued_ = true;
  w.next_ = nullptr;
  w.prev_ = tail_;
  if (tail_ != nullptr) {
    tail_->next_ = &w;
  } else {
    head_ = &w;
  }
  tail_ = &w;
  ++waiting_;
}

void EndpointPool::cancel(PoolWaiter& w) {
  if (!w.queued_) return;
  if (w.prev_ != nullptr) {
    w.prev_->next_ = w.next_;
  } else {
    head_ = w.next_;
  }
  if (w.next_ != nullptr) {
    w.next_->prev_ = w.prev_;
  } else {
    tail_ = w.prev_;
  }
  w.next_ = w.prev_ = nullptr;
  w.queued_ = false;
  --waiting_;
  if (shared_ != nullptr) shared_->wanted.fetch_sub(1, std::memory_order_relaxed);
}

PoolWaiter* EndpointPool::popWaiter() {
  PoolWaiter* w = head_;
  if (w != nullptr) cancel(*w);
  return w;
}

void EndpointPool::giveBack(PooledConnection&& c, TimePoint now, Duration keepAlive) {
  if (retired(c, now)) {
    close(c, CloseReason::kRetired);
    freeSlot();
    return;
  }
  keepOrHand(std::move(c), now, keepAlive);
}

void EndpointPool::keepOrHand(PooledConnection&& c, TimePoint now, Duration keepAlive) {
  if (PoolWaiter* w = popWaiter()) {
    ++c.requests;
    w->connection = std::move(c);
    w->grant = PoolWaiter::Grant::kConnection;
    w->onGranted();
    return;
  }
  TimePoint expires = expiryOf(c, now, keepAlive);
  bool full = idle_.size() >= limits_.maxIdle || othersWant();
  if (full || expires <= now) {
    close(c, full ? CloseReason::kPoolFull : CloseReason::kIdleExpired);
    freeSlot();
    return;
  }
  c.idleSince = now;
  c.expires = expires;
  idle_.push_back(std::move(c));
  if (counters_ != nullptr) counters_->idle.add();
}

void EndpointPool::release(PooledConnection&& c, CloseReason why) {
  if (c.socket.valid() || why != CloseReason::kBroken) close(c, why);
  freeSlot();
}

void EndpointPool::freeSlot() {
  if (PoolWaiter* w = popWaiter()) {
    // The slot passes to the waiter: total_ stays.
    w->connection = PooledConnection{};
    w->grant = PoolWaiter::Grant::kSlot;
    w->onGranted();
    return;
  }
  dropSlot();
}

std::size_t EndpointPool::evictExpired(TimePoint now) {
  std::size_t n = 0;
  for (std::size_t i = 0; i < idle_.size();) {
    if (now >= idle_[i].expires) {
      PooledConnection c = std::move(idle_[i]);
      idle_.erase(idle_.begin() + static_cast<std::ptrdiff_t>(i));
      if (counters_ != nullptr) counters_->idle.sub();
      close(c, retired(c, now) ? CloseReason::kRetired : CloseReason::kIdleExpired);
      freeSlot();
      ++n;
    } else {
      ++i;
    }
  }
  return n;
}

std::size_t EndpointPool::warmDeficit() const {
  std::size_t want = std::min<std::size_t>(limits_.minIdle, limits_.maxIdle);
  std::size_t have = idle_.size() + warming_;
  if (have >= want) return 0;
  std::size_t n = want - have;
  if (limits_.maxConnections != 0) {
    std::size_t taken =
        shared_ != nullptr ? shared_->connections.load(std::memory_order_relaxed) : total_;
    std::size_t room = taken >= limits_.maxConnections ? 0 : limits_.maxConnections - taken;
    n = std::min(n, room);
  }
  return n;
}

bool EndpointPool::reserveWarm() {
  if (!reserveSlot()) return false;
  ++warming_;
  return true;
}

void EndpointPool::addWarm(PooledConnection&& c, TimePoint now) {
  FERRY_ASSERT(warming_ > 0);
  --warming_;
  if (!c.socket.valid()) {
    freeSlot();
    return;
  }
  c.created = now;
  c.requests = 0;
  keepOrHand(std::move(c), now, {});
}

void EndpointPool::closeIdle() {
  while (!idle_.empty()) {
    PooledConnection c = std::move(idle_.back());
    idle_.pop_back();
    if (counters_ != nullptr) counters_->idle.sub();
    close(c, CloseReason::kIdleExpired);
    freeSlot();
  }
}

std::size_t EndpointPool::moveIdleTo(EndpointPool& to) {
  std::size_t moved = 0;
  // Oldest first: the warmest ends at the back of to's LIFO list.
  for (PooledConnection& c : idle_) {
    if (counters_ != nullptr) counters_->idle.sub();
    if (to.idle_.size() < to.limits_.maxIdle && to.waiting_ == 0) {
      unwatch(c);  // the watch is this pool's owner's; to's owner watches it anew
      FERRY_ASSERT(total_ > 0);
      --total_;
      if (counters_ != nullptr) counters_->total.sub();
      if (shared_ != to.shared_) {  // counted by endpoint: the same object if the name stayed
        if (shared_ != nullptr) shared_->release();
        if (to.shared_ != nullptr) to.shared_->connections.fetch_add(1, std::memory_order_relaxed);
      }
      ++to.total_;
      if (to.counters_ != nullptr) {
        to.counters_->total.add();
        to.counters_->idle.add();
      }
      to.idle_.push_back(std::move(c));
      ++moved;
    } else {
      close(c, CloseReason::kPoolFull);
      freeSlot();
    }
  }
  idle_.clear();
  return moved;
}

std::size_t EndpointPool::grantSlots() {
  std::size_t n = 0;
  while (shared_ != nullptr && head_ != nullptr && reserveSlot()) {
    PoolWaiter* w = popWaiter();
    w->connection = PooledConnection{};
    w->grant = PoolWaiter::Grant::kSlot;
    w->onGranted();
    ++n;
  }
  return n;
}

std::size_t EndpointPool::yieldIdle() {
  if (!othersWant()) return 0;
  std::size_t want = shared_->wanted.load(std::memory_order_relaxed);
  std::size_t n = 0;
  while (n < want && !idle_.empty() && total_ > limits_.keepShare) {
    PooledConnection c = std::move(idle_.front());
    idle_.erase(idle_.begin());
    if (counters_ != nullptr) counters_->idle.sub();
    close(c, CloseReason::kPoolFull);
    freeSlot();
    ++n;
  }
  return n;
}

TimePoint EndpointPool::nextExpiry() const {
  TimePoint t = TimePoint::max();
  for (const PooledConnection& c : idle_) t = std::min(t, c.expires);
  return t;
}

std::size_t EndpointPool::watchIdle() {
  if (owner_ == nullptr) return 0;
  std::size_t n = 0;
  for (PooledConnection& c : idle_) {
    if (c.watch != nullptr || !c.socket.valid()) continue;
    c.watch = owner_->watch(*this, c);
    if (c.watch != nullptr) ++n;
  }
  return n;
}

bool EndpointPool::watchFired(IdleWatch& w) {
  for (std::size_t i = 0; i < idle_.size(); ++i) {
    if (idle_[i].watch != &w) continue;
    PooledConnection c = std::move(idle_[i]);
    idle_.erase(idle_.begin() + static_cast<std::ptrdiff_t>(i));
    if (counters_ != nullptr) counters_->idle.sub();
    c.watch = nullptr;  // it completed: nothing to stop
    close(c, CloseReason::kPeerClosed);
    freeSlot();
    return true;
  }
  return false;
}

void EndpointPool::unwatch(PooledConnection& c) {
  if (c.watch == nullptr) return;
  IdleWatch* w = c.watch;
  c.watch = nullptr;
  if (owner_ != nullptr) owner_->unwatch(*w);
}

TimePoint EndpointPool::expiryOf(const PooledConnection& c, TimePoint now,
                                 Duration keepAlive) const {
  TimePoint t = TimePoint::max();
  if (limits_.idleTimeout > Duration::zero()) t = now + limits_.idleTimeout;
  if (keepAlive > Duration::zero()) t = std::min(t, now + keepAlive - keepAliveMargin(keepAlive));
  if (limits_.maxConnectionLifetime > Duration::zero()) {
    t = std::min(t, c.created + limits_.maxConnectionLifetime);
  }
  return t;
}

bool EndpointPool::retired(const PooledConnection& c, TimePoint now) const {
  if (limits_.maxRequestsPerConnection != 0 && c.requests >= limits_.maxRequestsPerConnection)
    return true;
  return limits_.maxConnectionLifetime > Duration::zero() &&
         now >= c.created + limits_.maxConnectionLifetime;
}

void EndpointPool::close(PooledConnection& c, CloseReason why) {
  unwatch(c);
  if (owner_ != nullptr && c.socket.valid()) {
    bool clean = why == CloseReason::kIdleExpired || why == CloseReason::kRetired ||
                 why == CloseReason::kPoolFull;
    owner_->endSocket(*this, std::move(c.socket), clean);
  }
  c.socket.close();
  if (counters_ != nullptr) countClose(*counters_, why);
}

void countClose(metrics::ClusterCounters& counters, CloseReason why) {
  auto byReason = [&](metrics::CloseReason r) {
    counters.closedByReason[static_cast<std::size_t>(r)].add();
  };
  switch (why) {
    case CloseReason::kIdleExpired:
      counters.idleExpired.add();
      byReason(metrics::CloseReason::kIdleTimeout);
      break;
    case CloseReason::kRetired:
      counters.retired.add();
      byReason(metrics::CloseReason::kRetired);
      break;
    case CloseReason::kPoolFull:
      counters.poolFull.add();
      byReason(metrics::CloseReason::kPoolFull);
      break;
    case CloseReason::kPeerClosed:
      counters.idleClosedByPeer.add();
      byReason(metrics::CloseReason::kPeerClosed);
      break;
    case CloseReason::kBroken:  // the session counts its own (not_reusable, error)
      break;
  }
}

Duration keepAliveTimeout(std::string_view v) {
  // Parameters separated by commas: timeout=N, max=M (RFC 2068 19.7.1.1 and common practice).
  while (!v.empty()) {
    std::size_t comma = v.find(',');
    std::string_view p = v.substr(0, comma);
    v = comma == std::string_view::npos ? std::string_view() : v.substr(comma + 1);
    while (!p.empty() && (p.front() == ' ' || p.front() == '\t')) p.remove_prefix(1);
    while (!p.empty() && (p.back() == ' ' || p.back() == '\t')) p.remove_suffix(1);
    constexpr std::string_view kKey = "timeout";
    if (p.size() <= kKey.size() + 1) continue;
    bool match = true;
    for (std::size_t i = 0; i < kKey.size(); ++i) {
      char ch = p[i];
      if (ch >= 'A' && ch <= 'Z') ch = static_cast<char>(ch - 'A' + 'a');
      if (ch != kKey[i]) match = false;
    }
    if (!match) continue;
    std::string_view rest = p.substr(kKey.size());
    while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
    if (rest.empty() || rest.front() != '=') continue;
    rest.remove_prefix(1);
    while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
    std::uint32_t n = 0;
    auto [ptr, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), n);
    if (ec != std::errc() || ptr != rest.data() + rest.size()) return {};
    return seconds(n);
  }
  return {};
}

}  // namespace ferry::upstream
