// A test backend: an HTTP/1.1 server that answers with its own name, written independently of
// ferry's code (its own small parser) so that tests do not check ferry against itself.
//
//   test_backend NAME [PORT [IP [IDLE_CLOSE_MS]]]  listens on IP:PORT (127.0.0.1, 0: any port),
//                                  prints "PORT\n", serves; with IDLE_CLOSE_MS, closes a
//                                  keep-alive connection idle (between requests) that many ms
//
// GET  /anything        200 "NAME\n"  (headers X-Backend: NAME, X-Connection: its number)
// GET  /stats           200 "connections=C requests=R\n" (this request included)
// GET  /headers         200 the request head exactly as received (after the connection's
//                       PROXY v1 line, if one came first)
// GET  /big?bytes=N[&chunked=1]   N bytes of a fixed pattern (byte i = 'a' + i % 26)
// POST /echo[?chunked=1]          the request body back
// GET  /slow?ms=N       waits N ms, then answers like /anything
// GET  /close           answers with Connection: close and closes
// POST /early           answers 413 right after the head, before reading the body, then
//                       drains the body until the client stops sending
// ANY  /status-if?name=X&code=N  if this backend is X: answers status N (body "NAME\n");
//                       other backends answer like /anything
// ANY  /reset-if?name=X if this backend is X: reads the whole request, then resets the
//                       connection without answering; other backends answer like /anything
// GET  /truncate?bytes=N  announces N bytes, sends N/2, then closes
// GET  /bad?kind=K      a malformed response: cl-te, two-cl, bare-lf, obs-fold, status, nul
// POST /sink            reads a Content-Length body without keeping it, answers "bytes=N\n"
// GET  /stream?bytes=N  N pattern bytes, generated piece by piece (for transfers of GiBs)
// A request that is not valid HTTP to this parser is answered 400 and counted as bad=.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

namespace {

std::string g_name;
int g_idleCloseMs = 0;  // 0: never close an idle connection
std::atomic<long> g_connections{0};
std::atomic<long> g_requests{0};

bool sendAll(int fd, const std::string& s) {
  std::size_t off = 0;
  while (off < s.size()) {
    ssize_t n = ::send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return false;
    off += static_cast<std::size_t>(n);
  }
  return true;
}

class Conn {
 public:
  explicit Conn(int fd) : fd_(fd) {}
  // Reads until buf_ holds at least n bytes past pos_.
  bool need(std::size_t n) {
    while (buf_.size() - pos_ < n) {
      char tmp[65536];
      ssize_t r = ::recv(fd_, tmp, sizeof(tmp), 0);
      if (r <= 0) return false;
      buf_.append(tmp, static_cast<std::size_t>(r));
    }
    return true;
  }
  bool line(std::string& out) {
    for (;;) {
      std::size_t e = buf_.find("\r\n", pos_);
      if (e != std::string::npos) {
        out = buf_.substr(pos_, e - pos_);
        pos_ = e + 2;
        return true;
      }
      if (!need(buf_.size() - pos_ + 1)) return false;
    }
  }
  // Reads and drops n bytes.
  bool discard(std::size_t n) {
    while (n > 0) {
      if (pos_ == buf_.size()) {
        buf_.clear();
        pos_ = 0;
        if (!need(1)) return false;
      }
      std::size_t k = std::min(n, buf_.size() - pos_);
      pos_ += k;
      n -= k;
    }
    return true;
  }
  bool take(std::size_t n, std::string& out) {
    if (!need(n)) return false;
    out.append(buf_, pos_, n);
    pos_ += n;
    if (pos_ > (1 << 20)) {
      buf_.erase(0, pos_);
      pos_ = 0;
    }
    return true;
  }
  int fd() const { return fd_; }
  // Bytes received and not yet parsed.
  bool buffered() const { return pos_ < buf_.size(); }

 private:
  int fd_;
  std::string buf_;
  std::size_t pos_ = 0;
};

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

long queryNumber(const std::string& target, const std::string& key) {
  std::size_t p = target.find(key + "=");
  return p == std::string::npos ? -1 : std::atol(target.c_str() + p + key.size() + 1);
}

std::string pattern(std::size_t n) {
  std::string s(n, 'a');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + i % 26);
  return s;
}

void respond(int fd, int status, const std::string& body, bool chunked, bool close, long conn) {
  const char* reason = status == 200   ? " OK"
                       : status == 413 ? " Content Too Large"
                                       : " Bad Request";
  std::string h = "HTTP/1.1 " + std::to_string(status) + reason + "\r\nX-Backend: " + g_name +
                  "\r\nX-Connection: " + std::to_string(conn) + "\r\nContent-Type: text/plain\r\n";
  if (close) h += "Connection: close\r\n";
  if (!chunked) {
    sendAll(fd, h + "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body);
    return;
  }
  h += "Transfer-Encoding: chunked\r\n\r\n";
  sendAll(fd, h);
  const std::size_t piece = 100000;
  for (std::size_t off = 0; off < body.size(); off += piece) {
    std::size_t n = std::min(piece, body.size() - off);
    char len[32];
    std::snprintf(len, sizeof(len), "%zx\r\n", n);
    if (!sendAll(fd, len + body.substr(off, n) + "\r\n")) return;
  }
  sendAll(fd, "0\r\n\r\n");
}

void serve(int fd, long conn) {
  Conn c(fd);
  std::string proxyLine;  // a PROXY protocol v1 header, first on the connection
  for (;;) {
    std::string requestLine;
    if (g_idleCloseMs > 0 && !c.buffered()) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, g_idleCloseMs) == 0) break;  // idle too long: close it
    }
    if (!c.line(requestLine)) break;
    if (proxyLine.empty() && requestLine.rfind("PROXY ", 0) == 0) {
      proxyLine = requestLine + "\r\n";
      if (!c.line(requestLine)) break;
    }
    std::string head = proxyLine + requestLine + "\r\n";
    long contentLength = -1;
    bool chunked = false;
    bool bad = false;
    bool closeReq = false;
    for (;;) {
      std::string l;
      if (!c.line(l)) {
        ::close(fd);
        return;
      }
      head += l + "\r\n";
      if (l.empty()) break;
      std::size_t colon = l.find(':');
      if (colon == std::string::npos) {
        bad = true;
        continue;
      }
      std::string name = lower(l.substr(0, colon));
      std::string value = l.substr(colon + 1);
      while (!value.empty() && value.front() == ' ') value.erase(0, 1);
      if (name == "content-length") contentLength = std::atol(value.c_str());
      if (name == "transfer-encoding" && lower(value).find("chunked") != std::string::npos) {
        chunked = true;
      }
      if (name == "connection" && lower(value).find("close") != std::string::npos) closeReq = true;
    }
    long reqNo = ++g_requests;
    (void)reqNo;
    std::string body;
    if (requestLine.rfind("GET /bad?kind=", 0) == 0) {
      std::string k = requestLine.substr(14, requestLine.find(' ', 14) - 14);
      std::string r;
      if (k == "cl-te") {
        r = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
            "5\r\nhello\r\n0\r\n\r\n";
      } else if (k == "two-cl") {
        r = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!";
      } else if (k == "bare-lf") {
        r = "HTTP/1.1 200 OK\nContent-Length: 5\n\nhello";
      } else if (k == "obs-fold") {
        r = "HTTP/1.1 200 OK\r\nX-A: 1\r\n folded\r\nContent-Length: 5\r\n\r\nhello";
      } else if (k == "status") {
        r = "HTTP/1.1 20 OK\r\nContent-Length: 5\r\n\r\nhello";
      } else {
        r = std::string("HTTP/1.1 200 OK\r\nX-A: a\0b\r\nContent-Length: 5\r\n\r\nhello", 53);
      }
      sendAll(fd, r);
      ::shutdown(fd, SHUT_WR);
      break;
    }
    if (requestLine.rfind("POST /sink", 0) == 0) {
      if (!c.discard(static_cast<std::size_t>(contentLength < 0 ? 0 : contentLength))) break;
      respond(fd, 200, "bytes=" + std::to_string(contentLength) + "\n", false, closeReq, conn);
      if (closeReq) break;
      continue;
    }
    if (requestLine.rfind("GET /stream", 0) == 0) {
      long n = queryNumber(requestLine, "bytes");
      std::string piece = pattern(1 << 20);
      if (!sendAll(fd, "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(n) + "\r\n\r\n")) {
        break;
      }
      bool ok = true;
      for (long off = 0; ok && off < n; off += static_cast<long>(piece.size())) {
        std::size_t k = std::min<std::size_t>(piece.size(), static_cast<std::size_t>(n - off));
        ok = sendAll(fd, k == piece.size() ? piece : piece.substr(0, k));
      }
      if (!ok || closeReq) break;
      continue;
    }
    if (requestLine.find(" /early") != std::string::npos) {
      respond(fd, 413, "too large\n", false, true, conn);
      ::shutdown(fd, SHUT_WR);
      timeval tv{5, 0};
      ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
      char sink[65536];
      while (::recv(fd, sink, sizeof(sink), 0) > 0) {
      }
      break;
    }
    if (chunked) {
      for (;;) {
        std::string sizeLine;
        if (!c.line(sizeLine)) break;
        std::size_t n = std::strtoul(sizeLine.c_str(), nullptr, 16);
        if (n == 0) {
          std::string trailer;
          while (c.line(trailer) && !trailer.empty()) {
          }
          break;
        }
        std::string crlf;
        if (!c.take(n, body) || !c.line(crlf)) break;
      }
    } else if (contentLength > 0) {
      if (!c.take(static_cast<std::size_t>(contentLength), body)) break;
    }
    std::size_t sp1 = requestLine.find(' ');
    std::size_t sp2 = requestLine.rfind(' ');
    if (sp1 == std::string::npos || sp2 == sp1) bad = true;
    std::string method = bad ? "" : requestLine.substr(0, sp1);
    std::string target = bad ? "" : requestLine.substr(sp1 + 1, sp2 - sp1 - 1);
    if (bad) {
      respond(fd, 400, "bad request\n", false, true, conn);
      break;
    }
    bool chunkedOut = target.find("chunked=1") != std::string::npos;
    if (target.rfind("/stats", 0) == 0) {
      respond(fd, 200,
              "connections=" + std::to_string(g_connections.load()) +
                  " requests=" + std::to_string(g_requests.load()) + "\n",
              false, closeReq, conn);
    } else if (target.rfind("/headers", 0) == 0) {
      respond(fd, 200, head, false, closeReq, conn);
    } else if (target.rfind("/big", 0) == 0) {
      long n = queryNumber(target, "bytes");
      respond(fd, 200, pattern(n < 0 ? 0 : static_cast<std::size_t>(n)), chunkedOut, closeReq,
              conn);
    } else if (target.rfind("/echo", 0) == 0) {
      respond(fd, 200, body, chunkedOut, closeReq, conn);
    } else if (target.rfind("/status-if", 0) == 0 &&
               target.find("name=" + g_name + "&") != std::string::npos) {
      long code = queryNumber(target, "code");
      respond(fd, static_cast<int>(code < 100 || code > 599 ? 500 : code), g_name + "\n", false,
              closeReq, conn);
    } else if (target.rfind("/reset-if", 0) == 0 &&
               target.find("name=" + g_name) != std::string::npos) {
      linger lg{1, 0};
      ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
      break;
    } else if (target.rfind("/truncate", 0) == 0) {
      long n = queryNumber(target, "bytes");
      std::string h = "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(n) + "\r\n\r\n";
      sendAll(fd, h + pattern(static_cast<std::size_t>(n / 2)));
      break;
    } else if (target.rfind("/close", 0) == 0) {
      respond(fd, 200, g_name + "\n", false, true, conn);
      break;
    } else {
      long ms = target.rfind("/slow", 0) == 0 ? queryNumber(target, "ms") : 0;
      if (ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(ms));
      respond(fd, 200, g_name + "\n", false, closeReq, conn);
    }
    if (closeReq) break;
  }
  ::close(fd);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: test_backend NAME [PORT [IP [IDLE_CLOSE_MS]]]\n");
    return 2;
  }
  std::signal(SIGPIPE, SIG_IGN);
  g_name = argv[1];
  int port = argc > 2 ? std::atoi(argv[2]) : 0;
  g_idleCloseMs = argc > 4 ? std::atoi(argv[4]) : 0;
  int ls = ::socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  ::setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (argc > 3 && ::inet_pton(AF_INET, argv[3], &a.sin_addr) != 1) {
    std::fprintf(stderr, "test_backend: '%s' is not an IPv4 address\n", argv[3]);
    return 2;
  }
  if (::bind(ls, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 || ::listen(ls, 512) != 0) {
    std::perror("bind/listen");
    return 1;
  }
  socklen_t len = sizeof(a);
  ::getsockname(ls, reinterpret_cast<sockaddr*>(&a), &len);
  std::printf("%d\n", ntohs(a.sin_port));
  std::fflush(stdout);
  for (;;) {
    int fd = ::accept(ls, nullptr, nullptr);
    if (fd < 0) continue;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    long conn = ++g_connections;
    std::thread(serve, fd, conn).detach();
  }
}
