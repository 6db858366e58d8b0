#pragma once
// Passive outlier detection, cluster-wide: every worker reports its results per endpoint to
// the cluster's shared HealthBoard, where the consecutive counts live. An endpoint that fails
// `consecutive_5xx` times (5xx responses) or `consecutive_connect_failures` times (refused,
// timed out, reset before a response) in a row, whichever workers saw the failures, is ejected
// for base_ejection_time x the number of times it was ejected (capped at kMaxMultiplier),
// unless max_ejection_percent of the cluster's endpoints are ejected already (one always may
// be). The ejection is decided once (the report that makes the count reach the threshold takes
// it back to zero with a compare-exchange) and every worker skips the endpoint. A success costs
// a read of the counts (a store only when one was not zero).
// Any worker's thread (the detector holds only its config); no allocation.

#include <cstdint>
#include <optional>

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
  explicit OutlierDetector(const std::optional<config::OutlierDetectionConfig>& cfg);
  bool enabled() const { return cfg_.has_value(); }

  // The result of one attempt at endpoint ep (counted on board). Returns true when it ejected
  // the endpoint (then board's version changed).
  bool report(std::size_t ep, Result r, TimePoint now, HealthBoard& board);

  // The number of endpoints that may be ejected at once out of `total`.
  std::size_t maxEjected(std::size_t total) const;

 private:
  // Ejects ep unless another worker did meanwhile or max_ejection_percent is reached.
  bool eject(std::size_t ep, TimePoint now, HealthBoard& board) const;
  std::optional<config::OutlierDetectionConfig> cfg_;
};

}  // namespace ferry::upstream
