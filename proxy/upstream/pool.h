#pragma once
// The connection pool of one endpoint on one worker: pure bookkeeping (no I/O, no clock of its
// own), so every transition and limit is tested with a fake clock and invalid sockets.
// POOL.md beside this file draws the states.
//
// A connection is, at any time, in exactly one of these places:
// - opening: a slot is reserved (counted in total()) while the owner connects;
// - in use: owned by a request (a Lease in cluster.h), counted in total();
// - idle: owned by the pool, in the idle list (LIFO: the warmest first), counted in total();
// - handed to a waiter: moved into a queued PoolWaiter, which now owns it;
// - closed: its socket closed and its slot freed (total() decremented, the next waiter woken).
//
// Limits: max_connections caps the endpoint's connections (0: no cap): this pool's total(), or,
// with SharedSlots attached (share()), every worker's pools of the endpoint together. A request
// over it queues as a PoolWaiter (FIFO) and is handed the next connection given back, or the
// next freed slot: the pool wakes its own waiters itself. A slot freed by another worker is
// found by grantSlots(), which the owner calls on a short timer while waiters are queued (a
// worker cannot wake another's coroutine); meanwhile the other workers' pools holding more
// than their share (PoolLimits::keepShare) close connections given back rather than keep them
// idle (SharedSlots::wanted), and yieldIdle() closes idle ones, so that idle connections on one
// worker never starve another's requests.
// max_idle caps the idle list; idle_timeout, a backend's Keep-Alive timeout,
// max_connection_lifetime and max_requests_per_connection end connections; min_idle asks the owner
// to open connections ahead of demand (warmDeficit()).
//
// Idle connections are watched for the backend's close by a pending read that the owner
// starts and stops (PoolOwner: the I/O is the owner's, cluster.cpp): watchIdle() asks it to
// watch every idle connection not yet watched, every connection leaving the idle list has its
// watch stopped first, and watchFired() closes the connection whose watch completed. A
// connection given back and taken again at once is never watched: the request path costs
// nothing for it.
//
// Thread: one worker; nothing here is shared.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "proxy/common/time.h"
#include "proxy/io/socket.h"
#include "proxy/metrics/metrics.h"

namespace ferry::upstream {

struct PoolLimits {
  std::uint32_t maxConnections = 0;            // per endpoint (SharedSlots: cluster-wide); 0: none
  std::uint32_t maxIdle = 64;                  // idle connections kept
  std::uint32_t minIdle = 0;                   // idle connections kept open ahead of demand
  Duration idleTimeout = seconds(60);          // zero: idle connections never expire
  std::uint32_t maxRequestsPerConnection = 0;  // 0: no limit
  Duration maxConnectionLifetime{};            // zero: no limit
  // With SharedSlots: the connections this pool keeps although other workers' requests wait
  // for a slot (max_connections / workers: each worker's fair share), so that slots move
  // between workers only from one holding more than its share, not back and forth.
  std::uint32_t keepShare = 0;
};

// The connections of one endpoint across every worker, so that max_connections holds for the
// endpoint whatever the worker count (as HAProxy's maxconn): shared by the workers' pools of
// the endpoint (HealthBoard::Endpoint owns it). Touched once per connection opened or closed,
// and per request that has to wait; never per byte. Any thread, no lock.
struct SharedSlots {
  std::atomic<std::uint32_t> connections{0};  // open, opening or in use, every worker's
  std::atomic<std::uint32_t> wanted{0};       // requests queued for a slot, every worker's
  // Takes a slot if fewer than max are taken (max 0: no limit; counted all the same).
  bool reserve(std::uint32_t max) {
    std::uint32_t n = connections.load(std::memory_order_relaxed);
    do {
      if (max != 0 && n >= max) return false;
    } while (!connections.compare_exchange_weak(n, n + 1, std::memory_order_relaxed));
    return true;
  }
  void release() { connections.fetch_sub(1, std::memory_order_relaxed); }
};

// The owner's handle on the watch of one idle connection (see PoolOwner). Opaque to the pool.
class IdleWatch {
 protected:
  ~IdleWatch() = default;
};

// An upstream connection and what the limits need to know of it.
struct PooledConnection {
  io::Socket socket;
  TimePoint created{};
  std::uint32_t requests = 0;  // requests sent on it so far
  TimePoint idleSince{};       // while idle: when it became idle
  TimePoint expires{};         // while idle: when it must be closed
  IdleWatch* watch = nullptr;  // while idle: its watch, if the owner started one
};

// What the pool asks of its owner, which does the I/O (the pool does none). Worker thread; the
// pool calls it from inside its own calls, so an implementation must not re-enter the pool.
class EndpointPool;
class PoolOwner {
 public:
  // Starts watching c, idle in pool, for the backend's close (a pending read that reads
  // nothing); the pool stores the result in c.watch. Null: not watched (yet).
  virtual IdleWatch* watch(EndpointPool& pool, const PooledConnection& c) = 0;
  // Stops w: its connection leaves the idle list and its socket is used or closed right after.
  // The watch's completion may still come; the owner then ignores it.
  virtual void unwatch(IdleWatch& w) = 0;
  // Ends the socket of a connection the pool closes. clean: ferry ends a connection that is
  // fine (idle timeout, retired, max_idle), so the socket may be recycled for the next connect
  // (DisconnectEx(TF_REUSE_SOCKET) on Windows); otherwise (the backend closed it, an error) a
  // plain close.
  virtual void endSocket(EndpointPool& pool, io::Socket&& s, bool clean) = 0;

  virtual ~PoolOwner() = default;
};

// Why a connection was closed by the pool (for counting).
enum class CloseReason : std::uint8_t {
  kIdleExpired,  // idle past idle_timeout or the backend's Keep-Alive timeout
  kRetired,      // max_requests_per_connection or max_connection_lifetime reached
  kPoolFull,     // given back with max_idle connections already idle
  kPeerClosed,   // the backend closed it while idle (noticed by the owner)
  kBroken,       // the owner gave it up (error, not reusable)
};

// A request waiting for a connection (max_connections reached). Owned by the waiting request,
// linked into the pool's FIFO until the pool grants it something or the owner cancels it.
class PoolWaiter {
 public:
  enum class Grant : std::uint8_t {
    kNone,        // still waiting (or cancelled)
    kConnection,  // `connection` holds an open connection given back by another request
    kSlot,        // a slot was freed: the waiter may open a new connection (counted already)
  };
  virtual ~PoolWaiter() = default;
  // Called by the pool (inside giveBack/release/...) once grant is set. Must not re-enter the
  // pool; production waiters only cancel a timer here so the waiting coroutine resumes later.
  virtual void onGranted() = 0;

  Grant grant = Grant::kNone;
  PooledConnection connection;

 private:
  friend class EndpointPool;
  PoolWaiter* next_ = nullptr;
  PoolWaiter* prev_ = nullptr;
  bool queued_ = false;
};

class EndpointPool {
 public:
  // counters: the cluster's counters (idle and total gauges, close reasons); may be null.
  EndpointPool(const io::Address& address, const PoolLimits& limits,
               metrics::ClusterCounters* counters);
  EndpointPool(EndpointPool&&) = default;  // only before any connection or waiter exists
  EndpointPool& operator=(EndpointPool&&) = delete;
  ~EndpointPool();

  const io::Address& address() const { return address_; }
  // Counts this pool's connections and waiters in `shared` too, and takes max_connections as the
  // limit of every pool sharing it. Setup only, before any connection exists.
  void share(SharedSlots* shared) { shared_ = shared; }
  // The owner that watches idle connections and ends sockets (null: none; sockets are closed
  // and nothing is watched). Set once the owner stays where it is; before it is gone, its
  // idle connections must be closed (closeIdle) or moved away.
  void setOwner(PoolOwner* o) { owner_ = o; }
  const PoolLimits& limits() const { return limits_; }
  std::size_t idleCount() const { return idle_.size(); }
  // Connections open, opening or in use (the slots max_connections caps).
  std::size_t total() const { return total_; }
  std::size_t waiting() const { return waiting_; }

  enum class Take : std::uint8_t {
    kIdle,  // out holds an idle connection (the owner checks it is still open)
    kOpen,  // a slot is reserved: the owner connects, then fills out (see opened())
    kFull,  // max_connections reached: enqueue a PoolWaiter, or give up
  };
  // Takes the warmest idle connection (closing expired ones on the way), else reserves a slot
  // for a new one. fresh: never an idle connection (a retry); an idle one is closed if that is
  // what frees a slot. On kIdle out.requests is already incremented for the new request.
  Take take(TimePoint now, bool fresh, PooledConnection& out);
  // Queues w (FIFO) until a connection or a slot is granted to it.
  void enqueue(PoolWaiter& w);
  // Takes w out of the queue (its wait timed out); nothing if not queued.
  void cancel(PoolWaiter& w);

  // Gives back a connection whose exchange ended cleanly. keepAlive: the backend's Keep-Alive
  // timeout (zero: none said); the connection is closed just before it. Hands the connection to
  // the first waiter if any; else keeps it idle if the limits allow; else closes it.
  void giveBack(PooledConnection&& c, TimePoint now, Duration keepAlive = {});
  // Closes a connection (or gives up a reserved slot: c.socket invalid) and frees its slot,
  // which goes to the first waiter if any.
  void release(PooledConnection&& c, CloseReason why = CloseReason::kBroken);

  // Closes idle connections whose time is up; returns how many. The owner's timer calls it.
  std::size_t evictExpired(TimePoint now);
  // How many connections the owner should open now to keep min_idle idle ones (slots the
  // owner then reserves with reserveWarm()).
  std::size_t warmDeficit() const;
  // Reserves a slot for a connection opened ahead of demand; false when the limit is reached.
  bool reserveWarm();
  // A connection opened ahead of demand: goes to a waiter or to the idle list. On a failed
  // connect the owner calls release() with an invalid socket instead.
  void addWarm(PooledConnection&& c, TimePoint now);
  // Closes every idle connection (drain, removal on reload).
  void closeIdle();
  // With SharedSlots: grants slots freed by other workers to waiters here, as many as the
  // shared limit allows; returns how many. Without: nothing (this pool frees its own).
  std::size_t grantSlots();
  // With SharedSlots: while requests of other workers wait for a slot and none waits here,
  // closes idle connections past keepShare (the coldest first, at most as many as wait) so that
  // they get one. Returns how many it closed.
  std::size_t yieldIdle();
  // Moves this pool's idle connections to `to` (the same endpoint in a reloaded cluster), as
  // many as its max_idle takes, warmest last so they stay warmest there; closes the rest.
  // Returns how many moved.
  std::size_t moveIdleTo(EndpointPool& to);
  // From now on no connection given back is kept idle and none is opened ahead of demand: the
  // endpoint left the config (or its cluster did), its requests in flight finish.
  void retire() {
    limits_.maxIdle = 0;
    limits_.minIdle = 0;
    closeIdle();
  }
  // The earliest time an idle connection expires; TimePoint::max() with none.
  TimePoint nextExpiry() const;

  // Asks the owner to watch every idle connection not watched yet; returns how many it started.
  std::size_t watchIdle();
  // w completed (the backend closed its connection, sent bytes unasked, or the socket failed):
  // closes that idle connection, counted as kPeerClosed, and frees its slot. False if no idle
  // connection has w (it was unwatched first: nothing to do).
  bool watchFired(IdleWatch& w);

 private:
  // Idle expiry: idle_timeout, the Keep-Alive hint (minus a margin) and the lifetime, the first.
  TimePoint expiryOf(const PooledConnection& c, TimePoint now, Duration keepAlive) const;
  bool retired(const PooledConnection& c, TimePoint now) const;
  void close(PooledConnection& c, CloseReason why);
  // Stops c's watch, if any (c leaves the idle list).
  void unwatch(PooledConnection& c);
  void freeSlot();
  // A new slot for this pool: within max_connections (shared or not), counted.
  bool reserveSlot();
  // The slot's count goes (no waiter takes it).
  void dropSlot();
  // Another worker's request waits for a slot (shared) and this pool holds more than its
  // share: keep nothing idle past the share.
  bool othersWant() const {
    return shared_ != nullptr && waiting_ == 0 && total_ > limits_.keepShare &&
           shared_->wanted.load(std::memory_order_relaxed) != 0;
  }
  PoolWaiter* popWaiter();
  void keepOrHand(PooledConnection&& c, TimePoint now, Duration keepAlive);

  io::Address address_;
  PoolLimits limits_;
  metrics::ClusterCounters* counters_;
  PoolOwner* owner_ = nullptr;
  SharedSlots* shared_ = nullptr;
  std::vector<PooledConnection> idle_;  // LIFO: back() is the warmest
  std::size_t total_ = 0;
  std::size_t warming_ = 0;  // slots reserved by reserveWarm() and not yet filled
  std::size_t waiting_ = 0;
  PoolWaiter* head_ = nullptr;
  PoolWaiter* tail_ = nullptr;
};

// Counts a close for why in counters (the reason's own counter and
// ferry_upstream_connections_closed_total).
void countClose(metrics::ClusterCounters& counters, CloseReason why);

// The timeout a response's Keep-Alive header value gives ("timeout=5, max=100" -> 5s); zero
// when it names none or the value is not a number. Pure.
Duration keepAliveTimeout(std::string_view headerValue);

}  // namespace ferry::upstream
