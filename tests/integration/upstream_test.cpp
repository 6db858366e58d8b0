// Upstream pools and admission through the real binary: connection limits and reuse under
// concurrent keep-alive load, the request queue (503 at its deadline or when full),
// max_active_requests, max_requests_per_connection, idle connections closed by ferry's timer and
// by backends that close idle connections (with and without a Keep-Alive timeout), min_idle.
//
// Backends: tests/support/test_backend (counts its connections), and IdleClosingBackend below,
// an in-process server that closes connections idle for a set time and counts who closed what.

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/harness.h"

namespace ferry::test {
namespace {

using Clock = std::chrono::steady_clock;

std::string config(const std::vector<int>& endpoints, const std::string& clusterExtra,
                   int workers = 1) {
  std::string eps;
  for (int e : endpoints) eps += (eps.empty() ? "" : ", ") + ("127.0.0.1:" + std::to_string(e));
  return "workers: " + std::to_string(workers) +
         "\naccess_log: false\nadmin: { address: {{ADMIN}} }\n"
         "listeners:\n  - name: web\n    address: 127.0.0.1:0\n"
         "    routes:\n      - { name: all, match: { path_prefix: / }, cluster: c }\n"
         "clusters:\n  - name: c\n    endpoints: [" +
         eps + "]\n" + clusterExtra;
}

std::string get(const std::string& path, bool close = false) {
  return "GET " + path + " HTTP/1.1\r\nHost: t\r\n" + (close ? "Connection: close\r\n" : "") +
         "\r\n";
}

// An HTTP/1.1 server on 127.0.0.1 in this process: answers every GET with 200 "ok\n"
// (keep-alive), /slow?ms=N after N ms; closes a connection idle for idleCloseMs (0: never);
// advertises Keep-Alive: timeout=keepAliveSeconds if set. One thread per connection.
class IdleClosingBackend {
 public:
  IdleClosingBackend(int idleCloseMs, int keepAliveSeconds)
      : idleCloseMs_(idleCloseMs), keepAlive_(keepAliveSeconds) {
    listen_ = ::socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    ::setsockopt(listen_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(listen_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 ||
        ::listen(listen_, 256) != 0) {
      throw std::runtime_error("backend bind/listen");
    }
    socklen_t len = sizeof(a);
    ::getsockname(listen_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    acceptor_ = std::thread([this] { acceptLoop(); });
  }
  ~IdleClosingBackend() {
    stop_ = true;
    ::shutdown(listen_, SHUT_RDWR);
    acceptor_.join();
    ::close(listen_);
    std::lock_guard<std::mutex> g(mu_);
    for (std::thread& t : threads_) t.join();
  }
  int port() const { return port_; }
  long connections() const { return connections_.load(); }
  long open() const { return open_.load(); }
  long requests() const { return requests_.load(); }
  long closedIdleByUs() const { return closedIdleByUs_.load(); }
  long closedByPeer() const { return closedByPeer_.load(); }

 private:
  void acceptLoop() {
    for (;;) {
      int fd = ::accept(listen_, nullptr, nullptr);
      if (fd < 0) {
        if (stop_) return;
        continue;
      }
      ++connections_;
      ++open_;
      std::lock_guard<std::mutex> g(mu_);
      threads_.emplace_back([this, fd] { serve(fd); });
    }
  }
  void serve(int fd) {
    std::string buf;
    for (;;) {
      std::size_t end;
      while ((end = buf.find("\r\n\r\n")) == std::string::npos) {
        pollfd p{fd, POLLIN, 0};
        int wait = idleCloseMs_ > 0 && buf.empty() ? idleCloseMs_ : 200;
        int r = ::poll(&p, 1, wait);
        if (stop_) return finish(fd, nullptr);
        if (r == 0) {
          if (idleCloseMs_ > 0 && buf.empty()) return finish(fd, &closedIdleByUs_);
          continue;
        }
        char tmp[4096];
        ssize_t n = ::recv(fd, tmp, sizeof(tmp), 0);
        if (n <= 0) return finish(fd, &closedByPeer_);
        buf.append(tmp, static_cast<std::size_t>(n));
      }
      std::string head = buf.substr(0, end);
      buf.erase(0, end + 4);
      ++requests_;
      std::size_t slow = head.find("/slow?ms=");
      if (slow != std::string::npos && slow < head.find("\r\n")) {
        std::this_thread::sleep_for(std::chrono::milliseconds(std::atoi(head.c_str() + slow + 9)));
      }
      std::string resp = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n";
      if (keepAlive_ > 0) resp += "Keep-Alive: timeout=" + std::to_string(keepAlive_) + "\r\n";
      resp += "\r\nok\n";
      if (::send(fd, resp.data(), resp.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(resp.size()))
        return finish(fd, &closedByPeer_);
    }
  }
  // open_ drops before the reason is counted: a test that sees the count sees the close. An
  // idle close is counted once ferry's kernel has acknowledged the FIN (on a busy machine it may
  // otherwise still sit in the loopback's backlog when the test sends the next request).
  void finish(int fd, std::atomic<long>* counter) {
    if (counter == &closedIdleByUs_ && ::shutdown(fd, SHUT_WR) == 0) {
      waitUntil(
          [fd] {
            tcp_info info{};
            socklen_t len = sizeof(info);
            return ::getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) != 0 ||
                   info.tcpi_state != TCP_FIN_WAIT1;
          },
          2s);
    }
    ::close(fd);
    --open_;
    if (counter != nullptr) ++*counter;
  }

  int idleCloseMs_;
  int keepAlive_;
  int listen_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<long> connections_{0}, open_{0}, requests_{0}, closedIdleByUs_{0}, closedByPeer_{0};
  std::thread acceptor_;
  std::mutex mu_;
  std::vector<std::thread> threads_;
};

// `clients` keep-alive connections, each sending `perClient` GETs one after another; returns
// how many did not get a 200 (a client whose connection ends reconnects).
long load(int port, int clients, int perClient, const std::string& path = "/a",
          const std::string& method = "GET") {
  std::atomic<long> failed{0};
  std::vector<std::thread> ts;
  for (int i = 0; i < clients; ++i) {
    ts.emplace_back([&] {
      auto c = std::make_unique<RawClient>(port);
      for (int k = 0; k < perClient; ++k) {
        std::string req = method == "GET" ? get(path)
                                          : method + " " + path +
                                                " HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n";
        if (!c->connected() || !c->send(req)) {
          ++failed;
          c = std::make_unique<RawClient>(port);
          continue;
        }
        std::string r = c->readResponse(20s);
        if (statusOf(r) != 200) {
          ++failed;
          c = std::make_unique<RawClient>(port);
        }
      }
    });
  }
  for (std::thread& t : ts) t.join();
  return failed.load();
}

// 20,000 requests (FERRY_TEST_REQUESTS=100000 for the count, by hand) over 64 client
// connections on 2 workers open at most workers x max_idle backend connections when
// max_connections equals max_idle: the rest wait for one to come back. Prints the reuse ratio
// (requests / backend connections).
TEST(Upstream, ManyRequestsOverManyClientsStayWithinWorkersTimesMaxIdle) {
  Backend s1("s1");
  Ferry f(config({s1.port()},
                 "    max_idle_per_worker: 4\n    max_connections: 4\n    queue_timeout: 30s\n",
                 2));
  const char* want = std::getenv("FERRY_TEST_REQUESTS");
  const int kRequests = want != nullptr ? std::clamp(std::atoi(want), 64, 200000) : 20000;
  const int kClients = 64, kPerClient = kRequests / 64;
  long failed = load(f.port("web"), kClients, kPerClient);
  EXPECT_EQ(failed, 0);
  long opened = s1.connections();
  long requests = s1.requests();
  EXPECT_EQ(requests, static_cast<long>(kClients) * kPerClient);
  EXPECT_GE(opened, 1);
  EXPECT_LE(opened, 2 * 4);
  std::printf("reuse ratio: %ld requests / %ld backend connections = %.1f\n", requests, opened,
              opened > 0 ? static_cast<double>(requests) / static_cast<double>(opened) : 0.0);
}

// One connection allowed, one place in the queue: a second request waits and gets 503 at the
// queue's deadline (not before); a third, with the queue full, gets 503 at once; once the first
// finishes, a waiting request is handed its connection.
TEST(Upstream, QueueTimeoutAndOverflowGive503) {
  IdleClosingBackend b(0, 0);
  Ferry f(
      config({b.port()},
             "    max_connections: 1\n    max_pending_requests: 1\n    queue_timeout: 600ms\n"));
  int port = f.port("web");
  RawClient slow(port), waiting(port), overflow(port);
  ASSERT_TRUE(slow.send(get("/slow?ms=2500")));
  ASSERT_TRUE(waitUntil([&] { return b.requests() == 1; }));
  auto t0 = Clock::now();
  ASSERT_TRUE(waiting.send(get("/a")));
  // The waiting request holds the only place in the queue before the third comes.
  ASSERT_TRUE(waitUntil([&] { return Clock::now() - t0 > 100ms; }));
  ASSERT_TRUE(overflow.send(get("/b")));
  std::string o = overflow.readResponse(5s);
  auto tOverflow = Clock::now() - t0;
  std::string w = waiting.readResponse(5s);
  auto tWaiting = Clock::now() - t0;
  EXPECT_EQ(statusOf(o), 503) << o;
  EXPECT_EQ(statusOf(w), 503) << w;
  EXPECT_LT(tOverflow, tWaiting) << "the overflow is refused at once, not at the deadline";
  EXPECT_GE(tWaiting, 600ms);
  std::string s = slow.readResponse(10s);
  EXPECT_EQ(statusOf(s), 200) << s;
  EXPECT_EQ(b.requests(), 1) << "refused requests never reach the backend";

  // A queued request gets the connection given back (queue_timeout long enough).
  RawClient again(port);
  ASSERT_TRUE(slow.send(get("/slow?ms=300")));
  ASSERT_TRUE(waitUntil([&] { return b.requests() == 2; }));
  ASSERT_TRUE(again.send(get("/c")));
  EXPECT_EQ(statusOf(slow.readResponse(5s)), 200);
  std::string a = again.readResponse(5s);
  EXPECT_EQ(statusOf(a), 200) << a;
  EXPECT_EQ(b.connections(), 1) << "the waiting request was handed the same connection";
  // Counted: two requests queued (one timed out, one was served), one refused with the queue
  // full.
  EXPECT_EQ(f.metric("ferry_upstream_requests_queued_total{cluster=\"c\"}"), 2);
  EXPECT_EQ(f.metric("ferry_upstream_queue_timeouts_total{cluster=\"c\"}"), 1);
  EXPECT_EQ(f.metric("ferry_upstream_rejected_pending_total{cluster=\"c\"}"), 1);
  EXPECT_EQ(f.metric("ferry_upstream_requests_pending{cluster=\"c\"}"), 0);
}

// max_active_requests: with one request in flight a second gets 503 at once (long before the
// first ends), and the next one after it is served.
TEST(Upstream, MaxActiveRequestsGives503AtOnce) {
  IdleClosingBackend b(0, 0);
  Ferry f(config({b.port()}, "    max_active_requests: 1\n"));
  int port = f.port("web");
  RawClient slow(port), second(port);
  ASSERT_TRUE(slow.send(get("/slow?ms=3000")));
  ASSERT_TRUE(waitUntil([&] { return b.requests() == 1; }));
  ASSERT_TRUE(second.send(get("/a")));
  std::string r = second.readResponse(5s);
  EXPECT_EQ(statusOf(r), 503) << r;
  EXPECT_EQ(b.requests(), 1);
  // Answered while the first is still in flight: the slow one has not answered yet.
  pollfd p{slow.fd(), POLLIN, 0};
  EXPECT_EQ(::poll(&p, 1, 0), 0) << "503 came only after the slow request ended";
  EXPECT_EQ(statusOf(slow.readResponse(10s)), 200);
  EXPECT_EQ(statusOf(rawExchange(port, get("/b", true))), 200);
  EXPECT_EQ(f.metric("ferry_upstream_rejected_active_total{cluster=\"c\"}"), 1);
}

// max_requests_per_connection: 30 sequential requests at 3 per connection open 10.
TEST(Upstream, MaxRequestsPerConnectionClosesAfterN) {
  Backend s1("s1");
  Ferry f(config({s1.port()}, "    max_requests_per_connection: 3\n"));
  RawClient c(f.port("web"));
  for (int i = 0; i < 30; ++i) {
    ASSERT_TRUE(c.send(get("/a")));
    ASSERT_EQ(statusOf(c.readResponse(5s)), 200) << i;
  }
  EXPECT_EQ(s1.requests(), 30);
  EXPECT_EQ(s1.connections(), 10);
}

// An idle pooled connection is closed by ferry's timer at idle_timeout with no traffic at all.
TEST(Upstream, IdleConnectionClosedAtIdleTimeoutWithoutTraffic) {
  IdleClosingBackend b(0, 0);
  Ferry f(config({b.port()}, "    idle_timeout: 300ms\n"));
  EXPECT_EQ(statusOf(rawExchange(f.port("web"), get("/a", true))), 200);
  EXPECT_EQ(b.connections(), 1);
  EXPECT_TRUE(waitUntil([&] { return b.closedByPeer() == 1; }, 5s))
      << "ferry did not close its idle connection";
  EXPECT_EQ(b.open(), 0);
}

// A backend's Keep-Alive: timeout=N is honoured: ferry closes the idle connection before the
// backend would (here the backend never closes by itself).
TEST(Upstream, KeepAliveTimeoutOfTheBackendIsHonoured) {
  IdleClosingBackend b(0, 1);
  Ferry f(config({b.port()}, "    idle_timeout: 60s\n"));
  auto t0 = Clock::now();
  EXPECT_EQ(statusOf(rawExchange(f.port("web"), get("/a", true))), 200);
  EXPECT_TRUE(waitUntil([&] { return b.closedByPeer() == 1; }, 5s));
  EXPECT_LT(Clock::now() - t0, 5s);
}

// Backends that close connections idle for a second, under keep-alive load with pauses of
// about that second between bursts (the worst case: requests race the backend's close): no
// client request fails. Once without and once with the backend announcing its Keep-Alive
// timeout, and once with POSTs. The pool looks at every connection before reusing it; a GET
// that still meets a close (sent as the backend closed) is retried on a new connection. A POST
// may not be retried, and no proxy can tell a close that crosses it on the wire from one that
// read it: so the POSTs' pauses end after the backends' close (1.3 s and more), where the look
// finds it, and never straddle it.
void idleClosingBackendLoad(int keepAliveSeconds, const std::string& method = "GET") {
  IdleClosingBackend b1(1000, keepAliveSeconds), b2(1000, keepAliveSeconds);
  Ferry f(config({b1.port(), b2.port()}, "    max_idle_per_worker: 8\n", 2));
  int port = f.port("web");
  long failed = 0;
  long sent = 0;
  for (int round = 0; round < 6; ++round) {
    failed += load(port, 8, 25, "/a", method);
    sent += 8 * 25;
    // Pause across the backends' idle close (900 ms to 1.15 s: both sides of the edge; POSTs
    // 1.3 s to 1.55 s: past it).
    int pauseMs = (method == "POST" ? 1300 : 900) + 50 * round;
    auto until = Clock::now() + std::chrono::milliseconds(pauseMs);
    waitUntil([&] { return Clock::now() >= until; }, 2s);
  }
  EXPECT_EQ(failed, 0) << "of " << sent;
  std::printf(
      "%s, keep-alive %ds: %ld requests, %ld failed; backend connections %ld, closed idle by "
      "the backends %ld, closed by ferry %ld\n",
      method.c_str(), keepAliveSeconds, sent, failed, b1.connections() + b2.connections(),
      b1.closedIdleByUs() + b2.closedIdleByUs(), b1.closedByPeer() + b2.closedByPeer());
}
TEST(Upstream, BackendClosingIdleConnectionsEverySecondFailsNoRequest) {
  idleClosingBackendLoad(0);
}
TEST(Upstream, BackendAnnouncingKeepAliveTimeoutFailsNoRequest) {
  idleClosingBackendLoad(1);
}
TEST(Upstream, BackendClosingIdleConnectionsFailsNoPost) {
  idleClosingBackendLoad(0, "POST");
}

// A backend that closes every connection a millisecond after answering, without saying so. Each
// next request is sent only once the backend has closed the last connection: ferry looks at a
// pooled connection before reusing it (GETs and POSTs alike: bytes a backend left there would
// otherwise answer the next request), finds it closed, drops it and opens a new one; the client
// sees every answer and nothing needs a retry. (A close still on its way when ferry looks is met
// on the write and retried: allowed for the GETs, and no POST is ever sent twice.)
TEST(Upstream, StalePooledConnectionsAreLookedAtBeforeReuse) {
  IdleClosingBackend b(1, 0);
  Ferry f(config({b.port()}, "    max_idle_per_worker: 8\n"));
  RawClient c(f.port("web"));
  const std::string retries = "ferry_upstream_retries_total{cluster=\"c\",reason=\"reset\"}";
  const std::string peerClosed =
      "ferry_upstream_connections_closed_total{cluster=\"c\",reason=\"peer_closed\"}";
  constexpr int kGets = 20;
  for (int i = 0; i < kGets; ++i) {
    ASSERT_TRUE(c.send(get("/a")));
    ASSERT_EQ(statusOf(c.readResponse(20s)), 200) << "GET " << i;
    ASSERT_TRUE(waitUntil([&] { return b.closedIdleByUs() == b.connections(); }, 10s));
  }
  EXPECT_GE(f.metric(peerClosed), 1);
  long before = static_cast<long>(f.metric(retries));
  EXPECT_LT(before, kGets / 2);  // the look found (nearly) every close
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(c.send("POST /a HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n"));
    ASSERT_EQ(statusOf(c.readResponse(20s)), 200) << "POST " << i;
    ASSERT_TRUE(waitUntil([&] { return b.closedIdleByUs() == b.connections(); }, 10s));
  }
  EXPECT_EQ(static_cast<long>(f.metric(retries)), before);
}

// max_idle_per_worker without max_connections: a burst opens a connection per concurrent
// request; once they are all given back, the pool keeps max_idle of them and closes the rest
// (counted as pool_full).
TEST(Upstream, MaxIdleKeepsThatManyAfterABurst) {
  IdleClosingBackend b(0, 0);
  Ferry f(config({b.port()}, "    max_idle_per_worker: 2\n"));
  int port = f.port("web");
  std::vector<std::unique_ptr<RawClient>> clients;
  for (int i = 0; i < 6; ++i) {
    clients.push_back(std::make_unique<RawClient>(port));
    ASSERT_TRUE(clients.back()->send(get("/slow?ms=1500")));
  }
  // All six in flight at once: six backend connections.
  ASSERT_TRUE(waitUntil([&] { return b.open() == 6; }, 10s)) << b.open();
  for (auto& c : clients) EXPECT_EQ(statusOf(c->readResponse(10s)), 200);
  EXPECT_TRUE(waitUntil([&] { return b.open() == 2; }, 10s)) << b.open();
  EXPECT_EQ(b.connections(), 6);
  EXPECT_EQ(f.metric("ferry_upstream_connections_closed_total{cluster=\"c\",reason=\"pool_full\"}"),
            4);
  EXPECT_EQ(f.metric("ferry_upstream_pool_idle_connections{cluster=\"c\"}"), 2);
  // The next requests reuse the two kept.
  for (int i = 0; i < 4; ++i) EXPECT_EQ(statusOf(rawExchange(port, get("/a", true))), 200);
  EXPECT_EQ(b.connections(), 6);
}

// max_connection_lifetime: an idle connection is closed once that old (idle_timeout is far
// away), and one in use past it finishes its request and is closed when given back.
TEST(Upstream, MaxConnectionLifetimeClosesIdleAndBusyConnections) {
  IdleClosingBackend b(0, 0);
  Ferry f(config({b.port()}, "    max_connection_lifetime: 500ms\n    idle_timeout: 60s\n"));
  int port = f.port("web");
  EXPECT_EQ(statusOf(rawExchange(port, get("/a", true))), 200);
  EXPECT_TRUE(waitUntil([&] { return b.closedByPeer() == 1; }, 10s)) << "idle one not retired";
  // In use across its lifetime: answered in full, then closed.
  EXPECT_EQ(statusOf(rawExchange(port, get("/slow?ms=1000", true), 10s)), 200);
  EXPECT_TRUE(waitUntil([&] { return b.closedByPeer() == 2; }, 10s)) << "busy one not retired";
  EXPECT_EQ(b.connections(), 2);
  EXPECT_EQ(b.open(), 0);
  EXPECT_EQ(f.metric("ferry_upstream_connections_retired_total{cluster=\"c\"}"), 2);
}

// One exchange from a client bound to `ip` (any port) to 127.0.0.1:port: everything the server
// sends until it closes, or what came within 5 s.
std::string exchangeFrom(const std::string& ip, int port, const std::string& bytes) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  ::inet_pton(AF_INET, ip.c_str(), &a.sin_addr);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(static_cast<std::uint16_t>(port));
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string out;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 ||
      ::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof(to)) != 0 ||
      ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(bytes.size())) {
    ::close(fd);
    return out;
  }
  auto deadline = Clock::now() + 5s;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    pollfd p{fd, POLLIN, 0};
    if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
    char buf[4096];
    ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return out;
}

// ring_hash and maglev on every hash_on key, through the binary on two workers: each key stays
// on one backend whatever else the request carries (other path, other headers, other cookies,
// another source port), and 32 keys reach both backends.
TEST(Upstream, HashPoliciesKeepEachKeyOnOneBackendForEveryHashOn) {
  Backend s1("s1"), s2("s2");
  struct On {
    const char* yaml;
    // The response body of a request with key k, variant v (v changes what is not the key).
    std::function<std::string(int port, int k, int v)> send;
  };
  auto body = [](const std::string& r) {
    std::size_t p = r.find("\r\n\r\n");
    return p == std::string::npos ? std::string() : r.substr(p + 4);
  };
  auto request = [&](int port, const std::string& path, const std::string& headers) {
    return body(rawExchange(
        port, "GET " + path + " HTTP/1.1\r\nHost: a\r\n" + headers + "Connection: close\r\n\r\n"));
  };
  std::vector<On> ons = {
      {"{ path: true }",
       [&](int port, int k, int v) {
         return request(port, "/p" + std::to_string(k), "X-V: " + std::to_string(v) + "\r\n");
       }},
      {"{ header: X-User }",
       [&](int port, int k, int v) {
         return request(port, "/v" + std::to_string(v), "X-User: u" + std::to_string(k) + "\r\n");
       }},
      {"{ cookie: session }",
       [&](int port, int k, int v) {
         return request(port, "/v" + std::to_string(v),
                        "Cookie: a=" + std::to_string(v) + "; session=s" + std::to_string(k) +
                            "; b=" + std::to_string(v) + "\r\n");
       }},
      {"{ source_ip: true }",
       [&](int port, int k, int v) {
         // The client's address is 127.0.0.(2+k) (the whole of 127/8 is local).
         return body(exchangeFrom("127.0.0." + std::to_string(2 + k), port,
                                  get("/v" + std::to_string(v), true)));
       }},
  };
  for (const char* policy : {"ring_hash", "maglev"}) {
    for (const On& on : ons) {
      Ferry f(
          "workers: 2\naccess_log: false\nadmin: { address: {{ADMIN}} }\n"
          "listeners:\n  - { name: web, address: 127.0.0.1:0, routes: [{ match: { "
          "path_prefix: / }, cluster: c }] }\n"
          "clusters:\n  - name: c\n    balance: { policy: " +
          std::string(policy) + ", hash_on: " + on.yaml + " }\n    endpoints: [127.0.0.1:" +
          std::to_string(s1.port()) + ", 127.0.0.1:" + std::to_string(s2.port()) + "]\n");
      int port = f.port("web");
      std::set<std::string> all;
      // 32 keys: that all land on one of two backends by chance is 2^-31.
      for (int k = 0; k < 32; ++k) {
        std::set<std::string> seen;
        for (int v = 0; v < 3; ++v) seen.insert(on.send(port, k, v));
        EXPECT_EQ(seen.size(), 1U) << policy << " " << on.yaml << ": key " << k << " moved";
        EXPECT_TRUE(*seen.begin() == "s1\n" || *seen.begin() == "s2\n") << *seen.begin();
        all.insert(seen.begin(), seen.end());
      }
      EXPECT_EQ(all.size(), 2U) << policy << " " << on.yaml << ": every key on one backend";
    }
  }
}

// min_idle: connections opened ahead of demand and kept warm (after the first request: the
// cluster's upkeep starts on first use unless the worker starts it).
TEST(Upstream, MinIdleKeepsConnectionsWarm) {
  IdleClosingBackend b(0, 0);
  Ferry f(config({b.port()}, "    min_idle: 3\n    idle_timeout: 400ms\n"));
  EXPECT_EQ(statusOf(rawExchange(f.port("web"), get("/a", true))), 200);
  EXPECT_TRUE(waitUntil([&] { return b.open() == 3; }, 5s)) << b.open();
  // Idle ones expire and are replaced: more connections opened over time, still 3 open.
  EXPECT_TRUE(waitUntil([&] { return b.connections() >= 6; }, 5s)) << b.connections();
  EXPECT_TRUE(waitUntil([&] { return b.open() == 3; }, 5s)) << b.open();
  EXPECT_EQ(b.requests(), 1);
}

}  // namespace
}  // namespace ferry::test
