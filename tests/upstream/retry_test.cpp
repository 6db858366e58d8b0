#include "proxy/upstream/retry.h"

#include <gtest/gtest.h>

namespace ferry::upstream {
namespace {

using Stage = AttemptFacts::Stage;

struct Case {
  const char* name;
  AttemptFacts facts;
  RetrySafety want;
};

// Every combination that matters, with the rule it checks.
TEST(RetrySafety, DecidedOnFacts) {
  const Case cases[] = {
      {"connect failed, POST", {Stage::kConnect, false, false, true}, RetrySafety::kNotProcessed},
      {"pooled connection closed before a byte, POST",
       {Stage::kUnwritten, false, false, true},
       RetrySafety::kNotProcessed},
      {"POST written then reset", {Stage::kWritten, false, false, true}, RetrySafety::kUnsafe},
      {"POST written, 1xx forwarded", {Stage::kWritten, false, true, true}, RetrySafety::kUnsafe},
      {"GET written then reset", {Stage::kWritten, true, false, true}, RetrySafety::kIdempotent},
      {"GET after a response byte", {Stage::kWritten, true, true, true}, RetrySafety::kUnsafe},
      {"PUT streamed (not held)", {Stage::kWritten, true, false, false}, RetrySafety::kUnsafe},
      {"body not held, connect failed",
       {Stage::kConnect, false, false, false},
       RetrySafety::kUnsafe},
  };
  for (const Case& c : cases) EXPECT_EQ(retrySafety(c.facts), c.want) << c.name;
}

TEST(RetrySafety, IdempotentMethodsAreRfc9110s) {
  for (const char* m : {"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"}) {
    EXPECT_TRUE(isIdempotent(m)) << m;
  }
  for (const char* m : {"POST", "PATCH", "CONNECT", "get", "LOCK", ""}) {
    EXPECT_FALSE(isIdempotent(m)) << m;
  }
}

}  // namespace
}  // namespace ferry::upstream
