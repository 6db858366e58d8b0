// Every rule an HTTP/1.1 intermediary keeps, through the real binary: the backend's /headers
// answers with the exact head it received, so each test asserts the bytes the backend saw.

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <string>
#include <thread>

#include "tests/support/harness.h"

namespace ferry::test {
namespace {

std::string config(int backend, const std::string& listenerExtra = "",
                   const std::string& routeExtra = "", const std::string& clusterExtra = "") {
  return "workers: 1\naccess_log: false\nadmin: { address: {{ADMIN}} }\n"
         "listeners:\n  - name: web\n    address: 127.0.0.1:0\n" +
         listenerExtra +
         "    routes:\n      - name: all\n        match: { path_prefix: / }\n        cluster: c\n" +
         routeExtra +
         "clusters:\n  - name: c\n    endpoints: [127.0.0.1:" + std::to_string(backend) + "]\n" +
         clusterExtra;
}

// A backend that serves one connection from a script, on its own thread: it reads one request
// head, sends `response`, then either waits for ferry to close the connection (and records that
// it did), resets it (SO_LINGER 0), or closes it. For backend behaviour test_backend has no
// mode for: a bad response on a connection left open, an HTTP/1.0 answer, a reset mid-body.
class ScriptBackend {
 public:
  enum class Then { kWaitForClose, kReset, kClose };
  ScriptBackend(std::string response, Then then)
      : server_([this, response = std::move(response), then](int c) {
          std::string got;
          char buf[4096];
          while (got.find("\r\n\r\n") == std::string::npos) {
            pollfd q{c, POLLIN, 0};
            if (::poll(&q, 1, 20000) != 1) break;
            ssize_t n = ::recv(c, buf, sizeof(buf), 0);
            if (n <= 0) break;
            got.append(buf, static_cast<std::size_t>(n));
          }
          sendAll(c, response);
          if (then == Then::kWaitForClose) {
            for (;;) {  // until ferry closes its side (EOF or reset), at most 20 s of silence
              pollfd q{c, POLLIN, 0};
              if (::poll(&q, 1, 20000) != 1) break;
              ssize_t n = ::recv(c, buf, sizeof(buf), 0);
              if (n <= 0) {
                closedByFerry_ = true;
                break;
              }
            }
          } else if (then == Then::kReset) {
            // Only once the test saw the response begin at the client (release()): a reset that
            // overtook ferry's read would be a reset before the response, another case.
            for (int i = 0; i < 2000 && !released_; ++i) ::poll(nullptr, 0, 10);
            linger lg{1, 0};
            ::setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
          }
        }) {}
  int port() const { return server_.port(); }
  // ferry closed the connection after the response (kWaitForClose).
  bool closedByFerry() const { return closedByFerry_; }
  // kReset: the reset may go now.
  void release() { released_ = true; }

 private:
  std::atomic<bool> closedByFerry_{false};
  std::atomic<bool> released_{false};
  OneShotBackend server_;  // last: its thread ends before the flags go
};

// Two routes: /script/... to cluster `s` (a ScriptBackend), the rest to cluster `c`.
std::string scriptConfig(int script, int backend, const std::string& listenerExtra = "") {
  return "workers: 1\naccess_log: false\nadmin: { address: {{ADMIN}} }\n"
         "listeners:\n  - name: web\n    address: 127.0.0.1:0\n" +
         listenerExtra +
         "    routes:\n"
         "      - { name: script, match: { path_prefix: /script }, cluster: s }\n"
         "      - { name: all, match: { path_prefix: / }, cluster: c }\n"
         "clusters:\n  - { name: s, endpoints: [127.0.0.1:" +
         std::to_string(script) +
         "] }\n  - { name: c, endpoints: [127.0.0.1:" + std::to_string(backend) + "] }\n";
}

std::string get(int port, const std::string& request) {
  return rawExchange(port, request, 10s);
}

std::string bodyOf(const std::string& r) {
  std::size_t p = r.find("\r\n\r\n");
  return p == std::string::npos ? "" : r.substr(p + 4);
}

TEST(HttpRules, ViaOnRequestsAndResponsesAndOff) {
  Backend s1("s1");
  {
    Ferry f(config(s1.port()));
    std::string r =
        get(f.port("web"), "GET /headers HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    EXPECT_NE(bodyOf(r).find("Via: 1.1 ferry\r\n"), std::string::npos) << r;
    EXPECT_NE(r.substr(0, r.find("\r\n\r\n")).find("Via: 1.1 ferry"), std::string::npos) << r;
  }
  Ferry f(config(s1.port(), "    via: off\n"));
  std::string r =
      get(f.port("web"), "GET /headers HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(r.find("Via:"), std::string::npos) << r;
}

// A named pseudonym, appended to a Via chain the client (and the backend) already started.
TEST(HttpRules, ViaPseudonymIsAppendedToTheChain) {
  Backend s1("s1");
  Ferry f(config(s1.port(), "    via: edge-1\n"));
  std::string r =
      get(f.port("web"),
          "GET /headers HTTP/1.1\r\nHost: a\r\nVia: 1.0 lb\r\nConnection: close\r\n\r\n");
  std::string b = bodyOf(r);
  std::size_t at = b.find("Via: ");
  ASSERT_NE(at, std::string::npos) << b;
  std::string chain = b.substr(at, b.find("\r\n", at) - at);
  // One field "1.0 lb, 1.1 edge-1", or the client's field followed by ferry's own.
  EXPECT_TRUE(chain == "Via: 1.0 lb, 1.1 edge-1" ||
              (chain == "Via: 1.0 lb" && b.find("Via: 1.1 edge-1\r\n", at) != std::string::npos))
      << b;
  EXPECT_NE(r.substr(0, r.find("\r\n\r\n")).find("1.1 edge-1"), std::string::npos) << r;
}

TEST(HttpRules, MaxForwardsAndTrace) {
  Backend s1("s1");
  Ferry f(config(s1.port()));
  int port = f.port("web");
  std::string r = get(port,
                      "OPTIONS /x HTTP/1.1\r\nHost: a\r\nMax-Forwards: 0\r\n"
                      "Connection: close\r\n\r\n");
  EXPECT_EQ(statusOf(r), 200) << r;
  EXPECT_NE(r.find("Allow: "), std::string::npos) << r;
  EXPECT_EQ(s1.requests(), 0);  // ferry answered itself
  r = get(port,
          "OPTIONS /headers HTTP/1.1\r\nHost: a\r\nMax-Forwards: 5\r\nConnection: close\r\n\r\n");
  EXPECT_NE(bodyOf(r).find("Max-Forwards: 4\r\n"), std::string::npos) << r;
  r = get(port, "TRACE / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(statusOf(r), 405) << r;
  Ferry t(config(s1.port(), "", "        allow_trace: true\n"));
  r = get(t.port("web"),
          "TRACE /t HTTP/1.1\r\nHost: a\r\nMax-Forwards: 0\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(statusOf(r), 200) << r;
  EXPECT_NE(r.find("message/http"), std::string::npos) << r;
  EXPECT_NE(bodyOf(r).find("TRACE /t HTTP/1.1"), std::string::npos) << r;
}

TEST(HttpRules, AbsoluteFormTargetReplacesHostAndGoesOriginForm) {
  Backend s1("s1");
  Ferry f(config(s1.port()));
  std::string r = get(f.port("web"),
                      "GET http://example.test/headers?q=1 HTTP/1.1\r\n"
                      "Host: other\r\nConnection: close\r\n\r\n");
  std::string b = bodyOf(r);
  EXPECT_EQ(b.rfind("GET /headers?q=1 HTTP/1.1\r\n", 0), 0U) << b;
  EXPECT_NE(b.find("Host: example.test\r\n"), std::string::npos) << b;
  EXPECT_EQ(b.find("other"), std::string::npos) << b;
}

TEST(HttpRules, LimitsHaveTheirOwnStatuses) {
  Backend s1("s1");
  Ferry f(config(s1.port(), "    max_request_target_bytes: 256\n    max_request_headers: 5\n"));
  int port = f.port("web");
  const std::string normal = "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
  EXPECT_EQ(statusOf(get(port, "GET /" + std::string(300, 'a') + " HTTP/1.1\r\nHost: a\r\n\r\n")),
            414);
  EXPECT_EQ(statusOf(get(port, normal)), 200) << "after the 414";
  std::string many = "GET / HTTP/1.1\r\nHost: a\r\n";
  for (int i = 0; i < 8; ++i) many += "X-" + std::to_string(i) + ": v\r\n";
  EXPECT_EQ(statusOf(get(port, many + "\r\n")), 431);
  EXPECT_EQ(s1.requests(), 1);  // only the normal request reached the backend
  EXPECT_EQ(statusOf(get(port, normal)), 200) << "after the 431";
}

// A chunked body has no Content-Length to refuse up front: it is counted as it streams, and
// passing max_request_body_bytes gets 413 (no response had begun).
TEST(HttpRules, ChunkedBodyOverTheLimitGets413) {
  Backend s1("s1");
  Ferry f(config(s1.port(), "    max_request_body_bytes: 1KiB\n"));
  RawClient c(f.port("web"));
  ASSERT_TRUE(c.send("POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"));
  std::string chunk = "200\r\n" + std::string(512, 'x') + "\r\n";
  for (int i = 0; i < 8; ++i) c.send(chunk);  // 4 KiB; ferry may stop reading before the end
  std::string r = c.readResponse(10s);
  EXPECT_EQ(statusOf(r), 413) << r;
  EXPECT_EQ(statusOf(get(f.port("web"), "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")),
            200);
}

// The limit counts payload, not chunk framing: exactly 1 KiB in 64 chunks (1 KiB of payload,
// ~1.4 KiB on the wire) is within max_request_body_bytes: 1KiB, and reaches the backend whole.
TEST(HttpRules, ChunkedBodyAtTheLimitPasses) {
  Backend s1("s1");
  Ferry f(config(s1.port(), "    max_request_body_bytes: 1KiB\n"));
  std::string req =
      "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
      "Connection: close\r\n\r\n";
  for (int i = 0; i < 64; ++i) req += "10\r\n" + std::string(16, 'y') + "\r\n";
  req += "0\r\n\r\n";
  std::string r = rawExchange(f.port("web"), req, 10s);
  EXPECT_EQ(statusOf(r), 200) << r;
  EXPECT_NE(r.find(std::string(1024, 'y')), std::string::npos) << r.substr(0, 400);
}

TEST(HttpRules, Http10Clients) {
  Backend s1("s1");
  Ferry f(config(s1.port()));
  int port = f.port("web");
  // Without keep-alive: the response says close and the connection ends.
  RawClient a(port);
  ASSERT_TRUE(a.send("GET / HTTP/1.0\r\nHost: a\r\n\r\n"));
  std::string r = a.readResponse();
  EXPECT_EQ(statusOf(r), 200) << r;
  EXPECT_NE(r.find("Connection: close"), std::string::npos) << r;
  EXPECT_TRUE(a.peerClosed());
  // With keep-alive and a known length: kept, and said so.
  RawClient b(port);
  ASSERT_TRUE(b.send("GET / HTTP/1.0\r\nHost: a\r\nConnection: keep-alive\r\n\r\n"));
  r = b.readResponse();
  EXPECT_NE(r.find("Connection: keep-alive"), std::string::npos) << r;
  ASSERT_TRUE(b.send("GET / HTTP/1.0\r\nHost: a\r\nConnection: keep-alive\r\n\r\n"));
  EXPECT_EQ(statusOf(b.readResponse()), 200);
  // A chunked body is never sent to a 1.0 client: de-chunked, close-delimited.
  RawClient c(port);
  ASSERT_TRUE(c.send("GET /big?bytes=300000&chunked=1 HTTP/1.0\r\nHost: a\r\n\r\n"));
  r = c.readUntilClose(20s);
  EXPECT_EQ(r.find("Transfer-Encoding"), std::string::npos) << r.substr(0, 300);
  EXPECT_EQ(bodyOf(r).size(), 300000U);
  EXPECT_EQ(bodyOf(r).substr(0, 26), "abcdefghijklmnopqrstuvwxyz");
}

TEST(HttpRules, MalformedResponsesGive502AndFerryGoesOn) {
  Backend s1("s1");
  Ferry f(config(s1.port()));
  int port = f.port("web");
  for (std::string kind : {"cl-te", "two-cl", "bare-lf", "obs-fold", "status", "nul"}) {
    std::string r = get(port, "GET /bad?kind=" + kind + " HTTP/1.1\r\nHost: a\r\n\r\n");
    EXPECT_EQ(statusOf(r), 502) << kind << ": " << r;
    EXPECT_EQ(statusOf(get(port, "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")), 200)
        << "after " << kind;
  }
}

TEST(HttpRules, ForwardingHeadersFromTrustedProxiesAndRequestIds) {
  Backend s1("s1");
  Ferry f(config(s1.port(),
                 "    trusted_proxies: [127.0.0.1/32]\n"
                 "    forwarding: { x_forwarded_host: append, forwarded: replace }\n"));
  std::string r =
      get(f.port("web"),
          "GET /headers HTTP/1.1\r\nHost: a.test\r\nX-Forwarded-For: 10.0.0.1\r\n"
          "X-Request-Id: abc-123\r\nForwarded: for=6.6.6.6\r\nConnection: close\r\n\r\n");
  std::string b = bodyOf(r);
  EXPECT_NE(b.find("X-Forwarded-For: 10.0.0.1, 127.0.0.1\r\n"), std::string::npos) << b;
  EXPECT_NE(b.find("X-Request-Id: abc-123\r\n"), std::string::npos) << b;
  EXPECT_NE(b.find("X-Forwarded-Host: a.test\r\n"), std::string::npos) << b;
  EXPECT_EQ(b.find("6.6.6.6"), std::string::npos) << b;
  EXPECT_NE(b.find("Forwarded: for=127.0.0.1"), std::string::npos) << b;
}

TEST(HttpRules, HeaderRulesAndHostRewrite) {
  Backend s1("s1");
  Ferry f(config(s1.port(), "",
                 "        request_headers: { set: { X-Env: prod }, remove: [X-Secret] }\n"
                 "        response_headers: { add: { X-Served-By: ferry } }\n",
                 "    host_rewrite: backend.internal\n"));
  std::string r = get(f.port("web"),
                      "GET /headers HTTP/1.1\r\nHost: a\r\nX-Secret: s\r\n"
                      "X-Env: dev\r\nConnection: close\r\n\r\n");
  std::string b = bodyOf(r);
  EXPECT_NE(b.find("X-Env: prod\r\n"), std::string::npos) << b;
  EXPECT_EQ(b.find("X-Env: dev"), std::string::npos) << b;
  EXPECT_EQ(b.find("X-Secret"), std::string::npos) << b;
  EXPECT_NE(b.find("Host: backend.internal\r\n"), std::string::npos) << b;
  EXPECT_NE(r.find("X-Served-By: ferry\r\n"), std::string::npos) << r;
}

TEST(HttpRules, ErrorResponsesHaveBodiesAndPagesComeFromFiles) {
  ReservedPort dead;
  std::string dir = ::testing::TempDir();
  // One name per process: the io_uring and epoll copies of this test may run at once.
  std::string page = dir + "/ferry-502-page-" + std::to_string(::getpid()) + ".html";
  std::ofstream(page) << "<h1>our backends are resting</h1>\n";
  Ferry f(config(dead.port(), "    error_pages: { 502: " + page + " }\n"));
  std::string r = get(f.port("web"), "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(statusOf(r), 502) << r;
  EXPECT_EQ(bodyOf(r), "<h1>our backends are resting</h1>\n") << r;
  r = get(f.port("web"), "GET /" + std::string(9000, 'a') + " HTTP/1.1\r\nHost: a\r\n\r\n");
  EXPECT_EQ(statusOf(r), 414) << r;
  EXPECT_FALSE(bodyOf(r).empty()) << r;
  std::remove(page.c_str());
}

// Routing through the real binary: a canary by header, a weighted split, a direct response, a
// redirect, and a route's whole-exchange timeout (504).
TEST(Routes, MatchingSplitsLocalAnswersAndTimeouts) {
  Backend blue("blue");
  Backend green("green");
  Ferry f(
      "workers: 1\naccess_log: false\nadmin: { address: {{ADMIN}} }\n"
      "listeners:\n  - name: web\n    address: 127.0.0.1:0\n    routes:\n"
      "      - { name: canary, match: { path_prefix: /, headers: [{ name: X-Canary, exact: "
      "\"1\" }] }, cluster: green }\n"
      "      - { name: health, match: { path: /health }, direct_response: { status: 200, "
      "body: \"fine\" } }\n"
      "      - { name: old, match: { path_prefix: /old }, redirect: { to: \"/new\", status: "
      "301 } }\n"
      "      - { name: slow, match: { path_prefix: /slow }, cluster: blue, timeout: 300ms }\n"
      "      - name: split\n        match: { path_prefix: / }\n"
      "        clusters: [{ name: blue, weight: 1 }, { name: green, weight: 1 }]\n"
      "clusters:\n  - { name: blue, endpoints: [127.0.0.1:" +
      std::to_string(blue.port()) +
      "] }\n  - { name: green, endpoints: [127.0.0.1:" + std::to_string(green.port()) + "] }\n");
  int port = f.port("web");
  std::string r =
      get(port, "GET / HTTP/1.1\r\nHost: a\r\nX-Canary: 1\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(bodyOf(r), "green\n") << r;
  r = get(port, "GET /health HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(statusOf(r), 200);
  EXPECT_EQ(bodyOf(r), "fine");
  r = get(port, "GET /old/x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(statusOf(r), 301) << r;
  EXPECT_NE(r.find("Location: /new\r\n"), std::string::npos) << r;
  r = get(port, "GET /slow?ms=3000 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(statusOf(r), 504) << r;
  int blues = 0;
  int greens = 0;
  for (int i = 0; i < 40; ++i) {
    std::string b = bodyOf(get(port, "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"));
    blues += b == "blue\n";
    greens += b == "green\n";
  }
  EXPECT_EQ(blues + greens, 40);
  EXPECT_GT(blues, 0);
  EXPECT_GT(greens, 0);
}

// A Content-Length over max_request_body_bytes is refused with 413 at admission, before any byte
// goes to a backend; ferry then serves the next client normally.
TEST(HttpRules, ContentLengthOverTheLimitGets413BeforeTheBackend) {
  Backend s1("s1");
  Ferry f(config(s1.port(), "    max_request_body_bytes: 1KiB\n"));
  int port = f.port("web");
  std::string r = get(port, "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 1025\r\n\r\n" +
                                std::string(1025, 'x'));
  EXPECT_EQ(statusOf(r), 413) << r;
  EXPECT_FALSE(bodyOf(r).empty()) << r;
  EXPECT_EQ(s1.requests(), 0);
  r = get(port,
          "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 1024\r\nConnection: close\r\n\r\n" +
              std::string(1024, 'y'));
  EXPECT_EQ(statusOf(r), 200) << r;
  EXPECT_EQ(bodyOf(r), std::string(1024, 'y'));
}

// Routing uses an absolute-form target's authority, not the Host header it replaces.
TEST(HttpRules, AbsoluteFormAuthorityIsWhatRoutesMatch) {
  Backend blue("blue");
  Backend green("green");
  Ferry f(
      "workers: 1\naccess_log: false\nadmin: { address: {{ADMIN}} }\n"
      "listeners:\n  - name: web\n    address: 127.0.0.1:0\n    routes:\n"
      "      - { name: ex, match: { host: example.test }, cluster: green }\n"
      "      - { name: all, match: { path_prefix: / }, cluster: blue }\n"
      "clusters:\n  - { name: blue, endpoints: [127.0.0.1:" +
      std::to_string(blue.port()) +
      "] }\n  - { name: green, endpoints: [127.0.0.1:" + std::to_string(green.port()) + "] }\n");
  int port = f.port("web");
  std::string r =
      get(port, "GET http://example.test/x HTTP/1.1\r\nHost: other\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(bodyOf(r), "green\n") << r;
  r = get(port, "GET http://other/x HTTP/1.1\r\nHost: example.test\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(bodyOf(r), "blue\n") << r;
  r = get(port, "GET /x HTTP/1.1\r\nHost: example.test\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(bodyOf(r), "green\n") << r;
}

// An HTTP/1.0 client that asked for keep-alive still gets a close when the response length is
// unknown to it: a chunked body is de-chunked and delimited by the close.
TEST(HttpRules, Http10KeepAliveClientGetsACloseWhenTheLengthIsUnknown) {
  Backend s1("s1");
  Ferry f(config(s1.port()));
  RawClient c(f.port("web"));
  ASSERT_TRUE(
      c.send("GET /big?bytes=5000&chunked=1 HTTP/1.0\r\nHost: a\r\n"
             "Connection: keep-alive\r\n\r\n"));
  std::string r = c.readUntilClose(20s);
  EXPECT_EQ(statusOf(r), 200) << r.substr(0, 300);
  std::string head = r.substr(0, r.find("\r\n\r\n"));
  EXPECT_EQ(head.find("Transfer-Encoding"), std::string::npos) << head;
  EXPECT_EQ(head.find("keep-alive"), std::string::npos) << head;
  EXPECT_EQ(bodyOf(r).size(), 5000U);
  EXPECT_EQ(bodyOf(r).substr(0, 26), "abcdefghijklmnopqrstuvwxyz");
}

// An HTTP/1.0 backend is handled as an HTTP/1.0 client is: a body without a length ends at its
// close (the client is told Connection: close), and a 1.0 response without keep-alive is never
// pooled: ferry closes that connection even when the backend leaves it open.
TEST(HttpRules, Http10BackendsAreReadToTheCloseAndNeverPooled) {
  Backend s1("s1");
  {
    ScriptBackend b("HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the close",
                    ScriptBackend::Then::kClose);
    Ferry f(scriptConfig(b.port(), s1.port()));
    RawClient c(f.port("web"));
    ASSERT_TRUE(c.send("GET /script HTTP/1.1\r\nHost: a\r\n\r\n"));
    std::string r = c.readUntilClose(20s);
    EXPECT_EQ(statusOf(r), 200) << r;
    EXPECT_EQ(bodyOf(r), "until the close") << r;
    EXPECT_NE(r.find("Connection: close\r\n"), std::string::npos) << r;
  }
  ScriptBackend b("HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nhello",
                  ScriptBackend::Then::kWaitForClose);
  Ferry f(scriptConfig(b.port(), s1.port()));
  RawClient c(f.port("web"));
  ASSERT_TRUE(c.send("GET /script HTTP/1.1\r\nHost: a\r\n\r\n"));
  std::string r = c.readResponse(20s);
  EXPECT_EQ(statusOf(r), 200) << r;
  EXPECT_EQ(bodyOf(r), "hello") << r;
  EXPECT_TRUE(waitUntil([&] { return b.closedByFerry(); }, 20s))
      << "ferry kept an HTTP/1.0 backend connection that did not ask for keep-alive";
  // The client's own connection (HTTP/1.1) stays usable.
  ASSERT_TRUE(c.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n"));
  EXPECT_EQ(bodyOf(c.readResponse(10s)), "s1\n");
}

// Malformed responses test_backend cannot send (bad chunk lines, a bare CR) on a connection the
// backend leaves open: 502 for the client, and ferry closes that backend connection instead of
// pooling it; then it serves a normal request.
TEST(HttpRules, MalformedResponsesCloseTheBackendConnection) {
  Backend s1("s1");
  const std::pair<const char*, std::string> cases[] = {
      {"bad chunk size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhi\r\n"},
      {"chunk size with bare LF",
       "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\nhi\r\n0\r\n\r\n"},
      {"chunk data without CRLF",
       "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhiX\r\n0\r\n\r\n"},
      {"bare CR in a value", "HTTP/1.1 200 OK\r\nX: a\rb\r\nContent-Length: 2\r\n\r\nhi"},
      {"bare CR in the reason", "HTTP/1.1 200 O\rK\r\nContent-Length: 2\r\n\r\nhi"},
      {"same Content-Length twice",
       "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nhi"},
  };
  for (const auto& [name, response] : cases) {
    ScriptBackend b(response, ScriptBackend::Then::kWaitForClose);
    Ferry f(scriptConfig(b.port(), s1.port()));
    int port = f.port("web");
    std::string r = get(port, "GET /script HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    EXPECT_EQ(statusOf(r), 502) << name << ": " << r;
    EXPECT_TRUE(waitUntil([&] { return b.closedByFerry(); }, 20s))
        << name << ": the backend connection was not closed";
    EXPECT_EQ(statusOf(get(port, "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")), 200)
        << "after " << name;
  }
}

// A backend that resets mid-body: the client's connection is cut (fewer bytes than announced,
// then the end), never completed; ferry then serves a normal request.
TEST(HttpRules, BackendResetMidResponseCutsTheClient) {
  Backend s1("s1");
  ScriptBackend b("HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + std::string(1000, 'z'),
                  ScriptBackend::Then::kReset);
  Ferry f(scriptConfig(b.port(), s1.port()));
  RawClient c(f.port("web"));
  ASSERT_TRUE(c.send("GET /script HTTP/1.1\r\nHost: a\r\n\r\n"));
  // The head and the first body bytes reach the client before the reset.
  std::string start;
  auto deadline = std::chrono::steady_clock::now() + 20s;
  char buf[4096];
  while (start.find(std::string(1000, 'z')) == std::string::npos &&
         std::chrono::steady_clock::now() < deadline) {
    pollfd p{c.fd(), POLLIN, 0};
    if (::poll(&p, 1, 1000) != 1) continue;
    ssize_t n = ::recv(c.fd(), buf, sizeof(buf), 0);
    if (n <= 0) break;
    start.append(buf, static_cast<std::size_t>(n));
  }
  ASSERT_EQ(statusOf(start), 200) << start;
  b.release();
  std::string rest = c.readUntilClose(20s);
  EXPECT_TRUE(c.peerClosed(1s)) << "the client connection was not cut";
  EXPECT_EQ(bodyOf(start + rest).size(), 1000U);
  EXPECT_EQ(statusOf(get(f.port("web"), "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")),
            200);
}

// X-Request-Id: an untrusted client's is replaced by a generated one, a trusted client's is kept;
// either way the backend gets it and the access log prints it.
TEST(HttpRules, RequestIdsAreGeneratedOrKeptAndLogged) {
  Backend s1("s1");
  auto yaml = [&](const std::string& trusted) {
    return "workers: 1\naccess_log: true\nadmin: { address: {{ADMIN}} }\n"
           "listeners:\n  - name: web\n    address: 127.0.0.1:0\n    trusted_proxies: [" +
           trusted +
           "]\n    routes:\n      - { name: all, match: { path_prefix: / }, cluster: c }\n"
           "clusters:\n  - { name: c, endpoints: [127.0.0.1:" +
           std::to_string(s1.port()) + "] }\n";
  };
  const std::string req =
      "GET /headers HTTP/1.1\r\nHost: a\r\nX-Request-Id: abc-123\r\nConnection: close\r\n\r\n";
  {
    Ferry f(yaml("10.0.0.0/8"));
    std::string b = bodyOf(get(f.port("web"), req));
    std::size_t at = b.find("X-Request-Id: ");
    ASSERT_NE(at, std::string::npos) << b;
    std::string id = b.substr(at + 14, b.find("\r\n", at) - at - 14);
    EXPECT_FALSE(id.empty());
    EXPECT_NE(id, "abc-123") << "an untrusted client's id was kept";
    EXPECT_EQ(b.find("abc-123"), std::string::npos) << b;
    EXPECT_TRUE(waitUntil([&] {
      return f.process().logText().find("id=" + id) != std::string::npos;
    })) << f.process().logText();
  }
  Ferry f(yaml("127.0.0.1/32"));
  std::string b = bodyOf(get(f.port("web"), req));
  EXPECT_NE(b.find("X-Request-Id: abc-123\r\n"), std::string::npos) << b;
  EXPECT_TRUE(waitUntil([&] {
    return f.process().logText().find("id=abc-123") != std::string::npos;
  })) << f.process().logText();
}

// An Upgrade request goes to the backend with Upgrade and Connection: upgrade; an answer other
// than 101 is a normal response, and the client connection goes on serving requests.
TEST(HttpRules, UpgradeAnsweredWithoutA101StaysHttp) {
  Backend s1("s1");
  Ferry f(config(s1.port()));
  RawClient c(f.port("web"));
  ASSERT_TRUE(
      c.send("GET /headers HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\n"
             "Upgrade: websocket\r\n\r\n"));
  std::string r = c.readResponse(10s);
  EXPECT_EQ(statusOf(r), 200) << r;
  std::string b = bodyOf(r);
  EXPECT_NE(b.find("Upgrade: websocket\r\n"), std::string::npos) << b;
  EXPECT_NE(b.find("Connection: upgrade\r\n"), std::string::npos) << b;
  ASSERT_TRUE(c.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n"));
  EXPECT_EQ(bodyOf(c.readResponse(10s)), "s1\n");
}

// A real WebSocket client and server (Debian's python3-websockets) through ferry: the 101
// turns the exchange into a tunnel; 1 MiB each way and the close handshake.
TEST(HttpRules, WebSocketThroughFerry) {
  if (run("/usr/bin/python3 -c \"import websockets\" && echo yes").out.find("yes") ==
      std::string::npos) {
    GTEST_SKIP() << "python3-websockets is not installed";
  }
  Process server({"/usr/bin/python3", sourceDir() + "/tests/support/ws_peer.py", "server"}, true);
  int wsPort = std::atoi(server.firstLine().c_str());
  ASSERT_GT(wsPort, 0) << server.logText();
  Ferry f(config(wsPort, "    tunnel_idle_timeout: 30s\n"));
  CommandResult r = run("/usr/bin/python3 " + sourceDir() + "/tests/support/ws_peer.py client " +
                            "ws://127.0.0.1:" + std::to_string(f.port("web")) + "/chat 1048576",
                        60);
  EXPECT_EQ(r.exitCode, 0) << r.out << "\nferry:\n" << f.process().logText();
  EXPECT_NE(r.out.find("ok"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace ferry::test
