#include "proxy/session/outcome.h"

namespace ferry::session {

int statusFor(Cause c) {
  switch (c) {
    case Cause::kOk:
    case Cause::kLocalResponse:
    case Cause::kClientClosed:
    case Cause::kClientSendTimeout:
    case Cause::kUpstreamResetDuringResponse:
    case Cause::kUpstreamTimeoutDuringResponse:
      return 0;
    case Cause::kBadRequest:
      return 400;
    case Cause::kTargetTooLong:
      return 414;
    case Cause::kHeadersTooLarge:
      return 431;
    case Cause::kBodyTooLarge:
      return 413;
    case Cause::kMethodNotAllowed:
      return 405;
    case Cause::kNotImplemented:
      return 501;
    case Cause::kVersionNotSupported:
      return 505;
    case Cause::kNoRoute:
      return 404;
    case Cause::kRequestHeaderTimeout:
    case Cause::kRequestBodyTimeout:
      return 408;
    case Cause::kRequestTimeout:
    case Cause::kUpstreamConnectTimeout:
    case Cause::kUpstreamResponseTimeout:
      return 504;
    case Cause::kNoHealthyUpstream:
    case Cause::kOverloaded:
    case Cause::kQueueTimeout:
    case Cause::kUpstreamUnresolved:
      return 503;
    case Cause::kUpstreamConnectRefused:
    case Cause::kUpstreamConnectFailed:
    case Cause::kUpstreamSendFailed:
    case Cause::kUpstreamResetBeforeResponse:
    case Cause::kUpstreamBadResponse:
    case Cause::kUpstreamRetriedStatus:
      return 502;
  }
  return 500;
}

std::string_view causeName(Cause c) {
  switch (c) {
    case Cause::kOk:
      return "ok";
    case Cause::kLocalResponse:
      return "local_response";
    case Cause::kBadRequest:
      return "bad_request";
    case Cause::kTargetTooLong:
      return "target_too_long";
    case Cause::kHeadersTooLarge:
      return "headers_too_large";
    case Cause::kBodyTooLarge:
      return "body_too_large";
    case Cause::kMethodNotAllowed:
      return "method_not_allowed";
    case Cause::kNotImplemented:
      return "not_implemented";
    case Cause::kVersionNotSupported:
      return "version_not_supported";
    case Cause::kNoRoute:
      return "no_route";
    case Cause::kRequestHeaderTimeout:
      return "request_header_timeout";
    case Cause::kRequestBodyTimeout:
      return "request_body_timeout";
    case Cause::kRequestTimeout:
      return "request_timeout";
    case Cause::kClientClosed:
      return "client_closed";
    case Cause::kClientSendTimeout:
      return "client_send_timeout";
    case Cause::kNoHealthyUpstream:
      return "no_healthy_upstream";
    case Cause::kOverloaded:
      return "overloaded";
    case Cause::kQueueTimeout:
      return "queue_timeout";
    case Cause::kUpstreamConnectRefused:
      return "upstream_connect_refused";
    case Cause::kUpstreamConnectTimeout:
      return "upstream_connect_timeout";
    case Cause::kUpstreamConnectFailed:
      return "upstream_connect_failed";
    case Cause::kUpstreamUnresolved:
      return "upstream_unresolved";
    case Cause::kUpstreamSendFailed:
      return "upstream_send_failed";
    case Cause::kUpstreamResetBeforeResponse:
      return "upstream_reset_before_response";
    case Cause::kUpstreamResponseTimeout:
      return "upstream_response_timeout";
    case Cause::kUpstreamBadResponse:
      return "upstream_bad_response";
    case Cause::kUpstreamResetDuringResponse:
      return "upstream_reset_during_response";
    case Cause::kUpstreamTimeoutDuringResponse:
      return "upstream_timeout_during_response";
    case Cause::kUpstreamRetriedStatus:
      return "upstream_retried_status";
  }
  return "unknown";
}

std::optional<upstream::RetryReason> retryReasonOf(Cause c) {
  switch (c) {
    case Cause::kUpstreamConnectRefused:
      return upstream::RetryReason::kRefused;
    case Cause::kUpstreamConnectTimeout:
    case Cause::kUpstreamConnectFailed:
    case Cause::kUpstreamUnresolved:  // nothing was sent: another endpoint may take it
      return upstream::RetryReason::kConnectFailure;
    case Cause::kUpstreamSendFailed:
    case Cause::kUpstreamResetBeforeResponse:
      return upstream::RetryReason::kReset;
    case Cause::kUpstreamResponseTimeout:
      return upstream::RetryReason::kTimeout;
    default:
      return std::nullopt;
  }
}

}  // namespace ferry::session
