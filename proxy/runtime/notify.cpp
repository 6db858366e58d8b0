#include "proxy/runtime/notify.h"

#include <atomic>

#include "proxy/common/log.h"

#if defined(__linux__)
#include <systemd/sd-daemon.h>
#include <time.h>

#include <cstdint>
#include <string>
#elif defined(_WIN32)
#include "proxy/runtime/service_win.h"
#endif

namespace ferry::runtime {

#if defined(__linux__)

namespace {

// sd_notify returns > 0 when sent, 0 when NOTIFY_SOCKET is unset, < 0 (-errno) on failure.
void send(const std::string& state) {
  int r = sd_notify(0, state.c_str());
  static std::atomic<bool> warned{false};
  if (r < 0 && !warned.exchange(true))
    log::warn("sd_notify: cannot tell the service manager '{}': error {}", state, -r);
}

}  // namespace

void notifyReady() {
  send("READY=1");
}

void notifyReloading() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  std::uint64_t usec = static_cast<std::uint64_t>(ts.tv_sec) * 1000000U +
                       static_cast<std::uint64_t>(ts.tv_nsec) / 1000U;
  send("RELOADING=1\nMONOTONIC_USEC=" + std::to_string(usec));
}

void notifyStopping() {
  send("STOPPING=1");
}

void notifyStopped(int) {}

void notifyStatus(const std::string& text) {
  std::string line = text;
  for (char& c : line)
    if (c == '\n' || c == '\r') c = ' ';
  send("STATUS=" + line);
}

#elif defined(_WIN32)

void notifyReady() {
  serviceReport(ServiceState::kRunning);
}
void notifyReloading() {}
void notifyStopping() {
  serviceReport(ServiceState::kStopPending);
}
void notifyStopped(int exitCode) {
  serviceReport(ServiceState::kStopped, exitCode);
}
void notifyStatus(const std::string&) {}

#else

void notifyReady() {}
void notifyReloading() {}
void notifyStopping() {}
void notifyStopped(int) {}
void notifyStatus(const std::string&) {}

#endif

}  // namespace ferry::runtime
