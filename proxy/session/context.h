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
#include "proxy/session/relay.h"
#include "proxy/upstream/cluster.h"

namespace ferry::session {

// A listener's HTTP rules, converted once per config snapshot from its config (the views point
// into that snapshot, which outlives every session using it).
struct HttpPolicy {
  std::string_view via = "ferry";  // empty: no Via
  http::ForwardMode xForwardedFor = http::ForwardMode::kAppend;
  http::ForwardMode xForwardedProto = http::ForwardMode::kAppend;
  http::ForwardMode xForwardedHost = http::ForwardMode::kOff;  // an untrusted copy is dropped
  http::ForwardMode forwarded = http::ForwardMode::kOff;
  CidrList trustedProxies;  // clients whose forwarding headers and X-Request-Id are kept
  bool requestId = true;    // generate X-Request-Id
  Duration requestBodyTimeout = seconds(60);  // a client stalling mid-upload: 408
  Duration tunnelIdleTimeout = std::chrono::hours(1);
  Duration retryAfter = seconds(1);  // Retry-After on ferry's own 503s; zero: none
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

// A table of objects owned elsewhere, indexed like a vector of them: t[i] is a T&.
template <class T>
class RefTable {
 public:
  T& operator[](std::size_t i) const { return *items_[i]; }
  std::size_t size() const { return items_.size(); }
  void push_back(T* t) { items_.push_back(t); }

 private:
  std::vector<T*> items_;
};

struct ListenerContext;

// Who frees a listener context once a reload replaced it and no session holds it (the worker).
class ListenerContextOwner {
 public:
  virtual void unused(ListenerContext& l) = 0;

 protected:
  ~ListenerContextOwner() = default;
};

// One listener of one config snapshot as one worker serves it. A reload makes new contexts;
// sessions hold theirs (ListenerRef) until they move on to the newer one between requests, so a
// request finishes on the snapshot it started with. Everything here belongs to the worker thread.
struct ListenerContext {
  std::size_t index = 0;  // position in the config's listeners
  const config::ListenerConfig* config = nullptr;
  const route::RouteTable* routes = nullptr;  // proxy listeners
  metrics::ListenerCounters* counters = nullptr;
  std::vector<metrics::RouteCounters*> routeCounters;  // routes..., then the no-route slot
  HttpPolicy policy;
  std::vector<RoutePolicy> routePolicies;   // per route, then one for "no route"
  upstream::Cluster* tcpCluster = nullptr;  // protocol: tcp listeners
  RefTable<upstream::Cluster> clusters;     // the snapshot's clusters, by position (pickCluster)
  // Set by a reload: the context of the same listener in the newest snapshot (null when the
  // reload removed the listener: sessions stay here until they end).
  ListenerContext* newer = nullptr;
  std::size_t users = 0;  // ListenerRefs held on it
  ListenerContextOwner* owner = nullptr;
};

// A session's hold on its listener context (worker thread only): the context, its snapshot and
// its clusters' pools stay alive while held.
class ListenerRef {
 public:
  explicit ListenerRef(ListenerContext& l) : l_(&l) { ++l.users; }
  ~ListenerRef() { drop(); }
  ListenerRef(const ListenerRef&) = delete;
  ListenerRef& operator=(const ListenerRef&) = delete;
  ListenerContext* operator->() const { return l_; }
  ListenerContext& operator*() const { return *l_; }
  // Between requests: moves to the newest snapshot's context of the same listener, if a reload
  // made one (the next request routes by the new config).
  void follow() {
    ListenerContext* n = l_->newer;
    if (n == nullptr) return;
    ++n->users;
    drop();
    l_ = n;
  }

 private:
  void drop() {
    if (--l_->users == 0 && l_->owner != nullptr) l_->owner->unused(*l_);
  }
  ListenerContext* l_;
};

// The HTTP rules of listener l in c, and of its routes (see HttpPolicy, RoutePolicy).
void buildPolicies(const config::Config& c, const config::ListenerConfig& l, ListenerContext& out);

struct WorkerContext {
  io::Proactor& proactor;
  BufferPool& buffers;
  log::AccessLog& accessLog;
  SteadyClock clock;
  SessionRegistry sessions;
  http::RequestIdGenerator requestIds;  // X-Request-Id for requests that come without a trusted one
  PipeCache pipes;                      // splice's pipes between responses (canSplice() only)
};

// Serves one client connection of an HTTP proxy listener until it closes. Owns client.
Task<void> serveHttp(WorkerContext& w, ListenerContext& l, io::Socket client, io::Address peer);
// Serves one client connection of a TCP listener (raw bytes to its cluster). Owns client.
Task<void> serveTcp(WorkerContext& w, ListenerContext& l, io::Socket client, io::Address peer);
// Serves one client connection of a static-file listener until it closes. Owns client.
Task<void> serveStatic(WorkerContext& w, ListenerContext& l, io::Socket client, io::Address peer);

}  // namespace ferry::session
