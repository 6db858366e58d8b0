// The session's phases through the real binary: full-duplex exchanges (early responses),
// retry safety, truncation made visible, timeouts per phase, and the termination cause in the
// access log. Test backends answer with their names (tests/support/test_backend.cpp).

#include <gtest/gtest.h>

#include <string>

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
  Ferry f(config({s1.port()}, "    idle_timeout: 500ms\n"));
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

}  // namespace
}  // namespace ferry::test
