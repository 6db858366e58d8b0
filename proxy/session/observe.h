#pragma once
// What a session records about its requests: the metric cells (proxy/metrics) once per request
// and once per upstream attempt. Cheap by construction: relaxed single-writer stores into the
// worker's own cells, no allocation, no lock. Worker thread only.

#include <cstdint>

#include "proxy/common/time.h"
#include "proxy/metrics/metrics.h"
#include "proxy/session/outcome.h"

namespace ferry::session {

// One finished request (or a refusal before one): counts it by route and status class, its
// bytes, its duration (when a head was read: headRead), and its rejection or timeout by cause.
void recordRequest(metrics::ListenerCounters& l, metrics::RouteCounters& r, int status, Cause cause,
                   std::uint64_t bytesIn, std::uint64_t bytesOut, Duration duration, bool headRead);

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
