#pragma once
// Responses ferry writes by itself: canned error responses, the head of an error page whose body
// comes from a file, and the answers to OPTIONS/TRACE when Max-Forwards reaches 0.
//
// Canned responses live in static storage built once (the first call): no allocation per use.
// Writers write into caller memory (HeadWriter) and return false when it does not fit.

#include <cstdint>
#include <optional>
#include <string_view>

#include "proxy/http/message.h"

namespace ferry::http {

class HeadWriter;

// The Connection header a response ferry writes by itself carries.
enum class ConnectionHeader : std::uint8_t {
  kNone,       // HTTP/1.1 client staying open: no header
  kClose,      // "Connection: close": ferry closes after the response
  kKeepAlive,  // "Connection: keep-alive": an HTTP/1.0 client that asked to stay open
};

// The reason phrase for a status ("Not Found"); "Unknown" for codes it does not list.
std::string_view reasonPhrase(int status);

// A complete response with a text/plain body "404 Not Found\n". Statuses 400, 403, 404, 405, 408,
// 413, 414, 431, 500, 501, 502, 503, 504, 505; any other status gives the 500 response.
std::string_view cannedResponse(int status, ConnectionHeader connection);
// The same; closeAfter selects kClose, otherwise kNone (the form the session calls today).
std::string_view cannedResponse(int status, bool closeAfter);

// The same response as cannedResponse for any status 100..999, written into out, with
// extraHeaders (complete lines, each ending in CRLF: "Allow: GET\r\n") after Content-Length.
bool writeCannedResponse(int status, std::string_view extraHeaders, ConnectionHeader connection,
                         HeadWriter& out);

// The head of an error page whose body the caller sends from a file:
// "HTTP/1.1 <status> <reason>\r\nContent-Type: text/html\r\nContent-Length: <bodyBytes>\r\n"
// [Connection header]"\r\n". Accepts any status 100..999.
bool writeErrorPageHead(int status, std::uint64_t bodyBytes, ConnectionHeader connection,
                        HeadWriter& out);

// Max-Forwards (RFC 9110 7.6.2): true when req is OPTIONS or TRACE with "Max-Forwards: 0", so
// ferry is the final recipient and answers itself (writeOptionsAnswer / writeTraceAnswer) instead
// of forwarding. A missing or non-numeric Max-Forwards gives false (forward it).
bool answersMaxForwards(const MessageHead& req);
// The value to forward for OPTIONS/TRACE (received - 1), or nullopt when nothing is to change.
std::optional<std::uint64_t> forwardedMaxForwards(const MessageHead& req);

// "HTTP/1.1 200 OK\r\nAllow: <allow>\r\nContent-Length: 0\r\n"[Connection]"\r\n".
bool writeOptionsAnswer(std::string_view allow, ConnectionHeader connection, HeadWriter& out);

// A 200 "message/http" response whose body is the received request head (request line and header
// lines as received, then CRLF), without Authorization, Proxy-Authorization, Cookie and
// Set-Cookie (RFC 9110 9.3.8: exclude fields likely to hold secrets). Head and body are written
// together, so out must hold both.
bool writeTraceAnswer(const MessageHead& req, ConnectionHeader connection, HeadWriter& out);

}  // namespace ferry::http
