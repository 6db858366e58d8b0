#include <gtest/gtest.h>

#include "proxy/config/config.h"

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
  EXPECT_EQ(c.clusters[0].endpoints.size(), 2U);
  EXPECT_EQ(c.clusters[0].connectTimeout, std::chrono::minutes(2));
  EXPECT_EQ(c.clusters[0].maxIdlePerWorker, 8U);
}

TEST(Loader, CollectsEveryErrorWithLineAndColumn) {
  LoadResult r = load(R"(workers: 0
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
)");
  EXPECT_EQ(r.config, nullptr);
  std::string s = all(r);
  EXPECT_NE(s.find("t.yaml:1:10: error: workers must be between 1 and 256"), std::string::npos)
      << s;
  EXPECT_NE(s.find("t.yaml:4:14: error: listener address: '127.0.0.1:99999' is not an address"),
            std::string::npos)
      << s;
  EXPECT_NE(
      s.find("t.yaml:6:20: error: route refers to unknown cluster 'apx' (did you mean 'api'?)"),
      std::string::npos)
      << s;
  EXPECT_NE(s.find("t.yaml:7:11: error: listener 'web' is defined twice"), std::string::npos) << s;
  EXPECT_NE(s.find("t.yaml:9:21: error: static.root '/definitely/not/here' is not a directory"),
            std::string::npos)
      << s;
  EXPECT_NE(s.find("t.yaml:12:16: error: endpoints is empty"), std::string::npos) << s;
  EXPECT_NE(s.find("t.yaml:13:5: error: unknown key 'conect_timeout' in a cluster (did you mean "
                   "'connect_timeout'?)"),
            std::string::npos)
      << s;
  EXPECT_NE(s.find("t.yaml:14:23: error: response_timeout must be a duration"), std::string::npos)
      << s;
  EXPECT_EQ(r.errors.size(), 9U) << s;  // the 9th: 'nowhere' is not an address
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
        "clusters: {a: b}\nlisteners: []",
        "listeners:\n  - name: w\n    address: 127.0.0.1:1\n    routes: [{match: 3, cluster: "
        "[x]}]"}) {
    LoadResult r = load(y);
    EXPECT_FALSE(r.errors.empty()) << y;
    EXPECT_EQ(r.config, nullptr);
  }
}

TEST(Loader, ListenerNeedsRoutesOrStaticNotBoth) {
  LoadResult r = load(
      "listeners:\n  - { name: a, address: 127.0.0.1:1 }\n"
      "  - { name: b, address: 127.0.0.1:2, static: { root: / }, routes: [] }\n");
  std::string s = all(r);
  EXPECT_NE(s.find("a listener needs routes (a proxy) or static (a file server)"),
            std::string::npos)
      << s;
  EXPECT_NE(s.find("a listener has either routes or static, not both"), std::string::npos) << s;
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
  EXPECT_NE(r.errors[0].format().find("/nonexistent/ferry.yaml:1:1: error: cannot read"),
            std::string::npos);
}

}  // namespace
}  // namespace ferry::config
