#pragma once
// The route table: a request's method, host, path, query and headers -> the first matching
// route -> its cluster (or ferry's own answer). Pure: built once per config snapshot, read-only
// afterwards, shared by all workers. Lookup allocates nothing: exact hosts are found by binary
// search, so a table of many virtual hosts costs a few comparisons plus the routes of one host
// and the wildcard-host routes, tried in config order (first match wins).
//
// Concurrency note: RE2 objects are shared by all workers; RE2 is thread-safe for matching and
// takes a reader lock on its lazily built DFA cache (after warm-up, no allocation).

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/config/config.h"
#include "proxy/http/message.h"

namespace re2 {
class RE2;
}

namespace ferry::route {

// What a route is matched against: views into the request head, valid while the head is.
struct RequestView {
  std::string_view method;
  std::string_view host;   // the authority's host, port removed
  std::string_view path;   // without the query
  std::string_view query;  // after '?', without it; empty if none
  std::span<const http::Header> headers;
};
// The view of a parsed request head: an absolute-form target ("http://h:1/p?q") supplies host and
// path, else the Host header does.
RequestView viewOf(const http::MessageHead& head);

struct Route {
  enum class HostMatch {
    kAny,     // any host
    kExact,   // host equals (case-insensitive)
    kSuffix,  // host ends with host (".example.com"), and is longer
  };
  enum class PathMatch {
    kPrefix,  // path starts with pathPrefix
    kExact,   // path equals path
    kRegex,   // the whole path matches pathRegex
  };
  enum class Action {
    kCluster,         // proxy to cluster (or one of split)
    kDirectResponse,  // answer config->directResponse
    kRedirect,        // answer config->redirect
  };
  struct ValueMatcher {
    std::string name;
    config::ValueMatch::Kind kind = config::ValueMatch::Kind::kPresent;
    std::string value;
    std::shared_ptr<const re2::RE2> regex;  // kRegex
  };
  struct Split {
    std::size_t cluster = 0;  // index into the config's clusters
    std::uint64_t upTo = 0;   // cumulative weight: picked when random % total < upTo
  };

  std::string name;
  HostMatch hostMatch = HostMatch::kAny;
  std::string host;  // lower case; for kSuffix the part after '*', e.g. ".example.com"
  PathMatch pathMatch = PathMatch::kPrefix;
  std::string pathPrefix = "/";
  std::string path;
  std::shared_ptr<const re2::RE2> pathRegex;
  std::vector<std::string> methods;  // empty: any
  std::vector<ValueMatcher> headers;
  std::vector<ValueMatcher> query;
  Action action = Action::kCluster;
  std::size_t cluster = 0;   // kCluster: index into the config's clusters (a split's first one)
  std::vector<Split> split;  // a weighted split; empty: always cluster
  // timeout, retry, header rules, direct_response, redirect, allow_trace: the route's config,
  // owned by the Config snapshot the table was built from (which must outlive the table).
  const config::RouteConfig* config = nullptr;
};

// The cluster index for one request of r: r.cluster, or for a split the cluster whose share
// contains random % total weight. Pure; the caller supplies the random number.
std::size_t pickCluster(const Route& r, std::uint64_t random);

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
  // Routes in order; clusters resolved by name against config (the loader checked they exist,
  // and that the regular expressions compile).
  static RouteTable build(const std::vector<config::RouteConfig>& routes,
                          const config::Config& config);

  // The first route matching req, or nullptr (answer 404). No allocation.
  const Route* match(const RequestView& req) const;
  // The same with only host and path known (method, headers and query empty).
  const Route* match(const RequestKey& key) const;
  const std::vector<Route>& routes() const { return routes_; }

 private:
  struct HostBucket {
    std::string host;                   // lower case
    std::vector<std::uint32_t> routes;  // ascending indices of routes with this exact host
  };
  const HostBucket* findHost(std::string_view host) const;

  std::vector<Route> routes_;
  std::vector<HostBucket> hosts_;       // sorted by host
  std::vector<std::uint32_t> anyHost_;  // ascending indices of kAny and kSuffix routes
};

}  // namespace ferry::route
