#include "proxy/upstream/retry.h"

namespace ferry::upstream {

RetrySafety retrySafety(const AttemptFacts& f) {
  if (!f.replayable) return RetrySafety::kUnsafe;
  if (f.stage != AttemptFacts::Stage::kWritten) return RetrySafety::kNotProcessed;
  if (f.idempotent && !f.responseForwarded) return RetrySafety::kIdempotent;
  return RetrySafety::kUnsafe;
}

bool isIdempotent(std::string_view m) {
  return m == "GET" || m == "HEAD" || m == "OPTIONS" || m == "TRACE" || m == "PUT" || m == "DELETE";
}

}  // namespace ferry::upstream
