#pragma once
// Ending a pending operation early, from another coroutine on the same worker.

#include "proxy/io/proactor.h"

namespace ferry::session {

// A task records its pending operation in `op` while it waits; cancel() ends that wait (the
// operation completes with operation_canceled) and tells the task not to start another.
struct CancelSlot {
  io::Operation* op = nullptr;
  bool requested = false;
  void cancel(io::Proactor& p) {
    requested = true;
    if (op != nullptr && op->pending()) p.cancel(*op);
  }
};

}  // namespace ferry::session
