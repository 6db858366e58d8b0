#include "proxy/balance/balancer.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace ferry::balance {

std::optional<Policy> parsePolicy(std::string_view name) {
  if (name == "round_robin") return Policy::RoundRobin;
  if (name == "weighted_round_robin") return Policy::WeightedRoundRobin;
  if (name == "least_request") return Policy::LeastRequest;
  if (name == "random") return Policy::Random;
  if (name == "ring_hash") return Policy::RingHash;
  if (name == "maglev") return Policy::Maglev;
  return std::nullopt;
}

std::string_view policyName(Policy p) {
  switch (p) {
    case Policy::RoundRobin:
      return "round_robin";
    case Policy::WeightedRoundRobin:
      return "weighted_round_robin";
    case Policy::LeastRequest:
      return "least_request";
    case Policy::Random:
      return "random";
    case Policy::RingHash:
      return "ring_hash";
    case Policy::Maglev:
      return "maglev";
  }
  return "?";
}

double SlowStart::ramp(TimePoint since, TimePoint now) const {
  double floor = std::clamp(minPercent, 0.0, 100.0) / 100.0;
  if (now <= since) return std::max(floor, 1e-3);
  double t = std::chrono::duration<double>(now - since) / std::chrono::duration<double>(window);
  double f = aggression == 1.0 || aggression <= 0 ? t : std::pow(t, 1.0 / aggression);
  return std::clamp(std::max(f, floor), 1e-3, 1.0);
}

std::size_t HealthView::countHealthy(std::span<const EndpointHealth> e) {
  return static_cast<std::size_t>(
      std::count_if(e.begin(), e.end(), [](const EndpointHealth& h) { return h.healthy; }));
}

namespace {

// The first eligible index at or after start (wrapping), or kNone.
std::size_t scanFrom(const Candidates& c, std::size_t start) {
  std::size_t n = c.size();
  for (std::size_t k = 0; k < n; ++k) {
    std::size_t i = start + k < n ? start + k : start + k - n;
    if (c.eligible(i)) return i;
  }
  return kNone;
}

class RoundRobinBalancer final : public Balancer {
 public:
  RoundRobinBalancer(std::shared_ptr<const BalancerFactory> f, std::size_t start)
      : f_(std::move(f)), cursor_(f_->size() ? start % f_->size() : 0) {}
  std::size_t pick(const Candidates& c) override {
    std::size_t n = c.size();
    for (std::size_t k = 0; k < n; ++k) {
      std::size_t i = cursor_;
      cursor_ = cursor_ + 1 == n ? 0 : cursor_ + 1;
      if (c.eligible(i)) return i;
    }
    return kNone;
  }
  Policy policy() const override { return Policy::RoundRobin; }
  std::size_t size() const override { return f_->size(); }

 private:
  std::shared_ptr<const BalancerFactory> f_;
  std::size_t cursor_;
};

// NGINX's smooth weighted round robin (ngx_http_upstream_get_peer): every eligible endpoint
// gains its effective weight, the one with the most current weight wins and pays the total.
// Over one cycle each endpoint is chosen weight times, spread out rather than in bursts.
// round_robin with slow start is this with every weight 1 (equal weights take strict turns in
// list order), so a ramping endpoint gets its reduced share and the others equal turns.
class WeightedRoundRobinBalancer final : public Balancer {
 public:
  static constexpr std::int64_t kScale = 1024;  // effective weights in 1/1024ths, for slow start

  WeightedRoundRobinBalancer(std::shared_ptr<const BalancerFactory> f, std::size_t warmUp,
                             bool equalTurns = false)
      : f_(std::move(f)), current_(f_->size(), 0), equalTurns_(equalTurns) {
    // Workers start at different points of the cycle.
    PickInput in;
    Candidates all(in, f_->size(), true, {});
    for (std::size_t k = 0; k < warmUp; ++k) pick(all);
  }
  std::size_t pick(const Candidates& c) override {
    const SlowStart& ss = f_->config().slowStart;
    std::int64_t total = 0;
    std::size_t best = kNone;
    for (std::size_t i = 0; i < c.size(); ++i) {
      if (!c.eligible(i)) continue;
      std::int64_t w = static_cast<std::int64_t>(equalTurns_ ? 1 : f_->weight(i)) * kScale;
      if (ss.enabled()) {
        double factor = ss.factor(c.healthySince(i), c.now());
        if (factor < 1.0) {
          w = std::max<std::int64_t>(1, std::llround(static_cast<double>(w) * factor));
        }
      }
      current_[i] += w;
      total += w;
      if (best == kNone || current_[i] > current_[best]) best = i;
    }
    if (best != kNone) current_[best] -= total;
    return best;
  }
  Policy policy() const override {
    return equalTurns_ ? Policy::RoundRobin : Policy::WeightedRoundRobin;
  }
  std::size_t size() const override { return f_->size(); }

 private:
  std::shared_ptr<const BalancerFactory> f_;
  std::vector<std::int64_t> current_;
  bool equalTurns_;
};

// Weighted random draws shared by random and least_request. A draw lands on endpoint i with
// probability weight_i / total; ineligible endpoints and slow start are handled by rejection
// (redraw), which keeps the proportions among the accepted ones exact. After kDraws rejected
// draws it falls back to the first eligible endpoint from a random start, so a pick always
// terminates and finds an eligible endpoint when there is one.
class WeightedDraw {
 public:
  static constexpr int kDraws = 16;

  WeightedDraw(const BalancerFactory& f, std::uint64_t seed) : f_(&f), rng_(seed) {}
  // skip: an endpoint never drawn (least_request's first choice, for its second).
  std::size_t draw(const Candidates& c, std::size_t skip = kNone) {
    std::size_t n = c.size();
    if (n == 0) return kNone;
    const SlowStart& ss = f_->config().slowStart;
    std::span<const std::uint64_t> cum = f_->cumulativeWeights();
    for (int k = 0; k < kDraws; ++k) {
      std::size_t i;
      if (f_->equalWeights()) {
        i = static_cast<std::size_t>(rng_.below(n));
      } else {
        std::uint64_t r = rng_.below(cum.back());
        i = static_cast<std::size_t>(std::upper_bound(cum.begin(), cum.end(), r) - cum.begin());
      }
      if (i == skip || !c.eligible(i)) continue;
      if (ss.enabled()) {
        double factor = ss.factor(c.healthySince(i), c.now());
        if (factor < 1.0 && unit() >= factor) continue;
      }
      return i;
    }
    std::size_t start = static_cast<std::size_t>(rng_.below(n));
    for (std::size_t k = 0; k < n; ++k) {
      std::size_t i = start + k < n ? start + k : start + k - n;
      if (i != skip && c.eligible(i)) return i;
    }
    return kNone;
  }
  Rng& rng() { return rng_; }

 private:
  double unit() { return static_cast<double>(rng_.next() >> 11) * 0x1.0p-53; }
  const BalancerFactory* f_;
  Rng rng_;
};

class RandomBalancer final : public Balancer {
 public:
  RandomBalancer(std::shared_ptr<const BalancerFactory> f, std::uint64_t seed)
      : f_(std::move(f)), draw_(*f_, seed) {}
  std::size_t pick(const Candidates& c) override { return draw_.draw(c); }
  Policy policy() const override { return Policy::Random; }
  std::size_t size() const override { return f_->size(); }

 private:
  std::shared_ptr<const BalancerFactory> f_;
  WeightedDraw draw_;
};

// Power of two choices (Mitzenmacher; Envoy's least_request): two weighted random draws of two
// distinct endpoints (when two are eligible), the one with fewer active requests on this worker
// wins; a tie goes to the first. With no load
// difference it is weighted random; a loaded endpoint loses most comparisons.
class LeastRequestBalancer final : public Balancer {
 public:
  LeastRequestBalancer(std::shared_ptr<const BalancerFactory> f, std::uint64_t seed)
      : f_(std::move(f)), draw_(*f_, seed) {}
  std::size_t pick(const Candidates& c) override {
    std::size_t a = draw_.draw(c);
    if (a == kNone) return kNone;
    // Two distinct endpoints whenever two are eligible: a second draw landing on the first
    // would compare an endpoint with itself (a slow one kept most of its share).
    std::size_t b = draw_.draw(c, a);
    if (b == kNone) return a;
    return c.active(b) < c.active(a) ? b : a;
  }
  Policy policy() const override { return Policy::LeastRequest; }
  std::size_t size() const override { return f_->size(); }

 private:
  std::shared_ptr<const BalancerFactory> f_;
  WeightedDraw draw_;
};

// The first ring point at or after the key's hash; past an ineligible endpoint, the next point
// clockwise. An endpoint that leaves (or is unhealthy) gives its keys to its successors on the
// ring; every other key keeps its endpoint.
class RingHashBalancer final : public Balancer {
 public:
  explicit RingHashBalancer(std::shared_ptr<const BalancerFactory> f) : f_(std::move(f)) {}
  std::size_t pick(const Candidates& c) override {
    std::span<const BalancerFactory::RingPoint> ring = f_->ring();
    if (ring.empty()) return kNone;
    std::uint64_t h = c.hash();
    auto it = std::lower_bound(
        ring.begin(), ring.end(), h,
        [](const BalancerFactory::RingPoint& p, std::uint64_t v) { return p.hash < v; });
    std::size_t start = static_cast<std::size_t>(it - ring.begin());
    std::size_t n = ring.size();
    for (std::size_t k = 0; k < n; ++k) {
      std::size_t j = (start + k) % n;
      if (c.eligible(ring[j].endpoint)) return ring[j].endpoint;
    }
    return kNone;
  }
  Policy policy() const override { return Policy::RingHash; }
  std::size_t size() const override { return f_->size(); }

 private:
  std::shared_ptr<const BalancerFactory> f_;
};

// The key's slot in the Maglev table; past an ineligible endpoint, the slots of rehashed keys,
// then a scan. Keys of eligible endpoints never move when another becomes ineligible.
class MaglevBalancer final : public Balancer {
 public:
  static constexpr int kRehash = 8;
  explicit MaglevBalancer(std::shared_ptr<const BalancerFactory> f) : f_(std::move(f)) {}
  std::size_t pick(const Candidates& c) override {
    std::span<const std::uint32_t> table = f_->maglev();
    if (table.empty()) return kNone;
    std::uint64_t h = c.hash();
    std::size_t i = table[h % table.size()];
    if (c.eligible(i)) return i;
    for (int k = 1; k <= kRehash; ++k) {
      i = table[mix64(h + static_cast<std::uint64_t>(k)) % table.size()];
      if (c.eligible(i)) return i;
    }
    return scanFrom(c, i);
  }
  Policy policy() const override { return Policy::Maglev; }
  std::size_t size() const override { return f_->size(); }

 private:
  std::shared_ptr<const BalancerFactory> f_;
};

bool isPrime(std::uint32_t n) {
  if (n < 2) return false;
  for (std::uint32_t d = 2; static_cast<std::uint64_t>(d) * d <= n; ++d) {
    if (n % d == 0) return false;
  }
  return true;
}

// Maglev's population (Eisenbud et al., NSDI '16, section 3.4) with Envoy's weighting: each
// endpoint walks its own permutation of the slots (offset + j * skip, from hashes of its name),
// claiming the next free one on its turn; an endpoint of weight w takes a turn in w/max of the
// rounds. Endpoints are visited in name order, so the table depends only on the set of names
// and weights, not on their order in the config.
std::vector<std::uint32_t> buildMaglev(std::span<const EndpointSpec> eps,
                                       std::span<const std::uint32_t> weights, std::uint32_t m) {
  std::size_t n = eps.size();
  std::vector<std::uint32_t> table(m, UINT32_MAX);
  if (n == 0) return {};
  std::vector<std::size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(),
            [&](std::size_t a, std::size_t b) { return eps[a].name < eps[b].name; });
  struct Entry {
    std::uint64_t offset, skip, next = 0, target = 0;
    std::uint32_t weight, endpoint;
  };
  std::vector<Entry> entries;
  entries.reserve(n);
  std::uint32_t maxW = 1;
  for (std::size_t i : order) {
    std::uint64_t h1 = hashString(eps[i].name, 0x6d61676c6576ULL);
    std::uint64_t h2 = hashString(eps[i].name, 0x736b6970ULL);
    entries.push_back(
        Entry{h1 % m, h2 % (m - 1) + 1, 0, 0, weights[i], static_cast<std::uint32_t>(i)});
    maxW = std::max(maxW, weights[i]);
  }
  std::size_t filled = 0;
  for (std::uint64_t round = 1; filled < m; ++round) {
    for (Entry& e : entries) {
      if (filled == m) break;
      if (round * e.weight < e.target) continue;
      e.target += maxW;
      std::uint64_t slot = (e.offset + e.skip * e.next) % m;
      while (table[slot] != UINT32_MAX) {
        ++e.next;
        slot = (e.offset + e.skip * e.next) % m;
      }
      table[slot] = e.endpoint;
      ++e.next;
      ++filled;
    }
  }
  return table;
}

}  // namespace

std::shared_ptr<const BalancerFactory> BalancerFactory::build(
    const BalanceConfig& cfg, std::span<const EndpointSpec> endpoints) {
  std::shared_ptr<BalancerFactory> f(new BalancerFactory());
  f->cfg_ = cfg;
  std::size_t n = endpoints.size();
  f->weights_.reserve(n);
  f->cumulative_.reserve(n);
  std::uint64_t sum = 0;
  for (const EndpointSpec& e : endpoints) {
    std::uint32_t w = std::clamp<std::uint32_t>(e.weight, 1, kMaxWeight);
    if (!f->weights_.empty() && w != f->weights_.front()) f->equalWeights_ = false;
    f->weights_.push_back(w);
    sum += w;
    f->cumulative_.push_back(sum);
  }
  if (cfg.policy == Policy::RingHash && n > 0) {
    std::uint64_t per = std::max<std::uint32_t>(1, cfg.ringPointsPerWeight);
    if (sum * per > kMaxRingPoints) per = std::max<std::uint64_t>(1, kMaxRingPoints / sum);
    f->ring_.reserve(sum * per);
    for (std::size_t i = 0; i < n; ++i) {
      std::uint64_t points = f->weights_[i] * per;
      for (std::uint64_t r = 0; r < points; ++r) {
        f->ring_.push_back(
            RingPoint{hashString(endpoints[i].name, mix64(r + 1)), static_cast<std::uint32_t>(i)});
      }
    }
    // Ties (vanishingly rare) are broken by name, so the ring does not depend on list order.
    std::sort(f->ring_.begin(), f->ring_.end(), [&](const RingPoint& a, const RingPoint& b) {
      if (a.hash != b.hash) return a.hash < b.hash;
      return endpoints[a.endpoint].name < endpoints[b.endpoint].name;
    });
  }
  if (cfg.policy == Policy::Maglev && n > 0) {
    std::uint32_t m = std::max<std::uint32_t>(cfg.maglevTableSize, 3);
    while (!isPrime(m)) ++m;
    f->maglev_ = buildMaglev(endpoints, f->weights_, m);
  }
  return f;
}

std::unique_ptr<Balancer> BalancerFactory::forWorker(unsigned index, unsigned workers) const {
  std::shared_ptr<const BalancerFactory> self = shared_from_this();
  std::size_t n = size();
  std::size_t start = n == 0 ? 0 : static_cast<std::size_t>(index) * n / std::max(workers, 1U);
  std::uint64_t seed = mix64(cfg_.seed ^ mix64(index + 1));
  switch (cfg_.policy) {
    case Policy::RoundRobin:
      // Slow start needs weights: equal turns by smooth weighted round robin (O(endpoints) a
      // pick instead of O(1), only when slow_start is set).
      if (cfg_.slowStart.enabled()) {
        return std::make_unique<WeightedRoundRobinBalancer>(self, start, true);
      }
      return std::make_unique<RoundRobinBalancer>(self, start);
    case Policy::WeightedRoundRobin:
      return std::make_unique<WeightedRoundRobinBalancer>(self, start);
    case Policy::LeastRequest:
      return std::make_unique<LeastRequestBalancer>(self, seed);
    case Policy::Random:
      return std::make_unique<RandomBalancer>(self, seed);
    case Policy::RingHash:
      return std::make_unique<RingHashBalancer>(self);
    case Policy::Maglev:
      return std::make_unique<MaglevBalancer>(self);
  }
  return std::make_unique<RoundRobinBalancer>(self, start);
}

Selection::Selection(Balancer& b, const PickInput& in, double panicThresholdPercent)
    : balancer_(&b), in_(&in), size_(b.size()) {
  healthy_ = in.health.endpoints.size() == size_ ? in.health.healthyCount : size_;
  panic_ = inPanic(healthy_, size_, panicThresholdPercent);
}

std::size_t Selection::next() {
  if (count_ == kMaxTries || size_ == 0) return kNone;
  if (healthy_ == 0 && !panic_) return kNone;
  Candidates c(*in_, size_, panic_, tried());
  std::size_t i = balancer_->pick(c);
  if (i != kNone) tried_[count_++] = i;
  return i;
}

}  // namespace ferry::balance
