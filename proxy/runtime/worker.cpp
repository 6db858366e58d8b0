#include "proxy/runtime/worker.h"

#include <algorithm>
#include <chrono>
#include <future>
#include <thread>

#include "proxy/io/awaitables.h"

namespace ferry::runtime {

namespace {
constexpr int kAcceptsPerListener = 4;
}  // namespace

std::shared_ptr<const Snapshot> Snapshot::build(std::shared_ptr<const config::Config> c) {
  auto s = std::make_shared<Snapshot>();
  for (const config::ListenerConfig& l : c->listeners) {
    s->routes.push_back(route::RouteTable::build(l.routes, *c));
  }
  for (const config::ClusterConfig& cc : c->clusters) {
    s->balancers.push_back(upstream::makeBalancerFactory(cc));
  }
  s->config = std::move(c);
  return s;
}

Worker::Worker(unsigned index, unsigned workers, std::shared_ptr<const Snapshot> snapshot,
               metrics::Registry& registry, io::Backend backend, std::vector<io::Address>& bound)
    : index_(index),
      workers_(workers),
      snapshot_(std::move(snapshot)),
      registry_(registry),
      backendWanted_(backend),
      bound_(bound) {}

Worker::~Worker() {
  stop();
  join();
}

Result<bool> Worker::setUp() {
  auto p = io::makeProactor(backendWanted_);
  if (!p) return p.error();
  proactor_ = std::move(p.value());
  backendUsed_ = proactor_->backend();
  const config::Config& cfg = *snapshot_->config;
  std::size_t block = 16384;
  for (const config::ListenerConfig& l : cfg.listeners) {
    block = std::max<std::size_t>(block, l.maxRequestHeaderBytes);
  }
  buffers_ = std::make_unique<BufferPool>(block);
  accessLog_ = cfg.accessLog.enabled
                   ? std::make_unique<log::AccessLog>(cfg.accessLog.path, cfg.accessLog.format)
                   : std::make_unique<log::AccessLog>();
  metrics::WorkerCounters& counters = registry_.worker(index_);
  counters.buffers.store(buffers_.get());
  if (index_ == 0) registry_.setIoBackend(io::backendName(backendUsed_));
  clusters_.reserve(cfg.clusters.size());
  for (std::size_t i = 0; i < cfg.clusters.size(); ++i) {
    clusters_.emplace_back(cfg.clusters[i], *snapshot_->balancers[i], index_, workers_,
                           registry_.cluster(index_, cfg.clusters[i].name));
  }
  listenerContexts_.resize(cfg.listeners.size());
  for (std::size_t i = 0; i < cfg.listeners.size(); ++i) {
    const config::ListenerConfig& lc = cfg.listeners[i];
    io::ListenOptions opts;
    opts.backlog = static_cast<int>(lc.backlog);
    io::Address addr = bound_[i].valid() ? bound_[i] : lc.address;  // port 0: join the first
    auto l = proactor_->listen(addr, opts);
    if (!l) return l.error();
    if (!bound_[i].valid()) bound_[i] = l.value()->address();
    listeners_.push_back(std::move(l.value()));
    session::ListenerContext& ctx = listenerContexts_[i];
    ctx.index = i;
    ctx.config = &lc;
    ctx.routes = &snapshot_->routes[i];
    ctx.counters = &registry_.listener(index_, lc.name);
    ctx.routeCounters = registry_.routesOf(index_, lc);
    session::buildPolicies(cfg, lc, ctx);
    if (lc.protocol == config::ListenerProtocol::kTcp) {
      for (std::size_t k = 0; k < cfg.clusters.size(); ++k) {
        if (cfg.clusters[k].name == lc.cluster) ctx.tcpCluster = &clusters_[k];
      }
    }
  }
  context_.reset(
      new session::WorkerContext{*proactor_, *buffers_, *accessLog_, clusters_, {}, {}, {}, {}});
  for (const config::ClusterConfig& cc : cfg.clusters) {
    context_->endpointCounters.push_back(registry_.endpointsOf(index_, cc));
  }
  return true;
}

Result<bool> Worker::start() {
  std::promise<Result<bool>> started;
  auto result = started.get_future();
  thread_ = std::thread([this, &started] {
    // Everything of this worker is made on its own thread: an io_uring ring has one submitter.
    Result<bool> r = setUp();
    bool ok = r.ok();
    started.set_value(std::move(r));
    if (!ok) return;
    // Several accepts posted per listener ahead of clients (the AcceptEx way): a burst of
    // connections finds an operation waiting instead of queueing behind one.
    accepts_.assign(listeners_.size() * kAcceptsPerListener, nullptr);
    for (std::size_t i = 0; i < listeners_.size(); ++i) {
      for (int k = 0; k < kAcceptsPerListener; ++k) {
        spawn(acceptLoop(i, i * kAcceptsPerListener + static_cast<std::size_t>(k)));
      }
    }
    proactor_->run();
  });
  Result<bool> r = result.get();
  if (!r) thread_.join();
  return r;
}

Task<void> Worker::acceptLoop(std::size_t i, std::size_t slot) {
  session::ListenerContext& l = listenerContexts_[i];
  while (!stopping_.load(std::memory_order_relaxed) && !draining_) {
    io::AcceptAwaiter a(*proactor_, *listeners_[i]);
    accepts_[slot] = &a;
    io::IoResult r = co_await a;
    accepts_[slot] = nullptr;
    if (r.ec == std::errc::operation_canceled) break;
    if (r.ec) {
      log::warn("listener {}: accept: {}", l.config->name, r.ec.message());
      continue;
    }
    if (l.config->protocol == config::ListenerProtocol::kTcp) {
      spawn(session::serveTcp(*context_, l, std::move(a.socket), a.peer));
    } else if (l.config->kind == config::ListenerKind::kStatic) {
      spawn(session::serveStatic(*context_, l, std::move(a.socket), a.peer));
    } else {
      spawn(session::serveHttp(*context_, l, std::move(a.socket), a.peer));
    }
  }
}

void Worker::drain() {
  if (!proactor_) return;
  drainOp_.worker = this;
  proactor_->post(drainOp_);
}

void Worker::drainNow() {
  if (draining_) return;
  draining_ = true;
  // The accept loops end; a connection accepted meanwhile is still served (and closed after
  // its first response, since the registry drains).
  for (io::Operation* op : accepts_) {
    if (op != nullptr) proactor_->cancel(*op);
  }
  context_->sessions.drain(*proactor_);
}

std::size_t Worker::sessions() const {
  return context_ ? context_->sessions.size() : 0;
}

void Worker::stop() {
  stopping_.store(true);
  if (proactor_) proactor_->stop();
}

void Worker::join() {
  if (thread_.joinable()) thread_.join();
}

void drainWorkers(std::vector<std::unique_ptr<Worker>>& workers, Duration delay, Duration timeout) {
  if (delay > Duration::zero()) std::this_thread::sleep_for(delay);
  for (auto& w : workers) w->drain();
  auto deadline = std::chrono::steady_clock::now() + timeout;
  auto open = [&] {
    std::size_t n = 0;
    for (auto& w : workers) n += w->sessions();
    return n;
  };
  std::size_t left = open();
  while (left > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(20));
    left = open();
  }
  if (left > 0) {
    log::warn("drain: {} connection{} still open after the drain timeout; closing", left,
              left == 1 ? "" : "s");
  } else {
    log::info("drain: every connection closed");
  }
}

}  // namespace ferry::runtime
