// epoll backend: completions emulated over readiness.
//
// - An operation first tries its system call at once. If the call would block, the operation
//   waits on its socket: each fd has one reader slot and one writer slot, registered with
//   EPOLLONESHOT for the events its waiters need, re-armed after every wake-up.
// - Completions are never delivered inside the submitting call: results found at submission go
//   to the deferred queue that run()/runOnce() drains.
// - Timeouts and timers live in one binary heap ordered by deadline (the operation keeps its
//   slot index, so removal is O(log n) and allocation-free once the heap has grown).
// Concurrency note: single-threaded like every proactor; post()/stop() use a mutex-protected
// list and an eventfd.

#include "proxy/io/epoll/epoll_proactor.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
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
std::error_code canceled() {
  return std::make_error_code(std::errc::operation_canceled);
}
std::error_code timedOut() {
  return std::make_error_code(std::errc::timed_out);
}

class EpollProactor;

// A listener: accept4 runs when its socket is readable and accepts are waiting. Destroying it
// (a reload closes listeners at run time) takes its socket off the readiness table before the
// socket closes, so an event already fetched for it in the same turn finds no one, and accepts
// still waiting complete with operation_canceled.
class EpollListener final : public Listener {
 public:
  EpollListener(EpollProactor& p, Socket s) : proactor_(p), socket_(std::move(s)) {
    self_.state_.kind = OpKind::kInternal;
    self_.state_.owner = this;
    address_ = socket_.localAddress();
    specific_ = !address_.isWildcard();
  }
  ~EpollListener() override;
  EpollListener(const EpollListener&) = delete;
  EpollListener& operator=(const EpollListener&) = delete;
  Address address() const override { return address_; }

  struct ListenOp final : Operation {
    void onComplete(std::error_code, std::size_t) override {}
  };
  EpollProactor& proactor_;
  Socket socket_;
  Address address_;
  bool specific_ = false;  // bound to one address (not 0.0.0.0 or ::): accepted sockets share it
  ListenOp self_;
  backend::AcceptQueue waiting_;
};

class EpollProactor final : public backend::LoopProactor {
 public:
  explicit EpollProactor(const ProactorOptions& o)
      : pool_(o.pooledBuffers, o.pooledBufferSize), splice_(o.splice) {}
  ~EpollProactor() override {
    if (epfd_ >= 0) ::close(epfd_);
    if (eventFd_ >= 0) ::close(eventFd_);
    std::free(fds_);
  }

  Result<bool> init() {
    epfd_ = ::epoll_create1(EPOLL_CLOEXEC);
    if (epfd_ < 0) return systemError(errno, "epoll_create1");
    growFds(1);  // the slot table, sized for the file limit now (see growFds)
    eventFd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (eventFd_ < 0) return systemError(errno, "eventfd");
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = eventFd_;
    if (::epoll_ctl(epfd_, EPOLL_CTL_ADD, eventFd_, &ev) != 0)
      return systemError(errno, "epoll_ctl");
    return true;
  }

  Backend backend() const override { return Backend::kEpoll; }

  Result<std::unique_ptr<Listener>> listen(const Address& addr,
                                           const ListenOptions& opts) override {
    auto s = listenTcp(addr, opts);
    if (!s) return s.error();
    return std::unique_ptr<Listener>(new EpollListener(*this, std::move(s.value())));
  }

  void acceptEx(Listener& base, AcceptOp& op) override {
    auto& l = static_cast<EpollListener&>(base);
    backend::begin(op, OpKind::kAccept);
    op.state_.owner = &l;
    op.socket.close();
    op.bytesReceived = 0;
    l.waiting_.push(op);
    // Accepting happens when the listener is readable (perhaps already): try on the next turn.
    if (!l.self_.state_.pending) {
      l.self_.state_.pending = true;
      wait(l.self_, l.socket_.native(), false);
      onListenerReady(l);
    }
  }

  void connectEx(ConnectOp& op) override {
    backend::begin(op, OpKind::kConnect);
    auto s = Socket::openTcp(op.remote);
    if (!s) {
      defer(op, s.error().code);
      return;
    }
    op.socket = std::move(s.value());
    armTimeout(op);
    int r = ::connect(op.socket.native(), static_cast<const sockaddr*>(op.remote.raw()),
                      static_cast<socklen_t>(op.remote.length()));
    if (r == 0) {
      connectStep(op);
    } else if (errno == EINPROGRESS) {
      wait(op, op.socket.native(), true);
    } else {
      failConnect(op, sysErr(errno));
    }
  }

  void recv(RecvOp& op) override {
    backend::begin(op, OpKind::kRecv);
    armTimeout(op);
    recvStep(op, op.socket, op.buffer.data(), op.buffer.size());
  }

  void recvPooled(PooledRecvOp& op) override {
    releaseBuffer(op);
    backend::begin(op, OpKind::kRecvPooled);
    armTimeout(op);
    pooledStep(op);
  }

  void releaseBuffer(PooledRecvOp& op) override { backend::releaseToFreeList(pool_, op); }

  std::size_t pooledBuffersInUse() const override { return pool_.inUse(); }

  void transmitPackets(TransmitOp& op) override {
    backend::begin(op, OpKind::kSend);
    armTimeout(op);
    transmitStep(op);
  }

  void disconnectEx(DisconnectOp& op) override {
    backend::begin(op, OpKind::kDisconnect);
    int r = ::shutdown(op.socket, SHUT_WR);
    defer(op, r == 0 || errno == ENOTCONN ? std::error_code{} : sysErr(errno));
  }

  // Readiness interest only: nothing is read; epoll_wait reports bytes, EPOLLRDHUP or an error.
  void waitReadable(WaitReadableOp& op) override {
    backend::begin(op, OpKind::kWaitRead);
    armTimeout(op);
    wait(op, op.socket, false);
  }

  void startTimer(TimerOp& op) override {
    backend::begin(op, OpKind::kTimer);
    if (op.timeout.count() <= 0) {
      defer(op, {}, 0);  // already due: the next turn completes it
      return;
    }
    armTimeout(op);
  }

  bool canSplice() const override { return splice_; }

  // splice(2) through the op's pipe, retried on readiness of the side that would block.
  void splice(SpliceOp& op) override {
    backend::begin(op, OpKind::kSplice);
    if (std::error_code ec = splice_step::openPipe(op)) {
      defer(op, ec);
      return;
    }
    splice_step::start(op);
    spliceStep(op);
  }

  void cancel(Operation& op) override {
    // A completion already queued stands (the operation ended before the cancel came): a second
    // one would resume its awaiter twice.
    if (!op.state_.pending || op.state_.cancelRequested || op.state_.deferred) return;
    op.state_.cancelRequested = true;
    if (op.state_.kind == OpKind::kPost) return;
    if (op.state_.kind == OpKind::kAccept && op.state_.stage == 0) {
      auto* l = static_cast<EpollListener*>(op.state_.owner);
      // Not on the queue: its completion is already deferred (see startAccepted) and stands.
      if (l == nullptr || !l->waiting_.unlink(op)) return;
    }
    if (op.state_.kind == OpKind::kConnect) {
      failConnect(static_cast<ConnectOp&>(op), canceled());
      return;
    }
    finish(op, canceled(), op.state_.total, true);
  }

  // The listener is being destroyed (see EpollListener).
  void closeListener(EpollListener& l) {
    while (!l.waiting_.empty()) {
      Operation& op = l.waiting_.pop();
      op.state_.owner = nullptr;
      op.state_.cancelRequested = true;
      finish(op, canceled(), 0);
    }
    unwait(l.self_);
    l.self_.state_.pending = false;
    int fd = l.socket_.native();
    if (fd >= 0) {
      if (slots(fd).registered) ::epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, nullptr);
      slots(fd) = FdSlots{};
    }
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

 private:
  struct FdSlots {
    Operation* reader = nullptr;
    Operation* writer = nullptr;
    bool registered = false;
  };

  void defer(Operation& op, std::error_code ec, std::size_t bytes = 0) {
    timers_.remove(op);
    deferred_.push(op, ec, bytes);
  }

  // Ends op: takes it off its socket and the timer heap; its completion is deferred.
  void finish(Operation& op, std::error_code ec, std::size_t bytes, bool viaDefer = true) {
    unwait(op);
    timers_.remove(op);
    if (viaDefer) {
      defer(op, ec, bytes);
    } else {
      op.state_.pending = false;
      op.onComplete(ec, bytes);
    }
  }

  // --- waiting on sockets ---
  FdSlots& slots(int fd) {
    auto i = static_cast<std::size_t>(fd);
    if (i >= fdCount_) growFds(i + 1);
    return fds_[i];
  }

  // The slot table is indexed by fd. It is sized once for the process's file limit with calloc,
  // whose untouched zero pages cost no memory: a slot is resident only once its fd was used, and
  // the table never moves (a vector grown by doubling kept up to twice the slots, and the freed
  // old arrays stayed in the heap: issue #11, memory per idle connection on epoll). Past the
  // limit (raised at run time) it grows by realloc.
  void growFds(std::size_t need) {
    std::size_t count = std::max(need, fdCount_ * 2);
    if (fds_ == nullptr) {
      rlimit lim{};
      std::size_t limit = ::getrlimit(RLIMIT_NOFILE, &lim) == 0 ? lim.rlim_cur : 0;
      count = std::max(need, std::min<std::size_t>(limit, std::size_t{1} << 21));
      fds_ = static_cast<FdSlots*>(std::calloc(count, sizeof(FdSlots)));
    } else {
      auto* grown = static_cast<FdSlots*>(std::realloc(fds_, count * sizeof(FdSlots)));
      FERRY_RELEASE_ASSERT(grown != nullptr);
      std::memset(static_cast<void*>(grown + fdCount_), 0, (count - fdCount_) * sizeof(FdSlots));
      fds_ = grown;
    }
    FERRY_RELEASE_ASSERT(fds_ != nullptr);
    fdCount_ = count;
  }

  void wait(Operation& op, int fd, bool write) {
    FdSlots& s = slots(fd);
    (write ? s.writer : s.reader) = &op;
    op.state_.waitHandle = fd;
    rearm(fd);
  }

  void unwait(Operation& op) {
    int fd = op.state_.waitHandle;
    if (fd == kInvalidHandle) return;
    op.state_.waitHandle = kInvalidHandle;
    FdSlots& s = slots(fd);
    if (s.reader == &op) s.reader = nullptr;
    if (s.writer == &op) s.writer = nullptr;
  }

  void rearm(int fd) {
    FdSlots& s = slots(fd);
    if (s.reader == nullptr && s.writer == nullptr) return;
    epoll_event ev{};
    ev.events = EPOLLONESHOT | EPOLLRDHUP | (s.reader != nullptr ? EPOLLIN : 0U) |
                (s.writer != nullptr ? EPOLLOUT : 0U);
    ev.data.fd = fd;
    // The slot table cannot see a close and a reuse of the number, so fall back both ways.
    int r = ::epoll_ctl(epfd_, s.registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, &ev);
    if (r != 0 && errno == ENOENT) r = ::epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev);
    if (r != 0 && errno == EEXIST) r = ::epoll_ctl(epfd_, EPOLL_CTL_MOD, fd, &ev);
    if (r != 0) {
      std::error_code ec = sysErr(errno);
      if (s.reader != nullptr) fail(*s.reader, ec);
      if (s.writer != nullptr) fail(*s.writer, ec);
      return;
    }
    s.registered = true;
  }

  void fail(Operation& op, std::error_code ec) {
    if (op.state_.kind == OpKind::kConnect) {
      failConnect(static_cast<ConnectOp&>(op), ec);
    } else {
      finish(op, ec, op.state_.total);
    }
  }

  void armTimeout(Operation& op) { timers_.arm(op, std::chrono::steady_clock::now()); }

  // op's deadline passed (it is already off the heap).
  void expire(Operation& op) {
    switch (op.state_.kind) {
      case OpKind::kTimer:
        finish(op, {}, 0, false);
        return;
      case OpKind::kAccept:  // a silent client: hand it over with no bytes
        finish(op, {}, 0, false);
        return;
      case OpKind::kConnect:
        unwait(op);
        failConnect(static_cast<ConnectOp&>(op), timedOut(), false);
        return;
      case OpKind::kSplice: {
        auto& sp = static_cast<SpliceOp&>(op);
        sp.failedWriting = op.state_.stage == 1;
        finish(op, timedOut(), op.state_.total, false);
        return;
      }
      default:
        finish(op, timedOut(), op.state_.total, false);
        return;
    }
  }

  // --- the loop ---
  void wake() override {
    std::uint64_t one = 1;
    [[maybe_unused]] ssize_t n = ::write(eventFd_, &one, sizeof(one));
  }

  std::size_t turn(int waitMs) override {
    std::size_t n = deferred_.flush();
    if (n > 0) waitMs = 0;
    waitMs = timers_.waitMillis(std::chrono::steady_clock::now(), waitMs);
    epoll_event events[128];
    int count = ::epoll_wait(epfd_, events, 128, waitMs);
    for (int i = 0; i < count; ++i) {
      int fd = events[i].data.fd;
      if (fd == eventFd_) {
        onWake();
        ++n;
        continue;
      }
      onReady(fd, events[i].events);
      ++n;
    }
    n += timers_.expireDue(std::chrono::steady_clock::now(), [&](Operation& op) { expire(op); });
    return n + deferred_.flush();
  }

  void onWake() {
    std::uint64_t v;
    [[maybe_unused]] ssize_t r = ::read(eventFd_, &v, sizeof(v));
    std::vector<Operation*> batch;
    {
      std::lock_guard<std::mutex> lock(postMutex_);
      batch.swap(posted_);
    }
    for (Operation* op : batch) defer(*op, {}, 0);
  }

  void onReady(int fd, std::uint32_t events) {
    FdSlots& s = slots(fd);
    bool err = (events & (EPOLLERR | EPOLLHUP)) != 0;
    // Handlers may complete (and so free) the operation; take both before running either.
    Operation* reader = (events & (EPOLLIN | EPOLLRDHUP)) != 0 || err ? s.reader : nullptr;
    Operation* writer = (events & EPOLLOUT) != 0 || err ? s.writer : nullptr;
    if (reader != nullptr) onReadable(*reader);
    if (writer != nullptr && writer != reader) onWritable(*writer);
    rearm(fd);
  }

  void onReadable(Operation& op) {
    switch (op.state_.kind) {
      case OpKind::kRecv: {
        auto& r = static_cast<RecvOp&>(op);
        recvStep(op, r.socket, r.buffer.data(), r.buffer.size());
        return;
      }
      case OpKind::kRecvPooled:
        pooledStep(static_cast<PooledRecvOp&>(op));
        return;
      case OpKind::kWaitRead:
        finish(op, {}, 0);
        return;
      case OpKind::kAccept: {
        auto& a = static_cast<AcceptOp&>(op);
        recvStep(op, a.socket.native(), a.firstData.data(), a.firstData.size());
        return;
      }
      case OpKind::kInternal:
        onListenerReady(*static_cast<EpollListener*>(op.state_.owner));
        return;
      case OpKind::kSplice:
        spliceStep(static_cast<SpliceOp&>(op));
        return;
      default:
        FERRY_BUG(false);
    }
  }

  void onWritable(Operation& op) {
    if (op.state_.kind == OpKind::kConnect) {
      connectStep(static_cast<ConnectOp&>(op));
    } else if (op.state_.kind == OpKind::kSend) {
      transmitStep(static_cast<TransmitOp&>(op));
    } else if (op.state_.kind == OpKind::kSplice) {
      spliceStep(static_cast<SpliceOp&>(op));
    } else {
      FERRY_BUG(false);
    }
  }

  // A buffer is taken only for the recv call itself and given back if nothing was there.
  void pooledStep(PooledRecvOp& op) {
    std::uint32_t id = pool_.take();
    if (id == ~0U) {
      finish(op, std::make_error_code(std::errc::no_buffer_space), 0);
      return;
    }
    for (;;) {
      ssize_t n = ::recv(op.socket, pool_.at(id), pool_.size(), 0);
      if (n >= 0) {
        op.bufferId = id;
        op.data = pool_.at(id);
        finish(op, {}, static_cast<std::size_t>(n));
        return;
      }
      if (errno == EINTR) continue;
      pool_.give(id);
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        if (op.state_.waitHandle == kInvalidHandle) wait(op, op.socket, false);
        return;
      }
      finish(op, sysErr(errno), 0);
      return;
    }
  }

  // recv for RecvOp and for an accept's first data.
  void recvStep(Operation& op, int fd, char* buf, std::size_t len) {
    for (;;) {
      ssize_t n = ::recv(fd, buf, len, 0);
      if (n >= 0) {
        if (op.state_.kind == OpKind::kAccept)
          static_cast<AcceptOp&>(op).bytesReceived = static_cast<std::size_t>(n);
        finish(op, {}, static_cast<std::size_t>(n));
        return;
      }
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        if (op.state_.waitHandle == kInvalidHandle) wait(op, fd, false);
        return;
      }
      std::error_code ec = sysErr(errno);
      if (op.state_.kind == OpKind::kAccept) static_cast<AcceptOp&>(op).socket.close();
      finish(op, ec, 0);
      return;
    }
  }

  void failConnect(ConnectOp& op, std::error_code ec, bool viaDefer = true) {
    int fd = op.socket.native();
    unwait(op);
    if (fd >= 0) slots(fd) = FdSlots{};
    op.socket.close();
    finish(op, ec, 0, viaDefer);
  }

  void connectStep(ConnectOp& op) {
    int fd = op.socket.native();
    if (op.state_.stage == 0) {
      int err = 0;
      socklen_t len = sizeof(err);
      ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err != 0) {
        failConnect(op, sysErr(err));
        return;
      }
      op.state_.stage = 1;
    }
    while (op.state_.progress < op.firstData.size()) {
      ssize_t n = ::send(fd, op.firstData.data() + op.state_.progress,
                         op.firstData.size() - op.state_.progress, MSG_NOSIGNAL);
      if (n > 0) {
        op.state_.progress += static_cast<std::uint64_t>(n);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        if (op.state_.waitHandle == kInvalidHandle) wait(op, fd, true);
        return;
      }
      failConnect(op, sysErr(errno));
      return;
    }
    finish(op, {}, op.firstData.size());
  }

  void transmitStep(TransmitOp& op) {
    namespace tc = transmit_cursor;
    std::uint64_t before = op.state_.total;
    while (tc::skipDone(op)) {
      long n = 0;
      if (tc::current(op).isFile()) {
        n = tc::sendFileRange(op);
        if (n == 0) {
          finish(op, std::make_error_code(std::errc::io_error), op.state_.total);
          return;
        }
      } else {
        ssize_t r = ::sendmsg(op.socket, tc::gather(op), MSG_NOSIGNAL);
        n = r >= 0 ? r : -errno;
        if (r > 0) tc::advance(op, static_cast<std::uint64_t>(r));
      }
      if (n > 0 || n == -EINTR) continue;
      if (n == -EAGAIN || n == -EWOULDBLOCK) {
        if (op.state_.waitHandle == kInvalidHandle) wait(op, op.socket, true);
        if (op.state_.total != before) {  // progress restarts the inactivity clock
          timers_.remove(op);
          armTimeout(op);
        }
        return;
      }
      finish(op, sysErr(static_cast<int>(-n)), op.state_.total);
      return;
    }
    std::error_code ec;
    if ((op.flags & kTransmitDisconnect) != 0 && ::shutdown(op.socket, SHUT_WR) != 0 &&
        errno != ENOTCONN) {
      ec = sysErr(errno);
    }
    finish(op, ec, op.state_.total);
  }

  // One step of a splice: complete it, or wait for the side that would block.
  void spliceStep(SpliceOp& op) {
    std::error_code ec;
    splice_step::Next n = splice_step::advance(op, ec);
    if (!splice_step::waits(n)) {
      finish(op, ec, splice_step::completedBytes(op, n));
    } else if (n == splice_step::Next::kWaitRead) {
      spliceWait(op, op.from, false, op.readTimeout);
    } else {
      spliceWait(op, op.to, true, op.writeTimeout);
    }
  }

  // Waits on one side; the clock of the stage restarts (a wait follows progress or a start).
  void spliceWait(SpliceOp& op, int fd, bool write, Duration timeout) {
    FdSlots& s = slots(fd);
    if (op.state_.waitHandle != fd || (write ? s.writer : s.reader) != &op) {
      unwait(op);
      wait(op, fd, write);
    }
    timers_.remove(op);
    op.timeout = timeout;
    armTimeout(op);
  }

  // Accepts for the waiting AcceptOps while connections are there. Out of descriptors (or
  // memory), the oldest takes the error and the listener is not watched again until the next
  // acceptEx (backend::acceptOutOfResources): level-triggered readiness would call again at once.
  void onListenerReady(EpollListener& l) {
    bool starved = false;
    while (!l.waiting_.empty()) {
      auto& next = static_cast<AcceptOp&>(*l.waiting_.head);
      next.peer = Address{};
      socklen_t len = static_cast<socklen_t>(Address::capacity());
      int fd = ::accept4(l.socket_.native(), static_cast<sockaddr*>(next.peer.raw()), &len,
                         SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EINTR || errno == ECONNABORTED) continue;
        int e = errno;
        starved = backend::acceptOutOfResources(e);
        if (starved) {
          defer(l.waiting_.pop(), sysErr(e));
        } else if (e != EAGAIN && e != EWOULDBLOCK) {
          FERRY_WARN_LIMITED("accept on {}: {}", l.address_.toString(), std::strerror(e));
        }
        break;
      }
      l.waiting_.pop();
      next.peer.setLength(len);
      startAccepted(next, fd);
    }
    if (l.waiting_.empty() || starved) {  // nobody waits, or no descriptor: stop watching
      unwait(l.self_);
      l.self_.state_.pending = false;
    }
  }

  // Accepted sockets inherit TCP_NODELAY from the listener (Linux copies the listener's TCP
  // options into the child), so no setsockopt here; accept4 wrote the peer's address; the local
  // address is the listener's unless it is bound to a wildcard address (then one getsockname).
  // No other system call per connection.
  void startAccepted(AcceptOp& op, int fd) {
    op.socket = Socket(fd);
    slots(fd) = FdSlots{};
    auto* l = static_cast<EpollListener*>(op.state_.owner);
    op.local = l->specific_ ? l->address_ : op.socket.localAddress();
    if (op.firstData.empty()) {
      defer(op, {}, 0);
      return;
    }
    op.state_.stage = 1;
    armTimeout(op);
    recvStep(op, fd, op.firstData.data(), op.firstData.size());
  }

  int epfd_ = -1;
  int eventFd_ = -1;
  FdSlots* fds_ = nullptr;  // fdCount_ slots, zero-filled; see growFds
  std::size_t fdCount_ = 0;
  TimerHeap timers_;
  PooledBuffers pool_;
  bool splice_;
  backend::DeferredCompletions deferred_;
  std::mutex postMutex_;
  std::vector<Operation*> posted_;
};

EpollListener::~EpollListener() {
  proactor_.closeListener(*this);
}

}  // namespace

Result<std::unique_ptr<Proactor>> makeEpollProactor(const ProactorOptions& options) {
  auto p = std::make_unique<EpollProactor>(options);
  auto r = p->init();
  if (!r) return r.error();
  return std::unique_ptr<Proactor>(std::move(p));
}

}  // namespace ferry::io
