// ns per pick for every balancing policy: a Selection's first choice over a snapshot with one
// unhealthy endpoint, plus the cost of hashing a typical hash_on key. Not a test: run by
// `make bench-balance`. Timed in this thread's CPU time, so a busy machine (other builds)
// inflates the numbers less than wall time would; they still depend on the machine.
//   bench_balance [picks per policy]

#include <time.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "proxy/balance/balancer.h"

using namespace ferry;
using namespace ferry::balance;

namespace {

volatile std::size_t sink;

// This thread's CPU time in ns.
double cpuNow() {
  timespec ts{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e9 + static_cast<double>(ts.tv_nsec);
}

double nsPerPick(Policy p, std::size_t endpoints, std::size_t picks, bool slowStart) {
  std::vector<EndpointSpec> eps;
  for (std::size_t i = 0; i < endpoints; ++i) {
    eps.push_back({"10.0." + std::to_string(i / 256) + "." + std::to_string(i % 256) + ":80",
                   static_cast<std::uint32_t>(1 + i % 4)});
  }
  BalanceConfig cfg;
  cfg.policy = p;
  if (slowStart) cfg.slowStart.window = std::chrono::seconds(30);
  auto b = BalancerFactory::build(cfg, eps)->forWorker(0, 1);
  std::vector<EndpointHealth> health(endpoints);
  health[endpoints / 2].healthy = false;
  TimePoint now = TimePoint{} + std::chrono::seconds(1000);
  if (slowStart) health[0].healthySince = now - std::chrono::seconds(10);
  std::vector<std::uint32_t> active(endpoints, 0);
  PickInput in;
  in.health = HealthView::of(health);
  in.active = active;
  in.now = now;
  double t0 = cpuNow();
  for (std::size_t k = 0; k < picks; ++k) {
    in.hash = mix64(k);
    Selection s(*b, in);
    std::size_t i = s.next();
    active[i] = (active[i] + 1) & 7;  // some load for least_request to compare
    sink = i;
  }
  return (cpuNow() - t0) / static_cast<double>(picks);
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t picks = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 2000000;
  std::printf("%-22s %14s %14s %20s\n", "policy", "10 endpoints", "100 endpoints",
              "100 + slow start");
  for (Policy p : {Policy::RoundRobin, Policy::WeightedRoundRobin, Policy::LeastRequest,
                   Policy::Random, Policy::RingHash, Policy::Maglev}) {
    double a = nsPerPick(p, 10, picks, false);
    double b = nsPerPick(p, 100, picks, false);
    double c = nsPerPick(p, 100, picks, true);
    std::printf("%-22s %11.1f ns %11.1f ns %17.1f ns\n", std::string(policyName(p)).c_str(), a, b,
                c);
  }
  std::string path = "/api/v1/users/12345/orders?page=2";
  double t0 = cpuNow();
  std::uint64_t acc = 0;
  for (std::size_t k = 0; k < picks; ++k) {
    path[14] = static_cast<char>('0' + k % 10);
    acc += hashString(path);
  }
  double t1 = cpuNow();
  sink = static_cast<std::size_t>(acc);
  std::printf("hashString(%zu-byte path): %.1f ns\n", path.size(),
              (t1 - t0) / static_cast<double>(picks));
  return 0;
}
