#include "proxy/common/access_log.h"

#include <fcntl.h>
#include <sys/stat.h>
#ifdef _WIN32
#include <io.h>
#else
#include <sys/uio.h>
#include <unistd.h>
#endif

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <ctime>
#include <map>
#include <mutex>
#include <thread>

#include "proxy/common/log.h"

namespace ferry::log {

// ---- formatting ----

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

// ---- the rings and their writers ----

// One worker's lines waiting for the writer: a single-producer single-consumer byte ring.
class AccessRing {
 public:
  explicit AccessRing(std::size_t cap) : data_(new char[cap]), cap_(cap) {}
  // Producer (the worker): the whole line or nothing.
  bool push(const char* p, std::size_t n) {
    std::uint64_t t = tail_.load(std::memory_order_relaxed);
    std::uint64_t h = head_.load(std::memory_order_acquire);
    if (cap_ - (t - h) < n) {
      dropped_.store(dropped_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
      return false;
    }
    std::size_t at = static_cast<std::size_t>(t % cap_);
    std::size_t first = std::min(n, cap_ - at);
    std::memcpy(data_.get() + at, p, first);
    std::memcpy(data_.get(), p + first, n - first);
    tail_.store(t + n, std::memory_order_release);
    return true;
  }
  // Consumer (the writer): the bytes ready, as up to two pieces; then consumed(total).
  std::size_t ready(const char*& a, std::size_t& an, const char*& b, std::size_t& bn) const {
    std::uint64_t h = head_.load(std::memory_order_relaxed);
    std::uint64_t t = tail_.load(std::memory_order_acquire);
    std::size_t n = static_cast<std::size_t>(t - h);
    std::size_t at = static_cast<std::size_t>(h % cap_);
    an = std::min(n, cap_ - at);
    a = data_.get() + at;
    b = data_.get();
    bn = n - an;
    return n;
  }
  void consumed(std::size_t n) {
    head_.store(head_.load(std::memory_order_relaxed) + n, std::memory_order_release);
  }
  std::uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }
  std::atomic<bool> retired{false};  // the worker is gone: free once drained

 private:
  std::unique_ptr<char[]> data_;
  std::size_t cap_;
  std::atomic<std::uint64_t> head_{0};
  std::atomic<std::uint64_t> tail_{0};
  std::atomic<std::uint64_t> dropped_{0};
};

namespace {

constexpr std::size_t kRingBytes = 1 << 20;
constexpr std::size_t kMaxLine = 4096;
constexpr auto kPollInterval = std::chrono::milliseconds(10);

std::atomic<std::uint64_t> g_reopenGeneration{0};
std::atomic<std::uint64_t> g_droppedRetired{0};

// Drains the rings of one log file on its own thread.
class Writer {
 public:
  explicit Writer(std::string path) : path_(std::move(path)) {
    open();
    thread_ = std::thread([this] { run(); });
  }
  void add(std::shared_ptr<AccessRing> r) {
    std::lock_guard lock(mu_);
    rings_.push_back(std::move(r));
  }
  void wake() { cv_.notify_all(); }
  // Waits until a whole pass began after this call ended (bounded).
  void flush() {
    std::unique_lock lock(mu_);
    std::uint64_t target = passes_ + 2;
    flushWanted_ = true;
    cv_.notify_all();
    cv_.wait_for(lock, std::chrono::seconds(2), [&] { return passes_ >= target; });
  }
  std::uint64_t dropped() {
    std::lock_guard lock(mu_);
    std::uint64_t n = 0;
    for (const auto& r : rings_) n += r->dropped();
    return n + failed_.load(std::memory_order_relaxed);
  }

 private:
  void open() {
    if (path_ == "stdout") {
      fd_ = 1;
      return;
    }
#ifdef _WIN32
    int fd =
        ::_open(path_.c_str(), _O_WRONLY | _O_APPEND | _O_CREAT | _O_BINARY, _S_IREAD | _S_IWRITE);
#else
    int fd = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
#endif
    if (fd < 0) {
      log::error("access log {}: {}", path_, std::strerror(errno));
      return;  // keep the old file (if any) rather than lose lines
    }
    if (fd_ > 2) {
#ifdef _WIN32
      ::_close(fd_);
#else
      ::close(fd_);
#endif
    }
    fd_ = fd;
  }

  // Writes [p, p + n); what cannot be written (no file open, a full disk, a closed pipe) is
  // dropped and counted by lines: the proxy never waits on its log.
  void writeAll(const char* p, std::size_t n) {
    int err = 0;
    while (n > 0 && fd_ >= 0) {
#ifdef _WIN32
      long w = ::_write(fd_, p, static_cast<unsigned>(n));
#else
      ssize_t w = ::write(fd_, p, n);
#endif
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) {
        err = w < 0 ? errno : 0;
        break;
      }
      p += w;
      n -= static_cast<std::size_t>(w);
    }
    if (n == 0) {
      failing_ = false;
      return;
    }
    failed_.fetch_add(static_cast<std::uint64_t>(std::count(p, p + n, '\n')),
                      std::memory_order_relaxed);
    if (!failing_) {  // once per episode: the counter tells the rest
      failing_ = true;
      log::error("access log {}: {}; lines are dropped (ferry_access_log_dropped_lines_total)",
                 path_,
                 fd_ < 0    ? "not open"
                 : err != 0 ? std::strerror(err)
                            : "nothing written");
    }
  }

  void run() {
    std::uint64_t generation = g_reopenGeneration.load();
    std::vector<std::shared_ptr<AccessRing>> rings;
    for (;;) {
      {
        std::unique_lock lock(mu_);
        ++passes_;
        cv_.notify_all();
        if (!flushWanted_) {
          cv_.wait_for(lock, kPollInterval,
                       [&] { return flushWanted_ || g_reopenGeneration.load() != generation; });
        }
        flushWanted_ = false;
        // Rings of workers that are gone, once drained, go.
        std::erase_if(rings_, [](const std::shared_ptr<AccessRing>& r) {
          const char *a, *b;
          std::size_t an, bn;
          if (!r->retired.load() || r->ready(a, an, b, bn) != 0) return false;
          g_droppedRetired.fetch_add(r->dropped());
          return true;
        });
        rings = rings_;
      }
      if (std::uint64_t g = g_reopenGeneration.load(); g != generation) {
        generation = g;
        open();
      }
      for (const auto& r : rings) {
        const char *a, *b;
        std::size_t an, bn;
        std::size_t n = r->ready(a, an, b, bn);
        if (n == 0) continue;
#ifdef _WIN32
        writeAll(a, an);
        writeAll(b, bn);
#else
        if (bn == 0) {
          writeAll(a, an);
        } else {
          iovec iov[2] = {{const_cast<char*>(a), an}, {const_cast<char*>(b), bn}};
          ssize_t w = ::writev(fd_, iov, 2);
          if (w < 0) w = 0;
          auto done = static_cast<std::size_t>(w);
          if (done < an) {
            writeAll(a + done, an - done);
            writeAll(b, bn);
          } else {
            writeAll(b + (done - an), bn - (done - an));
          }
        }
#endif
        r->consumed(n);
      }
    }
  }

  std::string path_;
  int fd_ = -1;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::shared_ptr<AccessRing>> rings_;
  std::uint64_t passes_ = 0;
  bool flushWanted_ = false;
  std::atomic<std::uint64_t> failed_{0};  // lines the writer could not write
  bool failing_ = false;                  // writer thread only: the last write failed
  std::thread thread_;  // runs for the life of the process (writers are never destroyed)
};

// Writers by path. Never destroyed: a writer thread may still be draining at exit.
std::mutex g_writersMu;
std::map<std::string, Writer*>& writers() {
  static auto* m = new std::map<std::string, Writer*>();
  return *m;
}

Writer& writerFor(const std::string& path) {
  std::lock_guard lock(g_writersMu);
  Writer*& w = writers()[path];
  if (w == nullptr) w = new Writer(path);
  return *w;
}

}  // namespace

AccessLog::AccessLog(std::string_view path, std::string_view format) {
  std::string error;
  std::optional<AccessFormat> f = AccessFormat::parse(format, error);
  if (!f) {
    log::error("access_log.format: {}; using the default format", error);
    f = AccessFormat::parse(AccessFormat::kDefault, error);
  }
  format_ = std::move(*f);
  ring_ = std::make_shared<AccessRing>(kRingBytes);
  writerFor(std::string(path.empty() ? "stdout" : path)).add(ring_);
}

AccessLog::~AccessLog() {
  if (ring_) ring_->retired.store(true);
}

void AccessLog::log(const AccessRecord& r) {
  if (!ring_) return;
  char line[kMaxLine];
  std::size_t n = format_.format(r, line, sizeof(line));
  ring_->push(line, n);
}

void reopen() {
  g_reopenGeneration.fetch_add(1);
  std::lock_guard lock(g_writersMu);
  for (auto& [path, w] : writers()) w->wake();
}

void flushAccessLogs() {
  std::vector<Writer*> all;
  {
    std::lock_guard lock(g_writersMu);
    for (auto& [path, w] : writers()) all.push_back(w);
  }
  for (Writer* w : all) w->flush();
}

std::uint64_t accessLogDropped() {
  std::vector<Writer*> all;
  {
    std::lock_guard lock(g_writersMu);
    for (auto& [path, w] : writers()) all.push_back(w);
  }
  std::uint64_t n = g_droppedRetired.load();
  for (Writer* w : all) n += w->dropped();
  return n;
}

}  // namespace ferry::log
