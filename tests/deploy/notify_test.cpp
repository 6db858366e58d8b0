// ferry under a Type=notify service manager, without systemd: the test owns the notify socket
// (a unix datagram socket named by NOTIFY_SOCKET, as systemd passes it), runs the real ferry
// and reads what it says. READY=1 must come only once the listeners accept connections;
// SIGHUP brackets a reload with RELOADING=1 and READY=1; SIGTERM says STOPPING=1.

#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <regex>

#include "tests/support/harness.h"

namespace ferry::test {
namespace {

// A unix datagram socket in a fresh temporary directory, as systemd's notify socket.
class NotifySocket {
 public:
  NotifySocket() {
    char tmpl[] = "/tmp/ferry-notify-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    path_ = dir_ + "/notify";
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::snprintf(a.sun_path, sizeof a.sun_path, "%s", path_.c_str());
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  }
  ~NotifySocket() {
    ::close(fd_);
    std::filesystem::remove_all(dir_);
  }
  const std::string& path() const { return path_; }
  const std::string& dir() const { return dir_; }
  // The next datagram, or "" when none came within the deadline.
  std::string next(std::chrono::milliseconds deadline = 20s) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(deadline.count())) != 1) return "";
    char buf[4096];
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
  }

 private:
  std::string dir_, path_;
  int fd_ = -1;
};

std::string writeConfig(const std::string& dir) {
  std::string file = dir + "/ferry.yaml";
  std::ofstream(file) << "workers: 2\nadmin:\n  address: 127.0.0.1:0\nlisteners:\n"
                         "  - name: web\n    address: 127.0.0.1:0\n    static: { root: "
                      << sourceDir() << "/deploy/demo/a }\n";
  return file;
}

// The port ferry logged for the named listener ("listener web on 127.0.0.1:PORT"), or 0.
int loggedPort(const std::string& log, const std::string& listener) {
  std::smatch m;
  std::regex re("listener " + listener + " on 127\\.0\\.0\\.1:([0-9]+)");
  return std::regex_search(log, m, re) ? std::stoi(m[1]) : 0;
}

TEST(Notify, ReadyOnlyOnceListeningThenReloadingAndStopping) {
  NotifySocket notify;
  std::string cfg = writeConfig(notify.dir());
  ::setenv("NOTIFY_SOCKET", notify.path().c_str(), 1);
  Process ferry({ferryBinary(), "-c", cfg});
  ::unsetenv("NOTIFY_SOCKET");

  // The first thing ferry says is READY=1, and by then the listener accepts and answers.
  ASSERT_EQ(notify.next(), "READY=1") << ferry.logText();
  int port = loggedPort(ferry.logText(), "web");
  ASSERT_NE(port, 0) << ferry.logText();
  EXPECT_EQ(statusOf(rawExchange(port, "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")),
            200);

  ASSERT_EQ(::kill(ferry.pid(), SIGHUP), 0);
  std::string reloading = notify.next();
  EXPECT_TRUE(reloading.starts_with("RELOADING=1\nMONOTONIC_USEC=")) << reloading;
  EXPECT_EQ(notify.next(), "READY=1");
  EXPECT_EQ(statusOf(rawExchange(port, "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")),
            200);

  EXPECT_EQ(ferry.stop(), 0) << ferry.logText();  // SIGTERM
  EXPECT_EQ(notify.next(), "STOPPING=1");
}

TEST(Notify, UnreachableManagerNeverStopsFerry) {
  NotifySocket notify;
  std::string cfg = writeConfig(notify.dir());
  std::string gone = notify.dir() + "/no-such-socket";
  ::setenv("NOTIFY_SOCKET", gone.c_str(), 1);
  Process ferry({ferryBinary(), "-c", cfg});
  ::unsetenv("NOTIFY_SOCKET");
  int port = 0;
  ASSERT_TRUE(waitUntil([&] {
    port = loggedPort(ferry.logText(), "web");
    return port != 0 || !ferry.running();
  }));
  ASSERT_TRUE(waitUntil([&] { return ferry.logText().find("sd_notify") != std::string::npos; }))
      << ferry.logText();
  EXPECT_EQ(statusOf(rawExchange(port, "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")),
            200);
  EXPECT_EQ(ferry.stop(), 0) << ferry.logText();
}

}  // namespace
}  // namespace ferry::test
