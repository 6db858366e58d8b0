#pragma once
// Load balancing: pick an endpoint of a cluster for a request.
//
// Three pieces, from the Pingora and Envoy models:
//   - BalancerFactory: built once per cluster and config snapshot from the endpoints' names and
//     weights (any thread, allocates): the immutable tables (hash ring, Maglev table, cumulative
//     weights) that every worker shares.
//   - Balancer: one per worker and cluster (forWorker()), owning that worker's mutable state (a
//     round-robin cursor, smooth weights, an RNG). Its pick() chooses among the candidates it is
//     offered; it knows nothing of health checking.
//   - Selection: one per request, on the stack. next() gives the first choice, then, for a retry,
//     the policy's choice among the endpoints not tried yet; it hides unhealthy endpoints from
//     the policy unless the cluster is in panic (fewer than healthy_panic_threshold percent
//     healthy: then every endpoint is used, as Envoy does).
//
// Nothing here does I/O, takes a lock or allocates per pick; time comes in PickInput::now, so
// tests drive slow start with a FakeClock.
//
// Concurrency note: a BalancerFactory is immutable and may be read by every worker at once. A
// Balancer and a Selection belong to one worker's thread. The spans a PickInput points at (health
// and active counts) must stay unchanged while a pick runs; the caller pins its snapshot.

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/balance/hash.h"
#include "proxy/common/time.h"

namespace ferry::balance {

inline constexpr std::size_t kNone = static_cast<std::size_t>(-1);
inline constexpr std::uint32_t kMaxWeight = 10000;

enum class Policy : std::uint8_t {
  RoundRobin,          // equal turns from a per-worker cursor; ignores weights (slow start: below)
  WeightedRoundRobin,  // smooth weighted round robin, as NGINX's (no bursts on heavy endpoints)
  LeastRequest,        // two weighted random choices, the one with fewer active requests wins
  Random,              // weighted random
  RingHash,            // consistent hashing on a ring of points (Ketama); hash key required
  Maglev,              // Maglev lookup table; hash key required
};

// "round_robin", "weighted_round_robin", "least_request", "random", "ring_hash", "maglev".
std::optional<Policy> parsePolicy(std::string_view name);
std::string_view policyName(Policy p);
// True for ring_hash and maglev: the caller computes PickInput::hash from the hash_on key.
constexpr bool usesHashKey(Policy p) {
  return p == Policy::RingHash || p == Policy::Maglev;
}

// One endpoint as configured. The name is its identity: hash policies place endpoints by name,
// so an endpoint keeps its keys when others come or go, whatever its position in the list.
struct EndpointSpec {
  std::string name;          // e.g. "10.0.0.1:8080" or "api.internal:8080"
  std::uint32_t weight = 1;  // 1..kMaxWeight (values outside are clamped)
};

// Slow start: an endpoint that became healthy (or joined) less than `window` ago gets
// weight * max(minPercent/100, (elapsed/window)^(1/aggression)). Applies to round_robin (every
// weight 1: equal turns, by smooth weighted round robin while it is set), weighted_round_robin,
// least_request and random; not to ring_hash and maglev (a key's endpoint does not depend on
// load). Window 0 turns it off.
struct SlowStart {
  Duration window{0};
  double aggression = 1.0;  // > 0; 1 is a linear ramp, larger ramps faster at first
  double minPercent = 10;   // the weight's floor while ramping, in percent

  bool enabled() const { return window.count() > 0; }
  // The weight factor in (0, 1] of an endpoint healthy since `since`, at `now`.
  double factor(TimePoint since, TimePoint now) const {
    if (!enabled() || since == TimePoint{} || now - since >= window) return 1.0;
    return ramp(since, now);
  }

 private:
  double ramp(TimePoint since, TimePoint now) const;
};

// What the health checker and outlier detection say about one endpoint, from the caller's
// immutable health snapshot.
struct EndpointHealth {
  bool healthy = true;
  // When it last became healthy, or joined the cluster. TimePoint{} means "since the start":
  // endpoints present when the cluster is first built do not ramp up.
  TimePoint healthySince{};
};

// A health snapshot: one entry per endpoint, in the order of the specs the factory was built
// from. An empty span means every endpoint is healthy (and none is ramping up).
struct HealthView {
  std::span<const EndpointHealth> endpoints;
  std::size_t healthyCount = 0;  // precomputed by whoever builds the snapshot (countHealthy)

  static std::size_t countHealthy(std::span<const EndpointHealth> e);
  static HealthView of(std::span<const EndpointHealth> e) { return {e, countHealthy(e)}; }
};

// Envoy's healthy_panic_threshold: true when fewer than thresholdPercent of `total` endpoints
// are healthy. Then health is ignored and every endpoint is a candidate, so a cluster whose
// health checks all fail (or whose checker is wrong) still gets traffic spread over all of it.
// thresholdPercent 0 turns panic off; 100 panics whenever one endpoint is down.
constexpr bool inPanic(std::size_t healthy, std::size_t total, double thresholdPercent) {
  return total > 0 &&
         static_cast<double>(healthy) * 100.0 < static_cast<double>(total) * thresholdPercent;
}
inline constexpr double kDefaultPanicThreshold = 50.0;

// The inputs of one pick.
struct PickInput {
  HealthView health;
  // This worker's active requests per endpoint (least_request); empty means all zero.
  std::span<const std::uint32_t> active;
  // ring_hash and maglev: the key's hash (hashString(path), hashString(cookieValue(...)),
  // hashBytes(address bytes) for source_ip). Ignored by the other policies.
  std::uint64_t hash = 0;
  TimePoint now{};  // slow start
};

// What a policy may choose from: endpoints that are healthy (or any, in panic) and not tried
// yet by this request. Built by Selection; a policy only reads it.
class Candidates {
 public:
  Candidates(const PickInput& in, std::size_t size, bool ignoreHealth,
             std::span<const std::size_t> excluded)
      : in_(&in), size_(size), ignoreHealth_(ignoreHealth), excluded_(excluded) {}

  std::size_t size() const { return size_; }
  bool eligible(std::size_t i) const {
    if (!ignoreHealth_ && healthKnown() && !in_->health.endpoints[i].healthy) return false;
    for (std::size_t e : excluded_) {
      if (e == i) return false;
    }
    return true;
  }
  std::uint64_t hash() const { return in_->hash; }
  std::uint32_t active(std::size_t i) const {
    return in_->active.size() == size_ ? in_->active[i] : 0;
  }
  TimePoint now() const { return in_->now; }
  TimePoint healthySince(std::size_t i) const {
    return healthKnown() ? in_->health.endpoints[i].healthySince : TimePoint{};
  }

 private:
  bool healthKnown() const { return in_->health.endpoints.size() == size_; }
  const PickInput* in_;
  std::size_t size_;
  bool ignoreHealth_;
  std::span<const std::size_t> excluded_;
};

// A policy with one worker's state.
class Balancer {
 public:
  virtual ~Balancer() = default;
  // An index i < c.size() with c.eligible(i), or kNone when no endpoint is eligible. May advance
  // this worker's state (cursor, weights, RNG). Owning worker's thread only; no allocation, no
  // lock.
  virtual std::size_t pick(const Candidates& c) = 0;
  virtual Policy policy() const = 0;
  // The number of endpoints (the factory's specs).
  virtual std::size_t size() const = 0;
};

struct BalanceConfig {
  Policy policy = Policy::RoundRobin;
  SlowStart slowStart;
  std::uint64_t seed = 0x5eed;  // random and least_request, mixed with the worker index
  // ring_hash: points per unit of weight (Ketama uses 160 per server); the ring is capped at
  // kMaxRingPoints by lowering this.
  std::uint32_t ringPointsPerWeight = 160;
  // maglev: the table size, a prime well above the endpoint count (Envoy's default).
  std::uint32_t maglevTableSize = 65537;
};

// The immutable, shared part of a cluster's balancing.
class BalancerFactory : public std::enable_shared_from_this<BalancerFactory> {
 public:
  static constexpr std::size_t kMaxRingPoints = 1u << 20;

  // Builds the tables for endpoints (any thread; allocates). An empty list is allowed: every
  // pick then returns kNone.
  static std::shared_ptr<const BalancerFactory> build(const BalanceConfig& cfg,
                                                      std::span<const EndpointSpec> endpoints);
  // Worker `index` of `workers`'s balancer: its own state, seeded and offset by the index so
  // workers do not march in step (round-robin cursors start at index * size / workers).
  std::unique_ptr<Balancer> forWorker(unsigned index, unsigned workers) const;

  const BalanceConfig& config() const { return cfg_; }
  std::size_t size() const { return weights_.size(); }
  std::uint32_t weight(std::size_t i) const { return weights_[i]; }
  std::size_t ringSize() const { return ring_.size(); }

  // The shared tables (read by the per-worker balancers).
  struct RingPoint {
    std::uint64_t hash;
    std::uint32_t endpoint;
  };
  std::span<const RingPoint> ring() const { return ring_; }
  std::span<const std::uint32_t> maglev() const { return maglev_; }
  std::span<const std::uint64_t> cumulativeWeights() const { return cumulative_; }
  bool equalWeights() const { return equalWeights_; }

 private:
  BalanceConfig cfg_;
  std::vector<std::uint32_t> weights_;
  std::vector<std::uint64_t> cumulative_;  // prefix sums of weights_, for weighted draws
  bool equalWeights_ = true;
  std::vector<RingPoint> ring_;        // ring_hash: sorted by hash
  std::vector<std::uint32_t> maglev_;  // maglev: slot -> endpoint
};

// One request's walk through a cluster's endpoints. On the stack; holds pointers to the
// balancer and the input, which must outlive it.
class Selection {
 public:
  static constexpr std::size_t kMaxTries = 16;

  Selection(Balancer& b, const PickInput& in,
            double panicThresholdPercent = kDefaultPanicThreshold);

  // The next endpoint to try: the policy's first choice, then on each further call (a retry)
  // its choice among the endpoints this request has not tried. kNone when none is left: no
  // endpoint, every one unhealthy with panic off, all tried, or kMaxTries calls made.
  std::size_t next();
  // True when the cluster was below the panic threshold, so health was ignored.
  bool panic() const { return panic_; }
  std::span<const std::size_t> tried() const { return {tried_.data(), count_}; }

 private:
  Balancer* balancer_;
  const PickInput* in_;
  std::size_t size_;
  std::size_t healthy_;
  bool panic_;
  std::size_t count_ = 0;
  std::array<std::size_t, kMaxTries> tried_{};
};

}  // namespace ferry::balance
