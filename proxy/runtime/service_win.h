#pragma once
// ferry as a Windows service, registered with the Service Control Manager (deploy/windows/).
//
//   ferry service install [-c FILE] [options...]  registers the service "ferry" (automatic start)
//                                                 whose command line is
//                                                 "<this exe>" service run -c <FILE, absolute>
//                                                 [options...]; FILE is checked to exist
//   ferry service uninstall                       stops the service if it runs, then deletes it
//   ferry service run [-c FILE] [options...]      what the SCM starts: connects to the SCM, then
//                                                 serves like `ferry -c FILE [options...]`
//
// Life of a service process: serviceCommand() starts the control dispatcher on its own thread
// and waits until ServiceMain registered the control handler (SERVICE_START_PENDING); main
// then loads the config and starts the workers as usual, and notifyReady() reports
// SERVICE_RUNNING. SERVICE_CONTROL_STOP and SERVICE_CONTROL_SHUTDOWN report
// SERVICE_STOP_PENDING and set the stop event main waits on (the same as Ctrl-C in a console);
// main drains and calls serviceReport(kStopped) last, which lets the dispatcher return.
// Outside `service run` every function here is a no-op.

#ifdef _WIN32

#include <optional>

namespace ferry::runtime {

// The service's name with the SCM (sc.exe start ferry, net start ferry).
inline constexpr const char* kServiceName = "ferry";

enum class ServiceState {
  kRunning,      // listeners bound, serving
  kStopPending,  // stop requested, draining
  kStopped,      // drained; the process exits next
};

// Handles a command line starting with `service`. install/uninstall: does it and returns the
// exit code (errors printed to stderr). run: connects to the SCM (exit code 1 if this process
// was not started by the SCM), removes "service run" from argv and returns nullopt so main goes
// on serving. Any other command line: nullopt, argv untouched. Main thread, before anything.
std::optional<int> serviceCommand(int& argc, char**& argv);

// The event main waits on; stop and shutdown controls set it. If a stop control came before
// this call, the event is set at once. stopEvent is a HANDLE (void* keeps windows.h out).
void serviceAttachStopEvent(void* stopEvent);

// Reports a state to the SCM; a no-op unless running as a service.
void serviceReport(ServiceState state, int exitCode = 0);

// True in a process started by the SCM through `ferry service run`.
bool runningAsService();

}  // namespace ferry::runtime

#endif  // _WIN32
