#pragma once
// A real DNS server for tests: Debian's dnsmasq (deploy/install-deps.sh installs dnsmasq-base) on
// 127.0.0.1 and a free UDP port, answering only from a hosts file the test writes (addn-hosts,
// TTL 1 s). Started and ended by the test, by its pid. Linux only (the Windows leg points ferry.exe
// at one started by the Linux side).

#ifndef _WIN32

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace ferry::test {

// dnsmasq on 127.0.0.1 and a free port, answering from a hosts file (addn-hosts, TTL 1 s) and
// nothing else. Started and ended by the test, by its pid.
class Dnsmasq {
 public:
  explicit Dnsmasq(const std::filesystem::path& dir) : dir_(dir), hosts_(dir / "hosts") {}
  ~Dnsmasq() { stop(); }

  void writeHosts(const std::string& text) {
    std::filesystem::path tmp = dir_ / "hosts.new";
    std::ofstream(tmp) << text;
    std::filesystem::rename(tmp, hosts_);
  }
  // Starts it on a free port; true once it answers (the caller checks with a query).
  bool start() {
    port_ = freeUdpPort();
    std::string bin = "/usr/sbin/dnsmasq";
    std::vector<std::string> args{bin,
                                  "--keep-in-foreground",
                                  "--no-resolv",
                                  "--no-hosts",
                                  "--addn-hosts=" + hosts_.string(),
                                  "--port=" + std::to_string(port_),
                                  "--listen-address=127.0.0.1",
                                  "--bind-interfaces",
                                  "--conf-file=/dev/null",
                                  "--pid-file=",
                                  "--local-ttl=1",
                                  "--user=root",
                                  "--group=root",
                                  "--log-facility=" + (dir_ / "dnsmasq.log").string()};
    pid_ = ::fork();
    if (pid_ == 0) {
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(bin.c_str(), argv.data());
      ::_exit(127);
    }
    return pid_ > 0;
  }
  bool running() {
    if (pid_ <= 0) return false;
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return false;
    }
    return true;
  }
  void reload() { ::kill(pid_, SIGHUP); }
  void stop() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      ::waitpid(pid_, nullptr, 0);
      pid_ = -1;
    }
  }
  std::uint16_t port() const { return port_; }
  std::string log() const {
    std::string out, line;
    std::ifstream in(dir_ / "dnsmasq.log");
    while (std::getline(in, line)) out += line + "\n";
    return out;
  }

 private:
  static std::uint16_t freeUdpPort() {
    int s = ::socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(a);
    ::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof(a));
    ::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len);
    ::close(s);
    return ntohs(a.sin_port);
  }
  std::filesystem::path dir_;
  std::filesystem::path hosts_;
  pid_t pid_ = -1;
  std::uint16_t port_ = 0;
};

// Starts dns (retrying on another port if dnsmasq lost the race for the one it was given) and
// waits until it logged its start; false if it never came up.
inline bool startDnsmasq(Dnsmasq& dns) {
  for (int attempt = 0; attempt < 5; ++attempt) {
    if (!dns.start()) return false;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline && dns.running() && dns.log().empty()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (dns.running() && !dns.log().empty()) return true;
    dns.stop();
  }
  return false;
}

// A test fixture with a Dnsmasq in its own temporary directory (dns_, dir_), not started yet.
class DnsmasqTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(std::filesystem::exists("/usr/sbin/dnsmasq"))
        << "dnsmasq missing: deploy/install-deps.sh installs dnsmasq-base";
    std::string tmpl = (std::filesystem::temp_directory_path() / "ferry-dns-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    dns_ = std::make_unique<Dnsmasq>(dir_);
  }
  void TearDown() override {
    dns_.reset();
    std::filesystem::remove_all(dir_);
  }

  std::filesystem::path dir_;
  std::unique_ptr<Dnsmasq> dns_;
};

}  // namespace ferry::test

#endif  // _WIN32
