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
namespace {

std::string_view reason(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 503:
      return "Service Unavailable";
    default:
      return "Error";
  }
}

std::string_view methodName(Method m) {
  return m == Method::kGet ? "GET" : "POST";
}

}  // namespace

struct AdminServer::Impl {
  struct Handler {
    std::string path;
    Method method;
    std::string help;
    std::function<Response()> fn;
  };
  metrics::Registry& registry;
  Control& control;
  std::vector<Handler> handlers;
  std::unique_ptr<io::Proactor> proactor;
  std::unique_ptr<io::Listener> listener;
  BufferPool buffers{16384};
  SteadyClock clock;
  std::thread thread;
  bool stopping = false;

  Impl(metrics::Registry& r, Control& c) : registry(r), control(c) {
    auto text = [](std::string body, int status = 200) {
      return Response{status, "text/plain; charset=utf-8", std::move(body)};
    };
    auto outcome = [text](const Control::Outcome& o) {
      return text(o.text.empty() || o.text.back() == '\n' ? o.text : o.text + "\n",
                  o.ok ? 200 : 400);
    };
    add("/", Method::kGet, "this list", [this, text] { return text(index()); });
    add("/metrics", Method::kGet, "Prometheus metrics (text format)", [this] {
      return Response{200, "text/plain; version=0.0.4; charset=utf-8", registry.serialize()};
    });
    add("/healthz", Method::kGet, "200 while the process is up", [text] { return text("ok\n"); });
    add("/ready", Method::kGet, "200 while serving; 503 once a drain began", [this, text] {
      bool up = control.ready();
      return text(up ? "ready\n" : "not ready\n", up ? 200 : 503);
    });
    add("/listeners", Method::kGet, "each listener's name and bound address, one per line",
        [this, text] { return text(control.listeners()); });
    add("/config", Method::kGet, "the live config (the YAML it was loaded from)", [this] {
      return Response{200, "application/yaml; charset=utf-8", control.configText()};
    });
    add("/reload", Method::kPost,
        "reload the config file: 200 and what changed, or 400 and every error (nothing changes)",
        [this, outcome] { return outcome(control.reload()); });
    add("/drain", Method::kPost,
        "graceful stop as SIGTERM: /ready 503, drain_delay, then drain up to drain_timeout, exit 0",
        [this, text] {
          control.drain();
          return text("draining\n");
        });
    add("/reopen", Method::kPost, "reopen log files (after log rotation)",
        [this, outcome] { return outcome(control.reopen()); });
  }

  void add(std::string path, Method method, std::string help, std::function<Response()> fn) {
    handlers.push_back({std::move(path), method, std::move(help), std::move(fn)});
  }

  std::string index() const {
    std::string out;
    for (const Handler& h : handlers) {
      std::string line = std::string(methodName(h.method)) + " " + h.path;
      line.resize(std::max<std::size_t>(line.size() + 2, 18), ' ');
      out += line + h.help + "\n";
    }
    return out;
  }

  Response dispatch(std::string_view method, std::string_view path, std::string& allow) {
    bool known = false;
    for (const Handler& h : handlers) {
      if (h.path != path) continue;
      known = true;
      bool get = http::iequals(method, "GET") || http::iequals(method, "HEAD");
      if ((h.method == Method::kGet && get) ||
          (h.method == Method::kPost && http::iequals(method, "POST"))) {
        return h.fn();
      }
      if (!allow.empty()) allow += ", ";
      allow += h.method == Method::kGet ? "GET, HEAD" : "POST";
    }
    if (known) return Response{405, "text/plain; charset=utf-8", "405 Method Not Allowed\n"};
    return Response{404, "text/plain; charset=utf-8", "404 Not Found: GET / lists the paths\n"};
  }

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
      std::string allow;
      Response r = dispatch(h.method, path, allow);
      // A request body is not read (no handler takes one): the connection closes after it.
      bool close = !h.keepAlive || h.expectsBody;
      std::string out = "HTTP/1.1 " + std::to_string(r.status) + " " +
                        std::string(reason(r.status)) + "\r\nContent-Type: " + r.contentType +
                        "\r\nContent-Length: " + std::to_string(r.body.size()) +
                        (allow.empty() ? "" : "\r\nAllow: " + allow) +
                        (close ? "\r\nConnection: close" : "") + "\r\n\r\n";
      if (!http::iequals(h.method, "HEAD")) out += r.body;
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

AdminServer::AdminServer(metrics::Registry& registry, Control& control)
    : impl_(std::make_unique<Impl>(registry, control)) {}

AdminServer::~AdminServer() {
  stop();
}

void AdminServer::add(std::string path, Method method, std::string help,
                      std::function<Response()> handler) {
  impl_->add(std::move(path), method, std::move(help), std::move(handler));
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
