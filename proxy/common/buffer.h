#pragma once
// Fixed-size byte buffers recycled through a per-worker free list: a session takes one when it
// needs to read and gives it back when idle, so the steady state allocates nothing.
// BufferPool is single-threaded (one per worker); Buffer returns itself to its pool.

#include <atomic>
#include <cstddef>
#include <cstring>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

namespace ferry {

class BufferPool;

// A window [begin, end) of readable bytes inside a fixed block: reads append at end(), the
// consumer advances begin(). compact() moves the unread bytes to the front.
class Buffer {
 public:
  Buffer() = default;
  Buffer(Buffer&& o) noexcept { swap(o); }
  Buffer& operator=(Buffer&& o) noexcept {
    if (this != &o) {
      release();
      swap(o);
    }
    return *this;
  }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  ~Buffer() { release(); }

  explicit operator bool() const { return data_ != nullptr; }
  std::size_t capacity() const { return capacity_; }
  std::size_t size() const { return end_ - begin_; }
  bool empty() const { return begin_ == end_; }
  const char* data() const { return data_ + begin_; }
  char* data() { return data_ + begin_; }
  std::string_view view() const { return {data_ + begin_, end_ - begin_}; }
  std::span<char> writable() { return {data_ + end_, capacity_ - end_}; }
  void commit(std::size_t n) { end_ += n; }
  void consume(std::size_t n) {
    begin_ += n;
    if (begin_ == end_) begin_ = end_ = 0;
  }
  void clear() { begin_ = end_ = 0; }
  void compact() {
    if (begin_ == 0) return;
    std::memmove(data_, data_ + begin_, end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
  }
  // Appends s if it fits; returns false (and appends nothing) otherwise.
  bool append(std::string_view s) {
    if (s.size() > capacity_ - end_) return false;
    std::memcpy(data_ + end_, s.data(), s.size());
    end_ += s.size();
    return true;
  }
  void release();

 private:
  friend class BufferPool;
  void swap(Buffer& o) noexcept {
    std::swap(pool_, o.pool_);
    std::swap(data_, o.data_);
    std::swap(capacity_, o.capacity_);
    std::swap(begin_, o.begin_);
    std::swap(end_, o.end_);
  }
  BufferPool* pool_ = nullptr;
  char* data_ = nullptr;
  std::size_t capacity_ = 0;
  std::size_t begin_ = 0;
  std::size_t end_ = 0;
};

class BufferPool {
 public:
  explicit BufferPool(std::size_t blockSize) : blockSize_(blockSize) {}
  ~BufferPool();
  BufferPool(const BufferPool&) = delete;
  BufferPool& operator=(const BufferPool&) = delete;

  Buffer acquire();
  std::size_t blockSize() const { return blockSize_; }
  // Handed out and not yet returned. Written by the owning worker only; other threads (the
  // metrics scrape) may read it.
  std::size_t outstanding() const { return outstanding_.load(std::memory_order_relaxed); }
  std::size_t allocated() const { return allocated_; }  // blocks ever allocated

 private:
  friend class Buffer;
  void giveBack(char* block);
  std::size_t blockSize_;
  std::vector<char*> free_;
  std::atomic<std::size_t> outstanding_{0};
  std::size_t allocated_ = 0;
};

}  // namespace ferry
