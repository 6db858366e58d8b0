#include "proxy/metrics/process.h"

#ifdef _WIN32
#include <windows.h>
// windows.h first: psapi.h needs its types.
#include <psapi.h>
#else
#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>
#endif

namespace ferry::metrics {

#ifdef _WIN32

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

#else

std::optional<ProcessStats> readProcessStats() {
  ProcessStats s;
  // /proc/self/stat: fields after the command (which may hold spaces) start after the last ')'.
  char buf[1024];
  std::FILE* f = std::fopen("/proc/self/stat", "re");
  if (f == nullptr) return std::nullopt;
  std::size_t n = std::fread(buf, 1, sizeof(buf) - 1, f);
  std::fclose(f);
  buf[n] = '\0';
  const char* p = std::strrchr(buf, ')');
  if (p == nullptr) return std::nullopt;
  // Fields 3.. after ')': state(3) ... utime(14) stime(15) ... starttime(22) vsize(23) rss(24).
  unsigned long long utime = 0, stime = 0, start = 0;
  long long rss = 0;
  int got = std::sscanf(p + 2,
                        "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d "
                        "%*d %*d %llu %*u %lld",
                        &utime, &stime, &start, &rss);
  if (got != 4) return std::nullopt;
  double ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));
  s.cpuSeconds = static_cast<double>(utime + stime) / ticks;
  s.residentBytes = static_cast<double>(rss) * static_cast<double>(::sysconf(_SC_PAGESIZE));
  // The boot time (btime in /proc/stat) plus the start in ticks since boot.
  double boot = 0;
  if (std::FILE* st = std::fopen("/proc/stat", "re")) {
    char line[256];
    while (std::fgets(line, sizeof(line), st) != nullptr) {
      unsigned long long b = 0;
      if (std::sscanf(line, "btime %llu", &b) == 1) {
        boot = static_cast<double>(b);
        break;
      }
    }
    std::fclose(st);
  }
  s.startTimeSeconds = boot + static_cast<double>(start) / ticks;
  if (DIR* d = ::opendir("/proc/self/fd")) {
    double count = 0;
    while (const dirent* e = ::readdir(d)) {
      if (e->d_name[0] != '.') ++count;
    }
    ::closedir(d);
    s.openFds = count - 1;  // the directory's own descriptor
  }
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) == 0) {
    s.maxFds = static_cast<double>(rl.rlim_cur);
  }
  return s;
}

#endif

}  // namespace ferry::metrics
