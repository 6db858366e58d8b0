// conn_burst: opens many HTTP keep-alive connections in bursts, as fast as it can, sends one GET
// on each and checks that every one is answered; with --hold it then keeps them open and idle
// (for RSS-per-connection measurements) until its standard input closes. A tool, not a test.
//
//   conn_burst HOST:PORT COUNT [--burst N] [--inflight N] [--path P] [--hold] [--timeout SECONDS]
//
// --inflight N: at most N connections waiting for their answer at a time (a new one is opened
// as one is answered); without it every burst follows the previous one at once.
// Prints one line: opened, answered, and every way a connection can fail to be answered:
// refused (connect failed), reset (ECONNRESET/EPIPE), closed (EOF before a full response),
// bad (a status other than 200; the first such status line is printed), timeout. With --hold it
// prints "holding N" once the answers are in, and on EOF of stdin "still_open N" (held connections
// the server had not closed). Exit status 0 only if every connection was answered. Linux only;
// loopback use.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

enum class Stage { kConnecting, kReading, kAnswered, kRefused, kReset, kClosed, kBad };

struct Conn {
  int fd = -1;
  Stage stage = Stage::kConnecting;
  std::string head;         // bytes of the response head so far
  long long bodyLeft = -1;  // body bytes still expected once the head is complete
};

bool parseHostPort(const std::string& s, sockaddr_in& out) {
  auto colon = s.rfind(':');
  if (colon == std::string::npos) return false;
  std::memset(&out, 0, sizeof(out));
  out.sin_family = AF_INET;
  out.sin_port = htons(static_cast<std::uint16_t>(std::atoi(s.c_str() + colon + 1)));
  return ::inet_pton(AF_INET, s.substr(0, colon).c_str(), &out.sin_addr) == 1;
}

void raiseFileLimit() {
  rlimit r{};
  if (::getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur < r.rlim_max) {
    r.rlim_cur = r.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &r);
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr,
                 "usage: conn_burst HOST:PORT COUNT [--burst N] [--path P] [--hold] "
                 "[--timeout SECONDS]\n");
    return 2;
  }
  sockaddr_in to{};
  if (!parseHostPort(argv[1], to)) {
    std::fprintf(stderr, "conn_burst: bad address %s\n", argv[1]);
    return 2;
  }
  int count = std::atoi(argv[2]);
  int burst = 200;
  bool hold = false;
  int timeoutSeconds = 60;
  int inflight = 0;
  std::string path = "/";
  for (int i = 3; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--burst" && i + 1 < argc) {
      burst = std::atoi(argv[++i]);
    } else if (a == "--path" && i + 1 < argc) {
      path = argv[++i];
    } else if (a == "--inflight" && i + 1 < argc) {
      inflight = std::atoi(argv[++i]);
    } else if (a == "--hold") {
      hold = true;
    } else if (a == "--timeout" && i + 1 < argc) {
      timeoutSeconds = std::atoi(argv[++i]);
    }
  }
  if (count <= 0 || burst <= 0) return 2;
  raiseFileLimit();
  const std::string request = "GET " + path + " HTTP/1.1\r\nHost: bench\r\n\r\n";

  int ep = ::epoll_create1(EPOLL_CLOEXEC);
  std::vector<Conn> conns(static_cast<std::size_t>(count));
  int opened = 0, finished = 0;
  std::string firstBad;
  int counts[7] = {};
  auto end = [&](Conn& c, Stage s) {
    c.stage = s;
    ++counts[static_cast<int>(s)];
    ++finished;
    ::epoll_ctl(ep, EPOLL_CTL_DEL, c.fd, nullptr);
    c.head.clear();
    c.head.shrink_to_fit();
    if (s != Stage::kAnswered) {
      ::close(c.fd);
      c.fd = -1;
    }
  };
  auto onEvent = [&](Conn& c, std::uint32_t events) {
    if (c.stage == Stage::kConnecting) {
      int err = 0;
      socklen_t len = sizeof(err);
      ::getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err != 0) {
        end(c, err == ECONNRESET ? Stage::kReset : Stage::kRefused);
        return;
      }
      if ((events & EPOLLOUT) == 0) return;
      ssize_t n = ::send(c.fd, request.data(), request.size(), MSG_NOSIGNAL);
      if (n != static_cast<ssize_t>(request.size())) {
        end(c, Stage::kReset);
        return;
      }
      c.stage = Stage::kReading;
      epoll_event ev{};
      ev.events = EPOLLIN | EPOLLRDHUP;
      ev.data.u32 = static_cast<std::uint32_t>(&c - conns.data());
      ::epoll_ctl(ep, EPOLL_CTL_MOD, c.fd, &ev);
      return;
    }
    char buf[65536];
    for (;;) {
      ssize_t n = ::recv(c.fd, buf, sizeof(buf), 0);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
      if (n < 0) {
        end(c, Stage::kReset);
        return;
      }
      if (n == 0) {
        end(c, Stage::kClosed);
        return;
      }
      if (c.bodyLeft < 0) {
        c.head.append(buf, static_cast<std::size_t>(n));
        auto at = c.head.find("\r\n\r\n");
        if (at == std::string::npos) continue;
        if (c.head.compare(0, 12, "HTTP/1.1 200") != 0 && c.head.compare(0, 12, "HTTP/1.0 200")) {
          if (firstBad.empty()) firstBad = c.head.substr(0, c.head.find('\r'));
          end(c, Stage::kBad);
          return;
        }
        long long length = 0;
        for (std::size_t p = 0; (p = c.head.find('\n', p)) != std::string::npos && p < at;) {
          ++p;
          if (strncasecmp(c.head.c_str() + p, "content-length:", 15) == 0) {
            length = std::atoll(c.head.c_str() + p + 15);
          }
        }
        std::size_t bodyHere = c.head.size() - (at + 4);
        c.bodyLeft = length - static_cast<long long>(bodyHere);
      } else {
        c.bodyLeft -= n;
      }
      if (c.bodyLeft <= 0) {
        end(c, Stage::kAnswered);
        return;
      }
    }
  };
  auto pump = [&](int waitMs) {
    epoll_event events[256];
    int k = ::epoll_wait(ep, events, 256, waitMs);
    for (int i = 0; i < k; ++i) {
      Conn& c = conns[events[i].data.u32];
      if (c.fd >= 0 && (c.stage == Stage::kConnecting || c.stage == Stage::kReading)) {
        onEvent(c, events[i].events);
      }
    }
  };

  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeoutSeconds);
  while (opened < count && std::chrono::steady_clock::now() < deadline) {
    int upTo = std::min(count, opened + burst);
    if (inflight > 0) upTo = std::min(upTo, finished + inflight);
    for (; opened < upTo; ++opened) {
      Conn& c = conns[static_cast<std::size_t>(opened)];
      c.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      if (c.fd < 0) {
        std::perror("conn_burst: socket");
        return 1;
      }
      int one = 1;
      ::setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
      epoll_event ev{};
      ev.events = EPOLLOUT | EPOLLIN | EPOLLRDHUP;
      ev.data.u32 = static_cast<std::uint32_t>(opened);
      ::epoll_ctl(ep, EPOLL_CTL_ADD, c.fd, &ev);
      int r = ::connect(c.fd, reinterpret_cast<const sockaddr*>(&to), sizeof(to));
      if (r != 0 && errno != EINPROGRESS) end(c, Stage::kRefused);
    }
    pump(inflight > 0 && opened - finished >= inflight ? 50 : 0);  // else the next burst at once
  }
  while (finished < opened && std::chrono::steady_clock::now() < deadline) pump(50);
  int timedOut = opened - finished;
  std::printf("opened %d answered %d refused %d reset %d closed %d bad %d timeout %d\n", opened,
              counts[static_cast<int>(Stage::kAnswered)], counts[static_cast<int>(Stage::kRefused)],
              counts[static_cast<int>(Stage::kReset)], counts[static_cast<int>(Stage::kClosed)],
              counts[static_cast<int>(Stage::kBad)], timedOut);
  if (!firstBad.empty()) std::printf("first_bad %s\n", firstBad.c_str());
  std::fflush(stdout);
  bool allAnswered = counts[static_cast<int>(Stage::kAnswered)] == count;
  if (hold) {
    std::printf("holding %d\n", counts[static_cast<int>(Stage::kAnswered)]);
    std::fflush(stdout);
    char b[256];
    while (::read(0, b, sizeof(b)) > 0) {
    }
    int open = 0;
    for (Conn& c : conns) {
      if (c.fd < 0) continue;
      char x;
      ssize_t n = ::recv(c.fd, &x, 1, MSG_PEEK | MSG_DONTWAIT);
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) ++open;
    }
    std::printf("still_open %d\n", open);
    std::fflush(stdout);
  }
  for (Conn& c : conns) {
    if (c.fd >= 0) ::close(c.fd);
  }
  ::close(ep);
  return allAnswered ? 0 : 1;
}
