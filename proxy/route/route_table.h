#pragma once
// The route table: a request's host and path -> the first matching route -> its cluster.
// Pure: built once per config snapshot, read-only afterwards, shared by all workers.

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/config/config.h"

namespace ferry::route {

struct Route {
  enum class HostMatch { kAny, kExact, kSuffix };
  std::string name;
  HostMatch hostMatch = HostMatch::kAny;
  std::string host;  // lower case; for kSuffix the part after '*', e.g. ".example.com"
  std::string pathPrefix = "/";
  std::size_t cluster = 0;  // index into the config's clusters
};

// The host and path a request is routed by: the Host header (port removed) and the target's
// path; an absolute-form target ("http://h:1/p?q") supplies both.
struct RequestKey {
  std::string_view host;
  std::string_view path;
};
RequestKey keyOf(std::string_view target, std::string_view hostHeader);

class RouteTable {
 public:
  RouteTable() = default;
  // Routes in order; clusters resolved by name against config (the loader checked they exist).
  static RouteTable build(const std::vector<config::RouteConfig>& routes,
                          const config::Config& config);

  // The first route matching key, or nullptr (answer 404). No allocation.
  const Route* match(const RequestKey& key) const;
  const std::vector<Route>& routes() const { return routes_; }

 private:
  std::vector<Route> routes_;
};

}  // namespace ferry::route
