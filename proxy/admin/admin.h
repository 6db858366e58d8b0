#pragma once
// The admin listener: a table of handlers, each a path, a method, a help line (GET / lists
// them) and an access class. Runs on its own thread and proactor, off the request path. What it
// controls (reload, drain, the live config) comes through admin::Control, which the runtime
// implements.
//
//   public (the admin address, whatever it is bound to: what Prometheus and probes need)
//   GET  /metrics    Prometheus text format
//   GET  /healthz    the process is up
//   GET  /ready      200 while serving, 503 once a drain began
//   GET  /listeners  each listener's name and bound address, one per line ("name addr")
//   GET  /           this table
//   control (they change the process or reveal its config)
//   GET  /config     the live config, as the YAML it was loaded from
//   POST /reload     reload the config file: 200 and what changed, or 400 and every error
//   POST /drain      graceful stop, as SIGTERM: /ready 503, drain_delay, drain, exit 0
//   POST /reopen     reopen log files (log rotation)
//
// A control handler answers only on a trusted listener (the admin address when it is loopback,
// admin.control.address, which the config requires to be loopback unless a token is set, or the
// Unix socket admin.control.socket, created 0600), or
// to a request whose `Authorization: Bearer <token>` matches admin.control.token_file (compared
// in constant time). Anywhere else it gets 403 with a body that says where to go. So a 0.0.0.0
// admin address (Kubernetes) serves metrics and probes to the cluster and nothing else.
//
// A path asked with another method gets 405 with Allow. More handlers: AdminServer::add, e.g.
//   admin.add("/clusters", admin::Method::kGet, "clusters and endpoints (JSON)",
//             [&] { return admin::Response{200, "application/json", renderClusters()}; },
//             admin::Access::kControl);

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "proxy/common/result.h"
#include "proxy/config/config.h"
#include "proxy/io/address.h"
#include "proxy/metrics/metrics.h"

namespace ferry::admin {

enum class Method { kGet, kPost };

// Who may call a handler.
enum class Access {
  kPublic,   // anyone who reaches the admin address (metrics, health, readiness)
  kControl,  // a trusted listener or the bearer token only (mutates state or reveals config)
};

// Whether token (what followed "Bearer ") equals expected, in time that depends only on their
// lengths, never on where they differ. An empty expected matches nothing.
bool tokenMatches(std::string_view token, std::string_view expected);

struct Response {
  int status = 200;
  std::string contentType = "text/plain; charset=utf-8";
  std::string body;
  // Runs once the response was sent (or failed to be): what must not race its own answer, as
  // POST /drain's stop, which may end the process before a reply still being written.
  std::function<void()> after{};
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
  // Adds a handler (before start()). GET handlers also answer HEAD. A handler is a control one
  // unless said otherwise: a new handler is never exposed by mistake.
  void add(std::string path, Method method, std::string help, std::function<Response()> handler,
           Access access = Access::kControl);
  // Where the bearer token comes from: called on the admin thread for each request that carries
  // one (the runtime returns the live config's, so a reload rotates it). Before start().
  void setTokenSource(std::function<std::string()> token);
  // Binds cfg.address, and cfg.control.address and .socket if set, on the caller's thread (so a
  // busy port is reported at start-up), then serves them all.
  Result<bool> start(const config::AdminConfig& cfg);
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ferry::admin
