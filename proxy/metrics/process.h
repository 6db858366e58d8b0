#pragma once
// The process collector's numbers (the standard process_* families): Linux reads /proc,
// Windows asks the Win32 API (GetProcessTimes, GetProcessMemoryInfo, GetProcessHandleCount).
// Read at scrape time on the scraping thread.

#include <optional>

namespace ferry::metrics {

struct ProcessStats {
  double cpuSeconds = 0;        // user + system CPU time
  double residentBytes = 0;     // resident set size (Windows: working set)
  double openFds = 0;           // open file descriptors (Windows: open handles)
  double maxFds = 0;            // RLIMIT_NOFILE's soft limit (Windows: the per-process handle cap)
  double startTimeSeconds = 0;  // since the Unix epoch
};

// This process's numbers now; nullopt when the platform does not answer (then nothing of the
// process families is exported).
std::optional<ProcessStats> readProcessStats();

}  // namespace ferry::metrics
