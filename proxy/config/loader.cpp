// YAML -> Config. yaml-cpp is used only in this folder. The loader walks the document once,
// collecting every problem with its position, then cross-checks references.

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "proxy/config/config.h"

namespace ferry::config {

std::string ConfigError::format() const {
  std::string s = where.file + ":" + std::to_string(where.line) + ":" +
                  std::to_string(where.column) + ": error: " + message;
  if (!hint.empty()) s += " (" + hint + ")";
  return s;
}

const ClusterConfig* Config::findCluster(const std::string& name) const {
  for (const ClusterConfig& c : clusters) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

namespace {

std::size_t editDistance(const std::string& a, const std::string& b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diag = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

std::string closest(const std::string& word, const std::vector<std::string>& choices) {
  std::string best;
  std::size_t bestD = 3;  // suggest only near misses
  for (const std::string& c : choices) {
    std::size_t d = editDistance(word, c);
    if (d < bestD) {
      bestD = d;
      best = c;
    }
  }
  return best;
}

class Reader {
 public:
  Reader(std::string file, std::string baseDir)
      : file_(std::move(file)), base_(std::move(baseDir)) {}

  std::vector<ConfigError> errors;

  Location at(const YAML::Node& n) const {
    YAML::Mark m = n.Mark();
    return Location{file_, m.line + 1, m.column + 1};
  }
  void error(const YAML::Node& n, std::string msg, std::string hint = "") {
    errors.push_back(ConfigError{at(n), std::move(msg), std::move(hint)});
  }

  // Reports keys of map that are not in allowed, with a did-you-mean hint.
  void checkKeys(const YAML::Node& map, const std::vector<std::string>& allowed,
                 const std::string& what) {
    for (const auto& kv : map) {
      std::string key = kv.first.Scalar();
      if (std::find(allowed.begin(), allowed.end(), key) != allowed.end()) continue;
      std::string near = closest(key, allowed);
      std::string hint =
          near.empty() ? "allowed here: " + join(allowed) : "did you mean '" + near + "'?";
      error(kv.first, "unknown key '" + key + "' in " + what, hint);
    }
  }

  bool isMap(const YAML::Node& n, const std::string& what) {
    if (n.IsMap()) return true;
    error(n, what + " must be a mapping");
    return false;
  }
  bool isSeq(const YAML::Node& n, const std::string& what) {
    if (n.IsSequence()) return true;
    error(n, what + " must be a list");
    return false;
  }

  bool str(const YAML::Node& n, const std::string& what, std::string& out) {
    if (!n.IsScalar()) {
      error(n, what + " must be a string");
      return false;
    }
    out = n.Scalar();
    return true;
  }

  bool boolean(const YAML::Node& n, const std::string& what, bool& out) {
    const std::string& s = n.IsScalar() ? n.Scalar() : std::string();
    if (s == "true" || s == "yes" || s == "on") {
      out = true;
    } else if (s == "false" || s == "no" || s == "off") {
      out = false;
    } else {
      error(n, what + " must be true or false");
      return false;
    }
    return true;
  }

  bool number(const YAML::Node& n, const std::string& what, std::uint64_t min, std::uint64_t max,
              std::uint64_t& out) {
    const std::string s = n.IsScalar() ? n.Scalar() : std::string();
    std::uint64_t v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (s.empty() || ec != std::errc() || p != s.data() + s.size()) {
      error(n, what + " must be a whole number");
      return false;
    }
    if (v < min || v > max) {
      error(n, what + " must be between " + std::to_string(min) + " and " + std::to_string(max));
      return false;
    }
    out = v;
    return true;
  }

  // "250ms", "10s", "2m", "1h".
  bool duration(const YAML::Node& n, const std::string& what, Duration& out) {
    const std::string s = n.IsScalar() ? n.Scalar() : std::string();
    std::uint64_t v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    std::string unit(p, s.data() + s.size());
    if (s.empty() || ec != std::errc() || unit.empty()) {
      error(n, what + " must be a duration such as 500ms, 10s or 2m", "units: ms, s, m, h");
      return false;
    }
    if (unit == "ms") {
      out = milliseconds(v);
    } else if (unit == "s") {
      out = seconds(v);
    } else if (unit == "m") {
      out = std::chrono::minutes(v);
    } else if (unit == "h") {
      out = std::chrono::hours(v);
    } else {
      error(n, what + ": unknown unit '" + unit + "'", "units: ms, s, m, h");
      return false;
    }
    return true;
  }

  bool address(const YAML::Node& n, const std::string& what, io::Address& out) {
    std::string s;
    if (!str(n, what, s)) return false;
    auto a = io::Address::parse(s);
    if (!a) {
      error(n, what + ": '" + s + "' is not an address",
            "write host:port, e.g. 127.0.0.1:8080 or [::1]:8080");
      return false;
    }
    out = *a;
    return true;
  }

  std::string path(const std::string& p) const {
    std::filesystem::path fp(p);
    if (fp.is_relative()) fp = std::filesystem::path(base_) / fp;
    return fp.lexically_normal().generic_string();  // "/" on every system
  }

  static std::string join(const std::vector<std::string>& v) {
    std::string s;
    for (const std::string& x : v) s += (s.empty() ? "" : ", ") + x;
    return s;
  }

 private:
  std::string file_;
  std::string base_;
};

void readRoute(Reader& r, const YAML::Node& n, RouteConfig& route) {
  route.where = r.at(n);
  if (!r.isMap(n, "a route")) return;
  r.checkKeys(n, {"name", "match", "cluster"}, "a route");
  if (n["name"]) r.str(n["name"], "route name", route.name);
  if (const YAML::Node m = n["match"]) {
    if (r.isMap(m, "match")) {
      r.checkKeys(m, {"host", "path_prefix"}, "match");
      if (m["host"]) r.str(m["host"], "match.host", route.match.host);
      if (m["path_prefix"] &&
          r.str(m["path_prefix"], "match.path_prefix", route.match.pathPrefix) &&
          (route.match.pathPrefix.empty() || route.match.pathPrefix[0] != '/')) {
        r.error(m["path_prefix"], "match.path_prefix must start with '/'");
      }
    }
  }
  if (const YAML::Node c = n["cluster"]) {
    r.str(c, "route cluster", route.cluster);
  } else {
    r.error(n, "a route needs a cluster");
  }
}

void readListener(Reader& r, const YAML::Node& n, ListenerConfig& l) {
  if (!r.isMap(n, "a listener")) return;
  r.checkKeys(n,
              {"name", "address", "routes", "static", "request_header_timeout", "idle_timeout",
               "send_timeout", "max_request_header_bytes", "max_request_body_bytes"},
              "a listener");
  if (n["name"]) {
    r.str(n["name"], "listener name", l.name);
  } else {
    r.error(n, "a listener needs a name");
  }
  if (n["address"]) {
    r.address(n["address"], "listener address", l.address);
  } else {
    r.error(n, "a listener needs an address");
  }
  if (n["request_header_timeout"]) {
    r.duration(n["request_header_timeout"], "request_header_timeout", l.requestHeaderTimeout);
  }
  if (n["idle_timeout"]) r.duration(n["idle_timeout"], "idle_timeout", l.idleTimeout);
  if (n["send_timeout"]) r.duration(n["send_timeout"], "send_timeout", l.sendTimeout);
  std::uint64_t v = 0;
  if (n["max_request_header_bytes"] &&
      r.number(n["max_request_header_bytes"], "max_request_header_bytes", 1024, 65536, v)) {
    l.maxRequestHeaderBytes = static_cast<std::uint32_t>(v);
  }
  if (n["max_request_body_bytes"] &&
      r.number(n["max_request_body_bytes"], "max_request_body_bytes", 0, UINT64_MAX, v)) {
    l.maxRequestBodyBytes = v;
  }
  const YAML::Node routes = n["routes"];
  const YAML::Node st = n["static"];
  if (routes && st) r.error(st, "a listener has either routes or static, not both");
  if (!routes && !st) r.error(n, "a listener needs routes (a proxy) or static (a file server)");
  if (st) {
    l.kind = ListenerKind::kStatic;
    if (r.isMap(st, "static")) {
      r.checkKeys(st, {"root"}, "static");
      std::string root;
      if (!st["root"]) {
        r.error(st, "static needs a root directory");
      } else if (r.str(st["root"], "static.root", root)) {
        l.staticRoot = r.path(root);
        std::error_code ec;
        if (!std::filesystem::is_directory(l.staticRoot, ec)) {
          r.error(st["root"], "static.root '" + l.staticRoot + "' is not a directory");
        }
      }
    }
  }
  if (routes && r.isSeq(routes, "routes")) {
    if (routes.size() == 0) r.error(routes, "routes is empty: nothing would be served");
    for (const YAML::Node& rn : routes) {
      l.routes.emplace_back();
      readRoute(r, rn, l.routes.back());
    }
  }
}

void readCluster(Reader& r, const YAML::Node& n, ClusterConfig& c) {
  if (!r.isMap(n, "a cluster")) return;
  r.checkKeys(n,
              {"name", "endpoints", "connect_timeout", "response_timeout", "max_idle_per_worker",
               "idle_timeout"},
              "a cluster");
  if (n["name"]) {
    r.str(n["name"], "cluster name", c.name);
  } else {
    r.error(n, "a cluster needs a name");
  }
  if (n["connect_timeout"]) r.duration(n["connect_timeout"], "connect_timeout", c.connectTimeout);
  if (n["response_timeout"]) {
    r.duration(n["response_timeout"], "response_timeout", c.responseTimeout);
  }
  if (n["idle_timeout"]) r.duration(n["idle_timeout"], "idle_timeout", c.idleTimeout);
  std::uint64_t v = 0;
  if (n["max_idle_per_worker"] &&
      r.number(n["max_idle_per_worker"], "max_idle_per_worker", 0, 100000, v)) {
    c.maxIdlePerWorker = static_cast<std::uint32_t>(v);
  }
  const YAML::Node eps = n["endpoints"];
  if (!eps) {
    r.error(n, "a cluster needs endpoints");
  } else if (r.isSeq(eps, "endpoints")) {
    if (eps.size() == 0) r.error(eps, "endpoints is empty");
    for (const YAML::Node& e : eps) {
      io::Address a;
      if (r.address(e, "endpoint", a)) c.endpoints.push_back(a);
    }
  }
}

LoadResult build(const YAML::Node& root, Reader& r, const std::string& file) {
  auto cfg = std::make_shared<Config>();
  cfg->file = file;
  cfg->admin.address = *io::Address::parse("127.0.0.1:9901");
  if (!root.IsMap()) {
    r.error(root, "the config must be a mapping with listeners and clusters");
    return LoadResult{nullptr, std::move(r.errors)};
  }
  r.checkKeys(root, {"workers", "io", "log_level", "access_log", "admin", "listeners", "clusters"},
              "the config");
  if (const YAML::Node w = root["workers"]) {
    std::uint64_t v = 0;
    if (w.IsScalar() && w.Scalar() == "auto") {
      cfg->workers = 0;
    } else if (r.number(w, "workers", 1, 256, v)) {
      cfg->workers = static_cast<unsigned>(v);
    }
  }
  if (const YAML::Node io = root["io"]) {
    if (r.str(io, "io", cfg->io) && cfg->io != "auto" && cfg->io != "io_uring" &&
        cfg->io != "epoll") {
      r.error(io, "io must be auto, io_uring or epoll");
    }
  }
  if (const YAML::Node lv = root["log_level"]) {
    static const std::vector<std::string> kLevels = {"trace", "debug", "info",
                                                     "warn",  "error", "off"};
    if (r.str(lv, "log_level", cfg->logLevel) &&
        std::find(kLevels.begin(), kLevels.end(), cfg->logLevel) == kLevels.end()) {
      r.error(lv, "log_level must be one of " + Reader::join(kLevels));
    }
  }
  if (const YAML::Node al = root["access_log"]) r.boolean(al, "access_log", cfg->accessLog);
  if (const YAML::Node ad = root["admin"]) {
    if (r.isMap(ad, "admin")) {
      r.checkKeys(ad, {"address", "enabled"}, "admin");
      if (ad["address"]) r.address(ad["address"], "admin address", cfg->admin.address);
      if (ad["enabled"]) r.boolean(ad["enabled"], "admin.enabled", cfg->admin.enabled);
    }
  }
  const YAML::Node clusters = root["clusters"];
  if (clusters && r.isSeq(clusters, "clusters")) {
    std::set<std::string> names;
    for (const YAML::Node& cn : clusters) {
      cfg->clusters.emplace_back();
      readCluster(r, cn, cfg->clusters.back());
      const std::string& name = cfg->clusters.back().name;
      if (!name.empty() && !names.insert(name).second) {
        r.error(cn["name"], "cluster '" + name + "' is defined twice");
      }
    }
  }
  const YAML::Node listeners = root["listeners"];
  if (!listeners) {
    r.error(root, "the config needs listeners");
  } else if (r.isSeq(listeners, "listeners")) {
    std::set<std::string> names;
    std::vector<std::pair<io::Address, std::string>> seen;
    for (const YAML::Node& ln : listeners) {
      cfg->listeners.emplace_back();
      ListenerConfig& l = cfg->listeners.back();
      readListener(r, ln, l);
      if (!l.name.empty() && !names.insert(l.name).second) {
        r.error(ln["name"], "listener '" + l.name + "' is defined twice");
      }
      for (const auto& [addr, other] : seen) {
        if (l.address.valid() && l.address.port() != 0 && addr == l.address) {
          r.error(ln["address"],
                  "address " + addr.toString() + " is already used by listener '" + other + "'");
        }
      }
      if (l.address.valid()) seen.emplace_back(l.address, l.name);
      for (std::size_t i = 0; i < l.routes.size(); ++i) {
        const RouteConfig& rc = l.routes[i];
        if (!rc.cluster.empty() && cfg->findCluster(rc.cluster) == nullptr) {
          std::vector<std::string> known;
          for (const ClusterConfig& c : cfg->clusters) known.push_back(c.name);
          std::string near = closest(rc.cluster, known);
          r.error(
              ln["routes"][i]["cluster"], "route refers to unknown cluster '" + rc.cluster + "'",
              near.empty() ? "clusters: " + Reader::join(known) : "did you mean '" + near + "'?");
        }
      }
    }
  }
  if (!r.errors.empty()) {
    std::stable_sort(r.errors.begin(), r.errors.end(),
                     [](const ConfigError& a, const ConfigError& b) {
                       return a.where.line != b.where.line ? a.where.line < b.where.line
                                                           : a.where.column < b.where.column;
                     });
    return LoadResult{nullptr, std::move(r.errors)};
  }
  return LoadResult{std::move(cfg), {}};
}

}  // namespace

LoadResult loadString(const std::string& text, const std::string& fileName,
                      const std::string& baseDir) {
  Reader r(fileName, baseDir);
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::ParserException& e) {
    return LoadResult{nullptr,
                      {ConfigError{Location{fileName, e.mark.line + 1, e.mark.column + 1},
                                   "YAML syntax: " + e.msg, ""}}};
  }
  try {
    return build(root, r, fileName);
  } catch (const YAML::Exception& e) {  // e.g. a scalar used as a map deep inside
    r.errors.push_back(
        ConfigError{Location{fileName, e.mark.line + 1, e.mark.column + 1}, e.msg, ""});
    return LoadResult{nullptr, std::move(r.errors)};
  }
}

LoadResult loadFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    return LoadResult{nullptr, {ConfigError{Location{path, 1, 1}, "cannot read the file", ""}}};
  }
  std::stringstream ss;
  ss << in.rdbuf();
  std::string dir = std::filesystem::path(path).parent_path().string();
  if (dir.empty()) dir = ".";
  return loadString(ss.str(), path, dir);
}

}  // namespace ferry::config
