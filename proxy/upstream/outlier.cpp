#include "proxy/upstream/outlier.h"

#include <algorithm>

#include "proxy/common/log.h"

namespace ferry::upstream {

OutlierDetector::OutlierDetector(const std::optional<config::OutlierDetectionConfig>& cfg,
                                 std::size_t endpoints)
    : cfg_(cfg), state_(endpoints) {}

std::size_t OutlierDetector::maxEjected(std::size_t total) const {
  if (!cfg_ || cfg_->maxEjectionPercent == 0) return 0;
  return std::max<std::size_t>(1, total * cfg_->maxEjectionPercent / 100);
}

bool OutlierDetector::report(std::size_t ep, Result r, TimePoint now, HealthBoard& board) {
  if (!cfg_ || ep >= state_.size()) return false;
  State& s = state_[ep];
  bool trip = false;
  switch (r) {
    case Result::kSuccess:
      s = State{};
      return false;
    case Result::kServerError:
      s.consecutiveConnect = 0;
      ++s.consecutive5xx;
      trip = cfg_->consecutive5xx != 0 && s.consecutive5xx >= cfg_->consecutive5xx;
      break;
    case Result::kConnectFailure:
      ++s.consecutiveConnect;
      trip = cfg_->consecutiveConnectFailures != 0 &&
             s.consecutiveConnect >= cfg_->consecutiveConnectFailures;
      break;
  }
  if (!trip) return false;
  s = State{};
  if (board.ejectedUntil(ep) > now) return false;  // another worker ejected it meanwhile
  if (board.ejectedCount(now) >= maxEjected(board.size())) {
    log::warn("outlier detection: endpoint {} not ejected: max_ejection_percent reached", ep);
    return false;
  }
  // The multiplier grows with each ejection and shrinks by one for every base_ejection_time the
  // endpoint stayed in since its last ejection ended.
  Duration base = cfg_->baseEjectionTime;
  std::uint32_t times = board.timesEjected(ep);
  TimePoint lastEnd = board.ejectedUntil(ep);
  if (times > 0 && base > Duration::zero() && now > lastEnd) {
    auto calm = static_cast<std::uint64_t>((now - lastEnd) / base);
    times = calm >= times ? 0 : times - static_cast<std::uint32_t>(calm);
  }
  times = std::min(times + 1, kMaxMultiplier);
  board.eject(ep, now + base * times, times);
  return true;
}

}  // namespace ferry::upstream
