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

}  // namespace
}  // namespace ferry::test
