#include "proxy/http/ip.h"

namespace ferry::http {

std::optional<ProxyEndpoint> toEndpoint(const io::Address& a) {
  if (!a.valid()) return std::nullopt;
  // Through the text form: http/ stays clear of socket headers (Winsock's live only in io/iocp).
  char text[io::Address::kMaxText];
  std::size_t n = a.formatHost(text, sizeof(text));
  if (n == 0) return std::nullopt;
  std::optional<IpAddress> ip = parseIp(std::string_view(text, n));
  if (!ip) return std::nullopt;
  return ProxyEndpoint{ip->unmapped(), a.port()};
}

bool contains(const CidrList& list, const io::Address& a) {
  std::optional<ProxyEndpoint> e = toEndpoint(a);
  return e && list.contains(e->ip);
}

}  // namespace ferry::http
