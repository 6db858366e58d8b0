#include "proxy/session/static_reply.h"

#include "proxy/http/conditional.h"
#include "proxy/route/route_table.h"

namespace ferry::session {
namespace {

std::string_view contentType(std::string_view path) {
  auto slash = path.rfind('/');
  if (slash != std::string_view::npos) path = path.substr(slash + 1);
  auto dot = path.rfind('.');
  std::string_view ext = dot == std::string_view::npos ? "" : path.substr(dot + 1);
  if (ext == "html" || ext == "htm") return "text/html; charset=utf-8";
  if (ext == "css") return "text/css";
  if (ext == "js") return "text/javascript";
  if (ext == "json") return "application/json";
  if (ext == "txt") return "text/plain; charset=utf-8";
  if (ext == "png") return "image/png";
  if (ext == "svg") return "image/svg+xml";
  return "application/octet-stream";
}

std::string_view reason(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 206:
      return "Partial Content";
    case 304:
      return "Not Modified";
    case 400:
      return "Bad Request";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 416:
      return "Range Not Satisfiable";
    default:
      return "Internal Server Error";
  }
}

// The validators of one file as its head carries them.
struct Validators {
  char etag[http::kMaxETagSize];
  std::size_t etagLen = 0;
  char modified[http::kHttpDateSize];
  std::size_t modifiedLen = 0;  // 0: the modification time is unknown (no Last-Modified)
  std::int64_t mtimeSeconds = 0;
  std::string_view etagText() const { return {etag, etagLen}; }
  std::string_view modifiedText() const { return {modified, modifiedLen}; }
};

void makeValidators(const StaticFile& f, Validators& v) {
  v.etagLen = http::formatETag(f.mtimeNs(), f.size(), v.etag);
  v.mtimeSeconds = static_cast<std::int64_t>(f.mtimeNs() / 1'000'000'000u);
  v.modifiedLen = f.mtimeNs() == 0 ? 0 : http::formatHttpDate(v.mtimeSeconds, v.modified);
}

// If-None-Match (every line of it) names the file, or is "*"; present: the request has one.
bool noneMatch(const http::MessageHead& req, std::string_view etag, bool& present) {
  present = false;
  for (std::size_t i = 0; i < req.headerCount; ++i) {
    const http::Header& h = req.headers[i];
    if (!http::iequals(h.name, "If-None-Match")) continue;
    present = true;
    if (http::noneMatchHits(h.value, etag)) return true;
  }
  return false;
}

// RFC 9110 13.2.2 step 3 and 4 for GET and HEAD: 304 when true.
bool notModified(const http::MessageHead& req, const Validators& v) {
  bool present = false;
  if (noneMatch(req, v.etagText(), present)) return true;
  if (present || v.modifiedLen == 0) return false;  // If-None-Match takes precedence
  auto since = req.find("If-Modified-Since");
  if (!since) return false;
  auto t = http::parseHttpDate(*since);
  return t && v.mtimeSeconds <= *t;
}

// RFC 9110 13.1.5: a Range is honoured without If-Range, or when If-Range names this very file
// (its strong ETag, or exactly its Last-Modified date).
bool ifRangeHolds(const http::MessageHead& req, const Validators& v) {
  auto value = req.find("If-Range");
  if (!value) return true;
  std::string_view s = *value;
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  if (s.starts_with('"') || s.starts_with("W/")) return http::strongETagMatch(s, v.etagText());
  auto t = http::parseHttpDate(s);
  return t && v.modifiedLen != 0 && *t == v.mtimeSeconds;
}

void putStatus(http::HeadWriter& out, int status, const config::ListenerConfig& cfg) {
  out.put("HTTP/1.1 ").putNumber(static_cast<std::uint64_t>(status)).put(" ");
  out.put(reason(status)).put("\r\nServer: ferry\r\nX-Served-By: ").put(cfg.name).put("\r\n");
}

void putValidators(http::HeadWriter& out, const Validators& v) {
  out.put("ETag: ").put(v.etagText()).put("\r\n");
  if (v.modifiedLen != 0) out.put("Last-Modified: ").put(v.modifiedText()).put("\r\n");
}

void endHead(http::HeadWriter& out, const http::MessageHead& req, bool closeAfter) {
  if (closeAfter) {
    out.put("Connection: close\r\n");
  } else if (req.isHttp10()) {
    out.put("Connection: keep-alive\r\n");
  }
  out.put("\r\n");
}

// An answer without a file: a text/plain body "<status> <reason>\n" (left out for HEAD); a 405
// carries Allow, a 416 the representation's length in Content-Range.
StaticReply errorReply(int status, Cause cause, const config::ListenerConfig& cfg,
                       const http::MessageHead& req, bool closeAfter, std::uint64_t fileSize,
                       http::HeadWriter& out) {
  std::string_view why = reason(status);
  putStatus(out, status, cfg);
  if (status == 405) out.put("Allow: GET, HEAD\r\n");
  if (status == 416) out.put("Content-Range: bytes */").putNumber(fileSize).put("\r\n");
  out.put("Content-Type: text/plain; charset=utf-8\r\nContent-Length: ");
  out.putNumber(3 + 1 + why.size() + 1).put("\r\n");
  endHead(out, req, closeAfter);
  if (!http::iequals(req.method, "HEAD")) {
    out.putNumber(static_cast<std::uint64_t>(status)).put(" ").put(why).put("\n");
  }
  return {status, cause, 0, 0};
}

StaticReply fileReply(const config::ListenerConfig& cfg, const http::MessageHead& req,
                      bool closeAfter, std::string_view path, const StaticFile& file,
                      http::HeadWriter& out) {
  Validators v;
  makeValidators(file, v);
  if (notModified(req, v)) {
    putStatus(out, 304, cfg);
    putValidators(out, v);
    endHead(out, req, closeAfter);
    return {304, Cause::kLocalResponse, 0, 0};
  }
  http::RangeRequest range;
  if (auto r = req.find("Range"); r && ifRangeHolds(req, v)) {
    range = http::parseRange(*r, file.size());
  }
  if (range.kind == http::RangeKind::kUnsatisfiable) {
    return errorReply(416, Cause::kLocalResponse, cfg, req, closeAfter, file.size(), out);
  }
  bool partial = range.kind == http::RangeKind::kSingle;
  StaticReply reply{partial ? 206 : 200, Cause::kLocalResponse, partial ? range.offset : 0,
                    partial ? range.length : file.size()};
  putStatus(out, reply.status, cfg);
  out.put("Content-Type: ").put(contentType(path)).put("\r\nContent-Length: ");
  out.putNumber(reply.length).put("\r\nAccept-Ranges: bytes\r\n");
  putValidators(out, v);
  if (partial) {
    out.put("Content-Range: bytes ").putNumber(reply.offset).put("-");
    out.putNumber(reply.offset + reply.length - 1).put("/").putNumber(file.size()).put("\r\n");
  }
  endHead(out, req, closeAfter);
  if (http::iequals(req.method, "HEAD")) reply.length = 0;
  return reply;
}

}  // namespace

StaticReply prepareStaticReply(const config::ListenerConfig& cfg, const StaticRoot& root,
                               const http::MessageHead& req, bool closeAfter, StaticFile& file,
                               http::HeadWriter& out) {
  if (!http::iequals(req.method, "GET") && !http::iequals(req.method, "HEAD")) {
    return errorReply(405, Cause::kMethodNotAllowed, cfg, req, closeAfter, 0, out);
  }
  char path[1024];
  std::size_t len = 0;
  switch (decodeStaticPath(route::keyOf(req.target, "").path, path, len)) {
    case PathVerdict::kOk:
      break;
    case PathVerdict::kBadRequest:
      return errorReply(400, Cause::kBadRequest, cfg, req, closeAfter, 0, out);
    case PathVerdict::kNotFound:
      return errorReply(404, Cause::kLocalResponse, cfg, req, closeAfter, 0, out);
  }
  if (root.openFile(path, file) != OpenVerdict::kOk) {
    return errorReply(404, Cause::kLocalResponse, cfg, req, closeAfter, 0, out);
  }
  return fileReply(cfg, req, closeAfter, {path, len}, file, out);
}

}  // namespace ferry::session
