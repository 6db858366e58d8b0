#include "proxy/metrics/metrics.h"

#include <prometheus/collectable.h>
#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <chrono>

#include "proxy/common/assert.h"

namespace ferry::metrics {
namespace {

// A route's key in the slot map: listener and route name ("" for the listener's "no route").
std::string routeKey(const config::ListenerConfig& l, std::size_t r) {
  return l.name + '\n' + (r < l.routes.size() ? l.routes[r].name : std::string());
}

prometheus::ClientMetric::Label label(std::string name, std::string value) {
  return prometheus::ClientMetric::Label{std::move(name), std::move(value)};
}

prometheus::ClientMetric sample(std::vector<prometheus::ClientMetric::Label> labels, double v,
                                prometheus::MetricType type) {
  prometheus::ClientMetric m;
  m.label = std::move(labels);
  if (type == prometheus::MetricType::Counter) {
    m.counter.value = v;
  } else {
    m.gauge.value = v;
  }
  return m;
}

prometheus::MetricFamily family(std::string name, std::string help, prometheus::MetricType type) {
  prometheus::MetricFamily f;
  f.name = std::move(name);
  f.help = std::move(help);
  f.type = type;
  return f;
}

}  // namespace

// Sums the per-worker counters into metric families when scraped.
struct Registry::Impl : prometheus::Collectable {
  const Registry* owner = nullptr;
  std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>();

  template <class F>
  std::uint64_t sum(F&& get) const {
    std::uint64_t s = 0;
    for (const auto& w : owner->workers_) s += get(*w);
    return s;
  }

  std::vector<prometheus::MetricFamily> Collect() const override {
    using prometheus::MetricType;
    std::lock_guard<std::mutex> lock(owner->mutex_);
    const config::Config& cfg = *owner->config_;
    auto requests =
        family("ferry_http_requests_total",
               "HTTP requests answered, by listener, route and status class", MetricType::Counter);
    auto accepted = family("ferry_downstream_connections_total", "Client connections accepted",
                           MetricType::Counter);
    auto active =
        family("ferry_downstream_connections_active", "Client connections open", MetricType::Gauge);
    static constexpr std::array<const char*, 6> kClasses = {"1xx", "2xx", "3xx",
                                                            "4xx", "5xx", "other"};
    for (std::size_t l = 0; l < cfg.listeners.size(); ++l) {
      const config::ListenerConfig& lc = cfg.listeners[l];
      std::size_t ls = owner->listenerSlots_.at(lc.name);
      accepted.metric.push_back(sample({label("listener", lc.name)},
                                       static_cast<double>(sum([&](const WorkerCounters& w) {
                                         return w.listeners[ls].accepted.get();
                                       })),
                                       MetricType::Counter));
      active.metric.push_back(sample({label("listener", lc.name)},
                                     static_cast<double>(sum([&](const WorkerCounters& w) {
                                       return w.listeners[ls].active.get();
                                     })),
                                     MetricType::Gauge));
      for (std::size_t r = 0; r <= lc.routes.size(); ++r) {
        std::string route =
            r < lc.routes.size()
                ? (lc.routes[r].name.empty() ? lc.routes[r].cluster : lc.routes[r].name)
                : (lc.kind == config::ListenerKind::kStatic ? "static" : "none");
        std::size_t slot = owner->routeSlots_.at(routeKey(lc, r));
        for (std::size_t c = 0; c < kClasses.size(); ++c) {
          std::uint64_t v =
              sum([&](const WorkerCounters& w) { return w.routes[slot].byClass[c].get(); });
          if (v == 0 && c != 1) continue;  // keep the exposition short; 2xx is always there
          requests.metric.push_back(sample(
              {label("listener", lc.name), label("route", route), label("code_class", kClasses[c])},
              static_cast<double>(v), MetricType::Counter));
        }
      }
    }
    auto opened = family("ferry_upstream_connections_opened_total",
                         "Upstream connections established", MetricType::Counter);
    auto reused =
        family("ferry_upstream_connections_reused_total",
               "Requests sent on a pooled keep-alive upstream connection", MetricType::Counter);
    auto failed = family("ferry_upstream_connect_failures_total",
                         "Upstream connect attempts that failed or timed out", MetricType::Counter);
    auto busy = family("ferry_upstream_pool_active_connections",
                       "Upstream connections carrying a request", MetricType::Gauge);
    auto idle = family("ferry_upstream_pool_idle_connections",
                       "Upstream connections idle in the pool", MetricType::Gauge);
    for (std::size_t i = 0; i < cfg.clusters.size(); ++i) {
      std::size_t c = owner->clusterSlots_.at(cfg.clusters[i].name);
      auto lab = std::vector{label("cluster", cfg.clusters[i].name)};
      auto get = [&](auto member) {
        return static_cast<double>(
            sum([&](const WorkerCounters& w) { return (w.clusters[c].*member).get(); }));
      };
      opened.metric.push_back(sample(lab, get(&ClusterCounters::opened), MetricType::Counter));
      reused.metric.push_back(sample(lab, get(&ClusterCounters::reused), MetricType::Counter));
      failed.metric.push_back(
          sample(lab, get(&ClusterCounters::connectFailures), MetricType::Counter));
      busy.metric.push_back(sample(lab, get(&ClusterCounters::active), MetricType::Gauge));
      idle.metric.push_back(sample(lab, get(&ClusterCounters::idle), MetricType::Gauge));
    }
    auto bugs = family("ferry_bugs_total", "Internal invariant violations (FERRY_BUG)",
                       MetricType::Counter);
    bugs.metric.push_back(sample({}, static_cast<double>(bugCount()), MetricType::Counter));
    auto buffers =
        family("ferry_buffers_in_use",
               "I/O buffers held by connections (idle connections hold none)", MetricType::Gauge);
    buffers.metric.push_back(sample({}, static_cast<double>(sum([](const WorkerCounters& w) {
                                      const BufferPool* b = w.buffers.load();
                                      return b != nullptr ? b->outstanding() : 0;
                                    })),
                                    MetricType::Gauge));
    auto workers = family("ferry_workers", "Worker threads", MetricType::Gauge);
    workers.metric.push_back(
        sample({}, static_cast<double>(owner->workers_.size()), MetricType::Gauge));
    auto reloads =
        family("ferry_config_reloads_total",
               "Config reloads (SIGHUP, POST /reload, watch), by result", MetricType::Counter);
    reloads.metric.push_back(sample({label("result", "success")},
                                    static_cast<double>(owner->reloadsOk_), MetricType::Counter));
    reloads.metric.push_back(sample({label("result", "failure")},
                                    static_cast<double>(owner->reloadsFailed_),
                                    MetricType::Counter));
    auto lastOk = family("ferry_config_last_reload_successful",
                         "1 if the last reload was applied (or none was tried), 0 if rejected",
                         MetricType::Gauge);
    lastOk.metric.push_back(sample({}, owner->lastReloadOk_ ? 1 : 0, MetricType::Gauge));
    auto lastTime = family("ferry_config_last_reload_success_timestamp_seconds",
                           "When the config last loaded successfully (start-up or reload), unix "
                           "seconds",
                           MetricType::Gauge);
    lastTime.metric.push_back(sample({}, owner->lastReloadSuccess_, MetricType::Gauge));
    return {requests, accepted, active, opened,  reused,  failed, busy,
            idle,     buffers,  bugs,   workers, reloads, lastOk, lastTime};
  }
};

Registry::Registry(std::shared_ptr<const config::Config> config, unsigned workers)
    : impl_(std::make_unique<Impl>()) {
  impl_->owner = this;
  for (unsigned i = 0; i < workers; ++i) workers_.push_back(std::make_unique<WorkerCounters>());
  apply(std::move(config));
  lastReloadSuccess_ = static_cast<double>(std::chrono::duration_cast<std::chrono::seconds>(
                                               std::chrono::system_clock::now().time_since_epoch())
                                               .count());
  prometheus::BuildGauge()
      .Name("ferry_build_info")
      .Help("ferry's version")
      .Register(*impl_->registry)
      .Add({{"version", "0.1.0"}})
      .Set(1);
}

Registry::~Registry() = default;

std::size_t Registry::slot(std::map<std::string, std::size_t>& names, const std::string& name,
                           std::size_t& count) {
  auto [it, added] = names.emplace(name, count);
  if (added) ++count;
  return it->second;
}

void Registry::apply(std::shared_ptr<const config::Config> config) {
  std::lock_guard<std::mutex> lock(mutex_);
  for (const config::ListenerConfig& l : config->listeners) {
    slot(listenerSlots_, l.name, listenerCount_);
    for (std::size_t r = 0; r <= l.routes.size(); ++r)
      slot(routeSlots_, routeKey(l, r), routeCount_);
  }
  for (const config::ClusterConfig& c : config->clusters)
    slot(clusterSlots_, c.name, clusterCount_);
  for (auto& w : workers_) {
    // emplace_back, not resize: atomics cannot move, and a deque never moves what it holds.
    while (w->listeners.size() < listenerCount_) w->listeners.emplace_back();
    while (w->routes.size() < routeCount_) w->routes.emplace_back();
    while (w->clusters.size() < clusterCount_) w->clusters.emplace_back();
  }
  config_ = std::move(config);
}

CountersOf Registry::countersOf(const config::Config& config, unsigned w) {
  std::lock_guard<std::mutex> lock(mutex_);
  WorkerCounters& wc = *workers_[w];
  CountersOf out;
  for (const config::ListenerConfig& l : config.listeners) {
    out.listeners.push_back(&wc.listeners[listenerSlots_.at(l.name)]);
    auto& routes = out.routes.emplace_back();
    for (std::size_t r = 0; r <= l.routes.size(); ++r) {
      routes.push_back(&wc.routes[routeSlots_.at(routeKey(l, r))]);
    }
  }
  for (const config::ClusterConfig& c : config.clusters) {
    out.clusters.push_back(&wc.clusters[clusterSlots_.at(c.name)]);
  }
  return out;
}

void Registry::reloaded(bool ok, double unixSeconds) {
  std::lock_guard<std::mutex> lock(mutex_);
  (ok ? reloadsOk_ : reloadsFailed_) += 1;
  lastReloadOk_ = ok;
  if (ok) lastReloadSuccess_ = unixSeconds;
}

std::string Registry::serialize() const {
  std::vector<prometheus::MetricFamily> all = impl_->registry->Collect();
  for (auto& f : impl_->Collect()) all.push_back(std::move(f));
  return prometheus::TextSerializer().Serialize(all);
}

}  // namespace ferry::metrics
