#include "proxy/runtime/worker.h"

#include <algorithm>
#include <chrono>
#include <future>
#include <thread>

#include "proxy/common/log.h"
#include "proxy/io/awaitables.h"

namespace ferry::runtime {

namespace {
constexpr std::size_t kAcceptsPerListener = 4;

// The listening socket's options. HTTP listeners defer accepts (Linux TCP_DEFER_ACCEPT, 1 s)
// until the client's first bytes arrived: the client always speaks first, so the accepted
// socket's first read finds the request instead of waiting for it (a wake-up less per new
// connection: io/README.md, S2); a client that stays silent is handed over after about 1 s and
// then has request_header_timeout. TCP listeners do not: there the server may speak first.
io::ListenOptions listenOptions(const config::ListenerConfig& lc) {
  io::ListenOptions o;
  o.backlog = static_cast<int>(lc.backlog);
  if (lc.protocol == config::ListenerProtocol::kHttp) o.deferAcceptSeconds = 1;
  return o;
}

// TCP and static sessions stay on the context they started with: the hold is taken here.
Task<void> serveTcpHeld(session::WorkerContext& w, session::ListenerContext& l, io::Socket s,
                        io::Address peer) {
  session::ListenerRef hold(l);
  co_await session::serveTcp(w, l, std::move(s), peer);
}
Task<void> serveStaticHeld(session::WorkerContext& w, session::ListenerContext& l, io::Socket s,
                           io::Address peer) {
  session::ListenerRef hold(l);
  co_await session::serveStatic(w, l, std::move(s), peer);
}

// spawn() for a client connection the accept gate admitted: when the session ends the
// connection is counted out (and a paused gate opens). The same one detached frame as spawn's.
ferry::detail::Detached spawnCounted(Task<void> session, io::AcceptGate& gate) {
  co_await std::move(session);
  gate.closed();
}
}  // namespace

std::shared_ptr<const Snapshot> Snapshot::build(std::shared_ptr<const config::Config> c,
                                                std::string text, const Snapshot* previous,
                                                upstream::EndpointSources sources) {
  auto s = std::make_shared<Snapshot>();
  s->sources = std::move(sources);
  for (const config::ListenerConfig& l : c->listeners) {
    s->routes.push_back(route::RouteTable::build(l.routes, *c));
  }
  for (const config::ClusterConfig& cc : c->clusters) {
    s->balancers.push_back(upstream::makeBalancerFactory(cc));
    // A cluster the reload keeps (same name, same definition) keeps its health board: the
    // workers keep that cluster object, and its health must not start over. One it changes
    // gets a new board that takes over the old one's endpoints by name (health, ejections,
    // cluster-wide counts); endpoints it adds ramp up under slow start.
    std::shared_ptr<upstream::HealthBoard> board;
    const upstream::HealthBoard* sameName = nullptr;
    for (std::size_t k = 0; previous != nullptr && k < previous->config->clusters.size(); ++k) {
      if (previous->config->clusters[k] == cc) board = previous->health[k];
      if (previous->config->clusters[k].name == cc.name) sameName = previous->health[k].get();
    }
    if (!board) board = std::make_shared<upstream::HealthBoard>(cc, sameName, SteadyClock().now());
    s->health.push_back(std::move(board));
  }
  s->config = std::move(c);
  s->text = std::move(text);
  return s;
}

Worker::ClusterHolder::ClusterHolder(std::shared_ptr<const Snapshot> o, std::size_t i,
                                     unsigned worker, unsigned workers,
                                     metrics::ClusterCounters& counters)
    : origin(std::move(o)),
      index(i),
      cluster(origin->config->clusters[i], *origin->balancers[i], worker, workers, counters) {
  cluster.attachHealth(origin->health[i]);
  if (i < origin->sources.size()) cluster.attachSources(origin->sources[i]);
}

Worker::ClusterHolder::~ClusterHolder() {
  cluster.retire();  // its idle connections close (and are counted out of the gauges)
}

Worker::Worker(unsigned index, unsigned workers, std::shared_ptr<const Snapshot> snapshot,
               metrics::Registry& registry, io::Backend backend, std::vector<io::Address>& bound,
               upstream::NameDirectory* names)
    : index_(index),
      workers_(workers),
      first_(std::move(snapshot)),
      registry_(registry),
      backendWanted_(backend),
      bound_(bound),
      names_(names) {
  namesChanged_.worker = this;
}

Worker::~Worker() {
  stop();
  join();
}

void Worker::refreshAddresses() {
  std::size_t changed = 0;
  auto refresh = [&](Generation& g) {
    for (const auto& h : g.clusters) changed += h->cluster.refreshAddresses();
  };
  for (auto& g : generations_) refresh(*g);
  if (prepared_) refresh(*prepared_);
  if (changed > 0) log::debug("worker {}: {} endpoint address list(s) changed", index_, changed);
}

std::unique_ptr<Worker::Generation> Worker::makeGeneration(std::shared_ptr<const Snapshot> s) {
  const config::Config& cfg = *s->config;
  auto g = std::make_unique<Generation>();
  g->snapshot = s;
  const Generation* newest = generations_.empty() ? nullptr : generations_.back().get();
  for (std::size_t i = 0; i < cfg.clusters.size(); ++i) {
    const config::ClusterConfig& cc = cfg.clusters[i];
    std::shared_ptr<ClusterHolder> keep;
    if (newest != nullptr) {
      for (const auto& h : newest->clusters) {
        if (h->cluster.config().name == cc.name && h->cluster.config() == cc) keep = h;
      }
    }
    if (!keep) {
      keep = std::make_shared<ClusterHolder>(s, i, index_, workers_,
                                             registry_.cluster(index_, cc.name));
      keep->cluster.setEndpointCells(registry_.endpointsOf(index_, cc));
      keep->cluster.start(*proactor_);  // its upkeep: idle expiry, min_idle warm connections
    }
    g->clusters.push_back(std::move(keep));
  }
  for (std::size_t i = 0; i < cfg.listeners.size(); ++i) {
    const config::ListenerConfig& lc = cfg.listeners[i];
    auto ctx = std::make_unique<session::ListenerContext>();
    ctx->index = i;
    ctx->config = &lc;
    ctx->routes = &s->routes[i];
    ctx->counters = &registry_.listener(index_, lc.name);
    ctx->routeCounters = registry_.routesOf(index_, lc);
    for (const auto& h : g->clusters) ctx->clusters.push_back(&h->cluster);
    session::buildPolicies(cfg, lc, *ctx);
    if (lc.protocol == config::ListenerProtocol::kTcp) {
      for (std::size_t k = 0; k < cfg.clusters.size(); ++k) {
        if (cfg.clusters[k].name == lc.cluster) ctx->tcpCluster = &g->clusters[k]->cluster;
      }
    }
    ctx->owner = this;
    g->listeners.push_back(std::move(ctx));
  }
  return g;
}

Result<bool> Worker::setUp() {
  auto p = io::makeProactor(backendWanted_);
  if (!p) return p.error();
  proactor_ = std::move(p.value());
  backendUsed_ = proactor_->backend();
  const config::Config& cfg = *first_->config;
  std::size_t block = 16384;
  for (const config::ListenerConfig& l : cfg.listeners) {
    block = std::max<std::size_t>(block, l.maxRequestHeaderBytes);
  }
  buffers_ = std::make_unique<BufferPool>(block);
  accessLog_ = cfg.accessLog.enabled
                   ? std::make_unique<log::AccessLog>(cfg.accessLog.path, cfg.accessLog.format)
                   : std::make_unique<log::AccessLog>();
  registry_.worker(index_).buffers.store(buffers_.get());
  if (index_ == 0) registry_.setIoBackend(io::backendName(backendUsed_));
  context_.reset(new session::WorkerContext{*proactor_, *buffers_, *accessLog_, {}, {}, {}, {}});
  acceptGate_ = std::make_unique<io::AcceptGate>(*proactor_, io::ConnectionBudget::process(),
                                                 "worker " + std::to_string(index_));
  // Subscribed before the first generation takes its lists: a change after that is posted.
  if (names_ != nullptr) names_->subscribe(namesChanged_, *proactor_);
  // The first snapshot goes the way of a reload: prepared (listeners bound), then committed.
  Result<bool> r = prepareNow(first_, bound_);
  if (!r) return r;
  first_.reset();
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
    commitNow();
    proactor_->run();
  });
  Result<bool> r = result.get();
  if (!r) thread_.join();
  return r;
}

void Worker::runOnWorker(std::function<void()> fn) {
  struct CallOp final : io::Operation {
    std::function<void()> fn;
    std::promise<void> done;
    void onComplete(std::error_code, std::size_t) override {
      fn();
      done.set_value();
    }
  };
  CallOp op;
  op.fn = std::move(fn);
  std::future<void> f = op.done.get_future();
  proactor_->post(op);
  f.wait();
}

Result<bool> Worker::prepare(std::shared_ptr<const Snapshot> next,
                             std::vector<io::Address>& bound) {
  Result<bool> r = true;
  runOnWorker([&] { r = prepareNow(std::move(next), bound); });
  return r;
}

void Worker::commit() {
  runOnWorker([this] { commitNow(); });
}

void Worker::abort() {
  runOnWorker([this] {
    prepared_.reset();
    preparedSlots_.clear();
    preparedNew_.clear();  // bound, never accepted on: no operation is pending on them
  });
}

Result<bool> Worker::prepareNow(std::shared_ptr<const Snapshot> next,
                                std::vector<io::Address>& bound) {
  const config::Config& cfg = *next->config;
  prepared_ = makeGeneration(next);
  preparedSlots_.clear();
  preparedNew_.clear();
  for (std::size_t i = 0; i < cfg.listeners.size(); ++i) {
    const config::ListenerConfig& lc = cfg.listeners[i];
    ListenerSlot* keep = nullptr;
    for (const auto& s : slots_) {
      if (!s->closing && s->name == lc.name && s->configured == lc.address &&
          s->options == listenOptions(lc)) {
        keep = s.get();
      }
    }
    if (keep != nullptr) {
      if (!bound[i].valid()) bound[i] = keep->listener->address();
      preparedSlots_.push_back(keep);
      continue;
    }
    io::ListenOptions opts = listenOptions(lc);
    io::Address addr = bound[i].valid() ? bound[i] : lc.address;  // port 0: join the first
    auto l = proactor_->listen(addr, opts);
    if (!l) {
      prepared_.reset();
      preparedSlots_.clear();
      preparedNew_.clear();
      Error e = l.error();
      e.detail = "listener " + lc.name + " on " + addr.toString() +
                 (e.detail.empty() ? "" : ": " + e.detail);
      return e;
    }
    if (!bound[i].valid()) bound[i] = l.value()->address();
    auto s = std::make_unique<ListenerSlot>();
    s->name = lc.name;
    s->configured = lc.address;
    s->options = opts;
    s->listener = std::move(l.value());
    preparedSlots_.push_back(s.get());
    preparedNew_.push_back(std::move(s));
  }
  return true;
}

void Worker::commitNow() {
  Generation& g = *prepared_;
  // A cluster the reload changed takes the idle connections of the endpoints it keeps (by
  // name) from the one it replaces, which is retired (its requests in flight finish).
  if (!generations_.empty()) {
    for (const auto& h : g.clusters) {
      for (const auto& old : generations_.back()->clusters) {
        if (old != h && old->cluster.config().name == h->cluster.config().name) {
          h->cluster.adoptPools(old->cluster);
        }
      }
    }
  }
  // Every older context points at its listener's context in the newest generation, so a
  // session moves there in one step between requests (ListenerRef::follow).
  for (auto& old : generations_) {
    for (auto& ctx : old->listeners) {
      ctx->newer = nullptr;
      for (auto& n : g.listeners) {
        if (n->config->name == ctx->config->name) ctx->newer = n.get();
      }
    }
  }
  generations_.push_back(std::move(prepared_));
  applyConnectionLimit();
  for (std::size_t i = 0; i < preparedSlots_.size(); ++i) {
    preparedSlots_[i]->current = g.listeners[i].get();
  }
  // Listeners the new config does not have stop accepting; each closes when its accept loops
  // have returned (closeSlot).
  for (auto& s : slots_) {
    if (std::find(preparedSlots_.begin(), preparedSlots_.end(), s.get()) != preparedSlots_.end()) {
      continue;
    }
    s->closing = true;
    for (io::Operation* op : s->accepts) {
      if (op != nullptr) proactor_->cancel(*op);
    }
    acceptGate_->wakeAll();  // its loops waiting at the gate end too
  }
  for (auto& s : preparedNew_) {
    slots_.push_back(std::move(s));
    if (draining_) {
      slots_.back()->closing = true;  // a reload while draining opens nothing new
    } else {
      startAccepting(*slots_.back());
    }
  }
  preparedNew_.clear();
  preparedSlots_.clear();
  if (index_ == 0) restartHealthChecks();
  for (auto it = slots_.begin(); it != slots_.end();) {
    if ((*it)->closing && (*it)->loops == 0) {
      it = slots_.erase(it);  // never accepted (draining): nothing pending on it
    } else {
      ++it;
    }
  }
  sweep();
}

void Worker::restartHealthChecks() {
  const Generation& g = *generations_.back();
  if (healthChecker_.checker) {
    healthChecker_.checker->stop();
    retiredCheckers_.push_back(std::move(healthChecker_));
  }
  Checker& c = healthChecker_;
  c = Checker{};
  c.snapshot = g.snapshot;
  std::vector<metrics::ClusterCounters*> counters;
  for (const auto& h : g.clusters) {
    c.boards.push_back(h->origin->health[h->index]);
    counters.push_back(&h->cluster.counters());
  }
  c.checker = std::make_unique<upstream::HealthChecker>(*proactor_, *c.snapshot->config, c.boards,
                                                        counters, c.snapshot->sources);
  c.checker->start();
}

void Worker::startAccepting(ListenerSlot& s) {
  // Several accepts posted per listener ahead of clients (the AcceptEx way): a burst of
  // connections finds an operation waiting instead of queueing behind one.
  s.accepts.assign(kAcceptsPerListener, nullptr);
  for (std::size_t k = 0; k < kAcceptsPerListener; ++k) spawn(acceptLoop(s, k));
}

void Worker::applyConnectionLimit() {
  const config::Config& cfg = *generations_.back()->snapshot->config;
  std::uint64_t fds = io::descriptorLimit();
  // Descriptors one client may hold: its socket and an upstream one, and in a spliced TCP
  // tunnel two pipes more (four descriptors).
  std::uint64_t per = 2;
  for (const config::ListenerConfig& l : cfg.listeners) {
    if (l.protocol == config::ListenerProtocol::kTcp && proactor_->canSplice()) per = 6;
  }
  std::uint64_t limit = io::connectionLimit(cfg.maxConnections, fds, per);
  io::ConnectionBudget& budget = io::ConnectionBudget::process();
  if (index_ == 0 && budget.limit() != limit) {
    log::info("client connections limited to {} (max_connections {}, {} file descriptors)", limit,
              cfg.maxConnections == 0 ? std::string("auto") : std::to_string(cfg.maxConnections),
              fds == 0 ? std::string("unlimited") : std::to_string(fds));
  }
  budget.setLimit(limit);
}

void Worker::pauseAccepts() {
  for (auto& slot : slots_) {
    for (io::Operation* op : slot->accepts) {
      if (op != nullptr) proactor_->cancel(*op);
    }
  }
}

// One of a listener's accept loops. Before each accept it asks the worker's gate (the process's
// connection limit, a pause after running out of descriptors); an accepted connection is counted
// in the budget before it is served, and waits while the budget is full (a few at most: one per
// loop). A cancelled accept is a pause or the listener's end: the loop's condition says which.
Task<void> Worker::acceptLoop(ListenerSlot& s, std::size_t k) {
  ++s.loops;
  auto ending = [&] { return stopping_.load(std::memory_order_relaxed) || draining_ || s.closing; };
  while (!ending()) {
    if (!acceptGate_->open()) {
      pauseAccepts();
      co_await acceptGate_->wait();
      continue;
    }
    io::AcceptAwaiter a(*proactor_, *s.listener);
    a.ahead = acceptGate_->ahead();
    s.accepts[k] = &a;
    io::IoResult r = co_await a;
    s.accepts[k] = nullptr;
    if (r.ec == std::errc::operation_canceled) continue;
    if (r.ec) {
      if (!acceptGate_->failed(r.ec)) {
        FERRY_WARN_LIMITED("listener {}: accept: {}", s.name, r.ec.message());
      }
      continue;
    }
    while (!acceptGate_->admit()) {
      if (ending()) {
        acceptGate_->admitAnyway();  // accepted while ending: still served, then closed
        break;
      }
      pauseAccepts();
      co_await acceptGate_->wait();
    }
    // A connection accepted while the listener was being removed is still served, on the
    // context it had (its generation lives while the slot points at it).
    session::ListenerContext& l = *s.current;
    if (l.config->protocol == config::ListenerProtocol::kTcp) {
      spawnCounted(serveTcpHeld(*context_, l, std::move(a.socket), a.peer), *acceptGate_);
    } else if (l.config->kind == config::ListenerKind::kStatic) {
      spawnCounted(serveStaticHeld(*context_, l, std::move(a.socket), a.peer), *acceptGate_);
    } else {
      spawnCounted(session::serveHttp(*context_, l, std::move(a.socket), a.peer), *acceptGate_);
    }
  }
  if (--s.loops == 0 && s.closing) closeSlot(s);
}

void Worker::closeSlot(ListenerSlot& s) {
  // No accept is pending on it any more: the listener may go (io::Listener's rule).
  log::debug("listener {}: closed by a reload", s.name);
  auto it = std::find_if(slots_.begin(), slots_.end(), [&](auto& p) { return p.get() == &s; });
  if (it != slots_.end()) slots_.erase(it);
  sweep();
}

// Frees generations that are not the newest, that no session holds and no listener slot serves.
void Worker::sweep() {
  for (auto it = generations_.begin(); it != generations_.end();) {
    Generation& g = **it;
    bool held = it->get() == generations_.back().get();
    for (auto& ctx : g.listeners) {
      if (ctx->users > 0) held = true;
      for (auto& s : slots_) {
        if (s->current == ctx.get()) held = true;
      }
    }
    it = held ? std::next(it) : generations_.erase(it);
  }
  generationCount_.store(generations_.size());
}

void Worker::unused(session::ListenerContext&) {
  // The last session on a context let go. Only a replaced generation can be freed; the newest
  // stays. Generations are few (one per reload still finishing), so a sweep is cheap.
  if (generations_.size() > 1) sweep();
}

void Worker::drain() {
  if (!proactor_) return;
  drainOp_.worker = this;
  proactor_->post(drainOp_);
}

void Worker::drainNow() {
  if (draining_) return;
  draining_ = true;
  // The accept loops end and the listening sockets close as a reload closes a removed listener
  // (closeSlot, once no accept is pending), so new connections are refused at once instead of
  // waiting in a backlog nobody accepts from until the exit. A connection accepted meanwhile is
  // still served (and closed after its first response, since the registry drains).
  for (auto& s : slots_) {
    s->closing = true;
    for (io::Operation* op : s->accepts) {
      if (op != nullptr) proactor_->cancel(*op);
    }
  }
  std::erase_if(slots_, [](const auto& s) { return s->loops == 0; });  // none pending on them
  acceptGate_->wakeAll();  // loops waiting at the gate end too
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
  if (names_ != nullptr) names_->unsubscribe(namesChanged_);
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
