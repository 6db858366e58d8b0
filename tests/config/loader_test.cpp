#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>

#include "proxy/config/config.h"
#include "proxy/config/keys.h"

namespace ferry::config {
namespace {

LoadResult load(const std::string& yaml) {
  return loadString(yaml, "t.yaml", "/tmp");
}

std::string all(const LoadResult& r) {
  std::string s;
  for (const auto& e : r.errors) s += e.format() + "\n";
  return s;
}

// The errors of yaml, which must be exactly want (one per line, in order).
void expectErrors(const std::string& yaml, const std::string& want) {
  LoadResult r = load(yaml);
  EXPECT_EQ(all(r), want) << yaml;
  EXPECT_EQ(r.config == nullptr, !want.empty());
}

const char* kGood = R"(workers: 3
io: epoll
admin: { address: "[::1]:9000" }
listeners:
  - name: web
    address: 0.0.0.0:8080
    request_header_timeout: 1500ms
    max_request_body_bytes: 1000
    routes:
      - { name: api, match: { host: "*.example.com", path_prefix: /api }, cluster: api }
      - { cluster: api }
clusters:
  - name: api
    endpoints: [127.0.0.1:9001, "[::1]:9002"]
    connect_timeout: 2m
    max_idle_per_worker: 8
)";

TEST(Loader, ReadsAValidConfig) {
  LoadResult r = load(kGood);
  ASSERT_TRUE(r.errors.empty()) << all(r);
  const Config& c = *r.config;
  EXPECT_EQ(c.workers, 3U);
  EXPECT_EQ(c.io, "epoll");
  EXPECT_EQ(c.admin.address.toString(), "[::1]:9000");
  ASSERT_EQ(c.listeners.size(), 1U);
  EXPECT_EQ(c.listeners[0].requestHeaderTimeout, milliseconds(1500));
  EXPECT_EQ(c.listeners[0].maxRequestBodyBytes, 1000U);
  ASSERT_EQ(c.listeners[0].routes.size(), 2U);
  EXPECT_EQ(c.listeners[0].routes[0].match.host, "*.example.com");
  EXPECT_EQ(c.listeners[0].routes[1].match.pathPrefix, "/");
  EXPECT_EQ(c.listeners[0].routes[1].name, "api-2");  // generated, unique in the listener
  EXPECT_EQ(c.clusters[0].endpoints.size(), 2U);
  EXPECT_EQ(c.clusters[0].connectTimeout, std::chrono::minutes(2));
  EXPECT_EQ(c.clusters[0].maxIdlePerWorker, 8U);
}

TEST(Loader, DefaultsMatchTheTable) {
  LoadResult r = load(
      "listeners:\n  - { name: l, address: 127.0.0.1:1, routes: [{cluster: c}] }\n"
      "clusters:\n  - { name: c, endpoints: [127.0.0.1:2] }\n");
  ASSERT_TRUE(r.errors.empty()) << all(r);
  const ListenerConfig& l = r.config->listeners[0];
  EXPECT_EQ(l.via, "ferry");
  EXPECT_EQ(l.maxRequestTargetBytes, 8192U);
  EXPECT_EQ(l.maxRequestHeaders, 100U);
  EXPECT_EQ(l.requestBodyTimeout, seconds(30));
  EXPECT_EQ(l.tunnelIdleTimeout, std::chrono::hours(1));
  EXPECT_EQ(l.forwarding.xForwardedFor, ForwardMode::kAppend);
  EXPECT_EQ(l.forwarding.xForwardedProto, ForwardMode::kAppend);
  EXPECT_EQ(l.forwarding.xForwardedHost, ForwardMode::kOff);
  EXPECT_EQ(l.forwarding.forwarded, ForwardMode::kOff);
  EXPECT_TRUE(l.requestId);
  EXPECT_EQ(l.protocol, ListenerProtocol::kHttp);
  EXPECT_FALSE(l.acceptProxyProtocol);
  EXPECT_EQ(l.proxyProtocolTimeout, seconds(5));
  EXPECT_EQ(l.backlog, 4096U);
  EXPECT_EQ(l.routes[0].name, "c");
  EXPECT_EQ(l.routes[0].timeout, Duration{0});
  EXPECT_FALSE(l.routes[0].allowTrace);
  const ClusterConfig& c = r.config->clusters[0];
  EXPECT_EQ(c.balance.policy, BalancePolicy::kRoundRobin);
  EXPECT_EQ(c.proxyProtocol, ProxyProtocolVersion::kOff);
  EXPECT_EQ(c.hostRewrite, "");
  ASSERT_EQ(c.endpoints.size(), 1U);
  EXPECT_EQ(c.endpoints[0].weight, 1U);
  EXPECT_EQ(c.dnsRefresh.min, seconds(5));
  EXPECT_EQ(c.dnsRefresh.max, seconds(300));
  EXPECT_EQ(r.config->resolver.nameservers, "");
}

// Every key of issue 6, 7 and 8 read into the model.
TEST(Loader, ReadsEveryKey) {
  std::string dir =
      std::filesystem::path(::testing::TempDir() + "/ferry-pages").lexically_normal().string();
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/503.html") << "busy";
  LoadResult r = loadString(R"(listeners:
  - name: web
    address: 127.0.0.1:0
    via: edge-1
    max_request_target_bytes: 4KiB
    max_request_headers: 50
    request_body_timeout: 5s
    tunnel_idle_timeout: off
    idle_timeout: off
    send_timeout: 1m
    max_request_header_bytes: 32KiB
    max_request_body_bytes: 1MiB
    forwarding: { x_forwarded_for: replace, x_forwarded_proto: off, x_forwarded_host: append, forwarded: replace }
    trusted_proxies: [10.0.0.0/8, "fd00::/8", 192.168.1.7/32]
    request_id: false
    error_pages: { 503: 503.html }
    accept_proxy_protocol: true
    proxy_protocol_timeout: 2s
    backlog: 128
    routes:
      - name: r1
        match:
          host: api.example.com
          path_regex: "/v[0-9]+/.*"
          methods: [GET, HEAD]
          headers: [{ name: x-canary, exact: "1" }, { name: x-any }, { name: x-re, regex: "a+" }]
          query: [{ name: debug, present: true }]
        clusters: [{ name: blue, weight: 90 }, { name: green, weight: 10 }]
        timeout: 15s
        retry: { retry_on: [connect-failure, 503], max_retries: 2, per_try_timeout: 500ms }
        request_headers: { add: { x-a: "1" }, set: { x-b: "2" }, remove: [x-c] }
        response_headers: { remove: [server] }
        allow_trace: true
      - { name: moved, match: { path: /old }, redirect: { to: /new, status: 308 } }
      - { name: teapot, match: { path_prefix: /tea }, direct_response: { status: 418, body: "no" } }
  - { name: db, address: 127.0.0.1:0, protocol: tcp, cluster: blue }
clusters:
  - name: blue
    endpoints: [127.0.0.1:1, { address: 127.0.0.1:2, weight: 3 }]
    balance: { policy: ring_hash, hash_on: { cookie: session }, slow_start: 30s }
    host_rewrite: backend.internal
    proxy_protocol: v2
  - name: green
    endpoints: [127.0.0.1:3]
    balance: { policy: maglev, hash_on: { source_ip: true } }
)",
                            "t.yaml", dir);
  ASSERT_TRUE(r.errors.empty()) << all(r);
  const ListenerConfig& l = r.config->listeners[0];
  EXPECT_EQ(l.via, "edge-1");
  EXPECT_EQ(l.maxRequestTargetBytes, 4096U);
  EXPECT_EQ(l.maxRequestHeaders, 50U);
  EXPECT_EQ(l.requestBodyTimeout, seconds(5));
  EXPECT_EQ(l.tunnelIdleTimeout, Duration{0});
  EXPECT_EQ(l.idleTimeout, Duration{0});
  EXPECT_EQ(l.sendTimeout, std::chrono::minutes(1));
  EXPECT_EQ(l.maxRequestHeaderBytes, 32768U);
  EXPECT_EQ(l.maxRequestBodyBytes, 1048576U);
  EXPECT_EQ(l.forwarding.xForwardedFor, ForwardMode::kReplace);
  EXPECT_EQ(l.forwarding.xForwardedProto, ForwardMode::kOff);
  EXPECT_EQ(l.forwarding.xForwardedHost, ForwardMode::kAppend);
  EXPECT_EQ(l.forwarding.forwarded, ForwardMode::kReplace);
  ASSERT_EQ(l.trustedProxies.size(), 3U);
  EXPECT_EQ(l.trustedProxies[0].range.prefixLength, 8U);
  EXPECT_EQ(l.trustedProxies[1].range.network.family, IpFamily::kV6);
  EXPECT_FALSE(l.requestId);
  ASSERT_EQ(l.errorPages.size(), 1U);
  EXPECT_EQ(l.errorPages[0].status, 503);
  EXPECT_EQ(l.errorPages[0].file,
            (std::filesystem::path(dir) / "503.html").lexically_normal().generic_string());
  EXPECT_TRUE(l.acceptProxyProtocol);
  EXPECT_EQ(l.proxyProtocolTimeout, seconds(2));
  EXPECT_EQ(l.backlog, 128U);
  const RouteConfig& r1 = l.routes[0];
  EXPECT_EQ(r1.match.host, "api.example.com");
  EXPECT_EQ(r1.match.pathRegex, "/v[0-9]+/.*");
  EXPECT_EQ(r1.match.methods, (std::vector<std::string>{"GET", "HEAD"}));
  ASSERT_EQ(r1.match.headers.size(), 3U);
  EXPECT_EQ(r1.match.headers[0].kind, ValueMatch::Kind::kExact);
  EXPECT_EQ(r1.match.headers[0].value, "1");
  EXPECT_EQ(r1.match.headers[1].kind, ValueMatch::Kind::kPresent);
  EXPECT_EQ(r1.match.headers[2].kind, ValueMatch::Kind::kRegex);
  ASSERT_EQ(r1.match.query.size(), 1U);
  EXPECT_EQ(r1.match.query[0].kind, ValueMatch::Kind::kPresent);
  ASSERT_EQ(r1.clusters.size(), 2U);
  EXPECT_EQ(r1.clusters[1].name, "green");
  EXPECT_EQ(r1.clusters[1].weight, 10U);
  EXPECT_EQ(r1.timeout, seconds(15));
  ASSERT_TRUE(r1.retry.has_value());
  EXPECT_EQ(r1.retry->retryOn, (std::vector<std::string>{"connect-failure", "503"}));
  EXPECT_EQ(r1.retry->maxRetries, 2U);
  EXPECT_EQ(r1.retry->perTryTimeout, milliseconds(500));
  EXPECT_EQ(r1.requestHeaders.add.at(0), (std::pair<std::string, std::string>{"x-a", "1"}));
  EXPECT_EQ(r1.requestHeaders.set.at(0), (std::pair<std::string, std::string>{"x-b", "2"}));
  EXPECT_EQ(r1.requestHeaders.remove, std::vector<std::string>{"x-c"});
  EXPECT_EQ(r1.responseHeaders.remove, std::vector<std::string>{"server"});
  EXPECT_TRUE(r1.allowTrace);
  ASSERT_TRUE(l.routes[1].redirect.has_value());
  EXPECT_EQ(l.routes[1].redirect->to, "/new");
  EXPECT_EQ(l.routes[1].redirect->status, 308);
  EXPECT_EQ(l.routes[1].match.path, "/old");
  ASSERT_TRUE(l.routes[2].directResponse.has_value());
  EXPECT_EQ(l.routes[2].directResponse->status, 418);
  EXPECT_EQ(l.routes[2].directResponse->body, "no");
  const ListenerConfig& db = r.config->listeners[1];
  EXPECT_EQ(db.protocol, ListenerProtocol::kTcp);
  EXPECT_EQ(db.cluster, "blue");
  const ClusterConfig& blue = r.config->clusters[0];
  ASSERT_EQ(blue.endpoints.size(), 2U);
  EXPECT_EQ(blue.endpoints[1].address, "127.0.0.1:2");
  EXPECT_EQ(blue.endpoints[1].weight, 3U);
  EXPECT_EQ(blue.balance.policy, BalancePolicy::kRingHash);
  EXPECT_EQ(blue.balance.hashOn.kind, HashOn::Kind::kCookie);
  EXPECT_EQ(blue.balance.hashOn.name, "session");
  EXPECT_EQ(blue.balance.slowStart, seconds(30));
  EXPECT_EQ(blue.hostRewrite, "backend.internal");
  EXPECT_EQ(blue.proxyProtocol, ProxyProtocolVersion::kV2);
  EXPECT_EQ(r.config->clusters[1].balance.policy, BalancePolicy::kMaglev);
  EXPECT_EQ(r.config->clusters[1].balance.hashOn.kind, HashOn::Kind::kSourceIp);
}

// For every key in the table: a value of the wrong type is reported at the value's position,
// with the key's full path. Proves each key is wired to the loader.
struct Place {
  std::string before;  // YAML up to the injected line
  int line;            // the injected line's number
  int indent;
  std::string path;   // of the mapping the key goes in
  std::string after;  // YAML after it
};

const std::string kTail = "clusters:\n  - name: c\n    endpoints: [127.0.0.1:1]\n";
const std::string kListenerHead = "listeners:\n  - name: l\n    address: 127.0.0.1:0\n";

std::map<std::string, Place> places() {
  std::string routeHead = kListenerHead + "    routes:\n      - cluster: c\n";
  return {
      {"ferry", {"", 1, 0, "", kListenerHead + "    routes: [{cluster: c}]\n" + kTail}},
      {"admin",
       {"admin:\n", 2, 2, "admin.", kListenerHead + "    routes: [{cluster: c}]\n" + kTail}},
      {"admin_control",
       {"admin:\n  control:\n", 3, 4, "admin.control.",
        kListenerHead + "    routes: [{cluster: c}]\n" + kTail}},
      {"access_log",
       {"access_log:\n", 2, 2, "access_log.",
        kListenerHead + "    routes: [{cluster: c}]\n" + kTail}},
      {"resolver",
       {"resolver:\n", 2, 2, "resolver.", kListenerHead + "    routes: [{cluster: c}]\n" + kTail}},
      {"listener", {kListenerHead + "    routes: [{cluster: c}]\n", 5, 4, "listeners[0].", kTail}},
      {"forwarding",
       {kListenerHead + "    routes: [{cluster: c}]\n    forwarding:\n", 6, 6,
        "listeners[0].forwarding.", kTail}},
      {"static", {kListenerHead + "    static:\n", 5, 6, "listeners[0].static.", kTail}},
      {"route", {routeHead, 6, 8, "listeners[0].routes[0].", kTail}},
      {"match", {routeHead + "        match:\n", 7, 10, "listeners[0].routes[0].match.", kTail}},
      {"header_match",
       {routeHead + "        match:\n          headers:\n            - name: x\n", 9, 14,
        "listeners[0].routes[0].match.headers[0].", kTail}},
      {"query_match",
       {routeHead + "        match:\n          query:\n            - name: x\n", 9, 14,
        "listeners[0].routes[0].match.query[0].", kTail}},
      {"weighted_cluster",
       {kListenerHead + "    routes:\n      - clusters:\n          - name: c\n", 7, 12,
        "listeners[0].routes[0].clusters[0].", kTail}},
      {"retry", {routeHead + "        retry:\n", 7, 10, "listeners[0].routes[0].retry.", kTail}},
      {"header_rules",
       {routeHead + "        request_headers:\n", 7, 10, "listeners[0].routes[0].request_headers.",
        kTail}},
      {"direct_response",
       {kListenerHead + "    routes:\n      - direct_response:\n          status: 200\n", 7, 10,
        "listeners[0].routes[0].direct_response.", kTail}},
      {"redirect",
       {kListenerHead + "    routes:\n      - redirect:\n          to: /x\n", 7, 10,
        "listeners[0].routes[0].redirect.", kTail}},
      {"cluster",
       {kListenerHead + "    routes: [{cluster: c}]\n" + kTail, 8, 4, "clusters[0].", ""}},
      {"endpoint",
       {kListenerHead + "    routes: [{cluster: c}]\nclusters:\n  - name: c\n    endpoints:\n"
                        "      - address: 127.0.0.1:1\n",
        9, 8, "clusters[0].endpoints[0].", ""}},
      {"dns_refresh",
       {kListenerHead + "    routes: [{cluster: c}]\n" + kTail + "    dns_refresh:\n", 9, 6,
        "clusters[0].dns_refresh.", ""}},
      {"balance",
       {kListenerHead + "    routes: [{cluster: c}]\n" + kTail + "    balance:\n", 9, 6,
        "clusters[0].balance.", ""}},
      {"hash_on",
       {kListenerHead + "    routes: [{cluster: c}]\n" + kTail +
            "    balance:\n      policy: ring_hash\n      hash_on:\n",
        11, 8, "clusters[0].balance.hash_on.", ""}},
      {"backoff",
       {kListenerHead + "    routes: [{cluster: c}]\n" + kTail + "    retry:\n      backoff:\n", 10,
        8, "clusters[0].retry.backoff.", ""}},
      {"retry_budget",
       {kListenerHead + "    routes: [{cluster: c}]\n" + kTail + "    retry_budget:\n", 9, 6,
        "clusters[0].retry_budget.", ""}},
      {"outlier_detection",
       {kListenerHead + "    routes: [{cluster: c}]\n" + kTail + "    outlier_detection:\n", 9, 6,
        "clusters[0].outlier_detection.", ""}},
      {"health_check",
       {kListenerHead + "    routes: [{cluster: c}]\n" + kTail + "    health_check:\n", 9, 6,
        "clusters[0].health_check.", ""}},
  };
}

std::pair<std::string, std::string> badValue(const keys::Field& f) {
  using keys::Type;
  switch (f.type) {
    case Type::kString:
      return {"[1]", "must be a string"};
    case Type::kBool:
      return {"maybe", "must be true or false"};
    case Type::kUint:
      return {"x", (f.flags & keys::kAuto) ? "must be a whole number or auto"
                                           : "must be a whole number"};
    case Type::kDuration:
      return {"5 s", "'5 s' has an unknown unit ' s': a duration such as 250ms, 5s, 1m or 1h"};
    case Type::kSize:
      return {"1KB", "'1KB' has an unknown unit 'KB': a size such as 65536, 64KiB or 1MiB"};
    case Type::kEnum: {
      std::string m = "must be one of ";
      for (std::size_t i = 0; i < f.choices.size(); ++i)
        m += (i ? ", " : "") + std::string(f.choices[i]);
      return {"nope", m};
    }
    case Type::kAddress:
      return {"nowhere",
              "'nowhere' is not an address (write ip:port, e.g. 127.0.0.1:8080 or "
              "[::1]:8080)"};
    case Type::kHostPort:
      return {"nowhere",
              "'nowhere' has no port (write host:port, e.g. 10.0.0.1:8080, [::1]:8080 or "
              "backend.internal:8080)"};
    case Type::kStringList:
    case Type::kObjectList:
      return {"x", "must be a list"};
    case Type::kCidrList:
      return {"x", "must be a list of address ranges such as 10.0.0.0/8"};
    case Type::kStringMap:
      return {"x", "must be a mapping of name: value"};
    case Type::kStatusFile:
      return {"x", "must be a mapping of status: file"};
    case Type::kObject:
      // A scalar is read as the section's first field (access_log: false).
      if (f.flags & keys::kScalarItem) return badValue(f.section->fields[0]);
      return {"x", "must be a mapping"};
  }
  return {};
}

TEST(Loader, EveryKeyReportsAWrongValueAtItsPosition) {
  std::map<std::string, Place> ps = places();
  int checked = 0;
  for (const keys::Section* s : keys::sections()) {
    auto it = ps.find(s->name);
    ASSERT_NE(it, ps.end()) << "no test placement for section " << s->name;
    const Place& p = it->second;
    for (const keys::Field& f : s->fields) {
      std::string key = f.name;
      // Keys the placement itself writes are covered by the other tests.
      if (p.before.find(std::string(static_cast<std::size_t>(p.indent), ' ') + key + ":") !=
              std::string::npos ||
          p.before.find("- " + key + ":") != std::string::npos ||
          (p.before.empty() && p.after.find("\n" + key + ":") != std::string::npos) ||
          (p.before.empty() && p.after.rfind(key + ":", 0) == 0)) {
        continue;
      }
      auto [value, message] = badValue(f);
      std::string yaml = p.before + std::string(static_cast<std::size_t>(p.indent), ' ') + key +
                         ": " + value + "\n" + p.after;
      LoadResult r = load(yaml);
      std::string want = "t.yaml:" + std::to_string(p.line) + ":" +
                         std::to_string(p.indent + static_cast<int>(key.size()) + 3) + ": " +
                         p.path + key + ": " + message;
      std::string got = all(r);
      EXPECT_NE(got.find(want + "\n"), std::string::npos) << "want: " << want << "\n"
                                                          << yaml << got;
      ++checked;
    }
  }
  EXPECT_GT(checked, 60);
}

TEST(Loader, CollectsEveryErrorWithPathLineAndColumn) {
  expectErrors(R"(workers: 0
listeners:
  - name: web
    address: 127.0.0.1:99999
    routes:
      - { cluster: apx }
  - name: web
    address: nowhere
    static: { root: /definitely/not/here }
clusters:
  - name: api
    endpoints: []
    conect_timeout: 1s
    response_timeout: fast
)",
               "t.yaml:1:10: workers: must be between 1 and 1024\n"
               "t.yaml:4:14: listeners[0].address: '127.0.0.1:99999' is not an address (write "
               "ip:port, e.g. 127.0.0.1:8080 or [::1]:8080)\n"
               "t.yaml:6:20: listeners[0].routes[0].cluster: unknown cluster 'apx' (did you mean "
               "'api'?)\n"
               "t.yaml:7:11: listeners[1].name: listener 'web' is defined twice (first at line 3)\n"
               "t.yaml:8:14: listeners[1].address: 'nowhere' is not an address (write ip:port, "
               "e.g. 127.0.0.1:8080 or [::1]:8080)\n"
               "t.yaml:9:21: listeners[1].static.root: '/definitely/not/here' is not a "
               "directory\n"
               "t.yaml:12:16: clusters[0].endpoints: must not be empty\n"
               "t.yaml:13:5: clusters[0].conect_timeout: unknown key (did you mean "
               "'connect_timeout'?)\n"
               "t.yaml:14:23: clusters[0].response_timeout: 'fast' must be a duration such as "
               "250ms, 5s, 1m or 1h\n");
}

const std::string kL = "listeners:\n  - name: l\n    address: 127.0.0.1:0\n";
const std::string kR = "    routes: [{cluster: c}]\n";
const std::string kC = "clusters:\n  - { name: c, endpoints: [127.0.0.1:1] }\n";

TEST(Loader, UnknownKeysSuggestTheNearestOrListTheAllowed) {
  expectErrors(kL + kR + "    idle_timout: 5s\n    zzz: 1\n" + kC,
               "t.yaml:5:5: listeners[0].idle_timout: unknown key (did you mean "
               "'idle_timeout'?)\n"
               "t.yaml:6:5: listeners[0].zzz: unknown key (allowed here: name, address, "
               "protocol, routes, static, cluster, request_header_timeout, idle_timeout, "
               "send_timeout, request_body_timeout, retry_after, tunnel_idle_timeout, "
               "max_request_header_bytes, max_request_body_bytes, max_request_target_bytes, "
               "max_request_headers, via, forwarding, trusted_proxies, request_id, error_pages, "
               "accept_proxy_protocol, proxy_protocol_timeout, backlog)\n");
  expectErrors("wrkers: 2\n" + kL + kR + kC,
               "t.yaml:1:1: wrkers: unknown key (did you mean 'workers'?)\n");
}

TEST(Loader, OutOfRange) {
  expectErrors(kL + kR +
                   "    max_request_header_bytes: 128KiB\n    max_request_headers: 101\n"
                   "    idle_timeout: 25h\n    backlog: 0\n" +
                   kC,
               "t.yaml:5:31: listeners[0].max_request_header_bytes: must be between 1KiB and "
               "64KiB\n"
               "t.yaml:6:26: listeners[0].max_request_headers: must be between 1 and 100\n"
               "t.yaml:7:19: listeners[0].idle_timeout: must be at most 24h\n"
               "t.yaml:8:14: listeners[0].backlog: must be between 1 and 65535\n");
  expectErrors("workers: 2000\n" + kL + kR + kC,
               "t.yaml:1:10: workers: must be between 1 and 1024\n");
}

TEST(Loader, ZeroWhereItMeansNothingAsksForOff) {
  expectErrors(kL + kR +
                   "    idle_timeout: 0s\n    request_header_timeout: 0ms\n"
                   "    max_request_body_bytes: 0\n    request_header_timeout: off\n" +
                   kC,
               "t.yaml:5:19: listeners[0].idle_timeout: 0 is not a valid duration here: use "
               "`off` to disable it\n"
               "t.yaml:6:29: listeners[0].request_header_timeout: must be greater than 0\n"
               "t.yaml:7:29: listeners[0].max_request_body_bytes: 0 is not a valid size here: use "
               "`off` to disable it\n"
               "t.yaml:8:5: listeners[0].request_header_timeout: is set twice\n");
  expectErrors(kL + kR + "    proxy_protocol_timeout: off\n" + kC,
               "t.yaml:5:29: listeners[0].proxy_protocol_timeout: cannot be off here\n");
  LoadResult r = load(kL + kR + "    send_timeout: off\n    max_request_body_bytes: off\n" + kC);
  ASSERT_TRUE(r.errors.empty()) << all(r);
  EXPECT_EQ(r.config->listeners[0].sendTimeout, Duration{0});
  EXPECT_EQ(r.config->listeners[0].maxRequestBodyBytes, 0U);
}

TEST(Loader, DurationsAndSizesWithUnitsAndOverflow) {
  LoadResult r = load(kL + kR +
                      "    idle_timeout: 250ms\n    send_timeout: 1h\n"
                      "    max_request_header_bytes: 2048\n"
                      "    max_request_body_bytes: 1GiB\n" +
                      kC);
  ASSERT_TRUE(r.errors.empty()) << all(r);
  EXPECT_EQ(r.config->listeners[0].idleTimeout, milliseconds(250));
  EXPECT_EQ(r.config->listeners[0].sendTimeout, std::chrono::hours(1));
  EXPECT_EQ(r.config->listeners[0].maxRequestHeaderBytes, 2048U);
  EXPECT_EQ(r.config->listeners[0].maxRequestBodyBytes, 1ULL << 30);
  expectErrors(kL + kR +
                   "    idle_timeout: 99999999999999999999s\n"
                   "    send_timeout: 9999999999999h\n"
                   "    max_request_body_bytes: 99999999999GiB\n"
                   "    request_body_timeout: 5\n" +
                   kC,
               "t.yaml:5:19: listeners[0].idle_timeout: '99999999999999999999s' is too large "
               "(overflows 64 bits)\n"
               "t.yaml:6:19: listeners[0].send_timeout: '9999999999999h' is too large (overflows "
               "64 bits)\n"
               "t.yaml:7:29: listeners[0].max_request_body_bytes: '99999999999GiB' is too large "
               "(overflows 64 bits)\n"
               "t.yaml:8:27: listeners[0].request_body_timeout: '5' needs a unit: a duration "
               "such as 250ms, 5s, 1m or 1h\n");
}

TEST(Loader, StringsThatYamlReadsAsNumbersMustBeQuoted) {
  expectErrors("listeners:\n  - name: 123\n    address: 127.0.0.1:0\n" + kR + kC,
               "t.yaml:2:11: listeners[0].name: must be a string (quote it: \"123\")\n");
  expectErrors(kL + kR + "    via: true\n" + kC,
               "t.yaml:5:10: listeners[0].via: must be a string (quote it: \"true\")\n");
}

TEST(Loader, RouteShapes) {
  expectErrors(kL +
                   "    routes:\n      - { match: { path: /a, path_prefix: /b } }\n"
                   "      - { match: { path: /r }, cluster: c, redirect: { to: /x } }\n"
                   "      - { match: { path: /w }, clusters: [{ name: c, weight: 0 }] }\n"
                   "      - { match: { path_regex: \"(\" }, redirect: { to: /y, status: 304 } }\n"
                   "      - { match: { headers: [{ name: a, exact: b, regex: c }] }, cluster: c }\n"
                   "      - { match: { methods: [get] }, direct_response: { status: 700 } }\n" +
                   kC,
               "t.yaml:5:9: listeners[0].routes[0]: a route needs a cluster (or clusters, "
               "direct_response or redirect)\n"
               "t.yaml:5:26: listeners[0].routes[0].match.path: use only one of path, "
               "path_prefix and path_regex\n"
               "t.yaml:6:54: listeners[0].routes[1].redirect: a route has one of cluster, "
               "clusters, direct_response and redirect\n"
               "t.yaml:7:42: listeners[0].routes[2].clusters: the weights add up to 0: no "
               "cluster would get a request\n"
               "t.yaml:8:32: listeners[0].routes[3].match.path_regex: not a valid RE2 regular "
               "expression: missing ): (\n"
               "t.yaml:8:67: listeners[0].routes[3].redirect.status: must be one of 301, 302, "
               "303, 307, 308\n"
               "t.yaml:9:48: listeners[0].routes[4].match.headers[0].exact: use only one of "
               "present, exact and regex\n"
               "t.yaml:10:30: listeners[0].routes[5].match.methods[0]: 'get' must be an "
               "upper-case method such as GET\n"
               "t.yaml:10:65: listeners[0].routes[5].direct_response.status: must be between 200 "
               "and 599\n");
}

TEST(Loader, ListenerShapes) {
  expectErrors(
      "listeners:\n"
      "  - { name: a, address: 127.0.0.1:1 }\n"
      "  - { name: b, address: 127.0.0.1:2, static: { root: / }, routes: [] }\n"
      "  - { name: t, address: 127.0.0.1:3, protocol: tcp, routes: [{cluster: c}] }\n"
      "  - { name: h, address: 127.0.0.1:4, cluster: c, routes: [{cluster: c}] }\n"
      "  - { name: u, address: 127.0.0.1:5, protocol: udp }\n"
      "  - { address: 127.0.0.1:6, static: { root: / } }\n" +
          kC,
      "t.yaml:2:5: listeners[0]: a listener needs routes (a proxy) or static (a file "
      "server)\n"
      "t.yaml:3:46: listeners[1].static: a listener has either routes or static, not "
      "both\n"
      "t.yaml:3:67: listeners[1].routes: must not be empty\n"
      "t.yaml:4:5: listeners[2]: a tcp listener needs a cluster\n"
      "t.yaml:4:61: listeners[2].routes: a tcp listener has no routes (it forwards bytes "
      "to cluster)\n"
      "t.yaml:5:47: listeners[3].cluster: cluster applies to protocol: tcp (an http "
      "listener has routes)\n"
      "t.yaml:6:5: listeners[4]: a listener needs routes (a proxy) or static (a file "
      "server)\n"
      "t.yaml:6:48: listeners[4].protocol: must be one of http, tcp (did you mean 'tcp'?)\n"
      "t.yaml:7:5: listeners[5]: missing required key 'name'\n");
}

TEST(Loader, TrustedProxiesAreCheckedPrecisely) {
  expectErrors(kL + kR +
                   "    trusted_proxies:\n"
                   "      - 10.0.0.0/8\n      - 10.0.0.1/8\n      - 10.0.0/8\n"
                   "      - 10.0.0.0/33\n      - 010.0.0.0/8\n      - 10.0.0.0\n"
                   "      - fd00::/129\n      - fd00::1::/64\n      - \"::ffff:10.0.0.0/104\"\n"
                   "      - 2001:db8::/32\n      - 256.0.0.0/8\n" +
                   kC,
               "t.yaml:7:9: listeners[0].trusted_proxies[1]: '10.0.0.1/8' is not an address range: "
               "host bits set below the prefix length in 10.0.0.1/8 (did you mean 10.0.0.0/8?)\n"
               "t.yaml:8:9: listeners[0].trusted_proxies[2]: '10.0.0/8' is not an address range: "
               "an IPv4 address has four parts separated by dots: 10.0.0\n"
               "t.yaml:9:9: listeners[0].trusted_proxies[3]: '10.0.0.0/33' is not an address "
               "range: IPv4 prefix length above 32: 10.0.0.0/33\n"
               "t.yaml:10:9: listeners[0].trusted_proxies[4]: '010.0.0.0/8' is not an address "
               "range: IPv4 part with a leading zero (octal is ambiguous): 010\n"
               "t.yaml:11:9: listeners[0].trusted_proxies[5]: '10.0.0.0' is not an address "
               "range: write address/prefix, e.g. 10.0.0.0/8 or fd00::/8\n"
               "t.yaml:12:9: listeners[0].trusted_proxies[6]: 'fd00::/129' is not an address "
               "range: IPv6 prefix length above 128: fd00::/129\n"
               "t.yaml:13:9: listeners[0].trusted_proxies[7]: 'fd00::1::/64' is not an address "
               "range: \"::\" may appear only once in an IPv6 address: fd00::1::\n"
               "t.yaml:16:9: listeners[0].trusted_proxies[10]: '256.0.0.0/8' is not an address "
               "range: IPv4 part out of range (0..255): 256\n");
}

TEST(Cidr, ParsedByTheOneCidrParser) {
  std::string e;
  Cidr v4 = *Cidr::parse("10.1.0.0/16", e);
  EXPECT_EQ(v4.text, "10.1.0.0/16");
  EXPECT_TRUE(v4.range.contains(*parseIp("10.1.200.3")));
  EXPECT_FALSE(v4.range.contains(*parseIp("10.2.0.1")));
  Cidr v6 = *Cidr::parse("2001:db8::/33", e);
  EXPECT_TRUE(v6.range.contains(*parseIp("2001:db8:7f00::1")));
  EXPECT_FALSE(v6.range.contains(*parseIp("2001:db8:8000::1")));
  EXPECT_FALSE(Cidr::parse("10.0.0.1", e).has_value());  // the config wants a prefix
}

TEST(Loader, ErrorPagesMustExist) {
  std::string dir = std::filesystem::path(::testing::TempDir() + "/ferry-pages-missing")
                        .lexically_normal()
                        .string();
  std::filesystem::create_directories(dir);
  LoadResult r = loadString(kL + kR + "    error_pages: { 503: nope.html, 200: x.html }\n" + kC,
                            "t.yaml", dir);
  std::string missing =
      (std::filesystem::path(dir) / "nope.html").lexically_normal().generic_string();
  EXPECT_EQ(all(r), "t.yaml:5:25: listeners[0].error_pages.503: file '" + missing +
                        "' does not exist\n"
                        "t.yaml:5:36: listeners[0].error_pages.200: must be an HTTP status from "
                        "400 to 599\n");
}

TEST(Loader, BalanceShapes) {
  expectErrors(kL + kR +
                   "clusters:\n  - name: c\n    endpoints: [127.0.0.1:1, { address: "
                   "127.0.0.1:2, weight: 0 }]\n"
                   "    balance: { policy: ring_hsh }\n"
                   "  - { name: d, endpoints: [127.0.0.1:3], balance: { policy: maglev } }\n"
                   "  - { name: e, endpoints: [127.0.0.1:3], balance: { hash_on: { path: "
                   "true, cookie: s } } }\n",
               "t.yaml:7:62: clusters[0].endpoints[1].weight: must be between 1 and 10000\n"
               "t.yaml:8:24: clusters[0].balance.policy: must be one of round_robin, "
               "weighted_round_robin, least_request, random, ring_hash, maglev (did you mean "
               "'ring_hash'?)\n"
               "t.yaml:9:61: clusters[1].balance.policy: ring_hash and maglev need hash_on\n"
               "t.yaml:10:62: clusters[2].balance.hash_on: hash_on names one of source_ip, path, "
               "header and cookie\n"
               "t.yaml:10:62: clusters[2].balance.hash_on: hash_on applies to ring_hash and "
               "maglev only\n");
}

TEST(Loader, EmptyValuesAndYaml11Booleans) {
  expectErrors(kL + "    routes:\n      - cluster:\n    request_id: yes\n" + kC,
               "t.yaml:5:9: listeners[0].routes[0].cluster: has no value\n"
               "t.yaml:6:17: listeners[0].request_id: must be true or false (YAML 1.2 reads 'yes' "
               "as a string)\n");
  expectErrors("", "t.yaml:1:1: the config must be a mapping with listeners and clusters\n");
}

TEST(Loader, YamlSyntaxErrorHasAPosition) {
  LoadResult r = load("listeners:\n  - name: [unclosed\n");
  ASSERT_EQ(r.errors.size(), 1U);
  EXPECT_EQ(r.errors[0].where.line, 3);
  EXPECT_NE(r.errors[0].message.find("YAML syntax"), std::string::npos);
}

TEST(Loader, WrongShapesAreErrorsNotCrashes) {
  for (const char* y :
       {"42", "listeners: 5", "listeners: [5]", "listeners: [{name: [a], address: {x: 1}}]",
        "clusters: {a: b}\nlisteners: []", "{[1]: 2}", "listeners: [[]]\nclusters: [{}]",
        "listeners:\n  - name: w\n    address: 127.0.0.1:1\n    routes: [{match: 3, cluster: "
        "[x]}]"}) {
    LoadResult r = load(y);
    EXPECT_FALSE(r.errors.empty()) << y;
    EXPECT_EQ(r.config, nullptr);
  }
}

TEST(Loader, RelativeStaticRootResolvesAgainstTheConfigDirectory) {
  LoadResult r =
      loadString("listeners:\n  - { name: s, address: 127.0.0.1:1, static: { root: ./ } }\n",
                 "x.yaml", "/usr");
  ASSERT_TRUE(r.errors.empty()) << all(r);
  EXPECT_EQ(r.config->listeners[0].staticRoot, "/usr/");
}

TEST(Loader, MissingFileIsReported) {
  LoadResult r = loadFile("/nonexistent/ferry.yaml");
  ASSERT_EQ(r.errors.size(), 1U);
  EXPECT_EQ(r.errors[0].format(), "/nonexistent/ferry.yaml:1:1: cannot read the file");
}

}  // namespace
}  // namespace ferry::config
