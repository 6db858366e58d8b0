#pragma once
// Round robin over a cluster's endpoints, kept for proxy/upstream/cluster until it moves to
// balance::BalancerFactory (balancer.h), which has every policy, health and retries.
//
// Concurrency note: each worker's RoundRobin has its own cursor, so a request touches no shared
// memory. The atomic passed in is read once, when the worker builds its view of the cluster:
// workers are built one after another, so they get 0, 1, 2, ... and start at different
// endpoints instead of all sending their first request to endpoint 0.

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace ferry::balance {

class RoundRobin {
 public:
  // starts: a counter shared by the workers' views of one cluster, used only here.
  RoundRobin(std::size_t size, std::atomic<std::uint64_t>& starts)
      : size_(size),
        cursor_(size == 0 ? 0
                          : static_cast<std::size_t>(
                                starts.fetch_add(1, std::memory_order_relaxed) % size)) {}

  // The next endpoint index. size() must be > 0. Owning worker's thread only.
  std::size_t next() {
    std::size_t i = cursor_;
    cursor_ = cursor_ + 1 == size_ ? 0 : cursor_ + 1;
    return i;
  }
  std::size_t size() const { return size_; }

 private:
  std::size_t size_;
  std::size_t cursor_;
};

}  // namespace ferry::balance
