// tcp_volume: moves a volume of bytes over one TCP connection, for measuring what a TCP listener
// costs per byte (tests/bench/tcp_splice.sh). Plain blocking sockets, loopback only.
//
//   tcp_volume backend PORTFILE       listens on 127.0.0.1:0, writes its port to PORTFILE, accepts
//                                     one connection, reads to its end, then answers with the
//                                     count as text and closes; prints the count
//   tcp_volume client PORT BYTES      connects, sends BYTES, half-closes, reads the answer
//                                     until the close and prints it (exit 1 unless it is BYTES)

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

int fail(const char* what) {
  std::perror(what);
  return 2;
}

int backend(const char* portFile) {
  int l = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (l < 0 || ::bind(l, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 || ::listen(l, 4) != 0)
    return fail("listen");
  socklen_t len = sizeof(a);
  ::getsockname(l, reinterpret_cast<sockaddr*>(&a), &len);
  FILE* f = std::fopen(portFile, "w");
  if (f == nullptr) return fail("port file");
  std::fprintf(f, "%d\n", ntohs(a.sin_port));
  std::fclose(f);
  int c = ::accept(l, nullptr, nullptr);
  if (c < 0) return fail("accept");
  std::vector<char> buf(1 << 20);
  unsigned long long total = 0;
  for (;;) {
    ssize_t n = ::recv(c, buf.data(), buf.size(), 0);
    if (n <= 0) break;
    total += static_cast<unsigned long long>(n);
  }
  std::string answer = std::to_string(total);
  ::send(c, answer.data(), answer.size(), MSG_NOSIGNAL);
  ::close(c);
  ::close(l);
  std::printf("%llu\n", total);
  return 0;
}

int client(int port, unsigned long long bytes) {
  int c = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<unsigned short>(port));
  if (c < 0 || ::connect(c, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0)
    return fail("connect");
  std::vector<char> buf(1 << 20, 'v');
  unsigned long long sent = 0;
  while (sent < bytes) {
    std::size_t want =
        static_cast<std::size_t>(std::min<unsigned long long>(buf.size(), bytes - sent));
    ssize_t n = ::send(c, buf.data(), want, MSG_NOSIGNAL);
    if (n <= 0) return fail("send");
    sent += static_cast<unsigned long long>(n);
  }
  ::shutdown(c, SHUT_WR);
  std::string answer;
  char tmp[64];
  for (;;) {
    ssize_t n = ::recv(c, tmp, sizeof(tmp), 0);
    if (n <= 0) break;
    answer.append(tmp, static_cast<std::size_t>(n));
  }
  ::close(c);
  std::printf("%s\n", answer.c_str());
  return answer == std::to_string(bytes) ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 3 && std::strcmp(argv[1], "backend") == 0) return backend(argv[2]);
  if (argc == 4 && std::strcmp(argv[1], "client") == 0)
    return client(std::atoi(argv[2]), std::strtoull(argv[3], nullptr, 10));
  std::fprintf(stderr, "usage: tcp_volume backend PORTFILE | client PORT BYTES\n");
  return 2;
}
