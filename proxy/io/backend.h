#pragma once
// What every proactor implementation shares: starting an operation's bookkeeping, the queue of
// completions found at submission (delivered by the loop, never inside the submitting call),
// and run()/runOnce() over one `turn` of the backend's loop. Only backends include this.

#include <atomic>
#include <cerrno>
#include <vector>

#include "proxy/common/assert.h"
#include "proxy/io/pooled_buffers.h"
#include "proxy/io/proactor.h"
#include "proxy/io/timer_heap.h"

namespace ferry::io::backend {

// Resets op's bookkeeping for a new submission of `kind`. A finished operation is off the timer
// heap (every completion path removes it), so its slot is already kNone.
inline void begin(Operation& op, OpKind kind) {
  FERRY_ASSERT(!op.state_.pending);
  FERRY_BUG(op.state_.timerSlot == TimerHeap::kNone);
  Operation::State& s = op.state_;
  s.kind = kind;
  s.stage = 0;
  s.pending = true;
  s.cancelRequested = false;
  s.timedOut = false;
  s.index = 0;
  s.progress = 0;
  s.total = 0;
  s.next = nullptr;
}

// Gives op's pooled buffer back to a free-list pool (epoll, IOCP).
inline void releaseToFreeList(PooledBuffers& pool, PooledRecvOp& op) {
  if (op.bufferId == ~0U) return;
  pool.give(op.bufferId);
  op.bufferId = ~0U;
  op.data = nullptr;
}

// The accepts waiting on a listener, oldest first, linked through state_.next (io_uring, epoll).
struct AcceptQueue {
  Operation* head = nullptr;
  Operation* tail = nullptr;
  bool empty() const { return head == nullptr; }
  void push(Operation& op) {
    (tail != nullptr ? tail->state_.next : head) = &op;
    tail = &op;
  }
  // The oldest; the queue must not be empty.
  Operation& pop() {
    Operation& op = *head;
    head = op.state_.next;
    if (head == nullptr) tail = nullptr;
    op.state_.next = nullptr;
    return op;
  }
  // Takes op off the queue; false if it was not there.
  bool unlink(Operation& op) {
    Operation* prev = nullptr;
    for (Operation* cur = head; cur != nullptr; prev = cur, cur = cur->state_.next) {
      if (cur != &op) continue;
      (prev != nullptr ? prev->state_.next : head) = cur->state_.next;
      if (tail == cur) tail = prev;
      cur->state_.next = nullptr;
      return true;
    }
    return false;
  }
};

// Whether accept(2) failed for want of resources. Trying again at once fails again, so the
// backend hands the error to the oldest waiting accept and arms no kernel accept until the next
// acceptEx: the caller paces the retries (AcceptGate).
inline bool acceptOutOfResources(int e) {
  return e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM;
}

// Completions decided at submission time, delivered by the loop. Backends take the operation
// off their timer heap before pushing it here.
class DeferredCompletions {
 public:
  DeferredCompletions() { items_.reserve(256); }
  void push(Operation& op, std::error_code ec, std::size_t bytes) {
    op.state_.deferred = true;
    items_.push_back({&op, ec, bytes});
  }
  bool empty() const { return items_.empty(); }
  // Delivers them in order; completions may push more, which are delivered too.
  std::size_t flush() {
    std::size_t n = 0;
    for (std::size_t i = 0; i < items_.size(); ++i) {  // indexes: the vector may grow
      Item d = items_[i];
      d.op->state_.pending = false;
      d.op->state_.deferred = false;
      d.op->onComplete(d.ec, d.bytes);
      ++n;
    }
    items_.clear();
    return n;
  }

 private:
  struct Item {
    Operation* op;
    std::error_code ec;
    std::size_t bytes;
  };
  std::vector<Item> items_;
};

// run() and runOnce() for a backend that provides one turn of its loop and a way to wake it.
class LoopProactor : public Proactor {
 public:
  void run() override {
    while (!stopRequested_.load(std::memory_order_acquire)) turn(-1);
  }
  std::size_t runOnce(Duration maxWait) override {
    return turn(static_cast<int>(std::chrono::ceil<std::chrono::milliseconds>(maxWait).count()));
  }
  void stop() override {
    stopRequested_.store(true, std::memory_order_release);
    wake();
  }
  // No handle reuse (Linux): a plain close, counted. IOCP overrides it.
  void endForReuse(Socket s, const Address&) override {
    s.close();
    ++socketReuse_.closed;
  }
  SocketReuseCounts socketReuse() const override { return socketReuse_; }

 protected:
  SocketReuseCounts socketReuse_;

  // Waits up to maxWaitMs (-1: no bound, 0: not at all) and delivers what is ready.
  virtual std::size_t turn(int maxWaitMs) = 0;
  // Any thread: makes a turn that is waiting return.
  virtual void wake() = 0;

 private:
  std::atomic<bool> stopRequested_{false};
};

}  // namespace ferry::io::backend
