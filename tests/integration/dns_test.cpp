// Endpoints that are DNS names, through the real binary: a real DNS server (dnsmasq on 127.0.0.1
// and a free port, answering from a hosts file the test rewrites; tests/support/dnsmasq.h) given
// to ferry as `resolver: {nameservers: ...}`, and test backends on loopback addresses that share
// one port (127.0.0.0/8 is all local on Linux), so one name can lead to several of them.
//
// Run on io_uring and epoll (the epoll. prefix), and against ferry.exe under Wine (dnsmasq runs
// on the Linux side; Wine's sockets are the host's, so c-ares in ferry.exe reaches it).

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "tests/support/dnsmasq.h"
#include "tests/support/harness.h"

namespace ferry::test {
namespace {

using Clock = std::chrono::steady_clock;

std::string get(bool close) {
  return std::string("GET / HTTP/1.1\r\nHost: t\r\n") + (close ? "Connection: close\r\n" : "") +
         "\r\n";
}

std::string backendOf(const std::string& r) {
  std::size_t at = r.find("X-Backend: ");
  if (at == std::string::npos) return "";
  at += 11;
  return r.substr(at, r.find("\r\n", at) - at);
}

std::string admin(int port, const std::string& method, const std::string& path) {
  return rawExchange(port,
                     method + " " + path +
                         " HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                     30s);
}

// Writes the config ferry serves the way an editor does (a new file renamed over it).
void writeConfig(Ferry& f, std::string yaml) {
  for (std::size_t p; (p = yaml.find("{{ADMIN}}")) != std::string::npos;) {
    yaml.replace(p, 9, "127.0.0.1:0");
  }
  std::ofstream(f.configPath() + ".new") << yaml;
  std::filesystem::rename(f.configPath() + ".new", f.configPath());
}

class Dns : public DnsmasqTest {
 protected:
  void startDns(const std::string& hosts) {
    dns_->writeHosts(hosts);
    ASSERT_TRUE(startDnsmasq(*dns_)) << dns_->log();
  }
  // A proxy listener `web` to cluster `c` whose endpoints are `endpoints` (YAML flow list
  // items), names resolved by our dnsmasq, refreshed every second (dnsmasq's TTL is 1 s).
  // extraRoutes go before the catch-all route.
  std::string config(const std::string& endpoints, const std::string& extra = "") const {
    return "workers: 2\nadmin: { address: {{ADMIN}} }\n"
           "resolver: { nameservers: \"127.0.0.1:" +
           std::to_string(dns_->port()) +
           "\" }\n"
           "listeners:\n  - name: web\n    address: 127.0.0.1:0\n"
           "    routes:\n" +
           extra + "      - { name: all, match: { path_prefix: / }, cluster: c }\n" +
           "clusters:\n  - name: c\n    connect_timeout: 5s\n"
           "    dns_refresh: { min: 1s, max: 2s }\n    endpoints: [" +
           endpoints + "]\n";
  }
  static std::string clusters(Ferry& f) { return admin(f.adminPort(), "GET", "/clusters"); }
};

// The name resolves to two dead addresses and a live one: connect_by_list passes the dead ones
// (each refuses at once) and every request, each on a new connection, is served by the live one.
TEST_F(Dns, ANameWithDeadAndLiveAddressesIsServedByTheLiveOne) {
  Backend live("live");
  const int port = live.port();
  // ::1 sorts first (RFC 6724: IPv6 loopback over IPv4), then the IPv4 addresses: a dead
  // address is tried before the live one whatever order dnsmasq answers in.
  ASSERT_NO_FATAL_FAILURE(
      startDns("::1 api.ferry.test\n127.0.0.2 api.ferry.test\n127.0.0.1 api.ferry.test\n"));
  Ferry f(config("\"api.ferry.test:" + std::to_string(port) + "\""));
  std::string endpoint = "api.ferry.test:" + std::to_string(port);

  std::string c = clusters(f);
  EXPECT_NE(c.find("\"address\":\"" + endpoint + "\""), std::string::npos) << c;
  EXPECT_NE(c.find("\"resolved\":[\"[::1]:" + std::to_string(port)), std::string::npos) << c;
  EXPECT_NE(c.find("\"127.0.0.2:" + std::to_string(port) + "\""), std::string::npos) << c;
  EXPECT_NE(c.find("\"127.0.0.1:" + std::to_string(port) + "\""), std::string::npos) << c;
  EXPECT_EQ(
      f.metric("ferry_upstream_endpoint_addresses{cluster=\"c\",endpoint=\"" + endpoint + "\"}"),
      3);

  for (int i = 0; i < 20; ++i) {
    std::string r = rawExchange(f.port("web"), get(true));
    ASSERT_EQ(statusOf(r), 200) << "request " << i << ":\n" << r << f.process().logText();
    EXPECT_EQ(backendOf(r), "live");
  }
  EXPECT_EQ(live.requests(), 20);
  EXPECT_GE(f.metric("ferry_upstream_dns_resolutions_total{cluster=\"c\",endpoint=\"" + endpoint +
                     "\",result=\"success\"}"),
            1);
}

// The name moves to another backend (dnsmasq rereads its hosts file on SIGHUP; TTL 1 s,
// dns_refresh min 1 s): new requests, on a client's keep-alive connection too, reach the new one
// and never the old one again (its pooled connections are closed).
TEST_F(Dns, ANameThatMovesTakesNewRequestsToItsNewAddress) {
  Backend a("a");
  const int port = a.port();
  Backend b("b", port, "127.0.0.3");  // the same port on another loopback address
  ASSERT_NO_FATAL_FAILURE(startDns("127.0.0.1 api.ferry.test\n"));
  Ferry f(config("\"api.ferry.test:" + std::to_string(port) + "\""));

  RawClient client(f.port("web"));
  ASSERT_TRUE(client.connected());
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(client.send(get(false)));
    std::string r = client.readResponse();
    ASSERT_EQ(statusOf(r), 200) << r;
    EXPECT_EQ(backendOf(r), "a");
  }

  dns_->writeHosts("127.0.0.3 api.ferry.test\n");
  dns_->reload();
  int before = 0;
  bool moved = waitUntil(
      [&] {
        if (!client.send(get(false))) return false;
        std::string r = client.readResponse();
        if (statusOf(r) != 200) {
          ADD_FAILURE() << "a request failed while the name moved:\n" << r;
          return true;
        }
        if (backendOf(r) == "b") return true;
        ++before;
        return false;
      },
      20s);
  ASSERT_TRUE(moved) << "still on a after " << before << " requests\n"
                     << clusters(f) << dns_->log();
  // From now on only b: pooled connections to a were closed, not reused.
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(client.send(get(false)));
    std::string r = client.readResponse();
    ASSERT_EQ(statusOf(r), 200) << r;
    EXPECT_EQ(backendOf(r), "b") << "request " << i << " after the move";
    std::string fresh = rawExchange(f.port("web"), get(true));
    EXPECT_EQ(backendOf(fresh), "b") << "new connection " << i << " after the move";
  }
  std::string c = clusters(f);
  EXPECT_NE(c.find("\"resolved\":[\"127.0.0.3:" + std::to_string(port) + "\"]"), std::string::npos)
      << c;
  EXPECT_NE(c.find("\"dns_generation\":2"), std::string::npos) << c;
}

// The DNS server dies: the name keeps its last addresses, requests still succeed, and ferry logs
// a warning that the name does not resolve.
TEST_F(Dns, ANameKeepsItsLastAddressesWhenDnsFails) {
  Backend a("a");
  ASSERT_NO_FATAL_FAILURE(startDns("127.0.0.1 api.ferry.test\n"));
  std::string endpoint = "api.ferry.test:" + std::to_string(a.port());
  Ferry f(config("\"" + endpoint + "\""));
  ASSERT_EQ(statusOf(rawExchange(f.port("web"), get(true))), 200);

  dns_->stop();
  ASSERT_TRUE(waitUntil(
      [&] { return f.process().logText().find("does not resolve") != std::string::npos; }, 30s))
      << f.process().logText();
  for (int i = 0; i < 10; ++i) {
    std::string r = rawExchange(f.port("web"), get(true));
    ASSERT_EQ(statusOf(r), 200) << r;
    EXPECT_EQ(backendOf(r), "a");
  }
  EXPECT_GE(f.metric("ferry_upstream_dns_resolutions_total{cluster=\"c\",endpoint=\"" + endpoint +
                     "\",result=\"failure\"}"),
            1);
  std::string c = clusters(f);
  EXPECT_NE(c.find("\"resolved\":[\"127.0.0.1:" + std::to_string(a.port()) + "\"]"),
            std::string::npos)
      << c;
}

// A name the server does not know: 503 at once with the cause upstream_unresolved (no connect
// is tried), in the access log; the other endpoint of the cluster still serves (the retry goes
// there).
TEST_F(Dns, ANameThatNeverResolvesAnswers503WithItsCause) {
  Backend a("a");
  ASSERT_NO_FATAL_FAILURE(startDns("127.0.0.1 known.ferry.test\n"));
  Ferry f(config("\"nowhere.ferry.test:" + std::to_string(a.port()) + "\""));
  std::string r = rawExchange(f.port("web"), get(true));
  EXPECT_EQ(statusOf(r), 503) << r;
  ASSERT_TRUE(waitUntil([&] {
    return f.process().logText().find("cause=upstream_unresolved") != std::string::npos;
  })) << f.process().logText();
  EXPECT_NE(f.process().logText().find("not resolved (DNS) yet"), std::string::npos);
  std::string c = clusters(f);
  EXPECT_NE(c.find("\"resolved\":[]"), std::string::npos) << c;
  EXPECT_EQ(f.metric("ferry_upstream_endpoint_addresses{cluster=\"c\",endpoint=\"nowhere.ferry."
                     "test:" +
                     std::to_string(a.port()) + "\"}"),
            0);

  // With a resolvable endpoint beside it, a request that picked the unresolved one is retried
  // there (connect-failure is in the default retry_on): every request succeeds.
  Ferry g(config("\"nowhere.ferry.test:" + std::to_string(a.port()) +
                 "\", \"known.ferry.test:" + std::to_string(a.port()) + "\""));
  for (int i = 0; i < 10; ++i) {
    std::string ok = rawExchange(g.port("web"), get(true));
    ASSERT_EQ(statusOf(ok), 200) << ok;
  }
}

// A reload that keeps the name keeps its watch and its addresses (generation 1, the count of
// resolutions goes on) and serves on without one failed request.
TEST_F(Dns, AReloadKeepingANameServesWithoutAFailedRequest) {
  Backend a("a");
  ASSERT_NO_FATAL_FAILURE(startDns("127.0.0.1 api.ferry.test\n"));
  std::string eps = "\"api.ferry.test:" + std::to_string(a.port()) + "\"";
  Ferry f(config(eps));
  std::atomic<bool> stop{false};
  std::atomic<long> ok{0}, failed{0};
  std::string lastFailure;
  std::thread load([&] {
    RawClient client(f.port("web"));
    auto until = Clock::now() + 60s;
    for (int i = 0; i < 100000 && !stop && Clock::now() < until; ++i) {
      std::string r = client.send(get(false)) ? client.readResponse() : "";
      if (statusOf(r) == 200) {
        ++ok;
      } else {
        ++failed;
        lastFailure = r;
        break;
      }
    }
  });
  ASSERT_TRUE(waitUntil([&] { return ok.load() >= 50 || failed.load() > 0; }));
  // A new route in front, same cluster and name: the cluster is unchanged and keeps its pools.
  std::string next = config(eps,
                            "      - { name: health, match: { path: /healthz }, direct_response: "
                            "{ status: 200, body: ok } }\n");
  writeConfig(f, next);
  std::string r = admin(f.adminPort(), "POST", "/reload");
  EXPECT_EQ(statusOf(r), 200) << r;
  long atReload = ok.load();
  ASSERT_TRUE(waitUntil([&] { return ok.load() >= atReload + 50 || failed.load() > 0; }));
  // A cluster whose definition changed (another connect_timeout) with the same name: a new
  // pool, the same watch.
  std::string changed = next;
  changed.replace(changed.find("connect_timeout: 5s"), 19, "connect_timeout: 4s");
  writeConfig(f, changed);
  r = admin(f.adminPort(), "POST", "/reload");
  EXPECT_EQ(statusOf(r), 200) << r;
  atReload = ok.load();
  ASSERT_TRUE(waitUntil([&] { return ok.load() >= atReload + 50 || failed.load() > 0; }));
  stop = true;
  load.join();
  EXPECT_EQ(failed.load(), 0) << lastFailure << f.process().logText();
  std::string c = clusters(f);
  EXPECT_NE(c.find("\"dns_generation\":1"), std::string::npos) << c;  // never re-resolved anew
  EXPECT_EQ(f.process().logText().find("resolver started", 0),
            f.process().logText().rfind("resolver started"));  // one resolver, started once
}

// The other connect sites take a name's list too: a TCP listener's tunnel, min_idle warm
// connections and active HTTP health checks all pass the dead addresses and reach the live one.
TEST_F(Dns, TcpTunnelsWarmConnectionsAndHealthChecksConnectByList) {
  Backend live("live");
  const int port = live.port();
  ASSERT_NO_FATAL_FAILURE(
      startDns("::1 api.ferry.test\n127.0.0.2 api.ferry.test\n127.0.0.1 api.ferry.test\n"));
  std::string endpoint = "api.ferry.test:" + std::to_string(port);
  Ferry f(
      "workers: 1\nadmin: { address: {{ADMIN}} }\n"
      "resolver: { nameservers: \"127.0.0.1:" +
      std::to_string(dns_->port()) +
      "\" }\n"
      "listeners:\n  - { name: db, address: 127.0.0.1:0, protocol: tcp, cluster: c }\n"
      "clusters:\n  - name: c\n    min_idle: 2\n"
      "    health_check: { type: http, path: /, interval: 300ms, timeout: 300ms,"
      " unhealthy_threshold: 1, healthy_threshold: 1 }\n"
      "    endpoints: [\"" +
      endpoint + "\"]\n");
  // Health checks: each a GET sent after the connect by list, answered by the live backend.
  ASSERT_TRUE(waitUntil([&] { return live.requests() >= 3; }, 20s)) << f.process().logText();
  EXPECT_EQ(
      f.metric("ferry_upstream_endpoint_healthy{cluster=\"c\",endpoint=\"" + endpoint + "\"}"), 1);
  EXPECT_EQ(f.metric("ferry_upstream_health_checks_failed_total{cluster=\"c\"}"), 0);
  // Warm connections opened ahead of demand.
  ASSERT_TRUE(waitUntil([&] {
    return f.metric("ferry_upstream_warm_connections_opened_total{cluster=\"c\"}") >= 2;
  })) << f.metrics();
  // The tunnel.
  for (int i = 0; i < 5; ++i) {
    std::string r = rawExchange(f.port("db"), get(true));
    ASSERT_EQ(statusOf(r), 200) << r << f.process().logText();
    EXPECT_EQ(backendOf(r), "live");
  }
}

// A config of IP literals never starts the resolver thread.
TEST_F(Dns, LiteralEndpointsStartNoResolver) {
  Backend a("a");
  ASSERT_NO_FATAL_FAILURE(startDns(""));
  Ferry f(config("\"127.0.0.1:" + std::to_string(a.port()) + "\""));
  ASSERT_EQ(statusOf(rawExchange(f.port("web"), get(true))), 200);
  EXPECT_EQ(f.process().logText().find("resolver started"), std::string::npos);
  std::string c = clusters(f);
  EXPECT_NE(c.find("\"dns\":false,\"resolved\":[\"127.0.0.1:" + std::to_string(a.port())),
            std::string::npos)
      << c;
}

}  // namespace
}  // namespace ferry::test
