// Every rule an HTTP/1.1 intermediary keeps, through the real binary: the backend's /headers
// answers with the exact head it received, so each test asserts the bytes the backend saw.

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <string>

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
  EXPECT_EQ(statusOf(get(port, "GET /" + std::string(300, 'a') + " HTTP/1.1\r\nHost: a\r\n\r\n")),
            414);
  std::string many = "GET / HTTP/1.1\r\nHost: a\r\n";
  for (int i = 0; i < 8; ++i) many += "X-" + std::to_string(i) + ": v\r\n";
  EXPECT_EQ(statusOf(get(port, many + "\r\n")), 431);
  EXPECT_EQ(s1.requests(), 0);
  EXPECT_EQ(statusOf(get(port, "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")), 200);
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
  std::string page = dir + "/ferry-502-page.html";
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
