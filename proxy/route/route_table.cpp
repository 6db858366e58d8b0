#include "proxy/route/route_table.h"

#include <re2/re2.h>

#include <algorithm>
#include <cctype>

namespace ferry::route {
namespace {

// ASCII only, without the locale lookup std::tolower makes: host names are ASCII (IDNs arrive as
// punycode), and this runs for every character of every host compared.
char lowerChar(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c + ('a' - 'A')) : c;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = lowerChar(c);
  return out;
}

bool iequalsLower(std::string_view s, std::string_view lowerWord) {
  if (s.size() != lowerWord.size()) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (lowerChar(s[i]) != lowerWord[i]) return false;
  }
  return true;
}

// <0, 0, >0 like strcmp, comparing s lower-cased with the lower-case word.
int compareLower(std::string_view s, std::string_view lowerWord) {
  std::size_t n = std::min(s.size(), lowerWord.size());
  for (std::size_t i = 0; i < n; ++i) {
    char a = lowerChar(s[i]);
    if (a != lowerWord[i])
      return static_cast<unsigned char>(a) < static_cast<unsigned char>(lowerWord[i]) ? -1 : 1;
  }
  return s.size() == lowerWord.size() ? 0 : (s.size() < lowerWord.size() ? -1 : 1);
}

std::string_view stripPort(std::string_view host) {
  if (!host.empty() && host.front() == '[') {  // [v6]:port
    std::size_t close = host.find(']');
    return close == std::string_view::npos ? host : host.substr(0, close + 1);
  }
  std::size_t colon = host.rfind(':');
  host = colon == std::string_view::npos ? host : host.substr(0, colon);
  if (!host.empty() && host.back() == '.') host.remove_suffix(1);  // "example.com." is the same
  return host;
}

bool valueMatches(const Route::ValueMatcher& m, std::string_view v) {
  switch (m.kind) {
    case config::ValueMatch::Kind::kPresent:
      return true;
    case config::ValueMatch::Kind::kExact:
      return v == m.value;
    case config::ValueMatch::Kind::kRegex:
      return RE2::FullMatch(re2::StringPiece(v.data(), v.size()), *m.regex);
  }
  return false;
}

bool headerMatches(const Route::ValueMatcher& m, std::span<const http::Header> headers) {
  for (const http::Header& h : headers) {
    if (http::iequals(h.name, m.name) && valueMatches(m, h.value)) return true;
  }
  return false;
}

bool queryMatches(const Route::ValueMatcher& m, std::string_view query) {
  while (!query.empty()) {
    std::size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    std::size_t eq = pair.find('=');
    std::string_view name = pair.substr(0, eq);
    std::string_view value =
        eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1);
    if (name == m.name && valueMatches(m, value)) return true;
  }
  return false;
}

// Everything but the host (checked by the caller for exact-host buckets).
bool restMatches(const Route& r, const RequestView& req) {
  switch (r.pathMatch) {
    case Route::PathMatch::kPrefix:
      if (req.path.substr(0, r.pathPrefix.size()) != r.pathPrefix) return false;
      break;
    case Route::PathMatch::kExact:
      if (req.path != r.path) return false;
      break;
    case Route::PathMatch::kRegex:
      if (!RE2::FullMatch(re2::StringPiece(req.path.data(), req.path.size()), *r.pathRegex)) {
        return false;
      }
      break;
  }
  if (!r.methods.empty() &&
      std::find(r.methods.begin(), r.methods.end(), req.method) == r.methods.end()) {
    return false;
  }
  for (const Route::ValueMatcher& m : r.headers) {
    if (!headerMatches(m, req.headers)) return false;
  }
  for (const Route::ValueMatcher& m : r.query) {
    if (!queryMatches(m, req.query)) return false;
  }
  return true;
}

bool hostMatches(const Route& r, std::string_view host) {
  switch (r.hostMatch) {
    case Route::HostMatch::kAny:
      return true;
    case Route::HostMatch::kExact:
      return iequalsLower(host, r.host);
    case Route::HostMatch::kSuffix:
      return host.size() > r.host.size() &&
             iequalsLower(host.substr(host.size() - r.host.size()), r.host);
  }
  return false;
}

std::shared_ptr<const re2::RE2> compile(const std::string& pattern) {
  RE2::Options o;
  o.set_log_errors(false);
  return std::make_shared<const re2::RE2>(pattern, o);
}

std::vector<Route::ValueMatcher> matchers(const std::vector<config::ValueMatch>& in,
                                          bool lowerNames) {
  std::vector<Route::ValueMatcher> out;
  for (const config::ValueMatch& v : in) {
    Route::ValueMatcher m;
    m.name = lowerNames ? lower(v.name) : v.name;
    m.kind = v.kind;
    m.value = v.value;
    if (v.kind == config::ValueMatch::Kind::kRegex) m.regex = compile(v.value);
    out.push_back(std::move(m));
  }
  return out;
}

std::size_t clusterIndex(const config::Config& config, const std::string& name) {
  for (std::size_t i = 0; i < config.clusters.size(); ++i) {
    if (config.clusters[i].name == name) return i;
  }
  return 0;
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

RequestView viewOf(const http::MessageHead& head) {
  RequestKey k = keyOf(head.target, head.find("host").value_or(std::string_view()));
  RequestView v;
  v.method = head.method;
  v.host = k.host;
  v.path = k.path;
  // The query follows the path in the target (origin- or absolute-form alike).
  const char* end = k.path.data() + k.path.size();
  const char* targetEnd = head.target.data() + head.target.size();
  if (end >= head.target.data() && end < targetEnd && *end == '?') {
    v.query = std::string_view(end + 1, static_cast<std::size_t>(targetEnd - end - 1));
  }
  v.headers = std::span<const http::Header>(head.headers.data(), head.headerCount);
  return v;
}

std::size_t pickCluster(const Route& r, std::uint64_t random) {
  if (r.split.empty()) return r.cluster;
  std::uint64_t x = random % r.split.back().upTo;
  for (const Route::Split& s : r.split) {
    if (x < s.upTo) return s.cluster;
  }
  return r.split.back().cluster;
}

RouteTable RouteTable::build(const std::vector<config::RouteConfig>& routes,
                             const config::Config& config) {
  RouteTable t;
  for (const config::RouteConfig& rc : routes) {
    Route r;
    r.name = rc.name.empty() ? rc.cluster : rc.name;
    r.config = &rc;
    std::string host = lower(rc.match.host);
    if (!host.empty() && host.back() == '.') host.pop_back();
    if (host.empty() || host == "*") {
      r.hostMatch = Route::HostMatch::kAny;
    } else if (host.size() > 1 && host[0] == '*') {
      r.hostMatch = Route::HostMatch::kSuffix;
      r.host = host.substr(1);
    } else {
      r.hostMatch = Route::HostMatch::kExact;
      r.host = host;
    }
    r.pathPrefix = rc.match.pathPrefix;
    if (!rc.match.path.empty()) {
      r.pathMatch = Route::PathMatch::kExact;
      r.path = rc.match.path;
    } else if (!rc.match.pathRegex.empty()) {
      r.pathMatch = Route::PathMatch::kRegex;
      r.pathRegex = compile(rc.match.pathRegex);
    }
    r.methods = rc.match.methods;
    r.headers = matchers(rc.match.headers, true);
    r.query = matchers(rc.match.query, false);
    if (rc.directResponse) {
      r.action = Route::Action::kDirectResponse;
    } else if (rc.redirect) {
      r.action = Route::Action::kRedirect;
    } else if (!rc.clusters.empty()) {
      std::uint64_t total = 0;
      for (const config::WeightedCluster& w : rc.clusters) {
        if (w.weight == 0) continue;
        total += w.weight;
        r.split.push_back(Route::Split{clusterIndex(config, w.name), total});
      }
      r.cluster = r.split.empty() ? 0 : r.split.front().cluster;
    } else {
      r.cluster = clusterIndex(config, rc.cluster);
    }
    t.routes_.push_back(std::move(r));
  }
  for (std::size_t i = 0; i < t.routes_.size(); ++i) {
    const Route& r = t.routes_[i];
    auto id = static_cast<std::uint32_t>(i);
    if (r.hostMatch != Route::HostMatch::kExact) {
      t.anyHost_.push_back(id);
      continue;
    }
    auto it = std::find_if(t.hosts_.begin(), t.hosts_.end(),
                           [&](const HostBucket& b) { return b.host == r.host; });
    if (it == t.hosts_.end()) {
      t.hosts_.push_back(HostBucket{r.host, {id}});
    } else {
      it->routes.push_back(id);
    }
  }
  std::sort(t.hosts_.begin(), t.hosts_.end(),
            [](const HostBucket& a, const HostBucket& b) { return a.host < b.host; });
  return t;
}

const RouteTable::HostBucket* RouteTable::findHost(std::string_view host) const {
  std::size_t lo = 0, hi = hosts_.size();
  while (lo < hi) {
    std::size_t mid = lo + (hi - lo) / 2;
    int c = compareLower(host, hosts_[mid].host);
    if (c == 0) return &hosts_[mid];
    if (c < 0) {
      hi = mid;
    } else {
      lo = mid + 1;
    }
  }
  return nullptr;
}

const Route* RouteTable::match(const RequestView& req) const {
  // Merge the routes of this exact host with the any-host ones, in config order.
  const HostBucket* b = findHost(req.host);
  std::span<const std::uint32_t> exact;
  if (b != nullptr) exact = b->routes;
  std::size_t i = 0, j = 0;
  while (i < exact.size() || j < anyHost_.size()) {
    bool takeExact = j == anyHost_.size() || (i < exact.size() && exact[i] < anyHost_[j]);
    const Route& r = routes_[takeExact ? exact[i++] : anyHost_[j++]];
    if (!takeExact && !hostMatches(r, req.host)) continue;
    if (restMatches(r, req)) return &r;
  }
  return nullptr;
}

const Route* RouteTable::match(const RequestKey& key) const {
  RequestView v;
  v.host = key.host;
  v.path = key.path;
  return match(v);
}

}  // namespace ferry::route
