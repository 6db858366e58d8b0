#pragma once
// A parsed HTTP/1.1 message head: views into the bytes it was parsed from, which must stay where
// they are while the head is used. No allocation: headers live in a fixed array of kMaxHeaders
// (the hard ceiling for the configurable Parser::Limits::maxHeaders, 100 by default).

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

namespace ferry::http {

inline constexpr std::size_t kMaxHeaders = 256;

struct Header {
  std::string_view name;
  std::string_view value;
};

// ASCII case-insensitive comparison for header names and tokens.
bool iequals(std::string_view a, std::string_view b);
// True if the comma-separated list `list` contains token (case-insensitive, spaces trimmed).
bool hasToken(std::string_view list, std::string_view token);

// The header lines of one head. Its slots are not written when a head is made: only
// [0, headerCount) is ever read, and a parser is made per exchange (zeroing 8 KiB twice per
// request was 2.3% of ferry's CPU in the S1 profile).
class HeaderSlots {
 public:
  HeaderSlots() {}  // NOLINT(modernize-use-equals-default): leaves the slots unwritten
  Header& operator[](std::size_t i) { return slots_[i]; }
  const Header& operator[](std::size_t i) const { return slots_[i]; }
  Header* data() { return slots_; }
  const Header* data() const { return slots_; }
  static constexpr std::size_t size() { return kMaxHeaders; }

 private:
  union {
    Header slots_[kMaxHeaders];
  };
};

struct MessageHead {
  // request line
  std::string_view method;
  std::string_view target;
  // status line
  int status = 0;
  std::string_view reason;
  int versionMajor = 1;
  int versionMinor = 1;

  HeaderSlots headers;
  std::size_t headerCount = 0;

  // framing, as the parser understood it
  bool chunked = false;
  std::optional<std::uint64_t> contentLength;
  // The connection may carry another message after this one, as the sender asked: HTTP/1.1 unless
  // "Connection: close"; HTTP/1.0 only with "Connection: keep-alive" (see isHttp10()).
  bool keepAlive = true;
  bool upgrade = false;      // Upgrade requested / CONNECT
  bool expectsBody = false;  // a body follows the head (length, chunked, or until close)

  std::size_t headBytes = 0;  // size of the head on the wire, CRLFCRLF included

  // HTTP/1.0 (or 0.9-like 1.x below 1): persistent only on request, never chunked.
  bool isHttp10() const { return versionMajor == 1 && versionMinor == 0; }

  // First header with this name, if any.
  std::optional<std::string_view> find(std::string_view name) const;
  std::size_t count(std::string_view name) const;
  // Forgets the head; the header array is not zeroed (only [0, headerCount) is ever read).
  void clear();
};

}  // namespace ferry::http
