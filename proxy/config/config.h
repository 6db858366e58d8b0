#pragma once
// The configuration model: an immutable snapshot built and validated by the loader. Workers keep
// a shared_ptr<const Config>; a reload builds a new one and switches at a safe point.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "proxy/common/time.h"
#include "proxy/io/address.h"

namespace ferry::config {

struct Location {
  std::string file;
  int line = 0;    // 1-based
  int column = 0;  // 1-based
};

struct ConfigError {
  Location where;
  std::string message;
  std::string hint;  // may be empty
  // "file:line:col: error: message (hint)"
  std::string format() const;
};

struct RouteMatch {
  std::string host;              // empty: any host; "*.example.com": any subdomain; else exact
  std::string pathPrefix = "/";  // the request path starts with this
};

struct RouteConfig {
  std::string name;
  RouteMatch match;
  std::string cluster;
  Location where;
};

enum class ListenerKind {
  kProxy,   // HTTP reverse proxy: routes to clusters
  kStatic,  // serves files from a directory (built-in backends, demos)
};

struct ListenerConfig {
  std::string name;
  io::Address address;
  ListenerKind kind = ListenerKind::kProxy;
  std::vector<RouteConfig> routes;              // kProxy, first match wins
  std::string staticRoot;                       // kStatic, absolute
  Duration requestHeaderTimeout = seconds(10);  // the whole head must arrive in this time: 408
  Duration idleTimeout = seconds(60);           // keep-alive wait for the next request
  Duration sendTimeout = seconds(30);           // a client that does not read is cut off
  std::uint32_t maxRequestHeaderBytes = 16384;  // larger heads: 431
  std::uint64_t maxRequestBodyBytes = 0;        // 0: unlimited; a larger Content-Length: 413
};

struct ClusterConfig {
  std::string name;
  std::vector<io::Address> endpoints;
  Duration connectTimeout = seconds(2);
  Duration responseTimeout = seconds(30);  // between bytes from the backend: 504 if none came
  std::uint32_t maxIdlePerWorker = 64;     // idle keep-alive connections kept per endpoint
  Duration idleTimeout = seconds(60);      // idle pooled connections older than this are closed
};

struct AdminConfig {
  bool enabled = true;
  io::Address address;
};

struct Config {
  std::string file;         // where it was loaded from
  unsigned workers = 0;     // 0: one per core
  std::string io = "auto";  // auto, io_uring, epoll
  std::string logLevel = "info";
  bool accessLog = true;
  Duration drainDelay = seconds(0);     // on stop: /ready is 503 this long before accepts end
  Duration drainTimeout = seconds(30);  // on stop: in-flight requests get this long to finish
  AdminConfig admin;
  std::vector<ListenerConfig> listeners;
  std::vector<ClusterConfig> clusters;

  const ClusterConfig* findCluster(const std::string& name) const;
};

struct LoadResult {
  std::shared_ptr<const Config> config;  // null when errors is not empty
  std::vector<ConfigError> errors;
};

// Reads and validates a YAML config. Every error is collected (not just the first), each with
// file:line:column. Relative paths in the config resolve against the file's directory.
LoadResult loadFile(const std::string& path);
// The same for YAML text; fileName is used in error locations and baseDir for relative paths.
LoadResult loadString(const std::string& text, const std::string& fileName,
                      const std::string& baseDir);

}  // namespace ferry::config
