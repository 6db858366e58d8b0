#include "proxy/metrics/metrics.h"

#include <prometheus/collectable.h>
#include <prometheus/text_serializer.h>

#include <functional>
#include <limits>

#include "proxy/common/assert.h"
#include "proxy/metrics/process.h"

#ifndef FERRY_VERSION
#error "FERRY_VERSION must come from CMake's project(VERSION)"
#endif

namespace ferry::metrics {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;
using Labels = std::vector<std::string>;

// The cells of one named thing: one T per worker, and whether the current config has it.
template <class T>
struct Entity {
  Labels values;  // label values, in the order of the table's label names
  std::unique_ptr<T[]> cells;
  bool live = true;
};

// Every named thing of one kind, by its label values.
template <class T>
struct Table {
  std::vector<const char*> names;  // label names
  std::map<Labels, Entity<T>> entities;

  T& get(unsigned w, unsigned workers, Labels key) {
    auto it = entities.find(key);
    if (it == entities.end()) {
      Entity<T> e;
      e.values = key;
      e.cells = std::make_unique<T[]>(workers);
      it = entities.emplace(std::move(key), std::move(e)).first;
    }
    it->second.live = true;
    return it->second.cells[w];
  }
};

// Exported fields of a cell struct: one line each.
template <class T>
struct ScalarField {
  const char* name;
  const char* help;
  MetricType type;  // Counter or Gauge
  Counter T::*member;
  bool httpOnly = false;  // listeners: not exported for `protocol: tcp` listeners
};
template <class T>
struct HistogramField {
  const char* name;
  const char* help;
  Histogram T::*member;
};

// ---- the families each module owns (add one line to export a new field) ----

constexpr ScalarField<ListenerCounters> kListenerFields[] = {
    {"ferry_downstream_connections_total", "Client connections accepted", MetricType::Counter,
     &ListenerCounters::accepted},
    {"ferry_downstream_connections_active", "Client connections open", MetricType::Gauge,
     &ListenerCounters::active},
    {"ferry_http_requests_active", "Requests between their head and the end of their answer",
     MetricType::Gauge, &ListenerCounters::activeRequests, true},
    {"ferry_downstream_received_bytes_total", "Bytes received from clients", MetricType::Counter,
     &ListenerCounters::bytesReceived},
    {"ferry_downstream_sent_bytes_total", "Bytes sent to clients", MetricType::Counter,
     &ListenerCounters::bytesSent},
};

constexpr HistogramField<RouteCounters> kRouteHistograms[] = {
    {"ferry_http_request_duration_seconds",
     "Time from a request's head to the end of its answer, by route", &RouteCounters::duration},
};

// upstream/ (pools, retries, health) adds fields to ClusterCounters; each is exported by one
// line here.
constexpr ScalarField<ClusterCounters> kClusterFields[] = {
    {"ferry_upstream_connections_opened_total", "Upstream connections established",
     MetricType::Counter, &ClusterCounters::opened},
    {"ferry_upstream_connections_reused_total",
     "Requests sent on a pooled keep-alive upstream connection", MetricType::Counter,
     &ClusterCounters::reused},
    {"ferry_upstream_connect_failures_total", "Upstream connect attempts that failed or timed out",
     MetricType::Counter, &ClusterCounters::connectFailures},
    {"ferry_upstream_pool_active_connections", "Upstream connections carrying a request",
     MetricType::Gauge, &ClusterCounters::active},
    {"ferry_upstream_pool_idle_connections", "Upstream connections idle in the pool",
     MetricType::Gauge, &ClusterCounters::idle},
    {"ferry_upstream_sent_bytes_total", "Bytes sent to backends", MetricType::Counter,
     &ClusterCounters::upstreamBytesSent},
    {"ferry_upstream_received_bytes_total", "Bytes received from backends", MetricType::Counter,
     &ClusterCounters::upstreamBytesReceived},
    {"ferry_upstream_outlier_ejections_total", "Endpoints ejected by outlier detection",
     MetricType::Counter, &ClusterCounters::ejections},
    {"ferry_upstream_endpoints_unhealthy", "Endpoints failing their active health checks",
     MetricType::Gauge, &ClusterCounters::endpointsUnhealthy},
    {"ferry_upstream_health_checks_failed_total", "Active health checks that failed",
     MetricType::Counter, &ClusterCounters::healthChecksFailed},
    {"ferry_upstream_connections", "Upstream connections open, opening or carrying a request",
     MetricType::Gauge, &ClusterCounters::total},
    {"ferry_upstream_requests_active", "Requests admitted to the cluster now", MetricType::Gauge,
     &ClusterCounters::requests},
    {"ferry_upstream_requests_pending", "Requests waiting for an upstream connection",
     MetricType::Gauge, &ClusterCounters::pending},
    {"ferry_upstream_requests_queued_total", "Requests that had to wait for a connection",
     MetricType::Counter, &ClusterCounters::queued},
    {"ferry_upstream_queue_timeouts_total", "Requests that waited past queue_timeout (503)",
     MetricType::Counter, &ClusterCounters::queueTimeouts},
    {"ferry_upstream_rejected_pending_total",
     "Requests refused because max_pending_requests already waited (503)", MetricType::Counter,
     &ClusterCounters::rejectedPending},
    {"ferry_upstream_rejected_active_total",
     "Requests refused because max_active_requests were in flight (503)", MetricType::Counter,
     &ClusterCounters::rejectedActive},
    {"ferry_upstream_idle_expired_total",
     "Idle connections closed at idle_timeout or the backend's Keep-Alive timeout",
     MetricType::Counter, &ClusterCounters::idleExpired},
    {"ferry_upstream_idle_closed_by_peer_total", "Idle connections the backend had closed",
     MetricType::Counter, &ClusterCounters::idleClosedByPeer},
    {"ferry_upstream_connections_retired_total",
     "Connections closed at max_requests_per_connection or max_connection_lifetime",
     MetricType::Counter, &ClusterCounters::retired},
    {"ferry_upstream_pool_full_closed_total",
     "Connections closed when given back to a pool already holding max_idle", MetricType::Counter,
     &ClusterCounters::poolFull},
    {"ferry_upstream_warm_connections_opened_total",
     "Connections opened ahead of demand (min_idle)", MetricType::Counter,
     &ClusterCounters::warmOpened},
};

constexpr HistogramField<ClusterCounters> kClusterHistograms[] = {
    {"ferry_upstream_connect_duration_seconds", "Time to establish a new upstream connection",
     &ClusterCounters::connectTime},
    {"ferry_upstream_first_byte_duration_seconds",
     "Time from sending a request upstream to the first byte of its response",
     &ClusterCounters::firstByteTime},
    {"ferry_upstream_pool_wait_duration_seconds",
     "Time from asking the pool for a connection to holding one (pooled: ~0; new: the connect)",
     &ClusterCounters::poolWait},
};

constexpr ScalarField<EndpointCounters> kEndpointFields[] = {
    {"ferry_upstream_endpoint_active_connections",
     "Upstream connections to one endpoint carrying a request", MetricType::Gauge,
     &EndpointCounters::active},
    {"ferry_upstream_endpoint_idle_connections",
     "Upstream connections to one endpoint idle in the pool", MetricType::Gauge,
     &EndpointCounters::idle},
};

constexpr std::array<const char*, 6> kClasses = {"1xx", "2xx", "3xx", "4xx", "5xx", "other"};

MetricFamily family(std::string name, std::string help, MetricType type) {
  MetricFamily f;
  f.name = std::move(name);
  f.help = std::move(help);
  f.type = type;
  return f;
}

std::vector<ClientMetric::Label> labelsOf(const std::vector<const char*>& names,
                                          const Labels& values) {
  std::vector<ClientMetric::Label> out;
  for (std::size_t i = 0; i < names.size(); ++i) out.push_back({names[i], values[i]});
  return out;
}

ClientMetric scalar(std::vector<ClientMetric::Label> labels, double v, MetricType type) {
  ClientMetric m;
  m.label = std::move(labels);
  if (type == MetricType::Counter) {
    m.counter.value = v;
  } else {
    m.gauge.value = v;
  }
  return m;
}

// Sums a cell over the workers (as signed: a gauge's sub() and add() are the same worker's, but
// a scrape reading between them must not print 2^64).
template <class T, class Get>
double sumOf(const Entity<T>& e, unsigned workers, Get&& get) {
  std::int64_t s = 0;
  for (unsigned w = 0; w < workers; ++w) s += static_cast<std::int64_t>(get(e.cells[w]));
  return static_cast<double>(s);
}

// Whether an entity's series are exported: live, and (httpOnly) not a TCP listener's.
using Skip = std::function<bool(const Labels& values)>;

template <class T>
void scalars(std::vector<MetricFamily>& out, const Table<T>& t, unsigned workers,
             std::span<const ScalarField<T>> fields, const Skip& notHttp = nullptr) {
  for (const ScalarField<T>& f : fields) {
    MetricFamily fam = family(f.name, f.help, f.type);
    for (const auto& [key, e] : t.entities) {
      if (!e.live || (f.httpOnly && notHttp && notHttp(e.values))) continue;
      double v = sumOf(e, workers, [&](const T& c) { return (c.*f.member).get(); });
      fam.metric.push_back(scalar(labelsOf(t.names, e.values), v, f.type));
    }
    out.push_back(std::move(fam));
  }
}

// One histogram series summed over the workers' cells (cell(w): worker w's Histogram).
template <class Cell>
ClientMetric histogramOf(std::vector<ClientMetric::Label> labels, unsigned workers, Cell&& cell) {
  std::array<std::uint64_t, Histogram::kBuckets> b{};
  std::uint64_t sumUs = 0;
  for (unsigned w = 0; w < workers; ++w) {
    const Histogram& h = *cell(w);
    for (std::size_t i = 0; i < b.size(); ++i) b[i] += h.bucket(i);
    sumUs += h.sumUs();
  }
  ClientMetric m;
  m.label = std::move(labels);
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < b.size(); ++i) {
    cumulative += b[i];
    double bound = i < Histogram::kBoundsUs.size()
                       ? static_cast<double>(Histogram::kBoundsUs[i]) / 1e6
                       : std::numeric_limits<double>::infinity();
    m.histogram.bucket.push_back({cumulative, bound});
  }
  m.histogram.sample_count = cumulative;
  m.histogram.sample_sum = static_cast<double>(sumUs) / 1e6;
  return m;
}

template <class T>
void histograms(std::vector<MetricFamily>& out, const Table<T>& t, unsigned workers,
                std::span<const HistogramField<T>> fields) {
  for (const HistogramField<T>& f : fields) {
    MetricFamily fam = family(f.name, f.help, MetricType::Histogram);
    for (const auto& [key, e] : t.entities) {
      if (!e.live) continue;
      fam.metric.push_back(histogramOf(labelsOf(t.names, e.values), workers,
                                       [&](unsigned w) { return &(e.cells[w].*f.member); }));
    }
    out.push_back(std::move(fam));
  }
}

// Which series of a labelled family to export: entity values, index of the extra label.
using KeepSeries = std::function<bool(const Labels& values, std::size_t i)>;

// A family with one extra label over an array of counters (by reason, by kind).
template <class T, std::size_t N>
void reasons(std::vector<MetricFamily>& out, const Table<T>& t, unsigned workers, const char* name,
             const char* help, const char* label, const std::array<const char*, N>& values,
             std::array<Counter, N> T::*member, const KeepSeries& keep = nullptr) {
  MetricFamily fam = family(name, help, MetricType::Counter);
  for (const auto& [key, e] : t.entities) {
    if (!e.live) continue;
    for (std::size_t i = 0; i < N; ++i) {
      if (keep && !keep(e.values, i)) continue;
      double v = sumOf(e, workers, [&](const T& c) { return (c.*member)[i].get(); });
      auto labels = labelsOf(t.names, e.values);
      labels.push_back({label, values[i]});
      fam.metric.push_back(scalar(std::move(labels), v, MetricType::Counter));
    }
  }
  out.push_back(std::move(fam));
}

struct Callback {
  std::string name;
  std::string help;
  Registry::Type type;
  double (*fn)();
};

struct SamplesCallback {
  std::string name;
  std::string help;
  Registry::Type type;
  std::function<std::vector<Registry::Sample>()> fn;
};

}  // namespace

std::string_view noRouteName(const config::ListenerConfig& l) {
  return l.kind == config::ListenerKind::kStatic ? "static" : "none";
}

struct Registry::Impl : prometheus::Collectable {
  mutable std::mutex mu;  // guards the tables' maps (never taken on the request path)
  unsigned workers = 1;
  const Registry* owner = nullptr;
  Table<ListenerCounters> listeners{{"listener"}, {}};
  Table<RouteCounters> routes{{"listener", "route"}, {}};
  Table<ClusterCounters> clusters{{"cluster"}, {}};
  Table<EndpointCounters> endpoints{{"cluster", "endpoint"}, {}};
  // What each listener of the current config serves: which listener families it gets (a TCP
  // listener no HTTP series, a static one no tunnels). A name apply() has not seen: a proxy.
  enum class Shape : std::uint8_t { kProxy, kStatic, kTcp };
  std::map<std::string, Shape, std::less<>> shapes;
  std::string ioBackend = "unknown";
  std::vector<Callback> callbacks;
  std::vector<SamplesCallback> samplesCallbacks;
  std::atomic<std::uint64_t> reloadsOk{0};
  std::atomic<std::uint64_t> reloadsFailed{0};
  // Unix seconds of the last good load (start-up, then each successful reload).
  std::atomic<double> lastReloadSuccess{
      static_cast<double>(std::chrono::duration_cast<std::chrono::seconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count())};
  std::atomic<bool> lastReloadOk{true};

  // session/: requests by route and status class, their duration, the listeners' families and
  // the tunnels. Under mu.
  void sessionFamilies(std::vector<MetricFamily>& out) const {
    MetricFamily requests =
        family("ferry_http_requests_total",
               "HTTP requests answered, by listener, route and status class", MetricType::Counter);
    for (const auto& [key, e] : routes.entities) {
      if (!e.live) continue;
      for (std::size_t c = 0; c < kClasses.size(); ++c) {
        double v = sumOf(e, workers, [&](const RouteCounters& r) { return r.byClass[c].get(); });
        if (c == 5 && v == 0) continue;  // "other" (a status outside 100-599) only when seen
        auto labels = labelsOf(routes.names, e.values);
        labels.push_back({"code_class", kClasses[c]});
        requests.metric.push_back(scalar(std::move(labels), v, MetricType::Counter));
      }
    }
    out.push_back(std::move(requests));
    histograms<RouteCounters>(out, routes, workers, kRouteHistograms);
    auto tcp = [this](const Labels& v) { return shapeOf(v[0]) == Shape::kTcp; };
    scalars<ListenerCounters>(out, listeners, workers, kListenerFields, tcp);
    reasons(out, listeners, workers, "ferry_http_rejections_total",
            "Requests refused before reaching a backend, by reason", "reason", kRejectionNames,
            &ListenerCounters::rejections, [&](const Labels& v, std::size_t) { return !tcp(v); });
    // A TCP listener times out only its connect (tunnel_idle_timeout ends a tunnel cleanly).
    constexpr auto kConnect = static_cast<std::size_t>(Timeout::kUpstreamConnect);
    reasons(out, listeners, workers, "ferry_timeouts_total",
            "Timeouts that ended a request, by kind", "kind", kTimeoutNames,
            &ListenerCounters::timeouts,
            [&](const Labels& v, std::size_t i) { return i == kConnect || !tcp(v); });
    tunnels(out);
  }

  // runtime/: reloads, workers, buffers, invariants, build, callbacks. Under mu.
  void runtimeFamilies(std::vector<MetricFamily>& out) const {
    MetricFamily reloads =
        family("ferry_config_reloads_total", "Config reloads, by result", MetricType::Counter);
    reloads.metric.push_back(scalar({{"result", "success"}}, static_cast<double>(reloadsOk.load()),
                                    MetricType::Counter));
    reloads.metric.push_back(scalar(
        {{"result", "failure"}}, static_cast<double>(reloadsFailed.load()), MetricType::Counter));
    out.push_back(std::move(reloads));
    MetricFamily last =
        family("ferry_config_last_reload_successful",
               "1 if the last config reload succeeded (or none was tried)", MetricType::Gauge);
    last.metric.push_back(scalar({}, lastReloadOk.load() ? 1 : 0, MetricType::Gauge));
    out.push_back(std::move(last));
    MetricFamily lastOk =
        family("ferry_config_last_reload_success_timestamp_seconds",
               "When the config was last loaded successfully (start or reload)", MetricType::Gauge);
    lastOk.metric.push_back(scalar({}, lastReloadSuccess.load(), MetricType::Gauge));
    out.push_back(std::move(lastOk));
    MetricFamily bugs = family("ferry_bugs_total", "Internal invariant violations (FERRY_BUG)",
                               MetricType::Counter);
    bugs.metric.push_back(scalar({}, static_cast<double>(bugCount()), MetricType::Counter));
    out.push_back(std::move(bugs));
    MetricFamily buffers =
        family("ferry_buffers_in_use",
               "I/O buffers held by connections (idle connections hold none)", MetricType::Gauge);
    double held = 0;
    for (const auto& w : owner->workers_) {
      const BufferPool* b = w->buffers.load();
      if (b != nullptr) held += static_cast<double>(b->outstanding());
    }
    buffers.metric.push_back(scalar({}, held, MetricType::Gauge));
    out.push_back(std::move(buffers));
    MetricFamily nworkers = family("ferry_workers", "Worker threads", MetricType::Gauge);
    nworkers.metric.push_back(scalar({}, workers, MetricType::Gauge));
    out.push_back(std::move(nworkers));
    MetricFamily build =
        family("ferry_build_info", "ferry's version and I/O backend (always 1)", MetricType::Gauge);
    build.metric.push_back(
        scalar({{"io_backend", ioBackend}, {"version", FERRY_VERSION}}, 1, MetricType::Gauge));
    out.push_back(std::move(build));
    for (const Callback& c : callbacks) {
      MetricType t = c.type == Type::kCounter ? MetricType::Counter : MetricType::Gauge;
      MetricFamily f = family(c.name, c.help, t);
      f.metric.push_back(scalar({}, c.fn(), t));
      out.push_back(std::move(f));
    }
    for (const SamplesCallback& c : samplesCallbacks) {
      MetricType t = c.type == Type::kCounter ? MetricType::Counter : MetricType::Gauge;
      MetricFamily f = family(c.name, c.help, t);
      for (Registry::Sample& smp : c.fn()) {
        std::vector<ClientMetric::Label> labels;
        for (auto& [k, v] : smp.labels) labels.push_back({std::move(k), std::move(v)});
        f.metric.push_back(scalar(std::move(labels), smp.value, t));
      }
      out.push_back(std::move(f));
    }
  }

  // The process collector (process_*.cpp).
  static void processFamilies(std::vector<MetricFamily>& out) {
    if (std::optional<ProcessStats> p = readProcessStats()) {
      auto one = [&](const char* name, const char* help, MetricType t, double v) {
        MetricFamily f = family(name, help, t);
        f.metric.push_back(scalar({}, v, t));
        out.push_back(std::move(f));
      };
      one("process_cpu_seconds_total", "Total user and system CPU time spent in seconds",
          MetricType::Counter, p->cpuSeconds);
      one("process_resident_memory_bytes", "Resident memory size in bytes", MetricType::Gauge,
          p->residentBytes);
      one("process_open_fds", "Number of open file descriptors", MetricType::Gauge, p->openFds);
      one("process_max_fds", "Maximum number of open file descriptors", MetricType::Gauge,
          p->maxFds);
      one("process_start_time_seconds", "Start time of the process since unix epoch in seconds",
          MetricType::Gauge, p->startTimeSeconds);
    }
  }

  std::vector<MetricFamily> Collect() const override {
    std::lock_guard lock(mu);
    std::vector<MetricFamily> out;
    sessionFamilies(out);

    // upstream/: pools, connections and exchange timings per cluster and endpoint.
    scalars<ClusterCounters>(out, clusters, workers, kClusterFields);
    histograms<ClusterCounters>(out, clusters, workers, kClusterHistograms);
    reasons(out, clusters, workers, "ferry_upstream_connections_closed_total",
            "Upstream connections closed, by reason", "reason", kCloseReasonNames,
            &ClusterCounters::closedByReason);
    reasons(out, clusters, workers, "ferry_upstream_retries_total",
            "Requests sent again, by the failure they answered", "reason", kRetryReasonNames,
            &ClusterCounters::retries);
    reasons(out, clusters, workers, "ferry_upstream_retry_budget_exhausted_total",
            "Retries the retry budget refused, by the failure they would have answered", "reason",
            kRetryReasonNames, &ClusterCounters::retryBudgetRefused);
    scalars<EndpointCounters>(out, endpoints, workers, kEndpointFields);
    reasons(out, endpoints, workers, "ferry_upstream_endpoint_responses_total",
            "Upstream attempts at one endpoint, by response status class (error: no response)",
            "class", kEndpointOutcomeNames, &EndpointCounters::responses);

    runtimeFamilies(out);
    processFamilies(out);
    return out;
  }

  Shape shapeOf(std::string_view listener) const {
    auto it = shapes.find(listener);
    return it == shapes.end() ? Shape::kProxy : it->second;
  }

  // ferry_tunnel_duration_seconds: a proxy listener's WebSocket tunnels, a TCP listener's
  // connections; a static listener has none.
  void tunnels(std::vector<MetricFamily>& out) const {
    MetricFamily fam = family("ferry_tunnel_duration_seconds",
                              "How long tunnels lived (WebSocket upgrades, TCP listener "
                              "connections), kept out of the request duration",
                              MetricType::Histogram);
    for (const auto& [key, e] : listeners.entities) {
      Shape shape = shapeOf(e.values[0]);
      if (!e.live || shape == Shape::kStatic) continue;
      TunnelKind k = shape == Shape::kTcp ? TunnelKind::kTcp : TunnelKind::kWebSocket;
      auto i = static_cast<std::size_t>(k);
      std::vector<ClientMetric::Label> labels = labelsOf(listeners.names, e.values);
      labels.push_back({"kind", kTunnelKindNames[i]});
      fam.metric.push_back(histogramOf(std::move(labels), workers,
                                       [&](unsigned w) { return &e.cells[w].tunnelDuration[i]; }));
    }
    out.push_back(std::move(fam));
  }

  void applyLocked(const config::Config& c) {
    shapes.clear();
    for (auto& [k, e] : listeners.entities) e.live = false;
    for (auto& [k, e] : routes.entities) e.live = false;
    for (auto& [k, e] : clusters.entities) e.live = false;
    for (auto& [k, e] : endpoints.entities) e.live = false;
    for (const config::ListenerConfig& l : c.listeners) {
      listeners.get(0, workers, {l.name});
      bool tcp = l.protocol == config::ListenerProtocol::kTcp;
      shapes[l.name] = tcp                                       ? Shape::kTcp
                       : l.kind == config::ListenerKind::kStatic ? Shape::kStatic
                                                                 : Shape::kProxy;
      if (tcp) continue;  // no HTTP request families
      for (const config::RouteConfig& r : l.routes) routes.get(0, workers, {l.name, r.name});
      routes.get(0, workers, {l.name, std::string(noRouteName(l))});
    }
    for (const config::ClusterConfig& cc : c.clusters) {
      clusters.get(0, workers, {cc.name});
      for (const config::EndpointConfig& e : cc.endpoints) {
        endpoints.get(0, workers, {cc.name, e.address});
      }
    }
  }
};

Registry::Registry(std::shared_ptr<const config::Config> config, unsigned workers)
    : impl_(std::make_unique<Impl>()) {
  FERRY_RELEASE_ASSERT(workers > 0);
  impl_->owner = this;
  impl_->workers = workers;
  for (unsigned i = 0; i < workers; ++i) workers_.push_back(std::make_unique<WorkerCounters>());
  if (config) apply(*config);
}

Registry::~Registry() = default;

void Registry::apply(const config::Config& c) {
  std::lock_guard lock(impl_->mu);
  impl_->applyLocked(c);
}

ListenerCounters& Registry::listener(unsigned w, std::string_view name) {
  std::lock_guard lock(impl_->mu);
  return impl_->listeners.get(w, impl_->workers, {std::string(name)});
}

RouteCounters& Registry::route(unsigned w, std::string_view listener, std::string_view route) {
  std::lock_guard lock(impl_->mu);
  return impl_->routes.get(w, impl_->workers, {std::string(listener), std::string(route)});
}

ClusterCounters& Registry::cluster(unsigned w, std::string_view name) {
  std::lock_guard lock(impl_->mu);
  return impl_->clusters.get(w, impl_->workers, {std::string(name)});
}

EndpointCounters& Registry::endpoint(unsigned w, std::string_view cluster,
                                     std::string_view endpoint) {
  std::lock_guard lock(impl_->mu);
  return impl_->endpoints.get(w, impl_->workers, {std::string(cluster), std::string(endpoint)});
}

std::vector<RouteCounters*> Registry::routesOf(unsigned w, const config::ListenerConfig& l) {
  std::vector<RouteCounters*> out;
  if (l.protocol == config::ListenerProtocol::kTcp) return out;
  for (const config::RouteConfig& r : l.routes) out.push_back(&route(w, l.name, r.name));
  out.push_back(&route(w, l.name, noRouteName(l)));
  return out;
}

std::vector<EndpointCounters*> Registry::endpointsOf(unsigned w, const config::ClusterConfig& c) {
  std::vector<EndpointCounters*> out;
  for (const config::EndpointConfig& e : c.endpoints)
    out.push_back(&endpoint(w, c.name, e.address));
  return out;
}

void Registry::setIoBackend(std::string_view name) {
  std::lock_guard lock(impl_->mu);
  impl_->ioBackend = std::string(name);
}

void Registry::addCallback(std::string name, std::string help, Type type, double (*fn)()) {
  std::lock_guard lock(impl_->mu);
  impl_->callbacks.push_back(Callback{std::move(name), std::move(help), type, fn});
}

void Registry::addSamplesCallback(std::string name, std::string help, Type type,
                                  std::function<std::vector<Sample>()> fn) {
  std::lock_guard lock(impl_->mu);
  impl_->samplesCallbacks.push_back(
      SamplesCallback{std::move(name), std::move(help), type, std::move(fn)});
}

void Registry::recordReload(bool ok, double unixSeconds) {
  (ok ? impl_->reloadsOk : impl_->reloadsFailed).fetch_add(1);
  impl_->lastReloadOk.store(ok);
  if (ok) impl_->lastReloadSuccess.store(unixSeconds);
}

std::string Registry::serialize() const {
  return prometheus::TextSerializer().Serialize(impl_->Collect());
}

}  // namespace ferry::metrics
