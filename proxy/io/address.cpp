#include "proxy/io/address.h"

#ifdef _WIN32
#include "proxy/io/iocp/winsock.h"
using socklen_t = int;
#else
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#endif

#include <charconv>
#include <cstring>

namespace ferry::io {

static_assert(sizeof(sockaddr_in6) <= Address::capacity() &&
                  sizeof(sockaddr_in) <= Address::capacity(),
              "an Address holds an IPv4 or IPv6 socket address");

std::optional<Address> Address::parse(std::string_view s) {
  std::string_view host;
  std::string_view port;
  if (!s.empty() && s.front() == '[') {
    auto close = s.find(']');
    if (close == std::string_view::npos || close + 1 >= s.size() || s[close + 1] != ':') {
      return std::nullopt;
    }
    host = s.substr(1, close - 1);
    port = s.substr(close + 2);
  } else {
    auto colon = s.rfind(':');
    if (colon == std::string_view::npos) return std::nullopt;
    host = s.substr(0, colon);
    port = s.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) return std::nullopt;  // v6 needs brackets
  }
  unsigned p = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
  if (ec != std::errc() || end != port.data() + port.size() || p > 65535 || port.empty()) {
    return std::nullopt;
  }
  if (host == "localhost") host = "127.0.0.1";
  std::string h(host);
  Address a;
  auto* v4 = reinterpret_cast<sockaddr_in*>(a.storage_);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(a.storage_);
  if (::inet_pton(AF_INET, h.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<std::uint16_t>(p));
    a.len_ = sizeof(sockaddr_in);
    return a;
  }
  if (::inet_pton(AF_INET6, h.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<std::uint16_t>(p));
    a.len_ = sizeof(sockaddr_in6);
    return a;
  }
  return std::nullopt;
}

Address Address::fromRaw(const void* sa, std::size_t len) {
  Address a;
  if (len > sizeof(a.storage_)) len = sizeof(a.storage_);
  std::memcpy(a.storage_, sa, len);
  a.len_ = static_cast<std::uint32_t>(len);
  return a;
}

bool Address::isV6() const {
  return reinterpret_cast<const sockaddr*>(storage_)->sa_family == AF_INET6;
}

bool Address::isWildcard() const {
  if (!valid()) return false;
  if (isV6()) {
    static const unsigned char kAny[16] = {};
    return std::memcmp(&reinterpret_cast<const sockaddr_in6*>(storage_)->sin6_addr, kAny,
                       sizeof(kAny)) == 0;
  }
  return reinterpret_cast<const sockaddr_in*>(storage_)->sin_addr.s_addr == htonl(INADDR_ANY);
}

std::uint16_t Address::port() const {
  if (!valid()) return 0;
  return isV6() ? ntohs(reinterpret_cast<const sockaddr_in6*>(storage_)->sin6_port)
                : ntohs(reinterpret_cast<const sockaddr_in*>(storage_)->sin_port);
}

void Address::setPort(std::uint16_t port) {
  if (isV6()) {
    reinterpret_cast<sockaddr_in6*>(storage_)->sin6_port = htons(port);
  } else {
    reinterpret_cast<sockaddr_in*>(storage_)->sin_port = htons(port);
  }
}

std::size_t Address::formatHost(char* out, std::size_t cap) const {
  if (!valid()) return 0;
  const void* src =
      isV6() ? static_cast<const void*>(&reinterpret_cast<const sockaddr_in6*>(storage_)->sin6_addr)
             : static_cast<const void*>(&reinterpret_cast<const sockaddr_in*>(storage_)->sin_addr);
  char text[72];  // INET6_ADDRSTRLEN is 46 on Linux, 65 on Windows
  if (::inet_ntop(isV6() ? AF_INET6 : AF_INET, src, text, sizeof(text)) == nullptr) return 0;
  std::size_t n = std::strlen(text);
  if (n > cap) return 0;
  std::memcpy(out, text, n);
  return n;
}

std::size_t Address::format(char* out, std::size_t cap) const {
  if (!valid() || cap < kMaxText) return 0;
  std::size_t n = 0;
  if (isV6()) out[n++] = '[';
  n += formatHost(out + n, cap - n);
  if (isV6()) out[n++] = ']';
  out[n++] = ':';
  auto r = std::to_chars(out + n, out + cap, port());
  return static_cast<std::size_t>(r.ptr - out);
}

std::string Address::host() const {
  char buf[INET6_ADDRSTRLEN];
  return std::string(buf, formatHost(buf, sizeof(buf)));
}

std::string Address::toString() const {
  if (!valid()) return "-";
  char buf[kMaxText];
  return std::string(buf, format(buf, sizeof(buf)));
}

bool Address::operator==(const Address& o) const {
  return len_ == o.len_ && std::memcmp(storage_, o.storage_, len_) == 0;
}

}  // namespace ferry::io
