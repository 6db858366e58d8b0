// route_lookup [LOOKUPS]: the cost of one route lookup in a table of 1,000 host/path routes
// (250 virtual hosts x 4 path prefixes, plus wildcard-host and regex routes), in ns per lookup.
// A speed read, not a test: `make bench-route`.

#include <time.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "proxy/route/route_table.h"

using namespace ferry;

int main(int argc, char** argv) {
  std::size_t lookups = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 2000000;
  config::Config c;
  c.clusters.resize(2);
  c.clusters[0].name = "a";
  c.clusters[1].name = "b";
  std::vector<config::RouteConfig> routes;
  const char* prefixes[] = {"/api/", "/static/", "/img/", "/"};
  for (int h = 0; h < 250; ++h) {
    for (const char* p : prefixes) {
      config::RouteConfig r;
      r.name = "r" + std::to_string(routes.size());
      r.match.host = "site" + std::to_string(h) + ".example.com";
      r.match.pathPrefix = p;
      r.cluster = h % 2 ? "a" : "b";
      routes.push_back(r);
    }
  }
  for (int w = 0; w < 4; ++w) {  // wildcard hosts are tried for every request
    config::RouteConfig r;
    r.name = "w" + std::to_string(w);
    r.match.host = "*.zone" + std::to_string(w) + ".example.net";
    r.match.pathRegex = "/v[0-9]+/items/[0-9]+";
    r.cluster = "a";
    routes.push_back(r);
  }
  route::RouteTable table = route::RouteTable::build(routes, c);

  struct Req {
    std::string host, path;
  };
  std::vector<Req> reqs;
  std::mt19937 rng(1);
  const char* paths[] = {"/api/users/1", "/static/app.js", "/img/logo.png", "/index.html"};
  for (int i = 0; i < 4096; ++i) {
    reqs.push_back({"site" + std::to_string(rng() % 250) + ".example.com", paths[rng() % 4]});
  }
  reqs.push_back({"x.zone2.example.net", "/v2/items/42"});
  reqs.push_back({"unknown.example.org", "/"});

  std::size_t found = 0;
  for (const Req& r : reqs) found += table.match(route::RequestKey{r.host, r.path}) != nullptr;
  // CPU time of this thread as well as wall time: on a shared machine the wall clock also counts
  // the time other processes held the core.
  auto cpuNow = [] {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) * 1e9 + static_cast<double>(ts.tv_nsec);
  };
  double cpuStart = cpuNow();
  auto start = std::chrono::steady_clock::now();
  for (std::size_t i = 0; i < lookups; ++i) {
    const Req& r = reqs[i % reqs.size()];
    found += table.match(route::RequestKey{r.host, r.path}) != nullptr;
  }
  double ns =
      std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start).count();
  double cpu = cpuNow() - cpuStart;
  auto n = static_cast<double>(lookups);
  std::printf("%zu routes, %zu lookups: %.1f ns CPU per lookup (%.1f ns wall) (%zu matched)\n",
              table.routes().size(), lookups, cpu / n, ns / n, found);
  return 0;
}
