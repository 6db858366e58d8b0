// Steady state allocates nothing: the real ferry binary, run under the LD_PRELOAD heap counter
// (tests/bench/malloc_count.c), proxies keep-alive requests to a test backend; after a warm-up
// (frames, buffers and pools reach their size), a bounded number of further requests must make
// zero allocation calls. Run on io_uring and on epoll.

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "tests/support/harness.h"

namespace ferry::test {
namespace {

// The counter file: allocation calls, free calls, live bytes (see malloc_count.c).
struct Counts {
  std::int64_t allocations = -1;
  std::int64_t frees = -1;
};

Counts readCounts(const std::string& path) {
  Counts c;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return c;
  std::int64_t v[2] = {-1, -1};
  if (::pread(fd, v, sizeof(v), 0) == static_cast<ssize_t>(sizeof(v))) {
    c.allocations = v[0];
    c.frees = v[1];
  }
  ::close(fd);
  return c;
}

// A blocking keep-alive HTTP client on one connection.
class Client {
 public:
  explicit Client(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<std::uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    timeval tv{5, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
  }
  ~Client() {
    if (fd_ >= 0) ::close(fd_);
  }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // One GET; true if a complete 200 response came back on the same connection.
  bool get() { return send() && receive(); }

  bool send() {
    static const char kReq[] = "GET /x HTTP/1.1\r\nHost: t\r\n\r\n";
    return connected_ && ::send(fd_, kReq, sizeof(kReq) - 1, MSG_NOSIGNAL) ==
                             static_cast<ssize_t>(sizeof(kReq) - 1);
  }

  // Reads one response to the end of its body.
  bool receive() {
    std::string got;
    std::array<char, 4096> buf{};
    for (;;) {
      auto at = got.find("\r\n\r\n");
      if (at != std::string::npos) {
        auto cl = got.find("Content-Length:");
        if (cl == std::string::npos) cl = got.find("content-length:");
        if (cl == std::string::npos || cl > at) return false;
        std::size_t length = std::strtoul(got.c_str() + cl + 15, nullptr, 10);
        if (got.size() >= at + 4 + length) return got.compare(0, 12, "HTTP/1.1 200") == 0;
      }
      ssize_t n = ::recv(fd_, buf.data(), buf.size(), 0);
      if (n <= 0) return false;
      got.append(buf.data(), static_cast<std::size_t>(n));
    }
  }

 private:
  int fd_ = -1;
  bool connected_ = false;
};

class SteadyStateAllocations : public ::testing::TestWithParam<std::string> {};

TEST_P(SteadyStateAllocations, KeepAliveRequestsAllocateNothing) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "AddressSanitizer replaces malloc: the LD_PRELOAD counter cannot see it";
#endif
  const char* over = std::getenv("FERRY_TEST_BINARY");
  if (over != nullptr && *over != '\0') GTEST_SKIP() << "runs only on the Linux ferry binary";
  char dir[] = "/tmp/ferry-alloc-XXXXXX";
  ASSERT_NE(::mkdtemp(dir), nullptr);
  const std::string countFile = std::string(dir) + "/count";
  // The harness runs FERRY_TEST_BINARY when set: ferry under the counter, for this test only.
  ::setenv("FERRY_TEST_BINARY",
           ("env LD_PRELOAD=" + std::string(MALLOC_COUNT_LIB) +
            " FERRY_MALLOC_COUNT_FILE=" + countFile + " " + ferryBinary())
               .c_str(),
           1);
  struct Unset {
    ~Unset() { ::unsetenv("FERRY_TEST_BINARY"); }
  } unset;
  Backend backend("a");
  {
    Ferry ferry(R"(
workers: 2
access_log: false
log_level: info
admin: { address: "{{ADMIN}}" }
listeners:
  - name: web
    address: 127.0.0.1:0
    routes: [ { match: { path_prefix: / }, cluster: c } ]
clusters:
  - name: c
    endpoints: [127.0.0.1:)" +
                    std::to_string(backend.port()) +
                    R"(]
    max_idle_per_worker: 64
)",
                {"--io", GetParam()});
    int port = ferry.port("web");
    ASSERT_GT(port, 0);

    constexpr int kConnections = 8;
    constexpr int kWarmup = 50;     // per connection
    constexpr int kMeasured = 250;  // per connection: 2,000 requests in all
    std::vector<std::unique_ptr<Client>> clients;
    for (int i = 0; i < kConnections; ++i) clients.push_back(std::make_unique<Client>(port));
    // Warm-up, with every connection's request in flight at once: each worker reaches the most
    // buffers, frames and upstream connections the measured (one at a time) requests can need.
    for (int r = 0; r < kWarmup; ++r) {
      for (auto& c : clients) ASSERT_TRUE(c->send()) << "warm-up request " << r;
      for (auto& c : clients) ASSERT_TRUE(c->receive()) << "warm-up response " << r;
    }
    Counts before = readCounts(countFile);
    // The counter is live: ferry allocated while starting up.
    ASSERT_GT(before.allocations, 0) << "the LD_PRELOAD counter did not load";
    for (int r = 0; r < kMeasured; ++r) {
      for (auto& c : clients) ASSERT_TRUE(c->get()) << "request " << r;
    }
    Counts after = readCounts(countFile);
    EXPECT_EQ(after.allocations - before.allocations, 0)
        << "heap allocations over " << kConnections * kMeasured << " keep-alive requests on "
        << GetParam();
    EXPECT_EQ(after.frees - before.frees, 0);
  }
  ::unlink(countFile.c_str());
  ::rmdir(dir);
}

INSTANTIATE_TEST_SUITE_P(Backends, SteadyStateAllocations,
                         ::testing::Values(std::string("io_uring"), std::string("epoll")),
                         [](const auto& paramInfo) { return paramInfo.param; });

}  // namespace
}  // namespace ferry::test
