#pragma once
// Parser: HTTP/1.1 framing on llhttp, one message at a time, over bytes that arrive in pieces.
//
// Feed it the bytes of a connection in order. It stops (a) when a message head is complete, so
// the caller can decide where the message goes before any body byte is used, and (b) when the
// message is complete, so the bytes of a pipelined next message are left unconsumed. Bodies are
// not copied: the caller forwards the consumed body bytes verbatim (chunked framing included,
// which the parser has validated).
//
// The head is made of views into the fed bytes: while the head is being parsed and used, the
// caller must not move them (feed from one buffer that only grows at its end).
// Requests and responses are held to the same rules. Rejected, with a reason in error():
// - by llhttp (built with LLHTTP_STRICT_MODE): Content-Length together with Transfer-Encoding,
//   two different Content-Lengths, a Transfer-Encoding whose last coding is not chunked (in a
//   request), bad chunk-size lines, bare CR or LF, NUL and other control bytes, a space before
//   the colon, invalid methods, versions and status lines (a status is exactly 3 digits);
// - here: obs-fold, any duplicate Content-Length (even equal), more than one Host, an HTTP/1.1
//   request without Host, Transfer-Encoding in an HTTP/1.0 message (RFC 9112 6.1), a header name
//   that is not a token, and the Limits below (header count, request-target length, head size).
// - here, framing that two peers could read two ways: a Connection header naming Host,
//   Content-Length or Transfer-Encoding (the next hop would lose the message's framing), a
//   Transfer-Encoding list that is not exactly "chunked" in a request (501 for a coding ferry
//   does not implement, 400 for a malformed or repeated one), a Content-Length over 2^63-1,
//   and a chunked body that ChunkedDecoder (chunked.h: CRLF only, at most 16 hex digits) does
//   not read exactly as llhttp did (e.g. a bare LF ending the last chunk);
// - request versions other than HTTP/1.0 and 1.1 (505); response versions other than 1.x.
// Extension methods (any RFC 9110 token, e.g. BREW) are accepted: llhttp knows a fixed list, so
// it reads a stand-in for a method it does not know; head().method is the method as sent.
// Trailer fields are validated as they stream by and never stored: the relay compacts its
// buffer between reads, so no view into a trailer could be kept.
// errorStatus() tells a request's status (400, 414, 431, 501, 505); for responses it is 502.
// HTTP/1.0: head().keepAlive is true only with "Connection: keep-alive"; isHttp10() says which.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "proxy/http/chunked.h"
#include "proxy/http/message.h"

namespace ferry::http {

enum class MessageType { kRequest, kResponse };

class Parser {
 public:
  // Configurable limits (per listener). maxHeaders is capped at kMaxHeaders (message.h).
  struct Limits {
    std::size_t maxHeaders = 100;           // more header lines: 431
    std::size_t maxTargetBytes = 8 * 1024;  // a longer request target: 414
    std::size_t maxHeadBytes = 64 * 1024;   // a longer head (CRLFCRLF included): 431
  };

  explicit Parser(MessageType type);
  Parser(MessageType type, const Limits& limits);
  ~Parser();
  Parser(const Parser&) = delete;
  Parser& operator=(const Parser&) = delete;

  enum class Status {
    kNeedMore,         // all bytes consumed, the message goes on
    kHeadComplete,     // head() is ready; consumed() bytes belong to the head
    kMessageComplete,  // the message ended; bytes after consumed() belong to the next one
    kError,            // malformed: see error()
  };

  struct Step {
    Status status;
    std::size_t consumed;  // bytes of the input used by this call
  };

  // Feeds the next bytes. After kHeadComplete call again with the remaining bytes for the body.
  Step feed(const char* data, std::size_t len);
  // The peer closed: completes a message framed by the connection's end; kError if truncated.
  Step finish();

  // The longest method ferry accepts.
  static constexpr std::size_t kMaxMethodBytes = 32;

  // For responses: the request was HEAD (or the status forbids a body): expect no body.
  void setNoBody(bool noBody) { noBody_ = noBody; }

  // Starts over for the next message on the same connection (the limits stay).
  void reset();
  // Takes effect for the next head (call before feeding it, e.g. right after reset()).
  void setLimits(const Limits& limits);
  const Limits& limits() const { return limits_; }

  const MessageHead& head() const { return head_; }
  MessageHead& head() { return head_; }
  bool headComplete() const { return headComplete_; }
  bool messageComplete() const { return messageComplete_; }
  // Payload bytes of the body parsed so far: chunk framing (sizes, extensions, trailers) is not
  // counted, so a body limit means the same for chunked and Content-Length bodies.
  std::uint64_t bodyBytes() const { return bodyBytes_; }
  // Whether the body is delimited by the peer closing (responses without length or chunking).
  bool bodyUntilClose() const;
  std::string_view error() const { return error_; }
  // The status to answer a malformed message with: for a request 400, 414 for a too long target,
  // 431 for too many headers or a too large head; for a response 502.
  int errorStatus() const { return errorStatus_; }

  struct Impl;  // llhttp callbacks reach the parser through this

 private:
  bool isRequest() const;
  // At the start of a request: reads the method (an extension method llhttp does not know is
  // swapped for a stand-in, see the file comment). Returns the step when it
  // handled the call.
  std::optional<Step> feedMethod(const char* data, std::size_t len);
  void restartLlhttp();  // llhttp back at the start of a message (the limits and head stay)
  Step feedHead(const char* data, std::size_t len);
  Step feedBody(const char* data, std::size_t len);
  Step failWith(std::string_view why, int requestStatus);
  Step llhttpError(int code);  // an llhttp_errno_t
  // Runs llhttp over data; consumed is what it used (all, or up to where it paused). Returns
  // its llhttp_errno_t.
  int execute(const char* data, std::size_t len, std::size_t& consumed);
  Impl& impl() { return *reinterpret_cast<Impl*>(storage_); }
  const Impl& impl() const { return *reinterpret_cast<const Impl*>(storage_); }
  // llhttp's state lives inline (its header stays out of this one): a parser allocates nothing.
  alignas(16) unsigned char storage_[192];
  MessageHead head_;
  Limits limits_;
  bool headComplete_ = false;
  bool messageComplete_ = false;
  bool noBody_ = false;
  bool atStart_ = true;  // no byte of this message fed yet
  std::uint64_t bodyBytes_ = 0;
  ChunkedDecoder chunkCheck_;  // reads a chunked body again, strictly (see the file comment)
  const char* methodStart_ = nullptr;  // the request's method in the fed bytes (llhttp may
                                       // have read a stand-in for it)
  std::size_t methodLen_ = 0;
  std::string_view error_;
  int errorStatus_ = 400;
  friend struct Impl;
};

}  // namespace ferry::http
