#pragma once
// Writing message heads for the other side of the proxy, into caller memory (no allocation).
//
// Both directions drop hop-by-hop headers (Connection, Keep-Alive, Proxy-Connection, TE, Trailer,
// Upgrade, and every header the Connection header names). Transfer-Encoding stays: bodies are
// forwarded verbatim, chunked framing included.

#include <cstddef>
#include <span>
#include <string_view>

#include "proxy/http/message.h"

namespace ferry::http {

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

// The request head as the upstream gets it: the same method, target and headers (HTTP/1.1),
// hop-by-hop headers removed, the client's address appended to X-Forwarded-For, and
// X-Forwarded-Proto set when absent; "Expect: 100-continue" is dropped (ferry answers it to the
// client itself). Returns false if it does not fit in out.
bool writeUpstreamRequest(const MessageHead& req, std::string_view clientAddress, HeadWriter& out);

// The response head as the client gets it: status line in HTTP/1.1, hop-by-hop headers removed,
// and "Connection: close" when ferry will close the client connection after this response.
bool writeDownstreamResponse(const MessageHead& resp, bool closeAfter, HeadWriter& out);

// A complete, short response ferry answers by itself (errors, 404 for no route), with a
// text/plain body naming the status. Kept in static storage: no allocation per use.
std::string_view cannedResponse(int status, bool closeAfter);

}  // namespace ferry::http
