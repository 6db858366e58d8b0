// The static-file session: GET and HEAD of files under the listener's root, sent with
// transmit_packets (the head as a memory element, the file as a file-range element). Used for
// ferry's built-in demo backends and for tests; not a full web server (no ranges, no caching
// headers beyond Content-Length and Content-Type).

#include <cstring>
#include <string>

#include "proxy/http/rewrite.h"
#include "proxy/io/awaitables.h"
#include "proxy/session/context.h"
#include "proxy/session/downstream.h"
#include "proxy/session/observe.h"

namespace ferry::session {
namespace {

std::string_view contentType(std::string_view path) {
  auto dot = path.rfind('.');
  std::string_view ext = dot == std::string_view::npos ? "" : path.substr(dot + 1);
  if (ext == "html" || ext == "htm") return "text/html; charset=utf-8";
  if (ext == "css") return "text/css";
  if (ext == "js") return "text/javascript";
  if (ext == "json") return "application/json";
  if (ext == "txt") return "text/plain; charset=utf-8";
  if (ext == "png") return "image/png";
  if (ext == "svg") return "image/svg+xml";
  return "application/octet-stream";
}

// The file under root that path names, or empty if the path is not acceptable (it must be
// absolute, without "..", "%", backslashes or NUL; "/" maps to index.html).
bool resolvePath(const std::string& root, std::string_view path, char* out, std::size_t cap,
                 std::size_t& len) {
  auto q = path.find('?');
  if (q != std::string_view::npos) path = path.substr(0, q);
  if (path.empty() || path[0] != '/') return false;
  if (path.find("..") != std::string_view::npos || path.find('%') != std::string_view::npos ||
      path.find('\\') != std::string_view::npos || path.find('\0') != std::string_view::npos) {
    return false;
  }
  std::string_view index = path.back() == '/' ? "index.html" : "";
  len = root.size() + path.size() + index.size();
  if (len + 1 > cap) return false;
  std::memcpy(out, root.data(), root.size());
  std::memcpy(out + root.size(), path.data(), path.size());
  std::memcpy(out + root.size() + path.size(), index.data(), index.size());
  out[len] = '\0';
  return true;
}

}  // namespace

Task<void> serveStatic(WorkerContext& w, ListenerContext& l, io::Socket client, io::Address peer) {
  l.counters->accepted.add();
  l.counters->active.add();
  const config::ListenerConfig& cfg = *l.config;
  metrics::RouteCounters& counters = *l.routeCounters[0];
  Buffer in;
  Buffer head;
  http::Parser req(http::MessageType::kRequest);
  HeadLimits limits{cfg.idleTimeout, cfg.requestHeaderTimeout, cfg.maxRequestHeaderBytes};
  char path[1024];
  char peerHost[io::Address::kMaxText];
  std::string_view peerText(peerHost, peer.formatHost(peerHost, sizeof(peerHost)));
  bool close = false;
  while (!close) {
    req.reset();
    if (in.empty()) {  // idle: no buffer held until the next bytes come
      in.release();
      head.release();
      if (!co_await awaitClientBytes(w.proactor, client.native(), in, w.buffers, cfg.idleTimeout)) {
        break;
      }
    }
    HeadOutcome o = co_await readHead(w.proactor, client.native(), in, req, limits, w.clock);
    TimePoint start = w.clock.now();
    if (o != HeadOutcome::kReady) {
      if (o == HeadOutcome::kTimeout || o == HeadOutcome::kInvalid) {
        int st = o == HeadOutcome::kTimeout ? 408 : req.error().empty() ? 431 : req.errorStatus();
        co_await sendAll(w.proactor, client.native(), http::cannedResponse(st, true),
                         cfg.sendTimeout);
        recordRequest(*l.counters, counters, st,
                      st == 408 ? Cause::kRequestHeaderTimeout : Cause::kBadRequest, 0,
                      http::cannedResponse(st, true).size(), Duration::zero(), false);
      }
      break;
    }
    const http::MessageHead& h = req.head();
    close = !h.keepAlive || h.expectsBody;  // request bodies are not read: close after
    int status = 200;
    std::size_t pathLen = 0;
    bool isHead = http::iequals(h.method, "HEAD");
    io::File file;
    if (!isHead && !http::iequals(h.method, "GET")) {
      status = 405;
    } else if (!resolvePath(cfg.staticRoot, route::keyOf(h.target, "").path, path, sizeof(path),
                            pathLen)) {
      status = 404;
    } else if (auto f = io::File::openRead(path); f) {
      file = std::move(f.value());
    } else {
      status = 404;
    }
    std::uint64_t bytes = 0;
    if (status != 200) {
      std::string_view text = http::cannedResponse(status, close);
      if (!co_await sendAll(w.proactor, client.native(), text, cfg.sendTimeout)) close = true;
      bytes = text.size();
    } else {
      if (!head) head = w.buffers.acquire();
      head.clear();
      http::HeadWriter hw(head.writable());
      hw.put("HTTP/1.1 200 OK\r\nServer: ferry\r\nX-Served-By: ").put(cfg.name);
      hw.put("\r\nContent-Type: ").put(contentType({path, pathLen}));
      hw.put("\r\nContent-Length: ").putNumber(file.size());
      hw.put(close ? "\r\nConnection: close\r\n\r\n" : "\r\n\r\n");
      head.commit(hw.size());
      io::TransmitElement els[2] = {io::TransmitElement::memory(head.view()),
                                    io::TransmitElement::fileRange(file.native(), 0, file.size())};
      io::IoResult r = co_await io::transmit(w.proactor, client.native(),
                                             std::span(els, isHead ? 1 : 2), cfg.sendTimeout);
      if (!r.ok()) close = true;
      bytes = r.bytes;
    }
    Duration took = w.clock.now() - start;
    recordRequest(*l.counters, counters, status,
                  status == 405 ? Cause::kMethodNotAllowed : Cause::kLocalResponse, h.headBytes,
                  bytes, took, true);
    if (w.accessLog.enabled()) {
      log::AccessRecord a;
      a.clientAddress = peerText;
      a.clientPort = peer.port();
      a.method = h.method;
      a.target = h.target;
      a.protocol = h.isHttp10() ? "HTTP/1.0" : "HTTP/1.1";
      a.status = status;
      a.bytesIn = h.headBytes;
      a.bytesOut = bytes;
      a.durationUs = static_cast<std::uint64_t>(
          std::chrono::duration_cast<std::chrono::microseconds>(took).count());
      a.cause = status == 405 ? "method_not_allowed" : "local_response";
      a.route = "static";
      a.listener = cfg.name;
      w.accessLog.log(a);
    }
    in.consume(h.headBytes);
  }
  head.release();
  co_await lingeringClose(w.proactor, std::move(client), in);
  l.counters->active.sub();
}

}  // namespace ferry::session
