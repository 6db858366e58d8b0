#pragma once
// The sessions of one worker, so that drain (and reload) can reach every client connection,
// idle keep-alive ones included. Single-threaded: only the owning worker touches it; the count is
// mirrored in an atomic for other threads (the main thread waits on it while draining).

#include <atomic>
#include <cstddef>

#include "proxy/io/proactor.h"
#include "proxy/session/cancel.h"

namespace ferry::session {

class SessionRegistry {
 public:
  // One per client connection, embedded in it; linked while the connection lives.
  struct Entry {
    Entry* prev = nullptr;
    Entry* next = nullptr;
    CancelSlot idleWait;  // the connection's wait for its next request, while idle
  };

  void add(Entry& e) {
    e.next = head_;
    if (head_ != nullptr) head_->prev = &e;
    head_ = &e;
    count_.store(count_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }
  void remove(Entry& e) {
    if (e.prev != nullptr) e.prev->next = e.next;
    if (e.next != nullptr) e.next->prev = e.prev;
    if (head_ == &e) head_ = e.next;
    e.prev = e.next = nullptr;
    count_.store(count_.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
  }

  // From now on every session ends as soon as it can: idle ones at once (their wait is
  // cancelled), busy ones after their current response, which says Connection: close.
  void drain(io::Proactor& p) {
    draining_ = true;
    for (Entry* e = head_; e != nullptr; e = e->next) e->idleWait.cancel(p);
  }
  bool draining() const { return draining_; }
  // Connections open now; any thread.
  std::size_t size() const { return count_.load(std::memory_order_relaxed); }

 private:
  Entry* head_ = nullptr;
  bool draining_ = false;
  std::atomic<std::size_t> count_{0};
};

}  // namespace ferry::session
