#include "proxy/config/diff.h"

namespace ferry::config {
namespace {

const char* verb(DiffItem::Action a) {
  switch (a) {
    case DiffItem::Action::kAdd:
      return "add";
    case DiffItem::Action::kChange:
      return "change";
    case DiffItem::Action::kDrain:
      return "drain";
    case DiffItem::Action::kKeep:
      return "keep";
  }
  return "?";
}

const RouteConfig* findRoute(const ListenerConfig& l, const std::string& name) {
  for (const RouteConfig& r : l.routes) {
    if (r.name == name) return &r;
  }
  return nullptr;
}

// The listener without its routes (they are diffed one by one).
bool sameListenerSettings(const ListenerConfig& a, const ListenerConfig& b) {
  ListenerConfig x = a;
  ListenerConfig y = b;
  x.routes.clear();
  y.routes.clear();
  return x == y;
}

void diffRoutes(const ListenerConfig& from, const ListenerConfig& to, Diff& d) {
  for (const RouteConfig& r : to.routes) {
    const RouteConfig* old = findRoute(from, r.name);
    DiffItem::Action a = old == nullptr ? DiffItem::Action::kAdd
                         : *old == r    ? DiffItem::Action::kKeep
                                        : DiffItem::Action::kChange;
    d.items.push_back({a, "route", to.name + "/" + r.name, {}});
  }
  for (const RouteConfig& r : from.routes) {
    if (findRoute(to, r.name) == nullptr) {
      d.items.push_back({DiffItem::Action::kDrain, "route", from.name + "/" + r.name, {}});
    }
  }
}

}  // namespace

bool sameSocket(const ListenerConfig& from, const ListenerConfig& to) {
  return from.address == to.address && from.backlog == to.backlog;
}

bool Diff::changesAnything() const {
  for (const DiffItem& i : items) {
    if (i.action != DiffItem::Action::kKeep) return true;
  }
  return false;
}

Diff diff(const Config& from, const Config& to) {
  Diff d;
  for (const ListenerConfig& l : to.listeners) {
    const ListenerConfig* old = from.findListener(l.name);
    if (old == nullptr) {
      d.items.push_back(
          {DiffItem::Action::kAdd, "listener", l.name, "bound on " + l.address.toString()});
      for (const RouteConfig& r : l.routes) {
        d.items.push_back({DiffItem::Action::kAdd, "route", l.name + "/" + r.name, {}});
      }
      continue;
    }
    if (*old == l) {
      d.items.push_back({DiffItem::Action::kKeep, "listener", l.name, {}});
    } else if (!sameSocket(*old, l)) {
      d.items.push_back({DiffItem::Action::kChange, "listener", l.name,
                         "rebound on " + l.address.toString() + ", the old socket closes"});
    } else {
      d.items.push_back(
          {DiffItem::Action::kChange, "listener", l.name,
           sameListenerSettings(*old, l) ? "routes; socket kept" : "settings; socket kept"});
    }
    diffRoutes(*old, l, d);
  }
  for (const ListenerConfig& l : from.listeners) {
    if (to.findListener(l.name) == nullptr) {
      d.items.push_back({DiffItem::Action::kDrain, "listener", l.name,
                         "stops accepting; open connections finish on the old config"});
    }
  }
  for (const ClusterConfig& c : to.clusters) {
    const ClusterConfig* old = from.findCluster(c.name);
    if (old == nullptr) {
      d.items.push_back({DiffItem::Action::kAdd, "cluster", c.name, {}});
    } else if (*old == c) {
      d.items.push_back({DiffItem::Action::kKeep, "cluster", c.name, "pools kept"});
    } else {
      d.items.push_back({DiffItem::Action::kChange, "cluster", c.name,
                         "new pools; requests in flight finish on the old ones"});
    }
  }
  for (const ClusterConfig& c : from.clusters) {
    if (to.findCluster(c.name) == nullptr) {
      d.items.push_back({DiffItem::Action::kDrain, "cluster", c.name,
                         "requests in flight finish, then its pools close"});
    }
  }
  auto setting = [&](bool same, const char* key, bool restart) {
    if (same) return;
    d.items.push_back(
        {DiffItem::Action::kChange, "setting", key, restart ? "needs a restart" : ""});
  };
  setting(from.workers == to.workers, "workers", true);
  setting(from.io == to.io, "io", true);
  setting(from.admin.enabled == to.admin.enabled && from.admin.address == to.admin.address, "admin",
          true);
  setting(from.logLevel == to.logLevel, "log_level", true);
  setting(from.accessLog == to.accessLog, "access_log", true);
  setting(from.drainDelay == to.drainDelay, "drain_delay", false);
  setting(from.drainTimeout == to.drainTimeout, "drain_timeout", false);
  setting(from.watch == to.watch, "watch", true);
  return d;
}

std::string format(const DiffItem& i) {
  std::string out = verb(i.action);
  out += ' ';
  out += i.kind;
  out += ' ';
  out += i.name;
  if (!i.note.empty()) out += ": " + i.note;
  return out;
}

std::string format(const Diff& d) {
  std::string out;
  for (const DiffItem& i : d.items) out += format(i) + '\n';
  return out;
}

}  // namespace ferry::config
