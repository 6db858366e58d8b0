#pragma once
// Moving bytes between two connections: the one mechanism behind request bodies, WebSocket
// tunnels and TCP connections.
//
// A Pump moves one direction: it reads from one socket into one bounded buffer, lets an optional
// Filter decide how much of what arrived belongs to the message (HTTP framing), writes that to
// the other socket, and reads again only once the write completed. So a slow reader on one side
// never makes ferry buffer more than one buffer per direction: flow control is TCP's own.
// A Relay runs two pumps at once (full duplex) and ends when both have.
//
// Threads and lifetimes: everything runs on the worker that owns both sockets. A pump has at
// most one operation pending, recorded so that cancel() can end it early (the pump then returns
// kCancelled); the pump's frame, buffer and sockets must outlive run(), which always awaits its
// pending operation before returning.

#include <cstdint>
#include <system_error>
#include <vector>

#include "proxy/common/buffer.h"
#include "proxy/common/task.h"
#include "proxy/common/time.h"
#include "proxy/io/awaitables.h"
#include "proxy/io/proactor.h"
#include "proxy/session/cancel.h"

namespace ferry::session {

// What Pump and SplicePump share: the worker's proactor, the one cancellable pending operation,
// and what moved (bytes each way, the last read's time, the error that ended it).
class PumpProgress {
 public:
  // Any time on the worker: ends run() early with kCancelled.
  void cancel() { slot_.cancel(p_); }
  std::uint64_t bytesRead() const { return read_; }
  std::uint64_t bytesWritten() const { return written_; }
  // Time of the last byte read (for idle timeouts that span both directions).
  TimePoint lastActivity() const { return last_; }
  void setClock(const Clock* c) { clock_ = c; }
  std::error_code error() const { return ec_; }

 protected:
  explicit PumpProgress(io::Proactor& p) : p_(p) {}
  io::Proactor& p_;
  CancelSlot slot_;
  std::uint64_t read_ = 0;
  std::uint64_t written_ = 0;
  TimePoint last_{};
  const Clock* clock_ = nullptr;
  std::error_code ec_;
};

class Pump : public PumpProgress {
 public:
  // What a filter says about the bytes at hand.
  struct Step {
    std::size_t forward = 0;  // this prefix of the bytes is sent on now
    bool ended = false;       // the message ends after `forward` bytes (the rest is not ours)
    bool bad = false;         // the bytes are malformed: stop without forwarding
    bool tooLarge = false;    // the message grew past a limit: stop without forwarding
  };
  class Filter {
   public:
    virtual ~Filter() = default;
    // Bytes arrived (all unforwarded bytes, from the start of the buffer).
    virtual Step onBytes(const char* data, std::size_t n) = 0;
    // The reading side closed: may end a message delimited by the close (or make it bad).
    virtual Step onEof() = 0;
  };

  enum class End : std::uint8_t {
    kEnded,         // the filter's message ended; bytes after it stay in the buffer
    kEof,           // the reading side closed (passed on as a half-close when asked)
    kReadTimeout,   // nothing to read within the read timeout
    kReadError,     // the reading side failed (reset)
    kWriteTimeout,  // the writing side did not take the bytes within the write timeout
    kWriteError,    // the writing side failed
    kBad,           // the filter found malformed bytes
    kTooLarge,      // the filter found the message over its limit
    kCancelled,     // cancel() ended it
  };

  struct Ends {
    io::NativeHandle from = io::kInvalidHandle;
    io::NativeHandle to = io::kInvalidHandle;
    Duration readTimeout{};
    Duration writeTimeout{};
    // On EOF without a filter: shut down the writing side's send direction (half-close).
    bool halfClose = false;
  };

  // buffer: the pump reads into it (acquired by the caller); bytes already in it go first.
  Pump(io::Proactor& p, Buffer& buffer, Ends ends, Filter* filter = nullptr)
      : PumpProgress(p), buf_(buffer), ends_(ends), filter_(filter) {}

  Task<End> run();

 private:
  Buffer& buf_;
  Ends ends_;
  Filter* filter_;
};

// One direction moved by the kernel (io::SpliceOp: splice(2) through a pipe, where the proactor
// canSplice()): the bytes never enter user space and the pump holds no buffer of its own. Same
// ends and results as a Pump without a filter: bytes already in `pending` (read before the relay
// started) are sent first, EOF is passed on as a half-close when asked, read and write timeouts
// as for a Pump (the read timeout bounds the wait for bytes, the write timeout the wait for the
// other side to take them).
class SplicePump : public PumpProgress {
 public:
  SplicePump(io::Proactor& p, Buffer& pending, Pump::Ends ends);
  Task<Pump::End> run();

 private:
  Buffer& pending_;
  Pump::Ends ends_;
  io::SpliceAwaiter op_;
};

// Pipes for splice kept by a worker between uses, so that splicing a response body costs no
// pipe2(2) and close(2) per response (an op without a pipe opens its own). Owning worker's thread
// only; at most kMax pipes are kept (the vector is reserved once: lending and taking back never
// allocate). A pipe that still holds bytes (its op failed mid-chunk) is closed, never kept.
class PipeCache {
 public:
  static constexpr std::size_t kMax = 64;
  PipeCache() { pipes_.reserve(kMax); }
  // Gives op a kept pipe, if there is one and op has none.
  void lend(io::SpliceOp& op);
  // Takes op's pipe back (empty and fine) or lets it close.
  void takeBack(io::SpliceOp& op);

 private:
  struct Pipe {
    io::Socket out;
    io::Socket in;
  };
  std::vector<Pipe> pipes_;
};

// Runs a and b at once on this worker; completes when both have completed.
Task<void> both(Task<void> a, Task<void> b);

// A two-way tunnel between x and y (after a 101, or a TCP listener): each direction is a pump
// with half-close passed on; it ends when both directions ended, or when one failed (the other is
// cancelled), or after idleTimeout with no byte either way.
struct TunnelResult {
  std::uint64_t xToY = 0;
  std::uint64_t yToX = 0;
  bool clean = false;  // both sides closed in order (no error, no timeout)
  bool timedOut = false;
};
// With splice set and a proactor that canSplice(), both directions are SplicePumps (xBuf and
// yBuf then only hold bytes read before the tunnel began); otherwise Pumps through the buffers.
Task<TunnelResult> tunnel(io::Proactor& p, const Clock& clock, io::NativeHandle x, Buffer& xBuf,
                          io::NativeHandle y, Buffer& yBuf, Duration idleTimeout,
                          Duration sendTimeout, bool splice = false);

}  // namespace ferry::session
