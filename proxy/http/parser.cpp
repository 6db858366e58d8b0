#include "proxy/http/parser.h"

#include <llhttp.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <new>

#include "proxy/http/target.h"

namespace ferry::http {

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i];
    char y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

bool hasToken(std::string_view list, std::string_view token) {
  while (!list.empty()) {
    std::size_t comma = list.find(',');
    std::string_view item = list.substr(0, comma);
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
    while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
    if (iequals(item, token)) return true;
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return false;
}

std::optional<std::string_view> MessageHead::find(std::string_view name) const {
  for (std::size_t i = 0; i < headerCount; ++i) {
    if (iequals(headers[i].name, name)) return headers[i].value;
  }
  return std::nullopt;
}

std::size_t MessageHead::count(std::string_view name) const {
  std::size_t n = 0;
  for (std::size_t i = 0; i < headerCount; ++i) n += iequals(headers[i].name, name) ? 1 : 0;
  return n;
}

void MessageHead::clear() {
  method = target = reason = {};
  status = 0;
  versionMajor = versionMinor = 1;
  headerCount = 0;
  chunked = false;
  contentLength.reset();
  keepAlive = true;
  upgrade = false;
  expectsBody = false;
  headBytes = 0;
}

namespace {

// Grows a view over bytes that llhttp hands over in consecutive pieces of one buffer.
void extend(std::string_view& v, const char* at, std::size_t len) {
  v = v.data() == nullptr ? std::string_view(at, len) : std::string_view(v.data(), v.size() + len);
}

bool isTokenChar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  switch (c) {
    case '!':
    case '#':
    case '$':
    case '%':
    case '&':
    case '\'':
    case '*':
    case '+':
    case '-':
    case '.':
    case '^':
    case '_':
    case '`':
    case '|':
    case '~':
      return true;
    default:
      return false;
  }
}

// The most a Content-Length may say: larger values wrap to negative in peers that read them
// into a signed 64-bit offset, which then frame the body differently from ferry.
constexpr std::uint64_t kMaxContentLength = 0x7fffffffffffffffULL;

enum class Codings { kOk, kUnknown, kMalformed };

// Every Transfer-Encoding line read as one list (RFC 9112 6.1). A request may say only
// "chunked" (once): ferry writes the upstream framing itself and implements no other coding.
// A response may carry other codings before a final chunked (it is forwarded as it is).
Codings checkCodings(const MessageHead& h, bool request) {
  std::size_t chunked = 0;
  bool lastChunked = false;
  bool unknown = false;
  for (std::size_t i = 0; i < h.headerCount; ++i) {
    if (!iequals(h.headers[i].name, "transfer-encoding")) continue;
    std::string_view list = h.headers[i].value;
    for (;;) {
      std::size_t comma = list.find(',');
      std::string_view item = list.substr(0, comma);
      while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
      while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
      if (!item.empty()) {
        std::string_view name = item.substr(0, item.find(';'));
        while (!name.empty() && (name.back() == ' ' || name.back() == '\t')) name.remove_suffix(1);
        if (name.empty()) return Codings::kMalformed;
        for (char c : name) {
          if (!isTokenChar(c)) return Codings::kMalformed;
        }
        lastChunked = iequals(name, "chunked");
        if (lastChunked && name.size() != item.size()) return Codings::kMalformed;  // params
        chunked += lastChunked ? 1 : 0;
        unknown = unknown || !lastChunked;
      }
      if (comma == std::string_view::npos) break;
      list.remove_prefix(comma + 1);
    }
  }
  if (chunked > 1 || (chunked == 1 && !lastChunked)) return Codings::kMalformed;
  if (request && unknown) return Codings::kUnknown;
  if (request && chunked == 0) return Codings::kMalformed;
  return Codings::kOk;
}

}  // namespace

struct Parser::Impl {
  llhttp_t llhttp{};
  Parser* self = nullptr;
  bool inField = false;
  bool inValue = false;
  bool pendingComplete = false;  // message ended in the same call as its head
  const char* userError = nullptr;
  int userStatus = 400;
  std::size_t trailerCount = 0;  // trailer fields seen (counted, never stored)

  static Parser& of(llhttp_t* p) { return *static_cast<Impl*>(p->data)->self; }
  static Impl& impl(llhttp_t* p) { return *static_cast<Impl*>(p->data); }

  static int fail(llhttp_t* p, const char* why, int status) {
    impl(p).userError = why;
    impl(p).userStatus = status;
    return HPE_USER;
  }

  static int onMethod(llhttp_t* p, const char* at, std::size_t n) {
    extend(of(p).head_.method, at, n);
    return 0;
  }
  static int onUrl(llhttp_t* p, const char* at, std::size_t n) {
    Parser& self = of(p);
    extend(self.head_.target, at, n);
    if (self.head_.target.size() > self.limits_.maxTargetBytes) {
      return fail(p, "request target too long", 414);
    }
    return 0;
  }
  static int onStatus(llhttp_t* p, const char* at, std::size_t n) {
    extend(of(p).head_.reason, at, n);
    return 0;
  }
  static int onHeaderField(llhttp_t* p, const char* at, std::size_t n) {
    Impl& im = impl(p);
    MessageHead& h = im.self->head_;
    if (im.self->headComplete_) {
      // A trailer field: its bytes may lie in pieces the relay has since moved, so nothing of
      // it is kept; ChunkedDecoder checks its syntax and size (parser.h).
      if (!im.inField && ++im.trailerCount > im.self->limits_.maxHeaders) {
        return fail(p, "too many trailer fields", 431);
      }
      im.inField = true;
      return 0;
    }
    if (!im.inField) {
      if (h.headerCount >= im.self->limits_.maxHeaders || h.headerCount == kMaxHeaders) {
        return fail(p, "too many header fields", 431);
      }
      h.headers[h.headerCount++] = Header{};
      im.inField = true;
    }
    extend(h.headers[h.headerCount - 1].name, at, n);
    return 0;
  }
  static int onHeaderFieldComplete(llhttp_t* p) {
    Impl& im = impl(p);
    im.inField = false;
    if (im.self->headComplete_) return 0;  // a trailer: see onHeaderField
    // Defense in depth over llhttp: a header name is a non-empty RFC 9110 token.
    std::string_view name = im.self->head_.headers[im.self->head_.headerCount - 1].name;
    if (name.empty()) return fail(p, "empty header name", 400);
    for (char c : name) {
      if (!isTokenChar(c)) return fail(p, "invalid character in a header name", 400);
    }
    return 0;
  }
  static int onHeaderValue(llhttp_t* p, const char* at, std::size_t n) {
    if (of(p).headComplete_) return 0;  // a trailer: see onHeaderField
    MessageHead& h = of(p).head_;
    std::string_view& v = h.headers[h.headerCount - 1].value;
    // llhttp reports a folded continuation line as a second piece that does not follow the
    // first: reject obs-fold (RFC 9112 5.2) rather than guess how a backend would join it.
    if (v.data() != nullptr && v.data() + v.size() != at) {
      return fail(p, "obsolete line folding in a header value", 400);
    }
    extend(v, at, n);
    return 0;
  }
  static int onHeadersComplete(llhttp_t* p) {
    Parser& self = of(p);
    MessageHead& h = self.head_;
    if (self.methodLen_ > 0) h.method = std::string_view(self.methodStart_, self.methodLen_);
    h.versionMajor = p->http_major;
    h.versionMinor = p->http_minor;
    h.status = p->status_code;
    h.chunked = (p->flags & F_CHUNKED) != 0;
    if ((p->flags & F_CONTENT_LENGTH) != 0) h.contentLength = p->content_length;
    h.keepAlive = llhttp_should_keep_alive(p) != 0;
    h.upgrade = p->upgrade != 0;
    if (int e = checkFraming(p, h); e != 0) return e;
    if (p->type == HTTP_REQUEST) {
      std::size_t hosts = h.count("host");
      if (hosts > 1) return fail(p, "more than one Host header", 400);
      if (hosts == 0 && h.versionMajor == 1 && h.versionMinor >= 1) {
        return fail(p, "HTTP/1.1 request without Host", 400);
      }
      // RFC 9112 3.2: a Host that is not a valid authority gets 400 (it would route anywhere).
      std::string_view host = h.find("host").value_or("");
      std::string_view hostName;
      std::string_view port;
      if (!host.empty() && !splitAuthority(host, hostName, port)) {
        return fail(p, "invalid Host header", 400);
      }
    }
    // llhttp reads "HTTP/1.1 20 OK" as status 20 and "HTTP/1.1 \r\n" as 0: a status is 3 digits.
    if (p->type == HTTP_RESPONSE && (h.status < 100 || h.status > 999)) {
      return fail(p, "invalid status code", 400);
    }
    if (h.count("content-length") > 1) return fail(p, "more than one Content-Length", 400);
    // RFC 9112 6.1: a 1.0 message with Transfer-Encoding has faulty framing (a 1.0 peer may not
    // know chunked): refuse it rather than guess where the body ends.
    if (h.versionMajor == 1 && h.versionMinor == 0 && h.count("transfer-encoding") > 0) {
      return fail(p, "Transfer-Encoding in an HTTP/1.0 message", 400);
    }
    self.headComplete_ = true;
    bool noBody = self.noBody_ || (p->type == HTTP_RESPONSE &&
                                   (h.status / 100 == 1 || h.status == 204 || h.status == 304));
    if (noBody) {
      h.expectsBody = false;
      return 1;  // llhttp: no body; message_complete follows in this same call
    }
    h.expectsBody = h.chunked || (h.contentLength && *h.contentLength > 0) ||
                    (p->type == HTTP_RESPONSE && !h.contentLength);
    return HPE_PAUSED;
  }
  // Versions, Connection tokens, Transfer-Encoding and Content-Length (parser.h).
  static int checkFraming(llhttp_t* p, const MessageHead& h) {
    const bool request = p->type == HTTP_REQUEST;
    if (request && !(h.versionMajor == 1 && (h.versionMinor == 0 || h.versionMinor == 1))) {
      return fail(p, "HTTP version not supported", 505);
    }
    if (!request && h.versionMajor != 1) return fail(p, "response version is not HTTP/1.x", 400);
    for (std::size_t i = 0; i < h.headerCount; ++i) {
      if (!iequals(h.headers[i].name, "connection")) continue;
      std::string_view v = h.headers[i].value;
      if (hasToken(v, "host") || hasToken(v, "content-length") ||
          hasToken(v, "transfer-encoding")) {
        return fail(p, "Connection names a field the next hop needs (Host or framing)", 400);
      }
    }
    if (h.contentLength && *h.contentLength > kMaxContentLength) {
      return fail(p, "Content-Length too large", 400);
    }
    if (h.count("transfer-encoding") == 0) return 0;
    switch (checkCodings(h, request)) {
      case Codings::kOk:
        return 0;
      case Codings::kUnknown:
        return fail(p, "transfer coding not implemented", 501);
      case Codings::kMalformed:
        break;
    }
    return fail(p, "malformed Transfer-Encoding", 400);
  }

  static int onBody(llhttp_t* p, const char*, std::size_t n) {
    of(p).bodyBytes_ += n;
    return 0;
  }
  static int onMessageComplete(llhttp_t* p) {
    Parser& self = of(p);
    self.messageComplete_ = true;
    if (!self.headComplete_) return fail(p, "message ended before its head", 400);
    return HPE_PAUSED;
  }
};

namespace {
// One callback table for every parser (llhttp keeps a pointer to it).
const llhttp_settings_t& settings() {
  static const llhttp_settings_t table = [] {
    llhttp_settings_t t;
    llhttp_settings_init(&t);
    t.on_method = &Parser::Impl::onMethod;
    t.on_url = &Parser::Impl::onUrl;
    t.on_status = &Parser::Impl::onStatus;
    t.on_header_field = &Parser::Impl::onHeaderField;
    t.on_header_field_complete = &Parser::Impl::onHeaderFieldComplete;
    t.on_header_value = &Parser::Impl::onHeaderValue;
    t.on_headers_complete = &Parser::Impl::onHeadersComplete;
    t.on_body = &Parser::Impl::onBody;
    t.on_message_complete = &Parser::Impl::onMessageComplete;
    return t;
  }();
  return table;
}
}  // namespace

Parser::Parser(MessageType type) {
  static_assert(sizeof(Impl) <= sizeof(storage_) && alignof(Impl) <= 16);
  Impl* im = new (storage_) Impl();
  im->self = this;
  llhttp_init(&im->llhttp, type == MessageType::kRequest ? HTTP_REQUEST : HTTP_RESPONSE,
              &settings());
  im->llhttp.data = im;
  errorStatus_ = type == MessageType::kRequest ? 400 : 502;
}

Parser::Parser(MessageType type, const Limits& limits) : Parser(type) {
  setLimits(limits);
}

Parser::~Parser() {
  impl().~Impl();
}

void Parser::restartLlhttp() {
  Impl& im = impl();
  llhttp_type_t type = static_cast<llhttp_type_t>(im.llhttp.type);
  llhttp_init(&im.llhttp, type, &settings());
  im.llhttp.data = &im;
}

void Parser::reset() {
  Impl& im = impl();
  restartLlhttp();
  im.inField = im.inValue = im.pendingComplete = false;
  im.userError = nullptr;
  im.trailerCount = 0;
  atStart_ = true;
  methodLen_ = 0;
  chunkCheck_.reset();
  head_.clear();
  headComplete_ = messageComplete_ = noBody_ = false;
  bodyBytes_ = 0;
  error_ = {};
  errorStatus_ = isRequest() ? 400 : 502;
}

void Parser::setLimits(const Limits& limits) {
  limits_ = limits;
  if (limits_.maxHeaders > kMaxHeaders) limits_.maxHeaders = kMaxHeaders;
  if (limits_.maxHeadBytes == 0) limits_.maxHeadBytes = 1;
}

bool Parser::isRequest() const {
  return impl().llhttp.type == HTTP_REQUEST;
}

bool Parser::bodyUntilClose() const {
  return llhttp_message_needs_eof(&impl().llhttp) != 0;
}

Parser::Step Parser::feed(const char* data, std::size_t len) {
  if (!error_.empty()) return {Status::kError, 0};
  if (impl().pendingComplete) {
    impl().pendingComplete = false;
    return {Status::kMessageComplete, 0};
  }
  if (messageComplete_) return {Status::kMessageComplete, 0};
  if (headComplete_) return feedBody(data, len);
  if (atStart_ && isRequest()) {
    if (std::optional<Step> s = feedMethod(data, len)) return *s;
  }
  return feedHead(data, len);
}

Parser::Step Parser::failWith(std::string_view why, int requestStatus) {
  error_ = why;
  errorStatus_ = isRequest() ? requestStatus : 502;
  return {Status::kError, 0};
}

std::optional<Parser::Step> Parser::feedMethod(const char* data, std::size_t len) {
  // Anything but "token SP" (a leading CRLF, a bad byte) is llhttp's to judge.
  if (methodLen_ == 0 && (len == 0 || !isTokenChar(data[0]))) {
    atStart_ = len == 0;
    return len == 0 ? std::optional<Step>(Step{Status::kNeedMore, 0}) : std::nullopt;
  }
  // The head stays where it was fed (see the file comment): the method's pieces follow each
  // other in the caller's buffer.
  if (methodLen_ == 0) methodStart_ = data;
  std::size_t n = 0;
  while (n < len && isTokenChar(data[n]) && methodLen_ + n < kMaxMethodBytes) ++n;
  methodLen_ += n;
  head_.headBytes += n;
  if (n == len) return Step{Status::kNeedMore, n};  // the method goes on in the next bytes
  atStart_ = false;
  if (data[n] != ' ') return failWith("invalid method", 400);
  // The method with its SP, as llhttp would have read it; one llhttp does not know (an
  // extension method, RFC 9110 9.1) is replaced by a stand-in for llhttp only: request framing
  // does not depend on the method but for CONNECT, which llhttp knows. head().method is always
  // the method as sent.
  llhttp_t& ll = impl().llhttp;
  if (llhttp_execute(&ll, methodStart_, methodLen_) != HPE_OK ||
      llhttp_execute(&ll, " ", 1) != HPE_OK) {
    restartLlhttp();
    static constexpr std::string_view kStandIn = "POST ";
    if (llhttp_execute(&ll, kStandIn.data(), kStandIn.size()) != HPE_OK) {
      return failWith("invalid method", 400);
    }
  }
  head_.headBytes += 1;
  Step s = feedHead(data + n + 1, len - n - 1);
  if (s.status != Status::kError) s.consumed += n + 1;
  return s;
}

Parser::Step Parser::feedHead(const char* data, std::size_t len) {
  if (len > limits_.maxHeadBytes - std::min(head_.headBytes, limits_.maxHeadBytes)) {
    // Parse at most one byte beyond the limit: enough to tell "head ends exactly at the limit"
    // from "too long" without reading the rest.
    len = limits_.maxHeadBytes - std::min(head_.headBytes, limits_.maxHeadBytes) + 1;
  }
  atStart_ = false;
  std::size_t consumed = 0;
  int e = execute(data, len, consumed);
  if (e != HPE_OK && e != HPE_PAUSED && e != HPE_PAUSED_UPGRADE) return llhttpError(e);
  std::size_t headPart = headComplete_ ? consumed : len;
  if (head_.headBytes + headPart > limits_.maxHeadBytes) {
    return failWith("message head too large", 431);
  }
  if (!headComplete_) {
    head_.headBytes += consumed;
    return {Status::kNeedMore, consumed};
  }
  head_.headBytes += consumed;
  if (messageComplete_) impl().pendingComplete = true;
  if (e == HPE_PAUSED && !messageComplete_ && !head_.expectsBody) {
    // A bodiless message: let llhttp reach message_complete without consuming input.
    llhttp_errno_t e2 = llhttp_execute(&impl().llhttp, data + consumed, 0);
    if (e2 == HPE_PAUSED) llhttp_resume(&impl().llhttp);
    if (messageComplete_) impl().pendingComplete = true;
  }
  return {Status::kHeadComplete, consumed};
}

int Parser::execute(const char* data, std::size_t len, std::size_t& consumed) {
  llhttp_errno_t e = llhttp_execute(&impl().llhttp, data, len);
  consumed = len;
  if (e == HPE_PAUSED || e == HPE_PAUSED_UPGRADE) {
    // Paused at a head's or a message's end: the rest is the body's or the next message's.
    consumed = static_cast<std::size_t>(llhttp_get_error_pos(&impl().llhttp) - data);
    llhttp_resume(&impl().llhttp);
  }
  return e;
}

Parser::Step Parser::feedBody(const char* data, std::size_t len) {
  std::size_t consumed = 0;
  int e = execute(data, len, consumed);
  if (e != HPE_OK && e != HPE_PAUSED && e != HPE_PAUSED_UPGRADE) return llhttpError(e);
  if (head_.chunked) {
    // The same bytes read again by the strict decoder: both must see the body end at the same
    // byte, or a peer could read it another way.
    std::string_view rest(data, consumed);
    while (!rest.empty()) {
      ChunkedDecoder::Step c = chunkCheck_.next(rest);
      if (c.status == ChunkedDecoder::Status::kError) return failWith(chunkCheck_.error(), 400);
      rest.remove_prefix(c.consumed);
      if (c.status == ChunkedDecoder::Status::kDone) break;
    }
    if (!rest.empty() || chunkCheck_.done() != messageComplete_) {
      return failWith("ambiguous chunked framing", 400);
    }
  }
  return {messageComplete_ ? Status::kMessageComplete : Status::kNeedMore, consumed};
}

Parser::Step Parser::llhttpError(int code) {
  auto e = static_cast<llhttp_errno_t>(code);
  error_ = impl().userError != nullptr ? impl().userError : llhttp_get_error_reason(&impl().llhttp);
  if (error_.empty()) error_ = llhttp_errno_name(e);
  errorStatus_ = !isRequest() ? 502 : impl().userError != nullptr ? impl().userStatus : 400;
  return {Status::kError, 0};
}

Parser::Step Parser::finish() {
  if (messageComplete_) return {Status::kMessageComplete, 0};
  llhttp_errno_t e = llhttp_finish(&impl().llhttp);
  if ((e == HPE_OK || e == HPE_PAUSED) && messageComplete_) return {Status::kMessageComplete, 0};
  error_ = headComplete_ ? "connection closed before the message ended"
                         : "connection closed before the head ended";
  errorStatus_ = isRequest() ? 400 : 502;
  return {Status::kError, 0};
}

}  // namespace ferry::http
