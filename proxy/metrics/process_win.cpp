// The process collector on Windows: the Win32 process APIs (built instead of process_posix.cpp).
#include <windows.h>
// windows.h first: psapi.h needs its types.
#include <psapi.h>

#include "proxy/metrics/process.h"

namespace ferry::metrics {

namespace {
// FILETIME: 100 ns intervals; as an absolute time, since 1601-01-01.
double seconds(const FILETIME& t) {
  ULARGE_INTEGER u;
  u.LowPart = t.dwLowDateTime;
  u.HighPart = t.dwHighDateTime;
  return static_cast<double>(u.QuadPart) / 1e7;
}
constexpr double kEpochDelta = 11644473600.0;  // seconds from 1601-01-01 to 1970-01-01
}  // namespace

std::optional<ProcessStats> readProcessStats() {
  HANDLE self = ::GetCurrentProcess();
  ProcessStats s;
  FILETIME created, exited, kernel, user;
  if (!::GetProcessTimes(self, &created, &exited, &kernel, &user)) return std::nullopt;
  s.cpuSeconds = seconds(kernel) + seconds(user);
  s.startTimeSeconds = seconds(created) - kEpochDelta;
  PROCESS_MEMORY_COUNTERS mem{};
  mem.cb = sizeof(mem);
  if (::GetProcessMemoryInfo(self, &mem, sizeof(mem))) {
    s.residentBytes = static_cast<double>(mem.WorkingSetSize);
  }
  DWORD handles = 0;
  if (::GetProcessHandleCount(self, &handles)) s.openFds = handles;
  s.maxFds = 16777216;  // 2^24: the kernel's per-process handle table limit
  return s;
}

}  // namespace ferry::metrics
