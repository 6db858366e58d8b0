#pragma once
// The running process as the admin listener and the signals see it: the workers, the live
// config snapshot, reload and drain.
//
// Reload, in order (serialized: one at a time, from SIGHUP, POST /reload or the file watcher):
//   1. read and validate the file; on any error nothing changes, every error is logged and
//      returned (POST /reload answers 400 with them);
//   2. resolve its endpoints (upstream::NameDirectory: names it keeps keep their watch and
//      addresses, new ones are watched and given a moment for a first answer), then build the
//      new immutable Snapshot (route tables, balancers, endpoint sources; health boards that
//      keep, by endpoint name, the health, ejections and counts of the clusters it replaces),
//      and run the first active check round of the endpoints no check judged yet (bounded by
//      the check timeout), so a dead new endpoint never gets a request;
//   3. every worker prepares its side (clusters kept by name and definition, new or moved
//      listeners bound); a bind error aborts them all and nothing changes;
//   4. every worker commits: new connections and the next request of each keep-alive connection
//      use the new snapshot; requests in flight finish on theirs; removed listeners stop
//      accepting and close; old generations (and the pools only they use) go when no session
//      holds them; names the new config does not have are no longer resolved.
// Metrics: ferry_config_reloads_total{result}, ferry_config_last_reload_successful,
// ferry_config_last_reload_success_timestamp_seconds; sd_notify RELOADING=1 ... READY=1.

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "proxy/admin/admin.h"
#include "proxy/config/config.h"
#include "proxy/io/address.h"
#include "proxy/metrics/metrics.h"
#include "proxy/runtime/worker.h"

namespace ferry::runtime {

// Reads and validates a config file; the text is kept for GET /config.
struct Loaded {
  config::LoadResult result;
  std::string text;
};
Loaded loadConfigFile(const std::string& path);

// How long start and reload wait for new DNS names' first answers (or failures), so the first
// requests find addresses; a name still unanswered then is served as unresolved (503) until it is.
inline constexpr Duration kFirstAnswerWait = seconds(5);

class Runtime final : public admin::Control {
 public:
  // wake: called (any thread) when POST /drain asks the process to stop; it must make the main
  // thread begin the graceful stop (SIGTERM to itself on Linux, the stop event on Windows).
  Runtime(std::string file, metrics::Registry& registry, std::function<void()> wake);
  ~Runtime();
  // Starts `workers` workers on the first snapshot. False after logging the error.
  bool start(std::shared_ptr<const Snapshot> first, unsigned workers, io::Backend backend);
  // Reloads the file (see above). watch: from the file watcher, which skips a file whose text
  // did not change. Any thread.
  Outcome reloadFile(bool watch);
  // The graceful stop (main thread): /ready 503, drain_delay, drain up to drain_timeout, then the
  // workers stop. Reloads are refused from its start.
  void stopGracefully();
  std::shared_ptr<const Snapshot> snapshot() const;
  // Per listener of the live snapshot, the address it is bound to.
  std::vector<io::Address> bound() const;
  Worker& worker(std::size_t i) { return *workers_[i]; }
  // The process's endpoint names (main resolves the first config's before start()).
  upstream::NameDirectory& names() { return names_; }

  // admin::Control
  Outcome reload() override { return reloadFile(false); }
  void drain() override;
  Outcome reopen() override;
  std::string configText() override;
  std::string listeners() override;
  bool ready() override { return ready_.load(std::memory_order_acquire); }

 private:
  std::string file_;
  metrics::Registry& registry_;
  std::function<void()> wake_;
  std::atomic<bool> ready_{true};
  std::mutex reloadMutex_;         // one reload (or the stop) at a time
  bool stopping_ = false;          // under reloadMutex_
  mutable std::mutex stateMutex_;  // guards snapshot_ and listeners_
  std::shared_ptr<const Snapshot> snapshot_;
  std::vector<std::pair<std::string, io::Address>> listeners_;  // name, bound address
  io::Backend backend_ = io::Backend::kAuto;  // the workers' (the first check rounds use it)
  upstream::NameDirectory names_;             // before workers_: outlives their subscriptions
  std::vector<std::unique_ptr<Worker>> workers_;
};

}  // namespace ferry::runtime
