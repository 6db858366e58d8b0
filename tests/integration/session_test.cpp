// The session's phases through the real binary: full-duplex exchanges (early responses),
// retry safety, truncation made visible, timeouts per phase, and the termination cause in the
// access log. Test backends answer with their names (tests/support/test_backend.cpp).

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <functional>
#include <string>
#include <thread>
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

// A POST that reached a backend and then timed out is never sent again, even with retry_on
// timeout; a GET that timed out the same way is retried on the other endpoint.
TEST(Session, PostThatTimedOutIsNeverReplayedGetIs) {
  Backend s1("s1");
  Backend s2("s2");
  Ferry f(config({s1.port(), s2.port()}, "",
                 "    response_timeout: 300ms\n"
                 "    retry: { retry_on: [timeout, reset], max_retries: 1 }\n"));
  int port = f.port("web");
  std::string r = rawExchange(port,
                              "POST /slow?ms=2000 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
                              "Connection: close\r\n\r\nhello",
                              10s);
  EXPECT_EQ(statusOf(r), 504) << r;
  EXPECT_EQ(s1.requests() + s2.requests(), 1) << "the POST was replayed";
  r = rawExchange(port, "GET /slow?ms=2000 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", 10s);
  EXPECT_EQ(statusOf(r), 504) << r;
  EXPECT_TRUE(waitUntil([&] { return s1.requests() + s2.requests() == 3; }))
      << "the GET was not retried: " << s1.requests() + s2.requests();
}

// A TCP listener spreads connections over its cluster's endpoints round robin, and a refused
// connect moves on to the next endpoint (nothing was sent), so no connection fails.
TEST(Session, TcpListenerRoundRobinSkipsARefusingEndpoint) {
  Backend s1("s1");
  Backend s2("s2");
  ReservedPort dead;
  Ferry f(
      "workers: 1\naccess_log: false\nadmin: { address: {{ADMIN}} }\n"
      "listeners:\n  - { name: db, address: 127.0.0.1:0, protocol: tcp, cluster: c }\n"
      "clusters:\n  - { name: c, endpoints: [127.0.0.1:" +
      std::to_string(dead.port()) + ", 127.0.0.1:" + std::to_string(s1.port()) +
      ", 127.0.0.1:" + std::to_string(s2.port()) + "] }\n");
  int ones = 0;
  int twos = 0;
  for (int i = 0; i < 6; ++i) {
    std::string r =
        rawExchange(f.port("db"), "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", 10s);
    EXPECT_EQ(statusOf(r), 200) << r;
    ones += r.find("\r\n\r\ns1\n") != std::string::npos;
    twos += r.find("\r\n\r\ns2\n") != std::string::npos;
  }
  EXPECT_EQ(ones + twos, 6);
  EXPECT_GT(ones, 0);
  EXPECT_GT(twos, 0);
}

// Half-close the other way round: the backend's FIN reaches the client, and the client's
// direction stays open: what it sends afterwards still reaches the backend, then its own FIN.
TEST(Session, TcpBackendsHalfCloseKeepsTheClientsDirectionOpen) {
  std::string atBackend;
  std::atomic<bool> backendSawEof{false};
  OneShotBackend backend([&](int fd) {
    if (!sendAll(fd, "bye from the server\n")) return;
    ::shutdown(fd, SHUT_WR);
    backendSawEof = readFd(fd, atBackend);
  });
  Ferry f(
      "workers: 1\naccess_log: false\nadmin: { address: {{ADMIN}} }\n"
      "listeners:\n  - { name: db, address: 127.0.0.1:0, protocol: tcp, cluster: c }\n"
      "clusters:\n  - { name: c, endpoints: [127.0.0.1:" +
      std::to_string(backend.port()) + "] }\n");
  RawClient c(f.port("db"));
  ASSERT_TRUE(c.connected());
  std::string got;
  EXPECT_TRUE(readFd(c.fd(), got)) << "the backend's FIN did not reach the client: " << got;
  EXPECT_EQ(got, "bye from the server\n");
  ASSERT_TRUE(c.send("still talking after your FIN\n"));
  c.shutdownWrite();
  EXPECT_TRUE(waitUntil([&] { return backendSawEof.load(); }, 20s));
  EXPECT_EQ(atBackend, "still talking after your FIN\n");
}

// tunnel_idle_timeout through the binary: a TCP tunnel with no byte either way is closed on both
// sides once it passes (the same tunnel() carries WebSocket connections after a 101).
TEST(Session, IdleTunnelIsClosedAfterTunnelIdleTimeout) {
  std::atomic<bool> backendSawEnd{false};
  OneShotBackend backend([&](int fd) {
    std::string ignored;
    readFd(fd, ignored);  // until ferry ends the connection (or 20 s of silence)
    backendSawEnd = true;
  });
  Ferry f(
      "workers: 1\naccess_log: true\nadmin: { address: {{ADMIN}} }\n"
      "listeners:\n  - { name: db, address: 127.0.0.1:0, protocol: tcp, cluster: c,"
      " tunnel_idle_timeout: 500ms }\n"
      "clusters:\n  - { name: c, endpoints: [127.0.0.1:" +
      std::to_string(backend.port()) + "] }\n");
  RawClient c(f.port("db"));
  ASSERT_TRUE(c.connected());
  EXPECT_TRUE(c.peerClosed(15s)) << "the idle tunnel was not closed";
  EXPECT_TRUE(waitUntil([&] { return backendSawEnd.load(); }, 15s));
  EXPECT_TRUE(waitUntil([&] {
    return f.process().logText().find("cause=tunnel_idle_timeout") != std::string::npos;
  })) << f.process().logText();
}

// PROXY protocol v2: a binary header from the front names the client (X-Forwarded-For and the
// access log), a cluster with proxy_protocol: v2 sends one to its backend (the exact signature,
// command, family and source), and a header that does not complete within
// proxy_protocol_timeout closes the connection; ferry then goes on serving.
TEST(Session, ProxyProtocolV2BothWaysAndTheHeaderTimeout) {
  std::string atBackend;
  std::atomic<bool> b2Read{false};
  OneShotBackend b2([&](int fd) {
    // The request head's end, after the 28 bytes of the v2 header (whose signature begins with
    // CR LF CR LF itself).
    readFd(fd, atBackend, [](const std::string& s) {
      return s.size() > 28 && s.find("\r\n\r\n", 28) != std::string::npos;
    });
    b2Read = true;
    sendAll(fd, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
  });
  Backend s1("s1");
  Ferry f(
      "workers: 1\naccess_log: true\nadmin: { address: {{ADMIN}} }\n"
      "listeners:\n  - name: web\n    address: 127.0.0.1:0\n    accept_proxy_protocol: true\n"
      "    proxy_protocol_timeout: 300ms\n    request_header_timeout: 120s\n"
      "    routes:\n      - { name: v2, match: { path_prefix: /v2 }, cluster: v2 }\n"
      "      - { name: all, match: { path_prefix: / }, cluster: c }\n"
      "clusters:\n  - { name: c, endpoints: [127.0.0.1:" +
      std::to_string(s1.port()) +
      "] }\n  - name: v2\n    proxy_protocol: v2\n    endpoints: [127.0.0.1:" +
      std::to_string(b2.port()) + "]\n");
  int port = f.port("web");
  // v2, PROXY command, TCP over IPv4: 203.0.113.9:5555 -> 127.0.0.1:80.
  const std::string sig("\r\n\r\n\0\r\nQUIT\n", 12);
  const std::string v2 = sig + std::string("\x21\x11\x00\x0c", 4) +
                         std::string("\xcb\x00\x71\x09\x7f\x00\x00\x01\x15\xb3\x00\x50", 12);
  std::string r =
      rawExchange(port, v2 + "GET /headers HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", 10s);
  EXPECT_EQ(statusOf(r), 200) << r;
  EXPECT_NE(r.find("X-Forwarded-For: 203.0.113.9\r\n"), std::string::npos) << r;
  EXPECT_TRUE(waitUntil([&] {
    return f.process().logText().find("203.0.113.9 \"GET /headers ") != std::string::npos;
  })) << "the access log does not name the client from the PROXY header:\n"
      << f.process().logText();
  r = rawExchange(port, v2 + "GET /v2 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", 10s);
  EXPECT_EQ(statusOf(r), 200) << r;
  ASSERT_TRUE(waitUntil([&] { return b2Read.load(); }));
  ASSERT_GE(atBackend.size(), 36U) << atBackend;
  EXPECT_EQ(atBackend.substr(0, 16), sig + std::string("\x21\x11\x00\x0c", 4));
  EXPECT_EQ(atBackend.substr(16, 4), std::string("\xcb\x00\x71\x09", 4)) << "source address";
  EXPECT_EQ(atBackend.substr(24, 2), std::string("\x15\xb3", 2)) << "source port";
  EXPECT_EQ(atBackend.substr(28, 8), "GET /v2 ") << atBackend.substr(28);
  // Half a header, then silence: closed after proxy_protocol_timeout (request_header_timeout
  // is 120 s, so only the PROXY header's timeout can end it within the deadline).
  RawClient stall(port);
  ASSERT_TRUE(stall.send("PROXY TCP4 203.0.113.9 "));
  EXPECT_TRUE(stall.peerClosed(30s));
  EXPECT_EQ(statusOf(rawExchange(port,
                                 "PROXY TCP4 203.0.113.9 127.0.0.1 5555 80\r\n"
                                 "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
                                 10s)),
            200);
}

// A client that reads nothing while its backend streams: ferry reads from the backend only as
// fast as the client drains, so the backend's sends stall (3 s without progress) after a bounded
// amount, ferry's RSS stays small, and once the client reads, every byte arrives.
TEST(Session, SlowReaderMakesTheBackendWaitNotFerryBuffer) {
  if (testingUnderWine()) {
    GTEST_SKIP() << "the bound below is made of Linux socket buffer sizes; RSS under Wine is "
                    "mostly Wine's own";
  }
  const std::size_t kTotal = std::size_t{128} << 20;
  std::atomic<bool> stalled{false};
  std::atomic<std::size_t> stalledAt{0};
  std::atomic<bool> stop{false};
  OneShotBackend backend([&](int fd) {
    if (!readHead(fd)) return;
    int small = 64 * 1024;
    ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
    timeval tv{3, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    if (!sendAll(fd, "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(kTotal) + "\r\n\r\n")) {
      return;
    }
    std::string piece(1 << 20, 'd');
    std::size_t sent = 0;
    while (sent < kTotal && !stop) {
      std::size_t k = std::min(piece.size(), kTotal - sent);
      ssize_t n = ::send(fd, piece.data(), k, MSG_NOSIGNAL);
      if (n > 0) {
        sent += static_cast<std::size_t>(n);
      } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        if (!stalled) stalledAt = sent;
        stalled = true;  // 3 s and not a byte taken: ferry stopped reading
      } else {
        return;
      }
    }
  });
  Ferry f(config({backend.port()}));
  RawClient c(f.port("web"));
  ASSERT_TRUE(c.connected());
  int small = 64 * 1024;
  ::setsockopt(c.fd(), SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
  ASSERT_TRUE(c.send("GET /stream HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"));
  bool wasStalled = waitUntil([&] { return stalled.load(); }, 60s);
  long rss = rssKiB(f.process().pid());
  if (!wasStalled) stop = true;
  ASSERT_TRUE(wasStalled) << "the backend never had to wait: ferry buffered the body";
  // What the kernel may hold in between: ferry's receive buffer from the backend (tcp_rmem's
  // maximum, 32 MiB here), its send buffer to the client (4 MiB), the two 64 KiB ends, ferry's
  // one buffer per direction. Buffering in ferry would have taken all 128 MiB.
  EXPECT_LT(stalledAt.load(), std::size_t{64} << 20);
  std::printf("backend stalled after %zu bytes; ferry RSS then %ld KiB\n", stalledAt.load(), rss);
  EXPECT_GT(rss, 0);
#if !defined(__SANITIZE_ADDRESS__)  // AddressSanitizer's shadow memory alone is over the bound
  EXPECT_LT(rss, 64 * 1024);
#endif
  std::size_t got = 0;
  std::vector<char> buf(1 << 20);
  auto deadline = std::chrono::steady_clock::now() + 120s;
  while (std::chrono::steady_clock::now() < deadline) {  // to ferry's close (Connection: close)
    pollfd p{c.fd(), POLLIN, 0};
    if (::poll(&p, 1, 10000) <= 0) break;
    ssize_t n = ::recv(c.fd(), buf.data(), buf.size(), 0);
    if (n <= 0) break;
    got += static_cast<std::size_t>(n);
  }
  stop = true;
  EXPECT_GT(got, kTotal);  // the head, then every body byte
}

// The pattern test_backend's /big sends: byte i is 'a' + i % 26.
bool isPattern(std::string_view body, std::size_t n) {
  if (body.size() != n) return false;
  for (std::size_t i = 0; i < n; ++i) {
    if (body[i] != static_cast<char>('a' + i % 26)) return false;
  }
  return true;
}

// Long Content-Length bodies (spliced on Linux: session/http_session.cpp, spliceBody) arrive
// byte for byte, read to their length exactly: every response of one keep-alive client goes
// over one backend connection, reused after each (the lengths straddle the splice threshold
// and the pipe's 64 KiB chunk).
TEST(Session, LongBodiesArriveExactAndTheBackendConnectionIsReused) {
  Backend s1("s1");
  Ferry f(config({s1.port()}));
  RawClient c(f.port("web"));
  for (std::size_t n : {std::size_t{40000}, std::size_t{1048589}, std::size_t{32768},
                        std::size_t{100}, std::size_t{65536 + 16384}, std::size_t{3000000}}) {
    ASSERT_TRUE(c.send("GET /big?bytes=" + std::to_string(n) + " HTTP/1.1\r\nHost: a\r\n\r\n"));
    std::string r = c.readResponse(30s);
    ASSERT_EQ(statusOf(r), 200) << n;
    std::size_t head = r.find("\r\n\r\n");
    ASSERT_NE(head, std::string::npos);
    EXPECT_TRUE(isPattern(std::string_view(r).substr(head + 4), n)) << n;
  }
  EXPECT_EQ(s1.connections(), 1);
}

// A backend that sends bytes past a long body's Content-Length (here a whole second response,
// in the same write): they are never taken for the next request's answer. The spliced body is
// read to its length exactly, so ferry looks at the connection before pooling it, finds the
// bytes and closes it; the next request goes to a new connection (which this one-connection
// backend never answers: 504 after response_timeout).
TEST(Session, BytesPastALongBodyNeverAnswerTheNextRequest) {
  std::atomic<bool> secondRequest{false};
  OneShotBackend backend([&](int fd) {
    if (!readHead(fd)) return;
    std::string body(100000, 'b');
    sendAll(fd, "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + body +
                    "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nEVIL!");
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 5000) == 1) {
      char b[4096];
      secondRequest = ::recv(fd, b, sizeof(b), 0) > 0;
    }
  });
  Ferry f(config({backend.port()}, "", "    response_timeout: 1s\n"));
  RawClient c(f.port("web"));
  ASSERT_TRUE(c.send("GET /one HTTP/1.1\r\nHost: a\r\n\r\n"));
  std::string r = c.readResponse(20s);
  ASSERT_EQ(statusOf(r), 200);
  EXPECT_EQ(r.size() - (r.find("\r\n\r\n") + 4), 100000U);
  ASSERT_TRUE(c.send("GET /two HTTP/1.1\r\nHost: a\r\n\r\n"));
  std::string r2 = c.readResponse(20s);
  EXPECT_EQ(statusOf(r2), 504) << r2;
  EXPECT_EQ(r2.find("EVIL"), std::string::npos);
  EXPECT_FALSE(secondRequest.load());
}

// A backend that stalls in the middle of a long body: the client connection is cut after
// response_timeout (the body cannot be completed), and the access log names the cause.
TEST(Session, BackendStallingMidBodyIsCutAfterTheResponseTimeout) {
  std::atomic<bool> stop{false};
  OneShotBackend backend([&](int fd) {
    if (!readHead(fd)) return;
    sendAll(fd, "HTTP/1.1 200 OK\r\nContent-Length: 500000\r\n\r\n" + std::string(200000, 'b'));
    waitUntil([&] { return stop.load(); }, 20s);
  });
  Ferry f(config({backend.port()}, "", "    response_timeout: 1s\n", true));
  RawClient c(f.port("web"));
  ASSERT_TRUE(c.send("GET /stall HTTP/1.1\r\nHost: a\r\n\r\n"));
  std::string all = c.readUntilClose(20s);
  stop = true;
  EXPECT_EQ(statusOf(all), 200);
  EXPECT_EQ(all.size() - (all.find("\r\n\r\n") + 4), 200000U);
  EXPECT_TRUE(waitUntil([&] {
    return f.process().logText().find("cause=upstream_timeout_during_response") !=
           std::string::npos;
  })) << f.process().logText();
}

// A client that goes away in the middle of a long body: the exchange ends (its backend
// connection is not pooled half read) and ferry serves the next client.
TEST(Session, ClientLeavingMidBodyEndsTheExchange) {
  Backend s1("s1");
  Ferry f(config({s1.port()}, "", "", true));
  {
    RawClient c(f.port("web"));
    int small = 64 * 1024;
    ::setsockopt(c.fd(), SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
    ASSERT_TRUE(c.send("GET /big?bytes=50000000 HTTP/1.1\r\nHost: a\r\n\r\n"));
    char buf[4096];
    pollfd p{c.fd(), POLLIN, 0};
    ASSERT_EQ(::poll(&p, 1, 20000), 1);
    ASSERT_GT(::recv(c.fd(), buf, sizeof(buf), 0), 0);
  }
  EXPECT_TRUE(waitUntil([&] {
    return f.process().logText().find("cause=client_closed") != std::string::npos;
  })) << f.process().logText();
  RawClient c(f.port("web"));
  ASSERT_TRUE(c.send("GET /big?bytes=70000 HTTP/1.1\r\nHost: a\r\n\r\n"));
  std::string r = c.readResponse(20s);
  ASSERT_EQ(statusOf(r), 200);
  EXPECT_TRUE(isPattern(std::string_view(r).substr(r.find("\r\n\r\n") + 4), 70000));
}

}  // namespace
}  // namespace ferry::test
