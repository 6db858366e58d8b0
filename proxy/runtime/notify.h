#pragma once
// Telling the service manager where ferry is in its life.
//
// Linux: sd_notify(3) through libsystemd, for a unit with Type=notify (deploy/systemd/). Each
// call is a no-op when NOTIFY_SOCKET is unset (ferry started by hand, in a container, by a test),
// so callers never check where they run. Windows: the same calls report the service's state to
// the Service Control Manager when ferry runs as a service (service_win.h), and do nothing
// otherwise.
//
// Call them from the main (signal) thread only; they take no lock, block for at most one
// datagram send, and never fail the caller: a manager that cannot be told is logged once.

#include <string>

namespace ferry::runtime {

// Every listener and the admin listener are bound and accepting: READY=1 (Windows:
// SERVICE_RUNNING). Call after start-up, and again after a reload finished (with or without
// success: the old or the new config is serving either way).
void notifyReady();

// A reload (SIGHUP, admin /reload) begins: RELOADING=1 with MONOTONIC_USEC, as systemd asks.
// Follow with notifyReady() when the new config serves or the reload was rejected.
void notifyReloading();

// Shutdown begins (SIGTERM, service stop): STOPPING=1 (Windows: SERVICE_STOP_PENDING). Call
// before draining, so the manager knows the stop is under way and waits for it.
void notifyStopping();

// The last call before the process exits after a stop (Windows: SERVICE_STOPPED with exitCode;
// Linux: nothing, systemd sees the exit).
void notifyStopped(int exitCode = 0);

// A one-line human status shown by `systemctl status ferry` (STATUS=...). Newlines are replaced.
void notifyStatus(const std::string& text);

}  // namespace ferry::runtime
