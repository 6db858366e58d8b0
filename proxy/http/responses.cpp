#include "proxy/http/responses.h"

#include <array>
#include <string>

#include "proxy/http/rewrite.h"

namespace ferry::http {

std::string_view reasonPhrase(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 101:
      return "Switching Protocols";
    case 200:
      return "OK";
    case 204:
      return "No Content";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 304:
      return "Not Modified";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 413:
      return "Content Too Large";
    case 414:
      return "URI Too Long";
    case 421:
      return "Misdirected Request";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    default:
      return "Unknown";
  }
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
  static constexpr std::array<int, 14> kStatuses = {400, 403, 404, 405, 408, 413, 414,
                                                    431, 500, 501, 502, 503, 504, 0};
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
