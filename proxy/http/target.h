#pragma once
// Request targets (RFC 9112 3.2): which of the four forms a request line carries, and its parts.
//
// Accepts:
// - origin-form "/path?query" (any method but CONNECT);
// - absolute-form "http://host[:port]/path?query" (scheme http or https, any case; any method but
//   CONNECT): authority is what replaces Host (RFC 9112 3.2.2), and the backend gets origin-form;
// - authority-form "host:port" (CONNECT only, the port is required);
// - asterisk-form "*" (OPTIONS only).
// Rejects, with a reason: anything else, a CONNECT in another form, an empty or invalid
// authority (bad characters, an unterminated "[IPv6", a port that is not 1-5 digits), userinfo
// ("http://user@host/", deprecated by RFC 9110 4.2.4 and a phishing vector), a fragment.
// The result holds views into the target given (the caller keeps those bytes), or into static
// storage ("/" for an empty absolute-form path). No allocation.

#include <string_view>

#include "proxy/http/rewrite.h"

namespace ferry::http {

enum class TargetForm {
  kOrigin,     // "/path?query"
  kAbsolute,   // "http://host/path?query"
  kAuthority,  // "host:port", CONNECT
  kAsterisk,   // "*", OPTIONS
};

struct RequestTarget {
  TargetForm form = TargetForm::kOrigin;
  std::string_view scheme;     // absolute-form: "http" or "https" as sent; else empty
  std::string_view authority;  // absolute- and authority-form: "host[:port]"; else empty
  std::string_view host;       // authority without the port ("[::1]" keeps its brackets)
  std::string_view port;       // digits, or empty
  std::string_view path;       // origin-form path, never empty for kOrigin/kAbsolute ("/")
  std::string_view query;      // after '?', without it; empty when hasQuery is false
  bool hasQuery = false;
  bool pathWasEmpty = false;  // absolute-form without a path ("http://h" or "http://h?q")
  // The origin-form target ("/path?query") as a view, for routing and logs: the target itself
  // for origin-form; for absolute-form its bytes from the path on, or "/" when it has neither
  // path nor query; empty only for "http://host?query" and for the authority and asterisk forms.
  // What the backend gets in its request line is what writeOriginForm() writes, in every case.
  std::string_view origin;
};

struct TargetParse {
  bool ok = false;
  RequestTarget target;
  std::string_view error;  // static text when !ok
};

// Parses target as sent with method (method decides CONNECT / OPTIONS).
TargetParse parseRequestTarget(std::string_view method, std::string_view target);

// Writes the request-target the backend gets (see RequestTarget): origin-form for absolute-form
// ("*" for an OPTIONS with an empty path, RFC 9112 3.2.4), the original bytes otherwise.
// `original` is the target the RequestTarget was parsed from.
void writeOriginForm(std::string_view method, std::string_view original, const RequestTarget& t,
                     HeadWriter& out);

// Validates "host[:port]" as found in Host or an authority: reg-name characters, or an IPv6
// literal in brackets, and an optional port of 1-5 digits. Splits it into host and port.
bool splitAuthority(std::string_view authority, std::string_view& host, std::string_view& port);

}  // namespace ferry::http
