// ferry: a connection-pooling HTTP/1.1 reverse proxy.
//
//   ferry [-c FILE]        serve FILE (default config/ferry.yaml)
//   ferry --check FILE     validate FILE, print every error, exit 1 if any
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
#include "proxy/metrics/metrics.h"
#include "proxy/runtime/cli.h"
#include "proxy/runtime/notify.h"       // deploy: sd_notify / Windows SCM state
#include "proxy/runtime/service_win.h"  // deploy: ferry service install|uninstall|run
#include "proxy/runtime/worker.h"

namespace {

ferry::io::Backend backendOf(const std::string& s) {
  if (s == "io_uring") return ferry::io::Backend::kUring;
  if (s == "epoll") return ferry::io::Backend::kEpoll;
  return ferry::io::Backend::kAuto;
}

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

  config::LoadResult loaded = config::loadFile(file);
  if (!loaded.errors.empty()) return printErrors(loaded);
  std::shared_ptr<const config::Config> cfg = loaded.config;
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
                       "Access-log lines dropped because a worker's buffer was full",
                       metrics::Registry::Type::kCounter,
                       [] { return static_cast<double>(log::accessLogDropped()); });
  registry.addCallback("ferry_log_lines_suppressed_total",
                       "Repeated warning and error lines suppressed by rate limiting",
                       metrics::Registry::Type::kCounter,
                       [] { return static_cast<double>(log::suppressedLines()); });
  std::shared_ptr<const runtime::Snapshot> snapshot = runtime::Snapshot::build(cfg);
  std::vector<std::unique_ptr<runtime::Worker>> pool;
  std::vector<io::Address> bound(cfg->listeners.size());  // filled by the workers' start-up
  for (unsigned i = 0; i < workers; ++i) {
    pool.push_back(
        std::make_unique<runtime::Worker>(i, workers, snapshot, registry, backend, bound));
    Result<bool> r = pool.back()->start();
    if (!r) {
      log::error("worker {}: {}", i, r.error().message());
      std::fflush(nullptr);
      std::_Exit(1);
    }
  }
  std::atomic<bool> ready{true};
  std::vector<std::pair<std::string, io::Address>> listenerTable;
  for (std::size_t i = 0; i < bound.size(); ++i)
    listenerTable.emplace_back(cfg->listeners[i].name, bound[i]);
  admin::AdminServer adminServer(registry, ready, listenerTable);
  if (cfg->admin.enabled) {
    Result<bool> r = adminServer.start(cfg->admin.address);
    if (!r) {
      log::error("admin: {}", r.error().message());
      std::fflush(nullptr);
      std::_Exit(1);
    }
  }
  for (std::size_t i = 0; i < cfg->listeners.size(); ++i) {
    const config::ListenerConfig& l = cfg->listeners[i];
    log::info("listener {} on {} ({})", l.name, bound[i].toString(),
              l.kind == config::ListenerKind::kStatic ? "static " + l.staticRoot : "proxy");
  }
  log::info("ferry serving {} with {} worker{} on {}", file, workers, workers == 1 ? "" : "s",
            io::backendName(pool.front()->backend()));
  runtime::notifyReady();  // deploy: systemd READY=1 / SCM RUNNING, every listener bound

#ifdef _WIN32
  ::WaitForSingleObject(g_stopEvent, INFINITE);
  log::info("console event: stopping");
#else
  for (;;) {
    int sig = 0;
    sigwait(&sigs, &sig);
    if (sig == SIGUSR1) {
      log::reopen();
      continue;
    }
    if (sig == SIGHUP) {
      runtime::notifyReloading();  // deploy: systemd RELOADING=1 ... READY=1 around a reload
      log::warn("SIGHUP: reload is not implemented yet; keeping the running config");
      runtime::notifyReady();
      continue;
    }
    log::info("signal {}: stopping", sig);
    break;
  }
#endif
  runtime::notifyStopping();  // deploy: systemd STOPPING=1 / SCM STOP_PENDING
  // Graceful stop: /ready turns 503 at once; after the drain delay (a load balancer polling
  // /ready stops sending first) the workers stop accepting, idle keep-alive connections close,
  // busy ones finish their response (told Connection: close) up to the drain timeout.
  ready.store(false);
  runtime::drainWorkers(pool, cfg->drainDelay, cfg->drainTimeout);
  for (auto& w : pool) w->stop();
  for (auto& w : pool) w->join();
  adminServer.stop();
  log::info("stopped");
  log::flushAccessLogs();
  std::fflush(nullptr);
  runtime::notifyStopped(0);  // deploy: SCM STOPPED (the last word before exit)
  // Connections still open after the drain timeout are dropped with the process.
  std::_Exit(0);
}
