#include "proxy/http/rewrite.h"

#include <array>
#include <charconv>
#include <cstring>

#include "proxy/http/target.h"

namespace ferry::http {

HeadWriter& HeadWriter::put(std::string_view s) {
  if (!ok_ || s.size() > out_.size() - used_) {
    ok_ = false;
    return *this;
  }
  if (!s.empty()) std::memcpy(out_.data() + used_, s.data(), s.size());
  used_ += s.size();
  return *this;
}

HeadWriter& HeadWriter::putNumber(std::uint64_t n) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof(buf), n);
  return put(std::string_view(buf, static_cast<std::size_t>(r.ptr - buf)));
}

namespace {
constexpr std::array<std::string_view, 6> kHopByHop = {
    "connection", "keep-alive", "proxy-connection", "te", "trailer", "upgrade"};

bool isTokenChar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

void putHeader(HeadWriter& out, std::string_view name, std::string_view value) {
  out.put(name).put(": ").put(value).put("\r\n");
}
void putHeader(HeadWriter& out, const Header& h) {
  putHeader(out, h.name, h.value);
}

// Whether a set/remove rule takes this header away (ferry's own headers included).
bool suppressedByRules(std::span<const HeaderRule> rules, std::string_view name) {
  for (const HeaderRule& r : rules) {
    if (r.op != HeaderRule::Op::kAdd && iequals(r.name, name)) return true;
  }
  return false;
}

void putRules(HeadWriter& out, std::span<const HeaderRule> rules) {
  for (const HeaderRule& r : rules) {
    if (r.op != HeaderRule::Op::kRemove) putHeader(out, r.name, r.value);
  }
}

void putVia(HeadWriter& out, const MessageHead& m, std::string_view pseudonym) {
  out.put("Via: ").putNumber(static_cast<std::uint64_t>(m.versionMajor)).put(".");
  out.putNumber(static_cast<std::uint64_t>(m.versionMinor)).put(" ").put(pseudonym).put("\r\n");
}

// RFC 7239 4: a value is a token or a quoted-string.
void putForwardedValue(HeadWriter& out, std::string_view v, bool brackets) {
  bool token = !brackets && !v.empty();
  for (char c : v) token = token && isTokenChar(c);
  if (token) {
    out.put(v);
    return;
  }
  out.put("\"");
  if (brackets) out.put("[");
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (v[i] == '"' || v[i] == '\\') out.put("\\");
    out.put(v.substr(i, 1));
  }
  if (brackets) out.put("]");
  out.put("\"");
}

void putFraming(HeadWriter& out, const MessageHead& req) {
  if (req.chunked) {
    out.put("Transfer-Encoding: chunked\r\n");
  } else if (req.contentLength) {
    out.put("Content-Length: ").putNumber(*req.contentLength).put("\r\n");
  }
}

bool isMaxForwardsMethod(std::string_view method) {
  return method == "OPTIONS" || method == "TRACE";
}

std::optional<std::uint64_t> parseDecimal(std::string_view v) {
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  std::uint64_t n = 0;
  if (v.empty() || v.size() > 18) return std::nullopt;
  for (char c : v) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return n;
}

}  // namespace

bool isHopByHop(std::string_view name, std::string_view connection) {
  for (std::string_view h : kHopByHop) {
    if (iequals(name, h)) return true;
  }
  // Connection never takes away what frames or addresses the message (the parser refuses a
  // message whose Connection names them; this holds for any caller).
  if (iequals(name, "content-length") || iequals(name, "transfer-encoding") ||
      iequals(name, "host")) {
    return false;
  }
  return !connection.empty() && hasToken(connection, name);
}

bool headerRuleAllowed(std::string_view name, std::string_view value, std::string_view* why) {
  auto refuse = [why](std::string_view w) {
    if (why != nullptr) *why = w;
    return false;
  };
  if (name.empty()) return refuse("empty header name");
  for (char c : name) {
    if (!isTokenChar(c))
      return refuse("a header name is a token (letters, digits, !#$%&'*+-.^_`|~)");
  }
  if (iequals(name, "content-length") || iequals(name, "transfer-encoding")) {
    return refuse("Content-Length and Transfer-Encoding frame the body: rules may not touch them");
  }
  for (std::string_view h : kHopByHop) {
    if (iequals(name, h)) return refuse("hop-by-hop headers are ferry's to manage");
  }
  if (iequals(name, "host")) return refuse("Host is changed with host_rewrite");
  for (char c : value) {
    if (c == '\r' || c == '\n' || c == '\0') {
      return refuse("a header value may not hold CR, LF or NUL");
    }
  }
  return true;
}

std::string_view effectiveRequestId(const MessageHead& req, bool clientTrusted,
                                    std::string_view generated) {
  if (clientTrusted) {
    if (std::optional<std::string_view> id = req.find("x-request-id"); id && !id->empty()) {
      return *id;
    }
  }
  return generated;
}

std::optional<std::uint64_t> forwardedMaxForwards(const MessageHead& req) {
  if (!isMaxForwardsMethod(req.method)) return std::nullopt;
  std::optional<std::string_view> v = req.find("max-forwards");
  if (!v) return std::nullopt;
  std::optional<std::uint64_t> n = parseDecimal(*v);
  if (!n || *n == 0) return std::nullopt;
  return *n - 1;
}

bool answersMaxForwards(const MessageHead& req) {
  if (!isMaxForwardsMethod(req.method)) return false;
  std::optional<std::string_view> v = req.find("max-forwards");
  if (!v) return false;
  std::optional<std::uint64_t> n = parseDecimal(*v);
  return n && *n == 0;
}

bool writeUpstreamRequest(const MessageHead& req, const UpstreamRequestOptions& o,
                          HeadWriter& out) {
  std::string_view connection = req.find("connection").value_or("");
  const bool absolute = o.target != nullptr && o.target->form == TargetForm::kAbsolute;
  // Host as the client meant it (X-Forwarded-Host, Forwarded host=) and as the backend gets it.
  std::string_view clientHost =
      absolute ? o.target->authority : req.find("host").value_or(std::string_view());
  std::string_view newHost = !o.host.empty() ? o.host : absolute ? o.target->authority : "";
  const bool hasHost = req.find("host").has_value();
  // An HTTP/1.0 request may come without Host; the backend gets one (HTTP/1.1 requires it).
  if (!hasHost && newHost.empty()) newHost = o.fallbackHost;
  const bool keepIncoming[4] = {
      o.xForwardedFor == ForwardMode::kAppend && o.clientTrusted,
      o.xForwardedProto == ForwardMode::kAppend && o.clientTrusted,
      o.xForwardedHost == ForwardMode::kAppend && o.clientTrusted,
      o.forwarded == ForwardMode::kAppend && o.clientTrusted,
  };
  const ForwardMode modes[4] = {o.xForwardedFor, o.xForwardedProto, o.xForwardedHost, o.forwarded};
  static constexpr std::string_view kNames[4] = {"X-Forwarded-For", "X-Forwarded-Proto",
                                                 "X-Forwarded-Host", "Forwarded"};
  bool seen[4] = {false, false, false, false};
  bool sawRequestId = false;
  bool maxForwardsDone = false;
  bool upgradeKept = false;
  std::optional<std::uint64_t> maxForwards = forwardedMaxForwards(req);

  out.put(req.method).put(" ");
  if (o.target != nullptr) {
    writeOriginForm(req.method, req.target, *o.target, out);
  } else {
    out.put(req.target);
  }
  out.put(" HTTP/1.1\r\n");
  if (!hasHost && !newHost.empty() && !suppressedByRules(o.rules, "host")) {
    putHeader(out, "Host", newHost);
  }
  bool framingDone = false;
  for (std::size_t i = 0; i < req.headerCount; ++i) {
    const Header& h = req.headers[i];
    // The body's framing as ferry parsed it, written by ferry (never the client's lines, and
    // never dropped because Connection names them): the backend must split the stream exactly
    // where ferry did.
    if (iequals(h.name, "content-length") || iequals(h.name, "transfer-encoding")) {
      if (!framingDone) putFraming(out, req);
      framingDone = true;
      continue;
    }
    if (iequals(h.name, "host")) {
      if (!suppressedByRules(o.rules, h.name)) {
        putHeader(out, h.name, newHost.empty() ? h.value : newHost);
      }
      continue;
    }
    if (isHopByHop(h.name, connection)) {
      if (o.tunnel && iequals(h.name, "upgrade") && !upgradeKept) {
        putHeader(out, h);
        upgradeKept = true;
      }
      continue;
    }
    // ferry answers "Expect: 100-continue" itself, so the upstream must not wait for it.
    if (iequals(h.name, "expect") && hasToken(h.value, "100-continue")) continue;
    if (suppressedByRules(o.rules, h.name)) continue;
    bool handled = false;
    for (int k = 0; k < 4 && !handled; ++k) {
      if (!iequals(h.name, kNames[k])) continue;
      handled = true;
      seen[k] = true;
      // XFF and Forwarded are merged below into one line with ferry's entry; -Proto and -Host
      // stay in place when kept.
      // An untrusted client's copy never passes, whatever the mode (one rule for all four).
      bool passInPlace = (modes[k] == ForwardMode::kOff && o.clientTrusted) ||
                         (keepIncoming[k] && (k == 1 || k == 2));
      if (passInPlace) putHeader(out, h);
    }
    if (handled) continue;
    if (iequals(h.name, "x-request-id") && !o.requestId.empty()) {
      sawRequestId = true;
      if (o.clientTrusted) putHeader(out, h);
      continue;
    }
    if (iequals(h.name, "max-forwards") && maxForwards && !maxForwardsDone) {
      out.put(h.name).put(": ").putNumber(*maxForwards).put("\r\n");
      maxForwardsDone = true;
      continue;
    }
    putHeader(out, h);
  }
  auto joinIncoming = [&](std::string_view name) {
    bool first = true;
    for (std::size_t i = 0; i < req.headerCount; ++i) {
      if (!iequals(req.headers[i].name, name) || req.headers[i].value.empty()) continue;
      if (!first) out.put(", ");
      out.put(req.headers[i].value);
      first = false;
    }
    if (!first) out.put(", ");
  };
  if (o.xForwardedFor != ForwardMode::kOff && !suppressedByRules(o.rules, kNames[0])) {
    out.put("X-Forwarded-For: ");
    if (keepIncoming[0]) joinIncoming(kNames[0]);
    out.put(o.clientAddress).put("\r\n");
  }
  if (o.xForwardedProto != ForwardMode::kOff && !(keepIncoming[1] && seen[1]) &&
      !suppressedByRules(o.rules, kNames[1])) {
    putHeader(out, kNames[1], o.proto);
  }
  if (o.xForwardedHost != ForwardMode::kOff && !(keepIncoming[2] && seen[2]) &&
      !clientHost.empty() && !suppressedByRules(o.rules, kNames[2])) {
    putHeader(out, kNames[2], clientHost);
  }
  if (o.forwarded != ForwardMode::kOff && !suppressedByRules(o.rules, kNames[3])) {
    out.put("Forwarded: ");
    if (keepIncoming[3]) joinIncoming(kNames[3]);
    out.put("for=");
    putForwardedValue(out, o.clientAddress, o.clientAddress.find(':') != std::string_view::npos);
    out.put(";proto=");
    putForwardedValue(out, o.proto, false);
    if (!clientHost.empty()) {
      out.put(";host=");
      putForwardedValue(out, clientHost, false);
    }
    out.put("\r\n");
  }
  if (!o.via.empty() && !suppressedByRules(o.rules, "via")) putVia(out, req, o.via);
  if (!o.requestId.empty() && !(o.clientTrusted && sawRequestId) &&
      !suppressedByRules(o.rules, "x-request-id")) {
    putHeader(out, "X-Request-Id", o.requestId);
  }
  if (upgradeKept) out.put("Connection: upgrade\r\n");
  putRules(out, o.rules);
  out.put("\r\n");
  return out.ok();
}

bool writeUpstreamRequest(const MessageHead& req, std::string_view clientAddress, HeadWriter& out) {
  UpstreamRequestOptions o;
  o.clientAddress = clientAddress;
  o.clientTrusted = true;
  o.via = {};
  return writeUpstreamRequest(req, o, out);
}

ResponsePlan writeDownstreamResponse(const MessageHead& resp, const DownstreamResponseOptions& o,
                                     HeadWriter& out) {
  ResponsePlan plan;
  std::string_view connection = resp.find("connection").value_or("");
  const bool interim = resp.status / 100 == 1;
  const bool switching = resp.status == 101;
  if (interim && !switching && o.clientHttp10) {
    plan.ok = true;
    plan.skip = true;
    return plan;
  }
  out.put("HTTP/1.1 ").putNumber(static_cast<std::uint64_t>(resp.status)).put(" ");
  out.put(resp.reason).put("\r\n");
  bool upgradeKept = false;
  for (std::size_t i = 0; i < resp.headerCount; ++i) {
    const Header& h = resp.headers[i];
    if (isHopByHop(h.name, connection)) {
      if (switching && iequals(h.name, "upgrade") && !upgradeKept) {
        putHeader(out, h);
        upgradeKept = true;
      }
      continue;
    }
    if (o.clientHttp10 && iequals(h.name, "transfer-encoding")) continue;
    if (suppressedByRules(o.rules, h.name)) continue;
    putHeader(out, h);
  }
  if (!o.via.empty() && !suppressedByRules(o.rules, "via")) putVia(out, resp, o.via);
  putRules(out, o.rules);
  if (switching) {
    plan.tunnel = true;
    out.put("Connection: upgrade\r\n");
  } else if (!interim) {
    if (o.clientHttp10) {
      plan.dechunk = resp.expectsBody && resp.chunked;
      bool lengthKnown = !resp.expectsBody || resp.contentLength.has_value();
      plan.closeAfter = o.closeAfter || !o.clientKeepAlive || !lengthKnown;
      out.put(plan.closeAfter ? "Connection: close\r\n" : "Connection: keep-alive\r\n");
    } else {
      bool untilClose = resp.expectsBody && !resp.chunked && !resp.contentLength.has_value();
      plan.closeAfter = o.closeAfter || !o.clientKeepAlive || untilClose;
      if (plan.closeAfter) out.put("Connection: close\r\n");
    }
  }
  out.put("\r\n");
  plan.ok = out.ok();
  return plan;
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

}  // namespace ferry::http
