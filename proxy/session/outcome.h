#pragma once
// How a request ended: every phase of a session (read head, route, admission, upstream exchange,
// response relay, finish) ends in one Outcome. The cause says why in one word the access log
// prints (like Envoy's response flags); statusFor() is the one place that turns a cause into the
// status a client is answered with. Pure: no I/O.

#include <cstdint>
#include <optional>
#include <string_view>

#include "proxy/upstream/retry.h"

namespace ferry::session {

enum class Cause : std::uint8_t {
  kOk,                           // the response was relayed whole (whatever its status)
  kLocalResponse,                // ferry answered by itself as configured (direct response, TRACE)
  kBadRequest,                   // malformed or ambiguous request head or body framing: 400
  kTargetTooLong,                // request target over max_request_target_bytes: 414
  kHeadersTooLarge,              // head over max_request_header_bytes or too many headers: 431
  kBodyTooLarge,                 // body over max_request_body_bytes: 413
  kMethodNotAllowed,             // TRACE on a route that does not allow it: 405
  kNotImplemented,               // CONNECT, or a transfer coding ferry does not implement: 501
  kVersionNotSupported,          // a request version other than HTTP/1.0 and 1.1: 505
  kNoRoute,                      // no route matched the request: 404
  kRequestHeaderTimeout,         // the head did not arrive within request_header_timeout: 408
  kRequestBodyTimeout,           // the client stalled mid-body before any response: 408
  kRequestTimeout,               // the route's whole-exchange timeout passed: 504
  kClientClosed,                 // the client closed or reset before the exchange ended: no answer
  kClientSendTimeout,            // the client did not read the response within send_timeout
  kNoHealthyUpstream,            // the cluster had no endpoint to try: 503
  kOverloaded,                   // max_active_requests in flight or the queue full: 503 at once
  kQueueTimeout,                 // no upstream connection free within queue_timeout: 503
  kUpstreamConnectRefused,       // the backend refused the connection: 502
  kUpstreamConnectTimeout,       // the connect did not finish within connect_timeout: 504
  kUpstreamConnectFailed,        // any other connect error (unreachable, no route): 502
  kUpstreamUnresolved,           // the endpoint is a DNS name with no address yet: 503 at once
  kUpstreamSendFailed,           // writing the request to the backend failed: 502
  kUpstreamResetBeforeResponse,  // the backend reset or closed before a response head: 502
  kUpstreamResponseTimeout,      // no response byte within response_timeout: 504
  kUpstreamBadResponse,          // the backend's response was malformed or ambiguous: 502
  kUpstreamResetDuringResponse,  // the backend failed after the response began: cut
  kUpstreamTimeoutDuringResponse,  // the backend stalled after the response began: cut
  kUpstreamRetriedStatus,  // the backend answered a 5xx the retry policy retried (dropped): 502
                           // if it is ever final
};

// What a phase reports: the cause, and whether the response to the client has begun (then no
// status can be answered any more and the client connection must be cut if the cause is not ok).
struct Outcome {
  Cause cause = Cause::kOk;
  bool responseBegun = false;
  bool ok() const { return cause == Cause::kOk || cause == Cause::kLocalResponse; }
};

// The status a client gets for a cause when nothing of a response has been sent yet; 0 for
// causes that are not answered (the client is gone, or the response already began).
int statusFor(Cause c);
// The cause's name for logs: "ok", "upstream_connect_refused", ...
std::string_view causeName(Cause c);
// The retry_on condition a failed attempt's cause falls under (upstream/retry.h), or nothing
// for causes no policy retries (the client's, a malformed response, the route's deadline, a
// response that already began).
std::optional<upstream::RetryReason> retryReasonOf(Cause c);

}  // namespace ferry::session
