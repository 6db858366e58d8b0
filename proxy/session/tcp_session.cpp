// The TCP proxy session: a listener with `protocol: tcp` forwards raw bytes to its cluster's
// endpoints. Round robin picks an endpoint; a refused or failed connect moves on to the next one
// (nothing was sent, so any endpoint may take the connection); then the relay carries both
// directions with half-closes passed on until both sides closed, one failed, or
// tunnel_idle_timeout passed with no byte either way.

#include "proxy/common/log.h"
#include "proxy/http/proxy_protocol.h"
#include "proxy/io/awaitables.h"
#include "proxy/session/context.h"
#include "proxy/session/downstream.h"
#include "proxy/session/relay.h"

namespace ferry::session {

Task<void> serveTcp(WorkerContext& w, ListenerContext& l, io::Socket client, io::Address peer) {
  SessionRegistry::Entry entry;
  w.sessions.add(entry);
  l.counters->accepted.add();
  l.counters->active.add();
  const config::ListenerConfig& cfg = *l.config;
  TimePoint start = w.clock.now();
  Buffer in = w.buffers.acquire();
  // A PROXY header from a trusted L4 balancer in front names the real client.
  if (cfg.acceptProxyProtocol) {
    if (!co_await readProxyHeader(w, l, client, in, peer)) {
      in.release();
      l.counters->active.sub();
      w.sessions.remove(entry);
      co_return;
    }
  }
  upstream::Cluster& cluster = *l.tcpCluster;
  io::Socket up;
  io::Address upAddr;
  std::string_view cause = "ok";
  for (std::size_t attempt = 0; attempt < cluster.size() && !up; ++attempt) {
    std::size_t ep = cluster.pick();
    // Every address of the endpoint (one for an IP literal; a DNS name's answer, connected by
    // list), or none yet for a name not resolved: the next endpoint is tried.
    std::shared_ptr<const upstream::AddressList> addrs = cluster.addresses(ep);
    if (!addrs) {
      upAddr = io::Address();
      cause = "upstream_unresolved";
      FERRY_WARN_LIMITED("tcp listener {}: upstream {}: not resolved (DNS) yet", cfg.name,
                         cluster.endpointName(ep));
      continue;
    }
    upAddr = addrs->addresses.front();
    char hdr[http::kProxyV1MaxBytes + 64];
    std::size_t hdrLen = encodeProxyHeader(cluster.config(), client, peer, hdr, sizeof(hdr));
    std::span<const char> first(hdr, hdrLen);
    upstream::Connected c = co_await upstream::connectTo(w.proactor, std::move(addrs), first,
                                                         cluster.config().connectTimeout);
    if (!c.ec && !c.firstSent && hdrLen > 0) {  // connected by list: the PROXY header follows
      io::TransmitElement el = io::TransmitElement::memory(hdr, hdrLen);
      c.ec = (co_await io::transmit(w.proactor, c.socket.native(), std::span(&el, 1),
                                    cluster.config().connectTimeout))
                 .ec;
    }
    if (!c.ec) {
      up = std::move(c.socket);
      upAddr = c.remote;
      cluster.counters().opened.add();
      break;
    }
    cluster.counters().connectFailures.add();
    cause = c.ec == std::errc::timed_out ? "upstream_connect_timeout" : "upstream_connect_failed";
    FERRY_WARN_LIMITED("tcp listener {}: upstream {}: connect: {}", cfg.name,
                       cluster.endpointName(ep), c.ec.message());
  }
  TunnelResult t;
  if (up) {
    Buffer out = w.buffers.acquire();
    // Spliced where the proactor can (Linux): the bytes stay in the kernel; `in` and `out`
    // then carry only what was read before (a PROXY header's tail).
    t = co_await tunnel(w.proactor, w.clock, client.native(), in, up.native(), out,
                        cfg.tunnelIdleTimeout, cfg.sendTimeout, /*splice=*/true);
    cause = t.clean ? "ok" : t.timedOut ? "tunnel_idle_timeout" : "reset";
  }
  l.counters->bytesReceived.add(t.xToY);
  l.counters->bytesSent.add(t.yToX);
  cluster.counters().upstreamBytesSent.add(t.xToY);
  cluster.counters().upstreamBytesReceived.add(t.yToX);
  if (w.accessLog.enabled()) {
    auto us = std::chrono::duration_cast<std::chrono::microseconds>(w.clock.now() - start);
    char peerText[io::Address::kMaxText];
    char upText[io::Address::kMaxText];
    log::AccessRecord a;
    a.clientAddress = std::string_view(peerText, peer.formatHost(peerText, sizeof(peerText)));
    a.clientPort = peer.port();
    a.protocol = "tcp";
    a.bytesIn = t.xToY;
    a.bytesOut = t.yToX;
    a.durationUs = static_cast<std::uint64_t>(us.count());
    a.upstream = std::string_view(upText, upAddr.format(upText, sizeof(upText)));
    a.cause = cause;
    a.cluster = cluster.config().name;
    a.listener = cfg.name;
    w.accessLog.log(a);
  }
  in.release();
  up.close();
  client.close();
  l.counters->active.sub();
  w.sessions.remove(entry);
}

}  // namespace ferry::session
