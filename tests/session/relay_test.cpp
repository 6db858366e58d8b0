// The relay over real loopback sockets on every backend: a tunnel carries bytes both ways at
// once, passes half-closes on, and ends on idleness. No HTTP here.

#include "proxy/session/relay.h"

#include <gtest/gtest.h>

#include <string>

#include "proxy/io/awaitables.h"
#include "tests/support/platform.h"

namespace ferry::session {
namespace {

using namespace std::chrono_literals;
using io::Backend;

class RelayTest : public ::testing::TestWithParam<Backend> {
 public:
  void SetUp() override {
    auto p = io::makeProactor(GetParam());
    ASSERT_TRUE(p.ok()) << p.error().message();
    p_ = std::move(p.value());
    auto l = p_->listen(*io::Address::parse("127.0.0.1:0"), io::ListenOptions{});
    ASSERT_TRUE(l.ok()) << l.error().message();
    listener_ = std::move(l.value());
    pool_ = std::make_unique<BufferPool>(16384);
    xb_ = pool_->acquire();
    yb_ = pool_->acquire();
  }
  void TearDown() override {
    xb_.release();
    yb_.release();
    listener_.reset();
  }

  // Runs the proactor until `finished_` reaches n or the limit passes.
  bool runUntil(int n, std::chrono::milliseconds limit = 30s) {
    auto end = std::chrono::steady_clock::now() + limit;
    while (finished_ < n && std::chrono::steady_clock::now() < end) p_->runOnce(50ms);
    return finished_ >= n;
  }

  struct Pair {
    io::Socket client;
    io::Socket server;
  };

  Task<void> makePair(Pair& out) {
    auto c = io::connect(*p_, listener_->address(), {}, 5s);
    io::IoResult cr = co_await c;
    EXPECT_TRUE(cr.ok()) << cr.ec.message();
    out.client = std::move(c.socket);
    io::AcceptAwaiter acc(*p_, *listener_);
    io::IoResult ar = co_await acc;
    EXPECT_TRUE(ar.ok()) << ar.ec.message();
    out.server = std::move(acc.socket);
  }

  // a.client <-> [a.server == tunnel == b.client] <-> b.server
  Task<void> makePairs() {
    co_await makePair(a_);
    co_await makePair(b_);
    ++finished_;
  }

  Task<void> runTunnel(Duration idle, Duration send) {
    result_ =
        co_await tunnel(*p_, clock_, a_.server.native(), xb_, b_.client.native(), yb_, idle, send);
    ++finished_;
  }

  // Sends bytes on s, then (if shut) closes the send side.
  Task<void> sendAllThenShut(io::NativeHandle s, const std::string& bytes, bool shut) {
    io::TransmitElement e = io::TransmitElement::memory(bytes);
    io::IoResult r = co_await io::transmit(*p_, s, std::span(&e, 1), 10s);
    EXPECT_TRUE(r.ok()) << r.ec.message();
    if (shut) co_await io::disconnect(*p_, s, 5s);
  }

  // Reads s until the peer closes its side.
  Task<void> readToEnd(io::NativeHandle s, std::string& into) {
    std::string chunk(65536, '\0');
    for (;;) {
      io::IoResult r = co_await io::recv(*p_, s, std::span(chunk.data(), chunk.size()), 10s);
      if (!r.ok() || r.bytes == 0) break;
      into.append(chunk.data(), r.bytes);
    }
  }

  Task<void> endA(const std::string& up, std::string& got) {
    co_await both(sendAllThenShut(a_.client.native(), up, true),
                  readToEnd(a_.client.native(), got));
    ++finished_;
  }

  // b.server reads everything first: the other direction stays open after a's half-close.
  Task<void> endB(const std::string& down, std::string& got) {
    co_await readToEnd(b_.server.native(), got);
    co_await sendAllThenShut(b_.server.native(), down, true);
    ++finished_;
  }

  std::unique_ptr<io::Proactor> p_;
  std::unique_ptr<io::Listener> listener_;
  std::unique_ptr<BufferPool> pool_;
  Buffer xb_;
  Buffer yb_;
  SteadyClock clock_;
  Pair a_;
  Pair b_;
  TunnelResult result_;
  int finished_ = 0;
};

std::string pattern(std::size_t n, char seed) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>(seed + i * 7 % 251);
  return s;
}

TEST_P(RelayTest, CarriesBothDirectionsAtOnceAndPassesHalfClosesOn) {
  spawn(makePairs());
  ASSERT_TRUE(runUntil(1));
  const std::string up = pattern(3 << 20, 'u');    // a.client -> b.server
  const std::string down = pattern(2 << 20, 'd');  // b.server -> a.client
  std::string gotUp;
  std::string gotDown;
  spawn(runTunnel(10s, 10s));
  spawn(endA(up, gotDown));
  spawn(endB(down, gotUp));
  ASSERT_TRUE(runUntil(4));
  EXPECT_EQ(gotUp.size(), up.size());
  EXPECT_TRUE(gotUp == up);
  EXPECT_EQ(gotDown.size(), down.size());
  EXPECT_TRUE(gotDown == down);
  EXPECT_TRUE(result_.clean);
  EXPECT_EQ(result_.xToY, up.size());
  EXPECT_EQ(result_.yToX, down.size());
}

TEST_P(RelayTest, EndsAfterTheIdleTimeoutWithNoByteEitherWay) {
  spawn(makePairs());
  ASSERT_TRUE(runUntil(1));
  spawn(runTunnel(200ms, 1s));
  ASSERT_TRUE(runUntil(2));
  EXPECT_TRUE(result_.timedOut);
  EXPECT_FALSE(result_.clean);
}

TEST_P(RelayTest, AResetSideEndsTheOtherDirection) {
  spawn(makePairs());
  ASSERT_TRUE(runUntil(1));
  spawn(runTunnel(10s, 10s));
  p_->runOnce(10ms);
  // The far end is reset: y's read fails, which must end x's direction too (not wait 10 s).
  test::resetOnClose(b_.server.native());
  b_.server.close();
  ASSERT_TRUE(runUntil(2, 5s));
  EXPECT_FALSE(result_.timedOut);
  EXPECT_FALSE(result_.clean);
}

#ifdef _WIN32
INSTANTIATE_TEST_SUITE_P(Backends, RelayTest, ::testing::Values(Backend::kIocp),
                         [](const auto& i) { return std::string(io::backendName(i.param)); });
#else
INSTANTIATE_TEST_SUITE_P(Backends, RelayTest, ::testing::Values(Backend::kUring, Backend::kEpoll),
                         [](const auto& i) { return std::string(io::backendName(i.param)); });
#endif

}  // namespace
}  // namespace ferry::session
