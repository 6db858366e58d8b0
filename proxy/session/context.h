#pragma once
// What a session needs from the worker that runs it. All of it belongs to that worker's thread.

#include <vector>

#include "proxy/common/buffer.h"
#include "proxy/common/log.h"
#include "proxy/common/task.h"
#include "proxy/common/time.h"
#include "proxy/config/config.h"
#include "proxy/io/proactor.h"
#include "proxy/metrics/metrics.h"
#include "proxy/route/route_table.h"
#include "proxy/session/registry.h"
#include "proxy/upstream/cluster.h"

namespace ferry::session {

struct ListenerContext {
  std::size_t index = 0;  // position in the config's listeners
  const config::ListenerConfig* config = nullptr;
  const route::RouteTable* routes = nullptr;  // proxy listeners
  metrics::ListenerCounters* counters = nullptr;
  metrics::RouteCounters* routeCounters = nullptr;  // routes..., then the no-route slot
};

struct WorkerContext {
  io::Proactor& proactor;
  BufferPool& buffers;
  log::AccessLog& accessLog;
  std::vector<upstream::Cluster>& clusters;
  SteadyClock clock;
  SessionRegistry sessions;
};

// Serves one client connection of an HTTP proxy listener until it closes. Owns client.
Task<void> serveHttp(WorkerContext& w, ListenerContext& l, io::Socket client, io::Address peer);
// Serves one client connection of a static-file listener until it closes. Owns client.
Task<void> serveStatic(WorkerContext& w, ListenerContext& l, io::Socket client, io::Address peer);

}  // namespace ferry::session
