// Endpoints (proxy/config/endpoint.cpp): `HOST:PORT` as an IP literal or a DNS name, in a
// cluster's endpoints, with their DNS refresh and the resolver's name servers.

#include <gtest/gtest.h>

#include <string>

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

void expectErrors(const std::string& yaml, const std::string& want) {
  LoadResult r = load(yaml);
  EXPECT_EQ(all(r), want) << yaml;
  EXPECT_EQ(r.config == nullptr, !want.empty());
}

const std::string kL = "listeners:\n  - name: l\n    address: 127.0.0.1:0\n";
const std::string kR = "    routes: [{cluster: c}]\n";
const std::string kC = "clusters:\n  - { name: c, endpoints: [127.0.0.1:1] }\n";

TEST(Endpoint, ParsesIpLiteralsAndDnsNames) {
  std::string why;
  auto v4 = parseEndpoint("10.0.0.1:8080", why);
  ASSERT_TRUE(v4) << why;
  EXPECT_EQ(v4->address, "10.0.0.1:8080");
  EXPECT_EQ(v4->port, 8080);
  ASSERT_TRUE(v4->literal);
  EXPECT_EQ(v4->literal->toString(), "10.0.0.1:8080");
  EXPECT_FALSE(v4->isName());
  auto v6 = parseEndpoint("[2001:DB8:0::1]:443", why);
  ASSERT_TRUE(v6) << why;
  EXPECT_EQ(v6->address, "[2001:db8::1]:443");  // the canonical text: one name per address
  EXPECT_EQ(v6->host, "2001:DB8:0::1");
  ASSERT_TRUE(v6->literal);
  auto name = parseEndpoint("API.Internal.:9000", why);
  ASSERT_TRUE(name) << why;
  EXPECT_TRUE(name->isName());
  EXPECT_EQ(name->host, "api.internal");  // lower case, no trailing dot
  EXPECT_EQ(name->address, "api.internal:9000");
  EXPECT_EQ(name->port, 9000);
  auto single = parseEndpoint("backend:80", why);
  ASSERT_TRUE(single) << why;
  EXPECT_TRUE(single->isName());
  auto srv = parseEndpoint("_http._tcp.example.test:80", why);
  ASSERT_TRUE(srv) << why;
  auto local = parseEndpoint("localhost:8080", why);  // the literal 127.0.0.1, as listeners read it
  ASSERT_TRUE(local) << why;
  ASSERT_TRUE(local->literal);
  EXPECT_EQ(local->literal->toString(), "127.0.0.1:8080");
  EXPECT_EQ(local->address, "localhost:8080");
}

TEST(Endpoint, RejectsWhatIsNotHostPortWithTheReason) {
  auto reason = [](const char* text) {
    std::string why;
    return parseEndpoint(text, why) ? std::string("accepted") : why;
  };
  EXPECT_EQ(reason("backend"), "has no port");
  EXPECT_EQ(reason("backend:"), "has a bad port '': it must be a number from 1 to 65535");
  EXPECT_EQ(reason("backend:0"), "has a bad port '0': it must be a number from 1 to 65535");
  EXPECT_EQ(reason("backend:65536"), "has a bad port '65536': it must be a number from 1 to 65535");
  EXPECT_EQ(reason("backend:http"), "has a bad port 'http': it must be a number from 1 to 65535");
  EXPECT_EQ(reason(":80"), "has an empty host");
  EXPECT_EQ(reason("[]:80"), "has an empty host");
  EXPECT_EQ(reason("::1:80"), "looks like an IPv6 address without brackets");
  EXPECT_EQ(reason("[::1]"), "has no port after its ']'");
  EXPECT_EQ(reason("[::1:80"), "has no ']' closing the IPv6 address");
  EXPECT_EQ(reason("[10.0.0.1]:80"),
            "has an IPv6 address that is not in brackets, or brackets around an IPv4 address");
  EXPECT_EQ(reason("[backend]:80"), "has brackets around something that is not an IPv6 address");
  EXPECT_EQ(reason("back end:80"),
            "is not host:port: the host name has a character a DNS name cannot have (' ')");
  EXPECT_EQ(reason("a..b:80"),
            "is not host:port: the host name has an empty label (two dots, or a leading dot)");
  EXPECT_EQ(reason("10.0.0.999:80"), "is not host:port: the host is not a valid IPv4 address");
  EXPECT_EQ(reason(std::string(64, 'a').append(".test:80").c_str()),
            "is not host:port: a label of the host name is longer than 63 characters");
}

TEST(Loader, EndpointsAreNamesOrLiteralsWithTheirRefreshAndResolver) {
  LoadResult r = load(
      "resolver: { nameservers: \"127.0.0.1:5353, [::1]:53, 10.0.0.2\" }\n" + kL + kR +
      "clusters:\n  - name: c\n    dns_refresh: { min: 1s, max: 30s }\n"
      "    endpoints:\n      - api.internal:8080\n      - { address: \"[::1]:81\", weight: 3 }\n"
      "      - { address: Web.Internal:8080 }\n");
  ASSERT_TRUE(r.config) << all(r);
  EXPECT_EQ(r.config->resolver.nameservers, "127.0.0.1:5353, [::1]:53, 10.0.0.2");
  const ClusterConfig& c = r.config->clusters[0];
  EXPECT_EQ(c.dnsRefresh.min, seconds(1));
  EXPECT_EQ(c.dnsRefresh.max, seconds(30));
  ASSERT_EQ(c.endpoints.size(), 3U);
  EXPECT_EQ(c.endpoints[0].address, "api.internal:8080");
  EXPECT_TRUE(c.endpoints[0].isName());
  EXPECT_EQ(c.endpoints[0].weight, 1U);
  EXPECT_EQ(c.endpoints[1].address, "[::1]:81");
  EXPECT_FALSE(c.endpoints[1].isName());
  EXPECT_EQ(c.endpoints[1].weight, 3U);
  EXPECT_EQ(c.endpoints[2].address, "web.internal:8080");
}

TEST(Loader, EndpointErrorsHaveTheirPosition) {
  expectErrors(kL + kR +
                   "clusters:\n  - name: c\n    endpoints: [\"api:99999\", \":80\", "
                   "{ address: \"a b:1\" }, api:1, \"API:1\"]\n"
                   "    dns_refresh: { min: 10s, max: 5s }\n",
               "t.yaml:7:16: clusters[0].endpoints: endpoint 'api:1' is listed twice (give it a "
               "weight instead)\n"
               "t.yaml:7:17: clusters[0].endpoints[0]: 'api:99999' has a bad port '99999': it "
               "must be a number from 1 to 65535 (write host:port, e.g. 10.0.0.1:8080, [::1]:8080 "
               "or backend.internal:8080)\n"
               "t.yaml:7:30: clusters[0].endpoints[1]: ':80' has an empty host (write host:port, "
               "e.g. 10.0.0.1:8080, [::1]:8080 or backend.internal:8080)\n"
               "t.yaml:7:48: clusters[0].endpoints[2].address: 'a b:1' is not host:port: the "
               "host name has a character a DNS name cannot have (' ') (write host:port, e.g. "
               "10.0.0.1:8080, [::1]:8080 or backend.internal:8080)\n"
               "t.yaml:8:25: clusters[0].dns_refresh.min: dns_refresh min is above its max\n");
  expectErrors("resolver: { nameservers: \"127.0.0.1:53,dns.example\" }\n" + kL + kR + kC,
               "t.yaml:1:26: resolver.nameservers: 'dns.example' is not a name server: write IP, "
               "IP:port or [IPv6]:port\n");
}

}  // namespace
}  // namespace ferry::config
