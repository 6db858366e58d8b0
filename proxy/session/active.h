#pragma once
// What HTTP exchanges and TCP tunnels share about holding an upstream connection.

#include <cstddef>
#include <system_error>

#include "proxy/session/outcome.h"
#include "proxy/upstream/cluster.h"

namespace ferry::session {

// Counts a request or tunnel as active on its cluster and endpoint (least_request reads the
// latter) for as long as it holds an upstream connection. Worker thread; lives on the stack of
// the coroutine that holds the connection.
class ActiveGuard {
 public:
  ActiveGuard(upstream::Cluster& c, std::size_t ep) : c_(c), ep_(ep), cells_(c.endpointCells(ep)) {
    c_.counters().active.add();
    if (cells_ != nullptr) cells_->active.add();
    c_.begin(ep_);
  }
  ~ActiveGuard() {
    c_.counters().active.sub();
    if (cells_ != nullptr) cells_->active.sub();
    c_.end(ep_);
  }
  ActiveGuard(const ActiveGuard&) = delete;
  ActiveGuard& operator=(const ActiveGuard&) = delete;

 private:
  upstream::Cluster& c_;
  std::size_t ep_;
  metrics::EndpointCounters* cells_;
};

// The cause a failed upstream connect ends in.
inline Cause connectCause(std::error_code ec) {
  if (ec == std::errc::connection_refused) return Cause::kUpstreamConnectRefused;
  if (ec == std::errc::timed_out) return Cause::kUpstreamConnectTimeout;
  return Cause::kUpstreamConnectFailed;
}

}  // namespace ferry::session
