#pragma once
// Resolving endpoint host names off the workers: c-ares on one resolver thread.
//
// A watched name is resolved at once, then again when its TTL runs out, the TTL clamped to the
// dns_refresh bounds [minRefresh, maxRefresh]. Each time its addresses change, a new immutable
// AddressList is published: readable from any thread with ResolvedName::current(), and handed to
// the watcher's callback (on the resolver thread; the caller routes it to the workers, e.g. with
// each worker's post(), so a worker swaps its copy at a safe point and never waits for DNS).
// A name that stops resolving (timeouts, NXDOMAIN, a dead server) keeps its last addresses; the
// first failure of a run logs a warning, the recovery an info line, and the name is retried
// after minRefresh, doubling up to maxRefresh.
//
// Addresses are ordered for connect_by_list: c-ares sorts each answer as RFC 6724 does
// (destination address selection), then the two families are interleaved, starting with the
// family of the best address (RFC 8305 section 4).
//
// Concurrency note: watch(), unwatch() and current() may be called from any thread; they take a
// mutex (watch/unwatch) or do one atomic shared_ptr load (current), never on a request's path:
// workers read the list they were handed. Everything else happens on the resolver thread.

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/common/result.h"
#include "proxy/common/time.h"
#include "proxy/io/address.h"

namespace ferry::upstream {

// One resolution's result. Immutable once published.
struct AddressList {
  std::string host;
  std::uint16_t port = 0;
  std::vector<io::Address> addresses;  // connect_by_list order, port set, no duplicates
  Duration ttl{};                      // the clamped TTL that schedules the next refresh
  std::uint64_t generation = 0;        // 1 for the first list, +1 for every change
};

struct ResolverOptions {
  // Name servers as "IP[:port]" or "[IPv6]:port", comma-separated; empty: the system's
  // (/etc/resolv.conf, or the Windows registry).
  std::string nameservers;
  Duration minRefresh = seconds(5);    // dns_refresh min: the TTL's floor, the first retry delay
  Duration maxRefresh = seconds(300);  // dns_refresh max: the TTL's ceiling, the longest retry
  Duration queryTimeout = seconds(2);  // per try and server
  int tries = 2;
  bool hostsFile = true;  // consult the hosts file before DNS; false: DNS only
};

// A watched name. Owned jointly by the caller and the resolver (until unwatched).
class ResolvedName {
 public:
  ResolvedName(std::string host, std::uint16_t port) : host_(std::move(host)), port_(port) {}
  // An IP literal's fixed list of one address (generation 1), never resolved: endpoints that
  // are literals and names are then read the same way.
  static std::shared_ptr<ResolvedName> fixed(const io::Address& address);
  const std::string& host() const { return host_; }
  std::uint16_t port() const { return port_; }
  // The latest address list, or null before the first successful resolution. Any thread.
  std::shared_ptr<const AddressList> current() const { return list_.load(); }
  // Publishes list as the current one (the resolver thread; tests play the resolver with it).
  void publish(std::shared_ptr<const AddressList> list) { list_.store(std::move(list)); }
  // Resolutions finished, and how many of them failed. Any thread.
  std::uint64_t attempts() const { return attempts_.load(std::memory_order_relaxed); }
  std::uint64_t failures() const { return failures_.load(std::memory_order_relaxed); }

 private:
  friend class Resolver;
  std::string host_;
  std::uint16_t port_;
  std::atomic<std::shared_ptr<const AddressList>> list_;
  std::atomic<std::uint64_t> attempts_{0};
  std::atomic<std::uint64_t> failures_{0};
  // This name's dns_refresh bounds (Resolver::setRefresh), in nanoseconds; 0: the resolver's.
  std::atomic<std::int64_t> minRefreshNs_{0};
  std::atomic<std::int64_t> maxRefreshNs_{0};
  // The resolver thread's own state.
  std::function<void(const std::shared_ptr<const AddressList>&)> onChange_;
  TimePoint nextAt_{};
  Duration retryDelay_{};
  bool inFlight_ = false;
  bool failing_ = false;
};

class Resolver {
 public:
  using ChangeCallback = std::function<void(const std::shared_ptr<const AddressList>&)>;

  // Starts the resolver thread. Fails when c-ares cannot be initialised or the name servers do
  // not parse.
  static Result<std::unique_ptr<Resolver>> start(const ResolverOptions& opts);
  // Stops the thread (pending queries are cancelled; their callbacks do not run) and joins it.
  ~Resolver();
  Resolver(const Resolver&) = delete;
  Resolver& operator=(const Resolver&) = delete;

  // Resolves host now and keeps it fresh. onChange, if set, runs on the resolver thread with each
  // new list (the first one included); it must not block. minRefresh / maxRefresh: this name's
  // dns_refresh bounds (zero: the options'). Any thread.
  std::shared_ptr<ResolvedName> watch(std::string host, std::uint16_t port,
                                      ChangeCallback onChange = {}, Duration minRefresh = {},
                                      Duration maxRefresh = {});
  // Stops refreshing name; its last list stays readable. Any thread.
  void unwatch(const std::shared_ptr<ResolvedName>& name);
  // Sets name's own dns_refresh bounds (in place of options().minRefresh / maxRefresh), used
  // from its next answer on. Any thread.
  void setRefresh(ResolvedName& name, Duration min, Duration max);
  // Replaces the name servers ("IP[:port],...", empty: the system's) on the resolver thread;
  // every watched name is then resolved again at once. A list c-ares rejects is logged and the
  // old servers stay. Any thread.
  void setNameservers(std::string nameservers);

  const ResolverOptions& options() const { return opts_; }

  struct Impl;

 private:
  explicit Resolver(const ResolverOptions& opts);
  ResolverOptions opts_;
  std::unique_ptr<Impl> impl_;
};

// The refresh delay for a record TTL in seconds: clamped to [min, max]; a negative TTL counts as 0.
Duration clampTtl(int ttlSeconds, Duration min, Duration max);

// addrs without duplicates (the first occurrence stays), families interleaved starting with the
// first address's family, each family keeping its order. Pure.
std::vector<io::Address> orderForConnect(const std::vector<io::Address>& addrs);

// An endpoint's "HOST:PORT" ("[v6]:port" for IPv6 literals) split into host and port; nullopt
// when the port is missing or out of range, or the host is empty. Pure.
struct HostPort {
  std::string host;
  std::uint16_t port = 0;
  bool literal = false;  // host is an IP address: no resolution needed
};
std::optional<HostPort> splitHostPort(std::string_view s);

}  // namespace ferry::upstream
