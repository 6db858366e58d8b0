#include "proxy/runtime/service_win.h"

#ifdef _WIN32

// clang-format off
#include <windows.h>
#include <winsvc.h>  // not included by windows.h under WIN32_LEAN_AND_MEAN
// clang-format on

#include <atomic>
#include <cstdio>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace ferry::runtime {

namespace {

// The service process's state. Written by serviceCommand before the dispatcher thread starts,
// then read by the handler (dispatcher thread) and main; SetServiceStatus calls are serialised
// by statusLock (they come from both threads; never on the request path).
std::atomic<bool> asService{false};
SERVICE_STATUS_HANDLE statusHandle = nullptr;
std::mutex statusLock;
DWORD checkpoint = 0;
std::atomic<HANDLE> stopEvent{nullptr};
std::atomic<bool> stopRequested{false};
HANDLE registered = nullptr;  // set when ServiceMain registered the handler (or failed)
HANDLE stopped = nullptr;     // set when SERVICE_STOPPED was reported: ServiceMain returns
std::atomic<bool> dispatcherFailed{false};
DWORD dispatcherError = 0;

void setStatus(DWORD state, DWORD exitCode, DWORD waitHintMs) {
  std::lock_guard<std::mutex> lock(statusLock);
  if (statusHandle == nullptr) return;
  SERVICE_STATUS s{};
  s.dwServiceType = SERVICE_WIN32_OWN_PROCESS;
  s.dwCurrentState = state;
  s.dwControlsAccepted =
      state == SERVICE_RUNNING ? SERVICE_ACCEPT_STOP | SERVICE_ACCEPT_SHUTDOWN : 0;
  s.dwWin32ExitCode = exitCode == 0 ? NO_ERROR : ERROR_SERVICE_SPECIFIC_ERROR;
  s.dwServiceSpecificExitCode = exitCode;
  bool pending = state == SERVICE_START_PENDING || state == SERVICE_STOP_PENDING;
  s.dwCheckPoint = pending ? ++checkpoint : 0;
  s.dwWaitHint = waitHintMs;
  ::SetServiceStatus(statusHandle, &s);
}

void requestStop() {
  stopRequested.store(true);
  if (HANDLE h = stopEvent.load()) ::SetEvent(h);
}

DWORD WINAPI onControl(DWORD control, DWORD, LPVOID, LPVOID) {
  switch (control) {
    case SERVICE_CONTROL_STOP:
    case SERVICE_CONTROL_SHUTDOWN:
      // Drain takes up to the config's drain timeout; the hint keeps the SCM waiting for it.
      setStatus(SERVICE_STOP_PENDING, 0, 35000);
      requestStop();
      return NO_ERROR;
    case SERVICE_CONTROL_INTERROGATE:
      return NO_ERROR;
    default:
      return ERROR_CALL_NOT_IMPLEMENTED;
  }
}

void WINAPI serviceMain(DWORD, LPSTR*) {
  {
    std::lock_guard<std::mutex> lock(statusLock);
    statusHandle = ::RegisterServiceCtrlHandlerExA(kServiceName, onControl, nullptr);
  }
  if (statusHandle == nullptr) {
    dispatcherError = ::GetLastError();
    dispatcherFailed.store(true);
    ::SetEvent(registered);
    return;
  }
  setStatus(SERVICE_START_PENDING, 0, 30000);
  ::SetEvent(registered);
  // Returning would be allowed, but waiting keeps this thread's part in the life plain: the
  // dispatcher returns only after SERVICE_STOPPED.
  ::WaitForSingleObject(stopped, INFINITE);
}

std::string lastError() {
  DWORD e = ::GetLastError();
  char buf[256] = {};
  ::FormatMessageA(FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS, nullptr, e, 0, buf,
                   sizeof buf, nullptr);
  std::string s = buf;
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  // Appends, not operator+ chains: GCC 12 warns (-Wrestrict) falsely on those.
  std::string out = "error ";
  out.append(std::to_string(e));
  if (!s.empty()) out.append(": ").append(s);
  return out;
}

int install(int argc, char** argv) {
  std::string file = "config/ferry.yaml";
  std::vector<std::string> rest;
  for (int i = 0; i < argc; ++i) {
    std::string a = argv[i];
    if ((a == "-c" || a == "--config") && i + 1 < argc) {
      file = argv[++i];
    } else {
      rest.push_back(a);
    }
  }
  char full[MAX_PATH] = {};
  if (::GetFullPathNameA(file.c_str(), MAX_PATH, full, nullptr) == 0 ||
      ::GetFileAttributesA(full) == INVALID_FILE_ATTRIBUTES) {
    std::fprintf(stderr, "ferry service install: config file %s not found\n", file.c_str());
    return 1;
  }
  char exe[MAX_PATH] = {};
  ::GetModuleFileNameA(nullptr, exe, MAX_PATH);
  std::string cmd;
  cmd.append("\"").append(exe).append("\" service run -c \"").append(full).append("\"");
  for (const std::string& a : rest) cmd.append(" \"").append(a).append("\"");

  SC_HANDLE scm = ::OpenSCManagerA(nullptr, nullptr, SC_MANAGER_CREATE_SERVICE);
  if (scm == nullptr) {
    std::fprintf(stderr, "ferry service install: cannot open the SCM (%s); run as Administrator\n",
                 lastError().c_str());
    return 1;
  }
  SC_HANDLE svc =
      ::CreateServiceA(scm, kServiceName, "ferry reverse proxy", SERVICE_ALL_ACCESS,
                       SERVICE_WIN32_OWN_PROCESS, SERVICE_AUTO_START, SERVICE_ERROR_NORMAL,
                       cmd.c_str(), nullptr, nullptr, nullptr, nullptr, nullptr);
  if (svc == nullptr) {
    std::fprintf(stderr, "ferry service install: %s\n", lastError().c_str());
    ::CloseServiceHandle(scm);
    return 1;
  }
  char text[] = "ferry: HTTP/1.1 and TCP reverse proxy and load balancer";
  SERVICE_DESCRIPTIONA desc{text};
  ::ChangeServiceConfig2A(svc, SERVICE_CONFIG_DESCRIPTION, &desc);
  std::printf("service %s installed: %s\n", kServiceName, cmd.c_str());
  ::CloseServiceHandle(svc);
  ::CloseServiceHandle(scm);
  return 0;
}

int uninstall() {
  SC_HANDLE scm = ::OpenSCManagerA(nullptr, nullptr, SC_MANAGER_CONNECT);
  if (scm == nullptr) {
    std::fprintf(stderr, "ferry service uninstall: cannot open the SCM (%s)\n",
                 lastError().c_str());
    return 1;
  }
  SC_HANDLE svc = ::OpenServiceA(scm, kServiceName, DELETE | SERVICE_STOP | SERVICE_QUERY_STATUS);
  if (svc == nullptr) {
    std::fprintf(stderr, "ferry service uninstall: %s\n", lastError().c_str());
    ::CloseServiceHandle(scm);
    return 1;
  }
  SERVICE_STATUS s{};
  if (::QueryServiceStatus(svc, &s) && s.dwCurrentState != SERVICE_STOPPED) {
    ::ControlService(svc, SERVICE_CONTROL_STOP, &s);
    // Poll with a deadline: the service drains first.
    for (int i = 0; i < 600 && ::QueryServiceStatus(svc, &s) && s.dwCurrentState != SERVICE_STOPPED;
         ++i)
      ::Sleep(100);
  }
  bool ok = ::DeleteService(svc) != 0;
  if (!ok) std::fprintf(stderr, "ferry service uninstall: %s\n", lastError().c_str());
  if (ok) std::printf("service %s uninstalled\n", kServiceName);
  ::CloseServiceHandle(svc);
  ::CloseServiceHandle(scm);
  return ok ? 0 : 1;
}

int startDispatcher() {
  registered = ::CreateEventA(nullptr, TRUE, FALSE, nullptr);
  stopped = ::CreateEventA(nullptr, TRUE, FALSE, nullptr);
  asService.store(true);
  // The dispatcher thread lives until SERVICE_STOPPED; the process exits right after.
  std::thread([] {
    char name[] = "ferry";
    SERVICE_TABLE_ENTRYA table[] = {{name, serviceMain}, {nullptr, nullptr}};
    if (!::StartServiceCtrlDispatcherA(table)) {
      dispatcherError = ::GetLastError();
      dispatcherFailed.store(true);
      ::SetEvent(registered);
    }
  }).detach();
  // The SCM allows 30 s between process start and the dispatcher's connection.
  if (::WaitForSingleObject(registered, 30000) != WAIT_OBJECT_0 || dispatcherFailed.load()) {
    std::fprintf(stderr,
                 "ferry service run: not started by the Service Control Manager (error %lu); "
                 "use `sc start %s`, or run `ferry -c FILE` in a console\n",
                 dispatcherError, kServiceName);
    asService.store(false);
    return 1;
  }
  return 0;
}

}  // namespace

std::optional<int> serviceCommand(int& argc, char**& argv) {
  if (argc < 2 || std::string(argv[1]) != "service") return std::nullopt;
  std::string sub = argc >= 3 ? argv[2] : "";
  if (sub == "install") return install(argc - 3, argv + 3);
  if (sub == "uninstall") return uninstall();
  if (sub == "run") {
    if (int rc = startDispatcher(); rc != 0) return rc;
    argv[2] = argv[0];
    argv += 2;
    argc -= 2;
    return std::nullopt;
  }
  std::fprintf(stderr,
               "usage: ferry service install [-c FILE] [options] | uninstall | run "
               "[-c FILE] [options]\n");
  return 2;
}

void serviceAttachStopEvent(void* event) {
  stopEvent.store(static_cast<HANDLE>(event));
  if (stopRequested.load()) ::SetEvent(static_cast<HANDLE>(event));
}

void serviceReport(ServiceState state, int exitCode) {
  if (!asService.load()) return;
  switch (state) {
    case ServiceState::kRunning:
      // A stop that came during start-up wins: never report RUNNING after STOP_PENDING.
      if (!stopRequested.load()) setStatus(SERVICE_RUNNING, 0, 0);
      break;
    case ServiceState::kStopPending:
      setStatus(SERVICE_STOP_PENDING, 0, 35000);
      break;
    case ServiceState::kStopped:
      setStatus(SERVICE_STOPPED, static_cast<DWORD>(exitCode), 0);
      ::SetEvent(stopped);
      break;
  }
}

bool runningAsService() {
  return asService.load();
}

}  // namespace ferry::runtime

#endif  // _WIN32
