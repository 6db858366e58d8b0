#pragma once
// A cluster as one worker sees it: its endpoints, each with its connection pool (pool.h), the
// cluster's admission limits, and its balancer. One per worker and cluster: no locks.
//
// A request to a cluster: admit() (max_active_requests: refused at once when full), pick an
// endpoint, acquire() a connection from its pool (an idle one, a slot to open a new one, or a
// wait in the endpoint's FIFO queue bounded by max_pending_requests and queue_timeout), the
// exchange, then the Lease gives the connection back (or closes it and frees the slot).
//
// Limits are cluster-wide, as HAProxy's maxconn and Envoy's circuit breakers: max_connections
// (per endpoint), max_active_requests, max_pending_requests, the retry budget and the outlier
// detection counts live on the cluster's HealthBoard, which every worker's Cluster of one
// config snapshot shares (attachHealth). The request path touches them with one atomic per
// admission, per connection opened or closed, per wait, per retry decision and per outlier
// report: never a lock, never per byte. Pools, balancers and idle connections stay per worker.

#include <atomic>
#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "proxy/balance/balancer.h"
#include "proxy/common/task.h"
#include "proxy/common/time.h"
#include "proxy/config/config.h"
#include "proxy/io/connect_by_list.h"
#include "proxy/io/proactor.h"
#include "proxy/io/socket.h"
#include "proxy/metrics/metrics.h"
#include "proxy/upstream/health.h"
#include "proxy/upstream/outlier.h"
#include "proxy/upstream/pool.h"
#include "proxy/upstream/resolver.h"
#include "proxy/upstream/retry.h"

namespace ferry::upstream {

// The balancer of a cluster, built once per config snapshot and shared by the workers (each
// takes its own per-worker Balancer from it).
std::shared_ptr<const balance::BalancerFactory> makeBalancerFactory(const config::ClusterConfig& c);

// The pool limits a cluster's config sets.
PoolLimits poolLimits(const config::ClusterConfig& c);

// What connecting to an endpoint gave (connectTo).
struct Connected {
  std::error_code ec;
  io::Socket socket;
  io::Address remote;      // the address that answered
  bool firstSent = false;  // `first` rode the handshake (one address); else the caller sends it
};

// Where a connect in flight can be cancelled from (connectTo's inFlight: a warm connect that its
// cluster's teardown stops). Set while the connect is pending, cleared when it completes.
struct InFlightConnect {
  io::ConnectOp* one = nullptr;
  io::ConnectByListOp* list = nullptr;
  void cancel(io::Proactor& p) const {
    if (one != nullptr) p.cancel(*one);
    if (list != nullptr) list->cancel();
  }
};

// Connects to one of list's addresses. With exactly one (an IP literal), connect_ex with `first`
// riding the handshake, bounded by timeout; with several, connect_by_list (best first, RFC 8305
// stagger) bounded by timeout in all, and `first` is left to the caller. An empty or null list
// fails at once with host_unreachable. Worker thread; list is pinned for the connect's life.
Task<Connected> connectTo(io::Proactor& p, std::shared_ptr<const AddressList> list,
                          std::span<const char> first, Duration timeout,
                          InFlightConnect* inFlight = nullptr);

// A request's hold on one endpoint's pool: a reserved slot, then its connection. Destroyed or
// dropped without giveBack(), the connection closes and the slot goes to the next waiter.
// Owned by the request (a session's coroutine frame); worker thread only.
class Lease {
 public:
  Lease() = default;
  ~Lease() { drop(); }
  Lease(const Lease&) = delete;
  Lease& operator=(const Lease&) = delete;

  bool held() const { return pool_ != nullptr; }
  // The connection's socket: open when reused(); else invalid until the owner connects and
  // stores the connected socket here.
  io::Socket& socket() { return conn_.socket; }
  bool reused() const { return reused_; }
  // The exchange ended cleanly on both sides: the connection goes back to the pool (or to the
  // next waiter). keepAlive: the backend's Keep-Alive timeout, zero if it gave none.
  void giveBack(TimePoint now, Duration keepAlive);
  // Closes the connection (if any) and frees the slot.
  void drop();

 private:
  friend class Cluster;
  EndpointPool* pool_ = nullptr;
  PooledConnection conn_;
  bool reused_ = false;
  // The endpoint's address epoch when the lease began, and where its current one is: a
  // connection given back after an address left the endpoint's list is closed, not pooled.
  std::uint64_t epoch_ = 0;
  const std::uint64_t* epochNow_ = nullptr;
};

// The cluster is its pools' owner (PoolOwner): it watches their idle connections with a
// pending read on its proactor and ends their sockets.
class Cluster final : private PoolOwner {
 public:
  // factory: the cluster's balancer (makeBalancerFactory); worker, workers: this worker's index
  // and the count, so that per-worker state (round-robin cursors, random seeds) differs.
  Cluster(const config::ClusterConfig& cfg, const balance::BalancerFactory& factory,
          unsigned worker, unsigned workers, metrics::ClusterCounters& counters);
  // Movable only before start() (a std::vector of clusters is reserved, then filled).
  Cluster(Cluster&&) noexcept;
  Cluster& operator=(Cluster&&) = delete;
  // Closes the idle connections; watches and warm connects still in flight are cancelled and
  // left to finish on their own (they no longer touch the cluster).
  ~Cluster() override;

  const config::ClusterConfig& config() const { return *cfg_; }
  metrics::ClusterCounters& counters() { return *counters_; }

  // Starts the cluster's upkeep on this worker's proactor: a timer that closes idle
  // connections whose time is up even with no traffic, watches idle connections for the
  // backend's close (a connection still idle at a tick gets a pending read: POOL.md), and opens
  // min_idle connections ahead of demand. Idempotent; worker thread. The worker should call it at
  // setup; sessions call it on first use as well. The cluster must then stay where it is and
  // outlive the proactor's run.
  void start(io::Proactor& p);

  // The endpoint for a request by the cluster's policy, skipping the ones in `tried` (a retry
  // goes elsewhere when it can); hash is the request's key for ring_hash and maglev. With every
  // endpoint tried, the policy's choice among all. No allocation.
  std::size_t pick(std::uint64_t hash = 0, std::span<const std::size_t> tried = {});
  // Requests in flight per endpoint, for least_request: begin() when a request takes an
  // endpoint, end() when it is done with it.
  void begin(std::size_t ep) { ++active_[ep]; }
  void end(std::size_t ep) { --active_[ep]; }
  EndpointPool& endpoint(std::size_t i) { return endpoints_[i]; }
  // Endpoint i's name: its address as configured, normalized ("10.0.0.1:80", "api.internal:80").
  const std::string& endpointName(std::size_t i) const { return cfg_->endpoints[i].address; }

  // ---- Addresses (resolver.h) ----
  // Endpoint i's addresses now, in connect_by_list order: one for an IP literal; null for a DNS
  // name not resolved yet. Worker thread; a caller that connects keeps a copy for the connect.
  const std::shared_ptr<const AddressList>& addresses(std::size_t i) const { return eps_[i].list; }
  // Where the endpoints' addresses come from (per endpoint, in config order; the runtime's
  // NameDirectory): a name's shared watch, or a literal's fixed list. Until attached, a DNS name
  // has no addresses. Setup only, on the owning worker.
  void attachSources(std::span<const std::shared_ptr<ResolvedName>> sources);
  // Takes each name's latest list (the worker calls it when the resolver says one changed: a
  // safe point, between requests' steps). An endpoint whose new list lacks an address of its
  // old one closes its idle connections, and connections in use are closed when given back:
  // new requests reach only current addresses. Returns how many endpoints changed.
  std::size_t refreshAddresses();
  // This worker's metric cells per endpoint (metrics::Registry::endpointsOf), set by the runtime
  // before the cluster serves; null for an endpoint without cells.
  void setEndpointCells(std::vector<metrics::EndpointCounters*> cells) {
    endpointCells_ = std::move(cells);
  }
  metrics::EndpointCounters* endpointCells(std::size_t ep) const {
    return ep < endpointCells_.size() ? endpointCells_[ep] : nullptr;
  }
  std::size_t size() const { return endpoints_.size(); }

  // Admission (max_active_requests): true and counted, or false (counted as refused) when the
  // cluster already has that many requests in flight on all the workers. Every true is paired
  // with one finish().
  bool admit();
  void finish();

  // Reload (pools are keyed by endpoint name, not by position): moves the idle connections
  // of every endpoint of `old` that this cluster also has into this cluster's pool, and
  // retires `old` (its remaining idle connections close, its requests in flight finish and
  // their connections close when given back, its upkeep stops). Destroy `old` once quiescent().
  // Worker thread; returns how many connections moved.
  std::size_t adoptPools(Cluster& old);
  // Retires every pool of this cluster (see adoptPools): the cluster left the config.
  void retire();
  // No request admitted, waiting or holding a connection: the cluster may be destroyed.
  bool quiescent() const;

  enum class Acquire : std::uint8_t {
    kReady,         // the lease holds an idle connection (reused) or a slot to connect
    kOverloaded,    // max_pending_requests already wait: refused at once
    kQueueTimeout,  // waited queue_timeout for a connection or a slot
  };
  // A connection of endpoint ep for one request: the warmest idle one that is still open (one
  // the backend closed is counted and closed), else a slot for a new one, else a place in the
  // endpoint's FIFO queue until another request gives one back or frees a slot. fresh: never a
  // pooled connection (a retry). While it waits the request holds no connection and no buffer.
  // verify: look at a pooled connection before reusing it (a MSG_PEEK, one system call) and
  // close it if the backend has closed it. A request that is retried at once on a new connection
  // when a pooled one turns out stale (retrySafety allows it) passes false and saves the call.
  Task<Acquire> acquire(io::Proactor& p, std::size_t ep, bool fresh, bool verify, Lease& lease);

  // ---- Health, outlier detection and retries (health.h, outlier.h, retry.h) ----
  // The cluster's shared board (every worker's Cluster of one snapshot gets the same): health,
  // ejections and the cluster-wide limits' counts. Until one is attached the cluster has its
  // own. Setup only, on the owning worker, before any connection is opened.
  void attachHealth(std::shared_ptr<HealthBoard> board);
  HealthBoard& health() { return *board_; }
  // An attempt's result at endpoint ep, for outlier detection (counts an ejection).
  void report(std::size_t ep, OutlierDetector::Result r);
  const RetryPolicy& retryPolicy() const { return retryPolicy_; }
  // Cluster-wide (the board's): the same whatever the worker count.
  RetryBudget& retryBudget() { return board_->retryBudget(); }
  balance::Rng& rng() { return rng_; }
  // Endpoints the balancer sees as healthy now (active checks and ejections), and whether the
  // cluster is below healthy_panic_threshold (then every endpoint is used). Worker 0's cluster
  // logs once when the cluster enters panic and once when it leaves (checked at each pick and
  // each upkeep tick).
  std::size_t healthyCount();
  bool inPanic();

 private:
  struct Upkeep;
  struct Watch;
  struct WarmTicket;
  void upkeep();
  // While requests wait for a slot another worker holds (max_connections is cluster-wide), a
  // short timer looks for freed slots (EndpointPool::grantSlots): workers cannot wake each
  // other's coroutines. Armed only while such requests wait.
  void pollSlots();
  void armPoll();
  // Cancels t's pending timer (once) and detaches it from the cluster.
  void stopTimer(Upkeep& t);
  Task<void> warm(std::size_t ep);
  // PoolOwner (pool.h): idle watches on the proactor, sockets' ends.
  IdleWatch* watch(EndpointPool& pool, const PooledConnection& c) override;
  void unwatch(IdleWatch& w) override;
  void endSocket(EndpointPool& pool, io::Socket&& s, bool clean) override;
  // A watch's completion: the backend closed its idle connection, unless it was stopped.
  void watchDone(Watch& w);
  Watch* newWatch();
  // Makes watches ahead (when connections are opened) so that watching never allocates in
  // steady state.
  void provisionWatches();
  // Refreshes health_ from the board when its version changed or an ejection ran out.
  void refreshHealth(TimePoint now);
  // Worker 0: logs a change of panic (the board keeps the state, across reloads too).
  void logPanic();

  // An endpoint's addresses as this worker sees them.
  struct Addresses {
    std::shared_ptr<ResolvedName> source;     // null: a name with no source attached
    std::shared_ptr<const AddressList> list;  // null: not resolved yet
    std::uint64_t epoch = 0;                  // +1 each time an address leaves the list
  };

  const config::ClusterConfig* cfg_;
  metrics::ClusterCounters* counters_;
  std::vector<EndpointPool> endpoints_;
  std::vector<Addresses> eps_;  // per endpoint; never resized (leases point at epochs)
  std::unique_ptr<balance::Balancer> balancer_;
  std::vector<std::uint32_t> active_;
  SteadyClock clock_;
  std::shared_ptr<HealthBoard> board_;
  OutlierDetector outlier_;
  RetryPolicy retryPolicy_;
  unsigned worker_;
  balance::Rng rng_;
  std::vector<balance::EndpointHealth> health_;
  std::size_t healthyCount_ = 0;
  std::uint64_t seenVersion_ = 0;
  TimePoint nextExpiry_ = TimePoint::max();
  io::Proactor* proactor_ = nullptr;
  std::unique_ptr<Upkeep> upkeep_;
  std::unique_ptr<Upkeep> poll_;                 // pollSlots' timer
  std::vector<std::unique_ptr<Watch>> watches_;  // every watch made, armed or free
  std::vector<Watch*> freeWatches_;              // not pending: ready for another connection
  WarmTicket* warming_ = nullptr;                // warm connects in flight (a list)
  std::uint32_t requests_ = 0;                   // admitted and not finished (this worker)
  std::uint32_t pending_ = 0;                    // waiting in an endpoint's queue (this worker)
  bool retired_ = false;
  std::vector<metrics::EndpointCounters*> endpointCells_;
};

// Holds one admission of a cluster for as long as it lives (see Cluster::admit).
class Admission {
 public:
  explicit Admission(Cluster& c) : c_(c.admit() ? &c : nullptr) {}
  ~Admission() {
    if (c_ != nullptr) c_->finish();
  }
  Admission(const Admission&) = delete;
  Admission& operator=(const Admission&) = delete;
  bool admitted() const { return c_ != nullptr; }

 private:
  Cluster* c_;
};

}  // namespace ferry::upstream
