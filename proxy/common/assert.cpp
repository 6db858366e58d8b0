#include "proxy/common/assert.h"

#include <cstdlib>

#include "proxy/common/log.h"

namespace ferry {
namespace {
std::atomic<std::uint64_t> g_bugs{0};
}

std::uint64_t bugCount() {
  return g_bugs.load(std::memory_order_relaxed);
}

namespace detail {
void assertFailed(const char* expr, const char* file, int line) {
  log::error("assertion failed: {} at {}:{}", expr, file, line);
  std::abort();
}

void bugHit(const char* expr, const char* file, int line) {
  g_bugs.fetch_add(1, std::memory_order_relaxed);
  log::error("bug: {} at {}:{}", expr, file, line);
#ifndef NDEBUG
  std::abort();
#endif
}
}  // namespace detail
}  // namespace ferry
