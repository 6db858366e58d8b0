#pragma once
// Coroutine front-ends for the proactor's operations: `co_await io::recv(p, fd, buf, timeout)`.
// Each awaiter IS the operation object; it lives in the awaiting coroutine's frame while the
// operation is pending, so nothing is allocated. onComplete resumes the coroutine.

#include <coroutine>
#include <span>
#include <type_traits>

#include "proxy/common/assert.h"
#include "proxy/io/proactor.h"

namespace ferry::io {

// The one Proactor member that submits each operation type: the awaiter calls it by the type,
// so it does not carry a 16-byte member-function pointer per pending operation.
inline void submitOp(Proactor& p, RecvOp& op) {
  p.recv(op);
}
inline void submitOp(Proactor& p, PooledRecvOp& op) {
  p.recvPooled(op);
}
inline void submitOp(Proactor& p, TransmitOp& op) {
  p.transmitPackets(op);
}
inline void submitOp(Proactor& p, DisconnectOp& op) {
  p.disconnectEx(op);
}
inline void submitOp(Proactor& p, WaitReadableOp& op) {
  p.waitReadable(op);
}
inline void submitOp(Proactor& p, TimerOp& op) {
  p.startTimer(op);
}
inline void submitOp(Proactor& p, ConnectOp& op) {
  p.connectEx(op);
}

struct IoResult {
  std::error_code ec;
  std::size_t bytes = 0;
  bool ok() const { return !ec; }
};

template <class Op>
class Awaiter final : public Op {
 public:
  using Submit = void (Proactor::*)(Op&);
  // init fills the operation's inputs; awaiters are returned as prvalues (never copied). submit
  // names the Proactor member for Op (there is one per operation type: submitOp above).
  template <class Init>
  Awaiter(Proactor& p, [[maybe_unused]] Submit submit, Init&& init) : proactor_(p) {
    FERRY_ASSERT(submitsLikeType(submit));
    init(static_cast<Op&>(*this));
  }
  Awaiter(const Awaiter&) = delete;
  Awaiter& operator=(const Awaiter&) = delete;

  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> h) {
    handle_ = h;
    submitOp(proactor_, static_cast<Op&>(*this));
  }
  IoResult await_resume() noexcept { return {ec_, bytes_}; }

  void onComplete(std::error_code ec, std::size_t bytes) override {
    ec_ = ec;
    bytes_ = bytes;
    handle_.resume();
  }

 private:
  static bool submitsLikeType(Submit s) {
    if constexpr (std::is_same_v<Op, RecvOp>) return s == &Proactor::recv;
    if constexpr (std::is_same_v<Op, PooledRecvOp>) return s == &Proactor::recvPooled;
    if constexpr (std::is_same_v<Op, TransmitOp>) return s == &Proactor::transmitPackets;
    if constexpr (std::is_same_v<Op, DisconnectOp>) return s == &Proactor::disconnectEx;
    if constexpr (std::is_same_v<Op, WaitReadableOp>) return s == &Proactor::waitReadable;
    if constexpr (std::is_same_v<Op, TimerOp>) return s == &Proactor::startTimer;
    if constexpr (std::is_same_v<Op, ConnectOp>) return s == &Proactor::connectEx;
    return false;
  }

  Proactor& proactor_;
  std::coroutine_handle<> handle_;
  std::error_code ec_;
  std::size_t bytes_ = 0;
};

inline Awaiter<RecvOp> recv(Proactor& p, NativeHandle s, std::span<char> buf, Duration timeout) {
  return Awaiter<RecvOp>(p, &Proactor::recv, [&](RecvOp& o) {
    o.socket = s;
    o.buffer = buf;
    o.timeout = timeout;
  });
}

// Sends all of elements (see TransmitOp); a plain send is one memory element.
inline Awaiter<TransmitOp> transmit(Proactor& p, NativeHandle s,
                                    std::span<const TransmitElement> elements, Duration timeout,
                                    std::uint32_t flags = 0) {
  return Awaiter<TransmitOp>(p, &Proactor::transmitPackets, [&](TransmitOp& o) {
    o.socket = s;
    o.elements = elements;
    o.timeout = timeout;
    o.flags = flags;
  });
}

inline Awaiter<DisconnectOp> disconnect(Proactor& p, NativeHandle s, Duration timeout,
                                        bool reuse = false) {
  return Awaiter<DisconnectOp>(p, &Proactor::disconnectEx, [&](DisconnectOp& o) {
    o.socket = s;
    o.reuse = reuse;
    o.timeout = timeout;
  });
}

// Waits until a recv on s would not block (see WaitReadableOp); reads nothing.
inline Awaiter<WaitReadableOp> waitReadable(Proactor& p, NativeHandle s, Duration timeout) {
  return Awaiter<WaitReadableOp>(p, &Proactor::waitReadable, [&](WaitReadableOp& o) {
    o.socket = s;
    o.timeout = timeout;
  });
}

inline Awaiter<TimerOp> sleepFor(Proactor& p, Duration d) {
  return Awaiter<TimerOp>(p, &Proactor::startTimer, [&](TimerOp& o) { o.timeout = d; });
}

// connect_ex: after co_await, the awaiter's `socket` holds the connected socket; take it with
// std::move(awaiter.socket). Use as: auto c = io::connect(...); auto r = co_await c;
inline Awaiter<ConnectOp> connect(Proactor& p, const Address& remote,
                                  std::span<const char> firstData, Duration timeout) {
  return Awaiter<ConnectOp>(p, &Proactor::connectEx, [&](ConnectOp& o) {
    o.remote = remote;
    o.firstData = firstData;
    o.timeout = timeout;
  });
}

// accept_ex on a listener; the awaiter keeps socket, addresses and bytesReceived.
class AcceptAwaiter final : public AcceptOp {
 public:
  AcceptAwaiter(Proactor& p, Listener& l) : proactor_(p), listener_(l) {}
  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> h) {
    handle_ = h;
    proactor_.acceptEx(listener_, *this);
  }
  IoResult await_resume() noexcept { return {ec_, bytes_}; }
  void onComplete(std::error_code ec, std::size_t bytes) override {
    ec_ = ec;
    bytes_ = bytes;
    handle_.resume();
  }

 private:
  Proactor& proactor_;
  Listener& listener_;
  std::coroutine_handle<> handle_;
  std::error_code ec_;
  std::size_t bytes_ = 0;
};

// splice, awaited again and again on the same object (it owns the pipe): co_await sp.
class SpliceAwaiter final : public SpliceOp {
 public:
  explicit SpliceAwaiter(Proactor& p) : proactor_(p) {}
  SpliceAwaiter(const SpliceAwaiter&) = delete;
  SpliceAwaiter& operator=(const SpliceAwaiter&) = delete;
  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> h) {
    handle_ = h;
    proactor_.splice(*this);
  }
  IoResult await_resume() noexcept { return {ec_, bytes_}; }
  void onComplete(std::error_code ec, std::size_t bytes) override {
    ec_ = ec;
    bytes_ = bytes;
    handle_.resume();
  }

 private:
  Proactor& proactor_;
  std::coroutine_handle<> handle_;
  std::error_code ec_;
  std::size_t bytes_ = 0;
};

}  // namespace ferry::io
