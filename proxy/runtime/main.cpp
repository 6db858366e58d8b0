// ferry: a connection-pooling HTTP/1.1 reverse proxy.
//
//   ferry [-c FILE]        serve FILE (default config/ferry.yaml)
//   ferry --check FILE     validate FILE, print every error, exit 1 if any
//   ferry --check --diff OLD NEW   what a reload from OLD to NEW would add, change, drain, keep
//   ferry --print-schema   the config's JSON Schema
//   ferry --help           every option (proxy/runtime/cli.cpp)

#ifdef _WIN32
#include <windows.h>
#else
#include <signal.h>
#include <unistd.h>
#endif

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "proxy/admin/admin.h"
#include "proxy/common/log.h"
#include "proxy/config/config.h"
#include "proxy/config/diff.h"
#include "proxy/io/accept_gate.h"
#include "proxy/metrics/metrics.h"
#include "proxy/runtime/cli.h"
#include "proxy/runtime/notify.h"  // deploy: sd_notify / Windows SCM state
#include "proxy/runtime/reload.h"
#include "proxy/runtime/service_win.h"  // deploy: ferry service install|uninstall|run
#include "proxy/runtime/watch.h"
#include "proxy/runtime/worker.h"
#include "proxy/upstream/health.h"
#include "proxy/upstream/names.h"

namespace {

ferry::io::Backend backendOf(const std::string& s) {
  if (s == "io_uring") return ferry::io::Backend::kUring;
  if (s == "epoll") return ferry::io::Backend::kEpoll;
  return ferry::io::Backend::kAuto;
}

// Set by POST /drain before it asks the main thread to stop: the stop is then logged as its own,
// not as a signal's.
std::atomic<bool> g_drainAsked{false};

#ifdef _WIN32
HANDLE g_stopEvent = nullptr;
BOOL WINAPI onConsoleEvent(DWORD type) {
  if (type == CTRL_LOGOFF_EVENT && ferry::runtime::runningAsService()) return FALSE;  // deploy
  ::SetEvent(g_stopEvent);
  return TRUE;
}
#endif

int printErrors(const ferry::config::LoadResult& r) {
  for (const auto& e : r.errors) std::fprintf(stderr, "%s\n", e.format().c_str());
  std::fprintf(stderr, "%zu error%s\n", r.errors.size(), r.errors.size() == 1 ? "" : "s");
  return 1;
}

// ferry --check --diff OLD NEW: both validated, then what a reload from OLD to NEW does.
int printDiff(const std::string& from, const std::string& to) {
  using namespace ferry;
  config::LoadResult a = config::loadFile(from);
  config::LoadResult b = config::loadFile(to);
  if (!a.errors.empty() || !b.errors.empty()) {
    config::LoadResult all;
    all.errors = a.errors;
    all.errors.insert(all.errors.end(), b.errors.begin(), b.errors.end());
    return printErrors(all);
  }
  std::fputs(config::format(config::diff(*a.config, *b.config)).c_str(), stdout);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace ferry;
#ifdef _WIN32
  if (std::optional<int> rc = runtime::serviceCommand(argc, argv)) return *rc;  // deploy/windows
#endif
  int exitCode = 0;
  std::optional<runtime::CommandLine> cl = runtime::parseCommandLine(argc, argv, exitCode);
  if (!cl) return exitCode;
  if (cl->printSchema) {
    std::fputs(config::jsonSchema().c_str(), stdout);
    return 0;
  }
  if (!cl->diff.empty()) return printDiff(cl->diff[0], cl->diff[1]);
  if (!cl->check.empty()) {
    config::LoadResult r = config::loadFile(cl->check);
    if (!r.errors.empty()) return printErrors(r);
    std::printf("%s: ok (%zu listeners, %zu clusters)\n", cl->check.c_str(),
                r.config->listeners.size(), r.config->clusters.size());
    return 0;
  }
  const std::string& file = cl->configFile;
  const std::string& io = cl->io;
  const std::string& level = cl->logLevel;
  unsigned workers = cl->workers;

  runtime::Loaded loaded = runtime::loadConfigFile(file);
  if (!loaded.result.errors.empty()) return printErrors(loaded.result);
  std::shared_ptr<const config::Config> cfg = loaded.result.config;
  log::init(level.empty() ? cfg->logLevel : level);
  if (workers == 0) workers = cfg->workers;
  if (workers == 0) workers = std::max(1U, std::thread::hardware_concurrency());
  io::Backend backend = backendOf(io.empty() ? cfg->io : io);

#ifdef _WIN32
  // No SO_REUSEPORT: one listening socket per address, so one worker owns them all for now.
  if (workers > 1) log::info("Windows: running 1 worker (listeners cannot be shared yet)");
  workers = 1;
  g_stopEvent = ::CreateEventA(nullptr, TRUE, FALSE, nullptr);
  runtime::serviceAttachStopEvent(g_stopEvent);  // deploy/windows: SCM stop sets it
  ::SetConsoleCtrlHandler(onConsoleEvent, TRUE);
#else
  // Signals are taken by sigwait in this thread only.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGHUP);
  sigaddset(&sigs, SIGUSR1);  // reopen the access log (logrotate)
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
#endif

  metrics::Registry registry(cfg, workers);
  registry.addCallback("ferry_access_log_dropped_lines_total",
                       "Access-log lines dropped: a worker's buffer was full, or the writer "
                       "failed to write them",
                       metrics::Registry::Type::kCounter,
                       [] { return static_cast<double>(log::accessLogDropped()); });
  registry.addCallback("ferry_log_lines_suppressed_total",
                       "Repeated warning and error lines suppressed by rate limiting",
                       metrics::Registry::Type::kCounter,
                       [] { return static_cast<double>(log::suppressedLines()); });
  // The process's client connections and the limit on them (io/accept_gate.h).
  registry.addCallback("ferry_downstream_connections",
                       "Client connections open in the process (what max_connections caps)",
                       metrics::Registry::Type::kGauge,
                       [] { return static_cast<double>(io::ConnectionBudget::process().open()); });
  registry.addCallback(
      "ferry_downstream_connections_limit",
      "The limit on client connections: max_connections, capped by the file descriptors; 0: none",
      metrics::Registry::Type::kGauge,
      [] { return static_cast<double>(io::ConnectionBudget::process().limit()); });
  registry.addCallback("ferry_accept_pauses_total",
                       "Times a worker stopped accepting: connection limit reached or out of "
                       "file descriptors (the backlog holds new clients meanwhile)",
                       metrics::Registry::Type::kCounter, [] {
                         return static_cast<double>(io::ConnectionBudget::process().pauses());
                       });
  runtime::Runtime rt(file, registry, [] {
    // POST /drain: the main thread begins the graceful stop, as on SIGTERM.
    g_drainAsked.store(true);
#ifdef _WIN32
    ::SetEvent(g_stopEvent);
#else
    ::kill(::getpid(), SIGTERM);
#endif
  });
  // Endpoints that are DNS names: watched (the resolver thread starts only if there is one),
  // and given a moment to resolve so the first requests find addresses.
  Result<upstream::EndpointSources> sources = rt.names().resolve(*cfg);
  if (!sources) {
    log::error("dns: {}", sources.error().message());
    std::fflush(nullptr);
    std::_Exit(1);
  }
  rt.names().awaitFirstAnswers(sources.value(), runtime::kFirstAnswerWait);
  if (!rt.start(runtime::Snapshot::build(cfg, std::move(loaded.text), nullptr,
                                         std::move(sources.value())),
                workers, backend)) {
    std::fflush(nullptr);
    std::_Exit(1);
  }
  // Endpoint health lives in the snapshot's boards (shared by the workers): read at scrape.
  auto endpointSamples = [&rt](int what) {
    std::vector<metrics::Registry::Sample> out;
    std::shared_ptr<const runtime::Snapshot> s = rt.snapshot();
    TimePoint now = SteadyClock().now();
    for (std::size_t c = 0; c < s->config->clusters.size(); ++c) {
      const config::ClusterConfig& cc = s->config->clusters[c];
      const upstream::HealthBoard& b = *s->health[c];
      for (std::size_t e = 0; e < cc.endpoints.size() && e < b.size(); ++e) {
        bool ejected = b.ejectedUntil(e) > now;
        double v = what == 0   ? (b.checkedHealthy(e) && !ejected ? 1 : 0)
                   : what == 1 ? (ejected ? 1 : 0)
                               : static_cast<double>(b.timesEjected(e));
        out.push_back({{{"cluster", cc.name}, {"endpoint", cc.endpoints[e].address}}, v});
      }
    }
    return out;
  };
  registry.addSamplesCallback(
      "ferry_upstream_endpoint_healthy",
      "1 if the endpoint passes its active health checks and is not ejected",
      metrics::Registry::Type::kGauge, [endpointSamples] { return endpointSamples(0); });
  registry.addSamplesCallback(
      "ferry_upstream_endpoint_ejected", "1 while outlier detection has the endpoint ejected",
      metrics::Registry::Type::kGauge, [endpointSamples] { return endpointSamples(1); });
  registry.addSamplesCallback(
      "ferry_upstream_endpoint_ejections_total",
      "Times outlier detection ejected the endpoint (since its cluster was defined this way)",
      metrics::Registry::Type::kCounter, [endpointSamples] { return endpointSamples(2); });
  registry.addSamplesCallback(
      "ferry_upstream_cluster_panic",
      "1 while fewer than healthy_panic_threshold percent of the cluster's endpoints are healthy "
      "(panic: every endpoint gets traffic, healthy or not)",
      metrics::Registry::Type::kGauge, [&rt] {
        std::vector<metrics::Registry::Sample> out;
        std::shared_ptr<const runtime::Snapshot> s = rt.snapshot();
        TimePoint now = SteadyClock().now();
        for (std::size_t c = 0; c < s->config->clusters.size() && c < s->health.size(); ++c) {
          const config::ClusterConfig& cc = s->config->clusters[c];
          bool panic = s->health[c]->inPanic(now, cc.healthyPanicThreshold);
          out.push_back({{{"cluster", cc.name}}, panic ? 1.0 : 0.0});
        }
        return out;
      });
  // Endpoint addresses (literals: 1; DNS names: what they resolve to now) and DNS resolutions.
  registry.addSamplesCallback(
      "ferry_upstream_endpoint_addresses",
      "Addresses the endpoint has now (1 for an IP literal; a DNS name's answer, 0 until resolved)",
      metrics::Registry::Type::kGauge, [&rt] {
        std::vector<metrics::Registry::Sample> out;
        std::shared_ptr<const runtime::Snapshot> s = rt.snapshot();
        for (std::size_t c = 0; c < s->config->clusters.size() && c < s->sources.size(); ++c) {
          const config::ClusterConfig& cc = s->config->clusters[c];
          for (std::size_t e = 0; e < cc.endpoints.size() && e < s->sources[c].size(); ++e) {
            std::shared_ptr<const upstream::AddressList> l = s->sources[c][e]->current();
            out.push_back({{{"cluster", cc.name}, {"endpoint", cc.endpoints[e].address}},
                           l ? static_cast<double>(l->addresses.size()) : 0.0});
          }
        }
        return out;
      });
  registry.addSamplesCallback(
      "ferry_upstream_dns_resolutions_total",
      "Resolutions of an endpoint's DNS name by result (success, failure); the name's watch is "
      "shared by the clusters naming it",
      metrics::Registry::Type::kCounter, [&rt] {
        std::vector<metrics::Registry::Sample> out;
        std::shared_ptr<const runtime::Snapshot> s = rt.snapshot();
        for (std::size_t c = 0; c < s->config->clusters.size() && c < s->sources.size(); ++c) {
          const config::ClusterConfig& cc = s->config->clusters[c];
          for (std::size_t e = 0; e < cc.endpoints.size() && e < s->sources[c].size(); ++e) {
            if (!cc.endpoints[e].isName()) continue;
            const upstream::ResolvedName& n = *s->sources[c][e];
            double failed = static_cast<double>(n.failures());
            double all = static_cast<double>(n.attempts());
            const std::string& ep = cc.endpoints[e].address;
            out.push_back(
                {{{"cluster", cc.name}, {"endpoint", ep}, {"result", "success"}}, all - failed});
            out.push_back(
                {{{"cluster", cc.name}, {"endpoint", ep}, {"result", "failure"}}, failed});
          }
        }
        return out;
      });
  admin::AdminServer adminServer(registry, rt);
  adminServer.add(
      "/clusters", admin::Method::kGet,
      "every cluster's endpoints: health, ejection, weight, resolved addresses, pool state (JSON)",
      [&rt, &registry] {
        std::shared_ptr<const runtime::Snapshot> s = rt.snapshot();
        auto pools = [&registry](const config::ClusterConfig& c, const config::EndpointConfig& e) {
          upstream::EndpointPoolState st;
          for (unsigned w = 0; w < registry.workers(); ++w) {
            metrics::EndpointCounters& ec = registry.endpoint(w, c.name, e.address);
            st.idle += ec.idle.get();
            st.active += ec.active.get();
          }
          return st;
        };
        return admin::Response{
            200, "application/json",
            upstream::clustersJson(*s->config, s->health, SteadyClock().now(), s->sources, pools)};
      });
  if (cfg->admin.enabled) {
    // The bearer token of the live config: a reload that re-reads token_file rotates it.
    adminServer.setTokenSource([&rt] { return rt.snapshot()->config->admin.control.token; });
    Result<bool> r = adminServer.start(cfg->admin);
    if (!r) {
      log::error("admin: {}", r.error().message());
      std::fflush(nullptr);
      std::_Exit(1);
    }
  }
  std::vector<io::Address> bound = rt.bound();
  for (std::size_t i = 0; i < cfg->listeners.size(); ++i) {
    const config::ListenerConfig& l = cfg->listeners[i];
    log::info("listener {} on {} ({})", l.name, bound[i].toString(),
              l.kind == config::ListenerKind::kStatic ? "static " + l.staticRoot : "proxy");
  }
  log::info("ferry serving {} with {} worker{} on {}", file, workers, workers == 1 ? "" : "s",
            io::backendName(rt.worker(0).backend()));
  runtime::FileWatcher watcher(file, [&rt] { rt.reloadFile(true); });
  if (cfg->watch) {
    Result<bool> r = watcher.start();
    if (r) {
      log::info("watching {} for changes", file);
    } else {
      log::error("watch: {}; reload with SIGHUP or POST /reload", r.error().message());
    }
  }
  runtime::notifyReady();  // deploy: systemd READY=1 / SCM RUNNING, every listener bound

#ifdef _WIN32
  ::WaitForSingleObject(g_stopEvent, INFINITE);
  if (!g_drainAsked.load()) log::info("stop requested: stopping");  // else Runtime::drain said
#else
  for (;;) {
    int sig = 0;
    sigwait(&sigs, &sig);
    if (sig == SIGUSR1) {
      log::reopen();
      continue;
    }
    if (sig == SIGHUP) {
      log::info("SIGHUP: reloading {}", file);
      rt.reloadFile(false);  // logs what changed or every error; notifies RELOADING/READY
      continue;
    }
    // After POST /drain, Runtime::drain said so: the SIGTERM is its own.
    if (sig != SIGTERM || !g_drainAsked.load()) {
      log::info("{}: stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    }
    break;
  }
#endif
  watcher.stop();
  runtime::notifyStopping();  // deploy: systemd STOPPING=1 / SCM STOP_PENDING
  rt.stopGracefully();
  adminServer.stop();
  log::info("stopped");
  log::flushAccessLogs();
  std::fflush(nullptr);
  runtime::notifyStopped(0);  // deploy: SCM STOPPED (the last word before exit)
  // Connections still open after the drain timeout are dropped with the process.
  std::_Exit(0);
}
