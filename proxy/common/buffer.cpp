#include "proxy/common/buffer.h"

namespace ferry {

void Buffer::release() {
  if (pool_ != nullptr && data_ != nullptr) pool_->giveBack(data_);
  pool_ = nullptr;
  data_ = nullptr;
  capacity_ = begin_ = end_ = 0;
}

BufferPool::~BufferPool() {
  for (char* b : free_) delete[] b;
}

Buffer BufferPool::acquire() {
  Buffer b;
  if (free_.empty()) {
    b.data_ = new char[blockSize_];
    ++allocated_;
    // Room for every block ever made, so giving one back never grows the free list.
    free_.reserve(allocated_);
  } else {
    b.data_ = free_.back();
    free_.pop_back();
  }
  b.pool_ = this;
  b.capacity_ = blockSize_;
  outstanding_.store(outstanding_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  return b;
}

void BufferPool::giveBack(char* block) {
  outstanding_.store(outstanding_.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
  free_.push_back(block);
}

}  // namespace ferry
