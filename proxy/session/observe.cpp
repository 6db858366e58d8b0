#include "proxy/session/observe.h"

namespace ferry::session {
namespace {

// The rejection a cause counts as, if any.
bool rejectionOf(Cause c, metrics::Rejection& out) {
  using R = metrics::Rejection;
  switch (c) {
    case Cause::kBadRequest:
    case Cause::kVersionNotSupported:  // counted with the malformed heads (505)
      out = R::kBadRequest;
      return true;
    case Cause::kTargetTooLong:
      out = R::kTargetTooLong;
      return true;
    case Cause::kHeadersTooLarge:
      out = R::kHeadersTooLarge;
      return true;
    case Cause::kBodyTooLarge:
      out = R::kBodyTooLarge;
      return true;
    case Cause::kMethodNotAllowed:
      out = R::kMethodNotAllowed;
      return true;
    case Cause::kNotImplemented:
      out = R::kNotImplemented;
      return true;
    case Cause::kNoRoute:
      out = R::kNoRoute;
      return true;
    case Cause::kRequestHeaderTimeout:
    case Cause::kRequestBodyTimeout:
      out = R::kClientTimeout;
      return true;
    default:
      return false;
  }
}

// Timeouts on the client's side (counted once per request) and the backend's (once per attempt,
// so a timed-out attempt that a retry recovered still counts).
bool clientTimeoutOf(Cause c, metrics::Timeout& out) {
  using T = metrics::Timeout;
  switch (c) {
    case Cause::kRequestHeaderTimeout:
      out = T::kRequestHeader;
      return true;
    case Cause::kRequestBodyTimeout:
      out = T::kRequestBody;
      return true;
    case Cause::kRequestTimeout:
      out = T::kRoute;
      return true;
    case Cause::kClientSendTimeout:
      out = T::kClientSend;
      return true;
    default:
      return false;
  }
}

bool upstreamTimeoutOf(Cause c, metrics::Timeout& out) {
  using T = metrics::Timeout;
  switch (c) {
    case Cause::kUpstreamConnectTimeout:
      out = T::kUpstreamConnect;
      return true;
    case Cause::kUpstreamResponseTimeout:
      out = T::kUpstreamResponse;
      return true;
    case Cause::kUpstreamTimeoutDuringResponse:
      out = T::kUpstreamBody;
      return true;
    default:
      return false;
  }
}

}  // namespace

void recordRequest(metrics::ListenerCounters& l, metrics::RouteCounters& r, int status, Cause cause,
                   std::uint64_t bytesIn, std::uint64_t bytesOut, Duration duration,
                   bool headRead) {
  r.count(status);
  if (status == 101) {
    recordTunnel(l, metrics::TunnelKind::kWebSocket, duration);
  } else if (headRead) {
    r.duration.observe(duration);
  }
  l.bytesReceived.add(bytesIn);
  l.bytesSent.add(bytesOut);
  metrics::Rejection rej;
  if (rejectionOf(cause, rej)) l.rejections[static_cast<std::size_t>(rej)].add();
  metrics::Timeout t;
  if (clientTimeoutOf(cause, t)) l.timeouts[static_cast<std::size_t>(t)].add();
}

void recordTunnel(metrics::ListenerCounters& l, metrics::TunnelKind kind, Duration duration) {
  l.tunnelDuration[static_cast<std::size_t>(kind)].observe(duration);
}

std::optional<metrics::EndpointOutcome> endpointOutcomeOf(int status, Cause cause, bool reused) {
  using O = metrics::EndpointOutcome;
  if (status >= 100 && status < 600) return static_cast<O>(status / 100 - 1);
  switch (cause) {
    case Cause::kUpstreamSendFailed:
    case Cause::kUpstreamResetBeforeResponse:
      if (reused) return std::nullopt;
      return O::kError;
    case Cause::kUpstreamConnectRefused:
    case Cause::kUpstreamConnectTimeout:
    case Cause::kUpstreamConnectFailed:
    case Cause::kUpstreamResponseTimeout:
    case Cause::kUpstreamBadResponse:
    case Cause::kUpstreamResetDuringResponse:
    case Cause::kUpstreamTimeoutDuringResponse:
    case Cause::kRequestTimeout:
      return O::kError;
    default:
      return std::nullopt;
  }
}

void recordEndpointAttempt(metrics::EndpointCounters* cells, int status, Cause cause, bool reused) {
  if (cells == nullptr) return;
  if (std::optional<metrics::EndpointOutcome> o = endpointOutcomeOf(status, cause, reused)) {
    cells->responses[static_cast<std::size_t>(*o)].add();
  }
}

Duration AttemptMeter::record(metrics::ListenerCounters& l, metrics::ClusterCounters& c,
                              Cause cause, TimePoint now) const {
  if (holding != TimePoint{}) {
    c.poolWait.observe(holding - start);
    if (fresh) c.connectTime.observe(holding - connectStart);
    if (!pooled) {
      bool ok = cause == Cause::kOk || cause == Cause::kLocalResponse;
      c.closedByReason[static_cast<std::size_t>(ok ? metrics::CloseReason::kNotReusable
                                                   : metrics::CloseReason::kError)]
          .add();
    }
  }
  if (sent != TimePoint{} && firstByte != TimePoint{}) {
    c.firstByteTime.observe(firstByte >= sent ? firstByte - sent : Duration::zero());
  }
  c.upstreamBytesSent.add(bytesSent);
  c.upstreamBytesReceived.add(bytesReceived);
  metrics::Timeout t;
  if (upstreamTimeoutOf(cause, t)) l.timeouts[static_cast<std::size_t>(t)].add();
  return now - start;
}

}  // namespace ferry::session
