#pragma once
// Files under a static listener's root. A request path is percent-decoded and checked segment by
// segment (decodeStaticPath), then opened relative to the root so that the file reached is inside
// it (StaticRoot::openFile):
// - Linux: openat2(2) from a descriptor of the root with RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
//   so no symlink (absolute, relative or a /proc magic link) leads out of the root, checked by
//   the kernel during the open itself (no window between a check and the open). Where openat2 is
//   missing (before 5.6, or a seccomp filter that denies it), the file is opened with openat and
//   the path of the open descriptor (/proc/self/fd, or realpath without /proc) must lie under the
//   root's real path.
// - Windows: the file is opened, then the final path of its handle (GetFinalPathNameByHandleW:
//   symlinks and junctions resolved) must lie under the root's.
// With symlinksOutsideRoot, symlinks are followed wherever they lead (the paths themselves still
// never hold a ".." segment).

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "proxy/io/socket.h"

namespace ferry::session {

// What decodeStaticPath made of a path.
enum class PathVerdict {
  kOk,
  kBadRequest,  // 400: a malformed %-escape, a NUL, or a segment that is ".." once decoded
  kNotFound,    // 404: a decoded '/', a backslash (or on Windows ':'), or longer than out
};

// Decodes the path part of an origin-form target (a query after '?' is dropped) into out as a
// NUL-terminated path relative to the root: no leading '/', "index.html" added to a path that
// ends in '/'. %XX escapes are decoded once ("%2e%2e" is ".."), '+' stays '+'. len gets the length
// without the NUL. out always keeps room for "index.html" and the NUL. No allocation.
PathVerdict decodeStaticPath(std::string_view path, std::span<char> out, std::size_t& len);

// An open regular file under a root: a handle for transmit_packets and the facts its validators
// are made of. Move-only; closes on destruction.
class StaticFile {
 public:
  StaticFile() = default;
  StaticFile(StaticFile&& o) noexcept;
  StaticFile& operator=(StaticFile&& o) noexcept;
  StaticFile(const StaticFile&) = delete;
  StaticFile& operator=(const StaticFile&) = delete;
  ~StaticFile();
  io::NativeHandle native() const;
  std::uint64_t size() const { return size_; }
  std::uint64_t mtimeNs() const { return mtimeNs_; }  // last modification, ns since the epoch

 private:
  friend class StaticRoot;
  void close();
#ifdef _WIN32
  io::File file_;
#else
  int fd_ = -1;
#endif
  std::uint64_t size_ = 0;
  std::uint64_t mtimeNs_ = 0;
};

enum class OpenVerdict {
  kOk,
  kNotFound,     // missing, not readable, or not a regular file (a directory, a FIFO)
  kOutsideRoot,  // reached through a symlink (or mount) that leads out of the root
};

struct StaticRootOptions {
  bool symlinksOutsideRoot = false;  // follow symlinks wherever they lead
  bool forceFallback = false;        // tests: the Linux check used where openat2 is missing
};

// The root directory of one static listener, held open (Linux: a descriptor) for the
// connections that serve from it. Move-only.
class StaticRoot {
 public:
  StaticRoot() = default;
  // Opens root (absolute); if it cannot be opened every openFile gives kNotFound.
  static StaticRoot open(const std::string& root, StaticRootOptions options);
  StaticRoot(StaticRoot&& o) noexcept;
  StaticRoot& operator=(StaticRoot&& o) noexcept;
  StaticRoot(const StaticRoot&) = delete;
  StaticRoot& operator=(const StaticRoot&) = delete;
  ~StaticRoot();

  // Opens `relative` (as decodeStaticPath wrote it) for reading. No allocation on Linux with
  // openat2.
  OpenVerdict openFile(const char* relative, StaticFile& out) const;

 private:
  bool underRoot(std::string_view resolved) const;
  std::string root_;  // as configured
  std::string real_;  // its canonical path, for the checks that compare paths
  StaticRootOptions options_;
#ifndef _WIN32
  int fd_ = -1;
  bool openat2_ = false;
#endif
};

}  // namespace ferry::session
