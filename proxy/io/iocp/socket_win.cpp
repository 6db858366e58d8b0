// Windows sockets and files for io/. Only io/iocp and this file include Windows headers.

// Winsock's macros (INVALID_SOCKET, FD_SET, ...) are C casts.
#pragma GCC diagnostic ignored "-Wold-style-cast"

#include "proxy/io/iocp/winsock.h"
#include "proxy/io/socket.h"

namespace ferry::io {

namespace {
struct WinsockInit {
  WinsockInit() {
    WSADATA d;
    WSAStartup(MAKEWORD(2, 2), &d);
  }
};
const WinsockInit kWinsock;

SOCKET sock(NativeHandle h) {
  return static_cast<SOCKET>(h);
}
Error wsaError(const std::string& what) {
  return systemError(WSAGetLastError(), what);
}
}  // namespace

void Socket::close() {
  if (h_ != kInvalidHandle) ::closesocket(sock(h_));
  h_ = kInvalidHandle;
}

Result<Socket> Socket::openTcp(const Address& family) {
  SOCKET s = ::WSASocketW(family.isV6() ? AF_INET6 : AF_INET, SOCK_STREAM, IPPROTO_TCP, nullptr, 0,
                          WSA_FLAG_OVERLAPPED | WSA_FLAG_NO_HANDLE_INHERIT);
  if (s == INVALID_SOCKET) return wsaError("WSASocket");
  BOOL one = TRUE;
  ::setsockopt(s, IPPROTO_TCP, TCP_NODELAY, reinterpret_cast<const char*>(&one), sizeof(one));
  return Socket(static_cast<NativeHandle>(s));
}

bool Socket::idleAndOpen() const {
  WSAPOLLFD p{sock(h_), POLLRDNORM, 0};
  return ::WSAPoll(&p, 1, 0) == 0;  // readable would mean data or a close: not reusable
}

void Socket::resetOnClose() const {
  LINGER l{};
  l.l_onoff = 1;
  l.l_linger = 0;
  ::setsockopt(sock(h_), SOL_SOCKET, SO_LINGER, reinterpret_cast<const char*>(&l), sizeof(l));
}

Address Socket::localAddress() const {
  Address a;
  int len = static_cast<int>(Address::capacity());
  if (::getsockname(sock(h_), static_cast<sockaddr*>(a.raw()), &len) == 0) a.setLength(len);
  return a;
}

Address Socket::peerAddress() const {
  Address a;
  int len = static_cast<int>(Address::capacity());
  if (::getpeername(sock(h_), static_cast<sockaddr*>(a.raw()), &len) == 0) a.setLength(len);
  return a;
}

Result<Socket> listenTcp(const Address& addr, const ListenOptions& opts) {
  auto s = Socket::openTcp(addr);
  if (!s) return s.error();
  // Windows has no SO_REUSEPORT: one listening socket per address (workers share it).
  BOOL excl = TRUE;
  ::setsockopt(sock(s->native()), SOL_SOCKET, SO_EXCLUSIVEADDRUSE,
               reinterpret_cast<const char*>(&excl), sizeof(excl));
  if (::bind(sock(s->native()), static_cast<const sockaddr*>(addr.raw()),
             static_cast<int>(addr.length())) != 0) {
    return wsaError("bind " + addr.toString());
  }
  if (::listen(sock(s->native()), opts.backlog > 0 ? opts.backlog : 1) != 0) {
    return wsaError("listen " + addr.toString());
  }
  return s;
}

Result<File> File::openRead(const char* path) {
  HANDLE h =
      ::CreateFileA(path, GENERIC_READ, FILE_SHARE_READ | FILE_SHARE_DELETE, nullptr, OPEN_EXISTING,
                    FILE_ATTRIBUTE_NORMAL | FILE_FLAG_SEQUENTIAL_SCAN, nullptr);
  if (h == INVALID_HANDLE_VALUE) return systemError(static_cast<int>(::GetLastError()), path);
  BY_HANDLE_FILE_INFORMATION info;
  if (!::GetFileInformationByHandle(h, &info) ||
      (info.dwFileAttributes & FILE_ATTRIBUTE_DIRECTORY) != 0) {
    ::CloseHandle(h);
    return systemError(ERROR_DIRECTORY, path);
  }
  File f;
  f.h_ = reinterpret_cast<NativeHandle>(h);
  f.size_ = (static_cast<std::uint64_t>(info.nFileSizeHigh) << 32) | info.nFileSizeLow;
  return f;
}

void File::close() {
  if (h_ != kInvalidHandle) ::CloseHandle(reinterpret_cast<HANDLE>(h_));
  h_ = kInvalidHandle;
}

}  // namespace ferry::io
