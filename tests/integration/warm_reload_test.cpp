// min_idle warm connects against a reload, through the real binary: a reload that drops a
// cluster while its warm connects wait on a backend that is slow to accept. The dropped
// cluster's teardown cancels and detaches them (proxy/upstream/cluster.cpp, WarmTicket); had
// they outlived it attached, they would touch it when they end (at connect_timeout), which the
// ASan build (make test-asan) reports and a release build may not survive.

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "tests/support/harness.h"

namespace ferry::test {
namespace {

using Clock = std::chrono::steady_clock;

// A backend slow to accept, forever: a listener with a backlog of 0 that never accepts, its queue
// filled, so that further connects neither succeed nor fail until their timeout.
class SlowToAccept {
 public:
  SlowToAccept() {
    listen_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(a);
    if (::bind(listen_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 ||
        ::listen(listen_, 0) != 0 ||
        ::getsockname(listen_, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
      throw std::runtime_error("slow backend: bind/listen");
    }
    port_ = ntohs(a.sin_port);
    for (int i = 0; i < 4; ++i) {
      int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
      ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
      fillers_.push_back(fd);
    }
  }
  ~SlowToAccept() {
    for (int fd : fillers_) ::close(fd);
    ::close(listen_);
  }
  SlowToAccept(const SlowToAccept&) = delete;
  SlowToAccept& operator=(const SlowToAccept&) = delete;
  int port() const { return port_; }

 private:
  int listen_ = -1;
  int port_ = 0;
  std::vector<int> fillers_;
};

std::string admin(int port, const std::string& method, const std::string& path) {
  return rawExchange(port,
                     method + " " + path +
                         " HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                     30s);
}

TEST(WarmReload, ReloadDroppingAClusterWhoseWarmConnectsWaitIsSafe) {
  SlowToAccept slow;
  Backend b1("b1");
  std::string base =
      "workers: 1\naccess_log: false\nadmin: { address: {{ADMIN}} }\n"
      "listeners:\n  - name: web\n    address: 127.0.0.1:0\n"
      "    routes:\n      - { name: all, match: { path_prefix: / }, cluster: keep }\n"
      "clusters:\n  - name: keep\n    endpoints: [127.0.0.1:" +
      std::to_string(b1.port()) + "]\n";
  std::string warm = "  - name: warm\n    endpoints: [127.0.0.1:" + std::to_string(slow.port()) +
                     "]\n    min_idle: 4\n    connect_timeout: 1s\n";
  Ferry f(base + warm);
  const std::string opening = R"(ferry_upstream_connections{cluster="warm"})";
  // Four warm connects hold their slots, waiting on the backend.
  ASSERT_TRUE(waitUntil([&] { return f.metric(opening) == 4; }, 10s)) << f.metric(opening);
  std::string text = base;
  text.replace(text.find("{{ADMIN}}"), 9, "127.0.0.1:0");
  {
    std::ofstream out(f.configPath() + ".tmp");
    out << text;
  }
  std::filesystem::rename(f.configPath() + ".tmp", f.configPath());
  auto reloaded = Clock::now();
  ASSERT_EQ(statusOf(admin(f.adminPort(), "POST", "/reload")), 200);
  ASSERT_TRUE(waitUntil(
      [&] { return f.metric("ferry_config_reloads_total{result=\"success\"}") == 1; }, 10s));
  // Past the dropped connects' timeout (1 s) with margin: ferry still serves.
  waitUntil([&] { return Clock::now() >= reloaded + 2500ms; }, 5s);
  EXPECT_TRUE(f.process().running()) << f.process().logText();
  EXPECT_EQ(statusOf(rawExchange(f.port("web"),
                                 "GET /a HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")),
            200);
}

}  // namespace
}  // namespace ferry::test
