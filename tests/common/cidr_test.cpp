#include "proxy/common/cidr.h"

#include <gtest/gtest.h>

#include <string>

namespace ferry {
namespace {

struct IpCase {
  const char* in;
  const char* canonical;  // nullptr: rejected
  const char* error;      // expected error prefix when rejected
};

class IpText : public ::testing::TestWithParam<IpCase> {};

TEST_P(IpText, ParsesToCanonicalOrRejectsWithReason) {
  const IpCase& c = GetParam();
  std::string why;
  std::optional<IpAddress> ip = parseIp(c.in, &why);
  if (c.canonical == nullptr) {
    EXPECT_FALSE(ip.has_value()) << c.in;
    EXPECT_EQ(why.rfind(c.error, 0), 0U) << c.in << " -> " << why;
    return;
  }
  ASSERT_TRUE(ip.has_value()) << c.in << ": " << why;
  EXPECT_EQ(toString(*ip), c.canonical);
}

INSTANTIATE_TEST_SUITE_P(
    Table, IpText,
    ::testing::Values(IpCase{"127.0.0.1", "127.0.0.1", ""}, IpCase{"0.0.0.0", "0.0.0.0", ""},
                      IpCase{"255.255.255.255", "255.255.255.255", ""}, IpCase{"::1", "::1", ""},
                      IpCase{"::", "::", ""}, IpCase{"2001:DB8:0:0:0:0:0:1", "2001:db8::1", ""},
                      IpCase{"2001:db8:0:1:0:0:0:1", "2001:db8:0:1::1", ""},
                      IpCase{"2001:0:0:1:0:0:0:1", "2001:0:0:1::1", ""},
                      IpCase{"1:0:0:2:0:0:3:4", "1::2:0:0:3:4", ""},
                      IpCase{"1:0:0:2:0:0:0:3", "1:0:0:2::3", ""}, IpCase{"1::", "1::", ""},
                      IpCase{"1:2:3:4:5:6:7::", "1:2:3:4:5:6:7:0", ""},
                      IpCase{"::ffff:10.1.2.3", "::ffff:10.1.2.3", ""},
                      IpCase{"64:ff9b::192.0.2.33", "64:ff9b::c000:221", ""},
                      IpCase{"", nullptr, "empty address"},
                      IpCase{"256.1.1.1", nullptr, "IPv4 part out of range (0..255): 256"},
                      IpCase{"01.1.1.1", nullptr, "IPv4 part with a leading zero"},
                      IpCase{"1.2.3", nullptr, "an IPv4 address has four parts"},
                      IpCase{"1.2.3.4.5", nullptr, "unexpected text after an IPv4 address"},
                      IpCase{"1.2.3.x", nullptr, "expected a decimal number"},
                      IpCase{"1:2:3:4:5:6:7", nullptr,
                             "an IPv6 address without \"::\" has 8 groups"},
                      IpCase{"1::2::3", nullptr, "\"::\" may appear only once"},
                      IpCase{"12345::", nullptr, "an IPv6 group has 1 to 4 hex digits"},
                      IpCase{"g::", nullptr, "invalid character in an IPv6 address"},
                      IpCase{"fe80::1%eth0", nullptr, "IPv6 zone ids are not supported"},
                      IpCase{"1:2:3:4:5:6:7:8:9", nullptr, "too many groups"},
                      IpCase{"1:2:3:4:5:6:7:8::", nullptr, "too many groups"},
                      IpCase{":1::", nullptr, "an IPv6 group has 1 to 4 hex digits"},
                      IpCase{"[::1]", nullptr, "invalid character"}));

TEST(Cidr, ParsesRangesAndMatchesBothFamilies) {
  std::string why;
  std::optional<CidrList> list =
      CidrList::parse("10.0.0.0/8, ::1/128 127.0.0.1,192.168.1.128/25", &why);
  ASSERT_TRUE(list.has_value()) << why;
  ASSERT_EQ(list->ranges().size(), 4U);
  EXPECT_EQ(list->ranges()[2].prefixLength, 32);
  auto in = [&](const char* s) { return list->contains(*parseIp(s)); };
  EXPECT_TRUE(in("10.255.0.1"));
  EXPECT_FALSE(in("11.0.0.1"));
  EXPECT_TRUE(in("::1"));
  EXPECT_FALSE(in("::2"));
  EXPECT_TRUE(in("127.0.0.1"));
  EXPECT_FALSE(in("127.0.0.2"));
  EXPECT_TRUE(in("192.168.1.200"));
  EXPECT_FALSE(in("192.168.1.127"));
  EXPECT_TRUE(in("::ffff:10.9.9.9"));  // a dual-stack socket's view of an IPv4 client
  EXPECT_FALSE(in("::ffff:11.9.9.9"));
  const std::uint8_t raw[4] = {10, 1, 2, 3};
  EXPECT_TRUE(list->contains(IpFamily::kV4, raw, 4));
  EXPECT_FALSE(list->contains(IpFamily::kV6, raw, 4));
}

TEST(Cidr, ZeroPrefixMatchesEverythingOfItsFamily) {
  CidrList all = *CidrList::parse("0.0.0.0/0");
  EXPECT_TRUE(all.contains(*parseIp("203.0.113.7")));
  EXPECT_FALSE(all.contains(*parseIp("2001:db8::1")));
  CidrList all6 = *CidrList::parse("::/0");
  EXPECT_TRUE(all6.contains(*parseIp("2001:db8::1")));
  EXPECT_TRUE(CidrList::parse("")->empty());
  EXPECT_FALSE(CidrList().contains(*parseIp("1.2.3.4")));
}

TEST(Cidr, PreciseErrors) {
  struct Bad {
    const char* list;
    const char* error;
  };
  for (const Bad& b : {
           Bad{"10.0.0.1/8",
               "entry 1 (\"10.0.0.1/8\"): host bits set below the prefix length in "
               "10.0.0.1/8 (did you mean 10.0.0.0/8?)"},
           Bad{"::1/128, 10.0.0.0/33",
               "entry 2 (\"10.0.0.0/33\"): IPv4 prefix length above 32: "
               "10.0.0.0/33"},
           Bad{"::/129", "entry 1 (\"::/129\"): IPv6 prefix length above 128: ::/129"},
           Bad{"10.0.0.0/",
               "entry 1 (\"10.0.0.0/\"): a prefix length is a decimal number after "
               "'/': 10.0.0.0/"},
           Bad{"10.0.0.0/08",
               "entry 1 (\"10.0.0.0/08\"): a prefix length is a decimal number "
               "after '/': 10.0.0.0/08"},
           Bad{"1.2.3.4 localhost",
               "entry 2 (\"localhost\"): expected a decimal number in an IPv4 "
               "address: localhost"},
           Bad{"2001:db8::1/32",
               "entry 1 (\"2001:db8::1/32\"): host bits set below the prefix "
               "length in 2001:db8::1/32 (did you mean 2001:db8::/32?)"},
       }) {
    std::string why;
    EXPECT_FALSE(CidrList::parse(b.list, &why).has_value()) << b.list;
    EXPECT_EQ(why, b.error);
  }
}

TEST(Cidr, FormatNeedsRoomAndUnmaps) {
  char small[8];
  EXPECT_EQ(formatIp(*parseIp("1.2.3.4"), small), 0U);
  IpAddress m = *parseIp("::ffff:1.2.3.4");
  EXPECT_TRUE(m.isV4Mapped());
  EXPECT_EQ(m.unmapped(), IpAddress::v4(1, 2, 3, 4));
  EXPECT_FALSE(parseIp("::1")->isV4Mapped());
}

}  // namespace
}  // namespace ferry
