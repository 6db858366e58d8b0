#include "proxy/session/static_file.h"

#include <cerrno>
#include <chrono>
#include <cstring>
#include <utility>

#ifdef _WIN32
#include <windows.h>

#include <string>
#else
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#endif

#ifdef __linux__
#include <sys/syscall.h>
#if __has_include(<linux/openat2.h>)
#include <linux/openat2.h>
#else
struct open_how {
  unsigned long long flags;
  unsigned long long mode;
  unsigned long long resolve;
};
#define RESOLVE_NO_MAGICLINKS 0x02
#define RESOLVE_BENEATH 0x08
#endif
#ifndef SYS_openat2
#define SYS_openat2 437  // the same number on every architecture (a syscall added after 5.1)
#endif
#endif

namespace ferry::session {
namespace {

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Characters a decoded path may not hold although they can be file name characters on some
// system: a backslash is a separator on Windows (refused everywhere, so a root serves the same
// names on both); ':' names a drive or an alternate data stream on Windows.
bool refusedCharacter(char c) {
#ifdef _WIN32
  if (c == ':') return true;
#endif
  return c == '\\';
}

#ifdef _WIN32
bool sameText(std::string_view a, std::string_view b) {  // NTFS names: case-insensitive
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i] >= 'A' && a[i] <= 'Z' ? static_cast<char>(a[i] + 32) : a[i];
    char y = b[i] >= 'A' && b[i] <= 'Z' ? static_cast<char>(b[i] + 32) : b[i];
    if (x != y) return false;
  }
  return true;
}
#else
bool sameText(std::string_view a, std::string_view b) {
  return a == b;
}
#endif

#ifdef __linux__
// Whether the kernel has openat2 (5.6+) and lets this process call it; asked once per process.
bool haveOpenat2() {
  static const bool have = [] {
    open_how how{};
    how.flags = O_PATH | O_CLOEXEC;
    how.resolve = RESOLVE_BENEATH;
    long fd = ::syscall(SYS_openat2, AT_FDCWD, ".", &how, sizeof(how));
    if (fd >= 0) {
      ::close(static_cast<int>(fd));
      return true;
    }
    return errno != ENOSYS && errno != EPERM;  // EPERM: a seccomp filter that denies it
  }();
  return have;
}
#endif

}  // namespace

PathVerdict decodeStaticPath(std::string_view path, std::span<char> out, std::size_t& len) {
  constexpr std::string_view kIndex = "index.html";
  auto q = path.find('?');
  if (q != std::string_view::npos) path = path.substr(0, q);
  if (path.empty() || path[0] != '/' || out.size() < kIndex.size() + 1) {
    return PathVerdict::kNotFound;
  }
  std::size_t n = 0;
  std::size_t segment = 0;  // where the current segment starts in out
  auto dotDot = [&] { return n - segment == 2 && out[segment] == '.' && out[segment + 1] == '.'; };
  for (std::size_t i = 1; i < path.size(); ++i) {
    char c = path[i];
    if (c == '/') {  // a separator as sent; empty segments ("//") are dropped
      if (dotDot()) return PathVerdict::kBadRequest;
      if (n == segment) continue;
      if (n + 1 > out.size() - kIndex.size() - 1) return PathVerdict::kNotFound;
      out[n++] = '/';
      segment = n;
      continue;
    }
    if (c == '%') {
      int hi = i + 2 < path.size() ? hexValue(path[i + 1]) : -1;
      int lo = hi < 0 ? -1 : hexValue(path[i + 2]);
      if (lo < 0) return PathVerdict::kBadRequest;
      c = static_cast<char>(hi * 16 + lo);
      i += 2;
      if (c == '/') return PathVerdict::kNotFound;  // a name cannot hold '/'
    }
    if (c == '\0') return PathVerdict::kBadRequest;
    if (refusedCharacter(c)) return PathVerdict::kNotFound;
    if (n + 1 > out.size() - kIndex.size() - 1) return PathVerdict::kNotFound;
    out[n++] = c;
  }
  if (dotDot()) return PathVerdict::kBadRequest;
  if (n == segment) {  // "/" or "/dir/": the directory's index
    std::memcpy(out.data() + n, kIndex.data(), kIndex.size());
    n += kIndex.size();
  }
  out[n] = '\0';
  len = n;
  return PathVerdict::kOk;
}

// ---- StaticFile ----

StaticFile::StaticFile(StaticFile&& o) noexcept
#ifdef _WIN32
    : file_(std::move(o.file_)),
#else
    : fd_(std::exchange(o.fd_, -1)),
#endif
      size_(o.size_),
      mtimeNs_(o.mtimeNs_) {
}

StaticFile& StaticFile::operator=(StaticFile&& o) noexcept {
  if (this != &o) {
    close();
#ifdef _WIN32
    file_ = std::move(o.file_);
#else
    fd_ = std::exchange(o.fd_, -1);
#endif
    size_ = o.size_;
    mtimeNs_ = o.mtimeNs_;
  }
  return *this;
}

StaticFile::~StaticFile() {
  close();
}

#ifdef _WIN32
io::NativeHandle StaticFile::native() const {
  return file_.native();
}
void StaticFile::close() {
  file_.close();
}
#else
io::NativeHandle StaticFile::native() const {
  return fd_;
}
void StaticFile::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}
#endif

// ---- StaticRoot ----

StaticRoot::StaticRoot(StaticRoot&& o) noexcept
    : root_(std::move(o.root_)),
      real_(std::move(o.real_)),
      options_(o.options_)
#ifndef _WIN32
      ,
      fd_(std::exchange(o.fd_, -1)),
      openat2_(o.openat2_)
#endif
{
}

StaticRoot& StaticRoot::operator=(StaticRoot&& o) noexcept {
  if (this != &o) {
    root_ = std::move(o.root_);
    real_ = std::move(o.real_);
    options_ = o.options_;
#ifndef _WIN32
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(o.fd_, -1);
    openat2_ = o.openat2_;
#endif
  }
  return *this;
}

StaticRoot::~StaticRoot() {
#ifndef _WIN32
  if (fd_ >= 0) ::close(fd_);
#endif
}

bool StaticRoot::underRoot(std::string_view resolved) const {
  std::string_view r = real_;
  if (r.empty()) return false;
  bool endsInSlash = r.back() == '/';  // "/" or "C:/"
  if (resolved.size() < r.size() || !sameText(resolved.substr(0, r.size()), r)) return false;
  return resolved.size() == r.size() || endsInSlash || resolved[r.size()] == '/';
}

#ifdef _WIN32

namespace {

// Where an open handle really is (GetFinalPathNameByHandleW: symlinks, junctions and mount
// points resolved), as UTF-8 with '/' separators and without the "\\?\" prefix; empty on
// failure.
std::string finalPath(HANDLE h) {
  constexpr DWORD kFlags = FILE_NAME_NORMALIZED | VOLUME_NAME_DOS;
  std::wstring w(512, L'\0');
  DWORD n = ::GetFinalPathNameByHandleW(h, w.data(), static_cast<DWORD>(w.size()), kFlags);
  if (n >= w.size()) {  // too small: n is the size needed
    w.resize(n);
    n = ::GetFinalPathNameByHandleW(h, w.data(), static_cast<DWORD>(w.size()), kFlags);
  }
  if (n == 0 || n >= w.size()) return {};
  w.resize(n);
  if (w.rfind(L"\\\\?\\UNC\\", 0) == 0) {
    w.replace(0, 8, L"\\\\");
  } else if (w.rfind(L"\\\\?\\", 0) == 0) {
    w.erase(0, 4);
  }
  int bytes = ::WideCharToMultiByte(CP_UTF8, 0, w.data(), static_cast<int>(w.size()), nullptr, 0,
                                    nullptr, nullptr);
  std::string out(static_cast<std::size_t>(bytes > 0 ? bytes : 0), '\0');
  if (bytes > 0) {
    ::WideCharToMultiByte(CP_UTF8, 0, w.data(), static_cast<int>(w.size()), out.data(), bytes,
                          nullptr, nullptr);
  }
  for (char& c : out) c = c == '\\' ? '/' : c;
  return out;
}

}  // namespace

StaticRoot StaticRoot::open(const std::string& root, StaticRootOptions options) {
  StaticRoot s;
  s.root_ = root;
  s.options_ = options;
  // FILE_FLAG_BACKUP_SEMANTICS: the handle of a directory.
  HANDLE h = ::CreateFileA(root.c_str(), FILE_READ_ATTRIBUTES,
                           FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE, nullptr,
                           OPEN_EXISTING, FILE_FLAG_BACKUP_SEMANTICS, nullptr);
  if (h == INVALID_HANDLE_VALUE) return s;
  s.real_ = finalPath(h);
  ::CloseHandle(h);
  return s;
}

OpenVerdict StaticRoot::openFile(const char* relative, StaticFile& out) const {
  if (real_.empty()) return OpenVerdict::kNotFound;
  std::string full = root_ + "/" + relative;
  auto f = io::File::openRead(full.c_str());
  if (!f) return OpenVerdict::kNotFound;
  auto h = reinterpret_cast<HANDLE>(f.value().native());
  // A device name ("nul", "con", "com1") opens the device, not a file under the root.
  if (::GetFileType(h) != FILE_TYPE_DISK) return OpenVerdict::kNotFound;
  if (!options_.symlinksOutsideRoot && !underRoot(finalPath(h))) return OpenVerdict::kOutsideRoot;
  FILETIME written{};
  ::GetFileTime(h, nullptr, nullptr, &written);
  // FILETIME: 100 ns intervals since 1601-01-01; 11644473600 s before the Unix epoch.
  std::uint64_t ticks =
      (static_cast<std::uint64_t>(written.dwHighDateTime) << 32) | written.dwLowDateTime;
  constexpr std::uint64_t kEpochTicks = 116444736000000000u;
  out.file_ = std::move(f.value());
  out.size_ = out.file_.size();
  out.mtimeNs_ = ticks > kEpochTicks ? (ticks - kEpochTicks) * 100 : 0;
  return OpenVerdict::kOk;
}

#else

StaticRoot StaticRoot::open(const std::string& root, StaticRootOptions options) {
  StaticRoot s;
  s.options_ = options;
#ifdef __linux__
  s.fd_ = ::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  s.openat2_ = !options.forceFallback && haveOpenat2();
#else
  s.fd_ = ::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
#endif
  if (s.fd_ < 0 || (s.openat2_ || options.symlinksOutsideRoot)) return s;
  // Only the fallback check compares paths.
  s.root_ = root;
  char real[PATH_MAX];
  if (::realpath(root.c_str(), real) != nullptr) s.real_ = real;
  return s;
}

OpenVerdict StaticRoot::openFile(const char* relative, StaticFile& out) const {
  if (fd_ < 0) return OpenVerdict::kNotFound;
  // O_NONBLOCK: a FIFO under the root must not block the worker in open (it is refused below);
  // it changes nothing for a regular file.
  constexpr int kFlags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
  int fd = -1;
#ifdef __linux__
  if (openat2_) {
    open_how how{};
    how.flags = kFlags;
    how.resolve = RESOLVE_NO_MAGICLINKS | (options_.symlinksOutsideRoot ? 0 : RESOLVE_BENEATH);
    for (int tries = 0; fd < 0 && tries < 3; ++tries) {  // EAGAIN: a rename raced the lookup
      fd = static_cast<int>(::syscall(SYS_openat2, fd_, relative, &how, sizeof(how)));
      if (fd < 0 && errno != EAGAIN) break;
    }
    if (fd < 0) return errno == EXDEV ? OpenVerdict::kOutsideRoot : OpenVerdict::kNotFound;
  }
#endif
  if (fd < 0) {
    fd = ::openat(fd_, relative, kFlags);
    if (fd < 0) return OpenVerdict::kNotFound;
    if (!options_.symlinksOutsideRoot) {
      // Where the open descriptor really is: /proc/self/fd, or (without /proc) the path again.
      char link[32], real[PATH_MAX];
      std::snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
      ssize_t n = ::readlink(link, real, sizeof(real) - 1);
      std::string_view resolved;
      if (n > 0) {
        resolved = {real, static_cast<std::size_t>(n)};
      } else if (std::string full = root_ + "/" + relative; ::realpath(full.c_str(), real)) {
        resolved = real;
      }
      if (!underRoot(resolved)) {
        ::close(fd);
        return OpenVerdict::kOutsideRoot;
      }
    }
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return OpenVerdict::kNotFound;
  }
  out.close();
  out.fd_ = fd;
  out.size_ = static_cast<std::uint64_t>(st.st_size);
#ifdef __linux__
  out.mtimeNs_ = static_cast<std::uint64_t>(st.st_mtim.tv_sec) * 1'000'000'000u +
                 static_cast<std::uint64_t>(st.st_mtim.tv_nsec);
#else
  out.mtimeNs_ = static_cast<std::uint64_t>(st.st_mtime) * 1'000'000'000u;
#endif
  return OpenVerdict::kOk;
}

#endif

}  // namespace ferry::session
