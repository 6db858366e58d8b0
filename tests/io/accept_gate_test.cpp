// Pacing accepts (io/accept_gate.h): the connection limit's arithmetic, the backoff, the gate's
// pauses on a real proactor, and what each backend does when accept runs out of descriptors.

#include "proxy/io/accept_gate.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>
#ifndef _WIN32
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>
#endif

#include "proxy/common/task.h"
#include "proxy/io/awaitables.h"

namespace ferry::io {
namespace {

using namespace std::chrono_literals;

TEST(ConnectionLimit, WhatTheReserveLeavesOverWhatAConnectionHolds) {
  EXPECT_EQ(connectionLimit(0, 0), 0U);      // nothing to respect: no limit
  EXPECT_EQ(connectionLimit(500, 0), 500U);  // Windows: max_connections alone
  EXPECT_EQ(reservedDescriptors(256), 80U);
  EXPECT_EQ(connectionLimit(0, 256), 88U);  // (256 - 80) / 2
  EXPECT_EQ(connectionLimit(50, 256), 50U);
  EXPECT_EQ(connectionLimit(1000, 256), 88U);  // the descriptors cap any value
  EXPECT_EQ(connectionLimit(0, 65536), (65536U - 64 - 4096) / 2);
  EXPECT_EQ(connectionLimit(0, 10), 1U);       // absurdly low: one at a time, never none
  EXPECT_EQ(connectionLimit(0, 256, 6), 29U);  // spliced TCP tunnels: (256 - 80) / 6
}

TEST(ConnectionBudget, TakesUpToTheLimit) {
  ConnectionBudget b;
  EXPECT_TRUE(b.take());  // no limit
  b.setLimit(2);
  EXPECT_TRUE(b.take());
  EXPECT_TRUE(b.full());
  EXPECT_FALSE(b.take());
  EXPECT_EQ(b.open(), 2U);
  b.takeAnyway();
  EXPECT_EQ(b.open(), 3U);
  b.release();
  b.release();
  EXPECT_FALSE(b.full());
  EXPECT_TRUE(b.take());
}

TEST(AcceptBackoff, DoublesUpToOneSecondAndStartsOverAfterASuccess) {
  AcceptBackoff b;
  EXPECT_EQ(b.next(), milliseconds(100));
  EXPECT_EQ(b.next(), milliseconds(200));
  EXPECT_EQ(b.next(), milliseconds(400));
  EXPECT_EQ(b.next(), milliseconds(800));
  EXPECT_EQ(b.next(), seconds(1));
  EXPECT_EQ(b.next(), seconds(1));
  b.reset();
  EXPECT_EQ(b.next(), milliseconds(100));
}

TEST(AcceptResourceError, TheErrorsThatRepeatIfRetriedAtOnce) {
  EXPECT_TRUE(isAcceptResourceError(std::make_error_code(std::errc::too_many_files_open)));
  EXPECT_TRUE(isAcceptResourceError(std::make_error_code(std::errc::no_buffer_space)));
  EXPECT_TRUE(isAcceptResourceError(std::make_error_code(std::errc::not_enough_memory)));
  EXPECT_FALSE(isAcceptResourceError(std::make_error_code(std::errc::connection_aborted)));
  EXPECT_FALSE(isAcceptResourceError({}));
}

class AcceptGateTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    auto p = makeProactor(GetParam());
    ASSERT_TRUE(p.ok()) << p.error().message();
    p_ = std::move(p.value());
    gate_ = std::make_unique<AcceptGate>(*p_, budget_, "test");
  }
  void TearDown() override {
    gate_->wakeAll();  // no coroutine is left waiting on a gate that goes
    runFor(50ms);
  }
  void runFor(std::chrono::milliseconds d) {
    auto end = std::chrono::steady_clock::now() + d;
    while (std::chrono::steady_clock::now() < end) p_->runOnce(10ms);
  }
  bool runUntil(const bool& done, std::chrono::milliseconds limit = 10s) {
    auto end = std::chrono::steady_clock::now() + limit;
    while (!done && std::chrono::steady_clock::now() < end) p_->runOnce(10ms);
    return done;
  }
  // A coroutine that waits once at the gate; resumed says when it came back.
  Task<void> waitOnce(bool& resumed) {
    co_await gate_->wait();
    resumed = true;
  }

  std::unique_ptr<Proactor> p_;
  ConnectionBudget budget_;
  std::unique_ptr<AcceptGate> gate_;
};

TEST_P(AcceptGateTest, AFullBudgetClosesTheGateUntilAConnectionCloses) {
  budget_.setLimit(1);
  ASSERT_TRUE(gate_->open());
  ASSERT_TRUE(gate_->admit());
  EXPECT_FALSE(gate_->open());
  EXPECT_FALSE(gate_->admit());
  bool resumed = false;
  spawn(waitOnce(resumed));
  EXPECT_FALSE(resumed);
  EXPECT_TRUE(gate_->paused());  // the limit's poll
  EXPECT_EQ(budget_.pauses(), 1U);
  gate_->closed();  // a descriptor is free: the waiter looks again on the next turn
  EXPECT_TRUE(runUntil(resumed, 1s));
  EXPECT_TRUE(gate_->open());
  EXPECT_EQ(budget_.open(), 0U);
}

TEST_P(AcceptGateTest, AFullBudgetIsLookedAtAgainAfterThePoll) {
  budget_.setLimit(1);
  budget_.takeAnyway();  // another worker's connection: no close is told here
  bool resumed = false;
  auto start = std::chrono::steady_clock::now();
  spawn(waitOnce(resumed));
  ASSERT_TRUE(runUntil(resumed, 5s));
  EXPECT_GE(std::chrono::steady_clock::now() - start, AcceptGate::kLimitPoll);
  EXPECT_FALSE(gate_->open());  // still full: the caller waits again
  budget_.release();
  EXPECT_TRUE(gate_->open());
}

TEST_P(AcceptGateTest, OutOfDescriptorsPausesLongerEachTimeAndNotAtAllForOtherErrors) {
  EXPECT_FALSE(gate_->failed(std::make_error_code(std::errc::connection_aborted)));
  EXPECT_TRUE(gate_->open());
  EXPECT_TRUE(gate_->failed(std::make_error_code(std::errc::too_many_files_open)));
  EXPECT_FALSE(gate_->open());
  for (Duration expected : {milliseconds(100), milliseconds(200)}) {
    bool resumed = false;
    auto start = std::chrono::steady_clock::now();
    spawn(waitOnce(resumed));
    ASSERT_TRUE(runUntil(resumed, 5s));
    EXPECT_GE(std::chrono::steady_clock::now() - start, expected);
    EXPECT_TRUE(gate_->open());
    gate_->failed(std::make_error_code(std::errc::too_many_files_open));  // fails again
  }
  EXPECT_EQ(budget_.pauses(), 1U);  // one episode
  // An admitted connection starts the backoff over; its close ends the pause at once.
  ASSERT_TRUE(gate_->admit());
  bool resumed = false;
  spawn(waitOnce(resumed));
  gate_->closed();
  EXPECT_TRUE(runUntil(resumed, 1s));
}

TEST_P(AcceptGateTest, WakeAllResumesEveryWaiter) {
  budget_.setLimit(1);
  budget_.takeAnyway();
  bool a = false, b = false;
  spawn(waitOnce(a));
  spawn(waitOnce(b));
  gate_->wakeAll();
  EXPECT_TRUE(runUntil(a, 1s));
  EXPECT_TRUE(runUntil(b, 1s));
}

#ifndef _WIN32
// The lowest free descriptor number: every lower one is in use.
int lowestFreeFd() {
  int fd = ::open("/dev/null", O_RDONLY);
  ::close(fd);
  return fd;
}

// The conformance part: an accept out of descriptors completes with the error, and the backend
// does not try again by itself (no busy loop) until the next acceptEx.
TEST_P(AcceptGateTest, AnAcceptOutOfDescriptorsCompletesWithTheErrorAndIsNotRetried) {
  auto l = p_->listen(*Address::parse("127.0.0.1:0"), ListenOptions{});
  ASSERT_TRUE(l.ok()) << l.error().message();
  Address addr = l.value()->address();
  int client = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_EQ(::connect(client, static_cast<const sockaddr*>(addr.raw()),
                      static_cast<socklen_t>(addr.length())),
            0);
  rlimit saved{};
  ::getrlimit(RLIMIT_NOFILE, &saved);
  rlimit low = saved;
  low.rlim_cur = static_cast<rlim_t>(lowestFreeFd());  // no new descriptor from here on
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);

  AcceptAwaiter first(*p_, *l.value());
  AcceptAwaiter second(*p_, *l.value());
  IoResult r1, r2;
  bool done1 = false, done2 = false;
  auto acceptInto = [](AcceptAwaiter& a, IoResult& r, bool& done) -> Task<void> {
    r = co_await a;
    done = true;
  };
  spawn(acceptInto(first, r1, done1));
  spawn(acceptInto(second, r2, done2));
  bool failed = runUntil(done1, 5s);
  // No spinning meanwhile: turns of the loop that found something to do stay few.
  std::size_t busyTurns = 0;
  auto end = std::chrono::steady_clock::now() + 300ms;
  while (std::chrono::steady_clock::now() < end) busyTurns += p_->runOnce(20ms) > 0 ? 1 : 0;
  ::setrlimit(RLIMIT_NOFILE, &saved);
  if (!failed) {  // the backend kept retrying: take both back before they go out of scope
    p_->cancel(first);
    p_->cancel(second);
    runUntil(done2, 5s);
    ::close(client);
    FAIL() << "the accept never completed";
  }
  EXPECT_EQ(r1.ec, std::errc::too_many_files_open) << r1.ec.message();
  // epoll tries at once in each acceptEx, so the second failed too; io_uring's one multishot
  // failed once, and the second accept still waits.
  bool secondFailed = done2;
  if (secondFailed) {
    EXPECT_EQ(r2.ec, std::errc::too_many_files_open) << r2.ec.message();
  }
  EXPECT_LE(busyTurns, 3U) << "the backend retried the accept by itself";
  // The next acceptEx tries again: the connection goes to the oldest waiting accept.
  AcceptAwaiter third(*p_, *l.value());
  IoResult r3;
  bool done3 = false;
  spawn(acceptInto(third, r3, done3));
  AcceptAwaiter& winner = secondFailed ? third : second;
  EXPECT_TRUE(runUntil(secondFailed ? done3 : done2, 5s));
  EXPECT_TRUE(winner.socket.valid());
  if (!secondFailed) {
    EXPECT_TRUE(r2.ok()) << r2.ec.message();
    p_->cancel(third);
    EXPECT_TRUE(runUntil(done3, 5s));
  }
  ::close(client);
}

// Connections waiting in the accept queue of the listener bound to 127.0.0.1:port (the rx_queue
// of its LISTEN line in /proc/net/tcp), or -1.
int backlogOf(int port) {
  char local[32];
  std::snprintf(local, sizeof(local), "0100007F:%04X", port);
  std::ifstream in("/proc/net/tcp");
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string slot, l, r, st, queues;
    fields >> slot >> l >> r >> st >> queues;
    if (l == local && st == "0A")
      return std::stoi(queues.substr(queues.find(':') + 1), nullptr, 16);
  }
  return -1;
}

// An accept that may not run ahead takes one connection; the others stay in the kernel's
// backlog (io_uring arms a one-shot accept instead of its multishot one).
TEST_P(AcceptGateTest, AnAcceptThatMayNotRunAheadLeavesTheRestInTheBacklog) {
  auto l = p_->listen(*Address::parse("127.0.0.1:0"), ListenOptions{});
  ASSERT_TRUE(l.ok()) << l.error().message();
  Address addr = l.value()->address();
  std::vector<int> clients;
  for (int i = 0; i < 5; ++i) {
    clients.push_back(::socket(AF_INET, SOCK_STREAM, 0));
    ASSERT_EQ(::connect(clients.back(), static_cast<const sockaddr*>(addr.raw()),
                        static_cast<socklen_t>(addr.length())),
              0);
  }
  AcceptAwaiter a(*p_, *l.value());
  a.ahead = false;
  IoResult r;
  bool done = false;
  auto acceptInto = [](AcceptAwaiter& op, IoResult& res, bool& flag) -> Task<void> {
    res = co_await op;
    flag = true;
  };
  spawn(acceptInto(a, r, done));
  ASSERT_TRUE(runUntil(done, 5s));
  EXPECT_TRUE(r.ok()) << r.ec.message();
  runFor(100ms);  // a multishot accept would have taken the rest by now
  EXPECT_EQ(backlogOf(addr.port()), 4);
  for (int fd : clients) ::close(fd);
}
#endif

#ifdef _WIN32
INSTANTIATE_TEST_SUITE_P(Backends, AcceptGateTest, ::testing::Values(Backend::kIocp),
                         [](const auto& paramInfo) {
                           return std::string(backendName(paramInfo.param));
                         });
#else
INSTANTIATE_TEST_SUITE_P(Backends, AcceptGateTest,
                         ::testing::Values(Backend::kUring, Backend::kEpoll),
                         [](const auto& paramInfo) {
                           return paramInfo.param == Backend::kUring ? std::string("uring")
                                                                     : std::string("epoll");
                         });
#endif

}  // namespace
}  // namespace ferry::io
