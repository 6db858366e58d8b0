// Listening sockets as the runtime opens them. HTTP listeners defer accepting a connection until
// the client's first bytes arrived (Linux TCP_DEFER_ACCEPT): the kernel keeps a connection whose
// client has sent nothing as a request in SYN-RECV instead of handing it to ferry, so ferry's
// first read of a new connection finds the request (io/README.md, S2). TCP listeners do not
// defer: there the server may speak first. Seen from outside through /proc/net/tcp: the server
// side of a silent connection, SYN-RECV (03) or ESTABLISHED (01).
//
// Pacing accepts (io/accept_gate.h): more clients than file descriptors, and the process-wide
// max_connections. Over the limit ferry stops accepting and the kernel's backlog holds clients
// until one closes; it never spins on a failing accept.

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

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

// CPU time (user + system) ferry's process used so far, in seconds (/proc/PID/stat fields 14
// and 15, in clock ticks).
double cpuSeconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  std::getline(in, stat);
  std::istringstream fields(stat.substr(stat.rfind(')') + 2));  // from field 3, the state
  std::string field;
  unsigned long long ticks = 0;
  for (int i = 3; i <= 15 && fields >> field; ++i) {
    if (i >= 14) ticks += std::stoull(field);
  }
  return static_cast<double>(ticks) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

// Lowers this process's soft RLIMIT_NOFILE while it lives, so that a child started meanwhile
// (ferry) inherits the low limit, as under `prlimit --nofile=N`.
class LowFileLimit {
 public:
  explicit LowFileLimit(rlim_t n) {
    ::getrlimit(RLIMIT_NOFILE, &saved_);
    rlimit low = saved_;
    low.rlim_cur = n;
    ::setrlimit(RLIMIT_NOFILE, &low);
  }
  ~LowFileLimit() { ::setrlimit(RLIMIT_NOFILE, &saved_); }
  LowFileLimit(const LowFileLimit&) = delete;
  LowFileLimit& operator=(const LowFileLimit&) = delete;

 private:
  rlimit saved_{};
};

// Keep-alive clients that each sent one GET; responses are collected as they come.
struct Clients {
  std::vector<std::unique_ptr<RawClient>> conns;
  std::vector<std::string> responses;  // complete ones; empty while waiting
  std::vector<bool> closed;

  Clients(int port, int n) {
    for (int i = 0; i < n; ++i) {
      conns.push_back(std::make_unique<RawClient>(port));
      conns.back()->send("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    }
    responses.resize(conns.size());
    closed.resize(conns.size(), false);
  }
  // Reads what arrived within `wait`; returns how many clients have a response.
  std::size_t poll(std::chrono::milliseconds wait) {
    std::vector<pollfd> fds;
    for (std::size_t i = 0; i < conns.size(); ++i) {
      if (!closed[i] && responses[i].empty()) fds.push_back({conns[i]->fd(), POLLIN, 0});
    }
    ::poll(fds.data(), fds.size(), static_cast<int>(wait.count()));
    for (std::size_t i = 0; i < conns.size(); ++i) {
      if (!closed[i] && responses[i].empty() && readable(conns[i]->fd())) {
        responses[i] = conns[i]->readResponse(2s);
      }
    }
    return answered();
  }
  std::size_t answered() const {
    std::size_t n = 0;
    for (const auto& r : responses) n += r.empty() ? 0 : 1;
    return n;
  }
  // Clients answered with anything but 200.
  std::size_t failed() const {
    std::size_t n = 0;
    for (const auto& r : responses) n += !r.empty() && statusOf(r) != 200 ? 1 : 0;
    return n;
  }
  // Closes every answered client (ferry's side of it ends; the budget has room again).
  void closeAnswered() {
    for (std::size_t i = 0; i < conns.size(); ++i) {
      if (!responses[i].empty() && !closed[i]) {
        conns[i].reset();
        closed[i] = true;
      }
    }
  }
  static bool readable(int fd) {
    pollfd p{fd, POLLIN, 0};
    return ::poll(&p, 1, 0) == 1;
  }
};

std::size_t warningLines(const std::string& log) {
  std::size_t n = 0;
  std::istringstream in(log);
  for (std::string line; std::getline(in, line);) {
    n += line.find(" warning ") != std::string::npos || line.find(" error ") != std::string::npos;
  }
  return n;
}

std::string pacedConfig(int backendPort, const std::string& extra) {
  return "workers: 2\naccess_log: false\nadmin: { address: {{ADMIN}} }\n" + extra +
         "listeners:\n"
         "  - name: web\n    address: 127.0.0.1:0\n"
         "    routes: [ { match: { path_prefix: / }, cluster: c } ]\n"
         "clusters:\n  - { name: c, endpoints: [127.0.0.1:" +
         std::to_string(backendPort) + "] }\n";
}

// prlimit --nofile=256 and 400 clients: ferry admits what its descriptors allow (keeping one for
// each client's upstream connect), the backlog holds the rest, nothing spins, nobody gets a 502,
// and everyone is served as others leave.
TEST(Listener, MoreClientsThanDescriptorsWaitInTheBacklogWithoutSpinning) {
  if (testingUnderWine()) GTEST_SKIP() << "RLIMIT_NOFILE is a Linux limit";
  constexpr int kClients = 400;
  Backend s1("s1");
  std::unique_ptr<Ferry> f;
  {
    LowFileLimit low(256);
    f = std::make_unique<Ferry>(pacedConfig(s1.port(), ""));
  }
  double limit = f->metric("ferry_downstream_connections_limit");
  ASSERT_GT(limit, 10) << f->metrics();
  ASSERT_LT(limit, 128);
  Clients clients(f->port("web"), kClients);
  // Saturated: the budget is full and the rest wait in the backlog.
  auto end = std::chrono::steady_clock::now() + 20s;
  while (clients.poll(50ms) < static_cast<std::size_t>(limit) &&
         std::chrono::steady_clock::now() < end) {
  }
  ASSERT_EQ(clients.answered(), static_cast<std::size_t>(limit));
  EXPECT_EQ(f->metric("ferry_downstream_connections"), limit);

  // A bounded window while saturated: ferry's CPU stays far below a core (a busy accept loop
  // took both workers' cores), and no one more is admitted.
  double before = cpuSeconds(f->process().pid());
  clients.poll(1000ms);
  double used = cpuSeconds(f->process().pid()) - before;
  std::printf("ferry's CPU while saturated: %.2f s in 1 s\n", used);
  EXPECT_LT(used, 0.25) << "ferry used " << used << " s of CPU in 1 s while saturated";
  EXPECT_EQ(clients.answered(), static_cast<std::size_t>(limit));

  // The flood ends: as clients leave, the waiting ones are served, every one with a 200.
  end = std::chrono::steady_clock::now() + 60s;
  while (clients.answered() < kClients && std::chrono::steady_clock::now() < end) {
    clients.closeAnswered();
    clients.poll(50ms);
  }
  EXPECT_EQ(clients.answered(), static_cast<std::size_t>(kClients));
  EXPECT_EQ(clients.failed(), 0U);
  clients.closeAnswered();
  EXPECT_EQ(statusOf(rawExchange(f->port("web"),
                                 "GET / HTTP/1.1\r\nHost: a\r\nConnection: "
                                 "close\r\n\r\n")),
            200);
  EXPECT_GE(f->metric("ferry_accept_pauses_total"), 1);
  std::string log = f->process().logText();
  EXPECT_LE(warningLines(log), 8U) << log;  // at most a few per worker and episode
}

// max_connections counts the process's client connections: one over it waits in the backlog
// (not refused) and is served once another closes.
TEST(Listener, ConnectionsOverMaxConnectionsWaitUntilOthersClose) {
  Backend s1("s1");
  Ferry f(pacedConfig(s1.port(), "max_connections: 4\n"));
  EXPECT_EQ(f.metric("ferry_downstream_connections_limit"), 4);
  Clients clients(f.port("web"), 6);
  EXPECT_TRUE(waitUntil([&] { return clients.poll(20ms) == 4; }));
  clients.poll(300ms);  // a bounded look: the other two are still waiting
  EXPECT_EQ(clients.answered(), 4U);
  EXPECT_EQ(f.metric("ferry_downstream_connections"), 4);
  clients.closeAnswered();
  EXPECT_TRUE(waitUntil([&] { return clients.poll(20ms) == 6; }));
  EXPECT_EQ(clients.failed(), 0U);
  EXPECT_GE(f.metric("ferry_accept_pauses_total"), 1);
}

}  // namespace
}  // namespace ferry::test
