#include "proxy/http/ip.h"
#include "proxy/session/context.h"

namespace ferry::session {
namespace {

http::ForwardMode modeOf(config::ForwardMode m) {
  switch (m) {
    case config::ForwardMode::kAppend:
      return http::ForwardMode::kAppend;
    case config::ForwardMode::kReplace:
      return http::ForwardMode::kReplace;
    case config::ForwardMode::kOff:
      break;
  }
  return http::ForwardMode::kOff;
}

// The config's rules as views (remove, then set, then add: the order the writer applies).
std::vector<http::HeaderRule> rulesOf(const config::HeaderRules& r) {
  std::vector<http::HeaderRule> out;
  for (const std::string& n : r.remove) out.push_back({http::HeaderRule::Op::kRemove, n, {}});
  for (const auto& [n, v] : r.set) out.push_back({http::HeaderRule::Op::kSet, n, v});
  for (const auto& [n, v] : r.add) out.push_back({http::HeaderRule::Op::kAdd, n, v});
  return out;
}

}  // namespace

bool HttpPolicy::trusts(const io::Address& client) const {
  return !trustedProxies.empty() && http::contains(trustedProxies, client);
}

void buildPolicies(const config::Config& c, const config::ListenerConfig& l, ListenerContext& out) {
  HttpPolicy& p = out.policy;
  p = HttpPolicy{};
  p.via = l.via;
  p.xForwardedFor = modeOf(l.forwarding.xForwardedFor);
  p.xForwardedProto = modeOf(l.forwarding.xForwardedProto);
  p.xForwardedHost = modeOf(l.forwarding.xForwardedHost);
  p.forwarded = modeOf(l.forwarding.forwarded);
  for (const config::Cidr& cidr : l.trustedProxies) p.trustedProxies.add(cidr.range);
  p.requestId = l.requestId;
  p.requestBodyTimeout = l.requestBodyTimeout;
  p.tunnelIdleTimeout = l.tunnelIdleTimeout;
  p.retryAfter = l.retryAfter;
  for (const config::ErrorPage& e : l.errorPages) {
    auto f = io::File::openRead(e.file.c_str());
    if (!f) {
      log::warn("listener {}: error page {} ({}): {}; the built-in answer is used", l.name,
                e.status, e.file, f.error().message());
      continue;
    }
    p.errorPages.push_back({e.status, std::make_shared<io::File>(std::move(f.value()))});
  }
  out.routePolicies.assign(l.routes.size() + 1, RoutePolicy{});
  for (std::size_t i = 0; i < l.routes.size(); ++i) {
    const config::RouteConfig& r = l.routes[i];
    RoutePolicy& rp = out.routePolicies[i];
    rp.allowTrace = r.allowTrace;
    rp.requestHeaders = rulesOf(r.requestHeaders);
    rp.responseHeaders = rulesOf(r.responseHeaders);
    if (const config::ClusterConfig* cc = c.findCluster(r.cluster))
      rp.hostRewrite = cc->hostRewrite;
  }
}

}  // namespace ferry::session
