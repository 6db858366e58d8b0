#include "proxy/upstream/outlier.h"

#include <algorithm>
#include <atomic>

#include "proxy/common/log.h"

namespace ferry::upstream {

OutlierDetector::OutlierDetector(const std::optional<config::OutlierDetectionConfig>& cfg)
    : cfg_(cfg) {}

std::size_t OutlierDetector::maxEjected(std::size_t total) const {
  if (!cfg_ || cfg_->maxEjectionPercent == 0) return 0;
  return std::max<std::size_t>(1, total * cfg_->maxEjectionPercent / 100);
}

namespace {
// Counts one more failure; true for the one report that reached the threshold (the count goes
// back to zero then).
bool countTo(std::atomic<std::uint32_t>& count, std::uint32_t threshold) {
  std::uint32_t n = count.fetch_add(1, std::memory_order_relaxed) + 1;
  if (threshold == 0 || n < threshold) return false;
  return count.compare_exchange_strong(n, 0, std::memory_order_relaxed);
}
void clear(std::atomic<std::uint32_t>& count) {
  if (count.load(std::memory_order_relaxed) != 0) count.store(0, std::memory_order_relaxed);
}
}  // namespace

bool OutlierDetector::report(std::size_t ep, Result r, TimePoint now, HealthBoard& board) {
  if (!cfg_ || ep >= board.size()) return false;
  HealthBoard::Endpoint& s = board.endpoint(ep);
  switch (r) {
    case Result::kSuccess:
      clear(s.consecutive5xx);
      clear(s.consecutiveConnect);
      return false;
    case Result::kServerError:
      clear(s.consecutiveConnect);
      if (!countTo(s.consecutive5xx, cfg_->consecutive5xx)) return false;
      break;
    case Result::kConnectFailure:
      if (!countTo(s.consecutiveConnect, cfg_->consecutiveConnectFailures)) return false;
      break;
  }
  return eject(ep, now, board);
}

bool OutlierDetector::eject(std::size_t ep, TimePoint now, HealthBoard& board) const {
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
