#include "proxy/upstream/retry.h"

#include <algorithm>

namespace ferry::upstream {

RetrySafety retrySafety(const AttemptFacts& f) {
  if (!f.replayable) return RetrySafety::kUnsafe;
  if (f.stage != AttemptFacts::Stage::kWritten) return RetrySafety::kNotProcessed;
  if (f.idempotent && !f.responseForwarded) return RetrySafety::kIdempotent;
  return RetrySafety::kUnsafe;
}

bool isIdempotent(std::string_view m) {
  return m == "GET" || m == "HEAD" || m == "OPTIONS" || m == "TRACE" || m == "PUT" || m == "DELETE";
}

std::string_view retryReasonName(RetryReason r) {
  switch (r) {
    case RetryReason::kConnectFailure:
      return "connect_failure";
    case RetryReason::kRefused:
      return "refused";
    case RetryReason::kReset:
      return "reset";
    case RetryReason::k5xx:
      return "5xx";
    case RetryReason::k503:
      return "503";
    case RetryReason::kTimeout:
      return "timeout";
  }
  return "?";
}

std::optional<RetryReason> reasonForStatus(int status) {
  if (status == 503) return RetryReason::k503;
  if (status >= 500 && status <= 599) return RetryReason::k5xx;
  return std::nullopt;
}

namespace {
constexpr std::uint32_t bit(RetryReason r) {
  return 1U << static_cast<unsigned>(r);
}
}  // namespace

RetryPolicy RetryPolicy::from(const config::RetryConfig& c) {
  RetryPolicy p;
  for (const std::string& n : c.retryOn) {
    if (n == "connect-failure") p.on |= bit(RetryReason::kConnectFailure);
    if (n == "refused") p.on |= bit(RetryReason::kRefused);
    if (n == "reset") p.on |= bit(RetryReason::kReset);
    if (n == "5xx") p.on |= bit(RetryReason::k5xx);
    if (n == "503") p.on |= bit(RetryReason::k503);
    if (n == "timeout") p.on |= bit(RetryReason::kTimeout);
  }
  p.maxRetries = c.maxRetries;
  p.perTryTimeout = c.perTryTimeout;
  p.backoffBase = c.backoff.base;
  p.backoffMax = c.backoff.max;
  return p;
}

bool RetryPolicy::allows(RetryReason r) const {
  if (on & bit(r)) return true;
  if (r == RetryReason::kRefused) return (on & bit(RetryReason::kConnectFailure)) != 0;
  if (r == RetryReason::k503) return (on & bit(RetryReason::k5xx)) != 0;
  return false;
}

Duration RetryPolicy::backoff(std::uint32_t n, balance::Rng& rng) const {
  if (backoffBase <= Duration::zero() || n == 0) return Duration::zero();
  Duration cap = backoffBase;
  for (std::uint32_t i = 1; i < n && cap < backoffMax; ++i) cap *= 2;
  cap = std::min(cap, backoffMax);
  auto ns = static_cast<std::uint64_t>(cap.count());
  return Duration(static_cast<Duration::rep>(rng.below(ns + 1)));
}

RetryBudget::RetryBudget(const config::RetryBudgetConfig& c)
    : percent_(c.percent), minPerSecond_(c.minRetriesPerSecond) {}

RetryBudget::Bucket& RetryBudget::current(TimePoint now) {
  std::int64_t sec =
      std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
  Bucket& b = buckets_[static_cast<std::size_t>(((sec % kBuckets) + kBuckets) % kBuckets)];
  if (b.second != sec) b = Bucket{sec, 0, 0};
  return b;
}

void RetryBudget::onRequest(TimePoint now) {
  ++current(now).requests;
}

std::uint64_t RetryBudget::retriesInWindow(TimePoint now) {
  std::int64_t sec = current(now).second;
  std::uint64_t n = 0;
  for (const Bucket& b : buckets_) {
    if (b.second > sec - kBuckets) n += b.retries;
  }
  return n;
}

std::uint64_t RetryBudget::requestsInWindow(TimePoint now) {
  std::int64_t sec = current(now).second;
  std::uint64_t n = 0;
  for (const Bucket& b : buckets_) {
    if (b.second > sec - kBuckets) n += b.requests;
  }
  return n;
}

bool RetryBudget::tryRetry(TimePoint now) {
  std::uint64_t allowed =
      static_cast<std::uint64_t>(minPerSecond_) * kBuckets + requestsInWindow(now) * percent_ / 100;
  if (retriesInWindow(now) >= allowed) return false;
  ++current(now).retries;
  return true;
}

RetryVerdict decideRetry(const RetryPolicy& p, const AttemptFacts& f, RetryReason why,
                         std::uint32_t retriesDone, RetryBudget& budget, TimePoint now,
                         bool staleConnection) {
  if (retrySafety(f) == RetrySafety::kUnsafe) return RetryVerdict::kUnsafe;
  if (staleConnection && why == RetryReason::kReset) return RetryVerdict::kRetry;
  if (!p.allows(why)) return RetryVerdict::kNotRetryOn;
  if (retriesDone >= p.maxRetries) return RetryVerdict::kExhausted;
  if (!budget.tryRetry(now)) return RetryVerdict::kBudget;
  return RetryVerdict::kRetry;
}

}  // namespace ferry::upstream
