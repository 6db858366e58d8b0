// io micro-benchmark: the cost of one operation on each Linux backend, as CPU time (user+sys of
// this process, both ends on one proactor thread) per operation. A read, not a test.
//   io_ops [iterations]

#include <sys/resource.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "proxy/common/task.h"
#include "proxy/io/awaitables.h"
#include "proxy/io/proactor.h"

using namespace ferry;
using namespace ferry::io;
using namespace std::chrono_literals;

namespace {

double cpuSeconds() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

template <class F>
void measure(Proactor& p, const char* backend, const char* what, int n, int opsPerIteration,
             F body) {
  bool done = false;
  auto t = [&]() -> Task<void> {
    co_await body(n);
    done = true;
  };
  double c0 = cpuSeconds();
  auto w0 = std::chrono::steady_clock::now();
  spawn(t());
  while (!done) p.runOnce(100ms);
  double cpu = cpuSeconds() - c0;
  double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - w0).count();
  double ops = static_cast<double>(n) * opsPerIteration;
  std::printf("%-9s %-34s %10.0f ns/op cpu %10.0f ns/op wall\n", backend, what, cpu * 1e9 / ops,
              wall * 1e9 / ops);
}

}  // namespace

int main(int argc, char** argv) {
  int n = argc > 1 ? std::atoi(argv[1]) : 20000;
  for (Backend b : {Backend::kUring, Backend::kEpoll}) {
    auto made = makeProactor(b);
    if (!made) continue;
    Proactor& p = *made.value();
    auto l = p.listen(*Address::parse("127.0.0.1:0"), ListenOptions{});
    Listener& listener = *l.value();
    const char* name = backendName(b).data();
    // A connected pair for the data-path measurements.
    Socket client, server;
    bool ready = false;
    auto pair = [&]() -> Task<void> {
      auto c = connect(p, listener.address(), {}, 5s);
      co_await c;
      client = std::move(c.socket);
      AcceptAwaiter a(p, listener);
      co_await a;
      server = std::move(a.socket);
      ready = true;
    };
    spawn(pair());
    while (!ready) p.runOnce(100ms);

    measure(p, name, "transmit 64 B + recv (ping-pong)", n, 2, [&](int iters) -> Task<void> {
      char msg[64] = {};
      char buf[64];
      TransmitElement e = TransmitElement::memory(msg, sizeof(msg));
      for (int i = 0; i < iters; ++i) {
        co_await transmit(p, client.native(), std::span(&e, 1), 5s);
        std::size_t got = 0;
        while (got < sizeof(msg))
          got += (co_await recv(p, server.native(), std::span(buf + got, sizeof(buf) - got), 5s))
                     .bytes;
      }
    });
    measure(p, name, "recv with a timeout (data ready)", n, 2, [&](int iters) -> Task<void> {
      char msg[16] = {};
      char buf[16];
      TransmitElement e = TransmitElement::memory(msg, sizeof(msg));
      for (int i = 0; i < iters; ++i) {
        co_await transmit(p, client.native(), std::span(&e, 1), 5s);
        co_await recv(p, server.native(), buf, 5s);
      }
    });
    measure(p, name, "timer (zero delay)", n, 1, [&](int iters) -> Task<void> {
      for (int i = 0; i < iters; ++i) co_await sleepFor(p, Duration::zero());
    });
    measure(p, name, "connect + accept + close (cycle)", n / 4, 1, [&](int iters) -> Task<void> {
      for (int i = 0; i < iters; ++i) {
        auto c = connect(p, listener.address(), {}, 5s);
        co_await c;
        AcceptAwaiter a(p, listener);
        co_await a;
      }
    });
  }
  return 0;
}
