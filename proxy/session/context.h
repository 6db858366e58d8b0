#pragma once
// What a session needs from the worker that runs it. All of it belongs to that worker's thread.

#include <memory>
#include <vector>

#include "proxy/common/buffer.h"
#include "proxy/common/cidr.h"
#include "proxy/common/log.h"
#include "proxy/common/task.h"
#include "proxy/common/time.h"
#include "proxy/config/config.h"
#include "proxy/http/request_id.h"
#include "proxy/http/rewrite.h"
#include "proxy/io/proactor.h"
#include "proxy/metrics/metrics.h"
#include "proxy/route/route_table.h"
#include "proxy/session/registry.h"
#include "proxy/upstream/cluster.h"

namespace ferry::session {

// A listener's HTTP rules, converted once per config snapshot from its config (the views point
// into that snapshot, which outlives every session using it).
struct HttpPolicy {
  std::string_view via = "ferry";  // empty: no Via
  http::ForwardMode xForwardedFor = http::ForwardMode::kAppend;
  http::ForwardMode xForwardedProto = http::ForwardMode::kAppend;
  http::ForwardMode xForwardedHost = http::ForwardMode::kOff;
  http::ForwardMode forwarded = http::ForwardMode::kOff;
  CidrList trustedProxies;  // clients whose forwarding headers and X-Request-Id are kept
  bool requestId = true;    // generate X-Request-Id
  Duration requestBodyTimeout = seconds(60);  // a client stalling mid-upload: 408
  Duration tunnelIdleTimeout = std::chrono::hours(1);
  // error_pages: the body for a status ferry answers itself, opened once per worker and sent as
  // a file element (TransmitPackets / sendfile).
  struct ErrorPage {
    int status = 0;
    std::shared_ptr<io::File> file;
  };
  std::vector<ErrorPage> errorPages;
  bool trusts(const io::Address& client) const;
  const io::File* errorPage(int status) const {
    for (const ErrorPage& p : errorPages) {
      if (p.status == status) return p.file.get();
    }
    return nullptr;
  }
};

// A route's HTTP rules (views into the config snapshot, as above).
struct RoutePolicy {
  bool allowTrace = false;  // TRACE is refused with 405 unless the route allows it
  std::vector<http::HeaderRule> requestHeaders;
  std::vector<http::HeaderRule> responseHeaders;
  std::string_view hostRewrite;  // the cluster's host_rewrite; empty: the client's Host
};

struct ListenerContext {
  std::size_t index = 0;  // position in the config's listeners
  const config::ListenerConfig* config = nullptr;
  const route::RouteTable* routes = nullptr;  // proxy listeners
  metrics::ListenerCounters* counters = nullptr;
  std::vector<metrics::RouteCounters*> routeCounters;  // routes..., then the no-route slot
  HttpPolicy policy;
  std::vector<RoutePolicy> routePolicies;   // per route, then one for "no route"
  upstream::Cluster* tcpCluster = nullptr;  // protocol: tcp listeners
};

// The HTTP rules of listener l in c, and of its routes (see HttpPolicy, RoutePolicy).
void buildPolicies(const config::Config& c, const config::ListenerConfig& l, ListenerContext& out);

struct WorkerContext {
  io::Proactor& proactor;
  BufferPool& buffers;
  log::AccessLog& accessLog;
  std::vector<upstream::Cluster>& clusters;
  SteadyClock clock;
  SessionRegistry sessions;
  http::RequestIdGenerator requestIds;  // X-Request-Id for requests that come without a trusted one
  // Per cluster (as clusters), the metric cells of its endpoints (as its endpoints).
  std::vector<std::vector<metrics::EndpointCounters*>> endpointCounters;
};

// Serves one client connection of an HTTP proxy listener until it closes. Owns client.
Task<void> serveHttp(WorkerContext& w, ListenerContext& l, io::Socket client, io::Address peer);
// Serves one client connection of a TCP listener (raw bytes to its cluster). Owns client.
Task<void> serveTcp(WorkerContext& w, ListenerContext& l, io::Socket client, io::Address peer);
// Serves one client connection of a static-file listener until it closes. Owns client.
Task<void> serveStatic(WorkerContext& w, ListenerContext& l, io::Socket client, io::Address peer);

}  // namespace ferry::session
