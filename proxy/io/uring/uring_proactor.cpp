// io_uring backend. Every operation's address is its submission's user_data; user_data 0 marks
// submissions whose completions are ignored (linked timeouts, cancel requests).
//
// Timeouts live in a user-space heap (TimerHeap), not in one kernel timer per operation: the
// ring waits with submit_and_wait_timeout up to the nearest deadline, and a due operation is
// cancelled (IORING_OP_ASYNC_CANCEL) with state_.timedOut set, so its -ECANCELED reads as
// timed_out. Measured on this machine kind, a linked timeout per operation cost several
// microseconds (arming and cancelling a kernel hrtimer, and an extra CQE); the heap costs tens
// of nanoseconds. Timers (startTimer) are the heap alone.
//
// Concurrency note: the ring is set up SINGLE_ISSUER (+DEFER_TASKRUN where the kernel has it):
// only the owning thread submits and reaps. post() and stop() from other threads go through a
// mutex-protected list and an eventfd that the ring always has a read pending on.

#include "proxy/io/uring/uring_proactor.h"

#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <vector>

#include "proxy/common/assert.h"
#include "proxy/common/log.h"
#include "proxy/io/backend.h"
#include "proxy/io/splice_step.h"
#include "proxy/io/transmit_cursor.h"

namespace ferry::io {
namespace {

std::error_code sysErr(int e) {
  return {e, std::system_category()};
}

class UringProactor;

// A listener: one multishot accept feeds connections to the AcceptOps queued on it; when none is
// waiting, accepted sockets wait in a queue. At kReadySoftCap queued sockets the multishot is
// cancelled until an accept is queued again (the kernel's backlog holds the rest); sockets that
// the kernel accepted between the cancel request and its completion are queued too (the queue
// grows), never closed: a closed accepted socket is a client answered by a reset. While accepts
// may not run ahead (AcceptOp::ahead: descriptors are counted) the same operation is armed as a
// one-shot accept, re-armed while accepts wait; with no accept left waiting it is cancelled.
//
// Lifetime: the multishot's operation (Multishot) is allocated apart from the listener, because
// its completions can outlive the listener: destroying a listener (a reload closes listeners at
// run time) cancels the multishot, but the kernel still delivers the cancel's completion, and
// sockets it accepted before seeing the cancel, afterwards. The listener hands its Multishot to
// the proactor, which closes such sockets and frees the Multishot on its final completion (the
// one without IORING_CQE_F_MORE).
class UringListener final : public Listener {
 public:
  UringListener(UringProactor& p, Socket s) : proactor_(p), socket_(std::move(s)) {
    multishot_ = new Multishot;
    multishot_->state_.kind = OpKind::kInternal;
    multishot_->listener = this;
    address_ = socket_.localAddress();
    specific_ = !address_.isWildcard();
  }
  ~UringListener() override;
  UringListener(const UringListener&) = delete;
  UringListener& operator=(const UringListener&) = delete;
  Address address() const override { return address_; }

  struct Multishot final : Operation {
    void onComplete(std::error_code, std::size_t) override {}
    UringListener* listener = nullptr;  // null once the listener is gone: the proactor owns it
    bool armed = false;                 // in the kernel (until a completion without F_MORE)
    bool multi = false;                 // armed as a multishot, not cancelled for one-shots
  };

  UringProactor& proactor_;
  Socket socket_;
  Address address_;
  bool specific_ = false;  // bound to one address (not 0.0.0.0 or ::): accepted sockets share it
  bool ahead_ = true;      // the last acceptEx allowed accepting ahead (AcceptOp::ahead)
  Multishot* multishot_ = nullptr;  // owned: by the listener, then by the proactor (see above)
  backend::AcceptQueue waiting_;
  static constexpr std::size_t kReadySoftCap = 1024;
  std::vector<int> ready_ = std::vector<int>(kReadySoftCap);  // a ring of readyCount_ from head
  std::size_t readyHead_ = 0;
  std::size_t readyCount_ = 0;

  int popReady() {
    int fd = ready_[readyHead_];
    readyHead_ = (readyHead_ + 1) % ready_.size();
    --readyCount_;
    return fd;
  }
  void pushReady(int fd) {
    if (readyCount_ == ready_.size()) {  // past the soft cap: only in a burst, grow once
      std::vector<int> bigger(ready_.size() * 2);
      for (std::size_t i = 0; i < readyCount_; ++i)
        bigger[i] = ready_[(readyHead_ + i) % ready_.size()];
      ready_.swap(bigger);
      readyHead_ = 0;
    }
    ready_[(readyHead_ + readyCount_) % ready_.size()] = fd;
    ++readyCount_;
  }
};

class UringProactor final : public backend::LoopProactor {
 public:
  explicit UringProactor(const ProactorOptions& o)
      : pool_(o.pooledBuffers, o.pooledBufferSize),
        zeroCopyThreshold_(o.zeroCopyThreshold),
        splice_(o.splice) {}
  ~UringProactor() override {
    if (bufRing_ != nullptr) {
      io_uring_unregister_buf_ring(&ring_, kBufferGroup);
      ::munmap(bufRing_, bufRingBytes_);
    }
    if (ringUp_) io_uring_queue_exit(&ring_);  // the kernel drops what is still in flight
    for (UringListener::Multishot* m : closedMultishots_) delete m;
    if (eventFd_ >= 0) ::close(eventFd_);
  }

  Result<bool> init(unsigned entries) {
    io_uring_params params{};
    params.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
    int r = io_uring_queue_init_params(entries, &ring_, &params);
    if (r == -EINVAL) {  // an older kernel without those flags
      params = io_uring_params{};
      r = io_uring_queue_init_params(entries, &ring_, &params);
    }
    if (r < 0) return systemError(-r, "io_uring_queue_init");
    ringUp_ = true;
    eventFd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (eventFd_ < 0) return systemError(errno, "eventfd");
    wake_.state_.kind = OpKind::kInternal;
    wake_.state_.owner = this;
    armWake();
    if (io_uring_probe* probe = io_uring_get_probe_ring(&ring_)) {
      if (!io_uring_opcode_supported(probe, IORING_OP_SENDMSG_ZC)) zeroCopyThreshold_ = 0;
      io_uring_free_probe(probe);
    } else {
      zeroCopyThreshold_ = 0;
    }
    return setUpBufferRing();
  }

  // recvPooled's buffers as a provided-buffer ring (liburing 2.3 has no io_uring_setup_buf_ring:
  // the ring's memory is mapped here and registered). Kernels without buffer rings (< 5.19)
  // fail here, and ferry then runs on epoll.
  Result<bool> setUpBufferRing() {
    std::uint32_t n = pool_.count();
    if (n == 0 || (n & (n - 1)) != 0 || n > 32768)
      return systemError(EINVAL, "pooled buffer count must be a power of two <= 32768");
    bufRingBytes_ = n * sizeof(io_uring_buf);
    void* mem =
        ::mmap(nullptr, bufRingBytes_, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    if (mem == MAP_FAILED) return systemError(errno, "mmap buffer ring");
    io_uring_buf_reg reg{};
    reg.ring_addr = reinterpret_cast<std::uint64_t>(mem);
    reg.ring_entries = n;
    reg.bgid = kBufferGroup;
    int r = io_uring_register_buf_ring(&ring_, &reg, 0);
    if (r != 0) {
      ::munmap(mem, bufRingBytes_);
      return systemError(-r, "io_uring_register_buf_ring");
    }
    bufRing_ = static_cast<io_uring_buf_ring*>(mem);
    io_uring_buf_ring_init(bufRing_);
    for (std::uint32_t i = 0; i < n; ++i) {
      io_uring_buf_ring_add(bufRing_, pool_.at(i), pool_.size(), static_cast<unsigned short>(i),
                            io_uring_buf_ring_mask(n), static_cast<int>(i));
    }
    io_uring_buf_ring_advance(bufRing_, static_cast<int>(n));
    pool_.lendAllToKernel();
    return true;
  }

  Backend backend() const override { return Backend::kUring; }

  Result<std::unique_ptr<Listener>> listen(const Address& addr,
                                           const ListenOptions& opts) override {
    auto s = listenTcp(addr, opts);
    if (!s) return s.error();
    return std::unique_ptr<Listener>(new UringListener(*this, std::move(s.value())));
  }

  void acceptEx(Listener& base, AcceptOp& op) override {
    auto& l = static_cast<UringListener&>(base);
    backend::begin(op, OpKind::kAccept);
    op.state_.owner = &l;
    op.socket.close();
    op.bytesReceived = 0;
    if (l.readyCount_ > 0) {
      startAccepted(op, l.popReady());
    } else {
      l.waiting_.push(op);
    }
    l.ahead_ = op.ahead;
    if (!op.ahead && l.multishot_->multi) {  // one at a time from now: the multishot goes
      cancelMultishot(l);
      l.multishot_->multi = false;
    }
    armListener(l);
  }

  void connectEx(ConnectOp& op) override {
    backend::begin(op, OpKind::kConnect);
    auto s = Socket::openTcp(op.remote);
    if (!s) {
      defer(op, s.error().code);
      return;
    }
    op.socket = std::move(s.value());
    if (op.fastOpen && !op.firstData.empty()) {
      int one = 1;
      ::setsockopt(op.socket.native(), IPPROTO_TCP, TCP_FASTOPEN_CONNECT, &one, sizeof(one));
    }
    io_uring_sqe* sqe = sqeFor(op);
    io_uring_prep_connect(sqe, op.socket.native(), static_cast<const sockaddr*>(op.remote.raw()),
                          static_cast<socklen_t>(op.remote.length()));
    restartClock(op);
  }

  void recv(RecvOp& op) override {
    backend::begin(op, OpKind::kRecv);
    io_uring_sqe* sqe = sqeFor(op);
    io_uring_prep_recv(sqe, op.socket, op.buffer.data(), op.buffer.size(), 0);
    restartClock(op);
  }

  void recvPooled(PooledRecvOp& op) override {
    releaseBuffer(op);
    backend::begin(op, OpKind::kRecvPooled);
    io_uring_sqe* sqe = sqeFor(op);
    io_uring_prep_recv(sqe, op.socket, nullptr, pool_.size(), 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = kBufferGroup;
    restartClock(op);
  }

  void releaseBuffer(PooledRecvOp& op) override {
    if (op.bufferId == ~0U) return;
    io_uring_buf_ring_add(bufRing_, pool_.at(op.bufferId), pool_.size(),
                          static_cast<unsigned short>(op.bufferId),
                          io_uring_buf_ring_mask(pool_.count()), 0);
    io_uring_buf_ring_advance(bufRing_, 1);
    pool_.backToKernel();
    op.bufferId = ~0U;
    op.data = nullptr;
  }

  std::size_t pooledBuffersInUse() const override { return pool_.inUse(); }

  void transmitPackets(TransmitOp& op) override {
    backend::begin(op, OpKind::kSend);
    stepTransmit(op);
  }

  // shutdown(2) is called here, not submitted: the kernel runs IORING_OP_SHUTDOWN only on an
  // io-wq worker thread (it is never issued inline), which cost a thread hand-off per closed
  // connection (io/README.md, S2). On a non-blocking TCP socket shutdown only queues a FIN.
  void disconnectEx(DisconnectOp& op) override {
    backend::begin(op, OpKind::kDisconnect);
    int r = ::shutdown(op.socket, SHUT_WR);
    defer(op, r == 0 || errno == ENOTCONN ? std::error_code{} : sysErr(errno));
  }

  // A poll: it reads nothing, and completes on bytes, the peer's FIN (POLLRDHUP) or an error.
  void waitReadable(WaitReadableOp& op) override {
    backend::begin(op, OpKind::kWaitRead);
    io_uring_sqe* sqe = sqeFor(op);
    io_uring_prep_poll_add(sqe, op.socket, POLLIN | POLLRDHUP);
    restartClock(op);
  }

  void startTimer(TimerOp& op) override {
    backend::begin(op, OpKind::kTimer);
    if (op.timeout.count() <= 0) {
      defer(op, {}, 0);  // already due: the next turn completes it
      return;
    }
    timers_.arm(op, std::chrono::steady_clock::now());
  }

  bool canSplice() const override { return splice_; }

  // splice(2) called here, with an IORING_OP_POLL_ADD on the side that would block, like
  // sendfile. IORING_OP_SPLICE itself runs on an io-wq worker thread even with data ready (a
  // thread hand-off per chunk, as with IORING_OP_SHUTDOWN), and from a socket with no data it
  // completes with EAGAIN rather than waiting (measured: io/README.md, TCP listeners: splice).
  void splice(SpliceOp& op) override {
    backend::begin(op, OpKind::kSplice);
    if (std::error_code ec = splice_step::openPipe(op)) {
      defer(op, ec);
      return;
    }
    splice_step::start(op);
    stepSplice(op);
  }

  void cancel(Operation& op) override {
    if (!op.state_.pending || op.state_.deferred) return;  // a queued completion stands
    op.state_.cancelRequested = true;
    if (op.state_.kind == OpKind::kAccept && op.state_.stage == 0) {
      // Waiting on its listener: take it off. Otherwise its completion is already deferred
      // (a socket was at hand, or its listener was closed) and stands.
      // No accept left waiting: the multishot stops too, so the kernel's backlog holds what
      // comes meanwhile instead of this listener's queue (a paused AcceptGate cancels them all).
      auto* l = static_cast<UringListener*>(op.state_.owner);
      if (l == nullptr || !l->waiting_.unlink(op)) return;
      defer(op, std::make_error_code(std::errc::operation_canceled));
      if (l->waiting_.empty()) cancelMultishot(*l);
      return;
    }
    if (op.state_.kind == OpKind::kPost) return;  // posts cannot be taken back
    if (op.state_.kind == OpKind::kTimer) {
      timers_.remove(op);
      defer(op, std::make_error_code(std::errc::operation_canceled));
      return;
    }
    io_uring_sqe* sqe = sqeFor(op);
    io_uring_prep_cancel64(sqe, reinterpret_cast<__u64>(&op), 0);
    io_uring_sqe_set_data64(sqe, 0);
  }

  void post(Operation& op) override {
    {
      std::lock_guard<std::mutex> lock(postMutex_);
      op.state_ = {};
      op.state_.kind = OpKind::kPost;
      op.state_.pending = true;
      posted_.push_back(&op);
    }
    wake();
  }

  // --- used by UringListener ---
  void cancelMultishot(UringListener& l) {
    if (!l.multishot_->armed) return;
    io_uring_sqe* sqe = getSqe(1);
    io_uring_prep_cancel64(sqe, reinterpret_cast<__u64>(l.multishot_), 0);
    io_uring_sqe_set_data64(sqe, 0);
    io_uring_submit(&ring_);
  }

  // The listener is being destroyed: accepts still waiting on it complete with
  // operation_canceled (on the next turn), queued sockets are closed, and a multishot still in
  // the kernel is cancelled and kept here until its final completion (see UringListener).
  void closeListener(UringListener& l) {
    while (!l.waiting_.empty()) {
      Operation& op = l.waiting_.pop();
      op.state_.owner = nullptr;
      op.state_.cancelRequested = true;
      defer(op, std::make_error_code(std::errc::operation_canceled));
    }
    while (l.readyCount_ > 0) ::close(l.popReady());
    UringListener::Multishot* m = l.multishot_;
    l.multishot_ = nullptr;
    m->listener = nullptr;
    if (!m->armed) {
      delete m;
      return;
    }
    io_uring_sqe* sqe = getSqe(1);
    io_uring_prep_cancel64(sqe, reinterpret_cast<__u64>(m), 0);
    io_uring_sqe_set_data64(sqe, 0);
    io_uring_submit(&ring_);
    closedMultishots_.push_back(m);
  }

 private:
  struct WakeOp final : Operation {
    void onComplete(std::error_code, std::size_t) override {}
  };

  // Returns an SQE, first making room for `need` consecutive ones so that a linked pair is never
  // split across two submissions.
  io_uring_sqe* getSqe(unsigned need) {
    if (io_uring_sq_space_left(&ring_) < need) io_uring_submit(&ring_);
    io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
    FERRY_RELEASE_ASSERT(sqe != nullptr);
    return sqe;
  }

  io_uring_sqe* sqeFor(Operation& op) {
    io_uring_sqe* sqe = getSqe(1);
    io_uring_sqe_set_data(sqe, &op);
    return sqe;
  }

  // (Re)starts op's inactivity clock for the stage just submitted.
  void restartClock(Operation& op) {
    timers_.remove(op);
    timers_.arm(op, std::chrono::steady_clock::now());
  }

  // Cancels the operations whose deadline passed; timers complete here.
  std::size_t expireDue() {
    return timers_.expireDue(std::chrono::steady_clock::now(), [&](Operation& op) {
      if (op.state_.kind == OpKind::kTimer) {
        complete(op, {}, 0);
        return;
      }
      op.state_.timedOut = true;
      io_uring_sqe* sqe = getSqe(1);
      io_uring_prep_cancel64(sqe, reinterpret_cast<__u64>(&op), 0);
      io_uring_sqe_set_data64(sqe, 0);
    });
  }

  void defer(Operation& op, std::error_code ec, std::size_t bytes = 0) {
    timers_.remove(op);
    deferred_.push(op, ec, bytes);
  }

  void complete(Operation& op, std::error_code ec, std::size_t bytes) {
    timers_.remove(op);
    op.state_.pending = false;
    op.onComplete(ec, bytes);
  }

  // Maps a negative CQE result to the error the operation completes with.
  static std::error_code errorOf(const Operation& op, int res) {
    if (res == -ECANCELED && op.state_.timedOut && !op.state_.cancelRequested) {
      return std::make_error_code(std::errc::timed_out);
    }
    if (res == -ECANCELED) return std::make_error_code(std::errc::operation_canceled);
    return sysErr(-res);
  }

  void wake() override {
    std::uint64_t one = 1;
    [[maybe_unused]] ssize_t n = ::write(eventFd_, &one, sizeof(one));
  }

  void armWake() {
    io_uring_sqe* sqe = getSqe(1);
    io_uring_prep_read(sqe, eventFd_, &wakeValue_, sizeof(wakeValue_), 0);
    io_uring_sqe_set_data(sqe, &wake_);
  }

  // One turn: deliver deferred completions, submit, wait up to maxWaitMs (-1: no bound) or the
  // nearest deadline, deliver completions, expire what is due.
  std::size_t turn(int maxWaitMs) override {
    std::size_t n = deferred_.flush();
    int waitMs = n > 0 ? 0 : timers_.waitMillis(std::chrono::steady_clock::now(), maxWaitMs);
    io_uring_cqe* cqe = nullptr;
    if (waitMs == 0) {
      io_uring_submit(&ring_);
      io_uring_get_events(&ring_);
    } else if (waitMs > 0) {
      __kernel_timespec ts{};
      ts.tv_sec = waitMs / 1000;
      ts.tv_nsec = static_cast<long long>(waitMs % 1000) * 1'000'000;
      int r = io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, &ts, nullptr);
      if (r < 0 && r != -ETIME && r != -EINTR) FERRY_BUG(r >= 0);
    } else {
      int r = io_uring_submit_and_wait(&ring_, 1);
      if (r < 0 && r != -EINTR) FERRY_BUG(r >= 0);
    }
    while (io_uring_peek_cqe(&ring_, &cqe) == 0) {
      void* data = io_uring_cqe_get_data(cqe);
      int res = cqe->res;
      unsigned flags = cqe->flags;
      io_uring_cqe_seen(&ring_, cqe);
      if (data != nullptr) {
        dispatch(*static_cast<Operation*>(data), res, flags);
        ++n;
      }
    }
    n += expireDue();
    n += deferred_.flush();
    return n;
  }

  void dispatch(Operation& op, int res, unsigned flags) {
    switch (op.state_.kind) {
      case OpKind::kRecv:
        complete(op, res < 0 ? errorOf(op, res) : std::error_code{},
                 res < 0 ? 0 : static_cast<std::size_t>(res));
        return;
      case OpKind::kRecvPooled: {
        auto& p = static_cast<PooledRecvOp&>(op);
        if ((flags & IORING_CQE_F_BUFFER) != 0) {
          p.bufferId = flags >> IORING_CQE_BUFFER_SHIFT;
          p.data = pool_.at(p.bufferId);
          pool_.kernelHandedOut();
        }
        complete(op, res < 0 ? errorOf(op, res) : std::error_code{},
                 res < 0 ? 0 : static_cast<std::size_t>(res));
        return;
      }
      case OpKind::kWaitRead:
        complete(op, res < 0 ? errorOf(op, res) : std::error_code{}, 0);
        return;
      case OpKind::kAccept:
        onAcceptFirstData(static_cast<AcceptOp&>(op), res);
        return;
      case OpKind::kConnect:
        onConnect(static_cast<ConnectOp&>(op), res);
        return;
      case OpKind::kSend:
      case OpKind::kSendPoll:
        onTransmit(static_cast<TransmitOp&>(op), res);
        return;
      case OpKind::kSendZc:
        onZeroCopy(static_cast<TransmitOp&>(op), res, flags);
        return;
      case OpKind::kSplice: {
        auto& sp = static_cast<SpliceOp&>(op);
        if (res < 0) {
          sp.failedWriting = op.state_.stage == 1;
          complete(op, errorOf(op, res), op.state_.total);
          return;
        }
        if (op.state_.cancelRequested) {  // the poll fired as the cancel came: stop here
          complete(op, std::make_error_code(std::errc::operation_canceled), op.state_.total);
          return;
        }
        stepSplice(sp);
        return;
      }
      case OpKind::kInternal:
        if (&op == &wake_) {
          onWake();
        } else {
          onMultishot(static_cast<UringListener::Multishot&>(op), res, flags);
        }
        return;
      case OpKind::kTimer:       // timers never reach the ring
      case OpKind::kDisconnect:  // nor do disconnects (see disconnectEx)
      case OpKind::kPost:
      case OpKind::kNone:
        FERRY_BUG(false);
        return;
    }
  }

  void onWake() {
    std::vector<Operation*> batch;
    {
      std::lock_guard<std::mutex> lock(postMutex_);
      batch.swap(posted_);
    }
    armWake();
    for (Operation* op : batch) complete(*op, {}, 0);
  }

  // A multishot accept, or while accepts must not run ahead (AcceptOp::ahead) a one-shot one,
  // which the same completion path re-arms while accepts wait.
  void armListener(UringListener& l) {
    if (l.multishot_->armed || l.readyCount_ >= UringListener::kReadySoftCap) return;
    io_uring_sqe* sqe = getSqe(1);
    if (l.ahead_) {
      io_uring_prep_multishot_accept(sqe, l.socket_.native(), nullptr, nullptr,
                                     SOCK_NONBLOCK | SOCK_CLOEXEC);
    } else {
      io_uring_prep_accept(sqe, l.socket_.native(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    }
    io_uring_sqe_set_data(sqe, l.multishot_);
    l.multishot_->armed = true;
    l.multishot_->multi = l.ahead_;
  }

  void onMultishot(UringListener::Multishot& m, int res, unsigned flags) {
    bool final = (flags & IORING_CQE_F_MORE) == 0;
    if (m.listener == nullptr) {  // its listener is gone (closeListener): absorb, then free
      if (res >= 0) ::close(res);
      if (final) {
        std::erase(closedMultishots_, &m);
        delete &m;
      }
      return;
    }
    UringListener& l = *m.listener;
    if (final) m.armed = false;
    if (res < 0 && backend::acceptOutOfResources(-res)) {
      // The multishot ended (an error always ends it). Not armed again until the next acceptEx:
      // the oldest waiting accept takes the error, and its caller decides when to try again.
      if (!l.waiting_.empty()) defer(l.waiting_.pop(), sysErr(-res));
      return;
    }
    if (res < 0) {
      if (res != -ECANCELED) {
        FERRY_WARN_LIMITED("accept on {}: {}", l.address_.toString(), strerror(-res));
      }
    } else if (!l.waiting_.empty()) {
      startAccepted(static_cast<AcceptOp&>(l.waiting_.pop()), res);
    } else {
      l.pushReady(res);
      if (l.readyCount_ == UringListener::kReadySoftCap) cancelMultishot(l);
    }
    // Re-armed after other errors and a cancel only while someone is waiting.
    if (!m.armed && !l.waiting_.empty()) armListener(l);
  }

  // Accepted sockets inherit TCP_NODELAY from the listener (Linux copies the listener's TCP
  // options into the child), so no setsockopt here; the local address is the listener's unless
  // it is bound to a wildcard address: one getpeername per connection, and no other system call.
  void startAccepted(AcceptOp& op, int fd) {
    op.socket = Socket(fd);
    auto* l = static_cast<UringListener*>(op.state_.owner);
    op.local = l->specific_ ? l->address_ : op.socket.localAddress();
    op.peer = op.socket.peerAddress();
    if (op.firstData.empty()) {
      defer(op, {}, 0);
      return;
    }
    op.state_.stage = 1;
    io_uring_sqe* sqe = sqeFor(op);
    io_uring_prep_recv(sqe, fd, op.firstData.data(), op.firstData.size(), 0);
    restartClock(op);
  }

  void onAcceptFirstData(AcceptOp& op, int res) {
    if (res >= 0) {
      op.bytesReceived = static_cast<std::size_t>(res);
      complete(op, {}, op.bytesReceived);
      return;
    }
    std::error_code ec = errorOf(op, res);
    if (ec == std::errc::timed_out) {  // a silent client: hand it over with no bytes
      complete(op, {}, 0);
      return;
    }
    op.socket.close();
    complete(op, ec, 0);
  }

  void onConnect(ConnectOp& op, int res) {
    if (res < 0) {
      op.socket.close();
      complete(op, errorOf(op, res), 0);
      return;
    }
    if (op.state_.stage == 0) {
      op.state_.stage = 1;
    } else {
      op.state_.progress += static_cast<std::uint64_t>(res);
    }
    if (op.state_.progress >= op.firstData.size()) {
      complete(op, {}, op.firstData.size());
      return;
    }
    if (op.state_.cancelRequested) {  // see canceledBetweenStages
      op.socket.close();
      complete(op, std::make_error_code(std::errc::operation_canceled), 0);
      return;
    }
    io_uring_sqe* sqe = sqeFor(op);
    io_uring_prep_send(sqe, op.socket.native(), op.firstData.data() + op.state_.progress,
                       op.firstData.size() - op.state_.progress, MSG_NOSIGNAL);
    restartClock(op);
  }

  // A cancel that raced with the completion of an operation's current stage found nothing in
  // the ring to cancel: the operation must not go on to its next stage. Completes a transmit
  // that was asked to stop with operation_canceled (and what it had sent) and returns true.
  bool canceledBetweenStages(TransmitOp& op) {
    if (!op.state_.cancelRequested || !transmit_cursor::skipDone(op)) return false;  // or done
    complete(op, std::make_error_code(std::errc::operation_canceled), op.state_.total);
    return true;
  }

  static std::uint64_t runBytes(const msghdr& m) {
    std::uint64_t n = 0;
    for (std::size_t i = 0; i < m.msg_iovlen; ++i) n += m.msg_iov[i].iov_len;
    return n;
  }

  // A zero-copy send: the result CQE (F_MORE when a notification follows), then F_NOTIF.
  void onZeroCopy(TransmitOp& op, int res, unsigned flags) {
    if ((flags & IORING_CQE_F_NOTIF) != 0) {
      int saved = zcResult(op);
      if (saved < 0) {
        complete(op, errorOf(op, saved), op.state_.total);
        return;
      }
      op.state_.kind = OpKind::kSend;
      if (canceledBetweenStages(op)) return;
      stepTransmit(op);
      return;
    }
    if (res >= 0) transmit_cursor::advance(op, static_cast<std::uint64_t>(res));
    if ((flags & IORING_CQE_F_MORE) != 0) {
      zcResult(op) = res;
      return;
    }
    if (res < 0) {
      complete(op, errorOf(op, res), op.state_.total);
      return;
    }
    op.state_.kind = OpKind::kSend;
    if (canceledBetweenStages(op)) return;
    stepTransmit(op);
  }
  // The send result kept while the notification is outstanding (in the op's scratch area).
  static int& zcResult(TransmitOp& op) { return *reinterpret_cast<int*>(op.state_.scratch); }

  void onTransmit(TransmitOp& op, int res) {
    if (res < 0) {
      complete(op, errorOf(op, res), op.state_.total);
      return;
    }
    if (op.state_.kind == OpKind::kSend)
      transmit_cursor::advance(op, static_cast<std::uint64_t>(res));
    if (canceledBetweenStages(op)) return;
    op.state_.kind = OpKind::kSend;
    stepTransmit(op);
  }

  void stepSplice(SpliceOp& op) {
    std::error_code ec;
    splice_step::Next n = splice_step::advance(op, ec);
    if (!splice_step::waits(n)) {
      defer(op, ec, splice_step::completedBytes(op, n));
      return;
    }
    bool write = op.buffered > 0;
    io_uring_sqe* sqe = sqeFor(op);
    io_uring_prep_poll_add(sqe, write ? op.to : op.from, write ? POLLOUT : POLLIN);
    op.timeout = write ? op.writeTimeout : op.readTimeout;
    restartClock(op);
  }

  void stepTransmit(TransmitOp& op) {
    namespace tc = transmit_cursor;
    while (tc::skipDone(op)) {
      if (!tc::current(op).isFile()) {
        msghdr* msg = tc::gather(op);
        io_uring_sqe* sqe = sqeFor(op);
        if (zeroCopyThreshold_ > 0 && runBytes(*msg) >= zeroCopyThreshold_) {
          // Two completions: the send's result (with F_MORE), then a notification (F_NOTIF)
          // once the kernel no longer reads the caller's memory. The op waits for both.
          io_uring_prep_sendmsg_zc(sqe, op.socket, msg, MSG_NOSIGNAL);
          op.state_.kind = OpKind::kSendZc;
        } else {
          io_uring_prep_sendmsg(sqe, op.socket, msg, MSG_NOSIGNAL);
        }
        restartClock(op);
        return;
      }
      // File range: sendfile copies in the kernel; when the socket buffer is full, wait for
      // POLLOUT and go on. Blocking never happens: the socket is non-blocking.
      long n = tc::sendFileRange(op);
      if (n > 0) continue;
      if (n == -EAGAIN) {
        op.state_.kind = OpKind::kSendPoll;
        io_uring_sqe* sqe = sqeFor(op);
        io_uring_prep_poll_add(sqe, op.socket, POLLOUT);
        restartClock(op);
        return;
      }
      // n == 0: the file is shorter than the element says
      defer(op, n == 0 ? std::make_error_code(std::errc::io_error) : sysErr(static_cast<int>(-n)),
            op.state_.total);
      return;
    }
    std::error_code ec;
    if ((op.flags & kTransmitDisconnect) != 0 && ::shutdown(op.socket, SHUT_WR) != 0 &&
        errno != ENOTCONN) {
      ec = sysErr(errno);  // shutdown inline, as in disconnectEx
    }
    defer(op, ec, op.state_.total);
  }

  static constexpr unsigned short kBufferGroup = 1;
  TimerHeap timers_;
  PooledBuffers pool_;
  std::uint32_t zeroCopyThreshold_;
  bool splice_;
  io_uring_buf_ring* bufRing_ = nullptr;
  std::size_t bufRingBytes_ = 0;
  io_uring ring_{};
  bool ringUp_ = false;
  int eventFd_ = -1;
  std::uint64_t wakeValue_ = 0;
  WakeOp wake_;
  std::mutex postMutex_;
  std::vector<Operation*> posted_;
  backend::DeferredCompletions deferred_;
  std::vector<UringListener::Multishot*> closedMultishots_;  // of destroyed listeners, in flight
};

UringListener::~UringListener() {
  proactor_.closeListener(*this);
}

}  // namespace

Result<std::unique_ptr<Proactor>> makeUringProactor(const ProactorOptions& options,
                                                    unsigned entries) {
  auto p = std::make_unique<UringProactor>(options);
  auto r = p->init(entries);
  if (!r) return r.error();
  return std::unique_ptr<Proactor>(std::move(p));
}

}  // namespace ferry::io
