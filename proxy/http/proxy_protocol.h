#pragma once
// The PROXY protocol (HAProxy's doc/proxy-protocol.txt), versions 1 and 2: a header a client-side
// L4 balancer sends first on a connection, giving the original client's and destination's
// addresses. Framing over bytes: no sockets, no allocation.
//
// Encoders write into a caller span and return the length written, 0 when it does not fit (or
// for a request v1 cannot express: LOCAL). Sizes: v1 at most kV1MaxBytes (107), v2 16 bytes plus
// 12 (IPv4) or 36 (IPv6) of addresses.
//
// The decoder takes the bytes received so far on a connection (the same buffer, grown, on each
// call) and says kNeedMore, kDone (consumed = the header's length; the client's data follow it)
// or kError with a reason (the caller closes the connection). It decides as early as the bytes
// allow: a first byte that starts neither signature is an error at once.
// v1 accepted: "PROXY TCP4|TCP6 <src> <dst> <sport> <dport>\r\n" with single spaces, addresses of
//   the announced family, ports 0..65535 without leading zeros, within 107 bytes; and
//   "PROXY UNKNOWN[ anything]\r\n". Rejected: everything else (bare LF, missing CRLF within 107
//   bytes, other protocols, extra fields).
// v2 accepted: the 12-byte signature, version 2, command LOCAL (addresses ignored: the balancer's
//   own connection, e.g. a health check) or PROXY; families UNSPEC (addresses unknown), INET,
//   INET6 (with transport STREAM or UNSPEC) and UNIX (reported as unknown); an address block at
//   least as long as the family needs; TLVs after the addresses are skipped. Rejected: another
//   version or command, an unknown family or transport, DGRAM, a block too short for its family,
//   a header longer than maxV2Bytes.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "proxy/common/cidr.h"

namespace ferry::http {

struct ProxyEndpoint {
  IpAddress ip;
  std::uint16_t port = 0;
};

struct ProxyHeader {
  enum class Kind : std::uint8_t {
    kProxy,    // source and destination hold the original connection's addresses
    kUnknown,  // relayed, addresses unknown (v1 UNKNOWN, v2 UNSPEC or UNIX): use the socket's
    kLocal,    // v2 LOCAL: the balancer's own connection (health check): use the socket's
  };
  Kind kind = Kind::kProxy;
  int version = 1;  // set by the decoder: 1 or 2
  ProxyEndpoint source;
  ProxyEndpoint destination;
};

inline constexpr std::size_t kProxyV1MaxBytes = 107;
inline constexpr std::size_t kProxyV2HeaderBytes = 16;
inline constexpr std::size_t kProxyV2DefaultMaxBytes = 4096;

// v1: "PROXY TCP4 ...\r\n" (TCP6 when either address is IPv6: an IPv4 one is then written
// v4-mapped) or "PROXY UNKNOWN\r\n". kLocal cannot be said in v1: returns 0.
std::size_t encodeProxyV1(const ProxyHeader& h, std::span<char> out);
// v2: PROXY over TCP/IPv4 or TCP/IPv6 (mixed families as for v1), PROXY UNSPEC for kUnknown,
// LOCAL UNSPEC for kLocal; no TLVs.
std::size_t encodeProxyV2(const ProxyHeader& h, std::span<char> out);

enum class ProxyVersions : std::uint8_t {
  kV1,   // only v1
  kV2,   // only v2
  kAny,  // either, told apart by the first byte
};

struct ProxyDecode {
  enum class Status : std::uint8_t {
    kNeedMore,  // a valid prefix: call again with more bytes
    kDone,      // header parsed: `consumed` bytes, `header` filled
    kError,     // malformed: `error` says why
  };
  Status status = Status::kNeedMore;
  std::size_t consumed = 0;
  ProxyHeader header;
  std::string_view error;  // static text
};

ProxyDecode decodeProxyHeader(std::string_view received, ProxyVersions accept = ProxyVersions::kAny,
                              std::size_t maxV2Bytes = kProxyV2DefaultMaxBytes);

}  // namespace ferry::http
