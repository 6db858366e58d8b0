#pragma once
// The admin listener: GET /metrics (Prometheus text format), /healthz (the process is up),
// /ready (every worker is serving), /listeners (each listener's name and bound address, one per
// line: how a port-0 listener's port is found). Runs on its own thread and proactor, off the
// request path.

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "proxy/common/result.h"
#include "proxy/io/address.h"
#include "proxy/metrics/metrics.h"

namespace ferry::admin {

class AdminServer {
 public:
  using ListenerTable = std::vector<std::pair<std::string, io::Address>>;
  AdminServer(metrics::Registry& registry, const std::atomic<bool>& ready, ListenerTable listeners);
  ~AdminServer();
  // Binds addr on the caller's thread (so a busy port is reported at start-up), then serves.
  Result<bool> start(const io::Address& addr);
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ferry::admin
