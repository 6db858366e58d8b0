#include "proxy/io/connect_by_list.h"

#include <algorithm>

namespace ferry::io {

ConnectByListOp::ConnectByListOp() {
  for (Attempt& a : attempts_) a.parent = this;
  staggerTimer_.parent = this;
  totalTimer_.parent = this;
  totalTimer_.total = true;
}

void connectByList(Proactor& p, ConnectByListOp& op) {
  op.proactor_ = &p;
  op.state_.pending = true;
  op.socket.close();
  op.remote = Address();
  op.local = Address();
  op.attemptsStarted = 0;
  op.count_ = std::min(op.addresses.size(), ConnectByListOp::kMaxAttempts);
  op.active_ = 0;
  op.settled_ = false;
  op.result_ = {};
  if (op.count_ == 0) {  // completes through the (immediate) total timer: never inline
    op.settle(std::make_error_code(std::errc::invalid_argument));
    op.totalTimer_.timeout = Duration::zero();
    p.startTimer(op.totalTimer_);
    return;
  }
  if (op.timeout.count() > 0) {
    op.totalTimer_.timeout = op.timeout;
    p.startTimer(op.totalTimer_);
  }
  op.launchNext();
}

void ConnectByListOp::launchNext() {
  if (settled_ || attemptsStarted >= count_) return;
  Attempt& a = attempts_[attemptsStarted];
  a.remote = addresses[attemptsStarted];
  a.timeout = attemptTimeout;
  a.firstData = {};
  ++attemptsStarted;
  ++active_;
  proactor_->connectEx(a);
  if (attemptsStarted < count_ && !staggerTimer_.pending()) {
    staggerTimer_.timeout = stagger;
    proactor_->startTimer(staggerTimer_);
  }
}

void ConnectByListOp::attemptDone(Attempt& a, std::error_code ec) {
  --active_;
  if (!ec && !settled_) {
    socket = std::move(a.socket);
    remote = a.remote;
    local = socket.localAddress();
    settle({});
  } else if (ec) {
    if (!settled_) result_ = ec;  // the last error is what the caller gets
    if (!settled_ && active_ == 0 && attemptsStarted == count_) settle(ec);
    launchNext();  // a failure starts the next attempt at once
  } else {
    a.socket.close();  // a late winner after another won
  }
  maybeFinish();
}

void ConnectByListOp::timerDone(Timer& t, std::error_code ec) {
  if (t.total) {
    if (!ec && !settled_ && count_ > 0) settle(std::make_error_code(std::errc::timed_out));
  } else if (!ec) {
    launchNext();
  }
  maybeFinish();
}

void ConnectByListOp::cancel() {
  if (state_.pending && !settled_ && count_ > 0) {
    settle(std::make_error_code(std::errc::operation_canceled));
  }
}

// Decides the outcome once; the attempts and timers still pending are cancelled.
void ConnectByListOp::settle(std::error_code ec) {
  settled_ = true;
  result_ = ec;
  for (std::size_t i = 0; i < attemptsStarted; ++i) proactor_->cancel(attempts_[i]);
  proactor_->cancel(staggerTimer_);
  if (count_ > 0) proactor_->cancel(totalTimer_);
}

void ConnectByListOp::maybeFinish() {
  if (!settled_ || active_ > 0 || staggerTimer_.pending() || totalTimer_.pending()) return;
  if (!state_.pending) return;
  state_.pending = false;
  onComplete(result_, 0);
}

std::vector<Address> interleaveFamilies(std::span<const Address> addrs) {
  std::vector<Address> first, second;
  for (const Address& a : addrs) {
    (a.isV6() == addrs.front().isV6() ? first : second).push_back(a);
  }
  std::vector<Address> out;
  for (std::size_t i = 0; i < std::max(first.size(), second.size()); ++i) {
    if (i < first.size()) out.push_back(first[i]);
    if (i < second.size()) out.push_back(second[i]);
  }
  return out;
}

}  // namespace ferry::io
