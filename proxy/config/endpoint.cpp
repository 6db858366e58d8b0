// Endpoint addresses: `HOST:PORT` with an IP literal or a DNS name (config.h, parseEndpoint).

#include <charconv>

#include "proxy/config/config.h"

namespace ferry::config {
namespace {

bool isDigit(char c) {
  return c >= '0' && c <= '9';
}
bool isLabelChar(char c) {
  return isDigit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' || c == '_';
}
char lower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

// A DNS name as RFC 1123 allows it (letters, digits, '-', and '_' as service names use it),
// labels of 1-63 characters, 253 in all, one trailing dot allowed. Returns why not, or empty.
std::string checkName(std::string_view host) {
  if (host.size() > 1 && host.back() == '.') host.remove_suffix(1);
  if (host.size() > 253) return "the host name is longer than 253 characters";
  std::size_t label = 0;
  bool allDigits = true;
  for (std::size_t i = 0; i <= host.size(); ++i) {
    if (i == host.size() || host[i] == '.') {
      if (label == 0) return "the host name has an empty label (two dots, or a leading dot)";
      if (label > 63) return "a label of the host name is longer than 63 characters";
      label = 0;
      continue;
    }
    char c = host[i];
    if (!isLabelChar(c)) {
      return std::string("the host name has a character a DNS name cannot have ('") + c + "')";
    }
    if (!isDigit(c)) allDigits = false;
    ++label;
  }
  // "1.2.3.999" is neither an address nor a sensible name: say so rather than ask DNS.
  if (allDigits || host.find_first_not_of("0123456789.") == std::string_view::npos) {
    return "the host is not a valid IPv4 address";
  }
  return {};
}

}  // namespace

std::optional<EndpointConfig> parseEndpoint(std::string_view s, std::string& error) {
  std::string_view host, port;
  bool bracketed = !s.empty() && s.front() == '[';
  if (bracketed) {
    std::size_t close = s.find(']');
    if (close == std::string_view::npos) {
      error = "has no ']' closing the IPv6 address";
      return std::nullopt;
    }
    if (close + 1 >= s.size() || s[close + 1] != ':') {
      error = "has no port after its ']'";
      return std::nullopt;
    }
    host = s.substr(1, close - 1);
    port = s.substr(close + 2);
  } else {
    std::size_t colon = s.rfind(':');
    if (colon == std::string_view::npos) {
      error = "has no port";
      return std::nullopt;
    }
    host = s.substr(0, colon);
    port = s.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) {
      error = "looks like an IPv6 address without brackets";
      return std::nullopt;
    }
  }
  if (host.empty()) {
    error = "has an empty host";
    return std::nullopt;
  }
  unsigned p = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
  if (port.empty() || ec != std::errc() || end != port.data() + port.size() || p == 0 ||
      p > 65535) {
    error = "has a bad port '" + std::string(port) + "': it must be a number from 1 to 65535";
    return std::nullopt;
  }
  EndpointConfig e;
  e.port = static_cast<std::uint16_t>(p);
  std::string portText = ":" + std::to_string(p);
  std::string literalText =
      (bracketed ? "[" + std::string(host) + "]" : std::string(host)) + portText;
  if (std::optional<io::Address> a = io::Address::parse(literalText)) {
    if (bracketed != a->isV6() && host != "localhost") {
      error = "has an IPv6 address that is not in brackets, or brackets around an IPv4 address";
      return std::nullopt;
    }
    e.literal = *a;
    e.host = std::string(host);
    // localhost stays as written (it is the literal 127.0.0.1, as listener addresses take it).
    e.address = host == "localhost" ? "localhost" + portText : a->toString();
    return e;
  }
  if (bracketed) {
    error = "has brackets around something that is not an IPv6 address";
    return std::nullopt;
  }
  std::string why = checkName(host);
  if (!why.empty()) {
    error = "is not host:port: " + why;
    return std::nullopt;
  }
  for (char c : host) e.host += lower(c);
  if (e.host.size() > 1 && e.host.back() == '.') e.host.pop_back();
  e.address = e.host + portText;
  return e;
}

}  // namespace ferry::config
