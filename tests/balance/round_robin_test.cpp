#include "proxy/balance/round_robin.h"

#include <gtest/gtest.h>

#include <vector>

namespace ferry::balance {
namespace {

TEST(RoundRobin, CyclesThroughEndpointsInOrder) {
  std::atomic<std::uint64_t> starts{0};
  RoundRobin rr(3, starts);
  std::vector<std::size_t> seq;
  for (int i = 0; i < 7; ++i) seq.push_back(rr.next());
  EXPECT_EQ(seq, (std::vector<std::size_t>{0, 1, 2, 0, 1, 2, 0}));
}

TEST(RoundRobin, WorkersStartAtDifferentEndpointsAndKeepTheirOwnCursor) {
  std::atomic<std::uint64_t> starts{0};
  RoundRobin w0(3, starts);
  RoundRobin w1(3, starts);
  EXPECT_EQ(w0.next(), 0U);
  EXPECT_EQ(w1.next(), 1U);
  EXPECT_EQ(w0.next(), 1U);  // w1's pick did not move w0's cursor
  EXPECT_EQ(w1.next(), 2U);
  // The shared counter was read once per worker, never per request.
  EXPECT_EQ(starts.load(), 2U);
}

TEST(RoundRobin, SingleEndpointAlwaysZero) {
  std::atomic<std::uint64_t> starts{41};
  RoundRobin rr(1, starts);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(rr.next(), 0U);
}

}  // namespace
}  // namespace ferry::balance
