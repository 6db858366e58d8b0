#include "proxy/http/conditional.h"

#include <array>
#include <cstring>
#include <limits>

#include "proxy/http/message.h"

namespace ferry::http {
namespace {

constexpr std::array<std::string_view, 7> kDays = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
constexpr std::array<std::string_view, 7> kLongDays = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                                                       "Thursday", "Friday", "Saturday"};
constexpr std::array<std::string_view, 12> kMonths = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
std::int64_t daysFromCivil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  auto yoe = static_cast<unsigned>(y - era * 400);
  unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

struct Civil {
  std::int64_t year;
  unsigned month;  // 1..12
  unsigned day;    // 1..31
};
Civil civilFromDays(std::int64_t z) {
  z += 719468;
  std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  auto doe = static_cast<unsigned>(z - era * 146097);
  unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  unsigned mp = (5 * doy + 2) / 153;
  unsigned d = doy - (153 * mp + 2) / 5 + 1;
  unsigned m = mp < 10 ? mp + 3 : mp - 9;
  return {static_cast<std::int64_t>(yoe) + era * 400 + (m <= 2), m, d};
}

bool isDigit(char c) {
  return c >= '0' && c <= '9';
}

// A cursor over a date's text: each take* consumes on success.
struct Reader {
  std::string_view s;
  bool lit(std::string_view t) {
    if (s.substr(0, t.size()) != t) return false;
    s.remove_prefix(t.size());
    return true;
  }
  bool number(std::size_t digits, unsigned& out) {
    if (s.size() < digits) return false;
    out = 0;
    for (std::size_t i = 0; i < digits; ++i) {
      if (!isDigit(s[i])) return false;
      out = out * 10 + static_cast<unsigned>(s[i] - '0');
    }
    s.remove_prefix(digits);
    return true;
  }
  template <std::size_t N>
  bool oneOf(const std::array<std::string_view, N>& names, unsigned& index) {
    for (unsigned i = 0; i < N; ++i) {
      if (lit(names[i])) {
        index = i;
        return true;
      }
    }
    return false;
  }
  // "08:49:37"
  bool time(unsigned& h, unsigned& m, unsigned& sec) {
    return number(2, h) && lit(":") && number(2, m) && lit(":") && number(2, sec);
  }
};

std::optional<std::int64_t> toEpoch(std::int64_t year, unsigned month, unsigned day, unsigned h,
                                    unsigned m, unsigned s) {
  if (month > 11 || day < 1 || day > 31 || h > 23 || m > 59 || s > 60) return std::nullopt;
  return daysFromCivil(year, month + 1, day) * 86400 + h * 3600 + m * 60 + s;
}

std::optional<std::int64_t> parseImfFixdate(Reader r) {
  unsigned wd, day, mon, year, h, m, s;
  if (!r.oneOf(kDays, wd) || !r.lit(", ") || !r.number(2, day) || !r.lit(" ") ||
      !r.oneOf(kMonths, mon) || !r.lit(" ") || !r.number(4, year) || !r.lit(" ") ||
      !r.time(h, m, s) || !r.lit(" GMT") || !r.s.empty()) {
    return std::nullopt;
  }
  return toEpoch(year, mon, day, h, m, s);
}

std::optional<std::int64_t> parseRfc850(Reader r) {
  unsigned wd, day, mon, yy, h, m, s;
  if (!r.oneOf(kLongDays, wd) || !r.lit(", ") || !r.number(2, day) || !r.lit("-") ||
      !r.oneOf(kMonths, mon) || !r.lit("-") || !r.number(2, yy) || !r.lit(" ") ||
      !r.time(h, m, s) || !r.lit(" GMT") || !r.s.empty()) {
    return std::nullopt;
  }
  return toEpoch(yy < 70 ? 2000 + yy : 1900 + yy, mon, day, h, m, s);
}

std::optional<std::int64_t> parseAsctime(Reader r) {
  unsigned wd, day, mon, year, h, m, s;
  if (!r.oneOf(kDays, wd) || !r.lit(" ") || !r.oneOf(kMonths, mon) || !r.lit(" ")) {
    return std::nullopt;
  }
  if (!(r.lit(" ") ? r.number(1, day) : r.number(2, day)) || !r.lit(" ") || !r.time(h, m, s) ||
      !r.lit(" ") || !r.number(4, year) || !r.s.empty()) {
    return std::nullopt;
  }
  return toEpoch(year, mon, day, h, m, s);
}

std::string_view trimOws(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// The opaque-tag of an entity tag ("\"xyz\"" of W/"xyz"), or empty if it is not one.
std::string_view opaqueTag(std::string_view tag, bool& weak) {
  weak = tag.substr(0, 2) == "W/";
  if (weak) tag.remove_prefix(2);
  if (tag.size() < 2 || tag.front() != '"' || tag.back() != '"') return {};
  if (tag.substr(1, tag.size() - 2).find('"') != std::string_view::npos) return {};
  return tag;
}

// Hex digits of n (lowercase, no leading zeros) written at out; returns the count.
std::size_t putHex(std::uint64_t n, char* out) {
  char tmp[16];
  std::size_t k = 0;
  do {
    tmp[k++] = "0123456789abcdef"[n & 0xf];
    n >>= 4;
  } while (n != 0);
  for (std::size_t i = 0; i < k; ++i) out[i] = tmp[k - 1 - i];
  return k;
}

// A decimal number of a range spec; saturates at the maximum instead of overflowing.
bool rangeNumber(std::string_view s, std::uint64_t& out) {
  if (s.empty()) return false;
  out = 0;
  constexpr std::uint64_t kMax = std::numeric_limits<std::uint64_t>::max();
  for (char c : s) {
    if (!isDigit(c)) return false;
    auto d = static_cast<std::uint64_t>(c - '0');
    out = out > (kMax - d) / 10 ? kMax : out * 10 + d;
  }
  return true;
}

// One range-spec of a byte-range-set, against size: false if malformed; `satisfiable` and
// [first, last] (inclusive, clamped to the representation) otherwise.
bool rangeSpec(std::string_view spec, std::uint64_t size, bool& satisfiable, std::uint64_t& first,
               std::uint64_t& last) {
  auto dash = spec.find('-');
  if (dash == std::string_view::npos) return false;
  std::string_view a = spec.substr(0, dash), b = spec.substr(dash + 1);
  if (a.empty()) {  // suffix-range "-N": the last N bytes
    std::uint64_t n = 0;
    if (!rangeNumber(b, n)) return false;
    satisfiable = n > 0 && size > 0;
    first = n >= size ? 0 : size - n;
    last = size - 1;
    return true;
  }
  if (!rangeNumber(a, first)) return false;
  if (b.empty()) {
    last = size - 1;
  } else {
    if (!rangeNumber(b, last) || last < first) return false;
    if (last >= size) last = size - 1;
  }
  satisfiable = first < size;
  return true;
}

}  // namespace

std::size_t formatHttpDate(std::int64_t secondsSinceEpoch, std::span<char> out) {
  constexpr std::int64_t kYear10000 = 253402300800;  // 10000-01-01T00:00:00Z
  if (out.size() < kHttpDateSize || secondsSinceEpoch < 0 || secondsSinceEpoch >= kYear10000) {
    return 0;
  }
  std::int64_t days = secondsSinceEpoch / 86400;
  auto secs = static_cast<unsigned>(secondsSinceEpoch % 86400);
  Civil c = civilFromDays(days);
  std::string_view wd = kDays[static_cast<std::size_t>((days + 4) % 7)];
  std::string_view mon = kMonths[c.month - 1];
  char* p = out.data();
  auto text = [&p](std::string_view t) {
    std::memcpy(p, t.data(), t.size());
    p += t.size();
  };
  auto digits = [&p](unsigned v, int n) {  // n digits, zero-padded
    for (int i = n - 1; i >= 0; --i, v /= 10) p[i] = static_cast<char>('0' + v % 10);
    p += n;
  };
  text(wd);
  text(", ");
  digits(c.day, 2);
  text(" ");
  text(mon);
  text(" ");
  digits(static_cast<unsigned>(c.year), 4);
  text(" ");
  digits(secs / 3600, 2);
  text(":");
  digits(secs / 60 % 60, 2);
  text(":");
  digits(secs % 60, 2);
  text(" GMT");
  return kHttpDateSize;
}

std::optional<std::int64_t> parseHttpDate(std::string_view text) {
  text = trimOws(text);
  if (auto t = parseImfFixdate(Reader{text})) return t;
  if (auto t = parseRfc850(Reader{text})) return t;
  return parseAsctime(Reader{text});
}

std::size_t formatETag(std::uint64_t mtimeNs, std::uint64_t size, std::span<char> out) {
  if (out.size() < kMaxETagSize) return 0;
  char* p = out.data();
  std::size_t n = 0;
  p[n++] = '"';
  n += putHex(mtimeNs, p + n);
  p[n++] = '-';
  n += putHex(size, p + n);
  p[n++] = '"';
  return n;
}

bool noneMatchHits(std::string_view fieldValue, std::string_view etag) {
  fieldValue = trimOws(fieldValue);
  if (fieldValue == "*") return true;
  bool weak = false;
  std::string_view mine = opaqueTag(etag, weak);
  if (mine.empty()) return false;
  while (!fieldValue.empty()) {
    auto comma = fieldValue.find(',');
    std::string_view item = trimOws(fieldValue.substr(0, comma));
    fieldValue =
        comma == std::string_view::npos ? std::string_view{} : fieldValue.substr(comma + 1);
    bool itemWeak = false;
    std::string_view theirs = opaqueTag(item, itemWeak);
    if (!theirs.empty() && theirs == mine) return true;
  }
  return false;
}

bool strongETagMatch(std::string_view a, std::string_view b) {
  bool weakA = false, weakB = false;
  std::string_view ta = opaqueTag(trimOws(a), weakA), tb = opaqueTag(trimOws(b), weakB);
  return !ta.empty() && !weakA && !weakB && ta == tb;
}

RangeRequest parseRange(std::string_view fieldValue, std::uint64_t size) {
  fieldValue = trimOws(fieldValue);
  auto eq = fieldValue.find('=');
  if (eq == std::string_view::npos || !iequals(trimOws(fieldValue.substr(0, eq)), "bytes")) {
    return {};
  }
  std::string_view set = fieldValue.substr(eq + 1);
  RangeRequest one{RangeKind::kUnsatisfiable, 0, 0};
  std::size_t specs = 0, satisfiable = 0;
  while (!set.empty()) {
    auto comma = set.find(',');
    std::string_view spec = trimOws(set.substr(0, comma));
    set = comma == std::string_view::npos ? std::string_view{} : set.substr(comma + 1);
    if (spec.empty()) continue;  // "bytes=0-1, ,2-3": empty list elements are allowed
    bool ok = false;
    std::uint64_t first = 0, last = 0;
    if (!rangeSpec(spec, size, ok, first, last)) return {};
    ++specs;
    if (ok) {
      ++satisfiable;
      one = {RangeKind::kSingle, first, last - first + 1};
    }
  }
  if (specs == 0) return {};
  if (satisfiable == 0) return {RangeKind::kUnsatisfiable, 0, 0};
  if (specs > 1) return {};
  return one;
}

}  // namespace ferry::http
