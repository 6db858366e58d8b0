#include "proxy/balance/round_robin.h"

#include <gtest/gtest.h>

namespace ferry::balance {
namespace {

TEST(RoundRobin, CyclesThroughEndpointsInOrder) {
  std::atomic<std::uint64_t> cursor{0};
  RoundRobin rr(3, cursor);
  std::vector<std::size_t> seq;
  for (int i = 0; i < 7; ++i) seq.push_back(rr.next());
  EXPECT_EQ(seq, (std::vector<std::size_t>{0, 1, 2, 0, 1, 2, 0}));
}

TEST(RoundRobin, WorkersSharingACursorAlternateStrictly) {
  std::atomic<std::uint64_t> cursor{0};
  RoundRobin w0(2, cursor);
  RoundRobin w1(2, cursor);
  EXPECT_EQ(w0.next(), 0U);
  EXPECT_EQ(w0.next(), 1U);
  EXPECT_EQ(w1.next(), 0U);
  EXPECT_EQ(w0.next(), 1U);
}

TEST(RoundRobin, SingleEndpointAlwaysZero) {
  std::atomic<std::uint64_t> cursor{41};
  RoundRobin rr(1, cursor);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(rr.next(), 0U);
}

}  // namespace
}  // namespace ferry::balance
