#pragma once
// Passive outlier detection: one worker's view of its own results per endpoint. An endpoint
// that fails `consecutive_5xx` times (5xx responses) or `consecutive_connect_failures` times
// (refused, timed out, reset before a response) in a row on this worker is ejected for
// base_ejection_time x the number of times it was ejected (capped at kMaxMultiplier), unless
// max_ejection_percent of the cluster's endpoints are ejected already (one always may be).
// The ejection goes to the cluster's shared HealthBoard, so every worker skips the endpoint;
// the consecutive counts are per worker (each worker sees its own share of the traffic).
// Owning worker's thread only; no allocation after construction.

#include <cstdint>
#include <optional>
#include <vector>

#include "proxy/common/time.h"
#include "proxy/config/config.h"
#include "proxy/upstream/health.h"

namespace ferry::upstream {

class OutlierDetector {
 public:
  static constexpr std::uint32_t kMaxMultiplier = 10;

  enum class Result : std::uint8_t {
    kSuccess,         // a response below 500 (or any that is not the backend's fault)
    kServerError,     // a 5xx response
    kConnectFailure,  // connect refused or failed, or the connection died before a response
  };

  // cfg: the cluster's outlier_detection (nullopt: off, report() does nothing).
  OutlierDetector(const std::optional<config::OutlierDetectionConfig>& cfg, std::size_t endpoints);
  bool enabled() const { return cfg_.has_value(); }

  // The result of one attempt at endpoint ep. Returns true when it ejected the endpoint (then
  // board's version changed).
  bool report(std::size_t ep, Result r, TimePoint now, HealthBoard& board);

  // The number of endpoints that may be ejected at once out of `total`.
  std::size_t maxEjected(std::size_t total) const;

 private:
  struct State {
    std::uint32_t consecutive5xx = 0;
    std::uint32_t consecutiveConnect = 0;
  };
  std::optional<config::OutlierDetectionConfig> cfg_;
  std::vector<State> state_;
};

}  // namespace ferry::upstream
