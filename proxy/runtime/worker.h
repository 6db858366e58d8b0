#pragma once
// A worker: one thread with its own proactor, its own socket on every listener (SO_REUSEPORT),
// its own upstream pools and its own counters. Nothing on the request path is shared.
//
// Reload (proxy/runtime/README.md): a worker serves one or more generations, each the worker's
// side of one config Snapshot (listener contexts, clusters). New connections, and the next
// request of every keep-alive connection, use the newest generation; a request in flight
// finishes on the one it started with (session::ListenerRef), and an old generation is freed
// when no session holds it. Listening sockets live apart from generations (ListenerSlot), so a
// listener whose address did not change keeps its sockets; clusters whose definition did not
// change are shared by the generations (same object, same pools).

#include <atomic>
#include <functional>
#include <list>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "proxy/common/buffer.h"
#include "proxy/common/log.h"
#include "proxy/common/result.h"
#include "proxy/config/config.h"
#include "proxy/io/accept_gate.h"
#include "proxy/io/proactor.h"
#include "proxy/metrics/metrics.h"
#include "proxy/route/route_table.h"
#include "proxy/session/context.h"
#include "proxy/upstream/cluster.h"
#include "proxy/upstream/names.h"

namespace ferry::runtime {

// What all workers share, read-only: the config snapshot and its route tables. Immutable once
// built; a reload builds a new one.
struct Snapshot {
  std::shared_ptr<const config::Config> config;
  std::string text;                       // the YAML it was loaded from (GET /config)
  std::vector<route::RouteTable> routes;  // per listener
  // Per cluster: its balancer, from which each worker takes its own (no state shared per request).
  std::vector<std::shared_ptr<const balance::BalancerFactory>> balancers;
  // Per cluster: its endpoints' health (active checks, ejections), shared by every worker. A
  // cluster kept by a reload keeps the board of the snapshot it was made for (ClusterHolder).
  std::vector<std::shared_ptr<upstream::HealthBoard>> health;
  // Per cluster, per endpoint: where its addresses come from (upstream::NameDirectory::resolve).
  // Empty (tests): IP literals use their own address, DNS names have none.
  upstream::EndpointSources sources;
  // previous: the snapshot a reload replaces (its unchanged clusters' health boards carry over).
  static std::shared_ptr<const Snapshot> build(std::shared_ptr<const config::Config> c,
                                               std::string text = {},
                                               const Snapshot* previous = nullptr,
                                               upstream::EndpointSources sources = {});
};

class Worker final : session::ListenerContextOwner {
 public:
  // bound: per listener, the address it is bound to. A listener configured with port 0 is bound
  // by the first worker to an ephemeral port, recorded there, and joined by the next workers
  // (they start one after another, so the vector is never written concurrently).
  // names: told the worker's proactor, so that DNS changes reach its clusters (may be null).
  Worker(unsigned index, unsigned workers, std::shared_ptr<const Snapshot> snapshot,
         metrics::Registry& registry, io::Backend backend, std::vector<io::Address>& bound,
         upstream::NameDirectory* names = nullptr);
  ~Worker();
  // Starts the thread, which sets up its proactor and listeners; returns once they are up or
  // with the first error (e.g. a port in use).
  Result<bool> start();

  // Reload, phase 1. Any thread; blocks until the worker thread did it. Builds this worker's
  // generation for `next` (clusters kept by name and definition) and binds the listeners that
  // are new or moved (bound as in the constructor, for next's listeners). Nothing serves the new
  // snapshot yet. On an error (a port in use) nothing changed.
  Result<bool> prepare(std::shared_ptr<const Snapshot> next, std::vector<io::Address>& bound);
  // Phase 2, after every worker prepared: the prepared generation becomes the newest; listeners
  // it does not have stop accepting and close. Any thread; blocks until done.
  void commit();
  // Instead of commit, when another worker failed to prepare: the prepared generation and the
  // sockets it bound are dropped. Any thread; blocks until done.
  void abort();

  // Any thread: the worker stops accepting and every session ends as soon as it can (idle
  // keep-alive connections at once, busy ones after their response, with Connection: close).
  void drain();
  // Any thread: client connections still open on this worker.
  std::size_t sessions() const;
  // Any thread: generations alive on this worker (1 when no reload is still being finished).
  std::size_t generations() const { return generationCount_.load(); }
  // Any thread: asks the worker to stop; join() waits for it.
  void stop();
  void join();
  io::Backend backend() const { return backendUsed_; }

 private:
  // A cluster as this worker runs it, with the snapshot its config lives in. Shared by the
  // generations whose config defines the cluster the same way.
  struct ClusterHolder {
    std::shared_ptr<const Snapshot> origin;
    std::size_t index;  // in origin's config
    upstream::Cluster cluster;
    ClusterHolder(std::shared_ptr<const Snapshot> o, std::size_t i, unsigned worker,
                  unsigned workers, metrics::ClusterCounters& counters);
    ~ClusterHolder();  // closes the idle pooled connections (and counts them out of the gauge)
  };
  // This worker's side of one snapshot.
  struct Generation {
    std::shared_ptr<const Snapshot> snapshot;
    std::vector<std::shared_ptr<ClusterHolder>> clusters;              // per config cluster
    std::vector<std::unique_ptr<session::ListenerContext>> listeners;  // per config listener
  };
  // One listening socket and its accept loops; outlives generations while its address stays.
  struct ListenerSlot {
    std::string name;
    io::Address configured;     // as written (port 0 stays 0)
    io::ListenOptions options;  // what the socket was opened with (a reload keeps it if equal)
    std::unique_ptr<io::Listener> listener;
    session::ListenerContext* current = nullptr;  // new connections are served on this
    std::vector<io::Operation*> accepts;          // each accept loop's pending accept, or null
    int loops = 0;                                // accept loops running
    bool closing = false;                         // removed by a reload
  };
  // Runs fn on the worker thread (posted) and waits for it. Reload only: allocates.
  void runOnWorker(std::function<void()> fn);
  Result<bool> setUp();
  std::unique_ptr<Generation> makeGeneration(std::shared_ptr<const Snapshot> s);
  Result<bool> prepareNow(std::shared_ptr<const Snapshot> next, std::vector<io::Address>& bound);
  void commitNow();
  void startAccepting(ListenerSlot& s);
  Task<void> acceptLoop(ListenerSlot& s, std::size_t k);
  // The accept loops' gate is closed (io/accept_gate.h): every pending accept is taken back, so
  // nothing stays armed in the kernel; the loops wait at the gate.
  void pauseAccepts();
  // Sets the process's connection limit from the newest config and the descriptor limit.
  void applyConnectionLimit();
  void closeSlot(ListenerSlot& s);
  void sweep();
  void unused(session::ListenerContext& l) override;
  void drainNow();
  // Worker 0: (re)starts the active health checks for the newest generation.
  void restartHealthChecks();

  // Worker thread: a DNS name's addresses changed; every cluster of every generation (and of
  // one being prepared) takes the new lists.
  void refreshAddresses();
  struct NamesChanged final : upstream::NameSubscriber {
    Worker* worker = nullptr;
    void onNamesChanged() override { worker->refreshAddresses(); }
  };

  // Runs drainNow() on the worker's thread when posted there.
  struct DrainOp final : io::Operation {
    Worker* worker = nullptr;
    void onComplete(std::error_code, std::size_t) override { worker->drainNow(); }
  };

  unsigned index_;
  unsigned workers_;
  std::shared_ptr<const Snapshot> first_;  // the snapshot start() serves
  metrics::Registry& registry_;
  io::Backend backendWanted_;
  std::vector<io::Address>& bound_;
  io::Backend backendUsed_ = io::Backend::kAuto;
  upstream::NameDirectory* names_;
  // Before proactor_: it may still sit in the stopped proactor's post queue when that goes.
  NamesChanged namesChanged_;
  std::unique_ptr<io::Proactor> proactor_;
  std::unique_ptr<BufferPool> buffers_;
  std::unique_ptr<log::AccessLog> accessLog_;
  // Worker 0 only: active health checks over the newest generation's clusters; a reload starts
  // a new checker and stops the old one, kept until the worker ends (its loops may still be
  // finishing a check).
  struct Checker {
    std::shared_ptr<const Snapshot> snapshot;  // the config its loops read
    std::vector<std::shared_ptr<upstream::HealthBoard>> boards;
    std::unique_ptr<upstream::HealthChecker> checker;
  };
  Checker healthChecker_;
  std::vector<Checker> retiredCheckers_;
  std::unique_ptr<session::WorkerContext> context_;
  std::unique_ptr<io::AcceptGate> acceptGate_;  // made with the proactor, on the worker thread
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  std::atomic<std::size_t> generationCount_{0};
  // Worker thread only:
  bool draining_ = false;
  std::list<std::unique_ptr<Generation>> generations_;  // oldest first; back() is the newest
  std::vector<std::unique_ptr<ListenerSlot>> slots_;
  std::unique_ptr<Generation> prepared_;
  std::vector<ListenerSlot*> preparedSlots_;  // per listener of prepared_: existing or new
  std::vector<std::unique_ptr<ListenerSlot>> preparedNew_;  // bound by prepare, not yet serving
  DrainOp drainOp_;
};

// Drains every worker (Worker::drain) after waiting `delay`, then waits until no client
// connection is open or `timeout` passed. Called by the main thread on SIGTERM or POST /drain.
void drainWorkers(std::vector<std::unique_ptr<Worker>>& workers, Duration delay, Duration timeout);

}  // namespace ferry::runtime
