// CIDR ranges for trusted_proxies: parsed strictly (what a user wrote must mean one range).

#include <charconv>
#include <cstring>

#include "proxy/config/config.h"

namespace ferry::config {
namespace {

// A decimal number without sign or leading zeros, at most max.
bool decimal(std::string_view s, unsigned max, unsigned& out) {
  if (s.empty() || s.size() > 3 || (s.size() > 1 && s[0] == '0')) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size() && out <= max;
}

bool parseV4(std::string_view s, std::uint8_t* out) {
  for (int i = 0; i < 4; ++i) {
    std::size_t dot = s.find('.');
    if ((i < 3) != (dot != std::string_view::npos)) return false;
    unsigned v = 0;
    if (!decimal(s.substr(0, dot), 255, v)) return false;
    out[i] = static_cast<std::uint8_t>(v);
    s = i < 3 ? s.substr(dot + 1) : std::string_view();
  }
  return true;
}

bool hexGroup(std::string_view s, std::uint16_t& out) {
  if (s.empty() || s.size() > 4) return false;
  unsigned v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v, 16);
  if (ec != std::errc() || p != s.data() + s.size()) return false;
  out = static_cast<std::uint16_t>(v);
  return true;
}

// RFC 4291 text forms: eight groups, one "::", and an IPv4 tail.
bool parseV6(std::string_view s, std::uint8_t* out) {
  std::uint16_t head[8], tail[8];
  int nh = 0, nt = 0;
  bool gap = false;
  std::size_t dbl = s.find("::");
  if (dbl != std::string_view::npos) {
    if (s.find("::", dbl + 1) != std::string_view::npos) return false;
    gap = true;
  }
  auto parsePart = [&](std::string_view part, std::uint16_t* groups, int& n, bool last) {
    if (part.empty()) return true;
    while (true) {
      std::size_t c = part.find(':');
      std::string_view g = part.substr(0, c);
      if (c == std::string_view::npos && last && g.find('.') != std::string_view::npos) {
        std::uint8_t v4[4];
        if (!parseV4(g, v4) || n > 6) return false;
        groups[n++] = static_cast<std::uint16_t>(v4[0] << 8 | v4[1]);
        groups[n++] = static_cast<std::uint16_t>(v4[2] << 8 | v4[3]);
        return true;
      }
      if (n >= 8 || !hexGroup(g, groups[n])) return false;
      ++n;
      if (c == std::string_view::npos) return true;
      part = part.substr(c + 1);
    }
  };
  if (gap) {
    if (!parsePart(s.substr(0, dbl), head, nh, false) ||
        !parsePart(s.substr(dbl + 2), tail, nt, true) || nh + nt > 7) {
      return false;
    }
  } else if (!parsePart(s, head, nh, true) || nh != 8) {
    return false;
  }
  std::uint16_t all[8] = {};
  for (int i = 0; i < nh; ++i) all[i] = head[i];
  for (int i = 0; i < nt; ++i) all[8 - nt + i] = tail[i];
  for (int i = 0; i < 8; ++i) {
    out[2 * i] = static_cast<std::uint8_t>(all[i] >> 8);
    out[2 * i + 1] = static_cast<std::uint8_t>(all[i] & 0xff);
  }
  return true;
}

bool prefixMatches(const std::uint8_t* a, const std::uint8_t* b, unsigned bits) {
  unsigned full = bits / 8, rest = bits % 8;
  if (std::memcmp(a, b, full) != 0) return false;
  if (rest == 0) return true;
  auto mask = static_cast<std::uint8_t>(0xff << (8 - rest));
  return (a[full] & mask) == (b[full] & mask);
}

}  // namespace

std::optional<Cidr> Cidr::parse(std::string_view s, std::string& error) {
  Cidr c;
  c.text = std::string(s);
  std::size_t slash = s.find('/');
  if (slash == std::string_view::npos) {
    error = "is not an address range: write address/prefix, e.g. 10.0.0.0/8 or fd00::/8";
    return std::nullopt;
  }
  std::string_view addr = s.substr(0, slash);
  c.v6 = addr.find(':') != std::string_view::npos;
  if (!(c.v6 ? parseV6(addr, c.bytes.data()) : parseV4(addr, c.bytes.data()))) {
    error = c.v6 ? "is not an address range: the IPv6 address is malformed"
                 : "is not an address range: the IPv4 address is malformed";
    return std::nullopt;
  }
  unsigned max = c.v6 ? 128 : 32;
  if (!decimal(s.substr(slash + 1), max, c.prefix)) {
    error = "is not an address range: the prefix length must be 0 to " + std::to_string(max);
    return std::nullopt;
  }
  // Host bits set: the user meant a different range than the one this denotes.
  std::array<std::uint8_t, 16> net{};
  for (unsigned i = 0; i < c.prefix / 8; ++i) net[i] = c.bytes[i];
  if (c.prefix % 8 != 0) {
    net[c.prefix / 8] =
        static_cast<std::uint8_t>(c.bytes[c.prefix / 8] & (0xff << (8 - c.prefix % 8)));
  }
  if (net != c.bytes) {
    error = "has host bits set after the /" + std::to_string(c.prefix) + " prefix";
    return std::nullopt;
  }
  return c;
}

bool Cidr::contains(const std::uint8_t* addr, bool addrIsV6) const {
  static constexpr std::uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (v6 == addrIsV6) return prefixMatches(bytes.data(), addr, prefix);
  if (!v6 && addrIsV6 && std::memcmp(addr, kMapped, 12) == 0) {
    return prefixMatches(bytes.data(), addr + 12, prefix);
  }
  return false;
}

}  // namespace ferry::config
