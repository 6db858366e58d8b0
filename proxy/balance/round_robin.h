#pragma once
// Round robin over a cluster's endpoints. Pure logic over a cursor.
//
// Superseded by balancer.h (BalancerFactory / Balancer / Selection), whose round_robin keeps a
// per-worker cursor and touches no shared memory per request. Kept unchanged until
// proxy/upstream/cluster moves to it, because Proxy.RoundRobinAlternatesAcrossBackends expects
// strict process-wide alternation across two workers, which only this shared cursor gives.
//
// Concurrency note: the cursor is shared by every worker's view of a cluster, so that requests
// alternate strictly across the whole process (as HAProxy's round robin does), not per worker.
// It is one relaxed atomic increment per request: no lock, and no ordering is needed because
// the value only picks an index.

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace ferry::balance {

class RoundRobin {
 public:
  RoundRobin(std::size_t size, std::atomic<std::uint64_t>& cursor)
      : size_(size), cursor_(&cursor) {}

  // The next endpoint index. size() must be > 0.
  std::size_t next() {
    return static_cast<std::size_t>(cursor_->fetch_add(1, std::memory_order_relaxed) % size_);
  }
  std::size_t size() const { return size_; }

 private:
  std::size_t size_;
  std::atomic<std::uint64_t>* cursor_;
};

}  // namespace ferry::balance
