#include "proxy/http/target.h"

namespace ferry::http {

namespace {

bool isAlpha(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
bool isDigit(char c) {
  return c >= '0' && c <= '9';
}
bool isHex(char c) {
  return isDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

// RFC 3986 reg-name: unreserved / pct-encoded / sub-delims.
bool isRegNameChar(char c) {
  if (isAlpha(c) || isDigit(c)) return true;
  switch (c) {
    case '-':
    case '.':
    case '_':
    case '~':
    case '%':
    case '!':
    case '$':
    case '&':
    case '\'':
    case '(':
    case ')':
    case '*':
    case '+':
    case ',':
    case ';':
    case '=':
      return true;
    default:
      return false;
  }
}

}  // namespace

bool splitAuthority(std::string_view authority, std::string_view& host, std::string_view& port) {
  if (authority.empty()) return false;
  std::size_t hostEnd = 0;
  if (authority[0] == '[') {
    std::size_t close = authority.find(']');
    if (close == std::string_view::npos || close < 3) return false;
    for (std::size_t i = 1; i < close; ++i) {
      char c = authority[i];
      if (!isHex(c) && c != ':' && c != '.') return false;
    }
    hostEnd = close + 1;
  } else {
    while (hostEnd < authority.size() && authority[hostEnd] != ':') {
      if (!isRegNameChar(authority[hostEnd])) return false;
      ++hostEnd;
    }
    if (hostEnd == 0) return false;
  }
  host = authority.substr(0, hostEnd);
  port = {};
  if (hostEnd == authority.size()) return true;
  if (authority[hostEnd] != ':') return false;
  port = authority.substr(hostEnd + 1);
  if (port.empty() || port.size() > 5) return false;
  for (char c : port) {
    if (!isDigit(c)) return false;
  }
  return true;
}

TargetParse parseRequestTarget(std::string_view method, std::string_view target) {
  TargetParse r;
  RequestTarget& t = r.target;
  auto fail = [&r](std::string_view why) {
    r.ok = false;
    r.error = why;
    return r;
  };
  if (target.empty()) return fail("empty request target");
  if (target.find('#') != std::string_view::npos) return fail("fragment in the request target");
  bool connect = method == "CONNECT";
  auto splitPathQuery = [&t](std::string_view pq) {
    std::size_t q = pq.find('?');
    t.path = pq.substr(0, q);
    if (q != std::string_view::npos) {
      t.hasQuery = true;
      t.query = pq.substr(q + 1);
    }
  };
  if (connect) {
    t.form = TargetForm::kAuthority;
    t.authority = target;
    if (!splitAuthority(target, t.host, t.port) || t.port.empty()) {
      return fail("CONNECT needs an authority-form target (host:port)");
    }
    r.ok = true;
    return r;
  }
  if (target == "*") {
    if (method != "OPTIONS") return fail("asterisk-form target outside OPTIONS");
    t.form = TargetForm::kAsterisk;
    r.ok = true;
    return r;
  }
  if (target[0] == '/') {
    t.form = TargetForm::kOrigin;
    splitPathQuery(target);
    t.origin = target;
    r.ok = true;
    return r;
  }
  // absolute-form: scheme "://" authority path-abempty [ "?" query ]
  std::size_t colon = target.find("://");
  if (colon == std::string_view::npos) return fail("unrecognized request target form");
  std::string_view scheme = target.substr(0, colon);
  if (!iequals(scheme, "http") && !iequals(scheme, "https")) {
    return fail("absolute-form target with a scheme other than http or https");
  }
  t.form = TargetForm::kAbsolute;
  t.scheme = scheme;
  std::string_view rest = target.substr(colon + 3);
  std::size_t end = rest.find_first_of("/?");
  t.authority = rest.substr(0, end);
  if (t.authority.find('@') != std::string_view::npos) {
    return fail("userinfo in an absolute-form target");
  }
  if (!splitAuthority(t.authority, t.host, t.port)) {
    return fail("invalid authority in an absolute-form target");
  }
  if (end != std::string_view::npos) splitPathQuery(rest.substr(end));
  if (t.path.empty()) {
    t.path = "/";
    t.pathWasEmpty = true;
    if (!t.hasQuery) t.origin = "/";
  } else {
    t.origin = rest.substr(end);
  }
  r.ok = true;
  return r;
}

void writeOriginForm(std::string_view method, std::string_view original, const RequestTarget& t,
                     HeadWriter& out) {
  if (t.form != TargetForm::kAbsolute) {
    out.put(original);
    return;
  }
  if (t.pathWasEmpty && method == "OPTIONS" && !t.hasQuery) {
    out.put("*");
    return;
  }
  out.put(t.path);
  if (t.hasQuery) out.put("?").put(t.query);
}

}  // namespace ferry::http
