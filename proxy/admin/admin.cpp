#include "proxy/admin/admin.h"

#include <future>

#include "proxy/common/buffer.h"
#include "proxy/common/log.h"
#include "proxy/common/task.h"
#include "proxy/http/parser.h"
#include "proxy/http/rewrite.h"
#include "proxy/io/awaitables.h"
#include "proxy/route/route_table.h"
#include "proxy/session/downstream.h"

namespace ferry::admin {

struct AdminServer::Impl {
  metrics::Registry& registry;
  const std::atomic<bool>& ready;
  ListenerTable listeners;
  std::unique_ptr<io::Proactor> proactor;
  std::unique_ptr<io::Listener> listener;
  BufferPool buffers{16384};
  SteadyClock clock;
  std::thread thread;
  bool stopping = false;

  Impl(metrics::Registry& r, const std::atomic<bool>& rd, ListenerTable l)
      : registry(r), ready(rd), listeners(std::move(l)) {}

  Task<void> serve(io::Socket s) {
    Buffer in = buffers.acquire();
    http::Parser req(http::MessageType::kRequest);
    session::HeadLimits limits{seconds(30), seconds(10), 8192};
    for (;;) {
      req.reset();
      session::HeadOutcome o =
          co_await session::readHead(*proactor, s.native(), in, req, limits, clock);
      if (o != session::HeadOutcome::kReady) break;
      const http::MessageHead& h = req.head();
      std::string_view path = route::keyOf(h.target, "").path;
      int status = 200;
      std::string body;
      std::string_view type = "text/plain; charset=utf-8";
      if (!http::iequals(h.method, "GET") && !http::iequals(h.method, "HEAD")) {
        status = 405;
        body = "405 Method Not Allowed\n";
      } else if (path == "/metrics") {
        body = registry.serialize();
        type = "text/plain; version=0.0.4; charset=utf-8";
      } else if (path == "/listeners") {
        for (const auto& [name, addr] : listeners) body += name + " " + addr.toString() + "\n";
      } else if (path == "/healthz") {
        body = "ok\n";
      } else if (path == "/ready") {
        bool r = ready.load(std::memory_order_acquire);
        status = r ? 200 : 503;
        body = r ? "ready\n" : "not ready\n";
      } else {
        status = 404;
        body = "404 Not Found: try /metrics, /healthz, /ready or /listeners\n";
      }
      bool close = !h.keepAlive || h.expectsBody;
      std::string out = "HTTP/1.1 " + std::to_string(status) +
                        (status == 200   ? " OK"
                         : status == 404 ? " Not Found"
                         : status == 503 ? " Service Unavailable"
                                         : " Method Not Allowed") +
                        "\r\nContent-Type: " + std::string(type) +
                        "\r\nContent-Length: " + std::to_string(body.size()) +
                        (close ? "\r\nConnection: close" : "") + "\r\n\r\n";
      if (!http::iequals(h.method, "HEAD")) out += body;
      in.consume(h.headBytes);
      if (!co_await session::sendAll(*proactor, s.native(), out, seconds(10)) || close) break;
    }
    co_await session::lingeringClose(*proactor, std::move(s), in);
  }

  Task<void> acceptLoop() {
    while (!stopping) {
      io::AcceptAwaiter a(*proactor, *listener);
      io::IoResult r = co_await a;
      if (r.ec == std::errc::operation_canceled) break;
      if (r.ec) continue;
      spawn(serve(std::move(a.socket)));
    }
  }
};

AdminServer::AdminServer(metrics::Registry& registry, const std::atomic<bool>& ready,
                         ListenerTable listeners)
    : impl_(std::make_unique<Impl>(registry, ready, std::move(listeners))) {}

AdminServer::~AdminServer() {
  stop();
}

Result<bool> AdminServer::start(const io::Address& addr) {
  // The proactor is made on the thread that runs it (an io_uring ring has one submitter).
  std::promise<Result<bool>> started;
  auto result = started.get_future();
  impl_->thread = std::thread([this, addr, &started] {
    auto p = io::makeProactor(io::Backend::kAuto);
    if (!p) {
      started.set_value(p.error());
      return;
    }
    impl_->proactor = std::move(p.value());
    io::ListenOptions opts;
    opts.reusePort = false;
    auto l = impl_->proactor->listen(addr, opts);
    if (!l) {
      started.set_value(l.error());
      return;
    }
    impl_->listener = std::move(l.value());
    started.set_value(true);
    spawn(impl_->acceptLoop());
    impl_->proactor->run();
  });
  Result<bool> r = result.get();
  if (!r) {
    impl_->thread.join();
    return r;
  }
  log::info("admin listening on {}", impl_->listener->address().toString());
  return true;
}

void AdminServer::stop() {
  if (!impl_->thread.joinable() || !impl_->proactor) return;
  impl_->proactor->stop();
  impl_->thread.join();
}

}  // namespace ferry::admin
