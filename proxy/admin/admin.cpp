#include "proxy/admin/admin.h"

#include <future>
#include <optional>

#include "proxy/admin/unix_socket.h"
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
    case 403:
      return "Forbidden";
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

// The token of an `Authorization: Bearer <token>` value (the scheme is case-insensitive, RFC
// 6750), or empty.
std::string_view bearerOf(std::string_view v) {
  constexpr std::string_view kScheme = "bearer ";
  if (v.size() <= kScheme.size() || !http::iequals(v.substr(0, kScheme.size()), kScheme)) return {};
  v.remove_prefix(kScheme.size());
  while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
  while (!v.empty() && v.back() == ' ') v.remove_suffix(1);
  return v;
}

}  // namespace

bool tokenMatches(std::string_view token, std::string_view expected) {
  if (expected.empty()) return false;
  // Every byte of token is looked at whatever differs: the time tells the length of the guess,
  // which the guesser knows, and nothing of the token.
  unsigned diff = token.size() == expected.size() ? 0U : 1U;
  for (std::size_t i = 0; i < token.size(); ++i) {
    diff |= static_cast<unsigned char>(token[i]) ^
            static_cast<unsigned char>(expected[i % expected.size()]);
  }
  return diff == 0;
}

struct AdminServer::Impl {
  struct Handler {
    std::string path;
    Method method;
    std::string help;
    std::function<Response()> fn;
    Access access;
  };
  // Who is asking: whether the listener is trusted, and the bearer token the request carried.
  struct Caller {
    bool trusted = false;
    std::string_view bearer;
  };
  metrics::Registry& registry;
  Control& control;
  std::vector<Handler> handlers;
  std::function<std::string()> tokenSource;
  std::unique_ptr<io::Proactor> proactor;
  std::unique_ptr<io::Listener> listener;         // admin.address
  std::unique_ptr<io::Listener> controlListener;  // admin.control.address, if set
  io::Socket unixListener;                        // admin.control.socket, if set
  std::string unixPath;
  bool adminTrusted = false;  // admin.address is loopback
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
    constexpr Access kPublic = Access::kPublic;
    constexpr Access kCtl = Access::kControl;
    add(
        "/", Method::kGet, "this list", [this, text] { return text(index()); }, kPublic);
    add(
        "/metrics", Method::kGet, "Prometheus metrics (text format)",
        [this] {
          return Response{200, "text/plain; version=0.0.4; charset=utf-8", registry.serialize()};
        },
        kPublic);
    add(
        "/healthz", Method::kGet, "200 while the process is up", [text] { return text("ok\n"); },
        kPublic);
    add(
        "/ready", Method::kGet, "200 while serving; 503 once a drain began",
        [this, text] {
          bool up = control.ready();
          return text(up ? "ready\n" : "not ready\n", up ? 200 : 503);
        },
        kPublic);
    add(
        "/listeners", Method::kGet, "each listener's name and bound address, one per line",
        [this, text] { return text(control.listeners()); }, kPublic);
    add(
        "/config", Method::kGet, "the live config (the YAML it was loaded from)",
        [this] {
          return Response{200, "application/yaml; charset=utf-8", control.configText()};
        },
        kCtl);
    add(
        "/reload", Method::kPost,
        "reload the config file: 200 and what changed, or 400 and every error (nothing changes)",
        [this, outcome] { return outcome(control.reload()); }, kCtl);
    add(
        "/drain", Method::kPost,
        "graceful stop as SIGTERM: /ready 503, drain_delay, then drain up to drain_timeout, exit 0",
        [this, text] {
          Response answer = text("draining\n");
          answer.after = [this] { control.drain(); };
          return answer;
        },
        kCtl);
    add(
        "/reopen", Method::kPost, "reopen log files (after log rotation)",
        [this, outcome] { return outcome(control.reopen()); }, kCtl);
  }

  void add(std::string path, Method method, std::string help, std::function<Response()> fn,
           Access access) {
    handlers.push_back({std::move(path), method, std::move(help), std::move(fn), access});
  }

  std::string index() const {
    std::string out;
    for (const Handler& h : handlers) {
      std::string line = std::string(methodName(h.method)) + " " + h.path;
      line.resize(std::max<std::size_t>(line.size() + 2, 18), ' ');
      out += line + h.help + (h.access == Access::kControl ? " [control]" : "") + "\n";
    }
    return out;
  }

  // A control handler's gate: nullopt when the caller may use it, else the 403 to answer.
  std::optional<Response> refuse(const Handler& h, const Caller& c) const {
    if (h.access == Access::kPublic || c.trusted) return std::nullopt;
    if (!c.bearer.empty() && tokenSource && tokenMatches(c.bearer, tokenSource())) {
      return std::nullopt;
    }
    std::string what = std::string(methodName(h.method)) + " " + h.path;
    FERRY_WARN_LIMITED("admin: {} refused: not a trusted admin address and no valid token", what);
    std::string body =
        c.bearer.empty()
            ? "403 Forbidden: " + what +
                  " is a control operation. It is served on a loopback admin address, on "
                  "admin.control.address, or with \"Authorization: Bearer <token>\" "
                  "(admin.control.token_file).\n"
            : "403 Forbidden: the bearer token does not match admin.control.token_file.\n";
    return Response{403, "text/plain; charset=utf-8", std::move(body)};
  }

  Response dispatch(std::string_view method, std::string_view path, const Caller& caller,
                    std::string& allow) {
    bool known = false;
    for (const Handler& h : handlers) {
      if (h.path != path) continue;
      known = true;
      bool get = http::iequals(method, "GET") || http::iequals(method, "HEAD");
      if ((h.method == Method::kGet && get) ||
          (h.method == Method::kPost && http::iequals(method, "POST"))) {
        if (std::optional<Response> no = refuse(h, caller)) return std::move(*no);
        return h.fn();
      }
      if (!allow.empty()) allow += ", ";
      allow += h.method == Method::kGet ? "GET, HEAD" : "POST";
    }
    if (known) return Response{405, "text/plain; charset=utf-8", "405 Method Not Allowed\n"};
    return Response{404, "text/plain; charset=utf-8", "404 Not Found: GET / lists the paths\n"};
  }

  Task<void> serve(io::Socket s, bool trusted) {
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
      Caller caller{trusted, bearerOf(h.find("authorization").value_or(""))};
      Response r = dispatch(h.method, path, caller, allow);
      // A request body is not read (no handler takes one): the connection closes after it.
      bool close = !h.keepAlive || h.expectsBody;
      std::string out = "HTTP/1.1 " + std::to_string(r.status) + " " +
                        std::string(reason(r.status)) + "\r\nContent-Type: " + r.contentType +
                        "\r\nContent-Length: " + std::to_string(r.body.size()) +
                        (allow.empty() ? "" : "\r\nAllow: " + allow) +
                        (close ? "\r\nConnection: close" : "") + "\r\n\r\n";
      if (!http::iequals(h.method, "HEAD")) out += r.body;
      in.consume(h.headBytes);
      bool sent = co_await session::sendAll(*proactor, s.native(), out, seconds(10));
      if (r.after) r.after();
      if (!sent || close) break;
    }
    co_await session::lingeringClose(*proactor, std::move(s), in);
  }

  Task<void> acceptLoop(io::Listener& l, bool trusted) {
    while (!stopping) {
      io::AcceptAwaiter a(*proactor, l);
      io::IoResult r = co_await a;
      if (r.ec == std::errc::operation_canceled) break;
      if (r.ec) continue;
      spawn(serve(std::move(a.socket), trusted));
    }
  }

  // The Unix control socket's accept loop: wait until a connection is pending, take every one
  // (each a trusted caller: the socket file is 0600), wait again.
  Task<void> acceptUnixLoop() {
    while (!stopping) {
      io::IoResult r =
          co_await io::waitReadable(*proactor, unixListener.native(), std::chrono::hours(24));
      if (r.ec == std::errc::operation_canceled) break;
      while (io::Socket s = acceptUnix(unixListener)) spawn(serve(std::move(s), true));
    }
  }

  // Binds the admin address and the control ones (admin thread); the first error, if any.
  Result<bool> bind(const config::AdminConfig& cfg) {
    io::ListenOptions opts;
    opts.reusePort = false;
    auto l = proactor->listen(cfg.address, opts);
    if (!l) return l.error();
    listener = std::move(l.value());
    adminTrusted = config::isLoopback(cfg.address);
    if (cfg.control.address.valid()) {
      auto c = proactor->listen(cfg.control.address, opts);
      if (!c) return c.error();
      controlListener = std::move(c.value());
    }
    if (!cfg.control.socket.empty()) {
      std::error_code ec;
      unixListener = listenUnix(cfg.control.socket, ec);
      if (ec)
        return Error{ec, ErrorSource::kInternal, false,
                     "admin.control.socket " + cfg.control.socket};
      unixPath = cfg.control.socket;
    }
    return true;
  }
};

AdminServer::AdminServer(metrics::Registry& registry, Control& control)
    : impl_(std::make_unique<Impl>(registry, control)) {}

AdminServer::~AdminServer() {
  stop();
}

void AdminServer::add(std::string path, Method method, std::string help,
                      std::function<Response()> handler, Access access) {
  impl_->add(std::move(path), method, std::move(help), std::move(handler), access);
}

void AdminServer::setTokenSource(std::function<std::string()> token) {
  impl_->tokenSource = std::move(token);
}

Result<bool> AdminServer::start(const config::AdminConfig& cfg) {
  // The proactor is made on the thread that runs it (an io_uring ring has one submitter).
  std::promise<Result<bool>> started;
  auto result = started.get_future();
  impl_->thread = std::thread([this, &cfg, &started] {
    auto p = io::makeProactor(io::Backend::kAuto);
    if (!p) {
      started.set_value(p.error());
      return;
    }
    impl_->proactor = std::move(p.value());
    Result<bool> bound = impl_->bind(cfg);
    if (!bound) {
      impl_->listener.reset();
      impl_->controlListener.reset();
      started.set_value(bound.error());
      return;
    }
    started.set_value(true);
    spawn(impl_->acceptLoop(*impl_->listener, impl_->adminTrusted));
    if (impl_->controlListener) spawn(impl_->acceptLoop(*impl_->controlListener, true));
    if (impl_->unixListener) spawn(impl_->acceptUnixLoop());
    impl_->proactor->run();
  });
  Result<bool> r = result.get();
  if (!r) {
    impl_->thread.join();
    return r;
  }
  log::info("admin listening on {}", impl_->listener->address().toString());
  if (impl_->controlListener) {
    log::info("admin control listening on {}", impl_->controlListener->address().toString());
  }
  if (impl_->unixListener) log::info("admin control listening on unix:{}", impl_->unixPath);
  if (!impl_->adminTrusted) {
    log::info(
        "admin: {} is not loopback: control operations (POST /reload, /drain, /reopen; GET "
        "/config, /clusters) answer 403 there{}",
        cfg.address.toString(),
        cfg.control.token.empty() ? "" : " without the admin.control bearer token");
  }
  return true;
}

void AdminServer::stop() {
  if (!impl_->thread.joinable() || !impl_->proactor) return;
  impl_->proactor->stop();
  impl_->thread.join();
  if (impl_->unixListener) unlinkUnix(impl_->unixPath);
}

}  // namespace ferry::admin
