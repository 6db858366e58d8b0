// The session's phases through the real binary: full-duplex exchanges (early responses),
// retry safety, truncation made visible, timeouts per phase, and the termination cause in the
// access log. Test backends answer with their names (tests/support/test_backend.cpp).

#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>

#include <chrono>
#include <fstream>
#include <string>
#include <vector>

#include "tests/support/harness.h"

namespace ferry::test {
namespace {

std::string config(const std::vector<int>& endpoints, const std::string& listenerExtra = "",
                   const std::string& clusterExtra = "", bool accessLog = false) {
  std::string eps;
  for (int e : endpoints) eps += (eps.empty() ? "" : ", ") + ("127.0.0.1:" + std::to_string(e));
  return std::string("workers: 1\naccess_log: ") + (accessLog ? "true" : "false") +
         "\nadmin: { address: {{ADMIN}} }\n"
         "listeners:\n  - name: web\n    address: 127.0.0.1:0\n" +
         listenerExtra +
         "    routes:\n      - { name: all, match: { path_prefix: / }, cluster: c }\n"
         "clusters:\n  - name: c\n    endpoints: [" +
         eps + "]\n" + clusterExtra;
}

// A backend that answers 413 after reading only the head: the client gets that answer while
// its upload is still going (the relay is full duplex), and ferry does not keep the client
// connection (the rest of the body is unread).
TEST(Session, EarlyResponseReachesTheClientDuringTheUpload) {
  Backend s1("s1");
  Ferry f(config({s1.port()}));
  RawClient c(f.port("web"));
  ASSERT_TRUE(c.connected());
  ASSERT_TRUE(c.send("POST /early HTTP/1.1\r\nHost: a\r\nContent-Length: 100000000\r\n\r\n"));
  ASSERT_TRUE(c.send(std::string(65536, 'x')));  // far from the announced 100 MB
  std::string resp = c.readResponse(10s);
  EXPECT_EQ(statusOf(resp), 413) << resp;
  EXPECT_NE(resp.find("Connection: close"), std::string::npos) << resp;
  EXPECT_TRUE(c.peerClosed(10s));
}

// A client that said close and sent nothing more is closed at once, without the lingering close
// (a shutdown, then reads for the client's FIN): ferry's socket is gone, so a byte the client
// sends afterwards is answered with a reset. Lingering would read and drop that byte instead.
TEST(Session, ClientThatSaidCloseIsClosedWithoutLingering) {
  Backend s1("s1");
  Ferry f(config({s1.port()}));
  RawClient c(f.port("web"));
  ASSERT_TRUE(c.connected());
  ASSERT_TRUE(c.send("GET /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"));
  std::string resp = c.readResponse(10s);
  EXPECT_EQ(statusOf(resp), 200) << resp;
  ASSERT_TRUE(c.peerClosed(10s));
  ASSERT_EQ(::send(c.fd(), "X", 1, MSG_NOSIGNAL), 1);
  // The reset ends the client's socket (poll: POLLERR, POLLHUP); its reads still give EOF, as
  // the FIN came first. A lingering ferry would leave it half-closed (POLLIN only).
  bool reset = false;
  auto end = std::chrono::steady_clock::now() + 10s;
  while (!reset && std::chrono::steady_clock::now() < end) {
    pollfd p{c.fd(), POLLIN, 0};
    ::poll(&p, 1, 100);
    reset = (p.revents & (POLLERR | POLLHUP)) != 0;
  }
  EXPECT_TRUE(reset) << "ferry read the client's byte: it lingered";
}

// A POST whose bytes reached a backend is never sent again, whatever happens after; a GET that
// failed the same way is retried on the other endpoint.
TEST(Session, NonIdempotentRequestsAreNeverReplayedIdempotentOnesAre) {
  Backend s1("s1");
  Backend s2("s2");
  Ferry f(config({s1.port(), s2.port()}));
  int port = f.port("web");
  int posts502 = 0;
  int posts200 = 0;
  for (int i = 0; i < 6; ++i) {
    std::string r = rawExchange(port,
                                "POST /reset-if?name=s1 HTTP/1.1\r\nHost: a\r\nContent-Length: "
                                "5\r\nConnection: close\r\n\r\nhello",
                                10s);
    int st = statusOf(r);
    if (st == 502) ++posts502;
    if (st == 200) ++posts200;
  }
  EXPECT_EQ(posts502 + posts200, 6);
  EXPECT_GE(posts502, 1);
  // Each POST reached exactly one backend once: none was replayed.
  EXPECT_EQ(s1.requests() + s2.requests(), 6);
  long before = s1.requests() + s2.requests();
  for (int i = 0; i < 6; ++i) {
    std::string r = rawExchange(
        port, "GET /reset-if?name=s1 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", 10s);
    EXPECT_EQ(statusOf(r), 200) << r;
    EXPECT_NE(r.find("s2"), std::string::npos) << r;
  }
  EXPECT_GE(s1.requests() + s2.requests() - before, 6);
}

// A backend that closes mid-body never turns into a complete response: the client connection is
// cut, so the client sees fewer bytes than announced and the end of the connection.
TEST(Session, TruncatedResponseCutsTheClientConnection) {
  Backend s1("s1");
  Ferry f(config({s1.port()}));
  RawClient c(f.port("web"));
  ASSERT_TRUE(c.send("GET /truncate?bytes=200000 HTTP/1.1\r\nHost: a\r\n\r\n"));
  std::string all = c.readUntilClose(10s);
  EXPECT_EQ(statusOf(all), 200);
  std::size_t body = all.size() - (all.find("\r\n\r\n") + 4);
  EXPECT_LT(body, 200000U);
  EXPECT_TRUE(c.peerClosed(1s));
  // And ferry serves the next client normally.
  EXPECT_EQ(statusOf(rawExchange(f.port("web"),
                                 "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")),
            200);
}

// Slowloris with idle connections: a fresh connection that sends nothing is closed after
// request_header_timeout, not after the keep-alive idle_timeout.
TEST(Session, SilentNewConnectionIsClosedAfterTheHeaderTimeout) {
  Backend s1("s1");
  Ferry f(config({s1.port()}, "    request_header_timeout: 500ms\n    idle_timeout: 120s\n"));
  RawClient c(f.port("web"));
  ASSERT_TRUE(c.connected());
  EXPECT_TRUE(c.peerClosed(30s));
}

// A client that stalls mid-upload, before any response, gets 408.
TEST(Session, ClientStallingMidBodyGets408) {
  Backend s1("s1");
  Ferry f(config({s1.port()}, "    request_body_timeout: 500ms\n"));
  RawClient c(f.port("web"));
  ASSERT_TRUE(c.send("POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\n\r\n0123456789"));
  std::string resp = c.readResponse(30s);
  EXPECT_EQ(statusOf(resp), 408) << resp;
}

// Pipelined requests with bodies are answered in order on one connection.
TEST(Session, PipelinedRequestsWithBodiesAreAnsweredInOrder) {
  Backend s1("s1");
  Ferry f(config({s1.port()}));
  RawClient c(f.port("web"));
  ASSERT_TRUE(
      c.send("POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\none"
             "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
             "3\r\ntwo\r\n0\r\n\r\n"
             "GET / HTTP/1.1\r\nHost: a\r\n\r\n"));
  std::string r1 = c.readResponse();
  std::string r2 = c.readResponse();
  std::string r3 = c.readResponse();
  EXPECT_EQ(r1.substr(r1.size() - 3), "one") << r1;
  EXPECT_EQ(r2.substr(r2.size() - 3), "two") << r2;
  EXPECT_EQ(r3.substr(r3.size() - 3), "s1\n") << r3;
}

// The access log names the termination cause of every request.
TEST(Session, AccessLogNamesTheCause) {
  Backend s1("s1");
  ReservedPort dead;
  Ferry f(config({dead.port()}, "", "", true));
  std::string r = rawExchange(f.port("web"), "GET /x HTTP/1.1\r\nHost: a\r\n\r\n", 10s);
  EXPECT_EQ(statusOf(r), 502);
  EXPECT_TRUE(waitUntil([&] {
    return f.process().logText().find("cause=upstream_connect_refused") != std::string::npos;
  })) << f.process().logText();
}

// SIGTERM drains: idle keep-alive connections are closed at once, a request in flight finishes
// (told Connection: close), and ferry exits 0.
TEST(Session, StopDrainsIdleConnectionsAndFinishesRequestsInFlight) {
  if (testingUnderWine()) {
    GTEST_SKIP() << "Windows stops on a console control event or a service stop, not SIGTERM: "
                    "the service test (tests/deploy/windows_service.sh) covers it";
  }
  Backend s1("s1");
  Ferry f(config({s1.port()}));
  int port = f.port("web");
  RawClient idle(port);
  ASSERT_TRUE(idle.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n"));
  ASSERT_EQ(statusOf(idle.readResponse()), 200);
  RawClient busy(port);
  ASSERT_TRUE(busy.send("GET /slow?ms=1500 HTTP/1.1\r\nHost: a\r\n\r\n"));
  // The slow request is in flight once the backend counted it.
  ASSERT_TRUE(waitUntil([&] { return s1.requests() >= 2; }));
  ::kill(f.process().pid(), SIGTERM);
  EXPECT_TRUE(idle.peerClosed(10s));
  std::string resp = busy.readResponse(10s);
  EXPECT_EQ(statusOf(resp), 200) << resp;
  EXPECT_NE(resp.find("Connection: close"), std::string::npos) << resp;
  EXPECT_EQ(f.process().stop(), 0) << f.process().logText();
}

// A TCP listener forwards raw bytes to its cluster, passing half-closes on: the client's FIN
// reaches the backend, which still answers, and the backend's FIN reaches the client.
TEST(Session, TcpListenerRelaysBytesAndHalfCloses) {
  Backend s1("s1");
  Ferry f(
      "workers: 1\naccess_log: true\nadmin: { address: {{ADMIN}} }\n"
      "listeners:\n  - { name: db, address: 127.0.0.1:0, protocol: tcp, cluster: c }\n"
      "clusters:\n  - { name: c, endpoints: [127.0.0.1:" +
      std::to_string(s1.port()) + "] }\n");
  RawClient c(f.port("db"));
  ASSERT_TRUE(c.send("POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello"));
  c.shutdownWrite();
  std::string all = c.readUntilClose(10s);
  EXPECT_EQ(statusOf(all), 200) << all;
  EXPECT_EQ(all.substr(all.size() - 5), "hello") << all;
  EXPECT_EQ(all.find("Via:"), std::string::npos) << "bytes are not HTTP-processed: " << all;
  EXPECT_TRUE(waitUntil([&] {
    return f.process().logText().find(" tcp db ") != std::string::npos;
  })) << f.process().logText();
}

// PROXY protocol both ways: a listener reads the header a trusted L4 balancer sends (its client
// becomes X-Forwarded-For), and a cluster sends one to its backends; a malformed header closes
// the connection without an answer.
TEST(Session, ProxyProtocolAcceptedFromTheFrontAndSentToBackends) {
  Backend s1("s1");
  Ferry f(config({s1.port()}, "    accept_proxy_protocol: true\n", "    proxy_protocol: v1\n"));
  std::string r = rawExchange(f.port("web"),
                              "PROXY TCP4 203.0.113.7 127.0.0.1 5555 80\r\n"
                              "GET /headers HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
                              10s);
  EXPECT_EQ(statusOf(r), 200) << r;
  EXPECT_NE(r.find("X-Forwarded-For: 203.0.113.7\r\n"), std::string::npos) << r;
  EXPECT_NE(r.find("PROXY TCP4 203.0.113.7 "), std::string::npos) << r;
  std::string bad =
      rawExchange(f.port("web"), "PROXY TCP9 nonsense\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 10s);
  EXPECT_EQ(bad, "");
}

// ferry's resident memory (VmRSS) in KiB, from /proc.
long rssKiB(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::atol(line.c_str() + 6);
  }
  return -1;
}

// 1 GiB up and 1 GiB down through ferry: flow control keeps one bounded buffer per direction,
// so ferry's RSS stays under 64 MiB however fast or slow either side is.
TEST(Session, OneGiBEachWayKeepsRssBounded) {
  if (testingUnderWine()) {
    GTEST_SKIP() << "under Wine the process's RSS is mostly Wine's own; measured on Linux";
  }
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "AddressSanitizer's shadow memory and quarantine are in RSS; measured without";
#endif
  Backend s1("s1");
  Ferry f(config({s1.port()}));
  const std::size_t kTotal = std::size_t{1} << 30;
  const long kLimitKiB = 64 * 1024;
  long maxRss = rssKiB(f.process().pid());
  {
    RawClient c(f.port("web"));
    ASSERT_TRUE(c.send("POST /sink HTTP/1.1\r\nHost: a\r\nContent-Length: " +
                       std::to_string(kTotal) + "\r\n\r\n"));
    std::string piece(1 << 20, 'u');
    for (std::size_t off = 0; off < kTotal; off += piece.size()) {
      ASSERT_TRUE(c.send(piece)) << "at " << off;
      if ((off >> 20) % 32 == 0) maxRss = std::max(maxRss, rssKiB(f.process().pid()));
    }
    std::string resp = c.readResponse(60s);
    EXPECT_EQ(statusOf(resp), 200) << resp;
    EXPECT_NE(resp.find("bytes=" + std::to_string(kTotal)), std::string::npos) << resp;
  }
  {
    RawClient c(f.port("web"));
    ASSERT_TRUE(c.send("GET /stream?bytes=" + std::to_string(kTotal) +
                       " HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"));
    std::size_t got = 0;
    std::vector<char> buf(1 << 20);
    auto deadline = std::chrono::steady_clock::now() + 120s;
    std::size_t chunks = 0;
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd p{c.fd(), POLLIN, 0};
      if (::poll(&p, 1, 10000) <= 0) break;
      ssize_t n = ::recv(c.fd(), buf.data(), buf.size(), 0);
      if (n <= 0) break;
      got += static_cast<std::size_t>(n);
      if (++chunks % 256 == 0) maxRss = std::max(maxRss, rssKiB(f.process().pid()));
    }
    EXPECT_GT(got, kTotal);  // the head, then every body byte
  }
  maxRss = std::max(maxRss, rssKiB(f.process().pid()));
  std::printf("ferry max RSS during 1 GiB up + 1 GiB down: %ld KiB\n", maxRss);
  EXPECT_GT(maxRss, 0);
  EXPECT_LT(maxRss, kLimitKiB);
}

}  // namespace
}  // namespace ferry::test
