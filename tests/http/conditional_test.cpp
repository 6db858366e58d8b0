// Validators, conditional requests and byte ranges (proxy/http/conditional.h): HTTP-dates in their
// three forms, ferry's entity tags and If-None-Match lists, and Range values against a size.

#include "proxy/http/conditional.h"

#include <gtest/gtest.h>

#include <string>

namespace ferry::http {
namespace {

std::string date(std::int64_t t) {
  char buf[kHttpDateSize];
  return {buf, formatHttpDate(t, buf)};
}

TEST(HttpDate, FormatsImfFixdate) {
  EXPECT_EQ(date(784111777), "Sun, 06 Nov 1994 08:49:37 GMT");  // RFC 9110's example
  EXPECT_EQ(date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
  EXPECT_EQ(date(951782400), "Tue, 29 Feb 2000 00:00:00 GMT");
  EXPECT_EQ(date(4102444799), "Thu, 31 Dec 2099 23:59:59 GMT");
  EXPECT_EQ(date(-1), "");
  char small[10];
  EXPECT_EQ(formatHttpDate(0, small), 0u);
}

TEST(HttpDate, ParsesAllThreeFormsAndNothingElse) {
  EXPECT_EQ(parseHttpDate("Sun, 06 Nov 1994 08:49:37 GMT"), 784111777);
  EXPECT_EQ(parseHttpDate("Sunday, 06-Nov-94 08:49:37 GMT"), 784111777);
  EXPECT_EQ(parseHttpDate("Sun Nov  6 08:49:37 1994"), 784111777);
  EXPECT_EQ(parseHttpDate(" Sun, 06 Nov 1994 08:49:37 GMT "), 784111777);
  EXPECT_EQ(parseHttpDate("Tue, 29 Feb 2000 00:00:00 GMT"), 951782400);
  for (std::int64_t t : {0LL, 951782400LL, 1700000000LL, 4102444799LL}) {
    EXPECT_EQ(parseHttpDate(date(t)), t) << date(t);
  }
  for (const char* bad :
       {"", "garbage", "Sun, 06 Nov 1994 08:49:37 UTC", "Sun, 6 Nov 1994 08:49:37 GMT",
        "Sun, 06 Nov 1994 24:49:37 GMT", "Sun, 06 Foo 1994 08:49:37 GMT",
        "Sun, 06 Nov 1994 08:49:37 GMT x", "1994-11-06T08:49:37Z"}) {
    EXPECT_FALSE(parseHttpDate(bad).has_value()) << bad;
  }
}

TEST(ETag, IsStrongFromMtimeAndSize) {
  char buf[kMaxETagSize];
  EXPECT_EQ(std::string(buf, formatETag(0x1234, 0x10, buf)), "\"1234-10\"");
  EXPECT_EQ(std::string(buf, formatETag(0, 0, buf)), "\"0-0\"");
  EXPECT_EQ(formatETag(~0ULL, ~0ULL, buf), kMaxETagSize);
}

TEST(ETag, IfNoneMatchComparesWeakly) {
  EXPECT_TRUE(noneMatchHits("\"1-2\"", "\"1-2\""));
  EXPECT_TRUE(noneMatchHits("W/\"1-2\"", "\"1-2\""));
  EXPECT_TRUE(noneMatchHits("\"a\", W/\"b\" ,\"1-2\"", "\"1-2\""));
  EXPECT_TRUE(noneMatchHits(" * ", "\"1-2\""));
  EXPECT_FALSE(noneMatchHits("\"1-3\"", "\"1-2\""));
  EXPECT_FALSE(noneMatchHits("1-2", "\"1-2\""));
  EXPECT_FALSE(noneMatchHits("", "\"1-2\""));
}

TEST(ETag, IfRangeComparesStrongly) {
  EXPECT_TRUE(strongETagMatch("\"1-2\"", "\"1-2\""));
  EXPECT_FALSE(strongETagMatch("W/\"1-2\"", "\"1-2\""));
  EXPECT_FALSE(strongETagMatch("\"1-3\"", "\"1-2\""));
  EXPECT_FALSE(strongETagMatch("", ""));
}

void expectRange(std::string_view value, std::uint64_t size, RangeKind kind,
                 std::uint64_t offset = 0, std::uint64_t length = 0) {
  RangeRequest r = parseRange(value, size);
  EXPECT_EQ(r.kind, kind) << value;
  if (kind == RangeKind::kSingle) {
    EXPECT_EQ(r.offset, offset) << value;
    EXPECT_EQ(r.length, length) << value;
  }
}

TEST(Range, OneSatisfiableRangeIsServed) {
  expectRange("bytes=0-4", 10, RangeKind::kSingle, 0, 5);
  expectRange("bytes=5-", 10, RangeKind::kSingle, 5, 5);
  expectRange("bytes=-3", 10, RangeKind::kSingle, 7, 3);
  expectRange("bytes=-20", 10, RangeKind::kSingle, 0, 10);
  expectRange("bytes=3-100", 10, RangeKind::kSingle, 3, 7);
  expectRange("bytes=9-9", 10, RangeKind::kSingle, 9, 1);
  expectRange("Bytes = 1-1", 10, RangeKind::kSingle, 1, 1);
  expectRange("bytes=0-99999999999999999999999", 10, RangeKind::kSingle, 0, 10);
  // One satisfiable range among unsatisfiable ones is still several ranges: the whole file.
  expectRange("bytes=0-1,20-30", 10, RangeKind::kWhole);
}

TEST(Range, NothingOverlappingIs416) {
  expectRange("bytes=10-", 10, RangeKind::kUnsatisfiable);
  expectRange("bytes=10-20", 10, RangeKind::kUnsatisfiable);
  expectRange("bytes=-0", 10, RangeKind::kUnsatisfiable);
  expectRange("bytes=0-", 0, RangeKind::kUnsatisfiable);
  expectRange("bytes=-5", 0, RangeKind::kUnsatisfiable);
  expectRange("bytes=20-30, 40-", 10, RangeKind::kUnsatisfiable);
  expectRange("bytes=99999999999999999999999-", 10, RangeKind::kUnsatisfiable);
}

TEST(Range, SeveralOrMalformedRangesGiveTheWholeFile) {
  expectRange("bytes=0-1,4-5", 10, RangeKind::kWhole);
  expectRange("bytes=5-2", 10, RangeKind::kWhole);
  expectRange("bytes=abc", 10, RangeKind::kWhole);
  expectRange("bytes=1", 10, RangeKind::kWhole);
  expectRange("bytes=", 10, RangeKind::kWhole);
  expectRange("bytes=-", 10, RangeKind::kWhole);
  expectRange("bytes=--1", 10, RangeKind::kWhole);
  expectRange("items=0-1", 10, RangeKind::kWhole);
  expectRange("0-1", 10, RangeKind::kWhole);
}

}  // namespace
}  // namespace ferry::http
