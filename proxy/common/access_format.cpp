// Access-log formats: the default ferry line, combined, json and %FIELD% templates, written
// into a caller's buffer without allocating (the rings and the writer: access_log.cpp).

#include <algorithm>
#include <array>
#include <chrono>
#include <cstring>
#include <ctime>

#include "proxy/common/access_log.h"

namespace ferry::log {

namespace {

constexpr std::array<std::string_view, static_cast<std::size_t>(AccessField::kCount)> kFieldNames =
    {"TIME",     "CLIENT_ADDRESS", "CLIENT_PORT", "METHOD",      "TARGET",   "PROTOCOL",
     "STATUS",   "BYTES_IN",       "BYTES_OUT",   "DURATION_US", "UPSTREAM", "UPSTREAM_TIME_US",
     "CAUSE",    "RETRIES",        "REUSED",      "REQUEST_ID",  "ROUTE",    "CLUSTER",
     "LISTENER", "USER_AGENT",     "REFERER"};

// ferry's own line (the default): what an operator greps for first.
constexpr std::string_view kFerryTemplate =
    "%TIME% %CLIENT_ADDRESS% \"%METHOD% %TARGET% %PROTOCOL%\" %STATUS% %BYTES_IN% %BYTES_OUT% "
    "%DURATION_US%us route=%ROUTE% upstream=%UPSTREAM% cause=%CAUSE% retries=%RETRIES% "
    "reused=%REUSED% id=%REQUEST_ID%";
// ... and for a TCP listener's connection.
constexpr std::string_view kFerryTcpTemplate =
    "%TIME% %CLIENT_ADDRESS% tcp %LISTENER% %BYTES_IN% %BYTES_OUT% %DURATION_US%us "
    "upstream=%UPSTREAM% cause=%CAUSE%";

// The length of the well-formed UTF-8 sequence at s[i] (a byte >= 0x80), or 0 with bad set to
// the length of its maximal ill-formed subpart (at least 1), which one U+FFFD replaces (Unicode
// 3.9, Table 3-7; WHATWG decoders do the same). Ill-formed: a stray continuation byte, an
// overlong form (C0, C1, E0 80-9F, F0 80-8F), a surrogate (ED A0-BF), past U+10FFFF (F4 90-,
// F5-FF), a sequence cut short.
std::size_t utf8Sequence(std::string_view s, std::size_t i, std::size_t& bad) {
  auto c = static_cast<unsigned char>(s[i]);
  std::size_t len = 0;
  unsigned char lo = 0x80;  // the range of the second byte
  unsigned char hi = 0xBF;
  if (c >= 0xC2 && c <= 0xDF) {
    len = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    len = 3;
    lo = c == 0xE0 ? 0xA0 : lo;
    hi = c == 0xED ? 0x9F : hi;
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4;
    lo = c == 0xF0 ? 0x90 : lo;
    hi = c == 0xF4 ? 0x8F : hi;
  } else {
    bad = 1;
    return 0;
  }
  for (std::size_t k = 1; k < len; ++k) {
    auto x = i + k < s.size() ? static_cast<unsigned char>(s[i + k]) : 0;
    if (x < (k == 1 ? lo : 0x80) || x > (k == 1 ? hi : 0xBF)) {
      bad = k;
      return 0;
    }
  }
  return len;
}

// Appends to a fixed buffer; past the end, bytes are dropped (the line is truncated).
class Out {
 public:
  Out(char* p, std::size_t cap) : p_(p), cap_(cap) {}
  void put(char c) {
    if (n_ < cap_) p_[n_] = c;
    ++n_;
  }
  void put(std::string_view s) {
    std::size_t k = n_ < cap_ ? std::min(s.size(), cap_ - n_) : 0;
    std::memcpy(p_ + n_, s.data(), k);
    n_ += s.size();
  }
  void num(std::uint64_t v) {
    char b[24];
    std::size_t i = sizeof(b);
    do {
      b[--i] = static_cast<char>('0' + v % 10);
      v /= 10;
    } while (v != 0);
    put(std::string_view(b + i, sizeof(b) - i));
  }
  void snum(std::int64_t v) {
    if (v < 0) {
      put('-');
      num(static_cast<std::uint64_t>(-v));
    } else {
      num(static_cast<std::uint64_t>(v));
    }
  }
  void pad2(int v) {
    put(static_cast<char>('0' + v / 10 % 10));
    put(static_cast<char>('0' + v % 10));
  }
  // Text from the client: quotes, backslashes and control bytes as \xHH (as NGINX does), so a
  // line cannot be forged or broken.
  void text(std::string_view s) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    auto plain = [](char c) {
      auto u = static_cast<unsigned char>(c);
      return u >= 0x20 && u != 0x7f && c != '"' && c != '\\';
    };
    if (std::all_of(s.begin(), s.end(), plain)) {  // the usual case: one copy
      put(s);
      return;
    }
    for (char c : s) {
      auto u = static_cast<unsigned char>(c);
      if (u < 0x20 || u == 0x7f || c == '"' || c == '\\') {
        put("\\x");
        put(kHex[u >> 4]);
        put(kHex[u & 15]);
      } else {
        put(c);
      }
    }
  }
  // A JSON string's content: valid UTF-8 as it is; quotes, backslashes, control characters and
  // DEL escaped; every ill-formed sequence (see utf8Sequence) replaced by U+FFFD.
  void json(std::string_view s) {
    static constexpr char kHex[] = "0123456789abcdef";
    auto plain = [](char c) {
      auto u = static_cast<unsigned char>(c);
      return u >= 0x20 && u < 0x7f && c != '"' && c != '\\';
    };
    if (std::all_of(s.begin(), s.end(), plain)) {  // the usual case: one copy
      put(s);
      return;
    }
    for (std::size_t i = 0; i < s.size();) {
      char c = s[i];
      auto u = static_cast<unsigned char>(c);
      if (u >= 0x80) {
        std::size_t bad = 0;
        std::size_t n = utf8Sequence(s, i, bad);
        put(n != 0 ? s.substr(i, n) : std::string_view("\xEF\xBF\xBD"));
        i += n != 0 ? n : bad;
        continue;
      }
      if (c == '"' || c == '\\') {
        put('\\');
        put(c);
      } else if (u < 0x20 || u == 0x7f) {
        put("\\u00");
        put(kHex[u >> 4]);
        put(kHex[u & 15]);
      } else {
        put(c);
      }
      ++i;
    }
  }
  std::size_t size() const { return std::min(n_, cap_); }

 private:
  char* p_;
  std::size_t cap_;
  std::size_t n_ = 0;
};

// The wall clock, broken down once per second per thread.
struct WallTime {
  std::tm tm{};
  int ms = 0;
};
WallTime wallNow() {
  thread_local std::time_t cachedSecond = -1;
  thread_local std::tm cachedTm{};
  auto now = std::chrono::system_clock::now();
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  std::time_t sec = static_cast<std::time_t>(ms / 1000);
  if (sec != cachedSecond) {
#ifdef _WIN32
    gmtime_s(&cachedTm, &sec);
#else
    gmtime_r(&sec, &cachedTm);
#endif
    cachedSecond = sec;
  }
  return WallTime{cachedTm, static_cast<int>(ms % 1000)};
}

void iso8601(Out& o, const WallTime& t) {
  o.num(static_cast<std::uint64_t>(t.tm.tm_year + 1900));
  o.put('-');
  o.pad2(t.tm.tm_mon + 1);
  o.put('-');
  o.pad2(t.tm.tm_mday);
  o.put('T');
  o.pad2(t.tm.tm_hour);
  o.put(':');
  o.pad2(t.tm.tm_min);
  o.put(':');
  o.pad2(t.tm.tm_sec);
  o.put('.');
  o.put(static_cast<char>('0' + t.ms / 100));
  o.pad2(t.ms % 100);
  o.put('Z');
}

// [02/Dec/2026:03:35:03 +0000], the common log format's time.
void clf(Out& o, const WallTime& t) {
  static constexpr std::string_view kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                 "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  o.put('[');
  o.pad2(t.tm.tm_mday);
  o.put('/');
  o.put(kMonths[t.tm.tm_mon % 12]);
  o.put('/');
  o.num(static_cast<std::uint64_t>(t.tm.tm_year + 1900));
  o.put(':');
  o.pad2(t.tm.tm_hour);
  o.put(':');
  o.pad2(t.tm.tm_min);
  o.put(':');
  o.pad2(t.tm.tm_sec);
  o.put(" +0000]");
}

std::string_view orDash(std::string_view s) {
  return s.empty() ? std::string_view("-") : s;
}

void field(Out& o, AccessField f, const AccessRecord& r, const WallTime& t) {
  switch (f) {
    case AccessField::kTime:
      iso8601(o, t);
      break;
    case AccessField::kClientAddress:
      o.put(orDash(r.clientAddress));
      break;
    case AccessField::kClientPort:
      o.num(r.clientPort);
      break;
    case AccessField::kMethod:
      o.text(orDash(r.method));
      break;
    case AccessField::kTarget:
      o.text(orDash(r.target));
      break;
    case AccessField::kProtocol:
      o.put(orDash(r.protocol));
      break;
    case AccessField::kStatus:
      o.num(static_cast<std::uint64_t>(r.status));
      break;
    case AccessField::kBytesIn:
      o.num(r.bytesIn);
      break;
    case AccessField::kBytesOut:
      o.num(r.bytesOut);
      break;
    case AccessField::kDurationUs:
      o.num(r.durationUs);
      break;
    case AccessField::kUpstream:
      o.put(orDash(r.upstream));
      break;
    case AccessField::kUpstreamTimeUs:
      if (r.upstreamTimeUs < 0) {
        o.put('-');
      } else {
        o.snum(r.upstreamTimeUs);
      }
      break;
    case AccessField::kCause:
      o.put(orDash(r.cause));
      break;
    case AccessField::kRetries:
      o.num(static_cast<std::uint64_t>(r.retries));
      break;
    case AccessField::kReused:
      o.put(r.reused ? '1' : '0');
      break;
    case AccessField::kRequestId:
      o.text(orDash(r.requestId));
      break;
    case AccessField::kRoute:
      o.put(orDash(r.route));
      break;
    case AccessField::kCluster:
      o.put(orDash(r.cluster));
      break;
    case AccessField::kListener:
      o.put(orDash(r.listener));
      break;
    case AccessField::kUserAgent:
      o.text(orDash(r.userAgent));
      break;
    case AccessField::kReferer:
      o.text(orDash(r.referer));
      break;
    case AccessField::kCount:
      break;
  }
}

void jsonLine(Out& o, const AccessRecord& r, const WallTime& t) {
  auto str = [&](std::string_view key, std::string_view v, bool first = false) {
    if (!first) o.put(',');
    o.put('"');
    o.put(key);
    o.put("\":");
    if (v.empty()) {
      o.put("null");
      return;
    }
    o.put('"');
    o.json(v);
    o.put('"');
  };
  auto num = [&](std::string_view key, std::int64_t v) {
    o.put(",\"");
    o.put(key);
    o.put("\":");
    o.snum(v);
  };
  o.put("{\"time\":\"");
  iso8601(o, t);
  o.put('"');
  str("client_address", r.clientAddress);
  num("client_port", r.clientPort);
  str("method", r.method);
  str("target", r.target);
  str("protocol", r.protocol);
  num("status", r.status);
  num("bytes_in", static_cast<std::int64_t>(r.bytesIn));
  num("bytes_out", static_cast<std::int64_t>(r.bytesOut));
  num("duration_us", static_cast<std::int64_t>(r.durationUs));
  str("upstream", r.upstream);
  if (r.upstreamTimeUs < 0) {
    o.put(",\"upstream_time_us\":null");
  } else {
    num("upstream_time_us", r.upstreamTimeUs);
  }
  str("cause", r.cause);
  num("retries", r.retries);
  o.put(",\"reused\":");
  o.put(r.reused ? "true" : "false");
  str("request_id", r.requestId);
  str("route", r.route);
  str("cluster", r.cluster);
  str("listener", r.listener);
  str("user_agent", r.userAgent);
  str("referer", r.referer);
  o.put('}');
}

}  // namespace

std::string_view accessFieldName(AccessField f) {
  return f < AccessField::kCount ? kFieldNames[static_cast<std::size_t>(f)] : "";
}

std::optional<AccessFormat> AccessFormat::parse(std::string_view spec, std::string& error) {
  AccessFormat f;
  if (spec == "combined") {
    f.kind_ = Kind::kCombined;
    return f;
  }
  if (spec == "json") {
    f.kind_ = Kind::kJson;
    return f;
  }
  if (spec == kDefault) {
    std::optional<AccessFormat> tcp = parse(kFerryTcpTemplate, error);
    f = *parse(kFerryTemplate, error);
    f.tcpSegments_ = std::move(tcp->segments_);
    return f;
  }
  Segment cur;
  for (std::size_t i = 0; i < spec.size();) {
    if (spec[i] != '%') {
      cur.literal += spec[i++];
      continue;
    }
    std::size_t end = spec.find('%', i + 1);
    if (end == std::string_view::npos) {
      error = "unclosed '%' at offset " + std::to_string(i) + " (write %% for a percent sign)";
      return std::nullopt;
    }
    std::string_view name = spec.substr(i + 1, end - i - 1);
    i = end + 1;
    if (name.empty()) {
      cur.literal += '%';
      continue;
    }
    bool found = false;
    for (std::size_t k = 0; k < kFieldNames.size(); ++k) {
      if (kFieldNames[k] == name) {
        cur.hasField = true;
        cur.field = static_cast<AccessField>(k);
        found = true;
      }
    }
    if (!found) {
      error = "unknown field %" + std::string(name) + "%; fields:";
      for (std::string_view n : kFieldNames) error += " %" + std::string(n) + "%";
      return std::nullopt;
    }
    f.segments_.push_back(std::move(cur));
    cur = Segment{};
  }
  if (!cur.literal.empty()) f.segments_.push_back(std::move(cur));
  return f;
}

std::size_t AccessFormat::format(const AccessRecord& r, char* out, std::size_t cap) const {
  if (cap == 0) return 0;
  Out o(out, cap - 1);  // room for the '\n' whatever happens
  WallTime t = wallNow();
  switch (kind_) {
    case Kind::kCombined:
      // NGINX's combined: $remote_addr - $remote_user [$time_local] "$request" $status
      // $body_bytes_sent "$http_referer" "$http_user_agent" (the body's bytes, without the head;
      // all bytes sent when the session did not say: bodyBytesOut -1).
      o.put(orDash(r.clientAddress));
      o.put(" - - ");
      clf(o, t);
      o.put(" \"");
      o.text(orDash(r.method));
      o.put(' ');
      o.text(orDash(r.target));
      o.put(' ');
      o.put(orDash(r.protocol));
      o.put("\" ");
      o.num(static_cast<std::uint64_t>(r.status));
      o.put(' ');
      o.num(r.bodyBytesOut >= 0 ? static_cast<std::uint64_t>(r.bodyBytesOut) : r.bytesOut);
      o.put(" \"");
      o.text(orDash(r.referer));
      o.put("\" \"");
      o.text(orDash(r.userAgent));
      o.put('"');
      break;
    case Kind::kJson:
      jsonLine(o, r, t);
      break;
    case Kind::kTemplate:
      for (const Segment& s :
           r.protocol == "tcp" && !tcpSegments_.empty() ? tcpSegments_ : segments_) {
        o.put(s.literal);
        if (s.hasField) field(o, s.field, r, t);
      }
      break;
  }
  std::size_t n = o.size();
  out[n] = '\n';
  return n + 1;
}

}  // namespace ferry::log
