#include "proxy/io/splice_step.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

namespace ferry::io::splice_step {

std::error_code openPipe(SpliceOp& op) {
  if (op.pipeIn.valid()) return {};
  int fds[2];
  if (::pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) return {errno, std::system_category()};
  op.pipeOut = Socket(fds[0]);
  op.pipeIn = Socket(fds[1]);
  op.buffered = 0;
  return {};
}

Next advance(SpliceOp& op, std::error_code& ec) {
  constexpr unsigned kFlags = SPLICE_F_MOVE | SPLICE_F_NONBLOCK;
  for (;;) {
    if (op.buffered > 0) {
      ssize_t n = ::splice(op.pipeOut.native(), nullptr, op.to, nullptr, op.buffered, kFlags);
      if (n > 0) {
        op.buffered -= static_cast<std::uint32_t>(n);
        op.state_.total += static_cast<std::uint64_t>(n);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EAGAIN) return Next::kWaitWrite;
      op.failedWriting = true;
      ec = std::error_code(n < 0 ? errno : EPIPE, std::system_category());
      return Next::kError;
    }
    if (op.state_.stage == 1) return Next::kDone;
    // The pipe is empty here, so a chunk up to its capacity always fits.
    ssize_t n = ::splice(op.from, nullptr, op.pipeIn.native(), nullptr, op.maxBytes, kFlags);
    if (n > 0) {
      op.buffered = static_cast<std::uint32_t>(n);
      op.state_.stage = 1;
      continue;
    }
    if (n == 0) return Next::kEof;
    if (errno == EINTR) continue;
    if (errno == EAGAIN) return Next::kWaitRead;
    op.failedWriting = false;
    ec = std::error_code(errno, std::system_category());
    return Next::kError;
  }
}

}  // namespace ferry::io::splice_step
