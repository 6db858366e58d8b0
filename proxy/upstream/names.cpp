#include "proxy/upstream/names.h"

#include <algorithm>
#include <chrono>
#include <thread>

#include "proxy/common/log.h"

namespace ferry::upstream {

void NameSubscriber::onComplete(std::error_code, std::size_t) {
  directory_->delivered(*this);
  onNamesChanged();
}

NameDirectory::NameDirectory(ResolverOptions base) : base_(std::move(base)) {}

NameDirectory::~NameDirectory() {
  // The resolver's thread ends first: no change callback runs into a directory being destroyed.
  std::unique_ptr<Resolver> r;
  {
    std::lock_guard lock(mu_);
    r = std::move(resolver_);
  }
  r.reset();
}

Result<EndpointSources> NameDirectory::resolve(const config::Config& c) {
  // Each name's tightest bounds over the clusters that name it.
  struct Bounds {
    Duration min = Duration::max();
    Duration max = Duration::max();
  };
  std::map<std::string, Bounds> wanted;
  for (const config::ClusterConfig& cc : c.clusters) {
    for (const config::EndpointConfig& e : cc.endpoints) {
      if (!e.isName()) continue;
      Bounds& b = wanted[e.address];
      b.min = std::min(b.min, cc.dnsRefresh.min);
      b.max = std::min(b.max, cc.dnsRefresh.max);
    }
  }
  std::lock_guard lock(mu_);
  if (!wanted.empty() && !resolver_) {
    ResolverOptions opts = base_;
    opts.nameservers = c.resolver.nameservers;
    Result<std::unique_ptr<Resolver>> r = Resolver::start(opts);
    if (!r) return r.error();
    resolver_ = std::move(r.value());
    nameservers_ = c.resolver.nameservers;
    log::info("dns: resolver started ({} name{}; name servers: {})", wanted.size(),
              wanted.size() == 1 ? "" : "s",
              nameservers_.empty() ? std::string("the system's") : nameservers_);
  } else if (resolver_ && c.resolver.nameservers != nameservers_) {
    nameservers_ = c.resolver.nameservers;
    resolver_->setNameservers(nameservers_);
  }
  EndpointSources out;
  for (const config::ClusterConfig& cc : c.clusters) {
    std::vector<std::shared_ptr<ResolvedName>>& per = out.emplace_back();
    for (const config::EndpointConfig& e : cc.endpoints) {
      if (!e.isName()) {
        per.push_back(ResolvedName::fixed(*e.literal));
        continue;
      }
      const Bounds& b = wanted[e.address];
      std::shared_ptr<ResolvedName>& n = names_[e.address];
      if (!n) {
        n = resolver_->watch(
            e.host, e.port, [this](const std::shared_ptr<const AddressList>&) { changed(); }, b.min,
            b.max);
      } else {
        resolver_->setRefresh(*n, b.min, b.max);
      }
      per.push_back(n);
    }
  }
  return out;
}

void NameDirectory::retain(const config::Config& c) {
  std::lock_guard lock(mu_);
  for (auto it = names_.begin(); it != names_.end();) {
    bool used = false;
    for (const config::ClusterConfig& cc : c.clusters) {
      for (const config::EndpointConfig& e : cc.endpoints) used |= e.address == it->first;
    }
    if (used) {
      ++it;
      continue;
    }
    log::info("dns: {} is no longer an endpoint: not resolved any more", it->first);
    resolver_->unwatch(it->second);
    it = names_.erase(it);
  }
}

void NameDirectory::awaitFirstAnswers(const EndpointSources& sources, Duration limit) const {
  auto deadline = std::chrono::steady_clock::now() + limit;
  for (;;) {
    bool all = true;
    for (const auto& per : sources) {
      for (const auto& n : per) all &= n->current() != nullptr || n->attempts() > 0;
    }
    if (all || std::chrono::steady_clock::now() >= deadline) return;
    std::this_thread::sleep_for(milliseconds(5));
  }
}

void NameDirectory::subscribe(NameSubscriber& sub, io::Proactor& p) {
  std::lock_guard lock(mu_);
  sub.directory_ = this;
  sub.proactor_ = &p;
  sub.posted_ = false;
  subscribers_.push_back(&sub);
}

void NameDirectory::unsubscribe(NameSubscriber& sub) {
  std::lock_guard lock(mu_);
  std::erase(subscribers_, &sub);
}

bool NameDirectory::resolverStarted() const {
  std::lock_guard lock(mu_);
  return resolver_ != nullptr;
}

std::size_t NameDirectory::watched() const {
  std::lock_guard lock(mu_);
  return names_.size();
}

void NameDirectory::changed() {
  std::lock_guard lock(mu_);
  for (NameSubscriber* s : subscribers_) {
    if (s->posted_) continue;  // the pending one will read the newest lists
    s->posted_ = true;
    s->proactor_->post(*s);
  }
}

void NameDirectory::delivered(NameSubscriber& sub) {
  // Cleared before the worker reads the lists: a change from now on posts again.
  std::lock_guard lock(mu_);
  sub.posted_ = false;
}

}  // namespace ferry::upstream
