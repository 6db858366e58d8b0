#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "proxy/io/socket.h"

namespace ferry::io {

namespace {
void setInt(int fd, int level, int opt, int v) {
  ::setsockopt(fd, level, opt, &v, sizeof(v));
}
}  // namespace

void Socket::close() {
  if (h_ != kInvalidHandle) ::close(h_);
  h_ = kInvalidHandle;
}

Result<Socket> Socket::openTcp(const Address& family) {
  int fd = ::socket(family.isV6() ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
                    IPPROTO_TCP);
  if (fd < 0) return systemError(errno, "socket");
  setInt(fd, IPPROTO_TCP, TCP_NODELAY, 1);
  return Socket(fd);
}

bool Socket::idleAndOpen() const {
  char byte;
  ssize_t n = ::recv(h_, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

void Socket::resetOnClose() const {
  linger l{};
  l.l_onoff = 1;
  l.l_linger = 0;
  ::setsockopt(h_, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
}

Address Socket::localAddress() const {
  Address a;
  socklen_t len = static_cast<socklen_t>(Address::capacity());
  if (::getsockname(h_, static_cast<sockaddr*>(a.raw()), &len) == 0) a.setLength(len);
  return a;
}

Address Socket::peerAddress() const {
  Address a;
  socklen_t len = static_cast<socklen_t>(Address::capacity());
  if (::getpeername(h_, static_cast<sockaddr*>(a.raw()), &len) == 0) a.setLength(len);
  return a;
}

Result<Socket> listenTcp(const Address& addr, const ListenOptions& opts) {
  auto s = Socket::openTcp(addr);
  if (!s) return s.error();
  int fd = s->native();
  setInt(fd, SOL_SOCKET, SO_REUSEADDR, 1);
  if (opts.reusePort) setInt(fd, SOL_SOCKET, SO_REUSEPORT, 1);
  if (opts.deferAcceptSeconds > 0) {
    setInt(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, opts.deferAcceptSeconds);
  }
  if (opts.fastOpen) setInt(fd, IPPROTO_TCP, TCP_FASTOPEN, 256);
  if (::bind(fd, static_cast<const sockaddr*>(addr.raw()), static_cast<socklen_t>(addr.length())) !=
      0) {
    return systemError(errno, "bind " + addr.toString());
  }
  if (::listen(fd, opts.backlog) != 0) return systemError(errno, "listen " + addr.toString());
  return s;
}

Result<File> File::openRead(const char* path) {
  int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return systemError(errno, path);
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    int e = errno != 0 ? errno : EISDIR;
    ::close(fd);
    return systemError(S_ISREG(st.st_mode) ? e : EISDIR, path);
  }
  File f;
  f.h_ = fd;
  f.size_ = static_cast<std::uint64_t>(st.st_size);
  return f;
}

void File::close() {
  if (h_ != kInvalidHandle) ::close(h_);
  h_ = kInvalidHandle;
}

}  // namespace ferry::io
