#include "proxy/common/cidr.h"

#include <cstring>

namespace ferry {

namespace {

void setError(std::string* error, std::string_view why) {
  if (error != nullptr) error->assign(why);
}
void setError(std::string* error, std::string_view why, std::string_view what) {
  if (error != nullptr) {
    error->assign(why);
    error->append(": ");
    error->append(what);
  }
}

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool parseV4(std::string_view s, std::uint8_t* out, std::string* error) {
  int part = 0;
  std::size_t i = 0;
  while (true) {
    std::size_t start = i;
    unsigned value = 0;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9' && i - start < 4) {
      value = value * 10 + static_cast<unsigned>(s[i] - '0');
      ++i;
    }
    std::string_view digits = s.substr(start, i - start);
    if (digits.empty()) {
      setError(error, "expected a decimal number in an IPv4 address", s);
      return false;
    }
    if (digits.size() > 1 && digits[0] == '0') {
      setError(error, "IPv4 part with a leading zero (octal is ambiguous)", digits);
      return false;
    }
    if (value > 255) {
      setError(error, "IPv4 part out of range (0..255)", digits);
      return false;
    }
    out[part++] = static_cast<std::uint8_t>(value);
    if (part == 4) break;
    if (i >= s.size() || s[i] != '.') {
      setError(error, "an IPv4 address has four parts separated by dots", s);
      return false;
    }
    ++i;
  }
  if (i != s.size()) {
    setError(error, "unexpected text after an IPv4 address", s.substr(i));
    return false;
  }
  return true;
}

// Parses the groups of one side of "::" into groups[]; returns how many 16-bit groups it wrote
// or -1. An IPv4 tail is allowed only when tailAllowed (the right-most side).
int parseV6Groups(std::string_view s, std::uint16_t* groups, int maxGroups, bool tailAllowed,
                  std::string* error) {
  int n = 0;
  if (s.empty()) return 0;
  std::size_t i = 0;
  while (true) {
    std::size_t end = s.find(':', i);
    std::string_view g =
        s.substr(i, end == std::string_view::npos ? std::string_view::npos : end - i);
    if (end == std::string_view::npos && tailAllowed && g.find('.') != std::string_view::npos) {
      if (n + 2 > maxGroups) {
        setError(error, "too many groups in an IPv6 address", s);
        return -1;
      }
      std::uint8_t v4[4];
      if (!parseV4(g, v4, error)) return -1;
      groups[n++] = static_cast<std::uint16_t>(v4[0] << 8 | v4[1]);
      groups[n++] = static_cast<std::uint16_t>(v4[2] << 8 | v4[3]);
      return n;
    }
    if (g.empty() || g.size() > 4) {
      setError(error, "an IPv6 group has 1 to 4 hex digits", g.empty() ? s : g);
      return -1;
    }
    unsigned v = 0;
    for (char c : g) {
      int h = hexValue(c);
      if (h < 0) {
        setError(error, "invalid character in an IPv6 address", g);
        return -1;
      }
      v = v << 4 | static_cast<unsigned>(h);
    }
    if (n == maxGroups) {
      setError(error, "too many groups in an IPv6 address", s);
      return -1;
    }
    groups[n++] = static_cast<std::uint16_t>(v);
    if (end == std::string_view::npos) return n;
    i = end + 1;
  }
}

bool parseV6(std::string_view s, std::uint8_t* out, std::string* error) {
  std::uint16_t groups[8] = {};
  std::size_t dc = s.find("::");
  if (dc == std::string_view::npos) {
    int n = parseV6Groups(s, groups, 8, true, error);
    if (n < 0) return false;
    if (n != 8) {
      setError(error, "an IPv6 address without \"::\" has 8 groups", s);
      return false;
    }
  } else {
    if (s.find("::", dc + 1) != std::string_view::npos) {
      setError(error, "\"::\" may appear only once in an IPv6 address", s);
      return false;
    }
    std::uint16_t left[8] = {};
    std::uint16_t right[8] = {};
    int nl = parseV6Groups(s.substr(0, dc), left, 7, false, error);
    if (nl < 0) return false;
    int nr = parseV6Groups(s.substr(dc + 2), right, 7 - nl, true, error);
    if (nr < 0) return false;
    for (int i = 0; i < nl; ++i) groups[i] = left[i];
    for (int i = 0; i < nr; ++i) groups[8 - nr + i] = right[i];
  }
  for (int i = 0; i < 8; ++i) {
    out[2 * i] = static_cast<std::uint8_t>(groups[i] >> 8);
    out[2 * i + 1] = static_cast<std::uint8_t>(groups[i] & 0xff);
  }
  return true;
}

}  // namespace

bool IpAddress::isV4Mapped() const {
  if (family != IpFamily::kV6) return false;
  for (int i = 0; i < 10; ++i) {
    if (bytes[static_cast<std::size_t>(i)] != 0) return false;
  }
  return bytes[10] == 0xff && bytes[11] == 0xff;
}

IpAddress IpAddress::unmapped() const {
  if (!isV4Mapped()) return *this;
  return v4(bytes[12], bytes[13], bytes[14], bytes[15]);
}

bool IpAddress::operator==(const IpAddress& o) const {
  return family == o.family && std::memcmp(bytes.data(), o.bytes.data(), size()) == 0;
}

IpAddress IpAddress::v4(std::uint8_t a, std::uint8_t b, std::uint8_t c, std::uint8_t d) {
  IpAddress ip;
  ip.family = IpFamily::kV4;
  ip.bytes[0] = a;
  ip.bytes[1] = b;
  ip.bytes[2] = c;
  ip.bytes[3] = d;
  return ip;
}

std::optional<IpAddress> parseIp(std::string_view text, std::string* error) {
  IpAddress ip;
  if (text.empty()) {
    setError(error, "empty address");
    return std::nullopt;
  }
  if (text.size() > kMaxIpText) {
    setError(error, "address too long", text.substr(0, kMaxIpText));
    return std::nullopt;
  }
  if (text.find(':') != std::string_view::npos) {
    if (text.find('%') != std::string_view::npos) {
      setError(error, "IPv6 zone ids are not supported", text);
      return std::nullopt;
    }
    ip.family = IpFamily::kV6;
    if (!parseV6(text, ip.bytes.data(), error)) return std::nullopt;
    return ip;
  }
  ip.family = IpFamily::kV4;
  if (!parseV4(text, ip.bytes.data(), error)) return std::nullopt;
  return ip;
}

std::size_t formatIp(const IpAddress& ip, std::span<char> out) {
  if (out.size() < kMaxIpText) return 0;
  char* p = out.data();
  auto putDec = [&p](unsigned v) {
    if (v >= 100) *p++ = static_cast<char>('0' + v / 100);
    if (v >= 10) *p++ = static_cast<char>('0' + v / 10 % 10);
    *p++ = static_cast<char>('0' + v % 10);
  };
  auto putV4 = [&](const std::uint8_t* b) {
    for (int i = 0; i < 4; ++i) {
      if (i != 0) *p++ = '.';
      putDec(b[i]);
    }
  };
  if (ip.family == IpFamily::kV4) {
    putV4(ip.bytes.data());
    return static_cast<std::size_t>(p - out.data());
  }
  if (ip.isV4Mapped()) {
    std::memcpy(p, "::ffff:", 7);
    p += 7;
    putV4(ip.bytes.data() + 12);
    return static_cast<std::size_t>(p - out.data());
  }
  unsigned g[8];
  for (int i = 0; i < 8; ++i) {
    g[i] = static_cast<unsigned>(ip.bytes[static_cast<std::size_t>(2 * i)] << 8 |
                                 ip.bytes[static_cast<std::size_t>(2 * i + 1)]);
  }
  // RFC 5952 4.2: the longest run of two or more zero groups (the first one on a tie) is "::".
  int bestStart = -1;
  int bestLen = 1;
  for (int i = 0; i < 8;) {
    if (g[i] != 0) {
      ++i;
      continue;
    }
    int j = i;
    while (j < 8 && g[j] == 0) ++j;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  static constexpr char kHex[] = "0123456789abcdef";
  for (int i = 0; i < 8; ++i) {
    if (i == bestStart) {
      *p++ = ':';
      if (i == 0) *p++ = ':';
      i += bestLen - 1;
      continue;
    }
    bool leading = true;
    for (int shift = 12; shift >= 0; shift -= 4) {
      unsigned d = g[i] >> shift & 0xf;
      if (d == 0 && leading && shift != 0) continue;
      leading = false;
      *p++ = kHex[d];
    }
    if (i != 7) *p++ = ':';
  }
  return static_cast<std::size_t>(p - out.data());
}

std::string toString(const IpAddress& ip) {
  char buf[kMaxIpText];
  return std::string(buf, formatIp(ip, buf));
}

bool CidrRange::contains(const IpAddress& ip) const {
  if (ip.family != network.family) return false;
  unsigned full = prefixLength / 8U;
  if (std::memcmp(ip.bytes.data(), network.bytes.data(), full) != 0) return false;
  unsigned rest = prefixLength % 8U;
  if (rest == 0) return true;
  auto mask = static_cast<std::uint8_t>(0xffU << (8 - rest));
  return (ip.bytes[full] & mask) == network.bytes[full];
}

std::optional<CidrRange> parseCidr(std::string_view text, std::string* error) {
  std::size_t slash = text.find('/');
  std::optional<IpAddress> ip = parseIp(text.substr(0, slash), error);
  if (!ip) return std::nullopt;
  unsigned maxLen = ip->family == IpFamily::kV4 ? 32 : 128;
  unsigned len = maxLen;
  if (slash != std::string_view::npos) {
    std::string_view digits = text.substr(slash + 1);
    if (digits.empty() || digits.size() > 3 || (digits.size() > 1 && digits[0] == '0')) {
      setError(error, "a prefix length is a decimal number after '/'", text);
      return std::nullopt;
    }
    len = 0;
    for (char c : digits) {
      if (c < '0' || c > '9') {
        setError(error, "a prefix length is a decimal number after '/'", text);
        return std::nullopt;
      }
      len = len * 10 + static_cast<unsigned>(c - '0');
    }
    if (len > maxLen) {
      setError(error,
               ip->family == IpFamily::kV4 ? "IPv4 prefix length above 32"
                                           : "IPv6 prefix length above 128",
               text);
      return std::nullopt;
    }
  }
  CidrRange r{*ip, static_cast<std::uint8_t>(len)};
  IpAddress masked = *ip;
  for (unsigned bit = len; bit < maxLen; ++bit) {
    masked.bytes[bit / 8] =
        static_cast<std::uint8_t>(masked.bytes[bit / 8] & ~(0x80U >> (bit % 8)));
  }
  if (!(masked == *ip)) {
    if (error != nullptr) {
      *error = "host bits set below the prefix length in " + std::string(text) + " (did you mean " +
               toString(masked) + "/" + std::to_string(len) + "?)";
    }
    return std::nullopt;
  }
  return r;
}

std::optional<CidrList> CidrList::parse(std::string_view list, std::string* error) {
  std::vector<CidrRange> ranges;
  std::size_t i = 0;
  int index = 0;
  auto isSep = [](char c) { return c == ',' || c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
  while (i < list.size()) {
    while (i < list.size() && isSep(list[i])) ++i;
    if (i == list.size()) break;
    std::size_t start = i;
    while (i < list.size() && !isSep(list[i])) ++i;
    std::string_view entry = list.substr(start, i - start);
    ++index;
    std::string why;
    std::optional<CidrRange> r = parseCidr(entry, &why);
    if (!r) {
      if (error != nullptr) {
        *error = "entry " + std::to_string(index) + " (\"" + std::string(entry) + "\"): " + why;
      }
      return std::nullopt;
    }
    ranges.push_back(*r);
  }
  return CidrList(std::move(ranges));
}

bool CidrList::contains(const IpAddress& ip) const {
  bool mapped = ip.isV4Mapped();
  IpAddress v4 = mapped ? ip.unmapped() : ip;
  for (const CidrRange& r : ranges_) {
    if (r.contains(ip)) return true;
    if (mapped && r.contains(v4)) return true;
  }
  return false;
}

bool CidrList::contains(IpFamily family, const std::uint8_t* bytes, std::size_t len) const {
  IpAddress ip;
  ip.family = family;
  if (len != ip.size()) return false;
  std::memcpy(ip.bytes.data(), bytes, len);
  return contains(ip);
}

}  // namespace ferry
