// The HTTP reverse-proxy session: one client connection, requests one after another.
//
// The life of a request is a sequence of phases (see README.md in this folder), each ending in
// one Outcome (outcome.h): read head -> route -> admission and limits -> upstream exchange (one
// or more attempts; retry safety is upstream::retrySafety's decision) -> finish (the status
// answered for a failed outcome, the access-log line with the cause, the counters).
//
// The upstream exchange is full duplex: the request body (a Pump with the request parser as its
// filter) and the response (head, 1xx, body) move at once, each through one bounded buffer, so a
// backend's early response reaches the client while the upload goes on, and a slow reader on
// either side makes ferry wait, never buffer.
//
// Memory: a connection waiting for its next request holds only Connection (the socket, the
// peer's address, an empty buffer handle) and its pending pooled receive; the parsers, buffers and
// exchange state live in serveRequests()'s frame, which exists only while requests are served and
// goes back to the worker's frame pool when the connection turns idle.
//
// Lifetimes: every coroutine here awaits its pending operations before returning; the two
// directions of an exchange are joined (relay.h, both()) before the exchange ends.

#include <array>
#include <cstdint>
#include <cstring>
#include <optional>

#include "proxy/balance/hash.h"
#include "proxy/http/chunked.h"
#include "proxy/http/proxy_protocol.h"
#include "proxy/http/responses.h"
#include "proxy/http/rewrite.h"
#include "proxy/http/target.h"
#include "proxy/io/awaitables.h"
#include "proxy/session/active.h"
#include "proxy/session/context.h"
#include "proxy/session/downstream.h"
#include "proxy/session/observe.h"
#include "proxy/session/outcome.h"
#include "proxy/session/relay.h"
#include "proxy/upstream/outlier.h"
#include "proxy/upstream/retry.h"

namespace ferry::session {
namespace {

// Tries per request at most (the first and its retries): max_retries is at most 10, plus the one
// retry of a request whose pooled connection turned out stale.
constexpr std::size_t kMaxTries = 16;

// A response body with at least this many bytes left after its head's read goes by splice(2)
// (where the proactor canSplice()), a chunk of at most kSpliceChunk (the pipe's capacity) at a
// time. Below it, the one or two buffered reads cost less than splice's two system calls per
// chunk.
constexpr std::uint64_t kSpliceBodyAbove = 32 * 1024;
constexpr std::uint64_t kSpliceChunk = 64 * 1024;

// A short copy of what the access log needs after the head's bytes are reused.
struct RequestLine {
  char method[16] = {};
  char target[256] = {};
  char userAgent[128] = {};
  char referer[128] = {};
  std::size_t methodLen = 0;
  std::size_t targetLen = 0;
  std::size_t userAgentLen = 0;
  std::size_t refererLen = 0;
  int minor = 1;
  void set(const http::MessageHead& h) {
    methodLen = copy(method, sizeof(method), h.method);
    targetLen = copy(target, sizeof(target), h.target);
    userAgentLen = copy(userAgent, sizeof(userAgent), h.find("user-agent").value_or(""));
    refererLen = copy(referer, sizeof(referer), h.find("referer").value_or(""));
    minor = h.versionMinor;
  }
  static std::size_t copy(char* out, std::size_t cap, std::string_view v) {
    std::size_t n = std::min(v.size(), cap);
    std::memcpy(out, v.data(), n);
    return n;
  }
  std::string_view m() const { return {method, methodLen}; }
  std::string_view t() const { return {target, targetLen}; }
  std::string_view protocol() const {
    return methodLen == 0 ? std::string_view() : minor == 0 ? "HTTP/1.0" : "HTTP/1.1";
  }
};

// The key ring_hash and maglev place a request by (hash_on); a random one when it is absent.
std::uint64_t hashKeyOf(const config::HashOn& on, const http::MessageHead& h,
                        const io::Address& peer, std::string_view path,
                        http::RequestIdGenerator& random) {
  std::optional<std::string_view> v;
  switch (on.kind) {
    case config::HashOn::Kind::kNone:
      return 0;
    case config::HashOn::Kind::kSourceIp: {
      char host[64];
      std::size_t n = peer.formatHost(host, sizeof(host));
      return balance::hashString(std::string_view(host, n));
    }
    case config::HashOn::Kind::kPath:
      return balance::hashString(path);
    case config::HashOn::Kind::kHeader:
      v = h.find(on.name);
      break;
    case config::HashOn::Kind::kCookie:
      if (auto c = h.find("cookie")) v = balance::cookieValue(*c, on.name);
      break;
  }
  if (v && !v->empty()) return balance::hashString(*v);
  return random.nextU64();
}

// What happens to the client connection after an exchange.
enum class Next {
  kKeepAlive,  // read the next request
  kClose,      // close gracefully (the answer was complete), lingering for the client's bytes
  kCloseNow,   // close at once: the client asked to and sent its whole request, nothing is unread
  kAbort,      // cut the connection (a response broke off; the client must see it truncated)
};

// What the access log says of one exchange.
struct Record {
  int status = 0;
  Cause cause = Cause::kOk;
  std::uint64_t bytesIn = 0;
  std::uint64_t bytesOut = 0;
  std::uint64_t headBytesOut = 0;  // of bytesOut, the response heads' (1xx included)
  std::string_view route = "-";
  std::string_view cluster;
  io::Address upstream;
  Duration upstreamTime{-1};  // in upstream attempts, all of them; negative: none
  int retries = 0;
  bool reused = false;
  char requestId[http::RequestIdGenerator::kMaxBytes] = {};
  std::size_t requestIdLen = 0;
  std::string_view id() const {
    return requestIdLen == 0 ? "-" : std::string_view(requestId, requestIdLen);
  }
  void setId(std::string_view v) {
    requestIdLen = std::min(v.size(), sizeof(requestId));
    std::memcpy(requestId, v.data(), requestIdLen);
  }
};

// The head of a complete message ferry wrote (up to and with its empty line).
std::size_t headPart(std::string_view message) {
  std::size_t end = message.find("\r\n\r\n");
  return end == std::string_view::npos ? message.size() : end + 4;
}

// The methods ferry answers an OPTIONS with Max-Forwards: 0 for.
constexpr std::string_view kAllowedMethods = "GET, HEAD, POST, PUT, DELETE, OPTIONS, PATCH";

http::Parser::Limits requestLimits(const config::ListenerConfig& cfg) {
  http::Parser::Limits l;
  l.maxHeadBytes = cfg.maxRequestHeaderBytes;
  l.maxHeaders = std::min<std::size_t>(cfg.maxRequestHeaders, http::kMaxHeaders);
  l.maxTargetBytes = cfg.maxRequestTargetBytes;
  return l;
}

// The client side of one connection: what an idle keep-alive connection holds. Registered with
// the worker for as long as it lives, so drain can reach it.
struct Connection : SessionRegistry::Entry {
  Connection(WorkerContext& wc, ListenerContext& lc, io::Socket s, io::Address a)
      : w(wc), l(lc), client(std::move(s)), peer(a) {
    peerLen = peer.formatHost(peerHost, sizeof(peerHost));
    w.sessions.add(*this);
  }
  ~Connection() { w.sessions.remove(*this); }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  WorkerContext& w;
  ListenerRef l;  // the listener's context; moves to a reload's newer one between requests
  io::Socket client;
  io::Address peer;
  Buffer in;  // client bytes; released while idle
  char peerHost[48] = {};
  std::size_t peerLen = 0;
  std::string_view clientIp() const { return {peerHost, peerLen}; }
};

// The request side of the full-duplex exchange: the request parser decides where the body ends;
// the bytes after it (a pipelined request) stay in the client buffer.
class RequestBodyFilter final : public Pump::Filter {
 public:
  // limit: the most payload bytes the whole body may carry (chunk framing not counted); more is
  // too large.
  RequestBodyFilter(http::Parser& p, std::uint64_t limit) : parser_(p), limit_(limit) {}
  Pump::Step onBytes(const char* data, std::size_t n) override {
    http::Parser::Step st = parser_.feed(data, n);
    if (st.status == http::Parser::Status::kError) return {0, false, true, false};
    if (parser_.bodyBytes() > limit_) return {0, false, false, true};
    return {st.consumed, parser_.messageComplete(), false, false};
  }
  Pump::Step onEof() override { return {0, false, !parser_.messageComplete(), false}; }

 private:
  http::Parser& parser_;
  std::uint64_t limit_;
};

// Requests on one connection while it is busy; see the file comment for why this is apart
// from Connection.
class Exchanges {
 public:
  explicit Exchanges(Connection& c)
      : c_(c), w_(c.w), l_(*c.l), req_(http::MessageType::kRequest, requestLimits(*c.l->config)) {
    routeSlot_ = l_.config->routes.size();
  }

  // Serves requests until the connection is idle (kKeepAlive with no bytes waiting) or ends.
  Task<Next> serve() {
    for (;;) {
      Next n = co_await one();
      if (n != Next::kKeepAlive || c_.in.empty() || w_.sessions.draining()) {
        out_.release();
        head_.release();
        co_return n;
      }
    }
  }

 private:
  // Phase 1: the request head.
  Task<Next> one() {
    const config::ListenerConfig& cfg = *l_.config;
    req_.reset();
    clientHttp10_ = false;
    rec_ = Record{};
    line_ = RequestLine{};
    headRead_ = false;
    HeadLimits limits{cfg.idleTimeout, cfg.requestHeaderTimeout, cfg.maxRequestHeaderBytes};
    HeadOutcome o =
        co_await readHead(w_.proactor, c_.client.native(), c_.in, req_, limits, w_.clock);
    start_ = w_.clock.now();
    switch (o) {
      case HeadOutcome::kReady:
        l_.counters->activeRequests.add();
        headRead_ = true;
        co_return co_await proxy();
      case HeadOutcome::kTimeout:
        co_return co_await finish(Outcome{Cause::kRequestHeaderTimeout}, Next::kClose);
      case HeadOutcome::kInvalid: {
        int s = req_.error().empty() ? 431 : req_.errorStatus();
        log::debug("client {}: {} ({})", c_.peer.toString(), s, req_.error());
        Cause cause = s == 431   ? Cause::kHeadersTooLarge
                      : s == 414 ? Cause::kTargetTooLong
                      : s == 501 ? Cause::kNotImplemented
                      : s == 505 ? Cause::kVersionNotSupported
                                 : Cause::kBadRequest;
        co_return co_await finish(Outcome{cause}, Next::kClose);
      }
      case HeadOutcome::kClosed:
      case HeadOutcome::kIoError:
        break;
    }
    co_return Next::kClose;
  }

  // Phases 2 and 3: route, admission and limits; then the upstream exchange.
  Task<Next> proxy() {
    const http::MessageHead& h = req_.head();
    const config::ListenerConfig& cfg = *l_.config;
    line_.set(h);
    rec_.bytesIn = h.headBytes;
    if (h.method == "CONNECT") {
      co_return co_await finish(Outcome{Cause::kNotImplemented}, Next::kClose);
    }
    http::TargetParse tp = http::parseRequestTarget(h.method, h.target);
    if (!tp.ok) {
      log::debug("client {}: bad request target: {}", c_.peer.toString(), tp.error);
      co_return co_await finish(Outcome{Cause::kBadRequest}, Next::kClose);
    }
    // An absolute-form target's authority replaces Host, for routing and for the backend.
    const route::RequestView view = route::viewOf(h);
    const route::Route* route = l_.routes->match(view);
    bool bodiless = !h.expectsBody && h.keepAlive;
    if (route == nullptr) {
      routeSlot_ = l_.config->routes.size();
      if (bodiless) c_.in.consume(h.headBytes);  // the next request follows
      co_return co_await finish(Outcome{Cause::kNoRoute},
                                bodiless ? Next::kKeepAlive : Next::kClose);
    }
    routeSlot_ = static_cast<std::size_t>(route - l_.routes->routes().data());
    rec_.route = route->name;
    const RoutePolicy& rp = l_.routePolicies[routeSlot_];
    if (h.method == "TRACE" && !rp.allowTrace) {
      co_return co_await finish(Outcome{Cause::kMethodNotAllowed}, Next::kClose);
    }
    if (!head_) head_ = w_.buffers.acquire();
    head_.clear();
    if (route->action != route::Route::Action::kCluster) {
      co_return co_await answerFromRoute(h, *route, bodiless);
    }
    if (http::answersMaxForwards(h)) {
      // Max-Forwards: 0 on OPTIONS or TRACE: this hop is the last, ferry answers.
      co_return co_await answerLocally(h, bodiless);
    }
    if (cfg.maxRequestBodyBytes != 0 && h.contentLength &&
        *h.contentLength > cfg.maxRequestBodyBytes) {
      co_return co_await finish(Outcome{Cause::kBodyTooLarge}, Next::kClose);
    }
    tunnel_ = h.upgrade && h.find("upgrade").has_value();
    http::UpstreamRequestOptions uo;
    uo.clientAddress = c_.clientIp();
    uo.via = l_.policy.via;
    uo.clientTrusted = l_.policy.trusts(c_.peer);
    uo.xForwardedFor = l_.policy.xForwardedFor;
    uo.xForwardedProto = l_.policy.xForwardedProto;
    uo.xForwardedHost = l_.policy.xForwardedHost;
    uo.forwarded = l_.policy.forwarded;
    uo.rules = rp.requestHeaders;
    uo.host = rp.hostRewrite;
    uo.target = &tp.target;
    uo.tunnel = tunnel_;
    if (!h.find("host")) {
      // HTTP/1.0 without Host: the backend gets the address the client connected to.
      io::Address local = c_.client.localAddress();
      uo.fallbackHost = std::string_view(localHost_, local.format(localHost_, sizeof(localHost_)));
    }
    if (l_.policy.requestId) {
      std::string_view generated = w_.requestIds.next();
      uo.requestId = generated;
      rec_.setId(http::effectiveRequestId(h, uo.clientTrusted, generated));
    }
    responseRules_ = rp.responseHeaders;
    http::HeadWriter hw(head_.writable());
    if (!http::writeUpstreamRequest(h, uo, hw)) {
      co_return co_await finish(Outcome{Cause::kHeadersTooLarge}, Next::kClose);
    }
    head_.commit(hw.size());
    clientKeepAlive_ = h.keepAlive;
    clientHttp10_ = h.isHttp10();
    expectContinue_ = h.find("expect").has_value() && h.expectsBody;
    headRequest_ = http::iequals(h.method, "HEAD");
    idempotent_ = upstream::isIdempotent(h.method);

    // The body bytes that arrived with the head.
    c_.in.consume(h.headBytes);
    http::Parser::Step st = req_.feed(c_.in.data(), c_.in.size());
    if (st.status == http::Parser::Status::kError) {
      co_return co_await finish(Outcome{Cause::kBadRequest}, Next::kClose);
    }
    firstBody_ = st.consumed;
    if (cfg.maxRequestBodyBytes != 0 && req_.bodyBytes() > cfg.maxRequestBodyBytes) {
      co_return co_await finish(Outcome{Cause::kBodyTooLarge}, Next::kClose);
    }
    if (expectContinue_ && !req_.messageComplete()) {
      // ferry answers 100 Continue itself (the Expect header is not forwarded).
      if (!co_await sendAll(w_.proactor, c_.client.native(), "HTTP/1.1 100 Continue\r\n\r\n",
                            cfg.sendTimeout)) {
        co_return co_await finish(Outcome{Cause::kClientClosed}, Next::kAbort);
      }
    }
    // While the whole request is in memory it can be sent again: its body stays in the client
    // buffer until an attempt succeeds.
    replayable_ = req_.messageComplete();

    // A weighted split (blue-green, canary) picks its cluster per request.
    upstream::Cluster& cluster = l_.clusters[route::pickCluster(*route, w_.requestIds.nextU64())];
    hash_ = hashKeyOf(cluster.config().balance.hashOn, h, c_.peer, view.path, w_.requestIds);
    triedCount_ = 0;
    Duration routeTimeout = route->config != nullptr ? route->config->timeout : Duration::zero();
    deadline_ = routeTimeout > Duration::zero() ? start_ + routeTimeout : TimePoint::max();
    // The retry policy: the route's own, else its cluster's (upstream/retry.h).
    policy_ = route->config != nullptr && route->config->retry
                  ? upstream::RetryPolicy::from(*route->config->retry)
                  : cluster.retryPolicy();
    cluster_ = &cluster;
    retriesDone_ = 0;
    bool staleRetryUsed = false;
    cluster.retryBudget().onRequest(w_.clock.now());
    Outcome out;
    for (;;) {
      upstream::AttemptFacts facts;
      facts.idempotent = idempotent_;
      statusRetry_ = false;
      out = co_await exchange(cluster, triedCount_ > 0, facts);
      reportAttempt(cluster, out);
      upstream::RetryReason why = statusReason_;
      bool stale = false;
      if (!statusRetry_) {
        // A failed attempt: retried if the one retry decision allows it. (A 5xx answer was
        // decided on in responseFlow, before anything of it reached the client.)
        std::optional<upstream::RetryReason> r = retryReasonOf(out.cause);
        if (!upstreamFailed_ || !r || triedCount_ >= kMaxTries) break;
        why = *r;
        // A pooled connection found closed before any byte of the request was written is
        // retried at once without spending max_retries; once bytes were written the backend
        // may have seen the request, so the retry is an ordinary one.
        stale = rec_.reused && !staleRetryUsed && why == upstream::RetryReason::kReset &&
                facts.stage == upstream::AttemptFacts::Stage::kUnwritten;
        upstream::RetryVerdict v = upstream::decideRetry(
            policy_, facts, why, retriesDone_, cluster.retryBudget(), w_.clock.now(), stale);
        if (v == upstream::RetryVerdict::kBudget) countBudgetRefusal(cluster, why);
        if (v != upstream::RetryVerdict::kRetry) break;
      }
      ++rec_.retries;
      cluster.counters().retries[static_cast<std::size_t>(why)].add();
      log::debug("upstream {}: {}; retrying ({})", rec_.upstream.toString(), causeName(out.cause),
                 upstream::retryReasonName(why));
      if (stale) {
        staleRetryUsed = true;  // at once, on a new connection; not counted against max_retries
        continue;
      }
      ++retriesDone_;
      Duration wait = policy_.backoff(retriesDone_, cluster.rng());
      if (deadline_ != TimePoint::max()) wait = std::min(wait, deadline_ - w_.clock.now());
      if (wait > Duration::zero()) co_await io::sleepFor(w_.proactor, wait);
    }
    Next next = Next::kKeepAlive;
    if (!out.ok()) {
      next = out.responseBegun ? Next::kAbort : Next::kClose;
    } else if (closeSaid_ || !requestEnded_) {
      // A client that said close and whose request was read to its end sends nothing more: no
      // lingering (no shutdown, no read for its FIN: one wake-up less per connection). Bytes
      // left in its buffer (pipelined after the close) still get the lingering close.
      next = !clientKeepAlive_ && requestEnded_ && c_.in.empty() ? Next::kCloseNow : Next::kClose;
    }
    co_return co_await finish(out, next);
  }

  // This worker's metric cells of endpoint ep of cluster c, if the runtime set them up.
  static metrics::EndpointCounters* endpointCells(upstream::Cluster& c, std::size_t ep) {
    return c.endpointCells(ep);
  }

  // A timeout bounded by the route's whole-exchange deadline (route `timeout`) and the try's
  // per_try_timeout, if they are set.
  Duration capped(Duration t) const {
    TimePoint end = std::min(deadline_, attemptDeadline_);
    if (end == TimePoint::max()) return t;
    Duration left = std::max<Duration>(end - w_.clock.now(), milliseconds(1));
    return t == Duration::zero() ? left : std::min(t, left);
  }

  // Tells outlier detection how the last try went: a 5xx, a failed connection (not a pooled one
  // the backend closed while idle: that is no sign of trouble), or a success.
  void reportAttempt(upstream::Cluster& cluster, const Outcome& out) {
    if (triedCount_ == 0) return;
    std::size_t ep = tried_[triedCount_ - 1];
    recordEndpointAttempt(endpointCells(cluster, ep), attemptStatus_, out.cause, rec_.reused);
    using R = upstream::OutlierDetector::Result;
    if (attemptStatus_ >= 500) {
      cluster.report(ep, R::kServerError);
    } else if (attemptStatus_ > 0) {
      cluster.report(ep, R::kSuccess);
    } else if (out.cause == Cause::kUpstreamConnectRefused ||
               out.cause == Cause::kUpstreamConnectTimeout ||
               out.cause == Cause::kUpstreamConnectFailed ||
               (!rec_.reused && (out.cause == Cause::kUpstreamSendFailed ||
                                 out.cause == Cause::kUpstreamResetBeforeResponse))) {
      cluster.report(ep, R::kConnectFailure);
    }
  }

  void countBudgetRefusal(upstream::Cluster& cluster, upstream::RetryReason why) {
    cluster.counters().retryBudgetRefused[static_cast<std::size_t>(why)].add();
    log::debug("cluster {}: retry budget refused a retry ({})", cluster.config().name,
               upstream::retryReasonName(why));
  }

  // A 5xx response head, before anything of it reached the client: true (and statusRetry_ set)
  // when the retry policy retries it; the caller then drops the response.
  bool retryOnStatus(int status) {
    std::optional<upstream::RetryReason> why = upstream::reasonForStatus(status);
    if (!why || cluster_ == nullptr || triedCount_ >= kMaxTries) return false;
    upstream::AttemptFacts f;
    f.stage = upstream::AttemptFacts::Stage::kWritten;
    f.idempotent = idempotent_;
    f.responseForwarded = forwarded_;
    f.replayable = replayable_;
    upstream::RetryVerdict v = upstream::decideRetry(policy_, f, *why, retriesDone_,
                                                     cluster_->retryBudget(), w_.clock.now());
    if (v == upstream::RetryVerdict::kBudget) countBudgetRefusal(*cluster_, *why);
    if (v != upstream::RetryVerdict::kRetry) return false;
    statusRetry_ = true;
    statusReason_ = *why;
    return true;
  }
  bool pastDeadline() const { return w_.clock.now() >= deadline_; }

  // A route that answers by itself: direct_response {status, body} or redirect {to, status}.
  Task<Next> answerFromRoute(const http::MessageHead& h, const route::Route& r, bool keep) {
    Next next = keep && !w_.sessions.draining() ? Next::kKeepAlive : Next::kClose;
    const config::RouteConfig& rc = *r.config;
    bool redirect = r.action == route::Route::Action::kRedirect;
    int status = redirect ? rc.redirect->status : rc.directResponse->status;
    std::string_view body =
        redirect ? std::string_view() : std::string_view(rc.directResponse->body);
    http::HeadWriter hw(head_.writable());
    hw.put("HTTP/1.1 ").putNumber(static_cast<std::uint64_t>(status)).put(" ");
    hw.put(http::reasonPhrase(status)).put("\r\n");
    if (redirect) hw.put("Location: ").put(rc.redirect->to).put("\r\n");
    if (!body.empty()) hw.put("Content-Type: text/plain; charset=utf-8\r\n");
    hw.put("Content-Length: ").putNumber(body.size()).put("\r\n");
    if (next == Next::kClose) {
      hw.put("Connection: close\r\n");
    } else if (h.isHttp10()) {
      hw.put("Connection: keep-alive\r\n");
    }
    hw.put("\r\n");
    if (!hw.ok()) co_return co_await finish(Outcome{Cause::kHeadersTooLarge}, Next::kClose);
    head_.commit(hw.size());
    if (next == Next::kKeepAlive) c_.in.consume(h.headBytes);
    rec_.status = status;
    rec_.headBytesOut += head_.size();
    io::TransmitElement els[2] = {io::TransmitElement::memory(head_.view()),
                                  io::TransmitElement::memory(body)};
    std::size_t n = http::iequals(h.method, "HEAD") || body.empty() ? 1 : 2;
    io::IoResult res = co_await io::transmit(w_.proactor, c_.client.native(), std::span(els, n),
                                             l_.config->sendTimeout);
    if (!res.ok()) co_return co_await finish(Outcome{Cause::kClientClosed, true}, Next::kAbort);
    rec_.bytesOut += res.bytes;
    co_return co_await finish(Outcome{Cause::kLocalResponse, true}, next);
  }

  // OPTIONS or TRACE with Max-Forwards: 0: ferry is the last hop and answers itself.
  Task<Next> answerLocally(const http::MessageHead& h, bool keep) {
    Next next = keep && !w_.sessions.draining() ? Next::kKeepAlive : Next::kClose;
    http::ConnectionHeader conn =
        next == Next::kKeepAlive
            ? (h.isHttp10() ? http::ConnectionHeader::kKeepAlive : http::ConnectionHeader::kNone)
            : http::ConnectionHeader::kClose;
    http::HeadWriter hw(head_.writable());
    bool ok = h.method == "TRACE" ? http::writeTraceAnswer(h, conn, hw)
                                  : http::writeOptionsAnswer(kAllowedMethods, conn, hw);
    if (!ok) co_return co_await finish(Outcome{Cause::kHeadersTooLarge}, Next::kClose);
    head_.commit(hw.size());
    if (next == Next::kKeepAlive) c_.in.consume(h.headBytes);
    rec_.status = 200;
    if (!co_await sendAll(w_.proactor, c_.client.native(), head_.view(), l_.config->sendTimeout)) {
      co_return co_await finish(Outcome{Cause::kClientClosed, true}, Next::kAbort);
    }
    rec_.bytesOut += head_.size();
    rec_.headBytesOut += headPart(head_.view());
    co_return co_await finish(Outcome{Cause::kLocalResponse, true}, next);
  }

  // The response head for the client (Via, header rules, HTTP/1.0 clients); empty plan.ok when
  // it does not fit.
  http::ResponsePlan writeClientHead(const http::MessageHead& rh, bool closeAfter) {
    head_.clear();
    http::DownstreamResponseOptions o;
    o.via = l_.policy.via;
    o.rules = responseRules_;
    o.closeAfter = closeAfter;
    o.clientHttp10 = clientHttp10_;
    o.clientKeepAlive = clientKeepAlive_;
    http::HeadWriter hw(head_.writable());
    http::ResponsePlan plan = http::writeDownstreamResponse(rh, o, hw);
    if (plan.ok) head_.commit(hw.size());
    return plan;
  }

  // Bytes of the response body as the client gets them: verbatim, or (an HTTP/1.0 client and a
  // chunked body) only the payload, decoded in place.
  std::size_t clientBodyBytes(char* data, std::size_t n) {
    if (!dechunk_) return n;
    http::ChunkedDecoder::InPlace r = dechunker_.decodeInPlace(data, n);
    return r.payloadBytes;
  }

  // Phase 4: one attempt at the upstream exchange, measured (observe.h) and recorded once.
  Task<Outcome> exchange(upstream::Cluster& cluster, bool fresh, upstream::AttemptFacts& facts) {
    AttemptMeter meter{w_.clock.now()};
    meter_ = &meter;
    Outcome out = co_await attempt(cluster, fresh, facts);
    meter_ = nullptr;
    Duration d = meter.record(*l_.counters, cluster.counters(), out.cause, w_.clock.now());
    rec_.upstreamTime = std::max(rec_.upstreamTime, Duration::zero()) + d;
    rec_.cluster = cluster.config().name;
    co_return out;
  }

  // One attempt. upstreamFailed_ says whether a failure was the backend's (so a retry may help)
  // rather than the client's.
  Task<Outcome> attempt(upstream::Cluster& cluster, bool fresh, upstream::AttemptFacts& facts) {
    const config::ClusterConfig& cc = cluster.config();
    const config::ListenerConfig& cfg = *l_.config;
    upstreamFailed_ = false;  // a refusal by admission is not the backend's failure
    requestEnded_ = false;
    attemptStatus_ = 0;
    attemptDeadline_ = policy_.perTryTimeout > Duration::zero()
                           ? w_.clock.now() + policy_.perTryTimeout
                           : TimePoint::max();
    upstream::Admission admission(cluster);
    if (!admission.admitted()) co_return Outcome{Cause::kOverloaded};
    std::size_t ep = cluster.pick(hash_, std::span(tried_.data(), triedCount_));
    if (triedCount_ < tried_.size()) tried_[triedCount_++] = ep;
    // The endpoint's addresses as this worker last took them: one for an IP literal, a DNS
    // name's answer, or none for a name not resolved yet: 503 at once (nothing to wait for),
    // retried elsewhere as a connect failure would be, but not reported to outlier detection
    // (reportAttempt skips the cause): no backend was tried, and ejecting a name that has no
    // address changes nothing; it serves as soon as it resolves.
    if (const upstream::AddressList* addrs = cluster.addresses(ep).get()) {
      rec_.upstream = addrs->addresses.front();
    } else {
      rec_.upstream = io::Address();
      upstreamFailed_ = true;  // another endpoint may take it (retry_on connect-failure)
      facts.stage = upstream::AttemptFacts::Stage::kConnect;
      facts.replayable = true;  // nothing of the request was let go of
      FERRY_WARN_LIMITED("upstream {} of cluster {}: not resolved (DNS) yet",
                         cluster.endpointName(ep), cc.name);
      co_return Outcome{Cause::kUpstreamUnresolved};
    }
    // The endpoint's pooled connection, a slot for a new one, or a wait in its queue. A pooled
    // connection is always looked at first (one MSG_PEEK): bytes a backend sent after its last
    // response (a 204 or HEAD answer followed by a body) would otherwise answer this request.
    // An idle watch cannot replace the look: whether its read completed is only known by asking
    // the kernel (io_uring posts completions when the worker enters it), which costs the same.
    const bool verify = true;
    upstream::Lease lease;
    upstream::Cluster::Acquire got =
        co_await cluster.acquire(w_.proactor, ep, fresh, verify, lease);
    if (got != upstream::Cluster::Acquire::kReady) {
      co_return Outcome{got == upstream::Cluster::Acquire::kOverloaded ? Cause::kOverloaded
                                                                       : Cause::kQueueTimeout};
    }
    upstreamFailed_ = true;
    std::span<const char> body(c_.in.data(), firstBody_);
    metrics::EndpointCounters* cells = endpointCells(cluster, ep);
    io::Socket& up = lease.socket();
    rec_.reused = lease.reused();
    if (cells != nullptr) cells->idle.set(cluster.endpoint(ep).idleCount());
    if (up) meter_->holding = w_.clock.now();
    facts.stage = upstream::AttemptFacts::Stage::kConnect;
    facts.replayable = true;  // nothing of the body has been let go of yet
    if (up) {
      cluster.counters().reused.add();
      io::TransmitElement els[2] = {io::TransmitElement::memory(head_.view()),
                                    io::TransmitElement::memory(body.data(), body.size())};
      io::IoResult r =
          co_await io::transmit(w_.proactor, up.native(), std::span(els, 2), cc.responseTimeout);
      if (!r.ok()) {
        facts.stage = r.bytes == 0 ? upstream::AttemptFacts::Stage::kUnwritten
                                   : upstream::AttemptFacts::Stage::kWritten;
        FERRY_WARN_LIMITED("upstream {}: send: {}", rec_.upstream.toString(), r.ec.message());
        co_return Outcome{Cause::kUpstreamSendFailed};
      }
    } else {
      // The request head rides the connect; with proxy_protocol the PROXY header does, and the
      // head follows it.
      char proxyHdr[http::kProxyV1MaxBytes + 64];
      std::size_t proxyLen = encodeProxyHeader(cc, c_.client, c_.peer, proxyHdr, sizeof(proxyHdr));
      std::span<const char> first = proxyLen > 0
                                        ? std::span<const char>(proxyHdr, proxyLen)
                                        : std::span<const char>(head_.data(), head_.size());
      meter_->connectStart = w_.clock.now();
      std::error_code err;
      bool firstSent = true;
      const upstream::AddressList& addrs = *cluster.addresses(ep);
      if (addrs.addresses.size() == 1) {
        // One address (an IP literal): the first bytes ride the handshake.
        auto c = io::connect(w_.proactor, addrs.addresses[0], first, capped(cc.connectTimeout));
        err = (co_await c).ec;
        if (!err) up = std::move(c.socket);
      } else {
        // A name's several addresses: connect_by_list within connect_timeout, then send.
        upstream::Connected c = co_await upstream::connectTo(w_.proactor, cluster.addresses(ep),
                                                             first, capped(cc.connectTimeout));
        err = c.ec;
        firstSent = c.firstSent;
        if (!err) {
          up = std::move(c.socket);
          rec_.upstream = c.remote;
        }
      }
      if (err) {
        cluster.counters().connectFailures.add();
        FERRY_WARN_LIMITED("upstream {} of cluster {}: connect: {}", rec_.upstream.toString(),
                           cc.name, err.message());
        co_return Outcome{err == std::errc::timed_out && pastDeadline() ? Cause::kRequestTimeout
                                                                        : connectCause(err)};
      }
      cluster.counters().opened.add();
      meter_->holding = w_.clock.now();
      meter_->fresh = true;
      if (firstSent) facts.stage = upstream::AttemptFacts::Stage::kWritten;
      // What the handshake did not carry: the PROXY header (if it did not ride it), the head,
      // the body's first bytes.
      io::TransmitElement els[3] = {io::TransmitElement::memory(proxyHdr, proxyLen),
                                    io::TransmitElement::memory(head_.view()),
                                    io::TransmitElement::memory(body.data(), body.size())};
      std::span<const io::TransmitElement> rest(els + (proxyLen > 0 ? 0 : 1),
                                                els + 3);  // nothing rode the handshake
      if (firstSent) rest = rest.subspan(1);
      if (rest.back().length > 0 || rest.size() >= 2) {
        io::IoResult r = co_await io::transmit(w_.proactor, up.native(), rest, cc.responseTimeout);
        if (!r.ok()) {
          facts.stage = !firstSent && r.bytes == 0 ? upstream::AttemptFacts::Stage::kUnwritten
                                                   : upstream::AttemptFacts::Stage::kWritten;
          FERRY_WARN_LIMITED("upstream {}: send: {}", rec_.upstream.toString(), r.ec.message());
          co_return Outcome{Cause::kUpstreamSendFailed};
        }
      }
    }
    facts.stage = upstream::AttemptFacts::Stage::kWritten;
    ActiveGuard active(cluster, ep);
    meter_->sent = w_.clock.now();
    if (!replayable_) c_.in.consume(firstBody_);
    facts.replayable = replayable_;
    rec_.bytesIn += firstBody_;

    // Both directions at once: the rest of the request body, and the response.
    respBegun_ = false;
    respComplete_ = false;
    closeSaid_ = false;
    upgraded_ = false;
    forwarded_ = false;
    respCause_ = Cause::kOk;
    respSlot_ = CancelSlot{};
    spliced_ = false;
    RequestBodyFilter filter(req_,
                             cfg.maxRequestBodyBytes == 0 ? UINT64_MAX : cfg.maxRequestBodyBytes);
    Duration bodyTimeout = l_.policy.requestBodyTimeout;
    Pump request(
        w_.proactor, c_.in,
        Pump::Ends{c_.client.native(), up.native(), bodyTimeout, cc.responseTimeout, false},
        &filter);
    Pump::End reqEnd = Pump::End::kEnded;
    reqRunning_ = !req_.messageComplete();
    reqBodyEnd_ = w_.clock.now();
    if (req_.messageComplete()) {
      co_await response(up.native(), cc, nullptr);
    } else {
      co_await both(requestSide(request, reqEnd), response(up.native(), cc, &request));
    }
    rec_.bytesIn += request.bytesRead();
    meter_->bytesSent += head_.size() + firstBody_ + request.bytesRead();
    requestEnded_ = reqEnd == Pump::End::kEnded;
    // Once a response began the request cannot be sent again: its held body is done with (and
    // must not reach a tunnel as if the client had sent it again).
    if (replayable_ && (respComplete_ || respBegun_)) c_.in.consume(firstBody_);
    if (upgraded_ && requestEnded_) {
      // Bytes either side sent after its head (already in the buffers) go through first.
      TunnelResult t =
          co_await tunnel(w_.proactor, w_.clock, c_.client.native(), c_.in, up.native(), out_,
                          l_.policy.tunnelIdleTimeout, cfg.sendTimeout);
      rec_.bytesIn += t.xToY;
      rec_.bytesOut += t.yToX;
      meter_->bytesSent += t.xToY;
      meter_->bytesReceived += t.yToX;
      upstreamFailed_ = false;
      closeSaid_ = true;
      co_return Outcome{Cause::kOk, true};
    }
    facts.responseForwarded = forwarded_ || respBegun_;

    Outcome out{respCause_, respBegun_};
    if (!requestEnded_ && !respComplete_) {
      // The request side failed first, or the response side gave up because of it: the client's
      // cause wins when it was the client that failed.
      Cause clientCause = Cause::kOk;
      switch (reqEnd) {
        case Pump::End::kBad:
          clientCause = Cause::kBadRequest;
          break;
        case Pump::End::kTooLarge:
          clientCause = Cause::kBodyTooLarge;
          break;
        case Pump::End::kReadTimeout:
          clientCause = Cause::kRequestBodyTimeout;
          break;
        case Pump::End::kEof:
        case Pump::End::kReadError:
          clientCause = Cause::kClientClosed;
          break;
        default:
          break;
      }
      if (clientCause != Cause::kOk) {
        upstreamFailed_ = false;
        out.cause = clientCause;
      }
    } else if (respComplete_) {
      upstreamFailed_ = false;
    }
    if (respCause_ == Cause::kClientClosed || respCause_ == Cause::kClientSendTimeout) {
      upstreamFailed_ = false;
    }
    // Keep the upstream connection if the exchange ended by its framing on both sides.
    // A spliced body was read to its length exactly: bytes the backend sent past it are still in
    // the socket (a buffered read would have them in out_), so the socket is looked at first.
    if (out.ok() && requestEnded_ && resp_.head().keepAlive && !resp_.bodyUntilClose() &&
        out_.empty() && (!spliced_ || up.idleAndOpen())) {
      std::optional<std::string_view> ka = resp_.head().find("keep-alive");
      lease.giveBack(w_.clock.now(), ka ? upstream::keepAliveTimeout(*ka) : Duration{});
      if (cells != nullptr) cells->idle.set(cluster.endpoint(ep).idleCount());
      meter_->pooled = true;
    }
    co_return out;
  }

  // The request body's direction; a failure there ends the response too, unless the failure is
  // only that the backend stopped reading (it may be answering early).
  Task<void> requestSide(Pump& pump, Pump::End& end) {
    end = co_await pump.run();
    reqRunning_ = false;
    reqBodyEnd_ = w_.clock.now();
    switch (end) {
      case Pump::End::kEnded:
      case Pump::End::kCancelled:
      case Pump::End::kWriteError:
      case Pump::End::kWriteTimeout:
        break;
      default:
        respSlot_.cancel(w_.proactor);
        break;
    }
  }

  // The response's direction: head (1xx passed on), then body. Sets respCause_, respBegun_,
  // respComplete_. When it ends first, it ends the request side (an early response).
  Task<void> response(io::NativeHandle up, const config::ClusterConfig& cc, Pump* request) {
    co_await responseFlow(up, cc);
    if (request != nullptr) request->cancel();
  }

  Task<void> responseFlow(io::NativeHandle up, const config::ClusterConfig& cc) {
    const config::ListenerConfig& cfg = *l_.config;
    if (!out_) out_ = w_.buffers.acquire();
    out_.clear();
    resp_.reset();
    resp_.setNoBody(headRequest_);
    http::Parser::Step st{};
    std::size_t parsed = 0;  // bytes of out_ the head parser has used (a head may take reads)
    for (;;) {
      if (parsed < out_.size()) {
        st = resp_.feed(out_.data() + parsed, out_.size() - parsed);
        parsed += st.consumed;
        if (st.status == http::Parser::Status::kError) {
          FERRY_WARN_LIMITED("upstream {}: bad response: {}", rec_.upstream.toString(),
                             resp_.error());
          respCause_ = Cause::kUpstreamBadResponse;
          co_return;
        }
        if (resp_.headComplete()) {
          int code = resp_.head().status;
          if (code < 100 || code >= 200 || code == 101) break;
          if (!(code == 100 && expectContinue_)) {
            http::ResponsePlan plan = writeClientHead(resp_.head(), false);
            if (plan.ok && !plan.skip) {
              forwarded_ = true;
              rec_.headBytesOut += head_.size();
              if (!co_await sendClient(head_.view(), cfg)) co_return;
            }
          }
          out_.consume(resp_.head().headBytes);
          parsed = 0;
          resp_.reset();
          resp_.setNoBody(headRequest_);
          continue;
        }
        if (out_.writable().empty()) {
          FERRY_WARN_LIMITED("upstream {}: response head too large", rec_.upstream.toString());
          respCause_ = Cause::kUpstreamBadResponse;
          co_return;
        }
      }
      io::IoResult r = co_await recvUpstream(up, capped(headWait(cc)));
      if (r.ok() && r.bytes > 0) {
        out_.commit(r.bytes);
        continue;
      }
      if (r.ec == std::errc::timed_out && headWaitGoesOn(cc)) continue;
      if (r.ec == std::errc::operation_canceled) {
        respCause_ = Cause::kClientClosed;  // the request side failed; its cause is used
        co_return;
      }
      FERRY_WARN_LIMITED("upstream {}: {}", rec_.upstream.toString(),
                         r.ok() ? "closed before responding" : r.ec.message());
      respCause_ = r.ec != std::errc::timed_out ? Cause::kUpstreamResetBeforeResponse
                   : pastDeadline()             ? Cause::kRequestTimeout
                                                : Cause::kUpstreamResponseTimeout;
      co_return;
    }

    // The response head, rewritten, with whatever body bytes came with it.
    const http::MessageHead& rh = resp_.head();
    rec_.status = rh.status;
    attemptStatus_ = rh.status;
    attemptDeadline_ = TimePoint::max();  // per_try_timeout bounds the wait for the head only
    if (rh.status >= 500 && retryOnStatus(rh.status)) {
      respCause_ = Cause::kUpstreamRetriedStatus;  // dropped: nothing of it reached the client
      co_return;
    }
    // A response that starts before the request body ended (an early answer) closes the client
    // connection: the rest of that body will not be read.
    bool closeAfter = !req_.messageComplete() || w_.sessions.draining();
    http::ResponsePlan plan = writeClientHead(rh, closeAfter);
    if (!plan.ok) {
      respCause_ = Cause::kUpstreamBadResponse;
      co_return;
    }
    closeSaid_ = plan.closeAfter || plan.tunnel || resp_.bodyUntilClose() || !clientKeepAlive_;
    dechunk_ = plan.dechunk;
    dechunker_.reset();
    out_.consume(rh.headBytes);
    if (plan.tunnel) {
      // 101 Switching Protocols: the head goes out, then both connections are one tunnel.
      respBegun_ = true;
      rec_.headBytesOut += head_.size();
      if (!co_await sendClient(head_.view(), cfg)) co_return;
      upgraded_ = true;
      respComplete_ = true;
      co_return;
    }
    st = resp_.feed(out_.data(), out_.size());
    if (st.status == http::Parser::Status::kError) {
      respCause_ = Cause::kUpstreamBadResponse;
      co_return;
    }
    respBegun_ = true;
    rec_.headBytesOut += head_.size();
    io::TransmitElement els[2] = {
        io::TransmitElement::memory(head_.view()),
        io::TransmitElement::memory(out_.data(), clientBodyBytes(out_.data(), st.consumed))};
    if (!co_await sendClient(std::span(els, 2), cfg)) co_return;
    out_.consume(st.consumed);

    // The rest of a long Content-Length body goes by splice where the proactor can: the bytes
    // never enter user space (no copy in, no copy out) and no buffer is held meanwhile.
    if (!resp_.messageComplete() && rh.contentLength && !rh.chunked && w_.proactor.canSplice() &&
        *rh.contentLength - resp_.bodyBytes() >= kSpliceBodyAbove) {
      co_await spliceBody(up, cc, *rh.contentLength - resp_.bodyBytes());
      co_return;
    }

    // The rest of the response body.
    while (!resp_.messageComplete()) {
      out_.compact();
      io::IoResult r = co_await recvUpstream(up, cc);
      if (r.ec == std::errc::operation_canceled) {
        respCause_ = Cause::kClientClosed;
        co_return;
      }
      if (!r.ok()) {
        FERRY_WARN_LIMITED("upstream {}: response body: {}", rec_.upstream.toString(),
                           r.ec.message());
        respCause_ = r.ec == std::errc::timed_out ? Cause::kUpstreamTimeoutDuringResponse
                                                  : Cause::kUpstreamResetDuringResponse;
        co_return;
      }
      if (r.bytes == 0) {
        st = resp_.finish();
        if (st.status != http::Parser::Status::kMessageComplete) {
          FERRY_WARN_LIMITED("upstream {}: {}", rec_.upstream.toString(), resp_.error());
          respCause_ = Cause::kUpstreamResetDuringResponse;
          co_return;
        }
        break;
      }
      out_.commit(r.bytes);
      st = resp_.feed(out_.data(), out_.size());
      if (st.status == http::Parser::Status::kError) {
        FERRY_WARN_LIMITED("upstream {}: bad response body: {}", rec_.upstream.toString(),
                           resp_.error());
        respCause_ = Cause::kUpstreamBadResponse;
        co_return;
      }
      io::TransmitElement e =
          io::TransmitElement::memory(out_.data(), clientBodyBytes(out_.data(), st.consumed));
      if (!co_await sendClient(std::span(&e, 1), cfg)) co_return;
      out_.consume(st.consumed);
    }
    respComplete_ = true;
  }

  // The last `left` bytes of a Content-Length body, backend to client by splice(2) through a
  // pipe of the worker's cache, a chunk at a time; not a byte more is read from the backend (its
  // connection may go back to the pool). Sets respComplete_, or respCause_ as responseFlow does.
  Task<void> spliceBody(io::NativeHandle up, const config::ClusterConfig& cc, std::uint64_t left) {
    io::SpliceAwaiter op(w_.proactor);
    op.from = up;
    op.to = c_.client.native();
    op.writeTimeout = l_.config->sendTimeout;
    w_.pipes.lend(op);
    spliced_ = true;
    while (left > 0) {
      if (respSlot_.requested) {
        respCause_ = Cause::kClientClosed;
        break;
      }
      op.maxBytes = static_cast<std::uint32_t>(std::min<std::uint64_t>(left, kSpliceChunk));
      op.readTimeout = capped(cc.responseTimeout);
      respSlot_.op = &op;
      io::IoResult r = co_await op;
      respSlot_.op = nullptr;
      if (r.ok() && r.bytes > 0) {
        left -= r.bytes;
        rec_.bytesOut += r.bytes;
        if (meter_ != nullptr) meter_->firstBytes(w_.clock.now(), r.bytes);
        continue;
      }
      bool timedOut = r.ec == std::errc::timed_out;
      if (r.ec == std::errc::operation_canceled) {
        respCause_ = Cause::kClientClosed;  // the request side failed; its cause is used
      } else if (r.ec && op.failedWriting) {
        respCause_ = timedOut ? Cause::kClientSendTimeout : Cause::kClientClosed;
      } else {
        FERRY_WARN_LIMITED("upstream {}: response body: {}", rec_.upstream.toString(),
                           r.ok() ? "closed before its end" : r.ec.message());
        respCause_ =
            timedOut ? Cause::kUpstreamTimeoutDuringResponse : Cause::kUpstreamResetDuringResponse;
      }
      break;
    }
    w_.pipes.takeBack(op);
    if (left == 0) respComplete_ = true;
  }

  // The wait for the response head: response_timeout from the end of the request body. While
  // the body is still going out the wait goes on (request_body_timeout bounds a stalled upload,
  // response_timeout a backend that stops reading it), so a long upload never gets 504.
  Duration headWait(const config::ClusterConfig& cc) const {
    if (reqRunning_ || cc.responseTimeout == Duration::zero()) return cc.responseTimeout;
    Duration left = reqBodyEnd_ + cc.responseTimeout - w_.clock.now();
    return std::max<Duration>(left, milliseconds(1));
  }
  // After a head wait timed out: whether it goes on (the upload is running, or response_timeout
  // has not passed since it ended; never past the route's or the try's deadline).
  bool headWaitGoesOn(const config::ClusterConfig& cc) const {
    TimePoint now = w_.clock.now();
    if (now >= std::min(deadline_, attemptDeadline_)) return false;
    return reqRunning_ || now < reqBodyEnd_ + cc.responseTimeout;
  }

  // Reads from the backend into out_ on the response's direction, within the response timeout
  // (and the route's deadline); cancellable through respSlot_ (then operation_canceled).
  Task<io::IoResult> recvUpstream(io::NativeHandle up, const config::ClusterConfig& cc) {
    co_return co_await recvUpstream(up, capped(cc.responseTimeout));
  }
  Task<io::IoResult> recvUpstream(io::NativeHandle up, Duration timeout) {
    if (respSlot_.requested) {
      co_return io::IoResult{std::make_error_code(std::errc::operation_canceled), 0};
    }
    auto rd = io::recv(w_.proactor, up, out_.writable(), timeout);
    respSlot_.op = &rd;
    io::IoResult r = co_await rd;
    respSlot_.op = nullptr;
    if (r.ok() && r.bytes > 0 && meter_ != nullptr) meter_->firstBytes(w_.clock.now(), r.bytes);
    co_return r;
  }

  // Sends to the client on the response's direction (cancellable); false (with respCause_ set)
  // when the client is gone or too slow.
  Task<bool> sendClient(std::span<const io::TransmitElement> els,
                        const config::ListenerConfig& cfg) {
    if (respSlot_.requested) {
      respCause_ = Cause::kClientClosed;
      co_return false;
    }
    auto wr = io::transmit(w_.proactor, c_.client.native(), els, cfg.sendTimeout);
    respSlot_.op = &wr;
    io::IoResult r = co_await wr;
    respSlot_.op = nullptr;
    if (!r.ok()) {
      respCause_ = r.ec == std::errc::timed_out ? Cause::kClientSendTimeout : Cause::kClientClosed;
      co_return false;
    }
    rec_.bytesOut += r.bytes;
    co_return true;
  }
  Task<bool> sendClient(std::string_view bytes, const config::ListenerConfig& cfg) {
    io::TransmitElement e = io::TransmitElement::memory(bytes);
    co_return co_await sendClient(std::span(&e, 1), cfg);
  }

  // ferry's own answer for status: 405 names what is allowed (RFC 9110 15.5.6), a 503 says
  // when to come back (retry_after); the others are the static canned texts.
  std::string_view cannedAnswer(int status, http::ConnectionHeader conn) {
    char extra[96];
    http::HeadWriter ew(std::span<char>(extra, sizeof(extra)));
    if (status == 405) {
      ew.put("Allow: ").put(kAllowedMethods).put("\r\n");
    } else if (status == 503 && l_.policy.retryAfter > Duration::zero()) {
      auto secs = std::chrono::ceil<std::chrono::seconds>(l_.policy.retryAfter).count();
      ew.put("Retry-After: ").putNumber(static_cast<std::uint64_t>(secs)).put("\r\n");
    } else {
      return http::cannedResponse(status, conn);
    }
    if (!head_) head_ = w_.buffers.acquire();
    head_.clear();
    http::HeadWriter hw(head_.writable());
    if (!http::writeCannedResponse(status, ew.view(), conn, hw)) {
      return http::cannedResponse(status, conn);
    }
    return hw.view();
  }

  // Phase 5: the answer for a failed outcome (when nothing of a response was sent), one
  // access-log line with the cause, one count by route and status class.
  Task<Next> finish(Outcome o, Next next) {
    rec_.cause = o.cause;
    if (next == Next::kKeepAlive && w_.sessions.draining()) next = Next::kClose;
    if (!o.responseBegun) {
      int status = statusFor(o.cause);
      if (status != 0) {
        rec_.status = status;
        http::ConnectionHeader conn = next != Next::kKeepAlive ? http::ConnectionHeader::kClose
                                      : clientHttp10_          ? http::ConnectionHeader::kKeepAlive
                                                               : http::ConnectionHeader::kNone;
        const io::File* page = l_.policy.errorPage(status);
        if (page != nullptr) {
          // The listener's page for this status: the head, then the file as a file element.
          if (!head_) head_ = w_.buffers.acquire();
          head_.clear();
          http::HeadWriter hw(head_.writable());
          if (http::writeErrorPageHead(status, page->size(), conn, hw)) {
            io::TransmitElement els[2] = {
                io::TransmitElement::memory(hw.view()),
                io::TransmitElement::fileRange(page->native(), 0, page->size())};
            io::IoResult r = co_await io::transmit(w_.proactor, c_.client.native(),
                                                   std::span(els, 2), l_.config->sendTimeout);
            if (r.ok()) rec_.bytesOut += r.bytes;
            rec_.headBytesOut += hw.size();
            status = 0;
          }
        }
        if (status != 0) {
          std::string_view text = cannedAnswer(status, conn);
          if (co_await sendAll(w_.proactor, c_.client.native(), text, l_.config->sendTimeout)) {
            rec_.bytesOut += text.size();
            rec_.headBytesOut += headPart(text);
          }
        }
      }
    }
    Duration took = w_.clock.now() - start_;
    recordRequest(*l_.counters, *l_.routeCounters[routeSlot_], rec_.status, rec_.cause,
                  rec_.bytesIn, rec_.bytesOut, took, headRead_);
    if (headRead_) l_.counters->activeRequests.sub();
    headRead_ = false;
    if (w_.accessLog.enabled()) {
      char up[io::Address::kMaxText];
      log::AccessRecord a;
      a.clientAddress = c_.clientIp();
      a.clientPort = c_.peer.port();
      a.method = line_.m();
      a.target = line_.t();
      a.protocol = line_.protocol();
      a.status = rec_.status;
      a.bytesIn = rec_.bytesIn;
      a.bytesOut = rec_.bytesOut;
      a.bodyBytesOut = static_cast<std::int64_t>(
          rec_.bytesOut > rec_.headBytesOut ? rec_.bytesOut - rec_.headBytesOut : 0);
      a.durationUs = static_cast<std::uint64_t>(
          std::chrono::duration_cast<std::chrono::microseconds>(took).count());
      a.upstream = std::string_view(up, rec_.upstream.format(up, sizeof(up)));
      a.upstreamTimeUs =
          rec_.upstreamTime < Duration::zero()
              ? -1
              : std::chrono::duration_cast<std::chrono::microseconds>(rec_.upstreamTime).count();
      a.cause = causeName(rec_.cause);
      a.retries = rec_.retries;
      a.reused = rec_.reused;
      a.requestId = rec_.requestIdLen == 0 ? std::string_view() : rec_.id();
      a.route = rec_.route == "-" ? std::string_view() : rec_.route;
      a.cluster = rec_.cluster;
      a.listener = l_.config->name;
      a.userAgent = std::string_view(line_.userAgent, line_.userAgentLen);
      a.referer = std::string_view(line_.referer, line_.refererLen);
      w_.accessLog.log(a);
    }
    routeSlot_ = l_.config->routes.size();
    co_return next;
  }

  Connection& c_;
  WorkerContext& w_;
  ListenerContext& l_;
  char localHost_[io::Address::kMaxText] = {};  // Host for a request without one (HTTP/1.0)
  bool reqRunning_ = false;                     // the request body is still going to the backend
  TimePoint reqBodyEnd_{};                      // when it ended: response_timeout runs from there
  Buffer out_;                                  // upstream bytes
  Buffer head_;                                 // the head being sent on (either direction)
  http::Parser req_;
  http::Parser resp_{http::MessageType::kResponse};
  TimePoint start_{};
  Record rec_;
  RequestLine line_;
  AttemptMeter* meter_ = nullptr;  // the upstream attempt in progress, if any
  bool headRead_ = false;          // a request head was read: counted in activeRequests
  std::size_t routeSlot_ = 0;
  std::size_t firstBody_ = 0;
  CancelSlot respSlot_;
  Cause respCause_ = Cause::kOk;
  bool clientKeepAlive_ = true;
  bool expectContinue_ = false;
  bool headRequest_ = false;
  bool idempotent_ = false;
  bool replayable_ = false;
  bool spliced_ = false;  // this attempt's response body went by splice (spliceBody)
  bool upstreamFailed_ = false;
  bool requestEnded_ = false;
  bool respBegun_ = false;
  bool respComplete_ = false;
  bool forwarded_ = false;
  bool closeSaid_ = false;  // the response head told the client the connection closes
  bool clientHttp10_ = false;
  bool tunnel_ = false;    // the request asks for an upgrade (WebSocket): Upgrade is forwarded
  bool upgraded_ = false;  // the backend answered 101: the exchange became a tunnel
  bool dechunk_ = false;   // an HTTP/1.0 client gets the chunked body's payload only
  http::ChunkedDecoder dechunker_;
  std::span<const http::HeaderRule> responseRules_;
  TimePoint deadline_ = TimePoint::max();         // the route's whole-exchange deadline
  TimePoint attemptDeadline_ = TimePoint::max();  // this try's per_try_timeout
  std::uint64_t hash_ = 0;                        // the request's balancing key (hash_on)
  std::array<std::size_t, kMaxTries> tried_{};    // endpoints this request went to
  std::size_t triedCount_ = 0;
  upstream::RetryPolicy policy_;          // the request's retry policy (route's or cluster's)
  upstream::Cluster* cluster_ = nullptr;  // the request's cluster
  std::uint32_t retriesDone_ = 0;         // retries counted against max_retries
  int attemptStatus_ = 0;                 // the try's final response status; 0: none yet
  bool statusRetry_ = false;              // the try's 5xx answer is to be retried
  upstream::RetryReason statusReason_{};  // ...because of this
};

Task<Next> serveRequests(Connection& c) {
  Exchanges ex(c);
  co_return co_await ex.serve();
}

}  // namespace

Task<void> serveHttp(WorkerContext& w, ListenerContext& l, io::Socket client, io::Address peer) {
  Connection c(w, l, std::move(client), peer);
  l.counters->accepted.add();
  l.counters->active.add();
  const config::ListenerConfig& cfg = *l.config;
  if (cfg.acceptProxyProtocol) {
    // A trusted L4 balancer in front sends a PROXY header first: it names the real client.
    if (!co_await readProxyHeader(w, l, c.client, c.in, c.peer)) {
      c.in.release();
      c.client.close();
      l.counters->active.sub();
      co_return;
    }
    c.peerLen = c.peer.formatHost(c.peerHost, sizeof(c.peerHost));
  }
  // A fresh connection gets request_header_timeout for its first bytes, not the keep-alive
  // idle_timeout: a client that connects and sends nothing is not a keep-alive client.
  Duration wait = cfg.requestHeaderTimeout;
  Next next = Next::kKeepAlive;
  while (next == Next::kKeepAlive && !w.sessions.draining()) {
    if (c.in.empty()) {
      // Between requests the connection holds no buffer: the next bytes arrive in one of the
      // proactor's pooled buffers.
      c.in.release();
      if (!co_await awaitClientBytes(w.proactor, c.client.native(), c.in, w.buffers, wait,
                                     &c.idleWait)) {
        next = Next::kClose;
        break;
      }
    }
    c.l.follow();  // a reload's routes apply from the next request on
    wait = c.l->config->idleTimeout;
    next = co_await serveRequests(c);
  }
  if (next == Next::kKeepAlive) next = Next::kClose;  // drained
  if (next == Next::kClose) co_await lingeringClose(w.proactor, std::move(c.client), c.in);
  // A response cut off mid-body: a reset, so the client cannot take what it got for complete
  // (a close-delimited or de-chunked body would otherwise end as if on time).
  if (next == Next::kAbort && c.client) c.client.resetOnClose();
  c.in.release();
  c.client.close();
  c.l->counters->active.sub();  // the same counter in every snapshot (kept by name)
}

}  // namespace ferry::session
