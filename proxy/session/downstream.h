#pragma once
// Pieces every kind of session uses on its client connection: reading a request head within
// the idle and header timeouts, answering with a canned status, and closing gracefully.

#include <string_view>

#include "proxy/common/buffer.h"
#include "proxy/common/task.h"
#include "proxy/http/parser.h"
#include "proxy/io/proactor.h"
#include "proxy/session/cancel.h"
#include "proxy/session/context.h"

namespace ferry::session {

enum class HeadOutcome {
  kReady,    // parser.head() is complete; its bytes start at in.data()
  kClosed,   // the client closed or idled out between requests: close quietly
  kTimeout,  // the head did not arrive within the header timeout: 408
  kInvalid,  // malformed or too large: answer parser.errorStatus() (400 or 431)
  kIoError,  // the connection failed: close quietly
};

struct HeadLimits {
  Duration idleTimeout;    // waiting for the first byte of a request
  Duration headerTimeout;  // from the first byte to the end of the head
  std::size_t maxBytes;    // a longer head is kInvalid with status 431
};

// Reads until parser has a whole head. in may already hold bytes (pipelining); it is compacted
// first so the head starts at in.data() and stays there while it is used.
Task<HeadOutcome> readHead(io::Proactor& p, io::NativeHandle s, Buffer& in, http::Parser& parser,
                           const HeadLimits& limits, const Clock& clock);

// Waits up to idleTimeout for a client's next bytes without holding a buffer (recvPooled), then
// moves them into a buffer taken from pool. If the proactor's pool is exhausted it waits with a
// buffer of its own instead. False when the client closed, idled out or failed, or when the wait
// was cancelled through slot (drain).
Task<bool> awaitClientBytes(io::Proactor& p, io::NativeHandle s, Buffer& in, BufferPool& pool,
                            Duration idleTimeout, CancelSlot* slot = nullptr);

// Sends all of bytes; false on any error or timeout.
Task<bool> sendAll(io::Proactor& p, io::NativeHandle s, std::string_view bytes, Duration timeout);

// A graceful close: shut down our side, then read and drop what the client still sends for a
// short while, so that a reset does not destroy the response it has not read yet.
Task<void> lingeringClose(io::Proactor& p, io::Socket s, Buffer& scratch);

// With accept_proxy_protocol: reads the PROXY v1/v2 header a trusted L4 balancer sends first,
// within proxy_protocol_timeout, into in (bytes after it stay there). On success peer becomes
// the original client's address. False (the caller closes) when it is malformed, late or absent.
Task<bool> readProxyHeader(WorkerContext& w, ListenerContext& l, io::Socket& client, Buffer& in,
                           io::Address& peer);

// The PROXY header a cluster with proxy_protocol sends first on each new connection, naming the
// client (peer) and the address it connected to (client's local address); 0 bytes when off.
std::size_t encodeProxyHeader(const config::ClusterConfig& c, const io::Socket& client,
                              const io::Address& peer, char* out, std::size_t cap);

}  // namespace ferry::session
