// The real ferry binary's command line: every bad flag gets a clear message and exit 2.

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "proxy/config/config.h"

namespace {

struct Outcome {
  int exitCode;
  std::string out;  // stdout
  std::string err;  // stderr
};

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Outcome ferry(const std::string& args) {
  std::string dir = ::testing::TempDir();
  std::string out = dir + "/ferry-cli-out-" + std::to_string(::getpid());
  std::string err = dir + "/ferry-cli-err-" + std::to_string(::getpid());
  int status = std::system(
      (std::string(FERRY_BINARY) + " " + args + " >" + out + " 2>" + err + " </dev/null").c_str());
  Outcome r{WIFEXITED(status) ? WEXITSTATUS(status) : -1, slurp(out), slurp(err)};
  std::remove(out.c_str());
  std::remove(err.c_str());
  return r;
}

TEST(Cli, HelpListsEveryOption) {
  Outcome r = ferry("--help");
  EXPECT_EQ(r.exitCode, 0);
  for (const char* o : {"--help", "--version", "--config", "--check", "--diff", "--print-schema",
                        "--workers", "--io", "--log-level"}) {
    EXPECT_NE(r.out.find(o), std::string::npos) << o << "\n" << r.out;
  }
}

TEST(Cli, VersionIsTheProjectVersion) {
  Outcome r = ferry("--version");
  EXPECT_EQ(r.exitCode, 0);
  EXPECT_EQ(r.out, std::string("ferry ") + FERRY_PROJECT_VERSION + "\n");
}

TEST(Cli, BadValuesExit2WithAClearMessage) {
  struct Case {
    const char* args;
    const char* message;
  } cases[] = {
      {"--workers x", "ferry: --workers: Value x not in range 1 to 1024"},
      {"--workers 0", "ferry: --workers: Value 0 not in range 1 to 1024"},
      {"--workers", "ferry: --workers: 1 required N:UINT in [1 - 1024] missing"},
      {"--io kqueue", "ferry: --io: kqueue not in {auto,io_uring,epoll}"},
      {"--log-level loud", "ferry: --log-level: loud not in {trace,debug,info,warn,error,off}"},
      {"--bogus", "ferry: The following argument was not expected: --bogus"},
      {"--check", "ferry: --check: 1 required FILE missing"},
      {"--diff a b", "ferry: --diff requires --check"},
  };
  for (const Case& c : cases) {
    Outcome r = ferry(c.args);
    EXPECT_EQ(r.exitCode, 2) << c.args;
    EXPECT_EQ(r.err, std::string(c.message) + "\nRun 'ferry --help' for the options.\n") << c.args;
    EXPECT_EQ(r.out, "") << c.args;
  }
}

TEST(Cli, PrintSchemaIsTheSchemaFile) {
  Outcome r = ferry("--print-schema");
  EXPECT_EQ(r.exitCode, 0);
  EXPECT_EQ(r.out, slurp(std::string(FERRY_SOURCE_DIR) + "/config/ferry.schema.json"));
}

TEST(Cli, CheckReportsEveryProblemAndExits1) {
  std::string path = ::testing::TempDir() + "/ferry-cli-check.yaml";
  std::ofstream(path) << "workers: 0\nlisteners:\n  - { name: a, address: 127.0.0.1:1, idle: 1 }\n";
  Outcome r = ferry("--check " + path);
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_EQ(r.err, path + ":1:10: workers: must be between 1 and 1024\n" + path +
                       ":3:5: listeners[0]: a listener needs routes (a proxy) or static (a file "
                       "server)\n" +
                       path +
                       ":3:38: listeners[0].idle: unknown key (did you mean "
                       "'idle_timeout'?)\n3 errors\n");
  r = ferry("--check " + std::string(FERRY_SOURCE_DIR) + "/config/ferry.yaml");
  EXPECT_EQ(r.exitCode, 0) << r.err;
  std::remove(path.c_str());
}

// What passed --check and then failed at start ("Address already in use" for a listener on the
// admin listener's address) or dropped every access line (a log in a directory that does not
// exist): --check reports both, at their keys.
TEST(Cli, CheckCatchesWhatWouldFailAtStart) {
  std::string path = ::testing::TempDir() + "/ferry-cli-start.yaml";
  std::ofstream(path) << "access_log: { path: /nonexistent/dir/a.log }\n"
                         "listeners:\n"
                         "  - { name: a, address: 127.0.0.1:9901, routes: [{ cluster: c }] }\n"
                         "clusters:\n  - { name: c, endpoints: [127.0.0.1:1] }\n";
  Outcome r = ferry("--check " + path);
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_EQ(r.err, path +
                       ":1:21: access_log.path: cannot append to '/nonexistent/dir/a.log': "
                       "directory '/nonexistent/dir' does not exist (create the directory, or "
                       "write to stdout)\n" +
                       path +
                       ":3:25: listeners[0].address: address 127.0.0.1:9901 is already used by "
                       "the admin listener (admin.address defaults to 127.0.0.1:9901: set another "
                       "one)\n2 errors\n");
  std::remove(path.c_str());
}

// ferry --check --diff OLD NEW: what a reload would add, change, drain and keep, by name; an
// invalid file's errors instead (exit 1).
TEST(Cli, CheckDiffPrintsWhatAReloadWouldDo) {
  std::string dir = ::testing::TempDir();
  std::string from = dir + "/ferry-cli-old.yaml";
  std::string to = dir + "/ferry-cli-new.yaml";
  std::ofstream(from) << "listeners:\n"
                         "  - name: web\n    address: 127.0.0.1:8080\n    routes:\n"
                         "      - { name: a, match: { path_prefix: /a }, cluster: blue }\n"
                         "      - { name: b, match: { path_prefix: /b }, cluster: keep }\n"
                         "  - { name: old, address: 127.0.0.1:8081, routes: [{ cluster: keep }] }\n"
                         "clusters:\n"
                         "  - { name: blue, endpoints: [127.0.0.1:9001] }\n"
                         "  - { name: keep, endpoints: [127.0.0.1:9002] }\n"
                         "  - { name: edit, endpoints: [127.0.0.1:9003] }\n";
  std::ofstream(to) << "workers: 4\n"
                       "listeners:\n"
                       "  - name: web\n    address: 127.0.0.1:8080\n    routes:\n"
                       "      - { name: b, match: { path_prefix: /b }, cluster: keep }\n"
                       "      - { name: c, match: { path_prefix: /c }, cluster: green }\n"
                       "  - { name: api, address: 127.0.0.1:8082, routes: [{ cluster: edit }] }\n"
                       "clusters:\n"
                       "  - { name: green, endpoints: [127.0.0.1:9004] }\n"
                       "  - { name: keep, endpoints: [127.0.0.1:9002] }\n"
                       "  - { name: edit, endpoints: [127.0.0.1:9003], connect_timeout: 1s }\n";
  Outcome r = ferry("--check --diff " + from + " " + to);
  EXPECT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(r.out,
            "change listener web: routes; socket kept\n"
            "keep route web/b\n"
            "add route web/c\n"
            "drain route web/a\n"
            "add listener api: bound on 127.0.0.1:8082\n"
            "add route api/edit\n"
            "drain listener old: stops accepting; open connections finish on the old config\n"
            "add cluster green\n"
            "keep cluster keep: pools kept\n"
            "change cluster edit: new pools; requests in flight finish on the old ones\n"
            "drain cluster blue: requests in flight finish, then its pools close\n"
            "change setting workers: needs a restart\n");
  std::ofstream(to) << "listeners: 3\n";
  r = ferry("--check --diff " + from + " " + to);
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_NE(r.err.find(to + ":1:12: listeners:"), std::string::npos) << r.err;
  EXPECT_EQ(r.out, "");
  std::remove(from.c_str());
  std::remove(to.c_str());
}

}  // namespace
