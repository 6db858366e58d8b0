#include "proxy/http/parser.h"

#include <llhttp.h>

#include <charconv>
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

}  // namespace

struct Parser::Impl {
  llhttp_t llhttp{};
  Parser* self = nullptr;
  bool inField = false;
  bool inValue = false;
  bool pendingComplete = false;  // message ended in the same call as its head
  const char* userError = nullptr;
  int userStatus = 400;

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
    // Defense in depth over llhttp: a header name is a non-empty RFC 9110 token.
    std::string_view name = im.self->head_.headers[im.self->head_.headerCount - 1].name;
    if (name.empty()) return fail(p, "empty header name", 400);
    for (char c : name) {
      if (!isTokenChar(c)) return fail(p, "invalid character in a header name", 400);
    }
    return 0;
  }
  static int onHeaderValue(llhttp_t* p, const char* at, std::size_t n) {
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
    h.versionMajor = p->http_major;
    h.versionMinor = p->http_minor;
    h.status = p->status_code;
    h.chunked = (p->flags & F_CHUNKED) != 0;
    if ((p->flags & F_CONTENT_LENGTH) != 0) h.contentLength = p->content_length;
    h.keepAlive = llhttp_should_keep_alive(p) != 0;
    h.upgrade = p->upgrade != 0;
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

void Parser::reset() {
  Impl& im = impl();
  llhttp_type_t type = static_cast<llhttp_type_t>(im.llhttp.type);
  llhttp_init(&im.llhttp, type, &settings());
  im.llhttp.data = &im;
  im.inField = im.inValue = im.pendingComplete = false;
  im.userError = nullptr;
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
  bool hadHead = headComplete_;
  if (!hadHead && len > limits_.maxHeadBytes - head_.headBytes) {
    // Parse at most one byte beyond the limit: enough to tell "head ends exactly at the limit"
    // from "too long" without reading the rest.
    len = limits_.maxHeadBytes - head_.headBytes + 1;
  }
  llhttp_errno_t e = llhttp_execute(&impl().llhttp, data, len);
  std::size_t consumed = len;
  if (e == HPE_PAUSED || e == HPE_PAUSED_UPGRADE) {
    consumed = static_cast<std::size_t>(llhttp_get_error_pos(&impl().llhttp) - data);
    llhttp_resume(&impl().llhttp);
  } else if (e != HPE_OK) {
    error_ =
        impl().userError != nullptr ? impl().userError : llhttp_get_error_reason(&impl().llhttp);
    if (error_.empty()) error_ = llhttp_errno_name(e);
    errorStatus_ = !isRequest() ? 502 : impl().userError != nullptr ? impl().userStatus : 400;
    return {Status::kError, 0};
  }
  if (!hadHead) {
    std::size_t headPart = headComplete_ ? consumed : len;
    if (head_.headBytes + headPart > limits_.maxHeadBytes) {
      error_ = "message head too large";
      errorStatus_ = isRequest() ? 431 : 502;
      return {Status::kError, 0};
    }
  }
  if (!hadHead && headComplete_) {
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
  if (!headComplete_) head_.headBytes += consumed;
  return {messageComplete_ ? Status::kMessageComplete : Status::kNeedMore, consumed};
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
