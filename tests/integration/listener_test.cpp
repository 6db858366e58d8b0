// Listening sockets as the runtime opens them. HTTP listeners defer accepting a connection until
// the client's first bytes arrived (Linux TCP_DEFER_ACCEPT): the kernel keeps a connection whose
// client has sent nothing as a request in SYN-RECV instead of handing it to ferry, so ferry's
// first read of a new connection finds the request (io/README.md, S2). TCP listeners do not
// defer: there the server may speak first. Seen from outside through /proc/net/tcp: the server
// side of a silent connection, SYN-RECV (03) or ESTABLISHED (01).

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "tests/support/harness.h"

namespace ferry::test {
namespace {

// The state (hex, as in /proc/net/tcp) of the IPv4 socket or request from 127.0.0.1:local to
// 127.0.0.1:remote, or "" if there is none.
std::string tcpState(int localPort, int remotePort) {
  char local[32], remote[32];
  std::snprintf(local, sizeof(local), "0100007F:%04X", localPort);
  std::snprintf(remote, sizeof(remote), "0100007F:%04X", remotePort);
  std::ifstream in("/proc/net/tcp");
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string slot, l, r, st;
    fields >> slot >> l >> r >> st;
    if (l == local && r == remote) return st;
  }
  return "";
}

int localPortOf(int fd) {
  sockaddr_in a{};
  socklen_t len = sizeof(a);
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) return -1;
  return ntohs(a.sin_port);
}

std::string config(int backendPort) {
  return "workers: 1\naccess_log: false\nadmin: { address: {{ADMIN}} }\n"
         "listeners:\n"
         "  - name: web\n    address: 127.0.0.1:0\n"
         "    routes: [ { match: { path_prefix: / }, cluster: c } ]\n"
         "  - { name: t, address: 127.0.0.1:0, protocol: tcp, cluster: c }\n"
         "clusters:\n  - { name: c, endpoints: [127.0.0.1:" +
         std::to_string(backendPort) + "] }\n";
}

TEST(Listener, HttpListenersAcceptOnceTheClientSpokeTcpListenersAtOnce) {
  if (testingUnderWine()) GTEST_SKIP() << "Windows has no TCP_DEFER_ACCEPT (AcceptEx instead)";
  Backend s1("s1");
  Ferry f(config(s1.port()));

  // TCP listener: the server side of a silent connection is established at once.
  RawClient tcp(f.port("t"));
  ASSERT_TRUE(tcp.connected());
  int tcpClientPort = localPortOf(tcp.fd());
  EXPECT_TRUE(waitUntil([&] { return tcpState(f.port("t"), tcpClientPort) == "01"; }))
      << "state " << tcpState(f.port("t"), tcpClientPort);

  // HTTP listener: SYN-RECV while the client is silent. The kernel hands a silent connection
  // over after about a second anyway; a probe that comes later (a starved test machine) is
  // retried on a new connection.
  bool deferred = false;
  for (int attempt = 0; attempt < 5 && !deferred; ++attempt) {
    RawClient c(f.port("web"));
    ASSERT_TRUE(c.connected());
    std::string st = tcpState(f.port("web"), localPortOf(c.fd()));
    deferred = st == "03";
    if (!deferred) continue;
    // Once the request comes, the connection is accepted and served.
    ASSERT_TRUE(c.send("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"));
    std::string resp = c.readResponse();
    EXPECT_EQ(statusOf(resp), 200) << resp;
  }
  EXPECT_TRUE(deferred) << "the server side of a silent HTTP connection was never in SYN-RECV";
}

}  // namespace
}  // namespace ferry::test
