// The HTTP reverse-proxy session: one client connection, requests one after another.
//
// The life of a request (see README.md in this folder):
//   read head (idle + header timeouts) -> route (404) -> limits (413) -> upstream head written
//   -> pooled connection or connect_ex carrying the head -> request body streamed verbatim ->
//   response head read (response timeout: 504) -> response head rewritten -> body streamed
//   verbatim -> connection back to the pool if the response ended cleanly -> next request.
//
// Retry: a request goes to a second attempt only if nothing of it could have been processed:
// the connect failed, or a reused pooled connection failed before any response byte while the
// whole request was still in memory (the backend closed an idle connection under us).
//
// Lifetimes: everything lives in this coroutine's frame; at most one operation is pending at a
// time, and every path ends by awaiting it, so the frame never dies with I/O in flight.

#include <cstring>

#include "proxy/http/rewrite.h"
#include "proxy/io/awaitables.h"
#include "proxy/session/context.h"
#include "proxy/session/downstream.h"

namespace ferry::session {
namespace {

// A short copy of what the access log needs after the head's bytes are reused.
struct RequestLine {
  char method[16] = {};
  char target[256] = {};
  std::size_t methodLen = 0;
  std::size_t targetLen = 0;
  int minor = 1;
  void set(const http::MessageHead& h) {
    methodLen = std::min(h.method.size(), sizeof(method));
    std::memcpy(method, h.method.data(), methodLen);
    targetLen = std::min(h.target.size(), sizeof(target));
    std::memcpy(target, h.target.data(), targetLen);
    minor = h.versionMinor;
  }
  std::string_view m() const { return {method, methodLen}; }
  std::string_view t() const { return {target, targetLen}; }
};

// Counts a request as active on a cluster for as long as it holds an upstream connection.
class ActiveGuard {
 public:
  explicit ActiveGuard(metrics::Counter& c) : c_(c) { c_.add(); }
  ~ActiveGuard() { c_.sub(); }
  ActiveGuard(const ActiveGuard&) = delete;
  ActiveGuard& operator=(const ActiveGuard&) = delete;

 private:
  metrics::Counter& c_;
};

enum class Next { kKeepAlive, kClose, kAbort };

struct Exchange {
  int status = 0;
  std::uint64_t bytesOut = 0;
  std::string_view route = "-";
  io::Address upstream;
};

class HttpSession {
 public:
  HttpSession(WorkerContext& w, ListenerContext& l, io::Socket client, io::Address peer)
      : w_(w), l_(l), client_(std::move(client)), peer_(peer) {
    peerLen_ = peer_.formatHost(peerHost_, sizeof(peerHost_));
    routeSlot_ = l_.config->routes.size();
  }

  Task<void> run() {
    l_.counters->accepted.add();
    l_.counters->active.add();
    const config::ListenerConfig& cfg = *l_.config;
    HeadLimits limits{cfg.idleTimeout, cfg.requestHeaderTimeout, cfg.maxRequestHeaderBytes};
    Next next = Next::kKeepAlive;
    while (next == Next::kKeepAlive) {
      req_.reset();
      if (in_.empty()) {
        // Between requests the connection holds no buffer: they go back to the pool, and the
        // next bytes arrive in one of the proactor's pooled buffers.
        in_.release();
        out_.release();
        head_.release();
        if (!co_await awaitClientBytes(w_.proactor, client_.native(), in_, w_.buffers,
                                       cfg.idleTimeout)) {
          next = Next::kClose;
          break;
        }
      }
      HeadOutcome o = co_await readHead(w_.proactor, client_.native(), in_, req_, limits, w_.clock);
      start_ = w_.clock.now();
      if (o == HeadOutcome::kReady) {
        next = co_await exchange();
        continue;
      }
      if (o == HeadOutcome::kTimeout || o == HeadOutcome::kInvalid) {
        int status = o == HeadOutcome::kTimeout ? 408
                     : req_.error().empty()     ? 431
                                                : req_.errorStatus();
        log::debug("client {}: {} ({})", peer_.toString(), status,
                   o == HeadOutcome::kTimeout ? "request head timed out" : req_.error());
        ex_ = Exchange{};
        line_ = RequestLine{};
        co_await answer(status, true);
        finish();
      }
      next = Next::kClose;
    }
    out_.release();
    head_.release();
    if (next == Next::kClose) co_await lingeringClose(w_.proactor, std::move(client_), in_);
    in_.release();
    client_.close();
    l_.counters->active.sub();
  }

 private:
  std::string_view clientIp() const { return {peerHost_, peerLen_}; }

  // One request and its response. The head is complete in in_.
  Task<Next> exchange() {
    const http::MessageHead& h = req_.head();
    ex_ = Exchange{};
    line_.set(h);
    const route::Route* route =
        l_.routes->match(route::keyOf(h.target, h.find("host").value_or("")));
    bool hasBody = h.expectsBody;
    if (h.upgrade && http::iequals(h.method, "CONNECT")) co_return co_await reject(501, true);
    if (route == nullptr) {
      routeSlot_ = l_.config->routes.size();
      bool close = hasBody || !h.keepAlive;
      if (!close) in_.consume(h.headBytes);  // a bodiless request: the next one follows
      co_return co_await reject(404, close);
    }
    routeSlot_ = static_cast<std::size_t>(route - l_.routes->routes().data());
    ex_.route = route->name;
    const config::ListenerConfig& cfg = *l_.config;
    if (cfg.maxRequestBodyBytes != 0 && h.contentLength &&
        *h.contentLength > cfg.maxRequestBodyBytes) {
      co_return co_await reject(413, true);
    }
    if (!head_) head_ = w_.buffers.acquire();
    head_.clear();
    http::HeadWriter hw(head_.writable());
    if (!http::writeUpstreamRequest(h, clientIp(), hw)) co_return co_await reject(431, true);
    head_.commit(hw.size());
    bool clientKeepAlive = h.keepAlive;
    bool expectContinue = h.find("expect").has_value() && hasBody;
    bool headRequest = http::iequals(h.method, "HEAD");

    // The body bytes that arrived with the head.
    in_.consume(h.headBytes);
    http::Parser::Step st = req_.feed(in_.data(), in_.size());
    if (st.status == http::Parser::Status::kError) co_return co_await reject(400, true);
    std::size_t firstBody = st.consumed;
    if (expectContinue && !req_.messageComplete()) {
      // ferry answers 100 Continue itself (the Expect header is not forwarded).
      if (!co_await sendAll(w_.proactor, client_.native(), "HTTP/1.1 100 Continue\r\n\r\n",
                            cfg.sendTimeout)) {
        co_return Next::kAbort;
      }
    }

    upstream::Cluster& cluster = w_.clusters[route->cluster];
    const config::ClusterConfig& cc = cluster.config();
    // While the whole request is in memory it can be sent again; its bytes stay in in_ until
    // the response head arrived.
    bool wholeRequestInMemory = req_.messageComplete();
    std::span<const char> body(in_.data(), firstBody);
    io::Socket up;
    bool reused = false;
    std::size_t ep = 0;
    for (int attempt = 0;; ++attempt) {
      ep = cluster.pick();
      std::error_code err = co_await openAndSend(cluster, ep, true, up, reused, body);
      if (!err) break;
      if (attempt == 1) co_return co_await reject(err == std::errc::timed_out ? 504 : 502, true);
    }
    ActiveGuard active(cluster.counters().active);

    // The rest of the request body, streamed as it comes.
    if (!wholeRequestInMemory) in_.consume(firstBody);
    while (!req_.messageComplete()) {
      in_.compact();
      io::IoResult r =
          co_await io::recv(w_.proactor, client_.native(), in_.writable(), cfg.idleTimeout);
      if (!r.ok() || r.bytes == 0) {
        log::debug("client {} went away during the request body", peer_.toString());
        co_return abortWith(400);
      }
      in_.commit(r.bytes);
      st = req_.feed(in_.data(), in_.size());
      if (st.status == http::Parser::Status::kError) {
        log::debug("client {}: bad request body: {}", peer_.toString(), req_.error());
        co_return co_await reject(400, true);  // the upstream connection is dropped with `up`
      }
      io::TransmitElement e = io::TransmitElement::memory(in_.data(), st.consumed);
      io::IoResult s =
          co_await io::transmit(w_.proactor, up.native(), std::span(&e, 1), cc.responseTimeout);
      if (!s.ok()) co_return co_await reject(502, true);
      in_.consume(st.consumed);
    }

    // The response head; interim 1xx responses are passed on (but for a 100 Continue that
    // ferry already sent) and the next head is read.
    if (!out_) out_ = w_.buffers.acquire();
    out_.clear();
    resp_.reset();
    resp_.setNoBody(headRequest);
    for (;;) {
      if (!out_.empty()) {
        st = resp_.feed(out_.data(), out_.size());
        if (st.status == http::Parser::Status::kError) {
          log::warn("upstream {}: bad response: {}", ex_.upstream.toString(), resp_.error());
          co_return co_await reject(502, true);
        }
        if (resp_.headComplete()) {
          int code = resp_.head().status;
          if (code < 100 || code >= 200 || code == 101) break;
          if (!(code == 100 && expectContinue)) {
            head_.clear();
            http::HeadWriter iw(head_.writable());
            if (http::writeDownstreamResponse(resp_.head(), false, iw) &&
                !co_await sendAll(w_.proactor, client_.native(), iw.view(), cfg.sendTimeout)) {
              co_return abortWith(499);
            }
          }
          out_.consume(resp_.head().headBytes);
          resp_.reset();
          resp_.setNoBody(headRequest);
          continue;
        }
        if (out_.writable().empty()) {
          log::warn("upstream {}: response head too large", ex_.upstream.toString());
          co_return co_await reject(502, true);
        }
      }
      io::IoResult r =
          co_await io::recv(w_.proactor, up.native(), out_.writable(), cc.responseTimeout);
      if (r.ok() && r.bytes > 0) {
        out_.commit(r.bytes);
        continue;
      }
      if (reused && out_.empty() && wholeRequestInMemory && r.ec != std::errc::timed_out) {
        // A pooled connection the backend had closed: send again on a fresh one, once.
        std::error_code err = co_await openAndSend(cluster, ep, false, up, reused, body);
        if (!err) continue;
        co_return co_await reject(err == std::errc::timed_out ? 504 : 502, true);
      }
      log::warn("upstream {}: {}", ex_.upstream.toString(),
                r.ok() ? "closed before responding" : r.ec.message());
      co_return co_await reject(r.ec == std::errc::timed_out ? 504 : 502, true);
    }
    if (wholeRequestInMemory) in_.consume(firstBody);

    // The response head, rewritten, with whatever body bytes came with it.
    const http::MessageHead& rh = resp_.head();
    ex_.status = rh.status;
    bool closeClient = !clientKeepAlive || resp_.bodyUntilClose();
    head_.clear();
    http::HeadWriter hw2(head_.writable());
    if (!http::writeDownstreamResponse(rh, closeClient, hw2)) co_return co_await reject(502, true);
    head_.commit(hw2.size());
    out_.consume(rh.headBytes);
    st = resp_.feed(out_.data(), out_.size());
    if (st.status == http::Parser::Status::kError) co_return co_await reject(502, true);
    io::TransmitElement els[2] = {io::TransmitElement::memory(head_.view()),
                                  io::TransmitElement::memory(out_.data(), st.consumed)};
    io::IoResult s =
        co_await io::transmit(w_.proactor, client_.native(), std::span(els, 2), cfg.sendTimeout);
    if (!s.ok()) co_return abortWith(499);
    ex_.bytesOut += s.bytes;
    out_.consume(st.consumed);

    // The rest of the response body.
    while (!resp_.messageComplete()) {
      out_.compact();
      io::IoResult r =
          co_await io::recv(w_.proactor, up.native(), out_.writable(), cc.responseTimeout);
      if (!r.ok()) {
        log::warn("upstream {}: response body: {}", ex_.upstream.toString(), r.ec.message());
        co_return abortWith(ex_.status);
      }
      if (r.bytes == 0) {
        st = resp_.finish();
        if (st.status != http::Parser::Status::kMessageComplete) {
          log::warn("upstream {}: {}", ex_.upstream.toString(), resp_.error());
          co_return abortWith(ex_.status);
        }
        break;
      }
      out_.commit(r.bytes);
      st = resp_.feed(out_.data(), out_.size());
      if (st.status == http::Parser::Status::kError) {
        log::warn("upstream {}: bad response body: {}", ex_.upstream.toString(), resp_.error());
        co_return abortWith(ex_.status);
      }
      io::TransmitElement e = io::TransmitElement::memory(out_.data(), st.consumed);
      s = co_await io::transmit(w_.proactor, client_.native(), std::span(&e, 1), cfg.sendTimeout);
      if (!s.ok()) co_return abortWith(ex_.status);
      ex_.bytesOut += s.bytes;
      out_.consume(st.consumed);
    }

    // Keep the upstream connection if the response ended by its own framing and nothing more came.
    if (rh.keepAlive && !resp_.bodyUntilClose() && out_.empty()) {
      cluster.endpoint(ep).giveBack(std::move(up), w_.clock.now(), cluster.counters().idle);
    }
    finish();
    co_return closeClient ? Next::kClose : Next::kKeepAlive;
  }

  // Sends the upstream head (head_) and the first body bytes to endpoint ep of cluster, on a
  // pooled connection if allowed and available, else on a new one where the head rides the
  // connect. On success `up` is the connection and `reused` says which it was.
  Task<std::error_code> openAndSend(upstream::Cluster& cluster, std::size_t ep, bool allowReuse,
                                    io::Socket& up, bool& reused, std::span<const char> body) {
    const config::ClusterConfig& cc = cluster.config();
    upstream::EndpointPool& pool = cluster.endpoint(ep);
    ex_.upstream = pool.address();
    up = allowReuse ? pool.takeIdle(w_.clock.now(), cluster.counters().idle) : io::Socket();
    reused = up.valid();
    std::error_code err;
    std::size_t n = 0;
    io::TransmitElement els[2] = {io::TransmitElement::memory(head_.view()),
                                  io::TransmitElement::memory(body.data(), body.size())};
    if (reused) {
      cluster.counters().reused.add();
      n = 2;
    } else {
      auto c = io::connect(w_.proactor, pool.address(), std::span(head_.data(), head_.size()),
                           cc.connectTimeout);
      err = (co_await c).ec;
      if (err) {
        cluster.counters().connectFailures.add();
        log::warn("upstream {} of cluster {}: connect: {}", pool.address().toString(), cc.name,
                  err.message());
        co_return err;
      }
      up = std::move(c.socket);
      cluster.counters().opened.add();
      n = body.empty() ? 0 : 1;
      els[0] = els[1];
    }
    if (n > 0) {
      err = (co_await io::transmit(w_.proactor, up.native(), std::span(els, n), cc.responseTimeout))
                .ec;
      if (err) {
        log::warn("upstream {}: send: {}", pool.address().toString(), err.message());
        up.close();
      }
    }
    co_return err;
  }

  // Answers with a canned status (the request was not or not fully forwarded).
  Task<Next> reject(int status, bool close) {
    co_await answer(status, close);
    finish();
    co_return close ? Next::kClose : Next::kKeepAlive;
  }

  Task<void> answer(int status, bool close) {
    ex_.status = status;
    std::string_view text = http::cannedResponse(status, close);
    if (co_await sendAll(w_.proactor, client_.native(), text, l_.config->sendTimeout)) {
      ex_.bytesOut += text.size();
    }
  }

  // The exchange broke after the response began: nothing more can be said to the client.
  Next abortWith(int status) {
    ex_.status = status;
    finish();
    return Next::kAbort;
  }

  void finish() {
    l_.routeCounters[routeSlot_].count(ex_.status);
    if (w_.accessLog.enabled()) {
      auto us = std::chrono::duration_cast<std::chrono::microseconds>(w_.clock.now() - start_);
      char up[io::Address::kMaxText];
      std::size_t upLen = ex_.upstream.format(up, sizeof(up));
      w_.accessLog.write("{} \"{} {} HTTP/1.{}\" {} {} {}us route={} upstream={}", clientIp(),
                         line_.m(), line_.t(), line_.minor, ex_.status, ex_.bytesOut, us.count(),
                         ex_.route,
                         upLen == 0 ? std::string_view("-") : std::string_view(up, upLen));
    }
    routeSlot_ = l_.config->routes.size();
  }

  WorkerContext& w_;
  ListenerContext& l_;
  io::Socket client_;
  io::Address peer_;
  char peerHost_[64] = {};
  std::size_t peerLen_ = 0;
  Buffer in_;    // client bytes
  Buffer out_;   // upstream bytes
  Buffer head_;  // the head being sent on (either direction)
  http::Parser req_{http::MessageType::kRequest};
  http::Parser resp_{http::MessageType::kResponse};
  TimePoint start_{};
  Exchange ex_;
  RequestLine line_;
  std::size_t routeSlot_ = 0;
};

}  // namespace

Task<void> serveHttp(WorkerContext& w, ListenerContext& l, io::Socket client, io::Address peer) {
  HttpSession s(w, l, std::move(client), peer);
  co_await s.run();
}

}  // namespace ferry::session
