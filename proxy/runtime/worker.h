#pragma once
// A worker: one thread with its own proactor, its own socket on every listener (SO_REUSEPORT),
// its own upstream pools and its own counters. Nothing on the request path is shared.

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "proxy/common/buffer.h"
#include "proxy/common/log.h"
#include "proxy/common/result.h"
#include "proxy/config/config.h"
#include "proxy/io/proactor.h"
#include "proxy/metrics/metrics.h"
#include "proxy/route/route_table.h"
#include "proxy/session/context.h"
#include "proxy/upstream/cluster.h"

namespace ferry::runtime {

// What all workers share, read-only: the config snapshot and its route tables.
struct Snapshot {
  std::shared_ptr<const config::Config> config;
  std::vector<route::RouteTable> routes;  // per listener
  // Per cluster: its balancer, from which each worker takes its own (no state shared per request).
  std::vector<std::shared_ptr<const balance::BalancerFactory>> balancers;
  // Per cluster: its endpoints' health (active checks, ejections), shared by every worker.
  std::vector<std::shared_ptr<upstream::HealthBoard>> health;
  static std::shared_ptr<const Snapshot> build(std::shared_ptr<const config::Config> c);
};

class Worker {
 public:
  // bound: per listener, the address it is bound to. A listener configured with port 0 is bound
  // by the first worker to an ephemeral port, recorded there, and joined by the next workers
  // (they start one after another, so the vector is never written concurrently).
  Worker(unsigned index, unsigned workers, std::shared_ptr<const Snapshot> snapshot,
         metrics::Registry& registry, io::Backend backend, std::vector<io::Address>& bound);
  ~Worker();
  // Starts the thread, which sets up its proactor and listeners; returns once they are up or
  // with the first error (e.g. a port in use).
  Result<bool> start();
  // Any thread: the worker stops accepting and every session ends as soon as it can (idle
  // keep-alive connections at once, busy ones after their response, with Connection: close).
  void drain();
  // Any thread: client connections still open on this worker.
  std::size_t sessions() const;
  // Any thread: asks the worker to stop; join() waits for it.
  void stop();
  void join();
  io::Backend backend() const { return backendUsed_; }

 private:
  Result<bool> setUp();
  Task<void> acceptLoop(std::size_t listener, std::size_t slot);
  void drainNow();

  // Runs drainNow() on the worker's thread when posted there.
  struct DrainOp final : io::Operation {
    Worker* worker = nullptr;
    void onComplete(std::error_code, std::size_t) override { worker->drainNow(); }
  };

  unsigned index_;
  unsigned workers_;
  std::shared_ptr<const Snapshot> snapshot_;
  metrics::Registry& registry_;
  io::Backend backendWanted_;
  std::vector<io::Address>& bound_;
  io::Backend backendUsed_ = io::Backend::kAuto;
  std::unique_ptr<io::Proactor> proactor_;
  std::unique_ptr<BufferPool> buffers_;
  std::unique_ptr<log::AccessLog> accessLog_;
  std::vector<upstream::Cluster> clusters_;
  std::unique_ptr<upstream::HealthChecker> healthChecker_;  // worker 0 only
  std::vector<std::unique_ptr<io::Listener>> listeners_;
  std::vector<session::ListenerContext> listenerContexts_;
  std::unique_ptr<session::WorkerContext> context_;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  bool draining_ = false;                // worker thread only
  std::vector<io::Operation*> accepts_;  // each accept loop's pending accept, or null
  DrainOp drainOp_;
};

// Drains every worker (Worker::drain) after waiting `delay`, then waits until no client
// connection is open or `timeout` passed. Called by the main thread on SIGTERM or POST /drain.
void drainWorkers(std::vector<std::unique_ptr<Worker>>& workers, Duration delay, Duration timeout);

}  // namespace ferry::runtime
