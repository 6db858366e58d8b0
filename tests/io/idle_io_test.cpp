// Conformance cases for what upstream pools need of the proactor around idle connections, on
// every backend: wait_readable (a watch on an idle connection that reads nothing) and the end
// of a cleanly finished connection's socket (recycled for the next connect_ex where the system
// can reuse handles, closed elsewhere). Real loopback sockets; no HTTP.

#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "proxy/common/task.h"
#include "proxy/io/awaitables.h"
#include "proxy/io/proactor.h"
#include "tests/support/platform.h"

namespace ferry::io {
namespace {

using namespace std::chrono_literals;

class IdleIoTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    auto p = makeProactor(GetParam());
    ASSERT_TRUE(p.ok()) << p.error().message();
    p_ = std::move(p.value());
    auto l = p_->listen(*Address::parse("127.0.0.1:0"), ListenOptions{});
    ASSERT_TRUE(l.ok()) << l.error().message();
    listener_ = std::move(l.value());
  }

  // Runs the proactor until pred holds or the limit passes.
  template <class Pred>
  bool runUntil(Pred pred, std::chrono::milliseconds limit = 10s) {
    auto end = std::chrono::steady_clock::now() + limit;
    while (!pred() && std::chrono::steady_clock::now() < end) p_->runOnce(20ms);
    return pred();
  }

  struct Pair {
    Socket client;
    Socket server;
  };
  // A connected pair through the listener: client from connect_ex, server from accept_ex.
  Pair makePair() {
    Pair out;
    bool done = false;
    auto t = [&]() -> Task<void> {
      auto c = connect(*p_, listener_->address(), {}, 5s);
      IoResult cr = co_await c;
      EXPECT_TRUE(cr.ok()) << cr.ec.message();
      out.client = std::move(c.socket);
      AcceptAwaiter a(*p_, *listener_);
      IoResult ar = co_await a;
      EXPECT_TRUE(ar.ok()) << ar.ec.message();
      out.server = std::move(a.socket);
      done = true;
    };
    spawn(t());
    EXPECT_TRUE(runUntil([&] { return done; }));
    return out;
  }

  // Sends s on socket (one transmit) and waits for its completion.
  void sendAll(NativeHandle socket, const std::string& s) {
    bool done = false;
    auto t = [&]() -> Task<void> {
      TransmitElement e = TransmitElement::memory(s);
      IoResult r = co_await transmit(*p_, socket, std::span(&e, 1), 5s);
      EXPECT_TRUE(r.ok()) << r.ec.message();
      EXPECT_EQ(r.bytes, s.size());
      done = true;
    };
    spawn(t());
    ASSERT_TRUE(runUntil([&] { return done; }));
  }

  // One recv on socket: what it read ("" at the peer's close), or "error: ..." .
  std::string recvOnce(NativeHandle socket) {
    std::string out;
    bool done = false;
    auto t = [&]() -> Task<void> {
      char buf[256];
      IoResult r = co_await recv(*p_, socket, buf, 5s);
      out = r.ok() ? std::string(buf, r.bytes) : "error: " + r.ec.message();
      done = true;
    };
    spawn(t());
    EXPECT_TRUE(runUntil([&] { return done; }));
    return out;
  }

  std::unique_ptr<Proactor> p_;
  std::unique_ptr<Listener> listener_;
};

// A wait_readable held by the test (not a coroutine), counting its completions.
struct Watch final : WaitReadableOp {
  int completions = 0;
  std::error_code ec;
  std::size_t bytes = 99;
  void onComplete(std::error_code e, std::size_t n) override {
    ++completions;
    ec = e;
    bytes = n;
  }
};

TEST_P(IdleIoTest, WaitReadableCompletesOnBytesAndReadsNone) {
  Pair pair = makePair();
  Watch w;
  w.socket = pair.server.native();
  p_->waitReadable(w);
  EXPECT_EQ(w.completions, 0);  // never inside the submitting call
  p_->runOnce(50ms);
  EXPECT_EQ(w.completions, 0) << "completed with nothing to read";
  EXPECT_TRUE(w.pending());
  sendAll(pair.client.native(), "abc");
  ASSERT_TRUE(runUntil([&] { return w.completions > 0; }));
  EXPECT_EQ(w.completions, 1);
  EXPECT_FALSE(w.ec) << w.ec.message();
  EXPECT_EQ(w.bytes, 0U);
  EXPECT_EQ(recvOnce(pair.server.native()), "abc");  // the wait consumed nothing
}

TEST_P(IdleIoTest, WaitReadableCompletesWhenThePeerCloses) {
  Pair pair = makePair();
  Watch w;
  w.socket = pair.server.native();
  p_->waitReadable(w);
  p_->runOnce(20ms);
  EXPECT_EQ(w.completions, 0);
  pair.client.close();
  ASSERT_TRUE(runUntil([&] { return w.completions > 0; }));
  EXPECT_FALSE(w.ec) << w.ec.message();
  EXPECT_EQ(recvOnce(pair.server.native()), "");  // the close is still there to be read
}

TEST_P(IdleIoTest, WaitReadableCompletesWhenThePeerResets) {
  Pair pair = makePair();
  Watch w;
  w.socket = pair.server.native();
  p_->waitReadable(w);
  p_->runOnce(20ms);
  test::resetOnClose(pair.client.native());
  pair.client.close();
  ASSERT_TRUE(runUntil([&] { return w.completions > 0; }));
  // Readiness backends report the reset as readable; IOCP as the zero-byte read's error.
  EXPECT_TRUE(!w.ec || w.ec == std::errc::connection_reset) << w.ec.message();
}

TEST_P(IdleIoTest, WaitReadableCompletesAtOnceWhenBytesAreAlreadyThere) {
  Pair pair = makePair();
  sendAll(pair.client.native(), "x");
  pair.client.close();
  Watch w;
  w.socket = pair.server.native();
  p_->waitReadable(w);
  ASSERT_TRUE(runUntil([&] { return w.completions > 0; }, 5s));
  EXPECT_FALSE(w.ec) << w.ec.message();
  EXPECT_EQ(recvOnce(pair.server.native()), "x");
}

TEST_P(IdleIoTest, WaitReadableTimesOut) {
  Pair pair = makePair();
  Watch w;
  w.socket = pair.server.native();
  w.timeout = 50ms;
  p_->waitReadable(w);
  ASSERT_TRUE(runUntil([&] { return w.completions > 0; }, 5s));
  EXPECT_EQ(w.ec, std::errc::timed_out);
}

// How a pool lets go of a watched connection it hands to a request: cancel the watch, then
// send and read at once, without waiting for the cancel's completion.
TEST_P(IdleIoTest, CancelledWaitCompletesOnceAndTheSocketCarriesOn) {
  Pair pair = makePair();
  Watch w;
  w.socket = pair.server.native();
  p_->waitReadable(w);
  p_->runOnce(20ms);
  sendAll(pair.server.native(), "request");  // a send while the wait is pending
  EXPECT_EQ(w.completions, 0);
  p_->cancel(w);
  p_->cancel(w);  // twice: still one completion
  sendAll(pair.client.native(), "response");
  EXPECT_EQ(recvOnce(pair.server.native()), "response");
  ASSERT_TRUE(runUntil([&] { return w.completions > 0; }));
  p_->runOnce(50ms);
  EXPECT_EQ(w.completions, 1);
  // Canceled, or (io_uring and IOCP, where the cancel is asynchronous) already readable.
  EXPECT_TRUE(!w.ec || w.ec == std::errc::operation_canceled) << w.ec.message();
  EXPECT_EQ(recvOnce(pair.client.native()), "request");
  // The same op watches again once its completion came.
  p_->waitReadable(w);
  pair.client.close();
  ASSERT_TRUE(runUntil([&] { return w.completions == 2; }));
  EXPECT_FALSE(w.ec) << w.ec.message();
}

// An upstream connection that ends cleanly goes to endForReuse: recycled with
// DisconnectEx(TF_REUSE_SOCKET) into the next connect_ex to the same remote where the system can
// reuse handles (Windows), closed elsewhere (Linux; Wine, which cannot reuse: the proactor
// switches reuse off there, so the request falls back to a close and the next connect opens a
// new socket). Either way the peer sees the end and the next connection works.
TEST_P(IdleIoTest, EndForReuseRecyclesWhereTheSystemCanAndClosesElsewhere) {
  bool canReuse = GetParam() == Backend::kIocp && !test::underWine();
  Pair pair = makePair();
  sendAll(pair.client.native(), "request");
  EXPECT_EQ(recvOnce(pair.server.native()), "request");
  p_->endForReuse(std::move(pair.client), listener_->address());
  EXPECT_FALSE(pair.client.valid());
  EXPECT_EQ(recvOnce(pair.server.native()), "");  // the peer sees the end (a FIN)
  if (canReuse) {
    EXPECT_TRUE(runUntil([&] { return p_->socketReuse().recycled == 1; }))
        << "closed: " << p_->socketReuse().closed;
  } else {
    EXPECT_EQ(p_->socketReuse().closed, 1U);
    EXPECT_EQ(p_->socketReuse().recycled, 0U);
  }
  for (int i = 0; i < 2; ++i) {
    Pair next = makePair();
    ASSERT_TRUE(next.client.valid());
    sendAll(next.client.native(), "ping");
    EXPECT_EQ(recvOnce(next.server.native()), "ping");
    sendAll(next.server.native(), "pong");
    EXPECT_EQ(recvOnce(next.client.native()), "pong");
  }
  // The first of those connects went out on the recycled handle where there was one.
  EXPECT_EQ(p_->socketReuse().reused, canReuse ? 1U : 0U);
  pair.server.close();
}

#ifdef _WIN32
// The switch: FERRY_IOCP_SOCKET_REUSE=0 turns recycling off (a plain close), on any system.
TEST(IocpSocketReuse, SwitchedOffByTheEnvironmentCloses) {
  ::_putenv("FERRY_IOCP_SOCKET_REUSE=0");
  auto p = makeProactor(Backend::kIocp);
  ::_putenv("FERRY_IOCP_SOCKET_REUSE=");
  ASSERT_TRUE(p.ok()) << p.error().message();
  auto s = Socket::openTcp(*Address::parse("127.0.0.1:0"));
  ASSERT_TRUE(s.ok());
  p.value()->endForReuse(std::move(s.value()), *Address::parse("127.0.0.1:1"));
  EXPECT_EQ(p.value()->socketReuse().closed, 1U);
  EXPECT_EQ(p.value()->socketReuse().recycled, 0U);
}

INSTANTIATE_TEST_SUITE_P(Backends, IdleIoTest, ::testing::Values(Backend::kIocp),
                         [](const auto& paramInfo) {
                           return std::string(backendName(paramInfo.param));
                         });
#else
INSTANTIATE_TEST_SUITE_P(Backends, IdleIoTest, ::testing::Values(Backend::kUring, Backend::kEpoll),
                         [](const auto& paramInfo) {
                           return std::string(backendName(paramInfo.param));
                         });
#endif

}  // namespace
}  // namespace ferry::io
