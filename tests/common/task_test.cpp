#include "proxy/common/task.h"

#include <gtest/gtest.h>

#include <coroutine>

#include "proxy/common/frame_pool.h"

namespace ferry {
namespace {

// An awaitable resumed by hand, standing in for an I/O completion.
struct Gate {
  std::coroutine_handle<> waiter;
  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> h) noexcept { waiter = h; }
  void await_resume() const noexcept {}
  void open() { std::exchange(waiter, {}).resume(); }
};

Task<int> addAfter(Gate& g, int a, int b) {
  co_await g;
  co_return a + b;
}

Task<void> sum(Gate& g, int& out) {
  int x = co_await addAfter(g, 1, 2);
  int y = co_await addAfter(g, x, 10);
  out = y;
}

TEST(Task, ChainsResumeInOrderAndReturnValues) {
  Gate g;
  int out = 0;
  spawn(sum(g, out));
  EXPECT_EQ(out, 0);
  g.open();
  EXPECT_EQ(out, 0);
  g.open();
  EXPECT_EQ(out, 13);
}

TEST(Task, FramesAreRecycledNotLeaked) {
  std::size_t before = frame_pool::liveFrames();
  for (int i = 0; i < 1000; ++i) {
    Gate g;
    int out = 0;
    spawn(sum(g, out));
    g.open();
    g.open();
    ASSERT_EQ(out, 13);
  }
  EXPECT_EQ(frame_pool::liveFrames(), before);
}

Task<int> deep(int n) {
  if (n == 0) co_return 0;
  co_return 1 + co_await deep(n - 1);
}

TEST(Task, DeepChainsDoNotOverflowTheStack) {
#ifndef __OPTIMIZE__
  GTEST_SKIP() << "GCC makes symmetric transfer a tail call only in optimized builds";
#endif
  Task<int> t = deep(100000);
  t.start();
  ASSERT_TRUE(t.done());
  EXPECT_EQ(t.result(), 100000);
}

}  // namespace
}  // namespace ferry
