// The checks across keys (proxy/config/check.cpp): what --check (and start, and reload: they
// load the same way) must catch so it never passes a config that then fails at start or has a
// route that never matches: names defined twice, references to clusters that do not exist,
// address clashes with other listeners and the admin listener, routes shadowed by an earlier
// one, an access log that cannot be written, defaults that contradict what the user wrote.

#include <gtest/gtest.h>

#include <filesystem>
#include <initializer_list>
#include <string>
#include <utility>

#include "proxy/config/config.h"

namespace ferry::config {
namespace {

LoadResult load(const std::string& yaml, const std::string& baseDir = "/tmp") {
  return loadString(yaml, "t.yaml", baseDir);
}

std::string all(const LoadResult& r) {
  std::string s;
  for (const auto& e : r.errors) s += e.format() + "\n";
  return s;
}

void expectErrors(const std::string& yaml, const std::string& want) {
  LoadResult r = load(yaml);
  EXPECT_EQ(all(r), want) << yaml;
  EXPECT_EQ(r.config == nullptr, !want.empty());
}

void expectValid(const std::string& yaml) {
  LoadResult r = load(yaml);
  EXPECT_TRUE(r.errors.empty()) << yaml << all(r);
}

const std::string kL = "listeners:\n  - name: l\n    address: 127.0.0.1:0\n";
const std::string kR = "    routes: [{cluster: c}]\n";
const std::string kC = "clusters:\n  - { name: c, endpoints: [127.0.0.1:1] }\n";

// Listeners at these addresses, each with one catch-all route.
std::string listeners(std::initializer_list<const char*> addresses) {
  std::string y = "listeners:\n";
  int i = 0;
  for (const char* a : addresses) {
    y += "  - { name: l" + std::to_string(i++) + ", address: \"" + a +
         "\", routes: [{cluster: c}] }\n";
  }
  return y;
}

// A listener on the admin listener's address passed --check, then start failed "Address
// already in use". Reported at the later of the two keys; at the listener when the admin address
// is the default one, with a hint naming it.
TEST(Check, AListenerOnTheAdminAddressIsAnError) {
  expectErrors(listeners({"127.0.0.1:9901"}) + kC,
               "t.yaml:2:26: listeners[0].address: address 127.0.0.1:9901 is already used by the "
               "admin listener (admin.address defaults to 127.0.0.1:9901: set another one)\n");
  expectErrors("admin: { address: 127.0.0.1:7000 }\n" + listeners({"0.0.0.0:7000"}) + kC,
               "t.yaml:3:26: listeners[0].address: address 0.0.0.0:7000 clashes with "
               "127.0.0.1:7000 of the admin listener (a wildcard address takes its port on every "
               "address)\n");
  expectErrors(listeners({"127.0.0.1:7000"}) + kC + "admin: { address: \"0.0.0.0:7000\" }\n",
               "t.yaml:5:19: admin.address: address 0.0.0.0:7000 clashes with 127.0.0.1:7000 of "
               "listener 'l0' (a wildcard address takes its port on every address)\n");
  // Another port, a disabled admin listener, port 0 (the system picks): no clash.
  expectValid("admin: { address: 127.0.0.1:7001 }\n" + listeners({"127.0.0.1:7000"}) + kC);
  expectValid("admin: { address: 127.0.0.1:7000, enabled: false }\n" +
              listeners({"127.0.0.1:7000"}) + kC);
  expectValid("admin: { address: 127.0.0.1:0 }\n" + listeners({"0.0.0.0:0"}) + kC);
}

// admin.control.address, the control operations' own listener, clashes as the admin address
// does: with a listener, and with a wildcard admin address on its port.
TEST(Check, AListenerOnTheAdminControlAddressIsAnError) {
  expectErrors("admin: { address: 127.0.0.1:7000, control: { address: 127.0.0.1:7001 } }\n" +
                   listeners({"0.0.0.0:7001"}) + kC,
               "t.yaml:3:26: listeners[0].address: address 0.0.0.0:7001 clashes with "
               "127.0.0.1:7001 of the admin control listener (a wildcard address takes its port "
               "on every address)\n");
  expectErrors("admin: { address: \"0.0.0.0:7000\", control: { address: 127.0.0.1:7000 } }\n" +
                   listeners({"127.0.0.1:7002"}) + kC,
               "t.yaml:1:55: admin.control.address: address 127.0.0.1:7000 clashes with "
               "0.0.0.0:7000 of the admin listener (a wildcard address takes its port on every "
               "address)\n");
}

// Two listeners: the same address, or a wildcard and an address on its port.
TEST(Check, ListenersClashOnAWildcardAndAnAddressOfTheSamePort) {
  expectErrors(listeners({"0.0.0.0:8080", "127.0.0.1:8080"}) + kC,
               "t.yaml:3:26: listeners[1].address: address 127.0.0.1:8080 clashes with "
               "0.0.0.0:8080 of listener 'l0' (a wildcard address takes its port on every "
               "address)\n");
  expectErrors(listeners({"[::1]:8080", "[::]:8080"}) + kC,
               "t.yaml:3:26: listeners[1].address: address [::]:8080 clashes with [::1]:8080 of "
               "listener 'l0' (a wildcard address takes its port on every address)\n");
  expectValid(listeners({"127.0.0.1:8080", "127.0.0.2:8080", "127.0.0.1:8081", "[::1]:8080"}) + kC);
#ifndef _WIN32  // Linux's IPv6 sockets are dual-stack: [::] takes IPv4 too
  expectErrors(listeners({"[::]:8080", "127.0.0.1:8080"}) + kC,
               "t.yaml:3:26: listeners[1].address: address 127.0.0.1:8080 clashes with "
               "[::]:8080 of listener 'l0' (a wildcard address takes its port on every "
               "address)\n");
#endif
}

// Routes of one listener, one per line starting at line 5.
std::string routes(std::initializer_list<const char*> matches) {
  std::string y = "listeners:\n  - name: l\n    address: 127.0.0.1:0\n    routes:\n";
  int i = 0;
  for (const char* m : matches) {
    y += "      - { name: r" + std::to_string(i++) + ", match: " + m + ", cluster: c }\n";
  }
  return y + kC;
}

std::string shadowed(int line, int index, int by, int byLine) {
  return "t.yaml:" + std::to_string(line) + ":9: listeners[0].routes[" + std::to_string(index) +
         "]: route 'r" + std::to_string(index) + "' can never match: route 'r" +
         std::to_string(by) + "' (line " + std::to_string(byLine) +
         ") before it takes every request it would (move it above, or narrow the earlier "
         "route's match)\n";
}

// The two the docs call errors and --check passed: the same exact path twice, and a prefix
// with methods before a longer prefix with the same methods.
TEST(Check, RoutesShadowedByAnEarlierRouteWithConditions) {
  expectErrors(routes({"{ path: /x }", "{ path: /x }"}), shadowed(6, 1, 0, 5));
  expectErrors(
      routes({"{ path_prefix: /x, methods: [GET] }", "{ path_prefix: /x/y, methods: [GET] }"}),
      shadowed(6, 1, 0, 5));
  // Every condition of the earlier route holds wherever the later one matches.
  expectErrors(routes({"{ host: a.example, path: /x, methods: [GET, HEAD] }",
                       "{ host: A.example, path: /x, methods: [HEAD] }"}),
               shadowed(6, 1, 0, 5));
  expectErrors(routes({"{ path_prefix: /api, headers: [{ name: x-v }] }",
                       "{ path_prefix: /api/v2, headers: [{ name: X-V, exact: \"2\" }] }"}),
               shadowed(6, 1, 0, 5));
  expectErrors(routes({"{ headers: [{ name: x-v, regex: \"[0-9]+\" }] }",
                       "{ headers: [{ name: x-v, exact: \"12\" }, { name: y }] }"}),
               shadowed(6, 1, 0, 5));
  expectErrors(routes({"{ query: [{ name: a, exact: \"1\" }] }",
                       "{ path: /q, query: [{ name: a, exact: \"1\" }] }"}),
               shadowed(6, 1, 0, 5));
  expectErrors(routes({"{ path_regex: \"/x/[a-z]+\" }", "{ path: /x/abc }"}), shadowed(6, 1, 0, 5));
  expectErrors(routes({"{ path_regex: \"/x/.*\" }", "{ path_regex: \"/x/.*\", methods: [GET] }"}),
               shadowed(6, 1, 0, 5));
}

// Where the earlier route is narrower in any way, the later one can match: no error.
TEST(Check, RoutesThatCanStillMatchAreNotReported) {
  for (auto [a, b] : std::initializer_list<std::pair<const char*, const char*>>{
           {"{ path: /x, methods: [GET] }", "{ path: /x }"},
           {"{ path: /x, methods: [GET] }", "{ path: /x, methods: [POST] }"},
           {"{ path: /x, methods: [GET] }", "{ path: /x, methods: [GET, POST] }"},
           {"{ path: /x, host: a.example }", "{ path: /x, host: b.example }"},
           {"{ path: /x, host: a.example }", "{ path: /x }"},
           {"{ path: /x }", "{ path: /x/ }"},
           {"{ path: /x }", "{ path_prefix: /x }"},
           {"{ path_prefix: /x/y, methods: [GET] }", "{ path_prefix: /x, methods: [GET] }"},
           {"{ path_prefix: /x, methods: [GET] }", "{ path_prefix: /x/y }"},
           {"{ path_prefix: /x, headers: [{ name: a }] }", "{ path_prefix: /x/y }"},
           {"{ path_prefix: /x, headers: [{ name: a }] }",
            "{ path_prefix: /x/y, headers: [{ name: b }] }"},
           {"{ headers: [{ name: a, exact: \"1\" }] }", "{ headers: [{ name: a, exact: \"2\" }] }"},
           {"{ headers: [{ name: a, exact: \"1\" }] }", "{ headers: [{ name: a }] }"},
           {"{ headers: [{ name: a, regex: \"[0-9]+\" }] }",
            "{ headers: [{ name: a, exact: \"x1\" }] }"},
           {"{ query: [{ name: a }] }", "{ query: [{ name: A }] }"},
           {"{ path_regex: \"/x/[a-z]+\" }", "{ path: /x/1 }"},
           {"{ path_regex: \"/x/.*\" }", "{ path_prefix: /x/ }"},
       }) {
    expectValid(routes({a, b}));
  }
}

// access_log.path passed --check, then every line was dropped silently: the file must be one
// ferry can append to, checked where the config loads (--check, start, reload).
TEST(Check, AccessLogPathMustBeAppendable) {
  expectErrors("access_log: { path: /nonexistent/dir/a.log }\n" + routes({"{ path: /a }"}),
               "t.yaml:1:21: access_log.path: cannot append to '/nonexistent/dir/a.log': "
               "directory '/nonexistent/dir' does not exist (create the directory, or write to "
               "stdout)\n");
  auto dir = std::filesystem::temp_directory_path() / "ferry-check-access-log";
  std::filesystem::create_directories(dir / "logs" / "is-a-dir");
  std::string base = dir.generic_string();
  // Relative to the config's directory, as every other path.
  LoadResult r = load("access_log:\n  path: logs/a.log\n" + routes({"{ path: /a }"}), base);
  ASSERT_TRUE(r.errors.empty()) << all(r);
  EXPECT_EQ(r.config->accessLog.path, base + "/logs/a.log");
  r = load("access_log:\n  path: logs/is-a-dir\n" + routes({"{ path: /a }"}), base);
  EXPECT_EQ(all(r), "t.yaml:2:9: access_log.path: cannot append to '" + base +
                        "/logs/is-a-dir': it is a directory (create the directory, or write to "
                        "stdout)\n");
  // Not checked when the log is off, nor for stdout.
  expectValid("access_log: { path: /nonexistent/dir/a.log, enabled: false }\n" +
              routes({"{ path: /a }"}));
  expectValid("access_log: { path: stdout }\n" + routes({"{ path: /a }"}));
  std::filesystem::remove_all(dir);
}

// health_check.timeout defaulted to 1s, so an interval under 1s was refused with an error about
// a key the user never wrote: the default is now min(1s, interval).
TEST(Check, HealthCheckTimeoutDefaultsToAtMostTheInterval) {
  std::string head =
      "listeners:\n  - { name: l, address: 127.0.0.1:0, routes: [{cluster: c}] }\n"
      "clusters:\n  - name: c\n    endpoints: [127.0.0.1:1]\n    health_check:\n";
  LoadResult r = load(head + "      interval: 500ms\n");
  ASSERT_TRUE(r.errors.empty()) << all(r);
  EXPECT_EQ(r.config->clusters[0].healthCheck->timeout, milliseconds(500));
  r = load(head + "      interval: 10s\n");
  ASSERT_TRUE(r.errors.empty()) << all(r);
  EXPECT_EQ(r.config->clusters[0].healthCheck->timeout, seconds(1));
  // A timeout the user wrote is kept, and checked against the interval.
  r = load(head + "      interval: 500ms\n      timeout: 200ms\n");
  ASSERT_TRUE(r.errors.empty()) << all(r);
  EXPECT_EQ(r.config->clusters[0].healthCheck->timeout, milliseconds(200));
  EXPECT_EQ(all(load(head + "      interval: 500ms\n      timeout: 2s\n")),
            "t.yaml:8:16: clusters[0].health_check.timeout: the timeout is longer than the "
            "interval\n");
}

TEST(Loader, DuplicateNamesAndGeneratedRouteNames) {
  expectErrors(kL +
                   "    routes:\n      - { name: a, match: { path: /1 }, cluster: c }\n"
                   "      - { name: a, match: { path: /2 }, cluster: c }\n" +
                   kC + "  - { name: c, endpoints: [127.0.0.1:2] }\n",
               "t.yaml:6:17: listeners[0].routes[1].name: route 'a' is defined twice in listener "
               "'l' (first at line 5)\n"
               "t.yaml:9:13: clusters[1].name: cluster 'c' is defined twice (first at line 8)\n");
  // Unnamed routes: the cluster's name, made unique; never one a later route names itself.
  LoadResult r = load(kL +
                      "    routes:\n      - { match: { path: /1 }, cluster: c }\n"
                      "      - { match: { path: /2 }, cluster: c }\n"
                      "      - { name: c-2, match: { path: /3 }, cluster: c }\n"
                      "      - { match: { path: /4 }, direct_response: { status: 204 } }\n" +
                      kC);
  ASSERT_TRUE(r.errors.empty()) << all(r);
  const auto& routes = r.config->listeners[0].routes;
  EXPECT_EQ(routes[0].name, "c");
  EXPECT_EQ(routes[1].name, "c-3");
  EXPECT_EQ(routes[2].name, "c-2");
  EXPECT_EQ(routes[3].name, "direct");
}

TEST(Loader, RoutesToUndefinedClusters) {
  expectErrors(kL + "    routes:\n      - { clusters: [{ name: c }, { name: d, weight: 2 }] }\n" +
                   kC +
                   "  - { name: tcpc, endpoints: [127.0.0.1:2] }\n"
                   "  - { name: e, endpoints: [127.0.0.1:3] }\n"
                   "listeners:\n",
               "t.yaml:5:43: listeners[0].routes[0].clusters[1].name: unknown cluster 'd' (did "
               "you mean 'c'?)\n"
               "t.yaml:10:1: listeners: is set twice\n");
  expectErrors("listeners:\n  - { name: t, address: 127.0.0.1:0, protocol: tcp, cluster: pg }\n",
               "t.yaml:2:62: listeners[0].cluster: unknown cluster 'pg' (no clusters are "
               "defined)\n");
}

TEST(Loader, RoutesShadowedByAnEarlierCatchAll) {
  expectErrors(kL +
                   "    routes:\n"
                   "      - { name: all, match: { host: \"*.example.com\" }, cluster: c }\n"
                   "      - { name: api, match: { host: api.example.com, path: /x }, cluster: c }\n"
                   "      - { name: other, match: { host: example.org }, cluster: c }\n"
                   "      - { name: any, cluster: c }\n"
                   "      - { name: late, match: { path_prefix: /late }, cluster: c }\n" +
                   kC,
               "t.yaml:6:9: listeners[0].routes[1]: route 'api' can never match: route 'all' "
               "(line 5) before it takes every request it would (move it above, or narrow the "
               "earlier route's match)\n"
               "t.yaml:9:9: listeners[0].routes[4]: route 'late' can never match: route 'any' "
               "(line 8) before it takes every request it would (move it above, or narrow the "
               "earlier route's match)\n");
  // A narrower earlier route (method, header) shadows nothing.
  LoadResult r = load(kL +
                      "    routes:\n"
                      "      - { match: { methods: [GET] }, cluster: c }\n"
                      "      - { match: { headers: [{ name: x }] }, cluster: c }\n"
                      "      - { cluster: c }\n" +
                      kC);
  EXPECT_TRUE(r.errors.empty()) << all(r);
}

TEST(Loader, ListenersOnTheSameAddress) {
  expectErrors(kL + kR +
                   "  - { name: m, address: 127.0.0.1:8080, static: { root: / } }\n"
                   "  - { name: n, address: 127.0.0.1:8080, static: { root: / } }\n"
                   "  - { name: o, address: 127.0.0.1:0, static: { root: / } }\n" +
                   kC,
               "t.yaml:6:25: listeners[2].address: address 127.0.0.1:8080 is already used by "
               "listener 'm'\n");
}

// access_log: a bool (the old form), or {enabled, format, path}; a bad template is an error at
// its position naming the unknown field.
TEST(Loader, AccessLogTakesABoolOrAMapping) {
  const std::string rest = kL + kR + kC;
  LoadResult off = load("access_log: false\n" + rest);
  ASSERT_TRUE(off.errors.empty()) << all(off);
  EXPECT_FALSE(off.config->accessLog.enabled);
  LoadResult dflt = load(rest);
  ASSERT_TRUE(dflt.errors.empty()) << all(dflt);
  EXPECT_TRUE(dflt.config->accessLog.enabled);
  EXPECT_EQ(dflt.config->accessLog.format, "ferry");
  EXPECT_EQ(dflt.config->accessLog.path, "stdout");
  // A file in a directory that exists and is writable (check_test: one that is not).
  std::string file =
      (std::filesystem::temp_directory_path() / "ferry.log").lexically_normal().generic_string();
  LoadResult map = load("access_log: { format: json, path: \"" + file + "\" }\n" + rest);
  ASSERT_TRUE(map.errors.empty()) << all(map);
  EXPECT_TRUE(map.config->accessLog.enabled);
  EXPECT_EQ(map.config->accessLog.format, "json");
  EXPECT_EQ(map.config->accessLog.path, file);
  LoadResult bad = load("access_log:\n  format: \"%STATUS% %NOPE%\"\n" + rest);
  EXPECT_NE(all(bad).find("t.yaml:2:11: access_log.format: "), std::string::npos) << all(bad);
  EXPECT_NE(all(bad).find("unknown field %NOPE%"), std::string::npos) << all(bad);
}

}  // namespace
}  // namespace ferry::config
