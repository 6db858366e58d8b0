#include "proxy/upstream/health.h"

#include <algorithm>
#include <cstdio>

#include "proxy/common/log.h"
#include "proxy/io/awaitables.h"
#include "proxy/upstream/cluster.h"

namespace ferry::upstream {

namespace {

std::int64_t ns(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}
TimePoint fromNs(std::int64_t v) {
  return TimePoint(std::chrono::duration_cast<TimePoint::duration>(std::chrono::nanoseconds(v)));
}

}  // namespace

HealthBoard::HealthBoard(std::size_t endpoints)
    : size_(endpoints),
      names_(endpoints),
      counts_(std::make_shared<Counts>()),
      budget_(std::make_shared<RetryBudget>(budgetConfig_)) {
  for (std::size_t i = 0; i < endpoints; ++i) slots_.push_back(std::make_shared<Endpoint>());
}

HealthBoard::HealthBoard(const config::ClusterConfig& c, const HealthBoard* previous, TimePoint now)
    : size_(c.endpoints.size()), budgetConfig_(c.retryBudget) {
  bool sameBudget = previous != nullptr && previous->budgetConfig_ == budgetConfig_;
  budget_ = sameBudget ? previous->budget_ : std::make_shared<RetryBudget>(budgetConfig_);
  counts_ = previous != nullptr ? previous->counts_ : std::make_shared<Counts>();
  for (const config::EndpointConfig& e : c.endpoints) {
    names_.push_back(e.address);
    std::shared_ptr<Endpoint> kept;
    for (std::size_t k = 0; previous != nullptr && k < previous->size_; ++k) {
      if (previous->names_[k] == e.address) kept = previous->slots_[k];
    }
    if (!kept) {
      kept = std::make_shared<Endpoint>();
      // Added by a reload to a cluster that serves already: it ramps up (slow start).
      if (previous != nullptr) kept->healthySince.store(ns(now), std::memory_order_relaxed);
    } else if (!c.healthCheck) {
      // No checks any more: nothing would ever bring a verdict of the old checks back.
      kept->healthy.store(true, std::memory_order_relaxed);
      kept->checked.store(false, std::memory_order_relaxed);
    }
    slots_.push_back(std::move(kept));
  }
}

void HealthBoard::setChecked(std::size_t i, bool healthy, TimePoint since) {
  slots_[i]->healthySince.store(ns(since), std::memory_order_relaxed);
  slots_[i]->healthy.store(healthy, std::memory_order_relaxed);
  slots_[i]->checked.store(true, std::memory_order_relaxed);
  version_.fetch_add(1, std::memory_order_release);
}

bool HealthBoard::checkedHealthy(std::size_t i) const {
  return slots_[i]->healthy.load(std::memory_order_relaxed);
}

bool HealthBoard::everChecked(std::size_t i) const {
  return slots_[i]->checked.load(std::memory_order_relaxed);
}

TimePoint HealthBoard::checkedSince(std::size_t i) const {
  return fromNs(slots_[i]->healthySince.load(std::memory_order_relaxed));
}

void HealthBoard::eject(std::size_t i, TimePoint until, std::uint32_t timesEjected) {
  slots_[i]->timesEjected.store(timesEjected, std::memory_order_relaxed);
  slots_[i]->ejectedUntil.store(ns(until), std::memory_order_relaxed);
  version_.fetch_add(1, std::memory_order_release);
}

TimePoint HealthBoard::ejectedUntil(std::size_t i) const {
  return fromNs(slots_[i]->ejectedUntil.load(std::memory_order_relaxed));
}

std::uint32_t HealthBoard::timesEjected(std::size_t i) const {
  return slots_[i]->timesEjected.load(std::memory_order_relaxed);
}

std::size_t HealthBoard::ejectedCount(TimePoint now) const {
  std::size_t n = 0;
  for (std::size_t i = 0; i < size_; ++i) {
    if (ejectedUntil(i) > now) ++n;
  }
  return n;
}

std::size_t HealthBoard::healthyCount(TimePoint now) const {
  std::size_t n = 0;
  for (std::size_t i = 0; i < size_; ++i) {
    if (checkedHealthy(i) && ejectedUntil(i) <= now) ++n;
  }
  return n;
}

bool HealthBoard::inPanic(TimePoint now, double thresholdPercent) const {
  return balance::inPanic(healthyCount(now), size_, thresholdPercent);
}

int parseStatusLine(std::string_view b) {
  // "HTTP/1.x NNN"
  if (b.size() < 12 || b.substr(0, 7) != "HTTP/1." || b[8] != ' ') return 0;
  int s = 0;
  for (std::size_t i = 9; i < 12; ++i) {
    if (b[i] < '0' || b[i] > '9') return 0;
    s = s * 10 + (b[i] - '0');
  }
  if (b.size() > 12 && b[12] != ' ' && b[12] != '\r') return 0;
  return s >= 100 ? s : 0;
}

bool CheckCounter::record(bool passed) {
  if (passed) {
    failures_ = 0;
    if (healthy_) return false;
    if (++passes_ < up_) return false;
    passes_ = 0;
    healthy_ = true;
    return true;
  }
  passes_ = 0;
  if (!healthy_) return false;
  if (++failures_ < down_) return false;
  failures_ = 0;
  healthy_ = false;
  return true;
}

// One endpoint's check loop: its state lives here (not in the coroutine frame) so stop() can
// reach the pending timer.
struct HealthChecker::Loop {
  const config::ClusterConfig* cluster = nullptr;
  const config::HealthCheckConfig* check = nullptr;
  std::size_t endpoint = 0;
  std::string name;                      // the endpoint's, for logs
  std::shared_ptr<ResolvedName> source;  // its addresses now; null: none (an unattached name)
  std::string request;                   // the HTTP check's request, built once
  HealthBoard* board = nullptr;
  metrics::ClusterCounters* counters = nullptr;
  CheckCounter counter{1, 1};
  io::Operation* sleeping = nullptr;  // the pending interval timer, or null
  char reply[256] = {};
};

HealthChecker::HealthChecker(io::Proactor& p, const config::Config& config,
                             std::span<const std::shared_ptr<HealthBoard>> boards,
                             std::span<metrics::ClusterCounters* const> counters,
                             std::span<const std::vector<std::shared_ptr<ResolvedName>>> sources)
    : proactor_(p), config_(config), counters_(counters.begin(), counters.end()) {
  for (std::size_t c = 0; c < config.clusters.size() && c < boards.size(); ++c) {
    const config::ClusterConfig& cc = config.clusters[c];
    if (!cc.healthCheck || !boards[c]) continue;
    const config::HealthCheckConfig& hc = *cc.healthCheck;
    for (std::size_t e = 0; e < cc.endpoints.size() && e < boards[c]->size(); ++e) {
      auto l = std::make_unique<Loop>();
      l->cluster = &cc;
      l->check = &hc;
      l->endpoint = e;
      const config::EndpointConfig& ep = cc.endpoints[e];
      l->name = ep.address;
      if (c < sources.size() && e < sources[c].size() && sources[c][e]) {
        l->source = sources[c][e];
      } else if (ep.literal) {
        l->source = ResolvedName::fixed(*ep.literal);
      }
      l->board = boards[c].get();
      l->counters = c < counters.size() ? counters[c] : nullptr;
      l->counter = CheckCounter(hc.healthyThreshold, hc.unhealthyThreshold);
      if (hc.type == config::HealthCheckType::kHttp) {
        std::string host = hc.host.empty() ? ep.address : hc.host;
        l->request = "GET " + hc.path + " HTTP/1.1\r\nHost: " + host +
                     "\r\nUser-Agent: ferry-health-check\r\nConnection: close\r\n\r\n";
      }
      loops_.push_back(std::move(l));
    }
  }
}

// Not stop(): the destructor may run on another thread once the worker's proactor has ended
// (loops still suspended then are never resumed). Whoever ends a checker early (a reload) calls
// stop() on the worker's thread and waits for running() == 0 before destroying it.
HealthChecker::~HealthChecker() = default;

void HealthChecker::start() {
  for (auto& l : loops_) {
    bool healthy = l->board->checkedHealthy(l->endpoint);
    l->counter = CheckCounter(l->check->healthyThreshold, l->check->unhealthyThreshold, healthy);
  }
  for (std::size_t c = 0; c < config_.clusters.size() && c < counters_.size(); ++c) {
    if (counters_[c] == nullptr) continue;
    std::size_t down = 0;
    for (auto& l : loops_) {
      if (l->cluster == &config_.clusters[c] && !l->counter.healthy()) ++down;
    }
    counters_[c]->endpointsUnhealthy.set(down);
  }
  for (auto& l : loops_) spawn(run(*l));
}

std::size_t HealthChecker::firstRound() {
  std::size_t left = 0;
  std::size_t checked = 0;
  for (auto& l : loops_) {
    if (l->board->everChecked(l->endpoint)) continue;
    ++left;
    ++checked;
    spawn(first(*l, left));
  }
  while (left > 0) proactor_.runOnce(milliseconds(100));
  return checked;
}

Task<void> HealthChecker::first(Loop& l, std::size_t& left) {
  bool passed = co_await checkOnce(l);
  // A pass keeps the endpoint's ramp start (slow start for one a reload added; none at start).
  l.board->setChecked(l.endpoint, passed, l.board->checkedSince(l.endpoint));
  if (!passed) {
    log::warn("health check: endpoint {} of cluster {} is unhealthy (its first check failed)",
              l.name, l.cluster->name);
  }
  --left;
}

void HealthChecker::stop() {
  stopping_ = true;
  for (auto& l : loops_) {
    if (l->sleeping != nullptr) proactor_.cancel(*l->sleeping);
  }
}

Task<void> HealthChecker::run(Loop& l) {
  ++running_;
  SteadyClock clock;
  while (!stopping_) {
    bool passed = co_await checkOnce(l);
    if (stopping_) break;
    if (!passed && l.counters != nullptr) l.counters->healthChecksFailed.add();
    if (l.counter.record(passed)) {
      TimePoint now = clock.now();
      l.board->setChecked(l.endpoint, l.counter.healthy(), now);
      if (l.counters != nullptr) {
        if (l.counter.healthy()) {
          l.counters->endpointsUnhealthy.sub();
        } else {
          l.counters->endpointsUnhealthy.add();
        }
      }
      if (l.counter.healthy()) {
        log::info("health check: endpoint {} of cluster {} is healthy again", l.name,
                  l.cluster->name);
      } else {
        log::warn("health check: endpoint {} of cluster {} is unhealthy ({} failed checks)", l.name,
                  l.cluster->name, l.check->unhealthyThreshold);
      }
    }
    auto timer = io::sleepFor(proactor_, l.check->interval);
    l.sleeping = &timer;
    co_await timer;
    l.sleeping = nullptr;
  }
  --running_;
}

Task<bool> HealthChecker::checkOnce(Loop& l) {
  const config::HealthCheckConfig& hc = *l.check;
  SteadyClock clock;
  TimePoint deadline = clock.now() + hc.timeout;
  std::span<const char> first(l.request.data(), l.request.size());
  std::shared_ptr<const AddressList> list = l.source ? l.source->current() : nullptr;
  if (!list) co_return false;  // a name not resolved yet: nothing can answer the check
  Connected c = co_await connectTo(proactor_, std::move(list), first, hc.timeout);
  if (c.ec) co_return false;
  io::Socket s = std::move(c.socket);
  if (hc.type == config::HealthCheckType::kTcp) co_return true;
  if (!c.firstSent && !first.empty()) {
    io::TransmitElement el = io::TransmitElement::memory(first.data(), first.size());
    TimePoint now = clock.now();
    if (now >= deadline) co_return false;
    io::IoResult w = co_await io::transmit(proactor_, s.native(), std::span(&el, 1),
                                           std::max<Duration>(deadline - now, milliseconds(1)));
    if (!w.ok()) co_return false;
  }
  // The status line: read until it is complete (or the reply buffer is full).
  std::size_t have = 0;
  for (;;) {
    TimePoint now = clock.now();
    if (now >= deadline) co_return false;
    io::IoResult r =
        co_await io::recv(proactor_, s.native(), std::span(l.reply + have, sizeof(l.reply) - have),
                          std::max<Duration>(deadline - now, milliseconds(1)));
    if (!r.ok() || r.bytes == 0) {
      co_return statusPasses(parseStatusLine(std::string_view(l.reply, have)), hc.expectStatus);
    }
    have += r.bytes;
    std::string_view got(l.reply, have);
    if (got.find('\n') != std::string_view::npos || have == sizeof(l.reply)) {
      co_return statusPasses(parseStatusLine(got), hc.expectStatus);
    }
  }
}

namespace {

void appendEscaped(std::string& out, std::string_view s) {
  for (char ch : s) {
    if (ch == '"' || ch == '\\') {
      out += '\\';
      out += ch;
    } else if (static_cast<unsigned char>(ch) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\u%04x", static_cast<unsigned>(ch));
      out += buf;
    } else {
      out += ch;
    }
  }
}

}  // namespace

std::string clustersJson(const config::Config& config,
                         std::span<const std::shared_ptr<HealthBoard>> boards, TimePoint now,
                         std::span<const std::vector<std::shared_ptr<ResolvedName>>> sources,
                         const PoolStateOf& pools) {
  std::string out = "{\"clusters\":[";
  for (std::size_t c = 0; c < config.clusters.size(); ++c) {
    const config::ClusterConfig& cc = config.clusters[c];
    const HealthBoard* b = c < boards.size() ? boards[c].get() : nullptr;
    if (c > 0) out += ',';
    out += "{\"name\":\"";
    appendEscaped(out, cc.name);
    out += "\",\"healthy_panic_threshold\":" + std::to_string(cc.healthyPanicThreshold);
    // Panic as the workers' balancers see it: too few endpoints healthy, so all are used.
    std::size_t up = b != nullptr ? b->healthyCount(now) : cc.endpoints.size();
    out += ",\"healthy_endpoints\":" + std::to_string(up);
    out += ",\"panic\":";
    out += balance::inPanic(up, cc.endpoints.size(), cc.healthyPanicThreshold) ? "true" : "false";
    out += ",\"health_check\":";
    out += cc.healthCheck ? "true" : "false";
    out += ",\"outlier_detection\":";
    out += cc.outlierDetection ? "true" : "false";
    out += ",\"endpoints\":[";
    for (std::size_t e = 0; e < cc.endpoints.size(); ++e) {
      const config::EndpointConfig& ep = cc.endpoints[e];
      bool have = b != nullptr && e < b->size();
      bool healthy = !have || b->checkedHealthy(e);
      TimePoint until = have ? b->ejectedUntil(e) : TimePoint{};
      bool ejected = until > now;
      auto left = ejected ? std::chrono::duration_cast<std::chrono::milliseconds>(until - now)
                          : std::chrono::milliseconds(0);
      if (e > 0) out += ',';
      out += "{\"address\":\"";
      appendEscaped(out, ep.address);
      out += "\",\"weight\":" + std::to_string(ep.weight);
      out += ",\"health\":\"";
      out += healthy ? "healthy" : "unhealthy";
      out += "\",\"ejected\":";
      out += ejected ? "true" : "false";
      out += ",\"ejected_for_ms\":" + std::to_string(left.count());
      out += ",\"times_ejected\":" + std::to_string(have ? b->timesEjected(e) : 0);
      const ResolvedName* src =
          c < sources.size() && e < sources[c].size() ? sources[c][e].get() : nullptr;
      std::shared_ptr<const AddressList> list = src != nullptr ? src->current() : nullptr;
      out += ",\"dns\":";
      out += ep.isName() ? "true" : "false";
      out += ",\"resolved\":[";
      if (list) {
        for (std::size_t k = 0; k < list->addresses.size(); ++k) {
          if (k > 0) out += ',';
          out += '"' + list->addresses[k].toString() + '"';
        }
      } else if (ep.literal) {
        out += '"' + ep.literal->toString() + '"';
      }
      out += ']';
      if (ep.isName()) {
        out += ",\"dns_generation\":" + std::to_string(list ? list->generation : 0);
        out += ",\"dns_resolutions\":" + std::to_string(src != nullptr ? src->attempts() : 0);
        out += ",\"dns_failures\":" + std::to_string(src != nullptr ? src->failures() : 0);
      }
      if (pools) {
        EndpointPoolState st = pools(cc, ep);
        out += ",\"pool\":{\"idle\":" + std::to_string(st.idle) +
               ",\"active\":" + std::to_string(st.active) + '}';
      }
      out += '}';
    }
    out += "]}";
  }
  out += "]}";
  return out;
}

}  // namespace ferry::upstream
