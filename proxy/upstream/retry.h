#pragma once
// Retry safety, decided once, on facts (see DESIGN.md, "The shape that lets it grow"). A request
// may be sent again only if the backend cannot have processed it, or if its method is idempotent
// (RFC 9110 9.2.2) and the client has not seen a byte of a response. A non-idempotent request
// whose bytes reached a backend is never replayed, whatever happened after. A retry policy
// (retry_on, budgets, backoff) sits on top of this and can only narrow it. Pure: no I/O.

#include <array>
#include <atomic>
#include <cstdint>
#include <optional>
#include <string_view>

#include "proxy/balance/hash.h"
#include "proxy/common/time.h"
#include "proxy/config/config.h"

namespace ferry::upstream {

// What is known about one failed attempt.
struct AttemptFacts {
  // How far the attempt got before it failed.
  enum class Stage : std::uint8_t {
    kConnect,    // the connect failed: nothing was sent
    kUnwritten,  // a (pooled) connection failed before any byte of this request was written
    kWritten,    // some bytes of the request were written: the backend may have processed it
  } stage = Stage::kConnect;
  bool idempotent = false;         // the method is idempotent (isIdempotent)
  bool responseForwarded = false;  // a response byte (a 1xx too) was forwarded to the client
  bool replayable = false;         // every byte of the request is still held, so it can be resent
};

enum class RetrySafety : std::uint8_t {
  kUnsafe,        // never send this request again
  kNotProcessed,  // safe for any method: the backend cannot have seen the request
  kIdempotent,    // safe because the method is idempotent and nothing was forwarded back
};

RetrySafety retrySafety(const AttemptFacts& f);

// GET, HEAD, OPTIONS, TRACE, PUT, DELETE (RFC 9110 9.2.2); method names are case-sensitive.
bool isIdempotent(std::string_view method);

// ---- The retry policy on top of retrySafety ----

// Why an attempt failed, in the terms of `retry_on`. Also the index of the per-reason counters
// (metrics::ClusterCounters::retries and retryBudgetRefused).
enum class RetryReason : std::uint8_t {
  kConnectFailure,  // the connect failed (timed out, unreachable)
  kRefused,         // the connect was refused
  kReset,           // the connection failed before a response head (reset, closed, send error)
  k5xx,             // the backend answered 500..599 (other than 503)
  k503,             // the backend answered 503
  kTimeout,         // no response head within response_timeout or per_try_timeout
};
inline constexpr std::size_t kRetryReasons = 6;
// "connect_failure", "refused", "reset", "5xx", "503", "timeout" (metric label values).
std::string_view retryReasonName(RetryReason r);
// k503 for 503, k5xx for the other 5xx statuses, nothing below 500.
std::optional<RetryReason> reasonForStatus(int status);

// A cluster's (or route's) retry policy, converted once from the config. Pure.
struct RetryPolicy {
  std::uint32_t on = 0;  // one bit per RetryReason
  std::uint32_t maxRetries = 0;
  Duration perTryTimeout{0};  // 0: off
  Duration backoffBase{0};
  Duration backoffMax{0};

  // Unknown retry_on names are ignored (the loader has refused them already).
  static RetryPolicy from(const config::RetryConfig& c);
  // Whether retry_on covers r: `connect-failure` also covers a refused connect, `5xx` covers 503.
  bool allows(RetryReason r) const;
  // The wait before retry n (1 for the first retry): uniform in [0, min(max, base x 2^(n-1))]
  // ("full jitter", so clients that failed together do not come back together).
  Duration backoff(std::uint32_t n, balance::Rng& rng) const;
};

// A retry budget: cluster-wide (one per cluster and config snapshot, shared by every worker's
// Cluster through the HealthBoard), over a sliding window of kBuckets one-second buckets,
// retries are allowed while retries < minPerSecond x kBuckets + percent% of the first tries in
// the window. So a cluster that fails every request gets about percent% more load, not
// (1 + max_retries) times, and the numbers mean the same whatever the worker count.
// Concurrency note: any thread; no lock, no allocation. Each bucket is two 64-bit atomics that
// pack (second, count), so a bucket moving on to a new second and a count landing in it never
// tear: a worker that finds a bucket of an older second restarts it with a compare-exchange.
// A first try costs one atomic add, a retry decision a read of the window and one
// compare-exchange. Time comes from the caller (a FakeClock in tests).
class RetryBudget {
 public:
  static constexpr int kBuckets = 10;
  explicit RetryBudget(const config::RetryBudgetConfig& c);
  RetryBudget(const RetryBudget&) = delete;
  RetryBudget& operator=(const RetryBudget&) = delete;
  // A first try was sent (counts towards percent).
  void onRequest(TimePoint now);
  // True (and the retry is counted) if the budget allows one more retry now.
  bool tryRetry(TimePoint now);
  // Retries and first tries in the current window (tests, /clusters).
  std::uint64_t retriesInWindow(TimePoint now) const;
  std::uint64_t requestsInWindow(TimePoint now) const;

 private:
  // (second mod 2^32) << 32 | count.
  using Cell = std::atomic<std::uint64_t>;
  struct Bucket {
    Cell requests{0};
    Cell retries{0};
  };
  static std::int64_t secondOf(TimePoint now);
  Bucket& bucket(std::int64_t second) {
    return buckets_[static_cast<std::size_t>(((second % kBuckets) + kBuckets) % kBuckets)];
  }
  // Adds one to the cell for `second`, restarting it if it counts an older second. With
  // `limit`, only while the window's total (`others` plus this cell) stays under it.
  static bool add(Cell& c, std::int64_t second, std::uint64_t others, std::uint64_t limit);
  std::uint64_t sum(Cell Bucket::*which, std::int64_t second, const Bucket* skip) const;
  std::uint32_t percent_;
  std::uint32_t minPerSecond_;
  std::array<Bucket, kBuckets> buckets_{};
};

enum class RetryVerdict : std::uint8_t {
  kRetry,       // send it again (the budget has been charged)
  kNotRetryOn,  // retry_on does not cover this failure
  kUnsafe,      // retrySafety says never
  kExhausted,   // max_retries reached
  kBudget,      // the retry budget refused (count it)
};

// The one retry decision: the safety facts first, then the policy, then the budget (charged only
// when everything else allows the retry). retriesDone: retries already made for this request.
// staleConnection: the attempt went out on a pooled keep-alive connection that failed before a
// response (kReset): the backend most likely closed it while idle, a hazard of pooling rather
// than of the backend, so it is retried (on a new connection) whatever retry_on, max_retries and
// the budget say, if safety allows; the caller grants this once per request (Pingora's
// "ReusedOnly").
// A connect that failed (refused or failed: Stage::kConnect, nothing sent) is not charged to
// the budget, which is there to stop retry storms of requests the backends processed: a dead
// port costs the backends nothing, and retry_on and max_retries still bound it.
RetryVerdict decideRetry(const RetryPolicy& p, const AttemptFacts& f, RetryReason why,
                         std::uint32_t retriesDone, RetryBudget& budget, TimePoint now,
                         bool staleConnection = false);

}  // namespace ferry::upstream
