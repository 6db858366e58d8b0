#include "proxy/session/downstream.h"

#include "proxy/common/cidr.h"
#include "proxy/common/log.h"
#include "proxy/http/ip.h"
#include "proxy/http/proxy_protocol.h"
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

namespace {

std::optional<io::Address> addressOf(const http::ProxyEndpoint& e) {
  char text[64];
  std::size_t n = formatIp(e.ip, std::span(text, sizeof(text) - 8));
  if (n == 0) return std::nullopt;
  // Built by appending: GCC 12's -Wrestrict misfires on `"[" + std::string(...)` (bug 105329).
  bool v6 = e.ip.family == IpFamily::kV6;
  std::string s;
  if (v6) s.push_back('[');
  s.append(text, n);
  if (v6) s.push_back(']');
  s.push_back(':');
  s.append(std::to_string(e.port));
  return io::Address::parse(s);
}

}  // namespace

Task<bool> readProxyHeader(WorkerContext& w, ListenerContext& l, io::Socket& client, Buffer& in,
                           io::Address& peer) {
  const config::ListenerConfig& cfg = *l.config;
  if (!in) in = w.buffers.acquire();
  TimePoint deadline = w.clock.now() + cfg.proxyProtocolTimeout;
  for (;;) {
    if (!in.empty()) {
      http::ProxyDecode d = http::decodeProxyHeader(in.view());
      if (d.status == http::ProxyDecode::Status::kError) {
        FERRY_WARN_LIMITED("listener {}: client {}: bad PROXY header: {}", cfg.name,
                           peer.toString(), d.error);
        co_return false;
      }
      if (d.status == http::ProxyDecode::Status::kDone) {
        in.consume(d.consumed);
        if (d.header.kind == http::ProxyHeader::Kind::kProxy) {
          if (auto a = addressOf(d.header.source)) peer = *a;
        }
        co_return true;
      }
    }
    Duration left = deadline - w.clock.now();
    if (left <= Duration::zero() || in.writable().empty()) co_return false;
    io::IoResult r = co_await io::recv(w.proactor, client.native(), in.writable(), left);
    if (!r.ok() || r.bytes == 0) co_return false;
    in.commit(r.bytes);
  }
}

std::size_t encodeProxyHeader(const config::ClusterConfig& c, const io::Socket& client,
                              const io::Address& peer, char* out, std::size_t cap) {
  if (c.proxyProtocol == config::ProxyProtocolVersion::kOff) return 0;
  http::ProxyHeader h;
  auto src = http::toEndpoint(peer);
  auto dst = http::toEndpoint(client.localAddress());
  if (src && dst && src->ip.family == dst->ip.family) {
    h.source = *src;
    h.destination = *dst;
  } else {
    h.kind = http::ProxyHeader::Kind::kUnknown;
  }
  std::span<char> span(out, cap);
  return c.proxyProtocol == config::ProxyProtocolVersion::kV1 ? http::encodeProxyV1(h, span)
                                                              : http::encodeProxyV2(h, span);
}

}  // namespace ferry::session
