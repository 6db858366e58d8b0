#pragma once
// Retry safety, decided once, on facts (see DESIGN.md, "The shape that lets it grow"). A request
// may be sent again only if the backend cannot have processed it, or if its method is idempotent
// (RFC 9110 9.2.2) and the client has not seen a byte of a response. A non-idempotent request
// whose bytes reached a backend is never replayed, whatever happened after. A retry policy
// (retry_on, budgets, backoff) sits on top of this and can only narrow it. Pure: no I/O.

#include <cstdint>
#include <string_view>

namespace ferry::upstream {

// What is known about one failed attempt.
struct AttemptFacts {
  // How far the attempt got before it failed.
  enum class Stage : std::uint8_t {
    kConnect,    // the connect failed: nothing was sent
    kUnwritten,  // a (pooled) connection failed before any byte of this request was written
    kWritten,    // some bytes of the request were written: the backend may have processed it
  } stage = Stage::kConnect;
  bool idempotent = false;         // the method is idempotent (isIdempotent)
  bool responseForwarded = false;  // a response byte (a 1xx too) was forwarded to the client
  bool replayable = false;         // every byte of the request is still held, so it can be resent
};

enum class RetrySafety : std::uint8_t {
  kUnsafe,        // never send this request again
  kNotProcessed,  // safe for any method: the backend cannot have seen the request
  kIdempotent,    // safe because the method is idempotent and nothing was forwarded back
};

RetrySafety retrySafety(const AttemptFacts& f);

// GET, HEAD, OPTIONS, TRACE, PUT, DELETE (RFC 9110 9.2.2); method names are case-sensitive.
bool isIdempotent(std::string_view method);

}  // namespace ferry::upstream
