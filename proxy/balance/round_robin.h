#pragma once
// Round robin over a cluster's endpoints. Pure; one instance per worker and cluster, so no
// synchronisation. Workers start at different offsets so that together they spread evenly.

#include <cstddef>

namespace ferry::balance {

class RoundRobin {
 public:
  // size: how many endpoints; start: where this instance begins (e.g. the worker's index).
  explicit RoundRobin(std::size_t size, std::size_t start = 0)
      : size_(size), next_(size == 0 ? 0 : start % size) {}

  // The next endpoint index. size() must be > 0.
  std::size_t next() {
    std::size_t i = next_;
    next_ = next_ + 1 == size_ ? 0 : next_ + 1;
    return i;
  }
  std::size_t size() const { return size_; }

 private:
  std::size_t size_;
  std::size_t next_;
};

}  // namespace ferry::balance
