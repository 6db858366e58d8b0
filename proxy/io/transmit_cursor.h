#pragma once
// The transmit_packets cursor shared by the backends: where in the element array an
// operation stands (state_.index, state_.progress), how to gather the next run of memory
// elements into an iovec array, and how to move on after a partial send.

#include <cstring>

#include "proxy/io/proactor.h"

#ifndef _WIN32
#include <sys/socket.h>
#include <sys/uio.h>
#endif

namespace ferry::io::transmit_cursor {

inline constexpr std::size_t kMaxIov = 8;

// Skips finished elements; false when every element has been sent.
inline bool skipDone(TransmitOp& op) {
  while (op.state_.index < op.elements.size() &&
         op.elements[op.state_.index].length == op.state_.progress) {
    ++op.state_.index;
    op.state_.progress = 0;
  }
  return op.state_.index < op.elements.size();
}

inline const TransmitElement& current(const TransmitOp& op) {
  return op.elements[op.state_.index];
}

// Moves the cursor n bytes forward across memory elements after a send.
inline void advance(TransmitOp& op, std::uint64_t n) {
  op.state_.total += n;
  while (n > 0 && op.state_.index < op.elements.size()) {
    const TransmitElement& e = op.elements[op.state_.index];
    std::uint64_t left = e.length - op.state_.progress;
    if (n < left) {
      op.state_.progress += n;
      return;
    }
    n -= left;
    ++op.state_.index;
    op.state_.progress = 0;
  }
}

#ifndef _WIN32
// Fills op.vecScratch with a msghdr over the run of memory elements at the cursor (at most
// kMaxIov of them) and returns it.
inline msghdr* gather(TransmitOp& op) {
  static_assert(sizeof(msghdr) + kMaxIov * sizeof(iovec) <= sizeof(TransmitOp::vecScratch));
  auto* msg = reinterpret_cast<msghdr*>(op.vecScratch);
  auto* iov = reinterpret_cast<iovec*>(op.vecScratch + sizeof(msghdr));
  std::size_t count = 0;
  std::uint64_t skip = op.state_.progress;
  for (std::size_t i = op.state_.index; i < op.elements.size() && count < kMaxIov; ++i) {
    const TransmitElement& e = op.elements[i];
    if (e.isFile()) break;
    if (e.length > skip) {
      iov[count].iov_base = const_cast<char*>(static_cast<const char*>(e.data) + skip);
      iov[count].iov_len = e.length - skip;
      ++count;
    }
    skip = 0;
  }
  std::memset(msg, 0, sizeof(msghdr));
  msg->msg_iov = iov;
  msg->msg_iovlen = count;
  return msg;
}

// Sends what it can of the file element at the cursor without blocking. Returns bytes sent
// (> 0), 0 if the file ended early (an error), or -errno (-EAGAIN: wait for POLLOUT).
long sendFileRange(TransmitOp& op);
#endif

}  // namespace ferry::io::transmit_cursor
