// The process collector on Linux: /proc (built instead of process_win.cpp).
#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "proxy/metrics/process.h"

namespace ferry::metrics {

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

}  // namespace ferry::metrics
