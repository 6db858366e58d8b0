// Checks across the whole config: names, references, addresses, route shadowing, the access log
// file. See check.h.

#include "proxy/config/check.h"

#include <re2/re2.h>

#ifdef _WIN32
#include <io.h>
#else
#include <unistd.h>
#endif

#include <algorithm>
#include <filesystem>
#include <map>

namespace ferry::config::check {

// ---- suggestions ----

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

}  // namespace

std::string closest(const std::string& word, const std::vector<std::string>& choices) {
  std::string best;
  std::size_t bestD = std::max<std::size_t>(3, word.size() / 3);  // near misses only
  for (const std::string& c : choices) {
    std::size_t d = editDistance(word, c);
    if (d < bestD) {
      bestD = d;
      best = c;
    }
  }
  if (!best.empty() || word.size() < 3) return best;
  // A shortened key ("idle" for idle_timeout): the one choice it begins.
  for (const std::string& c : choices) {
    if (c.starts_with(word)) {
      if (!best.empty()) return {};
      best = c;
    }
  }
  return best;
}

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const std::string& x : v) s += (s.empty() ? "" : ", ") + x;
  return s;
}

std::string didYouMean(const std::string& word, const std::vector<std::string>& choices,
                       const char* otherwise) {
  std::string near = closest(word, choices);
  if (!near.empty()) return "did you mean '" + near + "'?";
  return std::string(otherwise) + join(choices);
}

// ---- the rules ----

namespace {

std::string lower(std::string_view text) {
  std::string s(text);
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string lowerHost(std::string_view h) {
  std::string s = lower(h);
  if (!s.empty() && s.back() == '.') s.pop_back();  // as the route table reads it
  return s;
}

bool hostCovers(std::string_view a, std::string_view b) {
  std::string ah = lowerHost(a), bh = lowerHost(b);
  if (ah.empty() || ah == "*" || ah == bh) return true;
  // "*.example.com" takes every name ending in ".example.com", and every narrower wildcard.
  return ah[0] == '*' && !bh.empty() && bh != "*" && bh.size() > ah.size() - 1 &&
         bh.compare(bh.size() - (ah.size() - 1), ah.size() - 1, ah, 1) == 0 &&
         (bh[0] != '*' || bh.size() >= ah.size());
}

bool fullMatch(const std::string& text, const std::string& pattern) {
  RE2::Options o;
  o.set_log_errors(false);
  RE2 re(pattern, o);
  return re.ok() && RE2::FullMatch(text, re);
}

bool pathCovers(const RouteMatch& x, const RouteMatch& y) {
  if (!x.pathRegex.empty()) {
    return x.pathRegex == y.pathRegex || (!y.path.empty() && fullMatch(y.path, x.pathRegex));
  }
  if (!x.path.empty()) return x.path == y.path;
  if (!y.path.empty()) return y.path.starts_with(x.pathPrefix);
  if (!y.pathRegex.empty()) return x.pathPrefix == "/";
  return y.pathPrefix.starts_with(x.pathPrefix);
}

bool methodsCover(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  if (a.empty()) return true;
  if (b.empty()) return false;
  return std::all_of(b.begin(), b.end(), [&](const std::string& m) {
    return std::find(a.begin(), a.end(), m) != a.end();
  });
}

// Whether a field (header or parameter) that satisfies have also satisfies need.
bool implies(const ValueMatch& have, const ValueMatch& need) {
  switch (need.kind) {
    case ValueMatch::Kind::kPresent:
      return true;
    case ValueMatch::Kind::kExact:
      return have.kind == ValueMatch::Kind::kExact && have.value == need.value;
    case ValueMatch::Kind::kRegex:
      return (have.kind == ValueMatch::Kind::kRegex && have.value == need.value) ||
             (have.kind == ValueMatch::Kind::kExact && fullMatch(have.value, need.value));
  }
  return false;
}

// Every condition of a holds whenever every condition of b does.
bool conditionsCover(const std::vector<ValueMatch>& a, const std::vector<ValueMatch>& b,
                     bool caseInsensitiveNames) {
  auto sameName = [&](const std::string& x, const std::string& y) {
    return caseInsensitiveNames ? lower(x) == lower(y) : x == y;
  };
  return std::all_of(a.begin(), a.end(), [&](const ValueMatch& need) {
    return std::any_of(b.begin(), b.end(), [&](const ValueMatch& have) {
      return sameName(have.name, need.name) && implies(have, need);
    });
  });
}

bool writable(const std::string& path) {
#ifdef _WIN32
  return ::_access(path.c_str(), 2) == 0;
#else
  return ::access(path.c_str(), W_OK) == 0;
#endif
}

}  // namespace

bool covers(const RouteConfig& a, const RouteConfig& b) {
  const RouteMatch& x = a.match;
  const RouteMatch& y = b.match;
  return hostCovers(x.host, y.host) && pathCovers(x, y) && methodsCover(x.methods, y.methods) &&
         conditionsCover(x.headers, y.headers, true) && conditionsCover(x.query, y.query, false);
}

bool clash(const io::Address& a, const io::Address& b) {
  if (!a.valid() || !b.valid() || a.port() == 0 || a.port() != b.port()) return false;
  if (a.isV6() == b.isV6()) return a.isWildcard() || b.isWildcard() || a.host() == b.host();
#ifdef _WIN32
  return false;  // IPv6 sockets are IPv6 only
#else
  const io::Address& v6 = a.isV6() ? a : b;
  const io::Address& v4 = a.isV6() ? b : a;
  const std::string mapped = "::ffff:";
  std::string h = v6.host();
  return v6.isWildcard() || h == mapped + v4.host() || (v4.isWildcard() && h.starts_with(mapped));
#endif
}

std::string appendable(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::file_status st = fs::status(path, ec);
  if (fs::is_directory(st)) return "it is a directory";
  if (fs::exists(st)) return writable(path) ? std::string() : "the file is not writable";
  fs::path dir = fs::path(path).parent_path();
  if (dir.empty()) dir = ".";
  fs::file_status ds = fs::status(dir, ec);
  if (!fs::exists(ds)) return "directory '" + dir.generic_string() + "' does not exist";
  if (!fs::is_directory(ds)) return "'" + dir.generic_string() + "' is not a directory";
  if (!writable(dir.string())) return "directory '" + dir.generic_string() + "' is not writable";
  return {};
}

// ---- the cross-checks ----

namespace {

// Cluster names, each defined once; references to them.
class Clusters {
 public:
  Clusters(Sink& s, const YAML::Node& root, const Config& cfg) : s_(s) {
    const YAML::Node cn = root["clusters"];
    for (std::size_t i = 0; i < cfg.clusters.size(); ++i) {
      const std::string& name = cfg.clusters[i].name;
      if (name.empty()) continue;
      auto [it, fresh] = line_.emplace(name, s.at(cn[i]["name"]).line);
      if (!fresh) {
        s.error(cn[i]["name"], item("clusters", i) + ".name",
                "cluster '" + name + "' is defined twice",
                "first at line " + std::to_string(it->second));
      }
      names_.push_back(name);
    }
  }
  // A reference to a cluster (at n) must name one.
  void ref(const YAML::Node& n, const std::string& path, const std::string& name) const {
    if (name.empty() || line_.count(name)) return;
    s_.error(n, path, "unknown cluster '" + name + "'",
             names_.empty() ? "no clusters are defined" : didYouMean(name, names_, "clusters: "));
  }

 private:
  Sink& s_;
  std::map<std::string, int> line_;
  std::vector<std::string> names_;
};

std::string clashMessage(const io::Address& mine, const io::Address& theirs,
                         const std::string& who) {
  if (mine == theirs) return "address " + mine.toString() + " is already used by " + who;
  return "address " + mine.toString() + " clashes with " + theirs.toString() + " of " + who;
}

std::string clashHint(const io::Address& a, const io::Address& b) {
  return a.isWildcard() || b.isWildcard() ? "a wildcard address takes its port on every address"
                                          : "";
}

bool before(const Location& a, const Location& b) {
  return a.line != b.line ? a.line < b.line : a.column < b.column;
}

// An address of the admin listener, with where it is written (if it is: else the default).
struct AdminAddress {
  const io::Address& address;
  YAML::Node node;
  bool written;
  std::string path;
  std::string who;
};

// A listener (address at node) against one of the admin listener's: a clash is reported at the
// later of the two keys (at the listener's when the admin address is the default).
void checkAdmin(Sink& s, const AdminAddress& a, const ListenerConfig& l, const YAML::Node& node,
                const std::string& path) {
  if (!clash(a.address, l.address)) return;
  if (a.written && before(s.at(node), s.at(a.node))) {
    s.error(a.node, a.path, clashMessage(a.address, l.address, "listener '" + l.name + "'"),
            clashHint(a.address, l.address));
    return;
  }
  std::string hint = clashHint(l.address, a.address);
  if (!a.written) {
    hint = (hint.empty() ? "" : hint + "; ") + a.path + " defaults to " + a.address.toString() +
           ": set another one";
  }
  s.error(node, path, clashMessage(l.address, a.address, a.who), hint);
}

// Every listener's address against those before it and against the admin listener's; each
// clash is reported once, at the later of the two keys.
void checkAddresses(Sink& s, const YAML::Node& root, const Config& cfg) {
  const YAML::Node ln = root["listeners"];
  const YAML::Node an = root["admin"];
  std::vector<AdminAddress> admin;
  if (cfg.admin.enabled) {
    const YAML::Node node = an && an.IsMap() ? an["address"] : YAML::Node();
    admin.push_back(
        {cfg.admin.address, node, an && an.IsMap() && node, "admin.address", "the admin listener"});
    const io::Address& control = cfg.admin.control.address;
    if (control.valid()) {  // then it was written (it has no default)
      const YAML::Node cn = an["control"]["address"];
      admin.push_back({control, cn, true, "admin.control.address", "the admin control listener"});
      // The same address is the control section's own error; a wildcard one is this one's.
      if (clash(cfg.admin.address, control) && !(cfg.admin.address == control)) {
        s.error(cn, "admin.control.address",
                clashMessage(control, cfg.admin.address, "the admin listener"),
                clashHint(control, cfg.admin.address));
      }
    }
  }
  for (std::size_t i = 0; i < cfg.listeners.size(); ++i) {
    const ListenerConfig& l = cfg.listeners[i];
    if (!l.address.valid()) continue;  // then it was not read, and has no position
    const YAML::Node node = ln[i]["address"];
    std::string path = item("listeners", i) + ".address";
    for (std::size_t k = 0; k < i; ++k) {
      const ListenerConfig& other = cfg.listeners[k];
      if (clash(other.address, l.address)) {
        s.error(node, path, clashMessage(l.address, other.address, "listener '" + other.name + "'"),
                clashHint(l.address, other.address));
        break;
      }
    }
    for (const AdminAddress& a : admin) checkAdmin(s, a, l, node, path);
  }
}

// Places every route, checks that the names written are unique, then names the others after
// what they route to (never taking a name the user wrote, even later in the list).
void nameRoutes(Sink& s, const YAML::Node& rn, const std::string& lpath, ListenerConfig& l) {
  std::map<std::string, std::size_t> names;
  for (std::size_t j = 0; j < l.routes.size(); ++j) {
    RouteConfig& rc = l.routes[j];
    rc.where = s.at(rn[j]);
    if (rc.name.empty()) continue;
    auto [it, fresh] = names.emplace(rc.name, j);
    if (!fresh) {
      s.error(rn[j]["name"], item(lpath + ".routes", j) + ".name",
              "route '" + rc.name + "' is defined twice in listener '" + l.name + "'",
              "first at line " + std::to_string(l.routes[it->second].where.line));
    }
  }
  for (std::size_t j = 0; j < l.routes.size(); ++j) {
    RouteConfig& rc = l.routes[j];
    if (!rc.name.empty()) continue;
    std::string base = !rc.cluster.empty()    ? rc.cluster
                       : !rc.clusters.empty() ? rc.clusters.front().name
                       : rc.directResponse    ? "direct"
                       : rc.redirect          ? "redirect"
                                              : "route";
    std::string name = base;
    for (int k = 2; names.count(name); ++k) name = base + "-" + std::to_string(k);
    rc.name = name;
    names.emplace(name, j);
  }
}

void checkRoutes(Sink& s, const YAML::Node& lnode, const std::string& lpath, ListenerConfig& l,
                 const Clusters& clusters, bool wellFormed) {
  const YAML::Node rn = lnode.IsMap() ? lnode["routes"] : YAML::Node();
  nameRoutes(s, rn, lpath, l);
  for (std::size_t j = 0; j < l.routes.size(); ++j) {
    const RouteConfig& rc = l.routes[j];
    const YAML::Node node = rn[j];
    std::string rpath = item(lpath + ".routes", j);
    if (!node.IsMap()) continue;
    clusters.ref(node["cluster"], rpath + ".cluster", rc.cluster);
    for (std::size_t k = 0; k < rc.clusters.size(); ++k) {
      clusters.ref(node["clusters"][k]["name"], item(rpath + ".clusters", k) + ".name",
                   rc.clusters[k].name);
    }
    for (std::size_t k = 0; wellFormed && k < j; ++k) {
      if (covers(l.routes[k], rc)) {
        s.error(node, rpath,
                "route '" + rc.name + "' can never match: route '" + l.routes[k].name + "' (line " +
                    std::to_string(l.routes[k].where.line) +
                    ") before it takes every request it would",
                "move it above, or narrow the earlier route's match");
        break;
      }
    }
  }
}

void checkAccessLog(Sink& s, const YAML::Node& root, AccessLogConfig& a) {
  if (!a.enabled || a.path == "stdout") return;
  a.path = s.resolve(a.path);
  std::string why = appendable(a.path);
  if (why.empty()) return;
  const YAML::Node n = root["access_log"];
  s.error(n && n.IsMap() && n["path"] ? n["path"] : n, "access_log.path",
          "cannot append to '" + a.path + "': " + why, "create the directory, or write to stdout");
}

}  // namespace

void crossCheck(Sink& s, const YAML::Node& root, Config& cfg, bool wellFormed) {
  Clusters clusters(s, root, cfg);
  const YAML::Node ln = root["listeners"];
  std::map<std::string, int> listenerLine;
  for (std::size_t i = 0; i < cfg.listeners.size(); ++i) {
    ListenerConfig& l = cfg.listeners[i];
    const YAML::Node lnode = ln[i];
    std::string lpath = item("listeners", i);
    if (!l.name.empty()) {
      auto [it, fresh] = listenerLine.emplace(l.name, s.at(lnode["name"]).line);
      if (!fresh) {
        s.error(lnode["name"], lpath + ".name", "listener '" + l.name + "' is defined twice",
                "first at line " + std::to_string(it->second));
      }
    }
    if (l.protocol == ListenerProtocol::kTcp && lnode.IsMap()) {
      clusters.ref(lnode["cluster"], lpath + ".cluster", l.cluster);
    }
    checkRoutes(s, lnode, lpath, l, clusters, wellFormed);
  }
  checkAddresses(s, root, cfg);
  checkAccessLog(s, root, cfg.accessLog);
}

}  // namespace ferry::config::check
