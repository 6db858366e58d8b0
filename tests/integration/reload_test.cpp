// Reload and drain through the real binary, under continuous keep-alive load from real
// connections, against test backends that answer with their names (X-Backend). A reload is
// triggered by POST /reload (every platform; the way on Windows), SIGHUP (not under Wine) or a
// change of the file (watch: true); POST /drain stops ferry gracefully.

#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/harness.h"

namespace ferry::test {
namespace {

using Clock = std::chrono::steady_clock;

std::string admin(int port, const std::string& method, const std::string& path) {
  return rawExchange(port,
                     method + " " + path +
                         " HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nConnection: "
                         "close\r\n\r\n",
                     30s);
}

std::string bodyOf(const std::string& r) {
  std::size_t at = r.find("\r\n\r\n");
  return at == std::string::npos ? "" : r.substr(at + 4);
}

std::string backendOf(const std::string& r) {
  std::size_t at = r.find("X-Backend: ");
  if (at == std::string::npos) return "";
  at += 11;
  return r.substr(at, r.find("\r\n", at) - at);
}

// The backend that answers a GET / on a new connection to port (its X-Backend header).
std::string backendAt(int port) {
  return backendOf(
      rawExchange(port, "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", 10s));
}

// The watcher starts after the admin listener answers: waits for its "watching" line, or a
// change made before it started would go unseen.
bool watcherStarted(Ferry& f) {
  return waitUntil([&] { return f.process().logText().find("watching ") != std::string::npos; });
}

// Writes the file the way an editor does (a temporary file renamed over it), so a reader never
// sees half a file.
void writeConfig(const std::string& path, const std::string& yaml) {
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp);
    out << yaml;
  }
  std::filesystem::rename(tmp, path);
}

// The port of listener `name` from GET /listeners, or 0.
int listenerPort(int adminPort, const std::string& name) {
  std::string body = bodyOf(admin(adminPort, "GET", "/listeners"));
  std::size_t at = 0;
  while ((at = body.find(name + " ", at)) != std::string::npos) {
    if (at == 0 || body[at - 1] == '\n') {
      std::size_t eol = body.find('\n', at);
      std::string addr = body.substr(at, eol - at);
      return std::atoi(addr.c_str() + addr.rfind(':') + 1);
    }
    ++at;
  }
  return 0;
}

// GET load: `threads` keep-alive connections, each sending one request after another (a new
// connection only when ferry closes one), and with `fresh` one more thread that opens a new
// connection for every request (so a refused connect would show). Bounded by count and time. A
// failure is any request that did not get a 200.
class Load {
 public:
  struct Sample {
    Clock::time_point sent;
    char backend;  // the last character of the backend's name ("s1" -> '1')
  };

  Load(int port, int threads, bool fresh = false, long maxRequests = 400000,
       std::chrono::seconds maxTime = 150s) {
    deadline_ = Clock::now() + maxTime;
    for (int t = 0; t < threads + (fresh ? 1 : 0); ++t) {
      bool close = t == threads;
      threads_.emplace_back(
          [this, port, maxRequests, threads, close] { run(port, maxRequests / threads, close); });
    }
  }
  ~Load() { stop(); }
  void stop() {
    stop_.store(true);
    for (auto& t : threads_) {
      if (t.joinable()) t.join();
    }
  }
  long requests() const { return requests_.load(); }
  long failures() const { return failures_.load(); }
  std::vector<std::string> failureNotes() {
    std::lock_guard<std::mutex> lock(mutex_);
    return notes_;
  }
  std::vector<Sample> samples() {
    std::lock_guard<std::mutex> lock(mutex_);
    return samples_;
  }
  // Whether at least n requests sent at or after t were answered by backend b.
  bool answeredSince(Clock::time_point t, char b, int n = 1) {
    std::lock_guard<std::mutex> lock(mutex_);
    int seen = 0;
    for (auto it = samples_.rbegin(); it != samples_.rend() && it->sent >= t; ++it) {
      if (it->backend == b && ++seen >= n) return true;
    }
    return false;
  }

 private:
  void run(int port, long max, bool close) {
    std::unique_ptr<RawClient> c;
    std::vector<Sample> mine;
    for (long n = 0; n < max && !stop_.load() && Clock::now() < deadline_; ++n) {
      if (!c) {
        c = std::make_unique<RawClient>(port);
        if (!c->connected()) {
          fail("connect failed");
          c.reset();
          continue;
        }
      }
      Clock::time_point sent = Clock::now();
      std::string r;
      if (c->send(close ? "GET /load HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
                        : "GET /load HTTP/1.1\r\nHost: a\r\n\r\n")) {
        r = c->readResponse(20s);
      }
      requests_.fetch_add(1);
      if (statusOf(r) != 200) {
        fail("status " + std::to_string(statusOf(r)) + ": " + r.substr(0, 200));
        c.reset();
        continue;
      }
      std::string b = backendOf(r);
      {
        std::lock_guard<std::mutex> lock(mutex_);
        samples_.push_back({sent, b.empty() ? '?' : b.back()});
      }
      if (r.find("Connection: close") != std::string::npos) c.reset();
    }
  }
  void fail(const std::string& note) {
    failures_.fetch_add(1);
    std::lock_guard<std::mutex> lock(mutex_);
    if (notes_.size() < 10) notes_.push_back(note);
  }

  Clock::time_point deadline_;
  std::atomic<bool> stop_{false};
  std::atomic<long> requests_{0};
  std::atomic<long> failures_{0};
  std::mutex mutex_;
  std::vector<Sample> samples_;
  std::vector<std::string> notes_;
  std::vector<std::thread> threads_;
};

// A config: listener web routes everything to `cluster` (on backend port `port`); with `extra`,
// a second listener and a second route on web; `more` is appended verbatim (a bad key, a bad
// cluster).
std::string config(const std::string& cluster, int port, bool extra, const std::string& more = "",
                   const std::string& top = "") {
  std::string y = "workers: 2\naccess_log: false\n" + top +
                  "admin: { address: 127.0.0.1:0 }\n"
                  "listeners:\n"
                  "  - name: web\n    address: 127.0.0.1:0\n    routes:\n";
  if (extra)
    y += "      - { name: only-extra, match: { path_prefix: /only-extra }, cluster: " + cluster +
         " }\n";
  y += "      - { name: all, match: { path_prefix: / }, cluster: " + cluster + " }\n";
  if (extra) {
    y += "  - name: extra\n    address: 127.0.0.1:0\n    routes:\n"
         "      - { name: all, match: { path_prefix: / }, cluster: " +
         cluster + " }\n";
  }
  y += "clusters:\n  - { name: " + cluster + ", endpoints: [127.0.0.1:" + std::to_string(port) +
       "] }\n" + more;
  return y;
}

struct Step {
  Clock::time_point trigger;  // reload asked
  Clock::time_point done;     // reload known to be applied (or rejected)
  bool good = false;
  char expected = 0;  // the backend serving from `done` on
};

// Twenty reloads, good and bad alternating, under keep-alive load. Good ones switch the cluster
// (one removed, one added), add or remove a listener and a route; bad ones would switch to s3
// and are rejected. Every request must succeed; from a good reload's completion on, every
// request must be answered by the new cluster; after a bad one, nothing changes.
void twentyReloadsUnderLoad(bool sighup) {
  Backend s1("s1");
  Backend s2("s2");
  Backend s3("s3");
  Ferry f(config("blue", s1.port(), false));
  const std::string path = f.configPath();
  int web = f.port("web");
  Load load(web, 2, true);
  ASSERT_TRUE(waitUntil([&] { return load.answeredSince(Clock::now() - 1h, '1'); }));
  std::vector<Step> steps;
  int extraPort = 0;
  int goods = 0;
  for (int i = 0; i < 20; ++i) {
    bool good = i % 2 == 0;
    bool green = (i / 2) % 2 == 0;  // good reloads 0, 2, 4, ... alternate green (s2) and blue (s1)
    std::string yaml;
    if (good) {
      yaml = green ? config("green", s2.port(), true) : config("blue", s1.port(), false);
    } else {
      // What it would route to if it were (partly) applied: s3. Three kinds of error.
      const char* faults[] = {
          "bogus_key: 1\n",                                                       // unknown key
          "  - { name: red2, endpoints: [127.0.0.1:1], connect_timeout: 0s }\n",  // 0s
          "  - { name: red2, endpoints: [not-an-address] }\n",                    // bad address
      };
      yaml = config("red", s3.port(), !green, faults[(i / 2) % 3]);
    }
    writeConfig(path, yaml);
    Step st;
    st.good = good;
    st.trigger = Clock::now();
    if (sighup) {
      ::kill(f.process().pid(), SIGHUP);
      std::string sample = good ? "ferry_config_reloads_total{result=\"success\"}"
                                : "ferry_config_reloads_total{result=\"failure\"}";
      double want = good ? goods + 1 : i / 2 + 1;
      ASSERT_TRUE(waitUntil([&] { return f.metric(sample) >= want; })) << f.process().logText();
    } else {
      std::string r = admin(f.adminPort(), "POST", "/reload");
      ASSERT_EQ(statusOf(r), good ? 200 : 400) << r;
      if (!good) {
        EXPECT_NE(bodyOf(r).find(path + ":"), std::string::npos) << r;
      }
    }
    st.done = Clock::now();
    if (good) ++goods;
    st.expected = good ? (green ? '2' : '1') : steps.back().expected;
    steps.push_back(st);
    // The load sees the new routing (or still the old one after a bad reload).
    // (50 answers: every reload is followed by steady traffic before the next.)
    ASSERT_TRUE(waitUntil([&] { return load.answeredSince(st.done, st.expected, 50); }))
        << "step " << i;
    if (good && green) {
      extraPort = listenerPort(f.adminPort(), "extra");
      ASSERT_GT(extraPort, 0);
      std::string r =
          rawExchange(extraPort, "GET /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", 10s);
      EXPECT_EQ(backendOf(r), "s2") << r;
      r = rawExchange(web, "GET /only-extra HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", 10s);
      EXPECT_EQ(backendOf(r), "s2") << r;
    } else if (good && extraPort != 0) {
      // The removed listener stops accepting and its sockets close: connects are refused.
      EXPECT_EQ(listenerPort(f.adminPort(), "extra"), 0);
      int port = extraPort;
      EXPECT_TRUE(waitUntil([&] { return !RawClient(port).connected(); }))
          << "listener extra still accepts after its removal";
      extraPort = 0;
    }
    EXPECT_EQ(listenerPort(f.adminPort(), "web"), web) << "web's socket is kept";
  }
  // Some load after the last reload too.
  Clock::time_point end = Clock::now();
  ASSERT_TRUE(waitUntil([&] { return load.answeredSince(end, steps.back().expected); }));
  load.stop();
  std::vector<Load::Sample> samples = load.samples();
  double worstSwitchMs = 0;
  long wrong = 0;
  for (std::size_t k = 0; k < steps.size(); ++k) {
    Clock::time_point until =
        k + 1 < steps.size() ? steps[k + 1].trigger : Clock::time_point::max();
    for (const Load::Sample& s : samples) {
      if (s.sent >= steps[k].done && s.sent < until && s.backend != steps[k].expected) ++wrong;
      // A request sent between the ask and the completion that the old routing answered.
      if (steps[k].good && s.sent >= steps[k].trigger && s.sent < steps[k].done &&
          s.backend != steps[k].expected) {
        worstSwitchMs =
            std::max(worstSwitchMs,
                     std::chrono::duration<double, std::milli>(s.sent - steps[k].trigger).count());
      }
      EXPECT_NE(s.backend, '3') << "a rejected config was applied";
    }
  }
  double worstReloadMs = 0;
  for (const Step& s : steps) {
    if (s.good) {
      worstReloadMs = std::max(
          worstReloadMs, std::chrono::duration<double, std::milli>(s.done - s.trigger).count());
    }
  }
  std::printf(
      "[reload %s] requests=%ld failures=%ld answered-by-old-routing-after-completion=%ld "
      "worst reload (ask to applied) %.1f ms, worst old answer after the ask %.1f ms\n",
      sighup ? "SIGHUP" : "POST", load.requests(), load.failures(), wrong, worstReloadMs,
      worstSwitchMs);
  EXPECT_EQ(load.failures(), 0) << ::testing::PrintToString(load.failureNotes());
  // Under Wine one request in about 1,300, sent just after the reload's answer, was seen answered
  // by the old routing (1 worker, 1 run in 6; never on Linux): not explained yet, so it is
  // bounded and printed there rather than hidden. Issue 17 (Windows) is to find it.
  EXPECT_LE(wrong, testingUnderWine() ? 1 : 0);
  EXPECT_GT(load.requests(), 100);
  EXPECT_EQ(f.metric("ferry_config_reloads_total{result=\"success\"}"), 10);
  EXPECT_EQ(f.metric("ferry_config_reloads_total{result=\"failure\"}"), 10);
  EXPECT_EQ(f.metric("ferry_config_last_reload_successful"), 0);
  EXPECT_GT(f.metric("ferry_config_last_reload_success_timestamp_seconds"), 1.6e9);
}

TEST(Reload, TwentyReloadsUnderLoadByPostReload) {
  twentyReloadsUnderLoad(false);
}

TEST(Reload, TwentyReloadsUnderLoadBySighup) {
  if (testingUnderWine()) {
    GTEST_SKIP() << "no SIGHUP on Windows: POST /reload is the way there";
  }
  twentyReloadsUnderLoad(true);
}

// A rejected reload answers 400 with every error (file:line:col) and changes nothing.
TEST(Reload, BadConfigAnswers400WithEveryErrorAndChangesNothing) {
  Backend s1("s1");
  Ferry f(config("blue", s1.port(), false));
  writeConfig(f.configPath(),
              config("blue", s1.port(), false, "  - { name: x, endpoints: [] }\n", "bogus: 1\n"));
  std::string r = admin(f.adminPort(), "POST", "/reload");
  EXPECT_EQ(statusOf(r), 400) << r;
  std::string body = bodyOf(r);
  EXPECT_NE(body.find(f.configPath() + ":3:1: bogus: unknown key"), std::string::npos) << body;
  EXPECT_NE(body.find("clusters[1].endpoints"), std::string::npos) << body;
  EXPECT_NE(f.process().logText().find("reload of " + f.configPath() + " rejected: 2 errors"),
            std::string::npos)
      << f.process().logText();
  std::string live = bodyOf(admin(f.adminPort(), "GET", "/config"));
  EXPECT_EQ(live, config("blue", s1.port(), false));
  EXPECT_EQ(backendOf(rawExchange(f.port("web"),
                                  "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", 10s)),
            "s1");
}

// A valid file whose new listener cannot be bound (its address is taken): the reload is
// rejected with the reason and nothing changes; the next good reload applies normally.
TEST(Reload, ABindErrorRejectsTheReloadAndChangesNothing) {
  Backend s1("s1");
  Backend s2("s2");
  ReservedPort taken;  // bound by this test, so ferry's bind fails
  Ferry f(config("blue", s1.port(), false));
  int web = f.port("web");
  std::string before = bodyOf(admin(f.adminPort(), "GET", "/config"));
  std::string yaml = config("green", s2.port(), false);
  std::string extra = "  - name: extra\n    address: 127.0.0.1:" + std::to_string(taken.port()) +
                      "\n    routes:\n      - { name: all, cluster: green }\n";
  yaml.insert(yaml.find("clusters:"), extra);
  writeConfig(f.configPath(), yaml);
  std::string r = admin(f.adminPort(), "POST", "/reload");
  EXPECT_EQ(statusOf(r), 400) << r;
  EXPECT_NE(bodyOf(r).find("127.0.0.1:" + std::to_string(taken.port())), std::string::npos) << r;
  EXPECT_EQ(f.metric("ferry_config_reloads_total{result=\"failure\"}"), 1);
  EXPECT_EQ(f.metric("ferry_config_last_reload_successful"), 0);
  EXPECT_EQ(bodyOf(admin(f.adminPort(), "GET", "/config")), before);
  EXPECT_EQ(listenerPort(f.adminPort(), "extra"), 0);
  EXPECT_EQ(listenerPort(f.adminPort(), "web"), web);
  auto get = [&] { return backendAt(web); };
  EXPECT_EQ(get(), "s1");
  writeConfig(f.configPath(), config("green", s2.port(), true));
  r = admin(f.adminPort(), "POST", "/reload");
  ASSERT_EQ(statusOf(r), 200) << r;
  EXPECT_EQ(get(), "s2");
  int extraPort = listenerPort(f.adminPort(), "extra");
  ASSERT_GT(extraPort, 0);
  EXPECT_EQ(backendOf(rawExchange(extraPort,
                                  "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", 10s)),
            "s2");
}

// A request in flight during a reload finishes on the config it started with; the next request
// on the same keep-alive connection goes by the new one.
TEST(Reload, RequestInFlightFinishesOnItsSnapshotTheNextOneUsesTheNew) {
  Backend s1("s1");
  Backend s2("s2");
  Ferry f(config("blue", s1.port(), false));
  RawClient c(f.port("web"));
  ASSERT_TRUE(c.send("GET /slow?ms=1500 HTTP/1.1\r\nHost: a\r\n\r\n"));
  ASSERT_TRUE(waitUntil([&] { return s1.requests() >= 1; }));
  writeConfig(f.configPath(), config("green", s2.port(), false));
  std::string r = admin(f.adminPort(), "POST", "/reload");
  ASSERT_EQ(statusOf(r), 200) << r;
  EXPECT_NE(bodyOf(r).find("drain cluster blue"), std::string::npos) << r;
  EXPECT_NE(bodyOf(r).find("add cluster green"), std::string::npos) << r;
  std::string slow = c.readResponse(10s);
  EXPECT_EQ(statusOf(slow), 200) << slow;
  EXPECT_EQ(backendOf(slow), "s1") << slow;
  ASSERT_TRUE(c.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n"));
  std::string next = c.readResponse(10s);
  EXPECT_EQ(backendOf(next), "s2") << next;
}

// A TCP listener across a reload that replaces its cluster: the listening socket is kept, a
// tunnel opened before goes on to the old cluster's backend until it closes (the removed
// cluster drains), a new connection goes to the new cluster, and the old generation is freed
// safely once the tunnel closes.
TEST(Reload, TcpTunnelOpenAcrossAReloadKeepsItsBackendNewOnesUseTheNewCluster) {
  Backend s1("s1");
  Backend s2("s2");
  auto tcp = [](const std::string& cluster, int port) {
    return "workers: 2\naccess_log: false\nadmin: { address: 127.0.0.1:0 }\n"
           "listeners:\n  - { name: db, address: 127.0.0.1:0, protocol: tcp, cluster: " +
           cluster + " }\nclusters:\n  - { name: " + cluster +
           ", endpoints: [127.0.0.1:" + std::to_string(port) + "] }\n";
  };
  Ferry f(tcp("blue", s1.port()));
  int db = f.port("db");
  const std::string get = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
  auto tunnel = std::make_unique<RawClient>(db);
  ASSERT_TRUE(tunnel->send(get));
  ASSERT_EQ(backendOf(tunnel->readResponse(10s)), "s1");
  writeConfig(f.configPath(), tcp("green", s2.port()));
  std::string r = admin(f.adminPort(), "POST", "/reload");
  ASSERT_EQ(statusOf(r), 200) << r;
  EXPECT_NE(bodyOf(r).find("drain cluster blue"), std::string::npos) << r;
  EXPECT_EQ(listenerPort(f.adminPort(), "db"), db) << "the listening socket is kept";
  // The open tunnel still reaches s1, over its one backend connection.
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(tunnel->send(get));
    std::string again = tunnel->readResponse(10s);
    EXPECT_EQ(statusOf(again), 200) << again;
    EXPECT_EQ(backendOf(again), "s1") << again;
  }
  EXPECT_EQ(s1.connections(), 1);
  RawClient fresh(db);
  ASSERT_TRUE(fresh.send(get));
  EXPECT_EQ(backendOf(fresh.readResponse(10s)), "s2");
  tunnel.reset();  // the last user of the old generation goes
  RawClient after(db);
  ASSERT_TRUE(after.send(get));
  EXPECT_EQ(backendOf(after.readResponse(10s)), "s2");
  EXPECT_TRUE(f.process().running()) << f.process().logText();
}

// A cluster whose definition did not change keeps its pooled connections across a reload; a
// changed one gets new pools.
TEST(Reload, UnchangedClusterKeepsItsPools) {
  Backend s1("s1");
  std::string base =
      "workers: 1\naccess_log: false\nadmin: { address: 127.0.0.1:0 }\n"
      "listeners:\n  - name: web\n    address: 127.0.0.1:0\n    routes:\n"
      "      - { name: all, match: { path_prefix: / }, cluster: c }\n";
  std::string cluster =
      "clusters:\n  - { name: c, endpoints: [127.0.0.1:" + std::to_string(s1.port()) + "] }\n";
  Ferry f(base + cluster);
  auto get = [&] { return backendAt(f.port("web")); };
  const std::string opened = "ferry_upstream_connections_opened_total{cluster=\"c\"}";
  ASSERT_EQ(get(), "s1");
  ASSERT_EQ(f.metric(opened), 1);
  // A new route, same cluster: the pooled connection is reused.
  std::string more = "      - { name: more, match: { path_prefix: /more }, cluster: c }\n";
  writeConfig(f.configPath(), base.substr(0, base.find("      - { name: all")) + more +
                                  base.substr(base.find("      - { name: all")) + cluster);
  std::string r = admin(f.adminPort(), "POST", "/reload");
  ASSERT_EQ(statusOf(r), 200) << r;
  EXPECT_NE(bodyOf(r).find("keep cluster c"), std::string::npos) << r;
  EXPECT_NE(bodyOf(r).find("add route web/more"), std::string::npos) << r;
  EXPECT_EQ(get(), "s1");
  EXPECT_EQ(f.metric(opened), 1) << "the pool was not kept";
  EXPECT_EQ(s1.connections(), 1);
  // The cluster changes (its timeout): the new cluster adopts the pooled connection of the
  // endpoint it keeps by name (issue 16, section 2), so still no new connection.
  writeConfig(f.configPath(), base + "clusters:\n  - { name: c, endpoints: [127.0.0.1:" +
                                  std::to_string(s1.port()) + "], connect_timeout: 3s }\n");
  r = admin(f.adminPort(), "POST", "/reload");
  ASSERT_EQ(statusOf(r), 200) << r;
  EXPECT_NE(bodyOf(r).find("change cluster c"), std::string::npos) << r;
  EXPECT_EQ(get(), "s1");
  EXPECT_EQ(f.metric(opened), 1) << "the changed cluster did not adopt the pool";
  EXPECT_EQ(s1.connections(), 1);
}

// watch: true reloads when the file is replaced (debounced), and a bad file changes nothing.
TEST(Reload, WatchReloadsWhenTheFileChanges) {
  Backend s1("s1");
  Backend s2("s2");
  Ferry f(config("blue", s1.port(), false, "", "watch: true\n"));
  int web = f.port("web");
  auto get = [&] { return backendAt(web); };
  ASSERT_EQ(get(), "s1");
  ASSERT_TRUE(watcherStarted(f)) << f.process().logText();
  writeConfig(f.configPath(), config("green", s2.port(), false, "", "watch: true\n"));
  EXPECT_TRUE(waitUntil([&] { return get() == "s2"; }, 15s)) << f.process().logText();
  EXPECT_EQ(f.metric("ferry_config_reloads_total{result=\"success\"}"), 1);
  writeConfig(f.configPath(), "listeners: [\n");
  EXPECT_TRUE(waitUntil(
      [&] { return f.metric("ferry_config_reloads_total{result=\"failure\"}") == 1; }, 15s))
      << f.process().logText();
  EXPECT_EQ(get(), "s2");
}

// An editor that saves in place (truncate, then write the text piece by piece) makes a change
// event per step, and every step but the last leaves a file that is not the new config: the
// debounce (300 ms of quiet) gives one reload, of the finished file, and none of a half-written
// one.
TEST(Reload, WatchReloadsOnceWhenAFileIsWrittenInPieces) {
  if (testingUnderWine()) {
    GTEST_SKIP() << "under Wine the directory's changes are relayed by wineserver, so the gaps "
                    "between them are not the ones this test measures (Reload.WatchReloadsWhen"
                    "TheFileChanges covers ReadDirectoryChangesW)";
  }
  Backend s1("s1");
  Backend s2("s2");
  Ferry f(config("blue", s1.port(), false, "", "watch: true\n"));
  int web = f.port("web");
  auto get = [&] { return backendAt(web); };
  ASSERT_EQ(get(), "s1");
  ASSERT_TRUE(watcherStarted(f)) << f.process().logText();
  std::string next = config("green", s2.port(), false, "", "watch: true\n");
  Clock::duration worstGap{};
  {
    std::ofstream out(f.configPath(), std::ios::trunc);  // an event: the file is empty
    Clock::time_point last = Clock::now();
    auto step = [&] {
      Clock::time_point now = Clock::now();
      worstGap = std::max(worstGap, now - last);
      last = now;
    };
    for (std::size_t at = 0; at < next.size(); at += next.size() / 4 + 1) {
      out << next.substr(at, next.size() / 4 + 1);
      out.flush();  // an event per piece
      step();
    }
    out.close();  // and one for the close
    step();
  }
  if (worstGap >= 250ms) {
    GTEST_SKIP() << "the machine paused the writer for "
                 << std::chrono::duration_cast<std::chrono::milliseconds>(worstGap).count()
                 << " ms between two writes, near the 300 ms debounce: not a test of it";
  }
  ASSERT_TRUE(waitUntil(
      [&] { return f.metric("ferry_config_reloads_total{result=\"success\"}") == 1; }, 15s))
      << f.process().logText();
  EXPECT_EQ(f.metric("ferry_config_reloads_total{result=\"failure\"}"), 0) << f.process().logText();
  EXPECT_EQ(get(), "s2");
}

// The admin listener's table: GET / lists it, a known path with the wrong method gets 405 with
// Allow, GET /config is the live YAML, POST /reopen answers.
TEST(Admin, HandlerTableMethodsAndConfig) {
  Backend s1("s1");
  Ferry f(config("blue", s1.port(), false));
  int a = f.adminPort();
  std::string index = bodyOf(admin(a, "GET", "/"));
  for (const char* line : {"GET /metrics", "GET /healthz", "GET /ready", "GET /listeners",
                           "GET /config", "POST /reload", "POST /drain", "POST /reopen"}) {
    EXPECT_NE(index.find(line), std::string::npos) << line << "\n" << index;
  }
  std::string r = admin(a, "POST", "/metrics");
  EXPECT_EQ(statusOf(r), 405) << r;
  EXPECT_NE(r.find("Allow: GET, HEAD\r\n"), std::string::npos) << r;
  r = admin(a, "GET", "/reload");
  EXPECT_EQ(statusOf(r), 405) << r;
  EXPECT_NE(r.find("Allow: POST\r\n"), std::string::npos) << r;
  EXPECT_EQ(statusOf(admin(a, "GET", "/nope")), 404);
  r = admin(a, "GET", "/config");
  EXPECT_EQ(statusOf(r), 200);
  EXPECT_EQ(bodyOf(r), config("blue", s1.port(), false));
  EXPECT_EQ(statusOf(admin(a, "POST", "/reopen")), 200);
  EXPECT_EQ(statusOf(admin(a, "HEAD", "/healthz")), 200);
}

// A graceful stop under keep-alive load, asked by POST /drain (every platform) or SIGTERM (what
// systemd and Kubernetes send): /ready turns 503 at once; during drain_delay ferry still serves
// new connections and kept ones (a load balancer may not have seen /ready yet); the load
// (standing in for that balancer) stops sending once it sees 503; a slow request in flight
// finishes with Connection: close; nothing fails and ferry exits 0, well within drain_timeout.
enum class StopBy { kPostDrain, kSigterm };

void drainUnderLoad(StopBy by) {
  constexpr auto kDelay = 3s;
  Backend s1("s1");
  Ferry f(config("blue", s1.port(), false, "", "drain_delay: 3s\ndrain_timeout: 20s\n"));
  int web = f.port("web");
  Load load(web, 2);
  ASSERT_TRUE(waitUntil([&] { return load.requests() > 500; }, 30s));
  RawClient kept(web);
  ASSERT_TRUE(kept.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n"));
  ASSERT_EQ(statusOf(kept.readResponse(10s)), 200);
  // Answered 5 s after it was sent: past the drain delay, so after the workers began draining.
  RawClient slow(web);
  ASSERT_TRUE(slow.send("GET /slow?ms=5000 HTTP/1.1\r\nHost: a\r\n\r\n"));
  Clock::time_point asked = Clock::now();
  if (by == StopBy::kSigterm) {
    ASSERT_EQ(::kill(f.process().pid(), SIGTERM), 0);
  } else {
    std::string r = admin(f.adminPort(), "POST", "/drain");
    ASSERT_EQ(statusOf(r), 200) << r;
  }
  EXPECT_TRUE(waitUntil([&] { return statusOf(admin(f.adminPort(), "GET", "/ready")) == 503; }));
  long before = load.requests();
  load.stop();
  // Still serving during the delay (checked when the answer came before the delay could have
  // ended: the delay starts after the stop was asked).
  std::string fresh =
      rawExchange(web, "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", 10s);
  bool freshInDelay = Clock::now() < asked + kDelay;
  if (freshInDelay) {
    EXPECT_EQ(statusOf(fresh), 200) << "a new connection during drain_delay: " << fresh;
  }
  std::string again;
  if (kept.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n")) again = kept.readResponse(10s);
  bool keptInDelay = Clock::now() < asked + kDelay;
  if (keptInDelay) {
    EXPECT_EQ(statusOf(again), 200) << "a kept connection during drain_delay: " << again;
  }
  std::string resp = slow.readResponse(20s);
  EXPECT_EQ(statusOf(resp), 200) << resp;
  EXPECT_NE(resp.find("Connection: close"), std::string::npos) << resp;
  EXPECT_TRUE(waitUntil([&] { return !f.process().running(); }, 30s)) << f.process().logText();
  double exitMs = std::chrono::duration<double, std::milli>(Clock::now() - asked).count();
  EXPECT_EQ(f.process().stop(), 0) << f.process().logText();
  std::printf(
      "[drain %s] requests=%ld failures=%ld, during drain_delay: new connection %s, kept "
      "connection %s; exit 0 after %.0f ms (drain_delay 3s, drain_timeout 20s, a 5 s request in "
      "flight)\n",
      by == StopBy::kSigterm ? "SIGTERM" : "POST", before, load.failures(),
      freshInDelay ? "served" : "not checked", keptInDelay ? "served" : "not checked", exitMs);
  EXPECT_EQ(load.failures(), 0) << ::testing::PrintToString(load.failureNotes());
}

TEST(Drain, PostDrainUnderLoadLosesNothingAndExits0) {
  drainUnderLoad(StopBy::kPostDrain);
}

TEST(Drain, SigtermUnderLoadLosesNothingAndExits0) {
  if (testingUnderWine()) {
    GTEST_SKIP() << "no SIGTERM on Windows: POST /drain (and the service stop) is the way there";
  }
  drainUnderLoad(StopBy::kSigterm);
}

// A request still in flight when drain_timeout ends is cut: ferry exits 0 at the timeout instead
// of waiting for it (the backend would answer after a minute), and says so in its log. Until then
// the listening sockets are closed: a new connection is refused, not left in a backlog that
// nobody accepts from.
TEST(Drain, DrainTimeoutCutsWhatIsStillInFlightAndExits0) {
  Backend s1("s1");
  Ferry f(config("blue", s1.port(), false, "", "drain_timeout: 8s\n"));
  int web = f.port("web");
  RawClient slow(web);
  ASSERT_TRUE(slow.send("GET /slow?ms=60000 HTTP/1.1\r\nHost: a\r\n\r\n"));
  ASSERT_TRUE(waitUntil([&] { return s1.requests() >= 1; }));
  std::string r = admin(f.adminPort(), "POST", "/drain");
  ASSERT_EQ(statusOf(r), 200) << r;
  EXPECT_TRUE(waitUntil([&] { return !RawClient(web).connected(); }, 6s))
      << "a draining ferry still accepts connections";
  EXPECT_TRUE(f.process().running()) << "checked while ferry drains, not after its exit";
  ASSERT_TRUE(waitUntil([&] { return !f.process().running(); }, 30s)) << f.process().logText();
  EXPECT_EQ(f.process().stop(), 0) << f.process().logText();
  EXPECT_NE(f.process().logText().find("1 connection still open after the drain timeout"),
            std::string::npos)
      << f.process().logText();
  EXPECT_TRUE(slow.peerClosed(10s)) << "the connection of the cut request must end";
}

}  // namespace
}  // namespace ferry::test
