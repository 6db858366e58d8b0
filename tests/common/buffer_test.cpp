#include "proxy/common/buffer.h"

#include <gtest/gtest.h>

namespace ferry {
namespace {

TEST(BufferPool, RecyclesBlocks) {
  BufferPool pool(64);
  {
    Buffer a = pool.acquire();
    Buffer b = pool.acquire();
    EXPECT_EQ(pool.outstanding(), 2U);
  }
  EXPECT_EQ(pool.outstanding(), 0U);
  for (int i = 0; i < 100; ++i) Buffer c = pool.acquire();
  EXPECT_EQ(pool.allocated(), 2U);
}

TEST(Buffer, AppendConsumeCompact) {
  BufferPool pool(8);
  Buffer b = pool.acquire();
  EXPECT_TRUE(b.append("abcdef"));
  EXPECT_FALSE(b.append("xyz"));  // does not fit: nothing appended
  EXPECT_EQ(b.view(), "abcdef");
  b.consume(4);
  EXPECT_EQ(b.view(), "ef");
  EXPECT_EQ(b.writable().size(), 2U);
  b.compact();
  EXPECT_EQ(b.view(), "ef");
  EXPECT_EQ(b.writable().size(), 6U);
  b.consume(2);
  EXPECT_TRUE(b.empty());
  EXPECT_EQ(b.writable().size(), 8U);
}

}  // namespace
}  // namespace ferry
