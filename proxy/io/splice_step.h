#pragma once
// splice's steps shared by the Linux backends: the system calls of one SpliceOp submission, run
// until the chunk is written or a side would block; each backend only waits (epoll readiness or
// an io_uring poll) and calls advance() again.
//
// Per submission: state_.stage 0 = nothing read yet, 1 = a chunk read (or left over from the
// previous submission) is being written; state_.total = bytes written by this submission.

#include <system_error>

#include "proxy/io/proactor.h"

namespace ferry::io::splice_step {

// Opens op's pipe (non-blocking, close-on-exec) if it has none.
std::error_code openPipe(SpliceOp& op);

// Resets the per-submission state: a left-over chunk is written before anything is read.
inline void start(SpliceOp& op) {
  op.failedWriting = false;
  op.state_.stage = op.buffered > 0 ? 1 : 0;
  op.state_.total = 0;
}

enum class Next {
  kDone,       // the chunk was written: complete with state_.total bytes
  kEof,        // `from` reached its end, nothing buffered: complete with 0 bytes
  kWaitRead,   // `from` has nothing yet: wait until it is readable
  kWaitWrite,  // `to` is full: wait until it is writable
  kError,      // ec says what; op.failedWriting which side
};

// Runs splice(2) until done or blocked. Never blocks (the sockets and the pipe are non-blocking).
Next advance(SpliceOp& op, std::error_code& ec);

inline bool waits(Next n) {
  return n == Next::kWaitRead || n == Next::kWaitWrite;
}
// The byte count an op completes with after a Next that is not a wait.
inline std::size_t completedBytes(const SpliceOp& op, Next n) {
  return n == Next::kEof ? 0 : op.state_.total;
}

}  // namespace ferry::io::splice_step
