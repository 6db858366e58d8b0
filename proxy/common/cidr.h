#pragma once
// IP addresses as raw bytes and CIDR lists over them (trusted_proxies, PROXY protocol, logs).
//
// Accepts the usual text forms: IPv4 dotted quads ("10.0.0.1": four decimal parts 0..255, no
// leading zeros, which some parsers read as octal), IPv6 (RFC 4291 section 2.2: "::1",
// "2001:db8::1", "::ffff:1.2.3.4"; no zone id, no brackets), and CIDR ranges of either
// ("10.0.0.0/8", "::1/128"; a bare address is a /32 or /128). Rejects host bits set below the
// prefix ("10.0.0.1/8": ambiguous, the error suggests the network), prefixes beyond 32/128 and
// anything else, with a message that says what is wrong (the config loader prints it as is).
//
// Depends on no socket header: io::Address converts to these in proxy/http/ip.h.
// Matching allocates nothing and takes no lock; a CidrList is built at config time (it owns a
// vector) and is read-only afterwards, so workers may share it.

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace ferry {

enum class IpFamily : std::uint8_t {
  kV4,  // 4 bytes
  kV6,  // 16 bytes
};

struct IpAddress {
  IpFamily family = IpFamily::kV4;
  std::array<std::uint8_t, 16> bytes{};  // network order; only the first 4 are used for kV4

  std::size_t size() const { return family == IpFamily::kV4 ? 4 : 16; }
  // An IPv6 address of the form ::ffff:a.b.c.d (what a dual-stack socket reports for IPv4).
  bool isV4Mapped() const;
  // For a v4-mapped IPv6 address the IPv4 address it holds; otherwise *this.
  IpAddress unmapped() const;
  bool operator==(const IpAddress& o) const;

  static IpAddress v4(std::uint8_t a, std::uint8_t b, std::uint8_t c, std::uint8_t d);
};

// Parses an IPv4 or IPv6 address (the forms in the file comment). On failure returns nullopt
// and, when error is given, sets it to why (e.g. "IPv4 part out of range (0..255): 256").
std::optional<IpAddress> parseIp(std::string_view text, std::string* error = nullptr);

// Writes the canonical text (RFC 5952 for IPv6: lower case, longest zero run as "::") into out;
// returns its length, or 0 if out is smaller than kMaxIpText. No allocation.
inline constexpr std::size_t kMaxIpText = 46;  // INET6_ADDRSTRLEN
std::size_t formatIp(const IpAddress& ip, std::span<char> out);
std::string toString(const IpAddress& ip);

struct CidrRange {
  IpAddress network;          // host bits are zero
  std::uint8_t prefixLength;  // 0..32 for IPv4, 0..128 for IPv6

  bool contains(const IpAddress& ip) const;
  bool operator==(const CidrRange&) const = default;
};

// Parses one range ("10.0.0.0/8", "::1/128", "127.0.0.1"); error as for parseIp.
std::optional<CidrRange> parseCidr(std::string_view text, std::string* error = nullptr);

class CidrList {
 public:
  CidrList() = default;
  explicit CidrList(std::vector<CidrRange> ranges) : ranges_(std::move(ranges)) {}

  // Parses a list separated by commas and/or white space ("10.0.0.0/8, ::1/128 127.0.0.1").
  // On the first bad entry returns nullopt with error "entry N (\"text\"): why" (N from 1).
  static std::optional<CidrList> parse(std::string_view list, std::string* error = nullptr);

  void add(const CidrRange& r) { ranges_.push_back(r); }
  bool empty() const { return ranges_.empty(); }
  std::span<const CidrRange> ranges() const { return ranges_; }

  // Whether ip falls in one of the ranges. A v4-mapped IPv6 address also matches IPv4 ranges.
  bool contains(const IpAddress& ip) const;
  // The same over raw network-order bytes (4 for kV4, 16 for kV6); false if len is wrong.
  bool contains(IpFamily family, const std::uint8_t* bytes, std::size_t len) const;

 private:
  std::vector<CidrRange> ranges_;
};

}  // namespace ferry
