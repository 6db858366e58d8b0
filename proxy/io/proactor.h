#pragma once
// The proactor: completion-based socket operations shaped after the Winsock extension functions
// (AcceptEx, ConnectEx, TransmitPackets, DisconnectEx), implemented over io_uring (uring/),
// epoll (epoll/) and IOCP (iocp/). Knows nothing of HTTP.
//
// The model, for every backend:
// - An operation object is owned by its caller (embedded in a session or connection, or in a
//   coroutine frame as an awaiter). The caller fills its inputs, submits it, and must keep it
//   alive and untouched until onComplete() runs. No allocation and no std::function per
//   operation.
// - onComplete(ec, bytes) is called exactly once per submission, on the proactor's thread, from
//   inside run()/runOnce(): never from inside the submitting call, so a completion never recurses
//   into the code that submitted it. After onComplete returns the proactor does not touch the
//   operation again, so onComplete may resume a coroutine that destroys it.
// - Errors are std::error_codes in the system category (errno values); timeouts complete with
//   std::errc::timed_out, cancellations with std::errc::operation_canceled.
// - A proactor is single-threaded: every call but post() and stop() is made on its own thread.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <system_error>

#include "proxy/common/result.h"
#include "proxy/common/time.h"
#include "proxy/io/address.h"
#include "proxy/io/socket.h"

namespace ferry::io {

// What a backend needs to know about an operation; set by the proactor, read by no one else.
enum class OpKind : std::uint8_t {
  kNone,        // never submitted
  kAccept,      // accept_ex: waiting for a connection, then (stage 1) for its first bytes
  kConnect,     // connect_ex: stage 0 the handshake, stage 1 the first data
  kRecv,        // recv into a caller buffer
  kRecvPooled,  // recv into a buffer of the proactor's pool, picked when data came
  kSend,        // transmit_packets, memory elements being sent
  kSendPoll,    // transmit_packets, waiting for the socket to drain before a file range
  kSendZc,      // transmit_packets, a zero-copy send whose buffer notification is outstanding
  kDisconnect,  // disconnect_ex: the shutdown of the send side
  kWaitRead,    // wait_readable: until a recv would not block (bytes, the peer's FIN, an error)
  kSplice,      // splice: stage 0 waiting for bytes to read, stage 1 for room to write
  kTimer,       // a timer
  kPost,        // posted from another thread
  kInternal,    // a backend's own operation (multishot accept, wake-ups)
};

class Operation {
 public:
  virtual ~Operation() = default;
  // Called once per submission on the proactor's thread; see the file comment.
  virtual void onComplete(std::error_code ec, std::size_t bytes) = 0;

  // How long the operation may go without progress; zero means no bound. On expiry it completes
  // with std::errc::timed_out. For transmit_packets each partial send restarts the clock (an
  // inactivity timeout, like HAProxy's "timeout client/server"); other operations make no
  // partial progress, so for them it bounds the whole operation.
  Duration timeout{};

  bool pending() const { return state_.pending; }

  // Backend bookkeeping. Only proactor implementations touch this. Packed: every pending
  // operation of an idle connection carries one (64 bytes on Linux; 104 on Windows, where the
  // OVERLAPPED lives in scratch).
  struct State {
    OpKind kind = OpKind::kNone;
    std::uint8_t stage = 0;
    bool pending : 1 = false;
    bool cancelRequested : 1 = false;
    bool timedOut : 1 = false;      // the deadline passed and the backend cancelled the operation
    bool deferred : 1 = false;      // its completion is decided and queued: a cancel comes late
    std::uint32_t index = 0;        // transmit_packets: current element
    std::uint32_t timerSlot = ~0U;  // position in a backend's timer heap
    NativeHandle waitHandle = kInvalidHandle;  // the socket a readiness backend waits on
    std::uint64_t progress = 0;                // bytes done in the current element or stage
    std::uint64_t total = 0;                   // bytes done in the whole operation
    Operation* next = nullptr;                 // intrusive queues (waiting accepts, posts)
    void* owner = nullptr;  // the listener an accept waits on, or other backend object
    TimePoint deadline{};   // backends with their own timer queue
#ifdef _WIN32
    alignas(8) unsigned char scratch[40] = {};  // the OVERLAPPED and its back pointer
#else
    alignas(8) unsigned char scratch[8] = {};  // small results kept between completions
#endif
  } state_;
};

// recv: completes with the number of bytes read into buffer; 0 means the peer closed its side.
class RecvOp : public Operation {
 public:
  NativeHandle socket = kInvalidHandle;
  std::span<char> buffer;
};

// recv into a buffer the proactor picks only when data has arrived (io_uring provided-buffer
// rings), so a connection waiting for its next request holds no buffer. On success `data` and
// the completion's byte count describe the bytes; they stay valid until releaseBuffer(op), which
// must come soon (the pool is small and shared by the worker's connections). 0 bytes means the
// peer closed. With every pooled buffer in use it completes with no_buffer_space.
class PooledRecvOp : public Operation {
 public:
  NativeHandle socket = kInvalidHandle;
  // results
  const char* data = nullptr;
  std::uint32_t bufferId = ~0U;  // the backend's handle on the buffer; ~0U: none held
};

// accept_ex: completes with a new connection taken from the listener, its addresses, and (if
// firstData is not empty) its first bytes. A client that connects and sends nothing does not hold
// the operation: after timeout (if set) it completes successfully with bytesReceived == 0.
// When the system is out of descriptors or memory (EMFILE, ENFILE, ENOBUFS, ENOMEM; WSAEMFILE,
// WSAENOBUFS) the oldest waiting accept completes with that error and the backend arms no kernel
// accept on the listener until the next acceptEx: the caller paces retries (AcceptGate). With
// every accept of a listener cancelled, io_uring stops its multishot accept too.
class AcceptOp : public Operation {
 public:
  std::span<char> firstData;  // may be empty: complete as soon as the connection is accepted
  // Whether the backend may accept connections before an accept asks for them (io_uring's
  // multishot accept, whose sockets wait in a queue). false: one connection per accept, the
  // rest stay in the kernel's backlog; for when descriptors are counted (AcceptGate). epoll and
  // IOCP never accept ahead.
  bool ahead = true;
  // results
  Socket socket;
  Address local;
  Address peer;
  std::size_t bytesReceived = 0;
};

// connect_ex: opens a socket, connects it to remote and, if firstData is not empty, sends it as
// part of the handshake (TCP Fast Open when fastOpen is set and the system allows). bytes on
// completion is how much of firstData was sent (all of it, on success).
class ConnectOp : public Operation {
 public:
  Address remote;
  std::span<const char> firstData;
  bool fastOpen = false;
  // result: the connected socket (closed on failure)
  Socket socket;
};

// One element of transmit_packets: a memory buffer or a range of an open file.
struct TransmitElement {
  const void* data = nullptr;
  std::uint64_t length = 0;
  NativeHandle file = kInvalidHandle;  // kInvalidHandle: a memory element
  std::uint64_t offset = 0;

  static TransmitElement memory(const void* p, std::size_t n) {
    return TransmitElement{p, n, kInvalidHandle, 0};
  }
  static TransmitElement memory(std::string_view s) { return memory(s.data(), s.size()); }
  static TransmitElement fileRange(NativeHandle f, std::uint64_t off, std::uint64_t n) {
    return TransmitElement{nullptr, n, f, off};
  }
  bool isFile() const { return file != kInvalidHandle; }
};

enum TransmitFlags : std::uint32_t {
  kTransmitDisconnect = 1,   // TF_DISCONNECT: shut down the send side after the last element
  kTransmitReuseSocket = 2,  // TF_REUSE_SOCKET: with kTransmitDisconnect, keep the handle
};

// transmit_packets: sends every element in order as one operation; completes when all bytes were
// handed to the kernel (bytes = their sum) or with the first error. The elements array and what
// it points at must stay valid until completion.
class TransmitOp : public Operation {
 public:
  NativeHandle socket = kInvalidHandle;
  std::span<const TransmitElement> elements;
  std::uint32_t flags = 0;
  alignas(16) unsigned char vecScratch[192] = {};  // backends' gather arrays (iovec, WSABUF)
};

// disconnect_ex: a graceful close of the send side. With reuse, the handle may be handed back to
// accept_ex or connect_ex where the system supports it (Windows); the socket still has to be
// closed or recycled by its owner.
class DisconnectOp : public Operation {
 public:
  NativeHandle socket = kInvalidHandle;
  bool reuse = false;
};

// splice: moves bytes from one socket to another inside the kernel, through a pipe the operation
// owns (Linux splice(2); no copy through user space). One submission reads one chunk (up to
// maxBytes) from `from` and completes once all of it was written to `to`: bytes is that count;
// 0 with no error means `from` reached its end (the peer's FIN) with nothing left to write.
// Only where Proactor::canSplice() says so; elsewhere it completes with operation_not_supported.
//
// Timeouts: readTimeout bounds the wait for bytes, writeTimeout the wait for `to` to take them
// (each a bound on one stage, zero: none); the backend sets Operation::timeout from them.
// On an error, failedWriting says which side failed. Bytes read but not yet written (after a
// failure or a cancel while writing) stay in the pipe and go first on the next submission.
// The pipe is opened on first use and closed with the operation; keep one SpliceOp per
// direction for a connection's whole life, not one per chunk.
class SpliceOp : public Operation {
 public:
  NativeHandle from = kInvalidHandle;
  NativeHandle to = kInvalidHandle;
  std::uint32_t maxBytes = 65536;  // per submission; at most the pipe's capacity (64 KiB)
  Duration readTimeout{};
  Duration writeTimeout{};
  // results
  bool failedWriting = false;
  std::uint32_t buffered = 0;  // bytes in the pipe, read from `from`, not yet written to `to`
  // The pipe (read end, write end): backend-managed; plain descriptors closed by Socket.
  Socket pipeOut;
  Socket pipeIn;
};

// wait_readable: completes (ec empty, 0 bytes) once a recv on `socket` would not block: bytes
// arrived, the peer closed its side, or the connection failed (a later recv says how; IOCP may
// report a reset as the completion's error). It reads nothing and holds no buffer, so it can
// watch an idle connection (io_uring: a poll for POLLIN|POLLRDHUP; epoll: readiness interest;
// IOCP: a zero-byte WSARecv). A send may run on the socket meanwhile, but no other read: cancel
// the wait before reading (epoll keeps one reader per socket). Cancelling is how a watcher lets
// go; as for every operation, the op must stay alive until its (canceled) completion arrives.
class WaitReadableOp : public Operation {
 public:
  NativeHandle socket = kInvalidHandle;
};

// A timer: completes successfully after `timeout`.
class TimerOp : public Operation {};

// A listening socket owned by a proactor. Accepts are queued on it with acceptEx. Destroy it
// before its proactor, on the proactor's thread; it may be destroyed at any time there (a reload
// closes listeners while clients connect): accepts still pending on it complete with
// operation_canceled on a later turn, and what the kernel still delivers for it afterwards
// (accepted sockets, the cancel's completion) is absorbed by the proactor, sockets closed. A
// caller must not post another accept on it once it is gone.
class Listener {
 public:
  virtual ~Listener() = default;
  virtual Address address() const = 0;
};

// What became of the sockets given to Proactor::endForReuse (proactor's thread).
struct SocketReuseCounts {
  std::uint64_t recycled = 0;  // disconnected with TF_REUSE_SOCKET and kept for a connect_ex
  std::uint64_t closed = 0;    // closed instead: no reuse here, switched off, too many kept, or
                               // the disconnect (or a connect_ex on the handle) failed
  std::uint64_t reused = 0;    // connect_ex calls that went out on a recycled handle
};

enum class Backend { kAuto, kUring, kEpoll, kIocp };
std::string_view backendName(Backend b);

struct ProactorOptions {
  std::uint32_t pooledBuffers = 1024;     // recvPooled's pool (a power of two for io_uring)
  std::uint32_t pooledBufferSize = 4096;  // bytes each; a longer message is read on with recv
  // io_uring: memory runs of at least this many bytes go out with sendmsg_zc (zero copy, where
  // the kernel has it); 0, the default, switches it off. Why off: a zero-copy send completes
  // only when the kernel has let go of the memory, that is when the peer has read the data, so
  // a cancel or timeout of a send to a peer that stops reading waits until the connection is
  // reset. It pays for large buffers on real NICs (on loopback the kernel copies anyway).
  std::uint32_t zeroCopyThreshold = 0;
  // Linux: offer splice() (canSplice()). The environment variable FERRY_SPLICE=0 switches it
  // off in makeProactor, to compare with the buffer relay (tests/bench).
  bool splice = true;
};

class Proactor {
 public:
  virtual ~Proactor() = default;
  virtual Backend backend() const = 0;

  // Binds and listens on addr (SO_REUSEPORT, so each worker has its own). Startup only.
  virtual Result<std::unique_ptr<Listener>> listen(const Address& addr,
                                                   const ListenOptions& opts) = 0;

  // Operations. Each completes through op.onComplete, never inline.
  virtual void acceptEx(Listener& l, AcceptOp& op) = 0;
  virtual void connectEx(ConnectOp& op) = 0;
  virtual void recv(RecvOp& op) = 0;
  virtual void recvPooled(PooledRecvOp& op) = 0;
  // Gives op's pooled buffer back (no-op if it holds none).
  virtual void releaseBuffer(PooledRecvOp& op) = 0;
  // Pooled buffers handed out and not yet released (for tests and metrics).
  virtual std::size_t pooledBuffersInUse() const = 0;
  virtual void transmitPackets(TransmitOp& op) = 0;
  virtual void disconnectEx(DisconnectOp& op) = 0;
  virtual void waitReadable(WaitReadableOp& op) = 0;
  virtual void startTimer(TimerOp& op) = 0;
  // Whether splice() moves bytes in the kernel here (Linux backends); when false, relays copy
  // through buffers with recv and transmit_packets.
  virtual bool canSplice() const { return false; }
  virtual void splice(SpliceOp& op) = 0;

  // Takes back a socket after disconnect_ex(reuse): a backend that can reuse handles keeps it
  // for accept_ex (Windows, TF_REUSE_SOCKET, where the system supports it); others close it.
  virtual void recycle(Socket s) { s.close(); }

  // Ends a connection that finished cleanly (ferry ends it: an upstream connection's idle
  // timeout, max requests, lifetime). Where the system can reuse socket handles (Windows,
  // unless switched off: IocpOptions::reuseSockets, FERRY_IOCP_SOCKET_REUSE=0; never under
  // Wine) the proactor disconnects it with DisconnectEx(TF_REUSE_SOCKET), an operation it owns,
  // and hands the handle to a later connect_ex to the same remote; elsewhere (Linux) it closes
  // it. No operation may be pending on s. Counted in socketReuse().
  virtual void endForReuse(Socket s, const Address& remote) = 0;
  virtual SocketReuseCounts socketReuse() const = 0;

  // Asks a pending operation to complete early with operation_canceled (or its own result if it
  // already finished). Does nothing for an operation that is not pending.
  virtual void cancel(Operation& op) = 0;

  // Thread-safe: op completes (ec empty, 0 bytes) on this proactor's thread.
  virtual void post(Operation& op) = 0;
  // Thread-safe: run() returns after the completions at hand are delivered.
  virtual void stop() = 0;

  // Delivers completions until stop().
  virtual void run() = 0;
  // Waits up to maxWait for completions and delivers those at hand; returns how many.
  virtual std::size_t runOnce(Duration maxWait) = 0;
};

// Makes the proactor of the asked backend; kAuto picks io_uring, then epoll if io_uring is not
// available (e.g. blocked by a seccomp profile). Fails only if nothing can be set up.
Result<std::unique_ptr<Proactor>> makeProactor(Backend b, const ProactorOptions& options = {});

}  // namespace ferry::io
