#pragma once
// Invariant checks. FERRY_ASSERT: debug builds only. FERRY_RELEASE_ASSERT: always, aborts.
// FERRY_BUG: always checked; logs and counts in release, aborts in debug.

#include <atomic>
#include <cstdint>

namespace ferry::detail {
[[noreturn]] void assertFailed(const char* expr, const char* file, int line);
void bugHit(const char* expr, const char* file, int line);
}  // namespace ferry::detail

namespace ferry {
// How many FERRY_BUG conditions were hit since start (exported as ferry_bugs_total).
std::uint64_t bugCount();
}  // namespace ferry

#define FERRY_RELEASE_ASSERT(x) \
  ((x) ? static_cast<void>(0) : ::ferry::detail::assertFailed(#x, __FILE__, __LINE__))
#ifdef NDEBUG
#define FERRY_ASSERT(x) static_cast<void>(0)
#else
#define FERRY_ASSERT(x) FERRY_RELEASE_ASSERT(x)
#endif
#define FERRY_BUG(x) ((x) ? static_cast<void>(0) : ::ferry::detail::bugHit(#x, __FILE__, __LINE__))
