#pragma once
// ChunkedDecoder: removes chunked framing (RFC 9112 7.1) from a body fed in arbitrary pieces, to
// send an HTTP/1.0 client the payload only (a close-delimited body).
//
// Accepts: chunk-size as 1 to 16 hex digits, chunk extensions (";..." of visible characters,
// spaces and tabs, at most kMaxExtensionBytes per line, ignored), CRLF after each size line and
// each chunk's data, the last chunk "0", trailer fields (name ":" value, at most kMaxTrailerBytes
// in all, dropped) and the final CRLF.
// Rejects (kError, with a reason): anything else, in particular a bare CR or LF, a missing CRLF
// after data, non-hex sizes, a size of more than 16 digits, NUL or control bytes in extensions or
// trailers, and a trailer line without a colon.
// Allocates nothing: the payload is a view into the bytes fed (or moved within them in place).
// One decoder per body; reset() for the next one. Not thread-safe (one per session).

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace ferry::http {

class ChunkedDecoder {
 public:
  static constexpr std::size_t kMaxExtensionBytes = 4096;
  static constexpr std::size_t kMaxTrailerBytes = 16 * 1024;

  enum class Status {
    kNeedMore,  // all of the input was used; the body goes on
    kDone,      // the body ended (trailers included); bytes after `consumed` are not the body's
    kError,     // bad framing: see error()
  };

  struct Step {
    Status status;
    std::size_t consumed;      // bytes of the input used by this call
    std::string_view payload;  // payload bytes found in this call: a view into the input
  };

  // Consumes framing up to and including the next run of payload bytes and returns that run
  // (possibly empty). Call again with in.substr(consumed) while it returns kNeedMore and
  // consumed < in.size().
  Step next(std::string_view in);

  struct InPlace {
    Status status;
    std::size_t consumed;      // bytes of buf used (the body's wire bytes)
    std::size_t payloadBytes;  // buf[0, payloadBytes) now holds the payload found in them
  };
  // Decodes all of buf[0, len), moving the payload to the front of buf.
  InPlace decodeInPlace(char* buf, std::size_t len);

  void reset() { *this = ChunkedDecoder{}; }
  bool done() const { return state_ == State::kDone; }
  std::string_view error() const { return error_; }
  // Payload bytes produced so far.
  std::uint64_t payloadTotal() const { return payloadTotal_; }

 private:
  enum class State : std::uint8_t {
    kSize,          // reading hex digits of a chunk size
    kExtension,     // after ';' on a size line
    kSizeLf,        // CR seen at the end of a size line
    kData,          // inside a chunk's data
    kDataCr,        // expecting CR after data
    kDataLf,        // expecting LF after data
    kTrailerStart,  // at the start of a trailer line (or of the final CRLF)
    kTrailerName,   // inside a trailer field name
    kTrailerValue,  // inside a trailer field value
    kTrailerLf,     // CR seen at the end of a trailer line
    kFinalLf,       // CR seen on the empty line that ends the body
    kDone,          // the body ended
    kError,         // bad framing
  };
  Step fail(std::size_t consumed, const char* why);

  State state_ = State::kSize;
  std::uint64_t remaining_ = 0;  // data bytes left in the current chunk (kData), or the size read
  std::uint32_t digits_ = 0;
  std::uint32_t extBytes_ = 0;
  std::uint32_t trailerBytes_ = 0;
  std::uint64_t payloadTotal_ = 0;
  const char* error_ = "";
};

}  // namespace ferry::http
