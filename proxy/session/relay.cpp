#include "proxy/session/relay.h"

#include <coroutine>

#include "proxy/io/awaitables.h"

namespace ferry::session {

Task<Pump::End> Pump::run() {
  for (;;) {
    if (!buf_.empty()) {
      Step st = filter_ != nullptr ? filter_->onBytes(buf_.data(), buf_.size())
                                   : Step{buf_.size(), false, false, false};
      if (st.bad) co_return End::kBad;
      if (st.tooLarge) co_return End::kTooLarge;
      if (st.forward > 0) {
        if (slot_.requested) co_return End::kCancelled;
        io::TransmitElement e = io::TransmitElement::memory(buf_.data(), st.forward);
        auto wr = io::transmit(p_, ends_.to, std::span(&e, 1), ends_.writeTimeout);
        slot_.op = &wr;
        io::IoResult r = co_await wr;
        slot_.op = nullptr;
        if (r.ec == std::errc::operation_canceled) co_return End::kCancelled;
        if (r.ec) {
          ec_ = r.ec;
          co_return r.ec == std::errc::timed_out ? End::kWriteTimeout : End::kWriteError;
        }
        written_ += st.forward;
        buf_.consume(st.forward);
      }
      if (st.ended) co_return End::kEnded;
    }
    buf_.compact();
    std::span<char> room = buf_.writable();
    if (room.empty()) co_return End::kBad;  // a filter that never takes a full buffer
    if (slot_.requested) co_return End::kCancelled;
    auto rd = io::recv(p_, ends_.from, room, ends_.readTimeout);
    slot_.op = &rd;
    io::IoResult r = co_await rd;
    slot_.op = nullptr;
    if (r.ec == std::errc::operation_canceled) co_return End::kCancelled;
    if (r.ec) {
      ec_ = r.ec;
      co_return r.ec == std::errc::timed_out ? End::kReadTimeout : End::kReadError;
    }
    if (clock_ != nullptr) last_ = clock_->now();
    if (r.bytes == 0) {
      if (filter_ != nullptr) {
        Step st = filter_->onEof();
        if (st.bad) co_return End::kBad;
        co_return st.ended ? End::kEnded : End::kEof;
      }
      if (ends_.halfClose && !slot_.requested) {
        auto sd = io::disconnect(p_, ends_.to, ends_.writeTimeout);
        slot_.op = &sd;
        co_await sd;
        slot_.op = nullptr;
      }
      co_return End::kEof;
    }
    read_ += r.bytes;
    buf_.commit(r.bytes);
  }
}

SplicePump::SplicePump(io::Proactor& p, Buffer& pending, Pump::Ends ends)
    : PumpProgress(p), pending_(pending), ends_(ends), op_(p) {
  op_.from = ends.from;
  op_.to = ends.to;
  op_.readTimeout = ends.readTimeout;
  op_.writeTimeout = ends.writeTimeout;
}

Task<Pump::End> SplicePump::run() {
  if (!pending_.empty()) {  // bytes read before the relay began go first, from the buffer
    if (slot_.requested) co_return Pump::End::kCancelled;
    io::TransmitElement e = io::TransmitElement::memory(pending_.data(), pending_.size());
    auto wr = io::transmit(p_, ends_.to, std::span(&e, 1), ends_.writeTimeout);
    slot_.op = &wr;
    io::IoResult r = co_await wr;
    slot_.op = nullptr;
    if (r.ec == std::errc::operation_canceled) co_return Pump::End::kCancelled;
    if (r.ec) {
      ec_ = r.ec;
      co_return r.ec == std::errc::timed_out ? Pump::End::kWriteTimeout : Pump::End::kWriteError;
    }
    written_ += pending_.size();
    pending_.consume(pending_.size());
  }
  for (;;) {
    if (slot_.requested) co_return Pump::End::kCancelled;
    slot_.op = &op_;
    io::IoResult r = co_await op_;
    slot_.op = nullptr;
    if (r.ec == std::errc::operation_canceled) co_return Pump::End::kCancelled;
    written_ += r.bytes;
    if (r.ec) {
      ec_ = r.ec;
      bool timedOut = r.ec == std::errc::timed_out;
      if (op_.failedWriting) co_return timedOut ? Pump::End::kWriteTimeout : Pump::End::kWriteError;
      co_return timedOut ? Pump::End::kReadTimeout : Pump::End::kReadError;
    }
    if (clock_ != nullptr) last_ = clock_->now();
    if (r.bytes == 0) {
      if (ends_.halfClose && !slot_.requested) {
        auto sd = io::disconnect(p_, ends_.to, ends_.writeTimeout);
        slot_.op = &sd;
        co_await sd;
        slot_.op = nullptr;
      }
      co_return Pump::End::kEof;
    }
    read_ += r.bytes;
  }
}

void PipeCache::lend(io::SpliceOp& op) {
  if (op.pipeIn.valid() || pipes_.empty()) return;
  op.pipeOut = std::move(pipes_.back().out);
  op.pipeIn = std::move(pipes_.back().in);
  op.buffered = 0;
  pipes_.pop_back();
}

void PipeCache::takeBack(io::SpliceOp& op) {
  if (!op.pipeIn.valid() || op.buffered != 0 || pipes_.size() >= kMax) {
    op.pipeOut.close();
    op.pipeIn.close();
    return;
  }
  pipes_.push_back(Pipe{std::move(op.pipeOut), std::move(op.pipeIn)});
}

namespace {

struct JoinState {
  int remaining = 2;
  std::coroutine_handle<> waiter;
};

Task<void> signalWhenDone(Task<void> t, JoinState& s) {
  co_await std::move(t);
  // The waiter may end the whole relay (and s with it) when resumed: touch nothing after.
  if (--s.remaining == 0 && s.waiter) s.waiter.resume();
}

struct JoinAwaiter {
  JoinState& s;
  bool await_ready() const noexcept { return s.remaining == 0; }
  void await_suspend(std::coroutine_handle<> h) noexcept { s.waiter = h; }
  void await_resume() const noexcept {}
};

}  // namespace

Task<void> both(Task<void> a, Task<void> b) {
  JoinState s;
  spawn(signalWhenDone(std::move(a), s));
  spawn(signalWhenDone(std::move(b), s));
  co_await JoinAwaiter{s};
}

namespace {

// One direction of a tunnel. An idle timeout in one direction is not the tunnel's while the
// other direction moved bytes lately: then the read is simply posted again.
template <class P>
Task<void> tunnelDirection(P& self, P& other, const Clock& clock, Duration idle, Pump::End& end) {
  for (;;) {
    end = co_await self.run();
    if (end == Pump::End::kReadTimeout && clock.now() - other.lastActivity() < idle) continue;
    break;
  }
  bool orderly = end == Pump::End::kEof;
  // A failed or idle direction ends the tunnel; a closed one waits for the other to close.
  if (!orderly) other.cancel();
}

// Both directions of a tunnel over pumps of type P (Pump or SplicePump).
template <class P>
Task<TunnelResult> tunnelOver(io::Proactor& p, const Clock& clock, io::NativeHandle x, Buffer& xBuf,
                              io::NativeHandle y, Buffer& yBuf, Duration idleTimeout,
                              Duration sendTimeout) {
  P xy(p, xBuf, {x, y, idleTimeout, sendTimeout, true});
  P yx(p, yBuf, {y, x, idleTimeout, sendTimeout, true});
  xy.setClock(&clock);
  yx.setClock(&clock);
  Pump::End ex = Pump::End::kEof;
  Pump::End ey = Pump::End::kEof;
  co_await both(tunnelDirection(xy, yx, clock, idleTimeout, ex),
                tunnelDirection(yx, xy, clock, idleTimeout, ey));
  TunnelResult r;
  r.xToY = xy.bytesWritten();
  r.yToX = yx.bytesWritten();
  r.clean = ex == Pump::End::kEof && ey == Pump::End::kEof;
  r.timedOut = ex == Pump::End::kReadTimeout || ey == Pump::End::kReadTimeout;
  co_return r;
}

}  // namespace

Task<TunnelResult> tunnel(io::Proactor& p, const Clock& clock, io::NativeHandle x, Buffer& xBuf,
                          io::NativeHandle y, Buffer& yBuf, Duration idleTimeout,
                          Duration sendTimeout, bool splice) {
  if (splice && p.canSplice()) {
    co_return co_await tunnelOver<SplicePump>(p, clock, x, xBuf, y, yBuf, idleTimeout, sendTimeout);
  }
  co_return co_await tunnelOver<Pump>(p, clock, x, xBuf, y, yBuf, idleTimeout, sendTimeout);
}

}  // namespace ferry::session
