#include "proxy/route/route_table.h"

#include <gtest/gtest.h>

#include "proxy/config/config.h"

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
  EXPECT_EQ(t.match({"api.example.com", "/v1/users"})->cluster, 0U);
  EXPECT_EQ(t.match({"API.Example.COM", "/v1"})->cluster, 0U);
  EXPECT_EQ(t.match({"api.example.com", "/v2"})->cluster, 1U);  // falls to the wildcard
  EXPECT_EQ(t.match({"www.example.com", "/anything"})->cluster, 1U);
  EXPECT_EQ(t.match({"example.com", "/static/x"})->cluster, 0U);  // "*.x" needs a subdomain
  EXPECT_EQ(t.match({"other.org", "/"}), nullptr);
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

}  // namespace
}  // namespace ferry::route
