#include "proxy/session/downstream.h"

#include "proxy/io/awaitables.h"

namespace ferry::session {

Task<HeadOutcome> readHead(io::Proactor& p, io::NativeHandle s, Buffer& in, http::Parser& parser,
                           const HeadLimits& limits, const Clock& clock) {
  in.compact();
  std::size_t parsed = 0;
  bool started = !in.empty();
  TimePoint deadline = clock.now() + limits.headerTimeout;
  for (;;) {
    if (parsed < in.size()) {
      http::Parser::Step st = parser.feed(in.data() + parsed, in.size() - parsed);
      parsed += st.consumed;
      if (st.status == http::Parser::Status::kError) co_return HeadOutcome::kInvalid;
      if (parser.headComplete()) {
        if (parser.head().headBytes > limits.maxBytes) break;  // 431
        co_return HeadOutcome::kReady;
      }
      if (parsed > limits.maxBytes) break;  // 431
    }
    std::span<char> room = in.writable();
    if (room.empty()) break;  // 431
    Duration wait = limits.idleTimeout;
    if (started) {
      wait = deadline - clock.now();
      if (wait <= Duration::zero()) co_return HeadOutcome::kTimeout;
    }
    io::IoResult r = co_await io::recv(p, s, room, wait);
    if (r.ec == std::errc::timed_out)
      co_return started ? HeadOutcome::kTimeout : HeadOutcome::kClosed;
    if (r.ec) co_return started ? HeadOutcome::kIoError : HeadOutcome::kClosed;
    if (r.bytes == 0) co_return HeadOutcome::kClosed;
    if (!started) deadline = clock.now() + limits.headerTimeout;
    started = true;
    in.commit(r.bytes);
  }
  co_return HeadOutcome::kInvalid;  // too large: the parser has not failed, so mark it 431
}

Task<bool> awaitClientBytes(io::Proactor& p, io::NativeHandle s, Buffer& in, BufferPool& pool,
                            Duration idleTimeout, CancelSlot* slot) {
  if (slot != nullptr && slot->requested) co_return false;
  auto wait = io::Awaiter<io::PooledRecvOp>(p, &io::Proactor::recvPooled, [&](io::PooledRecvOp& o) {
    o.socket = s;
    o.timeout = idleTimeout;
  });
  if (slot != nullptr) slot->op = &wait;
  io::IoResult r = co_await wait;
  if (slot != nullptr) slot->op = nullptr;
  if (r.ec == std::errc::no_buffer_space) {  // every pooled buffer is busy: use our own
    if (slot != nullptr && slot->requested) co_return false;
    in = pool.acquire();
    auto rd = io::recv(p, s, in.writable(), idleTimeout);
    if (slot != nullptr) slot->op = &rd;
    r = co_await rd;
    if (slot != nullptr) slot->op = nullptr;
    if (!r.ok() || r.bytes == 0) co_return false;
    in.commit(r.bytes);
    co_return true;
  }
  bool got = r.ok() && r.bytes > 0;
  if (got) {
    in = pool.acquire();
    in.append(std::string_view(wait.data, r.bytes));  // a pooled buffer is never larger than ours
  }
  p.releaseBuffer(wait);
  co_return got;
}

Task<bool> sendAll(io::Proactor& p, io::NativeHandle s, std::string_view bytes, Duration timeout) {
  io::TransmitElement e = io::TransmitElement::memory(bytes);
  io::IoResult r = co_await io::transmit(p, s, std::span(&e, 1), timeout);
  co_return r.ok();
}

Task<void> lingeringClose(io::Proactor& p, io::Socket s, Buffer& scratch) {
  io::IoResult r = co_await io::disconnect(p, s.native(), seconds(1));
  if (!r.ok() || !scratch) co_return;
  // Bounded in time and bytes: a client that keeps sending is cut off.
  for (int i = 0; i < 16; ++i) {
    scratch.clear();
    r = co_await io::recv(p, s.native(), scratch.writable(), milliseconds(500));
    if (!r.ok() || r.bytes == 0) break;
  }
}

}  // namespace ferry::session
