#pragma once
// The admin listener: a table of handlers, each a path, a method and a help line (GET / lists
// them). Runs on its own thread and proactor, off the request path. What it controls (reload,
// drain, the live config) comes through admin::Control, which the runtime implements.
//
//   GET  /metrics    Prometheus text format
//   GET  /healthz    the process is up
//   GET  /ready      200 while serving, 503 once a drain began
//   GET  /listeners  each listener's name and bound address, one per line ("name addr")
//   GET  /config     the live config, as the YAML it was loaded from
//   GET  /           this table
//   POST /reload     reload the config file: 200 and what changed, or 400 and every error
//   POST /drain      graceful stop, as SIGTERM: /ready 503, drain_delay, drain, exit 0
//   POST /reopen     reopen log files (log rotation)
//
// A path asked with another method gets 405 with Allow. More handlers: AdminServer::add, e.g.
//   admin.add("/clusters", admin::Method::kGet, "clusters and endpoints (JSON)",
//             [&] { return admin::Response{200, "application/json", renderClusters()}; });

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "proxy/common/result.h"
#include "proxy/io/address.h"
#include "proxy/metrics/metrics.h"

namespace ferry::admin {

enum class Method { kGet, kPost };

struct Response {
  int status = 200;
  std::string contentType = "text/plain; charset=utf-8";
  std::string body;
};

// What the admin listener asks of the running process. Called on the admin thread.
class Control {
 public:
  struct Outcome {
    bool ok = true;
    std::string text;  // ok: what was done; else every error, one per line
  };
  virtual Outcome reload() = 0;          // POST /reload
  virtual void drain() = 0;              // POST /drain: starts the graceful stop
  virtual Outcome reopen() = 0;          // POST /reopen
  virtual std::string configText() = 0;  // GET /config
  virtual std::string listeners() = 0;   // GET /listeners
  virtual bool ready() = 0;              // GET /ready

 protected:
  ~Control() = default;
};

class AdminServer {
 public:
  AdminServer(metrics::Registry& registry, Control& control);
  ~AdminServer();
  // Adds a handler (before start()). GET handlers also answer HEAD.
  void add(std::string path, Method method, std::string help, std::function<Response()> handler);
  // Binds addr on the caller's thread (so a busy port is reported at start-up), then serves.
  Result<bool> start(const io::Address& addr);
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ferry::admin
