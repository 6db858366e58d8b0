#pragma once
// What a reload from one config to another does, item by item (listeners, their routes,
// clusters), by name: pure, no I/O. The runtime applies a reload by these rules; `ferry --check
// --diff OLD NEW` prints them.

#include <string>
#include <vector>

#include "proxy/config/config.h"

namespace ferry::config {

struct DiffItem {
  enum class Action {
    kAdd,     // only in the new config: bound (listener) or built (cluster, route)
    kChange,  // in both, defined differently: a listener keeps its socket unless its address
              // changed; a cluster gets new pools (requests in flight finish on the old ones)
    kDrain,   // only in the old config: stops taking new work; what is in flight finishes
    kKeep,    // in both, the same definition: sockets and pools carry over untouched
  };
  Action action = Action::kKeep;
  std::string kind;  // "listener", "route", "cluster", "setting"
  std::string name;  // listener / cluster name, "listener/route" for a route, a key for a setting
  std::string note;  // why it changed or what happens, may be empty
};

struct Diff {
  std::vector<DiffItem> items;  // listeners (each followed by its routes), clusters, settings
  bool changesAnything() const;
};

// The items of a reload from `from` to `to`. Settings that a reload cannot apply (workers, io,
// admin) appear as kChange with the note "needs a restart".
Diff diff(const Config& from, const Config& to);

// One line per item: "<add|change|drain|keep> <kind> <name>[: <note>]".
std::string format(const Diff& d);
// One item's line, without the newline.
std::string format(const DiffItem& i);

// Whether listener `to` can take over `from`'s listening sockets: same address and backlog.
bool sameSocket(const ListenerConfig& from, const ListenerConfig& to);

}  // namespace ferry::config
