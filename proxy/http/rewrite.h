#pragma once
// Writing message heads for the other side of the proxy, into caller memory (no allocation).
//
// Both directions drop hop-by-hop headers (Connection, Keep-Alive, Proxy-Connection, TE, Trailer,
// Upgrade, and every header the Connection header names), except Upgrade for a tunnel (a
// WebSocket handshake and its 101). Transfer-Encoding stays: bodies are forwarded verbatim,
// chunked framing included, except to HTTP/1.0 clients (see writeDownstreamResponse).
// Every writer returns false (or ok=false) when the head does not fit in the HeadWriter's span.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "proxy/http/message.h"
#include "proxy/http/responses.h"

namespace ferry::http {

struct RequestTarget;

// Appends text into a fixed span; once something does not fit, ok() is false for good.
class HeadWriter {
 public:
  explicit HeadWriter(std::span<char> out) : out_(out) {}
  HeadWriter& put(std::string_view s);
  HeadWriter& putNumber(std::uint64_t n);
  bool ok() const { return ok_; }
  std::size_t size() const { return used_; }
  std::string_view view() const { return {out_.data(), used_}; }

 private:
  std::span<char> out_;
  std::size_t used_ = 0;
  bool ok_ = true;
};

// True for headers a proxy must not forward (see the file comment); `connection` is the value of
// the message's Connection header, whose tokens name more of them.
bool isHopByHop(std::string_view name, std::string_view connection);

// How ferry treats one forwarding header (X-Forwarded-For, -Proto, -Host, Forwarded).
enum class ForwardMode : std::uint8_t {
  kAppend,   // a trusted client's value is kept (XFF and Forwarded: ferry's entry appended to it);
             // an untrusted client's copy is replaced by ferry's, never appended to
  kReplace,  // any incoming copy is dropped, ferry writes its own
  kOff,      // ferry adds none: a trusted client's copy passes, an untrusted client's is dropped
};

// One request_headers/response_headers rule. Names compare case-insensitively. Rules act after
// everything else, on ferry's own headers too (a "remove Via" removes ferry's Via).
struct HeaderRule {
  enum class Op : std::uint8_t {
    kAdd,     // one more "name: value" line, whatever is there
    kSet,     // every line of that name is dropped, then "name: value" is written once
    kRemove,  // every line of that name is dropped
  };
  Op op = Op::kAdd;
  std::string_view name;
  std::string_view value;  // unused for kRemove
};

// For the config loader: whether a rule may name this header with this value. Refuses names that
// are not tokens, framing and hop-by-hop headers (Content-Length, Transfer-Encoding, Connection,
// Keep-Alive, Proxy-Connection, TE, Trailer, Upgrade: a rule there would desync framing) and
// Host (use host_rewrite); values with CR, LF or NUL. Sets why to a static reason when refused.
bool headerRuleAllowed(std::string_view name, std::string_view value, std::string_view* why);

struct UpstreamRequestOptions {
  // The client's IP as text without brackets ("192.0.2.1", "2001:db8::1"): X-Forwarded-For and
  // Forwarded for= (quoted with brackets there when IPv6).
  std::string_view clientAddress;
  std::string_view proto = "http";  // the scheme the client used: X-Forwarded-Proto, proto=
  // The client's address is in trusted_proxies: its forwarding headers and X-Request-Id are kept.
  bool clientTrusted = false;
  ForwardMode xForwardedFor = ForwardMode::kAppend;
  ForwardMode xForwardedProto = ForwardMode::kAppend;
  ForwardMode xForwardedHost = ForwardMode::kOff;
  ForwardMode forwarded = ForwardMode::kOff;
  // Via pseudonym: "Via: 1.1 ferry" (1.0 for an HTTP/1.0 request) is appended; empty: no Via.
  std::string_view via = "ferry";
  // The id generated for this request. A trusted client's X-Request-Id is kept; otherwise any
  // incoming copy is replaced by this one. Empty: X-Request-Id passes through untouched.
  std::string_view requestId;
  // Replaces the Host header (host_rewrite), or adds it when the request has none. Empty: the
  // absolute-form authority if target says so, else the client's Host.
  std::string_view host;
  // The Host for a request that has none (HTTP/1.0) when `host` and the target name none: the
  // backend must get one.
  std::string_view fallbackHost;
  // The parsed request target (target.h), if the caller parsed it: an absolute-form target is
  // sent in origin-form and its authority becomes Host (RFC 9112 3.2.2). Null: sent as received.
  const RequestTarget* target = nullptr;
  std::span<const HeaderRule> rules;
  // A WebSocket-style upgrade is forwarded: Upgrade is kept and "Connection: upgrade" written.
  bool tunnel = false;
};

// The request head as the upstream gets it, in HTTP/1.1: method, target (see options), Host
// (from the request, `host`, the target or `fallbackHost`), the framing ferry parsed written by
// ferry in place of the client's Content-Length / Transfer-Encoding lines, headers in their order
// minus hop-by-hop ones, an untrusted client's forwarding headers and "Expect: 100-continue"
// (ferry answers it to the client itself), Max-Forwards decremented on OPTIONS/TRACE, then the
// forwarding headers, Via, X-Request-Id, "Connection: upgrade" for a tunnel, and the set/add rules,
// in that order.
bool writeUpstreamRequest(const MessageHead& req, const UpstreamRequestOptions& options,
                          HeadWriter& out);

// The form the session calls today: X-Forwarded-For appended to (every client trusted),
// X-Forwarded-Proto "http" added when absent, no Via, no X-Request-Id, no rules.
bool writeUpstreamRequest(const MessageHead& req, std::string_view clientAddress, HeadWriter& out);

// The X-Request-Id the backend gets (and the access log prints) under the rules above.
std::string_view effectiveRequestId(const MessageHead& req, bool clientTrusted,
                                    std::string_view generated);

struct DownstreamResponseOptions {
  std::string_view via = "ferry";  // as for requests; the version is the response's
  std::span<const HeaderRule> rules;
  bool closeAfter = false;      // ferry closes the client connection after this response anyway
  bool clientHttp10 = false;    // the request was HTTP/1.0 (MessageHead::isHttp10)
  bool clientKeepAlive = true;  // the request asked to stay open (MessageHead::keepAlive)
};

// What writeDownstreamResponse decided; the caller acts on it.
struct ResponsePlan {
  bool ok = false;          // the head was written (it fit)
  bool skip = false;        // nothing written: a 1xx (not 101) to an HTTP/1.0 client
  bool closeAfter = false;  // close the client connection after the body
  bool dechunk = false;     // send only the payload of the chunked body (ChunkedDecoder), then
                            // close: an HTTP/1.0 client gets a close-delimited body
  bool tunnel = false;      // 101: after this head the connection is a two-way tunnel
};

// The response head as the client gets it: "HTTP/1.1 status reason", headers minus hop-by-hop
// ones, Via, the rules, and the Connection header the plan needs:
// - 101: Upgrade kept, "Connection: upgrade", plan.tunnel.
// - other 1xx: no Connection header; skipped for an HTTP/1.0 client (RFC 9110 15.2).
// - HTTP/1.0 client: Transfer-Encoding dropped (a chunked body is de-chunked and close-delimited);
//   "Connection: keep-alive" only when the client asked, closeAfter is false and the length is
//   known (Content-Length, or no body); otherwise "Connection: close".
// - HTTP/1.1 client: "Connection: close" when closeAfter, when the client sent
//   "Connection: close", or when the body is delimited by the backend closing.
ResponsePlan writeDownstreamResponse(const MessageHead& resp,
                                     const DownstreamResponseOptions& options, HeadWriter& out);

// The form the session calls today: no Via, no rules, an HTTP/1.1 client.
bool writeDownstreamResponse(const MessageHead& resp, bool closeAfter, HeadWriter& out);

}  // namespace ferry::http
