#pragma once
// The process's endpoint names: one Resolver (resolver.h), started with the first DNS name any
// config has (a config of IP literals never starts its thread), one watch per distinct
// host:port shared by every cluster and every config snapshot that names it, and the workers to
// tell when a name's addresses change.
//
//   resolver thread ──onChange──> NameDirectory ──post()──> each worker's NameSubscriber
//                                                           └─> Cluster::refreshAddresses()
//
// A worker never waits for DNS and takes no lock per request: it reads the AddressList its
// clusters took at the last safe point (a posted completion). A reload that keeps a name keeps
// its watch and its addresses; retain() unwatches the names the new config no longer has (old
// snapshots still finishing requests keep their last lists).
//
// Concurrency note: one mutex guards the watches and the subscribers; it is taken by the
// runtime (start, reload), by workers subscribing, and by the resolver thread on a change: never
// on a request's path. Lock order: the directory's mutex, then the resolver's (watch()); the
// resolver calls back without holding its own.

#include <cstddef>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "proxy/common/result.h"
#include "proxy/config/config.h"
#include "proxy/io/proactor.h"
#include "proxy/upstream/resolver.h"

namespace ferry::upstream {

// Per cluster of a config, per endpoint: where its addresses come from (a DNS name's shared
// watch, or an IP literal's fixed list).
using EndpointSources = std::vector<std::vector<std::shared_ptr<ResolvedName>>>;

class NameDirectory;

// A worker's subscription: posted to its proactor (never twice at once) when some watched name's
// addresses changed. Owned by the worker; must stay subscribed no longer than it lives.
class NameSubscriber : public io::Operation {
 public:
  // On the worker's thread: some name changed; take the new lists (ResolvedName::current()).
  virtual void onNamesChanged() = 0;

 private:
  friend class NameDirectory;
  void onComplete(std::error_code, std::size_t) final;
  NameDirectory* directory_ = nullptr;
  io::Proactor* proactor_ = nullptr;
  bool posted_ = false;  // guarded by the directory's mutex
};

class NameDirectory {
 public:
  // base: the resolver's options but for the name servers, which come from each config.
  explicit NameDirectory(ResolverOptions base = {});
  // Stops the resolver thread (if started) before anything else goes.
  ~NameDirectory();
  NameDirectory(const NameDirectory&) = delete;
  NameDirectory& operator=(const NameDirectory&) = delete;

  // The sources of every endpoint of c: a fixed list for an IP literal; for a DNS name its
  // watch, made now if new (and resolved at once), with the tightest dns_refresh of the
  // clusters of c that name it. Starts the resolver with c.resolver.nameservers at the first
  // name, and gives a running one c's name servers if they changed. Fails only when the resolver
  // cannot start (c-ares, name servers), then nothing changed. Any thread but a worker's.
  Result<EndpointSources> resolve(const config::Config& c);
  // Unwatches every name c does not have (after a reload to c committed). Any thread.
  void retain(const config::Config& c);
  // Waits until every DNS name of sources has had an answer or a failure, at most `limit`, so
  // that the first requests find addresses. Main thread (start, reload); never a worker.
  void awaitFirstAnswers(const EndpointSources& sources, Duration limit) const;

  // Subscribes a worker (its proactor, on which sub is posted). Any thread.
  void subscribe(NameSubscriber& sub, io::Proactor& p);
  // Any thread; sub may still be pending in a proactor that no longer runs (it is never
  // completed then: the worker is ending).
  void unsubscribe(NameSubscriber& sub);

  bool resolverStarted() const;
  std::size_t watched() const;  // distinct names watched now (tests)

 private:
  friend class NameSubscriber;
  void changed();                       // the resolver thread: a name's addresses changed
  void delivered(NameSubscriber& sub);  // a worker: sub completed

  ResolverOptions base_;
  mutable std::mutex mu_;
  std::unique_ptr<Resolver> resolver_;                          // null until the first name
  std::string nameservers_;                                     // what the resolver uses
  std::map<std::string, std::shared_ptr<ResolvedName>> names_;  // by "host:port"
  std::vector<NameSubscriber*> subscribers_;
};

}  // namespace ferry::upstream
