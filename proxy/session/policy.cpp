#include "proxy/http/ip.h"
#include "proxy/session/context.h"

namespace ferry::session {

bool HttpPolicy::trusts(const io::Address& client) const {
  return !trustedProxies.empty() && http::contains(trustedProxies, client);
}

void buildPolicies(const config::Config& c, const config::ListenerConfig& l, ListenerContext& out) {
  (void)c;
  out.policy = HttpPolicy{};
  out.routePolicies.assign(l.routes.size() + 1, RoutePolicy{});
}

}  // namespace ferry::session
