#include "proxy/http/rewrite.h"

#include <array>
#include <charconv>
#include <cstring>
#include <string>

namespace ferry::http {

HeadWriter& HeadWriter::put(std::string_view s) {
  if (!ok_ || s.size() > out_.size() - used_) {
    ok_ = false;
    return *this;
  }
  std::memcpy(out_.data() + used_, s.data(), s.size());
  used_ += s.size();
  return *this;
}

HeadWriter& HeadWriter::putNumber(std::uint64_t n) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof(buf), n);
  return put(std::string_view(buf, static_cast<std::size_t>(r.ptr - buf)));
}

bool isHopByHop(std::string_view name, std::string_view connection) {
  static constexpr std::array<std::string_view, 6> kFixed = {
      "connection", "keep-alive", "proxy-connection", "te", "trailer", "upgrade"};
  for (std::string_view h : kFixed) {
    if (iequals(name, h)) return true;
  }
  return !connection.empty() && hasToken(connection, name);
}

namespace {
void putHeader(HeadWriter& out, const Header& h) {
  out.put(h.name).put(": ").put(h.value).put("\r\n");
}
}  // namespace

bool writeUpstreamRequest(const MessageHead& req, std::string_view clientAddress, HeadWriter& out) {
  std::string_view connection = req.find("connection").value_or("");
  out.put(req.method).put(" ").put(req.target).put(" HTTP/1.1\r\n");
  bool sawProto = false;
  std::string_view priorXff;
  for (std::size_t i = 0; i < req.headerCount; ++i) {
    const Header& h = req.headers[i];
    if (isHopByHop(h.name, connection)) continue;
    if (iequals(h.name, "x-forwarded-for")) {
      priorXff = h.value;  // merged below into one header
      continue;
    }
    if (iequals(h.name, "x-forwarded-proto")) sawProto = true;
    // ferry answers "Expect: 100-continue" itself, so the upstream must not wait for it.
    if (iequals(h.name, "expect") && hasToken(h.value, "100-continue")) continue;
    putHeader(out, h);
  }
  out.put("X-Forwarded-For: ");
  if (!priorXff.empty()) out.put(priorXff).put(", ");
  out.put(clientAddress).put("\r\n");
  if (!sawProto) out.put("X-Forwarded-Proto: http\r\n");
  out.put("\r\n");
  return out.ok();
}

bool writeDownstreamResponse(const MessageHead& resp, bool closeAfter, HeadWriter& out) {
  std::string_view connection = resp.find("connection").value_or("");
  out.put("HTTP/1.1 ").putNumber(static_cast<std::uint64_t>(resp.status)).put(" ");
  out.put(resp.reason).put("\r\n");
  for (std::size_t i = 0; i < resp.headerCount; ++i) {
    const Header& h = resp.headers[i];
    if (!isHopByHop(h.name, connection)) putHeader(out, h);
  }
  if (closeAfter) out.put("Connection: close\r\n");
  out.put("\r\n");
  return out.ok();
}

namespace {
std::string_view reasonOf(int status) {
  switch (status) {
    case 400:
      return "Bad Request";
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
      return "Error";
  }
}

struct CannedTable {
  static constexpr std::array<int, 13> kStatuses = {400, 403, 404, 405, 408, 413, 431,
                                                    500, 501, 502, 503, 504, 0};
  std::array<std::string, kStatuses.size() * 2> texts;
  CannedTable() {
    for (std::size_t i = 0; i < kStatuses.size(); ++i) {
      int st = kStatuses[i] == 0 ? 500 : kStatuses[i];
      std::string body = std::to_string(st) + " " + std::string(reasonOf(st)) + "\n";
      for (int close = 0; close < 2; ++close) {
        texts[i * 2 + static_cast<std::size_t>(close)] =
            "HTTP/1.1 " + std::to_string(st) + " " + std::string(reasonOf(st)) +
            "\r\nContent-Type: text/plain\r\nContent-Length: " + std::to_string(body.size()) +
            (close != 0 ? "\r\nConnection: close" : "") + "\r\n\r\n" + body;
      }
    }
  }
};
}  // namespace

std::string_view cannedResponse(int status, bool closeAfter) {
  static const CannedTable table;
  std::size_t i = 0;
  while (CannedTable::kStatuses[i] != status && CannedTable::kStatuses[i] != 0) ++i;
  return table.texts[i * 2 + (closeAfter ? 1 : 0)];
}

}  // namespace ferry::http
