#include "proxy/route/route_table.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>
#include <random>

#include "proxy/config/config.h"

// GCC pairs the replaced operators below with the library's and warns; they are a matched pair.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
// mingw-w64's GCC 12 reports a false -Wrestrict inside std::string's operator+ (GCC bug 105329).
#pragma GCC diagnostic ignored "-Wrestrict"

// Counts allocations made on this thread while counting is on (the allocation-free test).
namespace {
thread_local bool g_counting = false;
thread_local std::size_t g_allocations = 0;
}  // namespace
void* operator new(std::size_t n) {
  if (g_counting) ++g_allocations;
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}

namespace ferry::route {
namespace {

config::Config twoClusters() {
  config::Config c;
  c.clusters.resize(2);
  c.clusters[0].name = "api";
  c.clusters[1].name = "web";
  return c;
}

config::RouteConfig rc(std::string host, std::string prefix, std::string cluster) {
  config::RouteConfig r;
  r.match.host = std::move(host);
  r.match.pathPrefix = std::move(prefix);
  r.cluster = std::move(cluster);
  return r;
}

TEST(RouteTable, FirstMatchWinsByHostAndPrefix) {
  config::Config c = twoClusters();
  RouteTable t = RouteTable::build({rc("api.example.com", "/v1", "api"),
                                    rc("*.example.com", "/", "web"), rc("", "/static", "api")},
                                   c);
  EXPECT_EQ(t.match(RequestKey{"api.example.com", "/v1/users"})->cluster, 0U);
  EXPECT_EQ(t.match(RequestKey{"API.Example.COM", "/v1"})->cluster, 0U);
  EXPECT_EQ(t.match(RequestKey{"api.example.com", "/v2"})->cluster, 1U);  // falls to the wildcard
  EXPECT_EQ(t.match(RequestKey{"www.example.com", "/anything"})->cluster, 1U);
  EXPECT_EQ(t.match(RequestKey{"example.com", "/static/x"})->cluster,
            0U);  // "*.x" needs a subdomain
  EXPECT_EQ(t.match(RequestKey{"other.org", "/"}), nullptr);
}

TEST(RouteTable, KeyStripsPortAndQueryAndReadsAbsoluteForm) {
  RequestKey k = keyOf("/a/b?x=1", "Example.com:8080");
  EXPECT_EQ(k.host, "Example.com");
  EXPECT_EQ(k.path, "/a/b");
  k = keyOf("http://h.example:81/p?q", "ignored");
  EXPECT_EQ(k.host, "h.example");
  EXPECT_EQ(k.path, "/p");
  k = keyOf("HTTP://h", "");
  EXPECT_EQ(k.host, "h");
  EXPECT_EQ(k.path, "/");
  k = keyOf("/", "[::1]:8080");
  EXPECT_EQ(k.host, "[::1]");
}

TEST(RouteTable, NameDefaultsToCluster) {
  config::Config c = twoClusters();
  RouteTable t = RouteTable::build({rc("", "/", "web")}, c);
  EXPECT_EQ(t.routes()[0].name, "web");
}

// A request view over fixed strings and headers.
struct Req {
  std::string method = "GET", host = "example.com", path = "/", query;
  std::vector<http::Header> headers;
  RequestView view() const { return RequestView{method, host, path, query, headers}; }
};

config::RouteConfig named(std::string name, std::string cluster) {
  config::RouteConfig r;
  r.name = std::move(name);
  r.cluster = std::move(cluster);
  return r;
}

TEST(RouteTable, MatchesPathExactPrefixAndRegex) {
  config::Config c = twoClusters();
  std::vector<config::RouteConfig> routes = {named("exact", "api"), named("re", "api"),
                                             named("prefix", "web")};
  routes[0].match.path = "/login";
  routes[1].match.pathRegex = "/v[0-9]+/users/[0-9]+";
  routes[2].match.pathPrefix = "/static/";
  RouteTable t = RouteTable::build(routes, c);
  auto name = [&](std::string path) {
    Req r;
    r.path = std::move(path);
    const Route* m = t.match(r.view());
    return m == nullptr ? std::string("-") : m->name;
  };
  EXPECT_EQ(name("/login"), "exact");
  EXPECT_EQ(name("/login/x"), "-");
  EXPECT_EQ(name("/v2/users/17"), "re");
  EXPECT_EQ(name("/v2/users/17/x"), "-");  // the whole path must match
  EXPECT_EQ(name("/static/a.css"), "prefix");
  EXPECT_EQ(name("/static"), "-");
}

// Patterns that make a backtracking engine (std::regex, PCRE) take exponential time, on inputs
// far longer than such an engine could finish (or that would overflow its stack): RE2 answers
// in time linear in the input, so these return at once; a backtracking engine would hang the
// test until ctest's timeout fails it.
TEST(RouteTable, RegexesRunInLinearTimeOnCatastrophicPatterns) {
  config::Config c = twoClusters();
  std::vector<config::RouteConfig> routes = {named("path", "api"), named("header", "web")};
  routes[0].match.pathRegex = "/(a+)+b";
  routes[1].match.headers = {{"x-token", config::ValueMatch::Kind::kRegex, "(x+x+)+y"}};
  RouteTable t = RouteTable::build(routes, c);
  auto name = [&](const Req& r) {
    const Route* m = t.match(r.view());
    return m == nullptr ? std::string("-") : m->name;
  };
  Req r;
  r.path = "/" + std::string(100000, 'a');
  EXPECT_EQ(name(r), "-");
  r.path = "/aaab";
  EXPECT_EQ(name(r), "path");
  r.path = "/";
  r.headers = {{"X-Token", std::string(100000, 'x')}};
  EXPECT_EQ(name(r), "-");
  r.headers = {{"X-Token", "xxxxy"}};
  EXPECT_EQ(name(r), "header");
}

TEST(RouteTable, MatchesMethodsHeadersAndQuery) {
  config::Config c = twoClusters();
  std::vector<config::RouteConfig> routes = {named("canary", "web"), named("debug", "web"),
                                             named("reads", "api"), named("rest", "api")};
  routes[0].match.headers = {{"X-Canary", config::ValueMatch::Kind::kExact, "1"},
                             {"x-user", config::ValueMatch::Kind::kRegex, "u[0-9]+"}};
  routes[1].match.query = {{"debug", config::ValueMatch::Kind::kPresent, ""},
                           {"v", config::ValueMatch::Kind::kExact, "2"}};
  routes[2].match.methods = {"GET", "HEAD"};
  routes[3].match.headers = {{"authorization", config::ValueMatch::Kind::kPresent, ""}};
  RouteTable t = RouteTable::build(routes, c);
  auto name = [&](const Req& r) {
    const Route* m = t.match(r.view());
    return m == nullptr ? std::string("-") : m->name;
  };
  Req r;
  r.headers = {{"x-canary", "1"}, {"X-User", "u42"}};
  EXPECT_EQ(name(r), "canary");
  r.headers = {{"x-canary", "1"}, {"X-User", "admin"}};
  EXPECT_EQ(name(r), "reads");  // regex fails: falls through to the GET route
  r.headers = {{"x-canary", "0"}, {"x-canary", "1"}, {"x-user", "u1"}};
  EXPECT_EQ(name(r), "canary");  // any field with the name may satisfy the condition
  r.headers = {};
  r.query = "a=1&debug&v=2";
  EXPECT_EQ(name(r), "debug");
  r.query = "debug=1&v=22";
  EXPECT_EQ(name(r), "reads");
  r.method = "POST";
  EXPECT_EQ(name(r), "-");
  r.headers = {{"Authorization", "x"}};
  EXPECT_EQ(name(r), "rest");
}

TEST(RouteTable, FirstMatchWinsAcrossExactAndWildcardHosts) {
  config::Config c = twoClusters();
  std::vector<config::RouteConfig> routes = {rc("*.example.com", "/a", "api"),
                                             rc("www.example.com", "/", "web"), rc("", "/b", "api"),
                                             rc("www.example.com", "/b", "web")};
  routes[0].name = "wild-a";
  routes[1].name = "www";
  routes[2].name = "any-b";
  routes[3].name = "www-b";
  RouteTable t = RouteTable::build(routes, c);
  EXPECT_EQ(t.match(RequestKey{"www.example.com", "/a"})->name, "wild-a");  // earlier wildcard wins
  EXPECT_EQ(t.match(keyOf("/b", "WWW.example.com.:80"))->name, "www");      // earlier exact wins
  EXPECT_EQ(t.match(RequestKey{"x.example.com", "/b"})->name, "any-b");
}

TEST(RouteTable, ActionsAndConfigAreReachable) {
  config::Config c = twoClusters();
  std::vector<config::RouteConfig> routes = {named("moved", ""), named("teapot", "")};
  routes[0].match.path = "/old";
  routes[0].redirect = config::Redirect{"/new", 301};
  routes[1].directResponse = config::DirectResponse{418, "short and stout"};
  routes[1].timeout = seconds(3);
  RouteTable t = RouteTable::build(routes, c);
  const Route* m = t.match(RequestKey{"h", "/old"});
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->action, Route::Action::kRedirect);
  EXPECT_EQ(m->config->redirect->to, "/new");
  m = t.match(RequestKey{"h", "/x"});
  EXPECT_EQ(m->action, Route::Action::kDirectResponse);
  EXPECT_EQ(m->config->directResponse->status, 418);
  EXPECT_EQ(m->config->timeout, seconds(3));
}

TEST(RouteTable, WeightedSplitPicksByShare) {
  config::Config c = twoClusters();
  std::vector<config::RouteConfig> routes = {named("split", "")};
  routes[0].clusters = {{"web", 90}, {"api", 10}, {"web", 0}};
  RouteTable t = RouteTable::build(routes, c);
  const Route& r = t.routes()[0];
  EXPECT_EQ(pickCluster(r, 0), 1U);
  EXPECT_EQ(pickCluster(r, 89), 1U);
  EXPECT_EQ(pickCluster(r, 90), 0U);
  EXPECT_EQ(pickCluster(r, 99), 0U);
  EXPECT_EQ(pickCluster(r, 100), 1U);
  std::mt19937_64 rng(7);
  int api = 0;
  for (int i = 0; i < 100000; ++i) api += pickCluster(r, rng()) == 0 ? 1 : 0;
  EXPECT_NEAR(api, 10000, 600);
  Route plain;
  plain.cluster = 1;
  EXPECT_EQ(pickCluster(plain, 12345), 1U);
}

TEST(RouteTable, ViewOfAHeadReadsOriginAndAbsoluteForm) {
  std::string target = "http://Shop.example:8080/cart?id=7&x";
  http::MessageHead h;
  h.method = "GET";
  h.target = target;
  h.headers[0] = {"Host", "other"};
  h.headers[1] = {"X-A", "1"};
  h.headerCount = 2;
  RequestView v = viewOf(h);
  EXPECT_EQ(v.method, "GET");
  EXPECT_EQ(v.host, "Shop.example");
  EXPECT_EQ(v.path, "/cart");
  EXPECT_EQ(v.query, "id=7&x");
  EXPECT_EQ(v.headers.size(), 2U);
}

// 1,000 host/path routes: the index gives the same answer as trying every route in order.
std::vector<config::RouteConfig> manyRoutes(config::Config& c) {
  std::vector<config::RouteConfig> routes;
  for (int h = 0; h < 250; ++h) {
    for (const char* p : {"/api/", "/static/", "/img/", "/"}) {
      routes.push_back(rc("site" + std::to_string(h) + ".example.com", p, h % 2 ? "api" : "web"));
      routes.back().name = "r" + std::to_string(routes.size());
    }
  }
  routes.push_back(rc("*.example.org", "/", "web"));
  routes.back().name = "org";
  (void)c;
  return routes;
}

TEST(RouteTable, IndexAgreesWithALinearScan) {
  config::Config c = twoClusters();
  std::vector<config::RouteConfig> routes = manyRoutes(c);
  RouteTable t = RouteTable::build(routes, c);
  std::vector<RouteTable> single;
  for (const config::RouteConfig& r : routes) single.push_back(RouteTable::build({r}, c));
  std::mt19937 rng(3);
  const char* paths[] = {"/api/x", "/static/y", "/img/z", "/", "/other"};
  for (int i = 0; i < 2000; ++i) {
    std::string host = rng() % 10 == 0 ? "a" + std::to_string(rng() % 300) + ".example.org"
                                       : "site" + std::to_string(rng() % 300) + ".example.com";
    std::string path = paths[rng() % 5];
    const Route* want = nullptr;
    for (std::size_t k = 0; k < single.size(); ++k) {
      if (single[k].match(RequestKey{host, path}) != nullptr) {
        want = &t.routes()[k];
        break;
      }
    }
    EXPECT_EQ(t.match(RequestKey{host, path}), want) << host << path;
  }
}

TEST(RouteTable, MatchingAllocatesNothing) {
  config::Config c = twoClusters();
  std::vector<config::RouteConfig> routes = manyRoutes(c);
  config::RouteConfig re = named("re", "api");
  re.match.host = "regex.example.com";
  re.match.pathRegex = "/item/[0-9]+";
  re.match.headers = {{"x-v", config::ValueMatch::Kind::kRegex, "[a-z]+"}};
  re.match.query = {{"q", config::ValueMatch::Kind::kExact, "1"}};
  routes.insert(routes.begin(), re);
  RouteTable t = RouteTable::build(routes, c);
  Req a;
  a.host = "site17.example.com";
  a.path = "/img/a.png";
  Req b;
  b.host = "regex.example.com";
  b.path = "/item/42";
  b.query = "q=1";
  b.headers = {{"X-V", "abc"}};
  Req miss;
  miss.host = "nowhere.test";
  // RE2 builds its DFA states lazily: the first matches may allocate, later ones never do.
  for (int i = 0; i < 3; ++i) {
    t.match(a.view());
    t.match(b.view());
    t.match(miss.view());
  }
  g_allocations = 0;
  g_counting = true;
  const Route* ra = nullptr;
  const Route* rb = nullptr;
  const Route* rm = nullptr;
  for (int i = 0; i < 1000; ++i) {
    ra = t.match(a.view());
    rb = t.match(b.view());
    rm = t.match(miss.view());
  }
  g_counting = false;
  EXPECT_EQ(g_allocations, 0U);
  ASSERT_NE(ra, nullptr);
  EXPECT_EQ(ra->config->match.pathPrefix, "/img/");
  ASSERT_NE(rb, nullptr);
  EXPECT_EQ(rb->name, "re");
  EXPECT_EQ(rm, nullptr);
}

}  // namespace
}  // namespace ferry::route
