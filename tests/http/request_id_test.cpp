#include "proxy/http/request_id.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <string>
#include <string_view>
#include <vector>

namespace ferry::http {
namespace {

using F = RequestIdGenerator::Format;

bool isLowerHex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

TEST(RequestId, Hex32Format) {
  RequestIdGenerator g(42);
  std::string_view id = g.next(F::kHex32);
  ASSERT_EQ(id.size(), 32U);
  for (char c : id) EXPECT_TRUE(isLowerHex(c)) << id;
}

TEST(RequestId, Uuid4Format) {
  RequestIdGenerator g(7);
  for (int i = 0; i < 1000; ++i) {
    std::string_view id = g.next(F::kUuid4);
    ASSERT_EQ(id.size(), 36U);
    for (std::size_t k = 0; k < id.size(); ++k) {
      if (k == 8 || k == 13 || k == 18 || k == 23) {
        EXPECT_EQ(id[k], '-') << id;
      } else {
        EXPECT_TRUE(isLowerHex(id[k])) << id;
      }
    }
    EXPECT_EQ(id[14], '4') << id;                                                         // version
    EXPECT_TRUE(id[19] == '8' || id[19] == '9' || id[19] == 'a' || id[19] == 'b') << id;  // variant
  }
}

TEST(RequestId, SeededSequencesRepeatAndDiffer) {
  RequestIdGenerator a(1);
  RequestIdGenerator b(1);
  RequestIdGenerator c(2);
  std::string x(a.next());
  EXPECT_EQ(x, b.next());
  EXPECT_NE(x, c.next());
  // The default constructor seeds from random_device, the clock and the address.
  RequestIdGenerator d;
  RequestIdGenerator e;
  EXPECT_NE(std::string(d.next()), std::string(e.next()));
}

TEST(RequestId, WritesIntoCallerMemoryOrRefuses) {
  RequestIdGenerator g(3);
  char small[31];
  EXPECT_EQ(g.next(small, F::kHex32), 0U);
  char buf[36];
  EXPECT_EQ(g.next(std::span<char>(buf, 32), F::kHex32), 32U);
  EXPECT_EQ(g.next(std::span<char>(buf, 35), F::kUuid4), 0U);
  EXPECT_EQ(g.next(buf, F::kUuid4), 36U);
}

TEST(RequestId, MillionIdsAreUnique) {
  // Kept in one sorted array, not a million heap strings: Wine's heap took minutes for those on
  // a busy machine (a CI timeout), while the ids themselves take milliseconds.
  RequestIdGenerator g;
  using Id = std::array<char, RequestIdGenerator::kHex32Bytes>;
  std::vector<Id> ids(1000000);
  for (Id& id : ids) ASSERT_EQ(g.next(id, F::kHex32), id.size());
  std::sort(ids.begin(), ids.end());
  auto dup = std::adjacent_find(ids.begin(), ids.end());
  EXPECT_TRUE(dup == ids.end()) << "duplicate: " << std::string_view(dup->data(), dup->size());
}

}  // namespace
}  // namespace ferry::http
