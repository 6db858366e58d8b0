#include "proxy/http/proxy_protocol.h"

#include <gtest/gtest.h>

#include <string>

#include "proxy/http/ip.h"

namespace ferry::http {
namespace {

using namespace std::string_literals;
using St = ProxyDecode::Status;
using K = ProxyHeader::Kind;

const std::string kSig = "\r\n\r\n\0\r\nQUIT\n"s;

ProxyHeader tcp(const char* src, std::uint16_t sp, const char* dst, std::uint16_t dp) {
  ProxyHeader h;
  h.kind = K::kProxy;
  h.source = {*parseIp(src), sp};
  h.destination = {*parseIp(dst), dp};
  return h;
}

std::string v1(const ProxyHeader& h) {
  char buf[kProxyV1MaxBytes];
  return std::string(buf, encodeProxyV1(h, buf));
}
std::string v2(const ProxyHeader& h) {
  char buf[64];
  return std::string(buf, encodeProxyV2(h, buf));
}

TEST(ProxyEncode, V1ExactBytes) {
  EXPECT_EQ(v1(tcp("192.0.2.1", 56324, "198.51.100.2", 443)),
            "PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n");
  EXPECT_EQ(v1(tcp("2001:db8::1", 0, "2001:db8::2", 65535)),
            "PROXY TCP6 2001:db8::1 2001:db8::2 0 65535\r\n");
  EXPECT_EQ(v1(tcp("1.2.3.4", 1, "::1", 2)), "PROXY TCP6 ::ffff:1.2.3.4 ::1 1 2\r\n");
  ProxyHeader u;
  u.kind = K::kUnknown;
  EXPECT_EQ(v1(u), "PROXY UNKNOWN\r\n");
  u.kind = K::kLocal;
  EXPECT_EQ(v1(u), "");
  // The longest v1 line fits in 107 bytes.
  std::string longest = v1(tcp("ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe", 65535,
                               "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe", 65535));
  EXPECT_EQ(longest.size(), 104U);
  char small[20];
  EXPECT_EQ(encodeProxyV1(tcp("1.2.3.4", 1, "5.6.7.8", 2), small), 0U);
}

TEST(ProxyEncode, V2ExactBytes) {
  EXPECT_EQ(
      v2(tcp("192.0.2.1", 56324, "198.51.100.2", 443)),
      kSig + "\x21\x11\x00\x0c"s + "\xc0\x00\x02\x01"s + "\xc6\x33\x64\x02"s + "\xdc\x04\x01\xbb"s);
  EXPECT_EQ(v2(tcp("::1", 1, "2001:db8::2", 258)),
            kSig + "\x21\x21\x00\x24"s + std::string(15, '\0') + "\x01"s + "\x20\x01\x0d\xb8"s +
                std::string(11, '\0') + "\x02"s + "\x00\x01\x01\x02"s);
  ProxyHeader h;
  h.kind = K::kLocal;
  EXPECT_EQ(v2(h), kSig + "\x20\x00\x00\x00"s);
  h.kind = K::kUnknown;
  EXPECT_EQ(v2(h), kSig + "\x21\x00\x00\x00"s);
  char small[27];
  EXPECT_EQ(encodeProxyV2(tcp("1.2.3.4", 1, "5.6.7.8", 2), small), 0U);
}

TEST(ProxyDecode, RoundTripsAndReportsTheLength) {
  for (const ProxyHeader& h :
       {tcp("192.0.2.1", 56324, "198.51.100.2", 443), tcp("2001:db8::1", 1, "2001:db8::2", 2)}) {
    for (int version : {1, 2}) {
      std::string wire = (version == 1 ? v1(h) : v2(h)) + "GET / HTTP/1.1\r\n";
      ProxyDecode d = decodeProxyHeader(wire);
      ASSERT_EQ(d.status, St::kDone) << d.error;
      EXPECT_EQ(d.consumed, wire.size() - 16);
      EXPECT_EQ(d.header.version, version);
      EXPECT_EQ(d.header.kind, K::kProxy);
      EXPECT_EQ(d.header.source.ip, h.source.ip);
      EXPECT_EQ(d.header.source.port, h.source.port);
      EXPECT_EQ(d.header.destination.ip, h.destination.ip);
      EXPECT_EQ(d.header.destination.port, h.destination.port);
      // Every strict prefix asks for more.
      std::size_t len = d.consumed;
      for (std::size_t n = 0; n < len; ++n) {
        ProxyDecode p = decodeProxyHeader(std::string_view(wire.data(), n));
        EXPECT_EQ(p.status, St::kNeedMore)
            << "version " << version << " prefix " << n << ": " << p.error;
      }
    }
  }
}

TEST(ProxyDecode, UnknownAndLocal) {
  ProxyDecode d = decodeProxyHeader("PROXY UNKNOWN\r\nxyz");
  ASSERT_EQ(d.status, St::kDone);
  EXPECT_EQ(d.consumed, 15U);
  EXPECT_EQ(d.header.kind, K::kUnknown);
  d = decodeProxyHeader("PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n");
  ASSERT_EQ(d.status, St::kDone);
  EXPECT_EQ(d.header.kind, K::kUnknown);
  // LOCAL: the address block (here garbage, 5 bytes) is skipped.
  std::string local = kSig + "\x20\x11\x00\x05"s + "abcdeDATA";
  d = decodeProxyHeader(local);
  ASSERT_EQ(d.status, St::kDone) << d.error;
  EXPECT_EQ(d.header.kind, K::kLocal);
  EXPECT_EQ(d.consumed, 21U);
  // UNSPEC and UNIX: addresses unknown.
  d = decodeProxyHeader(kSig + "\x21\x00\x00\x00"s);
  EXPECT_EQ(d.header.kind, K::kUnknown);
  d = decodeProxyHeader(kSig + "\x21\x31\x00\xd8"s + std::string(216, 'u'));
  ASSERT_EQ(d.status, St::kDone) << d.error;
  EXPECT_EQ(d.header.kind, K::kUnknown);
  EXPECT_EQ(d.consumed, 232U);
}

TEST(ProxyDecode, V2SkipsTlvs) {
  std::string wire = kSig + "\x21\x11\x00\x11"s + "\x0a\x00\x00\x01"s + "\x0a\x00\x00\x02"s +
                     "\x00\x50\x01\xbb"s + "\x04\x00\x02xy"s + "rest";
  ProxyDecode d = decodeProxyHeader(wire);
  ASSERT_EQ(d.status, St::kDone) << d.error;
  EXPECT_EQ(d.consumed, 33U);
  EXPECT_EQ(d.header.source.ip, IpAddress::v4(10, 0, 0, 1));
  EXPECT_EQ(d.header.source.port, 80);
  EXPECT_EQ(d.header.destination.port, 443);
}

struct Bad {
  const char* name;
  std::string wire;
  ProxyVersions accept;
  const char* error;
};
void PrintTo(const Bad& b, std::ostream* os) {
  *os << b.name;
}
class ProxyMalformed : public ::testing::TestWithParam<Bad> {};

TEST_P(ProxyMalformed, IsAnErrorWithItsReason) {
  ProxyDecode d = decodeProxyHeader(GetParam().wire, GetParam().accept, 512);
  EXPECT_EQ(d.status, St::kError);
  EXPECT_EQ(d.error, GetParam().error);
}

const std::string kV4Block = "\x0a\x00\x00\x01\x0a\x00\x00\x02\x00\x50\x01\xbb"s;

INSTANTIATE_TEST_SUITE_P(
    Table, ProxyMalformed,
    ::testing::Values(
        Bad{"http_request", "GET / HTTP/1.1\r\n", ProxyVersions::kAny, "no PROXY protocol header"},
        Bad{"early_mismatch", "PROX ", ProxyVersions::kAny, "not a PROXY v1 header"},
        Bad{"v1_bare_lf", "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n", ProxyVersions::kAny,
            "PROXY v1 line ends with a bare LF"},
        Bad{"v1_bare_cr", "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX", ProxyVersions::kAny,
            "PROXY v1 line has a bare CR"},
        Bad{"v1_too_long", "PROXY UNKNOWN " + std::string(100, 'x'), ProxyVersions::kAny,
            "PROXY v1 header longer than 107 bytes"},
        Bad{"v1_protocol", "PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n", ProxyVersions::kAny,
            "PROXY v1 protocol is not TCP4, TCP6 or UNKNOWN"},
        Bad{"v1_family_mismatch", "PROXY TCP4 ::1 ::1 1 2\r\n", ProxyVersions::kAny,
            "PROXY v1 address does not match the protocol's family"},
        Bad{"v1_bad_address", "PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n", ProxyVersions::kAny,
            "PROXY v1 address is not a valid IP address"},
        Bad{"v1_port_range", "PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n", ProxyVersions::kAny,
            "PROXY v1 port is not a number in 0..65535"},
        Bad{"v1_port_leading_zero", "PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n", ProxyVersions::kAny,
            "PROXY v1 port is not a number in 0..65535"},
        Bad{"v1_double_space", "PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n", ProxyVersions::kAny,
            "PROXY v1 line has too many fields"},
        Bad{"v1_empty_field", "PROXY TCP4 1.2.3.4  5.6.7.8 1\r\n", ProxyVersions::kAny,
            "PROXY v1 address is not a valid IP address"},
        Bad{"v1_too_few", "PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n", ProxyVersions::kAny,
            "PROXY v1 line has too few fields"},
        Bad{"v1_too_many", "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n", ProxyVersions::kAny,
            "PROXY v1 line has too many fields"},
        Bad{"v1_not_accepted", "PROXY UNKNOWN\r\n", ProxyVersions::kV2, "not a PROXY v2 signature"},
        Bad{"v2_not_accepted", kSig + "\x21\x00\x00\x00"s, ProxyVersions::kV1,
            "not a PROXY v1 header"},
        Bad{"v2_bad_signature", "\r\n\r\n\0\r\nQUIX\n"s, ProxyVersions::kAny,
            "not a PROXY v2 signature"},
        Bad{"v2_version_1", kSig + "\x11\x11\x00\x0c"s + kV4Block, ProxyVersions::kAny,
            "PROXY v2 version is not 2"},
        Bad{"v2_version_seen_early", kSig + "\x31"s, ProxyVersions::kAny,
            "PROXY v2 version is not 2"},
        Bad{"v2_command", kSig + "\x22\x11\x00\x0c"s + kV4Block, ProxyVersions::kAny,
            "PROXY v2 command is neither LOCAL nor PROXY"},
        Bad{"v2_family", kSig + "\x21\x41\x00\x0c"s + kV4Block, ProxyVersions::kAny,
            "PROXY v2 unknown address family"},
        Bad{"v2_transport", kSig + "\x21\x13\x00\x0c"s + kV4Block, ProxyVersions::kAny,
            "PROXY v2 unknown transport protocol"},
        Bad{"v2_short_block", kSig + "\x21\x11\x00\x0b"s + kV4Block, ProxyVersions::kAny,
            "PROXY v2 address block too short for its family"},
        Bad{"v2_short_v6_block", kSig + "\x21\x21\x00\x0c"s + kV4Block, ProxyVersions::kAny,
            "PROXY v2 address block too short for its family"},
        Bad{"v2_dgram", kSig + "\x21\x12\x00\x0c"s + kV4Block, ProxyVersions::kAny,
            "PROXY v2 DGRAM is not supported"},
        Bad{"v2_too_large", kSig + "\x21\x11\x02\x00"s, ProxyVersions::kAny,
            "PROXY v2 header too large"}),
    [](const auto& paramInfo) { return std::string(paramInfo.param.name); });

TEST(AddressGlue, FromSocketAddresses) {
  std::optional<ProxyEndpoint> e = toEndpoint(*io::Address::parse("10.1.2.3:8080"));
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->ip, IpAddress::v4(10, 1, 2, 3));
  EXPECT_EQ(e->port, 8080);
  e = toEndpoint(*io::Address::parse("[2001:db8::5]:443"));
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(toString(e->ip), "2001:db8::5");
  e = toEndpoint(*io::Address::parse("[::ffff:10.0.0.9]:1"));
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->ip, IpAddress::v4(10, 0, 0, 9));  // a dual-stack socket's IPv4 peer
  EXPECT_FALSE(toEndpoint(io::Address()).has_value());
  CidrList trusted = *CidrList::parse("10.0.0.0/8, ::1/128");
  EXPECT_TRUE(contains(trusted, *io::Address::parse("10.9.9.9:1")));
  EXPECT_TRUE(contains(trusted, *io::Address::parse("[::1]:1")));
  EXPECT_TRUE(contains(trusted, *io::Address::parse("[::ffff:10.0.0.9]:1")));
  EXPECT_FALSE(contains(trusted, *io::Address::parse("127.0.0.1:1")));
  EXPECT_FALSE(contains(trusted, io::Address()));
}

}  // namespace
}  // namespace ferry::http
