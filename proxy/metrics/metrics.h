#pragma once
// Per-worker counters and their Prometheus exposition.
//
// Concurrency note: each worker owns its WorkerCounters and is its only writer. Values are
// relaxed atomics written with load+store (no locked instruction: a single writer cannot lose an
// update), so the admin thread reads them at scrape time without tearing and without a lock on
// the request path. The exposition sums the workers. prometheus-cpp is linked only here.

#include <array>
#include <atomic>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "proxy/common/buffer.h"
#include "proxy/config/config.h"

namespace ferry::metrics {

class Counter {
 public:
  void add(std::uint64_t n = 1) {
    v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  void sub(std::uint64_t n = 1) {
    v_.store(v_.load(std::memory_order_relaxed) - n, std::memory_order_relaxed);
  }
  std::uint64_t get() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> v_{0};
};

// Requests answered on one route (or on a listener with no matching route), by status class.
struct RouteCounters {
  std::array<Counter, 6> byClass;  // 1xx..5xx, then anything else
  void count(int status) {
    std::size_t c = status >= 100 && status < 600 ? static_cast<std::size_t>(status / 100 - 1) : 5;
    byClass[c].add();
  }
};

struct ClusterCounters {
  Counter opened;           // new upstream connections established
  Counter reused;           // requests sent on a pooled keep-alive connection
  Counter connectFailures;  // connect attempts that failed or timed out
  Counter active;           // gauge: connections carrying a request now
  Counter idle;             // gauge: connections waiting in the pool
  // Retries (upstream/retry.h): indexed by upstream::RetryReason (connect_failure, refused,
  // reset, 5xx, 503, timeout).
  std::array<Counter, 6> retries;             // retries sent, by the failure they answered
  std::array<Counter, 6> retryBudgetRefused;  // retries the retry budget refused, by failure
  Counter ejections;                          // outlier ejections made by this worker
  Counter endpointsUnhealthy;  // gauge: endpoints failing active checks (the checker's worker)
  Counter healthChecksFailed;  // active health checks that failed
  // The pool's limits and admission (proxy/upstream/pool.h, cluster.h).
  Counter total;             // gauge: upstream connections open, opening or in use
  Counter requests;          // gauge: requests admitted now (what max_active_requests caps)
  Counter pending;           // gauge: requests waiting for a connection (max_connections)
  Counter queued;            // requests that had to wait for a connection
  Counter queueTimeouts;     // requests that waited past queue_timeout: 503
  Counter rejectedPending;   // refused at once, max_pending_requests already waiting: 503
  Counter rejectedActive;    // refused at once, max_active_requests in flight: 503
  Counter idleExpired;       // idle connections closed at idle_timeout or the Keep-Alive timeout
  Counter idleClosedByPeer;  // idle connections the backend had closed, noticed by ferry
  Counter retired;           // closed at max_requests_per_connection or max_connection_lifetime
  Counter poolFull;          // closed when given back with max_idle connections already idle
  Counter warmOpened;        // connections opened ahead of demand (min_idle)
};

struct ListenerCounters {
  Counter accepted;  // downstream connections accepted
  Counter active;    // gauge: downstream connections open now
};

// Indexing: by name, through the Registry's name -> slot maps (see countersOf). A
// reload adds slots for new names at the end; a name keeps its slot for the process's life, so
// counters carry over a reload and never go backwards. Deques: adding slots never moves the
// counters sessions point at.
struct WorkerCounters {
  // The worker's buffer pool, set once before the worker serves; read at scrape time for
  // ferry_buffers_in_use (BufferPool::outstanding is safe to read from another thread).
  std::atomic<const BufferPool*> buffers{nullptr};
  std::deque<ListenerCounters> listeners;
  std::deque<RouteCounters> routes;
  std::deque<ClusterCounters> clusters;
};

// The counters of one worker for one config, by that config's positions (what a worker's
// snapshot points its sessions at).
struct CountersOf {
  std::vector<ListenerCounters*> listeners;         // per listener
  std::vector<std::vector<RouteCounters*>> routes;  // per listener: routes..., then "no route"
  std::vector<ClusterCounters*> clusters;           // per cluster
};

class Registry {
 public:
  Registry(std::shared_ptr<const config::Config> config, unsigned workers);
  ~Registry();
  WorkerCounters& worker(unsigned i) { return *workers_[i]; }
  // A reload: the exposition follows `config` from now on; new names get slots. Any thread
  // (reloads are serialized by the caller).
  void apply(std::shared_ptr<const config::Config> config);
  // Worker `w`'s counters for the positions of `config` (applied before). Any thread; takes the
  // registry's lock (never on the request path: once per worker and reload).
  CountersOf countersOf(const config::Config& config, unsigned w);
  // A reload's outcome: ferry_config_reloads_total{result}, ferry_config_last_reload_successful
  // and ferry_config_last_reload_success_timestamp_seconds (unixSeconds when ok).
  void reloaded(bool ok, double unixSeconds);
  // The Prometheus text exposition of everything, summed over workers. Any thread.
  std::string serialize() const;

 private:
  struct Impl;
  std::size_t slot(std::map<std::string, std::size_t>& names, const std::string& name,
                   std::size_t& count);
  std::unique_ptr<Impl> impl_;
  mutable std::mutex mutex_;  // guards config_, the slot maps and the deques' growth
  std::shared_ptr<const config::Config> config_;
  std::vector<std::unique_ptr<WorkerCounters>> workers_;
  std::map<std::string, std::size_t> listenerSlots_, routeSlots_, clusterSlots_;
  std::size_t listenerCount_ = 0, routeCount_ = 0, clusterCount_ = 0;
  std::uint64_t reloadsOk_ = 0, reloadsFailed_ = 0;
  bool lastReloadOk_ = true;
  double lastReloadSuccess_ = 0;  // unix seconds: start-up, then the last good reload
};

}  // namespace ferry::metrics
