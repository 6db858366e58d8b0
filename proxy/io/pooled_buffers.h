#pragma once
// The memory behind recvPooled: `count` buffers of `size` bytes in one block, named by index.
// The epoll and IOCP backends hand them out from a free list; io_uring registers them as a
// provided-buffer ring and the kernel picks. Single-threaded, like its proactor.

#include <cstdint>
#include <memory>
#include <vector>

namespace ferry::io {

class PooledBuffers {
 public:
  PooledBuffers(std::uint32_t count, std::uint32_t size)
      : size_(size), memory_(new char[static_cast<std::size_t>(count) * size]) {
    free_.reserve(count);
    for (std::uint32_t i = count; i > 0; --i) free_.push_back(i - 1);
    count_ = count;
  }
  std::uint32_t count() const { return count_; }
  std::uint32_t size() const { return size_; }
  char* at(std::uint32_t id) { return memory_.get() + static_cast<std::size_t>(id) * size_; }
  std::size_t inUse() const { return count_ - free_.size() - lent_; }

  // Free-list use (epoll, IOCP): ~0U when none is free.
  std::uint32_t take() {
    if (free_.empty()) return ~0U;
    std::uint32_t id = free_.back();
    free_.pop_back();
    return id;
  }
  void give(std::uint32_t id) { free_.push_back(id); }

  // Ring use (io_uring): all buffers are lent to the kernel, which hands them out; inUse counts
  // those it handed out and not given back.
  void lendAllToKernel() {
    lent_ = free_.size();
    free_.clear();
  }
  void kernelHandedOut() { --lent_; }
  void backToKernel() { ++lent_; }

 private:
  std::uint32_t count_ = 0;
  std::uint32_t size_;
  std::unique_ptr<char[]> memory_;
  std::vector<std::uint32_t> free_;
  std::size_t lent_ = 0;
};

}  // namespace ferry::io
