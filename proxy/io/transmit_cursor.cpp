#include "proxy/io/transmit_cursor.h"

#include <sys/sendfile.h>

#include <algorithm>
#include <cerrno>

namespace ferry::io::transmit_cursor {

long sendFileRange(TransmitOp& op) {
  const TransmitElement& e = current(op);
  off_t off = static_cast<off_t>(e.offset + op.state_.progress);
  std::uint64_t want = std::min<std::uint64_t>(e.length - op.state_.progress, 1U << 30);
  for (;;) {
    ssize_t n = ::sendfile(op.socket, e.file, &off, want);
    if (n > 0) {
      op.state_.progress += static_cast<std::uint64_t>(n);
      op.state_.total += static_cast<std::uint64_t>(n);
      return n;
    }
    if (n == 0) return 0;
    if (errno != EINTR) return -errno;
  }
}

}  // namespace ferry::io::transmit_cursor
