// The TCP proxy session: a listener with `protocol: tcp` forwards raw bytes to its cluster's
// endpoints, through the same upstream contract as an HTTP request (upstream/cluster.h): the
// connection is admitted (max_active_requests), its endpoint picked by the cluster's policy
// (health and ejections included), a slot acquired from the endpoint's pool (max_connections,
// max_pending_requests, queue_timeout; never a pooled connection: a tunnel's bytes are its own),
// the connect made and measured (connect-time histogram, outlier detection), and the lease
// dropped when the tunnel ends. A refused or failed connect moves on to another endpoint
// (nothing was sent, so any endpoint may take the connection); then the relay carries both
// directions with half-closes passed on until both sides closed, one failed, or
// tunnel_idle_timeout passed with no byte either way.

#include <array>

#include "proxy/common/log.h"
#include "proxy/http/proxy_protocol.h"
#include "proxy/io/awaitables.h"
#include "proxy/session/active.h"
#include "proxy/session/context.h"
#include "proxy/session/downstream.h"
#include "proxy/session/observe.h"
#include "proxy/session/relay.h"

namespace ferry::session {
namespace {

// Endpoints one connection tries at most before it gives up (each after a failed connect).
constexpr std::size_t kMaxTries = 16;

// One TCP connection's life after its PROXY header (if any): upstream, tunnel, records. Lives in
// serveTcp's coroutine frame; worker thread only.
class TcpSession {
 public:
  // start: when the connection was accepted (the tunnel's life and the access log's duration).
  TcpSession(WorkerContext& w, ListenerContext& l, io::Socket& client, const io::Address& peer,
             Buffer& in, TimePoint start)
      : w_(w),
        l_(l),
        cluster_(*l.tcpCluster),
        client_(client),
        peer_(peer),
        in_(in),
        start_(start) {}

  // Admission, then endpoints in turn until one connects and its tunnel ends.
  Task<void> run() {
    upstream::Admission admission(cluster_);
    if (!admission.admitted()) {
      cause_ = causeName(Cause::kOverloaded);
      co_return;
    }
    std::array<std::size_t, kMaxTries> tried{};
    std::size_t tries = std::min(cluster_.size(), kMaxTries);
    for (std::size_t n = 0; n < tries; ++n) {
      std::size_t ep = cluster_.pick(0, std::span(tried.data(), n));
      tried[n] = ep;
      if (co_await attempt(ep) != Next::kNextEndpoint) break;
    }
  }

  void log() {
    if (!w_.accessLog.enabled()) return;
    auto us = std::chrono::duration_cast<std::chrono::microseconds>(w_.clock.now() - start_);
    char peerText[io::Address::kMaxText];
    char upText[io::Address::kMaxText];
    log::AccessRecord a;
    a.clientAddress = std::string_view(peerText, peer_.formatHost(peerText, sizeof(peerText)));
    a.clientPort = peer_.port();
    a.protocol = "tcp";
    a.bytesIn = t_.xToY;
    a.bytesOut = t_.yToX;
    a.durationUs = static_cast<std::uint64_t>(us.count());
    a.upstream = std::string_view(upText, upAddr_.format(upText, sizeof(upText)));
    a.cause = cause_;
    a.cluster = cluster_.config().name;
    a.listener = l_.config->name;
    w_.accessLog.log(a);
  }

 private:
  enum class Next : std::uint8_t {
    kDone,          // the tunnel ran, or the pool refused: the session ends
    kNextEndpoint,  // nothing reached this endpoint: another one may take the connection
  };

  // One endpoint: a pool slot, the connect (measured), and on success the tunnel.
  Task<Next> attempt(std::size_t ep) {
    AttemptMeter meter{w_.clock.now()};
    std::shared_ptr<const upstream::AddressList> addrs = cluster_.addresses(ep);
    if (!addrs) {
      // A DNS name not resolved yet: no backend was tried (not an outlier report).
      upAddr_ = io::Address();
      cause_ = causeName(Cause::kUpstreamUnresolved);
      FERRY_WARN_LIMITED("tcp listener {}: upstream {}: not resolved (DNS) yet", l_.config->name,
                         cluster_.endpointName(ep));
      co_return Next::kNextEndpoint;
    }
    upAddr_ = addrs->addresses.front();
    upstream::Lease lease;
    upstream::Cluster::Acquire got =
        co_await cluster_.acquire(w_.proactor, ep, /*fresh=*/true, /*verify=*/false, lease);
    if (got != upstream::Cluster::Acquire::kReady) {
      cause_ = causeName(got == upstream::Cluster::Acquire::kOverloaded ? Cause::kOverloaded
                                                                        : Cause::kQueueTimeout);
      co_return Next::kDone;
    }
    meter.connectStart = w_.clock.now();
    std::error_code ec = co_await connect(std::move(addrs), lease.socket());
    if (ec) {
      Cause c = connectCause(ec);
      cluster_.counters().connectFailures.add();
      cluster_.report(ep, upstream::OutlierDetector::Result::kConnectFailure);
      recordEndpointAttempt(cluster_.endpointCells(ep), 0, c, false);
      meter.record(*l_.counters, cluster_.counters(), c, w_.clock.now());
      cause_ = causeName(c);
      FERRY_WARN_LIMITED("tcp listener {}: upstream {}: connect: {}", l_.config->name,
                         cluster_.endpointName(ep), ec.message());
      co_return Next::kNextEndpoint;
    }
    cluster_.counters().opened.add();
    cluster_.report(ep, upstream::OutlierDetector::Result::kSuccess);
    meter.holding = w_.clock.now();
    meter.fresh = true;
    co_await relay(ep, lease.socket());
    meter.bytesSent = t_.xToY;
    meter.bytesReceived = t_.yToX;
    // The connection is never pooled: a clean end closes it as not reusable, any other as an
    // error (which side failed is not known).
    meter.record(*l_.counters, cluster_.counters(),
                 t_.clean || t_.timedOut ? Cause::kOk : Cause::kUpstreamResetDuringResponse,
                 w_.clock.now());
    recordTunnel(*l_.counters, metrics::TunnelKind::kTcp, w_.clock.now() - start_);
    co_return Next::kDone;
  }

  // Connects to one of addrs with the PROXY header (if the cluster sends one) riding the
  // handshake or right after it; the connected socket goes into `up`.
  Task<std::error_code> connect(std::shared_ptr<const upstream::AddressList> addrs,
                                io::Socket& up) {
    const config::ClusterConfig& cc = cluster_.config();
    char hdr[http::kProxyV1MaxBytes + 64];
    std::size_t hdrLen = encodeProxyHeader(cc, client_, peer_, hdr, sizeof(hdr));
    std::span<const char> first(hdr, hdrLen);
    upstream::Connected c =
        co_await upstream::connectTo(w_.proactor, std::move(addrs), first, cc.connectTimeout);
    if (!c.ec && !c.firstSent && hdrLen > 0) {  // connected by list: the PROXY header follows
      io::TransmitElement el = io::TransmitElement::memory(hdr, hdrLen);
      c.ec = (co_await io::transmit(w_.proactor, c.socket.native(), std::span(&el, 1),
                                    cc.connectTimeout))
                 .ec;
    }
    if (c.ec) co_return c.ec;
    up = std::move(c.socket);
    upAddr_ = c.remote;
    co_return std::error_code();
  }

  Task<void> relay(std::size_t ep, io::Socket& up) {
    ActiveGuard active(cluster_, ep);
    Buffer out = w_.buffers.acquire();
    // Spliced where the proactor can (Linux): the bytes stay in the kernel; `in` and `out`
    // then carry only what was read before (a PROXY header's tail).
    t_ = co_await tunnel(w_.proactor, w_.clock, client_.native(), in_, up.native(), out,
                         l_.config->tunnelIdleTimeout, l_.config->sendTimeout, /*splice=*/true);
    cause_ = t_.clean ? "ok" : t_.timedOut ? "tunnel_idle_timeout" : "reset";
    l_.counters->bytesReceived.add(t_.xToY);
    l_.counters->bytesSent.add(t_.yToX);
  }

  WorkerContext& w_;
  ListenerContext& l_;
  upstream::Cluster& cluster_;
  io::Socket& client_;
  const io::Address& peer_;
  Buffer& in_;
  TimePoint start_;
  io::Address upAddr_;
  std::string_view cause_ = "ok";
  TunnelResult t_;
};

}  // namespace

Task<void> serveTcp(WorkerContext& w, ListenerContext& l, io::Socket client, io::Address peer) {
  SessionRegistry::Entry entry;
  w.sessions.add(entry);
  l.counters->accepted.add();
  l.counters->active.add();
  TimePoint start = w.clock.now();
  Buffer in = w.buffers.acquire();
  // A PROXY header from a trusted L4 balancer in front names the real client.
  if (!l.config->acceptProxyProtocol || co_await readProxyHeader(w, l, client, in, peer)) {
    TcpSession s(w, l, client, peer, in, start);
    co_await s.run();
    s.log();
  }
  in.release();
  client.close();
  l.counters->active.sub();
  w.sessions.remove(entry);
}

}  // namespace ferry::session
