// The frame pool: frames reused per size class, small ones carved without a heap header.

#include "proxy/common/frame_pool.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <utility>
#include <vector>

namespace ferry::frame_pool {
namespace {

TEST(FramePool, FramesAreAlignedDistinctAndReusedByClass) {
  std::size_t liveBefore = liveFrames();
  // Many small frames (more than one 64 KiB chunk's worth) and a few large ones.
  std::vector<std::pair<char*, std::size_t>> frames;
  for (int i = 0; i < 3000; ++i) {
    std::size_t n = 40 + static_cast<std::size_t>(i % 60) * 16;  // 40 .. 984 bytes
    frames.emplace_back(static_cast<char*>(allocate(n)), n);
  }
  for (std::size_t n : {4000U, 20000U, 60000U}) {
    frames.emplace_back(static_cast<char*>(allocate(n)), n);
  }
  EXPECT_EQ(liveFrames(), liveBefore + 3002);  // the 60,000-byte one is not pooled
  for (auto& [p, n] : frames) {
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(p) % __STDCPP_DEFAULT_NEW_ALIGNMENT__, 0U);
    std::memset(p, 0xab, n);  // writable to its full size (AddressSanitizer checks the rest)
  }
  // No two frames overlap.
  std::vector<std::pair<char*, std::size_t>> sorted = frames;
  std::sort(sorted.begin(), sorted.end());
  for (std::size_t i = 1; i < sorted.size(); ++i) {
    ASSERT_GE(sorted[i].first, sorted[i - 1].first + sorted[i - 1].second);
  }
  // A freed frame is handed out again to the next frame of its class (rounded to 16 bytes).
  char* small = frames[5].first;
  std::size_t smallSize = frames[5].second;
  deallocate(small, smallSize);
  EXPECT_EQ(allocate(smallSize - 3), small);
  deallocate(small, smallSize - 3);
  char* large = frames[3001].first;
  deallocate(large, 20000);
  EXPECT_EQ(allocate(19970), large);  // the same 128-byte class as 20,000
  deallocate(large, 19970);
  frames[5].first = nullptr;
  frames[3001].first = nullptr;
  for (auto& [p, n] : frames) {
    if (p != nullptr) deallocate(p, n);
  }
  EXPECT_EQ(liveFrames(), liveBefore);
}

}  // namespace
}  // namespace ferry::frame_pool
