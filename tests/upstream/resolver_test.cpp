#include "proxy/upstream/resolver.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <future>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "proxy/upstream/names.h"

#ifndef _WIN32
#include <cstdlib>
#include <filesystem>

#include "tests/support/dnsmasq.h"
#endif

namespace ferry::upstream {
namespace {

io::Address addr(std::string_view s) {
  return io::Address::parse(s).value();
}

std::set<std::string> texts(const std::vector<io::Address>& v) {
  std::set<std::string> out;
  for (const io::Address& a : v) out.insert(a.toString());
  return out;
}

// Polls cond until it holds or the deadline passes.
bool waitFor(const std::function<bool()>& cond, std::chrono::seconds limit = seconds(15)) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (cond()) return true;
    std::this_thread::sleep_for(milliseconds(10));
  }
  return cond();
}

// A config whose clusters have these endpoints (HOST:PORT each).
config::Config configOf(std::vector<std::vector<std::string>> clusters,
                        const std::string& nameservers = "") {
  config::Config c;
  c.resolver.nameservers = nameservers;
  for (std::size_t i = 0; i < clusters.size(); ++i) {
    config::ClusterConfig& cc = c.clusters.emplace_back();
    cc.name = "c" + std::to_string(i);
    for (const std::string& e : clusters[i]) {
      std::string why;
      cc.endpoints.push_back(config::parseEndpoint(e, why).value());
    }
  }
  return c;
}

TEST(NameDirectory, LiteralsGetFixedListsAndStartNoResolver) {
  NameDirectory dir;
  auto sources = dir.resolve(configOf({{"127.0.0.1:80", "[::1]:81"}, {"10.0.0.1:1"}}));
  ASSERT_TRUE(sources.ok());
  EXPECT_FALSE(dir.resolverStarted());
  EXPECT_EQ(dir.watched(), 0U);
  ASSERT_EQ(sources.value().size(), 2U);
  ASSERT_EQ(sources.value()[0].size(), 2U);
  auto l = sources.value()[0][1]->current();
  ASSERT_NE(l, nullptr);
  EXPECT_EQ(texts(l->addresses), (std::set<std::string>{"[::1]:81"}));
  EXPECT_EQ(l->generation, 1U);
}

TEST(NameDirectory, ANameTheResolverRejectsFailsTheConfig) {
  NameDirectory dir;
  auto sources = dir.resolve(configOf({{"api.test:80"}}, "not an address"));
  EXPECT_FALSE(sources.ok());
  EXPECT_FALSE(dir.resolverStarted());
}

TEST(Resolver, ClampsTtlToTheRefreshBounds) {
  EXPECT_EQ(clampTtl(0, seconds(1), seconds(300)), seconds(1));
  EXPECT_EQ(clampTtl(-5, seconds(1), seconds(300)), seconds(1));
  EXPECT_EQ(clampTtl(60, seconds(1), seconds(300)), seconds(60));
  EXPECT_EQ(clampTtl(86400, seconds(1), seconds(300)), seconds(300));
  EXPECT_EQ(clampTtl(10, seconds(30), seconds(5)), seconds(30));  // max below min: min wins
}

TEST(Resolver, OrdersAddressesForConnectByList) {
  // v6 first (the best answer's family), then alternating; each family keeps its order;
  // duplicates dropped.
  std::vector<io::Address> in{addr("[2001:db8::1]:80"), addr("[2001:db8::2]:80"),
                              addr("[2001:db8::3]:80"), addr("192.0.2.1:80"),
                              addr("[2001:db8::1]:80"), addr("192.0.2.2:80")};
  std::vector<io::Address> out = orderForConnect(in);
  std::vector<std::string> got;
  for (const io::Address& a : out) got.push_back(a.toString());
  EXPECT_EQ(got, (std::vector<std::string>{"[2001:db8::1]:80", "192.0.2.1:80", "[2001:db8::2]:80",
                                           "192.0.2.2:80", "[2001:db8::3]:80"}));
  std::vector<io::Address> v4first{addr("192.0.2.1:80"), addr("[2001:db8::1]:80"),
                                   addr("[2001:db8::2]:80")};
  out = orderForConnect(v4first);
  EXPECT_EQ(out[0].toString(), "192.0.2.1:80");
  EXPECT_EQ(out[1].toString(), "[2001:db8::1]:80");
  EXPECT_TRUE(orderForConnect({}).empty());
}

TEST(Resolver, SplitsHostAndPort) {
  auto a = splitHostPort("api.internal:8080");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->host, "api.internal");
  EXPECT_EQ(a->port, 8080);
  EXPECT_FALSE(a->literal);
  auto b = splitHostPort("10.0.0.1:80");
  ASSERT_TRUE(b);
  EXPECT_TRUE(b->literal);
  auto c = splitHostPort("[::1]:443");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->host, "::1");
  EXPECT_TRUE(c->literal);
  EXPECT_FALSE(splitHostPort("api.internal"));
  EXPECT_FALSE(splitHostPort("api.internal:70000"));
  EXPECT_FALSE(splitHostPort(":80"));
  EXPECT_FALSE(splitHostPort("::1:80"));
}

TEST(Resolver, RejectsBadNameservers) {
  ResolverOptions opts;
  opts.nameservers = "not an address";
  EXPECT_FALSE(Resolver::start(opts).ok());
}

// A numeric host needs no server: the resolver thread answers it (on Windows too), and the
// callback and current() see the same list.
TEST(Resolver, ResolvesNumericHostsOnItsThread) {
  ResolverOptions opts;
  opts.nameservers = "127.0.0.1:9";  // discard port: nothing is asked of it
  opts.hostsFile = false;
  auto r = Resolver::start(opts);
  ASSERT_TRUE(r.ok()) << r.error().message();
  std::atomic<int> changes{0};
  auto name = r.value()->watch("127.0.0.1", 8080, [&](const auto& list) {
    EXPECT_EQ(list->addresses.size(), 1U);
    changes.fetch_add(1);
  });
  ASSERT_TRUE(waitFor([&] { return name->current() != nullptr; }));
  auto list = name->current();
  EXPECT_EQ(texts(list->addresses), (std::set<std::string>{"127.0.0.1:8080"}));
  EXPECT_EQ(list->generation, 1U);
  EXPECT_EQ(list->ttl, opts.minRefresh);  // no TTL from a literal: the floor
  EXPECT_TRUE(waitFor([&] { return changes.load() == 1; }));
  r.value()->unwatch(name);
}

#ifndef _WIN32

using test::Dnsmasq;

class ResolverDnsmasq : public test::DnsmasqTest {
 protected:
  // Starts dnsmasq and a resolver pointed at it; retries with another port if dnsmasq lost the
  // race for the one it was given.
  void startBoth() {
    ASSERT_TRUE(test::startDnsmasq(*dns_)) << dns_->log();
    ResolverOptions opts;
    opts.nameservers = "127.0.0.1:" + std::to_string(dns_->port());
    opts.hostsFile = false;
    opts.minRefresh = milliseconds(100);
    opts.maxRefresh = seconds(2);
    opts.queryTimeout = milliseconds(300);
    opts.tries = 1;
    auto r = Resolver::start(opts);
    ASSERT_TRUE(r.ok()) << r.error().message();
    resolver_ = std::move(r.value());
  }
  std::set<std::string> current(const std::shared_ptr<ResolvedName>& n) {
    auto l = n->current();
    return l ? texts(l->addresses) : std::set<std::string>{};
  }

  std::unique_ptr<Resolver> resolver_;
};

TEST_F(ResolverDnsmasq, ResolvesFollowsChangesAfterTheTtlAndKeepsAddressesWhenDnsFails) {
  dns_->writeHosts("127.0.0.2 api.ferry.test\n127.0.0.3 api.ferry.test\n::1 api.ferry.test\n");
  ASSERT_NO_FATAL_FAILURE(startBoth());
  std::atomic<int> changes{0};
  auto name = resolver_->watch("api.ferry.test", 8080, [&](const auto&) { changes.fetch_add(1); });

  // Every address of the name, with the endpoint's port, families interleaved.
  std::set<std::string> first{"127.0.0.2:8080", "127.0.0.3:8080", "[::1]:8080"};
  ASSERT_TRUE(waitFor([&] { return current(name) == first; })) << dns_->log();
  auto list = name->current();
  EXPECT_EQ(list->ttl, seconds(1));  // dnsmasq's --local-ttl=1, inside [100 ms, 2 s]
  EXPECT_NE(list->addresses[0].isV6(), list->addresses[1].isV6());
  EXPECT_EQ(list->generation, 1U);
  EXPECT_EQ(changes.load(), 1);

  // The hosts file changes; dnsmasq rereads it on SIGHUP; the resolver sees it after the TTL.
  dns_->writeHosts("127.0.0.4 api.ferry.test\n");
  dns_->reload();
  std::set<std::string> second{"127.0.0.4:8080"};
  ASSERT_TRUE(waitFor([&] { return current(name) == second; })) << dns_->log();
  EXPECT_EQ(name->current()->generation, 2U);
  EXPECT_EQ(changes.load(), 2);

  // The server dies: resolutions fail, the last addresses stay.
  std::uint64_t failuresBefore = name->failures();
  dns_->stop();
  ASSERT_TRUE(waitFor([&] { return name->failures() >= failuresBefore + 2; }));
  EXPECT_EQ(current(name), second);
  EXPECT_EQ(changes.load(), 2);
}

TEST_F(ResolverDnsmasq, UnknownNameFailsWithoutAddressesAndOtherNamesStillResolve) {
  dns_->writeHosts("127.0.0.5 known.ferry.test\n");
  ASSERT_NO_FATAL_FAILURE(startBoth());
  auto unknown = resolver_->watch("unknown.ferry.test", 80);
  auto known = resolver_->watch("known.ferry.test", 81);
  ASSERT_TRUE(waitFor([&] { return current(known) == std::set<std::string>{"127.0.0.5:81"}; }));
  ASSERT_TRUE(waitFor([&] { return unknown->failures() >= 1; }));
  EXPECT_EQ(unknown->current(), nullptr);
  // An unwatched name is no longer refreshed.
  resolver_->unwatch(known);
  std::uint64_t attempts = known->attempts();
  std::uint64_t unknownAttempts = unknown->attempts();
  ASSERT_TRUE(waitFor([&] { return unknown->attempts() >= unknownAttempts + 2; }));
  EXPECT_EQ(known->attempts(), attempts);
}

// New name servers (a reload's resolver.nameservers) apply at once: a name that failed against
// a server where none listens resolves against the new one.
TEST_F(ResolverDnsmasq, NewNameServersApplyAtOnce) {
  dns_->writeHosts("127.0.0.6 api.ferry.test\n");
  ASSERT_TRUE(test::startDnsmasq(*dns_)) << dns_->log();
  ResolverOptions opts;
  opts.nameservers = "127.0.0.1:9";  // nothing answers there
  opts.hostsFile = false;
  opts.minRefresh = seconds(30);  // no retry in the test's time: only the new servers help
  opts.queryTimeout = milliseconds(200);
  opts.tries = 1;
  auto r = Resolver::start(opts);
  ASSERT_TRUE(r.ok()) << r.error().message();
  auto name = r.value()->watch("api.ferry.test", 80);
  ASSERT_TRUE(waitFor([&] { return name->failures() >= 1; }));
  EXPECT_EQ(name->current(), nullptr);
  r.value()->setNameservers("127.0.0.1:" + std::to_string(dns_->port()));
  ASSERT_TRUE(waitFor([&] { return name->current() != nullptr; })) << dns_->log();
  EXPECT_EQ(texts(name->current()->addresses), (std::set<std::string>{"127.0.0.6:80"}));
}

// The runtime's directory over a real dnsmasq: one watch per host:port shared by the clusters
// and snapshots that name it, unwatched when no config has it; each change is posted to the
// subscribed worker's proactor, where the new list is read.
TEST_F(ResolverDnsmasq, DirectorySharesWatchesAndPostsChangesToWorkers) {
  dns_->writeHosts("127.0.0.7 api.ferry.test\n127.0.0.9 other.ferry.test\n");
  ASSERT_TRUE(test::startDnsmasq(*dns_)) << dns_->log();
  std::string servers = "127.0.0.1:" + std::to_string(dns_->port());
  struct Sub final : NameSubscriber {
    std::atomic<int> calls{0};
    std::shared_ptr<ResolvedName> name;
    std::atomic<std::uint64_t> seen{0};  // the generation read on the worker
    void onNamesChanged() override {
      auto l = name->current();
      seen.store(l ? l->generation : 0);
      calls.fetch_add(1);
    }
  } sub;
  {
    NameDirectory dir;
    // A worker: its proactor made and run on its own thread (io_uring's single issuer).
    std::unique_ptr<io::Proactor> p;
    std::promise<void> ready;
    std::thread worker([&] {
      auto made = io::makeProactor(io::Backend::kAuto);
      if (made.ok()) {
        p = std::move(made.value());
        dir.subscribe(sub, *p);
      }
      ready.set_value();
      if (p) p->run();
    });
    ready.get_future().wait();
    if (!p) {
      worker.join();
      FAIL() << "no proactor";
    }

    config::Config first =
        configOf({{"api.ferry.test:80", "10.0.0.1:80"}, {"api.ferry.test:80"}}, servers);
    first.clusters[0].dnsRefresh = {milliseconds(200), seconds(1)};
    auto a = dir.resolve(first);
    ASSERT_TRUE(a.ok()) << a.error().message();
    EXPECT_TRUE(dir.resolverStarted());
    EXPECT_EQ(dir.watched(), 1U);
    std::shared_ptr<ResolvedName> api = a.value()[0][0];
    EXPECT_EQ(a.value()[1][0], api);  // one watch for both clusters
    sub.name = api;
    dir.awaitFirstAnswers(a.value(), seconds(10));
    ASSERT_NE(api->current(), nullptr) << dns_->log();
    EXPECT_EQ(texts(api->current()->addresses), (std::set<std::string>{"127.0.0.7:80"}));
    ASSERT_TRUE(waitFor([&] { return sub.seen.load() == 1; }));

    // A reload that keeps the name keeps its watch; a new name gets its own.
    config::Config second = configOf({{"other.ferry.test:81", "api.ferry.test:80"}}, servers);
    auto b = dir.resolve(second);
    ASSERT_TRUE(b.ok());
    dir.retain(second);
    EXPECT_EQ(b.value()[0][1], api);
    EXPECT_EQ(dir.watched(), 2U);

    // The name moves: the worker is told and reads generation 2.
    dns_->writeHosts("127.0.0.8 api.ferry.test\n127.0.0.9 other.ferry.test\n");
    dns_->reload();
    ASSERT_TRUE(waitFor([&] { return sub.seen.load() == 2; })) << dns_->log();
    EXPECT_EQ(texts(api->current()->addresses), (std::set<std::string>{"127.0.0.8:80"}));

    // A config without names: every watch ends, the last lists stay readable.
    config::Config third = configOf({{"127.0.0.1:80"}}, servers);
    ASSERT_TRUE(dir.resolve(third).ok());
    dir.retain(third);
    EXPECT_EQ(dir.watched(), 0U);
    std::uint64_t attempts = api->attempts();
    std::this_thread::sleep_for(milliseconds(300));  // longer than its refresh: none came
    EXPECT_EQ(api->attempts(), attempts);
    EXPECT_NE(api->current(), nullptr);

    dir.unsubscribe(sub);
    p->stop();
    worker.join();
  }
}

#endif  // _WIN32

}  // namespace
}  // namespace ferry::upstream
