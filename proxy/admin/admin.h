#pragma once
// The admin listener: GET /metrics (Prometheus text format), /healthz (the process is up),
// /ready (every worker is serving). Runs on its own thread and proactor, off the request path.

#include <atomic>
#include <memory>
#include <thread>

#include "proxy/common/result.h"
#include "proxy/io/address.h"
#include "proxy/metrics/metrics.h"

namespace ferry::admin {

class AdminServer {
 public:
  AdminServer(metrics::Registry& registry, const std::atomic<bool>& ready);
  ~AdminServer();
  // Binds addr on the caller's thread (so a busy port is reported at start-up), then serves.
  Result<bool> start(const io::Address& addr);
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ferry::admin
