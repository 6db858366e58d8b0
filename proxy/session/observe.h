#pragma once
// What a session records about its requests: the metric cells (proxy/metrics) once per request
// and once per upstream attempt. Cheap by construction: relaxed single-writer stores into the
// worker's own cells, no allocation, no lock. Worker thread only.

#include <cstdint>
#include <optional>

#include "proxy/common/time.h"
#include "proxy/metrics/metrics.h"
#include "proxy/session/outcome.h"

namespace ferry::session {

// One finished request (or a refusal before one): counts it by route and status class, its
// bytes, its duration (when a head was read: headRead), and its rejection or timeout by cause.
// A 101 (a WebSocket upgrade that became a tunnel) is counted as a 1xx response, but its
// duration (the tunnel's life) goes to the listener's websocket tunnel histogram, not the
// route's request histogram.
void recordRequest(metrics::ListenerCounters& l, metrics::RouteCounters& r, int status, Cause cause,
                   std::uint64_t bytesIn, std::uint64_t bytesOut, Duration duration, bool headRead);

// One tunnel's life (a TCP listener's connection, from accept to close).
void recordTunnel(metrics::ListenerCounters& l, metrics::TunnelKind kind, Duration duration);

// How an upstream attempt at an endpoint counts in ferry_upstream_endpoint_responses_total:
// status > 0 (the attempt's final response status): its class; else an upstream failure cause
// (connect refused/failed/timed out, send failed, reset, response timeout, malformed response,
// the route's deadline): kError; else nothing (the attempt never reached the endpoint: refused
// by admission or the queue, a name not resolved; or the client went away). reused: the
// connection came from the pool; a send failure or reset before any response byte on it is the
// backend closing an idle connection (retried at once, and not reported to outlier detection
// either), so it counts as nothing.
std::optional<metrics::EndpointOutcome> endpointOutcomeOf(int status, Cause cause, bool reused);
// Counts it in cells (null: an endpoint without cells, nothing counted).
void recordEndpointAttempt(metrics::EndpointCounters* cells, int status, Cause cause, bool reused);

// One upstream attempt, filled in as it goes and recorded once by record().
struct AttemptMeter {
  TimePoint start;              // asked the pool for a connection
  TimePoint connectStart{};     // a new connection's connect began
  TimePoint holding{};          // a connection was in hand (pooled or new)
  TimePoint sent{};             // the request head was written
  TimePoint firstByte{};        // the first response byte arrived
  bool fresh = false;           // a new connection (connectStart..holding is its connect time)
  bool pooled = false;          // the connection went back to the pool afterwards
  std::uint64_t bytesSent = 0;  // to the backend
  std::uint64_t bytesReceived = 0;
  void firstBytes(TimePoint now, std::size_t n) {
    if (firstByte == TimePoint{}) firstByte = now;
    bytesReceived += n;
  }
  // Observes the histograms, bytes, how the connection ended, and an upstream timeout by its
  // cause. Returns the attempt's duration (for the access log's upstream time).
  Duration record(metrics::ListenerCounters& l, metrics::ClusterCounters& c, Cause cause,
                  TimePoint now) const;
};

}  // namespace ferry::session
