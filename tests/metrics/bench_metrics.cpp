// The cost of recording one proxied request's metrics: what the session does per request
// (recordRequest, active-request gauge) and per upstream attempt (AttemptMeter::record, the
// active/idle gauges), on one worker's cells; then one access-log line (format + the worker's
// ring; the background writer drains it to /dev/null). Not a test: prints ns per request, as
// wall time and as CPU time (std::clock: on a shared machine the wall time also counts the time
// other processes had the core).
//
//   ./build/tests/bench_metrics [requests]

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>

#include "proxy/common/access_log.h"
#include "proxy/metrics/metrics.h"
#include "proxy/session/observe.h"

int main(int argc, char** argv) {
  using namespace ferry;
  long n = argc > 1 ? std::atol(argv[1]) : 5000000;
  metrics::Registry reg(nullptr, 1);
  metrics::ListenerCounters& l = reg.listener(0, "web");
  metrics::RouteCounters& r = reg.route(0, "web", "app");
  metrics::ClusterCounters& c = reg.cluster(0, "app");
  metrics::EndpointCounters& e = reg.endpoint(0, "app", "127.0.0.1:8081");
  SteadyClock clock;
  TimePoint base = clock.now();
  auto start = std::chrono::steady_clock::now();
  std::clock_t cpuStart = std::clock();
  for (long i = 0; i < n; ++i) {
    // Durations spread over the buckets, as real traffic would.
    Duration d = std::chrono::microseconds(50 + (i * 7919) % 400000);
    l.activeRequests.add();
    session::AttemptMeter m{base};
    m.holding = base + d / 8;
    m.sent = m.holding;
    m.firstByte = base + d / 2;
    m.fresh = (i & 15) == 0;
    m.connectStart = base;
    m.pooled = true;
    m.bytesSent = 200;
    m.bytesReceived = 1000;
    c.active.add();
    e.active.add();
    e.idle.set(3);
    (void)m.record(l, c, session::Cause::kOk, base + d);
    c.active.sub();
    e.active.sub();
    session::recordRequest(l, r, 200, session::Cause::kOk, 200, 1000, d, true);
    l.activeRequests.sub();
  }
  double cpuNs =
      static_cast<double>(std::clock() - cpuStart) * 1e9 / CLOCKS_PER_SEC / static_cast<double>(n);
  double ns =
      std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start).count() /
      static_cast<double>(n);
  std::printf(
      "%.1f ns wall, %.1f ns CPU per request (one request record, one attempt record, gauges), "
      "%ld requests\n",
      ns, cpuNs, n);
  for (const char* format : {"ferry", "json"}) {
    log::AccessLog access("/dev/null", format);
    log::AccessRecord a;
    a.clientAddress = "127.0.0.1";
    a.clientPort = 40000;
    a.method = "GET";
    a.target = "/api/v1/items?id=42";
    a.protocol = "HTTP/1.1";
    a.status = 200;
    a.bytesIn = 120;
    a.bytesOut = 900;
    a.upstream = "127.0.0.1:8081";
    a.upstreamTimeUs = 800;
    a.route = "api";
    a.cluster = "app";
    a.listener = "web";
    a.requestId = "0f3c9a7e5b2d4c18";
    a.userAgent = "wrk";
    // In batches the worker's 1 MiB ring holds, drained (untimed) between them: a tight loop
    // outruns the writer's 10 ms poll, and a dropped line would cost less than a written one.
    constexpr long kBatch = 1000;
    long lines = std::max(kBatch, n / 10 / kBatch * kBatch);
    std::uint64_t droppedBefore = log::accessLogDropped();
    std::chrono::steady_clock::duration spent{};
    std::clock_t cpuSpent = 0;
    for (long done = 0; done < lines; done += kBatch) {
      auto t0 = std::chrono::steady_clock::now();
      std::clock_t c0 = std::clock();
      for (long i = done; i < done + kBatch; ++i) {
        a.durationUs = static_cast<std::uint64_t>(i % 100000);
        access.log(a);
      }
      spent += std::chrono::steady_clock::now() - t0;
      cpuSpent += std::clock() - c0;
      log::flushAccessLogs();
    }
    double lns =
        std::chrono::duration<double, std::nano>(spent).count() / static_cast<double>(lines);
    std::uint64_t dropped = log::accessLogDropped() - droppedBefore;
    double lcpu = static_cast<double>(cpuSpent) * 1e9 / CLOCKS_PER_SEC / static_cast<double>(lines);
    std::printf(
        "%.1f ns wall, %.1f ns CPU per access-log line (%s), %ld lines, %llu dropped (ring full)\n",
        lns, lcpu, format, lines, static_cast<unsigned long long>(dropped));
    if (dropped != 0) return 1;
  }
  return r.byClass[1].get() == static_cast<std::uint64_t>(n) ? 0 : 1;
}
