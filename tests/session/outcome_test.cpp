#include "proxy/session/outcome.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace ferry::session {
namespace {

TEST(Outcome, EachCauseMapsToOneStatus) {
  struct Row {
    Cause cause;
    int status;
  };
  const Row rows[] = {
      {Cause::kOk, 0},
      {Cause::kBadRequest, 400},
      {Cause::kTargetTooLong, 414},
      {Cause::kHeadersTooLarge, 431},
      {Cause::kBodyTooLarge, 413},
      {Cause::kMethodNotAllowed, 405},
      {Cause::kNotImplemented, 501},
      {Cause::kNoRoute, 404},
      {Cause::kRequestHeaderTimeout, 408},
      {Cause::kRequestBodyTimeout, 408},
      {Cause::kRequestTimeout, 504},
      {Cause::kClientClosed, 0},
      {Cause::kNoHealthyUpstream, 503},
      {Cause::kUpstreamConnectRefused, 502},
      {Cause::kUpstreamConnectTimeout, 504},
      {Cause::kUpstreamUnresolved, 503},
      {Cause::kUpstreamResetBeforeResponse, 502},
      {Cause::kUpstreamResponseTimeout, 504},
      {Cause::kUpstreamBadResponse, 502},
      {Cause::kUpstreamResetDuringResponse, 0},
      {Cause::kUpstreamRetriedStatus, 502},
  };
  for (const Row& r : rows) EXPECT_EQ(statusFor(r.cause), r.status) << causeName(r.cause);
}

TEST(Outcome, CauseNamesAreDistinct) {
  std::set<std::string> names;
  int n = 0;
  for (int c = 0; c <= static_cast<int>(Cause::kUpstreamRetriedStatus); ++c, ++n) {
    names.insert(std::string(causeName(static_cast<Cause>(c))));
  }
  EXPECT_EQ(names.size(), static_cast<std::size_t>(n));
  EXPECT_EQ(names.count("unknown"), 0U);
}

TEST(Outcome, RetryReasonsOfCauses) {
  using upstream::RetryReason;
  EXPECT_EQ(retryReasonOf(Cause::kUpstreamConnectRefused), RetryReason::kRefused);
  EXPECT_EQ(retryReasonOf(Cause::kUpstreamConnectTimeout), RetryReason::kConnectFailure);
  EXPECT_EQ(retryReasonOf(Cause::kUpstreamConnectFailed), RetryReason::kConnectFailure);
  // A DNS name with no address yet: nothing was sent, another endpoint may take it.
  EXPECT_EQ(retryReasonOf(Cause::kUpstreamUnresolved), RetryReason::kConnectFailure);
  EXPECT_EQ(causeName(Cause::kUpstreamUnresolved), "upstream_unresolved");
  EXPECT_EQ(retryReasonOf(Cause::kUpstreamSendFailed), RetryReason::kReset);
  EXPECT_EQ(retryReasonOf(Cause::kUpstreamResetBeforeResponse), RetryReason::kReset);
  EXPECT_EQ(retryReasonOf(Cause::kUpstreamResponseTimeout), RetryReason::kTimeout);
  // Never retried: the client's causes, a response that began, a malformed one, the deadline.
  EXPECT_FALSE(retryReasonOf(Cause::kClientClosed));
  EXPECT_FALSE(retryReasonOf(Cause::kUpstreamResetDuringResponse));
  EXPECT_FALSE(retryReasonOf(Cause::kUpstreamBadResponse));
  EXPECT_FALSE(retryReasonOf(Cause::kRequestTimeout));
}

}  // namespace
}  // namespace ferry::session
