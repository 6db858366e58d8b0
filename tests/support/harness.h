#pragma once
// Test harness for integration tests: real processes (ferry, test backends), real sockets,
// real clients (curl). Waits are polls with deadlines, never fixed sleeps. Every process
// started here is ended by its PID when its owner goes out of scope.

#include <sys/types.h>

#include <chrono>
#include <csignal>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace ferry::test {

using namespace std::chrono_literals;

// Paths baked in by CMake.
std::string ferryBinary();
std::string backendBinary();
std::string sourceDir();
// tests/support/no_uring.c: runs a command with io_uring_setup blocked by seccomp (EPERM).
std::string noUringBinary();

// Whether the binary under test is ferry.exe under Wine (FERRY_TEST_BINARY names wine).
bool testingUnderWine();

// Polls pred every few milliseconds until it holds or the deadline passes.
bool waitUntil(const std::function<bool()>& pred, std::chrono::milliseconds deadline = 10s);

// A port on 127.0.0.1 held bound but not listening for this object's life: connects to it are
// refused, and no other process can take it meanwhile (unlike a port that was merely free).
class ReservedPort {
 public:
  ReservedPort();
  ~ReservedPort();
  ReservedPort(const ReservedPort&) = delete;
  ReservedPort& operator=(const ReservedPort&) = delete;
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

// A child process; stdout is read for a first line if asked, stderr goes to a log file.
class Process {
 public:
  // stopSignal: what stop() sends first (SIGTERM; ferry.exe under Wine gets SIGINT, see
  // Ferry::Ferry).
  Process(std::vector<std::string> argv, bool captureStdout = false, int stopSignal = SIGTERM);
  ~Process();
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;
  pid_t pid() const { return pid_; }
  // The first line the process printed (captureStdout), waiting up to 10 s.
  std::string firstLine();
  bool running();
  // Sends the stop signal, waits up to 10 s for the exit, then SIGKILL; returns the exit status.
  int stop();
  // Whether stop() was called (an exit after it is expected).
  bool stopRequested() const { return stopRequested_; }
  std::string logText() const;  // what it wrote to stderr (and stdout if not captured)

 private:
  pid_t pid_ = -1;
  int out_ = -1;
  std::string dir_;  // temporary; removed with the process object
  std::string logPath_;
  bool exited_ = false;
  bool stopRequested_ = false;
  int stopSignal_ = SIGTERM;
  int status_ = 0;
};

// A test backend answering with `name` (tests/support/test_backend.cpp).
class Backend {
 public:
  explicit Backend(const std::string& name);
  // Listening on ip:port (another loopback address, e.g. 127.0.0.3, and a chosen port: two
  // backends on one port for a DNS name's addresses).
  Backend(const std::string& name, int port, const std::string& ip);
  int port() const { return port_; }
  // connections= and requests= from its /stats (asked directly, not through ferry).
  long connections();
  long requests();

 private:
  long stats(const std::string& field);
  Process proc_;
  int port_ = 0;
  long statsCalls_ = 0;  // our own /stats requests, each on its own connection
};

// A raw HTTP exchange over one TCP connection: sends bytes, reads until the peer closes or
// the timeout. For malformed requests curl would not send.
std::string rawExchange(int port, const std::string& bytes, std::chrono::milliseconds timeout = 5s,
                        bool halfClose = false);

// A blocking client connection to 127.0.0.1:port, for tests that hold connections open, pipeline
// or speak part by part. Every read is bounded by its timeout.
class RawClient {
 public:
  explicit RawClient(int port);
  ~RawClient();
  RawClient(const RawClient&) = delete;
  RawClient& operator=(const RawClient&) = delete;
  bool connected() const { return fd_ >= 0; }
  int fd() const { return fd_; }
  bool send(const std::string& bytes);
  void shutdownWrite();
  // One response: the head, then a Content-Length or chunked body (to its last chunk), or until
  // the peer closes when neither is given. Empty if nothing arrived in time.
  std::string readResponse(std::chrono::milliseconds timeout = 5s);
  // Everything until the peer closes (or resets) or the timeout.
  std::string readUntilClose(std::chrono::milliseconds timeout = 5s);
  // True once the peer closed or reset the connection (a read gives EOF or an error).
  bool peerClosed(std::chrono::milliseconds timeout = 5s);

 private:
  // Appends to buf_ what arrives within the deadline; false on timeout, EOF or error.
  bool fill(std::chrono::steady_clock::time_point deadline);
  int fd_ = -1;
  bool eof_ = false;
  std::string buf_;
};

// Sends all of bytes on a blocking socket (MSG_NOSIGNAL); false if the peer went away first.
bool sendAll(int fd, const std::string& bytes);
// Reads from fd into `into` until `done(into)` holds or, without `done`, to EOF: true then (or at
// EOF), false on an error or 20 s without a byte.
bool readFd(int fd, std::string& into,
            const std::function<bool(const std::string&)>& done = nullptr);
// Reads a request head (to its blank line) from fd; false on EOF, an error or 20 s of silence.
bool readHead(int fd);
// A listening TCP socket on 127.0.0.1 at a port the system picks (written to port); -1 if any
// step failed.
int listenLoopback(int backlog, int& port);

// A one-connection TCP server on 127.0.0.1 in this process, for backend behaviour test_backend
// has no mode for: the first connection (waited for at most 20 s, so the thread always ends)
// goes to serve(fd) on the server's thread and is closed after it returns.
class OneShotBackend {
 public:
  explicit OneShotBackend(std::function<void(int fd)> serve);
  ~OneShotBackend();
  OneShotBackend(const OneShotBackend&) = delete;
  OneShotBackend& operator=(const OneShotBackend&) = delete;
  int port() const { return port_; }

 private:
  int listener_ = -1;
  int port_ = 0;
  std::thread thread_;
};

struct CommandResult {
  int exitCode = -1;
  std::string out;
};
// Runs a shell command (bounded by `timeout` seconds via coreutils timeout).
CommandResult run(const std::string& command, int timeoutSeconds = 60);

// The status code of the first response in raw bytes ("HTTP/1.1 404 ..."), or 0.
int statusOf(const std::string& response);

// A ferry process on a config written to a temporary file. {{ADMIN}} in the YAML becomes
// 127.0.0.1:0; listeners should use port 0 too. The constructor waits until the admin listener
// (its port read from ferry's log) answers /ready, then learns every listener's port from
// /listeners: no port is chosen before ferry binds it, so parallel tests never collide.
class Ferry {
 public:
  explicit Ferry(const std::string& yaml, std::vector<std::string> extraArgs = {});
  ~Ferry();
  int adminPort() const { return adminPort_; }
  // The config file ferry serves (a test rewrites it before a reload).
  std::string configPath() const { return dir_ + "/ferry.yaml"; }
  // The port ferry bound for the named listener.
  int port(const std::string& listener) const;
  std::string metrics();
  // The value of one sample line of /metrics, e.g.
  // ferry_upstream_connections_opened_total{cluster="c"}.
  double metric(const std::string& sample);
  Process& process() { return *proc_; }

 private:
  std::string dir_;
  int adminPort_ = 0;
  std::vector<std::pair<std::string, int>> ports_;
  std::unique_ptr<Process> proc_;
};

}  // namespace ferry::test
