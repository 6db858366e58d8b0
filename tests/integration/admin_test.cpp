// The admin listener's access classes through the real binary (issue 16, section 3): on an admin
// address that is not loopback (0.0.0.0, as the Kubernetes manifests bind it) Prometheus and the
// probes get /metrics, /healthz, /ready and /listeners, and every control operation (POST
// /reload, /drain, /reopen; GET /config, /clusters) answers 403 unless the request carries the
// bearer token of admin.control.token_file; admin.control.address serves them on loopback. The
// test binds 0.0.0.0 with port 0 and connects only through 127.0.0.1.

#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "tests/support/harness.h"

namespace ferry::test {
namespace {

namespace fs = std::filesystem;

std::string request(int port, const std::string& method, const std::string& path,
                    const std::string& extra = "") {
  return rawExchange(port,
                     method + " " + path + " HTTP/1.1\r\nHost: a\r\n" + extra +
                         "Content-Length: 0\r\nConnection: close\r\n\r\n",
                     30s);
}

std::string bodyOf(const std::string& r) {
  std::size_t at = r.find("\r\n\r\n");
  return at == std::string::npos ? "" : r.substr(at + 4);
}

// ferry on a config whose admin address is not {{ADMIN}} (the harness's Ferry waits for a
// loopback admin): the ports come from its log lines.
class WildAdminFerry {
 public:
  explicit WildAdminFerry(const std::string& yaml, const std::string& token = "") {
    dir_ = fs::temp_directory_path() / ("ferry-admin-" + std::to_string(std::random_device()()));
    fs::create_directories(dir_);
    if (!token.empty()) std::ofstream(dir_ / "token") << token << "\n";
    std::ofstream(dir_ / "ferry.yaml") << yaml;
    std::vector<std::string> argv;
    const char* over = std::getenv("FERRY_TEST_BINARY");
    if (over != nullptr && *over != '\0') {
      std::istringstream words(over);
      for (std::string w; words >> w;) argv.push_back(w);
    } else {
      argv.push_back(ferryBinary());
    }
    argv.insert(argv.end(), {"-c", (dir_ / "ferry.yaml").string()});
    if (const char* io = std::getenv("FERRY_TEST_IO")) argv.insert(argv.end(), {"--io", io});
    proc_ = std::make_unique<Process>(argv, false, testingUnderWine() ? SIGINT : SIGTERM);
    bool up = waitUntil(
        [&] {
          if (!proc_->running()) return true;
          adminPort_ = portAfter("admin listening on 0.0.0.0:");
          controlPort_ = portAfter("admin control listening on 127.0.0.1:");
          return adminPort_ > 0 && statusOf(request(adminPort_, "GET", "/ready")) == 200;
        },
        30s);
    if (!up || !proc_->running()) {
      throw std::runtime_error("ferry did not become ready:\n" + proc_->logText());
    }
  }
  ~WildAdminFerry() {
    proc_->stop();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  int adminPort() const { return adminPort_; }
  int controlPort() const { return controlPort_; }
  const fs::path& dir() const { return dir_; }
  Process& process() { return *proc_; }

 private:
  int portAfter(const std::string& marker) const {
    std::string log = proc_->logText();
    std::size_t at = log.find(marker);
    return at == std::string::npos ? 0 : std::atoi(log.c_str() + at + marker.size());
  }
  fs::path dir_;
  std::unique_ptr<Process> proc_;
  int adminPort_ = 0;
  int controlPort_ = 0;
};

// One request over a Unix socket, read until the peer closes (at most 10 s); empty on failure.
std::string unixRequest(const std::string& path, const std::string& method,
                        const std::string& target) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::snprintf(a.sun_path, sizeof(a.sun_path), "%s", path.c_str());
  std::string out;
  if (fd >= 0 && ::connect(fd, reinterpret_cast<const sockaddr*>(&a), sizeof(a)) == 0 &&
      sendAll(fd, method + " " + target +
                      " HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")) {
    auto deadline = std::chrono::steady_clock::now() + 10s;
    char buf[4096];
    for (pollfd p{fd, POLLIN, 0}; std::chrono::steady_clock::now() < deadline;) {
      if (::poll(&p, 1, 100) <= 0) continue;
      ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
      if (n <= 0) break;
      out.append(buf, static_cast<std::size_t>(n));
    }
  }
  if (fd >= 0) ::close(fd);
  return out;
}

std::string config(const std::string& adminYaml, int backendPort) {
  return "workers: 1\naccess_log: false\nadmin: " + adminYaml +
         "\nlisteners:\n  - name: web\n    address: 127.0.0.1:0\n"
         "    routes:\n      - { name: all, match: { path_prefix: / }, cluster: c }\n"
         "clusters:\n  - name: c\n    endpoints: [127.0.0.1:" +
         std::to_string(backendPort) + "]\n";
}

const char* const kControl[][2] = {{"POST", "/reload"},
                                   {"POST", "/drain"},
                                   {"POST", "/reopen"},
                                   {"GET", "/config"},
                                   {"GET", "/clusters"}};

// What Prometheus and the probes need answers on 0.0.0.0; no control operation does, and the
// 403 says where to go. A POST /drain that got through would stop ferry: it keeps serving.
TEST(AdminAccess, AWildcardAdminAddressServesMetricsAndProbesButNoControl) {
  Backend s1("s1");
  WildAdminFerry f(config("{ address: 0.0.0.0:0 }", s1.port()));
  int a = f.adminPort();
  EXPECT_EQ(statusOf(request(a, "GET", "/ready")), 200);
  EXPECT_EQ(statusOf(request(a, "GET", "/healthz")), 200);
  EXPECT_EQ(statusOf(request(a, "GET", "/listeners")), 200);
  std::string m = request(a, "GET", "/metrics");
  EXPECT_EQ(statusOf(m), 200);
  EXPECT_NE(m.find("ferry_build_info"), std::string::npos);
  for (const auto& [method, path] : kControl) {
    std::string r = request(a, method, path);
    EXPECT_EQ(statusOf(r), 403) << method << " " << path << "\n" << r;
    EXPECT_NE(bodyOf(r).find("control operation"), std::string::npos) << r;
    EXPECT_NE(bodyOf(r).find("admin.control"), std::string::npos) << r;
  }
  // A wrong token is refused as well, saying so.
  std::string r = request(a, "POST", "/drain", "Authorization: Bearer guess\r\n");
  EXPECT_EQ(statusOf(r), 403) << r;
  EXPECT_TRUE(f.process().running());
  EXPECT_EQ(statusOf(request(a, "GET", "/ready")), 200);
  EXPECT_NE(f.process().logText().find("is not loopback"), std::string::npos)
      << f.process().logText();
}

// admin.control.token_file: the token, and only it, unlocks the control operations on 0.0.0.0.
TEST(AdminAccess, TheBearerTokenUnlocksControlOperations) {
  Backend s1("s1");
  const std::string token = "3f9c2d7a41e84b0c9d5e6f7a8b9c0d1e";
  WildAdminFerry f(config("{ address: 0.0.0.0:0, control: { token_file: token } }", s1.port()),
                   token);
  int a = f.adminPort();
  EXPECT_EQ(statusOf(request(a, "GET", "/config")), 403);
  std::string wrong = token;
  wrong.back() = wrong.back() == 'e' ? 'f' : 'e';
  EXPECT_EQ(statusOf(request(a, "GET", "/config", "Authorization: Bearer " + wrong + "\r\n")), 403);
  EXPECT_EQ(statusOf(request(a, "GET", "/config", "Authorization: Bearer " + token + "x\r\n")),
            403);
  std::string r = request(a, "GET", "/config", "Authorization: Bearer " + token + "\r\n");
  EXPECT_EQ(statusOf(r), 200) << r;
  EXPECT_NE(bodyOf(r).find("token_file"), std::string::npos) << r;
  r = request(a, "POST", "/reload", "Authorization: bearer " + token + "\r\n");
  EXPECT_EQ(statusOf(r), 200) << r;
  EXPECT_EQ(statusOf(request(a, "GET", "/metrics")), 200);
}

// admin.control.address: a loopback listener that serves the control operations without a token.
TEST(AdminAccess, TheControlAddressServesControlOperations) {
  Backend s1("s1");
  // drain_delay: ferry outlives the answer to POST /drain.
  WildAdminFerry f("drain_delay: 1s\n" +
                   config("{ address: 0.0.0.0:0, control: { address: 127.0.0.1:0 } }", s1.port()));
  ASSERT_GT(f.controlPort(), 0) << f.process().logText();
  EXPECT_EQ(statusOf(request(f.adminPort(), "POST", "/reload")), 403);
  std::string r = request(f.controlPort(), "POST", "/reload");
  EXPECT_EQ(statusOf(r), 200) << r;
  r = request(f.controlPort(), "GET", "/clusters");
  EXPECT_EQ(statusOf(r), 200) << r << f.process().logText();
  EXPECT_EQ(statusOf(request(f.controlPort(), "GET", "/metrics")), 200);
  EXPECT_EQ(statusOf(request(f.controlPort(), "POST", "/drain")), 200);
  EXPECT_TRUE(waitUntil([&] { return !f.process().running(); }, 30s)) << f.process().logText();
}

// admin.control.socket: a Unix socket, mode 0600, serving the control operations (HAProxy's stats
// socket); the admin address on 0.0.0.0 still refuses them.
TEST(AdminAccess, TheControlSocketServesControlOperations) {
  if (testingUnderWine()) GTEST_SKIP() << "no Unix control socket on Windows";
  Backend s1("s1");
  WildAdminFerry f(config("{ address: 0.0.0.0:0, control: { socket: ctl.sock } }", s1.port()));
  std::string path = (f.dir() / "ctl.sock").string();
  ASSERT_TRUE(waitUntil([&] {
    return f.process().logText().find("admin control listening on unix:") != std::string::npos;
  })) << f.process().logText();
  struct stat st {};
  ASSERT_EQ(::lstat(path.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0600U);
  std::string r = unixRequest(path, "POST", "/reload");
  EXPECT_EQ(statusOf(r), 200) << r;
  r = unixRequest(path, "GET", "/config");
  EXPECT_EQ(statusOf(r), 200) << r;
  EXPECT_NE(bodyOf(r).find("ctl.sock"), std::string::npos) << r;
  EXPECT_EQ(statusOf(request(f.adminPort(), "GET", "/config")), 403);
}

// A loopback admin address (the default, and every other test's) keeps every operation, and its
// index marks which ones are control.
TEST(AdminAccess, ALoopbackAdminAddressServesEverything) {
  Backend s1("s1");
  Ferry f(config("{ address: {{ADMIN}} }", s1.port()));
  std::string index = bodyOf(request(f.adminPort(), "GET", "/"));
  EXPECT_NE(index.find("POST /reload"), std::string::npos) << index;
  EXPECT_NE(index.find("[control]"), std::string::npos) << index;
  EXPECT_EQ(statusOf(request(f.adminPort(), "GET", "/config")), 200);
  EXPECT_EQ(statusOf(request(f.adminPort(), "GET", "/clusters")), 200);
  EXPECT_EQ(statusOf(request(f.adminPort(), "POST", "/reload")), 200);
}

// Config errors: a token file that is missing or empty, a control address that is not loopback
// without a token.
TEST(AdminAccess, BadControlSettingsAreConfigErrors) {
  fs::path dir =
      fs::temp_directory_path() / ("ferry-admin-" + std::to_string(std::random_device()()));
  fs::create_directories(dir);
  auto check = [&](const std::string& admin) {
    std::ofstream(dir / "ferry.yaml", std::ios::trunc) << config(admin, 9);
    return run(ferryBinary() + " --check " + (dir / "ferry.yaml").string() + " 2>&1");
  };
  CommandResult r = check("{ address: 127.0.0.1:0, control: { token_file: missing } }");
  EXPECT_NE(r.exitCode, 0) << r.out;
  EXPECT_NE(r.out.find("token_file"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("cannot read"), std::string::npos) << r.out;
  std::ofstream(dir / "empty") << "\n";
  r = check("{ address: 127.0.0.1:0, control: { token_file: empty } }");
  EXPECT_NE(r.exitCode, 0) << r.out;
  EXPECT_NE(r.out.find("is empty"), std::string::npos) << r.out;
  r = check("{ address: 127.0.0.1:0, control: { address: 0.0.0.0:9 } }");
  EXPECT_NE(r.exitCode, 0) << r.out;
  EXPECT_NE(r.out.find("not a loopback address"), std::string::npos) << r.out;
  std::ofstream(dir / "token") << "abc123\n";
  r = check("{ address: 0.0.0.0:0, control: { address: 127.0.0.1:0, token_file: token } }");
  EXPECT_EQ(r.exitCode, 0) << r.out;
  std::error_code ec;
  fs::remove_all(dir, ec);
}

}  // namespace
}  // namespace ferry::test
