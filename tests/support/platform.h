#pragma once
// What the io conformance suite needs from the operating system beyond the proactor, behind one
// small interface so the same suite runs on Linux and (under Wine) on Windows.

#include <cstddef>
#include <string>
#include <vector>

#include "proxy/io/address.h"
#include "proxy/io/socket.h"

namespace ferry::test {

// Open file descriptors (Linux) or handles (Windows) of this process, for leak checks.
std::size_t openHandles();

// Heap bytes in use by this process (glibc's mallinfo2 on Linux), for leak checks; 0 where the
// system does not say (Windows).
std::size_t heapInUse();

// An address on 127.0.0.1 where nothing listens: connects are refused.
io::Address deadAddress();

// A listener that never accepts, its queue filled, so that further connects neither succeed
// nor fail (SYNs are dropped) until a timeout.
class BlackHole {
 public:
  BlackHole();
  ~BlackHole();
  BlackHole(const BlackHole&) = delete;
  BlackHole& operator=(const BlackHole&) = delete;
  const io::Address& address() const { return addr_; }

 private:
  io::NativeHandle listener_;
  std::vector<io::NativeHandle> fillers_;
  io::Address addr_;
};

// Makes closing s send a reset (SO_LINGER 0) instead of a graceful FIN.
void resetOnClose(io::NativeHandle s);

// Writes bytes to a new temporary file and returns its path.
std::string writeTempFile(const std::string& bytes);

// Whether this process runs under Wine.
bool underWine();

}  // namespace ferry::test
