#include "tests/support/platform.h"

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

#ifdef _WIN32
#pragma GCC diagnostic ignored "-Wold-style-cast"  // Winsock's macros are C casts
// winsock2.h must come before the other Windows headers.
// clang-format off
#include <winsock2.h>
#include <ws2tcpip.h>
#include <windows.h>
// clang-format on
#else
#include <dirent.h>
#include <malloc.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#endif

namespace ferry::test {

#ifdef _WIN32
using Raw = SOCKET;
Raw rawSocket(bool nonBlocking) {
  Raw s = ::socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
  if (nonBlocking) {
    u_long on = 1;
    ::ioctlsocket(s, FIONBIO, &on);
  }
  return s;
}
void rawClose(Raw s) {
  ::closesocket(s);
}
using Len = int;
#else
using Raw = int;
Raw rawSocket(bool nonBlocking) {
  return ::socket(AF_INET, SOCK_STREAM | (nonBlocking ? SOCK_NONBLOCK : 0), 0);
}
void rawClose(Raw s) {
  ::close(s);
}
using Len = socklen_t;
#endif

namespace {
sockaddr_in loopback() {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}
io::Address boundAddress(Raw s) {
  sockaddr_in a{};
  Len len = sizeof(a);
  ::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len);
  return io::Address::fromRaw(&a, sizeof(a));
}
}  // namespace

std::size_t openHandles() {
#ifdef _WIN32
  DWORD n = 0;
  ::GetProcessHandleCount(::GetCurrentProcess(), &n);
  return n;
#else
  std::size_t n = 0;
  DIR* d = ::opendir("/proc/self/fd");
  while (::readdir(d) != nullptr) ++n;
  ::closedir(d);
  return n;
#endif
}

std::size_t heapInUse() {
#ifdef _WIN32
  return 0;
#else
  return mallinfo2().uordblks;
#endif
}

io::Address deadAddress() {
  Raw s = rawSocket(false);
  sockaddr_in a = loopback();
  ::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof(a));  // bound, never listening: refused
  io::Address out = boundAddress(s);
  rawClose(s);
  return out;
}

BlackHole::BlackHole() {
  Raw ls = rawSocket(false);
  sockaddr_in a = loopback();
  ::bind(ls, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  ::listen(ls, 0);
  listener_ = static_cast<io::NativeHandle>(ls);
  addr_ = boundAddress(ls);
  sockaddr_in to{};
  std::memcpy(&to, addr_.raw(), sizeof(to));
  for (int i = 0; i < 4; ++i) {
    Raw fd = rawSocket(true);
    ::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof(to));
    fillers_.push_back(static_cast<io::NativeHandle>(fd));
  }
}

BlackHole::~BlackHole() {
  for (io::NativeHandle fd : fillers_) rawClose(static_cast<Raw>(fd));
  rawClose(static_cast<Raw>(listener_));
}

void resetOnClose(io::NativeHandle s) {
  linger lg{};
  lg.l_onoff = 1;
  lg.l_linger = 0;
  ::setsockopt(static_cast<Raw>(s), SOL_SOCKET, SO_LINGER, reinterpret_cast<const char*>(&lg),
               sizeof(lg));
}

std::string writeTempFile(const std::string& bytes) {
  std::mt19937_64 rng(
      static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()));
  std::filesystem::path p =
      std::filesystem::temp_directory_path() / ("ferry-io-" + std::to_string(rng()));
  std::ofstream(p, std::ios::binary)
      .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  return p.string();
}

bool underWine() {
#ifdef _WIN32
  HMODULE ntdll = ::GetModuleHandleA("ntdll.dll");
  return ntdll != nullptr && ::GetProcAddress(ntdll, "wine_get_version") != nullptr;
#else
  return false;
#endif
}

}  // namespace ferry::test
