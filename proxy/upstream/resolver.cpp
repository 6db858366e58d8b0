#include "proxy/upstream/resolver.h"

#ifdef _WIN32
#include "proxy/io/iocp/winsock.h"
#else
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <unistd.h>
#endif

#include <ares.h>

#include <algorithm>
#include <charconv>
#include <climits>
#include <mutex>
#include <thread>

#include "proxy/common/log.h"

namespace ferry::upstream {

static_assert(ARES_VERSION >= 0x011000, "c-ares 1.16 or later is needed (ares_getaddrinfo)");

Duration clampTtl(int ttlSeconds, Duration min, Duration max) {
  Duration ttl = seconds(std::max(ttlSeconds, 0));
  return std::clamp(ttl, min, std::max(min, max));
}

std::vector<io::Address> orderForConnect(const std::vector<io::Address>& addrs) {
  std::vector<io::Address> unique;
  unique.reserve(addrs.size());
  for (const io::Address& a : addrs) {
    if (std::find(unique.begin(), unique.end(), a) == unique.end()) unique.push_back(a);
  }
  if (unique.empty()) return unique;
  std::vector<io::Address> first, second;
  for (const io::Address& a : unique)
    (a.isV6() == unique.front().isV6() ? first : second).push_back(a);
  std::vector<io::Address> out;
  out.reserve(unique.size());
  for (std::size_t i = 0; i < std::max(first.size(), second.size()); ++i) {
    if (i < first.size()) out.push_back(first[i]);
    if (i < second.size()) out.push_back(second[i]);
  }
  return out;
}

std::optional<HostPort> splitHostPort(std::string_view s) {
  HostPort hp;
  std::string_view host, port;
  if (!s.empty() && s.front() == '[') {
    std::size_t close = s.find(']');
    if (close == std::string_view::npos || close + 1 >= s.size() || s[close + 1] != ':') {
      return std::nullopt;
    }
    host = s.substr(1, close - 1);
    port = s.substr(close + 2);
  } else {
    std::size_t colon = s.rfind(':');
    if (colon == std::string_view::npos) return std::nullopt;
    host = s.substr(0, colon);
    port = s.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) return std::nullopt;  // v6 needs brackets
  }
  unsigned p = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
  if (host.empty() || port.empty() || ec != std::errc() || end != port.data() + port.size() ||
      p > 65535) {
    return std::nullopt;
  }
  hp.host = std::string(host);
  hp.port = static_cast<std::uint16_t>(p);
  std::string literal = s.front() == '[' ? "[" + hp.host + "]:0" : hp.host + ":0";
  hp.literal = io::Address::parse(literal).has_value() && hp.host != "localhost";
  return hp;
}

namespace {

#ifdef _WIN32
using SocketHandle = SOCKET;
constexpr SocketHandle kNoSocket = INVALID_SOCKET;
void closeSocket(SocketHandle s) {
  ::closesocket(s);
}
#else
using SocketHandle = int;
constexpr SocketHandle kNoSocket = -1;
void closeSocket(SocketHandle s) {
  ::close(s);
}
#endif

// A UDP socket connected to itself: writing a byte wakes the resolver thread's select(), on
// Linux and Windows alike (select() on Windows takes only sockets, so no pipe or eventfd).
class Waker {
 public:
  bool open() {
    s_ = ::socket(AF_INET, SOCK_DGRAM, 0);
    if (s_ == kNoSocket) return false;
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(a);
    auto* sa = reinterpret_cast<sockaddr*>(&a);
    return ::bind(s_, sa, sizeof(a)) == 0 && ::getsockname(s_, sa, &len) == 0 &&
           ::connect(s_, sa, sizeof(a)) == 0;
  }
  ~Waker() {
    if (s_ != kNoSocket) closeSocket(s_);
  }
  void wake() { (void)::send(s_, "w", 1, 0); }
  void drain() {
    char buf[64];
#ifdef _WIN32
    u_long avail = 0;
    while (::ioctlsocket(s_, FIONREAD, &avail) == 0 && avail > 0) ::recv(s_, buf, sizeof(buf), 0);
#else
    while (::recv(s_, buf, sizeof(buf), MSG_DONTWAIT) > 0) {
    }
#endif
  }
  SocketHandle handle() const {
    return s_;
  }

 private:
  SocketHandle s_ = kNoSocket;
};

}  // namespace

struct Resolver::Impl {
  ResolverOptions opts;
  ares_channel channel = nullptr;
  Waker waker;
  std::mutex mu;
  std::vector<std::shared_ptr<ResolvedName>> names;  // guarded by mu
  std::atomic<bool> stop{false};
  std::thread thread;
  std::optional<std::string> newServers;  // guarded by mu: setNameservers' list, not yet applied

  // One query in flight: keeps its name alive until c-ares calls back.
  struct Query {
    Impl* impl;
    std::shared_ptr<ResolvedName> name;
  };

  void run();
  void applyServers();
  Duration minOf(const ResolvedName& n) const {
    std::int64_t v = n.minRefreshNs_.load(std::memory_order_relaxed);
    return v > 0 ? Duration(std::chrono::nanoseconds(v)) : opts.minRefresh;
  }
  Duration maxOf(const ResolvedName& n) const {
    std::int64_t v = n.maxRefreshNs_.load(std::memory_order_relaxed);
    return v > 0 ? Duration(std::chrono::nanoseconds(v)) : opts.maxRefresh;
  }
  void startQuery(const std::shared_ptr<ResolvedName>& n);
  void finish(ResolvedName& n, int status, ares_addrinfo* res);
  static void onResult(void* arg, int status, int timeouts, ares_addrinfo* res);
};

void Resolver::Impl::startQuery(const std::shared_ptr<ResolvedName>& n) {
  n->inFlight_ = true;
  ares_addrinfo_hints hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  // May call back inline (hosts file, numeric hosts); the callback handles either.
  ares_getaddrinfo(channel, n->host().c_str(), nullptr, &hints, &Impl::onResult,
                   new Query{this, n});
}

void Resolver::Impl::onResult(void* arg, int status, int /*timeouts*/, ares_addrinfo* res) {
  std::unique_ptr<Query> q(static_cast<Query*>(arg));
  if (status == ARES_EDESTRUCTION || status == ARES_ECANCELLED) {
    if (res) ares_freeaddrinfo(res);
    return;
  }
  q->impl->finish(*q->name, status, res);
  if (res) ares_freeaddrinfo(res);
}

void Resolver::Impl::finish(ResolvedName& n, int status, ares_addrinfo* res) {
  n.inFlight_ = false;
  TimePoint now = std::chrono::steady_clock::now();
  std::vector<io::Address> found;
  int ttl = INT_MAX;
  if (status == ARES_SUCCESS && res) {
    for (ares_addrinfo_node* node = res->nodes; node; node = node->ai_next) {
      if (!node->ai_addr || (node->ai_family != AF_INET && node->ai_family != AF_INET6)) continue;
      io::Address a = io::Address::fromRaw(node->ai_addr, node->ai_addrlen);
      a.setPort(n.port());
      found.push_back(a);
      ttl = std::min(ttl, node->ai_ttl);
    }
  }
  n.attempts_.fetch_add(1, std::memory_order_relaxed);
  std::shared_ptr<const AddressList> cur = n.list_.load();
  if (found.empty()) {
    n.failures_.fetch_add(1, std::memory_order_relaxed);
    const char* why = status == ARES_SUCCESS ? "no addresses" : ares_strerror(status);
    Duration minRefresh = minOf(n);
    if (!n.failing_) {
      log::warn("dns: {} does not resolve ({}); keeping its last {} address(es)", n.host(), why,
                cur ? cur->addresses.size() : 0);
      n.failing_ = true;
      n.retryDelay_ = minRefresh;
    } else {
      n.retryDelay_ = std::min(n.retryDelay_ * 2, std::max(minRefresh, maxOf(n)));
    }
    n.nextAt_ = now + n.retryDelay_;
    return;
  }
  if (n.failing_) log::info("dns: {} resolves again", n.host());
  n.failing_ = false;
  auto list = std::make_shared<AddressList>();
  list->host = n.host();
  list->port = n.port();
  list->addresses = orderForConnect(found);
  list->ttl = clampTtl(ttl, minOf(n), maxOf(n));
  n.nextAt_ = now + list->ttl;
  // Unchanged (as a set: a server that rotates its answers changes nothing): nothing to hand out.
  if (cur && cur->addresses.size() == list->addresses.size() &&
      std::all_of(list->addresses.begin(), list->addresses.end(), [&](const io::Address& a) {
        return std::find(cur->addresses.begin(), cur->addresses.end(), a) != cur->addresses.end();
      })) {
    return;
  }
  list->generation = cur ? cur->generation + 1 : 1;
  std::shared_ptr<const AddressList> published = std::move(list);
  n.list_.store(published);
  if (n.onChange_) n.onChange_(published);
}

void Resolver::Impl::applyServers() {
  std::string csv;
  {
    std::lock_guard lock(mu);
    if (!newServers) return;
    csv = std::move(*newServers);
    newServers.reset();
  }
  int rc = ARES_SUCCESS;
  if (csv.empty()) {
    // Back to the system's servers: read them as a new channel would, then take its list.
    ares_channel fresh = nullptr;
    ares_addr_port_node* servers = nullptr;
    rc = ares_init(&fresh);
    if (rc == ARES_SUCCESS) rc = ares_get_servers_ports(fresh, &servers);
    if (rc == ARES_SUCCESS) rc = ares_set_servers_ports(channel, servers);
    if (servers != nullptr) ares_free_data(servers);
    if (fresh != nullptr) ares_destroy(fresh);
  } else {
    rc = ares_set_servers_ports_csv(channel, csv.c_str());
  }
  if (rc != ARES_SUCCESS) {
    log::error("dns: name servers '{}': {}; keeping the previous ones", csv, ares_strerror(rc));
    return;
  }
  log::info("dns: name servers now {}", csv.empty() ? std::string("the system's") : csv);
  std::lock_guard lock(mu);
  for (const auto& n : names) n->nextAt_ = TimePoint{};  // ask the new servers at once
}

void Resolver::Impl::run() {
  std::vector<std::shared_ptr<ResolvedName>> due;
  while (!stop.load()) {
    applyServers();
    TimePoint now = std::chrono::steady_clock::now();
    TimePoint earliest = now + seconds(3600);
    due.clear();
    {
      std::lock_guard lock(mu);
      for (const auto& n : names) {
        if (n->inFlight_) continue;
        if (n->nextAt_ <= now)
          due.push_back(n);
        else
          earliest = std::min(earliest, n->nextAt_);
      }
    }
    for (const auto& n : due) startQuery(n);
    if (!due.empty()) continue;  // an inline answer may have set an earlier nextAt

    fd_set readers, writers;
    FD_ZERO(&readers);
    FD_ZERO(&writers);
    int nfds = ares_fds(channel, &readers, &writers);
    FD_SET(waker.handle(), &readers);
    nfds = std::max(nfds, static_cast<int>(waker.handle()) + 1);
    auto wait = std::chrono::duration_cast<std::chrono::microseconds>(earliest - now);
    timeval max{static_cast<long>(wait.count() / 1000000),
                static_cast<long>(wait.count() % 1000000)};
    timeval tv{};
    timeval* tvp = ares_timeout(channel, &max, &tv);
    ::select(nfds, &readers, &writers, nullptr, tvp);
    if (FD_ISSET(waker.handle(), &readers)) waker.drain();
    ares_process(channel, &readers, &writers);
  }
}

Resolver::Resolver(const ResolverOptions& opts) : opts_(opts), impl_(std::make_unique<Impl>()) {
  impl_->opts = opts;
}

Result<std::unique_ptr<Resolver>> Resolver::start(const ResolverOptions& opts) {
#ifdef _WIN32
  WSADATA wsa;
  ::WSAStartup(MAKEWORD(2, 2), &wsa);
#endif
  int rc = ares_library_init(ARES_LIB_INIT_ALL);
  if (rc != ARES_SUCCESS) {
    return Error{std::make_error_code(std::errc::io_error), ErrorSource::kInternal, false,
                 std::string("c-ares init: ") + ares_strerror(rc)};
  }
  std::unique_ptr<Resolver> r(new Resolver(opts));
  Impl& impl = *r->impl_;
  ares_options o{};
  int mask = ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_LOOKUPS;
  o.timeout = static_cast<int>(std::chrono::duration_cast<milliseconds>(opts.queryTimeout).count());
  o.tries = std::max(opts.tries, 1);
  char lookups[3] = {'f', 'b', '\0'};
  o.lookups = opts.hostsFile ? lookups : lookups + 1;
  rc = ares_init_options(&impl.channel, &o, mask);
  if (rc != ARES_SUCCESS) {
    impl.channel = nullptr;
    return Error{std::make_error_code(std::errc::io_error), ErrorSource::kInternal, false,
                 std::string("c-ares channel: ") + ares_strerror(rc)};
  }
  if (!opts.nameservers.empty()) {
    rc = ares_set_servers_ports_csv(impl.channel, opts.nameservers.c_str());
    if (rc != ARES_SUCCESS) {
      return Error{std::make_error_code(std::errc::invalid_argument), ErrorSource::kInternal, false,
                   "dns nameservers '" + opts.nameservers + "': " + ares_strerror(rc)};
    }
  }
  if (!impl.waker.open()) {
    return Error{std::make_error_code(std::errc::io_error), ErrorSource::kInternal, false,
                 "dns resolver: cannot open its wake-up socket"};
  }
  impl.thread = std::thread([&impl] { impl.run(); });
  return r;
}

Resolver::~Resolver() {
  if (impl_->thread.joinable()) {
    impl_->stop.store(true);
    impl_->waker.wake();
    impl_->thread.join();
  }
  // Cancels what is still pending: callbacks see ARES_EDESTRUCTION and only free their query.
  if (impl_->channel) ares_destroy(impl_->channel);
  ares_library_cleanup();
#ifdef _WIN32
  ::WSACleanup();
#endif
}

std::shared_ptr<ResolvedName> Resolver::watch(std::string host, std::uint16_t port,
                                              ChangeCallback onChange, Duration minRefresh,
                                              Duration maxRefresh) {
  auto n = std::make_shared<ResolvedName>(std::move(host), port);
  n->onChange_ = std::move(onChange);
  if (minRefresh > Duration::zero() && maxRefresh > Duration::zero()) {
    setRefresh(*n, minRefresh, maxRefresh);
  }
  n->retryDelay_ = minRefresh > Duration::zero() ? minRefresh : opts_.minRefresh;
  {
    std::lock_guard lock(impl_->mu);
    impl_->names.push_back(n);
  }
  impl_->waker.wake();
  return n;
}

void Resolver::unwatch(const std::shared_ptr<ResolvedName>& name) {
  std::lock_guard lock(impl_->mu);
  std::erase(impl_->names, name);
}

void Resolver::setRefresh(ResolvedName& name, Duration min, Duration max) {
  name.minRefreshNs_.store(std::chrono::duration_cast<std::chrono::nanoseconds>(min).count(),
                           std::memory_order_relaxed);
  name.maxRefreshNs_.store(std::chrono::duration_cast<std::chrono::nanoseconds>(max).count(),
                           std::memory_order_relaxed);
}

void Resolver::setNameservers(std::string nameservers) {
  {
    std::lock_guard lock(impl_->mu);
    impl_->newServers = std::move(nameservers);
  }
  impl_->waker.wake();
}

std::shared_ptr<ResolvedName> ResolvedName::fixed(const io::Address& address) {
  auto n = std::make_shared<ResolvedName>(address.host(), address.port());
  auto list = std::make_shared<AddressList>();
  list->host = n->host();
  list->port = n->port();
  list->addresses.push_back(address);
  list->generation = 1;
  n->list_.store(std::shared_ptr<const AddressList>(std::move(list)));
  return n;
}

}  // namespace ferry::upstream
