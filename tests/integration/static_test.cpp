// The static listener (proxy/session/static_*.cpp) as a client sees it through the real binary:
// files only from beneath its root (symlinks out of it give 404 unless symlinks_outside_root),
// percent-decoded names, 405 with Allow, single ranges (206/416), ETag and Last-Modified with
// the 304s they allow, HEAD with GET's headers.

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cctype>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <string>

#include "tests/support/harness.h"

namespace ferry::test {
namespace {

namespace fs = std::filesystem;

// root/: index.html, "my file.txt", a..b.txt, data.bin (100 bytes), sub/inner.txt; symlinks
// link-in -> sub, link-out -> ../outside (outside/secret.txt), link-etc -> /etc.
class StaticFiles {
 public:
  StaticFiles() {
    char tmpl[] = "/tmp/ferry-static-XXXXXX";
    if (::mkdtemp(tmpl) != nullptr) dir_ = tmpl;
    fs::create_directories(dir_ / "root" / "sub");
    fs::create_directories(dir_ / "outside");
    write("root/index.html", "<h1>home</h1>\n");
    write("root/my file.txt", "spaces\n");
    write("root/a..b.txt", "dots\n");
    std::string data;
    for (int i = 0; i < 10; ++i) data += "0123456789";
    write("root/data.bin", data);
    write("root/sub/inner.txt", "inner\n");
    write("outside/secret.txt", "secret\n");
    fs::create_directory_symlink("sub", dir_ / "root" / "link-in");
    fs::create_directory_symlink(dir_ / "outside", dir_ / "root" / "link-out");
    fs::create_directory_symlink("/etc", dir_ / "root" / "link-etc");
  }
  ~StaticFiles() {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  StaticFiles(const StaticFiles&) = delete;
  StaticFiles& operator=(const StaticFiles&) = delete;
  std::string root() const { return (dir_ / "root").string(); }
  std::string config(const std::string& extra = "") const {
    return "workers: 1\naccess_log: false\nadmin: { address: {{ADMIN}} }\nlisteners:\n"
           "  - name: files\n    address: 127.0.0.1:0\n    static: { root: " +
           root() + extra + " }\n";
  }

 private:
  void write(const std::string& rel, const std::string& text) {
    std::ofstream(dir_ / rel, std::ios::binary) << text;
  }
  fs::path dir_;
};

std::string get(int port, const std::string& target, const std::string& headers = "",
                const std::string& method = "GET") {
  return rawExchange(port, method + " " + target + " HTTP/1.1\r\nHost: f\r\n" + headers +
                               "Connection: close\r\n\r\n");
}

std::string bodyOf(const std::string& response) {
  auto end = response.find("\r\n\r\n");
  return end == std::string::npos ? "" : response.substr(end + 4);
}

std::string headOf(const std::string& response) {
  auto end = response.find("\r\n\r\n");
  return end == std::string::npos ? response : response.substr(0, end + 4);
}

// The value of the first header `name` (case-insensitive), or "" if there is none.
std::string headerOf(const std::string& response, const std::string& name) {
  std::string head = headOf(response), lower = head, key = "\r\n" + name + ":";
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (char& c : key) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  auto at = lower.find(key);
  if (at == std::string::npos) return "";
  auto start = head.find_first_not_of(' ', at + key.size());
  return head.substr(start, head.find("\r\n", start) - start);
}

TEST(Static, SymlinksOutOfTheRootAre404UnlessAllowed) {
  if (testingUnderWine()) GTEST_SKIP() << "POSIX symlinks into /etc";
  StaticFiles files;
  {
    Ferry f(files.config());
    int port = f.port("files");
    EXPECT_EQ(statusOf(get(port, "/link-etc/passwd")), 404);
    EXPECT_EQ(statusOf(get(port, "/link-out/secret.txt")), 404);
    std::string in = get(port, "/link-in/inner.txt");  // a symlink that stays inside the root
    EXPECT_EQ(statusOf(in), 200) << in;
    EXPECT_EQ(bodyOf(in), "inner\n");
  }
  Ferry f(files.config(", symlinks_outside_root: true"));
  std::string out = get(f.port("files"), "/link-out/secret.txt");
  EXPECT_EQ(statusOf(out), 200) << out;
  EXPECT_EQ(bodyOf(out), "secret\n");
  if (fs::exists("/etc/passwd")) {
    EXPECT_EQ(statusOf(get(f.port("files"), "/link-etc/passwd")), 200);
  }
}

TEST(Static, NamesArePercentDecodedAndOnlyADotDotSegmentIsRefused) {
  StaticFiles files;
  Ferry f(files.config());
  int port = f.port("files");
  std::string spaced = get(port, "/my%20file.txt");
  EXPECT_EQ(statusOf(spaced), 200) << spaced;
  EXPECT_EQ(bodyOf(spaced), "spaces\n");
  std::string dots = get(port, "/a..b.txt");
  EXPECT_EQ(statusOf(dots), 200) << dots;
  EXPECT_EQ(bodyOf(dots), "dots\n");
  EXPECT_EQ(statusOf(get(port, "/s%75b/inner.txt")), 200);
  EXPECT_EQ(statusOf(get(port, "/../outside/secret.txt")), 400);
  EXPECT_EQ(statusOf(get(port, "/sub/../../outside/secret.txt")), 400);
  EXPECT_EQ(statusOf(get(port, "/%2e%2e/outside/secret.txt")), 400);
  EXPECT_EQ(statusOf(get(port, "/sub%2finner.txt")), 404);  // a decoded '/' is no separator
  EXPECT_EQ(statusOf(get(port, "/index.html%00.txt")), 400);
  EXPECT_EQ(statusOf(get(port, "/bad%zzescape")), 400);
}

TEST(Static, OtherMethodsGet405WithAllow) {
  StaticFiles files;
  Ferry f(files.config());
  std::string r = get(f.port("files"), "/index.html", "Content-Length: 0\r\n", "POST");
  EXPECT_EQ(statusOf(r), 405) << r;
  EXPECT_EQ(headerOf(r, "Allow"), "GET, HEAD") << r;
  r = get(f.port("files"), "/index.html", "", "DELETE");
  EXPECT_EQ(statusOf(r), 405) << r;
  EXPECT_EQ(headerOf(r, "Allow"), "GET, HEAD") << r;
}

TEST(Static, ASingleRangeGives206AndAnUnsatisfiableOne416) {
  StaticFiles files;
  Ferry f(files.config());
  int port = f.port("files");
  // Two ranges on one keep-alive connection: each response framed exactly.
  RawClient c(port);
  ASSERT_TRUE(
      c.send("GET /data.bin HTTP/1.1\r\nHost: f\r\nRange: bytes=10-19\r\n\r\n"
             "GET /data.bin HTTP/1.1\r\nHost: f\r\nRange: bytes=-5\r\n\r\n"));
  std::string first = c.readResponse(), second = c.readResponse();
  EXPECT_EQ(statusOf(first), 206) << first;
  EXPECT_EQ(headerOf(first, "Content-Range"), "bytes 10-19/100") << first;
  EXPECT_EQ(headerOf(first, "Content-Length"), "10");
  EXPECT_EQ(bodyOf(first), "0123456789");
  EXPECT_EQ(statusOf(second), 206) << second;
  EXPECT_EQ(headerOf(second, "Content-Range"), "bytes 95-99/100") << second;
  EXPECT_EQ(bodyOf(second), "56789");

  std::string none = get(port, "/data.bin", "Range: bytes=100-\r\n");
  EXPECT_EQ(statusOf(none), 416) << none;
  EXPECT_EQ(headerOf(none, "Content-Range"), "bytes */100") << none;
  std::string several = get(port, "/data.bin", "Range: bytes=0-1,5-6\r\n");
  EXPECT_EQ(statusOf(several), 200) << several;
  EXPECT_EQ(bodyOf(several).size(), 100u);
  EXPECT_EQ(headerOf(several, "Accept-Ranges"), "bytes");
}

std::string httpDate(std::time_t t) {
  char buf[64];
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  std::strftime(buf, sizeof(buf), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  return buf;
}

TEST(Static, ValidatorsGive304AndHeadHasGetsHeaders) {
  StaticFiles files;
  Ferry f(files.config());
  int port = f.port("files");
  std::string whole = get(port, "/data.bin");
  ASSERT_EQ(statusOf(whole), 200) << whole;
  std::string etag = headerOf(whole, "ETag"), modified = headerOf(whole, "Last-Modified");
  ASSERT_FALSE(etag.empty()) << whole;
  EXPECT_EQ(etag.front(), '"');
  struct stat st {};
  ASSERT_EQ(::stat((files.root() + "/data.bin").c_str(), &st), 0);
  EXPECT_EQ(modified, httpDate(st.st_mtime));

  std::string r = get(port, "/data.bin", "If-None-Match: " + etag + "\r\n");
  EXPECT_EQ(statusOf(r), 304) << r;
  EXPECT_EQ(bodyOf(r), "");
  EXPECT_EQ(headerOf(r, "ETag"), etag);
  EXPECT_EQ(statusOf(get(port, "/data.bin", "If-None-Match: \"x\", W/" + etag + "\r\n")), 304);
  EXPECT_EQ(statusOf(get(port, "/data.bin", "If-Modified-Since: " + modified + "\r\n")), 304);
  EXPECT_EQ(statusOf(get(port, "/data.bin", "If-Modified-Since: " + httpDate(0) + "\r\n")), 200);
  // If-None-Match takes precedence over If-Modified-Since.
  EXPECT_EQ(statusOf(get(port, "/data.bin",
                         "If-None-Match: \"other\"\r\nIf-Modified-Since: " + modified + "\r\n")),
            200);
  // If-Range: the range only while the file is the one the client has.
  std::string same = get(port, "/data.bin", "Range: bytes=0-3\r\nIf-Range: " + etag + "\r\n");
  EXPECT_EQ(statusOf(same), 206) << same;
  std::string changed = get(port, "/data.bin", "Range: bytes=0-3\r\nIf-Range: \"old\"\r\n");
  EXPECT_EQ(statusOf(changed), 200) << changed;
  EXPECT_EQ(bodyOf(changed).size(), 100u);

  std::string head = get(port, "/data.bin", "", "HEAD");
  EXPECT_EQ(headOf(head), headOf(whole));
  EXPECT_EQ(bodyOf(head), "");
  std::string headRange = get(port, "/data.bin", "Range: bytes=0-3\r\n", "HEAD");
  EXPECT_EQ(statusOf(headRange), 206) << headRange;
  EXPECT_EQ(bodyOf(headRange), "");
  std::string headMissing = get(port, "/missing.txt", "", "HEAD");
  EXPECT_EQ(statusOf(headMissing), 404) << headMissing;
  EXPECT_EQ(bodyOf(headMissing), "");
}

}  // namespace
}  // namespace ferry::test
