#pragma once
// Socket: an owned OS socket handle (an fd on Linux, a SOCKET on Windows). Move-only; closes on
// destruction. Never close a socket that still has an operation pending on it: cancel first.

#include <cstdint>
#include <utility>

#include "proxy/common/result.h"
#include "proxy/io/address.h"

namespace ferry::io {

#ifdef _WIN32
using NativeHandle = std::uintptr_t;
inline constexpr NativeHandle kInvalidHandle = ~NativeHandle{0};
#else
using NativeHandle = int;
inline constexpr NativeHandle kInvalidHandle = -1;
#endif

class Socket {
 public:
  Socket() = default;
  explicit Socket(NativeHandle h) : h_(h) {}
  Socket(Socket&& o) noexcept : h_(std::exchange(o.h_, kInvalidHandle)) {}
  Socket& operator=(Socket&& o) noexcept {
    if (this != &o) {
      close();
      h_ = std::exchange(o.h_, kInvalidHandle);
    }
    return *this;
  }
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
  ~Socket() { close(); }

  bool valid() const { return h_ != kInvalidHandle; }
  explicit operator bool() const { return valid(); }
  NativeHandle native() const { return h_; }
  NativeHandle release() { return std::exchange(h_, kInvalidHandle); }
  void close();

  // A non-blocking TCP socket of addr's family, TCP_NODELAY set.
  static Result<Socket> openTcp(const Address& family);

  // For an idle keep-alive connection: true if the peer has neither closed it nor sent anything
  // (a non-blocking peek finds no data). Costs one system call.
  bool idleAndOpen() const;

  // Makes the next close() abortive (SO_LINGER 0: the peer gets a reset, not a FIN), so a peer
  // reading a close-delimited or de-chunked body cannot take a cut-off one for complete.
  void resetOnClose() const;

  // Local and remote addresses (getsockname/getpeername).
  Address localAddress() const;
  Address peerAddress() const;

 private:
  NativeHandle h_ = kInvalidHandle;
};

struct ListenOptions {
  // The kernel's queue of connections not yet accepted (listen(2)'s backlog; Linux caps it at
  // net.core.somaxconn, 4096 by default). A burst larger than the queue plus the accepts posted
  // waits for SYN retransmits; 4096, like NGINX's benchmark setups, absorbs 10,000 connections
  // opened back to back (tests/io burst test, make bench-memory).
  int backlog = 4096;
  bool reusePort = true;       // each worker binds its own socket (SO_REUSEPORT)
  int deferAcceptSeconds = 0;  // Linux TCP_DEFER_ACCEPT: complete accept when data arrived
  bool fastOpen = false;       // accept TCP Fast Open SYN data
  bool operator==(const ListenOptions&) const = default;
};

// A bound, listening, non-blocking socket.
Result<Socket> listenTcp(const Address& addr, const ListenOptions& opts);

// An open regular file for transmit_packets file elements. Move-only, closes on destruction.
class File {
 public:
  File() = default;
  static Result<File> openRead(const char* path);
  File(File&& o) noexcept : h_(std::exchange(o.h_, kInvalidHandle)), size_(o.size_) {}
  File& operator=(File&& o) noexcept {
    if (this != &o) {
      close();
      h_ = std::exchange(o.h_, kInvalidHandle);
      size_ = o.size_;
    }
    return *this;
  }
  File(const File&) = delete;
  File& operator=(const File&) = delete;
  ~File() { close(); }
  bool valid() const { return h_ != kInvalidHandle; }
  NativeHandle native() const { return h_; }
  std::uint64_t size() const { return size_; }
  void close();

 private:
  NativeHandle h_ = kInvalidHandle;
  std::uint64_t size_ = 0;
};

}  // namespace ferry::io
