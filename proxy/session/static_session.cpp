// The static-file session: GET and HEAD of files under the listener's root, sent with
// transmit_packets (the head as a memory element, the file as a file-range element). What a
// request gets (status, head, file range: ranges, validators, 304) is decided by
// prepareStaticReply (static_reply.h); files are opened beneath the root (static_file.h). Used for
// ferry's built-in demo backends and for tests; not a full web server (no directory listings, no
// multipart ranges, no compression).

#include <string>

#include "proxy/http/rewrite.h"
#include "proxy/io/awaitables.h"
#include "proxy/session/context.h"
#include "proxy/session/downstream.h"
#include "proxy/session/observe.h"
#include "proxy/session/static_reply.h"

namespace ferry::session {
namespace {

void logStatic(WorkerContext& w, const config::ListenerConfig& cfg, std::string_view peerText,
               const io::Address& peer, const http::MessageHead& h, const StaticReply& reply,
               std::uint64_t bytes, std::uint64_t headBytes, Duration took) {
  if (!w.accessLog.enabled()) return;
  log::AccessRecord a;
  a.clientAddress = peerText;
  a.clientPort = peer.port();
  a.method = h.method;
  a.target = h.target;
  a.protocol = h.isHttp10() ? "HTTP/1.0" : "HTTP/1.1";
  a.status = reply.status;
  a.bytesIn = h.headBytes;
  a.bytesOut = bytes;
  a.bodyBytesOut = static_cast<std::int64_t>(bytes > headBytes ? bytes - headBytes : 0);
  a.durationUs = static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::microseconds>(took).count());
  a.cause = causeName(reply.cause);
  a.route = "static";
  a.listener = cfg.name;
  w.accessLog.log(a);
}

}  // namespace

Task<void> serveStatic(WorkerContext& w, ListenerContext& l, io::Socket client, io::Address peer) {
  l.counters->accepted.add();
  l.counters->active.add();
  const config::ListenerConfig& cfg = *l.config;
  metrics::RouteCounters& counters = *l.routeCounters[0];
  // The root is opened once per connection (Linux: a descriptor every file is opened beneath)
  // and closed with it; a reload that changes the root applies to new connections.
  StaticRoot root = StaticRoot::open(
      cfg.staticRoot, StaticRootOptions{.symlinksOutsideRoot = cfg.staticSymlinksOutsideRoot});
  Buffer in;
  Buffer head;
  http::Parser req(http::MessageType::kRequest);
  HeadLimits limits{cfg.idleTimeout, cfg.requestHeaderTimeout, cfg.maxRequestHeaderBytes};
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
    if (!head) head = w.buffers.acquire();
    head.clear();
    http::HeadWriter hw(head.writable());
    StaticFile file;
    StaticReply reply = prepareStaticReply(cfg, root, h, close, file, hw);
    head.commit(hw.size());
    if (!hw.ok()) {  // not with a worker buffer and a head of some 400 bytes: defensive
      reply = {500, Cause::kLocalResponse, 0, 0};
      close = true;
    }
    io::TransmitElement els[2] = {
        io::TransmitElement::memory(hw.ok() ? head.view() : http::cannedResponse(500, true)),
        io::TransmitElement::fileRange(file.native(), reply.offset, reply.length)};
    io::IoResult r = co_await io::transmit(
        w.proactor, client.native(), std::span(els, reply.length == 0 ? 1 : 2), cfg.sendTimeout);
    if (!r.ok()) close = true;
    Duration took = w.clock.now() - start;
    recordRequest(*l.counters, counters, reply.status, reply.cause, h.headBytes, r.bytes, took,
                  true);
    // The head proper ends at its blank line: an error answer's body follows it in the buffer.
    std::string_view lead = hw.ok() ? head.view() : http::cannedResponse(500, true);
    std::size_t headEnd = lead.find("\r\n\r\n");
    headEnd = headEnd == std::string_view::npos ? lead.size() : headEnd + 4;
    logStatic(w, cfg, peerText, peer, h, reply, r.bytes, headEnd, took);
    in.consume(h.headBytes);
  }
  head.release();
  co_await lingeringClose(w.proactor, std::move(client), in);
  l.counters->active.sub();
}

}  // namespace ferry::session
