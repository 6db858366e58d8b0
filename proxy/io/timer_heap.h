#pragma once
// Deadlines of pending operations, kept in a binary min-heap in user space (one per proactor).
// The operation records its deadline and its slot (Operation::State), so insertion and removal
// are O(log n) and allocation-free once the heap has grown. Used by the backends instead of one
// kernel timer per operation: the loop sleeps until the nearest deadline and expires what is due.

#include <vector>

#include "proxy/common/assert.h"
#include "proxy/io/proactor.h"

namespace ferry::io {

class TimerHeap {
 public:
  TimerHeap() { heap_.reserve(1024); }

  bool empty() const { return heap_.empty(); }
  Operation& top() const { return *heap_.front(); }
  // Deadline = now + op.timeout (ignored when the timeout is not positive).
  void arm(Operation& op, TimePoint now) {
    if (op.timeout.count() <= 0) return;
    op.state_.deadline = now + op.timeout;
    op.state_.timerSlot = static_cast<std::uint32_t>(heap_.size());
    heap_.push_back(&op);
    siftUp(heap_.size() - 1);
  }
  bool armed(const Operation& op) const { return op.state_.timerSlot != kNone; }
  void remove(Operation& op) {
    std::size_t i = op.state_.timerSlot;
    if (i == kNone) return;
    FERRY_RELEASE_ASSERT(i < heap_.size() && heap_[i] == &op);
    op.state_.timerSlot = kNone;
    Operation* last = heap_.back();
    heap_.pop_back();
    if (last == &op) return;
    place(i, last);
    siftDown(i);
    siftUp(last->state_.timerSlot);
  }
  // Milliseconds until the nearest deadline (0 if due), or -1 with nothing armed; capped at cap
  // when cap >= 0.
  int waitMillis(TimePoint now, int cap) const {
    if (heap_.empty()) return cap;
    auto ms = std::chrono::ceil<std::chrono::milliseconds>(top().state_.deadline - now).count();
    if (ms < 0) ms = 0;
    return cap >= 0 && cap < ms ? cap : static_cast<int>(ms);
  }

  // Takes every operation whose deadline is not after now off the heap, earliest first, and
  // hands it to onDue (which may arm new deadlines). Returns how many were due.
  template <class F>
  std::size_t expireDue(TimePoint now, F&& onDue) {
    std::size_t n = 0;
    while (!heap_.empty() && heap_.front()->state_.deadline <= now) {
      Operation& op = *heap_.front();
      remove(op);
      onDue(op);
      ++n;
    }
    return n;
  }

  static constexpr std::uint32_t kNone = ~0U;

 private:
  static bool earlier(const Operation* a, const Operation* b) {
    return a->state_.deadline < b->state_.deadline;
  }
  void place(std::size_t i, Operation* op) {
    heap_[i] = op;
    op->state_.timerSlot = static_cast<std::uint32_t>(i);
  }
  void siftUp(std::size_t i) {
    Operation* op = heap_[i];
    while (i > 0 && earlier(op, heap_[(i - 1) / 2])) {
      place(i, heap_[(i - 1) / 2]);
      i = (i - 1) / 2;
    }
    place(i, op);
  }
  void siftDown(std::size_t i) {
    Operation* op = heap_[i];
    for (;;) {
      std::size_t c = 2 * i + 1;
      if (c >= heap_.size()) break;
      if (c + 1 < heap_.size() && earlier(heap_[c + 1], heap_[c])) ++c;
      if (!earlier(heap_[c], op)) break;
      place(i, heap_[c]);
      i = c;
    }
    place(i, op);
  }
  std::vector<Operation*> heap_;
};

}  // namespace ferry::io
