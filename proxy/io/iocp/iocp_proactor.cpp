// IOCP backend. Every extension function is obtained at run time (WSAIoctl
// SIO_GET_EXTENSION_FUNCTION_POINTER); a missing one has a fallback:
//   TransmitPackets -> TransmitFile for file ranges + WSASend for memory runs;
//   TF_REUSE_SOCKET recycling -> off (handles are closed) where the system cannot reuse.
// Each operation's OVERLAPPED (with a back pointer) lives in its State::scratch. Completion
// notification modes are left as they are, so every started operation posts its completion,
// even when it finishes at once: nothing completes inside the submitting call.
// Timeouts use the shared TimerHeap; a due operation is cancelled with CancelIoEx and its
// ERROR_OPERATION_ABORTED reads as timed_out. Posts travel as completion packets
// (PostQueuedCompletionStatus is thread-safe), so post() takes no lock.
//
// accept_ex with first data: AcceptEx posts with a zero receive length and the first bytes are
// read by a WSARecv in the same operation, bounded by its timeout. AcceptEx's own receive buffer
// would complete only when data came, and a silent client could then be neither handed over nor
// timed out without losing it; this way a silent client is handed over with no bytes, as on Linux.

#include "proxy/io/iocp/iocp_proactor.h"

// Winsock's macros (INVALID_SOCKET, FD_SET, ...) are C casts.
#pragma GCC diagnostic ignored "-Wold-style-cast"

#include <atomic>
#include <cstring>
#include <mutex>
#include <vector>

#include "proxy/common/assert.h"
#include "proxy/common/log.h"
#include "proxy/io/backend.h"
#include "proxy/io/iocp/winsock.h"
#include "proxy/io/transmit_cursor.h"

namespace ferry::io {
namespace {

constexpr ULONG_PTR kOpKey = 0;
constexpr ULONG_PTR kPostKey = 1;
constexpr ULONG_PTR kStopKey = 2;
constexpr DWORD kAddrLen = sizeof(sockaddr_in6) + 16;  // AcceptEx's per-address room

struct Ov {
  OVERLAPPED ov;
  Operation* op;
};
static_assert(sizeof(Ov) <= sizeof(Operation::State::scratch));
static_assert(2 * kAddrLen <= Address::capacity());

Ov& ovOf(Operation& op) {
  return *reinterpret_cast<Ov*>(op.state_.scratch);
}
OVERLAPPED* freshOv(Operation& op, std::uint64_t offset = 0) {
  Ov& o = ovOf(op);
  std::memset(&o.ov, 0, sizeof(o.ov));
  o.ov.Offset = static_cast<DWORD>(offset & 0xffffffffU);
  o.ov.OffsetHigh = static_cast<DWORD>(offset >> 32);
  o.op = &op;
  return &o.ov;
}
SOCKET sock(NativeHandle h) {
  return static_cast<SOCKET>(h);
}

std::error_code mapError(int e, const Operation& op) {
  switch (e) {
    case ERROR_OPERATION_ABORTED:
      return std::make_error_code(op.state_.timedOut && !op.state_.cancelRequested
                                      ? std::errc::timed_out
                                      : std::errc::operation_canceled);
    case WSAECONNREFUSED:
    case ERROR_CONNECTION_REFUSED:
      return std::make_error_code(std::errc::connection_refused);
    case WSAECONNRESET:
    case ERROR_NETNAME_DELETED:
      return std::make_error_code(std::errc::connection_reset);
    case WSAECONNABORTED:
    case ERROR_CONNECTION_ABORTED:
      return std::make_error_code(std::errc::connection_aborted);
    case WSAETIMEDOUT:
    case ERROR_SEM_TIMEOUT:
      return std::make_error_code(std::errc::timed_out);
    case WSAENOTCONN:
      return std::make_error_code(std::errc::not_connected);
    case WSAESHUTDOWN:
      return std::make_error_code(std::errc::broken_pipe);
    case WSAEINVAL:
      return std::make_error_code(std::errc::invalid_argument);
    case WSAEMFILE:  // out of socket handles: AcceptGate paces the next AcceptEx
      return std::make_error_code(std::errc::too_many_files_open);
    case WSAENOBUFS:
      return std::make_error_code(std::errc::no_buffer_space);
    default:
      return {e, std::system_category()};
  }
}

template <class F>
bool loadExtension(SOCKET s, GUID id, F*& out) {
  DWORD bytes = 0;
  return ::WSAIoctl(s, SIO_GET_EXTENSION_FUNCTION_POINTER, &id, sizeof(id), &out, sizeof(out),
                    &bytes, nullptr, nullptr) == 0 &&
         out != nullptr;
}

// What a posted AcceptEx points at (its operation's state_.owner). It outlives the listener
// while AcceptEx calls are in flight: destroying a listener (a reload closes listeners at run
// time) cancels them and closes the socket, and their completions, aborted or (in a race) with
// an accepted socket, still arrive afterwards. They then find `closed`, close the socket, and
// the last one frees this.
struct AcceptSite {
  SOCKET socket = INVALID_SOCKET;  // the listening socket; INVALID_SOCKET once closed
  bool closed = false;
  std::uint32_t inFlight = 0;  // AcceptEx calls posted and not yet completed
};

class IocpListener final : public Listener {
 public:
  explicit IocpListener(Socket s) : socket_(std::move(s)), site_(new AcceptSite) {
    address_ = socket_.localAddress();
    site_->socket = sock(socket_.native());
  }
  ~IocpListener() override {
    site_->closed = true;
    site_->socket = INVALID_SOCKET;
    if (socket_.valid()) ::CancelIoEx(reinterpret_cast<HANDLE>(socket_.native()), nullptr);
    socket_.close();
    if (site_->inFlight == 0) delete site_;  // else the last completion frees it
  }
  IocpListener(const IocpListener&) = delete;
  IocpListener& operator=(const IocpListener&) = delete;
  Address address() const override { return address_; }
  Socket socket_;
  Address address_;
  AcceptSite* site_;
};

class IocpProactor final : public backend::LoopProactor {
 public:
  IocpProactor(IocpOptions o, const ProactorOptions& po)
      : options_(o), pool_(po.pooledBuffers, po.pooledBufferSize) {}
  ~IocpProactor() override {
    for (SOCKET s : recycled_) ::closesocket(s);
    for (const Recycled& r : connectRecycled_) ::closesocket(r.socket);
    // Disconnects still in flight: closing the socket ends them, but the kernel may still write
    // their OVERLAPPED, so their records are left to the process (a worker's end only).
    for (std::unique_ptr<ReuseDisconnect>& op : reuseOps_) {
      if (!op->pending()) continue;
      ::closesocket(sock(op->socket));
      static_cast<void>(op.release());
    }
    if (port_ != nullptr) ::CloseHandle(port_);
  }

  Result<bool> init() {
    port_ = ::CreateIoCompletionPort(INVALID_HANDLE_VALUE, nullptr, 0, 1);
    if (port_ == nullptr)
      return systemError(static_cast<int>(::GetLastError()), "CreateIoCompletionPort");
    auto probe = Socket::openTcp(*Address::parse("127.0.0.1:0"));
    if (!probe) return probe.error();
    SOCKET s = sock(probe->native());
    if (!loadExtension(s, WSAID_ACCEPTEX, acceptEx_) ||
        !loadExtension(s, WSAID_GETACCEPTEXSOCKADDRS, getAcceptExSockaddrs_) ||
        !loadExtension(s, WSAID_CONNECTEX, connectEx_) ||
        !loadExtension(s, WSAID_DISCONNECTEX, disconnectEx_) ||
        !loadExtension(s, WSAID_TRANSMITFILE, transmitFile_)) {
      return systemError(WSAGetLastError(), "a Winsock extension function is missing");
    }
    if (!options_.useTransmitPackets ||
        !loadExtension(s, WSAID_TRANSMITPACKETS, transmitPackets_)) {
      transmitPackets_ = nullptr;
      static std::once_flag once;  // say it once per process, not per worker
      std::call_once(once, [&] {
        log::info("iocp: TransmitPackets {}; using TransmitFile + WSASend",
                  options_.useTransmitPackets ? "is not available" : "is switched off");
      });
    }
    if (runningUnderWine()) options_.reuseSockets = false;  // Wine cannot reuse (WINDOWS.md)
    return true;
  }

  Backend backend() const override { return Backend::kIocp; }

  Result<std::unique_ptr<Listener>> listen(const Address& addr,
                                           const ListenOptions& opts) override {
    auto s = listenTcp(addr, opts);
    if (!s) return s.error();
    if (!associate(s->native()))
      return systemError(static_cast<int>(::GetLastError()), "associate");
    return std::unique_ptr<Listener>(new IocpListener(std::move(s.value())));
  }

  void acceptEx(Listener& base, AcceptOp& op) override {
    auto& l = static_cast<IocpListener&>(base);
    backend::begin(op, OpKind::kAccept);
    op.state_.owner = l.site_;
    op.bytesReceived = 0;
    op.socket = takeAcceptSocket(l.address_);
    if (!op.socket.valid()) {
      defer(op, mapError(WSAGetLastError(), op));
      return;
    }
    DWORD bytes = 0;
    // The two addresses go to op.local's storage; GetAcceptExSockaddrs parses them later.
    if (!acceptEx_(sock(l.socket_.native()), sock(op.socket.native()), op.local.raw(), 0, kAddrLen,
                   kAddrLen, &bytes, freshOv(op)) &&
        WSAGetLastError() != ERROR_IO_PENDING) {
      op.socket.close();
      defer(op, mapError(WSAGetLastError(), op));
      return;
    }
    ++l.site_->inFlight;  // posted: its completion comes through the port, even on success
  }

  void connectEx(ConnectOp& op) override {
    backend::begin(op, OpKind::kConnect);
    if (connectOnRecycled(op)) return;
    connectOnNewSocket(op);
  }

  void connectOnNewSocket(ConnectOp& op) {
    auto s = Socket::openTcp(op.remote);
    if (!s) {
      defer(op, s.error().code);
      return;
    }
    op.socket = std::move(s.value());
    Address any = *Address::parse(op.remote.isV6() ? "[::]:0" : "0.0.0.0:0");
    if (::bind(sock(op.socket.native()), static_cast<const sockaddr*>(any.raw()),
               static_cast<int>(any.length())) != 0 ||
        !associate(op.socket.native())) {
      std::error_code ec = mapError(WSAGetLastError(), op);
      op.socket.close();
      defer(op, ec);
      return;
    }
    restartClock(op);
    DWORD sent = 0;
    if (!connectEx_(sock(op.socket.native()), static_cast<const sockaddr*>(op.remote.raw()),
                    static_cast<int>(op.remote.length()), const_cast<char*>(op.firstData.data()),
                    static_cast<DWORD>(op.firstData.size()), &sent, freshOv(op)) &&
        WSAGetLastError() != ERROR_IO_PENDING) {
      std::error_code ec = mapError(WSAGetLastError(), op);
      op.socket.close();
      defer(op, ec, 0);
    }
  }

  void recv(RecvOp& op) override {
    backend::begin(op, OpKind::kRecv);
    restartClock(op);
    postRecv(op, op.socket, op.buffer.data(), op.buffer.size());
  }

  // A zero-byte WSARecv waits for data without a buffer; the pooled buffer is taken after.
  void recvPooled(PooledRecvOp& op) override {
    releaseBuffer(op);
    backend::begin(op, OpKind::kRecvPooled);
    restartClock(op);
    postRecv(op, op.socket, nullptr, 0);
  }

  void releaseBuffer(PooledRecvOp& op) override { backend::releaseToFreeList(pool_, op); }

  std::size_t pooledBuffersInUse() const override { return pool_.inUse(); }

  void transmitPackets(TransmitOp& op) override {
    backend::begin(op, OpKind::kSend);
    restartClock(op);
    stepTransmit(op);
  }

  void disconnectEx(DisconnectOp& op) override {
    backend::begin(op, OpKind::kDisconnect);
    restartClock(op);
    DWORD flags = op.reuse && options_.reuseSockets ? TF_REUSE_SOCKET : 0;
    if (!disconnectEx_(sock(op.socket), freshOv(op), flags, 0) &&
        WSAGetLastError() != ERROR_IO_PENDING) {
      int e = WSAGetLastError();
      defer(op, e == WSAENOTCONN ? std::error_code{} : mapError(e, op), 0);
    }
  }

  // A zero-byte WSARecv: it completes when bytes or the peer's FIN arrive, and reads nothing.
  void waitReadable(WaitReadableOp& op) override {
    backend::begin(op, OpKind::kWaitRead);
    restartClock(op);
    postRecv(op, op.socket, nullptr, 0);
  }

  void startTimer(TimerOp& op) override {
    backend::begin(op, OpKind::kTimer);
    if (op.timeout.count() <= 0) {
      defer(op, {}, 0);
      return;
    }
    timers_.arm(op, std::chrono::steady_clock::now());
  }

  // No splice on Windows: relays copy through buffers (canSplice() is false).
  void splice(SpliceOp& op) override {
    backend::begin(op, OpKind::kSplice);
    defer(op, std::make_error_code(std::errc::operation_not_supported));
  }

  // DisconnectEx(TF_REUSE_SOCKET) started here, owned here; on success the handle waits in
  // connectRecycled_ for a connect_ex to the same remote (connectOnRecycled).
  void endForReuse(Socket s, const Address& remote) override {
    if (!options_.reuseSockets || !s.valid() ||
        reuseInFlight_ + connectRecycled_.size() >= kMaxRecycled) {
      s.close();
      ++socketReuse_.closed;
      return;
    }
    ReuseDisconnect* op = nullptr;
    if (!freeReuseOps_.empty()) {
      op = freeReuseOps_.back();
      freeReuseOps_.pop_back();
    } else {
      reuseOps_.push_back(std::make_unique<ReuseDisconnect>());
      op = reuseOps_.back().get();
      op->proactor = this;
      freeReuseOps_.reserve(reuseOps_.size());
    }
    op->remote = remote;
    op->socket = s.release();
    op->reuse = true;
    // The disconnect may wait out TIME_WAIT (DisconnectEx's documentation): bounded, then the
    // handle is closed instead.
    op->timeout = seconds(10);
    ++reuseInFlight_;
    disconnectEx(*op);
  }

  void recycle(Socket s) override {
    if (options_.reuseSockets && s.valid() && recycled_.size() < 1024) {
      recycled_.push_back(sock(s.release()));
    }
  }

  void cancel(Operation& op) override {
    // A completion already queued stands (a timer that expired, a result decided at submission).
    if (!op.state_.pending || op.state_.deferred || op.state_.kind == OpKind::kPost) return;
    op.state_.cancelRequested = true;
    if (op.state_.kind == OpKind::kTimer) {
      timers_.remove(op);
      defer(op, std::make_error_code(std::errc::operation_canceled));
      return;
    }
    ::CancelIoEx(reinterpret_cast<HANDLE>(handleOf(op)), &ovOf(op).ov);
  }

  void post(Operation& op) override {
    op.state_.kind = OpKind::kPost;
    op.state_.pending = true;
    ::PostQueuedCompletionStatus(port_, 0, kPostKey, reinterpret_cast<OVERLAPPED*>(&op));
  }

  void wake() override { ::PostQueuedCompletionStatus(port_, 0, kStopKey, nullptr); }

 private:
  struct ReuseDisconnect final : DisconnectOp {
    IocpProactor* proactor = nullptr;
    Address remote;
    void onComplete(std::error_code ec, std::size_t) override {
      proactor->reuseDisconnected(*this, ec);
    }
  };
  struct Recycled {
    Address remote;
    SOCKET socket;
  };
  static constexpr std::size_t kMaxRecycled = 256;  // handles kept or being disconnected

  void reuseDisconnected(ReuseDisconnect& op, std::error_code ec) {
    --reuseInFlight_;
    SOCKET s = sock(op.socket);
    op.socket = kInvalidHandle;
    freeReuseOps_.push_back(&op);
    if (ec) {
      ::closesocket(s);
      ++socketReuse_.closed;
      return;
    }
    connectRecycled_.push_back({op.remote, s});
    ++socketReuse_.recycled;
  }

  // Starts op's ConnectEx on a handle recycled from a connection to the same remote; false if
  // there is none, or if ConnectEx refused it at once (closed, counted): then op goes on a new
  // socket. A recycled handle is still bound and associated with the port. state_.index marks
  // op as on a recycled handle (see onConnect).
  bool connectOnRecycled(ConnectOp& op) {
    for (std::size_t i = 0; i < connectRecycled_.size(); ++i) {
      if (!(connectRecycled_[i].remote == op.remote)) continue;
      SOCKET s = connectRecycled_[i].socket;
      connectRecycled_[i] = connectRecycled_.back();
      connectRecycled_.pop_back();
      op.socket = Socket(static_cast<NativeHandle>(s));
      restartClock(op);
      DWORD sent = 0;
      if (connectEx_(s, static_cast<const sockaddr*>(op.remote.raw()),
                     static_cast<int>(op.remote.length()), const_cast<char*>(op.firstData.data()),
                     static_cast<DWORD>(op.firstData.size()), &sent, freshOv(op)) ||
          WSAGetLastError() == ERROR_IO_PENDING) {
        op.state_.index = 1;
        ++socketReuse_.reused;
        return true;
      }
      timers_.remove(op);
      op.socket.close();
      ++socketReuse_.closed;
      return false;
    }
    return false;
  }

  bool associate(NativeHandle h) {
    return ::CreateIoCompletionPort(reinterpret_cast<HANDLE>(h), port_, kOpKey, 0) != nullptr;
  }

  Socket takeAcceptSocket(const Address& family) {
    if (!recycled_.empty() && !family.isV6()) {
      SOCKET s = recycled_.back();
      recycled_.pop_back();
      return Socket(static_cast<NativeHandle>(s));  // still associated with this port
    }
    auto s = Socket::openTcp(family);
    if (!s) return Socket();
    if (!associate(s->native())) return Socket();
    return std::move(s.value());
  }

  void restartClock(Operation& op) {
    timers_.remove(op);
    timers_.arm(op, std::chrono::steady_clock::now());
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

  // The handle an operation's I/O is issued on (for results and cancellation).
  static NativeHandle handleOf(Operation& op) {
    switch (op.state_.kind) {
      case OpKind::kRecv:
        return static_cast<RecvOp&>(op).socket;
      case OpKind::kRecvPooled:
        return static_cast<PooledRecvOp&>(op).socket;
      case OpKind::kWaitRead:
        return static_cast<WaitReadableOp&>(op).socket;
      case OpKind::kAccept:
        return op.state_.stage == 0
                   ? static_cast<NativeHandle>(static_cast<AcceptSite*>(op.state_.owner)->socket)
                   : static_cast<AcceptOp&>(op).socket.native();
      case OpKind::kConnect:
        return static_cast<ConnectOp&>(op).socket.native();
      case OpKind::kSend:
      case OpKind::kSendPoll:
        return static_cast<TransmitOp&>(op).socket;
      case OpKind::kDisconnect:
        return static_cast<DisconnectOp&>(op).socket;
      default:
        return kInvalidHandle;
    }
  }

  void postRecv(Operation& op, NativeHandle s, char* buf, std::size_t len) {
    WSABUF b{static_cast<ULONG>(len), buf};
    DWORD flags = 0;
    if (::WSARecv(sock(s), &b, 1, nullptr, &flags, freshOv(op), nullptr) != 0 &&
        WSAGetLastError() != WSA_IO_PENDING) {
      defer(op, mapError(WSAGetLastError(), op), 0);
    }
  }

  // --- transmit_packets ---
  void stepTransmit(TransmitOp& op) {
    namespace tc = transmit_cursor;
    if (!tc::skipDone(op)) {
      if ((op.flags & kTransmitDisconnect) != 0 && op.state_.stage == 0) {
        op.state_.stage = 1;
        DWORD flags =
            (op.flags & kTransmitReuseSocket) != 0 && options_.reuseSockets ? TF_REUSE_SOCKET : 0;
        if (!disconnectEx_(sock(op.socket), freshOv(op), flags, 0) &&
            WSAGetLastError() != ERROR_IO_PENDING) {
          defer(op, mapError(WSAGetLastError(), op), op.state_.total);
        }
        return;
      }
      defer(op, {}, op.state_.total);
      return;
    }
    bool ok = transmitPackets_ != nullptr ? sendPackets(op) : sendFallback(op);
    if (!ok && WSAGetLastError() != ERROR_IO_PENDING && WSAGetLastError() != WSA_IO_PENDING) {
      defer(op, mapError(WSAGetLastError(), op), op.state_.total);
    }
  }

  // TransmitPackets over up to 8 elements from the cursor.
  bool sendPackets(TransmitOp& op) {
    constexpr std::size_t kMax = sizeof(op.vecScratch) / sizeof(TRANSMIT_PACKETS_ELEMENT);
    auto* els = reinterpret_cast<TRANSMIT_PACKETS_ELEMENT*>(op.vecScratch);
    DWORD count = 0;
    std::uint64_t skip = op.state_.progress;
    for (std::size_t i = op.state_.index; i < op.elements.size() && count < kMax; ++i) {
      const TransmitElement& e = op.elements[i];
      std::uint64_t len = std::min<std::uint64_t>(e.length - skip, 1U << 30);
      TRANSMIT_PACKETS_ELEMENT& t = els[count++];
      std::memset(&t, 0, sizeof(t));
      t.cLength = static_cast<ULONG>(len);
      if (e.isFile()) {
        t.dwElFlags = TP_ELEMENT_FILE;
        t.hFile = reinterpret_cast<HANDLE>(e.file);
        t.nFileOffset.QuadPart = static_cast<LONGLONG>(e.offset + skip);
      } else {
        t.dwElFlags = TP_ELEMENT_MEMORY;
        t.pBuffer = const_cast<char*>(static_cast<const char*>(e.data) + skip);
      }
      skip = 0;
      if (len < e.length) break;  // a huge element goes in pieces
    }
    return transmitPackets_(sock(op.socket), els, count, 0, freshOv(op), 0) != FALSE;
  }

  // TransmitFile for a file range, WSASend for a run of memory elements.
  bool sendFallback(TransmitOp& op) {
    namespace tc = transmit_cursor;
    const TransmitElement& e = tc::current(op);
    if (e.isFile()) {
      std::uint64_t len = std::min<std::uint64_t>(e.length - op.state_.progress, 1U << 30);
      return transmitFile_(sock(op.socket), reinterpret_cast<HANDLE>(e.file),
                           static_cast<DWORD>(len), 0, freshOv(op, e.offset + op.state_.progress),
                           nullptr, 0) != FALSE;
    }
    constexpr std::size_t kMax = sizeof(op.vecScratch) / sizeof(WSABUF);
    auto* bufs = reinterpret_cast<WSABUF*>(op.vecScratch);
    DWORD count = 0;
    std::uint64_t skip = op.state_.progress;
    for (std::size_t i = op.state_.index; i < op.elements.size() && count < kMax; ++i) {
      const TransmitElement& m = op.elements[i];
      if (m.isFile()) break;
      if (m.length > skip) {
        bufs[count].buf = const_cast<char*>(static_cast<const char*>(m.data) + skip);
        bufs[count].len = static_cast<ULONG>(std::min<std::uint64_t>(m.length - skip, 1U << 30));
        ++count;
      }
      skip = 0;
    }
    return ::WSASend(sock(op.socket), bufs, count, nullptr, 0, freshOv(op), nullptr) == 0;
  }

  // --- completions ---
  std::size_t turn(int maxWaitMs) override {
    std::size_t n = deferred_.flush();
    int waitMs = n > 0 ? 0 : timers_.waitMillis(std::chrono::steady_clock::now(), maxWaitMs);
    OVERLAPPED_ENTRY entries[64];
    ULONG count = 0;
    if (::GetQueuedCompletionStatusEx(port_, entries, 64, &count,
                                      waitMs < 0 ? INFINITE : static_cast<DWORD>(waitMs), FALSE)) {
      for (ULONG i = 0; i < count; ++i) {
        const OVERLAPPED_ENTRY& e = entries[i];
        if (e.lpCompletionKey == kStopKey) continue;
        if (e.lpCompletionKey == kPostKey) {
          complete(*reinterpret_cast<Operation*>(e.lpOverlapped), {}, 0);
        } else {
          Operation& op = *reinterpret_cast<Ov*>(e.lpOverlapped)->op;
          onCompletion(op, e.dwNumberOfBytesTransferred);
        }
        ++n;
      }
    }
    n += timers_.expireDue(std::chrono::steady_clock::now(), [&](Operation& op) {
      if (op.state_.kind == OpKind::kTimer) {
        complete(op, {}, 0);
        return;
      }
      op.state_.timedOut = true;
      ::CancelIoEx(reinterpret_cast<HANDLE>(handleOf(op)), &ovOf(op).ov);
    });
    return n + deferred_.flush();
  }

  // The result of op's overlapped call: empty on success.
  std::error_code resultOf(Operation& op, DWORD& bytes) {
    DWORD flags = 0;
    if (::WSAGetOverlappedResult(sock(handleOf(op)), &ovOf(op).ov, &bytes, FALSE, &flags))
      return {};
    return mapError(WSAGetLastError(), op);
  }

  void onCompletion(Operation& op, DWORD bytes) {
    std::error_code ec = resultOf(op, bytes);
    switch (op.state_.kind) {
      case OpKind::kRecv:
        complete(op, ec, ec ? 0 : bytes);
        return;
      case OpKind::kRecvPooled:
        onPooledReady(static_cast<PooledRecvOp&>(op), ec);
        return;
      case OpKind::kWaitRead:
        complete(op, ec, 0);
        return;
      case OpKind::kAccept:
        onAccept(static_cast<AcceptOp&>(op), ec, bytes);
        return;
      case OpKind::kConnect:
        onConnect(static_cast<ConnectOp&>(op), ec, bytes);
        return;
      case OpKind::kSend:
        onTransmit(static_cast<TransmitOp&>(op), ec, bytes);
        return;
      case OpKind::kDisconnect:
        complete(op, ec == std::errc::not_connected ? std::error_code{} : ec, 0);
        return;
      default:
        FERRY_BUG(false);
    }
  }

  void onPooledReady(PooledRecvOp& op, std::error_code ec) {
    if (ec) {
      complete(op, ec, 0);
      return;
    }
    std::uint32_t id = pool_.take();
    if (id == ~0U) {
      complete(op, std::make_error_code(std::errc::no_buffer_space), 0);
      return;
    }
    // Data (or the peer's close) is there: this recv returns at once.
    int n = ::recv(sock(op.socket), pool_.at(id), static_cast<int>(pool_.size()), 0);
    if (n < 0) {
      pool_.give(id);
      complete(op, mapError(WSAGetLastError(), op), 0);
      return;
    }
    op.bufferId = id;
    op.data = pool_.at(id);
    complete(op, {}, static_cast<std::size_t>(n));
  }

  void onAccept(AcceptOp& op, std::error_code ec, DWORD bytes) {
    if (op.state_.stage == 1) {          // the first-data WSARecv
      if (ec == std::errc::timed_out) {  // a silent client: hand it over with no bytes
        complete(op, {}, 0);
      } else if (ec) {
        op.socket.close();
        complete(op, ec, 0);
      } else {
        op.bytesReceived = bytes;
        complete(op, {}, bytes);
      }
      return;
    }
    auto* site = static_cast<AcceptSite*>(op.state_.owner);
    op.state_.owner = nullptr;
    --site->inFlight;
    if (site->closed) {  // the listener is gone: this connection (if any) is refused
      if (site->inFlight == 0) delete site;
      op.socket.close();
      complete(op, std::make_error_code(std::errc::operation_canceled), 0);
      return;
    }
    if (ec) {
      op.socket.close();
      complete(op, ec, 0);
      return;
    }
    SOCKET listenSock = site->socket;
    ::setsockopt(sock(op.socket.native()), SOL_SOCKET, SO_UPDATE_ACCEPT_CONTEXT,
                 reinterpret_cast<const char*>(&listenSock), sizeof(listenSock));
    sockaddr* local = nullptr;
    sockaddr* remote = nullptr;
    int localLen = 0;
    int remoteLen = 0;
    getAcceptExSockaddrs_(op.local.raw(), 0, kAddrLen, kAddrLen, &local, &localLen, &remote,
                          &remoteLen);
    Address la = Address::fromRaw(local, static_cast<std::size_t>(localLen));
    Address ra = Address::fromRaw(remote, static_cast<std::size_t>(remoteLen));
    op.local = la;
    op.peer = ra;
    if (op.firstData.empty()) {
      complete(op, {}, 0);
      return;
    }
    op.state_.stage = 1;
    restartClock(op);
    postRecv(op, op.socket.native(), op.firstData.data(), op.firstData.size());
  }

  void onConnect(ConnectOp& op, std::error_code ec, DWORD bytes) {
    if (ec && op.state_.stage == 0 && op.state_.index == 1 && !op.state_.cancelRequested &&
        !op.state_.timedOut) {
      // The recycled handle did not connect: once more on a new socket.
      op.socket.close();
      ++socketReuse_.closed;
      op.state_.index = 0;
      connectOnNewSocket(op);
      return;
    }
    if (ec) {
      op.socket.close();
      complete(op, ec, 0);
      return;
    }
    if (op.state_.stage == 0) {
      ::setsockopt(sock(op.socket.native()), SOL_SOCKET, SO_UPDATE_CONNECT_CONTEXT, nullptr, 0);
      op.state_.stage = 1;
    }
    op.state_.progress += bytes;
    if (op.state_.progress >= op.firstData.size()) {
      complete(op, {}, op.firstData.size());
      return;
    }
    WSABUF b{static_cast<ULONG>(op.firstData.size() - op.state_.progress),
             const_cast<char*>(op.firstData.data() + op.state_.progress)};
    restartClock(op);
    if (::WSASend(sock(op.socket.native()), &b, 1, nullptr, 0, freshOv(op), nullptr) != 0 &&
        WSAGetLastError() != WSA_IO_PENDING) {
      std::error_code e = mapError(WSAGetLastError(), op);
      op.socket.close();
      defer(op, e, 0);
    }
  }

  void onTransmit(TransmitOp& op, std::error_code ec, DWORD bytes) {
    if (ec) {
      complete(op, ec, op.state_.total);
      return;
    }
    if (op.state_.stage == 1) {  // the closing DisconnectEx finished
      complete(op, {}, op.state_.total);
      return;
    }
    transmit_cursor::advance(op, bytes);
    restartClock(op);  // progress: a new inactivity period
    stepTransmit(op);
  }

  IocpOptions options_;
  HANDLE port_ = nullptr;
  LPFN_ACCEPTEX acceptEx_ = nullptr;
  LPFN_GETACCEPTEXSOCKADDRS getAcceptExSockaddrs_ = nullptr;
  LPFN_CONNECTEX connectEx_ = nullptr;
  LPFN_DISCONNECTEX disconnectEx_ = nullptr;
  LPFN_TRANSMITFILE transmitFile_ = nullptr;
  LPFN_TRANSMITPACKETS transmitPackets_ = nullptr;
  TimerHeap timers_;
  PooledBuffers pool_;
  backend::DeferredCompletions deferred_;
  std::vector<SOCKET> recycled_;
  std::vector<std::unique_ptr<ReuseDisconnect>> reuseOps_;  // endForReuse's, in flight or free
  std::vector<ReuseDisconnect*> freeReuseOps_;
  std::size_t reuseInFlight_ = 0;
  std::vector<Recycled> connectRecycled_;  // disconnected handles for connect_ex, by remote
};

}  // namespace

bool runningUnderWine() {
  HMODULE ntdll = ::GetModuleHandleA("ntdll.dll");
  return ntdll != nullptr && ::GetProcAddress(ntdll, "wine_get_version") != nullptr;
}

Result<std::unique_ptr<Proactor>> makeIocpProactor(IocpOptions options, const ProactorOptions& po) {
  auto p = std::make_unique<IocpProactor>(options, po);
  auto r = p->init();
  if (!r) return r.error();
  return std::unique_ptr<Proactor>(std::move(p));
}

}  // namespace ferry::io
