// TCP listeners (`protocol: tcp`) through the real binary, with backends written here: a
// protocol where the server speaks first (SMTP, MySQL, Redis's replies to nothing...), half-close
// in the client's direction, and a volume large enough that the relay moves it in many chunks
// (spliced in the kernel on Linux, buffers elsewhere) arriving byte for byte.

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <thread>

#include "tests/support/harness.h"

namespace ferry::test {
namespace {

using ThreadBackend = OneShotBackend;

std::string tcpConfig(int backendPort) {
  return "workers: 1\naccess_log: true\nadmin: { address: {{ADMIN}} }\n"
         "listeners:\n  - { name: t, address: 127.0.0.1:0, protocol: tcp, cluster: c }\n"
         "clusters:\n  - { name: c, endpoints: [127.0.0.1:" +
         std::to_string(backendPort) + "] }\n";
}

// The backend greets first; the client reads the greeting before sending anything (so a listener
// that waited for client bytes before accepting would hang here), sends its request and
// half-closes; the backend reads to that end and only then answers, and the answer still reaches
// the client, followed by the backend's close.
TEST(TcpListener, ServerSpeaksFirstAndTheAnswerOutlivesTheClientsHalfClose) {
  std::atomic<bool> sawEof{false};
  std::string request;
  ThreadBackend backend([&](int fd) {
    if (!sendAll(fd, "220 ready\r\n")) return;
    if (!readFd(fd, request)) return;
    sawEof = true;
    sendAll(fd, "250 got " + std::to_string(request.size()) + " bytes\r\n");
  });
  Ferry f(tcpConfig(backend.port()));
  RawClient c(f.port("t"));
  ASSERT_TRUE(c.connected());
  // The greeting arrives while the client has sent nothing.
  pollfd p{c.fd(), POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 10000), 1) << "no greeting: the server must be able to speak first";
  char greet[64];
  ssize_t n = ::recv(c.fd(), greet, sizeof(greet), 0);
  ASSERT_GT(n, 0);
  EXPECT_EQ(std::string(greet, static_cast<std::size_t>(n)), "220 ready\r\n");
  ASSERT_TRUE(c.send("HELO client\r\nDATA\r\n"));
  c.shutdownWrite();
  std::string rest = c.readUntilClose(10s);
  EXPECT_TRUE(sawEof) << "the client's FIN did not reach the backend";
  EXPECT_EQ(request, "HELO client\r\nDATA\r\n");
  EXPECT_EQ(rest, "250 got 19 bytes\r\n");
  EXPECT_TRUE(waitUntil([&] { return f.process().logText().find(" tcp t ") != std::string::npos; }))
      << f.process().logText();
}

// 64 MiB each way at once (many relay chunks, both directions busy together), byte for byte;
// then each side's FIN is passed on.
TEST(TcpListener, VolumeBothWaysArrivesByteForByte) {
  const std::size_t kBytes = std::size_t{64} << 20;
  auto pattern = [](std::size_t n, unsigned seed) {
    std::string s(n, '\0');
    for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * seed) >> 7);
    return s;
  };
  const std::string up = pattern(kBytes, 131);
  const std::string down = pattern(kBytes, 197);
  std::string atBackend;
  std::atomic<bool> backendOk{false};
  ThreadBackend backend([&](int fd) {
    std::thread writer([&] {
      if (sendAll(fd, down)) ::shutdown(fd, SHUT_WR);
    });
    backendOk = readFd(fd, atBackend);
    writer.join();
  });
  Ferry f(tcpConfig(backend.port()));
  RawClient c(f.port("t"));
  ASSERT_TRUE(c.connected());
  std::thread writer([&] {
    if (sendAll(c.fd(), up)) ::shutdown(c.fd(), SHUT_WR);
  });
  std::string atClient;
  bool clientOk = readFd(c.fd(), atClient);
  writer.join();
  EXPECT_TRUE(clientOk);
  EXPECT_EQ(atClient.size(), down.size());
  EXPECT_TRUE(atClient == down) << "bytes differ on the way down";
  EXPECT_TRUE(waitUntil([&] { return backendOk.load(); }, 20s));
  EXPECT_EQ(atBackend.size(), up.size());
  EXPECT_TRUE(atBackend == up) << "bytes differ on the way up";
}

// A TCP connection goes through the cluster's upstream contract as an HTTP request does:
// max_active_requests refuses a second connection while the first is tunnelled (closed at once,
// counted as rejected), the connect shows in the connect-time histogram, and the tunnel's life in
// ferry_tunnel_duration_seconds{kind="tcp"}, with no HTTP series for the TCP listener.
TEST(TcpListener, ConnectionsAreAdmittedMeasuredAndTunnelsTimedApart) {
  std::string got;
  ThreadBackend backend([&](int fd) {
    if (readFd(fd, got)) sendAll(fd, "bye");
  });
  Ferry f(
      "workers: 1\naccess_log: true\nadmin: { address: {{ADMIN}} }\n"
      "listeners:\n  - { name: t, address: 127.0.0.1:0, protocol: tcp, cluster: c }\n"
      "clusters:\n  - { name: c, max_active_requests: 1, endpoints: [127.0.0.1:" +
      std::to_string(backend.port()) + "] }\n");
  RawClient first(f.port("t"));
  ASSERT_TRUE(first.connected());
  ASSERT_TRUE(first.send("hello"));
  ASSERT_TRUE(waitUntil([&] {
    return f.metric(R"(ferry_upstream_connections_opened_total{cluster="c"})") == 1;
  })) << f.process().logText();
  RawClient second(f.port("t"));
  EXPECT_TRUE(second.peerClosed(10s)) << "max_active_requests: 1 let a second tunnel through";
  EXPECT_EQ(f.metric(R"(ferry_upstream_rejected_active_total{cluster="c"})"), 1);
  first.shutdownWrite();
  EXPECT_EQ(first.readUntilClose(10s), "bye");
  EXPECT_EQ(got, "hello");
  ASSERT_TRUE(waitUntil([&] {
    return f.metric(R"(ferry_tunnel_duration_seconds_count{listener="t",kind="tcp"})") == 1;
  })) << f.metrics();
  EXPECT_EQ(f.metric(R"(ferry_upstream_connect_duration_seconds_count{cluster="c"})"), 1);
  EXPECT_EQ(
      f.metric(R"(ferry_upstream_connections_closed_total{cluster="c",reason="not_reusable"})"), 1);
  EXPECT_EQ(f.metric(R"(ferry_upstream_requests_active{cluster="c"})"), 0);
  std::string m = f.metrics();
  EXPECT_EQ(m.find(R"(ferry_http_requests_total{listener="t")"), std::string::npos);
  EXPECT_EQ(m.find(R"(ferry_http_request_duration_seconds_count{listener="t")"), std::string::npos);
  EXPECT_EQ(m.find(R"(ferry_http_requests_active{listener="t")"), std::string::npos);
}

// A refused connect is the endpoint's error (ferry_upstream_endpoint_responses_total) and an
// outlier report: with consecutive_connect_failures: 1 the dead endpoint is ejected after its
// first failure, so of four connections only one tries it; every one is served by the other.
TEST(TcpListener, AFailedConnectCountsForTheEndpointAndEjectsIt) {
  ReservedPort dead;
  Backend s1("s1");
  std::string deadName = "127.0.0.1:" + std::to_string(dead.port());
  Ferry f(
      "workers: 1\naccess_log: true\nadmin: { address: {{ADMIN}} }\n"
      "listeners:\n  - { name: t, address: 127.0.0.1:0, protocol: tcp, cluster: c }\n"
      "clusters:\n  - name: c\n    endpoints: [" +
      deadName + ", 127.0.0.1:" + std::to_string(s1.port()) +
      "]\n    outlier_detection: { consecutive_connect_failures: 1, "
      "max_ejection_percent: 50 }\n");
  for (int i = 0; i < 4; ++i) {
    std::string r =
        rawExchange(f.port("t"), "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", 10s);
    EXPECT_NE(r.find("s1"), std::string::npos) << i << ": " << r;
  }
  std::string errors = R"(ferry_upstream_endpoint_responses_total{cluster="c",endpoint=")" +
                       deadName + R"(",class="error"})";
  EXPECT_EQ(f.metric(errors), 1) << f.metrics();
  EXPECT_EQ(f.metric(R"(ferry_upstream_outlier_ejections_total{cluster="c"})"), 1);
  EXPECT_EQ(f.metric(R"(ferry_upstream_connect_failures_total{cluster="c"})"), 1);
}

}  // namespace
}  // namespace ferry::test
