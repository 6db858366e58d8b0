#include "proxy/runtime/reload.h"

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "proxy/common/access_log.h"
#include "proxy/common/log.h"
#include "proxy/config/diff.h"
#include "proxy/runtime/notify.h"

namespace ferry::runtime {

Loaded loadConfigFile(const std::string& path) {
  Loaded l;
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    l.result.errors.push_back(
        config::ConfigError{config::Location{path, 1, 1}, "", "cannot read the file", ""});
    return l;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  l.text = ss.str();
  std::string dir = std::filesystem::path(path).parent_path().string();
  if (dir.empty()) dir = ".";
  l.result = config::loadString(l.text, path, dir);
  return l;
}

namespace {
// The first active check round (HealthChecker::firstRound) of every endpoint of s that no check
// judged yet, before s serves: on a proactor of its own, on the calling thread, each check
// bounded by its timeout. So an endpoint that is down at start (or that a reload adds) never
// gets a request before its checks say it is up (Envoy's cluster warming).
void runFirstChecks(const Snapshot& s, io::Backend backend) {
  bool any = false;
  for (const config::ClusterConfig& cc : s.config->clusters) any = any || cc.healthCheck;
  if (!any) return;
  Result<std::unique_ptr<io::Proactor>> p = io::makeProactor(backend);
  if (!p) {
    log::warn("health check: no first round ({}): endpoints start healthy", p.error().message());
    return;
  }
  std::size_t n = 0;
  {
    upstream::HealthChecker checker(*p.value(), *s.config, s.health, {}, s.sources);
    n = checker.firstRound();
  }
  if (n > 0) log::info("health check: first round done ({} endpoint(s) checked)", n);
}
}  // namespace

Runtime::Runtime(std::string file, metrics::Registry& registry, std::function<void()> wake)
    : file_(std::move(file)), registry_(registry), wake_(std::move(wake)) {}

Runtime::~Runtime() = default;

bool Runtime::start(std::shared_ptr<const Snapshot> first, unsigned workers, io::Backend backend) {
  backend_ = backend;
  runFirstChecks(*first, backend);
  std::vector<io::Address> bound(first->config->listeners.size());  // filled by the workers
  for (unsigned i = 0; i < workers; ++i) {
    workers_.push_back(
        std::make_unique<Worker>(i, workers, first, registry_, backend, bound, &names_));
    Result<bool> r = workers_.back()->start();
    if (!r) {
      log::error("worker {}: {}", i, r.error().message());
      return false;
    }
  }
  std::lock_guard<std::mutex> lock(stateMutex_);
  for (std::size_t i = 0; i < bound.size(); ++i) {
    listeners_.emplace_back(first->config->listeners[i].name, bound[i]);
  }
  snapshot_ = std::move(first);
  return true;
}

std::shared_ptr<const Snapshot> Runtime::snapshot() const {
  std::lock_guard<std::mutex> lock(stateMutex_);
  return snapshot_;
}

admin::Control::Outcome Runtime::reloadFile(bool watch) {
  std::lock_guard<std::mutex> lock(reloadMutex_);
  if (stopping_) return {false, "draining: reload refused"};
  std::shared_ptr<const Snapshot> old = snapshot();
  Loaded loaded = loadConfigFile(file_);
  if (watch && loaded.text == old->text) return {true, "unchanged"};
  notifyReloading();  // systemd: RELOADING=1 ... READY=1
  auto fail = [&](std::string text) {
    registry_.recordReload(false);
    notifyReady();  // the old config serves on
    return Outcome{false, std::move(text)};
  };
  if (!loaded.result.errors.empty()) {
    std::string text;
    for (const config::ConfigError& e : loaded.result.errors) {
      log::error("reload: {}", e.format());
      text += e.format() + "\n";
    }
    log::error("reload of {} rejected: {} error{}; the running config is unchanged", file_,
               loaded.result.errors.size(), loaded.result.errors.size() == 1 ? "" : "s");
    return fail(std::move(text));
  }
  std::shared_ptr<const config::Config> cfg = loaded.result.config;
  config::Diff d = config::diff(*old->config, *cfg);
  Result<upstream::EndpointSources> sources = names_.resolve(*cfg);
  if (!sources) {
    std::string text = file_ + ": " + sources.error().message();
    log::error("reload rejected: {}; the running config is unchanged", text);
    return fail(text + "\n");
  }
  names_.awaitFirstAnswers(sources.value(), kFirstAnswerWait);
  std::shared_ptr<const Snapshot> next =
      Snapshot::build(cfg, std::move(loaded.text), old.get(), std::move(sources.value()));
  runFirstChecks(*next, backend_);  // new endpoints: judged before they take traffic
  registry_.apply(*cfg);            // slots for new names, before the workers point at them
  std::vector<io::Address> bound(cfg->listeners.size());
  for (std::size_t i = 0; i < workers_.size(); ++i) {
    Result<bool> r = workers_[i]->prepare(next, bound);
    if (!r) {
      for (std::size_t k = 0; k < i; ++k) workers_[k]->abort();
      registry_.apply(*old->config);
      names_.retain(*old->config);
      std::string text = file_ + ": " + r.error().message();
      log::error("reload rejected: {}; the running config is unchanged", text);
      return fail(text + "\n");
    }
  }
  for (auto& w : workers_) w->commit();
  names_.retain(*cfg);
  {
    std::lock_guard<std::mutex> state(stateMutex_);
    snapshot_ = next;
    listeners_.clear();
    for (std::size_t i = 0; i < bound.size(); ++i) {
      listeners_.emplace_back(cfg->listeners[i].name, bound[i]);
    }
  }
  std::string text = config::format(d);
  for (const config::DiffItem& i : d.items) {
    if (i.action == config::DiffItem::Action::kKeep) continue;
    log::info("reload: {}", config::format(i));
  }
  double now = static_cast<double>(std::chrono::duration_cast<std::chrono::seconds>(
                                       std::chrono::system_clock::now().time_since_epoch())
                                       .count());
  registry_.recordReload(true, now);
  log::info("reloaded {}", file_);
  notifyReady();
  return {true, text};
}

void Runtime::stopGracefully() {
  std::shared_ptr<const Snapshot> s;
  {
    std::lock_guard<std::mutex> lock(reloadMutex_);
    stopping_ = true;
    s = snapshot();
  }
  // Graceful stop: /ready turns 503 at once; after the drain delay (a load balancer polling
  // /ready stops sending first) the workers stop accepting, idle keep-alive connections close,
  // busy ones finish their response (told Connection: close) up to the drain timeout.
  ready_.store(false, std::memory_order_release);
  drainWorkers(workers_, s->config->drainDelay, s->config->drainTimeout);
  for (auto& w : workers_) w->stop();
  for (auto& w : workers_) w->join();
}

void Runtime::drain() {
  log::info("POST /drain: stopping");
  ready_.store(false, std::memory_order_release);
  wake_();
}

admin::Control::Outcome Runtime::reopen() {
  // The access log's file, if it writes to one (logrotate moved it): the same as SIGUSR1.
  log::reopen();
  log::info("POST /reopen: access log reopened");
  return {true, "access log reopened"};
}

std::vector<io::Address> Runtime::bound() const {
  std::lock_guard<std::mutex> lock(stateMutex_);
  std::vector<io::Address> out;
  for (const auto& l : listeners_) out.push_back(l.second);
  return out;
}

std::string Runtime::configText() {
  return snapshot()->text;
}

std::string Runtime::listeners() {
  std::lock_guard<std::mutex> lock(stateMutex_);
  std::string out;
  for (const auto& [name, addr] : listeners_) out += name + " " + addr.toString() + "\n";
  return out;
}

}  // namespace ferry::runtime
