#include "proxy/http/responses.h"

#include <array>
#include <string>

#include "proxy/http/rewrite.h"

namespace ferry::http {

namespace {
struct Reason {
  int status;
  std::string_view phrase;
};
// The IANA HTTP status code registry (RFC 9110 and the RFCs it names), plus 418 (RFC 2324).
constexpr Reason kReasons[] = {
    {100, "Continue"},
    {101, "Switching Protocols"},
    {102, "Processing"},
    {103, "Early Hints"},
    {200, "OK"},
    {201, "Created"},
    {202, "Accepted"},
    {203, "Non-Authoritative Information"},
    {204, "No Content"},
    {205, "Reset Content"},
    {206, "Partial Content"},
    {207, "Multi-Status"},
    {208, "Already Reported"},
    {226, "IM Used"},
    {300, "Multiple Choices"},
    {301, "Moved Permanently"},
    {302, "Found"},
    {303, "See Other"},
    {304, "Not Modified"},
    {305, "Use Proxy"},
    {307, "Temporary Redirect"},
    {308, "Permanent Redirect"},
    {400, "Bad Request"},
    {401, "Unauthorized"},
    {402, "Payment Required"},
    {403, "Forbidden"},
    {404, "Not Found"},
    {405, "Method Not Allowed"},
    {406, "Not Acceptable"},
    {407, "Proxy Authentication Required"},
    {408, "Request Timeout"},
    {409, "Conflict"},
    {410, "Gone"},
    {411, "Length Required"},
    {412, "Precondition Failed"},
    {413, "Content Too Large"},
    {414, "URI Too Long"},
    {415, "Unsupported Media Type"},
    {416, "Range Not Satisfiable"},
    {417, "Expectation Failed"},
    {418, "I'm a teapot"},
    {421, "Misdirected Request"},
    {422, "Unprocessable Content"},
    {423, "Locked"},
    {424, "Failed Dependency"},
    {425, "Too Early"},
    {426, "Upgrade Required"},
    {428, "Precondition Required"},
    {429, "Too Many Requests"},
    {431, "Request Header Fields Too Large"},
    {451, "Unavailable For Legal Reasons"},
    {500, "Internal Server Error"},
    {501, "Not Implemented"},
    {502, "Bad Gateway"},
    {503, "Service Unavailable"},
    {504, "Gateway Timeout"},
    {505, "HTTP Version Not Supported"},
    {506, "Variant Also Negotiates"},
    {507, "Insufficient Storage"},
    {508, "Loop Detected"},
    {510, "Not Extended"},
    {511, "Network Authentication Required"},
};
}  // namespace

std::string_view reasonPhrase(int status) {
  for (const Reason& r : kReasons) {
    if (r.status == status) return r.phrase;
  }
  return "Unknown";
}

namespace {

std::string_view connectionLine(ConnectionHeader c) {
  switch (c) {
    case ConnectionHeader::kClose:
      return "Connection: close\r\n";
    case ConnectionHeader::kKeepAlive:
      return "Connection: keep-alive\r\n";
    case ConnectionHeader::kNone:
      break;
  }
  return "";
}

// Built once, on first use; read-only afterwards (C++11 static init is thread-safe).
struct CannedTable {
  static constexpr std::array<int, 15> kStatuses = {400, 403, 404, 405, 408, 413, 414, 431,
                                                    500, 501, 502, 503, 504, 505, 0};
  static constexpr std::size_t kVariants = 3;  // ConnectionHeader values
  std::array<std::string, kStatuses.size() * kVariants> texts;
  CannedTable() {
    for (std::size_t i = 0; i < kStatuses.size(); ++i) {
      int st = kStatuses[i] == 0 ? 500 : kStatuses[i];
      std::string reason(reasonPhrase(st));
      std::string body = std::to_string(st) + " " + reason + "\n";
      for (std::size_t v = 0; v < kVariants; ++v) {
        texts[i * kVariants + v] =
            "HTTP/1.1 " + std::to_string(st) + " " + reason +
            "\r\nContent-Type: text/plain\r\nContent-Length: " + std::to_string(body.size()) +
            "\r\n" + std::string(connectionLine(static_cast<ConnectionHeader>(v))) + "\r\n" + body;
      }
    }
  }
};

}  // namespace

std::string_view cannedResponse(int status, ConnectionHeader connection) {
  static const CannedTable table;
  std::size_t i = 0;
  while (CannedTable::kStatuses[i] != status && CannedTable::kStatuses[i] != 0) ++i;
  return table.texts[i * CannedTable::kVariants + static_cast<std::size_t>(connection)];
}

std::string_view cannedResponse(int status, bool closeAfter) {
  return cannedResponse(status, closeAfter ? ConnectionHeader::kClose : ConnectionHeader::kNone);
}

bool writeCannedResponse(int status, std::string_view extraHeaders, ConnectionHeader connection,
                         HeadWriter& out) {
  if (status < 100 || status > 999) return false;
  std::string_view reason = reasonPhrase(status);
  out.put("HTTP/1.1 ").putNumber(static_cast<std::uint64_t>(status)).put(" ").put(reason);
  out.put("\r\nContent-Type: text/plain\r\nContent-Length: ");
  out.putNumber(4 + reason.size() + 1).put("\r\n").put(extraHeaders);
  out.put(connectionLine(connection)).put("\r\n");
  out.putNumber(static_cast<std::uint64_t>(status)).put(" ").put(reason).put("\n");
  return out.ok();
}

bool writeErrorPageHead(int status, std::uint64_t bodyBytes, ConnectionHeader connection,
                        HeadWriter& out) {
  if (status < 100 || status > 999) return false;
  out.put("HTTP/1.1 ").putNumber(static_cast<std::uint64_t>(status)).put(" ");
  out.put(reasonPhrase(status)).put("\r\nContent-Type: text/html\r\nContent-Length: ");
  out.putNumber(bodyBytes).put("\r\n").put(connectionLine(connection)).put("\r\n");
  return out.ok();
}

bool writeOptionsAnswer(std::string_view allow, ConnectionHeader connection, HeadWriter& out) {
  out.put("HTTP/1.1 200 OK\r\nAllow: ").put(allow).put("\r\nContent-Length: 0\r\n");
  out.put(connectionLine(connection)).put("\r\n");
  return out.ok();
}

namespace {
bool isSecret(std::string_view name) {
  return iequals(name, "authorization") || iequals(name, "proxy-authorization") ||
         iequals(name, "cookie") || iequals(name, "set-cookie");
}

// Writes (or, with a null writer, measures) the TRACE echo body.
std::size_t traceBody(const MessageHead& req, HeadWriter* out) {
  std::size_t n = 0;
  auto put = [&](std::string_view s) {
    n += s.size();
    if (out != nullptr) out->put(s);
  };
  char version[8] = {'H', 'T', 'T', 'P', '/', '1', '.', '1'};
  version[5] = static_cast<char>('0' + req.versionMajor % 10);
  version[7] = static_cast<char>('0' + req.versionMinor % 10);
  put(req.method);
  put(" ");
  put(req.target);
  put(" ");
  put(std::string_view(version, sizeof(version)));
  put("\r\n");
  for (std::size_t i = 0; i < req.headerCount; ++i) {
    if (isSecret(req.headers[i].name)) continue;
    put(req.headers[i].name);
    put(": ");
    put(req.headers[i].value);
    put("\r\n");
  }
  put("\r\n");
  return n;
}
}  // namespace

bool writeTraceAnswer(const MessageHead& req, ConnectionHeader connection, HeadWriter& out) {
  out.put("HTTP/1.1 200 OK\r\nContent-Type: message/http\r\nContent-Length: ");
  out.putNumber(traceBody(req, nullptr)).put("\r\n").put(connectionLine(connection)).put("\r\n");
  traceBody(req, &out);
  return out.ok();
}

}  // namespace ferry::http
