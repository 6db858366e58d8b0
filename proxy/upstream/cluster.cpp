#include "proxy/upstream/cluster.h"

#include <algorithm>

#include "proxy/common/assert.h"
#include "proxy/common/log.h"
#include "proxy/io/awaitables.h"
#include "proxy/io/connect_by_list.h"

namespace ferry::upstream {

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
  for (const config::EndpointConfig& e : c.endpoints) specs.push_back({e.address, e.weight});
  return balance::BalancerFactory::build(b, specs);
}

PoolLimits poolLimits(const config::ClusterConfig& c) {
  PoolLimits l;
  l.maxConnections = c.maxConnections;
  l.maxIdle = c.maxIdlePerWorker;
  l.minIdle = c.minIdle;
  l.idleTimeout = c.idleTimeout;
  l.maxRequestsPerConnection = c.maxRequestsPerConnection;
  l.maxConnectionLifetime = c.maxConnectionLifetime;
  return l;
}

namespace {
// connect_by_list as an awaitable: the operation lives in the awaiting coroutine's frame.
class ListConnect final : public io::ConnectByListOp {
 public:
  explicit ListConnect(io::Proactor& p) : proactor_(p) {}
  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> h) {
    handle_ = h;
    io::connectByList(proactor_, *this);
  }
  std::error_code await_resume() const noexcept { return ec_; }
  void onComplete(std::error_code ec, std::size_t) override {
    ec_ = ec;
    handle_.resume();
  }

 private:
  io::Proactor& proactor_;
  std::coroutine_handle<> handle_;
  std::error_code ec_;
};
}  // namespace

Task<Connected> connectTo(io::Proactor& p, std::shared_ptr<const AddressList> list,
                          std::span<const char> first, Duration timeout,
                          InFlightConnect* inFlight) {
  Connected out;
  if (!list || list->addresses.empty()) {
    out.ec = std::make_error_code(std::errc::host_unreachable);
    co_return out;
  }
  if (list->addresses.size() == 1) {
    auto c = io::connect(p, list->addresses[0], first, timeout);
    if (inFlight != nullptr) inFlight->one = &c;
    out.ec = (co_await c).ec;
    if (inFlight != nullptr) inFlight->one = nullptr;
    if (!out.ec) {
      out.socket = std::move(c.socket);
      out.remote = list->addresses[0];
      out.firstSent = true;
    }
    co_return out;
  }
  ListConnect c(p);
  c.addresses = list->addresses;
  c.timeout = timeout;         // the whole operation
  c.attemptTimeout = timeout;  // a hanging address is passed by the stagger, not by its own bound
  if (inFlight != nullptr) inFlight->list = &c;
  out.ec = co_await c;
  if (inFlight != nullptr) inFlight->list = nullptr;
  if (!out.ec) {
    out.socket = std::move(c.socket);
    out.remote = c.remote;
  }
  co_return out;
}

void Lease::giveBack(TimePoint now, Duration keepAlive) {
  if (pool_ == nullptr) return;
  if (epochNow_ != nullptr && *epochNow_ != epoch_) {
    // An address left the endpoint's list meanwhile: this connection may lead to it.
    EndpointPool* p = pool_;
    pool_ = nullptr;
    p->release(std::move(conn_), CloseReason::kRetired);
    conn_ = PooledConnection{};
    return;
  }
  EndpointPool* p = pool_;
  pool_ = nullptr;
  p->giveBack(std::move(conn_), now, keepAlive);
  conn_ = PooledConnection{};
}

void Lease::drop() {
  if (pool_ == nullptr) return;
  EndpointPool* p = pool_;
  pool_ = nullptr;
  p->release(std::move(conn_));
  conn_ = PooledConnection{};
}

// The cluster's timers on the worker's proactor: the upkeep (idle expiry and min_idle) and the
// slot poll (pollSlots).
struct Cluster::Upkeep final : io::TimerOp {
  explicit Upkeep(Cluster* c, void (Cluster::*f)()) : cluster(c), run(f) {}
  Cluster* cluster = nullptr;
  void (Cluster::*run)();
  bool orphan = false;     // its cluster is gone: the cancelled timer's completion frees it
  bool cancelled = false;  // a cancel was asked (asking twice would complete it twice)
  void onComplete(std::error_code ec, std::size_t) override {
    if (orphan) {
      delete this;
      return;
    }
    if (ec == std::errc::operation_canceled || cluster == nullptr) return;
    (cluster->*run)();
  }
};

// The watch of one idle connection: a wait_readable on its socket that completes when the
// backend closes it. Made by the upkeep (never on the request path), then reused. A stopped
// watch (its connection taken or closed) still completes later, since a cancel is
// asynchronous; its storage lives until then, past the cluster if need be (orphaned: it frees
// itself on that completion).
struct Cluster::Watch final : io::WaitReadableOp, IdleWatch {
  Cluster* cluster = nullptr;    // null: orphaned (the cluster is gone)
  EndpointPool* pool = nullptr;  // while armed: the pool of the connection it watches
  bool stopped = false;          // unwatch() asked: the completion only frees it for reuse
  void onComplete(std::error_code, std::size_t) override {
    if (cluster == nullptr) {
      delete this;
      return;
    }
    cluster->watchDone(*this);
  }
};

// A warm connect in flight, in its coroutine's frame (see warm()). Linked into the cluster's
// list so that the cluster's teardown can cancel the connect and tell the coroutine, which then
// resumes without touching the cluster: a reload may drop a cluster while its min_idle
// connects wait on a backend that is slow to accept.
struct Cluster::WarmTicket {
  explicit WarmTicket(Cluster& c) : cluster(&c), next(c.warming_) {
    if (next != nullptr) next->prev = this;
    c.warming_ = this;
  }
  ~WarmTicket() {
    if (cluster == nullptr) return;  // orphaned: the list is gone with its cluster
    (prev != nullptr ? prev->next : cluster->warming_) = next;
    if (next != nullptr) next->prev = prev;
  }
  WarmTicket(const WarmTicket&) = delete;
  WarmTicket& operator=(const WarmTicket&) = delete;
  Cluster* cluster;         // null: orphaned (the cluster is gone)
  InFlightConnect connect;  // set by connectTo while the connect is pending
  WarmTicket* prev = nullptr;
  WarmTicket* next;
};

namespace {
// A request waiting in an endpoint's queue: a timer for queue_timeout that a grant cancels, so
// the waiting coroutine always resumes from the proactor (never inside another request's call
// into the pool) and holds one operation, no allocation.
class QueueWait final : public io::TimerOp, public PoolWaiter {
 public:
  QueueWait(io::Proactor& p, Duration t) : proactor_(p) { timeout = t; }
  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> h) {
    handle_ = h;
    proactor_.startTimer(*this);
  }
  void await_resume() noexcept {}
  void onGranted() override { proactor_.cancel(static_cast<io::TimerOp&>(*this)); }
  void onComplete(std::error_code, std::size_t) override { handle_.resume(); }

 private:
  io::Proactor& proactor_;
  std::coroutine_handle<> handle_;
};

// The upkeep period: often enough that an idle connection is closed within a quarter of its
// idle timeout, and before a backend's Keep-Alive timeout (the pool closes 300 ms ahead of it),
// rarely enough to cost nothing (a walk over the endpoints' idle lists).
Duration upkeepPeriod(const config::ClusterConfig& c) {
  Duration p = milliseconds(200);
  if (c.idleTimeout > Duration::zero()) p = std::min(p, c.idleTimeout / 4);
  if (c.maxConnectionLifetime > Duration::zero()) p = std::min(p, c.maxConnectionLifetime / 4);
  return std::max<Duration>(p, milliseconds(10));
}
}  // namespace

Cluster::Cluster(const config::ClusterConfig& cfg, const balance::BalancerFactory& factory,
                 unsigned worker, unsigned workers, metrics::ClusterCounters& counters)
    : cfg_(&cfg),
      counters_(&counters),
      balancer_(factory.forWorker(worker, workers)),
      active_(cfg.endpoints.size(), 0),
      board_(std::make_shared<HealthBoard>(cfg)),
      outlier_(cfg.outlierDetection),
      retryPolicy_(RetryPolicy::from(cfg.retry)),
      worker_(worker),
      rng_(balance::mix64(0x7265747279ULL + worker)),
      health_(cfg.endpoints.size()) {
  PoolLimits limits = poolLimits(cfg);
  limits.keepShare = cfg.maxConnections / std::max(1U, workers);
  endpoints_.reserve(cfg.endpoints.size());
  eps_.resize(cfg.endpoints.size());
  for (std::size_t i = 0; i < cfg.endpoints.size(); ++i) {
    const config::EndpointConfig& e = cfg.endpoints[i];
    // A name's pool has no one address: the pool keeps the endpoint's connections, whichever
    // address each reached.
    endpoints_.emplace_back(e.literal.value_or(io::Address()), limits, counters_);
    endpoints_.back().share(&board_->endpoint(i).slots);
    if (e.literal) {
      eps_[i].source = ResolvedName::fixed(*e.literal);
      eps_[i].list = eps_[i].source->current();
    }
  }
}

void Cluster::attachSources(std::span<const std::shared_ptr<ResolvedName>> sources) {
  for (std::size_t i = 0; i < eps_.size() && i < sources.size(); ++i) {
    if (sources[i]) eps_[i].source = sources[i];
  }
  refreshAddresses();
}

std::size_t Cluster::refreshAddresses() {
  std::size_t changed = 0;
  for (std::size_t i = 0; i < eps_.size(); ++i) {
    Addresses& a = eps_[i];
    if (!a.source) continue;
    std::shared_ptr<const AddressList> now = a.source->current();
    if (now == a.list) continue;
    ++changed;
    bool lost = false;
    if (a.list) {
      for (const io::Address& old : a.list->addresses) {
        if (!now ||
            std::find(now->addresses.begin(), now->addresses.end(), old) == now->addresses.end()) {
          lost = true;
        }
      }
    }
    a.list = std::move(now);
    if (lost) {
      ++a.epoch;
      endpoints_[i].closeIdle();
    }
  }
  return changed;
}

Cluster::Cluster(Cluster&& o) noexcept
    : cfg_(o.cfg_),
      counters_(o.counters_),
      endpoints_(std::move(o.endpoints_)),
      eps_(std::move(o.eps_)),
      balancer_(std::move(o.balancer_)),
      active_(std::move(o.active_)),
      board_(std::move(o.board_)),
      outlier_(std::move(o.outlier_)),
      retryPolicy_(std::move(o.retryPolicy_)),
      worker_(o.worker_),
      rng_(o.rng_),
      health_(std::move(o.health_)),
      healthyCount_(o.healthyCount_),
      seenVersion_(o.seenVersion_),
      nextExpiry_(o.nextExpiry_),
      endpointCells_(std::move(o.endpointCells_)) {
  FERRY_RELEASE_ASSERT(o.proactor_ == nullptr);
}

Cluster::~Cluster() {
  // Idle connections close now (their watches stop); watches still due to complete and warm
  // connects in flight are detached and cancelled: they finish without the cluster.
  for (EndpointPool& p : endpoints_) {
    p.closeIdle();
    p.setOwner(nullptr);
  }
  for (std::unique_ptr<Watch>& w : watches_) {
    if (!w->pending()) continue;
    w->cluster = nullptr;
    if (!w->stopped) proactor_->cancel(*w);
    static_cast<void>(w.release());
  }
  while (warming_ != nullptr) {
    WarmTicket* t = warming_;
    warming_ = t->next;
    t->cluster = nullptr;
    t->connect.cancel(*proactor_);
  }
  // A cancelled timer still completes later (deferred): a pending upkeep outlives the cluster
  // (a reload may remove it while the worker runs) and frees itself on that completion.
  for (std::unique_ptr<Upkeep>* t : {&upkeep_, &poll_}) {
    if (!*t || !(*t)->pending()) continue;
    (*t)->cluster = nullptr;
    (*t)->orphan = true;
    if (!(*t)->cancelled) proactor_->cancel(**t);
    static_cast<void>(t->release());
  }
}

void Cluster::start(io::Proactor& p) {
  if (proactor_ != nullptr) return;
  proactor_ = &p;
  for (EndpointPool& e : endpoints_) e.setOwner(this);
  upkeep_ = std::make_unique<Upkeep>(this, &Cluster::upkeep);
  poll_ = std::make_unique<Upkeep>(this, &Cluster::pollSlots);
  upkeep();
}

void Cluster::upkeep() {
  TimePoint now = clock_.now();
  if (worker_ == 0) refreshHealth(now);  // panic is logged even with no traffic
  for (std::size_t i = 0; i < endpoints_.size(); ++i) {
    EndpointPool& pool = endpoints_[i];
    pool.evictExpired(now);
    pool.yieldIdle();  // another worker's request waits for a slot these hold
    pool.watchIdle();
    for (std::size_t n = pool.warmDeficit(); n > 0 && pool.reserveWarm(); --n) spawn(warm(i));
  }
  provisionWatches();
  upkeep_->timeout = upkeepPeriod(*cfg_);
  proactor_->startTimer(*upkeep_);
}

Task<void> Cluster::warm(std::size_t ep) {
  EndpointPool& pool = endpoints_[ep];
  std::uint64_t epoch = eps_[ep].epoch;
  PooledConnection conn;
  if (!eps_[ep].list) {  // a name not resolved yet: nothing to open
    pool.addWarm(std::move(conn), clock_.now());
    co_return;
  }
  WarmTicket ticket(*this);
  Connected c =
      co_await connectTo(*proactor_, eps_[ep].list, {}, cfg_->connectTimeout, &ticket.connect);
  if (ticket.cluster == nullptr) co_return;  // the cluster is gone; c's socket closes here
  if (!c.ec && eps_[ep].epoch == epoch) {
    counters_->opened.add();
    counters_->warmOpened.add();
    conn.socket = std::move(c.socket);
  } else if (c.ec) {
    counters_->connectFailures.add();
    log::debug("cluster {}: warm connection to {}: {}", cfg_->name, endpointName(ep),
               c.ec.message());
  }
  pool.addWarm(std::move(conn), clock_.now());
}

Cluster::Watch* Cluster::newWatch() {
  watches_.push_back(std::make_unique<Watch>());
  Watch* w = watches_.back().get();
  w->cluster = this;
  freeWatches_.reserve(watches_.size());  // giving watches back never allocates
  return w;
}

void Cluster::provisionWatches() {
  // Idle connections are watched, and a connection just taken may still have its stopped
  // watch in flight: twice the connections open is enough, so that in steady state (no more
  // connections than before) the upkeep never allocates.
  std::size_t open = 0;
  for (const EndpointPool& p : endpoints_) open += p.total();
  while (watches_.size() < 2 * open) freeWatches_.push_back(newWatch());
}

IdleWatch* Cluster::watch(EndpointPool& pool, const PooledConnection& c) {
  if (proactor_ == nullptr) return nullptr;
  Watch* w = nullptr;
  if (!freeWatches_.empty()) {
    w = freeWatches_.back();
    freeWatches_.pop_back();
  } else {
    w = newWatch();  // past what provisionWatches foresaw
  }
  w->pool = &pool;
  w->stopped = false;
  w->socket = c.socket.native();
  w->timeout = Duration::zero();
  proactor_->waitReadable(*w);
  return w;
}

void Cluster::unwatch(IdleWatch& iw) {
  auto& w = static_cast<Watch&>(iw);
  w.stopped = true;
  proactor_->cancel(w);
}

void Cluster::watchDone(Watch& w) {
  EndpointPool* pool = w.pool;
  bool fired = !w.stopped;
  w.pool = nullptr;
  freeWatches_.push_back(&w);
  if (!fired || pool == nullptr || !pool->watchFired(w)) return;
  std::size_t ep = static_cast<std::size_t>(pool - endpoints_.data());
  if (metrics::EndpointCounters* cells = endpointCells(ep)) cells->idle.set(pool->idleCount());
  log::debug("cluster {}: {} closed an idle connection", cfg_->name, endpointName(ep));
}

void Cluster::endSocket(EndpointPool& pool, io::Socket&& s, bool clean) {
  // Windows recycles a socket for the next ConnectEx to the same address: an IP literal's. A DNS
  // name's pool has no one address (its connections may lead to any of the name's), so they close.
  if (clean && proactor_ != nullptr && pool.address().valid()) {
    proactor_->endForReuse(std::move(s), pool.address());  // Windows: DisconnectEx, reuse
  } else {
    s.close();
  }
}

std::size_t Cluster::adoptPools(Cluster& old) {
  std::size_t moved = 0;
  for (std::size_t i = 0; i < old.endpoints_.size(); ++i) {
    for (std::size_t k = 0; k < endpoints_.size(); ++k) {
      // The same endpoint, and no address it had is gone: its connections are still good.
      const auto& a = eps_[k].list;
      const auto& b = old.eps_[i].list;
      bool same = a == b || (a && b && a->addresses == b->addresses);
      if (endpointName(k) == old.endpointName(i) && same) {
        moved += old.endpoints_[i].moveIdleTo(endpoints_[k]);
        break;
      }
    }
  }
  old.retire();
  return moved;
}

void Cluster::retire() {
  retired_ = true;
  for (EndpointPool& p : endpoints_) p.retire();
  if (upkeep_) stopTimer(*upkeep_);
}

void Cluster::stopTimer(Upkeep& t) {
  if (t.pending() && !t.cancelled) {
    t.cancelled = true;
    proactor_->cancel(t);
  }
  t.cluster = nullptr;
}

void Cluster::armPoll() {
  if (poll_ == nullptr || poll_->cluster == nullptr || poll_->pending()) return;
  poll_->timeout = milliseconds(5);
  proactor_->startTimer(*poll_);
}

void Cluster::pollSlots() {
  bool waiting = false;
  for (EndpointPool& p : endpoints_) {
    p.grantSlots();
    waiting = waiting || p.waiting() != 0;
  }
  if (waiting) armPoll();
}

bool Cluster::quiescent() const {
  if (requests_ != 0 || pending_ != 0) return false;
  for (const EndpointPool& p : endpoints_) {
    if (p.total() != 0 || p.waiting() != 0) return false;
  }
  return (upkeep_ == nullptr || !upkeep_->pending()) && (poll_ == nullptr || !poll_->pending());
}

bool Cluster::admit() {
  // Counted cluster-wide only when limited: no shared write per request otherwise.
  if (cfg_->maxActiveRequests != 0) {
    std::atomic<std::uint32_t>& all = board_->counts().requests;
    std::uint32_t n = all.load(std::memory_order_relaxed);
    do {
      if (n >= cfg_->maxActiveRequests) {
        counters_->rejectedActive.add();
        return false;
      }
    } while (!all.compare_exchange_weak(n, n + 1, std::memory_order_relaxed));
  }
  ++requests_;
  counters_->requests.add();
  return true;
}

void Cluster::finish() {
  if (cfg_->maxActiveRequests != 0) {
    board_->counts().requests.fetch_sub(1, std::memory_order_relaxed);
  }
  --requests_;
  counters_->requests.sub();
}

Task<Cluster::Acquire> Cluster::acquire(io::Proactor& p, std::size_t ep, bool fresh, bool verify,
                                        Lease& lease) {
  start(p);
  EndpointPool& pool = endpoints_[ep];
  lease.drop();
  lease.epoch_ = eps_[ep].epoch;
  lease.epochNow_ = &eps_[ep].epoch;
  for (;;) {
    PooledConnection conn;
    EndpointPool::Take t = pool.take(clock_.now(), fresh, conn);
    if (t == EndpointPool::Take::kIdle) {
      if (verify && !conn.socket.idleAndOpen()) {
        pool.release(std::move(conn), CloseReason::kPeerClosed);
        continue;
      }
      lease.pool_ = &pool;
      lease.conn_ = std::move(conn);
      lease.reused_ = true;
      co_return Acquire::kReady;
    }
    if (t == EndpointPool::Take::kOpen) {
      lease.pool_ = &pool;
      lease.conn_ = std::move(conn);
      lease.reused_ = false;
      provisionWatches();  // a new connection: its watch is made now, not at a later tick
      co_return Acquire::kReady;
    }
    std::atomic<std::uint32_t>& waiting = board_->counts().pending;
    if (waiting.fetch_add(1, std::memory_order_relaxed) >= cfg_->maxPendingRequests) {
      waiting.fetch_sub(1, std::memory_order_relaxed);
      counters_->rejectedPending.add();
      co_return Acquire::kOverloaded;
    }
    QueueWait w(p, cfg_->queueTimeout);
    pool.enqueue(w);
    ++pending_;
    counters_->pending.add();
    counters_->queued.add();
    armPoll();  // the slot may come from another worker
    co_await w;
    waiting.fetch_sub(1, std::memory_order_relaxed);
    --pending_;
    counters_->pending.sub();
    if (w.grant == PoolWaiter::Grant::kNone) {
      pool.cancel(w);
      counters_->queueTimeouts.add();
      co_return Acquire::kQueueTimeout;
    }
    lease.pool_ = &pool;
    lease.reused_ = false;
    lease.conn_ = std::move(w.connection);
    if (w.grant == PoolWaiter::Grant::kConnection) {
      if (!fresh && (!verify || lease.conn_.socket.idleAndOpen())) {
        lease.reused_ = true;
        co_return Acquire::kReady;
      }
      // Closed meanwhile, or a retry that wants a new one: keep the slot, open anew.
      lease.conn_.socket.close();
      if (!fresh) countClose(*counters_, CloseReason::kPeerClosed);
    }
    lease.conn_.created = clock_.now();
    lease.conn_.requests = 1;
    co_return Acquire::kReady;
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
  for (std::size_t i = 0; i < endpoints_.size(); ++i) {
    FERRY_ASSERT(endpoints_[i].total() == 0);
    endpoints_[i].share(&board_->endpoint(i).slots);
  }
  seenVersion_ = 0;
}

void Cluster::report(std::size_t ep, OutlierDetector::Result r) {
  if (!outlier_.enabled()) return;
  TimePoint now = clock_.now();
  if (outlier_.report(ep, r, now, *board_)) {
    counters_->ejections.add();
    log::warn("outlier detection: endpoint {} of cluster {} ejected for {} ms (ejection {})",
              endpointName(ep), cfg_->name,
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
  if (worker_ == 0 && !retired_) logPanic();
}

void Cluster::logPanic() {
  bool panic = balance::inPanic(healthyCount_, endpoints_.size(), cfg_->healthyPanicThreshold);
  if (board_->counts().panic.exchange(panic, std::memory_order_relaxed) == panic) return;
  if (panic) {
    log::warn(
        "cluster {}: panic: {} of {} endpoints healthy, below healthy_panic_threshold {}%; "
        "every endpoint gets traffic",
        cfg_->name, healthyCount_, endpoints_.size(), cfg_->healthyPanicThreshold);
  } else {
    log::info("cluster {}: out of panic: {} of {} endpoints healthy", cfg_->name, healthyCount_,
              endpoints_.size());
  }
}

}  // namespace ferry::upstream
