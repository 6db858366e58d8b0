#pragma once
// connect_by_list: WSAConnectByList semantics, made asynchronous and Happy-Eyeballs shaped
// (RFC 8305). Given addresses in preference order, it starts a connect to the first, then one
// more every `stagger` while earlier ones are still pending (at once when one fails), each
// attempt bounded by attemptTimeout and the whole operation by Operation::timeout. The first
// connection made wins and the other attempts are cancelled; it completes with the socket and
// the chosen remote and local addresses, or with the last error (timed_out if the total bound
// passed). Built on connect_ex and timers only, so every backend has it.
//
// Lifetimes: the operation owns its attempts and timers; it completes only after every one of
// them has completed, so nothing is pending inside it when onComplete runs.

#include <array>
#include <span>
#include <vector>

#include "proxy/io/proactor.h"

namespace ferry::io {

class ConnectByListOp : public Operation {
 public:
  static constexpr std::size_t kMaxAttempts = 8;  // further addresses are not tried

  // inputs (timeout, inherited, is the total bound)
  std::span<const Address> addresses;
  Duration attemptTimeout = seconds(2);
  Duration stagger = milliseconds(250);  // RFC 8305's Connection Attempt Delay
  // results
  Socket socket;
  Address remote;
  Address local;
  std::size_t attemptsStarted = 0;

  ConnectByListOp();

  // Settles a pending operation as cancelled: its attempts and timers are cancelled, and it
  // completes with operation_canceled once they have (never inline). No effect once settled.
  void cancel();

 private:
  friend void connectByList(Proactor& p, ConnectByListOp& op);
  struct Attempt final : ConnectOp {
    ConnectByListOp* parent = nullptr;
    void onComplete(std::error_code ec, std::size_t) override { parent->attemptDone(*this, ec); }
  };
  struct Timer final : TimerOp {
    ConnectByListOp* parent = nullptr;
    bool total = false;
    void onComplete(std::error_code ec, std::size_t) override { parent->timerDone(*this, ec); }
  };
  void launchNext();
  void attemptDone(Attempt& a, std::error_code ec);
  void timerDone(Timer& t, std::error_code ec);
  void settle(std::error_code ec);
  void maybeFinish();

  Proactor* proactor_ = nullptr;
  std::array<Attempt, kMaxAttempts> attempts_;
  Timer staggerTimer_;
  Timer totalTimer_;
  std::size_t count_ = 0;
  std::size_t active_ = 0;
  bool settled_ = false;
  std::error_code result_;
};

// Starts op on p. Completes through op.onComplete like every operation (never inline).
void connectByList(Proactor& p, ConnectByListOp& op);

// Orders addresses as RFC 8305 section 4 does: families alternate, starting with the family of
// the first address, each family keeping its own order.
std::vector<Address> interleaveFamilies(std::span<const Address> addrs);

}  // namespace ferry::io
