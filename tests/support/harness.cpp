#include "tests/support/harness.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace ferry::test {

std::string ferryBinary() {
  return FERRY_BINARY;
}

namespace {
// The command that runs ferry: FERRY_TEST_BINARY ("wine build-win/ferry.exe") or the build's.
std::vector<std::string> ferryCommand() {
  const char* over = std::getenv("FERRY_TEST_BINARY");
  if (over == nullptr || *over == '\0') return {ferryBinary()};
  std::vector<std::string> argv;
  std::istringstream words(over);
  for (std::string w; words >> w;) argv.push_back(w);
  return argv;
}
}  // namespace
std::string backendBinary() {
  return TEST_BACKEND_BINARY;
}
std::string sourceDir() {
  return FERRY_SOURCE_DIR;
}
std::string noUringBinary() {
  return NO_URING_BINARY;
}

bool waitUntil(const std::function<bool()>& pred, std::chrono::milliseconds deadline) {
  auto end = std::chrono::steady_clock::now() + deadline;
  for (;;) {
    if (pred()) return true;
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(10ms);
  }
}

ReservedPort::ReservedPort() {
  fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  socklen_t len = sizeof(a);
  ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
  port_ = ntohs(a.sin_port);
}

ReservedPort::~ReservedPort() {
  ::close(fd_);
}

namespace {
std::string tempDir() {
  char tmpl[] = "/tmp/ferry-test-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) throw std::runtime_error("mkdtemp");
  return tmpl;
}
}  // namespace

Process::Process(std::vector<std::string> argv, bool captureStdout, int stopSignal)
    : stopSignal_(stopSignal) {
  dir_ = tempDir();
  logPath_ = dir_ + "/log";
  int pipeFds[2] = {-1, -1};
  if (captureStdout && ::pipe2(pipeFds, O_CLOEXEC) != 0) throw std::runtime_error("pipe");
  pid_ = ::fork();
  if (pid_ == 0) {
    int log = ::open(logPath_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(log, 2);
    ::dup2(captureStdout ? pipeFds[1] : log, 1);
    int devnull = ::open("/dev/null", O_RDONLY);
    ::dup2(devnull, 0);
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    ::execvp(args[0], args.data());
    std::_Exit(127);
  }
  if (captureStdout) {
    ::close(pipeFds[1]);
    out_ = pipeFds[0];
  }
}

Process::~Process() {
  stop();
  if (out_ >= 0) ::close(out_);
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

std::string Process::firstLine() {
  std::string line;
  auto end = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < end) {
    pollfd p{out_, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    char c;
    if (::read(out_, &c, 1) != 1) break;
    if (c == '\n') return line;
    line += c;
  }
  return line;
}

bool Process::running() {
  if (exited_) return false;
  int st = 0;
  if (::waitpid(pid_, &st, WNOHANG) == pid_) {
    exited_ = true;
    status_ = st;
    return false;
  }
  return true;
}

int Process::stop() {
  if (pid_ <= 0) return -1;
  stopRequested_ = true;
  if (running()) {
    ::kill(pid_, stopSignal_);
    if (!waitUntil([&] { return !running(); }, 10s)) {
      ::kill(pid_, SIGKILL);
      waitUntil([&] { return !running(); }, 10s);
    }
  }
  return WIFEXITED(status_) ? WEXITSTATUS(status_) : 128 + WTERMSIG(status_);
}

std::string Process::logText() const {
  std::ifstream in(logPath_);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Backend::Backend(const std::string& name) : proc_({backendBinary(), name, "0"}, true) {
  port_ = std::atoi(proc_.firstLine().c_str());
  if (port_ <= 0) throw std::runtime_error("test backend did not start: " + proc_.logText());
}

Backend::Backend(const std::string& name, int port, const std::string& ip)
    : proc_({backendBinary(), name, std::to_string(port), ip}, true) {
  port_ = std::atoi(proc_.firstLine().c_str());
  if (port_ <= 0) throw std::runtime_error("test backend did not start: " + proc_.logText());
}

long Backend::stats(const std::string& field) {
  std::string r = rawExchange(port_, "GET /stats HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
  ++statsCalls_;
  std::size_t p = r.find(field + "=");
  return p == std::string::npos ? -1 : std::atol(r.c_str() + p + field.size() + 1) - statsCalls_;
}

long Backend::connections() {
  return stats("connections");
}
long Backend::requests() {
  return stats("requests");
}

std::string rawExchange(int port, const std::string& bytes, std::chrono::milliseconds timeout,
                        bool halfClose) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
    ::close(fd);
    return "";
  }
  std::size_t off = 0;
  while (off < bytes.size()) {
    ssize_t n = ::send(fd, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
    if (n <= 0) break;
    off += static_cast<std::size_t>(n);
  }
  if (halfClose) ::shutdown(fd, SHUT_WR);
  std::string out;
  auto end = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        end - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
    char buf[65536];
    ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return out;
}

RawClient::RawClient(int port) {
  fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
    ::close(fd_);
    fd_ = -1;
  }
}

RawClient::~RawClient() {
  if (fd_ >= 0) ::close(fd_);
}

OneShotBackend::OneShotBackend(std::function<void(int fd)> serve) {
  listener_ = listenLoopback(4, port_);
  if (listener_ < 0) {
    ADD_FAILURE() << "one-shot backend: listen failed";
    return;
  }
  thread_ = std::thread([this, serve = std::move(serve)] {
    pollfd p{listener_, POLLIN, 0};
    if (::poll(&p, 1, 20000) != 1) return;  // bounded: the test gives up before this
    int c = ::accept(listener_, nullptr, nullptr);
    if (c < 0) return;
    serve(c);
    ::close(c);
  });
}

OneShotBackend::~OneShotBackend() {
  if (thread_.joinable()) thread_.join();
  if (listener_ >= 0) ::close(listener_);
}

bool sendAll(int fd, const std::string& bytes) {
  std::size_t off = 0;
  while (off < bytes.size()) {
    ssize_t n = ::send(fd, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return false;
    off += static_cast<std::size_t>(n);
  }
  return true;
}

bool readFd(int fd, std::string& into, const std::function<bool(const std::string&)>& done) {
  char buf[65536];
  while (!done || !done(into)) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 20000) != 1) return false;
    ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n == 0) return true;
    if (n < 0) return false;
    into.append(buf, static_cast<std::size_t>(n));
  }
  return true;
}

bool readHead(int fd) {
  std::string head;
  return readFd(fd, head,
                [](const std::string& s) { return s.find("\r\n\r\n") != std::string::npos; });
}

bool RawClient::send(const std::string& bytes) {
  return sendAll(fd_, bytes);
}

int listenLoopback(int backlog, int& port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(a);
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 ||
      ::listen(fd, backlog) != 0 || ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    if (fd >= 0) ::close(fd);
    return -1;
  }
  port = ntohs(a.sin_port);
  return fd;
}

void RawClient::shutdownWrite() {
  ::shutdown(fd_, SHUT_WR);
}

bool RawClient::fill(std::chrono::steady_clock::time_point deadline) {
  if (eof_ || fd_ < 0) return false;
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
  if (left.count() <= 0) return false;
  pollfd p{fd_, POLLIN, 0};
  if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
  char buf[65536];
  ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
  if (n <= 0) {
    eof_ = true;
    return false;
  }
  buf_.append(buf, static_cast<std::size_t>(n));
  return true;
}

std::string RawClient::readResponse(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  std::size_t headEnd;
  while ((headEnd = buf_.find("\r\n\r\n")) == std::string::npos) {
    if (!fill(deadline)) {
      std::string all = std::move(buf_);
      buf_.clear();
      return all;
    }
  }
  std::size_t bodyStart = headEnd + 4;
  std::string head = buf_.substr(0, bodyStart);
  std::string lower = head;
  for (char& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  std::size_t total = std::string::npos;
  std::size_t cl = lower.find("\r\ncontent-length:");
  int status = statusOf(head);
  if ((status >= 100 && status < 200) || status == 204 || status == 304) {
    total = bodyStart;
  } else if (cl != std::string::npos) {
    total = bodyStart + std::strtoull(head.c_str() + cl + 17, nullptr, 10);
  } else if (lower.find("transfer-encoding: chunked") != std::string::npos) {
    std::size_t end;
    while ((end = buf_.find("\r\n0\r\n\r\n", bodyStart - 2)) == std::string::npos) {
      if (!fill(deadline)) break;
    }
    total = end == std::string::npos ? buf_.size() : end + 7;
  }
  if (total == std::string::npos) {
    while (fill(deadline)) {
    }
    total = buf_.size();
  }
  while (buf_.size() < total && fill(deadline)) {
  }
  std::string out = buf_.substr(0, std::min(total, buf_.size()));
  buf_.erase(0, out.size());
  return out;
}

std::string RawClient::readUntilClose(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (fill(deadline)) {
  }
  return std::exchange(buf_, std::string());
}

bool RawClient::peerClosed(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (fill(deadline)) {
  }
  return eof_;
}

bool testingUnderWine() {
  const char* b = std::getenv("FERRY_TEST_BINARY");
  return b != nullptr && std::string(b).find("wine") != std::string::npos;
}

CommandResult run(const std::string& command, int timeoutSeconds) {
  std::string full = "timeout " + std::to_string(timeoutSeconds) + " bash -c '" + command + "'";
  FILE* f = ::popen(full.c_str(), "r");
  CommandResult r;
  if (f == nullptr) return r;
  char buf[65536];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0) r.out.append(buf, n);
  int st = ::pclose(f);
  r.exitCode = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

int statusOf(const std::string& response) {
  if (response.rfind("HTTP/1.", 0) != 0 || response.size() < 12) return 0;
  return std::atoi(response.c_str() + 9);
}

Ferry::Ferry(const std::string& yaml, std::vector<std::string> extraArgs) {
  dir_ = tempDir();
  std::string text = yaml;
  for (std::size_t p; (p = text.find("{{ADMIN}}")) != std::string::npos;) {
    text.replace(p, 9, "127.0.0.1:0");
  }
  std::ofstream(dir_ + "/ferry.yaml") << text;
  std::vector<std::string> argv = ferryCommand();
  argv.push_back("-c");
  argv.push_back(dir_ + "/ferry.yaml");
  if (const char* io = std::getenv("FERRY_TEST_IO")) {  // run the suite on another backend
    argv.push_back("--io");
    argv.push_back(io);
  }
  argv.insert(argv.end(), extraArgs.begin(), extraArgs.end());
  // Under Wine, SIGINT becomes a console control event: ferry.exe stops gracefully, as Ctrl-C or
  // a service stop would make it on Windows. SIGTERM would end the Windows process at once with
  // its overlapped I/O still pending, which Wine 8's server does not always survive (seen in CI:
  // wineserver's sock_get_poll_events assertion; its exit dump lists asyncs and sockets of
  // processes long gone), and then the next test's ferry.exe cannot start.
  proc_ = std::make_unique<Process>(argv, false, testingUnderWine() ? SIGINT : SIGTERM);
  const std::string marker = "admin listening on 127.0.0.1:";
  bool up = waitUntil(
      [&] {
        if (!proc_->running()) return true;
        std::string log = proc_->logText();
        std::size_t at = log.find(marker);
        if (at == std::string::npos) return false;
        adminPort_ = std::atoi(log.c_str() + at + marker.size());
        return statusOf(rawExchange(adminPort_,
                                    "GET /ready HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
                                    1s)) == 200;
      },
      30s);
  if (!up || !proc_->running()) {
    throw std::runtime_error("ferry did not become ready:\n" + proc_->logText());
  }
  std::string r =
      rawExchange(adminPort_, "GET /listeners HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
  std::istringstream body(r.substr(r.find("\r\n\r\n") + 4));
  for (std::string name, address; body >> name >> address;) {
    ports_.emplace_back(name, std::atoi(address.c_str() + address.rfind(':') + 1));
  }
}

int Ferry::port(const std::string& listener) const {
  for (const auto& [name, port] : ports_) {
    if (name == listener) return port;
  }
  throw std::runtime_error("no listener " + listener);
}

Ferry::~Ferry() {
  if (!proc_->running() && !proc_->stopRequested()) {  // it should still be serving: say why
    ADD_FAILURE() << "ferry exited during the test with status " << proc_->stop() << ":\n"
                  << proc_->logText();
  } else {
    proc_->stop();
  }
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

std::string Ferry::metrics() {
  std::string r =
      rawExchange(adminPort_, "GET /metrics HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
  std::size_t body = r.find("\r\n\r\n");
  return body == std::string::npos ? "" : r.substr(body + 4);
}

double Ferry::metric(const std::string& sample) {
  std::string m = metrics();
  std::size_t p = m.find("\n" + sample + " ");
  if (p == std::string::npos) return -1;
  return std::atof(m.c_str() + p + sample.size() + 2);
}

}  // namespace ferry::test
