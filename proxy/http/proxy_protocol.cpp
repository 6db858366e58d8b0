#include "proxy/http/proxy_protocol.h"

#include <cstring>

namespace ferry::http {

namespace {

constexpr char kV2Signature[12] = {'\r', '\n', '\r', '\n', '\0', '\r',
                                   '\n', 'Q',  'U',  'I',  'T',  '\n'};
constexpr std::string_view kV2Sig(kV2Signature, sizeof(kV2Signature));
constexpr std::string_view kV1Prefix = "PROXY ";

IpAddress asV6(const IpAddress& ip) {
  if (ip.family == IpFamily::kV6) return ip;
  IpAddress m;
  m.family = IpFamily::kV6;
  m.bytes[10] = 0xff;
  m.bytes[11] = 0xff;
  std::memcpy(m.bytes.data() + 12, ip.bytes.data(), 4);
  return m;
}

void putPort(char*& p, std::uint16_t port) {
  char digits[5];
  int n = 0;
  do {
    digits[n++] = static_cast<char>('0' + port % 10);
    port = static_cast<std::uint16_t>(port / 10);
  } while (port != 0);
  while (n > 0) *p++ = digits[--n];
}

bool parsePort(std::string_view s, std::uint16_t& port) {
  if (s.empty() || s.size() > 5 || (s.size() > 1 && s[0] == '0')) return false;
  std::uint32_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<std::uint32_t>(c - '0');
  }
  if (v > 65535) return false;
  port = static_cast<std::uint16_t>(v);
  return true;
}

ProxyDecode error(std::string_view why) {
  ProxyDecode d;
  d.status = ProxyDecode::Status::kError;
  d.error = why;
  return d;
}

ProxyDecode decodeV1(std::string_view in) {
  std::size_t prefix = in.size() < kV1Prefix.size() ? in.size() : kV1Prefix.size();
  if (in.substr(0, prefix) != kV1Prefix.substr(0, prefix)) return error("not a PROXY v1 header");
  std::size_t limit = in.size() < kProxyV1MaxBytes ? in.size() : kProxyV1MaxBytes;
  std::size_t end = std::string_view::npos;
  for (std::size_t i = 0; i < limit; ++i) {
    if (in[i] == '\n') return error("PROXY v1 line ends with a bare LF");
    if (in[i] == '\r') {
      if (i + 1 == in.size()) return ProxyDecode{};  // the LF may follow
      if (in[i + 1] != '\n') return error("PROXY v1 line has a bare CR");
      end = i;
      break;
    }
  }
  if (end == std::string_view::npos) {
    if (in.size() >= kProxyV1MaxBytes) return error("PROXY v1 header longer than 107 bytes");
    return ProxyDecode{};
  }
  std::string_view line = in.substr(kV1Prefix.size(), end - kV1Prefix.size());
  ProxyDecode d;
  d.header.version = 1;
  d.consumed = end + 2;
  if (line == "UNKNOWN" || line.substr(0, 8) == "UNKNOWN ") {
    d.status = ProxyDecode::Status::kDone;
    d.header.kind = ProxyHeader::Kind::kUnknown;
    return d;
  }
  std::string_view f[5];
  std::string_view rest = line;
  std::string_view proto;
  std::size_t sp = rest.find(' ');
  if (sp == std::string_view::npos) return error("PROXY v1 protocol is not TCP4, TCP6 or UNKNOWN");
  proto = rest.substr(0, sp);
  rest.remove_prefix(sp + 1);
  IpFamily family;
  if (proto == "TCP4") {
    family = IpFamily::kV4;
  } else if (proto == "TCP6") {
    family = IpFamily::kV6;
  } else {
    return error("PROXY v1 protocol is not TCP4, TCP6 or UNKNOWN");
  }
  for (int k = 0; k < 4; ++k) {
    sp = rest.find(' ');
    if (k < 3) {
      if (sp == std::string_view::npos) return error("PROXY v1 line has too few fields");
      f[k] = rest.substr(0, sp);
      rest.remove_prefix(sp + 1);
    } else {
      if (sp != std::string_view::npos) return error("PROXY v1 line has too many fields");
      f[k] = rest;
    }
  }
  std::optional<IpAddress> src = parseIp(f[0]);
  std::optional<IpAddress> dst = parseIp(f[1]);
  if (!src || !dst) return error("PROXY v1 address is not a valid IP address");
  if (src->family != family || dst->family != family) {
    return error("PROXY v1 address does not match the protocol's family");
  }
  if (!parsePort(f[2], d.header.source.port) || !parsePort(f[3], d.header.destination.port)) {
    return error("PROXY v1 port is not a number in 0..65535");
  }
  d.header.kind = ProxyHeader::Kind::kProxy;
  d.header.source.ip = *src;
  d.header.destination.ip = *dst;
  d.status = ProxyDecode::Status::kDone;
  return d;
}

ProxyDecode decodeV2(std::string_view in, std::size_t maxBytes) {
  std::size_t prefix = in.size() < kV2Sig.size() ? in.size() : kV2Sig.size();
  if (in.substr(0, prefix) != kV2Sig.substr(0, prefix)) return error("not a PROXY v2 signature");
  if (in.size() < kProxyV2HeaderBytes) {
    // Check what has arrived of the fixed part already.
    if (in.size() > 12 && (static_cast<unsigned char>(in[12]) >> 4) != 2) {
      return error("PROXY v2 version is not 2");
    }
    return ProxyDecode{};
  }
  auto u8 = [&in](std::size_t i) {
    return static_cast<unsigned>(static_cast<unsigned char>(in[i]));
  };
  unsigned verCmd = u8(12);
  unsigned famProto = u8(13);
  std::size_t len = u8(14) << 8 | u8(15);
  if (verCmd >> 4 != 2) return error("PROXY v2 version is not 2");
  unsigned cmd = verCmd & 0xf;
  if (cmd > 1) return error("PROXY v2 command is neither LOCAL nor PROXY");
  unsigned fam = famProto >> 4;
  unsigned proto = famProto & 0xf;
  if (fam > 3) return error("PROXY v2 unknown address family");
  if (proto > 2) return error("PROXY v2 unknown transport protocol");
  if (kProxyV2HeaderBytes + len > maxBytes) return error("PROXY v2 header too large");
  static constexpr std::size_t kNeed[4] = {0, 12, 36, 216};
  if (cmd == 1 && len < kNeed[fam]) return error("PROXY v2 address block too short for its family");
  if (in.size() < kProxyV2HeaderBytes + len) return ProxyDecode{};
  ProxyDecode d;
  d.status = ProxyDecode::Status::kDone;
  d.consumed = kProxyV2HeaderBytes + len;
  d.header.version = 2;
  if (cmd == 0) {
    d.header.kind = ProxyHeader::Kind::kLocal;
    return d;
  }
  if (proto == 2) return error("PROXY v2 DGRAM is not supported");
  if (fam == 0 || fam == 3) {
    d.header.kind = ProxyHeader::Kind::kUnknown;
    return d;
  }
  const char* a = in.data() + kProxyV2HeaderBytes;
  std::size_t n = fam == 1 ? 4 : 16;
  d.header.kind = ProxyHeader::Kind::kProxy;
  d.header.source.ip.family = d.header.destination.ip.family =
      fam == 1 ? IpFamily::kV4 : IpFamily::kV6;
  std::memcpy(d.header.source.ip.bytes.data(), a, n);
  std::memcpy(d.header.destination.ip.bytes.data(), a + n, n);
  auto port = [&](std::size_t off) {
    return static_cast<std::uint16_t>(u8(kProxyV2HeaderBytes + off) << 8 |
                                      u8(kProxyV2HeaderBytes + off + 1));
  };
  d.header.source.port = port(2 * n);
  d.header.destination.port = port(2 * n + 2);
  return d;
}

}  // namespace

std::size_t encodeProxyV1(const ProxyHeader& h, std::span<char> out) {
  if (h.kind == ProxyHeader::Kind::kLocal) return 0;
  if (h.kind == ProxyHeader::Kind::kUnknown) {
    constexpr std::string_view kUnknown = "PROXY UNKNOWN\r\n";
    if (out.size() < kUnknown.size()) return 0;
    std::memcpy(out.data(), kUnknown.data(), kUnknown.size());
    return kUnknown.size();
  }
  bool v6 = h.source.ip.family == IpFamily::kV6 || h.destination.ip.family == IpFamily::kV6;
  IpAddress src = v6 ? asV6(h.source.ip) : h.source.ip;
  IpAddress dst = v6 ? asV6(h.destination.ip) : h.destination.ip;
  char buf[kProxyV1MaxBytes + 8];
  char* p = buf;
  std::memcpy(p, v6 ? "PROXY TCP6 " : "PROXY TCP4 ", 11);
  p += 11;
  p += formatIp(src, std::span<char>(p, kMaxIpText));
  *p++ = ' ';
  p += formatIp(dst, std::span<char>(p, kMaxIpText));
  *p++ = ' ';
  putPort(p, h.source.port);
  *p++ = ' ';
  putPort(p, h.destination.port);
  *p++ = '\r';
  *p++ = '\n';
  auto n = static_cast<std::size_t>(p - buf);
  if (out.size() < n) return 0;
  std::memcpy(out.data(), buf, n);
  return n;
}

std::size_t encodeProxyV2(const ProxyHeader& h, std::span<char> out) {
  unsigned char buf[kProxyV2HeaderBytes + 36];
  std::memcpy(buf, kV2Signature, sizeof(kV2Signature));
  std::size_t len = 0;
  if (h.kind == ProxyHeader::Kind::kLocal) {
    buf[12] = 0x20;
    buf[13] = 0x00;
  } else if (h.kind == ProxyHeader::Kind::kUnknown) {
    buf[12] = 0x21;
    buf[13] = 0x00;
  } else {
    bool v6 = h.source.ip.family == IpFamily::kV6 || h.destination.ip.family == IpFamily::kV6;
    IpAddress src = v6 ? asV6(h.source.ip) : h.source.ip;
    IpAddress dst = v6 ? asV6(h.destination.ip) : h.destination.ip;
    std::size_t n = v6 ? 16 : 4;
    buf[12] = 0x21;
    buf[13] = v6 ? 0x21 : 0x11;
    unsigned char* a = buf + kProxyV2HeaderBytes;
    std::memcpy(a, src.bytes.data(), n);
    std::memcpy(a + n, dst.bytes.data(), n);
    a[2 * n] = static_cast<unsigned char>(h.source.port >> 8);
    a[2 * n + 1] = static_cast<unsigned char>(h.source.port & 0xff);
    a[2 * n + 2] = static_cast<unsigned char>(h.destination.port >> 8);
    a[2 * n + 3] = static_cast<unsigned char>(h.destination.port & 0xff);
    len = 2 * n + 4;
  }
  buf[14] = static_cast<unsigned char>(len >> 8);
  buf[15] = static_cast<unsigned char>(len & 0xff);
  std::size_t total = kProxyV2HeaderBytes + len;
  if (out.size() < total) return 0;
  std::memcpy(out.data(), buf, total);
  return total;
}

ProxyDecode decodeProxyHeader(std::string_view in, ProxyVersions accept, std::size_t maxV2Bytes) {
  if (in.empty()) return ProxyDecode{};
  bool v1 = in[0] == 'P';
  bool v2 = in[0] == '\r';
  if (v1 && accept != ProxyVersions::kV2) return decodeV1(in);
  if (v2 && accept != ProxyVersions::kV1) return decodeV2(in, maxV2Bytes);
  switch (accept) {
    case ProxyVersions::kV1:
      return error("not a PROXY v1 header");
    case ProxyVersions::kV2:
      return error("not a PROXY v2 signature");
    case ProxyVersions::kAny:
      break;
  }
  return error("no PROXY protocol header");
}

}  // namespace ferry::http
