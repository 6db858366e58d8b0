#include "proxy/route/route_table.h"

#include <cctype>

namespace ferry::route {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool iequalsLower(std::string_view s, std::string_view lowerWord) {
  if (s.size() != lowerWord.size()) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(s[i])) != lowerWord[i]) return false;
  }
  return true;
}

std::string_view stripPort(std::string_view host) {
  if (!host.empty() && host.front() == '[') {  // [v6]:port
    std::size_t close = host.find(']');
    return close == std::string_view::npos ? host : host.substr(0, close + 1);
  }
  std::size_t colon = host.rfind(':');
  return colon == std::string_view::npos ? host : host.substr(0, colon);
}

}  // namespace

RequestKey keyOf(std::string_view target, std::string_view hostHeader) {
  RequestKey k{stripPort(hostHeader), target};
  constexpr std::string_view kHttp = "http://";
  if (target.size() > kHttp.size() && iequalsLower(target.substr(0, kHttp.size()), kHttp)) {
    std::string_view rest = target.substr(kHttp.size());
    std::size_t slash = rest.find_first_of("/?");
    k.host = stripPort(rest.substr(0, slash));
    k.path = slash == std::string_view::npos ? std::string_view("/") : rest.substr(slash);
  }
  std::size_t q = k.path.find('?');
  if (q != std::string_view::npos) k.path = k.path.substr(0, q);
  return k;
}

RouteTable RouteTable::build(const std::vector<config::RouteConfig>& routes,
                             const config::Config& config) {
  RouteTable t;
  for (const config::RouteConfig& rc : routes) {
    Route r;
    r.name = rc.name.empty() ? rc.cluster : rc.name;
    r.pathPrefix = rc.match.pathPrefix;
    std::string host = lower(rc.match.host);
    if (host.empty() || host == "*") {
      r.hostMatch = Route::HostMatch::kAny;
    } else if (host.size() > 1 && host[0] == '*') {
      r.hostMatch = Route::HostMatch::kSuffix;
      r.host = host.substr(1);
    } else {
      r.hostMatch = Route::HostMatch::kExact;
      r.host = host;
    }
    for (std::size_t i = 0; i < config.clusters.size(); ++i) {
      if (config.clusters[i].name == rc.cluster) r.cluster = i;
    }
    t.routes_.push_back(std::move(r));
  }
  return t;
}

const Route* RouteTable::match(const RequestKey& key) const {
  for (const Route& r : routes_) {
    switch (r.hostMatch) {
      case Route::HostMatch::kAny:
        break;
      case Route::HostMatch::kExact:
        if (!iequalsLower(key.host, r.host)) continue;
        break;
      case Route::HostMatch::kSuffix:
        if (key.host.size() <= r.host.size() ||
            !iequalsLower(key.host.substr(key.host.size() - r.host.size()), r.host)) {
          continue;
        }
        break;
    }
    if (key.path.substr(0, r.pathPrefix.size()) == r.pathPrefix) return &r;
  }
  return nullptr;
}

}  // namespace ferry::route
