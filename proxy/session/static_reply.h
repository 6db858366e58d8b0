#pragma once
// What a static listener answers one GET or HEAD with, decided before a byte is sent: the status
// (200, 206, 304, 400, 404, 405, 416), the head, and the file range that follows it. Conditional
// requests and ranges follow RFC 9110 13.2.2: If-None-Match (or, without it, If-Modified-Since)
// gives 304; then a single Range gives 206 (an If-Range that does not match the file's ETag or
// Last-Modified gives the whole file), an unsatisfiable one 416. HEAD is answered as GET without
// the body. No allocation on Linux.

#include <cstdint>
#include <string_view>

#include "proxy/config/config.h"
#include "proxy/http/message.h"
#include "proxy/http/rewrite.h"
#include "proxy/session/outcome.h"
#include "proxy/session/static_file.h"

namespace ferry::session {

struct StaticReply {
  int status = 200;
  Cause cause = Cause::kLocalResponse;
  std::uint64_t offset = 0;  // the file range sent after the head (200 and 206 to a GET)
  std::uint64_t length = 0;
};

// Opens the file the request names (into file) and writes the whole head, with the body of an
// error answer, to out. closeAfter: the connection closes after this response ("Connection:
// close"); an HTTP/1.0 client staying open gets "Connection: keep-alive".
StaticReply prepareStaticReply(const config::ListenerConfig& cfg, const StaticRoot& root,
                               const http::MessageHead& req, bool closeAfter, StaticFile& file,
                               http::HeadWriter& out);

}  // namespace ferry::session
