#include "proxy/admin/unix_socket.h"

#ifndef _WIN32
#include <errno.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#endif

namespace ferry::admin {

#ifndef _WIN32

namespace {

bool fill(const std::string& path, sockaddr_un& a) {
  std::memset(&a, 0, sizeof(a));
  a.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof(a.sun_path)) return false;
  std::memcpy(a.sun_path, path.data(), path.size());
  return true;
}

// True if path is a socket file that nothing listens on (a previous run's).
bool stale(const std::string& path, const sockaddr_un& a) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0 || !S_ISSOCK(st.st_mode)) return false;
  int probe = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (probe < 0) return false;
  bool refused = ::connect(probe, reinterpret_cast<const sockaddr*>(&a), sizeof(a)) != 0 &&
                 errno == ECONNREFUSED;
  ::close(probe);
  return refused;
}

}  // namespace

io::Socket listenUnix(const std::string& path, std::error_code& ec) {
  sockaddr_un a;
  if (!fill(path, a)) {
    ec = std::make_error_code(std::errc::filename_too_long);
    return {};
  }
  if (stale(path, a)) ::unlink(path.c_str());
  io::Socket s(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!s) {
    ec = std::error_code(errno, std::generic_category());
    return {};
  }
  // Created 0600 from the start: no window in which another user could connect.
  mode_t old = ::umask(0177);
  int r = ::bind(s.native(), reinterpret_cast<const sockaddr*>(&a), sizeof(a));
  int bindErr = errno;
  ::umask(old);
  if (r != 0 || ::listen(s.native(), 16) != 0) {
    ec = std::error_code(r != 0 ? bindErr : errno, std::generic_category());
    return {};
  }
  return s;
}

io::Socket acceptUnix(const io::Socket& listener) {
  return io::Socket(::accept4(listener.native(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
}

void unlinkUnix(const std::string& path) {
  if (!path.empty()) ::unlink(path.c_str());
}

#else

io::Socket listenUnix(const std::string&, std::error_code& ec) {
  ec = std::make_error_code(std::errc::operation_not_supported);
  return {};
}
io::Socket acceptUnix(const io::Socket&) {
  return {};
}
void unlinkUnix(const std::string&) {}

#endif

}  // namespace ferry::admin
