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

namespace {
constexpr std::uint64_t stamp(std::int64_t second) {
  return static_cast<std::uint64_t>(static_cast<std::uint32_t>(second)) << 32;
}
constexpr std::uint64_t countOf(std::uint64_t cell) {
  return cell & 0xffffffffULL;
}
constexpr bool counts(std::uint64_t cell, std::int64_t second) {
  return (cell & ~0xffffffffULL) == stamp(second);
}
}  // namespace

std::int64_t RetryBudget::secondOf(TimePoint now) {
  return std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
}

bool RetryBudget::add(Cell& c, std::int64_t second, std::uint64_t others, std::uint64_t limit) {
  std::uint64_t v = c.load(std::memory_order_relaxed);
  for (;;) {
    std::uint64_t n = counts(v, second) ? countOf(v) : 0;
    if (others + n >= limit || n >= 0xffffffffULL) return false;
    if (c.compare_exchange_weak(v, stamp(second) | (n + 1), std::memory_order_relaxed)) {
      return true;
    }
  }
}

std::uint64_t RetryBudget::sum(Cell Bucket::*which, std::int64_t second, const Bucket* skip) const {
  std::uint64_t n = 0;
  for (std::int64_t s = second - kBuckets + 1; s <= second; ++s) {
    const Bucket& b = buckets_[static_cast<std::size_t>(((s % kBuckets) + kBuckets) % kBuckets)];
    if (&b == skip) continue;
    std::uint64_t v = (b.*which).load(std::memory_order_relaxed);
    if (counts(v, s)) n += countOf(v);
  }
  return n;
}

void RetryBudget::onRequest(TimePoint now) {
  std::int64_t sec = secondOf(now);
  add(bucket(sec).requests, sec, 0, ~0ULL);
}

std::uint64_t RetryBudget::retriesInWindow(TimePoint now) const {
  return sum(&Bucket::retries, secondOf(now), nullptr);
}

std::uint64_t RetryBudget::requestsInWindow(TimePoint now) const {
  return sum(&Bucket::requests, secondOf(now), nullptr);
}

bool RetryBudget::tryRetry(TimePoint now) {
  std::int64_t sec = secondOf(now);
  Bucket& cur = bucket(sec);
  std::uint64_t allowed =
      static_cast<std::uint64_t>(minPerSecond_) * kBuckets + requestsInWindow(now) * percent_ / 100;
  // The other seconds' retries, then this second's cell counted and raised in one step: two
  // workers racing for the last retry of the window cannot both take it.
  return add(cur.retries, sec, sum(&Bucket::retries, sec, &cur), allowed);
}

RetryVerdict decideRetry(const RetryPolicy& p, const AttemptFacts& f, RetryReason why,
                         std::uint32_t retriesDone, RetryBudget& budget, TimePoint now,
                         bool staleConnection) {
  if (retrySafety(f) == RetrySafety::kUnsafe) return RetryVerdict::kUnsafe;
  if (staleConnection && why == RetryReason::kReset) return RetryVerdict::kRetry;
  if (!p.allows(why)) return RetryVerdict::kNotRetryOn;
  if (retriesDone >= p.maxRetries) return RetryVerdict::kExhausted;
  bool connectFailed = f.stage == AttemptFacts::Stage::kConnect &&
                       (why == RetryReason::kRefused || why == RetryReason::kConnectFailure);
  if (!connectFailed && !budget.tryRetry(now)) return RetryVerdict::kBudget;
  return RetryVerdict::kRetry;
}

}  // namespace ferry::upstream
