#pragma once
// Validators, conditional requests and byte ranges for responses ferry serves from files
// (RFC 9110 8.8, 13 and 14): HTTP-dates, entity tags, If-None-Match and Range. Pure functions
// over header values; no allocation.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

namespace ferry::http {

// "Sun, 06 Nov 1994 08:49:37 GMT" (IMF-fixdate) is 29 characters.
inline constexpr std::size_t kHttpDateSize = 29;

// Writes the IMF-fixdate of `secondsSinceEpoch` (UTC) to out; returns the characters written
// (kHttpDateSize), or 0 when out is too small or the time is before 1970 or after 9999.
std::size_t formatHttpDate(std::int64_t secondsSinceEpoch, std::span<char> out);

// Seconds since the epoch of an HTTP-date in any of its three forms (IMF-fixdate, RFC 850,
// asctime; RFC 9110 5.6.7); nullopt for anything else (the caller then ignores the field).
std::optional<std::int64_t> parseHttpDate(std::string_view text);

// The strong entity tag ferry gives a file: "\"<mtime in ns, hex>-<size, hex>\"" (quotes
// included), as nginx does from the same two facts. Returns the characters written, 0 if out is
// too small (kMaxETagSize always fits).
inline constexpr std::size_t kMaxETagSize = 2 + 16 + 1 + 16;
std::size_t formatETag(std::uint64_t mtimeNs, std::uint64_t size, std::span<char> out);

// If-None-Match (RFC 9110 13.1.2): true when the field value is "*" or lists an entity tag that
// matches etag by weak comparison (W/ ignored on both sides). A malformed list matches nothing
// it cannot read.
bool noneMatchHits(std::string_view fieldValue, std::string_view etag);

// Strong comparison of two entity tags (If-Range, RFC 9110 13.1.5): equal and neither is weak.
bool strongETagMatch(std::string_view a, std::string_view b);

// What a Range field asks of a representation of `size` bytes (RFC 9110 14.1.2, 14.2).
enum class RangeKind {
  kWhole,          // no usable range (absent, not bytes=, malformed, or several ranges): 200
  kSingle,         // one satisfiable range: 206 with [offset, offset + length)
  kUnsatisfiable,  // valid, but no range overlaps the representation: 416
};
struct RangeRequest {
  RangeKind kind = RangeKind::kWhole;
  std::uint64_t offset = 0;
  std::uint64_t length = 0;
};
// Parses a Range field value ("bytes=0-99", "bytes=100-", "bytes=-20"; unit case-insensitive,
// whitespace around commas). Several ranges give kWhole unless none is satisfiable
// (kUnsatisfiable): multipart/byteranges is not produced.
RangeRequest parseRange(std::string_view fieldValue, std::uint64_t size);

}  // namespace ferry::http
